"""Paired large-data timings: two checkouts of skbgmm on the 1M x 10, K=10 blobs, alternated.

Each run is a fresh process per checkout (one thread for BLAS and TensorFlow) that traces the
configuration on 2,000 rows (a whole fit, and a minibatch fit for the float32 step), then times
one fit of the first 1,000,000 rows of ``make_blobs(1_250_000, 10, centers=10, cluster_std=4,
random_state=0)`` and scores the other 250,000 with the plug-in log-likelihood. The checkouts
are alternated (old, new, then new, old, ...) and the medians compared.

    python benchmarks/bench_ab_large.py --old /path/to/old/checkout --cov full,diag --runs 3

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
VariationalGMM(n_components=10, covariance_type=cov, random_state=0).fit(Xtr[:2000])
VariationalGMM(n_components=10, covariance_type=cov, random_state=0, batch_size=200,
               max_iter=3).fit(Xtr[:2000])
m = VariationalGMM(n_components=10, covariance_type=cov, random_state=0)
t = time.perf_counter(); m.fit(Xtr); seconds = time.perf_counter() - t
print("JSON" + json.dumps(dict(seconds=seconds, passes=int(m.n_iter_),
      heldout=float(plugin_log_likelihood(m, Xte).mean()), load=os.getloadavg()[0])))
"""


def one(path, cov):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("OPENBLAS_CORETYPE", None)
    out = subprocess.run([sys.executable, "-c", CHILD, cov], capture_output=True, text=True,
                         env=env, cwd=tempfile.gettempdir())
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
    args = parser.parse_args()
    for cov in args.cov.split(","):
        res = {"old": [], "new": []}
        for i in range(args.runs):
            order = [("old", args.old), ("new", args.new)]
            for tag, path in order if i % 2 == 0 else order[::-1]:
                res[tag].append(one(path, cov))
        for tag, rows in res.items():
            print(f"{cov:9s} {tag}: seconds {[round(r['seconds'], 3) for r in rows]} passes "
                  f"{[r['passes'] for r in rows]} held-out {rows[0]['heldout']:.5f} load "
                  f"{[round(r['load'], 2) for r in rows]}")
        ratio = statistics.median(r["seconds"] for r in res["new"]) / statistics.median(
            r["seconds"] for r in res["old"])
        print(f"{cov:9s} new/old (medians) {ratio:.3f}")


if __name__ == "__main__":
    main()
