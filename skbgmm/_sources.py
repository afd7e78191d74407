"""Where the rows come from: in-memory arrays, memmaps, re-iterable streams of batches, dask.

The data-source protocol, which is all the trainer knows of the data:

- ``n_features``: the width of the rows;
- ``chunks(rows=None)``: every row once, in order, as ``(X, sample_weight)`` NumPy pairs (the
  moments pass, full-data passes);
- ``minibatches(batch_size, rng)``: every row once per epoch in minibatches, shuffled where the
  data can be indexed at random (arrays and memmaps), in stream order otherwise;
- ``subsample(n_rows, rng)``: at most ``n_rows`` rows for the initialisation;
- ``map_chunks(func, *args, rows=None)``: ``[func(X, w, *args) for each chunk]``, run wherever the
  chunk lives; ``apply(func, batch, *args)``: the same on one minibatch;
- ``moments()``: the weighted mean and covariance in one pass;
- ``like(X, w)``: a source of the same kind over some rows in memory (``partial_fit``'s
  streaming births re-absorb rows they held back);
- ``local``: a capability flag, True when the rows are read in this process (so a
  ``tf.distribute`` strategy may share each step's rows out across its replicas), False when
  the work runs elsewhere (dask workers).

Streams are validated batch by batch as they are read: a bad batch raises a ``ValueError`` that
names the batch. Plain NumPy; nothing here imports TensorFlow (a ``tf.data.Dataset`` is read
through its own ``as_numpy_iterator``).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ._priors import data_moments, merge_moments, partial_moments

_CHUNK = 65536
_SHUFFLE_RUN = 64  # rows that stay together when minibatches are shuffled


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
    if np.any(np.isinf(X)):
        raise ValueError(f"{where}: contains infinity (NaN marks a missing entry; inf is invalid).")
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


class _LocalSource:
    """Sources whose rows are read in this process: work is applied where the data are."""

    local = True

    def map_chunks(self, func, *args, rows=None):
        """``[func(X, w, *args) for each chunk]``."""
        return [func(X, w, *args) for X, w in self.chunks(rows)]

    def apply(self, func, batch, *args):
        """``func(X, w, *args)`` on one minibatch yielded by :meth:`minibatches`."""
        return func(batch[0], batch[1], *args)

    def moments(self):
        """Weighted moments of the data in one pass."""
        return data_moments(self.chunks())

    def like(self, X, sample_weight):
        """A source of the same kind over the rows ``X`` (already validated, in memory)."""
        return ArraySource(X, sample_weight)


class ArraySource(_LocalSource):
    """Rows of an array (or memmap) already validated by the estimator."""

    def __init__(self, X, sample_weight=None):
        self.X = X
        self._w = sample_weight  # None: every row weighs 1 (no array of ones is allocated)
        self.n_features = X.shape[1]

    def _weights(self, index):
        if self._w is None:
            n = (
                len(range(*index.indices(self.X.shape[0])))
                if isinstance(index, slice)
                else len(index)
            )
            return np.ones(n)
        return self._w[index]

    @property
    def w(self):
        return self._weights(slice(None))

    def chunks(self, rows=None):
        rows = rows or _CHUNK
        for start in range(0, self.X.shape[0], rows):
            index = slice(start, start + rows)
            yield self.X[index], self._weights(index)

    def minibatches(self, batch_size, rng):
        """Random minibatches of ``batch_size`` rows (the last of an epoch may be smaller).

        The rows are shuffled in runs of ``_SHUFFLE_RUN`` consecutive rows: the permutation is
        1/64 of the rows (never one entry per row, which would cost 8 bytes a row on a large
        memmap) and the reads of a memmap stay sequential within a run, while a minibatch still
        mixes rows from all over the data. Runs are cut where a minibatch ends.
        """
        n = self.X.shape[0]
        if batch_size >= n:
            yield self.X, self.w
            return
        n_runs = -(-n // _SHUFFLE_RUN)
        runs = rng.permutation(n_runs)
        offsets = np.arange(_SHUFFLE_RUN)
        per_batch = -(-batch_size // _SHUFFLE_RUN) + 1  # runs enough for one minibatch
        pending = np.empty(0, dtype=np.int64)
        for i in range(0, n_runs, per_batch):
            idx = (runs[i : i + per_batch, None] * _SHUFFLE_RUN + offsets[None, :]).ravel()
            pending = np.concatenate([pending, idx[idx < n]])
            while pending.size >= batch_size:
                rows, pending = np.sort(pending[:batch_size]), pending[batch_size:]
                yield self.X[rows], self._weights(rows)
        if pending.size:
            rows = np.sort(pending)
            yield self.X[rows], self._weights(rows)

    def subsample(self, n_rows, rng):
        """At most ``n_rows`` rows that carry weight, drawn at random (all of them if fewer)."""
        n = self.X.shape[0]
        if self._w is not None and not np.all(self._w > 0):
            positive = np.flatnonzero(self._w > 0)
            if positive.size > n_rows:
                positive = np.sort(positive[rng.permutation(positive.size)[:n_rows]])
            return np.asarray(self.X[positive]), self._w[positive]
        if n <= n_rows:
            return np.asarray(self.X), self.w
        # distinct random rows without a permutation of all n (which would cost 8 bytes a row)
        rows = np.unique(rng.randint(0, n, size=n_rows + n_rows // 4 + 16))
        while rows.size < n_rows:
            rows = np.unique(np.r_[rows, rng.randint(0, n, size=n_rows)])
        rows = np.sort(rows[rng.permutation(rows.size)[:n_rows]])
        return np.asarray(self.X[rows]), self._weights(rows)


class StreamSource(_LocalSource):
    """A re-iterable stream of batches: a ``tf.data.Dataset``, a callable or an iterable.

    Each batch is an array ``X`` or a pair ``(X, sample_weight)``. A callable is called once per
    pass and must return a fresh iterable; an iterable must be re-iterable (a list, or an object
    whose ``__iter__`` starts over), not a one-shot generator.
    """

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
        """The first ``n_rows`` rows of the stream that carry weight."""
        xs, ws, count = [], [], 0
        for X, w in self.chunks():
            keep = w > 0
            X, w = X[keep], w[keep]
            xs.append(X[: n_rows - count])
            ws.append(w[: n_rows - count])
            count += xs[-1].shape[0]
            if count >= n_rows:
                break
        return np.concatenate(xs).astype(np.float64), np.concatenate(ws)


def is_dask(X):
    """True for a dask array or dask DataFrame (checked without importing dask)."""
    module = type(X).__module__
    return module.startswith("dask.") or module.startswith("dask_expr")


class DaskSource:
    """Rows of a dask array (or DataFrame), read and processed on the workers holding them.

    Every per-row computation (validation, moments, responsibilities and sufficient statistics)
    runs as one task per block, next to the block; only the per-component statistics come back
    to the client, which applies the global update. With a ``distributed`` client active the
    tasks run on its cluster; otherwise on dask's default scheduler. Minibatches are whole
    blocks, in block order (like a stream: the rows should be in random order), so a fit is
    the same, step for step, as a fit on the list of the blocks as NumPy arrays.
    """

    def __init__(self, X, sample_weight=None):
        import dask.array as da

        names = None
        if hasattr(X, "columns"):  # a dask DataFrame
            # names only when every column label is a string, as scikit-learn does
            if all(isinstance(c, str) for c in X.columns):
                names = list(X.columns)
            X = X.to_dask_array(lengths=True)
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D dask array, got {X.ndim} dimensions.")
        if X.shape[1] is None or any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        X = X.rechunk({1: -1})  # every block holds whole rows
        if sample_weight is None:
            w = da.ones(X.shape[0], chunks=(X.chunks[0],), dtype=np.float64)
        else:
            w = da.asarray(sample_weight).astype(np.float64)
            if w.shape != (X.shape[0],):
                raise ValueError(
                    f"sample_weight.shape == {w.shape}, expected ({X.shape[0]},): one weight per "
                    "sample."
                )
            w = w.rechunk((X.chunks[0],))
        self.X, self.w = X, w
        self.n_features = X.shape[1]
        self.feature_names = names
        self._blocks = list(zip(X.to_delayed().ravel(), w.to_delayed().ravel()))

    def map_chunks(self, func, *args, rows=None):
        import dask

        tasks = [dask.delayed(func)(xb, wb, *args) for xb, wb in self._blocks]
        return list(dask.compute(*tasks))

    def minibatches(self, batch_size, rng):
        return iter(self._blocks)

    def apply(self, func, batch, *args):
        import dask

        return dask.compute(dask.delayed(func)(batch[0], batch[1], *args))[0]

    def moments(self):
        return merge_moments(self.map_chunks(_checked_moments, self.n_features))

    def subsample(self, n_rows, rng):
        """The first ``n_rows`` rows that carry weight (only they travel to the client)."""
        import dask

        xs, ws, count = [], [], 0
        for xb, wb in self._blocks:
            X, w = dask.compute(xb, wb)
            keep = np.asarray(w) > 0
            X, w = np.asarray(X, dtype=np.float64)[keep], np.asarray(w, dtype=np.float64)[keep]
            xs.append(X[: n_rows - count])
            ws.append(w[: n_rows - count])
            count += xs[-1].shape[0]
            if count >= n_rows:
                break
        return np.concatenate(xs), np.concatenate(ws)


def _checked_moments(X, w, n_features):
    """Validate one block (on a worker) and return its moments."""
    X, w = _check_batch(X, w, n_features, "a block of the dask array")
    return partial_moments(X, w)


def _is_batch(item):
    """A 2-D array, or an ``(X, sample_weight)`` pair whose ``X`` is 2-D (not a row of numbers)."""
    if hasattr(item, "ndim"):
        return item.ndim == 2
    if isinstance(item, tuple) and len(item) == 2:
        first = item[0]
        return getattr(first, "ndim", None) == 2 or (
            isinstance(first, list) and bool(first) and isinstance(first[0], (list, tuple))
        )
    return False


def is_stream(X):
    """True for inputs read as a stream of batches rather than as one array."""
    if sp.issparse(X) or is_dask(X):
        return False  # validated (and refused) as an array, or read as a dask source
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "__array__"):
        # a list of rows (lists, tuples or 1-D arrays of numbers) is an array; a list of 2-D
        # arrays, or of (2-D array, weights) pairs, is a stream of batches
        return isinstance(X, list) and bool(X) and all(_is_batch(b) for b in X)
    if hasattr(X, "as_numpy_iterator"):
        return True
    if callable(X):
        return True
    return hasattr(X, "__iter__") and not isinstance(X, (str, bytes, numbers.Number))
