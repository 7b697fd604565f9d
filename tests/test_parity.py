"""Held-out scores match scikit-learn's MLP with identical hyperparameters.

Both models see the same split, the same standardisation and the same
hyperparameters; only the random draws differ, so the scores are compared as
means over three seeds.

Seed 0 is the configuration of ``python -m sknet``: those scores come from the
``demo_rows`` fixture, shared with ``tests/test_main.py``, instead of fitting
the same models twice.
"""

import inspect

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import sknet.__main__ as demo
from sknet import LayeredClassifier, LayeredRegressor

CASES = {
    "digits": (load_digits, LayeredClassifier, MLPClassifier, {}, 0.01),
    "iris": (load_iris, LayeredClassifier, MLPClassifier, {"max_iter": 2000}, 0.01),
    "breast_cancer": (load_breast_cancer, LayeredClassifier, MLPClassifier, {}, 0.01),
    "diabetes": (load_diabetes, LayeredRegressor, MLPRegressor, {"max_iter": 2000}, 0.02),
}

# The demo's name for each data set it shows.
DEMO_NAMES = {"digits": "digits", "breast_cancer": "breast cancer", "diabetes": "diabetes"}


def _held_out_score(model, X, y, seed, classify):
    stratify = y if classify else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=stratify
    )
    scaler = StandardScaler().fit(X_train)
    model.fit(scaler.transform(X_train), y_train)
    return model.score(scaler.transform(X_test), y_test)


def test_demo_fits_what_the_parity_test_fits_on_seed_0():
    # The seed-0 scores below are read from the demo's table: that holds only
    # while the demo fits the same models, with the same hyperparameters and seed.
    assert inspect.signature(demo._rows).parameters["random_state"].default == 0
    shown = {name: case for name, *case in demo.CASES}
    for name, demo_name in DEMO_NAMES.items():
        load, ours, theirs, params, _ = CASES[name]
        demo_load, _, demo_ours, demo_theirs, demo_params = shown[demo_name]
        assert (demo_load, demo_ours, demo_theirs, demo_params) == (load, ours, theirs, params)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.xdist_group("demo_rows")  # one worker computes the session's demo rows
@pytest.mark.parametrize("name", CASES)
def test_score_matches_mlp(name, request):
    load, ours, theirs, params, tolerance = CASES[name]
    X, y = load(return_X_y=True)
    classify = ours is LayeredClassifier
    if name in DEMO_NAMES:
        shown = {(row[0], row[1]): row[3] for row in request.getfixturevalue("demo_rows")}
    sknet_scores, mlp_scores = [], []
    for seed in range(3):
        if seed == 0 and name in DEMO_NAMES:
            sknet_scores.append(shown[DEMO_NAMES[name], ours.__name__])
            mlp_scores.append(shown[DEMO_NAMES[name], theirs.__name__])
            continue
        for model, scores in ((ours, sknet_scores), (theirs, mlp_scores)):
            estimator = model(random_state=seed, **params)
            scores.append(_held_out_score(estimator, X, y, seed, classify))
    assert abs(np.mean(sknet_scores) - np.mean(mlp_scores)) <= tolerance, (
        sknet_scores,
        mlp_scores,
    )
