"""
Speed and held-out likelihood as the data grow
==============================================

VariationalGMM and scikit-learn's BayesianGaussianMixture fit the same model. Both are fitted
here on growing samples of ten overlapping clusters in ten dimensions and scored on the same
held-out points with one function, the plug-in mixture log-likelihood
(:func:`skbgmm.metrics.plugin_log_likelihood`). Beyond a few tens of thousands of points the
minibatch steps make VariationalGMM several times faster for the same held-out likelihood.
For the full benchmark see ``benchmarks/``.
"""

# %%
import os
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from skbgmm import VariationalGMM
from skbgmm.metrics import plugin_log_likelihood

quick = os.environ.get("SKBGMM_EXAMPLES_QUICK") == "1"
sizes = [1000, 4000] if quick else [2000, 10_000, 50_000, 200_000]
X_all, _ = make_blobs(
    n_samples=max(sizes) + 20_000, n_features=10, centers=10, cluster_std=4.0, random_state=0
)
X_test = X_all[-20_000:]
VariationalGMM(n_components=10).fit(X_all[:500])  # pay TensorFlow's start-up once

rows = []
for n in sizes:
    for name, cls in [
        ("VariationalGMM", VariationalGMM),
        ("BayesianGaussianMixture", BayesianGaussianMixture),
    ]:
        est = cls(n_components=10, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(X_all[:n])
            seconds = time.perf_counter() - t0
        rows.append((name, n, seconds, plugin_log_likelihood(est, X_test).mean()))
        print(f"{name:>24} n={n:>7} {seconds:7.2f} s  held-out ll {rows[-1][3]:.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for name in ("VariationalGMM", "BayesianGaussianMixture"):
    r = [row for row in rows if row[0] == name]
    axes[0].loglog([x[1] for x in r], [x[2] for x in r], "o-", label=name)
    axes[1].semilogx([x[1] for x in r], [x[3] for x in r], "o-", label=name)
axes[0].set_xlabel("training points")
axes[0].set_ylabel("fit time (s)")
axes[1].set_xlabel("training points")
axes[1].set_ylabel("held-out log-likelihood per point")
axes[0].legend()
fig.tight_layout()
plt.show()
