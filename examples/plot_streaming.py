"""
Streaming fits with partial_fit
===============================

A stream read once is absorbed batch by batch with :meth:`VariationalGMM.partial_fit`: each
batch's evidence is added to the posterior (streaming variational Bayes), so earlier batches are
not forgotten. Here the first half of the stream holds only two of the four clusters; the two
that appear later get components of their own (spare components of the Dirichlet-process prior
are re-seeded on points that no component explains).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs

from skbgmm import VariationalGMM
from skbgmm.plotting import plot_density

quick = os.environ.get("SKBGMM_EXAMPLES_QUICK") == "1"
n = 4000 if quick else 40_000
X, y = make_blobs(n_samples=n, centers=4, n_features=2, cluster_std=0.8, random_state=2)
order = np.argsort(y, kind="stable")  # clusters 0 and 1 first, then 2 and 3
stream = np.array_split(X[order], 40)

gmm = VariationalGMM(n_components=8, random_state=0)
snapshots = {}
for i, batch in enumerate(stream):
    gmm.partial_fit(batch)
    if i in (9, 39):
        snapshots[i + 1] = (np.concatenate(stream[: i + 1]), gmm.means_.copy(), gmm.weights_.copy())
print(f"{gmm.n_effective_components_} effective components after {len(stream)} batches")
print(gmm.summary())

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, (batches, (seen, means, weights)) in zip(axes, snapshots.items()):
    ax.plot(seen[:, 0], seen[:, 1], ".", markersize=1, alpha=0.3)
    heavy = weights > 0.01
    ax.plot(means[heavy, 0], means[heavy, 1], "r+", markersize=14, mew=2)
    ax.set_title(f"after {batches} batches")
fig.tight_layout()

# %%
fig, ax = plt.subplots(figsize=(6, 5))
plot_density(gmm, X, ax=ax)
plt.show()
