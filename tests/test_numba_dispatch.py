"""The numba backend's dispatch: the fast kernel runs wherever it applies.

In-place activations. A layer whose activation works in place (relu, sigmoid, identity) hands the
backend two views of one buffer for ``z`` and ``a``: ``buffer[:n]`` twice,
two different objects over the same memory. The kernels' dispatch must see
that they are one array. The general kernel, given two names for one array,
still computes the right numbers, but LLVM's run-time overlap check fails and
its loop runs unvectorised, 3-5 times slower (measured at 256 x 256).

The L2 term. The store of the numba backend adds ``alpha / n * weights`` to
the gradient in one pass (numpy: a scratch product, then a sum), with the
same numbers.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from sknet import Network, backends  # noqa: E402
from sknet import _numba_kernels as K  # noqa: E402
from sknet.backends import NUMPY  # noqa: E402
from sknet.backends import numba as numba_backend  # noqa: E402
from sknet.backends.numba import NumbaBackend  # noqa: E402
from sknet.losses import get_loss  # noqa: E402
from sknet.training import Trainer  # noqa: E402


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
    with pytest.raises(ValueError, match="needs an a_out other than z"):
        K.bias_activation(buffer[:2], np.zeros(2), buffer[1:3], name)  # overlapping


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
    np.testing.assert_allclose(
        fast.predict(X), reference.predict(X), rtol=tolerance, atol=tolerance
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_scaled_is_numpys_product_then_sum(dtype):
    rng = np.random.default_rng(3)
    grad, weights = (rng.standard_normal(1001).astype(dtype) for _ in range(2))
    expected = grad + weights * 1.37e-3  # numpy: the product rounded, then the sum
    K.add_scaled(grad, weights, 1.37e-3)
    np.testing.assert_array_equal(grad, expected)


def _batch_gradient(backend, dtype, alpha):
    """The flat gradient of one batch of a two-layer network on ``backend``."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(32, 6)).astype(dtype)
    Y = rng.normal(size=(32, 2)).astype(dtype)
    net = Network(6, random_state=0, dtype=dtype).add_layer(12, "relu").add_layer(2, "identity")
    trainer = Trainer(
        net, get_loss("squared_error"), alpha, np.dtype(dtype), None, None, [], 0, backend=backend
    )
    trainer._allocate(32)
    trainer.forward_backward(X, Y, None)
    return trainer.grad.copy(), trainer.store


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_numba_store_adds_the_penalty_in_one_pass(dtype, monkeypatch):
    calls = []
    kernel = numba_backend.add_scaled

    def recording(target, source, factor):
        calls.append(target.size)
        return kernel(target, source, factor)

    monkeypatch.setattr(numba_backend, "add_scaled", recording)
    expected, _ = _batch_gradient(NUMPY, dtype, alpha=0.3)
    got, store = _batch_gradient(NumbaBackend(), dtype, alpha=0.3)
    assert calls == [store.n_penalized] == [6 * 12 + 12 * 2]
    # The same numbers as numpy's store: the weights' entries carry the
    # penalty, the biases' do not.
    np.testing.assert_array_equal(got, expected)
    without, _ = _batch_gradient(NUMPY, dtype, alpha=0.0)
    assert not np.array_equal(got[: store.n_penalized], without[: store.n_penalized])
    np.testing.assert_array_equal(got[store.n_penalized :], without[store.n_penalized :])
    calls.clear()
    _batch_gradient(NumbaBackend(), dtype, alpha=0.0)
    assert calls == []  # no penalty, no pass
