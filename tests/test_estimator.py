"""Statistical correctness of VariationalGMM (fixed seeds, stated tolerances)."""

import copy
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import BayesianGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skbgmm import VariationalGMM
from skbgmm._data import RECIPE_MEANS, make_recipe_data
from skbgmm.metrics import plugin_log_likelihood

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def match(estimated, truth):
    """Rows of `estimated` matched to rows of `truth` (Hungarian assignment on distances)."""
    cost = np.linalg.norm(estimated[:, None, :] - truth[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(len(truth), dtype=int)
    order[cols] = rows
    return order


@pytest.fixture(scope="module")
def recipe():
    return make_recipe_data()


def assert_dips_recovered(lb, atol):
    """Over-relaxed steps: a pass that finds the extrapolated point worse than the last one is
    undone. The next pass evaluates the plain update of the extrapolated point and, if that is
    below the last point too, the one after is back at the last point's plain update: a dip
    lasts at most two passes, is followed by a value at least the best before it, and the fit
    ends at its best."""
    best = np.maximum.accumulate(lb)
    for dip in np.flatnonzero(lb < best - atol):
        assert lb[dip + 1 : dip + 3].max(initial=-np.inf) >= best[dip] - atol, (dip, lb)
    assert lb[-1] >= lb.max() - atol


@pytest.mark.parametrize("recovers", [True, False])
def test_a_dip_tries_the_dipped_points_update_then_the_last_points(recovers):
    from skbgmm._svi._records import Stats
    from skbgmm._svi._trainer import _Overrelaxation

    def point(v):
        return Stats(np.array([10.0 + v]), np.array([[v]]), np.array([[v]]))

    relax = _Overrelaxation(needs_validity_check=False)
    relax.restart(point(0.0))
    nxt, accepted = relax.step(point(0.0), point(1.0), -10.0)  # plain step: take the target
    assert accepted and nxt == point(1.0)
    nxt, accepted = relax.step(point(1.0), point(2.0), -9.0)  # extrapolated by 1.5
    assert accepted and np.allclose(nxt.s1, 2.5) and not relax.next_plain
    # the extrapolated point is lower: its own plain update is evaluated next
    nxt, accepted = relax.step(nxt, point(2.7), -9.5)
    assert not accepted and nxt == point(2.7)
    if recovers:
        nxt, accepted = relax.step(nxt, point(3.0), -8.0)
        assert accepted and not relax.evaluated_plain  # (its change cannot end the fit)
        assert np.allclose(nxt.s1, 2.7 + 1.5 * 0.3)  # over-relaxation goes on from there
    else:
        # lower too: back to the plain update of the last point before the dip
        nxt, accepted = relax.step(nxt, point(2.8), -9.2)
        assert not accepted and nxt == point(2.0) and relax.next_plain
        nxt, accepted = relax.step(nxt, point(2.5), -8.5)
        assert accepted and relax.evaluated_plain


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, skbgmm; from skbgmm import VariationalGMM; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("batch_size", ["auto", 256])
def test_recipe_means_and_weights(recipe, covariance_type, batch_size):
    # the recipe's data: means within 0.1 of the truth, weights within 0.03 of 1/3
    X, _ = recipe
    gmm = VariationalGMM(
        n_components=3, covariance_type=covariance_type, batch_size=batch_size, random_state=0
    ).fit(X)
    order = match(gmm.means_, RECIPE_MEANS)
    assert np.abs(gmm.means_[order] - RECIPE_MEANS).max() < 0.1
    assert np.abs(gmm.weights_ - 1 / 3).max() < 0.03
    assert gmm.converged_


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_separated_blobs_ari(covariance_type, prior_type):
    X, y = make_blobs(n_samples=600, centers=4, n_features=3, cluster_std=0.7, random_state=1)
    gmm = VariationalGMM(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=0,
    )
    assert adjusted_rand_score(y, gmm.fit_predict(X)) >= 0.95


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_matches_bayesian_gaussian_mixture(covariance_type):
    # same data, same priors: held-out plug-in log-likelihood within 0.02 nats/point, means 0.1
    X, _ = make_blobs(n_samples=3000, centers=3, n_features=4, cluster_std=1.5, random_state=3)
    X_train, X_test = X[:2400], X[2400:]
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0, max_iter=500)
    ours = VariationalGMM(**kw).fit(X_train)
    ref = BayesianGaussianMixture(**kw).fit(X_train)
    ll_ours = plugin_log_likelihood(ours, X_test).mean()
    ll_ref = plugin_log_likelihood(ref, X_test).mean()
    assert ll_ours >= ll_ref - 0.02
    order = match(ours.means_, ref.means_)
    assert np.abs(ours.means_[order] - ref.means_).max() < 0.1


def test_minibatch_svi_matches_full_batch():
    # genuinely stochastic steps reach the full-batch optimum
    X, _ = make_blobs(n_samples=20000, centers=5, n_features=5, cluster_std=2.0, random_state=7)
    full = VariationalGMM(n_components=5, batch_size=20000, random_state=0).fit(X)
    mini = VariationalGMM(n_components=5, batch_size=500, random_state=0).fit(X)
    assert mini.lower_bounds_.size > 1
    order = match(mini.means_, full.means_)
    assert np.abs(mini.means_[order] - full.means_).max() < 0.05
    ll_full = plugin_log_likelihood(full, X).mean()
    ll_mini = plugin_log_likelihood(mini, X).mean()
    assert abs(ll_full - ll_mini) < 0.005


def test_dirichlet_process_switches_off_surplus_components():
    X, _ = make_blobs(n_samples=1500, centers=3, n_features=2, cluster_std=0.8, random_state=2)
    gmm = VariationalGMM(
        n_components=8, weight_concentration_prior=1e-3, random_state=0, max_iter=300
    ).fit(X)
    weights = np.sort(gmm.weights_)[::-1]
    assert np.all(weights[:3] > 0.25)
    assert np.all(weights[3:] < 0.01)


def test_pipeline_and_grid_search():
    X, _ = make_blobs(n_samples=900, centers=3, n_features=2, cluster_std=1.0, random_state=4)
    X = X * [1.0, 50.0]
    pipe = Pipeline([("scale", StandardScaler()), ("gmm", VariationalGMM(random_state=0))])
    search = GridSearchCV(pipe, {"gmm__n_components": [1, 2, 3, 4]}, cv=3).fit(X)
    assert search.best_params_["gmm__n_components"] >= 3
    assert np.isfinite(search.score(X))


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_score_samples_integrates_to_one_1d(covariance_type):
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(-2, 0.5, 40), rng.normal(1, 1.0, 30)])[:, None]
    gmm = VariationalGMM(n_components=2, covariance_type=covariance_type, random_state=0).fit(X)
    grid = np.linspace(-60, 60, 120001)[:, None]
    integral = np.trapezoid(np.exp(gmm.score_samples(grid)), grid[:, 0])
    assert abs(integral - 1.0) < 2e-3


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_score_samples_integrates_to_one_2d(covariance_type):
    X, _ = make_blobs(n_samples=60, centers=2, n_features=2, cluster_std=1.0, random_state=5)
    gmm = VariationalGMM(n_components=2, covariance_type=covariance_type, random_state=0).fit(X)
    c = X.mean(0)
    ax = np.linspace(-40, 40, 801)
    gx, gy = np.meshgrid(ax + c[0], ax + c[1], indexing="ij")
    dens = np.exp(gmm.score_samples(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    integral = np.trapezoid(np.trapezoid(dens, ax, axis=1), ax)
    assert abs(integral - 1.0) < 1e-2


def test_fit_predict_equals_fit_then_predict(recipe):
    X, _ = recipe
    a = VariationalGMM(n_components=3, random_state=1).fit_predict(X)
    b = VariationalGMM(n_components=3, random_state=1).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)


def test_reproducible_and_no_global_seed(recipe):
    X, _ = recipe
    np_state = np.random.get_state()[1].copy()
    a = VariationalGMM(n_components=3, batch_size=300, random_state=3).fit(X)
    b = VariationalGMM(n_components=3, batch_size=300, random_state=3).fit(X)
    for name in ["means_", "covariances_", "precisions_cholesky_", "weights_", "lower_bounds_"]:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    c = VariationalGMM(n_components=3, batch_size=300, random_state=4).fit(X)
    assert not np.array_equal(a.lower_bounds_, c.lower_bounds_)


def test_second_fit_does_not_retrace(recipe):
    from skbgmm._svi._functions import functions

    X, _ = recipe
    gmm = VariationalGMM(n_components=3, covariance_type="diag", random_state=0)
    gmm.fit(X)
    gmm.score_samples(X[:10])
    fns = functions(gmm._config())
    before = {
        name: getattr(fns, name).experimental_get_tracing_count()
        for name in ["step", "posterior", "batch_stats", "log_resp", "log_density"]
    }
    # other sizes, another K and D: same traced graphs
    VariationalGMM(n_components=5, covariance_type="diag", random_state=1).fit(X[:1000] * 2)
    VariationalGMM(n_components=2, covariance_type="diag", random_state=1).fit(
        np.c_[X, X[:, :1]]
    ).score_samples(np.c_[X, X[:, :1]][:7])
    after = {name: getattr(fns, name).experimental_get_tracing_count() for name in before}
    # each function of a configuration is traced once at most (one not called by the first
    # fit may be traced by a later one, e.g. for a split move's responsibilities)
    assert all(before[name] <= 1 and after[name] <= 1 for name in before), (before, after)
    assert all(after[name] == before[name] for name in before if before[name])


def test_convergence_warning_and_honest_report(recipe):
    X, _ = recipe
    with pytest.warns(ConvergenceWarning):
        gmm = VariationalGMM(n_components=3, max_iter=1, tol=0.0, random_state=0).fit(X)
    assert not gmm.converged_ and gmm.n_iter_ == 1 and gmm.lower_bounds_.shape == (1,)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gmm = VariationalGMM(n_components=3, random_state=0).fit(X)
    assert gmm.converged_ and gmm.n_iter_ == gmm.lower_bounds_.size
    assert gmm.lower_bound_ == gmm.lower_bounds_[-1]


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_full_batch_elbo_never_decreases(covariance_type, monkeypatch):
    # plain full-batch steps are coordinate ascent: the ELBO is monotone (up to rounding)
    from skbgmm._svi import _trainer

    X, _ = make_blobs(n_samples=800, centers=4, n_features=3, cluster_std=2.5, random_state=9)
    kw = dict(
        n_components=6,
        covariance_type=covariance_type,
        tol=0,
        max_iter=60,
        init_params="random",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        accelerated = VariationalGMM(**kw).fit(X)
        monkeypatch.setattr(_trainer._Overrelaxation, "GROWTH", 1.0)  # plain coordinate ascent
        plain = VariationalGMM(**kw).fit(X)
    assert np.all(np.diff(plain.lower_bounds_) > -1e-9)
    # (tolerance 1e-7: at the optimum, with tol=0, passes differ by rounding only)
    assert_dips_recovered(accelerated.lower_bounds_, 1e-7)
    # and it gets at least as high as plain coordinate ascent in the same number of passes
    assert accelerated.lower_bound_ >= plain.lower_bound_ - 1e-6


def test_max_iter_zero_initialises_only(recipe):
    X, _ = recipe
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # as scikit-learn: no warning
        gmm = VariationalGMM(n_components=3, max_iter=0, random_state=0).fit(X)
    assert gmm.n_iter_ == 0 and gmm.lower_bound_ == -np.inf
    assert np.all(np.isfinite(gmm.predict_proba(X)))


def test_pickle_clone_deepcopy(recipe):
    X, _ = recipe
    gmm = VariationalGMM(n_components=3, random_state=0).fit(X)
    for other in (pickle.loads(pickle.dumps(gmm)), copy.deepcopy(gmm)):
        np.testing.assert_array_equal(other.score_samples(X[:50]), gmm.score_samples(X[:50]))
    assert not hasattr(clone(gmm), "means_")


def test_warm_start_continues(recipe):
    X, _ = recipe
    gmm = VariationalGMM(n_components=3, warm_start=True, random_state=0).fit(X)
    means = gmm.means_.copy()
    gmm.fit(X)
    assert gmm.n_iter_ <= 2
    np.testing.assert_allclose(gmm.means_, means, atol=1e-3)


def test_sample_shapes_and_distribution(recipe):
    X, _ = recipe
    gmm = VariationalGMM(n_components=3, random_state=0).fit(X)
    Xs, ys = gmm.sample(6000)
    assert Xs.shape == (6000, 2) and ys.shape == (6000,)
    for k in range(3):
        np.testing.assert_allclose(Xs[ys == k].mean(0), gmm.means_[k], atol=0.1)
    np.testing.assert_allclose(np.bincount(ys) / 6000, gmm.weights_, atol=0.03)
    a, _ = gmm.sample(10)
    b, _ = gmm.sample(10)
    np.testing.assert_array_equal(a, b)  # random_state=int: reproducible like scikit-learn


def test_summary(recipe):
    X, _ = recipe
    gmm = VariationalGMM(n_components=3, covariance_type="diag", random_state=0).fit(X)
    s = gmm.summary(0.9)
    assert s.mean.shape == s.mean_lower.shape == (3, 2)
    assert np.all(s.mean_lower < gmm.means_) and np.all(gmm.means_ < s.mean_upper)
    assert np.all(s.std_lower < s.std) and np.all(s.std < s.std_upper)
    # 3000 points, unit variance: the interval of a mean is about +-2 * 1/sqrt(1000) wide
    assert np.all(s.mean_upper - s.mean_lower < 0.15)
    text = str(s)
    assert "90% interval of mean" in text and len(text.splitlines()) == 2 + 6


def test_verbose_progress(recipe, capsys):
    X, _ = recipe
    VariationalGMM(n_components=3, verbose=1, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "Iteration" in ln]
    assert lines and all("ELBO" in ln and "time lapse" in ln for ln in lines)
    assert "Initialization 0" in out
    # verbose=2 draws a live progress bar over the rows of each pass, on a terminal only; in a
    # log file or a pipe (as here) it prints the plain per-pass lines instead
    VariationalGMM(
        n_components=3, verbose=2, verbose_interval=1, batch_size=500, max_iter=3, random_state=0
    ).fit(X)
    captured = capsys.readouterr()
    assert "rows" not in captured.err and "Iteration" in captured.out
    from skbgmm._svi import _progress

    class Terminal:
        def isatty(self):
            return True

    assert _progress._is_terminal(Terminal()) and not _progress._is_terminal(object())
