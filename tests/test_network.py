"""The Network: reference solutions, training behaviour and errors."""

import pickle
import re
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from sknet import LBFGS, SGD, Adam, Network
from sknet.losses import Loss
from sknet.training import Trainer

EXACT = dict(tol=1e-12, ftol=1e-15)


def _regression(n=60, d=4, n_out=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, n_out))
    Y = X @ W + 0.7 + 0.1 * rng.normal(size=(n, n_out))
    return X, Y


def _small_net(seed=0, dropout=0.0, n_in=4, n_out=1, out="identity", dtype=None):
    net = Network(n_in, random_state=seed, dtype=dtype)
    net.add_layer(8, "relu", dropout=dropout).add_layer(6, "tanh", dropout=dropout / 2)
    return net.add_layer(n_out, out)


def _flat(net):
    """The parameters in the trainer's layout: all weights, then all biases."""
    weights = [layer.weights.ravel() for layer in net.layers]
    biases = [layer.bias.ravel() for layer in net.layers]
    return np.concatenate(weights + biases)


def _assert_same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


# -- exact reference solutions (no hidden layer, L-BFGS) ------------------------


@pytest.mark.parametrize("n_out", [1, 2])
def test_identity_layer_is_least_squares(n_out):
    X, Y = _regression(n_out=n_out)
    net = Network(4, random_state=0).add_layer(n_out, "identity")
    net.fit(X, Y, optimizer=LBFGS(**EXACT), epochs=1000)
    W, b = net.get_weights()
    coef, *_ = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)
    np.testing.assert_allclose(W, coef[:4], rtol=0, atol=1e-6)
    np.testing.assert_allclose(b, coef[4], rtol=0, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_identity_layer_with_alpha_is_ridge(weighted):
    # objective * 2 * sum(w) = sum(w * r**2) + alpha * ||W||^2: Ridge(alpha).
    X, Y = _regression()
    y = Y.ravel()
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(y)) if weighted else None
    alpha = 3.0
    net = Network(4, random_state=0).add_layer(1, "identity")
    net.fit(X, y, optimizer=LBFGS(**EXACT), epochs=1000, alpha=alpha, sample_weight=sw)
    ridge = Ridge(alpha=alpha, solver="cholesky").fit(X, y, sample_weight=sw)
    W, b = net.get_weights()
    np.testing.assert_allclose(W.ravel(), ridge.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b[0], ridge.intercept_, rtol=0, atol=1e-6)


def _linear_fit(X, y, sample_weight, alpha=10.0):
    net = Network(X.shape[1], random_state=0).add_layer(1, "identity")
    net.fit(X, y, optimizer=LBFGS(**EXACT), epochs=1000, alpha=alpha, sample_weight=sample_weight)
    return np.concatenate([w.ravel() for w in net.get_weights()])


@pytest.mark.parametrize("scale", [0.2, 5.0])
@pytest.mark.parametrize("equal", [True, False])
def test_rescaled_weights_give_mlp_model(scale, equal):
    # scikit-learn's MLP divides the penalty by the sum of the weights, equal
    # or not: all weights x c is alpha / c. Equal weights used to be taken as
    # no weights (penalty over n): coefficients then moved by ~0.15 at alpha=10.
    X, Y = _regression(n=80)
    y = Y.ravel()
    base = np.ones(80) if equal else np.random.default_rng(1).uniform(0.5, 2.0, 80)
    sw = scale * base
    ours = _linear_fit(X, y, sw)
    # MLP's objective times 2 * sum(w) is weighted Ridge's: the exact answer.
    # MLP's own L-BFGS stops up to ~2e-5 away from it, depending on its random
    # start (unseeded, this comparison used to fail now and then): seeded here.
    ridge = Ridge(alpha=10.0, solver="cholesky").fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours[:-1], ridge.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours[-1], ridge.intercept_, rtol=0, atol=1e-8)
    mlp = MLPRegressor(
        hidden_layer_sizes=(),
        solver="lbfgs",
        alpha=10.0,
        tol=1e-12,
        max_iter=10000,
        random_state=0,
    ).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours[:-1], mlp.coefs_[0].ravel(), rtol=0, atol=2e-5)
    np.testing.assert_allclose(ours[-1], mlp.intercepts_[0], rtol=0, atol=2e-5)
    # The objective is continuous in the weights: one weight nudged by 1e-12
    # (no longer all equal) gives the same model.
    nudged = sw.copy()
    nudged[0] *= 1 + 1e-12
    np.testing.assert_allclose(_linear_fit(X, y, nudged), ours, rtol=0, atol=1e-9)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_equal_weights_scale_the_penalty_with_stochastic_optimizers(optimizer):
    X, Y = _regression(n=50)
    fit = dict(optimizer=optimizer, epochs=5, batch_size=16, alpha=2.0)
    scaled = _small_net().fit(X, Y, sample_weight=np.full(50, 4.0), **fit)
    # All weights 4: the objective of no weights with alpha / 4, batch by batch.
    reference = _small_net().fit(X, Y, **dict(fit, alpha=0.5))
    np.testing.assert_allclose(_flat(scaled), _flat(reference), rtol=0, atol=1e-13)
    nudged = np.full(50, 4.0)
    nudged[0] *= 1 + 1e-12
    close = _small_net().fit(X, Y, sample_weight=nudged, **fit)
    np.testing.assert_allclose(_flat(close), _flat(scaled), rtol=0, atol=1e-9)


def test_sigmoid_layer_is_logistic_regression():
    # objective * n / alpha = C * sum(log loss) + ||w||^2 / 2 with C = 1 / alpha.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=80) > 0).astype(float)
    alpha = 0.5
    net = Network(4, random_state=0).add_layer(1, "sigmoid")
    net.fit(X, y, loss="binary_log_loss", optimizer=LBFGS(**EXACT), epochs=1000, alpha=alpha)
    logreg = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(net.predict(X)[:, 0], logreg.predict_proba(X)[:, 1], atol=1e-4)
    np.testing.assert_allclose(net.layers[0].weights[:, 0], logreg.coef_[0], atol=1e-4)


def test_softmax_layer_is_multinomial_logistic_regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3))
    y = np.argmax(X @ rng.normal(size=(3, 3)) + rng.normal(size=(90, 3)), axis=1)
    alpha = 1.0
    net = Network(3, random_state=0).add_layer(3, "softmax")
    net.fit(X, np.eye(3)[y], loss="log_loss", optimizer=LBFGS(**EXACT), epochs=1000, alpha=alpha)
    logreg = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(net.predict(X), logreg.predict_proba(X), atol=1e-4)


def test_exp_layer_is_poisson_regression():
    # PoissonRegressor minimises mean half-deviance + alpha_s / 2 * ||w||^2, which
    # is this network's objective with alpha = alpha_s * n.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3)) * 0.5
    y = rng.poisson(np.exp(X @ [0.5, -0.3, 0.2] + 0.3)).astype(float)
    alpha_s = 0.05
    net = Network(3, random_state=0).add_layer(1, "exp")
    net.fit(X, y, loss="poisson", optimizer=LBFGS(**EXACT), epochs=1000, alpha=alpha_s * 100)
    glm = PoissonRegressor(alpha=alpha_s, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(net.layers[0].weights[:, 0], glm.coef_, atol=1e-6)
    np.testing.assert_allclose(net.layers[0].bias[0], glm.intercept_, atol=1e-6)


# -- training on real data --------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def test_digits_accuracy(digits):
    X_train, X_test, y_train, y_test = digits
    net = Network(64, random_state=0).add_layer(128, "relu").add_layer(10, "softmax")
    net.fit(
        X_train,
        np.eye(10)[y_train],
        loss="log_loss",
        optimizer="adam",
        epochs=50,
        batch_size=64,
        learning_rate=1e-3,
    )
    accuracy = np.mean(net.predict(X_test).argmax(axis=1) == y_test)
    assert accuracy >= 0.97
    assert len(net.history_["loss"]) == 50 and net.history_["val_loss"] == []
    assert net.history_["loss"][-1] < 0.1 * net.history_["loss"][0]
    np.testing.assert_allclose(net.predict(X_test).sum(axis=1), 1.0, rtol=1e-12)


def test_target_loss_stops_early():
    X, Y = _regression()
    net = _small_net()
    net.fit(X, Y, optimizer="adam", learning_rate=0.01, epochs=500, batch_size=16, target_loss=0.05)
    history = net.history_["loss"]
    assert len(history) < 500
    assert history[-1] <= 0.05
    assert all(value > 0.05 for value in history[:-1])


def test_target_loss_stops_lbfgs():
    X, Y = _regression()
    net = _small_net().fit(X, Y, optimizer="lbfgs", epochs=500, target_loss=0.05)
    history = net.history_["loss"]
    assert len(history) < 500 and history[-1] <= 0.05
    assert all(value > 0.05 for value in history[:-1])


def test_validation_fraction_records_val_loss_on_held_out_rows():
    X, Y = _regression(n=80)
    net = _small_net(seed=3).fit(X, Y, epochs=7, batch_size=16, validation_fraction=0.25)
    val_loss = net.history_["val_loss"]
    assert len(val_loss) == len(net.history_["loss"]) == 7
    assert np.isfinite(val_loss).all()
    # A twin draws the same split from the same random stream.
    twin = _small_net(seed=3)
    *_, (X_val, Y_val, _) = twin._split(X, Y, None, 0.25)
    assert X_val.shape == (20, 4)
    assert val_loss[-1] == net.loss(X_val, Y_val, "squared_error")
    # The 60 training rows make 4 batches per epoch.
    assert net.samples_seen_ == 7 * 60


def test_validation_data_records_val_loss():
    X, Y = _regression(n=80)
    X_val, Y_val = _regression(n=30, seed=5)
    sw_val = np.linspace(0.5, 2.0, 30)
    net = _small_net()
    seen = []
    net.fit(
        X,
        Y,
        epochs=4,
        validation_data=(X_val, Y_val, sw_val),
        callbacks=[lambda network, logs: seen.append(logs["val_loss"])],
    )
    assert net.history_["val_loss"] == seen and len(seen) == 4
    assert seen[-1] == net.loss(X_val, Y_val, "squared_error", sw_val)
    assert seen[-1] == pytest.approx(
        np.average(0.5 * ((net.predict(X_val) - Y_val) ** 2).sum(axis=1), weights=sw_val)
    )


# -- reproducibility and dtypes ------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer, dropout",
    [("adam", 0.3), ("sgd", 0.0), ("sgd", 0.2), ("lbfgs", 0.0)],
)
def test_same_seed_gives_bit_identical_weights(optimizer, dropout):
    X, Y = _regression(n=50)
    fit = dict(optimizer=optimizer, epochs=6, batch_size=8, shuffle=True, alpha=1e-3)
    a = _small_net(seed=7, dropout=dropout).fit(X, Y, **fit)
    b = _small_net(seed=7, dropout=dropout).fit(X, Y, **fit)
    _assert_same_weights(a, b)
    assert a.history_ == b.history_
    c = _small_net(seed=8, dropout=dropout).fit(X, Y, **fit)
    assert not np.array_equal(a.layers[0].weights, c.layers[0].weights)


def test_random_state_kinds():
    X, Y = _regression(n=30)
    fit = dict(epochs=3, batch_size=8)
    a = _small_net(seed=np.random.default_rng(5)).fit(X, Y, **fit)
    b = _small_net(seed=np.random.default_rng(5)).fit(X, Y, **fit)
    _assert_same_weights(a, b)
    c = _small_net(seed=np.random.RandomState(5)).fit(X, Y, **fit)
    d = _small_net(seed=np.random.RandomState(5)).fit(X, Y, **fit)
    _assert_same_weights(c, d)
    with pytest.raises(ValueError, match="random_state must be None, an int"):
        Network(4, random_state="seed")


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs"])
def test_float32_data_trains_in_float32(optimizer):
    X, Y = _regression(n=40)
    net32 = _small_net().fit(
        X.astype(np.float32), Y.astype(np.float32), optimizer=optimizer, epochs=5
    )
    assert net32.dtype is None  # the parameter: follow the data
    assert all(w.dtype == np.float32 for w in net32.get_weights())
    assert net32.predict(X.astype(np.float32)).dtype == np.float32
    assert net32.predict(X).dtype == np.float64  # float64 data compute in float64
    net64 = _small_net().fit(X, Y, optimizer=optimizer, epochs=5)
    assert all(w.dtype == np.float64 for w in net64.get_weights())
    assert net64.predict(X.astype(np.float32)).dtype == np.float64
    # Same seed, same starting weights: the float32 fit tracks the float64 one.
    np.testing.assert_allclose(net32.predict(X), net64.predict(X), rtol=1e-3, atol=1e-3)


def test_add_layer_after_a_float32_fit_keeps_float32():
    X, Y = _regression(n=20)
    net = Network(4, random_state=0).add_layer(1, "identity")
    net.fit(X.astype(np.float32), Y.astype(np.float32), epochs=1)
    net.add_layer(3, "tanh")
    assert [w.dtype for w in net.get_weights()] == [np.float32] * 4
    # The same initial weights as in float64, rounded.
    reference = Network(4, random_state=0).add_layer(1, "identity")
    reference.fit(X.astype(np.float32), Y.astype(np.float32), epochs=1)
    reference._set_dtype(np.float64)
    reference.add_layer(3, "tanh")
    np.testing.assert_array_equal(
        net.layers[1].weights, reference.layers[1].weights.astype(np.float32)
    )


def test_explicit_dtype_and_integer_data():
    X, Y = _regression(n=40)
    net = _small_net(dtype="float32").fit(X, Y, epochs=2)
    assert net.predict(X).dtype == np.float32 and net.layers[0].weights.dtype == np.float32
    ints = _small_net().fit(np.rint(X * 3).astype(int), Y, epochs=2)
    assert ints.predict(X).dtype == np.float64
    with pytest.raises(ValueError, match="dtype must be None, float32 or float64, got float16"):
        Network(4, dtype="float16")


def test_predict_matches_manual_forward_in_chunks():
    net = _small_net(n_out=3, out="softmax")
    X = np.random.default_rng(0).normal(size=(5000, 4))  # more rows than one chunk
    h = X
    for layer in net.layers:
        z = h @ layer.weights + layer.bias
        h = np.maximum(z, 0) if layer.activation.name == "relu" else z
        if layer.activation.name == "tanh":
            h = np.tanh(z)
        if layer.activation.name == "softmax":
            h = np.exp(z - z.max(axis=1, keepdims=True))
            h /= h.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.predict(X), h, rtol=1e-12)
    np.testing.assert_allclose(net.predict(X.tolist()), h, rtol=1e-12)
    np.testing.assert_allclose(net.predict(sparse.csr_matrix(X)), h, rtol=1e-12)


# -- invalid input ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X_and_Y(bad):
    X, Y = _regression(n=20)
    X_bad, Y_bad = X.copy(), Y.copy()
    X_bad[3, 2], Y_bad[5, 0] = bad, bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        _small_net().fit(X_bad, Y)
    with pytest.raises(ValueError, match="Y contains NaN or infinity"):
        _small_net().fit(X, Y_bad)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        _small_net().predict(X_bad)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        _small_net().fit(sparse.csr_matrix(X_bad), Y)


def test_finite_values_whose_sum_overflows_are_accepted():
    X = np.full((4, 4), 1e308)  # finite, though their sum overflows
    net = Network(4, random_state=0).add_layer(1, "tanh")
    net.set_weights([np.full((4, 1), 1e-10), np.zeros(1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(net.predict(X), 1.0)
        assert net.loss(X, np.ones(4), "squared_error") == 0.0


def test_shape_errors():
    X, Y = _regression(n=20)
    net = _small_net()
    with pytest.raises(ValueError, match="X has 3 columns but the network expects 4 inputs"):
        net.fit(X[:, :3], Y)
    with pytest.raises(ValueError, match="X has 3 columns but the network expects 4 inputs"):
        net.predict(X[:, :3])
    with pytest.raises(ValueError, match="X has 20 rows but Y has 19"):
        net.fit(X, Y[:19])
    with pytest.raises(
        ValueError,
        match=re.escape("Y must have 1 column(s), one per output unit, got shape (20, 2)"),
    ):
        net.fit(X, np.c_[Y, Y])
    softmax = _small_net(n_out=3, out="softmax")
    with pytest.raises(
        ValueError, match=re.escape("Y must have 3 column(s), one per output unit, got shape (20,)")
    ):
        softmax.fit(X, np.zeros(20), loss="log_loss")
    with pytest.raises(ValueError, match="X must be 2-dimensional, got 1"):
        net.predict(X[0])
    with pytest.raises(ValueError, match="X has 0 rows; at least 1 needed"):
        net.fit(X[:0], Y[:0])
    with pytest.raises(ValueError, match="X must hold numbers"):
        net.fit(np.full((20, 4), "a"), Y)
    with pytest.raises(ValueError, match="Y must hold numbers"):
        net.fit(X, np.full(20, "a"))


def test_unknown_names_list_the_valid_ones():
    X, Y = _regression(n=20)
    with pytest.raises(ValueError, match=r"Unknown activation 'swish'; valid names are \['elu'"):
        Network(4).add_layer(3, "swish")
    with pytest.raises(ValueError, match=r"Unknown loss 'mse'; valid names are \['absolute_error'"):
        _small_net().fit(X, Y, loss="mse")
    with pytest.raises(
        ValueError,
        match=r"Unknown optimizer 'rmsprop'; valid names are \['adam', 'adamw', 'lbfgs', 'sgd'\]",
    ):
        _small_net().fit(X, Y, optimizer="rmsprop")


def test_loss_and_output_activation_must_match():
    X = np.random.default_rng(0).normal(size=(20, 4))
    onehot = np.eye(3)[np.arange(20) % 3]
    with pytest.raises(ValueError, match="'log_loss' loss needs .* softmax; got 'sigmoid'"):
        _small_net(n_out=3, out="sigmoid").fit(X, onehot, loss="log_loss")
    with pytest.raises(ValueError, match="'binary_log_loss' loss needs .* sigmoid; got 'softmax'"):
        _small_net(n_out=3, out="softmax").fit(X, onehot, loss="binary_log_loss")
    with pytest.raises(ValueError, match="'poisson' loss needs .* exp, softplus; got 'identity'"):
        _small_net().fit(X, np.ones(20), loss="poisson")


@pytest.mark.parametrize("activation", ["softmax", "exp"])
def test_output_only_activation_on_hidden_layer(activation):
    X, Y = _regression(n=20)
    net = Network(4).add_layer(5, activation).add_layer(1, "identity")
    message = f"The '{activation}' activation can only be used on the output layer"
    with pytest.raises(ValueError, match=message):
        net.fit(X, Y)
    with pytest.raises(ValueError, match=message):
        net.predict(X)


def test_target_checks():
    X, _ = _regression(n=20)
    y = np.arange(20.0) - 3
    with pytest.raises(ValueError, match="'poisson' loss needs non-negative targets"):
        _small_net(out="exp").fit(X, y, loss="poisson")
    with pytest.raises(ValueError, match="'binary_log_loss' loss needs targets between 0 and 1"):
        _small_net(out="sigmoid").fit(X, y, loss="binary_log_loss")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=0), "epochs must be a positive integer, got 0"),
        (dict(batch_size=2.5), "batch_size must be a positive integer, got 2.5"),
        (dict(alpha=-1.0), "alpha must be a non-negative number, got -1.0"),
        (dict(validation_fraction=1.0), r"validation_fraction must be in \[0, 1\), got 1.0"),
        (dict(validation_fraction=0.99), "leaves an empty training or validation set"),
        (dict(sample_weight=np.ones(19)), r"sample_weight must have shape \(20,\), got \(19,\)"),
        (dict(sample_weight=-np.ones(20)), "sample_weight must not be negative"),
        (dict(sample_weight=np.zeros(20)), "sample_weight must have a positive sum"),
        (dict(sample_weight=np.full(20, np.nan)), "sample_weight contains NaN or infinity"),
        (dict(validation_data=(np.zeros((3, 4)),)), r"validation_data must be \(X_val, Y_val\)"),
        (dict(validation_data=(np.zeros((3, 5)), np.zeros(3))), "X has 5 columns"),
        (dict(optimizer=Adam(), learning_rate=0.1), "learning_rate is given both to fit"),
        (dict(optimizer="sgd", learning_rate=-0.1), "learning_rate must be positive"),
        (dict(target_loss="a"), "target_loss must be None or a number, got 'a'"),
        (dict(target_loss=np.nan), "target_loss must be None or a number, got nan"),
        (dict(target_loss=True), "target_loss must be None or a number, got True"),
        (dict(sample_weight=["a"] * 20), "sample_weight must hold numbers, got an array of dtype"),
    ],
)
def test_invalid_fit_arguments(kwargs, match):
    X, Y = _regression(n=20)
    net = _small_net()
    before = net.get_weights()
    with pytest.raises(ValueError, match=match):
        net.fit(X, Y, **kwargs)
    # Raised before training starts.
    assert net.history_ == {"loss": [], "val_loss": []}
    for u, v in zip(net.get_weights(), before, strict=True):
        np.testing.assert_array_equal(u, v)


def test_add_layer_dropout_must_be_a_number():
    net = Network(4)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got '0.1'"):
        net.add_layer(8, dropout="0.1")
    assert net.layers == []


def test_zero_weight_rows_are_left_out_before_the_validation_split():
    X, Y = _regression(n=20)
    sw = np.ones(20)
    sw[::2] = 0
    weighted = _small_net(seed=0).fit(X, Y, sample_weight=sw, validation_fraction=0.25, epochs=3)
    dropped = _small_net(seed=0).fit(X[1::2], Y[1::2], validation_fraction=0.25, epochs=3)
    assert weighted.history_ == dropped.history_
    _assert_same_weights(weighted, dropped)


def test_structural_errors():
    X, Y = _regression(n=20)
    with pytest.raises(ValueError, match="The network has no layers; call add_layer first"):
        Network(4).fit(X, Y)
    with pytest.raises(ValueError, match="The output layer cannot have dropout"):
        Network(4).add_layer(1, "identity", dropout=0.5).fit(X, Y)
    with pytest.raises(ValueError, match="Dropout needs a stochastic optimizer .*'lbfgs'"):
        _small_net(dropout=0.2).fit(X, Y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="n_inputs must be a positive integer, got 0"):
        Network(0)
    net = _small_net()
    with pytest.raises(ValueError, match="Expected 6 arrays"):
        net.set_weights(net.get_weights()[:4])
    bad = net.get_weights()
    bad[2] = np.zeros((6, 8))
    with pytest.raises(ValueError, match=r"Layer 1 weights must have shape \(8, 6\), got \(6, 8\)"):
        net.set_weights(bad)


def test_divergence_raises_and_leaves_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=50, scale=100, size=(64, 4))  # unscaled
    y = X @ np.array([3.0, -2.0, 1.0, 5.0]) * 100
    net = _small_net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow is reported once, as the error below
        with pytest.raises(ValueError, match=r"Training diverged at epoch \d+") as info:
            net.fit(X, y, optimizer="sgd", learning_rate=1e6, epochs=20, batch_size=16)
    message = str(info.value)
    assert "scaling the input data" in message and "a lower learning rate" in message
    assert all(np.isfinite(w).all() for w in net.get_weights())
    assert np.isfinite(net.predict(X)).all()
    epoch = int(re.search(r"epoch (\d+)", message).group(1))
    assert len(net.history_["loss"]) == epoch - 1
    assert np.isfinite(net.history_["loss"]).all()


def test_huge_but_finite_losses_are_averaged_without_overflow():
    net = Network(1, random_state=0).add_layer(1, "identity")
    net.set_weights([np.full((1, 1), 4e153), np.zeros(1)])
    X, y = np.ones((64, 1)), np.zeros(64)
    net.fit(X, y, optimizer=SGD(learning_rate=1e-300, momentum=0.0), epochs=1, batch_size=16)
    assert net.history_["loss"][0] == pytest.approx(0.5 * 4e153**2, rel=1e-12)


def test_divergence_with_lbfgs_leaves_finite_weights():
    X = np.array([[1e200, 1.0], [-1e200, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = Network(2, random_state=0).add_layer(1, "identity")
        with pytest.raises(ValueError, match="Training diverged at epoch 1"):
            net.fit(X, [1.0, 2.0], optimizer="lbfgs", epochs=10)
    assert all(np.isfinite(w).all() for w in net.get_weights())


# -- interruption ------------------------------------------------------------------------


def test_keyboard_interrupt_in_callback_keeps_last_epoch():
    X, Y = _regression(n=40)

    def interrupt(network, logs):
        if logs["epoch"] == 3:
            raise KeyboardInterrupt

    fit = dict(optimizer="adam", epochs=10, batch_size=8)
    net = _small_net(dropout=0.2)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, callbacks=[interrupt], **fit)
    reference = _small_net(dropout=0.2).fit(X, Y, **dict(fit, epochs=3))
    _assert_same_weights(net, reference)
    assert len(net.history_["loss"]) == 3
    assert np.isfinite(net.predict(X)).all()
    assert not hasattr(net.layers[0], "_z")  # training buffers released


def test_keyboard_interrupt_mid_step_restores_previous_weights():
    X, Y = _regression(n=40)
    opt = Adam(learning_rate=0.01)
    original_step = opt.step
    calls, before = [], []

    def step(params, grad):
        calls.append(1)
        if len(calls) == 5:
            before.append(params.copy())
            params[: params.size // 2] -= 1.0  # half an update, then Ctrl-C
            raise KeyboardInterrupt
        original_step(params, grad)

    opt.step = step
    net = _small_net()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, optimizer=opt, epochs=10, batch_size=20, shuffle=True)
    np.testing.assert_array_equal(_flat(net), before[0])
    # Two batches per epoch: the weights are those after two whole epochs.
    reference = _small_net().fit(X, Y, optimizer=Adam(learning_rate=0.01), epochs=2, batch_size=20)
    _assert_same_weights(net, reference)
    assert np.isfinite(net.predict(X)).all()


def test_keyboard_interrupt_while_writing_the_new_step_keeps_the_current_weights():
    # Optimizers with an ``out`` argument write the new parameters into the
    # spare array; an interrupt half-way through that write must not show.
    X, Y = _regression(n=40)
    opt = Adam(learning_rate=0.01)
    original_step = opt.step
    calls, before = [], []

    def step(params, grad, out=None):
        calls.append(1)
        if len(calls) == 5:
            before.append(params.copy())
            out[: out.size // 2] = -1.0  # half of the new step, then Ctrl-C
            raise KeyboardInterrupt
        original_step(params, grad, out=out)

    opt.step = step
    net = _small_net()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, optimizer=opt, epochs=10, batch_size=20, shuffle=True)
    np.testing.assert_array_equal(_flat(net), before[0])
    reference = _small_net().fit(X, Y, optimizer=Adam(learning_rate=0.01), epochs=2, batch_size=20)
    _assert_same_weights(net, reference)


def test_other_errors_mid_step_restore_previous_weights():
    X, Y = _regression(n=40)
    opt = SGD(learning_rate=0.01)
    original_step = opt.step
    calls, before = [], []

    def step(params, grad):
        calls.append(1)
        if len(calls) == 3:
            before.append(params.copy())
            params[:5] = np.nan
            raise MemoryError
        original_step(params, grad)

    opt.step = step
    net = _small_net()
    with pytest.raises(MemoryError):
        net.fit(X, Y, optimizer=opt, epochs=10, batch_size=20)
    np.testing.assert_array_equal(_flat(net), before[0])


def test_keyboard_interrupt_during_lbfgs():
    X, Y = _regression(n=40)

    def interrupt(network, logs):
        if logs["epoch"] == 3:
            raise KeyboardInterrupt

    net = _small_net()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, optimizer="lbfgs", epochs=100, callbacks=[interrupt])
    reference = _small_net().fit(X, Y, optimizer="lbfgs", epochs=3)
    _assert_same_weights(net, reference)
    assert len(net.history_["loss"]) == 3


# -- warm start, callbacks, verbose -----------------------------------------------------------


def test_warm_start_keeps_optimizer_state_and_history():
    X, Y = _regression(n=40)
    fit = dict(optimizer="adam", batch_size=10)
    net = _small_net(dropout=0.1).fit(X, Y, epochs=2, **fit)
    adam = net.optimizer_
    assert adam.t == 8 and net.samples_seen_ == 80
    net.fit(X, Y, epochs=3, warm_start=True, **fit)
    assert net.optimizer_ is adam and adam.t == 20
    assert len(net.history_["loss"]) == 5 and net.samples_seen_ == 200
    # Continuing is the same as one long run.
    _assert_same_weights(net, _small_net(dropout=0.1).fit(X, Y, epochs=5, **fit))
    # A cold fit starts a new optimizer, history and sample count.
    net.fit(X, Y, epochs=1, **fit)
    assert net.optimizer_ is not adam and net.optimizer_.t == 4
    assert len(net.history_["loss"]) == 1 and net.samples_seen_ == 40


def test_warm_start_with_optimizer_object_and_invscaling():
    X, Y = _regression(n=40)
    sgd = SGD(learning_rate=0.05, schedule="invscaling", power_t=0.5)
    net = _small_net().fit(X, Y, optimizer=sgd, epochs=2, batch_size=40)
    assert sgd.current_learning_rate == pytest.approx(0.05 / 81**0.5)
    net.fit(X, Y, optimizer=sgd, epochs=1, batch_size=40, warm_start=True)
    assert sgd.current_learning_rate == pytest.approx(0.05 / 121**0.5)
    _assert_same_weights(
        net,
        _small_net().fit(X, Y, optimizer=SGD(0.05, schedule="invscaling"), epochs=3, batch_size=40),
    )


def test_callbacks_see_every_epoch_and_can_stop():
    X, Y = _regression(n=40)
    logs_seen, second = [], []

    def stop_at_two(network, logs):
        logs_seen.append(dict(logs))
        assert network is net
        return logs["epoch"] == 2

    net = _small_net()
    net.fit(X, Y, epochs=10, callbacks=[stop_at_two, lambda n, logs: second.append(logs["epoch"])])
    assert len(net.history_["loss"]) == 2 and second == [1, 2]
    assert [logs["epoch"] for logs in logs_seen] == [1, 2]
    assert [logs["loss"] for logs in logs_seen] == net.history_["loss"]
    assert logs_seen[0]["val_loss"] is None


def test_verbose_prints_one_line_per_epoch(capsys):
    X, Y = _regression(n=40)
    _small_net().fit(X, Y, epochs=3, verbose=1, validation_fraction=0.25)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3") and lines[2].startswith("Epoch 3/3")
    for line in lines:
        for word in ("loss", "val_loss", "elapsed", "left"):
            assert word in line
    _small_net().fit(X, Y, epochs=3)
    assert capsys.readouterr().out == ""


# -- data handling ---------------------------------------------------------------------------


def test_sparse_input_matches_dense_lbfgs():
    X, Y = _regression(n=50)
    X[np.abs(X) < 0.8] = 0.0
    fit = dict(optimizer="lbfgs", epochs=60, alpha=0.1)
    dense = _small_net().fit(X, Y, **fit)
    # Sparse and dense products round differently in the last bit; sixty
    # L-BFGS iterations on a non-convex loss grow that to about 1e-10.
    for matrix in (sparse.csr_matrix(X), sparse.csc_matrix(X)):
        sparse_net = _small_net().fit(matrix, Y, **fit)
        np.testing.assert_allclose(sparse_net.predict(matrix), dense.predict(X), rtol=0, atol=1e-8)
        for u, v in zip(sparse_net.get_weights(), dense.get_weights(), strict=True):
            np.testing.assert_allclose(u, v, rtol=0, atol=1e-8)


def test_sparse_input_matches_dense_adam():
    X, Y = _regression(n=50)
    X[np.abs(X) < 0.8] = 0.0
    fit = dict(optimizer="adam", epochs=5, batch_size=16, learning_rate=0.01)
    dense = _small_net(dropout=0.2).fit(X, Y, **fit)
    sparse_net = _small_net(dropout=0.2).fit(sparse.csr_matrix(X), Y, **fit)
    np.testing.assert_allclose(sparse_net.predict(X), dense.predict(X), rtol=0, atol=1e-10)


@pytest.mark.parametrize("hidden", [False, True])
def test_sample_weight_two_equals_duplicated_row(hidden):
    X, Y = _regression(n=30)
    sw = np.ones(30)
    sw[[2, 7, 11]] = 2.0
    rows = np.r_[np.arange(30), [2, 7, 11]]
    # Both objectives are the same function of the weights. Without a hidden
    # layer L-BFGS converges to the one minimum; with one, it follows the same
    # path for a while (rounding differences grow over many iterations).
    make = _small_net if hidden else (lambda: Network(4, random_state=0).add_layer(1, "identity"))
    fit = dict(optimizer=LBFGS(**EXACT), epochs=40 if hidden else 1000, alpha=0.1)
    weighted = make().fit(X, Y, sample_weight=sw, **fit)
    duplicated = make().fit(X[rows], Y[rows], **fit)
    np.testing.assert_allclose(weighted.predict(X), duplicated.predict(X), rtol=0, atol=1e-6)
    assert len(weighted.history_["loss"]) == len(duplicated.history_["loss"])


@pytest.mark.parametrize("hidden", [False, True])
def test_zero_weight_equals_dropping_the_row(hidden):
    X, Y = _regression(n=30)
    sw = np.ones(30)
    sw[[4, 9]] = 0.0
    keep = sw > 0
    make = _small_net if hidden else (lambda: Network(4, random_state=0).add_layer(1, "identity"))
    fit = dict(optimizer=LBFGS(**EXACT), epochs=40 if hidden else 1000, alpha=0.1)
    weighted = make().fit(X, Y, sample_weight=sw, **fit)
    dropped = make().fit(X[keep], Y[keep], **fit)
    np.testing.assert_allclose(weighted.predict(X), dropped.predict(X), rtol=0, atol=1e-6)
    assert weighted.loss(X, Y, "squared_error", sw) == pytest.approx(
        dropped.loss(X[keep], Y[keep], "squared_error"), rel=1e-6
    )


def test_dropout_changes_training_but_not_prediction():
    X, Y = _regression(n=40)
    fit = dict(optimizer="adam", epochs=5, batch_size=8, shuffle=False)
    plain = _small_net(dropout=0.0).fit(X, Y, **fit)
    dropped = _small_net(dropout=0.4).fit(X, Y, **fit)
    assert not np.allclose(plain.layers[0].weights, dropped.layers[0].weights)
    first = dropped.predict(X)
    np.testing.assert_array_equal(dropped.predict(X), first)
    # predict applies no mask and no scaling: the plain forward pass.
    h = X
    for layer in dropped.layers:
        h = layer.activation.forward(h @ layer.weights + layer.bias)
    np.testing.assert_allclose(first, h, rtol=1e-14)


def test_loss_method_is_weighted_mean_of_per_sample_loss():
    X, Y = _regression(n=20)
    net = _small_net()
    sw = np.linspace(0.1, 2, 20)
    residual = net.predict(X) - Y
    expected = np.average(0.5 * (residual**2).sum(axis=1), weights=sw)
    assert net.loss(X, Y, "squared_error", sw) == pytest.approx(expected, rel=1e-14)
    assert net.loss(X, Y[:, 0], "absolute_error") == pytest.approx(np.abs(residual).mean())


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (np.ones(19), r"sample_weight must have shape \(20,\), got \(19,\)"),
        (-np.ones(20), "sample_weight must not be negative"),
        (np.zeros(20), "sample_weight must have a positive sum"),
        (np.full(20, np.nan), "sample_weight contains NaN or infinity"),
        (["x"] * 20, "sample_weight must hold numbers"),
    ],
)
def test_loss_method_checks_sample_weight_as_fit_does(sample_weight, match):
    X, Y = _regression(n=20)
    net = _small_net()
    with pytest.raises(ValueError, match=match):
        net.loss(X, Y, "squared_error", sample_weight)
    with pytest.raises(ValueError, match=match):
        net.fit(X, Y, sample_weight=sample_weight)


def test_user_loss_trains():
    class LogCosh(Loss):
        name = "log_cosh"

        def value(self, y_true, y_pred):
            return np.log(np.cosh(y_pred - y_true)).sum(axis=1)

        def gradient(self, y_true, y_pred, out=None):
            return np.tanh(np.subtract(y_pred, y_true, out=out), out=out)

    X, Y = _regression(n=60)
    net = Network(4, random_state=0).add_layer(1, "identity")
    net.fit(X, Y, loss=LogCosh(), optimizer=LBFGS(**EXACT), epochs=500)
    # log-cosh is quadratic near 0: on nearly noise-free data it finds the
    # least-squares plane.
    coef, *_ = np.linalg.lstsq(np.c_[X, np.ones(60)], Y, rcond=None)
    np.testing.assert_allclose(net.layers[0].weights, coef[:4], atol=0.01)


def test_get_weights_returns_copies_and_set_weights_round_trips():
    net = _small_net()
    weights = net.get_weights()
    weights[0][...] = 0
    assert not np.all(net.layers[0].weights == 0)
    other = _small_net(seed=9)
    other.set_weights(net.get_weights())
    _assert_same_weights(net, other)
    assert net.n_outputs == 1 and "8 relu, 6 tanh, 1 identity" in repr(net)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs"])
def test_pickle_round_trip_and_continued_training(optimizer):
    X, Y = _regression(n=30)
    net = _small_net(dropout=0.0 if optimizer == "lbfgs" else 0.2)
    net.fit(X, Y, optimizer=optimizer, epochs=3, batch_size=8)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))
    assert clone.history_ == net.history_ and clone.samples_seen_ == net.samples_seen_
    # The optimizer state and the random stream travel with the network.
    net.fit(X, Y, optimizer=optimizer, epochs=2, batch_size=8, warm_start=True)
    clone.fit(X, Y, optimizer=optimizer, epochs=2, batch_size=8, warm_start=True)
    _assert_same_weights(clone, net)


# -- Ctrl-C while an epoch is being recorded (issue 14, item 2) ----------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("at_call", [1, 4], ids=["first-epoch", "later-epoch"])
def test_interrupt_during_the_validation_loss_records_no_half_epoch(
    optimizer, at_call, monkeypatch
):
    X, Y = _regression(n=40)
    validation = _regression(n=20, seed=1)
    fit = dict(optimizer=optimizer, epochs=10, batch_size=10, validation_data=validation)
    reference = _small_net().fit(X, Y, **fit)
    # The validation loss of an epoch is computed by the trainer.
    validate = Trainer.validate
    calls = {"n": 0}

    def interrupting_loss(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt
        return validate(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "validate", interrupting_loss)
    seen = []
    net = _small_net()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, callbacks=[lambda network, logs: seen.append(logs["epoch"])], **fit)
    completed = at_call - 1
    # Both curves describe the same completed epochs, and the callbacks saw
    # exactly those.
    assert net.history_["loss"] == reference.history_["loss"][:completed]
    assert net.history_["val_loss"] == reference.history_["val_loss"][:completed]
    assert seen == list(range(1, completed + 1))
    assert np.isfinite(net.predict(X)).all()
