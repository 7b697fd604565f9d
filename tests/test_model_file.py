"""The model file: Network.save / Network.load (sknet._model_file).

Numbers measured when these tests were written (numpy 2.4, Python 3.11): loading a
3.4 kB file whose record declares ``n_inputs=4_000_000`` peaked at ~0.1 MB of
allocations (the network it describes would take 160 MB); before the checks it
allocated the whole network first.
"""

import copy
import io
import json
import os
import random
import textwrap
import tracemalloc
import zipfile

import _fresh_interpreter as fresh
import numpy as np
import pytest

from sknet import Network

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions and limits")


def _regression(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(d, 1)) + 0.7 + 0.1 * rng.normal(size=(n, 1))
    return X, Y


def _small_net(seed=0):
    net = Network(4, random_state=seed)
    return net.add_layer(8, "relu").add_layer(6, "tanh").add_layer(1, "identity")


def _assert_same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


def _saved_bytes(net=None):
    buffer = io.BytesIO()
    (net or _small_net()).save(buffer)
    return buffer.getvalue()


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    return buffer


def _parts(raw):
    arrays = dict(np.load(io.BytesIO(raw)))
    return json.loads(str(arrays["architecture"])), arrays


def _with_record(raw, record):
    _, arrays = _parts(raw)
    arrays["architecture"] = np.array(json.dumps(record))
    return _npz(**arrays)


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ["path", "bytesio"])
def test_save_load_round_trip(tmp_path, dtype, target):
    X, Y = _regression(n=40)
    X, Y = X.astype(dtype), Y.astype(dtype)
    net = Network(4, random_state=0)
    net.add_layer(5, "gelu", dropout=0.2).add_layer(4, "logistic").add_layer(1, "softplus")
    net.fit(X, Y, epochs=3, batch_size=10, validation_fraction=0.2)
    where = tmp_path / "model.npz" if target == "path" else io.BytesIO()
    net.save(where)
    if target == "bytesio":
        where.seek(0)
    loaded = Network.load(where)
    prediction = loaded.predict(X)
    assert prediction.dtype == dtype and loaded.dtype is None
    assert all(w.dtype == dtype for w in loaded.get_weights())
    np.testing.assert_array_equal(prediction, net.predict(X))
    _assert_same_weights(loaded, net)
    assert loaded.history_ == net.history_ and loaded.samples_seen_ == net.samples_seen_
    assert [(la.units, la.activation.name, la.dropout) for la in loaded.layers] == [
        (5, "gelu", 0.2),
        (4, "sigmoid", 0.0),
        (1, "softplus", 0.0),
    ]
    assert repr(loaded) == repr(net)
    # The random stream is saved too: further training continues identically.
    net.fit(X, Y, epochs=2, batch_size=10)
    loaded.fit(X, Y, epochs=2, batch_size=10)
    _assert_same_weights(loaded, net)


def test_float32_network_extended_with_add_layer_round_trips(tmp_path):
    # Fitted in float32, then extended: the new layer is float32 too, so the
    # file holds one dtype and the loaded network predicts exactly the same.
    X, Y = _regression(n=40)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    net = Network(4, random_state=0).add_layer(8, "tanh")
    net.fit(X, np.tile(Y, 8), epochs=2, batch_size=10)
    net.add_layer(3, "relu").add_layer(1, "identity")
    assert [w.dtype for w in net.get_weights()] == [np.float32] * 6
    before = net.predict(X)
    net.save(tmp_path / "model.npz")
    loaded = Network.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), before)
    _assert_same_weights(loaded, net)


def test_save_with_other_bit_generator(tmp_path):
    net = Network(2, random_state=np.random.Generator(np.random.MT19937(0))).add_layer(1, "tanh")
    net.save(tmp_path / "mt.npz")
    loaded = Network.load(tmp_path / "mt.npz")
    x = np.array([[0.5, -1.0]])
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_save_refuses_unregistered_activation():
    class Cube:
        def forward(self, z):
            return z**3

        def derivative(self, z, a):
            return 3 * z**2

    net = Network(2).add_layer(3, Cube()).add_layer(1, "identity")
    with pytest.raises(ValueError, match="only registered activations can be saved"):
        net.save(io.BytesIO())


def test_save_refuses_what_load_would_refuse():
    # A file that saves always loads: the same checks run before writing.
    net = _small_net()
    net.layers[1].weights = net.layers[1].weights.astype(np.float32)
    net.layers[1].bias = net.layers[1].bias.astype(np.float32)
    with pytest.raises(ValueError, match=r"Cannot save this network: .*one dtype"):
        net.save(io.BytesIO())
    net = _small_net()
    net.layers[2].bias[0] = np.nan
    with pytest.raises(ValueError, match="Cannot save this network: 'bias_2' contains NaN"):
        net.save(io.BytesIO())
    net = _small_net()
    net.history_ = {"loss": ["low"], "val_loss": []}
    with pytest.raises(ValueError, match=r"Cannot save this network: history\['loss'\]"):
        net.save(io.BytesIO())
    # numpy numbers in a history are written as numbers.
    net.history_ = {"loss": [np.float32(0.5)], "val_loss": []}
    assert Network.load(io.BytesIO(_saved_bytes(net))).history_ == {"loss": [0.5], "val_loss": []}


# -- the path is the path -------------------------------------------------------------


@pytest.mark.parametrize("as_type", [str, os.fspath, lambda p: p])
def test_path_is_written_exactly_as_given(tmp_path, as_type):
    net = _small_net()
    net.save(as_type(tmp_path / "model"))
    assert sorted(os.listdir(tmp_path)) == ["model"]
    loaded = Network.load(as_type(tmp_path / "model"))
    _assert_same_weights(loaded, net)


def test_open_file_objects_still_work(tmp_path):
    net = _small_net()
    with open(tmp_path / "model.bin", "wb") as file:
        net.save(file)
    with open(tmp_path / "model.bin", "rb") as file:
        _assert_same_weights(Network.load(file), net)


def test_save_to_a_directory_is_a_clear_error(tmp_path):
    (tmp_path / "models").mkdir()
    with pytest.raises(IsADirectoryError, match=r"Cannot save the network: this is a directory"):
        _small_net().save(tmp_path / "models")
    assert sorted(os.listdir(tmp_path)) == ["models"]
    assert os.listdir(tmp_path / "models") == []


def test_save_into_a_missing_folder_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder does not exist: '.*nowhere.model'"):
        _small_net().save(tmp_path / "nowhere" / "model")


def test_load_missing_file_or_directory_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"there is no such file: '.*absent.npz'"):
        Network.load(tmp_path / "absent.npz")
    with pytest.raises(IsADirectoryError, match=r"this is a directory, not a model file"):
        Network.load(tmp_path)


@POSIX
def test_save_through_a_symbolic_link_replaces_its_target(tmp_path):
    (tmp_path / "real.npz").write_bytes(b"old")
    (tmp_path / "link.npz").symlink_to("real.npz")
    net = _small_net()
    net.save(tmp_path / "link.npz")
    assert (tmp_path / "link.npz").is_symlink()
    _assert_same_weights(Network.load(tmp_path / "real.npz"), net)


@POSIX
def test_permissions_are_those_of_a_plain_write(tmp_path):
    umask = os.umask(0o022)
    try:
        _small_net().save(tmp_path / "new.npz")
        (tmp_path / "kept.npz").write_bytes(b"old")
        os.chmod(tmp_path / "kept.npz", 0o640)
        _small_net().save(tmp_path / "kept.npz")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "new.npz").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "kept.npz").st_mode & 0o777 == 0o640


# -- atomic save ------------------------------------------------------------------------


def _interrupted_savez(exception):
    partial = _saved_bytes()[:500]

    def savez(file, **arrays):
        # Half an archive reaches the file, then the save is interrupted.
        if isinstance(file, (str, os.PathLike)):
            file = open(os.fspath(file) + ("" if str(file).endswith(".npz") else ".npz"), "wb")
        file.write(partial)
        file.flush()
        raise exception

    return savez


@pytest.mark.parametrize(
    "exception", [KeyboardInterrupt(), OSError(28, "No space left on device")], ids=repr
)
def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, exception):
    path = tmp_path / "model.npz"
    old = _small_net(seed=1)
    old.save(path)
    good = path.read_bytes()
    monkeypatch.setattr(np, "savez", _interrupted_savez(exception))
    with pytest.raises(type(exception)):
        _small_net(seed=2).save(path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    assert path.read_bytes() == good
    _assert_same_weights(Network.load(path), old)


@POSIX
def test_save_beyond_the_file_size_limit_leaves_the_old_file(tmp_path):
    # A real failure part-way through the write: RLIMIT_FSIZE (as on a full
    # disk, write() fails with the archive half written). In a subprocess, so
    # the limit does not touch the test run.
    # The engine alone (no scikit-learn to import): a second less per run.
    script = fresh.ENGINE_ONLY + textwrap.dedent(
        f"""
        import os, resource, signal
        import numpy as np
        from sknet.network import Network
        path = {str(tmp_path / "model.npz")!r}
        Network(4, random_state=0).add_layer(3, "identity").save(path)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
        try:
            Network(100, random_state=0).add_layer(200, "identity").save(path)
        except OSError as exc:
            print("refused", exc.errno)
        """
    )
    assert fresh.run(script, timeout=120).split() == ["refused", "27"]  # EFBIG
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    expected = Network(4, random_state=0).add_layer(3, "identity")
    _assert_same_weights(Network.load(tmp_path / "model.npz"), expected)


def test_load_during_a_save_reads_the_old_file(tmp_path, monkeypatch):
    # The new archive is complete and flushed, not yet in place: a load then
    # (say, from another process) still reads the previous network whole.
    path = tmp_path / "model.npz"
    old, new = _small_net(seed=1), _small_net(seed=2)
    old.save(path)
    seen = []
    fsync = os.fsync

    def checking_fsync(fd):
        fsync(fd)
        if not seen:
            seen.append(Network.load(path))

    monkeypatch.setattr(os, "fsync", checking_fsync)
    new.save(path)
    assert len(seen) == 1
    _assert_same_weights(seen[0], old)
    _assert_same_weights(Network.load(path), new)


# -- files that are not sknet networks --------------------------------------------------


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
def test_load_truncated_file(cut):
    raw = _saved_bytes()
    with pytest.raises(ValueError, match="not an sknet Network file: .* corrupt or truncated"):
        Network.load(io.BytesIO(raw[: int(len(raw) * cut)]))


def test_load_corrupted_bytes_inside_the_archive():
    raw = bytearray(_saved_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 40] = bytes(40)
    with pytest.raises(ValueError, match="sknet Network file"):
        Network.load(io.BytesIO(bytes(raw)))


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(600), b"", b"PK\x03\x04"])
def test_load_random_bytes(content, tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"'.*junk.npz' is not an sknet Network file: .*corrupt"):
        Network.load(path)


def test_load_foreign_files():
    message = "not an sknet Network file: it holds no sknet architecture record"
    with pytest.raises(ValueError, match=message):
        Network.load(_npz(weights_0=np.zeros((2, 2))))
    other = json.dumps({"format": "keras.Model", "version": 1, "layers": []})
    with pytest.raises(ValueError, match=message):
        Network.load(_npz(architecture=np.array(other)))
    with pytest.raises(ValueError, match=message):
        Network.load(_npz(architecture=np.array("{not json")))
    with pytest.raises(ValueError, match=message):
        Network.load(_npz(architecture=np.arange(3)))
    with pytest.raises(ValueError, match=message):
        Network.load(_npz(architecture=np.array("[" * 5000 + "]" * 5000)))
    with pytest.raises(ValueError, match=message):
        Network.load(_npz(architecture=np.array('["sknet.Network"]')))


def test_load_future_format_version():
    raw = _saved_bytes()
    record, _ = _parts(raw)
    # Version 2 (typed layers) is read too: the next version is the future one.
    with pytest.raises(ValueError, match="format version 3; this sknet reads version 1 or 2"):
        Network.load(_with_record(raw, dict(record, version=3)))
    with pytest.raises(ValueError, match="format version True; this sknet reads version 1 or 2"):
        Network.load(_with_record(raw, dict(record, version=True)))


# -- the architecture record is checked whole -------------------------------------------

GOOD_RNG = {
    "bit_generator": "PCG64",
    "state": {"state": 5, "inc": 7},
    "has_uint32": 0,
    "uinteger": 0,
}

RECORD_CASES = [
    # (what to change, message)
    (("n_inputs", "4"), r"n_inputs must be a positive integer, got '4'"),
    (("n_inputs", 4.0), r"n_inputs must be a positive integer, got 4.0"),
    (("n_inputs", True), r"n_inputs must be a positive integer, got True"),
    (("n_inputs", 0), r"n_inputs must be a positive integer, got 0"),
    (("dtype", "float16"), r"dtype must be null, 'float32' or 'float64', got 'float16'"),
    (("dtype", 32), r"dtype must be null, 'float32' or 'float64', got 32"),
    (("layers", []), "the architecture record must list at least one layer"),
    (("layers", {"units": 8}), "the architecture record must list at least one layer"),
    (("layers", 0, None), "layer 0 must be a JSON object, got NoneType"),
    (("layers", 0, "units", 0), "layer 0 units must be a positive integer, got 0"),
    (("layers", 0, "units", "8"), "layer 0 units must be a positive integer, got '8'"),
    (("layers", 0, "units", 1e400), "layer 0 units must be a positive integer, got inf"),
    (("layers", 1, "activation", "softmax"), "layer 1 has the 'softmax' activation, which can"),
    (("layers", 1, "activation", "exp"), "layer 1 has the 'exp' activation, which can only"),
    (("layers", 0, "activation", "swish"), r"layer 0: Unknown activation 'swish'; valid names"),
    (("layers", 0, "activation", ["relu"]), r"layer 0 activation must be a name, got \['relu'\]"),
    (("layers", 2, "dropout", 0.5), "the output layer cannot have dropout"),
    (("layers", 0, "dropout", 1.0), r"layer 0 dropout must be in \[0, 1\), got 1.0"),
    (("layers", 0, "dropout", "0.1"), r"layer 0 dropout must be in \[0, 1\), got '0.1'"),
    (("layers", 0, "dropout", float("nan")), r"layer 0 dropout must be in \[0, 1\), got nan"),
    (("layers", 0, "dropout", True), r"layer 0 dropout must be in \[0, 1\), got True"),
    (("layers", 0, "init", "zeros"), r"layer 0 init must be one of \['auto', "),
    (("layers", 0, "init", None), r"layer 0 init must be one of \['auto', "),
    (("layers", 0, "extra", 1), "layer 0 has the unknown key 'extra'"),
    (("samples_seen", -1), "samples_seen must be a non-negative integer, got -1"),
    (("samples_seen", 2.5), "samples_seen must be a non-negative integer, got 2.5"),
    (("history", []), "history must be a JSON object, got list"),
    (("history", {"loss": []}), "history has no 'val_loss'"),
    (("history", {"loss": [1.0, "x"], "val_loss": []}), r"history\['loss'\] must be a list of"),
    (
        ("history", {"loss": [1.0], "val_loss": [1, 2]}),
        "history has more validation losses than training",
    ),
    (("history", "val_loss", None), r"history\['val_loss'\] must be a list of numbers"),
    (("rng_state", "seed"), "rng_state must be a JSON object, got str"),
    (
        ("rng_state", dict(GOOD_RNG, bit_generator="MT19937")),
        "rng_state must be a PCG64 state, got 'MT",
    ),
    (
        ("rng_state", dict(GOOD_RNG, has_uint32=2)),
        r"rng_state has_uint32 must be an integer in \[0, 2\)",
    ),
    (
        ("rng_state", dict(GOOD_RNG, uinteger=-1)),
        r"rng_state uinteger must be an integer in \[0, 4294",
    ),
    (("rng_state", dict(GOOD_RNG, state={"state": 2**128, "inc": 7})), "rng_state state must"),
    (("rng_state", dict(GOOD_RNG, state={"state": 5, "inc": 8})), "rng_state inc must be odd"),
    (("rng_state", dict(GOOD_RNG, state={"state": 5})), r"rng_state\['state'\] has no 'inc'"),
    (("extra", 1), "the architecture record has the unknown key 'extra'"),
    # Each of these used to escape as another error, or to load and fail later.
    (("n_inputs", 10**15), r"Layer 0 weights must have shape \(1000000000000000, 8\), got \(4"),
    (("rng_state", dict(GOOD_RNG, state={"state": 2**200, "inc": 7})), "rng_state state must"),
    (("history", "abc"), "history must be a JSON object, got str"),
    (("samples_seen", "many"), "samples_seen must be a non-negative integer, got 'many'"),
]


def _changed(record, change):
    *where, key, value = change
    record = copy.deepcopy(record)
    target = record
    for step in where:
        target = target[step]
    target[key] = value
    return record


@pytest.mark.parametrize("change, match", RECORD_CASES, ids=[m for _, m in RECORD_CASES])
def test_malformed_record_is_a_value_error_naming_the_field(change, match):
    raw = _saved_bytes()
    record, _ = _parts(raw)
    with pytest.raises(
        ValueError, match=f"The file object is a damaged sknet Network file: {match}"
    ):
        Network.load(_with_record(raw, _changed(record, change)))


@pytest.mark.parametrize("key", ["n_inputs", "dtype", "layers", "samples_seen", "history"])
def test_record_missing_a_key(key):
    raw = _saved_bytes()
    record, _ = _parts(raw)
    del record[key]
    with pytest.raises(ValueError, match=f"the architecture record has no '{key}'"):
        Network.load(_with_record(raw, record))


def test_valid_rng_state_is_restored():
    raw = _saved_bytes()
    record, _ = _parts(raw)
    loaded = Network.load(_with_record(raw, dict(record, rng_state=GOOD_RNG)))
    assert loaded._rng.bit_generator.state == GOOD_RNG


# -- arrays: shape and dtype checked against the record, before allocating -------------


def test_missing_or_extra_arrays():
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    del arrays["weights_1"]
    with pytest.raises(ValueError, match="damaged sknet Network file: it has no array 'weights_1'"):
        Network.load(_npz(**arrays))
    _, arrays = _parts(raw)
    arrays["weights_3"] = np.zeros((1, 1))
    with pytest.raises(
        ValueError, match="damaged sknet Network file: unexpected array 'weights_3'"
    ):
        Network.load(_npz(**arrays))


def test_array_shapes_must_match_the_record():
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    arrays["bias_0"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"damaged .* Layer 0 bias must have shape \(8,\), got"):
        Network.load(_npz(**arrays))
    _, arrays = _parts(raw)
    arrays["weights_1"] = arrays["weights_1"].T
    with pytest.raises(ValueError, match=r"Layer 1 weights must have shape \(8, 6\), got \(6, 8\)"):
        Network.load(_npz(**arrays))


@pytest.mark.parametrize(
    "dtype", [np.int64, np.bool_, np.complex128, np.float16, np.longdouble, "U8", "f8,f8"]
)
def test_weights_must_be_float32_or_float64(dtype):
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    arrays["weights_0"] = np.ones((4, 8), dtype=dtype)
    with pytest.raises(ValueError, match=r"Layer 0 weights must be float32 or float64, got"):
        Network.load(_npz(**arrays))


def test_object_arrays_are_refused():
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    arrays["bias_1"] = np.array([object()] * 6)
    with pytest.raises(ValueError, match=r"damaged sknet Network file: 'bias_1.npy' declares"):
        Network.load(_npz(**arrays))


def test_arrays_of_one_dtype_only():
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    arrays["bias_2"] = arrays["bias_2"].astype(np.float32)
    with pytest.raises(ValueError, match=r"must all have one dtype, got \['float32', 'float64'\]"):
        Network.load(_npz(**arrays))
    record, arrays = _parts(raw)
    arrays["architecture"] = np.array(json.dumps(dict(record, dtype="float32")))
    with pytest.raises(ValueError, match="the network's dtype is float32 but its arrays are"):
        Network.load(_npz(**arrays))


def test_big_endian_float64_is_read_as_float64():
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    swapped = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in arrays.items() if k[0] != "a"}
    loaded = Network.load(_npz(**arrays | swapped))
    _assert_same_weights(loaded, Network.load(io.BytesIO(raw)))


def test_non_finite_weights_are_refused():
    raw = _saved_bytes()
    _, arrays = _parts(raw)
    arrays["weights_2"][0, 0] = np.inf
    with pytest.raises(ValueError, match="'weights_2' contains NaN or infinity"):
        Network.load(_npz(**arrays))


def _peak_bytes_of_a_failed_load(data):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            Network.load(io.BytesIO(data))
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def _huge_declared():
    """A 4 kB file whose record declares 4_000_000 inputs (512 MB of float64 weights)."""
    net = Network(4, random_state=0).add_layer(16, "relu").add_layer(1, "identity")
    raw = _saved_bytes(net)
    record, _ = _parts(raw)
    return _with_record(raw, dict(record, n_inputs=4_000_000)).getvalue()


def test_small_file_declaring_a_huge_network_allocates_nothing_big():
    data = _huge_declared()
    assert len(data) < 4000
    peak, message = _peak_bytes_of_a_failed_load(data)
    assert "Layer 0 weights must have shape (4000000, 16), got (4, 16)" in message
    assert peak < 1_000_000


def _forged_member(data, name, shape, payload):
    """Replace ``name`` in the archive by an .npy header claiming ``shape``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = header.getvalue() + payload if info.filename == name else src.read(info)
            dst.writestr(info.filename, content)
    return out.getvalue()


def test_array_header_claiming_more_than_the_file_holds_allocates_nothing_big():
    data = _forged_member(_huge_declared(), "weights_0.npy", (4_000_000, 16), bytes(512))
    assert len(data) < 4000
    peak, message = _peak_bytes_of_a_failed_load(data)
    assert "'weights_0.npy' declares shape (4000000, 16) of float64 but holds 512 bytes" in message
    assert peak < 1_000_000


def test_zip_directory_claiming_a_huge_member_allocates_nothing_big():
    # The sizes in the zip directory are claims too: here the header and the
    # directory agree on 512 MB, but the archive holds 512 bytes.
    data = _forged_member(_huge_declared(), "weights_0.npy", (4_000_000, 16), bytes(512))
    data = bytearray(data)
    name = b"weights_0.npy"
    entry = next(
        i
        for i in range(len(data))
        if data[i : i + 4] == b"PK\x01\x02" and data[i + 46 : i + 46 + len(name)] == name
    )
    declared = 128 + 4_000_000 * 16 * 8  # header + data, as the forged header says
    data[entry + 24 : entry + 28] = declared.to_bytes(4, "little")  # uncompressed size
    peak, message = _peak_bytes_of_a_failed_load(bytes(data))
    assert "'weights_0.npy' declares more data than the archive holds" in message
    assert peak < 1_000_000


def test_only_value_errors_from_damaged_files():
    # Random damage anywhere in the file: a ValueError or, when the damage
    # only touches what the checks cannot see (zip timestamps), the same network.
    X = np.random.default_rng(0).normal(size=(5, 4))
    net = _small_net()
    raw = _saved_bytes(net)
    rng = random.Random(0)
    kinds = set()
    for _ in range(300):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            loaded = Network.load(io.BytesIO(bytes(data)))
        except ValueError:
            kinds.add("ValueError")
            continue
        np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert kinds == {"ValueError"}


# -- the record is standard JSON (issue 14, items 12, 13, 14) ----------------------------------


def _refuse_constant(name):
    raise ValueError(f"not standard JSON: {name}")


def _strict_record(raw):
    text = str(dict(np.load(io.BytesIO(raw)))["architecture"])
    return json.loads(text, parse_constant=_refuse_constant)


def test_non_finite_history_is_standard_json_and_read_back_exactly():
    net = _small_net()
    net.history_ = {
        "loss": [1.5, np.nan, np.inf, -np.inf, np.float32(0.25), np.float64(2.0)],
        "val_loss": [np.nan, 3.0],
    }
    raw = _saved_bytes(net)
    record = _strict_record(raw)
    # The documented convention: JavaScript's names for the three values, as strings.
    assert record["history"] == {
        "loss": [1.5, "NaN", "Infinity", "-Infinity", 0.25, 2.0],
        "val_loss": ["NaN", 3.0],
    }
    loaded = Network.load(io.BytesIO(raw)).history_
    assert [str(v) for v in loaded["loss"]] == ["1.5", "nan", "inf", "-inf", "0.25", "2.0"]
    assert [str(v) for v in loaded["val_loss"]] == ["nan", "3.0"]
    assert all(type(v) is float for v in loaded["loss"] + loaded["val_loss"])


def test_diverged_early_stopped_model_saves_standard_json(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from sknet import LayeredRegressor

    X, y = load_iris(return_X_y=True)
    reg = LayeredRegressor(
        hidden_layer_sizes=100,
        activation="identity",
        solver="sgd",
        learning_rate_init=1,
        max_iter=20,
        early_stopping=True,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(X, y)
    reg.network_.save(tmp_path / "model.npz")
    record = _strict_record((tmp_path / "model.npz").read_bytes())
    assert record["history"]["loss"][-1] == record["history"]["val_loss"][-1] == "NaN"
    loaded = Network.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.history_["loss"], reg.loss_curve_)
    np.testing.assert_array_equal(loaded.history_["val_loss"], reg.validation_loss_curve_)


@pytest.mark.parametrize("value", ["nan", "Inf", "infinity", "1.0", None, True])
def test_history_strings_other_than_the_three_names_are_refused(value):
    raw = _saved_bytes()
    record, _ = _parts(raw)
    record["history"]["loss"] = [value]
    with pytest.raises(ValueError, match=r"history\['loss'\] must be a list of numbers"):
        Network.load(_with_record(raw, record))


def test_files_with_bare_nan_from_earlier_versions_still_load():
    raw = _saved_bytes()
    record, _ = _parts(raw)
    record["history"] = {"loss": [float("nan"), 1.0], "val_loss": []}
    loaded = Network.load(_with_record(raw, record))  # json.dumps writes a bare NaN
    assert [str(v) for v in loaded.history_["loss"]] == ["nan", "1.0"]


@POSIX
@pytest.mark.parametrize("short_of_max", [17, 15, 5, 1, 0])
@pytest.mark.parametrize("char", ["m", "é"], ids=["ascii", "two-byte"])
def test_names_up_to_name_max_can_be_saved(tmp_path, short_of_max, char):
    # 238..255 bytes where names may have 255 (most file systems): the
    # temporary file used to be 18 bytes longer than the name.
    n_bytes = os.pathconf(tmp_path, "PC_NAME_MAX") - short_of_max
    width = len(char.encode())
    name = char * (n_bytes // width) + "x" * (n_bytes % width)
    assert len(os.fsencode(name)) == n_bytes
    net = _small_net()
    net.save(tmp_path / name)
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind
    _assert_same_weights(Network.load(tmp_path / name), net)
    net.save(tmp_path / name)  # and replaced
    assert os.listdir(tmp_path) == [name]


@POSIX
def test_a_name_longer_than_name_max_is_an_error_naming_it(tmp_path):
    name = "m" * (os.pathconf(tmp_path, "PC_NAME_MAX") + 1)
    with pytest.raises(OSError, match="Cannot save the network") as caught:
        _small_net().save(tmp_path / name)
    assert caught.value.filename == str(tmp_path / name)
    assert ".tmp" not in str(caught.value).replace(str(tmp_path), "")
    assert os.listdir(tmp_path) == []


def test_write_error_names_the_path_given(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    monkeypatch.setattr(np, "savez", _interrupted_savez(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left on device") as caught:
        _small_net().save(path)
    assert caught.value.errno == 28
    assert caught.value.filename == str(path)
    assert str(path) in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_replace_error_names_the_path_given(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied", source, destination)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match="Permission denied") as caught:
        _small_net().save(path)
    assert caught.value.filename == str(path) and caught.value.filename2 is None
    assert ".tmp" not in str(caught.value).replace(str(tmp_path), "")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert os.listdir(tmp_path) == []


def test_temporary_file_error_names_the_path_given(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    real_open = os.open

    def refuse(name, flags, mode=0o777, **kwargs):
        if str(name).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match="Permission denied") as caught:
        _small_net().save(path)
    assert caught.value.filename == str(path)
    assert ".tmp" not in str(caught.value).replace(str(tmp_path), "")


class _ReadOnlyStream:
    """A stream with ``read`` only, as some sockets and HTTP bodies are."""

    def __init__(self, data):
        self._buffer = io.BytesIO(data)

    def read(self, n=-1):
        return self._buffer.read(n)


@POSIX
def test_load_from_a_pipe_reads_it():
    net = _small_net()
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as writer:
        net.save(writer)  # zipfile writes to an unseekable stream too
    with os.fdopen(read_end, "rb") as reader:
        assert not reader.seekable()
        loaded = Network.load(reader)
    _assert_same_weights(loaded, net)
    assert loaded.history_ == net.history_


def test_load_from_a_stream_without_seek_or_tell_reads_it():
    net = _small_net().fit(*_regression(), epochs=2)
    loaded = Network.load(_ReadOnlyStream(_saved_bytes(net)))
    _assert_same_weights(loaded, net)
    assert loaded.history_ == net.history_


def test_load_from_a_stream_reads_from_its_current_position():
    raw = _saved_bytes()
    stream = _ReadOnlyStream(b"header" + raw)
    assert stream.read(6) == b"header"
    _assert_same_weights(Network.load(stream), _small_net())


def test_load_from_a_damaged_stream_is_still_a_value_error():
    with pytest.raises(ValueError, match="cannot be read as an .npz archive"):
        Network.load(_ReadOnlyStream(_saved_bytes()[:300]))


class _TextStream:
    def read(self, n=-1):
        return "not bytes"


def test_load_from_a_text_stream_says_binary_mode():
    with pytest.raises(ValueError, match="binary mode"):
        Network.load(_TextStream())


def test_load_from_a_text_mode_file_says_binary_mode(tmp_path):
    _small_net().save(tmp_path / "model.npz")
    with open(tmp_path / "model.npz", encoding="latin-1") as file:
        with pytest.raises(ValueError, match=r"text mode: open the model file in binary mode"):
            Network.load(file)


# -- format versions: files of the previous sknet, typed layers --------------------------

DATA = os.path.join(os.path.dirname(__file__), "data")


def test_a_file_written_by_format_version_1_loads_as_it_was_saved():
    """tests/data/network_v1.npz was written by sknet at 80fa680 (format version 1)."""
    path = os.path.join(DATA, "network_v1.npz")
    loaded = Network.load(path)
    expected = np.load(os.path.join(DATA, "network_v1_expected.npz"))
    prediction = loaded.predict(expected["X"])
    assert prediction.dtype == np.float32
    np.testing.assert_array_equal(prediction, expected["prediction"])
    assert [(d.units, d.activation.name, d.dropout, d.init) for d in loaded.layers] == [
        (5, "tanh", 0.1, "auto"),
        (4, "leaky_relu", 0.0, "he_normal"),
        (2, "identity", 0.0, "auto"),
    ]
    assert loaded.samples_seen_ == 90
    assert loaded.history_["loss"] == pytest.approx(
        [2.0948813756306963, 2.1183943430582683, 2.1493696848551433], rel=1e-15
    )
    assert len(loaded.history_["val_loss"]) == 3
    # A network of Dense layers is still written as version 1, record for
    # record: the sknet that wrote the fixture reads what this one writes.
    with open(path, "rb") as file:
        old_record, _ = _parts(file.read())
    new_record, _ = _parts(_saved_bytes(loaded))
    assert new_record == old_record and new_record["version"] == 1


def _typed(record):
    """The version-2 form of a version-1 record of Dense layers."""
    layers = [{"type": "dense", "config": spec} for spec in record["layers"]]
    return dict(record, version=2, layers=layers)


def test_a_version_2_record_of_dense_layers_loads():
    raw = _saved_bytes()
    record, _ = _parts(raw)
    loaded = Network.load(_with_record(raw, _typed(record)))
    _assert_same_weights(loaded, _small_net())


TYPED_CASES = [
    (("layers", 0, "type", "conv"), "layer 0 is of the layer type 'conv', which is not regi"),
    (("layers", 0, "type", 3), "layer 0 type must be a name, got 3"),
    (("layers", 0, "config", "relu"), "layer 0 must be a JSON object, got str"),
    (("layers", 0, "config", "units", 0), "layer 0 units must be a positive integer, got 0"),
    (("layers", 2, "config", "dropout", 0.5), "the output layer cannot have dropout"),
    (("layers", 0, "extra", 1), "layer 0 has the unknown key 'extra'"),
    (("layers", 1, "units", 6), "layer 1 has the unknown key 'units'"),
]


@pytest.mark.parametrize("change, match", TYPED_CASES, ids=[m for _, m in TYPED_CASES])
def test_malformed_version_2_record_is_a_value_error_naming_the_field(change, match):
    raw = _saved_bytes()
    record, _ = _parts(raw)
    with pytest.raises(
        ValueError, match=f"The file object is a damaged sknet Network file: {match}"
    ):
        Network.load(_with_record(raw, _changed(_typed(record), change)))
