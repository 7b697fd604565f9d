"""Any library of the Python array API standard, on any device: nothing written in place.

The arithmetic is the array API's, written once in the activations, losses
and optimizers. On PyTorch, the step's seams (the dense layer's product and
activation, the activation's derivative, the Adam update) use torch's own
fused operations for the built-in formulas, as numba's backend uses its
kernels on the host: fewer kernels per step, the same results within
rounding (``tests/test_device_traffic.py`` counts them).
"""

import math

import array_api_compat
import numpy as np

from ..activations import ACTIVATIONS
from ..optimizers import Adam
from ._core import Backend, to_numpy
from .parameters import DeviceParameters

__all__ = ["ArrayAPIBackend"]


def _builtin(activation):
    """The registered name of a built-in activation object, or None for any other."""
    name = getattr(activation, "name", None)
    builtin = ACTIVATIONS.get(name)
    return name if builtin is not None and type(activation) is type(builtin) else None


class _TorchOps:
    """torch's fused operations for the seams of a step (built-in formulas only).

    Each computes what the array-API formula computes, in fewer kernels: a
    bias added inside the matrix product (``addmm``), one kernel per
    activation and per derivative, and a six-kernel Adam update instead of
    ten. Nothing here is written in place but temporaries made in the same
    call.
    """

    def __init__(self, torch):
        self.torch = torch
        aten = torch.ops.aten
        self.forward = {
            "relu": torch.relu,
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "softmax": lambda z: torch.softmax(z, dim=1),
        }
        # d loss / d z from d loss / d a and the output a.
        self.backward = {
            "relu": lambda a, delta: aten.threshold_backward(delta, a, 0),
            "sigmoid": lambda a, delta: aten.sigmoid_backward(delta, a),
            "tanh": lambda a, delta: aten.tanh_backward(delta, a),
        }

    def dense_forward(self, x, weights, bias, activation):
        z = self.torch.addmm(bias, x, weights)
        forward = self.forward.get(_builtin(activation))
        return z, (forward(z) if forward is not None else activation.forward(z))

    def adam(self, optimizer, params, grad):
        """sknet's Adam (scaled moments, see :meth:`sknet.Adam._update`) in six kernels."""
        torch = self.torch
        first, second, _ = optimizer._state
        step_size, epsilon = optimizer._advance()
        first = torch.add(grad, first, alpha=optimizer.beta_1)
        second = torch.mul(second, optimizer.beta_2).addcmul_(grad, grad)
        optimizer._state = (first, second, None)
        denominator = torch.sqrt(second).add_(epsilon)
        return torch.addcdiv(params, first, denominator, value=-step_size)


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
        self._torch = None
        if array_api_compat.is_torch_namespace(xp):
            import torch  # noqa: PLC0415 - torch's namespace: torch is imported

            self._torch = _TorchOps(torch)

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

    def read_loss(self, loss, params):
        # Both questions in one read (a device read is a wait for the device):
        # the loss, replaced by NaN on the device when a weight is not finite.
        if isinstance(loss, (int, float)):
            return super().read_loss(loss, params)
        xp = self.xp
        return self.read(xp.where(xp.all(xp.isfinite(params)), loss, math.nan))

    def mean_loss(self, losses, weights):
        """The weighted mean of an epoch's batch losses, left on the device.

        Summed once per epoch, not once per step: the losses are stacked and
        each is scaled by its share of the epoch's weight before the sum (a
        sum of huge but finite losses could overflow). Batches of one size
        share one scaled sum.
        """
        xp = self.xp
        if not losses:
            return 0.0
        if not all(isinstance(weight, float) for weight in weights):
            # Row weights: each batch's total weight is on the device.
            shares = xp.stack([xp.asarray(w, device=self.device) for w in weights])
            return xp.stack(losses) @ (shares / xp.sum(shares))
        total = sum(weights)
        groups = {}
        for loss, weight in zip(losses, weights, strict=True):
            groups.setdefault(weight, []).append(loss)
        mean = None
        for weight, group in groups.items():
            share = weight / total
            part = group[0] * share if len(group) == 1 else xp.sum(xp.stack(group) * share)
            mean = part if mean is None else mean + part
        return mean

    def loss_sum(self, loss, Y, P, scale):
        # A loss that sums itself (the log losses: one dot product) takes
        # fewer kernels than its per-sample values summed.
        weighted_sum = getattr(loss, "weighted_sum", None)
        if weighted_sum is not None:
            return weighted_sum(Y, P, scale)
        per_sample = loss.value(Y, P)
        if isinstance(scale, float):
            return self.xp.sum(per_sample) * scale
        return per_sample @ scale[:, 0]

    def batch_is_finite(self, objective):
        return True  # reading the loss would stop the device every batch

    def parameter_store(self, layers, dtype):
        return DeviceParameters(layers, dtype, self)

    # -- the step's seams: torch's fused forms of the built-in formulas ------------

    def dense_forward(self, x, weights, bias, activation, z_out=None, a_out=None):
        if self._torch is None:
            return super().dense_forward(x, weights, bias, activation)
        return self._torch.dense_forward(x, weights, bias, activation)

    def activation_backward(self, activation, z, a, delta):
        backward = None if self._torch is None else self._torch.backward.get(_builtin(activation))
        if backward is None:
            return activation.backward(z, a, delta)
        return backward(a, delta)

    def add_product(self, a, b, c, scalar):
        if self._torch is None:
            return super().add_product(a, b, c, scalar)
        if isinstance(scalar, (int, float)):
            return self._torch.torch.addcmul(a, b, c, value=scalar)
        return self._torch.torch.addcmul(a, b, c * scalar)

    def gather_rows(self, source, idx, out=None):
        # Row indices in range: no rewriting of negative ones (array_api_compat's
        # take adds three kernels for them); torch's index_select, else take.
        if self._torch is not None:
            return self._torch.torch.index_select(source, 0, idx)
        return self.xp.take(source, idx, axis=0)

    def optimizer_step(self, optimizer, params, grad, out=None):
        if self._torch is not None and type(optimizer) is Adam and optimizer.fusable:
            return self._torch.adam(optimizer, params, grad)
        return super().optimizer_step(optimizer, params, grad, out)
