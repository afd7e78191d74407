"""Figures of a fitted :class:`~skbgmm.VariationalGMM` (matplotlib, an optional dependency).

These draw what the reference recipe draws by hand: the fitted density over 2-D data, the
posterior of one component's standard deviations, and the joint posterior of one component's
mean. Install matplotlib with ``pip install "skbgmm[plot]"``.
"""

from __future__ import annotations

import numpy as np

from ._svi._family_shapes import covariance_shapes


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("skbgmm.plotting needs matplotlib: pip install 'skbgmm[plot]'") from exc
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _check_2d(model, what):
    if model.means_.shape[1] != 2:
        raise ValueError(f"{what} needs a model fitted on 2-D data, got {model.means_.shape[1]}-D")


def plot_density(model, X=None, *, ax=None, grid_size=150, extent=None, cmap="viridis"):
    """Draw the posterior predictive density of a 2-D model as an image, with the data on top.

    Parameters
    ----------
    model : VariationalGMM
        A model fitted on 2-D data.
    X : array-like of shape (n_samples, 2), default=None
        Points to draw over the density.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    grid_size : int, default=150
        Grid points per axis.
    extent : tuple (xmin, xmax, ymin, ymax), default=None
        The area shown; by default the data's range (or the means' range) plus a margin.
    cmap : str, default='viridis'
        Colour map of the density.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    _check_2d(model, "plot_density")
    ax = _axes(ax)
    if extent is None:
        pts = np.asarray(X, dtype=float) if X is not None else model.means_
        lo, hi = pts.min(0), pts.max(0)
        pad = (
            0.1 * (hi - lo) + 1e-9 + (0 if X is not None else 3 * np.sqrt(model.covariances_.max()))
        )
        extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    gx, gy = np.meshgrid(
        np.linspace(extent[0], extent[1], grid_size), np.linspace(extent[2], extent[3], grid_size)
    )
    dens = np.exp(model.score_samples(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    image = ax.imshow(dens, extent=extent, origin="lower", cmap=cmap, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="posterior predictive density")
    if X is not None:
        X = np.asarray(X, dtype=float)
        ax.plot(X[:, 0], X[:, 1], ".", color="white", markersize=1.5, alpha=0.5)
    ax.plot(model.means_[:, 0], model.means_[:, 1], "r+", markersize=10, label="posterior means")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.legend(loc="upper right")
    return ax


def plot_std_posterior(model, component=0, *, ax=None, n_samples=10000, random_state=0, bins=60):
    """Draw a histogram of posterior draws of one component's standard deviations per feature.

    Parameters
    ----------
    model : VariationalGMM
        A fitted model.
    component : int, default=0
        The component (components are ordered by decreasing weight).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    n_samples : int, default=10000
        Posterior draws.
    random_state : int, default=0
        Seed of the draws.
    bins : int, default=60
        Histogram bins.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    ax = _axes(ax)
    _, _, cov = model.sample_posterior(n_samples, random_state=random_state)
    shapes = covariance_shapes(model._fit_config.covariance_type)
    var = shapes.diagonal_variances(cov, *model.means_.shape)[:, component]
    for d in range(var.shape[1]):
        ax.hist(np.sqrt(var[:, d]), bins=bins, density=True, alpha=0.6, label=f"feature {d}")
    ax.set_xlabel(f"standard deviation of component {component}")
    ax.set_ylabel("posterior density")
    ax.legend()
    return ax


def plot_mean_posterior(model, component=0, *, ax=None, n_samples=10000, random_state=0, levels=10):
    """Draw contours of the joint posterior of one component's 2-D mean (from posterior draws).

    Parameters
    ----------
    model : VariationalGMM
        A model fitted on 2-D data.
    component : int, default=0
        The component (components are ordered by decreasing weight).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    n_samples : int, default=10000
        Posterior draws.
    random_state : int, default=0
        Seed of the draws.
    levels : int, default=10
        Number of contour levels.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    _check_2d(model, "plot_mean_posterior")
    ax = _axes(ax)
    _, means, _ = model.sample_posterior(n_samples, random_state=random_state)
    m = means[:, component]
    hist, xe, ye = np.histogram2d(m[:, 0], m[:, 1], bins=40, density=True)
    xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
    ax.contour(xc, yc, hist.T, levels=levels)
    ax.plot(*model.means_[component], "r+", markersize=12, label="posterior mean")
    ax.set_xlabel(f"mean of component {component}, x0")
    ax.set_ylabel(f"mean of component {component}, x1")
    ax.legend()
    return ax
