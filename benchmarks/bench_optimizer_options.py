"""What each optimizer option of issue 18 does, on two small real tables.

Digits (classification, accuracy) and the diabetes table (regression, R²),
5-fold CV with the same folds for every configuration, a (128, 64) network
trained for a fixed number of epochs (no early stopping: the options act on
the whole run) and, separately, with early stopping. Prints one line per
option: mean score ± std and the mean fit time.

    python benchmarks/bench_optimizer_options.py [--quick]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# The checkout this script is in, not whichever sknet is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sknet import LayeredClassifier, LayeredRegressor  # noqa: E402

OPTIONS = {
    "default (MLP)": {},
    "weight_decay=0.01 (AdamW)": {"weight_decay": 0.01},
    "weight_decay=0.1 (AdamW)": {"weight_decay": 0.1},
    "lr_schedule='cosine'": {"lr_schedule": "cosine"},
    "lr_schedule='warmup_cosine'": {"lr_schedule": "warmup_cosine"},
    "lr_schedule='step'": {"lr_schedule": "step"},
    "lr_schedule='plateau'": {"lr_schedule": "plateau"},
    "clip_grad_norm=1.0": {"clip_grad_norm": 1.0},
    "averaging='ema'": {"averaging": "ema"},
    "all four": {
        "weight_decay": 0.01,
        "lr_schedule": "warmup_cosine",
        "clip_grad_norm": 1.0,
        "averaging": "ema",
    },
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 folds, fewer epochs")
    args = parser.parse_args()
    folds, epochs = (3, 60) if args.quick else (5, 150)
    X, y = load_digits(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    yr = (yr - yr.mean()) / yr.std()  # the target's scale is not what is measured
    tasks = [
        (
            "digits",
            LayeredClassifier,
            X,
            y,
            StratifiedKFold(folds, shuffle=True, random_state=0),
            1e-3,
        ),
        ("diabetes", LayeredRegressor, Xr, yr, KFold(folds, shuffle=True, random_state=0), 1e-3),
    ]
    for early in (False, True):
        print(f"\n## early_stopping={early}, max_iter={epochs}\n")
        print("| option | digits accuracy | fit s | diabetes R² | fit s |")
        print("|---|---|---|---|---|")
        for label, options in OPTIONS.items():
            cells = []
            for _, Estimator, Xt, yt, cv, lr in tasks:
                model = make_pipeline(
                    StandardScaler(),
                    Estimator(
                        hidden_layer_sizes=(128, 64),
                        max_iter=epochs,
                        learning_rate_init=lr,
                        early_stopping=early,
                        n_iter_no_change=10 if early else epochs,
                        random_state=0,
                        **options,
                    ),
                )
                start = time.perf_counter()
                result = cross_validate(model, Xt, yt, cv=cv)
                del start
                scores = result["test_score"]
                cells.append(f"{scores.mean():.4f} ± {scores.std():.4f}")
                cells.append(f"{np.mean(result['fit_time']):.2f}")
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main()
