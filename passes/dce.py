"""``dce``: dead-code elimination.

Erases every side-effect-free op none of whose results is used; chains of dead
ops go in one backward sweep.

    %a = "nn.relu"(%x) ...      // unused: erased
    return %x : ...
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.ir.core import Graph, Module
from qcc.passmanager import Pass, PassContext, register_pass


def eliminate_dead_ops(graph: Graph) -> int:
    erased = 0
    for op in reversed(list(graph.ops)):
        if op.pure and not any(r.uses for r in op.results):
            graph.erase(op)
            erased += 1
    return erased


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(Pass):
    """Erase ops whose results are unused."""

    name = "dce"

    def run(self, module: Module, ctx: PassContext) -> None:
        for g in module.graphs.values():
            ctx.stat("ops-erased", eliminate_dead_ops(g))
