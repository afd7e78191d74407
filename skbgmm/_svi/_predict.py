"""What a fitted posterior answers: responsibilities, predictive densities, draws, intervals.

Every function takes the fitted posterior as a NumPy :class:`Posterior` record (the estimator's
attributes) and returns NumPy arrays; the maths is in :mod:`skbgmm._svi._model` and the families.
"""

from __future__ import annotations

import numpy as np
from scipy import special
from scipy.special import logsumexp

from . import _model
from ._functions import functions
from ._patterns import filled, missing_rows
from ._records import Config, Posterior, float64
from ._sizes import chunk_rows
from ._tf import tf, tfp


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


def _checked_chunk(X, s, rows, centre, spread):
    Xc = np.asarray(X[s : s + rows], dtype=np.float64) - centre
    if np.any(np.abs(Xc) > FAR * spread):  # (missing entries compare False)
        raise ValueError(
            "X holds values more than 1e100 standard deviations from every component; "
            "they cannot be scored in float64."
        )
    return Xc


def _chunked(fn, fn_missing, X, rows, centre, spread, *args):
    """``fn(rows, *args)`` chunk by chunk; rows with missing entries go to ``fn_missing``
    (with zeros at the missing entries, their patterns and pattern index)."""
    outs = []
    for s in range(0, X.shape[0], rows):
        Xc = _checked_chunk(X, s, rows, centre, spread)
        miss = missing_rows(Xc)
        if miss is None:
            out = fn(Xc, *args)
            outs.append(
                tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else np.asarray(out)
            )
            continue
        part = fn_missing(filled(Xc[miss.incomplete], 0.0), miss.patterns, miss.index, *args)
        full = fn(Xc[miss.complete], *args) if miss.complete.size else None
        single = not isinstance(part, tuple)
        part = (part,) if single else part
        full = None if full is None else ((full,) if single else full)
        merged = []
        for i, p in enumerate(part):
            p = np.asarray(p)
            out = np.empty((Xc.shape[0],) + p.shape[1:], dtype=p.dtype)
            out[miss.incomplete] = p
            if full is not None:
                out[miss.complete] = np.asarray(full[i])
            merged.append(out)
        outs.append(merged[0] if single else tuple(merged))
    if isinstance(outs[0], tuple):
        return tuple(np.concatenate([o[i] for o in outs]) for i in range(len(outs[0])))
    return np.concatenate(outs)


def log_resp(X, config: Config, post: Posterior):
    """Log responsibilities (n, K) and log normalisers (n,) of the rows of X.

    Rows with missing entries (NaN) are answered from their observed coordinates.
    """
    post = float64(post)
    rows = chunk_rows(*post.means.shape)
    centre, spread = _centre(post, config)
    post = post._replace(means=post.means - centre)
    fns = functions(config)
    log_r, log_norm = _chunked(fns.log_resp, fns.log_resp_missing, X, rows, centre, spread, post)
    # normalised again: for rows very far away the per-component terms are so large that the
    # traced log-sum-exp loses the log(K) that normalises them
    return log_r - logsumexp(log_r, axis=1, keepdims=True), log_norm


def log_predictive_density(X, config: Config, post: Posterior, weights):
    """Log posterior predictive density of the rows of X, shape (n,); ``weights`` = ``weights_``.

    For a row with missing entries (NaN), the marginal density of its observed part.
    """
    post = float64(post)
    rows = chunk_rows(*post.means.shape)
    log_w = np.log(np.asarray(weights, dtype=np.float64))
    centre, spread = _centre(post, config)
    post = post._replace(means=post.means - centre)
    fns = functions(config)
    return _chunked(fns.log_density, fns.log_density_missing, X, rows, centre, spread, post, log_w)


def conditional(X, config: Config, post: Posterior, weights, targets, with_scale=True):
    """The predictive law of the coordinates ``targets`` of each row given its observed ones.

    ``X`` (n, D) holds NaN at the targets (and at any other coordinate to integrate out).
    Returns NumPy ``(weights (n, K), df (n, K), location (n, K, T), scale (n, K, T, T))`` in the
    data's units: a mixture, with those weights, of Student-t laws (multivariate, or with
    independent coordinates for 'diag', whose scale matrices are then diagonal). With
    ``with_scale=False`` the scale is not kept (None): what a conditional mean needs.
    """
    post = float64(post)
    n_comp, n_feat = post.means.shape
    targets = np.asarray(targets, dtype=np.intp)
    log_w = np.log(np.asarray(weights, dtype=np.float64))
    centre, spread = _centre(post, config)
    centred = post._replace(means=post.means - centre)
    fns = functions(config)
    dense = fns.fam.dense_blocks
    rows = max(1, chunk_rows(n_comp, n_feat) // max(1, n_feat))
    out = ([], [], [], [])
    for s in range(0, X.shape[0], rows):
        Xc = _checked_chunk(X, s, rows, centre, spread)
        miss = missing_rows(Xc)
        if miss is None or miss.complete.size:
            raise ValueError("every row needs its target coordinates missing (NaN).")
        lw, df, loc, scale = (
            np.asarray(a)
            for a in fns.conditional(filled(Xc, 0.0), miss.patterns, miss.index, centred, log_w)
        )
        loc = loc[..., targets] + centre[targets]
        if not with_scale:
            scale = None
        elif dense:
            scale = scale[..., targets[:, None], targets[None, :]]
        else:
            scale = np.einsum("nkt,ts->nkts", scale[..., targets], np.eye(targets.size))
        for acc, a in zip(out, (np.exp(lw), df, loc, scale)):
            acc.append(a)
    return tuple(None if a[0] is None else np.concatenate(a) for a in out)


def conditional_distribution(weights, df, loc, scale, independent):
    """A batched ``MixtureSameFamily`` of Student-t laws from :func:`conditional`'s arrays."""
    tfd = tfp.distributions
    mixture = tfd.Categorical(probs=tf.constant(weights))
    if independent:
        sd = np.sqrt(np.diagonal(scale, axis1=-2, axis2=-1))
        components = tfd.Independent(
            tfd.StudentT(df=tf.constant(df[..., None] * np.ones_like(sd)), loc=loc, scale=sd),
            reinterpreted_batch_ndims=1,
        )
    else:
        components = tfd.MultivariateStudentTLinearOperator(
            df=tf.constant(df),
            loc=tf.constant(loc),
            scale=tf.linalg.LinearOperatorLowerTriangular(tf.constant(np.linalg.cholesky(scale))),
        )
    return tfd.MixtureSameFamily(mixture, components)


def sample_distribution(distribution, n_samples, seed):
    """NumPy draws ``(n_samples, *batch, *event)`` from a TFP distribution, stateless seed."""
    draw = distribution.sample(int(n_samples), seed=tf.constant(seed, tf.int32))
    return np.asarray(draw, dtype=np.float64)


def distribution_log_prob(distribution, values):
    return np.asarray(distribution.log_prob(tf.constant(np.asarray(values, np.float64))))


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
    """Equal-tailed credible intervals (lower, upper), each (K, D), of means and std devs.

    The marginals' parameters come from the model; their quantiles from SciPy's inverse
    distribution functions (``stdtrit``, ``gammainccinv``), so a summary imports no TensorFlow
    Probability (0.7 s, and Keras with it: 1.3 s of the command line's ``fit`` and ``demo``).
    An inverse-Gamma(a, b) variance ``v`` has ``P(v <= x) = Q(a, b / x)``, the regularised upper
    incomplete Gamma function, so its ``p``-quantile is ``b / Q^-1(a, p)``.
    """
    fam, _ = _model.families(config)
    post_t = _post_tensors(post)
    lo, hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    df, loc, scale = (np.asarray(a, np.float64) for a in _model.mean_marginals(post_t, fam))
    shape, rate = (np.asarray(a, np.float64) for a in fam.variance_marginals(post_t))

    def mean_quantile(p):
        return loc + scale * special.stdtrit(df, p)

    def std_quantile(p):
        return np.sqrt(rate / special.gammainccinv(shape, p))

    return (mean_quantile(lo), mean_quantile(hi)), (std_quantile(lo), std_quantile(hi))


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
    gives the same numbers (rows are centred in float64 as the estimator does). Rows with
    missing entries (NaN) are answered from their observed coordinates, as by the estimator
    (each such row is its own missingness pattern in the served graph).
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

        def _partial(self, X):
            """Centred rows with zeros where missing, each row its own pattern."""
            Xc = X - self.centre[None]
            observed = tf.logical_not(tf.math.is_nan(Xc))
            Z = tf.where(observed, Xc, tf.zeros_like(Xc))
            index = tf.range(tf.shape(X)[0], dtype=tf.int32)
            return Z, tf.cast(observed, tf.float64), index

        def _log_resp(self, X):
            def complete():
                return _model.log_resp(X - self.centre[None], self.post, fam, wp)[0]

            def partial():
                Z, patterns, index = self._partial(X)
                return _model.log_resp_observed(Z, patterns, index, self.post, fam, wp)[0]

            log_r = tf.cond(tf.reduce_any(tf.math.is_nan(X)), partial, complete)
            return log_r - tf.reduce_logsumexp(log_r, axis=1, keepdims=True)

        @tf.function(
            input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="X")],
            autograph=False,
        )
        def score_samples(self, X):
            def complete():
                return _model.predictive_log_density(
                    X - self.centre[None], self.post, self.log_weights, fam
                )

            def partial():
                Z, patterns, index = self._partial(X)
                return _model.predictive_log_density_observed(
                    Z, patterns, index, self.post, self.log_weights, fam
                )

            return tf.cond(tf.reduce_any(tf.math.is_nan(X)), partial, complete)

        @tf.function(
            input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="X")],
            autograph=False,
        )
        def predict_proba(self, X):
            return tf.exp(self._log_resp(X))

        @tf.function(
            input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="X")],
            autograph=False,
        )
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
