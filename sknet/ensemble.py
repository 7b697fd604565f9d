"""Several networks trained from different seeds, their predictions averaged.

A network's result depends on its seed: the initial weights, the order of
the batches and, with early stopping, which rows are held out to choose the
epoch. On a small table that choice rests on a few dozen rows, and two seeds
can differ by more than the gap between two models. Averaging the
predictions of networks trained from different seeds removes much of that
variance (a deep ensemble, Lakshminarayanan et al., 2017); the tabular recipe
uses three. Unlike bagging, every network sees every row with the weight the
user gave it: only the seed changes. This module is on the scikit-learn side
of the package.
"""

from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, get_tags

__all__ = ["SeedEnsembleClassifier", "SeedEnsembleRegressor"]

# The seeds handed to the networks: what a RandomState draws for an int seed.
_MAX_SEED = np.iinfo(np.int32).max


class _SeedEnsemble(MetaEstimatorMixin, BaseEstimator):
    """What the classifier and the regressor share: fitting the members."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict", "set_params"])],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, n_estimators=3, random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit ``n_estimators`` clones of ``estimator``, each with its own seed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training input; each network checks it as it would alone.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.

        sample_weight : array-like of shape (n_samples,), default=None
            Passed unchanged to every network's ``fit``.

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        seeds = check_random_state(self.random_state).randint(_MAX_SEED, size=self.n_estimators)
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        members = []
        for seed in seeds:
            member = clone(self.estimator).set_params(random_state=int(seed))
            members.append(member.fit(X, y, **fit_params))
        self.estimators_ = members
        self._after_fit(y)
        first = members[0]
        self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        return self

    def _after_fit(self, y):
        """What a subclass learns from ``y`` once the members have accepted it."""

    def _mean_of(self, method, X):
        """The mean over the members of ``member.<method>(X)``."""
        check_is_fitted(self, "estimators_")
        total = np.asarray(getattr(self.estimators_[0], method)(X))
        for member in self.estimators_[1:]:
            total = total + np.asarray(getattr(member, method)(X))
        return total / len(self.estimators_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        member = get_tags(self.estimator)
        tags.input_tags.sparse = member.input_tags.sparse
        tags.input_tags.allow_nan = member.input_tags.allow_nan
        tags.target_tags.multi_output = member.target_tags.multi_output
        tags.non_deterministic = member.non_deterministic
        if tags.classifier_tags is not None and member.classifier_tags is not None:
            tags.classifier_tags = member.classifier_tags
        if tags.regressor_tags is not None and member.regressor_tags is not None:
            tags.regressor_tags = member.regressor_tags
        return tags


class SeedEnsembleClassifier(ClassifierMixin, _SeedEnsemble):
    """Networks trained from different seeds, their class probabilities averaged.

    Each member is a clone of ``estimator`` with its own ``random_state``,
    drawn from this ensemble's; every member trains on all the rows, with the
    ``sample_weight`` given to :meth:`fit`. :meth:`predict_proba` is the mean
    of the members' probabilities, and :meth:`predict` the class it favours.

    Parameters
    ----------
    estimator : estimator object
        The classifier to train ``n_estimators`` times, for example a
        :class:`~sknet.LayeredClassifier`; it must have a ``random_state``
        parameter and ``predict_proba``.

    n_estimators : int, default=3
        How many networks.

    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds: an int makes the whole ensemble
        reproducible.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.

    classes_ : ndarray of shape (n_classes,)
        The class labels (the members').

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during :meth:`fit`, when they are all
        strings.

    See Also
    --------
    SeedEnsembleRegressor : The same for regression.
    sklearn.ensemble.BaggingClassifier : Members trained on resampled rows.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknet import LayeredClassifier
    >>> from sknet.ensemble import SeedEnsembleClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> net = LayeredClassifier(hidden_layer_sizes=(16,), solver="lbfgs")
    >>> ensemble = SeedEnsembleClassifier(net, n_estimators=3, random_state=0)
    >>> ensemble = ensemble.fit(X, y)
    >>> len({member.random_state for member in ensemble.estimators_})
    3
    >>> ensemble.predict_proba(X[:2]).shape
    (2, 3)
    >>> ensemble.score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_SeedEnsemble._parameter_constraints,
        "estimator": [HasMethods(["fit", "predict_proba", "set_params"])],
    }

    def _after_fit(self, y):
        # An indicator matrix: each label is read from its own probability.
        self._multilabel = type_of_target(y).startswith("multilabel")

    @property
    def classes_(self):
        """The class labels, as the members hold them."""
        check_is_fitted(self, "estimators_")
        return self.estimators_[0].classes_

    def predict_proba(self, X):
        """The mean of the members' class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._mean_of("predict_proba", X)

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The class with the largest mean probability (each label above 0.5, for multilabel).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]


class SeedEnsembleRegressor(RegressorMixin, _SeedEnsemble):
    """Networks trained from different seeds, their predictions averaged.

    Each member is a clone of ``estimator`` with its own ``random_state``,
    drawn from this ensemble's; every member trains on all the rows, with the
    ``sample_weight`` given to :meth:`fit`. :meth:`predict` is the mean of the
    members' predictions.

    Parameters
    ----------
    estimator : estimator object
        The regressor to train ``n_estimators`` times, for example a
        :class:`~sknet.LayeredRegressor`; it must have a ``random_state``
        parameter.

    n_estimators : int, default=3
        How many networks.

    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds: an int makes the whole ensemble
        reproducible.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during :meth:`fit`, when they are all
        strings.

    See Also
    --------
    SeedEnsembleClassifier : The same for classification.
    sklearn.ensemble.BaggingRegressor : Members trained on resampled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sknet import LayeredRegressor
    >>> from sknet.ensemble import SeedEnsembleRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> net = LayeredRegressor(hidden_layer_sizes=(8,), solver="lbfgs")
    >>> ensemble = SeedEnsembleRegressor(net, n_estimators=3, random_state=0)
    >>> ensemble = ensemble.fit(X, y)
    >>> members = [member.predict(X[:2]) for member in ensemble.estimators_]
    >>> bool(np.allclose(ensemble.predict(X[:2]), np.mean(members, axis=0)))
    True
    """

    def predict(self, X):
        """The mean of the members' predictions.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._mean_of("predict", X)
