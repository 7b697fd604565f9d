"""The layer engine: a network built layer by layer, trained by one loop.

The network holds the layers and checks the data; :mod:`sknet.training`
runs the loop. Its roles beyond building are mixins in modules of their own:
the fit (``_network_fit``), prediction and loss (``_network_predict``), and
where its arrays live, with ``get_weights`` / ``set_weights``
(``_network_weights``).
"""

import numbers

import numpy as np

from ._data import is_float32
from ._model_file import load_network, save_network
from ._network_fit import _check_positive_int, _FittingMixin
from ._network_predict import _PredictingMixin
from ._network_weights import _WeightsMixin
from .layers import Dense

__all__ = ["Network"]


def _as_generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    raise ValueError(
        "random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {random_state!r}."
    )


# What Network.add asks of a layer (see sknet.Layer for the meaning of each).
_PROTOCOL = (
    "n_inputs",
    "units",
    "parameter_names",
    "penalized",
    "state_names",
    "activation",
    "dropout",
    "get_parameters",
    "set_parameters",
    "get_state",
    "set_state",
    "allocate",
    "release",
    "delta_view",
    "predict",
    "forward_train",
    "backward",
)


def _astype(array, dtype):
    return array.astype(dtype, copy=False) if isinstance(array, np.ndarray) else array


class Network(_WeightsMixin, _FittingMixin, _PredictingMixin):
    """A feed-forward neural network built one layer at a time.

    :meth:`add_layer` appends a fully connected :class:`Dense` layer;
    :meth:`add` appends any layer that follows the protocol of
    :class:`sknet.Layer`.

    Parameters
    ----------
    n_inputs : int
        The number of input features.
    random_state : int, numpy Generator, RandomState or None, default=None
        The seed of everything random: initial weights, shuffling, dropout and
        the validation split. The same seed and data give bit-identical fits.
    dtype : {None, "float32", "float64"}, default=None
        The floating-point type of weights and computations. None follows the
        data: float32 data train (and predict) in float32, anything else in
        float64.

    Attributes
    ----------
    layers : list of layers
        The layers, input to output (:class:`Dense` or any :class:`sknet.Layer`).
    history_ : dict
        ``{"loss": [...], "val_loss": [...]}``, one entry per epoch (per
        iteration for L-BFGS); ``val_loss`` stays empty without validation data.
    optimizer_ : optimizer object
        The optimizer of the last fit, with its state.
    samples_seen_ : int
        The number of training rows processed by stochastic optimizers.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Network
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5])
    >>> net = Network(n_inputs=3, random_state=0)
    >>> net = net.add_layer(16, activation="tanh")
    >>> net = net.add_layer(1, activation="identity")
    >>> net = net.fit(X, y, loss="squared_error", optimizer="lbfgs", epochs=500)
    >>> bool(np.abs(net.predict(X).ravel() - y).max() < 0.05)
    True
    """

    def __init__(self, n_inputs, random_state=None, dtype=None):
        self.n_inputs = _check_positive_int("n_inputs", n_inputs)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype not in (np.float32, np.float64):
                raise ValueError(f"dtype must be None, float32 or float64, got {dtype}.")
        # Kept as a name: plain data, which skops loads without trusting numpy.dtype.
        self._dtype_name = None if dtype is None else dtype.name
        self.random_state = random_state
        self._rng = _as_generator(random_state)
        self.layers = []
        self.history_ = {"loss": [], "val_loss": []}
        self.samples_seen_ = 0

    @property
    def dtype(self):
        """The numpy dtype given at construction, or None to follow the data."""
        return None if self._dtype_name is None else np.dtype(self._dtype_name)

    def __setstate__(self, state):
        # Pickles of sknet 0.1.0 kept the dtype itself.
        if "dtype" in state:
            dtype = state.pop("dtype")
            state["_dtype_name"] = None if dtype is None else np.dtype(dtype).name
        self.__dict__.update(state)

    # -- building -----------------------------------------------------------

    def add(self, layer):
        """Append a layer; return the network so calls chain.

        Parameters
        ----------
        layer : Layer
            Any object that follows the layer protocol (see :class:`sknet.Layer`),
            whose ``n_inputs`` is the width of the previous layer's output (or
            the network's ``n_inputs`` for a first layer). Its arrays take the
            network's dtype.

        Returns
        -------
        self : Network

        Raises
        ------
        TypeError
            If ``layer`` lacks a part of the layer protocol.
        ValueError
            If its input width does not match.

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Dense, Network
        >>> net = Network(3, random_state=0)
        >>> net = net.add(Dense(3, 4, "tanh", rng=np.random.default_rng(0)))
        >>> net.add_layer(1, "identity").layers[1].n_inputs
        4
        """
        missing = [name for name in _PROTOCOL if not hasattr(layer, name)]
        if missing:
            raise TypeError(
                f"{layer!r} is not a layer: it has no {', '.join(missing)} (see sknet.Layer, "
                "the layer protocol, which a subclass of it follows)."
            )
        parameters, state = layer.get_parameters(), layer.get_state()
        counts = (len(layer.parameter_names), len(layer.penalized), len(parameters))
        if len(set(counts)) != 1 or len(layer.state_names) != len(state):
            raise ValueError(
                f"{layer!r} is not a consistent layer: parameter_names, penalized and "
                f"get_parameters() must have one entry per parameter (got {counts[0]}, "
                f"{counts[1]} and {counts[2]}), state_names and get_state() one per "
                f"state array (got {len(layer.state_names)} and {len(state)})."
            )
        n_in = self.layers[-1].units if self.layers else self.n_inputs
        if layer.n_inputs != n_in:
            raise ValueError(
                f"The layer takes {layer.n_inputs} inputs, but the "
                f"{'previous layer gives' if self.layers else 'network has'} {n_in}."
            )
        # A layer added to a network fitted in float32 is float32 too: the
        # network keeps one dtype (and predicts the same once saved and loaded).
        dtype = self.dtype
        if dtype is None and self.layers:
            dtype = self._array_dtype()
        if dtype is not None:
            if any(isinstance(a, np.ndarray) and a.dtype != dtype for a in (*parameters, *state)):
                layer.set_parameters([_astype(a, dtype) for a in parameters])
                layer.set_state([_astype(a, dtype) for a in state])
        self.layers.append(layer)
        return self

    def _array_dtype(self):
        """The numpy dtype of the layers' arrays (the first one found; float32 or
        float64 whatever their library), or None without any."""
        for layer in self.layers:
            for array in (*layer.get_parameters(), *layer.get_state()):
                return np.dtype(np.float32 if is_float32(array.dtype) else np.float64)
        return None

    def add_layer(self, units, activation="relu", dropout=0.0, init="auto"):
        """Append a fully connected layer; return the network so calls chain.

        Parameters
        ----------
        units : int
            The number of neurons.
        activation : str or Activation, default="relu"
            See :mod:`sknet.activations`. ``softmax`` and ``exp`` only on the
            output layer.
        dropout : float, default=0.0
            The share of this layer's outputs dropped during training.
        init : str, default="auto"
            The weight initialiser (see :class:`Dense`).

        Returns
        -------
        self : Network

        Examples
        --------
        >>> from sknet import Network
        >>> net = Network(4, random_state=0).add_layer(8).add_layer(2, "softmax")
        >>> [layer.units for layer in net.layers]
        [8, 2]
        """
        n_in = self.layers[-1].units if self.layers else self.n_inputs
        layer = Dense(n_in, units, activation=activation, dropout=dropout, init=init, rng=self._rng)
        return self.add(layer)

    @property
    def n_outputs(self):
        """The number of output units."""
        self._check_built()
        return self.layers[-1].units

    def _check_built(self):
        if not self.layers:
            raise ValueError("The network has no layers; call add_layer first.")
        for layer in self.layers[:-1]:
            activation = layer.activation
            if activation is not None and getattr(activation, "output_only", False):
                raise ValueError(
                    f"The {activation.name!r} activation can only be used on the output layer."
                )
        if self.layers[-1].dropout:
            raise ValueError("The output layer cannot have dropout.")

    # -- persistence ----------------------------------------------------------

    def save(self, path):
        """Write the architecture (as JSON) and the weights to one ``.npz`` file.

        The file loads with ``allow_pickle=False``: opening it runs no code. A
        path is written exactly as given (``"model"`` writes ``model``, no
        extension is added) and atomically: a save that fails part-way (full
        disk, Ctrl-C) leaves any previous file at ``path`` as it was.

        Parameters
        ----------
        path : str, path-like or file object

        Raises
        ------
        ValueError
            If the network cannot be saved (e.g. a custom activation object).
        IsADirectoryError
            If ``path`` is a directory.

        Examples
        --------
        >>> import io, numpy as np
        >>> from sknet import Network
        >>> net = Network(2, random_state=0).add_layer(3, "tanh")
        >>> net = net.add_layer(1, "identity")
        >>> buffer = io.BytesIO()
        >>> net.save(buffer)
        >>> _ = buffer.seek(0)
        >>> loaded = Network.load(buffer)
        >>> X = [[1.0, 2.0]]
        >>> bool(np.array_equal(loaded.predict(X), net.predict(X)))
        True
        """
        save_network(self, path)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`.

        The whole file is checked (architecture, then the shape and dtype of
        every array) before the network is built.

        Parameters
        ----------
        path : str, path-like or file object

        Returns
        -------
        Network

        Raises
        ------
        ValueError
            If the file is not an sknet network, is damaged or malformed, or
            has an unknown format version.
        FileNotFoundError, IsADirectoryError
            If ``path`` does not exist or is a directory.

        Examples
        --------
        >>> import io
        >>> from sknet import Network
        >>> Network.load(io.BytesIO(b"not a model"))
        Traceback (most recent call last):
        ...
        ValueError: The file object is not an sknet Network file: ...
        """
        return load_network(cls, path)

    def summary(self):
        """Return a table of the layers, their parameters and the memory they take.

        One row per layer: its name and type, output shape, activation,
        dropout rate and number of parameters; then the total, trainable and
        non-trainable parameter counts with the memory each takes in the
        weights' dtype. The table is returned as text: ``print`` it.

        .. versionadded:: 0.2

        Returns
        -------
        str

        Examples
        --------
        >>> from sknet import Network
        >>> net = Network(n_inputs=64, random_state=0, dtype="float32")
        >>> net = net.add_layer(128, activation="relu")
        >>> net = net.add_layer(64, activation="tanh", dropout=0.1)
        >>> net = net.add_layer(10, activation="softmax")
        >>> print(net.summary())
        Network: 64 input features
        ==================================================================
        Layer (type)      Output shape   Activation   Dropout       Params
        ------------------------------------------------------------------
        dense (Dense)     (None, 128)    relu         -              8,320
        dense_1 (Dense)   (None, 64)     tanh         0.1            8,256
        dense_2 (Dense)   (None, 10)     softmax      -                650
        ==================================================================
        Total params: 17,226 (67.29 KiB)
        Trainable params: 17,226 (67.29 KiB)
        Non-trainable params: 0 (0 B)
        """
        from ._summary import summary_table

        return summary_table(self)

    def __repr__(self):
        def describe(layer):
            units = getattr(layer, "units", None)
            activation = getattr(getattr(layer, "activation", None), "name", None)
            if units is None or activation is None:
                return repr(layer)  # a layer type of its own says what it is
            dropout = getattr(layer, "dropout", 0.0)
            return f"{units} {activation}" + (f" dropout={dropout:g}" if dropout else "")

        layers = ", ".join(describe(layer) for layer in self.layers)
        return f"Network(n_inputs={self.n_inputs}, layers=[{layers}])"
