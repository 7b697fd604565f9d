"""Held-out scores match scikit-learn's MLP with identical hyperparameters.

Both models see the same split, the same standardisation and the same
hyperparameters; only the random draws differ, so the scores are compared as
means over three seeds.
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from sknet import LayeredClassifier, LayeredRegressor

CASES = {
    "digits": (load_digits, LayeredClassifier, MLPClassifier, {}, 0.01),
    "iris": (load_iris, LayeredClassifier, MLPClassifier, {"max_iter": 2000}, 0.01),
    "breast_cancer": (load_breast_cancer, LayeredClassifier, MLPClassifier, {}, 0.01),
    "diabetes": (load_diabetes, LayeredRegressor, MLPRegressor, {"max_iter": 2000}, 0.02),
}


def _held_out_score(model, X, y, seed, classify):
    stratify = y if classify else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=stratify
    )
    scaler = StandardScaler().fit(X_train)
    model.fit(scaler.transform(X_train), y_train)
    return model.score(scaler.transform(X_test), y_test)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", CASES)
def test_score_matches_mlp(name):
    load, ours, theirs, params, tolerance = CASES[name]
    X, y = load(return_X_y=True)
    classify = ours is LayeredClassifier
    seeds = range(3)
    sknet_scores = [
        _held_out_score(ours(random_state=s, **params), X, y, s, classify) for s in seeds
    ]
    mlp_scores = [
        _held_out_score(theirs(random_state=s, **params), X, y, s, classify) for s in seeds
    ]
    assert abs(np.mean(sknet_scores) - np.mean(mlp_scores)) <= tolerance, (
        sknet_scores,
        mlp_scores,
    )
