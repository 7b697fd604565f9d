"""Layers that keep deep networks trainable: batch normalisation and a residual block.

Both follow the layer protocol (:class:`sknet.Layer`) and compute with
``backend.xp`` alone, so they train on numpy and on any array-API library and
device as :class:`sknet.Dense` does.
"""

import math
import numbers

import numpy as np

from .activations import activation_name, get_activation
from .backends import NUMPY, to_numpy
from .layers import _RELU_LIKE, INITIALIZERS, LAYERS, Layer, _CachingLayer

__all__ = ["BatchNorm", "Residual"]


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _dense(x):
    """A scipy sparse first-layer input as a dense numpy array."""
    return x.toarray() if hasattr(x, "toarray") else x


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015): ``gamma * (x - mean) / sqrt(var + eps) + beta``.

    In training, ``mean`` and ``var`` are those of the batch (every row
    counts the same: sample weights weigh the loss, not these statistics),
    and each batch moves the running statistics toward them:
    ``running = (1 - momentum) * running + momentum * batch``, with the
    batch's biased variance. Predictions use the running statistics, which
    are the layer's non-trainable state and are saved in the model file.

    Parameters
    ----------
    n_inputs : int
        The number of features (the layer's output has as many).
    momentum : float, default=0.1
        The weight of each new batch in the running statistics, in (0, 1]
        (PyTorch's convention; Keras's ``momentum=0.99`` is 0.01 here).
    eps : float, default=1e-5
        Added to the variance before its square root.
    rng : numpy.random.Generator, optional
        Unused (nothing is drawn: ``gamma`` starts at one, ``beta`` at zero);
        accepted so that every layer is built alike.

    Attributes
    ----------
    gamma : ndarray of shape (n_inputs,)
        Trained scale, not penalised by ``alpha``.
    beta : ndarray of shape (n_inputs,)
        Trained shift, not penalised.
    running_mean : ndarray of shape (n_inputs,)
        State: starts at zero.
    running_var : ndarray of shape (n_inputs,)
        State: starts at one.

    Notes
    -----
    With batch statistics the output of a row depends on the other rows of
    its batch. The statistics are weighted by the rows' sample weights (the
    trainer hands them over, see ``weighs_rows``), so in one batch a row of
    weight 2 counts as two copies of it; across mini-batches, copies fill
    batch places that a weight does not. A batch of one row passes nothing
    but ``beta`` on. L-BFGS (full batch) normalises with the statistics of
    the whole training set.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import BatchNorm
    >>> layer = BatchNorm(2)
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> layer.forward_train(x, None).round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> layer.running_mean
    array([0.2, 2. ])
    >>> layer.predict(x).round(3)
    array([[0.8  , 2.423],
           [2.8  , 8.481]])
    """

    parameter_names = ("gamma", "beta")
    penalized = (False, False)
    state_names = ("running_mean", "running_var")
    transient = (*Layer.transient, "_cache", "row_weights")
    #: The trainer sets ``row_weights`` (``1 / n`` or a column of weights
    #: summing to one) before each training batch.
    weighs_rows = True

    def __init__(self, n_inputs, momentum=0.1, eps=1e-5, rng=None):
        self.n_inputs = self.units = _positive_int("n_inputs", n_inputs)
        for name, value, upper in (("momentum", momentum, 1.0), ("eps", eps, math.inf)):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not 0 < value <= upper
                or not math.isfinite(value)
            ):
                bounds = "in (0, 1]" if upper == 1.0 else "a positive finite number"
                raise ValueError(f"{name} must be {bounds}, got {value!r}.")
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.initialize(rng)

    def initialize(self, rng, dtype=np.float64):
        """Reset ``gamma`` to one, ``beta`` to zero and the running statistics (nothing drawn)."""
        self.gamma = np.ones(self.n_inputs, dtype=dtype)
        self.beta = np.zeros(self.n_inputs, dtype=dtype)
        self.running_mean = np.zeros(self.n_inputs, dtype=dtype)
        self.running_var = np.ones(self.n_inputs, dtype=dtype)

    def predict(self, x, backend=NUMPY):
        """Normalise ``x`` with the running statistics."""
        xp = backend.xp
        scale = self.gamma / xp.sqrt(self.running_var + self.eps)
        return (_dense(x) - self.running_mean) * scale + self.beta

    def forward_train(self, x, rng, backend=NUMPY):
        """Normalise a training batch with its own statistics and update the running ones."""
        xp = backend.xp
        x = _dense(x)
        # The rows' weights, summing to one (1 / n each without sample weights).
        weights = getattr(self, "row_weights", None)
        if weights is None:
            weights = 1.0 / x.shape[0]
        mean = xp.sum(x * weights, axis=0)
        centered = x - mean
        var = xp.sum(centered * centered * weights, axis=0)
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        normalized = centered * inv_std
        self._cache = (normalized, inv_std, weights)
        keep = 1.0 - self.momentum
        old_mean, old_var = self.running_mean, self.running_var
        new_mean = old_mean * keep + mean * self.momentum
        new_var = old_var * keep + var * self.momentum
        # A diverging batch (infinite or NaN inputs) leaves the running
        # statistics as they were: the trainer falls back to finite weights,
        # and the state must not hold NaN either. Decided on the device, with
        # no read.
        # One assignment: the two statistics always come from the same batches.
        self.running_mean, self.running_var = (
            xp.where(xp.isfinite(new_mean), new_mean, old_mean),
            xp.where(xp.isfinite(new_var), new_var, old_var),
        )
        return normalized * self.gamma + self.beta

    def backward(
        self,
        x,
        grad_output,
        slots,
        backend=NUMPY,
        ones=None,
        grad_input=None,
        input_gradient=True,
        preactivation=False,
    ):
        """The gradients of ``[gamma, beta]`` and of the input, through the batch statistics."""
        xp = backend.xp
        normalized, inv_std, weights = self._cache
        grad_beta = xp.sum(grad_output, axis=0)
        grad_gamma = xp.sum(grad_output * normalized, axis=0)
        if not input_gradient:
            return [grad_gamma, grad_beta], None
        # d/dx of gamma * (x - mean) * inv_std, the mean and variance being the
        # batch's, weighted by ``weights``: row j moves them by its weight.
        grad_x = (self.gamma * inv_std) * (
            grad_output - weights * (grad_beta + normalized * grad_gamma)
        )
        return [grad_gamma, grad_beta], grad_x

    def get_config(self):
        """The layer's settings for the model file.

        Examples
        --------
        >>> from sknet import BatchNorm
        >>> BatchNorm(3).get_config()
        {'momentum': 0.1, 'eps': 1e-05}
        """
        return {"momentum": self.momentum, "eps": self.eps}

    def to_onnx(self, graph, x):
        """``x * scale + shift`` in ONNX, the running statistics folded into two constants."""
        gamma, beta, mean, var = (
            to_numpy(a).astype(np.float64) for a in (*self.get_parameters(), *self.get_state())
        )
        scale = gamma / np.sqrt(var + self.eps)
        scaled = graph.node("Mul", [x, graph.constant(scale, "bn_scale")])
        return graph.node("Add", [scaled, graph.constant(beta - mean * scale, "bn_shift")])

    def __repr__(self):
        return f"BatchNorm(n_inputs={self.n_inputs}, momentum={self.momentum}, eps={self.eps})"


class Residual(_CachingLayer):
    """A residual block: ``x + f(x)``, with ``f`` a stack of fully connected layers.

    ``f`` has ``n_layers`` layers: the first ``n_layers - 1`` of width
    ``hidden_units`` with ``activation``, the last back to the block's width
    with no activation, so that the block starts close to the identity and
    adds what it learns (He et al., 2016; Gorishniy et al., 2021 for tables).
    The block's output has the width of its input.

    Parameters
    ----------
    n_inputs : int
        The width of the input, and of the output.
    n_layers : int, default=2
        The number of fully connected layers inside the block.
    hidden_units : int, optional
        The width of the inner layers (all but the last); default ``n_inputs``,
        which makes every inner layer as wide as the block.
    activation : str or Activation, default="relu"
        The activation of the inner layers but the last.
    rng : numpy.random.Generator, optional
        The source of the initial weights (He's uniform for ReLU-like
        activations, Glorot's otherwise, and Glorot's for the last layer;
        biases zero).

    Attributes
    ----------
    weights_0, bias_0, ..., weights_{n_layers - 1}, bias_{n_layers - 1} : ndarray
        The inner layers' parameters (weights penalised, biases not).
    inner_activation : Activation
        The inner layers' activation. The block's own ``activation`` is None:
        its output is a sum, with no activation after it.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Network, Residual
    >>> block = Residual(3, rng=np.random.default_rng(0))
    >>> block.parameter_names
    ('weights_0', 'bias_0', 'weights_1', 'bias_1')
    >>> block.weights_1[:] = 0.0  # f(x) = 0: the block passes its input on
    >>> block.predict(np.array([[1.0, 2.0, 3.0]]))
    array([[1., 2., 3.]])
    """

    def __init__(self, n_inputs, n_layers=2, hidden_units=None, activation="relu", rng=None):
        self.n_inputs = self.units = _positive_int("n_inputs", n_inputs)
        self.n_layers = _positive_int("n_layers", n_layers)
        width = self.n_inputs if hidden_units is None else hidden_units
        self.hidden_units = _positive_int("hidden_units", width)
        self.inner_activation = get_activation(activation)
        if self.inner_activation.output_only:
            raise ValueError(
                f"{self.inner_activation.name} is an output activation, not a hidden one."
            )
        self.parameter_names = tuple(
            f"{kind}_{i}" for i in range(self.n_layers) for kind in ("weights", "bias")
        )
        self.penalized = (True, False) * self.n_layers
        self.initialize(np.random.default_rng() if rng is None else rng)

    @property
    def widths(self):
        """The widths ``(n_in, n_out)`` of the inner layers, in order."""
        sizes = [self.n_inputs] + [self.hidden_units] * (self.n_layers - 1) + [self.n_inputs]
        return list(zip(sizes[:-1], sizes[1:], strict=False))

    def initialize(self, rng, dtype=np.float64):
        """Draw new inner weights from ``rng`` (biases zero)."""
        inner = "he_uniform" if self.inner_activation.name in _RELU_LIKE else "glorot_uniform"
        for i, (fan_in, fan_out) in enumerate(self.widths):
            name = inner if i < self.n_layers - 1 else "glorot_uniform"
            weights, bias = INITIALIZERS[name](fan_in, fan_out, self.inner_activation, rng)
            setattr(self, f"weights_{i}", weights.astype(dtype))
            setattr(self, f"bias_{i}", bias.astype(dtype))

    def _inner(self):
        parameters = self.get_parameters()
        return list(zip(parameters[0::2], parameters[1::2], strict=False))

    def _forward(self, x, xp):
        x = _dense(x)
        h, cache = x, []
        for i, (weights, bias) in enumerate(self._inner()):
            z = h @ weights + bias
            a = self.inner_activation.forward(z) if i < self.n_layers - 1 else z
            cache.append((h, z, a))
            h = a
        return x + h, cache

    def backward(
        self,
        x,
        grad_output,
        slots,
        backend=NUMPY,
        ones=None,
        grad_input=None,
        input_gradient=True,
        preactivation=False,
    ):
        """The gradients of the inner layers' parameters and of the input (``x`` and ``f(x)``)."""
        xp = backend.xp
        inner = self._inner()
        gradients = [None] * (2 * self.n_layers)
        delta = grad_output
        for i in range(self.n_layers - 1, -1, -1):
            h, z, a = self._cache[i]
            if i < self.n_layers - 1:
                # in place on numpy: delta, z and a are not used again
                delta = self.inner_activation.backward(z, a, delta)
            gradients[2 * i] = xp.permute_dims(h, (1, 0)) @ delta
            gradients[2 * i + 1] = xp.sum(delta, axis=0)
            if i or input_gradient:
                delta = delta @ xp.permute_dims(inner[i][0], (1, 0))
        return gradients, grad_output + delta if input_gradient else None

    def get_config(self):
        """The block's settings for the model file.

        Raises
        ------
        ValueError
            If the activation is not a registered one.

        Examples
        --------
        >>> from sknet import Residual
        >>> Residual(4, hidden_units=8, activation="tanh").get_config()
        {'n_layers': 2, 'hidden_units': 8, 'activation': 'tanh'}
        """
        name = activation_name(self.inner_activation)
        if name is None:
            raise ValueError(
                f"Cannot save activation {self.inner_activation!r}: only registered "
                "activations can be saved."
            )
        return {"n_layers": self.n_layers, "hidden_units": self.hidden_units, "activation": name}

    @classmethod
    def from_config(cls, config, n_inputs, rng=None):
        """A block with the settings of :meth:`get_config` (weights drawn from ``rng``)."""
        return cls(n_inputs, **config, rng=rng)

    def to_onnx(self, graph, x):
        """The inner layers as ``MatMul``, ``Add`` and activations, then ``x + f(x)``."""
        h = x
        for i, (weights, bias) in enumerate(self._inner()):
            product = graph.node("MatMul", [h, graph.constant(to_numpy(weights), "coefficient")])
            h = graph.node("Add", [product, graph.constant(to_numpy(bias), "intercepts")])
            if i < self.n_layers - 1:
                h = graph.activation(self.inner_activation, h)
        return graph.node("Add", [x, h])

    def __repr__(self):
        return (
            f"Residual(n_inputs={self.n_inputs}, n_layers={self.n_layers}, "
            f"hidden_units={self.hidden_units}, activation={self.inner_activation.name!r})"
        )


# Registered for the model file beside Dense (sknet imports this module).
LAYERS["batch_norm"] = BatchNorm
LAYERS["residual"] = Residual
