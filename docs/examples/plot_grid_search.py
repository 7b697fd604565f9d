"""
===============================================
Grid search over the architecture
===============================================

The layer sizes and activations of :class:`~sknet.LayeredClassifier` are
ordinary hyperparameters, so :class:`~sklearn.model_selection.GridSearchCV`
searches them like any other. Here we cross-validate every combination of four
``hidden_layer_sizes`` and four activations on a
:class:`~sklearn.pipeline.Pipeline` that scales the features first, and show the
mean accuracy as a heatmap.
"""

# %%
# The search
# ----------
# Two noisy interleaved moons: the classes cannot be split by a straight line,
# and the noise caps the best accuracy near 0.9.
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknet import LayeredClassifier

X, y = make_moons(n_samples=500, noise=0.3, random_state=0)

pipe = make_pipeline(
    StandardScaler(),
    LayeredClassifier(max_iter=200, learning_rate_init=0.01, random_state=0),
)
param_grid = {
    "layeredclassifier__hidden_layer_sizes": [(2,), (8,), (32,), (32, 32)],
    "layeredclassifier__activation": ["relu", "tanh", "gelu", "sigmoid"],
}
search = GridSearchCV(pipe, param_grid, cv=StratifiedKFold(3, shuffle=True, random_state=0))
# Some combinations (sigmoid ones in particular) are still improving after 200
# epochs; how far each gets in that budget is part of what we compare, so the
# ConvergenceWarning they raise is silenced here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=ConvergenceWarning)
    search.fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

# %%
# The heatmap
# -----------
results = pd.DataFrame(search.cv_results_)
results["sizes"] = results["param_layeredclassifier__hidden_layer_sizes"].astype(str)
results["activation"] = results["param_layeredclassifier__activation"]
scores = results.pivot(index="sizes", columns="activation", values="mean_test_score")
scores = scores.loc[
    [str(s) for s in param_grid["layeredclassifier__hidden_layer_sizes"]],
    param_grid["layeredclassifier__activation"],
]

fig, ax = plt.subplots(figsize=(6.5, 4.5))
image = ax.imshow(scores.to_numpy(), cmap="viridis")
ax.set_xticks(np.arange(scores.shape[1]), labels=scores.columns)
ax.set_yticks(np.arange(scores.shape[0]), labels=scores.index)
ax.set_xlabel("activation (every hidden layer)")
ax.set_ylabel("hidden_layer_sizes")
threshold = scores.to_numpy().mean()
for i in range(scores.shape[0]):
    for j in range(scores.shape[1]):
        value = scores.iat[i, j]
        ax.text(
            j,
            i,
            f"{value:.3f}",
            ha="center",
            va="center",
            color="black" if value > threshold else "white",
        )
fig.colorbar(image, ax=ax, label="mean cross-validated accuracy")
ax.set_title("GridSearchCV over architecture")
fig.tight_layout()
plt.show()

# %%
# Two hidden units are too few for this boundary whatever their activation,
# and a sigmoid hidden layer trains more slowly than the others within the
# same 200 epochs. From eight units on, ``relu``, ``tanh`` and ``gelu`` are
# within noise of each other: past a point, the architecture matters less than
# the data.

# %%
# Per-layer stacks in a grid
# --------------------------
# ``activation`` can also be a list with one name per hidden layer. Since its
# length must match ``hidden_layer_sizes``, search stacks with a list of grids,
# one per depth::
#
#     param_grid = [
#         {"layeredclassifier__hidden_layer_sizes": [(32,)],
#          "layeredclassifier__activation": ["relu", "tanh"]},
#         {"layeredclassifier__hidden_layer_sizes": [(32, 16)],
#          "layeredclassifier__activation": [["relu", "tanh"], ["tanh", "relu"]]},
#     ]
