"""How much of the first trace of the step is Python's garbage collector.

Run: ``python benchmarks/bench_trace_gc.py`` (a fresh process per case): imports TensorFlow and
TFP, then traces the full-covariance step and three of the moves' functions, once with the
collector as it is and once with ``gc`` disabled around the traces, and reports the trace times
with the number and length of the collections that ran during them. (A measurement only:
skbgmm does not change the interpreter's garbage-collection settings.)
"""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import gc, sys, time
import tensorflow, tensorflow_probability
from skbgmm._svi._functions import functions
from skbgmm._svi._records import Config
fns = functions(Config("full", "dirichlet_process"))
objects = len(gc.get_objects())
events, starts, pause = [], {}, [0.0]
def watch(phase, info):
    now = time.perf_counter()
    if phase == "start":
        starts[info["generation"]] = now
        events.append(info["generation"])
    else:
        pause[0] += now - starts.pop(info["generation"], now)
gc.callbacks.append(watch)
if sys.argv[1] == "disabled":
    gc.disable()
t = time.perf_counter()
fns.step.get_concrete_function()
step = time.perf_counter() - t
t = time.perf_counter()
for name in ("memo_elbo", "mean_distances", "posterior"):
    getattr(fns, name).get_concrete_function()
rest = time.perf_counter() - t
gc.enable()
print(f"gc {sys.argv[1]:8s}: {objects:,} objects tracked; trace step {step:.3f} s, three more "
      f"{rest:.3f} s; {len(events)} collections ({events.count(2)} full), {pause[0]:.3f} s")
"""


def main():
    for _ in range(2):
        for case in ("enabled", "disabled"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, case], capture_output=True, text=True
            )
            print(out.stdout.strip() or out.stderr[-2000:])


if __name__ == "__main__":
    main()
