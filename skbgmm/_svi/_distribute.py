"""Data-parallel steps under a ``tf.distribute`` strategy (the Keras ``strategy.scope()`` idiom).

When ``fit`` runs inside ``with strategy.scope():`` of a strategy with several replicas, every
chunk of rows (a full-pass chunk or a minibatch) is split row-wise across the replicas; each
replica runs the same traced step function on its share, and the statistics and ELBO terms are
summed with the strategy's all-reduce. Every replica then holds the same sums, and the client
code applies the same global update, so the replicas never diverge. Under
``MultiWorkerMirroredStrategy`` each worker process runs the same fit on the same data; the
global replica index picks each replica's rows, so the rows are split across all workers.
"""

from __future__ import annotations

import numpy as np

from ._records import Stats
from ._tf import tf


def active_strategy():
    """The strategy of an enclosing ``strategy.scope()`` with more than one replica, or None."""
    if not tf.distribute.has_strategy():
        return None
    strategy = tf.distribute.get_strategy()
    return strategy if strategy.num_replicas_in_sync > 1 else None


class ReplicatedSource:
    """Wraps a local source so that each step's rows are shared out across the replicas."""

    def __init__(self, source, strategy):
        self.source = source
        self.strategy = strategy
        self.n_features = source.n_features

    def __getattr__(self, name):  # chunks, minibatches, subsample, moments, X, w
        return getattr(self.source, name)

    def like(self, X, sample_weight):
        return ReplicatedSource(self.source.like(X, sample_weight), self.strategy)

    def map_chunks(self, func, *args, rows=None):
        return [func(X, w, *args, runner=self._replicated) for X, w in self.source.chunks(rows)]

    def apply(self, func, batch, *args):
        return func(batch[0], batch[1], *args, runner=self._replicated)

    def _replicated(self, step, X_t, w, *args):
        """Run the traced ``step`` on each replica's share of the points (the columns of
        ``X_t``, as the step takes them); sums all-reduced."""
        strategy = self.strategy
        shares = np.array_split(np.arange(X_t.shape[1]), strategy.num_replicas_in_sync)

        def share(context):
            rows = shares[context.replica_id_in_sync_group]
            return tf.constant(X_t[:, rows]), tf.constant(w[rows])

        per_replica = strategy.experimental_distribute_values_from_function(share)

        def replica_step(xb, wb):
            b, local, kl, terms, used = step(xb, wb, *args)
            entropy, pair_entropy, deleted, deleted_entropy, distances = terms
            used = tf.cast(used, kl.dtype)
            return (
                kl,
                used,
                distances,
                *b,
                local,
                entropy,
                pair_entropy,
                *deleted,
                deleted_entropy,
            )

        out = strategy.run(replica_step, args=per_replica)
        # the KL, whether the point was used and the means' distances depend on the point
        # alone: the same everywhere
        kl, used, distances = (
            strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for v in out[:3]
        )
        # every other output is a sum over rows: all-reduced
        s = [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out[3:]]
        terms = (s[4], s[5], Stats(*s[6:9]), s[9], distances)
        return Stats(*s[:3]), s[3], kl, terms, float(used) == 1.0


def maybe_replicated(source):
    """``source``, shared out across replicas when a multi-replica strategy is active.

    Only sources whose rows are read in this process (``source.local``) can be shared out; a
    dask source already runs each block's step on the worker holding it.
    """
    strategy = active_strategy()
    if strategy is None or not getattr(source, "local", False):
        return source
    return ReplicatedSource(source, strategy)
