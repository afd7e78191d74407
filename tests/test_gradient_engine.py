"""The second engine: Adam on the ELBO over the same variational family (inference='gradient')."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning

from skbgmm import VariationalGMM
from skbgmm._data import RECIPE_MEANS, RECIPE_PRIORS, make_recipe_data
from skbgmm.metrics import plugin_log_likelihood

from .test_estimator import match
from .test_robustness import ATTRS, HARD


def test_recipe_priors_recover_means_within_100_epochs():
    X, _ = make_recipe_data()
    gmm = VariationalGMM(n_components=3, inference="gradient", random_state=0, **RECIPE_PRIORS)
    gmm.fit(X)
    assert gmm.n_iter_ <= 100
    order = match(gmm.means_, RECIPE_MEANS)
    assert np.abs(gmm.means_[order] - RECIPE_MEANS).max() < 0.1
    assert np.abs(gmm.weights_ - 1 / 3).max() < 0.03


def _datasets():
    X1, _ = make_recipe_data(2400)
    X2, _ = make_blobs(n_samples=2400, centers=3, n_features=4, cluster_std=1.5, random_state=3)
    X3, _ = make_blobs(n_samples=2400, centers=3, n_features=2, cluster_std=0.6, random_state=1)
    X3 = X3 @ np.array([[0.6, -0.64], [-0.41, 0.85]])
    return [("recipe", X1), ("blobs-4d", X2), ("elongated", X3)]


DATA = _datasets()


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("name,X", DATA, ids=[d[0] for d in DATA])
def test_matches_natural_gradient_engine(covariance_type, name, X):
    X_train, X_test = X[:2000], X[2000:]
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grad = VariationalGMM(inference="gradient", **kw).fit(X_train)
    natural = VariationalGMM(**kw).fit(X_train)
    ll_grad = plugin_log_likelihood(grad, X_test).mean()
    ll_natural = plugin_log_likelihood(natural, X_test).mean()
    assert abs(ll_grad - ll_natural) < 0.02


def test_no_nan_on_raw_digits():
    X = load_digits().data  # 64 features, some constant
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = VariationalGMM(n_components=10, inference="gradient", max_iter=20, random_state=0)
        gmm.fit(X)
    for attr in ATTRS:
        assert np.all(np.isfinite(getattr(gmm, attr))), attr
    assert np.all(np.isfinite(gmm.score_samples(X)))


@pytest.mark.parametrize("name,X,k,_", HARD, ids=[h[0] for h in HARD])
def test_no_nan_on_hard_inputs(name, X, k, _):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = VariationalGMM(n_components=k, inference="gradient", max_iter=10, random_state=0)
        gmm.fit(X)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert np.all(np.isfinite(getattr(gmm, attr))), attr
    assert np.all(np.isfinite(gmm.score_samples(X)))


def test_reproducible_and_traced_once():
    from skbgmm._svi._gradient import gradient_functions

    X, _ = make_recipe_data(1500)
    kw = dict(n_components=3, inference="gradient", random_state=5, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = VariationalGMM(**kw).fit(X)
        fn = gradient_functions(a._fit_config, False).loss_and_grad
        count = fn.experimental_get_tracing_count()
        b = VariationalGMM(**kw).fit(X)
        VariationalGMM(**{**kw, "n_components": 4}).fit(np.c_[X, X[:, :1]])
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    assert fn.experimental_get_tracing_count() == count


def test_sample_weight_and_invalid_combinations():
    X, _ = make_recipe_data(900)
    w = np.random.RandomState(0).randint(1, 3, size=900)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = VariationalGMM(n_components=3, inference="gradient", batch_size=2000, random_state=0)
        b = VariationalGMM(n_components=3, inference="gradient", batch_size=2000, random_state=0)
        a.fit(X, sample_weight=w)
        b.fit(np.repeat(X, w, axis=0))
    # full-batch gradient steps: a weighted row is a repeated row (same iterates up to rounding)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="needs inference='gradient'"):
        VariationalGMM(mean_prior_type="independent").fit(X)
    with pytest.raises(ValueError, match="partial_fit uses the natural-gradient engine"):
        VariationalGMM(inference="gradient").partial_fit(X)
    with pytest.raises(ValueError, match="learning_rate"):
        VariationalGMM(inference="gradient", learning_rate=0.0).fit(X)


def test_gradient_fit_cannot_be_continued_by_the_other_engine():
    # the gradient engine keeps no natural-gradient state: continuing must refuse, not restart
    # from the initialisation
    from skbgmm import select_n_components

    X, _ = make_recipe_data(900)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = VariationalGMM(n_components=3, inference="gradient", random_state=0).fit(X)
        means = gmm.means_.copy()
        gmm.set_params(inference="natural_gradient", warm_start=True)
        with pytest.raises(ValueError, match="inference='gradient'"):
            gmm.fit(X)
        with pytest.raises(ValueError, match="inference='gradient'"):
            gmm.partial_fit(X[:100])
        np.testing.assert_array_equal(gmm.means_, means)
        sel = select_n_components(
            VariationalGMM(inference="gradient", random_state=0, max_iter=20), X, [2, 3]
        )
    assert sel.n_components in (2, 3) and np.all(np.isfinite(sel.log_evidence))


def test_bijectors_made_first_inside_a_trace_serve_every_later_function():
    # the engine's bijectors are made on first use (TFP is imported lazily): made inside a
    # traced function, they must still hold eager constants that other functions can use
    import tensorflow as tf

    from skbgmm._svi import _families, _gradient

    for made in (_families._variance_bijector, _families._tril_bijector, _gradient._positive):
        made.cache_clear()

    @tf.function(autograph=False)
    def first(x):
        return _gradient._positive().forward(x) + _families._variance_bijector().forward(x)

    first(tf.constant([0.5], tf.float64))
    assert not tf.is_symbolic_tensor(_gradient._positive().low)
    assert not tf.is_symbolic_tensor(_families._variance_bijector().low)
    X = np.random.RandomState(0).randn(200, 2)
    for cov in ("diag", "full"):
        gmm = VariationalGMM(
            n_components=2, covariance_type=cov, inference="gradient", max_iter=3, random_state=0
        )
        assert np.isfinite(gmm.fit(X).score(X))
