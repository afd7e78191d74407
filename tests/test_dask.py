"""Data-parallel fits on a dask cluster: the same fit as one process, block for block."""

import os
import signal
import threading
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from sklearn.datasets import make_blobs  # noqa: E402

from skbgmm import VariationalGMM  # noqa: E402

ATTRS = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "degrees_of_freedom_",
    "mean_precision_",
    "lower_bounds_",
]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    with distributed.Client(cluster) as c:
        # every worker imports TensorFlow once, up front
        c.run(lambda: __import__("skbgmm._svi._trainer") and None)
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(n_samples=12000, centers=4, n_features=3, cluster_std=1.5, random_state=0)
    return X


def _assert_same(a, b, rtol=1e-8):
    for name in ATTRS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=1e-12)


def test_full_batch_fit_equals_single_process(client, data):
    X = data
    dX = da.from_array(X, chunks=(3000, 3))
    local = VariationalGMM(n_components=4, random_state=0).fit(X)
    remote = VariationalGMM(n_components=4, random_state=0).fit(dX)
    _assert_same(remote, local)
    np.testing.assert_allclose(remote.mean_prior_, local.mean_prior_, rtol=1e-12)


def test_minibatch_fit_equals_single_process_step_for_step(client, data):
    X = data
    dX = da.from_array(X, chunks=(1500, 3))
    blocks = [X[i : i + 1500] for i in range(0, X.shape[0], 1500)]
    kw = dict(n_components=4, batch_size=1500, random_state=0)
    local = VariationalGMM(**kw).fit(blocks)  # the same minibatches, in the same order
    remote = VariationalGMM(**kw).fit(dX)
    assert remote.n_steps_ == local.n_steps_ > 0
    _assert_same(remote, local)


def test_dask_dataframe_and_weights(client, data):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X = data
    w = np.random.RandomState(0).randint(0, 3, size=X.shape[0]).astype(float)
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=4)
    remote = VariationalGMM(n_components=4, random_state=0).fit(
        frame, sample_weight=da.from_array(w, chunks=3000)
    )
    local = VariationalGMM(n_components=4, random_state=0).fit(X, sample_weight=w)
    _assert_same(remote, local)
    np.testing.assert_array_equal(remote.feature_names_in_, ["a", "b", "c"])


def test_bad_block_is_reported_and_model_kept(client, data):
    X = data.copy()
    X[7000, 1] = np.inf
    gmm = VariationalGMM(n_components=4, random_state=0).fit(data[:3000])
    before = gmm.means_.copy()
    with pytest.raises(ValueError, match="infinity"):
        gmm.fit(da.from_array(X, chunks=(3000, 3)))
    np.testing.assert_array_equal(gmm.means_, before)


def test_worker_killed_mid_fit_completes(client, data):
    # the scheduler re-runs a lost worker's tasks elsewhere: the fit completes, and since every
    # task is a pure function of its inputs, it is the same fit
    X = data
    dX = da.from_array(X, chunks=(1500, 3))
    kw = dict(n_components=4, batch_size=1500, random_state=0, tol=0.0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = VariationalGMM(**kw).fit(dX)
        pids = list(client.run(os.getpid).values())
        timer = threading.Timer(1.0, os.kill, args=(pids[0], signal.SIGKILL))
        timer.start()
        result = {}
        runner = threading.Thread(
            target=lambda: result.setdefault("gmm", VariationalGMM(**kw).fit(dX))
        )
        runner.start()
        runner.join(timeout=120)
        timer.cancel()
    assert not runner.is_alive(), "the fit hung after a worker died"
    _assert_same(result["gmm"], reference)


def test_dask_ml_incremental(client, data):
    dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
    from skbgmm.metrics import plugin_log_likelihood

    X = data
    X_test, _ = make_blobs(n_samples=3000, centers=4, n_features=3, cluster_std=1.5, random_state=0)
    dX = da.from_array(X, chunks=(1000, 3))
    inc = dask_ml_wrappers.Incremental(
        VariationalGMM(n_components=4, random_state=0), shuffle_blocks=False
    )
    inc.fit(dX)
    gmm = inc.estimator_
    assert gmm.n_samples_seen_ == X.shape[0]
    ref = VariationalGMM(n_components=4, random_state=0).fit(X)
    # a stream read once, block by block, against a fit on all the data: 0.02 nats per point
    ll = plugin_log_likelihood(gmm, X_test).mean()
    assert ll >= plugin_log_likelihood(ref, X_test).mean() - 0.02


def test_dask_fit_finds_the_number_of_clusters(client):
    # merge and delete moves need only sums over rows: the entropy terms travel from the workers
    # with the statistics, and the count is the one a NumPy fit finds
    from skbgmm._data import make_recipe_data

    X = make_recipe_data()[0][np.random.RandomState(0).permutation(3000)]
    dX = da.from_array(X, chunks=(750, 2))
    gmm = VariationalGMM(n_components=10, random_state=0).fit(dX)
    assert gmm.n_effective_components_ == 3
    assert gmm.n_moves_["merges"] > 0


def test_gradient_engine_runs_on_the_workers(client):
    # the same Adam steps as on the list of the blocks: each minibatch's gradient is computed
    # on the worker holding the block
    X = np.random.RandomState(0).randn(600, 2)
    kw = dict(n_components=2, inference="gradient", batch_size=200, random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = VariationalGMM(**kw).fit(da.from_array(X, chunks=(200, 2)))
        b = VariationalGMM(**kw).fit([X[i : i + 200] for i in range(0, 600, 200)])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)


def test_dask_dataframe_with_integer_column_labels_has_no_feature_names(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = np.random.RandomState(0).randn(400, 2)
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=2)  # columns 0 and 1
    gmm = VariationalGMM(n_components=2, random_state=0).fit(frame)
    assert not hasattr(gmm, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted with feature names" warning
        gmm.predict(X)


def test_predictions_on_dask_arrays_run_on_the_workers(client, data):
    gmm = VariationalGMM(n_components=4, random_state=0).fit(data)
    dX = da.from_array(data, chunks=(3000, 3))
    labels = gmm.predict(dX)
    proba = gmm.predict_proba(dX)
    log_density = gmm.score_samples(dX)
    assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
    np.testing.assert_array_equal(labels.compute(), gmm.predict(data))
    np.testing.assert_allclose(proba.compute(), gmm.predict_proba(data), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_density.compute(), gmm.score_samples(data), rtol=1e-12)
    np.testing.assert_allclose(gmm.score(dX), gmm.score(data), rtol=1e-12)
    with pytest.raises(ValueError, match="expecting"):
        gmm.predict(da.from_array(data[:, :2], chunks=(3000, 2)))
