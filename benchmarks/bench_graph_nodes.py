"""Graph nodes (and constants) of each traced function, per covariance type.

Run: ``python benchmarks/bench_graph_nodes.py [full,tied,diag,spherical]``. A traced function's
trace and its first call cost about the same per node, so the counts track a first fit's
tracing cost without a fresh process's noise. Nodes of cond branches are included.
"""

from __future__ import annotations

import sys
import time


def main():
    from skbgmm._svi._functions import functions
    from skbgmm._svi._records import Config

    names = ["step", "memo_elbo", "mean_distances", "posterior", "batch_stats", "log_resp"]
    names += ["log_density", "distances", "step_missing"]
    covs = sys.argv[1].split(",") if len(sys.argv) > 1 else ["full", "tied", "diag", "spherical"]
    for cov in covs:
        fns = functions(Config(cov, "dirichlet_process"))
        cells, total = [], 0
        for name in names:
            t = time.perf_counter()
            graph_def = getattr(fns, name).get_concrete_function().graph.as_graph_def()
            elapsed = time.perf_counter() - t
            nodes = list(graph_def.node) + [
                n for f in graph_def.library.function for n in f.node_def
            ]
            consts = sum(n.op == "Const" for n in nodes)
            cells.append(f"{name}={len(nodes)}/{consts} ({elapsed:.2f} s)")
            total += len(nodes)
        print(f"{cov}: nodes/constants (trace time): " + ", ".join(cells) + f"; total {total}")


if __name__ == "__main__":
    main()
