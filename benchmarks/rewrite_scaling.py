"""How pattern rewriting scales with the graph's size.

    python benchmarks/rewrite_scaling.py [--sizes 2500,5000,10000,20000] [--runs 3]

Builds chains of blocks (identity -> transpose -> transpose back -> reshape ->
reshape back -> relu, six ops each, as tests/passmanager/test_rewrite.py does) and
applies the ``canonicalize`` patterns, which rewrite every block down to its relu
(five rewrites per block, each inserting and erasing ops next to the one it
matches). Reports the smallest CPU time of ``--runs`` runs per size, the time per
op and, when the installed qcc reports it, the driver's work (rounds, ops visited,
pattern calls). Linear scaling shows as a constant time per op; list-based op
lookup (``list.index`` on every insertion) showed as a time per op growing with
the size. It imports whichever qcc is installed, so running it with an older
checkout's environment measures that one.
"""

from __future__ import annotations

import argparse
import inspect
import time

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.ir import TensorType, f32
from qcc.passes.canonicalize import Canonicalize
from qcc.rewrite import apply_patterns
from qcc.testing.graphs import chain_of_blocks

T = TensorType((2, 3), f32)


def measure(ops: int, runs: int) -> tuple[float, dict[str, int]]:
    reports_work = "work" in inspect.signature(apply_patterns).parameters
    best, work = float("inf"), {}
    for _ in range(runs):
        g = chain_of_blocks(ops)
        work = {}
        kwargs = {"work": work} if reports_work else {}
        start = time.process_time()
        apply_patterns(g, list(Canonicalize.patterns), **kwargs)
        best = min(best, time.process_time() - start)
    return best, work


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2500,5000,10000,20000",
                    help="graph sizes in ops, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs per size (the best counts)")
    args = ap.parse_args(argv)
    print(f"{'ops':>7} {'CPU s':>8} {'us/op':>7}  work")
    for ops in (int(s) for s in args.sizes.split(",")):
        seconds, work = measure(ops, args.runs)
        print(f"{ops:>7} {seconds:>8.3f} {1e6 * seconds / ops:>7.1f}  "
              + (", ".join(f"{k} {v}" for k, v in work.items()) or "-"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
