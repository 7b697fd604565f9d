"""LayeredRegressor against reference solutions: Ridge, PoissonRegressor, robust losses.

Numbers measured when these tests were written (numpy 2, scikit-learn 1.9,
standardised data, ``tol=1e-10, max_iter=10000``):

- Ridge(alpha), alpha in {0.1, 1, 10}: coefficients within 2e-6, intercept within 3e-7.
- PoissonRegressor(alpha / n): coefficients within 1e-5, predictions within 4e-5 relative.
- 5 % gross outliers (+-50 std), held-out MAE on clean targets (noise 5): squared_error
  107 (no hidden layer, lbfgs) and 195 (16 units, adam); absolute_error 3.9 and 4.5;
  huber 3.9 and 4.6.
- Integer weights vs repeated rows (lbfgs): 2e-16 without hidden layer; with one,
  1e-11 after 50 iterations (run to convergence, rounding differences can lead to
  another minimum).
"""

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_regression
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import PoissonRegressor, Ridge
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from conftest import requires_sklearn
from sknet import LayeredRegressor
from sknet.training import DivergenceError

EXACT = dict(hidden_layer_sizes=(), solver="lbfgs", tol=1e-10, max_iter=10000, random_state=0)


def _counts(n_samples=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    y = rng.poisson(np.exp(X @ np.array([0.3, -0.15, 0.06, 0.0]) + 0.5)).astype(float)
    return X, y


# -- reference solutions ---------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_no_hidden_layer_lbfgs_is_ridge(alpha, regression):
    # mean half squared error + alpha/(2n) ||w||^2 is Ridge(alpha)'s objective / (2n).
    X, y = regression(n_samples=200)
    reg = LayeredRegressor(alpha=alpha, **EXACT).fit(X, y)
    ridge = Ridge(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(reg.coefs_[0].ravel(), ridge.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(reg.intercepts_[0], [ridge.intercept_], rtol=0, atol=1e-4)
    np.testing.assert_allclose(reg.predict(X), ridge.predict(X), rtol=0, atol=1e-4)
    assert reg.score(X, y) == pytest.approx(ridge.score(X, y), abs=1e-6)


def test_two_dimensional_y_is_multi_output_ridge(regression):
    X, Y = regression(n_samples=200, n_targets=3)
    reg = LayeredRegressor(alpha=1.0, **EXACT).fit(X, Y)
    ridge = Ridge(alpha=1.0).fit(X, Y)
    assert reg.n_outputs_ == 3
    assert reg.predict(X).shape == (200, 3)
    assert reg.coefs_[0].shape == (5, 3)
    np.testing.assert_allclose(reg.coefs_[0], ridge.coef_.T, rtol=0, atol=1e-4)
    np.testing.assert_allclose(reg.intercepts_[0], ridge.intercept_, rtol=0, atol=1e-4)


def test_two_dimensional_y_with_hidden_layers(regression):
    X, Y = regression(n_samples=200, n_targets=2)
    reg = LayeredRegressor(
        hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0
    ).fit(X, Y)
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.99


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_poisson_no_hidden_layer_is_poisson_regressor(alpha):
    # mean half deviance + alpha/(2n) ||w||^2 is PoissonRegressor(alpha / n)'s objective.
    X, y = _counts()
    reg = LayeredRegressor(loss="poisson", alpha=alpha, **EXACT).fit(X, y)
    reference = PoissonRegressor(alpha=alpha / len(y), tol=1e-12, max_iter=10000).fit(X, y)
    assert reg.out_activation_ == "exp"
    np.testing.assert_allclose(reg.coefs_[0].ravel(), reference.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(reg.intercepts_[0], [reference.intercept_], rtol=0, atol=1e-4)
    np.testing.assert_allclose(reg.predict(X), reference.predict(X), rtol=1e-4)


def test_poisson_rejects_negative_targets():
    X, y = _counts()
    y[3] = -1.0
    with pytest.raises(ValueError, match="poisson.*non-negative"):
        LayeredRegressor(loss="poisson", solver="lbfgs").fit(X, y)


@pytest.mark.parametrize(
    "hidden, solver",
    [((), "lbfgs"), ((16,), "adam")],
)
def test_robust_losses_beat_squared_error_with_outliers(hidden, solver):
    X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    rng = np.random.default_rng(0)
    outliers = rng.choice(len(y_train), size=len(y_train) // 20, replace=False)
    y_dirty = y_train.copy()
    y_dirty[outliers] += rng.choice([-50.0, 50.0], size=len(outliers)) * y_train.std()

    settings = dict(
        hidden_layer_sizes=hidden,
        solver=solver,
        max_iter=2000,
        learning_rate_init=0.01,
        random_state=0,
    )
    mae = {
        loss: mean_absolute_error(
            y_test, LayeredRegressor(loss=loss, **settings).fit(X_train, y_dirty).predict(X_test)
        )
        for loss in ["squared_error", "absolute_error", "huber"]
    }
    # The noise is 5: the robust fits are near it, the squared error is dragged away.
    assert mae["absolute_error"] < 6
    assert mae["huber"] < 6
    assert mae["squared_error"] > 10 * max(mae["absolute_error"], mae["huber"])


# -- sample weights --------------------------------------------------------------


def test_integer_weights_equal_repeated_rows_linear(regression):
    X, y = regression(n_samples=120)
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    settings = dict(EXACT, alpha=0.01)
    weighted = LayeredRegressor(**settings).fit(X, y, sample_weight=weights)
    repeated = LayeredRegressor(**settings).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    # Measured: 1e-16 (both runs take the same iterates).
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=0, atol=1e-12)


def test_integer_weights_equal_repeated_rows_hidden_layer(regression):
    # With a hidden layer the problem is not convex: the two fits follow the
    # same iterates (measured 1e-11 after 50 iterations) until rounding
    # differences between a weighted sum and a sum of repeated rows are
    # amplified, after which L-BFGS may settle in another minimum (measured
    # 0.02 apart at convergence, after 330 to 350 iterations).
    X, y = regression(n_samples=120)
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    settings = dict(EXACT, hidden_layer_sizes=(10,), alpha=0.01, max_iter=50)
    weighted = LayeredRegressor(**settings).fit(X, y, sample_weight=weights)
    repeated = LayeredRegressor(**settings).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    assert weighted.n_iter_ == repeated.n_iter_ == 50
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=0, atol=1e-6)


def _rescaled_weights(scale, equal, n_samples):
    base = np.ones(n_samples) if equal else np.random.default_rng(1).uniform(0.5, 2, n_samples)
    sw = scale * base
    nudged = sw.copy()
    nudged[0] *= 1 + 1e-12
    return sw, nudged


@requires_sklearn("1.7", "MLPRegressor(...).fit(sample_weight=...), the reference,")
@pytest.mark.parametrize("scale", [0.2, 5.0])
@pytest.mark.parametrize("equal", [True, False])
def test_rescaled_weights_give_mlp_model(scale, equal, regression):
    # MLP divides the penalty by the sum of the weights, equal or not (equal
    # weights used to count as none here: 0.05 to 0.17 away from MLP).
    X, y = regression(n_samples=100)
    sw, nudged = _rescaled_weights(scale, equal, len(y))
    settings = dict(EXACT, alpha=10.0)
    ours = LayeredRegressor(**settings).fit(X, y, sample_weight=sw)
    mlp = MLPRegressor(**settings).fit(X, y, sample_weight=sw)
    # Measured: within 1e-5 (L-BFGS tolerances).
    np.testing.assert_allclose(ours.coefs_[0], mlp.coefs_[0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercepts_[0], mlp.intercepts_[0], rtol=0, atol=1e-4)
    # Continuous in the weights (measured 2e-15).
    close = LayeredRegressor(**settings).fit(X, y, sample_weight=nudged)
    np.testing.assert_allclose(close.predict(X), ours.predict(X), rtol=0, atol=1e-9)


@requires_sklearn("1.7", "MLPRegressor(...).fit(sample_weight=...), the reference,")
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_equal_weights_are_alpha_over_the_weight_as_in_mlp(solver, regression):
    X, y = regression(n_samples=100)
    settings = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=5, random_state=0)
    four = np.full(len(y), 4.0)
    # MLP: all weights 4 is alpha / 4 without weights.
    mlp = MLPRegressor(alpha=2.0, **settings).fit(X, y, sample_weight=four)
    mlp_reference = MLPRegressor(alpha=0.5, **settings).fit(X, y)
    np.testing.assert_allclose(mlp.coefs_[0], mlp_reference.coefs_[0], rtol=0, atol=1e-12)
    ours = LayeredRegressor(alpha=2.0, **settings).fit(X, y, sample_weight=four)
    reference = LayeredRegressor(alpha=0.5, **settings).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_zero_weight_equals_dropping_the_row(solver, regression):
    X, y = regression(n_samples=150)
    weights = np.ones(len(y))
    weights[::7] = 0
    settings = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=30, random_state=0)
    with_zeros = LayeredRegressor(**settings).fit(X, y, sample_weight=weights)
    dropped = LayeredRegressor(**settings).fit(X[weights > 0], y[weights > 0])
    assert np.array_equal(with_zeros.predict(X), dropped.predict(X))
    assert with_zeros.t_ == dropped.t_


# -- incremental training ----------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_equals_fit(solver, regression):
    X, y = regression(n_samples=150)
    settings = dict(
        hidden_layer_sizes=(8,),
        solver=solver,
        shuffle=False,
        batch_size=32,
        learning_rate_init=0.01,
        tol=0.0,
        n_iter_no_change=np.inf,
        random_state=0,
    )
    fitted = LayeredRegressor(max_iter=100, **settings).fit(X, y)
    assert fitted.n_iter_ == 100
    incremental = LayeredRegressor(**settings)
    for _ in range(100):
        incremental.partial_fit(X, y)
    assert incremental.n_iter_ == 1
    assert incremental.t_ == fitted.t_ == 100 * len(y)
    assert np.array_equal(incremental.loss_curve_, fitted.loss_curve_)
    assert np.array_equal(incremental.predict(X), fitted.predict(X))


# -- robustness ------------------------------------------------------------------


def test_divergence_raises_clear_error_and_leaves_no_half_trained_model():
    X, y = make_regression(n_samples=100, n_features=5, random_state=0)
    X, y = 100 * X, 1000 * y
    reg = LayeredRegressor(
        hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e4, random_state=0
    )
    with pytest.raises(DivergenceError, match="diverged") as excinfo:
        reg.fit(X, y)
    message = str(excinfo.value)
    assert "learning rate" in message and "scaling" in message
    # A failed fit leaves the estimator as it was: here, unfitted (a refit
    # keeps the previous model: test_hardening.py).
    assert not hasattr(reg, "network_")
    with pytest.raises(NotFittedError):
        reg.predict(X)


def test_huber_and_absolute_error_fit_clean_data(regression):
    X, y = regression(n_samples=200)
    for loss in ["absolute_error", "huber"]:
        reg = LayeredRegressor(loss=loss, **EXACT).fit(X, y)
        assert reg.score(X, y) > 0.99


@pytest.mark.parametrize("hidden, max_iter", [((), 10000), ((8,), 30)])
def test_sparse_dense_agree_lbfgs(hidden, max_iter, regression):
    # A sparse product rounds differently from a dense one. Measured: 3e-17 at
    # convergence without hidden layer; with one, 4e-14 after 30 iterations,
    # growing as L-BFGS amplifies it (5e-10 after 100, 0.02 apart at two
    # different minima when run to convergence).
    X, y = regression(n_samples=200)
    X[np.abs(X) < 0.8] = 0
    settings = dict(hidden_layer_sizes=hidden, solver="lbfgs", max_iter=max_iter, random_state=0)
    dense = LayeredRegressor(**settings).fit(X, y).predict(X)
    for fmt in (sparse.csr_matrix, sparse.csc_matrix):
        reg = LayeredRegressor(**settings).fit(fmt(X), y)
        np.testing.assert_allclose(reg.predict(fmt(X)), dense, rtol=0, atol=1e-10)
        np.testing.assert_allclose(reg.predict(X), dense, rtol=0, atol=1e-10)


def test_held_out_r2_same_range_as_mlp_regressor(regression):
    X, y = regression(n_samples=300)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    settings = dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=300, random_state=0)
    ours = LayeredRegressor(**settings).fit(X_train, y_train).score(X_test, y_test)
    mlp = MLPRegressor(**settings).fit(X_train, y_train).score(X_test, y_test)
    assert ours > 0.95 and mlp > 0.95
    assert abs(ours - mlp) < 0.03


# -- target_scaling ---------------------------------------------------------------------


def _large_target(n_samples=300, seed=0):
    """A regression target in the tens of thousands (scale 1e4), standardised features."""
    X, y = make_regression(n_samples=n_samples, n_features=5, noise=1.0, random_state=seed)
    return StandardScaler().fit_transform(X), 3e4 + 1e4 * y / y.std()


def test_target_scaling_rescues_a_target_of_scale_1e4():
    from sklearn.compose import TransformedTargetRegressor

    X, y = _large_target()
    options = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=0)
    with pytest.warns(Warning):  # max_iter reached
        raw = LayeredRegressor(**options).fit(X, y)
    with pytest.warns(Warning):
        scaled = LayeredRegressor(target_scaling="standard", **options).fit(X, y)
    assert raw.score(X, y) < 0.1  # the output layer never reaches the target's scale
    assert scaled.score(X, y) > 0.97
    # The same model as scikit-learn's TransformedTargetRegressor(StandardScaler()).
    with pytest.warns(Warning):
        wrapped = TransformedTargetRegressor(
            LayeredRegressor(**options), transformer=StandardScaler()
        ).fit(X, y)
    np.testing.assert_allclose(scaled.predict(X), wrapped.predict(X), rtol=1e-10)
    # loss_curve_ is in the units of the standardised target, as the wrapped model's.
    np.testing.assert_allclose(scaled.loss_curve_, wrapped.regressor_.loss_curve_, rtol=1e-10)
    assert scaled.loss_curve_[-1] < 0.05


def test_target_scaling_validation_scores_are_r2_in_the_units_of_y():
    from sklearn.compose import TransformedTargetRegressor

    X, y = _large_target()
    options = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        learning_rate_init=0.01,
        max_iter=30,
        random_state=0,
    )
    with pytest.warns(Warning):
        scaled = LayeredRegressor(target_scaling="standard", **options).fit(X, y)
    with pytest.warns(Warning):
        wrapped = TransformedTargetRegressor(
            LayeredRegressor(**options), transformer=StandardScaler()
        ).fit(X, y)
    # R² is unchanged by standardising both y and the prediction: the scores
    # on y (this estimator) equal those on the scaled y (the wrapped one).
    np.testing.assert_allclose(
        scaled.validation_scores_, wrapped.regressor_.validation_scores_, rtol=1e-9
    )
    assert scaled.best_validation_score_ > 0.5


def test_target_scaling_uses_the_sample_weighted_mean_and_std():
    X, y = _large_target(n_samples=100)
    Y = np.column_stack([y, np.full_like(y, 7.0)])  # the second column is constant
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    reg = LayeredRegressor(
        target_scaling="standard", hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5
    )
    with pytest.warns(Warning):
        reg.fit(X, Y, sample_weight=weights)
    mean = np.average(Y, axis=0, weights=weights)
    std = np.sqrt(np.average((Y - mean) ** 2, axis=0, weights=weights))
    np.testing.assert_allclose(reg._target_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(reg._target_scale, [std[0], 1.0], rtol=1e-12)
    # The constant column is predicted exactly: its scaled target is 0.
    assert reg.predict(X).shape == (100, 2)


def test_target_scaling_with_float32_x_stays_float32():
    X, y = _large_target(n_samples=100)
    X = X.astype(np.float32)
    reg = LayeredRegressor(target_scaling="standard", hidden_layer_sizes=(), solver="lbfgs")
    reg.fit(X, y)
    assert reg.coefs_[0].dtype == np.float32
    assert reg.predict(X).dtype == np.float32
    assert reg.score(X, y) > 0.99


def test_target_scaling_is_refused_with_the_poisson_loss():
    X, y = _large_target(n_samples=50)
    reg = LayeredRegressor(loss="poisson", target_scaling="standard")
    with pytest.raises(ValueError, match="target_scaling='standard' cannot be used with"):
        reg.fit(X, np.abs(y))


def test_target_scaling_partial_fit_keeps_the_first_scaling():
    X, y = _large_target()
    reg = LayeredRegressor(target_scaling="standard", hidden_layer_sizes=(8,), random_state=0)
    reg.partial_fit(X[:100], y[:100])
    mean, scale = reg._target_mean.copy(), reg._target_scale.copy()
    reg.partial_fit(X[100:], y[100:] + 1e5)
    np.testing.assert_array_equal(reg._target_mean, mean)
    np.testing.assert_array_equal(reg._target_scale, scale)
    np.testing.assert_allclose(mean, [y[:100].mean()])


def test_target_scaling_default_is_mlps_behaviour():
    X, y = _large_target(n_samples=100)
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    with pytest.warns(Warning):
        default = LayeredRegressor(**options).fit(X, y)
    with pytest.warns(Warning):
        none = LayeredRegressor(target_scaling=None, **options).fit(X, y)
    np.testing.assert_array_equal(default.predict(X), none.predict(X))
    assert default._target_scale is None
