"""Network.predict and Network.loss: the output in blocks of rows, on any backend."""

import numpy as np
from scipy import sparse

from ._data import check_sample_weight, check_X, check_Y, is_float32
from .backends import get_backend
from .losses import get_loss, mean_loss

__all__ = []  # Network's machinery: its public names are Network's

# Rows per predict block: 1024 keeps each layer's activations in cache (measured
# faster than 4096 or one block of all rows, in float32 and float64).
_PREDICT_CHUNK = 1024
# On a device, large blocks keep the device busy; blocks only bound the memory.
_DEVICE_PREDICT_CHUNK = 65536


class _PredictingMixin:
    """The network's outputs for new rows, and the loss of those outputs."""

    def predict(self, X):
        """Return the output layer's activations for ``X``.

        For softmax and sigmoid outputs these are probabilities. Dropout is
        never applied.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Network
        >>> net = Network(2, random_state=0).add_layer(3, "softmax")
        >>> net.predict(np.zeros((1, 2)))
        array([[0.33333333, 0.33333333, 0.33333333]])
        """
        self._check_built()
        backend = get_backend(X)
        if backend.in_place and not sparse.issparse(X) and not hasattr(X, "dtype"):
            X = np.asarray(X)
        # A dtype given to the network wins; otherwise float32 data on a
        # float32 network stay float32 and anything else is float64.
        dtype = self.dtype
        if dtype is None:
            network_dtype = self._array_dtype()
            both_float32 = is_float32(X.dtype) and (
                is_float32(network_dtype) if network_dtype is not None else True
            )
            dtype = np.dtype(np.float32 if both_float32 else np.float64)
        X = check_X(X, self.n_inputs, dtype, backend=backend)
        return self._output(X, backend, backend.dtype(dtype))

    def _output(self, X, backend, dtype):
        """The output layer's activations for ``X``, already checked and in ``dtype``.

        What :meth:`predict` returns once it has checked ``X``; a fit calls it
        for its validation data, checked once per fit.
        """
        # Parameters that live elsewhere (another library or device) are
        # copied for this call; the network keeps its own.
        layers = self._layers_on(backend, dtype)
        # numpy writes the blocks into one array; a backend that writes
        # nothing in place (no buffer) concatenates them.
        out = backend.buffer((X.shape[0], self.n_outputs), dtype)
        if out is None:
            blocks = []
            n = X.shape[0]
            # At least one block: 0 rows give an empty (0, n_outputs) array,
            # in X's library and on its device, as numpy's path does.
            for start in range(0, max(n, 1), _DEVICE_PREDICT_CHUNK):
                # Slices stay in bounds: the standard leaves others unspecified.
                h = X[start : min(start + _DEVICE_PREDICT_CHUNK, n), ...]
                for layer in layers:
                    h = layer.predict(h, backend)
                blocks.append(h)
            return blocks[0] if len(blocks) == 1 else backend.xp.concat(blocks, axis=0)
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            h = X[start : start + _PREDICT_CHUNK]
            for layer in layers:
                h = layer.predict(h)
            out[start : start + h.shape[0]] = h
        return out

    def loss(self, X, Y, loss, sample_weight=None):
        """Return the sample-weighted mean ``loss`` of the predictions on ``X``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
        Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
        loss : str or Loss
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from sknet import Network
        >>> net = Network(1, random_state=0).add_layer(1, "identity")
        >>> net.set_weights([np.ones((1, 1)), np.zeros(1)])
        >>> net.loss([[1.0], [2.0]], [1.0, 4.0], "squared_error")
        1.0
        """
        loss = get_loss(loss)
        prediction = self.predict(X)
        backend = get_backend(prediction)
        dtype = np.dtype(np.float32 if is_float32(prediction.dtype) else np.float64)
        Y = check_Y(Y, self.n_outputs, prediction.shape[0], dtype, backend)
        sample_weight = check_sample_weight(sample_weight, prediction.shape[0], dtype, backend)
        return mean_loss(loss, Y, prediction, sample_weight)
