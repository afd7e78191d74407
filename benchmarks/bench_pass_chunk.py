"""One step on one chunk of a full pass (1M x 10, K=10 sizes) against the matrix-product floor.

Run: ``python benchmarks/bench_pass_chunk.py [full|diag]``: the float64 and float32 steps on a
20,971-row chunk (the chunk size of a 1M x 10 x 10 fit), with and without move terms, and the two
NumPy products a pass needs on the same chunk.
"""

import sys
import time

import numpy as np

from skbgmm._svi._functions import functions
from skbgmm._svi._records import Config, Frame, Prior, Stats

ct = sys.argv[1] if len(sys.argv) > 1 else "full"
fns = functions(Config(ct, "dirichlet_process"))
n, d, k = 20971, 10, 10
rng = np.random.RandomState(0)
X = rng.randn(n, d)
w = np.ones(n)
frame = Frame(np.zeros(d), np.ones(d))
cov = {"full": np.eye(d), "diag": np.ones(d)}[ct]
prior = Prior(0.1, 1.0, np.zeros(d), float(d), cov)
r = rng.dirichlet(np.ones(k), size=n)
st = Stats(*(np.asarray(s) for s in fns.batch_stats(X, w, r, frame)))
X_t = np.ascontiguousarray(X.T)  # (a step takes the points as columns, (D, n))
X32 = X_t.astype(np.float32)
X_t.flags.writeable = X32.flags.writeable = False  # (as the trainer's chunks: no copy per call)
step64, step32 = fns.step_for(False, k, d), fns.step_for(True, k, d)  # (the trainer's choice)
print(f"steps: {step64._fn.__name__} ('full' by pair of features when K >= D)")
for name, f, XX, pairs, dl in [
    ("step64", step64, X_t, np.zeros((0, 2), np.int32), -1),
    ("step32", step32, X32, np.zeros((0, 2), np.int32), -1),
    ("step32+moves", step32, X32, np.array([[0, 1], [2, 3], [4, 5]], np.int32), 9),
]:
    args = (XX, w, frame, prior, 1e-6, st, st, np.bool_(False), pairs, np.int32(dl))
    f(*args)
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        f(*args)
        ts.append(time.perf_counter() - t)
    per_chunk = np.median(ts)
    print(f"{name}: {per_chunk * 1e3:.2f} ms per chunk -> {per_chunk / n * 1e6:.3f} s per 1M rows")
U = rng.rand(d, k * d)
RZ = rng.rand(n, k * d)
ts = []
for _ in range(20):
    t = time.perf_counter()
    X @ U
    RZ.T @ X
    ts.append(time.perf_counter() - t)
print(f"floor: {np.median(ts) * 1e3:.2f} ms per chunk")
