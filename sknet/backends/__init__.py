"""Where data live: the backend of a fit, data placement, and the parameter stores.

The training loop (:mod:`sknet.training`), the layers and the formulas are
written once. What differs between libraries is where arrays live and
whether they can be written in place; a *backend*, chosen once per ``fit``
from the input data, answers that:

* :class:`NumpyBackend` (:mod:`sknet.backends.numpy`), the reference: in
  place, into buffers made once per fit (``out=``), so that a training step
  allocates nothing.
* :class:`ArrayAPIBackend` (:mod:`sknet.backends.array_api`), for any library
  of the Python array API standard (PyTorch, CuPy, array_api_strict, ...) on
  any device: no ``out=``, no in-place writes; every operation returns a new
  array, in the input's namespace and on its device.
* ``NumbaBackend`` (:mod:`sknet.backends.numba`, with ``sknet-layers[fast]``):
  numpy's, with fused compiled kernels for the elementwise work of a step.

The parameter stores (:mod:`sknet.backends.parameters`) hold a fit's
parameters in one flat vector. The modules import the interface
(``sknet.backends._core``) and never this package, and numba's is imported
only when used: no import cycle.

Randomness never comes from a backend's own generator: shuffling orders and
initial weights are drawn on the host from the network's one numpy Generator
and moved to the device; dropout masks are computed on the device by a
counter-based generator (:mod:`sknet.backends.random`) keyed once per fit from
that Generator. A ``random_state`` gives the same model on every library and
device.
"""

import array_api_compat
import numpy as np
from scipy import sparse

from ._core import MIN_STEP_WORK, Backend, first_rows, to_numpy
from .array_api import ArrayAPIBackend
from .numpy import NUMPY, NumpyBackend

__all__ = [
    "MIN_STEP_WORK",
    "NUMPY",
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
        then take numba's fused kernels (:mod:`sknet.backends.numba`) when
        numba is installed (``sknet-layers[fast]``) and the step is large enough.

    Returns
    -------
    Backend

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
            from .numba import NumbaBackend  # noqa: PLC0415 - optional, heavy
        except ImportError:  # numba is not installed: numpy is the backend
            _NUMBA = False
        else:
            _NUMBA = (NumbaBackend(), MIN_STEP_WORK)
    if not _NUMBA or step_work < _NUMBA[1]:
        return NUMPY
    return _NUMBA[0]


_NUMBA = None  # (backend, threshold) once looked for; False without numba
