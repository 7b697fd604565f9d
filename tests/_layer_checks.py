"""Checks shared by the tests of the layer types (embeddings, normalisation).

Each returns the number it measured, so that a test asserts on it and a
failure shows it.
"""

import io

import numpy as np
import pytest

from sknet import LayeredRegressor, Network
from sknet.backends import to_numpy
from sknet.losses import get_loss
from sknet.training import Trainer

EPS = 1e-6


def relative_error(analytic, numeric):
    """``max |analytic - numeric| / max |numeric|``."""
    return float(np.max(np.abs(analytic - numeric)) / np.max(np.abs(numeric)))


def network_gradient_error(net, X, y, sample_weight, alpha=0.0, loss="squared_error"):
    """Relative error of the trainer's flat gradient (float64, weighted mean loss plus
    penalty) against central finite differences of its objective."""
    trainer = Trainer(net, get_loss(loss), alpha, np.dtype("float64"), None, None, [], 0)
    trainer._allocate(len(X))
    try:
        trainer.forward_backward(X, y, sample_weight)
        analytic = trainer.grad.copy()
        params = trainer.params
        numeric = np.empty_like(analytic)
        for k in range(params.size):
            saved = params[k]
            params[k] = saved + EPS
            up = trainer.forward_backward(X, y, sample_weight)[0]
            params[k] = saved - EPS
            down = trainer.forward_backward(X, y, sample_weight)[0]
            params[k] = saved
            numeric[k] = (up - down) / (2 * EPS)
    finally:
        trainer.release()
    return relative_error(analytic, numeric)


def input_gradient_error(layer, x, seed=12345):
    """Relative error of ``backward``'s input gradient for the objective
    ``sum(G * forward_train(x))`` (G random), against finite differences."""
    G = np.random.default_rng(seed).normal(size=(x.shape[0], layer.units))

    def objective(x):
        return float(np.sum(G * layer.forward_train(x, None)))

    layer.forward_train(x, None)
    slots = [None] * len(layer.parameter_names)
    _, analytic = layer.backward(x, G.copy(), slots)
    numeric = np.empty_like(x)
    for index in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[index] += EPS
        up = objective(shifted)
        shifted[index] -= 2 * EPS
        numeric[index] = (up - objective(shifted)) / (2 * EPS)
    return relative_error(analytic, numeric)


def place(name):
    """``(to, device)``: a function that sends a numpy array to ``name`` (an
    array_api_strict device, or ``"torch-cpu"``), and that device."""
    if name == "torch-cpu":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)  # tiny arrays: threads only add contention
        device = torch.device("cpu")
        return (lambda a: torch.asarray(a, device=device)), device
    xps = pytest.importorskip("array_api_strict")
    device = xps.Device(name)
    return (lambda a: xps.asarray(a, device=device)), device


def device_parity(make_network, X, y, sample_weight, device_name, **fit):
    """Fit the same network on numpy and on ``device_name`` (see :func:`place`);
    check every array stayed there; return the largest relative difference of
    the predictions and of the layers' arrays (parameters and state)."""
    to, device = place(device_name)
    reference = make_network().fit(X, y, sample_weight=sample_weight, **fit)
    sw = None if sample_weight is None else to(sample_weight)
    net = make_network().fit(to(X), to(y), sample_weight=sw, **fit)
    arrays = [a for layer in net.layers for a in (*layer.get_parameters(), *layer.get_state())]
    assert all(a.device == device for a in arrays)
    prediction = net.predict(to(X))
    assert prediction.device == device
    pairs = [(to_numpy(prediction), reference.predict(X))]
    pairs += list(zip(map(to_numpy, arrays), reference.get_weights(), strict=True))
    return max(relative_error(a, b) if np.any(b) else float(np.max(np.abs(a))) for a, b in pairs)


def reload(net):
    """The network saved to a model file and loaded again."""
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    return Network.load(buffer)


def onnx_output(net, X):
    """What onnxruntime computes for ``X`` with ``net`` exported inside a regressor."""
    pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sknet.onnx  # noqa: F401 (registers the converters)

    reg = LayeredRegressor(hidden_layer_sizes=(2,), solver="lbfgs", max_iter=5, random_state=0)
    target = np.zeros((X.shape[0], net.n_outputs)) + np.arange(X.shape[0])[:, None]
    reg.fit(X, target.ravel() if net.n_outputs == 1 else target)
    reg.network_ = net
    model = to_onnx(reg, X[:1])
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"X": X})[0]
