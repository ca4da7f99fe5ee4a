"""``tpu-schedule``: barriers and weight prefetch of a planned tpu graph.

The program runs its layers one after another: a ``tpu.sync{kind="host"}`` after
the input transfers, a ``tpu.sync{kind="units"}`` before every layer (its inputs are
written) and before the output transfers, and a host sync after them. Weights do
not depend on the Unified Buffer and the weight FIFO is empty at a layer's barrier,
so a layer's first tiles (up to the FIFO depth) are read before its barrier and
overlap the previous layer: the sync's ``prefetch`` lists them and the layer's
``prefetched`` says how many of its first reads they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.lower import resolve_target
from qcc.backends.tpu_v1.partition import host_runs, transfer_role
from qcc.backends.tpu_v1.plan import layer_ops
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError
from qcc.ir.core import Graph, Module, Rewriter
from qcc.passmanager import Pass, PassContext, register_pass


def first_stream_tiles(op) -> int:
    """Weight tiles of a layer's first stream of matrix passes (its first output
    tile's)."""
    if isinstance(op, tpu.MatmulOp):
        return op.k_tiles
    if isinstance(op, tpu.Conv2dOp):
        return op.tiles[0]
    return 0


def schedule(graph: Graph, target: Target) -> None:
    if not any(isinstance(op, tpu.TpuOp) for op in graph.ops):
        raise QccError(f"graph @{graph.name} has no tpu ops to schedule: run tpu-lower and "
                       "tpu-plan-memory first")
    if any(isinstance(op, tpu.SyncOp) for op in graph.ops):
        raise QccError("the graph is already scheduled (it has tpu.sync ops)")
    rw = Rewriter(graph)
    depth = target.weights.fifo_depth
    reads = [op for op in graph.ops if isinstance(op, tpu.ReadHostOp)
             and transfer_role(op) == "input"]
    writes = [op for op in graph.ops if isinstance(op, tpu.WriteHostOp)
              and transfer_role(op) == "output"]
    _schedule_host_runs(graph, rw)
    if reads:
        rw.insert_after(reads[-1], tpu.SyncOp.build(kind="host", loc=reads[-1].loc))
    for op in layer_ops(graph):
        ahead = min(depth, first_stream_tiles(op))
        prefetch = ()
        if ahead:
            if "weight_tile" not in op.attributes:
                raise QccError(f"'{op.name}' has no weight placement (run "
                               "tpu-plan-memory first)", op.loc)
            first = op.attributes["weight_tile"]
            prefetch = tuple(range(first, first + ahead))
            rw.set_attribute(op, "prefetched", ahead)
        rw.insert_before(op, tpu.SyncOp.build(kind="units", prefetch=prefetch, loc=op.loc))
    anchor = writes[0] if writes else graph.return_op
    rw.insert_before(anchor, tpu.SyncOp.build(kind="units"))
    if writes:
        rw.insert_after(writes[-1], tpu.SyncOp.build(kind="host"))


def _schedule_host_runs(graph: Graph, rw: Rewriter) -> None:
    """Around each host segment: a units barrier before the transfers that write its
    inputs (their layers have written them), a host barrier after them (host memory
    holds them when the segment starts) and one after the transfers that read its
    outputs back (the next layer reads them)."""
    for run in host_runs(graph):
        before, op = [], graph.prev_op(run[0])
        while isinstance(op, tpu.WriteHostOp) and transfer_role(op) == "boundary":
            before.insert(0, op)
            op = graph.prev_op(op)
        after, op = [], graph.next_op(run[-1])
        while isinstance(op, tpu.ReadHostOp) and transfer_role(op) == "boundary":
            after.append(op)
            op = graph.next_op(op)
        if before:
            rw.insert_before(before[0], tpu.SyncOp.build(kind="units", loc=before[0].loc))
            rw.insert_after(before[-1], tpu.SyncOp.build(kind="host", loc=before[-1].loc))
        if after:
            rw.insert_after(after[-1], tpu.SyncOp.build(kind="host", loc=after[-1].loc))


@register_pass
@dataclass(frozen=True)
class TpuSchedulePass(Pass):
    """Insert barriers and schedule each layer's first weight reads before them."""

    name = "tpu-schedule"
    target: str = ""

    def run(self, module: Module, ctx: PassContext) -> None:
        schedule(module.main, resolve_target(self.target, ctx))
        syncs = [op for op in module.main.ops if isinstance(op, tpu.SyncOp)]
        ctx.stat("barriers", len(syncs))
        ctx.stat("prefetched-tiles", sum(len(op.prefetch) for op in syncs))
