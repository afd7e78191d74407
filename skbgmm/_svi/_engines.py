"""The table of fit engines: the estimator picks one by its ``inference`` parameter.

Every engine takes ``(source, n_samples, config, prior, options, state, rng)`` and returns a
:class:`~skbgmm._svi._records.FitResult`:

- ``'natural_gradient'``: closed-form local steps, natural-gradient minibatch epochs, then
  over-relaxed full-data coordinate ascent (:func:`skbgmm._svi._trainer.run`);
- ``'gradient'``: Adam on the minibatch ELBO over the same family
  (:func:`skbgmm._svi._gradient.run_gradient`);
- ``'initialise_only'``: the posterior of the initial state (``max_iter=0``).

Streaming updates (``partial_fit``) are :func:`skbgmm._svi._trainer.partial`.
"""

from __future__ import annotations

from ._gradient import run_gradient
from ._trainer import initialise_only, run

ENGINES = {
    "natural_gradient": run,
    "gradient": run_gradient,
    "initialise_only": initialise_only,
}
