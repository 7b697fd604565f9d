"""What the estimators cost per call outside the fit's arithmetic.

scikit-learn calls ``get_params`` from ``clone``, ``repr``, ``set_params`` and
parameter validation; its checks call it tens of times each. The answers must
stay scikit-learn's; the work behind them is done once.
"""

import inspect

import pytest
from sklearn.base import BaseEstimator, clone

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
