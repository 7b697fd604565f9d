"""The estimators' numeric_embedding and batch_norm options (issue 18).

Each option must default to MLP's behaviour, draw everything from
``random_state``, help where it should, and keep the estimators' surfaces
working: ``coefs_``, ``summary()``, warm starts, the model file, pickling,
ONNX export, categorical columns, sparse and float32 input, grid search.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from sknet import (
    BatchNorm,
    Dense,
    LayeredClassifier,
    LayeredRegressor,
    Network,
    PeriodicEmbedding,
)
from sknet.preprocessing import PiecewiseLinearEncoder

OPTIONS = [
    {"numeric_embedding": "periodic"},
    {"numeric_embedding": "piecewise_linear"},
    {"batch_norm": True},
    {"numeric_embedding": "periodic", "batch_norm": True},
]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _table(seed=0, n=800):
    """A triangle wave in the first feature (8 linear pieces, sharp kinks), plus a slope."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = 3 * np.abs((X[:, 0] * 4) % 2 - 1) + 0.5 * X[:, 1]
    return X, y


def _fit(options, X, y, Estimator=LayeredRegressor, **params):
    params = {"hidden_layer_sizes": (32, 32), "max_iter": 100, "random_state": 0, **params}
    return Estimator(**params, **options).fit(X, y)


# -- MLP's behaviour by default ---------------------------------------------------


def test_defaults_are_mlps_model_bit_for_bit():
    X, y = _table()
    given = _fit({"numeric_embedding": None, "batch_norm": False}, X, y, early_stopping=True)
    omitted = _fit({}, X, y, early_stopping=True)
    assert all(type(layer) is Dense for layer in omitted.network_.layers)
    assert len(omitted.network_.layers) == omitted.n_layers_ - 1
    assert np.array_equal(given.predict(X), omitted.predict(X))
    for a, b in zip(
        given.coefs_ + given.intercepts_, omitted.coefs_ + omitted.intercepts_, strict=False
    ):
        assert np.array_equal(a, b)
    assert given.loss_curve_ == omitted.loss_curve_


def test_the_options_are_validated():
    X, y = _table(n=50)
    with pytest.raises(InvalidParameterError, match="numeric_embedding"):
        LayeredRegressor(numeric_embedding="quantile").fit(X, y)
    with pytest.raises(InvalidParameterError, match="batch_norm"):
        LayeredClassifier(batch_norm="yes").fit(X, y > 1)


# -- reproducible from random_state -------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_same_seed_same_model_other_seed_other_model(options):
    X, y = _table(n=300)
    first = _fit(options, X, y, max_iter=5)
    again = _fit(options, X, y, max_iter=5)
    other = _fit(options, X, y, max_iter=5, random_state=1)
    assert np.array_equal(first.predict(X), again.predict(X))
    assert not np.allclose(first.predict(X), other.predict(X))


def test_the_embedding_draws_from_random_state():
    X, y = _table(n=100)
    a = LayeredRegressor(numeric_embedding="periodic", max_iter=1, random_state=3).fit(X, y)
    b = LayeredRegressor(numeric_embedding="periodic", max_iter=1, random_state=3).fit(X, y)
    c = LayeredRegressor(numeric_embedding="periodic", max_iter=1, random_state=4).fit(X, y)
    freq = [est.network_.layers[0].frequencies for est in (a, b, c)]
    assert np.array_equal(freq[0], freq[1])
    assert not np.allclose(freq[0], freq[2])


# -- where each option helps --------------------------------------------------------


@pytest.mark.parametrize(
    "options, margin",
    [({"numeric_embedding": "periodic"}, 0.6), ({"numeric_embedding": "piecewise_linear"}, 0.4)],
    ids=str,
)
def test_embeddings_learn_sharp_structure_mlp_misses(options, margin):
    X, y = _table()
    default = _fit({}, X[:500], y[:500]).score(X[500:], y[500:])
    embedded = _fit(options, X[:500], y[:500]).score(X[500:], y[500:])
    assert default < 0.3  # the plain network misses the kinks
    assert embedded > default + margin


def test_batch_norm_copes_with_unscaled_features():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(800, 3))
    y = 3 * X[:, 0] ** 2 + X[:, 1]
    X = X * [100.0, 1.0, 1.0] + [500.0, 0.0, 0.0]  # one feature far off scale
    default = _fit({}, X[:500], y[:500]).score(X[500:], y[500:])
    normalised = _fit({"batch_norm": True}, X[:500], y[:500]).score(X[500:], y[500:])
    assert normalised > default + 0.4


# -- the network each option builds -------------------------------------------------


def test_periodic_network_and_coefs():
    X, y = _table(n=100)
    reg = _fit({"numeric_embedding": "periodic", "batch_norm": True}, X, y, max_iter=2)
    types = [type(layer) for layer in reg.network_.layers]
    assert types == [PeriodicEmbedding, Dense, BatchNorm, Dense, BatchNorm, Dense]
    # coefs_ and intercepts_ list the Dense layers, as MLP's do; the first
    # maps the embedding (16 values per feature) to the first hidden layer.
    assert [c.shape for c in reg.coefs_] == [(48, 32), (32, 32), (32, 1)]
    assert [b.shape for b in reg.intercepts_] == [(32,), (32,), (1,)]
    assert reg.n_layers_ == 4
    reg.coefs_[1] = np.zeros((32, 32))
    assert not reg.network_.layers[3].weights.any()
    table = reg.summary()
    assert "PeriodicEmbedding" in table and table.count("BatchNorm") == 2


def test_batch_norm_follows_each_hidden_layer_and_keeps_running_statistics():
    X, y = _table(n=200)
    clf = _fit({"batch_norm": True}, X, y > 1.5, Estimator=LayeredClassifier, max_iter=3)
    norms = [layer for layer in clf.network_.layers if isinstance(layer, BatchNorm)]
    assert [n.n_inputs for n in norms] == [32, 32]
    assert not np.allclose(norms[0].running_mean, 0.0)
    # Predictions use the running statistics: a row's output is its own.
    proba = clf.predict_proba(X)
    assert np.allclose(clf.predict_proba(X[:1]), proba[:1], rtol=0, atol=1e-12)


def test_piecewise_linear_encodes_numeric_columns_inside():
    X, y = _table(n=400)
    reg = _fit({"numeric_embedding": "piecewise_linear"}, X, y, max_iter=2)
    encoder = reg._numeric_encoder
    assert isinstance(encoder, PiecewiseLinearEncoder)
    assert reg.n_features_in_ == 3
    assert reg.coefs_[0].shape == (int(encoder.n_bins_.sum()), 32)
    expected = reg.network_.predict(encoder.transform(X)).ravel()
    assert np.allclose(reg.predict(X), expected, rtol=0, atol=1e-12)


def test_piecewise_linear_leaves_one_hot_columns_alone():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.uniform(-1, 1, 300),
            "colour": pd.Categorical(rng.choice(["red", "blue", "green"], 300)),
            "z": rng.normal(size=300),
        }
    )
    y = (frame["x"] > 0) ^ (frame["colour"] == "red")
    clf = LayeredClassifier(
        categorical_features="from_dtype",
        numeric_embedding="piecewise_linear",
        max_iter=50,
        random_state=0,
    ).fit(frame, y)
    n_bins = clf._numeric_encoder.n_bins_
    assert len(n_bins) == 2  # x and z; colour is one-hot encoded, not binned
    assert clf.coefs_[0].shape[0] == n_bins.sum() + 3
    one_hot = pd.get_dummies(frame["colour"]).to_numpy(dtype=float)  # blue, green, red
    inputs = np.hstack([clf._numeric_encoder.transform(frame[["x", "z"]].to_numpy()), one_hot])
    expected = clf.network_.predict(inputs).ravel()
    assert np.allclose(clf.predict_proba(frame)[:, 1], expected, rtol=0, atol=1e-12)


def test_piecewise_linear_with_only_categorical_columns_encodes_nothing():
    frame = pd.DataFrame({"c": pd.Categorical(list("abcab" * 20))})
    clf = LayeredClassifier(
        categorical_features="from_dtype", numeric_embedding="piecewise_linear", max_iter=2
    ).fit(frame, np.arange(100) % 2)
    assert clf._numeric_encoder is None
    assert clf.coefs_[0].shape[0] == 3


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_sparse_input_predicts_as_dense(options):
    X, y = _table(n=150)
    X[X < 0] = 0.0
    dense = _fit(options, X, y, max_iter=3)
    from_sparse = _fit(options, sparse.csr_matrix(X), y, max_iter=3)
    assert np.allclose(dense.predict(X), from_sparse.predict(sparse.csr_matrix(X)), atol=1e-10)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_float32_stays_float32(options):
    X, y = _table(n=150)
    reg = _fit(options, X.astype(np.float32), y, max_iter=2)
    for layer in reg.network_.layers:
        for array in (*layer.get_parameters(), *layer.get_state()):
            assert array.dtype == np.float32
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


# -- warm starts, persistence, search ------------------------------------------------


def test_warm_start_refuses_a_changed_option():
    X, y = _table(n=100)
    reg = LayeredRegressor(numeric_embedding="periodic", warm_start=True, max_iter=2)
    reg.fit(X, y)
    reg.fit(X, y)  # the same options continue
    reg.set_params(numeric_embedding=None)
    with pytest.raises(ValueError, match="numeric_embedding=None.*periodic"):
        reg.fit(X, y)
    reg = LayeredRegressor(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="batch_norm"):
        reg.set_params(batch_norm=True).partial_fit(X, y)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_model_file_and_pickle_round_trip(options, tmp_path):
    X, y = _table(n=150)
    reg = _fit(options, X, y, max_iter=3)
    path = tmp_path / "model.npz"
    reg.network_.save(path)
    loaded = Network.load(path)
    inputs = reg._numeric_encoder.transform(X) if reg._numeric_encoder is not None else X
    assert np.array_equal(loaded.predict(inputs), reg.network_.predict(inputs))
    again = pickle.loads(pickle.dumps(reg))
    assert np.array_equal(again.predict(X), reg.predict(X))


def test_grid_search_over_the_options():
    X, y = _table(n=200)
    search = GridSearchCV(
        LayeredRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0),
        {"numeric_embedding": [None, "periodic", "piecewise_linear"], "batch_norm": [False, True]},
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 6
    assert search.best_params_["numeric_embedding"] is not None


# -- ONNX --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options", [{"numeric_embedding": "periodic", "batch_norm": True}, {"batch_norm": True}]
)
def test_onnx_export_matches_predict(options, dtype):
    onnxruntime = pytest.importorskip("onnxruntime")
    to_onnx = pytest.importorskip("skl2onnx").to_onnx
    import sknet.onnx  # noqa: F401 - registers the converters

    X, y = _table(n=200)
    X = X.astype(dtype)
    clf = _fit(options, X, y > 1.5, Estimator=LayeredClassifier, max_iter=5)
    onx = to_onnx(clf, X[:1], options={"zipmap": False})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, proba = session.run(None, {"X": X})
    assert np.array_equal(labels, clf.predict(X))
    atol = 1e-5 if dtype == np.float32 else 1e-10
    assert np.allclose(proba, clf.predict_proba(X), rtol=0, atol=atol)


def test_onnx_refuses_the_internal_encoder_clearly():
    pytest.importorskip("onnxruntime")
    to_onnx = pytest.importorskip("skl2onnx").to_onnx
    import sknet.onnx  # noqa: F401 - registers the converters

    X, y = _table(n=100)
    reg = _fit({"numeric_embedding": "piecewise_linear"}, X, y, max_iter=2)
    with pytest.raises(ValueError, match="piecewise_linear.*PiecewiseLinearEncoder"):
        to_onnx(reg, X[:1])


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_skops_loads_the_new_layers_and_encoder(options):
    sio = pytest.importorskip("skops.io")
    X, y = _table(n=150)
    clf = _fit(options, X, y > 1.5, Estimator=LayeredClassifier, max_iter=3)
    data = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted and all(name.startswith("sknet.") for name in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))


# -- where the data live ----------------------------------------------------------


@pytest.mark.parametrize("device", [None, "device1"])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_options_train_where_the_data_live(options, device):
    xps = pytest.importorskip("array_api_strict")
    import sklearn

    from sknet.backends import to_numpy

    device = None if device is None else xps.Device(device)
    X, y = _table(n=160)
    reference = _fit(options, X, y, max_iter=5)
    X_x = xps.asarray(X, device=device)
    y_x = xps.asarray(y, device=device)
    with sklearn.config_context(array_api_dispatch=True):
        model = _fit(options, X_x, y_x, max_iter=5)
        prediction = model.predict(X_x)
    assert prediction.device == X_x.device
    for layer in model.network_.layers:
        for array in (*layer.get_parameters(), *layer.get_state()):
            assert type(array).__module__.startswith("array_api_strict")
    assert np.allclose(to_numpy(prediction), reference.predict(X), rtol=0, atol=1e-8)
