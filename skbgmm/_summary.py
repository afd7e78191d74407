"""A readable table of a fitted posterior (plain NumPy; no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PosteriorSummary:
    """Per-component posterior summary returned by :meth:`VariationalGMM.summary`.

    Every array has one row per component, in the estimator's component order; the per-feature
    arrays have shape (n_components, n_features).

    Attributes
    ----------
    credible_level : float
        The probability mass of each equal-tailed credible interval.
    weight : ndarray of shape (n_components,)
        Posterior mean weight of each component.
    mean : ndarray
        Posterior mean of each component's mean.
    mean_lower, mean_upper : ndarray
        Credible interval of each coordinate of each mean (marginal Student-t posterior).
    std : ndarray
        ``sqrt`` of the diagonal of ``covariances_``.
    std_lower, std_upper : ndarray
        Credible interval of each standard deviation (marginal inverse-Gamma posterior of the
        variance).
    feature_names : list of str
        Column labels used when printing.
    """

    credible_level: float
    weight: np.ndarray
    mean: np.ndarray
    mean_lower: np.ndarray
    mean_upper: np.ndarray
    std: np.ndarray
    std_lower: np.ndarray
    std_upper: np.ndarray
    feature_names: list

    def rows(self):
        """One dict per (component, feature) pair, ready for ``pandas.DataFrame(rows)``."""
        out = []
        for k in range(self.weight.shape[0]):
            for d, name in enumerate(self.feature_names):
                out.append(
                    {
                        "component": k,
                        "weight": float(self.weight[k]),
                        "feature": name,
                        "mean": float(self.mean[k, d]),
                        "mean_lower": float(self.mean_lower[k, d]),
                        "mean_upper": float(self.mean_upper[k, d]),
                        "std": float(self.std[k, d]),
                        "std_lower": float(self.std_lower[k, d]),
                        "std_upper": float(self.std_upper[k, d]),
                    }
                )
        return out

    def __str__(self):
        pct = f"{100 * self.credible_level:g}%"
        head = (
            f"{'comp':>4} {'weight':>7} {'feature':>10} {'mean':>10} "
            f"{pct + ' interval of mean':>26} {'std':>9} {pct + ' interval of std':>24}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows():
            first = r["feature"] == self.feature_names[0]
            lines.append(
                f"{r['component'] if first else '':>4} "
                f"{format(r['weight'], '7.3f') if first else '':>7} "
                f"{r['feature']:>10} {r['mean']:10.4f} "
                f"  [{r['mean_lower']:10.4f}, {r['mean_upper']:10.4f}] "
                f"{r['std']:9.4f}   [{r['std_lower']:8.4f}, {r['std_upper']:8.4f}]"
            )
        return "\n".join(lines)
