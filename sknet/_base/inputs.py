"""How the estimators turn raw X into the network's inputs.

With ``categorical_features``, the estimators one-hot encode the categorical
columns themselves (as HistGradientBoosting ordinal-encodes them), and the
network sees the numeric columns followed by the one-hot columns. With
``numeric_embedding="piecewise_linear"``, the numeric columns are then
encoded piecewise-linearly. The module functions make the (unfitted)
encoders; :class:`_InputsMixin` fits and applies them for the estimator.
"""

import warnings

import numpy as np
from array_api_compat import is_array_api_obj
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_array

from ..preprocessing import PiecewiseLinearEncoder
from .compat import _check_categorical_features
from .placement import on_host, same_place, where

# -- categorical features ------------------------------------------------------
# A fitted estimator's encoder holds _numeric_block by reference: pickles made
# before this module existed name it sknet._base._numeric_block, which
# sknet._base re-exports.


def _numeric_block(X, estimator):
    """The numeric columns, validated as MLP validates X: float, finite (no NaN)."""
    return check_array(
        X,
        dtype=[np.float64, np.float32],
        ensure_all_finite=True,
        estimator=estimator,
        input_name="X",
    )


def _categorical_encoder(is_categorical, name):
    """The (unfitted) transformer from the raw columns to the network's inputs.

    Unknown categories at predict time are all-zero rows of their feature's
    one-hot block (``handle_unknown="ignore"``); a missing value (NaN, None)
    seen in training is a category of its own.
    """
    encoder = ColumnTransformer(
        [
            (
                "numeric",
                FunctionTransformer(_numeric_block, kw_args={"estimator": name}),
                ~is_categorical,
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
                is_categorical,
            ),
        ],
        sparse_threshold=0,
    )
    return encoder.set_output(transform="default")


def _is_categorical(X, categorical_features):
    """The boolean mask of categorical columns of ``X``, or None when there are none."""
    if categorical_features is None:
        return None
    if is_array_api_obj(X) and not isinstance(X, np.ndarray):
        if isinstance(categorical_features, str):
            return None  # "from_dtype": an array has no category dtype
        raise ValueError(
            "categorical_features given as a mask, indices or names needs X as a numpy "
            f"array or a DataFrame, got {type(X).__module__}.{type(X).__name__}; "
            "encode the categorical columns first, or pass the data as numpy."
        )
    if sparse.issparse(X):
        if isinstance(categorical_features, str):
            return None
        raise ValueError(
            "categorical_features needs dense X (a numpy array or a DataFrame), got a "
            "sparse matrix; one-hot encode the categorical columns first instead."
        )
    if not hasattr(X, "shape") and not hasattr(X, "__dataframe__"):
        X = np.asarray(X, dtype=object)  # a list of rows
    mask = _check_categorical_features(X, categorical_features)
    if mask is None or not mask.any():
        return None
    return mask


def _numeric_encoder(numeric_embedding, n_numeric, random_state):
    """The (unfitted) piecewise-linear encoder of the numeric columns, or None.

    Its bins are the quantiles of each numeric column (``n_bins="auto"``, as
    in sknet's tabular recipe); ``random_state`` seeds its row subsample,
    which only tables of more than 200,000 rows take.
    """
    if numeric_embedding != "piecewise_linear" or n_numeric == 0:
        return None
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return PiecewiseLinearEncoder(n_bins="auto", random_state=seed)


class _InputsMixin:
    """The estimators' encoding of their inputs: categorical, then numeric columns."""

    def _encode_categorical(self, X, reset):
        """The network's inputs for raw ``X``: numeric columns, then one-hot categories.

        ``n_features_in_`` and ``feature_names_in_`` describe the raw columns,
        checked as ``validate_data`` checks them.
        """
        if not hasattr(X, "shape") and not hasattr(X, "__dataframe__"):
            X = np.asarray(X, dtype=object)  # a list of rows
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        encoder = self._categorical_encoder
        if reset:
            encoded = encoder.fit_transform(X)
        else:
            with warnings.catch_warnings():
                # Unknown categories are ignored by design (all-zero one-hot
                # block), and the feature names were checked just above.
                warnings.filterwarnings("ignore", message="Found unknown categories")
                warnings.filterwarnings("ignore", message=".*ColumnTransformer was fitted")
                encoded = encoder.transform(X)
        if self.is_categorical_.all():
            # Only one-hot columns (float32, exact 0/1): compute in float64, as
            # for any input that is not float32.
            encoded = encoded.astype(np.float64)
        return encoded

    def _n_numeric(self, X):
        """How many of the network's input columns (the first ones) are numeric features."""
        if getattr(self, "is_categorical_", None) is None:
            return X.shape[1]
        return int(np.count_nonzero(~self.is_categorical_))

    def _encode_numeric(self, X, reset, sample_weight=None):
        """The piecewise-linear encoding of the numeric columns of the network's inputs.

        ``X`` is what the network would see without it: the numeric columns,
        then any one-hot columns, which pass on as they are. The encoder works
        on the host; the result goes back where ``X`` lives. On ``reset`` it
        learns its bins, with the rows' weights (a weight of k counts as k
        copies of the row, as in the network's loss).
        """
        encoder = self._numeric_encoder
        host = on_host(X)
        if sparse.issparse(host):
            host = host.toarray()  # the encoding is dense anyway, and wider
        n_numeric = self._n_numeric(host)
        numeric, rest = host[:, :n_numeric], host[:, n_numeric:]
        if reset:
            weights = None if sample_weight is None else on_host(sample_weight)
            encoder.fit(numeric, sample_weight=weights)
        encoded = encoder.transform(numeric)
        if rest.shape[1]:
            encoded = np.hstack([encoded, rest])
        return encoded if where(X)[2] else same_place(encoded, X)
