"""Profile one sknet fit of the wide classification case under cProfile.

Run from the repository root::

    python benchmarks/profile_epoch.py                    # float32, 3 epochs
    python benchmarks/profile_epoch.py --dtype float64 --epochs 5 --top 40

It builds the ``wide_clf`` case of ``bench_vs_mlp.py`` (100,000 x 100,
5 classes, 75% train; 100 -> (256, 256) -> 5, relu, adam, batch 256), times one
plain ``LayeredClassifier.fit`` (no profiler), then fits again under cProfile
and prints the top functions by tottime, and the floor (one step's matrix
products in numpy, times the steps) for comparison. ``--engine`` profiles
``sknet.Network.fit`` directly instead of the estimator (it is also the
fallback while the estimators do not import).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vs_mlp import (  # noqa: E402
    CpuMonitor,
    Floor,
    estimator_params,
    fmt,
    import_sknet,
    make_case,
    wait_idle,
)


def engine_fit(sknet, case, epochs, seed):
    """Fit the engine's Network as the estimator would: softmax + log loss."""
    net = sknet.Network(case.X_train.shape[1], random_state=seed)
    for units in case.hidden:
        net.add_layer(units, activation="relu")
    net.add_layer(len(case.classes), activation="softmax")
    Y = (case.y_train[:, None] == case.classes[None, :]).astype(case.X_train.dtype)
    net.fit(
        case.X_train, Y, loss="log_loss", optimizer="adam", epochs=epochs,
        batch_size=case.batch_size, learning_rate=case.learning_rate, alpha=1e-4,
    )  # fmt: skip
    return net


def blas_pools():
    """The BLAS libraries loaded in this process, one line each (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed"]
    return [
        f"{i['internal_api']} {i.get('version')} threads={i['num_threads']} {i['filepath']}"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]


def pool_check(dtype, reps=100):
    """Time numpy matmuls alone, then interleaved with a scipy BLAS call.

    numpy and scipy each ship their own OpenBLAS, with their own thread pools.
    When calls alternate between the two, each pool's idle threads busy-wait
    while the other pool works, and on a 2-core machine each switch can cost
    milliseconds. Returns microseconds per iteration: (alone, interleaved).
    """
    from scipy.linalg.blas import get_blas_funcs

    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256)).astype(dtype)
    b = rng.standard_normal((256, 256)).astype(dtype)
    out = np.empty((256, 256), dtype=dtype)
    x = rng.standard_normal(92_000).astype(dtype)
    y = np.zeros_like(x)
    axpy = get_blas_funcs("axpy", (x,))

    def timed(step):
        step()
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        return (time.perf_counter() - t0) / reps * 1e6

    def alone():
        np.matmul(a, b, out=out)

    def interleaved():
        np.matmul(a, b, out=out)
        axpy(x, y, a=1e-4)

    return timed(alone), timed(interleaved)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-samples", type=int, default=100_000)
    p.add_argument("--top", type=int, default=25, help="functions to list (25)")
    p.add_argument("--sort", default="tottime", help="pstats sort key (tottime)")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to go idle",
    )
    p.add_argument(
        "--no-pool-check", action="store_true", help="skip the numpy/scipy BLAS thread-pool check"
    )
    p.add_argument("--engine", action="store_true",
                   help="profile sknet.Network.fit rather than the estimator")  # fmt: skip
    args = p.parse_args(argv)

    sknet = import_sknet()
    if sknet is None:
        try:
            import sknet
        except Exception as exc:  # noqa: BLE001
            print(f"sknet does not import: {type(exc).__name__}: {exc}")
            return 1
        args.engine = True
        print("sknet's estimators do not import: profiling the engine instead")

    case = make_case("wide_clf", args.n_samples).astype(args.dtype)
    if args.wait_idle > 0:
        wait_idle(args.wait_idle)
    monitor = CpuMonitor()
    if args.engine:
        label = "sknet.Network.fit"

        def run():
            return engine_fit(sknet, case, args.epochs, 0)
    else:
        label = "sknet.LayeredClassifier.fit"

        def run():
            est = sknet.LayeredClassifier(**estimator_params(case, args.epochs, 0))
            return est.fit(case.X_train, case.y_train)

    print(f"{label}: wide_clf, {args.dtype}, {args.epochs} epochs, "
          f"{case.X_train.shape[0]:_} training rows, numpy {np.__version__}")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()  # warm-up (first-use costs)
        t0 = time.perf_counter()
        run()
        plain = time.perf_counter() - t0
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        run()
        profiler.disable()
        profiled = time.perf_counter() - t0

    floor = Floor(case, args.dtype)
    for _ in range(3):
        floor.measure()
    per_epoch = plain / args.epochs
    print(f"plain fit: {plain:.3f} s = {per_epoch * 1e3:.1f} ms per epoch "
          f"(includes validation and set-up)")  # fmt: skip
    print(f"profiled fit: {profiled:.3f} s (cProfile adds overhead per Python call)")
    print(f"floor: {floor.epoch * 1e3:.1f} ms per epoch ({floor.steps} steps of 8 "
          f"matrix products); floor / plain epoch = {floor.epoch / per_epoch:.2f}")  # fmt: skip
    print(f"other processes used {fmt(monitor.others(), '.0%')} of the CPUs meanwhile")
    print("BLAS libraries loaded:")
    for line in blas_pools():
        print(f"  {line}")
    if not args.no_pool_check:
        alone, mixed = pool_check(args.dtype)
        print(f"pool check: 256x256 matmul alone {alone:.0f} us; followed each time "
              f"by a scipy.linalg.blas axpy (92,000 values) {mixed:.0f} us")  # fmt: skip
    print()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(args.sort).print_stats(args.top)
    text = out.getvalue()
    # drop pstats' preamble up to the column header
    start = text.find("   ncalls")
    print(text[start:] if start >= 0 else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
