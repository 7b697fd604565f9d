"""The data a network is given: checked, converted, and kept in its library.

Every check names the array and says what is wrong. numpy input (and lists,
pandas, sparse matrices) become numpy arrays in the training dtype; arrays of
another array-API library stay in their library and on their device.
"""

import math

import numpy as np
from scipy import sparse

from .backends import NUMPY

__all__ = [
    "check_X",
    "check_Y",
    "check_finite",
    "check_numbers",
    "check_sample_weight",
    "is_float32",
    "take_rows",
    "working_dtype",
]


def check_finite(name, values, backend=NUMPY):
    """Raise ValueError naming ``name`` when ``values`` hold NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._data import check_finite
    >>> check_finite("X", np.array([1.0, np.nan]))
    Traceback (most recent call last):
    ...
    ValueError: X contains NaN or infinity.
    """
    if not backend.in_place:
        if not backend.all_finite(values):
            raise ValueError(f"{name} contains NaN or infinity.")
        return
    # A sum is finite exactly when no entry is NaN or infinite, barring an
    # overflow of the sum itself, which the slow path then rules out.
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(values.sum())
    if math.isfinite(total) or np.isfinite(values).all():
        return
    raise ValueError(f"{name} contains NaN or infinity.")


def is_float32(dtype):
    """Whether ``dtype`` (numpy's or another library's) is float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._data import is_float32
    >>> is_float32(np.dtype("float32")), is_float32(np.dtype("float64"))
    (True, False)
    """
    if dtype is None:
        return False
    if isinstance(dtype, np.dtype):
        return dtype == np.float32
    # torch.float32, array_api_strict.float32, ...: compared by name, since
    # the standard leaves comparisons across libraries undefined.
    return str(dtype).rsplit(".", 1)[-1] == "float32"


def check_numbers(name, array, backend, dtype):
    """An array of the array-API ``backend``: on its device, numeric, in ``dtype``.

    Examples
    --------
    >>> import array_api_strict as xps
    >>> from sknet._data import check_numbers
    >>> from sknet.backends import get_backend
    >>> x = xps.asarray([1, 2])
    >>> check_numbers("X", x, get_backend(x), "float64").dtype
    array_api_strict.float64
    """
    xp = backend.xp
    array = backend.convert(array)
    if not xp.isdtype(array.dtype, ("real floating", "integral", "bool")):
        raise ValueError(f"{name} must hold real numbers, got an array of dtype {array.dtype}.")
    return xp.astype(array, backend.dtype(dtype)) if array.dtype != backend.dtype(dtype) else array


def take_rows(backend, array, rows):
    """``array[rows]`` for host indices ``rows``, in any backend.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._data import take_rows
    >>> from sknet.backends import NUMPY
    >>> take_rows(NUMPY, np.arange(4), np.array([2, 0]))
    array([2, 0])
    """
    if backend.in_place:
        return array[rows]
    return backend.gather_rows(array, backend.indices(rows), None)


def working_dtype(dtype, X):
    """The numpy dtype of training: the network's ``dtype``, or float32 for float32 data.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._data import working_dtype
    >>> working_dtype(None, np.zeros(2, dtype=np.float32))
    dtype('float32')
    """
    if dtype is not None:
        return dtype
    single = is_float32(getattr(X, "dtype", None))
    return np.dtype(np.float32) if single else np.dtype(np.float64)


def check_X(X, n_inputs, dtype, min_rows=0, backend=NUMPY):
    """``X`` checked and converted: 2-D, ``n_inputs`` columns, finite, in ``dtype``.

    Examples
    --------
    >>> from sknet._data import check_X
    >>> check_X([[1, 2]], 3, "float64")
    Traceback (most recent call last):
    ...
    ValueError: X has 2 columns but the network expects 3 inputs.
    """
    if not backend.in_place:
        X = check_numbers("X", X, backend, dtype)
        values = X
    elif sparse.issparse(X):
        X = X.tocsr().astype(dtype, copy=False)
        values = X.data
    else:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X must hold numbers, got an array of dtype {X.dtype}.")
        X = np.ascontiguousarray(X, dtype=dtype)
        values = X
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got {X.ndim} dimension(s).")
    if X.shape[1] != n_inputs:
        raise ValueError(f"X has {X.shape[1]} columns but the network expects {n_inputs} inputs.")
    if X.shape[0] < min_rows:
        raise ValueError(f"X has {X.shape[0]} rows; at least {min_rows} needed.")
    check_finite("X", values, backend)
    return X


def check_Y(Y, n_outputs, n_rows, dtype, backend=NUMPY):
    """``Y`` checked and converted to ``(n_rows, n_outputs)``, finite.

    Examples
    --------
    >>> from sknet._data import check_Y
    >>> check_Y([1.0, 2.0], 1, 2, "float64").shape
    (2, 1)
    """
    if not backend.in_place:
        Y = check_numbers("Y", Y, backend, dtype)
        given_shape = tuple(Y.shape)
        if Y.ndim == 1:
            Y = backend.xp.reshape(Y, (-1, 1))
    else:
        Y = np.asarray(Y)
        if Y.dtype.kind not in "biuf":
            raise ValueError(f"Y must hold numbers, got an array of dtype {Y.dtype}.")
        given_shape = Y.shape
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[1] != n_outputs:
        raise ValueError(
            f"Y must have {n_outputs} column(s), one per output unit, got shape {given_shape}."
        )
    if Y.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} rows but Y has {Y.shape[0]}.")
    if backend.in_place:
        # float32 targets may stay float32 under float64 training: one-hot and
        # indicator targets are exact in float32 and take half the memory.
        Y = np.ascontiguousarray(Y, dtype=Y.dtype if Y.dtype == np.float32 else dtype)
    check_finite("Y", Y, backend)
    return Y


def check_sample_weight(sample_weight, n_rows, dtype, backend=NUMPY):
    """Sample weights checked: ``(n_rows,)``, finite, non-negative, a positive sum.

    Examples
    --------
    >>> from sknet._data import check_sample_weight
    >>> check_sample_weight([1.0, -1.0], 2, "float64")
    Traceback (most recent call last):
    ...
    ValueError: sample_weight must not be negative.
    """
    if sample_weight is None:
        return None
    if not backend.in_place:
        sample_weight = check_numbers("sample_weight", sample_weight, backend, dtype)
    else:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.dtype.kind not in "biuf":
            raise ValueError(
                f"sample_weight must hold numbers, got an array of dtype {sample_weight.dtype}."
            )
        sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
    if tuple(sample_weight.shape) != (n_rows,):
        raise ValueError(
            f"sample_weight must have shape ({n_rows},), got {tuple(sample_weight.shape)}."
        )
    check_finite("sample_weight", sample_weight, backend)
    xp = backend.xp
    if bool(xp.any(sample_weight < 0)):
        raise ValueError("sample_weight must not be negative.")
    if not bool(xp.sum(sample_weight) > 0):
        raise ValueError("sample_weight must have a positive sum.")
    return sample_weight
