"""
The reference recipe, with VariationalGMM
=========================================

The recipe that started skbgmm fits a three-component Bayesian Gaussian mixture to 3,000 points by
Adam on a Monte-Carlo ELBO, and needs about 900 epochs to place the means. Here the same data are
fitted by natural-gradient variational inference in a handful of passes, and the recipe's three
figures are drawn from the fitted posterior: the density over the data, the posterior of one
component's standard deviations, and the joint posterior of one component's mean.
"""

# %%
import time

import matplotlib.pyplot as plt

from skbgmm import VariationalGMM, make_recipe_data
from skbgmm.plotting import plot_density, plot_mean_posterior, plot_std_posterior

X, y = make_recipe_data(3000)
gmm = VariationalGMM(n_components=3, covariance_type="diag", random_state=0)
t0 = time.perf_counter()
gmm.fit(X)
print(f"fitted in {time.perf_counter() - t0:.2f} s (first fit: includes TensorFlow start-up)")
t0 = time.perf_counter()
gmm.fit(X)
print(f"refitted in {time.perf_counter() - t0:.3f} s, {gmm.n_iter_} passes over the data")
print(gmm.summary())

# %%
# The fitted posterior predictive density over the data.
fig, ax = plt.subplots(figsize=(6, 5))
plot_density(gmm, X, ax=ax)
ax.set_title("posterior predictive density")
fig.tight_layout()

# %%
# The posterior of the standard deviations of the first component, and the joint posterior of
# its mean, from 10,000 posterior draws.
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plot_std_posterior(gmm, 0, ax=axes[0])
plot_mean_posterior(gmm, 0, ax=axes[1])
fig.tight_layout()
plt.show()
