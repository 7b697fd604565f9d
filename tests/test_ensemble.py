"""SeedEnsembleClassifier / SeedEnsembleRegressor: networks from several seeds, averaged."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknet import LayeredClassifier, LayeredRegressor
from sknet.ensemble import SeedEnsembleClassifier, SeedEnsembleRegressor

# L-BFGS members: scikit-learn's training checks ask for a score that a few
# hundred L-BFGS iterations reach on their small data.
MEMBER = {"hidden_layer_sizes": (16,), "solver": "lbfgs", "max_iter": 200}
TRAINING_CHECKS = {"check_classifiers_train", "check_regressors_train"}


@parametrize_with_checks(
    [
        SeedEnsembleClassifier(LayeredClassifier(**MEMBER), n_estimators=2, random_state=0),
        SeedEnsembleRegressor(LayeredRegressor(**MEMBER), n_estimators=2, random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    name = getattr(check, "func", check).__name__
    if name not in TRAINING_CHECKS:
        # The other checks test the interface, as tests/test_common.py's do at
        # a few iterations (see INTERFACE_MAX_ITER there).
        estimator = clone(estimator).set_params(estimator__max_iter=4)
    check(estimator)


def _noisy_regression(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + 0.3 * rng.normal(size=n)
    return X, y


def test_the_classifier_averages_its_members_probabilities(iris):
    X, y = iris
    net = LayeredClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    ensemble = SeedEnsembleClassifier(net, n_estimators=3, random_state=0)
    with pytest.warns(Warning):  # the members stop at max_iter
        ensemble.fit(X, y)
    members = [member.predict_proba(X) for member in ensemble.estimators_]
    proba = ensemble.predict_proba(X)
    assert_allclose(proba, np.mean(members, axis=0), rtol=1e-12)
    assert_array_equal(ensemble.predict(X), ensemble.classes_[np.argmax(proba, axis=1)])
    assert_array_equal(ensemble.classes_, np.unique(y))
    assert_allclose(ensemble.predict_log_proba(X), np.log(proba))
    # The log loss is convex in the probabilities: the average's is at most
    # the members' mean, and here strictly below it (the members differ).
    member_losses = [log_loss(y, p) for p in members]
    assert log_loss(y, proba) < np.mean(member_losses)


def test_the_regressor_averages_its_members_predictions():
    X, y = _noisy_regression()
    net = LayeredRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=50)
    ensemble = SeedEnsembleRegressor(net, n_estimators=4, random_state=0).fit(X, y)
    members = np.array([member.predict(X) for member in ensemble.estimators_])
    assert_allclose(ensemble.predict(X), members.mean(axis=0), rtol=1e-12)
    errors = [mean_squared_error(y, prediction) for prediction in members]
    assert mean_squared_error(y, ensemble.predict(X)) < np.mean(errors)


def test_each_member_is_the_network_fitted_alone_with_its_seed_and_the_weights():
    X, y = _noisy_regression()
    weights = np.random.default_rng(1).uniform(0.0, 3.0, size=len(y))
    net = LayeredRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30)
    ensemble = SeedEnsembleRegressor(net, n_estimators=3, random_state=7)
    ensemble.fit(X, y, sample_weight=weights)
    seeds = [member.random_state for member in ensemble.estimators_]
    assert len(set(seeds)) == 3  # each network its own seed
    for seed, member in zip(seeds, ensemble.estimators_, strict=True):
        alone = clone(net).set_params(random_state=seed).fit(X, y, sample_weight=weights)
        for fitted, expected in zip(member.coefs_, alone.coefs_, strict=True):
            assert_array_equal(fitted, expected)
    # The weights reached the networks: without them the fits differ.
    unweighted = clone(ensemble).fit(X, y)
    assert not np.allclose(unweighted.predict(X), ensemble.predict(X))


def test_random_state_makes_the_ensemble_repeatable():
    X, y = _noisy_regression()
    net = LayeredRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20)
    first = SeedEnsembleRegressor(net, random_state=3).fit(X, y).predict(X)
    again = SeedEnsembleRegressor(net, random_state=3).fit(X, y).predict(X)
    other = SeedEnsembleRegressor(net, random_state=4).fit(X, y).predict(X)
    assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_multilabel_targets_are_read_label_by_label():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0]).astype(int)
    net = LayeredClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200)
    ensemble = SeedEnsembleClassifier(net, n_estimators=2, random_state=0).fit(X, Y)
    proba = ensemble.predict_proba(X)
    assert proba.shape == (150, 2)
    assert_array_equal(ensemble.predict(X), (proba > 0.5).astype(int))
    assert ensemble.score(X, Y) > 0.9


def test_float32_stays_float32_and_feature_names_pass_through():
    pd = pytest.importorskip("pandas")
    X, y = _noisy_regression()
    frame = pd.DataFrame(X.astype(np.float32), columns=["a", "b", "c", "d"])
    net = LayeredRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20)
    ensemble = SeedEnsembleRegressor(net, n_estimators=2, random_state=0).fit(frame, y)
    assert ensemble.predict(frame).dtype == np.float32
    assert_array_equal(ensemble.feature_names_in_, ["a", "b", "c", "d"])
    assert ensemble.n_features_in_ == 4


def test_at_least_one_network():
    X, y = _noisy_regression()
    with pytest.raises(InvalidParameterError, match="n_estimators"):
        SeedEnsembleRegressor(LayeredRegressor(), n_estimators=0).fit(X, y)
