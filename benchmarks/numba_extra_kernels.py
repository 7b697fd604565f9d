"""numba kernels that only the benchmarks (and their tests) use.

Moved out of ``sknet._numba_kernels``, which keeps the kernels the numba
backend runs: the losses fused with their natural output activation (each
computes the output layer's activation, the weighted loss and the fused delta
in one pass) and :func:`thread_budget`, the number of threads a parallel
kernel could use. Compiled with the package's own options. Import it with
``benchmarks/`` on ``sys.path``.
"""

import os

import numba
import numpy as np

from sknet._numba_kernels import _KERNEL

__all__ = [
    "identity_squared_error",
    "sigmoid_binary_log_loss",
    "softmax_log_loss",
    "softmax_log_loss_codes",
    "thread_budget",
]


# -- losses with their natural output activation ---------------------------------
# Each computes the output layer's activation, the weighted sum of the per-sample
# losses (in float64) and the fused delta (output - target) * scale, row by row.
# Batches have few outputs per row: these loops run serially.


@_KERNEL
def _softmax_log_loss(z, y, codes, p, delta, scale):
    n, k = z.shape
    t = z.dtype.type
    eps = np.finfo(z.dtype).eps
    low, high = t(eps), t(1.0) - t(eps)
    total = 0.0
    for i in range(n):
        top = z[i, 0]
        for j in range(1, k):
            top = max(top, z[i, j])
        s = t(0.0)
        for j in range(k):
            e = np.exp(z[i, j] - top)
            p[i, j] = e
            s += e
        loss = t(0.0)
        for j in range(k):
            q = p[i, j] / s
            p[i, j] = q
            target = y[i, j] if codes.shape[0] == 0 else t(1.0 if codes[i] == j else 0.0)
            if target != 0:
                loss += target * np.log(min(max(q, low), high))
            delta[i, j] = (q - target) * scale[i]
        total += float(-loss) * float(scale[i])
    return total


def softmax_log_loss(z, y, p_out, delta_out, scale):
    """Softmax, categorical log-loss and the fused delta, in one pass over the rows.

    ``p_out`` receives the softmax of ``z`` (as :class:`sknet.activations.Softmax`),
    ``delta_out`` receives ``(p - y) * scale[:, None]``.

    Parameters
    ----------
    z : ndarray of shape (n, k)
    y : ndarray of shape (n, k)
        One-hot (or probability) rows.
    p_out, delta_out : ndarray of shape (n, k)
        ``p_out`` may be ``z``.
    scale : ndarray of shape (n,)
        The weight of each row in the objective (``1 / n`` without sample weights).

    Returns
    -------
    float
        ``sum(scale * loss)``, the losses of :class:`sknet.losses.LogLoss`.

    Examples
    --------
    >>> import numpy as np
    >>> from numba_extra_kernels import softmax_log_loss
    >>> z, y = np.zeros((1, 2)), np.array([[0.0, 1.0]])
    >>> delta = np.empty((1, 2))
    >>> round(softmax_log_loss(z, y, z, delta, np.ones(1)), 6)
    0.693147
    >>> z, delta
    (array([[0.5, 0.5]]), array([[ 0.5, -0.5]]))
    """
    no_codes = np.empty(0, dtype=np.intp)
    return _softmax_log_loss(z, y, no_codes, p_out, delta_out, scale)


def softmax_log_loss_codes(z, codes, p_out, delta_out, scale):
    """:func:`softmax_log_loss` with integer class codes instead of one-hot rows.

    Parameters
    ----------
    z : ndarray of shape (n, k)
    codes : ndarray of int of shape (n,)
        The class of each row, in ``[0, k)``.
    p_out, delta_out : ndarray of shape (n, k)
    scale : ndarray of shape (n,)

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from numba_extra_kernels import softmax_log_loss_codes
    >>> z, delta = np.zeros((1, 2)), np.empty((1, 2))
    >>> round(softmax_log_loss_codes(z, np.array([1]), z, delta, np.ones(1)), 6)
    0.693147
    """
    return _softmax_log_loss(z, z[:0], codes, p_out, delta_out, scale)


@_KERNEL
def _sigmoid_binary_log_loss(z, y, p, delta, scale):
    n, k = z.shape
    t = z.dtype.type
    eps = np.finfo(z.dtype).eps
    one = t(1.0)
    low, high = t(eps), one - t(eps)
    total = 0.0
    for i in range(n):
        loss = t(0.0)
        for j in range(k):
            q = one / (one + np.exp(-z[i, j]))
            p[i, j] = q
            c = min(max(q, low), high)
            loss += y[i, j] * np.log(c) + (one - y[i, j]) * np.log1p(-c)
            delta[i, j] = (q - y[i, j]) * scale[i]
        total += float(-loss) * float(scale[i])
    return total


def sigmoid_binary_log_loss(z, y, p_out, delta_out, scale):
    """Sigmoid, binary log-loss and the fused delta ``(p - y) * scale``, in one pass.

    Parameters
    ----------
    z, y : ndarray of shape (n, k)
    p_out, delta_out : ndarray of shape (n, k)
        ``p_out`` may be ``z``.
    scale : ndarray of shape (n,)

    Returns
    -------
    float
        ``sum(scale * loss)``, the losses of :class:`sknet.losses.BinaryLogLoss`.

    Examples
    --------
    >>> import numpy as np
    >>> from numba_extra_kernels import sigmoid_binary_log_loss
    >>> z, delta = np.zeros((1, 1)), np.empty((1, 1))
    >>> round(sigmoid_binary_log_loss(z, np.ones((1, 1)), z, delta, np.ones(1)), 6)
    0.693147
    >>> delta
    array([[-0.5]])
    """
    return _sigmoid_binary_log_loss(z, y, p_out, delta_out, scale)


@_KERNEL
def _identity_squared_error(z, bias, y, delta, scale):
    n, k = z.shape
    t = z.dtype.type
    half = t(0.5)
    total = 0.0
    for i in range(n):
        loss = t(0.0)
        for j in range(k):
            h = z[i, j] + bias[j]
            z[i, j] = h
            diff = h - y[i, j]
            loss += diff * diff
            delta[i, j] = diff * scale[i]
        total += float(half * loss) * float(scale[i])
    return total


def identity_squared_error(z, bias, y, delta_out, scale):
    """Output bias, half squared error and the fused delta, in one pass.

    ``z += bias`` (the identity output), then ``delta_out = (z - y) * scale``.

    Parameters
    ----------
    z : ndarray of shape (n, k)
        The output layer's products without bias; receives the output.
    bias : ndarray of shape (k,)
    y, delta_out : ndarray of shape (n, k)
    scale : ndarray of shape (n,)

    Returns
    -------
    float
        ``sum(scale * loss)``, the losses of :class:`sknet.losses.SquaredError`.

    Examples
    --------
    >>> import numpy as np
    >>> from numba_extra_kernels import identity_squared_error
    >>> z, delta = np.array([[1.0]]), np.empty((1, 1))
    >>> identity_squared_error(z, np.array([2.0]), np.array([[1.0]]), delta, np.ones(1))
    2.0
    >>> z, delta
    (array([[3.]]), array([[2.]]))
    """
    return _identity_squared_error(z, bias, y, delta_out, scale)


# -- threads ---------------------------------------------------------------------


def _env_threads(name):
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if value > 0 else None


def _blas_threads():
    """The fewest threads any BLAS loaded in this process uses, or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return min(counts) if counts else None


def thread_budget():
    """The number of threads elementwise work may use: as many as the BLAS, never more.

    The kernels of this module run on one thread; this is the limit a
    parallel kernel would have to respect (``numba.set_num_threads``). The
    smallest of the BLAS's current thread count (read through
    threadpoolctl, so ``threadpool_limits`` and joblib's limits inside its
    workers count), ``OMP_NUM_THREADS`` when set, and numba's pool size
    (``NUMBA_NUM_THREADS``, which joblib also sets in its workers).

    Returns
    -------
    int

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> from numba_extra_kernels import thread_budget
    >>> with threadpool_limits(1):
    ...     thread_budget()
    1
    """
    limits = [numba.config.NUMBA_NUM_THREADS]
    for found in (_blas_threads(), _env_threads("OMP_NUM_THREADS")):
        if found is not None:
            limits.append(found)
    return max(1, min(limits))
