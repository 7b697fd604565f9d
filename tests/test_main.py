"""``python -m sknet`` prints the comparison table.

The demo's six fits run once per session (the ``demo_rows`` fixture, which
``tests/test_parity.py`` shares); ``main`` prints them in this process.
"""

import runpy
import sys

import pytest

import sknet
import sknet.__main__ as demo


@pytest.mark.xdist_group("demo_rows")  # one worker computes the session's demo rows
def test_demo_prints_one_row_per_data_set_and_model(demo_rows, monkeypatch, capsys):
    monkeypatch.setattr(demo, "_rows", lambda: iter(demo_rows))
    demo.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["data", "set", "model", "test", "score", "fit", "seconds"]
    rows = [line for line in lines[2:] if line.strip()]
    assert len(rows) == 6
    for data_set in ("digits", "breast cancer", "diabetes"):
        models = [row for row in rows if row.startswith(data_set)]
        assert len(models) == 2
        assert "Layered" in models[0] and "MLP" in models[1]
        # Scores are real: accuracy above 0.9, R² above 0.2 on diabetes.
        scores = [float(row.split()[-2]) for row in models]
        assert min(scores) > (0.2 if data_set == "diabetes" else 0.9)


def test_running_the_package_builds_the_table(monkeypatch):
    # ``python -m sknet`` executes sknet/__main__.py afresh as ``__main__``. Its
    # table comes from the estimators it imports from the package: a stand-in
    # classifier that stops at its first fit shows that running the package
    # starts the table, on digits standardised and split 75/25, without the
    # fits the test above already checks.
    class Stop(Exception):
        pass

    class FirstFit:
        def __init__(self, **params):
            self.params = params

        def fit(self, X, y):
            raise Stop(self.params, X.shape, y.shape, round(X.mean(axis=0).max(), 12))

    monkeypatch.setattr(sknet, "LayeredClassifier", FirstFit)
    # Run as ``-m`` does, not over the module imported above.
    monkeypatch.delitem(sys.modules, "sknet.__main__")
    with pytest.raises(Stop) as stopped:
        runpy.run_module("sknet", run_name="__main__", alter_sys=True)
    assert stopped.value.args == ({"random_state": 0}, (1347, 64), (1347,), 0.0)
