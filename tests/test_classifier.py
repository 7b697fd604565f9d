"""LayeredClassifier against references: LogisticRegression, class weights, labels.

Numbers measured when these tests were written (numpy 2, scikit-learn 1.9,
standardised data, ``tol=1e-10, max_iter=10000``):

- LogisticRegression(C=1/alpha), alpha in {0.1, 1, 10}: binary predict_proba within
  2e-5; multinomial (iris) within 2e-5.
- Integer weights vs repeated rows (lbfgs): 7e-14 without hidden layer; with one, 6e-12
  after 50 iterations (run to convergence, rounding differences can lead to another
  minimum).
- class_weight "balanced" / dict vs the matching sample weights: bit-identical.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from conftest import requires_sklearn
from sknet import LayeredClassifier

EXACT = dict(hidden_layer_sizes=(), solver="lbfgs", tol=1e-10, max_iter=10000, random_state=0)
SMALL = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)


def _binary(n_samples=300, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=6, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _three_classes(n_samples=150, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=5,
        n_informative=3,
        n_classes=3,
        weights=[0.6, 0.3, 0.1],
        random_state=seed,
    )
    return StandardScaler().fit_transform(X), y


# -- reference solutions ---------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_no_hidden_layer_lbfgs_is_logistic_regression(alpha):
    # mean log loss + alpha/(2n) ||w||^2 is LogisticRegression(C=1/alpha)'s objective
    # times alpha/n.
    X, y = _binary()
    clf = LayeredClassifier(alpha=alpha, **EXACT).fit(X, y)
    reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000).fit(X, y)
    assert clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=1e-3)
    np.testing.assert_allclose(clf.coefs_[0].ravel(), reference.coef_.ravel(), atol=1e-3)
    assert np.array_equal(clf.predict(X), reference.predict(X))


def test_no_hidden_layer_lbfgs_is_multinomial_logistic_regression(iris):
    # A softmax output with K weight vectors and the L2 penalty on all of them
    # is scikit-learn's multinomial parametrisation.
    X, y = iris
    clf = LayeredClassifier(alpha=1.0, **EXACT).fit(X, y)
    reference = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(X, y)
    assert clf.out_activation_ == "softmax"
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-3)
    np.testing.assert_allclose(clf.coefs_[0], reference.coef_.T, atol=1e-3)


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
def test_held_out_accuracy_same_range_as_mlp_classifier(name, bundled):
    X, y = bundled(name)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    settings = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200, random_state=0)
    ours = LayeredClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
    mlp = MLPClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
    assert ours > 0.9 and mlp > 0.9
    assert abs(ours - mlp) <= 0.05


# -- labels and outputs -------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [np.array(["b", "c", "z"]), np.array([-3, 10, 42])],
)
def test_any_labels_give_the_same_model(labels):
    X, y = _three_classes()
    codes = LayeredClassifier(**SMALL).fit(X, y)
    named = LayeredClassifier(**SMALL).fit(X, labels[y])
    # Sorted labels map onto the codes 0, 1, 2 in order: the same network.
    assert np.array_equal(named.classes_, labels)
    assert np.array_equal(named.predict_proba(X), codes.predict_proba(X))
    assert np.array_equal(named.predict(X), labels[codes.predict(X)])
    assert named.predict(X).dtype == labels.dtype


@pytest.mark.parametrize("labels", [np.array([-3, 10]), np.array(["no", "yes"])])
def test_binary_labels_and_probabilities(labels):
    X, y = _binary()
    clf = LayeredClassifier(**SMALL).fit(X, labels[y])
    proba = clf.predict_proba(X)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    assert clf.score(X, labels[y]) > 0.9


def test_multilabel_indicator():
    X, Y = make_multilabel_classification(n_samples=200, n_features=8, n_classes=4, random_state=0)
    clf = LayeredClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0)
    clf.fit(X, Y)
    proba = clf.predict_proba(X)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert proba.shape == (200, 4)
    assert ((proba > 0) & (proba < 1)).all()
    assert np.array_equal(clf.predict(X), (proba > 0.5).astype(Y.dtype))
    assert clf.score(X, Y) > 0.5  # subset accuracy


def test_fitted_attributes_match_mlp_classifier():
    for X, y in [_binary(), _three_classes()]:
        settings = dict(hidden_layer_sizes=(7, 5), solver="lbfgs", max_iter=5, random_state=0)
        ours = LayeredClassifier(**settings).fit(X, y)
        mlp = MLPClassifier(**settings).fit(X, y)
        assert ours.n_layers_ == mlp.n_layers_ == 4
        assert ours.n_outputs_ == mlp.n_outputs_
        assert ours.out_activation_ == mlp.out_activation_
        assert [c.shape for c in ours.coefs_] == [c.shape for c in mlp.coefs_]
        assert [b.shape for b in ours.intercepts_] == [b.shape for b in mlp.intercepts_]
        assert np.array_equal(ours.classes_, mlp.classes_)
        assert ours.n_features_in_ == mlp.n_features_in_


# -- sample and class weights --------------------------------------------------------


def test_integer_weights_equal_repeated_rows_linear():
    X, y = _three_classes(n_samples=120)
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    settings = dict(EXACT, alpha=0.01)
    weighted = LayeredClassifier(**settings).fit(X, y, sample_weight=weights)
    repeated = LayeredClassifier(**settings).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    # Convex: both fits take the same iterates to the same optimum (measured 7e-14).
    assert weighted.n_iter_ == repeated.n_iter_ < 10000
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-12)


def test_integer_weights_equal_repeated_rows_hidden_layer():
    # Not convex: the two fits follow the same iterates (measured 6e-12 after 50
    # iterations) until the rounding differences between a weighted sum and a
    # sum over repeated rows are amplified; run to convergence, L-BFGS may then
    # settle in different minima (measured 6e-5 apart with alpha=0.01, 0.2 with
    # alpha=0.1, on this data).
    X, y = _three_classes(n_samples=120)
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    settings = dict(EXACT, hidden_layer_sizes=(10,), alpha=0.01, max_iter=50)
    weighted = LayeredClassifier(**settings).fit(X, y, sample_weight=weights)
    repeated = LayeredClassifier(**settings).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    assert weighted.n_iter_ == repeated.n_iter_ == 50
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-9)


@requires_sklearn("1.7", "MLPClassifier(...).fit(sample_weight=...), the reference,")
@pytest.mark.parametrize("scale", [0.2, 5.0])
@pytest.mark.parametrize("equal", [True, False])
def test_rescaled_weights_give_mlp_model(scale, equal):
    # MLP divides the penalty by the sum of the weights, equal or not (equal
    # weights used to count as none here: ~0.4 away from MLP at alpha=10).
    X, y = _binary(n_samples=100)
    base = np.ones(len(y)) if equal else np.random.default_rng(1).uniform(0.5, 2, len(y))
    sw = scale * base
    settings = dict(EXACT, alpha=10.0)
    ours = LayeredClassifier(**settings).fit(X, y, sample_weight=sw)
    mlp = MLPClassifier(**settings).fit(X, y, sample_weight=sw)
    # Measured: within 2e-5 (L-BFGS tolerances).
    np.testing.assert_allclose(ours.coefs_[0], mlp.coefs_[0], rtol=0, atol=2e-4)
    np.testing.assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=0, atol=2e-4)
    # Continuous in the weights (measured 1e-14).
    nudged = sw.copy()
    nudged[0] *= 1 + 1e-12
    close = LayeredClassifier(**settings).fit(X, y, sample_weight=nudged)
    np.testing.assert_allclose(close.predict_proba(X), ours.predict_proba(X), rtol=0, atol=1e-9)


def test_equal_class_weights_are_equal_sample_weights():
    X, y = _binary(n_samples=100)
    settings = dict(hidden_layer_sizes=(6,), solver="adam", max_iter=5, random_state=0)
    # class weights 3 for every class: all sample weights 3, so alpha / 3.
    by_class = LayeredClassifier(alpha=3.0, class_weight={0: 3, 1: 3}, **settings).fit(X, y)
    reference = LayeredClassifier(alpha=1.0, **settings).fit(X, y)
    np.testing.assert_allclose(
        by_class.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize(
    "settings",
    [
        dict(hidden_layer_sizes=(8,), solver="adam", max_iter=20, batch_size=16),
        dict(hidden_layer_sizes=(8,), solver="adam", max_iter=20, early_stopping=True),
        dict(hidden_layer_sizes=(8,), solver="adam", max_iter=20, dropout=0.2),
        dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50),
    ],
    ids=["adam", "adam-early-stopping", "adam-dropout", "lbfgs"],
)
def test_zero_weight_equals_dropping_the_row(settings):
    X, y = _three_classes()
    weights = np.ones(len(y))
    weights[::5] = 0
    with_zeros = LayeredClassifier(random_state=0, **settings).fit(X, y, sample_weight=weights)
    dropped = LayeredClassifier(random_state=0, **settings).fit(X[weights > 0], y[weights > 0])
    assert np.array_equal(with_zeros.predict_proba(X), dropped.predict_proba(X))


@requires_sklearn("1.7", "compute_class_weight(sample_weight=...), the reference,")
@pytest.mark.parametrize("with_sample_weight", [False, True])
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_balanced_class_weight_equals_sample_weights(solver, with_sample_weight):
    X, y = _three_classes()
    labels = np.array(["x", "y", "z"])[y]
    sample_weight = None
    if with_sample_weight:
        sample_weight = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    classes = np.unique(labels)
    # n_weight / (n_classes * class weight total), counts weighted by sample_weight.
    per_class = compute_class_weight(
        "balanced", classes=classes, y=labels, sample_weight=sample_weight
    )
    expected = per_class[np.searchsorted(classes, labels)]
    if sample_weight is not None:
        expected = sample_weight * expected
    settings = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=30, random_state=0)
    balanced = LayeredClassifier(class_weight="balanced", **settings)
    balanced.fit(X, labels, sample_weight=sample_weight)
    weighted = LayeredClassifier(**settings).fit(X, labels, sample_weight=expected)
    assert np.array_equal(balanced.predict_proba(X), weighted.predict_proba(X))
    unweighted = LayeredClassifier(**settings).fit(X, labels, sample_weight=sample_weight)
    assert not np.array_equal(balanced.predict_proba(X), unweighted.predict_proba(X))


def test_balanced_class_weight_favours_the_rare_class():
    X, y = _three_classes(n_samples=300)
    settings = dict(hidden_layer_sizes=(), solver="lbfgs", random_state=0)
    plain = LayeredClassifier(**settings).fit(X, y)
    balanced = LayeredClassifier(class_weight="balanced", **settings).fit(X, y)
    rare = y == 2
    assert (balanced.predict(X)[rare] == 2).mean() > (plain.predict(X)[rare] == 2).mean()


def test_dict_class_weight_equals_sample_weights():
    X, y = _three_classes()
    labels = np.array(["x", "y", "z"])[y]
    class_weight = {"x": 0.5, "z": 3.0}  # "y" keeps weight 1
    sample_weight = np.random.default_rng(2).uniform(0.5, 2.0, size=len(y))
    expected = sample_weight * np.array([0.5, 1.0, 3.0])[y]
    settings = dict(hidden_layer_sizes=(8,), solver="adam", max_iter=30, random_state=0)
    dict_weighted = LayeredClassifier(class_weight=class_weight, **settings)
    dict_weighted.fit(X, labels, sample_weight=sample_weight)
    weighted = LayeredClassifier(**settings).fit(X, labels, sample_weight=expected)
    assert np.array_equal(dict_weighted.predict_proba(X), weighted.predict_proba(X))


def test_dict_class_weight_unknown_key():
    X, y = _three_classes()
    with pytest.raises(ValueError, match="not classes"):
        LayeredClassifier(class_weight={7: 2.0}, **SMALL).fit(X, y)


def test_multilabel_balanced_class_weight():
    X, Y = make_multilabel_classification(n_samples=150, n_features=6, n_classes=3, random_state=0)
    # Each label balanced on its own, a sample's factors multiplied.
    expected = np.ones(len(Y))
    for column in Y.T:
        expected *= compute_class_weight("balanced", classes=np.array([0, 1]), y=column)[column]
    settings = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)
    balanced = LayeredClassifier(class_weight="balanced", **settings).fit(X, Y)
    weighted = LayeredClassifier(**settings).fit(X, Y, sample_weight=expected)
    assert balanced.predict_proba(X).shape == (150, 3)
    np.testing.assert_allclose(balanced.predict_proba(X), weighted.predict_proba(X), atol=1e-12)
    with pytest.raises(ValueError, match="multilabel.*balanced"):
        LayeredClassifier(class_weight={0: 1.0}, **settings).fit(X, Y)


# -- incremental training ----------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_equals_fit(solver, shuffle, iris):
    X, y = iris
    settings = dict(
        hidden_layer_sizes=(8,),
        solver=solver,
        shuffle=shuffle,
        batch_size=32,
        learning_rate_init=0.01,
        tol=0.0,
        n_iter_no_change=np.inf,
        random_state=0,
    )
    fitted = LayeredClassifier(max_iter=100, **settings).fit(X, y)
    assert fitted.n_iter_ == 100
    incremental = LayeredClassifier(**settings)
    incremental.partial_fit(X, y, classes=[0, 1, 2])
    for _ in range(99):
        incremental.partial_fit(X, y)
    assert incremental.n_iter_ == 1 and len(incremental.loss_curve_) == 100
    assert incremental.t_ == fitted.t_ == 100 * len(y)
    assert np.array_equal(incremental.predict_proba(X), fitted.predict_proba(X))


def test_partial_fit_needs_classes_first(iris):
    X, y = iris
    clf = LayeredClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    # A first batch may miss a class as long as ``classes`` names it.
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert np.array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match=r"\[5\].*classes_"):
        clf.partial_fit(X[:3], [0, 1, 5])
    with pytest.raises(ValueError, match="differs"):
        clf.partial_fit(X, y, classes=[0, 1])
