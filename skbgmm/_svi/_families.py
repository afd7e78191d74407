"""The covariance families and weight priors in TensorFlow: each owns its shapes and its maths.

A family (:class:`Full`, :class:`Tied`, :class:`Diag`, :class:`Spherical`) is the conjugate
Normal-Wishart or Normal-Gamma model of one ``covariance_type``. It subclasses its NumPy side in
:mod:`skbgmm._svi._family_shapes` (shapes, statistics operations), and adds every piece of
TensorFlow maths that depends on the covariance form:

- the per-row work: squared Mahalanobis distances, second-moment statistics;
- the posterior from statistics, ``E[log |Lambda|]``, the KL of the precisions, the expected
  quadratic form of the statistics (for the ELBO computed from statistics alone, which the merge
  moves need);
- the maps between the data's units and the trainer's frame;
- the Student-t laws of the posterior predictive and of the means' marginal posterior, the
  marginals of the variances, and the precision posterior as distributions (for sampling);
- the unconstrained parameterisation of the gradient engine.

The generic maths that composes them (responsibilities, ELBO, predictive mixture) is in
:mod:`skbgmm._svi._model`; it never asks which family it holds. A weight prior
(:class:`Dirichlet`, :class:`StickBreaking`) owns ``E[log pi]``, the posterior concentration from
counts, its KL and its distribution.
"""

from __future__ import annotations

import math

from . import _family_shapes as shapes
from ._tf import dim, made_once, tf, tfb, tfd

DTYPE = tf.float64
_LOG_2 = math.log(2.0)


def _d(n_features):
    return tf.cast(n_features, DTYPE)


def _half_dof_grid(dof, n_features):
    """``dof / 2 - i / 2`` for ``i < D``: the arguments of a Wishart's multivariate gamma and
    digamma sums, shape (K, D) for ``dof`` (K,), (D,) for a scalar."""
    return 0.5 * (tf.expand_dims(dof, -1) - tf.range(n_features, dtype=DTYPE))


class _Distances:
    """The squared Mahalanobis distances of points to components, in both layouts.

    Every family computes them component-major from the points as columns,
    :meth:`component_distances` of the (D, n) array ``X_t`` giving (K, n): the features are
    reduced along rows of n contiguous values, and the responsibilities' normaliser along K such
    rows, both much faster than reductions over the last axis of an (n, K, D) or (n, K) array
    (one 20,971 x 10 step, K=10, float32: 0.7-0.8x). The trainer's steps hold their rows as
    columns throughout (``second_moments`` takes them too). :meth:`mahalanobis` is the (n, K)
    array of (n, D) rows that the other maths uses.
    """

    def mahalanobis(self, X, means, precisions_cholesky):
        """(x_n - m_k)^T P_k (x_n - m_k), shape (n, K)."""
        distances = self.component_distances(tf.transpose(X), means, precisions_cholesky)
        return tf.transpose(distances)


def symmetrise(a):
    return 0.5 * (a + tf.linalg.matrix_transpose(a))


def precision_cholesky_from_covariance(cov):
    """Upper-triangular U with U U^T = cov^-1 (scikit-learn's ``precisions_cholesky_``)."""
    cov_chol = tf.linalg.cholesky(cov)
    eye = tf.eye(dim(cov, -1), batch_shape=tf.shape(cov)[:-2], dtype=DTYPE)
    return tf.linalg.matrix_transpose(tf.linalg.triangular_solve(cov_chol, eye, lower=True))


def _component_means(nk, s1, beta0, beta):
    """Each component's data mean ``s1 / nk`` (0 for an empty one) and ``beta0 nk / beta``.

    The scatter of a Normal-Wishart (or Normal-Gamma) update is written as the scatter around
    the component's own mean plus ``beta0 nk / beta (xbar - m0)(xbar - m0)^T``: no term grows with
    the distance between the data and the prior mean only to cancel another, so a ``mean_prior``
    far from the data gives a proper (prior-dominated) posterior, not NaN.
    """
    safe = tf.where(nk > 0.0, nk, tf.ones_like(nk))
    xbar = tf.where(tf.expand_dims(nk > 0.0, 1), s1 / tf.expand_dims(safe, 1), tf.zeros_like(s1))
    return xbar, beta0 * nk / beta


# Closed-form KL divergences: TFP's distribution objects cost most of a step's trace (its Beta
# KL alone 0.1 s), and these are one line each (checked against TFP in tests/test_families.py).
def _log_beta(a, b):
    return tf.math.lgamma(a) + tf.math.lgamma(b) - tf.math.lgamma(a + b)


def beta_kl(a, b, a0, b0):
    """KL(Beta(a, b) || Beta(a0, b0)), elementwise."""
    return (
        _log_beta(a0, b0)
        - _log_beta(a, b)
        + (a - a0) * tf.math.digamma(a)
        + (b - b0) * tf.math.digamma(b)
        + (a0 - a + b0 - b) * tf.math.digamma(a + b)
    )


def gamma_kl(shape, rate, shape0, rate0):
    """KL(Gamma(shape, rate) || Gamma(shape0, rate0)), elementwise."""
    return (
        (shape - shape0) * tf.math.digamma(shape)
        - tf.math.lgamma(shape)
        + tf.math.lgamma(shape0)
        + shape0 * (tf.math.log(rate) - tf.math.log(rate0))
        + shape * (rate0 - rate) / rate
    )


# variances of the gradient engine (frame units): a floor far below any variance a data column
# can have in the frame (a constant column's prior variance is reg_covar, 1e-6)
_VARIANCE_FLOOR = 1e-10
# (made on first use, so that TFP is imported only when needed)
_variance_bijector = made_once(lambda: tfb.Softplus(low=tf.constant(_VARIANCE_FLOOR, DTYPE)))
_tril_bijector = made_once(
    lambda: tfb.FillScaleTriL(
        diag_bijector=tfb.Softplus(low=tf.constant(1e-6, DTYPE)), diag_shift=None
    )
)


# ------------------------------------------------------------------------------------------------
# Normal-Wishart families
# ------------------------------------------------------------------------------------------------
class _Wishart(_Distances):
    """Maths shared by the Normal-Wishart families ('full' and 'tied')."""

    #: statistics moved by an over-relaxed step can leave a scatter matrix indefinite
    needs_validity_check = True

    def log_det_cholesky(self, precisions_cholesky, n_features):
        """log |E[Lambda]| from the Cholesky factor of the expected precision."""
        return 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(precisions_cholesky)), axis=-1)

    def expected_log_det_precision(self, dof, precisions_cholesky, n_features):
        """E[log |Lambda_k|]: ``sum_i digamma((nu - i)/2) + D log 2 + log|P| - D log nu``."""
        d = _d(n_features)
        log_det = self.log_det_cholesky(precisions_cholesky, n_features)
        return (
            tf.reduce_sum(tf.math.digamma(_half_dof_grid(dof, n_features)), axis=1)
            + d * _LOG_2
            + log_det
            - d * tf.math.log(dof)
        )

    def _wishart_kl(self, dof, chol, prior, n_features):
        """KL between Wisharts with ``E[Lambda] = chol chol^T`` and the prior, one per factor.

        ``KL = nu0/2 (log|W_p| - log|W_q|) + sum_i [lgamma((nu0 - i)/2) - lgamma((nu - i)/2)]
        + (nu - nu0)/2 sum_i digamma((nu - i)/2) - nu D/2 + nu tr(W_p^-1 W_q)/2``: the log
        normalisers and the expected log-determinant written out, their ``log 2`` and ``log pi``
        terms cancel.
        """
        d = _d(n_features)
        nu0 = prior.degrees_of_freedom
        grid = _half_dof_grid(dof, n_features)
        log_det_w_q = _Wishart.log_det_cholesky(self, chol, n_features) - d * tf.math.log(dof)
        prior_chol = tf.linalg.cholesky(prior.covariance)
        log_det_w_p = -2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(prior_chol)))
        prior_lgamma = tf.reduce_sum(tf.math.lgamma(_half_dof_grid(nu0, n_features)))
        # nu tr(W_p^-1 W_q) = tr(C0 P) with P = U U^T
        trace = tf.reduce_sum(
            tf.square(tf.linalg.matmul(prior_chol, chol, transpose_a=True)), axis=[-2, -1]
        )
        return (
            0.5 * nu0 * (log_det_w_p - log_det_w_q)
            + prior_lgamma
            + 0.5 * (dof - nu0) * tf.reduce_sum(tf.math.digamma(grid), axis=1)
            - tf.reduce_sum(tf.math.lgamma(grid), axis=1)
            - 0.5 * dof * d
            + 0.5 * trace
        )

    def prior_to_frame(self, covariance, scale):
        return covariance / (tf.expand_dims(scale, 1) * scale)

    def precision_cholesky(self, covariances):
        """``precisions_cholesky_`` of positive definite covariances."""
        return precision_cholesky_from_covariance(covariances)

    def positive(self, covariances):
        """Whether every covariance is positive definite (checked without a failing Cholesky)."""
        finite = tf.math.is_finite(covariances)
        safe = tf.where(finite, covariances, tf.zeros_like(covariances))  # eigvalsh needs finite
        eig = tf.linalg.eigvalsh(safe)
        # well inside the positive definite cone, so that the Cholesky factor certainly exists
        conditioned = eig[..., 0] > 1e-12 * tf.maximum(eig[..., -1], 0.0)
        return tf.reduce_all(finite) & tf.reduce_all(conditioned) & tf.reduce_all(eig > 0.0)

    def _t_from_cholesky(self, post, variance_factor, cov_chol):
        t_dof, factor = self.predictive_factor(post, variance_factor)
        return tfd.MultivariateStudentTLinearOperator(
            df=t_dof,
            loc=post.means,
            scale=tf.linalg.LinearOperatorLowerTriangular(
                tf.reshape(tf.sqrt(factor), [-1, 1, 1]) * cov_chol
            ),
        )

    #: the blocks of a partially observed row are those of a dense covariance matrix
    dense_blocks = True

    def predictive_factor(self, post, variance_factor):
        """``(df (K,), c (K,))`` of the Student-t laws of :meth:`student_t`: component k's law
        has ``df_k`` degrees of freedom and scale matrix ``c_k`` times its covariance."""
        d = _d(dim(post.means, -1))
        t_dof = post.degrees_of_freedom - d + 1.0
        return t_dof, variance_factor * post.degrees_of_freedom / t_dof

    def variance_marginals(self, post):
        """Inverse-Gamma shape ``(nu - D + 1)/2`` and rate ``nu cov_dd / 2`` of each variance."""
        dof = post.degrees_of_freedom
        n_comp, n_feat = tf.unstack(tf.shape(post.means), num=2)
        d = _d(n_feat)
        var = tf.linalg.diag_part(post.covariances) * tf.ones([n_comp, n_feat], DTYPE)
        shape = 0.5 * tf.expand_dims(dof - d + 1.0, 1) * tf.ones_like(var)
        return shape, 0.5 * tf.expand_dims(dof, 1) * var

    def constrain_covariance(self, theta_cov, n_features):
        """(covariances, precisions_cholesky) from the unconstrained Cholesky factor."""
        chol = _tril_bijector().forward(theta_cov)
        covariances = tf.matmul(chol, chol, transpose_b=True)
        eye = tf.eye(n_features, batch_shape=tf.shape(chol)[:-2], dtype=DTYPE)
        prec_chol = tf.linalg.matrix_transpose(tf.linalg.triangular_solve(chol, eye, lower=True))
        return covariances, prec_chol

    def unconstrain_covariance(self, covariances):
        return _tril_bijector().inverse(tf.linalg.cholesky(covariances))

    def dof_lower_bound(self, n_features, independent):
        d = _d(n_features)
        return d + 1.0 if independent else d - 1.0  # E[Lambda^-1] needs nu > D + 1

    def sample_offsets(self, z, lam):
        """``L^-T z`` for precision draws ``lam = L L^T``: covariance ``Lambda^-1``."""
        lam_chol = tf.linalg.cholesky(lam)
        return tf.linalg.triangular_solve(lam_chol, z[..., None], lower=True, adjoint=True)[..., 0]

    def sample_covariances(self, lam):
        """Covariance draws (inverses of the per-component precision draws)."""
        lam_chol = tf.linalg.cholesky(lam)
        eye = tf.eye(dim(lam, -1), dtype=DTYPE)
        covariances = tf.linalg.cholesky_solve(lam_chol, eye * tf.ones_like(lam))
        return covariances[:, 0] if self.shared else covariances

    def expected_inverse_precision_diag(self, post, n_features):
        """diag(E[Lambda_k^-1]), shape (K, D)."""
        d = _d(n_features)
        dof = post.degrees_of_freedom
        n_comp = dim(post.means, 0)
        var = tf.linalg.diag_part(post.covariances) * tf.ones([n_comp, n_features], DTYPE)
        return var * tf.expand_dims(dof / (dof - d - 1.0), 1)


class Full(_Wishart, shapes.FullShapes):
    """A Normal-Wishart per component."""

    theta_cov_rank = 2  # unconstrained Cholesky factors as FillScaleTriL vectors (K, D(D+1)/2)
    theta_dof_rank = 1

    def component_distances(self, X_t, means, precisions_cholesky):
        """(x_n - m_k)^T P_k (x_n - m_k), shape (K, n): one GEMM for all components.

        ``y = U_k^T x_n - U_k^T m_k`` as one (K D, n) product of the factors' rows with the
        offsets beside them, ``[U^T, -U^T m]`` (K D, D + 1), by the columns with a row of ones
        below, (D + 1, n): the GEMM subtracts the offsets as it accumulates, and no (K D, n)
        array is broadcast against them (with the component-major layout, one step on 20,971 x
        10, K=10: float32 0.90x, float64 0.82x, ``bench_pass_chunk.py``). Then squared and
        summed over each component's D rows.
        """
        n_comp, n_feat = tf.unstack(tf.shape(means), num=2)
        u_rows = tf.reshape(tf.linalg.matrix_transpose(precisions_cholesky), [-1, n_feat])
        offset = tf.reshape(tf.linalg.matvec(precisions_cholesky, means, transpose_a=True), [-1, 1])
        ones = tf.ones_like(X_t[:1])
        y = tf.matmul(tf.concat([u_rows, -offset], 1), tf.concat([X_t, ones], 0))
        return tf.reduce_sum(tf.reshape(tf.square(y), tf.stack([n_comp, n_feat, -1])), axis=1)

    def second_moments(self, Z_t, weighted_resp, weights):
        # the weighted points component-major, (K D, n), times the (D, n) columns: the same
        # sums in the same order as the transposed product of an (n, K D) array, faster (one
        # step on 20,971 x 10, K=10, both graphs in one process: float32 0.80-0.85x, float64
        # 0.91-0.94x)
        n_comp = dim(weighted_resp, 1)
        n_feat = dim(Z_t, 0)
        rz_t = tf.expand_dims(tf.transpose(weighted_resp), 1) * Z_t
        rz_t = tf.reshape(rz_t, [n_comp * n_feat, -1])
        return tf.reshape(tf.matmul(rz_t, Z_t, transpose_b=True), [n_comp, n_feat, n_feat])

    @staticmethod
    def pair_moments_faster(n_components, n_features):
        """Whether :meth:`pair_second_moments` beats :meth:`second_moments` on such rows.

        Forming ``r_nk z_n`` costs ``K D`` per row and its product ``K D^2``; the products of
        pairs of features cost ``D (D + 1) / 2`` and their product ``K D (D + 1) / 2``. One
        step's second moments, 1 thread (float64 / float32, ms): 20,971 x 10 with K=10
        2.66 / 0.98 by component against 1.52 / 0.59 by pair; 6,990 x 10, K=30 2.40 / 0.87
        against 0.81 / 0.34; 142 x 13, K=10 even; 455 x 30, K=10 0.39 / 0.24 against 0.39 /
        0.27; 1,437 x 64, K=10 2.6 / 0.8 against 5.0 / 1.7.
        """
        return n_features <= n_components

    @staticmethod
    def pair_products(Z_t):
        """``(upper, pairs)``: the indices ``(i, j)``, ``i <= j``, of each pair of features and
        the products ``z_ni z_nj`` of the columns of ``Z_t``, (D(D+1)/2, n)."""
        n_feat = dim(Z_t, 0)
        square = tf.ones(tf.stack([n_feat, n_feat]), tf.bool)
        upper = tf.cast(tf.where(tf.linalg.band_part(square, 0, -1)), tf.int32)
        first, second = tf.unstack(upper, num=2, axis=1)
        return upper, tf.gather(Z_t, first) * tf.gather(Z_t, second)

    def pair_second_moments(self, Z_t, weighted_resp, products=None):
        """:meth:`second_moments` from the products of each pair of features, (D(D+1)/2, n).

        ``sum_n r_nk z_ni z_nj`` for ``i <= j`` is one product of the (D(D+1)/2, n) pairs by
        the (n, K) responsibilities, placed in the upper triangle and mirrored (the diagonal
        taken once): the same sums, exactly symmetric, in another order of rounding.
        ``products``: :meth:`pair_products` of ``Z_t``, when a step takes several sums of the
        same rows.
        """
        n_comp = dim(weighted_resp, 1)
        n_feat = dim(Z_t, 0)
        upper, pairs = self.pair_products(Z_t) if products is None else products
        sums = tf.scatter_nd(
            upper, tf.matmul(pairs, weighted_resp), tf.stack([n_feat, n_feat, n_comp])
        )
        sums = tf.transpose(sums, [2, 0, 1])
        return sums + tf.linalg.matrix_transpose(sums) - tf.linalg.diag(tf.linalg.diag_part(sums))

    def covariance_posterior(self, prior, reg, nk, s1, s2, beta):
        m0, beta0 = prior.mean, prior.mean_precision
        dof = prior.degrees_of_freedom + nk
        xbar, shrink = _component_means(nk, s1, beta0, beta)
        d = xbar - m0
        scatter = (
            s2
            - tf.reshape(nk, [-1, 1, 1]) * tf.einsum("kd,ke->kde", xbar, xbar)
            + tf.reshape(shrink, [-1, 1, 1]) * tf.einsum("kd,ke->kde", d, d)
        )
        inv_scale = prior.covariance + scatter + tf.reshape(nk, [-1, 1, 1]) * tf.linalg.diag(reg)
        return dof, symmetrise(inv_scale / tf.reshape(dof, [-1, 1, 1]))

    def precisions_kl_terms(self, post, prior, n_features):
        """KL(q(Lambda) || p(Lambda)) of each component, shape (K,)."""
        return self._wishart_kl(
            post.degrees_of_freedom, post.precisions_cholesky, prior, n_features
        )

    def block_covariances(self, covariances, means):
        """Each component's covariance as a (K, D, D) matrix (for partially observed rows)."""
        return covariances

    def completed_second_moments(self, completed, weighted_resp, conditional, pattern_resp):
        """Second moments of completed rows: ``sum_n r_nk (xhat xhat^T + C)`` per component.

        ``completed`` (n, K, D) holds each row completed by each component's conditional mean,
        ``conditional`` (P, K, D, D) the conditional covariance of each missingness pattern and
        ``pattern_resp`` (P, K) the weighted responsibilities summed over each pattern's rows.
        """
        rc = tf.expand_dims(weighted_resp, 2) * completed
        outer = tf.einsum("nkd,nke->kde", rc, completed)
        return outer + tf.einsum("pk,pkde->kde", pattern_resp, conditional)

    def expected_quadratic_terms(self, stats, means, precisions_cholesky):
        """``sum_n r_nk (z_n - m_k)^T P_k (z_n - m_k)`` from the statistics, shape (K,)."""
        nk, s1, s2 = stats
        prec = tf.matmul(precisions_cholesky, precisions_cholesky, transpose_b=True)
        centred = (
            s2
            - tf.einsum("kd,ke->kde", s1, means)
            - tf.einsum("kd,ke->kde", means, s1)
            + tf.reshape(nk, [-1, 1, 1]) * tf.einsum("kd,ke->kde", means, means)
        )
        return tf.reduce_sum(prec * centred, axis=[-2, -1])

    def covariances_from_frame(self, covariances, precisions_cholesky, scale):
        return (
            covariances * (tf.expand_dims(scale, 1) * scale),
            precisions_cholesky / tf.expand_dims(scale, 1),
        )

    def student_t(self, post, variance_factor):
        return self._t_from_cholesky(post, variance_factor, tf.linalg.cholesky(post.covariances))

    def precisions_distribution(self, post):
        # E[Lambda] = nu W = U U^T, so chol(W) = chol(U U^T) / sqrt(nu)
        dof = post.degrees_of_freedom
        prec = tf.linalg.matmul(
            post.precisions_cholesky, post.precisions_cholesky, transpose_b=True
        )
        scale_tril = tf.linalg.cholesky(prec) / tf.reshape(tf.sqrt(dof), [-1, 1, 1])
        return tfd.WishartTriL(df=dof, scale_tril=scale_tril)

    def draws_to_component_precisions(self, lam, n_components):
        """Precision draws (S, K, D, D) per component."""
        return lam


class Tied(_Wishart, shapes.TiedShapes):
    """One Wishart precision shared by the components; Normal means per component."""

    theta_cov_rank = 1  # one unconstrained Cholesky factor as a vector (D(D+1)/2,)
    theta_dof_rank = 0

    def component_distances(self, X_t, means, precisions_cholesky):
        projected = tf.matmul(precisions_cholesky, X_t, transpose_a=True)
        y_t = projected - tf.expand_dims(tf.matmul(means, precisions_cholesky), 2)
        return tf.reduce_sum(tf.square(y_t), axis=1)

    def second_moments(self, Z_t, weighted_resp, weights):
        return tf.matmul(Z_t * weights, Z_t, transpose_b=True)

    def covariance_posterior(self, prior, reg, nk, s1, s2, beta):
        m0, beta0 = prior.mean, prior.mean_precision
        n_total = tf.reduce_sum(nk)
        dof = (prior.degrees_of_freedom + n_total) * tf.ones_like(nk)
        xbar, shrink = _component_means(nk, s1, beta0, beta)
        d = xbar - m0
        scatter = (
            s2 - tf.einsum("k,kd,ke->de", nk, xbar, xbar) + tf.einsum("k,kd,ke->de", shrink, d, d)
        )
        inv_scale = prior.covariance + scatter + n_total * tf.linalg.diag(reg)
        return dof, symmetrise(inv_scale / dof[0])

    def precisions_kl_terms(self, post, prior, n_features):
        """The KL of the one shared precision, shape (1,)."""
        return self._wishart_kl(
            post.degrees_of_freedom[:1],
            tf.expand_dims(post.precisions_cholesky, 0),
            prior,
            n_features,
        )

    def block_covariances(self, covariances, means):
        n_comp = dim(means, 0)
        return tf.expand_dims(covariances, 0) * tf.ones([n_comp, 1, 1], DTYPE)

    def completed_second_moments(self, completed, weighted_resp, conditional, pattern_resp):
        rc = tf.expand_dims(weighted_resp, 2) * completed
        outer = tf.einsum("nkd,nke->de", rc, completed)
        return outer + tf.einsum("pk,pkde->de", pattern_resp, conditional)

    def expected_quadratic_terms(self, stats, means, precisions_cholesky):
        """The quadratic form summed over components, shape () (the second moments are shared
        by the components, so it does not split into per-component terms)."""
        nk, s1, s2 = stats
        prec = tf.matmul(precisions_cholesky, precisions_cholesky, transpose_b=True)
        cross = tf.einsum("kd,ke->de", s1, means)
        centred = s2 - cross - tf.transpose(cross) + tf.einsum("k,kd,ke->de", nk, means, means)
        return tf.reduce_sum(prec * centred)

    def covariances_from_frame(self, covariances, precisions_cholesky, scale):
        column = tf.expand_dims(scale, 1)
        return covariances * (column * scale), precisions_cholesky / column

    def student_t(self, post, variance_factor):
        return self._t_from_cholesky(
            post, variance_factor, tf.linalg.cholesky(post.covariances)[None]
        )

    def precisions_distribution(self, post):
        dof = post.degrees_of_freedom[:1]
        prec = tf.linalg.matmul(
            post.precisions_cholesky, post.precisions_cholesky, transpose_b=True
        )
        scale_tril = tf.linalg.cholesky(prec) / tf.reshape(tf.sqrt(dof), [-1, 1, 1])
        return tfd.WishartTriL(df=dof, scale_tril=scale_tril)[0]

    def draws_to_component_precisions(self, lam, n_components):
        return tf.expand_dims(lam, 1) * tf.ones([1, n_components, 1, 1], DTYPE)


# ------------------------------------------------------------------------------------------------
# Normal-Gamma families
# ------------------------------------------------------------------------------------------------
class _Gamma(_Distances):
    """Maths shared by the Normal-Gamma families ('diag' and 'spherical')."""

    #: the within-component scatter is clamped at zero and the prior and ``reg_covar`` terms are
    #: positive, so the variances are positive whenever the counts are
    needs_validity_check = False

    def expected_log_det_precision(self, dof, precisions_cholesky, n_features):
        """``E log l = digamma(a) - log(a) + log E[l]`` with the family's Gamma shape ``a``."""
        d = _d(n_features)
        shape = self.gamma_shape(dof, n_features)
        return d * (tf.math.digamma(shape) - tf.math.log(shape)) + self.log_det_cholesky(
            precisions_cholesky, n_features
        )

    def precisions_kl_terms(self, post, prior, n_features):
        """KL(q(lambda_k) || p(lambda_k)) of each component (summed over its features), (K,)."""
        shape_q, rate_q, shape_p, rate_p = self._gamma_parameters(post, prior, n_features)
        kl = gamma_kl(shape_q, rate_q, shape_p, rate_p)
        return tf.reduce_sum(tf.reshape(kl, [dim(kl, 0), -1]), axis=1)

    #: the blocks of a partially observed row are those of diagonal covariances
    dense_blocks = False

    def precisions_distribution(self, post):
        d = _d(dim(post.means, -1))
        shape = self._broadcast_shape(self.gamma_shape(post.degrees_of_freedom, d), post)
        shape = shape * tf.ones_like(post.covariances)
        return tfd.Gamma(concentration=shape, rate=shape * post.covariances)

    def variance_marginals(self, post):
        n_comp, n_feat = tf.unstack(tf.shape(post.means), num=2)
        var = self._per_feature(post.covariances) * tf.ones([n_comp, n_feat], DTYPE)
        shape = self._per_feature(self.gamma_shape(post.degrees_of_freedom, n_feat)) * tf.ones_like(
            var
        )
        return shape, shape * var

    def constrain_covariance(self, theta_cov, n_features):
        covariances = _variance_bijector().forward(theta_cov)
        return covariances, tf.math.rsqrt(covariances)

    def precision_cholesky(self, covariances):
        return tf.math.rsqrt(covariances)

    def positive(self, covariances):
        return tf.reduce_all(covariances > 0.0)

    def unconstrain_covariance(self, covariances):
        # (a start at the floor would map to -inf)
        return _variance_bijector().inverse(tf.maximum(covariances, 10.0 * _VARIANCE_FLOOR))

    def draws_to_component_precisions(self, lam, n_components):
        return lam

    def sample_covariances(self, lam):
        return 1.0 / lam


class Diag(_Gamma, shapes.DiagShapes):
    """A Normal-Gamma per feature and component."""

    theta_cov_rank = 2
    theta_dof_rank = 1

    def gamma_shape(self, dof, n_features):
        return 0.5 * dof

    def _broadcast_shape(self, shape, post):
        return tf.expand_dims(shape, 1)

    def _per_feature(self, a):
        return tf.expand_dims(a, 1) if a.shape.rank == 1 else a

    def log_det_cholesky(self, precisions_cholesky, n_features):
        return 2.0 * tf.reduce_sum(tf.math.log(precisions_cholesky), axis=-1)

    def component_distances(self, X_t, means, precisions_cholesky):
        y_t = (X_t - tf.expand_dims(means, 2)) * tf.expand_dims(precisions_cholesky, 2)
        return tf.reduce_sum(tf.square(y_t), axis=1)

    def second_moments(self, Z_t, weighted_resp, weights):
        return tf.matmul(weighted_resp, tf.square(Z_t), transpose_a=True, transpose_b=True)

    def block_covariances(self, covariances, means):
        """Each component's variances as a (K, D) array (for partially observed rows)."""
        return covariances

    def predictive_factor(self, post, variance_factor):
        """``(df (K,), c (K,))``: each coordinate's univariate law, squared scale ``c_k`` times
        its variance (:meth:`student_t`)."""
        return post.degrees_of_freedom, variance_factor

    def completed_second_moments(self, completed, weighted_resp, conditional, pattern_resp):
        """``sum_n r_nk (xhat_d^2 + c_d)``: ``conditional`` (P, K, D) holds the variances of the
        missing coordinates of each pattern (zero where observed)."""
        squares = tf.einsum("nk,nkd->kd", weighted_resp, tf.square(completed))
        return squares + tf.einsum("pk,pkd->kd", pattern_resp, conditional)

    def covariance_posterior(self, prior, reg, nk, s1, s2, beta):
        m0, beta0 = prior.mean, prior.mean_precision
        dof = prior.degrees_of_freedom + nk
        xbar, shrink = _component_means(nk, s1, beta0, beta)
        nk_col = tf.expand_dims(nk, 1)
        within = tf.maximum(s2 - nk_col * tf.square(xbar), 0.0)
        scatter = within + tf.expand_dims(shrink, 1) * tf.square(xbar - m0)
        return dof, (prior.covariance + scatter + nk_col * reg) / tf.expand_dims(dof, 1)

    def _gamma_parameters(self, post, prior, n_features):
        covariances = post.covariances
        shape_q = 0.5 * tf.expand_dims(post.degrees_of_freedom, 1) * tf.ones_like(covariances)
        shape_p = 0.5 * prior.degrees_of_freedom * tf.ones_like(covariances)
        rate_p = 0.5 * prior.covariance * tf.ones_like(covariances)
        return shape_q, shape_q * covariances, shape_p, rate_p

    def expected_quadratic_terms(self, stats, means, precisions_cholesky):
        nk, s1, s2 = stats
        centred = s2 - 2.0 * s1 * means + tf.expand_dims(nk, 1) * tf.square(means)
        return tf.reduce_sum(tf.square(precisions_cholesky) * centred, axis=1)

    def prior_to_frame(self, covariance, scale):
        return covariance / tf.square(scale)

    def covariances_from_frame(self, covariances, precisions_cholesky, scale):
        return covariances * tf.square(scale), precisions_cholesky / scale

    def student_t(self, post, variance_factor):
        df, factor = self.predictive_factor(post, variance_factor)
        scale = tf.sqrt(post.covariances * tf.expand_dims(factor, 1))
        return tfd.Independent(
            tfd.StudentT(
                df=tf.expand_dims(df, 1) * tf.ones_like(scale),
                loc=post.means,
                scale=scale,
            ),
            reinterpreted_batch_ndims=1,
        )

    def dof_lower_bound(self, n_features, independent):
        return tf.constant(2.0 if independent else 0.0, DTYPE)  # E[1/lambda]: shape nu/2 > 1

    def expected_inverse_precision_diag(self, post, n_features):
        return post.covariances * tf.expand_dims(
            post.degrees_of_freedom / (post.degrees_of_freedom - 2.0), 1
        )

    def sample_offsets(self, z, lam):
        return z * tf.math.rsqrt(lam)


class Spherical(_Gamma, shapes.SphericalShapes):
    """One Normal-Gamma precision per component, shared by the features."""

    theta_cov_rank = 1
    theta_dof_rank = 1

    def gamma_shape(self, dof, n_features):
        return 0.5 * _d(n_features) * dof

    def _broadcast_shape(self, shape, post):
        return shape

    def _per_feature(self, a):
        return tf.expand_dims(a, 1)

    def log_det_cholesky(self, precisions_cholesky, n_features):
        return 2.0 * _d(n_features) * tf.math.log(precisions_cholesky)

    def component_distances(self, X_t, means, precisions_cholesky):
        diff_t = X_t - tf.expand_dims(means, 2)
        squares = tf.reduce_sum(tf.square(diff_t), axis=1) * tf.expand_dims(
            tf.square(precisions_cholesky), 1
        )
        return squares

    def second_moments(self, Z_t, weighted_resp, weights):
        return tf.linalg.matvec(
            weighted_resp, tf.reduce_sum(tf.square(Z_t), axis=0), transpose_a=True
        )

    def block_covariances(self, covariances, means):
        return tf.expand_dims(covariances, 1) * tf.ones_like(means)

    def predictive_factor(self, post, variance_factor):
        """``(df (K,), c (K,))``: one multivariate law, scale matrix ``c_k sigma_k^2 I``."""
        return _d(dim(post.means, -1)) * post.degrees_of_freedom, variance_factor

    def completed_second_moments(self, completed, weighted_resp, conditional, pattern_resp):
        squares = tf.einsum("nk,nkd->k", weighted_resp, tf.square(completed))
        return squares + tf.einsum("pk,pkd->k", pattern_resp, conditional)

    def covariance_posterior(self, prior, reg, nk, s1, s2, beta):
        m0, beta0 = prior.mean, prior.mean_precision
        d = _d(dim(s1, -1))
        dof = prior.degrees_of_freedom + nk
        xbar, shrink = _component_means(nk, s1, beta0, beta)
        within = tf.maximum(s2 - nk * tf.reduce_sum(tf.square(xbar), 1), 0.0)
        scatter = within + shrink * tf.reduce_sum(tf.square(xbar - m0), 1)
        return dof, (prior.covariance + scatter / d + nk * tf.reduce_mean(reg)) / dof

    def _gamma_parameters(self, post, prior, n_features):
        d = _d(n_features)
        covariances = post.covariances
        shape_q = 0.5 * d * post.degrees_of_freedom
        shape_p = 0.5 * d * prior.degrees_of_freedom * tf.ones_like(covariances)
        rate_p = 0.5 * d * prior.covariance * tf.ones_like(covariances)
        return shape_q, shape_q * covariances, shape_p, rate_p

    def expected_quadratic_terms(self, stats, means, precisions_cholesky):
        nk, s1, s2 = stats
        centred = (
            s2 - 2.0 * tf.reduce_sum(s1 * means, axis=1) + nk * tf.reduce_sum(tf.square(means), 1)
        )
        return tf.square(precisions_cholesky) * centred

    def prior_to_frame(self, covariance, scale):
        return covariance / tf.square(scale[0])

    def covariances_from_frame(self, covariances, precisions_cholesky, scale):
        return covariances * tf.square(scale[0]), precisions_cholesky / scale[0]

    def student_t(self, post, variance_factor):
        n_feat = dim(post.means, -1)
        df, factor = self.predictive_factor(post, variance_factor)
        scale = tf.sqrt(post.covariances * factor)
        return tfd.MultivariateStudentTLinearOperator(
            df=df,
            loc=post.means,
            scale=tf.linalg.LinearOperatorScaledIdentity(num_rows=n_feat, multiplier=scale),
        )

    def dof_lower_bound(self, n_features, independent):
        d = _d(n_features)
        return (2.0 / d) if independent else tf.constant(0.0, DTYPE)  # shape D nu / 2 > 1

    def expected_inverse_precision_diag(self, post, n_features):
        d = _d(n_features)
        dof = post.degrees_of_freedom
        n_comp = dim(post.means, 0)
        return tf.expand_dims(post.covariances * d * dof / (d * dof - 2.0), 1) * tf.ones(
            [n_comp, n_features], DTYPE
        )

    def sample_offsets(self, z, lam):
        return z * tf.expand_dims(tf.math.rsqrt(lam), 2)


# ------------------------------------------------------------------------------------------------
# Weight priors
# ------------------------------------------------------------------------------------------------
class Dirichlet(shapes.DirichletShapes):
    """Dirichlet(alpha0, ..., alpha0) weights.

    Counts and concentrations may carry leading batch axes (components on the last one), for the
    moves' ELBO of many proposals at once; the KL then has the batch shape.
    """

    def expected_log_weights(self, weight_concentration):
        return tf.math.digamma(weight_concentration) - tf.math.digamma(
            tf.reduce_sum(weight_concentration, axis=-1, keepdims=True)
        )

    def posterior_concentration(self, prior_concentration, nk):
        return prior_concentration + nk

    def kl(self, weight_concentration, prior_concentration):
        alpha = weight_concentration
        alpha0 = prior_concentration * tf.ones_like(alpha)
        total = tf.reduce_sum(alpha, axis=-1, keepdims=True)
        total0 = tf.reduce_sum(alpha0, axis=-1)
        return (
            tf.math.lgamma(total[..., 0])
            - tf.reduce_sum(tf.math.lgamma(alpha), axis=-1)
            - tf.math.lgamma(total0)
            + tf.reduce_sum(tf.math.lgamma(alpha0), axis=-1)
            + tf.reduce_sum(
                (alpha - alpha0) * (tf.math.digamma(alpha) - tf.math.digamma(total)), axis=-1
            )
        )

    def distribution(self, weight_concentration):
        return tfd.Dirichlet(weight_concentration)

    def sample(self, weight_concentration, n_samples, seed):
        return self.distribution(weight_concentration).sample(n_samples, seed=seed)


class StickBreaking(shapes.StickBreakingShapes):
    """Truncated stick-breaking Dirichlet process: Beta(1, alpha0) sticks.

    The concentration is ``(2, ..., K)``: the Beta parameters stacked on the first axis, then any
    batch axes, the sticks in order on the last one.
    """

    def expected_log_weights(self, weight_concentration):
        a, b = weight_concentration[0], weight_concentration[1]
        digamma_sum = tf.math.digamma(a + b)
        e_log_v = tf.math.digamma(a) - digamma_sum
        e_log_1mv = tf.math.digamma(b) - digamma_sum
        return e_log_v + tf.cumsum(e_log_1mv, axis=-1, exclusive=True)

    def posterior_concentration(self, prior_concentration, nk):
        tail = tf.cumsum(nk, axis=-1, reverse=True, exclusive=True)
        return tf.stack([1.0 + nk, prior_concentration + tail])

    def kl(self, weight_concentration, prior_concentration):
        a, b = weight_concentration[0], weight_concentration[1]
        kl = beta_kl(a, b, tf.ones_like(a), prior_concentration * tf.ones_like(b))
        return tf.reduce_sum(kl, axis=-1)

    def distribution(self, weight_concentration):
        return tfd.Beta(weight_concentration[0], weight_concentration[1])

    def sample(self, weight_concentration, n_samples, seed):
        """Weights from the sticks, the last stick set to one so that each draw sums to one."""
        v = self.distribution(weight_concentration).sample(n_samples, seed=seed)
        v = tf.concat([v[:, :-1], tf.ones_like(v[:, -1:])], axis=1)
        return v * tf.math.cumprod(1.0 - v, axis=1, exclusive=True)


FAMILIES = {cls.name: cls() for cls in (Full, Tied, Diag, Spherical)}
WEIGHT_PRIORS = {cls.name: cls() for cls in (Dirichlet, StickBreaking)}


def family(covariance_type: str):
    """The covariance family of ``covariance_type``."""
    return FAMILIES[covariance_type]


def weight_prior(prior_type: str):
    """The weight prior of ``weight_concentration_prior_type``."""
    return WEIGHT_PRIORS[prior_type]
