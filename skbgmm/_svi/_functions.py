"""Traced TensorFlow functions, one set per static configuration.

Every function takes tensors with unknown sample, feature and component dimensions, so a
configuration is traced once per process whatever the data's shape: refitting, cross-validation
and ``check_estimator`` reuse the same graphs.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from . import _model
from ._families import DTYPE
from ._observed import observed_block
from ._records import Config, Frame, Posterior, Prior, Stats, is_frozen
from ._tf import dim, tf


class _Traced:
    """A ``tf.function`` with a fixed input signature, called without its per-call binding.

    Traced without AutoGraph: the traced code has no data-dependent Python control flow
    (``tf.cond`` and ``tf.map_fn`` are explicit), and AutoGraph's conversion of the source was
    most of the first trace (1.3 s of the step's 1.4 s on this machine).

    A fixed signature has exactly one concrete function. Calling the ``tf.function`` binds and
    checks every argument against the signature on every call, about three quarters of a small
    step's cost (1.0 ms of 1.3 ms for 150 rows); the concrete function is called here with the
    flattened arguments converted to the signature's dtypes (ranks checked), through
    ``ConcreteFunction._call_flat``. Where that is unavailable, inside a ``tf.distribute``
    strategy, or when an argument does not fit, the ``tf.function`` is called as usual (and
    raises its own error for a bad argument). An argument that cannot change (a scalar, or an
    array the trainer froze: its frame and prior) is converted once and its tensor reused while
    the same object comes back, and an object passed twice in one call is converted once.

    The concrete function's own call (``_call_flat``) passes through several layers of Python
    (tape and graph checks, three context managers, output bookkeeping): ~55 us of a small
    step's ~1 ms. Where TensorFlow's internals allow it (:func:`_direct_call`), the function
    is run by the executor directly, with the attributes its own call would give it (this
    thread's call options), and the outputs packed by the function's own type; inside a
    cancellation context, or when the internals differ, ``_call_flat`` is used.
    """

    def __init__(self, fn, input_signature):
        self._fn, self._signature = fn, input_signature
        self._function = self._specs = self._concrete = self._kept = None
        self._direct = False  # (not looked up yet)

    @property
    def function(self):
        """The ``tf.function``, made on first use (making one costs ~18 ms; a configuration
        has 15 and a fit uses about 7).

        Traced without automatic control dependencies (``_disable_acd``): they order stateful
        operations (variables, prints, random draws), and these functions have none, but the
        pass that looks for them visits every node of every graph and its branches, about a
        tenth of a trace (the full family's step 0.37 -> 0.31 s, its moves' ELBO 0.16 -> 0.14
        s); the graphs are the same.
        """
        if self._function is None:
            options = dict(input_signature=self._signature, autograph=False)
            try:
                function = tf.function(
                    self._fn, experimental_attributes={"_disable_acd": True}, **options
                )
            except ValueError:  # (a TensorFlow that does not take the attribute)
                function = tf.function(self._fn, **options)
            self._function = function
            self._specs = [_Spec(s) for s in tf.nest.flatten(self._signature)]
        return self._function

    def get_concrete_function(self):
        return self.function.get_concrete_function()

    def experimental_get_tracing_count(self):
        return self.function.experimental_get_tracing_count()

    def __call__(self, *args):
        options = _call_options()
        if options is None:
            return self._call(*args)
        saved = options._config_proto_serialized
        options._config_proto_serialized = _without_grappler(saved)
        try:
            return self._call(*args)
        finally:
            options._config_proto_serialized = saved

    def _call(self, *args):
        if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
            return self.function(*args)
        if self._concrete is None:
            self._concrete = self.function.get_concrete_function()
        call = getattr(self._concrete, "_call_flat", None)
        flat = tf.nest.flatten(args)
        if call is None or len(flat) != len(self._specs):
            return self.function(*args)
        kept = self._kept
        if kept is None:
            kept = self._kept = [None] * len(self._specs)
        tensors = []
        made = {}
        for i, (value, spec) in enumerate(zip(flat, self._specs)):
            hit = kept[i]
            if hit is not None and hit[0] is value:
                tensors.append(hit[1])  # (the same unchangeable value as last call)
                continue
            key = (id(value), spec.enum, spec.rank)
            t = made.get(key)  # (the same object twice in one call: statistics as fallback)
            if t is None:
                t = _to_tensor(value, spec)
                if t is None:
                    return self.function(*args)
                made[key] = t
            if _unchangeable(value):
                kept[i] = (value, t)
            tensors.append(t)
        direct = self._direct
        if direct is False:
            direct = self._direct = _direct_call(self._concrete)
        if direct is not None and direct.cancellation.context() is None:
            attrs = tuple(itertools.chain(*_CONTEXT.function_call_options.as_attrs().items()))
            tensors.extend(self._concrete.captured_inputs)
            return direct.pack(
                direct.execute(direct.name, direct.n_outputs, tensors, attrs, _CONTEXT)
            )
        return call(tensors, self._concrete.captured_inputs)


class _Direct(NamedTuple):
    name: str
    n_outputs: int
    pack: object  # flat outputs -> the function's structured outputs
    execute: object  # TensorFlow's ``quick_execute``
    cancellation: object  # TensorFlow's cancellation module


def _direct_call(concrete):
    """What running ``concrete`` by the executor directly needs, or None where TensorFlow's
    internals are not the ones this was written for (or an output carries handle data, which
    ``_call_flat`` would set)."""
    try:
        from tensorflow.python.eager import cancellation, execute

        function = concrete._inference_function
        outputs = function.function_type.flat_outputs
        if _CONTEXT is None or any(o.dtype._handle_data for o in outputs):
            return None
        return _Direct(
            function.name.decode("utf-8"),
            len(outputs),
            function.function_type.pack_output,
            execute.quick_execute,
            cancellation,
        )
    except (ImportError, AttributeError):
        return None


def _eager_tensor_type():
    try:
        from tensorflow.python.eager import context
        from tensorflow.python.framework.ops import EagerTensor

        ctx = context.context()
        ctx.ensure_initialized()
        return EagerTensor, ctx
    except (ImportError, AttributeError):  # (another TensorFlow's internals)
        return None, None


_EAGER_TENSOR, _CONTEXT = _eager_tensor_type()


def _call_options():
    """This thread's options for calls of traced functions (None: another TensorFlow)."""
    if _CONTEXT is None:
        return None
    options = _CONTEXT.function_call_options
    return options if hasattr(options, "_config_proto_serialized") else None


_WITHOUT_GRAPPLER = {}

#: a delete proposal recomputes the responsibilities of the rows whose responsibility for the
#: deleted component exceeds this; the others' statistics would change by less, relatively
DELETE_TOL = 1e-14
#: ... when there are this many rows at least: on fewer, recomputing every row costs no more
#: than picking some (iris, 120 rows: fits 1.04x the old time picking, 1.00x recomputing all,
#: both against the old code in one process)
DELETE_MIN_ROWS = 256
#: when more than half the rows are above ``DELETE_TOL`` (a candidate that overlaps most of the
#: data), only the rows whose responsibility for it exceeds this are recomputed from their
#: log-responsibilities; every other row's handover ``r_nj / (1 - r_nd)`` is computed from its
#: responsibilities directly (``1 - r_nd`` is at least a half there, so nothing cancels) and its
#: statistics' change accumulated in one more product over all rows (sharing the step's products
#: of pairs of features): exact like recomputing
#: every row, at a fraction of the row-wise work (1M x 10 blobs, K=10, 'full', float32: a
#: tenth of the rows above, 79-97% above ``DELETE_TOL``)
DELETE_OWNED = 0.5


def _without_grappler(serialized):
    """The call's configuration with grappler's graph optimisation off (cached per input).

    A function's graph is optimised by grappler when it is first run, with the configuration
    its call carries: ~0.1-0.2 s of a first fit (``benchmarks/bench_first_fit.py``), for no
    measured gain on these graphs (steps on 150 and 20,971 rows, float32 and float64, with and
    without move terms, both instantiations in one process, alternating calls: 0.96-1.02x the
    optimised time). The configuration is this thread's call options for the duration of one
    call of ours, so neither the user's global TensorFlow configuration nor the user's own
    functions are touched.
    """
    out = _WITHOUT_GRAPPLER.get(serialized)
    if out is None:
        from tensorflow.core.protobuf import config_pb2

        config = config_pb2.ConfigProto()
        if serialized:
            config.ParseFromString(serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        out = _WITHOUT_GRAPPLER[serialized] = config.SerializeToString(deterministic=True)
    return out


class _Spec:
    """What the fast path needs of a ``tf.TensorSpec``: rank, dtype and its NumPy twin."""

    __slots__ = ("rank", "dtype", "numpy_dtype", "enum", "floating")

    def __init__(self, spec):
        self.rank, self.dtype = spec.shape.rank, spec.dtype
        self.numpy_dtype, self.enum = spec.dtype.as_numpy_dtype, spec.dtype.as_datatype_enum
        self.floating = spec.dtype.is_floating


def _to_tensor(value, spec):
    """``tf.convert_to_tensor(value, spec.dtype)``, or None when its rank is not the spec's.

    A NumPy array (or scalar) of the spec's dtype, or a Python float, becomes an EagerTensor
    directly (what ``convert_to_tensor`` ends up doing, after ~7 us of conversion-registry
    lookups per argument; a step takes a dozen arguments), its rank read from NumPy rather than
    from the tensor's shape object (~3 us more). TensorFlow may share the memory of an array it
    is given (it does when the buffer is suitably aligned), so a writeable array is copied
    first and a tensor never follows a later change of the caller's array; a read-only one
    (the trainer's frozen arrays) is handed over as it is. Anything else takes the general
    path.

    Outside a ``tf.device`` scope (the context's device name is empty) the tensor is made in
    host memory directly: given the empty name, TensorFlow runs an ``_EagerConst`` op to place
    it (~7 us against ~1.3 us here; ten arguments a step). A traced call copies its inputs to
    the function's device either way; inside a scope the tensor is placed as TensorFlow would.
    """
    if _EAGER_TENSOR is not None:
        kind = type(value)
        if kind is np.ndarray or isinstance(value, np.generic):
            if value.dtype == spec.numpy_dtype:
                if value.ndim != spec.rank:
                    return None
                v = value.copy() if kind is np.ndarray and value.flags.writeable else value
                return _EAGER_TENSOR(v, _CONTEXT.device_name or None, spec.enum)
        elif kind is float and spec.floating:
            if spec.rank != 0:
                return None
            return _EAGER_TENSOR(value, _CONTEXT.device_name or None, spec.enum)
    t = tf.convert_to_tensor(value, dtype=spec.dtype)
    return t if t.shape.rank == spec.rank else None


def _unchangeable(value) -> bool:
    """Whether ``value`` cannot change between calls: a scalar, or a frozen array."""
    kind = type(value)
    if kind is float or isinstance(value, np.generic):
        return True
    return kind is np.ndarray and is_frozen(value)


def _traced(fn, input_signature):
    return _Traced(fn, input_signature)


def _spec(rank):
    return tf.TensorSpec([None] * rank, DTYPE)


class Functions:
    """The traced functions of one :class:`Config`."""

    def __init__(self, config: Config):
        self.config = config
        self.fam, self.wp = fam, wp = _model.families(config)
        x_spec, vec = _spec(2), _spec(1)
        frame = Frame(vec, vec)
        prior = Prior(_spec(0), _spec(0), vec, _spec(0), _spec(fam.prior_rank))
        stats = Stats(vec, _spec(2), _spec(fam.s2_rank))
        post = Posterior(
            _spec(wp.concentration_rank),
            vec,
            _spec(2),
            vec,
            _spec(fam.cov_rank),
            _spec(fam.cov_rank),
        )
        pairs = tf.TensorSpec([None, 2], tf.int32)
        delete = tf.TensorSpec([], tf.int32)
        # (points as columns (D, n), weights, then what every step takes: the statistics of the
        # point, the statistics to use instead if those are not a proper posterior and
        # ``check`` is set, move terms)
        check = tf.TensorSpec([], tf.bool)
        step_args = [frame, prior, _spec(0), stats, stats, check, pairs, delete]
        # minibatch steps: per-point arithmetic in float32 (see the trainer's module docstring);
        # 'full' with at least as many components as features: second moments by pair of
        # features; dead components as one column (:func:`._model.computed_components`): the
        # variants of ``step_for``, each traced only if a fit uses it
        f32 = tf.TensorSpec([None, None], tf.float32)
        self._steps = {}
        for single, x in ((False, x_spec), (True, f32)):
            for by_pair in (False, True) if hasattr(fam, "pair_second_moments") else (False,):
                for pooled in (False, True):
                    fn = self._step_variant(by_pair, pooled)
                    variant = _traced(fn, input_signature=[x, vec, *step_args])
                    self._steps[single, by_pair, pooled] = variant
        self.step, self.step32 = self._steps[False, False, False], self._steps[True, False, False]
        if hasattr(fam, "pair_second_moments"):
            self.step_pairs = self._steps[False, True, False]
            self.step32_pairs = self._steps[True, True, False]
        patterns, index = _spec(2), tf.TensorSpec([None], tf.int32)
        missing_signature = [x_spec, patterns, index, vec, *step_args]
        self.step_missing = _traced(self._step_missing, input_signature=missing_signature)
        self.step_missing_pooled = _traced(
            self._step_missing_pooled, input_signature=missing_signature
        )
        self.log_resp_missing = _traced(
            self._log_resp_missing, input_signature=[x_spec, patterns, index, post]
        )
        self.log_density_missing = _traced(
            self._log_density_missing, input_signature=[x_spec, patterns, index, post, vec]
        )
        self.conditional = _traced(
            self._conditional, input_signature=[x_spec, patterns, index, post, vec]
        )
        self.distances_missing = _traced(
            self._distances_missing,
            input_signature=[x_spec, patterns, index, frame, prior, _spec(0), stats],
        )
        members = tf.TensorSpec([None, None], tf.int32)
        memo_signature = [frame, prior, _spec(0), stats, members, vec]
        self.memo_elbo = _traced(self._memo_elbo, input_signature=memo_signature)
        # (every family, one proposal at a time: the reference the decomposed version is tested
        # against, and the moves' ELBO of 'tied')
        self.memo_elbo_loop = _traced(self._memo_elbo_loop, input_signature=memo_signature)
        self.posterior = _traced(self._posterior, input_signature=[frame, prior, _spec(0), stats])
        self.batch_stats = _traced(
            self._batch_stats, input_signature=[x_spec, vec, _spec(2), frame]
        )
        self.log_resp = _traced(self._log_resp, input_signature=[x_spec, post])
        self.log_density = _traced(self._log_density, input_signature=[x_spec, post, vec])
        self.distances = _traced(
            self._distances, input_signature=[x_spec, frame, prior, _spec(0), stats]
        )
        self.mean_distances = _traced(
            self._mean_distances,
            input_signature=[frame, prior, _spec(0), stats, stats, tf.TensorSpec([], tf.bool)],
        )

    def step_for(self, single, n_components, n_features, pooled=False):
        """The step for rows of ``n_features`` and ``n_components`` (float32 if ``single``;
        ``pooled``: the dead components as one column, which pays for its ~400 more graph
        nodes only where the rows' work per component is large)."""
        by_pair = self.fam.pair_moments_faster(n_components, n_features)
        return self._steps[bool(single), by_pair, bool(pooled)]

    def _step_variant(self, by_pair, pooled):
        """:meth:`_step` with ``by_pair`` and ``pooled`` set, named for them."""

        def step(X_t, w, frame, prior, reg_covar, stats, fallback, check, pairs, delete):
            args = (X_t, w, frame, prior, reg_covar, stats, fallback, check, pairs, delete)
            return self._step(*args, by_pair=by_pair, pooled=pooled)

        step.__name__ = "_step" + ("_by_pair" if by_pair else "") + ("_pooled" if pooled else "")
        return step

    # -- pieces shared by the traced functions --------------------------------------------------
    def _in_frame(self, frame, prior, reg_covar):
        """The prior and ``reg_covar`` in the trainer's frame."""
        prior_z = _model.prior_to_frame(prior, frame.shift, frame.scale, self.fam)
        return prior_z, reg_covar / tf.square(frame.scale)

    def _internal(self, frame, prior, reg_covar, stats):
        prior_z, reg_z = self._in_frame(frame, prior, reg_covar)
        return prior_z, _model.posterior_from_stats(prior_z, reg_z, stats, self.fam, self.wp)

    def _checked(self, frame, prior, reg_covar, stats, fallback, check):
        """``_internal`` at ``stats``, or at ``fallback`` when ``check`` is set and ``stats`` is
        not a proper posterior (an over-relaxed point outside the cone); and which was used.

        The check (:func:`._model.valid_posterior`, without a failing Cholesky factorisation,
        which would log an error) runs only when asked (``tf.cond``), so an extrapolated point
        needs no call of its own to validate it.
        """
        prior_z, reg_z = self._in_frame(frame, prior, reg_covar)
        ok = tf.cond(
            check,
            lambda: _model.valid_posterior(prior_z, reg_z, stats, self.fam),
            lambda: tf.constant(True),
        )
        # (Select with a scalar condition hands one input on; SelectV2 would broadcast the
        # condition and copy element by element, ~8 us per statistic on 142 rows)
        used = Stats(*(tf.raw_ops.Select(condition=ok, x=a, y=b) for a, b in zip(stats, fallback)))
        post_z = _model.posterior_from_stats(prior_z, reg_z, used, self.fam, self.wp)
        return prior_z, post_z, ok, used.nk

    def _computed(self, counts, post_z):
        """The components a step computes (:func:`._model.computed_components`)."""
        n_features = dim(post_z.means, 1)
        return _model.computed_components(counts, post_z, self.fam, self.wp, n_features)

    # -- traced entry points -------------------------------------------------------------------
    def _step(
        self,
        X_t,
        w,
        frame,
        prior,
        reg_covar,
        stats,
        fallback,
        check,
        pairs,
        delete,
        by_pair=False,
        pooled=False,
    ):
        """One SVI local step on a batch: statistics, weighted log-evidence and global KL.

        The batch's points arrive as the columns of ``X_t`` (D, n), the layout its per-point
        maths uses (``_families._Distances``): the trainer lays each chunk out so in the NumPy
        pass that casts it, cheaper than a transpose here.

        Also the terms the moves need, accumulated in the same pass over the rows (and the
        squared distances of :meth:`_mean_distances` at the step's posterior): the weighted
        entropy ``-sum_n w_n r_nk log r_nk`` of each component's responsibilities; for each
        candidate pair ``(i, j)`` of ``pairs`` the entropy of the merged responsibilities
        ``r_ni + r_nj``; and for the component ``delete`` (none when negative) the statistics and
        the entropy of the responsibilities with that component removed and the rows
        reassigned to the others (``r_nj / (1 - r_n,delete)``).

        The step is taken at ``fallback`` instead of ``stats`` when ``check`` is set and
        ``stats`` is not a proper posterior; the last output says whether ``stats`` was used.

        The global quantities are float64; the per-point work runs in X_t's dtype and the batch
        statistics are returned in float64. ``by_pair`` (a variant traced of its own): the
        second moments from products of pairs of features (``Full.pair_second_moments``).
        ``pooled`` (another): the rows' work for the live components and one column for the
        dead ones (:func:`._model.computed_components`), the same statistics and terms.
        """
        dt = X_t.dtype
        Z_t = _model.columns_in_frame(X_t, frame.shift, frame.scale)
        prior_z, post_z, ok, counts = self._checked(frame, prior, reg_covar, stats, fallback, check)
        computed = self._computed(counts, post_z) if pooled else None
        log_resp, log_norm = _model.log_resp_of_columns(Z_t, post_z, self.fam, self.wp, computed)
        w_dt = tf.cast(w, dt)
        # (the products of pairs of features, once for every sum over all the rows)
        products = self.fam.pair_products(Z_t) if by_pair else None

        def stats_of(weighted_resp, rows=None, change=False):
            # a change of the responsibilities (of some rows, or ``change`` of every row):
            # 'tied''s shared second moments (all rows, whichever component) do not depend on
            # them, hence no row weights
            if rows is None:
                weights = tf.zeros_like(w_dt) if change else w_dt
                return _model.sufficient_stats_of_columns(
                    Z_t, weighted_resp, weights, self.fam, by_pair, products
                )
            rows_z = tf.gather(Z_t, rows, axis=1)
            return _model.sufficient_stats_of_columns(
                rows_z, weighted_resp, tf.zeros_like(rows_z[0]), self.fam, by_pair
            )

        out = self._terms(
            w, frame, prior_z, post_z, log_resp, log_norm, stats_of, None, pairs, delete, computed
        )
        return (*out, ok)

    def _step_missing_pooled(
        self, X, patterns, index, w, frame, prior, reg_covar, stats, fallback, check, pairs, delete
    ):
        """:meth:`_step_missing` with the dead components as one column."""
        args = (X, patterns, index, w, frame, prior, reg_covar, stats, fallback, check, pairs)
        return self._step_missing(*args, delete, pooled=True)

    def _step_missing(
        self,
        X,
        patterns,
        index,
        w,
        frame,
        prior,
        reg_covar,
        stats,
        fallback,
        check,
        pairs,
        delete,
        pooled=False,
    ):
        """:meth:`_step` for rows with missing coordinates (NaN), in float64 (``pooled``: as
        there).

        ``patterns`` (P, D) are the rows' missingness patterns (1 where observed) and ``index``
        (n,) each row's pattern. The responsibilities come from the observed coordinates, the
        statistics from the rows completed by each component's conditional law of the missing
        ones, and the entropy of that law (in data units) joins the responsibilities' entropy
        in the ELBO and the move terms, so that the memoized ELBO stays exact.
        """
        observed = tf.gather(patterns, index)
        scaled = (X - frame.shift) / frame.scale
        Z = tf.where(observed > 0.0, scaled, tf.zeros_like(scaled))
        prior_z, post_z, ok, counts = self._checked(frame, prior, reg_covar, stats, fallback, check)
        computed = self._computed(counts, post_z) if pooled else None
        log_resp, log_norm, block, entropy = _model.log_resp_observed(
            Z, patterns, index, post_z, self.fam, self.wp, computed
        )
        log_scale = tf.math.log(frame.scale)
        # in data units the missing coordinates' entropy gains their log scales
        entropy = entropy + tf.expand_dims(tf.linalg.matvec(1.0 - patterns, log_scale), 1)
        log_norm = log_norm + tf.linalg.matvec(1.0 - observed, log_scale)
        n_patterns = dim(patterns, 0)

        def stats_of(weighted_resp, rows=None, change=False):
            # ('tied''s shared second moments are the rows' sums over components: a change of
            # responsibilities that sums to zero in each row leaves them as they are)
            if rows is None:
                return _model.completed_stats(block, weighted_resp, index, n_patterns, self.fam)
            part = block._replace(completed=tf.gather(block.completed, rows))
            return _model.completed_stats(
                part, weighted_resp, tf.gather(index, rows), n_patterns, self.fam
            )

        out = self._terms(
            w,
            frame,
            prior_z,
            post_z,
            log_resp,
            log_norm,
            stats_of,
            tf.gather(entropy, index),
            pairs,
            delete,
            computed,
        )
        return (*out, ok)

    def _terms(
        self,
        w,
        frame,
        prior_z,
        post_z,
        log_resp,
        log_norm,
        stats_of,
        row_entropy,
        pairs,
        delete,
        computed,
    ):
        """Statistics, log-evidence, KL and move terms of a step's responsibilities.

        The responsibilities (n, C) are those of the ``computed`` components
        (:class:`._model.Computed`: the live ones and one column for the dead); the
        statistics and the entropies are returned per component (K). ``row_entropy`` (n, C) is
        the entropy of the completed coordinates of each row under each column (None for
        complete rows). ``pairs`` and ``delete`` name live components.
        """
        dt = log_resp.dtype
        w_dt = tf.cast(w, dt)
        resp = tf.exp(log_resp)
        w_col = tf.expand_dims(w_dt, 1)
        shared = (False, False, self.fam.shared)  # ('tied''s s2: all rows, no component axis)

        def widened(stats):
            if computed is None:
                return stats
            return Stats(*(s if sh else _model.widen(s, computed) for s, sh in zip(stats, shared)))

        col_stats = Stats(*(tf.cast(s, DTYPE) for s in stats_of(resp * w_col)))
        new_stats = widened(col_stats)
        # log-density in data units: the frame's Jacobian is -sum(log scale) per point
        local = tf.reduce_sum(w * tf.cast(log_norm, DTYPE)) - tf.reduce_sum(w) * tf.reduce_sum(
            tf.math.log(frame.scale)
        )
        kl = _model.global_kl(post_z, prior_z, self.fam, self.wp, dim(post_z.means, 1))
        # splitting the dead components' column adds pooled_entropy per unit of its count
        pooled = None
        if computed is not None:
            pooled = _model.is_pooled(computed, DTYPE) * computed.pooled_entropy

        def entropy_of(r, completion_entropy):
            h = -tf.math.xlogy(r, r)
            return h if completion_entropy is None else h + r * completion_entropy

        h_rows = entropy_of(resp, row_entropy)  # (n, C)
        entropy = tf.cast(tf.linalg.matvec(h_rows, w_dt, transpose_a=True), DTYPE)
        n_comp = dim(resp, 1)
        if computed is not None:
            entropy = _model.widen_entropy(entropy + pooled * col_stats.nk, col_stats.nk, computed)
            pairs = tf.gather(computed.column, pairs)
        # r_ni + r_nj for every pair as one product with a 0/1 matrix (exactly the sums: the
        # products are by one and zero), much faster than two column gathers
        pick = tf.one_hot(pairs[:, 0], n_comp, dtype=dt) + tf.one_hot(pairs[:, 1], n_comp, dtype=dt)
        merged = tf.matmul(resp, pick, transpose_b=True)
        pair_h = -tf.math.xlogy(merged, merged)
        if row_entropy is not None:
            # the completions stay each component's own: a lower bound on the merged ELBO
            pair_h += tf.matmul(resp * row_entropy, pick, transpose_b=True)
        pair_entropy = tf.cast(tf.linalg.matvec(pair_h, w_dt, transpose_a=True), DTYPE)

        def without_deleted():
            # Deleting component d hands each row's r_nd to the others in proportion, r'_nj =
            # r_nj / (1 - r_nd). When the component holds few rows (r_nd > DELETE_TOL; the
            # candidate is the smallest component: under 5% of the rows on real data sets), only
            # theirs are recomputed: the statistics change by theirs, the others' change
            # (relatively below DELETE_TOL) is left out, and the others' entropy has a closed
            # form, (h_n - h_nd) / (1 - r_nd) + log(1 - r_nd) for the row's entropy h_n and its
            # component-d term h_nd. When most rows are above DELETE_TOL, the same with the
            # rows above DELETE_OWNED recomputed and every other row's change accumulated from
            # r_nj r_nd / (1 - r_nd) (no cancellation: r_nd is at most a half there).
            # Otherwise (or on few rows) every row is recomputed.
            d = delete if computed is None else tf.gather(computed.column, delete)
            gone = tf.one_hot(d, n_comp, on_value=True, off_value=False)

            def handed_over(log_r):
                masked = tf.where(gone, tf.constant(-float("inf"), dt), log_r)
                return tf.exp(masked - tf.reduce_logsumexp(masked, axis=1, keepdims=True))

            r_d = tf.gather(resp, d, axis=1)
            held = r_d > tf.constant(DELETE_TOL, dt)

            def every_row():
                r = handed_over(log_resp)
                del_stats = Stats(*(tf.cast(s, DTYPE) for s in stats_of(r * w_col)))
                del_entropy = tf.reduce_sum(w_col * entropy_of(r, row_entropy))
                del_entropy = tf.cast(del_entropy, DTYPE)
                if pooled is not None:
                    del_entropy += tf.reduce_sum(pooled * del_stats.nk)
                return tuple(widened(del_stats)) + (del_entropy,)

            def held_rows(held, the_rest):
                # (``the_rest``: the other rows' change is accumulated too, not left out)
                rows = tf.where(held)[:, 0]
                r = handed_over(tf.gather(log_resp, rows))
                w_rows = tf.gather(w_dt, rows)
                w_rows_col = tf.expand_dims(w_rows, 1)
                change = stats_of((r - tf.gather(resp, rows)) * w_rows_col, rows)
                if the_rest:
                    # r'_nj - r_nj = r_nj r_nd / (1 - r_nd) (column d is emptied below; for
                    # 'tied', whose shared second moments of partially observed rows sum the
                    # columns, it is r'_nd - r_nd = -r_nd: each row's change sums to zero)
                    ratio = tf.where(held, tf.zeros_like(r_d), r_d / (1.0 - r_d))
                    moved = resp - tf.cast(gone, dt) if self.fam.shared else resp
                    moved = moved * tf.expand_dims(w_dt * ratio, 1)
                    rest_change = stats_of(moved, change=True)
                    change = Stats(*(a + b for a, b in zip(change, rest_change)))
                keep = 1.0 - tf.one_hot(d, n_comp, dtype=DTYPE)
                del_stats = Stats(
                    *(
                        s if sh else s * tf.reshape(keep, [-1] + [1] * (s.shape.rank - 1))
                        for s, sh in zip(
                            (s + tf.cast(c, DTYPE) for s, c in zip(col_stats, change)), shared
                        )
                    )
                )
                completion = None if row_entropy is None else tf.gather(row_entropy, rows)
                held_h = tf.reduce_sum(w_rows_col * entropy_of(r, completion))
                rest = 1.0 - tf.where(held, tf.zeros_like(r_d), r_d)
                rest_h = (tf.reduce_sum(h_rows, axis=1) - tf.gather(h_rows, d, axis=1)) / rest
                rest_h = tf.where(held, tf.zeros_like(r_d), rest_h + tf.math.log(rest))
                del_entropy = tf.cast(held_h, DTYPE) + tf.cast(tf.reduce_sum(w_dt * rest_h), DTYPE)
                if pooled is not None:
                    # the split of the dead components' column after the handover, every row's
                    pooled_r = tf.linalg.matvec(resp, tf.cast(pooled, dt))
                    pooled_r = tf.where(held, tf.zeros_like(r_d), pooled_r / rest)
                    del_entropy += tf.cast(
                        tf.reduce_sum(w_rows_col * r * tf.cast(pooled, dt))
                        + tf.reduce_sum(w_dt * pooled_r),
                        DTYPE,
                    )
                return tuple(widened(del_stats)) + (del_entropy,)

            n_rows = dim(held, 0)
            enough = n_rows >= DELETE_MIN_ROWS

            def at_most_half(mask):
                return 2 * tf.reduce_sum(tf.cast(mask, tf.int32)) <= n_rows

            owned = r_d > tf.constant(DELETE_OWNED, dt)
            return tf.cond(
                enough & at_most_half(held),
                lambda: held_rows(held, False),
                lambda: tf.cond(
                    enough & at_most_half(owned), lambda: held_rows(owned, True), every_row
                ),
            )

        def nothing_deleted():
            return tuple(tf.zeros_like(s) for s in new_stats) + (tf.zeros([], DTYPE),)

        deleted = tf.cond(delete >= 0, without_deleted, nothing_deleted)
        # (a move round on small data picks its candidates from them after the pass)
        distances = self._means_to_components(post_z)
        moves = (entropy, pair_entropy, Stats(*deleted[:3]), deleted[3], distances)
        return new_stats, local, kl, moves

    def _memo_elbo(self, frame, prior, reg_covar, table, members, entropy):
        """The ELBO from statistics of a batch of proposals, shape (B,).

        A proposal is ``K`` components taken from ``table`` (statistics of M components: the
        pass's own, the merged pairs, an empty one, the delete candidate's), ``members[b]`` their
        indices in stick order, and ``entropy[b]`` the entropy of its responsibilities. Its value
        is ``E_r[log p(x, z | q)]`` from the statistics plus that entropy minus the global KL, in
        data units (the frame's Jacobian included): the exact ELBO of the pair (posterior of the
        statistics, responsibilities that produced them).

        For a family whose components share nothing the ELBO is a sum of per-component terms
        and a term of the counts (:func:`._model.component_elbo_terms`,
        :func:`._model.weight_elbo_terms`): each component of the table is evaluated once
        (a merge proposal differs from the pass's components in two), and the proposals are
        sums of gathered terms. 'tied' shares its covariance, so each proposal is evaluated
        whole (:meth:`_memo_elbo_loop`).
        """
        if self.fam.shared:
            return self._memo_elbo_loop(frame, prior, reg_covar, table, members, entropy)
        prior_z, post_z = self._internal(frame, prior, reg_covar, table)
        terms = _model.component_elbo_terms(table, post_z, prior_z, self.fam)
        nk = tf.gather(table.nk, members)
        weights = _model.weight_elbo_terms(nk, prior_z.weight_concentration, self.wp)
        jacobian = tf.reduce_sum(nk, axis=1) * tf.reduce_sum(tf.math.log(frame.scale))
        return tf.reduce_sum(tf.gather(terms, members), axis=1) + weights + entropy - jacobian

    def _memo_elbo_loop(self, frame, prior, reg_covar, table, members, entropy):
        """:meth:`_memo_elbo` one proposal at a time (``tf.map_fn``), for any family."""

        def one(args):
            index, h = args
            # ('tied''s second moments are one matrix of all rows, the same in every proposal)
            s2 = table.s2 if self.fam.shared else tf.gather(table.s2, index)
            st = Stats(tf.gather(table.nk, index), tf.gather(table.s1, index), s2)
            prior_z, post_z = self._internal(frame, prior, reg_covar, st)
            joint = _model.expected_log_joint(st, post_z, self.fam, self.wp)
            kl = _model.global_kl(post_z, prior_z, self.fam, self.wp, dim(st.s1, 1))
            jacobian = tf.reduce_sum(st.nk) * tf.reduce_sum(tf.math.log(frame.scale))
            return joint + h - kl - jacobian

        return tf.map_fn(one, (members, entropy), fn_output_signature=DTYPE)

    def _posterior(self, frame, prior, reg_covar, stats):
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        return _model.posterior_from_frame(post_z, frame.shift, frame.scale, self.fam)

    def _distances(self, X, frame, prior, reg_covar, stats):
        """Squared Mahalanobis distances (n, K) of X to each component, under E[precision]."""
        Z = (X - frame.shift) / frame.scale
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        return self.fam.mahalanobis(Z, post_z.means, post_z.precisions_cholesky)

    def _mean_distances(self, frame, prior, reg_covar, stats, fallback, check):
        """(K, K) squared Mahalanobis distances of each component's posterior mean to each
        component (:meth:`_distances` of the means, in one call), and whether ``stats`` was used
        (``fallback`` is, when ``check`` is set and ``stats`` is not a proper posterior)."""
        _, post_z, ok, _ = self._checked(frame, prior, reg_covar, stats, fallback, check)
        return self._means_to_components(post_z), ok

    def _means_to_components(self, post_z):
        """(K, K) squared Mahalanobis distances of each component's mean to each component."""
        return self.fam.mahalanobis(post_z.means, post_z.means, post_z.precisions_cholesky)

    def _batch_stats(self, X, w, resp, frame):
        Z = (X - frame.shift) / frame.scale
        return Stats(*_model.sufficient_stats(Z, resp * tf.expand_dims(w, 1), w, self.fam))

    def _log_resp(self, X, post):
        return _model.log_resp(X, post, self.fam, self.wp)

    def _log_density(self, X, post, log_weights):
        return _model.predictive_log_density(X, post, log_weights, self.fam)

    # -- rows with missing coordinates: X holds zeros there (see skbgmm._svi._observed) ---------
    def _log_resp_missing(self, X, patterns, index, post):
        log_r, log_norm, _, _ = _model.log_resp_observed(
            X, patterns, index, post, self.fam, self.wp
        )
        return log_r, log_norm

    def _log_density_missing(self, X, patterns, index, post, log_weights):
        return _model.predictive_log_density_observed(
            X, patterns, index, post, log_weights, self.fam
        )

    def _conditional(self, X, patterns, index, post, log_weights):
        return _model.conditional_predictive(X, patterns, index, post, log_weights, self.fam)

    def _distances_missing(self, X, patterns, index, frame, prior, reg_covar, stats):
        """Squared Mahalanobis distances (n, K) of the observed coordinates, under E[precision]."""
        Z = (X - frame.shift) / frame.scale
        Z = tf.where(tf.gather(patterns, index) > 0.0, Z, tf.zeros_like(Z))
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        matrices = self.fam.block_covariances(post_z.covariances, post_z.means)
        block = observed_block(Z, patterns, index, post_z.means, matrices, self.fam.dense_blocks)
        return block.maha


_CACHE: dict[Config, Functions] = {}


def functions(config: Config) -> Functions:
    """The (cached) traced functions for ``config``."""
    if config not in _CACHE:
        _CACHE[config] = Functions(config)
    return _CACHE[config]
