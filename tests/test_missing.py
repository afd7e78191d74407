"""Partially observed rows: the maths of the observed blocks, fits with missing entries on every
input path, marginal and conditional predictive laws, imputation and regression."""

import numpy as np
import pytest
import tensorflow as tf

from skbgmm import GMMImputer, GMMRegressor, VariationalGMM, make_recipe_data
from skbgmm._svi import _model
from skbgmm._svi._families import WEIGHT_PRIORS
from skbgmm._svi._patterns import filled, missing_rows
from skbgmm._svi._records import Stats
from tests.test_families import _posterior, _problem

COV_TYPES = ["full", "tied", "diag", "spherical"]
WEIGHT_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def _holes(X, frac, seed):
    """X with a fraction of entries missing completely at random (no row left empty)."""
    rng = np.random.RandomState(seed)
    mask = rng.uniform(size=X.shape) < frac
    mask[mask.all(axis=1), 0] = False
    out = np.array(X, dtype=np.float64)
    out[mask] = np.nan
    return out, mask


# ------------------------------------------------------------------------------------------------
# the maths
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("weight_type", WEIGHT_TYPES)
def test_elbo_from_completed_statistics_equals_elbo_from_rows(cov_type, weight_type):
    # E_r,q(x_m)[log p] from the completed statistics + H(r) + sum r H(q(x_m | k)) equals the
    # rows' log normalisers: the memoized ELBO the moves use stays exact with missing entries
    Z, w, _, fam, prior, stats = _problem(cov_type, d=4)
    Zm, _ = _holes(Z, 0.3, seed=3)
    rows = missing_rows(Zm)
    wp = WEIGHT_PRIORS[weight_type]
    post = _posterior(prior, stats, fam, wp, 4)
    inc = rows.incomplete
    log_r, log_norm, block, entropy = _model.log_resp_observed(
        tf.constant(filled(Zm[inc], 0.0)), rows.patterns, rows.index, post, fam, wp
    )
    r, wi = np.exp(log_r.numpy()), w[inc]
    new = Stats(
        *_model.completed_stats(
            block, tf.constant(r * wi[:, None]), rows.index, rows.patterns.shape[0], fam
        )
    )
    h = -np.sum(wi[:, None] * r * log_r.numpy()) + np.sum(
        wi[:, None] * r * entropy.numpy()[rows.index]
    )
    from_stats = float(_model.expected_log_joint(new, post, fam, wp)) + h
    np.testing.assert_allclose(from_stats, np.sum(wi * log_norm.numpy()), rtol=1e-10)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_rows_through_the_observed_path_are_unchanged(cov_type):
    Z, w, resp, fam, prior, stats = _problem(cov_type, d=3)
    wp = WEIGHT_PRIORS["dirichlet_process"]
    post = _posterior(prior, stats, fam, wp, 3)
    patterns, index = np.ones((1, 3)), np.zeros(Z.shape[0], np.int32)
    log_r, log_norm = _model.log_resp(tf.constant(Z), post, fam, wp)
    log_r2, log_norm2, block, entropy = _model.log_resp_observed(
        tf.constant(Z), patterns, index, post, fam, wp
    )
    np.testing.assert_allclose(log_r2.numpy(), log_r.numpy(), atol=1e-12)
    np.testing.assert_allclose(log_norm2.numpy(), log_norm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(entropy.numpy(), 0.0, atol=1e-12)  # nothing to complete
    wr = tf.constant(resp * w[:, None])
    a = _model.sufficient_stats(tf.constant(Z), wr, w, fam)
    b = _model.completed_stats(block, wr, index, 1, fam)
    for x, y in zip(a, b):
        np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-11, atol=1e-11)
    log_w = np.log(np.full(resp.shape[1], 1.0 / resp.shape[1]))
    dens = _model.predictive_log_density(tf.constant(Z), post, log_w, fam)
    dens2 = _model.predictive_log_density_observed(
        tf.constant(Z), patterns, index, post, log_w, fam
    )
    np.testing.assert_allclose(dens2.numpy(), dens.numpy(), rtol=1e-12)


@pytest.fixture(scope="module")
def fitted3d():
    rng = np.random.RandomState(0)
    cov = np.array([[2.0, 0.8, 0.3], [0.8, 1.0, 0.2], [0.3, 0.2, 0.5]])
    X = np.r_[
        rng.multivariate_normal([0, 0, 0], cov, size=300),
        rng.multivariate_normal([4, -3, 1], cov[::-1, ::-1], size=200),
    ]
    return X, {
        ct: VariationalGMM(n_components=4, covariance_type=ct, random_state=0).fit(X)
        for ct in COV_TYPES
    }


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_joint_density_is_marginal_times_conditional(fitted3d, cov_type):
    # p(x1, x2, x3) = p(x1) p(x2, x3 | x1) and = p(x1, x3) p(x2 | x1, x3), exactly
    X, models = fitted3d
    gmm = models[cov_type]
    rows = X[::25] + 0.3
    joint = gmm.score_samples(rows)
    for given in ([0], [0, 2], [2, 1]):
        part = np.full_like(rows, np.nan)
        part[:, given] = rows[:, given]
        marginal = gmm.score_samples(part)
        cond = gmm.condition(rows[:, given], given=given)
        targets = rows[:, cond.target_features]
        np.testing.assert_allclose(marginal + cond.log_prob(targets), joint, rtol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_marginal_density_integrates_the_joint(fitted3d, cov_type):
    # the density of (x1, x3) with x2 missing is the integral of the joint over x2
    X, models = fitted3d
    gmm = models[cov_type]
    grid = np.linspace(-25, 25, 40001)
    for x1, x3 in [(0.5, 0.2), (3.0, 1.5)]:
        rows = np.c_[np.full_like(grid, x1), grid, np.full_like(grid, x3)]
        integral = np.trapezoid(np.exp(gmm.score_samples(rows)), grid)
        marginal = np.exp(gmm.score_samples([[x1, np.nan, x3]]))[0]
        np.testing.assert_allclose(marginal, integral, rtol=1e-6)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_conditional_on_one_component_is_the_textbook_formula(fitted3d, cov_type):
    X, _ = fitted3d
    gmm = VariationalGMM(n_components=1, covariance_type=cov_type, random_state=0).fit(X[:300])
    from skbgmm._svi._family_shapes import covariance_shapes

    shapes = covariance_shapes(cov_type)
    cov = shapes.full_covariances(gmm.covariances_, 1, 3)
    cov = cov[0] if cov.ndim == 3 else cov
    nu, beta, m = gmm.degrees_of_freedom_[0], gmm.mean_precision_[0], gmm.means_[0]
    # the predictive Student-t: df and scale as in VariationalGMM.predictive_distribution
    if cov_type in ("full", "tied"):
        df = nu - 3 + 1
        scale = cov * nu / df * (1 + beta) / beta
    elif cov_type == "spherical":
        df, scale = 3 * nu, cov * (1 + beta) / beta
    else:
        df, scale = nu, cov * (1 + beta) / beta
    x1 = np.array([[1.5], [-2.0]])
    cond = gmm.condition(x1, given=[0])
    if cov_type == "diag":  # independent coordinates: the conditional is the marginal
        loc = np.broadcast_to(m[1:], (2, 2))
        sc = np.broadcast_to(scale[1:, 1:], (2, 2, 2))
        dfc = np.full(2, df)
    else:
        diff = x1[:, 0] - m[0]
        loc = m[1:] + np.outer(diff, scale[1:, 0] / scale[0, 0])
        schur = scale[1:, 1:] - np.outer(scale[1:, 0], scale[0, 1:]) / scale[0, 0]
        delta = diff**2 / scale[0, 0]
        sc = ((df + delta) / (df + 1))[:, None, None] * schur
        dfc = np.full(2, df + 1)
    np.testing.assert_allclose(cond.loc[:, 0], loc, rtol=1e-10)
    np.testing.assert_allclose(cond.scale[:, 0], sc, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(cond.df[:, 0], dfc, rtol=1e-12)
    np.testing.assert_allclose(cond.mean(), loc, rtol=1e-10)
    np.testing.assert_allclose(cond.covariance(), sc * (dfc / (dfc - 2))[:, None, None], rtol=1e-10)


def test_conditional_density_integrates_to_one_and_quantiles_invert_the_cdf(fitted3d):
    X, models = fitted3d
    gmm = models["full"]
    cond = gmm.condition([[1.0, 0.5], [3.5, 1.2]], given=[0, 2])
    grid = np.linspace(-40, 40, 80001)
    for i in range(2):
        dens = np.exp(
            gmm.condition(
                np.repeat([[1.0, 0.5], [3.5, 1.2]][i : i + 1], grid.size, 0), [0, 2]
            ).log_prob(grid[:, None])
        )
        np.testing.assert_allclose(np.trapezoid(dens, grid), 1.0, rtol=1e-6)
    q = cond.quantile([0.05, 0.5, 0.95])
    assert q.shape == (3, 2, 1)
    for level, values in zip([0.05, 0.5, 0.95], q):
        np.testing.assert_allclose(cond.cdf(values), level, atol=1e-9)
    draws = cond.sample(20000, random_state=0)
    assert draws.shape == (20000, 2, 1)
    # draws match the mean and standard deviation (5 standard errors)
    se = cond.stddev()[:, 0] / np.sqrt(20000)
    assert np.all(np.abs(draws.mean(axis=0)[:, 0] - cond.mean()[:, 0]) < 5 * se)


def test_condition_by_name_and_bad_given(fitted3d):
    pd = pytest.importorskip("pandas")
    X, _ = fitted3d
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    gmm = VariationalGMM(n_components=3, random_state=0).fit(frame)
    by_name = gmm.condition(frame[["c", "a"]].iloc[:4], given=["c", "a"])
    by_index = gmm.condition(X[:4][:, [2, 0]], given=[2, 0])
    np.testing.assert_allclose(by_name.mean(), by_index.mean())
    assert list(by_name.target_names) == ["b"]
    by_columns = gmm.condition(frame[["c", "a"]].iloc[:4])  # given: the frame's columns
    np.testing.assert_allclose(by_columns.mean(), by_index.mean())
    for given, match in [
        (["z"], "not seen"),
        ([0, 0], "twice"),
        ([0, 1, 2], "every feature"),
        ([5], "out of range"),
        (None, "given"),
    ]:
        with pytest.raises(ValueError, match=match):
            gmm.condition(X[:2, :1], given=given)
    with pytest.raises(ValueError, match="columns"):
        gmm.condition(X[:2], given=[0])


# ------------------------------------------------------------------------------------------------
# fitting with missing entries
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_fit_with_missing_entries_finds_the_clusters(cov_type):
    X, _ = make_recipe_data(3000, random_state=0)
    X_test, _ = make_recipe_data(1000, random_state=1)
    Xm, _ = _holes(X, 0.3, seed=0)
    holes = VariationalGMM(n_components=10, covariance_type=cov_type, random_state=0).fit(Xm)
    full = VariationalGMM(n_components=10, covariance_type=cov_type, random_state=0).fit(X)
    assert holes.converged_
    assert holes.n_effective_components_ == 3
    # held-out plug-in quality close to the fit on complete data (0.02 nats per point)
    assert holes.score(X_test) > full.score(X_test) - 0.02
    assert np.all(np.isfinite(holes.score_samples(Xm)))
    proba = holes.predict_proba(Xm)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_every_input_path_accepts_missing_entries(tmp_path):
    X, _ = make_recipe_data(1500, random_state=0)
    Xm, _ = _holes(X, 0.2, seed=1)
    make = lambda: VariationalGMM(n_components=6, random_state=0)  # noqa: E731
    ref = make().fit(Xm)
    path = tmp_path / "x.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=Xm.shape)
    mm[:] = Xm
    mm.flush()
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=Xm.shape)
    np.testing.assert_array_equal(make().fit(mm).means_, ref.means_)
    np.testing.assert_allclose(make().fit(Xm.astype(np.float32)).means_, ref.means_, atol=1e-3)
    batches = np.array_split(Xm, 3)
    stream = make().fit(batches)
    assert stream.n_effective_components_ == ref.n_effective_components_ == 3
    online = make()
    for b in np.array_split(Xm, 6):
        online.partial_fit(b)
    # (streaming merges are one-shot and, with missing entries, judged on a lower bound: a
    # small extra component can stay; the three clusters hold nearly all the weight)
    assert np.sort(online.weights_)[-3:].sum() > 0.9
    assert np.all(np.isfinite(online.score_samples(Xm)))
    for est in (ref, stream, online):
        assert abs(est.score(X) - ref.score(X)) < 0.05


def test_dask_input_with_missing_entries_equals_its_blocks():
    da = pytest.importorskip("dask.array")
    X, _ = make_recipe_data(1200, random_state=0)
    Xm, _ = _holes(X, 0.2, seed=2)
    dX = da.from_array(Xm, chunks=(400, 2))
    a = VariationalGMM(n_components=5, random_state=0).fit(dX)
    b = VariationalGMM(n_components=5, random_state=0).fit(np.array_split(Xm, 3))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9)
    np.testing.assert_allclose(a.score_samples(dX).compute(), a.score_samples(Xm), rtol=1e-12)


def test_empty_rows_carry_no_weight_and_bad_cells_raise():
    X, _ = make_recipe_data(600, random_state=0)
    Xm, _ = _holes(X, 0.2, seed=3)
    with_empty = np.r_[Xm, np.full((40, 2), np.nan)]
    a = VariationalGMM(n_components=4, random_state=0).fit(Xm)
    b = VariationalGMM(n_components=4, random_state=0).fit(with_empty)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-8)
    assert b.n_samples_seen_ == a.n_samples_seen_
    # an empty row: probability 1 of observing nothing, responsibilities that sum to one
    np.testing.assert_allclose(a.score_samples([[np.nan, np.nan]]), 0.0, atol=1e-12)
    np.testing.assert_allclose(a.predict_proba([[np.nan, np.nan]]).sum(), 1.0)
    bad = Xm.copy()
    bad[:, 1] = np.nan
    with pytest.raises(ValueError, match="no observed value"):
        VariationalGMM(n_components=2).fit(bad)
    inf = Xm.copy()
    inf[3, 0] = np.inf
    with pytest.raises(ValueError, match="[Ii]nfinity"):
        VariationalGMM(n_components=2).fit(inf)
    with pytest.raises(ValueError, match="[Ii]nfinity"):
        VariationalGMM(n_components=2).fit([Xm[:300], inf[:300]])
    with pytest.raises(ValueError, match="[Ii]nfinity"):
        a.score_samples(inf[:5])
    assert a.score(Xm) == pytest.approx(a.score(Xm))  # the fitted model survives


# ------------------------------------------------------------------------------------------------
# imputation and regression
# ------------------------------------------------------------------------------------------------
def test_imputer_beats_the_scikit_learn_imputers_on_clustered_data():
    from sklearn.datasets import make_blobs
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    X, _ = make_blobs(1500, 5, centers=4, random_state=1)
    Xm, mask = _holes(X, 0.2, seed=0)
    rmse = {}
    for name, imp in [
        ("simple", SimpleImputer()),
        ("knn", KNNImputer()),
        ("iterative", IterativeImputer(random_state=0)),
        ("gmm", GMMImputer(random_state=0)),
    ]:
        rmse[name] = np.sqrt(np.mean((imp.fit_transform(Xm)[mask] - X[mask]) ** 2))
    assert rmse["gmm"] < 0.8 * min(rmse["simple"], rmse["knn"], rmse["iterative"]), rmse


def test_imputer_options():
    X, _ = make_recipe_data(800, random_state=0)
    Xm, mask = _holes(X, 0.2, seed=4)
    imp = GMMImputer(n_components=5, random_state=0).fit(Xm)
    mean = imp.transform(Xm)
    np.testing.assert_array_equal(mean[~mask], X[~mask])
    assert not np.isnan(mean).any()
    draws = GMMImputer(n_components=5, sample_posterior=True, random_state=0).fit(Xm)
    d1, d2 = draws.transform(Xm), draws.transform(Xm)
    assert not np.allclose(d1[mask], d2[mask])  # fresh draws
    np.testing.assert_array_equal(d1[~mask], X[~mask])
    with_ind = GMMImputer(n_components=5, add_indicator=True, random_state=0).fit(Xm)
    out = with_ind.transform(Xm)
    assert out.shape == (800, 4)
    np.testing.assert_array_equal(out[:, 2:], mask.astype(float))
    assert list(with_ind.get_feature_names_out()) == [
        "x0",
        "x1",
        "missingindicator_x0",
        "missingindicator_x1",
    ]
    placeholder = np.where(mask, -1.0, X)
    other = GMMImputer(n_components=5, missing_values=-1.0, random_state=0).fit(placeholder)
    np.testing.assert_allclose(other.transform(placeholder), mean)
    np.testing.assert_allclose(imp.gmm_.impute(Xm), mean)


def test_regressor_is_bimodal_where_the_data_are():
    rng = np.random.RandomState(0)
    x = rng.uniform(0.0, 9.0, size=1500)
    y = np.sign(rng.randn(1500)) * np.sqrt(x) + 0.1 * rng.randn(1500)
    reg = GMMRegressor(n_components=20, random_state=0).fit(x[:, None], y)
    dist = reg.predict_distribution([[4.0]])
    at = lambda v: float(dist.log_prob([[v]])[0])  # noqa: E731
    assert at(2.0) > at(0.0) + 3 and at(-2.0) > at(0.0) + 3
    mean, std = reg.predict([[4.0], [1.0]], return_std=True)
    assert mean.shape == std.shape == (2,)
    assert abs(mean[0]) < 0.5 and 1.5 < std[0] < 2.5  # the two branches, +-2


def test_regressor_multi_output_and_missing_inputs():
    rng = np.random.RandomState(1)
    X = rng.randn(600, 3)
    Y = np.c_[X @ [1.0, -2.0, 0.5], X[:, 0] - X[:, 2]] + 0.1 * rng.randn(600, 2)
    reg = GMMRegressor(n_components=3, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (600, 2)
    assert reg.score(X, Y) > 0.95
    holes = X[:5].copy()
    holes[:, 1] = np.nan  # x1 unknown: integrated out, the prediction is wider
    _, std_full = reg.predict(X[:5], return_std=True)
    _, std_holes = reg.predict(holes, return_std=True)
    assert np.all(std_holes[:, 0] > 3 * std_full[:, 0])
    with pytest.raises(ValueError, match="y contains NaN"):
        GMMRegressor().fit(X, np.r_[Y[:-1, 0], np.nan])


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_gradient_engine_accepts_missing_entries(cov_type):
    X, _ = make_recipe_data(1500, random_state=0)
    Xm, _ = _holes(X, 0.2, seed=5)
    kw = dict(n_components=3, covariance_type=cov_type, inference="gradient", random_state=0)
    holes = VariationalGMM(max_iter=300, **kw).fit(Xm)
    full = VariationalGMM(max_iter=300, **kw).fit(X)
    assert np.all(np.isfinite(holes.lower_bounds_))
    # the same clusters: each fitted mean within 0.3 of the complete-data fit's
    dist = np.linalg.norm(holes.means_[:, None] - full.means_[None], axis=-1)
    assert np.all(dist.min(axis=1) < 0.3)
    assert holes.score(X) > full.score(X) - 0.05


def test_imputer_drops_or_keeps_a_feature_never_observed():
    X, _ = make_recipe_data(400, random_state=0)
    Xm, _ = _holes(X, 0.1, seed=6)
    Xm = np.c_[Xm[:, :1], np.full(400, np.nan), Xm[:, 1:]]
    dropped = GMMImputer(n_components=3, random_state=0).fit(Xm)
    out = dropped.transform(Xm)
    assert out.shape == (400, 2) and not np.isnan(out).any()
    assert list(dropped.get_feature_names_out()) == ["x0", "x2"]
    kept = GMMImputer(n_components=3, keep_empty_features=True, random_state=0).fit(Xm)
    out_kept = kept.transform(Xm)
    assert out_kept.shape == (400, 3)
    np.testing.assert_array_equal(out_kept[:, 1], 0.0)
    np.testing.assert_allclose(out_kept[:, [0, 2]], out)
    with pytest.raises(ValueError, match="every feature"):
        GMMImputer().fit(np.full((10, 2), np.nan))


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_multiple_imputation_draws_average_to_the_conditional_mean(cov_type):
    X, _ = make_recipe_data(600, random_state=0)
    Xm, mask = _holes(np.c_[X, X[:, :1] - X[:, 1:]], 0.3, seed=7)
    gmm = VariationalGMM(n_components=4, covariance_type=cov_type, random_state=0).fit(Xm)
    mean = gmm.impute(Xm[:60])
    draws = np.stack(
        [gmm.impute(Xm[:60], sample_posterior=True, random_state=s) for s in range(300)]
    )
    hidden = mask[:60]
    np.testing.assert_array_equal(
        draws[:, ~hidden], np.broadcast_to(Xm[:60][~hidden], (300, (~hidden).sum()))
    )
    z = (draws.mean(axis=0) - mean)[hidden] / (draws.std(axis=0)[hidden] / np.sqrt(300))
    assert np.all(np.abs(z) < 5), np.abs(z).max()
    assert not np.allclose(draws[0][hidden], draws[1][hidden])


def test_verbose_fit_counts_the_rows_it_drops(capsys):
    X, _ = make_recipe_data(300, random_state=0)
    X = np.r_[X, np.full((7, 2), np.nan)]
    VariationalGMM(n_components=2, verbose=1, random_state=0).fit(X)
    assert "7 rows with no observed entry carry no weight" in capsys.readouterr().out
