"""Weight averaging with a validation set: what is validated is what the fit hands over.

With ``averaging="ema"`` a stochastic fit ends with the moving average of the
weights, so the validation loss, the estimators' early stopping and the
callbacks see the average at each epoch's end, while training goes on from
the raw weights.
"""

import numpy as np
import pytest
from sklearn.metrics import r2_score

from sknet import LayeredRegressor, Network
from sknet.backends import to_numpy
from sknet.optimizers import Adam


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = np.sin(X[:, :1]) + 0.5 * X[:, 1:2] ** 2 + 0.1 * rng.normal(size=(n, 1))
    return X, Y


def _net():
    return Network(3, random_state=0).add_layer(8, "tanh").add_layer(1, "identity")


def _fit(net, X, Y, **options):
    return net.fit(
        X,
        Y,
        optimizer=Adam(learning_rate=1e-2, averaging="ema"),
        epochs=12,
        batch_size=16,
        **options,
    )


def _flat(weights):
    return np.concatenate([np.ravel(w) for w in weights])


def test_the_validation_loss_is_the_averages_and_training_goes_on_from_the_raw_weights():
    X, Y = _data()
    X_val, Y_val = _data(40, seed=1)
    seen = []

    def record(network, logs):
        average = network.optimizer_.averaged_parameters()
        seen.append((_flat(network.get_weights()), np.array(average), logs["val_loss"]))

    validated = _fit(_net(), X, Y, validation_data=(X_val, Y_val), callbacks=[record])
    plain = _fit(_net(), X, Y)
    # The swap does not touch the trajectory: the same average at the end.
    np.testing.assert_array_equal(_flat(validated.get_weights()), _flat(plain.get_weights()))
    assert len(seen) == 12
    for weights, average, _ in seen:
        # At each epoch's end the network holds the average...
        np.testing.assert_array_equal(np.sort(weights), np.sort(average))
    # ... and its validation loss is that of the average.
    probe = _net()
    probe.set_weights(validated.get_weights())
    expected = 0.5 * np.mean((probe.predict(X_val) - Y_val) ** 2)
    assert seen[-1][2] == pytest.approx(expected, rel=1e-12)


def test_without_averaging_the_callbacks_see_the_raw_weights():
    X, Y = _data()
    seen = []

    def record(network, logs):
        seen.append(_flat(network.get_weights()))

    net = _net().fit(X, Y, optimizer=Adam(learning_rate=1e-2), epochs=3, callbacks=[record])
    np.testing.assert_array_equal(seen[-1], _flat(net.get_weights()))


def test_early_stopping_keeps_the_best_average(monkeypatch):
    X, Y = _data(300)
    y = Y.ravel()
    split = {}
    original = LayeredRegressor._split_validation

    def keep_split(self, *args):
        out = original(self, *args)
        split["X"], split["y"] = out[3][0], out[4]
        return out

    monkeypatch.setattr(LayeredRegressor, "_split_validation", keep_split)
    options = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        learning_rate_init=1e-2,
        max_iter=60,
        random_state=0,
    )
    averaged = LayeredRegressor(averaging="ema", **options).fit(X, y)
    raw = LayeredRegressor(**options).fit(X, y)
    # The model handed over scores exactly the best validation score...
    assert r2_score(split["y"], averaged.predict(split["X"])) == pytest.approx(
        averaged.best_validation_score_, rel=1e-12
    )
    # ... and it is the average, not the raw weights of that epoch.
    assert not np.allclose(averaged.coefs_[0], raw.coefs_[0])


def test_on_an_array_api_device_the_average_is_validated_the_same_way():
    xps = pytest.importorskip("array_api_strict")
    X, Y = _data()
    X_val, Y_val = _data(40, seed=1)
    device = xps.Device("device1")

    def on_device(a):
        return xps.asarray(a, device=device)

    losses = {}
    for where, convert in (("numpy", np.asarray), ("device", on_device)):
        net = _fit(
            _net(),
            convert(X),
            convert(Y),
            validation_data=(convert(X_val), convert(Y_val)),
        )
        weights = [to_numpy(w) for w in net.get_weights()]
        losses[where] = (net.history_["val_loss"], _flat(weights))
    np.testing.assert_allclose(losses["device"][0], losses["numpy"][0], rtol=1e-12)
    np.testing.assert_allclose(losses["device"][1], losses["numpy"][1], rtol=1e-12, atol=1e-14)
