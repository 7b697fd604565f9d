"""Learning-rate schedules: the rate of every epoch against a hand computation."""

import math

import numpy as np
import pytest

from sknet import SGD, Adam, LayeredClassifier, LayeredRegressor, Network
from sknet.schedules import SCHEDULES, Cosine, Plateau, Step, WarmupCosine, get_schedule


def _rates(optimizer, epochs):
    """``current_learning_rate`` at the start of each epoch."""
    optimizer.reset(3, np.float64)
    rates = []
    for epoch in range(epochs):
        rates.append(optimizer.current_learning_rate)
        optimizer.end_epoch(10 * (epoch + 1))
    return rates


@pytest.mark.parametrize("make", [Adam, lambda **kw: SGD(momentum=0.0, **kw)], ids=["adam", "sgd"])
def test_cosine_rates(make):
    rates = _rates(make(learning_rate=0.1, schedule=Cosine(t_max=4)), 6)
    expected = [0.1 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(6)]
    np.testing.assert_allclose(rates, expected, rtol=1e-15, atol=1e-18)
    assert rates[-1] == rates[-2] == 0.0  # held at the minimum after t_max


def test_cosine_min_ratio():
    rates = _rates(Adam(learning_rate=1.0, schedule=Cosine(t_max=2, min_ratio=0.1)), 3)
    np.testing.assert_allclose(rates, [1.0, 0.55, 0.1], rtol=1e-15)


def test_warmup_cosine_rates():
    rates = _rates(Adam(learning_rate=0.2, schedule=WarmupCosine(t_max=7, warmup=3)), 8)
    warm = [0.2 * (e + 1) / 3 for e in range(3)]
    cosine = [0.2 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(5)]
    np.testing.assert_allclose(rates, warm + cosine, rtol=1e-15, atol=1e-18)


def test_step_rates():
    rates = _rates(SGD(learning_rate=0.3, schedule=Step(step_size=2, gamma=0.5)), 6)
    np.testing.assert_allclose(rates, [0.3, 0.3, 0.15, 0.15, 0.075, 0.075], rtol=1e-15)


def test_plateau_divides_on_plateau_for_adam_then_stops():
    opt = Adam(learning_rate=1e-5, schedule="plateau")
    opt.reset(3, np.float64)
    opt.end_epoch(10)
    assert opt.current_learning_rate == 1e-5  # epochs alone change nothing
    assert opt.on_plateau() is False
    assert opt.current_learning_rate == pytest.approx(2e-6, rel=1e-15)
    assert opt.on_plateau() is False  # 4e-7
    assert opt.current_learning_rate == pytest.approx(4e-7, rel=1e-15)
    assert opt.on_plateau() is True  # below 1e-6: stop, rate unchanged
    assert opt.current_learning_rate == pytest.approx(4e-7, rel=1e-15)


def test_plateau_matches_sgd_adaptive():
    adaptive = SGD(learning_rate=0.1, schedule="adaptive")
    plateau = SGD(learning_rate=0.1, schedule="plateau")
    for opt in (adaptive, plateau):
        opt.reset(3, np.float64)
    for _ in range(3):
        assert adaptive.on_plateau() is plateau.on_plateau() is False
        assert plateau.current_learning_rate == pytest.approx(adaptive.current_learning_rate)


def test_a_new_base_rate_follows_the_schedule():
    opt = Adam(learning_rate=0.1, schedule=Step(step_size=1, gamma=0.5))
    opt.reset(3, np.float64)
    opt.end_epoch(10)
    opt.end_epoch(20)
    opt.learning_rate = 0.4  # set by a callback, say
    assert opt.current_learning_rate == 0.1


def test_the_rate_drives_the_steps_of_a_fit():
    # One batch per epoch and no momentum: each epoch's step is its rate times
    # the gradient, so the schedule's rates show in the parameter changes.
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)), rng.normal(size=(32, 1))
    seen = []

    def record(network, logs):
        seen.append(network.optimizer_.current_learning_rate)

    net = Network(3, random_state=0).add_layer(1, "identity")
    net.fit(
        X,
        Y,
        optimizer=SGD(0.1, 0.0, schedule=Step(1, 0.5)),
        epochs=3,
        batch_size=32,
        callbacks=[record],
    )
    # The callback runs after end_epoch: the rate of the next epoch.
    assert seen == [0.05, 0.025, 0.0125]


def test_get_schedule():
    assert get_schedule(None) is None
    assert get_schedule("COSINE") == Cosine()
    custom = Plateau(factor=0.5)
    assert get_schedule(custom) is custom
    assert sorted(SCHEDULES) == ["cosine", "plateau", "step", "warmup_cosine"]
    with pytest.raises(ValueError, match="Unknown schedule 'linear'"):
        get_schedule("linear")
    with pytest.raises(ValueError, match="schedule must be None, a name"):
        get_schedule(3)


def test_estimator_schedules_are_sized_by_max_iter():
    def made(**kw):
        return LayeredClassifier(max_iter=30, **kw)._make_optimizer()

    # The defaults: MLP's optimizer, on the plain (and fused) update.
    assert repr(made()) == "Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-08)"
    assert made().fusable and made(solver="sgd").fusable
    assert made(lr_schedule="cosine").schedule == Cosine(t_max=30)
    assert made(lr_schedule="warmup_cosine").schedule == WarmupCosine(t_max=30, warmup=5)
    assert made(lr_schedule="step", solver="sgd").schedule == Step(step_size=10, gamma=0.1)
    assert made(lr_schedule="plateau").schedule == Plateau()
    custom = Step(2, 0.5)
    assert made(lr_schedule=custom).schedule is custom
    adamw = made(weight_decay=0.1, clip_grad_norm=2.0, averaging="ema", ema_decay=0.9)
    assert (adamw.name, adamw.weight_decay, adamw.clip_grad_norm) == ("adamw", 0.1, 2.0)
    assert (adamw.averaging, adamw.ema_decay) == ("ema", 0.9)
    sgd = made(solver="sgd", weight_decay=0.1)
    assert (sgd.name, sgd.weight_decay, sgd.schedule) == ("sgd", 0.1, "constant")


def test_estimator_refuses_two_sgd_schedules():
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    est = LayeredClassifier(solver="sgd", learning_rate="adaptive", lr_schedule="cosine")
    with pytest.raises(ValueError, match="keep learning_rate='constant' with lr_schedule"):
        est.fit(X, y)


def test_estimator_options_are_grid_searchable():
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    grid = {
        "weight_decay": [0.0, 0.01],
        "lr_schedule": [None, "cosine"],
        "clip_grad_norm": [None, 1.0],
        "averaging": [None, "ema"],
    }
    search = GridSearchCV(
        LayeredRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0), grid, cv=2
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 16
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_estimator_plateau_schedule_lowers_adam_rate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    est = LayeredRegressor(
        hidden_layer_sizes=(8,),
        lr_schedule="plateau",
        n_iter_no_change=2,
        tol=10.0,
        max_iter=50,
        random_state=0,
        learning_rate_init=1e-3,
    ).fit(X, y)
    # tol=10: only the first epoch improves (on infinity); then every third
    # epoch without improvement (4, 7, ..., 16) divides the rate by 5 until
    # it falls below 1e-6 (1e-3 / 5**5 = 3.2e-7), and epoch 19 stops.
    assert est.network_.optimizer_.current_learning_rate == pytest.approx(1e-3 / 5**5)
    assert est.n_iter_ == 19
    # What solver="sgd" with learning_rate="adaptive" does, for Adam.
    sgd = LayeredRegressor(
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate="adaptive",
        n_iter_no_change=2,
        tol=10.0,
        max_iter=50,
        random_state=0,
        learning_rate_init=1e-3,
    ).fit(X, y)
    assert sgd.n_iter_ == 19
