"""GridSearchCV over n_components on iris: n_jobs=1, threads, and processes (loky).

Run: ``python benchmarks/bench_grid_search.py``. In one process, in this order: n_jobs=1 (pays
this process's TensorFlow import and traces), the threading backend with 2 jobs (warm), and loky
processes with 2 jobs (each worker imports TensorFlow and traces).
"""

import sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from skbgmm import VariationalGMM
X = load_iris().data
grid = {"n_components": [1, 2, 3, 4, 5]}
for n_jobs, backend in [(1, None), (2, "threading"), (2, "loky")]:
    from joblib import parallel_backend
    t = time.perf_counter()
    if backend:
        with parallel_backend(backend, n_jobs=n_jobs):
            GridSearchCV(VariationalGMM(random_state=0), grid, cv=3, n_jobs=n_jobs).fit(X)
    else:
        GridSearchCV(VariationalGMM(random_state=0), grid, cv=3, n_jobs=n_jobs).fit(X)
    print(n_jobs, backend, f"{time.perf_counter() - t:.2f} s")
