"""Test-session set-up shared by the tests and the doctests."""

import os

# scikit-learn runs its array-API check (does enabling array-API dispatch
# leave numpy results unchanged?) only when scipy is in array-API mode; set it
# before scipy is first imported so that the check runs instead of skipping.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
