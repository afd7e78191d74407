"""A readable table of a fitted posterior (plain NumPy; no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PosteriorSummary:
    """Per-component posterior summary returned by :meth:`VariationalGMM.summary`.

    Every array has one row per component shown, in the estimator's component order (by
    default the effective components, those with weight >= 0.01); the per-feature arrays have
    shape (n_shown, n_features). ``print(summary)``, or typing ``summary`` in a REPL, shows a
    table; a notebook shows it as HTML; :meth:`to_frame` gives a pandas DataFrame.

    Attributes
    ----------
    credible_level : float
        The probability mass of each equal-tailed credible interval.
    weight : ndarray of shape (n_shown,)
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
    components : ndarray of shape (n_shown,)
        The index of each component shown in the estimator's arrays (``means_`` etc.).
    n_left_out : int
        How many components (with weight below 0.01) are not shown.
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
    components: np.ndarray = None
    n_left_out: int = 0

    def _components(self):
        if self.components is None:
            return np.arange(self.weight.shape[0])
        return np.asarray(self.components)

    def rows(self):
        """One dict per (component, feature) pair, ready for ``pandas.DataFrame(rows)``."""
        out = []
        for i, k in enumerate(self._components()):
            for d, name in enumerate(self.feature_names):
                out.append(
                    {
                        "component": int(k),
                        "weight": float(self.weight[i]),
                        "feature": name,
                        "mean": float(self.mean[i, d]),
                        "mean_lower": float(self.mean_lower[i, d]),
                        "mean_upper": float(self.mean_upper[i, d]),
                        "std": float(self.std[i, d]),
                        "std_lower": float(self.std_lower[i, d]),
                        "std_upper": float(self.std_upper[i, d]),
                    }
                )
        return out

    def to_frame(self):
        """The rows as a :class:`pandas.DataFrame` indexed by (component, feature)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is optional
            raise ImportError("to_frame() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.rows()).set_index(["component", "feature"])

    def _note(self):
        if not self.n_left_out:
            return ""
        return (
            f"({self.n_left_out} component{'s' if self.n_left_out > 1 else ''} with weight "
            "< 0.01 not shown; summary(all_components=True) lists them)"
        )

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
        if self.n_left_out:
            lines.append(self._note())
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        from html import escape

        pct = f"{100 * self.credible_level:g}%"
        cells = "".join(
            f"<th>{escape(h)}</th>"
            for h in [
                "component",
                "weight",
                "feature",
                "mean",
                f"{pct} interval of mean",
                "std",
                f"{pct} interval of std",
            ]
        )
        body = []
        for r in self.rows():
            body.append(
                "<tr>"
                f"<td>{r['component']}</td><td>{r['weight']:.3f}</td>"
                f"<td>{escape(str(r['feature']))}</td><td>{r['mean']:.4f}</td>"
                f"<td>[{r['mean_lower']:.4f}, {r['mean_upper']:.4f}]</td>"
                f"<td>{r['std']:.4f}</td><td>[{r['std_lower']:.4f}, {r['std_upper']:.4f}]</td>"
                "</tr>"
            )
        note = f"<p>{escape(self._note())}</p>" if self.n_left_out else ""
        return (
            f"<table class='skbgmm-summary'><thead><tr>{cells}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{note}"
        )
