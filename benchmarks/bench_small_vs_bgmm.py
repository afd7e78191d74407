"""Warm fits on scikit-learn's bundled data sets against BayesianGaussianMixture, in one process.

Run: ``python benchmarks/bench_small_vs_bgmm.py [iris,wine,breast_cancer,digits]``. One thread
for everything (TensorFlow intra/inter-op, BLAS); 80% of the rows
(``train_test_split(random_state=0)``), standardised, ``n_components=10``, seeds 0-9, after one
untimed fit (traces). Reports the median time per fit, the median number of passes, and the
median over seeds of the mean held-out plug-in log-likelihood
(``skbgmm.metrics.plugin_log_likelihood``, the same function for both) and of its median row
(on digits a few test rows score thousands of nats below the rest under either model, so the
mean is theirs). The fresh-process
benchmarks (``bench_vs_sklearn.py``) are the reference; this one is quicker and steadier.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings


def main():
    warnings.simplefilter("ignore")
    import tensorflow as tf
    from sklearn import datasets
    from sklearn.mixture import BayesianGaussianMixture
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    import skbgmm
    from skbgmm.metrics import plugin_log_likelihood

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    threadpool_limits(1)
    sets = (
        sys.argv[1].split(",") if len(sys.argv) > 1 else ["iris", "wine", "breast_cancer", "digits"]
    )
    import os

    print(f"load average {os.getloadavg()[0]:.2f}")
    for name in sets:
        data = getattr(datasets, "load_" + name)()
        X, Xt = train_test_split(data.data.astype(float), test_size=0.2, random_state=0)
        scaler = StandardScaler().fit(X)
        X, Xt = scaler.transform(X), scaler.transform(Xt)
        skbgmm.VariationalGMM(n_components=10, random_state=0).fit(X)
        medians = {}
        for label, make in (("skbgmm", skbgmm.VariationalGMM), ("BGMM", BayesianGaussianMixture)):
            times, scores, rows, passes = [], [], [], []
            for seed in range(10):
                t0 = time.perf_counter()
                gmm = make(n_components=10, random_state=seed).fit(X)
                times.append(time.perf_counter() - t0)
                ll = plugin_log_likelihood(gmm, Xt)
                scores.append(ll.mean())
                rows.append(statistics.median(ll))
                passes.append(gmm.n_iter_)
            medians[label] = statistics.median(times)
            print(
                f"{name:14s} {label:7s} {statistics.median(times) * 1e3:8.1f} ms  passes "
                f"{statistics.median(passes):5.1f}  held-out {statistics.median(scores):9.3f}"
                f"  (median row {statistics.median(rows):7.3f})"
            )
        print(f"{name:14s} ratio   {medians['skbgmm'] / medians['BGMM']:.2f}x BGMM")


if __name__ == "__main__":
    main()
