"""Test-session set-up shared by the tests and the doctests."""

import importlib.util
import os

import pytest

# scikit-learn runs its array-API check (does enabling array-API dispatch
# leave numpy results unchanged?) only when scipy is in array-API mode; set it
# before scipy is first imported so that the check runs instead of skipping.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# Modules that import an optional extra at their top: without it, pytest's
# doctest collection must not import them (their tests skip on their own).
_NEEDS = {
    "numba": ["sknet/_numba_kernels.py", "sknet/_numba_backend.py", "sknet/backends/numba.py"],
    "skl2onnx": ["sknet/onnx.py"],
    "matplotlib": ["sknet/plotting.py"],  # its examples draw
}
collect_ignore = [
    path
    for module, paths in _NEEDS.items()
    if importlib.util.find_spec(module) is None
    for path in paths
]


def pytest_collection_modifyitems(config, items):
    # scikit-learn's callback API (sklearn.callback) is new in 1.9; sknet
    # supports older versions without it, where an example that uses it skips.
    if importlib.util.find_spec("sklearn.callback") is not None:
        return
    from _pytest.doctest import DoctestItem

    skip = pytest.mark.skip(reason="the example uses the callback API: scikit-learn >= 1.9")
    for item in items:
        if isinstance(item, DoctestItem) and any(
            "sklearn.callback" in example.source for example in item.dtest.examples
        ):
            item.add_marker(skip)
