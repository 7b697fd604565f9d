"""The array-API backend: the same models on array_api_strict (two devices) and torch.

array_api_strict's second device raises on any mixing of devices, so every
test on ``Device("device1")`` also shows that nothing is silently moved to the
host. The numpy path is the reference: with the same ``random_state`` the
models agree within floating-point tolerance.
"""

import warnings

import pytest

# These tests hold the estimators to scikit-learn 1.9's array-API contract
# (labels on the host, its check_array_api_input and move_estimator_to); on
# older versions sknet declares no array-API support (sknet._base.compat).
pytest.importorskip("sklearn", minversion="1.9")

import array_api_strict as xps
import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.utils._array_api import yield_namespace_device_dtype_combinations
from sklearn.utils.estimator_checks import check_array_api_input

from sknet import LayeredClassifier, LayeredRegressor, Network
from sknet.activations import ACTIVATIONS
from sknet.backends import ArrayAPIBackend, get_backend, to_numpy
from sknet.losses import LOSSES
from sknet.training import DivergenceError

DEVICES = [None, xps.Device("device1")]
DEVICE_IDS = ["default", "device1"]
TOLERANCE = {"float64": 1e-6, "float32": 2e-3}


def _strict(array, device):
    return xps.asarray(np.asarray(array), device=device)


def _assert_on(array, device, dtype=None):
    assert isinstance(array, xps._array_object.Array), type(array)
    assert array.device == (device or xps.Device("CPU_DEVICE"))
    if dtype is not None:
        assert array.dtype == getattr(xps, dtype)


# -- activations and losses: the array-API forms compute the numpy forms -------


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_array_forms_match_numpy(name):
    activation = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=(7, 4))
    grad = rng.normal(size=(7, 4))
    a = activation.forward(z.copy())
    expected_grad = activation.backward(z.copy(), a.copy(), grad.copy())
    device = xps.Device("device1")
    z_x, grad_x = _strict(z, device), _strict(grad, device)
    a_x = activation.forward(z_x)
    grad_out = activation.backward(z_x, a_x, grad_x)
    _assert_on(a_x, device, "float64")
    _assert_on(grad_out, device, "float64")
    # gelu's erf falls back to a 1.5e-7 approximation on array_api_strict.
    tolerance = 5e-7 if name == "gelu" else 1e-14
    np.testing.assert_allclose(to_numpy(a_x), a, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(to_numpy(grad_out), expected_grad, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_array_forms_match_numpy(name):
    loss = LOSSES[name]
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, size=(6, 3))
    if name == "log_loss":
        p /= p.sum(axis=1, keepdims=True)
        y = np.eye(3)[rng.integers(0, 3, 6)]
    elif name == "binary_log_loss":
        y = rng.integers(0, 2, size=(6, 3)).astype(float)
    else:
        y = rng.uniform(0, 2, size=(6, 3))
        y[0, 0] = 0.0  # a zero count for the Poisson loss
    device = xps.Device("device1")
    value = loss.value(_strict(y, device), _strict(p, device))
    gradient = loss.gradient(_strict(y, device), _strict(p, device))
    _assert_on(value, device)
    np.testing.assert_allclose(to_numpy(value), loss.value(y, p), rtol=1e-13)
    np.testing.assert_allclose(to_numpy(gradient), loss.gradient(y, p), rtol=1e-13)


# -- the engine ------------------------------------------------------------------


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, np.eye(3)[labels]


def _network(dropout=0.1, dtype=None):
    net = Network(5, random_state=0, dtype=dtype)
    net.add_layer(12, "tanh", dropout=dropout).add_layer(8, "relu").add_layer(3, "softmax")
    return net


SETTINGS = {
    "adam+dropout": dict(optimizer="adam", dropout=0.1),
    "sgd+dropout": dict(optimizer="sgd", dropout=0.1),
    "lbfgs": dict(optimizer="lbfgs", dropout=0.0),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("device", DEVICES, ids=DEVICE_IDS)
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_network_trains_where_the_data_live(setting, device, dtype):
    X, Y = _data()
    X = X.astype(dtype)
    settings = dict(SETTINGS[setting])
    dropout = settings.pop("dropout")
    kwargs = dict(
        loss="log_loss", epochs=20, batch_size=32, alpha=1e-3, validation_fraction=0.2, **settings
    )
    reference = _network(dropout).fit(X, Y, **kwargs)
    net = _network(dropout).fit(_strict(X, device), _strict(Y, device), **kwargs)
    prediction = net.predict(_strict(X, device))
    _assert_on(prediction, device, dtype)
    for layer in net.layers:
        _assert_on(layer.weights, device, dtype)
        _assert_on(layer.bias, device, dtype)
    np.testing.assert_allclose(
        to_numpy(prediction), reference.predict(X), atol=TOLERANCE[dtype], rtol=0
    )
    np.testing.assert_allclose(
        net.history_["val_loss"], reference.history_["val_loss"], rtol=TOLERANCE[dtype]
    )
    assert net.loss(_strict(X, device), _strict(Y, device), "log_loss") == pytest.approx(
        reference.loss(X, Y, "log_loss"), rel=TOLERANCE[dtype]
    )


def test_network_follows_the_input_with_weights_targets_and_warm_start():
    X, Y = _data()
    device = xps.Device("device1")
    sample_weight = np.random.default_rng(3).uniform(0.5, 2, len(X))
    sample_weight[:5] = 0.0  # zero-weight rows are left out on the device too
    kwargs = dict(loss="log_loss", epochs=5, batch_size=16, sample_weight=sample_weight)
    reference = _network().fit(X, Y, **kwargs)
    net = _network().fit(_strict(X, device), Y, **kwargs)  # numpy Y and weights follow X
    np.testing.assert_allclose(
        to_numpy(net.predict(_strict(X, device))), reference.predict(X), atol=1e-6
    )
    # A warm start continues on the device, optimizer state included.
    reference.fit(X, Y, warm_start=True, **kwargs)
    net.fit(_strict(X, device), _strict(Y, device), warm_start=True, **kwargs)
    assert get_backend(net.optimizer_._state[0]).name == "array_api_strict"
    np.testing.assert_allclose(
        to_numpy(net.predict(_strict(X, device))), reference.predict(X), atol=1e-6
    )
    # A network trained on a device predicts numpy input (its weights are
    # copied for the call) and saves to an ordinary file.
    np.testing.assert_allclose(net.predict(X), reference.predict(X), atol=1e-6)
    weights = net.get_weights()
    _assert_on(weights[0], device)
    net.set_weights([to_numpy(w) * 0 for w in weights])
    _assert_on(net.layers[0].weights, device)
    assert float(to_numpy(net.layers[0].weights).sum()) == 0.0


def test_nothing_per_batch_comes_back_from_the_device(monkeypatch):
    X, Y = _data(n=320)
    device = xps.Device("device1")
    reads = []
    original = ArrayAPIBackend.read

    def counting_read(self, scalar):
        reads.append(1)
        return original(self, scalar)

    monkeypatch.setattr(ArrayAPIBackend, "read", counting_read)
    epochs, batch_size = 3, 16  # 20 batches per epoch
    _network().fit(
        _strict(X, device),
        _strict(Y, device),
        loss="log_loss",
        epochs=epochs,
        batch_size=batch_size,
    )
    assert len(reads) == epochs  # the epoch's loss, read once per epoch


def test_divergence_on_a_device_restores_the_last_finite_epoch():
    X, Y = _data()
    device = xps.Device("device1")
    net = Network(5, random_state=0).add_layer(8, "relu").add_layer(3, "identity")
    X_big = _strict(X * 1e3, device)
    with pytest.raises(DivergenceError, match="last finite epoch") as info:
        net.fit(X_big, _strict(Y, device), optimizer="sgd", learning_rate=1e3, epochs=50)
    assert info.value.epoch >= 1
    for layer in net.layers:
        assert np.isfinite(to_numpy(layer.weights)).all()
        _assert_on(layer.weights, device)


def test_mixed_devices_are_a_clear_error():
    a = xps.asarray(np.ones((3, 2)))
    b = xps.asarray(np.ones(3), device=xps.Device("device1"))
    with pytest.raises(ValueError, match="different devices"):
        get_backend(a, b)


# -- the estimators ------------------------------------------------------------

ESTIMATORS = {
    "clf-adam-dropout": LayeredClassifier((12, 6), dropout=(0.1, 0.0), max_iter=20, random_state=0),
    "clf-sgd-binary": LayeredClassifier((12,), solver="sgd", max_iter=20, random_state=0),
    "clf-lbfgs": LayeredClassifier((12,), solver="lbfgs", max_iter=40, random_state=0),
    "clf-early-stopping": LayeredClassifier(
        (12,), early_stopping=True, validation_fraction=0.2, max_iter=20, random_state=0
    ),
    "reg-adam": LayeredRegressor(hidden_layer_sizes=(12,), max_iter=20, random_state=0),
    "reg-huber-dropout": LayeredRegressor(
        loss="huber", hidden_layer_sizes=(12,), dropout=0.1, max_iter=20, random_state=0
    ),
    "reg-lbfgs": LayeredRegressor(
        hidden_layer_sizes=(12,), solver="lbfgs", max_iter=40, random_state=0
    ),
}


def _estimator_data(name):
    if name.startswith("clf"):
        n_classes = 2 if "binary" in name else 3
        return make_classification(160, 6, n_informative=4, n_classes=n_classes, random_state=0)
    X, y = make_regression(160, 6, noise=1.0, random_state=0)
    return X, y / y.std()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("device", DEVICES, ids=DEVICE_IDS)
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimators_train_where_the_data_live(name, device, dtype):
    estimator = ESTIMATORS[name]
    X, y = _estimator_data(name)
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        reference = clone(estimator).fit(X, y)
        X_x, y_x = _strict(X, device), _strict(y, device)
        with sklearn.config_context(array_api_dispatch=True):
            model = clone(estimator).fit(X_x, y_x)
            prediction = model.predict(X_x)
            score = model.score(X_x, y_x)
            outputs = [prediction]
            if hasattr(model, "predict_proba"):
                proba, log_proba = model.predict_proba(X_x), model.predict_log_proba(X_x)
                outputs += [proba, log_proba]
                np.testing.assert_allclose(
                    to_numpy(proba), reference.predict_proba(X), atol=TOLERANCE[dtype], rtol=0
                )
    for output in outputs:
        _assert_on(output, device)
    for array in [*model.coefs_, *model.intercepts_]:
        _assert_on(array, device, dtype)
    if hasattr(model, "predict_proba"):
        _assert_on(proba, device, dtype)  # float32 stays float32
        np.testing.assert_array_equal(to_numpy(prediction), reference.predict(X))
        assert isinstance(model.classes_, np.ndarray)  # labels live on the host
    else:
        _assert_on(prediction, device, dtype)
        np.testing.assert_allclose(
            to_numpy(prediction), reference.predict(X), atol=TOLERANCE[dtype] * 10, rtol=0
        )
    assert score == pytest.approx(reference.score(X, y), abs=TOLERANCE[dtype] * 10)


@pytest.mark.parametrize("device", DEVICES, ids=DEVICE_IDS)
def test_partial_fit_and_warm_start_on_a_device(device):
    X, y = make_classification(120, 5, n_informative=3, n_classes=3, random_state=1)
    X_x, y_x = _strict(X, device), _strict(y, device)
    settings = dict(hidden_layer_sizes=(10,), random_state=0)
    reference = LayeredClassifier(**settings)
    model = LayeredClassifier(**settings)
    classes = np.unique(y)
    with sklearn.config_context(array_api_dispatch=True):
        for _ in range(3):
            reference.partial_fit(X, y, classes=classes)
            model.partial_fit(X_x, y_x, classes=classes)
        np.testing.assert_allclose(
            to_numpy(model.predict_proba(X_x)), reference.predict_proba(X), atol=1e-6
        )
        warm = LayeredClassifier(warm_start=True, max_iter=5, **settings)
        warm_reference = clone(warm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            for _ in range(2):
                warm.fit(X_x, y_x)
                warm_reference.fit(X, y)
        _assert_on(warm.coefs_[0], device)
        np.testing.assert_allclose(
            to_numpy(warm.predict_proba(X_x)), warm_reference.predict_proba(X), atol=1e-6
        )
        assert warm.n_iter_ == warm_reference.n_iter_


def test_sparse_input_keeps_the_numpy_path():
    from scipy import sparse

    X, y = make_classification(80, 5, random_state=0)
    X[np.abs(X) < 0.5] = 0
    dense = LayeredClassifier((8,), max_iter=10, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        model = clone(dense).fit(sparse.csr_matrix(X), y)
        dense.fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), dense.predict_proba(X), atol=1e-12)


def test_predicting_in_another_namespace_than_fit_is_a_clear_error():
    X, y = make_classification(60, 5, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        model = LayeredRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            model.fit(_strict(X, None), _strict(y.astype(float), None))
        with pytest.raises(ValueError, match=r"LayeredRegressor.predict\(\) must use the same"):
            model.predict(X)


# -- scikit-learn's own array-API check, comparing values ----------------------

CHECKED = [
    LayeredClassifier(hidden_layer_sizes=(10,), max_iter=30, random_state=0),
    LayeredClassifier(hidden_layer_sizes=(10, 6), dropout=(0.2, 0.0), max_iter=30, random_state=0),
    LayeredClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=30, random_state=0),
    LayeredRegressor(hidden_layer_sizes=(10,), max_iter=30, random_state=0),
    LayeredRegressor(hidden_layer_sizes=(10,), solver="sgd", max_iter=30, random_state=0),
]
COMBINATIONS = [
    combination
    for combination in yield_namespace_device_dtype_combinations(include_numpy_namespaces=False)
    if combination[0] == "array_api_strict"
    or (combination[0] == "torch" and combination[1] == "cpu")
]


@pytest.mark.parametrize(
    "namespace, device_name, dtype_name", COMBINATIONS, ids=["-".join(c) for c in COMBINATIONS]
)
@pytest.mark.parametrize("estimator", CHECKED, ids=repr)
def test_check_array_api_input_with_values(estimator, namespace, device_name, dtype_name):
    if namespace == "torch":
        torch = pytest.importorskip("torch")  # run wherever torch is installed
        torch.set_num_threads(1)  # tiny arrays: threads only add contention
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        check_array_api_input(
            type(estimator).__name__,
            estimator,
            array_namespace=namespace,
            device_name=device_name,
            dtype_name=dtype_name,
            check_values=True,
            check_sample_weight=True,
        )


# -- what a user hands in or takes out, on every device (issue 14) --------------

PLACES = ["numpy", "strict-default", "strict-device1", "torch"]


def _place(name):
    """``(to, close)``: a function putting host arrays in place ``name``, and a cleanup."""
    if name == "numpy":
        return np.asarray
    if name.startswith("strict"):
        device = xps.Device("device1") if name.endswith("device1") else None
        return lambda array: _strict(array, device)
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return lambda array: torch.asarray(np.asarray(array))


def _fitted_regressor(to):
    X, y = make_regression(60, 4, noise=1.0, random_state=0)
    model = LayeredRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        model.fit(to(X), to(y / y.std()))
    return model, X


def _zero_in_place(array):
    array[...] = 0  # numpy, torch and array_api_strict all write through ``...``


@pytest.mark.parametrize("source", ["host", "model"])
@pytest.mark.parametrize("place", PLACES)
def test_assigned_weights_are_copies_on_every_backend(place, source):
    to = _place(place)
    model, X = _fitted_regressor(to)
    shapes = [tuple(w.shape) for w in model.coefs_]
    rng = np.random.default_rng(0)
    new_coefs = [rng.normal(size=shape) for shape in shapes]
    new_intercepts = [rng.normal(size=tuple(b.shape)) for b in model.intercepts_]

    def given(values):  # what the caller hands in: host arrays or the model's own kind
        return [v.copy() if source == "host" else to(v.copy()) for v in values]

    def assert_model_holds(coefs, intercepts):
        for array, expected in zip(model.coefs_, coefs, strict=True):
            np.testing.assert_array_equal(to_numpy(array), expected)
        for array, expected in zip(model.intercepts_, intercepts, strict=True):
            np.testing.assert_array_equal(to_numpy(array), expected)

    # coefs_[i] = W and intercepts_[i] = b
    W, b = given(new_coefs[:1])[0], given(new_intercepts[:1])[0]
    model.coefs_[0], model.intercepts_[0] = W, b
    _zero_in_place(W)
    _zero_in_place(b)
    intercepts = [new_intercepts[0], to_numpy(model.intercepts_[1]).copy()]
    assert_model_holds([new_coefs[0], to_numpy(model.coefs_[1]).copy()], intercepts)
    # coefs_ = [...] and intercepts_ = [...]
    coefs, biases = given(new_coefs), given(new_intercepts)
    model.coefs_, model.intercepts_ = coefs, biases
    for array in [*coefs, *biases]:
        _zero_in_place(array)
    assert_model_holds(new_coefs, new_intercepts)
    # network_.set_weights([...])
    weights = given([v * 2 for pair in zip(new_coefs, new_intercepts, strict=False) for v in pair])
    model.network_.set_weights(weights)
    for array in weights:
        _zero_in_place(array)
    assert_model_holds([c * 2 for c in new_coefs], [b * 2 for b in new_intercepts])


def test_lbfgs_parameters_on_a_device_do_not_share_scipy_vectors():
    """L-BFGS sets the device parameters from scipy's vectors: as copies, so
    that a vector scipy reuses cannot change a model after the fit."""
    from sknet.backends.parameters import DeviceParameters

    net = Network(2, random_state=0).add_layer(1, "identity")
    store = DeviceParameters(net.layers, xps.float64, get_backend(xps.ones(1)))
    vector = np.array([1.0, 2.0, 3.0])
    store.set_from_host(vector)
    vector[:] = 0
    np.testing.assert_array_equal(to_numpy(store.params), [1.0, 2.0, 3.0])


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
def test_training_does_not_depend_on_requires_grad():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    X, y = make_regression(80, 4, noise=1.0, random_state=0)
    y = y / y.std()
    settings = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        X_grad = torch.asarray(X, requires_grad=True)
        y_grad = torch.asarray(y, requires_grad=True)
        model = LayeredRegressor(**settings).fit(X_grad, y_grad)
        reference = LayeredRegressor(**settings).fit(torch.asarray(X), torch.asarray(y))
        prediction = model.predict(X_grad)
    for array, expected in zip(
        [*model.coefs_, *model.intercepts_],
        [*reference.coefs_, *reference.intercepts_],
        strict=True,
    ):
        assert not array.requires_grad and array.grad_fn is None
        assert torch.equal(array, expected)
    assert not prediction.requires_grad and prediction.grad_fn is None
    # The engine alone, a classifier and L-BFGS: the same.
    Y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    nets = [Network(4, random_state=0).add_layer(5, "tanh").add_layer(3, "softmax") for _ in "ab"]
    inputs = [torch.asarray(X, requires_grad=True), torch.asarray(X)]
    for net, data in zip(nets, inputs, strict=True):
        net.fit(data, torch.asarray(Y), loss="log_loss", optimizer="lbfgs", epochs=5)
    for net_layer, reference_layer in zip(nets[0].layers, nets[1].layers, strict=True):
        assert not net_layer.weights.requires_grad
        assert torch.equal(net_layer.weights, reference_layer.weights)
    labels = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        clf = LayeredClassifier((5,), max_iter=3, random_state=0).fit(X_grad, labels)
    assert not clf.coefs_[0].requires_grad and clf.coefs_[0].grad_fn is None


LABEL_PLACES = ["strict-default", "strict-device1", "torch"]


@pytest.mark.parametrize("X_place", ["numpy", "same"])
@pytest.mark.parametrize("place", LABEL_PLACES)
def test_classifier_takes_labels_and_classes_of_another_library(place, X_place):
    to = _place(place)
    X, y = make_classification(90, 5, n_informative=3, n_classes=3, random_state=0)
    X_in = X if X_place == "numpy" else to(X)
    settings = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        reference = LayeredClassifier(**settings).fit(X_in, y)
        model = LayeredClassifier(**settings).fit(X_in, to(y))
        # partial_fit: classes of X's library (or another), on the first call and later ones
        incremental = LayeredClassifier(**settings)
        incremental_reference = LayeredClassifier(**settings)
        for _ in range(2):
            incremental.partial_fit(X_in, to(y), classes=to(np.unique(y)))
            incremental_reference.partial_fit(X_in, y, classes=np.unique(y))
        proba = [m.predict_proba(X_in) for m in (model, reference)]
        incremental_proba = [m.predict_proba(X_in) for m in (incremental, incremental_reference)]
        with pytest.raises(ValueError, match="differs from the classes"):
            incremental.partial_fit(X_in, to(y), classes=to(np.arange(4)))
    for fitted in (model, incremental):
        assert isinstance(fitted.classes_, np.ndarray)  # labels live on the host
        np.testing.assert_array_equal(fitted.classes_, [0, 1, 2])
    np.testing.assert_array_equal(to_numpy(proba[0]), to_numpy(proba[1]))
    np.testing.assert_array_equal(to_numpy(incremental_proba[0]), to_numpy(incremental_proba[1]))


@pytest.mark.parametrize("target", ["numpy", "strict-default", "torch"])
@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_move_estimator_to_gives_an_independent_model_in_the_target_place(Estimator, target):
    from sklearn.utils._array_api import get_namespace_and_device, move_estimator_to

    to = _place(target)
    X, y = make_classification(80, 5, n_informative=3, random_state=0)
    device = xps.Device("device1")
    X_d = _strict(X, device)
    model = Estimator(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        model.fit(X_d, _strict(y if Estimator is LayeredClassifier else y * 1.0, device))
        expected = to_numpy(model.predict(X_d)), [to_numpy(w).copy() for w in model.coefs_]
        X_target = to(X)
        xp, _, target_device = get_namespace_and_device(X_target)
        moved = move_estimator_to(model, xp, target_device)
        prediction = moved.predict(X_target)
        assert get_namespace_and_device(prediction)[0] is xp
        for array in [*moved.coefs_, *moved.intercepts_, *moved.network_.get_weights()]:
            assert get_namespace_and_device(array)[0] is xp
            assert get_namespace_and_device(array)[2] == target_device
        # torch multiplies in its own order: equal to rounding.
        np.testing.assert_allclose(to_numpy(prediction), expected[0], rtol=1e-12, atol=1e-12)
        # Independent: training the copy leaves the original as it was.
        assert moved.network_ is not model.network_
        moved.set_params(warm_start=True, max_iter=2).fit(
            X_target, to(y if Estimator is LayeredClassifier else y * 1.0)
        )
    assert not np.array_equal(to_numpy(moved.coefs_[0]), expected[1][0])
    for array, before in zip(model.coefs_, expected[1], strict=True):
        _assert_on(array, device)
        np.testing.assert_array_equal(to_numpy(array), before)
    if Estimator is LayeredClassifier:
        assert isinstance(moved.classes_, np.ndarray)
    # Without array-API dispatch, a model brought home predicts numpy as any other.
    if target == "numpy":
        home = move_estimator_to(model, np, "cpu")
        np.testing.assert_array_equal(home.predict(X), expected[0])


def test_move_estimator_to_moves_a_network():
    from sklearn.utils._array_api import move_estimator_to

    X, Y = _data()
    device = xps.Device("device1")
    net = _network().fit(_strict(X, device), _strict(Y, device), loss="log_loss", epochs=2)
    home = move_estimator_to(net, np, "cpu")
    assert all(isinstance(w, np.ndarray) for w in home.get_weights())
    np.testing.assert_array_equal(home.predict(X), to_numpy(net.predict(_strict(X, device))))
    home.fit(X, Y, loss="log_loss", epochs=1, warm_start=True)  # trains on the host
    _assert_on(net.layers[0].weights, device)


@pytest.mark.parametrize("place", ["numpy", *LABEL_PLACES])
def test_zero_rows_predict_as_numpy_does(place):
    to = _place(place)
    net = Network(3, random_state=0).add_layer(4, "tanh").add_layer(2, "softmax")
    empty = to(np.zeros((0, 3)))
    prediction = net.predict(empty)
    assert tuple(prediction.shape) == (0, 2)
    assert get_backend(prediction).name == get_backend(empty).name
    if place.startswith("strict"):
        _assert_on(prediction, empty.device, "float64")
    # The estimators refuse 0 rows in every library, as on numpy (and as MLP).
    regressor, X = _fitted_regressor(to)
    classifier = LayeredClassifier((5,), max_iter=3, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        classifier.fit(to(X), (X[:, 0] > 0).astype(int))
        for model, methods in [
            (regressor, ["predict"]),
            (classifier, ["predict", "predict_proba", "predict_log_proba"]),
        ]:
            for method in methods:
                with pytest.raises(ValueError, match="Found array with 0 sample"):
                    getattr(model, method)(to(X[:0]))


@pytest.mark.parametrize("source", ["numpy", "torch"])
def test_a_model_brought_home_shares_no_memory_with_the_original(source):
    """numpy writes assigned weights in place: the moved copy must own its
    arrays, even where the move itself (DLPack from torch on the CPU, or no
    move at all) would hand back the original's memory."""
    from sklearn.utils._array_api import move_estimator_to

    to = _place(source)
    model, X = _fitted_regressor(to)
    before = [to_numpy(w).copy() for w in model.coefs_]
    home = move_estimator_to(model, np, "cpu")
    assert isinstance(home.coefs_[0], np.ndarray) and home.coefs_[0].flags.writeable
    home.coefs_[0] = np.zeros_like(before[0])
    home.network_.layers[1].weights[...] = 0
    for array, expected in zip(model.coefs_, before, strict=True):
        np.testing.assert_array_equal(to_numpy(array), expected)
