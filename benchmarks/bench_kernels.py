"""Time the non-matmul kernels of a training step: numpy today, numpy restructured,
numba, numexpr; and a whole step of each against the matmul floor.

Run from the repository root (numba and numexpr are used when installed)::

    python benchmarks/bench_kernels.py                  # ~5-10 min on 2 cores
    python benchmarks/bench_kernels.py --quick --no-latency
    python benchmarks/bench_kernels.py --markdown /tmp/kernels.md

Shapes are the wide cases of ``bench_vs_mlp.py``: batch 256, layers
100 -> 256 -> 256 -> 5 (classification) and -> 1 (regression), Adam over the
92,933-parameter flat vector, 75,000 training rows to gather from. Every group
runs its variants in one process, interleaved (variant order rotated each
repeat), with 1 and with 2 threads (BLAS through threadpoolctl, numba and
numexpr set alike); a number is the median over repeats of the median call time
within a repeat. Variants:

- ``numpy``: sknet's own code today (its Activation, Loss and Adam objects, the
  engine's ``np.take`` and bias-gradient products);
- ``numpy'``: numpy restructured (bias folded into the matrix product through a
  ones column and ``[W; b]``, integer class codes instead of one-hot rows,
  ``np.take(mode="clip")``);
- ``numba``/``numba-par``: the source of sknet._numba_kernels' kernels compiled
  serially / with ``parallel=True`` (``-fm``: with ``fastmath=True``);
- ``sknet``: what sknet._numba_kernels runs for that activation (a numba kernel,
  in place when the output is the input, or numpy's formula where it is faster);
- ``numexpr``: the same expressions through ``numexpr.evaluate(out=...)``.

Each group records the load average and the CPU share other processes took while
it ran; a group during which others took more than ``--max-busy`` is run again
(up to ``--retries`` times) and the quietest run is kept. Latency (``--latency``,
on by default) runs fresh processes: import, compile with an empty cache, load
from the cache. Install sizes come from the installed files and, with
``--download-sizes``, from ``pip download``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_vs_mlp import CpuMonitor, _matmul_buffers, _matmul_step  # noqa: E402

from sknet.activations import ACTIVATIONS  # noqa: E402
from sknet.losses import LogLoss, SquaredError  # noqa: E402
from sknet.optimizers import Adam  # noqa: E402

try:
    import numba
    import numba_extra_kernels as BK  # the fused loss kernels, beside this script

    from sknet import _numba_kernels as K
except ImportError:  # pragma: no cover - the numba rows then read n/a
    numba = K = BK = None
try:
    import numexpr as ne
except ImportError:  # pragma: no cover
    ne = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

BATCH, N_TRAIN, N_FEATURES, HIDDEN = 256, 75_000, 100, (256, 256)
RTOL = {"float32": 1e-4, "float64": 1e-9}


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def threads(n):
    """BLAS, numba and numexpr limited to ``n`` threads."""
    if ne is not None:
        old_ne = ne.set_num_threads(n)
    if numba is not None:
        old_nb = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    ctx = threadpool_limits(n) if threadpool_limits else contextlib.nullcontext()
    with ctx:
        try:
            yield
        finally:
            if ne is not None:
                ne.set_num_threads(old_ne)
            if numba is not None:
                numba.set_num_threads(old_nb)


def time_variants(variants, repeats, inner):
    """Median over ``repeats`` of the median of ``inner`` timed calls, interleaved.

    ``variants`` maps a name to ``(call, reset)``; ``reset`` (untimed, may be
    None) runs before each call.
    """
    names = list(variants)
    for name in names:  # warm up (and compile)
        call, reset = variants[name]
        for _ in range(3):
            if reset:
                reset()
            call()
    blocks = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            call, reset = variants[name]
            times = []
            for _ in range(inner):
                if reset:
                    reset()
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
            blocks[name].append(statistics.median(times))
    return {name: statistics.median(v) for name, v in blocks.items()}


def measure(group, variants, cfg, log):
    """Time a group at each thread count; rerun while other processes are busy."""
    rows = []
    for n_threads in cfg.threads:
        best = None
        for _ in range(cfg.retries + 1):
            wait_quiet(cfg, log)
            load = os.getloadavg()[0]
            mon = CpuMonitor()
            with threads(n_threads):
                times = time_variants(variants, cfg.repeats, cfg.inner)
            busy = mon.others()
            if best is None or (busy or 0) < (best[1] or 0):
                best = (times, busy, load)
            if busy is not None and busy <= cfg.max_busy:
                break
            log(f"  {group} ({n_threads} thr): others used {busy:.0%}, again")
        times, busy, load = best
        rows.append({"group": group, "threads": n_threads, "times": times,
                     "busy": busy, "load": load})  # fmt: skip
        log(format_row(rows[-1]))
    return rows


def wait_quiet(cfg, log):
    """Wait (up to ``--wait`` s) for a half second in which others use < ``--max-busy``."""
    deadline = time.monotonic() + cfg.wait
    while time.monotonic() < deadline:
        mon = CpuMonitor()
        time.sleep(0.5)
        busy = mon.others()
        if busy is None or busy <= cfg.max_busy:
            return
    log(f"  machine still busy after {cfg.wait:.0f} s: measuring anyway")


def format_row(row):
    times = row["times"]
    base = times.get("numpy")
    cells = []
    for name, t in times.items():
        speed = f" x{base / t:.2f}" if base and name != "numpy" else ""
        cells.append(f"{name} {t * 1e6:.1f}us{speed}")
    busy = "n/a" if row["busy"] is None else f"{row['busy']:.0%}"
    return f"{row['group']:<34} {row['threads']}thr load {row['load']:.2f} busy {busy}: " + (
        ", ".join(cells)
    )


# --------------------------------------------------------------------------------------
# Kernel groups
# --------------------------------------------------------------------------------------


def numba_variants(kernel, make_call, flags=("serial", "par", "par-fm", "serial-fm")):
    """Compile ``kernel``'s source serially and in parallel; ``make_call(fn)`` -> call."""
    if numba is None:
        return {}
    options = {
        "serial": {},
        "serial-fm": {"fastmath": True},
        "par": {"parallel": True},
        "par-fm": {"parallel": True, "fastmath": True},
    }
    out = {}
    for flag in flags:
        fn = numba.njit(error_model="numpy", **options[flag])(kernel.py_func)
        out["numba" if flag == "serial" else f"numba-{flag}"] = fn
    return {name: make_call(fn) for name, fn in out.items()}


def check_close(group, dtype, results, reference, log):
    """Log the largest relative difference of each variant from numpy's result."""
    ref = np.asarray(reference)
    scale = max(float(np.abs(ref).max()), np.finfo(ref.dtype).tiny)
    worst = {}
    for name, value in results.items():
        diff = float(np.abs(np.asarray(value, dtype=np.float64) - ref).max()) / scale
        worst[name] = diff
        if diff > RTOL[dtype]:
            log(f"  ! {group} {dtype} {name}: differs from numpy by {diff:.1e} (scaled)")
    return worst


def group_adam(dtype, cfg, log):
    rng = np.random.default_rng(0)
    n = sum(a * b + b for a, b in zip((N_FEATURES, *HIDDEN), (*HIDDEN, 5), strict=True))
    params = rng.standard_normal(n).astype(dtype)
    p0 = params.copy()
    grad = (rng.standard_normal(n) * 0.01).astype(dtype)
    out = np.empty_like(params)
    opt = Adam(learning_rate=1e-3)
    opt.reset(n, params.dtype)
    b1, b2 = opt.beta_1, opt.beta_2
    t = np.dtype(dtype).type
    first, second = np.zeros(n, dtype), np.zeros(n, dtype)
    # The step size of step number s (the numpy variant counts in opt.t).
    state = {"step": None}

    def set_step(s):
        corr = math.sqrt(1 - b2**s) / (1 - b1**s)
        state["step"] = t(opt.learning_rate * corr * (1 - b1) / math.sqrt(1 - b2))

    set_step(1)
    eps_hat = t(opt.epsilon / math.sqrt(1 - b2))
    variants = {"numpy": (lambda: opt.step(params, grad, out=out), None)}

    def numba_call(fn):
        def call():
            fn(params, grad, first, second, out, state["step"], t(b1), t(b2), eps_hat)

        return (call, None)

    variants.update(numba_variants(K._adam, numba_call) if K else {})
    if ne is not None:
        scalars = {"b1": t(b1), "b2": t(b2), "eps": eps_hat}

        def ne_adam():
            d = {"m": first, "v": second, "g": grad, "p": params, "step": state["step"],
                 **scalars}  # fmt: skip
            ne.evaluate("m * b1 + g", local_dict=d, out=first)
            ne.evaluate("v * b2 + g * g", local_dict=d, out=second)
            ne.evaluate("p - (m / (sqrt(v) + eps)) * step", local_dict=d, out=out)

        variants["numexpr"] = (ne_adam, None)
    rows = measure(f"adam ({n} params)", variants, cfg, log)
    # Agreement after 10 steps from the same state (gradient fixed).
    results = {}
    for name, (call, _) in variants.items():
        opt.reset(n, params.dtype)
        first[:] = 0
        second[:] = 0
        params[:] = p0
        for s in range(1, 11):
            set_step(s)
            call()
            params[:] = out
        results[name] = params.copy()
    params[:] = p0
    set_step(1)
    ref = results.pop("numpy")
    return rows, check_close("adam", dtype, results, ref, log)


def group_forward(activation, dtype, cfg, log):
    rng = np.random.default_rng(1)
    z0 = rng.standard_normal((BATCH, HIDDEN[1])).astype(dtype)
    bias = (rng.standard_normal(HIDDEN[1]) * 0.1).astype(dtype)
    z = z0.copy()
    act = ACTIVATIONS[activation]
    a = z if act.inplace else np.empty_like(z)
    slope = np.dtype(dtype).type(getattr(act, "slope", 0.01))

    def reset():
        np.copyto(z, z0)

    def numpy_call():
        z.__iadd__(bias)
        act.forward(z, out=a)

    variants = {"numpy": (numpy_call, reset)}
    if K:
        kernel = K.NUMBA_FORWARD[activation]
        variants.update(numba_variants(kernel, lambda fn: ((lambda: fn(z, bias, a, slope)), reset)))
        # What sknet._numba_kernels.bias_activation runs: an in-place kernel when a is z,
        # numpy's formula where numba is slower.
        variants["sknet"] = (lambda: K.bias_activation(z, bias, a, activation, slope), reset)
    expr = {
        "identity": "z + b",
        "relu": "where(z + b > 0, z + b, 0)",
        "tanh": "tanh(z + b)",
        "sigmoid": "1 / (1 + exp(-(z + b)))",
        "elu": "where(z + b > 0, z + b, expm1(z + b))",
        "softplus": "log1p(exp(-abs(z + b))) + where(z + b > 0, z + b, 0)",
    }.get(activation)
    if ne is not None and expr is not None:
        b2 = bias[np.newaxis, :]

        def ne_call():
            ne.evaluate(expr, local_dict={"z": z, "b": b2}, out=a)

        variants["numexpr"] = (ne_call, reset)
    rows = measure(f"bias+{activation} fwd (256x256)", variants, cfg, log)
    results = {}
    for name, (call, _) in variants.items():
        reset()
        call()
        results[name] = a.copy()
    ref = results.pop("numpy")
    return rows, check_close(f"{activation} fwd", dtype, results, ref, log)


def group_backward(activation, dtype, cfg, log):
    rng = np.random.default_rng(2)
    act = ACTIVATIONS[activation]
    z0 = rng.standard_normal((BATCH, HIDDEN[1])).astype(dtype)
    a0 = act.forward(z0.copy())
    d0 = rng.standard_normal(z0.shape).astype(dtype)
    z, a, d = z0.copy(), a0.copy(), d0.copy()
    slope = np.dtype(dtype).type(getattr(act, "slope", 0.01))

    def reset():
        np.copyto(z, z0)
        np.copyto(a, a0)
        np.copyto(d, d0)

    variants = {"numpy": (lambda: act.backward(z, a, d), reset)}
    if K:
        kernel = K.NUMBA_BACKWARD[activation]
        variants.update(numba_variants(kernel, lambda fn: ((lambda: fn(z, a, d, slope)), reset)))
        variants["sknet"] = (lambda: K.activation_backward(z, a, d, activation, slope), reset)
    expr = {
        "relu": "where(a > 0, d, 0)",
        "tanh": "d * (1 - a * a)",
        "sigmoid": "d * a * (1 - a)",
        "softplus": "-d * expm1(-a)",
    }.get(activation)
    if ne is not None and expr is not None:
        variants["numexpr"] = (
            lambda: ne.evaluate(expr, local_dict={"a": a, "d": d}, out=d),
            reset,
        )
    rows = measure(f"{activation} backward (256x256)", variants, cfg, log)
    results = {}
    for name, (call, _) in variants.items():
        reset()
        call()
        results[name] = d.copy()
    ref = results.pop("numpy")
    return rows, check_close(f"{activation} bwd", dtype, results, ref, log)


def group_gather(dtype, cfg, log):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N_TRAIN, N_FEATURES)).astype(dtype)
    codes = rng.integers(0, 5, N_TRAIN)
    Y = np.eye(5, dtype=dtype)[codes]
    idx = rng.permutation(N_TRAIN)[:BATCH]
    Xb, Yb = np.empty((BATCH, N_FEATURES), dtype), np.empty((BATCH, 5), dtype)
    Xa = np.ones((BATCH, N_FEATURES + 1), dtype)
    cb = np.empty(BATCH, codes.dtype)

    def numpy_call():
        np.take(X, idx, axis=0, out=Xb)
        np.take(Y, idx, axis=0, out=Yb)

    def numpy2_call():
        np.take(X, idx, axis=0, out=Xb, mode="clip")
        np.take(codes, idx, out=cb, mode="clip")

    def numpy2_aug():
        # into the first columns of an input buffer whose last column is ones
        np.take(X, idx, axis=0, out=Xa[:, :N_FEATURES], mode="clip")
        np.take(codes, idx, out=cb, mode="clip")

    variants = {
        "numpy": (numpy_call, None),
        "numpy'": (numpy2_call, None),
        "numpy'-aug": (numpy2_aug, None),
    }
    if K:

        def make(fn):
            def call():
                fn(X, idx, Xb)
                np.take(codes, idx, out=cb, mode="clip")

            return (call, None)

        variants.update(numba_variants(K._gather_rows, make, flags=("serial", "par")))
    rows = measure("gather X rows + targets", variants, cfg, log)
    return rows, {}


def group_softmax(dtype, cfg, log):
    rng = np.random.default_rng(4)
    k = 5
    z0 = rng.standard_normal((BATCH, k)).astype(dtype)
    codes = rng.integers(0, k, BATCH)
    Y = np.eye(k, dtype=dtype)[codes]
    z, delta = z0.copy(), np.empty_like(z0)
    scale_vec = np.full(BATCH, 1.0 / BATCH, dtype)
    softmax, loss = ACTIVATIONS["softmax"], LogLoss()
    flat = np.arange(BATCH) * k + codes
    picked = np.empty(BATCH, dtype)
    result = {}

    def reset():
        np.copyto(z, z0)

    def numpy_call():  # the engine today: Softmax.forward, LogLoss.value, fused delta
        h = softmax.forward(z, out=z)
        result["obj"] = float(loss.value(Y, h).sum()) * (1.0 / BATCH)
        np.subtract(h, Y, out=delta)
        delta.__imul__(1.0 / BATCH)

    eps = float(np.finfo(dtype).eps)

    def numpy2_call():  # integer codes: the loss reads one probability per row
        h = softmax.forward(z, out=z)
        np.take(h, flat, out=picked, mode="clip")
        np.clip(picked, eps, 1 - eps, out=picked)
        np.log(picked, out=picked)
        result["obj"] = -float(picked.sum()) * (1.0 / BATCH)
        np.copyto(delta, h)
        delta.ravel()[flat] -= 1
        delta.__imul__(1.0 / BATCH)

    variants = {"numpy": (numpy_call, reset), "numpy'": (numpy2_call, reset)}
    if K:
        no_codes = np.empty(0, np.intp)
        onehot = BK._softmax_log_loss
        variants["numba"] = (lambda: onehot(z, Y, no_codes, z, delta, scale_vec), reset)
        variants["numba-codes"] = (lambda: onehot(z, z[:0], codes, z, delta, scale_vec), reset)
    rows = measure("softmax+log-loss+delta (256x5)", variants, cfg, log)
    results = {}
    for name, (call, _) in variants.items():
        reset()
        value = call()
        results[name] = np.concatenate([delta.ravel(), [result["obj"] if value is None else value]])
    ref = results.pop("numpy")
    return rows, check_close("softmax", dtype, results, ref, log)


def group_squared(dtype, cfg, log):
    rng = np.random.default_rng(5)
    z0 = rng.standard_normal((BATCH, 1)).astype(dtype)
    bias = np.array([0.1], dtype)
    y = rng.standard_normal((BATCH, 1)).astype(dtype)
    z, delta = z0.copy(), np.empty_like(z0)
    scale_vec = np.full(BATCH, 1.0 / BATCH, dtype)
    loss = SquaredError()
    result = {}

    def reset():
        np.copyto(z, z0)

    def numpy_call():
        z.__iadd__(bias)
        result["obj"] = float(loss.value(y, z).sum()) * (1.0 / BATCH)
        np.subtract(z, y, out=delta)
        delta.__imul__(1.0 / BATCH)

    variants = {"numpy": (numpy_call, reset)}
    if K:
        kern = BK._identity_squared_error
        variants["numba"] = (lambda: kern(z, bias, y, delta, scale_vec), reset)
    rows = measure("bias+squared-error+delta (256x1)", variants, cfg, log)
    results = {}
    for name, (call, _) in variants.items():
        reset()
        value = call()
        results[name] = np.concatenate([delta.ravel(), [result["obj"] if value is None else value]])
    ref = results.pop("numpy")
    return rows, check_close("squared", dtype, results, ref, log)


def group_layer(dtype, cfg, log):
    """A hidden layer's forward product + bias + relu, and its weight/bias gradients."""
    rng = np.random.default_rng(6)
    n_in, n_out = HIDDEN
    x = rng.standard_normal((BATCH, n_in)).astype(dtype)
    xa = np.ones((BATCH, n_in + 1), dtype)
    xa[:, :n_in] = x
    W = (rng.standard_normal((n_in, n_out)) * 0.05).astype(dtype)
    b = (rng.standard_normal(n_out) * 0.1).astype(dtype)
    Wb = np.vstack([W, b])
    z = np.empty((BATCH, n_out), dtype)
    za = np.ones((BATCH, n_out + 1), dtype)  # next layer's input, ones column last
    delta = rng.standard_normal((BATCH, n_out)).astype(dtype)
    gW, gb, gWb = np.empty_like(W), np.empty_like(b), np.empty_like(Wb)
    ones = np.ones(BATCH, dtype)
    relu = ACTIVATIONS["relu"]

    def fwd_numpy():
        np.matmul(x, W, out=z)
        z.__iadd__(b)
        relu.forward(z, out=z)

    def fwd_folded():
        view = za[:, :n_out]
        np.matmul(xa, Wb, out=view)
        np.maximum(view, 0, out=view)

    variants = {"numpy": (fwd_numpy, None), "numpy'": (fwd_folded, None)}
    if K:
        kern = K._forward_relu
        slope = np.dtype(dtype).type(0.0)

        def fwd_numba():
            np.matmul(x, W, out=z)
            kern(z, b, z, slope)

        variants["numba"] = (fwd_numba, None)
    rows = measure("layer fwd: matmul+bias+relu", variants, cfg, log)

    def grad_numpy():
        np.matmul(x.T, delta, out=gW)
        np.matmul(ones, delta, out=gb)

    def grad_folded():
        np.matmul(xa.T, delta, out=gWb)

    rows += measure(
        "layer grad: x'delta + bias grad",
        {"numpy": (grad_numpy, None), "numpy'": (grad_folded, None)},
        cfg,
        log,
    )
    return rows, {}


# --------------------------------------------------------------------------------------
# Whole steps
# --------------------------------------------------------------------------------------


class Step:
    """One training step (gather, forward, loss, backward, Adam) at the wide shapes.

    ``kind`` is "numpy" (the engine's formulas today), "numpy'" (restructured)
    or "numba" (sknet._numba_kernels for everything but the matrix products).
    """

    def __init__(self, kind, dtype, k, seed=0):
        self.kind, self.k = kind, k
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((N_TRAIN, N_FEATURES)).astype(dtype)
        self.codes = rng.integers(0, k, N_TRAIN)
        if k == 1:
            self.Y = rng.standard_normal((N_TRAIN, 1)).astype(dtype)
        else:
            self.Y = np.eye(k, dtype=dtype)[self.codes]
        units = (N_FEATURES, *HIDDEN, k)
        self.units = units
        sizes = [(a, b) for a, b in zip(units[:-1], units[1:], strict=True)]
        n = sum(a * b + b for a, b in sizes)
        self.params = np.empty(n, dtype)
        self.out = np.empty(n, dtype)
        self.grad = np.empty(n, dtype)
        folded = kind == "numpy'"
        self.W, self.b, self.gW, self.gb, self.Wb, self.gWb = [], [], [], [], [], []
        offset = 0
        if folded:  # [W; b] per layer, contiguous
            for a, b in sizes:
                size = (a + 1) * b
                Wb = self.params[offset : offset + size].reshape(a + 1, b)
                Wb[:a] = rng.uniform(-0.1, 0.1, (a, b))
                Wb[a] = rng.uniform(-0.1, 0.1, b)
                self.Wb.append(Wb)
                self.gWb.append(self.grad[offset : offset + size].reshape(a + 1, b))
                self.W.append(Wb[:a])
                offset += size
        else:  # all weights, then all biases (the engine's layout)
            for a, b in sizes:
                W = self.params[offset : offset + a * b].reshape(a, b)
                W[...] = rng.uniform(-0.1, 0.1, (a, b))
                self.W.append(W)
                self.gW.append(self.grad[offset : offset + a * b].reshape(a, b))
                offset += a * b
            for _, b in sizes:
                self.b.append(self.params[offset : offset + b])
                self.b[-1][...] = rng.uniform(-0.1, 0.1, b)
                self.gb.append(self.grad[offset : offset + b])
                offset += b
        B = BATCH
        if folded:
            self.inputs = [np.ones((B, u + 1), dtype) for u in units[:-1]]
        else:
            self.inputs = [np.empty((B, u), dtype) for u in units[:-1]]
        self.zout = np.empty((B, k), dtype)
        self.deltas = [np.empty((B, u), dtype) for u in units[1:]]
        self.Yb = np.empty((B, k), dtype)
        self.cb = np.empty(B, self.codes.dtype)
        self.ones = np.ones(B, dtype)
        self.scale = np.full(B, 1.0 / B, dtype)
        self.flat = np.arange(B) * k
        self.flat_b = np.empty(B, np.intp)
        self.picked = np.empty(B, dtype)
        self.first, self.second = np.zeros(n, dtype), np.zeros(n, dtype)
        self.opt = Adam(learning_rate=1e-3)
        self.opt.reset(n, self.dtype)
        self.order = rng.permutation(N_TRAIN)
        self.pos = 0
        self.t = 0
        self.relu, self.softmax = ACTIVATIONS["relu"], ACTIVATIONS["softmax"]
        self.logloss, self.squared = LogLoss(), SquaredError()

    def _batch(self):
        if self.pos + BATCH > N_TRAIN:
            self.pos = 0
        idx = self.order[self.pos : self.pos + BATCH]
        self.pos += BATCH
        return idx

    def __call__(self):
        idx = self._batch()
        getattr(self, "_step_" + {"numpy": "numpy", "numpy'": "folded", "numba": "numba"}[
            self.kind])(idx)  # fmt: skip
        self.params, self.out = self.out, self.params  # swap, as the engine does
        self._rebind()

    def _rebind(self):
        # Views follow the swap: recompute them from the current flat arrays.
        p = self.params
        sizes = [(a, b) for a, b in zip(self.units[:-1], self.units[1:], strict=True)]
        offset = 0
        if self.kind == "numpy'":
            for i, (a, b) in enumerate(sizes):
                size = (a + 1) * b
                self.Wb[i] = p[offset : offset + size].reshape(a + 1, b)
                self.W[i] = self.Wb[i][:a]
                offset += size
        else:
            for i, (a, b) in enumerate(sizes):
                self.W[i] = p[offset : offset + a * b].reshape(a, b)
                offset += a * b
            for i, (_, b) in enumerate(sizes):
                self.b[i] = p[offset : offset + b]
                offset += b

    def _step_numpy(self, idx):
        X0, X1, X2 = self.inputs
        np.take(self.X, idx, axis=0, out=X0)
        np.take(self.Y, idx, axis=0, out=self.Yb)
        hs = [X0, X1, X2]
        for i in range(3):
            z = hs[i + 1] if i < 2 else self.zout
            np.matmul(hs[i], self.W[i], out=z)
            z += self.b[i]
            if i < 2:
                self.relu.forward(z, out=z)
        h = self.zout
        scale = 1.0 / BATCH
        if self.k > 1:
            self.softmax.forward(h, out=h)
            obj = float(self.logloss.value(self.Yb, h).sum()) * scale
        else:
            obj = float(self.squared.value(self.Yb, h).sum()) * scale
        d = self.deltas[2]
        np.subtract(h, self.Yb, out=d)
        d *= scale
        for i in (2, 1, 0):
            d = self.deltas[i]
            np.matmul(hs[i].T, d, out=self.gW[i])
            np.matmul(self.ones, d, out=self.gb[i])
            if i:
                np.matmul(d, self.W[i].T, out=self.deltas[i - 1])
                self.relu.backward(None, hs[i], self.deltas[i - 1])
        self.opt.step(self.params, self.grad, out=self.out)
        return obj

    def _step_folded(self, idx):
        X0, X1, X2 = self.inputs
        nf = N_FEATURES
        np.take(self.X, idx, axis=0, out=X0[:, :nf], mode="clip")
        hs = [X0, X1, X2]
        for i in range(3):
            if i < 2:
                z = hs[i + 1][:, : self.units[i + 1]]
                np.matmul(hs[i], self.Wb[i], out=z)
                np.maximum(z, 0, out=z)
            else:
                np.matmul(hs[i], self.Wb[i], out=self.zout)
        h = self.zout
        scale = 1.0 / BATCH
        d = self.deltas[2]
        if self.k > 1:
            np.take(self.codes, idx, out=self.cb, mode="clip")
            self.softmax.forward(h, out=h)
            np.add(self.flat, self.cb, out=self.flat_b)
            np.take(h, self.flat_b, out=self.picked, mode="clip")
            eps = float(np.finfo(self.dtype).eps)
            np.clip(self.picked, eps, 1 - eps, out=self.picked)
            np.log(self.picked, out=self.picked)
            obj = -float(self.picked.sum()) * scale
            np.copyto(d, h)
            d.ravel()[self.flat_b] -= 1
        else:
            np.take(self.Y, idx, axis=0, out=self.Yb, mode="clip")
            np.subtract(h, self.Yb, out=d)
            obj = 0.5 * float(np.dot(d[:, 0], d[:, 0])) * scale
        d *= scale
        for i in (2, 1, 0):
            d = self.deltas[i]
            np.matmul(hs[i].T, d, out=self.gWb[i])
            if i:
                np.matmul(d, self.W[i].T, out=self.deltas[i - 1])
                a = hs[i][:, : self.units[i]]
                np.greater(a, 0, out=a)
                self.deltas[i - 1] *= a
        self.opt.step(self.params, self.grad, out=self.out)
        return obj

    def _step_numba(self, idx):
        X0, X1, X2 = self.inputs
        K._gather_rows(self.X, idx, X0)
        hs = [X0, X1, X2]
        for i in range(3):
            z = hs[i + 1] if i < 2 else self.zout
            np.matmul(hs[i], self.W[i], out=z)
            if i < 2:
                K.bias_activation(z, self.b[i], z, "relu")
        h = self.zout
        d = self.deltas[2]
        if self.k > 1:
            np.take(self.codes, idx, out=self.cb, mode="clip")
            h += self.b[2]
            obj = BK._softmax_log_loss(h, h[:0], self.cb, h, d, self.scale)
        else:
            K._gather_rows(self.Y, idx, self.Yb)
            obj = BK._identity_squared_error(h, self.b[2], self.Yb, d, self.scale)
        for i in (2, 1, 0):
            d = self.deltas[i]
            np.matmul(hs[i].T, d, out=self.gW[i])
            np.matmul(self.ones, d, out=self.gb[i])
            if i:
                np.matmul(d, self.W[i].T, out=self.deltas[i - 1])
                K.activation_backward(None, hs[i], self.deltas[i - 1], "relu")
        o = self.opt
        o.t += 1
        b1, b2 = o.beta_1, o.beta_2
        corr = math.sqrt(1 - b2**o.t) / (1 - b1**o.t)
        step = o.learning_rate * corr * (1 - b1) / math.sqrt(1 - b2)
        K.adam_step(self.params, self.grad, self.first, self.second, self.out, step, b1, b2,
                    o.epsilon / math.sqrt(1 - b2))  # fmt: skip
        return obj


def group_steps(dtype, cfg, log):
    rows = []
    for k, case in ((5, "wide_clf"), (1, "wide_reg")):
        kinds = ["numpy", "numpy'"] + (["numba"] if K else [])
        steps = {kind: Step(kind, dtype, k) for kind in kinds}
        buffers = _matmul_buffers((N_FEATURES, *HIDDEN, k), BATCH, dtype, np.random.default_rng(0))
        variants = {kind: (step, None) for kind, step in steps.items()}
        variants["floor"] = (lambda b=buffers: _matmul_step(b), None)
        for row in measure(f"{case} whole step", variants, cfg, log):
            floor = row["times"]["floor"]
            row["per_floor"] = {kind: row["times"][kind] / floor for kind in kinds}
            log("  step/floor: " + ", ".join(f"{k} {v:.2f}" for k, v in row["per_floor"].items()))
            rows.append(row)
    if K is not None:  # the step variants compute the same thing
        for k in (5, 1):
            objs = {}
            for kind in ("numpy", "numba"):
                s = Step(kind, dtype, k, seed=1)
                for _ in range(20):
                    s()
                objs[kind] = s.params.copy()
            check_close(f"step k={k} (20 steps)", dtype, {"numba": objs["numba"]}, objs["numpy"],
                        log)  # fmt: skip
    return rows


# --------------------------------------------------------------------------------------
# Latency and install size (fresh processes)
# --------------------------------------------------------------------------------------

LATENCY_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import sknet
t1 = time.perf_counter()
from sknet import _numba_kernels as K
sys.path.insert(0, sys.argv[2])
import numba_extra_kernels as BK
t2 = time.perf_counter()
dtype = np.dtype(sys.argv[1])
out = {"import_sknet": t1 - t0, "import_kernels": t2 - t1, "kernels": {}}
z = np.ones((8, 4), dtype); b = np.ones(4, dtype); p = np.ones(16, dtype)
calls = [
    ("adam_step", lambda: K.adam_step(p, p, p.copy(), p.copy(), p.copy(), 1e-3, .9, .999, 1e-8)),
    ("gather_rows", lambda: K.gather_rows(z, np.arange(4), z[:4].copy())),
    ("forward_relu", lambda: K.bias_activation(z, b, z, "relu")),
    ("backward_relu", lambda: K.activation_backward(z, z, z.copy(), "relu")),
    ("softmax_log_loss", lambda: BK.softmax_log_loss_codes(z, np.zeros(8, np.intp), z, z.copy(),
                                                            np.ones(8, dtype))),
    ("forward_sigmoid", lambda: K.bias_activation(z, b, z, "sigmoid")),
]
for name, call in calls:
    t = time.perf_counter(); call(); out["kernels"][name] = time.perf_counter() - t
print(json.dumps(out))
"""

FIT_SCRIPT = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
from sklearn.datasets import load_iris, load_digits
import numpy as np
which = sys.argv[1]
if which == "sknet":
    from sknet import LayeredClassifier as Model
else:
    from sklearn.neural_network import MLPClassifier as Model
t1 = time.perf_counter()
X, y = load_iris(return_X_y=True)
warnings.simplefilter("ignore")
t = time.perf_counter(); Model(random_state=0).fit(X, y); t2 = time.perf_counter() - t
print(json.dumps({"import": t1 - t0, "iris_first_fit": t2}))
"""


def run_json(script, *args, env=None):
    root = str(Path(__file__).resolve().parent.parent)
    command = [sys.executable, "-c", script, *args]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=root)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def latency(cfg, log):
    if K is None:
        return {}
    res = {}
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    for dtype in cfg.dtypes:
        with tempfile.TemporaryDirectory() as cache:
            env["NUMBA_CACHE_DIR"] = cache
            load = os.getloadavg()[0]
            here = str(Path(__file__).resolve().parent)  # where numba_extra_kernels lives
            cold = run_json(LATENCY_SCRIPT, dtype, here, env=env)
            warm = [run_json(LATENCY_SCRIPT, dtype, here, env=env) for _ in range(3)]
            res[dtype] = {"cold": cold, "warm": warm, "load": load}
            log(f"latency {dtype} (load {load:.2f}): import sknet {cold['import_sknet']:.2f}s, "
                f"import kernels {cold['import_kernels']:.2f}s")  # fmt: skip
            for name in cold["kernels"]:
                w = statistics.median(x["kernels"][name] for x in warm)
                log(f"  {name:<18} compile (empty cache) {cold['kernels'][name]:.2f}s, "
                    f"cache load {w * 1e3:.0f}ms")  # fmt: skip
    fits = {which: [run_json(FIT_SCRIPT, which, env=env) for _ in range(3)]
            for which in ("sknet", "mlp")}  # fmt: skip
    for which, runs in fits.items():
        log(
            f"fresh process, {which}: import {statistics.median(r['import'] for r in runs):.2f}s, "
            f"first iris fit {statistics.median(r['iris_first_fit'] for r in runs):.2f}s"
        )
    res["fits"] = fits
    return res


def install_sizes(cfg, log):
    sizes = {}
    for dist in ("numba", "llvmlite", "numexpr"):
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        total = sum(os.path.getsize(f.locate()) for f in files if os.path.exists(f.locate()))
        sizes[dist] = {"installed": total, "version": importlib.metadata.version(dist)}
    if cfg.download_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            wanted = [f"{d}=={v['version']}" for d, v in sizes.items()]
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp]
            subprocess.run([*pip, *wanted], check=False)
            for wheel in Path(tmp).iterdir():
                dist = wheel.name.split("-")[0]
                if dist in sizes:
                    sizes[dist]["wheel"] = wheel.stat().st_size
    for dist, s in sizes.items():
        wheel = f", wheel {s['wheel'] / 2**20:.1f} MiB" if "wheel" in s else ""
        log(f"{dist} {s['version']}: installed {s['installed'] / 2**20:.1f} MiB{wheel}")
    return sizes


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=40)
    parser.add_argument("--activations", nargs="+",
                        default=["relu", "leaky_relu", "tanh", "sigmoid", "elu", "softplus",
                                 "gelu"])  # fmt: skip
    parser.add_argument("--groups", nargs="+",
                        default=["adam", "forward", "backward", "gather", "loss", "layer",
                                 "steps"])  # fmt: skip
    parser.add_argument(
        "--max-busy",
        type=float,
        default=0.15,
        help="rerun a group when others took more of the CPUs (default 0.15)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=20.0,
        help="before a group, wait up to this long (s) for a quiet half second",
    )
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 repeats of 15 calls, relu only")
    parser.add_argument("--no-latency", dest="latency", action="store_false")
    parser.add_argument("--download-sizes", action="store_true")
    parser.add_argument("--json", help="write all numbers to this file")
    cfg = parser.parse_args(argv)
    if cfg.quick:
        cfg.repeats, cfg.inner, cfg.activations = 3, 15, ["relu"]

    def log(msg):
        print(msg, flush=True)

    log(f"numpy {np.__version__}, numba {numba.__version__ if numba else 'n/a'}, "
        f"numexpr {ne.__version__ if ne else 'n/a'}, cores {os.cpu_count()}, "
        f"load {os.getloadavg()}")  # fmt: skip
    results = {"rows": [], "agreement": {}}
    for dtype in cfg.dtypes:
        log(f"\n== {dtype} ==")
        jobs = []  # (name, function, extra leading arguments)
        if "adam" in cfg.groups:
            jobs.append(("adam", group_adam, ()))
        for act in cfg.activations:
            if "forward" in cfg.groups:
                jobs.append((f"{act} fwd", group_forward, (act,)))
            if "backward" in cfg.groups:
                jobs.append((f"{act} bwd", group_backward, (act,)))
        if "gather" in cfg.groups:
            jobs.append(("gather", group_gather, ()))
        if "loss" in cfg.groups:
            jobs.append(("softmax", group_softmax, ()))
            jobs.append(("squared", group_squared, ()))
        if "layer" in cfg.groups:
            jobs.append(("layer", group_layer, ()))
        for name, job, args in jobs:
            rows, agreement = job(*args, dtype, cfg, log)
            for row in rows:
                row["dtype"] = dtype
            results["rows"] += rows
            results["agreement"][f"{dtype} {name}"] = agreement
        if "steps" in cfg.groups:
            for row in group_steps(dtype, cfg, log):
                row["dtype"] = dtype
                results["rows"].append(row)
    if cfg.latency:
        log("\n== latency (fresh processes) ==")
        results["latency"] = latency(cfg, log)
    log("\n== install size ==")
    results["sizes"] = install_sizes(cfg, log)
    if cfg.json:
        Path(cfg.json).write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
