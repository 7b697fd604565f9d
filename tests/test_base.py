"""The estimators' shared base (and the network), split by role: what stays where it was."""

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import sknet
from sknet import LayeredClassifier, _base
from sknet._base import inputs as _estimator_inputs
from sknet._base import network as _estimator_network
from sknet._base import placement as _estimator_placement

ROOT = Path(sknet.__file__).parent


def _categorical_model():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"size": rng.normal(size=40), "colour": pd.Categorical(rng.choice(["r", "g"], 40))}
    )
    y = (X["size"].to_numpy() > 0).astype(int)
    model = LayeredClassifier((4,), solver="lbfgs", max_iter=30, random_state=0)
    return model.set_params(categorical_features="from_dtype").fit(X, y), X


def test_names_imported_from_base_are_still_there():
    # The estimators, the tests and older code import these from sknet._base.
    assert _base.HIDDEN_ACTIVATIONS is _estimator_network.HIDDEN_ACTIVATIONS
    assert "relu" in _base.HIDDEN_ACTIVATIONS and "softmax" not in _base.HIDDEN_ACTIVATIONS
    assert _base.REGRESSION_LOSSES == ["absolute_error", "huber", "poisson", "squared_error"]
    for name in ("where", "on_host", "same_place", "take_rows"):
        assert getattr(_base, name) is getattr(_estimator_placement, name)
    assert _base._numeric_block is _estimator_inputs._numeric_block


def test_pickle_naming_the_numeric_block_in_base_loads():
    # A categorical encoder holds _numeric_block by reference; pickles made
    # before the split name it sknet._base._numeric_block.
    model, X = _categorical_model()
    data = pickle.dumps(model, protocol=2)  # names written as "module\nname\n"
    new = b"csknet._base.inputs\n_numeric_block\n"
    assert data.count(new) == 1
    old = data.replace(new, b"csknet._base\n_numeric_block\n")
    loaded = pickle.loads(old)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_skops_file_naming_the_numeric_block_in_base_loads():
    sio = pytest.importorskip("skops.io")
    model, X = _categorical_model()
    files = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = files.read("schema.json").decode()
    new = '"__module__": "sknet._base.inputs"'
    assert new in schema  # the encoder's transformer, and its fitted clone
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as rewritten:
        for info in files.infolist():
            content = files.read(info)
            if info.filename == "schema.json":
                content = schema.replace(new, '"__module__": "sknet._base"').encode()
            rewritten.writestr(info, content)
    data = out.getvalue()
    untrusted = sio.get_untrusted_types(data=data)
    assert "sknet._base._numeric_block" in untrusted
    assert not any(name.startswith("sknet._base.inputs") for name in untrusted)
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "name",
    [
        "_base/__init__",
        "_base/compat",
        "_base/display",
        "_base/epoch_tasks",
        "_base/fitting",
        "_base/inputs",
        "_base/network",
        "_base/placement",
        "network",
        "_network_fit",
        "_network_predict",
        "_network_weights",
    ],
)
def test_split_modules_stay_small(name):
    # DESIGN.md: a module past about 500 lines is split by role.
    lines = (ROOT / f"{name}.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 500, f"sknet/{name}.py has {lines} lines"
