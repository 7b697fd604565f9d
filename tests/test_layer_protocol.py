"""The layer protocol: a layer type defined outside sknet trains, saves, loads and predicts.

``Affine`` below is written against the public protocol alone (``sknet.Layer``,
``Network.add``, ``sknet.layers.LAYERS``): one trained parameter that is
penalised (``gain``), one that is not (``shift``), and non-trainable state
(``center``). Its arithmetic uses ``backend.xp`` only, so the same class runs
on numpy and on array_api_strict's two devices.
"""

import io
import json

import numpy as np
import pytest

from sknet import Dense, Layer, LayeredRegressor, Network
from sknet.backends import NUMPY, to_numpy
from sknet.layers import LAYERS
from sknet.losses import get_loss
from sknet.training import Trainer


class Affine(Layer):
    """``(x - center) * gain + shift``, elementwise; ``center`` is fixed."""

    parameter_names = ("gain", "shift")
    penalized = (True, False)
    state_names = ("center",)

    def __init__(self, n_inputs, center=None):
        self.n_inputs = self.units = n_inputs
        self.gain = np.ones(n_inputs)
        self.shift = np.zeros(n_inputs)
        self.center = np.zeros(n_inputs) if center is None else np.asarray(center, dtype=float)

    def predict(self, x, backend=NUMPY):
        return (x - self.center) * self.gain + self.shift

    def backward(
        self,
        x,
        grad_output,
        slots,
        backend=NUMPY,
        ones=None,
        grad_input=None,
        input_gradient=True,
        preactivation=False,
    ):
        xp = backend.xp
        # New arrays, not the slots: the store copies them where it needs them.
        gradients = [
            xp.sum((x - self.center) * grad_output, axis=0),
            xp.sum(grad_output, axis=0),
        ]
        return gradients, grad_output * self.gain if input_gradient else None

    def get_config(self):
        return {}

    def to_onnx(self, graph, x):
        centered = graph.node("Sub", [x, graph.constant(to_numpy(self.center), "center")])
        scaled = graph.node("Mul", [centered, graph.constant(to_numpy(self.gain), "gain")])
        return graph.node("Add", [scaled, graph.constant(to_numpy(self.shift), "shift")])


class Scale(Layer):
    """A fixed elementwise factor, with no record and no ONNX piece."""

    def __init__(self, n_inputs, factor=2.0):
        self.n_inputs = self.units = n_inputs
        self.factor = factor

    def predict(self, x, backend=NUMPY):
        return x * self.factor

    def backward(
        self,
        x,
        grad_output,
        slots,
        backend=NUMPY,
        ones=None,
        grad_input=None,
        input_gradient=True,
        preactivation=False,
    ):
        return [], grad_output * self.factor if input_gradient else None


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(LAYERS, "affine", Affine)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=3.0, size=(n, 3))
    y = np.tanh(X[:, :1] - 3.0) - 0.5 * (X[:, 1:2] - 3.0) + 0.1 * rng.normal(size=(n, 1))
    return X, y


def _network(seed=0):
    net = Network(3, random_state=seed).add(Affine(3, center=[3.0, 3.0, 3.0]))
    return net.add_layer(8, "tanh").add_layer(1, "identity")


def _fit(net, X, y, **kwargs):
    settings = dict(loss="squared_error", optimizer="adam", epochs=30, batch_size=16, alpha=1e-3)
    return net.fit(X, y, **{**settings, **kwargs})


def test_gradient_of_an_external_layer_reaches_the_flat_gradient():
    """The store takes the gradients a layer returns as new arrays (not written into its slots)."""
    X, y = _data(20)
    net = _network()
    net.layers[0].gain = np.array([0.5, 1.5, -1.0])
    net.layers[0].shift = np.array([0.1, -0.2, 0.3])
    trainer = Trainer(net, get_loss("squared_error"), 0.01, np.dtype("float64"), None, None, [], 0)
    trainer._allocate(len(X))
    trainer.forward_backward(X, y, None)
    analytic = trainer.grad.copy()
    params = trainer.params
    numeric = np.empty_like(analytic)
    eps = 1e-6
    for k in range(params.size):
        saved = params[k]
        params[k] = saved + eps
        up = trainer.forward_backward(X, y, None)[0]
        params[k] = saved - eps
        down = trainer.forward_backward(X, y, None)[0]
        params[k] = saved
        numeric[k] = (up - down) / (2 * eps)
    trainer.release()
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_penalised_parameters_come_first_and_the_optimizer_is_told():
    X, y = _data()
    seen = []

    class Told:
        """Plain SGD that records what the store tells it."""

        name, full_batch = "told", False

        def set_penalized(self, index):
            seen.append(index)

        def reset(self, size, dtype, *device):
            pass

        def is_ready(self, size, dtype, *device):
            return True

        def step(self, params, grad):
            params -= 0.01 * grad

        def end_epoch(self, samples_seen):
            pass

    net = _network()
    _fit(net, X, y, optimizer=Told(), epochs=2)
    # gain (3) and the two weight matrices (3 * 8 + 8 * 1) are penalised; the
    # shift and the biases are not.
    assert seen == [slice(0, 3 + 24 + 8)]


def test_penalty_applies_to_the_penalised_parameter_only():
    """alpha shrinks the gain (penalised) and leaves the shift alone."""
    X, y = _data()
    net = _network()
    trainer = Trainer(net, get_loss("squared_error"), 0.5, np.dtype("float64"), None, None, [], 0)
    trainer._allocate(len(X))
    plain = Trainer(net, get_loss("squared_error"), 0.0, np.dtype("float64"), None, None, [], 0)
    plain._allocate(len(X))
    trainer.forward_backward(X, y, None)
    with_penalty = trainer.grad.copy()
    plain.forward_backward(X, y, None)
    difference = with_penalty - plain.grad
    # d/dgain of alpha / (2 n) * ||gain||^2 = alpha / n * gain (gain is ones);
    # the slice of the shift (after all penalised values) gets nothing.
    np.testing.assert_allclose(difference[:3], 0.5 / len(X) * np.ones(3))
    n_penalized = 3 + 24 + 8
    np.testing.assert_array_equal(difference[n_penalized : n_penalized + 3], 0.0)


def test_external_layer_trains_saves_loads_and_predicts_on_numpy(registered, tmp_path):
    X, y = _data()
    net = _network()
    before = net.loss(X, y, "squared_error")
    _fit(net, X, y)
    layer = net.layers[0]
    assert net.history_["loss"][-1] < 0.5 * before
    assert not np.array_equal(layer.gain, np.ones(3))  # trained
    np.testing.assert_array_equal(layer.center, 3.0)  # state: never trained
    assert [w.shape for w in net.get_weights()[:3]] == [(3,), (3,), (3,)]
    path = tmp_path / "affine.npz"
    net.save(path)
    loaded = Network.load(path)
    assert type(loaded.layers[0]) is Affine and type(loaded.layers[1]) is Dense
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    for a, b in zip(loaded.get_weights(), net.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The loaded network trains on from where the saved one stopped.
    _fit(loaded, X, y, epochs=2)
    _fit(net, X, y, epochs=2)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


PLACES = ["strict-default", "strict-device1", "torch-cpu"]


def _place(name):
    """``(to, device_of)``: move a numpy array there; the device an array is on."""
    if name.startswith("strict"):
        xps = pytest.importorskip("array_api_strict")
        device = xps.Device("device1" if name.endswith("device1") else "CPU_DEVICE")
        return (lambda a: xps.asarray(a, device=device)), device
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # tiny arrays: threads only add contention
    device = torch.device("cpu")
    return (lambda a: torch.asarray(a, device=device)), device


@pytest.mark.parametrize("place", PLACES)
def test_external_layer_on_array_api_devices_matches_numpy(registered, place):
    to, device = _place(place)
    X, y = _data()
    reference = _fit(_network(), X, y).predict(X)
    net = _network()
    X_on = to(X)
    _fit(net, X_on, to(y))
    for array in (*net.layers[0].get_parameters(), *net.layers[0].get_state()):
        assert array.device == device
    prediction = net.predict(X_on)
    assert prediction.device == device
    np.testing.assert_allclose(to_numpy(prediction), reference, rtol=1e-9, atol=1e-12)
    # Saved from the device, loaded on the host: the same model.
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    loaded = Network.load(buffer)
    np.testing.assert_allclose(loaded.predict(X), to_numpy(prediction), rtol=1e-12)


def test_a_layer_without_parameters_trains_within_a_network():
    """A fixed scale of 2 before a Dense layer: the Dense layer learns half the weights."""
    X, y = _data()
    X = X - 3.0
    scaled = Network(3, random_state=0).add(Scale(3)).add_layer(1, "identity")
    plain = Network(3, random_state=0).add_layer(1, "identity")
    for net in (scaled, plain):
        net.fit(X, y, loss="squared_error", optimizer="lbfgs", epochs=200)
    np.testing.assert_allclose(2 * scaled.layers[1].weights, plain.layers[0].weights, rtol=1e-5)
    np.testing.assert_allclose(scaled.predict(X), plain.predict(X), atol=1e-4)


def test_unregistered_or_unrecorded_layers_are_refused_clearly():
    net = Network(3, random_state=0).add(Scale(3)).add_layer(1, "identity")
    with pytest.raises(ValueError, match=r"Cannot save layer 0, a Scale: its class is not regis"):
        net.save(io.BytesIO())
    with pytest.raises(ValueError, match="Cannot save layer 0: Scale defines no get_config"):
        LAYERS["scale"] = Scale
        try:
            net.save(io.BytesIO())
        finally:
            del LAYERS["scale"]


def test_loading_an_unregistered_layer_type_is_refused_clearly(registered, monkeypatch):
    buffer = io.BytesIO()
    _network().save(buffer)
    monkeypatch.delitem(LAYERS, "affine")
    message = "layer 0 is of the layer type 'affine', which is not registered in sknet.layers"
    with pytest.raises(ValueError, match=message):
        Network.load(io.BytesIO(buffer.getvalue()))


def test_add_checks_the_protocol_and_the_widths():
    net = Network(3)
    with pytest.raises(TypeError, match="is not a layer: it has no n_inputs, units"):
        net.add(object())
    with pytest.raises(ValueError, match="The layer takes 4 inputs, but the network has 3"):
        net.add(Affine(4))
    lopsided = Affine(3)
    lopsided.penalized = (True,)
    with pytest.raises(ValueError, match=r"one entry per parameter \(got 2, 1 and 2\)"):
        net.add(lopsided)
    assert net.layers == []
    net.add(Affine(3)).add_layer(2, "tanh")
    message = "The layer takes 3 inputs, but the previous layer gives 2"
    with pytest.raises(ValueError, match=message):
        net.add(Affine(3))


def test_a_float32_network_makes_an_added_layer_float32():
    X, y = _data()
    net = Network(3, random_state=0).add_layer(4, "tanh")
    net.fit(X.astype(np.float32), np.repeat(y, 4, axis=1).astype(np.float32), epochs=1)
    net.add(Affine(4)).add_layer(1, "identity")
    assert {a.dtype for a in net.get_weights()} == {np.dtype(np.float32)}


def test_onnx_export_goes_through_the_layer_pieces():
    """An estimator's network holding an external layer converts through its to_onnx."""
    pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sknet.onnx  # noqa: F401 (registers the converters)

    X, y = _data()
    X = X.astype(np.float32)
    reg = LayeredRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=50, random_state=0)
    reg = reg.fit(X, y.ravel())
    layer = Affine(3, center=[3.0, 3.0, 3.0])
    layer.gain = np.array([0.5, 2.0, -1.0])
    reg.network_.layers.insert(0, layer)
    model = to_onnx(reg, X[:1])
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (output,) = session.run(None, {"X": X})
    np.testing.assert_allclose(output.ravel(), reg.predict(X), rtol=1e-4, atol=1e-5)
    reg.network_.layers[0] = Scale(3)
    with pytest.raises(ValueError, match="layer 1 is a Scale, which has no ONNX translation"):
        to_onnx(reg, X[:1])


def test_a_moved_network_moves_an_external_layers_parameters_and_state():
    """``move_estimator_to``'s hook converts every array of the protocol, state included."""
    xps = pytest.importorskip("array_api_strict")
    device = xps.Device("device1")
    X, y = _data()
    net = _fit(_network(), X, y, epochs=3)
    moved = net.__sklearn_array_api_convert__(lambda a: xps.asarray(a, device=device))
    layer = moved.layers[0]
    assert all(a.device == device for a in (*layer.get_parameters(), *layer.get_state()))
    assert isinstance(net.layers[0].center, np.ndarray)  # the original stays home
    prediction = moved.predict(xps.asarray(X, device=device))
    np.testing.assert_allclose(to_numpy(prediction), net.predict(X), rtol=1e-12)


@pytest.mark.parametrize("place", ["strict-device1", "torch-cpu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_layer_added_after_a_fit_on_another_library_takes_the_networks_dtype(place, dtype):
    """The dtype of parameters living in torch or array_api_strict is read as numpy's.

    ``add_layer`` after such a fit used to pass torch's dtype to numpy (TypeError).
    """
    to, device = _place(place)
    X, y = _data(30)
    X, Y = X.astype(dtype), np.repeat(y, 4, axis=1).astype(dtype)
    net = Network(3, random_state=0).add_layer(4, "tanh")
    net.fit(to(X), to(Y), epochs=1)
    net.add(Affine(4)).add_layer(1, "identity")
    assert {a.dtype for a in net.layers[1].get_parameters()} == {np.dtype(dtype)}
    assert net.layers[2].weights.dtype == np.dtype(dtype)
    prediction = net.predict(to(X))
    assert prediction.device == device and prediction.shape == (30, 1)


def test_a_damaged_record_of_an_external_layer_is_a_value_error(registered):
    buffer = io.BytesIO()
    _network().save(buffer)
    arrays = dict(np.load(io.BytesIO(buffer.getvalue())))
    record = json.loads(str(arrays["architecture"]))
    assert record["version"] == 2 and record["layers"][0] == {"type": "affine", "config": {}}
    assert sorted(arrays) == [
        "architecture", "bias_1", "bias_2", "center_0", "gain_0", "shift_0", "weights_1",
        "weights_2",
    ]  # fmt: skip

    def load(record=record, **changes):
        edited = {**arrays, **changes, "architecture": np.array(json.dumps(record))}
        out = io.BytesIO()
        np.savez(out, **edited)
        out.seek(0)
        return Network.load(out)

    bad = json.loads(json.dumps(record))
    bad["layers"][0]["config"] = {"bogus": 1}
    with pytest.raises(ValueError, match=r"layer 0 \('affine'\) cannot be built from its config"):
        load(bad)
    with pytest.raises(ValueError, match=r"Layer 0 center must have shape \(3,\), got \(2,\)"):
        load(center_0=np.zeros(2))
    with pytest.raises(ValueError, match="'gain_0' contains NaN or infinity"):
        load(gain_0=np.array([1.0, np.nan, 1.0]))
