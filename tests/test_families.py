"""The covariance families' maths against closed forms, TFP and the rows it summarises."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from skbgmm._svi import _model
from skbgmm._svi._families import FAMILIES, WEIGHT_PRIORS
from skbgmm._svi._records import Posterior, Prior, Stats

tfd = tfp.distributions
COV_TYPES = ["full", "tied", "diag", "spherical"]
WEIGHT_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def _problem(cov_type, n=200, k=4, d=3, seed=0):
    rng = np.random.RandomState(seed)
    Z = rng.randn(n, d) + rng.randint(0, 3, size=(n, 1))
    w = rng.uniform(0.5, 2.0, size=n)
    resp = rng.dirichlet(np.ones(k), size=n)
    fam = FAMILIES[cov_type]
    cov = {
        "full": np.eye(d) * 1.3 + 0.1,
        "tied": np.eye(d) * 1.3 + 0.1,
        "diag": np.full(d, 1.3),
        "spherical": np.asarray(1.3),
    }[cov_type]
    prior = Prior(
        np.float64(0.5), np.float64(0.8), rng.randn(d) * 0.1, np.float64(d + 1.5), np.asarray(cov)
    )
    stats = Stats(*_model.sufficient_stats(tf.constant(Z), tf.constant(resp * w[:, None]), w, fam))
    return Z, w, resp, fam, prior, stats


def _posterior(prior, stats, fam, wp, d):
    return _model.posterior_from_stats(
        prior, tf.fill([d], tf.constant(1e-6, tf.float64)), stats, fam, wp
    )


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("weight_type", WEIGHT_TYPES)
def test_elbo_from_statistics_equals_elbo_from_rows(cov_type, weight_type):
    # the memoized objective the merge moves use: for the optimal responsibilities of any q,
    # E_r[log p] (from statistics) + H(r) equals sum_n w_n log-normaliser_n (from the rows)
    Z, w, _, fam, prior, stats = _problem(cov_type)
    wp = WEIGHT_PRIORS[weight_type]
    post = _posterior(prior, stats, fam, wp, Z.shape[1])
    log_r, log_norm = _model.log_resp(tf.constant(Z), post, fam, wp)
    r = np.exp(log_r.numpy())
    new = Stats(*_model.sufficient_stats(tf.constant(Z), tf.constant(r * w[:, None]), w, fam))
    entropy = -np.sum(w[:, None] * r * log_r.numpy())
    from_stats = float(_model.expected_log_joint(new, post, fam, wp)) + entropy
    np.testing.assert_allclose(from_stats, np.sum(w * log_norm.numpy()), rtol=1e-10)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_merged_statistics_are_the_statistics_of_merged_responsibilities(cov_type):
    Z, w, resp, fam, _, stats = _problem(cov_type)
    merged_resp = resp.copy()
    merged_resp[:, 1] += merged_resp[:, 3]
    merged_resp[:, 3] = 0.0
    direct = _model.sufficient_stats(tf.constant(Z), tf.constant(merged_resp * w[:, None]), w, fam)
    np_stats = Stats(*(np.asarray(s) for s in stats))
    for a, b in zip(fam.merge(np_stats, 1, 3), direct):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12, atol=1e-12)
    # and reorder / drop keep 'tied''s shared second moments whole
    order = np.array([2, 0, 3, 1])
    reordered = fam.reorder(np_stats, order)
    np.testing.assert_array_equal(reordered.nk, np_stats.nk[order])
    dropped = fam.drop(np_stats, [False, True, False, False])
    assert dropped.nk[1] == 0 and np.all(dropped.s1[1] == 0)
    if fam.shared:
        np.testing.assert_array_equal(dropped.s2, np_stats.s2)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_mahalanobis_against_numpy(cov_type):
    Z, w, _, fam, prior, stats = _problem(cov_type)
    post = _posterior(prior, stats, fam, WEIGHT_PRIORS["dirichlet_process"], Z.shape[1])
    maha = fam.mahalanobis(tf.constant(Z), post.means, post.precisions_cholesky).numpy()
    k, d = post.means.shape
    prec = fam.full_covariances(fam.precisions(post.precisions_cholesky.numpy()), k, d)
    diff = Z[:, None, :] - post.means.numpy()[None]
    expected = np.einsum("nki,kij,nkj->nk", diff, prec, diff)
    np.testing.assert_allclose(maha, expected, rtol=1e-10)


@pytest.mark.parametrize(
    "n_rows, n_features, n_components",
    [(0, 3, 4), (1, 1, 1), (57, 2, 10), (200, 7, 3), (40, 13, 20)],
)
def test_second_moments_by_pair_of_features_equal_numpy(n_rows, n_features, n_components):
    # 'full' forms sum_n r_nk z_n z_n^T by component or from products of pairs of features
    fam = FAMILIES["full"]
    rng = np.random.RandomState(n_rows)
    Z = rng.randn(n_rows, n_features) * rng.uniform(0.1, 10.0, n_features)
    r = rng.dirichlet(np.ones(n_components), n_rows) * rng.uniform(0.0, 2.0, (n_rows, 1))
    expected = np.einsum("nk,ni,nj->kij", r, Z, Z)
    scale = max(np.abs(expected).max(), 1.0)
    for dtype, tol in ((tf.float64, 1e-13), (tf.float32, 1e-5)):
        # (the families' per-point maths takes the points as columns, (D, n))
        z_t, r_t = tf.constant(Z.T, dtype), tf.constant(r, dtype)
        by_pair = fam.pair_second_moments(z_t, r_t).numpy()
        by_component = fam.second_moments(z_t, r_t, None).numpy()
        assert by_pair.shape == expected.shape and by_pair.dtype == dtype.as_numpy_dtype
        np.testing.assert_array_equal(by_pair, np.swapaxes(by_pair, 1, 2))
        np.testing.assert_allclose(by_pair / scale, expected / scale, rtol=0, atol=tol)
        np.testing.assert_allclose(by_component / scale, expected / scale, rtol=0, atol=tol)


@pytest.mark.parametrize("n_features", [1, 3, 13])
def test_wishart_kl_equals_the_textbook_formula(n_features):
    # KL = log B(W_q, nu) - log B(W_p, nu0) + (nu - nu0)/2 E_q log|L| - nu D/2
    #      + nu/2 tr(W_p^-1 W_q), with scipy's multivariate log-gamma (to 1e-12 relative)
    from scipy.special import digamma, multigammaln

    rng = np.random.default_rng(n_features)
    d, k = n_features, 4
    a = rng.normal(size=(k, d, d))
    chol = np.linalg.cholesky(a @ a.transpose(0, 2, 1) + d * np.eye(d))  # E[Lambda] = U U^T
    dof = d + 1.0 + rng.gamma(2.0, 20.0, size=k)
    b = rng.normal(size=(d, d))
    prior = Prior(1.0, 1.0, np.zeros(d), d + 2.5, b @ b.T + np.eye(d))
    got = (
        FAMILIES["full"]
        .precisions_kl_terms(
            Posterior(None, None, None, tf.constant(dof), None, tf.constant(chol)),
            prior._replace(
                degrees_of_freedom=tf.constant(prior.degrees_of_freedom, tf.float64),
                covariance=tf.constant(prior.covariance),
            ),
            d,
        )
        .numpy()
    )

    def log_b(log_det_w, nu):
        return -0.5 * nu * log_det_w - 0.5 * nu * d * np.log(2.0) - multigammaln(0.5 * nu, d)

    nu0, w_p = prior.degrees_of_freedom, np.linalg.inv(prior.covariance)
    for j in range(k):
        w_q = chol[j] @ chol[j].T / dof[j]
        log_det_q = np.linalg.slogdet(w_q)[1]
        e_log_det = digamma(0.5 * (dof[j] - np.arange(d))).sum() + d * np.log(2.0) + log_det_q
        expected = (
            log_b(log_det_q, dof[j])
            - log_b(np.linalg.slogdet(w_p)[1], nu0)
            + 0.5 * (dof[j] - nu0) * e_log_det
            - 0.5 * dof[j] * d
            + 0.5 * dof[j] * np.trace(np.linalg.solve(w_p, w_q))
        )
        np.testing.assert_allclose(got[j], expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_precisions_kl_against_monte_carlo(cov_type):
    # TFP registers no Wishart KL: E_q[log q - log p] by Monte Carlo, within 5 standard errors
    Z, w, _, fam, prior, stats = _problem(cov_type)
    d = Z.shape[1]
    post = _posterior(prior, stats, fam, WEIGHT_PRIORS["dirichlet_process"], d)
    q = fam.precisions_distribution(post)
    if fam.name in ("full", "tied"):
        p_scale = np.linalg.cholesky(np.linalg.inv(prior.covariance))
        p = tfd.WishartTriL(df=prior.degrees_of_freedom, scale_tril=p_scale)
    elif fam.name == "diag":
        p = tfd.Gamma(0.5 * prior.degrees_of_freedom, 0.5 * prior.covariance)
    else:
        p = tfd.Gamma(0.5 * d * prior.degrees_of_freedom, 0.5 * d * prior.covariance)
    lam = q.sample(20000, seed=[5, 6])
    log_ratio = (q.log_prob(lam) - p.log_prob(lam)).numpy().reshape(20000, -1).sum(1)
    mc, se = log_ratio.mean(), log_ratio.std() / np.sqrt(log_ratio.size)
    assert abs(float(tf.reduce_sum(fam.precisions_kl_terms(post, prior, d))) - mc) < 5 * se


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_expected_log_det_precision_against_monte_carlo(cov_type):
    Z, w, _, fam, prior, stats = _problem(cov_type)
    post = _posterior(prior, stats, fam, WEIGHT_PRIORS["dirichlet_process"], Z.shape[1])
    d = Z.shape[1]
    exact = fam.expected_log_det_precision(post.degrees_of_freedom, post.precisions_cholesky, d)
    lam = fam.precisions_distribution(post).sample(20000, seed=[1, 2]).numpy()
    if cov_type in ("full", "tied"):
        draws = np.linalg.slogdet(lam)[1]
    elif cov_type == "diag":
        draws = np.log(lam).sum(-1)
    else:
        draws = d * np.log(lam)
    mc, se = draws.mean(0), draws.std(0) / np.sqrt(draws.shape[0])
    exact = np.asarray(exact)[: np.size(mc)].reshape(np.shape(mc))
    assert np.all(np.abs(mc - exact) < 5 * se + 1e-12)


@pytest.mark.parametrize("weight_type", WEIGHT_TYPES)
def test_weight_prior_expectations_against_monte_carlo(weight_type):
    wp = WEIGHT_PRIORS[weight_type]
    nk = tf.constant([30.0, 12.0, 5.0, 0.5], tf.float64)
    wc = wp.posterior_concentration(tf.constant(0.25, tf.float64), nk)
    draws = wp.sample(wc, 40000, tf.constant([3, 4], tf.int32)).numpy()
    np.testing.assert_allclose(draws.sum(1), 1.0, rtol=1e-12)
    log_draws = np.log(np.maximum(draws, 1e-300))
    se = log_draws.std(0) / np.sqrt(draws.shape[0])
    # (a draw of the truncated Dirichlet process sets the last stick to one)
    keep = slice(None) if wp.exchangeable else slice(0, -1)
    expected = wp.expected_log_weights(wc).numpy()
    assert np.all(np.abs(log_draws.mean(0) - expected)[keep] < 5 * se[keep])
    np.testing.assert_allclose(wp.mean_weights(wc.numpy()), draws.mean(0), atol=4e-3)


def test_closed_form_kl_divergences_equal_tfp():
    from skbgmm._svi._families import beta_kl, gamma_kl

    rng = np.random.RandomState(0)
    a, b, a0, b0 = (tf.constant(rng.uniform(0.05, 50.0, size=20)) for _ in range(4))
    np.testing.assert_allclose(
        beta_kl(a, b, a0, b0).numpy(),
        tfd.kl_divergence(tfd.Beta(a, b), tfd.Beta(a0, b0)).numpy(),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        gamma_kl(a, b, a0, b0).numpy(),
        tfd.kl_divergence(tfd.Gamma(a, b), tfd.Gamma(a0, b0)).numpy(),
        rtol=1e-9,
    )
    alpha = tf.constant(rng.uniform(0.05, 500.0, size=7))
    wp = WEIGHT_PRIORS["dirichlet_distribution"]
    np.testing.assert_allclose(
        wp.kl(alpha, tf.constant(0.3, tf.float64)).numpy(),
        tfd.kl_divergence(tfd.Dirichlet(alpha), tfd.Dirichlet(0.3 * tf.ones_like(alpha))).numpy(),
        rtol=1e-9,
    )
