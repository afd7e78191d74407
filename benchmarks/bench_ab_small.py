"""Paired small-data timings: two checkouts of skbgmm and BayesianGaussianMixture, alternated.

The performance issue's small-data target (scikit-learn's iris, wine, breast cancer and digits,
each standardised, ``n_components=10``, one thread) in a form that survives this machine's noise:
each run is a fresh process per checkout (and one for BGMM) that fits every set once untimed,
then times 10 seeds and reports the median per set; the checkouts are alternated, and the table
gives the median of the runs' medians, with the ratios. Held-out quality is the plug-in
log-likelihood of the 20% test rows, as the median over seeds of the mean over rows and of the
median over rows: on digits a few test rows score thousands of nats below the rest, so the mean
is theirs.

    python benchmarks/bench_ab_small.py --old /path/to/old/checkout            # this one as new
    python benchmarks/bench_ab_small.py --old ../old --new . --runs 6

A checkout is put first on ``PYTHONPATH`` of its processes, which run from a neutral directory
(a process started in a checkout would import that checkout instead).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETS = ("iris", "wine", "breast_cancer", "digits")


def worker(estimator, names, n_seeds):
    import warnings

    import numpy as np
    from sklearn import datasets
    from sklearn.mixture import BayesianGaussianMixture
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    warnings.simplefilter("ignore")
    if estimator == "skbgmm":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        from skbgmm import VariationalGMM

        def make(seed):
            return VariationalGMM(n_components=10, random_state=seed)
    else:

        def make(seed):
            return BayesianGaussianMixture(n_components=10, random_state=seed)

    from skbgmm.metrics import plugin_log_likelihood

    out = {}
    for name in names:
        data = getattr(datasets, "load_" + name)()
        Xtr, Xte = train_test_split(data.data.astype(float), test_size=0.2, random_state=0)
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
        make(0).fit(Xtr)  # (untimed: imports, traces, first calls)
        times, lls, row_medians, passes = [], [], [], []
        for seed in range(n_seeds):
            model = make(seed)
            t0 = time.perf_counter()
            model.fit(Xtr)
            times.append(time.perf_counter() - t0)
            per_row = plugin_log_likelihood(model, Xte)
            lls.append(float(per_row.mean()))
            row_medians.append(float(np.median(per_row)))
            passes.append(int(model.n_iter_))
        out[name] = dict(
            time=float(np.median(times)),
            heldout=float(np.median(lls)),
            heldout_median_row=float(np.median(row_medians)),
            passes=passes,
        )
    print("RESULT " + json.dumps(out), flush=True)


def run(estimator, checkout, names, n_seeds):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.path.abspath(checkout) + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", estimator]
    cmd += ["--sets", ",".join(names), "--seeds", str(n_seeds)]
    with tempfile.TemporaryDirectory() as neutral:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=neutral)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(proc.stderr[-2000:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", help="the checkout to compare against")
    parser.add_argument("--new", default=os.path.dirname(os.path.dirname(__file__)) or ".")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.sets.split(",")
    if args.worker:
        worker(args.worker, names, args.seeds)
        return 0
    trees = {"new": args.new} if args.old is None else {"old": args.old, "new": args.new}
    runs = {key: [] for key in [*trees, "bgmm"]}
    print(f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    for i in range(args.runs):
        order = list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]
        for key, checkout in order:
            runs[key].append(run("skbgmm", checkout, names, args.seeds))
        runs["bgmm"].append(run("bgmm", args.new, names, args.seeds))
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    keys = list(runs)
    print(
        f"{'set':14s} "
        + " ".join(f"{k + ' ms':>9s}" for k in keys)
        + " "
        + " ".join(f"{k + '/bgmm':>9s}" for k in keys[:-1])
        + ("   new/old" if "old" in runs else "")
        + "  held-out new - bgmm (mean row, median row)"
    )
    for name in names:
        med = {k: statistics.median(r[name]["time"] for r in runs[k]) * 1e3 for k in keys}
        ll = {k: runs[k][0][name]["heldout"] for k in keys}
        mid = {k: runs[k][0][name]["heldout_median_row"] for k in keys}
        line = f"{name:14s} " + " ".join(f"{med[k]:9.1f}" for k in keys)
        line += " " + " ".join(f"{med[k] / med['bgmm']:9.2f}" for k in keys[:-1])
        if "old" in runs:
            line += f"   {med['new'] / med['old']:7.2f}"
        line += f"  {ll['new'] - ll['bgmm']:+10.4f} {mid['new'] - mid['bgmm']:+10.4f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
