"""The one-line tabular recipe: a network that takes a table as it is.

:func:`make_tabular_classifier` and :func:`make_tabular_regressor` return an
unfitted scikit-learn estimator that fits a pandas DataFrame with numeric,
``category``/object/string columns and missing values as it is (a numpy array
too): numeric columns are imputed (with a missing-value indicator) and
piecewise-linear encoded, categorical columns one-hot encoded, and a
:class:`~sknet.LayeredClassifier` / :class:`~sknet.LayeredRegressor` with early
stopping learns from the result, three times from three seeds, the three
averaged; the regressor also learns on a standardised target. This module is
on the scikit-learn side of the package.
"""

from numbers import Integral

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from .ensemble import SeedEnsembleClassifier, SeedEnsembleRegressor
from .estimators import LayeredClassifier, LayeredRegressor
from .preprocessing import PiecewiseLinearEncoder

__all__ = ["make_tabular_classifier", "make_tabular_regressor"]

# The network's defaults in the recipe; any of them, and any other
# hyperparameter of the estimator, can be overridden through **net_options.
# Three networks of (128, 128) scored above one of (256, 256) on all 13 tables
# of the benchmark, in about 1.5 times its fit time (the Tabular guide).
NET_DEFAULTS = {
    "hidden_layer_sizes": (128, 128),
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
    "max_iter": 200,
    "batch_size": 128,
    "learning_rate_init": 1e-3,
    "alpha": 1e-4,
}
NUMERIC_ENCODINGS = ("piecewise_linear", "standard", "both")
MISSING = "__missing__"


def _is_numeric_dtype(dtype):
    # bool counts as numeric (0/1), and so do pandas' nullable Int64, Float64
    # and boolean dtypes (their kind is i, f, b); category, object and string
    # dtypes do not, even when their values are numbers.
    return getattr(dtype, "kind", "O") in "biuf"


def _numeric_mask(X):
    """Which columns of ``X`` are numeric: by dtype for a DataFrame, by content otherwise."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None:
        return np.array([_is_numeric_dtype(dtype) for dtype in dtypes], dtype=bool)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D table, got an array of shape {X.shape}.")
    if X.dtype.kind in "biuf":
        return np.ones(X.shape[1], dtype=bool)
    # An object array: a column is numeric when every value converts to float
    # (None and NaN are missing values, so they do too).
    mask = np.ones(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        try:
            np.asarray(X[:, j], dtype=np.float64)
        except (TypeError, ValueError):
            mask[j] = False
    return mask


class _Columns:
    """Picklable column selector for ColumnTransformer: the numeric or the other columns."""

    def __init__(self, numeric):
        self.numeric = numeric

    def __call__(self, X):
        mask = _numeric_mask(X)
        return mask if self.numeric else ~mask

    def __repr__(self):
        return f"_Columns(numeric={self.numeric})"


def _is_missing(value):
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:  # pandas.NA cannot be tested for truth
        return True


_IS_MISSING = np.frompyfunc(_is_missing, 1, 1)


def _categories_as_str(X):
    """Categorical columns as strings, every kind of missing value as one category."""
    X = np.asarray(X, dtype=object)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    # Object, not a fixed-width str dtype, which would cut the label short.
    out = X.astype(str).astype(object)
    out[_IS_MISSING(X).astype(bool)] = MISSING
    return out


def _as_float32(X):
    return np.asarray(X, dtype=np.float32)


def _preprocessor(numeric_encoding, n_bins, bins, min_frequency, max_categories, random_state):
    if numeric_encoding not in NUMERIC_ENCODINGS:
        raise ValueError(
            f"numeric_encoding must be one of {list(NUMERIC_ENCODINGS)}, got {numeric_encoding!r}."
        )
    if numeric_encoding == "standard":
        encode = StandardScaler()
    else:
        encode = PiecewiseLinearEncoder(n_bins=n_bins, strategy=bins, random_state=random_state)
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("encode", encode)])
    # "both": the standardised value rides next to its bins. The bins can
    # express any piecewise-linear function of a column, but a smooth (nearly
    # linear) one then needs the same slope learnt on every bin, from the few
    # rows in each; one standardised input learns it from all the rows.
    standard = [
        (
            "standard",
            Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
            _Columns(numeric=True),
        )
    ]
    categorical = Pipeline(
        [
            (
                "as_str",
                FunctionTransformer(
                    _categories_as_str, feature_names_out="one-to-one", validate=False
                ),
            ),
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=min_frequency,
                    max_categories=max_categories,
                    sparse_output=False,
                    dtype=np.float32,
                ),
            ),
        ]
    )
    columns = ColumnTransformer(
        [
            ("numeric", numeric, _Columns(numeric=True)),
            *(standard if numeric_encoding == "both" else []),
            (
                "missing",
                MissingIndicator(features="missing-only", error_on_new=False),
                _Columns(numeric=True),
            ),
            ("categorical", categorical, _Columns(numeric=False)),
        ],
        sparse_threshold=0,
    )
    return Pipeline(
        [
            ("columns", columns),
            # The network trains in float32: half the time of float64 for the
            # same scores on tables.
            ("float32", FunctionTransformer(_as_float32, feature_names_out="one-to-one")),
        ]
    )


def _net(cls, ensemble, n_networks, random_state, net_options, numeric_encoding):
    # Checked here, where the user's name for it is known (the ensemble calls
    # it n_estimators); bool is an int that is not a count.
    if isinstance(n_networks, bool) or not isinstance(n_networks, Integral) or n_networks < 1:
        raise ValueError(f"n_networks must be an integer of at least 1, got {n_networks!r}.")
    params = {**NET_DEFAULTS, "random_state": random_state, **net_options}
    if numeric_encoding != "standard" and params.get("numeric_embedding") == "piecewise_linear":
        # The estimator would bin the recipe's bins (and its one-hot and
        # missing-value columns) a second time.
        raise ValueError(
            "numeric_embedding='piecewise_linear' encodes the numeric columns that the "
            "recipe has already piecewise-linear encoded (numeric_encoding="
            f"{numeric_encoding!r}); pass numeric_encoding='standard' with it, or leave "
            "numeric_embedding out."
        )
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for {cls.__name__}; valid options are "
            "numeric_encoding, n_bins, bins, min_frequency, max_categories, n_networks, "
            f"random_state and the hyperparameters of {cls.__name__}: {sorted(valid)}."
        )
    return ensemble(cls(**params), n_estimators=n_networks, random_state=random_state)


def make_tabular_classifier(
    *,
    numeric_encoding="piecewise_linear",
    n_bins="auto",
    bins="quantile",
    min_frequency=5,
    max_categories=None,
    n_networks=3,
    random_state=None,
    **net_options,
):
    """A classifier that fits a table as it is: preprocessing and a network in one Pipeline.

    The returned :class:`~sklearn.pipeline.Pipeline` has two steps:

    - ``"preprocess"``: numeric columns (numeric dtypes, bool included) are
      imputed with their median, then piecewise-linear encoded
      (:class:`~sknet.preprocessing.PiecewiseLinearEncoder`); a 0/1 column flags
      the missing values of each numeric column that had some in training;
      every other column (``category``, object, string) is one-hot encoded, a
      missing value being a category of its own, rare categories grouped and
      unknown ones at predict time read as that group (or as all zeros);
    - ``"net"``: a :class:`~sknet.ensemble.SeedEnsembleClassifier` of
      ``n_networks`` :class:`~sknet.LayeredClassifier` networks, each with two
      hidden layers of 128 ReLU units, Adam, batches of 128 and early stopping
      on 10% of the training rows, each from its own seed; their class
      probabilities are averaged.

    A numpy array works too: every column of a numeric array is numeric; in an
    object array, the columns whose values all convert to float are.

    Parameters
    ----------
    numeric_encoding : {"piecewise_linear", "standard", "both"}, default="piecewise_linear"
        How numeric columns reach the network: ``"piecewise_linear"``, the
        piecewise-linear encoding of Gorishniy et al. (2022); ``"standard"``,
        plain standardisation (:class:`~sklearn.preprocessing.StandardScaler`);
        ``"both"``, each standardised column next to its encoding. The bins let
        the network give each range of a column its own slope; the
        standardised column gives it one slope learnt from every row, which
        helps a smooth (nearly linear) effect on a small table; on the
        benchmark's larger nonlinear tables it lost to the encoding alone.

    n_bins : int or "auto", default="auto"
        Bins per numeric feature of the piecewise-linear encoding. ``"auto"``:
        from 8 (up to about 1,000 rows) to 16 (from about 4,000 rows), growing
        with the square root of the training rows.

    bins : {"quantile", "tree"}, default="quantile"
        How the encoding's bins are chosen (``strategy`` of
        :class:`~sknet.preprocessing.PiecewiseLinearEncoder`).

    min_frequency : int, float or None, default=5
        Categories seen fewer times than this in training (a share of the rows
        if a float) are grouped into one "infrequent" column.

    max_categories : int or None, default=None
        The most one-hot columns per categorical feature, the infrequent group
        included.

    n_networks : int, default=3
        How many networks are trained and averaged; each costs one network's
        fit time. One network's early-stopping epoch, chosen on a tenth of a
        small table, is mostly chance; the average of three is steadier, and
        scored above one larger network on all 13 tables of the benchmark.

    random_state : int, RandomState instance or None, default=None
        Seeds the encoder and the ensemble, which draws each network's seed
        (initial weights, batches, early-stopping split).

    **net_options
        Any hyperparameter of :class:`~sknet.LayeredClassifier`, overriding the
        recipe's: for example ``hidden_layer_sizes=(512, 256)``,
        ``dropout=0.1``, ``max_iter=50``, ``class_weight="balanced"``,
        ``numeric_embedding="periodic"`` (a trained periodic embedding of
        the encoded columns) or ``batch_norm=True``; the recipe leaves both at
        their defaults, which scored best on its benchmark.
        ``numeric_embedding="piecewise_linear"`` needs
        ``numeric_encoding="standard"`` (the recipe's default encoding is
        already piecewise-linear).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted. Its parameters follow scikit-learn's nesting:
        ``net__n_estimators`` (``n_networks``), ``net__estimator__alpha``,
        ``net__estimator__hidden_layer_sizes``,
        ``preprocess__columns__numeric__encode__n_bins``, ...; a grid search
        goes over those. The fitted networks are
        ``pipeline.named_steps["net"].estimators_``.

    See Also
    --------
    make_tabular_regressor : The same recipe for regression.

    Examples
    --------
    A table with a numeric column (missing values included) and a text one, as
    a pandas DataFrame would hold them (here a numpy object array, which works
    the same way):

    >>> import numpy as np
    >>> from sknet import make_tabular_classifier
    >>> rng = np.random.default_rng(0)
    >>> size = rng.normal(size=200)
    >>> colour = rng.choice(["red", "blue"], size=200)
    >>> y = (colour == "red") ^ (size > 0)
    >>> X = np.column_stack([size, colour]).astype(object)
    >>> X[:, 0] = size
    >>> X[::10, 0] = None
    >>> clf = make_tabular_classifier(max_iter=20, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.predict(np.array([[0.5, "green"]], dtype=object)).shape  # a new colour
    (1,)
    """
    return Pipeline(
        [
            (
                "preprocess",
                _preprocessor(
                    numeric_encoding, n_bins, bins, min_frequency, max_categories, random_state
                ),
            ),
            (
                "net",
                _net(
                    LayeredClassifier,
                    SeedEnsembleClassifier,
                    n_networks,
                    random_state,
                    net_options,
                    numeric_encoding,
                ),
            ),
        ]
    )


def make_tabular_regressor(
    *,
    numeric_encoding="piecewise_linear",
    n_bins="auto",
    bins="quantile",
    min_frequency=5,
    max_categories=None,
    n_networks=3,
    random_state=None,
    **net_options,
):
    """A regressor that fits a table as it is, on a standardised target.

    The same preprocessing and network as :func:`make_tabular_classifier`, with
    a :class:`~sknet.LayeredRegressor` (squared error), inside a
    :class:`~sklearn.compose.TransformedTargetRegressor` that standardises the
    target for training and maps predictions back: a network's output layer
    starts near 0 with unit-scale steps, so a target in the thousands would
    take most of the training budget just to reach its scale.

    Parameters
    ----------
    numeric_encoding : {"piecewise_linear", "standard", "both"}, default="piecewise_linear"
        How numeric columns reach the network: the piecewise-linear encoding
        (Gorishniy et al., 2022), plain standardisation, or each standardised
        column next to its encoding (see :func:`make_tabular_classifier`).

    n_bins : int or "auto", default="auto"
        Bins per numeric feature of the piecewise-linear encoding. ``"auto"``:
        from 8 (up to about 1,000 rows) to 16 (from about 4,000 rows), growing
        with the square root of the training rows.

    bins : {"quantile", "tree"}, default="quantile"
        How the encoding's bins are chosen; ``"tree"`` uses the (standardised)
        target.

    min_frequency : int, float or None, default=5
        Categories seen fewer times than this in training are grouped.

    max_categories : int or None, default=None
        The most one-hot columns per categorical feature.

    n_networks : int, default=3
        How many networks are trained and their predictions averaged (see
        :func:`make_tabular_classifier`).

    random_state : int, RandomState instance or None, default=None
        Seeds the encoder and the ensemble, which draws each network's seed.

    **net_options
        Any hyperparameter of :class:`~sknet.LayeredRegressor`, overriding the
        recipe's (``loss="huber"``, ``hidden_layer_sizes=(128,)``,
        ``numeric_embedding="periodic"``, ``batch_norm=True``, ...; see
        :func:`make_tabular_classifier`).

    Returns
    -------
    regressor : sklearn.compose.TransformedTargetRegressor
        Unfitted. Its ``regressor`` is the Pipeline (``"preprocess"``,
        ``"net"``, a :class:`~sknet.ensemble.SeedEnsembleRegressor`), so its
        parameters read ``regressor__net__estimator__alpha``,
        ``regressor__net__n_estimators``,
        ``regressor__preprocess__columns__numeric__encode__n_bins``, ...

    See Also
    --------
    make_tabular_classifier : The same recipe for classification.

    Examples
    --------
    Prices in the hundreds of thousands, a city that may be missing:

    >>> import numpy as np
    >>> from sknet import make_tabular_regressor
    >>> rng = np.random.default_rng(0)
    >>> area = rng.uniform(20, 200, size=200)
    >>> city = rng.choice(["Paris", "Lyon", None], size=200)
    >>> y = 5000 * area * np.where(city == "Paris", 2.0, 1.0)
    >>> X = np.empty((200, 2), dtype=object)
    >>> X[:, 0], X[:, 1] = area, city
    >>> reg = make_tabular_regressor(max_iter=30, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """
    pipeline = Pipeline(
        [
            (
                "preprocess",
                _preprocessor(
                    numeric_encoding, n_bins, bins, min_frequency, max_categories, random_state
                ),
            ),
            (
                "net",
                _net(
                    LayeredRegressor,
                    SeedEnsembleRegressor,
                    n_networks,
                    random_state,
                    net_options,
                    numeric_encoding,
                ),
            ),
        ]
    )
    return TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())
