"""Imputation and regression with a variational Gaussian mixture: :class:`GMMImputer`,
:class:`GMMRegressor`. Both fit a :class:`VariationalGMM` and answer through its conditional
posterior predictive (:meth:`VariationalGMM.condition`)."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._estimator import VariationalGMM

_GMM_PARAMS = (
    "n_components",
    "covariance_type",
    "weight_concentration_prior_type",
    "reg_covar",
    "max_iter",
    "n_init",
)


def _mixture_constraints():
    return {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})
        ],
        "reg_covar": [Interval(numbers.Real, 0.0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }


def _mixture(est, n_rows):
    params = {name: getattr(est, name) for name in _GMM_PARAMS}
    params["n_components"] = min(params["n_components"], max(1, n_rows))
    return VariationalGMM(random_state=est.random_state, **params)


class GMMImputer(TransformerMixin, BaseEstimator):
    """Impute missing values from a variational Gaussian mixture fitted to the incomplete data.

    The mixture is fitted on the rows as they are (missing entries are integrated out, see
    :class:`VariationalGMM`); each missing entry is then replaced by its conditional mean given
    the row's observed entries under the posterior predictive, or by a draw from that
    conditional law (``sample_posterior=True``, for multiple imputation). Unlike a single
    regression per feature, the conditional mean follows the cluster the row is likely to
    belong to.

    Parameters
    ----------
    missing_values : int, float, str, np.nan or None, default=np.nan
        The placeholder of a missing value, as in :mod:`sklearn.impute`.
    n_components : int, default=10
        Upper bound on the number of mixture components (the Dirichlet process keeps as many as
        the data need).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance of each component ('diag' and 'spherical' ignore correlations within a
        component, so they impute a feature from the cluster membership only).
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's scatter, as in :class:`VariationalGMM`.
    max_iter : int, default=500
        Upper bound on the passes of the mixture's fit.
    n_init : int, default=1
        Initialisations of the mixture's fit (the best ELBO is kept).
    sample_posterior : bool, default=False
        Impute by a draw from the conditional posterior predictive instead of its mean.
    add_indicator : bool, default=False
        Append a :class:`~sklearn.impute.MissingIndicator` of the missing entries.
    keep_empty_features : bool, default=False
        A feature with no observed value in the training data carries nothing to fit: it is
        dropped from the output (False), or kept and filled with 0 (True), as in
        :mod:`sklearn.impute`.
    random_state : int, RandomState instance or None, default=None
        Seeds the fit and the draws of ``sample_posterior``.

    Attributes
    ----------
    gmm_ : VariationalGMM
        The mixture fitted to the training data.
    indicator_ : MissingIndicator or None
    random_state_ : RandomState
        The generator of the draws.
    n_iter_ : int
        Passes of the mixture's fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string feature names.

    Examples
    --------
    >>> import numpy as np
    >>> from skbgmm import GMMImputer
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.randn(100, 2), rng.randn(100, 2) + 5]
    >>> X[::7, 1] = np.nan
    >>> GMMImputer(random_state=0).fit_transform(X).shape
    (200, 2)
    """

    _parameter_constraints = {
        **_mixture_constraints(),
        "missing_values": [numbers.Real, numbers.Integral, str, None],
        "sample_posterior": ["boolean"],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
    }

    def __init__(
        self,
        *,
        missing_values=np.nan,
        n_components=10,
        covariance_type="full",
        weight_concentration_prior_type="dirichlet_process",
        reg_covar=1e-6,
        max_iter=500,
        n_init=1,
        sample_posterior=False,
        add_indicator=False,
        keep_empty_features=False,
        random_state=None,
    ):
        self.missing_values = missing_values
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.sample_posterior = sample_posterior
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.random_state = random_state

    def _with_nan(self, X, reset):
        """X validated as floats, with the placeholder replaced by NaN."""
        placeholder_is_nan = self.missing_values is None or (
            isinstance(self.missing_values, float) and np.isnan(self.missing_values)
        )
        if placeholder_is_nan:
            X = validate_data(
                self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=reset, copy=True
            )
            return X, np.isnan(X)
        X = validate_data(
            self, X, dtype=None, ensure_all_finite="allow-nan", reset=reset, copy=True
        )
        mask = X == self.missing_values
        try:
            X = np.where(mask, np.nan, X).astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"GMMImputer needs numeric data, got {exc}.") from None
        return X, np.isnan(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the mixture to X (with its missing entries).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with missing entries.
        y : None
            Ignored.

        Returns
        -------
        self : GMMImputer
            The fitted imputer.
        """
        X, mask = self._with_nan(X, reset=True)
        self.random_state_ = check_random_state(self.random_state)
        self._observed_features = ~mask.all(axis=0)
        if not self._observed_features.any():
            raise ValueError("every feature of X is missing in every row: nothing to fit.")
        self.gmm_ = _mixture(self, X.shape[0]).fit(X[:, self._observed_features])
        self.n_iter_ = self.gmm_.n_iter_
        if self.add_indicator:
            from sklearn.impute import MissingIndicator

            self.indicator_ = MissingIndicator(missing_values=np.nan, error_on_new=False).fit(X)
        else:
            self.indicator_ = None
        return self

    def transform(self, X):
        """Impute every missing entry of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features) or (n_samples, n_features + \
n_indicator)
            X with every missing entry imputed, then the indicator's columns if any.
        """
        check_is_fitted(self)
        X, _ = self._with_nan(X, reset=False)
        kept = self._observed_features
        imputed = self.gmm_.impute(
            X[:, kept], sample_posterior=self.sample_posterior, random_state=self.random_state_
        )
        if self.keep_empty_features and not kept.all():
            full = np.zeros(X.shape)
            full[:, kept] = imputed
            imputed = full
        if self.indicator_ is not None:
            imputed = np.hstack([imputed, self.indicator_.transform(X).astype(np.float64)])
        return imputed

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the input features, then the indicator's."""
        from sklearn.utils.validation import _check_feature_names_in

        check_is_fitted(self)
        all_names = _check_feature_names_in(self, input_features)
        names = all_names if self.keep_empty_features else all_names[self._observed_features]
        if self.indicator_ is not None:
            names = np.concatenate([names, self.indicator_.get_feature_names_out(all_names)])
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = False
        return tags


class GMMRegressor(RegressorMixin, BaseEstimator):
    """Gaussian-mixture regression: a variational mixture of ``[X, y]``, predicting ``y | X``.

    ``fit(X, y)`` fits a :class:`VariationalGMM` to the joint rows ``[X, y]``; predictions are
    the conditional posterior predictive of ``y`` given ``X``: a mixture of Student-t laws
    whose weights depend on ``X``. So the prediction can be nonlinear, heteroscedastic and
    multimodal, and comes with its uncertainty (``predict(X, return_std=True)``,
    :meth:`predict_distribution`). Missing entries (NaN) in ``X`` at predict time are
    integrated out.

    Parameters
    ----------
    n_components : int, default=10
        Upper bound on the number of components of the joint mixture.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full' (or 'tied') is what makes ``y`` depend on ``X`` within a component; with
        'diag' or 'spherical' the prediction depends on ``X`` only through the weights.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        The weight prior of the joint mixture.
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's scatter.
    max_iter : int, default=500
        Upper bound on the passes of the fit.
    n_init : int, default=1
        Initialisations of the fit (the best ELBO is kept).
    random_state : int, RandomState instance or None, default=None
        Seeds the fit, as in :class:`VariationalGMM`.

    Attributes
    ----------
    gmm_ : VariationalGMM
        The joint mixture of ``[X, y]``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string feature names.
    n_outputs_ : int
    n_iter_ : int
        Passes of the mixture's fit.

    Examples
    --------
    >>> import numpy as np
    >>> from skbgmm import GMMRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.randn(300)
    >>> reg = GMMRegressor(random_state=0).fit(X, y)
    >>> mean, std = reg.predict(X[:2], return_std=True)
    >>> mean.shape, std.shape
    ((2,), (2,))
    """

    _parameter_constraints = _mixture_constraints()

    def __init__(
        self,
        n_components=10,
        *,
        covariance_type="full",
        weight_concentration_prior_type="dirichlet_process",
        reg_covar=1e-6,
        max_iter=500,
        n_init=1,
        random_state=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the joint mixture of ``[X, y]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; missing entries (NaN) are allowed.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (finite).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows.

        Returns
        -------
        self : GMMRegressor
            The fitted regressor.
        """
        X, y = validate_data(
            self,
            X,
            y,
            dtype=np.float64,
            ensure_all_finite="allow-nan",
            multi_output=True,
            y_numeric=True,
        )
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        Y = y.reshape(y.shape[0], -1)
        if not np.all(np.isfinite(Y)):
            raise ValueError("y contains NaN or infinity: every target must be finite.")
        self.n_outputs_ = Y.shape[1]
        self.gmm_ = _mixture(self, X.shape[0]).fit(np.hstack([X, Y]), sample_weight=sample_weight)
        self.n_iter_ = self.gmm_.n_iter_
        return self

    def predict_distribution(self, X):
        """The conditional posterior predictive of ``y`` for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; missing entries (NaN) are integrated out.

        Returns
        -------
        conditional : ConditionalPredictive
            See :meth:`VariationalGMM.condition`: ``.mean()``, ``.stddev()``,
            ``.quantile(q)``, ``.sample(n)``, ``.log_prob(y)`` and ``.distribution`` (TFP).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self.gmm_.condition(X, np.arange(self.n_features_in_))

    def predict(self, X, return_std=False):
        """Conditional mean of ``y`` given X (and its standard deviation).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; missing entries (NaN) are integrated out.
        return_std : bool, default=False
            Also return the conditional standard deviation of each output.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Conditional means.
        y_std : ndarray of the same shape
            Conditional standard deviations (only with ``return_std=True``).
        """
        cond = self.predict_distribution(X)
        mean = cond.mean()
        if self._y_1d:
            mean = mean[:, 0]
        if not return_std:
            return mean
        std = cond.stddev()
        return mean, (std[:, 0] if self._y_1d else std)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.multi_output = True
        return tags
