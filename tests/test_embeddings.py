"""PeriodicEmbedding (PLR): formula, exact gradients, devices, model file, ONNX."""

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

from sknet import Network, PeriodicEmbedding
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
