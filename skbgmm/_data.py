"""Data sets used by the demo, the examples and the tests (plain NumPy)."""

from __future__ import annotations

import numpy as np

RECIPE_MEANS = np.array([[2.0, 0.0], [-2.0, -4.0], [-2.0, 4.0]])


def make_recipe_data(n_samples=3000, random_state=12345, dtype=np.float64):
    """The reference recipe's data: three unit-variance 2-D clusters of equal size.

    Cluster centres are (2, 0), (-2, -4) and (-2, 4); rows come grouped by cluster, as in the
    recipe. ``skbgmm demo`` fits them.

    Parameters
    ----------
    n_samples : int, default=3000
        The number of points.
    random_state : int, default=12345
        Seed of the draw.
    dtype : numpy dtype, default=numpy.float64
        The dtype of ``X``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points.
    y : ndarray of shape (n_samples,)
        The cluster of each point (0, 1 or 2).
    """
    rng = np.random.RandomState(random_state)
    X = rng.randn(n_samples, 2)
    y = np.repeat(np.arange(3), -(-n_samples // 3))[:n_samples]
    X += RECIPE_MEANS[y]
    return X.astype(dtype), y


# The reference recipe's priors in VariationalGMM's parameters (2-D data, 3 components): means
# Normal(0, 1) independent of the precisions, precisions Gamma(5, 5) = Gamma(10 / 2, 10 / 2),
# weights Dirichlet(2). They need inference='gradient'.
RECIPE_PRIORS = dict(
    covariance_type="diag",
    weight_concentration_prior_type="dirichlet_distribution",
    weight_concentration_prior=2.0,
    mean_prior_type="independent",
    mean_prior=[0.0, 0.0],
    mean_precision_prior=1.0,
    degrees_of_freedom_prior=10.0,
    covariance_prior=[10.0, 10.0],
)
