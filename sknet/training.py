"""The one training loop of :class:`sknet.Network`, for every backend.

While a network trains, every parameter lives in one flat vector (see
:mod:`sknet.backends.parameters`): optimizers update all layers with a few vectorised
operations, the L2 penalty reads one contiguous prefix, and L-BFGS needs no
packing. With numpy, every buffer a step uses is made once per fit; with an
array-API library, nothing per batch comes back to the host: the batches are
gathered on the device and the epoch's loss is read once per epoch.
"""

import math
import sys
import time

import numpy as np
from scipy import sparse

from .backends import NUMPY, first_rows
from .backends.random import DropoutDraws
from .losses import mean_loss, output_delta

__all__ = ["DivergenceError", "Trainer"]


class Diverged(Exception):
    """Raised inside the loop when the loss stops being finite."""


class DivergenceError(ValueError):
    """Training stopped because the loss stopped being finite.

    A ``ValueError``, so code that catches bad settings catches it too; the
    estimators catch it by name to finish an early-stopped fit with the best
    weights, as scikit-learn's MLP does.

    Attributes
    ----------
    epoch : int
        The epoch (1-based) in which the loss stopped being finite.

    Examples
    --------
    >>> from sknet.training import DivergenceError
    >>> issubclass(DivergenceError, ValueError)
    True
    """

    def __init__(self, message, epoch):
        super().__init__(message)
        self.epoch = epoch


class Trainer:
    """Trains the layers of a network on one data set.

    The loop is written once; the backend (numpy, or an array-API library on
    some device) does the arithmetic, and the layers do their own forward and
    backward passes through the layer protocol (``get_parameters``,
    ``set_parameters``, ``penalized``, ``allocate``, ``forward_train``,
    ``backward``, ``release``).

    Parameters
    ----------
    network : Network
        The network whose layers are trained; its ``history_``,
        ``samples_seen_`` and random generator are updated.
    loss : Loss
    alpha : float
        The L2 penalty on the weights.
    dtype : dtype
        The training dtype, numpy's or the backend's.
    validation : tuple or None
        ``(X_val, Y_val, sample_weight_val)`` for the validation loss.
    target_loss : float or None
    callbacks : list of callable
    verbose : int
    backend : backend, default: numpy's
        See :mod:`sknet.backends`.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Network
    >>> from sknet.losses import get_loss
    >>> from sknet.training import Trainer
    >>> net = Network(2, random_state=0).add_layer(1, "identity")
    >>> loss = get_loss("squared_error")
    >>> trainer = Trainer(net, loss, 0.0, np.dtype("float64"), None, None, [], 0)
    >>> trainer.params.size  # two weights, then one bias, in one flat array
    3
    >>> bool(np.shares_memory(net.layers[0].weights, trainer.params))
    True
    """

    def __init__(
        self,
        network,
        loss,
        alpha,
        dtype,
        validation,
        target_loss,
        callbacks,
        verbose,
        backend=NUMPY,
    ):
        self.network = network
        self.layers = network.layers
        self.loss = loss
        natural = getattr(loss, "natural_activation", None)
        self.fused = natural is not None and isinstance(self.layers[-1].activation, natural)
        self.alpha = alpha
        self.dtype = dtype
        self.validation = validation
        self.target_loss = target_loss
        self.callbacks = callbacks
        self.verbose = verbose
        self.backend = backend
        self.store = backend.parameter_store(self.layers, dtype)
        # Layers whose training forward weighs the rows (batch statistics):
        # each batch hands them its row weights, normalised to sum to one.
        self._weighing = [layer for layer in self.layers if getattr(layer, "weighs_rows", False)]

    @property
    def params(self):
        """The flat parameter vector (see :mod:`sknet.backends.parameters`)."""
        return self.store.params

    @property
    def grad(self):
        """The flat gradient of the last batch, in the layout of :attr:`params`."""
        return self.store.grad

    def _allocate(self, batch_size):
        backend = self.backend
        for layer in self.layers:
            layer.allocate(batch_size, self.dtype, backend)
        self._scale = backend.buffer((batch_size,), self.dtype)
        self._ones = backend.ones(batch_size, self.dtype)

    def release(self):
        """Drop the per-batch buffers."""
        for layer in self.layers:
            layer.release()

    def forward_backward(self, X, Y, sample_weight):
        """One batch: forward, loss, then the gradient into ``self.store.grad``.

        Returns the batch objective (weighted mean loss plus penalty) and the
        batch's total weight (0 for a batch whose weights are all zero, which
        is then skipped). With the numpy backend both are Python floats; with
        the array API they may stay on the device.
        """
        backend = self.backend
        n = X.shape[0]
        if sample_weight is None:
            weight = float(n)
            scale = 1.0 / n
        else:
            weight = backend.total(sample_weight)
            # fit removes zero-weight rows; a direct call may still pass a
            # batch of them, which a host total (numpy's) skips; a total left
            # on a device is never read here.
            if isinstance(weight, float) and weight <= 0:
                return 0.0, 0.0
            scale = backend.row_scale(sample_weight, weight, first_rows(self._scale, n))

        layers = self.layers
        inputs = []
        h = X
        rng = self.network._rng
        for layer in self._weighing:
            layer.row_weights = scale  # 1 / n, or a column of the batch's weights
        for layer in layers:
            inputs.append(h)
            h = layer.forward_train(h, rng, backend)

        objective = backend.loss_sum(self.loss, Y, h, scale)
        if self.alpha:
            objective = objective + self.alpha / (2 * weight) * self.store.penalty(backend)
        if not backend.batch_is_finite(objective):
            raise Diverged

        grad_out = output_delta(self.loss, Y, h, scale, self.fused, layers[-1].delta_view(n))
        ones = self._ones[:n]
        gradients = [None] * len(layers)
        for i in range(len(layers) - 1, -1, -1):
            gradients[i], grad_out = layers[i].backward(
                inputs[i],
                grad_out,
                self.store.gradient_slots(i),
                backend,
                ones,
                grad_input=layers[i - 1].delta_view(n) if i else None,
                input_gradient=i > 0,
                preactivation=self.fused and i == len(layers) - 1,
            )
        self.store.collect_gradients(gradients, self.alpha / weight if self.alpha else 0.0)
        return objective, weight

    def validate(self):
        """The validation loss (a float) and the validation predictions (where they live).

        One forward pass serves both (and the estimators' validation score);
        the validation data were checked once, when the fit began.
        """
        X_val, Y_val, sw_val = self.validation
        network = self.network
        prediction = network._output(X_val, self.backend, self.dtype)
        return mean_loss(self.loss, Y_val, prediction, sw_val), prediction

    # -- the loops ------------------------------------------------------------

    def fit_stochastic(self, X, Y, sample_weight, optimizer, epochs, batch_size, shuffle):
        """Mini-batch training for up to ``epochs`` passes over the data.

        The numpy backend checks the loss of every batch and, when it stops
        being finite, returns to the last step whose loss was finite. An
        array-API backend reads the loss once per epoch and returns to the
        weights of the last finite epoch.
        """
        backend, store = self.backend, self.store
        n = X.shape[0]
        batch_size = min(batch_size, n)
        self._allocate(batch_size)
        # With a single batch a shuffle only reorders a sum: skip it.
        gather = shuffle and n > batch_size
        X_buffer = Y_buffer = sw_buffer = None
        if gather:
            dense = not sparse.issparse(X)
            X_buffer = backend.buffer((batch_size, X.shape[1]), self.dtype) if dense else None
            Y_buffer = backend.buffer((batch_size, Y.shape[1]), Y.dtype)
            sw_buffer = backend.buffer((batch_size,), self.dtype)
        # A backend that makes no buffers (the array API) gathers the epoch's
        # rows at once, and its batches are slices: no kernel per batch.
        whole_epoch = gather and Y_buffer is None
        store.begin()
        progress = _Progress(self, epochs, rows=n)
        rng = self.network._rng
        # Dropout masks come from a key per epoch, the layer and the row (on the device).
        draws = DropoutDraws.for_layers(self.layers, n)
        # Overflow is expected when training diverges; it is detected and
        # reported as one clear error rather than a stream of warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                for _ in range(epochs):
                    store.begin_epoch()
                    # The order is drawn on the host and sent once per epoch.
                    order = backend.indices(rng.permutation(n)) if gather else None
                    if draws is not None:
                        draws.begin_epoch(rng, progress.first + progress.epoch)
                    Xe, Ye, swe = X, Y, sample_weight
                    if whole_epoch:
                        Xe, Ye = backend.gather_rows(X, order), backend.gather_rows(Y, order)
                        if sample_weight is not None:
                            swe = backend.gather_rows(sample_weight, order)
                        order = None
                    losses, weights = [], []
                    for start in range(0, n, batch_size):
                        stop = min(start + batch_size, n)
                        if draws is not None:
                            draws.at(start)
                        if order is None and stop - start == n:
                            # One batch: the arrays themselves (a scipy.sparse
                            # slice would copy the whole matrix every epoch).
                            Xb, Yb, swb = Xe, Ye, swe
                        elif order is None:
                            Xb, Yb = Xe[start:stop, ...], Ye[start:stop, ...]
                            swb = None if swe is None else swe[start:stop]
                        else:
                            idx, m = order[start:stop], stop - start
                            Xb = backend.gather_rows(X, idx, first_rows(X_buffer, m))
                            Yb = backend.gather_rows(Y, idx, first_rows(Y_buffer, m))
                            swb = None
                            if sample_weight is not None:
                                swb = backend.gather_rows(
                                    sample_weight, idx, first_rows(sw_buffer, m)
                                )
                        batch_loss, weight = self.forward_backward(Xb, Yb, swb)
                        if isinstance(weight, float) and not weight:
                            continue
                        # The new parameters replace the current ones in one
                        # assignment: an interrupted step never shows.
                        store.step(optimizer)
                        losses.append(batch_loss)
                        weights.append(weight)
                        progress.step(stop)  # a terminal's line, now and then
                    # The weighted mean of the batches' losses, summed where
                    # they live and read once per epoch.
                    epoch_loss = backend.mean_loss(losses, weights)
                    # The loss, NaN when a weight is not finite: one read.
                    epoch_loss = backend.read_loss(epoch_loss, store.params)
                    if not math.isfinite(epoch_loss):
                        raise Diverged
                    self.network.samples_seen_ += n
                    optimizer.end_epoch(self.network.samples_seen_)
                    if self._end_epoch_on_average(progress, epoch_loss, optimizer):
                        break
                # An optimizer that averages the parameters (averaging="ema")
                # hands its average over as the fit's result.
                average = _average_of(optimizer)
                if average is not None:
                    store.assign(average)
            except Diverged:
                progress.close()
                store.fall_back()  # to the last finite step (numpy) or epoch
                raise self._divergence_error(progress.epoch + 1) from None
            except BaseException:
                progress.close()
                # Ctrl-C (or any error) during an update leaves the current
                # parameters whole: the layers are pointed back at them.
                store.point_layers()
                raise

    def _end_epoch_on_average(self, progress, epoch_loss, optimizer):
        """End the epoch with the averaged parameters in place, when there are any.

        With ``averaging``, the model a fit hands over is the average: the
        validation loss, the estimators' early stopping (which keeps the best
        epoch's weights) and the callbacks therefore see the average, and
        training goes on from the raw parameters.
        """
        average = _average_of(optimizer)
        if average is None or (self.validation is None and not self.callbacks):
            return progress.end_epoch(epoch_loss)
        store = self.store
        # A copy: numpy's store writes the average into its own vector.
        raw = self.backend.copy(store.params)
        store.assign(average)
        try:
            return progress.end_epoch(epoch_loss)
        finally:
            store.assign(raw)

    def fit_full_batch(self, X, Y, sample_weight, optimizer, epochs):
        """Full-batch training (L-BFGS) for up to ``epochs`` iterations.

        scipy's L-BFGS runs on the host: on another device, the parameters
        and the gradient are copied between host and device once per
        evaluation.
        """
        store = self.store
        self._allocate(X.shape[0])
        progress = _Progress(self, epochs, rows=X.shape[0], unit="Iteration")
        start = store.to_host()
        last_finite = start.copy()
        accepted = start.copy()

        def objective(x):
            store.set_from_host(x)
            try:
                value, _ = self.forward_backward(X, Y, sample_weight)
            except Diverged:
                return np.inf, np.zeros_like(x)
            value = self.backend.read(value)
            if not math.isfinite(value):
                return np.inf, np.zeros_like(x)
            np.copyto(last_finite, x)
            return value, store.gradient_to_host()

        def on_iteration(x, value):
            # The line search may leave a trial point in the parameters; the
            # callback receives the iterate scipy accepted.
            store.set_from_host(x)
            np.copyto(accepted, x)
            return progress.end_epoch(value)

        try:
            with np.errstate(over="ignore", invalid="ignore"):
                x, _ = optimizer.minimize(objective, start, epochs, on_iteration)
        except BaseException:
            # The line search may have left a trial point: go back to the
            # last accepted iterate.
            store.set_from_host(accepted)
            raise
        if not (np.isfinite(x).all() and math.isfinite(float(optimizer.result_.fun))):
            store.set_from_host(last_finite)
            raise self._divergence_error(progress.epoch + 1)
        store.set_from_host(x)

    def _divergence_error(self, epoch):
        where = self.store.fallback  # "step" or "epoch": what fall_back returns to
        return DivergenceError(
            f"Training diverged at epoch {epoch}: the loss is no longer finite. "
            f"The weights are those of the last finite {where}. Try scaling the "
            "input data (e.g. standardising X and y), a lower learning rate, or "
            "a larger alpha.",
            epoch,
        )


class _Progress:
    """Per-epoch bookkeeping: history, validation loss, printing, stopping.

    ``epoch`` counts the epochs recorded in the history by this fit.

    With ``verbose``, every epoch (every iteration for L-BFGS) gets one line,
    in one style: its number in the network's history (``Epoch 12/40``; a
    fit of one epoch, such as ``partial_fit``, has no total to show), the
    losses, whatever numbers the callbacks added to ``logs`` (the
    estimators' validation score), the rows per second, the time elapsed and
    an estimate of the time left. In a terminal, the line of the epoch under
    way updates as its batches go by; elsewhere (a file, a notebook, a log)
    only the finished lines are printed.
    """

    #: Seconds between two updates of the line of the epoch under way.
    refresh = 0.2

    def __init__(self, trainer, epochs, rows=0, unit="Epoch"):
        self.trainer = trainer
        self.network = trainer.network
        self.epochs = epochs
        self.rows = rows
        self.unit = unit
        self.epoch = 0
        # The epoch's number in the history: a warm start continues it.
        self.first = len(self.network.history_["loss"])
        self.start = self.shown = time.perf_counter()
        self.live = bool(trainer.verbose) and _is_terminal()
        self.open = False  # whether a line under way is on the screen

    def end_epoch(self, train_loss):
        """Record the epoch; return True when training should stop.

        The epoch's numbers are all computed before any is recorded: a
        Ctrl-C while the validation loss is computed leaves the history
        without that epoch, never with a training loss and no validation
        loss. Callbacks run after the epoch is recorded; the epoch's line is
        printed after them, with the numbers they added to ``logs``.
        """
        trainer, history = self.trainer, self.network.history_
        train_loss = float(train_loss)
        val_loss = val_prediction = None
        if trainer.validation is not None:
            val_loss, val_prediction = trainer.validate()
        # Only now, with nothing left to compute, is the epoch recorded.
        self.epoch += 1
        history["loss"].append(train_loss)
        if val_loss is not None:
            history["val_loss"].append(val_loss)
        logs = {
            "epoch": self.epoch,
            "loss": train_loss,
            "val_loss": val_loss,
            "val_prediction": val_prediction,
        }
        try:
            # Every callback sees every epoch, even after one asked to stop.
            stop = [bool(callback(self.network, logs)) for callback in trainer.callbacks]
        finally:
            if trainer.verbose:
                self._print(logs)
        target = trainer.target_loss
        return any(stop) or (target is not None and train_loss <= target)

    def step(self, rows_done):
        """In a terminal, update the line of the epoch under way (``rows_done`` rows in)."""
        if not self.live:
            return
        now = time.perf_counter()
        if now - self.shown < self.refresh:
            return
        self.shown = now
        done = self.epoch * self.rows + rows_done
        rate = done / max(now - self.start, 1e-9)
        left = (self.epochs * self.rows - done) / rate if rate else float("inf")
        parts = [
            self._name(self.epoch + 1),
            f"{rows_done:,}/{self.rows:,} rows",
            f"{rate:,.0f} rows/s",
            f"{now - self.start:.1f}s elapsed",
            f"{left:.1f}s left",
        ]
        self._write(" - ".join(parts), end="")
        self.open = True

    def close(self):
        """End a line left under way (an interrupt or error in the middle of an epoch)."""
        if self.open:
            self._write("", end="\n")
            self.open = False

    def _name(self, epoch):
        number = self.first + epoch
        if self.epochs == 1:
            return f"{self.unit} {number}"
        return f"{self.unit} {number}/{self.first + self.epochs}"

    def _print(self, logs):
        elapsed = time.perf_counter() - self.start
        parts = [self._name(self.epoch), f"loss: {logs['loss']:.6f}"]
        for key, value in logs.items():
            if key in ("epoch", "loss") or value is None:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append(f"{key}: {value:.6f}")
        if self.unit == "Epoch" and self.rows:
            parts.append(f"{self.epoch * self.rows / max(elapsed, 1e-9):,.0f} rows/s")
        parts.append(f"{elapsed:.1f}s elapsed")
        left = elapsed / self.epoch * (self.epochs - self.epoch)
        # L-BFGS usually converges long before its maximum number of
        # iterations: its estimate is a bound.
        parts.append(f"{'at most ' if self.unit != 'Epoch' else ''}{left:.1f}s left")
        self._write(" - ".join(parts), end="\n")
        self.open = False
        self.shown = time.perf_counter()

    def _write(self, text, end):
        if self.live:
            # Back to the start of the line, and clear what a longer line left.
            text = f"\r{text}\x1b[K"
        print(text, end=end, flush=True)


def _average_of(optimizer):
    """The optimizer's averaged parameters (``averaging="ema"``), or None.

    Any optimizer may leave ``averaged_parameters`` out: a user's own
    optimizer averages nothing.
    """
    averaged = getattr(optimizer, "averaged_parameters", None)
    return averaged() if callable(averaged) else None


def _is_terminal():
    """Whether standard output is a terminal (where a line can be redrawn)."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed or detached stream
        return False
