"""Optimizers against updates computed by hand."""

import numpy as np
import pytest

from sknet.optimizers import LBFGS, OPTIMIZERS, SGD, Adam, AdamW, get_optimizer

G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.25, 0.5, 1.0])
P0 = np.array([1.0, 2.0, -3.0])


def _run(opt, grads, params=P0):
    params = params.copy()
    opt.reset(params.size, params.dtype)
    for g in grads:
        opt.step(params, g)
    return params


def test_sgd_plain():
    params = _run(SGD(learning_rate=0.1, momentum=0.0), [G1, G2])
    np.testing.assert_allclose(params, P0 - 0.1 * G1 - 0.1 * G2, rtol=1e-15)


def test_sgd_momentum_without_nesterov():
    lr, m = 0.1, 0.9
    v1 = -lr * G1
    v2 = m * v1 - lr * G2
    expected = P0 + v1 + v2
    params = _run(SGD(learning_rate=lr, momentum=m, nesterov=False), [G1, G2])
    np.testing.assert_allclose(params, expected, rtol=1e-14)


def test_sgd_nesterov():
    lr, m = 0.1, 0.9
    v1 = -lr * G1
    p1 = P0 + m * v1 - lr * G1
    v2 = m * v1 - lr * G2
    p2 = p1 + m * v2 - lr * G2
    params = _run(SGD(learning_rate=lr, momentum=m, nesterov=True), [G1, G2])
    np.testing.assert_allclose(params, p2, rtol=1e-14)


def test_sgd_updates_in_place_and_keeps_dtype():
    opt = SGD(learning_rate=0.5, momentum=0.5)
    params = P0.astype(np.float32)
    opt.reset(3, np.float32)
    before = params
    opt.step(params, G1.astype(np.float32))
    assert params is before and params.dtype == np.float32
    np.testing.assert_allclose(params, P0 + 0.5 * (-0.5 * G1) - 0.5 * G1, rtol=1e-6)
    assert opt.is_ready(3, np.float32)
    assert not opt.is_ready(3, np.float64) and not opt.is_ready(4, np.float32)
    assert not SGD().is_ready(3, np.float32)  # never reset


def test_sgd_invscaling_schedule():
    opt = SGD(learning_rate=0.2, schedule="invscaling", power_t=0.5)
    opt.reset(3, np.float64)
    assert opt.current_learning_rate == 0.2
    opt.end_epoch(99)
    assert opt.current_learning_rate == pytest.approx(0.2 / 100**0.5, rel=1e-15)
    opt.end_epoch(999)
    assert opt.current_learning_rate == pytest.approx(0.2 / 1000**0.5, rel=1e-15)
    # The next step uses the scheduled rate.
    params = P0.copy()
    opt.momentum = 0.0
    opt.reset(3, np.float64)
    opt.end_epoch(3)
    opt.step(params, G1)
    np.testing.assert_allclose(params, P0 - 0.2 / 2.0 * G1, rtol=1e-15)
    # A constant schedule ignores epochs.
    constant = SGD(learning_rate=0.2)
    constant.reset(3, np.float64)
    constant.end_epoch(1000)
    assert constant.current_learning_rate == 0.2


def test_sgd_adaptive_on_plateau_divides_by_5_then_stops():
    opt = SGD(learning_rate=1e-4, schedule="adaptive")
    opt.reset(3, np.float64)
    rates = []
    while not opt.on_plateau():
        rates.append(opt.current_learning_rate)
    np.testing.assert_allclose(rates, [2e-5, 4e-6, 8e-7], rtol=1e-12)
    # Stops once the rate is at or below 1e-6, without lowering it further.
    assert opt.current_learning_rate == pytest.approx(8e-7)
    assert opt.on_plateau() is True


def test_sgd_adaptive_verbose_prints(capsys):
    opt = SGD(learning_rate=0.01, schedule="adaptive")
    opt.reset(1, np.float64)
    assert opt.on_plateau(verbose=True) is False
    assert "Setting learning rate to 0.002000" in capsys.readouterr().out


@pytest.mark.parametrize("opt", [SGD(), SGD(schedule="invscaling"), Adam()])
def test_non_adaptive_optimizers_stop_on_plateau(opt):
    opt.reset(2, np.float64)
    rate = opt.current_learning_rate
    assert opt.on_plateau() is True
    assert opt.current_learning_rate == rate


def test_adam_first_two_steps():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    m = v = np.zeros(3)
    params = P0.copy()
    for t, g in enumerate([G1, G2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        # scikit-learn's form folds the bias corrections into the step size,
        # which divides epsilon by sqrt(1 - b2**t) in the textbook form.
        step_size = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        params = params - step_size * m / (np.sqrt(v) + eps)
        textbook = m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - b2**t))
        np.testing.assert_allclose(step_size * m / (np.sqrt(v) + eps), lr * textbook)
    opt = Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    got = _run(opt, [G1, G2])
    assert opt.t == 2
    np.testing.assert_allclose(got, params, rtol=1e-14)
    # The first Adam step moves every parameter by about the learning rate.
    first = _run(Adam(learning_rate=lr), [G1])
    np.testing.assert_allclose(np.abs(first - P0), lr, rtol=1e-6)


def test_adam_reset_restarts_state():
    opt = Adam(learning_rate=0.1)
    _run(opt, [G1, G2])
    opt.reset(3, np.float64)
    assert opt.t == 0
    np.testing.assert_array_equal(opt._state[0], 0.0)
    np.testing.assert_array_equal(_run(opt, [G1]), _run(Adam(learning_rate=0.1), [G1]))


@pytest.mark.parametrize(
    "opt, match",
    [
        (SGD(learning_rate=0.0), "learning_rate must be positive"),
        (SGD(learning_rate=-1.0), "learning_rate must be positive"),
        (SGD(schedule="cosinus"), r"schedule must be one of \['adaptive', 'constant'"),
        (Adam(schedule="cosinus"), "Unknown schedule 'cosinus'"),
        (Adam(weight_decay=-1.0), "weight_decay must be >= 0"),
        (SGD(clip_grad_norm=0.0), "clip_grad_norm must be None or positive"),
        (Adam(averaging="swa"), "averaging must be None or 'ema'"),
        (Adam(averaging="ema", ema_decay=1.0), r"ema_decay must be in \[0, 1\)"),
        (SGD(momentum=1.5), r"momentum must be in \[0, 1\]"),
        (Adam(learning_rate=0.0), "learning_rate must be positive"),
        (Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\)"),
        (Adam(beta_2=-0.1), r"beta_2 must be in \[0, 1\)"),
    ],
)
def test_invalid_settings_raise_on_reset(opt, match):
    with pytest.raises(ValueError, match=match):
        opt.reset(3, np.float64)


def test_lbfgs_minimizes_rosenbrock():
    def rosenbrock(x):
        value = 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
        grad = np.array(
            [-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)]
        )
        return value, grad

    opt = LBFGS(tol=1e-10, ftol=1e-15)
    x, n_iter = opt.minimize(rosenbrock, np.array([-1.2, 1.0]), max_iter=1000)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)
    assert 10 < n_iter < 1000 and opt.result_.success
    assert x.dtype == np.float64


def test_lbfgs_callback_sees_each_iteration_and_can_stop():
    seen = []

    def objective(x):
        return float(((x - 3.0) ** 2).sum()), 2 * (x - 3.0)

    def callback(x, value):
        seen.append((x.copy(), value))
        assert value == pytest.approx(objective(x)[0])
        return len(seen) == 2

    x, n_iter = LBFGS().minimize(objective, np.array([0.0, 10.0, -4.0]), 100, callback)
    assert len(seen) == 2
    np.testing.assert_array_equal(x, seen[-1][0])


def test_lbfgs_respects_max_iter():
    def objective(x):
        return float((np.arange(1, 6) * x**4).sum()), 4 * np.arange(1, 6) * x**3

    x, n_iter = LBFGS().minimize(objective, np.ones(5), max_iter=3)
    assert n_iter == 3


def test_get_optimizer():
    assert isinstance(get_optimizer("adam"), Adam)
    assert get_optimizer("adam").learning_rate == 0.001
    assert get_optimizer("SGD", learning_rate=0.3).learning_rate == 0.3
    # L-BFGS has no learning rate: the argument is ignored for it.
    assert isinstance(get_optimizer("lbfgs", learning_rate=0.3), LBFGS)
    assert get_optimizer("sgd") is not get_optimizer("sgd")  # fresh each time
    opt = Adam()
    assert get_optimizer(opt) is opt
    assert sorted(OPTIMIZERS) == ["adam", "adamw", "lbfgs", "sgd"]


def test_get_optimizer_errors():
    with pytest.raises(
        ValueError,
        match=r"Unknown optimizer 'rmsprop'; valid names are "
        r"\['adam', 'adamw', 'lbfgs', 'sgd'\]",
    ):
        get_optimizer("rmsprop")
    with pytest.raises(ValueError, match="learning_rate is given both to fit and to the optimizer"):
        get_optimizer(Adam(), learning_rate=0.1)
    with pytest.raises(ValueError, match="optimizer must be a name from"):
        get_optimizer(42)


def test_reprs():
    assert repr(SGD()) == (
        "SGD(learning_rate=0.01, momentum=0.9, nesterov=True, schedule='constant', power_t=0.5)"
    )
    assert repr(Adam()) == "Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-08)"
    assert repr(LBFGS()) == "LBFGS(max_fun=15000, tol=1e-05, ftol=2.2e-09)"


# -- a learning rate changed during training (issue 14, item 17) -------------------------------


def _lr_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5))
    return X, X @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(64, 2))


def _params_after_each_epoch(make_optimizer, new_rate=None, backend="numpy", monkeypatch=None):
    """Flat parameters after epochs 1 and 2 (one batch per epoch).

    With ``new_rate``, a callback sets ``optimizer_.learning_rate`` after epoch 1.
    """
    from sknet import Network, backends

    X, Y = _lr_data()
    if backend == "numba":
        numba_backend = pytest.importorskip("sknet.backends.numba")
        monkeypatch.setattr(backends, "_NUMBA", (numba_backend.NumbaBackend(), 0))
    elif backend == "array_api_strict":
        xps = pytest.importorskip("array_api_strict")
        X, Y = xps.asarray(X), xps.asarray(Y)
    seen = []

    def callback(network, logs):
        seen.append(np.concatenate([backends.to_numpy(w).ravel() for w in network.get_weights()]))
        if new_rate is not None and logs["epoch"] == 1:
            network.optimizer_.learning_rate = new_rate

    net = Network(5, random_state=0).add_layer(6, "tanh").add_layer(2, "identity")
    optimizer = make_optimizer()
    net.fit(X, Y, optimizer=optimizer, epochs=2, batch_size=64, callbacks=[callback])
    return seen


LR_OPTIMIZERS = {
    "sgd-constant": lambda: SGD(learning_rate=0.05, momentum=0.0),
    "sgd-invscaling": lambda: SGD(learning_rate=0.05, momentum=0.0, schedule="invscaling"),
    "sgd-adaptive": lambda: SGD(learning_rate=0.05, momentum=0.0, schedule="adaptive"),
    "adam": lambda: Adam(learning_rate=0.05),
}


@pytest.mark.parametrize("backend", ["numpy", "numba", "array_api_strict"])
@pytest.mark.parametrize("name", sorted(LR_OPTIMIZERS))
def test_learning_rate_set_by_a_callback_takes_effect(name, backend, monkeypatch):
    # One batch per epoch: the second step is the rate times a direction that
    # does not depend on the rate (the gradient for SGD without momentum,
    # Adam's scaled moments), so setting the rate to 3 x scales it 3-fold.
    make = LR_OPTIMIZERS[name]
    p1, p2 = _params_after_each_epoch(make, None, backend, monkeypatch)
    q1, q2 = _params_after_each_epoch(make, 0.15, backend, monkeypatch)
    np.testing.assert_array_equal(q1, p1)  # the same first epoch
    assert not np.allclose(q2 - q1, p2 - p1)
    np.testing.assert_allclose(q2 - q1, 3 * (p2 - p1), rtol=1e-9, atol=1e-14)


def test_learning_rate_follows_the_schedule_from_the_new_value():
    invscaling = SGD(learning_rate=0.1, schedule="invscaling", power_t=0.5)
    invscaling.reset(3, np.float64)
    invscaling.end_epoch(99)
    invscaling.learning_rate = 0.3
    assert invscaling.current_learning_rate == 0.3 / 100**0.5
    adaptive = SGD(learning_rate=0.1, schedule="adaptive")
    adaptive.reset(3, np.float64)
    assert not adaptive.on_plateau() and not adaptive.on_plateau()
    adaptive.learning_rate = 0.5
    assert adaptive.current_learning_rate == 0.5 / 5 / 5
    constant = SGD(learning_rate=0.1)
    constant.reset(3, np.float64)
    constant.end_epoch(99)
    constant.learning_rate = 0.25
    assert constant.current_learning_rate == 0.25
    # reset starts the schedule again from the rate set.
    adaptive.reset(3, np.float64)
    assert adaptive.current_learning_rate == 0.5


@pytest.mark.parametrize("opt", [SGD(), Adam()], ids=["sgd", "adam"])
def test_learning_rate_set_during_training_must_be_positive(opt):
    opt.reset(3, np.float64)
    with pytest.raises(ValueError, match="learning_rate must be positive, got 0"):
        opt.learning_rate = 0
    assert opt.learning_rate > 0 and opt.current_learning_rate > 0


def test_lbfgs_learning_rate_cannot_be_set():
    from sknet import Network

    X, Y = _lr_data()

    def callback(network, logs):
        network.optimizer_.learning_rate = 0.1

    net = Network(5, random_state=0).add_layer(2, "identity")
    with pytest.raises(AttributeError, match="L-BFGS has no learning rate"):
        net.fit(X, Y, optimizer="lbfgs", epochs=5, callbacks=[callback])
    assert not hasattr(LBFGS(), "learning_rate")


def test_optimizers_pickled_before_the_learning_rate_property_still_load():
    import pickle

    opt = SGD(learning_rate=0.2, schedule="adaptive")
    opt.reset(3, np.float64)
    state = opt.__getstate__() if hasattr(opt, "__getstate__") else opt.__dict__
    old_state = {("learning_rate" if k == "_learning_rate" else k): v for k, v in state.items()}
    restored = SGD.__new__(SGD)
    restored.__setstate__(old_state)
    assert restored.learning_rate == 0.2 and restored.current_learning_rate == 0.2
    again = pickle.loads(pickle.dumps(restored))
    assert again.learning_rate == 0.2 and repr(again) == repr(opt)


# -- your own optimizer object: on numpy and on devices, in place or returning ------


class PlainSGDInPlace:
    """An optimizer object of the documented contract that writes into ``params``."""

    full_batch = False
    name = "plain_sgd"

    def __init__(self, learning_rate=0.05):
        self.learning_rate = learning_rate

    def reset(self, size, dtype, backend=None):
        self.steps = 0

    def step(self, params, grad):
        self.steps += 1
        params -= self.learning_rate * grad

    def end_epoch(self, samples_seen):
        pass

    def on_plateau(self, verbose=False):
        return True


class PlainSGDReturning(PlainSGDInPlace):
    """The same update, returning the new parameters instead."""

    def step(self, params, grad):
        self.steps += 1
        return params - self.learning_rate * grad


def _fit_with_optimizer(optimizer, where):
    from sknet import Network
    from sknet.backends import to_numpy

    if where == "numpy":
        convert = np.asarray
    elif where == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)
        convert = torch.asarray
    else:
        xps = pytest.importorskip("array_api_strict")

        def convert(a):
            return xps.asarray(a, device=xps.Device("device1"))

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    net = Network(3, random_state=0).add_layer(5, "tanh").add_layer(2, "identity")
    net.fit(convert(X), convert(Y), optimizer=optimizer, epochs=3, batch_size=10)
    return [to_numpy(w) for w in net.get_weights()], net


@pytest.mark.parametrize("where", ["numpy", "torch", "array_api_strict"])
@pytest.mark.parametrize("make", [PlainSGDInPlace, PlainSGDReturning], ids=["inplace", "returning"])
def test_user_optimizer_objects_train_everywhere_like_plain_sgd(make, where):
    # Before: a device needed a step_xp method; a returning step did nothing on numpy.
    reference, _ = _fit_with_optimizer(SGD(learning_rate=0.05, momentum=0.0), "numpy")
    optimizer = make()
    weights, net = _fit_with_optimizer(optimizer, where)
    assert optimizer.steps == 12  # 4 batches, 3 epochs
    for got, expected in zip(weights, reference, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert net.optimizer_ is optimizer


# -- the options every stochastic optimizer takes (issue 18) -----------------


def _adam_deltas(lr, grads):
    """Adam's updates for ``grads`` in turn (they do not depend on the parameters)."""
    deltas, before = [], P0
    for k in range(1, len(grads) + 1):
        after = _run(Adam(learning_rate=lr), grads[:k])
        deltas.append(after - before)
        before = after
    return deltas


def test_adamw_is_adam_on_decayed_weights_and_leaves_biases_alone():
    lr, wd = 0.01, 0.5
    opt = AdamW(learning_rate=lr, weight_decay=wd)
    params = P0.copy()
    opt.reset(3, params.dtype)
    opt.set_penalized(slice(0, 2))  # two weights, then a bias
    expected = P0.copy()
    for g, delta in zip([G1, G2], _adam_deltas(lr, [G1, G2]), strict=True):
        opt.step(params, g)
        expected[:2] = expected[:2] * (1 - lr * wd)
        expected = expected + delta
    np.testing.assert_allclose(params, expected, rtol=1e-14)
    # The bias moved by Adam's update alone.
    np.testing.assert_allclose(params[2], _run(Adam(learning_rate=lr), [G1, G2])[2], rtol=1e-15)
    # Adam(weight_decay=...) never told which are weights decays every parameter.
    same = _run(Adam(learning_rate=lr, weight_decay=wd), [G1, G2])
    delta1, delta2 = _adam_deltas(lr, [G1, G2])
    expected = (P0 * (1 - lr * wd) + delta1) * (1 - lr * wd) + delta2
    np.testing.assert_allclose(same, expected, rtol=1e-14)


def test_adamw_in_a_network_decays_the_weights_and_not_the_biases():
    from sknet import Network

    X, Y = _lr_data()

    def fit(optimizer):
        net = Network(5, random_state=0).add_layer(4, "tanh").add_layer(2, "identity")
        start = [w.copy() for w in net.get_weights()]
        net.fit(X, Y, optimizer=optimizer, epochs=1, batch_size=64, shuffle=False)
        return start, net.get_weights()

    lr, wd = 0.01, 0.25
    start, adam = fit(Adam(learning_rate=lr))
    _, adamw = fit(AdamW(learning_rate=lr, weight_decay=wd))
    for i, (w0, a, b) in enumerate(zip(start, adam, adamw, strict=True)):
        if i % 2:  # a bias: untouched by the decay
            np.testing.assert_array_equal(b, a)
        else:  # one step: the decay is -lr * wd * W0
            np.testing.assert_allclose(b - a, -lr * wd * w0, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    "make",
    [lambda c: SGD(0.1, 0.0, clip_grad_norm=c), lambda c: Adam(0.1, clip_grad_norm=c)],
    ids=["sgd", "adam"],
)
def test_clipping_scales_the_gradient_to_the_norm(make):
    norm = np.linalg.norm(G1)
    clipped = _run(make(1.0), [G1, G2])
    reference = make(None)
    expected = _run(
        reference,
        [G1 * (1.0 / norm), G2 * min(1.0, 1.0 / np.linalg.norm(G2))],
    )
    np.testing.assert_allclose(clipped, expected, rtol=1e-14)
    assert not np.allclose(clipped, _run(make(None), [G1, G2]))
    # A limit above the norm changes nothing, and the gradient is never written.
    grad = G1.copy()
    np.testing.assert_array_equal(_run(make(10.0), [grad]), _run(make(None), [G1]))
    np.testing.assert_array_equal(grad, G1)


def test_ema_is_the_hand_computed_average():
    decay = 0.9
    opt = SGD(learning_rate=0.1, momentum=0.0, averaging="ema", ema_decay=decay)
    params = P0.copy()
    opt.reset(3, params.dtype)
    assert opt.averaged_parameters() is None
    average = None
    for t, g in enumerate([G1, G2, G1, G2], start=1):
        opt.step(params, g)
        if t == 1:
            average = params.copy()
        else:
            d = min(decay, (1 + t) / (10 + t))
            average = d * average + (1 - d) * params
    np.testing.assert_allclose(opt.averaged_parameters(), average, rtol=1e-14)
    np.testing.assert_allclose(params, P0 - 0.2 * G1 - 0.2 * G2, rtol=1e-14)  # unaveraged


@pytest.mark.parametrize("backend", ["numpy", "numba", "array_api_strict"])
def test_ema_becomes_the_weights_at_the_end_of_fit(backend, monkeypatch):
    # One batch per epoch: the parameters of every step are seen by a callback.
    plain = _params_after_each_epoch(lambda: Adam(0.05), None, backend, monkeypatch)
    from sknet import Network, backends

    X, Y = _lr_data()
    if backend == "array_api_strict":
        xps = pytest.importorskip("array_api_strict")
        X, Y = xps.asarray(X), xps.asarray(Y)
    net = Network(5, random_state=0).add_layer(6, "tanh").add_layer(2, "identity")
    net.fit(X, Y, optimizer=Adam(0.05, averaging="ema", ema_decay=0.5), epochs=2, batch_size=64)
    final = np.concatenate([backends.to_numpy(w).ravel() for w in net.get_weights()])
    # Step 2's decay: min(0.5, 3 / 12) = 0.25.
    np.testing.assert_allclose(final, 0.25 * plain[0] + 0.75 * plain[1], rtol=1e-12)


def _all_options():
    from sknet.schedules import WarmupCosine

    return Adam(
        0.05,
        schedule=WarmupCosine(t_max=4, warmup=2),
        weight_decay=0.1,
        clip_grad_norm=0.5,
        averaging="ema",
        ema_decay=0.9,
    )


@pytest.mark.parametrize("where", ["torch", "array_api_strict", "numba"])
def test_options_give_numpy_results_on_other_backends(where, monkeypatch):
    from sknet import backends

    reference, _ = _fit_with_optimizer(_all_options(), "numpy")
    if where == "numba":
        numba_backend = pytest.importorskip("sknet.backends.numba")
        monkeypatch.setattr(backends, "_NUMBA", (numba_backend.NumbaBackend(), 0))
        got, _ = _fit_with_optimizer(_all_options(), "numpy")
    else:
        got, _ = _fit_with_optimizer(_all_options(), where)
    plain, _ = _fit_with_optimizer(Adam(0.05), "numpy")
    flat = np.concatenate([w.ravel() for w in plain])
    assert not np.allclose(flat, np.concatenate([w.ravel() for w in reference]))
    for a, b in zip(got, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_sgd_with_options_and_sgd_schedules_on_array_api_strict():
    reference, _ = _fit_with_optimizer(
        SGD(0.05, weight_decay=0.2, clip_grad_norm=0.3, schedule="step"), "numpy"
    )
    got, _ = _fit_with_optimizer(
        SGD(0.05, weight_decay=0.2, clip_grad_norm=0.3, schedule="step"), "array_api_strict"
    )
    for a, b in zip(got, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_numba_kernels_are_skipped_only_when_an_option_is_on():
    numba_backend = pytest.importorskip("sknet.backends.numba")
    from sknet.schedules import Cosine

    assert Adam().fusable and SGD().fusable and Adam(schedule=Cosine()).fusable
    for opt in (AdamW(), Adam(clip_grad_norm=1.0), SGD(averaging="ema")):
        assert not opt.fusable
    # Fused and reference forms agree where the kernel runs.
    backend = numba_backend.NumbaBackend()
    for make in (lambda: Adam(0.1, weight_decay=0.3), lambda: SGD(0.1, clip_grad_norm=0.5)):
        fused, reference = make(), make()
        fused.reset(3, np.float64)
        reference.reset(3, np.float64)
        out = np.empty(3)
        backend.optimizer_step(fused, P0.copy(), G1.copy(), out)
        np.testing.assert_array_equal(out, reference.step(P0.copy(), G1.copy()))


def test_option_reprs():
    assert repr(Adam(weight_decay=0.1, clip_grad_norm=1.0)) == (
        "Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-08, "
        "weight_decay=0.1, clip_grad_norm=1.0)"
    )
    assert repr(AdamW()) == (
        "AdamW(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-08, weight_decay=0.01)"
    )
    assert repr(SGD(averaging="ema")).endswith("power_t=0.5, averaging='ema')")
    assert get_optimizer("adamw").weight_decay == 0.01


def _crossings_of_a_torch_fit(optimizer, batch_size):
    """Device-to-host reads and host-to-device scalar uploads of a one-epoch torch fit."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    from sknet import Network

    torch.set_num_threads(1)

    class Record(TorchDispatchMode):
        crossings = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if any(name in str(func) for name in ("_local_scalar_dense", "lift_fresh")):
                type(self).crossings += 1
            return func(*args, **(kwargs or {}))

    rng = np.random.default_rng(0)
    X, Y = torch.asarray(rng.normal(size=(64, 3))), torch.asarray(rng.normal(size=(64, 2)))
    net = Network(3, random_state=0).add_layer(5, "relu").add_layer(2, "identity")
    with Record():
        net.fit(X, Y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=False)
    return Record.crossings


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
@pytest.mark.parametrize(
    "make",
    [
        lambda: Adam(0.01),
        lambda: Adam(0.01, weight_decay=0.1, clip_grad_norm=0.5, averaging="ema"),
        lambda: SGD(0.01, schedule="warmup_cosine", weight_decay=0.1, clip_grad_norm=0.5),
    ],
    ids=["plain", "adam-options", "sgd-options"],
)
def test_options_cross_nothing_per_step_on_a_device(make):
    # Eight steps cross between host and device what one step does: clipping's
    # factor, the decay and the average stay on the device.
    assert _crossings_of_a_torch_fit(make(), 8) == _crossings_of_a_torch_fit(make(), 64)
