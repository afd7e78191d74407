"""The scikit-learn facade: validation, initialisation, restarts, warm start and fitted attributes.

This module imports no TensorFlow: it calls the trainer in :mod:`skbgmm._svi._trainer` (imported
inside the methods that need it) with NumPy arrays and the records of :mod:`skbgmm._svi._records`.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._priors import make_frame, resolve_prior
from ._sources import ArraySource, DaskSource, StreamSource, is_dask, is_stream
from ._summary import PosteriorSummary
from ._svi._family_shapes import covariance_shapes, weight_shapes
from ._svi._patterns import filled
from ._svi._records import (
    COVARIANCE_TYPES,
    WEIGHT_PRIOR_TYPES,
    Config,
    Options,
    Posterior,
    Prior,
)
from ._svi._sizes import step_rows

_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_FULL_BATCH_MAX = 1 << 18  # 'auto' batch size: whole data set (CAVI) up to this many rows
_MIN_AUTO_BATCH = 1 << 14  # 'auto' minibatches: 1/16 of the data, at least this many rows
_INIT_SUBSAMPLE = 1 << 14  # rows used to initialise the responsibilities
_GRADIENT_AUTO_BATCH = 512  # 'auto' minibatch of the gradient engine (the recipe used 500)
EFFECTIVE_WEIGHT = 0.01  # components with at least this posterior mean weight are "effective"


try:  # scikit-learn's own class, so that `except InvalidParameterError` works as for BGMM
    from sklearn.utils._param_validation import InvalidParameterError as _InvalidParameterBase
except ImportError:  # pragma: no cover - a scikit-learn without it

    class _InvalidParameterBase(ValueError, TypeError):
        pass


class InvalidParameterError(_InvalidParameterBase):
    """A constructor parameter with a bad type or value: both a ValueError and a TypeError."""


def _dtypes(X):
    """The dtypes validation may leave X in: an integer array (a memmap of pixels or counts) is
    kept as it is and converted chunk by chunk, never copied to float64 whole."""
    if isinstance(X, np.ndarray) and X.dtype.kind in "iub":
        return None
    return [np.float64, np.float32]


def _rescaled(state, config, total):
    """A state whose statistics are rescaled to represent ``total`` units of sample weight."""
    shapes = covariance_shapes(config.covariance_type)
    return state._replace(
        stats=shapes.scale(state.stats, total / state.total_samples), total_samples=float(total)
    )


def _trainer():
    """Import the TensorFlow trainer on first use."""
    from ._svi import _trainer

    return _trainer


def _engines():
    """The table of fit engines (imports TensorFlow on first use)."""
    from ._svi._engines import ENGINES

    return ENGINES


def _predictor():
    """Import the TensorFlow prediction functions on first use."""
    from ._svi import _predict

    return _predict


class VariationalGMM(DensityMixin, BaseEstimator):
    """Bayesian Gaussian mixture fitted by stochastic variational inference on TensorFlow.

    A drop-in alternative to :class:`sklearn.mixture.BayesianGaussianMixture`, with the same
    model, priors, parameter names and fitted attributes. The variational posterior is fitted by
    natural-gradient stochastic variational inference (Hoffman et al., 2013): closed-form
    responsibilities on a minibatch, then a step of size
    ``(learning_offset + t) ** -learning_decay`` towards the posterior that the minibatch,
    rescaled to the whole data set, implies. When the batch is the whole data set the step is
    scikit-learn's coordinate-ascent update. The per-sample computations run in TensorFlow.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components (an upper bound: the Dirichlet-process prior switches
        off the ones the data do not need).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariance of each component: a full matrix each, one full matrix
        shared by all, a diagonal matrix each, or a single variance each.
    tol : float, default=1e-6
        Convergence threshold on the change of the evidence lower bound per sample (the ELBO
        divided by the total sample weight, in nats) between two full-data passes. Minibatch
        epochs run while the epoch-averaged ELBO still moves by more than ``max(tol, 5e-3)``;
        then full-data steps continue until the change is below ``tol``. scikit-learn's ``tol``
        (1e-3) applies to a total over the samples; 1e-6 per sample matches it at a thousand
        samples. Surplus components of a Dirichlet-process fit fade out slowly while the ELBO
        barely moves, which is why the default is this strict.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of each component's scatter (times its
        count), as in scikit-learn, so that covariances stay positive definite. It is in the
        data's units: a fit warns (``UserWarning``) when it is at least 10% of a varying
        feature's variance, where it would blur the clusters along that feature (standardise
        the data, or lower it).
    max_iter : int, default=500
        The maximum number of passes over the data (epochs), including the passes that refine
        trial merges. ``max_iter=0`` only initialises. A fit stops as soon as it converges, so
        this is an upper bound (scikit-learn's default of 100 is too few for the Dirichlet
        process to switch off surplus components on large data; see ``moves``).
    n_init : int, default=1
        The number of initialisations; the one with the highest final ELBO is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are drawn (on a random subsample of at most 16384 rows):
        k-means labels, k-means++ seeds, random responsibilities, or random data points.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        The prior on the weights: a truncated stick-breaking Dirichlet process or a Dirichlet
        distribution.
    weight_concentration_prior : float or None, default=None
        The concentration of the weight prior (gamma in the literature). ``None`` means
        ``1 / n_components``. Smaller values put more mass on few components.
    mean_precision_prior : float or None, default=None
        The precision prior on the means (beta_0). ``None`` means 1.
    mean_prior : array-like of shape (n_features,) or None, default=None
        The prior mean of the means (m_0). ``None`` means the (weighted) mean of X.
    degrees_of_freedom_prior : float or None, default=None
        The prior degrees of freedom of the precisions (nu_0); must exceed ``n_features - 1``.
        ``None`` means ``n_features``.
    covariance_prior : float or array-like or None, default=None
        The prior on the covariances (the inverse Wishart scale for 'full' and 'tied', twice the
        Gamma rate per feature for 'diag'): shape (n_features, n_features) for 'full' and 'tied',
        (n_features,) for 'diag', a float for 'spherical'. ``None`` means the (weighted)
        covariance of X normalised by the total weight, ``np.cov(X.T, bias=True)`` without
        weights (its diagonal for 'diag', the mean variance for 'spherical'), plus ``reg_covar``
        on the diagonal. (scikit-learn divides by ``n_samples - 1``; dividing by the total
        weight makes the prior the same for ``sample_weight`` ``w`` and ``c * w``, and a row of
        integer weight ``k`` the same as ``k`` copies of it).
    batch_size : int or 'auto', default='auto'
        The number of rows in a minibatch. A batch at least as large as the data set gives
        full-batch coordinate ascent. ``'auto'`` uses the whole data set up to 262144 rows and
        ``n_samples // 16`` rows beyond, at least 16384 and at most
        ``2**22 // (n_components * n_features)`` (which bounds a step's memory).
    learning_offset : float, default=10.0
        A positive offset (tau_0) that slows the first steps; must be at least 1.
    learning_decay : float, default=0.7
        The exponent (kappa) of the step-size schedule, in (0.5, 1] so that the steps satisfy
        the Robbins-Monro conditions.
    total_samples : float or None, default=None
        The data size that :meth:`partial_fit` scales each minibatch's likelihood to. ``None``
        uses the total sample weight seen so far (a stream read once); set it to the size of
        the data set when :meth:`partial_fit` makes several passes over it. ``fit`` always uses
        the size of the data it is given.
    inference : {'natural_gradient', 'gradient'}, default='natural_gradient'
        The inference engine. ``'natural_gradient'``: closed-form local steps and
        natural-gradient (coordinate-ascent on full batches) global steps, the fast default.
        ``'gradient'``: the reference recipe's method, Adam on the minibatch ELBO over the same
        variational parameters kept valid by TensorFlow Probability bijectors; it also fits the
        non-conjugate ``mean_prior_type='independent'``. It does not support ``warm_start``
        or :meth:`partial_fit`.
    learning_rate : float, default=0.05
        Adam's step size for ``inference='gradient'``.
    mean_prior_type : {'conjugate', 'independent'}, default='conjugate'
        ``'conjugate'``: ``mu_k | Lambda_k ~ Normal(mean_prior, (mean_precision_prior *
        Lambda_k)^-1)``, scikit-learn's model. ``'independent'``: ``mu_kd ~ Normal(mean_prior_d,
        1 / mean_precision_prior)`` independent of the precisions (the reference recipe's prior;
        needs ``inference='gradient'``). The recipe's priors are ``covariance_type='diag'``,
        ``weight_concentration_prior_type='dirichlet_distribution'``,
        ``weight_concentration_prior=2``, ``mean_prior_type='independent'``, ``mean_prior=0``,
        ``mean_precision_prior=1``, ``degrees_of_freedom_prior=10`` and ``covariance_prior=10``
        (precisions Gamma(5, 5)).
    moves : 'auto' or bool, default='auto'
        Merge and delete moves (memoized variational inference, Hughes and Sudderth, 2013)
        during full-data passes: a merge of two components or the removal of one, with its rows
        given to the others, is accepted only when the exact evidence lower bound rises, so the
        fit escapes the optima where one cluster is split between several components and the
        Dirichlet process finds the number of clusters. When no one-pass move helps at a fixed
        point, the closest pair of components is merged, or the largest component is split in
        two by 2-means when a spare component is free, and refined by a few passes; either is
        kept only if the ELBO beats the fixed point's. ``'auto'`` turns them on for the Dirichlet
        process and off for the Dirichlet distribution (a model of ``n_components``
        components, kept step for step identical to scikit-learn's coordinate ascent).
        ``False`` gives scikit-learn's coordinate-ascent path for either prior. The gradient
        engine has no moves.
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation, the minibatch order and :meth:`sample`. An int gives
        bit-identical fits. Global NumPy and TensorFlow seeds are never touched.
    warm_start : bool, default=False
        If True, ``fit`` starts from the previous fit's variational posterior (``n_init`` is
        then ignored).
    verbose : int, default=0
        Print the ELBO of every ``verbose_interval``-th pass when positive.
    verbose_interval : int, default=10
        The number of passes between two progress lines.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The posterior mean of the mixture weights.
    means_ : ndarray of shape (n_components, n_features)
        The posterior mean of each component's mean.
    covariances_ : ndarray
        The inverse of the posterior mean precision of each component: shape (n_components,
        n_features, n_features) for 'full', (n_features, n_features) for 'tied', (n_components,
        n_features) for 'diag' and (n_components,) for 'spherical'.
    precisions_ : ndarray
        The posterior mean precision (the inverse of ``covariances_``), same shapes.
    precisions_cholesky_ : ndarray
        Upper-triangular factor ``U`` with ``precisions_ = U @ U.T`` ('full', 'tied') or the
        square root of ``precisions_`` ('diag', 'spherical'), same shapes.
    weight_concentration_prior_ : float
        The resolved weight concentration prior.
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two such arrays
        The posterior Dirichlet concentrations, or for the Dirichlet process the two Beta
        parameters of each stick.
    mean_precision_prior_ : float
        The resolved precision prior on the means.
    mean_precision_ : ndarray of shape (n_components,)
        The posterior precision scale of each mean (beta_k).
    mean_prior_ : ndarray of shape (n_features,)
        The resolved prior mean of the means.
    degrees_of_freedom_prior_ : float
        The resolved prior degrees of freedom.
    degrees_of_freedom_ : ndarray of shape (n_components,)
        The posterior degrees of freedom of each component (all equal for 'tied').
    covariance_prior_ : float or ndarray
        The resolved covariance prior.
    converged_ : bool
        True when the fit reached a fixed point: a plain coordinate-ascent pass (not an
        over-relaxed one) changed the ELBO by less than ``tol`` and, with ``moves``, no move
        raised it.
    n_iter_ : int
        The number of passes over the data of the best initialisation.
    lower_bound_ : float
        The final ELBO per unit of sample weight of the best initialisation (``-inf`` when
        ``max_iter=0``).
    lower_bounds_ : ndarray of shape (n_passes,)
        The ELBO per unit of sample weight after each pass, one value per pass counted in
        ``n_iter_`` (epoch averages for minibatch passes, exact values for full-data passes; a
        pass that undid an over-relaxed step shows as a dip). An accepted move never lowers
        it; an accepted refined merge appears as the one value it reached.
    n_effective_components_ : int
        The number of components whose posterior mean weight is at least 0.01. Components come
        out sorted by decreasing weight, so these are the first ones.
    n_moves_ : dict
        The moves accepted by the best initialisation: ``{'merges': int, 'deletes': int,
        'trial_passes': int, 'births': int}``; ``trial_passes`` are the full passes spent
        refining trial merges and splits (counted against ``max_iter``, not in ``n_iter_``),
        ``births`` the components split in two.
    n_steps_ : int
        The number of minibatch steps taken so far (natural-gradient steps, or Adam steps with
        ``inference='gradient'``); full-data passes are not counted.
    n_samples_seen_ : float
        The total sample weight of the data of the last :meth:`fit` plus that of the
        :meth:`partial_fit` batches since.
    n_features_in_ : int
        The number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        The names of the features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The coordinate-ascent estimator this one mirrors.
    sklearn.mixture.GaussianMixture : Maximum-likelihood Gaussian mixture.

    Notes
    -----
    The covariance model is conjugate: Normal-Wishart for 'full' and 'tied', Normal-Gamma per
    feature for 'diag' and a shared Normal-Gamma for 'spherical'. The expectations are exact for
    each family (scikit-learn approximates the 'diag' and 'spherical' ones with Wishart formulas),
    and 'tied' uses the exact degrees of freedom ``nu_0 + n_samples``.

    :meth:`score_samples` differs from scikit-learn on purpose: it is the log posterior predictive
    density, a mixture of Student-t densities with weights ``weights_``, which integrates to one
    (``BayesianGaussianMixture.score_samples`` plugs the posterior means into Gaussian densities and
    subtracts a variational term, so it does not integrate to one; scikit-learn issue 10148).
    :meth:`sample` draws from the same predictive density. :meth:`predict` and
    :meth:`predict_proba` use the variational responsibilities, as scikit-learn does.

    Internally the trainer works on data centred at the mean and scaled by each feature's
    spread, which keeps the statistics well conditioned for data far from the origin or on very
    different scales; the results are reported in the units of X.

    References
    ----------
    .. [1] M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley (2013). "Stochastic Variational
       Inference". Journal of Machine Learning Research 14, 1303-1347.
    .. [2] C. M. Bishop (2006). "Pattern Recognition and Machine Learning", chapter 10.
    .. [3] D. M. Blei and M. I. Jordan (2006). "Variational inference for Dirichlet process
       mixtures". Bayesian Analysis 1(1), 121-143.

    Examples
    --------
    Two clusters, and an upper bound of five components: the Dirichlet process keeps two.

    >>> import numpy as np
    >>> from skbgmm import VariationalGMM
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.randn(100, 2), rng.randn(100, 2) + [8, 4]]
    >>> gmm = VariationalGMM(n_components=5, random_state=0).fit(X)
    >>> gmm.n_effective_components_
    2
    >>> gmm.means_[:2].round(1)
    array([[7.8, 3.9],
           [0. , 0.2]])
    >>> gmm.predict([[0, 0], [9, 3]])
    array([1, 0])
    """

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-6,
        reg_covar=1e-6,
        max_iter=500,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        batch_size="auto",
        learning_offset=10.0,
        learning_decay=0.7,
        total_samples=None,
        inference="natural_gradient",
        learning_rate=0.05,
        mean_prior_type="conjugate",
        moves="auto",
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.batch_size = batch_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.total_samples = total_samples
        self.inference = inference
        self.learning_rate = learning_rate
        self.mean_prior_type = mean_prior_type
        self.moves = moves
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------------------------------
    def _check_params(self):
        """Check the hyperparameters that do not depend on the data."""

        def number(name, low, low_open=False, high=None, integral=False, optional=False):
            value = getattr(self, name)
            if value is None and optional:
                return
            kind = numbers.Integral if integral else numbers.Real
            if isinstance(value, bool) or not isinstance(value, kind):
                raise InvalidParameterError(
                    f"The '{name}' parameter of VariationalGMM must be "
                    f"{'an int' if integral else 'a float'}"
                    f"{' or None' if optional else ''}. Got {value!r} instead."
                )
            if not np.isfinite(value):
                raise InvalidParameterError(
                    f"The '{name}' parameter of VariationalGMM must be finite."
                )
            if (value <= low) if low_open else (value < low):
                raise InvalidParameterError(
                    f"The '{name}' parameter of VariationalGMM must be "
                    f"{'>' if low_open else '>='} {low}. Got {value!r} instead."
                )
            if high is not None and value > high:
                raise InvalidParameterError(
                    f"The '{name}' parameter of VariationalGMM must be <= {high}. "
                    f"Got {value!r} instead."
                )

        def option(name, options):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in options:
                raise InvalidParameterError(
                    f"The '{name}' parameter of VariationalGMM must be one of "
                    f"{', '.join(repr(o) for o in options)}. Got {value!r} instead."
                )

        number("n_components", 1, integral=True)
        option("covariance_type", COVARIANCE_TYPES)
        number("tol", 0.0)
        number("reg_covar", 0.0)
        number("max_iter", 0, integral=True)
        number("n_init", 1, integral=True)
        option("init_params", _INIT_PARAMS)
        option("weight_concentration_prior_type", WEIGHT_PRIOR_TYPES)
        number("weight_concentration_prior", 0.0, low_open=True, optional=True)
        number("mean_precision_prior", 0.0, low_open=True, optional=True)
        number("degrees_of_freedom_prior", 0.0, low_open=True, optional=True)
        if self.covariance_prior is not None and np.ndim(self.covariance_prior) == 0:
            number("covariance_prior", 0.0, low_open=True)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            number("batch_size", 1, integral=True)
        number("learning_offset", 1.0)
        number("learning_decay", 0.5, low_open=True, high=1.0)
        number("total_samples", 0.0, low_open=True, optional=True)
        option("inference", ("natural_gradient", "gradient"))
        number("learning_rate", 0.0, low_open=True)
        option("mean_prior_type", ("conjugate", "independent"))
        if self.mean_prior_type == "independent" and self.inference != "gradient":
            raise InvalidParameterError(
                "mean_prior_type='independent' is not conjugate: it needs inference='gradient'."
            )
        if not (isinstance(self.moves, (bool, np.bool_)) or self.moves == "auto"):
            raise InvalidParameterError(
                f"The 'moves' parameter of VariationalGMM must be 'auto', True or False. "
                f"Got {self.moves!r} instead."
            )
        if self.moves is True and self.inference == "gradient":
            raise InvalidParameterError(
                "moves=True needs inference='natural_gradient' (the gradient engine "
                "has no merge or delete moves)."
            )
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise InvalidParameterError(
                "The 'warm_start' parameter of VariationalGMM must be a bool."
            )
        number("verbose", 0, integral=True)
        number("verbose_interval", 1, integral=True)
        try:
            check_random_state(self.random_state)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                "The 'random_state' parameter of VariationalGMM must be an int in [0, 2**32 - 1], "
                f"a numpy.random.RandomState instance or None. Got {self.random_state!r} instead."
            ) from None

    def _check_sample_weight(self, sample_weight, n_samples):
        """Validated weights as a float array, or None when every row weighs 1."""
        if sample_weight is None:
            return None
        try:
            w = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("sample_weight must be a 1-D array of numbers.") from exc
        if w.ndim == 0:
            w = np.full(n_samples, float(w))
        if w.ndim != 1 or w.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight.shape == {w.shape}, expected ({n_samples},): one weight per sample."
            )
        if not np.all(np.isfinite(w)):
            raise ValueError("sample_weight must contain only finite values.")
        if np.any(w < 0):
            raise ValueError("sample_weight must be non-negative; negative weights were found.")
        if w.sum() <= 0:
            raise ValueError("sample_weight sums to zero: at least one sample needs weight.")
        return w

    def _batch_size(self, n_samples, n_features):
        if isinstance(self.batch_size, str):
            if self.inference == "gradient":
                return min(n_samples, _GRADIENT_AUTO_BATCH)
            if n_samples <= _FULL_BATCH_MAX:
                return n_samples
            # 1/16 of the data, but at most what one traced call takes (~2**22 rows x
            # components x features), and at least _MIN_AUTO_BATCH rows (computed in parts)
            cap = max(_MIN_AUTO_BATCH, step_rows(self.n_components, n_features))
            return int(min(cap, max(_MIN_AUTO_BATCH, n_samples // 16)))
        return int(self.batch_size)

    def _config(self):
        return Config(self.covariance_type, self.weight_concentration_prior_type)

    # ------------------------------------------------------------------------------------------
    # Initialisation
    # ------------------------------------------------------------------------------------------
    def _warn_if_reg_covar_dominates(self, moments):
        """Warn when ``reg_covar`` is at least 10% of a feature's variance.

        ``reg_covar`` is absolute, in the data's units (as in scikit-learn), and is added to
        every component's covariance: on data in tiny units (a standard deviation of ~0.003 or
        less with the default 1e-6) it blurs the clusters along those features into one, a fit
        that converges to a wrong answer without a sign (three well-separated blobs, 3,000
        points, scaled down: resolved at a ratio of 0.47, ARI 0.57 at 5.3, 0.0 far beyond).
        Features that do not vary are left out (there ``reg_covar`` is what keeps the
        covariances proper).
        """
        variances = np.diag(np.atleast_2d(moments.covariance))
        varying = variances > 0
        dominated = varying & (float(self.reg_covar) >= 0.1 * variances)
        if not dominated.any():
            return
        smallest = int(np.flatnonzero(dominated)[np.argmin(variances[dominated])])
        warnings.warn(
            f"reg_covar={self.reg_covar:g} is at least 10% of the variance of "
            f"{int(dominated.sum())} of the {variances.size} features (the smallest, feature "
            f"{smallest}: {variances[smallest]:.3g}). reg_covar is added to every component's "
            "covariance in the data's units, so clusters along those features blur into one. "
            "Standardise the data (for example with sklearn.preprocessing.StandardScaler) or "
            "lower reg_covar.",
            UserWarning,
            stacklevel=5,  # (the user's fit or partial_fit)
        )

    def _initial_resp(self, source, rng):
        """Initial responsibilities on a subsample; returns (rows, weights, resp, rescale)."""
        k = self.n_components
        Xs, ws = source.subsample(_INIT_SUBSAMPLE, rng)
        Xs = np.asarray(Xs, dtype=np.float64)
        if np.isnan(Xs).any():
            # missing entries: rows with none observed carry no weight; the initial clustering
            # sees the others with their missing entries at the column means
            ws = np.where(np.isnan(Xs).all(axis=1), 0.0, ws)
            Xs = filled(Xs, np.nanmean(Xs, axis=0))
        n_weighted = int(np.sum(ws > 0))
        if n_weighted < k:
            raise ValueError(
                f"init_params={self.init_params!r} needs at least n_components = {k} rows with "
                f"a positive sample_weight, but the data have {n_weighted}. Use fewer components."
            )
        # Sorting the rows makes the initialisation independent of their order, and (since the
        # k-means++ draws search cumulative weights) makes a row of integer weight w initialise
        # exactly like w copies of it.
        order = np.lexsort(Xs.T[::-1])
        Xs, ws = Xs[order], ws[order]
        rescale = True
        if self.init_params == "kmeans":
            labels = (
                KMeans(n_clusters=k, n_init=1, random_state=rng).fit(Xs, sample_weight=ws).labels_
            )
            resp = np.zeros((Xs.shape[0], k))
            resp[np.arange(Xs.shape[0]), labels] = 1.0
        elif self.init_params == "random":
            resp = rng.uniform(size=(Xs.shape[0], k))
            resp /= resp.sum(axis=1, keepdims=True)
        else:
            positive = np.flatnonzero(ws > 0)
            if self.init_params == "k-means++":
                _, idx = kmeans_plusplus(
                    Xs[positive], k, random_state=rng, sample_weight=ws[positive]
                )
            else:
                idx = rng.choice(positive.shape[0], size=k, replace=False)
            resp = np.zeros((Xs.shape[0], k))
            resp[positive[idx], np.arange(k)] = 1.0
            ws = np.where(resp.sum(axis=1) > 0, 1.0, 0.0)
            rescale = False
        return Xs, ws, resp, rescale

    # ------------------------------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Fit the variational posterior to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a source of batches
            Training data, one of:

            - a dense array-like (a :class:`numpy.memmap` is read in chunks, never copied
              whole);
            - a stream of batches: a list of 2-D arrays, a callable that returns a fresh
              iterable of batches on every call, or a ``tf.data.Dataset`` that yields batches;
              each batch is an array or an ``(X, sample_weight)`` pair, and the stream is read
              once per pass (it should be in random order);
            - a ``dask.array.Array`` or ``dask.dataframe.DataFrame``: every per-row computation
              runs on the workers holding the blocks.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: an integer weight ``w`` counts a row ``w`` times and a zero
            weight drops it. ``None`` weighs every row 1. For a dask input, a dask array with
            the same row chunks; for a stream, give the weights inside the batches.

        Returns
        -------
        self : VariationalGMM
            The fitted estimator.
        """
        return self._atomically(self._fit, X, sample_weight)

    def _atomically(self, method, *args):
        """Run a fitting method; if it raises, restore the estimator exactly as it was."""
        saved = self.__dict__.copy()
        try:
            return method(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _source(self, X, sample_weight, reset):
        """Validate X (or wrap a stream of batches) as a data source for the trainer."""
        if is_dask(X):
            source = DaskSource(X, sample_weight)
            if not reset and source.n_features != self.n_features_in_:
                raise ValueError(
                    f"X has {source.n_features} features, but VariationalGMM is expecting "
                    f"{self.n_features_in_} features as input."
                )
            return source, True
        if is_stream(X):
            if sample_weight is not None:
                raise ValueError(
                    "sample_weight cannot be given separately for a stream of batches: yield "
                    "(X, sample_weight) pairs instead."
                )
            n_features = None if reset else self.n_features_in_
            return StreamSource(X, n_features), True
        X = self._validate_X(X, reset=reset, ensure_min_samples=2)
        w = self._check_sample_weight(sample_weight, X.shape[0])
        return ArraySource(X, w), False

    def _options(self, n_samples, n_features):
        return Options(
            max_iter=self.max_iter,
            tol=float(self.tol),
            batch_size=self._batch_size(n_samples, n_features),
            learning_offset=float(self.learning_offset),
            learning_decay=float(self.learning_decay),
            reg_covar=float(self.reg_covar),
            verbose=int(self.verbose),
            verbose_interval=int(self.verbose_interval),
            learning_rate=float(self.learning_rate),
            independent_means=self.mean_prior_type == "independent",
            moves=self._moves_enabled(),
        )

    def _moves_enabled(self):
        """'auto': merge and delete moves for the Dirichlet process, none for the Dirichlet
        distribution (a model of exactly ``n_components`` components)."""
        if self.inference == "gradient":
            return False
        if isinstance(self.moves, str):
            return self.weight_concentration_prior_type == "dirichlet_process"
        return bool(self.moves)

    def _check_continuation(self, what):
        """A warm start or partial_fit continues the fitted state: the model must not change."""
        config = self._config()
        if self._state is None:
            raise ValueError(
                f"{what} cannot continue this fit: it was made with inference='gradient', whose "
                "result holds no natural-gradient state. Fit a new estimator instead."
            )
        if self.means_.shape[0] != self.n_components or config != self._fit_config:
            raise ValueError(
                f"{what} continues the previous fit, so n_components, covariance_type and "
                "weight_concentration_prior_type must stay as they were "
                f"({self.means_.shape[0]}, {tuple(self._fit_config)}); got "
                f"({self.n_components}, {tuple(config)}). Fit a new estimator instead."
            )
        return config

    def _fit(self, X, sample_weight):
        self._check_params()
        warm = bool(self.warm_start) and hasattr(self, "_state")
        if warm and self.inference == "gradient":
            raise ValueError("warm_start is not supported with inference='gradient'.")
        source, stream = self._source(X, sample_weight, reset=not warm)
        config = self._check_continuation("warm_start=True") if warm else self._config()
        moments = source.moments()
        n_samples = moments.n_rows
        if n_samples < 2:
            raise ValueError(
                f"Found array with {n_samples} sample(s) while a minimum of 2 is required."
            )
        if n_samples < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}. Use fewer components."
            )
        if moments.total_weight <= 0:
            raise ValueError("sample_weight sums to zero: at least one sample needs weight.")
        if self.verbose and moments.n_empty_rows:
            print(f"{moments.n_empty_rows} rows with no observed entry carry no weight (dropped)")
        if not warm:
            self._warn_if_reg_covar_dominates(moments)
        frame = self._state.frame if warm else make_frame(moments, self.covariance_type)
        prior = resolve_prior(self, moments, frame)
        options = self._options(n_samples, source.n_features)
        rng = check_random_state(self.random_state)
        trainer = _trainer()

        best = None
        n_init = 1 if warm else self.n_init
        for init in range(n_init):
            if self.verbose:
                print(f"Initialization {init}")
            if warm:
                state = _rescaled(self._state, config, moments.total_weight)
            else:
                Xs, ws, resp, rescale = self._initial_resp(source, rng)
                factor = moments.total_weight / ws.sum() if rescale else 1.0
                state = trainer.initial_state(
                    Xs, ws, resp, frame, config, factor, moments.total_weight
                )
            engine = _engines()["initialise_only" if self.max_iter == 0 else self.inference]
            result = engine(source, n_samples, config, prior, options, state, rng)
            if self.verbose:
                print(f"Initialization converged: {result.converged}")
            if best is None or result.lower_bound > best.lower_bound:
                best = result

        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._store(
            config,
            prior,
            best.posterior,
            best.state,
            stream,
            source.n_features,
            getattr(source, "feature_names", None),
        )
        self.converged_ = bool(best.converged)
        self.n_moves_ = best.n_moves._asdict()
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = np.asarray(best.lower_bounds)
        self.n_samples_seen_ = float(moments.total_weight)
        return self

    def _store(self, config, prior, post, state, stream, n_features, feature_names=None):
        """Set every fitted attribute of a posterior (the last step of a successful fit)."""
        if stream:  # inputs that validate_data did not see
            self.n_features_in_ = int(n_features)
            self.__dict__.pop("feature_names_in_", None)
            if feature_names is not None:
                self.feature_names_in_ = np.asarray(feature_names, dtype=object)
        self._fit_config = config
        self._set_posterior(post)
        self.weight_concentration_prior_ = prior.weight_concentration
        self.mean_precision_prior_ = prior.mean_precision
        self.mean_prior_ = prior.mean
        self.degrees_of_freedom_prior_ = prior.degrees_of_freedom
        self.covariance_prior_ = covariance_shapes(config.covariance_type).prior_attribute(
            prior.covariance
        )
        self.n_effective_components_ = int(np.sum(self.weights_ >= EFFECTIVE_WEIGHT))
        self.n_steps_ = int(state.n_steps)
        self._state = state if state.stats is not None else None

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the posterior with one batch of data (online SVI).

        The first call initialises the model on the batch: priors left as ``None`` are resolved
        from it and the components are initialised on it. Every call then takes one
        natural-gradient step per ``batch_size`` rows of the batch (the whole batch with
        ``batch_size='auto'``), with the step size of the schedule continuing across calls, as
        in :class:`~sklearn.decomposition.LatentDirichletAllocation`'s online mode. Evidence
        accumulates: earlier batches are not forgotten.

        The minibatch likelihood is scaled to ``total_samples`` rows; with
        ``total_samples=None`` that is the total sample weight seen so far (right for a stream
        read once). For several passes over a data set of known size, set ``total_samples`` to it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of data. The first call fixes ``n_features_in_``.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows of this batch.

        Returns
        -------
        self : VariationalGMM
            The updated estimator.
        """
        return self._atomically(self._partial_fit, X, sample_weight)

    def _partial_fit(self, X, sample_weight):
        self._check_params()
        if self.inference == "gradient":
            raise ValueError(
                "partial_fit uses the natural-gradient engine: set inference='natural_gradient'."
            )
        first = not hasattr(self, "_state")
        if not first:
            config = self._check_continuation("partial_fit")
            X = self._validate_X(X, reset=False)
            w = self._check_sample_weight(sample_weight, X.shape[0])
        else:
            config = self._config()
            X = self._validate_X(X, reset=True, ensure_min_samples=2)
            w = self._check_sample_weight(sample_weight, X.shape[0])
            if X.shape[0] < self.n_components:
                raise ValueError(
                    f"The first partial_fit batch needs n_samples >= n_components, got "
                    f"n_components = {self.n_components}, n_samples = {X.shape[0]}."
                )
        source = ArraySource(X, w)
        trainer = _trainer()
        rng = check_random_state(self.random_state)
        batch_weight = float(X.shape[0]) if w is None else float(w.sum())
        if batch_weight <= 0:
            raise ValueError("sample_weight sums to zero: at least one sample needs weight.")
        streaming = self.total_samples is None
        if first:
            moments = source.moments()
            self._warn_if_reg_covar_dominates(moments)
            frame = make_frame(moments, self.covariance_type)
            prior = resolve_prior(self, moments, frame)
            Xs, ws, resp, rescale = self._initial_resp(source, rng)
            total = batch_weight if streaming else float(self.total_samples)
            factor = total / ws.sum() if rescale else 1.0
            state = trainer.initial_state(Xs, ws, resp, frame, config, factor, total)
            # streaming: the initial assignment only seeds the first step, which absorbs the batch
            seen = 0.0 if streaming else None
        else:
            prior = self._resolved_prior()
            state = self._state
            if streaming:
                seen = state.total_samples
            else:
                state, seen = _rescaled(state, config, float(self.total_samples)), None
        options = self._options(X.shape[0], X.shape[1])
        batch_size = min(options.batch_size, X.shape[0])
        if first and streaming:
            # the first batch of a stream is fitted to convergence, so that the
            # Dirichlet-process prior can leave spare components for clusters that come later
            # (without moves: a merge cannot be undone once later batches bring the evidence
            # against it, so merges wait for the accumulated statistics)
            res = trainer.run(
                source, X.shape[0], config, prior, options._replace(moves=False), state, rng
            )
            post, state, elbo = res.posterior, res.state, res.lower_bound
            if options.moves:
                post, state = trainer.memoize(source, config, prior, options, state)
        else:
            post, state, elbo, _, n_merges = trainer.partial(
                source, batch_size, rng, config, prior, options, state, seen
            )
        seen = (0.0 if first else self.n_samples_seen_) + batch_weight
        self._store(config, prior, post, state, False, X.shape[1])
        self.n_samples_seen_ = seen
        self.lower_bound_ = float(elbo)
        self.lower_bounds_ = np.append(getattr(self, "lower_bounds_", np.empty(0)), elbo)
        self.n_iter_ = getattr(self, "n_iter_", 0) + 1
        moves = dict(
            getattr(self, "n_moves_", {"merges": 0, "deletes": 0, "trial_passes": 0, "births": 0})
        )
        if first and streaming:
            moves = res.n_moves._asdict()
        else:
            moves["merges"] += n_merges
        self.n_moves_ = moves
        self.converged_ = False
        return self

    def _set_posterior(self, post: Posterior):
        """Expose a trainer posterior as scikit-learn's fitted attributes."""
        config = self._fit_config
        wp = weight_shapes(config.weight_concentration_prior_type)
        self.weight_concentration_ = wp.attribute(post.weight_concentration)
        self.mean_precision_ = post.mean_precision
        self.means_ = post.means
        self.degrees_of_freedom_ = post.degrees_of_freedom
        self.covariances_ = post.covariances
        self.precisions_cholesky_ = post.precisions_cholesky
        self.precisions_ = covariance_shapes(config.covariance_type).precisions(
            post.precisions_cholesky
        )
        self.weights_ = wp.mean_weights(post.weight_concentration)

    def _resolved_prior(self) -> Prior:
        """The fitted prior hyperparameters as a trainer record."""
        return Prior(
            self.weight_concentration_prior_,
            self.mean_precision_prior_,
            self.mean_prior_,
            self.degrees_of_freedom_prior_,
            np.asarray(self.covariance_prior_),
        )

    def _posterior(self) -> Posterior:
        """The fitted attributes as a trainer posterior."""
        return Posterior(
            weight_concentration=np.asarray(self.weight_concentration_),
            mean_precision=self.mean_precision_,
            means=self.means_,
            degrees_of_freedom=self.degrees_of_freedom_,
            covariances=self.covariances_,
            precisions_cholesky=self.precisions_cholesky_,
        )

    # ------------------------------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------------------------------
    def _validate_X(self, X, reset, ensure_min_samples=1):
        """X as scikit-learn validates it; NaN marks a missing entry, infinity is an error."""
        return validate_data(
            self,
            X,
            dtype=_dtypes(X),
            ensure_all_finite="allow-nan",
            ensure_min_samples=ensure_min_samples,
            reset=reset,
        )

    def _check_X(self, X):
        check_is_fitted(self)
        return self._validate_X(X, reset=False)

    def _dask_blocks(self, X, method):
        """``method`` on every block of a dask array, as a dask array (computed on the workers).

        The estimator goes to the workers as plain data; each block is a NumPy array there.
        """
        check_is_fitted(self)
        if hasattr(X, "columns"):  # a dask DataFrame
            X = X.to_dask_array(lengths=True)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {X.shape}, but VariationalGMM is expecting (n_samples, "
                f"{self.n_features_in_})."
            )
        X = X.rechunk({1: -1})
        fitted = self

        def block(b):
            return getattr(fitted, method)(b)

        if method == "predict_proba":
            k = self.means_.shape[0]
            return X.map_blocks(block, dtype=np.float64, chunks=(X.chunks[0], (k,)))
        dtype = np.int64 if method == "predict" else np.float64
        return X.map_blocks(block, dtype=dtype, drop_axis=1)

    def _log_resp(self, X):
        X = self._check_X(X)
        return _predictor().log_resp(X, self._fit_config, self._posterior())[0]

    def predict_proba(self, X):
        """Posterior probability of each component given each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            The variational responsibilities; each row sums to one. For a dask array, a dask
            array computed block by block on the workers.
        """
        if is_dask(X):
            return self._dask_blocks(X, "predict_proba")
        return np.exp(self._log_resp(X))

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels (for a dask array, a dask array computed on the workers).
        """
        if is_dask(X):
            return self._dask_blocks(X, "predict")
        return self._log_resp(X).argmax(axis=1)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit to X and return the component of each sample; equals ``fit(X).predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def score_samples(self, X):
        """Log posterior predictive density of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log p(x | training data)`` under the posterior predictive mixture of Student-t
            densities; unlike :class:`~sklearn.mixture.BayesianGaussianMixture` it integrates
            to one. For a dask array, a dask array computed block by block on the workers.
        """
        if is_dask(X):
            return self._dask_blocks(X, "score_samples")
        X = self._check_X(X)
        return _predictor().log_predictive_density(
            X, self._fit_config, self._posterior(), self.weights_
        )

    def score(self, X, y=None):
        """Mean log posterior predictive density of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        score : float
            The mean of :meth:`score_samples` over the rows of X.
        """
        return float(np.asarray(self.score_samples(X).mean()))

    # ------------------------------------------------------------------------------------------
    # Partially observed rows: conditioning and imputation
    # ------------------------------------------------------------------------------------------
    def _given_features(self, given):
        """Indices of ``given`` (feature indices, feature names or a boolean mask), checked."""
        n_features = self.n_features_in_
        if given is None:
            raise ValueError("given must name the given features (indices or names), got None.")
        arr = np.asarray(given)
        if arr.ndim == 0:
            arr = arr[None]
        if arr.size == 0:  # nothing given: the predictive of every feature
            return np.empty(0, dtype=np.intp)
        if arr.ndim != 1:
            raise ValueError(f"given must be one-dimensional, got shape {arr.shape}.")
        if arr.dtype.kind == "b":
            if arr.shape[0] != n_features:
                raise ValueError(
                    f"a boolean mask for given needs n_features_in_ = {n_features} entries, got "
                    f"{arr.shape[0]}."
                )
            idx = np.flatnonzero(arr)
        elif arr.dtype.kind in "iu":
            idx = arr.astype(np.intp)
            if np.any(idx < -n_features) or np.any(idx >= n_features):
                raise ValueError(
                    f"given holds feature indices out of range for {n_features} features: "
                    f"{arr.tolist()}."
                )
            idx = np.where(idx < 0, idx + n_features, idx)
        elif arr.dtype.kind in "OUS":
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise ValueError(
                    "given holds feature names, but the model was fitted without feature names: "
                    "give feature indices."
                )
            lookup = {str(n): i for i, n in enumerate(names)}
            unknown = [str(g) for g in arr if str(g) not in lookup]
            if unknown:
                raise ValueError(f"given names features not seen during fit: {unknown}.")
            idx = np.asarray([lookup[str(g)] for g in arr], dtype=np.intp)
        else:
            raise TypeError(f"given must hold feature indices or names, got dtype {arr.dtype}.")
        if np.unique(idx).size != idx.size:
            raise ValueError(f"given names a feature twice: {arr.tolist()}.")
        if idx.size >= n_features:
            raise ValueError(
                "given names every feature: nothing is left to condition (at least one feature "
                "must not be given)."
            )
        return idx

    def condition(self, X, given=None):
        """The posterior predictive of the other features given the features ``given``.

        Parameters
        ----------
        X : array-like of shape (n_samples, len(given))
            Values of the given features, in the order of ``given``. A missing value (NaN) is
            integrated out: that row is conditioned on its observed given values only.
        given : array-like of int or str, or bool array of shape (n_features,), default=None
            The given features, by index or (for a model fitted on named features) by name.
            None: the columns of X, when X is a DataFrame whose columns name fitted features.

        Returns
        -------
        conditional : ConditionalPredictive
            For each row, the conditional law of the remaining features (in their order):
            ``.distribution`` is a TensorFlow Probability ``MixtureSameFamily`` of Student-t
            laws (batch ``(n_samples,)``); ``.mean()``, ``.covariance()``, ``.stddev()``,
            ``.quantile(q)``, ``.sample(n)`` and ``.log_prob(y)`` give NumPy arrays.
        """
        from ._conditional import ConditionalPredictive

        check_is_fitted(self)
        if given is None and hasattr(X, "columns"):
            given = [str(c) for c in X.columns]
        idx = self._given_features(given)
        if hasattr(X, "columns"):
            X = np.asarray(X)  # (the columns are those of `given`, named or not)
        Xg = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", ensure_min_features=0)
        if Xg.shape[1] != idx.size:
            raise ValueError(
                f"X has {Xg.shape[1]} columns, but given names {idx.size} features: X holds the "
                "values of the given features, in the order of given."
            )
        full = np.full((Xg.shape[0], self.n_features_in_), np.nan)
        full[:, idx] = Xg
        targets = np.setdiff1d(np.arange(self.n_features_in_), idx)
        weights, df, loc, scale = _predictor().conditional(
            full, self._fit_config, self._posterior(), self.weights_, targets
        )
        names = getattr(self, "feature_names_in_", None)
        return ConditionalPredictive(
            weights,
            df,
            loc,
            scale,
            targets,
            None if names is None else names[targets],
            covariance_shapes(self.covariance_type).independent_predictive,
            supported=self._supported_components(),
        )

    def _supported_components(self):
        """Components holding at least a 1e-6 share of the sample weight (the others are
        the prior's: see :class:`ConditionalPredictive`)."""
        counts = np.asarray(self.mean_precision_) - self.mean_precision_prior_
        return counts >= 1e-6 * max(float(counts.sum()), np.finfo(float).tiny)

    def impute(self, X, sample_posterior=False, random_state=None):
        """X with each missing entry (NaN) replaced from its row's observed entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows with missing entries (NaN).
        sample_posterior : bool, default=False
            False: the conditional mean of the missing entries given the observed ones (under
            the posterior predictive). True: one draw from that conditional law (multiple
            imputation, as :class:`~sklearn.impute.IterativeImputer`'s ``sample_posterior``).
        random_state : int, RandomState instance or None, default=None
            Seed of the draws when ``sample_posterior=True``.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            A copy of X with no missing entries (a row with every entry missing gets the
            predictive mean or a draw of the whole model).
        """
        from ._conditional import ConditionalPredictive

        X = np.array(self._check_X(X), dtype=np.float64)
        rng = check_random_state(random_state)
        nan = np.isnan(X)
        # each row's conditional law of every coordinate given its observed ones, whatever its
        # missingness pattern, in blocks of rows. For draws the observed coordinates get the
        # identity as their scale: the scale is then block diagonal, so the draws of the missing
        # block follow their conditional law exactly (the observed ones are discarded)
        every = np.arange(self.n_features_in_)
        independent = covariance_shapes(self.covariance_type).independent_predictive
        supported = self._supported_components()
        rows = np.flatnonzero(nan.any(axis=1))
        block = ConditionalPredictive.DRAW_ROWS
        for start in range(0, rows.size, block):
            chunk = rows[start : start + block]
            weights, df, loc, scale = _predictor().conditional(
                X[chunk],
                self._fit_config,
                self._posterior(),
                self.weights_,
                every,
                with_scale=sample_posterior,
            )
            if sample_posterior:
                scale[:, :, every, every] += (~nan[chunk])[:, None, :]
            cond = ConditionalPredictive(
                weights, df, loc, scale, every, None, independent, supported=supported
            )
            values = cond.sample(1, random_state=rng)[0] if sample_posterior else cond.mean()
            X[chunk] = np.where(nan[chunk], values, X[chunk])
        return X

    def sample(self, n_samples=1):
        """Draw samples from the posterior predictive density.

        Parameters
        ----------
        n_samples : int, default=1
            The number of samples.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each sample came from.
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
            raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at least "
                "one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        seed = rng.randint(0, 2**31 - 1, size=2)
        X = _predictor().sample_predictive(self._fit_config, self._posterior(), counts, seed)
        y = np.repeat(np.arange(self.means_.shape[0]), counts)
        return X, y

    def summary(self, credible_level=0.95, all_components=False):
        """Per-component posterior summary: weights, means and standard deviations with intervals.

        Parameters
        ----------
        credible_level : float, default=0.95
            Probability mass of each equal-tailed credible interval, in (0, 1).
        all_components : bool, default=False
            List every component. By default only the effective ones (weight >= 0.01) are
            listed, and the summary says how many were left out: a switched-off component's
            intervals are the prior's, not the data's.

        Returns
        -------
        summary : PosteriorSummary
            Arrays per component and feature; printed (or shown in a REPL or notebook) it is a
            table, ``summary.to_frame()`` is a DataFrame and ``summary.rows()`` gives records.
        """
        check_is_fitted(self)
        if not (isinstance(credible_level, numbers.Real) and 0.0 < credible_level < 1.0):
            raise ValueError(f"credible_level must be in (0, 1), got {credible_level!r}.")
        if not isinstance(all_components, (bool, np.bool_)):
            raise TypeError(f"all_components must be a bool, got {all_components!r}.")
        post = self._posterior()
        config = self._fit_config
        (m_lo, m_hi), (s_lo, s_hi) = _predictor().credible_intervals(
            config, post, float(credible_level)
        )
        shapes = covariance_shapes(config.covariance_type)
        var = shapes.diagonal_variances(self.covariances_, *self.means_.shape)
        names = (
            [str(n) for n in self.feature_names_in_]
            if hasattr(self, "feature_names_in_")
            else [f"x{d}" for d in range(self.n_features_in_)]
        )
        shown = (
            np.arange(self.weights_.shape[0])
            if all_components
            else np.flatnonzero(self.weights_ >= EFFECTIVE_WEIGHT)
        )
        return PosteriorSummary(
            credible_level=float(credible_level),
            weight=self.weights_[shown].copy(),
            mean=self.means_[shown].copy(),
            mean_lower=m_lo[shown],
            mean_upper=m_hi[shown],
            std=np.sqrt(var)[shown],
            std_lower=s_lo[shown],
            std_upper=s_hi[shown],
            feature_names=names,
            components=shown,
            n_left_out=int(self.weights_.shape[0] - shown.size),
        )

    def posterior_distributions(self):
        """The variational posterior as TensorFlow Probability distributions.

        Built on demand from the fitted NumPy attributes (nothing TensorFlow is stored on the
        estimator, so it pickles as plain data).

        Returns
        -------
        distributions : dict
            ``'weights'``: :class:`~tfp.distributions.Dirichlet` over the weights, or for the
            Dirichlet process a batch of K :class:`~tfp.distributions.Beta` stick proportions;
            ``'precisions'``: :class:`~tfp.distributions.WishartTriL` (batch of K for 'full', one
            for 'tied') or :class:`~tfp.distributions.Gamma` (shape (K, D) for 'diag', (K,) for
            'spherical'); ``'means'``: the marginal posterior of each component's mean with the
            precision integrated out, a batch of K multivariate Student-t distributions.
        """
        check_is_fitted(self)
        return _predictor().posterior_distributions(self._fit_config, self._posterior())

    def predictive_distribution(self):
        """The fitted posterior predictive density as one TensorFlow Probability distribution.

        A :class:`~tfp.distributions.MixtureSameFamily` of Student-t laws with the mixing
        weights ``weights_``, for use inside TensorFlow code (a Keras loss, a
        ``tf.function``): its ``log_prob`` equals :meth:`score_samples` and its ``sample`` draws
        from the law :meth:`sample` draws from. Built on demand from the NumPy attributes.
        Its ``log_prob`` takes complete rows (a TFP distribution has no notion of a missing
        coordinate: a NaN gives NaN); for rows with missing entries use :meth:`score_samples`
        (the marginal density) or :meth:`condition`.

        Returns
        -------
        distribution : tfp.distributions.MixtureSameFamily
            Event shape ``(n_features,)``, float64.
        """
        check_is_fitted(self)
        return _predictor().predictive_distribution(
            self._fit_config, self._posterior(), self.weights_
        )

    def export_saved_model(self, path):
        """Save the fitted model as a TensorFlow SavedModel for serving.

        The SavedModel holds the posterior as constants and has the signatures
        ``score_samples``, ``predict_proba`` and ``predict`` (and ``serving_default`` =
        ``score_samples``), each taking a float64 tensor ``X`` of shape ``(n, n_features)``.
        ``tf.saved_model.load(path)`` gives the same numbers as this estimator in a process
        that never imports skbgmm (TensorFlow Serving, a Keras model, another language's
        TensorFlow bindings). Rows are not validated there.

        Parameters
        ----------
        path : str or os.PathLike
            The folder to write.
        """
        check_is_fitted(self)
        _predictor().export_saved_model(
            self._fit_config, self._posterior(), self.weights_, os.fspath(path)
        )

    def sample_posterior(self, n_samples=1, random_state=None):
        """Draw mixture parameters from the variational posterior.

        Parameters
        ----------
        n_samples : int, default=1
            The number of joint draws.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        weights : ndarray of shape (n_samples, n_components)
            Mixture weights (each row sums to one).
        means : ndarray of shape (n_samples, n_components, n_features)
            Component means.
        covariances : ndarray of shape (n_samples, ...)
            Component covariances (inverse precisions), each of the shape of
            ``covariances_``. Their average is
            ``E[Lambda^-1]``, which exceeds ``covariances_`` (the inverse of ``E[Lambda]``) by
            the factor ``nu / (nu - D - 1)`` for 'full' and 'tied'.
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
            raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}.")
        rng = check_random_state(self.random_state if random_state is None else random_state)
        seed = rng.randint(0, 2**31 - 1, size=2)
        return _predictor().sample_posterior(self._fit_config, self._posterior(), n_samples, seed)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
