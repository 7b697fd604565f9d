"""The fully connected layer and its weight initialisers."""

import numbers

import numpy as np

from .activations import get_activation

__all__ = ["INITIALIZERS", "Dense"]


# An initialiser takes (fan_in, fan_out, activation, rng) and returns the
# initial weights and bias.


def glorot_uniform(fan_in, fan_out, activation, rng):
    """Weights uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)), np.zeros(fan_out)


def glorot_normal(fan_in, fan_out, activation, rng):
    """Weights normal with standard deviation sqrt(2 / (fan_in + fan_out))."""
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, size=(fan_in, fan_out)), np.zeros(fan_out)


def he_uniform(fan_in, fan_out, activation, rng):
    """Weights uniform in +-sqrt(6 / fan_in) (He et al., 2015), for ReLU-like units."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)), np.zeros(fan_out)


def he_normal(fan_in, fan_out, activation, rng):
    """Weights normal with standard deviation sqrt(2 / fan_in), for ReLU-like units."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)), np.zeros(fan_out)


def mlp_uniform(fan_in, fan_out, activation, rng):
    """scikit-learn MLP's scheme: weights *and* biases uniform in +-sqrt(f / (fan_in + fan_out)).

    ``f`` is 2 for a sigmoid layer and 6 otherwise. The estimators use it so
    that a model swapped in for ``MLPClassifier`` starts from the same
    distribution.
    """
    factor = 2.0 if activation.name == "sigmoid" else 6.0
    limit = np.sqrt(factor / (fan_in + fan_out))
    weights = rng.uniform(-limit, limit, size=(fan_in, fan_out))
    return weights, rng.uniform(-limit, limit, size=fan_out)


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "mlp_uniform": mlp_uniform,
}

# Activations that zero or damp half their input keep the variance of the
# signal only with He's larger initial weights.
_RELU_LIKE = {"relu", "leaky_relu", "elu", "gelu", "softplus"}


class Dense:
    """A fully connected layer: ``activation(x @ weights + bias)``, then dropout.

    Layers are usually made by :meth:`sknet.Network.add_layer`.

    Parameters
    ----------
    n_inputs : int
        The number of inputs (units of the previous layer, or features).
    units : int
        The number of neurons.
    activation : str or Activation, default="relu"
        The activation, by name or as an object (see :mod:`sknet.activations`).
    dropout : float, default=0.0
        The share of this layer's outputs zeroed at random during training,
        in [0, 1). Predictions never drop anything.
    init : str, default="auto"
        The initialiser: one of ``"glorot_uniform"``, ``"glorot_normal"``,
        ``"he_uniform"``, ``"he_normal"`` (biases start at zero),
        ``"mlp_uniform"`` (scikit-learn MLP's: weights and biases uniform), or
        ``"auto"`` (He for ReLU-like activations, Glorot otherwise).
    rng : numpy.random.Generator, optional
        The source of the initial weights.

    Attributes
    ----------
    weights : ndarray of shape (n_inputs, units)
    bias : ndarray of shape (units,)
    activation : Activation

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Dense
    >>> layer = Dense(3, 2, activation="tanh", rng=np.random.default_rng(0))
    >>> layer.weights.shape, layer.bias.shape
    ((3, 2), (2,))
    >>> layer.predict(np.zeros((1, 3)))
    array([[0., 0.]])
    """

    def __init__(self, n_inputs, units, activation="relu", dropout=0.0, init="auto", rng=None):
        for name, value in (("n_inputs", n_inputs), ("units", units)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, numbers.Real)
            or not 0 <= dropout < 1
        ):
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        if init != "auto" and init not in INITIALIZERS:
            raise ValueError(
                f"Unknown init {init!r}; valid names are {['auto', *sorted(INITIALIZERS)]}."
            )
        self.n_inputs = int(n_inputs)
        self.units = int(units)
        self.activation = get_activation(activation)
        self.dropout = float(dropout)
        self.init = init
        self.initialize(np.random.default_rng() if rng is None else rng)

    @property
    def init_name(self):
        """The initialiser actually used (``"auto"`` resolved)."""
        if self.init != "auto":
            return self.init
        return "he_uniform" if self.activation.name in _RELU_LIKE else "glorot_uniform"

    def initialize(self, rng, dtype=np.float64):
        """Draw new weights (and, for ``"mlp_uniform"``, biases) from ``rng``."""
        initializer = INITIALIZERS[self.init_name]
        weights, bias = initializer(self.n_inputs, self.units, self.activation, rng)
        self.weights = weights.astype(dtype)
        self.bias = bias.astype(dtype)

    @property
    def n_params(self):
        """The number of weights and biases."""
        return self.units * (self.n_inputs + 1)

    def predict(self, x):
        """Return the layer's output for ``x`` (no dropout).

        Parameters
        ----------
        x : ndarray or sparse matrix of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of shape (n_samples, units)
        """
        z = x @ self.weights
        z = np.asarray(z)
        z += self.bias
        if self.activation.inplace:
            return self.activation.forward(z, out=z)
        return self.activation.forward(z)

    # -- training: buffers allocated once per fit, reused by every batch ----

    def allocate(self, batch_size, dtype):
        """Make the buffers a training step needs for up to ``batch_size`` rows."""
        shape = (batch_size, self.units)
        self._z = np.empty(shape, dtype=dtype)
        self._a = self._z if self.activation.inplace else np.empty(shape, dtype=dtype)
        self._delta = np.empty(shape, dtype=dtype)
        if self.dropout:
            self._mask = np.empty(shape, dtype=dtype)
            self._out = np.empty(shape, dtype=dtype)

    def release(self):
        """Drop the training buffers."""
        for name in ("_z", "_a", "_delta", "_mask", "_out"):
            self.__dict__.pop(name, None)

    def forward_train(self, x, rng):
        """Forward ``x`` (n rows) through the buffers; return the output view."""
        n = x.shape[0]
        z = self._z[:n]
        if isinstance(x, np.ndarray):
            np.matmul(x, self.weights, out=z)
        else:  # sparse input: scipy returns a new dense array
            np.copyto(z, x @ self.weights)
        z += self.bias
        a = self.activation.forward(z, out=self._a[:n])
        if not self.dropout:
            return a
        mask = self._mask[:n]
        rng.random(out=mask, dtype=mask.dtype)
        # Inverted dropout: keep with probability 1 - p, scale by 1 / (1 - p)
        # so that predictions need no rescaling.
        np.greater_equal(mask, self.dropout, out=mask)
        mask *= 1.0 / (1.0 - self.dropout)
        return np.multiply(a, mask, out=self._out[:n])

    def delta_view(self, n):
        """The buffer that receives d loss / d output for ``n`` rows."""
        return self._delta[:n]

    def backward_activation(self, n):
        """Turn d loss / d output (in the delta buffer) into d loss / d z."""
        delta = self._delta[:n]
        if self.dropout:
            delta *= self._mask[:n]
        result = self.activation.backward(self._z[:n], self._a[:n], delta)
        if result is not delta:  # a user activation may return a new array
            np.copyto(delta, result)
        return delta

    def backward_params(self, x, delta, grad_weights, grad_bias, ones=None):
        """Write the gradients of the weights and biases for input ``x``.

        ``ones``, a vector of ones as long as the batch, turns the bias
        gradient (the column sums of ``delta``) into a BLAS product, about
        twice as fast as ``sum(axis=0)``.
        """
        if isinstance(x, np.ndarray):
            np.matmul(x.T, delta, out=grad_weights)
        else:
            np.copyto(grad_weights, x.T @ delta)
        if ones is None:
            np.sum(delta, axis=0, out=grad_bias)
        else:
            np.matmul(ones, delta, out=grad_bias)

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in ("_z", "_a", "_delta", "_mask", "_out"):
            state.pop(name, None)
        return state

    def __repr__(self):
        return (
            f"Dense(n_inputs={self.n_inputs}, units={self.units}, "
            f"activation={self.activation.name!r}, dropout={self.dropout!r})"
        )
