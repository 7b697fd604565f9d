"""``benchmarks/bench_array_api.py --sync-check --quick`` on torch's CPU: its rows and checks.

The script is the one command that produces the GPU rows on a GPU machine; here it
runs at its quick size on the CPU, where its traffic counter stands in for CUDA's
sync debug mode. No timing is asserted.
"""

import contextlib
import importlib.util
import io
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# Without torch, this file skips; torch itself is imported by the script, in
# the worker that runs it (at collection, every worker would pay for it).
if importlib.util.find_spec("torch") is None:
    pytest.skip("the script's rows need torch", allow_module_level=True)
# Under ``-n auto --dist loadgroup`` one worker runs the script once for the
# whole module, instead of each worker running it for its share of the tests,
# and it is the worker that runs the other torch tests (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("torch")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_array_api.py"

TASKS = ("clf", "reg")
LOOPED = ("plain", "dropout", "weights")  # the variants with hand-written loops
TRAINERS = ("sknet", "torch foreach", "torch fused")
BATCHES = ("256", "4096")
SYNC_LINE = re.compile(
    r"^SYNC (ok  |FAIL) (?P<case>.+?) \| (?P<trainer>.+?) \| (?P<device>.+?) \| "
    r"(?P<dtype>\S+) \| batch (?P<batch>\d+): (?P<text>.*)$"
)


def _case(task, variant):
    return task if variant == "plain" else f"{task} {variant}"


@pytest.fixture(scope="module")
def run():
    """The script's ``main`` with the command's arguments, run in this process.

    Its ``__main__`` block is only ``sys.exit(main())``: calling ``main`` runs
    the command's code, without paying for a new interpreter and its imports
    of scikit-learn, sknet and torch, which this worker has made already.
    What it prints is captured as the command's output would be.
    """
    spec = importlib.util.spec_from_file_location("bench_array_api_under_test", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # its dataclasses look their module up there
    spec.loader.exec_module(script)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            # One thread: torch and BLAS threads that wait for each other on a
            # shared machine make a run many times slower.
            code = script.main(["--sync-check", "--quick", "--threads", "1"])
        except SystemExit as exit_:
            code = exit_.code
    return SimpleNamespace(returncode=code or 0, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.fixture(scope="module")
def sync_lines(run):
    lines = {}
    for line in run.stdout.splitlines():
        match = SYNC_LINE.match(line)
        if match:
            key = (match["case"], match["trainer"], match["device"], match["batch"])
            lines[key] = (line.startswith("SYNC ok"), match["text"])
    return lines


@pytest.fixture(scope="module")
def table(run):
    """The results table's rows: (case, trainer, library device, batch) -> cells."""
    rows = {}
    for line in run.stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 16 and cells[4] == "float32":
            rows[cells[0], cells[1], f"{cells[2]} {cells[3]}", cells[5]] = cells
    return rows


def test_it_runs_with_the_counter_checked(run):
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "sync check: the counter found the planted read and upload" in run.stdout
    assert "devices timed: numpy cpu, torch cpu" in run.stdout


def test_every_row_is_there_and_ran(table):
    expected = []
    for task in TASKS:
        for batch in BATCHES:
            for variant in (*LOOPED, "estimator"):
                expected.append((_case(task, variant), "sknet", "numpy cpu", batch))
                expected.append((_case(task, variant), "sknet", "torch cpu", batch))
            for variant in LOOPED:
                for trainer in TRAINERS[1:]:
                    expected.append((_case(task, variant), trainer, "torch cpu", batch))
    assert sorted(table) == sorted(expected)
    for key, cells in table.items():
        epoch_ms, over_numpy = cells[6], cells[7]
        assert float(epoch_ms) > 0, key
        assert float(over_numpy) > 0, key
        if key[1] == "sknet" and key[2] == "torch cpu":
            # The same random_state gives the same model as numpy's.
            assert cells[12] == "ok", (key, cells)
            assert float(cells[11]) < 1e-2, (key, cells)


def test_no_traffic_inside_the_steps(run, sync_lines):
    expected = set()
    for task in TASKS:
        for batch in BATCHES:
            expected.add((_case(task, "estimator"), "sknet", "torch cpu", batch))
            for variant in LOOPED:
                for trainer in TRAINERS:
                    expected.add((_case(task, variant), trainer, "torch cpu", batch))
    assert set(sync_lines) == expected
    for (case, trainer, _, batch), (ok, text) in sync_lines.items():
        steps = int(re.search(r"in (\d+) steps", text)[1])
        assert steps == (6 if batch == "256" else 2), text  # 750 rows, two epochs
        # The hand-written loops validate the counter; sknet's rows, dropout
        # included (its masks are drawn on the device), must show the same.
        assert ok and text.startswith("ok: none in"), (case, trainer, batch, text)
    assert run.returncode == 0, run.stderr


def test_the_loops_read_once_and_upload_the_order_once_per_epoch(sync_lines):
    # The counter's per-epoch numbers, on the loops whose traffic is known: the
    # epoch's loss is read once; the order is sent once when the rows are shuffled
    # (batch 256 of 750 rows), and with batch 4096 too (the loops always shuffle).
    for (case, trainer, _, batch), (_, text) in sync_lines.items():
        if trainer != "sknet":
            assert text.endswith("per epoch 1 reads, 1 uploads"), (case, trainer, batch, text)
