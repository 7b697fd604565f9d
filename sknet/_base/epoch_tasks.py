"""The estimators' side of scikit-learn's callback contract (one task per epoch)."""


class _EpochTasks:
    """The estimators' side of scikit-learn's callback contract, for one fit.

    The fit is the root task (``fit`` or ``partial_fit``, made by
    ``_init_callback_context``); each epoch, or each L-BFGS iteration, is
    one of its subtasks. An epoch's task begins before the epoch and ends
    after the estimator has recorded it (its score under early stopping),
    so that a callback sees the model and the curves of that epoch. Every
    callback sees every epoch's end; if one of them returns True, training
    stops there, as when the estimator stops itself.

    Without callbacks, no subtask is made (as scikit-learn's own estimators
    do): nothing is called and nothing is kept per epoch.

    Parameters
    ----------
    estimator : LayeredClassifier or LayeredRegressor
        The estimator being fitted, whose root context is made already.
    X, y, sample_weight
        The data of the fit, passed to the hooks (``sample_weight`` as the
        ``metadata``).
    """

    def __init__(self, estimator, X, y, sample_weight):
        self.estimator = estimator
        self.root = estimator._callback_fit_ctx
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.data = {"X": X, "y": y, "metadata": metadata}
        self.active = bool(getattr(estimator, "_skl_callbacks", None))
        self.task = None  # the epoch's task under way
        self.stop_requested = False  # whether a callback asked to stop
        self.start = 0  # the epochs in the network's history before this fit

    def begin_epoch(self):
        if not self.active:
            return
        self.task = self.root.subcontext(task_name=self._name())
        self.task.call_on_fit_task_begin(
            estimator=self.estimator,
            **self.data,
            reconstruction_attributes=self._fitted,
        )

    def end_epoch(self, next_epoch):
        """End the epoch's task; begin the next if ``next_epoch``. Return True to stop."""
        if self.task is None:
            return False
        task, self.task = self.task, None
        stop = task.call_on_fit_task_end(
            estimator=self.estimator,
            **self.data,
            reconstruction_attributes=self._fitted,
        )
        self.stop_requested |= stop
        if next_epoch and not stop:
            self.begin_epoch()
        return stop

    def close(self):
        """End a task begun for an epoch that never ran (L-BFGS converged, a divergence)."""
        if self.task is not None:
            task, self.task = self.task, None
            task.call_on_fit_task_end(estimator=self.estimator)

    def _fitted(self):
        """The attributes of a copy of the estimator fitted as it is now.

        scikit-learn's callbacks receive such a copy (``fitted_estimator``):
        it predicts with a copy of the current weights and carries the curves
        so far, as if ``fit`` had stopped here.
        """
        estimator = self.estimator
        network = estimator._network_snapshot()
        history = network.history_
        attributes = {
            "network_": network,
            "loss_curve_": list(history["loss"]),
            "n_iter_": len(history["loss"]) - self.start,
        }
        if history["loss"]:
            attributes["loss_"] = history["loss"][-1]
        if estimator.validation_scores_ is not None:
            attributes["validation_scores_"] = list(estimator.validation_scores_)
            attributes["validation_loss_curve_"] = list(history["val_loss"])
        return attributes

    def _name(self):
        return "iteration" if self.estimator.solver == "lbfgs" else "epoch"
