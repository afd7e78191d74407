"""Peak memory a fit adds, on inputs larger than one traced call takes (``step_rows``).

Run: ``python benchmarks/bench_memory.py [--path CHECKOUT]``. Each case runs in a fresh process
(with ``CHECKOUT`` first on ``PYTHONPATH`` when given, to compare two checkouts): a small warm-up
fit of the same configuration, then the peak resident memory (``ru_maxrss``) the timed call adds.

- ``init``: ``fit`` of 20,000 x 64 blobs with K=100 and ``max_iter=1`` (the initial statistics of
  a 16,384-row subsample, the largest K x D temporaries of a fit's start);
- ``partial``: ``partial_fit`` of a 500,000 x 10 batch into a K=10 state (the distances that pick
  the rows no component explains).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import resource, sys, time, warnings
warnings.simplefilter("ignore")
from sklearn.datasets import make_blobs
from skbgmm import VariationalGMM

def maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

case = sys.argv[1]
if case == "init":
    X, _ = make_blobs(20000, 64, centers=5, random_state=0)
    VariationalGMM(n_components=100, random_state=0, max_iter=1).fit(X[:3000])
    before, t = maxrss(), time.perf_counter()
    VariationalGMM(n_components=100, random_state=0, max_iter=1).fit(X)
else:
    X, _ = make_blobs(600000, 10, centers=5, random_state=0)
    m = VariationalGMM(n_components=10, random_state=0)
    m.partial_fit(X[:2000])
    m.partial_fit(X[2000:4000])
    before, t = maxrss(), time.perf_counter()
    m.partial_fit(X[100000:600000])
print(f"RESULT {case}: +{maxrss() - before:.0f} MB peak, {time.perf_counter() - t:.2f} s")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=None, help="a checkout to import skbgmm from")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if args.path:
        env["PYTHONPATH"] = os.path.abspath(args.path)
    for case in ("init", "partial"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, case], capture_output=True, text=True, env=env
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
        print(lines[0][7:] if lines else out.stderr[-2000:])


if __name__ == "__main__":
    main()
