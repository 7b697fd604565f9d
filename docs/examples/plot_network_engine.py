"""
=====================================================
The engine by hand: build, train, save and load
=====================================================

Under the estimators sits :class:`~sknet.Network`, a layer engine in the style
of Keras. Here we use it directly, with no scikit-learn estimator in between:
we choose every layer, the loss and the optimizer, train on handwritten digits,
watch the history, then save the network to a pickle-free ``.npz`` file and
load it back.
"""

# %%
# Build
# -----
# Three layers, each with its own width, activation and dropout. The last one
# is the output: ten softmax units, one per digit.
# :meth:`~sknet.Network.summary` lists them with their parameter counts.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknet import Network
from sknet.plotting import LossCurveDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
Y_train = np.eye(10)[y_train]  # one-hot targets for the softmax output

net = (
    Network(n_inputs=64, random_state=0)
    .add_layer(64, activation="relu")
    .add_layer(32, activation="tanh", dropout=0.1)
    .add_layer(10, activation="softmax")
)
print(net.summary())

# %%
# Train
# -----
# ``log_loss`` with a softmax output, Adam, mini-batches of 64 and a fifth of
# the rows held out to record the validation loss after each epoch.
net.fit(
    X_train,
    Y_train,
    loss="log_loss",
    optimizer="adam",
    epochs=60,
    batch_size=64,
    learning_rate=1e-3,
    validation_fraction=0.2,
)
accuracy = np.mean(net.predict(X_test).argmax(axis=1) == y_test)
print(f"test accuracy: {accuracy:.3f}")

name = "64 relu → 32 tanh → 10 softmax"
display = LossCurveDisplay.from_network(net, name=name)
plt.show()

# %%
# Save and load
# -------------
# :meth:`~sknet.Network.save` writes the weights and a JSON description of the
# layers to one ``.npz`` file. Loading it needs no pickle, so a file from
# someone else cannot run code on your machine.
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "digits.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as archive:
        print("arrays in the file:")
        print("   ", ", ".join(sorted(archive.files)))
    loaded = Network.load(path)

same = np.array_equal(loaded.predict(X_test), net.predict(X_test))
print("same predictions:", same)

# %%
# Use the loaded network
# ----------------------
# The loaded network predicts class probabilities exactly as the original did.
# Here are the 18 test digits it is least sure about (the lowest probability
# for its predicted class), with the predicted class and that probability.
# Most of its mistakes are among them: they are in red, with the true class.
proba = loaded.predict(X_test)
predicted = proba.argmax(axis=1)
wrong = predicted != y_test
print(f"{wrong.sum()} of {len(y_test)} test digits are misclassified")
unsure = np.argsort(proba.max(axis=1))[:18]
print(f"{wrong[unsure].sum()} of them are among the 18 shown")

fig, axes = plt.subplots(3, 6, figsize=(8, 6))
for ax, i in zip(axes.ravel(), unsure, strict=True):
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    title = f"{predicted[i]} ({proba[i, predicted[i]]:.2f})"
    if wrong[i]:
        title += f"\ntrue {y_test[i]}"
    ax.set_title(title, color="red" if wrong[i] else "black", fontsize=10)
    ax.set_axis_off()
fig.suptitle("Least sure predictions: class (probability); mistakes in red")
fig.tight_layout()
plt.show()
