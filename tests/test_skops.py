"""skops' secure format: a fitted model asks to trust sknet's own types and nothing else."""

import importlib.util
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_linnerud, load_wine
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, scale

from sknet import (
    LayeredClassifier,
    LayeredRegressor,
    Network,
    SeedEnsembleRegressor,
    make_tabular_classifier,
)

# skops is in the test extra; without it, this file skips. It is imported by
# the fixture below, in the worker that runs these tests (the "torch" xdist
# group, as skops.io imports torch: see tests/conftest.py), not at
# collection, which every worker runs.
if importlib.util.find_spec("skops") is None:
    pytest.skip("skops is not installed", allow_module_level=True)
sio = None  # skops.io, once _skops has run


@pytest.fixture(autouse=True)
def _skops():
    global sio
    sio = pytest.importorskip("skops.io")


def _wine():
    X, y = load_wine(return_X_y=True)
    return scale(X), y


def _cases():
    X, y = _wine()
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb, yb = scale(Xb).astype(np.float32), np.array(["benign", "malignant"])[yb]
    Xr, yr = load_diabetes(return_X_y=True)
    Xl, Yl = load_linnerud(return_X_y=True)
    Y_multilabel = np.column_stack([y == 0, y == 1]).astype(int)
    common = {"max_iter": 15, "random_state": 0}
    return {
        "adam": (LayeredClassifier((8,), **common), X, y),
        "lbfgs, float32, string labels": (
            LayeredClassifier((8, 4), activation=["gelu", "elu"], solver="lbfgs", **common),
            Xb,
            yb,
        ),
        "sgd, early stopping, class weights": (
            LayeredClassifier(
                (8,), solver="sgd", early_stopping=True, class_weight="balanced", **common
            ),
            X,
            y,
        ),
        "multilabel, dropout": (LayeredClassifier((8,), dropout=0.2, **common), X, Y_multilabel),
        "poisson": (
            LayeredRegressor("poisson", (8,), activation="softplus", **common),
            scale(Xr),
            yr,
        ),
        "multi-output lbfgs": (
            LayeredRegressor(hidden_layer_sizes=(8,), solver="lbfgs", **common),
            scale(Xl),
            Yl,
        ),
        "pipeline": (make_pipeline(StandardScaler(), LayeredClassifier((8,), **common)), X, y),
        "seed ensemble": (
            SeedEnsembleRegressor(
                LayeredRegressor(hidden_layer_sizes=(8,), max_iter=15),
                n_estimators=2,
                random_state=0,
            ),
            scale(Xr),
            yr,
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("case", CASES)
def test_only_sknet_types_are_untrusted_and_loading_predicts_the_same(case):
    model, X, y = CASES[case]
    model.fit(X, y)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted and all(name.startswith("sknet.") for name in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_tabular_recipe_round_trips():
    # scikit-learn's SimpleImputer (the recipe imputes numeric columns) keeps
    # the dtype it was fitted on, a numpy dtype that skops does not trust with
    # numpy 2; every other untrusted type is sknet's own.
    frame = pytest.importorskip("pandas").DataFrame(
        {"x": [0.1, None, 0.5, 2.0, 1.5, -1.0] * 10, "c": ["a", "b", None] * 20}
    )
    y = np.array([0, 1] * 30)
    recipe = make_tabular_classifier(
        n_networks=2, hidden_layer_sizes=(8,), max_iter=5, random_state=0
    ).fit(frame, y)
    data = sio.dumps(recipe)
    untrusted = sio.get_untrusted_types(data=data)
    assert "sknet.ensemble.SeedEnsembleClassifier" in untrusted
    assert all(name.startswith("sknet.") for name in set(untrusted) - {"numpy.dtype"}), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(frame), recipe.predict_proba(frame))


def test_untrusted_list_of_a_classifier():
    X, y = _wine()
    clf = LayeredClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    data = sio.dumps(clf)
    assert sio.get_untrusted_types(data=data) == [
        "sknet.activations.ReLU",
        "sknet.activations.Softmax",
        "sknet.estimators.LayeredClassifier",
        "sknet.layers.Dense",
        "sknet.network.Network",
        "sknet.optimizers.Adam",
    ]
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match="sknet.network.Network"):
        sio.loads(data)


def test_training_continues_identically_after_loading():
    # The random generator and the optimizer state survive the file.
    X, y = _wine()
    clf = LayeredClassifier((8,), solver="sgd", dropout=0.1, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    data = sio.dumps(clf)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    for model in (clf, loaded):
        model.partial_fit(X, y)
    for name in ("coefs_", "intercepts_"):
        for original, reloaded in zip(getattr(clf, name), getattr(loaded, name), strict=True):
            np.testing.assert_array_equal(reloaded, original)


def test_network_alone():
    X, y = _wine()
    net = Network(13, random_state=0, dtype="float32").add_layer(8, "tanh").add_layer(3, "softmax")
    net.fit(X, np.eye(3)[y], loss="log_loss", epochs=3)
    data = sio.dumps(net)
    untrusted = sio.get_untrusted_types(data=data)
    assert all(name.startswith("sknet.") for name in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


@pytest.mark.parametrize("dtype", [None, "float32", np.float64])
def test_network_dtype_is_a_read_only_numpy_dtype(dtype):
    net = Network(2, dtype=dtype)
    assert net.dtype == (None if dtype is None else np.dtype(dtype))
    assert net.dtype is None or isinstance(net.dtype, np.dtype)
    assert pickle.loads(pickle.dumps(net)).dtype == net.dtype
    with pytest.raises(AttributeError):
        net.dtype = np.float32


def test_lbfgs_result_is_kept_as_plain_data():
    X, y = _wine()
    clf = LayeredClassifier((8,), solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
    result = clf.network_.optimizer_.result_
    for loaded in (
        pickle.loads(pickle.dumps(clf)),
        sio.loads(sio.dumps(clf), trusted=sio.get_untrusted_types(data=sio.dumps(clf))),
    ):
        kept = loaded.network_.optimizer_.result_
        assert kept.fun == result.fun and kept.status == result.status
        assert kept.message == result.message and kept.nit == result.nit
        np.testing.assert_array_equal(kept.x, result.x)
        # The inverse-Hessian operator (scipy object, ~20 parameter vectors) is not stored.
        assert "hess_inv" in result and "hess_inv" not in kept
