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
from typing import NamedTuple

import numpy as np

from ._distribute import maybe_replicated
from ._family_shapes import covariance_shapes
from ._functions import functions
from ._model import DEAD_SHARE
from ._patterns import filled, missing_rows
from ._predict import log_resp as predictive_log_resp
from ._progress import PassProgress
from ._records import (
    Config,
    FitResult,
    Frame,
    Memo,
    MoveCounts,
    Options,
    Pending,
    Prior,
    State,
    Stats,
    float64,
    frozen,
    to_numpy,
)
from ._sizes import chunk_rows, step_rows
from ._stopping import ChangeBelow

# Minibatch epochs stop paying once an epoch moves the ELBO by less than this (nats per unit of
# sample weight): from there on an exact full-data pass costs as much and has no noise.
SWITCH_TOL = 5e-3
# From this many rows on, full-data passes do their per-point work in float32 and one float64
# pass ends the fit; below it every pass is float64 (cheap, and exact to the last digit).
SINGLE_PRECISION_ROWS = 1 << 16
#: the smallest ``tol`` against which a change measured across precisions is trusted: the ELBO of
#: a float32 pass agrees with float64's at the same point to about 1e-7 per unit weight
#: (measured on 0.3-1M-row fits, 'full' and 'diag'), ten times below this
CROSS_PRECISION_TOL = 1e-6
#: ... and it grows with the number of features: float32 and float64 passes at the same point
#: differ by about 1e-8 per unit weight and feature (100,000-row blobs, 'full', data in two
#: scales: 0.8-1.8e-7 at D=10, 1.2e-7 at D=20, 0.5-3.0e-7 at D=50, 5.8e-7 to 1.15e-6 at D=100),
#: so a change across precisions is trusted only for ``tol`` of at least this times D as well
#: (D=10: 1e-6, the default tol; at D=100 a confirmation failed on the discrepancy alone and
#: sent the fit back to float32 passes, 7 passes instead of 5)
CROSS_PRECISION_PER_FEATURE = 1e-7
#: float32 per-point work needs the frame's scales, and with them the centred rows, well inside
#: float32's normal range (1.2e-38 to 3.4e38): data in units of 1e-39 came out as subnormals,
#: and a fit of 70,000 such rows ran 500 passes to an ARI of 0. Outside these bounds every step
#: runs in float64
SINGLE_PRECISION_SCALES = (1e-30, 1e30)


def _as_f64(a):
    return np.asarray(a, dtype=np.float64)


def initial_state(X, sample_weight, resp, frame: Frame, config: Config, factor, total_samples):
    """Statistics of an initial assignment ``resp`` of the rows ``X``, multiplied by ``factor``.

    ``factor`` scales a subsample's statistics up to the data set (``total / subsample weight``);
    ``total_samples`` is the total sample weight the ELBO is scaled to.
    """
    fns = functions(config)
    w = _as_f64(sample_weight)
    # missing entries start at the data mean (the frame's shift); the first step completes them
    X = filled(X, frame.shift)
    stats = batch_stats(fns, X, w, _as_f64(resp), float64(frame))
    stats = covariance_shapes(config.covariance_type).scale(stats, factor)
    return State(stats=stats, frame=frozen(frame), n_steps=0, total_samples=float(total_samples))


def batch_stats(fns, X, w, resp, frame):
    """``fns.batch_stats`` of the rows ``X`` (weights ``w``, responsibilities ``resp``) as
    float64 NumPy statistics, summed over parts of at most :func:`step_rows` rows (the
    temporaries of one call grow as rows x K x D)."""
    X, w, resp = np.asarray(X), np.asarray(w), np.asarray(resp)
    limit = step_rows(resp.shape[1], X.shape[1])
    total = None
    for s in range(0, max(X.shape[0], 1), limit):
        part = to_numpy(
            fns.batch_stats(X[s : s + limit], w[s : s + limit], resp[s : s + limit], frame)
        )
        total = part if total is None else Stats(*(a + b for a, b in zip(total, part)))
    return total


def _run_here(step, X, w, *args):
    return step(X, w, *args)


class MovePlan(NamedTuple):
    """What a pass should accumulate for the moves: candidate merge pairs, a delete candidate."""

    pairs: np.ndarray  # (P, 2) int32 component indices
    delete: int  # a component to try removing, or -1


class Decision(NamedTuple):
    """Accepted moves: the new statistics (sorted by size) and what was done to get them."""

    stats: Stats
    merges: list  # (i, j) pairs merged, j into i, in the indices before sorting
    deleted: int  # the component deleted, or -1
    order: np.ndarray  # the sort applied after the moves


def memo_after(memo: Memo | None, decision: Decision) -> Memo | None:
    """The entropy terms of a state after accepted moves (lower bounds where unknown)."""
    if memo is None:
        return None
    h = memo.entropy.copy()
    pair = memo.pair_entropy.copy()
    for i, j in decision.merges:
        h[i], h[j] = pair[i, j], 0.0
        pair[[i, j], :] = 0.0
        pair[:, [i, j]] = 0.0
    if decision.deleted >= 0:  # (not used by streaming: deletes need the rows)
        h[:] = 0.0
        pair[:] = 0.0
    return memo_reorder(Memo(h, pair), decision.order)


def _memo_with_step(memo: Memo, plan: MovePlan, terms: MoveTerms) -> Memo:
    pair = memo.pair_entropy.copy()
    if plan.pairs.size:
        i, j = plan.pairs[:, 0], plan.pairs[:, 1]
        pair[i, j] += terms.pair_entropy
        pair[j, i] += terms.pair_entropy
    return Memo(memo.entropy + terms.entropy, pair)


def memo_add(a: Memo, b: Memo, sign: float = 1.0) -> Memo:
    """``a + sign * b``: entropy terms of disjoint sets of rows add, like their statistics."""
    return Memo(a.entropy + sign * b.entropy, a.pair_entropy + sign * b.pair_entropy)


def memo_reorder(memo: Memo | None, order) -> Memo | None:
    if memo is None:
        return None
    return Memo(memo.entropy[order], memo.pair_entropy[np.ix_(order, order)])


def empty_memo(n_components: int) -> Memo:
    return Memo(np.zeros(n_components), np.zeros((n_components, n_components)))


class MoveTerms(NamedTuple):
    """The terms a pass accumulates for the moves (sums over rows, like the statistics)."""

    entropy: np.ndarray  # (K,) -sum_n w_n r_nk log r_nk
    pair_entropy: np.ndarray  # (P,) the same for r_ni + r_nj of each candidate pair
    deleted: Stats  # statistics with the delete candidate's rows reassigned to the others
    deleted_entropy: float
    distances: np.ndarray | None = None  # (K, K) of the means at the pass's posterior


NO_MOVES = MovePlan(np.zeros((0, 2), np.int32), -1)


class Candidate(NamedTuple):
    """An over-relaxed point whose validity the pass evaluating it checks (in the same traced
    call): the pass is taken at ``stats`` if they give a proper posterior, else at
    ``fallback`` (the plain update it extrapolates from)."""

    stats: Stats
    fallback: Stats


class MoveTest(NamedTuple):
    """The last test of a move's candidate (a delete's component, a merge's pair): ``deficit``
    and ``elbo`` per unit weight (how far the proposal fell short, the fit's ELBO then), the
    candidate's ``count`` then, and the rounds that have left it out since."""

    candidate: object
    deficit: float
    elbo: float
    count: float
    skipped: int = 0


def _point(stats):
    """``(stats, fallback, check)`` of statistics or a :class:`Candidate`."""
    if isinstance(stats, Candidate):
        return stats.stats, stats.fallback, np.bool_(True)
    return stats, stats, np.bool_(False)


def chunk_step(X, w, config, frame, prior, reg_covar, stats, single, plan=NO_MOVES, runner=None):
    """The per-row work of one step on one chunk of rows, wherever the rows are.

    Returns ``(statistics, weighted log-evidence, global KL, weight, rows, move terms,
    whether the point was used)``; the statistics are float64 NumPy arrays. ``stats`` may be a
    :class:`Candidate`: the step is then taken at its fallback if the candidate is not a
    proper posterior, and the last output says so. This is the only function that touches rows
    during a fit: the single-process loop calls it in this process, a dask source on the worker
    holding the chunk. ``runner(step, X, w, *args)`` runs the traced step (in this process by
    default; a ``tf.distribute`` source shares the rows out across its replicas).

    Rows with missing entries (NaN) take the partially observed step, in float64 and in this
    process; a row with no observed entry is given no weight. More rows than
    :func:`step_rows` (a large minibatch) are taken in parts of at most that many, their
    statistics and terms summed, so that no call's temporaries outgrow the data.
    """
    w = _as_f64(w)
    limit = step_rows(*np.shape(_point(stats)[0].s1))
    n_rows = int(np.shape(X)[0])
    if n_rows > limit:
        args = (config, frame, prior, reg_covar, stats, single, plan, runner)
        parts = [
            chunk_step(X[s : s + limit], w[s : s + limit], *args) for s in range(0, n_rows, limit)
        ]
        return _combined(parts, n_rows)
    single = single and _single_precision_frame(frame)
    rows = missing_rows(X)
    if rows is None:
        return _complete_step(X, w, config, frame, prior, reg_covar, stats, single, plan, runner)
    X = np.asarray(X)
    parts = []
    if rows.complete.size:
        parts.append(
            _complete_step(
                X[rows.complete],
                w[rows.complete],
                config,
                frame,
                prior,
                reg_covar,
                stats,
                single,
                plan,
                runner,
            )
        )
    w_missing = np.where(rows.empty, 0.0, w[rows.incomplete])
    fns = functions(config)
    step = fns.step_missing_pooled if _pooled(stats, w_missing.size, fns.fam) else fns.step_missing
    out = step(
        np.asarray(X[rows.incomplete], dtype=np.float64),
        rows.patterns,
        rows.index,
        w_missing,
        frame,
        prior,
        reg_covar,
        *_point(stats),
        _pairs(plan),
        np.int32(plan.delete),
    )
    parts.append(_step_output(out, w_missing, rows.incomplete.size))
    return _combined(parts, int(X.shape[0]))


def _combined(parts, n_rows):
    """One :func:`chunk_step` output from those of parts of its rows (the KL is global)."""
    b = Stats(*(sum(p[0][i] for p in parts) for i in range(3)))
    return (
        b,
        sum(p[1] for p in parts),
        parts[0][2],
        sum(p[3] for p in parts),
        n_rows,
        _sum_terms([p[5] for p in parts]),
        _agreed([p[6] for p in parts]),
    )


def _single_precision_frame(frame):
    """Whether rows in ``frame`` can take float32 steps (``SINGLE_PRECISION_SCALES``)."""
    low, high = SINGLE_PRECISION_SCALES
    scale = np.asarray(frame.scale)
    return bool(np.all((scale >= low) & (scale <= high)))


def _agreed(used):
    """Whether every part of a pass used its point (the check depends on the point alone, so
    the parts agree; if they ever did not, the pass is redone at the fallback)."""
    if any(u is None for u in used):
        return None
    return True if all(used) else (False if not any(used) else None)


def _pairs(plan):
    return np.asarray(plan.pairs, dtype=np.int32).reshape(-1, 2)


def _step_output(out, w, n_rows):
    b, local, kl, terms, used = out
    terms = MoveTerms(
        np.asarray(terms[0]),
        np.asarray(terms[1]),
        to_numpy(terms[2]),
        float(terms[3]),
        np.asarray(terms[4]),
    )
    return to_numpy(b), float(local), float(kl), float(w.sum()), int(n_rows), terms, bool(used)


#: a step takes the dead components as one column (:func:`._model.computed_components`) when
#: that saves at least this much per-row work (rows x features ** ``row_work_power``, per column
#: saved): the pooled step's ~400 more graph nodes cost ~0.2 ms a call (1,437 x 64 digits, 'full',
#: 10 components of which 4 dead: 11.8 -> 9.4 ms a step; on 142 x 13 wine a pooled step is
#: slower however many are dead)
POOL_WORK = 2**21


def _pooled(stats, n_rows, fam):
    """Whether a step at ``stats`` (or a :class:`Candidate`) on ``n_rows`` rows should take its
    dead components as one column (:data:`POOL_WORK`)."""
    point, fallback, _ = _point(stats)
    n_dead = int(np.sum(_dead(point.nk) & _dead(fallback.nk)))
    if n_dead < 2 or n_dead == point.nk.size:
        return False
    n_features = point.s1.shape[1]
    return (n_dead - 1) * n_rows * n_features**fam.row_work_power >= POOL_WORK


def _dead(nk):
    """The dead components of counts ``nk`` (:data:`._model.DEAD_SHARE`)."""
    nk = np.asarray(nk)
    return nk <= DEAD_SHARE * nk.sum()


def _complete_step(X, w, config, frame, prior, reg_covar, stats, single, plan, runner):
    fns = functions(config)
    pooled = _pooled(stats, np.shape(X)[0], fns.fam)
    step = fns.step_for(single, *np.shape(_point(stats)[0].s1), pooled=pooled)
    # the step takes the points as columns (D, n), laid out here in the pass that casts them
    X = np.asarray(X)
    X_t = np.empty(X.shape[::-1], np.float32 if single else np.float64)
    if single:
        # float32 per-point work: the frame's shift is subtracted in float64 first (the
        # subtraction's output cast), so data far from the origin (a Unix timestamp, an offset
        # of 1e9) keep their digits; 20,971 x 10: ~180 us against ~270 for the subtraction and
        # the cast of the rows, and no transpose in the step (~280 us)
        np.subtract(X.T, frame.shift[:, None], out=X_t, casting="same_kind")
        prior = prior._replace(mean=prior.mean - frame.shift)
        frame = Frame(np.zeros_like(frame.shift), frame.scale)
    else:
        X_t[...] = X.T
    X_t.flags.writeable = False  # (the trainer's own: handed to TensorFlow without a copy)
    out = (runner or _run_here)(
        step, X_t, w, frame, prior, reg_covar, *_point(stats), _pairs(plan), np.int32(plan.delete)
    )
    return _step_output(out, w, X.shape[0])


def _sum_terms(terms):
    return MoveTerms(
        sum(t.entropy for t in terms),
        sum(t.pair_entropy for t in terms),
        Stats(*(sum(t.deleted[i] for t in terms) for i in range(3))),
        float(sum(t.deleted_entropy for t in terms)),
        terms[0].distances,  # (the pass's posterior: the same in every part)
    )


def _full_pass(
    config,
    source,
    frame,
    prior,
    reg_covar,
    stats,
    rows,
    progress=None,
    single=False,
    plan=NO_MOVES,
):
    """Exact statistics and ELBO terms over every row of ``source`` at the current posterior.

    ``single`` does the per-row arithmetic in float32 (statistics still summed in float64).
    Returns ``(statistics, weighted log-evidence, global KL, move terms, whether the pass was
    taken at the point)``: False only for a :class:`Candidate` taken at its fallback.
    """
    results = source.map_chunks(
        chunk_step, config, frame, prior, reg_covar, stats, single, plan, rows=rows
    )
    used = _agreed([r[6] for r in results])
    if used is None:
        out = _full_pass(
            config,
            source,
            frame,
            prior,
            reg_covar,
            stats.fallback,
            rows,
            progress=progress,
            single=single,
            plan=plan,
        )
        return out[:4] + (False,)
    acc = Stats(*(sum(r[0][i] for r in results) for i in range(3)))
    local = float(sum(r[1] for r in results))
    kl = results[-1][2]
    if progress is not None:
        progress.advance(sum(r[4] for r in results))
    return acc, local, kl, _sum_terms([r[5] for r in results]), used


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
    memo=None,
    moves=None,
):
    """One natural-gradient step per minibatch.

    Returns ``(stats, n_steps, ELBO estimate, weight, memo)``.

    With ``seen=None`` the steps follow the Robbins-Monro schedule towards a data set of size
    ``total``. With ``seen`` (the sample weight already absorbed by ``stats``) the data are a
    stream read once: each batch's statistics are added to the state, which is the SVI step with
    ``rho = |B| / (seen + |B|)`` and ``N = seen + |B|``, i.e. streaming variational Bayes
    (Broderick et al., 2013), where no batch is ever forgotten.

    The ELBO estimate is the average over the steps of ``(N / |B|) * local - KL``, per unit of
    sample weight, weighted by each batch's share. In a stream with ``moves``, each step also
    adds its entropy terms (for the candidate pairs of ``moves.plan``) to ``memo``.
    """
    shapes = covariance_shapes(config.covariance_type)
    weighted = 0.0
    absorbed = 0.0
    track = seen is not None and memo is not None and moves is not None
    for batch in batches:
        plan = (moves.plan(stats)[0] if moves.enabled else None) if track else None
        b, local, kl, wsum, n_rows, terms, _ = source.apply(
            chunk_step, batch, config, frame, prior, reg_covar, stats, True, plan or NO_MOVES
        )
        if track:
            memo = _memo_with_step(memo, plan or NO_MOVES, terms)
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
    return stats, n_steps, weighted / max(absorbed, np.finfo(float).tiny), absorbed, memo


class _Overrelaxation:
    """Adaptive over-relaxed full-data steps (Salakhutdinov and Roweis, 2003).

    A full-data pass gives the coordinate-ascent target ``t`` of the current statistics ``s``;
    since the statistics are the natural parameters, ``s + omega (t - s)`` is a natural-gradient
    step of size ``omega``, and ``omega = 1`` is plain coordinate ascent. While the ELBO keeps
    improving, ``omega`` grows by ``GROWTH`` (up to ``MAX_STEP``); when a pass finds the ELBO
    lower than at the previous point, the extrapolation is undone and ``omega`` restarts at 1.
    The pass that found the dip has computed the plain update of the extrapolated point, which
    is usually still ahead of the previous point: the next pass evaluates it (as a point that
    is not a plain update of the last one, so its change cannot end the fit), and only if it
    too is below the previous point does the fit go back to that point's plain update (10
    seeds of each bundled set, n_components=10, passes summed: digits 399 -> 343, breast
    cancer 246 -> 237, wine 180 -> 175, iris 133 -> 133, final ELBOs higher on average). Slowly
    converging fits (overlapping clusters) need several times fewer passes; a step that would
    leave the statistics invalid (a negative count, a covariance that is not positive definite)
    is never taken. The covariance check is made by the traced call that first needs the point
    (the pass that evaluates it, or a move round's planning call): a :class:`Candidate` falls
    back to the plain update it extrapolates from, then :meth:`rejected`.
    """

    GROWTH = 1.5
    MAX_STEP = 8.0

    def __init__(self, needs_validity_check):
        self.needs_validity_check = needs_validity_check  # (the family's covariance check)
        self.plain = None  # the plain update of the last accepted point
        self.next_plain = True  # the point returned by the last step is a plain update
        self.evaluated_plain = True  # the point evaluated by the last step was a plain update
        self.salvaged = None  # while the plain update of a dipped point is tried: the fallback
        self.reset(enabled=True)

    def reset(self, enabled):
        self.enabled = enabled
        self.omega = 1.0
        self.best = -np.inf
        self.plain_steps = 1  # a run starts with a plain step, so its first change is exact

    def restart(self, stats):
        """Continue from ``stats`` (a plain update or an accepted move) with plain steps."""
        self.plain = stats
        self.omega = 1.0
        self.best = -np.inf
        self.next_plain = True
        self.salvaged = None

    def dip(self, elbo):
        """Whether ``elbo`` (at an extrapolated point, or at the plain update of one that
        dipped) is worse than the last point's."""
        return elbo < self.best - 1e-12 * abs(self.best) and (
            self.omega > 1.0 or self.salvaged is not None
        )

    def step(self, stats, target, elbo):
        """Returns (next statistics, whether ``stats`` was accepted)."""
        self.evaluated_plain = self.next_plain
        if self.dip(elbo):
            self.omega = 1.0
            if self.salvaged is None:
                self.salvaged = self.plain
                self.next_plain = False
                return target, False
            fallback, self.salvaged = self.salvaged, None
            self.next_plain = True
            return fallback, False
        self.salvaged = None
        self.best = max(self.best, elbo)
        self.plain = target
        self.next_plain = True
        if not self.enabled or self.plain_steps > 0:
            self.plain_steps = max(0, self.plain_steps - 1)
            return target, True
        self.omega = min(self.omega * self.GROWTH, self.MAX_STEP)
        candidate = Stats(*(a + self.omega * (t - a) for a, t in zip(stats, target)))
        if np.any(candidate.nk < 0):
            self.omega = 1.0
            return target, True
        self.next_plain = not self.omega > 1.0
        if not self.needs_validity_check:
            return candidate, True  # (Gamma families: positive whenever the counts are)
        return Candidate(candidate, target), True

    def rejected(self):
        """The pass found the last candidate invalid and was taken at its plain update."""
        self.omega = 1.0
        self.next_plain = True


class _Moves:
    """Merge and delete moves, each accepted only when the exact ELBO rises.

    The memoized variational inference of Hughes and Sudderth (2013): after a full pass at the
    current posterior, the pass's statistics ``T`` and the entropy of its responsibilities ``r``
    give the exact ELBO of ``(q(T), r)`` from statistics alone
    (:func:`skbgmm._svi._model.expected_log_joint`). A proposal changes ``r`` in a way whose
    statistics and entropy the same pass accumulated:

    - merge ``(i, j)``: ``r_i + r_j``; the statistics are the sums (``family.merge``), the
      entropy needs ``sum_n (r_ni + r_nj) log(r_ni + r_nj)``, accumulated for a bounded set of
      candidate pairs (each active component with its ``NEIGHBOURS`` nearest);
    - delete ``k``: the rows of the smallest active component reassigned to the others in
      proportion to their responsibilities (its statistics accumulated by the same pass).

    A proposal is accepted when its ELBO beats that of ``(q(T), r)``, which is at least the ELBO
    the pass reported, so the next pass's ELBO is higher still: ``lower_bounds_`` stays monotone
    across moves. Several disjoint merges can be accepted in one round, each checked on the
    exact ELBO of the combination.
    """

    NEIGHBOURS = 3  # candidate merge partners per component
    EVERY = 5  # full passes between two move rounds (and one whenever the fit settles)
    AFTER_MOVE = 2  # full passes from an accepted move to the next round

    def __init__(self, fns, config, frame, prior, reg, enabled, single):
        self.fns, self.frame, self.prior, self.reg = fns, frame, prior, reg
        self.config = config
        self.shapes = covariance_shapes(config.covariance_type)
        self.enabled = enabled
        # float32 passes sum rows' entropies to ~1e-7 relative: a margin keeps rounding out
        self.margin = 1e-7 if single else 1e-11
        self.n_merges = 0
        self.n_deletes = 0
        self.n_births = 0
        self.failed_births = 0  # reset when any move is accepted
        self.last_ranked = None  # the last round's merge candidates, best one-pass ELBO first
        self.last_gains = None
        self.failed_trials = 0
        self.last_delete = None  # the last delete candidate's test (MoveTest)
        self.last_pairs = {}  # each merge pair's last test that fell short, by pair

    REFINE = 6  # plain passes that refine a trial merge before its ELBO is compared
    MAX_TRIALS = 2  # refined trials in a row that may fail before the fit stops trying
    #: largest one-pass ELBO deficit (nats per unit weight) worth a trial: a pair of the
    #: components that split one cluster falls short by 1e-4 to 1.2e-3 when the cluster is split
    #: in two, by up to 6.7e-3 when in five (one 2-D blob, ``make_blobs(2000, 2, centers=1,
    #: random_state=3)``, K=10: at 5e-3 the fit stopped at five components, 0.03 nats per unit
    #: weight below one); two real clusters by 0.017 to 0.26
    TRIAL_GAP = 1e-2
    TRIAL_SHARE = 5e-3  # smallest weight of a component in a trial merge

    SLOW_GAIN = 1e-4  # a fit gaining less per pass (nats per unit weight) is crawling

    def crawling(self, lower_bounds, elbo):
        """Whether the last ``EVERY`` passes gained less than ``SLOW_GAIN`` each on average."""
        if len(lower_bounds) < self.EVERY:
            return False
        return (elbo - lower_bounds[-self.EVERY]) / self.EVERY < self.SLOW_GAIN

    BIRTH_ROWS = 4096  # rows of a subsample that a split is computed on
    #: passes after which a split still behind the fixed point is abandoned: the first pass
    #: evaluates the split itself (its 2-means statistics with the responsibilities they
    #: imply). At 1 instead of 2, ten seeds of each bundled set lost no split and saved a pass
    #: per fit (wine 175 -> 165 passes, digits 343 -> 333, the same ELBOs), and 144 fits of
    #: blobs from ``init_params='random_from_data'`` (4 clusters in 2-D and 6 in 5-D, every
    #: covariance type; 4 in 2-D, two of them 3 to 4 apart, K=4 and 6) took the same 153
    #: splits to the same ELBOs
    BIRTH_GIVE_UP = 1

    def refined_birth(self, source, target, elbo, budget, refine_pass, rng):
        """At a fixed point with a spare component: split the largest one in two, refine, test.

        Coordinate ascent cannot separate two clusters that one component covers; merges only
        join. The largest component's rows (from a subsample, by responsibility) are split by
        2-means into it and a spare component, the statistics scaled to the component's count;
        the split is refined by plain passes and kept only if the ELBO beats the fixed
        point's. A split still behind after ``BIRTH_GIVE_UP`` passes is abandoned, so a fit
        that is already right pays one pass. One trial per fixed point.
        Returns ``(statistics, ELBO)`` or None.
        """
        from sklearn.cluster import KMeans

        if not self.enabled or self.failed_births >= 1 or budget <= self.REFINE:
            return None
        weight = target.nk.sum()
        share = target.nk / weight
        spare = np.flatnonzero(share < SPARE_WEIGHT)
        if spare.size == 0:
            return None
        k = int(np.argmax(target.nk))
        X, w = source.subsample(self.BIRTH_ROWS, rng)
        X, w = np.asarray(X, dtype=np.float64), np.asarray(w, dtype=np.float64)
        post = to_numpy(self.fns.posterior(self.frame, self.prior, self.reg, target))
        resp = np.exp(predictive_log_resp(X, self.config, post)[0])
        mine = (resp[:, k] > 0.5) & (w > 0)
        n_features = X.shape[1]
        if mine.sum() < 4 * (n_features + 1):
            return None
        # (a proposal: missing entries start at the component's mean, the refinement completes)
        Xk, wk = filled(X[mine], post.means[k]), w[mine]
        order = np.lexsort(Xk.T[::-1])  # row order must not matter
        Xk, wk = Xk[order], wk[order]
        labels = KMeans(n_clusters=2, n_init=1, random_state=rng).fit(Xk, sample_weight=wk).labels_
        if min(np.bincount(labels, minlength=2)) < n_features + 1:
            return None
        j = int(spare[0])
        one_hot = np.zeros((Xk.shape[0], target.nk.shape[0]))
        one_hot[np.arange(Xk.shape[0]), np.where(labels == 0, k, j)] = 1.0
        split = batch_stats(self.fns, Xk, wk, one_hot, self.frame)
        split = self.shapes.scale(split, target.nk[k] / wk.sum())
        both = np.zeros(target.nk.shape[0], dtype=bool)
        both[[k, j]] = True
        stats = self.shapes.drop(target, both)
        if self.shapes.shared:  # the shared second moments are all rows' whichever component
            split = split._replace(s2=np.zeros_like(split.s2))
        stats = self.shapes.add(stats, split)
        value = -np.inf
        for n_pass in range(self.REFINE):
            stats, value = refine_pass(stats)
            if n_pass + 1 >= self.BIRTH_GIVE_UP and value < elbo:
                break
        if value > elbo + self.margin * (abs(elbo) + 1.0):
            self.n_births += 1
            self.failed_trials = 0
            self._forget_tests()
            return stats, value
        self.failed_births += 1
        return None

    def refined_merge(self, plan, target, elbo, budget, refine_pass, periodic=False):
        """At a fixed point where no one-pass move helps: merge the closest pair, refine, test.

        Merging two components that split one cluster between them can lower the ELBO until the
        merged component has adapted, which the one-pass test cannot see. The candidate with the
        best one-pass ELBO is merged and refined by ``REFINE`` plain passes; it is accepted only
        if the refined ELBO beats the fixed point's (``elbo``, per unit weight). Returns
        ``(statistics, ELBO)`` or None.
        """
        if (
            not self.enabled
            or plan is None
            or self.last_ranked is None
            or self.failed_trials >= (1 if periodic else self.MAX_TRIALS)
            or budget <= self.REFINE
        ):
            return None
        weight = target.nk.sum()
        share = target.nk / weight
        # only pairs of components that carry weight and whose one-pass deficit is small enough
        # to be a cluster split between components (``TRIAL_GAP``)
        ranked = [
            m
            for m in self.last_ranked
            if self.last_gains[m] > -self.TRIAL_GAP * weight
            and min(share[plan.pairs[m]]) >= self.TRIAL_SHARE
        ]
        for m in ranked[self.failed_trials :][:1]:
            i, j = (int(v) for v in plan.pairs[m])
            stats = self._sorted(self.shapes.merge(target, i, j))
            value = -np.inf
            for _ in range(self.REFINE):
                stats, value = refine_pass(stats)
            if value > elbo + self.margin * (abs(elbo) + 1.0):
                self.n_merges += 1
                self.failed_trials = self.failed_births = 0
                self._forget_tests()
                return stats, value
            self.failed_trials += 1
        return None

    def _active(self, stats):
        return np.flatnonzero(stats.nk > max(1e-8 * stats.nk.sum(), 1e-10))

    #: a move round on data of at most this many rows times pairs of active components takes
    #: the entropy terms of every pair in its one pass and picks the candidates afterwards,
    #: from the distances the pass returns: no planning call (a traced call each round, ~1 ms
    #: on small data, and 0.2 s of a first fit for its trace and first call)
    FOLD_BUDGET = 2**18

    def folded_plan(self, stats, n_rows, elbo=None):
        """A plan of every pair of the point's active components and its delete candidate, for
        a round whose pass picks its candidates itself (:meth:`chosen`); None when a planning
        call is cheaper (many rows or components) or there is nothing to plan. ``elbo`` is the
        last pass's (per unit weight; :meth:`_delete_candidate`; the pairs are screened after
        the pass, by :meth:`chosen`)."""
        point = _point(stats)[0]
        active = self._active(point)
        n_pairs = active.size * (active.size - 1) // 2
        if not self.enabled or active.size < 2 or n_rows * n_pairs > self.FOLD_BUDGET:
            return None
        i, j = np.triu_indices(active.size, k=1)
        pairs = np.stack([active[i], active[j]], axis=1).astype(np.int32)
        return MovePlan(pairs, self._delete_candidate(point, active, elbo))

    def chosen(self, plan, stats, terms, elbo=None):
        """The plan :meth:`plan` would have made at ``stats``, the point a pass of the folded
        ``plan`` used, and that pass's terms restricted to its pairs.

        When the pass found a candidate point invalid it was taken at the fallback, whose
        distances it returned: the same choice follows, but for a pair or a delete candidate
        the pass has no terms for (a component active in one point only), which is left out.
        """
        if self._active(stats).size < 2:
            return None, terms
        # (the delete candidate was screened by folded_plan; its pairs are screened here)
        pairs, delete = self._candidates(terms.distances, stats)
        pairs = self._screened_pairs(pairs, stats, elbo)
        index = {tuple(p): m for m, p in enumerate(plan.pairs.tolist())}
        keep = [tuple(p) in index for p in pairs.tolist()]
        pairs = pairs[np.asarray(keep, dtype=bool)].reshape(-1, 2)
        picked = np.array([index[tuple(p)] for p in pairs.tolist()], dtype=np.intp)
        delete = delete if delete == plan.delete else -1
        return MovePlan(pairs, delete), terms._replace(pair_entropy=terms.pair_entropy[picked])

    def plan(self, stats, elbo=None):
        """The candidates a pass at ``stats`` should accumulate terms for (None: no round).

        ``stats`` may be a :class:`Candidate`: the same traced call checks it; ``elbo`` is the
        last pass's (per unit weight; :meth:`_screened_pairs`, :meth:`_delete_candidate`). Returns
        ``(plan, the statistics of the point, whether a candidate was rejected)``.
        """
        point, fallback, check = _point(stats)
        if not self.enabled or self._active(point).size < 2:
            return None, stats, False
        dist, used = self.fns.mean_distances(
            self.frame, self.prior, self.reg, point, fallback, check
        )
        rejected = not bool(used)
        stats = fallback if rejected else point
        if self._active(stats).size < 2:
            return None, stats, rejected
        pairs, delete = self._candidates(np.asarray(dist), stats, elbo)
        return MovePlan(pairs, delete), stats, rejected

    #: a candidate whose last test fell short by more than its gap (nats per unit weight:
    #: ``DELETE_RECHECK_GAP`` for a delete, ``PAIR_RECHECK_GAP`` for a merge) and by more than
    #: ``RECHECK_FACTOR`` times what the fit has gained since is not tested again while its
    #: count stays above half the count it had, for at most ``RECHECK_ROUNDS`` rounds in a row;
    #: any accepted move forgets every test. Deleting a cluster that carries its rows, or
    #: merging two real clusters, falls short by far more than a settling fit moves. The delete
    #: terms are a step's most costly move terms when the candidate touches most rows (1M x 10,
    #: K=10, 'full', one 20,971-row chunk, float64: 13.6 ms plain, 16.3 with the pairs' terms,
    #: 25.7 with the delete candidate's), and there its test is hopeless (a tenth of the rows,
    #: 0.3 nats per unit weight short). A pair's gap is ``TRIAL_GAP``: a pair a refined trial
    #: merge could take is always tested.
    DELETE_RECHECK_GAP = 1e-3
    PAIR_RECHECK_GAP = TRIAL_GAP
    RECHECK_FACTOR = 10.0
    RECHECK_ROUNDS = 3

    def _forget_tests(self):
        self.last_delete = None
        self.last_pairs = {}

    def _ruled_out(self, last, count, elbo, gap):
        """Whether ``last`` (a :class:`MoveTest`) rules its candidate out of this round."""
        if count < 0.5 * last.count or last.skipped >= self.RECHECK_ROUNDS:
            return False
        gained = max(float(elbo) - last.elbo, 0.0)
        return last.deficit > max(gap, self.RECHECK_FACTOR * gained)

    def _delete_candidate(self, stats, active, elbo):
        """The smallest active component, or -1 when its last test rules it out
        (``DELETE_RECHECK_GAP``); ``elbo`` is the last pass's per unit weight (None: test)."""
        k = int(active[np.argmin(stats.nk[active])])
        last = self.last_delete
        if last is None or elbo is None or last.candidate != k:
            return k
        if self._ruled_out(last, stats.nk[k], elbo, self.DELETE_RECHECK_GAP):
            self.last_delete = last._replace(skipped=last.skipped + 1)
            return -1
        return k

    def _screened_pairs(self, pairs, stats, elbo):
        """``pairs`` without those their last test rules out (``PAIR_RECHECK_GAP``)."""
        if elbo is None or not self.last_pairs:
            return pairs
        keep = np.ones(pairs.shape[0], dtype=bool)
        for m, (i, j) in enumerate(pairs.tolist()):
            last = self.last_pairs.get((i, j))
            count = stats.nk[i] + stats.nk[j]
            if last is not None and self._ruled_out(last, count, elbo, self.PAIR_RECHECK_GAP):
                self.last_pairs[(i, j)] = last._replace(skipped=last.skipped + 1)
                keep[m] = False
        return pairs[keep].reshape(-1, 2)

    def _candidates(self, dist, stats, elbo=None):
        """``(pairs, delete)`` from the (K, K) distances of the means at ``stats``: each active
        component with its ``NEIGHBOURS`` nearest (:meth:`_screened_pairs`), and the smallest
        active component (:meth:`_delete_candidate`; -1 for none)."""
        active = self._active(stats)
        dist = dist[np.ix_(active, active)]
        score = dist + dist.T
        np.fill_diagonal(score, np.inf)
        pairs = set()
        for a in range(active.size):
            for b in np.argsort(score[a], kind="stable")[: self.NEIGHBOURS]:
                if np.isfinite(score[a, b]):
                    pairs.add((min(a, b), max(a, b)))
        pairs = np.array(sorted(pairs), dtype=np.int32).reshape(-1, 2)
        pairs = active[pairs].astype(np.int32)
        return self._screened_pairs(pairs, stats, elbo), self._delete_candidate(stats, active, elbo)

    def _elbos(self, table, proposals):
        """Exact ELBOs of proposals ``(members, entropy)``, each ``members`` the indices of its
        components in ``table``, in stick order."""
        members = np.stack([p[0] for p in proposals]).astype(np.int32)
        entropy = np.array([p[1] for p in proposals], dtype=np.float64)
        values = self.fns.memo_elbo(self.frame, self.prior, self.reg, table, members, entropy)
        return np.asarray(values)

    def _sorted(self, stats):
        return self.shapes.reorder(stats, size_order(stats))

    def decide(self, plan, target, terms):
        """The accepted :class:`Decision` (statistics sorted by size), or None if none is better.

        Every proposal takes its components from one table: the pass's ``K`` components, the
        merged component of each candidate pair, an empty component, and the delete
        candidate's components; a proposal is the indices of its components, sorted by size
        (the order in which the Dirichlet process's sticks are evaluated).
        """
        h = terms.entropy
        total_h = float(h.sum())
        n_comp, n_pairs = target.nk.shape[0], plan.pairs.shape[0]
        parts = [target, self.shapes.pair_sums(target, plan.pairs)]
        parts.append(self.shapes.empty_component(target))
        if plan.delete >= 0:
            parts.append(terms.deleted)
        table = self.shapes.components_table(parts)
        empty = n_comp + n_pairs

        def merged(members, m):
            i, j = plan.pairs[m]
            out = members.copy()
            out[i], out[j] = n_comp + m, empty
            return out

        def in_stick_order(members):
            return members[np.argsort(-table.nk[members], kind="stable")]

        base = np.arange(n_comp)
        proposals = [(base, total_h)]
        merges = []
        for m, ((i, j), hp) in enumerate(zip(plan.pairs, terms.pair_entropy)):
            gain_h = float(hp) - float(h[i]) - float(h[j])
            merges.append((int(i), int(j), gain_h))
            proposals.append((in_stick_order(merged(base, m)), total_h + gain_h))
        if plan.delete >= 0:
            deleted = empty + 1 + size_order(terms.deleted)
            proposals.append((deleted, terms.deleted_entropy))
        values = self._elbos(table, proposals)
        base_value = values[0]
        margin = self.margin * (abs(base_value) + 1.0)
        gains = values[1:] - base_value
        self.last_ranked = np.argsort(-gains[: len(merges)], kind="stable")
        self.last_gains = gains[: len(merges)]
        best = int(np.argmax(gains)) if gains.size else -1
        if merges and best == len(merges) and not gains[best] > gains[: len(merges)].max() + margin:
            # a delete no better than the best merge (beyond the margin) is the same proposal
            # when the deleted component's rows are shared with that one component alone
            # (r_nj / (1 - r_nd) = r_nj + r_nd): which wins is rounding, and the merges may
            # continue with further disjoint merges in this round
            best = int(np.argmax(gains[: len(merges)]))
        weight = float(target.nk.sum())
        for (i, j, _), gain in zip(merges, gains):
            if gain < 0:
                self.last_pairs[(i, j)] = MoveTest(
                    (i, j),
                    -float(gain) / weight,
                    float(base_value) / weight,
                    float(target.nk[[i, j]].sum()),
                )
            else:
                self.last_pairs.pop((i, j), None)
        if plan.delete >= 0:
            self.last_delete = MoveTest(
                int(plan.delete),
                -float(gains[-1]) / weight,
                float(base_value) / weight,
                float(target.nk[plan.delete]),
            )
        if best < 0 or not gains[best] > margin:
            return None
        self._forget_tests()  # (a move is accepted: the fit has changed)
        if plan.delete >= 0 and best == len(merges):
            self.n_deletes += 1
            self.failed_trials = self.failed_births = 0
            return self._decision(terms.deleted, [], plan.delete)
        # the best merge, then the other disjoint merges that raise the ELBO alone, in order of
        # their gains: every prefix of that sequence is evaluated (in one call) and the best
        # prefix kept, a longer one only if it beats the shorter by the margin
        sequence, used = [], set()
        for m in self.last_ranked:
            i, j, _ = merges[m]
            if gains[m] > margin and i not in used and j not in used:
                sequence.append(m)
                used.update((i, j))
        members, h, prefixes = base, total_h, []
        for m in sequence:
            members, h = merged(members, m), h + merges[m][2]
            prefixes.append((in_stick_order(members), h))
        prefix_values = [values[1 + sequence[0]]]
        if len(sequence) > 1:
            prefix_values.extend(self._elbos(table, prefixes[1:]))
        best = 0
        for n, value in enumerate(prefix_values):
            if value > prefix_values[best] + margin:
                best = n
        accepted = [merges[m][:2] for m in sequence[: best + 1]]
        current = target
        for i, j in accepted:
            current = self.shapes.merge(current, i, j)
        self.n_merges += len(accepted)
        self.failed_trials = self.failed_births = 0
        return self._decision(current, accepted, -1)

    def _decision(self, stats, merges, deleted):
        order = size_order(stats)
        return Decision(self.shapes.reorder(stats, order), merges, deleted, order)


def _settles_next(previous, change, tol) -> bool:
    """Whether a fit whose last two passes raised the ELBO by ``previous`` then ``change`` is
    due to gain less than a fifth of ``tol`` in all the passes still to come: under linear
    convergence at the rate ``r = change / previous`` they gain ``change * r / (1 - r)``. Only
    a rate of at most one half and a change within ten times ``tol`` count. (1M x 10 blobs,
    K=10, 'full': 3.5e-5 then 1.8e-6 predict 1.0e-7 to come; overlapping 5-D blobs at rates
    of 0.11 to 0.39 predict 2.8e-7 and more, and are left to the plain rule.)
    """
    if tol <= 0 or previous is None or change is None:
        return False
    if not (0.0 < change <= 0.5 * previous and change < 10.0 * tol):
        return False
    rate = change / previous
    return change * rate / (1.0 - rate) < 0.2 * tol


def _lowered_by_plain_step(relax, settled, tol) -> bool:
    """Whether the pass just taken, a plain coordinate-ascent step, lowered the ELBO.

    An exact conjugate update cannot: the posterior of the pass's statistics maximises the ELBO
    given its responsibilities. ``reg_covar`` makes the update inexact where it is not small
    against the scatter and the prior, as on a constant column (whose prior variance is
    ``reg_covar`` itself): there each plain step near the fixed point lowers the ELBO by a
    little (standardised digits, three constant columns: 1.5e-6 per sample per step, above the
    default ``tol``, for 20 passes and more). The fit has settled: further passes mostly drift
    (there, seed 1: 22 more passes before a move round's restart gains 1.4e-4 per sample).
    A fall within rounding (1e-12 relative) does not count, nor does any with ``tol=0``.
    """
    if tol <= 0 or not relax.evaluated_plain or settled.change is None:
        return False
    return settled.change < -1e-12 * (abs(settled.value) + 1.0)


def run(source, n_samples, config: Config, prior: Prior, options: Options, state: State, rng):
    """Fit from ``state`` on the rows of ``source``; returns a :class:`FitResult`.

    ``source`` yields ``(X, sample_weight)`` NumPy pairs through ``chunks(rows)`` (every row once,
    in order) and ``minibatches(batch_size, rng)`` (every row once per epoch); ``n_samples`` is
    its number of rows. ``rng`` is a :class:`numpy.random.RandomState` for shuffling.

    Phases: minibatch epochs (when the batch is smaller than the data) while the epoch-averaged
    ELBO moves by more than ``max(tol, SWITCH_TOL)``; then over-relaxed full-data passes until
    the ELBO moves by less than ``tol``. On large data (``SINGLE_PRECISION_ROWS`` rows or more)
    those passes do their per-point work in float32 (the change of the ELBO between two passes
    is accurate to far below ``tol`` there) and one plain float64 pass ends the fit; with moves,
    that exact pass is also the last move round (the move round of the settled fit is not paid
    for by a float32 pass of its own; a move it accepts sends the fit back to float32 passes).
    When the float32 passes settle at an over-relaxed point, which proves nothing on its own,
    the exact pass is also the plain step that confirms the fixed point (its change is
    measured against the float32 ELBO, so only where ``tol`` is well above the two precisions'
    discrepancy, ``CROSS_PRECISION_TOL`` and ``CROSS_PRECISION_PER_FEATURE``); if it
    does not, float32 passes resume and settle with a plain float32 step as on smaller data.
    The same holds when two float32 changes shrink so fast that the passes to come are due to
    gain less than ``tol / 5`` (:func:`_settles_next`): the exact pass is then the next pass.
    On smaller data every full pass is float64. The last pass of a fit is always an exact
    full-data step.
    """
    fns = functions(config)
    source = maybe_replicated(source)
    total = state.total_samples
    prior = frozen(prior)
    frame = frozen(state.frame)  # (converted to tensors once per fit)
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
    relax = _Overrelaxation(fns.fam.needs_validity_check)
    moves = _Moves(fns, config, frame, prior, reg, options.moves, single)
    since_moves, settling = moves.EVERY, False  # the first full pass is a move round
    last_pass = None
    exact_round = False  # the next pass: float64, with a move round, possibly the last
    confirming = False  # ... and the plain step from an over-relaxed point that had settled
    can_confirm = single and options.tol >= max(
        CROSS_PRECISION_TOL, CROSS_PRECISION_PER_FEATURE * n_features
    )
    final_done = False
    round_plan = None  # the plan of the last move round evaluated since the last accepted move

    trial_passes = [0]  # passes of trial moves (not in lower_bounds: they are not monotone)

    def passes():
        return len(lower_bounds) + trial_passes[0]

    def refine_pass(stats):
        """One plain full pass for a trial move: (plain update, ELBO at ``stats``)."""
        trial_passes[0] += 1
        bar.start_pass(passes(), "trial")
        target, local, kl, _, _ = _full_pass(
            config, source, frame, prior, reg, stats, rows, bar, single=single
        )
        return target, (local - kl) / total

    def trial_at_fixed_point(plan, target, elbo, budget):
        """At a fixed point: a refined merge, else a refined split; (stats, ELBO) or None."""
        trial = moves.refined_merge(plan, target, elbo, budget, refine_pass)
        if trial is None:
            trial = moves.refined_birth(source, target, elbo, budget, refine_pass, rng)
        return trial

    def accept_trial(trial):
        stats, trial_elbo = trial
        report(trial_elbo, "full, refined move accepted", settled)
        relax.restart(stats)
        settled.reset()
        return stats

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
        while passes() < options.max_iter:
            last = passes() + 1 == options.max_iter
            if last and (phase == "minibatch" or single):
                break  # the last pass allowed is the exact one below
            bar.start_pass(len(lower_bounds) + 1, phase)
            if phase == "minibatch":
                stats, n_steps, elbo, _, _ = _svi_steps(
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
            exact = exact_round
            exact_round = False
            tried = moves.enabled and (settling or exact or since_moves >= moves.EVERY)
            plan = None
            folded = False
            if tried:
                last_elbo = lower_bounds[-1] if lower_bounds else None  # (screens candidates)
                # small data: the pass takes every pair's terms and picks the candidates itself
                if n_samples <= rows:
                    plan = moves.folded_plan(stats, n_samples, last_elbo)
                    folded = plan is not None
                if not folded:
                    # (the move round's candidates need the point: the same call checks it)
                    plan, stats, rejected = moves.plan(stats, last_elbo)
                    if rejected:
                        relax.rejected()
            target, local, kl, terms, used = _full_pass(
                config,
                source,
                frame,
                prior,
                reg,
                stats,
                rows,
                bar,
                single=single and not exact,
                plan=plan or NO_MOVES,
            )
            if isinstance(stats, Candidate):
                # the pass checked the over-relaxed point; if invalid it was taken at the plain
                # update the point extrapolated from
                if used:
                    stats = stats.stats
                else:
                    stats = stats.fallback
                    relax.rejected()
            if folded:
                plan, terms = moves.chosen(plan, stats, terms, last_elbo)
            last_pass = (target, terms)
            elbo = (local - kl) / total
            since_moves += 1
            if tried and not (plan is not None and relax.dip(elbo)):
                # (a round at a failed extrapolation is not evaluated: the next pass, at the
                # plain update that replaces the point, carries it instead)
                since_moves, settling = 0, False
            if plan is not None and not relax.dip(elbo):
                # (not at a failed extrapolation: that point is undone below, not moved from)
                round_plan = plan
                moved = moves.decide(plan, target, terms)
                trial = None
                if moved is None and moves.crawling(lower_bounds, elbo):
                    budget = options.max_iter - passes() - 1 - (1 if single else 0)
                    trial = moves.refined_merge(plan, target, elbo, budget, refine_pass, True)
                if moved is not None or trial is not None:
                    # accepted: its ELBO beats the pass's, so the next pass reports more
                    report(elbo, "full, move accepted", settled)
                    if trial is not None:
                        moved, trial_elbo = trial
                        report(trial_elbo, "full, refined merge accepted", settled)
                    else:
                        moved = moved.stats
                    stats = moved
                    round_plan = None
                    relax.restart(moved)
                    settled.reset()
                    since_moves = moves.EVERY - moves.AFTER_MOVE  # moves come in cascades
                    continue
            if exact and confirming and not settled.below(elbo):
                # the plain step from the settled over-relaxed point still moved the ELBO: not
                # a fixed point; float32 passes resume (and settle with a plain float32 step)
                confirming = can_confirm = False
                stats, _ = relax.step(stats, target, elbo)
                report(elbo, "full", settled)
                settled.update(elbo)
                continue
            if exact:
                # the float32 passes had settled and this exact pass found no move: a fixed
                # point unless a refined trial move helps; its plain update ends the fit
                confirming = False
                report(elbo, "final exact step", settled)
                trial = trial_at_fixed_point(plan, target, elbo, options.max_iter - passes())
                if trial is None:
                    converged = final_done = True
                    stats = target
                    break
                stats = accept_trial(trial)
                round_plan = None
                continue
            stats, accepted = relax.step(stats, target, elbo)
            report(elbo, "full" if accepted else "full, extrapolation undone", settled)
            if not accepted:
                continue
            previous_change = settled.change
            changed_little = settled.update(elbo)
            if (
                not changed_little
                and can_confirm
                and _settles_next(previous_change, settled.change, options.tol)
            ):
                # on large data, when the changes shrink so fast that the passes to come are
                # due to gain less than tol / 5, the exact pass is the next pass: the plain step
                # from the last point, which ends the fit if its change (against this float32
                # pass's ELBO) is below tol and otherwise sends the fit back to float32 passes
                # (and to a plain float32 step before the exact pass, as on a failed
                # confirmation)
                stats = relax.plain
                relax.restart(stats)
                exact_round = confirming = True
                continue
            if changed_little or _lowered_by_plain_step(relax, settled, options.tol):
                # a fixed point only if the last step was plain coordinate ascent (a small change
                # inside an over-relaxation cycle proves nothing) and no move helps
                # (moves: a round in this pass or the one before, nothing accepted since)
                confirm = can_confirm and not relax.evaluated_plain
                if single and ((relax.evaluated_plain and moves.enabled) or confirm):
                    # on large data the move round is the exact float64 pass that ends the fit;
                    # after an over-relaxed point it is also the plain step that confirms
                    stats = relax.plain
                    relax.restart(stats)
                    exact_round, confirming = True, confirm
                    continue
                if relax.evaluated_plain and (since_moves <= 1 or not moves.enabled):
                    budget = options.max_iter - passes() - (1 if single else 0)
                    # (the refined merge ranks the pairs of the round, this pass or the last)
                    trial = trial_at_fixed_point(
                        plan if plan is not None else round_plan, target, elbo, budget
                    )
                    if trial is None:
                        converged = True
                        stats = relax.plain  # the plain coordinate-ascent update of the point
                        break
                    stats = accept_trial(trial)
                    round_plan = None
                    continue
                stats = relax.plain
                relax.restart(stats)
                # a move round next, unless this pass was one (the plain step from here then
                # settles within one pass of it); on large data the round waits for the exact pass
                settling = not (single and moves.enabled) and since_moves > 0
        final = phase == "minibatch" or single or relax.plain is None
        if final and not final_done and options.max_iter > 0:
            # an exact full-data step in float64 ends the fit
            if relax.plain is not None:
                stats = relax.plain
            bar.start_pass(len(lower_bounds) + 1, "final")
            stats, local, kl, terms, _ = _full_pass(
                config, source, frame, prior, reg, stats, rows, bar
            )
            last_pass = (stats, terms)
            report((local - kl) / total, "final exact step", settled)
        elif relax.plain is not None:
            stats = relax.plain
    finally:
        bar.close()

    # the entropy terms of the final statistics, for a partial_fit that continues the fit
    memo = empty_memo(n_components)
    if last_pass is not None and stats is last_pass[0]:
        memo = memo._replace(entropy=last_pass[1].entropy)
    # a deterministic order for the result: components sorted by decreasing size
    order = size_order(stats)
    stats = covariance_shapes(config.covariance_type).reorder(stats, order)
    posterior = to_numpy(fns.posterior(frame, prior, reg, stats))
    return FitResult(
        posterior=posterior,
        state=State(
            stats=stats,
            frame=frame,
            n_steps=n_steps,
            total_samples=total,
            memo=memo_reorder(memo, order),
        ),
        lower_bounds=np.asarray(lower_bounds, dtype=np.float64),
        n_iter=len(lower_bounds),
        converged=converged,
        n_moves=MoveCounts(moves.n_merges, moves.n_deletes, trial_passes[0], moves.n_births),
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

    In a stream with ``options.moves``, the entropy terms of every batch are kept in
    ``state.memo`` and, after each batch, merges are tested exactly on everything absorbed so
    far (memoized variational inference), so components that split one cluster merge once the
    evidence says so.

    Returns ``(posterior, state, elbo_estimate, n_births, n_merges)``.
    """
    fns = functions(config)
    source = maybe_replicated(source)
    prior = frozen(prior)
    reg = np.float64(options.reg_covar)
    shapes = covariance_shapes(config.covariance_type)
    n_births = 0
    stats = state.stats
    seed = None
    streaming = seen is not None
    memo = (state.memo or empty_memo(stats.nk.shape[0])) if streaming else None
    moves = _Moves(fns, config, state.frame, prior, reg, options.moves and streaming, True)
    pending = state.pending if streaming else None
    far_source = None
    if streaming and seen > 0:
        spare, used = _spare_and_used(stats)
        X, w = (np.concatenate(parts) for parts in zip(*source.chunks()))
        X, w = np.asarray(X, dtype=np.float64), _as_f64(w)
        far = (
            _far(fns, X, w, state.frame, prior, reg, stats, used)
            if spare.size and used.size
            else np.zeros(X.shape[0], dtype=bool)
        )
        Xf, wf = X[far], w[far]
        if pending is not None:
            Xf, wf = np.r_[pending.X, Xf], np.r_[pending.w, wf]
        if far.any() and spare.size and _enough_for_birth(wf.sum(), X.shape[1]):
            if pending is not None:
                # the pending rows come back out of the state, to be absorbed again below
                stats = shapes.add(stats, pending.stats, sign=-1.0)
                stats = stats._replace(nk=np.maximum(stats.nk, 0.0))
                memo = memo_add(memo, pending.memo, sign=-1.0)
                seen -= float(pending.w.sum())
                X, w = np.r_[X, pending.X], np.r_[w, pending.w]
                source = source.like(X, w)
                pending = None
            stats, seed, n_births, dropped = _births(
                fns, Xf, wf, config, prior, reg, state._replace(stats=stats), rng
            )
            keep = ~dropped
            memo = Memo(memo.entropy * keep, memo.pair_entropy * np.outer(keep, keep))
        elif far.any():
            # too few to found a component yet: the explained rows are absorbed now, the
            # others in a step of their own whose terms are remembered as pending
            source, far_source = source.like(X[~far], w[~far]), source.like(X[far], w[far])

    def steps(rows, stats, n_steps, seen, memo):
        return _svi_steps(
            config,
            rows,
            rows.minibatches(batch_size, rng),
            state.frame,
            prior,
            reg,
            stats,
            n_steps,
            state.total_samples,
            options,
            seen=seen,
            memo=memo,
            moves=moves,
        )

    stats, n_steps, elbo, absorbed, memo = steps(source, stats, state.n_steps, seen, memo)
    if far_source is not None:
        before_stats, before_memo = stats, memo
        stats, n_steps, _, far_weight, memo = steps(
            far_source, stats, n_steps, None if seen is None else seen + absorbed, memo
        )
        absorbed += far_weight
        added = Pending(
            X[far],
            w[far],
            shapes.add(stats, before_stats, sign=-1.0),
            memo_add(memo, before_memo, sign=-1.0),
        )
        if pending is not None:
            added = Pending(
                np.r_[pending.X, added.X],
                np.r_[pending.w, added.w],
                shapes.add(pending.stats, added.stats),
                memo_add(pending.memo, added.memo),
            )
        pending = added if added.X.shape[0] <= MAX_PENDING else None
    if seed is not None:
        # the seeds only guided this batch's responsibilities; the batch itself is now absorbed
        stats = shapes.add(stats, seed, sign=-1.0)
        stats = stats._replace(nk=np.maximum(stats.nk, 0.0))
    decision = None
    if moves.enabled:
        # streaming merges: the exact test on everything absorbed so far (memoized terms)
        plan = moves.plan(stats)[0]
        if plan is not None:
            known = MovePlan(plan.pairs, -1)
            terms = MoveTerms(
                memo.entropy,
                memo.pair_entropy[plan.pairs[:, 0], plan.pairs[:, 1]],
                stats,
                0.0,
            )
            decision = moves.decide(known, stats, terms)
    if decision is None:  # no move: only the sort
        decision = moves._decision(stats, [], -1)
    stats, memo = decision.stats, memo_after(memo, decision)
    pending = _pending_after(pending, decision, shapes)
    total = seen + absorbed if streaming else state.total_samples
    state = state._replace(
        stats=stats, n_steps=n_steps, total_samples=total, memo=memo, pending=pending
    )
    posterior = to_numpy(fns.posterior(state.frame, prior, reg, stats))
    return posterior, state, elbo, n_births, moves.n_merges


def memoize(source, config, prior, options, state):
    """One more full pass over ``source`` that also collects the entropy terms of every pair.

    Ends the fit of the first batch of a stream: the state then carries the terms that
    streaming merges test components with (``state.memo``). Returns ``(posterior, state)``.
    """
    fns = functions(config)
    prior = frozen(prior)
    reg = np.float64(options.reg_covar)
    n_components, n_features = state.stats.s1.shape
    pairs = np.array(np.triu_indices(n_components, 1), dtype=np.int32).T
    target, _, _, terms, _ = _full_pass(
        config,
        maybe_replicated(source),
        state.frame,
        prior,
        reg,
        state.stats,
        chunk_rows(n_components, n_features),
        plan=MovePlan(pairs, -1),
    )
    pair = np.zeros((n_components, n_components))
    pair[pairs[:, 0], pairs[:, 1]] = pair[pairs[:, 1], pairs[:, 0]] = terms.pair_entropy
    order = size_order(target)
    stats = covariance_shapes(config.covariance_type).reorder(target, order)
    memo = memo_reorder(Memo(terms.entropy, pair), order)
    state = state._replace(stats=stats, memo=memo)
    return to_numpy(fns.posterior(state.frame, prior, reg, stats)), state


SPARE_WEIGHT = 0.01
_BIRTH_QUANTILE = 0.999
_MIN_BIRTH_POINTS = 10


def _spare_and_used(stats):
    """Components free to be re-seeded, and the others (whose rows explain the data).

    Spare: less than ``SPARE_WEIGHT`` of the weight and fewer rows than a birth gives a new
    component, so a component born a moment ago from a late cluster's first rows is kept.
    """
    share = stats.nk / max(stats.nk.sum(), np.finfo(float).tiny)
    spare = (share < SPARE_WEIGHT) & (stats.nk < _MIN_BIRTH_POINTS)
    return np.flatnonzero(spare), np.flatnonzero(~spare)


def _far(fns, X, w, frame, prior, reg, stats, used):
    """Rows beyond the chi-square 99.9% distance of every component in ``used``."""
    from scipy.stats import chi2

    rows = missing_rows(X)
    limit = step_rows(*stats.s1.shape)
    if rows is None:
        dist = np.concatenate(
            [
                np.asarray(fns.distances(X[s : s + limit], frame, prior, reg, stats))
                for s in range(0, X.shape[0], limit)
            ]
        )[:, used].min(axis=1)
        return (dist > chi2.ppf(_BIRTH_QUANTILE, X.shape[1])) & (w > 0)
    # rows with missing entries: the distance of the observed part, against its own quantile
    far = np.zeros(X.shape[0], dtype=bool)
    if rows.complete.size:
        far[rows.complete] = _far(
            fns, X[rows.complete], w[rows.complete], frame, prior, reg, stats, used
        )
    part = rows.incomplete[~rows.empty]
    if part.size:
        index = rows.index[~rows.empty]
        dist = np.concatenate(
            [
                np.asarray(
                    fns.distances_missing(
                        X[part[s : s + limit]],
                        rows.patterns,
                        index[s : s + limit],
                        frame,
                        prior,
                        reg,
                        stats,
                    )
                )
                for s in range(0, part.size, limit)
            ]
        )[:, used].min(axis=1)
        d_obs = rows.patterns.sum(axis=1)[index]
        far[part] = (dist > chi2.ppf(_BIRTH_QUANTILE, d_obs)) & (w[part] > 0)
    return far


def _enough_for_birth(weight, n_features):
    return weight >= max(_MIN_BIRTH_POINTS, n_features + 1)


def _births(fns, Xf, wf, config, prior, reg, state, rng):
    """Seed spare components on rows ``Xf`` (weights ``wf``) that no component explains.

    Returns ``(stats with the seeds, the seeds alone, number of births, dropped)``: the seeds are
    the statistics of the rows assigned by k-means to spare components, whose own (negligible)
    statistics are dropped (``dropped`` marks them).
    """
    from sklearn.cluster import KMeans

    stats = state.stats
    spare, _ = _spare_and_used(stats)
    n_far = Xf.shape[0]
    n_new = int(min(spare.size, n_far, max(1, wf.sum() // (5 * (Xf.shape[1] + 1)))))
    Xf = filled(Xf, state.frame.shift)  # (a seed: the next steps complete missing entries)
    order = np.lexsort(Xf.T[::-1])  # row order must not matter (as in the initialisation)
    Xf, wf = Xf[order], wf[order]
    labels = KMeans(n_clusters=n_new, n_init=1, random_state=rng).fit(Xf, sample_weight=wf).labels_
    resp = np.zeros((n_far, stats.nk.shape[0]))
    resp[np.arange(n_far), spare[labels]] = 1.0
    seed = batch_stats(fns, Xf, wf, resp, state.frame)
    drop = np.zeros(stats.nk.shape[0], dtype=bool)
    drop[spare[:n_new]] = True
    shapes = covariance_shapes(config.covariance_type)
    return shapes.add(shapes.drop(stats, drop), seed), seed, n_new, drop


#: rows of a stream held as pending (re-assignable); beyond it they are simply kept absorbed
MAX_PENDING = 2000


def _pending_after(pending, decision, shapes):
    """Pending rows' terms follow the components through merges and the final sort."""
    if pending is None:
        return None
    stats = pending.stats
    for i, j in decision.merges:
        stats = shapes.merge(stats, i, j)
    stats = shapes.reorder(stats, decision.order)
    return pending._replace(stats=stats, memo=memo_after(pending.memo, decision))


def initialise_only(source, n_samples, config, prior, options, state, rng) -> FitResult:
    """The engine of ``max_iter=0``: the posterior of the initial state, no data step."""
    fns = functions(config)
    state = state._replace(stats=order_by_weight(state.stats, config))
    post = to_numpy(
        fns.posterior(state.frame, float64(prior), np.float64(options.reg_covar), state.stats)
    )
    return FitResult(post, state, np.empty(0), 0, False)


def size_order(stats: Stats) -> np.ndarray:
    """Components by decreasing soft count (a stable sort): the deterministic order of results.

    For the Dirichlet process this is also the stick order that the prior favours.
    """
    return np.argsort(-stats.nk, kind="stable")


def order_by_weight(stats: Stats, config: Config) -> Stats:
    """Statistics with the components in :func:`size_order`."""
    return covariance_shapes(config.covariance_type).reorder(stats, size_order(stats))
