"""Hostile input, failed refits, Ctrl-C, and drop-in parity with scikit-learn's MLP.

Nothing a user gives is lost or silently mangled: bad class weights and labels
are clear errors, a failed refit leaves the previous model whole, an
interrupted fit keeps the epochs it completed, and where scikit-learn's
``MLPClassifier``/``MLPRegressor`` behave in a way a user would notice
(divergence under early stopping, ``partial_fit``, one class, warm starts,
assignable weights), the estimators behave the same.

The worked example of MLP's ``test_fit`` (one SGD step from given weights)
is reproduced to the 1e-6 its hand computation allows.
"""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier

from sknet import LayeredClassifier, LayeredRegressor, Network
from sknet.training import DivergenceError, Trainer

BOTH = pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
SMALL = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
# The regression data of these tests (the conftest fixture's, smaller).
REGRESSION = dict(n_samples=120, n_features=4)


def _fitted_state(estimator):
    """Everything a fit sets, as comparable copies."""
    state = {
        name: (list(value) if isinstance(value, list) else value)
        for name, value in vars(estimator).items()
        if name.endswith("_") and name != "network_"
    }
    state["weights"] = estimator.network_.get_weights()
    return state


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for name, value in before.items():
        if name == "weights":
            for a, b in zip(value, after[name], strict=True):
                assert np.array_equal(a, b)
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, after[name]), name
        else:
            assert value == after[name] or (value != value and after[name] != after[name]), name


# -- class_weight ------------------------------------------------------------------


@pytest.mark.parametrize(
    "weight, message",
    [
        (-1.0, "must be finite and non-negative, got -1.0 for class 0"),
        (np.nan, "must be finite and non-negative, got nan for class 0"),
        (np.inf, "must be finite and non-negative, got inf for class 0"),
        (None, "must be numbers, got None for class 0"),
        ("2", "must be numbers, got '2' for class 0"),
    ],
)
def test_bad_class_weight_values_are_named(weight, message, iris):
    # Before: -1, nan and None silently dropped class 0 (its rows got weights
    # that are not > 0), inf blamed sample_weight, "2" failed in float().
    X, y = iris
    clf = LayeredClassifier(class_weight={0: weight, 1: 1.0}, **SMALL)
    with pytest.raises(ValueError, match=re.escape(f"class_weight values {message}")):
        clf.fit(X, y)


def test_all_zero_class_weights_are_a_clear_error(iris):
    X, y = iris
    zero = {0: 0.0, 1: 0.0, 2: 0.0}
    with pytest.raises(ValueError, match=r"class_weight=\{.*\} gives every sample of y zero"):
        LayeredClassifier(class_weight=zero, **SMALL).fit(X, y)  # was an IndexError
    # Zero for the only classes that have sample weight: the same, said so.
    sample_weight = (y == 1).astype(float)
    clf = LayeredClassifier(class_weight={1: 0.0}, **SMALL)
    with pytest.raises(ValueError, match=r"zero weight \(with sample_weight\)"):
        clf.fit(X, y, sample_weight=sample_weight)
    # A zero weight for some classes stays allowed: their rows count for nothing.
    fitted = LayeredClassifier(class_weight={0: 0.0}, **SMALL).fit(X, y)
    weighted = LayeredClassifier(**SMALL).fit(X, y, sample_weight=(y > 0).astype(float))
    assert fitted.classes_.tolist() == [0, 1, 2]
    assert fitted.loss_curve_ == weighted.loss_curve_


# -- labels ----------------------------------------------------------------------------

MISSING = "y has missing class labels (None, NaN or pd.NA) in 75 row(s), the first at index 1"
MIXED = "y mixes string and non-string class labels"


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array(["a", None], dtype=object), MISSING),
        (np.array(["a", np.nan], dtype=object), MISSING),
        (np.array(["a", 1], dtype=object), f"{MIXED} (e.g. 'a' and 1)"),
        (["a", 1], f"{MIXED} (e.g. 'a' and 1)"),  # numpy would make 1 the string "1"
        (pd.Series(["a", pd.NA], dtype="string"), MISSING),
        (pd.Series(["a", pd.NA], dtype=object), MISSING),
        (pd.array([1, pd.NA], dtype="Int64"), MISSING),
    ],
    ids=["str-None", "str-nan", "str-int", "list-str-int", "string-NA", "object-NA", "Int64-NA"],
)
def test_bad_labels_are_a_clear_error(labels, message, iris):
    X, _ = iris
    y = np.tile(np.asarray(labels, dtype=object), 75)
    if isinstance(labels, pd.Series):
        y = pd.Series(y, dtype=labels.dtype)
    elif isinstance(labels, pd.api.extensions.ExtensionArray):
        y = pd.array(y, dtype=labels.dtype)
    elif isinstance(labels, list):
        y = list(y)
    with pytest.raises(ValueError, match=re.escape(message)):
        LayeredClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=re.escape(message)):
        LayeredClassifier(**SMALL).partial_fit(X, y, classes=["a", "b"])


def test_mixed_classes_in_partial_fit_are_a_clear_error(iris):
    X, _ = iris
    y = np.array(["a", "b"] * 75)
    with pytest.raises(ValueError, match=r"classes mixes string and non-string"):
        LayeredClassifier(**SMALL).partial_fit(X, y, classes=["a", "b", 3])


# -- dtypes and sizes --------------------------------------------------------------------


def test_float32_X_with_targets_beyond_float32_is_a_clear_error(regression):
    X, y = regression(**REGRESSION)
    y = y * 1e39  # finite in float64, inf in float32
    message = "y has values up to 3.05e+39 in magnitude, beyond the range of float32"
    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        LayeredRegressor(**SMALL).fit(X.astype(np.float32), y)
    assert "Pass X as float64" in str(excinfo.value)
    # Within range, float32 fits as before.
    reg = LayeredRegressor(**SMALL).fit(X.astype(np.float32), y / 1e39)
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


@BOTH
def test_too_large_hidden_layers_are_refused_before_allocating(
    Estimator, monkeypatch, estimator_data
):
    X, y = estimator_data(Estimator, **REGRESSION)

    def no_allocation(*args, **kwargs):
        raise AssertionError("the network must not be built")

    monkeypatch.setattr(Network, "add_layer", no_allocation)
    estimator = Estimator(hidden_layer_sizes=(1_000_000, 1_000_000), max_iter=1)
    message = "hidden_layer_sizes=(1000000, 1000000) makes a network of 1,000,00"
    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        estimator.fit(X, y)
    assert "GiB of memory, more than the" in str(excinfo.value)
    assert not hasattr(estimator, "network_")


def test_memory_error_while_building_names_hidden_layer_sizes(monkeypatch, iris):
    X, y = iris
    clf = LayeredClassifier(**SMALL).fit(X, y)
    before = _fitted_state(clf)

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Network, "add_layer", out_of_memory)
    with pytest.raises(MemoryError, match=r"hidden_layer_sizes=\(4,\); choose smaller"):
        clf.fit(X, y)
    _assert_same_state(before, _fitted_state(clf))


# -- failed refits ---------------------------------------------------------------------


def test_refit_failing_on_bad_data_keeps_the_previous_model(iris):
    X, y = iris
    clf = LayeredClassifier(**SMALL).fit(X, y)
    before, proba = _fitted_state(clf), clf.predict_proba(X)
    # Two features and two classes, failing late (class_weight names a class
    # y does not have): before, classes_ and n_features_in_ already changed
    # while the network stayed the 4-feature, 3-class one.
    clf.set_params(class_weight={7: 1.0})
    with pytest.raises(ValueError, match="not classes"):
        clf.fit(X[:100, :2], y[:100])
    clf.set_params(class_weight=None)
    _assert_same_state(before, _fitted_state(clf))
    assert np.array_equal(clf.predict_proba(X), proba)
    # Feature names are part of the fit too.
    frame = pd.DataFrame(X[:, :2], columns=["a", "b"])
    with pytest.raises(ValueError, match="least populated classes"):
        clf.set_params(early_stopping=True).fit(frame.iloc[:101], y[:101])
    assert not hasattr(clf, "feature_names_in_")
    _assert_same_state(before, _fitted_state(clf))


@BOTH
def test_refit_failing_on_bad_parameters_keeps_the_previous_model(
    Estimator, estimator_data, outputs
):
    X, y = estimator_data(Estimator, **REGRESSION)
    estimator = Estimator(**SMALL).fit(X, y)
    before, predicted = _fitted_state(estimator), outputs(estimator, X)
    # Too few rows for the early-stopping split: found after the new network
    # was built, which replaced the fitted one before.
    estimator.set_params(early_stopping=True, hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="early_stopping needs at least 2 validation"):
        estimator.fit(X[:2], y[:2])
    _assert_same_state(before, _fitted_state(estimator))
    assert np.array_equal(outputs(estimator, X), predicted)


def test_refit_diverging_mid_training_keeps_the_previous_model(regression):
    X, y = regression(**REGRESSION)
    reg = LayeredRegressor(**SMALL).fit(X, y)
    before, predicted = _fitted_state(reg), reg.predict(X)
    reg.set_params(solver="sgd", learning_rate_init=1e6, max_iter=50)
    with pytest.raises(DivergenceError, match="diverged"):
        reg.fit(1e3 * X, 1e3 * y)
    _assert_same_state(before, _fitted_state(reg))
    assert np.array_equal(reg.predict(X), predicted)


@BOTH
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_refit_failing_mid_training_keeps_the_previous_model(
    Estimator, solver, monkeypatch, estimator_data, outputs
):
    X, y = estimator_data(Estimator, **REGRESSION)
    estimator = Estimator(solver=solver, **SMALL).fit(X, y)
    before, predicted = _fitted_state(estimator), outputs(estimator, X)
    calls = {"n": 0}
    forward_backward = Trainer.forward_backward

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise MemoryError("simulated")
        return forward_backward(self, *args)

    monkeypatch.setattr(Trainer, "forward_backward", failing)
    estimator.set_params(hidden_layer_sizes=(6, 3), batch_size=32)
    with pytest.raises(MemoryError, match="simulated"):
        estimator.fit(X, y)
    _assert_same_state(before, _fitted_state(estimator))
    assert np.array_equal(outputs(estimator, X), predicted)


def test_warm_refit_diverging_keeps_the_epochs_it_completed(regression):
    # A warm start trains the fitted network in place: the attributes then
    # describe what it did, and the weights are those of the last finite step.
    X, y = regression(**REGRESSION)
    reg = LayeredRegressor(solver="sgd", warm_start=True, **SMALL).fit(X, y)
    reg.set_params(learning_rate_init=0.5, max_iter=50)
    with pytest.raises(DivergenceError) as excinfo:
        reg.fit(X, 1e5 * y)
    completed = excinfo.value.epoch - 1
    assert reg.n_iter_ == completed
    assert reg.loss_curve_ == reg.network_.history_["loss"]
    assert len(reg.loss_curve_) == 5 + completed
    assert all(np.isfinite(w).all() for w in reg.coefs_ + reg.intercepts_)


# -- interrupts --------------------------------------------------------------------------


def _interrupt_at_epoch(monkeypatch, epoch, before_estimator=False):
    """Ctrl-C at the end of ``epoch``, after (or before) the estimator's own callback.

    Records the weights after every epoch and the validation data.
    """
    record = {"weights": [], "validation": None}
    fit = Network.fit

    def interrupting_fit(self, X, Y, **kwargs):
        record["validation"] = kwargs.get("validation_data")

        def interrupt(network, logs):
            record["weights"].append(network.get_weights())
            if logs["epoch"] == epoch:
                raise KeyboardInterrupt

        own = list(kwargs.get("callbacks", ()))
        kwargs["callbacks"] = [interrupt, *own] if before_estimator else [*own, interrupt]
        return fit(self, X, Y, **kwargs)

    monkeypatch.setattr(Network, "fit", interrupting_fit)
    return record


@BOTH
@pytest.mark.parametrize("before_estimator", [False, True])
def test_interrupt_keeps_completed_epochs_and_best_weights(
    Estimator, before_estimator, monkeypatch, estimator_data
):
    X, y = estimator_data(Estimator, **REGRESSION)
    record = _interrupt_at_epoch(monkeypatch, 12, before_estimator)
    estimator = Estimator(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.05,
        early_stopping=True,
        validation_fraction=0.25,
        max_iter=100,
        random_state=0,
    )
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X, y)
    assert estimator.n_iter_ == 12
    assert len(estimator.loss_curve_) == 12
    assert len(estimator.validation_loss_curve_) == 12
    assert len(estimator.validation_scores_) == 12
    assert estimator.loss_ == estimator.loss_curve_[-1]
    scores = estimator.validation_scores_
    best = int(np.argmax(scores))
    assert estimator.best_validation_score_ == scores[best]
    for final, kept in zip(estimator.network_.get_weights(), record["weights"][best], strict=True):
        assert np.array_equal(final, kept)
    # Each score is that of its epoch's weights, the last one included (with
    # the interrupt before the estimator's callback, it is computed after).
    X_val, Y_val, sw_val = record["validation"]
    y_val = estimator.classes_[Y_val.argmax(axis=1)] if Estimator is LayeredClassifier else Y_val
    estimator.network_.set_weights(record["weights"][11])
    assert estimator.score(X_val, y_val.ravel(), sample_weight=sw_val) == scores[11]


@BOTH
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_interrupt_mid_epoch_keeps_the_epochs_completed(
    Estimator, solver, monkeypatch, estimator_data, outputs
):
    X, y = estimator_data(Estimator, **REGRESSION)
    calls = {"n": 0}
    forward_backward = Trainer.forward_backward

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return forward_backward(self, *args)

    monkeypatch.setattr(Trainer, "forward_backward", interrupted)
    half = len(X) // 2  # two batches per epoch: call 8 is in epoch 4
    estimator = Estimator(
        hidden_layer_sizes=(8,), solver=solver, batch_size=half, max_iter=50, random_state=0
    )
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X, y)
    n_iter = estimator.n_iter_
    assert 0 < n_iter < 8
    if solver == "adam":
        assert n_iter == 3 and estimator.t_ == 3 * len(X)
    assert estimator.loss_curve_ == estimator.network_.history_["loss"]
    assert len(estimator.loss_curve_) == n_iter
    assert estimator.loss_ == estimator.loss_curve_[-1]
    assert np.isfinite(outputs(estimator, X)).all()


# -- drop-in parity with MLP -------------------------------------------------------------


def test_divergence_with_early_stopping_keeps_best_weights_and_records_nan(
    monkeypatch, iris, bundled
):
    # MLP's test_mlp_diverging_loss, with sknet's estimator.
    X, y = bundled("iris")
    record = _interrupt_at_epoch(monkeypatch, epoch=None)  # records, never interrupts
    reg = LayeredRegressor(
        hidden_layer_sizes=100,
        activation="identity",
        solver="sgd",
        learning_rate_init=1,
        max_iter=20,
        early_stopping=True,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="diverged at epoch 6.*best validation score"):
        reg.fit(X, y)
    assert str(reg.validation_scores_[-1]) == str(np.nan)
    assert isinstance(reg.validation_scores_[-1], float)
    assert reg.n_iter_ == len(reg.loss_curve_) == len(reg.validation_scores_) == 6
    assert len(reg.validation_loss_curve_) == 6
    scores = reg.validation_scores_[:-1]
    best = int(np.nanargmax(scores))
    assert reg.best_validation_score_ == scores[best]
    for final, kept in zip(reg.network_.get_weights(), record["weights"][best], strict=True):
        assert np.array_equal(final, kept)
    assert np.isfinite(reg.predict(X)).all()


@BOTH
def test_partial_fit_with_early_stopping_raises_as_mlp(Estimator, estimator_data):
    X, y = estimator_data(Estimator, **REGRESSION)
    kwargs = {"classes": [0, 1, 2]} if Estimator is LayeredClassifier else {}
    message = "partial_fit does not support early_stopping=True"
    with pytest.raises(ValueError, match=message):
        Estimator(early_stopping=True).partial_fit(X, y, **kwargs)
    # Not offered (hasattr is False), so that scikit-learn's checks and
    # meta-estimators do not call it; reaching for it raises MLP's ValueError.
    assert not hasattr(Estimator(early_stopping=True), "partial_fit")
    estimator = Estimator(early_stopping=True, **SMALL).fit(
        X, y
    )  # MLP's test_mlp_partial_fit_after_fit
    with pytest.raises(ValueError, match=message):
        estimator.partial_fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_single_class_fits_and_predicts_it(solver, iris):
    X, _ = iris
    y = np.array(["only"] * len(X))
    clf = LayeredClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=20, random_state=0)
    clf.fit(X, y)
    assert clf.classes_.tolist() == ["only"]
    assert clf.predict(X).tolist() == ["only"] * len(X)
    # One column per class, as the docstring says (MLP gives two here).
    assert np.array_equal(clf.predict_proba(X), np.ones((len(X), 1)))
    assert np.array_equal(clf.predict_log_proba(X), np.zeros((len(X), 1)))
    assert clf.score(X, y) == 1.0
    incremental = LayeredClassifier(hidden_layer_sizes=(4,), random_state=0)
    incremental.partial_fit(X, y, classes=["only"])
    assert incremental.predict(X[:3]).tolist() == ["only"] * 3


def test_early_stopping_with_a_one_member_class_is_a_clear_error():
    # MLP's test_early_stopping_stratified (its message shows the binarized
    # label, ['True']; this one the class).
    X = [[1, 2], [2, 3], [3, 4], [4, 5]]
    y = [0, 0, 0, 1]
    message = (
        r"The least populated classes in y have only 1 member.*Classes with too few "
        r"members are: \[1\]"
    )
    with pytest.raises(ValueError, match=message):
        LayeredClassifier(early_stopping=True).fit(X, y)


def test_warm_start_with_other_classes_is_an_error_as_mlp(iris):
    # MLP's test_warm_start.
    X, y = iris
    settings = dict(
        hidden_layer_sizes=2, solver="lbfgs", warm_start=True, random_state=42, tol=1e-2
    )
    y_3classes = np.array([0] * 40 + [1] * 40 + [2] * 70)
    clf = LayeredClassifier(**settings).fit(X, y)
    clf.fit(X, y)
    clf.fit(X, y_3classes)
    for y_i in (
        np.array([0] * 75 + [1] * 75),
        np.array([0] * 50 + [1] * 50 + [3] * 50),
        np.array([0] * 37 + [1] * 37 + [2] * 38 + [3] * 38),
    ):
        clf = LayeredClassifier(**settings).fit(X, y)
        before = _fitted_state(clf)
        message = (
            "warm_start can only be used where `y` has the same classes as in the previous "
            f"call to fit. Previously got [0 1 2], `y` has {np.unique(y_i)}"
        )
        with pytest.raises(ValueError, match=re.escape(message)):
            clf.fit(X, y_i)
        _assert_same_state(before, _fitted_state(clf))
    # partial_fit may see a subset of the classes, as before.
    clf = LayeredClassifier(hidden_layer_sizes=2, warm_start=True, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X[y < 2], y[y < 2])


def test_assigned_weights_reproduce_mlp_worked_example():
    # MLP's test_fit: from these weights, one SGD step on one sample; the
    # hand-worked numbers hold to MLP's decimal=3 (its hand computation
    # rounds), MLPClassifier itself to 1e-15.
    X = np.array([[0.6, 0.8, 0.7]])
    y = np.array([0])
    settings = dict(
        solver="sgd",
        learning_rate_init=0.1,
        alpha=0.1,
        activation="logistic",
        random_state=1,
        hidden_layer_sizes=2,
        momentum=0,
    )
    coefs = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]]), np.array([[0.1], [0.2]])]
    intercepts = [np.array([0.1, 0.1]), np.array([1.0])]
    clf = LayeredClassifier(**settings).partial_fit(X, y, classes=[0, 1])  # builds the network
    clf.coefs_ = coefs
    clf.intercepts_ = [intercepts[0], [1]]  # any array-like of numbers
    clf.partial_fit(X, y)
    expected = [[0.098, 0.195756], [0.2956664, 0.096008], [0.4939998, -0.002244]]
    np.testing.assert_allclose(clf.coefs_[0], expected, atol=1.5e-3)
    np.testing.assert_allclose(clf.coefs_[1], [[0.04706], [0.154089]], atol=1.5e-3)
    np.testing.assert_allclose(clf.intercepts_[0], [0.098333, 0.09626], atol=1.5e-3)
    np.testing.assert_allclose(clf.intercepts_[1], [0.9235], atol=1.5e-3)
    np.testing.assert_allclose(clf.predict_proba(X)[0, 1], 0.739, atol=1.5e-3)
    mlp = MLPClassifier(**settings).partial_fit(X, y, classes=[0, 1])
    mlp.coefs_, mlp.intercepts_ = coefs, intercepts
    mlp.partial_fit(X, y)
    for ours, theirs in zip(
        clf.coefs_ + clf.intercepts_, mlp.coefs_ + mlp.intercepts_, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)


def test_assigning_weights_checks_shapes_and_dtypes(iris):
    X, y = iris
    clf = LayeredClassifier(**SMALL).fit(X.astype(np.float32), y)
    shapes = [c.shape for c in clf.coefs_]
    # Item assignment writes through to the network, as on MLP's plain list.
    new = np.arange(np.prod(shapes[1]), dtype=np.float64).reshape(shapes[1]) / 100
    clf.coefs_[1] = new
    assert clf.coefs_[1].dtype == np.float32
    assert np.array_equal(clf.network_.layers[1].weights, new.astype(np.float32))
    clf.intercepts_[-1] = [0.5, 0.0, -0.5]
    assert clf.network_.layers[-1].bias.tolist() == [0.5, 0.0, -0.5]
    before = clf.network_.get_weights()
    with pytest.raises(ValueError, match=r"coefs_\[1\] must have shape \(4, 3\), .*got \(3, 4\)"):
        clf.coefs_ = [clf.coefs_[0], new.T]
    with pytest.raises(ValueError, match=r"coefs_ must have one array per layer, 2, got 1"):
        clf.coefs_ = [clf.coefs_[0]]
    with pytest.raises(ValueError, match=r"intercepts_\[0\] must hold real numbers, got dtype"):
        clf.intercepts_ = [np.array(["a"] * 4), clf.intercepts_[1]]
    with pytest.raises(ValueError, match=r"intercepts_\[1\] contains NaN or infinity"):
        clf.intercepts_[1] = [np.nan, 0, 0]
    with pytest.raises(ValueError, match=r"float32"):
        clf.intercepts_[1] = [1e39, 0, 0]  # finite, but not in float32
    with pytest.raises(TypeError, match="length is fixed by hidden_layer_sizes"):
        clf.coefs_.append(new)
    for a, b in zip(before, clf.network_.get_weights(), strict=True):  # all or nothing
        assert np.array_equal(a, b)
    with pytest.raises(NotFittedError, match="coefs_ can only be assigned after fit"):
        LayeredClassifier().coefs_ = [new]


# -- Ctrl-C while an epoch is being recorded (issue 14, item 2) ----------------------------


def _interrupt_call(monkeypatch, owner, name, at_call):
    """Make the ``at_call``-th call of ``owner.name`` raise KeyboardInterrupt (once)."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupting)


@BOTH
@pytest.mark.parametrize(
    ("where", "at_call", "n_completed"),
    [
        # The engine's validation loss: the epoch is not recorded at all.
        ((Trainer, "validate"), 1, 0),
        ((Trainer, "validate"), 6, 5),
        # The estimator's validation score: the epoch is recorded, its score
        # is computed after the interrupt.
        (("estimator", "_validation_score"), 1, 1),
        (("estimator", "_validation_score"), 6, 6),
        # The copy of the best weights inside the estimator's callback.
        ((Network, "get_weights"), 1, 1),
    ],
    ids=["val-loss-first", "val-loss-later", "score-first", "score-later", "best-weights-first"],
)
def test_interrupt_while_recording_an_epoch_keeps_every_curve_aligned(
    Estimator, where, at_call, n_completed, monkeypatch, estimator_data, outputs
):
    X, y = estimator_data(Estimator, **REGRESSION)
    params = dict(hidden_layer_sizes=(8,), early_stopping=True, max_iter=20, n_iter_no_change=50)
    reference = Estimator(**params, random_state=0)
    with pytest.warns(ConvergenceWarning):
        reference.fit(X, y)
    owner, name = where
    _interrupt_call(monkeypatch, Estimator if owner == "estimator" else owner, name, at_call)
    estimator = Estimator(**params, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X, y)
    assert estimator.n_iter_ == n_completed
    assert estimator.loss_curve_ == reference.loss_curve_[:n_completed]
    assert estimator.validation_loss_curve_ == reference.validation_loss_curve_[:n_completed]
    assert estimator.validation_scores_ == reference.validation_scores_[:n_completed]
    assert estimator.network_.history_["loss"] == estimator.loss_curve_
    if n_completed:
        assert estimator.best_validation_score_ == max(estimator.validation_scores_)
    assert np.isfinite(outputs(estimator, X)).all()
