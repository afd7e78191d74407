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

from . import _model
from ._functions import _traced
from ._patterns import missing_rows
from ._records import Config, FitResult, Frame, Posterior, Prior, float64
from ._stopping import ChangeBelow
from ._tf import made_once, tf, tfb

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


_positive = made_once(lambda: tfb.Softplus(low=tf.constant(1e-6, DTYPE)))


def _dof_bijector(fam, n_features, independent):
    """Degrees of freedom above the bound that keeps every expectation finite."""
    return tfb.Chain(
        [tfb.Shift(fam.dof_lower_bound(n_features, independent) + 1e-6), tfb.Softplus()]
    )


def constrain(theta, fam, n_features, independent):
    """The posterior (attribute form, trainer frame) of unconstrained parameters."""
    dof = _dof_bijector(fam, n_features, independent).forward(theta.degrees_of_freedom)
    covariances, prec_chol = fam.constrain_covariance(theta.covariance, n_features)
    # a shared precision has one degree of freedom, repeated per component as in the attributes
    dof = dof * tf.ones_like(theta.mean_precision)
    return Posterior(
        _positive().forward(theta.weight_concentration),
        _positive().forward(theta.mean_precision),
        theta.means,
        dof,
        covariances,
        prec_chol,
    )


def unconstrain(post, fam, n_features, independent):
    """Inverse of :func:`constrain` (used to start from the initial posterior)."""
    dof = post.degrees_of_freedom
    if fam.theta_dof_rank == 0:
        dof = dof[0]
    dof_bij = _dof_bijector(fam, n_features, independent)
    low = dof_bij.bijectors[0].shift
    dof = tf.maximum(dof, low + 1e-3)  # a start inside the allowed range
    return Theta(
        _positive().inverse(post.weight_concentration),
        _positive().inverse(post.mean_precision),
        post.means,
        dof_bij.inverse(dof),
        fam.unconstrain_covariance(post.covariances),
    )


def independent_means_kl(post, prior_mean, prior_precision, fam, n_features):
    """E_q[log q(mu | Lambda) - log p(mu)] for ``mu_kd ~ Normal(m0_d, 1 / tau_d)``, summed.

    ``prior_precision`` is per feature (the trainer frame scales an isotropic prior).
    """
    d = tf.cast(n_features, DTYPE)
    beta = post.mean_precision
    e_log_det = fam.expected_log_det_precision(
        post.degrees_of_freedom, post.precisions_cholesky, n_features
    )
    e_log_q = 0.5 * d * tf.math.log(beta) + 0.5 * e_log_det - 0.5 * d
    var = fam.expected_inverse_precision_diag(post, n_features) / beta[:, None]
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
        self.fam, self.wp = fam, wp = _model.families(config)
        spec = lambda r: tf.TensorSpec([None] * r, DTYPE)  # noqa: E731
        theta = Theta(
            spec(wp.concentration_rank),
            spec(1),
            spec(2),
            spec(fam.theta_dof_rank),
            spec(fam.theta_cov_rank),
        )
        prior = Prior(spec(0), spec(0), spec(1), spec(0), spec(fam.prior_rank))
        # (rows, weights, then theta, frame, prior, reg_covar, total, weight norm, KL weight)
        tail = [theta, Frame(spec(1), spec(1)), prior, spec(0), spec(0), spec(0), spec(0)]
        self.loss_and_grad = _traced(self._loss_and_grad, input_signature=[spec(2), spec(1), *tail])
        index = tf.TensorSpec([None], tf.int32)
        self.loss_and_grad_missing = _traced(
            self._loss_and_grad_missing,
            input_signature=[spec(2), spec(2), index, spec(1), *tail],
        )
        self.posterior = _traced(self._posterior, input_signature=[theta, Frame(spec(1), spec(1))])

    def _negative_elbo(self, local_of, w, theta, frame, prior, total, wnorm, kl_weight):
        """``-((total / wnorm) * local - kl_weight * KL) / total``: the minibatch loss.

        ``local_of(post)`` is the rows' weighted log-evidence in the frame (the closed-form
        local step); ``wnorm`` the minibatch's weight and ``kl_weight`` 1 or 0, so that a
        minibatch computed in parts (complete rows, rows with missing entries) sums to its loss.
        """
        n_features = tf.shape(frame.shift)[0]
        fam, wp = self.fam, self.wp
        prior_z = _model.prior_to_frame(prior, frame.shift, frame.scale, fam)
        post = constrain(theta, fam, n_features, self.independent)
        wsum = tf.reduce_sum(w)
        local = local_of(post) - wsum * tf.reduce_sum(tf.math.log(frame.scale))
        kl = wp.kl(post.weight_concentration, prior_z.weight_concentration) + tf.reduce_sum(
            fam.precisions_kl_terms(post, prior_z, n_features)
        )
        if self.independent:
            tau = prior.mean_precision * tf.square(frame.scale)  # the isotropic prior, rescaled
            kl += independent_means_kl(post, prior_z.mean, tau, fam, n_features)
        else:
            kl += _model.means_kl(post, prior_z, fam, n_features)
        return -((total / wnorm) * local - kl_weight * kl) / total

    def _loss_and_grad(self, X, w, theta, frame, prior, reg_covar, total, wnorm, kl_weight):
        Z = (X - frame.shift[None]) / frame.scale[None]

        def local_of(post):
            _, log_norm = _model.log_resp(Z, post, self.fam, self.wp)
            return tf.reduce_sum(w * log_norm)

        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = self._negative_elbo(local_of, w, theta, frame, prior, total, wnorm, kl_weight)
        return loss, Theta(*tape.gradient(loss, theta))

    def _loss_and_grad_missing(
        self, X, patterns, index, w, theta, frame, prior, reg_covar, total, wnorm, kl_weight
    ):
        """:meth:`_loss_and_grad` for rows with missing entries: the local step of
        :func:`skbgmm._svi._model.log_resp_observed`, its entropy in data units."""
        observed = tf.gather(patterns, index)
        scaled = (X - frame.shift[None]) / frame.scale[None]
        Z = tf.where(observed > 0.0, scaled, tf.zeros_like(scaled))
        missing_log_scale = tf.linalg.matvec(1.0 - observed, tf.math.log(frame.scale))

        def local_of(post):
            _, log_norm, _, _ = _model.log_resp_observed(
                Z, patterns, index, post, self.fam, self.wp
            )
            return tf.reduce_sum(w * (log_norm + missing_log_scale))

        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = self._negative_elbo(local_of, w, theta, frame, prior, total, wnorm, kl_weight)
        return loss, Theta(*tape.gradient(loss, theta))

    def _posterior(self, theta, frame):
        post = constrain(theta, self.fam, tf.shape(frame.shift)[0], self.independent)
        return _model.posterior_from_frame(post, frame.shift, frame.scale, self.fam)


_CACHE: dict = {}


def gradient_functions(config: Config, independent: bool) -> GradientFunctions:
    key = (config, independent)
    if key not in _CACHE:
        _CACHE[key] = GradientFunctions(config, independent)
    return _CACHE[key]


def gradient_chunk(X, w, config, independent, theta, frame, prior, reg, total, runner=None):
    """Loss and gradients of one minibatch, wherever its rows are: ``(loss, grads, weight)``.

    Rows with missing entries (NaN) take the partially observed local step; a row with no
    observed entry has no weight. (``runner`` is accepted for the data-source protocol; the
    gradient engine runs its traced function in the process that holds the rows.)
    """
    w = np.asarray(w, dtype=np.float64)
    rows = missing_rows(X)
    if rows is not None:
        w = w.copy()
        w[rows.incomplete[rows.empty]] = 0.0
    wsum = float(w.sum())
    if wsum <= 0:
        return 0.0, None, 0.0
    gfn = gradient_functions(config, independent)
    theta = Theta(*theta)
    X = np.asarray(X, dtype=np.float64)
    if rows is None:
        loss, grads = gfn.loss_and_grad(X, w, theta, frame, prior, reg, total, wsum, 1.0)
        return float(loss), [np.asarray(g) for g in grads], wsum
    loss, grads = gfn.loss_and_grad_missing(
        X[rows.incomplete],
        rows.patterns,
        rows.index,
        w[rows.incomplete],
        theta,
        frame,
        prior,
        reg,
        total,
        wsum,
        1.0,
    )
    loss, grads = float(loss), [np.asarray(g) for g in grads]
    if rows.complete.size:
        more, more_grads = gfn.loss_and_grad(
            X[rows.complete], w[rows.complete], theta, frame, prior, reg, total, wsum, 0.0
        )
        loss += float(more)
        grads = [g + np.asarray(h) for g, h in zip(grads, more_grads)]
    return loss, grads, wsum


def run_gradient(source, n_samples, config, prior, options, state, rng):
    """Adam on the minibatch ELBO from the initial state; returns a :class:`FitResult`.

    The result keeps no statistics (``state.stats is None``): the initial ones do not describe
    the fitted posterior, so nothing may continue it as if they did.
    """
    from ._functions import functions

    learning_rate = float(options.learning_rate)
    independent = bool(options.independent_means)
    gfn = gradient_functions(config, independent)
    prior = float64(prior)
    frame = float64(state.frame)
    reg = np.float64(options.reg_covar)
    total = np.float64(state.total_samples)
    n_features = frame.shift.shape[0]
    # start from the initial posterior, in the trainer's frame (the same code as the other engine)
    as_tensors = lambda record: type(record)(*(tf.constant(v) for v in record))  # noqa: E731
    _, post0 = functions(config)._internal(
        as_tensors(frame), as_tensors(prior), tf.constant(reg), as_tensors(state.stats)
    )
    theta = [
        np.asarray(t, dtype=np.float64)
        for t in unconstrain(post0, gfn.fam, n_features, independent)
    ]
    average = [t.copy() for t in theta]
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    batch = int(min(options.batch_size, n_samples))
    lower_bounds = []
    converged = False
    # a noisy objective: compare an exponential average of the epoch ELBO
    rule = ChangeBelow(max(options.tol, GRADIENT_TOL), average=(0.7, 0.3))
    step = 0
    start = time.perf_counter()
    for _ in range(options.max_iter):
        losses, weights = [], []
        for batch_rows in source.minibatches(batch, rng):
            # the per-row work runs where the rows are (a dask worker for a dask block)
            loss, grads, wsum = source.apply(
                gradient_chunk, batch_rows, config, independent, theta, frame, prior, reg, total
            )
            if wsum <= 0:
                continue
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
            weights.append(wsum)
        elbo = -float(np.average(losses, weights=weights))
        lower_bounds.append(elbo)
        if options.verbose and len(lower_bounds) % options.verbose_interval == 0:
            print(
                f"  Iteration {len(lower_bounds)} (gradient)\t time lapse "
                f"{time.perf_counter() - start:.5f}s\t ELBO {elbo:.6f}"
            )
        if rule.update(elbo):
            converged = True
            break
    post = Posterior(*(np.asarray(t) for t in gfn.posterior(Theta(*average), frame)))
    if not all(np.all(np.isfinite(v_)) for v_ in post):
        raise FloatingPointError("the fit diverged; lower learning_rate.")
    return FitResult(
        posterior=order_by_weight(post, config),
        state=state._replace(stats=None, n_steps=step),
        lower_bounds=np.asarray(lower_bounds),
        n_iter=len(lower_bounds),
        converged=converged,
    )


def order_by_weight(post: Posterior, config: Config) -> Posterior:
    """Components sorted by decreasing weight, where the weight prior allows it.

    The order of stick-breaking components is part of the Dirichlet-process model (permuting the
    sticks changes the weights), so a posterior fitted with that prior is returned as fitted.
    """
    fam, wp = _model.families(config)
    if not wp.exchangeable:
        return post
    order = np.argsort(-wp.mean_weights(post.weight_concentration), kind="stable")
    return fam.reorder_posterior(post, order, wp)
