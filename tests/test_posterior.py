"""The posterior as a result: draws, distributions, order, effective components, model selection."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from skbgmm import VariationalGMM, select_n_components

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


@pytest.fixture(scope="module")
def unequal():
    # three clusters of clearly different sizes, so the weight order is well defined
    rng = np.random.RandomState(0)
    X = np.r_[
        rng.randn(600, 2) + [3, 0],
        rng.randn(300, 2) * 0.7 + [-3, 3],
        rng.randn(100, 2) * 0.5 + [-3, -3],
    ]
    return X


def _selection_datasets():
    X1, _ = make_blobs(n_samples=600, centers=3, n_features=2, cluster_std=0.7, random_state=0)
    X2, _ = make_blobs(
        n_samples=800, centers=4, n_features=2, cluster_std=0.6, random_state=1, center_box=(-8, 8)
    )
    X2 = X2 @ np.array([[0.6, -0.64], [-0.41, 0.85]])  # elongated clusters
    rng = np.random.RandomState(1)
    X3 = np.r_[rng.randn(500, 5), rng.randn(200, 5) * 0.5 + 3]  # 5-D, unequal sizes and spreads
    return [("round-3", X1, 3), ("elongated-4", X2, 4), ("5d-unequal-2", X3, 2)]


SELECTION = _selection_datasets()


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_posterior_draws_agree_with_attributes(unequal, covariance_type, prior_type):
    gmm = VariationalGMM(
        n_components=3,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=0,
    ).fit(unequal)
    n = 20000
    weights, means, covs = gmm.sample_posterior(n, random_state=1)
    assert weights.shape == (n, 3) and means.shape == (n, 3, 2)
    assert covs.shape == (n,) + gmm.covariances_.shape
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-12)

    def within_mc_error(draws, expected):
        se = draws.std(0) / np.sqrt(n)
        assert np.all(np.abs(draws.mean(0) - expected) <= 5 * se + 1e-12)

    within_mc_error(means, gmm.means_)
    within_mc_error(weights, gmm.weights_) if prior_type == "dirichlet_distribution" else None
    # DP: weights_ normalises E[pi]; the draws close the last stick, a difference below 1e-3 here
    np.testing.assert_allclose(weights.mean(0), gmm.weights_, atol=1e-3)
    # covariances_ is the inverse of E[precision]: compare precisions
    if covariance_type in ("full", "tied"):
        within_mc_error(np.linalg.inv(covs), gmm.precisions_)
    else:
        within_mc_error(1.0 / covs, gmm.precisions_)


def test_posterior_distributions(unequal):
    gmm = VariationalGMM(n_components=3, random_state=0).fit(unequal)
    dists = gmm.posterior_distributions()
    np.testing.assert_allclose(np.asarray(dists["means"].mean()), gmm.means_, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(dists["precisions"].mean()), gmm.precisions_, rtol=1e-8)
    a, b = gmm.weight_concentration_
    np.testing.assert_allclose(np.asarray(dists["weights"].mean()), a / (a + b), rtol=1e-12)
    dirichlet = VariationalGMM(
        n_components=3, weight_concentration_prior_type="dirichlet_distribution", random_state=0
    ).fit(unequal)
    np.testing.assert_allclose(
        np.asarray(dirichlet.posterior_distributions()["weights"].mean()), dirichlet.weights_
    )


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_summary_intervals_cover_posterior_draws_at_their_level(unequal, covariance_type):
    # the summary's equal-tailed intervals (SciPy quantiles of the marginals) against draws of
    # the joint posterior: each bound leaves (1 - level) / 2 of the draws outside, per component
    # and feature (switched-off components too); 20,000 draws, so 0.013 is ~4 standard errors
    X = unequal[::4]
    gmm = VariationalGMM(n_components=4, covariance_type=covariance_type, random_state=0).fit(X)
    s = gmm.summary(credible_level=0.8, all_components=True)
    _, means, covs = gmm.sample_posterior(20_000, random_state=0)
    if covariance_type == "full":
        var = np.diagonal(covs, axis1=-2, axis2=-1)
    elif covariance_type == "tied":
        var = np.diagonal(covs, axis1=-2, axis2=-1)[:, None, :]
    elif covariance_type == "diag":
        var = covs
    else:
        var = np.repeat(covs[..., None], X.shape[1], axis=-1)
    std = np.broadcast_to(np.sqrt(var), means.shape)
    bounds = ((means, s.mean_lower, s.mean_upper), (std, s.std_lower, s.std_upper))
    for draws, lower, upper in bounds:
        np.testing.assert_allclose(np.mean(draws < lower, axis=0), 0.1, atol=0.013)
        np.testing.assert_allclose(np.mean(draws > upper, axis=0), 0.1, atol=0.013)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_components_ordered_by_weight_across_seeds(unequal, covariance_type):
    fits = [
        VariationalGMM(
            n_components=3, covariance_type=covariance_type, init_params=init, random_state=s
        ).fit(unequal)
        for s, init in [(0, "kmeans"), (1, "kmeans"), (2, "k-means++")]
    ]
    for gmm in fits:
        assert np.all(np.diff(gmm.weights_) <= 0)
        assert gmm.n_effective_components_ == 3
        np.testing.assert_allclose(gmm.means_, fits[0].means_, atol=0.05)


def test_effective_components_counts_switched_off_ones(unequal):
    gmm = VariationalGMM(n_components=8, random_state=0, max_iter=500).fit(unequal)
    assert gmm.n_effective_components_ == 3
    assert np.all(gmm.weights_[3:] < 0.01)


@pytest.mark.parametrize("name,X,k", SELECTION, ids=[s[0] for s in SELECTION])
def test_cross_validation_selects_true_count(name, X, k):
    search = GridSearchCV(VariationalGMM(random_state=0), {"n_components": range(1, 7)}, cv=5).fit(
        X
    )
    scores = search.cv_results_["mean_test_score"]
    # the cross-validated predictive density rises up to the true count ...
    assert np.all(np.diff(scores[:k]) > 0)
    # ... and the selected model has exactly that many effective components
    assert search.best_estimator_.n_effective_components_ == k


@pytest.mark.parametrize("name,X,k", SELECTION, ids=[s[0] for s in SELECTION])
def test_elbo_selects_true_count(name, X, k):
    sel = select_n_components(VariationalGMM(random_state=0), X, range(1, 7))
    assert sel.n_components == k
    assert sel.estimator.n_components == k
    assert sel.log_evidence.shape == (6,)


def test_plotting_draws(unequal):
    import matplotlib.pyplot as plt

    from skbgmm.plotting import plot_density, plot_mean_posterior, plot_std_posterior

    gmm = VariationalGMM(n_components=3, covariance_type="diag", random_state=0).fit(unequal)
    fig, axes = plt.subplots(1, 3)
    plot_density(gmm, unequal, ax=axes[0], grid_size=30)
    plot_std_posterior(gmm, 1, ax=axes[1], n_samples=500)
    plot_mean_posterior(gmm, 2, ax=axes[2], n_samples=500)
    assert len(axes[0].images) == 1
    assert len(axes[1].patches) > 0
    assert len(axes[2].collections) > 0
    plt.close(fig)
    with pytest.raises(ValueError, match="2-D"):
        plot_density(VariationalGMM(n_components=2, random_state=0).fit(np.c_[unequal, unequal]))
