"""Does the Dirichlet process find the number of clusters? VariationalGMM against BGMM.

Synthetic cases with a known number of clusters, two sizes, two values of ``n_components`` and
several seeds. For each fit: the number of effective components (weight >= 0.01) against the
truth, the held-out plug-in log-likelihood (:func:`skbgmm.metrics.plugin_log_likelihood`, the same
function for every estimator, on a second sample of the same size), the adjusted Rand index
against the true labels, and the fit time (in this process, TensorFlow imported and traced by a
warm-up fit first; every estimator with one thread).

    python benchmarks/bench_model_order.py                      # the whole table (~15 min)
    python benchmarks/bench_model_order.py --quick              # 2,000 points, one seed
    python benchmarks/bench_model_order.py --estimators vgmm    # skbgmm only

Results go to ``benchmarks/results/bench_model_order.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def make_case(name, n, seed):
    """``(X, y, true number of clusters)`` for case ``name`` with ``n`` points."""
    from sklearn.datasets import make_blobs

    rng = np.random.RandomState(seed)
    if name == "blob-2d":
        return rng.randn(n, 2), np.zeros(n, int), 1
    if name == "blob-10d":
        return rng.randn(n, 10), np.zeros(n, int), 1
    if name == "3-separated":
        X, y = make_blobs(n, 2, centers=[[0, 0], [10, 0], [0, 10]], random_state=seed)
        return X, y, 3
    if name == "3-touching":
        X, y = make_blobs(n, 2, centers=[[0, 0], [3, 0], [0, 3]], random_state=seed)
        return X, y, 3
    if name == "5-unequal":
        sizes = np.round(n * np.array([0.4, 0.25, 0.15, 0.12, 0.08])).astype(int)
        sizes[0] += n - sizes.sum()
        centers = [[0, 0], [8, 0], [0, 8], [8, 8], [4, 14]]
        X, y = make_blobs(sizes, 2, centers=centers, random_state=seed)
        return X, y, 5
    if name == "10-in-10d":
        X, y = make_blobs(
            n, 10, centers=10, cluster_std=1.0, center_box=(-10, 10), random_state=seed
        )
        return X, y, 10
    if name == "3-elongated":
        y = rng.randint(0, 3, size=n)
        base = rng.randn(n, 2) * np.array([4.0, 0.4])
        angles = np.array([0.0, np.pi / 3, 2 * np.pi / 3])[y]
        rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1)
        X = np.einsum("nij,nj->ni", rot.reshape(n, 2, 2), base)
        X += np.array([[0, 0], [12, 0], [6, 10]])[y]
        return X, y, 3
    if name == "recipe":
        from skbgmm._data import make_recipe_data

        X, y = make_recipe_data(n, random_state=seed)
        return X, y, 3
    raise ValueError(name)


CASES = [
    "blob-2d",
    "blob-10d",
    "3-separated",
    "3-touching",
    "5-unequal",
    "10-in-10d",
    "3-elongated",
    "recipe",
]


def estimators(which, k, seed):
    from sklearn.mixture import BayesianGaussianMixture

    from skbgmm import VariationalGMM

    out = {}
    if "vgmm" in which:
        out["VariationalGMM"] = VariationalGMM(n_components=k, random_state=seed)
    if "vgmm-nomoves" in which:
        out["VariationalGMM(moves=False)"] = VariationalGMM(
            n_components=k, random_state=seed, moves=False
        )
    if "bgmm" in which:
        out["BGMM"] = BayesianGaussianMixture(n_components=k, random_state=seed)
    if "bgmm1000" in which:
        out["BGMM(max_iter=1000)"] = BayesianGaussianMixture(
            n_components=k, random_state=seed, max_iter=1000
        )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 points and one seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--components", default="10,20")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--estimators", default="vgmm,bgmm,bgmm1000")
    parser.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(__file__), "results", "bench_model_order.json"),
    )
    args = parser.parse_args(argv)
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    seeds = range(1 if args.quick else args.seeds)
    which = args.estimators.split(",")

    import tensorflow as tf
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import adjusted_rand_score

    from skbgmm import VariationalGMM
    from skbgmm.metrics import plugin_log_likelihood

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    VariationalGMM(n_components=3, random_state=0).fit(make_case("recipe", 500, 0)[0])  # warm-up

    rows = []
    for case in args.cases.split(","):
        for n in sizes:
            for k in [int(c) for c in args.components.split(",")]:
                for seed in seeds:
                    X, y, truth = make_case(case, 2 * n, seed)
                    Xtr, ytr, Xte = X[::2], y[::2], X[1::2]
                    for name, est in estimators(which, k, seed).items():
                        t0 = time.perf_counter()
                        est.fit(Xtr)
                        seconds = time.perf_counter() - t0
                        eff = int(np.sum(est.weights_ >= 0.01))
                        rows.append(
                            dict(
                                case=case,
                                n=n,
                                k=k,
                                seed=seed,
                                estimator=name,
                                truth=truth,
                                effective=eff,
                                exact=eff == truth,
                                heldout=float(plugin_log_likelihood(est, Xte).mean()),
                                ari=float(adjusted_rand_score(ytr, est.predict(Xtr))),
                                seconds=seconds,
                                converged=bool(est.converged_),
                            )
                        )
                        r = rows[-1]
                        print(
                            f"{case:12s} n={n:6d} K={k:2d} seed={seed} {name:28s} "
                            f"eff={eff:2d}/{truth:<2d} ll={r['heldout']:9.4f} ari={r['ari']:.3f} "
                            f"t={seconds:6.2f}s conv={r['converged']}",
                            flush=True,
                        )
    print("\nestimator                      exact count   mean held-out ll   median s   total s")
    for name in dict.fromkeys(r["estimator"] for r in rows):
        sub = [r for r in rows if r["estimator"] == name]
        print(
            f"{name:30s} {np.mean([r['exact'] for r in sub]):7.1%} ({sum(r['exact'] for r in sub)}/{len(sub)})"
            f"   {np.mean([r['heldout'] for r in sub]):12.4f}"
            f"   {np.median([r['seconds'] for r in sub]):8.3f}   {np.sum([r['seconds'] for r in sub]):7.1f}"
        )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    load = os.getloadavg()
    with open(args.out, "w") as fh:
        json.dump({"load_average": load, "args": vars(args), "rows": rows}, fh, indent=1)
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; written to {args.out}")


if __name__ == "__main__":
    main()
