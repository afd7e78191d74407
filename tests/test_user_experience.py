"""What a user sees: a quiet fit, readable summaries, plain progress lines in logs."""

import os
import subprocess
import sys

import numpy as np
import pytest

from skbgmm import VariationalGMM
from skbgmm._data import make_recipe_data

FIT = """
import warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from skbgmm import VariationalGMM
warnings.simplefilter('ignore', ConvergenceWarning)
X = np.random.RandomState(0).randn(300, 2)
for kw in [dict(), dict(covariance_type='tied'), dict(covariance_type='diag', inference='gradient',
           max_iter=3)]:
    m = VariationalGMM(n_components=3, random_state=0, **kw).fit(X)
    m.predict(X); m.score_samples(X); m.sample(3); m.summary(); m.posterior_distributions()
VariationalGMM(n_components=3, random_state=0).partial_fit(X).partial_fit(X)
m.predictive_distribution().sample(5, seed=1)
holes = X.copy(); holes[::3, 1] = np.nan
m = VariationalGMM(n_components=3, random_state=0).fit(holes)
m.condition(X[:4, :1], given=[0]).sample(2, random_state=0); m.impute(holes)
print('done')
"""


def _fresh(code, **env):
    base = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SKBGMM_TF_LOGS")
    }
    return subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        env={**base, **env},
    )


def test_a_fit_in_a_fresh_process_writes_nothing_on_stderr():
    out = _fresh(FIT)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr
    assert out.stderr == "", out.stderr
    # a user who asks for TensorFlow's logs gets them
    out = _fresh("from skbgmm._svi import _tf", TF_CPP_MIN_LOG_LEVEL="0")
    assert out.returncode == 0 and out.stderr.strip()


def test_a_fit_and_its_predictions_do_not_import_tensorflow_probability():
    # TFP costs 0.7 s to import: only the posterior as distributions, sampling and the
    # gradient engine need it, and they import it when first used (quietly, with the rest);
    # predictive densities, of complete rows and of partially observed ones, are our own maths,
    # and the summary's intervals SciPy's quantiles
    code = """
import sys
import numpy as np
from skbgmm import VariationalGMM
X = np.random.RandomState(0).randn(300, 2)
X_missing = X.copy(); X_missing[::3, 0] = np.nan
for cov in ['full', 'tied', 'diag', 'spherical']:
    m = VariationalGMM(n_components=3, covariance_type=cov, random_state=0).fit(X)
    m.predict(X); m.predict_proba(X); m.partial_fit(X)
    m.score_samples(X); m.score(X); m.score_samples(X_missing); m.summary()
print('tfp' if 'tensorflow_probability' in sys.modules else 'no tfp')
m.posterior_distributions()
print('tfp' if 'tensorflow_probability' in sys.modules else 'no tfp')
"""
    out = _fresh(code)
    assert out.returncode == 0 and out.stdout.split() == ["no", "tfp", "tfp"], out.stderr
    assert out.stderr == "", out.stderr


def test_summary_shows_effective_components_and_says_what_it_left_out():
    X, _ = make_recipe_data()
    gmm = VariationalGMM(n_components=6, random_state=0).fit(X)
    s = gmm.summary()
    assert list(s.components) == [0, 1, 2] and s.n_left_out == 3
    assert repr(s) == str(s) and "3 components with weight < 0.01 not shown" in repr(s)
    html = s._repr_html_()
    assert html.startswith("<table") and html.count("<tr>") == 1 + 6 and "not shown" in html
    full = gmm.summary(all_components=True)
    assert full.n_left_out == 0 and full.weight.shape == (6,) and "not shown" not in str(full)
    pd = pytest.importorskip("pandas")
    frame = s.to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.shape == (6, 7)
    np.testing.assert_allclose(frame.loc[(0, "x0"), "mean"], gmm.means_[0, 0])
    with pytest.raises(TypeError, match="all_components"):
        gmm.summary(all_components="yes")


def test_repr_shows_the_parameters_a_user_set():
    assert repr(VariationalGMM(n_components=3)) == "VariationalGMM(n_components=3)"
