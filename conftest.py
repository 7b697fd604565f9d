"""Test-session set-up shared by the tests and the doctests."""

import importlib.util
import os

# scikit-learn runs its array-API check (does enabling array-API dispatch
# leave numpy results unchanged?) only when scipy is in array-API mode; set it
# before scipy is first imported so that the check runs instead of skipping.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# The compiled kernels import numba at their top: without numba (an optional
# extra), pytest's doctest collection must not import that module.
if importlib.util.find_spec("numba") is None:
    collect_ignore = ["sknet/_numba_kernels.py"]
