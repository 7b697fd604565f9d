"""What LayeredClassifier and LayeredRegressor share.

The hyperparameters are scikit-learn MLP's, plus per-layer activations and
dropout. :class:`_BaseLayered` translates them into a :class:`sknet.Network`
and the arguments of its ``fit``: batching and backpropagation are the
engine's; early stopping, convergence warnings and fitted attributes are kept
here.
"""

import copy
import warnings
from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np
from array_api_compat import is_array_api_obj
from scipy import sparse
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._array_api import get_namespace_and_device
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    check_array,
    check_is_fitted,
    check_X_y,
    validate_data,
)

from ._compat import (
    ARRAY_API_TAG,
    CallbackSupportMixin,
    _check_categorical_features,
    check_same_namespace,
    move_to,
)
from ._safeguards import (
    STOCHASTIC_SOLVERS,
    LayerArrays,
    checked_layer_array,
    layer_parameter,
    memory_limit,
    restores_on_error,
    training_bytes,
    write_layer_array,
)
from .activations import ACTIVATIONS, get_activation
from .backends import to_numpy
from .embeddings import PeriodicEmbedding
from .layers import Dense
from .network import Network
from .normalization import BatchNorm
from .optimizers import LBFGS, SGD, Adam, AdamW
from .preprocessing import PiecewiseLinearEncoder
from .schedules import SCHEDULES, Cosine, Plateau, Step, WarmupCosine
from .training import DivergenceError

HIDDEN_ACTIVATIONS = sorted(name for name, act in ACTIVATIONS.items() if not act.output_only)
REGRESSION_LOSSES = ["absolute_error", "huber", "poisson", "squared_error"]


# -- where the data live under array-API dispatch ------------------------------
# The estimators train where X lives (see sknet.backends for the engine's side).
# Labels are encoded on the host, as scikit-learn's own array-API classifiers
# do, and the encoded targets and weights follow X to its device.


def where(X):
    """``(xp, device, is_numpy)`` for ``X``, as scikit-learn sees it under the current config.

    Without array-API dispatch, everything is numpy on the host.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base import where
    >>> where(np.zeros(2))[2]
    True
    """
    xp, _, device = get_namespace_and_device(X)
    return xp, device, xp.__name__.split(".")[-1] == "numpy"


def on_host(array):
    """``array`` as numpy on the host (None and sparse matrices pass through).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base import on_host
    >>> on_host(np.ones(2))
    array([1., 1.])
    """
    if array is None or sparse.issparse(array) or isinstance(array, np.ndarray):
        return array
    return to_numpy(array)


def same_place(array, like):
    """``array`` moved to the namespace and device of ``like`` (None passes through).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base import same_place
    >>> same_place([1.0, 2.0], np.zeros(1))
    array([1., 2.])
    """
    if array is None:
        return None
    xp, device, is_numpy = where(like)
    if is_numpy:
        return on_host(array) if not isinstance(array, list) else np.asarray(array)
    return move_to(array, xp=xp, device=device)


def take_rows(array, rows):
    """The rows ``rows`` (host indices) of an array of any namespace, or a sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base import take_rows
    >>> take_rows(np.arange(4), np.array([3, 0]))
    array([3, 0])
    """
    if array is None:
        return None
    xp, device, is_numpy = where(array)
    if is_numpy or sparse.issparse(array):
        return array[rows]
    return xp.take(array, xp.asarray(rows, device=device), axis=0)


def _per_layer(name, value, n_layers, is_scalar):
    """Expand a scalar to one value per hidden layer, or check a sequence's length."""
    if is_scalar(value):
        return [value] * n_layers
    values = list(value)
    if len(values) != n_layers:
        raise ValueError(
            f"{name} has {len(values)} entries but hidden_layer_sizes has {n_layers} "
            "layers; give one entry per hidden layer, or a single value for all."
        )
    return values


#: The settings of the periodic embedding that ``numeric_embedding="periodic"``
#: puts first (PeriodicEmbedding's own defaults, written out: the memory check
#: and the documentation read them here).
_PERIODIC = {"n_frequencies": 16, "units_per_feature": 16, "sigma": 1.0}


def _is_activation(value):
    return isinstance(value, str) or hasattr(value, "forward")


# -- categorical features ------------------------------------------------------
# With ``categorical_features``, the estimators one-hot encode the categorical
# columns themselves (as HistGradientBoosting ordinal-encodes them), and the
# network sees the numeric columns followed by the one-hot columns.


def _numeric_block(X, estimator):
    """The numeric columns, validated as MLP validates X: float, finite (no NaN)."""
    return check_array(
        X,
        dtype=[np.float64, np.float32],
        ensure_all_finite=True,
        estimator=estimator,
        input_name="X",
    )


def _categorical_encoder(is_categorical, name):
    """The (unfitted) transformer from the raw columns to the network's inputs.

    Unknown categories at predict time are all-zero rows of their feature's
    one-hot block (``handle_unknown="ignore"``); a missing value (NaN, None)
    seen in training is a category of its own.
    """
    encoder = ColumnTransformer(
        [
            (
                "numeric",
                FunctionTransformer(_numeric_block, kw_args={"estimator": name}),
                ~is_categorical,
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
                is_categorical,
            ),
        ],
        sparse_threshold=0,
    )
    return encoder.set_output(transform="default")


def _is_categorical(X, categorical_features):
    """The boolean mask of categorical columns of ``X``, or None when there are none."""
    if categorical_features is None:
        return None
    if is_array_api_obj(X) and not isinstance(X, np.ndarray):
        if isinstance(categorical_features, str):
            return None  # "from_dtype": an array has no category dtype
        raise ValueError(
            "categorical_features given as a mask, indices or names needs X as a numpy "
            f"array or a DataFrame, got {type(X).__module__}.{type(X).__name__}; "
            "encode the categorical columns first, or pass the data as numpy."
        )
    if sparse.issparse(X):
        if isinstance(categorical_features, str):
            return None
        raise ValueError(
            "categorical_features needs dense X (a numpy array or a DataFrame), got a "
            "sparse matrix; one-hot encode the categorical columns first instead."
        )
    if not hasattr(X, "shape") and not hasattr(X, "__dataframe__"):
        X = np.asarray(X, dtype=object)  # a list of rows
    mask = _check_categorical_features(X, categorical_features)
    if mask is None or not mask.any():
        return None
    return mask


def _numeric_encoder(numeric_embedding, n_numeric, random_state):
    """The (unfitted) piecewise-linear encoder of the numeric columns, or None.

    Its bins are the quantiles of each numeric column (``n_bins="auto"``, as
    in sknet's tabular recipe); ``random_state`` seeds its row subsample,
    which only tables of more than 200,000 rows take.
    """
    if numeric_embedding != "piecewise_linear" or n_numeric == 0:
        return None
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return PiecewiseLinearEncoder(n_bins="auto", random_state=seed)


class _EpochTasks:
    """The estimators' side of scikit-learn's callback contract, for one fit.

    The fit is the root task (``fit`` or ``partial_fit``, made by
    ``_init_callback_context``); each epoch, or each L-BFGS iteration, is
    one of its subtasks. An epoch's task begins before the epoch and ends
    after the estimator has recorded it (its score under early stopping),
    so that a callback sees the model and the curves of that epoch. Every
    callback sees every epoch's end; if one of them returns True, training
    stops there, as when the estimator stops itself.

    Without callbacks, no subtask is made (as scikit-learn's own estimators
    do): nothing is called and nothing is kept per epoch.

    Parameters
    ----------
    estimator : LayeredClassifier or LayeredRegressor
        The estimator being fitted, whose root context is made already.
    X, y, sample_weight
        The data of the fit, passed to the hooks (``sample_weight`` as the
        ``metadata``).
    """

    def __init__(self, estimator, X, y, sample_weight):
        self.estimator = estimator
        self.root = estimator._callback_fit_ctx
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.data = {"X": X, "y": y, "metadata": metadata}
        self.active = bool(getattr(estimator, "_skl_callbacks", None))
        self.task = None  # the epoch's task under way
        self.stop_requested = False  # whether a callback asked to stop
        self.start = 0  # the epochs in the network's history before this fit

    def begin_epoch(self):
        if not self.active:
            return
        self.task = self.root.subcontext(task_name=self._name())
        self.task.call_on_fit_task_begin(
            estimator=self.estimator,
            **self.data,
            reconstruction_attributes=self._fitted,
        )

    def end_epoch(self, next_epoch):
        """End the epoch's task; begin the next if ``next_epoch``. Return True to stop."""
        if self.task is None:
            return False
        task, self.task = self.task, None
        stop = task.call_on_fit_task_end(
            estimator=self.estimator,
            **self.data,
            reconstruction_attributes=self._fitted,
        )
        self.stop_requested |= stop
        if next_epoch and not stop:
            self.begin_epoch()
        return stop

    def close(self):
        """End a task begun for an epoch that never ran (L-BFGS converged, a divergence)."""
        if self.task is not None:
            task, self.task = self.task, None
            task.call_on_fit_task_end(estimator=self.estimator)

    def _fitted(self):
        """The attributes of a copy of the estimator fitted as it is now.

        scikit-learn's callbacks receive such a copy (``fitted_estimator``):
        it predicts with a copy of the current weights and carries the curves
        so far, as if ``fit`` had stopped here.
        """
        estimator = self.estimator
        network = estimator._network_snapshot()
        history = network.history_
        attributes = {
            "network_": network,
            "loss_curve_": list(history["loss"]),
            "n_iter_": len(history["loss"]) - self.start,
        }
        if history["loss"]:
            attributes["loss_"] = history["loss"][-1]
        if estimator.validation_scores_ is not None:
            attributes["validation_scores_"] = list(estimator.validation_scores_)
            attributes["validation_loss_curve_"] = list(history["val_loss"])
        return attributes

    def _name(self):
        return "iteration" if self.estimator.solver == "lbfgs" else "epoch"


class _BaseLayered(CallbackSupportMixin, BaseEstimator):
    """Shared hyperparameters, fitting and prediction of the two estimators."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [
            StrOptions(set(HIDDEN_ACTIVATIONS)),
            "array-like",
            HasMethods(["forward", "derivative"]),
        ],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions(set(SCHEDULES)), HasMethods(["rate"]), None],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "averaging": [StrOptions({"ema"}), None],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "numeric_embedding": [StrOptions({"piecewise_linear", "periodic"}), None],
        "batch_norm": ["boolean"],
    }

    # -- fitted attributes read from the engine ---------------------------------

    @property
    def coefs_(self):
        """Weight matrices, one per layer: ``coefs_[i]`` has shape (n_in, n_out)."""
        check_is_fitted(self, "network_")
        return LayerArrays("coefs_", self._dense_layers(), "weights")

    @coefs_.setter
    def coefs_(self, values):
        self._set_layer_arrays("coefs_", "weights", values)

    @property
    def intercepts_(self):
        """Bias vectors, one per layer."""
        check_is_fitted(self, "network_")
        return LayerArrays("intercepts_", self._dense_layers(), "bias")

    @intercepts_.setter
    def intercepts_(self, values):
        self._set_layer_arrays("intercepts_", "bias", values)

    def _dense_layers(self):
        """The network's Dense layers, in order: what ``coefs_`` and ``intercepts_`` list.

        With ``numeric_embedding="periodic"`` or ``batch_norm=True`` the network
        has other layers too; they are left out, so that ``coefs_[i]`` is the
        weight matrix of the ``i``-th fully connected layer, as on MLP.
        """
        return [layer for layer in self.network_.layers if isinstance(layer, Dense)]

    def _set_layer_arrays(self, name, attribute, values):
        """Copy new weights or biases into the fitted network, all checked first."""
        check_is_fitted(
            self,
            "network_",
            msg=f"This %(name)s instance is not fitted yet; {name} can only be assigned "
            "after fit, which sets the number and shapes of the layers.",
        )
        layers = self._dense_layers()
        values = list(values)
        if len(values) != len(layers):
            raise ValueError(
                f"{name} must have one array per layer, {len(layers)}, got {len(values)}."
            )
        targets = [layer_parameter(layer, attribute) for layer in layers]
        checked = [
            checked_layer_array(name, i, value, target)
            for i, (value, target) in enumerate(zip(values, targets, strict=True))
        ]
        for layer, value in zip(layers, checked, strict=True):
            write_layer_array(layer, attribute, value)

    # -- configuration ---------------------------------------------------------

    def _hidden_layers(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
                raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
        activations = _per_layer("activation", self.activation, len(sizes), _is_activation)
        for activation in activations:
            if isinstance(activation, str) and activation not in HIDDEN_ACTIVATIONS:
                raise ValueError(
                    f"Unknown hidden activation {activation!r}; valid names are "
                    f"{HIDDEN_ACTIVATIONS}."
                )
        dropouts = _per_layer("dropout", self.dropout, len(sizes), lambda v: isinstance(v, Real))
        for rate in dropouts:
            if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate < 1:
                raise ValueError(f"dropout rates must be in [0, 1), got {dropouts}.")
        if any(dropouts) and self.solver == "lbfgs":
            raise ValueError("dropout needs solver='sgd' or 'adam'; lbfgs is deterministic.")
        return list(zip(sizes, activations, dropouts, strict=True))

    def _check_same_architecture(self, hidden):
        """A warm start or partial_fit continues the fitted network: its layers must match."""
        options = getattr(self, "_network_options", (None, False))
        if options != (self.numeric_embedding, self.batch_norm):
            raise ValueError(
                f"numeric_embedding={self.numeric_embedding!r} and batch_norm="
                f"{self.batch_norm!r}, but the fitted network was built with "
                f"numeric_embedding={options[0]!r} and batch_norm={options[1]!r}; "
                "warm_start and partial_fit continue the fitted network. Set "
                "warm_start=False to start over."
            )
        layers = self._dense_layers()[:-1]
        fitted_sizes = [layer.units for layer in layers]
        sizes = [size for size, _, _ in hidden]
        if fitted_sizes != sizes:
            raise ValueError(
                f"hidden_layer_sizes is {sizes} but the fitted network's hidden layers "
                f"have {fitted_sizes} units; warm_start and partial_fit continue the "
                "fitted network. Set warm_start=False to start over."
            )
        fitted_names = [layer.activation.name for layer in layers]
        names = [get_activation(activation).name for _, activation, _ in hidden]
        if fitted_names != names:
            raise ValueError(
                f"activation is {names} but the fitted network's hidden layers use "
                f"{fitted_names}; warm_start and partial_fit continue the fitted "
                "network. Set warm_start=False to start over."
            )
        for layer, (_, _, rate) in zip(layers, hidden, strict=True):
            layer.dropout = float(rate)  # a new dropout rate applies from now on

    def _make_optimizer(self):
        if self.solver == "lbfgs":
            # The stochastic options (weight decay, schedule, clipping,
            # averaging) do not apply, as momentum does not: ignored, as MLP
            # ignores the parameters of the solvers it does not use.
            return LBFGS(max_fun=self.max_fun, tol=self.tol)
        # getattr: estimators pickled before these options existed.
        options = {
            "weight_decay": getattr(self, "weight_decay", 0.0),
            "clip_grad_norm": getattr(self, "clip_grad_norm", None),
            "averaging": getattr(self, "averaging", None),
            "ema_decay": getattr(self, "ema_decay", 0.999),
        }
        schedule = self._make_schedule()
        if self.solver == "adam":
            cls = AdamW if options["weight_decay"] else Adam
            return cls(
                self.learning_rate_init,
                self.beta_1,
                self.beta_2,
                self.epsilon,
                schedule=schedule,
                **options,
            )
        if schedule is not None and self.learning_rate != "constant":
            raise ValueError(
                f"lr_schedule={self.lr_schedule!r} and learning_rate={self.learning_rate!r} "
                "both set solver='sgd''s schedule; keep learning_rate='constant' with "
                "lr_schedule."
            )
        return SGD(
            self.learning_rate_init,
            self.momentum,
            self.nesterovs_momentum,
            self.learning_rate if schedule is None else schedule,
            self.power_t,
            **options,
        )

    def _make_schedule(self):
        """The schedule object for ``lr_schedule`` (names sized by ``max_iter``)."""
        name = getattr(self, "lr_schedule", None)
        if name is None or not isinstance(name, str):
            return name
        if name == "cosine":
            return Cosine(t_max=self.max_iter)
        if name == "warmup_cosine":
            return WarmupCosine(t_max=self.max_iter, warmup=min(5, self.max_iter))
        if name == "step":
            return Step(step_size=max(1, self.max_iter // 3), gamma=0.1)
        return Plateau()

    #: Whether targets are encoded on the host (class labels) rather than where X lives.
    _labels_on_host = False

    def _place_targets(self, y, X):
        """Targets follow X to its namespace and device (class labels stay on the host)."""
        return on_host(y) if self._labels_on_host else same_place(y, X)

    def _build_network(self, X, Y, sample_weight):
        hidden = self._hidden_layers()
        # The network is built on the host (its initial weights come from the
        # one numpy generator) and moves to X's device when it trains.
        dtype = np.dtype(np.float32 if where(X)[0].float32 == X.dtype else np.float64)
        periodic = self.numeric_embedding == "periodic"
        # The periodic embedding widens each input column to
        # units_per_feature columns before the first Dense layer.
        width = X.shape[1] * (_PERIODIC["units_per_feature"] if periodic else 1)
        self._check_memory(width, X.shape[0], dtype, [size for size, _, _ in hidden])
        network = Network(X.shape[1], random_state=self._random_state, dtype=dtype)
        # Every layer draws from the network's one generator, which derives
        # from random_state: the same seed gives the same model. With the
        # defaults only Dense layers draw from it, in MLP's order.
        rng = network._rng
        try:
            if periodic:
                network.add(PeriodicEmbedding(X.shape[1], **_PERIODIC, rng=rng))
            for size, activation, rate in hidden:
                network.add_layer(size, activation=activation, dropout=rate, init="mlp_uniform")
                if self.batch_norm:
                    # After the Dense layer's activation (and dropout), which
                    # the layer computes fused with its linear part: the next
                    # layer receives standardised inputs.
                    network.add(BatchNorm(size, rng=rng))
            network.add_layer(self.n_outputs_, activation=self.out_activation_, init="mlp_uniform")
        except MemoryError as error:
            raise MemoryError(
                f"Out of memory allocating the network's weights for hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r}; choose smaller hidden layers."
            ) from error
        network.layers[-1].bias[...] += self._base_output(Y, sample_weight)
        return network

    def _check_memory(self, n_features, n_rows, dtype, sizes):
        """Refuse, before allocating, a network too large for this machine's memory."""
        limit = memory_limit()
        if limit is None:
            return
        units = [*sizes, self.n_outputs_]
        fan_in = [n_features, *units[:-1]]
        # The Dense layers the network will have, described before any is built.
        layers = [
            SimpleNamespace(n_params=Dense.count_parameters(n_in, n_out), units=n_out)
            for n_in, n_out in zip(fan_in, units, strict=True)
        ]
        itemsize = np.dtype(dtype).itemsize
        if self.solver == "lbfgs":
            # The layers, the packed parameters, the previous step and the
            # gradient; scipy's float64 copies and its history of 10 pairs.
            per_param, rows = 4 * itemsize + 24 * 8, n_rows
        else:
            # The same four, and the optimizer's two moment vectors.
            per_param = 6 * itemsize
            rows = min(n_rows, 200 if self.batch_size == "auto" else self.batch_size)
        n_params, n_bytes = training_bytes(layers, rows, itemsize, per_param)
        if n_bytes > limit:
            full_batch = (
                f" (solver='lbfgs' computes all {n_rows:,} rows at once; 'adam' or 'sgd' "
                "work in mini-batches)"
                if self.solver == "lbfgs"
                else ""
            )
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} makes a network of "
                f"{n_params:,} parameters; fitting it needs about {n_bytes / 2**30:,.1f} GiB "
                f"of memory{full_batch}, more than the {limit / 2**30:,.1f} GiB available. "
                "Choose smaller hidden layers."
            )

    def _base_output(self, Y, sample_weight):
        """The output bias that predicts the weighted mean target for every row.

        Added to MLP's random initial bias, it spares training the epochs
        that would otherwise go to learning the targets' offset.
        """
        Y, sample_weight = on_host(Y), on_host(sample_weight)
        if sample_weight is None:
            mean = Y.mean(axis=0, dtype=np.float64)
        else:
            mean = (sample_weight @ Y) / sample_weight.sum()
        if self.out_activation_ == "identity":
            return mean
        tiny = np.finfo(Y.dtype).eps
        if self.out_activation_ == "logistic":
            mean = np.clip(mean, tiny, 1 - tiny)
            return np.log(mean) - np.log1p(-mean)
        return np.log(np.maximum(mean, tiny))  # exp output, or softmax up to a shift

    # -- fitting -------------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        # The root task of scikit-learn's callbacks: one subtask per epoch
        # (per iteration for lbfgs), one for partial_fit. It is made here,
        # outside restores_on_error, so that a failed fit, which puts the
        # estimator's attributes back, still tears its callbacks down.
        self._init_callback_context(
            task_name="partial_fit" if incremental else "fit",
            max_subtasks=1 if incremental else self.max_iter,
        )
        return self._fit_restoring(X, y, sample_weight, incremental, classes)

    @restores_on_error
    def _fit_restoring(self, X, y, sample_weight, incremental, classes):
        hidden = self._hidden_layers()
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        # Under array-API dispatch, training runs where X lives; the targets
        # and weights follow X (a classifier's labels stay on the host).
        xp, _, on_numpy = where(X)
        if not on_numpy:
            y = self._place_targets(y, X)
            sample_weight = same_place(sample_weight, X)
        if first_pass:
            # Categorical columns (none by default, nor in an array for
            # "from_dtype"): the data then take MLP's path, untouched.
            self.is_categorical_ = _is_categorical(X, self.categorical_features)
            self._categorical_encoder = None
            if self.is_categorical_ is not None:
                self._categorical_encoder = _categorical_encoder(
                    self.is_categorical_, type(self).__name__
                )
        X_given = X  # what scikit-learn's callbacks see, as the user gave it
        if getattr(self, "_categorical_encoder", None) is not None:
            X = self._encode_categorical(X, reset=first_pass)
            X, y = check_X_y(
                X, y, multi_output=True, y_numeric=self._y_numeric, dtype=None, estimator=self
            )
        else:
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=["csr", "csc"],
                multi_output=True,
                dtype=[xp.float64, xp.float32],
                y_numeric=self._y_numeric,
                reset=first_pass,
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        tasks = _EpochTasks(self, X_given, y, sample_weight)
        tasks.root.call_on_fit_task_begin(estimator=self, **tasks.data)
        dtype = np.dtype(np.float32 if X.dtype == xp.float32 else np.float64)
        if self._labels_on_host:
            sample_weight = on_host(sample_weight)
        Y, sample_weight = self._encode_targets(
            y, sample_weight, first_pass, classes, dtype, incremental
        )
        Y, sample_weight = same_place(Y, X), same_place(sample_weight, X)

        # Rows of zero weight change nothing but would take batch slots and
        # validation places: leave them out.
        if sample_weight is not None and not bool(xp.all(keep := sample_weight > 0)):
            rows = np.flatnonzero(on_host(keep))
            X, Y, y, sample_weight = (take_rows(a, rows) for a in (X, Y, y, sample_weight))
        # The piecewise-linear encoder learns its bins from the rows that train.
        if first_pass:
            self._network_options = (self.numeric_embedding, self.batch_norm)
            self._numeric_encoder = _numeric_encoder(
                self.numeric_embedding, self._n_numeric(X), self.random_state
            )
        if getattr(self, "_numeric_encoder", None) is not None:
            X = self._encode_numeric(X, reset=first_pass, sample_weight=sample_weight)
        # Equal weights c are no weights, as in the engine, but their sum c * n
        # still divides the penalty, as in MLP: alpha / c keeps that objective.
        self._alpha = self.alpha
        if sample_weight is not None and bool(xp.all(sample_weight == sample_weight[0])):
            self._alpha, sample_weight = self.alpha / float(sample_weight[0]), None

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self.n_outputs_ = Y.shape[1]
            self.n_layers_ = len(hidden) + 2
            self.network_ = self._build_network(X, Y, sample_weight)
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self.validation_scores_ = self.best_validation_score_ = None
            self.validation_loss_curve_ = None
            if self.early_stopping and self.solver in STOCHASTIC_SOLVERS:
                self.validation_scores_, self.validation_loss_curve_ = [], []
                self.best_validation_score_, self.best_loss_ = -np.inf, None
        else:
            if self.n_outputs_ != Y.shape[1]:
                raise ValueError(
                    f"y has {Y.shape[1]} output(s) but the model was fitted with {self.n_outputs_}."
                )
            self._check_same_architecture(hidden)

        optimizer = self._make_optimizer()
        previous = getattr(self.network_, "optimizer_", None)
        if not first_pass and repr(previous) == repr(optimizer):
            optimizer = previous  # same settings: continue its state
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight, optimizer, first_pass, tasks)
        else:
            self._fit_stochastic(X, Y, y, sample_weight, optimizer, first_pass, incremental, tasks)
        tasks.root.call_on_fit_task_end(
            estimator=self,
            **tasks.data,
            reconstruction_attributes=lambda: {"network_": self._network_snapshot()},
        )
        return self

    def _network_snapshot(self):
        """A copy of the fitted network that predicts as it does now.

        Later epochs do not change it. The optimizer's state (moments) is not
        needed to predict and is left out; the history is copied.
        """
        network = copy.copy(self.network_)
        vars(network).pop("optimizer_", None)
        network.history_ = {key: list(values) for key, values in network.history_.items()}
        return copy.deepcopy(network)  # the layers' weights, copied

    def _fit_lbfgs(self, X, Y, sample_weight, optimizer, first_pass, tasks):
        network = self.network_
        start = tasks.start = len(network.history_["loss"])

        def end_of_iteration(network, logs):
            return tasks.end_epoch(logs["epoch"] < self.max_iter)

        error = None
        tasks.begin_epoch()
        try:
            network.fit(
                X,
                Y,
                loss=self._loss_name(),
                optimizer=optimizer,
                epochs=self.max_iter,
                alpha=self._alpha,
                sample_weight=sample_weight,
                warm_start=not first_pass,
                callbacks=[end_of_iteration],
                verbose=int(self.verbose),
            )
        except BaseException as stopped:  # Ctrl-C, divergence, ...
            error = self._stopped(stopped, first_pass)
        self.loss_curve_ = list(network.history_["loss"])
        self.n_iter_ = len(self.loss_curve_) - start
        self.t_ = 0
        if error is not None:
            self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
            raise error
        # scipy converged before max_iter: the iteration begun never ran.
        tasks.close()
        self.loss_ = float(optimizer.result_.fun)
        if optimizer.result_.status != 0 and not tasks.stop_requested:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"({optimizer.result_.message}). Increase max_iter or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fit_stochastic(self, X, Y, y, sample_weight, optimizer, first_pass, incremental, tasks):
        validation_data = None
        if self.early_stopping:
            X, Y, sample_weight, validation_data, y_val = self._split_validation(
                X, Y, y, sample_weight
            )
            X_val, Y_val, sw_val = validation_data
            if not (sparse.issparse(X_val) or where(X_val)[2]):
                # On a device, the encoded targets and weights go there once
                # per fit: the validation score is computed there every epoch.
                validation_data = (X_val, same_place(Y_val, X_val), same_place(sw_val, X_val))
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    f"batch_size={self.batch_size} is larger than the {n_samples} "
                    "training samples; it is clipped to that.",
                    stacklevel=3,
                )
            batch_size = min(self.batch_size, n_samples)

        def score_epoch(network, val_loss, prediction=None):
            """Score the epoch just recorded; return whether it improved.

            Everything is computed (the score, the copy of the best weights)
            before anything is recorded, so that a Ctrl-C leaves either the
            whole epoch's bookkeeping or none of it. ``prediction`` is the
            engine's output on the validation data for this epoch, when it
            gives it (the forward pass of the validation loss).
            """
            score = self._validation_score(validation_data, y_val, prediction)
            # The validation loss breaks ties in the score: a score that
            # has saturated (say, accuracy 1.0 on a small hold-out) would
            # otherwise stop training while the model still improves.
            best_score, best_val_loss = self.best_validation_score_, self._best_val_loss
            improved = score >= best_score + self.tol or (
                score >= best_score and val_loss <= best_val_loss - self.tol
            )
            best = score > best_score or (score == best_score and val_loss < best_val_loss)
            weights = network.get_weights() if best else None
            self.validation_scores_.append(score)
            if best:
                self.best_validation_score_, self._best_val_loss = score, val_loss
                self._best_weights = weights
            return improved

        epochs = 1 if incremental else self.max_iter
        plateau = []  # set when training stops because it no longer improves

        def end_of_epoch(network, logs):
            if self.early_stopping:
                improved = score_epoch(network, logs["val_loss"], logs.get("val_prediction"))
                logs["val_score"] = self.validation_scores_[-1]  # on the epoch's line
            else:
                improved = logs["loss"] <= self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, logs["loss"])
            self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
            stop = False
            if self._no_improvement_count > self.n_iter_no_change:
                optimizer = network.optimizer_
                if optimizer.on_plateau(False):
                    plateau.append(True)
                    stop = True
                else:
                    self._no_improvement_count = 0
                    logs["learning_rate"] = getattr(optimizer, "current_learning_rate", None)
            # scikit-learn's callbacks: the epoch's task ends (a callback may
            # ask to stop), and the next one begins if there is one.
            return tasks.end_epoch(not stop and logs["epoch"] < epochs) or stop

        network = self.network_
        start = tasks.start = len(network.history_["loss"])
        n_scores = len(self.validation_scores_) if self.early_stopping else 0
        self._best_weights, self._best_val_loss = None, np.inf
        error = None
        tasks.begin_epoch()
        try:
            network.fit(
                X,
                Y,
                loss=self._loss_name(),
                optimizer=optimizer,
                epochs=epochs,
                batch_size=batch_size,
                alpha=self._alpha,
                sample_weight=sample_weight,
                shuffle=self.shuffle,
                validation_data=validation_data,
                callbacks=[end_of_epoch],
                warm_start=not first_pass,
                verbose=int(self.verbose),
            )
        except DivergenceError as diverged:
            if self.early_stopping:
                self._record_divergence(network, diverged)
                tasks.close()  # the epoch that diverged ends with nothing to show
            else:
                error = self._stopped(diverged, first_pass)
        except BaseException as stopped:  # Ctrl-C, ...
            error = self._stopped(stopped, first_pass)
        self.loss_curve_ = list(network.history_["loss"])
        self.n_iter_ = len(self.loss_curve_) - start
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        self.t_ = network.samples_seen_
        if self.early_stopping:
            self.validation_loss_curve_ = list(network.history_["val_loss"])
            if len(self.validation_scores_) - n_scores < self.n_iter_:
                # Ctrl-C came after the engine recorded the epoch (its training
                # and validation losses, together) and before its score was.
                score_epoch(network, self.validation_loss_curve_[-1])
            if self._best_weights is not None:
                network.set_weights(self._best_weights)
        del self._best_weights, self._best_val_loss
        if error is not None:
            raise error
        if plateau and self.verbose:
            what = "Validation score" if self.early_stopping else "Training loss"
            print(
                f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs. Stopping."
            )
        if not incremental and self.n_iter_ == self.max_iter and not tasks.stop_requested:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _stopped(self, error, first_pass):
        """Decide what a fit interrupted by ``error`` keeps; return the error to re-raise.

        A Ctrl-C keeps the epochs completed, as MLP does; so does a failure
        while continuing a network (warm start, ``partial_fit``), whose
        weights training has already changed. Any other failure of a fresh
        fit is raised at once, and the estimator is left as it was before
        the call (see :func:`restores_on_error`).
        """
        if first_pass and not isinstance(error, KeyboardInterrupt):
            raise error
        self._keep_after_error = True
        return error

    def _record_divergence(self, network, error):
        """Early stopping after a divergence: a nan score, the best weights so far (as MLP)."""
        network.history_["loss"].append(np.nan)
        network.history_["val_loss"].append(np.nan)
        self.validation_scores_.append(np.nan)
        kept = (
            "the weights of the best validation score"
            if self._best_weights is not None
            else "the weights of the last finite step"
        )
        warnings.warn(
            f"Training diverged at epoch {error.epoch} (the loss is no longer finite); "
            f"early stopping ends the fit with {kept}, and validation_scores_ ends "
            "with nan. Try scaling the data, a lower learning rate, or a larger alpha.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _split_validation(self, X, Y, y, sample_weight):
        n_samples = X.shape[0]
        n_val = max(int(np.ceil(self.validation_fraction * n_samples)), 2)
        stratify = None
        class_counts = self._class_counts(y)
        if class_counts is not None and class_counts.min() >= 2:
            n_classes = len(class_counts)
            if n_samples - max(n_val, n_classes) >= n_classes:
                n_val, stratify = max(n_val, n_classes), y
        if n_samples - n_val < 1:
            raise ValueError(
                f"early_stopping needs at least 2 validation samples and 1 training "
                f"sample, but got n_samples={n_samples}. Set early_stopping=False or "
                "provide more samples."
            )
        if class_counts is not None and class_counts.min() < 2:
            rare = np.unique(y)[class_counts < 2]
            raise ValueError(
                "The least populated classes in y have only 1 member, too few for the "
                "early-stopping validation set, which is stratified by class. Classes "
                f"with too few members are: {rare.tolist()}. Set early_stopping=False, "
                "or provide at least 2 samples of every class."
            )
        # train_test_split's own split, with each array then indexed in its
        # own namespace (labels on the host, the rest where X lives).
        splitter = ShuffleSplit if stratify is None else StratifiedShuffleSplit
        cv = splitter(
            test_size=n_val, train_size=n_samples - n_val, random_state=self._random_state
        )
        train, val = next(cv.split(np.zeros((n_samples, 1)), on_host(stratify)))
        X, X_val, Y, Y_val, y, y_val, sample_weight, sw_val = (
            take_rows(array, rows) for array in (X, Y, y, sample_weight) for rows in (train, val)
        )
        return X, Y, sample_weight, (X_val, Y_val, sw_val), y_val

    def _class_counts(self, y):
        """Samples per class, for a stratified hold-out; None for regression."""
        return None

    def _validation_score(self, validation_data, y_val, prediction=None):
        X_val, Y_val, sw_val = validation_data
        if prediction is None:
            prediction = self.network_.predict(X_val)
        xp = where(prediction)[0]
        if not bool(xp.all(xp.isfinite(prediction))):
            return np.nan
        return self._score_outputs(prediction, y_val, sw_val, Y_val)

    # -- predicting --------------------------------------------------------------

    @property
    def _fitted_weights(self):
        """The first parameter (a weight matrix): where (namespace, device) the model lives."""
        return next(a for layer in self.network_.layers for a in layer.get_parameters())

    def _encode_categorical(self, X, reset):
        """The network's inputs for raw ``X``: numeric columns, then one-hot categories.

        ``n_features_in_`` and ``feature_names_in_`` describe the raw columns,
        checked as ``validate_data`` checks them.
        """
        if not hasattr(X, "shape") and not hasattr(X, "__dataframe__"):
            X = np.asarray(X, dtype=object)  # a list of rows
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        encoder = self._categorical_encoder
        if reset:
            encoded = encoder.fit_transform(X)
        else:
            with warnings.catch_warnings():
                # Unknown categories are ignored by design (all-zero one-hot
                # block), and the feature names were checked just above.
                warnings.filterwarnings("ignore", message="Found unknown categories")
                warnings.filterwarnings("ignore", message=".*ColumnTransformer was fitted")
                encoded = encoder.transform(X)
        if self.is_categorical_.all():
            # Only one-hot columns (float32, exact 0/1): compute in float64, as
            # for any input that is not float32.
            encoded = encoded.astype(np.float64)
        return encoded

    def _n_numeric(self, X):
        """How many of the network's input columns (the first ones) are numeric features."""
        if getattr(self, "is_categorical_", None) is None:
            return X.shape[1]
        return int(np.count_nonzero(~self.is_categorical_))

    def _encode_numeric(self, X, reset, sample_weight=None):
        """The piecewise-linear encoding of the numeric columns of the network's inputs.

        ``X`` is what the network would see without it: the numeric columns,
        then any one-hot columns, which pass on as they are. The encoder works
        on the host; the result goes back where ``X`` lives. On ``reset`` it
        learns its bins, with the rows' weights (a weight of k counts as k
        copies of the row, as in the network's loss).
        """
        encoder = self._numeric_encoder
        host = on_host(X)
        if sparse.issparse(host):
            host = host.toarray()  # the encoding is dense anyway, and wider
        n_numeric = self._n_numeric(host)
        numeric, rest = host[:, :n_numeric], host[:, n_numeric:]
        if reset:
            weights = None if sample_weight is None else on_host(sample_weight)
            encoder.fit(numeric, sample_weight=weights)
        encoded = encoder.transform(numeric)
        if rest.shape[1]:
            encoded = np.hstack([encoded, rest])
        return encoded if where(X)[2] else same_place(encoded, X)

    def _forward(self, X, method):
        check_is_fitted(self, "network_")
        if getattr(self, "_categorical_encoder", None) is not None:
            X = self._encode_categorical(X, reset=False)
        else:
            check_same_namespace(X, self, attribute="_fitted_weights", method=method)
            xp = where(X)[0]
            X = validate_data(
                self,
                X,
                accept_sparse=["csr", "csc"],
                dtype=[xp.float64, xp.float32],
                reset=False,
            )
        if getattr(self, "_numeric_encoder", None) is not None:
            X = self._encode_numeric(X, reset=False)
        return self.network_.predict(X)

    def __sklearn_array_api_convert__(self, converter):
        """A fitted copy whose network lives where ``converter`` moves arrays.

        The hook of scikit-learn's ``move_estimator_to(estimator, xp,
        device)``: the copy's ``coefs_``, ``intercepts_``, network (and its
        optimizer state) are in the target namespace and on its device, and it
        predicts there; nothing is shared with this estimator. Class labels
        (``classes_``) stay numpy arrays on the host, as after ``fit``.
        """
        moved = copy.deepcopy({k: v for k, v in vars(self).items() if k != "network_"})
        new = clone(self)
        vars(new).update(moved)
        if hasattr(self, "network_"):
            new.network_ = self.network_.__sklearn_array_api_convert__(converter)
        for name in ("_target_mean", "_target_scale"):  # LayeredRegressor(target_scaling=...)
            if getattr(self, name, None) is not None:
                setattr(new, name, converter(getattr(self, name)))
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = ARRAY_API_TAG  # scikit-learn >= 1.9's contract (see _compat)
        return tags

    # -- how the estimator shows itself --------------------------------------------

    # scikit-learn's HTML repr links the estimator's name (and each parameter)
    # to this API page of sknet's documentation.
    _doc_link_module = "sknet"
    _doc_link_template = (
        "https://sknet-layers.readthedocs.io/en/stable/generated/sknet.{estimator_name}.html"
    )

    def summary(self):
        """Return a table of the fitted network's layers and parameters.

        One row per layer (hidden layers, then the output layer): its output
        shape, activation, dropout rate and number of parameters; then the
        total, trainable and non-trainable parameter counts and the memory
        they take. Without ``numeric_embedding="periodic"`` or
        ``batch_norm=True``, the counts add up to the sizes of ``coefs_`` and
        ``intercepts_``; with them, the table has a row for each embedding and
        batch-norm layer too, which ``coefs_`` leaves out. The table is
        returned as text: ``print`` it. It also shows in the estimator's HTML
        representation (in a notebook).

        .. versionadded:: 0.2

        Returns
        -------
        str

        See Also
        --------
        sknet.Network.summary : The same table for the engine.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sknet import LayeredClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = LayeredClassifier((8, 4), activation=["relu", "tanh"],
        ...                         dropout=[0.1, 0.0], max_iter=5,
        ...                         random_state=0)
        >>> print(clf.fit(X, y).summary())
        LayeredClassifier: 4 input features, 3 outputs (softmax)
        ==================================================================
        Layer (type)      Output shape   Activation   Dropout       Params
        ------------------------------------------------------------------
        dense (Dense)     (None, 8)      relu         0.1               40
        dense_1 (Dense)   (None, 4)      tanh         -                 36
        dense_2 (Dense)   (None, 3)      softmax      -                 15
        ==================================================================
        Total params: 91 (728 B)
        Trainable params: 91 (728 B)
        Non-trainable params: 0 (0 B)
        >>> sum(w.size for w in clf.coefs_ + clf.intercepts_)
        91
        """
        check_is_fitted(self, "network_")
        from ._summary import summary_table

        outputs = self.n_outputs_
        title = (
            f"{type(self).__name__}: {self.n_features_in_} input features, "
            f"{outputs} output{'s' if outputs != 1 else ''} "
            f"({self.out_activation_})"
        )
        return summary_table(self.network_, title=title)

    def _get_params_html(self, deep=True, doc_link=""):
        # scikit-learn's table cuts sequences short ("(64, ...)"): the
        # per-layer lists are what sets these estimators apart, so their
        # values are shown in full (and copied in full by the table's button).
        # scikit-learn 1.7's takes no doc_link (1.8 added it, with "" as its default).
        params = super()._get_params_html(*((deep, doc_link) if doc_link else (deep,)))
        table_of = type(params)._html_repr

        def full_table():
            return _BaseLayered._with_full_values(table_of(params), params)

        params._html_repr = full_table
        return params

    @staticmethod
    def _with_full_values(table, params):
        """``table`` with the value cell of every sequence parameter written in full."""
        import html

        for name, value in params.items():
            if not isinstance(value, (list, tuple, np.ndarray)):
                continue
            row = table.find(f"Copy {html.escape(name)} to clipboard")
            start = table.find('<td class="value">', row)
            end = table.find("</td>", start)
            if row < 0 or start < 0 or end < 0:
                continue  # a table laid out differently keeps its own cell
            start += len('<td class="value">')
            table = table[:start] + html.escape(repr(value)) + table[end:]
        return table

    def _get_fitted_attr_html(self, doc_link=""):
        # The fitted attributes' table, followed by the summary of the layers.
        attributes = super()._get_fitted_attr_html(doc_link)
        if not hasattr(self, "network_"):
            return attributes
        table_of = type(attributes)._html_repr
        summary = self.summary()

        def with_summary():
            import html

            return (
                f"{table_of(attributes)}"
                '<div class="estimator-table"><details><summary>Summary</summary>'
                f'<pre class="sknet-summary">{html.escape(summary)}</pre></details></div>'
            )

        attributes._html_repr = with_summary
        return attributes
