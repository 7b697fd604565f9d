"""categorical_features: native category columns, one-hot encoded inside the estimators."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import OneHotEncoder

from sknet import LayeredClassifier, LayeredRegressor

pd = pytest.importorskip("pandas")

FAST = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0)


def _table(n=240, seed=0):
    """A numeric column, a category column with missing values, a float32 column."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", None], size=n)
    X = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": pd.Categorical(colour),
            "weight": rng.normal(size=n),
        }
    )
    missing = np.array([value is None for value in colour])
    y = np.where(colour == "red", 2.0, np.where(missing, -1.0, 0.0)) + X["size"]
    return X, y.to_numpy()


def _onehot_by_hand(X):
    """The numeric columns, then the one-hot category columns, as the estimator orders them."""
    encoder = ColumnTransformer(
        [
            ("numeric", "passthrough", ["size", "weight"]),
            ("categorical", OneHotEncoder(sparse_output=False), ["colour"]),
        ]
    )
    return encoder.fit_transform(X)


@pytest.mark.parametrize(
    "categorical_features",
    ["from_dtype", [False, True, False], [1], ["colour"], np.array([1])],
)
def test_every_spelling_one_hot_encodes_the_category_column(categorical_features):
    X, y = _table()
    reg = LayeredRegressor(categorical_features=categorical_features, **FAST).fit(X, y)
    assert reg.n_features_in_ == 3
    assert reg.feature_names_in_.tolist() == ["size", "colour", "weight"]
    assert reg.is_categorical_.tolist() == [False, True, False]
    # 2 numeric columns + 4 categories (red, green, blue, missing).
    assert reg.coefs_[0].shape == (6, 16)
    # The same network as one fitted on the one-hot table by hand.
    by_hand = LayeredRegressor(**FAST).fit(_onehot_by_hand(X), y)
    np.testing.assert_allclose(reg.predict(X), by_hand.predict(_onehot_by_hand(X)), rtol=1e-10)
    assert reg.score(X, y) > 0.99


def test_default_treats_nothing_as_categorical_as_mlp():
    X, y = _table()
    numeric = X[["size", "weight"]]
    default = LayeredRegressor(**FAST).fit(numeric, y)
    assert default.is_categorical_ is None
    # The category column is refused by default, as MLP refuses it.
    with pytest.raises(ValueError, match="could not convert"):
        clone(default).fit(X, y)


def test_from_dtype_on_an_array_is_mlps_path():
    X, y = _table()
    numeric = X[["size", "weight"]].to_numpy()
    plain = LayeredRegressor(**FAST).fit(numeric, y)
    from_dtype = LayeredRegressor(categorical_features="from_dtype", **FAST).fit(numeric, y)
    assert from_dtype.is_categorical_ is None
    np.testing.assert_array_equal(plain.predict(numeric), from_dtype.predict(numeric))
    # As HGB: object columns of a DataFrame are not "from_dtype" categories.
    X_object = X.astype({"colour": object})
    with pytest.raises(ValueError, match="could not convert"):
        LayeredRegressor(categorical_features="from_dtype", **FAST).fit(X_object, y)


def test_mask_on_a_numpy_object_array():
    X, y = _table()
    values = X.to_numpy(dtype=object)
    reg = LayeredRegressor(categorical_features=[1], **FAST).fit(values, y)
    assert reg.n_features_in_ == 3
    assert not hasattr(reg, "feature_names_in_")
    np.testing.assert_allclose(reg.predict(values), reg.predict(X.to_numpy(dtype=object)))
    assert reg.score(values, y) > 0.99


def test_unknown_categories_are_ignored_and_missing_is_a_category():
    X, y = _table()
    clf = LayeredClassifier(categorical_features="from_dtype", **FAST).fit(X, y > 0.5)
    rows = X.head(2).copy()
    rows["colour"] = pd.Categorical(["purple", None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for the unknown category
        proba = clf.predict_proba(rows)
    numeric = rows[["size", "weight"]].to_numpy()
    # One-hot columns in sorted order: blue, green, red, then missing.
    inputs = np.zeros((2, 6))
    inputs[:, :2] = numeric
    inputs[1, 5] = 1  # the missing colour is the missing category of training
    # "purple" was never seen: an all-zero one-hot block, as handle_unknown="ignore".
    expected = clf.network_.predict(inputs).ravel()  # the probability of True
    np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-12)
    assert clf._categorical_encoder.named_transformers_["categorical"].categories_[0][
        :3
    ].tolist() == ["blue", "green", "red"]


def test_a_missing_category_unseen_in_training_is_ignored():
    X, y = _table()
    seen = X["colour"].notna().to_numpy()
    X, y = X[seen], y[seen]
    X["colour"] = X["colour"].cat.remove_unused_categories()
    reg = LayeredRegressor(categorical_features="from_dtype", **FAST).fit(X, y)
    assert reg.coefs_[0].shape == (5, 16)  # 2 numeric, blue, green, red
    row = X.head(1).copy()
    row["colour"] = pd.Categorical([None], categories=["red"])
    inputs = np.zeros((1, 5))
    inputs[0, :2] = row[["size", "weight"]].to_numpy()
    np.testing.assert_allclose(reg.predict(row), reg.network_.predict(inputs).ravel())


def test_nan_in_a_numeric_column_is_an_error_as_in_mlp():
    X, y = _table()
    X.loc[3, "size"] = np.nan
    reg = LayeredRegressor(categorical_features="from_dtype", **FAST)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        reg.fit(X, y)


def test_feature_names_and_count_are_checked_at_predict():
    X, y = _table()
    reg = LayeredRegressor(categorical_features="from_dtype", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="same order"):
        reg.predict(X[["colour", "size", "weight"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fitted with names, given none
        with pytest.raises(ValueError, match="X has 2 features"):
            reg.predict(X[["size", "colour"]].to_numpy(dtype=object))


def test_float32_numeric_columns_stay_float32():
    X, y = _table()
    X = X.astype({"size": np.float32, "weight": np.float32})
    reg = LayeredRegressor(categorical_features="from_dtype", **FAST).fit(X, y)
    assert reg.coefs_[0].dtype == np.float32
    assert reg.predict(X).dtype == np.float32


def test_only_categorical_columns_train_in_float64():
    X, y = _table()
    reg = LayeredRegressor(categorical_features="from_dtype", **FAST).fit(X[["colour"]], y)
    assert reg.coefs_[0].dtype == np.float64
    assert reg.coefs_[0].shape == (4, 16)


@pytest.mark.parametrize(
    "categorical_features, message",
    [
        ([5], "must be in"),
        (["shade"], "not a valid feature name"),
        ([True, False], "boolean mask"),
    ],
)
def test_invalid_categorical_features(categorical_features, message):
    X, y = _table()
    with pytest.raises(ValueError, match=message):
        LayeredRegressor(categorical_features=categorical_features, **FAST).fit(X, y)


def test_sparse_input_with_a_mask_is_refused():
    from scipy import sparse

    X = sparse.random(20, 3, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match="dense"):
        LayeredRegressor(categorical_features=[0], **FAST).fit(X, np.arange(20.0))


def test_warm_start_keeps_the_first_encoding():
    X, y = _table()
    reg = LayeredRegressor(categorical_features="from_dtype", warm_start=True, **FAST).fit(X, y)
    encoder = reg._categorical_encoder
    reg.fit(X.head(50), y[:50])  # fewer categories: same encoding, same input size
    assert reg._categorical_encoder is encoder
    assert reg.coefs_[0].shape == (6, 16)


def test_grid_search_over_categorical_features():
    X, y = _table()
    search = GridSearchCV(
        LayeredRegressor(**FAST),
        {"categorical_features": ["from_dtype", ["colour"]]},
        cv=2,
    ).fit(X, y)
    assert search.best_score_ > 0.9


def test_pickle_round_trip():
    import pickle

    X, y = _table()
    clf = LayeredClassifier(categorical_features="from_dtype", **FAST).fit(X, y > 0.5)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
