"""The fully connected layer and its weight initialisers."""

import numbers

import numpy as np

from .activations import get_activation
from .backends import NUMPY, first_rows

__all__ = ["INITIALIZERS", "Dense"]


# An initialiser takes (fan_in, fan_out, activation, rng) and returns the
# initial weights and bias.


def _matmul(a, b, out=None):
    """``a @ b``, written into the numpy buffer ``out`` when one is given."""
    if out is None:
        return a @ b
    if isinstance(a, np.ndarray):
        return np.matmul(a, b, out=out)
    np.copyto(out, a @ b)  # a sparse matrix: scipy returns a new array
    return out


def _parameter_gradients(x, delta, grad_weights, grad_bias, ones):
    """``[x.T @ delta, ones @ delta]``: a dense layer's weight and bias gradients.

    The column sums are a BLAS product with ``ones``, about twice as fast as
    ``sum(axis=0)`` on numpy, and rounded the same way on every library.
    """
    return [_matmul(x.T, delta, grad_weights), _matmul(ones, delta, grad_bias)]


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

# What a fit adds to a layer, and pickling and release() remove.
_TRAINING_STATE = ("_z", "_a", "_delta", "_mask", "_out", "_batch")


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

    # -- the layer protocol: parameters ---------------------------------------

    #: Which parameters the L2 penalty applies to: the weights, not the bias.
    penalized = (True, False)

    def get_parameters(self):
        """The parameters, in the order of :attr:`penalized`: ``[weights, bias]``."""
        return [self.weights, self.bias]

    def set_parameters(self, parameters):
        """Point the layer at new parameter arrays (used by the trainer's store)."""
        self.weights, self.bias = parameters

    # -- the layer protocol: computing ------------------------------------------

    def predict(self, x, backend=NUMPY):
        """Return the layer's output for ``x`` (no dropout).

        Parameters
        ----------
        x : ndarray, sparse matrix or array of the backend, of shape (n_samples, n_inputs)
        backend : backend, default: numpy's

        Returns
        -------
        array of shape (n_samples, units)
        """
        return backend.dense_forward(x, self.weights, self.bias, self.activation)[1]

    def allocate(self, batch_size, dtype, backend=NUMPY):
        """Make the buffers a training step needs for up to ``batch_size`` rows.

        The array-API backend makes none: its operations return new arrays.
        """
        shape = (batch_size, self.units)
        self._z = backend.buffer(shape, dtype)
        self._a = self._z if self.activation.inplace else backend.buffer(shape, dtype)
        self._delta = backend.buffer(shape, dtype)
        if self.dropout:
            self._mask = backend.buffer(shape, dtype)
            self._out = backend.buffer(shape, dtype)

    def release(self):
        """Drop the training buffers and the last batch's values."""
        for name in _TRAINING_STATE:
            self.__dict__.pop(name, None)

    def delta_view(self, n):
        """Where the gradient with respect to this layer's output arrives, for ``n`` rows.

        A buffer with numpy (the next layer's :meth:`backward` writes into it);
        None with the array API.
        """
        return first_rows(self._delta, n)

    def forward_train(self, x, rng, backend=NUMPY):
        """Forward a batch ``x`` and keep what :meth:`backward` needs; return the output.

        With dropout, a share ``dropout`` of the outputs is zeroed, the mask
        drawn from ``rng``.
        """
        n = x.shape[0]
        z, a = backend.dense_forward(
            x,
            self.weights,
            self.bias,
            self.activation,
            first_rows(self._z, n),
            first_rows(self._a, n),
        )
        self._batch = (z, a, None)
        if not self.dropout:
            return a
        out, mask = backend.dropout(
            a, self.dropout, rng, first_rows(self._mask, n), first_rows(self._out, n)
        )
        self._batch = (z, a, mask)
        return out

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
        """Back-propagate the gradient of the loss through the last batch.

        Parameters
        ----------
        x : array of shape (n, n_inputs)
            The batch's input, as given to :meth:`forward_train`.
        grad_output : array of shape (n, units)
            The gradient with respect to the layer's output (numpy may
            overwrite it), or, with ``preactivation=True``, with respect to
            ``x @ weights + bias``.
        slots : list
            Where the parameter gradients go (numpy arrays), or Nones.
        backend : backend, default: numpy's
        ones : array of shape (n,), optional
            A vector of ones, for the bias gradient.
        grad_input : array of shape (n, n_inputs), optional
            Where numpy writes the gradient with respect to ``x``.
        input_gradient : bool, default=True
            False for a first layer, whose input needs no gradient.
        preactivation : bool, default=False

        Returns
        -------
        gradients : list of arrays
            The gradients of ``[weights, bias]``.
        grad_input : array of shape (n, n_inputs) or None
            The gradient with respect to ``x`` (None without ``input_gradient``).
        """
        delta = grad_output
        if not preactivation:
            delta = self._activation_backward(delta, backend)
        if ones is None:
            ones = backend.ones(x.shape[0], self._batch[0].dtype)
        gradients = _parameter_gradients(x, delta, *slots, ones)
        if input_gradient:
            grad_input = _matmul(delta, self.weights.T, grad_input)
        else:
            grad_input = None
        return gradients, grad_input

    def _activation_backward(self, delta, backend):
        z, a, mask = self._batch
        if mask is not None:
            if isinstance(delta, np.ndarray):  # numpy: in place
                delta *= mask
            else:
                delta = delta * mask
        return backend.activation_backward(self.activation, z, a, delta)

    def backward_activation(self, n):
        """numpy: turn d loss / d output (in the delta buffer) into d loss / d z."""
        return self._activation_backward(self._delta[:n], NUMPY)

    def backward_params(self, x, delta, grad_weights, grad_bias, ones=None):
        """numpy: write the gradients of the weights and biases for input ``x``."""
        if ones is None:
            ones = np.ones(x.shape[0], dtype=delta.dtype)
        _parameter_gradients(x, delta, grad_weights, grad_bias, ones)

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in _TRAINING_STATE:
            state.pop(name, None)
        return state

    def __repr__(self):
        return (
            f"Dense(n_inputs={self.n_inputs}, units={self.units}, "
            f"activation={self.activation.name!r}, dropout={self.dropout!r})"
        )
