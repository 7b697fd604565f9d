"""How the estimators' hyperparameters become a network and its optimizer.

:class:`_NetworkMixin` reads the hidden layers (sizes, per-layer activations
and dropout), the optimizer and its schedule from the estimator's
parameters, refuses a network too large for memory, and builds the
:class:`sknet.Network` that the fit trains.
"""

from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np

from .._safeguards import memory_limit, training_bytes
from ..activations import ACTIVATIONS, get_activation
from ..embeddings import PeriodicEmbedding
from ..layers import Dense
from ..network import Network
from ..normalization import BatchNorm
from ..optimizers import LBFGS, SGD, Adam, AdamW
from ..schedules import Cosine, Plateau, Step, WarmupCosine
from .placement import on_host, same_place, where

HIDDEN_ACTIVATIONS = sorted(name for name, act in ACTIVATIONS.items() if not act.output_only)


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


class _NetworkMixin:
    """The estimators' network configuration: layers, optimizer, schedule, build."""

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
