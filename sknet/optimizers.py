"""Optimizers that update a flat parameter vector.

The network keeps every weight and bias in one contiguous array, and the
gradient in another of the same shape, so a stochastic optimizer updates all
layers with a handful of vectorised operations. Each update is written once,
in array-API form, with a numpy branch inside the same ``step`` that works in
place on buffers made once per fit.

Stochastic optimizers (:class:`SGD`, :class:`Adam`) expose ``reset(size,
dtype, backend=None)``, ``step(params, grad, out=None)``,
``end_epoch(samples_seen)`` and ``on_plateau()``. :class:`LBFGS` is a
full-batch optimizer: it exposes ``minimize(objective, params, max_iter,
callback)`` instead.

Your own optimizer
------------------
Any object can be passed as ``optimizer`` when it has:

* ``full_batch = False`` and ``name`` (a string, for messages);
* ``reset(size, dtype, backend=None)``, called before training (``backend``
  is given on a device: ``backend.zeros(size, dtype)`` makes state there);
* ``step(params, grad)`` or ``step(params, grad, out=None)``: the update.
  On numpy it may write into ``params`` (or into ``out`` when it takes one)
  and return None, or return the new parameters. On a device (torch,
  CuPy, array_api_strict...) ``params`` and ``grad`` are that library's
  arrays: ``step`` may return the new parameters (never write its
  state's arrays in place then) or write into ``params``, which is then a
  copy the engine made for it, so that the last good parameters stay
  whole. Write it with operators and ``array_namespace(params)``;
* ``end_epoch(samples_seen)`` and ``on_plateau(verbose=False)`` (return True
  to stop) for the estimators' schedules, and ``is_ready(size, dtype,
  backend=None)`` for ``warm_start``.

An object that still defines ``step_xp(params, grad, xp)`` (the device form
of earlier versions) has it called on a device.
"""

import math
import numbers

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from ._registry import lookup
from .activations import _namespace
from .schedules import SCHEDULES, get_schedule

__all__ = ["LBFGS", "OPTIMIZERS", "SGD", "Adam", "AdamW", "get_optimizer"]

#: The schedules SGD names itself (scikit-learn MLP's ``learning_rate``).
_SGD_SCHEDULES = ("adaptive", "constant", "invscaling")


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


class SGD(_Stochastic):
    """Stochastic gradient descent with momentum and learning-rate schedules.

    Parameters
    ----------
    learning_rate : float, default=0.01
        The initial step size.
    momentum : float, default=0.9
        Momentum in [0, 1]; 0 gives plain SGD.
    nesterov : bool, default=True
        Use Nesterov's momentum.
    schedule : {"constant", "invscaling", "adaptive"}, schedule name or object, \
default="constant"
        ``"invscaling"`` sets the step to ``learning_rate / (t + 1) ** power_t``
        after each epoch, ``t`` being the number of samples seen.
        ``"adaptive"`` divides the step by 5 whenever training stops
        improving, and stops training once it falls below 1e-6. Any name
        from :data:`sknet.schedules.SCHEDULES` or schedule object (such as
        ``Cosine(t_max=100)``) works as for :class:`Adam`.
    power_t : float, default=0.5
        The exponent of ``"invscaling"``.
    weight_decay : float, default=0.0
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
        ``min(ema_decay, (1 + t) / (10 + t))``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import SGD
    >>> opt = SGD(learning_rate=0.1, momentum=0.0)
    >>> params, grad = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    >>> opt.reset(2, params.dtype)
    >>> opt.step(params, grad)  # numpy: in place
    array([0.9, 2.1])
    """

    name = "sgd"

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.9,
        nesterov=True,
        schedule="constant",
        power_t=0.5,
        *,
        weight_decay=0.0,
        clip_grad_norm=None,
        averaging=None,
        ema_decay=0.999,
    ):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self._set_options(schedule, weight_decay, clip_grad_norm, averaging, ema_decay)

    def reset(self, size, dtype, backend=None):
        """Allocate the state for ``size`` parameters of ``dtype`` (on ``backend``'s device)."""
        self._check_learning_rate()
        if isinstance(self.schedule, str) and self.schedule in _SGD_SCHEDULES:
            self._schedule = None
        else:
            try:
                self._schedule = get_schedule(self.schedule)
            except ValueError:
                raise ValueError(
                    f"schedule must be one of {sorted(_SGD_SCHEDULES)}, a name from "
                    f"{sorted(SCHEDULES)} or a schedule object, got {self.schedule!r}."
                ) from None
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}.")
        self._samples_seen = 0  # where the schedule is
        self._reset_options(size, dtype, backend)
        velocity = self._zeros(size, dtype, backend)
        scratch = np.empty(size, dtype=dtype) if backend is None or backend.xp is np else None
        self._state = (velocity, scratch)

    def _update(self, params, grad, out=None):
        """The momentum update (see :meth:`step`)."""
        velocity, scratch = self._state
        lr, momentum = self.current_learning_rate, self.momentum
        # velocity <- momentum * velocity - lr * grad; then
        # params + momentum * velocity - lr * grad (Nesterov) or params + velocity
        if isinstance(params, np.ndarray):  # in place, over the flat vector
            out = params if out is None else out
            velocity *= momentum
            np.multiply(grad, lr, out=scratch)
            velocity -= scratch
            if self.nesterov:
                np.subtract(params, scratch, out=out)
                np.multiply(velocity, momentum, out=scratch)
                out += scratch
            else:
                np.add(params, velocity, out=out)
            return out
        scaled = grad * lr
        velocity = velocity * momentum - scaled
        self._state = (velocity, scratch)
        if self.nesterov:
            return (params - scaled) + velocity * momentum
        return params + velocity

    def _scheduled_rate(self):
        # The same operations as end_epoch and on_plateau, for the same rounding.
        # getattr: an optimizer pickled by an earlier sknet has no counters.
        if getattr(self, "_schedule", None) is not None:
            return super()._scheduled_rate()
        samples_seen = getattr(self, "_samples_seen", 0)
        if self.schedule == "invscaling" and samples_seen:
            return self.learning_rate / ((samples_seen + 1) ** self.power_t)
        rate = float(self.learning_rate)
        if self.schedule == "adaptive":
            for _ in range(getattr(self, "_reductions", 0)):
                rate /= 5
        return rate

    def end_epoch(self, samples_seen):
        self._samples_seen = samples_seen
        super().end_epoch(samples_seen)
        if self.schedule == "invscaling":
            self.current_learning_rate = self.learning_rate / ((samples_seen + 1) ** self.power_t)

    def on_plateau(self, verbose=False):
        if getattr(self, "_schedule", None) is not None:
            return super().on_plateau(verbose)
        if self.schedule != "adaptive":
            return True
        if self.current_learning_rate <= 1e-6:
            return True
        self.current_learning_rate /= 5
        self._reductions = getattr(self, "_reductions", 0) + 1
        if verbose:
            print(f"Setting learning rate to {self.current_learning_rate:f}")
        return False

    def __repr__(self):
        return (
            f"SGD(learning_rate={self.learning_rate!r}, momentum={self.momentum!r}, "
            f"nesterov={self.nesterov!r}, schedule={self.schedule!r}, "
            f"power_t={self.power_t!r}{self._options_repr(skip='schedule')})"
        )


class Adam(_Stochastic):
    """Adam: steps scaled by running estimates of the gradient's moments.

    Parameters
    ----------
    learning_rate : float, default=0.001
        The step size.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the denominator for numerical stability.
    schedule : str, schedule object or None, default=None
        A learning-rate schedule (a name from
        :data:`sknet.schedules.SCHEDULES`, or an object such as
        ``Cosine(t_max=100)``), consulted after each epoch; None keeps the
        rate constant.
    weight_decay : float, default=0.0
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
        ``min(ema_decay, (1 + t) / (10 + t))``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import Adam
    >>> opt = Adam(learning_rate=0.1)
    >>> params, grad = np.array([1.0, 2.0]), np.array([3.0, -0.5])
    >>> opt.reset(2, params.dtype)
    >>> opt.step(params, grad).round(6)  # numpy: in place
    array([0.9, 2.1])
    """

    name = "adam"

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        *,
        schedule=None,
        weight_decay=0.0,
        clip_grad_norm=None,
        averaging=None,
        ema_decay=0.999,
    ):
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._set_options(schedule, weight_decay, clip_grad_norm, averaging, ema_decay)

    def reset(self, size, dtype, backend=None):
        """Allocate the state for ``size`` parameters of ``dtype`` (on ``backend``'s device)."""
        self._check_learning_rate()
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}.")
        self._schedule = get_schedule(getattr(self, "schedule", None))
        self._reset_options(size, dtype, backend)
        self.t = 0
        # A scratch array is made only for in-place steps: a step that writes
        # into ``out`` works in ``out`` itself.
        self._state = (self._zeros(size, dtype, backend), self._zeros(size, dtype, backend), None)

    def _update(self, params, grad, out=None):
        """The Adam update (see :meth:`step`)."""
        # The moments are kept divided by (1 - beta): m' = m / (1 - b1) and
        # v' = v / (1 - b2) update without a scaled copy of the gradient, and
        # the constants move into the step size and epsilon. Ten passes over
        # the parameters instead of twelve, for the same update:
        # m' <- b1 m' + g; v' <- b2 v' + g^2; params - lr_t m' / (sqrt(v') + eps')
        first, second, scratch = self._state
        step_size, epsilon = self._advance()
        b1, b2 = self.beta_1, self.beta_2
        if not isinstance(params, np.ndarray):
            # The same operations in the same order, so both round alike.
            first = first * b1 + grad
            second = second * b2 + grad * grad
            self._state = (first, second, None)
            return params - (first / (_namespace(params).sqrt(second) + epsilon)) * step_size
        if out is None or out is params:  # in place, with a scratch array
            if scratch is None:
                scratch = np.empty_like(first)
                self._state = (first, second, scratch)
            out = params
        else:
            scratch = out  # overwritten last, with the new parameters
        first *= b1
        first += grad
        second *= b2
        np.square(grad, out=scratch)
        second += scratch
        np.sqrt(second, out=scratch)
        scratch += epsilon
        np.divide(first, scratch, out=scratch)
        scratch *= step_size
        return np.subtract(params, scratch, out=out)

    def _advance(self):
        """Count the step; return its step size and epsilon for the scaled moments."""
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        # Python floats, not numpy float64 scalars, keep float32 arithmetic float32.
        bias_correction = math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        step_size = self.current_learning_rate * bias_correction * (1 - b1) / math.sqrt(1 - b2)
        return step_size, self.epsilon / math.sqrt(1 - b2)

    def __repr__(self):
        return (
            f"Adam(learning_rate={self.learning_rate!r}, beta_1={self.beta_1!r}, "
            f"beta_2={self.beta_2!r}, epsilon={self.epsilon!r}{self._options_repr()})"
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), on by default.

    :class:`Adam` with ``weight_decay=0.01``: before each update the
    penalised parameters (the weights; never the biases, nor any parameter
    a layer does not penalise) are multiplied by
    ``1 - current_learning_rate * weight_decay``. The other options are
    :class:`Adam`'s.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import AdamW
    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> params, grad = np.array([1.0, 2.0]), np.array([3.0, -0.5])
    >>> opt.reset(2, params.dtype)
    >>> opt.set_penalized(slice(0, 1))  # the first is a weight, the second a bias
    >>> opt.step(params, grad).round(6)  # 1 * (1 - 0.05) - 0.1; 2 + 0.1
    array([0.85, 2.1 ])
    """

    name = "adamw"

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        *,
        schedule=None,
        weight_decay=0.01,
        clip_grad_norm=None,
        averaging=None,
        ema_decay=0.999,
    ):
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            schedule=schedule,
            weight_decay=weight_decay,
            clip_grad_norm=clip_grad_norm,
            averaging=averaging,
            ema_decay=ema_decay,
        )

    def __repr__(self):
        # weight_decay always shown: its default differs from Adam's.
        options = self._options_repr(skip="weight_decay")
        return (
            f"AdamW(learning_rate={self.learning_rate!r}, beta_1={self.beta_1!r}, "
            f"beta_2={self.beta_2!r}, epsilon={self.epsilon!r}, "
            f"weight_decay={self.weight_decay!r}{options})"
        )


class LBFGS:
    """Limited-memory BFGS on the whole data set, through ``scipy.optimize``.

    Suited to small data sets, where it converges in far fewer evaluations
    than stochastic optimizers, and exact for convex problems.

    Parameters
    ----------
    max_fun : int, default=15000
        The maximum number of loss evaluations.
    tol : float, default=1e-5
        Stop once the largest gradient component falls below ``tol``.
    ftol : float, default=2.2e-9
        Stop once an iteration lowers the loss by less than this share of it.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet import LBFGS
    >>> def objective(x):
    ...     return float(((x - 3.0) ** 2).sum()), 2 * (x - 3.0)
    >>> x, n_iter = LBFGS().minimize(objective, np.zeros(2), max_iter=50)
    >>> x.round(6)
    array([3., 3.])
    """

    name = "lbfgs"
    full_batch = True

    @property
    def learning_rate(self):
        """L-BFGS has none: reading it raises ``AttributeError``, and so does setting it."""
        raise AttributeError(self._NO_LEARNING_RATE)

    @learning_rate.setter
    def learning_rate(self, value):
        # Setting it would change nothing: say so rather than ignore it.
        raise AttributeError(self._NO_LEARNING_RATE)

    _NO_LEARNING_RATE = (
        "L-BFGS has no learning rate: its line search chooses the length of every "
        "step. Use 'sgd' or 'adam' to control the step size."
    )

    def __init__(self, max_fun=15000, tol=1e-5, ftol=2.2e-9):
        self.max_fun = max_fun
        self.tol = tol
        self.ftol = ftol

    def minimize(self, objective, params, max_iter, callback=None):
        """Minimise ``objective`` from ``params``.

        Parameters
        ----------
        objective : callable
            ``objective(x) -> (loss, gradient)`` on a float64 vector.
        params : ndarray
            The starting point.
        max_iter : int
            The maximum number of iterations.
        callback : callable, optional
            Called as ``callback(x, loss)`` after each iteration; returning
            True stops.

        Returns
        -------
        x : ndarray of float64
            The parameters found.
        n_iter : int
            The number of iterations run.
        """

        def on_iteration(intermediate_result):
            if callback is not None and callback(
                intermediate_result.x, float(intermediate_result.fun)
            ):
                raise StopIteration

        result = minimize(
            objective,
            np.asarray(params, dtype=np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=on_iteration,
            options={
                "maxiter": max_iter,
                "maxfun": self.max_fun,
                "gtol": self.tol,
                "ftol": self.ftol,
            },
        )
        self.result_ = result
        return result.x, int(result.nit)

    def __getstate__(self):
        # Stored without scipy's inverse-Hessian operator (up to twenty vectors
        # the size of the parameters) and as a plain dict, which skops loads
        # without trusting scipy types.
        state = self.__dict__.copy()
        if "result_" in state:
            state["result_"] = {k: v for k, v in state["result_"].items() if k != "hess_inv"}
        return state

    def __setstate__(self, state):
        if "result_" in state:
            state = {**state, "result_": OptimizeResult(state["result_"])}
        self.__dict__.update(state)

    def __repr__(self):
        return f"LBFGS(max_fun={self.max_fun!r}, tol={self.tol!r}, ftol={self.ftol!r})"


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "lbfgs": LBFGS}


def get_optimizer(optimizer, learning_rate=None):
    """Return a fresh optimizer for a name, or the given optimizer object.

    Parameters
    ----------
    optimizer : str or optimizer object
        A name from :data:`OPTIMIZERS` or an instance such as ``Adam()``.
    learning_rate : float, optional
        The step size for a named stochastic optimizer.

    Returns
    -------
    optimizer object

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.

    Examples
    --------
    >>> from sknet.optimizers import get_optimizer
    >>> get_optimizer("adam", learning_rate=0.01)
    Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-08)
    """
    if isinstance(optimizer, str):
        cls = lookup(OPTIMIZERS, optimizer, "optimizer")
        if learning_rate is None or cls is LBFGS:
            return cls()
        return cls(learning_rate=learning_rate)
    if callable(getattr(optimizer, "step", None)) or callable(getattr(optimizer, "minimize", None)):
        if learning_rate is not None:
            raise ValueError(
                "learning_rate is given both to fit and to the optimizer object; "
                "set it on the optimizer only."
            )
        return optimizer
    raise ValueError(
        f"optimizer must be a name from {sorted(OPTIMIZERS)} or an optimizer "
        f"object, got {optimizer!r}."
    )
