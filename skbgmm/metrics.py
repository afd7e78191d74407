"""Estimator-neutral scoring for comparing Gaussian mixtures.

:func:`plugin_log_likelihood` scores any fitted mixture that exposes ``weights_``, ``means_``,
``covariances_`` and ``covariance_type`` (skbgmm's and scikit-learn's alike) with one formula, so
quality comparisons do not depend on each estimator's own ``score``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

from ._svi._family_shapes import covariance_shapes


def plugin_log_likelihood(estimator, X, chunk_size=65536):
    """Per-sample log density of the Gaussian mixture with the estimator's point estimates.

    Parameters
    ----------
    estimator : fitted mixture
        Anything with ``weights_``, ``means_``, ``covariances_`` and ``covariance_type``
        (:class:`skbgmm.VariationalGMM`, :class:`sklearn.mixture.BayesianGaussianMixture`,
        :class:`sklearn.mixture.GaussianMixture`).
    X : array-like of shape (n_samples, n_features)
        The points to score.
    chunk_size : int, default=65536
        Rows scored at a time, to bound memory.

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        ``log sum_k weights_[k] * Normal(x | means_[k], covariances_[k])``.
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(estimator.means_, dtype=np.float64)
    n_components, n_features = means.shape
    covs = covariance_shapes(estimator.covariance_type).full_covariances(
        estimator.covariances_, n_components, n_features
    )
    chols = np.linalg.cholesky(covs)
    log_det = 2.0 * np.log(np.diagonal(chols, axis1=1, axis2=2)).sum(axis=1)
    log_w = np.log(np.asarray(estimator.weights_, dtype=np.float64))
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], chunk_size):
        xb = X[start : start + chunk_size]
        comp = np.empty((xb.shape[0], n_components))
        for k in range(n_components):
            diff = (xb - means[k]).T
            y = solve_triangular(chols[k], diff, lower=True)
            comp[:, k] = -0.5 * (
                np.sum(y * y, axis=0) + log_det[k] + n_features * np.log(2 * np.pi)
            )
        out[start : start + chunk_size] = logsumexp(comp + log_w[None], axis=1)
    return out
