"""The tabular recipe's numeric_encoding="both": standardised columns beside the bins."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sknet import make_tabular_classifier, make_tabular_regressor

pd = pytest.importorskip("pandas")

FAST = {"max_iter": 40, "hidden_layer_sizes": (32,), "n_iter_no_change": 40}


def _small_linear_table(seed, n=400, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 1.5, 0.0]) + rng.normal(scale=noise, size=n)
    return X, y


def test_both_puts_the_standardised_column_beside_its_bins():
    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(loc=5.0, scale=3.0, size=n)
    x[::7] = np.nan
    X = pd.DataFrame({"x": x, "colour": pd.Categorical(rng.choice(["a", "b"], size=n))})
    y = (np.nan_to_num(x, nan=5.0) > 5.0).astype(int)
    clf = make_tabular_classifier(numeric_encoding="both", n_bins=4, random_state=0, **FAST)
    clf = clf.fit(X, y)
    preprocess = clf.named_steps["preprocess"]
    names = preprocess.get_feature_names_out().tolist()
    assert names[:5] == [
        "numeric__x_bin0",
        "numeric__x_bin1",
        "numeric__x_bin2",
        "numeric__x_bin3",
        "standard__x",
    ]
    assert len(names) == clf.named_steps["net"].estimators_[0].n_features_in_
    # The standardised column is the median-imputed column, centred and scaled.
    imputed = np.where(np.isnan(x), np.nanmedian(x), x)
    expected = (imputed - imputed.mean()) / imputed.std()
    assert_allclose(preprocess.transform(X)[:, 4], expected, rtol=1e-5, atol=1e-5)
    # The other encodings keep their own columns only.
    for encoding, standard in [("piecewise_linear", False), ("standard", True)]:
        other = make_tabular_classifier(
            numeric_encoding=encoding, n_bins=4, random_state=0, **FAST
        ).fit(X, y)
        names = other.named_steps["preprocess"].get_feature_names_out().tolist()
        assert any(name.startswith("numeric__x_bin") for name in names) is (not standard)
        assert "standard__x" not in names
        assert ("numeric__x" in names) is standard


def test_both_beats_the_bins_alone_on_a_small_smooth_table():
    # 200 rows of a linear target: through the bins alone the network must
    # learn the same slope on each bin from a few dozen rows; the standardised
    # column next to them gives it the slope from all rows.
    gains = []
    for seed in range(3):
        X, y = _small_linear_table(seed)
        scores = {
            encoding: make_tabular_regressor(numeric_encoding=encoding, random_state=0)
            .fit(X[:200], y[:200])
            .score(X[200:], y[200:])
            for encoding in ("both", "piecewise_linear")
        }
        gains.append(scores["both"] - scores["piecewise_linear"])
    assert min(gains) > 0, gains
    assert np.mean(gains) > 0.01, gains


def test_both_refuses_a_second_binning():
    clf = make_tabular_classifier(random_state=0)
    assert clf.get_params()["preprocess__columns__numeric__encode__n_bins"] == "auto"
    with pytest.raises(ValueError, match="numeric_encoding='both'"):
        make_tabular_regressor(numeric_encoding="both", numeric_embedding="piecewise_linear")
    reg = make_tabular_regressor(numeric_encoding="standard", numeric_embedding="piecewise_linear")
    assert reg.regressor.named_steps["net"].estimator.numeric_embedding == "piecewise_linear"
