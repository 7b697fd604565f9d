"""Fused CPU kernels compiled with numba: one pass over memory where numpy takes several.

This module imports numba at its top, so nothing in sknet imports it unless
numba is installed (``pip install "sknet-layers[fast]"``); numpy's formulas in
:mod:`sknet.activations`, :mod:`sknet.losses` and :mod:`sknet.optimizers`
stay the reference, and every kernel here computes what they compute, with
the same operations in the same order and in the arrays' own dtype (float32
stays float32; scalars are cast to the arrays' dtype as numpy does with
Python floats).

Every kernel works on preallocated numpy arrays and writes into the outputs
it is given. Kernels are compiled lazily, on first use for a dtype, and cached
on disk (``cache=True``): numba writes the cache next to this file when it can,
else in the user's cache directory (``NUMBA_CACHE_DIR`` overrides both).

All kernels use ``error_model="numpy"``: with numba's default ("python") a
division checks its divisor for zero on every element, which stops LLVM from
vectorising the loop (Adam's update then runs slower than numpy's ten passes).

Every kernel runs on the calling thread: at a training step's sizes numba's
threads cost more than they save (see ``_KERNEL`` below), so the kernels never
add threads to the BLAS's.

Only the kernels the numba backend (:mod:`sknet.backends.numba`) uses live
here, with the activation kernels the benchmark compares (``NUMBA_FORWARD``,
``NUMBA_BACKWARD``). The fused loss kernels and the thread budget, which only
the benchmarks and their tests use, are in ``benchmarks/numba_extra_kernels.py``.

The loops are written with ``prange`` so that ``benchmarks/bench_kernels.py``
can compile the same source with ``parallel=True``; compiled serially here,
``prange`` is ``range``.
"""

import math

import numpy as np
from numba import njit, prange

from .activations import ACTIVATIONS

__all__ = [
    "BACKWARD_KERNELS",
    "FORWARD_KERNELS",
    "NUMBA_BACKWARD",
    "NUMBA_FORWARD",
    "activation_backward",
    "adam_step",
    "add_scaled",
    "bias_activation",
    "dropout",
    "gather_rows",
    "sgd_step",
]


def _compiled(**options):
    """``njit`` with the options of every kernel, cached on disk when a cache can be written.

    numba refuses ``cache=True`` when neither the package's folder, nor
    ``NUMBA_CACHE_DIR``, nor the user's cache folder can be written (a
    read-only install with no home directory): the kernels are then compiled
    in each process instead of failing the import.
    """
    options = {"nogil": True, "error_model": "numpy", **options}

    def decorate(function):
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            return njit(**options)(function)

    return decorate


# Every kernel runs on one thread. Measured on 2 cores (benchmarks/bench_kernels.py):
# numba's threads never paid at these sizes. With OpenMP's default wait policy
# its idle threads spin and fight the BLAS's threads (a training step 20-40x
# slower); with threads that sleep, waking them costs ~15 us per kernel, more
# than the 5-80 us a kernel takes on one thread.
_KERNEL = _compiled()


_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# -- optimizers ----------------------------------------------------------------


@_KERNEL
def _adam(params, grad, first, second, out, step_size, beta_1, beta_2, eps_hat):
    for i in prange(params.shape[0]):
        g = grad[i]
        m = first[i] * beta_1 + g
        v = second[i] * beta_2 + g * g
        first[i] = m
        second[i] = v
        out[i] = params[i] - (m / (np.sqrt(v) + eps_hat)) * step_size


def adam_step(params, grad, first, second, out, step_size, beta_1, beta_2, eps_hat):
    """One Adam step in one pass: what :meth:`sknet.optimizers.Adam.step` computes.

    The moments are kept divided by ``(1 - beta)`` as in
    :class:`sknet.optimizers.Adam`: ``first <- beta_1 * first + grad``,
    ``second <- beta_2 * second + grad**2`` and
    ``out <- params - step_size * first / (sqrt(second) + eps_hat)``.

    Parameters
    ----------
    params, grad : ndarray of shape (n,)
        The parameters and their gradient, float32 or float64, contiguous.
    first, second : ndarray of shape (n,)
        The moment estimates, updated in place.
    out : ndarray of shape (n,)
        Receives the new parameters; may be ``params``.
    step_size : float
        ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * (1 - beta_1) / sqrt(1 - beta_2)``.
    beta_1, beta_2 : float
        The moments' decay rates.
    eps_hat : float
        ``epsilon / sqrt(1 - beta_2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import adam_step
    >>> params, grad = np.array([1.0, 2.0]), np.array([3.0, -0.5])
    >>> first, second = np.zeros(2), np.zeros(2)
    >>> adam_step(params, grad, first, second, params, 0.1, 0.9, 0.999, 1e-8 / 0.999**0.5)
    >>> params.round(6)
    array([0.9, 2.1])
    """
    t = params.dtype.type
    _adam(params, grad, first, second, out, t(step_size), t(beta_1), t(beta_2), t(eps_hat))


@_KERNEL
def _sgd(params, grad, velocity, out, learning_rate, momentum, nesterov):
    for i in prange(params.shape[0]):
        scaled = grad[i] * learning_rate
        v = velocity[i] * momentum - scaled
        velocity[i] = v
        if nesterov:
            out[i] = (params[i] - scaled) + v * momentum
        else:
            out[i] = params[i] + v


def sgd_step(params, grad, velocity, out, learning_rate, momentum, nesterov):
    """One SGD step in one pass: what :meth:`sknet.optimizers.SGD.step` computes.

    ``velocity <- momentum * velocity - learning_rate * grad``, then
    ``out <- params - learning_rate * grad + momentum * velocity`` (Nesterov)
    or ``out <- params + velocity``.

    Parameters
    ----------
    params, grad, velocity, out : ndarray of shape (n,)
        ``velocity`` is updated in place; ``out`` may be ``params``.
    learning_rate, momentum : float
    nesterov : bool

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import sgd_step
    >>> params, velocity = np.array([1.0, 2.0]), np.zeros(2)
    >>> sgd_step(params, np.array([1.0, -1.0]), velocity, params, 0.1, 0.0, False)
    >>> params
    array([0.9, 2.1])
    """
    t = params.dtype.type
    _sgd(params, grad, velocity, out, t(learning_rate), t(momentum), bool(nesterov))


@_KERNEL
def _add_scaled(target, source, factor):
    for i in prange(target.shape[0]):
        target[i] += source[i] * factor


def add_scaled(target, source, factor):
    """``target += source * factor`` in one pass: the L2 term added to a gradient.

    numpy takes two passes and a scratch array (``scratch = source * factor``,
    then ``target += scratch``); the numbers are the same (a product rounded,
    then a sum rounded; no fused multiply-add).

    Parameters
    ----------
    target : ndarray of shape (n,)
        Updated in place; float32 or float64, contiguous.
    source : ndarray of shape (n,)
    factor : float
        Cast to ``target``'s dtype, as numpy casts a Python float.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import add_scaled
    >>> grad = np.array([1.0, 2.0])
    >>> add_scaled(grad, np.array([10.0, -10.0]), 0.5)
    >>> grad
    array([ 6., -3.])
    """
    _add_scaled(target, source, target.dtype.type(factor))


# -- activations -----------------------------------------------------------------
# One kernel per activation, so that a fit compiles (or loads from the cache) only
# the activations it uses. Forward kernels add the bias to z in place and write the
# activation into a (which may be z); backward kernels multiply delta in place by
# the derivative and leave z and a as they are.


@_KERNEL
def _forward_identity(z, bias, a, slope):
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            a[i, j] = v


@_KERNEL
def _forward_relu(z, bias, a, slope):
    zero = z.dtype.type(0.0)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            # np.maximum keeps a NaN, and so does this (NaN < 0 is false).
            a[i, j] = zero if v < zero else v


@_KERNEL
def _forward_leaky_relu(z, bias, a, slope):
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            s = v * slope
            a[i, j] = s if s > v or v != v else v


@_KERNEL
def _forward_tanh(z, bias, a, slope):
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            a[i, j] = np.tanh(v)


@_KERNEL
def _forward_sigmoid(z, bias, a, slope):
    one = z.dtype.type(1.0)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            a[i, j] = one / (one + np.exp(-v))


@_KERNEL
def _forward_elu(z, bias, a, slope):
    zero = z.dtype.type(0.0)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            a[i, j] = np.expm1(min(v, zero)) + max(v, zero)


@_KERNEL
def _forward_softplus(z, bias, a, slope):
    zero = z.dtype.type(0.0)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            a[i, j] = np.log1p(np.exp(-abs(v))) + max(v, zero)


@_KERNEL
def _forward_gelu(z, bias, a, slope):
    t = z.dtype.type
    half, one, sqrt2 = t(0.5), t(1.0), t(_SQRT2)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = v
            a[i, j] = ((math.erf(v / sqrt2) + one) * half) * v


# In place (a is z), the kernels above would write every element twice through two
# names for one array: LLVM's run-time overlap check then fails and the loop runs
# unvectorised, 3-5x slower. The activations the engine runs in place get a kernel
# that only knows z.


@_KERNEL
def _forward_identity_inplace(z, bias, slope):
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] += bias[j]


@_KERNEL
def _forward_relu_inplace(z, bias, slope):
    zero = z.dtype.type(0.0)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + bias[j]
            z[i, j] = zero if v < zero else v


@_KERNEL
def _forward_sigmoid_inplace(z, bias, slope):
    one = z.dtype.type(1.0)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = one / (one + np.exp(-(z[i, j] + bias[j])))


_INPLACE_FORWARD = {
    "identity": _forward_identity_inplace,
    "relu": _forward_relu_inplace,
    "sigmoid": _forward_sigmoid_inplace,
    "logistic": _forward_sigmoid_inplace,
}


@_KERNEL
def _backward_relu(z, a, delta, slope):
    zero, one = delta.dtype.type(0.0), delta.dtype.type(1.0)
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            # Times 0, not set to 0: a NaN or infinite delta stays one, as in numpy.
            delta[i, j] *= one if a[i, j] > zero else zero


@_KERNEL
def _backward_leaky_relu(z, a, delta, slope):
    zero, one = delta.dtype.type(0.0), delta.dtype.type(1.0)
    positive = (one - slope) + slope  # as numpy computes (a > 0) * (1 - slope) + slope
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            delta[i, j] *= positive if a[i, j] > zero else slope


@_KERNEL
def _backward_tanh(z, a, delta, slope):
    one = delta.dtype.type(1.0)
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            delta[i, j] *= one - a[i, j] * a[i, j]


@_KERNEL
def _backward_sigmoid(z, a, delta, slope):
    one = delta.dtype.type(1.0)
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            delta[i, j] = (delta[i, j] * a[i, j]) * (one - a[i, j])


@_KERNEL
def _backward_elu(z, a, delta, slope):
    one = delta.dtype.type(1.0)
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            delta[i, j] *= min(a[i, j] + one, one)


@_KERNEL
def _backward_softplus(z, a, delta, slope):
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            delta[i, j] *= -np.expm1(-a[i, j])


@_KERNEL
def _backward_gelu(z, a, delta, slope):
    t = delta.dtype.type
    half, one, sqrt2, inv = t(0.5), t(1.0), t(_SQRT2), t(_INV_SQRT_2PI)
    for i in prange(delta.shape[0]):
        for j in range(delta.shape[1]):
            v = z[i, j]
            # Phi(z) + z * phi(z), in numpy's order of operations.
            density = (np.exp(v * v * -half) * inv) * v
            delta[i, j] *= density + (math.erf(v / sqrt2) + one) * half


def _backward_identity(z, a, delta, slope):
    pass


# Every activation has a numba kernel (the benchmark times them all), but numba
# calls the C library's exp, tanh, expm1, log1p for each element, where numpy
# runs vectorised versions: there numpy's own formula is faster (measured with
# benchmarks/bench_kernels.py at 256 x 256, float32 and float64, one thread:
# tanh 8-30x, elu 4-6x, softplus 5-8x and its derivative 6-17x, gelu's
# derivative 1.2x). Those activations keep the formulas of sknet.activations.
NUMBA_FORWARD = {
    "identity": _forward_identity,
    "relu": _forward_relu,
    "leaky_relu": _forward_leaky_relu,
    "tanh": _forward_tanh,
    "sigmoid": _forward_sigmoid,
    "logistic": _forward_sigmoid,
    "elu": _forward_elu,
    "softplus": _forward_softplus,
    "gelu": _forward_gelu,
}
NUMBA_BACKWARD = {
    "identity": _backward_identity,
    "relu": _backward_relu,
    "leaky_relu": _backward_leaky_relu,
    "tanh": _backward_tanh,
    "sigmoid": _backward_sigmoid,
    "logistic": _backward_sigmoid,
    "elu": _backward_elu,
    "softplus": _backward_softplus,
    "gelu": _backward_gelu,
}


def _numpy_forward(name):
    activation = ACTIVATIONS[name]

    def forward(z, bias, a, slope):
        # Any overlap, not only a is z: the formula reads z after writing a.
        if not activation.inplace and np.may_share_memory(a, z):
            raise ValueError(f"The {name} activation needs an a_out other than z.")
        z += bias
        activation.forward(z, out=a)

    forward.__name__ = f"numpy_forward_{name}"
    return forward


def _numpy_backward(name):
    activation = ACTIVATIONS[name]

    def backward(z, a, delta, slope):
        activation.backward(z, a, delta)

    backward.__name__ = f"numpy_backward_{name}"
    return backward


#: The implementation used for each hidden activation: a numba kernel or numpy's formula.
FORWARD_KERNELS = {
    **NUMBA_FORWARD,
    **{name: _numpy_forward(name) for name in ("tanh", "elu", "softplus")},
}
BACKWARD_KERNELS = {
    **NUMBA_BACKWARD,
    **{name: _numpy_backward(name) for name in ("softplus", "gelu")},
}


def _same_array(a, b):
    """Whether ``a`` and ``b`` are the same elements: one array, or two equal views of one buffer.

    A layer hands over ``buffer[:n]`` for both ``z`` and ``a`` when its
    activation works in place: two objects, one array. ``a is b`` misses
    that, and the general kernel then runs with two names for one array
    (unvectorised, see ``_INPLACE_FORWARD``).
    """
    return a is b or (
        a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
        and a.ctypes.data == b.ctypes.data
    )


def _kernel(table, activation):
    try:
        return table[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(table)}, got {activation!r}."
        ) from None


def bias_activation(z, bias, a_out, activation, slope=0.01):
    """Add the bias to ``z`` in place, then write the activation into ``a_out``.

    Computes ``z += bias`` and ``a_out[...] = f(z)``, in one pass where a
    numba kernel is faster than numpy (see :data:`FORWARD_KERNELS`), with the
    formulas of :mod:`sknet.activations`. As there, when ``a_out`` is not
    ``z``, ``z`` may serve as scratch (elu, softplus) unless the backward pass
    needs it (gelu). ``a_out`` is ``z`` also when it is another view of the
    same elements (``buffer[:n]`` twice): the in-place kernel then runs.

    Parameters
    ----------
    z : ndarray of shape (n, units)
        The layer's pre-activations without bias; receives ``z + bias``.
    bias : ndarray of shape (units,)
    a_out : ndarray of shape (n, units)
        Receives the activations; may be ``z``, except for elu and softplus
        (as in :mod:`sknet.activations`, where they are not in place).
    activation : str
        A hidden-layer activation name (a key of :data:`FORWARD_KERNELS`).
    slope : float, default=0.01
        The negative slope of ``"leaky_relu"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import bias_activation
    >>> z = np.array([[-2.0, 3.0]])
    >>> bias_activation(z, np.array([1.0, 1.0]), z, "relu")
    >>> z
    array([[0., 4.]])
    """
    kernel = _kernel(FORWARD_KERNELS, activation)
    if (
        activation in _INPLACE_FORWARD
        and kernel is NUMBA_FORWARD[activation]
        and _same_array(a_out, z)
    ):
        _INPLACE_FORWARD[activation](z, bias, z.dtype.type(slope))
    else:
        kernel(z, bias, a_out, z.dtype.type(slope))


def activation_backward(z, a, delta, activation, slope=0.01):
    """Multiply ``delta`` in place by the activation's derivative at ``z``.

    ``a`` is ``f(z)``. As in :mod:`sknet.activations`, ``z`` and ``a`` may be
    overwritten (the numba kernels leave them; numpy's formulas, used for
    softplus and gelu, do not).

    Parameters
    ----------
    z, a, delta : ndarray of shape (n, units)
    activation : str
        A hidden-layer activation name (a key of :data:`BACKWARD_KERNELS`).
    slope : float, default=0.01
        The negative slope of ``"leaky_relu"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import activation_backward
    >>> a = np.array([[0.0, 0.5]])
    >>> delta = np.array([[1.0, 1.0]])
    >>> activation_backward(None, a, delta, "tanh")
    >>> delta
    array([[1.  , 0.75]])
    """
    _kernel(BACKWARD_KERNELS, activation)(z, a, delta, delta.dtype.type(slope))


# -- rows ------------------------------------------------------------------------


@_KERNEL
def _gather_rows(X, idx, out):
    n_rows = X.shape[0]
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n_rows:
            raise IndexError("gather_rows: a row index is out of range")
    m = X.shape[1]
    for i in prange(idx.shape[0]):
        src = idx[i]
        for j in range(m):
            out[i, j] = X[src, j]


def gather_rows(X, idx, out):
    """``out[i] = X[idx[i]]`` for every ``i``: :func:`numpy.take` along axis 0.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or (n_samples,)
    idx : ndarray of int of shape (m,)
        Row numbers in ``[0, n_samples)``; an IndexError is raised otherwise.
    out : ndarray of shape (m, n_features) or (m,)

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import gather_rows
    >>> X, out = np.arange(6.0).reshape(3, 2), np.empty((2, 2))
    >>> gather_rows(X, np.array([2, 0]), out)
    >>> out
    array([[4., 5.],
           [0., 1.]])
    """
    if X.ndim == 1:
        _gather_rows(X.reshape(-1, 1), idx, out.reshape(-1, 1))
    else:
        _gather_rows(X, idx, out)


# -- dropout -----------------------------------------------------------------------
# Philox-4x32-10 (sknet.backends.random) on unsigned 64-bit words, as numpy's
# path computes it: a 32 x 32-bit product fits in one word. Every constant is
# a uint64 (numba types a uint64 mixed with a Python int as a float).

_U32 = np.uint64(32)
_ULOW = np.uint64(0xFFFFFFFF)
_UM0, _UM1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_UW0, _UW1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)


@_KERNEL
def _dropout(a, mask, out, k0, k1, epoch, layer, first_row, threshold, scale, fuse):
    rows, units = mask.shape
    per_row = (units + 3) // 4
    c2_first = epoch & _ULOW
    c3_first = layer & _ULOW
    # Keys known to fit 32 bits: LLVM then multiplies four blocks at a time
    # with AVX2's 32 x 32 -> 64-bit product (4x faster than a block at a time).
    k0 = k0 & _ULOW
    k1 = k1 & _ULOW
    zero = mask.dtype.type(0.0)
    # A row's words first, in a loop with no branch (vectorised), then its
    # decisions: writing the decisions block by block, a branch for the last
    # block of an odd row, kept the rounds scalar.
    words = np.empty(4 * per_row, dtype=np.uint64)
    for i in range(rows):
        block0 = (first_row + np.uint64(i)) * np.uint64(per_row)
        for b in range(per_row):
            block = block0 + np.uint64(b)
            c0 = block & _ULOW
            c1 = block >> _U32
            c2 = c2_first
            c3 = c3_first
            key0 = k0
            key1 = k1
            for _ in range(10):
                p0 = c0 * _UM0
                p1 = c2 * _UM1
                c0 = (p1 >> _U32) ^ c1 ^ key0
                c1 = p1 & _ULOW
                c2 = (p0 >> _U32) ^ c3 ^ key1
                c3 = p0 & _ULOW
                key0 = (key0 + _UW0) & _ULOW
                key1 = (key1 + _UW1) & _ULOW
            words[4 * b] = c0
            words[4 * b + 1] = c1
            words[4 * b + 2] = c2
            words[4 * b + 3] = c3
        if fuse:
            for j in range(units):
                m = scale if words[j] >= threshold else zero
                mask[i, j] = m
                out[i, j] = a[i, j] * m
        else:
            for j in range(units):
                mask[i, j] = scale if words[j] >= threshold else zero


def dropout(mask, rate, key, epoch, layer, row, a=None, out=None):
    """Write the inverted-dropout mask of a batch into ``mask``, and ``a * mask`` into ``out``.

    The mask is :func:`sknet.backends.random.dropout_mask`'s, bit for bit
    (Philox-4x32-10 keyed by ``key``, the counter naming the value's block of
    the epoch's rows, the epoch and the layer), made a row at a time with no
    temporary array: numpy's path runs some 90 operations over arrays of
    counters, this kernel keeps a block's words in registers and runs four
    blocks at once (AVX2). With ``out``, the multiply of the activations is
    fused: ``out = a * mask``, the same product numpy's ``a * mask`` rounds.

    Parameters
    ----------
    mask : ndarray of shape (rows, units)
        Receives 0 where a value is dropped and ``1 / (1 - rate)`` (in
        ``mask``'s dtype, float32 or float64) where it is kept; C-contiguous.
    rate : float
        The share of values dropped, in ``[0, 1)``.
    key : tuple of 2 ints
        The epoch's key (two 32-bit words).
    epoch, layer : int
        The epoch's number and the layer's index.
    row : int
        The position in the epoch's row sequence of the batch's first row.
    a, out : ndarray of shape (rows, units), optional
        The layer's activations and where ``a * mask`` goes (both or neither).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._numba_kernels import dropout
    >>> mask = np.empty((2, 6))
    >>> dropout(mask, 0.5, (1, 2), 0, 0, 0)
    >>> mask
    array([[0., 2., 0., 2., 0., 2.],
           [0., 0., 0., 2., 0., 0.]])
    """
    threshold = np.uint64(round(rate * 2**32))
    scale = mask.dtype.type(1.0 / (1.0 - rate))
    fuse = out is not None
    if not fuse:
        a = out = mask  # unused: the kernel takes arrays of one type
    u = np.uint64
    _dropout(
        a, mask, out, u(key[0] & 0xFFFFFFFF), u(key[1] & 0xFFFFFFFF), u(epoch), u(layer),
        u(row), threshold, scale, fuse,
    )  # fmt: skip
