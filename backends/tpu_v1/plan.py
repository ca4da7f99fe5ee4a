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

It follows the decisions of ``tpu-tile-ub`` (tile.py): with ``batch_chunk`` the
placements are those of one batch chunk (the program runs the layers once per
chunk); a result whose op has ``spill`` lives in host memory (``host``: its byte
offset in the host scratch after the inputs and outputs, or the output's own when it
is a program output), and a layer with ``band_rows`` gets its band staging rows:
``stage`` (the first row of the input band, then of the output band, while the layer
runs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.lower import host_role, in_unified_buffer, loc_name, resolve_target
from qcc.backends.tpu_v1.memory import Buffer, MemoryPlanner, layout
from qcc.backends.tpu_v1.partition import transfer_role
from qcc.backends.tpu_v1.program import LANES
from qcc.backends.tpu_v1.tables import RECORD_BYTES
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError
from qcc.dialects import quant
from qcc.ir.core import Graph, Module, Op, Rewriter, Value
from qcc.ir.types import TensorType, UniformQuantType
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


def chunk_spans(rows: int, chunk: int) -> list[tuple[int, int]]:
    """The (first row, rows) of the ``row_chunks(rows, chunk)`` chunks of an op's
    rows, equal to within one row (2888 rows in chunks of at most 2048: two of 1444,
    not 2048 + 840): every chunk streams long enough to hide the next tile's fetch
    and shift as well as any other."""
    m = row_chunks(rows, chunk)
    if not m:
        return []
    base, extra = divmod(rows, m)
    out, q = [], 0
    for k in range(m):
        n = base + (k < extra)
        out.append((q, n))
        q += n
    return out


def accumulator_chunks(op: Op) -> int:
    """Accumulator row chunks an op uses (each takes one accumulator half)."""
    if isinstance(op, tpu.MatmulOp):
        return op.n_tiles * row_chunks(layout(op.input.type)[1], op.row_chunk)
    if isinstance(op, tpu.Conv2dOp):
        n, _, oh, ow = op.output.type.shape
        if "band_rows" in op.attributes:
            return op.n_tiles * n * sum(row_chunks(r * ow, op.row_chunk)
                                        for _, r in bands(oh, op.attributes["band_rows"]))
        return op.n_tiles * row_chunks(n * oh * ow, op.row_chunk)
    if isinstance(op, tpu.PoolOp) and op.kind == "avg":
        if "band_rows" in op.attributes:
            n, _, oh, ow = op.output.type.shape
            return layout(op.input.type)[0] * n * sum(
                row_chunks(r * ow, op.row_chunk)
                for _, r in bands(oh, op.attributes["band_rows"]))
        return layout(op.input.type)[0] * row_chunks(layout(op.output.type)[1],
                                                     op.row_chunk)
    if isinstance(op, tpu.AvgPoolValidOp):
        return layout(op.input.type)[0] * row_chunks(layout(op.output.type)[1],
                                                     op.row_chunk)
    return 0


# ---------------------------------------------------------------- UB tiling support
def bands(height: int, rows: int) -> list[tuple[int, int]]:
    """(first output row, rows) of each row band of an image ``height`` rows high."""
    return [(r0, min(rows, height - r0)) for r0 in range(0, height, rows)]


def window(op: Op) -> tuple[int, int, int]:
    """(kernel height, stride, dilation) along H of a convolution or pooling."""
    if isinstance(op, tpu.Conv2dOp):
        return op.weight.type.shape[2], op.strides[0], op.dilations[0]
    return op.kernel[0], op.strides[0], op.dilations[0]


def band_input(op: Op, r0: int, r: int) -> tuple[int, int, int]:
    """(first input row, input rows, pad_top) a band of ``r`` output rows from row
    ``r0`` reads: the window's halo, clipped to the image (the rest is padding)."""
    h = op.input.type.shape[2]
    k, s, d = window(op)
    top = op.pads[0]
    lo = max(0, r0 * s - top)
    hi = min(h, (r0 + r - 1) * s - top + (k - 1) * d + 1)
    return lo, max(hi - lo, 0), top - r0 * s + lo


def stage_rows(op: Op, rows: int, spilled_in: bool, spilled_out: bool) -> tuple[int, int]:
    """(input, output) staging rows of a band of ``rows`` output rows."""
    _, _, oh, ow = op.output.type.shape
    w = op.input.type.shape[3]
    need_in = max(band_input(op, r0, r)[1] for r0, r in bands(oh, rows)) \
        if spilled_in else 0
    return (layout(op.input.type)[0] * need_in * w if spilled_in else 0,
            layout(op.output.type)[0] * rows * ow if spilled_out else 0)


def bandable(op: Op) -> bool:
    """Ops that can run in row bands of their output (a window over NCHW rows)."""
    return isinstance(op, tpu.Conv2dOp | tpu.PoolOp)


def spilled(v: Value) -> bool:
    """Whether a tensor lives in host memory (its defining op has ``spill``)."""
    return v.op is not None and bool(v.op.attributes.get("spill", 0))


def batch_chunk(graph: Graph) -> int:
    """The batch chunk ``tpu-tile-ub`` chose (0: the whole batch at once)."""
    return max((int(op.attributes.get("batch_chunk", 0)) for op in graph.ops
                if isinstance(op, tpu.TpuOp)), default=0)


def activations(graph: Graph) -> list[Value]:
    """The Unified Buffer tensors of a tpu graph: host-transfer and layer results."""
    return [r for op in graph.ops
            if isinstance(op, (tpu.ReadHostOp, tpu.WriteHostOp, *tpu.LAYER_OPS))
            for r in op.results if in_unified_buffer(r)]


@contextmanager
def batch_view(graph: Graph, batch: int) -> Iterator[None]:
    """The graph's activations seen at batch ``batch`` (one chunk) while inside."""
    if not batch:
        yield
        return
    saved = [(v, v.type) for v in activations(graph)]
    try:
        for v, t in saved:
            v.type = TensorType((batch, *t.shape[1:]), t.element)
        yield
    finally:
        for v, t in saved:
            v.type = t


class UbFull(QccError):
    """A Unified Buffer allocation that failed: ``value`` (or the band staging of
    ``op``) needed ``rows``; ``live`` are the resident tensors at that point."""

    def __init__(self, message: str, loc, value: Value | None, op: Op | None,
                 live: list[Value]):
        super().__init__(message, loc)
        self.value, self.op, self.live = value, op, live


class _Planner(MemoryPlanner):
    def __init__(self, *args, **kwargs):
        self.at = -1
        super().__init__(*args, **kwargs)

    def live(self) -> list[Value]:
        return [v for v, k in self.last_use.items() if v in self.buffers and k >= self.at]

    def allocate(self, v: Value) -> None:
        try:
            super().allocate(v)
        except QccError as e:
            raise UbFull(e.message, e.loc, v, None,
                         [*self.live(), v]) from None


@dataclass
class UbPlan:
    buffers: dict[Value, Buffer]
    stages: dict[Op, int]  # first staging row of a banded layer
    band_rows: dict[Op, int]


def plan_ub(graph: Graph, ub_rows: int, band_rows: dict[Op, int] | None = None
            ) -> UbPlan:
    """First-fit Unified Buffer placement of the resident tensors, following the
    ``spill`` attributes; a layer reading or writing a spilled tensor runs in row bands
    whose staging is taken from the free rows while it runs (``band_rows`` fixed, or
    chosen here as the most rows that fit). Raises :class:`UbFull`."""
    reads = [op for op in graph.ops if isinstance(op, tpu.ReadHostOp)]
    writes = [op for op in graph.ops if isinstance(op, tpu.WriteHostOp)]
    ops = layer_ops(graph)
    buffers: dict[Value, Buffer] = {}

    # a host segment's boundary transfers are placed in program order: what it reads
    # back takes rows when it arrives, what it is sent frees them after the transfer
    boundary = {op for op in (*reads, *writes) if transfer_role(op) == "boundary"}
    members = set(ops)
    seq = [op for op in graph.ops if op in members or op in boundary]

    def resident(v: Value) -> bool:
        return in_unified_buffer(v) and not spilled(v) and not isinstance(v.op, tpu.WriteHostOp)

    def alias_of(op: Op) -> Value | None:
        return op.input if isinstance(op, tpu.ReshapeOp) and op.input in buffers else None

    planner = _Planner(seq, [r.output for r in reads
                             if r not in boundary and not spilled(r.output)],
                       [w.input for w in writes if w not in boundary and not spilled(w.input)],
                       ub_rows, buffers, resident, alias_of, graph.return_op.loc)
    stages: dict[Op, int] = {}
    chosen: dict[Op, int] = {}
    for k, op in enumerate(seq):
        planner.at = k
        planner.allocate_results(op)
        if op in boundary:
            planner.release_dead(op)
            continue
        s_in = any(spilled(v) for v in op.operands if in_unified_buffer(v))
        s_out = spilled(op.output) if op.results else False
        if s_in or s_out:
            if not bandable(op):
                raise QccError(f"layer '{loc_name(op)}' ({op.name}) cannot run in row "
                               "bands, so its tensors "
                               "cannot be spilled to host memory", op.loc)
            oh = op.output.type.shape[2]
            largest = max((size for _, size in planner.free), default=0)
            if band_rows is not None and op in band_rows:
                rows = band_rows[op]
            else:
                rows = oh
                while rows > 1 and sum(stage_rows(op, rows, s_in, s_out)) > largest:
                    rows = -(-rows // 2) if sum(stage_rows(op, -(-rows // 2), s_in,
                                                           s_out)) > largest else rows - 1
            need = sum(stage_rows(op, rows, s_in, s_out))
            start = next((st for st, size in planner.free if size >= need), None)
            if start is None:
                raise UbFull(
                    f"one row band of layer '{loc_name(op)}' ({rows} output rows: "
                    f"{stage_rows(op, rows, s_in, s_out)[0]} input and "
                    f"{stage_rows(op, rows, s_in, s_out)[1]} output staging rows, "
                    f"{need * LANES} bytes) does not fit the largest free range of the "
                    f"Unified Buffer, {largest} rows of {ub_rows} ({ub_rows * LANES} "
                    "bytes)", op.loc, None, op, planner.live())
            stages[op], chosen[op] = start, rows
        planner.release_dead(op)
    return UbPlan(buffers, stages, chosen)


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
    if isinstance(op, tpu.PReluOp):  # one table per 256-channel block
        return -(-op.input.type.shape[1] // LANES) if len(op.negative_multiplier) > 1 else 1
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
    host = 0
    for op in graph.ops:  # inputs the host keeps as given (token ids, masks)
        if isinstance(op, tpu.HostInputOp):
            rw.set_attribute(op, "host", host)
            e = op.output.type.element
            host += _elements(op.output.type) * \
                (1 if isinstance(e, UniformQuantType) else e.numpy_dtype.itemsize)
    for op in (*reads, *writes, *host_outputs(graph)):  # the whole batch: the program's I/O
        rw.set_attribute(op, "host", host)
        host += _elements(op.output.type)
    tiled = {op: int(op.attributes["band_rows"]) for op in ops if "band_rows" in op.attributes}
    with batch_view(graph, batch_chunk(graph)):
        plan = plan_ub(graph, target.unified_buffer.rows, tiled)
        buffers = plan.buffers
        for op in ops:  # spilled results: host scratch (one chunk), or the output's
            if op.results and spilled(op.output):
                out = next((u for u in op.output.users if isinstance(u, tpu.WriteHostOp)),
                           None)
                if out is not None:
                    rw.set_attribute(op, "host", out.attributes["host"])
                else:
                    rw.set_attribute(op, "host", host)
                    host += _elements(op.output.type)
        for op, start in plan.stages.items():
            rw.set_attribute(op, "stage", start)
        for op in reads:
            if op.output in buffers:
                rw.set_attribute(op, "ub", buffers[op.output].base)
        _place(rw, ops, buffers, target)


def _place(rw: Rewriter, ops: list[Op], buffers: dict[Value, Buffer],
           target: Target) -> None:
    half = target.accumulators.rows // 2
    chunk = slot = tile = table = 0
    n_slots = table_slots(target)
    for op in ops:
        if op.output in buffers:
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
