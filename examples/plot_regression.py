"""
Regression with uncertainty bands, and a two-valued target
===========================================================

:class:`skbgmm.GMMRegressor` fits one mixture to the joint rows ``[x, y]`` and predicts the
conditional posterior predictive of ``y`` given ``x``. Its mean is a smooth nonlinear fit and its
quantiles give uncertainty bands that widen where the data are noisier or sparse. Where ``y``
takes two values for the same ``x`` (``y = +-sqrt(x)``) the conditional law is bimodal: its mean
(the regression a least-squares model would give) falls between the branches, while its density
shows both.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from skbgmm import GMMRegressor

quick = os.environ.get("SKBGMM_EXAMPLES_QUICK") == "1"
n = 400 if quick else 1500
rng = np.random.RandomState(0)
x = rng.uniform(-3, 3, size=n)
y = np.sin(x) + (0.05 + 0.1 * np.abs(x)) * rng.randn(n)  # noise grows with |x|
reg = GMMRegressor(n_components=15, random_state=0).fit(x[:, None], y)
grid = np.linspace(-3.5, 3.5, 300)[:, None]
dist = reg.predict_distribution(grid)
low, high = dist.quantile([0.05, 0.95])[:, :, 0]

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].scatter(x, y, s=3, c="0.6")
axes[0].plot(grid[:, 0], dist.mean()[:, 0], c="tab:blue", label="conditional mean")
axes[0].fill_between(grid[:, 0], low, high, alpha=0.3, label="90% predictive band")
axes[0].set_title("y = sin(x) + noise growing with |x|")
axes[0].legend(loc="upper left")

# %%
# A target with two branches: the conditional density at each x.
x2 = rng.uniform(0.0, 9.0, size=n)
y2 = np.sign(rng.randn(n)) * np.sqrt(x2) + 0.1 * rng.randn(n)
reg2 = GMMRegressor(n_components=20, random_state=0).fit(x2[:, None], y2)
xs, ys = np.linspace(0.5, 9, 60), np.linspace(-3.5, 3.5, 120)
density = np.stack(
    [np.exp(reg2.predict_distribution(np.full((ys.size, 1), xv)).log_prob(ys[:, None])) for xv in xs]
)
axes[1].pcolormesh(xs, ys, density.T, shading="auto", cmap="Blues")
axes[1].scatter(x2, y2, s=2, c="k", alpha=0.3)
axes[1].plot(xs, reg2.predict(xs[:, None]), c="tab:red", label="conditional mean")
axes[1].set_title("y = +-sqrt(x): the conditional density is bimodal")
axes[1].legend(loc="lower left")
plt.tight_layout()
