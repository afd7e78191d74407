"""Fits inside ``strategy.scope()`` run data-parallel and match a single-device fit."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HELPER = Path(__file__).parent / "helpers" / "distributed_fit.py"


def _run(mode, env=None, timeout=300):
    return subprocess.Popen(
        [sys.executable, str(HELPER), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _result(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    line = [ln for ln in out.splitlines() if ln.startswith("JSON ")][-1]
    return json.loads(line[5:])


def _close(a, b, rtol):
    for key in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_allclose(np.array(a[key]), np.array(b[key]), rtol=rtol, atol=rtol)


def test_mirrored_strategy_matches_single_device():
    res = _result(_run("mirrored"))
    assert res["num_replicas"] == 2
    # full batch: float64 sums in another order; minibatches: float32 per-row arithmetic
    _close(res["replicas_4000"], res["single_4000"], rtol=1e-9)
    _close(res["replicas_1000"], res["single_1000"], rtol=1e-5)
    assert res["replicas_1000"]["n_iter"] == res["single_1000"]["n_iter"]
    _close(res["replicas_holes"], res["single_holes"], rtol=1e-9)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_workers_agree():
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = [
        _run(
            "worker",
            env={
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": i}}
                )
            },
        )
        for i in range(2)
    ]
    results = [_result(p, timeout=600) for p in procs]
    assert results[0]["num_replicas"] == 2
    for batch in (4000, 1000):
        _close(results[0][f"replicas_{batch}"], results[1][f"replicas_{batch}"], rtol=0.0)
