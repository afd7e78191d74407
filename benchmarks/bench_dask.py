"""A fit on a chunked dask array: two-worker local cluster against one process.

    python benchmarks/bench_dask.py [--rows 2000000] [--chunk 125000]

Both fits see the same 2,000,000 x 10 points (ten clusters), held as a dask array of 16 blocks
generated on the workers (the client never holds the data) and, for the single-process fit, as a
NumPy array. Printed: wall time per pass over the data and the client's peak RSS during each fit
(TensorFlow's footprint included, which is the same in both).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def rss(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def block(seed, rows, d=10, k=10):
    rng = np.random.RandomState(seed)
    centres = np.random.RandomState(0).uniform(-10, 10, size=(k, d))
    return centres[rng.randint(k, size=rows)] + 2.0 * rng.randn(rows, d)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=125_000)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import dask
    import dask.array as da
    import distributed

    from skbgmm import VariationalGMM

    n_blocks = args.rows // args.chunk
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a warm-up fit, cut short on purpose
        VariationalGMM(n_components=10, batch_size=200, max_iter=3).fit(block(99, 2000))

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    client.run(lambda: __import__("skbgmm._svi._trainer") and None)
    parts = [
        da.from_delayed(dask.delayed(block)(i, args.chunk), (args.chunk, 10), np.float64)
        for i in range(n_blocks)
    ]
    dX = da.concatenate(parts)
    reset_peak()
    before = rss("VmRSS")
    t0 = time.perf_counter()
    dist = VariationalGMM(n_components=10, random_state=0).fit(dX)
    t_dist = time.perf_counter() - t0
    peak_dist = rss("VmHWM")
    client.close()
    cluster.close()

    X = np.concatenate([block(i, args.chunk) for i in range(n_blocks)])
    reset_peak()
    t0 = time.perf_counter()
    single = VariationalGMM(n_components=10, random_state=0).fit(X)
    t_single = time.perf_counter() - t0
    peak_single = rss("VmHWM")
    mb = 2**20
    print(
        f"{args.rows:,} x 10 points, {n_blocks} blocks of {args.chunk:,} rows, load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"dask, 2 workers: {t_dist:6.1f} s, {dist.n_iter_} passes, {t_dist / dist.n_iter_:.2f} s per pass, "
        f"client RSS {before / mb:.0f} MB before, peak {peak_dist / mb:.0f} MB"
    )
    print(
        f"one process:     {t_single:6.1f} s, {single.n_iter_} passes, {t_single / single.n_iter_:.2f} s per pass, "
        f"peak RSS {peak_single / mb:.0f} MB (data {X.nbytes / mb:.0f} MB)"
    )
    from scipy.optimize import linear_sum_assignment

    from skbgmm.metrics import plugin_log_likelihood

    cost = np.linalg.norm(dist.means_[:, None] - single.means_[None], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    X_test = block(12345, 100_000)
    print(
        f"matched means differ by at most {cost[rows, cols].max():.3g}; held-out "
        f"log-likelihood dask {plugin_log_likelihood(dist, X_test).mean():.4f}, "
        f"one process {plugin_log_likelihood(single, X_test).mean():.4f}"
    )


if __name__ == "__main__":
    main()
