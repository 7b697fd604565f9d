"""
===============================================
Deploying a trained pipeline with ONNX
===============================================

A model trained in Python often has to run somewhere else: a C++ or Java
service, a phone, a browser. `ONNX <https://onnx.ai>`_ is the common format for
that, and onnxruntime runs it in all those places. Importing :mod:`sknet.onnx`
teaches skl2onnx to convert :class:`~sknet.LayeredClassifier` and
:class:`~sknet.LayeredRegressor`, alone or inside a pipeline.

Here we train a pipeline (scaling, then a network with a different activation
in each hidden layer) on handwritten digits, export it to an ONNX file, load
that file in onnxruntime and check that it gives the labels and probabilities
that the pipeline gives.
"""

# %%
# Train the pipeline
# ------------------
# Float32 data keep the whole computation in float32, which is also what the
# exported graph computes in.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
from onnx import TensorProto
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sknet.onnx  # noqa: F401 (registers the converters with skl2onnx)
from sknet import LayeredClassifier

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, stratify=y, random_state=0
)

pipeline = make_pipeline(
    StandardScaler(),
    LayeredClassifier(
        (64, 32), activation=["gelu", "relu"], max_iter=300, random_state=0
    ),
)
pipeline.fit(X_train, y_train)
print(f"test accuracy: {pipeline.score(X_test, y_test):.3f}")

# %%
# Export it
# ---------
# ``to_onnx`` traces the pipeline with one row of data, which fixes the input's
# type (float32) and its number of columns. ``zipmap=False`` asks for the
# probabilities as a matrix rather than a list of ``{class: probability}``
# dictionaries.
options = {LayeredClassifier: {"zipmap": False}}
onx = to_onnx(pipeline, X_train[:1], options=options)
path = Path(tempfile.mkdtemp()) / "digits.onnx"
path.write_bytes(onx.SerializeToString())
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
for graph_input in onx.graph.input:
    elem_type = graph_input.type.tensor_type.elem_type
    element_type = TensorProto.DataType.Name(elem_type)
    print(f"input: {graph_input.name} ({element_type})")
print("outputs:", [o.name for o in onx.graph.output])
operators = sorted({node.op_type for node in onx.graph.node})
print("operators:")
print("   ", ", ".join(operators))

# %%
# Run it in onnxruntime
# ---------------------
# The file is all a deployment needs: onnxruntime knows nothing of sknet or
# scikit-learn.
session = onnxruntime.InferenceSession(
    str(path), providers=["CPUExecutionProvider"]
)
labels, proba = session.run(None, {"X": X_test})

expected = pipeline.predict_proba(X_test)
difference = np.abs(proba - expected)
print("labels equal:", bool((labels == pipeline.predict(X_test)).all()))
print(f"largest probability difference: {difference.max():.1e}")

# %%
# Both compute in float32, in a different order, so the probabilities differ
# in the last bits only: far below anything that could change a decision.
#
# A deployed model often answers one request at a time, where the fixed cost of
# a call matters more than the arithmetic. We time single-row predictions.


def per_call(function, repeat=300):
    start = time.perf_counter()
    for i in range(repeat):
        function(i % len(X_test))
    return (time.perf_counter() - start) / repeat * 1e6


sknet_us = per_call(lambda i: pipeline.predict_proba(X_test[i : i + 1]))
onnx_us = per_call(lambda i: session.run(None, {"X": X_test[i : i + 1]}))
print(f"one row: pipeline {sknet_us:.0f} us, onnxruntime {onnx_us:.0f} us")

fig, (ax_diff, ax_time) = plt.subplots(1, 2, figsize=(9, 3.5))
nonzero = difference[difference > 0]
ax_diff.hist(np.log10(nonzero), bins=30, color="tab:blue")
ax_diff.set_xlabel("log10 |onnxruntime - predict_proba|")
ax_diff.set_ylabel("probabilities")
ax_diff.set_title(f"{nonzero.size} of {difference.size} differ at all")
ax_time.barh(
    ["pipeline.predict_proba", "onnxruntime"],
    [sknet_us, onnx_us],
    color="tab:green",
)
ax_time.set_xlabel("microseconds per single-row call")
ax_time.set_title("latency of one prediction")
fig.tight_layout()
plt.show()

# %%
# The same works for :class:`~sknet.LayeredRegressor`, for float64 input (the
# graph then computes in double), for string class labels, and inside a
# :class:`~sklearn.compose.ColumnTransformer` that one-hot encodes categories.
# Every built-in activation converts; a user-defined one cannot, and
# ``to_onnx`` says which layer uses it.
