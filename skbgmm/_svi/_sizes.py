"""How many rows one traced call takes: the bound on its (rows, K, D) temporaries. Plain Python.

A traced function's per-row work makes temporaries of about ``rows x K x D`` elements (the
squared distances' GEMM output, the responsibility-weighted points of the second moments), so a
call on too many rows needs memory out of proportion to the data: a 16,384-row initialisation
with K=100 and D=64 took ~1 GB in one call, a ``partial_fit`` batch of 500,000 x 10 rows with
K=10 ~600 MB. Full passes and predictions work in chunks of :func:`chunk_rows`; no traced call
of the trainer takes more than :func:`step_rows` (a minibatch step on more is computed in parts
of at most that many rows and its statistics summed).

Kept free of TensorFlow, so that the estimator can size its ``'auto'`` minibatches with it at
import time.
"""

from __future__ import annotations

_CHUNK_ELEMENTS = 1 << 21  # rows * n_components * n_features per chunk
_STEP_ELEMENTS = 1 << 22  # ... per traced call at most (an 'auto' minibatch's largest size)
_MIN_ROWS = 256


def chunk_rows(n_components: int, n_features: int) -> int:
    """Rows per chunk for full passes and prediction, bounding the (n, K, D) temporaries."""
    return int(max(_MIN_ROWS, _CHUNK_ELEMENTS // max(1, n_components * n_features)))


def step_rows(n_components: int, n_features: int) -> int:
    """The most rows one traced call of the trainer takes (a minibatch step, initial or birth
    statistics, distances): ~32 MB per float64 temporary."""
    return int(max(_MIN_ROWS, _STEP_ELEMENTS // max(1, n_components * n_features)))
