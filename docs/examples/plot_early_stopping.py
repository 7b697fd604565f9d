"""
============================================
Learning curves and early stopping
============================================

With ``early_stopping=True``, a :class:`~sknet.LayeredClassifier` holds out
``validation_fraction`` of the training rows and, after every epoch, records
the validation score (accuracy) in ``validation_scores_``, as scikit-learn's MLP
does, and also the validation loss in ``validation_loss_curve_``.
:class:`~sknet.plotting.LossCurveDisplay` draws both next to the training loss.

We train the same wide network on a few hundred handwritten digits twice:
without dropout, and with half of the hidden units dropped at each step.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknet import LayeredClassifier
from sknet.plotting import LossCurveDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=600, stratify=y, random_state=0
)

# %%
# Two models, one patience rule
# -----------------------------
# Training stops once the validation accuracy has not improved for
# ``n_iter_no_change`` epochs; the weights of the best epoch are kept.
# A long patience lets us see what happens after the best epoch.
common = dict(
    hidden_layer_sizes=(256,),
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
    display = LossCurveDisplay.from_estimator(clf, ax=ax, name=label)
    best = int(np.argmax(clf.validation_scores_)) + 1  # epochs count from 1
    ax.axvline(best, color="grey", linestyle=":", linewidth=1)
    display.score_ax_.set_ylim(0.8, 1.0)
    print(
        f"{label}: stopped after {clf.n_iter_} epochs, best epoch {best}, "
        f"validation accuracy {clf.best_validation_score_:.3f}, "
        f"test accuracy {clf.score(X_test, y_test):.3f}"
    )
fig.tight_layout()
plt.show()

# %%
# How to read it
# --------------
# Without dropout the training loss keeps falling towards zero while the
# validation loss reaches its lowest point and then creeps up: the network
# grows more and more confident, including on the validation digits it gets
# wrong, although the validation accuracy (dashed, right axis) hardly moves.
# The dotted line marks the epoch whose weights were kept.
#
# With dropout the training loss is noisier and stays higher, and the two loss
# curves stay closer together: dropout is a regulariser. Whether it also wins
# on accuracy depends on the data; the loss curves show where the risk of
# overfitting lies.
