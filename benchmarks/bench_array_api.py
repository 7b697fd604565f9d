"""Time an epoch of sknet on every array library and device present, and check its traffic.

Run from the repository root::

    python benchmarks/bench_array_api.py --quick                # a smoke run, seconds
    python benchmarks/bench_array_api.py --sync-check --quick   # the CI check, on torch CPU
    python benchmarks/bench_array_api.py --sync-check --markdown benchmarks/RESULTS.md

On a GPU machine the last command is the one that produces the GPU rows (see
benchmarks/README.md, "On a GPU machine", for carrying the wheels it needs).

The cases are the wide ones of ``bench_vs_mlp.py``, made with numpy alone: a
classification (100 features, 50 informative, 5 classes; 100 -> (256, 256) -> 5,
relu, softmax with log_loss) and a regression (100 -> (256, 256) -> 1, relu,
identity with squared_error), standardised, 75% of the rows for training; adam at
learning rate 1e-3 and alpha 1e-4 (MLP's L2 penalty); float32; batch 256 and 4096.
Each case runs in four variants:

* plain: ``Network.fit``;
* dropout: ``dropout=0.1`` on both hidden layers;
* weights: ``sample_weight`` drawn uniformly in [0.5, 2);
* estimator: ``LayeredClassifier``/``LayeredRegressor`` with ``early_stopping=True``
  (10% held out, scored every epoch, never stopping early here), under
  scikit-learn's array-API dispatch on a device.

sknet trains where its input lives, so each device is the same call given the data
in another library: numpy arrays (the CPU reference), torch tensors on the CPU and
on CUDA when present, CuPy arrays when CuPy sees a GPU. On each torch device two
hand-written torch loops are the baselines: ``nn.Linear`` layers starting from the
sknet network's initial weights, the same batches, the epoch's loss summed on the
device and read once per epoch, and ``torch.optim.Adam`` with ``foreach=True`` or
with ``fused=True`` (fused Adam runs on CUDA and, from torch 2.4, on the CPU; where
torch refuses it the row says why). The L2 penalty is Adam's coupled weight decay
``alpha / rows`` (the loops of the weights variant add the weighted penalty
``alpha / (2 sum w) ||W||^2`` to the loss instead), dropout is ``nn.Dropout``. The
estimator rows are compared with the plain loops.

An epoch's time is read at its end after synchronising the device; the first epoch
of every run is a warm-up and is excluded; runs alternate the rows; a row's time is
the median of its timed epochs over all runs. Each sknet run on another library is
checked against the numpy run with the same seed (same initial weights, batches,
hold-out and dropout masks): its loss after the last epoch must match numpy's within
1e-2 relative in float32 (1e-6 in float64).

``--sync-check`` checks that nothing crosses between host and device inside an
epoch's steps, for every sknet row and loop on a torch device. A step begins with
the trainer's ``forward_backward`` and the steps of an epoch end at the epoch's
mean loss or its read (the backend's ``mean_loss``, ``read_loss`` or ``read``); the
script wraps those methods to know when it is inside. On every torch device, one
extra fit of two epochs per row, on the rows of its first eight batches, runs under
a counter (a ``TorchFunctionMode`` and a ``TorchDispatchMode``): device -> host
reads (``item``, ``float``, ``bool``, ``numpy``, ``tolist``, copies to the host,
operations whose result's shape depends on the data) and host -> device uploads (an
array made from host data or a Python scalar for a device); any of them inside a
step fails the row, and the reads and uploads of the second epoch outside its steps
are reported. Tensors made on the host for the host (torch's Adam keeps its step
counts there and reads them each step) are not device data and do not count. The
counter is checked first on planted reads and uploads, and the hand-written loops
must pass it. On CUDA, the timed runs' steps then run under
``torch.cuda.set_sync_debug_mode("error")``: a synchronising operation there raises
and fails the row (which is then timed without it).

The script exits with status 1 when a row fails, a loss check or a sync check
fails, and 2 with the reason (the module, the error, and which wheel to carry)
when something it needs does not import. It needs numpy, array-api-compat, sknet
and what sknet imports (scipy, scikit-learn >= 1.9); torch and CuPy are used when
they import, threadpoolctl when installed.
"""

from __future__ import annotations

import os

# The estimators' array-API dispatch needs scipy's; it is read when scipy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
import weakref  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOW_TO_CARRY = "benchmarks/README.md, section 'On a GPU machine'"
# What sknet needs at import, as the distributions to carry. scikit-learn: sknet's
# estimators import sklearn.callback, which scikit-learn 1.9 introduced (the
# pyproject's "scikit-learn>=1.6" is too low for that import).
NEEDS = {  # module: (distribution, lowest version, who needs it)
    "numpy": ("numpy", "1.23", "sknet"),
    "scipy": ("scipy", "1.11", "sknet"),
    "sklearn": ("scikit-learn", "1.9", "sknet"),
    "array_api_compat": ("array-api-compat", "1.9", "sknet"),
    "joblib": ("joblib", "1.4", "scikit-learn 1.9"),
    "threadpoolctl": ("threadpoolctl", "3.5", "scikit-learn 1.9"),
    "narwhals": ("narwhals", "2.0.1", "scikit-learn 1.9"),
    "torch": ("torch", None, "the torch rows"),
}


def _installed(distribution):
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:  # noqa: BLE001 - not installed, or no metadata
        return None


def explain_import_error(what, exc):
    """Why ``what`` does not import, and which wheel to carry: lines of text."""
    lines = [f"{what} does not import: {type(exc).__name__}: {exc}"]
    name = getattr(exc, "name", None) or ""
    top = name.split(".")[0]
    if not top:  # an ImportError without a module name: look in its message
        top = next((module for module in NEEDS if module in str(exc)), "")
    if top in NEEDS:
        distribution, minimum, who = NEEDS[top]
        have = _installed(distribution)
        found = f"{distribution} {have}" if have else f"no {distribution}"
        need = f"{distribution}" + (f" >= {minimum}" if minimum else "") + f" is needed by {who}"
        if top == "sklearn":
            need += " (its estimators import sklearn.callback, new in 1.9)"
        lines.append(f"  module {name or top!r}: {need}; this Python has {found}.")
        lines.append(
            f"  fix: carry the {distribution} wheel"
            + (f" (>= {minimum})" if minimum else "")
            + f" and install it with pip --no-index --target ({HOW_TO_CARRY})."
        )
    else:
        lines.append(f"  ({HOW_TO_CARRY} lists the wheels this script needs.)")
    return lines


try:
    import numpy as np
except Exception as _exc:  # noqa: BLE001 - say why, then stop
    print("\n".join(explain_import_error("numpy", _exc)), file=sys.stderr)
    sys.exit(2)

DTYPES = ("float32", "float64")
BATCH_SIZES = (256, 4096)
TASKS = ("clf", "reg")
VARIANTS = ("plain", "dropout", "weights", "estimator")
TRAINERS = ("sknet", "torch foreach", "torch fused")
HIDDEN = (256, 256)
N_FEATURES, N_INFORMATIVE, N_CLASSES = 100, 50, 5
LEARNING_RATE = 1e-3
ALPHA = 1e-4  # MLP's default L2 penalty, as bench_vs_mlp.py
DROPOUT = 0.1
LOSS_RTOL = {"float32": 1e-2, "float64": 1e-6}
CHECK_EPOCHS = 2  # the traffic of the second epoch is the steady one
CHECK_BATCHES = 8  # a check run trains on the rows of this many batches (what a step
# moves does not depend on how many steps an epoch has; the counter slows torch down)


def import_sknet():
    """This checkout's sknet (not an installed one), or exit 2 saying why."""
    root = str(ROOT)
    if root not in sys.path:
        sys.path.insert(1, root)  # after the script's folder, before site-packages
    try:
        sknet = importlib.import_module("sknet")
    except Exception as exc:  # noqa: BLE001 - say why, then stop
        print("\n".join(explain_import_error("sknet", exc)), file=sys.stderr)
        sys.exit(2)
    return sknet


def import_torch(required):
    """torch, or None after saying why (exit 2 when ``required``)."""
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - no torch, or a broken one
        lines = explain_import_error("torch", exc)
        if required:
            print("\n".join([*lines, "  --sync-check needs torch."]), file=sys.stderr)
            sys.exit(2)
        print("\n".join([*lines, "  no torch rows."]), file=sys.stderr)
        return None
    return torch


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
# The machine (as bench_vs_mlp.py reports it; copied so that this script needs no
# scikit-learn of its own)
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
    keys = ("internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [
        ", ".join(f"{k}={info[k]}" for k in keys if info.get(k) is not None)
        for info in threadpool_info()
    ]


def blas_limits(threads):
    """Context limiting the BLAS libraries to ``threads`` (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def source_state(module):
    """The commit a module's checkout is at, and whether its folder has changes."""
    path = Path(module.__file__).resolve().parent

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return commit + (f" + uncommitted changes in {path.name}/" if dirty else "")


class CpuMonitor:
    """Share of the machine's CPU time used by other processes since ``start``."""

    def __init__(self):
        self._t0 = self._read()

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

    def others(self):
        t1 = self._read()
        if t1 is None or self._t0 is None or t1[0] <= self._t0[0]:
            return None
        busy = (t1[1] - self._t0[1]) - (t1[2] - self._t0[2])
        return min(max(busy / (t1[0] - self._t0[0]), 0.0), 1.0)


def wait_idle(timeout, threshold=0.10, window=2.0, log=print):
    """Wait (up to ``timeout`` s) until other processes use < ``threshold`` of the CPUs."""
    deadline = time.monotonic() + timeout
    while True:
        monitor = CpuMonitor()
        time.sleep(window)
        share = monitor.others()
        if share is None or share < threshold:
            return
        if time.monotonic() >= deadline:
            log(f"machine still busy ({share:.0%} used by others): starting anyway")
            return
        log(f"waiting for an idle machine: others use {share:.0%} of the CPUs")


def settle(pause):
    """Let the previous row's idle BLAS/OpenMP threads stop spinning (see bench_vs_mlp)."""
    if pause:  # a collection takes a good part of a second with torch and sklearn loaded
        gc.collect()
        time.sleep(pause)


def fmt(x, spec=".3f"):
    return "n/a" if x is None else f"{x:{spec}}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


@dataclass
class Table:
    title: str
    headers: list
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def text(self):
        cells = [self.headers, *self.rows]
        widths = [max(len(str(r[i])) for r in cells) for i in range(len(self.headers))]
        lines = [self.title, "=" * len(self.title)]
        for k, row in enumerate(cells):
            lines.append(
                "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines + [f"  {n}" for n in self.notes])

    def markdown(self):
        lines = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |"]
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines + ([""] + [f"- {n}" for n in self.notes] if self.notes else []))


# --------------------------------------------------------------------------------------
# The data, in numpy alone
# --------------------------------------------------------------------------------------


@dataclass
class Case:
    task: str  # "clf" or "reg"
    X: np.ndarray  # training rows, float64, standardised
    y: np.ndarray  # class codes 0..4 (clf) or standardised values (reg)
    weights: np.ndarray  # sample weights for the weights variant
    description: str

    @property
    def n_outputs(self):
        return N_CLASSES if self.task == "clf" else 1


def make_case(task, n_samples, seed=0):
    """The wide classification or regression, 75% of ``n_samples`` rows for training.

    Classification: the class is the arg-max of a random linear map of the 50
    informative features plus Gumbel noise (a softmax model of the labels).
    Regression: a random linear map of all the features plus unit noise.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, N_FEATURES))
    if task == "clf":
        W = rng.standard_normal((N_INFORMATIVE, N_CLASSES)) / np.sqrt(N_INFORMATIVE) * 3
        y = np.argmax(X[:, :N_INFORMATIVE] @ W + rng.gumbel(size=(n_samples, N_CLASSES)), 1)
        text = f"{N_INFORMATIVE} informative, {N_CLASSES} classes; 100 -> (256, 256) -> 5, relu, "
        text += "softmax, log_loss"
    else:
        y = X @ rng.standard_normal(N_FEATURES) + rng.standard_normal(n_samples)
        text = "linear + unit noise; 100 -> (256, 256) -> 1, relu, identity, squared_error"
    train = rng.permutation(n_samples)[: int(0.75 * n_samples)]
    X, y = X[train], y[train]
    X = (X - X.mean(0)) / X.std(0)
    if task == "reg":
        y = (y - y.mean()) / y.std()
    weights = rng.uniform(0.5, 2.0, X.shape[0])
    text = f"{X.shape[0]:_} x {N_FEATURES} training rows, {text}"
    return Case(task, X, y, weights, text)


@dataclass(frozen=True)
class Scenario:
    task: str
    variant: str

    @property
    def name(self):
        return self.task if self.variant == "plain" else f"{self.task} {self.variant}"

    @property
    def loop_variant(self):
        """The variant of the loops this scenario is compared with."""
        return "plain" if self.variant == "estimator" else self.variant


# --------------------------------------------------------------------------------------
# Devices: where the data go, and how to wait for the device
# --------------------------------------------------------------------------------------


@dataclass
class Device:
    library: str
    label: str  # "cpu", "cuda:0", ...
    to_device: object  # host numpy array -> array on the device
    sync: object  # waits until the device has finished its queued work
    torch_device: object = None

    @property
    def name(self):
        return f"{self.library} {self.label}"

    @property
    def cuda(self):
        return self.torch_device is not None and self.torch_device.type == "cuda"


def _no_sync():
    pass


def find_devices(torch, cupy, wanted):
    """Every (library, device) present and asked for, numpy first."""
    devices = [Device("numpy", "cpu", np.ascontiguousarray, _no_sync)]
    if torch is not None:
        places = [torch.device("cpu")]
        if torch.cuda.is_available():
            places.append(torch.device("cuda", torch.cuda.current_device()))
        for where in places:

            def to_device(array, where=where):
                return torch.from_numpy(np.ascontiguousarray(array)).to(where)

            def sync(where=where):
                torch.cuda.synchronize(where)

            devices.append(
                Device(
                    "torch",
                    str(where),
                    to_device,
                    sync if where.type == "cuda" else _no_sync,
                    where,
                )
            )
    if cupy is not None:
        gpu = cupy.cuda.Device()
        devices.append(Device("cupy", f"cuda:{gpu.id}", cupy.asarray, gpu.synchronize))

    def option(device):  # the device's name in --devices
        if device.library == "torch":
            return "torch-cpu" if device.label == "cpu" else "cuda"
        return device.library

    return [device for device in devices if option(device) in wanted]


def gpu_names(torch, cupy):
    names = []
    if torch is not None and torch.cuda.is_available():
        i = torch.cuda.current_device()
        names.append(
            f"cuda:{i} {torch.cuda.get_device_name(i)} (torch {torch.__version__}, CUDA "
            f"{torch.version.cuda}, float32 matmul precision "
            f"{torch.get_float32_matmul_precision()!r})"
        )
    if cupy is not None:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        names.append(f"cupy: {name.decode() if isinstance(name, bytes) else name}")
    return names


@dataclass
class Data:
    """A case on one device: what sknet and the loops are given."""

    X: object
    Y: object  # sknet's targets: one-hot (clf) or a column (reg)
    target: object  # the loops' and estimators' targets: class codes or values
    weights: object


def place(case, device, dtype):
    X = case.X.astype(dtype)
    if case.task == "clf":
        Y = np.eye(N_CLASSES, dtype=dtype)[case.y]
        target = case.y.astype(np.int64)
    else:
        Y = case.y.astype(dtype)[:, None]
        target = case.y.astype(dtype)
    to = device.to_device
    return Data(to(X), to(Y), to(target), to(case.weights.astype(dtype)))


# --------------------------------------------------------------------------------------
# The traffic check: what crosses between host and device inside an epoch's steps
# --------------------------------------------------------------------------------------


class HookError(RuntimeError):
    """sknet no longer has the methods the sync check wraps."""


class StepWindow:
    """Marks the steps of an epoch: opened by each step, closed by the epoch's loss read.

    While open, CUDA's sync debug mode is "error" (with ``strict_cuda``) and the
    counter, if any, files what it sees under "in steps".
    """

    def __init__(self, torch, strict_cuda):
        self.torch = torch
        self.strict_cuda = strict_cuda
        self.is_open = False
        self.steps = 0
        self._previous = 0

    def open(self):
        self.steps += 1
        if self.is_open:
            return
        self.is_open = True
        if self.strict_cuda:
            self._previous = self.torch.cuda.get_sync_debug_mode()
            self.torch.cuda.set_sync_debug_mode("error")

    def close(self):
        if not self.is_open:
            return
        self.is_open = False
        if self.strict_cuda:
            self.torch.cuda.set_sync_debug_mode(self._previous)


# The backend's methods that end an epoch's steps, the first of them to run closes the
# window: the epoch's mean loss and its read (``read``, which every backend has, is
# enough; the others, where sknet has them, keep their work out of the steps).
EPOCH_END = ("mean_loss", "read_loss", "read")


@contextlib.contextmanager
def sknet_step_hooks(window):
    """Open ``window`` at each training step of sknet and close it when the epoch ends."""
    from sknet.backends.array_api import ArrayAPIBackend
    from sknet.training import Trainer

    wanted = ((Trainer, "forward_backward"), (ArrayAPIBackend, "read"))
    missing = [f"{c.__name__}.{m}" for c, m in wanted if not callable(getattr(c, m, None))]
    if missing:
        raise HookError(
            f"sknet has no {', '.join(missing)}: the sync check cannot tell the steps "
            "of an epoch; update sknet_step_hooks in benchmarks/bench_array_api.py"
        )
    step = Trainer.forward_backward

    def forward_backward(self, *args, **kwargs):
        window.open()
        return step(self, *args, **kwargs)

    def closing(method):
        def wrapper(self, *args, **kwargs):
            window.close()
            return method(self, *args, **kwargs)

        return wrapper

    ends = [name for name in EPOCH_END if callable(getattr(ArrayAPIBackend, name, None))]
    own = {name: ArrayAPIBackend.__dict__.get(name) for name in ends}
    Trainer.forward_backward = forward_backward
    for name in ends:
        setattr(ArrayAPIBackend, name, closing(getattr(ArrayAPIBackend, name)))
    try:
        yield
    finally:
        window.close()
        Trainer.forward_backward = step
        for name, method in own.items():
            if method is None:
                delattr(ArrayAPIBackend, name)
            else:
                setattr(ArrayAPIBackend, name, method)


def _where(skip=("bench_array_api.py",)):
    """The innermost frame of sknet (else of the caller) as 'path:line in function'."""
    frames = [f for f in traceback.extract_stack()[:-2] if not f.filename.endswith(skip)]
    inside = [f for f in frames if f"{os.sep}sknet{os.sep}" in f.filename]
    frame = (inside or frames or [None])[-1]
    if frame is None:
        return "?"
    return _frame_text(frame)


def _frame_text(frame):
    """'sknet/module.py:line in function' (from the package's folder on), or the file name."""
    parts = Path(frame.filename).parts
    inside = [i for i, part in enumerate(parts) if part == "sknet"]
    short = "/".join(parts[inside[-1] :]) if inside else parts[-1]
    return f"{short}:{frame.lineno} in {frame.name}"


class _IdSet:
    """A set of live objects by identity (a WeakSet would compare tensors with ``==``)."""

    def __init__(self):
        self._refs = {}

    def add(self, item):
        key, refs = id(item), self._refs

        def forget(ref):
            if refs.get(key) is ref:
                del refs[key]

        refs[key] = weakref.ref(item, forget)

    def discard(self, item):
        if item in self:
            del self._refs[id(item)]

    def __contains__(self, item):
        ref = self._refs.get(id(item))
        return ref is not None and ref() is item


def make_counter(torch):
    """A context manager class counting torch's host <-> device traffic (see the docstring)."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    read_methods = {
        "item",
        "__float__",
        "__int__",
        "__bool__",
        "__index__",
        "__complex__",
        "numpy",
        "__array__",
        "tolist",
    }
    makers = {"asarray", "as_tensor", "tensor", "from_numpy", "new_tensor"}
    aten = torch.ops.aten
    # Operations whose result's shape depends on the data: the host waits for the device.
    shape_reads = {
        getattr(getattr(aten, op, None), "default", None)
        for op in ("nonzero", "masked_select", "_unique2", "unique_consecutive", "unique_dim")
    } - {None}

    class Counter:
        """Counts the traffic of a fit on ``device`` (a torch.device).

        On a GPU a tensor is on the device or on the host, and that decides. On the
        CPU, host and "device" are one, and the counter tells them apart by how a
        tensor was made: from host data (a numpy array, a Python number) without a
        device, or with the device spelled as the string "cpu" (torch's Adam keeps
        its step counts on the host so), it is host data; with a torch.device taken
        from the data (as sknet and array-api-compat pass it), it is an upload.
        """

        def __init__(self, window, device):
            self.window = window
            self.emulated = device.type == "cpu"
            self.host = _IdSet()  # tensors made on the host for the host
            self.in_steps = {"read": 0, "upload": 0}
            self.first = {}  # kind -> where the first one in a step happened
            self.epochs = []  # per epoch: {"read": n, "upload": n} outside the steps
            self._epoch = {"read": 0, "upload": 0}
            self._reading = 0
            counter = self

            def on_device(tensor):  # whether reading ``tensor`` is a device read
                if counter.emulated:
                    return tensor not in counter.host
                return tensor.device.type != "cpu"

            def for_the_device(spec):  # whether ``device=spec`` puts a new tensor there
                if spec is None:
                    return False  # torch's default device: the host
                if counter.emulated:
                    return not (isinstance(spec, str) and spec == "cpu")
                return torch.device(spec).type != "cpu"

            class Functions(TorchFunctionMode):
                def __torch_function__(self, func, types, args=(), kwargs=None):
                    kwargs = kwargs or {}
                    name = getattr(func, "__name__", "")
                    first = args[0] if args else None
                    is_tensor = isinstance(first, torch.Tensor)
                    if name in read_methods and is_tensor and on_device(first):
                        counter.note("read")
                        counter._reading += 1
                        try:
                            return func(*args, **kwargs)
                        finally:
                            counter._reading -= 1
                    if name in {"to", "cuda", "cpu"} and is_tensor:
                        out = func(*args, **kwargs)
                        if out is not first and out.device != first.device:
                            counter.note("read" if out.device.type == "cpu" else "upload")
                        elif first in counter.host and (
                            name == "cuda"
                            or "device" in kwargs
                            or any(isinstance(a, str | torch.device) for a in args[1:])
                        ):
                            counter.note("upload")  # host data sent to "the device"
                        return out
                    out = func(*args, **kwargs)
                    if name in makers and not is_tensor and isinstance(out, torch.Tensor):
                        if for_the_device(kwargs.get("device")):
                            counter.note("upload")
                            counter.host.discard(out)
                        else:
                            counter.host.add(out)
                    return out

            class Ops(TorchDispatchMode):
                def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                    if func is aten.lift_fresh.default:  # a tensor made from host data
                        out = func(*args, **(kwargs or {}))
                        counter.host.add(out)  # torch.from_numpy's stays on the host
                        return out
                    if counter._reading == 0:
                        if func is aten._local_scalar_dense.default:
                            if all(on_device(a) for a in args if isinstance(a, torch.Tensor)):
                                counter.note("read")
                        elif func in shape_reads and any(
                            on_device(a) for a in args if isinstance(a, torch.Tensor)
                        ):
                            counter.note("read")
                    return func(*args, **(kwargs or {}))

            self._modes = (Functions(), Ops())

        def note(self, kind):
            if self.window.is_open:
                self.in_steps[kind] += 1
                self.first.setdefault(kind, _where())
            else:
                self._epoch[kind] += 1

        def end_epoch(self):
            self.epochs.append(self._epoch)
            self._epoch = {"read": 0, "upload": 0}

        def __enter__(self):
            for mode in self._modes:
                mode.__enter__()
            return self

        def __exit__(self, *exc):
            for mode in reversed(self._modes):
                mode.__exit__(*exc)

        def verdict(self):
            """(passed, text) of one check run."""
            steps = self.window.steps
            if steps == 0:
                return False, "FAIL: no step seen (the hooks missed the training steps)"
            steady = self.epochs[-1] if self.epochs else self._epoch
            outside = f"per epoch {steady['read']} reads, {steady['upload']} uploads"
            bad = {k: v for k, v in self.in_steps.items() if v}
            if not bad:
                return True, f"ok: none in {steps} steps; {outside}"
            found = "; ".join(f"{n} {k}s (first at {self.first[k]})" for k, n in bad.items())
            return False, f"FAIL: {found} in {steps} steps; {outside}"

    return Counter


def self_test(torch, counter_class, where):
    """On ``where``, the counter sees planted reads and uploads in a step and outside."""
    window = StepWindow(torch, strict_cuda=False)
    x = torch.ones(3, device=where)
    with counter_class(window, x.device) as counter:
        window.open()
        x.sum().item()  # a read
        np.asarray(x) if x.device.type == "cpu" else x.cpu()  # a read
        torch.asarray(np.ones(3), device=x.device)  # an upload
        torch.from_numpy(np.ones(3)).to(x.device)  # an upload
        x * 2.0 + 1  # Python scalars in operators: neither
        host = torch.tensor(0.0, device="cpu")  # made on the host for the host: neither
        host += 1
        host.item()
        window.close()
        float(x.sum())  # outside the steps
    if counter.in_steps != {"read": 2, "upload": 2} or counter._epoch != {"read": 1, "upload": 0}:
        raise AssertionError(
            f"the traffic counter is wrong on planted traffic on {where}: in steps "
            f"{counter.in_steps}, "
            f"outside {counter._epoch}"
        )


def cuda_self_test(torch, device):
    """On CUDA, a read inside the window raises (the sync debug mode works)."""
    window = StepWindow(torch, strict_cuda=True)
    x = torch.ones(3, device=device.torch_device)
    window.open()
    try:
        x.sum().item()
    except RuntimeError:
        return
    finally:
        window.close()
    raise AssertionError("torch.cuda.set_sync_debug_mode('error') did not stop a read")


def sync_failure(exc):
    """The text of a failed CUDA sync check, or None when ``exc`` is no sync error."""
    if "synchroniz" not in str(exc):
        return None
    # The first sync raised; clean-up code that ran in the error mode may have raised more.
    while exc.__context__ is not None and "synchroniz" in str(exc.__context__):
        exc = exc.__context__
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f"{os.sep}sknet{os.sep}" in f.filename] or frames
    return f"FAIL: a sync inside a step at {_frame_text(inside[-1])}: {str(exc).splitlines()[0]}"


# --------------------------------------------------------------------------------------
# The trainers: sknet (Network or estimator) on some library, the hand-written loops
# --------------------------------------------------------------------------------------


def build_network(sknet, scenario, case, seed):
    """The sknet network and a copy of its generator, positioned where ``fit`` starts."""
    generator = np.random.default_rng(seed)
    net = sknet.Network(N_FEATURES, random_state=generator)
    rate = DROPOUT if scenario.variant == "dropout" else 0.0
    for units in HIDDEN:
        net.add_layer(units, "relu", dropout=rate)
    net.add_layer(case.n_outputs, "softmax" if case.task == "clf" else "identity")
    return net, copy.deepcopy(generator)


@contextlib.contextmanager
def epoch_stamps(sknet, device, stamps, counter=None):
    """Every ``Network.fit`` in the block gets a callback that stamps each epoch's end."""

    def stamp(network, logs):
        device.sync()
        stamps.append(time.perf_counter())
        if counter is not None:
            counter.end_epoch()

    fit = sknet.Network.fit

    def fit_with_stamps(self, *args, callbacks=(), **kwargs):
        return fit(self, *args, callbacks=[*callbacks, stamp], **kwargs)

    sknet.Network.fit = fit_with_stamps
    try:
        yield
    finally:
        sknet.Network.fit = fit


def run_sknet(sknet, scenario, case, data, device, batch, epochs, seed, counter=None):
    """One fit of ``epochs`` epochs; returns (per-epoch seconds, loss of the last epoch)."""
    stamps = []
    with epoch_stamps(sknet, device, stamps, counter):
        device.sync()
        start = time.perf_counter()
        if scenario.variant == "estimator":
            model = fit_estimator(sknet, case.task, data, device, batch, epochs, seed)
            loss = model.loss_curve_[-1]
        else:
            net, _ = build_network(sknet, scenario, case, seed)
            net.fit(
                data.X,
                data.Y,
                loss="log_loss" if case.task == "clf" else "squared_error",
                optimizer="adam",
                epochs=epochs,
                batch_size=batch,
                learning_rate=LEARNING_RATE,
                alpha=ALPHA,
                shuffle=True,
                sample_weight=data.weights if scenario.variant == "weights" else None,
            )
            loss = net.history_["loss"][-1]
    return list(np.diff([start, *stamps])), float(loss)


def fit_estimator(sknet, task, data, device, batch, epochs, seed):
    Estimator = sknet.LayeredClassifier if task == "clf" else sknet.LayeredRegressor
    model = Estimator(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        alpha=ALPHA,
        batch_size=batch,
        learning_rate_init=LEARNING_RATE,
        max_iter=epochs,
        shuffle=True,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=epochs + 1,
        tol=0.0,
        random_state=seed,
    )
    dispatch = contextlib.nullcontext()
    if device.library != "numpy":
        import sklearn  # sknet's own requirement

        dispatch = sklearn.config_context(array_api_dispatch=True)
    from sklearn.exceptions import ConvergenceWarning

    with dispatch, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is reached on purpose
        warnings.filterwarnings("ignore", message="batch_size=.* is larger than")
        return model.fit(data.X, data.target)


def run_torch_loop(
    torch,
    sknet,
    scenario,
    case,
    data,
    device,
    batch,
    epochs,
    seed,
    fused,
    window=None,
    counter=None,
):
    """The training of :func:`run_sknet`'s Network, written by hand in torch."""
    net, order_rng = build_network(sknet, Scenario(case.task, "plain"), case, seed)
    X, y, w = data.X, data.target, data.weights
    dtype, where = X.dtype, device.torch_device
    weighted = scenario.variant == "weights"
    params = net.get_weights()  # [W0, b0, W1, b1, ...], W of shape (in, out)
    modules, decayed, plain = [], [], []
    for W, b in zip(params[::2], params[1::2], strict=True):
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype, device=where)
        with torch.no_grad():  # the network's initial weights
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)).to(where))
            linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)).to(where))
        modules += [linear, torch.nn.ReLU()]
        if scenario.variant == "dropout":
            modules.append(torch.nn.Dropout(DROPOUT))
        decayed.append(linear.weight)
        plain.append(linear.bias)
    model = torch.nn.Sequential(*modules[: -2 if scenario.variant == "dropout" else -1])
    # sknet's (and MLP's) penalty alpha / (2 n) ||W||^2 per batch of n rows has the
    # gradient alpha / n * W: Adam's coupled weight decay alpha / n. A weighted batch
    # divides by its weight sum, a device value: that penalty goes into the loss.
    options = {"fused": True} if fused else {"foreach": True}
    optimizer = torch.optim.Adam(
        [
            {"params": decayed, "weight_decay": 0.0 if weighted else ALPHA / batch},
            {"params": plain, "weight_decay": 0.0},
        ],
        lr=LEARNING_RATE,
        betas=(0.9, 0.999),
        eps=1e-8,
        **options,
    )
    decay_group = optimizer.param_groups[0]
    n = X.shape[0]
    times, loss = [], None
    model.train()
    device.sync()
    start = time.perf_counter()
    for _ in range(epochs):
        # One transfer of the epoch's order; the batches are gathered on the device.
        order = torch.from_numpy(order_rng.permutation(n)).to(where)
        total = torch.zeros((), dtype=dtype, device=where)
        for first in range(0, n, batch):
            if window is not None:
                window.open()
            idx = order[first : first + batch]
            xb, yb = X[idx], y[idx]
            rows = xb.shape[0]
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            if case.task == "clf":
                per_row = torch.nn.functional.cross_entropy(out, yb, reduction="none")
            else:
                per_row = 0.5 * (out[:, 0] - yb) ** 2
            if weighted:
                wb = w[idx]
                total_weight = wb.sum()
                penalty = sum((p * p).sum() for p in decayed)
                batch_loss = ((per_row * wb).sum() + ALPHA / 2 * penalty) / total_weight
            else:
                decay_group["weight_decay"] = ALPHA / rows
                batch_loss = per_row.mean()
            batch_loss.backward()
            optimizer.step()
            total += batch_loss.detach() * rows
        if window is not None:
            window.close()
        loss = float(total) / n  # the one read per epoch
        device.sync()
        if counter is not None:
            counter.end_epoch()
        now = time.perf_counter()
        times.append(now - start)
        start = now
    return times, loss


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: Scenario
    trainer: str  # one of TRAINERS
    device: Device
    dtype: str
    batch: int
    epochs: list = field(default_factory=list)  # steady epoch seconds, all runs
    losses: dict = field(default_factory=dict)  # seed -> loss after the last epoch
    error: str | None = None
    sync: str | None = None  # the sync check's verdict text
    sync_ok: bool | None = None

    @property
    def key(self):
        return (self.scenario, self.trainer, self.device.name)

    @property
    def epoch(self):
        return statistics.median(self.epochs) if self.epochs else None

    @property
    def label(self):
        return (
            f"{self.scenario.name} | {self.trainer} | {self.device.name} | "
            f"{self.dtype} | batch {self.batch}"
        )


def plan_rows(scenarios, devices, dtype, batch):
    rows = []
    for scenario in scenarios:
        for device in devices:
            rows.append(Row(scenario, "sknet", device, dtype, batch))
            if device.torch_device is not None and scenario.variant != "estimator":
                for trainer in TRAINERS[1:]:
                    rows.append(Row(scenario, trainer, device, dtype, batch))
    return rows


class Runner:
    """Runs rows: the timed runs, and with ``sync_check`` the hooks and the check runs."""

    def __init__(self, cfg, sknet, torch, log):
        self.cfg, self.sknet, self.torch, self.log = cfg, sknet, torch, log
        self.counter_class = make_counter(torch) if cfg.sync_check else None

    def fit(self, row, case, data, epochs, seed, window=None, counter=None):
        args = (row.scenario, case, data, row.device, row.batch, epochs, seed)
        if row.trainer == "sknet":
            hooks = sknet_step_hooks(window) if window is not None else contextlib.nullcontext()
            with hooks:
                return run_sknet(self.sknet, *args, counter=counter)
        fused = row.trainer == "torch fused"
        return run_torch_loop(
            self.torch, self.sknet, *args, fused=fused, window=window, counter=counter
        )

    def check(self, row, case, data):
        """The counted two-epoch fit of a row on a torch device: sets ``row.sync``.

        Without CUDA's error mode, which would stop at the first sync: the counter
        counts them all, and the timed runs use the error mode.
        """
        window = StepWindow(self.torch, strict_cuda=False)
        rows = CHECK_BATCHES * row.batch  # slices of device arrays are views: no traffic
        data = Data(data.X[:rows], data.Y[:rows], data.target[:rows], data.weights[:rows])
        try:
            with self.counter_class(window, row.device.torch_device) as counter:
                self.fit(row, case, data, CHECK_EPOCHS, seed=0, window=window, counter=counter)
        except Exception as exc:  # noqa: BLE001 - a failed check is reported, not raised
            row.sync_ok, row.sync = False, f"FAIL: {type(exc).__name__}: {exc}"
            if isinstance(exc, HookError):
                raise
            return
        row.sync_ok, row.sync = counter.verdict()

    def timed(self, row, case, data, seed):
        """One timed run; on CUDA under the sync check, its steps in the error mode.

        A row that failed the check is timed without the error mode (its verdict
        stands), and so is a run stopped by a sync, run again.
        """
        epochs = 1 + self.cfg.epochs
        if self.cfg.sync_check and row.device.cuda and row.sync_ok is not False:
            try:
                window = StepWindow(self.torch, strict_cuda=True)
                return self.fit(row, case, data, epochs, seed, window=window)
            except Exception as exc:
                failure = sync_failure(exc)
                if failure is None:
                    raise
                row.sync_ok, row.sync = False, failure
                self.log(f"    {row.label}: {failure}")
        return self.fit(row, case, data, epochs, seed)


def measure(cfg, runner, cases, scenarios, devices, dtype, batch, log):
    """The check runs, then alternating timed runs of every row of one dtype and batch."""
    rows = plan_rows(scenarios, devices, dtype, batch)
    data, unreachable = {}, {}
    for task, case in cases.items():
        for device in devices:
            try:
                data[task, device.name] = place(case, device, dtype)
            except Exception as exc:  # noqa: BLE001 - report the device and go on
                unreachable[device.name] = f"{type(exc).__name__}: {exc}"
    for row in rows:
        if row.device.name in unreachable:
            row.error = f"the data could not be moved there: {unreachable[row.device.name]}"
    if cfg.sync_check:
        for row in rows:
            if row.error is None and row.device.torch_device is not None:
                runner.check(
                    row, cases[row.scenario.task], data[row.scenario.task, row.device.name]
                )
                log(f"    sync check  {row.label}: {row.sync}")
    monitor = CpuMonitor()
    load_before = os.getloadavg()[0]
    for run in range(cfg.runs):
        for row in rows:
            if row.error is not None:
                continue
            settle(cfg.pause)
            case, placed = cases[row.scenario.task], data[row.scenario.task, row.device.name]
            try:
                times, loss = runner.timed(row, case, placed, seed=run)
            except HookError:
                raise
            except Exception as exc:  # noqa: BLE001 - report the row and go on
                row.error = f"{type(exc).__name__}: {exc}"
                log(f"    run {run} {row.label}: FAILED {row.error}")
                continue
            row.epochs += times[1:]  # the first epoch is the warm-up
            row.losses[run] = loss
            log(
                f"    run {run} {row.label}: epoch {statistics.median(times[1:]) * 1e3:.1f} ms "
                f"(warm-up {times[0] * 1e3:.0f} ms), loss {loss:.6f}"
            )
    busy = monitor.others()
    load = (load_before, os.getloadavg()[0])
    return rows, busy, load


def loss_check(row, reference, dtype):
    """(largest relative difference from numpy's loss over the seeds, passed?)."""
    if row.trainer != "sknet" or row.device.library == "numpy" or reference is None:
        return None, None
    seeds = row.losses.keys() & reference.losses.keys()
    if not seeds:
        return None, None
    worst = max(
        abs(row.losses[s] - reference.losses[s]) / max(abs(reference.losses[s]), 1e-12)
        for s in seeds
    )
    return worst, worst <= LOSS_RTOL[dtype]


def results_table(groups, cfg):
    table = Table(
        f"One epoch, {cfg.n_train:_} training rows, median of {cfg.epochs} epochs x "
        f"{cfg.runs} runs after a warm-up epoch",
        [
            "case",
            "trainer",
            "library",
            "device",
            "dtype",
            "batch",
            "epoch ms",
            "/numpy",
            "/foreach",
            "/fused",
            "loss",
            "vs numpy",
            "check",
            "sync check",
            "load",
            "busy",
        ],
    )
    failed = False
    for rows, busy, load in groups:
        by_key = {row.key: row for row in rows}
        for row in rows:
            numpy_row = by_key.get((row.scenario, "sknet", "numpy cpu"))
            # The loops of this device (CuPy's: torch's on that GPU) and of this case's
            # variant (the estimators': the plain loops).
            loop_case = Scenario(row.scenario.task, row.scenario.loop_variant)
            loop_device = f"torch {row.device.label}"
            loops = [by_key.get((loop_case, t, loop_device)) for t in TRAINERS[1:]]
            ms = None if row.epoch is None else row.epoch * 1e3
            ratios = [
                fmt(
                    ratio(ms, None if other is None or other.epoch is None else other.epoch * 1e3),
                    ".2f",
                )
                for other in (numpy_row, *loops)
            ]
            difference, ok = loss_check(row, numpy_row, row.dtype)
            failed |= ok is False or row.sync_ok is False or row.error is not None
            loss = statistics.median(row.losses.values()) if row.losses else None
            sync = "n/a" if row.sync is None else row.sync.split(":")[0]
            table.rows.append(
                [
                    row.scenario.name,
                    row.trainer,
                    row.device.library,
                    row.device.label,
                    row.dtype,
                    row.batch,
                    fmt(ms, ".1f"),
                    *ratios,
                    fmt(loss, ".5f"),
                    fmt(difference, ".1e"),
                    "n/a" if ok is None else ("ok" if ok else "FAIL"),
                    sync,
                    f"{load[0]:.2f}-{load[1]:.2f}",
                    fmt(busy, ".0%"),
                ]
            )
            if row.error:
                table.notes.append(f"{row.label}: failed: {row.error}")
    table.notes += [
        "/numpy: epoch time over sknet's on numpy arrays (same case, dtype and batch); "
        "/foreach, /fused: over the hand-written torch loop with Adam(foreach=True) or "
        "Adam(fused=True) on the same device (CuPy: torch's on that GPU; the estimator "
        "rows: the plain loops).",
        "loss: of the last epoch, median over runs (sknet's includes the L2 penalty; the "
        "loops' do not, and torch's Adam adds epsilon to sqrt(v_hat) where sknet adds it "
        "to sqrt(v)); the estimator's is its loss_curve_'s last. vs numpy: the largest "
        "relative difference from the numpy run with the same seed; check: within "
        f"{LOSS_RTOL['float32']:g} (float32) or {LOSS_RTOL['float64']:g} (float64).",
        "sync check (--sync-check): ok when nothing crossed between host and device inside "
        "an epoch's steps (the lines 'SYNC ...' below give the counts).",
        "load: 1-minute load average before and after the rows of this dtype and batch; "
        "busy: share of the CPUs used by other processes meanwhile (above ~10% the CPU "
        "times are unreliable).",
    ]
    return table, failed


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def versions(sknet, torch, cupy):
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name, distribution in (
        ("scipy", "scipy"),
        ("sklearn", "scikit-learn"),
        ("array_api_compat", "array-api-compat"),
    ):
        out[distribution] = getattr(sys.modules.get(name), "__version__", "not imported")
    out["torch"] = torch.__version__ if torch is not None else "not installed"
    if torch is not None and torch.version.cuda:
        out["CUDA (torch)"] = torch.version.cuda
    out["cupy"] = cupy.__version__ if cupy is not None else "not used (no import or no GPU)"
    out["sknet"] = getattr(sknet, "__version__", "?")
    return out


def header_lines(cfg, sknet, torch, cupy, devices, command):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    torch_threads = torch.get_num_threads() if torch is not None else "n/a"
    fused_cpu = "n/a"
    if torch is not None:
        fused_cpu = "yes" if fused_adam_works(torch, torch.device("cpu")) else "no"
    inside = Path(sknet.__file__).resolve().is_relative_to(ROOT)
    return [
        f"date: {now}",
        f"machine: {platform.node()}, {cpu_model()}, {n_cpus()} cores (nproc)",
        "GPU: " + ("; ".join(gpu_names(torch, cupy)) or "none found"),
        f"devices timed: {', '.join(d.name for d in devices)}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions(sknet, torch, cupy).items()),
        f"sknet: {'this checkout' if inside else 'an installed copy'}, git {source_state(sknet)}",
        f"torch's fused Adam on the CPU: {fused_cpu}",
        f"threads: {cfg.threads} (torch.set_num_threads -> {torch_threads}; BLAS through "
        "threadpoolctl)",
        "BLAS (threadpoolctl):",
        *[f"  {b}" for b in blas_info()],
        "load average (1, 5, 15 min) at the start: "
        + ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        f"command: {command}",
    ]


def fused_adam_works(torch, where):
    try:
        p = torch.nn.Parameter(torch.ones(2, device=where))
        optimizer = torch.optim.Adam([p], fused=True)
        p.sum().backward()
        optimizer.step()
    except Exception:  # noqa: BLE001 - this torch refuses fused Adam on that device
        return False
    return True


def write_markdown(path, header, table, finish, cases_text, threads):
    """Append this run's section to ``path``, replacing an earlier one with the same title."""
    places = ", ".join(dict.fromkeys(row[2] + " " + row[3] for row in table.rows))
    title = f"# sknet on array libraries: {places} ({threads} CPU thread{'s' * (threads != 1)})"
    section = [title, ""]
    section += [
        f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}" for line in header
    ]
    section += [f"- {finish}", *[f"- case: {t}" for t in cases_text], "", table.markdown(), ""]
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


def _choices(p, text, allowed, option):
    items = [t.strip() for t in text.split(",") if t.strip()]
    for item in items:
        if item not in allowed:
            p.error(f"{option}: unknown {item!r}; choose from {', '.join(allowed)}")
    return items


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="1,000 rows, one run of one timed epoch, no pauses: seconds",
    )
    p.add_argument(
        "--sync-check",
        action="store_true",
        help="fail on any host <-> device traffic inside an epoch's steps "
        "(see the module docstring)",
    )
    p.add_argument("--dtypes", default="float32", help="float32 and/or float64 (float32)")
    p.add_argument(
        "--batch-sizes",
        default=",".join(map(str, BATCH_SIZES)),
        help="comma-separated batch sizes (256,4096)",
    )
    p.add_argument("--tasks", default=",".join(TASKS), help="clf and/or reg (both)")
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"a subset of {','.join(VARIANTS)} (all)"
    )
    p.add_argument(
        "--devices",
        default="numpy,torch-cpu,cuda,cupy",
        help="a subset of numpy,torch-cpu,cuda,cupy, those present (all)",
    )
    p.add_argument("--runs", type=int, help="alternating runs per row (3; quick: 1)")
    p.add_argument(
        "--epochs", type=int, help="timed epochs per run after the warm-up (4; quick: 1)"
    )
    p.add_argument("--n-samples", type=int, help="rows generated, 75%% train (100000)")
    p.add_argument(
        "--threads",
        type=int,
        help="torch.set_num_threads and the BLAS threads "
        "(threadpoolctl); default: the cores available",
    )
    p.add_argument("--pause", type=float, help="seconds of sleep before each run (0.25; quick: 0)")
    p.add_argument(
        "--markdown",
        metavar="FILE",
        help="append this run's section to FILE "
        "(replacing an earlier run's section with the same title)",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to go idle",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    cfg = p.parse_args(argv)
    preset = (
        dict(runs=1, epochs=1, n_samples=1_000, pause=0.0)
        if cfg.quick
        else dict(runs=3, epochs=4, n_samples=100_000, pause=0.25)
    )
    for key, value in preset.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    if cfg.threads is None:
        cfg.threads = n_cpus()
    cfg.dtypes = _choices(p, cfg.dtypes, DTYPES, "--dtypes")
    cfg.tasks = _choices(p, cfg.tasks, TASKS, "--tasks")
    cfg.variants = _choices(p, cfg.variants, VARIANTS, "--variants")
    cfg.devices = _choices(p, cfg.devices, ("numpy", "torch-cpu", "cuda", "cupy"), "--devices")
    try:
        cfg.batch_sizes = [int(b) for b in cfg.batch_sizes.split(",") if b.strip()]
    except ValueError:
        p.error(f"--batch-sizes must be integers, got {cfg.batch_sizes!r}")
    if cfg.runs < 1 or cfg.epochs < 1 or any(b < 1 for b in cfg.batch_sizes):
        p.error("--runs, --epochs and the batch sizes must be at least 1")
    if cfg.n_samples < 100:
        p.error("--n-samples must be at least 100")
    return cfg


def main(argv=None):
    cfg = parse_args(argv)
    sknet = import_sknet()
    torch = import_torch(required=cfg.sync_check)
    with blas_limits(cfg.threads):
        return _main(cfg, argv, sknet, torch)


def _main(cfg, argv, sknet, torch):
    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv)

    def log(msg):
        if not cfg.quiet:
            print(msg, flush=True)

    if torch is not None:
        torch.set_num_threads(cfg.threads)
    cupy = import_cupy() if "cupy" in cfg.devices else None
    devices = find_devices(torch, cupy, cfg.devices)
    if cfg.wait_idle > 0:
        wait_idle(cfg.wait_idle, log=log)
    header = header_lines(cfg, sknet, torch, cupy, devices, command)
    print("\n".join(header), flush=True)
    runner = Runner(cfg, sknet, torch, log)
    if cfg.sync_check:
        for device in devices:
            if device.torch_device is not None:
                self_test(torch, runner.counter_class, device.torch_device)
            if device.cuda:
                cuda_self_test(torch, device)
        log("sync check: the counter found the planted read and upload")

    t_start = time.perf_counter()
    cases = {task: make_case(task, cfg.n_samples) for task in cfg.tasks}
    cfg.n_train = next(iter(cases.values())).X.shape[0]
    cases_text = [
        f"{case.description}; adam, lr {LEARNING_RATE:g}, alpha {ALPHA:g}"
        for case in cases.values()
    ]
    for text in cases_text:
        log(f"case: {text}")
    scenarios = [Scenario(task, variant) for task in cfg.tasks for variant in cfg.variants]
    groups = []
    for dtype in cfg.dtypes:
        for batch in cfg.batch_sizes:
            log(f"  {dtype}, batch {batch}")
            try:
                groups.append(measure(cfg, runner, cases, scenarios, devices, dtype, batch, log))
            except HookError as exc:
                print(f"FAIL: {exc}", file=sys.stderr)
                return 1
    table, failed = results_table(groups, cfg)
    finish = (
        f"total time: {time.perf_counter() - t_start:.0f} s; load average at the end: "
        + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    )
    print()
    print(table.text())
    if cfg.sync_check:
        print()
        for rows, _, _ in groups:
            for row in rows:
                if row.sync is not None:
                    print(f"SYNC {'ok  ' if row.sync_ok else 'FAIL'} {row.label}: {row.sync}")
    print()
    print(finish)
    if cfg.markdown:
        write_markdown(cfg.markdown, header, table, finish, cases_text, cfg.threads)
        print(f"wrote a section of {cfg.markdown}")
    if failed:
        print(
            "FAIL: a row failed, a loss differs from numpy's or a sync check failed (see "
            "the notes, 'check', 'sync check' and the SYNC lines)",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
