"""Epochs and time to place the recipe's three means: both engines and the recipe's own method.

    python benchmarks/bench_engines.py [--max-epochs 1500]

Data: the reference recipe's 3,000 points (clusters at (2, 0), (-2, -4), (-2, 4)). A method
"reaches the means" at the first epoch after which every fitted mean is within 0.1 of the true
centre it is matched to. Rows:

- the recipe's method, re-implemented here from its description: Adam (learning rate 1e-3) on a
  one-sample Monte-Carlo ELBO, minibatches of 500, diagonal Gaussians, unconstrained variational
  parameters, priors Normal(0, 1) on the means, Gamma(5, 5) on the precisions, Dirichlet(2) on
  the weights, random initialisation of the means;
- VariationalGMM(inference='gradient') with the same priors (mean_prior_type='independent');
- VariationalGMM() (natural gradient) with scikit-learn's default priors.

Times exclude TensorFlow's import and each method's tracing (every method runs once first).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def matched_error(means, truth):
    from scipy.optimize import linear_sum_assignment

    cost = np.linalg.norm(means[:, None] - truth[None], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].max()


def recipe_method(X, truth, max_epochs, seed=12345):
    """Adam on the recipe's Monte-Carlo ELBO; returns (epochs to reach, seconds, error)."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    n, d = X.shape
    k = 3
    rng = np.random.RandomState(seed)
    init = [
        rng.randn(k, d),
        rng.gamma(5.0, 1 / 5.0, size=(k, d)) ** -0.5,
        rng.uniform(4, 6, size=(k, d)),
        rng.uniform(4, 6, size=(k, d)),
        2 * np.ones(k),
    ]
    params = [tf.Variable(v.astype(np.float32)) for v in init]
    prior_mu = tfd.Normal(tf.zeros((k, d)), tf.ones((k, d)))
    prior_prec = tfd.Gamma(5 * tf.ones((k, d)), 5 * tf.ones((k, d)))
    prior_w = tfd.Dirichlet(2 * tf.ones(k))
    opt = tf.keras.optimizers.Adam(learning_rate=1e-3)

    @tf.function
    def step(xb, seed_pair):
        with tf.GradientTape() as tape:
            loc, scale, alpha, beta, counts = params
            q_mu, q_prec, q_w = (
                tfd.Normal(loc, scale),
                tfd.Gamma(alpha, beta),
                tfd.Dirichlet(counts),
            )
            nb = tf.shape(xb)[0]
            seeds = tfp.random.split_seed(seed_pair, 3)
            mu = q_mu.sample(nb, seed=seeds[0])
            sd = tf.math.rsqrt(q_prec.sample(nb, seed=seeds[1]))
            w = q_w.sample(nb, seed=seeds[2])
            comp = tfd.Independent(tfd.Normal(mu, sd), 1)
            log_lik = tf.reduce_logsumexp(tf.math.log(w) + comp.log_prob(xb[:, None, :]), axis=1)
            kl = (
                tf.reduce_sum(tfd.kl_divergence(q_mu, prior_mu))
                + tf.reduce_sum(tfd.kl_divergence(q_prec, prior_prec))
                + tfd.kl_divergence(q_w, prior_w)
            )
            loss = kl / n - tf.reduce_mean(log_lik)
        grads = tape.gradient(loss, params)
        opt.apply_gradients(zip(grads, params))
        return loss

    Xf = X.astype(np.float32)
    step(Xf[:500], tf.constant([0, 0]))  # trace
    for p, v in zip(params, init):
        p.assign(v.astype(np.float32))
    t0 = time.perf_counter()
    counter = 0
    for epoch in range(1, max_epochs + 1):
        perm = rng.permutation(n)
        for i in range(0, n, 500):
            counter += 1
            step(Xf[perm[i : i + 500]], tf.constant([seed, counter]))
        err = matched_error(params[0].numpy(), truth)
        if err < 0.1:
            return epoch, time.perf_counter() - t0, err
    return None, time.perf_counter() - t0, err


def engine(X, truth, **params):
    from skbgmm import VariationalGMM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        VariationalGMM(n_components=3, **params).fit(X)  # trace
        t0 = time.perf_counter()
        gmm = VariationalGMM(n_components=3, **params).fit(X)
        seconds = time.perf_counter() - t0
    return gmm.n_iter_, seconds, matched_error(gmm.means_, truth)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-epochs", type=int, default=1500)
    args = parser.parse_args()
    import tf_keras  # noqa: F401  (TFP needs it)

    from skbgmm._data import RECIPE_MEANS, RECIPE_PRIORS, make_recipe_data

    X, _ = make_recipe_data()
    recipe_priors = RECIPE_PRIORS
    rows = [
        ("recipe (Adam on MC ELBO)", recipe_method(X, RECIPE_MEANS, args.max_epochs)),
        (
            "gradient engine, recipe priors",
            engine(X, RECIPE_MEANS, inference="gradient", random_state=0, **recipe_priors),
        ),
        ("natural-gradient engine", engine(X, RECIPE_MEANS, random_state=0)),
    ]
    print(f"{'method':<34} {'epochs':>7} {'seconds':>8} {'max mean error':>15}")
    for name, (epochs, seconds, err) in rows:
        e = "never" if epochs is None else str(epochs)
        print(f"{name:<34} {e:>7} {seconds:8.2f} {err:15.3f}")
    print("(for the engines: epochs = passes of the whole fit; the error is that of the result)")


if __name__ == "__main__":
    main()
