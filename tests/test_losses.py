"""Losses: values against plain formulas, gradients against finite differences."""

import math
import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace

from sknet.activations import Exponential, Identity, Sigmoid, Softmax, Softplus, Tanh
from sknet.losses import (
    LOSSES,
    AbsoluteError,
    BinaryLogLoss,
    HuberLoss,
    LogLoss,
    Loss,
    PoissonLoss,
    SquaredError,
    get_loss,
    loss_name,
)


def _data(name, seed=0, shape=(6, 3)):
    """Targets and predictions valid for a loss, away from its kinks."""
    rng = np.random.default_rng(seed)
    if name == "log_loss":
        y_true = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        y_pred = rng.dirichlet(np.ones(shape[1]), size=shape[0])
    elif name == "binary_log_loss":
        y_true = rng.integers(0, 2, shape).astype(float)
        y_pred = rng.uniform(0.05, 0.95, shape)
    elif name == "poisson":
        y_true = rng.poisson(2.0, shape).astype(float)
        y_pred = rng.uniform(0.5, 4.0, shape)
    else:
        y_true = rng.normal(size=shape)
        # Residuals between 0.2 and 0.8 or 1.2 and 3 in size: away from 0 and
        # from Huber's delta = 1.
        size = np.where(
            rng.random(shape) < 0.5, rng.uniform(0.2, 0.8, shape), rng.uniform(1.2, 3.0, shape)
        )
        y_pred = y_true + size * rng.choice([-1.0, 1.0], shape)
    return y_true, y_pred


def _plain_value(name, y, p):
    if name == "squared_error":
        return 0.5 * ((p - y) ** 2).sum(axis=1)
    if name == "absolute_error":
        return np.abs(p - y).sum(axis=1)
    if name == "huber":
        r = np.abs(p - y)
        return np.where(r <= 1.0, 0.5 * r**2, r - 0.5).sum(axis=1)
    if name == "poisson":
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(y > 0, y * np.log(y / p), 0.0)
        return (ylogy - y + p).sum(axis=1)
    if name == "log_loss":
        return -(y * np.log(p)).sum(axis=1)
    if name == "binary_log_loss":
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    raise AssertionError(name)


def test_registry_names():
    assert sorted(LOSSES) == sorted(
        ["squared_error", "absolute_error", "huber", "poisson", "log_loss", "binary_log_loss"]
    )
    for name, loss in LOSSES.items():
        assert loss.name == name
        assert loss_name(loss) == name
        assert get_loss(name) is loss
    assert get_loss("Log_Loss") is LOSSES["log_loss"]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_value_matches_plain_formula(name):
    y, p = _data(name)
    value = LOSSES[name].value(y, p)
    assert value.shape == (y.shape[0],)
    np.testing.assert_allclose(value, _plain_value(name, y, p), rtol=1e-13, atol=1e-15)


def test_values_by_hand():
    y = np.array([[1.0, 0.0]])
    p = np.array([[3.0, -1.0]])
    assert SquaredError().value(y, p)[0] == 0.5 * (4 + 1)
    assert AbsoluteError().value(y, p)[0] == 3.0
    assert HuberLoss(delta=1.0).value(y, p)[0] == (2 - 0.5) + 0.5
    assert HuberLoss(delta=3.0).value(y, p)[0] == 0.5 * 4 + 0.5 * 1
    assert PoissonLoss().value(np.array([[2.0]]), np.array([[1.0]]))[0] == pytest.approx(
        2 * np.log(2) - 2 + 1, rel=1e-15
    )
    assert PoissonLoss().value(np.array([[0.0]]), np.array([[1.5]]))[0] == 1.5
    assert LogLoss().value(np.array([[0.0, 1.0]]), np.array([[0.75, 0.25]]))[0] == pytest.approx(
        np.log(4), rel=1e-15
    )
    assert BinaryLogLoss().value(np.array([[1.0, 0.0]]), np.array([[0.5, 0.25]]))[
        0
    ] == pytest.approx(np.log(2) - np.log(0.75), rel=1e-15)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_finite_differences(name):
    loss = LOSSES[name]
    y, p = _data(name)
    h = 1e-6
    numeric = np.empty_like(p)
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (loss.value(y, up)[idx[0]] - loss.value(y, down)[idx[0]]) / (2 * h)
    np.testing.assert_allclose(loss.gradient(y, p), numeric, rtol=1e-7, atol=1e-9)
    out = np.empty_like(p)
    assert loss.gradient(y, p, out=out) is out
    np.testing.assert_allclose(out, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["log_loss", "binary_log_loss"])
def test_log_losses_with_probabilities_zero_and_one_stay_finite(name):
    loss = LOSSES[name]
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [0.0, 1.0]])  # row 0 sure and wrong, row 1 sure and right
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.value(y, p)
        grad = loss.gradient(y, p)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    # Probabilities are clipped to [eps, 1 - eps]: a sure and wrong output costs
    # -log(eps) per wrong entry, a sure and right one about nothing.
    wrong_entries = 1 if name == "log_loss" else 2
    assert value[0] == pytest.approx(-np.log(np.finfo(float).eps) * wrong_entries, rel=1e-6)
    assert 0 <= value[1] < 1e-12


def test_binary_log_loss_sure_and_right_is_near_zero():
    y = np.array([[1.0, 0.0]])
    p = np.array([[1.0, 0.0]])
    assert 0 <= BinaryLogLoss().value(y, p)[0] < 1e-12


def test_poisson_zero_prediction_is_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = PoissonLoss().value(np.array([[1.0]]), np.array([[0.0]]))
        grad = PoissonLoss().gradient(np.array([[1.0]]), np.array([[0.0]]))
    assert np.isfinite(value).all() and np.isfinite(grad).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_stays_float32(name):
    y, p = _data(name)
    y, p = y.astype(np.float32), p.astype(np.float32)
    loss = LOSSES[name]
    assert loss.value(y, p).dtype == np.float32
    assert loss.gradient(y, p).dtype == np.float32
    np.testing.assert_allclose(
        loss.value(y, p), loss.value(y.astype(float), p.astype(float)), rtol=1e-5
    )


def test_natural_activations_and_fused_delta():
    # The fused delta y_pred - y_true is the chain rule through the natural pair.
    pairs = {
        "squared_error": Identity(),
        "poisson": Exponential(),
        "log_loss": Softmax(),
        "binary_log_loss": Sigmoid(),
    }
    rng = np.random.default_rng(3)
    for name, act in pairs.items():
        loss = LOSSES[name]
        assert isinstance(act, loss.natural_activation)
        y, _ = _data(name)
        z = rng.normal(size=y.shape)
        p = act.forward(z.copy())
        chain = act.backward(z.copy(), p.copy(), loss.gradient(y, p))
        np.testing.assert_allclose(chain, p - y, rtol=1e-10, atol=1e-12)
    assert LOSSES["absolute_error"].natural_activation is None
    assert LOSSES["huber"].natural_activation is None


@pytest.mark.parametrize(
    "name, bad, good",
    [
        ("log_loss", Sigmoid(), Softmax()),
        ("binary_log_loss", Softmax(), Sigmoid()),
        ("poisson", Identity(), Softplus()),
    ],
)
def test_check_output_activation(name, bad, good):
    loss = LOSSES[name]
    with pytest.raises(ValueError, match=f"The '{name}' loss needs an output layer with"):
        loss.check_output_activation(bad)
    loss.check_output_activation(good)


def test_check_output_activation_message_names_both():
    with pytest.raises(ValueError, match="activation softmax; got 'sigmoid'"):
        LogLoss().check_output_activation(Sigmoid())
    with pytest.raises(ValueError, match="activation exp, softplus; got 'tanh'"):
        PoissonLoss().check_output_activation(Tanh())
    # Regression losses accept any output activation.
    for name in ("squared_error", "absolute_error", "huber"):
        LOSSES[name].check_output_activation(Tanh())


def test_check_target():
    with pytest.raises(ValueError, match="'poisson' loss needs non-negative targets"):
        PoissonLoss().check_target(np.array([[1.0], [-0.5]]))
    PoissonLoss().check_target(np.array([[0.0], [3.0]]))
    for cls in (LogLoss, BinaryLogLoss):
        with pytest.raises(ValueError, match="needs targets between 0 and 1"):
            cls().check_target(np.array([[2.0, 0.0]]))
    SquaredError().check_target(np.array([[-5.0]]))


def test_huber_delta():
    loss = HuberLoss(delta=0.5)
    y, p = np.zeros((1, 3)), np.array([[0.25, -2.0, 0.5]])
    np.testing.assert_allclose(loss.value(y, p), [0.5 * 0.0625 + 0.5 * 1.75 + 0.125])
    np.testing.assert_allclose(loss.gradient(y, p), [[0.25, -0.5, 0.5]])
    assert repr(loss) == "HuberLoss(delta=0.5)"
    with pytest.raises(ValueError, match="delta must be positive"):
        HuberLoss(delta=0)


def test_get_loss_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown loss 'hinge'; valid names are") as info:
        get_loss("hinge")
    for name in LOSSES:
        assert repr(name) in str(info.value)
    with pytest.raises(ValueError, match="value and gradient methods"):
        get_loss(3.0)


def test_user_loss_is_used_as_it_is():
    class Quartic(Loss):
        name = "quartic"

        def value(self, y_true, y_pred):
            return ((y_pred - y_true) ** 4).sum(axis=1)

        def gradient(self, y_true, y_pred, out=None):
            return np.multiply(4, (y_pred - y_true) ** 3, out=out)

    loss = Quartic()
    assert get_loss(loss) is loss
    np.testing.assert_allclose(loss.value(np.zeros((1, 2)), np.array([[1.0, 2.0]])), [17.0])
    loss.check_output_activation(Tanh())  # accepts any output by default
    loss.check_target(np.array([[-1.0]]))


# -- your own loss: a Loss subclass or any object with value and gradient, on devices ----


class LogCoshObject:
    """A loss that is not a Loss subclass, written with array-API functions."""

    name = "log_cosh"

    def value(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        r = y_pred - y_true
        # log(cosh(r)) = |r| + log1p(exp(-2|r|)) - log(2), without overflow.
        return xp.sum(xp.abs(r) + xp.log1p(xp.exp(-2 * xp.abs(r))) - math.log(2.0), axis=1)

    def gradient(self, y_true, y_pred, out=None):
        return array_namespace(y_pred).tanh(y_pred - y_true)


class LogCoshSubclass(Loss):
    """The same, subclassing Loss, with gradient(y_true, y_pred) and no out."""

    name = "log_cosh"
    value = LogCoshObject.value

    def gradient(self, y_true, y_pred):
        return array_namespace(y_pred).tanh(y_pred - y_true)


class SquaredNumpyOnly:
    """Written with numpy idioms: fine on numpy, not on another library's arrays."""

    def value(self, y_true, y_pred):
        return 0.5 * ((y_pred - y_true) ** 2).sum(axis=1)

    def gradient(self, y_true, y_pred, out=None):
        return np.subtract(y_pred, y_true, out=out)


def _device_arrays(where):
    if where == "numpy":
        return lambda a: a
    if where == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)
        return torch.asarray
    xps = pytest.importorskip("array_api_strict")
    return lambda a: xps.asarray(a, device=xps.Device("device1"))


def _fit_with(loss, where, optimizer="adam"):
    from sknet import Network
    from sknet.backends import to_numpy

    convert = _device_arrays(where)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = rng.normal(size=(40, 2))
    net = Network(3, random_state=0).add_layer(5, "tanh").add_layer(2, "identity")
    net.fit(convert(X), convert(Y), loss=loss, optimizer=optimizer, epochs=3, batch_size=10)
    evaluated = net.loss(convert(X), convert(Y), loss)
    return to_numpy(net.predict(convert(X))), evaluated


def test_objects_that_are_not_loss_subclasses_get_the_engine_protocol():
    plain = LogCoshObject()
    loss = get_loss(plain)
    assert isinstance(loss, Loss) and loss.name == "log_cosh" and loss.function is plain
    assert repr(loss) == repr(plain)
    y, p = np.zeros((2, 2)), np.array([[0.5, -1.0], [2.0, 0.0]])
    np.testing.assert_allclose(loss.value(y, p), np.log(np.cosh(p)).sum(axis=1), rtol=1e-14)
    out = np.empty_like(p)
    assert loss.gradient(y, p, out=out) is out
    np.testing.assert_allclose(out, np.tanh(p))
    loss.check_output_activation(Tanh())  # any output, as Loss's default
    loss.check_target(np.array([[-1.0]]))


def test_what_a_plain_loss_defines_of_the_protocol_is_used():
    class Counts(SquaredNumpyOnly):
        natural_activation = Exponential
        output_activations = (Exponential,)

        def check_target(self, y):
            raise ValueError("no counts here")

    loss = get_loss(Counts())
    assert loss.natural_activation is Exponential
    with pytest.raises(ValueError, match="needs an output layer with activation exp"):
        loss.check_output_activation(Identity())
    with pytest.raises(ValueError, match="no counts here"):
        loss.check_target(np.zeros((1, 1)))


def test_subclass_gradient_without_out_works_as_written():
    loss = LogCoshSubclass()
    assert get_loss(loss) is loss
    y, p = np.zeros((1, 2), dtype=np.float32), np.array([[0.5, -1.0]], dtype=np.float32)
    np.testing.assert_array_equal(loss.gradient(y, p), np.tanh(p))
    out = np.empty_like(p)
    assert loss.gradient(y, p, out=out) is out
    np.testing.assert_array_equal(out, np.tanh(p))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_subclass_and_plain_object_train_the_same(optimizer):
    expected, value = _fit_with(LogCoshObject(), "numpy", optimizer)
    got, got_value = _fit_with(LogCoshSubclass(), "numpy", optimizer)
    np.testing.assert_array_equal(got, expected)
    assert got_value == value


@pytest.mark.parametrize("where", ["torch", "array_api_strict"])
@pytest.mark.parametrize("make", [LogCoshSubclass, LogCoshObject], ids=["subclass", "object"])
def test_user_losses_train_on_devices_as_on_numpy(make, where):
    expected, value = _fit_with(make(), "numpy")
    got, got_value = _fit_with(make(), where)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert got_value == pytest.approx(value, rel=1e-12)


def test_numpy_only_loss_says_what_a_device_needs():
    _fit_with(SquaredNumpyOnly(), "numpy")
    pytest.importorskip("array_api_strict")
    match = r"value\(\), given array_api_strict arrays on device .*, raised AttributeError"
    with pytest.raises(TypeError, match=match) as info:
        _fit_with(SquaredNumpyOnly(), "array_api_strict")
    message = str(info.value)
    assert "SquaredNumpyOnly" in message and "array_namespace" in message
    assert isinstance(info.value.__cause__, AttributeError)  # no .sum on the array


def test_regressor_takes_a_plain_loss_object():
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import scale

    from sknet import LayeredRegressor

    X, y = load_diabetes(return_X_y=True)
    X, y = scale(X), scale(y)
    common = {"hidden_layer_sizes": (8,), "solver": "lbfgs", "max_iter": 30, "random_state": 0}
    by_object = LayeredRegressor(loss=LogCoshObject(), **common).fit(X, y)
    by_subclass = LayeredRegressor(loss=LogCoshSubclass(), **common).fit(X, y)
    np.testing.assert_array_equal(by_object.predict(X), by_subclass.predict(X))
    assert by_object.score(X, y) > 0.4


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_upload_no_scalars_on_torch(name):
    # Python numbers in operators and where(): nothing made on the host and
    # sent to the device per batch (minimum(p, eps) would make a tensor of eps).
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    torch.set_num_threads(1)

    class Record(TorchDispatchMode):
        ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    loss = LOSSES[name]
    y, p = (torch.asarray(a) for a in _data(name))
    with Record() as record:
        value, gradient = loss.value(y, p), loss.gradient(y, p)
    crossing = ("lift_fresh", "_local_scalar_dense")
    moved = [op for op in record.ops if op.split(".")[1] in crossing]
    assert moved == []
    y_np, p_np = _data(name)
    np.testing.assert_allclose(value.numpy(), loss.value(y_np, p_np), rtol=1e-14)
    np.testing.assert_allclose(gradient.numpy(), loss.gradient(y_np, p_np), rtol=1e-14)
