"""What LayeredClassifier and LayeredRegressor share: scikit-learn integration,
per-layer parameters, dropout, early stopping, warm starts, input types and errors.

The reference solutions (Ridge, LogisticRegression, PoissonRegressor), weights
and incremental training are in test_classifier.py and test_regressor.py.
"""

import re

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sknet import LayeredClassifier, LayeredRegressor, Network
from sknet._base import HIDDEN_ACTIVATIONS

BOTH = pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])


# -- scikit-learn integration ------------------------------------------------------


@pytest.mark.xdist_group("loky_pool")  # one worker starts joblib's process pool, once
def test_pipeline_grid_search_over_sizes_and_per_layer_activations():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("clf", LayeredClassifier(solver="lbfgs", max_iter=100, random_state=0)),
        ]
    )
    # A per-layer list must match hidden_layer_sizes: list the compatible pairs.
    grid = [
        {"clf__hidden_layer_sizes": [(8,), (8, 4)], "clf__activation": ["relu", "tanh"]},
        {"clf__hidden_layer_sizes": [(8, 4)], "clf__activation": [["tanh", "relu"]]},
        {"clf__hidden_layer_sizes": [(8,)], "clf__activation": [["logistic"]]},
    ]
    search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2, error_score="raise")
    search.fit(X_train, y_train)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 6 and np.isfinite(scores).all()
    assert search.best_score_ == scores.max() > 0.93
    assert search.best_params_ in search.cv_results_["params"]
    assert search.score(X_test, y_test) > 0.93
    best = search.best_estimator_.named_steps["clf"]
    assert best.get_params()["activation"] == search.best_params_["clf__activation"]


def test_per_layer_length_mismatch_names_both_lengths(iris, regression):
    X, y = iris
    clf = LayeredClassifier(hidden_layer_sizes=(8,), activation=["tanh", "relu"])
    with pytest.raises(ValueError, match="activation has 2 entries.*hidden_layer_sizes has 1"):
        clf.fit(X, y)
    reg = LayeredRegressor(hidden_layer_sizes=(8, 4, 2), dropout=[0.1, 0.2])
    with pytest.raises(ValueError, match="dropout has 2 entries.*hidden_layer_sizes has 3"):
        reg.fit(*regression())


def test_unknown_activation_in_a_list_lists_valid_names(iris):
    X, y = iris
    clf = LayeredClassifier(hidden_layer_sizes=(8, 4), activation=["tanh", "swish"])
    with pytest.raises(ValueError, match="'swish'") as excinfo:
        clf.fit(X, y)
    message = str(excinfo.value)
    assert all(name in message for name in HIDDEN_ACTIVATIONS)
    # Output-only activations are not offered for hidden layers.
    assert "softmax" not in HIDDEN_ACTIVATIONS
    with pytest.raises(ValueError, match="'softmax'"):
        LayeredClassifier(hidden_layer_sizes=(8,), activation=["softmax"]).fit(X, y)


@BOTH
def test_joblib_round_trip_is_bit_identical(Estimator, tmp_path, estimator_data, outputs):
    X, y = estimator_data(Estimator)
    estimator = Estimator(
        hidden_layer_sizes=(8, 6),
        activation=["tanh", "relu"],
        dropout=[0.1, 0.0],
        max_iter=20,
        random_state=0,
    ).fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path)
    loaded = joblib.load(path)
    assert np.array_equal(outputs(loaded, X), outputs(estimator, X))
    assert np.array_equal(loaded.predict(X), estimator.predict(X))
    assert loaded.get_params() == estimator.get_params()
    assert loaded.loss_curve_ == estimator.loss_curve_


@BOTH
def test_clone_keeps_every_parameter(Estimator, estimator_data):
    estimator = Estimator(
        hidden_layer_sizes=[16, 8],
        activation=["tanh", "elu"],
        dropout=[0.2, 0.1],
        solver="sgd",
        alpha=0.3,
        learning_rate="adaptive",
        n_iter_no_change=np.inf,
        early_stopping=True,
        random_state=3,
    )
    if Estimator is LayeredClassifier:
        estimator.set_params(class_weight={0: 2.0})
    else:
        estimator.set_params(loss="huber")
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params()
    assert copy.get_params()["activation"] == ["tanh", "elu"]
    assert copy.get_params()["dropout"] == [0.2, 0.1]
    X, y = estimator_data(Estimator)
    copy.fit(X, y)
    assert copy.get_params() == estimator.get_params()  # fit does not alter them


# -- dropout -----------------------------------------------------------------------


@BOTH
def test_dropout_changes_training_not_prediction(Estimator, estimator_data, outputs):
    X, y = estimator_data(Estimator)
    settings = dict(hidden_layer_sizes=(16, 8), max_iter=10, random_state=0)
    plain = Estimator(**settings).fit(X, y)
    dropped = Estimator(dropout=[0.3, 0.1], **settings).fit(X, y)
    for a, b in zip(plain.coefs_, dropped.coefs_, strict=True):
        assert a.shape == b.shape and not np.allclose(a, b)
    first = outputs(dropped, X)
    assert np.array_equal(first, outputs(dropped, X))
    assert np.array_equal(dropped.predict(X), dropped.predict(X))
    network_output = dropped.network_.predict(X)
    if Estimator is LayeredClassifier:
        assert np.array_equal(first, network_output)
    else:
        assert np.array_equal(first, network_output.ravel())


def test_dropout_needs_a_stochastic_solver(regression):
    with pytest.raises(ValueError, match="dropout.*lbfgs"):
        LayeredRegressor(solver="lbfgs", dropout=0.2).fit(*regression())


# -- early stopping ------------------------------------------------------------------


def _record_epochs(monkeypatch):
    """Record the weights after every epoch and the hold-out the estimator made."""
    record = {"weights": [], "validation": None}
    fit = Network.fit

    def recording_fit(self, X, Y, **kwargs):
        record["validation"] = kwargs.get("validation_data")

        def keep(network, logs):
            record["weights"].append(network.get_weights())

        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), keep]
        return fit(self, X, Y, **kwargs)

    monkeypatch.setattr(Network, "fit", recording_fit)
    return record


def _replay_early_stopping(scores, val_losses, tol):
    """The documented rule: (best epoch, last epoch that counted as progress)."""
    best = last_progress = None
    best_score, best_loss = -np.inf, np.inf
    for epoch, (score, loss) in enumerate(zip(scores, val_losses, strict=True)):
        if score >= best_score + tol or (score >= best_score and loss <= best_loss - tol):
            last_progress = epoch
        if score > best_score or (score == best_score and loss < best_loss):
            best, best_score, best_loss = epoch, score, loss
    return best, last_progress


@BOTH
def test_early_stopping_restores_best_weights(Estimator, monkeypatch, iris, regression):
    record = _record_epochs(monkeypatch)
    if Estimator is LayeredClassifier:
        X, y = iris
    else:
        X, y = regression(n_samples=120, noise=40.0)
    n_iter_no_change = 5
    estimator = Estimator(
        hidden_layer_sizes=(64,),
        learning_rate_init=0.03,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=n_iter_no_change,
        max_iter=300,
        random_state=0,
    ).fit(X, y)
    n_iter = estimator.n_iter_
    assert 1 < n_iter < 300  # it did stop early
    assert len(estimator.validation_scores_) == n_iter
    assert len(estimator.validation_loss_curve_) == n_iter
    assert len(estimator.loss_curve_) == n_iter == len(record["weights"])
    assert estimator.best_loss_ is None

    scores = estimator.validation_scores_
    best, last_progress = _replay_early_stopping(
        scores, estimator.validation_loss_curve_, estimator.tol
    )
    assert estimator.best_validation_score_ == scores[best] == max(scores)
    assert n_iter == last_progress + n_iter_no_change + 2  # stopped after the patience ran out
    for final, kept in zip(estimator.network_.get_weights(), record["weights"][best], strict=True):
        assert np.array_equal(final, kept)

    X_val, Y_val, sw_val = record["validation"]
    assert len(X_val) == int(np.ceil(0.25 * len(X)))
    if Estimator is LayeredClassifier:
        y_val = estimator.classes_[Y_val.argmax(axis=1)]
    else:
        y_val = Y_val.ravel()
    assert estimator.score(X_val, y_val, sample_weight=sw_val) == estimator.best_validation_score_
    assert estimator.t_ == n_iter * (len(X) - len(X_val))


@BOTH
def test_without_early_stopping_no_validation_attributes(Estimator, estimator_data):
    X, y = estimator_data(Estimator)
    estimator = Estimator(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    assert estimator.validation_scores_ is None
    assert estimator.validation_loss_curve_ is None
    assert estimator.best_validation_score_ is None
    assert estimator.best_loss_ == min(estimator.loss_curve_)


# -- warm start, counters --------------------------------------------------------------


@BOTH
def test_warm_start_continues_from_previous_weights(Estimator, estimator_data):
    X, y = estimator_data(Estimator)
    settings = dict(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01, tol=0.0)
    estimator = Estimator(warm_start=True, random_state=0, **settings).fit(X, y)
    first_curve = list(estimator.loss_curve_)
    assert estimator.n_iter_ == 30
    estimator.fit(X, y)
    assert estimator.n_iter_ == 30  # the last call only
    assert estimator.loss_curve_[:30] == first_curve
    assert len(estimator.loss_curve_) == 60
    assert estimator.t_ == 60 * len(X)  # samples seen over both calls
    second_first = estimator.loss_curve_[30]
    cold_first = Estimator(random_state=1, **settings).fit(X, y).loss_curve_[0]
    assert second_first == pytest.approx(first_curve[-1], rel=0.1)
    assert second_first < 0.5 * cold_first
    # Without warm_start, a refit starts over.
    estimator.set_params(warm_start=False).fit(X, y)
    assert len(estimator.loss_curve_) == 30
    assert estimator.loss_curve_ == first_curve


@BOTH
def test_warm_start_with_another_architecture_is_an_error(Estimator, estimator_data):
    # The parameters must describe the fitted network: a warm start that
    # silently kept the old layers would leave get_params() and the model apart.
    X, y = estimator_data(Estimator)
    settings = dict(hidden_layer_sizes=(4,), max_iter=3, warm_start=True, random_state=0)
    estimator = Estimator(**settings).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        estimator.set_params(hidden_layer_sizes=(10, 3)).fit(X, y)
    estimator = Estimator(**settings).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        estimator.set_params(activation="tanh").fit(X, y)
    estimator.set_params(activation="relu", warm_start=False).fit(X, y)  # starting over is fine
    estimator.set_params(hidden_layer_sizes=(10, 3), warm_start=False).fit(X, y)
    assert [c.shape[1] for c in estimator.coefs_[:-1]] == [10, 3]


@BOTH
def test_negative_sample_weight_is_an_error(Estimator, estimator_data):
    # Rows of zero weight are dropped before training; a negative weight must
    # not be dropped silently with them.
    X, y = estimator_data(Estimator)
    weights = np.ones(len(y))
    weights[3] = -1.0
    with pytest.raises(ValueError, match="[Nn]egative"):
        Estimator(hidden_layer_sizes=(4,), max_iter=3).fit(X, y, sample_weight=weights)


@BOTH
def test_fitted_attributes(Estimator, estimator_data):
    X, y = estimator_data(Estimator)
    estimator = Estimator(hidden_layer_sizes=(7, 5, 3), max_iter=4, random_state=0).fit(X, y)
    n_outputs = 3 if Estimator is LayeredClassifier else 1
    assert estimator.n_layers_ == 5
    assert estimator.n_outputs_ == n_outputs
    assert estimator.out_activation_ == ("softmax" if n_outputs == 3 else "identity")
    assert [c.shape for c in estimator.coefs_] == [(X.shape[1], 7), (7, 5), (5, 3), (3, n_outputs)]
    assert [b.shape for b in estimator.intercepts_] == [(7,), (5,), (3,), (n_outputs,)]
    assert estimator.n_iter_ == len(estimator.loss_curve_) == 4
    assert estimator.t_ == 4 * len(X)
    assert estimator.loss_ == estimator.loss_curve_[-1]
    assert estimator.n_features_in_ == X.shape[1]
    lbfgs = Estimator(hidden_layer_sizes=(), solver="lbfgs", random_state=0).fit(X, y)
    assert lbfgs.n_layers_ == 2 and lbfgs.t_ == 0
    assert lbfgs.loss_ == lbfgs.loss_curve_[-1]
    one_int = Estimator(hidden_layer_sizes=5, solver="lbfgs", max_iter=3).fit(X, y)
    assert one_int.n_layers_ == 3 and one_int.coefs_[0].shape == (X.shape[1], 5)
    assert len(lbfgs.loss_curve_) == lbfgs.n_iter_


@BOTH
def test_partial_fit_only_for_stochastic_solvers(Estimator):
    # Hidden for lbfgs, as MLP; with early stopping too, but reaching for it
    # raises MLP's ValueError (test_hardening.py).
    estimator = Estimator(solver="lbfgs")
    assert not hasattr(estimator, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit") as excinfo:
        estimator.partial_fit  # noqa: B018
    assert "stochastic solvers" in str(excinfo.value)
    assert hasattr(Estimator(solver="sgd"), "partial_fit")
    assert not hasattr(Estimator(early_stopping=True), "partial_fit")


# -- input types -------------------------------------------------------------------


@BOTH
def test_sparse_matches_dense_with_shuffled_adam(Estimator, estimator_data, outputs):
    X, y = estimator_data(Estimator)
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    settings = dict(hidden_layer_sizes=(8,), batch_size=32, max_iter=15, random_state=0)
    dense = Estimator(**settings).fit(X, y)
    for fmt in (sparse.csr_matrix, sparse.csc_matrix):
        fitted = Estimator(**settings).fit(fmt(X), y)
        np.testing.assert_allclose(outputs(fitted, fmt(X)), outputs(dense, X), atol=1e-10)
        np.testing.assert_allclose(outputs(fitted, X), outputs(dense, X), atol=1e-10)


@pytest.mark.parametrize("hidden, max_iter", [((), 10000), ((8,), 20)])
def test_sparse_matches_dense_lbfgs_classifier(hidden, max_iter, iris):
    # A sparse product rounds differently from a dense one. Measured: 3e-14
    # at convergence without hidden layer; with one, 3e-13 after 20 iterations,
    # but L-BFGS amplifies the difference on this separable problem (7e-7
    # after 50 iterations, by which point probabilities reach 1e-230).
    X, y = iris
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    settings = dict(hidden_layer_sizes=hidden, solver="lbfgs", max_iter=max_iter, random_state=0)
    dense = LayeredClassifier(**settings).fit(X, y).predict_proba(X)
    for fmt in (sparse.csr_matrix, sparse.csc_matrix):
        proba = LayeredClassifier(**settings).fit(fmt(X), y).predict_proba(fmt(X))
        np.testing.assert_allclose(proba, dense, rtol=0, atol=1e-10)


@BOTH
def test_dataframe_sets_feature_names(Estimator, estimator_data):
    X, y = estimator_data(Estimator)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    estimator = Estimator(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(frame, y)
    assert list(estimator.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = estimator.predict(X)
    assert np.array_equal(estimator.predict(frame), from_array)
    with pytest.raises(ValueError, match="feature names"):
        estimator.predict(frame.rename(columns={"f0": "other"}))


@BOTH
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(Estimator, dtype, estimator_data, outputs):
    X, y = estimator_data(Estimator)
    X = X.astype(dtype)
    estimator = Estimator(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    assert all(c.dtype == dtype for c in estimator.coefs_ + estimator.intercepts_)
    assert outputs(estimator, X).dtype == dtype
    if Estimator is LayeredRegressor:
        assert estimator.predict(X).dtype == dtype


def test_float32_close_to_float64(iris):
    X, y = iris
    settings = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    X32 = X.astype(np.float32)
    p32 = LayeredClassifier(**settings).fit(X32, y).predict_proba(X32)
    p64 = LayeredClassifier(**settings).fit(X, y).predict_proba(X)
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    np.testing.assert_allclose(p32, p64, atol=1e-4)


# -- errors and messages ---------------------------------------------------------------


@BOTH
def test_non_finite_and_wrong_shape_input_errors(Estimator, estimator_data):
    X, y = estimator_data(Estimator)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        Estimator().fit(bad, y)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        Estimator().fit(bad, y)
    estimator = Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        estimator.predict(np.where(X == X[0, 0], np.nan, X))
    message = (
        f"X has 3 features, but {Estimator.__name__} is expecting {X.shape[1]} features as input"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        estimator.predict(X[:, :3])


@BOTH
def test_verbose_prints_one_line_per_epoch(Estimator, capsys, estimator_data):
    X, y = estimator_data(Estimator)
    Estimator(hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all(" - loss: " in line for line in lines)
    Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
