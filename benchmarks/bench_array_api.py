"""Time an epoch of ``sknet.Network`` on every array library and device present.

Run from the repository root::

    python benchmarks/bench_array_api.py --quick           # about a minute
    python benchmarks/bench_array_api.py --markdown benchmarks/RESULTS.md

The case is the wide classification of ``bench_vs_mlp.py``: make_classification
(100,000 x 100, 50 informative, 5 classes), standardised, 75,000 training rows;
a network 100 -> (256, 256) -> 5, relu, softmax with log_loss, adam at
learning rate 1e-3, alpha 1e-4 (MLP's L2 penalty), in float32 and float64, at
batch 256 and 4096. sknet trains where its input lives, so each backend is the
same ``Network.fit`` given the data in another library:

* numpy: numpy arrays (sknet's ``NumpyBackend``);
* torch on the CPU, and on CUDA when ``torch.cuda.is_available()``: torch
  tensors (``ArrayAPIBackend``);
* CuPy, when it imports and sees a GPU: CuPy arrays (``ArrayAPIBackend``).

The reference on each torch device is a hand-written torch loop: ``nn.Linear``
layers starting from the sknet network's initial weights, ``torch.optim.Adam``
with the same L2 penalty (``weight_decay = alpha / rows in the batch``), the
same batches (the same shuffling orders, drawn from a copy of the network's
generator), the epoch's loss accumulated on the device and read once per epoch.
CuPy rows are compared with the torch loop on CUDA.

An epoch's time is read at the end of each epoch (a ``fit`` callback, or the
loop's end), after synchronising the device; the first epoch of every run is a
warm-up and is excluded. Runs alternate the backends (numpy, torch, loop,
numpy, ...); a row's time is the median of its timed epochs over all runs.
Each sknet run on another library is checked against the numpy run with the
same seed (same initial weights, same batches): its loss after the last epoch
must match numpy's within 1e-6 (float64) or 1e-2 (float32), relative; float32
trajectories drift apart with the rounding of each library (about 1e-3 after
five epochs at batch 256 on a CPU). The script exits with status 1 when a
check fails.

It needs numpy, scikit-learn and sknet; torch and CuPy are used when they
import, threadpoolctl when installed. Nothing device-specific runs unless the
device is there.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bench_vs_mlp import (  # the sibling script: python puts its folder on sys.path
    CpuMonitor,
    Table,
    blas_info,
    blas_limits,
    cpu_model,
    fmt,
    import_sknet,
    import_torch,
    make_case,
    n_cpus,
    ratio,
    settle,
    source_state,
    wait_idle,
)

DTYPES = ("float32", "float64")
BATCH_SIZES = (256, 4096)
ALPHA = 1e-4  # as bench_vs_mlp.estimator_params: MLP's default L2 penalty
LOSS_RTOL = {"float32": 1e-2, "float64": 1e-6}
NUMPY_ROW = ("sknet", "numpy", "cpu")


def import_cupy():
    """CuPy when it imports and sees at least one GPU, else None."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: no CuPy rows
        return None
    return cupy


# --------------------------------------------------------------------------------------
# Devices: where the data go, and how to wait for the device
# --------------------------------------------------------------------------------------


@dataclass
class Device:
    """One place to train: a library (numpy, torch, cupy) and a device in it."""

    library: str
    label: str  # "cpu", "cuda:0", ...
    to_device: object  # host numpy array -> array on the device
    sync: object  # waits until the device has finished its queued work
    torch_device: object = None  # the torch device of this place, for the loop

    @property
    def name(self):
        return f"{self.library} {self.label}"


def _no_sync():
    pass


def _torch_place(torch, where):
    """A torch device: CPU, or a CUDA device synchronised before each clock reading."""

    def to_device(array):
        return torch.from_numpy(np.ascontiguousarray(array)).to(where)

    def sync():
        torch.cuda.synchronize(where)

    return Device("torch", str(where), to_device, _no_sync if where.type == "cpu" else sync, where)


def find_devices(torch, cupy):
    """Every (library, device) present, numpy first."""
    devices = [Device("numpy", "cpu", np.ascontiguousarray, _no_sync)]
    if torch is not None:
        devices.append(_torch_place(torch, torch.device("cpu")))
        if torch.cuda.is_available():
            devices.append(_torch_place(torch, torch.device("cuda", torch.cuda.current_device())))
    if cupy is not None:
        gpu = cupy.cuda.Device()
        devices.append(Device("cupy", f"cuda:{gpu.id}", cupy.asarray, gpu.synchronize))
    return devices


def gpu_names(torch, cupy):
    names = []
    if torch is not None and torch.cuda.is_available():
        i = torch.cuda.current_device()
        names.append(
            f"cuda:{i} {torch.cuda.get_device_name(i)} (CUDA {torch.version.cuda}; float32 "
            f"matmul precision {torch.get_float32_matmul_precision()!r})"
        )
    if cupy is not None:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        names.append(f"cupy: {name.decode() if isinstance(name, bytes) else name}")
    return names


# --------------------------------------------------------------------------------------
# The two trainers: sknet.Network on some library, and the hand-written torch loop
# --------------------------------------------------------------------------------------


@dataclass
class Data:
    """The case on one device: X, one-hot Y (for sknet), class indices (for torch)."""

    X: object
    Y: object
    y_index: object


def build_network(sknet, n_inputs, hidden, n_classes, seed):
    """The sknet network and a copy of its generator, positioned where ``fit`` starts.

    ``fit`` draws only the shuffling orders from the generator (no dropout, no
    validation split), so the copy yields the very same orders for the loop.
    """
    generator = np.random.default_rng(seed)
    net = sknet.Network(n_inputs, random_state=generator)
    for units in hidden:
        net.add_layer(units, "relu")
    net.add_layer(n_classes, "softmax")
    return net, copy.deepcopy(generator)


def run_sknet(sknet, case, data, device, batch, epochs, seed):
    """One fit of ``epochs`` epochs; returns (per-epoch seconds, loss of the last epoch)."""
    net, _ = build_network(sknet, case.X_train.shape[1], case.hidden, len(case.classes), seed)
    stamps = []

    def stamp(network, logs):
        device.sync()
        stamps.append(time.perf_counter())

    device.sync()
    start = time.perf_counter()
    net.fit(
        data.X, data.Y, loss="log_loss", optimizer="adam", epochs=epochs,
        batch_size=batch, learning_rate=case.learning_rate, alpha=ALPHA,
        shuffle=True, callbacks=[stamp],
    )  # fmt: skip
    return list(np.diff([start, *stamps])), net.history_["loss"][-1]


def run_torch_loop(torch, sknet, case, data, device, batch, epochs, seed):
    """The same training as :func:`run_sknet`, written by hand in torch."""
    net, order_rng = build_network(
        sknet, case.X_train.shape[1], case.hidden, len(case.classes), seed
    )
    X, y = data.X, data.y_index
    dtype = X.dtype
    where = device.torch_device
    weights = net.get_weights()  # [W0, b0, W1, b1, ...], W of shape (in, out)
    modules, decayed, plain = [], [], []
    for W, b in zip(weights[::2], weights[1::2], strict=True):
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype, device=where)
        with torch.no_grad():  # the network's initial weights, cast as sknet casts them
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))
        modules += [linear, torch.nn.ReLU()]
        decayed.append(linear.weight)
        plain.append(linear.bias)
    model = torch.nn.Sequential(*modules[:-1])  # softmax is inside the loss
    # sknet's (and MLP's) penalty alpha / (2 n) ||W||^2 per batch of n rows has
    # the gradient alpha / n * W: Adam's (coupled) weight decay alpha / n.
    optimizer = torch.optim.Adam(
        [{"params": decayed, "weight_decay": ALPHA / batch},
         {"params": plain, "weight_decay": 0.0}],
        lr=case.learning_rate, betas=(0.9, 0.999), eps=1e-8,
    )  # fmt: skip
    decay_group = optimizer.param_groups[0]
    loss_fn = torch.nn.CrossEntropyLoss()
    n = X.shape[0]
    times, loss = [], None
    device.sync()
    start = time.perf_counter()
    for _ in range(epochs):
        # One transfer of the epoch's order; the batches are gathered on the device.
        order = torch.from_numpy(order_rng.permutation(n)).to(where)
        total = torch.zeros((), dtype=dtype, device=where)
        for first in range(0, n, batch):
            idx = order[first : first + batch]
            xb, yb = X[idx], y[idx]
            rows = xb.shape[0]
            decay_group["weight_decay"] = ALPHA / rows
            optimizer.zero_grad(set_to_none=True)
            batch_loss = loss_fn(model(xb), yb)
            batch_loss.backward()
            optimizer.step()
            total += batch_loss.detach() * rows
        loss = float(total) / n  # the one read per epoch
        device.sync()
        now = time.perf_counter()
        times.append(now - start)
        start = now
    return times, loss


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


@dataclass
class Row:
    trainer: str  # "sknet" or "torch loop"
    device: Device
    dtype: str
    batch: int
    epochs: list = field(default_factory=list)  # steady epoch seconds, all runs
    losses: dict = field(default_factory=dict)  # seed -> loss after the last epoch
    error: str | None = None

    @property
    def key(self):
        return (self.trainer, self.device.library, self.device.label)

    @property
    def epoch(self):
        return statistics.median(self.epochs) if self.epochs else None


@dataclass
class Config:
    dtype: str
    batch: int
    rows: list
    busy: float | None = None
    load: tuple = ()  # 1-minute load average before and after


def plan_rows(devices, dtype, batch):
    rows = []
    for device in devices:
        rows.append(Row("sknet", device, dtype, batch))
        if device.torch_device is not None:
            rows.append(Row("torch loop", device, dtype, batch))
    return rows


def measure(cfg, sknet, torch, case, devices, dtype, batch, log):
    """Alternating runs of every row of one dtype and batch size."""
    X = case.X_train.astype(dtype)
    y_index = np.searchsorted(case.classes, case.y_train).astype(np.int64)
    Y = np.eye(len(case.classes), dtype=dtype)[y_index]
    data, unreachable = {}, {}
    for device in devices:
        try:
            data[device.name] = Data(device.to_device(X), device.to_device(Y),
                                     device.to_device(y_index))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - report the device and go on
            unreachable[device.name] = f"{type(exc).__name__}: {exc}"
            log(f"    {device.name}: cannot move the data there: {unreachable[device.name]}")
    config = Config(dtype, batch, plan_rows(devices, dtype, batch))
    load_before = os.getloadavg()[0]
    monitor = CpuMonitor()
    for run in range(cfg.runs):
        for row in config.rows:
            if row.error is not None:
                continue
            if row.device.name not in data:
                row.error = f"the data could not be moved there: {unreachable[row.device.name]}"
                continue
            settle(cfg.pause)
            args = (case, data[row.device.name], row.device, batch, 1 + cfg.epochs, run)
            try:
                if row.trainer == "sknet":
                    times, loss = run_sknet(sknet, *args)
                else:
                    times, loss = run_torch_loop(torch, sknet, *args)
            except Exception as exc:  # noqa: BLE001 - report the row and go on
                row.error = f"{type(exc).__name__}: {exc}"
                log(f"    run {run} {row.trainer:10s} {row.device.name:12s} FAILED {row.error}")
                continue
            row.epochs += times[1:]  # the first epoch is the warm-up
            row.losses[run] = loss
            log(f"    run {run} {row.trainer:10s} {row.device.name:12s} "
                f"epoch {statistics.median(times[1:]) * 1e3:8.1f} ms "
                f"(warm-up {times[0] * 1e3:.0f} ms)  loss {loss:.6f}")  # fmt: skip
    config.busy = monitor.others()
    config.load = (load_before, os.getloadavg()[0])
    return config


def loss_check(row, reference, dtype):
    """(largest relative difference from numpy's loss over the seeds, passed?)."""
    if row.trainer != "sknet" or row.key == NUMPY_ROW:
        return None, None
    if reference is None or not reference.losses or not row.losses:
        return None, None
    seeds = row.losses.keys() & reference.losses.keys()
    if not seeds:
        return None, None
    worst = max(
        abs(row.losses[s] - reference.losses[s]) / max(abs(reference.losses[s]), 1e-12)
        for s in seeds
    )
    return worst, worst <= LOSS_RTOL[dtype]


def results_table(configs, cfg):
    table = Table(
        f"One epoch of wide_clf ({cfg.n_train:_} rows), median of {cfg.epochs} epochs "
        f"x {cfg.runs} runs after a warm-up epoch",
        ["trainer", "library", "device", "dtype", "batch", "epoch ms", "/numpy",
         "/torch loop", "loss", "loss vs numpy", "check", "load", "busy"],
    )  # fmt: skip
    failed = False
    for config in configs:
        by_key = {row.key: row for row in config.rows}
        numpy_row = by_key.get(NUMPY_ROW)
        for row in config.rows:
            # CuPy on cuda:0 is compared with torch's loop on cuda:0 too.
            loop = by_key.get(("torch loop", "torch", row.device.label))
            ms = None if row.epoch is None else row.epoch * 1e3
            numpy_ms = None if numpy_row is None or numpy_row.epoch is None else (
                numpy_row.epoch * 1e3
            )  # fmt: skip
            loop_ms = None if loop is None or loop.epoch is None else loop.epoch * 1e3
            difference, ok = loss_check(row, numpy_row, config.dtype)
            failed |= ok is False
            loss = statistics.median(row.losses.values()) if row.losses else None
            table.rows.append([
                row.trainer, row.device.library, row.device.label, config.dtype,
                config.batch, fmt(ms, ".1f"), fmt(ratio(ms, numpy_ms), ".2f"),
                fmt(ratio(ms, loop_ms), ".2f"), fmt(loss, ".5f"),
                fmt(difference, ".1e"),
                "n/a" if ok is None else ("ok" if ok else "FAIL"),
                f"{config.load[0]:.2f}-{config.load[1]:.2f}", fmt(config.busy, ".0%"),
            ])  # fmt: skip
            if row.error:
                table.notes.append(
                    f"{row.trainer} on {row.device.name}, {config.dtype}, batch "
                    f"{config.batch}: failed: {row.error}"
                )
    table.notes += [
        "/numpy: epoch time over sknet's on numpy arrays (same dtype and batch); "
        "/torch loop: over the hand-written torch loop on the same device.",
        "loss: of the last epoch, median over runs (sknet's includes the L2 penalty; "
        "the loop's does not, and torch's Adam adds epsilon to sqrt(v_hat) where "
        "sknet, like scikit-learn, adds it to sqrt(v)).",
        "loss vs numpy: the largest relative difference from the numpy run with the "
        f"same seed; check: within {LOSS_RTOL['float32']:g} (float32) or "
        f"{LOSS_RTOL['float64']:g} (float64).",
        "load: 1-minute load average before and after the rows of this dtype and "
        "batch; busy: share of the CPUs used by other processes meanwhile. Above ~10% "
        "busy, or a load that with this run's threads exceeds the cores, the times "
        "are unreliable (BLAS threads wait for each other).",
    ]
    return table, failed


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def versions(sknet, torch, cupy):
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("scipy", "array_api_compat"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "not installed"
    out["torch"] = torch.__version__ if torch is not None else "not installed"
    out["cupy"] = cupy.__version__ if cupy is not None else "not used (no import or no GPU)"
    out["sknet"] = getattr(sknet, "__version__", "?")
    return out


def header_lines(cfg, sknet, torch, cupy, devices, command):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    torch_threads = torch.get_num_threads() if torch is not None else "n/a"
    lines = [
        f"date: {now}",
        f"machine: {platform.node()}, {cpu_model()}, {n_cpus()} cores (nproc)",
        "GPU: " + ("; ".join(gpu_names(torch, cupy)) or "none found"),
        f"devices timed: {', '.join(d.name for d in devices)}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions(sknet, torch, cupy).items()),
        f"sknet: git {source_state(sknet)}",
        f"threads: {cfg.threads} (torch.set_num_threads -> {torch_threads}; BLAS "
        "through threadpoolctl)",
        "BLAS (threadpoolctl):",
        *[f"  {b}" for b in blas_info()],
        "load average (1, 5, 15 min) at the start: "
        + ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        f"command: {command}",
    ]
    return lines


def write_markdown(path, header, table, finish, case_text, threads):
    """Append this run's section to ``path``, replacing an earlier one with the same title."""
    places = ", ".join(dict.fromkeys(row[1] + " " + row[2] for row in table.rows))
    title = f"# sknet on array libraries: {places} ({threads} CPU thread{'s' * (threads != 1)})"
    section = [title, ""]
    section += [f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}"
                for line in header]  # fmt: skip
    section += [f"- {finish}", f"- case: {case_text}", "", table.markdown(), ""]
    path = Path(path)
    old = path.read_text().splitlines() if path.exists() else []
    if title in old:  # a rerun on the same kind of machine replaces its section
        start = old.index(title)
        stop = next((i for i in range(start + 1, len(old)) if old[i].startswith("# ")), len(old))
        new = old[:start] + section + old[stop:]
    else:
        new = old + ([""] if old and old[-1].strip() else []) + section
    path.write_text("\n".join(new).rstrip("\n") + "\n")


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer rows (20,000 generated), runs and epochs: about a minute",
    )
    p.add_argument("--dtypes", default=",".join(DTYPES), help="subset of float32,float64")
    p.add_argument(
        "--batch-sizes",
        default=",".join(map(str, BATCH_SIZES)),
        help="comma-separated batch sizes (256,4096)",
    )
    p.add_argument("--runs", type=int, help="alternating runs per row (3; quick: 1)")
    p.add_argument(
        "--epochs", type=int, help="timed epochs per run, after the warm-up (4; quick: 2)"
    )
    p.add_argument("--n-samples", type=int, help="rows generated, 75%% train (100000)")
    p.add_argument(
        "--threads",
        type=int,
        help="torch.set_num_threads and the BLAS "
        "threads (threadpoolctl); default: the cores available",
    )
    p.add_argument(
        "--pause",
        type=float,
        default=0.25,
        help="seconds of sleep before each run (idle threads stop spinning)",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to go idle",
    )
    p.add_argument(
        "--markdown",
        metavar="FILE",
        help="append this run's section to FILE (replacing an earlier run's "
        "section with the same title)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    cfg = p.parse_args(argv)  # fmt: skip
    preset = dict(runs=1, epochs=2, n_samples=20_000) if cfg.quick else dict(
        runs=3, epochs=4, n_samples=100_000
    )  # fmt: skip
    for key, value in preset.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    if cfg.threads is None:
        cfg.threads = n_cpus()
    cfg.dtypes = [d.strip() for d in cfg.dtypes.split(",") if d.strip()]
    for d in cfg.dtypes:
        if d not in DTYPES:
            p.error(f"unknown dtype {d!r}; choose from {', '.join(DTYPES)}")
    try:
        cfg.batch_sizes = [int(b) for b in cfg.batch_sizes.split(",") if b.strip()]
    except ValueError:
        p.error(f"--batch-sizes must be integers, got {cfg.batch_sizes!r}")
    if cfg.runs < 1 or cfg.epochs < 1 or any(b < 1 for b in cfg.batch_sizes):
        p.error("--runs, --epochs and the batch sizes must be at least 1")
    return cfg


def main(argv=None):
    cfg = parse_args(argv)
    with blas_limits(cfg.threads):
        return _main(cfg, argv)


def _main(cfg, argv):
    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv)

    def log(msg):
        if not cfg.quiet:
            print(msg, flush=True)

    sknet = import_sknet()
    if sknet is None:
        print("sknet does not import: nothing to time", file=sys.stderr)
        return 2
    torch = import_torch()
    if torch is not None:
        torch.set_num_threads(cfg.threads)
    cupy = import_cupy()
    devices = find_devices(torch, cupy)
    if cfg.wait_idle > 0:
        wait_idle(cfg.wait_idle, log=log)
    header = header_lines(cfg, sknet, torch, cupy, devices, command)
    print("\n".join(header), flush=True)

    t_start = time.perf_counter()
    case = make_case("wide_clf", cfg.n_samples)
    cfg.n_train = case.X_train.shape[0]
    case_text = case.description.replace(", batch 256", "") + f", alpha {ALPHA:g}, log_loss"
    log(f"\ncase: {case_text}")
    configs = []
    for dtype in cfg.dtypes:
        for batch in cfg.batch_sizes:
            log(f"  {dtype}, batch {batch}")
            configs.append(measure(cfg, sknet, torch, case, devices, dtype, batch, log))
    table, failed = results_table(configs, cfg)
    finish = (
        f"total time: {time.perf_counter() - t_start:.0f} s; load average at the end: "
        + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    )
    print()
    print(table.text())
    print()
    print(finish)
    if cfg.markdown:
        write_markdown(cfg.markdown, header, table, finish, case_text, cfg.threads)
        print(f"wrote a section of {cfg.markdown}")
    if failed:
        print("FAIL: a backend's loss differs from numpy's (see 'check')", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
