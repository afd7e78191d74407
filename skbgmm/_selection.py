"""Choosing ``n_components`` from the evidence lower bound, without cross-validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone


@dataclass(frozen=True)
class ComponentSelection:
    """Result of :func:`select_n_components`.

    Attributes
    ----------
    n_components : int
        The chosen number of components.
    candidates : ndarray of shape (n_candidates,)
        The candidate numbers of components, in the order given.
    log_evidence : ndarray of shape (n_candidates,)
        The ELBO of each candidate's fit, in nats (``lower_bound_`` times the total sample
        weight), a lower bound on the log marginal likelihood of the data.
    estimator : VariationalGMM
        The fitted estimator of the chosen candidate.
    """

    n_components: int
    candidates: np.ndarray
    log_evidence: np.ndarray
    estimator: object


def select_n_components(estimator, X, candidates, *, tolerance=1.0, sample_weight=None):
    """Choose ``n_components`` by the evidence lower bound.

    Each candidate is fitted once on all of X; the ELBO (in nats, for the whole data set) bounds
    the log evidence ``log p(X | n_components)`` from below. The choice is the smallest candidate
    whose ELBO is within ``tolerance`` nats of the best one: with the Dirichlet-process prior,
    surplus components are switched off and the ELBO levels out beyond the true count, so the
    smallest model on that plateau is the one the data support. Every candidate is fitted with
    the same prior: when ``weight_concentration_prior`` is None it is set to
    ``1 / max(candidates)`` for all of them (the default ``1 / n_components`` would change the
    prior with the candidate). One nat is a Bayes factor of
    about 2.7, "not worth more than a bare mention" on Jeffreys' scale.

    Parameters
    ----------
    estimator : VariationalGMM
        The model to fit; it is cloned for each candidate.
    X : array-like of shape (n_samples, n_features)
        Training data.
    candidates : iterable of int
        The numbers of components to try.
    tolerance : float, default=1.0
        Nats within which a smaller model is preferred to the best one.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights passed to ``fit``.

    Returns
    -------
    selection : ComponentSelection
        The chosen number, every candidate's ELBO, and the chosen fitted estimator.
    """
    candidates = np.asarray(list(candidates), dtype=int)
    if candidates.size == 0:
        raise ValueError("candidates must name at least one number of components.")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative number of nats, got {tolerance!r}.")
    # one prior for every candidate: the default weight concentration 1 / n_components would
    # give each candidate its own prior, and their evidence would differ by about a nat even
    # when they find the same components
    common = {}
    if estimator.get_params().get("weight_concentration_prior") is None:
        common["weight_concentration_prior"] = 1.0 / int(candidates.max())
    fits = []
    for k in candidates:
        est = clone(estimator).set_params(n_components=int(k), **common)
        est.fit(X, sample_weight=sample_weight)
        fits.append(est)
    total = float(fits[0].n_samples_seen_)  # the total sample weight
    evidence = np.array([est.lower_bound_ * total for est in fits])
    best = evidence.max()
    ok = np.flatnonzero(evidence >= best - tolerance)
    choice = ok[np.argmin(candidates[ok])]
    return ComponentSelection(
        n_components=int(candidates[choice]),
        candidates=candidates,
        log_evidence=evidence,
        estimator=fits[choice],
    )
