"""The covariance families and weight priors as plain NumPy: shapes and operations on statistics.

One class per covariance family (:class:`FullShapes`, :class:`TiedShapes`, :class:`DiagShapes`,
:class:`SphericalShapes`) owns everything about that family that needs no TensorFlow: the ranks of
its arrays, the conversions between its covariance shape and others, the default prior from the
data, and the operations on its sufficient statistics that the fit loop and the moves need
(``reorder``, ``merge``, ``drop``, ``add``). The TensorFlow maths of each family lives in
:mod:`skbgmm._svi._families`, in subclasses of these classes, so that one class per family holds
all of it. Nothing here imports TensorFlow: the scikit-learn facade uses these classes directly.

'tied' is the one family whose second moments and covariance are shared by all components rather
than stored per component; :attr:`CovarianceShapes.shared` says so, and the statistics
operations below are the only place that treat it differently.
"""

from __future__ import annotations

import numpy as np

from ._records import Posterior, Stats


class CovarianceShapes:
    """NumPy side of a covariance family. Subclasses set the class attributes."""

    name: str = ""
    #: the covariance (and precision) is one matrix shared by every component
    shared: bool = False
    #: rank of ``covariances_`` / ``precisions_cholesky_`` (component axis included, if any)
    cov_rank: int = 0
    #: rank of the second-moment statistic ``s2``
    s2_rank: int = 0
    #: rank of ``covariance_prior_``
    prior_rank: int = 0
    #: the frame keeps one scale for every feature (isotropy must survive the frame map)
    isotropic: bool = False
    #: the posterior predictive of a component is a product of univariate Student-t laws (one
    #: Gamma per feature), rather than one multivariate Student-t
    independent_predictive: bool = False
    #: a component's per-row work in a step grows as ``n_features`` to this power (its distances
    #: and second moments: D^2 for 'full'; 'tied''s are one projection and one matrix for all)
    row_work_power: int = 1

    @staticmethod
    def pair_moments_faster(n_components, n_features):
        """Whether the TensorFlow half forms the second moments faster from pairs of features
        (``pair_second_moments``; only 'full' has them)."""
        return False

    # -- shapes ----------------------------------------------------------------------------------
    def full_covariances(self, covariances, n_components, n_features):
        """``(..., K, D, D)`` full matrices from covariances of this family's shape."""
        raise NotImplementedError

    def diagonal_variances(self, covariances, n_components, n_features):
        """The variance of every feature of every component, shape ``(..., K, D)``.

        ``covariances`` may carry leading dimensions (posterior draws).
        """
        raise NotImplementedError

    def precisions(self, precisions_cholesky):
        """``precisions_`` from ``precisions_cholesky_`` (``U U^T``, or the square)."""
        return np.asarray(precisions_cholesky) ** 2

    def _shape(self, rank, n_components, n_features):
        if self.shared and rank == 2:  # one (D, D) matrix for all components
            return (n_features, n_features)
        return {
            3: (n_components, n_features, n_features),
            2: (n_components, n_features),
            1: (n_components,),
        }[rank]

    def covariance_shape(self, n_components, n_features):
        """The shape of ``covariances_``, ``precisions_`` and ``precisions_cholesky_``."""
        return self._shape(self.cov_rank, n_components, n_features)

    def statistic_shape(self, n_components, n_features):
        """The shape of the second-moment statistic ``s2``."""
        return self._shape(self.s2_rank, n_components, n_features)

    def prior_shape(self, n_features):
        """The shape of ``covariance_prior_``."""
        return {2: (n_features, n_features), 1: (n_features,), 0: ()}[self.prior_rank]

    # -- priors ----------------------------------------------------------------------------------
    def default_covariance_prior(self, covariance, reg_covar):
        """BayesianGaussianMixture's prior from the data's covariance, plus ``reg_covar``."""
        raise NotImplementedError

    def check_covariance_prior(self, value, n_features):
        """Validate a user's ``covariance_prior`` (already a finite float array)."""
        raise NotImplementedError

    def prior_attribute(self, covariance):
        """``covariance_prior_`` as scikit-learn exposes it."""
        return np.asarray(covariance)

    # -- statistics operations -------------------------------------------------------------------
    def _per_component(self, field, a):
        """True for the arrays indexed by component on axis 0 (not 'tied''s shared ones)."""
        return not (self.shared and field in ("s2", "covariances", "precisions_cholesky"))

    def reorder(self, stats: Stats, order) -> Stats:
        """Statistics with the components permuted to ``order``."""
        return Stats(*(a[order] if self._per_component(f, a) else a for f, a in _items(stats)))

    def merge(self, stats: Stats, i: int, j: int) -> Stats:
        """Statistics with component ``j`` merged into ``i`` (``j`` left empty).

        Every statistic is a sum over rows of responsibilities times a function of the row, so the
        statistics of the merged component are the sums of the two.
        """
        out = []
        for field, a in _items(stats):
            if self._per_component(field, a):
                a = a.copy()
                a[i] = a[i] + a[j]
                a[j] = 0.0
            out.append(a)
        return Stats(*out)

    def pair_sums(self, stats: Stats, pairs) -> Stats:
        """The merged component of each pair ``(i, j)`` of ``pairs`` (P, 2), as :meth:`merge`
        makes it, one per pair; 'tied''s shared second moments are kept."""
        i, j = np.asarray(pairs, dtype=np.intp).reshape(-1, 2).T
        return Stats(*(a[i] + a[j] if self._per_component(f, a) else a for f, a in _items(stats)))

    def empty_component(self, stats: Stats) -> Stats:
        """The statistics of one empty component ('tied''s shared second moments kept)."""
        return Stats(
            *(np.zeros_like(a[:1]) if self._per_component(f, a) else a for f, a in _items(stats))
        )

    def components_table(self, parts) -> Stats:
        """The components of several statistics one after another, as one set of statistics
        (the table the moves' proposals take their components from); 'tied''s shared second
        moments are those of the first part."""
        return Stats(
            *(
                np.concatenate(arrays) if self._per_component(f, arrays[0]) else arrays[0]
                for f, arrays in zip(Stats._fields, zip(*parts))
            )
        )

    def drop(self, stats: Stats, mask) -> Stats:
        """Statistics with the components in ``mask`` emptied.

        The shared second moments of 'tied' are sums over all rows whichever component they
        belong to, so they are kept.
        """
        mask = np.asarray(mask, dtype=bool)
        out = []
        for field, a in _items(stats):
            if self._per_component(field, a):
                a = np.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), 0.0, a)
            out.append(a)
        return Stats(*out)

    def add(self, stats: Stats, other: Stats, sign: float = 1.0) -> Stats:
        """Elementwise ``stats + sign * other`` (statistics of disjoint sets of rows add)."""
        return Stats(*(a + sign * b for a, b in zip(stats, other)))

    def scale(self, stats: Stats, factor: float) -> Stats:
        """Statistics standing for ``factor`` times as much data."""
        return Stats(*(factor * a for a in stats))

    def blend(self, old: Stats, new: Stats, rho: float, factor: float) -> Stats:
        """The natural-gradient step ``(1 - rho) old + rho factor new`` on statistics."""
        return Stats(*((1.0 - rho) * o + (rho * factor) * b for o, b in zip(old, new)))

    def reorder_posterior(self, post: Posterior, order, weights_prior) -> Posterior:
        """A posterior with its components permuted (only for a Dirichlet weight prior)."""
        out = {}
        for field, a in zip(Posterior._fields, post):
            if field == "weight_concentration":
                out[field] = weights_prior.reorder(a, order)
            elif self._per_component(field, a):
                out[field] = a[order]
            else:
                out[field] = a
        return Posterior(**out)


def _items(stats: Stats):
    return zip(Stats._fields, stats)


class FullShapes(CovarianceShapes):
    name = "full"
    cov_rank, s2_rank, prior_rank = 3, 3, 2
    row_work_power = 2

    def full_covariances(self, covariances, n_components, n_features):
        return np.asarray(covariances, dtype=np.float64)

    def diagonal_variances(self, covariances, n_components, n_features):
        return np.diagonal(np.asarray(covariances), axis1=-2, axis2=-1)

    def precisions(self, precisions_cholesky):
        u = np.asarray(precisions_cholesky)
        return np.einsum("...ij,...lj->...il", u, u)

    def default_covariance_prior(self, covariance, reg_covar):
        return covariance + reg_covar * np.eye(covariance.shape[0])

    def check_covariance_prior(self, value, n_features):
        if value.shape != (n_features, n_features):
            raise ValueError(
                f"'{self.name}' covariance_prior should have the shape (n_features, n_features) "
                f"= ({n_features}, {n_features}), but got {value.shape}."
            )
        if not np.allclose(value, value.T):
            raise ValueError(f"'{self.name}' covariance_prior should be symmetric.")


class TiedShapes(FullShapes):
    name = "tied"
    shared = True
    cov_rank, s2_rank, prior_rank = 2, 2, 2
    row_work_power = 1

    def full_covariances(self, covariances, n_components, n_features):
        cov = np.asarray(covariances, dtype=np.float64)
        return np.broadcast_to(
            cov[..., None, :, :], cov.shape[:-2] + (n_components,) + cov.shape[-2:]
        )

    def diagonal_variances(self, covariances, n_components, n_features):
        var = np.diagonal(np.asarray(covariances), axis1=-2, axis2=-1)[..., None, :]
        return np.broadcast_to(var, var.shape[:-2] + (n_components, n_features))


class DiagShapes(CovarianceShapes):
    name = "diag"
    cov_rank, s2_rank, prior_rank = 2, 2, 1
    independent_predictive = True

    def full_covariances(self, covariances, n_components, n_features):
        cov = np.asarray(covariances, dtype=np.float64)
        return cov[..., :, None] * np.eye(n_features)

    def diagonal_variances(self, covariances, n_components, n_features):
        return np.asarray(covariances)

    def default_covariance_prior(self, covariance, reg_covar):
        return np.diag(covariance) + reg_covar

    def check_covariance_prior(self, value, n_features):
        if value.shape != (n_features,):
            raise ValueError(
                f"'diag' covariance_prior should have the shape (n_features,) = ({n_features},), "
                f"but got {value.shape}."
            )
        if np.any(value <= 0):
            raise ValueError("'diag' covariance_prior should be positive.")


class SphericalShapes(CovarianceShapes):
    name = "spherical"
    cov_rank, s2_rank, prior_rank = 1, 1, 0
    isotropic = True

    def full_covariances(self, covariances, n_components, n_features):
        cov = np.asarray(covariances, dtype=np.float64)
        return cov[..., None, None] * np.eye(n_features)

    def diagonal_variances(self, covariances, n_components, n_features):
        var = np.asarray(covariances)[..., None]
        return np.broadcast_to(var, var.shape[:-1] + (n_features,))

    def default_covariance_prior(self, covariance, reg_covar):
        return np.asarray(np.diag(covariance).mean() + reg_covar)

    def check_covariance_prior(self, value, n_features):
        if value.ndim != 0:
            raise ValueError(
                f"'spherical' covariance_prior should be a positive float, got shape {value.shape}."
            )
        if value <= 0:
            raise ValueError("'spherical' covariance_prior should be positive.")

    def prior_attribute(self, covariance):
        return float(covariance)


# ------------------------------------------------------------------------------------------------
# Weight priors
# ------------------------------------------------------------------------------------------------
class WeightShapes:
    """NumPy side of a weight prior."""

    name: str = ""
    #: rank of the posterior concentration (``(K,)`` or the two stick parameters ``(2, K)``)
    concentration_rank: int = 1
    #: the prior is invariant to the order of the components
    exchangeable: bool = True

    def mean_weights(self, weight_concentration):
        """``E[pi_k]``, renormalised over the K components kept (scikit-learn's ``weights_``)."""
        raise NotImplementedError

    def attribute(self, weight_concentration):
        """``weight_concentration_`` as scikit-learn exposes it."""
        return np.asarray(weight_concentration)

    def reorder(self, weight_concentration, order):
        return np.asarray(weight_concentration)[..., order]


class DirichletShapes(WeightShapes):
    name = "dirichlet_distribution"

    def mean_weights(self, weight_concentration):
        wc = np.asarray(weight_concentration, dtype=np.float64)
        return wc / wc.sum()


class StickBreakingShapes(WeightShapes):
    name = "dirichlet_process"
    concentration_rank = 2
    exchangeable = False

    def mean_weights(self, weight_concentration):
        a, b = (np.asarray(v, dtype=np.float64) for v in weight_concentration)
        stick = b / (a + b)
        remaining = np.concatenate([[1.0], np.cumprod(stick)[:-1]])
        weights = a / (a + b) * remaining
        return weights / weights.sum()

    def attribute(self, weight_concentration):
        wc = np.asarray(weight_concentration)
        return (wc[0].copy(), wc[1].copy())


COVARIANCE_SHAPES = {
    cls.name: cls() for cls in (FullShapes, TiedShapes, DiagShapes, SphericalShapes)
}
WEIGHT_SHAPES = {cls.name: cls() for cls in (DirichletShapes, StickBreakingShapes)}


def covariance_shapes(covariance_type: str) -> CovarianceShapes:
    """The NumPy side of the family ``covariance_type``."""
    try:
        return COVARIANCE_SHAPES[covariance_type]
    except KeyError:
        raise ValueError(f"unknown covariance_type {covariance_type!r}") from None


def weight_shapes(prior_type: str) -> WeightShapes:
    """The NumPy side of the weight prior ``prior_type``."""
    return WEIGHT_SHAPES[prior_type]
