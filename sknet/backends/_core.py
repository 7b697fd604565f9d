"""The backend interface and what every backend shares (no backend imported here).

Each backend module (:mod:`~sknet.backends.numpy`,
:mod:`~sknet.backends.array_api`, :mod:`~sknet.backends.numba`) imports this
one; it imports none of them, so the package has no import cycle.
"""

import math

import numpy as np
from array_api_compat import is_cupy_array, is_torch_array
from scipy import sparse

from .parameters import writes_out

__all__ = ["MIN_STEP_WORK", "Backend", "first_rows", "to_numpy"]

#: A step's parameters times its batch rows from which numba's kernels
#: (:mod:`sknet.backends.numba`) pay for their load: the wide benchmark (93k
#: parameters, batch 256) is above, scikit-learn's digits (50k parameters,
#: batch 200) below. Kept here so that choosing numpy needs no numba import.
MIN_STEP_WORK = 2**24


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
    if is_torch_array(array):
        return array.detach().cpu().numpy()
    if is_cupy_array(array):
        return array.get()
    try:
        return np.asarray(array)
    except (RuntimeError, TypeError, ValueError):
        # Libraries that refuse an implicit copy off their device still
        # speak DLPack (array_api_strict's second device, for one).
        return np.from_dlpack(array)


class Backend:
    """The interface every backend implements: where data live, and the step's seams.

    A backend answers where arrays live (placement, dtypes, buffers, reads
    to the host) and runs the few seams of a training step that a compiled
    backend may fuse (:meth:`dense_forward`, :meth:`activation_backward`,
    :meth:`gather_rows`, :meth:`optimizer_step`). The arithmetic itself is
    written once, in the activations, losses and optimizers, in array-API
    form with a numpy branch inside where working in place pays: the methods
    here are written once too, for every backend. Work buffers (``out``
    arguments) are made once per fit by :meth:`buffer`; a backend that
    cannot write in place makes none and receives None, and then every
    operation returns a new array.

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
    #: The array namespace and device.
    xp = None
    device = None

    # -- where arrays live: each backend its own ---------------------------------

    def dtype(self, dtype):
        """The backend's dtype object for a numpy dtype (or its name)."""
        raise NotImplementedError

    def convert(self, array, dtype=None, copy=False):
        """``array`` (a host array, or an array of any library) in this backend, in ``dtype``;
        an independent copy with ``copy=True``."""
        raise NotImplementedError

    def buffer(self, shape, dtype):
        """A work buffer made once per fit, or None for a backend that writes nothing in place."""
        raise NotImplementedError

    def owns(self, array):
        """Whether ``array`` already lives in this backend (namespace and device)."""
        raise NotImplementedError

    def indices(self, order):
        """A host row order (numpy integers) where this backend gathers batches."""
        raise NotImplementedError

    def total(self, array):
        """The sum of an array: a float with numpy, a scalar left on the device otherwise."""
        raise NotImplementedError

    def batch_is_finite(self, objective):
        """Whether a batch's objective is finite, where checking it costs nothing (else True)."""
        raise NotImplementedError

    def parameter_store(self, layers, dtype):
        """Where the layers' parameters live while they train.

        See :mod:`sknet.backends.parameters`.
        """
        raise NotImplementedError

    # -- written once for every backend -------------------------------------------

    def to_numpy(self, array):
        """An array of this backend as a numpy array on the host."""
        return to_numpy(array)

    def read(self, scalar):
        """A scalar of this backend as a Python float (a device read)."""
        return float(scalar)

    def read_loss(self, loss, params):
        """``loss`` as a Python float, NaN when an entry of ``params`` is not finite."""
        return self.read(loss) if self.all_finite(params) else math.nan

    def all_finite(self, array):
        """Whether no entry of ``array`` is NaN or infinite, as a Python bool."""
        xp = self.xp
        return bool(xp.all(xp.isfinite(array)))

    def copy(self, array):
        """A copy of ``array`` in this backend."""
        return self.xp.asarray(array, copy=True)

    def dropout(self, a, rate, draws, layer, mask_out=None, out=None):
        """Zero a share ``rate`` of ``a`` at random (inverted dropout); return ``(a, mask)``.

        The mask is layer ``layer``'s for the current batch of ``draws`` (a
        :class:`~sknet.backends.random.DropoutDraws`), made where ``a`` lives:
        every backend and device draws the same one. Kept values are scaled
        by ``1 / (1 - rate)``, so that predictions need no rescaling. numpy
        writes the mask into ``mask_out`` and the result into ``out``.
        """
        shape = tuple(a.shape)
        mask = draws.mask(self.xp, shape, rate, layer, a.dtype, self.device, mask_out)
        if out is None:
            return a * mask, mask
        return np.multiply(a, mask, out=out), mask

    def ones(self, n, dtype):
        """A vector of ``n`` ones."""
        return self.xp.ones((n,), dtype=dtype, device=self.device)

    def zeros(self, n, dtype):
        """A vector of ``n`` zeros (optimizer state)."""
        return self.xp.zeros((n,), dtype=dtype, device=self.device)

    def gather_rows(self, source, idx, out=None):
        """Rows ``idx`` of ``source``, into the numpy buffer ``out`` when given."""
        if out is not None and isinstance(source, np.ndarray):
            return np.take(source, idx, axis=0, out=out)
        if sparse.issparse(source):
            return source[idx]
        return self.xp.take(source, idx, axis=0)

    def dense_forward(self, x, weights, bias, activation, z_out=None, a_out=None):
        """``z = x @ weights + bias`` and ``a = activation(z)``; return ``(z, a)``.

        With numpy buffers, ``z`` and ``a`` are written into them.
        """
        if z_out is None:
            z = x @ weights + bias
            return z, activation.forward(z)
        if isinstance(x, np.ndarray):
            z = np.matmul(x, weights, out=z_out)
        else:  # sparse input: scipy returns a new dense array
            z = z_out
            np.copyto(z, x @ weights)
        z += bias
        return z, activation.forward(z, out=a_out)

    def activation_backward(self, activation, z, a, delta):
        """``delta * activation'(z)`` (numpy: in ``delta``, ``z`` and ``a`` may be spent)."""
        return activation.backward(z, a, delta)

    def loss_sum(self, loss, Y, P, scale):
        """``sum_i scale_i * loss_i``: the batch's weighted mean loss (``scale`` a float
        ``1 / n`` or a column of normalised weights)."""
        per_sample = loss.value(Y, P)
        if isinstance(scale, float):
            return self.total(per_sample) * scale
        return self.total(per_sample @ scale[:, 0])

    def add_product(self, a, b, c, scalar):
        """``a + scalar * b * c`` (``scalar`` a Python number or a 0-d array), a new array."""
        return a + b * (c * scalar)

    def mean_loss(self, losses, weights):
        """The weighted mean of an epoch's batch losses (0.0 for none).

        On the host, a running mean over Python floats: a sum of huge but
        finite batch losses could overflow.
        """
        mean = total = 0.0
        for loss, weight in zip(losses, weights, strict=True):
            total = total + weight
            mean = mean + (loss - mean) * (weight / total)
        return mean

    def row_scale(self, sample_weight, total, out=None):
        """``sample_weight / total`` as a column (into the numpy buffer ``out`` when given)."""
        if out is None:
            return (sample_weight / total)[:, None]
        return np.divide(sample_weight, total, out=out)[:, np.newaxis]

    def optimizer_step(self, optimizer, params, grad, out=None):
        """One step of ``optimizer``: the new parameters (numpy: written into ``out``).

        See :mod:`sknet.optimizers` for what an optimizer object must do.
        """
        if out is not None:  # numpy: the step writes into the spare vector
            if writes_out(optimizer):
                result = optimizer.step(params, grad, out=out)
            else:
                np.copyto(out, params)
                result = optimizer.step(out, grad)
            if result is not None and result is not out:  # a step that returns its result
                np.copyto(out, result)
            return out
        step_xp = getattr(optimizer, "step_xp", None)  # an earlier version's device form
        if step_xp is not None:
            return step_xp(params, grad, self.xp)
        if getattr(optimizer, "returns_step", False):  # the built-ins never write in place
            return optimizer.step(params, grad)
        # Any other object may write into what it is given: a copy, so that
        # the parameters of the last good step stay whole.
        new = self.xp.asarray(params, copy=True)
        result = optimizer.step(new, grad)
        return new if result is None else result
