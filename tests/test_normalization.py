"""BatchNorm and Residual: formulas, exact gradients, devices, model file, ONNX."""

import numpy as np
import pytest
from _layer_checks import (
    device_parity,
    input_gradient_error,
    network_gradient_error,
    onnx_output,
    reload,
)

from sknet import BatchNorm, FeatureLinear, Network, PeriodicEmbedding, Residual
from sknet.backends import to_numpy
from sknet.layers import LAYERS
from sknet.training import DivergenceError


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=2.0, scale=3.0, size=(n, 3))
    y = np.tanh(X[:, :1] / 3) - 0.2 * X[:, 1:2] + 0.1 * rng.normal(size=(n, 1))
    return X, y, rng.uniform(0.2, 3.0, size=n)


def _bn_network(seed=0, momentum=0.1):
    net = Network(3, random_state=seed).add(BatchNorm(3, momentum=momentum))
    net.add_layer(4, "tanh").add(BatchNorm(4, momentum=momentum))
    return net.add_layer(1, "identity")


def _residual_network(seed=0, activation="relu"):
    net = Network(3, random_state=seed).add_layer(4, "tanh")
    net.add(Residual(4, n_layers=2, hidden_units=5, activation=activation, rng=net._rng))
    net.add(Residual(4, n_layers=3, activation=activation, rng=net._rng))
    return net.add_layer(1, "identity")


# -- BatchNorm --------------------------------------------------------------------


def test_batch_norm_normalises_a_batch_and_moves_the_running_statistics():
    X, _, _ = _data(30)
    layer = BatchNorm(3, momentum=0.25)
    layer.gamma = np.array([1.0, 2.0, 0.5])
    layer.beta = np.array([0.0, -1.0, 3.0])
    out = layer.forward_train(X, None)
    np.testing.assert_allclose(out.mean(axis=0), layer.beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), layer.gamma * np.sqrt(X.var(0) / (X.var(0) + 1e-5)))
    np.testing.assert_allclose(layer.running_mean, 0.25 * X.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.75 + 0.25 * X.var(axis=0))
    # Predictions use the running statistics, not the batch's.
    expected = (X - layer.running_mean) / np.sqrt(layer.running_var + 1e-5) * layer.gamma
    np.testing.assert_allclose(layer.predict(X), expected + layer.beta)


def test_batch_norm_gradients_with_sample_weights_match_finite_differences():
    X, y, sw = _data(25)
    # alpha penalises the Dense weights only: gamma and beta are not penalised.
    error = network_gradient_error(_bn_network(), X, y, sw, alpha=0.3)
    assert error < 1e-6, error


def test_batch_norm_input_gradient_goes_through_the_batch_statistics():
    X, _, _ = _data(6)
    layer = BatchNorm(3)
    layer.gamma = np.array([1.5, -0.5, 2.0])
    error = input_gradient_error(layer, X)
    assert error < 1e-6, error


def test_batch_norm_learns_only_gamma_and_beta_and_keeps_running_statistics():
    X, y, _ = _data(200)
    net = _bn_network()
    layer = net.layers[0]
    assert layer.parameter_names == ("gamma", "beta") and layer.penalized == (False, False)
    net.fit(X, y, epochs=30, batch_size=50, learning_rate=1e-2)
    # After 120 batches the running mean is (nearly) the data's mean.
    np.testing.assert_allclose(layer.running_mean, X.mean(axis=0), atol=0.5)
    np.testing.assert_allclose(layer.running_var, X.var(axis=0), rtol=0.3)
    assert net.history_["loss"][-1] < 0.5 * net.history_["loss"][0]


def test_batch_norm_state_is_saved_and_used_after_loading():
    X, y, _ = _data(100)
    net = _bn_network().fit(X, y, epochs=5, batch_size=20)
    loaded = reload(net)
    assert [type(layer) for layer in loaded.layers[::2]] == [BatchNorm, BatchNorm]
    assert LAYERS["batch_norm"] is BatchNorm
    for a, b in zip(loaded.layers[0].get_state(), net.layers[0].get_state(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.layers[0].momentum == 0.1 and loaded.layers[0].eps == 1e-5
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # The running statistics matter: resetting them changes the predictions.
    loaded.layers[0].set_state([np.zeros(3), np.ones(3)])
    assert np.max(np.abs(loaded.predict(X) - net.predict(X))) > 1e-2


def test_batch_norm_running_statistics_stay_finite_when_training_diverges():
    """The trainer falls back to the last finite weights; the running statistics
    used to keep the NaN of the diverging batch, and every prediction was NaN."""
    X, y, _ = _data(200)
    net = Network(3, random_state=0).add(BatchNorm(3)).add_layer(4, "identity")
    net.add(BatchNorm(4)).add_layer(1, "identity")
    with pytest.raises(DivergenceError):
        net.fit(X, y * 1e100, optimizer="sgd", learning_rate=1e200, epochs=5, batch_size=20)
    for layer in net.layers[::2]:
        assert all(np.all(np.isfinite(a)) for a in layer.get_state())
    assert np.all(np.isfinite(net.predict(X)))


@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1", "torch-cpu"])
def test_batch_norm_on_array_api_devices_matches_numpy(device):
    X, y, sw = _data(60)
    difference = device_parity(
        _bn_network, X, y, sw, device, epochs=5, batch_size=16, learning_rate=1e-2
    )
    assert difference < 1e-9, difference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_onnx_matches_predict(dtype):
    X, y, _ = _data(60)
    net = _bn_network().fit(X, y, epochs=5, batch_size=16)
    expected = net.predict(X)
    output = onnx_output(net, X.astype(dtype))
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(output, expected, rtol=tolerance, atol=tolerance)


def test_batch_norm_float32_stays_float32():
    X, y, _ = _data(50)
    net = _bn_network().fit(X.astype(np.float32), y.astype(np.float32), epochs=2)
    layer = net.layers[0]
    assert {a.dtype for a in (*layer.get_parameters(), *layer.get_state())} == {
        np.dtype(np.float32)
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"momentum": 0.0}, r"momentum must be in \(0, 1\]"),
        ({"momentum": 1.5}, r"momentum must be in \(0, 1\]"),
        ({"eps": -1.0}, "eps must be a positive finite number"),
        ({"eps": True}, "eps must be a positive finite number"),
    ],
)
def test_batch_norm_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(3, **kwargs)


# -- Residual ---------------------------------------------------------------------


def test_residual_adds_the_inner_stack_to_its_input():
    rng = np.random.default_rng(0)
    block = Residual(3, n_layers=3, hidden_units=5, activation="tanh", rng=rng)
    assert [block.get_parameters()[2 * i].shape for i in range(3)] == [(3, 5), (5, 5), (5, 3)]
    assert block.penalized == (True, False) * 3
    x = rng.normal(size=(4, 3))
    h = np.tanh(x @ block.weights_0 + block.bias_0)
    h = np.tanh(h @ block.weights_1 + block.bias_1)
    expected = x + h @ block.weights_2 + block.bias_2
    np.testing.assert_allclose(block.predict(x), expected, rtol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus", "elu"])
def test_residual_gradients_with_sample_weights_match_finite_differences(activation):
    X, y, sw = _data(20)
    # A few steps first: with the initial zero biases, a row that ReLU zeroes
    # entirely puts the next pre-activation exactly on ReLU's kink, where
    # finite differences are not the derivative.
    net = _residual_network(activation=activation).fit(X, y, epochs=3, batch_size=5)
    error = network_gradient_error(net, X, y, sw, alpha=0.3)
    assert error < 1e-6, error


def test_residual_input_gradient_counts_the_skip_connection():
    X, _, _ = _data(5)
    block = Residual(3, n_layers=2, hidden_units=4, activation="tanh", rng=np.random.default_rng(1))
    error = input_gradient_error(block, X)
    assert error < 1e-6, error


@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1", "torch-cpu"])
def test_residual_on_array_api_devices_matches_numpy(device):
    X, y, sw = _data(60)
    difference = device_parity(
        _residual_network, X, y, sw, device, epochs=5, batch_size=16, learning_rate=1e-2
    )
    assert difference < 1e-9, difference


def test_residual_trains_saves_and_loads():
    X, y, _ = _data(200)
    net = _residual_network(activation="tanh")
    net.fit(X, y, epochs=30, batch_size=32, learning_rate=1e-2)
    assert net.history_["loss"][-1] < 0.5 * net.history_["loss"][0]
    loaded = reload(net)
    block = loaded.layers[2]
    assert type(block) is Residual and LAYERS["residual"] is Residual
    assert (block.n_layers, block.hidden_units, block.inner_activation.name) == (3, 4, "tanh")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert [a.shape for a in loaded.get_weights()] == [a.shape for a in net.get_weights()]


def test_residual_prediction_on_a_copy_leaves_the_original_on_the_host():
    """Predicting on a device converts a shallow copy's parameters, never the original's."""
    xps = pytest.importorskip("array_api_strict")
    X, y, _ = _data(30)
    net = _residual_network().fit(X, y, epochs=2)
    expected = net.predict(X)
    on_device = net.predict(xps.asarray(X, device=xps.Device("device1")))
    assert all(isinstance(a, np.ndarray) for a in net.get_weights())
    np.testing.assert_allclose(to_numpy(on_device), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_residual_onnx_matches_predict(dtype):
    X, y, _ = _data(60)
    net = _residual_network(activation="tanh").fit(X, y, epochs=5, batch_size=16)
    expected = net.predict(X)
    output = onnx_output(net, X.astype(dtype))
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(output, expected, rtol=tolerance, atol=tolerance)


def test_residual_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        Residual(3, n_layers=0)
    with pytest.raises(ValueError, match="softmax is an output activation"):
        Residual(3, activation="softmax")
    with pytest.raises(ValueError, match="Unknown activation"):
        Residual(3, activation="bogus")


# -- together -----------------------------------------------------------------------


def test_every_new_layer_type_in_one_float32_network_trains_saves_loads_and_exports():
    X, y, sw = _data(120)
    X, y = ((X - X.mean(0)) / X.std(0)).astype(np.float32), y.astype(np.float32)
    rng = np.random.default_rng(0)
    net = Network(3, random_state=0)
    net.add(PeriodicEmbedding(3, n_frequencies=4, units_per_feature=4, sigma=0.3, rng=rng))
    net.add(FeatureLinear(12, n_features=3, units_per_feature=2, rng=rng))
    net.add(BatchNorm(6)).add(Residual(6, hidden_units=8, rng=rng)).add_layer(1, "identity")
    net.fit(X, y, sample_weight=sw, epochs=20, batch_size=24, learning_rate=1e-2)
    assert net.history_["loss"][-1] < 0.5 * net.history_["loss"][0]
    assert {a.dtype for a in net.get_weights()} == {np.dtype(np.float32)}
    loaded = reload(net)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "PeriodicEmbedding", "FeatureLinear", "BatchNorm", "Residual", "Dense"
    ]  # fmt: skip
    prediction = net.predict(X)
    assert prediction.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict(X), prediction)
    np.testing.assert_allclose(onnx_output(net, X), prediction, rtol=1e-4, atol=1e-5)
