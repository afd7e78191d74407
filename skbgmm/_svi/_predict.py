"""What a fitted posterior answers: responsibilities, predictive densities, draws, intervals.

Every function takes the fitted posterior as a NumPy :class:`Posterior` record (the estimator's
attributes) and returns NumPy arrays; the maths is in :mod:`skbgmm._svi._model` and the families.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from . import _model
from ._functions import functions
from ._records import Config, Posterior, float64
from ._tf import tf, tfp

_CHUNK_ELEMENTS = 1 << 21  # rows * n_components * n_features per chunk


def chunk_rows(n_components: int, n_features: int) -> int:
    """Rows per chunk for full passes and prediction, bounding the (n, K, D) temporaries."""
    return int(max(256, _CHUNK_ELEMENTS // max(1, n_components * n_features)))


def _post_tensors(post: Posterior) -> Posterior:
    return Posterior(*(tf.constant(v) for v in float64(post)))


#: rows farther than this many standard deviations from every component cannot be scored in
#: float64 (their squared distances overflow): a clear error instead of NaN
FAR = 1e100


def _centre(post: Posterior, config: Config):
    """A centre and spread for the rows: prediction works on ``x - centre`` in float64.

    The predictive laws are translation invariant, so subtracting one point from the rows and
    the means changes nothing but the rounding: data far from the origin keep their digits.
    """
    from ._family_shapes import covariance_shapes

    centre = np.asarray(post.means).mean(axis=0)
    var = covariance_shapes(config.covariance_type).diagonal_variances(
        post.covariances, *post.means.shape
    )
    spread = np.sqrt(np.max(var, axis=0))
    reach = np.max(np.abs(np.asarray(post.means) - centre), axis=0)
    return centre, spread + reach


def _chunked(fn, X, rows, centre, spread, *args):
    outs = []
    for s in range(0, X.shape[0], rows):
        Xc = np.asarray(X[s : s + rows], dtype=np.float64) - centre
        if np.any(np.abs(Xc) > FAR * spread):
            raise ValueError(
                "X holds values more than 1e100 standard deviations from every component; "
                "they cannot be scored in float64."
            )
        outs.append(fn(Xc, *args))
    if isinstance(outs[0], tuple):
        return tuple(np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(outs[0])))
    return np.concatenate([np.asarray(o) for o in outs])


def log_resp(X, config: Config, post: Posterior):
    """Log responsibilities (n, K) and log normalisers (n,) of the rows of X."""
    post = float64(post)
    rows = chunk_rows(*post.means.shape)
    centre, spread = _centre(post, config)
    post = post._replace(means=post.means - centre)
    log_r, log_norm = _chunked(functions(config).log_resp, X, rows, centre, spread, post)
    # normalised again: for rows very far away the per-component terms are so large that the
    # traced log-sum-exp loses the log(K) that normalises them
    return log_r - logsumexp(log_r, axis=1, keepdims=True), log_norm


def log_predictive_density(X, config: Config, post: Posterior, weights):
    """Log posterior predictive density of the rows of X, shape (n,); ``weights`` = ``weights_``."""
    post = float64(post)
    rows = chunk_rows(*post.means.shape)
    log_w = np.log(np.asarray(weights, dtype=np.float64))
    centre, spread = _centre(post, config)
    post = post._replace(means=post.means - centre)
    return _chunked(functions(config).log_density, X, rows, centre, spread, post, log_w)


def sample_predictive(config: Config, post: Posterior, counts, seed):
    """Draw ``counts[k]`` points from each component's posterior predictive (Student-t) law.

    ``seed`` is a pair of integers for TensorFlow's stateless samplers, so the draw depends on
    nothing but the arguments.
    """
    fam, _ = _model.families(config)
    comps = _model.predictive_components(_post_tensors(post), fam)
    n_features = post.means.shape[1]
    out = []
    for k, n_k in enumerate(counts):
        if n_k > 0:
            draw = comps[k].sample(int(n_k), seed=tf.constant([seed[0], seed[1] + k], tf.int32))
            out.append(np.asarray(draw, dtype=np.float64).reshape(int(n_k), n_features))
    return np.concatenate(out) if out else np.empty((0, n_features))


def credible_intervals(config: Config, post: Posterior, level: float):
    """Equal-tailed credible intervals (lower, upper), each (K, D), of means and std devs."""
    fam, _ = _model.families(config)
    post_t = _post_tensors(post)
    lo, hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    means = _model.mean_marginals(post_t, fam)
    shape, rate = fam.variance_marginals(post_t)
    var = tfp.distributions.InverseGamma(shape, rate)
    return (
        (np.asarray(means.quantile(lo)), np.asarray(means.quantile(hi))),
        (np.sqrt(np.asarray(var.quantile(lo))), np.sqrt(np.asarray(var.quantile(hi)))),
    )


def posterior_distributions(config: Config, post: Posterior):
    """TensorFlow Probability objects for q(weights), q(precisions) and the marginal q(means)."""
    fam, wp = _model.families(config)
    p = _post_tensors(post)
    return {
        "weights": wp.distribution(p.weight_concentration),
        "precisions": fam.precisions_distribution(p),
        "means": _model.mean_marginal_distribution(p, fam),
    }


def sample_posterior(config: Config, post: Posterior, n_samples: int, seed):
    """NumPy draws (weights, means, covariances) from the variational posterior."""
    fam, wp = _model.families(config)
    out = _model.sample_posterior(
        _post_tensors(post), fam, wp, int(n_samples), tf.constant(seed, tf.int32)
    )
    return tuple(np.asarray(o) for o in out)


def predictive_distribution(config: Config, post: Posterior, weights):
    """The posterior predictive as one TFP distribution: a mixture of the Student-t laws."""
    fam, _ = _model.families(config)
    components = _model.predictive_components(_post_tensors(post), fam)
    mixture = tfp.distributions.Categorical(probs=tf.constant(np.asarray(weights, np.float64)))
    return tfp.distributions.MixtureSameFamily(mixture, components)


def export_saved_model(config: Config, post: Posterior, weights, path):
    """Write a TensorFlow SavedModel with ``score_samples``, ``predict_proba`` and ``predict``.

    The posterior is stored as constants and the functions are traced from the same model maths
    as the estimator's, so ``tf.saved_model.load(path)`` in a process that never imports skbgmm
    gives the same numbers (rows are centred in float64 as the estimator does).
    """
    fam, wp = _model.families(config)
    post = float64(post)
    centre, _ = _centre(post, config)
    centred = post._replace(means=post.means - centre)
    n_features = post.means.shape[1]

    class GMMServing(tf.Module):
        def __init__(self):
            super().__init__(name="skbgmm_variational_gmm")
            self.post = Posterior(*(tf.constant(v) for v in centred))
            self.centre = tf.constant(centre)
            self.log_weights = tf.constant(np.log(np.asarray(weights, dtype=np.float64)))

        def _log_resp(self, X):
            log_r, _ = _model.log_resp(X - self.centre[None], self.post, fam, wp)
            return log_r - tf.reduce_logsumexp(log_r, axis=1, keepdims=True)

        @tf.function(input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="X")])
        def score_samples(self, X):
            return _model.predictive_log_density(
                X - self.centre[None], self.post, self.log_weights, fam
            )

        @tf.function(input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="X")])
        def predict_proba(self, X):
            return tf.exp(self._log_resp(X))

        @tf.function(input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="X")])
        def predict(self, X):
            return tf.argmax(self._log_resp(X), axis=1)

    module = GMMServing()
    signatures = {
        "score_samples": module.score_samples,
        "predict_proba": module.predict_proba,
        "predict": module.predict,
        "serving_default": module.score_samples,
    }
    tf.saved_model.save(module, path, signatures=signatures)
