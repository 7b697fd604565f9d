"""The options every mini-batch optimizer shares: schedule, weight decay, clipping, averaging.

:class:`~sknet.optimizers.SGD` and :class:`~sknet.optimizers.Adam` (and
:class:`~sknet.optimizers.AdamW`) inherit them from :class:`_Stochastic`, and
their docstrings take the options' descriptions from :data:`OPTIONS_DOC`: one
text for both.

Examples
--------
>>> from sknet.optimizers import SGD, Adam
>>> from sknet._optimizer_options import OPTIONS_DOC, _Stochastic
>>> issubclass(SGD, _Stochastic) and issubclass(Adam, _Stochastic)
True
>>> OPTIONS_DOC in SGD.__doc__ and OPTIONS_DOC in Adam.__doc__
True
>>> Adam(clip_grad_norm=1.0, averaging="ema").averaging
'ema'
"""

import numbers

import numpy as np

from .activations import _namespace

__all__ = ["OPTIONS_DOC"]

#: The numpydoc entries of the options, as they appear under "Parameters".
OPTIONS_DOC = """    weight_decay : float, default=0.0
        Decoupled weight decay: before each update the penalised parameters
        (the weights, not the biases) are multiplied by
        ``1 - current_learning_rate * weight_decay``, independently of the
        gradient's scaling (Loshchilov & Hutter's AdamW).
    clip_grad_norm : float or None, default=None
        Scale each gradient down to this global (L2) norm when it is longer.
    averaging : {None, "ema"}, default=None
        ``"ema"`` keeps an exponential moving average of the parameters,
        which become the network's parameters at the end of each fit (a
        warm start continues from them, with the average kept). At each
        epoch's end the validation loss and the callbacks see the average;
        training goes on from the raw parameters.
    ema_decay : float, default=0.999
        The average's decay per step, in [0, 1); step ``t`` uses
        ``min(ema_decay, (1 + t) / (10 + t))``."""


class _Stochastic:
    """State shared by the mini-batch optimizers: the options of every one.

    ``schedule``, ``weight_decay``, ``clip_grad_norm``, ``averaging`` and
    ``ema_decay`` are documented on :class:`Adam`; each defaults to off.
    """

    full_batch = False
    #: ``step`` never writes another library's arrays: it returns new ones.
    returns_step = True

    def _set_options(self, schedule, weight_decay, clip_grad_norm, averaging, ema_decay):
        self.schedule = schedule
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.averaging = averaging
        self.ema_decay = ema_decay

    @property
    def learning_rate(self):
        """The schedule's base step size; ``current_learning_rate`` is the next step's.

        Setting it during training (from a callback, say) takes effect at the
        next step: the current rate becomes what the schedule gives for the
        new base rate at this point of training.
        """
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if "current_learning_rate" not in self.__dict__:  # not reset yet: checked then
            self._learning_rate = value
            return
        if not (isinstance(value, numbers.Real) and value > 0):
            raise ValueError(f"learning_rate must be positive, got {value!r}.")
        self._learning_rate = value
        self.current_learning_rate = self._scheduled_rate()

    def _scheduled_rate(self):
        """The step size the schedule gives now for the base rate."""
        schedule = getattr(self, "_schedule", None)
        if schedule is None:
            return float(self.learning_rate)
        return float(
            schedule.rate(
                self.learning_rate, getattr(self, "_epoch", 0), getattr(self, "_reductions", 0)
            )
        )

    def __setstate__(self, state):
        # Optimizers pickled before learning_rate became a property.
        if "learning_rate" in state:
            state = {**state, "_learning_rate": state["learning_rate"]}
            del state["learning_rate"]
        self.__dict__.update(state)

    def _check_learning_rate(self):
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}.")

    def _reset_options(self, size, dtype, backend):
        """Check the shared options and make their state (called by ``reset``)."""
        # getattr: optimizers pickled by an earlier sknet have none of these.
        weight_decay = getattr(self, "weight_decay", 0.0)
        clip = getattr(self, "clip_grad_norm", None)
        averaging = getattr(self, "averaging", None)
        if not (isinstance(weight_decay, numbers.Real) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}.")
        if clip is not None and not (isinstance(clip, numbers.Real) and clip > 0):
            raise ValueError(f"clip_grad_norm must be None or positive, got {clip!r}.")
        if averaging not in (None, "ema"):
            raise ValueError(f"averaging must be None or 'ema', got {averaging!r}.")
        if averaging is not None and not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}.")
        self._epoch = self._reductions = 0
        self.current_learning_rate = self._scheduled_rate()
        in_place = backend is None or backend.xp is np
        self._clipped = np.empty(size, dtype=dtype) if clip is not None and in_place else None
        self._average = self._zeros(size, dtype, backend) if averaging is not None else None
        self._n_averaged = 0

    def set_penalized(self, index):
        """Which parameters weight decay applies to (a slice from the start).

        The parameter store calls it before training with the weights'
        slice (the biases, and every parameter a layer does not penalise,
        come after it). Never told, weight decay applies to every parameter.
        """
        self._penalized = index

    @property
    def fusable(self):
        """Whether only the plain update runs (no clipping, decay or averaging).

        A backend with a fused kernel for the plain update uses it only then.
        """
        return not (
            getattr(self, "weight_decay", 0.0)
            or getattr(self, "clip_grad_norm", None) is not None
            or getattr(self, "averaging", None) is not None
        )

    def step(self, params, grad, out=None):
        """Return the parameters after one step from ``grad``.

        numpy arrays are updated in place (into ``out`` when given, else into
        ``params``) and that array is returned; any other library's arrays
        are never written: the result is a new array. In order: the gradient
        is clipped to ``clip_grad_norm``, the penalised parameters decay by
        ``1 - current_learning_rate * weight_decay``, the update is applied,
        and the average (``averaging="ema"``) moves towards the result.
        """
        if self.fusable:
            return self._update(params, grad, out)
        grad = self._clip(grad)
        if self.weight_decay:
            params, out = self._decay(params, out), None
        new = self._update(params, grad, out)
        if self.averaging is not None:
            self._track(new)
        return new

    def _clip(self, grad):
        """The gradient scaled by ``min(1, clip_grad_norm / ||grad||)``.

        On a device the factor stays there: no read per step.
        """
        limit = self.clip_grad_norm
        if limit is None:
            return grad
        if isinstance(grad, np.ndarray):
            norm = np.sqrt(np.dot(grad, grad))
            if norm > limit:  # else the factor is 1: the gradient as it is
                return np.multiply(grad, limit / norm, out=self._clipped)
            return grad
        xp = _namespace(grad)
        norm = xp.sqrt(xp.vecdot(grad, grad))
        return grad * xp.clip(limit / norm, max=1.0)

    def _decay(self, params, out):
        """The parameters with the penalised ones multiplied by ``1 - lr * weight_decay``.

        numpy: written into ``out`` (else ``params``), which is returned.
        """
        factor = 1 - self.current_learning_rate * self.weight_decay
        index = getattr(self, "_penalized", slice(None))
        rest = slice(index.stop, None) if index.stop is not None else slice(0, 0)
        if isinstance(params, np.ndarray):
            target = params if out is None else out
            np.multiply(params[index], factor, out=target[index])
            if target is not params:
                target[rest] = params[rest]
            return target
        xp = _namespace(params)
        decayed = params[index] * factor
        if params[rest].shape[0] == 0:
            return decayed
        return xp.concat([decayed, params[rest]])

    def _track(self, new):
        """Move the exponential moving average towards the new parameters.

        The decay of step ``t`` (1-based) is ``min(ema_decay, (1 + t) / (10 + t))``,
        so the first steps do not weigh on the average for long;
        ``(average - new) * decay + new`` on every backend, for the same rounding.
        """
        self._n_averaged += 1
        decay = min(self.ema_decay, (1 + self._n_averaged) / (10 + self._n_averaged))
        if self._n_averaged == 1:
            decay = 0.0  # the average starts at the first step's parameters
        average = self._average
        if isinstance(average, np.ndarray):
            average -= new
            average *= decay
            average += new
        else:
            self._average = (average - new) * decay + new

    def averaged_parameters(self):
        """The averaged parameter vector, or None (no averaging, or no step yet).

        The training loop makes it the network's parameters at the end of a fit.
        """
        if getattr(self, "averaging", None) is None or not getattr(self, "_n_averaged", 0):
            return None
        return self._average

    def is_ready(self, size, dtype, backend=None):
        """Whether the state fits parameters of this size and dtype (on this backend)."""
        state = getattr(self, "_state", None)
        if state is None or state[0].dtype != dtype or state[0].shape != (size,):
            return False
        return backend is None or backend.owns(state[0])

    @staticmethod
    def _zeros(size, dtype, backend):
        return np.zeros(size, dtype=dtype) if backend is None else backend.zeros(size, dtype)

    def end_epoch(self, samples_seen):
        """Hook called after each epoch with the number of samples seen so far."""
        self._epoch = getattr(self, "_epoch", 0) + 1
        if getattr(self, "_schedule", None) is not None:
            self.current_learning_rate = self._scheduled_rate()

    def on_plateau(self, verbose=False):
        """Called when training stops improving; return True to stop training."""
        schedule = getattr(self, "_schedule", None)
        if schedule is None or not getattr(schedule, "reduces_on_plateau", False):
            return True
        if self.current_learning_rate <= schedule.min_rate:
            return True
        self._reductions = getattr(self, "_reductions", 0) + 1
        self.current_learning_rate = self._scheduled_rate()
        if verbose:
            print(f"Setting learning rate to {self.current_learning_rate:f}")
        return False

    def _options_repr(self, skip=None):
        """The shared options that differ from their defaults, for ``__repr__``."""
        defaults = {
            "schedule": None,
            "weight_decay": 0.0,
            "clip_grad_norm": None,
            "averaging": None,
            "ema_decay": 0.999,
        }
        return "".join(
            f", {name}={getattr(self, name, default)!r}"
            for name, default in defaults.items()
            if name != skip and getattr(self, name, default) != default
        )
