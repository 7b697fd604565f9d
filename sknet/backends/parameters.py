"""Where the parameters of a network live while it trains.

Every parameter of every layer sits in one flat vector, penalised ones (the
weight matrices) first, so that an optimizer updates all layers with a few
vectorised operations, the L2 penalty reads one contiguous prefix, and L-BFGS
needs no packing. Layers see their parameters through
``layer.set_parameters``.

Two stores, one per kind of backend:

* :class:`FlatParameters` (numpy): the layers' parameters are views into the
  flat vector, and a second vector holds the previous step. An optimizer
  writes the new step into the second vector and the two swap, so the last
  good parameters are kept without a copy and an update interrupted half-way
  never shows.
* :class:`DeviceParameters` (array API): arrays are never written in place;
  each step makes a new flat vector and the layers get fresh slices of it.
  The previous vector stays whole for as long as it is referenced, which
  gives the fallback of an epoch for free.
"""

import inspect
import weakref

import numpy as np

__all__ = ["DeviceParameters", "FlatParameters", "ParameterStore", "writes_out"]


def writes_out(optimizer):
    """Whether ``optimizer.step`` takes ``out=``.

    Asked once per step function: ``inspect.signature`` costs about as much
    as a small training step.

    Examples
    --------
    >>> from sknet import Adam
    >>> from sknet.backends.parameters import writes_out
    >>> writes_out(Adam())
    True
    """
    step = optimizer.step
    function = getattr(step, "__func__", step)
    try:
        return _WRITES_OUT[function]
    except (KeyError, TypeError):
        writes = "out" in inspect.signature(step).parameters
    try:
        _WRITES_OUT[function] = writes
    except TypeError:  # not weakly referenceable: ask every time
        pass
    return writes


_WRITES_OUT = weakref.WeakKeyDictionary()


def _layout(layers):
    """``(layer, slot, size, shape)`` for every parameter, penalised ones first."""
    entries = [
        (i, slot, penalized, array.shape)
        for i, layer in enumerate(layers)
        for slot, (array, penalized) in enumerate(
            zip(layer.get_parameters(), layer.penalized, strict=True)
        )
    ]
    entries.sort(key=lambda entry: not entry[2])  # stable: layer order kept
    offsets, start = {}, 0
    for i, slot, _, shape in entries:
        size = int(np.prod(shape, dtype=np.int64))
        offsets[i, slot] = (start, start + size, shape)
        start += size
    n_penalized = sum(
        int(np.prod(shape, dtype=np.int64)) for _, _, penalized, shape in entries if penalized
    )
    return offsets, start, n_penalized


class ParameterStore:
    """The interface of a parameter store: what the training loop asks of it.

    Attributes
    ----------
    params : array
        The flat parameter vector, penalised parameters first.
    grad : array
        The flat gradient of the last batch, in the same layout.
    n_penalized : int
        The length of the penalised prefix.
    penalized : slice
        Where the penalised parameters are in :attr:`params` (and
        :attr:`grad`): ``slice(0, n_penalized)``. :meth:`tell` hands it to an
        optimizer.

    Examples
    --------
    >>> from sknet.backends.parameters import FlatParameters, ParameterStore
    >>> issubclass(FlatParameters, ParameterStore)
    True
    """

    #: What :meth:`fall_back` returns to: the parameters before the last
    #: "step", or those at the start of the "epoch".
    fallback = "step"

    @property
    def penalized(self):
        """Where the penalised parameters are in :attr:`params`: ``slice(0, n_penalized)``."""
        return slice(0, self.n_penalized)

    def tell(self, optimizer):
        """Tell ``optimizer`` which parameters are penalised, if it asks.

        An optimizer that defines ``set_penalized(index)`` receives
        :attr:`penalized` (so that decoupled weight decay, for one, can skip
        the biases); others are left as they are.
        """
        set_penalized = getattr(optimizer, "set_penalized", None)
        if callable(set_penalized):
            set_penalized(self.penalized)

    def point_layers(self):
        """Make every layer's parameters those of :attr:`params`."""
        raise NotImplementedError

    def assign(self, vector):
        """Make ``vector`` (same layout, same place) the parameters."""
        raise NotImplementedError

    def gradient_slots(self, i):
        """Where layer ``i`` writes its parameter gradients (arrays, or Nones)."""
        raise NotImplementedError

    def penalty(self, backend):
        """The sum of squares of the penalised parameters."""
        raise NotImplementedError

    def collect_gradients(self, gradients, decay):
        """Gather the layers' gradients into :attr:`grad`, adding ``decay * weights``."""
        raise NotImplementedError

    def begin(self):
        """Before the first step of a fit."""
        raise NotImplementedError

    def begin_epoch(self):
        """At the start of an epoch: keep what :meth:`fall_back` needs."""
        raise NotImplementedError

    def step(self, optimizer):
        """Apply one optimizer step to :attr:`params`; the change shows all at once."""
        raise NotImplementedError

    def fall_back(self):
        """Return to the last parameters known to be finite."""
        raise NotImplementedError

    def to_host(self):
        """The parameters as a float64 numpy vector (for scipy)."""
        raise NotImplementedError

    def gradient_to_host(self):
        """The gradient as a float64 numpy vector (for scipy)."""
        raise NotImplementedError

    def set_from_host(self, vector):
        """Set the parameters from a numpy vector."""
        raise NotImplementedError


class FlatParameters(ParameterStore):
    """numpy: one flat vector, layers holding views into it, and a spare for the next step.

    Parameters
    ----------
    layers : list of layers
    dtype : numpy dtype
    backend : NumpyBackend
        Its ``optimizer_step`` writes each new step into the spare vector.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Network
    >>> from sknet.backends.parameters import FlatParameters
    >>> from sknet.backends import NUMPY
    >>> net = Network(2, random_state=0).add_layer(1, "identity")
    >>> store = FlatParameters(net.layers, np.dtype("float64"), NUMPY)
    >>> store.params.size, store.n_penalized  # two weights, then one bias
    (3, 2)
    >>> bool(np.shares_memory(net.layers[0].weights, store.params))
    True
    """

    def __init__(self, layers, dtype, backend):
        self.layers = layers
        self.backend = backend
        offsets, total, self.n_penalized = _layout(layers)
        self.params = np.empty(total, dtype=dtype)
        self.previous = np.empty(total, dtype=dtype)
        self.grad = np.empty(total, dtype=dtype)

        def views(flat):
            return [
                [
                    flat[offsets[i, slot][0] : offsets[i, slot][1]].reshape(offsets[i, slot][2])
                    for slot in range(len(layer.penalized))
                ]
                for i, layer in enumerate(layers)
            ]

        self._views = {id(self.params): views(self.params), id(self.previous): views(self.previous)}
        self._grad_views = views(self.grad)
        # The layers whose gradients may come back as new arrays (Dense writes
        # into its slots: nothing to check per step).
        self._copied = [
            i for i, layer in enumerate(layers) if not getattr(layer, "fills_slots", False)
        ]
        for layer, slots in zip(layers, self._views[id(self.params)], strict=True):
            for slot, array in zip(slots, layer.get_parameters(), strict=True):
                slot[...] = array
        self.point_layers()

    def point_layers(self):
        """Make every layer's parameters views into ``self.params``."""
        for layer, slots in zip(self.layers, self._views[id(self.params)], strict=True):
            layer.set_parameters(slots)

    def assign(self, vector):
        """Copy ``vector`` into the parameters (the layers' views see it)."""
        np.copyto(self.params, vector)

    def gradient_slots(self, i):
        """Where layer ``i`` writes its parameter gradients."""
        return self._grad_views[i]

    def penalty(self, backend):
        """The sum of squares of the penalised parameters."""
        weights = self.params[: self.n_penalized]
        return float(np.dot(weights, weights))

    def collect_gradients(self, gradients, decay):
        """Gather the layers' gradients and add ``decay * weights``.

        Dense layers write theirs into the slots of :meth:`gradient_slots`; a
        layer may return new arrays instead, which are copied in.
        """
        for i in self._copied:
            for array, slot in zip(gradients[i], self._grad_views[i], strict=True):
                if array is not slot:
                    slot[...] = array
        if decay:
            # The previous parameters are overwritten by the coming step, so
            # their array serves as scratch.
            scratch = self.previous[: self.n_penalized]
            np.multiply(self.params[: self.n_penalized], decay, out=scratch)
            self.grad[: self.n_penalized] += scratch
        return self.grad

    def begin(self):
        """Before the first step: the spare vector is the fallback."""
        np.copyto(self.previous, self.params)

    def begin_epoch(self):
        """The numpy loop checks every batch: nothing to keep per epoch."""

    def step(self, optimizer):
        """Apply one optimizer step, writing the new parameters into the spare vector."""
        self.backend.optimizer_step(optimizer, self.params, self.grad, self.previous)
        self._swap()

    def _swap(self):
        # One statement: Ctrl-C cannot fall between the two assignments.
        self.params, self.previous = self.previous, self.params
        self.point_layers()

    def fall_back(self):
        """Return to the parameters before the last step."""
        self._swap()

    def to_host(self):
        """The parameters as a float64 numpy vector (for scipy)."""
        return self.params.astype(np.float64)

    def gradient_to_host(self):
        return self.grad.astype(np.float64)

    def set_from_host(self, vector):
        """Copy a numpy vector into the parameters."""
        np.copyto(self.params, vector, casting="same_kind")


class DeviceParameters(ParameterStore):
    """Array API: a flat vector replaced (not written) by every step.

    Parameters
    ----------
    layers : list of layers
    dtype : dtype of the namespace
    backend : ArrayAPIBackend

    Examples
    --------
    >>> import array_api_strict as xps
    >>> from sknet import Network
    >>> from sknet.backends import get_backend
    >>> from sknet.backends.parameters import DeviceParameters
    >>> net = Network(2, random_state=0).add_layer(1, "identity")
    >>> backend = get_backend(xps.ones(1))
    >>> store = DeviceParameters(net.layers, xps.float64, backend)
    >>> store.params.shape, type(net.layers[0].weights).__module__.split(".")[0]
    ((3,), 'array_api_strict')
    """

    fallback = "epoch"

    def __init__(self, layers, dtype, backend):
        self.layers = layers
        self.backend = backend
        self.dtype = dtype
        self._offsets, total, self.n_penalized = _layout(layers)
        xp = backend.xp
        order = sorted(self._offsets, key=lambda key: self._offsets[key][0])
        parameters = [layer.get_parameters() for layer in layers]
        pieces = [
            xp.reshape(backend.convert(parameters[i][slot], dtype), (-1,)) for i, slot in order
        ]
        self._order = order
        self.params = xp.concat(pieces) if pieces else xp.zeros((0,), dtype=dtype)
        self.grad = None
        self._mask = None  # 1 on the penalised prefix, 0 after: made on the first decay
        self._fallback = self.params
        self.point_layers()

    def point_layers(self):
        xp = self.backend.xp
        for i, layer in enumerate(self.layers):
            slots = []
            for slot in range(len(layer.penalized)):
                start, stop, shape = self._offsets[i, slot]
                slots.append(xp.reshape(self.params[start:stop], shape))
            layer.set_parameters(slots)

    def assign(self, vector):
        """Make ``vector`` the parameters (it is never written in place)."""
        self.params = vector
        self.point_layers()

    def gradient_slots(self, i):
        return [None] * len(self.layers[i].penalized)

    def penalty(self, backend):
        weights = self.params[: self.n_penalized]
        return weights @ weights  # one dot product (vecdot takes two kernels on torch)

    def collect_gradients(self, gradients, decay):
        """Concatenate the layers' gradients in the store's order, adding ``decay * weights``.

        The decay is one operation over the flat vectors, with a mask that
        is 1 on the penalised prefix and 0 on the rest (made once per store).
        """
        xp = self.backend.xp
        grad = xp.concat([xp.reshape(gradients[i][slot], (-1,)) for i, slot in self._order])
        # A weighted fit's decay is a scalar on the device: truth-testing it
        # would read it back (a sync) every batch. Only a Python zero (no
        # penalty) skips the decay.
        if not (isinstance(decay, (int, float)) and decay == 0) and self.n_penalized:
            if self._mask is None:
                index = xp.arange(self.params.shape[0], device=self.backend.device)
                self._mask = xp.astype(index < self.n_penalized, self.dtype)
            grad = self.backend.add_product(grad, self.params, self._mask, decay)
        self.grad = grad
        return self.grad

    def begin(self):
        self._fallback = self.params

    def begin_epoch(self):
        # Arrays are never written in place: keeping a reference is a snapshot.
        self._fallback = self.params

    def step(self, optimizer):
        params = self.backend.optimizer_step(optimizer, self.params, self.grad, None)
        self.params = params
        self.point_layers()

    def fall_back(self):
        """Return to the parameters at the start of the epoch."""
        self.params = self._fallback
        self.point_layers()

    def to_host(self):
        return np.asarray(self.backend.to_numpy(self.params), dtype=np.float64)

    def gradient_to_host(self):
        return np.asarray(self.backend.to_numpy(self.grad), dtype=np.float64)

    def set_from_host(self, vector):
        # A copy: scipy may reuse its vector, which torch on the CPU would share.
        self.params = self.backend.convert(np.asarray(vector), self.dtype, copy=True)
        self.point_layers()
