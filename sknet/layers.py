"""The layer protocol, the fully connected layer and its weight initialisers.

A layer is any object that follows the protocol of :class:`Layer`: the
network, its trainer, the model file, ONNX export, ``get_weights`` and the
estimators' ``coefs_`` reach a layer's arrays only through it. :class:`Layer`
is also a base class that fills in the routine parts, so that a new layer type
writes its arithmetic (``predict``, ``backward`` and, when training differs
from prediction, ``forward_train``) and little else.
"""

import math
import numbers

import numpy as np

from ._registry import registered_name
from .activations import activation_name, get_activation
from .backends import NUMPY, first_rows, to_numpy
from .backends.random import DropoutDraws

__all__ = ["INITIALIZERS", "LAYERS", "Dense", "Layer", "layer_type_name"]


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
_TRAINING_STATE = ("_z", "_a", "_delta", "_mask", "_out", "_batch", "_draws")


# Activations that zero or damp half their input keep the variance of the
# signal only with He's larger initial weights.
_RELU_LIKE = {"relu", "leaky_relu", "elu", "gelu", "softplus"}


class Layer:
    """The layer protocol, and a base class that fills in its routine parts.

    A layer maps a batch of shape ``(n, n_inputs)`` to one of shape
    ``(n, units)``. :meth:`sknet.Network.add` takes any object with the
    attributes and methods below; subclassing :class:`Layer` provides all
    but the arithmetic (:meth:`predict` and :meth:`backward`). Arrays are
    those of the backend a fit or a prediction runs on: numpy arrays (the
    first layer may receive a scipy sparse matrix), or arrays of an array-API
    library on some device (``backend.xp`` is its namespace). With numpy a
    layer may write into the buffers it is given; with the array API it never
    writes into an array, it returns new ones.

    **Parameters** (trained): :attr:`parameter_names` names them,
    :meth:`get_parameters` returns them in that order, :meth:`set_parameters`
    points the layer at new arrays (the trainer does so after every step), and
    :attr:`penalized` says, per parameter, whether the L2 penalty ``alpha``
    (and an optimizer's weight decay) applies to it.

    **State** (not trained, e.g. running statistics): :attr:`state_names`,
    :meth:`get_state`, :meth:`set_state`. It moves with the parameters to
    where the network trains or predicts, and is saved in the model file.

    **Computing**: :meth:`predict` for prediction; :meth:`forward_train` for
    a training batch (it keeps what :meth:`backward` needs); :meth:`backward`
    returns the gradients of the parameters and of the input.

    **Records**: :meth:`get_config` and :meth:`from_config` describe the layer
    in JSON for the model file (its arrays are written by name beside the
    record); a layer type is saved and loaded when it is registered in
    :data:`LAYERS`. :meth:`to_onnx` is its piece of an ONNX graph.

    Attributes
    ----------
    n_inputs : int
        The width of the layer's input.
    units : int
        The width of its output.
    parameter_names : tuple of str
        Names of the trained arrays, in the order of :meth:`get_parameters`.
    penalized : tuple of bool
        One per parameter: whether the L2 penalty applies to it.
    state_names : tuple of str
        Names of the non-trainable arrays, in the order of :meth:`get_state`.
    activation : Activation or None
        The activation of the layer's output, when it ends in one. The loss
        checks the output layer's, and its natural pairs use it.
    dropout : float
        The share of outputs dropped in training (0 for none). Full-batch
        optimizers refuse layers that drop.
    fills_slots : bool
        Whether, on numpy, :meth:`backward` always writes the parameter
        gradients into the slots it is given (False: it may return new arrays).

    Examples
    --------
    A layer that multiplies its input by a fixed factor, elementwise:

    >>> import numpy as np
    >>> from sknet import Layer, Network
    >>> class Scale(Layer):
    ...     state_names = ("factor",)
    ...     def __init__(self, n_inputs, factor):
    ...         self.n_inputs = self.units = n_inputs
    ...         self.factor = np.full(n_inputs, float(factor))
    ...     def predict(self, x, backend=None):
    ...         return x * self.factor
    ...     def backward(self, x, grad_output, slots, backend=None,
    ...                  ones=None, grad_input=None, input_gradient=True,
    ...                  preactivation=False):
    ...         return [], grad_output * self.factor if input_gradient else None
    >>> net = Network(2, random_state=0).add(Scale(2, 10.0))
    >>> net = net.add_layer(1, "identity")
    >>> net.predict(np.ones((1, 2))).shape
    (1, 1)
    """

    parameter_names = ()
    penalized = ()
    state_names = ()
    activation = None
    dropout = 0.0
    #: Attributes a fit adds and :meth:`release` (and pickling) drop; a
    #: subclass that keeps more per batch extends it.
    transient = _TRAINING_STATE
    #: True when, on numpy, :meth:`backward` always returns the ``slots`` it
    #: was given, written: the parameter store then checks nothing per step.
    #: False (the default) lets it return new arrays, which are copied in.
    fills_slots = False

    # -- parameters and state ---------------------------------------------------

    def get_parameters(self):
        """The trained arrays, in the order of :attr:`parameter_names`."""
        return [getattr(self, name) for name in self.parameter_names]

    def set_parameters(self, parameters):
        """Point the layer at new parameter arrays, in the order of :attr:`parameter_names`."""
        for name, array in zip(self.parameter_names, parameters, strict=True):
            setattr(self, name, array)

    def get_state(self):
        """The non-trainable arrays, in the order of :attr:`state_names`."""
        return [getattr(self, name) for name in self.state_names]

    def set_state(self, state):
        """Point the layer at new state arrays, in the order of :attr:`state_names`."""
        for name, array in zip(self.state_names, state, strict=True):
            setattr(self, name, array)

    @property
    def n_params(self):
        """The number of trained values."""
        return sum(math.prod(tuple(p.shape)) for p in self.get_parameters())

    def initialize(self, rng, dtype=np.float64):
        """Draw new initial parameters from ``rng`` (nothing to draw by default)."""

    # -- computing ----------------------------------------------------------------

    def allocate(self, batch_size, dtype, backend=NUMPY):
        """Make what a training step needs for up to ``batch_size`` rows.

        The base class makes the buffer where the gradient with respect to
        the layer's output arrives (numpy only; see :meth:`delta_view`).
        """
        self._delta = backend.buffer((batch_size, self.units), dtype)

    def release(self):
        """Drop the training buffers and the last batch's values."""
        for name in self.transient:
            self.__dict__.pop(name, None)

    def delta_view(self, n):
        """Where the gradient with respect to this layer's output may be written, for ``n`` rows.

        A numpy buffer of shape ``(n, units)``, or None (the array API makes no
        buffers). The layer after this one may write into it, or return a new
        array instead.
        """
        return first_rows(self.__dict__.get("_delta"), n)

    def predict(self, x, backend=NUMPY):
        """Return the layer's output for ``x``, of shape ``(n, units)``."""
        raise NotImplementedError(f"{type(self).__name__} must define predict(x, backend).")

    def forward_train(self, x, rng, backend=NUMPY):
        """Forward a training batch and keep what :meth:`backward` needs; return the output.

        ``rng`` is the network's numpy Generator, for layers that draw on the
        host. A layer whose ``dropout`` is not 0 also finds, during a fit, the
        fit's dropout draws in ``_draws``: a
        :class:`~sknet.backends.random.DropoutDraws` and the layer's index,
        for masks computed on the batch's device (see
        :meth:`sknet.backends.Backend.dropout`). By default, a training batch
        is forwarded as :meth:`predict` forwards it and :meth:`backward`
        receives that batch's input.
        """
        return self.predict(x, backend)

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
        """Back-propagate the last batch's gradient.

        Parameters
        ----------
        x : array of shape (n, n_inputs)
            The batch's input, as given to :meth:`forward_train`.
        grad_output : array of shape (n, units)
            The gradient of the loss with respect to the layer's output (numpy
            may overwrite it). With ``preactivation=True`` (the output layer of
            a natural loss pair, see :attr:`activation`), with respect to the
            input of that activation.
        slots : list
            One per parameter: a numpy array the gradient may be written into,
            or None.
        backend : backend, default: numpy's
        ones : array of shape (n,), optional
            A vector of ones (for sums over rows as products).
        grad_input : array of shape (n, n_inputs), optional
            A numpy buffer the input gradient may be written into.
        input_gradient : bool, default=True
            False for a first layer: its input needs no gradient.
        preactivation : bool, default=False

        Returns
        -------
        gradients : list of arrays
            The gradients of the parameters, in the order of
            :meth:`get_parameters` (the slots, written, or new arrays).
        grad_input : array of shape (n, n_inputs) or None
            The gradient with respect to ``x``; None without ``input_gradient``.
        """
        raise NotImplementedError(f"{type(self).__name__} must define backward(...).")

    # -- records ----------------------------------------------------------------

    def get_config(self):
        """The layer's settings as a JSON object (``n_inputs`` and the arrays excluded).

        :meth:`from_config` builds the layer again from it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} defines no get_config(), so it cannot be saved."
        )

    @classmethod
    def from_config(cls, config, n_inputs, rng=None):
        """Build a layer from :meth:`get_config`'s record and its input width.

        Its arrays are then set from the file (:meth:`set_parameters`,
        :meth:`set_state`). By default, ``cls(n_inputs, **config)``.
        """
        return cls(n_inputs, **config)

    def to_onnx(self, graph, x):
        """Add the layer's nodes to an ONNX graph; return the name of its output.

        ``graph`` (see :mod:`sknet.onnx`) adds nodes with
        ``graph.node(op_type, inputs, **attributes)``, constants with
        ``graph.constant(array)`` and activations with
        ``graph.activation(activation, name)``; ``graph.dtype`` is the numpy
        dtype the graph computes in.
        """
        raise NotImplementedError(f"{type(self).__name__} has no ONNX translation (to_onnx).")

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self.transient:
            state.pop(name, None)
        return state

    def __repr__(self):
        return f"{type(self).__name__}(n_inputs={self.n_inputs}, units={self.units})"


class _CachingLayer(Layer):
    """A layer written as one ``_forward(x, xp) -> (output, cache)``.

    Prediction drops the cache; a training batch keeps it in ``_cache`` for
    :meth:`backward`. The layers of :mod:`sknet.embeddings` and
    :mod:`sknet.normalization` are written this way.
    """

    transient = (*Layer.transient, "_cache")

    def _forward(self, x, xp):
        raise NotImplementedError

    def predict(self, x, backend=NUMPY):
        """Return the layer's output for ``x``."""
        return self._forward(x, backend.xp)[0]

    def forward_train(self, x, rng, backend=NUMPY):
        """Forward a training batch and keep what :meth:`backward` needs."""
        output, self._cache = self._forward(x, backend.xp)
        return output


class Dense(Layer):
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
        return self.count_parameters(self.n_inputs, self.units)

    @staticmethod
    def count_parameters(n_inputs, units):
        """The number of weights and biases of a layer of this shape, without building one.

        Examples
        --------
        >>> from sknet import Dense
        >>> Dense.count_parameters(3, 2)
        8
        """
        return units * (n_inputs + 1)

    # -- the layer protocol: parameters ---------------------------------------

    parameter_names = ("weights", "bias")
    #: Which parameters the L2 penalty applies to: the weights, not the bias.
    penalized = (True, False)
    #: numpy: backward always writes the parameter gradients into their slots.
    fills_slots = True

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

    def delta_view(self, n):
        """Where the gradient with respect to this layer's output arrives, for ``n`` rows.

        A buffer with numpy (the next layer's :meth:`backward` writes into it);
        None with the array API.
        """
        return first_rows(self._delta, n)

    def forward_train(self, x, rng, backend=NUMPY):
        """Forward a batch ``x`` and keep what :meth:`backward` needs; return the output.

        With dropout, a share ``dropout`` of the outputs is zeroed. In a fit
        the trainer gives the layer its draws (``_draws``: a
        :class:`~sknet.backends.random.DropoutDraws` and the layer's index),
        and the mask is computed where the batch lives, the same on every
        device; called on its own, the layer draws a new key from ``rng``.
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
        draws, index = self.__dict__.get("_draws") or (DropoutDraws.from_rng(rng), 0)
        out, mask = backend.dropout(
            a, self.dropout, draws, index, first_rows(self._mask, n), first_rows(self._out, n)
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

    # -- the layer protocol: records ---------------------------------------------

    def get_config(self):
        """The layer's settings for the model file: units, activation, dropout, init.

        Raises
        ------
        ValueError
            If the activation is not a registered one (a name brings it back).

        Examples
        --------
        >>> from sknet import Dense
        >>> Dense(3, 2, activation="tanh").get_config()
        {'units': 2, 'activation': 'tanh', 'dropout': 0.0, 'init': 'auto'}
        """
        name = activation_name(self.activation)
        if name is None:
            raise ValueError(
                f"Cannot save activation {self.activation!r}: only registered "
                "activations can be saved."
            )
        return {"units": self.units, "activation": name, "dropout": self.dropout, "init": self.init}

    @classmethod
    def from_config(cls, config, n_inputs, rng=None):
        """A Dense layer with the settings of :meth:`get_config` (weights drawn from ``rng``)."""
        return cls(
            n_inputs,
            config["units"],
            config["activation"],
            config["dropout"],
            config["init"],
            rng=rng,
        )

    def to_onnx(self, graph, x):
        """``activation(x @ weights + bias)`` in ONNX; dropout is a training matter."""
        # Weights trained on another library or device are written from the
        # host, as Network.save writes them.
        weights, bias = (to_numpy(p) for p in self.get_parameters())
        product = graph.node("MatMul", [x, graph.constant(weights, "coefficient")])
        z = graph.node("Add", [product, graph.constant(bias, "intercepts")])
        return graph.activation(self.activation, z)

    def __repr__(self):
        return (
            f"Dense(n_inputs={self.n_inputs}, units={self.units}, "
            f"activation={self.activation.name!r}, dropout={self.dropout!r})"
        )


#: The layer types a model file can hold, by name. A user layer type that
#: defines ``get_config`` is saved and loaded once registered here
#: (``LAYERS["my_layer"] = MyLayer``); its arrays are written by name. The
#: other built-in types register themselves from their modules, which import
#: this one (sknet.embeddings: periodic_embedding, feature_linear;
#: sknet.normalization: batch_norm, residual); ``import sknet`` loads them.
LAYERS = {"dense": Dense}


def layer_type_name(layer):
    """The name under which the type of ``layer`` is registered in :data:`LAYERS`, or None.

    The exact class counts: a subclass may compute something else.

    Examples
    --------
    >>> from sknet import Dense
    >>> from sknet.layers import layer_type_name
    >>> layer_type_name(Dense(2, 1))
    'dense'
    """
    return registered_name(LAYERS, type(layer))
