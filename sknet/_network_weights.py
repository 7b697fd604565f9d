"""Where a network's arrays live, and reading and writing them.

:class:`_WeightsMixin` gives :class:`sknet.Network` its layers' parameters and
state on a backend (moved, or copied for one call), ``get_weights`` /
``set_weights`` and scikit-learn's array-API conversion hook. Every array is
read and replaced through the layer protocol.
"""

import copy

import numpy as np

from ._data import is_float32
from .backends import NUMPY, get_backend
from .layers import Dense

__all__ = []  # Network's machinery: its public names are Network's


def _get_parameters(layer):
    return layer.get_parameters()


def _set_parameters(layer, arrays):
    layer.set_parameters(arrays)


def _get_state(layer):
    return layer.get_state()


def _set_state(layer, arrays):
    layer.set_state(arrays)


# A layer's two kinds of arrays, each read and replaced through the protocol.
_ARRAYS = ((_get_parameters, _set_parameters), (_get_state, _set_state))


def _layer_arrays(layer):
    """A layer's parameters, then its state."""
    return [*layer.get_parameters(), *layer.get_state()]


class _WeightsMixin:
    """The network's arrays: where they live, copies out and values in."""

    def _to_backend(self, backend, dtype):
        """Move every layer's parameters to ``backend`` in ``dtype`` (a numpy dtype)."""
        target = backend.dtype(dtype)
        for layer in self.layers:
            for get, put in _ARRAYS:
                arrays = get(layer)
                if not all(backend.owns(a) and a.dtype == target for a in arrays):
                    put(layer, [backend.convert(a, target) for a in arrays])

    def _layers_on(self, backend, dtype):
        """The layers with their parameters in ``backend`` and ``dtype``: the
        layers themselves, or shallow copies holding converted parameters."""
        layers = []
        for layer in self.layers:
            copied = False
            for get, put in _ARRAYS:
                arrays = get(layer)
                if not all(backend.owns(a) and a.dtype == dtype for a in arrays):
                    if not copied:
                        layer, copied = copy.copy(layer), True
                    put(layer, [backend.convert(a, dtype) for a in arrays])
            layers.append(layer)
        return layers

    # -- parameters ---------------------------------------------------------

    def get_weights(self):
        """Return copies of every layer's arrays, in order.

        Each layer gives its parameters, then its non-trainable state (see
        :class:`sknet.Layer`); a :class:`Dense` layer gives its weights and
        bias.

        Returns
        -------
        list of arrays
            ``[W0, b0, W1, b1, ...]`` for Dense layers, in the library and on
            the device where they live.

        Examples
        --------
        >>> from sknet import Network
        >>> net = Network(3, random_state=0).add_layer(2)
        >>> [w.shape for w in net.get_weights()]
        [(3, 2), (2,)]
        """
        return [get_backend(a).copy(a) for layer in self.layers for a in _layer_arrays(layer)]

    def set_weights(self, weights):
        """Copy arrays, in the order of :meth:`get_weights`, into the layers.

        Parameters
        ----------
        weights : list of array-like
            As returned by :meth:`get_weights`.

        Examples
        --------
        >>> from sknet import Network
        >>> net = Network(3, random_state=0).add_layer(2)
        >>> saved = net.get_weights()
        >>> net.set_weights([w * 0 for w in saved])
        >>> float(net.layers[0].weights.sum())
        0.0
        """
        weights = list(weights)
        expected = sum(len(_layer_arrays(layer)) for layer in self.layers)
        if len(weights) != expected:
            what = (
                "weights and bias of each layer"
                if all(isinstance(layer, Dense) for layer in self.layers)
                else "the parameters and state of each layer"
            )
            raise ValueError(f"Expected {expected} arrays ({what}), got {len(weights)}.")
        new, position = [], 0
        for i, layer in enumerate(self.layers):
            names = (*layer.parameter_names, *layer.state_names)
            arrays = []
            for name, target in zip(names, _layer_arrays(layer), strict=True):
                value = weights[position]
                position += 1
                # The values move to where the layer's arrays live, as a copy
                # on every backend: changing the caller's array afterwards
                # must not change the network (torch on the CPU would share it).
                backend = get_backend(target)
                value = backend.convert(value, target.dtype, copy=not backend.in_place)
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"Layer {i} {name} must have shape {tuple(target.shape)}, "
                        f"got {tuple(value.shape)}."
                    )
                arrays.append(value)
            new.append(arrays)
        for layer, arrays in zip(self.layers, new, strict=True):
            n = len(layer.parameter_names)
            for (get, put), values in zip(_ARRAYS, (arrays[:n], arrays[n:]), strict=True):
                targets = get(layer)
                if all(get_backend(t).in_place for t in targets):
                    for target, value in zip(targets, values, strict=True):
                        target[...] = value
                else:
                    put(layer, values)

    def __sklearn_array_api_convert__(self, converter):
        """A copy of the network whose arrays ``converter`` moved to another library or device.

        scikit-learn's ``move_estimator_to(estimator, xp, device)`` calls this
        hook with its array converter. The copy is independent of this network
        (its parameters and optimizer state are never shared), and predicts,
        trains and saves where its parameters now live.

        Parameters
        ----------
        converter : callable
            Takes an array and returns it in the target namespace and device.

        Returns
        -------
        Network

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Network
        >>> net = Network(2, random_state=0).add_layer(1, "identity")
        >>> moved = net.__sklearn_array_api_convert__(np.asarray)
        >>> moved.layers[0].weights is net.layers[0].weights
        False
        """
        moved = copy.deepcopy(self)  # first: nothing the converter returns is shared

        def convert(array):
            array = converter(array)
            if isinstance(array, np.ndarray) and not array.flags.writeable:
                array = array.copy()  # numpy trains in place (DLPack may hand a read-only view)
            return array

        for layer in moved.layers:
            layer.release()
            for get, put in _ARRAYS:
                put(layer, [convert(a) for a in get(layer)])
        if moved._array_dtype() is not None and moved._dtype_name == "float64":
            # A device without float64 (scikit-learn then converts to float32).
            if is_float32(moved._array_dtype()):
                moved._dtype_name = "float32"
        optimizer = getattr(moved, "optimizer_", None)
        state = getattr(optimizer, "_state", None)
        if isinstance(state, tuple):  # the stochastic optimizers' moments
            optimizer._state = tuple(None if s is None else convert(s) for s in state)
        return moved

    def _set_dtype(self, dtype):
        self._to_backend(NUMPY, dtype)
