"""scikit-learn estimators on top of the layer engine.

:class:`LayeredClassifier` and :class:`LayeredRegressor` take every
hyperparameter of scikit-learn's ``MLPClassifier``/``MLPRegressor`` (same name,
default and meaning) plus per-layer activations, dropout, more regression
losses and class weights.
"""

import math
from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from ._base import (
    HIDDEN_ACTIVATIONS,
    REGRESSION_LOSSES,
    _BaseLayered,
    on_host,
    same_place,
    where,
)
from ._base.labels import _balanced, _check_labels, _labels_to_host
from ._base.scores import encoded_accuracy, r2
from ._docstrings import estimator_docstrings
from ._safeguards import if_partial_fit_possible
from .losses import LOSSES

__all__ = ["LayeredClassifier", "LayeredRegressor"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class LayeredClassifier(ClassifierMixin, _BaseLayered):
    _parameter_constraints: dict = {
        **_BaseLayered._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_decay=0.0,
        lr_schedule=None,
        clip_grad_norm=None,
        averaging=None,
        ema_decay=0.999,
        dropout=0.0,
        class_weight=None,
        categorical_features=None,
        numeric_embedding=None,
        batch_norm=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.clip_grad_norm = clip_grad_norm
        self.averaging = averaging
        self.ema_decay = ema_decay
        self.dropout = dropout
        self.class_weight = class_weight
        self.categorical_features = categorical_features
        self.numeric_embedding = numeric_embedding
        self.batch_norm = batch_norm

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data matrix ``X`` and labels ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, multiplied by the class weights.

        Returns
        -------
        self : LayeredClassifier
        """
        y = _labels_to_host(y)
        _check_labels(y)
        return self._fit(X, y, sample_weight)

    @if_partial_fit_possible
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, keeping weights and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LayeredClassifier
        """
        y, classes = _labels_to_host(y), _labels_to_host(classes)
        _check_labels(y)
        if classes is not None:
            _check_labels(classes, "classes")
        if not hasattr(self, "classes_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and hasattr(self, "classes_"):
            if not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError(
                    f"`classes={np.asarray(classes).tolist()}` differs from the classes "
                    f"of the previous call, {self.classes_.tolist()}."
                )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    _y_numeric = False
    _labels_on_host = True

    def _encode_targets(self, y, sample_weight, first_pass, classes, dtype, incremental=False):
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first_pass:
            binarizer = LabelBinarizer()
            binarizer.fit(y if classes is None or multilabel else classes)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            self.out_activation_ = "softmax" if binarizer.y_type_ == "multiclass" else "logistic"
        elif self.warm_start and not incremental:
            labels = unique_labels(y)
            if set(labels) != set(self.classes_):
                # MLP's message, then what to do.
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {labels}. "
                    "Set warm_start=False to start over."
                )
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if len(unknown):
            raise ValueError(
                f"y has classes {unknown.tolist()} that are not in classes_ = "
                f"{self.classes_.tolist()} (set by the first fit, or by `classes`)."
            )
        # 0/1 targets are exact in float32, which halves their memory when
        # training in float64 (the engine accepts float32 targets as they are).
        if self._label_binarizer.y_type_ == "multiclass":
            Y = np.zeros((len(y), len(self.classes_)), dtype=np.float32)
            Y[np.arange(len(y)), np.searchsorted(self.classes_, y)] = 1
        elif (
            self._label_binarizer.y_type_ == "binary" and len(self.classes_) == 2 and not multilabel
        ):
            # LabelBinarizer.transform's column (1 for classes_[1]) without its checks (1.4 ms).
            Y = (np.searchsorted(self.classes_, y) == 1).astype(np.float32)[:, np.newaxis]
        elif len(self.classes_) == 1:
            # One class (as MLP, fitted rather than refused): its probability is 1.
            Y = np.ones((len(y), 1), dtype=np.float32)
        else:
            Y = self._label_binarizer.transform(y).astype(np.float32)
        if self.class_weight is not None:
            given_weights = sample_weight is not None
            if sample_weight is None:
                sample_weight = np.ones(len(y), dtype=dtype)
            sample_weight = sample_weight * self._class_weights(y, Y, sample_weight)
            if not sample_weight.sum() > 0:
                raise ValueError(
                    f"class_weight={self.class_weight!r} gives every sample of y zero weight"
                    + (" (with sample_weight)" if given_weights else "")
                    + "; at least one sample needs a positive weight."
                )
        return Y, sample_weight

    def _class_weights(self, y, Y, sample_weight):
        """Per-sample multipliers from ``class_weight``.

        For multilabel targets ("balanced" only) each label is balanced on its
        own and a sample's multipliers over the labels are multiplied, as
        scikit-learn does for multi-output targets.
        """
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            if self.class_weight != "balanced":
                raise ValueError("For multilabel targets class_weight must be 'balanced' or None.")
            weights = np.ones_like(sample_weight)
            for column in Y.T:
                weights *= _balanced(column.astype(np.intp), sample_weight)
            return weights
        labels, codes = np.unique(y, return_inverse=True)
        if self.class_weight == "balanced":
            return _balanced(codes, sample_weight)
        for label, weight in self.class_weight.items():
            if isinstance(weight, bool) or not isinstance(weight, Real):
                raise ValueError(
                    f"class_weight values must be numbers, got {weight!r} for class {label!r}."
                )
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(
                    "class_weight values must be finite and non-negative, got "
                    f"{weight!r} for class {label!r}."
                )
        missing = [key for key in self.class_weight if key not in self.classes_]
        if missing:
            raise ValueError(
                f"class_weight has keys {missing} that are not classes "
                f"(classes_ = {self.classes_.tolist()})."
            )
        per_class = np.array([self.class_weight.get(label, 1.0) for label in labels])
        return per_class[codes].astype(sample_weight.dtype)

    def _loss_name(self):
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    def _class_counts(self, y):
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return None
        return np.unique(y, return_counts=True)[1]

    def _labels(self, proba):
        if proba.shape[1] == 1:
            proba = proba.ravel()
        return self._label_binarizer.inverse_transform(proba)

    def _score_outputs(self, prediction, y, sample_weight, Y=None):
        if Y is not None and len(self.classes_) > 1:
            # From the encoded targets, where the predictions are: one number
            # is read from a device, and no target checks run every epoch.
            return encoded_accuracy(
                prediction, Y, sample_weight, self._label_binarizer.y_type_ == "multiclass"
            )
        labels = self._labels(on_host(prediction))  # labels live on the host
        return accuracy_score(y, labels, sample_weight=on_host(sample_weight))

    def predict(self, X):
        """Predict class labels (an indicator matrix for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        proba = self._forward(X, "predict")
        if isinstance(proba, np.ndarray):
            return self._labels(proba)
        # As scikit-learn's array-API classifiers do: labels are looked up on
        # the host; numeric labels go back to X's namespace and device.
        labels = self._labels(on_host(proba))
        return labels if labels.dtype.kind not in "biuf" else same_place(labels, X)

    def predict_proba(self, X):
        """Predict class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; for multilabel targets, one
            independent probability per label.
        """
        return self._predict_proba(X, "predict_proba")

    def _predict_proba(self, X, method):
        proba = self._forward(X, method)
        xp = where(proba)[0]
        if self._label_binarizer.y_type_ != "multilabel-indicator" and len(self.classes_) == 1:
            return xp.ones_like(proba)  # one class, one column: its probability is 1
        if self.out_activation_ == "logistic":
            # A saturated sigmoid rounds to exactly 0 or 1; a probability
            # strictly inside (0, 1) is the truer answer.
            info = xp.finfo(proba.dtype)
            largest_below_one = 1 - float(info.eps) / 2
            proba = xp.clip(proba, float(info.smallest_normal), largest_below_one)
        if self._label_binarizer.y_type_ == "binary":
            return xp.concat([1 - proba, proba], axis=1)
        return proba

    def score(self, X, y, sample_weight=None):
        """Return the mean accuracy on ``(X, y)`` (subset accuracy for multilabel targets).

        As scikit-learn's ``ClassifierMixin.score``, but computed on the host
        in float64 whatever library ``X`` comes from (scikit-learn would
        average the matches in torch's default float32).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        prediction = self.predict(X)
        return float(
            accuracy_score(on_host(y), on_host(prediction), sample_weight=on_host(sample_weight))
        )

    def predict_log_proba(self, X):
        """Predict the logarithm of class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        proba = self._predict_proba(X, "predict_log_proba")
        with np.errstate(divide="ignore"):
            return where(proba)[0].log(proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class LayeredRegressor(RegressorMixin, _BaseLayered):
    _parameter_constraints: dict = {
        **_BaseLayered._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES)), HasMethods(["value", "gradient"])],
        "target_scaling": [StrOptions({"standard"}), None],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_decay=0.0,
        lr_schedule=None,
        clip_grad_norm=None,
        averaging=None,
        ema_decay=0.999,
        dropout=0.0,
        categorical_features=None,
        numeric_embedding=None,
        batch_norm=False,
        target_scaling=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.clip_grad_norm = clip_grad_norm
        self.averaging = averaging
        self.ema_decay = ema_decay
        self.dropout = dropout
        self.categorical_features = categorical_features
        self.numeric_embedding = numeric_embedding
        self.batch_norm = batch_norm
        self.target_scaling = target_scaling

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data matrix ``X`` and targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LayeredRegressor
        """
        return self._fit(X, y, sample_weight)

    @if_partial_fit_possible
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``(X, y)``, keeping weights and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LayeredRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    _y_numeric = True

    def _encode_targets(self, y, sample_weight, first_pass, classes, dtype, incremental=False):
        xp, _, on_numpy = where(y)
        if self.target_scaling is not None and self.loss == "poisson":
            raise ValueError(
                "target_scaling='standard' cannot be used with loss='poisson': the Poisson "
                "loss needs non-negative targets and an exponential output, and a "
                "standardised target is negative for half the rows. Use "
                "target_scaling=None with loss='poisson'."
            )
        # A warm start or partial_fit keeps the scaling of the first fit.
        if first_pass:
            self._target_mean = self._target_scale = None
            scaling = self.target_scaling is not None
        else:
            scaling = getattr(self, "_target_scale", None) is not None
        # Predictions are in X's dtype, scaled back or not: y must fit in it.
        if dtype == np.float32 and y.dtype != xp.float32 and xp.isdtype(y.dtype, "real floating"):
            largest, limit = float(xp.max(xp.abs(y))) if y.shape[0] else 0.0, _FLOAT32_MAX
            if largest > limit:
                raise ValueError(
                    f"y has values up to {largest:.3g} in magnitude, beyond the range of "
                    f"float32 (about {limit:.3g}), the dtype of X that "
                    "the network trains in. Pass X as float64, or rescale y."
                )
        if self.loss == "poisson" and bool(xp.any(y < 0)):
            raise ValueError(
                "loss='poisson' requires non-negative y (counts or rates); y has negative values."
            )
        if first_pass:
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        Y = xp.reshape(y, (-1, 1)) if y.ndim == 1 else y
        if scaling:
            # Computed where y lives, in float64 (float32 where the device has
            # no float64): the network trains on (y - mean) / scale.
            if first_pass:
                self._set_target_scaling(Y, sample_weight)
            Y = (xp.astype(Y, self._target_mean.dtype) - self._target_mean) / self._target_scale
        if on_numpy:
            return Y.astype(dtype, copy=False), sample_weight
        return xp.astype(Y, getattr(xp, dtype.name)), sample_weight

    def _set_target_scaling(self, Y, sample_weight):
        """The (sample-weighted) mean and standard deviation of each target column.

        As :class:`~sklearn.preprocessing.StandardScaler`: the population
        standard deviation, and a scale of 1 for a (nearly) constant column.
        Both are arrays of ``y``'s namespace and device.
        """
        xp, device, _ = where(Y)
        try:
            dtype = xp.float64
            Y = xp.astype(Y, dtype)
        except (TypeError, ValueError, RuntimeError):  # a device without float64
            dtype = xp.float32
            Y = xp.astype(Y, dtype)
        if sample_weight is None:
            weights = xp.ones((Y.shape[0], 1), dtype=dtype, device=device)
        else:
            weights = xp.reshape(xp.astype(sample_weight, dtype), (-1, 1))
        total = xp.sum(weights)
        mean = xp.sum(weights * Y, axis=0) / total
        scale = xp.sqrt(xp.sum(weights * (Y - mean) ** 2, axis=0) / total)
        one = xp.asarray(1.0, dtype=dtype, device=device)
        tiny = 10 * float(xp.finfo(dtype).eps) * xp.maximum(xp.abs(mean), one)
        scale = xp.where(scale <= tiny, one, scale)
        self._target_mean, self._target_scale = mean, scale

    def _to_target_units(self, prediction):
        """The network's outputs in the units of ``y`` (undoing ``target_scaling``)."""
        if getattr(self, "_target_scale", None) is None:
            return prediction
        xp = where(prediction)[0]
        scale = xp.astype(self._target_scale, prediction.dtype)
        mean = xp.astype(self._target_mean, prediction.dtype)
        return prediction * scale + mean

    def _loss_name(self):
        return LOSSES[self.loss] if isinstance(self.loss, str) else self.loss

    def _score_outputs(self, prediction, y, sample_weight, Y=None):
        prediction = self._to_target_units(prediction)
        if y.ndim == 1:
            prediction = where(prediction)[0].reshape(prediction, (-1,))
        return r2(y, prediction, sample_weight)

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        prediction = self._to_target_units(self._forward(X, "predict"))
        if prediction.shape[1] == 1:
            return where(prediction)[0].reshape(prediction, (-1,))
        return prediction

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


LayeredClassifier.__doc__, LayeredRegressor.__doc__ = estimator_docstrings(HIDDEN_ACTIVATIONS)
