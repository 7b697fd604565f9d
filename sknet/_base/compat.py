"""What sknet needs from scikit-learn, on every scikit-learn it supports.

sknet supports scikit-learn from :data:`SKLEARN_MIN_VERSION` on (the floor
that ``pyproject.toml`` declares; a test keeps the two equal). A few of the
names the estimators use are newer than that floor, or private to
scikit-learn and added late:

- ``sklearn.callback`` (the callback API: ``set_callbacks``, ``ProgressBar``,
  ``ScoringMonitor``) is new in scikit-learn 1.9. Before it, the estimators
  fit, predict and search as usual; only :meth:`set_callbacks` is missing, and
  calling it with a callback raises an error that names the version needed.
- ``move_to`` (1.8) and ``check_same_namespace`` (1.9), of
  ``sklearn.utils._array_api``, and ``_check_categorical_features`` (1.9) of
  ``sklearn.utils.validation``.
- The ``array_api_support`` tag, claimed where scikit-learn checks the
  array-API contract the estimators follow (1.9 on): see :data:`ARRAY_API_TAG`.

Each name is scikit-learn's own where the installed version has it, and
otherwise sknet's fallback below, written from the documented behaviour. This
module is on the scikit-learn side: the engine modules never import it.

Examples
--------
>>> from sknet._base import compat as _compat
>>> _compat.SKLEARN_MIN_VERSION
'1.6'
>>> isinstance(_compat.HAS_CALLBACKS, bool)
True
"""

import re

import numpy as np
import sklearn
from array_api_compat import array_namespace, is_array_api_obj
from array_api_compat import device as device_of
from scipy import sparse

#: The oldest scikit-learn sknet supports: ``pyproject.toml`` declares it.
SKLEARN_MIN_VERSION = "1.6"

#: The scikit-learn release that brought the callback API (``sklearn.callback``).
CALLBACKS_VERSION = "1.9"

#: The installed scikit-learn's (major, minor) version.
SKLEARN_VERSION = tuple(
    int(part) for part in re.match(r"(\d+)\.(\d+)", sklearn.__version__).groups()
)

#: Whether the estimators declare array-API support (the ``array_api_support``
#: tag) to this scikit-learn. They follow the contract of scikit-learn 1.9:
#: class labels stay on the host (``classes_`` is a numpy array, as after a fit
#: on numpy), and formulas pass Python numbers to ``xp.where`` (array API
#: standard 2024.12), so that nothing is uploaded per step. scikit-learn 1.6 to
#: 1.8 check another contract (``classes_`` in the input's namespace; 1.6 also
#: holds array_api_strict to the 2023.12 standard), so the tag is claimed from
#: 1.9 on only. Array-API dispatch itself works the same on every version.
ARRAY_API_TAG = SKLEARN_VERSION >= (1, 9)


def _is_numpy(xp):
    """Whether the array namespace ``xp`` is numpy (or array-api-compat's numpy wrapper)."""
    return xp.__name__.split(".")[-1] == "numpy"


# -- callbacks (scikit-learn >= 1.9) -------------------------------------------


class _NoCallbackContext:
    """The root task of a fit where scikit-learn has no callback API.

    It stands for scikit-learn's ``CallbackContext``: the estimators make
    subtasks and call its hooks only when callbacks are set, which they cannot
    be without the API, so the hooks do nothing.

    Examples
    --------
    >>> from sknet._base.compat import _NoCallbackContext
    >>> context = _NoCallbackContext()
    >>> context.subcontext(task_name="epoch") is context
    True
    >>> context.call_on_fit_task_end(estimator=None)
    False
    """

    def subcontext(self, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return None

    def call_on_fit_task_end(self, **kwargs):
        return False  # no callback asks to stop


_NO_CALLBACK_CONTEXT = _NoCallbackContext()


class _NoCallbackSupportMixin:
    """scikit-learn's ``CallbackSupportMixin`` where scikit-learn has no callback API.

    The estimators fit as they do without callbacks. :meth:`set_callbacks`
    with no callback (which clears them) returns the estimator; with a
    callback, it raises a ``RuntimeError`` that names the scikit-learn
    version that brought callbacks, rather than ignoring them.

    Examples
    --------
    >>> from sknet._base.compat import _NoCallbackSupportMixin
    >>> class Estimator(_NoCallbackSupportMixin):
    ...     pass
    >>> estimator = Estimator()
    >>> estimator.set_callbacks() is estimator
    True
    >>> estimator.set_callbacks(object())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: Callbacks need scikit-learn >= 1.9 ...
    """

    def set_callbacks(self, *callbacks):
        """Refuse callbacks: this scikit-learn has no callback API.

        Parameters
        ----------
        *callbacks : callback instances
            The callbacks to set; none (clearing them) is accepted.

        Returns
        -------
        self : estimator instance
            The estimator itself, when no callback is given.

        Raises
        ------
        RuntimeError
            When a callback is given.
        """
        if callbacks:
            raise RuntimeError(
                f"Callbacks need scikit-learn >= {CALLBACKS_VERSION} (its callback API, "
                f"sklearn.callback, is new in {CALLBACKS_VERSION}); this is scikit-learn "
                f"{sklearn.__version__}. Upgrade scikit-learn to use set_callbacks; "
                "everything else works on this version."
            )
        return self

    # Without the callback API, the root task is a context whose hooks do
    # nothing; it holds no state, so one shared instance, a class attribute,
    # serves every fit and nothing of it stays on a fitted estimator (which
    # pickles, and persists with skops, as on scikit-learn 1.9).
    _callback_fit_ctx = _NO_CALLBACK_CONTEXT

    def _init_callback_context(self, task_name="fit", task_id=0, max_subtasks=0, **kwargs):
        if SKLEARN_VERSION >= (1, 9):
            # scikit-learn 1.9's fit context (where this stand-in is used only
            # on purpose, in tests) tears these down after the fit.
            self._callback_fit_ctx = _NO_CALLBACK_CONTEXT
            self._skl_callbacks_to_teardown = []
        return self._callback_fit_ctx


try:
    from sklearn.callback import CallbackSupportMixin

    HAS_CALLBACKS = True
except ImportError:  # scikit-learn < 1.9
    CallbackSupportMixin = _NoCallbackSupportMixin
    HAS_CALLBACKS = False


# -- array-API helpers ---------------------------------------------------------


def _move_to(array, *, xp, device):
    """``array`` in the namespace ``xp`` on ``device`` (None passes through).

    scikit-learn's ``move_to`` (1.8) for one array: an array already there is
    returned as it is; a sparse matrix passes through to numpy only; other
    moves go through numpy on the host.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.compat import _move_to
    >>> _move_to([1.0, 2.0], xp=np, device="cpu")
    array([1., 2.])
    """
    if array is None:
        return None
    if sparse.issparse(array):
        if _is_numpy(xp):
            return array
        raise TypeError(
            "Sparse arrays are only accepted (and passed through) when the target "
            "namespace is numpy."
        )
    from ..backends import to_numpy

    if isinstance(array, (list, tuple)) or not is_array_api_obj(array):
        array = np.asarray(array)
    # The array's own namespace and device (scikit-learn's get_namespace
    # reports numpy for every array while dispatch is off).
    if array_namespace(array) is array_namespace(xp.empty(0)) and device_of(array) == device:
        return array
    host = to_numpy(array)
    if _is_numpy(xp):
        return host
    return xp.asarray(host, device=device)


def _check_same_namespace(X, estimator, *, attribute, method):
    """Raise ``ValueError`` if ``X`` is not where ``estimator.<attribute>`` lives.

    scikit-learn's ``check_same_namespace`` (1.9): under array-API dispatch,
    the data given to ``method`` must be in the namespace and on the device of
    the fitted attribute; numpy arrays, array-likes and sparse matrices all
    count as numpy. Without dispatch there is nothing to check.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from sknet._base.compat import _check_same_namespace
    >>> fitted = SimpleNamespace(coef_=np.ones(2))
    >>> _check_same_namespace(
    ...     [[1.0, 2.0]], fitted, attribute="coef_", method="predict"
    ... )
    """
    if not sklearn.get_config()["array_api_dispatch"]:
        return
    fitted_xp, fitted_device = _namespace_and_device(getattr(estimator, attribute))
    X_xp, X_device = _namespace_and_device(X)
    if _is_numpy(fitted_xp) and _is_numpy(X_xp):
        return
    if X_xp is fitted_xp and X_device == fitted_device:
        return
    if X_xp is not fitted_xp:
        differ = f"The namespaces differ: {fitted_xp.__name__} in fit, {X_xp.__name__} in {method}."
    else:
        differ = f"The devices differ: {fitted_device} in fit, {X_device} in {method}."
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(). {differ}"
    )


def _namespace_and_device(array):
    """The namespace and device of ``array``; numpy's (and no device) for array-likes."""
    if sparse.issparse(array) or not is_array_api_obj(array):
        return np, None  # a list, a DataFrame, a sparse matrix: numpy's side
    return array_namespace(array), device_of(array)


def _check_categorical_features_fallback(X, categorical_features):
    """The boolean mask of ``X``'s categorical columns, or None when there is none.

    scikit-learn's ``_check_categorical_features`` (1.9), as
    HistGradientBoosting documents ``categorical_features``: None; a boolean
    mask; integer indices; feature names (for data with column names); or
    ``"from_dtype"``, the columns of a DataFrame whose dtype is categorical
    (pandas' ``category``, or a categorical column of the dataframe
    interchange protocol). An array has no categorical dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.compat import _check_categorical_features_fallback
    >>> _check_categorical_features_fallback(np.zeros((2, 3)), [2])
    array([False, False,  True])
    >>> mask = _check_categorical_features_fallback(np.zeros((2, 3)), "from_dtype")
    >>> mask is None
    True
    """
    if categorical_features is None:
        return None
    if isinstance(categorical_features, str) and categorical_features == "from_dtype":
        return _categorical_dtypes(X)
    features = np.asarray(categorical_features)
    if features.size == 0:
        return None
    kind = features.dtype.kind
    if kind == "O" and {type(f) for f in features.ravel()} == {str}:
        kind = "U"
    if kind not in ("i", "b", "U"):
        raise ValueError(
            "categorical_features must be an array-like of bool, int or str, got: "
            f"{features.dtype.name}."
        )
    n_features = X.shape[1]
    is_categorical = np.zeros(n_features, dtype=bool)
    if kind == "U":
        names = getattr(X, "columns", None)
        if names is None:
            raise ValueError(
                "categorical_features should be passed as an array of integers or as a "
                "boolean mask when the model is fitted on data without feature names."
            )
        names = [str(name) for name in names]
        for name in features:
            if name not in names:
                raise ValueError(
                    f"categorical_features has an item value '{name}' which is not a "
                    f"valid feature name of the training data. Observed feature names: "
                    f"{names}"
                )
            is_categorical[names.index(name)] = True
    elif kind == "i":
        if features.max() >= n_features or features.min() < 0:
            raise ValueError(
                "categorical_features set as integer indices must be in [0, n_features - 1]"
            )
        is_categorical[features] = True
    else:
        if features.shape != (n_features,):
            raise ValueError(
                "categorical_features set as a boolean mask must have shape "
                f"(n_features,), got: {features.shape}"
            )
        is_categorical = features.astype(bool)
    return is_categorical if is_categorical.any() else None


def _categorical_dtypes(X):
    """The mask of the categorical-dtype columns of a DataFrame ``X`` (None for arrays)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and type(X).__module__.startswith("pandas"):
        mask = np.asarray([getattr(dtype, "name", None) == "category" for dtype in dtypes])
    elif hasattr(X, "__dataframe__"):
        # The interchange protocol's dtype kind 23 is CATEGORICAL.
        frame = X.__dataframe__()
        mask = np.asarray([int(column.dtype[0]) == 23 for column in frame.get_columns()])
    else:
        return None
    return mask if mask.any() else None


try:
    from sklearn.utils._array_api import move_to
except ImportError:  # scikit-learn < 1.8
    move_to = _move_to

try:
    from sklearn.utils._array_api import check_same_namespace
except ImportError:  # scikit-learn < 1.9
    check_same_namespace = _check_same_namespace

try:
    from sklearn.utils.validation import _check_categorical_features
except ImportError:  # scikit-learn < 1.9
    _check_categorical_features = _check_categorical_features_fallback

__all__ = [
    "ARRAY_API_TAG",
    "CALLBACKS_VERSION",
    "HAS_CALLBACKS",
    "SKLEARN_MIN_VERSION",
    "SKLEARN_VERSION",
    "CallbackSupportMixin",
    "_check_categorical_features",
    "check_same_namespace",
    "move_to",
]
