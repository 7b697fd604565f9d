"""numba's dropout kernel makes numpy's counter-based masks, bit for bit, and training uses it.

The reference is :func:`sknet.backends.random.dropout_mask` (checked in
``tests/test_dropout_masks.py`` against Random123's known answers and the
documented counter): the kernel's masks must be the same bits, in float32 and
float64, for odd unit counts (a row's last block of four words cut short),
for batches longer than numpy's piece (numpy makes a mask in pieces of 8192
blocks), and for block numbers past ``2**32`` (the counter's second word).
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from sknet import Network, backends  # noqa: E402
from sknet import _numba_kernels as K  # noqa: E402
from sknet.backends import numba as numba_backend  # noqa: E402
from sknet.backends import random as masks  # noqa: E402
from sknet.backends.numba import NumbaBackend  # noqa: E402
from sknet.backends.random import DropoutDraws, dropout_mask, philox4x32  # noqa: E402

DTYPES = [np.float32, np.float64]
LOW = 2**32 - 1


def _same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))


def _reference(shape, rate, key, epoch, layer, row, dtype):
    """numpy's path, written into a buffer as a fit does."""
    return dropout_mask(
        np, shape, rate, key, epoch, layer, row, dtype, out=np.full(shape, np.nan, dtype)
    )


def _kernel(shape, rate, key, epoch, layer, row, dtype, a=None):
    mask = np.full(shape, np.nan, dtype)
    out = None if a is None else np.full(shape, np.nan, dtype)
    K.dropout(mask, rate, key, epoch, layer, row, a, out)
    return mask, out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units", [1, 2, 3, 4, 5, 7, 13, 64, 257])
def test_kernel_mask_is_numpys_bit_for_bit(units, dtype):
    key, epoch, layer = (0x9E3779B9, 0x12345678), 11, 3
    for rows, row, rate in [(1, 0, 0.5), (9, 0, 0.1), (17, 123_457, 0.3), (5, 2**20 + 1, 0.9)]:
        want = _reference((rows, units), rate, key, epoch, layer, row, dtype)
        mask, _ = _kernel((rows, units), rate, key, epoch, layer, row, dtype)
        _same_bits(mask, want)
        # Both values occur (a mask of one value would hide a wrong threshold).
        assert set(np.unique(want)) <= {0.0, dtype(1 / (1 - rate))}


def test_kernel_follows_the_documented_counter():
    # Independently of numpy's array path: one Python-int Philox call per block.
    shape, rate, key, epoch, layer, row = (3, 7), 0.4, (5, 6), 2, 1, 40
    mask, _ = _kernel(shape, rate, key, epoch, layer, row, np.float64)
    threshold = round(rate * 2**32)
    for i in range(shape[0]):
        for j in range(shape[1]):
            block = (row + i) * 2 + j // 4
            word = philox4x32((block & LOW, block >> 32, epoch, layer), key)[j % 4]
            assert mask[i, j] == (1 / (1 - rate) if word >= threshold else 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_rows_past_a_numpy_piece(dtype):
    # 257 units: 65 blocks a row, numpy's pieces of 8192 blocks take 126 rows;
    # 300 rows cross two piece boundaries, and 4096 x 256 is the wide case.
    for shape, row in [((300, 257), 7), ((4096, 256), 300_000)]:
        a = np.random.default_rng(1).normal(size=shape).astype(dtype)
        want = _reference(shape, 0.25, (77, 88), 4, 2, row, dtype)
        assert shape[0] > masks._NUMPY_BLOCKS // -(-shape[1] // 4)
        mask, out = _kernel(shape, 0.25, (77, 88), 4, 2, row, dtype, a)
        _same_bits(mask, want)
        _same_bits(out, a * want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "units, row",
    [
        (4, 2**32 - 3),  # one block a row: blocks 2**32 - 3 .. 2**32 + 2
        (9, (2**32 - 7) // 3),  # three blocks a row, the boundary inside a row
        (5, 2**33 + 7),  # past the boundary: the high word is 2 (or more)
        (255, 2**40 // 64),  # high word 256, 64 blocks a row
    ],
)
def test_kernel_block_numbers_past_two_to_the_32(units, row, dtype):
    per_row = -(-units // 4)
    rows = 6
    first, last = row * per_row, (row + rows) * per_row - 1
    assert last >> 32 >= 1
    for key, epoch, layer in [((1, 2), 0, 1), ((LOW, LOW), LOW, 2**32 + 5)]:
        want = _reference((rows, units), 0.5, key, epoch, layer, row, dtype)
        mask, _ = _kernel((rows, units), 0.5, key, epoch, layer, row, dtype)
        _same_bits(mask, want)
        assert (want == 0).any() and (want != 0).any()
    if first >> 32 != last >> 32:  # this batch crosses the boundary
        assert (first >> 32) + 1 == last >> 32


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_at_the_rates_ends(dtype):
    shape = (3, 10)
    # Threshold 0 (nothing dropped), and 2**32 (everything dropped, scale 2**40).
    for rate in [1e-12, 1 - 2.0**-40, 0.5 + 2.0**-33]:
        want = _reference(shape, rate, (3, 4), 1, 0, 2, dtype)
        mask, _ = _kernel(shape, rate, (3, 4), 1, 0, 2, dtype)
        _same_bits(mask, want)
    assert (_kernel(shape, 1e-12, (3, 4), 1, 0, 2, dtype)[0] == dtype(1 / (1 - 1e-12))).all()
    assert (_kernel(shape, 1 - 2.0**-40, (3, 4), 1, 0, 2, dtype)[0] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_product_is_numpys_a_times_mask(dtype):
    shape = (33, 21)
    rng = np.random.default_rng(0)
    a = (rng.normal(size=shape) * 1e30).astype(dtype)
    a[0, :6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, np.finfo(dtype).tiny / 2]
    want = _reference(shape, 0.5, (9, 10), 3, 1, 0, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = a * want  # what Backend.dropout computes on numpy
    mask, out = _kernel(shape, 0.5, (9, 10), 3, 1, 0, dtype, a)
    _same_bits(mask, want)
    _same_bits(out, expected)  # NaN where an infinity is dropped, as numpy


# -- the backend and training -----------------------------------------------------


def test_backend_dropout_equals_numpys():
    draws = DropoutDraws()
    draws.begin_epoch(np.random.default_rng(5), epoch=3)
    draws.at(row=4096)
    a = np.random.default_rng(6).normal(size=(64, 19))
    outs = {}
    for backend in (backends.NUMPY, NumbaBackend()):
        mask, out = np.empty_like(a), np.empty_like(a)
        outs[backend.name] = backend.dropout(a, 0.2, draws, 2, mask, out)
        assert outs[backend.name][0] is out and outs[backend.name][1] is mask
    _same_bits(outs["numba"][0], outs["numpy"][0])
    _same_bits(outs["numba"][1], outs["numpy"][1])


def test_backend_falls_back_where_the_kernel_does_not_apply(monkeypatch):
    calls = []
    monkeypatch.setattr(numba_backend, "dropout", lambda *args: calls.append(args))
    draws = DropoutDraws(key=(1, 2))
    a = np.random.default_rng(0).normal(size=(8, 6))
    backend = NumbaBackend()
    want = backends.NUMPY.dropout(a, 0.5, draws, 0, np.empty_like(a), np.empty_like(a))
    # No buffers; a strided view; another dtype for the output: numpy's path.
    for mask_out, out, x in [
        (None, None, a),
        (np.empty((8, 12))[:, ::2], np.empty_like(a), a),
        (np.empty_like(a), np.empty(a.shape, np.float32), a),
    ]:
        got_out, got_mask = backend.dropout(x, 0.5, draws, 0, mask_out, out)
        np.testing.assert_array_equal(got_mask, want[1])
        np.testing.assert_allclose(got_out, want[0], rtol=1e-6)

    class OtherDraws(DropoutDraws):
        def mask(self, xp, shape, rate, layer, dtype, device=None, out=None):
            return np.ones(shape, dtype)

    got_out, got_mask = backend.dropout(a, 0.5, OtherDraws(), 0, np.empty_like(a), np.empty_like(a))
    assert (got_mask == 1).all()
    assert not calls


def _fit(dtype, backend=None, monkeypatch=None, epochs=3):
    rng = np.random.default_rng(0)
    # 100 rows in batches of 32: a short last batch, rows counted across batches.
    X = rng.normal(size=(100, 6)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 100)]
    net = Network(6, random_state=0, dtype=dtype)
    net.add_layer(13, "relu", dropout=0.3).add_layer(9, "tanh", dropout=0.1)
    net.add_layer(3, "softmax")
    if backend is not None:
        monkeypatch.setattr(backends, "_NUMBA", (backend, 0))
    net.fit(X, Y, loss="log_loss", optimizer="adam", epochs=epochs, batch_size=32)
    if monkeypatch is not None:
        monkeypatch.undo()
    return net, X


class _NumpyDropout(NumbaBackend):
    """numba's backend with numpy's dropout: the fits differ in the dropout kernel alone."""

    def dropout(self, a, rate, draws, layer, mask_out=None, out=None):
        return super(NumbaBackend, self).dropout(a, rate, draws, layer, mask_out, out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_with_the_kernel_gives_numpys_weights(dtype, monkeypatch):
    calls = []
    kernel = numba_backend.dropout

    def recording(mask, rate, key, epoch, layer, row, a, out):
        calls.append((mask.shape, rate, epoch, layer, row))
        return kernel(mask, rate, key, epoch, layer, row, a, out)

    monkeypatch.setattr(numba_backend, "dropout", recording)
    fast, X = _fit(dtype, NumbaBackend(), monkeypatch)
    # The kernel made every mask: 2 layers x 4 batches x 3 epochs, at rows 0, 32, 64, 96.
    assert len(calls) == 24
    assert {call[4] for call in calls} == {0, 32, 64, 96}
    assert {call[3] for call in calls} == {0, 1}
    assert {call[2] for call in calls} == {0, 1, 2}
    assert (4, 13) in {call[0] for call in calls}  # the short last batch

    # Against numba's backend with numpy's dropout: the same weights, exactly.
    numpy_masks, _ = _fit(dtype, _NumpyDropout(), monkeypatch)
    for got, want in zip(fast.get_weights(), numpy_masks.get_weights(), strict=True):
        _same_bits(got, want)
    # Against numpy's backend: numba's other kernels round as numpy does, but
    # tests/test_numba_backend.py allows them 1e-9 (float64) and 1e-4 (float32)
    # of the predictions' scale (libm's tanh, reductions summed in another order).
    reference, _ = _fit(dtype, None)
    tolerance = {"float64": 1e-9, "float32": 1e-4}[dtype]
    np.testing.assert_allclose(
        fast.predict(X), reference.predict(X), rtol=tolerance, atol=tolerance
    )


@pytest.mark.xdist_group("fresh_sknet_import")  # one interpreter for the session's checks
def test_dropout_kernel_starts_no_threads(numba_pool_after_kernels):
    # A fresh interpreter ran the dropout kernel (into a buffer with the
    # activations, and alone in float32): numba's thread pool is not started.
    assert numba_pool_after_kernels["dropout"] == "False"


# -- numpy's path: the same bits, no allocation per batch -----------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, row",
    [
        ((1, 1), 0),
        ((9, 13), 3),
        ((300, 257), 7),  # two piece boundaries (252 rows a piece)
        ((6, 4), 2**32 - 3),  # the block numbers cross 2**32 inside the piece
        ((5, 9), (2**32 - 7) // 3),  # ... inside a row
        ((3, 5), 2**33 + 7),  # past it: the high word is 2
        ((2, 70_001), 0),  # a row wider than a piece: one row a piece
    ],
)
def test_numpy_buffer_path_equals_the_array_path(shape, row, dtype):
    # The array path (no ``out``) is the one tests/test_dropout_masks.py
    # checks value by value against Python integers.
    for rate, key, epoch, layer in [(0.3, (7, 8), 2, 1), (0.5, (LOW, LOW), LOW, 2**32 + 5)]:
        want = dropout_mask(np, shape, rate, key, epoch, layer, row, dtype)
        _same_bits(_reference(shape, rate, key, epoch, layer, row, dtype), want)


def test_numpy_buffer_path_at_the_rates_ends():
    for rate in [1e-12, 1 - 2.0**-40]:  # thresholds 0 and 2**32
        want = dropout_mask(np, (3, 10), rate, (3, 4), 1, 0, 2, np.float64)
        _same_bits(_reference((3, 10), rate, (3, 4), 1, 0, 2, np.float64), want)
        assert len(np.unique(want)) == 1


def test_numpy_masks_allocate_nothing_per_batch():
    # The work arrays are the fit's (held by its draws), made for the largest
    # layer at its first batch; later batches allocate no array. (numpy's
    # former path made some 90 temporaries of 64 KiB per piece.)
    tracemalloc = pytest.importorskip("tracemalloc")
    draws = DropoutDraws(key=(1, 2))
    shapes = [(256, 256), (256, 301), (100, 7)]
    buffers = [np.empty(shape, np.float32) for shape in shapes]
    for layer, (shape, out) in enumerate(zip(shapes, buffers, strict=True)):
        draws.mask(np, shape, 0.1, layer, np.float32, out=out)
    scratch = draws._scratch
    tracemalloc.start()
    try:
        for step in range(1, 3):
            draws.at(256 * step)
            for layer, (shape, out) in enumerate(zip(shapes, buffers, strict=True)):
                draws.mask(np, shape, 0.1, layer, np.float32, out=out)
                half = out[: shape[0] // 2]  # a short last batch
                draws.mask(np, half.shape, 0.1, layer, np.float32, out=half)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024, peak  # Python objects only; one piece's array is 64 KiB
    assert draws._scratch is scratch
    draws.begin_epoch(np.random.default_rng(0), epoch=1)
    draws.mask(np, shapes[0], 0.1, 0, np.float32, out=buffers[0])
    assert draws._scratch is scratch  # one per fit, not per epoch
