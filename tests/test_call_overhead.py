"""What the estimators cost per call outside the fit's arithmetic.

scikit-learn calls ``get_params`` from ``clone``, ``repr``, ``set_params`` and
parameter validation; its checks call it tens of times each. The answers must
stay scikit-learn's; the work behind them is done once.
"""

import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.preprocessing import LabelBinarizer

from sknet import LayeredClassifier, LayeredRegressor


class _WithAnExtraParameter(LayeredRegressor):
    def __init__(self, hidden_layer_sizes=(100,), *, extra=1, **kwargs):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, **kwargs)
        self.extra = extra


def _scikit_learns_param_names(cls):
    return BaseEstimator._get_param_names.__func__(cls)


@pytest.mark.parametrize("cls", [LayeredClassifier, LayeredRegressor, _WithAnExtraParameter])
def test_param_names_are_scikit_learns(cls):
    names = cls._get_param_names()
    assert names == _scikit_learns_param_names(cls)
    names.append("not a parameter")  # the caller's own list
    assert cls._get_param_names() == _scikit_learns_param_names(cls)


def test_a_subclass_constructor_keeps_its_own_names():
    assert "extra" in _WithAnExtraParameter._get_param_names()
    assert "extra" not in LayeredRegressor._get_param_names()
    assert _WithAnExtraParameter(extra=3).get_params()["extra"] == 3
    assert clone(_WithAnExtraParameter(extra=3)).extra == 3


@pytest.mark.parametrize("cls", [LayeredClassifier, LayeredRegressor])
def test_get_params_reads_the_constructor_signature_once(cls, monkeypatch):
    estimator = cls(hidden_layer_sizes=(7,), alpha=0.5)
    estimator.get_params()  # the first call may read it
    reads = []
    signature = inspect.signature

    def counting(obj, *args, **kwargs):
        if getattr(obj, "__name__", None) == "__init__":
            reads.append(obj)
        return signature(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)
    for _ in range(5):
        params = estimator.get_params()
        copy = clone(estimator)
    assert reads == []
    assert params["hidden_layer_sizes"] == (7,) and params["alpha"] == 0.5
    assert copy.get_params() == params


@pytest.mark.parametrize(
    "labels", [np.array([0, 1]), np.array([-1.0, 3.0]), np.array(["no", "yes"]), np.array([7, 9])]
)
def test_binary_targets_are_encoded_as_label_binarizer_does_without_it(labels, monkeypatch):
    # The encoded column is LabelBinarizer's (1 for classes_[1]); the fit no
    # longer calls its transform, which checked the targets again (1.4 ms).
    rng = np.random.default_rng(0)
    y = labels[rng.integers(0, 2, 40)]
    expected = LabelBinarizer().fit(y).transform(y).astype(np.float32)
    calls = []
    transform = LabelBinarizer.transform

    def counting(self, *args, **kwargs):
        calls.append(1)
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(LabelBinarizer, "transform", counting)
    clf = LayeredClassifier()
    Y, _ = clf._encode_targets(y, None, True, None, np.float64)
    assert calls == []
    assert Y.dtype == np.float32 and Y.shape == (40, 1)
    np.testing.assert_array_equal(Y, expected)
    # partial_fit's later calls, with one class only in the batch.
    Y, _ = clf._encode_targets(y[y == labels[1]], None, False, None, np.float64, True)
    np.testing.assert_array_equal(Y, np.ones((int((y == labels[1]).sum()), 1), np.float32))


def test_a_single_batch_epoch_does_not_copy_sparse_x(monkeypatch):
    # A slice of all the rows of a scipy.sparse matrix is a copy: an epoch
    # whose one batch holds every row trains on X itself.
    from scipy import sparse

    from sknet import Network

    rng = np.random.default_rng(0)
    X = sparse.random(60, 5, density=0.4, format="csr", random_state=0)
    Y = rng.normal(size=(60, 1))
    reference = Network(5, random_state=0).add_layer(4, "relu").add_layer(1, "identity")
    reference.fit(X.toarray(), Y, epochs=5, batch_size=60, shuffle=False)
    slices = []
    getitem = type(X).__getitem__

    def counting(self, key):
        slices.append(key)
        return getitem(self, key)

    monkeypatch.setattr(type(X), "__getitem__", counting)
    net = Network(5, random_state=0).add_layer(4, "relu").add_layer(1, "identity")
    net.fit(X, Y, epochs=5, batch_size=60, shuffle=False)
    assert slices == []
    monkeypatch.undo()
    np.testing.assert_allclose(net.predict(X), reference.predict(X.toarray()), rtol=1e-12)
