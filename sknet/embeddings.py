"""Embeddings of numeric features: the periodic embedding (PLR), per-feature linear layers.

Gorishniy et al., "On Embeddings for Numerical Features in Tabular Deep
Learning" (2022), map each numeric feature on its own to a vector before the
network mixes them. Their PLR embedding is written here as one layer:
periodic features ``cos(2 pi c x)`` and ``sin(2 pi c x)`` with trained
frequencies ``c``, then a linear map per feature (each feature its own
weights), then ReLU. :class:`FeatureLinear` is that per-feature linear layer on its
own, for any input made of equal-width groups of columns, one per feature.

The arithmetic uses only the array API (``backend.xp``), so the layer trains
on numpy and on any array-API library and device, as :class:`sknet.Dense`
does.
"""

import math

import numpy as np

from .activations import activation_name, get_activation
from .backends import NUMPY, to_numpy
from .layers import LAYERS, _CachingLayer

__all__ = ["FeatureLinear", "PeriodicEmbedding"]

_TWO_PI = 2.0 * math.pi
_RELU = get_activation("relu")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _dense(x):
    """A scipy sparse first-layer input as a dense numpy array (the embedding is dense)."""
    return x.toarray() if hasattr(x, "toarray") else x


def _feature_major(x, n_features, xp):
    """``(n, f * m)``, feature after feature, as ``(f, n, m)``."""
    n = x.shape[0]
    return xp.permute_dims(xp.reshape(x, (n, n_features, -1)), (1, 0, 2))


def _row_major(h, xp):
    """``(f, n, d)`` back to ``(n, f * d)``, feature after feature."""
    f, n, d = h.shape
    return xp.reshape(xp.permute_dims(h, (1, 0, 2)), (n, f * d))


def _per_feature_forward(inputs, weights, bias, activation, xp):
    """Each feature's own linear map and the activation: ``(f, n, m)`` to ``(z, a)``,
    both ``(f, n, d)``."""
    z = xp.matmul(inputs, weights) + bias[:, None, :]
    return z, activation.forward(z)


def _per_feature_backward(inputs, weights, z, a, grad_output, activation, xp, input_gradient):
    """The gradients of the weights, the bias and (or None) the inputs ``(f, n, m)``
    from the gradient of the output ``(n, f * d)``."""
    # numpy's backward works in place: on a view of grad_output (spent after
    # this call) and on a (not needed again), as the Dense layer's does.
    grad_z = activation.backward(z, a, _feature_major(grad_output, weights.shape[0], xp))
    grad_weights = xp.matmul(xp.permute_dims(inputs, (0, 2, 1)), grad_z)
    grad_bias = xp.sum(grad_z, axis=1)
    if not input_gradient:
        return grad_weights, grad_bias, None
    return grad_weights, grad_bias, xp.matmul(grad_z, xp.permute_dims(weights, (0, 2, 1)))


def _per_feature_onnx(graph, inputs, weights, bias, activation):
    """The per-feature map in ONNX: ``(n, f, m)`` in, ``(n, f * d)`` out."""
    f, _, d = weights.shape
    feature_major = graph.node("Transpose", [inputs], perm=[1, 0, 2])  # (f, n, m)
    product = graph.node("MatMul", [feature_major, graph.constant(weights, "weights")])
    z = graph.node(
        "Add",
        [graph.node("Transpose", [product], perm=[1, 0, 2]), graph.constant(bias, "bias")],
    )  # (n, f, d)
    flat = _int64_constant(graph, [0, f * d], "flat")
    return graph.node("Reshape", [graph.activation(activation, z), flat])


def _int64_constant(graph, values, hint):
    """An int64 ONNX constant (a shape), as a ``Constant`` node: ``graph.constant``
    casts to the graph's float dtype."""
    from onnx import TensorProto, helper

    values = [int(v) for v in values]
    tensor = helper.make_tensor(hint, TensorProto.INT64, [len(values)], values)
    return graph.node("Constant", [], value=tensor)


class PeriodicEmbedding(_CachingLayer):
    """Periodic embedding of each numeric feature, then a per-feature linear layer and ReLU (PLR).

    For feature ``i`` with value ``x_i``, the layer computes the ``2k``
    periodic features ``p_i = [cos(2 pi c_i x_i), sin(2 pi c_i x_i)]`` with
    the trained frequencies ``c_i`` (a row of ``frequencies``), then
    ``relu(p_i @ weights[i] + bias[i])``, ``units_per_feature`` values per
    feature, with weights that belong to that feature alone. The output
    holds the features' embeddings side by side, feature after feature.

    Parameters
    ----------
    n_inputs : int
        The number of numeric features.
    n_frequencies : int, default=16
        ``k``, the number of frequencies per feature (``2k`` periodic values).
    units_per_feature : int, default=16
        ``d``, the width of each feature's embedding.
    sigma : float, default=1.0
        The standard deviation of the initial frequencies, drawn from
        ``N(0, sigma)``. It sets the scale of the patterns the embedding sees
        first (inputs are best standardised); the paper tunes it in [0.01, 100].
    rng : numpy.random.Generator, optional
        The source of the initial parameters.

    Attributes
    ----------
    units : int
        ``n_inputs * units_per_feature``.
    frequencies : ndarray of shape (n_inputs, n_frequencies)
        Trained, not penalised by ``alpha``.
    weights : ndarray of shape (n_inputs, 2 * n_frequencies, units_per_feature)
        One linear map per feature (cosines first, then sines); penalised.
    bias : ndarray of shape (n_inputs, units_per_feature)
        Not penalised.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Network, PeriodicEmbedding
    >>> layer = PeriodicEmbedding(3, n_frequencies=4, units_per_feature=2,
    ...                           rng=np.random.default_rng(0))
    >>> layer.predict(np.zeros((5, 3))).shape
    (5, 6)
    >>> net = Network(3, random_state=0).add(layer).add_layer(1, "identity")
    >>> net.predict(np.zeros((5, 3))).shape
    (5, 1)
    """

    parameter_names = ("frequencies", "weights", "bias")
    penalized = (False, True, False)

    def __init__(self, n_inputs, n_frequencies=16, units_per_feature=16, sigma=1.0, rng=None):
        self.n_inputs = _positive_int("n_inputs", n_inputs)
        self.n_frequencies = _positive_int("n_frequencies", n_frequencies)
        self.units_per_feature = _positive_int("units_per_feature", units_per_feature)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.floating)):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        self.sigma = float(sigma)
        self.units = self.n_inputs * self.units_per_feature
        self.initialize(np.random.default_rng() if rng is None else rng)

    def initialize(self, rng, dtype=np.float64):
        """Draw frequencies from ``N(0, sigma)`` and each feature's linear map as PyTorch's
        ``Linear`` draws it (uniform in ``+-1 / sqrt(2k)``, weights and bias)."""
        f, k, d = self.n_inputs, self.n_frequencies, self.units_per_feature
        self.frequencies = rng.normal(0.0, self.sigma, size=(f, k)).astype(dtype)
        limit = 1.0 / math.sqrt(2 * k)
        self.weights = rng.uniform(-limit, limit, size=(f, 2 * k, d)).astype(dtype)
        self.bias = rng.uniform(-limit, limit, size=(f, d)).astype(dtype)

    # -- computing ----------------------------------------------------------------

    def _forward(self, x, xp):
        """The output and what backward needs, in a feature-major layout."""
        x = _dense(x)
        # (f, n, 1) * (f, 1, k): each feature times its own frequencies.
        angle = (xp.permute_dims(x, (1, 0))[:, :, None] * self.frequencies[:, None, :]) * _TWO_PI
        cos, sin = xp.cos(angle), xp.sin(angle)
        periodic = xp.concat((cos, sin), axis=2)  # (f, n, 2k)
        z, a = _per_feature_forward(periodic, self.weights, self.bias, _RELU, xp)
        return _row_major(a, xp), (cos, sin, periodic, z, a)

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
        """The gradients of ``[frequencies, weights, bias]`` and of the input.

        See :meth:`sknet.Layer.backward`; the arrays are new (``slots`` are not written).
        """
        xp = backend.xp
        x = _dense(x)
        cos, sin, periodic, z, a = self._cache
        k = self.n_frequencies
        grad_weights, grad_bias, grad_periodic = _per_feature_backward(
            periodic, self.weights, z, a, grad_output, _RELU, xp, input_gradient=True
        )
        # d cos(u) = -sin(u) du, d sin(u) = cos(u) du, with u = 2 pi c x.
        grad_angle = (grad_periodic[:, :, k:] * cos - grad_periodic[:, :, :k] * sin) * _TWO_PI
        x_t = xp.permute_dims(x, (1, 0))
        grad_frequencies = xp.sum(grad_angle * x_t[:, :, None], axis=1)
        gradients = [grad_frequencies, grad_weights, grad_bias]
        if not input_gradient:
            return gradients, None
        # Summed in the row-major layout, so that the input gradient comes out
        # contiguous, (n, f), as the layer before expects it.
        terms = xp.permute_dims(grad_angle * self.frequencies[:, None, :], (1, 0, 2))
        return gradients, xp.sum(terms, axis=2)

    # -- records ----------------------------------------------------------------

    def get_config(self):
        """The layer's settings for the model file.

        Examples
        --------
        >>> from sknet import PeriodicEmbedding
        >>> PeriodicEmbedding(2, n_frequencies=3, units_per_feature=4).get_config()
        {'n_frequencies': 3, 'units_per_feature': 4, 'sigma': 1.0}
        """
        return {
            "n_frequencies": self.n_frequencies,
            "units_per_feature": self.units_per_feature,
            "sigma": self.sigma,
        }

    @classmethod
    def from_config(cls, config, n_inputs, rng=None):
        """A layer with the settings of :meth:`get_config` (parameters drawn from ``rng``)."""
        return cls(n_inputs, **config, rng=rng)

    def to_onnx(self, graph, x):
        """The same arithmetic in ONNX: ``Cos``, ``Sin``, a batched ``MatMul``, ``Relu``."""
        frequencies, weights, bias = (to_numpy(p) for p in self.get_parameters())
        f = self.n_inputs
        column = graph.node("Reshape", [x, _int64_constant(graph, [0, f, 1], "feature_column")])
        angle = graph.node(
            "Mul", [column, graph.constant(_TWO_PI * frequencies, "angular_frequencies")]
        )  # (n, f, k)
        periodic = graph.node(
            "Concat", [graph.node("Cos", [angle]), graph.node("Sin", [angle])], axis=2
        )
        return _per_feature_onnx(graph, periodic, weights, bias, _RELU)

    def __repr__(self):
        return (
            f"PeriodicEmbedding(n_inputs={self.n_inputs}, n_frequencies={self.n_frequencies}, "
            f"units_per_feature={self.units_per_feature}, sigma={self.sigma!r})"
        )


class FeatureLinear(_CachingLayer):
    """A linear layer per feature: each feature's inputs to its own outputs, then an activation.

    The input holds ``n_features`` groups of ``m = n_inputs / n_features``
    columns side by side, feature after feature (as :class:`PeriodicEmbedding`
    or a fixed-width encoding writes them). Group ``i`` is mapped to
    ``units_per_feature`` values by ``activation(x_i @ weights[i] + bias[i])``,
    with weights that belong to feature ``i`` alone (Gorishniy et al., 2022,
    "NLinear"); the outputs are side by side in the same order.

    Parameters
    ----------
    n_inputs : int
        The input width, ``n_features * m``.
    n_features : int
        The number of groups; it must divide ``n_inputs``.
    units_per_feature : int, default=16
        The width of each feature's output.
    activation : str or Activation, default="relu"
        Applied to each output (``"identity"`` for none); output-only
        activations (softmax) are refused.
    rng : numpy.random.Generator, optional
        The source of the initial parameters, uniform in ``+-1 / sqrt(m)`` as
        PyTorch's ``Linear`` draws them.

    Attributes
    ----------
    units : int
        ``n_features * units_per_feature``.
    weights : ndarray of shape (n_features, m, units_per_feature)
        Penalised by ``alpha``.
    bias : ndarray of shape (n_features, units_per_feature)
        Not penalised.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import FeatureLinear
    >>> layer = FeatureLinear(6, n_features=3, units_per_feature=2,
    ...                       activation="identity", rng=np.random.default_rng(0))
    >>> layer.weights.shape
    (3, 2, 2)
    >>> x = np.arange(6.0).reshape(1, 6)
    >>> bool(np.allclose(layer.predict(x)[:, 2:4],
    ...                  x[:, 2:4] @ layer.weights[1] + layer.bias[1]))
    True
    """

    parameter_names = ("weights", "bias")
    penalized = (True, False)

    def __init__(self, n_inputs, n_features, units_per_feature=16, activation="relu", rng=None):
        self.n_inputs = _positive_int("n_inputs", n_inputs)
        self.n_features = _positive_int("n_features", n_features)
        if self.n_inputs % self.n_features:
            raise ValueError(
                f"n_features={self.n_features} must divide n_inputs={self.n_inputs}: each "
                "feature has the same number of input columns."
            )
        self.units_per_feature = _positive_int("units_per_feature", units_per_feature)
        self.inner_activation = get_activation(activation)
        if self.inner_activation.output_only:
            raise ValueError(
                f"{self.inner_activation.name} is an output activation, not a hidden one."
            )
        self.units = self.n_features * self.units_per_feature
        self.initialize(np.random.default_rng() if rng is None else rng)

    def initialize(self, rng, dtype=np.float64):
        """Draw weights and biases uniform in ``+-1 / sqrt(m)``."""
        f, d = self.n_features, self.units_per_feature
        m = self.n_inputs // f
        limit = 1.0 / math.sqrt(m)
        self.weights = rng.uniform(-limit, limit, size=(f, m, d)).astype(dtype)
        self.bias = rng.uniform(-limit, limit, size=(f, d)).astype(dtype)

    def _forward(self, x, xp):
        inputs = _feature_major(_dense(x), self.n_features, xp)
        z, a = _per_feature_forward(inputs, self.weights, self.bias, self.inner_activation, xp)
        return _row_major(a, xp), (inputs, z, a)

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
        """The gradients of ``[weights, bias]`` and of the input (new arrays)."""
        xp = backend.xp
        inputs, z, a = self._cache
        grad_weights, grad_bias, grad_inputs = _per_feature_backward(
            inputs, self.weights, z, a, grad_output, self.inner_activation, xp, input_gradient
        )
        if grad_inputs is not None:
            grad_inputs = _row_major(grad_inputs, xp)
        return [grad_weights, grad_bias], grad_inputs

    def get_config(self):
        """The layer's settings for the model file.

        Raises
        ------
        ValueError
            If the activation is not a registered one.

        Examples
        --------
        >>> from sknet import FeatureLinear
        >>> FeatureLinear(4, n_features=2, units_per_feature=3).get_config()
        {'n_features': 2, 'units_per_feature': 3, 'activation': 'relu'}
        """
        name = activation_name(self.inner_activation)
        if name is None:
            raise ValueError(
                f"Cannot save activation {self.inner_activation!r}: only registered "
                "activations can be saved."
            )
        return {
            "n_features": self.n_features,
            "units_per_feature": self.units_per_feature,
            "activation": name,
        }

    def to_onnx(self, graph, x):
        """A ``Reshape`` to ``(n, f, m)``, a batched ``MatMul``, the activation, a ``Reshape``."""
        weights, bias = (to_numpy(p) for p in self.get_parameters())
        f, m, _ = weights.shape
        grouped = graph.node("Reshape", [x, _int64_constant(graph, [0, f, m], "feature_groups")])
        return _per_feature_onnx(graph, grouped, weights, bias, self.inner_activation)

    def __repr__(self):
        return (
            f"FeatureLinear(n_inputs={self.n_inputs}, n_features={self.n_features}, "
            f"units_per_feature={self.units_per_feature}, "
            f"activation={self.inner_activation.name!r})"
        )


# Registered for the model file beside Dense (sknet imports this module).
LAYERS["periodic_embedding"] = PeriodicEmbedding
LAYERS["feature_linear"] = FeatureLinear
