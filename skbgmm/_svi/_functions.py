"""Traced TensorFlow functions, one set per static configuration.

Every function takes tensors with unknown sample, feature and component dimensions, so a
configuration is traced once per process whatever the data's shape: refitting, cross-validation
and ``check_estimator`` reuse the same graphs.
"""

from __future__ import annotations

import tensorflow as tf

from . import _model
from ._families import DTYPE
from ._records import Config, Frame, Posterior, Prior, Stats


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
        self.step = tf.function(
            self._step, input_signature=[x_spec, vec, frame, prior, _spec(0), stats]
        )
        # minibatch steps: per-point arithmetic in float32 (see the trainer's module docstring)
        self.step32 = tf.function(
            self._step,
            input_signature=[
                tf.TensorSpec([None, None], tf.float32),
                vec,
                frame,
                prior,
                _spec(0),
                stats,
            ],
        )
        self.posterior = tf.function(
            self._posterior, input_signature=[frame, prior, _spec(0), stats]
        )
        self.batch_stats = tf.function(
            self._batch_stats, input_signature=[x_spec, vec, _spec(2), frame]
        )
        self.log_resp = tf.function(self._log_resp, input_signature=[x_spec, post])
        self.log_density = tf.function(self._log_density, input_signature=[x_spec, post, vec])
        self.distances = tf.function(
            self._distances, input_signature=[x_spec, frame, prior, _spec(0), stats]
        )

    # -- pieces shared by the traced functions --------------------------------------------------
    def _internal(self, frame, prior, reg_covar, stats):
        prior_z = _model.prior_to_frame(prior, frame.shift, frame.scale, self.fam)
        reg_z = reg_covar / tf.square(frame.scale)
        return prior_z, _model.posterior_from_stats(prior_z, reg_z, stats, self.fam, self.wp)

    # -- traced entry points -------------------------------------------------------------------
    def _step(self, X, w, frame, prior, reg_covar, stats):
        """One SVI local step on a batch: statistics, weighted log-evidence and global KL.

        The global quantities are float64; the per-point work runs in X's dtype and the batch
        statistics are returned in float64.
        """
        dt = X.dtype
        Z = (X - tf.cast(frame.shift, dt)[None]) / tf.cast(frame.scale, dt)[None]
        prior_z, post_z = self._internal(frame, prior, reg_covar, stats)
        log_resp, log_norm = _model.log_resp(Z, post_z, self.fam, self.wp)
        w_dt = tf.cast(w, dt)
        new_stats = _model.sufficient_stats(Z, tf.exp(log_resp) * w_dt[:, None], w_dt, self.fam)
        new_stats = Stats(*(tf.cast(s, DTYPE) for s in new_stats))
        # log-density in data units: the frame's Jacobian is -sum(log scale) per point
        local = tf.reduce_sum(w * tf.cast(log_norm, DTYPE)) - tf.reduce_sum(w) * tf.reduce_sum(
            tf.math.log(frame.scale)
        )
        kl = _model.global_kl(post_z, prior_z, self.fam, self.wp, tf.shape(X)[1])
        return new_stats, local, kl

    def _posterior(self, frame, prior, reg_covar, stats):
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        return _model.posterior_from_frame(post_z, frame.shift, frame.scale, self.fam)

    def _distances(self, X, frame, prior, reg_covar, stats):
        """Squared Mahalanobis distances (n, K) of X to each component, under E[precision]."""
        Z = (X - frame.shift[None]) / frame.scale[None]
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        return self.fam.mahalanobis(Z, post_z.means, post_z.precisions_cholesky)

    def _batch_stats(self, X, w, resp, frame):
        Z = (X - frame.shift[None]) / frame.scale[None]
        return Stats(*_model.sufficient_stats(Z, resp * w[:, None], w, self.fam))

    def _log_resp(self, X, post):
        return _model.log_resp(X, post, self.fam, self.wp)

    def _log_density(self, X, post, log_weights):
        return _model.predictive_log_density(X, post, log_weights, self.fam)


_CACHE: dict[Config, Functions] = {}


def functions(config: Config) -> Functions:
    """The (cached) traced functions for ``config``."""
    if config not in _CACHE:
        _CACHE[config] = Functions(config)
    return _CACHE[config]
