"""Streaming and out-of-core fits: partial_fit, streams of batches, memmaps, sample_weight."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from skbgmm import VariationalGMM
from skbgmm.metrics import plugin_log_likelihood


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=24000, centers=4, n_features=3, cluster_std=1.5, random_state=0)
    return X[:20000], X[20000:]


@pytest.fixture(scope="module")
def reference(blobs):
    return VariationalGMM(n_components=4, random_state=0).fit(blobs[0])


@pytest.mark.parametrize("total_samples", [None, 20000])
def test_partial_fit_in_100_chunks_matches_fit(blobs, reference, total_samples):
    # several passes over the data in 100 chunks: held-out log-likelihood within 0.02 nats
    X, X_test = blobs
    gmm = VariationalGMM(n_components=4, random_state=0, total_samples=total_samples)
    rng = np.random.RandomState(0)
    for _ in range(3):
        for chunk in np.array_split(rng.permutation(X.shape[0]), 100):
            gmm.partial_fit(X[chunk])
    ll = plugin_log_likelihood(gmm, X_test).mean()
    ll_ref = plugin_log_likelihood(reference, X_test).mean()
    assert ll >= ll_ref - 0.02
    assert gmm.n_steps_ >= 299 and gmm.n_samples_seen_ == 60000


def test_streaming_does_not_forget_earlier_clusters():
    # the first chunks come from cluster A only, the later ones from cluster B only
    rng = np.random.RandomState(1)
    A = rng.randn(500, 2) + [5, 5]
    B = rng.randn(500, 2) - [5, 5]
    gmm = VariationalGMM(n_components=3, random_state=0)
    for chunk in np.array_split(A, 10) + np.array_split(B, 10):
        gmm.partial_fit(chunk)
    heavy = gmm.means_[gmm.weights_ > 0.1]
    for centre in ([5, 5], [-5, -5]):
        assert np.min(np.linalg.norm(heavy - centre, axis=1)) < 0.5
    on_a = gmm.weights_[np.linalg.norm(gmm.means_ - [5, 5], axis=1) < 2].sum()
    assert abs(on_a - 0.5) < 0.05


def test_partial_fit_rejects_width_change_and_keeps_model(blobs):
    X, _ = blobs
    gmm = VariationalGMM(n_components=4, random_state=0).partial_fit(X[:500])
    means = gmm.means_.copy()
    with pytest.raises(ValueError, match="features"):
        gmm.partial_fit(np.c_[X[500:600], X[500:600, :1]])
    np.testing.assert_array_equal(gmm.means_, means)
    with pytest.raises(ValueError, match="n_components, covariance_type"):
        gmm.set_params(n_components=5).partial_fit(X[600:700])


def _batches(X, size):
    return [X[i : i + size] for i in range(0, X.shape[0], size)]


@pytest.mark.parametrize("kind", ["list", "callable", "tf.data"])
def test_fit_on_a_stream_of_batches(blobs, reference, kind):
    X, X_test = blobs
    if kind == "list":
        data = _batches(X, 2000)
    elif kind == "callable":
        data = lambda: (X[i : i + 2000] for i in range(0, X.shape[0], 2000))  # noqa: E731
    else:
        tf = pytest.importorskip("tensorflow")
        data = tf.data.Dataset.from_tensor_slices(X).batch(2000)
    gmm = VariationalGMM(n_components=4, random_state=0, batch_size=2000).fit(data)
    assert gmm.n_features_in_ == 3 and not hasattr(gmm, "feature_names_in_")
    ll = plugin_log_likelihood(gmm, X_test).mean()
    assert ll >= plugin_log_likelihood(reference, X_test).mean() - 0.01
    # the resolved priors come from a streaming pass over all the data
    np.testing.assert_allclose(gmm.mean_prior_, X.mean(0), rtol=1e-10)
    # (normalised by the total weight, so the same for weights w and c * w)
    expected = np.cov(X.T, bias=True) + 1e-6 * np.eye(3)
    np.testing.assert_allclose(gmm.covariance_prior_, expected, rtol=1e-8)


def test_fit_on_memmap_matches_in_memory(tmp_path, blobs):
    X, _ = blobs
    path = tmp_path / "x.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    for batch_size in (20000, 3000):
        a = VariationalGMM(n_components=4, batch_size=batch_size, random_state=0).fit(ro)
        b = VariationalGMM(n_components=4, batch_size=batch_size, random_state=0).fit(X)
        np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-12, atol=1e-12)


def test_one_shot_generator_is_refused(blobs):
    X, _ = blobs
    gen = (X[i : i + 5000] for i in range(0, 20000, 5000))
    with pytest.raises(ValueError, match="one-shot iterator"):
        VariationalGMM(n_components=4, random_state=0).fit(gen)


BAD_STREAMS = [
    ("mixed widths", lambda X: [X[:100], X[100:200, :2]], "same width"),
    ("empty batch", lambda X: [X[:100], X[:0], X[100:200]], "empty"),
    (
        "a feature never observed",
        lambda X: [
            np.where(np.arange(3) == 1, np.nan, X[:100]),
            np.where(np.arange(3) == 1, np.nan, X[100:200]),
        ],
        "no observed value",
    ),
    ("inf inside", lambda X: [X[:100], X[100:200] * np.inf], "infinity"),
    ("negative weights", lambda X: [(X[:100], -np.ones(100))], "non-negative"),
    ("weights of wrong length", lambda X: [(X[:100], np.ones(99))], "expected \\(100,\\)"),
    ("strings", lambda X: [np.array([["a", "b", "c"]] * 5)], "numbers"),
    ("no batches", lambda X: [], "2D array|no batches"),
]


@pytest.mark.parametrize("name,make,match", BAD_STREAMS, ids=[b[0] for b in BAD_STREAMS])
def test_bad_streams_leave_model_unchanged(blobs, reference, name, make, match):
    X, X_test = blobs
    gmm = VariationalGMM(n_components=4, random_state=0).fit(X[:2000])
    before = gmm.score_samples(X_test[:20]).copy()
    with pytest.raises(ValueError, match=match):
        gmm.fit(make(X))
    np.testing.assert_array_equal(gmm.score_samples(X_test[:20]), before)


def test_separate_sample_weight_with_stream_is_refused(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="yield"):
        VariationalGMM(n_components=2).fit(_batches(X, 1000), sample_weight=np.ones(20000))


# ---------------------------------------------------------------------------------------------
# sample_weight: an integer weight repeats a row, a zero weight drops it
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weighted():
    rng = np.random.RandomState(3)
    X, _ = make_blobs(n_samples=400, centers=3, n_features=2, cluster_std=1.0, random_state=3)
    w = rng.randint(0, 4, size=400)
    return X, w


ATTRS = ["weights_", "means_", "covariances_", "degrees_of_freedom_", "mean_precision_"]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_integer_weights_equal_repetition(weighted, covariance_type):
    X, w = weighted
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    a = VariationalGMM(**kw).fit(X, sample_weight=w)
    b = VariationalGMM(**kw).fit(np.repeat(X, w, axis=0))
    for name in ATTRS:  # tolerance: the same CAVI iterates, summed in another order
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-9)


def test_zero_weights_equal_dropping(weighted):
    X, w = weighted
    w01 = (w > 0).astype(float)
    a = VariationalGMM(n_components=3, random_state=0).fit(X, sample_weight=w01)
    b = VariationalGMM(n_components=3, random_state=0).fit(X[w01 > 0])
    for name in ATTRS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-6, atol=1e-8)


def test_partial_fit_sample_weight_equals_repetition(weighted):
    X, w = weighted
    # the first call fits its batch to convergence: a tight tol makes both reach the same point
    a = VariationalGMM(n_components=3, random_state=0, tol=1e-12, max_iter=1000)
    b = VariationalGMM(n_components=3, random_state=0, tol=1e-12, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rows in np.array_split(np.arange(400), 4):
            a.partial_fit(X[rows], sample_weight=w[rows])
            b.partial_fit(np.repeat(X[rows], w[rows], axis=0))
    for name in ATTRS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-4, atol=1e-6)
