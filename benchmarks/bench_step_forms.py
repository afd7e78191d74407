"""'full''s step with its second moments by component or by pair of features, interleaved.

Run: ``python benchmarks/bench_step_forms.py``: one chunk of a 1M x 10 fit (the trainer's chunk
size for K = 10, 30, 100), one thread, float64 and float32, without and with move terms (three
merge pairs and a delete candidate). Both variants run in one process, alternating, and the
median of 25 calls is reported with the ratio: ``Functions.step_for`` takes the variant by pair
whenever K >= D.
"""

import time

import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(1)  # (before skbgmm starts the runtime)
tf.config.threading.set_inter_op_parallelism_threads(1)

from skbgmm._svi._functions import functions  # noqa: E402
from skbgmm._svi._predict import chunk_rows  # noqa: E402
from skbgmm._svi._records import Config, Frame, Prior, Stats  # noqa: E402
fns = functions(Config("full", "dirichlet_process"))
d = 10
for k in (10, 30, 100):
    n = chunk_rows(k, d)
    rng = np.random.RandomState(0)
    X = rng.randn(n, d)
    w = np.ones(n)
    frame = Frame(np.zeros(d), np.ones(d))
    prior = Prior(0.1, 1.0, np.zeros(d), float(d), np.eye(d))
    r = rng.dirichlet(np.ones(k), size=n)
    st = Stats(*(np.asarray(s) for s in fns.batch_stats(X, w, r, frame)))
    X = np.ascontiguousarray(X.T)  # (a step takes the points as columns, (D, n))
    X32 = X.astype(np.float32)
    X.flags.writeable = X32.flags.writeable = False  # (as the trainer's chunks)
    cases = [
        ("component64", fns.step, X),
        ("pair64", fns.step_pairs, X),
        ("component32", fns.step32, X32),
        ("pair32", fns.step32_pairs, X32),
    ]
    for moves in (False, True):
        pairs = np.array([[0, 1], [2, 3], [4, 5]], np.int32) if moves else np.zeros((0, 2), np.int32)
        args = (w, frame, prior, 1e-6, st, st, np.bool_(False), pairs, np.int32(k - 1 if moves else -1))
        times = {name: [] for name, _, _ in cases}
        for name, f, rows in cases:
            f(rows, *args)  # (traces)
        for _ in range(25):
            for name, f, rows in cases:
                t = time.perf_counter()
                f(rows, *args)
                times[name].append(time.perf_counter() - t)
        m = {name: np.median(v) * 1e3 for name, v in times.items()}
        print(
            f"K={k:3d} rows={n:6d} moves={moves!s:5s}  float64 {m['component64']:6.2f} -> "
            f"{m['pair64']:6.2f} ms ({m['pair64'] / m['component64']:.2f}x)  float32 "
            f"{m['component32']:6.2f} -> {m['pair32']:6.2f} ms ({m['pair32'] / m['component32']:.2f}x)"
        )
