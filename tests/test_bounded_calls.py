"""No traced call sees more rows than ``step_rows``: a call's temporaries grow as rows x K x D.

Before the bound, the initial statistics of a 16,384-row subsample (K=100, D=64) were one call of
~1 GB, a ``partial_fit`` batch's distances (500,000 x 10, K=10) one of ~600 MB, and a large
``batch_size`` a minibatch step of any size. Every path that hands rows to TensorFlow is
exercised here, with the call sizes recorded at the traced functions themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from skbgmm import VariationalGMM
from skbgmm._svi import _functions, _trainer
from skbgmm._svi._sizes import chunk_rows, step_rows

COV_TYPES = ["full", "tied", "diag", "spherical"]
K, D = 10, 5
BOUND = 500  # step_rows, lowered so that small data exercise the parts


def _rows_of(name, first):
    """Rows in a traced call's first argument (the steps take the points as columns)."""
    if not isinstance(first, np.ndarray) or first.ndim != 2:
        return None  # (a call on statistics, not on rows)
    column_major = name.startswith("_step") and "missing" not in name
    return first.shape[1] if column_major else first.shape[0]


@pytest.fixture
def calls(monkeypatch):
    """The (function name, rows) of every traced call on rows, with step_rows at BOUND."""
    seen = []
    call = _functions._Traced.__call__

    def recording(self, *args):
        name = getattr(self._fn, "__name__", "?")
        rows = _rows_of(name, args[0]) if args else None
        if rows is not None:
            seen.append((name, rows))
        return call(self, *args)

    monkeypatch.setattr(_functions._Traced, "__call__", recording)
    monkeypatch.setattr(_trainer, "step_rows", lambda k, d: BOUND)
    return seen


def _data(n, missing=False, seed=0, n_features=D):
    # clusters of unequal sizes: equal ones tie in the final sort by size, whose order then
    # follows the rounding
    sizes = [n * 4 // 10, n * 3 // 10, n * 2 // 10]
    X, _ = make_blobs(sizes + [n - sum(sizes)], n_features, cluster_std=1.0, random_state=seed)
    X = X[np.random.RandomState(seed).permutation(n)]
    if missing:
        rng = np.random.RandomState(seed)
        X[rng.uniform(size=X.shape) < 0.03] = np.nan
    return X


def _largest(calls, names=None):
    rows = [r for name, r in calls if names is None or name in names]
    assert rows, "no traced call on rows was recorded"
    return max(rows)


def test_the_bound_is_above_a_pass_chunk():
    for k, d in [(1, 1), (10, 10), (40, 20), (100, 64), (1000, 1000)]:
        assert chunk_rows(k, d) <= step_rows(k, d)
        assert step_rows(k, d) >= 256


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("missing", [False, True])
def test_fit_with_large_minibatches_and_initial_subsample(covariance_type, missing, calls):
    # 3,000 rows: the initial subsample (all of them) and the 1,500-row minibatches are both
    # above the bound and must be taken in parts
    X = _data(3000, missing)
    gmm = VariationalGMM(
        n_components=K,
        covariance_type=covariance_type,
        batch_size=1500,
        max_iter=4,
        random_state=0,
    ).fit(X)
    assert {"_batch_stats"} <= {name for name, _ in calls}
    assert _largest(calls) <= BOUND
    assert np.all(np.isfinite(gmm.means_)) and np.isfinite(gmm.lower_bound_)
    calls.clear()
    gmm.score_samples(X)
    gmm.predict_proba(X)
    assert _largest(calls) <= chunk_rows(K, D)  # (prediction works in pass chunks)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("missing", [False, True])
def test_partial_fit_of_a_large_batch(covariance_type, missing, calls):
    # the second batch is streamed into a state with spare components: its rows' distances
    # (which rows no component explains) and the births' statistics are computed in parts
    X = _data(4000, missing, seed=1)
    gmm = VariationalGMM(n_components=K, covariance_type=covariance_type, random_state=0)
    gmm.partial_fit(X[:600])
    calls.clear()
    gmm.partial_fit(X[600:])
    names = {name for name, _ in calls}
    assert names & {"_distances", "_distances_missing"}, names
    assert _largest(calls) <= BOUND
    assert np.all(np.isfinite(gmm.means_))


@pytest.mark.slow
def test_the_real_bound_on_many_components_and_features():
    # (the bound itself, not a lowered one: K=40, D=20 gives 5,242 rows)
    import skbgmm._svi._functions as functions

    seen = []
    call = functions._Traced.__call__

    def recording(self, *args):
        rows = _rows_of(getattr(self._fn, "__name__", "?"), args[0]) if args else None
        if rows is not None:
            seen.append(rows)
        return call(self, *args)

    functions._Traced.__call__ = recording
    try:
        X = _data(12_000, n_features=20)
        gmm = VariationalGMM(n_components=40, batch_size=6000, max_iter=3, random_state=0)
        gmm.fit(X)
        gmm.partial_fit(X)
    finally:
        functions._Traced.__call__ = call
    assert max(seen) <= step_rows(40, 20) < 6000


def _fit(X, **kw):
    return VariationalGMM(n_components=K, random_state=0, **kw).fit(X)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_parts_do_not_change_a_full_batch_fit(covariance_type, monkeypatch):
    # float64 throughout (full batch): summing parts changes only the rounding
    X = _data(3000)
    whole = _fit(X, covariance_type=covariance_type)
    monkeypatch.setattr(_trainer, "step_rows", lambda k, d: 300)
    parts = _fit(X, covariance_type=covariance_type)
    assert parts.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(parts.lower_bound_, whole.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(parts.weights_, whole.weights_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(parts.means_, whole.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(parts.covariances_, whole.covariances_, rtol=1e-8, atol=1e-10)


def test_parts_do_not_change_a_streamed_fit(monkeypatch):
    # minibatch steps work in float32 per row: the parts' sums differ at that rounding only
    X = _data(3000, seed=2)

    def streamed():
        gmm = VariationalGMM(n_components=K, random_state=0)
        for s in range(0, X.shape[0], 1500):
            gmm.partial_fit(X[s : s + 1500])
        return gmm

    whole = streamed()
    monkeypatch.setattr(_trainer, "step_rows", lambda k, d: 300)
    parts = streamed()
    np.testing.assert_allclose(parts.weights_, whole.weights_, atol=1e-5)
    np.testing.assert_allclose(parts.means_, whole.means_, rtol=1e-4, atol=1e-4)
