"""How the estimators fit: validation, the engine's fit, early stopping, curves.

:class:`_FitMixin` checks and encodes the data of a fit, builds or
continues the network, and runs the engine's training loop once (L-BFGS, or
the stochastic solvers with early stopping), keeping scikit-learn MLP's
fitted attributes, convergence warnings and callbacks.
"""

import copy
import warnings

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.validation import _check_sample_weight, check_X_y, validate_data

from .._safeguards import STOCHASTIC_SOLVERS, restores_on_error
from ..training import DivergenceError
from .epoch_tasks import _EpochTasks
from .inputs import _categorical_encoder, _is_categorical, _numeric_encoder
from .placement import on_host, same_place, take_rows, where


class _FitMixin:
    """The estimators' fit: one call of the engine's training loop per fit."""

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        # The root task of scikit-learn's callbacks: one subtask per epoch
        # (per iteration for lbfgs), one for partial_fit. It is made here,
        # outside restores_on_error, so that a failed fit, which puts the
        # estimator's attributes back, still tears its callbacks down.
        self._init_callback_context(
            task_name="partial_fit" if incremental else "fit",
            max_subtasks=1 if incremental else self.max_iter,
        )
        return self._fit_restoring(X, y, sample_weight, incremental, classes)

    @restores_on_error
    def _fit_restoring(self, X, y, sample_weight, incremental, classes):
        hidden = self._hidden_layers()
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        # Under array-API dispatch, training runs where X lives; the targets
        # and weights follow X (a classifier's labels stay on the host).
        xp, _, on_numpy = where(X)
        if not on_numpy:
            y = self._place_targets(y, X)
            sample_weight = same_place(sample_weight, X)
        if first_pass:
            # Categorical columns (none by default, nor in an array for
            # "from_dtype"): the data then take MLP's path, untouched.
            self.is_categorical_ = _is_categorical(X, self.categorical_features)
            self._categorical_encoder = None
            if self.is_categorical_ is not None:
                self._categorical_encoder = _categorical_encoder(
                    self.is_categorical_, type(self).__name__
                )
        X_given = X  # what scikit-learn's callbacks see, as the user gave it
        if getattr(self, "_categorical_encoder", None) is not None:
            X = self._encode_categorical(X, reset=first_pass)
            X, y = check_X_y(
                X, y, multi_output=True, y_numeric=self._y_numeric, dtype=None, estimator=self
            )
        else:
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=["csr", "csc"],
                multi_output=True,
                dtype=[xp.float64, xp.float32],
                y_numeric=self._y_numeric,
                reset=first_pass,
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        tasks = _EpochTasks(self, X_given, y, sample_weight)
        tasks.root.call_on_fit_task_begin(estimator=self, **tasks.data)
        dtype = np.dtype(np.float32 if X.dtype == xp.float32 else np.float64)
        if self._labels_on_host:
            sample_weight = on_host(sample_weight)
        Y, sample_weight = self._encode_targets(
            y, sample_weight, first_pass, classes, dtype, incremental
        )
        Y, sample_weight = same_place(Y, X), same_place(sample_weight, X)

        # Rows of zero weight change nothing but would take batch slots and
        # validation places: leave them out.
        if sample_weight is not None and not bool(xp.all(keep := sample_weight > 0)):
            rows = np.flatnonzero(on_host(keep))
            X, Y, y, sample_weight = (take_rows(a, rows) for a in (X, Y, y, sample_weight))
        # The piecewise-linear encoder learns its bins from the rows that train.
        if first_pass:
            self._network_options = (self.numeric_embedding, self.batch_norm)
            self._numeric_encoder = _numeric_encoder(
                self.numeric_embedding, self._n_numeric(X), self.random_state
            )
        if getattr(self, "_numeric_encoder", None) is not None:
            X = self._encode_numeric(X, reset=first_pass, sample_weight=sample_weight)
        # Equal weights c are no weights, as in the engine, but their sum c * n
        # still divides the penalty, as in MLP: alpha / c keeps that objective.
        self._alpha = self.alpha
        if sample_weight is not None and bool(xp.all(sample_weight == sample_weight[0])):
            self._alpha, sample_weight = self.alpha / float(sample_weight[0]), None

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self.n_outputs_ = Y.shape[1]
            self.n_layers_ = len(hidden) + 2
            self.network_ = self._build_network(X, Y, sample_weight)
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self.validation_scores_ = self.best_validation_score_ = None
            self.validation_loss_curve_ = None
            if self.early_stopping and self.solver in STOCHASTIC_SOLVERS:
                self.validation_scores_, self.validation_loss_curve_ = [], []
                self.best_validation_score_, self.best_loss_ = -np.inf, None
        else:
            if self.n_outputs_ != Y.shape[1]:
                raise ValueError(
                    f"y has {Y.shape[1]} output(s) but the model was fitted with {self.n_outputs_}."
                )
            self._check_same_architecture(hidden)

        optimizer = self._make_optimizer()
        previous = getattr(self.network_, "optimizer_", None)
        if not first_pass and repr(previous) == repr(optimizer):
            optimizer = previous  # same settings: continue its state
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight, optimizer, first_pass, tasks)
        else:
            self._fit_stochastic(X, Y, y, sample_weight, optimizer, first_pass, incremental, tasks)
        tasks.root.call_on_fit_task_end(
            estimator=self,
            **tasks.data,
            reconstruction_attributes=lambda: {"network_": self._network_snapshot()},
        )
        return self

    def _network_snapshot(self):
        """A copy of the fitted network that predicts as it does now.

        Later epochs do not change it. The optimizer's state (moments) is not
        needed to predict and is left out; the history is copied.
        """
        network = copy.copy(self.network_)
        vars(network).pop("optimizer_", None)
        network.history_ = {key: list(values) for key, values in network.history_.items()}
        return copy.deepcopy(network)  # the layers' weights, copied

    def _fit_lbfgs(self, X, Y, sample_weight, optimizer, first_pass, tasks):
        network = self.network_
        start = tasks.start = len(network.history_["loss"])

        def end_of_iteration(network, logs):
            return tasks.end_epoch(logs["epoch"] < self.max_iter)

        error = None
        tasks.begin_epoch()
        try:
            network.fit(
                X,
                Y,
                loss=self._loss_name(),
                optimizer=optimizer,
                epochs=self.max_iter,
                alpha=self._alpha,
                sample_weight=sample_weight,
                warm_start=not first_pass,
                callbacks=[end_of_iteration],
                verbose=int(self.verbose),
            )
        except BaseException as stopped:  # Ctrl-C, divergence, ...
            error = self._stopped(stopped, first_pass)
        self.loss_curve_ = list(network.history_["loss"])
        self.n_iter_ = len(self.loss_curve_) - start
        self.t_ = 0
        if error is not None:
            self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
            raise error
        # scipy converged before max_iter: the iteration begun never ran.
        tasks.close()
        self.loss_ = float(optimizer.result_.fun)
        if optimizer.result_.status != 0 and not tasks.stop_requested:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"({optimizer.result_.message}). Increase max_iter or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fit_stochastic(self, X, Y, y, sample_weight, optimizer, first_pass, incremental, tasks):
        validation_data = None
        if self.early_stopping:
            X, Y, sample_weight, validation_data, y_val = self._split_validation(
                X, Y, y, sample_weight
            )
            X_val, Y_val, sw_val = validation_data
            if not (sparse.issparse(X_val) or where(X_val)[2]):
                # On a device, the encoded targets and weights go there once
                # per fit: the validation score is computed there every epoch.
                validation_data = (X_val, same_place(Y_val, X_val), same_place(sw_val, X_val))
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    f"batch_size={self.batch_size} is larger than the {n_samples} "
                    "training samples; it is clipped to that.",
                    stacklevel=3,
                )
            batch_size = min(self.batch_size, n_samples)

        def score_epoch(network, val_loss, prediction=None):
            """Score the epoch just recorded; return whether it improved.

            Everything is computed (the score, the copy of the best weights)
            before anything is recorded, so that a Ctrl-C leaves either the
            whole epoch's bookkeeping or none of it. ``prediction`` is the
            engine's output on the validation data for this epoch, when it
            gives it (the forward pass of the validation loss).
            """
            score = self._validation_score(validation_data, y_val, prediction)
            # The validation loss breaks ties in the score: a score that
            # has saturated (say, accuracy 1.0 on a small hold-out) would
            # otherwise stop training while the model still improves.
            best_score, best_val_loss = self.best_validation_score_, self._best_val_loss
            improved = score >= best_score + self.tol or (
                score >= best_score and val_loss <= best_val_loss - self.tol
            )
            best = score > best_score or (score == best_score and val_loss < best_val_loss)
            weights = network.get_weights() if best else None
            self.validation_scores_.append(score)
            if best:
                self.best_validation_score_, self._best_val_loss = score, val_loss
                self._best_weights = weights
            return improved

        epochs = 1 if incremental else self.max_iter
        plateau = []  # set when training stops because it no longer improves

        def end_of_epoch(network, logs):
            if self.early_stopping:
                improved = score_epoch(network, logs["val_loss"], logs.get("val_prediction"))
                logs["val_score"] = self.validation_scores_[-1]  # on the epoch's line
            else:
                improved = logs["loss"] <= self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, logs["loss"])
            self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
            stop = False
            if self._no_improvement_count > self.n_iter_no_change:
                optimizer = network.optimizer_
                if optimizer.on_plateau(False):
                    plateau.append(True)
                    stop = True
                else:
                    self._no_improvement_count = 0
                    logs["learning_rate"] = getattr(optimizer, "current_learning_rate", None)
            # scikit-learn's callbacks: the epoch's task ends (a callback may
            # ask to stop), and the next one begins if there is one.
            return tasks.end_epoch(not stop and logs["epoch"] < epochs) or stop

        network = self.network_
        start = tasks.start = len(network.history_["loss"])
        n_scores = len(self.validation_scores_) if self.early_stopping else 0
        self._best_weights, self._best_val_loss = None, np.inf
        error = None
        tasks.begin_epoch()
        try:
            network.fit(
                X,
                Y,
                loss=self._loss_name(),
                optimizer=optimizer,
                epochs=epochs,
                batch_size=batch_size,
                alpha=self._alpha,
                sample_weight=sample_weight,
                shuffle=self.shuffle,
                validation_data=validation_data,
                callbacks=[end_of_epoch],
                warm_start=not first_pass,
                verbose=int(self.verbose),
            )
        except DivergenceError as diverged:
            if self.early_stopping:
                self._record_divergence(network, diverged)
                tasks.close()  # the epoch that diverged ends with nothing to show
            else:
                error = self._stopped(diverged, first_pass)
        except BaseException as stopped:  # Ctrl-C, ...
            error = self._stopped(stopped, first_pass)
        self.loss_curve_ = list(network.history_["loss"])
        self.n_iter_ = len(self.loss_curve_) - start
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        self.t_ = network.samples_seen_
        if self.early_stopping:
            self.validation_loss_curve_ = list(network.history_["val_loss"])
            if len(self.validation_scores_) - n_scores < self.n_iter_:
                # Ctrl-C came after the engine recorded the epoch (its training
                # and validation losses, together) and before its score was.
                score_epoch(network, self.validation_loss_curve_[-1])
            if self._best_weights is not None:
                network.set_weights(self._best_weights)
        del self._best_weights, self._best_val_loss
        if error is not None:
            raise error
        if plateau and self.verbose:
            what = "Validation score" if self.early_stopping else "Training loss"
            print(
                f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs. Stopping."
            )
        if not incremental and self.n_iter_ == self.max_iter and not tasks.stop_requested:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _stopped(self, error, first_pass):
        """Decide what a fit interrupted by ``error`` keeps; return the error to re-raise.

        A Ctrl-C keeps the epochs completed, as MLP does; so does a failure
        while continuing a network (warm start, ``partial_fit``), whose
        weights training has already changed. Any other failure of a fresh
        fit is raised at once, and the estimator is left as it was before
        the call (see :func:`restores_on_error`).
        """
        if first_pass and not isinstance(error, KeyboardInterrupt):
            raise error
        self._keep_after_error = True
        return error

    def _record_divergence(self, network, error):
        """Early stopping after a divergence: a nan score, the best weights so far (as MLP)."""
        network.history_["loss"].append(np.nan)
        network.history_["val_loss"].append(np.nan)
        self.validation_scores_.append(np.nan)
        kept = (
            "the weights of the best validation score"
            if self._best_weights is not None
            else "the weights of the last finite step"
        )
        warnings.warn(
            f"Training diverged at epoch {error.epoch} (the loss is no longer finite); "
            f"early stopping ends the fit with {kept}, and validation_scores_ ends "
            "with nan. Try scaling the data, a lower learning rate, or a larger alpha.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _split_validation(self, X, Y, y, sample_weight):
        n_samples = X.shape[0]
        n_val = max(int(np.ceil(self.validation_fraction * n_samples)), 2)
        stratify = None
        class_counts = self._class_counts(y)
        if class_counts is not None and class_counts.min() >= 2:
            n_classes = len(class_counts)
            if n_samples - max(n_val, n_classes) >= n_classes:
                n_val, stratify = max(n_val, n_classes), y
        if n_samples - n_val < 1:
            raise ValueError(
                f"early_stopping needs at least 2 validation samples and 1 training "
                f"sample, but got n_samples={n_samples}. Set early_stopping=False or "
                "provide more samples."
            )
        if class_counts is not None and class_counts.min() < 2:
            rare = np.unique(y)[class_counts < 2]
            raise ValueError(
                "The least populated classes in y have only 1 member, too few for the "
                "early-stopping validation set, which is stratified by class. Classes "
                f"with too few members are: {rare.tolist()}. Set early_stopping=False, "
                "or provide at least 2 samples of every class."
            )
        # train_test_split's own split, with each array then indexed in its
        # own namespace (labels on the host, the rest where X lives).
        splitter = ShuffleSplit if stratify is None else StratifiedShuffleSplit
        cv = splitter(
            test_size=n_val, train_size=n_samples - n_val, random_state=self._random_state
        )
        train, val = next(cv.split(np.zeros((n_samples, 1)), on_host(stratify)))
        X, X_val, Y, Y_val, y, y_val, sample_weight, sw_val = (
            take_rows(array, rows) for array in (X, Y, y, sample_weight) for rows in (train, val)
        )
        return X, Y, sample_weight, (X_val, Y_val, sw_val), y_val

    def _class_counts(self, y):
        """Samples per class, for a stratified hold-out; None for regression."""
        return None

    def _validation_score(self, validation_data, y_val, prediction=None):
        X_val, Y_val, sw_val = validation_data
        if prediction is None:
            prediction = self.network_.predict(X_val)
        xp = where(prediction)[0]
        if not bool(xp.all(xp.isfinite(prediction))):
            return np.nan
        return self._score_outputs(prediction, y_val, sw_val, Y_val)
