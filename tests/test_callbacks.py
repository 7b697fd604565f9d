"""scikit-learn's callbacks on the estimators, and their ``verbose`` printing.

The callbacks are tested as scikit-learn tests its own (sklearn/callback/tests):
a recording callback counts the hooks and keeps what they received, a callback
that returns True asks to stop, and ``ProgressBar`` and ``ScoringMonitor`` run
under ``Pipeline``, ``GridSearchCV`` and ``cross_validate``.
"""

import re
import warnings

import numpy as np
import pytest

# scikit-learn's callback API is new in 1.9: on older versions (which sknet
# supports, without callbacks) these tests skip.
pytest.importorskip("sklearn.callback", reason="the callback API needs scikit-learn >= 1.9")

from sklearn.base import clone
from sklearn.callback import ScoringMonitor
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sknet import LayeredClassifier, LayeredRegressor, Network, training

BOTH = pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _regression(n_samples=120):
    X, y = make_regression(n_samples=n_samples, n_features=5, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _data(Estimator):
    return _iris() if Estimator is LayeredClassifier else _regression()


def _fit_quietly(estimator, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **params)


# -- callbacks as scikit-learn's own tests write them ----------------------------------


class RecordingCallback:
    """Keeps a record of every hook call (scikit-learn's test callback, in one process)."""

    def __init__(self):
        self.record = []

    def setup(self, estimator, context):
        self.record.append({"name": "setup", "estimator": estimator, "context": context})

    def on_fit_task_begin(
        self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None
    ):
        self._hook("on_fit_task_begin", estimator, context, X, y, metadata, fitted_estimator)

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None
    ):
        self._hook("on_fit_task_end", estimator, context, X, y, metadata, fitted_estimator)

    def _hook(self, name, estimator, context, X, y, metadata, fitted_estimator):
        kwargs = {"X": X, "y": y, "metadata": metadata, "fitted_estimator": fitted_estimator}
        self.record.append(
            {"name": name, "estimator": estimator, "context": context, "kwargs": kwargs}
        )

    def teardown(self, estimator, context):
        self.record.append({"name": "teardown", "estimator": estimator, "context": context})

    def count_hooks(self, name):
        return len([rec for rec in self.record if rec["name"] == name])

    def tasks(self, name, task_name):
        return [
            rec
            for rec in self.record
            if rec["name"] == name and rec["context"].task_name == task_name
        ]


class RecordingAutoPropagatedCallback(RecordingCallback):
    """Set on a meta-estimator, it reaches the estimators inside it."""

    max_propagation_depth = None


class StopAt(RecordingCallback):
    """Asks to stop at the end of the ``epoch``-th epoch (1-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None
    ):
        super().on_fit_task_end(
            estimator, context, X=X, y=y, metadata=metadata, fitted_estimator=fitted_estimator
        )
        return context.task_name in ("epoch", "iteration") and context.task_id + 1 == self.epoch


class FailingCallback(RecordingCallback):
    def __init__(self, error, at_epoch):
        super().__init__()
        self.error, self.at_epoch = error, at_epoch

    def on_fit_task_end(self, estimator, context, **kwargs):
        super().on_fit_task_end(estimator, context, **kwargs)
        if context.task_name == "epoch" and context.task_id + 1 == self.at_epoch:
            raise self.error


@BOTH
def test_set_callbacks_returns_the_estimator_and_checks_its_arguments(Estimator):
    callback = RecordingCallback()
    estimator = Estimator()
    assert estimator.set_callbacks(callback) is estimator
    assert estimator._skl_callbacks == [callback]
    assert clone(estimator)._skl_callbacks[0] is callback  # clones share callbacks
    with pytest.raises(TypeError, match="FitCallback protocol"):
        estimator.set_callbacks(RecordingCallback)
    estimator.set_callbacks()
    assert not hasattr(estimator, "_skl_callbacks")


@BOTH
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_one_task_per_epoch(Estimator, solver):
    X, y = _data(Estimator)
    callback = RecordingCallback()
    estimator = Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=7, random_state=0)
    _fit_quietly(estimator.set_callbacks(callback), X, y, sample_weight=np.ones(len(X)))
    assert estimator.n_iter_ == 7
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1
    # 1 root task, then one task per epoch (L-BFGS: per iteration).
    assert callback.count_hooks("on_fit_task_begin") == 1 + 7
    assert callback.count_hooks("on_fit_task_end") == 1 + 7
    name = "iteration" if solver == "lbfgs" else "epoch"
    ends = callback.tasks("on_fit_task_end", name)
    assert [rec["context"].task_id for rec in ends] == list(range(7))
    root = callback.record[1]["context"]
    assert (root.task_name, root.max_subtasks, root.parent) == ("fit", 7, None)
    assert all(rec["context"].parent is root for rec in ends)
    for rec in ends:
        kwargs = rec["kwargs"]
        assert rec["estimator"] is estimator
        assert kwargs["X"].shape == X.shape and np.array_equal(kwargs["y"], y)
        assert np.array_equal(kwargs["metadata"]["sample_weight"], np.ones(len(X)))


@BOTH
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fitted_estimator_is_the_model_of_that_epoch(Estimator, solver):
    # As scikit-learn's test for LogisticRegression: the copy handed to an
    # epoch's end predicts as a fit stopped after that many epochs.
    X, y = _data(Estimator)
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=6, random_state=0)
    callback = RecordingCallback()
    estimator = _fit_quietly(Estimator(**params).set_callbacks(callback), X, y)
    name = "iteration" if solver == "lbfgs" else "epoch"
    begins = callback.tasks("on_fit_task_begin", name)
    ends = callback.tasks("on_fit_task_end", name)
    assert len(begins) == len(ends) == 6
    for i, (begin, end) in enumerate(zip(begins, ends, strict=True)):
        expected = _fit_quietly(Estimator(**{**params, "max_iter": i + 1}), X, y)
        fitted = end["kwargs"]["fitted_estimator"]
        assert fitted is not estimator and fitted.network_ is not estimator.network_
        assert fitted.n_iter_ == i + 1
        assert fitted.loss_curve_ == expected.loss_curve_
        np.testing.assert_allclose(fitted.predict(X), expected.predict(X))
        for a, b in zip(fitted.coefs_, expected.coefs_, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        started = begin["kwargs"]["fitted_estimator"]
        assert started.n_iter_ == i
    # The copies do not follow later epochs: the last one is the final model.
    last = ends[-1]["kwargs"]["fitted_estimator"]
    np.testing.assert_array_equal(last.predict(X), estimator.predict(X))
    assert not np.array_equal(ends[0]["kwargs"]["fitted_estimator"].coefs_[0], estimator.coefs_[0])


def test_lbfgs_that_converges_ends_the_iteration_it_began_empty():
    # As LogisticRegression: scipy stops before max_iter, so the task begun
    # for a next iteration ends with nothing to show.
    X, y = _iris()
    callback = RecordingCallback()
    clf = LayeredClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=500, random_state=0)
    clf.set_callbacks(callback).fit(X, y)
    assert clf.n_iter_ < 500
    ends = callback.tasks("on_fit_task_end", "iteration")
    assert len(ends) == clf.n_iter_ + 1
    assert callback.count_hooks("on_fit_task_begin") == callback.count_hooks("on_fit_task_end")
    assert all(rec["kwargs"]["fitted_estimator"] is not None for rec in ends[:-1])
    assert ends[-1]["kwargs"] == {"X": None, "y": None, "metadata": None, "fitted_estimator": None}


@BOTH
def test_scoring_monitor_records_a_score_per_epoch(Estimator):
    X, y = _data(Estimator)
    scoring = "accuracy" if Estimator is LayeredClassifier else "r2"
    monitor = ScoringMonitor(scoring=scoring)
    estimator = Estimator(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    _fit_quietly(estimator.set_callbacks(monitor), X, y)
    rows = monitor.get_logs().data
    epochs = [row for row in rows if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in epochs] == list(range(5))
    # Each epoch's score is that of the model after that epoch.
    for row in epochs:
        expected = _fit_quietly(
            Estimator(hidden_layer_sizes=(8,), max_iter=row["task_id"] + 1, random_state=0), X, y
        )
        assert row[scoring] == pytest.approx(expected.score(X, y), rel=1e-12)
    (root,) = [row for row in rows if row["task_name"] == "fit"]
    assert root[scoring] == pytest.approx(estimator.score(X, y), rel=1e-12)
    assert len(set(row[scoring] for row in epochs)) > 1  # the model changed


@BOTH
def test_partial_fit_is_one_task_with_one_epoch(Estimator, capsys):
    X, y = _data(Estimator)
    callback = RecordingCallback()
    monitor = ScoringMonitor(scoring="accuracy" if Estimator is LayeredClassifier else "r2")
    estimator = Estimator(hidden_layer_sizes=(8,), random_state=0, verbose=True)
    estimator.set_callbacks(callback, monitor)
    extra = {"classes": np.unique(y)} if Estimator is LayeredClassifier else {}
    for _ in range(3):
        estimator.partial_fit(X, y, **extra)
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 3
    roots = callback.tasks("on_fit_task_end", "partial_fit")
    epochs = callback.tasks("on_fit_task_end", "epoch")
    assert len(roots) == len(epochs) == 3
    assert all(rec["context"].max_subtasks == 1 for rec in roots)
    assert [rec["context"].task_id for rec in epochs] == [0, 0, 0]
    # Each call is a run of its own, with its epoch's score.
    logs = monitor.get_logs(select="all")
    assert len(logs) == 3
    assert all(len(log.data) == 2 for log in logs)
    # verbose numbers the epochs in the model's history, with no "1/1".
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1", "Epoch 2", "Epoch 3"]


def test_callbacks_on_a_model_that_trains_on_a_device():
    # array_api_strict's second device refuses any mixing of devices: the
    # copies handed to callbacks, and their scores, stay where the data live.
    xps = pytest.importorskip("array_api_strict")
    import sklearn

    from sknet.backends import to_numpy

    X, y = _regression()
    device = xps.Device("device1")
    X_x, y_x = xps.asarray(X, device=device), xps.asarray(y, device=device)
    callback, monitor = RecordingCallback(), ScoringMonitor(scoring="r2")
    reg = LayeredRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        _fit_quietly(reg.set_callbacks(callback, monitor), X_x, y_x)
        ends = callback.tasks("on_fit_task_end", "epoch")
        assert len(ends) == 3
        first = ends[0]["kwargs"]["fitted_estimator"]
        assert first.coefs_[0].device == device
        assert not np.array_equal(to_numpy(first.coefs_[0]), to_numpy(reg.coefs_[0]))
        last = ends[-1]["kwargs"]["fitted_estimator"]
        np.testing.assert_array_equal(to_numpy(last.predict(X_x)), to_numpy(reg.predict(X_x)))
        final_score = reg.score(X_x, y_x)
    scores = [row["r2"] for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(scores) == 3 and scores[-1] == pytest.approx(final_score)


# -- stopping ---------------------------------------------------------------------


@BOTH
def test_a_callback_that_asks_to_stop_ends_an_early_stopped_fit_with_the_best_weights(
    Estimator,
):
    X, y = _data(Estimator)
    stop, other = StopAt(14), RecordingCallback()
    estimator = Estimator(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.2,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=100,
        max_iter=50,
        random_state=0,
    ).set_callbacks(stop, other)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop asked for is no failure
        estimator.fit(X, y)
    assert estimator.n_iter_ == 14
    assert len(estimator.loss_curve_) == len(estimator.validation_loss_curve_) == 14
    assert len(estimator.validation_scores_) == 14
    assert estimator.loss_ == estimator.loss_curve_[-1]
    # Every callback saw the epoch that stopped it, and no epoch began after it.
    assert len(stop.tasks("on_fit_task_end", "epoch")) == 14
    assert len(other.tasks("on_fit_task_end", "epoch")) == 14
    assert len(other.tasks("on_fit_task_begin", "epoch")) == 14
    assert len(other.tasks("on_fit_task_end", "fit")) == 1
    # The weights kept are those of the best epoch, as for a fit that stops itself.
    # (the validation loss breaks ties in the score, see _fit_stochastic)
    scores, val_losses = estimator.validation_scores_, estimator.validation_loss_curve_
    best = max(range(14), key=lambda i: (scores[i], -val_losses[i]))
    assert best < 13  # otherwise the test shows nothing
    assert estimator.best_validation_score_ == scores[best]
    kept = other.tasks("on_fit_task_end", "epoch")[best]["kwargs"]["fitted_estimator"]
    for a, b in zip(estimator.coefs_, kept.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert kept.validation_scores_ == scores[: best + 1]


@BOTH
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_a_callback_that_asks_to_stop_ends_the_fit_cleanly(Estimator, solver):
    X, y = _data(Estimator)
    stop = StopAt(4)
    estimator = Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        estimator.set_callbacks(stop).fit(X, y)
    assert estimator.n_iter_ == len(estimator.loss_curve_) == 4
    assert estimator.network_.history_["loss"] == estimator.loss_curve_
    reference = _fit_quietly(
        Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=4, random_state=0), X, y
    )
    assert estimator.loss_curve_ == reference.loss_curve_
    np.testing.assert_array_equal(estimator.predict(X), reference.predict(X))
    assert stop.count_hooks("on_fit_task_begin") == stop.count_hooks("on_fit_task_end") == 5


@BOTH
def test_a_failing_callback_leaves_the_estimator_as_it_was_and_is_torn_down(Estimator):
    X, y = _data(Estimator)
    callback = FailingCallback(ValueError("callback failed"), at_epoch=3)
    estimator = Estimator(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    with pytest.raises(ValueError, match="callback failed"):
        estimator.set_callbacks(callback).fit(X, y)
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1
    assert not hasattr(estimator, "network_")
    assert not hasattr(estimator, "_callback_fit_ctx")


@BOTH
def test_ctrl_c_in_a_callback_keeps_the_epochs_and_tears_down(Estimator):
    X, y = _data(Estimator)
    callback = FailingCallback(KeyboardInterrupt(), at_epoch=5)
    estimator = Estimator(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        max_iter=20,
        n_iter_no_change=50,
        random_state=0,
    )
    with pytest.raises(KeyboardInterrupt):
        estimator.set_callbacks(callback).fit(X, y)
    assert callback.count_hooks("teardown") == 1
    assert estimator.n_iter_ == 5
    assert len(estimator.loss_curve_) == len(estimator.validation_loss_curve_) == 5
    assert len(estimator.validation_scores_) == 5
    assert estimator.best_validation_score_ == max(estimator.validation_scores_)


# -- meta-estimators ------------------------------------------------------------------


def test_callbacks_reach_the_estimator_in_a_pipeline():
    X, y = load_iris(return_X_y=True)
    callback = RecordingAutoPropagatedCallback()
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("clf", LayeredClassifier((8,), max_iter=4, random_state=0))]
    ).set_callbacks(callback)
    _fit_quietly(pipeline, X, y)
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1
    epochs = callback.tasks("on_fit_task_end", "epoch")
    assert len(epochs) == 4
    # The classifier's fit is the pipeline's last step, merged into its tree.
    fit = epochs[0]["context"].parent
    assert (fit.estimator_name, fit.source_estimator_name) == ("LayeredClassifier", "Pipeline")
    assert fit.source_task_name == "fit-final-estimator"
    assert fit.parent.estimator_name == "Pipeline" and fit.parent.parent is None
    # The data the epochs see are those the classifier is fitted on: scaled.
    np.testing.assert_allclose(epochs[0]["kwargs"]["X"].mean(axis=0), 0, atol=1e-12)


@BOTH
def test_callbacks_reach_every_fit_of_a_grid_search(Estimator):
    X, y = _data(Estimator)
    callback = RecordingAutoPropagatedCallback()
    search = GridSearchCV(
        Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
        {"alpha": [1e-4, 1e-2, 1.0]},
        cv=2,
    ).set_callbacks(callback)
    _fit_quietly(search, X, y)
    n_fits = 3 * 2 + 1  # candidates x splits, and the refit
    # The search's own tasks (root, search, refit and one per evaluation),
    # then 3 epochs in each fit, whose root is merged into the search's leaf.
    search_tasks = 1 + 2 + 3 * 2
    assert callback.count_hooks("on_fit_task_end") == search_tasks + 3 * n_fits
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1
    fits = {}
    for rec in callback.tasks("on_fit_task_end", "epoch"):
        fits.setdefault(id(rec["context"].parent), []).append(rec["context"].task_id)
    assert list(fits.values()) == [[0, 1, 2]] * n_fits


def test_scoring_monitor_on_the_estimator_in_a_search_scores_every_epoch_of_every_fit():
    # A callback that is not handed down may sit on the inner estimator; its
    # fits are then tasks of the search's run.
    X, y = _iris()
    monitor = ScoringMonitor(scoring="accuracy")
    clf = LayeredClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    search = GridSearchCV(clf.set_callbacks(monitor), {"alpha": [1e-4, 1.0]}, cv=2)
    _fit_quietly(search, X, y)
    (log,) = monitor.get_logs(select="all")
    assert log.estimator_name == "GridSearchCV"
    epochs = [row for row in log.data if row["task_name"] == "epoch"]
    assert len(epochs) == 5 * (2 * 2 + 1)
    assert all(0 <= row["accuracy"] <= 1 for row in epochs)
    # The refit's last epoch is scored on the whole data with the final model.
    refit = [row for row in epochs if row["task_id_path"][1] == 1]
    assert refit[-1]["accuracy"] == pytest.approx(search.best_estimator_.score(X, y))


def test_progress_bar_in_a_grid_search_shows_one_bar_per_fit(capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = _iris()
    search = GridSearchCV(
        LayeredClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0),
        {"alpha": [1e-4, 1.0]},
        cv=2,
    ).set_callbacks(ProgressBar())
    _fit_quietly(search, X, y)
    out = capsys.readouterr().out
    assert re.search(r"GridSearchCV - fit", out)
    for i in range(4):
        bar = rf"candidate-split-evaluation \| LayeredClassifier - fit #{i}"
        assert re.search(bar, out), out
    assert re.search(r"refit-with-best-params \| LayeredClassifier - fit", out)
    assert re.search(r"100%", out)
    assert not re.search(r"\b[0-9]{1,2}%", out)  # every bar completed


def test_progress_bar_on_the_estimator_inside_a_search_is_refused():
    # scikit-learn's contract: auto-propagated callbacks belong on the
    # outermost estimator, which hands them down.
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = _iris()
    clf = LayeredClassifier(hidden_layer_sizes=(4,), max_iter=2).set_callbacks(ProgressBar())
    search = GridSearchCV(clf, {"alpha": [1e-4]}, cv=2, error_score="raise")
    with pytest.raises(TypeError, match="Register them directly on the meta-estimator"):
        search.fit(X, y)


def test_callbacks_set_on_the_estimator_follow_it_into_cross_validate():
    # cross_validate is a function without callbacks: each fit is a run of its own.
    X, y = _regression()
    callback = RecordingCallback()
    reg = LayeredRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cross_validate(reg.set_callbacks(callback), X, y, cv=3)
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 3
    assert len(callback.tasks("on_fit_task_end", "epoch")) == 3 * 3
    assert len(callback.tasks("on_fit_task_end", "fit")) == 3


# -- verbose ------------------------------------------------------------------------


@BOTH
def test_verbose_is_one_line_per_epoch_in_one_style(Estimator, capsys):
    X, y = _data(Estimator)
    estimator = Estimator(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        n_iter_no_change=2,
        tol=10.0,
        max_iter=50,
        random_state=0,
        verbose=True,
    )
    estimator.fit(X, y)
    out = capsys.readouterr().out
    assert "\r" not in out  # not a terminal: plain lines
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("Epoch")]
    assert len(epochs) == estimator.n_iter_ == 4  # the first epoch, then 3 without progress
    pattern = (
        r"Epoch (\d+)/50 - loss: [\d.]+ - val_loss: [\d.]+ - val_score: ([-\d.]+) - "
        r"[\d,]+ rows/s - [\d.]+s elapsed - [\d.]+s left"
    )
    for i, line in enumerate(epochs):
        match = re.fullmatch(pattern, line)
        assert match, line
        assert int(match[1]) == i + 1
        assert float(match[2]) == pytest.approx(estimator.validation_scores_[i], abs=1e-6)
    # The reason to stop comes after the last epoch's line.
    assert lines[-1].startswith("Validation score did not improve")
    assert lines[:-1] == epochs


def test_verbose_says_iteration_for_lbfgs_and_continues_the_count(capsys):
    X, y = _regression()
    reg = LayeredRegressor(
        hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3, warm_start=True, verbose=True
    )
    _fit_quietly(reg, X, y)
    _fit_quietly(reg, X, y)
    heads = [line.split(" - ")[0] for line in capsys.readouterr().out.splitlines()]
    assert heads == [f"Iteration {i}/3" for i in (1, 2, 3)] + [
        f"Iteration {i}/6" for i in (4, 5, 6)
    ]


def test_verbose_shows_the_new_learning_rate_on_the_epoch_line(capsys):
    X, y = _regression()
    reg = LayeredRegressor(
        hidden_layer_sizes=(4,),
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=1,
        max_iter=4,
        random_state=0,
        verbose=True,
    )
    _fit_quietly(reg, X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    # The first epoch improves; the third is the second without: 0.001 / 5.
    assert " - learning_rate: 0.000200 - " in lines[2]
    assert "learning_rate" not in lines[0] + lines[1] + lines[3]


def test_verbose_in_a_terminal_updates_the_line_of_the_epoch_under_way(capsys, monkeypatch):
    monkeypatch.setattr(training, "_is_terminal", lambda: True)
    monkeypatch.setattr(training._Progress, "refresh", 0.0)  # every batch
    X, y = _regression(n_samples=100)
    net = Network(5, random_state=0).add_layer(4, "tanh").add_layer(1, "identity")
    net.fit(X, y, epochs=2, batch_size=25, verbose=1)
    out = capsys.readouterr().out
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 3  # one line per epoch
    first = lines[0].split("\r")[1:]
    # Four batches: three updates under way, then the finished epoch.
    under_way = [re.match(r"Epoch 1/2 - (\d+)/100 rows", part)[1] for part in first[:3]]
    assert under_way == ["25", "50", "75"]
    assert all("rows/s" in part and "s left" in part for part in first)
    assert first[-1].startswith("Epoch 1/2 - loss: ")
    assert all(part.endswith("\x1b[K") for part in first)
