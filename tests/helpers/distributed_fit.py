"""Run one fit under a tf.distribute strategy and print a JSON summary (used by the tests).

python distributed_fit.py mirrored         # MirroredStrategy over two logical CPUs vs one device
python distributed_fit.py worker           # one worker of MultiWorkerMirroredStrategy (TF_CONFIG)
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

mode = sys.argv[1]
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from sklearn.datasets import make_blobs  # noqa: E402

from skbgmm import VariationalGMM  # noqa: E402

X, _ = make_blobs(n_samples=4000, centers=3, n_features=3, cluster_std=1.5, random_state=0)
ATTRS = ["weights_", "means_", "covariances_", "lower_bounds_"]


def summary(gmm):
    return {a: np.asarray(getattr(gmm, a)).tolist() for a in ATTRS} | {"n_iter": gmm.n_iter_}


out = {}
for batch in (4000, 1000):  # full-batch (float64) and minibatch (float32 steps) fits
    kw = dict(n_components=3, random_state=0, batch_size=batch)
    if mode == "mirrored":
        out[f"single_{batch}"] = summary(VariationalGMM(**kw).fit(X))
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        out[f"replicas_{batch}"] = summary(VariationalGMM(**kw).fit(X))
    out["num_replicas"] = strategy.num_replicas_in_sync
if mode == "mirrored":
    # rows with missing entries: complete rows shared out, the others on the client
    holes = X.copy()
    holes[np.random.RandomState(0).uniform(size=X.shape) < 0.15] = np.nan
    holes[np.isnan(holes).all(axis=1), 0] = 0.0
    kw = dict(n_components=3, random_state=0)
    out["single_holes"] = summary(VariationalGMM(**kw).fit(holes))
    with strategy.scope():
        out["replicas_holes"] = summary(VariationalGMM(**kw).fit(holes))
print("JSON " + json.dumps(out))
