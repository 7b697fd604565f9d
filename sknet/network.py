"""The layer engine: a network built layer by layer, trained by one loop.

The network holds the layers and checks the data; :mod:`sknet.training`
runs the loop.
"""

import copy
import math
import numbers

import numpy as np
from scipy import sparse

from ._data import (
    check_sample_weight,
    check_X,
    check_Y,
    is_float32,
    take_rows,
    working_dtype,
)
from ._model_file import load_network, save_network
from .backends import NUMPY, get_backend
from .layers import Dense
from .losses import get_loss, mean_loss
from .optimizers import get_optimizer
from .training import Trainer

__all__ = ["Network"]

# Rows per predict block: 1024 keeps each layer's activations in cache (measured
# faster than 4096 or one block of all rows, in float32 and float64).
_PREDICT_CHUNK = 1024
# On a device, large blocks keep the device busy; blocks only bound the memory.
_DEVICE_PREDICT_CHUNK = 65536


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


def _get_parameters(layer):
    return layer.get_parameters()


def _set_parameters(layer, arrays):
    layer.set_parameters(arrays)


def _get_state(layer):
    return layer.get_state()


def _set_state(layer, arrays):
    layer.set_state(arrays)


# A layer's two kinds of arrays, each read and replaced through the protocol.
_ARRAYS = ((_get_parameters, _set_parameters), (_get_state, _set_state))


def _layer_arrays(layer):
    """A layer's parameters, then its state."""
    return [*layer.get_parameters(), *layer.get_state()]


def _astype(array, dtype):
    return array.astype(dtype, copy=False) if isinstance(array, np.ndarray) else array


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


class Network:
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

    # -- where the parameters live -----------------------------------------------

    def _to_backend(self, backend, dtype):
        """Move every layer's parameters to ``backend`` in ``dtype`` (a numpy dtype)."""
        target = backend.dtype(dtype)
        for layer in self.layers:
            for get, put in _ARRAYS:
                arrays = get(layer)
                if not all(backend.owns(a) and a.dtype == target for a in arrays):
                    put(layer, [backend.convert(a, target) for a in arrays])

    def _layers_on(self, backend, dtype):
        """The layers with their parameters in ``backend`` and ``dtype``: the
        layers themselves, or shallow copies holding converted parameters."""
        layers = []
        for layer in self.layers:
            copied = False
            for get, put in _ARRAYS:
                arrays = get(layer)
                if not all(backend.owns(a) and a.dtype == dtype for a in arrays):
                    if not copied:
                        layer, copied = copy.copy(layer), True
                    put(layer, [backend.convert(a, dtype) for a in arrays])
            layers.append(layer)
        return layers

    # -- parameters ---------------------------------------------------------

    def get_weights(self):
        """Return copies of every layer's arrays, in order.

        Each layer gives its parameters, then its non-trainable state (see
        :class:`sknet.Layer`); a :class:`Dense` layer gives its weights and
        bias.

        Returns
        -------
        list of arrays
            ``[W0, b0, W1, b1, ...]`` for Dense layers, in the library and on
            the device where they live.

        Examples
        --------
        >>> from sknet import Network
        >>> net = Network(3, random_state=0).add_layer(2)
        >>> [w.shape for w in net.get_weights()]
        [(3, 2), (2,)]
        """
        return [get_backend(a).copy(a) for layer in self.layers for a in _layer_arrays(layer)]

    def set_weights(self, weights):
        """Copy arrays, in the order of :meth:`get_weights`, into the layers.

        Parameters
        ----------
        weights : list of array-like
            As returned by :meth:`get_weights`.

        Examples
        --------
        >>> from sknet import Network
        >>> net = Network(3, random_state=0).add_layer(2)
        >>> saved = net.get_weights()
        >>> net.set_weights([w * 0 for w in saved])
        >>> float(net.layers[0].weights.sum())
        0.0
        """
        weights = list(weights)
        expected = sum(len(_layer_arrays(layer)) for layer in self.layers)
        if len(weights) != expected:
            what = (
                "weights and bias of each layer"
                if all(isinstance(layer, Dense) for layer in self.layers)
                else "the parameters and state of each layer"
            )
            raise ValueError(f"Expected {expected} arrays ({what}), got {len(weights)}.")
        new, position = [], 0
        for i, layer in enumerate(self.layers):
            names = (*layer.parameter_names, *layer.state_names)
            arrays = []
            for name, target in zip(names, _layer_arrays(layer), strict=True):
                value = weights[position]
                position += 1
                # The values move to where the layer's arrays live, as a copy
                # on every backend: changing the caller's array afterwards
                # must not change the network (torch on the CPU would share it).
                backend = get_backend(target)
                value = backend.convert(value, target.dtype, copy=not backend.in_place)
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"Layer {i} {name} must have shape {tuple(target.shape)}, "
                        f"got {tuple(value.shape)}."
                    )
                arrays.append(value)
            new.append(arrays)
        for layer, arrays in zip(self.layers, new, strict=True):
            n = len(layer.parameter_names)
            for (get, put), values in zip(_ARRAYS, (arrays[:n], arrays[n:]), strict=True):
                targets = get(layer)
                if all(get_backend(t).in_place for t in targets):
                    for target, value in zip(targets, values, strict=True):
                        target[...] = value
                else:
                    put(layer, values)

    def __sklearn_array_api_convert__(self, converter):
        """A copy of the network whose arrays ``converter`` moved to another library or device.

        scikit-learn's ``move_estimator_to(estimator, xp, device)`` calls this
        hook with its array converter. The copy is independent of this network
        (its parameters and optimizer state are never shared), and predicts,
        trains and saves where its parameters now live.

        Parameters
        ----------
        converter : callable
            Takes an array and returns it in the target namespace and device.

        Returns
        -------
        Network

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Network
        >>> net = Network(2, random_state=0).add_layer(1, "identity")
        >>> moved = net.__sklearn_array_api_convert__(np.asarray)
        >>> moved.layers[0].weights is net.layers[0].weights
        False
        """
        moved = copy.deepcopy(self)  # first: nothing the converter returns is shared

        def convert(array):
            array = converter(array)
            if isinstance(array, np.ndarray) and not array.flags.writeable:
                array = array.copy()  # numpy trains in place (DLPack may hand a read-only view)
            return array

        for layer in moved.layers:
            layer.release()
            for get, put in _ARRAYS:
                put(layer, [convert(a) for a in get(layer)])
        if moved._array_dtype() is not None and moved._dtype_name == "float64":
            # A device without float64 (scikit-learn then converts to float32).
            if is_float32(moved._array_dtype()):
                moved._dtype_name = "float32"
        optimizer = getattr(moved, "optimizer_", None)
        state = getattr(optimizer, "_state", None)
        if isinstance(state, tuple):  # the stochastic optimizers' moments
            optimizer._state = tuple(None if s is None else convert(s) for s in state)
        return moved

    def _set_dtype(self, dtype):
        self._to_backend(NUMPY, dtype)

    # -- training -----------------------------------------------------------

    def fit(
        self,
        X,
        Y,
        *,
        loss="squared_error",
        optimizer="adam",
        epochs=100,
        batch_size=32,
        learning_rate=None,
        alpha=0.0,
        sample_weight=None,
        shuffle=True,
        validation_fraction=0.0,
        validation_data=None,
        target_loss=None,
        callbacks=(),
        warm_start=False,
        verbose=0,
    ):
        """Train the network from its current weights.

        The objective is the sample-weighted mean of the loss plus
        ``alpha / (2 * sum of weights) * sum(||W||^2)`` over the weight matrices
        (not the biases), computed per mini-batch as scikit-learn's MLP does.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
        Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
            Targets: one-hot rows for ``log_loss``, indicator columns for
            ``binary_log_loss``, values for regression losses.
        loss : str or Loss, default="squared_error"
            See :mod:`sknet.losses`. It must suit the output activation.
        optimizer : {"adam", "sgd", "lbfgs"} or optimizer object, default="adam"
        epochs : int, default=100
            Passes over the data (iterations for L-BFGS).
        batch_size : int, default=32
            Rows per step, clipped to the number of rows.
        learning_rate : float, optional
            Step size of a named stochastic optimizer (its default otherwise).
        alpha : float, default=0.0
            L2 penalty on the weights.
        sample_weight : array-like of shape (n_samples,), optional
        shuffle : bool, default=True
            Reshuffle the rows before each epoch.
        validation_fraction : float, default=0.0
            Share of the rows held out at random to record ``val_loss``.
        validation_data : tuple, optional
            ``(X_val, Y_val)`` or ``(X_val, Y_val, sample_weight_val)`` to
            record ``val_loss`` on, instead of a random hold-out.
        target_loss : float, optional
            Stop once an epoch's training loss is at or below this value.
        callbacks : sequence of callable, default=()
            Each is called after every epoch as ``callback(network, logs)``
            with ``logs = {"epoch", "loss", "val_loss", "val_prediction"}``
            (``val_prediction``: the network's output on the validation data,
            in their library and on their device, from the forward pass that
            gave ``val_loss``; None without validation); a true return value
            stops training. A number a callback adds to ``logs`` is shown on
            the epoch's ``verbose`` line.
        warm_start : bool, default=False
            Keep the optimizer's state (moments, step count, learning rate)
            from the previous fit and append to ``history_``.
        verbose : int, default=0
            1 prints one line per epoch (per iteration for L-BFGS): its number
            in ``history_``, the losses, rows per second, the time elapsed and
            an estimate of the time left. In a terminal, the line of the epoch
            under way updates as its batches go by.

        Returns
        -------
        self : Network

        Raises
        ------
        ValueError
            For invalid data or settings, and when the loss stops being finite
            (the weights are then those of the last finite step).
        """
        self._check_built()
        loss = get_loss(loss)
        check_output = getattr(loss, "check_output_activation", None)
        if check_output is not None and self.layers[-1].activation is not None:
            check_output(self.layers[-1].activation)
        optimizer = self._resolve_optimizer(optimizer, learning_rate, warm_start)
        epochs = _check_positive_int("epochs", epochs)
        batch_size = _check_positive_int("batch_size", batch_size)
        if not (isinstance(alpha, numbers.Real) and alpha >= 0):
            raise ValueError(f"alpha must be a non-negative number, got {alpha!r}.")
        if not (isinstance(validation_fraction, numbers.Real) and 0 <= validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}.")
        if target_loss is not None and not (
            isinstance(target_loss, numbers.Real)
            and not isinstance(target_loss, bool)
            and not math.isnan(target_loss)
        ):
            raise ValueError(f"target_loss must be None or a number, got {target_loss!r}.")
        if optimizer.full_batch and any(layer.dropout for layer in self.layers):
            raise ValueError(
                f"Dropout needs a stochastic optimizer (sgd or adam), not {optimizer.name!r}."
            )

        # The data's library and device decide where training runs (numpy
        # data may take compiled kernels for large steps: sknet-layers[fast]).
        n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
        rows = n_rows if optimizer.full_batch else min(batch_size, n_rows)
        n_params = sum(
            int(np.prod(p.shape)) for layer in self.layers for p in layer.get_parameters()
        )
        backend = get_backend(X, step_work=n_params * rows)
        dtype = working_dtype(self.dtype, X)
        X = check_X(X, self.n_inputs, dtype, min_rows=1, backend=backend)
        Y = check_Y(Y, self.n_outputs, X.shape[0], dtype, backend)
        sample_weight = check_sample_weight(sample_weight, X.shape[0], dtype, backend)
        if sample_weight is not None:
            xp = backend.xp
            if not bool(xp.all(keep := sample_weight > 0)):
                # Zero-weight rows change nothing but would take batch slots.
                X, Y, sample_weight = X[keep], Y[keep], sample_weight[keep]
            if bool(xp.all(sample_weight == sample_weight[0])):
                # Equal weights are no weights (same objective, same rounding),
                # but their sum c * n still divides the penalty, as in
                # scikit-learn's MLP: alpha / c keeps the objective continuous.
                alpha = float(alpha) / float(sample_weight[0])
                sample_weight = None
        check_target = getattr(loss, "check_target", None)
        if check_target is not None:
            check_target(Y)
        if validation_data is not None:
            validation = self._check_validation_data(validation_data, dtype, backend)
        elif validation_fraction:
            X, Y, sample_weight, validation = self._split(
                X, Y, sample_weight, validation_fraction, backend
            )
        else:
            validation = None

        self._to_backend(backend, dtype)
        if not warm_start:
            self.history_ = {"loss": [], "val_loss": []}
            self.samples_seen_ = 0
        self.optimizer_ = optimizer
        trainer = Trainer(
            self,
            loss,
            float(alpha),
            backend.dtype(dtype),
            validation,
            target_loss,
            list(callbacks),
            verbose,
            backend=backend,
        )
        # Which parameters are penalised (the weights, not the biases), for
        # optimizers that treat them apart.
        trainer.store.tell(optimizer)
        try:
            if optimizer.full_batch:
                trainer.fit_full_batch(X, Y, sample_weight, optimizer, epochs)
            else:
                size, state_dtype = trainer.store.params.shape[0], backend.dtype(dtype)
                on_device = () if backend.in_place else (backend,)
                if not (warm_start and optimizer.is_ready(size, state_dtype, *on_device)):
                    optimizer.reset(size, state_dtype, *on_device)
                trainer.fit_stochastic(X, Y, sample_weight, optimizer, epochs, batch_size, shuffle)
        finally:
            trainer.release()
        return self

    def _resolve_optimizer(self, optimizer, learning_rate, warm_start):
        previous = getattr(self, "optimizer_", None)
        if (
            warm_start
            and isinstance(optimizer, str)
            and previous is not None
            and getattr(previous, "name", None) == optimizer.lower()
        ):
            return previous
        return get_optimizer(optimizer, learning_rate)

    def _check_validation_data(self, validation_data, dtype, backend=NUMPY):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be (X_val, Y_val) or (X_val, Y_val, sample_weight_val)."
            )
        X_val = check_X(validation_data[0], self.n_inputs, dtype, min_rows=1, backend=backend)
        Y_val = check_Y(validation_data[1], self.n_outputs, X_val.shape[0], dtype, backend)
        sw = validation_data[2] if len(validation_data) == 3 else None
        return X_val, Y_val, check_sample_weight(sw, X_val.shape[0], dtype, backend)

    def _split(self, X, Y, sample_weight, fraction, backend=NUMPY):
        n = X.shape[0]
        n_val = math.ceil(fraction * n)
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"validation_fraction={fraction} of {n} rows leaves an empty training "
                "or validation set."
            )
        order = self._rng.permutation(n)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        sw_train = sw_val = None
        if sample_weight is not None:  # all positive: zero-weight rows are gone
            sw_train, sw_val = (
                take_rows(backend, sample_weight, train),
                take_rows(backend, sample_weight, val),
            )
        X_train, Y_train = take_rows(backend, X, train), take_rows(backend, Y, train)
        return (
            X_train,
            Y_train,
            sw_train,
            (take_rows(backend, X, val), take_rows(backend, Y, val), sw_val),
        )

    # -- using ----------------------------------------------------------------

    def predict(self, X):
        """Return the output layer's activations for ``X``.

        For softmax and sigmoid outputs these are probabilities. Dropout is
        never applied.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Network
        >>> net = Network(2, random_state=0).add_layer(3, "softmax")
        >>> net.predict(np.zeros((1, 2)))
        array([[0.33333333, 0.33333333, 0.33333333]])
        """
        self._check_built()
        backend = get_backend(X)
        if backend.in_place and not sparse.issparse(X) and not hasattr(X, "dtype"):
            X = np.asarray(X)
        # A dtype given to the network wins; otherwise float32 data on a
        # float32 network stay float32 and anything else is float64.
        dtype = self.dtype
        if dtype is None:
            network_dtype = self._array_dtype()
            both_float32 = is_float32(X.dtype) and (
                is_float32(network_dtype) if network_dtype is not None else True
            )
            dtype = np.dtype(np.float32 if both_float32 else np.float64)
        X = check_X(X, self.n_inputs, dtype, backend=backend)
        return self._output(X, backend, backend.dtype(dtype))

    def _output(self, X, backend, dtype):
        """The output layer's activations for ``X``, already checked and in ``dtype``.

        What :meth:`predict` returns once it has checked ``X``; a fit calls it
        for its validation data, checked once per fit.
        """
        # Parameters that live elsewhere (another library or device) are
        # copied for this call; the network keeps its own.
        layers = self._layers_on(backend, dtype)
        # numpy writes the blocks into one array; a backend that writes
        # nothing in place (no buffer) concatenates them.
        out = backend.buffer((X.shape[0], self.n_outputs), dtype)
        if out is None:
            blocks = []
            n = X.shape[0]
            # At least one block: 0 rows give an empty (0, n_outputs) array,
            # in X's library and on its device, as numpy's path does.
            for start in range(0, max(n, 1), _DEVICE_PREDICT_CHUNK):
                # Slices stay in bounds: the standard leaves others unspecified.
                h = X[start : min(start + _DEVICE_PREDICT_CHUNK, n), ...]
                for layer in layers:
                    h = layer.predict(h, backend)
                blocks.append(h)
            return blocks[0] if len(blocks) == 1 else backend.xp.concat(blocks, axis=0)
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            h = X[start : start + _PREDICT_CHUNK]
            for layer in layers:
                h = layer.predict(h)
            out[start : start + h.shape[0]] = h
        return out

    def loss(self, X, Y, loss, sample_weight=None):
        """Return the sample-weighted mean ``loss`` of the predictions on ``X``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
        Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
        loss : str or Loss
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Network
        >>> net = Network(1, random_state=0).add_layer(1, "identity")
        >>> net.set_weights([np.ones((1, 1)), np.zeros(1)])
        >>> net.loss([[1.0], [2.0]], [1.0, 4.0], "squared_error")
        1.0
        """
        loss = get_loss(loss)
        prediction = self.predict(X)
        backend = get_backend(prediction)
        dtype = np.dtype(np.float32 if is_float32(prediction.dtype) else np.float64)
        Y = check_Y(Y, self.n_outputs, prediction.shape[0], dtype, backend)
        sample_weight = check_sample_weight(sample_weight, prediction.shape[0], dtype, backend)
        return mean_loss(loss, Y, prediction, sample_weight)

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
