"""A user's first fit: what a fresh process pays after ``import tensorflow`` returns.

Run: ``python benchmarks/bench_first_fit.py [--repeats 3]``. Each repeat is a fresh process that
imports TensorFlow (timed) and, in the first series, TFP (timed; skbgmm imports TFP only when
first needed, so the second series leaves it to skbgmm), then fits
``VariationalGMM(n_components=10)`` on the recipe's 3,000 points (the first fit: tracing
included), calls ``predict`` and ``score_samples`` once (their first calls), and fits again
(warm). It also reports the trace time of each traced function of the configuration. Prints
the median of the repeats.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import tensorflow
t1 = time.perf_counter()
if TFP_FIRST:
    import tensorflow_probability
t1b = time.perf_counter()
from skbgmm import VariationalGMM, make_recipe_data
X, _ = make_recipe_data(3000, random_state=0)
t2 = time.perf_counter()
gmm = VariationalGMM(n_components=10, random_state=0).fit(X)
t3 = time.perf_counter()
gmm.predict(X)
t3b = time.perf_counter()
gmm.score_samples(X)  # (its Student-t densities import TFP, if not yet imported)
t4 = time.perf_counter()
VariationalGMM(n_components=10, random_state=0).fit(X)
t5 = time.perf_counter()
print(json.dumps(dict(import_tf=t1 - t0, import_tfp=t1b - t1, first_fit=t3 - t2,
                      first_predict=t3b - t3, first_predict_score=t4 - t3, warm_fit=t5 - t4)))
"""

TRACES = r"""
import json, time
from skbgmm._svi._functions import functions
from skbgmm._svi._records import Config
fns = functions(Config("full", "dirichlet_process"))
out = {}
for name in ["step", "memo_elbo", "mean_distances", "posterior", "batch_stats", "log_resp",
             "log_density", "distances", "step32", "step_missing"]:
    t = time.perf_counter(); getattr(fns, name).get_concrete_function()
    out[name] = time.perf_counter() - t
print(json.dumps(out))
"""


def run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    import statistics

    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
    for tfp_first in (True, False):
        # TFP imported by the user before skbgmm (as the targets were measured), or
        # left to skbgmm, which imports it only when first needed (score_samples here)
        code = CHILD.replace("TFP_FIRST", str(tfp_first))
        runs = [run(code) for _ in range(repeats)]
        print(
            "tensorflow and tensorflow_probability imported first:"
            if tfp_first
            else "only tensorflow imported first:"
        )
        for key in runs[0]:
            print(f"  {key:20s} median {statistics.median(r[key] for r in runs):.3f} s")
    traces = run(TRACES)
    print("trace times (fresh process, full covariance):")
    for key, value in traces.items():
        print(f"  {key:14s} {value:.3f} s")
    print(f"  total          {sum(traces.values()):.3f} s")


if __name__ == "__main__":
    main()
