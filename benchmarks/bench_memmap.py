"""Bounded memory on data that never sits in memory: fit a 10,000,000 x 10 float32 memmap.

    python benchmarks/bench_memmap.py [--rows 10000000] [--dir /tmp]

The script writes the memmap (about 400 MB; ten overlapping clusters) in chunks, measures the
process's memory after importing TensorFlow and tracing (the footprint that any fit pays), fits
VariationalGMM on the memmap, reports the peak memory during the fit next to the data size, and
removes the file. The fit reads the data in chunks (moments, full passes) and by sorted random row
indices (minibatches).

Two figures are reported. RSS counts the pages of the mapped file that the process has touched:
they are the kernel's page cache, clean and reclaimable, and reach the file's size after one
pass, whatever the fitter does. Anonymous RSS (``RssAnon``) is the memory the process itself
holds, sampled every 10 ms during the fit: that is the figure that must stay bounded.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def rss(key="VmRSS"):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


class AnonPeak:
    """Sample RssAnon in a background thread and keep the maximum."""

    def __init__(self):
        import threading

        self.peak = rss("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss("RssAnon"))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss("RssAnon"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    n, d, k = args.rows, 10, 10
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from skbgmm import VariationalGMM

    rng = np.random.RandomState(0)
    centres = rng.uniform(-10, 10, size=(k, d))
    fd, path = tempfile.mkstemp(suffix=".f32", dir=args.dir)
    os.close(fd)
    try:
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, d))
        for s in range(0, n, 1_000_000):
            m = min(1_000_000, n - s)
            mm[s : s + m] = centres[rng.randint(k, size=m)] + 2.0 * rng.randn(m, d)
        mm.flush()
        del mm
        data_mb = n * d * 4 / 2**20
        X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))

        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warm-up fit is cut short on purpose
            warm = VariationalGMM(n_components=k, batch_size=200, max_iter=3, random_state=0)
            warm.fit(np.asarray(X[:2000]))
        base, base_anon = rss(), rss("RssAnon")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS counter
        with AnonPeak() as anon:
            t0 = time.perf_counter()
            gmm = VariationalGMM(n_components=k, random_state=0).fit(X)
            seconds = time.perf_counter() - t0
        peak = rss("VmHWM")
        mb = 2**20
        print(f"rows {n:,} x {d} float32 memmap: {data_mb:.0f} MB on disk")
        print(
            f"before the fit (Python + TensorFlow, traced): RSS {base / mb:.0f} MB, "
            f"anonymous {base_anon / mb:.0f} MB"
        )
        print(
            f"peak anonymous RSS during the fit: {anon.peak / mb:.0f} MB: the fit added "
            f"{(anon.peak - base_anon) / mb:.0f} MB, {100 * (anon.peak - base_anon) / mb / data_mb:.0f}% "
            "of the data size"
        )
        print(f"peak RSS including the file's mapped pages: {peak / mb:.0f} MB")
        print(
            f"fit time {seconds:.1f} s, {gmm.n_iter_} passes, converged={gmm.converged_}, "
            f"batch {gmm._batch_size(n, d)} rows"
        )
        found = np.sort(np.linalg.norm(gmm.means_[:, None] - centres[None], axis=-1).min(0))
        print(f"distance of each true centre to the nearest fitted mean: max {found.max():.3f}")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
