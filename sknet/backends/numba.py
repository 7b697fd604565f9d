"""The numpy backend with numba's fused kernels where they beat numpy (``sknet-layers[fast]``).

Chosen by :func:`sknet.backends.get_backend` for numpy data when numba is
installed and a training step is large enough (see :data:`MIN_STEP_WORK`):
below that, the kernels' one-time load (0.3 s from numba's cache, about 1 s
to compile on first use) costs more than they save. Everything it does not
override is numpy's, and every kernel computes numpy's formulas in the same
order (``tests/test_numba_backend.py`` compares whole fits).
"""

import numpy as np

from .._numba_kernels import (
    FORWARD_KERNELS,
    adam_step,
    add_scaled,
    bias_activation,
    dropout,
    gather_rows,
    sgd_step,
)
from .._numba_kernels import activation_backward as activation_backward_kernel
from ..activations import ACTIVATIONS
from ..optimizers import SGD, Adam
from ._core import MIN_STEP_WORK
from .numpy import NumpyBackend
from .parameters import FlatParameters
from .random import DropoutDraws

__all__ = ["MIN_STEP_WORK", "NumbaBackend"]


def _kernel_name(activation):
    """The kernels' name for a built-in activation, or None for any other object."""
    name = getattr(activation, "name", None)
    builtin = ACTIVATIONS.get(name)
    if builtin is None or type(activation) is not type(builtin):
        return None
    return name if name in FORWARD_KERNELS else None


def _plain(x, a):
    """Whether ``x`` is a C-contiguous 2-D numpy array of ``a``'s shape and dtype."""
    return (
        isinstance(x, np.ndarray)
        and x.ndim == 2
        and x.flags.c_contiguous
        and x.shape == a.shape
        and x.dtype == a.dtype
    )


class _FusedPenaltyParameters(FlatParameters):
    """numpy's flat store, adding the L2 term to the gradient in one pass.

    numpy's :meth:`~FlatParameters.collect_gradients` multiplies the weights
    into a scratch vector, then adds it: two passes over every weight of the
    network per step. The kernel reads the weights and the gradient once.
    """

    def collect_gradients(self, gradients, decay):
        grad = super().collect_gradients(gradients, 0.0)
        if decay:
            n = self.n_penalized
            add_scaled(grad[:n], self.params[:n], decay)
        return grad


class NumbaBackend(NumpyBackend):
    """numpy's backend, with fused numba kernels for the elementwise work of a step.

    The bias add and activation, the activation's derivative, the row
    gather, the dropout mask and its product, the L2 term of the gradient
    and the Adam and SGD updates each
    take one pass over memory instead of numpy's several; matrix products
    stay numpy's (BLAS).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends.numba import NumbaBackend
    >>> from sknet.activations import ACTIVATIONS
    >>> z, a = np.empty((1, 2)), np.empty((1, 2))
    >>> backend = NumbaBackend()
    >>> x, w, b = np.ones((1, 2)), np.eye(2), np.array([-2.0, 0.0])
    >>> backend.dense_forward(x, w, b, ACTIVATIONS["relu"], z, z)[1]
    array([[0., 1.]])
    """

    name = "numba"

    def dense_forward(self, x, weights, bias, activation, z_out=None, a_out=None):
        name = _kernel_name(activation)
        if name is None or z_out is None or not isinstance(x, np.ndarray):
            return super().dense_forward(x, weights, bias, activation, z_out, a_out)
        z = np.matmul(x, weights, out=z_out)
        bias_activation(z, bias, a_out, name, getattr(activation, "slope", 0.01))
        return z, a_out

    def activation_backward(self, activation, z, a, delta):
        name = _kernel_name(activation)
        if name is None:
            return super().activation_backward(activation, z, a, delta)
        activation_backward_kernel(z, a, delta, name, getattr(activation, "slope", 0.01))
        return delta

    def dropout(self, a, rate, draws, layer, mask_out=None, out=None):
        """numpy's mask (bit for bit) made by one kernel, with ``out = a * mask`` fused."""
        if (
            mask_out is None
            or out is None
            or type(draws).mask is not DropoutDraws.mask  # a subclass may draw otherwise
            or not all(_plain(x, a) for x in (a, mask_out, out))
        ):
            return super().dropout(a, rate, draws, layer, mask_out, out)
        dropout(mask_out, rate, draws.key, draws.epoch, layer, draws.row, a, out)
        return out, mask_out

    def gather_rows(self, source, idx, out=None):
        if out is None or not isinstance(source, np.ndarray) or not source.flags.c_contiguous:
            return super().gather_rows(source, idx, out)
        gather_rows(source, idx, out)
        return out

    def parameter_store(self, layers, dtype):
        """numpy's flat store, with the L2 term added in one pass."""
        return _FusedPenaltyParameters(layers, dtype, self)

    def optimizer_step(self, optimizer, params, grad, out=None):
        kind = type(optimizer)
        if not getattr(optimizer, "fusable", False):
            # Clipping, weight decay or averaging: the reference form, which
            # the kernels do not fuse.
            kind = None
        if kind is Adam:
            first, second, _ = optimizer._state
            step_size, epsilon = optimizer._advance()
            adam_step(
                params,
                grad,
                first,
                second,
                out,
                step_size,
                optimizer.beta_1,
                optimizer.beta_2,
                epsilon,
            )
            return out
        if kind is SGD:
            velocity, _ = optimizer._state
            sgd_step(
                params,
                grad,
                velocity,
                out,
                optimizer.current_learning_rate,
                optimizer.momentum,
                optimizer.nesterov,
            )
            return out
        return super().optimizer_step(optimizer, params, grad, out)
