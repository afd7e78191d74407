"""The traced functions' fast calling path gives what tf.function gives, and falls back cleanly."""

import types

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
    # the tf.function's own calling path (taken when the concrete function has no _call_flat),
    # with the same call options
    concrete = fns.step._concrete
    fns.step._concrete = types.SimpleNamespace(captured_inputs=concrete.captured_inputs)
    try:
        slow = fns.step(*args)
    finally:
        fns.step._concrete = concrete
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


def test_calls_run_without_grappler_and_restore_the_threads_call_options(monkeypatch):
    # our graphs are run with grappler off (a first fit's ~0.2 s, no warm gain) through this
    # thread's call options, which are back as they were after every call, even one that fails
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    from skbgmm._svi import _functions

    options = context.context().function_call_options
    before = options.config_proto_serialized
    seen = []
    inner = _functions._Traced._call

    def recording(self, *args):
        seen.append(context.context().function_call_options.config_proto_serialized)
        return inner(self, *args)

    monkeypatch.setattr(_functions._Traced, "_call", recording)
    fns = functions(Config("diag", "dirichlet_process"))
    d = 2
    frame = Frame(np.zeros(d), np.ones(d))
    prior = Prior(0.1, 1.0, np.zeros(d), 2.0, np.ones(d))
    stats = Stats(np.ones(2), np.zeros((2, d)), np.ones((2, d)))
    fns.distances(np.zeros((3, d)), frame, prior, 1e-6, stats)
    with pytest.raises((TypeError, ValueError)):
        fns.distances(np.zeros(3), frame, prior, 1e-6, stats)
    assert context.context().function_call_options.config_proto_serialized == before
    assert len(seen) == 2
    for serialized in seen:
        config = config_pb2.ConfigProto()
        config.ParseFromString(serialized)
        assert config.graph_options.rewrite_options.disable_meta_optimizer
    # a function of the user's is called with the user's options
    assert not config_pb2.ConfigProto.FromString(
        before
    ).graph_options.rewrite_options.disable_meta_optimizer


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("weights", ["dirichlet_process", "dirichlet_distribution"])
def test_vectorised_memo_elbo_equals_the_loop(cov_type, weights, monkeypatch):
    # the moves' batched ELBO: a process's first calls loop over the proposals, later ones use
    # tf.vectorized_map over the same function of one proposal; both give the same values
    fns = functions(Config(cov_type, weights))
    rng = np.random.RandomState(1)
    n, d, k, b = 80, 3, 5, 7
    X, w = rng.randn(n, d), rng.uniform(0.5, 1.5, n)
    frame = Frame(rng.randn(d), rng.uniform(0.5, 2.0, d))
    cov = {"full": np.eye(d), "tied": np.eye(d), "diag": np.ones(d), "spherical": 1.0}[cov_type]
    prior = Prior(0.1, 1.0, np.zeros(d), float(d), np.asarray(cov))
    batch = [fns.batch_stats(X, w, rng.dirichlet(np.ones(k), n), frame) for _ in range(b)]
    stats = Stats(*(np.stack([np.asarray(s[i]) for s in batch]) for i in range(3)))
    entropy = rng.uniform(0, 50, b)
    args = (frame, prior, 1e-6, stats, entropy)
    loop = np.asarray(fns._memo_loop(*args))
    vectorised = np.asarray(fns._memo_vectorized(*args))
    assert np.all(np.isfinite(loop))
    np.testing.assert_allclose(vectorised, loop, rtol=1e-12)
    # memo_elbo switches from the loop to the vectorised version after a process's first calls
    used = []
    monkeypatch.setattr(fns, "_memo_calls", 0)
    monkeypatch.setattr(fns, "_memo_loop", lambda *a: used.append("loop"))
    monkeypatch.setattr(fns, "_memo_vectorized", lambda *a: used.append("vectorised"))
    for _ in range(fns.VECTORIZE_MEMO_AFTER + 2):
        fns.memo_elbo(*args)
    assert used == ["loop"] * fns.VECTORIZE_MEMO_AFTER + ["vectorised"] * 2
