"""Partially observed rows: the observed block, the conditional of the rest, Student-t laws.

A row ``x`` with observed coordinates ``o`` and missing ones ``m`` meets each component through
the blocks of one symmetric matrix ``S_k`` (a covariance ``E[Lambda_k]^-1`` in the variational
E-step, a Student-t scale in the posterior predictive):

- ``delta = (x_o - m_o)^T S_oo^-1 (x_o - m_o)`` and ``log |S_oo|``;
- the conditional mean ``m_m + S_mo S_oo^-1 (x_o - m_o)`` and the Schur complement
  ``S_mm - S_mo S_oo^-1 S_om`` with its log-determinant ``log |S| - log |S_oo|``.

Rows are grouped by missingness pattern (``patterns`` (P, D), 1 where observed; ``index`` (n,) the
pattern of each row): the factorisations are computed once per pattern and component, and only a
product per row remains, so rows with missing entries cost a little more than complete ones. A
dense ``S`` is embedded as ``M S M + (I - M)`` (``M`` the pattern's diagonal mask), which is
block diagonal, so one batched Cholesky factorisation gives every observed block; a diagonal
``S`` needs only masked sums. The same maths serves the E-step and M-step of a fit with missing
values (Ghahramani and Jordan, 1994) and the marginal and conditional posterior predictive laws
(:func:`t_log_prob`, :func:`t_conditional`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ._tf import tf

DTYPE = tf.float64
_LOG_PI = math.log(math.pi)


class Block(NamedTuple):
    """What each component says about the rows' observed and missing coordinates."""

    maha: tf.Tensor  # (n, K) squared distance of the observed part
    log_det_observed: tf.Tensor  # (P, K) log |S_oo|
    log_det_conditional: tf.Tensor  # (P, K) log of the Schur complement's determinant
    completed: tf.Tensor  # (n, K, D) observed coordinates, missing ones at their conditional mean
    conditional: tf.Tensor  # (P, K, D, D) dense or (P, K, D) diagonal; zero on observed coordinates
    n_observed: tf.Tensor  # (P,) observed coordinates per pattern


def observed_block(x, patterns, index, means, matrices, dense) -> Block:
    """The blocks of ``matrices`` (K, D, D) if ``dense`` else (K, D) for the rows ``x`` (n, D).

    ``x`` holds zeros where missing (any finite value would do: it is masked).
    """
    observed = tf.gather(patterns, index)  # (n, D)
    observed_rows = tf.expand_dims(observed, 1)  # (n, 1, D)
    x_rows = tf.expand_dims(x, 1)
    diff = observed_rows * (x_rows - means)  # (n, K, D)
    missing = 1.0 - patterns
    if dense:
        mask = tf.expand_dims(patterns, 1)  # (P, 1, D)
        embedded = tf.expand_dims(mask, -1) * matrices * tf.expand_dims(mask, -2) + tf.expand_dims(
            tf.linalg.diag(missing), 1
        )
        chol = tf.linalg.cholesky(embedded)  # (P, K, D, D)
        log_det_obs = 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(chol)), axis=-1)
        log_det_all = 2.0 * tf.reduce_sum(
            tf.math.log(tf.linalg.diag_part(tf.linalg.cholesky(matrices))), axis=-1
        )
        # the observed block's inverse, zero elsewhere: M (M S M + I - M)^-1 M
        precision = tf.linalg.cholesky_solve(chol, tf.linalg.diag(mask * tf.ones_like(means)))
        precision = tf.expand_dims(mask, -1) * precision
        v = tf.einsum("nkde,nke->nkd", tf.gather(precision, index), diff)  # S_oo^-1 (x_o - m_o)
        maha = tf.reduce_sum(diff * v, axis=-1)
        completed = means + tf.einsum("kde,nke->nkd", matrices, v)
        # Schur complement on the missing block: S - S P S, masked to the missing coordinates
        schur = matrices - tf.matmul(tf.matmul(matrices, precision), matrices)
        missing_rows = tf.expand_dims(missing, 1)  # (P, 1, D)
        keep = tf.expand_dims(missing_rows, -1) * tf.expand_dims(missing_rows, -2)
        conditional = keep * 0.5 * (schur + tf.linalg.matrix_transpose(schur))
        log_det_cond = log_det_all - log_det_obs
    else:
        maha = tf.reduce_sum(tf.square(diff) / matrices, axis=-1)
        log_var = tf.math.log(matrices)  # (K, D)
        log_det_obs = tf.einsum("pd,kd->pk", patterns, log_var)
        log_det_cond = tf.einsum("pd,kd->pk", missing, log_var)
        completed = means + diff
        conditional = tf.expand_dims(missing, 1) * matrices
    completed = tf.where(observed_rows > 0.0, x_rows, completed)
    return Block(
        maha,
        log_det_obs,
        log_det_cond,
        completed,
        conditional,
        tf.reduce_sum(patterns, axis=1),
    )


def t_log_prob(maha, log_det, df, dim):
    """log density of a ``dim``-variate Student-t with ``df`` degrees of freedom at squared
    distance ``maha`` from its location, ``log_det`` the log-determinant of its scale matrix
    (a squared scale for ``dim`` 1); the arguments broadcast."""
    return (
        tf.math.lgamma(0.5 * (df + dim))
        - tf.math.lgamma(0.5 * df)
        - 0.5 * dim * (tf.math.log(df) + _LOG_PI)
        - 0.5 * log_det
        - 0.5 * (df + dim) * tf.math.log1p(maha / df)
    )


def coordinate_t_log_prob(x, df, means, variances):
    """log densities (n, K, D) of univariate Student-t laws at each coordinate of the rows
    ``x``: ``df`` (K,), locations ``means`` and squared scales ``variances`` (K, D)."""
    z2 = tf.square(tf.expand_dims(x, 1) - means) / variances
    return t_log_prob(z2, tf.math.log(variances), tf.expand_dims(df, 1), 1.0)


def observed_t(x, patterns, index, df, means, scales, dense, multivariate):
    """Each component's Student-t law on the rows' observed coordinates, and its blocks.

    ``scales`` are the laws' scale matrices (K, D, D) if ``dense``, else squared scales (K, D);
    ``df`` (K,). Returns ``(log density (n, K) of the observed coordinates, Block)``. A
    multivariate t keeps its degrees of freedom on a marginal, with the sub-block of the scale;
    a product of univariate laws ('diag') keeps its observed factors.
    """
    block = observed_block(x, patterns, index, means, scales, dense)
    if multivariate:
        d_o = tf.expand_dims(tf.gather(block.n_observed, index), 1)  # (n, 1)
        log_det = tf.gather(block.log_det_observed, index)
        return t_log_prob(block.maha, log_det, df, d_o), block
    observed = tf.expand_dims(tf.gather(patterns, index), 1)  # (n, 1, D)
    per_coordinate = coordinate_t_log_prob(x, df, means, scales)
    return tf.reduce_sum(tf.where(observed > 0.0, per_coordinate, 0.0), axis=-1), block


def t_conditional(df, block: Block, index, dense, multivariate):
    """The law of the missing coordinates given the observed ones, per row and component.

    Returns ``(df (n, K), location (n, K, D), scale)``, ``scale`` (n, K, D, D) for a dense block
    and (n, K, D) squared scales for a diagonal one, zero on observed coordinates. For a
    multivariate t with ``d_o`` observed coordinates the degrees of freedom become ``nu + d_o``
    and the Schur complement is multiplied by ``(nu + delta_o) / (nu + d_o)``; a product of
    univariate laws is its own conditional.
    """
    conditional = tf.gather(block.conditional, index)
    if not multivariate:
        return df * tf.ones_like(block.maha), block.completed, conditional
    d_o = tf.expand_dims(tf.gather(block.n_observed, index), 1)
    nu = df * tf.ones_like(block.maha)
    factor = (nu + block.maha) / (nu + d_o)
    factor = tf.expand_dims(factor, 2)
    factor = tf.expand_dims(factor, 3) if dense else factor
    return nu + d_o, block.completed, factor * conditional
