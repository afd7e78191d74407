"""Two checkouts of skbgmm in one process, their fits interleaved: A/B at the 2-5% level.

Fresh processes per checkout (``bench_ab_small.py``) differ by 15-40% on this shared machine
for reasons that have nothing to do with the code (an A/A run showed 0.74-1.25). Here the old
checkout's package is copied to a temporary directory as ``skbgmm_old`` (skbgmm imports itself
relatively, so the copy is self-contained), both are imported into one process with one
TensorFlow runtime and one thread budget, and blocks of fits alternate, old first on even
rounds and new first on odd ones. Reports the median time per fit and the ratio.

    python benchmarks/bench_ab_inprocess.py --old /path/to/old/checkout
    python benchmarks/bench_ab_inprocess.py --old ../old --sets iris,wine --rounds 10

Data: scikit-learn's bundled sets, 80% of the rows (``train_test_split(random_state=0)``),
standardised, ``n_components=10``; every round fits seeds 0-9 once per checkout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the checkout to compare against")
    parser.add_argument("--new", default=os.path.dirname(os.path.dirname(__file__)) or ".")
    parser.add_argument("--sets", default="iris,wine,breast_cancer,digits")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--covariance-type", default="full")
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore")
    tmp = tempfile.mkdtemp()
    shutil.copytree(os.path.join(args.old, "skbgmm"), os.path.join(tmp, "skbgmm_old"))
    sys.path.insert(0, tmp)
    sys.path.insert(0, os.path.abspath(args.new))
    import tensorflow as tf
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    threadpool_limits(1)
    import skbgmm_old

    import skbgmm

    print(f"new: {os.path.dirname(skbgmm.__file__)}; old: {args.old}")
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    estimators = {"old": skbgmm_old.VariationalGMM, "new": skbgmm.VariationalGMM}
    for name in args.sets.split(","):
        data = getattr(datasets, "load_" + name)()
        X, _ = train_test_split(data.data.astype(float), test_size=0.2, random_state=0)
        X = StandardScaler().fit(X).transform(X)

        def fits(make, X=X):
            t0 = time.perf_counter()
            for seed in range(10):
                make(n_components=10, covariance_type=args.covariance_type, random_state=seed).fit(
                    X
                )
            return (time.perf_counter() - t0) / 10

        for make in estimators.values():
            fits(make)  # (untimed: traces, first calls)
        times = {key: [] for key in estimators}
        for i in range(args.rounds):
            order = list(estimators.items())
            for key, make in order if i % 2 == 0 else order[::-1]:
                times[key].append(fits(make))
        old, new = (statistics.median(times[k]) for k in ("old", "new"))
        print(
            f"{name:14s} old {old * 1e3:8.1f} ms  new {new * 1e3:8.1f} ms  new/old {new / old:.3f}"
        )
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
