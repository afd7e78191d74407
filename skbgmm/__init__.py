"""skbgmm: Bayesian Gaussian mixtures fitted by stochastic variational inference on TensorFlow.

``import skbgmm`` is cheap: TensorFlow is imported the first time a model is fitted or used.
"""

from ._estimator import VariationalGMM

__version__ = "0.1.0"

__all__ = ["VariationalGMM", "__version__"]
