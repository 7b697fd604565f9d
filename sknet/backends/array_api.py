"""Any library of the Python array API standard, on any device: nothing written in place."""

import array_api_compat
import numpy as np

from ._core import Backend, to_numpy
from .parameters import DeviceParameters

__all__ = ["ArrayAPIBackend"]


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
    >>> import array_api_strict as xps
    >>> from sknet.backends import get_backend
    >>> backend = get_backend(xps.asarray([[1.0, 2.0]]))
    >>> backend.name
    'array_api_strict'
    >>> backend.row_scale(xps.asarray([1.0, 3.0]), 4.0)
    Array([[0.25],
           [0.75]], dtype=array_api_strict.float64)
    """

    in_place = False

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device
        self.name = xp.__name__.removeprefix("array_api_compat.")

    def __repr__(self):
        return f"ArrayAPIBackend({self.name}, device={self.device!r})"

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

    def owns(self, array):
        try:
            xp = array_api_compat.array_namespace(array)
        except TypeError:
            return False
        return xp is self.xp and array_api_compat.device(array) == self.device

    def indices(self, order):
        # One transfer per epoch; the batches are then gathered on the device.
        return self.xp.asarray(order, device=self.device)

    def total(self, array):
        return self.xp.sum(array)

    def batch_is_finite(self, objective):
        return True  # reading the loss would stop the device every batch

    def parameter_store(self, layers, dtype):
        return DeviceParameters(layers, dtype, self)
