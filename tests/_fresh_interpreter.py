"""Code run in a fresh Python interpreter, for the tests that need one.

A test needs one when what it checks is the state of a whole process: which
modules an import loads, whether numba's thread pool was started, a resource
limit. Each interpreter costs seconds (Python, numpy, scipy, and scikit-learn
when ``sknet`` itself is imported), so a test that checks only the engine
imports it with :data:`ENGINE_ONLY`, and tests that check the same kind of
state share one interpreter through a session fixture (tests/conftest.py).
"""

import subprocess
import sys
from pathlib import Path

#: The checkout whose sknet the interpreter imports (its working directory).
ROOT = Path(__file__).resolve().parents[1]

#: Code that makes ``import sknet.<module>`` import that module and what it
#: imports, without running sknet/__init__.py (which loads the scikit-learn
#: estimators, and scikit-learn, about 1.5 s).
ENGINE_ONLY = (
    "import importlib.util, sys, types\n"
    "_spec = importlib.util.find_spec('sknet')\n"
    "_package = types.ModuleType('sknet')\n"
    "_package.__path__ = list(_spec.submodule_search_locations)\n"
    "sys.modules['sknet'] = _package\n"
)


def run(code, timeout=300):
    """Run ``code`` with ``python -c`` in this checkout; its stdout (the run must succeed)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout
