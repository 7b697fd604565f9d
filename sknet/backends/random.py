"""Dropout masks from a counter-based generator: the same masks on every library and device.

A dropout mask is not drawn from a stream that must be advanced in order (and
so on the host, then uploaded): each keep-or-drop decision is a pure function
of where it sits, computed where the batch lives. The function is
Philox-4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as
easy as 1, 2, 3", SC 2011), the generator behind CUDA's own dropout, written
once in integer operations of the Python array API:

* the **key** (two 32-bit words) is drawn once per epoch from the network's
  numpy Generator (after the epoch's row order), so that it derives from
  ``random_state`` alone and a warm start continues one sequence;
* the **counter** (four 32-bit words) names the decision: the position of
  the value in the epoch's sequence of training rows (the low and high words
  of a block number, four values per block), the epoch's number in the
  network's history, and the layer's index in the network.

A value in row ``r`` of the epoch (rows counted in the order the batches take
them) and unit ``j`` of a layer of ``units`` units lies in block
``r * ceil(units / 4) + j // 4``, word ``j % 4``; it is kept when that word is
at least ``round(rate * 2**32)``, so a value is dropped with probability
``rate`` to within ``2**-32``. Kept values are scaled by ``1 / (1 - rate)``
(inverted dropout), so that prediction needs no rescaling.

Everything is exact integer arithmetic, with no intermediate value reaching
``2**63``: numpy, array_api_strict on any device, PyTorch on any device and
CuPy compute the same bits, and a ``random_state`` gives the same model
everywhere. Nothing crosses between host and device: the block numbers come
from ``xp.arange`` on the device, and the key and the rest of the counter are
Python integers in operators. numpy computes the same function with
unsigned words (the whole 32 x 32-bit product fits in 64 bits: one
multiplication instead of two); into a fit's mask buffer, on 32-bit words
whose products' halves are views, in pieces that stay in the processor's
cache, with work arrays made once per fit. numba's kernel
(:func:`sknet._numba_kernels.dropout`) computes the same bits in one pass.
"""

import numpy as np

__all__ = ["DropoutDraws", "dropout_mask", "philox4x32"]

#: Philox-4x32's multipliers and key increments (Salmon et al., 2011).
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
#: The rounds of Philox-4x32-10, the generator's standard (and cuRAND's) form.
ROUNDS = 10

_LOW = 0xFFFFFFFF
_U64_32, _U64_LOW = np.uint64(32), np.uint64(_LOW)
#: Blocks (four values each) numpy computes at a time: a piece's words stay
#: in the processor's cache between the rounds.
_NUMPY_BLOCKS = 16384
#: Values an array-API device draws at a time: the masks of the next steps
#: of the epoch are made with the current step's, so that the generator's
#: some 200 elementwise operations run once per piece, not once per step
#: (a piece of float64 masks takes 32 MiB per layer that drops).
_DEVICE_VALUES = 2**22


def _mulhilo(a, m):
    """The high and low 32-bit words of ``a * m``, exactly.

    ``a`` holds 32-bit words (a Python int, or an integer array); ``m`` is a
    32-bit constant.
    """
    if isinstance(a, np.ndarray) and a.dtype == np.uint64:
        # numpy's unsigned 64-bit words hold the whole product.
        p = a * np.uint64(m)
        return p >> _U64_32, p & _U64_LOW
    # Everywhere else, signed 64-bit words (torch has no shifts on unsigned
    # ones), and the product in two pieces split at 16 bits of ``m``: each is
    # below 2**48, so nothing overflows.
    high = a * (m >> 16)
    low = a * (m & 0xFFFF)
    t = low + ((high & 0xFFFF) << 16)
    return (high >> 16) + (t >> 32), t & _LOW


def _xor(a, b, k):
    """``a ^ b ^ k`` with the Python integers combined first: one array operation fewer."""
    if isinstance(b, int):
        return a ^ (b ^ k)
    if isinstance(a, int):
        return b ^ (a ^ k)
    return a ^ b ^ k


def philox4x32(counter, key, rounds=ROUNDS):
    """Philox-4x32: four 32-bit words from a counter of four words and a key of two.

    Each word of ``counter`` is a Python int or an integer array (int64 in
    any array-API namespace, or uint64 with numpy) of values below ``2**32``;
    arrays broadcast together. Words that are Python ints stay Python ints
    for as long as the rounds allow, so that the arrays see only the
    operations that depend on them.

    Parameters
    ----------
    counter : tuple of 4 ints or integer arrays
    key : tuple of 2 ints
    rounds : int, default=10

    Returns
    -------
    tuple of 4 ints or integer arrays
        The output words, in the counter's integer dtype.

    Examples
    --------
    Random123's known answer for the counter and key of the digits of pi:

    >>> from sknet.backends.random import philox4x32
    >>> counter = (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344)
    >>> key = (0xA4093822, 0x299F31D0)
    >>> [f"{word:08x}" for word in philox4x32(counter, key)]
    ['d16cfe09', '94fdcceb', '5001e420', '24126ea1']
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for i in range(rounds):
        if i:
            k0, k1 = (k0 + PHILOX_W[0]) & _LOW, (k1 + PHILOX_W[1]) & _LOW
        hi0, lo0 = _mulhilo(c0, PHILOX_M[0])
        hi1, lo1 = _mulhilo(c2, PHILOX_M[1])
        c0, c1, c2, c3 = _xor(hi1, c1, k0), lo1, _xor(hi0, c3, k1), lo0
    return c0, c1, c2, c3


def _keep(xp, key, epoch, layer, row, rows, units, threshold, device=None, scratch=None):
    """The keep decisions (booleans) of rows ``row .. row + rows - 1`` of an epoch.

    numpy with ``scratch`` (a :class:`_NumpyScratch`): a view of its arrays,
    computed with no allocation.
    """
    if scratch is not None:
        return _keep_numpy(scratch, key, epoch, layer, row, rows, units, threshold)
    per_row = -(-units // 4)  # blocks of four values
    first, stop = row * per_row, (row + rows) * per_row
    # numpy's unsigned words take one multiplication per product (_mulhilo).
    where = {"dtype": np.uint64} if xp is np else {"dtype": xp.int64, "device": device}
    high = first >> 32
    if (stop - 1) >> 32 == high:  # the high word of the block number is one int
        c0 = xp.arange(first - (high << 32), stop - (high << 32), **where)
        c1 = high
    else:
        blocks = xp.arange(first, stop, **where)
        c0, c1 = blocks & _LOW, blocks >> 32
    words = philox4x32((c0, c1, epoch & _LOW, layer & _LOW), key)
    keep = xp.stack([word >= threshold for word in words], axis=1)
    keep = xp.reshape(keep, (rows, 4 * per_row))
    return keep if units == 4 * per_row else keep[:, :units]


class _NumpyScratch:
    """The work arrays of numpy's masks, made once per fit (see :meth:`DropoutDraws.mask`).

    numpy's path keeps a piece's two multiplied words (``c0`` and ``c2``) as
    the rows of one 32-bit array, and a round's two products as the rows of
    one 64-bit array whose halves (views, no operation) are the round's high
    and low words: a round is four array operations on both words at once
    (widen, multiply by both constants, two exclusive ors), and none
    allocates. The views are made here, once: on a small batch the cost of a
    round is its number of operations, not their size.
    """

    def __init__(self, blocks):
        self.blocks = blocks
        self.words = np.empty((2, blocks), dtype=np.uint32)  # c0 and c2
        self.c1 = np.empty(blocks, dtype=np.uint32)  # c1, when the block numbers hold it
        # Two buffers of products, for alternate rounds: a round's low words
        # are the next round's c1 and c3, read while the next products are written.
        self.products = np.empty((2, 2, blocks), dtype=np.uint64)
        high = 1 if np.little_endian else 0
        halves = [product.view(np.uint32) for product in self.products]
        self.high = [half[:, high::2] for half in halves]
        self.low = [half[:, 1 - high :: 2] for half in halves]
        self.multipliers = np.array(PHILOX_M, dtype=np.uint64).reshape(2, 1)
        self.keys = np.empty((2, 1), dtype=np.uint32)  # a round's key words, as columns
        self.keep = np.empty((blocks, 4), dtype=bool)
        self.count = np.arange(blocks, dtype=np.uint32)


def _numpy_scratch(scratch, rows, units):
    """``scratch`` if it holds the pieces of a ``(rows, units)`` mask, else new work arrays."""
    per_row = -(-units // 4)
    blocks = min(rows, max(1, _NUMPY_BLOCKS // per_row)) * per_row
    if scratch is None or scratch.blocks < blocks:
        scratch = _NumpyScratch(blocks)
    return scratch


def _philox_numpy(scratch, n, c1, c2, c3, key):
    """:func:`philox4x32` on numpy's 32-bit words, in ``scratch``: ``c0`` is ``scratch.words[0]``.

    ``c1`` is an int or ``scratch.c1``; ``c2`` and ``c3`` are ints. Returns
    the four output words as arrays (views of ``scratch``).
    """
    k0, k1 = key
    words = scratch.words[:, :n]  # the rows c0 and c2
    words[1] = c2
    keys, last_low = scratch.keys, None
    for i in range(ROUNDS):
        if i:
            k0, k1 = (k0 + PHILOX_W[0]) & _LOW, (k1 + PHILOX_W[1]) & _LOW
        product = scratch.products[i & 1, :, :n]
        high, low = scratch.high[i & 1][:, :n], scratch.low[i & 1][:, :n]
        # Widened by a copy, then multiplied in place: a product of mixed
        # dtypes would cast through a buffer of its own (64 KiB a call).
        np.copyto(product, words)
        np.multiply(product, scratch.multipliers, out=product)
        # c0, c2 = hi1 ^ c1 ^ k0, hi0 ^ c3 ^ k1: the high words in reverse
        # row order, against (c1, c3), the last round's low words reversed.
        if i:
            keys[0, 0], keys[1, 0] = k0, k1
            np.bitwise_xor(high[::-1], last_low[::-1], out=words)
            np.bitwise_xor(words, keys, out=words)
        elif isinstance(c1, int):
            keys[0, 0], keys[1, 0] = c1 ^ k0, c3 ^ k1
            np.bitwise_xor(high[::-1], keys, out=words)
        else:  # block numbers past 2**32 in the piece: c1 is an array
            np.bitwise_xor(high[1], c1[:n], out=words[0])
            np.bitwise_xor(words[0], np.uint32(k0), out=words[0])
            np.bitwise_xor(high[0], np.uint32(c3 ^ k1), out=words[1])
        last_low = low
    # (c0, c1, c2, c3) = (words[0], lo1, words[1], lo0).
    return words[0], last_low[1], words[1], last_low[0]


def _keep_numpy(scratch, key, epoch, layer, row, rows, units, threshold):
    """numpy's :func:`_keep` with no allocation: a view of ``scratch.keep``."""
    per_row = -(-units // 4)
    first, n = row * per_row, rows * per_row
    high = first >> 32
    c0 = scratch.words[0, :n]
    if (first + n - 1) >> 32 == high:  # the high word of the block number is one int
        np.add(scratch.count[:n], np.uint32(first - (high << 32)), out=c0)
        c1 = high
    else:  # once in 2**32 blocks
        blocks = np.arange(first, first + n, dtype=np.uint64)
        np.bitwise_and(blocks, _U64_LOW, out=c0, casting="unsafe")
        c1 = np.right_shift(blocks, _U64_32, out=scratch.c1[:n], casting="unsafe")
    words = _philox_numpy(scratch, n, c1, epoch & _LOW, layer & _LOW, key)
    keep = scratch.keep[:n]
    for w, word in enumerate(words):
        if threshold > _LOW:  # rate within 2**-33 of 1: nothing kept
            keep[:, w] = False
        else:
            np.greater_equal(word, np.uint32(threshold), out=keep[:, w])
    return keep.reshape(rows, 4 * per_row)[:, :units]


def dropout_mask(
    xp, shape, rate, key, epoch, layer, row, dtype, device=None, out=None, scratch=None
):
    """The inverted-dropout mask of a batch: 0 where a value is dropped, ``1 / (1 - rate)`` else.

    Parameters
    ----------
    xp : namespace
        The array namespace of the batch (numpy, or one wrapped by ``array_api_compat``).
    shape : tuple of 2 ints
        ``(rows, units)`` of the batch.
    rate : float
        The share of values dropped, in ``[0, 1)``.
    key : tuple of 2 ints
        The epoch's key: two 32-bit words.
    epoch, layer : int
        The epoch's number and the layer's index in the network.
    row : int
        The position in the epoch's row sequence of the batch's first row.
    dtype : dtype
        The mask's floating dtype.
    device : device, optional
        Where the mask is made (the array API).
    out : ndarray, optional
        numpy: the buffer the mask is written into.
    scratch : object, optional
        numpy with ``out``: the work arrays of an earlier call (a fit's
        :class:`DropoutDraws` keeps them), so that no call allocates.

    Returns
    -------
    array of shape ``shape``

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends.random import dropout_mask
    >>> key, epoch, layer, row = (1, 2), 0, 0, 0
    >>> dropout_mask(np, (2, 6), 0.5, key, epoch, layer, row, np.float64)
    array([[0., 2., 0., 2., 0., 2.],
           [0., 0., 0., 2., 0., 0.]])
    """
    rows, units = shape
    threshold = round(rate * 2**32)
    scale = 1.0 / (1.0 - rate)
    if out is None:
        keep = _keep(xp, key, epoch, layer, row, rows, units, threshold, device)
        return xp.astype(keep, dtype) * scale
    # numpy: piece by piece, into the buffer.
    step = max(1, _NUMPY_BLOCKS // -(-units // 4))
    scratch = _numpy_scratch(scratch, rows, units)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        keep = _keep(
            np, key, epoch, layer, row + start, stop - start, units, threshold, scratch=scratch
        )
        # A cast, then a product in place: the same bits as ``keep * scale``
        # (1.0 or 0.0 times the scale, rounded once to the dtype), without
        # the product's cast buffer (64 KiB a call) and faster in float32.
        piece = out[start:stop]
        np.copyto(piece, keep)
        np.multiply(piece, scale, out=piece)
    return out


class DropoutDraws:
    """Where the dropout masks of a fit come from: the epoch's key, and where the training is.

    The trainer makes one per fit (when a layer drops), hands it to the
    layers that drop with their index (``layer._draws = (draws, index)``),
    draws each epoch's key with :meth:`begin_epoch` and moves to each batch
    with :meth:`at`. A key per epoch, drawn from the network's Generator
    after the epoch's shuffling order, keeps that Generator's sequence one
    sequence: a warm start continues it exactly as one longer fit would (and
    a model file, which keeps the Generator's state, continues it too).

    Parameters
    ----------
    key : tuple of 2 ints, default=(0, 0)
        Two 32-bit words.
    rows : int, optional
        The rows of an epoch: an array-API device then draws the masks of
        several batches at once (never past the epoch's end).

    Attributes
    ----------
    key : tuple of 2 ints
    epoch : int
        The epoch's number in the network's history (from 0).
    row : int
        The position, in the epoch's row sequence, of the batch's first row.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.backends.random import DropoutDraws
    >>> draws = DropoutDraws()
    >>> draws.begin_epoch(np.random.default_rng(0), epoch=0)
    >>> draws.key
    (3653403231, 2735729615)
    >>> draws.mask(np, (2, 6), 0.5, layer=1, dtype=np.float64)
    array([[0., 0., 2., 0., 0., 2.],
           [2., 2., 0., 0., 0., 0.]])

    A value's decision depends on its row of the epoch, not on the batch:

    >>> draws.at(row=1)
    >>> draws.mask(np, (1, 6), 0.5, layer=1, dtype=np.float64)
    array([[2., 2., 0., 0., 0., 0.]])
    """

    def __init__(self, key=(0, 0), rows=None):
        self.key = (int(key[0]) & _LOW, int(key[1]) & _LOW)
        self.rows = rows
        self.epoch = self.row = 0
        self._pieces = {}  # layer -> (rate, dtype, first row, end row, mask)
        self._scratch = None  # numpy's work arrays

    @classmethod
    def from_rng(cls, rng, rows=None):
        """Draws whose key is drawn from the numpy Generator ``rng`` (epoch 0)."""
        draws = cls(rows=rows)
        draws.begin_epoch(rng, 0)
        return draws

    @classmethod
    def for_layers(cls, layers, rows=None):
        """A fit's draws, handed to the layers that drop; None if none does.

        Each layer whose ``dropout`` is not 0 gets ``_draws = (draws, index)``,
        ``index`` its place in ``layers``.
        """
        if not any(getattr(layer, "dropout", 0) for layer in layers):
            return None
        draws = cls(rows=rows)
        for index, layer in enumerate(layers):
            if getattr(layer, "dropout", 0):
                layer._draws = (draws, index)
        return draws

    def begin_epoch(self, rng, epoch):
        """Draw the key of epoch ``epoch`` from the numpy Generator ``rng``; go to its row 0."""
        k0, k1 = (int(word) for word in rng.integers(0, 2**32, size=2, dtype=np.int64))
        self.key, self.epoch, self.row = (k0, k1), epoch, 0
        self._pieces.clear()

    def at(self, row):
        """Move to the batch whose first row is ``row`` of the epoch's row sequence."""
        self.row = row

    def mask(self, xp, shape, rate, layer, dtype, device=None, out=None):
        """The mask of layer ``layer`` for the current batch (see :func:`dropout_mask`)."""
        if out is not None:  # numpy: work arrays made once per fit (the largest layer's)
            self._scratch = _numpy_scratch(self._scratch, *shape)
            return dropout_mask(
                xp, shape, rate, self.key, self.epoch, layer, self.row, dtype, out=out,
                scratch=self._scratch,
            )  # fmt: skip
        if xp is np or self.rows is None:
            return dropout_mask(
                xp, shape, rate, self.key, self.epoch, layer, self.row, dtype, device
            )
        # A device: the masks of the next batches are made with this one's,
        # up to about _DEVICE_VALUES values, and sliced out step by step (a
        # view: a step's mask costs no operation).
        rows, units = shape
        piece = self._pieces.get(layer)
        if not (
            piece is not None
            and piece[:2] == (rate, dtype)
            and piece[2] <= self.row
            and self.row + rows <= piece[3]
            and piece[4].shape[1] == units
        ):
            end = max(self.row + rows, min(self.rows, self.row + _DEVICE_VALUES // units))
            mask = dropout_mask(
                xp,
                (end - self.row, units),
                rate,
                self.key,
                self.epoch,
                layer,
                self.row,
                dtype,
                device,
            )
            piece = self._pieces[layer] = (rate, dtype, self.row, end, mask)
        first = self.row - piece[2]
        return piece[4][first : first + rows, ...]
