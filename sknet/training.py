"""The one training loop of :class:`sknet.Network`.

While a network trains, every weight and bias lives in one flat array (each
layer's ``weights`` and ``bias`` become views into it), and the gradient in
another of the same layout: weights first, then biases. Optimizers then update
all layers with a few vectorised operations, the L2 penalty touches one
contiguous prefix, and L-BFGS needs no packing. Every buffer a step uses is
made once, when the trainer is made.
"""

import inspect
import math
import time

import numpy as np

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

    Parameters
    ----------
    network : Network
        The network whose layers are trained; its ``history_``,
        ``samples_seen_`` and random generator are updated.
    loss : Loss
    alpha : float
        The L2 penalty on the weights.
    dtype : numpy dtype
    validation : tuple or None
        ``(X_val, Y_val, sample_weight_val)`` for the validation loss.
    target_loss : float or None
    callbacks : list of callable
    verbose : int

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

    def __init__(self, network, loss, alpha, dtype, validation, target_loss, callbacks, verbose):
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
        self._pack()

    def _pack(self):
        """Gather all weights, then all biases, into one flat array of views.

        A second array of the same layout holds the previous step's
        parameters: an optimizer writes the new parameters there and the two
        swap, so the last good weights are kept without a copy, and an update
        interrupted half-way never shows.
        """
        layers = self.layers
        weight_sizes = [layer.weights.size for layer in layers]
        bias_sizes = [layer.bias.size for layer in layers]
        self.n_weights = sum(weight_sizes)
        total = self.n_weights + sum(bias_sizes)
        self.params = np.empty(total, dtype=self.dtype)
        self.previous = np.empty(total, dtype=self.dtype)
        self.grad = np.empty(total, dtype=self.dtype)
        offsets = np.cumsum([0, *weight_sizes, *bias_sizes])
        slices = [
            (
                slice(offsets[i], offsets[i + 1]),
                slice(offsets[len(layers) + i], offsets[len(layers) + i + 1]),
            )
            for i in range(len(layers))
        ]

        def views(flat):
            return [
                (flat[w].reshape(layer.weights.shape), flat[b])
                for layer, (w, b) in zip(layers, slices, strict=True)
            ]

        self._views = {id(self.params): views(self.params), id(self.previous): views(self.previous)}
        self.grad_views = views(self.grad)
        for layer, (weights, bias) in zip(layers, self._views[id(self.params)], strict=True):
            weights[...] = layer.weights
            bias[...] = layer.bias
        self._point_layers()

    def _point_layers(self):
        """Make every layer's weights and bias views into ``self.params``."""
        for layer, (weights, bias) in zip(self.layers, self._views[id(self.params)], strict=True):
            layer.weights, layer.bias = weights, bias

    def _swap(self):
        # One statement: Ctrl-C cannot fall between the two assignments.
        self.params, self.previous = self.previous, self.params
        self._point_layers()

    def _allocate(self, batch_size):
        for layer in self.layers:
            layer.allocate(batch_size, self.dtype)
        self._scale = np.empty(batch_size, dtype=self.dtype)
        self._ones = np.ones(batch_size, dtype=self.dtype)

    def release(self):
        """Drop the per-batch buffers."""
        for layer in self.layers:
            layer.release()

    def forward_backward(self, X, Y, sample_weight):
        """One batch: forward, loss, then the gradient into ``self.grad``.

        Returns the batch objective (weighted mean loss plus penalty) and the
        batch's total weight (0 for a batch whose weights are all zero, which
        is then skipped).
        """
        n = X.shape[0]
        if sample_weight is None:
            weight = float(n)
            scale = 1.0 / n
        else:
            weight = float(sample_weight.sum())
            if weight <= 0:
                return 0.0, 0.0
            scale = np.divide(sample_weight, weight, out=self._scale[:n])[:, np.newaxis]

        layers = self.layers
        inputs = []
        h = X
        for layer in layers:
            inputs.append(h)
            h = layer.forward_train(h, self.network._rng)

        per_sample = self.loss.value(Y, h)
        if sample_weight is None:
            objective = float(per_sample.sum()) * scale
        else:
            objective = float(per_sample @ scale[:, 0])
        weights = self.params[: self.n_weights]
        if self.alpha:
            objective += self.alpha / (2 * weight) * float(np.dot(weights, weights))
        if not math.isfinite(objective):
            raise Diverged

        out = layers[-1]
        delta = out.delta_view(n)
        if self.fused:
            np.subtract(h, Y, out=delta)
        else:
            gradient = self.loss.gradient(Y, h, out=delta)
            if gradient is not delta:  # a user loss may ignore ``out``
                np.copyto(delta, gradient)
            out.backward_activation(n)
        delta *= scale

        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            delta = layer.delta_view(n)
            layer.backward_params(inputs[i], delta, *self.grad_views[i], self._ones[:n])
            if i:
                previous = layers[i - 1]
                np.matmul(delta, layer.weights.T, out=previous.delta_view(n))
                previous.backward_activation(n)
        if self.alpha:
            # The previous parameters are overwritten by the coming step, so
            # their array serves as scratch.
            decay = self.previous[: self.n_weights]
            np.multiply(weights, self.alpha / weight, out=decay)
            self.grad[: self.n_weights] += decay
        return objective, weight

    # -- the loops ------------------------------------------------------------

    def fit_stochastic(self, X, Y, sample_weight, optimizer, epochs, batch_size, shuffle):
        """Mini-batch training for up to ``epochs`` passes over the data."""
        n = X.shape[0]
        batch_size = min(batch_size, n)
        self._allocate(batch_size)
        # With a single batch a shuffle only reorders a sum: skip it.
        gather = shuffle and n > batch_size
        dense = isinstance(X, np.ndarray)
        if gather:
            X_buffer = np.empty((batch_size, X.shape[1]), dtype=self.dtype) if dense else None
            Y_buffer = np.empty((batch_size, Y.shape[1]), dtype=Y.dtype)
            sw_buffer = np.empty(batch_size, dtype=self.dtype)
        np.copyto(self.previous, self.params)  # the fallback before the first step
        writes_out = "out" in inspect.signature(optimizer.step).parameters
        progress = _Progress(self, epochs)
        rng = self.network._rng
        # Overflow is expected when training diverges; it is detected and
        # reported as one clear error rather than a stream of warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                for _ in range(epochs):
                    order = rng.permutation(n) if gather else None
                    epoch_loss = total_weight = 0.0
                    for start in range(0, n, batch_size):
                        stop = min(start + batch_size, n)
                        if order is None:
                            rows = slice(start, stop)
                            Xb, Yb = X[rows], Y[rows]
                            swb = None if sample_weight is None else sample_weight[rows]
                        else:
                            idx = order[start:stop]
                            m = stop - start
                            Xb = np.take(X, idx, axis=0, out=X_buffer[:m]) if dense else X[idx]
                            Yb = np.take(Y, idx, axis=0, out=Y_buffer[:m])
                            swb = None
                            if sample_weight is not None:
                                swb = np.take(sample_weight, idx, out=sw_buffer[:m])
                        batch_loss, weight = self.forward_backward(Xb, Yb, swb)
                        if not weight:
                            continue
                        # The new parameters go to the other array; the current
                        # ones stay whole until the swap.
                        if writes_out:
                            optimizer.step(self.params, self.grad, out=self.previous)
                        else:
                            np.copyto(self.previous, self.params)
                            optimizer.step(self.previous, self.grad)
                        self._swap()
                        # A running weighted mean: a sum of huge but finite batch
                        # losses could overflow.
                        total_weight += weight
                        epoch_loss += (batch_loss - epoch_loss) * (weight / total_weight)
                    if not np.isfinite(self.params).all():
                        raise Diverged
                    self.network.samples_seen_ += n
                    optimizer.end_epoch(self.network.samples_seen_)
                    if progress.end_epoch(epoch_loss):
                        break
            except Diverged:
                self._swap()  # back to the last step whose loss was finite
                raise self._divergence_error(progress.epoch + 1) from None
            except BaseException:
                # Ctrl-C (or any error) during an update leaves self.params whole:
                # the layers are pointed back at it.
                self._point_layers()
                raise

    def fit_full_batch(self, X, Y, sample_weight, optimizer, epochs):
        """Full-batch training (L-BFGS) for up to ``epochs`` iterations."""
        self._allocate(X.shape[0])
        progress = _Progress(self, epochs)
        last_finite = self.params.astype(np.float64)
        accepted = self.params.copy()

        def objective(x):
            np.copyto(self.params, x, casting="same_kind")
            try:
                value, _ = self.forward_backward(X, Y, sample_weight)
            except Diverged:
                return np.inf, np.zeros_like(x)
            np.copyto(last_finite, x)
            return value, self.grad.astype(np.float64)

        def on_iteration(x, value):
            # The line search may leave a trial point in the parameters; the
            # callback receives the iterate scipy accepted.
            np.copyto(self.params, x, casting="same_kind")
            np.copyto(accepted, self.params)
            return progress.end_epoch(value)

        try:
            with np.errstate(over="ignore", invalid="ignore"):
                x, _ = optimizer.minimize(objective, self.params, epochs, on_iteration)
        except BaseException:
            # The line search may have left a trial point: go back to the
            # last accepted iterate.
            np.copyto(self.params, accepted)
            raise
        if not (np.isfinite(x).all() and math.isfinite(float(optimizer.result_.fun))):
            np.copyto(self.params, last_finite, casting="same_kind")
            raise self._divergence_error(progress.epoch + 1)
        np.copyto(self.params, x, casting="same_kind")

    def _divergence_error(self, epoch):
        return DivergenceError(
            f"Training diverged at epoch {epoch}: the loss is no longer finite. "
            "The weights are those of the last finite step. Try scaling the "
            "input data (e.g. standardising X and y), a lower learning rate, or "
            "a larger alpha.",
            epoch,
        )


class _Progress:
    """Per-epoch bookkeeping: history, validation loss, printing, stopping."""

    def __init__(self, trainer, epochs):
        self.trainer = trainer
        self.network = trainer.network
        self.epochs = epochs
        self.epoch = 0
        self.start = time.perf_counter()

    def end_epoch(self, train_loss):
        """Record the epoch; return True when training should stop."""
        self.epoch += 1
        trainer, history = self.trainer, self.network.history_
        train_loss = float(train_loss)
        history["loss"].append(train_loss)
        val_loss = None
        if trainer.validation is not None:
            X_val, Y_val, sw_val = trainer.validation
            val_loss = self.network.loss(X_val, Y_val, trainer.loss, sw_val)
            history["val_loss"].append(val_loss)
        if trainer.verbose:
            self._print(train_loss, val_loss)
        logs = {"epoch": self.epoch, "loss": train_loss, "val_loss": val_loss}
        # Every callback sees every epoch, even after one asked to stop.
        stop = [bool(callback(self.network, logs)) for callback in trainer.callbacks]
        target = trainer.target_loss
        return any(stop) or (target is not None and train_loss <= target)

    def _print(self, train_loss, val_loss):
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.epoch * (self.epochs - self.epoch)
        line = f"Epoch {self.epoch}/{self.epochs} - loss: {train_loss:.6f}"
        if val_loss is not None:
            line += f" - val_loss: {val_loss:.6f}"
        print(f"{line} - {elapsed:.1f}s elapsed - {left:.1f}s left")
