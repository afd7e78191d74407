"""TensorFlow and TensorFlow Probability, imported quietly: the one place the trainer gets them.

TensorFlow Probability is imported on first use (``tfp``, ``tfd`` and ``tfb`` are stand-ins that
import it when an attribute is first read): a fit and its predictions need only TensorFlow, and
TFP's import costs 0.7 s and 100,000 more Python objects (a longer garbage collection in every
later full collection of the process). The posterior as TFP distributions, sampling and the
gradient engine's bijectors import it.

TensorFlow 2.21 writes several start-up lines on the process's standard error (the oneDNN notice,
"Could not find cuda drivers", ``E0000 ... failed call to cuInit``, the CPU-instructions notice)
before absl's logging is initialised, so no log-level variable silences them, and a
scikit-learn user reads ``E0000`` as an error. The import, and the first operation that starts
the runtime, run with file descriptor 2 redirected to a temporary file; what was written there is
replayed when the import fails, or when the user asked for TensorFlow's logs by setting
``TF_CPP_MIN_LOG_LEVEL`` to 0 or 1 (or ``SKBGMM_TF_LOGS=1``). Nothing else of the user's TensorFlow
configuration is touched.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile

from ._keras_deferral import while_importing_tensorflow


def _wants_logs() -> bool:
    if os.environ.get("SKBGMM_TF_LOGS", "") not in ("", "0"):
        return True
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() in ("0", "1")


def _import_tensorflow():
    with while_importing_tensorflow():  # (Keras deferred in skbgmm's command-line process)
        import tensorflow
    return tensorflow


def _quiet_import():
    if "tensorflow" in sys.modules and "tensorflow_probability" in sys.modules:
        import tensorflow

        return tensorflow
    if _wants_logs():
        return _import_tensorflow()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (embedded interpreters)
        return _import_tensorflow()
    captured = tempfile.TemporaryFile()
    failed = False
    try:
        os.dup2(captured.fileno(), 2)
        try:
            tensorflow = _import_tensorflow()
            tensorflow.constant(0.0) + 1.0  # starts the runtime (device discovery logs here)
            # the first integer transpose prints oneDNN's "supports DT_INT32 only on AVX-512"
            # notice (TFP's Categorical draws run one): run it here, while it is captured
            tensorflow.transpose(tensorflow.zeros([1, 1], tensorflow.int32))
        except BaseException:
            failed = True
            raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if failed:
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            sys.stderr.flush()
        captured.close()
    return tensorflow


class _OnFirstUse:
    """A module (or a module's attribute) imported when one of its attributes is first read.

    (TFP writes nothing on descriptor 2 once TensorFlow is imported, so it needs no capture.)
    """

    def __init__(self, load):
        self._load = load
        self._target = None

    def __getattr__(self, name):
        target = self._target
        if target is None:
            target = self._target = self._load()
        return getattr(target, name)


def _tensorflow_probability():
    import tensorflow_probability

    return tensorflow_probability


def made_once(make):
    """A function that returns ``make()``, made on its first call and kept.

    Made outside any graph being traced (``tf.init_scope``), so that what it holds (a TFP
    bijector's constants) is eager whichever traced function first asks for it.
    """

    @functools.cache
    def made():
        with tf.init_scope():
            return make()

    return made


def dim(x, axis):
    """``tf.shape(x)[axis]`` (``x`` of known rank) as two graph nodes, Shape and Unpack.

    Tracing a traced function costs about the same for each node it builds, and its first call
    instantiates each one: an index into a shape is five nodes (Shape, StridedSlice and its
    three constant bounds) and its trace takes three times as long. The same holds for a slice
    that only adds an axis (``x[:, None]``, four nodes): the traced code writes
    ``tf.expand_dims(x, 1)`` (two), or nothing where broadcasting adds the axis anyway.
    """
    return tf.unstack(tf.shape(x), num=x.shape.rank)[axis]


tf = _quiet_import()
tfp = _OnFirstUse(_tensorflow_probability)
tfd = _OnFirstUse(lambda: tfp.distributions)
tfb = _OnFirstUse(lambda: tfp.bijectors)
