"""``dce``: dead-code elimination.

Erases every side-effect-free op none of whose results is used; chains of dead
ops go in one backward sweep.

    %a = "nn.relu"(%x) ...      // unused: erased
    return %x : ...
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.ir.core import Graph, Module, Rewriter
from qcc.passmanager import Pass, PassContext, register_pass


def eliminate_dead_ops(graph: Graph, rw: Rewriter | None = None) -> int:
    """Erase the dead side-effect-free ops of ``graph`` (through ``rw`` when given);
    returns how many."""
    rw = rw or Rewriter(graph)
    before = rw.erased
    for op in reversed(graph.ops):
        if op.graph is graph and op.pure and not any(r.uses for r in op.results):
            rw.erase(op)  # and, at once, the producers only it used
    return rw.erased - before


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(Pass):
    """Erase ops whose results are unused."""

    name = "dce"

    def run(self, module: Module, ctx: PassContext) -> None:
        for g in module.graphs.values():
            ctx.stat("ops-erased", eliminate_dead_ops(g))
