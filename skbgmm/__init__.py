"""skbgmm: Bayesian Gaussian mixtures fitted by stochastic variational inference on TensorFlow.

``import skbgmm`` is cheap: scikit-learn is imported when :class:`VariationalGMM` is first
looked up, and TensorFlow only when a model is fitted or used.
"""

__version__ = "0.1.0"

__all__ = [
    "ComponentSelection",
    "ConditionalPredictive",
    "GMMImputer",
    "GMMRegressor",
    "PosteriorSummary",
    "VariationalGMM",
    "__version__",
    "load",
    "make_recipe_data",
    "save",
    "select_n_components",
]


def __getattr__(name):
    # PEP 562 lazy attributes: keep `import skbgmm` and `skbgmm --help` fast.
    if name == "VariationalGMM":
        from ._estimator import VariationalGMM

        return VariationalGMM
    if name in ("select_n_components", "ComponentSelection"):
        from . import _selection

        return getattr(_selection, name)
    if name == "make_recipe_data":
        from ._data import make_recipe_data

        return make_recipe_data
    if name in ("save", "load"):
        from . import _io

        return getattr(_io, name)
    if name in ("GMMImputer", "GMMRegressor"):
        from . import _impute

        return getattr(_impute, name)
    if name == "ConditionalPredictive":
        from ._conditional import ConditionalPredictive

        return ConditionalPredictive
    if name == "PosteriorSummary":
        from ._summary import PosteriorSummary

        return PosteriorSummary
    raise AttributeError(f"module 'skbgmm' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
