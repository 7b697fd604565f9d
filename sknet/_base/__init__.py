"""What LayeredClassifier and LayeredRegressor share.

The hyperparameters are scikit-learn MLP's, plus per-layer activations and
dropout. :class:`_BaseLayered` translates them into a :class:`sknet.Network`
and the arguments of its ``fit``: batching and backpropagation are the
engine's; early stopping, convergence warnings and fitted attributes are kept
on the estimators' side. Each role is a module of this package: where the
data live (``placement``), the input encoding (``inputs``), the network
configuration (``network``), the fit loops (``fitting``, with the callbacks'
``epoch_tasks``), the summary and HTML repr (``display``) and the names that
differ between scikit-learn versions (``compat``); this module holds the
parameters, the fitted attributes read from the engine and prediction.
"""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._safeguards import LayerArrays, checked_layer_array, layer_parameter, write_layer_array
from ..layers import Dense
from ..schedules import SCHEDULES
from .compat import ARRAY_API_TAG, CallbackSupportMixin, check_same_namespace
from .display import _ReprMixin
from .fitting import _FitMixin

# Besides what _BaseLayered uses, the imports below give names that are found
# here: on_host and same_place by the estimators, _numeric_block by the
# pickles of fitted estimators (a categorical encoder holds it by reference,
# and those made before the split name it sknet._base._numeric_block).
from .inputs import _InputsMixin, _numeric_block  # noqa: F401
from .network import HIDDEN_ACTIVATIONS, _NetworkMixin
from .placement import on_host, same_place, take_rows, where  # noqa: F401

REGRESSION_LOSSES = ["absolute_error", "huber", "poisson", "squared_error"]
# The parameter names of each estimator constructor (see _get_param_names).
_PARAM_NAMES = {}


class _BaseLayered(
    _InputsMixin, _NetworkMixin, _FitMixin, _ReprMixin, CallbackSupportMixin, BaseEstimator
):
    """Shared hyperparameters, fitting and prediction of the two estimators.

    The fit, the network configuration, the input encoding and the repr are
    mixins from their own modules; here are the parameters, the fitted
    attributes read from the engine, prediction and scikit-learn's array-API
    hooks.
    """

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

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads the constructor's signature on every get_params,
        # which clone, repr, set_params and parameter validation all call:
        # about 80 us for these 33 parameters, more than a small fit's epoch.
        # The names depend on the constructor alone: read once per __init__.
        init = cls.__init__
        names = _PARAM_NAMES.get(init)
        if names is None:
            names = _PARAM_NAMES[init] = tuple(super()._get_param_names())
        return list(names)

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

    # -- predicting --------------------------------------------------------------

    @property
    def _fitted_weights(self):
        """The first parameter (a weight matrix): where (namespace, device) the model lives."""
        return next(a for layer in self.network_.layers for a in layer.get_parameters())

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
        tags.array_api_support = ARRAY_API_TAG  # scikit-learn >= 1.9's contract (see .compat)
        return tags
