"""The model file of :meth:`sknet.Network.save` and :meth:`sknet.Network.load`.

One ``.npz`` archive (uncompressed zip of ``.npy`` arrays): ``architecture``, a
JSON string describing the network, and each layer's arrays, named
``{name}_{i}`` after the layer's parameter and state names (``weights_i`` /
``bias_i`` for a Dense layer ``i``).

Two versions of the record exist, both read. Version 1 describes a network of
Dense layers, each by its ``units``, ``activation``, ``dropout`` and ``init``;
a network of Dense layers alone is still written as version 1, so that the
sknet before layer types could be added reads it too. Version 2 describes each
layer as ``{"type": name, "config": {...}}``: the name under which its class is
registered in :data:`sknet.layers.LAYERS`, and its ``get_config()``; it is
written when a network holds another layer type. The record is standard JSON: a
NaN or infinite training or validation loss in the history is written as the
string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` and read back as that
float. Writing is atomic. Reading checks the whole record, and the header
(shape and dtype) of every array against it, before anything the size of a
Dense layer is allocated, so a small malformed file cannot ask for gigabytes,
and every malformed file is reported as a ``ValueError`` naming the file.
Another layer type is built from its config first (its class, registered by
the user, says which arrays it has).
"""

import errno
import io
import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from ._atomic_write import write_atomically
from ._model_file_record import (
    FORMAT_NAME,
    FORMAT_VERSION,
    READ_VERSIONS,
    _check_arrays,
    _check_record,
    _check_values,
    _decode_number,
    _encode_number,
    _Invalid,
)
from .backends import to_numpy
from .layers import LAYERS, Dense, layer_type_name

__all__ = ["load_network", "save_network"]

# The header of an .npy member is a short dict literal; numpy's own default cap.
_MAX_HEADER = 10_000
# Errors that reading a malformed zip or .npy member can raise.
_DECODE_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    OSError,
    NotImplementedError,
    RuntimeError,  # an encrypted member
    struct.error,
)
# Deflate cannot expand data more than about 1032-fold.
_MAX_DEFLATE_RATIO = 1032


# -- writing ----------------------------------------------------------------------


def save_network(network, path):
    """Write ``network`` to ``path`` (a path or a writable binary file object).

    A path is written exactly as given (no extension is added), and
    atomically: the archive goes to a temporary file in the same folder, is
    flushed to disk, then replaces ``path`` in one step. If anything fails
    (a full disk, Ctrl-C), the temporary file is removed and a previous file
    at ``path`` is left as it was.

    Parameters
    ----------
    network : Network
    path : str, path-like or file object

    Raises
    ------
    ValueError
        If the network cannot be saved (unregistered activation, layers of
        different dtypes, non-finite weights, a malformed history).
    IsADirectoryError
        If ``path`` is a directory.
    OSError
        If writing fails; the error names ``path`` (never the temporary file).

    Examples
    --------
    >>> import io
    >>> from sknet import Network
    >>> from sknet import _model_file
    >>> buffer = io.BytesIO()
    >>> _model_file.save_network(Network(2, random_state=0).add_layer(1, "identity"), buffer)
    >>> buffer.getvalue()[:2]
    b'PK'
    """
    network._check_built()
    record = _record(network)
    arrays = {}
    for i, layer in enumerate(network.layers):
        names = (*layer.parameter_names, *layer.state_names)
        for name, array in zip(names, (*layer.get_parameters(), *layer.get_state()), strict=True):
            # Arrays trained on another library or device are written from the host.
            arrays[_array_key(name, i)] = np.ascontiguousarray(to_numpy(array))
    # What is written can be read back: the checks of load, before writing.
    try:
        _check_record(record)
        plan = _plan(record, network.layers)
        _check_arrays(record, plan, {key: (a.shape, a.dtype) for key, a in arrays.items()})
        _check_values(arrays)
    except _Invalid as exc:
        raise ValueError(f"Cannot save this network: {exc}") from None
    # numpy scalars in a user-edited record are written as the numbers they
    # are; allow_nan=False guarantees standard JSON (non-finite history
    # values are already strings, see _encode_number).
    try:
        text = json.dumps(record, default=float, allow_nan=False)
    except (TypeError, ValueError) as exc:  # a user layer's config
        raise ValueError(f"Cannot save this network: its record is not JSON ({exc}).") from None
    arrays = {"architecture": np.array(text), **arrays}
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    write_atomically(os.fspath(path), arrays)


def _array_key(name, i):
    return f"{name}_{i}"


def _record(network):
    # Dense layers alone keep the record of version 1 (the sknet before
    # layer types reads it); any other layer type needs version 2.
    version = 1 if all(type(layer) is Dense for layer in network.layers) else FORMAT_VERSION
    layers = []
    for i, layer in enumerate(network.layers):
        type_name = layer_type_name(layer)
        if type_name is None:
            raise ValueError(
                f"Cannot save layer {i}, a {type(layer).__name__}: its class is not "
                "registered in sknet.layers.LAYERS, so load could not build it again. "
                f"Register it (sknet.layers.LAYERS['{type(layer).__name__.lower()}'] = "
                f"{type(layer).__name__}) and give it get_config() and from_config()."
            )
        try:
            config = layer.get_config()
        except NotImplementedError as exc:
            raise ValueError(f"Cannot save layer {i}: {exc}") from None
        layers.append(config if version == 1 else {"type": type_name, "config": config})
    state = network._rng.bit_generator.state
    return {
        "format": FORMAT_NAME,
        "version": version,
        "n_inputs": network.n_inputs,
        "dtype": None if network.dtype is None else network.dtype.name,
        "layers": layers,
        "samples_seen": network.samples_seen_,
        # PCG64's state is plain ints; other bit generators hold arrays, which
        # JSON cannot store. Those are not saved (a loaded network gets a fresh one).
        "rng_state": state if state.get("bit_generator") == "PCG64" else None,
        "history": _encode_history(network.history_),
    }


def _encode_history(history):
    if not isinstance(history, dict):
        return history
    return {
        key: [_encode_number(v) for v in values] if isinstance(values, list) else values
        for key, values in history.items()
    }


# -- reading ----------------------------------------------------------------------


def load_network(cls, path):
    """Read the network at ``path`` (a path or a readable binary file object).

    Parameters
    ----------
    cls : type
        The network class to build (:class:`sknet.Network`).
    path : str, path-like or file object
        A file object is read from its current position; one that cannot
        seek (a pipe, a socket) is read whole into memory first.

    Returns
    -------
    Network

    Raises
    ------
    ValueError
        If the file is not an sknet network file, is damaged, or has an
        unknown format version.
    FileNotFoundError, IsADirectoryError
        If ``path`` does not exist or is a directory.

    Examples
    --------
    >>> import io
    >>> from sknet import Network
    >>> from sknet import _model_file
    >>> buffer = io.BytesIO()
    >>> Network(2, random_state=0).add_layer(1, "identity").save(buffer)
    >>> _model_file.load_network(Network, io.BytesIO(buffer.getvalue()))
    Network(n_inputs=2, layers=[1 identity])
    """
    name = _describe(path)
    if hasattr(path, "read"):
        return _read(cls, path, name)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            errno.EISDIR, "Cannot load a network: this is a directory, not a model file", path
        )
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, "Cannot load a network: there is no such file", path
        ) from None
    with file:
        return _read(cls, file, name)


def _describe(path):
    if isinstance(path, (str, bytes, os.PathLike)):
        return repr(os.fspath(path))
    name = getattr(path, "name", None)
    return repr(name) if isinstance(name, str) else "The file object"


def _read(cls, file, name):
    def damaged(what):
        return ValueError(f"{name} is a damaged sknet Network file: {what}")

    file = _seekable(file, name)
    try:
        start = file.tell()
        size = file.seek(0, os.SEEK_END)
        file.seek(start)
        archive = zipfile.ZipFile(file)
    except _DECODE_ERRORS as exc:
        raise ValueError(
            f"{name} is not an sknet Network file: it cannot be read as an .npz "
            f"archive; it may be corrupt or truncated ({exc})."
        ) from None
    with archive:
        members = {}
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if key in members or key == info.filename:
                raise damaged(f"unexpected archive member {info.filename!r}.")
            members[key] = info
        record = _read_record(archive, members, size, name)
        try:
            plan = _plan(record)
            expected = {key for layer_plan in plan for key in layer_plan["arrays"]}
            if extra := sorted(set(members) - expected - {"architecture"}):
                raise _Invalid(f"unexpected array {extra[0]!r}.")
            if missing := sorted(expected - set(members)):
                raise _Invalid(f"it has no array {missing[0]!r}.")
            headers = {key: _read_header(archive, members[key], size) for key in expected}
            _check_arrays(record, plan, headers)
            # Only now, with every shape known to match the record, read the arrays.
            arrays = {key: _read_array(archive, members[key]) for key in sorted(expected)}
            _check_values(arrays)
        except _Invalid as exc:
            raise damaged(exc) from None
        except _DECODE_ERRORS as exc:
            raise damaged(f"an array cannot be read ({exc}).") from None
    return _build(cls, record, plan, arrays)


def _seekable(file, name):
    """``file``, or its remaining bytes in memory when it cannot seek.

    A zip archive is read from its end (the central directory) back, so a
    pipe, a socket or any stream without ``seek`` is read whole first.
    """
    if isinstance(file, io.TextIOBase):
        raise ValueError(f"{name} is open in text mode: open the model file in binary mode ('rb').")
    try:
        seekable = file.seekable() if hasattr(file, "seekable") else True
        if seekable:
            file.tell()
            return file
    except (AttributeError, OSError, ValueError):
        pass  # io.UnsupportedOperation is both an OSError and a ValueError
    data = file.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(
            f"{name} gave {type(data).__name__} data, not bytes: open the model file "
            "in binary mode ('rb')."
        )
    return io.BytesIO(data)


def _read_header(archive, info, archive_size):
    """Return the ``(shape, dtype)`` of an ``.npy`` member, checking its size."""
    what = repr(info.filename)
    if info.flag_bits & 0x1:
        raise _Invalid(f"{what} is encrypted.")
    # The sizes in the zip directory are claims: bound them by the archive's
    # own size, so that no header can make load allocate more than that.
    if info.compress_type == zipfile.ZIP_STORED:
        limit = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        limit = _MAX_DEFLATE_RATIO * info.compress_size + 64
    else:
        raise _Invalid(f"{what} is compressed with a method sknet does not read.")
    if info.compress_size > archive_size or info.file_size > limit:
        raise _Invalid(f"{what} declares more data than the archive holds.")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member, _MAX_HEADER)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member, _MAX_HEADER)
        else:
            raise _Invalid(f"{what} has the unsupported .npy format version {version}.")
        offset = member.tell()
    if any(n < 0 for n in shape):
        raise _Invalid(f"{what} declares the negative shape {shape}.")
    # The data must fill the member exactly.
    if offset + math.prod(shape) * dtype.itemsize != info.file_size:
        raise _Invalid(
            f"{what} declares shape {shape} of {dtype} but holds "
            f"{info.file_size - offset} bytes of data."
        )
    return tuple(shape), dtype


def _read_array(archive, info):
    with archive.open(info) as member:
        array = np.lib.format.read_array(member, allow_pickle=False)
        # Reading to the end makes zipfile check the CRC.
        if member.read(1):
            raise ValueError(f"{info.filename!r} has data past its array")
    return array


def _read_record(archive, members, archive_size, name):
    """Return the architecture record, checked; raise ValueError if it is not one."""
    no_record = ValueError(
        f"{name} is not an sknet Network file: it holds no sknet architecture record."
    )
    if "architecture" not in members:
        raise no_record
    info = members["architecture"]
    try:
        shape, dtype = _read_header(archive, info, archive_size)
        is_text = shape == () and dtype.kind == "U"
        text = str(_read_array(archive, info)[()]) if is_text else None
    except _DECODE_ERRORS as exc:
        raise ValueError(
            f"{name} is a damaged sknet Network file: its architecture record cannot "
            f"be read ({exc})."
        ) from None
    except _Invalid as exc:
        raise ValueError(f"{name} is a damaged sknet Network file: {exc}") from None
    if text is None:
        raise no_record
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        raise no_record from None
    if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
        raise no_record
    version = record.get("version")
    if version not in READ_VERSIONS or isinstance(version, bool):
        readable = " or ".join(map(str, READ_VERSIONS))
        raise ValueError(
            f"{name} has sknet Network format version {version!r}; this sknet reads "
            f"version {readable}. Load it with the sknet that wrote it."
        )
    try:
        _check_record(record)
    except _Invalid as exc:
        raise ValueError(f"{name} is a damaged sknet Network file: {exc}") from None
    return record


def _plan(record, layers=None):
    """Per layer: its type, its config, the layer when already built, and its arrays.

    ``arrays`` maps each array's key to ``(layer index, name, shape)``. The
    shapes of Dense layers follow from the (checked) record alone, so that
    nothing the size of a layer is allocated before the file is checked.
    Another layer type is built from its config (or taken from ``layers``
    when saving) to learn the names and shapes of its arrays.
    """
    plan = []
    n_in = record["n_inputs"]
    for i, spec in enumerate(record["layers"]):
        if record["version"] == 1:
            type_name, config = "dense", spec
        else:
            type_name, config = spec["type"], spec["config"]
        layer = None if layers is None else layers[i]
        if type_name == "dense" and (layer is None or type(layer) is Dense):
            units = config["units"]
            shapes = {"weights": (n_in, units), "bias": (units,)}
        else:
            if layer is None:
                try:
                    layer = LAYERS[type_name].from_config(
                        config, n_in, rng=np.random.default_rng(0)
                    )
                except Exception as exc:  # a user layer's own check
                    raise _Invalid(
                        f"layer {i} ({type_name!r}) cannot be built from its config: {exc}"
                    ) from None
            if layer.n_inputs != n_in:
                raise _Invalid(f"layer {i} takes {layer.n_inputs} inputs, not {n_in}.")
            names = (*layer.parameter_names, *layer.state_names)
            if not all(isinstance(n, str) and n.isidentifier() for n in names) or len(
                set(names)
            ) != len(names):
                raise _Invalid(f"layer {i} names its arrays {names}: not distinct identifiers.")
            arrays = (*layer.get_parameters(), *layer.get_state())
            shapes = {n: tuple(a.shape) for n, a in zip(names, arrays, strict=True)}
            units = layer.units
        plan.append(
            {
                "type": type_name,
                "config": config,
                "layer": layer if type_name != "dense" else None,
                "arrays": {_array_key(name, i): (i, name, shape) for name, shape in shapes.items()},
            }
        )
        n_in = units
    return plan


def _build(cls, record, plan, arrays):
    net = cls(record["n_inputs"], dtype=record["dtype"])
    for layer_plan in plan:
        config = layer_plan["config"]
        if layer_plan["type"] == "dense":
            net.add_layer(config["units"], config["activation"], config["dropout"], config["init"])
        else:
            net.add(layer_plan["layer"])
    for i, layer in enumerate(net.layers):
        layer.set_parameters([_native(arrays[_array_key(n, i)]) for n in layer.parameter_names])
        layer.set_state([_native(arrays[_array_key(n, i)]) for n in layer.state_names])
    net.samples_seen_ = record["samples_seen"]
    history = record["history"]
    net.history_ = {key: [_decode_number(v) for v in history[key]] for key in ("loss", "val_loss")}
    if record["rng_state"] is not None:
        net._rng.bit_generator.state = record["rng_state"]
    return net


def _native(array):
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
