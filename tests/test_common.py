"""scikit-learn's estimator checks, on the defaults and on per-layer configurations.

Every check must pass. The only expected failures are checks whose premise is
false for a configuration, each with its reason, and only for that
configuration.
"""

import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknet import LayeredClassifier, LayeredRegressor

REPEATED_ROWS = (
    "{what} makes a fit with integer weights differ from a fit on repeated rows: "
    "{why}, so the premise of the check is false for this configuration."
)
DROPOUT = REPEATED_ROWS.format(what="Dropout", why="each repeated row draws its own dropout masks")
HOLD_OUT = REPEATED_ROWS.format(
    what="The early-stopping hold-out",
    why="a random split of repeated rows differs from a split of weighted rows "
    "(copies of one row land on both sides)",
)


def _repeated_rows_premise_false(reason):
    return {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }


ESTIMATORS = [
    LayeredClassifier(random_state=0),
    LayeredRegressor(random_state=0),
    LayeredClassifier(hidden_layer_sizes=(16, 8), activation=("tanh", "relu"), random_state=0),
    LayeredRegressor(hidden_layer_sizes=(16, 8), activation=("tanh", "relu"), random_state=0),
    LayeredClassifier(hidden_layer_sizes=(16, 8), dropout=(0.2, 0.1), random_state=0),
    LayeredRegressor(dropout=0.1, random_state=0),
    LayeredRegressor(loss="absolute_error", random_state=0),
    LayeredRegressor(loss="huber", random_state=0),
    LayeredRegressor(loss="poisson", random_state=0),
    LayeredClassifier(solver="lbfgs", hidden_layer_sizes=(20,), random_state=0),
    LayeredRegressor(solver="lbfgs", hidden_layer_sizes=(20,), random_state=0),
    LayeredClassifier(solver="sgd", random_state=0),
    LayeredRegressor(solver="sgd", random_state=0),
    LayeredClassifier(early_stopping=True, validation_fraction=0.2, random_state=0),
    LayeredRegressor(early_stopping=True, validation_fraction=0.2, random_state=0),
    LayeredClassifier(class_weight="balanced", random_state=0),
    # sknet-only options: "from_dtype" finds no category in an array (MLP's
    # path), and a standardised target must still pass every check.
    LayeredClassifier(categorical_features="from_dtype", random_state=0),
    LayeredRegressor(categorical_features="from_dtype", random_state=0),
    LayeredRegressor(target_scaling="standard", random_state=0),
    LayeredRegressor(
        target_scaling="standard", solver="lbfgs", hidden_layer_sizes=(20,), random_state=0
    ),
    # The layers of issue 18 behind the estimators' options.
    LayeredClassifier(numeric_embedding="periodic", max_iter=50, random_state=0),
    LayeredRegressor(numeric_embedding="periodic", max_iter=50, random_state=0),
    LayeredClassifier(numeric_embedding="piecewise_linear", max_iter=50, random_state=0),
    LayeredRegressor(numeric_embedding="piecewise_linear", max_iter=50, random_state=0),
    LayeredClassifier(batch_norm=True, max_iter=50, random_state=0),
    LayeredRegressor(batch_norm=True, max_iter=50, random_state=0),
    # The optimizer options, all on: AdamW, a warm-up then cosine schedule,
    # clipping and a moving average of the weights.
    LayeredClassifier(
        weight_decay=0.01,
        lr_schedule="warmup_cosine",
        clip_grad_norm=1.0,
        averaging="ema",
        random_state=0,
    ),
]


def expected_failed_checks(estimator):
    if estimator.early_stopping:
        return _repeated_rows_premise_false(HOLD_OUT)
    if estimator.dropout:
        return _repeated_rows_premise_false(DROPOUT)
    if getattr(estimator, "loss", None) == "poisson":
        return {
            "check_regressor_multioutput": (
                "The check's premise, that a regressor fits negative targets, is false "
                "for the Poisson loss, defined only for y >= 0: the check feeds "
                "negative targets, ignoring the positive_only tag, and they are rejected."
            )
        }
    return {}


# The checks whose assertions are about what training reaches: a score, every
# class predicted, class weights that change the model, the same model from
# integer weights as from repeated rows. They run each configuration exactly as
# listed above.
WHAT_TRAINING_REACHES = {
    "check_classifiers_train",
    "check_regressors_train",
    "check_classifiers_classes",
    "check_class_weight_classifiers",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
}
# Every other check tests the interface: which inputs are accepted or refused
# and with which error, dtypes, sparse containers, pickling, cloning, the
# parameters left untouched, the same predictions from the same fit, and, for
# the array-API checks (which scikit-learn runs without check_values), the
# namespace, device, dtype and shape of every fitted attribute and output. None
# of these asserts anything about how far training goes: they need the fit to
# run, and four epochs run every part of it more than once (the batches, the
# optimizer's state after its first steps, each epoch's schedule update,
# validation score and best-weights copy, the convergence warning at
# max_iter), as the 50 epochs used before did. How training ends is tested on
# its own: the stopping rule in test_estimators.py, the schedules in
# test_schedules.py, divergence in test_hardening.py and test_network.py; and
# the values on each array namespace against numpy's in test_array_api.py.
INTERFACE_MAX_ITER = 4


def _check_name(check):
    return getattr(check, "func", check).__name__


def _cached_ids(ids):
    """scikit-learn's test ids, with each estimator's (its repr) made once per object.

    The ids are made at collection, in every xdist worker: one repr per check
    (about 0.3 ms each, some 2300 of them) for 27 distinct estimators.
    """
    made = {}

    def cached(value):
        if not isinstance(value, BaseEstimator):
            return ids(value)
        if id(value) not in made:
            made[id(value)] = (value, ids(value))  # the object kept alive: its id stays its own
        return made[id(value)][1]

    return cached


_CHECKS = parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)


@pytest.mark.parametrize(*_CHECKS.args, ids=_cached_ids(_CHECKS.kwargs["ids"]))
def test_sklearn_compatible(estimator, check):
    if _check_name(check) not in WHAT_TRAINING_REACHES and estimator.max_iter > INTERFACE_MAX_ITER:
        # A clone: the estimator object is shared by all checks of its configuration.
        estimator = clone(estimator).set_params(max_iter=INTERFACE_MAX_ITER)
    if _check_name(check) not in expected_failed_checks(estimator):
        check(estimator)
        return
    # A check whose premise is false here (marked xfail, with the reason, by
    # parametrize_with_checks): it runs the same, and its failure is raised
    # again from this frame alone. pytest renders the traceback of an xfail
    # too, parsing scikit-learn's estimator_checks.py (some 5000 lines) again
    # for each of its frames: about 0.1 s a test, for a traceback no one reads.
    try:
        check(estimator)
    except Exception as failure:
        raise AssertionError(f"{type(failure).__name__}: {failure}") from None
