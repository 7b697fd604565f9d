"""What a fit on a device costs: host traffic per batch and per epoch, kernels per step.

A GPU is emulated on torch's CPU by instrumenting torch itself: a
``TorchDispatchMode`` sees every aten operation. A *read* (device to host) is
``_local_scalar_dense`` (``float``, ``bool``, ``item`` of a tensor) or a whole
tensor turned into a numpy array or a list; an *upload* (host to device) is
``lift_fresh``, which every tensor made from host data goes through (a numpy
array, a list, a Python number given where a tensor is expected). Every other
operation that is not a view (``t``, ``view``, ``slice``, ... launch no kernel
on a GPU) counts as one kernel.

The counter is checked first on a hand-written torch training loop, which
crosses nothing per batch; sknet must then cross nothing per batch either,
read at most a few scalars per epoch, and launch at most 1.25 times the
kernels of a hand-written loop with ``torch.optim.Adam(foreach=True)``.
"""

import collections
import functools
import importlib.util
import warnings

import numpy as np
import pytest

from sknet import LayeredClassifier, LayeredRegressor, Network

# Without torch, this file skips. torch is imported by the fixture below, in
# the worker that runs these tests (all in the "torch" xdist group, see
# tests/conftest.py), not at collection, which every worker runs.
if importlib.util.find_spec("torch") is None:
    pytest.skip("the traffic counter needs torch", allow_module_level=True)
pytestmark = pytest.mark.xdist_group("torch")
torch = None  # the module, once _torch has run


@pytest.fixture(autouse=True)
def _torch():
    global torch
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)


#: Operations that make a view or read metadata: no kernel on a GPU.
VIEWS = frozenset(
    "t detach view slice permute unsqueeze squeeze squeeze_ unsqueeze_ expand select "
    "alias transpose _reshape_alias as_strided _unsafe_view reshape split unbind".split()
)


@functools.cache
def _traffic_class():
    """The counter: a ``TorchDispatchMode``, so it is made once torch is imported."""
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

    class Traffic(TorchDispatchMode):
        """Counts reads, uploads and kernels of the torch code run inside it."""

        def __init__(self):
            super().__init__()
            self.reads = self.uploads = 0
            self.read_values = 0  # how many numbers the reads brought to the host
            self.kernels = collections.Counter()
            self._depth = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func)
            if name.startswith("aten."):
                op = name.split(".")[1]
                if op == "_local_scalar_dense":
                    self.reads += 1
                    self.read_values += 1
                elif op in ("lift_fresh", "lift_fresh_copy"):
                    self.uploads += 1
                elif op not in VIEWS:
                    self.kernels[op] += 1
            return func(*args, **(kwargs or {}))

        @property
        def n_kernels(self):
            return sum(self.kernels.values())

        def __enter__(self):
            # A whole tensor read to the host goes through no aten operation on
            # the CPU (it would be a copy from a GPU): count the Python calls.
            self._saved = {
                name: getattr(torch.Tensor, name) for name in ("numpy", "tolist", "__array__")
            }

            def counted(method):
                def read(tensor, *args, **kwargs):
                    if self._depth == 0:
                        self.reads += 1
                        self.read_values += tensor.numel()
                    self._depth += 1  # __array__ calls numpy: one read
                    try:
                        return method(tensor, *args, **kwargs)
                    finally:
                        self._depth -= 1

                return read

            for name, method in self._saved.items():
                setattr(torch.Tensor, name, counted(method))
            return super().__enter__()

        def __exit__(self, *exc_info):
            for name, method in self._saved.items():
                setattr(torch.Tensor, name, method)
            return super().__exit__(*exc_info)

    return Traffic


def _count(function):
    with _traffic_class()() as traffic:
        function()
    return traffic


def _per_unit(make_run, small, large, values=False):
    """(reads, uploads, kernels) per unit added: ``make_run(k)`` runs ``k`` units.

    With ``values``, the numbers read come fourth.
    """
    a, b = _count(make_run(small)), _count(make_run(large))
    units = large - small
    counts = (
        (b.reads - a.reads) / units,
        (b.uploads - a.uploads) / units,
        (b.n_kernels - a.n_kernels) / units,
    )
    return (*counts, (b.read_values - a.read_values) / units) if values else counts


def _data(n, n_features=20, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    labels = rng.integers(0, n_classes, n)
    return torch.asarray(X), torch.asarray(np.eye(n_classes)[labels]), torch.asarray(labels)


# -- the counter, checked ---------------------------------------------------------


def test_the_counter_sees_reads_and_uploads():
    t = torch.ones(3, dtype=torch.float64)
    assert _count(lambda: float(t.sum())).reads == 1
    assert _count(lambda: bool(t.sum() > 0)).reads == 1
    assert _count(lambda: np.asarray(t)).reads == 1
    assert _count(lambda: t.tolist()).reads == 1
    assert _count(lambda: t.numpy()).read_values == 3
    assert _count(lambda: torch.asarray(np.ones(3))).uploads == 1
    assert _count(lambda: torch.maximum(t, torch.asarray(0.0, dtype=t.dtype))).uploads == 1
    # Python numbers in operators are kernel arguments: nothing moves.
    quiet = _count(lambda: torch.clamp(t * 2.0 + 1.0, 0.0, 1.0))
    assert (quiet.reads, quiet.uploads, quiet.n_kernels) == (0, 0, 3)


def _hand_written(X, labels, batch_size, epochs, **adam):
    """The torch loop a user writes: 100 -> 256 -> 256 -> 5 style, cross-entropy, Adam."""

    def run():
        torch.manual_seed(0)
        n_in, n_out = X.shape[1], int(labels.max()) + 1
        model = torch.nn.Sequential(
            torch.nn.Linear(n_in, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, n_out),
        ).double()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **adam)
        n = X.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n)
            total = torch.zeros((), dtype=torch.float64)
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                loss = torch.nn.functional.cross_entropy(model(X[rows]), labels[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total = total + loss.detach()
            float(total)  # the epoch's loss: one read

    return run


def test_the_counter_shows_nothing_per_batch_for_a_hand_written_loop():
    # Fused Adam keeps its step count on the parameters' device: nothing
    # crosses per batch, one read (the epoch's loss) per epoch.
    X, _, labels = _data(512, n_features=100, n_classes=5)
    reads, uploads, kernels = _per_unit(
        lambda k: _hand_written(X[: 64 * k], labels[: 64 * k], 64, 1, fused=True), 2, 6
    )
    assert (reads, uploads) == (0, 0)
    assert kernels > 10
    reads, uploads, _ = _per_unit(lambda e: _hand_written(X, labels, 64, e, fused=True), 1, 3)
    assert (reads, uploads) == (1, 0)


# -- sknet: nothing per batch, a few scalars per epoch --------------------------------


OUTPUTS = {"log_loss": "softmax", "binary_log_loss": "sigmoid", "squared_error": "identity"}


def _fit(n, epochs, batch_size=64, loss="log_loss", dropout=0.0, **kwargs):
    X, Y, _ = _data(n)
    if loss == "squared_error":
        Y = X[:, :2] * 0.5
    if kwargs.get("sample_weight") == "random":
        kwargs["sample_weight"] = torch.asarray(np.random.default_rng(1).uniform(0.5, 2.0, n))

    def run():
        net = Network(20, random_state=0).add_layer(32, "relu", dropout=dropout)
        net.add_layer(16, "tanh", dropout=dropout)
        net.add_layer(Y.shape[1], OUTPUTS[loss])
        net.fit(X, Y, loss=loss, epochs=epochs, batch_size=batch_size, **kwargs)

    return run


CONFIGURATIONS = {
    "adam": {},
    "adam-alpha": {"alpha": 1e-3},
    "sample-weight": {"sample_weight": "random", "alpha": 1e-3},
    "sgd": {"optimizer": "sgd"},
    "adamw": {"optimizer": "adamw"},
    "binary": {"loss": "binary_log_loss"},
    "regression": {"loss": "squared_error"},
    "no-shuffle": {"shuffle": False},
    # The masks are drawn on the device from a counter-based generator.
    "dropout": {"dropout": 0.2},
}


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_nothing_crosses_per_batch(name):
    settings = CONFIGURATIONS[name]
    reads, uploads, _ = _per_unit(lambda k: _fit(64 * k, 1, **settings), 2, 6)
    assert (reads, uploads) == (0, 0)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_traffic_per_epoch(name):
    settings = CONFIGURATIONS[name]
    reads, uploads, _ = _per_unit(lambda e: _fit(640, e, **settings), 1, 3)
    # At most 2 and 2 (issue 16); measured (the user guide states it): the
    # epoch's loss, NaN if a weight is not finite, and the epoch's row order.
    assert reads == 1
    assert uploads == (0 if name == "no-shuffle" else 1)


def test_traffic_per_epoch_with_validation():
    run = lambda e: _fit(640, e, validation_fraction=0.2)  # noqa: E731
    reads, uploads, _, values = _per_unit(run, 1, 3, values=True)
    # At most 4 and 2; measured: the validation loss is the one read added.
    assert (reads, uploads, values) == (2, 1, 2)


@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_traffic_per_epoch_of_the_estimators_with_early_stopping(Estimator):
    sklearn = pytest.importorskip("sklearn")
    X, _, labels = _data(640)
    y = labels if Estimator is LayeredClassifier else X[:, 0] * 2.0 + 1.0

    def run(epochs):
        def fit():
            model = Estimator(
                hidden_layer_sizes=(32,),
                max_iter=epochs,
                early_stopping=True,
                n_iter_no_change=1000,
                random_state=0,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # not converged in a few epochs
                model.fit(X, y)
            assert model.n_iter_ == epochs

        return fit

    # (the project's conftest.py turns scipy's array API on, as scikit-learn needs)
    with sklearn.config_context(array_api_dispatch=True):
        reads, uploads, _, values = _per_unit(run, 2, 4, values=True)
    assert values == reads  # nothing but scalars comes to the host
    # Measured with scikit-learn 1.9: 4 reads and 1 upload for the classifier
    # (its accuracy is computed on the device), 6 and 2 for the regressor
    # (scikit-learn's r2_score).
    assert reads <= 8
    assert uploads <= 2


# -- kernels per step --------------------------------------------------------------

#: The benchmark's step: batch 256, 100 -> 256 -> 256 -> 5, Adam.
BATCH = 256


def _sknet_step(alpha):
    def make(k):
        X, Y, _ = _data(BATCH * k, n_features=100, n_classes=5)

        def run():
            net = Network(100, random_state=0)
            net.add_layer(256, "relu").add_layer(256, "relu").add_layer(5, "softmax")
            net.fit(X, Y, loss="log_loss", epochs=1, batch_size=BATCH, alpha=alpha)

        return run

    return make


def _hand_step(k):
    X, _, labels = _data(BATCH * k, n_features=100, n_classes=5)
    return _hand_written(X, labels, BATCH, 1, foreach=True)


@pytest.mark.parametrize("alpha", [0.0, 1e-4])
def test_kernels_per_step_are_those_of_a_hand_written_loop(alpha):
    _, _, hand = _per_unit(_hand_step, 2, 6)
    reads, uploads, ours = _per_unit(_sknet_step(alpha), 2, 6)
    assert (reads, uploads) == (0, 0)
    assert ours <= 1.25 * hand, (ours, hand)


# -- the lean forms compute the reference's model ---------------------------------------

SAME_MODEL = {
    "relu-softmax-adam": dict(hidden=("relu", "tanh"), loss="log_loss", optimizer="adam"),
    "sigmoid-alpha-weights": dict(
        hidden=("sigmoid", "relu"), loss="log_loss", optimizer="adam", alpha=1e-2, weights=True
    ),
    "binary-sgd": dict(hidden=("relu", "sigmoid"), loss="binary_log_loss", optimizer="sgd"),
    "regression-adamw": dict(
        hidden=("tanh", "relu"), loss="squared_error", optimizer="adamw", alpha=1e-3
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(SAME_MODEL))
def test_torch_trains_the_numpy_model(name, dtype):
    settings = dict(SAME_MODEL[name])
    hidden, loss = settings.pop("hidden"), settings["loss"]
    X, Y, _ = (np.asarray(a) for a in _data(300))
    X = X.astype(dtype)
    if loss == "squared_error":
        Y = X[:, :2] * 0.5
    if settings.pop("weights", False):
        settings["sample_weight"] = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    fit = dict(epochs=15, batch_size=32, validation_fraction=0.2, **settings)

    def trained(to):
        net = Network(20, random_state=0).add_layer(16, hidden[0]).add_layer(8, hidden[1])
        net.add_layer(Y.shape[1], OUTPUTS[loss])
        data = {key: to(value) if key == "sample_weight" else value for key, value in fit.items()}
        return net.fit(to(X), to(Y), **data)

    reference = trained(lambda a: a)
    on_torch = trained(torch.asarray)
    tolerance = 1e-9 if dtype == "float64" else 2e-3
    for ours, theirs in zip(on_torch.get_weights(), reference.get_weights(), strict=True):
        assert isinstance(ours, torch.Tensor)  # the model stays where it trained
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=tolerance, atol=tolerance)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            on_torch.history_[key], reference.history_[key], rtol=tolerance, atol=tolerance
        )


@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel", "class-weight"])
def test_the_validation_score_on_a_device_is_numpy_s(target):
    # The classifier's early-stopping accuracy is computed on the device from
    # the epoch's one validation forward pass: the same scores as numpy's.
    sklearn = pytest.importorskip("sklearn")
    X = np.asarray(_data(300)[0])
    y = np.argmax(X[:, :3], axis=1)  # learnable: the scores move
    if target == "binary":
        y = (X[:, 0] > 0).astype(int)
    elif target == "multilabel":
        y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] + X[:, 3] > 0], axis=1).astype(int)
    params = dict(
        learning_rate_init=0.01,
        hidden_layer_sizes=(16,),
        early_stopping=True,
        n_iter_no_change=1000,
        max_iter=12,
        random_state=0,
        class_weight="balanced" if target == "class-weight" else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = LayeredClassifier(**params).fit(X, y)
        with sklearn.config_context(array_api_dispatch=True):
            model = LayeredClassifier(**params).fit(torch.asarray(X), torch.asarray(y))
    assert len(set(reference.validation_scores_)) > 1
    np.testing.assert_allclose(model.validation_scores_, reference.validation_scores_, atol=1e-12)
    np.testing.assert_allclose(
        model.validation_loss_curve_, reference.validation_loss_curve_, rtol=1e-9
    )


@pytest.mark.parametrize("name", ["log_loss", "binary_log_loss"])
@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_a_log_loss_summed_as_one_product_is_its_weighted_mean(name, library):
    # The device form of the batch loss (one dot product, clipped as the
    # per-sample values are) against the per-sample values it replaces.
    from sknet.losses import LOSSES

    xp = torch if library == "torch" else pytest.importorskip("array_api_strict")
    loss = LOSSES[name]
    rng = np.random.default_rng(0)
    P = rng.uniform(0, 1, size=(7, 3))
    P[0, 0], P[1, 1] = 0.0, 1.0  # saturated: the clipping counts
    Y = (rng.uniform(size=(7, 3)) > 0.5) * 1.0
    weights = rng.uniform(0.5, 2.0, size=(7, 1))
    weights /= weights.sum()
    per_sample = loss.value(Y, P)
    unweighted = loss.weighted_sum(xp.asarray(Y), xp.asarray(P), 1 / 7)
    weighted = loss.weighted_sum(xp.asarray(Y), xp.asarray(P), xp.asarray(weights))
    assert float(unweighted) == pytest.approx(per_sample.mean(), rel=1e-14)
    assert float(weighted) == pytest.approx(per_sample @ weights[:, 0], rel=1e-14)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_callbacks_see_the_validation_predictions_of_the_epoch(library):
    to = np.asarray if library == "numpy" else torch.asarray
    X, Y, _ = (np.asarray(a) for a in _data(200))
    X_val, Y_val = X[:50], Y[:50]
    seen = []
    net = Network(20, random_state=0).add_layer(8, "relu").add_layer(3, "softmax")
    net.fit(
        to(X[50:]),
        to(Y[50:]),
        loss="log_loss",
        epochs=3,
        validation_data=(to(X_val), to(Y_val)),
        callbacks=[lambda network, logs: seen.append(logs["val_prediction"])],
    )
    assert len(seen) == 3
    last = seen[-1]
    assert type(last) is type(to(X_val))  # where the validation data live
    expected = np.asarray(net.predict(to(X_val)))
    np.testing.assert_array_equal(np.asarray(last), expected)
    # ... and the validation loss came from them.
    loss = -np.mean(np.sum(Y_val * np.log(np.clip(expected, 1e-16, 1)), axis=1))
    assert net.history_["val_loss"][-1] == pytest.approx(loss, rel=1e-12)
