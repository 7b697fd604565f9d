"""sknet on every scikit-learn it declares: the floor, and the fallbacks of sknet._base.compat.

The names that are newer than the floor (the callback API of 1.9, a few
private array-API and validation helpers) have fallbacks in sknet._base.compat. The
fallbacks are tested here on whatever scikit-learn is installed, against
scikit-learn's own functions where it has them; and a subprocess that hides
the newer names shows that sknet imports, fits, predicts and refuses
callbacks clearly without them.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import sklearn
from packaging.version import Version
from scipy import sparse

from conftest import requires_sklearn
from sknet import LayeredClassifier, LayeredRegressor
from sknet._base import compat as _compat
from sknet.backends import to_numpy

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _declared_floor():
    """The scikit-learn floor that pyproject.toml's dependency line declares."""
    text = PYPROJECT.read_text()
    floors = re.findall(r'"scikit-learn\s*>=\s*([0-9][0-9.]*)', text)
    assert len(floors) == 1, floors
    return floors[0]


@pytest.mark.skipif(not PYPROJECT.exists(), reason="runs from a source checkout")
def test_declared_floor_is_what_compat_supports():
    assert _declared_floor() == _compat.SKLEARN_MIN_VERSION


def test_installed_scikit_learn_is_at_least_the_floor():
    assert Version(sklearn.__version__) >= Version(_compat.SKLEARN_MIN_VERSION)


def test_callbacks_are_there_exactly_from_their_version():
    has_api = Version(sklearn.__version__).release[:2] >= Version("1.9").release
    assert _compat.HAS_CALLBACKS is has_api
    assert _compat.CALLBACKS_VERSION == "1.9"


@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_array_api_tag_from_the_contract_sknet_follows(Estimator):
    # scikit-learn 1.9's array-API contract (labels on the host); older
    # versions check another, so the tag is claimed from 1.9 on only.
    expected = Version(sklearn.__version__).release[:2] >= (1, 9)
    assert _compat.ARRAY_API_TAG is expected
    assert Estimator().__sklearn_tags__().array_api_support is expected


@requires_sklearn("1.7", "The HTML repr's parameter table")
def test_parameter_table_with_scikit_learn_1_7s_signature(monkeypatch):
    # scikit-learn 1.7's BaseEstimator._get_params_html takes no doc_link (1.8
    # added it) and its HTML repr calls it as _get_params_html(deep=False).
    from sklearn.base import BaseEstimator

    newer = BaseEstimator._get_params_html

    def as_in_1_7(self, deep=True):
        return newer(self, deep)

    monkeypatch.setattr(BaseEstimator, "_get_params_html", as_in_1_7)
    clf = LayeredClassifier((8, 4), dropout=[0.1, 0.0])
    params = clf._get_params_html(deep=False)
    assert params["hidden_layer_sizes"] == (8, 4)
    assert params["dropout"] == [0.1, 0.0]
    assert "[0.1, 0.0]" in params._repr_html_inner()


# -- the callback fallback -------------------------------------------------------


if _compat.HAS_CALLBACKS:

    class _OldClassifier(_compat._NoCallbackSupportMixin, LayeredClassifier):
        """LayeredClassifier as it is on a scikit-learn without the callback API."""

else:
    _OldClassifier = LayeredClassifier  # which is that already


def test_fallback_refuses_callbacks_naming_the_version(iris):
    X, y = iris
    clf = _OldClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    with pytest.raises(RuntimeError, match=r"scikit-learn >= 1\.9.*sklearn\.callback"):
        clf.set_callbacks(object())
    assert clf.set_callbacks() is clf  # clearing callbacks is no request for them
    reference = LayeredClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        fitted = clf.fit(X, y)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        reference.fit(X, y)
    # The fit without the callback API is the fit with it, epoch for epoch.
    assert fitted.n_iter_ == reference.n_iter_ == 30
    np.testing.assert_array_equal(fitted.predict_proba(X), reference.predict_proba(X))
    fitted.partial_fit(X, y)
    reference.partial_fit(X, y)
    np.testing.assert_array_equal(fitted.predict_proba(X), reference.predict_proba(X))
    # Nothing of the callback machinery stays on the fitted estimator.
    assert not {"_callback_fit_ctx", "_skl_callbacks_to_teardown"} & set(vars(fitted))


@pytest.mark.skipif(_compat.HAS_CALLBACKS, reason="scikit-learn has the callback API")
def test_estimators_refuse_callbacks_without_the_api():
    with pytest.raises(RuntimeError, match=r"scikit-learn >= 1\.9"):
        LayeredRegressor().set_callbacks(object())


def test_no_callback_context_never_asks_to_stop():
    context = _compat._NoCallbackContext()
    assert context.subcontext(task_name="epoch", max_subtasks=0) is context
    assert context.call_on_fit_task_begin(estimator=None, X=None) is None
    assert context.call_on_fit_task_end(estimator=None) is False


# -- the array-API fallbacks ---------------------------------------------------


def test_move_to_fallback_numpy_and_sparse():
    array = np.arange(3.0)
    assert _compat._move_to(array, xp=np, device="cpu") is array
    assert _compat._move_to(None, xp=np, device="cpu") is None
    matrix = sparse.random(3, 3, density=0.5, format="csr", random_state=0)
    assert _compat._move_to(matrix, xp=np, device="cpu") is matrix


def test_move_to_fallback_round_trip_on_a_device():
    xps = pytest.importorskip("array_api_strict")
    device = xps.Device("device1")
    moved = _compat._move_to(np.arange(3.0), xp=xps, device=device)
    assert moved.device == device
    assert _compat._move_to(moved, xp=xps, device=device) is moved
    back = _compat._move_to(moved, xp=np, device="cpu")
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="Sparse"):
        _compat._move_to(sparse.eye(2, format="csr"), xp=xps, device=device)


def _namespace_checks():
    checks = [_compat._check_same_namespace]
    if _compat.check_same_namespace is not _compat._check_same_namespace:
        checks.append(_compat.check_same_namespace)  # scikit-learn's own, to agree with
    return checks


@pytest.mark.parametrize("check", _namespace_checks())
def test_check_same_namespace_fallback_agrees(check):
    xps = pytest.importorskip("array_api_strict")
    from types import SimpleNamespace

    on_device = SimpleNamespace(coef_=xps.asarray([1.0, 2.0], device=xps.Device("device1")))
    on_host = SimpleNamespace(coef_=np.ones(2))
    X_device = xps.asarray([[1.0, 2.0]], device=xps.Device("device1"))
    X_other_device = xps.asarray([[1.0, 2.0]], device=xps.Device("device2"))
    X_numpy = np.ones((1, 2))
    # Without dispatch, nothing is checked.
    check(X_numpy, on_device, attribute="coef_", method="predict")
    with sklearn.config_context(array_api_dispatch=True):
        check(X_device, on_device, attribute="coef_", method="predict")
        check(X_numpy, on_host, attribute="coef_", method="predict")
        check([[1.0, 2.0]], on_host, attribute="coef_", method="predict")
        for X, fitted in [(X_numpy, on_device), (X_device, on_host), (X_other_device, on_device)]:
            with pytest.raises(ValueError, match=r"same namespace and the same device"):
                check(X, fitted, attribute="coef_", method="predict")


# -- categorical features --------------------------------------------------------


def _categorical_checks():
    checks = [_compat._check_categorical_features_fallback]
    if _compat._check_categorical_features is not _compat._check_categorical_features_fallback:
        checks.append(_compat._check_categorical_features)  # scikit-learn's own
    return checks


@pytest.mark.parametrize("check", _categorical_checks())
def test_categorical_features_fallback_agrees(check):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(
        {
            "size": [1.0, 2.0, 3.0],
            "colour": pd.Categorical(["red", "blue", "red"]),
            "name": ["a", "b", "c"],  # object, not a categorical dtype
        }
    )
    expected = [False, True, False]
    np.testing.assert_array_equal(check(X, "from_dtype"), expected)
    np.testing.assert_array_equal(check(X, ["colour"]), expected)
    np.testing.assert_array_equal(check(X, np.array(["colour"], dtype=object)), expected)
    np.testing.assert_array_equal(check(X, [1]), expected)
    np.testing.assert_array_equal(check(X, expected), expected)
    assert check(X, None) is None
    assert check(X, []) is None
    assert check(X, [False, False, False]) is None
    assert check(X[["size", "name"]], "from_dtype") is None
    assert check(X.to_numpy(), "from_dtype") is None
    for bad, message in [
        ([3], r"must be in \[0, n_features - 1\]"),
        ([-1], r"must be in \[0, n_features - 1\]"),
        (["shade"], "not a valid feature name"),
        ([True, False], "boolean mask must have shape"),
        ([1.5], "must be an array-like of bool, int or str"),
    ]:
        with pytest.raises(ValueError, match=message):
            check(X, bad)
    with pytest.raises(ValueError, match="without feature names"):
        check(X.to_numpy(), ["colour"])


def test_fallbacks_in_place_of_scikit_learns(monkeypatch):
    """The estimators with every fallback in place: categorical data and a device."""
    pd = pytest.importorskip("pandas")
    xps = pytest.importorskip("array_api_strict")
    import sknet._base as base
    import sknet._base.inputs as inputs
    import sknet._base.placement as placement

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"size": rng.normal(size=40), "colour": pd.Categorical(rng.choice(["r", "g"], 40))}
    )
    y = X["size"].to_numpy() + (X["colour"] == "r").to_numpy()
    X_numeric = rng.normal(size=(40, 3))
    settings = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        reference = LayeredRegressor(categorical_features="from_dtype", **settings).fit(X, y)
        plain = LayeredRegressor(**settings).fit(X_numeric, y)

    # Each name is replaced in the module that calls it.
    monkeypatch.setattr(
        inputs, "_check_categorical_features", _compat._check_categorical_features_fallback
    )
    monkeypatch.setattr(base, "check_same_namespace", _compat._check_same_namespace)
    monkeypatch.setattr(placement, "move_to", _compat._move_to)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        model = LayeredRegressor(categorical_features="from_dtype", **settings).fit(X, y)
    np.testing.assert_array_equal(model.is_categorical_, [False, True])
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))

    device = xps.Device("device1")
    X_x, y_x = xps.asarray(X_numeric, device=device), xps.asarray(y, device=device)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.warns(sklearn.exceptions.ConvergenceWarning):
            on_device = LayeredRegressor(**settings).fit(X_x, y_x)
        prediction = on_device.predict(X_x)
        assert prediction.device == device
        with pytest.raises(ValueError, match="same namespace"):
            on_device.predict(X_numeric)
    np.testing.assert_allclose(to_numpy(prediction), plain.predict(X_numeric), atol=1e-10)


# -- sknet without what scikit-learn added after the floor ---------------------------


@pytest.mark.skipif(not _compat.HAS_CALLBACKS, reason="the names are missing already")
@pytest.mark.xdist_group("without_numba")  # one interpreter for the session's checks
def test_sknet_without_the_names_newer_than_the_floor(without_numba):
    # The interpreter (tests/conftest.py) hides the names before it imports
    # sknet, which then imports, fits, predicts and refuses callbacks clearly.
    assert float(without_numba["@compat_accuracy"]) > 0.6
    assert without_numba["@compat_refusal"].startswith("Callbacks need scikit-learn >= 1.9")
    # Those are the last two lines it printed: nothing else came of those steps.
    assert [line.split()[0] for line in without_numba["out"].splitlines()[-2:]] == [
        "@compat_accuracy",
        "@compat_refusal",
    ]
