"""scikit-learn's estimator checks, the whole API contract in one place."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skbgmm import GMMImputer, GMMRegressor, VariationalGMM


@parametrize_with_checks(
    [
        VariationalGMM(random_state=0),
        VariationalGMM(n_components=2, covariance_type="diag", random_state=0),
        VariationalGMM(
            n_components=2,
            covariance_type="tied",
            weight_concentration_prior_type="dirichlet_distribution",
            random_state=0,
        ),
        VariationalGMM(n_components=2, covariance_type="spherical", batch_size=5, random_state=0),
        GMMImputer(n_components=3, random_state=0),
        GMMImputer(n_components=2, covariance_type="diag", add_indicator=True, random_state=0),
        GMMRegressor(n_components=3, random_state=0),
    ],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
