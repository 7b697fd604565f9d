"""What keeps a fit from losing or mangling anything, for the two estimators.

* :func:`restores_on_error`: a fit that raises leaves the estimator as it was;
* :func:`memory_limit`: how much memory the machine lets this process use;
* :class:`LayerArrays`: ``coefs_`` and ``intercepts_`` that check what is
  assigned to them and write it into the network, wherever its weights live,
  through the layer protocol;
* :class:`if_partial_fit_possible`: ``partial_fit`` offered only where it can run.

These are the estimators' machinery, kept apart from ``_base`` for size; they
import nothing of scikit-learn.

>>> from sknet._safeguards import memory_limit
>>> limit = memory_limit()
>>> limit is None or limit > 0
True
"""

import functools
import os
import types

import numpy as np

from .backends import get_backend, to_numpy

__all__ = []  # the estimators' private machinery: no public names

#: The solvers that train one epoch at a time (and so offer ``partial_fit``).
STOCHASTIC_SOLVERS = ("sgd", "adam")


class PartialFitWithEarlyStopping(AttributeError, ValueError):
    """``partial_fit`` with ``early_stopping=True``.

    A ``ValueError`` with MLP's message, as MLP raises (so code catching it
    keeps working), and an ``AttributeError``, so that ``hasattr(estimator,
    "partial_fit")`` is False: scikit-learn's checks and meta-estimators then
    do not call a method that cannot run.
    """


def check_partial_fit(estimator):
    """Offer ``partial_fit`` only where one epoch at a time makes sense."""
    if estimator.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for the stochastic solvers 'sgd' and 'adam', "
            f"not solver={estimator.solver!r}."
        )
    if estimator.early_stopping:
        raise PartialFitWithEarlyStopping(
            "partial_fit does not support early_stopping=True: early stopping needs "
            "the whole training run. Set early_stopping=False, or use fit."
        )
    return True


class if_partial_fit_possible:
    """Like scikit-learn's ``available_if(check_partial_fit)``, but its error is
    raised as it is (``available_if`` turns every error into an AttributeError)."""

    def __init__(self, method):
        self.method = method
        functools.update_wrapper(self, method)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.method
        check_partial_fit(obj)
        return types.MethodType(self.method, obj)


def restores_on_error(fit):
    """Leave the estimator as it was before a ``fit`` that raises.

    A failed refit keeps the previous model whole (``classes_``, the network
    and the curves all from one fit). The exception is what training already
    did and the fit marked to keep (``_keep_after_error``): the epochs before
    a Ctrl-C, or those of a warm start, which continues the network in place.

    A shallow copy suffices: a fresh fit makes new objects (network, curves),
    and a warm one changes the fitted objects only once training has begun.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = dict(vars(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            if not vars(self).pop("_keep_after_error", False):
                vars(self).clear()
                vars(self).update(before)
            raise

    return wrapper


def memory_limit():
    """The bytes of memory this process may use, or None when unknown.

    The physical memory, or a container's (cgroup's) limit when lower.
    """
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as file:
                text = file.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    limits = [limit for limit in limits if limit > 0]
    return min(limits) if limits else None


def training_bytes(layers, rows, itemsize, per_param):
    """The parameters of ``layers`` and the bytes of memory a fit of them needs.

    ``layers`` give ``n_params`` and ``units`` (the layer protocol; layers not
    built yet can be described by those two numbers alone). Each parameter
    takes ``per_param`` bytes (its copies in the parameter store, gradient and
    optimizer state); each of ``rows`` rows, five values per output unit (the
    pre-activation, activation, delta and dropout buffers).

    >>> from types import SimpleNamespace
    >>> from sknet._safeguards import training_bytes
    >>> training_bytes([SimpleNamespace(n_params=8, units=2)], rows=10, itemsize=8, per_param=48)
    (8, 1184)
    """
    n_params = sum(layer.n_params for layer in layers)
    n_units = sum(layer.units for layer in layers)
    return n_params, n_params * per_param + rows * n_units * 5 * itemsize


def checked_layer_array(name, index, value, target):
    """``value`` as the ``index``-th array of ``coefs_`` or ``intercepts_``, checked."""
    value = np.asarray(to_numpy(value))  # checked on the host, whatever its library
    if value.dtype.kind not in "iuf":
        raise ValueError(f"{name}[{index}] must hold real numbers, got dtype {value.dtype}.")
    shape = tuple(target.shape)
    if value.shape != shape:
        raise ValueError(
            f"{name}[{index}] must have shape {shape}, the shape of layer {index}, "
            f"got {value.shape}."
        )
    dtype = np.dtype(np.float32 if str(target.dtype).endswith("float32") else np.float64)
    with np.errstate(over="ignore"):
        value = value.astype(dtype, copy=False)
    if not np.isfinite(value).all():
        raise ValueError(
            f"{name}[{index}] contains NaN or infinity (or values beyond the range of "
            f"the network's dtype, {target.dtype})."
        )
    return value


def layer_parameter(layer, parameter):
    """The parameter named ``parameter`` of ``layer``, read through the layer protocol."""
    return layer.get_parameters()[layer.parameter_names.index(parameter)]


def write_layer_array(layer, parameter, value):
    """Write checked host values into a layer's parameter (by name), wherever it lives."""
    parameters = list(layer.get_parameters())
    slot = layer.parameter_names.index(parameter)
    target = parameters[slot]
    backend = get_backend(target)
    if backend.in_place:
        target[...] = value
    else:  # arrays of the array API are replaced, not written into
        # A copy: torch on the CPU and array_api_strict would otherwise wrap
        # the caller's memory, and a later change to it would reach the model.
        parameters[slot] = backend.convert(value, target.dtype, copy=True)
        layer.set_parameters(parameters)
    return layer.get_parameters()[slot]


class LayerArrays(list):
    """``coefs_`` or ``intercepts_``: assigning an item writes into its layer, as on MLP.

    ``parameter`` names the layers' parameter it lists (``"weights"`` or
    ``"bias"`` of Dense layers), read and written through the layer protocol.
    """

    def __init__(self, name, layers, parameter):
        super().__init__(layer_parameter(layer, parameter) for layer in layers)
        self._name, self._layers, self._attribute = name, layers, parameter

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            indices = range(len(self))[index]
            values = list(value)
            if len(values) != len(indices):
                raise ValueError(
                    f"{self._name} has one array per layer: {len(indices)} layer(s) in the "
                    f"slice, got {len(values)} array(s)."
                )
        else:
            indices, values = [range(len(self))[index]], [value]
        targets = [layer_parameter(self._layers[i], self._attribute) for i in indices]
        checked = [
            checked_layer_array(self._name, i, v, t)
            for i, v, t in zip(indices, values, targets, strict=True)
        ]
        for i, value in zip(indices, checked, strict=True):
            super().__setitem__(i, write_layer_array(self._layers[i], self._attribute, value))

    def _fixed(self, *args, **kwargs):
        raise TypeError(
            f"{self._name} has one array per layer; its length is fixed by "
            "hidden_layer_sizes. Assign arrays to its items instead."
        )

    __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = _fixed
    clear = sort = reverse = _fixed
