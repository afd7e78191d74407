"""Small immutable records that cross the boundary between the estimator and the trainer.

Everything here is plain NumPy: no TensorFlow is imported, so the scikit-learn facade can build
and read these records without paying for the TensorFlow import.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
WEIGHT_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


class Config(NamedTuple):
    """The static configuration of a model: one traced TensorFlow function per value."""

    covariance_type: str
    weight_concentration_prior_type: str


class Prior(NamedTuple):
    """Resolved prior hyperparameters, in the units of the data.

    The shapes follow :class:`sklearn.mixture.BayesianGaussianMixture`: ``covariance`` is
    ``(n_features, n_features)`` for 'full' and 'tied', ``(n_features,)`` for 'diag' and a scalar
    for 'spherical'.
    """

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray


class Frame(NamedTuple):
    """Affine frame the trainer works in: ``z = (x - shift) / scale``.

    Working on centred and scaled data keeps the sufficient statistics well conditioned for data
    far from the origin or with features on very different scales. For 'spherical' covariances
    the scale is the same for every feature, so that isotropy is preserved.
    """

    shift: np.ndarray
    scale: np.ndarray


class Stats(NamedTuple):
    """Expected sufficient statistics in the trainer's frame: the SVI global state.

    ``nk`` is the (weighted) soft count per component, ``s1`` the sum of responsibility-weighted
    points, ``s2`` the second moments: ``(K, D, D)`` for 'full', ``(D, D)`` summed over
    components for 'tied', ``(K, D)`` for 'diag' and ``(K,)`` for 'spherical'. The variational
    posterior is the prior plus these statistics, so a natural-gradient step is an average of
    statistics (Hoffman et al., 2013).
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray


class Posterior(NamedTuple):
    """Variational posterior in the parameterisation of scikit-learn's fitted attributes.

    ``weight_concentration`` is ``(K,)`` for the Dirichlet distribution and ``(2, K)`` (the two
    Beta parameters of each stick) for the Dirichlet process. ``precisions_cholesky`` and
    ``covariances`` have :class:`~sklearn.mixture.BayesianGaussianMixture`'s shapes.
    """

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class Memo(NamedTuple):
    """Entropy terms of the responsibilities that a state's statistics summarise.

    What streaming merges need besides the statistics (memoized variational inference):
    ``entropy[k] = -sum_n w_n r_nk log r_nk`` over every row absorbed, and ``pair_entropy[i, j]``
    the same for ``r_ni + r_nj``, accumulated over the batches where ``(i, j)`` was a candidate
    pair: a lower bound (0 where unknown), so a merge tested with it is never over-rated.
    """

    entropy: np.ndarray  # (K,)
    pair_entropy: np.ndarray  # (K, K), symmetric


class Pending(NamedTuple):
    """Rows of a stream that no component explained, absorbed provisionally (``partial_fit``).

    Their statistics and entropy terms are in the state's, and are kept here as well, so that
    once enough such rows have arrived (a cluster that appears late, a few rows at a time) they
    can be taken back out and given to a new component.
    """

    X: np.ndarray  # (m, D) rows
    w: np.ndarray  # (m,) their weights
    stats: Stats  # what they added to the state's statistics
    memo: Memo  # what they added to the state's entropy terms


class State(NamedTuple):
    """Everything needed to continue a fit (``warm_start``, ``partial_fit``)."""

    stats: Stats
    frame: Frame
    n_steps: int
    total_samples: float
    memo: Memo | None = None
    pending: Pending | None = None


class MoveCounts(NamedTuple):
    """How many moves a fit accepted."""

    merges: int = 0
    deletes: int = 0
    trial_passes: int = 0  # full passes spent refining trial merges and splits
    births: int = 0  # components split in two (fit)


class FitResult(NamedTuple):
    """What one run of any engine returns to the estimator.

    ``state.stats`` is None when the engine's result is not described by statistics (the
    gradient engine), so that nothing can continue it by mistake.
    """

    posterior: Posterior
    state: State
    lower_bounds: np.ndarray
    n_iter: int
    converged: bool
    n_moves: MoveCounts = MoveCounts()

    @property
    def lower_bound(self) -> float:
        """The final ELBO per unit of sample weight (``-inf`` when no pass was made)."""
        return float(self.lower_bounds[-1]) if len(self.lower_bounds) else -np.inf


class Options(NamedTuple):
    """Settings of the SVI loop."""

    max_iter: int
    tol: float
    batch_size: int
    learning_offset: float
    learning_decay: float
    reg_covar: float
    verbose: int = 0
    verbose_interval: int = 10
    moves: bool = False  # merge and delete moves in full-data passes
    learning_rate: float = 0.05  # the gradient engine's Adam step
    independent_means: bool = False  # the gradient engine's non-conjugate mean prior


def float64(record):
    """The same record with every field as a float64 NumPy array (what traced code takes)."""
    return type(record)(*(np.asarray(v, dtype=np.float64) for v in record))


_FROZEN = weakref.WeakValueDictionary()  # id -> the frozen array itself, while it lives


def frozen(record):
    """The record with every field as a read-only float64 copy of its own (``float64`` frozen).

    A fit passes its frame and prior, unchanged, to every traced call; a frozen array cannot
    change, so a traced function converts it to a tensor once and reuses the tensor while the
    same array comes back (:func:`is_frozen`). A copy, so that no caller's array is frozen.
    """
    fields = []
    for value in record:
        a = np.array(value, dtype=np.float64)
        a.flags.writeable = False
        _FROZEN[id(a)] = a
        fields.append(a)
    return type(record)(*fields)


def is_frozen(value) -> bool:
    """Whether ``value`` is an array made by :func:`frozen` (read-only, owned by the trainer)."""
    return _FROZEN.get(id(value)) is value


def to_numpy(record):
    """The same record with every field (a tensor) as a NumPy array."""
    return type(record)(*(np.asarray(v) for v in record))
