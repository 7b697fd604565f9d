"""Epoch time of sknet at two commits, run alternately in fresh processes.

Answers "did this change make training slower?" on a noisy machine: each
measurement is a new Python process that imports sknet from one source tree,
times steady ``partial_fit`` epochs of a ``bench_vs_mlp.py`` case, and prints
them; the trees take turns, and the median per tree is compared.

    python benchmarks/compare_commits.py 10a917d HEAD --rounds 5
    python benchmarks/compare_commits.py 10a917d HEAD --rounds 9 --show-rounds

``--show-rounds`` prints each tree's median epoch of every round after the
table: the spread of one tree from one fresh process to the next, which says
how large a ratio the run can resolve.

Each epoch is timed twice: wall-clock (``time.perf_counter``) and the
process's CPU time (``time.process_time``). On an idle machine they agree; on
a shared one the wall clock also counts the time other jobs held the cores,
while CPU time counts only this process's own work (it still grows somewhat
with the cache and memory traffic of other jobs), so its ratio is the steadier
one there. Both ratios are printed.

The fastest epoch of each tree (over every round) is printed too. Interference
from other jobs, and from neighbours on a shared virtual machine, only ever
adds time, so the minimum over many epochs estimates a tree's own cost where
the median still moves by 10-30 % from one run to the next; ``--epochs 11
--rounds 15`` gives each tree 150 epochs of a case.

A commit is checked out once into a temporary git worktree (removed at the
end); a path to a source tree is used as it is. ``--backend numpy`` hides
numba from the children, so the numpy path is timed even where numba is
installed; ``--backend numba`` requires it. ``--backend torch`` times the
array-API path on torch's CPU: a ``Network`` fitted on torch tensors, one
warm-started epoch per call, with the case's layers, batch and learning rate.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r"""
import json, sys, time, warnings
if {hide_numba}:
    sys.modules["numba"] = None
sys.path.insert(0, {tree!r})
sys.path.insert(1, {bench!r})
import numpy as np
import threadpoolctl
import sknet
assert sknet.__file__.startswith({tree!r}), sknet.__file__
from bench_vs_mlp import estimator_params, make_case, partial_fit_epoch
case = make_case({case!r}, n_samples={n_samples}).astype(np.{dtype})
if {torch_network}:
    # The array-API path on torch's CPU: a Network on torch tensors, one
    # warm-started epoch per call (the estimators' hyperparameters).
    import torch
    torch.set_num_threads({threads})
    X = torch.asarray(case.X_train)
    if case.kind == "clf":
        Y = np.zeros((len(case.y_train), len(case.classes)), dtype=case.X_train.dtype)
        Y[np.arange(len(Y)), np.searchsorted(case.classes, case.y_train)] = 1
        loss, output = "log_loss", "softmax"
    else:
        Y, loss, output = case.y_train.reshape(-1, 1), "squared_error", "identity"
    Y = torch.asarray(Y)
    model = sknet.Network(X.shape[1], random_state=0)
    for units in case.hidden:
        model.add_layer(units, "relu")
    model.add_layer(Y.shape[1], output)

    def one_epoch(epoch):
        model.fit(X, Y, loss=loss, epochs=1, batch_size=case.batch_size,
                  learning_rate=case.learning_rate, alpha=1e-4, warm_start=epoch > 0)
else:
    Estimator = sknet.LayeredClassifier if case.kind == "clf" else sknet.LayeredRegressor
    model = Estimator(**estimator_params(case, 1, 0))

    def one_epoch(epoch):
        partial_fit_epoch(model, case, first=epoch == 0)
wall, cpu = [], []
with threadpoolctl.threadpool_limits({threads}, user_api="blas"):
    for epoch in range({epochs}):
        t0, c0 = time.perf_counter(), time.process_time()
        one_epoch(epoch)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
print(json.dumps({{"wall": wall[1:], "cpu": cpu[1:]}}))
"""


def source_tree(ref, keep):
    """A path to sknet's source at ``ref`` (a folder, or a commit checked out for the run)."""
    if Path(ref).is_dir():
        return str(Path(ref).resolve())
    folder = tempfile.mkdtemp(prefix="sknet-compare-")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", folder, ref], check=True
    )
    keep.append(folder)
    return folder


def epoch_times(tree, args, case, dtype):
    code = CHILD.format(
        hide_numba=args.backend in ("numpy", "torch"),
        torch_network=args.backend == "torch",
        tree=tree,
        bench=str(HERE),
        case=case,
        n_samples=args.n_samples,
        dtype=dtype,
        threads=args.threads,
        epochs=args.epochs,
    )
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    if out.returncode:
        raise RuntimeError(f"child for {tree} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the reference commit or source folder")
    parser.add_argument("new", help="the commit or source folder to compare with it")
    parser.add_argument("--cases", default="wide_clf,wide_reg")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--backend", choices=["numpy", "numba", "auto", "torch"], default="numpy")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per tree")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, first excluded")
    parser.add_argument("--n-samples", type=int, default=40_000)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--show-rounds",
        action="store_true",
        help="after the table, each tree's median epoch of every round, in run order: "
        "how far one tree moves from one fresh process to the next",
    )
    args = parser.parse_args(argv)
    if args.backend == "numba":
        import numba  # noqa: F401 - fail early without it

    made = []
    try:
        trees = {"base": source_tree(args.base, made), "new": source_tree(args.new, made)}
        print(
            f"base={args.base} new={args.new} backend={args.backend} "
            f"threads={args.threads} rows={args.n_samples}; load {os.getloadavg()[0]:.2f}"
        )
        print(
            "| case | dtype | base epoch (s) | new epoch (s) | new / base "
            "| base CPU (s) | new CPU (s) | CPU new / base "
            "| base fastest (s) | new fastest (s) | fastest new / base |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        rounds_text = []
        for case in args.cases.split(","):
            for dtype in args.dtypes.split(","):
                samples = {(name, clock): [] for name in trees for clock in ("wall", "cpu")}
                fastest = dict.fromkeys(trees, float("inf"))
                for round_ in range(args.rounds):
                    order = ("base", "new") if round_ % 2 == 0 else ("new", "base")
                    for name in order:
                        times = epoch_times(trees[name], args, case, dtype)
                        for clock in ("wall", "cpu"):
                            samples[name, clock].append(statistics.median(times[clock]))
                        fastest[name] = min(fastest[name], *times["wall"])
                median = {key: statistics.median(values) for key, values in samples.items()}
                base, new = median["base", "wall"], median["new", "wall"]
                base_cpu, new_cpu = median["base", "cpu"], median["new", "cpu"]
                print(
                    f"| {case} | {dtype} | {base:.4f} | {new:.4f} | {new / base:.3f} "
                    f"| {base_cpu:.4f} | {new_cpu:.4f} | {new_cpu / base_cpu:.3f} "
                    f"| {fastest['base']:.4f} | {fastest['new']:.4f} "
                    f"| {fastest['new'] / fastest['base']:.3f} |",
                    flush=True,
                )
                for name in trees:
                    values = samples[name, "wall"]
                    spread = (max(values) - min(values)) / statistics.median(values)
                    rounds_text.append(
                        f"{case} {dtype} {name}: "
                        + " ".join(f"{value:.4f}" for value in values)
                        + f" (max - min: {spread:.1%} of the median)"
                    )
        if args.show_rounds:
            print("\nmedian epoch (s, wall) of each round:")
            print("\n".join(rounds_text))
        print(f"load at the end {os.getloadavg()[0]:.2f}")
    finally:
        for folder in made:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", folder], check=False
            )


if __name__ == "__main__":
    main()
