"""The backends package: what a device fit reads back to the host, per batch."""

import numpy as np
import pytest

from sknet import Network

# torch, in the worker that runs the other torch tests (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("torch")


def _reads_of_a_fit(batch_size, sample_weight):
    """The device-to-host reads (``item()``-like aten ops) of a one-epoch torch fit."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    torch.set_num_threads(1)

    class Record(TorchDispatchMode):
        reads = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if "_local_scalar_dense" in str(func):
                type(self).reads += 1
            return func(*args, **(kwargs or {}))

    rng = np.random.default_rng(0)
    X, Y = torch.asarray(rng.normal(size=(64, 3))), torch.asarray(rng.normal(size=(64, 2)))
    weights = None if sample_weight is None else torch.asarray(rng.uniform(0.5, 2.0, 64))
    net = Network(3, random_state=0).add_layer(5, "relu").add_layer(2, "identity")
    Record.reads = 0
    with Record():
        net.fit(X, Y, sample_weight=weights, alpha=1e-3, epochs=1, batch_size=batch_size,
                shuffle=False)  # fmt: skip
    return Record.reads


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_a_device_fit_reads_nothing_per_batch(weighted):
    # Eight batches read what one batch reads: the per-fit and per-epoch reads.
    # Before, a weighted fit truth-tested its decay (a device scalar) for every
    # parameter of every batch.
    sample_weight = "given" if weighted else None
    one_batch = _reads_of_a_fit(64, sample_weight)
    assert _reads_of_a_fit(8, sample_weight) == one_batch
