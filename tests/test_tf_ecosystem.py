"""The TensorFlow side: the predictive as a TFP distribution, and a SavedModel for serving."""

import os
import subprocess
import sys

import numpy as np
import pytest

from skbgmm import VariationalGMM
from skbgmm._data import make_recipe_data

COV_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def data():
    return make_recipe_data(900)[0]


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_predictive_distribution_is_score_samples_and_sample(data, covariance_type):
    gmm = VariationalGMM(n_components=4, covariance_type=covariance_type, random_state=0)
    gmm.fit(data)
    dist = gmm.predictive_distribution()
    np.testing.assert_allclose(dist.log_prob(data).numpy(), gmm.score_samples(data), rtol=1e-12)
    draws = dist.sample(20000, seed=3).numpy()
    ours, _ = gmm.sample(20000)
    # the same law: means within 5 standard errors, and the same spread to 5%
    se = draws.std(0) / np.sqrt(20000)
    assert np.all(np.abs(draws.mean(0) - ours.mean(0)) < 5 * np.sqrt(2) * se)
    np.testing.assert_allclose(draws.std(0), ours.std(0), rtol=0.05)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_saved_model_reloads_without_skbgmm(data, covariance_type, tmp_path):
    gmm = VariationalGMM(n_components=4, covariance_type=covariance_type, random_state=0)
    gmm.fit(data + 1e8)  # far from the origin, like a timestamp column
    gmm.export_saved_model(tmp_path / "served")
    X = data[:200] + 1e8
    np.save(tmp_path / "X.npy", X)
    holes = X.copy()
    holes[::3, 1] = np.nan  # rows with a missing entry: answered from the observed ones
    np.save(tmp_path / "H.npy", holes)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({str(tmp_path / 'served')!r})\n"
        f"X = tf.constant(np.load({str(tmp_path / 'X.npy')!r}))\n"
        f"np.save({str(tmp_path / 's.npy')!r}, m.score_samples(X).numpy())\n"
        "proba = m.signatures['predict_proba'](X=X)['output_0']\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, proba.numpy())\n"
        f"np.save({str(tmp_path / 'l.npy')!r}, m.predict(X).numpy())\n"
        f"H = tf.constant(np.load({str(tmp_path / 'H.npy')!r}))\n"
        f"np.save({str(tmp_path / 'hs.npy')!r}, m.score_samples(H).numpy())\n"
        f"np.save({str(tmp_path / 'hp.npy')!r}, m.predict_proba(H).numpy())\n"
        "assert not any(k.startswith('skbgmm') for k in sys.modules), 'skbgmm was imported'\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), gmm.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(np.load(tmp_path / "hs.npy"), gmm.score_samples(holes), rtol=1e-10)
    np.testing.assert_allclose(
        np.load(tmp_path / "hp.npy"), gmm.predict_proba(holes), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), gmm.predict_proba(X), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), gmm.predict(X))
