"""numpy, the reference backend: arrays on the host, written in place into buffers."""

import math

import numpy as np

from ._core import Backend, to_numpy
from .parameters import FlatParameters

__all__ = ["NUMPY", "NumpyBackend"]


class NumpyBackend(Backend):
    """numpy, in place: a step writes into buffers made once per fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends import NumpyBackend
    >>> backend = NumpyBackend()
    >>> backend.row_scale(np.array([1.0, 3.0]), 4.0, np.empty(2))
    array([[0.25],
           [0.75]])
    """

    name = "numpy"
    xp = np
    device = None

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

    def owns(self, array):
        """Whether ``array`` already lives in this backend."""
        return isinstance(array, np.ndarray)

    def indices(self, order):
        """The row order of an epoch, where the batches are gathered."""
        return order

    def total(self, array):
        return float(array.sum())

    def batch_is_finite(self, objective):
        """Checked after every batch on the host; the array API checks per epoch."""
        return math.isfinite(objective)

    def parameter_store(self, layers, dtype):
        """The flat, double-buffered parameter store of a fit."""
        return FlatParameters(layers, dtype, self)


NUMPY = NumpyBackend()
