"""How the fit time grows with n, K and D, against BayesianGaussianMixture and the floor.

Run: ``python benchmarks/bench_scaling.py [--quick] [--bgmm-max-work W]``. Every fit runs in its
own subprocess with one thread (BLAS, OpenMP and TensorFlow), VariationalGMM warm (a small fit of
the same configuration first, in the same subprocess), and reports the fit's seconds, the memory
the fit adds (peak RSS minus RSS before it), the passes, the held-out plug-in log-likelihood and,
for VariationalGMM, one exact pass and the NumPy matrix-product floor of a pass on the same data.
BGMM is run only where ``n * K * D`` is at most ``--bgmm-max-work`` (default 1e8: a
BGMM fit beyond it takes minutes per point here); the table says so where it is left out.

Series (``make_blobs``, ``cluster_std=4``, ``centers=K``, full covariances):
- n = 1e4, 1e5, 1e6, 1e7 at D=10, K=10;
- K = 10, 30, 100 at n=1e6, D=10;
- D = 10, 50, 100 at n=1e5, K=10.
Writes ``benchmarks/results/bench_scaling.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def series(quick):
    if quick:
        return [("n", 10_000, 10, 10), ("n", 100_000, 10, 10), ("K", 100_000, 10, 30)]
    out = [("n", n, 10, 10) for n in (10_000, 100_000, 1_000_000, 10_000_000)]
    out += [("K", 1_000_000, 10, k) for k in (30, 100)]
    out += [("D", 100_000, d, 10) for d in (50, 100)]
    return out


def worker(n, d, k, estimator):
    import numpy as np
    from bench_vs_sklearn import (
        _make,
        _one_pass_vs_floor,
        timed_fit,
        warm_up,
    )
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n + 20_000, d, centers=k, cluster_std=4.0, random_state=0)
    X = X.astype(np.float64)
    Xtr, Xte = X[:n], X[n:]
    model = _make(estimator, k, "full", 1)
    if estimator == "skbgmm":
        warm_up(k, "full", 1, Xtr[: max(2000, 20 * k)])
    seconds, before, peak, _ = timed_fit(model, Xtr)
    from skbgmm.metrics import plugin_log_likelihood

    out = dict(
        n=n,
        d=d,
        k=k,
        estimator=estimator,
        seconds=seconds,
        fit_mb=(peak - before) / 2**20,
        passes=int(model.n_iter_),
        heldout=float(plugin_log_likelihood(model, Xte).mean()),
        load=os.getloadavg()[0],
    )
    if estimator == "skbgmm":
        out["one_pass"], out["floor"] = _one_pass_vs_floor(model, Xtr)
    print("JSON " + json.dumps(out))


def main():
    quick = "--quick" in sys.argv
    max_work = 1e8
    if "--bgmm-max-work" in sys.argv:
        max_work = float(sys.argv[sys.argv.index("--bgmm-max-work") + 1])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.pop("OPENBLAS_CORETYPE", None)
    rows = []
    for name, n, d, k in series(quick):
        for est in ("skbgmm", "bgmm"):
            if est == "bgmm" and n * k * d > max_work:
                rows.append(dict(series=name, n=n, d=d, k=k, estimator=est, skipped=True))
                continue
            code = (
                f"import sys; sys.path.insert(0, {HERE!r}); import bench_scaling as b; "
                f"b.worker({n}, {d}, {k}, {est!r})"
            )
            proc = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env
            )
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON ")]
            if not line:
                print(proc.stderr[-2000:])
                raise SystemExit(f"worker failed: {name} n={n} d={d} k={k} {est}")
            row = dict(series=name, **json.loads(line[-1][5:]))
            rows.append(row)
            print(
                f"{name} n={n:>9,} D={d:>3} K={k:>3} {est:7s} {row['seconds']:8.2f} s "
                f"passes {row['passes']:3d} +{row['fit_mb']:7.1f} MB ll {row['heldout']:.4f}"
                + (
                    f" pass {row['one_pass']:.3f} s floor {row['floor']:.3f} s"
                    if est == "skbgmm"
                    else ""
                )
                + f" load {row['load']:.2f}",
                flush=True,
            )
    with open(os.path.join(HERE, "results", "bench_scaling.json"), "w") as fh:
        json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
