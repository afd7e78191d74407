"""Build the robustness table of docs/robustness.rst: bad and hard inputs, BGMM against skbgmm.

    python benchmarks/robustness_table.py > docs/_robustness_table.rst

For each input, both estimators are fitted with default parameters (and ``n_components`` as
listed); a fitted model of each is then given the bad call, and the table records what happened:
the exception and the start of its message, or whether the outputs were finite, and whether the
previously fitted model still predicts exactly as before.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from sklearn.mixture import BayesianGaussianMixture  # noqa: E402

from skbgmm import VariationalGMM  # noqa: E402
from skbgmm._data import make_recipe_data  # noqa: E402

rng = np.random.RandomState(0)
GOOD, _ = make_recipe_data(600)
base = np.r_[rng.randn(100, 3), rng.randn(100, 3) + 6]


def nan_x():
    x = GOOD.copy()
    x[3, 1] = np.nan
    return x


BAD_FIT = [
    ("NaN in X", dict(), lambda: nan_x()),
    ("inf in X", dict(), lambda: GOOD * np.inf),
    ("empty X", dict(), lambda: np.empty((0, 2))),
    ("one sample", dict(), lambda: GOOD[:1]),
    ("fewer samples than components", dict(n_components=5), lambda: GOOD[:3]),
    ("1-D X", dict(), lambda: GOOD[:, 0]),
    ("3-D X", dict(), lambda: GOOD[None]),
    ("strings", dict(), lambda: np.array([["a", "b"]] * 10)),
    ("complex X", dict(), lambda: GOOD + 1j),
    ("sparse X", dict(), lambda: sp.csr_matrix(GOOD)),
    ("weight_concentration_prior=0", dict(weight_concentration_prior=0.0), lambda: GOOD),
    ("mean_precision_prior=-1", dict(mean_precision_prior=-1.0), lambda: GOOD),
    ("degrees_of_freedom_prior=1 (<= D-1)", dict(degrees_of_freedom_prior=1.0), lambda: GOOD),
    ("mean_prior of wrong shape", dict(mean_prior=[0.0, 0.0, 0.0]), lambda: GOOD),
    ("covariance_prior of wrong shape", dict(covariance_prior=np.eye(3)), lambda: GOOD),
    (
        "covariance_prior not positive definite",
        dict(covariance_prior=[[1.0, 2.0], [2.0, 1.0]]),
        lambda: GOOD,
    ),
    ("covariance_type='banana'", dict(covariance_type="banana"), lambda: GOOD),
    ("init_params='kmeanz'", dict(init_params="kmeanz"), lambda: GOOD),
    (
        "weight_concentration_prior_type='dp'",
        dict(weight_concentration_prior_type="dp"),
        lambda: GOOD,
    ),
    ("n_components=0", dict(n_components=0), lambda: GOOD),
    ("max_iter=0", dict(max_iter=0), lambda: GOOD),
]
HARD = [
    ("duplicated points", 2, lambda: np.repeat(base, 3, axis=0)),
    ("all points identical", 2, lambda: np.ones((50, 3))),
    ("a constant feature", 2, lambda: np.c_[base[:, :2], np.full(200, 3.0)]),
    ("features on scales 1e-6 to 1e6", 2, lambda: base * [1e-6, 1.0, 1e6]),
    ("data offset by 1e6", 2, lambda: base + 1e6),
    (
        "nearly collinear features",
        2,
        lambda: rng.randn(200, 1) @ [[1.0, 2.0, -1.0]] + 1e-7 * rng.randn(200, 3),
    ),
    (
        "clusters of a single point",
        3,
        lambda: np.r_[rng.randn(150, 2), [[40.0, 40.0]], [[-40.0, 35.0]]],
    ),
    (
        "float32, strongly correlated",
        2,
        lambda: (rng.randn(300, 3) @ [[1, 0.999, 0.998], [0, 0.045, 0.01], [0, 0, 0.03]]).astype(
            np.float32
        ),
    ),
    ("n_components far above what the data support", 25, lambda: base[:30]),
]


def outcome(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - recording behaviour
        msg = str(exc).replace("\n", " ")
        msg = msg if len(msg) < 70 else msg[:67] + "..."
        return f"{type(exc).__name__}: {msg}", None


def bad_row(name, params, make):
    cells = []
    for cls in (BayesianGaussianMixture, VariationalGMM):
        fitted = cls(n_components=3, random_state=0).fit(GOOD)
        before = fitted.predict_proba(GOOD[:20]).copy()
        fitted.set_params(**{k: v for k, v in params.items()})
        status, _ = outcome(lambda fitted=fitted: fitted.fit(make()))
        try:
            same = np.array_equal(fitted.predict_proba(GOOD[:20]), before)
        except Exception:  # noqa: BLE001
            same = False
        if status == "ok":
            finite = all(
                np.all(np.isfinite(np.asarray(getattr(fitted, a))))
                for a in ("means_", "covariances_")
            )
            status = "fits" + ("" if finite else ", non-finite attributes")
            cells.append(status)
        else:
            cells.append(f"{status} (fitted model {'kept' if same else 'changed'})")
    return name, cells


def hard_row(name, k, make):
    X = make()
    cells = []
    for cls in (BayesianGaussianMixture, VariationalGMM):
        status, est = outcome(lambda cls=cls: cls(n_components=k, random_state=0).fit(X))
        if status == "ok":
            vals = [np.asarray(getattr(est, a)) for a in ("weights_", "means_", "covariances_")]
            vals.append(est.score_samples(X))
            finite = all(np.all(np.isfinite(v)) for v in vals)
            status = "finite fit" if finite else "NaN or inf in the output"
        cells.append(status)
    return name, cells


def table(title, rows):
    w0 = max(len(r[0]) for r in rows + [("input", 0)])
    w1 = max(len(r[1][0]) for r in rows + [("", ["BayesianGaussianMixture", ""])])
    w2 = max(len(r[1][1]) for r in rows + [("", ["", "VariationalGMM"])])
    line = f"{'=' * w0} {'=' * w1} {'=' * w2}"
    out = [
        title,
        "-" * len(title),
        "",
        line,
        f"{'input':<{w0}} {'BayesianGaussianMixture':<{w1}} {'VariationalGMM':<{w2}}",
        line,
    ]
    for name, (a, b) in rows:
        out.append(f"{name:<{w0}} {a:<{w1}} {b:<{w2}}")
    out += [line, ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(table("Bad input", [bad_row(*r) for r in BAD_FIT]))
    print(table("Hard data", [hard_row(*r) for r in HARD]))
