"""Missing entries (NaN) in rows: which rows, grouped by missingness pattern. Plain NumPy.

Rows with missing entries take the trainer's and the predictors' partially observed path
(:mod:`skbgmm._svi._observed`), complete rows the usual one. A row with no observed entry
carries no information: a fit gives it no weight, a prediction gives it the prior answer
(the mixture weights as responsibilities, log density 0 of an empty observation).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class MissingRows(NamedTuple):
    """The rows of a chunk that miss entries, and their missingness patterns."""

    complete: np.ndarray  # indices of the complete rows
    incomplete: np.ndarray  # indices of the rows with a missing entry
    patterns: np.ndarray  # (P, D) float64, 1 where observed
    index: np.ndarray  # (len(incomplete),) int32: each incomplete row's pattern
    empty: np.ndarray  # (len(incomplete),) bool: rows with no observed entry


def missing_rows(X) -> MissingRows | None:
    """The missingness of ``X``'s rows, or None when every entry is observed."""
    X = np.asarray(X)
    if X.dtype.kind != "f":
        return None
    nan = np.isnan(X)
    if not nan.any():
        return None
    bad = nan.any(axis=1)
    patterns, index = np.unique(~nan[bad], axis=0, return_inverse=True)
    return MissingRows(
        complete=np.flatnonzero(~bad),
        incomplete=np.flatnonzero(bad),
        patterns=patterns.astype(np.float64),
        index=np.asarray(index, dtype=np.int32).ravel(),
        empty=nan[bad].all(axis=1),
    )


def filled(X, values):
    """``X`` as float64 with its missing entries replaced by ``values`` (broadcast per row)."""
    X = np.array(X, dtype=np.float64)
    nan = np.isnan(X)
    if nan.any():
        X[nan] = np.broadcast_to(values, X.shape)[nan]
    return X
