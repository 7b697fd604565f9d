"""Displays for sknet models.

matplotlib is optional: it is imported only when a display is built from a
model or plotted, never when :mod:`sknet` or :mod:`sknet.plotting` is imported.
Install it with ``pip install "sknet-layers[plot]"``.
"""

import numpy as np

__all__ = ["LossCurveDisplay"]

_INSTALL_HINT = 'pip install "sknet-layers[plot]"'


def _import_pyplot(caller):
    """Return ``matplotlib.pyplot``, or raise an ImportError that says how to get it.

    Parameters
    ----------
    caller : str
        Name of the function or method that needs matplotlib, quoted in the error.

    Returns
    -------
    module
        The ``matplotlib.pyplot`` module.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} draws with matplotlib, which is not installed. "
            f"Install it with: {_INSTALL_HINT}"
        ) from exc
    return plt


def _as_curve(values, what, *, required):
    """Turn a recorded curve into a 1-D float array, or None when it is absent."""
    if values is None:
        if required:
            raise ValueError(f"{what} is required, got None.")
        return None
    curve = np.asarray(values, dtype=float)
    if curve.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {curve.shape}.")
    if curve.size == 0:
        if required:
            raise ValueError(f"{what} is empty: nothing was recorded.")
        return None
    return curve


def _default_score_name(estimator):
    """Name of what ``estimator.score`` measures: accuracy or R²."""
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(estimator):
            return "Validation accuracy"
        if is_regressor(estimator):
            return "Validation R²"
    except AttributeError:  # not a scikit-learn estimator: it has no tags
        pass
    return "Validation score"


class LossCurveDisplay:
    """Per-epoch training loss, validation loss and validation score.

    The training loss, and the validation loss when one was recorded, are drawn
    against the epoch number on the left y axis. The validation score, when
    recorded, is drawn as a dashed line on a second y axis on the right
    (``ax.twinx()``), because a score and a loss do not share a scale.

    Build it with :meth:`from_estimator` (a fitted :class:`~sknet.LayeredClassifier`
    or :class:`~sknet.LayeredRegressor`) or :meth:`from_network` (a fitted
    :class:`~sknet.Network`), or pass the curves yourself and call :meth:`plot`.
    The constructor only stores the data; drawing happens in :meth:`plot`.

    Parameters
    ----------
    loss : array-like of shape (n_epochs,)
        Training loss, one value per epoch.

    val_loss : array-like of shape (n_epochs,), default=None
        Validation loss, one value per epoch. None or an empty sequence means
        it was not recorded and it is not drawn.

    val_score : array-like of shape (n_epochs,), default=None
        Validation score (higher is better), one value per epoch. None or an
        empty sequence means it was not recorded and it is not drawn.

    name : str, default=None
        Name of the model, used as the title of the axes. None leaves the title
        unset.

    score_name : str, default=None
        Label of the validation score (right y axis and legend). None means
        ``"Validation score"``.

    Attributes
    ----------
    ax_ : matplotlib.axes.Axes
        Axes that hold the loss curves.

    score_ax_ : matplotlib.axes.Axes or None
        Second axes (sharing x with ``ax_``) that hold the validation score,
        or None when no score was recorded.

    figure_ : matplotlib.figure.Figure
        Figure that holds the axes.

    lines_ : dict of str to matplotlib.lines.Line2D
        The drawn lines, keyed by ``"loss"``, ``"val_loss"`` and
        ``"val_score"``; a curve that was not recorded has no key.

    See Also
    --------
    LossCurveDisplay.from_estimator : Plot the curves of a fitted estimator.
    LossCurveDisplay.from_network : Plot the curves of a fitted Network.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from sknet.plotting import LossCurveDisplay
    >>> display = LossCurveDisplay(loss=[0.9, 0.5, 0.3], val_loss=[1.0, 0.7, 0.6])
    >>> display = display.plot()
    >>> sorted(display.lines_)
    ['loss', 'val_loss']
    >>> display.lines_["val_loss"].get_xdata().tolist()
    [1.0, 2.0, 3.0]
    >>> plt.close("all")
    """

    def __init__(self, *, loss, val_loss=None, val_score=None, name=None, score_name=None):
        self.loss = loss
        self.val_loss = val_loss
        self.val_score = val_score
        self.name = name
        self.score_name = score_name

    def plot(
        self,
        ax=None,
        *,
        name=None,
        loss_kw=None,
        val_loss_kw=None,
        val_score_kw=None,
        legend=True,
    ):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on. None makes a new figure with one axes.

        name : str, default=None
            Title of the axes. None uses the ``name`` given to the display.

        loss_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the training loss.

        val_loss_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the validation loss.

        val_score_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the validation score.

        legend : bool, default=True
            Whether to draw one legend for all curves.

        Returns
        -------
        display : LossCurveDisplay
            The display, with ``ax_``, ``score_ax_``, ``figure_`` and ``lines_`` set.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from sknet.plotting import LossCurveDisplay
        >>> fig, ax = plt.subplots()
        >>> display = LossCurveDisplay(
        ...     loss=[0.9, 0.5, 0.3], val_score=[0.6, 0.8, 0.85],
        ...     score_name="Validation accuracy",
        ... ).plot(ax=ax, name="my model")
        >>> display.ax_ is ax, display.score_ax_.get_ylabel()
        (True, 'Validation accuracy')
        >>> plt.close(fig)
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")

        loss = _as_curve(self.loss, "loss", required=True)
        val_loss = _as_curve(self.val_loss, "val_loss", required=False)
        val_score = _as_curve(self.val_score, "val_score", required=False)

        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        score_name = "Validation score" if self.score_name is None else self.score_name

        lines = {}
        lines["loss"] = self._draw(ax, loss, {"label": "Training loss", "color": "C0"}, loss_kw)
        if val_loss is not None:
            lines["val_loss"] = self._draw(
                ax, val_loss, {"label": "Validation loss", "color": "C1"}, val_loss_kw
            )
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Loss")
        if name is not None:
            ax.set_title(name)

        score_ax = None
        if val_score is not None:
            score_ax = ax.twinx()
            lines["val_score"] = self._draw(
                score_ax,
                val_score,
                {"label": score_name, "color": "C2", "linestyle": "--"},
                val_score_kw,
            )
            score_ax.set_ylabel(score_name)

        if legend:
            # One legend for both axes, drawn on the top-most one so that the
            # second axes does not paint over it.
            handles = list(lines.values())
            top = ax if score_ax is None else score_ax
            top.legend(handles, [h.get_label() for h in handles], loc="best")

        self.ax_ = ax
        self.score_ax_ = score_ax
        self.figure_ = ax.figure
        self.lines_ = lines
        return self

    @staticmethod
    def _draw(ax, curve, defaults, user_kw):
        kwargs = {**defaults, **(user_kw or {})}
        epochs = np.arange(1, curve.size + 1, dtype=float)
        (line,) = ax.plot(epochs, curve, **kwargs)
        return line

    @classmethod
    def from_estimator(
        cls,
        estimator,
        ax=None,
        *,
        name=None,
        score_name=None,
        loss_kw=None,
        val_loss_kw=None,
        val_score_kw=None,
        legend=True,
    ):
        """Plot the curves recorded by a fitted estimator.

        Draws ``loss_curve_``, and ``validation_loss_curve_`` and
        ``validation_scores_`` when the estimator recorded them (that is, when
        it was fitted with ``early_stopping=True``).

        Parameters
        ----------
        estimator : LayeredClassifier, LayeredRegressor or Pipeline
            A fitted estimator with a ``loss_curve_`` attribute. For a
            :class:`~sklearn.pipeline.Pipeline`, its last step is used.

        ax : matplotlib.axes.Axes, default=None
            Axes to draw on. None makes a new figure with one axes.

        name : str, default=None
            Title of the axes. None uses the estimator's class name.

        score_name : str, default=None
            Label of the validation score. None means ``"Validation accuracy"``
            for a classifier, ``"Validation R²"`` for a regressor and
            ``"Validation score"`` otherwise.

        loss_kw, val_loss_kw, val_score_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for each curve.

        legend : bool, default=True
            Whether to draw one legend for all curves.

        Returns
        -------
        display : LossCurveDisplay
            The plotted display.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If the estimator recorded no per-epoch training loss.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import make_classification
        >>> from sknet import LayeredClassifier
        >>> from sknet.plotting import LossCurveDisplay
        >>> X, y = make_classification(n_samples=200, random_state=0)
        >>> clf = LayeredClassifier(
        ...     hidden_layer_sizes=(16,), early_stopping=True, max_iter=20,
        ...     random_state=0,
        ... ).fit(X, y)
        >>> display = LossCurveDisplay.from_estimator(clf)
        >>> sorted(display.lines_)
        ['loss', 'val_loss', 'val_score']
        >>> display.score_ax_.get_ylabel()
        'Validation accuracy'
        >>> plt.close("all")
        """
        caller = f"{cls.__name__}.from_estimator"
        _import_pyplot(caller)
        from sklearn.utils.validation import check_is_fitted

        if hasattr(estimator, "steps"):  # a Pipeline: its model is the last step
            estimator = estimator[-1]
        check_is_fitted(estimator)
        loss = getattr(estimator, "loss_curve_", None)
        if loss is None or len(loss) == 0:
            raise ValueError(
                f"{type(estimator).__name__} recorded no per-epoch training loss "
                "(no loss_curve_), so there is nothing to plot."
            )
        if score_name is None:
            score_name = _default_score_name(estimator)
        display = cls(
            loss=loss,
            val_loss=getattr(estimator, "validation_loss_curve_", None),
            val_score=getattr(estimator, "validation_scores_", None),
            name=type(estimator).__name__ if name is None else name,
            score_name=score_name,
        )
        return display.plot(
            ax,
            loss_kw=loss_kw,
            val_loss_kw=val_loss_kw,
            val_score_kw=val_score_kw,
            legend=legend,
        )

    @classmethod
    def from_network(
        cls,
        network,
        ax=None,
        *,
        name=None,
        loss_kw=None,
        val_loss_kw=None,
        legend=True,
    ):
        """Plot the curves recorded by a fitted :class:`~sknet.Network`.

        Draws ``history_["loss"]``, and ``history_["val_loss"]`` when the
        network was fitted with ``validation_fraction > 0``.

        Parameters
        ----------
        network : Network
            A fitted network, with a ``history_`` attribute.

        ax : matplotlib.axes.Axes, default=None
            Axes to draw on. None makes a new figure with one axes.

        name : str, default=None
            Title of the axes. None uses ``"Network"``.

        loss_kw, val_loss_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for each curve.

        legend : bool, default=True
            Whether to draw a legend.

        Returns
        -------
        display : LossCurveDisplay
            The plotted display.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the network has not been fitted.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from sknet import Network
        >>> from sknet.plotting import LossCurveDisplay
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(100, 3))
        >>> y = X @ [1.0, -2.0, 0.5]
        >>> net = Network(n_inputs=3, random_state=0)
        >>> net = net.add_layer(1, activation="identity")
        >>> net = net.fit(X, y.reshape(-1, 1), loss="squared_error", epochs=5,
        ...               validation_fraction=0.2)
        >>> display = LossCurveDisplay.from_network(net)
        >>> [len(line.get_ydata()) for line in display.lines_.values()]
        [5, 5]
        >>> plt.close("all")
        """
        caller = f"{cls.__name__}.from_network"
        _import_pyplot(caller)
        history = getattr(network, "history_", None)
        if history is None or len(history.get("loss", ())) == 0:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(network).__name__} has no training history; "
                "call fit before plotting its loss curve."
            )
        display = cls(
            loss=history["loss"],
            val_loss=history.get("val_loss"),
            name="Network" if name is None else name,
        )
        return display.plot(ax, loss_kw=loss_kw, val_loss_kw=val_loss_kw, legend=legend)
