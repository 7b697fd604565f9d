"""
==========================================
Regression losses under outliers
==========================================

:class:`~sknet.LayeredRegressor` takes ``loss="squared_error"`` (the default,
as in scikit-learn's MLP), ``"huber"`` or ``"absolute_error"``. They differ in
how hard a large residual pulls on the fit:

* squared error pulls in proportion to the residual, so a few far points can
  drag the whole curve;
* absolute error pulls with the same force whatever the residual, so it fits
  the conditional median and ignores how far the outliers are;
* Huber is quadratic for residuals below ``delta = 1`` and linear beyond: it
  behaves like squared error on the clean points and like absolute error on
  the outliers.

We fit a noisy sine where 15% of the targets were replaced by large positive
values, a common pattern in sensor data and data-entry errors.
"""

# %%
# Data with outliers
# ------------------
import matplotlib.pyplot as plt
import numpy as np

from sknet import LayeredRegressor

rng = np.random.default_rng(0)
n_samples = 300
X = np.sort(rng.uniform(-3, 3, size=(n_samples, 1)), axis=0)
y_clean = np.sin(X.ravel())
y = y_clean + rng.normal(scale=0.15, size=n_samples)
outliers = rng.random(n_samples) < 0.15
y[outliers] += rng.uniform(3, 6, size=outliers.sum())

# %%
# Three losses, same network
# --------------------------
X_plot = np.linspace(-3, 3, 400).reshape(-1, 1)
losses = {
    "squared_error": "C3",
    "huber": "C2",
    "absolute_error": "C0",
}

fig, ax = plt.subplots(figsize=(8, 5))
ax.scatter(X[~outliers], y[~outliers], s=10, color="0.6", label="data")
ax.scatter(
    X[outliers], y[outliers], s=14, color="0.3", marker="x", label="outliers"
)
ax.plot(X_plot, np.sin(X_plot), "k--", linewidth=1.5, label="true function")
for loss, color in losses.items():
    reg = LayeredRegressor(
        loss=loss,
        hidden_layer_sizes=(32, 32),
        activation="tanh",
        learning_rate_init=0.01,
        max_iter=400,
        random_state=0,
    ).fit(X, y)
    error = np.mean(np.abs(reg.predict(X) - y_clean))
    ax.plot(
        X_plot,
        reg.predict(X_plot),
        color=color,
        linewidth=2.5,
        label=f"{loss} (mean |error| vs truth: {error:.2f})",
    )
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_ylim(-2, 7)
ax.legend(loc="upper left", fontsize=9)
ax.set_title("LayeredRegressor fits with 15% corrupted targets")
fig.tight_layout()
plt.show()

# %%
# The squared-error fit is lifted towards the outliers everywhere; the Huber
# and absolute-error fits stay on the clean curve. Huber's threshold is in
# the target's units: when the target has another scale, standardise it first
# (for example with :class:`~sklearn.compose.TransformedTargetRegressor`) so
# that ``delta = 1`` means "one standard deviation".
