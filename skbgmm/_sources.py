"""Where the rows come from: in-memory arrays, memmaps, and re-iterable streams of batches.

A source gives the trainer two ways through the data, both yielding validated float arrays and
their sample weights:

- ``chunks()``: every row once, in order (full-data passes, the moments pass, prediction);
- ``minibatches(batch_size, rng)``: every row once per epoch in minibatches, shuffled where the
  data can be indexed at random (arrays and memmaps), in stream order otherwise.

Streams are validated batch by batch as they are read: a bad batch raises a ``ValueError`` that
names the batch. Plain NumPy; nothing here imports TensorFlow (a ``tf.data.Dataset`` is read
through its own ``as_numpy_iterator``).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

_CHUNK = 65536


def _check_batch(X, w, n_features, where):
    """A validated (float array, weights) pair; ``where`` names the batch in messages."""
    if isinstance(X, tuple) and w is None and len(X) == 2:
        X, w = X
    try:
        X = np.asarray(X)
    except Exception as exc:  # noqa: BLE001 - anything unconvertible is a bad batch
        raise TypeError(f"{where}: cannot be read as an array ({exc}).") from None
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{where}: expected numbers, got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(f"{where}: expected a 2D array (rows, features), got {X.ndim} dimensions.")
    if X.shape[0] == 0:
        raise ValueError(f"{where}: the batch is empty (0 samples).")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{where}: has {X.shape[1]} features, but earlier batches had {n_features}: "
            "every batch needs the same width."
        )
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{where}: contains NaN or infinity.")
    if w is None:
        w = np.ones(X.shape[0])
    else:
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (X.shape[0],):
            raise ValueError(
                f"{where}: sample_weight has shape {w.shape}, expected ({X.shape[0]},)."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{where}: sample_weight must be finite and non-negative.")
    return X, w


class ArraySource:
    """Rows of an array (or memmap) already validated by the estimator."""

    shuffles = True

    def __init__(self, X, sample_weight):
        self.X = X
        self.w = sample_weight
        self.n_features = X.shape[1]

    def chunks(self, rows=_CHUNK):
        for start in range(0, self.X.shape[0], rows):
            yield self.X[start : start + rows], self.w[start : start + rows]

    def minibatches(self, batch_size, rng):
        n = self.X.shape[0]
        perm = rng.permutation(n)
        for i in range(0, n, batch_size):
            idx = np.sort(perm[i : i + batch_size])
            yield self.X[idx], self.w[idx]

    def subsample(self, n_rows, rng):
        """At most ``n_rows`` rows drawn at random (all rows when there are fewer)."""
        n = self.X.shape[0]
        if n <= n_rows:
            return np.asarray(self.X), self.w
        rows = np.sort(rng.choice(n, n_rows, replace=False))
        return np.asarray(self.X[rows]), self.w[rows]


class StreamSource:
    """A re-iterable stream of batches: a ``tf.data.Dataset``, a callable or an iterable.

    Each batch is an array ``X`` or a pair ``(X, sample_weight)``. A callable is called once per
    pass and must return a fresh iterable; an iterable must be re-iterable (a list, or an object
    whose ``__iter__`` starts over), not a one-shot generator.
    """

    shuffles = False

    def __init__(self, data, n_features=None):
        self.data = data
        self.n_features = n_features
        self._passes = 0

    def _iterate(self):
        data = self.data
        if hasattr(data, "as_numpy_iterator") and type(data).__module__.startswith("tensorflow"):
            it = data.as_numpy_iterator()
        elif callable(data):
            it = iter(data())
        else:
            it = iter(data)
        if self._passes > 0 and it is data:
            raise ValueError(
                "the data stream is a one-shot iterator, but fitting reads it several times: "
                "pass a list of batches, a callable returning a new iterator, or a tf.data.Dataset."
            )
        self._passes += 1
        return it

    def chunks(self, rows=None):
        n_batches = 0
        for i, batch in enumerate(self._iterate()):
            X, w = _check_batch(batch, None, self.n_features, f"batch {i} of the data stream")
            if self.n_features is None:
                self.n_features = X.shape[1]
            n_batches += 1
            if rows is None or X.shape[0] <= rows:
                yield X, w
            else:
                for s in range(0, X.shape[0], rows):
                    yield X[s : s + rows], w[s : s + rows]
        if n_batches == 0:
            raise ValueError("the data stream yielded no batches.")

    def minibatches(self, batch_size, rng):
        return self.chunks(batch_size)

    def subsample(self, n_rows, rng):
        """The first ``n_rows`` rows of the stream."""
        xs, ws, count = [], [], 0
        for X, w in self.chunks():
            xs.append(X[: n_rows - count])
            ws.append(w[: n_rows - count])
            count += xs[-1].shape[0]
            if count >= n_rows:
                break
        return np.concatenate(xs).astype(np.float64), np.concatenate(ws)


def is_stream(X):
    """True for inputs read as a stream of batches rather than as one array."""
    if sp.issparse(X):
        return False  # validated (and refused) as an array
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "__array__"):
        # a list of equal-length rows is an array; a list of 2-D arrays is a stream
        if isinstance(X, list) and X and all(
            isinstance(b, tuple) or (hasattr(b, "ndim") and b.ndim == 2) for b in X
        ):
            return True
        return False
    if hasattr(X, "as_numpy_iterator"):
        return True
    if callable(X):
        return True
    return hasattr(X, "__iter__") and not isinstance(X, (str, bytes, numbers.Number))
