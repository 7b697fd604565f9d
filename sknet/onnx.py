"""Export fitted estimators to ONNX with skl2onnx (the optional ``onnx`` extra).

Importing this module registers a parser, a shape calculator and a converter
with skl2onnx for :class:`~sknet.LayeredClassifier` and
:class:`~sknet.LayeredRegressor`, and a shape calculator and a converter for
:class:`~sknet.preprocessing.PiecewiseLinearEncoder`, so that
``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert them on their
own and inside pipelines (a ``Pipeline(PiecewiseLinearEncoder(), ...)``
converts whole). The encoder's graph computes in the input's type, like its
``transform``, and casts to its ``dtype`` when one is set.
The graph computes in float when the input is float32 (or an integer type) and
in double when it is float64.

A classifier's graph has two outputs, as skl2onnx's classifiers have: the
labels (integers or strings; an indicator matrix for multilabel targets) and
the probabilities, which by default skl2onnx turns into a list of
``{class: probability}`` dictionaries (``options={"zipmap": False}`` keeps the
matrix, ``"columns"`` gives one output per class). The dictionaries hold float
values even for float64 input, as ONNX's ``ZipMap`` takes nothing else. A
regressor's graph has one output of shape ``(n_samples, n_outputs)``, mapped
back to the units of ``y`` for ``target_scaling="standard"``. An estimator
fitted with ``categorical_features`` is refused: its internal one-hot
encoding has no graph (put a ``OneHotEncoder`` in front of it instead). A
classifier fitted on a single class labels every row with it, with
probability 1, as ``predict_proba`` does. A model trained on another array
library or device (torch, CuPy, array_api_strict) is exported from a copy of its
weights on the host, as :meth:`sknet.Network.save` writes them.

Every built-in activation converts, leaky ReLU with its slope. Leaky ReLU, ELU
and softplus are written with elementary operators (the forms sknet computes),
because onnxruntime has no double kernel for their own operators; for the same
reason a double graph evaluates GELU's ``Erf`` in float, which bounds its
relative error near 1e-7. A user-defined activation cannot be converted.

Each layer writes its own piece of the graph through the layer protocol's
``to_onnx(graph, x)`` (see :class:`sknet.Layer`): :class:`sknet.Dense` a
``MatMul``, an ``Add`` and its activation. A layer type without ``to_onnx`` is
refused, by name, before any graph is built.

Examples
--------
>>> import numpy as np
>>> import onnxruntime
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_iris
>>> import sknet.onnx  # registers the converters
>>> from sknet import LayeredClassifier
>>> X, y = load_iris(return_X_y=True)
>>> X = X.astype(np.float32)
>>> clf = LayeredClassifier((8,), solver="lbfgs", max_iter=200,
...                         random_state=0).fit(X, y)
>>> model = to_onnx(clf, X[:1], options={"zipmap": False})
>>> session = onnxruntime.InferenceSession(
...     model.SerializeToString(), providers=["CPUExecutionProvider"])
>>> labels, proba = session.run(None, {"X": X})
>>> bool((labels == clf.predict(X)).all())
True
>>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-5)
True
"""

import math

import numpy as np

try:
    from skl2onnx import get_model_alias, update_registered_converter
    from skl2onnx._parse import _parse_sklearn_classifier
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )
    from skl2onnx.common.utils_classifier import get_label_classes
    from skl2onnx.proto import onnx_proto
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sknet.onnx needs skl2onnx and onnx; install them with "
        "`pip install 'sknet-layers[onnx]'` (onnxruntime runs the exported models)."
    ) from exc

from sklearn.utils.validation import check_is_fitted

from .activations import (
    ELU,
    GELU,
    Exponential,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .backends import to_numpy
from .estimators import LayeredClassifier, LayeredRegressor
from .layers import Layer
from .preprocessing import PiecewiseLinearEncoder

__all__ = ["register"]

_FLOAT, _DOUBLE = onnx_proto.TensorProto.FLOAT, onnx_proto.TensorProto.DOUBLE
_GOOD_INPUTS = [FloatTensorType, DoubleTensorType, Int64TensorType, BooleanTensorType]


class _Graph:
    """Adds the nodes and constants of one converted model to skl2onnx's container."""

    def __init__(self, scope, container, proto_dtype):
        self.scope, self.container = scope, container
        self.proto_dtype = proto_dtype
        self.dtype = np.dtype(np.float64 if proto_dtype == _DOUBLE else np.float32)

    def constant(self, value, hint="const"):
        value = np.asarray(value, dtype=self.dtype)
        name = self.scope.get_unique_variable_name(hint)
        self.container.add_initializer(name, self.proto_dtype, list(value.shape), value.ravel())
        return name

    def node(self, op_type, inputs, out=None, **attrs):
        out = out or self.scope.get_unique_variable_name(op_type.lower())
        name = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, list(inputs), [out], name=name, **attrs)
        return out

    # -- activations: each takes and returns a variable name --------------------

    def relu(self, z):
        return self.node("Relu", [z])

    def leaky_relu(self, z, slope):
        # max(z, slope * z) for slope in [0, 1), as sknet computes it.
        return self.node("Max", [z, self.node("Mul", [z, self.constant(slope, "slope")])])

    def elu(self, z):
        # exp(min(z, 0)) - 1 + max(z, 0)
        zero, one = self.constant(0.0, "zero"), self.constant(1.0, "one")
        negative = self.node("Sub", [self.node("Exp", [self.node("Min", [z, zero])]), one])
        return self.node("Add", [negative, self.relu(z)])

    def softplus(self, z):
        # log(1 + exp(-|z|)) + max(z, 0) never overflows.
        tail = self.node("Exp", [self.node("Neg", [self.node("Abs", [z])])])
        log = self.node("Log", [self.node("Add", [tail, self.constant(1.0, "one")])])
        return self.node("Add", [log, self.relu(z)])

    def gelu(self, z):
        # 0.5 * z * (1 + erf(z / sqrt(2))), with Erf in float: onnxruntime has no
        # double Erf kernel.
        scaled = self.node("Mul", [z, self.constant(1 / math.sqrt(2.0), "inv_sqrt2")])
        if self.proto_dtype == _DOUBLE:
            scaled = self.node("Cast", [scaled], to=_FLOAT)
            erf = self.node("Cast", [self.node("Erf", [scaled])], to=_DOUBLE)
        else:
            erf = self.node("Erf", [scaled])
        one_plus = self.node("Add", [erf, self.constant(1.0, "one")])
        return self.node("Mul", [self.node("Mul", [z, self.constant(0.5, "half")]), one_plus])

    def exp(self, z):
        # sknet caps the input so that the output stays finite.
        cap = math.log(np.finfo(self.dtype).max) - 1
        return self.node("Exp", [self.node("Min", [z, self.constant(cap, "cap")])])

    def activation(self, activation, z):
        kind = type(activation)
        if kind is Identity:
            return z
        if kind is LeakyReLU:
            return self.leaky_relu(z, activation.slope)
        if kind in _ELEMENTARY:
            return self.node(_ELEMENTARY[kind], [z])
        if kind is Softmax:
            return self.node("Softmax", [z], axis=1)
        return getattr(self, _COMPOSED[kind])(z)

    def forward(self, network, x):
        """The network's output for the input variable ``x``: each layer's graph piece in turn.

        Each layer adds its own nodes through the layer protocol's
        ``to_onnx(graph, x)`` (see :class:`sknet.Layer`).
        """
        for layer in network.layers:
            x = layer.to_onnx(self, x)
        return x


_ELEMENTARY = {ReLU: "Relu", Tanh: "Tanh", Sigmoid: "Sigmoid"}
_COMPOSED = {ELU: "elu", Softplus: "softplus", GELU: "gelu", Exponential: "exp"}
_CONVERTIBLE = {Identity, LeakyReLU, Softmax, *_ELEMENTARY, *_COMPOSED}


def _check_convertible(model):
    """Raise a clear error, before any graph is built, for what cannot convert."""
    name = type(model).__name__
    check_is_fitted(
        model,
        "network_",
        msg=f"Cannot convert this {name} to ONNX: it is not fitted yet. Call 'fit' first.",
    )
    if getattr(model, "_categorical_encoder", None) is not None:
        raise ValueError(
            f"Cannot convert this {name} to ONNX: it was fitted with categorical_features, "
            "and its internal one-hot encoding has no ONNX translation. Put a OneHotEncoder "
            "in a ColumnTransformer in front of it (skl2onnx converts both) and fit with "
            "categorical_features=None."
        )
    if getattr(model, "_numeric_encoder", None) is not None:
        raise ValueError(
            f"Cannot convert this {name} to ONNX: it was fitted with "
            "numeric_embedding='piecewise_linear', whose internal encoder is not part of "
            "the estimator's ONNX graph. Put sknet.preprocessing.PiecewiseLinearEncoder "
            "in a Pipeline in front of it (sknet.onnx converts both) and fit with "
            "numeric_embedding=None."
        )
    for i, layer in enumerate(model.network_.layers, start=1):
        to_onnx = getattr(type(layer), "to_onnx", None)
        if to_onnx is None or to_onnx is Layer.to_onnx:
            raise ValueError(
                f"Cannot convert this {name} to ONNX: layer {i} is a {type(layer).__name__}, "
                "which has no ONNX translation; a layer type converts when it defines "
                "to_onnx(graph, x) (see sknet.Layer)."
            )
        if layer.activation is None:
            continue
        # Exact types: a subclass may compute something else under the same name.
        if type(layer.activation) not in _CONVERTIBLE:
            raise ValueError(
                f"Cannot convert this {name} to ONNX: hidden layer {i} uses the user-defined "
                f"activation {layer.activation.name!r}, which has no ONNX translation; "
                "only sknet's built-in activations convert."
            )


def _graph_types(operator):
    """The ONNX element type and skl2onnx tensor type the graph computes in."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return _DOUBLE, DoubleTensorType
    return _FLOAT, FloatTensorType


def _graph_input(graph, operator):
    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, (FloatTensorType, DoubleTensorType)):
        x = graph.node("Cast", [x], to=graph.proto_dtype)
    return x


def _label_values(scope, model):
    """The class labels as ONNX stores them: int64 or UTF-8 strings."""
    classes = np.asarray(to_numpy(get_label_classes(scope, model)))
    # Float labels are whole numbers: scikit-learn refuses others as classes.
    if classes.dtype.kind in "biuf":
        return classes.astype(np.int64), False
    return np.array([str(c).encode("utf-8") for c in classes]), True


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


# -- parsers: check the model, then declare the outputs -------------------------


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    _check_convertible(model)
    # skl2onnx's own classifier parser declares the label and probability
    # outputs and applies the zipmap and output_class_labels options.
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def _parse_regressor(scope, model, inputs, custom_parsers=None):
    _check_convertible(model)
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    double = isinstance(inputs[0].type, DoubleTensorType)
    variable = scope.declare_local_variable(
        "variable", DoubleTensorType() if double else FloatTensorType()
    )
    operator.outputs.append(variable)
    return operator.outputs


# -- shape calculators ----------------------------------------------------------------


def _classifier_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    check_input_and_output_types(operator, good_input_types=_GOOD_INPUTS)
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    classes, is_string = _label_values(operator.scope_inst, model)
    label_type = StringTensorType if is_string else Int64TensorType
    label_shape = [n_rows, len(classes)] if _is_multilabel(model) else [n_rows]
    operator.outputs[0].set_type(label_type(label_shape))
    proba_type = _graph_types(operator)[1]
    if operator.scope_inst.get_options(model, dict(zipmap=True))["zipmap"] is True:
        proba_type = FloatTensorType  # ONNX's ZipMap takes float probabilities only
    operator.outputs[1].set_type(proba_type([n_rows, len(classes)]))


def _regressor_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_GOOD_INPUTS)
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = _graph_types(operator)[1]
    operator.outputs[0].set_type(tensor_type([n_rows, operator.raw_operator.n_outputs_]))


# -- converters -----------------------------------------------------------------------


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    graph = _Graph(scope, container, _graph_types(operator)[0])
    output = graph.forward(model.network_, _graph_input(graph, operator))
    label_name, proba_name = operator.outputs[0].full_name, operator.outputs[1].full_name
    if model.out_activation_ == "logistic":
        # predict_proba keeps a saturated sigmoid strictly inside (0, 1).
        info = np.finfo(graph.dtype)
        output = graph.node("Max", [output, graph.constant(info.tiny, "tiny")])
        output = graph.node("Min", [output, graph.constant(1 - info.epsneg, "almost_one")])
    classes, is_string = _label_values(scope, model)
    if len(classes) == 1 and not _is_multilabel(model):
        # One class, as predict_proba gives it: probability 1 in one column,
        # whatever the network computes (its one unit is trained towards 1).
        rows = graph.node("Shape", [output])  # (n_samples, 1)
        proba = graph.node("Expand", [graph.constant([[1.0]], "one"), rows])
    elif model.n_outputs_ == 1:  # binary: one sigmoid unit for the second class
        negative = graph.node("Sub", [graph.constant(1.0, "one"), output])
        proba = graph.node("Concat", [negative, output], axis=1)
    else:
        proba = output
    if isinstance(operator.outputs[1].type, FloatTensorType) and graph.dtype != np.float32:
        graph.node("Cast", [proba], out=proba_name, to=_FLOAT)
    else:
        graph.node("Identity", [proba], out=proba_name)
    if _is_multilabel(model):
        above = graph.node("Greater", [proba, graph.constant(0.5, "threshold")])
        graph.node("Cast", [above], out=label_name, to=onnx_proto.TensorProto.INT64)
        return
    # The first largest probability, as numpy's argmax picks it (for a binary
    # model that is p > 0.5, predict's threshold: 1 - p is exact for p >= 0.5).
    index = graph.node("ArgMax", [proba], axis=1, keepdims=0)
    classes_name = scope.get_unique_variable_name("classes")
    label_type = onnx_proto.TensorProto.STRING if is_string else onnx_proto.TensorProto.INT64
    container.add_initializer(classes_name, label_type, list(classes.shape), classes.tolist())
    graph.node("Gather", [classes_name, index], out=label_name, axis=0)


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    graph = _Graph(scope, container, _graph_types(operator)[0])
    output = graph.forward(model.network_, _graph_input(graph, operator))
    scale = getattr(model, "_target_scale", None)
    if scale is not None:
        # target_scaling: the network predicts (y - mean) / scale.
        output = graph.node("Mul", [output, graph.constant(to_numpy(scale), "target_scale")])
        mean = graph.constant(to_numpy(model._target_mean), "target_mean")
        output = graph.node("Add", [output, mean])
    graph.node("Identity", [output], out=operator.outputs[0].full_name)


def register(estimator_class):
    """Register an estimator class with skl2onnx.

    Importing :mod:`sknet.onnx` registers :class:`~sknet.LayeredClassifier`
    and :class:`~sknet.LayeredRegressor`. skl2onnx looks converters up by the
    exact class, so a subclass of either needs this call too (it must compute
    what its parent computes).

    Parameters
    ----------
    estimator_class : type
        :class:`~sknet.LayeredClassifier`, :class:`~sknet.LayeredRegressor`
        or a subclass of one.

    Returns
    -------
    estimator_class : type
        The class, unchanged, so that ``register`` can decorate a class.

    Examples
    --------
    >>> import numpy as np
    >>> from skl2onnx import to_onnx
    >>> from sknet import LayeredRegressor
    >>> from sknet.onnx import register
    >>> @register
    ... class MyRegressor(LayeredRegressor):
    ...     pass
    >>> X = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> reg = MyRegressor(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
    >>> reg = reg.fit(X, X.sum(axis=1))
    >>> [output.name for output in to_onnx(reg, X[:1]).graph.output]
    ['variable']
    """
    if not isinstance(estimator_class, type) or not issubclass(
        estimator_class, (LayeredClassifier, LayeredRegressor)
    ):
        raise TypeError(
            "register takes LayeredClassifier, LayeredRegressor or a subclass of one, "
            f"got {estimator_class!r}."
        )
    alias = f"Sknet{estimator_class.__name__}"
    if issubclass(estimator_class, LayeredClassifier):
        update_registered_converter(
            estimator_class,
            alias,
            _classifier_shapes,
            _convert_classifier,
            parser=_parse_classifier,
            options={
                "zipmap": [True, False, "columns"],
                "nocl": [False, True],
                "output_class_labels": [False, True],
            },
        )
    else:
        update_registered_converter(
            estimator_class,
            alias,
            _regressor_shapes,
            _convert_regressor,
            parser=_parse_regressor,
        )
    return estimator_class


register(LayeredClassifier)
register(LayeredRegressor)


# -- PiecewiseLinearEncoder --------------------------------------------------------------


def _ple_output_dtype(operator):
    """The encoder's output dtype: its ``dtype``, or the input's (float32 for integers)."""
    model = operator.raw_operator
    if model.dtype is not None:
        return np.dtype(model.dtype)
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _ple_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_GOOD_INPUTS)
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = DoubleTensorType if _ple_output_dtype(operator) == np.float64 else FloatTensorType
    operator.outputs[0].set_type(tensor_type([n_rows, int(model.n_bins_.sum())]))


def _convert_ple(scope, operator, container):
    """One vectorised piece for every feature: gather, shift, divide, clip.

    Output column ``k`` reads input feature ``feature[k]``; it is
    ``(x - lower[k]) / width[k]``, clipped above at ``upper[k]`` (1, or +inf
    for a feature's last bin) and below at ``floor[k]`` (0, or -inf for a
    feature's first bin), as :meth:`PiecewiseLinearEncoder.transform` clips.
    A constant feature's column is clipped to [0, 0].
    """
    model = operator.raw_operator
    check_is_fitted(model, "bin_edges_")
    graph = _Graph(scope, container, _graph_types(operator)[0])
    out_dtype = _ple_output_dtype(operator)
    feature, lower, width, upper, floor = [], [], [], [], []
    for j, (edges, n_bins) in enumerate(zip(model.bin_edges_, model.n_bins_, strict=True)):
        feature += [j] * int(n_bins)
        if len(edges) == 1:  # a constant feature: one column, always 0
            lower.append(0.0)
            width.append(1.0)
            upper.append(0.0)
            floor.append(0.0)
            continue
        # The edges in the output dtype, as transform casts them.
        edges = np.asarray(edges, dtype=np.float64).astype(out_dtype)
        lower += list(edges[:-1])
        width += list(np.diff(edges))
        upper += [1.0] * (int(n_bins) - 1) + [np.inf]
        floor += [-np.inf] + [0.0] * (int(n_bins) - 1)
    indices = scope.get_unique_variable_name("feature")
    container.add_initializer(
        indices, onnx_proto.TensorProto.INT64, [len(feature)], np.asarray(feature, np.int64)
    )
    x = graph.node("Gather", [_graph_input(graph, operator), indices], axis=1)
    shifted = graph.node("Sub", [x, graph.constant(lower, "lower")])
    z = graph.node("Div", [shifted, graph.constant(width, "width")])
    z = graph.node("Min", [z, graph.constant(upper, "upper")])
    z = graph.node("Max", [z, graph.constant(floor, "floor")])
    if out_dtype != graph.dtype:
        out_type = _DOUBLE if out_dtype == np.float64 else _FLOAT
        graph.node("Cast", [z], out=operator.outputs[0].full_name, to=out_type)
    else:
        graph.node("Identity", [z], out=operator.outputs[0].full_name)


update_registered_converter(
    PiecewiseLinearEncoder, "SknetPiecewiseLinearEncoder", _ple_shapes, _convert_ple
)
