"""Learning-rate schedules for the stochastic optimizers.

A schedule is a small object that a stochastic optimizer (:class:`~sknet.SGD`,
:class:`~sknet.Adam`, :class:`~sknet.AdamW`) consults once per epoch: it maps
the base learning rate, the number of epochs done and the number of plateau
reductions so far to the step size of the next epoch. The rate is a Python
float on the host, so a schedule costs nothing per step on a device.

Pass one as ``schedule=`` (an object, or a name from :data:`SCHEDULES`)::

    Adam(learning_rate=1e-3, schedule=Cosine(t_max=100))

Your own schedule
-----------------
Any object with ``rate(base_rate, epoch, reductions)`` returning a float
works; ``reduces_on_plateau = True`` and ``min_rate`` make the optimizer call
it with one more reduction each time training stops improving (see
:class:`Plateau`).
"""

import math

from ._registry import lookup

__all__ = ["SCHEDULES", "Cosine", "Plateau", "Step", "WarmupCosine", "get_schedule"]


class _Schedule:
    reduces_on_plateau = False

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class Cosine(_Schedule):
    """Cosine annealing from the base rate down to ``min_ratio`` times it.

    The rate of epoch ``e`` (0-based) is
    ``base * (min_ratio + (1 - min_ratio) * (1 + cos(pi * min(e, t_max) / t_max)) / 2)``.

    Parameters
    ----------
    t_max : int, default=200
        The epoch at which the rate reaches its minimum (the estimators pass
        ``max_iter``); it stays there afterwards.
    min_ratio : float, default=0.0
        The final rate, as a share of the base rate.

    Examples
    --------
    >>> from sknet.schedules import Cosine
    >>> [round(Cosine(t_max=4).rate(1.0, e, 0), 4) for e in range(5)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    name = "cosine"

    def __init__(self, t_max=200, min_ratio=0.0):
        self.t_max = t_max
        self.min_ratio = min_ratio

    def rate(self, base_rate, epoch, reductions):
        """The step size of epoch ``epoch`` (0-based)."""
        progress = min(epoch, self.t_max) / self.t_max
        share = self.min_ratio + (1 - self.min_ratio) * (1 + math.cos(math.pi * progress)) / 2
        return base_rate * share


class WarmupCosine(Cosine):
    """A linear warm-up over ``warmup`` epochs, then cosine annealing.

    Epoch ``e < warmup`` runs at ``base * (e + 1) / warmup``; the cosine
    then runs from the base rate over the remaining ``t_max - warmup`` epochs.

    Parameters
    ----------
    t_max : int, default=200
        The epoch at which the rate reaches its minimum.
    warmup : int, default=5
        The number of warm-up epochs.
    min_ratio : float, default=0.0
        The final rate, as a share of the base rate.

    Examples
    --------
    >>> from sknet.schedules import WarmupCosine
    >>> schedule = WarmupCosine(t_max=4, warmup=2)
    >>> [round(schedule.rate(1.0, e, 0), 4) for e in range(5)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """

    name = "warmup_cosine"

    def __init__(self, t_max=200, warmup=5, min_ratio=0.0):
        super().__init__(t_max, min_ratio)
        self.warmup = warmup

    def rate(self, base_rate, epoch, reductions):
        """The step size of epoch ``epoch`` (0-based)."""
        if epoch < self.warmup:
            return base_rate * (epoch + 1) / self.warmup
        span = max(self.t_max - self.warmup, 1)
        progress = min(epoch - self.warmup, span) / span
        share = self.min_ratio + (1 - self.min_ratio) * (1 + math.cos(math.pi * progress)) / 2
        return base_rate * share


class Step(_Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    step_size : int, default=30
        Epochs between two reductions.
    gamma : float, default=0.1
        The factor of each reduction.

    Examples
    --------
    >>> from sknet.schedules import Step
    >>> [Step(step_size=2, gamma=0.5).rate(1.0, e, 0) for e in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    name = "step"

    def __init__(self, step_size=30, gamma=0.1):
        self.step_size = step_size
        self.gamma = gamma

    def rate(self, base_rate, epoch, reductions):
        """The step size of epoch ``epoch`` (0-based)."""
        return base_rate * self.gamma ** (epoch // self.step_size)


class Plateau(_Schedule):
    """Divide the rate by ``1 / factor`` each time training stops improving.

    The optimizer's ``on_plateau()`` (called by the estimators after
    ``n_iter_no_change`` epochs without improvement) counts one more
    reduction, and stops training once the rate would fall below
    ``min_rate``: scikit-learn's ``learning_rate="adaptive"``, for any
    stochastic optimizer.

    Parameters
    ----------
    factor : float, default=0.2
        The factor of each reduction (0.2: divide by 5, as MLP does).
    min_rate : float, default=1e-6
        Training stops on a plateau once the rate is at or below it.

    Examples
    --------
    >>> from sknet.schedules import Plateau
    >>> [Plateau().rate(1.0, 7, r) for r in range(3)]
    [1.0, 0.2, 0.04000000000000001]
    """

    name = "plateau"
    reduces_on_plateau = True

    def __init__(self, factor=0.2, min_rate=1e-6):
        self.factor = factor
        self.min_rate = min_rate

    def rate(self, base_rate, epoch, reductions):
        """The step size after ``reductions`` plateaus."""
        return base_rate * self.factor**reductions


SCHEDULES = {
    "cosine": Cosine,
    "warmup_cosine": WarmupCosine,
    "step": Step,
    "plateau": Plateau,
}


def get_schedule(schedule):
    """Return a schedule for a name (with its defaults) or the given object.

    Parameters
    ----------
    schedule : str, schedule object or None

    Returns
    -------
    schedule object or None

    Examples
    --------
    >>> from sknet.schedules import get_schedule
    >>> get_schedule("step")
    Step(step_size=30, gamma=0.1)
    """
    if schedule is None:
        return None
    if isinstance(schedule, str):
        return lookup(SCHEDULES, schedule, "schedule")()
    if callable(getattr(schedule, "rate", None)):
        return schedule
    raise ValueError(
        f"schedule must be None, a name from {sorted(SCHEDULES)} or an object with "
        f"rate(base_rate, epoch, reductions), got {schedule!r}."
    )
