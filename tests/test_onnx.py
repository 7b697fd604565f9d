"""ONNX export: onnxruntime's outputs against predict and predict_proba on real data."""

from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_linnerud,
    load_wine,
)
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, scale

from sknet import LayeredClassifier, LayeredRegressor
from sknet.activations import LeakyReLU

# The onnx extra: without it, this file skips.
onnxruntime = pytest.importorskip("onnxruntime")
to_onnx = pytest.importorskip("skl2onnx").to_onnx

import sknet.onnx  # noqa: E402 - needs the onnx extra, skipped above without it

DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])
HIDDEN = ["relu", "tanh", "logistic", "identity", "gelu", "elu", "leaky_relu", "softplus"]


def _tolerance(dtype, activations=()):
    """Largest difference allowed between onnxruntime and sknet.

    float32: both round in float32, in a different order. float64: the same
    up to a few ulps, except that a double graph evaluates GELU's Erf in float.
    """
    if dtype == np.float32:
        return 1e-5
    return 1e-7 if "gelu" in activations else 1e-12


def _run(model, X, options=None, feeds=None):
    onx = to_onnx(model, X[:1], options=options)
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"X": X} if feeds is None else feeds)


def _no_zipmap(model, X):
    return _run(model, X, options={"zipmap": False})


@cache
def _wine():
    X, y = load_wine(return_X_y=True)
    return scale(X), y


@cache
def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return scale(X), y


def _clf(hidden=(16, 8), **params):
    params = {"learning_rate_init": 0.01, "max_iter": 40, "random_state": 0, **params}
    return LayeredClassifier(hidden, **params)


def _reg(**params):
    params = {"hidden_layer_sizes": (16,), "max_iter": 60, "random_state": 0, **params}
    return LayeredRegressor(**params)


# -- every hidden activation ------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("activation", [*HIDDEN, LeakyReLU(slope=0.2)], ids=str)
def test_hidden_activation_matches_predict_proba(activation, dtype):
    X, y = _wine()
    X = X.astype(dtype)
    clf = _clf(activation=activation).fit(X, y)
    labels, proba = _no_zipmap(clf, X)
    expected = clf.predict_proba(X)
    assert proba.dtype == dtype
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert np.abs(proba - expected).max() <= _tolerance(dtype, [activation])
    # The model is not a trivial one: predictions vary and beat chance.
    assert clf.score(X, y) > 0.9 and expected.std() > 0.1


@DTYPES
def test_per_layer_activations_and_leaky_slope(dtype):
    X, y = _wine()
    X = X.astype(dtype)
    activations = ["gelu", LeakyReLU(slope=0.3), "softplus"]
    clf = _clf((12, 8, 6), activation=activations).fit(X, y)
    labels, proba = _no_zipmap(clf, X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert np.abs(proba - clf.predict_proba(X)).max() <= _tolerance(dtype, ["gelu"])
    # The slope is the model's, not the registry's 0.01.
    clf.network_.layers[1].activation.slope = 0.01
    assert np.abs(_no_zipmap(clf, X)[1] - proba).max() > 1e-3


# -- every output kind --------------------------------------------------------------


@DTYPES
def test_binary_sigmoid_output(dtype):
    X, y = load_breast_cancer(return_X_y=True)
    X = scale(X).astype(dtype)
    clf = _clf((16,), activation="tanh").fit(X, y)
    labels, proba = _no_zipmap(clf, X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert np.abs(proba - clf.predict_proba(X)).max() <= _tolerance(dtype)


@DTYPES
def test_multilabel_sigmoid_output(dtype):
    X, digit = load_digits(return_X_y=True)
    X = (X / 16).astype(dtype)
    Y = np.column_stack([digit >= 5, digit % 2 == 0, np.isin(digit, [0, 6, 8, 9])]).astype(int)
    clf = _clf((24,), activation="elu").fit(X, Y)
    labels, proba = _no_zipmap(clf, X)
    assert labels.shape == proba.shape == Y.shape
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert np.abs(proba - clf.predict_proba(X)).max() <= _tolerance(dtype)
    # zipmap gives one {label index: probability} dictionary per row.
    _, dicts = _run(clf, X[:3])
    assert dicts[0] == pytest.approx(dict(enumerate(proba[0])), abs=1e-6)


def _assert_regression(model, X, dtype):
    (output,) = _run(model, X)
    prediction = model.predict(X)
    assert output.dtype == dtype
    assert output.shape == (len(X), 1 if prediction.ndim == 1 else prediction.shape[1])
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(output, prediction.reshape(output.shape), rtol=rtol)


@DTYPES
def test_identity_output(dtype):
    X, y = _diabetes()
    X = X.astype(dtype)
    reg = _reg(activation="softplus", solver="lbfgs", max_iter=100).fit(X, y)
    _assert_regression(reg, X, dtype)


@DTYPES
def test_identity_outputs_of_a_multi_output_regressor(dtype):
    X, Y = load_linnerud(return_X_y=True)
    X = scale(X).astype(dtype)
    reg = _reg(activation="tanh", solver="lbfgs", max_iter=100).fit(X, Y)
    _assert_regression(reg, X, dtype)


@DTYPES
def test_exp_output_of_a_poisson_regressor(dtype):
    X, y = _diabetes()
    X = X.astype(dtype)
    reg = _reg(loss="poisson", activation="leaky_relu").fit(X, y)
    _assert_regression(reg, X, dtype)


def test_float32_graph_of_a_model_trained_in_float64():
    # Deploying in float32 what was trained in float64: ONNX computes in float.
    X, y = _wine()
    clf = _clf(activation="gelu").fit(X, y)
    labels, proba = _no_zipmap(clf, X.astype(np.float32))
    assert proba.dtype == np.float32
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert np.abs(proba - clf.predict_proba(X)).max() <= 1e-5


def test_integer_input_is_cast_to_float():
    X, y = load_digits(return_X_y=True)  # pixel intensities 0..16
    clf = _clf((16,), learning_rate_init=0.001).fit(X, y)
    labels, proba = _no_zipmap(clf, X.astype(np.int64))
    assert proba.dtype == np.float32
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert np.abs(proba - clf.predict_proba(X)).max() <= 1e-5


# -- labels and the zipmap option -------------------------------------------------------


@pytest.mark.parametrize("kind", ["int", "str"])
def test_labels_and_zipmap_options(kind):
    X, y = _wine()
    X = X.astype(np.float32)
    names = {"int": np.array([10, 20, 30]), "str": np.array(["barolo", "grignolino", "barbera"])}
    y = names[kind][y]
    clf = _clf().fit(X, y)
    expected_labels, expected_proba = clf.predict(X), clf.predict_proba(X)

    labels, dicts = _run(clf, X)  # zipmap=True, skl2onnx's default
    np.testing.assert_array_equal(labels, expected_labels)
    assert list(dicts[5]) == clf.classes_.tolist()
    assert list(dicts[5].values()) == pytest.approx(expected_proba[5], abs=1e-5)

    labels, *columns = _run(clf, X, options={"zipmap": "columns"})
    np.testing.assert_array_equal(labels, expected_labels)
    assert np.abs(np.column_stack(columns) - expected_proba).max() <= 1e-5

    labels, proba = _run(clf, X, options={"zipmap": False, "nocl": True})
    np.testing.assert_array_equal(labels, np.searchsorted(clf.classes_, expected_labels))

    labels, proba, classes = _run(clf, X, options={"zipmap": False, "output_class_labels": True})
    np.testing.assert_array_equal(classes, clf.classes_)


def test_zipmap_of_float64_input_holds_floats():
    # ONNX's ZipMap takes float only (skl2onnx's own classifiers give an
    # invalid graph here): the dictionaries get the double results rounded.
    X, y = _wine()
    clf = _clf().fit(X, y)
    labels, dicts = _run(clf, X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    proba = np.array([list(row.values()) for row in dicts])
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-7)


# -- inside pipelines ------------------------------------------------------------------


def test_pipeline_with_a_standard_scaler():
    X, y = load_wine(return_X_y=True)
    X = X.astype(np.float32)
    pipeline = make_pipeline(StandardScaler(), _clf(activation=["gelu", "relu"])).fit(X, y)
    labels, proba = _run(pipeline, X, options={LayeredClassifier: {"zipmap": False}})
    np.testing.assert_array_equal(labels, pipeline.predict(X))
    assert np.abs(proba - pipeline.predict_proba(X)).max() <= 1e-5


def test_pipeline_with_a_column_transformer_on_a_data_frame():
    frame = load_diabetes(as_frame=True).frame
    y = frame.pop("target")
    numeric = [column for column in frame.columns if column != "sex"]
    frame[numeric] = frame[numeric].astype(np.float32)
    frame["sex"] = np.where(frame["sex"] > 0, "M", "F")
    columns = ColumnTransformer(
        [("numeric", StandardScaler(), numeric), ("sex", OneHotEncoder(), ["sex"])]
    )
    reg = _reg(activation="elu", solver="lbfgs", max_iter=100)
    pipeline = make_pipeline(columns, reg).fit(frame, y)
    feeds = {column: frame[[column]].to_numpy() for column in frame.columns}
    (output,) = _run(pipeline, frame, feeds=feeds)
    np.testing.assert_allclose(output.ravel(), pipeline.predict(frame), rtol=1e-4)
    assert isinstance(frame, pd.DataFrame) and pipeline.score(frame, y) > 0.4


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_unfitted_model_is_refused(Estimator):
    X = np.zeros((2, 3), dtype=np.float32)
    message = f"Cannot convert this {Estimator.__name__} to ONNX: it is not fitted yet"
    with pytest.raises(NotFittedError, match=message):
        to_onnx(Estimator(), X)
    with pytest.raises(NotFittedError, match=message):
        to_onnx(make_pipeline(StandardScaler().fit(X), Estimator()), X)


class Cube:
    name = "cube"

    def forward(self, z):
        return z**3

    def derivative(self, z, a):
        return 3 * z**2


def test_user_defined_activation_is_named():
    X, y = _diabetes()
    reg = _reg(hidden_layer_sizes=(4, 3), activation=["relu", Cube()], max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="hidden layer 2 uses the user-defined activation 'cube'"):
        to_onnx(reg, X[:1].astype(np.float32))


def test_register_refuses_other_classes():
    with pytest.raises(TypeError, match="register takes LayeredClassifier, LayeredRegressor"):
        sknet.onnx.register(StandardScaler)


# -- one class; models trained on another device (issue 14, items 7 and 10) --------------------


@DTYPES
@pytest.mark.parametrize("kind", ["int", "str"])
@pytest.mark.parametrize("zipmap", [False, True])
def test_single_class_classifier_runs_and_gives_probability_one(dtype, kind, zipmap):
    import warnings

    from sklearn.neural_network import MLPClassifier

    X = np.random.default_rng(0).normal(size=(12, 3)).astype(dtype)
    y = np.full(12, 7) if kind == "int" else np.full(12, "only")
    clf = LayeredClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP's convergence warning
        mlp = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    options = {"zipmap": zipmap}
    labels, proba = _run(clf, X, options=options)
    # skl2onnx's MLP graph with zipmap runs on float input only.
    mlp_labels, mlp_proba = _run(mlp, X.astype(np.float32), options=options)
    # The class for every row, as predict and MLP's converted model give it.
    assert labels.tolist() == clf.predict(X).tolist() == mlp_labels.tolist()
    if zipmap:
        # One {class: probability} per row, with MLP's keys.
        assert [list(row) for row in proba] == [list(row) for row in mlp_proba]
        assert [list(row.values()) for row in proba] == [[1.0]] * len(X)
    else:
        assert proba.shape == mlp_proba.shape == (len(X), 1)
        np.testing.assert_array_equal(proba, clf.predict_proba(X))
        assert (proba == 1).all()


def test_single_class_probability_is_one_even_for_a_saturated_network():
    X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    clf = LayeredClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    clf.fit(X, np.zeros(6, dtype=int))
    clf.intercepts_ = [b + 1e6 for b in clf.intercepts_]  # sigmoid of +1e6 and more
    labels, proba = _no_zipmap(clf, X * 1e30)
    assert (labels == 0).all() and (proba == 1).all()


def _device_fit(Estimator, X, y, namespace):
    """Fit ``Estimator`` on data of ``namespace`` ("array_api_strict" on its
    second device, or "torch"); return the model and a numpy-fitted reference."""
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    if namespace == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)

        def move(a):
            return torch.asarray(a)
    else:
        xps = pytest.importorskip("array_api_strict")

        def move(a):
            return xps.asarray(a, device=xps.Device("device1"))

    settings = dict(hidden_layer_sizes=(6,), activation="tanh", max_iter=20, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Estimator(**settings).fit(move(X), move(y))
        reference = Estimator(**settings).fit(X, y)
    return model, reference


@DTYPES
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_export_of_a_regressor_trained_on_another_device(dtype, namespace):
    X, y = _diabetes()
    X, y = X[:120].astype(dtype), y[:120].astype(dtype)
    model, reference = _device_fit(LayeredRegressor, X, y, namespace)
    (onnx_output,) = _run(model, X)
    (reference_output,) = _run(reference, X)
    # The model trained on the device is the numpy model, within the backends'
    # agreement; its graph computes what the numpy model's graph computes.
    np.testing.assert_allclose(onnx_output.ravel(), reference.predict(X), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(onnx_output, reference_output, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_export_of_a_classifier_trained_on_another_device(namespace):
    X, y = _wine()
    X = X.astype(np.float32)
    model, reference = _device_fit(LayeredClassifier, X, y.astype(np.float32), namespace)
    labels, proba = _no_zipmap(model, X)
    np.testing.assert_allclose(proba, reference.predict_proba(X), atol=1e-4)
    assert (labels == reference.predict(X)).mean() > 0.95


# -- PiecewiseLinearEncoder, target scaling, categorical features ----------------------


def _ple_data(dtype):
    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(dtype)
    X[:, 3] = 5.0  # a constant feature: one column, always 0
    # Rows beyond the training range: the outer bins are not clipped there.
    beyond = np.vstack([X.min(axis=0) - 1, X.max(axis=0) + 1]).astype(dtype)
    return X, y, np.vstack([X, beyond])


@DTYPES
@pytest.mark.parametrize("strategy", ["quantile", "tree"])
def test_piecewise_linear_encoder_matches_transform(dtype, strategy):
    from sknet.preprocessing import PiecewiseLinearEncoder

    X, y, X_test = _ple_data(dtype)
    encoder = PiecewiseLinearEncoder(n_bins=8, strategy=strategy, random_state=0).fit(X, y)
    (output,) = _run(encoder, X_test)
    assert output.dtype == dtype
    assert output.shape == (len(X_test), encoder.n_bins_.sum())
    # The same operations in the same dtype: equal to the last bit.
    np.testing.assert_array_equal(output, encoder.transform(X_test))


def test_piecewise_linear_encoder_output_dtype_option():
    from sknet.preprocessing import PiecewiseLinearEncoder

    X, y, X_test = _ple_data(np.float64)
    encoder = PiecewiseLinearEncoder(n_bins=4, dtype=np.float32).fit(X)
    (output,) = _run(encoder, X_test)
    assert output.dtype == np.float32
    np.testing.assert_allclose(output, encoder.transform(X_test), rtol=1e-6, atol=1e-6)


def test_pipeline_of_piecewise_linear_encoder_and_classifier():
    from sknet.preprocessing import PiecewiseLinearEncoder

    X, y, X_test = _ple_data(np.float32)
    pipeline = make_pipeline(
        PiecewiseLinearEncoder(n_bins=8, random_state=0),
        _clf((16,), activation="relu"),
    ).fit(X, y)
    labels, proba = _run(pipeline, X_test, options={LayeredClassifier: {"zipmap": False}})
    np.testing.assert_array_equal(labels, pipeline.predict(X_test))
    assert np.abs(proba - pipeline.predict_proba(X_test)).max() <= 1e-5


def test_the_tabular_recipe_does_not_convert_but_its_steps_do():
    """The recipe picks its columns when it is fitted (a callable selector),
    turns categories into strings with a FunctionTransformer, and the regressor
    wraps its pipeline in a TransformedTargetRegressor: skl2onnx converts none
    of them. The same steps with the columns named, and target_scaling, convert."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    from sknet import make_tabular_regressor
    from sknet.preprocessing import PiecewiseLinearEncoder

    frame = load_diabetes(as_frame=True).frame
    y = frame.pop("target")
    numeric = [column for column in frame.columns if column != "sex"]
    frame[numeric] = frame[numeric].astype(np.float32)
    frame["sex"] = np.where(frame["sex"] > 0, "M", "F")
    recipe = make_tabular_regressor(max_iter=5, random_state=0)
    with pytest.warns(Warning):
        recipe.fit(frame, y)
    with pytest.raises(RuntimeError, match="TransformedTargetRegressor"):
        to_onnx(recipe, frame[:1])
    with pytest.raises(RuntimeError, match="Unable to find column name"):
        to_onnx(recipe.regressor_, frame[:1])

    columns = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("encode", PiecewiseLinearEncoder(n_bins=8, random_state=0)),
                    ]
                ),
                numeric,
            ),
            ("sex", OneHotEncoder(), ["sex"]),
        ]
    )
    reg = _reg(hidden_layer_sizes=(16,), target_scaling="standard", solver="lbfgs", max_iter=100)
    pipeline = make_pipeline(columns, reg).fit(frame, y)
    feeds = {column: frame[[column]].to_numpy() for column in frame.columns}
    (output,) = _run(pipeline, frame, feeds=feeds)
    np.testing.assert_allclose(output.ravel(), pipeline.predict(frame), rtol=1e-4)


@DTYPES
def test_regressor_with_target_scaling(dtype):
    X, y = _diabetes()
    X = X.astype(dtype)
    reg = _reg(target_scaling="standard", solver="lbfgs", max_iter=100).fit(X, 1e4 * y)
    (output,) = _run(reg, X)
    np.testing.assert_allclose(output.ravel(), reg.predict(X), rtol=_tolerance(dtype))
    assert reg.score(X, 1e4 * y) > 0.4


def test_a_model_with_categorical_features_is_refused():
    frame = pd.DataFrame(
        {"x": np.arange(20.0, dtype=np.float32), "c": pd.Categorical(["a", "b"] * 10)}
    )
    reg = _reg(categorical_features="from_dtype", max_iter=5)
    with pytest.warns(Warning):
        reg.fit(frame, np.arange(20.0))
    with pytest.raises(ValueError, match="fitted with categorical_features"):
        to_onnx(reg, frame[:1])
