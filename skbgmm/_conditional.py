"""The conditional posterior predictive of some features given the others, for each row.

:meth:`VariationalGMM.condition` returns a :class:`ConditionalPredictive`: for each row, a
mixture of Student-t laws over the target features, held as NumPy arrays. The TensorFlow
Probability object, draws and log densities are built on demand by the trainer's predictors.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _stats
from sklearn.utils import check_random_state


def _predictor():
    from ._svi import _predict

    return _predict


class ConditionalPredictive:
    """``p(x_target | x_given, training data)`` for each row: a mixture of Student-t laws.

    Each row's mixture weights are the fitted ``weights_`` reweighted by each component's
    marginal predictive density of the given features; each component's law is the conditional
    of its posterior predictive Student-t (``nu + d_o`` degrees of freedom, the conditional
    location, the Schur complement of the scale times ``(nu + delta_o) / (nu + d_o)``). For
    ``covariance_type='diag'`` the components' coordinates are independent univariate laws, so
    each component's conditional is its marginal and only the weights depend on the given values.

    Parameters
    ----------
    weights : ndarray of shape (n_samples, n_components)
        See the attributes (as :meth:`VariationalGMM.condition` computes them).
    df : ndarray of shape (n_samples, n_components)
        See the attributes.
    loc : ndarray of shape (n_samples, n_components, n_targets)
        See the attributes.
    scale : ndarray of shape (n_samples, n_components, n_targets, n_targets)
        See the attributes.
    target_features : ndarray of shape (n_targets,)
        See the attributes.
    target_names : ndarray of shape (n_targets,) or None
        See the attributes.
    independent : bool
        Whether each component's coordinates are independent univariate laws ('diag').
    supported : ndarray of shape (n_components,) of bool, default=None
        See the attributes; None: every component.

    Attributes
    ----------
    weights : ndarray of shape (n_samples, n_components)
        Conditional mixture weights of each row.
    df : ndarray of shape (n_samples, n_components)
        Degrees of freedom of each component's conditional law.
    loc : ndarray of shape (n_samples, n_components, n_targets)
        Location of each component's conditional law.
    scale : ndarray of shape (n_samples, n_components, n_targets, n_targets)
        Scale matrix of each component's conditional law (diagonal for 'diag').
    target_features : ndarray of shape (n_targets,)
        Indices of the target features (the features not given), in order.
    target_names : ndarray of shape (n_targets,) or None
        Their names when the model was fitted on named features.
    supported : ndarray of shape (n_components,) of bool
        The components that hold data (at least a 1e-6 share of the sample weight); the
        moments (:meth:`mean`, :meth:`covariance`, :meth:`stddev`) use these only.
    """

    def __init__(
        self, weights, df, loc, scale, target_features, target_names, independent, supported=None
    ):
        self.weights = weights
        self.df = df
        self.loc = loc
        self.scale = scale
        self.target_features = np.asarray(target_features)
        self.target_names = target_names
        self.independent = bool(independent)
        n_comp = weights.shape[1]
        self.supported = (
            np.ones(n_comp, dtype=bool) if supported is None else np.asarray(supported, dtype=bool)
        )

    @property
    def n_targets(self):
        return self.loc.shape[-1]

    def __repr__(self):
        n, k, t = self.loc.shape
        names = (
            list(self.target_names)
            if self.target_names is not None
            else self.target_features.tolist()
        )
        return f"ConditionalPredictive(n_samples={n}, n_components={k}, targets={names})"

    def __len__(self):
        return self.loc.shape[0]

    @property
    def distribution(self):
        """The conditional laws as one TensorFlow Probability ``MixtureSameFamily``.

        Batch shape ``(n_samples,)``, event shape ``(n_targets,)``; usable in TensorFlow code.
        """
        return _predictor().conditional_distribution(
            self.weights, self.df, self.loc, self.scale, self.independent
        )

    def _moment_weights(self):
        w = np.where(self.supported[None, :], self.weights, 0.0)
        total = w.sum(axis=1, keepdims=True)
        # (a row that only unsupported components explain keeps every component)
        w = np.where(total > 0, w, self.weights)
        return w / w.sum(axis=1, keepdims=True)

    def mean(self):
        """Conditional means.

        The moments leave out the components that hold (almost) no data (``supported``
        False): such a component's law is the prior's, heavy-tailed, often with no variance
        (``df <= 2``), and a tiny weight would make every variance infinite. The
        distribution, its quantiles, draws and densities keep every component.

        Returns
        -------
        mean : ndarray of shape (n_samples, n_targets)
            The conditional mean of each row's targets.
        """
        w = self._moment_weights()
        loc = np.where((self.df > 1.0)[..., None], self.loc, np.inf)
        return np.einsum("nk,nkt->nt", w, np.where((w > 0)[..., None], loc, 0.0))

    def covariance(self):
        """Conditional covariance matrices, by the law of total covariance.

        Over the components kept by :meth:`mean` (``inf`` where one of them has ``df <= 2``).

        Returns
        -------
        covariance : ndarray of shape (n_samples, n_targets, n_targets)
            The conditional covariance of each row's targets.
        """
        w = self._moment_weights()
        df = self.df
        factor = np.where(df > 2.0, df / np.where(df > 2.0, df - 2.0, 1.0), np.inf)
        factor = np.where(w > 0, factor, 0.0)
        within = np.einsum("nk,nkts->nts", w * factor, self.scale)
        centred = np.where((w > 0)[..., None], self.loc - self.mean()[:, None, :], 0.0)
        between = np.einsum("nk,nkt,nks->nts", w, centred, centred)
        return within + between

    def stddev(self):
        """Conditional standard deviations.

        Returns
        -------
        stddev : ndarray of shape (n_samples, n_targets)
            Square roots of the diagonal of :meth:`covariance`.
        """
        return np.sqrt(np.diagonal(self.covariance(), axis1=-2, axis2=-1))

    def cdf(self, y):
        """Marginal conditional CDF of each target at ``y``.

        Parameters
        ----------
        y : array-like, broadcast to (n_samples, n_targets)
            Values of the targets.

        Returns
        -------
        cdf : ndarray of shape (n_samples, n_targets)
            ``P(target_t <= y_nt | x_given_n)`` for each row and target.
        """
        y = np.broadcast_to(np.asarray(y, dtype=np.float64), (len(self), self.n_targets))
        sd = np.sqrt(np.diagonal(self.scale, axis1=-2, axis2=-1))  # (n, K, T)
        z = (y[:, None, :] - self.loc) / sd
        return np.einsum("nk,nkt->nt", self.weights, _stats.t.cdf(z, self.df[..., None]))

    def quantile(self, q):
        """Marginal conditional quantiles of each target.

        Parameters
        ----------
        q : float or array-like of floats in (0, 1)
            Quantile levels.

        Returns
        -------
        quantiles : ndarray of shape (n_samples, n_targets), or (len(q), n_samples, n_targets)
            The levels' quantiles of each target's marginal conditional law.
        """
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if qs.ndim != 1 or np.any(~(qs > 0)) or np.any(~(qs < 1)):
            raise ValueError(f"quantile levels must lie strictly between 0 and 1, got {q!r}.")
        sd = np.sqrt(np.diagonal(self.scale, axis1=-2, axis2=-1))
        out = []
        for level in qs:
            # the mixture's quantile lies between its components' quantiles
            comp = self.loc + sd * _stats.t.ppf(level, self.df[..., None])
            used = (self.weights > 0)[..., None]
            lo = np.min(np.where(used, comp, np.inf), axis=1)
            hi = np.max(np.where(used, comp, -np.inf), axis=1)
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                below = self.cdf(mid) < level
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
                if np.all(hi - lo <= 1e-12 * np.maximum(1.0, np.abs(mid))):
                    break
            out.append(0.5 * (lo + hi))
        return out[0] if np.ndim(q) == 0 else np.stack(out)

    def sample(self, n_samples=1, random_state=None):
        """Draw from each row's conditional law.

        Parameters
        ----------
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.

        Returns
        -------
        draws : ndarray of shape (n_samples, n_rows, n_targets)
            Independent draws of each row's targets.
        """
        from numbers import Integral

        if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        rng = check_random_state(random_state)
        out = []
        # blocks of DRAW_ROWS rows, the last one padded: every draw has the same batch shape, so
        # TFP's samplers (tf.functions traced per shape) are not traced again call after call
        block = self.DRAW_ROWS
        for start in range(0, len(self), block):
            rows = np.arange(start, min(start + block, len(self)))
            padded = np.r_[rows, np.full(block - rows.size, rows[-1])]
            part = ConditionalPredictive(
                self.weights[padded],
                self.df[padded],
                self.loc[padded],
                self.scale[padded],
                self.target_features,
                self.target_names,
                self.independent,
                self.supported,
            )
            seed = rng.randint(0, 2**31 - 1, size=2)
            draws = _predictor().sample_distribution(part.distribution, n_samples, seed)
            out.append(draws[:, : rows.size])
        return np.concatenate(out, axis=1)

    #: rows per draw call of :meth:`sample`
    DRAW_ROWS = 1024

    def log_prob(self, y):
        """Log conditional density of the targets.

        Parameters
        ----------
        y : array-like of shape (n_samples, n_targets)
            Values of the targets, one row per conditioned row.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(y_n | x_given_n, training data)``.
        """
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1 and self.n_targets == 1:
            y = y[:, None]
        if y.shape != (len(self), self.n_targets):
            raise ValueError(
                f"y should have the shape (n_samples, n_targets) = ({len(self)}, "
                f"{self.n_targets}), got {y.shape}."
            )
        return _predictor().distribution_log_prob(self.distribution, y)
