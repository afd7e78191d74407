"""The SVI loop: minibatch natural-gradient steps, then full-data steps until the ELBO settles.

For this conjugate model the natural gradient of the ELBO with respect to the global variational
parameters, estimated on a minibatch ``B`` drawn from ``N`` points, is
``prior + (N / |B|) * stats(B) - current`` (Hoffman et al., 2013). A step of size ``rho`` is
therefore an average of expected sufficient statistics::

    stats <- (1 - rho) * stats + rho * (N / |B|) * stats(B)
    rho_t = (learning_offset + t) ** -learning_decay

and with ``B`` the whole data set and ``rho = 1`` it is exactly the coordinate-ascent (CAVI) update
of :class:`sklearn.mixture.BayesianGaussianMixture`.

Minibatch steps do their per-row arithmetic (distances, responsibilities, batch statistics) in
float32 on the centred and scaled data: a minibatch estimate is noisy anyway, and float32 halves
the cost. The global state and the posterior stay in float64. The loop runs minibatch epochs
while the epoch-averaged ELBO still moves by more than ``max(tol, SWITCH_TOL)`` per unit of
sample weight, then over-relaxed full-data steps until the ELBO moves by less than ``tol``; the
last pass is always an exact float64 full-data step, so a fit never ends on the noise of one
minibatch (see :func:`run`).
"""

from __future__ import annotations

import time

import numpy as np

from ._distribute import maybe_replicated
from ._family_shapes import covariance_shapes
from ._functions import functions
from ._predict import chunk_rows
from ._progress import PassProgress
from ._records import Config, FitResult, Frame, Options, Prior, State, Stats, float64, to_numpy
from ._stopping import ChangeBelow

# Minibatch epochs stop paying once an epoch moves the ELBO by less than this (nats per unit of
# sample weight): from there on an exact full-data pass costs as much and has no noise.
SWITCH_TOL = 5e-3
# From this many rows on, full-data passes do their per-point work in float32 and one float64
# pass ends the fit; below it every pass is float64 (cheap, and exact to the last digit).
SINGLE_PRECISION_ROWS = 1 << 16


def _as_f64(a):
    return np.asarray(a, dtype=np.float64)


def initial_state(X, sample_weight, resp, frame: Frame, config: Config, factor, total_samples):
    """Statistics of an initial assignment ``resp`` of the rows ``X``, multiplied by ``factor``.

    ``factor`` scales a subsample's statistics up to the data set (``total / subsample weight``);
    ``total_samples`` is the total sample weight the ELBO is scaled to.
    """
    fns = functions(config)
    w = _as_f64(sample_weight)
    stats = to_numpy(fns.batch_stats(_as_f64(X), w, _as_f64(resp), float64(frame)))
    stats = covariance_shapes(config.covariance_type).scale(stats, factor)
    return State(stats=stats, frame=float64(frame), n_steps=0, total_samples=float(total_samples))


def _run_here(step, X, w, *args):
    return step(X, w, *args)


def chunk_step(X, w, config, frame, prior, reg_covar, stats, single, runner=None):
    """The per-row work of one step on one chunk of rows, wherever the rows are.

    Returns ``(statistics, weighted log-evidence, global KL, weight, rows)``; the statistics
    are float64 NumPy arrays. This is the only function that touches rows during a fit: the
    single-process loop calls it in this process, a dask source on the worker holding the chunk.
    ``runner(step, X, w, *args)`` runs the traced step (in this process by default; a
    ``tf.distribute`` source shares the rows out across its replicas).
    """
    fns = functions(config)
    step = fns.step32 if single else fns.step
    X = np.asarray(X, dtype=np.float32 if single else np.float64)
    w = _as_f64(w)
    b, local, kl = (runner or _run_here)(step, X, w, frame, prior, reg_covar, stats)
    return to_numpy(b), float(local), float(kl), float(w.sum()), int(X.shape[0])


def _full_pass(config, source, frame, prior, reg_covar, stats, rows, progress=None, single=False):
    """Exact statistics and ELBO terms over every row of ``source`` at the current posterior.

    ``single`` does the per-row arithmetic in float32 (statistics still summed in float64).
    """
    results = source.map_chunks(
        chunk_step, config, frame, prior, reg_covar, stats, single, rows=rows
    )
    acc = Stats(*(sum(r[0][i] for r in results) for i in range(3)))
    local = float(sum(r[1] for r in results))
    kl = results[-1][2]
    if progress is not None:
        progress.advance(sum(r[4] for r in results))
    return acc, local, kl


def _svi_steps(
    config,
    source,
    batches,
    frame,
    prior,
    reg_covar,
    stats,
    n_steps,
    total,
    options,
    seen=None,
    progress=None,
):
    """One natural-gradient step per minibatch; returns (stats, n_steps, ELBO estimate, weight).

    With ``seen=None`` the steps follow the Robbins-Monro schedule towards a data set of size
    ``total``. With ``seen`` (the sample weight already absorbed by ``stats``) the data are a
    stream read once: each batch's statistics are added to the state, which is the SVI step with
    ``rho = |B| / (seen + |B|)`` and ``N = seen + |B|``, i.e. streaming variational Bayes
    (Broderick et al., 2013), where no batch is ever forgotten.

    The ELBO estimate is the average over the steps of ``(N / |B|) * local - KL``, per unit of
    sample weight, weighted by each batch's share.
    """
    shapes = covariance_shapes(config.covariance_type)
    weighted = 0.0
    absorbed = 0.0
    for batch in batches:
        b, local, kl, wsum, n_rows = source.apply(
            chunk_step, batch, config, frame, prior, reg_covar, stats, True
        )
        if progress is not None:
            progress.advance(n_rows)
        if wsum <= 0:
            continue
        if seen is None:
            factor = total / wsum
            rho = (options.learning_offset + n_steps) ** (-options.learning_decay)
            stats = shapes.blend(stats, b, rho, factor)
        else:
            # the SVI step with N = seen + |B| and rho = |B| / N, applied to statistics that
            # stand for `seen` points: the batch's statistics are simply added
            seen += wsum
            total, factor = seen, seen / wsum
            stats = shapes.add(stats, b)
        n_steps += 1
        weighted += (local * factor - kl) / total * wsum
        absorbed += wsum
    return stats, n_steps, weighted / max(absorbed, np.finfo(float).tiny), absorbed


class _Overrelaxation:
    """Adaptive over-relaxed full-data steps (Salakhutdinov and Roweis, 2003).

    A full-data pass gives the coordinate-ascent target ``t`` of the current statistics ``s``;
    since the statistics are the natural parameters, ``s + omega (t - s)`` is a natural-gradient
    step of size ``omega``, and ``omega = 1`` is plain coordinate ascent. While the ELBO keeps
    improving, ``omega`` grows by ``GROWTH`` (up to ``MAX_STEP``); when a pass finds the ELBO
    lower than at the previous point, the extrapolation is undone (back to that point's plain
    update) and ``omega`` restarts at 1. Slowly converging fits (overlapping clusters) need
    several times fewer passes; a step that would leave the statistics invalid (a negative
    count, a covariance that is not positive definite) is never taken.
    """

    GROWTH = 1.5
    MAX_STEP = 8.0

    def __init__(self, fns, frame, prior, reg):
        self.fns, self.frame, self.prior, self.reg = fns, frame, prior, reg
        self.plain = None  # the plain update of the last accepted point
        self.reset(enabled=True)

    def reset(self, enabled):
        self.enabled = enabled
        self.omega = 1.0
        self.best = -np.inf

    def step(self, stats, target, elbo):
        """Returns (next statistics, whether ``stats`` was accepted)."""
        if elbo < self.best - 1e-12 * abs(self.best) and self.omega > 1.0:
            self.omega = 1.0
            return self.plain, False
        self.best = max(self.best, elbo)
        self.plain = target
        if not self.enabled:
            return target, True
        self.omega = min(self.omega * self.GROWTH, self.MAX_STEP)
        candidate = Stats(*(a + self.omega * (t - a) for a, t in zip(stats, target)))
        if self._valid(candidate):
            return candidate, True
        self.omega = 1.0
        return target, True

    def _valid(self, stats):
        if np.any(stats.nk < 0):
            return False
        import tensorflow as tf

        try:
            post = self.fns.posterior(self.frame, self.prior, self.reg, stats)
        except tf.errors.InvalidArgumentError:
            return False
        return all(np.all(np.isfinite(np.asarray(v))) for v in post)


def run(source, n_samples, config: Config, prior: Prior, options: Options, state: State, rng):
    """Fit from ``state`` on the rows of ``source``; returns a :class:`FitResult`.

    ``source`` yields ``(X, sample_weight)`` NumPy pairs through ``chunks(rows)`` (every row once,
    in order) and ``minibatches(batch_size, rng)`` (every row once per epoch); ``n_samples`` is
    its number of rows. ``rng`` is a :class:`numpy.random.RandomState` for shuffling.

    Phases: minibatch epochs (when the batch is smaller than the data) while the epoch-averaged
    ELBO moves by more than ``max(tol, SWITCH_TOL)``; then over-relaxed full-data passes until
    the ELBO moves by less than ``tol``. On large data (``SINGLE_PRECISION_ROWS`` rows or more)
    those passes do their per-point work in float32 (the change of the ELBO between two passes
    is accurate to far below ``tol`` there) and one plain float64 pass ends the fit; on smaller
    data every full pass is float64. The last pass of a fit is always an exact full-data step.
    """
    fns = functions(config)
    source = maybe_replicated(source)
    total = state.total_samples
    prior = float64(prior)
    frame = state.frame
    reg = np.float64(options.reg_covar)
    stats = state.stats
    n_steps = state.n_steps
    n_components, n_features = stats.s1.shape
    rows = chunk_rows(n_components, n_features)
    batch = int(min(options.batch_size, n_samples))
    phase = "minibatch" if batch < n_samples else "full"
    single = n_samples >= SINGLE_PRECISION_ROWS

    lower_bounds = []
    converged = False
    switch = ChangeBelow(max(options.tol, SWITCH_TOL))  # minibatch epochs -> full passes
    settled = ChangeBelow(options.tol)  # full passes -> converged
    start_time = time.perf_counter()
    bar = PassProgress(options.verbose >= 2, n_samples)
    relax = _Overrelaxation(fns, frame, prior, reg)

    def report(elbo, label, rule):
        lower_bounds.append(elbo)
        bar.end_pass(elbo)
        if options.verbose and len(lower_bounds) % options.verbose_interval == 0:
            change = np.nan if rule.value is None else elbo - rule.value
            print(
                f"  Iteration {len(lower_bounds)} ({label})\t "
                f"time lapse {time.perf_counter() - start_time:.5f}s\t "
                f"ELBO {elbo:.6f}\t change {change:.6f}"
            )

    try:
        while len(lower_bounds) < options.max_iter:
            last = len(lower_bounds) + 1 == options.max_iter
            if last and (phase == "minibatch" or single):
                break  # the last pass allowed is the exact one below
            bar.start_pass(len(lower_bounds) + 1, phase)
            if phase == "minibatch":
                stats, n_steps, elbo, _ = _svi_steps(
                    config,
                    source,
                    source.minibatches(batch, rng),
                    frame,
                    prior,
                    reg,
                    stats,
                    n_steps,
                    total,
                    options,
                    progress=bar,
                )
                report(elbo, "minibatch", switch)
                if switch.update(elbo):
                    phase = "full"
                continue
            target, local, kl = _full_pass(
                config, source, frame, prior, reg, stats, rows, bar, single=single
            )
            elbo = (local - kl) / total
            stats, accepted = relax.step(stats, target, elbo)
            report(elbo, "full" if accepted else "full, extrapolation undone", settled)
            if not accepted:
                continue
            if settled.update(elbo):
                converged = True
                stats = relax.plain  # the plain coordinate-ascent update of the last point
                break
        if (phase == "minibatch" or single or relax.plain is None) and options.max_iter > 0:
            # an exact full-data step in float64 ends the fit
            if relax.plain is not None:
                stats = relax.plain
            bar.start_pass(len(lower_bounds) + 1, "final")
            stats, local, kl = _full_pass(config, source, frame, prior, reg, stats, rows, bar)
            report((local - kl) / total, "final exact step", settled)
        elif relax.plain is not None:
            stats = relax.plain
    finally:
        bar.close()

    # a deterministic order for the result: components sorted by decreasing size
    stats = order_by_weight(stats, config)
    posterior = to_numpy(fns.posterior(frame, prior, reg, stats))
    return FitResult(
        posterior=posterior,
        state=State(stats=stats, frame=frame, n_steps=n_steps, total_samples=total),
        lower_bounds=np.asarray(lower_bounds, dtype=np.float64),
        n_iter=len(lower_bounds),
        converged=converged,
    )


def partial(source, batch_size, rng, config, prior, options, state, seen=None):
    """Natural-gradient steps on the minibatches of one batch of data (``partial_fit``).

    With ``seen`` (the sample weight the state has absorbed) the batch is new data added to it:
    streaming variational Bayes, where no batch is forgotten. Points that no effective component
    explains (squared Mahalanobis distance beyond the chi-square 99.9% quantile from every
    component carrying at least ``SPARE_WEIGHT`` of the weight) then give birth to components:
    spare components (those below ``SPARE_WEIGHT``) are re-seeded on them by k-means, so a
    cluster that first appears late in a stream gets components of its own instead of
    stretching an old one. With ``seen=None`` the batch is a minibatch of a data set of size
    ``state.total_samples`` and the steps follow the Robbins-Monro schedule.

    Returns ``(posterior, state, elbo_estimate, n_births)``.
    """
    fns = functions(config)
    source = maybe_replicated(source)
    prior = float64(prior)
    reg = np.float64(options.reg_covar)
    n_births = 0
    stats = state.stats
    seed = None
    if seen is not None and seen > 0:
        stats, seed, n_births = _births(fns, source, config, prior, reg, state, rng)
    stats, n_steps, elbo, absorbed = _svi_steps(
        config,
        source,
        source.minibatches(batch_size, rng),
        state.frame,
        prior,
        reg,
        stats,
        state.n_steps,
        state.total_samples,
        options,
        seen=seen,
    )
    if seed is not None:
        # the seeds only guided this batch's responsibilities; the batch itself is now absorbed
        stats = covariance_shapes(config.covariance_type).add(stats, seed, sign=-1.0)
        stats = stats._replace(nk=np.maximum(stats.nk, 0.0))
    stats = order_by_weight(stats, config)
    total = seen + absorbed if seen is not None else state.total_samples
    state = state._replace(stats=stats, n_steps=n_steps, total_samples=total)
    posterior = to_numpy(fns.posterior(state.frame, prior, reg, stats))
    return posterior, state, elbo, n_births


SPARE_WEIGHT = 0.01
_BIRTH_QUANTILE = 0.999
_MIN_BIRTH_POINTS = 10


def _births(fns, source, config, prior, reg, state, rng):
    """Seed spare components on the points of the batch that no component explains.

    Returns ``(stats with the seeds, the seeds alone, number of births)``: the seeds are the
    statistics of the unexplained points assigned by k-means to the spare components, whose own
    (negligible) statistics are dropped.
    """
    from scipy.stats import chi2
    from sklearn.cluster import KMeans

    stats = state.stats
    share = stats.nk / max(stats.nk.sum(), np.finfo(float).tiny)
    spare = np.flatnonzero(share < SPARE_WEIGHT)
    used = np.flatnonzero(share >= SPARE_WEIGHT)
    if spare.size == 0 or used.size == 0:
        return stats, None, 0
    X, w = (np.concatenate(parts) for parts in zip(*source.chunks()))
    X, w = np.asarray(X, dtype=np.float64), _as_f64(w)
    dist = np.asarray(fns.distances(X, state.frame, prior, reg, stats))[:, used].min(axis=1)
    far = (dist > chi2.ppf(_BIRTH_QUANTILE, X.shape[1])) & (w > 0)
    n_far = int(far.sum())
    Xf, wf = X[far], w[far]
    weight_far = float(wf.sum())  # sample weight, so that weights count like repeated rows
    if n_far == 0 or weight_far < max(_MIN_BIRTH_POINTS, X.shape[1] + 1):
        return stats, None, 0
    n_new = int(min(spare.size, n_far, max(1, weight_far // (5 * (X.shape[1] + 1)))))
    order = np.lexsort(Xf.T[::-1])  # row order must not matter (as in the initialisation)
    Xf, wf = Xf[order], wf[order]
    labels = KMeans(n_clusters=n_new, n_init=1, random_state=rng).fit(Xf, sample_weight=wf).labels_
    resp = np.zeros((n_far, stats.nk.shape[0]))
    resp[np.arange(n_far), spare[labels]] = 1.0
    seed = to_numpy(fns.batch_stats(Xf, wf, resp, state.frame))
    drop = np.zeros(stats.nk.shape[0], dtype=bool)
    drop[spare[:n_new]] = True
    shapes = covariance_shapes(config.covariance_type)
    return shapes.add(shapes.drop(stats, drop), seed), seed, n_new


def initialise_only(source, n_samples, config, prior, options, state, rng) -> FitResult:
    """The engine of ``max_iter=0``: the posterior of the initial state, no data step."""
    fns = functions(config)
    state = state._replace(stats=order_by_weight(state.stats, config))
    post = to_numpy(
        fns.posterior(state.frame, float64(prior), np.float64(options.reg_covar), state.stats)
    )
    return FitResult(post, state, np.empty(0), 0, False)


def order_by_weight(stats: Stats, config: Config) -> Stats:
    """Components sorted by decreasing soft count (a stable sort): a deterministic order.

    For the Dirichlet process this is also the stick order that the prior favours.
    """
    order = np.argsort(-stats.nk, kind="stable")
    return covariance_shapes(config.covariance_type).reorder(stats, order)
