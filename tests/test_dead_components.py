"""Dead components (count at most DEAD_SHARE of the total) are computed as one column.

Their posteriors are the prior's, so one column's log density stands for all of them and each
takes its share of that column: the statistics, the ELBO and every move term are those of a
column per component, for every family and every step (float64, float32, second moments by
pair of features, rows with missing entries), and the fits that take the pooled step are the
fits that do not.
"""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from skbgmm import VariationalGMM
from skbgmm._svi import _functions, _trainer
from skbgmm._svi._patterns import missing_rows
from skbgmm._svi._records import Config, Frame, Prior, Stats

COV_TYPES = ["full", "tied", "diag", "spherical"]
LIVE, DEAD = [0, 2, 5], [1, 3, 4]  # (dead components between and after live ones)


def _problem(covariance_type, seed=0):
    """Rows of three clusters far from the origin, plus rows near it that the prior's
    posterior (every dead component's) explains better than the clusters do."""
    rng = np.random.RandomState(seed)
    n, d, k = 3000, 3, 6
    labels = rng.choice(LIVE, size=n)
    centres = np.zeros((k, d))
    centres[LIVE] = rng.uniform(-40, 40, (3, d))
    X = centres[labels] + rng.randn(n, d)
    X[:40] = 0.5 * rng.randn(40, d)  # (captured by the dead components' column)
    w = rng.uniform(0.5, 2.0, n)
    frame = Frame(np.zeros(d), np.ones(d))
    cov = {"full": np.eye(d), "tied": np.eye(d), "diag": np.ones(d), "spherical": np.float64(1)}
    prior = Prior(
        np.float64(0.1), np.float64(1.0), np.zeros(d), np.float64(d), cov[covariance_type]
    )
    return X, w, labels, frame, prior, k


def _outputs(out):
    b, local, kl, terms, used = out
    flat = [*(np.asarray(s) for s in b), float(local), float(kl)]
    flat += [np.asarray(terms[0]), np.asarray(terms[1])]
    flat += [np.asarray(s) for s in terms[2]] + [float(terms[3])]
    return flat, bool(used)


def _assert_same(a, b, rtol):
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * max(np.abs(y).max(), 1.0))


@pytest.mark.parametrize("covariance_type", COV_TYPES)
# (the delete candidate's three paths: the rows above DELETE_TOL, the rows it owns, every row)
@pytest.mark.parametrize("delete_tol, delete_owned", [(1e-14, 0.5), (-1.0, 0.5), (-1.0, -1.0)])
def test_the_pooled_step_equals_a_column_per_component(
    covariance_type, delete_tol, delete_owned, monkeypatch
):
    monkeypatch.setattr(_functions, "DELETE_TOL", delete_tol)
    monkeypatch.setattr(_functions, "DELETE_OWNED", delete_owned)
    config = Config(covariance_type, "dirichlet_process")
    fns = _functions.Functions(config)  # (traced afresh: the tolerance is read when traced)
    X, w, labels, frame, prior, k = _problem(covariance_type)
    stats = Stats(*(np.asarray(s) for s in fns.batch_stats(X, w, np.eye(k)[labels], frame)))
    assert np.all(stats.nk[DEAD] == 0)
    pairs = np.array([[0, 2], [2, 5]], np.int32)
    variants = [(False, False), (True, False)]
    if hasattr(fns.fam, "pair_second_moments"):
        variants += [(False, True), (True, True)]
    for delete in (-1, 2):
        common = (frame, prior, 1e-6, stats, stats, np.bool_(False), pairs, np.int32(delete))
        for single, by_pair in variants:
            rows = X.T.astype(np.float32 if single else np.float64)
            plain, _ = _outputs(fns._steps[single, by_pair, False](rows, w, *common))
            pooled, _ = _outputs(fns._steps[single, by_pair, True](rows, w, *common))
            _assert_same(pooled, plain, 2e-5 if single else 1e-10)
            # (not vacuous: the dead components' column carries rows)
            nk = plain[0]
            assert nk[DEAD].sum() > 1.0 and np.all(nk[DEAD] > 0)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_rows_with_missing_entries_pool_their_dead_components(covariance_type):
    config = Config(covariance_type, "dirichlet_process")
    fns = _functions.functions(config)
    X, w, labels, frame, prior, k = _problem(covariance_type, seed=1)
    X[::3, 1] = np.nan
    X[1::7, 0] = np.nan
    rows = missing_rows(X)
    complete = np.nan_to_num(X)
    stats = Stats(*(np.asarray(s) for s in fns.batch_stats(complete, w, np.eye(k)[labels], frame)))
    pairs = np.array([[0, 5]], np.int32)
    for delete in (-1, 0):
        common = (frame, prior, 1e-6, stats, stats, np.bool_(False), pairs, np.int32(delete))
        args = (X[rows.incomplete], rows.patterns, rows.index, w[rows.incomplete], *common)
        plain, _ = _outputs(fns.step_missing(*args))
        pooled, _ = _outputs(fns.step_missing_pooled(*args))
        _assert_same(pooled, plain, 1e-10)
        assert plain[0][DEAD].sum() > 1.0


def test_a_candidate_point_pools_only_what_both_points_leave_dead():
    # over-relaxation hands the step a point and its fallback; the trainer pools only the
    # components dead in both, and the step pools those of the one it uses
    stats = Stats(np.array([5.0, 0.0, 0.0, 3.0]), np.zeros((4, 2)), np.zeros((4, 2, 2)))
    other = stats._replace(nk=np.array([5.0, 1.0, 0.0, 0.0]))
    candidate = _trainer.Candidate(stats, other)
    assert list(_trainer._dead(stats.nk)) == [False, True, True, False]
    fam = _functions.functions(Config("full", "dirichlet_process")).fam
    # one dead in both points: nothing to save
    assert not _trainer._pooled(candidate, 10**7, fam)
    assert _trainer._pooled(stats._replace(nk=np.array([5.0, 0, 0, 0, 3.0])), 10**7, fam)
    # every component dead (no weight): a column each
    assert not _trainer._pooled(stats._replace(nk=np.zeros(4)), 10**7, fam)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("missing", [False, True])
def test_fits_with_the_pooled_step_are_the_fits_without_it(covariance_type, missing, monkeypatch):
    # 3 clusters in 12 dimensions with 10 components: merges and deletes leave most of them
    # dead, and their steps pool them (POOL_WORK 0: whenever two are dead); the same fit,
    # pass for pass, as with a column per component
    X, _ = make_blobs(1500, 12, centers=3, cluster_std=2.0, random_state=3)
    X[:5] += 25.0  # (a few far rows: a component of their own)
    if missing:
        X[::5, 2] = np.nan  # (the partially observed step pools too)
    used = []
    step_for = _functions.Functions.step_for

    def recording(self, single, n_components, n_features, pooled=False):
        used.append(pooled)
        return step_for(self, single, n_components, n_features, pooled)

    pooled_missing = _functions._Traced.__call__

    def counting(self, *args):
        used.append(self._fn.__name__ == "_step_missing_pooled")
        return pooled_missing(self, *args)

    monkeypatch.setattr(_functions.Functions, "step_for", recording)
    monkeypatch.setattr(_functions._Traced, "__call__", counting)
    fits = {}
    for work in (0, np.inf):
        monkeypatch.setattr(_trainer, "POOL_WORK", work)
        used.clear()
        gmm = VariationalGMM(n_components=10, covariance_type=covariance_type, random_state=0)
        fits[work] = gmm.fit(X)
        assert any(used) == (work == 0)
    a, b = fits[0], fits[np.inf]
    assert a.n_iter_ == b.n_iter_ and a.n_moves_ == b.n_moves_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-7, atol=1e-12)
    assert (a.weights_ > 0.01).sum() < 10
