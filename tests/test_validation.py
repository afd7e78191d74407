"""Bad input gets a clear error, and a fitted model survives the bad call unchanged."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from skbgmm import VariationalGMM
from skbgmm._data import make_recipe_data

X_GOOD, _ = make_recipe_data(600)
X_PROBE = X_GOOD[:25]


@pytest.fixture(scope="module")
def fitted():
    return VariationalGMM(n_components=3, random_state=0).fit(X_GOOD)


def _snapshot(gmm):
    return (
        gmm.predict_proba(X_PROBE).copy(),
        gmm.score_samples(X_PROBE).copy(),
        gmm.means_.copy(),
        gmm.n_features_in_,
    )


def _inf(a):
    a = a.copy()
    a[5, 0] = np.inf
    return a


BAD_DATA = [
    ("inf", _inf(X_GOOD), ValueError, "infinity"),
    ("empty", np.empty((0, 2)), ValueError, "0 sample"),
    ("one sample", X_GOOD[:1], ValueError, "1 sample"),
    ("fewer samples than components", X_GOOD[:2], ValueError, "n_samples >= n_components"),
    ("1-D", X_GOOD[:, 0], ValueError, "2D array"),
    ("3-D", X_GOOD[None], ValueError, "dim 3"),
    ("strings", np.array([["a", "b"]] * 10), ValueError, "could not convert"),
    ("complex", X_GOOD + 1j, ValueError, "Complex data not supported"),
    ("sparse", sp.csr_matrix(X_GOOD), TypeError, "dense data is required"),
    ("wrong width", np.c_[X_GOOD, X_GOOD], ValueError, "features"),
]


@pytest.mark.parametrize("name,X,error,match", BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_in_fit_leaves_model_unchanged(fitted, name, X, error, match):
    before = _snapshot(fitted)
    gmm = VariationalGMM(n_components=3, random_state=0)
    gmm.__dict__.update(fitted.__dict__)
    # a refit may change the width; continuing a fit (warm_start) may not
    gmm.set_params(warm_start=name == "wrong width")
    with pytest.raises(error, match=match):
        gmm.fit(X)
    after = _snapshot(gmm)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name,X,error,match",
    [b for b in BAD_DATA if b[0] not in ("one sample", "fewer samples than components", "empty")]
    + [("empty", np.empty((0, 2)), ValueError, "0 sample")],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_data_in_predict(fitted, name, X, error, match):
    before = _snapshot(fitted)
    if name == "wrong width":
        match = "X has 4 features, but VariationalGMM is expecting 2 features"
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(error, match=match):
            getattr(fitted, method)(X)
    for a, b in zip(before, _snapshot(fitted)):
        np.testing.assert_array_equal(a, b)


BAD_PARAMS = [
    (dict(n_components=0), ValueError, "'n_components' .* must be >= 1"),
    (dict(n_components=2.5), TypeError, "'n_components' .* must be an int"),
    (dict(covariance_type="banana"), ValueError, "'covariance_type' .* must be one of"),
    (dict(init_params="kmeanz"), ValueError, "'init_params' .* must be one of"),
    (dict(weight_concentration_prior_type="dp"), ValueError, "must be one of"),
    (dict(weight_concentration_prior=0.0), ValueError, "'weight_concentration_prior' .* > 0"),
    (dict(weight_concentration_prior=-1.0), ValueError, "> 0"),
    (dict(mean_precision_prior=-1.0), ValueError, "'mean_precision_prior' .* > 0"),
    (dict(degrees_of_freedom_prior=0.0), ValueError, "'degrees_of_freedom_prior' .* > 0"),
    (dict(degrees_of_freedom_prior=1.0), ValueError, "should be greater than 1"),
    (dict(covariance_prior=-1.0, covariance_type="spherical"), ValueError, "> 0"),
    (dict(mean_prior=[0.0, 0.0, 0.0]), ValueError, "mean_prior should have the shape"),
    (dict(mean_prior=[np.nan, 0.0]), ValueError, "mean_prior must contain only finite"),
    (dict(covariance_prior=np.eye(3)), ValueError, "covariance_prior should have the shape"),
    (dict(covariance_prior=[[1.0, 2.0], [2.0, 1.0]]), ValueError, "positive definite"),
    (dict(covariance_prior=[[1.0, 0.5], [0.0, 1.0]]), ValueError, "symmetric"),
    (dict(covariance_type="diag", covariance_prior=[1.0, -1.0]), ValueError, "positive"),
    (dict(covariance_type="diag", covariance_prior=[1.0]), ValueError, "shape"),
    (dict(batch_size=0), ValueError, "'batch_size' .* must be >= 1"),
    (dict(batch_size="big"), TypeError, "'batch_size'"),
    (dict(max_iter=-1), ValueError, "'max_iter' .* must be >= 0"),
    (dict(tol=-1.0), ValueError, "'tol'"),
    (dict(reg_covar=-1e-6), ValueError, "'reg_covar'"),
    (dict(learning_decay=0.5), ValueError, "'learning_decay' .* > 0.5"),
    (dict(learning_decay=1.5), ValueError, "'learning_decay' .* <= 1.0"),
    (dict(learning_offset=0.5), ValueError, "'learning_offset' .* >= 1.0"),
    (dict(n_init=0), ValueError, "'n_init'"),
]


@pytest.mark.parametrize("params,error,match", BAD_PARAMS, ids=[str(p[0]) for p in BAD_PARAMS])
def test_bad_parameters(fitted, params, error, match):
    before = _snapshot(fitted)
    gmm = VariationalGMM(n_components=3, random_state=0)
    gmm.__dict__.update(fitted.__dict__)
    gmm.set_params(**params)
    with pytest.raises(error, match=match):
        gmm.fit(X_GOOD)
    for a, b in zip(before, _snapshot(gmm)):
        np.testing.assert_array_equal(a, b)


def test_failed_fit_leaves_unfitted_estimator_unfitted():
    gmm = VariationalGMM(degrees_of_freedom_prior=0.5)
    with pytest.raises(ValueError):
        gmm.fit(X_GOOD)
    assert not hasattr(gmm, "n_features_in_") and not hasattr(gmm, "means_")
    with pytest.raises(NotFittedError):
        gmm.predict(X_GOOD)


@pytest.mark.parametrize(
    "weights,match",
    [
        (-np.ones(600), "non-negative"),
        (np.ones(599), "expected \\(600,\\)"),
        (np.zeros(600), "sums to zero"),
        (np.r_[np.nan, np.ones(599)], "finite"),
    ],
)
def test_bad_sample_weight(fitted, weights, match):
    before = _snapshot(fitted)
    gmm = VariationalGMM(n_components=3, random_state=0)
    gmm.__dict__.update(fitted.__dict__)
    with pytest.raises(ValueError, match=match):
        gmm.fit(X_GOOD, sample_weight=weights)
    for a, b in zip(before, _snapshot(gmm)):
        np.testing.assert_array_equal(a, b)


def test_dataframe_column_names_checked():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X_GOOD, columns=["a", "b"])
    gmm = VariationalGMM(n_components=3, random_state=0).fit(df)
    np.testing.assert_array_equal(gmm.feature_names_in_, ["a", "b"])
    with pytest.raises(ValueError, match="feature names"):
        gmm.predict(df.rename(columns={"b": "c"}))


def test_sample_rejects_bad_counts(fitted):
    with pytest.raises(ValueError, match="at least one sample"):
        fitted.sample(0)
    with pytest.raises(TypeError):
        fitted.sample(2.5)


def test_unfitted_methods_raise():
    gmm = VariationalGMM()
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(NotFittedError):
            getattr(gmm, method)(X_GOOD)
    with pytest.raises(NotFittedError):
        gmm.sample(3)
