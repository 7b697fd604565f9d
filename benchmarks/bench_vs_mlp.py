"""Benchmark sknet's estimators against scikit-learn's MLP and PyTorch.

Run from the repository root::

    python benchmarks/bench_vs_mlp.py --quick              # under a minute
    python benchmarks/bench_vs_mlp.py --markdown benchmarks/RESULTS.md

For each case (digits, wide classification, wide regression) and dtype (float32,
float64) it measures, for ``sknet.LayeredClassifier``/``LayeredRegressor``,
``MLPClassifier``/``MLPRegressor`` and an equivalent PyTorch network:

* the steady epoch time: the median, over the epochs after the first of several
  runs that alternate sknet, MLP, torch, sknet, MLP, torch, ... in this process;
* the test score (accuracy or R^2) after those epochs (median over the runs);
* the peak memory added during ``fit`` (tracemalloc, each fit measured alone);
* the floor: the time of one training step's matrix products alone, in numpy, at
  the case's shapes and dtype, times the steps in an epoch.

It also times ``predict_proba`` on 100,000 rows (wide classification) and the
whole ``fit`` of digits, and prints PASS/FAIL against the targets of issue 4.
Only the standard library, numpy and scikit-learn are required; PyTorch and
threadpoolctl are used when importable, sknet's entries read "n/a" until the
package imports.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

LIBS = ("sknet", "MLP", "torch")
DTYPES = ("float32", "float64")
CASES = ("digits", "wide_clf", "wide_reg")

# Targets of issue 4.
EPOCH_RATIO_MAX = 0.57
SCORE_SLACK = 0.005
FLOOR_FACTOR_MAX = 1.35
MEMORY_FACTOR_MAX = 1.10
PREDICT_SPEEDUP_MIN = 1.5

METHOD_TEXT = {
    "partial_fit": (
        "steady epoch = median of the per-epoch times of epochs 2..E over all runs; "
        "sknet and MLP: one timed partial_fit call per epoch (MLP's partial_fit runs "
        "exactly one epoch and keeps the Adam state); torch: one timed epoch loop"
    ),
    "difference": (
        "steady epoch = median over runs of (T(fit, E epochs) - T(fit, 1 epoch)) / "
        "(E - 1), the same for all three libraries"
    ),
}


# --------------------------------------------------------------------------------------
# Optional imports
# --------------------------------------------------------------------------------------


def import_sknet():
    """Return the sknet module if it imports with both estimators, else None."""
    try:
        import sknet
    except ImportError:
        root = str(Path(__file__).resolve().parents[1])
        if root in sys.path:
            return None
        sys.path.insert(0, root)
        try:
            import sknet
        except Exception:
            return None
    except Exception:
        return None
    try:
        sknet.LayeredClassifier  # noqa: B018
        sknet.LayeredRegressor  # noqa: B018
    except AttributeError:
        return None
    return sknet


def import_torch():
    try:
        import torch
    except Exception:
        return None
    return torch


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    kind: str  # "clf" or "reg"
    hidden: tuple
    batch_size: int
    learning_rate: float
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray | None = None
    description: str = ""

    @property
    def n_outputs(self):
        if self.kind == "reg":
            return 1
        return len(self.classes) if len(self.classes) > 2 else 1

    @property
    def layer_units(self):
        return [self.X_train.shape[1], *self.hidden, self.n_outputs]

    def astype(self, dtype):
        """Return a copy of the case whose X (and regression y) are in ``dtype``."""

        def conv(a):
            return np.ascontiguousarray(a, dtype=dtype)

        return Case(
            name=self.name,
            kind=self.kind,
            hidden=self.hidden,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            X_train=conv(self.X_train),
            y_train=conv(self.y_train) if self.kind == "reg" else self.y_train,
            X_test=conv(self.X_test),
            y_test=conv(self.y_test) if self.kind == "reg" else self.y_test,
            classes=self.classes,
            description=self.description,
        )


def _standardise(X_train, X_test):
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def make_case(name, n_samples=100_000):
    """Build one benchmark case in float64 (see ``Case.astype`` for float32)."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        X_tr, X_te = _standardise(X_tr, X_te)
        return Case(
            name, "clf", (256, 128), 200, 1e-3, X_tr, y_tr, X_te, y_te,
            classes=np.unique(y),
            description="load_digits, standardised, 25% held out; "
            "64 -> (256, 128) -> 10, relu, adam, batch 200, lr 1e-3",
        )  # fmt: skip
    if name == "wide_clf":
        X, y = make_classification(
            n_samples=n_samples,
            n_features=100,
            n_informative=50,
            n_classes=5,
            random_state=0,
        )
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=0.75, random_state=0)
        X_tr, X_te = _standardise(X_tr, X_te)
        return Case(
            name, "clf", (256, 256), 256, 1e-3, X_tr, y_tr, X_te, y_te,
            classes=np.unique(y),
            description=f"make_classification({n_samples:_} x 100, 50 informative, "
            "5 classes), standardised, 75% train; 100 -> (256, 256) -> 5, relu, "
            "adam, batch 256, lr 1e-3",
        )  # fmt: skip
    if name == "wide_reg":
        X, y = make_regression(n_samples=n_samples, n_features=100, noise=1.0, random_state=0)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=0.75, random_state=0)
        X_tr, X_te = _standardise(X_tr, X_te)
        mean, std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mean) / std, (y_te - mean) / std
        return Case(
            name, "reg", (256, 256), 256, 1e-3, X_tr, y_tr, X_te, y_te,
            description=f"make_regression({n_samples:_} x 100, noise 1), X and y "
            "standardised, 75% train; 100 -> (256, 256) -> 1, relu, adam, "
            "batch 256, lr 1e-3",
        )  # fmt: skip
    raise ValueError(f"unknown case {name!r}; choose from {', '.join(CASES)}")


# --------------------------------------------------------------------------------------
# Models: the three libraries behind one small interface
# --------------------------------------------------------------------------------------


def estimator_params(case, max_iter, seed):
    return dict(
        hidden_layer_sizes=case.hidden,
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size=case.batch_size,
        learning_rate_init=case.learning_rate,
        max_iter=max_iter,
        tol=0.0,
        n_iter_no_change=np.inf,
        shuffle=True,
        random_state=seed,
    )


class TorchNet:
    """The same network as the MLP, in PyTorch, with an estimator-like interface.

    Linear layers with relu, Glorot-uniform weights and biases (MLP's bound
    ``sqrt(6 / (fan_in + fan_out))``), Adam with MLP's defaults, MLP's L2 penalty
    ``alpha / (2 * batch) * sum ||W||^2`` on weights only, MLP's losses (softmax
    cross-entropy, or half the mean squared error), rows reshuffled every epoch.
    """

    def __init__(self, torch, kind, hidden, batch_size, learning_rate_init,
                 max_iter=1, alpha=1e-4, random_state=0, **_ignored):  # fmt: skip
        self.torch = torch
        self.kind = kind
        self.hidden = hidden
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.alpha = alpha
        self.random_state = random_state
        self.model = None
        self._data = None

    def _build(self, n_features, n_outputs, dtype):
        torch = self.torch
        tdtype = getattr(torch, np.dtype(dtype).name)
        self.generator = torch.Generator().manual_seed(int(self.random_state))
        units = [n_features, *self.hidden, n_outputs]
        layers = []
        for fan_in, fan_out in zip(units[:-1], units[1:], strict=True):
            lin = torch.nn.Linear(fan_in, fan_out, dtype=tdtype)
            bound = float(np.sqrt(6.0 / (fan_in + fan_out)))
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound, generator=self.generator)
                lin.bias.uniform_(-bound, bound, generator=self.generator)
            layers += [lin, torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1])
        weights = [m.weight for m in self.model if hasattr(m, "weight")]
        biases = [m.bias for m in self.model if hasattr(m, "bias")]
        self.optimizer = torch.optim.Adam(
            [
                {"params": weights, "weight_decay": self.alpha / self.batch_size},
                {"params": biases, "weight_decay": 0.0},
            ],
            lr=self.learning_rate_init,
            betas=(0.9, 0.999),
            eps=1e-8,
        )
        if self.kind == "clf":
            self.loss_fn = torch.nn.CrossEntropyLoss()
        else:
            mse = torch.nn.MSELoss()
            self.loss_fn = lambda out, target: 0.5 * mse(out, target)

    def _tensors(self, X, y):
        if self._data is not None and self._data[0] is X and self._data[1] is y:
            return self._data[2], self._data[3]
        torch = self.torch
        Xt = torch.from_numpy(X)
        if self.kind == "clf":
            yt = torch.from_numpy(np.searchsorted(self.classes_, y).astype(np.int64))
        else:
            yt = torch.from_numpy(np.asarray(y, dtype=X.dtype).reshape(-1, 1))
        self._data = (X, y, Xt, yt)
        return Xt, yt

    def _epoch(self, Xt, yt):
        torch = self.torch
        n = Xt.shape[0]
        batch = self.batch_size
        perm = torch.randperm(n, generator=self.generator)
        weight_group = self.optimizer.param_groups[0]
        self.model.train()
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            xb, yb = Xt[idx], yt[idx]
            weight_group["weight_decay"] = self.alpha / xb.shape[0]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()

    def partial_fit(self, X, y, classes=None):
        if self.model is None:
            if self.kind == "clf":
                self.classes_ = np.asarray(classes if classes is not None else y)
                self.classes_ = np.unique(self.classes_)
                n_out = len(self.classes_)
            else:
                n_out = 1
            self._build(X.shape[1], n_out, X.dtype)
        self._epoch(*self._tensors(X, y))
        return self

    def fit(self, X, y):
        self.model = None
        self._data = None
        classes = np.unique(y) if self.kind == "clf" else None
        for _ in range(self.max_iter):
            self.partial_fit(X, y, classes=classes)
        return self

    def _forward(self, X):
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(X)))

    def predict_proba(self, X):
        return self.torch.softmax(self._forward(X), dim=1).numpy()

    def predict(self, X):
        out = self._forward(X).numpy()
        if self.kind == "clf":
            return self.classes_[out.argmax(axis=1)]
        return out.ravel()

    def score(self, X, y):
        if self.kind == "clf":
            return accuracy_score(y, self.predict(X))
        return r2_score(y, self.predict(X))


class Libraries:
    """Makes each library's model for a case; ``available`` lists the usable ones."""

    def __init__(self, use_torch=True, threads=2):
        self.sknet = import_sknet()
        self.use_torch = use_torch
        self.torch = import_torch() if use_torch else None
        if self.torch is not None:
            self.torch.set_num_threads(threads)
        self.available = [
            lib
            for lib, ok in zip(
                LIBS, (self.sknet is not None, True, self.torch is not None),
                strict=True,
            )
            if ok
        ]  # fmt: skip

    def make(self, lib, case, max_iter, seed):
        params = estimator_params(case, max_iter, seed)
        if lib == "MLP":
            cls = MLPClassifier if case.kind == "clf" else MLPRegressor
            return cls(**params)
        if lib == "sknet":
            sk = self.sknet
            cls = sk.LayeredClassifier if case.kind == "clf" else sk.LayeredRegressor
            return cls(**params)
        if lib == "torch":
            return TorchNet(
                self.torch, case.kind, case.hidden, case.batch_size,
                case.learning_rate, max_iter=max_iter, random_state=seed,
            )  # fmt: skip
        raise ValueError(lib)

    def versions(self):
        out = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "torch": self.torch.__version__
            if self.torch
            else ("not installed" if self.use_torch else "not used"),
            "sknet": getattr(self.sknet, "__version__", "?") if self.sknet else "not importable",
        }
        return out


def fit_model(model, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(case.X_train, case.y_train)
    return model


def partial_fit_epoch(model, case, first):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.kind == "clf" and first:
            model.partial_fit(case.X_train, case.y_train, classes=case.classes)
        else:
            model.partial_fit(case.X_train, case.y_train)


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


def settle(pause):
    """Let the previous library's idle threads stop spinning before the next one.

    OpenBLAS and OpenMP worker threads busy-wait for a while after a call; on a
    2-core machine they slow down whatever runs next (measured: torch's
    predict_proba twice as slow right after numpy's). A pause of 0.2 s removes it.
    """
    gc.collect()
    if pause:
        time.sleep(pause)


def time_run(libs, lib, case, epochs, seed, method, pause=0.0):
    """One run of ``epochs`` epochs; returns (steady epoch samples, test score)."""
    settle(pause)
    if method == "partial_fit":
        model = libs.make(lib, case, epochs, seed)
        times = []
        for epoch in range(epochs):
            t0 = time.perf_counter()
            partial_fit_epoch(model, case, first=epoch == 0)
            times.append(time.perf_counter() - t0)
        return times[1:], model.score(case.X_test, case.y_test)
    # difference method
    t0 = time.perf_counter()
    fit_model(libs.make(lib, case, 1, seed), case)
    t_one = time.perf_counter() - t0
    settle(pause)
    model = libs.make(lib, case, epochs, seed)
    t0 = time.perf_counter()
    fit_model(model, case)
    t_all = time.perf_counter() - t0
    return [(t_all - t_one) / (epochs - 1)], model.score(case.X_test, case.y_test)


def peak_fit_memory(libs, lib, case, epochs, seed=0):
    """Peak bytes added during one ``fit`` (tracemalloc) and the fitted model."""
    model = libs.make(lib, case, epochs, seed)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fit_model(model, case)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, model


def _matmul_step(buffers):
    """The eight matrix products of one training step of a 2-hidden-layer net."""
    X, H1, H2, D1, D2, D3, W1, W2, W3, G1, G2, G3, O1, O2, O3, B2, B1 = buffers
    np.matmul(X, W1, out=O1)  # forward
    np.matmul(H1, W2, out=O2)
    np.matmul(H2, W3, out=O3)
    np.matmul(X.T, D1, out=G1)  # weight gradients
    np.matmul(H1.T, D2, out=G2)
    np.matmul(H2.T, D3, out=G3)
    np.matmul(D3, W3.T, out=B2)  # deltas back through layers 3 and 2
    np.matmul(D2, W2.T, out=B1)


def _matmul_buffers(units, rows, dtype, rng):
    d0, h1, h2, k = units

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def e(*shape):
        return np.empty(shape, dtype=dtype)

    return (
        r(rows, d0), r(rows, h1), r(rows, h2), r(rows, h1), r(rows, h2), r(rows, k),
        r(d0, h1), r(h1, h2), r(h2, k),
        e(d0, h1), e(h1, h2), e(h2, k),
        e(rows, h1), e(rows, h2), e(rows, k), e(rows, h2), e(rows, h1),
    )  # fmt: skip


class Floor:
    """The matrix products of one epoch, timed in numpy at the case's shapes."""

    def __init__(self, case, dtype, block=40):
        units = case.layer_units
        if len(units) != 4:
            raise ValueError("the floor is written for two hidden layers")
        n = case.X_train.shape[0]
        self.batch = min(case.batch_size, n)
        self.n_full, self.rest = divmod(n, self.batch)
        rng = np.random.default_rng(0)
        self.full = _matmul_buffers(units, self.batch, dtype, rng)
        self.part = _matmul_buffers(units, self.rest, dtype, rng) if self.rest else None
        self.block = block
        self.samples = []

    @property
    def steps(self):
        return self.n_full + (1 if self.rest else 0)

    def _per_step(self, buffers, reps, blocks=3):
        _matmul_step(buffers)  # warm
        times = []
        for _ in range(blocks):
            t0 = time.perf_counter()
            for _ in range(reps):
                _matmul_step(buffers)
            times.append((time.perf_counter() - t0) / reps)
        return statistics.median(times)

    def measure(self):
        """Time the steps (median of 3 blocks); append the implied epoch floor (s)."""
        per_step = self._per_step(self.full, self.block)
        per_rest = 0.0
        if self.part is not None:
            per_rest = self._per_step(self.part, max(1, self.block // 5))
        self.samples.append(self.n_full * per_step + per_rest)
        return self.samples[-1]

    @property
    def epoch(self):
        return statistics.median(self.samples) if self.samples else None


class CpuMonitor:
    """Share of the machine's CPU time used by other processes over an interval.

    Reads /proc/stat (all CPUs) and this process's own CPU time; on a shared
    machine a high share means the timings of that interval are unreliable.
    """

    def __init__(self):
        self.start()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        tick = os.sysconf("SC_CLK_TCK")
        t = os.times()
        return sum(fields) / tick, (sum(fields) - idle) / tick, t.user + t.system

    def start(self):
        self._t0 = self._read()

    def others(self):
        """Fraction (0..1) of all CPUs' time used by other processes since start."""
        t1 = self._read()
        if t1 is None or self._t0 is None:
            return None
        total = t1[0] - self._t0[0]
        if total <= 0:
            return None
        busy = (t1[1] - self._t0[1]) - (t1[2] - self._t0[2])
        return min(max(busy / total, 0.0), 1.0)


def wait_idle(timeout, threshold=0.10, window=2.0, log=print):
    """Wait (up to ``timeout`` s) until other processes use < ``threshold`` CPU."""
    deadline = time.monotonic() + timeout
    mon = CpuMonitor()
    while True:
        time.sleep(window)
        share = mon.others()
        if share is None or share < threshold:
            return share
        if time.monotonic() >= deadline:
            log(f"machine still busy ({share:.0%} used by others): starting anyway")
            return share
        log(f"waiting for an idle machine: others use {share:.0%} of the CPUs")
        mon.start()


def time_predict(models, X, repeats, pause):
    """Median ``predict_proba`` time of each model, calls alternating."""
    samples = {lib: [] for lib in models}
    for model in models.values():
        model.predict_proba(X[:1000])  # warm
    for _ in range(repeats):
        for lib, model in models.items():
            settle(pause)
            t0 = time.perf_counter()
            model.predict_proba(X)
            samples[lib].append(time.perf_counter() - t0)
    return {lib: statistics.median(s) for lib, s in samples.items()}


# --------------------------------------------------------------------------------------
# Results and tables
# --------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: str
    dtype: str
    kind: str
    epoch: dict = field(default_factory=dict)  # lib -> seconds
    score: dict = field(default_factory=dict)  # lib -> median test score
    memory: dict = field(default_factory=dict)  # lib -> bytes
    floor: float | None = None
    steps: int = 0
    others_cpu: float | None = None  # share of CPU used by other processes
    errors: dict = field(default_factory=dict)  # lib -> message


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(x, spec=".3f", suffix=""):
    if x is None:
        return "n/a"
    return f"{x:{spec}}{suffix}"


def verdict(ok):
    if ok is None:
        return "n/a"
    return "PASS" if ok else "FAIL"


@dataclass
class Table:
    title: str
    headers: list
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def _numeric(self):
        """Per column: True when every cell is a number (or n/a): right-aligned."""

        def is_num(cell):
            c = str(cell).strip().rstrip("x%")
            if c == "n/a":
                return True
            try:
                float(c)
            except ValueError:
                return False
            return True

        return [
            all(is_num(row[i]) for row in self.rows) if self.rows else False
            for i in range(len(self.headers))
        ]

    def text(self):
        cells = [self.headers, *self.rows]
        widths = [max(len(str(r[i])) for r in cells) for i in range(len(self.headers))]
        numeric = self._numeric()
        lines = [self.title, "=" * len(self.title)]
        for k, row in enumerate(cells):
            lines.append(
                "  ".join(
                    str(c).rjust(w) if num else str(c).ljust(w)
                    for c, w, num in zip(row, widths, numeric, strict=True)
                ).rstrip()
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def markdown(self):
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---:" if n else "---" for n in self._numeric()) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(str(c) for c in row) + " |")
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def build_tables(results, predict, digits_fit, cfg):
    tables = []
    epochs_t = Table(
        "Steady epoch time (ms)",
        ["case", "dtype", "steps", "sknet", "MLP", "torch", "sknet/MLP", "torch/MLP",
         "floor", "floor/sknet", "floor/MLP", "floor/torch", "busy"],
    )  # fmt: skip
    scores_t = Table(
        f"Test score after {cfg.epochs} epochs (median over runs)",
        ["case", "dtype", "metric", "sknet", "MLP", "torch", "sknet-MLP"],
    )
    memory_t = Table(
        f"Peak memory added during fit ({cfg.memory_epochs} epochs, MiB, tracemalloc)",
        ["case", "dtype", "sknet", "MLP", "sknet/MLP"],
        notes=["torch allocates outside Python's allocator: tracemalloc cannot see it"],
    )
    for r in results:
        ms = {lib: (v * 1e3 if v is not None else None) for lib, v in r.epoch.items()}
        floor_ms = r.floor * 1e3 if r.floor is not None else None
        epochs_t.rows.append([
            r.case, r.dtype, r.steps,
            fmt(ms.get("sknet"), ".1f"), fmt(ms.get("MLP"), ".1f"),
            fmt(ms.get("torch"), ".1f"),
            fmt(ratio(ms.get("sknet"), ms.get("MLP")), ".2f"),
            fmt(ratio(ms.get("torch"), ms.get("MLP")), ".2f"),
            fmt(floor_ms, ".1f"),
            fmt(ratio(floor_ms, ms.get("sknet")), ".2f"),
            fmt(ratio(floor_ms, ms.get("MLP")), ".2f"),
            fmt(ratio(floor_ms, ms.get("torch")), ".2f"),
            fmt(r.others_cpu, ".0%"),
        ])  # fmt: skip
        sk, mlp = r.score.get("sknet"), r.score.get("MLP")
        scores_t.rows.append([
            r.case, r.dtype, "accuracy" if r.kind == "clf" else "R^2",
            fmt(sk, ".4f"), fmt(mlp, ".4f"), fmt(r.score.get("torch"), ".4f"),
            fmt(sk - mlp if sk is not None and mlp is not None else None, "+.4f"),
        ])  # fmt: skip
        if r.memory:
            mib = {lib: v / 2**20 for lib, v in r.memory.items() if v is not None}
            memory_t.rows.append([
                r.case, r.dtype,
                fmt(mib.get("sknet"), ".1f"), fmt(mib.get("MLP"), ".1f"),
                fmt(ratio(mib.get("sknet"), mib.get("MLP")), ".2f"),
            ])  # fmt: skip
        for lib, msg in r.errors.items():
            epochs_t.notes.append(f"{r.case}/{r.dtype}: {lib} failed: {msg}")
    epochs_t.notes.append(METHOD_TEXT[cfg.method] + ".")
    epochs_t.notes.append(
        "busy = share of the machine's CPU time used by other processes while the "
        "row was measured; above ~10% its times are unreliable."
    )
    epochs_t.notes.append(
        "floor = one step's 8 matrix products (3 forward, 3 weight gradients, "
        "2 deltas) in numpy with out= buffers, times the steps per epoch; "
        "median of samples taken after every library's run."
    )
    tables += [epochs_t, scores_t]
    if memory_t.rows:
        tables.append(memory_t)
    if predict:
        pred_t = Table(
            f"predict_proba on {cfg.predict_rows:_} rows, wide_clf (ms, median)",
            ["dtype", "sknet", "MLP", "torch", "MLP/sknet", "MLP/torch"],
        )
        for dtype, t in predict.items():
            ms = {lib: v * 1e3 for lib, v in t.items()}
            pred_t.rows.append([
                dtype, fmt(ms.get("sknet"), ".1f"), fmt(ms.get("MLP"), ".1f"),
                fmt(ms.get("torch"), ".1f"),
                fmt(ratio(ms.get("MLP"), ms.get("sknet")), ".2f", "x"),
                fmt(ratio(ms.get("MLP"), ms.get("torch")), ".2f", "x"),
            ])  # fmt: skip
        tables.append(pred_t)
    if digits_fit:
        fit_t = Table(
            f"digits: whole fit, max_iter={cfg.digits_iter}, tol=0 (s, median over "
            f"{cfg.runs} alternating runs)",
            ["dtype", "sknet", "MLP", "torch", "sknet/MLP", "acc sknet", "acc MLP",
             "acc torch"],
        )  # fmt: skip
        for dtype, (t, s) in digits_fit.items():
            fit_t.rows.append([
                dtype, fmt(t.get("sknet")), fmt(t.get("MLP")), fmt(t.get("torch")),
                fmt(ratio(t.get("sknet"), t.get("MLP")), ".2f"),
                fmt(s.get("sknet"), ".4f"), fmt(s.get("MLP"), ".4f"),
                fmt(s.get("torch"), ".4f"),
            ])  # fmt: skip
        tables.append(fit_t)
    tables.append(targets_table(results, predict, digits_fit))
    return tables


def targets_table(results, predict, digits_fit):
    t = Table("Targets (issue 4)", ["#", "target", "case", "value", "limit", "result"])
    for r in results:
        if r.case not in ("wide_clf", "wide_reg"):
            continue
        rt = ratio(r.epoch.get("sknet"), r.epoch.get("MLP"))
        sk, mlp = r.score.get("sknet"), r.score.get("MLP")
        dscore = sk - mlp if sk is not None and mlp is not None else None
        ok = None if rt is None or dscore is None else (
            rt <= EPOCH_RATIO_MAX and dscore >= -SCORE_SLACK
        )  # fmt: skip
        t.rows.append([
            1, "epoch sknet/MLP; score - MLP's", f"{r.case}/{r.dtype}",
            f"{fmt(rt, '.2f')}; {fmt(dscore, '+.4f')}",
            f"<= {EPOCH_RATIO_MAX}; >= -{SCORE_SLACK}", verdict(ok),
        ])  # fmt: skip
    for r in results:
        if r.case != "wide_clf":
            continue
        rt = ratio(r.epoch.get("sknet"), r.floor)
        t.rows.append([
            2, "sknet epoch / floor", f"{r.case}/{r.dtype}", fmt(rt, ".2f"),
            f"<= {FLOOR_FACTOR_MAX}",
            verdict(None if rt is None else rt <= FLOOR_FACTOR_MAX),
        ])  # fmt: skip
    for r in results:
        if not r.memory:
            continue
        rt = ratio(r.memory.get("sknet"), r.memory.get("MLP"))
        t.rows.append([
            3, "fit peak memory sknet/MLP", f"{r.case}/{r.dtype}", fmt(rt, ".2f"),
            f"<= {MEMORY_FACTOR_MAX:.2f}",
            verdict(None if rt is None else rt <= MEMORY_FACTOR_MAX),
        ])  # fmt: skip
    for dtype, (times, _) in (digits_fit or {}).items():
        rt = ratio(times.get("sknet"), times.get("MLP"))
        t.rows.append([
            4, "digits whole fit sknet/MLP", f"digits/{dtype}", fmt(rt, ".2f"),
            "<= 1.00", verdict(None if rt is None else rt <= 1.0),
        ])  # fmt: skip
    for dtype, times in (predict or {}).items():
        sp = ratio(times.get("MLP"), times.get("sknet"))
        t.rows.append([
            5, "predict_proba speed-up MLP/sknet", f"wide_clf/{dtype}",
            fmt(sp, ".2f", "x"), f">= {PREDICT_SPEEDUP_MIN}x",
            verdict(None if sp is None else sp >= PREDICT_SPEEDUP_MIN),
        ])  # fmt: skip
    return t


# --------------------------------------------------------------------------------------
# Environment header
# --------------------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed"]
    out = []
    for info in threadpool_info():
        out.append(
            ", ".join(
                f"{k}={info[k]}"
                for k in ("internal_api", "version", "architecture", "threading_layer",
                          "num_threads", "prefix")
                if info.get(k) is not None
            )
        )  # fmt: skip
    return out


def source_state(module):
    """The commit a module's checkout is at, and whether its folder has changes."""
    if module is None:
        return "n/a"

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout.strip()  # fmt: skip

    try:
        path = Path(module.__file__).resolve().parent
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError, TypeError):
        return "not a git checkout"
    return commit + (f" + uncommitted changes in {path.name}/" if dirty else "")


def header_lines(libs, cfg, command):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    lines = [
        f"date: {now}",
        f"CPU: {cpu_model()}, {n_cpus()} cores (nproc)",
        "versions: " + ", ".join(f"{k} {v}" for k, v in libs.versions().items()),
        f"sknet source: git {source_state(libs.sknet)}",
        "BLAS (threadpoolctl):",
        *[f"  {b}" for b in blas_info()],
        "OPENBLAS_* environment: " + (", ".join(f"{k}={v}" for k, v in env.items()) or "none set"),
        f"threads: {cfg.threads} (torch.set_num_threads; BLAS through threadpoolctl)",
        f"command: {command}",
        f"protocol: {cfg.runs} alternating runs of {cfg.epochs} epochs per library "
        f"(order {', '.join(libs.available)}, repeated, {cfg.pause} s pause before "
        "each switch of library); " + METHOD_TEXT[cfg.method],
    ]
    return lines


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def run_case(libs, case, dtype, cfg, log):
    res = CaseResult(case.name, dtype, case.kind)
    monitor = CpuMonitor()
    floor = Floor(case, dtype)
    res.steps = floor.steps
    samples = {lib: [] for lib in libs.available}
    scores = {lib: [] for lib in libs.available}
    if cfg.method == "difference":  # first-use costs would fall into T(1) only
        for lib in libs.available:
            try:
                fit_model(libs.make(lib, case, 1, 0), case)
            except Exception as exc:  # noqa: BLE001
                res.errors[lib] = f"{type(exc).__name__}: {exc}"
    for run in range(cfg.runs):
        for lib in libs.available:
            if lib in res.errors:
                continue
            try:
                times, score = time_run(libs, lib, case, cfg.epochs, run, cfg.method, cfg.pause)
            except Exception as exc:  # noqa: BLE001 - report and go on
                res.errors[lib] = f"{type(exc).__name__}: {exc}"
                log(f"    {lib}: FAILED {res.errors[lib]}")
                continue
            samples[lib] += times
            scores[lib].append(score)
            log(f"    run {run} {lib:5s} epoch {statistics.median(times) * 1e3:8.1f} ms"
                f"  score {score:.4f}")  # fmt: skip
            # the floor is sampled after every library's run, so that it sees the
            # same moments of a noisy machine as the runs do
            settle(cfg.pause)
            floor.measure()
    for lib in libs.available:
        res.epoch[lib] = statistics.median(samples[lib]) if samples[lib] else None
        res.score[lib] = statistics.median(scores[lib]) if scores[lib] else None
    res.floor = floor.epoch
    res.others_cpu = monitor.others()
    log(f"    floor {res.floor * 1e3:8.1f} ms per epoch ({res.steps} steps); "
        f"other processes used {fmt(res.others_cpu, '.0%')} of the CPUs")  # fmt: skip
    return res


def measure_memory(libs, case, res, cfg, log):
    models = {}
    for lib in ("sknet", "MLP"):
        if lib not in libs.available or lib in res.errors:
            res.memory[lib] = None
            continue
        try:
            peak, model = peak_fit_memory(libs, lib, case, cfg.memory_epochs)
        except Exception as exc:  # noqa: BLE001
            res.errors[lib] = f"{type(exc).__name__}: {exc}"
            res.memory[lib] = None
            continue
        res.memory[lib] = peak
        models[lib] = model
        log(f"    memory {lib:5s} {peak / 2**20:8.1f} MiB")
    return models


def run_digits_fit(libs, case, cfg, log):
    times = {lib: [] for lib in libs.available}
    scores = {lib: [] for lib in libs.available}
    failed = set()
    for run in range(cfg.runs):
        for lib in libs.available:
            if lib in failed:
                continue
            settle(cfg.pause)
            model = libs.make(lib, case, cfg.digits_iter, run)
            try:
                t0 = time.perf_counter()
                fit_model(model, case)
                times[lib].append(time.perf_counter() - t0)
                scores[lib].append(model.score(case.X_test, case.y_test))
            except Exception as exc:  # noqa: BLE001
                failed.add(lib)
                log(f"    {lib}: FAILED {type(exc).__name__}: {exc}")
    med = {lib: statistics.median(v) if v else None for lib, v in times.items()}
    sc = {lib: statistics.median(v) if v else None for lib, v in scores.items()}
    log("    whole fit " + ", ".join(f"{k} {fmt(v)} s" for k, v in med.items()))
    return med, sc


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark sknet against scikit-learn's MLP and PyTorch.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="reduced run (fewer rows, epochs and runs), under a minute",
    )
    p.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}"
    )
    p.add_argument(
        "--dtypes", default=",".join(DTYPES), help="comma-separated subset of float32,float64"
    )
    p.add_argument("--runs", type=int, help="alternating runs per library (3)")
    p.add_argument("--epochs", type=int, help="epochs per run, first excluded (5)")
    p.add_argument("--n-samples", type=int, help="rows generated for the wide cases (100000)")
    p.add_argument("--memory-epochs", type=int, help="epochs of the traced fit (2)")
    p.add_argument("--digits-iter", type=int, help="max_iter of digits' fit (50)")
    p.add_argument("--predict-rows", type=int, help="rows for predict_proba (100000)")
    p.add_argument(
        "--method",
        choices=sorted(METHOD_TEXT),
        default="partial_fit",
        help="how steady epoch times are taken (partial_fit)",
    )
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--no-memory", action="store_true", help="skip tracemalloc fits")
    p.add_argument("--pause", type=float, help="seconds of sleep before switching library (0.25)")
    p.add_argument(
        "--predict-repeats", type=int, help="alternating predict_proba calls per library (5)"
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to go idle",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads of torch and of numpy's BLAS (threadpoolctl) (2)",
    )
    p.add_argument("--markdown", metavar="FILE", help="also write a markdown report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    cfg = p.parse_args(argv)  # fmt: skip
    defaults = dict(runs=3, epochs=5, n_samples=100_000, memory_epochs=2,
                    digits_iter=50, predict_rows=100_000, pause=0.25,
                    predict_repeats=5)  # fmt: skip
    quick = dict(runs=2, epochs=3, n_samples=8_000, memory_epochs=1,
                 digits_iter=10, predict_rows=20_000, pause=0.2,
                 predict_repeats=3)  # fmt: skip
    for key, value in (quick if cfg.quick else defaults).items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    cfg.cases = [c.strip() for c in cfg.cases.split(",") if c.strip()]
    cfg.dtypes = [d.strip() for d in cfg.dtypes.split(",") if d.strip()]
    for c in cfg.cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; choose from {', '.join(CASES)}")
    for d in cfg.dtypes:
        if d not in DTYPES:
            p.error(f"unknown dtype {d!r}; choose from {', '.join(DTYPES)}")
    if cfg.epochs < 2:
        p.error("--epochs must be at least 2 (the first epoch is excluded)")
    return cfg


def blas_limits(threads):
    """Context limiting the BLAS libraries to ``threads`` (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def main(argv=None):
    cfg = parse_args(argv)
    with blas_limits(cfg.threads):
        return _main(cfg, argv)


def _main(cfg, argv):
    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv)

    def log(msg):
        if not cfg.quiet:
            print(msg, flush=True)

    if cfg.wait_idle > 0:
        wait_idle(cfg.wait_idle, log=log)
    t_start = time.perf_counter()
    run_monitor = CpuMonitor()
    libs = Libraries(use_torch=not cfg.no_torch, threads=cfg.threads)
    header = header_lines(libs, cfg, command)
    print("\n".join(header), flush=True)
    if libs.sknet is None:
        print("sknet does not import (yet): its entries read n/a", flush=True)

    results, predict, digits_fit, descriptions = [], {}, {}, {}
    for name in cfg.cases:
        base = make_case(name, cfg.n_samples)
        descriptions[name] = base.description
        log(f"\n{name}: {base.description}")
        for dtype in cfg.dtypes:
            case = base.astype(dtype)
            log(f"  {dtype}")
            res = run_case(libs, case, dtype, cfg, log)
            results.append(res)
            models = {}
            if not cfg.no_memory:
                models = measure_memory(libs, case, res, cfg, log)
            if name == "wide_clf":
                if "torch" in libs.available and "torch" not in res.errors:
                    models["torch"] = fit_model(
                        libs.make("torch", case, cfg.memory_epochs, 0), case
                    )
                for lib in ("sknet", "MLP"):
                    if lib in libs.available and lib not in models:
                        if lib not in res.errors:
                            models[lib] = fit_model(
                                libs.make(lib, case, cfg.memory_epochs, 0), case
                            )
                order = [lib for lib in LIBS if lib in models]
                reps = np.resize(np.arange(len(case.X_train)), cfg.predict_rows)
                Xp = np.ascontiguousarray(case.X_train[reps])
                predict[dtype] = time_predict(
                    {lib: models[lib] for lib in order},
                    Xp,
                    cfg.predict_repeats,
                    cfg.pause,
                )
                parts = [f"{k} {v * 1e3:.1f} ms" for k, v in predict[dtype].items()]
                log("    predict_proba " + ", ".join(parts))
            if name == "digits":
                digits_fit[dtype] = run_digits_fit(libs, case, cfg, log)
            del models

    tables = build_tables(results, predict, digits_fit, cfg)
    elapsed = time.perf_counter() - t_start
    busy = run_monitor.others()
    finish = (
        f"total time: {elapsed:.0f} s; other processes used {fmt(busy, '.0%')} of "
        "the CPUs meanwhile"
    )
    print()
    for table in tables:
        print(table.text())
        print()
    print(finish)
    if cfg.markdown:
        text = ["# sknet vs scikit-learn MLP (and PyTorch)", ""]
        text += [f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}"
                 for line in header]  # fmt: skip
        text += [f"- {finish}", ""]
        text += ["Case definitions:", ""]
        for name, description in descriptions.items():
            text.append(f"- `{name}`: {description}")
        text.append("")
        for table in tables:
            text += [table.markdown(), ""]
        Path(cfg.markdown).write_text("\n".join(text))
        print(f"wrote {cfg.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
