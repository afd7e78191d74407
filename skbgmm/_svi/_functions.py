"""Traced TensorFlow functions, one set per static configuration.

Every function takes tensors with unknown sample, feature and component dimensions, so a
configuration is traced once per process whatever the data's shape: refitting, cross-validation
and ``check_estimator`` reuse the same graphs.
"""

from __future__ import annotations

import tensorflow as tf

from . import _model
from ._records import Config, Frame, Posterior, Prior, Stats

DTYPE = _model.DTYPE

_S2_RANK = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}
_COV_RANK = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}
_PRIOR_COV_RANK = {"full": 2, "tied": 2, "diag": 1, "spherical": 0}


def _spec(rank):
    return tf.TensorSpec([None] * rank, DTYPE)


class Functions:
    """The traced functions of one :class:`Config`."""

    def __init__(self, config: Config):
        self.config = config
        cov = config.covariance_type
        wc_rank = 2 if config.weight_concentration_prior_type == "dirichlet_process" else 1
        x_spec, vec = _spec(2), _spec(1)
        frame = Frame(vec, vec)
        prior = Prior(_spec(0), _spec(0), vec, _spec(0), _spec(_PRIOR_COV_RANK[cov]))
        stats = Stats(vec, _spec(2), _spec(_S2_RANK[cov]))
        prec_rank = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}[cov]
        post = Posterior(
            _spec(wc_rank), vec, _spec(2), vec, _spec(_COV_RANK[cov]), _spec(prec_rank)
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
        self.log_density = tf.function(self._log_density, input_signature=[x_spec, post])
        self.distances = tf.function(
            self._distances, input_signature=[x_spec, frame, prior, _spec(0), stats]
        )

    # -- pieces shared by the traced functions --------------------------------------------------
    def _internal(self, frame, prior, reg_covar, stats):
        cov = self.config.covariance_type
        prior_z = _model.prior_to_frame(prior, frame.shift, frame.scale, cov)
        reg_z = reg_covar / tf.square(frame.scale)
        post_z = Posterior(*_model.posterior_from_stats(prior_z, reg_z, stats, self.config))
        return prior_z, post_z

    # -- traced entry points -------------------------------------------------------------------
    def _step(self, X, w, frame, prior, reg_covar, stats):
        """One SVI local step on a batch: statistics, weighted log-evidence and global KL.

        The global quantities are float64; the per-point work runs in X's dtype and the batch
        statistics are returned in float64.
        """
        dt = X.dtype
        Z = (X - tf.cast(frame.shift, dt)[None]) / tf.cast(frame.scale, dt)[None]
        prior_z, post_z = self._internal(frame, prior, reg_covar, stats)
        log_resp, log_norm = _model.log_resp(Z, post_z, self.config)
        w_dt = tf.cast(w, dt)
        new_stats = _model.sufficient_stats(
            Z, tf.exp(log_resp) * w_dt[:, None], w_dt, self.config.covariance_type
        )
        new_stats = Stats(*(tf.cast(s, DTYPE) for s in new_stats))
        # log-density in data units: the frame's Jacobian is -sum(log scale) per point
        local = tf.reduce_sum(w * tf.cast(log_norm, DTYPE)) - tf.reduce_sum(w) * tf.reduce_sum(
            tf.math.log(frame.scale)
        )
        kl = _model.global_kl(post_z, prior_z, self.config, tf.shape(X)[1])
        return new_stats, local, kl

    def _posterior(self, frame, prior, reg_covar, stats):
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        return _model.posterior_from_frame(
            post_z, frame.shift, frame.scale, self.config.covariance_type
        )

    def _distances(self, X, frame, prior, reg_covar, stats):
        """Squared Mahalanobis distances (n, K) of X to each component, under E[precision]."""
        Z = (X - frame.shift[None]) / frame.scale[None]
        _, post_z = self._internal(frame, prior, reg_covar, stats)
        return _model.mahalanobis(
            Z, post_z.means, post_z.precisions_cholesky, self.config.covariance_type
        )

    def _batch_stats(self, X, w, resp, frame):
        Z = (X - frame.shift[None]) / frame.scale[None]
        return Stats(*_model.sufficient_stats(Z, resp * w[:, None], w, self.config.covariance_type))

    def _log_resp(self, X, post):
        return _model.log_resp(X, post, self.config)

    def _log_density(self, X, post):
        return _model.predictive_log_density(X, post, self.config)


_CACHE: dict[Config, Functions] = {}


def functions(config: Config) -> Functions:
    """The (cached) traced functions for ``config``."""
    if config not in _CACHE:
        _CACHE[config] = Functions(config)
    return _CACHE[config]
