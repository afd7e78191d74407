"""The public docstrings pass numpydoc validation; the examples run; the CLI behaves."""

import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = [
    "skbgmm.VariationalGMM",
    "skbgmm.VariationalGMM.fit",
    "skbgmm.VariationalGMM.partial_fit",
    "skbgmm.VariationalGMM.fit_predict",
    "skbgmm.VariationalGMM.predict",
    "skbgmm.VariationalGMM.predict_proba",
    "skbgmm.VariationalGMM.score_samples",
    "skbgmm.VariationalGMM.score",
    "skbgmm.VariationalGMM.sample",
    "skbgmm.VariationalGMM.summary",
    "skbgmm.VariationalGMM.posterior_distributions",
    "skbgmm.VariationalGMM.sample_posterior",
    "skbgmm.VariationalGMM.predictive_distribution",
    "skbgmm.VariationalGMM.export_saved_model",
    "skbgmm.VariationalGMM.condition",
    "skbgmm.VariationalGMM.impute",
    "skbgmm.GMMImputer",
    "skbgmm.GMMImputer.fit",
    "skbgmm.GMMImputer.transform",
    "skbgmm.GMMRegressor",
    "skbgmm.GMMRegressor.fit",
    "skbgmm.GMMRegressor.predict",
    "skbgmm.GMMRegressor.predict_distribution",
    "skbgmm.ConditionalPredictive",
    "skbgmm.ConditionalPredictive.mean",
    "skbgmm.ConditionalPredictive.covariance",
    "skbgmm.ConditionalPredictive.quantile",
    "skbgmm.ConditionalPredictive.sample",
    "skbgmm.ConditionalPredictive.log_prob",
    "skbgmm.select_n_components",
    "skbgmm.save",
    "skbgmm.make_recipe_data",
    "skbgmm.load",
    "skbgmm.metrics.plugin_log_likelihood",
    "skbgmm.plotting.plot_density",
    "skbgmm.plotting.plot_std_posterior",
    "skbgmm.plotting.plot_mean_posterior",
]
# not enforced: extended summaries, See Also and Examples sections on every method
# RT02: scikit-learn names its returns ("self : object"), which numpydoc flags
IGNORED = {"ES01", "SA01", "EX01", "GL08", "RT02"}


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc_validation(name):
    result = numpydoc_validate.validate(name)
    errors = [(code, msg) for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, errors


def test_doctest_in_class_docstring():
    import doctest

    import skbgmm._estimator as mod

    failures, _ = doctest.testmod(mod, verbose=False)
    assert failures == 0
    import skbgmm._impute as impute

    failures, attempted = doctest.testmod(impute, verbose=False)
    assert failures == 0 and attempted > 0


def test_docs_build_needs_no_network():
    # intersphinx reads inventories shipped with the docs, and MathJax is served with them
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    for name, (url, inventory) in conf["intersphinx_mapping"].items():
        assert url.startswith("https://")
        assert os.path.isfile(inventory), (name, inventory)
    assert "sphinx-mathjax-offline" in conf["extensions"]


EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SKBGMM_EXAMPLES_QUICK", "1")
    runpy.run_path(str(path), run_name="__main__")
    assert plt.get_fignums(), "the example drew no figure"
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "skbgmm", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_help_is_fast_and_imports_no_tensorflow(tmp_path):
    t0 = time.perf_counter()
    out = _cli("--help", cwd=tmp_path)
    assert out.returncode == 0 and "demo" in out.stdout and "predict" in out.stdout
    assert time.perf_counter() - t0 < 2.0  # the interpreter start dominates
    code = (
        "import sys, skbgmm.__main__ as m\n"
        "try:\n m.main(['--help'])\nexcept SystemExit: pass\n"
        "print('tensorflow' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_fit_predict_score_round_trip(tmp_path):
    from skbgmm._data import make_recipe_data

    X, _ = make_recipe_data(600)
    csv = tmp_path / "data.csv"
    np.savetxt(csv, X, delimiter=",", header="a,b", comments="")
    model = tmp_path / "model.joblib"
    out = _cli(
        "fit",
        str(csv),
        "--n-components",
        "3",
        "--random-state",
        "0",
        "--model",
        str(model),
        "--json",
        str(tmp_path / "post.json"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert model.exists() and (tmp_path / "post.json").exists()
    assert "interval of mean" in out.stdout
    np.save(tmp_path / "data.npy", X)
    out = _cli(
        "predict",
        str(model),
        str(tmp_path / "data.npy"),
        "--out",
        str(tmp_path / "labels.csv"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    labels = np.loadtxt(tmp_path / "labels.csv", dtype=int)
    assert labels.shape == (600,) and set(labels) == {0, 1, 2}
    out = _cli(
        "predict", str(model), str(csv), "--proba", "--out", str(tmp_path / "p.npy"), cwd=tmp_path
    )
    assert out.returncode == 0 and np.allclose(np.load(tmp_path / "p.npy").sum(1), 1)
    out = _cli("score", str(model), str(csv), cwd=tmp_path)
    assert out.returncode == 0 and -5 < float(out.stdout.strip()) < -3


@pytest.mark.parametrize(
    "content,args,message",
    [
        (
            "a,b\n1,2\n3,x\n",
            ["fit", "{f}", "--n-components", "2", "--model", "{o}"],
            "non-numeric cell 'x'",
        ),
        ("1,2\n3\n", ["fit", "{f}", "--n-components", "2", "--model", "{o}"], "has 1 columns"),
        ("", ["fit", "{f}", "--n-components", "2", "--model", "{o}"], "no rows"),
        (
            "1,2\n3,4\n",
            ["fit", "{f}", "--n-components", "5", "--model", "{o}"],
            "n_samples >= n_components",
        ),
        ("1,2\n3,4\n", ["predict", "{f}", "{f}", "--out", "{o}"], "not a model file"),
        (
            "1,2\n3,4\n",
            ["fit", "missing.csv", "--n-components", "2", "--model", "{o}"],
            "no such file",
        ),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, content, args, message):
    f = tmp_path / "in.csv"
    f.write_text(content)
    o = tmp_path / "out.bin"
    out = _cli(*[a.format(f=f, o=o) for a in args], cwd=tmp_path)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("skbgmm")]
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not o.exists()
    assert not list(tmp_path.glob(".skbgmm-*"))


def test_cli_rejects_a_pickle_that_is_not_a_model(tmp_path):
    import joblib

    joblib.dump({"not": "a model"}, tmp_path / "m.joblib")
    np.savetxt(tmp_path / "d.csv", np.ones((3, 2)), delimiter=",")
    # refused unread: a pickle can run code when it is loaded
    out = _cli("score", str(tmp_path / "m.joblib"), str(tmp_path / "d.csv"), cwd=tmp_path)
    assert out.returncode == 2 and "--trust-pickle" in out.stderr
    # read when the user says they trust it, and still checked
    out = _cli(
        "score", str(tmp_path / "m.joblib"), str(tmp_path / "d.csv"), "--trust-pickle", cwd=tmp_path
    )
    assert out.returncode == 2 and "not a VariationalGMM" in out.stderr


def test_cli_parquet_and_width_mismatch(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from skbgmm._data import make_recipe_data

    X, _ = make_recipe_data(300)
    pd.DataFrame(X, columns=["a", "b"]).to_parquet(tmp_path / "d.parquet")
    model = tmp_path / "m.joblib"
    out = _cli(
        "fit",
        str(tmp_path / "d.parquet"),
        "--n-components",
        "3",
        "--model",
        str(model),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    pd.DataFrame({"a": ["x"] * 3, "b": [1.0] * 3}).to_parquet(tmp_path / "bad.parquet")
    out = _cli("score", str(model), str(tmp_path / "bad.parquet"), cwd=tmp_path)
    assert out.returncode == 2 and "non-numeric column" in out.stderr
    np.savetxt(tmp_path / "wide.csv", np.ones((4, 3)), delimiter=",")
    out = _cli(
        "predict",
        str(model),
        str(tmp_path / "wide.csv"),
        "--out",
        str(tmp_path / "o.csv"),
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "has 3 columns but the model was fitted on 2" in out.stderr
    assert not (tmp_path / "o.csv").exists()
