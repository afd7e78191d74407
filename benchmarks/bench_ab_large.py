"""Paired large-data timings: two checkouts of skbgmm on the 1M x 10, K=10 blobs, alternated.

Each run is a fresh process per checkout (one thread for BLAS and TensorFlow) that traces the
configuration (a whole fit on 60,000 rows, and a minibatch fit for the float32 step), then times
one fit of the first 1,000,000 rows of ``make_blobs(1_250_000, 10, centers=10, cluster_std=4,
random_state=0)`` and scores the other 250,000 with the plug-in log-likelihood. The checkouts
are alternated (old, new, then new, old, ...) and the medians compared.

    python benchmarks/bench_ab_large.py --old /path/to/old/checkout --cov full,diag --runs 3
    python benchmarks/bench_ab_large.py --old ../old --cold --bgmm --runs 2   # fresh processes

``--cold`` times what a user's first fit of a fresh process pays instead: the imports and the
fit, no warm-up (the data are made before the clock starts), and ``--bgmm`` adds one
BayesianGaussianMixture process per run.

A checkout is put first on ``PYTHONPATH`` of its processes, which run from a neutral directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from threadpoolctl import threadpool_limits
threadpool_limits(1)
from sklearn.datasets import make_blobs
from skbgmm import VariationalGMM
from skbgmm.metrics import plugin_log_likelihood
cov = sys.argv[1]
X, _ = make_blobs(1_250_000, 10, centers=10, cluster_std=4, random_state=0)
Xtr, Xte = X[:1_000_000], X[1_000_000:]
# (60,000 rows: several chunks, so the move rounds' planning call is traced as well; on
# fewer rows a round picks its candidates in its pass and never makes that call)
VariationalGMM(n_components=10, covariance_type=cov, random_state=0).fit(Xtr[:60000])
VariationalGMM(n_components=10, covariance_type=cov, random_state=0, batch_size=200,
               max_iter=3).fit(Xtr[:2000])
m = VariationalGMM(n_components=10, covariance_type=cov, random_state=0)
t = time.perf_counter(); m.fit(Xtr); seconds = time.perf_counter() - t
print("JSON" + json.dumps(dict(seconds=seconds, passes=int(m.n_iter_),
      heldout=float(plugin_log_likelihood(m, Xte).mean()), load=os.getloadavg()[0])))
"""


COLD = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
from threadpoolctl import threadpool_limits
threadpool_limits(1)
from sklearn.datasets import make_blobs
cov, estimator = sys.argv[1], sys.argv[2]
X, _ = make_blobs(1_250_000, 10, centers=10, cluster_std=4, random_state=0)
Xtr = X[:1_000_000]
t0 = time.perf_counter()  # (the data are made before the clock starts)
if estimator == "skbgmm":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from skbgmm import VariationalGMM
    t1 = time.perf_counter()
    m = VariationalGMM(n_components=10, covariance_type=cov, random_state=0).fit(Xtr)
else:
    from sklearn.mixture import BayesianGaussianMixture
    t1 = time.perf_counter()
    m = BayesianGaussianMixture(n_components=10, covariance_type=cov, random_state=0).fit(Xtr)
t2 = time.perf_counter()
print("JSON" + json.dumps(dict(seconds=t2 - t0, imports=t1 - t0, passes=int(m.n_iter_),
      heldout=float("nan"), load=os.getloadavg()[0])))
"""


def one(path, cov, cold=False, estimator="skbgmm"):
    env = dict(
        os.environ,
        PYTHONPATH=os.path.abspath(path),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env.pop("OPENBLAS_CORETYPE", None)
    code, argv = (COLD, [cov, estimator]) if cold else (CHILD, [cov])
    out = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("JSON")]
    if not lines:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(lines[0][4:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--cov", default="full")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="time imports and the first fit of a fresh process (no warm-up)",
    )
    parser.add_argument(
        "--bgmm",
        action="store_true",
        help="with --cold: one BayesianGaussianMixture process per run too",
    )
    args = parser.parse_args()
    for cov in args.cov.split(","):
        res = {"old": [], "new": []}
        if args.cold and args.bgmm:
            res["bgmm"] = []
        for i in range(args.runs):
            order = [("old", args.old), ("new", args.new)]
            for tag, path in order if i % 2 == 0 else order[::-1]:
                res[tag].append(one(path, cov, args.cold))
            if "bgmm" in res:
                res["bgmm"].append(one(args.new, cov, True, "bgmm"))
        for tag, rows in res.items():
            if args.cold:
                print(
                    f"{cov:9s} {tag}: imports + fit {[round(r['seconds'], 3) for r in rows]} "
                    f"imports {[round(r['imports'], 3) for r in rows]} load "
                    f"{[round(r['load'], 2) for r in rows]}"
                )
                continue
            print(
                f"{cov:9s} {tag}: seconds {[round(r['seconds'], 3) for r in rows]} passes "
                f"{[r['passes'] for r in rows]} held-out {rows[0]['heldout']:.5f} load "
                f"{[round(r['load'], 2) for r in rows]}"
            )
        ratio = statistics.median(r["seconds"] for r in res["new"]) / statistics.median(
            r["seconds"] for r in res["old"]
        )
        print(f"{cov:9s} new/old (medians) {ratio:.3f}")


if __name__ == "__main__":
    main()
