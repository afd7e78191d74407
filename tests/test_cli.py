"""The command line as a user meets it: real CSVs, names kept, one-line errors, safe outputs."""

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from skbgmm._data import make_recipe_data


def _cli(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "skbgmm", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def _one_line_error(out, message):
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("skbgmm")]
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A model fitted by the CLI on a CSV with a header (and its data)."""
    tmp = tmp_path_factory.mktemp("cli")
    X, _ = make_recipe_data(300)
    csv = tmp / "named.csv"
    np.savetxt(csv, X, delimiter=",", header="height,width", comments="")
    out = _cli(
        "fit", csv, "--n-components", 3, "--random-state", 0, "--model", tmp / "m.bin", cwd=tmp
    )
    assert out.returncode == 0, out.stderr
    return tmp, X, csv


def test_excel_csv_with_bom_keeps_every_row(tmp_path):
    X, _ = make_recipe_data(200)
    text = "\n".join(",".join(f"{v:.6f}" for v in row) for row in X)
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    out = _cli(
        "fit", "excel.csv", "--n-components", 3, "--random-state", 0, "--model", "m", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    out = _cli("predict", "m", "excel.csv", "--out", "labels.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert np.loadtxt(tmp_path / "labels.csv").shape == (200,)  # not 199


def test_column_names_are_kept_and_checked(fitted):
    tmp, X, csv = fitted
    import skbgmm

    model = skbgmm.load(tmp / "m.bin")  # the CLI writes a model file whatever the name
    assert list(model.feature_names_in_) == ["height", "width"]
    out = _cli("predict", tmp / "m.bin", csv, "--out", tmp / "l.csv", cwd=tmp)
    assert out.returncode == 0 and "Warning" not in out.stderr, out.stderr
    np.savetxt(tmp / "other.csv", X, delimiter=",", header="width,height", comments="")
    _one_line_error(_cli("score", tmp / "m.bin", tmp / "other.csv", cwd=tmp), "do not match")
    # a headerless file of the right width is read by position
    np.savetxt(tmp / "plain.csv", X, delimiter=",")
    assert _cli("score", tmp / "m.bin", tmp / "plain.csv", cwd=tmp).returncode == 0


def test_pandas_index_column_is_not_a_feature(tmp_path):
    pd = pytest.importorskip("pandas")
    X, _ = make_recipe_data(150)
    pd.DataFrame(X, columns=["a", "b"]).to_csv(tmp_path / "frame.csv")  # index written
    out = _cli(
        "fit", "frame.csv", "--n-components", 3, "--random-state", 0, "--model", "m", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    import skbgmm

    assert skbgmm.load(tmp_path / "m").n_features_in_ == 2


@pytest.mark.parametrize("cell,message", [("inf", "infinity"), ("-inf", "infinity")])
def test_non_finite_cells_are_one_line_errors(fitted, cell, message):
    tmp, X, _ = fitted
    (tmp / "bad.csv").write_text(f"height,width\n1,2\n{cell},3\n")
    _one_line_error(_cli("score", tmp / "m.bin", tmp / "bad.csv", cwd=tmp), message)
    out = _cli("predict", tmp / "m.bin", tmp / "bad.csv", "--out", tmp / "o.csv", cwd=tmp)
    _one_line_error(out, message)
    assert not (tmp / "o.csv").exists()


def test_outputs_checked_before_fitting_and_written_with_umask(fitted, tmp_path):
    tmp, X, csv = fitted
    _one_line_error(
        _cli("fit", csv, "--n-components", 3, "--model", tmp_path / "missing" / "m", cwd=tmp_path),
        "does not exist",
    )
    (tmp_path / "adir").mkdir()
    _one_line_error(
        _cli("fit", csv, "--n-components", 3, "--model", tmp_path / "adir", cwd=tmp_path),
        "is a folder",
    )
    # --json into a folder that does not exist: refused up front, no model left behind
    out = _cli(
        "fit",
        csv,
        "--n-components",
        3,
        "--model",
        tmp_path / "m",
        "--json",
        tmp_path / "no" / "p.json",
        cwd=tmp_path,
    )
    _one_line_error(out, "does not exist")
    assert not (tmp_path / "m").exists()
    out = _cli("predict", tmp / "m.bin", csv, "--out", tmp_path / "labels.csv", cwd=tmp_path)
    assert out.returncode == 0
    mode = stat.S_IMODE(os.stat(tmp_path / "labels.csv").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


@pytest.mark.parametrize("n", ["1", "-5"])
def test_demo_bad_sizes_are_one_line_errors(tmp_path, n):
    _one_line_error(_cli("demo", "--n-samples", n, cwd=tmp_path), "--n-samples")


def test_version_and_help_for_every_fit_option(tmp_path):
    from skbgmm import __version__

    out = _cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and __version__ in out.stdout
    out = _cli("fit", "--help", cwd=tmp_path)
    for option in ["--n-components", "--max-iter", "--random-state", "--batch-size", "--model"]:
        line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith(option))
        block = out.stdout[out.stdout.index(line) :].split("\n  -")[0]
        assert len(block.split()) > 3, f"{option} has no help: {block!r}"


@pytest.mark.parametrize("cell", ["nan", "", "NaN"])
def test_missing_cells_are_missing_values(fitted, cell):
    # an empty or NaN cell is a missing entry: scored from the row's observed entries
    tmp, X, _ = fitted
    (tmp / "gaps.csv").write_text(f"height,width\n1,2\n{cell},3\n")
    out = _cli("score", tmp / "m.bin", tmp / "gaps.csv", cwd=tmp)
    assert out.returncode == 0, out.stderr
    out = _cli("predict", tmp / "m.bin", tmp / "gaps.csv", "--out", tmp / "o.csv", cwd=tmp)
    assert out.returncode == 0, out.stderr
    assert len((tmp / "o.csv").read_text().strip().splitlines()) >= 2


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_impute_fills_missing_cells_and_keeps_the_header(fitted):
    import skbgmm

    tmp, X, _ = fitted
    rows = X[:6].copy()
    lines = [f"{a:.17g},{'' if i % 2 else format(b, '.17g')}" for i, (a, b) in enumerate(rows)]
    (tmp / "gaps2.csv").write_text("height,width\n" + "\n".join(lines) + "\n")
    out = _cli("impute", tmp / "m.bin", tmp / "gaps2.csv", "--out", tmp / "filled.csv", cwd=tmp)
    assert out.returncode == 0, out.stderr
    text = (tmp / "filled.csv").read_text().splitlines()
    assert text[0] == "height,width"
    filled = np.loadtxt(tmp / "filled.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(filled[:, 0], rows[:, 0])
    np.testing.assert_allclose(filled[::2, 1], rows[::2, 1])
    holes = rows.copy()
    holes[1::2, 1] = np.nan
    expected = skbgmm.load(tmp / "m.bin").impute(holes)
    np.testing.assert_allclose(filled, expected, rtol=1e-9)
    draw = _cli(
        "impute",
        tmp / "m.bin",
        tmp / "gaps2.csv",
        "--out",
        tmp / "d.npy",
        "--draw",
        "--random-state",
        0,
        cwd=tmp,
    )
    assert draw.returncode == 0, draw.stderr
    drawn = np.load(tmp / "d.npy")
    assert not np.isnan(drawn).any() and not np.allclose(drawn[1::2, 1], expected[1::2, 1])
    _one_line_error(
        _cli("impute", tmp / "m.bin", tmp / "gaps2.csv", "--out", tmp / "no" / "x.csv", cwd=tmp),
        "does not exist",
    )


def _imported_modules(stderr):
    # `python -X importtime` writes "import time: self | cumulative | name" per module
    return {ln.rsplit("|", 1)[1].strip() for ln in stderr.splitlines() if "import time:" in ln}


def test_commands_import_neither_keras_nor_tensorflow_probability(fitted):
    # the CLI's process runs only skbgmm: TensorFlow's import skips Keras's eager import
    # (~0.8 s), and no command here needs TFP (the fit's summary uses SciPy's quantiles)
    tmp, _, csv = fitted
    commands = [
        ("fit", csv, "--n-components", 2, "--max-iter", 20, "--model", tmp / "k.bin"),
        ("predict", tmp / "m.bin", csv, "--out", tmp / "k.csv"),
        ("score", tmp / "m.bin", csv),
    ]
    for args in commands:
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "skbgmm", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp,
            # (with TensorFlow's logs asked for, its import's stderr is not captured)
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SKBGMM_TF_LOGS": "1"},
        )
        assert out.returncode == 0, out.stderr[-2000:]
        modules = _imported_modules(out.stderr)
        assert "tensorflow" in modules, args[0]
        assert not [m for m in modules if m.split(".")[0] in ("keras", "tensorflow_probability")]


def test_keras_deferral_leaves_tf_keras_working_and_users_processes_alone():
    code = """
import sys
from skbgmm._svi import _keras_deferral
if sys.argv[1] == 'cli':
    _keras_deferral.defer()
from skbgmm._svi._tf import tf
print('keras' in sys.modules)
layer = tf.keras.layers.Dense(2)
print(layer(tf.ones([1, 3])).shape, 'keras' in sys.modules)
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    plain = "import sys, tensorflow; print('keras' in sys.modules)"  # (TensorFlow's own habit)
    out = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, env=env)
    users = out.stdout.strip()
    assert out.returncode == 0 and users in ("True", "False"), out.stderr[-2000:]
    for mode, first in (("cli", "False"), ("user", users)):
        out = subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == [first, "(1,", "2)", "True"], (mode, out.stdout)


def test_fit_tells_what_the_fit_warns_of(tmp_path):
    # the CLI's fit passes the estimator's warnings on as one line each: here reg_covar on data
    # in tiny units (the default blurs their clusters into one), and a fit cut short
    X, _ = make_recipe_data(300)
    csv = tmp_path / "tiny.csv"
    np.savetxt(csv, X * 1e-9, delimiter=",", header="a,b", comments="")
    out = _cli("fit", csv, "--n-components", 3, "--model", tmp_path / "m.npz", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("skbgmm fit: warning:")]
    assert len(lines) == 1 and "reg_covar=1e-06 is at least 10% of the variance" in lines[0]
    out = _cli(
        "fit",
        csv.parent / "tiny.csv",
        "--n-components",
        3,
        "--max-iter",
        1,
        "--model",
        tmp_path / "m2.npz",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "skbgmm fit: warning: Best performing initialization did not converge" in out.stderr
    assert "Traceback" not in out.stderr and "feature names" not in out.stderr
