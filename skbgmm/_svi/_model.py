"""The conjugate Bayesian Gaussian mixture in TensorFlow: ELBO terms, responsibilities, densities.

Model (Bishop 2006, ch. 10; the notation of :class:`sklearn.mixture.BayesianGaussianMixture`)::

    weights   pi ~ Dirichlet(alpha0) or a stick-breaking Dirichlet process GEM(alpha0)
    precision L_k ~ Wishart(nu0, W0)             ('full'; 'tied' shares one L)
              l_kd ~ Gamma(nu0 / 2, c0_d / 2)     ('diag'; c0 = covariance_prior)
              l_k ~ Gamma(D nu0 / 2, D c0 / 2)    ('spherical')
    means     mu_k | L_k ~ Normal(m0, (beta0 L_k)^-1)
    labels    z_n ~ Categorical(pi),  x_n | z_n = k ~ Normal(mu_k, L_k^-1)

The variational posterior has the same form as the prior, with parameters that are the prior's plus
expected sufficient statistics. Everything that depends on the covariance form or the weight prior
is a method of a family object of :mod:`skbgmm._svi._families` (``fam`` and ``wp`` below); the
functions here compose them and never ask which family they hold. They take and return tensors
and are composed into traced functions in :mod:`skbgmm._svi._functions`. The trainer's E-step,
its ELBO, the estimator's ``predict_proba`` and ``score_samples`` all come from these functions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ._families import DTYPE, family, weight_prior
from ._observed import (
    coordinate_t_log_prob,
    observed_block,
    observed_t,
    t_conditional,
    t_log_prob,
)
from ._records import Posterior, Prior
from ._tf import dim, tf, tfp

_LOG_2PI = math.log(2.0 * math.pi)


def families(config):
    """The (covariance family, weight prior) objects of a :class:`Config`."""
    return family(config.covariance_type), weight_prior(config.weight_concentration_prior_type)


def _n_features(means):
    return tf.cast(dim(means, -1), DTYPE)


# --------------------------------------------------------------------------------------------
# Responsibilities
# --------------------------------------------------------------------------------------------
def gaussian_log_constants(post, fam, n_features):
    """``E[log|Lambda_k|] / 2 - D log(2 pi) / 2 - D / (2 beta_k)``, shape (K,), in float64."""
    d = tf.cast(n_features, DTYPE)
    e_log_det = fam.expected_log_det_precision(
        post.degrees_of_freedom, post.precisions_cholesky, n_features
    )
    return 0.5 * (e_log_det - d * _LOG_2PI) - 0.5 * d / post.mean_precision


def component_log_constants(post, fam, wp, n_features):
    """The per-component part of the expected log joint, shape (K,), in float64.

    ``E[log pi_k]`` plus :func:`gaussian_log_constants`; the expected log joint of a point is
    this minus half its Mahalanobis distance.
    """
    e_log_w = wp.expected_log_weights(post.weight_concentration)
    return e_log_w + gaussian_log_constants(post, fam, n_features)


#: a component whose count is at most this share of the total is dead: its posterior is the
#: prior's (to ~1e-14 of the prior's own counts per unit of total weight), and a step computes
#: its rows with the other dead ones' as one column (:func:`computed_components`)
DEAD_SHARE = 1e-14


class Computed(NamedTuple):
    """The components a step computes row by row (the per-row work is ~1 ms per component on
    1,437 x 64 digits, 'full', against ~1.3 ms for the rest of the step; a fit that has pruned
    components keeps most of them empty).

    The live components are columns of their own. Dead components (count at most ``DEAD_SHARE``
    of the total) all have the prior's posterior, so their log densities are one column's:
    ``take`` ends with one of them (when any), whose constant is the log-sum of theirs, and
    each dead component's responsibility is ``share`` of that column's, exactly as a column
    per component would give. ``pooled_entropy`` (``-sum share log share``) is what splitting
    the column adds to the entropy, per unit of its count.
    """

    live: object  # (L,) int32
    dead: object  # (M,) int32
    take: object  # (C,) int32: the component whose posterior each column takes (L + min(M, 1))
    const: object  # (C,) float64: each column's component constant
    share: object  # (M,) float64
    pooled_entropy: object  # () float64
    n_components: object  # () int32
    index: object  # (L + M, 1) int32: where the live, then the dead, components go (widen)
    column: object  # (K,) int32: each live component's column


def computed_components(counts, post, fam, wp, n_features):
    """The :class:`Computed` components of a step at ``post``, whose counts are ``counts``."""
    const = component_log_constants(post, fam, wp, n_features)
    n_components = tf.size(counts)
    dead = counts <= DEAD_SHARE * tf.reduce_sum(counts)
    dead = dead & ~tf.reduce_all(dead)  # (no weight at all: every component is a column)
    live = tf.cast(tf.where(~dead)[:, 0], tf.int32)
    dead = tf.cast(tf.where(dead)[:, 0], tf.int32)
    const_dead = tf.gather(const, dead)
    pooled = tf.reduce_logsumexp(const_dead, keepdims=True)  # (1,); -inf with no dead one
    share = tf.exp(const_dead - pooled)
    n_pooled = tf.minimum(tf.size(dead), 1)
    n_live = tf.size(live)
    return Computed(
        live=live,
        dead=dead,
        take=tf.concat([live, dead[:n_pooled]], 0),
        const=tf.concat([tf.gather(const, live), pooled[:n_pooled]], 0),
        share=share,
        pooled_entropy=-tf.reduce_sum(tf.math.xlogy(share, share)),
        n_components=n_components,
        index=tf.expand_dims(tf.concat([live, dead], 0), 1),
        column=tf.scatter_nd(tf.expand_dims(live, 1), tf.range(n_live), [n_components]),
    )


def computed_posterior(post, computed, fam):
    """The per-component fields of ``post`` for the columns (``weight_concentration`` as is:
    the columns' constants carry the weights)."""

    def take(a, shared=False):
        return a if shared else tf.gather(a, computed.take)

    return post._replace(
        mean_precision=take(post.mean_precision),
        means=take(post.means),
        degrees_of_freedom=take(post.degrees_of_freedom),
        covariances=take(post.covariances, fam.shared),
        precisions_cholesky=take(post.precisions_cholesky, fam.shared),
    )


def is_pooled(computed, dtype):
    """(C,) 1 for the dead components' column, 0 for the live ones'."""
    return tf.cast(tf.range(tf.size(computed.take)) >= tf.size(computed.live), dtype)


def widen(values, computed):
    """Per-column values (C, ...) as per-component ones (K, ...): each live component's own,
    each dead one its share of the dead column's."""
    n_live = tf.size(computed.live)
    share = tf.reshape(tf.cast(computed.share, values.dtype), [-1] + [1] * (values.shape.rank - 1))
    parts = tf.concat([values[:n_live], share * values[n_live:]], 0)
    shape = tf.concat([[computed.n_components], tf.shape(values)[1:]], 0)
    return tf.scatter_nd(computed.index, parts, shape)


def widen_entropy(entropy, counts, computed):
    """:func:`widen` of the columns' entropies (C,) given their counts (C,): a dead component's
    is ``share * (H - h count) - share log share * count`` of its column's ``H`` (which holds
    the split's ``h count``, ``h = pooled_entropy``); they sum to ``H``."""
    n_live = tf.size(computed.live)
    pooled_h, pooled_n = entropy[n_live:], counts[n_live:]
    h, share = computed.pooled_entropy, computed.share
    dead = share * (pooled_h - h * pooled_n) - tf.math.xlogy(share, share) * pooled_n
    parts = tf.concat([entropy[:n_live], dead], 0)
    return tf.scatter_nd(computed.index, parts, tf.reshape(computed.n_components, [1]))


def log_resp(X, post, fam, wp):
    """Closed-form local step: log responsibilities (n, K) and log normalisers (n,).

    The per-point work runs in X's dtype (float32 for minibatch steps, float64 otherwise); the
    per-component constants are computed in float64 and cast.
    """
    return log_resp_of_columns(tf.transpose(X), post, fam, wp)


def log_resp_of_columns(X_t, post, fam, wp, computed=None):
    """:func:`log_resp` of the points as the columns of ``X_t`` (D, n); with ``computed``
    (:class:`Computed`) those of its components, live ones and the dead ones' pool (n, C)."""
    dt = X_t.dtype
    if computed is None:
        const = component_log_constants(post, fam, wp, dim(X_t, 0))
    else:
        const, post = computed.const, computed_posterior(post, computed, fam)
    # component-major, (K, n): the normaliser sums K rows of n contiguous values
    maha = fam.component_distances(
        X_t, tf.cast(post.means, dt), tf.cast(post.precisions_cholesky, dt)
    )
    log_rho = tf.expand_dims(tf.cast(const, dt), 1) - 0.5 * maha
    log_norm = tf.reduce_logsumexp(log_rho, axis=0)
    return tf.transpose(log_rho - log_norm), log_norm


def log_resp_observed(Z, patterns, index, post, fam, wp, computed=None):
    """The local step for rows with missing coordinates (zeros there; see :mod:`._observed`).

    With ``q(z, x_m) = q(z) q(x_m | z)``, the optimal ``q(x_m | z = k)`` is Normal with the
    conditional mean and covariance of the missing coordinates under ``E[Lambda_k]`` (Ghahramani
    and Jordan, 1994), and ``log rho_nk`` is the complete-data term at that completion plus
    its entropy: ``const_k + (d_m log(2 pi) + log|C_k|) / 2 - delta_o / 2``. A complete row
    gets exactly :func:`log_resp`.

    With ``computed`` (:class:`Computed`) the components are its (C for K).
    Returns ``(log_resp (n, K), log_norm (n,), block, entropy)``: ``block`` holds the
    completions for the statistics (:func:`completed_stats`) and ``entropy`` (P, K) the entropy
    of ``q(x_m | z = k)`` for each pattern.
    """
    n_features = dim(Z, 1)
    if computed is None:
        const = component_log_constants(post, fam, wp, n_features)
    else:
        const, post = computed.const, computed_posterior(post, computed, fam)
    matrices = fam.block_covariances(post.covariances, post.means)
    block = observed_block(Z, patterns, index, post.means, matrices, fam.dense_blocks)
    d_miss = tf.expand_dims(tf.cast(n_features, DTYPE) - block.n_observed, 1)
    entropy = 0.5 * (d_miss * (1.0 + _LOG_2PI) + block.log_det_conditional)
    log_rho = const + tf.gather(entropy - 0.5 * d_miss, index) - 0.5 * block.maha
    log_norm = tf.reduce_logsumexp(log_rho, axis=1)
    return log_rho - tf.expand_dims(log_norm, 1), log_norm, block, entropy


def completed_stats(block, weighted_resp, index, n_patterns, fam):
    """Expected sufficient statistics of partially observed rows: the completed rows' moments,
    and for the second moments the conditional covariance of the missing coordinates."""
    nk = tf.reduce_sum(weighted_resp, axis=0)
    s1 = tf.einsum("nk,nkd->kd", weighted_resp, block.completed)
    pattern_resp = tf.math.unsorted_segment_sum(weighted_resp, index, n_patterns)
    s2 = fam.completed_second_moments(
        block.completed, weighted_resp, block.conditional, pattern_resp
    )
    return nk, s1, s2


# --------------------------------------------------------------------------------------------
# KL terms and the ELBO from statistics
# --------------------------------------------------------------------------------------------
def means_kl_terms(post, prior, fam, n_features):
    """E_q(Lambda)[KL(q(mu_k | Lambda_k) || p(mu_k | Lambda_k))] of each component, shape (K,)."""
    d = tf.cast(n_features, DTYPE)
    ratio = prior.mean_precision / post.mean_precision
    maha = tf.squeeze(
        fam.mahalanobis(tf.expand_dims(prior.mean, 0), post.means, post.precisions_cholesky), 0
    )
    return 0.5 * (d * (ratio - 1.0 - tf.math.log(ratio)) + prior.mean_precision * maha)


def means_kl(post, prior, fam, n_features):
    """E_q(Lambda)[KL(q(mu | Lambda) || p(mu | Lambda))] summed over components."""
    return tf.reduce_sum(means_kl_terms(post, prior, fam, n_features))


def global_kl(post, prior, fam, wp, n_features):
    """KL between the global variational posterior and the prior."""
    return (
        wp.kl(post.weight_concentration, prior.weight_concentration)
        + means_kl(post, prior, fam, n_features)
        + tf.reduce_sum(fam.precisions_kl_terms(post, prior, n_features))
    )


def expected_log_joint(stats, post, fam, wp):
    """``sum_n sum_k r_nk E_q[log p(z_n = k, x_n | pi, mu, Lambda)]`` from the statistics alone.

    With the statistics of responsibilities ``r`` (in the frame) and any global posterior ``q``,
    this plus the entropy of ``r`` minus the global KL is the ELBO of ``(q, r)``: the memoized
    objective of Hughes and Sudderth (2013) that the merge moves evaluate.
    """
    nk = stats.nk
    n_features = dim(stats.s1, 1)
    const = component_log_constants(post, fam, wp, n_features)
    quad = fam.expected_quadratic_terms(stats, post.means, post.precisions_cholesky)
    return tf.reduce_sum(nk * const) - 0.5 * tf.reduce_sum(quad)


def component_elbo_terms(stats, post, prior, fam):
    """Each component's part of the memoized ELBO, shape (K,), for families with nothing shared.

    The memoized ELBO (:func:`expected_log_joint` minus :func:`global_kl`) is the sum of these
    and of :func:`weight_elbo_terms`: for a family whose components share no parameter, a
    component's Gaussian terms depend on its own statistics only.
    """
    n_features = dim(stats.s1, 1)
    const = gaussian_log_constants(post, fam, n_features)
    quad = fam.expected_quadratic_terms(stats, post.means, post.precisions_cholesky)
    return (
        stats.nk * const
        - 0.5 * quad
        - means_kl_terms(post, prior, fam, n_features)
        - fam.precisions_kl_terms(post, prior, n_features)
    )


def weight_elbo_terms(nk, prior_concentration, wp):
    """``sum_k n_k E[log pi_k] - KL(q(pi) || p(pi))`` for counts ``nk`` (..., K) in stick order.

    Leading axes are a batch (proposals of the moves); the result has their shape.
    """
    concentration = wp.posterior_concentration(prior_concentration, nk)
    e_log_w = wp.expected_log_weights(concentration)
    return tf.reduce_sum(nk * e_log_w, axis=-1) - wp.kl(concentration, prior_concentration)


def posterior_from_stats(prior, reg, stats, fam, wp):
    """The variational posterior (prior + statistics), in the frame of the statistics.

    ``reg`` is ``reg_covar`` in that frame (per feature); like scikit-learn, ``nk * reg_covar`` is
    added to each component's scatter so that a nearly empty or degenerate component stays
    well defined.
    """
    nk, s1, s2 = stats
    beta0 = prior.mean_precision
    beta = beta0 + nk
    means = (beta0 * prior.mean + s1) / tf.expand_dims(beta, 1)
    weight_concentration = wp.posterior_concentration(prior.weight_concentration, nk)
    dof, covariances = fam.covariance_posterior(prior, reg, nk, s1, s2, beta)
    prec_chol = fam.precision_cholesky(covariances)
    return Posterior(weight_concentration, beta, means, dof, covariances, prec_chol)


def valid_posterior(prior, reg, stats, fam):
    """Whether statistics give a proper posterior (finite, positive definite covariances).

    Checked without forming Cholesky factors, so an invalid candidate provokes no error.
    """
    nk, s1, s2 = stats
    beta = prior.mean_precision + nk
    means = (prior.mean_precision * prior.mean + s1) / tf.expand_dims(beta, 1)
    dof, covariances = fam.covariance_posterior(prior, reg, nk, s1, s2, beta)
    finite = tf.reduce_all(tf.math.is_finite(covariances)) & tf.reduce_all(tf.math.is_finite(means))
    return finite & tf.reduce_all(nk >= 0.0) & tf.reduce_all(dof > 0.0) & fam.positive(covariances)


def sufficient_stats(Z, weighted_resp, weights, fam, by_pair=False):
    """Expected sufficient statistics (nk, s1, s2) of a batch of rows ``Z`` (n, D) in the
    trainer's frame.

    ``by_pair``: the second moments from products of pairs of features ('full' only; see
    ``Full.pair_moments_faster``).
    """
    return sufficient_stats_of_columns(tf.transpose(Z), weighted_resp, weights, fam, by_pair)


def sufficient_stats_of_columns(Z_t, weighted_resp, weights, fam, by_pair=False, products=None):
    """:func:`sufficient_stats` of the points as the columns of ``Z_t`` (D, n) (``by_pair``:
    from the products of pairs of features, ``products`` if given)."""
    nk = tf.reduce_sum(weighted_resp, axis=0)
    s1 = tf.matmul(weighted_resp, Z_t, transpose_a=True, transpose_b=True)
    if by_pair:
        return nk, s1, fam.pair_second_moments(Z_t, weighted_resp, products)
    return nk, s1, fam.second_moments(Z_t, weighted_resp, weights)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------
def columns_in_frame(X_t, shift, scale):
    """The points, columns of ``X_t`` (D, n), in the frame ``z = (x - shift) / scale``.

    float64 exactly so. float32 (the trainer's passes on large data and its minibatches, whose
    rows it has centred in float64) multiplies by the reciprocal scales as one product with
    ``diag(1 / scale)``: each entry is ``x / s`` rounded once more, at most one unit in the
    last place from the quotient, for a third of a broadcast division's cost (20,971 x 10:
    ~80 against ~270 us); the shift is subtracted only if it is not zero (a broadcast
    subtraction of zeros costs another ~150 us).
    """
    dt = X_t.dtype
    shift, scale = tf.cast(shift, dt), tf.cast(scale, dt)
    if dt == tf.float64:
        return (X_t - tf.expand_dims(shift, 1)) / tf.expand_dims(scale, 1)
    scaled = tf.matmul(tf.linalg.diag(1.0 / scale), X_t)
    return tf.cond(
        tf.reduce_any(tf.not_equal(shift, 0.0)),
        lambda: scaled - tf.expand_dims(shift / scale, 1),
        lambda: scaled,
    )


def prior_to_frame(prior, shift, scale, fam):
    """Express the prior in the frame ``z = (x - shift) / scale``."""
    return prior._replace(
        mean=(prior.mean - shift) / scale, covariance=fam.prior_to_frame(prior.covariance, scale)
    )


def posterior_from_frame(post, shift, scale, fam):
    """Map a posterior from the frame ``z = (x - shift) / scale`` back to data units."""
    covariances, prec_chol = fam.covariances_from_frame(
        post.covariances, post.precisions_cholesky, scale
    )
    return post._replace(
        means=shift + post.means * scale,
        covariances=covariances,
        precisions_cholesky=prec_chol,
    )


# --------------------------------------------------------------------------------------------
# Posterior predictive: a mixture of Student-t densities
# --------------------------------------------------------------------------------------------
def predictive_components(post, fam):
    """The posterior predictive density of each component, a batch of K Student-t laws.

    Integrating the Normal likelihood over q(mu_k, Lambda_k) gives, for Normal-Wishart,
    ``t_{nu+1-D}(m, (1 + beta) / (beta (nu + 1 - D)) W^-1)`` with ``W^-1 = nu * covariances_``;
    for Normal-Gamma per feature ('diag') ``t_nu(m_d, sigma_d^2 (1 + beta) / beta)`` and for a
    shared Gamma ('spherical') the multivariate ``t_{D nu}(m, sigma^2 (1 + beta) / beta I)``.
    """
    return fam.student_t(post, _predictive_variance_factor(post))


def _predictive_variance_factor(post):
    """``(1 + beta) / beta``: the predictive law's scale over the posterior's (per component)."""
    return (1.0 + post.mean_precision) / post.mean_precision


def predictive_t(post, fam):
    """``(df (K,), scales)`` of each component's predictive law (:func:`predictive_components`):
    scale matrices (K, D, D) for a dense block, squared scales (K, D) for a diagonal one."""
    df, factor = fam.predictive_factor(post, _predictive_variance_factor(post))
    blocks = fam.block_covariances(post.covariances, post.means)
    return df, tf.reshape(factor, [-1] + [1] * (blocks.shape.rank - 1)) * blocks


def predictive_log_prob(X, post, fam):
    """log of each component's predictive density (:func:`predictive_components`) at the rows
    of X, shape (n, K), without building the distributions: a multivariate law's squared
    distance is the family's Mahalanobis distance (the E-step's) over its scale factor."""
    if fam.independent_predictive:
        df, variances = predictive_t(post, fam)
        return tf.reduce_sum(coordinate_t_log_prob(X, df, post.means, variances), axis=-1)
    df, factor = fam.predictive_factor(post, _predictive_variance_factor(post))
    n_features = dim(post.means, -1)
    d = _n_features(post.means)
    maha = fam.mahalanobis(X, post.means, post.precisions_cholesky) / factor
    log_det = d * tf.math.log(factor) - fam.log_det_cholesky(post.precisions_cholesky, n_features)
    return t_log_prob(maha, log_det, df, d)


def predictive_log_density(X, post, log_weights, fam):
    """log p(x_n | data) under the posterior predictive mixture, shape (n,)."""
    log_prob = predictive_log_prob(X, post, fam)
    return tf.reduce_logsumexp(log_prob + log_weights, axis=1)


def predictive_observed(Z, patterns, index, post, fam):
    """Each component's predictive law on the observed coordinates of each row.

    Returns ``(log density (n, K), block, df (K,))``: the marginal of a Student-t keeps its degrees
    of freedom with the sub-block of the scale (see :mod:`._observed`).
    """
    df, scales = predictive_t(post, fam)
    log_prob, block = observed_t(
        Z, patterns, index, df, post.means, scales, fam.dense_blocks, not fam.independent_predictive
    )
    return log_prob, block, df


def predictive_log_density_observed(Z, patterns, index, post, log_weights, fam):
    """log p(x_o | data), the marginal predictive density of each row's observed part (n,)."""
    log_prob, _, _ = predictive_observed(Z, patterns, index, post, fam)
    return tf.reduce_logsumexp(log_prob + log_weights, axis=1)


def conditional_predictive(Z, patterns, index, post, log_weights, fam):
    """The predictive law of each row's missing coordinates given its observed ones.

    A mixture whose weights are the mixture weights reweighted by each component's marginal
    density of the observed part, of the components' conditional Student-t laws. Returns
    ``(log weights (n, K), df (n, K), location (n, K, D), scale)`` (see
    :func:`._observed.t_conditional`).
    """
    log_prob, block, df = predictive_observed(Z, patterns, index, post, fam)
    log_w = log_prob + log_weights
    log_w = log_w - tf.reduce_logsumexp(log_w, axis=1, keepdims=True)
    cdf, loc, scale = t_conditional(
        df, block, index, fam.dense_blocks, not fam.independent_predictive
    )
    return log_w, cdf, loc, scale


def mean_marginals(post, fam):
    """The Student-t marginal posterior of each coordinate of each mean: ``(df, loc, scale)``.

    Integrating ``mu | Lambda ~ Normal(m, (beta Lambda)^-1)`` over the precision gives a
    Student-t with ``2 a`` degrees of freedom and squared scale ``b / (a beta)``, where ``(a, b)``
    is the variance's inverse-Gamma marginal; each array is (K, D).
    """
    shape, rate = fam.variance_marginals(post)
    scale = tf.sqrt(rate / (shape * post.mean_precision[:, None]))
    return 2.0 * shape, post.means, scale


def mean_marginal_distribution(post, fam):
    """The marginal q(mu_k) after integrating out the precision: a multivariate Student-t.

    'full'/'tied': ``t_{nu-D+1}(m, W^-1 / (beta (nu - D + 1)))``; 'diag': independent
    ``t_nu(m_d, sigma_d^2 / beta)``; 'spherical': ``t_{D nu}(m, sigma^2 / beta I)`` (one shared
    precision, so the coordinates are not independent).
    """
    return fam.student_t(post, 1.0 / post.mean_precision)


def sample_posterior(post, fam, wp, n_samples, seed):
    """Joint draws (weights, means, covariances) from the variational posterior.

    Precisions are drawn from q(Lambda), then means from q(mu | Lambda).
    """
    seeds = tfp.random.split_seed(seed, n=3)
    weights = wp.sample(post.weight_concentration, n_samples, seeds[0])
    lam = fam.precisions_distribution(post).sample(n_samples, seed=seeds[1])
    n_comp = tf.shape(post.means)[0]
    n_feat = tf.shape(post.means)[1]
    z = tf.random.stateless_normal([n_samples, n_comp, n_feat], seed=seeds[2], dtype=DTYPE)
    z = z / tf.sqrt(post.mean_precision)[None, :, None]
    lam = fam.draws_to_component_precisions(lam, n_comp)
    offset = fam.sample_offsets(z, lam)
    return weights, post.means[None] + offset, fam.sample_covariances(lam)


__all__ = [
    "Prior",
    "completed_stats",
    "component_elbo_terms",
    "component_log_constants",
    "conditional_predictive",
    "expected_log_joint",
    "families",
    "gaussian_log_constants",
    "global_kl",
    "log_resp",
    "log_resp_observed",
    "mean_marginal_distribution",
    "mean_marginals",
    "means_kl",
    "means_kl_terms",
    "posterior_from_frame",
    "posterior_from_stats",
    "predictive_components",
    "predictive_log_density",
    "predictive_log_density_observed",
    "predictive_observed",
    "prior_to_frame",
    "sample_posterior",
    "sufficient_stats",
    "weight_elbo_terms",
]
