"""Partially observed data: imputation, likelihood with holes, and regression, side by side.

Run: ``python benchmarks/bench_missing.py [--quick]``. Every fit runs in this process after a
warm-up (the numbers are quality numbers; speed is reported but is not the point here), with
one thread for every library. Writes ``benchmarks/results/bench_missing.json``.

1. Imputation RMSE on entries hidden completely at random (10% and 30%), for scikit-learn's
   SimpleImputer, KNNImputer, IterativeImputer and skbgmm's GMMImputer, on clustered blobs and
   on scikit-learn's real sets (standardised), over seeds.
2. Held-out log-likelihood of the observed entries: a VariationalGMM fitted on data with holes
   scored on held-out data with the same fraction of holes (``score``, the marginal predictive
   density of the observed entries), against the same model fitted on the complete data.
3. Regression on diabetes (5-fold CV, standardised): held-out negative log-likelihood per
   point and RMSE of GMMRegressor, gmr's GMM regression (maximum likelihood, EM), a Gaussian
   process (RBF + white noise) and Bayesian ridge.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.experimental import enable_iterative_imputer  # noqa: E402,F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

QUICK = "--quick" in sys.argv
SEEDS = [0, 1] if QUICK else [0, 1, 2]
FRACTIONS = [0.1, 0.3]


def holes(X, frac, seed):
    rng = np.random.RandomState(seed)
    mask = rng.uniform(size=X.shape) < frac
    mask[mask.all(axis=1), 0] = False
    return np.where(mask, np.nan, X), mask


def datasets():
    blobs, _ = make_blobs(3000, 5, centers=4, random_state=1)
    wide, _ = make_blobs(3000, 10, centers=6, cluster_std=2.0, random_state=2)
    out = {"blobs-5d": blobs, "blobs-10d": wide}
    for name, loader in [
        ("iris", load_iris),
        ("wine", load_wine),
        ("breast_cancer", load_breast_cancer),
    ]:
        out[name] = StandardScaler().fit_transform(loader().data)
    return out


def imputation(rows):
    from skbgmm import GMMImputer

    for name, X in datasets().items():
        for frac in FRACTIONS:
            for seed in SEEDS:
                Xm, mask = holes(X, frac, seed)
                for label, imp in [
                    ("SimpleImputer", SimpleImputer()),
                    ("KNNImputer", KNNImputer()),
                    ("IterativeImputer", IterativeImputer(random_state=seed, max_iter=25)),
                    ("GMMImputer", GMMImputer(random_state=seed)),
                ]:
                    t = time.perf_counter()
                    filled = imp.fit_transform(Xm)
                    rows.append(
                        dict(
                            part="imputation",
                            data=name,
                            fraction=frac,
                            seed=seed,
                            estimator=label,
                            seconds=time.perf_counter() - t,
                            rmse=float(np.sqrt(np.mean((filled[mask] - X[mask]) ** 2))),
                        )
                    )


def likelihood(rows):
    from skbgmm import VariationalGMM

    for name, X in datasets().items():
        rng = np.random.RandomState(0)
        order = rng.permutation(X.shape[0])
        train, test = X[order[: 2 * len(X) // 3]], X[order[2 * len(X) // 3 :]]
        for frac in FRACTIONS:
            for seed in SEEDS:
                tr, _ = holes(train, frac, seed)
                te, _ = holes(test, frac, seed + 100)
                full = VariationalGMM(n_components=10, random_state=seed).fit(train)
                part = VariationalGMM(n_components=10, random_state=seed).fit(tr)
                rows.append(
                    dict(
                        part="likelihood",
                        data=name,
                        fraction=frac,
                        seed=seed,
                        complete_fit=float(full.score(te)),
                        holes_fit=float(part.score(te)),
                        complete_components=int(full.n_effective_components_),
                        holes_components=int(part.n_effective_components_),
                    )
                )


def regression(rows):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel
    from sklearn.linear_model import BayesianRidge

    from skbgmm import GMMRegressor

    data = load_diabetes()
    X = StandardScaler().fit_transform(data.data)
    y = (data.target - data.target.mean()) / data.target.std()
    try:
        from gmr import GMM
    except ImportError:  # pragma: no cover - optional
        GMM = None
    for fold, (tr, te) in enumerate(KFold(5, shuffle=True, random_state=0).split(X)):
        results = {}
        reg = GMMRegressor(n_components=10, random_state=fold).fit(X[tr], y[tr])
        dist = reg.predict_distribution(X[te])
        results["GMMRegressor"] = (dist.mean()[:, 0], -dist.log_prob(y[te][:, None]))
        for k in (1, 3):
            reg_k = GMMRegressor(
                n_components=k,
                weight_concentration_prior_type="dirichlet_distribution",
                random_state=fold,
            ).fit(X[tr], y[tr])
            d = reg_k.predict_distribution(X[te])
            results[f"GMMRegressor(K={k}, Dirichlet)"] = (
                d.mean()[:, 0],
                -d.log_prob(y[te][:, None]),
            )
        gp = GaussianProcessRegressor(RBF(np.ones(X.shape[1])) + WhiteKernel(), normalize_y=True)
        gp.fit(X[tr], y[tr])
        m, s = gp.predict(X[te], return_std=True)
        results["GaussianProcess"] = (m, -norm.logpdf(y[te], m, s))
        br = BayesianRidge().fit(X[tr], y[tr])
        m, s = br.predict(X[te], return_std=True)
        results["BayesianRidge"] = (m, -norm.logpdf(y[te], m, s))
        if GMM is not None:
            for k in (1, 3):
                gmm = GMM(n_components=k, random_state=fold)
                gmm.from_samples(np.c_[X[tr], y[tr]])
                idx = np.arange(X.shape[1])
                cond = [gmm.condition(idx, x) for x in X[te]]
                m = np.array([c.priors @ c.means[:, 0] for c in cond])
                nll = -np.log(
                    [c.to_probability_density(np.array([[v]]))[0] for c, v in zip(cond, y[te])]
                )
                results[f"gmr GMM (K={k}, EM)"] = (m, nll)
        for label, (m, nll) in results.items():
            rows.append(
                dict(
                    part="regression",
                    data="diabetes",
                    fold=fold,
                    estimator=label,
                    rmse=float(np.sqrt(np.mean((m - y[te]) ** 2))),
                    nll=float(np.mean(nll)),
                )
            )


def summarise(rows):
    import collections

    print("\n## Imputation RMSE on the hidden entries (mean over seeds)\n")
    table = collections.defaultdict(list)
    for r in rows:
        if r["part"] == "imputation":
            table[(r["data"], r["fraction"], r["estimator"])].append(r["rmse"])
    names = ["SimpleImputer", "KNNImputer", "IterativeImputer", "GMMImputer"]
    print("| data | missing | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for data, frac in sorted({(d, f) for d, f, _ in table}):
        vals = [np.mean(table[(data, frac, n)]) for n in names]
        best = int(np.argmin(vals))
        cells = [f"**{v:.3f}**" if i == best else f"{v:.3f}" for i, v in enumerate(vals)]
        print(f"| {data} | {frac:.0%} | " + " | ".join(cells) + " |")
    print("\n## Held-out log-likelihood of the observed entries (mean over seeds)\n")
    print("| data | missing | complete-data fit | fit with holes | difference | components |")
    print("|---|---|---|---|---|---|")
    lik = collections.defaultdict(list)
    for r in rows:
        if r["part"] == "likelihood":
            lik[(r["data"], r["fraction"])].append(r)
    for key in sorted(lik):
        rs = lik[key]
        a = np.mean([r["complete_fit"] for r in rs])
        b = np.mean([r["holes_fit"] for r in rs])
        comps = "/".join(f"{r['complete_components']}-{r['holes_components']}" for r in rs)
        print(f"| {key[0]} | {key[1]:.0%} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {comps} |")
    print("\n## Diabetes regression, 5-fold CV (standardised target)\n")
    print("| estimator | RMSE | NLL per point |")
    print("|---|---|---|")
    reg = collections.defaultdict(list)
    for r in rows:
        if r["part"] == "regression":
            reg[r["estimator"]].append(r)
    for label, rs in reg.items():
        print(
            f"| {label} | {np.mean([r['rmse'] for r in rs]):.4f} | "
            f"{np.mean([r['nll'] for r in rs]):.4f} |"
        )


def main():
    warnings.simplefilter("ignore")
    from skbgmm import VariationalGMM

    VariationalGMM(n_components=2).fit(np.random.RandomState(0).randn(100, 2))  # warm-up
    rows = []
    imputation(rows)
    likelihood(rows)
    regression(rows)
    summarise(rows)
    out = os.path.join(os.path.dirname(__file__), "results", "bench_missing.json")
    with open(out, "w") as fh:
        json.dump(dict(load_average=os.getloadavg(), quick=QUICK, rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
