"""The classifier's labels: checks, the move to the host, class balance.

What :class:`~sknet.LayeredClassifier` does with ``y`` before and after the
network sees it (the network sees one-hot or indicator columns).

Examples
--------
>>> import numpy as np
>>> from sknet._base.labels import _balanced
>>> _balanced(np.array([0, 0, 0, 1]), np.ones(4))  # each class weighs 2 in all
array([0.66666667, 0.66666667, 0.66666667, 2.        ])
"""

import numpy as np
from array_api_compat import is_array_api_obj
from scipy import sparse

from .placement import on_host

__all__ = []


def _balanced(codes, sample_weight):
    """Weights giving every class present the same total sample weight."""
    totals = np.bincount(codes, weights=sample_weight)
    present = totals > 0
    per_class = np.zeros_like(totals)
    per_class[present] = totals.sum() / (present.sum() * totals[present])
    return per_class[codes].astype(sample_weight.dtype)


def _is_missing(label):
    if label is None or type(label).__name__ in ("NAType", "NaTType"):  # pandas' NA, NaT
        return True
    return isinstance(label, (float, np.floating)) and label != label  # NaN


def _labels_to_host(labels):
    """Class labels (``y`` or ``classes``) of another array library as numpy, on the host.

    Labels are encoded on the host and ``classes_`` is a numpy array, whatever
    library and device ``X`` and ``y`` come from. Lists and pandas objects
    pass through unchanged (their checks need them as they are).
    """
    if is_array_api_obj(labels) and not isinstance(labels, np.ndarray):
        return on_host(labels)
    return labels


def _check_labels(y, name="y"):
    """Refuse missing class labels, and labels mixing strings and numbers.

    Without this check, numpy turns a list mixing them into strings (1
    becomes "1") and sorting an object array of them fails with a TypeError.
    """
    if y is None or sparse.issparse(y):
        return  # validate_data explains
    if is_array_api_obj(y) and not isinstance(y, np.ndarray):
        return  # arrays of other libraries hold numbers, never objects
    values = y
    if not isinstance(y, np.ndarray):
        try:  # a list or pandas object, as it is: no conversion to strings
            values = np.asarray(y, dtype=object)
        except (TypeError, ValueError):
            return  # ragged or stranger: validate_data explains
    if values.dtype != object:
        return
    flat = values.ravel()
    types = set(map(type, flat))
    maybe_missing = (type(None), float, np.floating)
    if any(issubclass(t, maybe_missing) or t.__name__ in ("NAType", "NaTType") for t in types):
        rows = [i for i, label in enumerate(flat) if _is_missing(label)]
        if rows:
            raise ValueError(
                f"{name} has missing class labels (None, NaN or pd.NA) in {len(rows)} "
                f"row(s), the first at index {rows[0]}. Every sample needs a class label: "
                "drop those rows or give them one."
            )
    is_text = [issubclass(t, (str, bytes)) for t in types]
    if any(is_text) and not all(is_text):
        text = next(label for label in flat if isinstance(label, (str, bytes)))
        other = next(label for label in flat if not isinstance(label, (str, bytes)))
        raise ValueError(
            f"{name} mixes string and non-string class labels (e.g. {text!r} and {other!r}); "
            "labels must be all strings or all numbers. Convert them to one type first, "
            "e.g. with astype(str)."
        )
