"""The text table of :meth:`sknet.Network.summary` (and the estimators').

One row per layer (its type, output shape, activation, dropout rate and
parameter count), then the totals: trainable and non-trainable parameters
and the memory they take. Everything is read through the layer protocol
(``get_parameters()``, and ``get_state()`` where a layer keeps non-trainable
state), so a layer type defined outside the package is counted too.
"""

import numpy as np

from ._data import is_float32

__all__ = []


def _size(array):
    """The number of elements of an array of any library."""
    return int(np.prod(tuple(array.shape), dtype=np.int64))


def _itemsize(array):
    """Bytes per element of an array of any library (float32 or float64)."""
    itemsize = getattr(array.dtype, "itemsize", None)
    if isinstance(itemsize, int):
        return itemsize
    return 4 if is_float32(array.dtype) else 8


def _state_arrays(layer):
    """A layer's non-trainable arrays: ``get_state()`` as a dict or a list."""
    get_state = getattr(layer, "get_state", None)
    if get_state is None:
        return []
    state = get_state()
    values = state.values() if isinstance(state, dict) else state
    return [value for value in values if hasattr(value, "shape")]


def human_bytes(n_bytes):
    """``n_bytes`` with a binary unit, as Keras writes memory sizes.

    Examples
    --------
    >>> from sknet._summary import human_bytes
    >>> human_bytes(512), human_bytes(2048), human_bytes(3 * 2**20)
    ('512 B', '2.00 KiB', '3.00 MiB')
    """
    if n_bytes < 1024:
        return f"{n_bytes} B"
    for unit in ("KiB", "MiB", "GiB"):
        n_bytes /= 1024
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.2f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def layer_rows(network):
    """One dict per layer: name, output shape, activation, dropout, counts, bytes.

    Parameters
    ----------
    network : Network

    Returns
    -------
    list of dict
        Keys ``layer``, ``output_shape``, ``activation``, ``dropout``,
        ``trainable`` and ``non_trainable`` (element counts), and
        ``trainable_bytes`` and ``non_trainable_bytes``.

    Examples
    --------
    >>> from sknet import Network
    >>> from sknet._summary import layer_rows
    >>> net = Network(4, random_state=0).add_layer(3).add_layer(1, "identity")
    >>> [(row["layer"], row["trainable"]) for row in layer_rows(net)]
    [('dense (Dense)', 15), ('dense_1 (Dense)', 4)]
    """
    rows, seen = [], {}
    for layer in network.layers:
        kind = type(layer).__name__
        # Keras' naming: the first dense layer is "dense", then "dense_1", ...
        base = kind.lower()
        count = seen.get(base, 0)
        seen[base] = count + 1
        parameters = list(layer.get_parameters())
        state = _state_arrays(layer)
        # A frozen layer (``trainable = False``) still holds its parameters;
        # they count as non-trainable, as in Keras.
        if getattr(layer, "trainable", True):
            trainable, non_trainable = parameters, state
        else:
            trainable, non_trainable = [], parameters + state
        units = getattr(layer, "units", None)
        activation = getattr(getattr(layer, "activation", None), "name", None)
        dropout = float(getattr(layer, "dropout", 0.0) or 0.0)
        rows.append(
            {
                "layer": f"{base if count == 0 else f'{base}_{count}'} ({kind})",
                "output_shape": "?" if units is None else f"(None, {units})",
                "activation": activation or "-",
                "dropout": f"{dropout:g}" if dropout else "-",
                "trainable": sum(_size(a) for a in trainable),
                "non_trainable": sum(_size(a) for a in non_trainable),
                "trainable_bytes": sum(_size(a) * _itemsize(a) for a in trainable),
                "non_trainable_bytes": sum(_size(a) * _itemsize(a) for a in non_trainable),
            }
        )
    return rows


def summary_table(network, title=None):
    """The text table of a network's layers and parameter counts.

    Parameters
    ----------
    network : Network
    title : str, optional
        The first line; by default the number of input features.

    Returns
    -------
    str

    Examples
    --------
    >>> from sknet import Network
    >>> from sknet._summary import summary_table
    >>> net = Network(4, random_state=0).add_layer(3).add_layer(1, "identity")
    >>> print(summary_table(net, title="A tiny network"))
    A tiny network
    ==================================================================
    Layer (type)      Output shape   Activation   Dropout       Params
    ------------------------------------------------------------------
    dense (Dense)     (None, 3)      relu         -                 15
    dense_1 (Dense)   (None, 1)      identity     -                  4
    ==================================================================
    Total params: 19 (152 B)
    Trainable params: 19 (152 B)
    Non-trainable params: 0 (0 B)
    """
    rows = layer_rows(network)
    header = ("Layer (type)", "Output shape", "Activation", "Dropout", "Params")
    cells = [
        (
            row["layer"],
            row["output_shape"],
            row["activation"],
            row["dropout"],
            f"{row['trainable'] + row['non_trainable']:,}",
        )
        for row in rows
    ]
    minimum = (14, 12, 10, 7, 10)
    widths = [
        max(minimum[i], *(len(line[i]) for line in [header, *cells])) for i in range(len(header))
    ]

    def line(values):
        # Text left-aligned, the counts right-aligned under "Params".
        text = [v.ljust(w) for v, w in zip(values[:-1], widths[:-1], strict=True)]
        return "   ".join([*text, values[-1].rjust(widths[-1])])

    width = len(line(header))
    trainable = sum(row["trainable"] for row in rows)
    non_trainable = sum(row["non_trainable"] for row in rows)
    trainable_bytes = sum(row["trainable_bytes"] for row in rows)
    non_trainable_bytes = sum(row["non_trainable_bytes"] for row in rows)
    if title is None:
        title = f"Network: {network.n_inputs} input features"
    return "\n".join(
        [
            title,
            "=" * width,
            line(header),
            "-" * width,
            *(line(cell) for cell in cells),
            "=" * width,
            f"Total params: {trainable + non_trainable:,} "
            f"({human_bytes(trainable_bytes + non_trainable_bytes)})",
            f"Trainable params: {trainable:,} ({human_bytes(trainable_bytes)})",
            f"Non-trainable params: {non_trainable:,} ({human_bytes(non_trainable_bytes)})",
        ]
    )
