"""The model file's record: its format, the numbers it writes, and the checks that read it.

:mod:`sknet._model_file` writes and reads the file; this module says what a
valid record is (the keys, the versions, each layer's description, the
history and the random state) and checks the arrays' headers and values
against it. Every problem is an ``_Invalid`` naming what is wrong, which the
reader turns into one ``ValueError`` naming the file.

Examples
--------
>>> from sknet._model_file_record import _decode_number, _encode_number
>>> _encode_number(float("inf")), _decode_number("NaN")
('Infinity', nan)
"""

import math
import numbers

import numpy as np

from .activations import get_activation
from .layers import INITIALIZERS, LAYERS

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "READ_VERSIONS"]

FORMAT_NAME = "sknet.Network"
FORMAT_VERSION = 2
#: Every version this sknet reads; 1 is also written, for Dense layers alone.
READ_VERSIONS = (1, 2)
_KEYS = ("format", "version", "n_inputs", "dtype", "layers", "samples_seen", "rng_state", "history")
_LAYER_KEYS = ("units", "activation", "dropout", "init")
_TYPED_LAYER_KEYS = ("type", "config")
_PCG64_KEYS = ("bit_generator", "state", "has_uint32", "uinteger")


class _Invalid(Exception):
    """What is wrong with an architecture record or an array."""


# Standard JSON has no NaN or infinity (Python's json writes bare NaN, which
# other parsers reject). The model file writes them as these strings, the
# names JavaScript gives them, and reads them back as the floats they name.
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_number(value):
    """A finite number as a float; NaN and infinities by their names in _NON_FINITE."""
    if not _is_number(value):
        return value  # left for _check_history to refuse
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _decode_number(value):
    return _NON_FINITE[value] if isinstance(value, str) else float(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_keys(what, value, keys):
    if not isinstance(value, dict):
        raise _Invalid(f"{what} must be a JSON object, got {type(value).__name__}.")
    if missing := [key for key in keys if key not in value]:
        raise _Invalid(f"{what} has no {missing[0]!r}.")
    if extra := sorted(set(value) - set(keys), key=str):
        raise _Invalid(f"{what} has the unknown key {extra[0]!r}.")


def _check_record(record):
    """Check every field of an architecture record; raise _Invalid if one is wrong."""
    _check_keys("the architecture record", record, _KEYS)
    n_inputs = record["n_inputs"]
    if not _is_int(n_inputs) or n_inputs < 1:
        raise _Invalid(f"n_inputs must be a positive integer, got {n_inputs!r}.")
    if record["dtype"] not in (None, "float32", "float64"):
        raise _Invalid(f"dtype must be null, 'float32' or 'float64', got {record['dtype']!r}.")
    layers = record["layers"]
    if not isinstance(layers, list) or not layers:
        raise _Invalid("the architecture record must list at least one layer.")
    for i, spec in enumerate(layers):
        is_output = i == len(layers) - 1
        if record["version"] == 1:
            _check_layer(i, spec, is_output)
        else:
            _check_typed_layer(i, spec, is_output)
    seen = record["samples_seen"]
    if not _is_int(seen) or seen < 0:
        raise _Invalid(f"samples_seen must be a non-negative integer, got {seen!r}.")
    _check_history(record["history"])
    _check_rng_state(record["rng_state"])


def _check_layer(i, spec, is_output):
    _check_keys(f"layer {i}", spec, _LAYER_KEYS)
    units = spec["units"]
    if not _is_int(units) or units < 1:
        raise _Invalid(f"layer {i} units must be a positive integer, got {units!r}.")
    name = spec["activation"]
    if not isinstance(name, str):
        raise _Invalid(f"layer {i} activation must be a name, got {name!r}.")
    try:
        activation = get_activation(name)
    except ValueError as exc:
        raise _Invalid(f"layer {i}: {exc}") from None
    if activation.output_only and not is_output:
        raise _Invalid(
            f"layer {i} has the {name!r} activation, which can only be used on the output layer."
        )
    dropout = spec["dropout"]
    if not _is_number(dropout) or not 0 <= dropout < 1:
        raise _Invalid(f"layer {i} dropout must be in [0, 1), got {dropout!r}.")
    if dropout and is_output:
        raise _Invalid("the output layer cannot have dropout.")
    init = spec["init"]
    if not isinstance(init, str) or (init != "auto" and init not in INITIALIZERS):
        raise _Invalid(
            f"layer {i} init must be one of {['auto', *sorted(INITIALIZERS)]}, got {init!r}."
        )


def _check_typed_layer(i, spec, is_output):
    """A layer of a version-2 record: ``{"type": name, "config": {...}}``."""
    _check_keys(f"layer {i}", spec, _TYPED_LAYER_KEYS)
    type_name = spec["type"]
    if not isinstance(type_name, str):
        raise _Invalid(f"layer {i} type must be a name, got {type_name!r}.")
    if type_name not in LAYERS:
        raise _Invalid(
            f"layer {i} is of the layer type {type_name!r}, which is not registered in "
            f"sknet.layers.LAYERS (registered: {sorted(LAYERS)}). Register its class "
            "under that name before loading."
        )
    if type_name == "dense":
        _check_layer(i, spec["config"], is_output)
    elif not isinstance(spec["config"], dict):
        raise _Invalid(f"layer {i} config must be a JSON object, got {spec['config']!r}.")


def _check_history(history):
    _check_keys("history", history, ("loss", "val_loss"))
    for key in ("loss", "val_loss"):
        values = history[key]
        if not isinstance(values, list) or not all(
            _is_number(v) or (isinstance(v, str) and v in _NON_FINITE) for v in values
        ):
            raise _Invalid(
                f"history[{key!r}] must be a list of numbers (with non-finite values "
                f"written as {', '.join(map(repr, _NON_FINITE))})."
            )
    # Validation losses are recorded alongside training losses, never alone.
    if len(history["val_loss"]) > len(history["loss"]):
        raise _Invalid("history has more validation losses than training losses.")


def _check_rng_state(state):
    if state is None:
        return
    _check_keys("rng_state", state, _PCG64_KEYS)
    if state["bit_generator"] != "PCG64":
        raise _Invalid(f"rng_state must be a PCG64 state, got {state['bit_generator']!r}.")
    inner = state["state"]
    _check_keys("rng_state['state']", inner, ("state", "inc"))
    fields = {
        "state": (inner["state"], 2**128),
        "inc": (inner["inc"], 2**128),
        "has_uint32": (state["has_uint32"], 2),
        "uinteger": (state["uinteger"], 2**32),
    }
    for key, (value, end) in fields.items():
        if not _is_int(value) or not 0 <= value < end:
            raise _Invalid(f"rng_state {key} must be an integer in [0, {end}), got {value!r}.")
    if inner["inc"] % 2 == 0:
        # PCG64 always keeps an odd increment; an even one is no state it made.
        raise _Invalid("rng_state inc must be odd.")


def _check_arrays(record, plan, headers):
    """Check the shape and dtype of every array against a checked record's plan."""
    dtypes = set()
    for layer_plan in plan:
        for key, (i, kind, shape) in layer_plan["arrays"].items():
            if key not in headers:
                raise _Invalid(f"it has no array {key!r} (layer {i} {kind}).")
            got_shape, dtype = headers[key]
            if got_shape != shape:
                raise _Invalid(f"Layer {i} {kind} must have shape {shape}, got {got_shape}.")
            if dtype.kind != "f" or dtype.itemsize not in (4, 8) or dtype.fields is not None:
                raise _Invalid(f"Layer {i} {kind} must be float32 or float64, got {dtype}.")
            dtypes.add(dtype.newbyteorder("="))
    if len(dtypes) > 1:
        raise _Invalid(
            f"the layers' arrays must all have one dtype, got {sorted(d.name for d in dtypes)}."
        )
    if not dtypes:  # layers without arrays
        return
    (dtype,) = dtypes
    if record["dtype"] is not None and dtype != np.dtype(record["dtype"]):
        raise _Invalid(f"the network's dtype is {record['dtype']} but its arrays are {dtype}.")


def _check_values(arrays):
    for key, array in arrays.items():
        if not np.isfinite(array).all():
            raise _Invalid(f"{key!r} contains NaN or infinity.")
