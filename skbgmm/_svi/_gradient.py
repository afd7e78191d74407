"""The second engine: reparameterised-gradient SVI (Adam on the ELBO), as in the reference recipe.

The variational family is the natural-gradient engine's (Dirichlet or stick-breaking Beta weights;
Normal-Wishart or Normal-Gamma components), so the fitted attributes, the predictive density and
every prediction function are shared. What differs is how the global parameters move: they are
unconstrained tensors mapped through TensorFlow Probability bijectors (Softplus for
concentrations, precisions scales and degrees of freedom above their lower bounds,
``FillScaleTriL`` for Cholesky factors), and Adam follows the gradient of the minibatch ELBO
``(N / |B|) * sum_B log p(x | q) - KL(q || prior)`` (the recipe's scaling, divided by N).

Every expectation is analytic: the local step is the closed-form responsibilities, the KL terms
are closed form, and for the non-conjugate prior ``mu ~ Normal(m0, 1/tau0)`` independent of the
precisions (the recipe's) the cross term needs only ``E[Lambda^-1]``, which the Wishart and Gamma
families give in closed form. No Monte-Carlo sampling is needed for any prior offered here.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from . import _model
from ._records import Config, Frame, Posterior, Prior

tfb = tfp.bijectors
DTYPE = _model.DTYPE


AVERAGING = 0.95  # weight of the running average of the iterates at each step
# the minibatch ELBO is noisy: its smoothed change per epoch is compared with max(tol, this)
GRADIENT_TOL = 1e-4


class Theta(NamedTuple):
    """Unconstrained parameters of the variational posterior (trainer frame)."""

    weight_concentration: tf.Tensor
    mean_precision: tf.Tensor
    means: tf.Tensor
    degrees_of_freedom: tf.Tensor
    covariance: tf.Tensor


_POSITIVE = tfb.Softplus(low=tf.constant(1e-6, DTYPE))
_TRIL = tfb.FillScaleTriL(diag_bijector=tfb.Softplus(low=tf.constant(1e-6, DTYPE)), diag_shift=None)


def _dof_bijector(covariance_type, n_features, independent):
    """Degrees of freedom above the bound that keeps every expectation finite."""
    d = tf.cast(n_features, DTYPE)
    if covariance_type in ("full", "tied"):
        low = d + 1.0 if independent else d - 1.0  # E[Lambda^-1] needs nu > D + 1
    elif covariance_type == "diag":
        low = tf.constant(2.0 if independent else 0.0, DTYPE)  # E[1/lambda]: shape nu/2 > 1
    else:
        low = (2.0 / d) if independent else tf.constant(0.0, DTYPE)  # shape D nu / 2 > 1
    return tfb.Chain([tfb.Shift(low + 1e-6), tfb.Softplus()])


def constrain(theta, config, n_features, independent):
    """The posterior (attribute form, trainer frame) of unconstrained parameters."""
    cov_type = config.covariance_type
    dof = _dof_bijector(cov_type, n_features, independent).forward(theta.degrees_of_freedom)
    if cov_type in ("full", "tied"):
        chol = _TRIL.forward(theta.covariance)
        covariances = tf.matmul(chol, chol, transpose_b=True)
        eye = tf.eye(n_features, batch_shape=tf.shape(chol)[:-2], dtype=DTYPE)
        prec_chol = tf.linalg.matrix_transpose(tf.linalg.triangular_solve(chol, eye, lower=True))
        if cov_type == "tied":
            dof = dof * tf.ones_like(theta.mean_precision)
    else:
        covariances = _POSITIVE.forward(theta.covariance)
        prec_chol = tf.math.rsqrt(covariances)
    return Posterior(
        _POSITIVE.forward(theta.weight_concentration),
        _POSITIVE.forward(theta.mean_precision),
        theta.means,
        dof,
        covariances,
        prec_chol,
    )


def unconstrain(post, config, n_features, independent):
    """Inverse of :func:`constrain` (used to start from the initial posterior)."""
    cov_type = config.covariance_type
    dof = post.degrees_of_freedom
    if cov_type == "tied":
        dof = dof[0]
    dof_bij = _dof_bijector(cov_type, n_features, independent)
    low = dof_bij.bijectors[0].shift
    dof = tf.maximum(dof, low + 1e-3)  # a start inside the allowed range
    if cov_type in ("full", "tied"):
        covariance = _TRIL.inverse(tf.linalg.cholesky(post.covariances))
    else:
        covariance = _POSITIVE.inverse(post.covariances)
    return Theta(
        _POSITIVE.inverse(post.weight_concentration),
        _POSITIVE.inverse(post.mean_precision),
        post.means,
        dof_bij.inverse(dof),
        covariance,
    )


def expected_inverse_precision_diag(post, covariance_type, n_features):
    """diag(E[Lambda_k^-1]), shape (K, D), for the Wishart and Gamma families."""
    d = tf.cast(n_features, DTYPE)
    dof = post.degrees_of_freedom
    n_comp = tf.shape(post.means)[0]
    if covariance_type in ("full", "tied"):
        var = tf.linalg.diag_part(post.covariances) * tf.ones([n_comp, n_features], DTYPE)
        return var * (dof / (dof - d - 1.0))[:, None]
    if covariance_type == "diag":
        return post.covariances * (dof / (dof - 2.0))[:, None]
    return (post.covariances * d * dof / (d * dof - 2.0))[:, None] * tf.ones(
        [n_comp, n_features], DTYPE
    )


def independent_means_kl(post, prior_mean, prior_precision, covariance_type, n_features):
    """E_q[log q(mu | Lambda) - log p(mu)] for ``mu_kd ~ Normal(m0_d, 1 / tau_d)``, summed.

    ``prior_precision`` is per feature (the trainer frame scales an isotropic prior).
    """
    d = tf.cast(n_features, DTYPE)
    beta = post.mean_precision
    e_log_det = _model.expected_log_det_precision(
        post.degrees_of_freedom, post.precisions_cholesky, covariance_type, n_features
    )
    e_log_q = 0.5 * d * tf.math.log(beta) + 0.5 * e_log_det - 0.5 * d
    var = expected_inverse_precision_diag(post, covariance_type, n_features) / beta[:, None]
    sq = tf.square(post.means - prior_mean[None]) + var
    e_log_p = 0.5 * tf.reduce_sum(tf.math.log(prior_precision)) - 0.5 * tf.reduce_sum(
        prior_precision[None] * sq, axis=1
    )
    return tf.reduce_sum(e_log_q - e_log_p)


class GradientFunctions:
    """The traced loss-and-gradient function of one configuration and mean-prior type."""

    def __init__(self, config: Config, independent: bool):
        self.config = config
        self.independent = independent
        cov = config.covariance_type
        wc_rank = 2 if config.weight_concentration_prior_type == "dirichlet_process" else 1
        cov_rank = {"full": 2, "tied": 1, "diag": 2, "spherical": 1}[cov]
        spec = lambda r: tf.TensorSpec([None] * r, DTYPE)  # noqa: E731
        theta = Theta(
            spec(wc_rank), spec(1), spec(2), spec(0 if cov == "tied" else 1), spec(cov_rank)
        )
        prior = Prior(
            spec(0),
            spec(0),
            spec(1),
            spec(0),
            spec({"full": 2, "tied": 2, "diag": 1, "spherical": 0}[cov]),
        )
        self.loss_and_grad = tf.function(
            self._loss_and_grad,
            input_signature=[
                spec(2),
                spec(1),
                theta,
                Frame(spec(1), spec(1)),
                prior,
                spec(0),
                spec(0),
            ],
        )
        self.posterior = tf.function(
            self._posterior, input_signature=[theta, Frame(spec(1), spec(1))]
        )

    def _negative_elbo(self, X, w, theta, frame, prior, reg_covar, total):
        n_features = tf.shape(X)[1]
        Z = (X - frame.shift[None]) / frame.scale[None]
        prior_z = _model.prior_to_frame(
            prior, frame.shift, frame.scale, self.config.covariance_type
        )
        post = constrain(theta, self.config, n_features, self.independent)
        _, log_norm = _model.log_resp(Z, post, self.config)
        wsum = tf.reduce_sum(w)
        local = tf.reduce_sum(w * log_norm) - wsum * tf.reduce_sum(tf.math.log(frame.scale))
        kl = _model.weights_kl(
            post.weight_concentration,
            prior_z.weight_concentration,
            self.config.weight_concentration_prior_type,
        ) + _model.precisions_kl(post, prior_z, self.config.covariance_type, n_features)
        if self.independent:
            tau = prior.mean_precision * tf.square(frame.scale)  # the isotropic prior, rescaled
            kl += independent_means_kl(
                post, prior_z.mean, tau, self.config.covariance_type, n_features
            )
        else:
            kl += _model.means_kl(post, prior_z, self.config.covariance_type, n_features)
        return -((total / wsum) * local - kl) / total

    def _loss_and_grad(self, X, w, theta, frame, prior, reg_covar, total):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = self._negative_elbo(X, w, theta, frame, prior, reg_covar, total)
        return loss, Theta(*tape.gradient(loss, theta))

    def _posterior(self, theta, frame):
        post = constrain(theta, self.config, tf.shape(frame.shift)[0], self.independent)
        return _model.posterior_from_frame(
            post, frame.shift, frame.scale, self.config.covariance_type
        )


_CACHE: dict = {}


def gradient_functions(config: Config, independent: bool) -> GradientFunctions:
    key = (config, independent)
    if key not in _CACHE:
        _CACHE[key] = GradientFunctions(config, independent)
    return _CACHE[key]


def run_gradient(source, n_samples, config, prior, options, state, rng, learning_rate, independent):
    """Adam on the minibatch ELBO from the initial state.

    Returns ``(posterior, lower_bounds, n_iter, converged, n_steps)``.
    """
    from ._functions import functions
    from ._trainer import _frame64, _prior64

    gfn = gradient_functions(config, independent)
    prior = _prior64(prior)
    frame = _frame64(state.frame)
    reg = np.float64(options.reg_covar)
    total = np.float64(state.total_samples)
    n_features = frame.shift.shape[0]
    # start from the initial posterior, in the trainer's frame (the same code as the other engine)
    as_tensors = lambda record: type(record)(*(tf.constant(v) for v in record))  # noqa: E731
    _, post0 = functions(config)._internal(
        as_tensors(frame), as_tensors(prior), tf.constant(reg), as_tensors(state.stats)
    )
    theta = [
        np.asarray(t, dtype=np.float64) for t in unconstrain(post0, config, n_features, independent)
    ]
    average = [t.copy() for t in theta]
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    batch = int(min(options.batch_size, n_samples))
    lower_bounds = []
    converged = False
    smoothed = None
    step = 0
    start = time.perf_counter()
    for _ in range(options.max_iter):
        losses, weights = [], []
        for xb, wb in source.minibatches(batch, rng):
            wb = np.asarray(wb, dtype=np.float64)
            if wb.sum() <= 0:
                continue
            loss, grads = gfn.loss_and_grad(
                np.asarray(xb, dtype=np.float64), wb, Theta(*theta), frame, prior, reg, total
            )
            step += 1
            for i, g in enumerate(grads):
                g = np.asarray(g)
                if not np.all(np.isfinite(g)):
                    raise FloatingPointError(
                        "the ELBO gradient is not finite; lower learning_rate or check the data."
                    )
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                m_hat = m[i] / (1 - beta1**step)
                v_hat = v[i] / (1 - beta2**step)
                theta[i] = theta[i] - learning_rate * m_hat / (np.sqrt(v_hat) + eps)
            # Polyak-Ruppert averaging: the result is an exponential average of the iterates,
            # not the last, noisy one
            for i in range(len(theta)):
                average[i] = AVERAGING * average[i] + (1 - AVERAGING) * theta[i]
            losses.append(float(loss))
            weights.append(wb.sum())
        elbo = -float(np.average(losses, weights=weights))
        lower_bounds.append(elbo)
        if options.verbose and len(lower_bounds) % options.verbose_interval == 0:
            print(
                f"  Iteration {len(lower_bounds)} (gradient)\t time lapse "
                f"{time.perf_counter() - start:.5f}s\t ELBO {elbo:.6f}"
            )
        # a noisy objective: compare an exponential average of the epoch ELBO
        previous, smoothed = smoothed, elbo if smoothed is None else 0.7 * smoothed + 0.3 * elbo
        if previous is not None and abs(smoothed - previous) < max(options.tol, GRADIENT_TOL):
            converged = True
            break
    post = Posterior(*(np.asarray(t) for t in gfn.posterior(Theta(*average), frame)))
    if not all(np.all(np.isfinite(v_)) for v_ in post):
        raise FloatingPointError("the fit diverged; lower learning_rate.")
    return (
        order_by_weight(post, config),
        np.asarray(lower_bounds),
        len(lower_bounds),
        converged,
        step,
    )


def order_by_weight(post: Posterior, config: Config) -> Posterior:
    """Components sorted by decreasing weight for the Dirichlet distribution prior.

    (The order of stick-breaking components is part of the Dirichlet-process model, so a DP
    posterior is returned as fitted.)
    """
    if config.weight_concentration_prior_type == "dirichlet_process":
        return post
    order = np.argsort(-post.weight_concentration, kind="stable")
    tied = config.covariance_type == "tied"
    return Posterior(
        post.weight_concentration[order],
        post.mean_precision[order],
        post.means[order],
        post.degrees_of_freedom[order],
        post.covariances if tied else post.covariances[order],
        post.precisions_cholesky if tied else post.precisions_cholesky[order],
    )
