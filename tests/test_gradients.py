"""Finite-difference checks of the trainer's gradient.

Every hidden activation (two different ones in each net) is combined with every
loss and each output activation it accepts, with random biases, alpha > 0 and
sample weights. The analytic gradient ``Trainer.grad`` must match central
differences of the objective returned by ``Trainer.forward_backward`` to a
relative error below 1e-6 in float64.
"""

import numpy as np
import pytest
from scipy import sparse

from sknet import Network
from sknet.activations import ACTIVATIONS, Activation
from sknet.losses import Loss, get_loss
from sknet.training import Trainer

HIDDEN = sorted(name for name, act in ACTIVATIONS.items() if not act.output_only)
# A different partner for each hidden activation, so each net mixes two.
PARTNER = dict(zip(HIDDEN, HIDDEN[1:] + HIDDEN[:1], strict=True))
OUTPUTS = [
    ("squared_error", "identity"),  # natural pair: fused delta
    ("squared_error", "tanh"),  # chain rule through a non-natural output
    ("squared_error", "sigmoid"),
    ("squared_error", "softmax"),  # softmax's Jacobian
    ("absolute_error", "identity"),
    ("absolute_error", "tanh"),
    ("huber", "identity"),
    ("huber", "sigmoid"),
    ("poisson", "exp"),  # natural pair
    ("poisson", "softplus"),
    ("log_loss", "softmax"),  # natural pair
    ("binary_log_loss", "sigmoid"),  # natural pair
]
N_ROWS, N_IN, N_OUT = 9, 4, 3
KINKED = {"relu", "leaky_relu"}
MARGIN = 1e-3  # distance kept from kinks; perturbations move values by ~1e-5


def _build(hidden, output, seed, dtype="float64"):
    net = Network(N_IN, random_state=seed, dtype=dtype)
    for activation in hidden:
        net.add_layer(5, activation)
    net.add_layer(N_OUT, output)
    rng = np.random.default_rng(seed + 1000)
    for layer in net.layers:
        layer.bias[...] = rng.normal(scale=0.5, size=layer.bias.shape)
    return net


def _pre_activations(net, X):
    zs, h = [], X
    for layer in net.layers:
        z = h @ layer.weights + layer.bias
        zs.append(z)
        h = layer.activation.forward(z.copy())
    return zs, h


def _targets(loss_name, prediction, rng):
    shape = prediction.shape
    if loss_name == "log_loss":
        return np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    if loss_name == "binary_log_loss":
        return rng.integers(0, 2, shape).astype(float)
    if loss_name == "poisson":
        return rng.poisson(2.0, shape).astype(float)
    # Residuals of size 0.2-0.8 or 1.2-3: away from absolute_error's kink at 0
    # and huber's at delta = 1.
    size = np.where(
        rng.random(shape) < 0.5, rng.uniform(0.2, 0.8, shape), rng.uniform(1.2, 3.0, shape)
    )
    return prediction - size * rng.choice([-1.0, 1.0], shape)


def _problem(hidden, output, loss_name, seed=0):
    """A net and data whose kinks are at least MARGIN away."""
    for attempt in range(50):
        s = seed + 7919 * attempt
        net = _build(hidden, output, s)
        rng = np.random.default_rng(s)
        X = rng.normal(size=(N_ROWS, N_IN))
        zs, prediction = _pre_activations(net, X)
        if all(
            np.abs(z).min() > MARGIN
            for z, layer in zip(zs, net.layers, strict=True)
            if layer.activation.name in KINKED
        ):
            Y = _targets(loss_name, prediction, rng)
            sample_weight = rng.uniform(0.5, 2.0, N_ROWS)
            sample_weight[3] = 0.0  # a zero weight must not break anything
            return net, X, Y, sample_weight
    raise AssertionError("no kink-free draw found")  # pragma: no cover


def _trainer(net, loss, alpha, n, dtype=np.float64):
    trainer = Trainer(net, loss, alpha, np.dtype(dtype), None, None, [], 0)
    trainer._allocate(n)
    return trainer


def _check_gradient(net, X, Y, sample_weight, loss, alpha=0.3, h=1e-6):
    trainer = _trainer(net, get_loss(loss), alpha, X.shape[0])
    objective, weight = trainer.forward_backward(X, Y, sample_weight)
    expected_weight = X.shape[0] if sample_weight is None else sample_weight.sum()
    assert weight == pytest.approx(expected_weight, rel=1e-15)
    analytic = trainer.grad.copy()
    numeric = np.empty_like(analytic)
    params = trainer.params
    for k in range(params.size):
        old = params[k]
        params[k] = old + h
        up, _ = trainer.forward_backward(X, Y, sample_weight)
        params[k] = old - h
        down, _ = trainer.forward_backward(X, Y, sample_weight)
        params[k] = old
        numeric[k] = (up - down) / (2 * h)
    rel = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
    assert rel < 1e-6, f"relative gradient error {rel:.2e}"
    # The gradient is not degenerate: every layer's weights get some signal.
    assert np.linalg.norm(numeric) > 1e-3
    return objective, analytic


@pytest.mark.parametrize("loss, output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradient_every_activation_and_loss(hidden, loss, output):
    net, X, Y, sample_weight = _problem((hidden, PARTNER[hidden]), output, loss)
    _check_gradient(net, X, Y, sample_weight, loss)


@pytest.mark.parametrize("loss, output", OUTPUTS)
def test_gradient_without_sample_weight_or_alpha(loss, output):
    net, X, Y, _ = _problem(("tanh", "gelu"), output, loss, seed=5)
    _check_gradient(net, X, Y, None, loss, alpha=0.0)
    _check_gradient(net, X, Y, None, loss, alpha=2.0)


@pytest.mark.parametrize("loss, output", OUTPUTS)
def test_gradient_single_layer(loss, output):
    net, X, Y, sample_weight = _problem((), output, loss, seed=11)
    _check_gradient(net, X, Y, sample_weight, loss)


@pytest.mark.parametrize("loss, output", [("squared_error", "identity"), ("log_loss", "softmax")])
def test_objective_value_is_weighted_mean_plus_penalty(loss, output):
    net, X, Y, sample_weight = _problem(("relu", "tanh"), output, loss, seed=3)
    alpha = 0.7
    trainer = _trainer(net, get_loss(loss), alpha, N_ROWS)
    objective, _ = trainer.forward_backward(X, Y, sample_weight)
    per_sample = get_loss(loss).value(Y, net.predict(X))
    penalty = sum(float((layer.weights**2).sum()) for layer in net.layers)
    expected = np.average(per_sample, weights=sample_weight)
    expected += alpha / (2 * sample_weight.sum()) * penalty
    assert objective == pytest.approx(expected, rel=1e-13)


def test_sparse_input_gives_the_dense_gradient():
    net, X, Y, sample_weight = _problem(("tanh", "elu"), "softmax", "log_loss", seed=2)
    X[np.abs(X) < 0.7] = 0.0
    dense = _trainer(net, get_loss("log_loss"), 0.3, N_ROWS)
    obj_dense, _ = dense.forward_backward(X, Y, sample_weight)
    grad_dense = dense.grad.copy()
    sparse_trainer = _trainer(net, get_loss("log_loss"), 0.3, N_ROWS)
    obj_sparse, _ = sparse_trainer.forward_backward(sparse.csr_matrix(X), Y, sample_weight)
    assert obj_sparse == pytest.approx(obj_dense, rel=1e-14)
    np.testing.assert_allclose(sparse_trainer.grad, grad_dense, rtol=1e-12, atol=1e-15)


def test_float32_gradient_agrees_with_float64():
    net, X, Y, sample_weight = _problem(("sigmoid", "softplus"), "identity", "huber", seed=4)
    trainer64 = _trainer(net, get_loss("huber"), 0.3, N_ROWS)
    obj64, _ = trainer64.forward_backward(X, Y, sample_weight)
    net32 = _build(("sigmoid", "softplus"), "identity", 0, dtype="float32")
    net32.set_weights(net.get_weights())
    trainer32 = _trainer(net32, get_loss("huber"), 0.3, N_ROWS, np.float32)
    obj32, _ = trainer32.forward_backward(
        X.astype(np.float32), Y.astype(np.float32), sample_weight.astype(np.float32)
    )
    assert trainer32.grad.dtype == np.float32
    assert obj32 == pytest.approx(obj64, rel=1e-5)
    np.testing.assert_allclose(trainer32.grad, trainer64.grad, rtol=1e-4, atol=1e-5)


def test_all_zero_weight_batch_is_skipped():
    net, X, Y, _ = _problem(("tanh", "relu"), "identity", "squared_error")
    trainer = _trainer(net, get_loss("squared_error"), 0.3, N_ROWS)
    assert trainer.forward_backward(X, Y, np.zeros(N_ROWS)) == (0.0, 0.0)


# -- user-defined activations and losses ----------------------------------------


class Softsign:
    """A user activation: any object with forward(z) and derivative(z, a)."""

    def forward(self, z):
        return z / (1 + np.abs(z))

    def derivative(self, z, a):
        return 1 / (1 + np.abs(z)) ** 2


class SoftsignNotInPlace(Activation):
    """A user Activation subclass whose backward returns a new array."""

    name = "softsign"

    def forward(self, z, out=None):
        return np.divide(z, 1 + np.abs(z), out=out)

    def derivative(self, z, a):
        return 1 / (1 + np.abs(z)) ** 2

    def backward(self, z, a, grad):
        return grad * self.derivative(z, a)


class LogCosh(Loss):
    """A user loss: a Loss subclass writing its gradient into ``out``."""

    name = "log_cosh"

    def value(self, y_true, y_pred):
        return np.log(np.cosh(y_pred - y_true)).sum(axis=1)

    def gradient(self, y_true, y_pred, out=None):
        out = np.subtract(y_pred, y_true, out=out)
        return np.tanh(out, out=out)


class LogCoshNoOut(LogCosh):
    """A user loss whose gradient ignores ``out`` and returns a new array."""

    def gradient(self, y_true, y_pred, out=None):
        return np.tanh(y_pred - y_true)


@pytest.mark.parametrize("output", ["identity", "tanh"])
@pytest.mark.parametrize("loss", [LogCosh(), LogCoshNoOut(), "squared_error"])
def test_gradient_user_activation_and_loss(loss, output):
    net, X, Y, sample_weight = _problem((Softsign(), "relu"), output, "squared_error", seed=8)
    assert net.layers[0].activation.name == "Softsign"
    _check_gradient(net, X, Y, sample_weight, loss)


@pytest.mark.parametrize("activation", [Softsign(), SoftsignNotInPlace()])
def test_gradient_user_activation_on_output(activation):
    net, X, Y, sample_weight = _problem(("elu", activation), activation, "squared_error", seed=9)
    _check_gradient(net, X, Y, sample_weight, LogCosh())
