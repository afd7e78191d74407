"""GridSearchCV over n_components on iris: n_jobs=1, threads, and processes (loky).

Run: ``python benchmarks/bench_grid_search.py``. In one process, in this order: n_jobs=1 (pays
this process's TensorFlow import and traces), the threading backend with 2 jobs (warm), and loky
processes with 2 jobs (each worker imports TensorFlow and traces).
"""

import time
import warnings

from joblib import parallel_backend
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV

from skbgmm import VariationalGMM


def main():
    warnings.simplefilter("ignore")
    X = load_iris().data
    grid = {"n_components": [1, 2, 3, 4, 5]}
    for n_jobs, backend in [(1, "sequential"), (2, "threading"), (2, "loky")]:
        t = time.perf_counter()
        with parallel_backend(backend, n_jobs=n_jobs):
            GridSearchCV(VariationalGMM(random_state=0), grid, cv=3, n_jobs=n_jobs).fit(X)
        print(f"n_jobs={n_jobs} {backend:10s} {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
