"""Registries: names to objects and back, by what an object is, never by identity.

A model that went through pickle, ``copy.deepcopy``, joblib, skops or a joblib
worker holds new activation objects; they must still be recognised as the
registered ones, so that the model can be saved.
"""

import copy
import pickle

import joblib
import numpy as np
import pytest
from sklearn.model_selection import cross_validate

from sknet import SGD, Adam, LayeredClassifier, LayeredRegressor, Network
from sknet._registry import lookup, registered_name
from sknet.activations import ACTIVATIONS, LeakyReLU, ReLU, activation_name
from sknet.losses import LOSSES, HuberLoss, loss_name
from sknet.optimizers import LBFGS, OPTIMIZERS

# Every activation a hidden layer can have (the output ones come with the estimators).
HIDDEN = ["relu", "tanh", "logistic", "leaky_relu", "elu", "softplus", "gelu", "identity"]


def _pickle(obj):
    return pickle.loads(pickle.dumps(obj))


def _joblib(obj, tmp_path):
    joblib.dump(obj, tmp_path / "model.joblib")
    return joblib.load(tmp_path / "model.joblib")


def _skops(obj):
    sio = pytest.importorskip("skops.io")
    data = sio.dumps(obj)
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data))


ROUND_TRIPS = {
    "pickle": lambda obj, tmp_path: _pickle(obj),
    "deepcopy": lambda obj, tmp_path: copy.deepcopy(obj),
    "joblib": _joblib,
    "skops": lambda obj, tmp_path: _skops(obj),
}


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_copies_of_registered_objects_keep_their_name(how):
    for name, activation in ACTIVATIONS.items():
        clone = ROUND_TRIPS[how](activation, None)
        assert clone is not activation
        # "logistic" is an alias: its object is the sigmoid, saved as "sigmoid".
        expected = "sigmoid" if name == "logistic" else name
        assert activation_name(clone) == activation.name == expected
    for name, loss in LOSSES.items():
        clone = ROUND_TRIPS[how](loss, None)
        assert clone is not loss
        assert loss_name(clone) == name


def test_equal_configuration_is_registered_another_is_not():
    assert activation_name(ReLU()) == "relu"
    assert activation_name(LeakyReLU(slope=0.01)) == "leaky_relu"
    assert activation_name(LeakyReLU(slope=0.3)) is None
    assert loss_name(HuberLoss(delta=1.0)) == "huber"
    assert loss_name(HuberLoss(delta=0.5)) is None

    class MyReLU(ReLU):
        pass

    # A subclass may compute something else under the same name.
    assert activation_name(MyReLU()) is None
    # A changed setting on a copy is seen too.
    changed = copy.deepcopy(ACTIVATIONS["leaky_relu"])
    changed.slope = 0.2
    assert activation_name(changed) is None
    extra = ReLU()
    extra.note = "mine"
    assert activation_name(extra) is None


def test_optimizer_registry_holds_classes_that_survive_copies():
    # The optimizers' registry maps names to classes, which pickle by reference.
    for name, cls in OPTIMIZERS.items():
        assert registered_name(OPTIMIZERS, _pickle(cls)) == name
        assert lookup(OPTIMIZERS, name.upper(), "optimizer") is cls
    assert registered_name(OPTIMIZERS, SGD()) is None  # an instance is not its class
    assert type(_pickle(Adam())) is Adam and type(copy.deepcopy(LBFGS())) is LBFGS


def test_values_without_one_truth_value_are_not_equal():
    class Holder:
        def __init__(self, weights):
            self.weights = weights

    registry = {"holder": Holder(np.zeros(3))}
    assert registered_name(registry, registry["holder"]) == "holder"
    assert registered_name(registry, Holder(np.zeros(3))) is None
    assert registered_name(registry, Holder(None)) is None


def _estimators(X, y):
    return {
        "classifier": (
            LayeredClassifier((8, 6, 4, 4), activation=HIDDEN[:4], max_iter=30, random_state=0),
            X,
            y,
        ),
        "regressor": (
            LayeredRegressor(
                hidden_layer_sizes=(8, 6, 4, 4),
                activation=HIDDEN[4:],
                max_iter=30,
                random_state=0,
            ),
            X[:, 1:],
            X[:, 0],
        ),
        "poisson, lbfgs": (
            LayeredRegressor("poisson", (6,), solver="lbfgs", max_iter=20, random_state=0),
            X,
            y,
        ),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("case", ["classifier", "regressor", "poisson, lbfgs"])
def test_a_copied_estimator_can_be_saved_and_loads_the_same(case, how, tmp_path, iris):
    model, X, y = _estimators(*iris)[case]
    model.fit(X, y)
    copied = ROUND_TRIPS[how](model, tmp_path)
    copied.network_.save(tmp_path / "model.npz")
    loaded = Network.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), model.network_.predict(X))
    names = [type(layer.activation).__name__ for layer in loaded.layers]
    assert names == [type(layer.activation).__name__ for layer in model.network_.layers]


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
def test_a_copied_network_can_be_saved_and_loads_the_same(how, tmp_path, iris):
    X, y = iris
    net = Network(4, random_state=0)
    for name in HIDDEN:
        net.add_layer(5, name)
    net.add_layer(3, "softmax")
    net.layers[3].activation = LeakyReLU(slope=0.01)  # equal to the registered one
    net.fit(X, np.eye(3)[y], loss="log_loss", epochs=3)
    copied = ROUND_TRIPS[how](net, tmp_path)
    copied.save(tmp_path / "model.npz")
    loaded = Network.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_a_leaky_relu_of_another_slope_is_still_refused(tmp_path):
    net = Network(2, random_state=0).add_layer(3, LeakyReLU(slope=0.3)).add_layer(1, "identity")
    with pytest.raises(ValueError, match="only registered activations"):
        _pickle(net).save(tmp_path / "model.npz")


@pytest.mark.xdist_group("loky_pool")  # one worker starts joblib's process pool, once
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimators_from_joblib_workers_can_be_saved(tmp_path, iris):
    X, y = iris
    model = LayeredClassifier((8,), activation="tanh", max_iter=20, random_state=0)
    result = cross_validate(model, X, y, cv=2, n_jobs=2, return_estimator=True)
    for i, fitted in enumerate(result["estimator"]):
        fitted.network_.save(tmp_path / f"fold{i}.npz")
        loaded = Network.load(tmp_path / f"fold{i}.npz")
        np.testing.assert_array_equal(loaded.predict(X), fitted.network_.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_deep_copy_keeps_training_like_the_original(iris):
    # Warm starts and partial_fit check the copy's activations against the
    # estimator's parameters and step its optimizer: both must still hold.
    X, y = iris
    model = LayeredClassifier((8, 4), activation=["leaky_relu", "gelu"], random_state=0)
    model.partial_fit(X, y, classes=[0, 1, 2])
    copied = copy.deepcopy(model)
    for estimator in (model, copied):
        estimator.partial_fit(X, y)
    for original, again in zip(model.coefs_, copied.coefs_, strict=True):
        np.testing.assert_array_equal(again, original)
