"""
Imputing missing values with the mixture
========================================

A fifth of the entries of four clusters in five dimensions are hidden at random. The
:class:`skbgmm.GMMImputer` fits a variational mixture to the incomplete rows and fills each hole
with its conditional mean given the row's observed entries; scikit-learn's imputers are
fitted on the same rows and every imputer is scored by the RMSE on the hidden entries. The
conditional mean follows the cluster a row probably belongs to, so it lands far closer to the
truth than a column mean, a neighbour average or one regression per feature.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from skbgmm import GMMImputer

quick = os.environ.get("SKBGMM_EXAMPLES_QUICK") == "1"
X, _ = make_blobs(600 if quick else 3000, 5, centers=4, random_state=1)
rng = np.random.RandomState(0)
hidden = rng.uniform(size=X.shape) < 0.2
hidden[hidden.all(axis=1), 0] = False
X_missing = np.where(hidden, np.nan, X)

imputers = {
    "column mean": SimpleImputer(),
    "5 neighbours": KNNImputer(),
    "iterative": IterativeImputer(random_state=0),
    "GMMImputer": GMMImputer(random_state=0),
}
rmse = {}
for name, imputer in imputers.items():
    filled = imputer.fit_transform(X_missing)
    rmse[name] = np.sqrt(np.mean((filled[hidden] - X[hidden]) ** 2))
    print(f"{name:>13}: RMSE on the hidden entries {rmse[name]:.3f}")

# %%
# Where the hidden entries land: the first two features of the rows missing the second one.
filled = imputers["GMMImputer"].transform(X_missing)
rows = hidden[:, 1] & ~hidden[:, 0]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharex=True, sharey=True)
for ax, (name, values) in zip(
    axes, [("column mean", imputers["column mean"].transform(X_missing)), ("GMMImputer", filled)]
):
    ax.scatter(X[~rows, 0], X[~rows, 1], s=3, c="0.8")
    ax.scatter(X[rows, 0], X[rows, 1], s=8, c="k", label="truth")
    ax.scatter(values[rows, 0], values[rows, 1], s=8, c="tab:red", label="imputed")
    ax.set_title(f"{name} (RMSE {rmse[name]:.2f})")
axes[0].legend(loc="lower left")
plt.tight_layout()
