"""Dropout masks from the counter-based generator (sknet.backends.random).

The generator is Philox-4x32-10, checked against Random123's known answers;
its keep decisions are checked for their rate (binomial bounds) and their
independence across layers, epochs, steps, keys and neighbouring values;
numpy, array_api_strict (both devices) and torch on the CPU compute the same
masks bit for bit, and so train the same model; and no mask is uploaded.
"""

import warnings

import array_api_compat
import array_api_strict as xps
import numpy as np
import pytest
import sklearn

from sknet import LayeredClassifier, Network
from sknet.backends import ArrayAPIBackend, Backend, get_backend, to_numpy
from sknet.backends import random as masks
from sknet.backends.random import DropoutDraws, dropout_mask, philox4x32

LOW = 2**32 - 1
DEVICES = [None, xps.Device("device1")]
DEVICE_IDS = ["default", "device1"]

# Random123's kat_vectors: counter (4 words), key (2 words), Philox-4x32-10's output.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((LOW, LOW, LOW, LOW), (LOW, LOW), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _namespaces():
    """``(name, xp, device)`` for array_api_strict's two devices and torch's CPU (if installed)."""
    spaces = [
        ("strict", array_api_compat.array_namespace(xps.asarray(0)), None),
        ("strict-device1", array_api_compat.array_namespace(xps.asarray(0)), DEVICES[1]),
    ]
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return spaces
    torch.set_num_threads(1)
    return [*spaces, ("torch", array_api_compat.array_namespace(torch.zeros(1)), "cpu")]


def _device_mask(xp, device, shape, rate, key, epoch, layer, row, dtype="float64"):
    mask = dropout_mask(xp, shape, rate, key, epoch, layer, row, getattr(xp, dtype), device)
    if device is not None and device != "cpu":
        assert mask.device == device  # made there, not moved there
    return to_numpy(mask)


def _reference_keep(shape, rate, key, epoch, layer, row):
    """The keep decisions from Python integers, one value at a time."""
    rows, units = shape
    per_row = -(-units // 4)
    threshold = round(rate * 2**32)
    keep = np.empty(shape, dtype=bool)
    for i in range(rows):
        for j in range(units):
            block = (row + i) * per_row + j // 4
            words = philox4x32((block & LOW, block >> 32, epoch & LOW, layer), key)
            keep[i, j] = words[j % 4] >= threshold
    return keep


# -- the generator ------------------------------------------------------------------


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_gives_random123s_known_answers(counter, key, expected):
    assert philox4x32(counter, key) == expected
    # As arrays: numpy's unsigned words, and the signed 64-bit words of the
    # array API (the product split in two), in every namespace.
    for words in (
        philox4x32(tuple(np.array([c], dtype=np.uint64) for c in counter), key),
        philox4x32(tuple(np.array([c], dtype=np.int64) for c in counter), key),
    ):
        assert tuple(int(w[0]) for w in words) == expected
    for _, xp, device in _namespaces():
        words = philox4x32(
            tuple(xp.asarray([c], dtype=xp.int64, device=device) for c in counter), key
        )
        assert tuple(int(to_numpy(w)[0]) for w in words) == expected
    # The first words as Python ints and the others as arrays (as in a mask).
    mixed = philox4x32((np.array([counter[0]], dtype=np.int64), *counter[1:]), key)
    assert tuple(int(np.asarray(w).ravel()[0]) for w in mixed) == expected


def test_the_32_bit_products_are_exact_on_every_path():
    rng = np.random.default_rng(0)
    a = np.concatenate([[0, 1, 2**16 - 1, 2**16, 2**31, LOW], rng.integers(0, 2**32, 1000)])
    for m in masks.PHILOX_M:
        expected = [(int(x) * m >> 32, int(x) * m & LOW) for x in a]
        for words in (a.astype(np.uint64), a.astype(np.int64), xps.asarray(a, dtype=xps.int64)):
            hi, lo = masks._mulhilo(words, m)
            assert list(zip(to_numpy(hi).tolist(), to_numpy(lo).tolist(), strict=True)) == expected


def test_masks_follow_the_documented_counter():
    key, epoch, layer = (0x12345678, 0x9ABCDEF0), 7, 3
    for shape, row in [((3, 7), 0), ((4, 9), 1000), ((2, 4), 5)]:
        mask = dropout_mask(np, shape, 0.3, key, epoch, layer, row, np.float64)
        expected = _reference_keep(shape, 0.3, key, epoch, layer, row)
        np.testing.assert_array_equal(mask, np.where(expected, 1 / 0.7, 0.0))


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
def test_block_numbers_past_two_to_the_32():
    # Rows whose block numbers cross 2**32 take the counter's second word:
    # the arrays hold it (its own path), with the same decisions as one by one.
    shape, row = (6, 4), 2**32 - 3  # one block per row: blocks 2**32 - 3 .. 2**32 + 2
    expected = _reference_keep(shape, 0.5, (1, 2), 0, 1, row)
    assert expected.any() and not expected.all()
    mask = dropout_mask(np, shape, 0.5, (1, 2), 0, 1, row, np.float64)
    np.testing.assert_array_equal(mask != 0, expected)
    for _, xp, device in _namespaces():
        got = _device_mask(xp, device, shape, 0.5, (1, 2), 0, 1, row)
        np.testing.assert_array_equal(got != 0, expected)
    # Past the boundary with one high word, and a full 32-bit epoch counter.
    far = _reference_keep((2, 5), 0.5, (3, 4), LOW, 2, 2**33 + 7)
    got = dropout_mask(np, (2, 5), 0.5, (3, 4), LOW, 2, 2**33 + 7, np.float64)
    np.testing.assert_array_equal(got != 0, far)


# -- statistics -------------------------------------------------------------------


def _keep(rate, shape=(512, 256), key=(11, 22), epoch=0, layer=0, row=0):
    return dropout_mask(np, shape, rate, key, epoch, layer, row, np.float64) != 0


def _within(count, n, p, sigmas=5.0):
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 0.9])
def test_keep_rate_within_binomial_bounds(rate):
    for key, epoch, layer in [((11, 22), 0, 0), ((0, 0), 3, 1), ((LOW, 5), 10, 2)]:
        keep = _keep(rate, key=key, epoch=epoch, layer=layer)
        assert _within(keep.sum(), keep.size, 1 - rate)
        # Every lane of a block (unit % 4) and every row keeps at the rate.
        for lane in range(4):
            assert _within(keep[:, lane::4].sum(), keep[:, lane::4].size, 1 - rate)
    # The scale: kept values become 1 / (1 - rate), exactly as numpy rounds it.
    mask = dropout_mask(np, (4, 8), rate, (1, 1), 0, 0, 0, np.float32)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {np.float32(0), np.float32(1 / (1 - rate))}


def _pairs_independent(a, b, rate):
    """The four joint frequencies of two keep patterns match independent draws."""
    q = 1 - rate
    n = a.size
    for x, y, p in [(a, b, q * q), (a, ~b, q * rate), (~a, b, rate * q), (~a, ~b, rate * rate)]:
        assert _within(np.sum(x & y), n, p), (np.sum(x & y) / n, p)
    r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert abs(r) < 5 / np.sqrt(n)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_masks_are_independent_across_layers_epochs_steps_and_keys(rate):
    base = _keep(rate)
    _pairs_independent(base, _keep(rate, layer=1), rate)  # the next layer
    _pairs_independent(base, _keep(rate, epoch=1), rate)  # the next epoch
    _pairs_independent(base, _keep(rate, row=512), rate)  # the next step's rows
    _pairs_independent(base, _keep(rate, key=(12, 22)), rate)  # a neighbouring key
    _pairs_independent(base, _keep(rate, key=(11, 23)), rate)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_masks_are_independent_across_neighbouring_values(rate):
    keep = _keep(rate, shape=(1024, 256))
    # Neighbouring units: within a block (lanes 0-1, 1-2, 2-3) and across
    # blocks (lane 3 and the next block's lane 0), and neighbouring rows.
    for lane in range(4):
        _pairs_independent(
            keep[:, lane:-4:4], keep[:, lane + 1 :: 4][:, : keep.shape[1] // 4 - 1], rate
        )
    _pairs_independent(keep[:-1], keep[1:], rate)
    # The 32-bit words themselves: uniform means and no lag-1 correlation.
    words = philox4x32((np.arange(2**16, dtype=np.uint64), 0, 0, 0), (11, 22))
    u = np.stack(words, axis=1).ravel() / 2**32
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(u.size)


def test_a_decision_depends_on_the_row_not_on_the_batch():
    key = (5, 6)
    whole = dropout_mask(np, (100, 13), 0.4, key, 2, 1, 0, np.float64)
    pieces = [
        dropout_mask(np, (min(16, 100 - start), 13), 0.4, key, 2, 1, start, np.float64)
        for start in range(0, 100, 16)
    ]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    # numpy's in-place form (into a buffer, piece by piece) computes the same.
    buffer = np.full((100, 13), np.nan)
    masks._NUMPY_BLOCKS, old = 8, masks._NUMPY_BLOCKS
    try:
        dropout_mask(np, (100, 13), 0.4, key, 2, 1, 0, np.float64, out=buffer)
    finally:
        masks._NUMPY_BLOCKS = old
    np.testing.assert_array_equal(buffer, whole)


# -- the same masks everywhere ------------------------------------------------------


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "shape, rate, epoch, layer, row",
    [((5, 7), 0.1, 0, 0, 0), ((33, 12), 0.5, 3, 2, 64), ((3, 1), 0.9, LOW, 7, 10**6)],
)
def test_numpy_and_every_device_draw_the_same_masks(shape, rate, epoch, layer, row, dtype):
    key = (0xDEADBEEF, 0x01234567)
    expected = dropout_mask(np, shape, rate, key, epoch, layer, row, np.dtype(dtype))
    buffer = np.empty(shape, dtype=dtype)
    dropout_mask(np, shape, rate, key, epoch, layer, row, None, out=buffer)
    np.testing.assert_array_equal(buffer, expected)
    assert expected.dtype == dtype
    names = []
    for name, xp, device in _namespaces():
        got = _device_mask(xp, device, shape, rate, key, epoch, layer, row, dtype)
        assert got.dtype == dtype
        assert got.tobytes() == expected.tobytes(), name  # bit for bit
        names.append(name)
    assert names[:2] == ["strict", "strict-device1"]


@pytest.mark.parametrize("device", DEVICES, ids=DEVICE_IDS)
def test_a_device_draws_the_next_steps_masks_at_once(device, monkeypatch):
    # On a device, the keep decisions of several batches are drawn in one
    # run of the generator and sliced out: the masks are numpy's, per step.
    calls = []
    keep = masks._keep

    def counting_keep(xp, *args, **kwargs):
        calls.append(xp is np)
        return keep(xp, *args, **kwargs)

    monkeypatch.setattr(masks, "_keep", counting_keep)
    backend = get_backend(xps.asarray(np.zeros(1), device=device))
    n, batch, units = 100, 16, 12
    on_device = DropoutDraws(rows=n)
    on_host = DropoutDraws(rows=n)
    device_rng, host_rng = np.random.default_rng(5), np.random.default_rng(5)
    for epoch in range(2):
        on_device.begin_epoch(device_rng, epoch)
        on_host.begin_epoch(host_rng, epoch)
        for start in range(0, n, batch):
            rows = min(batch, n - start)
            a = np.ones((rows, units))
            on_device.at(start)
            on_host.at(start)
            dropped, mask = backend.dropout(xps.asarray(a, device=device), 0.25, on_device, 1)
            buffers = np.empty_like(a), np.empty_like(a)
            _, expected = Backend.dropout(get_backend(a), a, 0.25, on_host, 1, *buffers)
            assert mask.device == (device or xps.Device("CPU_DEVICE"))
            np.testing.assert_array_equal(to_numpy(mask), expected)
            np.testing.assert_array_equal(to_numpy(dropped), expected)
    assert calls.count(False) == 2  # one run per epoch on the device
    assert calls.count(True) == 14  # numpy: one per step


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, np.eye(3)[labels]


def _network(dtype=None, random_state=0):
    net = Network(6, random_state=random_state, dtype=dtype)
    net.add_layer(16, "relu", dropout=0.3).add_layer(12, "tanh", dropout=0.2)
    return net.add_layer(3, "softmax")


FIT = dict(loss="log_loss", optimizer="adam", epochs=15, batch_size=32, validation_fraction=0.2)


def _weights(net):
    return [to_numpy(w) for layer in net.layers for w in layer.get_parameters()]


def _converters():
    converters = [
        ("strict", lambda a: xps.asarray(a)),
        ("strict-device1", lambda a: xps.asarray(a, device=DEVICES[1])),
    ]
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return converters
    torch.set_num_threads(1)
    return [*converters, ("torch", torch.asarray)]


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
def test_a_fit_with_dropout_gives_the_same_model_on_every_device(dtype, tolerance):
    X, Y = _data()
    X = X.astype(dtype)
    reference = _network(dtype).fit(X, Y, **FIT)
    plain = Network(6, random_state=0, dtype=dtype).add_layer(16, "relu").add_layer(12, "tanh")
    plain = plain.add_layer(3, "softmax").fit(X, Y, **FIT)
    # Dropout matters: the same fit without it ends far away.
    differences = [
        np.abs(a - b).max() for a, b in zip(_weights(reference), _weights(plain), strict=True)
    ]
    assert max(differences) > 1e-2
    for name, convert in _converters():
        net = _network(dtype).fit(convert(X), convert(Y), **FIT)
        for got, expected in zip(_weights(net), _weights(reference), strict=True):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance, err_msg=name)
        np.testing.assert_allclose(
            net.history_["val_loss"], reference.history_["val_loss"], rtol=tolerance, err_msg=name
        )


@pytest.mark.xdist_group("torch")  # torch, in the worker that runs the torch tests
def test_the_estimator_with_dropout_gives_the_same_model_on_every_device():
    X, Y = _data(n=200, seed=1)
    y = Y.argmax(axis=1)
    make = lambda: LayeredClassifier((12, 8), dropout=(0.2, 0.1), max_iter=15, random_state=3)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        reference = make().fit(X, y)
        for name, convert in _converters():
            with sklearn.config_context(array_api_dispatch=True):
                clf = make().fit(convert(X), convert(y))
                proba = to_numpy(clf.predict_proba(convert(X)))
            np.testing.assert_allclose(
                proba, reference.predict_proba(X), rtol=0, atol=1e-12, err_msg=name
            )


def test_each_epoch_draws_its_key_from_random_state():
    X, Y = _data()
    fit = dict(FIT, validation_fraction=0.0, epochs=3)
    keys = []
    begin_epoch = DropoutDraws.begin_epoch

    def recording(self, rng, epoch):
        begin_epoch(self, rng, epoch)
        keys.append((epoch, self.key))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DropoutDraws, "begin_epoch", recording)
        a = _network().fit(X, Y, **fit)
        first = list(keys)
        b = _network().fit(X, Y, **fit)
        assert keys[3:] == first  # the same random_state, the same keys
        assert [epoch for epoch, _ in first] == [0, 1, 2]
        assert len({key for _, key in first}) == 3
        for x, y in zip(_weights(a), _weights(b), strict=True):
            np.testing.assert_array_equal(x, y)
        # A warm start continues the epochs and the Generator: the keys of
        # one longer fit (tests/test_network.py checks the weights).
        keys.clear()
        net = _network().fit(X, Y, **dict(fit, epochs=2))
        net.fit(X, Y, warm_start=True, **dict(fit, epochs=1))
        assert keys == first
        # A fit without dropout draws no key: what it draws is unchanged.
        keys.clear()
        Network(6, random_state=0).add_layer(4).add_layer(3, "softmax").fit(X, Y, **fit)
        assert keys == []
    # Another generator draws other keys: other masks, from the same start.
    other = _network()
    other._rng = np.random.default_rng(1)
    assert not np.allclose(_weights(other.fit(X, Y, **fit))[0], _weights(a)[0])


def test_the_layer_alone_draws_a_key_from_the_generator_it_is_given():
    net = _network()
    layer = net.layers[0]
    layer.allocate(8, np.float64)
    x = np.random.default_rng(0).normal(size=(8, 6))
    first = layer.forward_train(x, np.random.default_rng(0)).copy()
    again = layer.forward_train(x, np.random.default_rng(0)).copy()
    other = layer.forward_train(x, np.random.default_rng(1)).copy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first == 0, other == 0)
    layer.release()
    assert "_draws" not in layer.__dict__


# -- nothing uploaded -------------------------------------------------------------


class _Uploads:
    """Counts what would cross from the host to a device on torch.

    Arrays made from host data (``torch.asarray``, ``as_tensor``, ``tensor``,
    ``from_numpy`` of anything but a tensor) and the aten operations that
    make a tensor from host values or copy between devices
    (``lift_fresh``, ``scalar_tensor``, ``_to_copy``/``copy_`` to another
    device). On a CUDA device each is a host-to-device copy.
    """

    FACTORIES = ("asarray", "as_tensor", "tensor", "from_numpy")
    OPS = ("lift_fresh", "lift_fresh_copy", "scalar_tensor")

    def __init__(self, torch, monkeypatch):
        from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

        self.events = []
        events = self.events
        inside = []  # a factory's own aten operations are that one upload
        for name in self.FACTORIES:
            original = getattr(torch, name)

            def factory(data, *args, _original=original, _name=name, **kwargs):
                if not isinstance(data, torch.Tensor):
                    events.append(_name)
                inside.append(_name)
                try:
                    return _original(data, *args, **kwargs)
                finally:
                    inside.pop()

            monkeypatch.setattr(torch, name, factory)

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                name = func.overloadpacket.__name__
                if inside:
                    pass
                elif name in _Uploads.OPS:
                    events.append(name)
                elif name in ("_to_copy", "copy_"):
                    devices = {a.device for a in args if isinstance(a, torch.Tensor)}
                    if "device" in kwargs:
                        devices.add(torch.device(kwargs["device"]))
                    if len(devices) > 1 or ("device" in kwargs and name == "_to_copy"):
                        events.append(name)
                return func(*args, **kwargs)

        self.mode = Mode()

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def _old_host_masks(self, a, rate, draws, layer, mask_out=None, out=None):
    """The former dropout: a mask drawn on the host and sent to the device, per batch."""
    rng = np.random.default_rng(layer)
    mask = (rng.random(size=tuple(a.shape)) >= rate) / (1.0 - rate)
    mask = self.xp.asarray(mask.astype(np.float64), device=self.device)
    return a * mask, mask


def test_no_mask_is_uploaded_per_batch_on_torch(monkeypatch):
    torch = _torch()
    X, Y = _data(n=320)
    X_t, Y_t = torch.asarray(X), torch.asarray(Y)

    def uploads(batch_size, dropout=(0.3, 0.2)):
        net = Network(6, random_state=0).add_layer(16, "relu", dropout=dropout[0])
        net.add_layer(12, "tanh", dropout=dropout[1]).add_layer(3, "identity")
        with pytest.MonkeyPatch.context() as patch, _Uploads(torch, patch) as counter:
            net.fit(X_t, Y_t, loss="squared_error", epochs=2, batch_size=batch_size)
        return len(counter.events)

    # 20 and 10 batches per epoch, two layers that drop: what is uploaded
    # does not depend on the number of batches, and dropout adds nothing.
    with_dropout = uploads(16)
    assert with_dropout == uploads(32) == uploads(16, dropout=(0.0, 0.0))
    # The counter sees host masks: the former way uploads one per batch and layer.
    monkeypatch.setattr(ArrayAPIBackend, "dropout", _old_host_masks)
    assert uploads(16) == with_dropout + 2 * 20 * 2
    assert uploads(32) == with_dropout + 2 * 10 * 2
