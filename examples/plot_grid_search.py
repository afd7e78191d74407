"""
Choosing the number of components
=================================

Because :meth:`VariationalGMM.score_samples` is the posterior predictive density, which integrates
to one, its cross-validated mean is a proper held-out log-likelihood and
``GridSearchCV`` over ``n_components`` inside a ``Pipeline`` chooses the number of clusters.
``BayesianGaussianMixture.score`` is not a normalised density, so its curve is shown for
comparison only. The ELBO gives a second answer without cross-validation
(:func:`skbgmm.select_n_components`).
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skbgmm import VariationalGMM, select_n_components

X, _ = make_blobs(n_samples=800, centers=4, n_features=2, cluster_std=0.6, random_state=1)
X = X @ np.array([[0.6, -0.64], [-0.41, 0.85]])  # elongated clusters
grid = {"gmm__n_components": list(range(1, 8))}
curves = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, est in [
        ("VariationalGMM", VariationalGMM(random_state=0)),
        ("BayesianGaussianMixture", BayesianGaussianMixture(random_state=0, max_iter=500)),
    ]:
        search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("gmm", est)]), grid, cv=5)
        search.fit(X)
        curves[name] = search.cv_results_["mean_test_score"]
        print(f"{name}: best n_components = {search.best_params_['gmm__n_components']}")

selection = select_n_components(VariationalGMM(random_state=0), X, range(1, 8))
print(f"ELBO choice: n_components = {selection.n_components}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, scores in curves.items():
    axes[0].plot(grid["gmm__n_components"], scores, "o-", label=name)
axes[0].set_xlabel("n_components")
axes[0].set_ylabel("mean cross-validated score")
axes[0].legend()
axes[1].plot(selection.candidates, selection.log_evidence, "o-")
axes[1].set_xlabel("n_components")
axes[1].set_ylabel("ELBO (nats)")
fig.tight_layout()
plt.show()
