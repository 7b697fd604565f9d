"""scikit-learn transformers that prepare tabular inputs for a network.

:class:`PiecewiseLinearEncoder` is the piecewise-linear encoding of numeric
features of Gorishniy, Rubachev and Babenko, "On Embeddings for Numerical
Features in Tabular Deep Learning" (NeurIPS 2022). This module is on the
scikit-learn side of the package: it may import scikit-learn, the engine never
imports it.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

__all__ = ["PiecewiseLinearEncoder"]


def _weighted_quantiles(values, weights, quantiles):
    """The averaged inverted-CDF quantiles of ``values`` under ``weights``.

    A row of weight ``k`` counts exactly as ``k`` copies of it (the rule of
    numpy's ``method="averaged_inverted_cdf"``, which it is with unit
    weights): where a quantile falls on the boundary between two values, it
    is their mean.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.preprocessing import _weighted_quantiles
    >>> values, weights = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])
    >>> _weighted_quantiles(values, weights, [0.25, 0.5])
    array([1.5, 2.5])
    """
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.cumsum(weights[order])
    targets = np.asarray(quantiles) * cumulative[-1]
    last = len(values) - 1
    first_reaching = np.minimum(np.searchsorted(cumulative, targets, side="left"), last)
    first_passing = np.minimum(np.searchsorted(cumulative, targets, side="right"), last)
    return (values[first_reaching] + values[first_passing]) / 2


class PiecewiseLinearEncoder(TransformerMixin, BaseEstimator):
    """Encode each numeric feature as the fraction of each of its bins that a value passes.

    For one feature with bin edges ``b_0 < b_1 < ... < b_T`` learnt in
    :meth:`fit`, a value ``x`` becomes ``T`` numbers; number ``t`` (from 1) is

    ``e_t(x) = clip((x - b_{t-1}) / (b_t - b_{t-1}), 0, 1)``

    so that a value in bin ``t`` reads ``1, ..., 1, fraction, 0, ..., 0``. This is
    the piecewise-linear encoding (PLE) of Gorishniy et al. (2022): in front of
    a multi-layer perceptron it lets the first layer learn a different slope on
    each bin, which closes much of the gap to gradient-boosted trees on tables.

    The outer sides are **not** clipped, as in the authors' reference
    implementation: the first number is only clipped above (at 1) and the last
    only below (at 0). A value below ``b_0`` or above ``b_T``, unseen in
    training, then keeps moving the first or last number linearly instead of
    collapsing onto the edge value, so the encoding stays one-to-one and the
    network extrapolates linearly. With a single bin, the number is the
    min-max scaling ``(x - b_0) / (b_1 - b_0)``, unclipped on both sides.

    Parameters
    ----------
    n_bins : int or "auto", default=16
        The largest number of bins per feature, at least 1. A feature gets fewer
        when its quantiles coincide (a feature with few distinct values) or when
        the tree finds fewer useful splits. ``"auto"`` picks
        ``clip(round(sqrt(n_samples) / 4), 8, 16)`` from the number of training
        rows: 8 bins up to about 1,000 rows, 16 from about 4,000; fewer rows give
        each bin fewer examples to learn its slope from.

    strategy : {"quantile", "tree"}, default="quantile"
        How the edges are chosen. ``"quantile"``: the ``n_bins + 1`` quantiles of
        the feature, duplicates merged. ``"tree"`` (target-aware, as the
        authors' "T" variant): the split thresholds of a decision tree with at
        most ``n_bins`` leaves that predicts ``y`` from that feature alone
        (a classification tree when ``y`` is a class label, a regression tree
        when ``y`` is continuous), plus the feature's minimum and maximum.
        ``"tree"`` needs ``y`` in :meth:`fit`.

    min_samples_leaf : int, default=1
        For ``strategy="tree"``: the fewest training rows in a leaf, so in a bin.
        Ignored by ``"quantile"``.

    subsample : int or None, default=200_000
        The most rows used to find the edges; a random subset of that size is
        drawn (with ``random_state``) when there are more. ``None`` uses all rows.

    dtype : {np.float32, np.float64} or None, default=None
        The output dtype. ``None`` keeps float32 input in float32 and gives
        float64 for anything else.

    random_state : int, RandomState instance or None, default=None
        Seeds the subsample and the decision trees (whose ties between equally
        good splits are broken at random).

    Attributes
    ----------
    bin_edges_ : list of ndarray of shape (``n_bins_[j] + 1``,)
        The edges of each feature, increasing. A constant feature has the single
        edge ``[value]``.

    n_bins_ : ndarray of shape (`n_features_in_`,), dtype int
        The number of output columns of each feature. A constant feature gets
        one column, always 0: it carried no information in training, so the
        network learns nothing from it, and it stays 0 whatever comes later
        rather than feed an untrained weight.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.preprocessing.KBinsDiscretizer : Bins without the fractional part.
    sklearn.preprocessing.SplineTransformer : Another piecewise basis of features.

    Notes
    -----
    Missing values are rejected (``ValueError``): impute them first, for
    example with ``SimpleImputer(add_indicator=True)`` as
    :func:`sknet.make_tabular_classifier` does, so that the network also sees
    where a value was missing. Sparse input is rejected too: the encoding of a 0
    is not 0, so the output would be dense anyway.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.preprocessing import PiecewiseLinearEncoder
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    >>> ple = PiecewiseLinearEncoder(n_bins=2).fit(X)
    >>> ple.bin_edges_[0]
    array([0., 2., 4.])
    >>> ple.transform([[1.0], [3.0], [5.0]])
    array([[0.5, 0. ],
           [1. , 0.5],
           [1. , 1.5]])
    >>> ple.get_feature_names_out()
    array(['x0_bin0', 'x0_bin1'], dtype=object)
    """

    _parameter_constraints: dict = {
        "n_bins": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "strategy": [StrOptions({"quantile", "tree"})],
        "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
        "subsample": [Interval(Integral, 1, None, closed="left"), None],
        "dtype": [Options(type, {np.float64, np.float32}), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_bins=16,
        *,
        strategy="quantile",
        min_samples_leaf=1,
        subsample=200_000,
        dtype=None,
        random_state=None,
    ):
        self.n_bins = n_bins
        self.strategy = strategy
        self.min_samples_leaf = min_samples_leaf
        self.subsample = subsample
        self.dtype = dtype
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.target_tags.required = self.strategy == "tree"
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Learn the bin edges of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training data, without missing values.

        y : array-like of shape (n_samples,), default=None
            The target, needed by ``strategy="tree"`` and ignored otherwise.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights: a row of weight ``k`` counts as ``k`` copies of it
            (weighted quantiles, weighted tree splits); rows of weight 0 are
            left out.

        Returns
        -------
        self : PiecewiseLinearEncoder
            The fitted encoder.

        Examples
        --------
        >>> from sknet.preprocessing import PiecewiseLinearEncoder
        >>> PiecewiseLinearEncoder(n_bins=3).fit([[0.0], [1.0], [2.0], [6.0]]).n_bins_
        array([3])
        """
        if self.strategy == "tree":
            if y is None:
                raise ValueError(
                    "PiecewiseLinearEncoder(strategy='tree') requires y to be passed, but the "
                    "target y is None: its bins are the splits of a decision tree that "
                    "predicts y."
                )
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        else:
            X = validate_data(self, X, dtype=[np.float64, np.float32])
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if not np.all(kept := sample_weight > 0):
            X, sample_weight = X[kept], sample_weight[kept]
            y = None if y is None else np.asarray(y)[kept]
        rng = check_random_state(self.random_state)
        n_bins = self.n_bins
        if n_bins == "auto":
            n_bins = int(np.clip(round(np.sqrt(X.shape[0]) / 4), 8, 16))
        n_samples = X.shape[0]
        if self.subsample is not None and n_samples > self.subsample:
            rows = rng.choice(n_samples, size=self.subsample, replace=False)
            X, sample_weight = X[rows], sample_weight[rows]
            y = y[rows] if self.strategy == "tree" else y
        tree = None
        if self.strategy == "tree":
            is_class = type_of_target(y) in ("binary", "multiclass")
            tree = (DecisionTreeClassifier if is_class else DecisionTreeRegressor)(
                max_leaf_nodes=max(n_bins, 2),
                min_samples_leaf=self.min_samples_leaf,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )
        self.bin_edges_ = [
            self._edges(column, y, sample_weight, tree, n_bins) for column in X.T.astype(np.float64)
        ]
        self.n_bins_ = np.array([max(len(edges) - 1, 1) for edges in self.bin_edges_])
        return self

    def _edges(self, column, y, sample_weight, tree, n_bins):
        low, high = column.min(), column.max()
        if low == high:
            return np.array([low])
        if tree is None:
            inner = _weighted_quantiles(column, sample_weight, np.linspace(0, 1, n_bins + 1)[1:-1])
        else:
            tree.fit(column.reshape(-1, 1), y, sample_weight=sample_weight)
            # Internal nodes have feature 0; leaves have -2 (TREE_UNDEFINED).
            inner = tree.tree_.threshold[tree.tree_.feature == 0]
            inner = np.sort(inner)[: n_bins - 1]
        # Duplicated quantiles (a feature with few distinct values) are merged,
        # so every bin has a positive width.
        return np.unique(np.concatenate([[low], inner[(inner > low) & (inner < high)], [high]]))

    def transform(self, X):
        """Encode ``X``: ``n_bins_[j]`` columns for feature ``j``, features in order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric data, without missing values.

        Returns
        -------
        X_out : ndarray of shape (n_samples, ``n_bins_.sum()``)
            The encoding; float32 for float32 input (or as ``dtype`` says).

        Examples
        --------
        >>> from sknet.preprocessing import PiecewiseLinearEncoder
        >>> ple = PiecewiseLinearEncoder(n_bins=2).fit([[0.0], [2.0], [4.0]])
        >>> ple.transform([[-2.0], [3.0]])
        array([[-1. ,  0. ],
               [ 1. ,  0.5]])
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        dtype = self.dtype if self.dtype is not None else X.dtype
        out = np.empty((X.shape[0], int(self.n_bins_.sum())), dtype=dtype)
        start = 0
        for column, edges, n_bins in zip(X.T, self.bin_edges_, self.n_bins_, strict=True):
            block = out[:, start : start + n_bins]
            start += n_bins
            if len(edges) == 1:
                block[...] = 0
                continue
            edges = edges.astype(dtype, copy=False)
            lower, width = edges[:-1], np.diff(edges)
            np.divide(column[:, None] - lower, width, out=block, casting="unsafe")
            # Inner bins are clipped on both sides; the first only above, the
            # last only below, so values outside [b_0, b_T] keep their order.
            if n_bins > 1:
                np.minimum(block[:, :-1], 1, out=block[:, :-1])
                np.maximum(block[:, 1:], 0, out=block[:, 1:])
        return out

    def get_feature_names_out(self, input_features=None):
        """The output column names: ``<feature>_bin<t>``, ``t`` from 0 for each feature.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            The input feature names; ``feature_names_in_`` or ``x0, x1, ...``
            when ``None``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.

        Examples
        --------
        >>> from sknet.preprocessing import PiecewiseLinearEncoder
        >>> X = [[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]]
        >>> ple = PiecewiseLinearEncoder(n_bins=2).fit(X)
        >>> ple.get_feature_names_out(["age", "flat"]).tolist()
        ['age_bin0', 'age_bin1', 'flat_bin0']
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        pairs = zip(names, self.n_bins_, strict=True)
        return np.asarray([f"{name}_bin{t}" for name, n in pairs for t in range(n)], dtype=object)
