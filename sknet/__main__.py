"""``python -m sknet``: sknet's estimators beside scikit-learn's MLP on bundled data.

Each data set is standardised and split (25% held out); both models get the
same hyperparameters and seed. The table shows the held-out score (accuracy,
or R² for diabetes) and the fit time.
"""

import time
import warnings

from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from . import LayeredClassifier, LayeredRegressor

CASES = [
    ("digits", load_digits, "accuracy", LayeredClassifier, MLPClassifier, {}),
    ("breast cancer", load_breast_cancer, "accuracy", LayeredClassifier, MLPClassifier, {}),
    ("diabetes", load_diabetes, "R²", LayeredRegressor, MLPRegressor, {"max_iter": 2000}),
]


def _rows(random_state=0):
    for name, load, metric, ours, theirs, params in CASES:
        X, y = load(return_X_y=True)
        stratify = y if metric == "accuracy" else None
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=random_state, stratify=stratify
        )
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for model in (ours, theirs):
            estimator = model(random_state=random_state, **params)
            start = time.perf_counter()
            estimator.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            yield name, model.__name__, metric, estimator.score(X_test, y_test), seconds


def main():
    """Print the comparison table."""
    header = f"{'data set':<14} {'model':<18} {'test score':>16} {'fit seconds':>12}"
    print(header)
    print("-" * len(header))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, model, metric, score, seconds in _rows():
            print(f"{name:<14} {model:<18} {metric:>9} {score:6.3f} {seconds:12.2f}")


if __name__ == "__main__":
    main()
