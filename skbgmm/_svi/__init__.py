"""The TensorFlow / TensorFlow Probability trainer of skbgmm.

This package is the only place that imports TensorFlow. Its entry points live in
:mod:`skbgmm._svi._trainer`, which imports TensorFlow when it is itself imported; the records in
:mod:`skbgmm._svi._records` are plain NumPy and cost nothing to import. The estimator talks to the
trainer through those records and NumPy arrays only.
"""
