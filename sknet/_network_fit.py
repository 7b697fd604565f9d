"""Network.fit: checks the data and settings once, then hands the fit to the Trainer.

Examples
--------
>>> import numpy as np
>>> from sknet import Network
>>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
>>> net = Network(1, random_state=0).add_layer(1, "identity")
>>> net = net.fit(X, 2 * X, epochs=3, validation_fraction=0.25)
>>> len(net.history_["loss"]), len(net.history_["val_loss"])
(3, 3)
"""

import math
import numbers

import numpy as np

from ._data import check_sample_weight, check_X, check_Y, take_rows, working_dtype
from .backends import NUMPY, get_backend
from .losses import get_loss
from .optimizers import get_optimizer
from .training import Trainer

__all__ = []  # Network's machinery: its public names are Network's


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


class _FittingMixin:
    """The network's fit: arguments and data checked, then the Trainer's loop."""

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
