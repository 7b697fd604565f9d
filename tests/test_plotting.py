"""Tests for sknet.plotting.LossCurveDisplay."""

import importlib.util
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknet.plotting import LossCurveDisplay

# The plot extra: without matplotlib, this file skips. matplotlib is imported
# by the fixture below, in the worker that runs these tests (the "matplotlib"
# xdist group, see tests/conftest.py), not at collection, which every worker runs.
if importlib.util.find_spec("matplotlib") is None:
    pytest.skip("the displays need matplotlib", allow_module_level=True)
plt = None  # matplotlib.pyplot, once _pyplot has run


@pytest.fixture(autouse=True)
def _pyplot(request):
    global plt
    if "fresh_sknet_import" in request.fixturenames:
        # The test reads another interpreter's modules: this one needs no
        # matplotlib (and its worker, the other fresh-interpreter tests', may
        # not be the one that runs the displays).
        yield
        return
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: PLC0415

    plt = matplotlib.pyplot
    yield
    plt.close("all")


# Small stand-ins with the fitted attributes of the real estimators and network,
# so the display is tested on exactly known curves.


class _FakeClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X=None, y=None):
        self.loss_curve_ = [0.9, 0.6, 0.45, 0.4]
        self.validation_loss_curve_ = [1.0, 0.7, 0.6, 0.62]
        self.validation_scores_ = [0.5, 0.7, 0.8, 0.78]
        return self


class _FakeRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X=None, y=None):
        self.loss_curve_ = [3.0, 2.0, 1.5]
        self.validation_loss_curve_ = None
        self.validation_scores_ = None
        return self


class _FakeNetwork:
    def __init__(self, loss, val_loss):
        self.history_ = {"loss": loss, "val_loss": val_loss}


def _xy(line):
    return np.asarray(line.get_xdata()), np.asarray(line.get_ydata())


@pytest.mark.xdist_group("fresh_sknet_import")  # one interpreter for the session's checks
def test_import_does_not_import_matplotlib(fresh_sknet_import):
    # After import sknet, import sknet.plotting and building a display.
    assert fresh_sknet_import["matplotlib"] == []


def test_plot_from_arrays():
    display = LossCurveDisplay(
        loss=[3.0, 2.0, 1.0], val_loss=[3.5, 2.5, 2.0], val_score=[0.1, 0.5, 0.6]
    ).plot()
    assert set(display.lines_) == {"loss", "val_loss", "val_score"}
    x, y = _xy(display.lines_["loss"])
    assert_array_equal(x, [1, 2, 3])
    assert_array_equal(y, [3.0, 2.0, 1.0])
    assert_array_equal(_xy(display.lines_["val_loss"])[1], [3.5, 2.5, 2.0])
    assert_array_equal(_xy(display.lines_["val_score"])[1], [0.1, 0.5, 0.6])
    # The score lives on its own axis, sharing x with the loss axis.
    assert display.lines_["val_score"].axes is display.score_ax_
    assert display.lines_["loss"].axes is display.ax_
    assert display.score_ax_ is not display.ax_
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_xlabel() == "Epoch"
    assert display.ax_.get_ylabel() == "Loss"
    assert display.score_ax_.get_ylabel() == "Validation score"


def test_plot_uses_given_axes_and_kwargs():
    fig, ax = plt.subplots()
    display = LossCurveDisplay(loss=[2.0, 1.0], name="model").plot(
        ax=ax, loss_kw={"color": "black", "label": "train"}
    )
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert display.score_ax_ is None
    assert ax.get_title() == "model"
    line = display.lines_["loss"]
    assert line.get_color() == "black"
    assert line.get_label() == "train"
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend_texts == ["train"]


def test_plot_name_overrides_and_no_legend():
    display = LossCurveDisplay(loss=[2.0, 1.0], name="a").plot(name="b", legend=False)
    assert display.ax_.get_title() == "b"
    assert display.ax_.get_legend() is None


def test_one_legend_for_both_axes():
    display = LossCurveDisplay(loss=[2.0, 1.0], val_loss=[2.5, 1.5], val_score=[0.3, 0.4]).plot()
    legend = display.score_ax_.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "Training loss",
        "Validation loss",
        "Validation score",
    ]


@pytest.mark.parametrize("empty", [None, []])
def test_unrecorded_curves_are_not_drawn(empty):
    display = LossCurveDisplay(loss=[1.0, 0.5], val_loss=empty, val_score=empty).plot()
    assert list(display.lines_) == ["loss"]
    assert display.score_ax_ is None


@pytest.mark.parametrize("loss", [None, [], [[1.0, 2.0]]])
def test_invalid_loss(loss):
    with pytest.raises(ValueError, match="loss"):
        LossCurveDisplay(loss=loss).plot()


def test_from_estimator_with_validation():
    est = _FakeClassifier().fit()
    display = LossCurveDisplay.from_estimator(est)
    assert_array_equal(_xy(display.lines_["loss"])[1], est.loss_curve_)
    assert_array_equal(_xy(display.lines_["val_loss"])[1], est.validation_loss_curve_)
    assert_array_equal(_xy(display.lines_["val_score"])[1], est.validation_scores_)
    assert_array_equal(_xy(display.lines_["loss"])[0], [1, 2, 3, 4])
    assert display.ax_.get_title() == "_FakeClassifier"
    assert display.score_ax_.get_ylabel() == "Validation accuracy"


def test_from_estimator_without_validation():
    est = _FakeRegressor().fit()
    fig, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(est, ax, name="reg")
    assert display.ax_ is ax
    assert list(display.lines_) == ["loss"]
    assert display.score_ax_ is None
    assert ax.get_title() == "reg"
    assert_array_equal(_xy(display.lines_["loss"])[1], est.loss_curve_)


def test_from_estimator_score_name_for_regressor():
    est = _FakeRegressor().fit()
    est.validation_scores_ = [0.2, 0.4, 0.5]
    display = LossCurveDisplay.from_estimator(est)
    assert display.score_ax_.get_ylabel() == "Validation R²"
    display = LossCurveDisplay.from_estimator(est, score_name="R2 on held-out")
    assert display.score_ax_.get_ylabel() == "R2 on held-out"


def test_from_estimator_pipeline_uses_last_step():
    est = _FakeClassifier()
    pipe = make_pipeline(StandardScaler(), est)
    pipe.steps[-1][1].fit()
    pipe.steps[0][1].fit(np.zeros((3, 2)))
    display = LossCurveDisplay.from_estimator(pipe)
    assert_array_equal(_xy(display.lines_["loss"])[1], est.loss_curve_)


def test_from_estimator_not_fitted():
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(_FakeClassifier())


def test_from_estimator_without_loss_curve():
    est = _FakeRegressor().fit()
    est.loss_curve_ = None
    with pytest.raises(ValueError, match="no per-epoch training loss"):
        LossCurveDisplay.from_estimator(est)


def test_from_network_with_validation():
    net = _FakeNetwork([1.0, 0.5, 0.25], [1.2, 0.8, 0.7])
    display = LossCurveDisplay.from_network(net)
    assert_array_equal(_xy(display.lines_["loss"])[1], net.history_["loss"])
    assert_array_equal(_xy(display.lines_["val_loss"])[1], net.history_["val_loss"])
    assert "val_score" not in display.lines_
    assert display.ax_.get_title() == "Network"


def test_from_network_without_validation():
    net = _FakeNetwork([1.0, 0.5], [])
    display = LossCurveDisplay.from_network(net, name="mine")
    assert list(display.lines_) == ["loss"]
    assert display.ax_.get_title() == "mine"


@pytest.mark.parametrize("history", [None, {"loss": [], "val_loss": []}])
def test_from_network_not_fitted(history):
    net = _FakeNetwork([], [])
    net.history_ = history
    with pytest.raises(NotFittedError, match="call fit"):
        LossCurveDisplay.from_network(net)


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make every ``import matplotlib...`` fail, as when it is not installed."""
    for mod in list(sys.modules):
        if mod == "matplotlib" or mod.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.parametrize(
    "call, caller",
    [
        (lambda: LossCurveDisplay(loss=[1.0]).plot(), "LossCurveDisplay.plot"),
        (
            lambda: LossCurveDisplay.from_estimator(_FakeClassifier().fit()),
            "LossCurveDisplay.from_estimator",
        ),
        (
            lambda: LossCurveDisplay.from_network(_FakeNetwork([1.0], [])),
            "LossCurveDisplay.from_network",
        ),
    ],
)
def test_missing_matplotlib_gives_install_hint(no_matplotlib, call, caller):
    with pytest.raises(ImportError) as excinfo:
        call()
    message = str(excinfo.value)
    assert caller in message
    assert 'pip install "sknet-layers[plot]"' in message


def test_missing_matplotlib_construction_still_works(no_matplotlib):
    display = LossCurveDisplay(loss=[1.0, 0.5])
    assert display.loss == [1.0, 0.5]


# The real engine and estimators.


def _regression_data(n_samples=120, n_features=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_samples, n_features))
    y = X @ rng.normal(size=n_features) + 0.1 * rng.normal(size=n_samples)
    return X, y


@pytest.mark.parametrize("validation_fraction", [0.0, 0.25])
def test_from_network_real(validation_fraction):
    from sknet import Network

    X, y = _regression_data()
    net = Network(n_inputs=3, random_state=0)
    net.add_layer(8, activation="tanh").add_layer(1, activation="identity")
    net.fit(
        X,
        y.reshape(-1, 1),
        loss="squared_error",
        epochs=7,
        validation_fraction=validation_fraction,
    )
    display = LossCurveDisplay.from_network(net)
    x, loss = _xy(display.lines_["loss"])
    assert_array_equal(loss, net.history_["loss"])
    assert_array_equal(x, np.arange(1, 8))
    if validation_fraction:
        assert_array_equal(_xy(display.lines_["val_loss"])[1], net.history_["val_loss"])
    else:
        assert net.history_["val_loss"] == []
        assert list(display.lines_) == ["loss"]


def test_from_estimator_real_classifier_with_early_stopping():
    from sklearn.datasets import make_classification

    from sknet import LayeredClassifier

    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    clf = LayeredClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        n_iter_no_change=3,
        max_iter=15,
        random_state=0,
    ).fit(X, y)
    display = LossCurveDisplay.from_estimator(clf)
    assert_array_equal(_xy(display.lines_["loss"])[1], clf.loss_curve_)
    assert_array_equal(_xy(display.lines_["val_loss"])[1], clf.validation_loss_curve_)
    assert_array_equal(_xy(display.lines_["val_score"])[1], clf.validation_scores_)
    assert_array_equal(_xy(display.lines_["loss"])[0], np.arange(1, clf.n_iter_ + 1))
    assert display.ax_.get_title() == "LayeredClassifier"
    assert display.score_ax_.get_ylabel() == "Validation accuracy"


def test_from_estimator_real_regressor():
    from sknet import LayeredRegressor

    X, y = _regression_data()
    reg = LayeredRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(X, y)
    display = LossCurveDisplay.from_estimator(reg)
    assert_array_equal(_xy(display.lines_["loss"])[1], reg.loss_curve_)
    assert list(display.lines_) == ["loss"]
    assert display.score_ax_ is None

    reg.set_params(early_stopping=True, n_iter_no_change=3).fit(X, y)
    display = LossCurveDisplay.from_estimator(make_pipeline(StandardScaler(), reg).fit(X, y))
    assert_array_equal(_xy(display.lines_["val_loss"])[1], reg.validation_loss_curve_)
    assert_array_equal(_xy(display.lines_["val_score"])[1], reg.validation_scores_)
    assert display.score_ax_.get_ylabel() == "Validation R²"
