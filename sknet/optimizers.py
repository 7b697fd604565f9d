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

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from ._optimizer_options import OPTIONS_DOC, _Stochastic
from ._registry import lookup
from .activations import _namespace
from .schedules import SCHEDULES, get_schedule

__all__ = ["LBFGS", "OPTIMIZERS", "SGD", "Adam", "AdamW", "get_optimizer"]

#: The schedules SGD names itself (scikit-learn MLP's ``learning_rate``).
_SGD_SCHEDULES = ("adaptive", "constant", "invscaling")


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
    {options}

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


SGD.__doc__ = SGD.__doc__.replace("    {options}\n", OPTIONS_DOC + "\n")


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
    {options}

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


Adam.__doc__ = Adam.__doc__.replace("    {options}\n", OPTIONS_DOC + "\n")


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
