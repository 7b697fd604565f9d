"""numba's backend (sknet-layers[fast]) computes what the numpy backend computes.

Every activation, loss and optimizer, trained for 10 epochs on both
backends from the same ``random_state``: predictions agree within 1e-9
(relative, float64) and 1e-4 (float32).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from sknet import SGD, Network, backends  # noqa: E402
from sknet.backends import numba as _numba_backend  # noqa: E402
from sknet.backends.numba import NumbaBackend  # noqa: E402

HIDDEN = [
    "identity",
    "sigmoid",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
    "gelu",
]
OUTPUTS = [
    ("squared_error", "identity"),
    ("absolute_error", "identity"),
    ("huber", "tanh"),
    ("poisson", "exp"),
    ("log_loss", "softmax"),
    ("binary_log_loss", "sigmoid"),
]
OPTIMIZERS = {
    "adam": lambda: "adam",
    "sgd-nesterov": lambda: SGD(learning_rate=0.01),
    "sgd-plain": lambda: SGD(learning_rate=0.01, nesterov=False),
    "lbfgs": lambda: "lbfgs",
}
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


def _targets(loss, n, rng):
    if loss == "log_loss":
        return np.eye(3)[rng.integers(0, 3, n)]
    if loss == "binary_log_loss":
        return rng.integers(0, 2, size=(n, 3)).astype(float)
    if loss == "poisson":
        return rng.poisson(1.5, size=(n, 3)).astype(float)
    return rng.normal(size=(n, 3))


def _fit(hidden, output, loss, optimizer, dtype, dropout=0.0):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 5)).astype(dtype)
    Y = _targets(loss, 96, rng).astype(dtype)
    net = Network(5, random_state=0, dtype=dtype)
    net.add_layer(16, hidden, dropout=dropout).add_layer(8, "relu").add_layer(3, output)
    net.fit(
        X, Y, loss=loss, optimizer=OPTIMIZERS[optimizer](), epochs=10, batch_size=16, alpha=1e-3
    )
    return net, X


def _compare(hidden, output, loss, optimizer, dtype, monkeypatch, dropout=0.0):
    reference, X = _fit(hidden, output, loss, optimizer, dtype, dropout)
    used = []
    original = NumbaBackend.dense_forward

    def recording(self, *args):
        used.append(1)
        return original(self, *args)

    monkeypatch.setattr(NumbaBackend, "dense_forward", recording)
    monkeypatch.setattr(backends, "_NUMBA", (NumbaBackend(), 0))
    fast, _ = _fit(hidden, output, loss, optimizer, dtype, dropout)
    monkeypatch.undo()
    assert used, "numba's backend was not used"
    expected = reference.predict(X)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(
        fast.predict(X), expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation(hidden, dtype, monkeypatch):
    _compare(hidden, "softmax", "log_loss", "adam", dtype, monkeypatch, dropout=0.1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss, output", OUTPUTS)
def test_every_loss(loss, output, dtype, monkeypatch):
    _compare("tanh", output, loss, "adam", dtype, monkeypatch)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer(optimizer, dtype, monkeypatch):
    _compare("relu", "identity", "squared_error", optimizer, dtype, monkeypatch)


def test_small_steps_stay_on_numpy():
    assert backends.get_backend(np.zeros((2, 2)), step_work=1000) is backends.NUMPY
    large = backends.get_backend(np.zeros((2, 2)), step_work=_numba_backend.MIN_STEP_WORK)
    assert isinstance(large, NumbaBackend)


def test_sparse_input_on_the_numba_path(monkeypatch):
    # numba's backend is numpy's family: sparse X keeps numpy's data checks.
    from scipy import sparse

    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 5))
    X[np.abs(X) < 0.7] = 0.0
    Y = rng.normal(size=(80, 1))

    def fit():
        net = Network(5, random_state=0).add_layer(8, "relu").add_layer(1, "identity")
        return net.fit(sparse.csr_matrix(X), Y, epochs=5, batch_size=16)

    reference = fit()
    monkeypatch.setattr(backends, "_NUMBA", (NumbaBackend(), 0))
    fast = fit()
    np.testing.assert_allclose(fast.predict(X), reference.predict(X), rtol=1e-9, atol=1e-12)


# -- numba is loaded only when a fit will use it (issue 17) -----------------------

ROOT = Path(__file__).resolve().parent.parent


def _run(code, timeout=300):
    """Run ``code`` in a fresh interpreter that imports this checkout's sknet."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.xdist_group("fresh_sknet_import")  # one interpreter for the session's checks
def test_import_and_small_fits_do_not_load_numba(fresh_sknet_import):
    lines = fresh_sknet_import
    assert lines["file"][0].startswith(str(ROOT)), lines["file"]
    # Neither numba nor llvmlite, its compiler, is loaded by importing sknet
    # (and sknet.plotting); nor by small fits of both estimators and a Network.
    assert lines["import"] == ["False", "False"]
    assert lines["small"] == ["False"]
    # A step large enough for the kernels does load them.
    assert lines["large"] == ["numba", "True"]


@pytest.mark.xdist_group("without_numba")  # one interpreter for the session's checks
def test_engine_rules_hold_with_numba_hidden(without_numba):
    # Where numba is missing, the rules still check every engine source (the
    # numba modules included) and import only what can be imported; the
    # engine's modules then import no scikit-learn either.
    assert without_numba["@engine_sklearn"] == ""
    assert without_numba["@engine_estimators"] == "False"
    assert without_numba["@backend"] != "numba"
    out = without_numba["out"]
    assert without_numba["@rules_exit"] == "0", out[-2000:]
    assert " passed" in out and "failed" not in out and "skipped" not in out, out[-2000:]
