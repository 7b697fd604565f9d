"""PiecewiseLinearEncoder: the encoding against a hand computation, edges, conventions."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknet.preprocessing import PiecewiseLinearEncoder


@parametrize_with_checks(
    [
        PiecewiseLinearEncoder(n_bins=4, random_state=0),
        PiecewiseLinearEncoder(n_bins=4, strategy="tree", random_state=0),
        PiecewiseLinearEncoder(n_bins=1),
        PiecewiseLinearEncoder(n_bins="auto"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_encoding_matches_hand_computation():
    # Feature 0: 0..8 with 4 quantile bins -> edges 0, 2, 4, 6, 8.
    # Feature 1: values 10, 20, 40 (duplicated quantiles merge) with 2 bins.
    X = np.column_stack([np.arange(9.0), [10, 10, 10, 20, 20, 20, 40, 40, 40]])
    ple = PiecewiseLinearEncoder(n_bins=4).fit(X)
    assert_allclose(ple.bin_edges_[0], [0, 2, 4, 6, 8])
    # Quantiles of feature 1 at 0, .25, .5, .75, 1: 10, 10, 20, 40, 40 -> 10, 20, 40.
    assert_allclose(ple.bin_edges_[1], [10, 20, 40])
    assert_array_equal(ple.n_bins_, [4, 2])

    Xt = ple.transform([[5.0, 15.0], [-1.0, 50.0], [9.0, 5.0], [2.0, 20.0]])
    expected = [
        # 5 is past bins [0,2] and [2,4], half of [4,6], none of [6,8];
        # 15 is half of [10,20], none of [20,40].
        [1, 1, 0.5, 0, 0.5, 0],
        # -1 below b_0: first number (-1-0)/2 unclipped below; 50 above b_T:
        # last number (50-20)/20 unclipped above.
        [-0.5, 0, 0, 0, 1, 1.5],
        [1, 1, 1, 1.5, -0.5, 0],
        [1, 0, 0, 0, 1, 0],
    ]
    assert_allclose(Xt, expected)


def test_tree_strategy_finds_the_step_of_the_target():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, size=400)
    y = (x > 3.3).astype(int)
    ple = PiecewiseLinearEncoder(n_bins=2, strategy="tree", random_state=0).fit(x[:, None], y)
    edges = ple.bin_edges_[0]
    assert len(edges) == 3
    assert edges[0] == x.min() and edges[-1] == x.max()
    # The split lies between the largest x <= 3.3 and the smallest x > 3.3.
    assert x[x <= 3.3].max() < edges[1] < x[x > 3.3].min()
    # A continuous target picks a regression tree.
    y_reg = np.where(x > 7.1, 5.0, 0.0) + rng.normal(scale=0.01, size=x.size)
    edges = PiecewiseLinearEncoder(n_bins=2, strategy="tree").fit(x[:, None], y_reg).bin_edges_[0]
    assert x[x <= 7.1].max() < edges[1] < x[x > 7.1].min()


def test_tree_strategy_needs_y():
    with pytest.raises(ValueError, match="requires y to be passed"):
        PiecewiseLinearEncoder(strategy="tree").fit([[0.0], [1.0]])


def test_constant_feature_gives_one_zero_column():
    X = np.column_stack([np.full(6, 3.0), np.arange(6.0)])
    ple = PiecewiseLinearEncoder(n_bins=3).fit(X)
    assert_array_equal(ple.n_bins_, [1, 3])
    Xt = ple.transform([[7.0, 1.0], [-2.0, 4.0]])
    # Whatever the constant feature later reads, its column stays 0.
    assert_array_equal(Xt[:, 0], [0, 0])
    assert ple.get_feature_names_out().tolist() == ["x0_bin0", "x1_bin0", "x1_bin1", "x1_bin2"]


def test_float32_is_preserved_and_dtype_is_honoured():
    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    assert PiecewiseLinearEncoder().fit_transform(X).dtype == np.float32
    assert PiecewiseLinearEncoder().fit_transform(X.astype(np.float64)).dtype == np.float64
    assert PiecewiseLinearEncoder().fit_transform([[1], [2], [3]]).dtype == np.float64
    out = PiecewiseLinearEncoder(dtype=np.float32).fit_transform(X.astype(np.float64))
    assert out.dtype == np.float32
    assert_allclose(out, PiecewiseLinearEncoder().fit_transform(X), rtol=1e-6)


def test_missing_values_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        PiecewiseLinearEncoder().fit([[0.0], [np.nan], [1.0]])
    ple = PiecewiseLinearEncoder().fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match="NaN"):
        ple.transform([[np.nan]])


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"age": np.arange(10.0), "income": np.arange(10.0) ** 2})
    ple = PiecewiseLinearEncoder(n_bins=2).fit(X)
    assert ple.get_feature_names_out().tolist() == [
        "age_bin0",
        "age_bin1",
        "income_bin0",
        "income_bin1",
    ]


def test_subsample_is_seeded():
    X = np.random.default_rng(1).exponential(size=(1000, 1))
    a = PiecewiseLinearEncoder(n_bins=8, subsample=100, random_state=0).fit(X).bin_edges_[0]
    b = PiecewiseLinearEncoder(n_bins=8, subsample=100, random_state=0).fit(X).bin_edges_[0]
    full = PiecewiseLinearEncoder(n_bins=8, subsample=None).fit(X).bin_edges_[0]
    assert_array_equal(a, b)
    assert not np.array_equal(a[1:-1], full[1:-1])


@pytest.mark.parametrize(
    ("n_samples", "expected"), [(100, 8), (1000, 8), (1400, 9), (2000, 11), (5000, 16)]
)
def test_auto_n_bins_grows_with_the_rows(n_samples, expected):
    # clip(round(sqrt(n) / 4), 8, 16): sqrt(1400) / 4 = 9.4 -> 9, sqrt(2000) / 4 = 11.2 -> 11.
    X = np.random.default_rng(0).normal(size=(n_samples, 2))
    ple = PiecewiseLinearEncoder(n_bins="auto").fit(X)
    assert_array_equal(ple.n_bins_, [expected, expected])
    assert ple.n_bins == "auto"  # the parameter is left as given
