"""
============================================
Learning curves and early stopping
============================================

With ``early_stopping=True``, a :class:`~sknet.LayeredClassifier` holds out
``validation_fraction`` of the training rows and, after every epoch, records
the validation score (accuracy) in ``validation_scores_``, as scikit-learn's
MLP does, and also the validation loss in ``validation_loss_curve_``.
:class:`~sknet.plotting.LossCurveDisplay` draws both next to the training loss.

We train the same wide network twice on a small, noisy three-class problem
(one label in ten is wrong): once without dropout, and once with half of the
hidden units dropped at each step.
"""

# %%
# Data
# ----
# 500 training rows with 20 features, 6 of them informative; ``flip_y=0.1``
# replaces 10% of the labels with random ones, which a large network can
# memorise.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from sknet import LayeredClassifier
from sknet.plotting import LossCurveDisplay

X, y = make_classification(
    n_samples=1000,
    n_features=20,
    n_informative=6,
    n_redundant=2,
    n_classes=3,
    flip_y=0.1,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=500, stratify=y, random_state=0
)

# %%
# Two models, one patience rule
# -----------------------------
# A quarter of the training rows is held out. Training stops once the
# validation accuracy has not improved for ``n_iter_no_change`` epochs, and the
# weights of the best epoch are kept. The patience is long on purpose, so that
# we see what happens after the best epoch. ``alpha=0`` turns off the L2
# penalty, leaving dropout as the only regulariser.
common = dict(
    hidden_layer_sizes=(256,),
    alpha=0.0,
    learning_rate_init=3e-3,
    early_stopping=True,
    validation_fraction=0.25,
    n_iter_no_change=40,
    max_iter=300,
    random_state=0,
)
models = {
    "no dropout": LayeredClassifier(**common),
    "dropout=0.5": LayeredClassifier(dropout=0.5, **common),
}

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
for ax, (label, clf) in zip(axes, models.items(), strict=True):
    clf.fit(X_train, y_train)
    display = LossCurveDisplay.from_estimator(
        clf, ax=ax, name=label, legend=False
    )
    best = int(np.argmax(clf.validation_scores_)) + 1  # epochs count from 1
    ax.axvline(best, color="grey", linestyle=":", linewidth=1)
    display.score_ax_.set_ylim(0.3, 0.8)
    print(f"{label}: stopped after {clf.n_iter_} epochs, best epoch {best}")
    print(
        f"    validation accuracy {clf.best_validation_score_:.3f}, "
        f"test accuracy {clf.score(X_test, y_test):.3f}"
    )
# One legend for both panels, below them, so that it hides no curve.
fig.legend(handles=list(display.lines_.values()), loc="lower center", ncol=3)
fig.tight_layout(rect=(0, 0.08, 1, 1))
plt.show()

# %%
# How to read it
# --------------
# Without dropout the training loss falls towards zero while the validation
# loss reaches its lowest point after a couple of dozen epochs and then climbs:
# the network memorises the wrong labels and grows confident on the validation
# rows it gets wrong. The validation accuracy (dashed, right axis) peaks at
# about the same time; the dotted line marks that epoch, whose weights early
# stopping keeps.
#
# With dropout the training loss stays well above zero (it is measured with
# units dropped, which is also why it starts above the validation loss), and
# the validation loss bottoms out later, lower, and rises much less: the two
# loss curves stay close, the sign of a model that generalises what it learns.
# On the test set the two end up close: the printed accuracies differ by
# about one point, five of the 500 test rows, which another seed could undo.
# What dropout changes clearly here is the shape of the curves, not the score.
