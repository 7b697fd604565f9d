"""The backend seam: what differs between numpy and the Python array API.

The training loop (:mod:`sknet.training`) and the layers are written once. The
few operations whose best form differs between libraries go through a
*backend*, chosen once per ``fit`` from the input data:

* :class:`NumpyBackend`, the reference: in place, into buffers made once per
  fit (``out=``), so that a training step allocates nothing.
* :class:`ArrayAPIBackend`, for any library of the Python array API standard
  (PyTorch, CuPy, array_api_strict, ...) on any device: no ``out=``, no
  in-place writes into views; every operation returns a new array, in the
  input's namespace and on its device.

Both expose the same methods. A compiled CPU backend would be a third class
with the same methods.

Randomness never comes from a backend: shuffling orders, dropout masks and
initial weights are drawn on the host from the network's one numpy Generator
and moved to the device, so that a ``random_state`` gives the same model on
every library and device.
"""

import math

import array_api_compat
import numpy as np
from scipy import sparse

from ._parameters import DeviceParameters, FlatParameters, writes_out

__all__ = [
    "ArrayAPIBackend",
    "Backend",
    "NumpyBackend",
    "first_rows",
    "get_backend",
    "to_numpy",
]


def _is_numpy_like(array):
    """numpy arrays, sparse matrices, None and plain array-likes (lists, pandas)."""
    if array is None or sparse.issparse(array) or isinstance(array, (np.ndarray, np.generic)):
        return True
    return not array_api_compat.is_array_api_obj(array)


def get_backend(*arrays, step_work=None):
    """Return the backend for ``arrays``: numpy's, or the array API's of their namespace.

    numpy arrays, sparse matrices, lists and other array-likes take the numpy
    backend. Arrays of another array-API library (all of one namespace and
    device) take an :class:`ArrayAPIBackend` on that namespace and device.

    Parameters
    ----------
    *arrays : arrays or None
    step_work : int, optional
        For training: a step's parameters times its batch rows. numpy data
        then take numba's fused kernels (a backend of their own) when
        numba is installed (``sknet-layers[fast]``) and the step is large enough.

    Returns
    -------
    NumpyBackend or ArrayAPIBackend

    Raises
    ------
    ValueError
        When the arrays mix namespaces or devices.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends import get_backend
    >>> get_backend(np.zeros(3)).name
    'numpy'
    """
    foreign = [array for array in arrays if not _is_numpy_like(array)]
    if not foreign:
        return NUMPY if step_work is None else _fast_numpy(step_work)
    try:
        xp = array_api_compat.array_namespace(*foreign)
    except TypeError as exc:
        raise ValueError(f"The arrays mix array libraries: {exc}") from None
    if array_api_compat.is_numpy_namespace(xp):
        return NUMPY
    devices = {repr(array_api_compat.device(array)) for array in foreign}
    if len(devices) > 1:
        raise ValueError(
            f"The arrays are on different devices ({', '.join(sorted(devices))}); "
            "move them to one device first."
        )
    if any(sparse.issparse(array) for array in arrays):
        raise ValueError("Sparse matrices can only be mixed with numpy arrays.")
    return ArrayAPIBackend(xp, array_api_compat.device(foreign[0]))


def _fast_numpy(step_work):
    """numba's backend for a large enough step when numba is installed, else numpy's.

    numba is imported on the first step large enough to use it, never before:
    its load (0.3 s from numba's cache) would cost a small fit more than the
    kernels could save, and ``import sknet`` stays free of it.
    """
    global _NUMBA
    if _NUMBA is None:
        if step_work < MIN_STEP_WORK:
            return NUMPY
        try:
            from ._numba_backend import NumbaBackend  # noqa: PLC0415 - optional, heavy
        except ImportError:  # numba is not installed: numpy is the backend
            _NUMBA = False
        else:
            _NUMBA = (NumbaBackend(), MIN_STEP_WORK)
    if not _NUMBA or step_work < _NUMBA[1]:
        return NUMPY
    return _NUMBA[0]


#: A step's parameters times its batch rows from which numba's kernels
#: (:mod:`sknet._numba_backend`) pay for their load: the wide benchmark (93k
#: parameters, batch 256) is above, scikit-learn's digits (50k parameters,
#: batch 200) below. Kept here so that choosing numpy needs no numba import.
MIN_STEP_WORK = 2**24

_NUMBA = None  # (backend, threshold) once looked for; False without numba


def first_rows(buffer, n):
    """The first ``n`` rows of a work buffer, or None for a backend that makes none.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends import first_rows
    >>> first_rows(np.zeros((4, 2)), 3).shape, first_rows(None, 3)
    ((3, 2), None)
    """
    return None if buffer is None else buffer[:n]


def to_numpy(array):
    """Return ``array`` (of any array library, on any device) as a numpy array on the host.

    Parameters
    ----------
    array : array

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends import to_numpy
    >>> to_numpy(np.arange(3))
    array([0, 1, 2])
    """
    if isinstance(array, np.ndarray):
        return array
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    try:
        return np.asarray(array)
    except (RuntimeError, TypeError, ValueError):
        # Libraries that refuse an implicit copy off their device still
        # speak DLPack (array_api_strict's second device, for one).
        return np.from_dlpack(array)


class Backend:
    """The interface every backend implements: the seam between the loop and the arithmetic.

    Work buffers (``out``-style arguments) are made once per fit by
    :meth:`buffer`; a backend that cannot write in place makes none and
    receives None, returning new arrays instead. Every method returns its
    result, so the caller never relies on in-place writes.

    Examples
    --------
    >>> from sknet.backends import Backend, NumpyBackend
    >>> isinstance(NumpyBackend(), Backend)
    True
    """

    #: A short name: "numpy", "torch", "array_api_strict", ...
    name = "backend"
    #: True for numpy and its compiled variants: arrays on the host, written in
    #: place into buffers made once per fit; False for the array API.
    in_place = True

    # -- arrays -----------------------------------------------------------------

    def dtype(self, dtype):
        """The backend's dtype object for a numpy dtype (or its name)."""
        raise NotImplementedError

    def convert(self, array, dtype=None, copy=False):
        """``array`` (a host array, or an array of any library) in this backend, in ``dtype``;
        an independent copy with ``copy=True``."""
        raise NotImplementedError

    def to_numpy(self, array):
        """An array of this backend as a numpy array on the host."""
        raise NotImplementedError

    def buffer(self, shape, dtype):
        """A work buffer made once per fit, or None for a backend that writes nothing in place."""
        raise NotImplementedError

    def ones(self, n, dtype):
        """A vector of ``n`` ones."""
        raise NotImplementedError

    def zeros(self, n, dtype):
        """A vector of ``n`` zeros (optimizer state)."""
        raise NotImplementedError

    def copy(self, array):
        """A copy of ``array`` in this backend."""
        raise NotImplementedError

    def owns(self, array):
        """Whether ``array`` already lives in this backend (namespace and device)."""
        raise NotImplementedError

    def indices(self, order):
        """A host row order (numpy integers) where this backend gathers batches."""
        raise NotImplementedError

    def gather_rows(self, source, idx, out):
        """Rows ``idx`` of ``source`` (into ``out`` when given)."""
        raise NotImplementedError

    def read(self, scalar):
        """A scalar of this backend as a Python float (a device read)."""
        raise NotImplementedError

    def total(self, vector):
        """The sum of a vector: a float with numpy, a scalar left on the device otherwise."""
        raise NotImplementedError

    def all_finite(self, array):
        """Whether no entry of ``array`` is NaN or infinite, as a Python bool."""
        raise NotImplementedError

    # -- layers -----------------------------------------------------------------

    def dense_forward(self, x, weights, bias, activation, z_out, a_out):
        """``z = x @ weights + bias`` and ``a = activation(z)``; return ``(z, a)``."""
        raise NotImplementedError

    def dropout(self, a, rate, rng, mask_out, out):
        """Zero a share ``rate`` of ``a`` with a mask drawn from the host ``rng``; return
        ``(dropped a, mask)``. Inverted dropout: kept values are scaled by ``1 / (1 - rate)``."""
        raise NotImplementedError

    def multiply(self, array, other):
        """``array * other`` (numpy writes into ``array``)."""
        raise NotImplementedError

    def activation_backward(self, activation, z, a, delta):
        """``delta * activation'(z)`` (numpy: into ``delta``, may spend ``z`` and ``a``)."""
        raise NotImplementedError

    def parameter_gradients(self, x, delta, grad_weights, grad_bias, ones):
        """``(x.T @ delta, ones @ delta)``: the weight and bias gradients of a dense layer."""
        raise NotImplementedError

    def input_gradient(self, delta, weights, out):
        """``delta @ weights.T``: the gradient with respect to a dense layer's input."""
        raise NotImplementedError

    # -- losses -----------------------------------------------------------------

    def loss_sum(self, loss, Y, P, scale):
        """``sum_i scale_i * loss_i``: the batch's weighted mean loss (``scale`` a float
        ``1 / n`` or a column of normalised weights)."""
        raise NotImplementedError

    def sum_of_squares(self, array):
        """``sum(array ** 2)`` of a vector (the L2 penalty)."""
        raise NotImplementedError

    def row_scale(self, sample_weight, total, out):
        """``sample_weight / total`` as a column."""
        raise NotImplementedError

    def fused_delta(self, P, Y, scale, out):
        """``(P - Y) * scale``: a natural pair's gradient at the output's pre-activation."""
        raise NotImplementedError

    def loss_gradient(self, loss, Y, P, scale, out):
        """``d loss / d P * scale``."""
        raise NotImplementedError

    def batch_is_finite(self, objective):
        """Whether a batch's objective is finite, where checking it costs nothing (else True)."""
        raise NotImplementedError

    # -- parameters -------------------------------------------------------------

    def parameter_store(self, layers, dtype):
        """Where the layers' parameters live while they train: one parameter store."""
        raise NotImplementedError

    def optimizer_step(self, optimizer, params, grad, out):
        """One step of ``optimizer``: the new parameters, written into ``out`` with numpy."""
        raise NotImplementedError


class NumpyBackend(Backend):
    """numpy, in place: every method writes into a buffer made once per fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends import NumpyBackend
    >>> backend = NumpyBackend()
    >>> out = np.empty((1, 2))
    >>> backend.input_gradient(np.ones((1, 3)), np.ones((2, 3)), out)
    array([[3., 3.]])
    """

    name = "numpy"
    xp = np
    device = None

    # -- arrays -----------------------------------------------------------------

    def dtype(self, dtype):
        """The backend's dtype object for a numpy dtype."""
        return np.dtype(dtype)

    def convert(self, array, dtype=None, copy=False):
        """``array`` (from any library) as a numpy array of ``dtype``.

        With ``copy=True`` the result never shares memory with ``array``:
        what a caller changes afterwards does not reach it.
        """
        array = to_numpy(array)
        return np.array(array, dtype=dtype) if copy else np.asarray(array, dtype=dtype)

    def buffer(self, shape, dtype):
        """A work buffer, made once per fit."""
        return np.empty(shape, dtype=dtype)

    def ones(self, n, dtype):
        return np.ones(n, dtype=dtype)

    def zeros(self, n, dtype):
        return np.zeros(n, dtype=dtype)

    def copy(self, array):
        return array.copy()

    def owns(self, array):
        """Whether ``array`` already lives in this backend."""
        return isinstance(array, np.ndarray)

    def indices(self, order):
        """The row order of an epoch, where the batches are gathered."""
        return order

    def gather_rows(self, source, idx, out):
        """Rows ``idx`` of ``source``, into ``out`` (sparse sources give a new matrix)."""
        if isinstance(source, np.ndarray):
            return np.take(source, idx, axis=0, out=out)
        return source[idx]

    def read(self, scalar):
        """A scalar of the backend as a Python float."""
        return float(scalar)

    def total(self, vector):
        return float(vector.sum())

    def all_finite(self, array):
        return bool(np.isfinite(array).all())

    # -- layers -----------------------------------------------------------------

    def dense_forward(self, x, weights, bias, activation, z_out, a_out):
        """``z = x @ weights + bias`` and ``a = activation(z)``; return ``(z, a)``."""
        if isinstance(x, np.ndarray):
            z = np.matmul(x, weights, out=z_out)
        else:  # sparse input: scipy returns a new dense array
            z = z_out
            np.copyto(z, x @ weights)
        z += bias
        return z, activation.forward(z, out=a_out)

    def dropout(self, a, rate, rng, mask_out, out):
        """Zero a share ``rate`` of ``a`` at random (inverted dropout); return ``(a, mask)``."""
        mask = mask_out
        rng.random(out=mask, dtype=mask.dtype)
        # Keep with probability 1 - p, scaled by 1 / (1 - p) so that
        # predictions need no rescaling.
        np.greater_equal(mask, rate, out=mask)
        mask *= 1.0 / (1.0 - rate)
        return np.multiply(a, mask, out=out), mask

    def multiply(self, array, other):
        """``array * other``, in place."""
        array *= other
        return array

    def activation_backward(self, activation, z, a, delta):
        """``delta * activation'(z)``, in ``delta`` (``z`` and ``a`` may be overwritten)."""
        result = activation.backward(z, a, delta)
        if result is not delta:  # a user activation may return a new array
            np.copyto(delta, result)
        return delta

    def parameter_gradients(self, x, delta, grad_weights, grad_bias, ones):
        """``x.T @ delta`` and the column sums of ``delta``, into the given slots.

        The column sums are a BLAS product with ``ones``, about twice as fast
        as ``sum(axis=0)``.
        """
        if isinstance(x, np.ndarray):
            np.matmul(x.T, delta, out=grad_weights)
        else:
            np.copyto(grad_weights, x.T @ delta)
        np.matmul(ones, delta, out=grad_bias)
        return grad_weights, grad_bias

    def input_gradient(self, delta, weights, out):
        """``delta @ weights.T``, the gradient with respect to a layer's input."""
        return np.matmul(delta, weights.T, out=out)

    # -- losses -----------------------------------------------------------------

    def loss_sum(self, loss, Y, P, scale):
        """``sum_i scale_i * loss_i`` as a float (``scale`` a float or a column)."""
        per_sample = loss.value(Y, P)
        if isinstance(scale, float):
            return float(per_sample.sum()) * scale
        return float(per_sample @ scale[:, 0])

    def sum_of_squares(self, array):
        return float(np.dot(array, array))

    def row_scale(self, sample_weight, total, out):
        """``sample_weight / total`` as a column."""
        return np.divide(sample_weight, total, out=out)[:, np.newaxis]

    def fused_delta(self, P, Y, scale, out):
        """``(P - Y) * scale``: the natural pairs' gradient at the output's pre-activation."""
        delta = np.subtract(P, Y, out=out)
        delta *= scale
        return delta

    def loss_gradient(self, loss, Y, P, scale, out):
        """``d loss / d P * scale``, into ``out``."""
        gradient = loss.gradient(Y, P, out=out)
        if gradient is not out:  # a user loss may ignore ``out``
            np.copyto(out, gradient)
        out *= scale
        return out

    def batch_is_finite(self, objective):
        """Checked after every batch on the host; the array API checks per epoch."""
        return math.isfinite(objective)

    # -- parameters -------------------------------------------------------------

    def parameter_store(self, layers, dtype):
        """The flat, double-buffered parameter store of a fit."""
        return FlatParameters(layers, dtype, self)

    def optimizer_step(self, optimizer, params, grad, out):
        if writes_out(optimizer):
            optimizer.step(params, grad, out=out)
        else:
            np.copyto(out, params)
            optimizer.step(out, grad)
        return out


class ArrayAPIBackend(Backend):
    """Any array-API library on any device: every operation returns a new array.

    Parameters
    ----------
    xp : namespace
        The array namespace (wrapped by ``array_api_compat``).
    device : device
        The device the data live on.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_strict as xps
    >>> from sknet.backends import get_backend
    >>> backend = get_backend(xps.asarray([[1.0, 2.0]]))
    >>> backend.name
    'array_api_strict'
    >>> backend.input_gradient(xps.ones((1, 3)), xps.ones((2, 3)), None)
    Array([[3., 3.]], dtype=array_api_strict.float64)
    """

    in_place = False

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device
        self.name = xp.__name__.removeprefix("array_api_compat.")

    def __repr__(self):
        return f"ArrayAPIBackend({self.name}, device={self.device!r})"

    # -- arrays -----------------------------------------------------------------

    def dtype(self, dtype):
        return getattr(self.xp, np.dtype(dtype).name)

    def convert(self, array, dtype=None, copy=False):
        """``array`` (a host array, or an array of any library) on this device.

        The result is never part of an autograd graph: a torch tensor that
        requires grad is detached, so that training and prediction do not
        record every operation (nor depend on the flag). With ``copy=True``
        the result never shares memory with ``array`` (torch on the CPU and
        array_api_strict wrap a numpy array without copying it).
        """
        xp = self.xp
        if array_api_compat.is_torch_array(array) and array.requires_grad:
            array = array.detach()
        if not self.owns(array):
            host = to_numpy(array)
            host = np.array(host, order="C") if copy else np.ascontiguousarray(host)
            array = xp.asarray(host, device=self.device)
        elif copy:
            array = xp.asarray(array, copy=True)
        if dtype is not None and array.dtype != dtype:
            array = xp.astype(array, dtype)
        return array

    def buffer(self, shape, dtype):
        return None  # nothing to write into: operations return new arrays

    def ones(self, n, dtype):
        return self.xp.ones((n,), dtype=dtype, device=self.device)

    def zeros(self, n, dtype):
        return self.xp.zeros((n,), dtype=dtype, device=self.device)

    def numpy_dtype(self, dtype):
        """The numpy dtype of a floating dtype of this namespace."""
        return np.dtype(np.float32) if dtype == self.xp.float32 else np.dtype(np.float64)

    def copy(self, array):
        return self.xp.asarray(array, copy=True)

    def owns(self, array):
        try:
            xp = array_api_compat.array_namespace(array)
        except TypeError:
            return False
        return xp is self.xp and array_api_compat.device(array) == self.device

    def indices(self, order):
        # One transfer per epoch; the batches are then gathered on the device.
        return self.xp.asarray(order, device=self.device)

    def gather_rows(self, source, idx, out):
        return self.xp.take(source, idx, axis=0)

    def read(self, scalar):
        return float(scalar)

    def total(self, vector):
        return self.xp.sum(vector)

    def to_numpy(self, array):
        return to_numpy(array)

    def all_finite(self, array):
        return bool(self.xp.all(self.xp.isfinite(array)))

    # -- layers -----------------------------------------------------------------

    def dense_forward(self, x, weights, bias, activation, z_out, a_out):
        z = x @ weights + bias
        return z, activation.forward_xp(z, self.xp)

    def dropout(self, a, rate, rng, mask_out, out):
        # The mask is drawn on the host, exactly as numpy draws it, and sent
        # to the device: the same random_state gives the same masks everywhere.
        mask = rng.random(size=tuple(a.shape), dtype=self.numpy_dtype(a.dtype))
        np.greater_equal(mask, rate, out=mask)
        mask *= 1.0 / (1.0 - rate)
        mask = self.xp.asarray(mask, device=self.device)
        return a * mask, mask

    def multiply(self, array, other):
        return array * other

    def activation_backward(self, activation, z, a, delta):
        return activation.backward_xp(z, a, delta, self.xp)

    def parameter_gradients(self, x, delta, grad_weights, grad_bias, ones):
        # The bias gradient as a product with ones, like numpy's, so that
        # both round the same way.
        return x.T @ delta, ones @ delta

    def input_gradient(self, delta, weights, out):
        return delta @ weights.T

    # -- losses -----------------------------------------------------------------

    def loss_sum(self, loss, Y, P, scale):
        per_sample = loss.value_xp(Y, P, self.xp)
        if isinstance(scale, float):
            return self.xp.sum(per_sample) * scale
        return per_sample @ scale[:, 0]

    def sum_of_squares(self, array):
        return self.xp.vecdot(array, array)

    def row_scale(self, sample_weight, total, out):
        return (sample_weight / total)[:, None]

    def fused_delta(self, P, Y, scale, out):
        return (P - Y) * scale

    def loss_gradient(self, loss, Y, P, scale, out):
        return loss.gradient_xp(Y, P, self.xp) * scale

    def batch_is_finite(self, objective):
        return True  # reading the loss would stop the device every batch

    # -- parameters -------------------------------------------------------------

    def parameter_store(self, layers, dtype):
        return DeviceParameters(layers, dtype, self)

    def optimizer_step(self, optimizer, params, grad, out):
        return optimizer.step_xp(params, grad, self.xp)


NUMPY = NumpyBackend()
