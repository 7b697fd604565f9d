"""The Dense layer: initialisation, forward, dropout and parameter gradients."""

import pickle

import numpy as np
import pytest
from scipy import sparse

from sknet import Dense
from sknet.activations import Tanh
from sknet.layers import INITIALIZERS


def _layer(n_in=4, units=3, activation="tanh", dropout=0.0, seed=0, **kwargs):
    return Dense(n_in, units, activation, dropout, rng=np.random.default_rng(seed), **kwargs)


def test_shapes_and_counts():
    layer = _layer(5, 7)
    assert layer.weights.shape == (5, 7) and layer.bias.shape == (7,)
    assert layer.n_params == 5 * 7 + 7
    np.testing.assert_array_equal(layer.bias, 0.0)
    assert repr(layer) == "Dense(n_inputs=5, units=7, activation='tanh', dropout=0.0)"
    assert isinstance(layer.activation, Tanh)


@pytest.mark.parametrize(
    "activation, init, expected",
    [
        ("relu", "auto", "he_uniform"),
        ("leaky_relu", "auto", "he_uniform"),
        ("elu", "auto", "he_uniform"),
        ("gelu", "auto", "he_uniform"),
        ("softplus", "auto", "he_uniform"),
        ("tanh", "auto", "glorot_uniform"),
        ("sigmoid", "auto", "glorot_uniform"),
        ("identity", "auto", "glorot_uniform"),
        ("softmax", "auto", "glorot_uniform"),
        ("relu", "glorot_normal", "glorot_normal"),
    ],
)
def test_auto_init_resolution(activation, init, expected):
    assert _layer(activation=activation, init=init).init_name == expected


def test_uniform_initialisers_fill_their_range():
    fan_in, fan_out = 200, 100
    he = _layer(fan_in, fan_out, "relu").weights
    glorot = _layer(fan_in, fan_out, "tanh").weights
    he_limit, glorot_limit = np.sqrt(6 / fan_in), np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(he).max() <= he_limit and np.abs(he).max() > 0.99 * he_limit
    assert np.abs(glorot).max() <= glorot_limit and np.abs(glorot).max() > 0.99 * glorot_limit
    # A uniform on [-L, L] has standard deviation L / sqrt(3).
    assert he.std() == pytest.approx(he_limit / np.sqrt(3), rel=0.02)


@pytest.mark.parametrize(
    "init, std",
    [("he_normal", np.sqrt(2 / 300)), ("glorot_normal", np.sqrt(2 / (300 + 200)))],
)
def test_normal_initialisers(init, std):
    weights = _layer(300, 200, "relu", init=init).weights
    assert weights.std() == pytest.approx(std, rel=0.02)
    assert abs(weights.mean()) < 0.05 * std


def test_initialisation_is_seeded():
    a, b = _layer(seed=3), _layer(seed=3)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, _layer(seed=4).weights)
    a.initialize(np.random.default_rng(0), dtype=np.float32)
    assert a.weights.dtype == np.float32 and a.bias.dtype == np.float32
    assert sorted(INITIALIZERS) == [
        "glorot_normal",
        "glorot_uniform",
        "he_normal",
        "he_uniform",
        "mlp_uniform",
    ]


@pytest.mark.parametrize("activation, factor", [("relu", 6.0), ("sigmoid", 2.0), ("tanh", 6.0)])
def test_mlp_uniform_draws_weights_and_biases_like_scikit_learn(activation, factor):
    layer = _layer(300, 200, activation, init="mlp_uniform")
    limit = np.sqrt(factor / 500)
    for values in (layer.weights, layer.bias):
        assert np.abs(values).max() <= limit
        assert np.abs(values).max() > 0.95 * limit


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_inputs=0, units=3), "n_inputs must be a positive integer, got 0"),
        (dict(n_inputs=4, units=2.5), "units must be a positive integer, got 2.5"),
        (dict(n_inputs=4, units=True), "units must be a positive integer, got True"),
        (dict(n_inputs=4, units=3, dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
        (dict(n_inputs=4, units=3, dropout=-0.1), r"dropout must be in \[0, 1\)"),
        (dict(n_inputs=4, units=3, dropout="0.1"), r"dropout must be in \[0, 1\), got '0.1'"),
        (dict(n_inputs=4, units=3, dropout=None), r"dropout must be in \[0, 1\), got None"),
        (dict(n_inputs=4, units=3, init="lecun"), "Unknown init 'lecun'; valid names are"),
        (dict(n_inputs=4, units=3, activation="swish"), "Unknown activation 'swish'"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dense(**kwargs)


def test_predict_is_activation_of_affine_map():
    layer = _layer(4, 3, "sigmoid")
    layer.bias[...] = [0.1, -0.2, 0.3]
    x = np.random.default_rng(1).normal(size=(6, 4))
    expected = 1 / (1 + np.exp(-(x @ layer.weights + layer.bias)))
    np.testing.assert_allclose(layer.predict(x), expected, rtol=1e-14)
    np.testing.assert_allclose(layer.predict(sparse.csr_matrix(x)), expected, rtol=1e-14)
    assert np.array_equal(x, np.random.default_rng(1).normal(size=(6, 4)))  # input untouched


@pytest.mark.parametrize("activation", ["tanh", "elu", "gelu", "softplus", "relu", "softmax"])
def test_forward_train_without_dropout_equals_predict(activation):
    layer = _layer(4, 3, activation)
    layer.bias[...] = [0.1, -0.2, 0.3]
    x = np.random.default_rng(1).normal(size=(6, 4))
    layer.allocate(10, np.float64)
    out = layer.forward_train(x, np.random.default_rng(0))
    assert out.shape == (6, 3)
    np.testing.assert_allclose(out, layer.predict(x), rtol=1e-14)


def test_dropout_zeroes_and_rescales():
    p = 0.25
    layer = _layer(5, 400, "sigmoid", dropout=p)
    x = np.random.default_rng(1).normal(size=(50, 5))
    layer.allocate(50, np.float64)
    out = layer.forward_train(x, np.random.default_rng(0))
    full = layer.predict(x)
    dropped = out == 0
    assert dropped.mean() == pytest.approx(p, abs=0.01)
    # Inverted dropout: kept units are scaled by 1 / (1 - p).
    np.testing.assert_allclose(out[~dropped], full[~dropped] / (1 - p), rtol=1e-14)
    # The backward pass only lets the kept units through, with the same scale.
    layer.delta_view(50)[...] = 1.0
    d = layer.backward_activation(50)
    expected = np.where(dropped, 0.0, full * (1 - full) / (1 - p))
    np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-15)
    # Different generator states draw different masks; predict never drops.
    other = layer.forward_train(x, np.random.default_rng(1)).copy()
    assert not np.array_equal(other == 0, dropped)
    np.testing.assert_array_equal(layer.predict(x), full)


def test_backward_params_matches_numpy():
    layer = _layer(4, 3)
    rng = np.random.default_rng(2)
    x, delta = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    gw, gb = np.empty((4, 3)), np.empty(3)
    layer.backward_params(x, delta, gw, gb)
    np.testing.assert_allclose(gw, x.T @ delta, rtol=1e-14)
    np.testing.assert_allclose(gb, delta.sum(axis=0), rtol=1e-14)
    x[x < 0] = 0
    gw_sparse = np.empty((4, 3))
    layer.backward_params(sparse.csr_matrix(x), delta, gw_sparse, gb)
    np.testing.assert_allclose(gw_sparse, x.T @ delta, rtol=1e-14)


def test_buffers_are_released_and_not_pickled():
    layer = _layer(4, 3, dropout=0.5)
    layer.allocate(8, np.float64)
    names = ("_z", "_a", "_delta", "_mask", "_out")
    assert all(hasattr(layer, name) for name in names)
    clone = pickle.loads(pickle.dumps(layer))
    assert not any(hasattr(clone, name) for name in names)
    np.testing.assert_array_equal(clone.weights, layer.weights)
    layer.release()
    assert not any(hasattr(layer, name) for name in names)


def test_inplace_activations_share_their_buffer():
    tanh, gelu = _layer(activation="tanh"), _layer(activation="gelu")
    tanh.allocate(4, np.float32)
    gelu.allocate(4, np.float32)
    assert tanh._a is tanh._z and tanh._z.dtype == np.float32
    assert gelu._a is not gelu._z
