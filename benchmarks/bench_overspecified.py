"""A generous ``n_components`` on large data: the moves find the clusters (and how fast).

Run: ``python benchmarks/bench_overspecified.py N K CENTERS [bgmm]``: ``make_blobs(N + 20_000, 10,
centers=CENTERS, cluster_std=4, random_state=0)``, the first N rows fitted with ``n_components=K``
(one thread, after a small warm-up fit that traces), the last 20,000 held out; prints the time,
passes, moves, components with weight > 1e-3 and the held-out plug-in log-likelihood, and with
``bgmm`` the same for BayesianGaussianMixture in the same process. Use a fresh process per run
(``PYTHONPATH`` set to a checkout) to compare two versions.
"""

import sys
import time
import warnings

import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(1)  # (before skbgmm starts the runtime)
tf.config.threading.set_inter_op_parallelism_threads(1)

from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.mixture import BayesianGaussianMixture  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import skbgmm  # noqa: E402
from skbgmm.metrics import plugin_log_likelihood  # noqa: E402

warnings.simplefilter("ignore")
threadpool_limits(1)
n, k, centers = (int(a) for a in sys.argv[1:4])
X, _ = make_blobs(n + 20_000, 10, centers=centers, cluster_std=4.0, random_state=0)
X, Xt = X[:n], X[n:]
skbgmm.VariationalGMM(n_components=3, random_state=0).fit(X[:2000])
t = time.perf_counter()
g = skbgmm.VariationalGMM(n_components=k, random_state=0).fit(X)
print(
    f"skbgmm {time.perf_counter() - t:.2f} s passes {g.n_iter_} moves {g.n_moves_} "
    f"components {np.sum(g.weights_ > 1e-3)} held-out {plugin_log_likelihood(g, Xt).mean():.4f}"
)
if "bgmm" in sys.argv[4:]:
    t = time.perf_counter()
    b = BayesianGaussianMixture(n_components=k, random_state=0).fit(X)
    print(
        f"bgmm   {time.perf_counter() - t:.2f} s iterations {b.n_iter_} components "
        f"{np.sum(b.weights_ > 1e-3)} held-out {plugin_log_likelihood(b, Xt).mean():.4f}"
    )
