"""Hard data is fitted, not refused; fits are reproducible; invariances hold (issue: robustness).

Each hard case records what scikit-learn's BayesianGaussianMixture does with the same data, as the
comparison (docs/robustness.rst has the table).
"""

import hashlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from skbgmm import VariationalGMM

ATTRS = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
    "lower_bounds_",
]


def _hard_cases():
    rng = np.random.RandomState(0)
    base = np.r_[rng.randn(100, 3), rng.randn(100, 3) + 6]
    scales = np.r_[rng.randn(100, 3), rng.randn(100, 3) + 4] * [1e-6, 1.0, 1e6]
    collinear = rng.randn(200, 1) @ [[1.0, 2.0, -1.0]] + 1e-7 * rng.randn(200, 3)
    correlated = (rng.randn(300, 3) @ [[1, 0.999, 0.998], [0, 0.045, 0.01], [0, 0, 0.03]]).astype(
        np.float32
    )
    singles = np.r_[rng.randn(150, 2), [[40.0, 40.0]], [[-40.0, 35.0]]]
    const_col = np.c_[base[:, :2], np.full(200, 3.0)]
    # (name, X, n_components, what BayesianGaussianMixture does with default parameters)
    return [
        ("duplicated points", np.repeat(base, 3, axis=0), 2, "fits"),
        ("all points identical", np.ones((50, 3)), 2, "fits"),
        ("constant feature", const_col, 2, "fits"),
        ("scales 1e-6 to 1e6", scales, 2, "fits"),
        ("offset 1e6", base + 1e6, 2, "fits"),
        ("nearly collinear", collinear, 2, "fits"),
        ("single-point clusters", singles, 3, "fits"),
        ("float32 correlated", correlated, 2, "fits"),
        ("n_components >> data", base[:30], 25, "fits"),
    ]


HARD = _hard_cases()


def _bgmm_outcome(X, k):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = BayesianGaussianMixture(n_components=k, random_state=0).fit(X)
        finite = all(
            np.all(np.isfinite(np.asarray(getattr(b, a)))) for a in ["means_", "covariances_"]
        )
        finite = finite and np.all(np.isfinite(b.score_samples(X)))
        return "fits" if finite else "non-finite output"
    except Exception as exc:  # noqa: BLE001 - recording what scikit-learn does
        return f"raises {type(exc).__name__}"


@pytest.mark.parametrize("name,X,k,expected_bgmm", HARD, ids=[h[0] for h in HARD])
def test_hard_data_gives_finite_fit(name, X, k, expected_bgmm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = VariationalGMM(n_components=k, random_state=0).fit(X)
    for attr in ATTRS:
        assert np.all(np.isfinite(getattr(gmm, attr))), attr
    proba = gmm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
    assert np.all(np.isfinite(gmm.score_samples(X)))
    assert np.isfinite(gmm.lower_bound_)
    Xs, _ = gmm.sample(20)
    assert np.all(np.isfinite(Xs))
    # the comparison: what scikit-learn does with the same data
    assert _bgmm_outcome(X, k) == expected_bgmm


def test_hard_data_is_sensible():
    rng = np.random.RandomState(0)
    base = np.r_[rng.randn(100, 3), rng.randn(100, 3) + 6]
    ref = VariationalGMM(n_components=2, random_state=0).fit(base)
    # offset by 1e6: the same fit, translated
    off = VariationalGMM(n_components=2, random_state=0).fit(base + 1e6)
    np.testing.assert_allclose(off.means_ - 1e6, ref.means_, atol=1e-6)
    np.testing.assert_allclose(off.covariances_, ref.covariances_, rtol=1e-6)
    # features on scales 1e-6 .. 1e6: the fit scales with them (reg_covar is negligible here)
    s = np.array([1e-3, 1.0, 1e3])
    scaled = VariationalGMM(n_components=2, random_state=0, reg_covar=0.0).fit(base * s)
    np.testing.assert_allclose(scaled.means_ / s, ref.means_, rtol=1e-6, atol=1e-6)
    # all points identical: one component, at the point, with variance about reg_covar
    same = VariationalGMM(n_components=2, random_state=0).fit(np.ones((50, 3)))
    np.testing.assert_allclose(same.means_[0], 1.0)
    assert same.covariances_[0].max() < 1e-4


def _fit_digest(seed):
    from skbgmm._data import make_recipe_data

    X, _ = make_recipe_data()
    gmm = VariationalGMM(n_components=3, batch_size=500, random_state=seed).fit(X)
    h = hashlib.sha256()
    for attr in ATTRS:
        h.update(np.ascontiguousarray(getattr(gmm, attr)).tobytes())
    return h.hexdigest()


def test_bit_identical_across_fits_and_processes():
    code = "from tests.test_robustness import _fit_digest; print(_fit_digest(7))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(_root())
    )
    assert out.returncode == 0, out.stderr[-2000:]
    here = _fit_digest(7)
    assert here == _fit_digest(7)
    assert out.stdout.strip().splitlines()[-1] == here
    assert _fit_digest(8) != here


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_no_global_seed_is_touched():
    tf = pytest.importorskip("tensorflow")
    np_before = np.random.get_state()[1].copy()
    tf_before = tf.random.uniform([3], seed=None).shape  # noqa: F841 - make TF's generator exist
    g = tf.random.get_global_generator().state.numpy().copy()
    _fit_digest(1)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)
    np.testing.assert_array_equal(tf.random.get_global_generator().state.numpy(), g)


# ---------------------------------------------------------------------------------------------
# Properties over random shapes, scales and seeds
# ---------------------------------------------------------------------------------------------
@st.composite
def problems(draw):
    n_features = draw(st.integers(1, 4))
    n_components = draw(st.integers(1, 4))
    n_samples = draw(st.integers(max(12, n_components), 120))
    seed = draw(st.integers(0, 2**16))
    scale = 10.0 ** draw(st.integers(-3, 3))
    offset = draw(st.sampled_from([0.0, 5.0, -1e3]))
    rng = np.random.RandomState(seed)
    centres = rng.randn(n_components, n_features) * 4
    X = centres[rng.randint(n_components, size=n_samples)] + rng.randn(n_samples, n_features)
    cov = draw(st.sampled_from(["full", "tied", "diag", "spherical"]))
    return X * scale + offset, n_components, cov, seed


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(problems())
def test_outputs_are_finite_and_normalised(problem):
    X, k, cov, seed = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = VariationalGMM(n_components=k, covariance_type=cov, random_state=seed).fit(X)
    proba = gmm.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-10)
    assert np.all(np.isfinite(gmm.score_samples(X)))
    for attr in ATTRS:
        assert np.all(np.isfinite(getattr(gmm, attr))), attr


@SETTINGS
@given(problems(), st.floats(-100, 100))
def test_translation_moves_means_and_keeps_labels(problem, shift):
    X, k, cov, seed = problem
    kw = dict(n_components=k, covariance_type=cov, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = VariationalGMM(**kw).fit(X)
        b = VariationalGMM(**kw).fit(X + shift)
    spread = np.abs(X).max() + abs(shift) + 1
    np.testing.assert_allclose(b.means_, a.means_ + shift, atol=1e-6 * spread)
    np.testing.assert_array_equal(b.predict(X + shift), a.predict(X))


@SETTINGS
@given(problems())
def test_row_order_does_not_change_full_batch_fit(problem):
    X, k, cov, seed = problem
    perm = np.random.RandomState(seed).permutation(X.shape[0])
    kw = dict(n_components=k, covariance_type=cov, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = VariationalGMM(**kw).fit(X)
        b = VariationalGMM(**kw).fit(X[perm])
    spread = np.abs(X).max() + 1
    np.testing.assert_allclose(b.means_, a.means_, atol=1e-6 * spread)
    np.testing.assert_allclose(b.weights_, a.weights_, atol=1e-6)
