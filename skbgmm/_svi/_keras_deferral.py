"""Keras's eager import, deferred in skbgmm's own command-line process (imports no TensorFlow).

``import tensorflow`` (2.16 and later) ends by importing ``keras.src.optimizers``, so that Keras
registers its optimizers for SavedModel loading at TensorFlow's load time; with scikit-learn
already imported that is 0.8-1.0 s of TensorFlow's ~3 s import on this project's machines.
skbgmm needs no Keras, and the command line (``skbgmm predict`` on 150 rows takes ~5 s, most
of it imports) runs nothing but skbgmm, so :func:`defer` makes the one import of TensorFlow that
skbgmm performs in that process skip Keras: during ``import tensorflow`` a finder hands out
Keras's own spec (its location is read by TensorFlow's lazy ``tf.keras`` loader) with a loader
that refuses to run, so TensorFlow's guarded eager import fails before any Keras module is
executed. Afterwards the finder is gone and ``tf.keras`` or ``import keras`` imports Keras as
usual (TensorFlow Probability does, when it is first used).

A user's own process is never changed: only :func:`skbgmm.__main__.main` calls :func:`defer`,
and a TensorFlow already imported is left as it is.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import sys

_DEFERRED = False


def defer() -> None:
    """Make skbgmm's import of TensorFlow in this process skip Keras's eager import."""
    global _DEFERRED
    _DEFERRED = True


class _Refused:
    """A loader that declines to create its module (an ImportError TensorFlow catches)."""

    def create_module(self, spec):
        raise ImportError("Keras's import is deferred while skbgmm imports TensorFlow")

    def exec_module(self, module):  # pragma: no cover (create_module raises first)
        raise ImportError("Keras's import is deferred while skbgmm imports TensorFlow")


class _KerasFinder:
    """Finds ``keras`` where the path finders would, with a loader that refuses to run."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _Refused()
        return spec


@contextlib.contextmanager
def while_importing_tensorflow():
    """Around ``import tensorflow``: Keras deferred if :func:`defer` was called and it is new."""
    if not _DEFERRED or "tensorflow" in sys.modules or "keras" in sys.modules:
        yield
        return
    finder = _KerasFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
