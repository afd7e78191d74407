"""Model files that hold only data: exact round trips, refused pickles, rejected bad files."""

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import skbgmm
from skbgmm import VariationalGMM
from skbgmm._data import make_recipe_data

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]
FIXTURE = os.path.join(os.path.dirname(__file__), "data", "model_v1.npz")


@pytest.fixture(scope="module")
def data():
    X, _ = make_recipe_data(900)
    return X[np.random.RandomState(0).permutation(900)]


def _round_trip(model):
    buf = io.BytesIO()
    skbgmm.save(model, buf)
    buf.seek(0)
    return skbgmm.load(buf)


def _fitted(how, covariance_type, prior, X):
    kw = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior,
        random_state=0,
    )
    if how == "fit":
        return VariationalGMM(**kw).fit(X)
    if how == "partial_fit":
        model = VariationalGMM(**kw)
        for i in range(0, 600, 200):
            model.partial_fit(X[i : i + 200])
        return model
    return VariationalGMM(inference="gradient", max_iter=5, **kw).fit(X)


@pytest.mark.parametrize("how", ["fit", "partial_fit", "gradient"])
@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_round_trip_is_exact(how, prior, covariance_type, data):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _fitted(how, covariance_type, prior, data)
    copy = _round_trip(model)
    assert copy.get_params() == model.get_params()
    np.testing.assert_array_equal(copy.predict_proba(data), model.predict_proba(data))
    np.testing.assert_array_equal(copy.score_samples(data), model.score_samples(data))
    np.testing.assert_array_equal(copy.sample(7)[0], model.sample(7)[0])
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_"]:
        np.testing.assert_array_equal(getattr(copy, name), getattr(model, name))
    if how != "gradient":
        # continuing the copy is continuing the original
        model.partial_fit(data[600:])
        copy.partial_fit(data[600:])
        np.testing.assert_array_equal(copy.means_, model.means_)
        np.testing.assert_array_equal(copy.weights_, model.weights_)


def test_random_state_instance_and_feature_names_survive(data):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data, columns=["x", "y"])
    model = VariationalGMM(n_components=3, random_state=np.random.RandomState(5)).fit(frame)
    copy = _round_trip(model)
    assert list(copy.feature_names_in_) == ["x", "y"]
    np.testing.assert_array_equal(copy.sample(9)[0], model.sample(9)[0])
    unfitted = _round_trip(VariationalGMM(n_components=2, mean_prior=[1.0, 2.0]))
    np.testing.assert_array_equal(unfitted.mean_prior, [1.0, 2.0])
    assert not hasattr(unfitted, "means_")


def _archive(model):
    buf = io.BytesIO()
    skbgmm.save(model, buf)
    with np.load(io.BytesIO(buf.getvalue())) as z:
        return {k: z[k] for k in z.files}


def _write(arrays, path):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _header(arrays):
    return json.loads(arrays["header"].tobytes())


def _with_header(arrays, header):
    out = dict(arrays)
    out["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return out


@pytest.fixture(scope="module")
def model(data):
    return VariationalGMM(n_components=3, random_state=0).fit(data)


def test_bad_files_are_rejected_with_a_clear_error(model, tmp_path):
    good = _archive(model)
    cases = {}
    cases["truncated"] = None
    tampered = dict(good)
    tampered["attr/precisions_cholesky_"] = good["attr/precisions_cholesky_"] * 1.5
    cases["tampered precisions"] = (tampered, "do not match")
    nan = dict(good)
    nan["attr/means_"] = good["attr/means_"].copy()
    nan["attr/means_"][0, 0] = np.nan
    cases["NaN mean"] = (nan, "NaN")
    wrong = dict(good)
    wrong["attr/means_"] = good["attr/means_"][:, :1]
    cases["wrong shape"] = (wrong, "shape")
    weights = dict(good)
    weights["attr/weights_"] = good["attr/weights_"][::-1].copy()
    cases["weights"] = (weights, "weights_")
    h = _header(good)
    cases["future version"] = (_with_header(good, {**h, "format_version": 99}), "upgrade")
    cases["not ours"] = (_with_header(good, {**h, "format": "other"}), "format name")
    missing = dict(good)
    del missing["attr/covariances_"]
    cases["missing array"] = (missing, "lacks")
    bad_param = _with_header(good, {**h, "params": {**h["params"], "n_components": -1}})
    cases["bad parameter"] = (bad_param, "bad parameters")
    for name, case in cases.items():
        path = tmp_path / f"{name}.npz"
        if case is None:
            skbgmm.save(model, path)
            path.write_bytes(path.read_bytes()[:-400])
            match = "not a readable"
        else:
            _write(case[0], path)
            match = case[1]
        with pytest.raises(ValueError, match=match):
            skbgmm.load(path)


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    path = tmp_path / "model.joblib"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match="pickle"):
        skbgmm.load(path)
    assert not marker.exists()
    np.savetxt(tmp_path / "d.csv", np.ones((3, 2)), delimiter=",")
    for command in (["score"], ["predict", "--out", str(tmp_path / "o.csv")]):
        out = subprocess.run(
            [sys.executable, "-m", "skbgmm", command[0], str(path), str(tmp_path / "d.csv")]
            + command[1:],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert out.returncode == 2 and "--trust-pickle" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
        assert not marker.exists()
    assert not (tmp_path / "o.csv").exists()


def test_zip_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="header"):
        skbgmm.load(path)


def test_fixture_written_by_format_version_1_still_loads():
    # tests/data/model_v1.npz was written by skbgmm 0.1.0 (format version 1) with
    # tests/data/make_model_fixture.py; the expected outputs were recorded with it
    model = skbgmm.load(FIXTURE)
    expected = np.load(os.path.join(os.path.dirname(__file__), "data", "model_v1_expected.npz"))
    np.testing.assert_allclose(model.score_samples(expected["X"]), expected["score"], rtol=1e-10)
    np.testing.assert_array_equal(model.predict(expected["X"]), expected["labels"])
    np.testing.assert_allclose(model.means_, expected["means"], rtol=1e-12)
