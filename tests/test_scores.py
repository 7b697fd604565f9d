"""The early-stopping scores (sknet._base.scores) against scikit-learn's metrics.

They replace ``accuracy_score`` and ``r2_score`` in the per-epoch validation
score, where those functions' input checks cost more than the epoch: the
numbers must be scikit-learn's, bit for bit, and the checks must not run per
epoch.
"""

import itertools
import warnings

import numpy as np
import pytest
from sklearn.metrics import _classification, _regression, accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer

from sknet import LayeredClassifier, LayeredRegressor
from sknet._base.scores import encoded_accuracy, r2

WEIGHTS = [None, "float64", "float32", "int"]


def _weights(kind, n, rng):
    if kind is None:
        return None
    if kind == "int":
        return rng.integers(0, 4, size=n)
    return rng.uniform(0.1, 3.0, size=n).astype(kind)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_encoded_accuracy_is_accuracy_score_bit_for_bit(target, weights, dtype):
    rng = np.random.default_rng(0)
    for n in (2, 7, 30, 101):
        if target == "multilabel":
            y = classes = (rng.uniform(size=(n, 3)) > 0.4).astype(int)
            proba = rng.uniform(size=(n, 3)).astype(dtype)
        elif target == "binary":
            classes = np.array(["no", "yes"])
            y = rng.choice(classes, size=n)
            proba = rng.uniform(size=(n, 1)).astype(dtype)
        else:
            classes = np.array([3, 5, 9, 11])
            y = rng.choice(classes, size=n)
            proba = rng.dirichlet(np.ones(4), size=n).astype(dtype)
            proba[0, :2] = proba[0, 2:].sum() / 2  # a tie: the first column wins in both
        proba[1] = 0.5  # on the threshold
        binarizer = LabelBinarizer().fit(classes)  # as fit's classes_
        Y = binarizer.transform(y).astype(np.float32)
        sample_weight = _weights(weights, n, rng)
        if sample_weight is not None and sample_weight.sum() == 0:
            sample_weight[0] = 1
        labels = binarizer.inverse_transform(proba.ravel() if proba.shape[1] == 1 else proba)
        expected = accuracy_score(y, labels, sample_weight=sample_weight)
        got = encoded_accuracy(proba, Y, sample_weight, binarizer.y_type_ == "multiclass")
        assert type(got) is float
        assert got == expected, (n, got, expected)


@pytest.mark.parametrize(
    "y_dtype, pred_dtype, weights",
    list(itertools.product(["float64", "float32", "int"], ["float64", "float32"], WEIGHTS)),
)
@pytest.mark.parametrize("n_outputs", [None, 1, 3])
def test_r2_is_r2_score_bit_for_bit(y_dtype, pred_dtype, weights, n_outputs):
    rng = np.random.default_rng(1)
    shape = lambda n: (n,) if n_outputs is None else (n, n_outputs)  # noqa: E731
    for n in (2, 3, 17, 150):
        y = (rng.normal(size=shape(n)) * 10).astype(y_dtype)
        prediction = (y + rng.normal(size=shape(n))).astype(pred_dtype)
        sample_weight = _weights(weights, n, rng)
        if sample_weight is not None and sample_weight.sum() == 0:
            sample_weight[0] = 1
        cases = [(y, prediction)]
        if n_outputs == 3:
            constant, perfect = y.copy(), prediction.copy()
            constant[:, 0] = 2  # a constant column: 0 unless predicted exactly
            perfect[:, 1] = perfect[:, 1].astype(y.dtype)
            perfect[:, 1] = y[:, 1]  # a perfect column: 1
            cases += [(constant, prediction), (y, perfect), (constant, constant.astype(pred_dtype))]
        for y_true, y_pred in cases:
            expected = r2_score(y_true, y_pred, sample_weight=sample_weight)
            got = r2(y_true, y_pred, sample_weight)
            assert type(got) is float
            assert got == expected, (n, got, expected)


def test_r2_of_one_row_is_r2_score_s_warning_and_nan():
    with pytest.warns(Warning, match="less than two samples"):
        assert np.isnan(r2(np.array([1.0]), np.array([2.0])))


def _count_calls(calls, monkeypatch, module, name):
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_the_validation_score_checks_no_targets_per_epoch(Estimator, monkeypatch, estimator_data):
    # accuracy_score and r2_score checked the hold-out's targets on every
    # epoch (about 1 ms each on 30 rows, the most of an epoch's time); the
    # hold-out is checked once, by fit.
    X, y = estimator_data(Estimator)
    checks = []
    _count_calls(checks, monkeypatch, _classification, "_check_targets")
    _count_calls(checks, monkeypatch, _regression, "_check_reg_targets_with_floating_dtype")
    estimator = Estimator(
        hidden_layer_sizes=(8,),
        learning_rate_init=0.01,
        early_stopping=True,
        max_iter=15,
        n_iter_no_change=100,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y, sample_weight=np.linspace(0.5, 2.0, len(y)))
    assert estimator.n_iter_ == 15
    assert len(set(estimator.validation_scores_)) > 1
    assert checks == []
