"""The tabular recipe: DataFrames with categories and missing values, arrays, conventions."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sknet import (
    LayeredClassifier,
    LayeredRegressor,
    PiecewiseLinearEncoder,
    make_tabular_classifier,
    make_tabular_regressor,
)
from sknet.ensemble import SeedEnsembleClassifier, SeedEnsembleRegressor
from sknet.tabular import _categories_as_str, _numeric_mask

pd = pytest.importorskip("pandas")

FAST = {"max_iter": 40, "hidden_layer_sizes": (32,), "n_iter_no_change": 40}


def _table(n=300, seed=0):
    """Numeric, category, object and missing values; the target needs all of them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "count": rng.integers(0, 5, size=n),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], size=n)),
            "city": rng.choice(["Paris", "Lyon", "Nice", None], size=n).astype(object),
        }
    )
    logit = 2.0 * np.abs(X["x"].to_numpy()) - 1.5 + 2.0 * (X["colour"] == "red").to_numpy()
    logit -= 2.0 * (X["city"] == "Lyon").to_numpy()
    X.loc[rng.random(n) < 0.15, "x"] = np.nan
    X.loc[rng.random(n) < 0.1, "colour"] = np.nan
    return X, logit


def test_classifier_fits_a_dataframe_with_categories_and_missing_values():
    X, logit = _table()
    y = np.where(logit > 0, "yes", "no")
    X_train, X_test, y_train, y_test = X[:200], X[200:], y[:200], y[200:]
    clf = make_tabular_classifier(random_state=0, **FAST).fit(X_train, y_train)
    dummy = DummyClassifier().fit(X_train, y_train).score(X_test, y_test)
    assert clf.score(X_test, y_test) > dummy + 0.15
    assert_array_equal(clf.classes_, ["no", "yes"])
    # New categories, a new missing value in a numeric column without missing
    # values in training, and a whole-NaN row are all predicted.
    new = pd.DataFrame(
        {
            "x": [0.1, np.nan],
            "count": [np.nan, 2],
            "colour": pd.Categorical(["purple", None]),
            "city": ["Marseille", None],
        }
    )
    proba = clf.predict_proba(new)
    assert proba.shape == (2, 2) and np.all(np.isfinite(proba))


def test_regressor_scales_the_target():
    X, logit = _table()
    y = 1e5 + 2e4 * logit  # a target in the hundreds of thousands
    # Batches of 32: each of the recipe's three networks takes enough steps in
    # 40 epochs to learn the logit (a single batch of 128 rows per epoch did not).
    reg = make_tabular_regressor(random_state=0, **{**FAST, "batch_size": 32})
    assert isinstance(reg, TransformedTargetRegressor)
    reg.fit(X[:200], y[:200])
    dummy = DummyRegressor().fit(X[:200], y[:200]).score(X[200:], y[200:])
    assert reg.score(X[200:], y[200:]) > dummy + 0.5
    # The network learnt on a standardised target.
    y_seen = reg.transformer_.transform(y[:200, None])
    assert abs(y_seen.mean()) < 1e-8 and abs(y_seen.std() - 1) < 1e-8


def test_piecewise_linear_encoding_beats_standard_scaling_on_a_step():
    # A step a ReLU net finds hard to place from one standardised input but
    # the encoding gives it almost for free.
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(400, 1))
    y = np.where(x[:, 0] > 0.7, 1.0, 0.0) + np.where(x[:, 0] > -1.2, 1.0, 0.0)
    options = {"random_state": 0, "max_iter": 100, "batch_size": 32, "hidden_layer_sizes": (16,)}
    ple = make_tabular_regressor(n_bins=16, **options)
    ple = ple.fit(x[:300], y[:300]).score(x[300:], y[300:])
    std = make_tabular_regressor(numeric_encoding="standard", **options)
    std = std.fit(x[:300], y[:300]).score(x[300:], y[300:])
    assert ple > 0.95
    assert ple > std + 0.03


def test_numpy_arrays_work():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    clf = make_tabular_classifier(random_state=0, **FAST).fit(X[:300], y[:300])
    dummy = DummyClassifier().fit(X[:300], y[:300]).score(X[300:], y[300:])
    assert clf.score(X[300:], y[300:]) > dummy + 0.1
    # An object array: numeric columns by content, the rest one-hot.
    X_obj = np.column_stack([X[:, 0], np.where(X[:, 1] > 0, "a", "b")]).astype(object)
    X_obj[:, 0] = X[:, 0]
    X_obj[3, 0] = None
    assert_array_equal(_numeric_mask(X_obj), [True, False])
    clf = make_tabular_classifier(random_state=0, **FAST).fit(X_obj, y)
    assert clf.predict(X_obj).shape == (400,)


def test_categories_as_str_puts_every_missing_value_in_one_category():
    X = np.array([["a", None], [np.nan, pd.NA], [1.5, "b"]], dtype=object)
    assert _categories_as_str(X).tolist() == [
        ["a", "__missing__"],
        ["__missing__", "__missing__"],
        ["1.5", "b"],
    ]


def test_column_roles_by_dtype():
    X = pd.DataFrame(
        {
            "f": [1.0, 2.0],
            "i": [1, 2],
            "b": [True, False],
            "cat": pd.Categorical([1, 2]),  # numbers, but a category
            "s": ["u", "v"],
        }
    )
    assert_array_equal(_numeric_mask(X), [True, True, True, False, False])


def test_defaults_and_options():
    clf = make_tabular_classifier(random_state=3)
    assert isinstance(clf, Pipeline)
    ensemble = clf.named_steps["net"]
    assert isinstance(ensemble, SeedEnsembleClassifier)
    assert ensemble.n_estimators == 3 and ensemble.random_state == 3
    net = ensemble.estimator
    assert isinstance(net, LayeredClassifier)
    assert net.hidden_layer_sizes == (128, 128) and net.early_stopping
    encode = clf.get_params()["preprocess__columns__numeric__encode"]
    assert isinstance(encode, PiecewiseLinearEncoder) and encode.n_bins == "auto"
    clf = make_tabular_classifier(hidden_layer_sizes=(8,), dropout=0.1, n_bins=4, bins="tree")
    assert clf.named_steps["net"].estimator.hidden_layer_sizes == (8,)
    assert clf.named_steps["net"].estimator.dropout == 0.1
    assert clf.get_params()["preprocess__columns__numeric__encode__strategy"] == "tree"
    reg = make_tabular_regressor(loss="huber")
    assert isinstance(reg.regressor.named_steps["net"], SeedEnsembleRegressor)
    assert isinstance(reg.regressor.named_steps["net"].estimator, LayeredRegressor)
    assert reg.regressor.named_steps["net"].estimator.loss == "huber"
    assert make_tabular_regressor(n_networks=5).get_params()["regressor__net__n_estimators"] == 5
    with pytest.raises(ValueError, match="Unknown option.*'hiden_layer_sizes'"):
        make_tabular_classifier(hiden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="numeric_encoding"):
        make_tabular_regressor(numeric_encoding="periodic")
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="n_networks must be an integer"):
            make_tabular_classifier(n_networks=bad)


def test_clone_params_grid_search_and_pickle():
    X, logit = _table(n=200)
    y = (logit > 0).astype(int)
    clf = make_tabular_classifier(random_state=0, **FAST)
    cloned = clone(clf)
    assert cloned.get_params()["net__estimator__alpha"] == clf.get_params()["net__estimator__alpha"]
    cloned.set_params(net__estimator__alpha=0.5, preprocess__columns__numeric__encode__n_bins=3)
    assert cloned.named_steps["net"].estimator.alpha == 0.5
    grid = GridSearchCV(
        clf,
        {
            "net__estimator__alpha": [1e-4, 1.0],
            "preprocess__columns__numeric__encode__n_bins": [2, 8],
        },
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    members = grid.best_estimator_.named_steps["net"].estimators_
    assert len(members) == 3 and all(member.n_iter_ > 0 for member in members)
    restored = pickle.loads(pickle.dumps(grid.best_estimator_))
    assert_allclose(restored.predict_proba(X), grid.best_estimator_.predict_proba(X))
    reg = make_tabular_regressor(random_state=0, **FAST)
    assert "regressor__net__estimator__alpha" in clone(reg).get_params()


def test_random_state_makes_fits_repeatable():
    X, logit = _table(n=150)
    a = make_tabular_regressor(random_state=1, **FAST).fit(X, logit).predict(X)
    b = make_tabular_regressor(random_state=1, **FAST).fit(X, logit).predict(X)
    assert_array_equal(a, b)


def test_feature_names_out():
    X, logit = _table(n=100)
    clf = make_tabular_classifier(n_bins=2, random_state=0, **FAST).fit(X, logit > 0)
    names = clf.named_steps["preprocess"].get_feature_names_out().tolist()
    assert names[:4] == [
        "numeric__x_bin0",
        "numeric__x_bin1",
        "numeric__count_bin0",
        "numeric__count_bin1",
    ]
    assert "missing__missingindicator_x" in names
    assert "categorical__colour___missing__" in names
    assert len(names) == clf.named_steps["net"].n_features_in_
    assert len(names) == clf.named_steps["net"].estimators_[0].n_features_in_


def test_pandas_nullable_dtypes_are_numeric():
    n = 120
    rng = np.random.default_rng(0)
    values = rng.integers(0, 10, size=n)
    X = pd.DataFrame(
        {
            "count": pd.array(np.where(values == 0, None, values), dtype="Int64"),
            "share": pd.array(np.where(values == 1, None, values / 10), dtype="Float64"),
            "flag": pd.array(np.where(values == 2, None, values > 5), dtype="boolean"),
            "name": pd.array(
                np.where(values == 3, None, "n" + (values % 3).astype(str)), dtype="string"
            ),
        }
    )
    assert_array_equal(_numeric_mask(X), [True, True, True, False])
    y = values > 4
    clf = make_tabular_classifier(random_state=0, **{**FAST, "max_iter": 200, "batch_size": 32})
    clf.fit(X, y)
    names = clf.named_steps["preprocess"].get_feature_names_out()
    assert "missing__missingindicator_count" in names
    assert clf.score(X, y) > 0.9


def test_the_new_layers_pass_through_and_a_second_binning_is_refused():
    X, logit = _table(n=200)
    reg = make_tabular_regressor(
        numeric_embedding="periodic", batch_norm=True, random_state=0, **FAST
    ).fit(X, logit)
    net = reg.regressor_.named_steps["net"].estimators_[0]
    assert [type(layer).__name__ for layer in net.network_.layers] == [
        "PeriodicEmbedding",
        "Dense",
        "BatchNorm",
        "Dense",
    ]
    assert reg.score(X, logit) > 0.5
    clf = make_tabular_classifier(
        numeric_encoding="standard", numeric_embedding="piecewise_linear", random_state=0, **FAST
    ).fit(X, logit > 0)
    assert all(net._numeric_encoder is not None for net in clf.named_steps["net"].estimators_)
    # The recipe's own encoding is piecewise-linear already: binning its bins
    # again (and its one-hot columns) is refused, for both recipes.
    for make in (make_tabular_classifier, make_tabular_regressor):
        with pytest.raises(ValueError, match="already piecewise-linear encoded"):
            make(numeric_embedding="piecewise_linear")
