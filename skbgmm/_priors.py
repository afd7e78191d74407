"""Resolve ``None`` priors from the data as :class:`~sklearn.mixture.BayesianGaussianMixture` does.

Plain NumPy. The data's weighted mean and covariance are accumulated over row chunks in one pass, so
an array that does not fit in memory (a :class:`numpy.memmap`) is never copied whole.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._svi._family_shapes import covariance_shapes
from ._svi._records import Frame, Prior


class Moments(NamedTuple):
    """Weighted first and second moments of the data."""

    n_rows: int
    total_weight: float
    mean: np.ndarray
    covariance: np.ndarray  # weighted, normalised by the total weight (ddof=0)
    n_empty_rows: int = 0  # rows with no observed entry (given no weight)


def partial_moments(X, sample_weight):
    """(rows, total weight, weighted mean, weighted scatter, column weights, empty rows) of one
    chunk of rows.

    Missing entries (NaN) are left out: each column's mean and variance come from its observed
    entries (``column weights`` is the weight observed in each column) and the cross terms
    from the deviations with missing entries at the column mean (a covariance whose
    correlations are shrunk towards zero, still positive semi-definite). Rows with no observed
    entry carry no weight.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    observed = ~np.isnan(X)
    n_empty = 0
    if not observed.all():
        empty = ~observed.any(axis=1)
        n_empty = int(empty.sum())
        w = np.where(empty, 0.0, w)
    wsum = float(w.sum())
    n_feat = X.shape[1]
    if wsum <= 0:
        return (
            X.shape[0],
            0.0,
            np.zeros(n_feat),
            np.zeros((n_feat, n_feat)),
            np.zeros(n_feat),
            n_empty,
        )
    if observed.all():
        mean = w @ X / wsum
        diff = X - mean
        return X.shape[0], wsum, mean, (diff * w[:, None]).T @ diff, np.full(n_feat, wsum), n_empty
    col = w @ observed
    safe = np.where(col > 0, col, 1.0)
    mean = np.where(observed, X, 0.0).T @ w / safe
    diff = np.where(observed, X - mean, 0.0)
    return X.shape[0], wsum, mean, (diff * w[:, None]).T @ diff, col, n_empty


def merge_moments(parts) -> Moments:
    """Merge chunk moments with the pairwise update of Chan, Golub and LeVeque.

    The update stays accurate for data far from the origin, and the chunks can come from
    anywhere: a loop over an array, a stream, or workers of a cluster. Each column's weight
    is its own (missing entries), so the update runs per column.
    """
    n_rows = n_empty = 0
    total = 0.0
    mean = scatter = col = None
    for rows, wsum, mb, sb, cb, eb in parts:
        if mean is None:
            mean = np.zeros_like(mb)
            scatter = np.zeros_like(sb)
            col = np.zeros_like(mb)
        n_rows += rows
        n_empty += eb
        if wsum <= 0:
            continue
        delta = mb - mean
        new_col = col + cb
        safe = np.where(new_col > 0, new_col, 1.0)
        root = delta * np.sqrt(col * cb / safe)
        scatter = scatter + sb + np.outer(root, root)
        mean = mean + delta * (cb / safe)
        col = new_col
        total += wsum
    if mean is None:
        raise ValueError("the data hold no rows.")
    if total > 0 and np.any(col <= 0):
        raise ValueError(
            f"feature(s) {np.flatnonzero(col <= 0).tolist()} have no observed value (every "
            "entry is missing): drop them."
        )
    # normalised by the total weight: the same for weights w and c * w (weights that sum to one
    # are common), and the same for a row of integer weight k as for k copies of it; a column
    # with missing entries by its own observed weight
    norm = np.sqrt(np.outer(col, col)) if total > 0 else 1.0
    covariance = scatter / norm if total > 0 else scatter
    return Moments(n_rows, total, mean, covariance, n_empty)


def data_moments(chunks) -> Moments:
    """Weighted mean and covariance in one pass over ``(X, sample_weight)`` chunks."""
    return merge_moments(partial_moments(x, w) for x, w in chunks)


def make_frame(moments: Moments, covariance_type: str) -> Frame:
    """The trainer's working frame: centred at the data mean, scaled by the feature spreads."""
    var = np.diag(moments.covariance).copy()
    if covariance_shapes(covariance_type).isotropic:
        spread = np.sqrt(var.mean())
        scale = np.full_like(var, spread if spread > 0 else 1.0)
    else:
        scale = np.sqrt(var)
        scale[~(scale > 0)] = 1.0
    return Frame(shift=moments.mean.copy(), scale=scale)


def _as_float_array(value, name):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric array-like, got {value!r}.") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values.")
    return arr


def resolve_prior(estimator, moments: Moments, frame: Frame) -> Prior:
    """Resolve and check every prior hyperparameter of ``estimator`` against the data.

    Raises ``ValueError`` naming the parameter for shapes and values that do not fit the data.
    """
    n_features = moments.mean.shape[0]
    shapes = covariance_shapes(estimator.covariance_type)
    reg_covar = estimator.reg_covar

    wcp = estimator.weight_concentration_prior
    weight_concentration = 1.0 / estimator.n_components if wcp is None else float(wcp)

    mpp = estimator.mean_precision_prior
    mean_precision = 1.0 if mpp is None else float(mpp)

    if estimator.mean_prior is None:
        mean = moments.mean.copy()
    else:
        mean = _as_float_array(estimator.mean_prior, "mean_prior")
        if mean.shape != (n_features,):
            raise ValueError(
                f"mean_prior should have the shape (n_features,) = ({n_features},), "
                f"but got {mean.shape}."
            )
        # the posterior scatter gains mean_precision * (data mean - mean_prior)^2: beyond ~1e12
        # data variances it swamps every other direction and float64 cannot hold the result
        distance = np.max(np.abs(mean - moments.mean) / frame.scale)
        if mean_precision * distance**2 > 1e12:
            raise ValueError(
                f"mean_prior is {distance:.3g} standard deviations from the data's mean: with "
                f"mean_precision_prior={mean_precision:g} the posterior covariances would be "
                "dominated by that distance beyond what float64 can represent. Give a "
                "mean_prior nearer the data or a smaller mean_precision_prior."
            )

    dfp = estimator.degrees_of_freedom_prior
    if dfp is None:
        dof = float(n_features)
    elif dfp > n_features - 1.0:
        dof = float(dfp)
    else:
        raise ValueError(
            f"The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{n_features - 1} (n_features - 1), but got {dfp:.3f}."
        )

    cp = estimator.covariance_prior
    if cp is None:
        # BayesianGaussianMixture's choice, plus reg_covar on the diagonal so that the prior stays
        # positive definite for constant or collinear features.
        covariance = shapes.default_covariance_prior(moments.covariance, reg_covar)
        if covariance.ndim == 2 and not _is_positive_definite(covariance, frame):
            covariance = covariance + max(reg_covar, 1e-10) * np.diag(frame.scale**2)
    else:
        covariance = _as_float_array(cp, "covariance_prior")
        shapes.check_covariance_prior(covariance, n_features)
        if covariance.ndim == 2 and not _is_positive_definite(covariance, frame):
            raise ValueError(f"'{shapes.name}' covariance_prior should be positive definite.")
    return Prior(weight_concentration, mean_precision, mean, dof, np.asarray(covariance))


def _is_positive_definite(matrix, frame: Frame) -> bool:
    """Positive definiteness, judged on the matrix scaled to unit feature spreads."""
    scaled = matrix / np.outer(frame.scale, frame.scale)
    try:
        np.linalg.cholesky(scaled)
    except np.linalg.LinAlgError:
        return False
    return bool(np.linalg.eigvalsh(scaled).min() > 1e-12 * max(1.0, np.abs(scaled).max()))
