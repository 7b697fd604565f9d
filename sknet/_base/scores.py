"""The early-stopping validation score, computed every epoch.

scikit-learn's ``accuracy_score`` and ``r2_score`` check their inputs on every
call (the target type, twice, finiteness, shapes, dtypes): on a small hold-out
that is about 1 ms an epoch, several times the cost of the epoch's training
step. The hold-out was checked once, when ``fit`` validated its data, and the
predictions are checked for finiteness before scoring, so the functions here
compute the same numbers as scikit-learn's, bit for bit on numpy, without the
checks: the same comparisons, and the same numpy reductions in the same order.
"""

import numpy as np
from sklearn.metrics import r2_score

from .placement import where


def encoded_accuracy(prediction, Y, sample_weight, multiclass):
    """The (weighted) accuracy of ``prediction`` against encoded targets ``Y``, as a float.

    The labels ``LabelBinarizer.inverse_transform`` would give: the largest
    probability for multiclass outputs, each probability above 0.5 otherwise
    (every label of a row right, for multilabel targets). On numpy, the
    number ``accuracy_score`` gives for those labels (its own
    ``numpy.average`` of the matches); in another namespace it is computed on
    the predictions' device and one number is read.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.scores import encoded_accuracy
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> round(encoded_accuracy(proba, Y, None, multiclass=True), 4)
    0.6667
    """
    xp = where(prediction)[0]
    if multiclass:
        right = xp.argmax(prediction, axis=1) == xp.argmax(Y, axis=1)
    else:
        right = xp.all((prediction > 0.5) == (Y > 0.5), axis=1)
    if isinstance(right, np.ndarray):
        return float(np.average(right, weights=sample_weight))
    right = xp.astype(right, prediction.dtype)
    if sample_weight is None:
        return float(xp.mean(right))
    sample_weight = xp.astype(sample_weight, prediction.dtype)
    return float(xp.sum(right * sample_weight) / xp.sum(sample_weight))


def r2(y, prediction, sample_weight=None):
    """``r2_score(y, prediction, sample_weight=sample_weight)`` for finite, checked inputs.

    On numpy arrays of two rows or more, ``r2_score``'s own arithmetic
    (dtype promotion, the weighted column means, a score of 1 for a perfect
    fit and 0 for a constant column) without its input checks; anything else
    goes to ``r2_score`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet._base.scores import r2
    >>> r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    0.5
    """
    arrays = [array for array in (y, prediction, sample_weight) if array is not None]
    if not all(isinstance(array, np.ndarray) for array in arrays) or len(y) < 2:
        return float(r2_score(y, prediction, sample_weight=sample_weight))
    floating = [array.dtype for array in arrays if array.dtype.kind == "f"]
    dtype = np.result_type(*floating) if floating else np.float64
    y_true = y.astype(dtype, copy=False).reshape(len(y), -1)
    y_pred = prediction.astype(dtype, copy=False).reshape(len(prediction), -1)
    if sample_weight is None:
        weight = 1.0
    else:
        sample_weight = sample_weight.astype(dtype, copy=False).ravel()
        weight = sample_weight[:, None]
    numerator = np.sum(weight * (y_true - y_pred) ** 2, axis=0)
    mean = np.average(y_true, axis=0, weights=sample_weight)
    denominator = np.sum(weight * (y_true - mean) ** 2, axis=0)
    nonzero_numerator, nonzero_denominator = numerator != 0, denominator != 0
    scores = np.ones(y_true.shape[1], dtype=numerator.dtype)
    valid = nonzero_numerator & nonzero_denominator
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[nonzero_numerator & ~nonzero_denominator] = 0.0
    return float(np.average(scores))
