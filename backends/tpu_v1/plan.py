"""``tpu-plan-memory``: where everything of a lowered graph lives, as attributes.

- ``ub``: the first Unified Buffer row of every op's result (first fit over liveness
  intervals, memory.py: inputs first, outputs live to the end, a layer's result is
  placed before its dead inputs are released, ``tpu.reshape`` shares its operand's
  rows);
- ``acc``: the accumulator base of every row chunk of an accumulating op, the two
  halves alternating over the whole program (double buffering);
- ``weight_tile``: the first 256x256 tile of an op in the weight image (tiles in
  program order; the activation-table records follow all tiles);
- ``tables`` / ``slots``: the op's table records (their index in the weight image's
  table area) and the table slot each is loaded into (round robin over the
  target's slots);
- ``host``: the byte offset of a ``tpu.read_host`` / ``tpu.write_host`` in the host
  buffer space (inputs, then outputs, in order).

A tensor that does not fit is a compile error naming it and the sizes; so is a
weight image larger than the target's weight memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.lower import host_role, resolve_target, ub_resident
from qcc.backends.tpu_v1.memory import Buffer, MemoryPlanner, layout
from qcc.backends.tpu_v1.program import LANES
from qcc.backends.tpu_v1.tables import RECORD_BYTES
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError
from qcc.dialects import quant
from qcc.ir.core import Graph, Module, Op, Rewriter, Value
from qcc.passmanager import Pass, PassContext, register_pass

TILE = LANES * LANES


def table_slots(target: Target) -> int:
    """Activation-table slots of the target (``activation.table_slots``)."""
    return target.activation.table_slots


def buffer_of(v: Value) -> Buffer:
    """The Unified Buffer placement of a planned value (its defining op's ``ub``)."""
    op = v.op
    base = op.attributes.get("ub") if op is not None else None
    if base is None:
        raise QccError(f"%{v.name_hint} has no Unified Buffer placement (run "
                       "tpu-plan-memory)", op.loc if op is not None else None)
    blocks, pixels, lanes = layout(v.type)
    return Buffer(int(base), blocks, pixels, lanes)


def layer_ops(graph: Graph) -> list[Op]:
    return [op for op in graph.ops if isinstance(op, tpu.LAYER_OPS)]


def row_chunks(rows: int, chunk: int) -> int:
    return -(-rows // chunk)


def accumulator_chunks(op: Op) -> int:
    """Accumulator row chunks an op uses (each takes one accumulator half)."""
    if isinstance(op, tpu.MatmulOp):
        return op.n_tiles * row_chunks(layout(op.input.type)[1], op.row_chunk)
    if isinstance(op, tpu.Conv2dOp):
        n, _, oh, ow = op.output.type.shape
        return op.n_tiles * row_chunks(n * oh * ow, op.row_chunk)
    if isinstance(op, tpu.PoolOp) and op.kind == "avg":
        return layout(op.input.type)[0] * row_chunks(layout(op.output.type)[1],
                                                     op.row_chunk)
    if isinstance(op, tpu.AvgPoolValidOp):
        return layout(op.input.type)[0] * row_chunks(layout(op.output.type)[1],
                                                     op.row_chunk)
    return 0


def table_count(op: Op) -> int:
    """Activation/add table records an op loads."""
    if isinstance(op, tpu.MatmulOp | tpu.Conv2dOp):
        return op.n_tiles
    if isinstance(op, tpu.PoolOp):
        return int(op.kind == "avg")
    if isinstance(op, tpu.AvgPoolValidOp):
        return len(op.counts)
    if isinstance(op, tpu.AddOp | tpu.ActivateOp | tpu.LookupOp | tpu.ConcatOp):
        return 1
    return 0


def tile_count(op: Op) -> int:
    """Weight tiles of an op in the weight image."""
    if isinstance(op, tpu.MatmulOp):
        return op.n_tiles * op.k_tiles
    if isinstance(op, tpu.Conv2dOp):
        return sum(op.tiles)
    return 0


def host_outputs(graph: Graph) -> list[Op]:
    """The output dequantize ops of model outputs a host segment writes (no
    ``tpu.write_host``): their ``host`` placement is the output's buffer."""
    return [op for op in graph.ops if isinstance(op, quant.DequantizeOp) and
            host_role(op) == "dequantizes the output" and
            not isinstance(op.input.op, tpu.WriteHostOp)]


def plan_memory(graph: Graph, target: Target) -> None:
    if not any(isinstance(op, tpu.TpuOp) for op in graph.ops):
        raise QccError(f"graph @{graph.name} has no tpu ops to place: run tpu-lower first")
    rw = Rewriter(graph)
    reads = [op for op in graph.ops if isinstance(op, tpu.ReadHostOp)]
    writes = [op for op in graph.ops if isinstance(op, tpu.WriteHostOp)]
    ops = layer_ops(graph)
    buffers: dict[Value, Buffer] = {}

    def alias_of(op: Op) -> Value | None:
        return op.input if isinstance(op, tpu.ReshapeOp) and op.input in buffers else None

    planner = MemoryPlanner(ops, [r.output for r in reads], [w.input for w in writes],
                            target.unified_buffer.rows, buffers, ub_resident, alias_of,
                            graph.return_op.loc)
    for op in ops:
        planner.allocate_results(op)
        planner.release_dead(op)
    host = 0
    for op in (*reads, *writes, *host_outputs(graph)):
        rw.set_attribute(op, "host", host)
        host += _elements(op.output.type)
    for op in reads:
        rw.set_attribute(op, "ub", buffers[op.output].base)
    half = target.accumulators.rows // 2
    chunk = slot = tile = table = 0
    n_slots = table_slots(target)
    for op in ops:
        rw.set_attribute(op, "ub", buffers[op.output].base)
        n_acc = accumulator_chunks(op)
        if n_acc:
            rw.set_attribute(op, "acc", tuple(((chunk + k) % 2) * half for k in range(n_acc)))
            chunk += n_acc
        n_tiles = tile_count(op)
        if n_tiles:
            rw.set_attribute(op, "weight_tile", tile)
            tile += n_tiles
        n_tables = table_count(op)
        if n_tables:
            rw.set_attribute(op, "tables", tuple(range(table, table + n_tables)))
            rw.set_attribute(op, "slots", tuple((slot + k) % n_slots for k in range(n_tables)))
            table += n_tables
            slot = (slot + n_tables) % n_slots
    image = tile * TILE + table * RECORD_BYTES
    capacity = target.weight_memory.capacity_bytes
    if image > capacity:
        raise QccError(f"the weight image ({tile} tiles of {TILE} bytes and {table} "
                       f"tables: {image} bytes) does not fit the {capacity}-byte weight "
                       f"memory of target '{target.name}'")


def _elements(t) -> int:
    import math

    return math.prod(t.shape)


@register_pass
@dataclass(frozen=True)
class TpuPlanMemoryPass(Pass):
    """Place tensors in the Unified Buffer, accumulators, weight image and tables."""

    name = "tpu-plan-memory"
    target: str = ""

    def run(self, module: Module, ctx: PassContext) -> None:
        plan_memory(module.main, resolve_target(self.target, ctx))
        ops = module.main.ops
        ctx.stat("ub-placements", sum(1 for op in ops if "ub" in op.attributes))
        ctx.stat("weight-tiles", sum(tile_count(op) for op in ops
                                     if isinstance(op, tpu.TpuOp)))
        ctx.stat("table-records", sum(table_count(op) for op in ops
                                      if isinstance(op, tpu.TpuOp)))
