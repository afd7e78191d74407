"""The conjugate Bayesian Gaussian mixture in TensorFlow: variational family, ELBO terms, densities.

Model (Bishop 2006, ch. 10; the notation of :class:`sklearn.mixture.BayesianGaussianMixture`)::

    weights   pi ~ Dirichlet(alpha0) or a stick-breaking Dirichlet process GEM(alpha0)
    precision L_k ~ Wishart(nu0, W0)             ('full'; 'tied' shares one L)
              l_kd ~ Gamma(nu0 / 2, c0_d / 2)     ('diag'; c0 = covariance_prior)
              l_k ~ Gamma(D nu0 / 2, D c0 / 2)    ('spherical')
    means     mu_k | L_k ~ Normal(m0, (beta0 L_k)^-1)
    labels    z_n ~ Categorical(pi),  x_n | z_n = k ~ Normal(mu_k, L_k^-1)

The variational posterior has the same form as the prior, with parameters that are the prior's plus
expected sufficient statistics. All functions here take and return tensors; they are composed into
traced functions in :mod:`skbgmm._svi._functions`. Nothing in this module is written twice:
the trainer's E-step, its ELBO, the estimator's ``predict_proba`` and ``score_samples`` all come
from the functions below.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

DTYPE = tf.float64
_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)
_LOG_PI = math.log(math.pi)


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------
def expected_log_weights(weight_concentration, prior_type):
    """E[log pi_k] under the posterior of the weights, shape (K,)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration[0], weight_concentration[1]
        digamma_sum = tf.math.digamma(a + b)
        e_log_v = tf.math.digamma(a) - digamma_sum
        e_log_1mv = tf.math.digamma(b) - digamma_sum
        return e_log_v + tf.cumsum(e_log_1mv, exclusive=True)
    return tf.math.digamma(weight_concentration) - tf.math.digamma(
        tf.reduce_sum(weight_concentration)
    )


def mean_weights(weight_concentration, prior_type):
    """E[pi_k], renormalised over the K components kept (scikit-learn's ``weights_``)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration[0], weight_concentration[1]
        weights = a / (a + b) * tf.math.cumprod(b / (a + b), exclusive=True)
    else:
        weights = weight_concentration
    return weights / tf.reduce_sum(weights)


def weights_kl(weight_concentration, prior_concentration, prior_type):
    """KL(q(pi) || p(pi))."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration[0], weight_concentration[1]
        q = tfd.Beta(a, b)
        p = tfd.Beta(tf.ones_like(a), prior_concentration * tf.ones_like(b))
        return tf.reduce_sum(tfd.kl_divergence(q, p))
    q = tfd.Dirichlet(weight_concentration)
    p = tfd.Dirichlet(prior_concentration * tf.ones_like(weight_concentration))
    return tfd.kl_divergence(q, p)


# --------------------------------------------------------------------------------------------
# Precisions and means
# --------------------------------------------------------------------------------------------
def _n_features(means):
    return tf.cast(tf.shape(means)[-1], DTYPE)


def _multi_digamma_sum(half_dof, n_features):
    """sum_{i<D} digamma(half_dof - i/2), elementwise over half_dof (K,)."""
    i = tf.range(n_features, dtype=DTYPE)
    return tf.reduce_sum(tf.math.digamma(half_dof[:, None] - 0.5 * i[None, :]), axis=1)


def _log_multi_gamma(half_dof, n_features):
    i = tf.range(n_features, dtype=DTYPE)
    d = tf.cast(n_features, DTYPE)
    return 0.25 * d * (d - 1.0) * _LOG_PI + tf.reduce_sum(
        tf.math.lgamma(half_dof[:, None] - 0.5 * i[None, :]), axis=1
    )


def _log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """log |E[Lambda_k]| from the Cholesky factor of the expected precision, shape (K,) or ()."""
    if covariance_type in ("full", "tied"):
        return 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(precisions_cholesky)), axis=-1)
    if covariance_type == "diag":
        return 2.0 * tf.reduce_sum(tf.math.log(precisions_cholesky), axis=-1)
    return 2.0 * tf.cast(n_features, DTYPE) * tf.math.log(precisions_cholesky)


def expected_log_det_precision(dof, precisions_cholesky, covariance_type, n_features):
    """E[log |Lambda_k|], shape (K,).

    With ``E[Lambda] = P = U U^T`` (``U`` = ``precisions_cholesky``): for a Wishart,
    ``E log|L| = sum_i digamma((nu - i)/2) + D log 2 + log|P| - D log nu``; for Gamma precisions
    ``E log l = digamma(a) - log(a) + log E[l]`` with shape ``a = nu/2`` ('diag') or ``D nu/2``
    ('spherical').
    """
    d = tf.cast(n_features, DTYPE)
    log_det = _log_det_cholesky(precisions_cholesky, covariance_type, n_features)
    if covariance_type in ("full", "tied"):
        return (
            _multi_digamma_sum(0.5 * dof, n_features) + d * _LOG_2 + log_det - d * tf.math.log(dof)
        )
    shape = 0.5 * dof if covariance_type == "diag" else 0.5 * d * dof
    return d * (tf.math.digamma(shape) - tf.math.log(shape)) + log_det


def mahalanobis(X, means, precisions_cholesky, covariance_type):
    """(x_n - m_k)^T E[Lambda_k] (x_n - m_k), shape (n, K)."""
    if covariance_type == "full":
        # one GEMM for all components: X @ [U_1 ... U_K], then subtract m_k U_k
        n_comp = tf.shape(means)[0]
        n_feat = tf.shape(means)[1]
        u_all = tf.reshape(tf.transpose(precisions_cholesky, [1, 0, 2]), [n_feat, -1])
        y = tf.reshape(tf.matmul(X, u_all), [-1, n_comp, n_feat])
        y = y - tf.einsum("kd,kde->ke", means, precisions_cholesky)[None]
        return tf.reduce_sum(tf.square(y), axis=-1)
    if covariance_type == "tied":
        y = (
            tf.matmul(X, precisions_cholesky)[:, None, :]
            - tf.matmul(means, precisions_cholesky)[None]
        )
        return tf.reduce_sum(tf.square(y), axis=-1)
    if covariance_type == "diag":
        y = (X[:, None, :] - means[None]) * precisions_cholesky[None]
        return tf.reduce_sum(tf.square(y), axis=-1)
    diff = X[:, None, :] - means[None]
    return tf.reduce_sum(tf.square(diff), axis=-1) * tf.square(precisions_cholesky)[None]


def component_log_constants(post, config, n_features):
    """The per-component part of the expected log joint, shape (K,), in float64.

    ``E[log pi_k] + E[log|Lambda_k|] / 2 - D log(2 pi) / 2 - D / (2 beta_k)``; the expected
    log joint of a point is this minus half its :func:`mahalanobis` distance.
    """
    d = tf.cast(n_features, DTYPE)
    e_log_det = expected_log_det_precision(
        post.degrees_of_freedom, post.precisions_cholesky, config.covariance_type, n_features
    )
    e_log_w = expected_log_weights(
        post.weight_concentration, config.weight_concentration_prior_type
    )
    return e_log_w + 0.5 * (e_log_det - d * _LOG_2PI) - 0.5 * d / post.mean_precision


def log_resp(X, post, config):
    """Closed-form local step: log responsibilities (n, K) and log normalisers (n,).

    The per-point work runs in X's dtype (float32 for minibatch steps, float64 otherwise); the
    per-component constants are computed in float64 and cast.
    """
    dt = X.dtype
    const = component_log_constants(post, config, tf.shape(X)[1])
    maha = mahalanobis(
        X,
        tf.cast(post.means, dt),
        tf.cast(post.precisions_cholesky, dt),
        config.covariance_type,
    )
    log_rho = tf.cast(const, dt)[None] - 0.5 * maha
    log_norm = tf.reduce_logsumexp(log_rho, axis=1)
    return log_rho - log_norm[:, None], log_norm


def _wishart_log_normaliser(dof, log_det_scale, n_features):
    """log B(W, nu) for a Wishart with scale W, given log|W|."""
    d = tf.cast(n_features, DTYPE)
    return (
        -0.5 * dof * log_det_scale
        - 0.5 * dof * d * _LOG_2
        - _log_multi_gamma(0.5 * dof, n_features)
    )


def precisions_kl(post, prior, covariance_type, n_features):
    """KL(q(Lambda) || p(Lambda)) summed over components."""
    d = tf.cast(n_features, DTYPE)
    dof = post.degrees_of_freedom
    if covariance_type in ("full", "tied"):
        if covariance_type == "tied":
            dof = dof[:1]
            chol = post.precisions_cholesky[None]
        else:
            chol = post.precisions_cholesky
        e_log_det = expected_log_det_precision(dof, chol, "full", n_features)
        log_det_w_q = _log_det_cholesky(chol, "full", n_features) - d * tf.math.log(dof)
        prior_chol = tf.linalg.cholesky(prior.covariance)
        log_det_w_p = -2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(prior_chol)))
        nu0 = prior.degrees_of_freedom * tf.ones_like(dof)
        # tr(W_p^-1 W_q) = tr(C0 P) / nu_q with P = U U^T
        trace = tf.reduce_sum(
            tf.square(tf.linalg.matmul(prior_chol, chol, transpose_a=True)), axis=[-2, -1]
        )
        kl = (
            _wishart_log_normaliser(dof, log_det_w_q, n_features)
            - _wishart_log_normaliser(nu0, log_det_w_p * tf.ones_like(dof), n_features)
            + 0.5 * (dof - nu0) * e_log_det
            - 0.5 * dof * d
            + 0.5 * trace
        )
        return tf.reduce_sum(kl)
    covariances = post.covariances
    if covariance_type == "diag":
        shape_q = 0.5 * dof[:, None] * tf.ones_like(covariances)
        rate_q = shape_q * covariances
        shape_p = 0.5 * prior.degrees_of_freedom * tf.ones_like(covariances)
        rate_p = 0.5 * prior.covariance[None] * tf.ones_like(covariances)
    else:
        shape_q = 0.5 * d * dof
        rate_q = shape_q * covariances
        shape_p = 0.5 * d * prior.degrees_of_freedom * tf.ones_like(covariances)
        rate_p = 0.5 * d * prior.covariance * tf.ones_like(covariances)
    return tf.reduce_sum(tfd.kl_divergence(tfd.Gamma(shape_q, rate_q), tfd.Gamma(shape_p, rate_p)))


def means_kl(post, prior, covariance_type, n_features):
    """E_q(Lambda)[KL(q(mu | Lambda) || p(mu | Lambda))] summed over components."""
    d = tf.cast(n_features, DTYPE)
    ratio = prior.mean_precision / post.mean_precision
    maha = mahalanobis(prior.mean[None], post.means, post.precisions_cholesky, covariance_type)[0]
    return 0.5 * tf.reduce_sum(d * (ratio - 1.0 - tf.math.log(ratio)) + prior.mean_precision * maha)


def global_kl(post, prior, config, n_features):
    """KL between the global variational posterior and the prior."""
    return (
        weights_kl(
            post.weight_concentration,
            prior.weight_concentration,
            config.weight_concentration_prior_type,
        )
        + means_kl(post, prior, config.covariance_type, n_features)
        + precisions_kl(post, prior, config.covariance_type, n_features)
    )


# --------------------------------------------------------------------------------------------
# Sufficient statistics and the global update
# --------------------------------------------------------------------------------------------
def sufficient_stats(Z, weighted_resp, weights, covariance_type):
    """Expected sufficient statistics (nk, s1, s2) of a batch in the trainer's frame."""
    nk = tf.reduce_sum(weighted_resp, axis=0)
    s1 = tf.matmul(weighted_resp, Z, transpose_a=True)
    if covariance_type == "full":
        n_comp = tf.shape(weighted_resp)[1]
        n_feat = tf.shape(Z)[1]
        rz = tf.reshape(weighted_resp[:, :, None] * Z[:, None, :], [-1, n_comp * n_feat])
        s2 = tf.reshape(tf.matmul(rz, Z, transpose_a=True), [n_comp, n_feat, n_feat])
    elif covariance_type == "tied":
        s2 = tf.matmul(Z * weights[:, None], Z, transpose_a=True)
    elif covariance_type == "diag":
        s2 = tf.matmul(weighted_resp, tf.square(Z), transpose_a=True)
    else:
        s2 = tf.linalg.matvec(weighted_resp, tf.reduce_sum(tf.square(Z), axis=1), transpose_a=True)
    return nk, s1, s2


def _symmetrise(a):
    return 0.5 * (a + tf.linalg.matrix_transpose(a))


def _precision_cholesky_from_covariance(cov):
    """Upper-triangular U with U U^T = cov^-1 (scikit-learn's ``precisions_cholesky_``)."""
    cov_chol = tf.linalg.cholesky(cov)
    eye = tf.eye(tf.shape(cov)[-1], batch_shape=tf.shape(cov)[:-2], dtype=DTYPE)
    return tf.linalg.matrix_transpose(tf.linalg.triangular_solve(cov_chol, eye, lower=True))


def posterior_from_stats(prior, reg, stats, config):
    """The variational posterior (prior + statistics), in the frame of the statistics.

    ``reg`` is ``reg_covar`` in that frame (per feature); like scikit-learn, ``nk * reg_covar`` is
    added to each component's scatter so that a nearly empty or degenerate component stays
    well defined.
    """
    nk, s1, s2 = stats
    cov_type = config.covariance_type
    d = _n_features(s1)
    m0 = prior.mean
    beta0 = prior.mean_precision
    beta = beta0 + nk
    means = (beta0 * m0[None] + s1) / beta[:, None]
    if config.weight_concentration_prior_type == "dirichlet_process":
        tail = tf.cumsum(nk, reverse=True, exclusive=True)
        weight_concentration = tf.stack([1.0 + nk, prior.weight_concentration + tail])
    else:
        weight_concentration = prior.weight_concentration + nk

    if cov_type == "full":
        dof = prior.degrees_of_freedom + nk
        scatter = (
            s2
            + beta0 * tf.tensordot(m0, m0, axes=0)[None]
            - beta[:, None, None] * tf.einsum("kd,ke->kde", means, means)
        )
        inv_scale = prior.covariance[None] + scatter + nk[:, None, None] * tf.linalg.diag(reg)[None]
        covariances = _symmetrise(inv_scale / dof[:, None, None])
        prec_chol = _precision_cholesky_from_covariance(covariances)
    elif cov_type == "tied":
        n_total = tf.reduce_sum(nk)
        dof = (prior.degrees_of_freedom + n_total) * tf.ones_like(nk)
        scatter = (
            s2
            + tf.reduce_sum(beta0 * tf.ones_like(nk)) * tf.tensordot(m0, m0, axes=0)
            - tf.einsum("k,kd,ke->de", beta, means, means)
        )
        inv_scale = prior.covariance + scatter + n_total * tf.linalg.diag(reg)
        covariances = _symmetrise(inv_scale / dof[0])
        prec_chol = _precision_cholesky_from_covariance(covariances)
    elif cov_type == "diag":
        dof = prior.degrees_of_freedom + nk
        scatter = tf.maximum(
            s2 + beta0 * tf.square(m0)[None] - beta[:, None] * tf.square(means), 0.0
        )
        covariances = (prior.covariance[None] + scatter + nk[:, None] * reg[None]) / dof[:, None]
        prec_chol = tf.math.rsqrt(covariances)
    else:
        dof = prior.degrees_of_freedom + nk
        scatter = tf.maximum(
            s2 + beta0 * tf.reduce_sum(tf.square(m0)) - beta * tf.reduce_sum(tf.square(means), 1),
            0.0,
        )
        covariances = (prior.covariance + scatter / d + nk * tf.reduce_mean(reg)) / dof
        prec_chol = tf.math.rsqrt(covariances)
    return weight_concentration, beta, means, dof, covariances, prec_chol


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------
def prior_to_frame(prior, shift, scale, covariance_type):
    """Express the prior in the frame ``z = (x - shift) / scale``."""
    mean = (prior.mean - shift) / scale
    if covariance_type in ("full", "tied"):
        covariance = prior.covariance / (scale[:, None] * scale[None, :])
    elif covariance_type == "diag":
        covariance = prior.covariance / tf.square(scale)
    else:
        covariance = prior.covariance / tf.square(scale[0])
    return prior._replace(mean=mean, covariance=covariance)


def posterior_from_frame(post, shift, scale, covariance_type):
    """Map a posterior from the frame ``z = (x - shift) / scale`` back to data units."""
    means = shift[None] + post.means * scale[None]
    if covariance_type == "full":
        covariances = post.covariances * (scale[:, None] * scale[None, :])[None]
        prec_chol = post.precisions_cholesky / scale[None, :, None]
    elif covariance_type == "tied":
        covariances = post.covariances * (scale[:, None] * scale[None, :])
        prec_chol = post.precisions_cholesky / scale[:, None]
    elif covariance_type == "diag":
        covariances = post.covariances * tf.square(scale)[None]
        prec_chol = post.precisions_cholesky / scale[None]
    else:
        covariances = post.covariances * tf.square(scale[0])
        prec_chol = post.precisions_cholesky / scale[0]
    return post._replace(means=means, covariances=covariances, precisions_cholesky=prec_chol)


# --------------------------------------------------------------------------------------------
# Posterior predictive: a mixture of Student-t densities
# --------------------------------------------------------------------------------------------
def _student_t_components(post, covariance_type, variance_factor):
    """K Student-t laws ``t(m_k, variance_factor_k * S_k)`` with the posterior's tail weight.

    ``S_k`` is the variance the precision posterior implies: ``W_k^-1 / (nu_k + 1 - D)`` with
    ``nu + 1 - D`` degrees of freedom for Normal-Wishart components, ``sigma_kd^2`` with ``nu``
    per feature for 'diag', ``sigma_k^2 I`` with ``D nu`` for 'spherical' (``W^-1 = nu *
    covariances_``). The mean's marginal posterior has ``variance_factor = 1 / beta``; the
    predictive density of a new point ``(1 + beta) / beta``.
    """
    dof = post.degrees_of_freedom
    means = post.means
    n_feat = tf.shape(means)[-1]
    d = tf.cast(n_feat, DTYPE)
    if covariance_type in ("full", "tied"):
        t_dof = dof - d + 1.0
        cov_chol = tf.linalg.cholesky(post.covariances)
        if covariance_type == "tied":
            cov_chol = cov_chol[None]
        factor = tf.sqrt(variance_factor * dof / t_dof)[:, None, None]
        return tfd.MultivariateStudentTLinearOperator(
            df=t_dof,
            loc=means,
            scale=tf.linalg.LinearOperatorLowerTriangular(factor * cov_chol),
        )
    if covariance_type == "diag":
        scale = tf.sqrt(post.covariances * variance_factor[:, None])
        return tfd.Independent(
            tfd.StudentT(df=dof[:, None] * tf.ones_like(scale), loc=means, scale=scale),
            reinterpreted_batch_ndims=1,
        )
    scale = tf.sqrt(post.covariances * variance_factor)
    return tfd.MultivariateStudentTLinearOperator(
        df=d * dof,
        loc=means,
        scale=tf.linalg.LinearOperatorScaledIdentity(num_rows=n_feat, multiplier=scale),
    )


def predictive_components(post, covariance_type):
    """The posterior predictive density of each component, a batch of K Student-t laws.

    Integrating the Normal likelihood over q(mu_k, Lambda_k) gives, for Normal-Wishart,
    ``t_{nu+1-D}(m, (1 + beta) / (beta (nu + 1 - D)) W^-1)`` with ``W^-1 = nu * covariances_``;
    for Normal-Gamma per feature ('diag') ``t_nu(m_d, sigma_d^2 (1 + beta) / beta)`` and for a
    shared Gamma ('spherical') the multivariate ``t_{D nu}(m, sigma^2 (1 + beta) / beta I)``.
    """
    beta = post.mean_precision
    return _student_t_components(post, covariance_type, (1.0 + beta) / beta)


def predictive_log_density(X, post, config):
    """log p(x_n | data) under the posterior predictive mixture, shape (n,)."""
    log_w = tf.math.log(
        mean_weights(post.weight_concentration, config.weight_concentration_prior_type)
    )
    comp = predictive_components(post, config.covariance_type)
    return tf.reduce_logsumexp(comp.log_prob(X[:, None, :]) + log_w[None], axis=1)


# --------------------------------------------------------------------------------------------
# Marginal posteriors of single coordinates (for summaries and credible intervals)
# --------------------------------------------------------------------------------------------
def variance_marginals(post, covariance_type):
    """Shape and rate (K, D) of the inverse-Gamma marginal posterior of each variance.

    Under a Wishart on the precision, a diagonal entry of the covariance is inverse-Gamma with
    shape ``(nu - D + 1) / 2`` and rate ``nu * covariances_[d, d] / 2``; under the Gamma
    precisions the shape is ``nu / 2`` ('diag') or ``D nu / 2`` ('spherical') and the rate is
    the shape times ``covariances_``.
    """
    dof = post.degrees_of_freedom
    n_comp = tf.shape(post.means)[0]
    n_feat = tf.shape(post.means)[1]
    d = tf.cast(n_feat, DTYPE)
    if covariance_type in ("full", "tied"):
        var = tf.linalg.diag_part(post.covariances)
        var = var * tf.ones([n_comp, n_feat], DTYPE)
        shape = 0.5 * (dof - d + 1.0)[:, None] * tf.ones_like(var)
        rate = 0.5 * dof[:, None] * var
        return shape, rate
    if covariance_type == "diag":
        shape = 0.5 * dof[:, None] * tf.ones_like(post.covariances)
        return shape, shape * post.covariances
    var = post.covariances[:, None] * tf.ones([n_comp, n_feat], DTYPE)
    shape = 0.5 * d * dof[:, None] * tf.ones_like(var)
    return shape, shape * var


def mean_marginals(post, covariance_type):
    """The Student-t marginal posterior of each coordinate of each mean, batch (K, D).

    Integrating ``mu | Lambda ~ Normal(m, (beta Lambda)^-1)`` over the precision gives a
    Student-t with ``2 a`` degrees of freedom and squared scale ``b / (a beta)``, where ``(a, b)``
    is the variance's inverse-Gamma marginal.
    """
    shape, rate = variance_marginals(post, covariance_type)
    scale = tf.sqrt(rate / (shape * post.mean_precision[:, None]))
    return tfd.StudentT(df=2.0 * shape, loc=post.means, scale=scale)


# --------------------------------------------------------------------------------------------
# The posterior as distribution objects
# --------------------------------------------------------------------------------------------
def weights_distribution(weight_concentration, prior_type):
    """q(pi): a Dirichlet, or for the Dirichlet process the K independent Beta sticks."""
    if prior_type == "dirichlet_process":
        return tfd.Beta(weight_concentration[0], weight_concentration[1])
    return tfd.Dirichlet(weight_concentration)


def precisions_distribution(post, covariance_type):
    """q(Lambda): Wishart (batch K for 'full', one for 'tied') or Gamma ((K, D) or (K,))."""
    dof = post.degrees_of_freedom
    if covariance_type in ("full", "tied"):
        # E[Lambda] = nu W = U U^T, so chol(W) = chol(U U^T) / sqrt(nu)
        prec = tf.linalg.matmul(
            post.precisions_cholesky, post.precisions_cholesky, transpose_b=True
        )
        if covariance_type == "tied":
            dof = dof[:1]
            prec = prec[None]
        scale_tril = tf.linalg.cholesky(prec) / tf.sqrt(dof)[:, None, None]
        dist = tfd.WishartTriL(df=dof, scale_tril=scale_tril)
        return dist[0] if covariance_type == "tied" else dist
    d = _n_features(post.means)
    shape = 0.5 * dof[:, None] if covariance_type == "diag" else 0.5 * d * dof
    shape = shape * tf.ones_like(post.covariances)
    return tfd.Gamma(concentration=shape, rate=shape * post.covariances)


def mean_marginal_distribution(post, covariance_type):
    """The marginal q(mu_k) after integrating out the precision: a multivariate Student-t.

    'full'/'tied': ``t_{nu-D+1}(m, W^-1 / (beta (nu - D + 1)))``; 'diag': independent
    ``t_nu(m_d, sigma_d^2 / beta)``; 'spherical': ``t_{D nu}(m, sigma^2 / beta I)`` (one shared
    precision, so the coordinates are not independent).
    """
    return _student_t_components(post, covariance_type, 1.0 / post.mean_precision)


def sample_posterior(post, config, n_samples, seed):
    """Joint draws (weights, means, covariances) from the variational posterior.

    Precisions are drawn from q(Lambda), then means from q(mu | Lambda); Dirichlet-process
    weights from the sticks, with the last stick set to one so that each draw sums to one.
    """
    seeds = tfp.random.split_seed(seed, n=3)
    cov_type = config.covariance_type
    wd = weights_distribution(post.weight_concentration, config.weight_concentration_prior_type)
    if config.weight_concentration_prior_type == "dirichlet_process":
        v = wd.sample(n_samples, seed=seeds[0])
        v = tf.concat([v[:, :-1], tf.ones_like(v[:, -1:])], axis=1)
        weights = v * tf.math.cumprod(1.0 - v, axis=1, exclusive=True)
    else:
        weights = wd.sample(n_samples, seed=seeds[0])
    lam = precisions_distribution(post, cov_type).sample(n_samples, seed=seeds[1])
    n_comp = tf.shape(post.means)[0]
    n_feat = tf.shape(post.means)[1]
    z = tf.random.stateless_normal([n_samples, n_comp, n_feat], seed=seeds[2], dtype=DTYPE)
    z = z / tf.sqrt(post.mean_precision)[None, :, None]
    if cov_type in ("full", "tied"):
        if cov_type == "tied":
            lam = lam[:, None] * tf.ones([1, n_comp, 1, 1], DTYPE)
        lam_chol = tf.linalg.cholesky(lam)
        # mu = m + L^-T z has covariance (L L^T)^-1 = Lambda^-1
        offset = tf.linalg.triangular_solve(lam_chol, z[..., None], lower=True, adjoint=True)[
            ..., 0
        ]
        eye = tf.eye(n_feat, dtype=DTYPE)
        covariances = tf.linalg.cholesky_solve(lam_chol, eye * tf.ones_like(lam))
        if cov_type == "tied":
            covariances = covariances[:, 0]
    elif cov_type == "diag":
        offset = z * tf.math.rsqrt(lam)
        covariances = 1.0 / lam
    else:
        offset = z * tf.math.rsqrt(lam)[:, :, None]
        covariances = 1.0 / lam
    return weights, post.means[None] + offset, covariances
