"""Where the estimators' data live under array-API dispatch.

The estimators train where X lives (see :mod:`sknet.backends` for the engine's
side). Labels are encoded on the host, as scikit-learn's own array-API
classifiers do, and the encoded targets and weights follow X to its device.
These helpers answer where an array lives and move or index it there.
"""

import numpy as np
from scipy import sparse
from sklearn.utils._array_api import get_namespace_and_device

from ..backends import to_numpy
from .compat import move_to


def where(X):
    """``(xp, device, is_numpy)`` for ``X``, as scikit-learn sees it under the current config.

    Without array-API dispatch, everything is numpy on the host.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.placement import where
    >>> where(np.zeros(2))[2]
    True
    """
    xp, _, device = get_namespace_and_device(X)
    return xp, device, xp.__name__.split(".")[-1] == "numpy"


def on_host(array):
    """``array`` as numpy on the host (None and sparse matrices pass through).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.placement import on_host
    >>> on_host(np.ones(2))
    array([1., 1.])
    """
    if array is None or sparse.issparse(array) or isinstance(array, np.ndarray):
        return array
    return to_numpy(array)


def same_place(array, like):
    """``array`` moved to the namespace and device of ``like`` (None passes through).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.placement import same_place
    >>> same_place([1.0, 2.0], np.zeros(1))
    array([1., 2.])
    """
    if array is None:
        return None
    xp, device, is_numpy = where(like)
    if is_numpy:
        return on_host(array) if not isinstance(array, list) else np.asarray(array)
    return move_to(array, xp=xp, device=device)


def take_rows(array, rows):
    """The rows ``rows`` (host indices) of an array of any namespace, or a sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.placement import take_rows
    >>> take_rows(np.arange(4), np.array([3, 0]))
    array([3, 0])
    """
    if array is None:
        return None
    xp, device, is_numpy = where(array)
    if is_numpy or sparse.issparse(array):
        return array[rows]
    return xp.take(array, xp.asarray(rows, device=device), axis=0)
