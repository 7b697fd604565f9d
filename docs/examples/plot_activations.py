"""
=====================================
Per-layer activations on two moons
=====================================

Each hidden layer of a :class:`~sknet.LayeredClassifier` can have its own
activation: pass a list with one name per entry of ``hidden_layer_sizes``.
Here six stacks of two hidden layers of 16 units learn the same two-moons
problem, and we draw the decision boundary each one finds.

A ReLU network computes a piecewise-linear function, so its boundary is made
of straight pieces joined at corners; ``tanh``, ``gelu`` and a ``softplus``
then ``sigmoid`` stack bend smoothly. ``leaky_relu`` then ``elu`` and ``relu``
then ``tanh`` keep some of the corners of their first layer. On this easy
problem the test accuracies are close: the activation changes the shape of the
fit more than its quality.
"""

# %%
# Data and models
# ---------------
# The same split, architecture, solver and seed for every model: only the
# activations change.
import matplotlib.pyplot as plt
from sklearn.datasets import make_moons
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.model_selection import train_test_split

from sknet import LayeredClassifier

X, y = make_moons(n_samples=300, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

stacks = [
    ["relu", "relu"],
    ["tanh", "tanh"],
    ["gelu", "gelu"],
    ["leaky_relu", "elu"],
    ["relu", "tanh"],
    ["softplus", "sigmoid"],
]

# %%
# Fit and draw
# ------------
# Adam with a larger step than the default and a patience of 50 epochs: each
# model trains until its training loss stops improving, a few hundred epochs
# on 225 rows.
fig, axes = plt.subplots(2, 3, figsize=(11, 7), sharex=True, sharey=True)
for ax, stack in zip(axes.ravel(), stacks, strict=True):
    clf = LayeredClassifier(
        hidden_layer_sizes=(16, 16),
        activation=stack,
        learning_rate_init=0.01,
        alpha=1e-3,
        max_iter=1000,
        n_iter_no_change=50,
        random_state=0,
    ).fit(X_train, y_train)
    DecisionBoundaryDisplay.from_estimator(
        clf,
        X,
        response_method="predict_proba",
        cmap="RdBu",
        alpha=0.7,
        grid_resolution=150,
        ax=ax,
    )
    ax.scatter(
        X_train[:, 0],
        X_train[:, 1],
        c=y_train,
        cmap="RdBu",
        edgecolor="k",
        s=18,
    )
    ax.scatter(
        X_test[:, 0],
        X_test[:, 1],
        c=y_test,
        cmap="RdBu",
        edgecolor="k",
        marker="^",
        s=30,
    )
    ax.set_title(
        f"{' → '.join(stack)}\ntest accuracy {clf.score(X_test, y_test):.2f}",
        fontsize=10,
    )
    ax.set_xlabel("")
    ax.set_ylabel("")
fig.suptitle(
    "Decision boundaries of (16, 16) networks "
    "(circles: train, triangles: test)"
)
fig.tight_layout()
plt.show()
