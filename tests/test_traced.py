"""The traced functions' fast calling path gives what tf.function gives, and falls back cleanly."""

import types

import numpy as np
import pytest
import tensorflow as tf

from skbgmm._svi._family_shapes import covariance_shapes
from skbgmm._svi._functions import functions
from skbgmm._svi._records import Config, Frame, Prior, Stats, frozen, to_numpy


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
    args = (
        X.T,  # (a step takes the points as columns)
        w,
        frame,
        prior,
        1e-6,
        stats,
        stats,
        False,
        np.array([[0, 1]], np.int32),
        np.int32(2),
    )
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
def test_memo_elbo_of_proposals_from_a_table_equals_each_proposal_evaluated_whole(
    cov_type, weights
):
    # the moves' ELBO evaluates each component of a table once and sums gathered terms per
    # proposal ('tied' shares its covariance and loops over whole proposals); the reference is
    # each proposal's statistics, gathered here, evaluated whole by the one-proposal loop
    fns = functions(Config(cov_type, weights))
    shapes = covariance_shapes(cov_type)
    rng = np.random.RandomState(1)
    n, d, k, b = 80, 3, 5, 9
    X, w = rng.randn(n, d), rng.uniform(0.5, 1.5, n)
    frame = Frame(rng.randn(d), rng.uniform(0.5, 2.0, d))
    cov = {"full": np.eye(d), "tied": np.eye(d), "diag": np.ones(d), "spherical": 1.0}[cov_type]
    prior = Prior(0.1, 1.0, np.zeros(d), float(d), np.asarray(cov))
    parts = [to_numpy(fns.batch_stats(X, w, rng.dirichlet(np.ones(k), n), frame)) for _ in range(3)]
    parts.append(shapes.empty_component(parts[0]))
    table = shapes.components_table(parts)
    m = table.nk.shape[0]
    members = np.stack([rng.choice(m, k, replace=False) for _ in range(b - 1)] + [np.arange(k)])
    members[:3, -2:] = m - 1  # proposals with two empty components (two merges)
    members = members.astype(np.int32)
    entropy = rng.uniform(0, 50, b)
    values = np.asarray(fns.memo_elbo(frame, prior, 1e-6, table, members, entropy))
    whole = []
    for index, h in zip(members, entropy):
        st = Stats(table.nk[index], table.s1[index], table.s2 if shapes.shared else table.s2[index])
        one = fns.memo_elbo_loop(frame, prior, 1e-6, st, np.arange(k, dtype=np.int32)[None], [h])
        whole.append(float(np.asarray(one)[0]))
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, whole, rtol=1e-12)
    # the values differ between proposals: the test compares something
    assert np.ptp(values) > 1.0


@pytest.mark.parametrize("cov_type", ["full", "tied"])
@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("holes", [False, True])
def test_a_pass_checks_an_overrelaxed_point_and_falls_back_to_its_plain_update(
    cov_type, single, holes
):
    # over-relaxed points are validated by the step that evaluates them (no call of their own):
    # an invalid one (scatter not positive definite) gives exactly the step at the fallback
    from skbgmm._svi._trainer import Candidate, chunk_step

    config = Config(cov_type, "dirichlet_process")
    fns = functions(config)
    rng = np.random.RandomState(3)
    n, d, k = 60, 3, 4
    X, w = rng.randn(n, d), rng.uniform(0.5, 1.5, n)
    if holes:
        X[rng.rand(n, d) < 0.2] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 0.0
    frame = Frame(np.zeros(d), np.ones(d))
    prior = Prior(0.1, 1.0, np.zeros(d), float(d), np.eye(d))
    Xf = np.where(np.isnan(X), 0.0, X)
    stats = to_numpy(fns.batch_stats(Xf, w, rng.dirichlet(np.ones(k), n), frame))
    other = to_numpy(fns.batch_stats(Xf, w, rng.dirichlet(np.ones(k), n), frame))
    bad = stats._replace(s2=-5.0 * stats.s2)  # far outside the cone

    def valid(point):  # (the move round's planning call checks a point the same way)
        return bool(fns.mean_distances(frame, prior, 1e-6, point, stats, True)[1])

    assert not valid(bad) and valid(other)

    def step(point):
        return chunk_step(X, w, config, frame, prior, 1e-6, point, single)

    def same(a, b):
        for x, y in zip(tf.nest.flatten(a[:6]), tf.nest.flatten(b[:6])):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

    plain = step(stats)
    assert plain[6] is True
    fell_back = step(Candidate(bad, stats))
    assert fell_back[6] is False
    same(fell_back, plain)
    taken = step(Candidate(other, stats))
    assert taken[6] is True
    same(taken, step(other))


def test_a_fit_without_moves_makes_one_traced_call_per_pass(monkeypatch):
    # every over-relaxed point of a full-covariance fit is checked inside the pass that
    # evaluates it: no call of its own (the fit used to make one per extrapolation)
    from skbgmm import VariationalGMM
    from skbgmm._svi import _functions, _trainer

    X = np.random.RandomState(0).randn(300, 3)
    X[:150] += 3.0
    VariationalGMM(n_components=4, moves=False, random_state=0).fit(X)  # (traces)
    calls, candidates = [], []
    call, full_pass = _functions._Traced.__call__, _trainer._full_pass

    def counting(self, *args):
        calls.append(self._fn.__name__)
        return call(self, *args)

    def recording(config, source, frame, prior, reg, stats, *args, **kw):
        candidates.append(isinstance(stats, _trainer.Candidate))
        return full_pass(config, source, frame, prior, reg, stats, *args, **kw)

    monkeypatch.setattr(_functions._Traced, "__call__", counting)
    monkeypatch.setattr(_trainer, "_full_pass", recording)
    gmm = VariationalGMM(n_components=4, moves=False, random_state=0).fit(X)
    assert gmm.converged_
    assert sum(candidates) >= 2  # the fit did over-relax
    # the initial statistics, one step per pass, the final posterior
    steps = calls.count("_step") + calls.count("_step_by_pair")  # (its two variants)
    assert steps == gmm.n_iter_ == len(candidates)
    assert len(calls) == gmm.n_iter_ + 2, calls


def test_a_reused_argument_is_converted_once_only_when_it_cannot_change(monkeypatch):
    # a fit's frame and prior are frozen and converted once; an array that can change (a
    # caller's, mutated in place between calls) is converted on every call
    from skbgmm._svi import _functions as functions_module

    fns = functions(Config("full", "dirichlet_process"))
    rng = np.random.RandomState(0)
    n, d, k = 40, 2, 3
    X, w = rng.randn(n, d), np.ones(n)
    resp = rng.dirichlet(np.ones(k), n)
    frame = frozen(Frame(np.zeros(d), np.ones(d)))
    stats = Stats(*(np.asarray(s) for s in fns.batch_stats(X, w, resp, frame)))
    converted = []
    to_tensor = functions_module._to_tensor

    def counting(value, spec):
        converted.append(value)
        return to_tensor(value, spec)

    monkeypatch.setattr(functions_module, "_to_tensor", counting)

    def fresh(prior):  # (a call of the tf.function itself, nothing kept)
        return to_numpy(fns.posterior.function(Frame(np.zeros(d), np.ones(d)), prior, 1e-6, stats))

    prior = frozen(Prior(0.1, 1.0, np.zeros(d), float(d), np.eye(d)))
    fns.posterior(frame, prior, 1e-6, stats)
    converted.clear()
    out = to_numpy(fns.posterior(frame, prior, 1e-6, stats))
    assert not any(v is a for v in converted for a in (*frame, *prior))  # kept
    np.testing.assert_array_equal(out.means, fresh(prior).means)

    mean = np.zeros(d)  # a caller's array: changed in place between two calls
    open_prior = prior._replace(mean=mean)
    first = to_numpy(fns.posterior(frame, open_prior, 1e-6, stats))
    mean += 5.0
    second = to_numpy(fns.posterior(frame, open_prior, 1e-6, stats))
    assert not np.allclose(first.means, second.means)
    np.testing.assert_allclose(second.means, fresh(open_prior).means, rtol=1e-12)
    # the same statistics as point and fallback in one step: converted once, the same step
    converted.clear()
    args = (X.T, w, frame, prior, 1e-6, stats, stats, np.bool_(False), np.zeros((0, 2), np.int32))
    fns.step(*args, np.int32(-1))
    assert sum(v is stats.s2 for v in converted) == 1


def _node_scopes(concrete):
    """The nodes of a concrete function's graph, then of each function it calls (cond
    branches), one list per graph (node names are unique within a graph only)."""
    graph_def = concrete.graph.as_graph_def()
    yield list(graph_def.node)
    for function in graph_def.library.function:
        yield list(function.node_def)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_traced_functions_build_no_slice_that_only_adds_an_axis_or_reads_one_dimension(cov_type):
    # trace time and the first call grow with the nodes a graph holds: ``x[:, None]`` is four
    # nodes where ``tf.expand_dims`` is two, and ``tf.shape(x)[i]`` five where ``dim`` is two
    fns = functions(Config(cov_type, "dirichlet_process"))
    names = ["step", "step_missing", "memo_elbo", "mean_distances", "posterior", "log_resp"]
    names += ["log_density", "log_density_missing", "distances", "batch_stats"]
    names += ["step_pairs"] if cov_type == "full" else []
    for name in names:
        for nodes in _node_scopes(getattr(fns, name).get_concrete_function()):
            ops = {node.name: node.op for node in nodes}
            for node in nodes:
                if node.op != "StridedSlice" or node.name.startswith("map/"):
                    continue  # (tf.map_fn's own bookkeeping reads its input's length)
                assert node.attr["new_axis_mask"].i == 0, (name, node.name)
                one_dimension = node.attr["shrink_axis_mask"].i != 0
                source = node.input[0].split(":")[0]
                assert not (one_dimension and ops.get(source) == "Shape"), (name, node.name)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("weights", ["dirichlet_process", "dirichlet_distribution"])
def test_traced_functions_hold_no_stateful_operation(cov_type, weights):
    # they are traced without automatic control dependencies, which only order stateful
    # operations (variables, random draws, prints): one added here would need them back
    from tensorflow.python.framework import op_def_registry

    from skbgmm._svi._functions import _Traced

    fns = functions(Config(cov_type, weights))
    traced = {name: f for name, f in vars(fns).items() if isinstance(f, _Traced)}
    assert len(traced) >= 15
    for name, f in traced.items():
        assert f.function._attributes.get("_disable_acd") is True
        for nodes in _node_scopes(f.get_concrete_function()):
            stateful = [n.op for n in nodes if op_def_registry.get(n.op).is_stateful]
            assert not stateful, (name, stateful)


def test_arguments_are_host_tensors_outside_a_device_scope_and_follow_one_inside():
    # outside a ``tf.device`` scope an argument is made in host memory without the placing op
    # TensorFlow would run for an empty device name; inside one it goes where the scope says;
    # either way a copy of the caller's array, and a fit gives the same result
    from skbgmm import VariationalGMM
    from skbgmm._svi._functions import _Spec, _to_tensor

    spec = _Spec(tf.TensorSpec([None, None], tf.float64))
    buffer = np.zeros(64 * 8 + 6)
    for offset in range(8):  # (TensorFlow shares an aligned buffer: one of these is aligned)
        value = buffer[offset : offset + 6].reshape(2, 3)
        value[:] = np.arange(6.0).reshape(2, 3)
        outside = _to_tensor(value, spec)
        with tf.device("/CPU:0"):
            inside = _to_tensor(value, spec)
        for t in (outside, inside):
            assert t.dtype == tf.float64 and t.device.endswith("CPU:0")
            np.testing.assert_array_equal(t.numpy(), value)
        value[0, 0] = 100.0  # (the tensors hold copies)
        assert outside.numpy()[0, 0] == 0.0 and inside.numpy()[0, 0] == 0.0, offset
    assert _to_tensor(np.float64(2.0), _Spec(tf.TensorSpec([], tf.float64))).numpy() == 2.0

    X = np.random.RandomState(1).randn(200, 2)
    X[:100] += 4.0
    plain = VariationalGMM(n_components=3, random_state=0).fit(X)
    with tf.device("/CPU:0"):
        scoped = VariationalGMM(n_components=3, random_state=0).fit(X)
    np.testing.assert_array_equal(plain.means_, scoped.means_)
    np.testing.assert_array_equal(plain.lower_bounds_, scoped.lower_bounds_)


def test_calls_run_by_the_executor_directly_are_the_concrete_functions_calls(monkeypatch):
    # every traced call of a fit (with moves, missing entries, a prediction) runs the function by
    # the executor directly; forcing each through the concrete function's own call gives
    # exactly the same fit and predictions
    from skbgmm import VariationalGMM
    from skbgmm._svi import _functions

    X = np.random.RandomState(2).randn(300, 3)
    X[:150] += 4.0
    X[::17, 1] = np.nan

    def fit():
        gmm = VariationalGMM(n_components=5, random_state=0).fit(X)
        return gmm, gmm.score_samples(X), gmm.predict_proba(X)

    def traced_objects():
        return [
            f
            for fns in _functions._CACHE.values()
            for f in vars(fns).values()
            if isinstance(f, _functions._Traced)
        ]

    fit()  # (traces)
    direct_calls = []
    lookup = _functions._direct_call

    def counting_lookup(concrete):
        found = lookup(concrete)
        assert found is not None

        def run(*args):
            direct_calls.append(args[0])
            return found.execute(*args)

        return found._replace(execute=run)

    for f in traced_objects():
        f._direct = False
    monkeypatch.setattr(_functions, "_direct_call", counting_lookup)
    gmm, score, proba = fit()
    assert len(direct_calls) >= gmm.n_iter_ + 2

    monkeypatch.setattr(_functions, "_direct_call", lambda concrete: None)
    for f in traced_objects():
        f._direct = False
    other, other_score, other_proba = fit()
    np.testing.assert_array_equal(gmm.lower_bounds_, other.lower_bounds_)
    np.testing.assert_array_equal(gmm.means_, other.means_)
    np.testing.assert_array_equal(score, other_score)
    np.testing.assert_array_equal(proba, other_proba)


@pytest.mark.parametrize("n_rows", [600, 70_000])  # (float64 passes; float32 passes then float64)
def test_second_moments_by_pair_or_by_component_give_the_same_fit(monkeypatch, n_rows):
    # 'full' with at least as many components as features takes the step whose second moments
    # come from products of pairs of features: the same fit, moves included, as by component
    from sklearn.datasets import make_blobs

    from skbgmm import VariationalGMM
    from skbgmm._svi import _families, _functions

    X, _ = make_blobs(n_rows, 3, centers=3, cluster_std=1.5, random_state=0)
    fits, used = {}, []
    step_for = _functions.Functions.step_for

    def recording(self, single, n_components, n_features, pooled=False):
        step = step_for(self, single, n_components, n_features, pooled)
        used.append(step._fn.__name__)
        return step

    monkeypatch.setattr(_functions.Functions, "step_for", recording)
    for by_pair in (True, False):
        choice = staticmethod(lambda k, d, b=by_pair: b)
        monkeypatch.setattr(_families.Full, "pair_moments_faster", choice)
        used.clear()
        gmm = VariationalGMM(n_components=6, random_state=0).fit(X)
        assert set(used) == {"_step_by_pair" if by_pair else "_step"}
        fits[by_pair] = gmm
    a, b = fits[True], fits[False]
    assert a.n_iter_ == b.n_iter_ and a.n_moves_ == b.n_moves_
    # (float64 rows: rounding apart; float32 passes round their sums at ~1e-7 either way)
    tol = 1e-9 if n_rows < 65536 else 1e-6
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=tol)
    for x, y in ((a.means_, b.means_), (a.covariances_, b.covariances_)):
        np.testing.assert_allclose(x, y, rtol=0, atol=10 * tol * np.abs(y).max())
