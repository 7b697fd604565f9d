"""``python -m sknet`` prints the comparison table."""

import subprocess
import sys


def test_demo_prints_one_row_per_data_set_and_model():
    result = subprocess.run(
        [sys.executable, "-m", "sknet"], capture_output=True, text=True, check=True, timeout=300
    )
    lines = result.stdout.strip().splitlines()
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
