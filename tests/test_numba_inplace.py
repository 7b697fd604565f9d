"""The numba backend runs its in-place activation kernels where a layer works in place.

A layer whose activation works in place (relu, sigmoid, identity) hands the
backend two views of one buffer for ``z`` and ``a``: ``buffer[:n]`` twice,
two different objects over the same memory. The kernels' dispatch must see
that they are one array. The general kernel, given two names for one array,
still computes the right numbers, but LLVM's run-time overlap check fails and
its loop runs unvectorised, 3-5 times slower (measured at 256 x 256).
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from sknet import Network, backends  # noqa: E402
from sknet import _numba_kernels as K  # noqa: E402
from sknet.backends.numba import NumbaBackend  # noqa: E402


def _record(monkeypatch, name):
    """Count the calls of the in-place forward kernel of ``name``."""
    calls = []
    kernel = K._INPLACE_FORWARD[name]

    def recording(z, bias, slope):
        calls.append(z.shape)
        return kernel(z, bias, slope)

    monkeypatch.setitem(K._INPLACE_FORWARD, name, recording)
    return calls


@pytest.mark.parametrize("name", ["relu", "sigmoid", "identity"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_views_of_one_buffer_take_the_in_place_kernel(name, dtype, monkeypatch):
    rng = np.random.default_rng(0)
    buffer = rng.standard_normal((6, 4)).astype(dtype)
    start = buffer.copy()
    bias = rng.standard_normal(4).astype(dtype)
    calls = _record(monkeypatch, name)
    z, a = buffer[:5], buffer[:5]  # what a layer's forward_train hands over
    assert z is not a
    K.bias_activation(z, bias, a, name)
    assert calls == [(5, 4)]
    # The same numbers as the general kernel writing into another array.
    z_ref, a_ref = start[:5].copy(), np.empty((5, 4), dtype)
    K.NUMBA_FORWARD[name](z_ref, bias, a_ref, dtype(0.01))
    np.testing.assert_array_equal(buffer[:5], a_ref)
    np.testing.assert_array_equal(buffer[5], start[5])  # the row past n is untouched


def test_overlapping_but_different_views_take_the_general_kernel(monkeypatch):
    # Same shape and strides, shifted by one row: not one array, so not the
    # in-place kernel (which would write f(z) where a starts, one row early).
    buffer = np.arange(12.0).reshape(6, 2) - 6.0
    calls = _record(monkeypatch, "relu")
    K.bias_activation(buffer[:5], np.zeros(2), buffer[1:6], "relu")
    assert calls == []
    # Interleaved columns of one buffer: same shape and strides, other elements.
    wide = np.zeros((2, 4))
    K.bias_activation(wide[:, ::2], np.zeros(2), wide[:, 1::2], "relu")
    assert calls == []


@pytest.mark.parametrize("name", ["elu", "softplus"])
def test_a_view_of_z_is_refused_where_z_is_scratch(name):
    # elu and softplus use z as scratch: a_out must be another array, and a
    # second view of z is the same array.
    buffer = np.ones((3, 2))
    with pytest.raises(ValueError, match="needs an a_out other than z"):
        K.bias_activation(buffer[:3], np.zeros(2), buffer[:3], name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_training_step_runs_the_in_place_kernels(dtype, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 5)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 64)]

    def fit():
        net = Network(5, random_state=0, dtype=dtype)
        net.add_layer(16, "relu").add_layer(8, "sigmoid").add_layer(3, "softmax")
        return net.fit(X, Y, loss="log_loss", epochs=3, batch_size=16)

    reference = fit()  # numpy
    relu, sigmoid = _record(monkeypatch, "relu"), _record(monkeypatch, "sigmoid")
    monkeypatch.setattr(backends, "_NUMBA", (NumbaBackend(), 0))
    fast = fit()
    # Every hidden layer, every step: 3 epochs of 4 batches.
    assert relu == [(16, 16)] * 12
    assert sigmoid == [(16, 8)] * 12
    tolerance = {"float64": 1e-9, "float32": 1e-4}[dtype]
    np.testing.assert_allclose(fast.predict(X), reference.predict(X), rtol=tolerance, atol=tolerance)
