"""The traced functions' fast calling path gives what tf.function gives, and falls back cleanly."""

import numpy as np
import pytest
import tensorflow as tf

from skbgmm._svi._functions import functions
from skbgmm._svi._records import Config, Frame, Prior, Stats


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_fast_call_equals_tf_function_call(cov_type):
    fns = functions(Config(cov_type, "dirichlet_process"))
    rng = np.random.RandomState(0)
    n, d, k = 50, 3, 4
    X, w = rng.randn(n, d), rng.uniform(0.5, 1.5, n)
    frame = Frame(np.zeros(d), np.ones(d))
    cov = {"full": np.eye(d), "tied": np.eye(d), "diag": np.ones(d), "spherical": 1.0}[cov_type]
    prior = Prior(0.1, 1.0, np.zeros(d), float(d), np.asarray(cov))
    stats = Stats(
        *(np.asarray(s) for s in fns.batch_stats(X, w, rng.dirichlet(np.ones(k), n), frame))
    )
    args = (X, w, frame, prior, 1e-6, stats, np.array([[0, 1]], np.int32), np.int32(2))
    fast = fns.step(*args)
    slow = fns.step.function(*args)
    for a, b in zip(tf.nest.flatten(fast), tf.nest.flatten(slow)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_argument_of_the_wrong_rank_raises_tf_functions_error():
    fns = functions(Config("diag", "dirichlet_process"))
    d = 2
    frame = Frame(np.zeros(d), np.ones(d))
    with pytest.raises((TypeError, ValueError)):
        fns.distances(
            np.zeros(3),
            frame,
            Prior(0.1, 1.0, np.zeros(d), 2.0, np.ones(d)),
            1e-6,
            Stats(np.ones(2), np.zeros((2, d)), np.ones((2, d))),
        )
