"""PeriodicEmbedding (PLR) and FeatureLinear: formula, exact gradients, devices, model file,
ONNX."""

import math

import numpy as np
import pytest
from _layer_checks import (
    device_parity,
    input_gradient_error,
    network_gradient_error,
    onnx_output,
    reload,
)

from sknet import FeatureLinear, Network, PeriodicEmbedding
from sknet.layers import LAYERS


def _data(n=40, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    y = np.sin(2 * X[:, :1]) + 0.5 * X[:, 1:2] ** 2 + 0.1 * rng.normal(size=(n, 1))
    return X, y, rng.uniform(0.2, 3.0, size=n)


def _network(seed=0, k=4, d=3):
    net = Network(3, random_state=seed)
    net.add(PeriodicEmbedding(3, n_frequencies=k, units_per_feature=d, sigma=0.5, rng=net._rng))
    return net.add_layer(5, "tanh").add_layer(1, "identity")


def test_output_is_the_plr_formula_feature_by_feature():
    rng = np.random.default_rng(1)
    layer = PeriodicEmbedding(2, n_frequencies=3, units_per_feature=4, rng=rng)
    x = rng.normal(size=(5, 2))
    out = layer.predict(x)
    assert out.shape == (5, 8)
    for i in range(2):
        angle = 2 * math.pi * x[:, i : i + 1] * layer.frequencies[i]
        periodic = np.hstack([np.cos(angle), np.sin(angle)])
        expected = np.maximum(periodic @ layer.weights[i] + layer.bias[i], 0.0)
        np.testing.assert_allclose(out[:, 4 * i : 4 * i + 4], expected, rtol=1e-13, atol=1e-15)


def test_initial_frequencies_are_normal_with_sigma():
    layer = PeriodicEmbedding(50, n_frequencies=40, sigma=3.0, rng=np.random.default_rng(0))
    assert layer.frequencies.shape == (50, 40)
    assert layer.weights.shape == (50, 80, 16) and layer.bias.shape == (50, 16)
    assert abs(layer.frequencies.std() - 3.0) < 0.1 and abs(layer.frequencies.mean()) < 0.1
    assert layer.penalized == (False, True, False)


def test_gradients_with_sample_weights_match_finite_differences():
    X, y, sw = _data(25)
    error = network_gradient_error(_network(), X, y, sw, alpha=0.3)
    assert error < 1e-6, error


def test_input_gradient_matches_finite_differences():
    """The gradient with respect to the input, for an embedding after another layer."""
    X, _, _ = _data(7)
    layer = PeriodicEmbedding(3, n_frequencies=4, units_per_feature=3, rng=np.random.default_rng(2))
    error = input_gradient_error(layer, X)
    assert error < 1e-6, error


@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1", "torch-cpu"])
def test_array_api_devices_match_numpy(device):
    X, y, sw = _data(60)
    difference = device_parity(
        _network, X, y, sw, device, epochs=5, batch_size=16, learning_rate=1e-2
    )
    assert difference < 1e-9, difference


def test_trains_saves_and_loads():
    X, y, _ = _data(200)
    net = _network()
    before = net.loss(X, y, "squared_error")
    frequencies = net.layers[0].frequencies.copy()
    net.fit(X, y, epochs=40, batch_size=32, learning_rate=1e-2)
    assert net.history_["loss"][-1] < 0.3 * before
    assert not np.allclose(net.layers[0].frequencies, frequencies)  # trained
    loaded = reload(net)
    layer = loaded.layers[0]
    assert type(layer) is PeriodicEmbedding and LAYERS["periodic_embedding"] is PeriodicEmbedding
    assert (layer.n_frequencies, layer.units_per_feature, layer.sigma) == (4, 3, 0.5)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_float32_stays_float32():
    X, y, _ = _data(50)
    net = _network().fit(X.astype(np.float32), y.astype(np.float32), epochs=2)
    assert {p.dtype for p in net.layers[0].get_parameters()} == {np.dtype(np.float32)}
    assert net.predict(X.astype(np.float32)).dtype == np.float32


def test_a_sparse_first_layer_input_is_embedded_as_dense():
    sparse = pytest.importorskip("scipy.sparse")
    X, _, _ = _data(10)
    X[X < 0] = 0.0
    layer = PeriodicEmbedding(3, n_frequencies=2, units_per_feature=2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(layer.predict(sparse.csr_matrix(X)), layer.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_matches_predict(dtype):
    X, y, _ = _data(60)
    net = _network().fit(X, y, epochs=5, learning_rate=1e-2)
    X = X.astype(dtype)
    expected = net.predict(X.astype(np.float64))
    output = onnx_output(net, X)
    assert output.dtype == dtype
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(output, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_frequencies": 0}, "n_frequencies must be a positive integer"),
        ({"units_per_feature": 2.0}, "units_per_feature must be a positive integer"),
        ({"sigma": 0.0}, "sigma must be a positive number"),
        ({"sigma": float("nan")}, "sigma must be a positive number"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PeriodicEmbedding(3, **kwargs)


# -- FeatureLinear -------------------------------------------------------------------


def _grouped_network(seed=0, activation="tanh"):
    """A Dense layer's 6 outputs read as 3 features of 2 columns, then FeatureLinear."""
    net = Network(3, random_state=seed).add_layer(6, "tanh")
    layer = FeatureLinear(6, 3, units_per_feature=4, activation=activation, rng=net._rng)
    return net.add(layer).add_layer(1, "identity")


def test_feature_linear_maps_each_group_with_its_own_weights():
    rng = np.random.default_rng(0)
    layer = FeatureLinear(6, n_features=2, units_per_feature=3, activation="tanh", rng=rng)
    assert layer.weights.shape == (2, 3, 3) and layer.bias.shape == (2, 3)
    assert layer.units == 6 and layer.penalized == (True, False)
    x = rng.normal(size=(4, 6))
    out = layer.predict(x)
    for i in range(2):
        expected = np.tanh(x[:, 3 * i : 3 * i + 3] @ layer.weights[i] + layer.bias[i])
        np.testing.assert_allclose(out[:, 3 * i : 3 * i + 3], expected, rtol=1e-14)


def test_periodic_embedding_is_periodic_features_then_feature_linear():
    """PLR = the periodic features, then FeatureLinear with ReLU, with the same weights."""
    rng = np.random.default_rng(3)
    plr = PeriodicEmbedding(2, n_frequencies=3, units_per_feature=4, rng=rng)
    linear = FeatureLinear(12, n_features=2, units_per_feature=4, activation="relu")
    linear.weights, linear.bias = plr.weights, plr.bias
    x = rng.normal(size=(5, 2))
    angle = 2 * math.pi * x[:, :, None] * plr.frequencies  # (n, f, k)
    periodic = np.concatenate([np.cos(angle), np.sin(angle)], axis=2).reshape(5, 12)
    np.testing.assert_allclose(plr.predict(x), linear.predict(periodic), rtol=1e-13)


@pytest.mark.parametrize("activation", ["relu", "identity", "tanh"])
def test_feature_linear_gradients_with_sample_weights_match_finite_differences(activation):
    X, y, sw = _data(20)
    net = _grouped_network(activation=activation).fit(X, y, epochs=2, batch_size=5)
    error = network_gradient_error(net, X, y, sw, alpha=0.3)
    assert error < 1e-6, error
    rng = np.random.default_rng(1)
    layer = FeatureLinear(6, 3, units_per_feature=2, activation=activation, rng=rng)
    error = input_gradient_error(layer, np.random.default_rng(2).normal(size=(5, 6)))
    assert error < 1e-6, error


@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1", "torch-cpu"])
def test_feature_linear_on_array_api_devices_matches_numpy(device):
    X, y, sw = _data(60)
    difference = device_parity(
        _grouped_network, X, y, sw, device, epochs=5, batch_size=16, learning_rate=1e-2
    )
    assert difference < 1e-9, difference


def test_feature_linear_saves_loads_and_exports_to_onnx():
    X, y, _ = _data(60)
    net = _grouped_network().fit(X, y, epochs=5, learning_rate=1e-2)
    loaded = reload(net)
    layer = loaded.layers[1]
    assert type(layer) is FeatureLinear and LAYERS["feature_linear"] is FeatureLinear
    settings = (layer.n_features, layer.units_per_feature, layer.inner_activation.name)
    assert settings == (3, 4, "tanh")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    output = onnx_output(net, X)
    np.testing.assert_allclose(output, net.predict(X), rtol=1e-12, atol=1e-12)


def test_feature_linear_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_features=4 must divide n_inputs=6"):
        FeatureLinear(6, n_features=4)
    with pytest.raises(ValueError, match="softmax is an output activation"):
        FeatureLinear(6, n_features=3, activation="softmax")
