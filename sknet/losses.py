"""Loss functions: per-sample value and gradient with respect to the output.

A loss compares targets ``y_true`` with the output layer's activations
``y_pred`` (both of shape ``(n_samples, n_outputs)``). ``value`` returns one
number per sample, summed over outputs; the network turns those into a
weighted mean. ``gradient`` is the derivative of that per-sample value with
respect to ``y_pred``.

When the output activation is the loss's natural partner (softmax with
log_loss, sigmoid with binary_log_loss, identity with squared_error, exp with
poisson), the derivative with respect to the output layer's pre-activation is
simply ``y_pred - y_true``; the network then uses that fused delta instead of
the chain rule, which is both faster and exact where probabilities saturate.
"""

import numpy as np
from array_api_compat import array_namespace, is_torch_namespace

from ._registry import lookup, registered_name
from .activations import (
    Exponential,
    Identity,
    Sigmoid,
    Softmax,
    Softplus,
    _accepts_out,
    _adapt_device,
    _adapt_out,
    _into,
    _namespace,
    _on_device,
)

__all__ = [
    "LOSSES",
    "AbsoluteError",
    "BinaryLogLoss",
    "HuberLoss",
    "LogLoss",
    "Loss",
    "PoissonLoss",
    "SquaredError",
    "get_loss",
    "mean_loss",
]


def _any(condition):
    """``any`` of a boolean array of any array library, as a Python bool."""
    if isinstance(condition, np.ndarray):
        return bool(condition.any())
    return bool(array_namespace(condition).any(condition))


def _clip(x, low, high, xp):
    """``x`` clipped to ``[low, high]`` (either may be None), with Python-number bounds.

    numpy's and torch's own ``clip`` take Python bounds as they are (one
    kernel on torch); elsewhere ``where`` with Python numbers: no bound is
    uploaded to a device, and no boolean-mask indexing (array_api_compat's
    generic ``clip``, CuPy's) makes a device wait. NaN stays NaN.
    """
    if xp is np or is_torch_namespace(xp):
        return xp.clip(x, low, high)
    if low is not None:
        x = xp.where(x < low, low, x)
    if high is not None:
        x = xp.where(x > high, high, x)
    return x


def _clip_probabilities(y_pred, xp):
    eps = float(xp.finfo(y_pred.dtype).eps)
    return _clip(y_pred, eps, 1 - eps, xp)


def _smallest(y_pred, xp):
    """The smallest normal number of ``y_pred``'s dtype, as a Python float."""
    return float(xp.finfo(y_pred.dtype).smallest_normal)


class Loss:
    """Base class of losses.

    Subclasses implement :meth:`value` and :meth:`gradient`; ``gradient`` may
    leave out ``out`` (the numpy engine then copies the result into its buffer).
    On a device they receive that library's arrays: write them with operators
    and the array-API functions of ``array_namespace(y_pred)``, as the
    built-in losses are written (once, for every library: losses run on
    (batch x outputs) arrays, where an in-place numpy form would not pay).

    Attributes
    ----------
    name : str
        The registered name.
    natural_activation : type or None
        The output activation class with which the fused delta
        ``y_pred - y_true`` is the exact gradient at the pre-activation.
    output_activations : tuple of type or None
        The output activation classes this loss accepts; None accepts any.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import Loss
    >>> from array_api_compat import array_namespace
    >>> class Quartic(Loss):
    ...     name = "quartic"
    ...     def value(self, y_true, y_pred):
    ...         # numpy, torch, ...: runs on any device
    ...         xp = array_namespace(y_pred)
    ...         return xp.sum((y_pred - y_true) ** 4, axis=1)
    ...     def gradient(self, y_true, y_pred):
    ...         return 4 * (y_pred - y_true) ** 3
    >>> Quartic().value(np.zeros((1, 1)), np.full((1, 1), 2.0))
    array([16.])
    """

    name = "loss"
    natural_activation = None
    output_activations = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # gradient(y_true, y_pred) without out= is a complete loss too.
        _adapt_out(cls, "gradient")
        if cls.__module__ != __name__:  # a user's value: checked on devices
            _adapt_device(cls, "value")

    def value(self, y_true, y_pred):
        """Return the loss of each sample, shape ``(n_samples,)``."""
        raise NotImplementedError

    def gradient(self, y_true, y_pred, out=None):
        """Return d value / d y_pred, shape ``(n_samples, n_outputs)``.

        Written into ``out`` when given (a numpy buffer).
        """
        raise NotImplementedError

    def check_output_activation(self, activation):
        """Raise ValueError when ``activation`` cannot feed this loss."""
        allowed = self.output_activations
        if allowed is not None and not isinstance(activation, allowed):
            names = ", ".join(cls.name for cls in allowed)
            raise ValueError(
                f"The {self.name!r} loss needs an output layer with activation "
                f"{names}; got {activation.name!r}."
            )

    def check_target(self, y):
        """Raise ValueError when the targets ``y`` are invalid for this loss."""

    def __repr__(self):
        return f"{type(self).__name__}()"


class SquaredError(Loss):
    """Half the squared error, ``0.5 * sum((y_pred - y_true) ** 2)`` per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import SquaredError
    >>> SquaredError().value(np.array([[1.0]]), np.array([[3.0]]))
    array([2.])
    """

    name = "squared_error"
    natural_activation = Identity

    def value(self, y_true, y_pred):
        diff = y_pred - y_true
        return 0.5 * _namespace(diff).sum(diff * diff, axis=1)

    def gradient(self, y_true, y_pred, out=None):
        return _into(out, y_pred - y_true)


class AbsoluteError(Loss):
    """The absolute error ``sum(|y_pred - y_true|)`` per sample.

    Robust to outliers in the targets; its minimiser is the conditional median.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import AbsoluteError
    >>> AbsoluteError().value(np.array([[1.0]]), np.array([[3.0]]))
    array([2.])
    """

    name = "absolute_error"

    def value(self, y_true, y_pred):
        xp = _namespace(y_pred)
        return xp.sum(xp.abs(y_pred - y_true), axis=1)

    def gradient(self, y_true, y_pred, out=None):
        # sign(r), in where() with Python numbers: array_api_compat's torch
        # sign assigns NaNs through a boolean mask (a device sync). NaN stays NaN.
        xp, r = _namespace(y_pred), y_pred - y_true
        return _into(out, xp.where(r > 0, 1.0, xp.where(r < 0, -1.0, 0 * r)))


class HuberLoss(Loss):
    """The Huber loss: squared for small residuals, absolute beyond ``delta``.

    Per output, ``0.5 * r**2`` when ``|r| <= delta`` and
    ``delta * (|r| - 0.5 * delta)`` otherwise, with ``r = y_pred - y_true``.

    Parameters
    ----------
    delta : float, default=1.0
        Where the loss turns from quadratic to linear.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import HuberLoss
    >>> HuberLoss(delta=1.0).value(np.zeros((2, 1)), np.array([[0.5], [3.0]]))
    array([0.125, 2.5  ])
    """

    name = "huber"

    def __init__(self, delta=1.0):
        if not delta > 0:
            raise ValueError(f"delta must be positive, got {delta!r}.")
        self.delta = delta

    def value(self, y_true, y_pred):
        xp = _namespace(y_pred)
        abs_r = xp.abs(y_pred - y_true)
        quadratic = _clip(abs_r, None, float(self.delta), xp)
        return xp.sum(quadratic * (abs_r - 0.5 * quadratic), axis=1)

    def gradient(self, y_true, y_pred, out=None):
        xp, delta = _namespace(y_pred), float(self.delta)
        return _into(out, _clip(y_pred - y_true, -delta, delta, xp))

    def __repr__(self):
        return f"HuberLoss(delta={self.delta!r})"


class PoissonLoss(Loss):
    """Half the Poisson deviance, ``y log(y / y_pred) - y + y_pred`` per output.

    Targets must be non-negative and the output positive (exp or softplus).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import PoissonLoss
    >>> PoissonLoss().value(np.array([[2.0]]), np.array([[2.0]]))
    array([0.])
    """

    name = "poisson"
    natural_activation = Exponential
    output_activations = (Exponential, Softplus)

    def value(self, y_true, y_pred):
        xp = _namespace(y_pred)
        y_pred = _clip(y_pred, _smallest(y_pred, xp), None, xp)
        ratio = xp.where(y_true > 0, y_true / y_pred, 1.0)
        return xp.sum(y_true * xp.log(ratio) - y_true + y_pred, axis=1)

    def gradient(self, y_true, y_pred, out=None):
        xp = _namespace(y_pred)
        y_pred = _clip(y_pred, _smallest(y_pred, xp), None, xp)
        return _into(out, 1 - y_true / y_pred)

    def check_target(self, y):
        if _any(y < 0):
            raise ValueError(
                "The 'poisson' loss needs non-negative targets; y has negative values."
            )


class LogLoss(Loss):
    """Categorical cross-entropy ``-sum(y_true * log(y_pred))`` for a softmax output.

    Targets are one-hot (or probability) rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import LogLoss
    >>> LogLoss().value(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]))
    array([0.69314718])
    """

    name = "log_loss"
    natural_activation = Softmax
    output_activations = (Softmax,)

    def value(self, y_true, y_pred):
        xp = _namespace(y_pred)
        return -xp.sum(y_true * xp.log(_clip_probabilities(y_pred, xp)), axis=1)

    def gradient(self, y_true, y_pred, out=None):
        xp = _namespace(y_pred)
        return _into(out, -(y_true / _clip_probabilities(y_pred, xp)))

    def weighted_sum(self, y_true, y_pred, scale):
        """``sum_i scale_i * value_i``, with no vector of per-sample losses.

        ``scale`` is a Python float (``1 / n``) or a column of row weights.
        One product over every entry (``-vec(y_true) . vec(log p)``), for the
        devices: a few kernels where the per-sample form takes several more.
        """
        xp = _namespace(y_pred)
        log_p = xp.log(_clip_probabilities(y_pred, xp))
        if isinstance(scale, float):  # the sign in the scale: no kernel for it
            return _dot(y_true, log_p, -scale, xp)
        return -_dot(y_true, log_p, scale, xp)

    def check_target(self, y):
        _check_probabilities(self.name, y)


def _dot(a, b, scale, xp):
    """``sum_ij scale_i a_ij b_ij``: one dot product of the flattened arrays."""
    if not isinstance(scale, float):  # a column of row weights
        a = a * scale
    total = xp.reshape(a, (-1,)) @ xp.reshape(b, (-1,))
    return total * scale if isinstance(scale, float) else total


class BinaryLogLoss(Loss):
    """Binary cross-entropy for sigmoid outputs: binary or multilabel targets.

    Per output, ``-(y log(p) + (1 - y) log(1 - p))``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import BinaryLogLoss
    >>> BinaryLogLoss().value(np.array([[1.0]]), np.array([[0.5]]))
    array([0.69314718])
    """

    name = "binary_log_loss"
    natural_activation = Sigmoid
    output_activations = (Sigmoid,)

    def value(self, y_true, y_pred):
        xp = _namespace(y_pred)
        p = _clip_probabilities(y_pred, xp)
        return -xp.sum(y_true * xp.log(p) + (1 - y_true) * xp.log1p(-p), axis=1)

    def gradient(self, y_true, y_pred, out=None):
        p = _clip_probabilities(y_pred, _namespace(y_pred))
        return _into(out, (p - y_true) / (p * (1 - p)))

    def weighted_sum(self, y_true, y_pred, scale):
        """``sum_i scale_i * value_i``, with no vector of per-sample losses.

        ``y log p + (1 - y) log(1 - p) = log(1 - p) + y (log p - log(1 - p))``:
        one sum and one dot product (see :meth:`LogLoss.weighted_sum`).
        """
        xp = _namespace(y_pred)
        p = _clip_probabilities(y_pred, xp)
        log_q = xp.log1p(-p)
        total = _dot(y_true, xp.log(p) - log_q, scale, xp)
        if isinstance(scale, float):
            return -(total + xp.sum(log_q) * scale)
        return -(total + xp.sum(log_q * scale))

    def check_target(self, y):
        _check_probabilities(self.name, y)


def _check_probabilities(name, y):
    if _any(y < 0) or _any(y > 1):
        raise ValueError(
            f"The {name!r} loss needs targets between 0 and 1 (one-hot rows or indicator columns)."
        )


class _UserLoss(Loss):
    """Adapts an object with ``value`` and ``gradient`` that does not subclass :class:`Loss`.

    The engine's protocol (the ``out`` buffers, the device checks, the output
    and target checks) comes from :class:`Loss`; what the object defines of it
    (``natural_activation``, ``output_activations``, ``check_target``, ...) is
    used as it is.
    """

    def __init__(self, function):
        self.function = function
        self.name = getattr(function, "name", type(function).__name__)
        self.natural_activation = getattr(function, "natural_activation", None)
        self.output_activations = getattr(function, "output_activations", None)
        self._gradient_takes_out = _accepts_out(function.gradient)

    def value(self, y_true, y_pred):
        if not isinstance(y_pred, np.ndarray):
            xp = _namespace(y_pred)
            return _on_device(self.function, self.function.value, xp, y_true, y_pred)
        return self.function.value(y_true, y_pred)

    def gradient(self, y_true, y_pred, out=None):
        if not isinstance(y_pred, np.ndarray):
            xp = _namespace(y_pred)
            return _on_device(self.function, self.function.gradient, xp, y_true, y_pred)
        if self._gradient_takes_out:
            result = self.function.gradient(y_true, y_pred, out=out)
        else:
            result = self.function.gradient(y_true, y_pred)
        # an object may take out= and still return a new array
        return _into(out, result)

    def check_output_activation(self, activation):
        check = getattr(self.function, "check_output_activation", None)
        if callable(check):
            check(activation)
        else:
            super().check_output_activation(activation)

    def check_target(self, y):
        check = getattr(self.function, "check_target", None)
        if callable(check):
            check(y)

    def __repr__(self):
        return repr(self.function)


def output_delta(loss, y_true, y_pred, scale, fused=False, out=None):
    """The gradient at the output layer, times ``scale`` (``1 / n`` or a weight column).

    With ``fused`` (the loss's natural output activation), the gradient at
    the output's pre-activation, ``y_pred - y_true``; else ``d loss / d
    y_pred``. Written into the numpy buffer ``out`` when one is given.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import LOSSES, output_delta
    >>> Y, P = np.zeros((2, 1)), np.ones((2, 1))
    >>> output_delta(LOSSES["squared_error"], Y, P, 0.5)
    array([[0.5],
           [0.5]])
    """
    if fused:
        delta = y_pred - y_true if out is None else np.subtract(y_pred, y_true, out=out)
    else:
        delta = loss.gradient(y_true, y_pred, out=out)
    if isinstance(delta, np.ndarray) and delta is out:  # numpy's buffer: in place
        delta *= scale
        return delta
    return delta * scale


def mean_loss(loss, y_true, y_pred, sample_weight=None):
    """The sample-weighted mean of ``loss``, as a Python float.

    On a device the mean is taken there: one read.

    Parameters
    ----------
    loss : Loss
    y_true, y_pred : arrays of shape (n_samples, n_outputs)
        Checked targets and predictions, of one library on one device.
    sample_weight : array of shape (n_samples,), optional

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.losses import LOSSES, mean_loss
    >>> Y, P = np.zeros((2, 1)), np.array([[1.0], [3.0]])
    >>> mean_loss(LOSSES["squared_error"], Y, P, sample_weight=[3, 1])
    1.5
    """
    per_sample = loss.value(y_true, y_pred)
    if isinstance(per_sample, np.ndarray):
        return float(np.average(per_sample, weights=sample_weight))
    xp = _namespace(per_sample)
    if sample_weight is None:
        return float(xp.mean(per_sample))
    return float(xp.sum(per_sample * sample_weight) / xp.sum(sample_weight))


LOSSES = {
    "squared_error": SquaredError(),
    "absolute_error": AbsoluteError(),
    "huber": HuberLoss(),
    "poisson": PoissonLoss(),
    "log_loss": LogLoss(),
    "binary_log_loss": BinaryLogLoss(),
}


def get_loss(loss):
    """Return the loss object for a name or a loss-like object.

    Parameters
    ----------
    loss : str or Loss
        A name from :data:`LOSSES`, a :class:`Loss`, or any object with
        ``value(y_true, y_pred)`` and ``gradient(y_true, y_pred)`` methods
        (``gradient`` may take ``out=None`` too).

    Returns
    -------
    Loss
        The registered or given :class:`Loss`; any other object comes wrapped
        in one, which adds what the engine needs (the device forms and the
        checks) around the object's own methods.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.

    Examples
    --------
    >>> from sknet.losses import get_loss
    >>> get_loss("huber")
    HuberLoss(delta=1.0)
    """
    if isinstance(loss, str):
        return lookup(LOSSES, loss, "loss")
    if isinstance(loss, Loss):
        return loss
    if callable(getattr(loss, "value", None)) and callable(getattr(loss, "gradient", None)):
        return _UserLoss(loss)
    raise ValueError(
        f"loss must be a name from {sorted(LOSSES)} or an object with value and "
        f"gradient methods, got {loss!r}."
    )


def loss_name(loss):
    """Return the registry name of a built-in loss, or None."""
    return registered_name(LOSSES, loss)
