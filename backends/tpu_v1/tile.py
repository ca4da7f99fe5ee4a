"""``tpu-tile-ub``: activations larger than the Unified Buffer.

Between ``tpu-lower`` and ``tpu-plan-memory``. A graph whose tensors fit the Unified
Buffer (first fit over liveness, as plan.py places them) is left alone. Otherwise
the pass builds the plans that fit and keeps the one whose extra traffic takes the
least time (:func:`_cost`: weight bytes read again at the weight memory's bandwidth,
PCIe bytes beyond the program's I/O at the host link's):

1. **Batch chunks.** The largest chunk of images at which the layers fit as they
   are: the program runs them once per chunk of ``batch_chunk`` images (the last
   may be smaller), reusing the same rows; every layer and host transfer gets
   ``batch_chunk``. The cost is weight traffic: each chunk reads the weights again.
   A graph that mixes images (a concat along the batch) is not chunked.
2. **Spill and row bands**, at the whole batch (or, when no chunk fits as it is, at
   one image per chunk too): tensors are spilled to host memory until the rest
   fits. The producer of a spilled tensor gets ``spill = 1``, and the convolutions
   and poolings that write or read it get ``band_rows``: they run over bands of that
   many output rows per image, each band reading the input rows its windows need
   (the halo of a k x k / strided window) over PCIe and writing its output rows
   back. At each point where the Unified Buffer overflows, the tensor spilled is the
   live one with the fewest added PCIe bytes per row it frees (a model input costs
   nothing to spill: it is in host memory already; a tensor costs its write and one
   read per consumer); ``band_rows`` is the most rows whose staging fits the free
   rows while the layer runs. The cost is the PCIe bytes and the weights read again
   per band.

ResNet-50 at 224 with batch 8 on tpu-v1: chunks of one image would read the
weights 8 times (8.2 ms simulated); spilling the input and the first convolution's
result instead (12.8 MB over PCIe, the rest resident at batch 8) takes 3.7 ms.

Capacity errors remain where nothing fits: a single row band of a layer (naming
the layer, its staging rows and the largest free range), or a tensor no spill can
help (its producer or a reader cannot run in bands).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.lower import in_unified_buffer, resolve_target
from qcc.backends.tpu_v1.partition import is_host_op
from qcc.backends.tpu_v1.plan import (
    UbFull,
    band_input,
    bandable,
    batch_view,
    layer_ops,
    plan_ub,
)
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError
from qcc.ir.core import Graph, Module, Op, Rewriter, Value
from qcc.passmanager import Pass, PassContext, register_pass

TILING_ATTRIBUTES = ("batch_chunk", "spill", "band_rows")


def _bytes(v: Value) -> int:
    return math.prod(v.type.shape)


def spillable(v: Value) -> bool:
    """A 4-D tensor written by a host read, a convolution or a pooling and read only
    by convolutions, poolings and host writes can live in host memory."""
    if v.type.rank != 4 or v.op is None:
        return False
    if not (isinstance(v.op, tpu.ReadHostOp) or bandable(v.op)):
        return False
    return all(bandable(u) or isinstance(u, tpu.WriteHostOp) for u in v.users)


def spill_cost(v: Value) -> int:
    """PCIe bytes spilling ``v`` adds: its write (none for a model input, already in
    host memory; none for a program output, written anyway) and one read per layer
    that reads it (halos come on top, charged by the instructions)."""
    written = isinstance(v.op, tpu.ReadHostOp) or \
        any(isinstance(u, tpu.WriteHostOp) for u in v.users)
    readers = sum(1 for u in v.users if not isinstance(u, tpu.WriteHostOp))
    return (0 if written else _bytes(v)) + readers * _bytes(v)


def _chunkable(graph: Graph, batch: int) -> bool:
    if batch <= 1:
        return False
    if any(is_host_op(op) for op in graph.ops):
        return False  # a host segment runs at the whole batch (partition.py)
    for op in graph.ops:
        if isinstance(op, tpu.ConcatOp) and op.axis == 0:
            return False
        if isinstance(op, (tpu.ReadHostOp, tpu.WriteHostOp, *tpu.LAYER_OPS)) and \
                any(in_unified_buffer(r) and r.type.shape[0] != batch for r in op.results):
            return False
    return True


def _fits(graph: Graph, ub_rows: int) -> bool:
    try:
        plan_ub(graph, ub_rows)
    except UbFull:
        return False
    return True


@dataclass
class TilePlan:
    batch_chunk: int  # 0: the whole batch
    spilled: list[Value]
    band_rows: dict[Op, int]


def decide(graph: Graph, target: Target) -> TilePlan:
    """How the graph's activations fit the Unified Buffer (see the module doc): of
    the plans that fit, the one whose extra traffic takes the least time."""
    if any(a in op.attributes for op in graph.ops for a in TILING_ATTRIBUTES):
        raise QccError("the graph is already tiled (it has batch_chunk/spill/band_rows "
                       "attributes)")
    ub = target.unified_buffer.rows
    try:
        plan_ub(graph, ub)
        return TilePlan(0, [], {})
    except UbFull as e:
        first = e
    reads = [op for op in graph.ops if isinstance(op, tpu.ReadHostOp)]
    batch = reads[0].output.type.shape[0] if reads and reads[0].output.type.rank else 0
    options: list[tuple[float, TilePlan]] = []
    failure = None
    chunkable = _chunkable(graph, batch)
    if chunkable:  # the largest chunk that fits as it is
        for b in range(batch - 1, 0, -1):
            with batch_view(graph, b):
                if _fits(graph, ub):
                    options.append((_cost(graph, target, TilePlan(b, [], {}), batch),
                                    TilePlan(b, [], {})))
                    break
    for chunk in ([0, 1] if chunkable and not options else [0]):
        try:
            plan = _spill_plan(graph, ub, chunk)
        except UbFull as e:
            failure = e
            continue
        options.append((_cost(graph, target, plan, batch), plan))
    if not options:
        raise _nothing_fits(first, failure or first)
    return min(options, key=lambda o: o[0])[1]


def _spill_plan(graph: Graph, ub: int, chunk: int) -> TilePlan:
    """Spill tensors (at batch ``chunk``, 0: the whole batch) until the rest fits:
    at each overflow the live tensor with the fewest added PCIe bytes per row freed.
    Raises the last :class:`UbFull` when no spill helps; leaves no attribute."""
    spilled: list[Value] = []
    try:
        with batch_view(graph, chunk):
            while True:
                try:
                    plan = plan_ub(graph, ub)
                    return TilePlan(chunk, list(spilled), plan.band_rows)
                except UbFull as e:
                    failure = e
                candidates = [v for v in dict.fromkeys(failure.live)
                              if v not in spilled and spillable(v)]
                if not candidates:
                    raise failure
                best = min(candidates, key=lambda v: (spill_cost(v) / _rows(v), -_rows(v)))
                spilled.append(best)
                best.op.attributes["spill"] = 1  # what plan_ub reads
    finally:
        _undo(spilled)


def _cost(graph: Graph, target: Target, plan: TilePlan, batch: int) -> float:
    """Seconds of traffic a plan adds: weights read again (per chunk beyond the
    first, per band beyond one per layer) at the weight memory's bandwidth, PCIe
    bytes beyond the program's I/O at the host link's."""
    from qcc.backends.tpu_v1.plan import RECORD_BYTES, TILE, bands, table_count, tile_count

    def weight_bytes(op: Op) -> int:
        return tile_count(op) * TILE + table_count(op) * RECORD_BYTES

    chunks = -(-batch // plan.batch_chunk) if plan.batch_chunk else 1
    dram = (chunks - 1) * sum(weight_bytes(op) for op in layer_ops(graph))
    pcie = 0
    spilled = set(plan.spilled)
    with batch_view(graph, plan.batch_chunk):
        for op, rows in plan.band_rows.items():
            n, _, oh, _ = op.output.type.shape
            dram += chunks * (n * len(bands(oh, rows)) - 1) * weight_bytes(op)
            if op.input in spilled:  # each band reads its rows, halos included
                _, c, _, w = op.input.type.shape
                read = n * c * w * sum(band_input(op, r0, r)[1] for r0, r in bands(oh, rows))
                pcie += chunks * read
        for v in spilled:
            io_in = isinstance(v.op, tpu.ReadHostOp)
            io_out = any(isinstance(u, tpu.WriteHostOp) for u in v.users)
            pcie += chunks * ((0 if io_out or io_in else _bytes(v)) - (_bytes(v) if io_in
                                                                      else 0))
    return dram / target.weight_memory.bandwidth_bytes_per_s + \
        pcie / target.host_link.bandwidth_bytes_per_s


def _rows(v: Value) -> int:
    from qcc.backends.tpu_v1.memory import layout

    blocks, pixels, _ = layout(v.type)
    return blocks * pixels


def _undo(spilled: list[Value]) -> None:
    for v in spilled:
        v.op.attributes.pop("spill", None)


def _nothing_fits(first: UbFull, last: UbFull) -> QccError:
    if last is first:
        return QccError(first.message, first.loc)
    return QccError(f"{last.message}, so nothing fits: not the whole graph ({first.message}), "
                    "not batch chunks, not tensors spilled to host memory in row bands",
                    last.loc)


def tile_ub(graph: Graph, target: Target) -> TilePlan:
    if not any(isinstance(op, tpu.TpuOp) for op in graph.ops):
        raise QccError(f"graph @{graph.name} has no tpu ops to tile: run tpu-lower first")
    plan = decide(graph, target)
    rw = Rewriter(graph)
    if plan.batch_chunk:
        for op in graph.ops:
            if isinstance(op, (tpu.ReadHostOp, tpu.WriteHostOp, *tpu.LAYER_OPS)):
                rw.set_attribute(op, "batch_chunk", plan.batch_chunk)
    for v in plan.spilled:
        rw.set_attribute(v.op, "spill", 1)
    for op, rows in plan.band_rows.items():
        rw.set_attribute(op, "band_rows", rows)
    return plan


@register_pass
@dataclass(frozen=True)
class TpuTileUbPass(Pass):
    """Split activations larger than the Unified Buffer into batch chunks or row
    bands with tensors spilled to host memory."""

    name = "tpu-tile-ub"
    target: str = ""
    #: experiments and tests: a Unified Buffer of this many rows instead of the
    #: target's (the later backend passes of the pipeline use it too)
    ub_rows: int = 0

    def run(self, module: Module, ctx: PassContext) -> None:
        target = resolve_target(self.target, ctx)
        if self.ub_rows:
            if self.ub_rows < 1:
                raise QccError(f"tpu-tile-ub: ub_rows must be positive, got {self.ub_rows}")
            target = target.updated({"unified_buffer.rows": self.ub_rows})
            ctx.data["target"] = target
        plan = tile_ub(module.main, target)
        ctx.stat("batch-chunk", plan.batch_chunk)
        ctx.stat("spilled-tensors", len(plan.spilled))
        ctx.stat("banded-layers", len(plan.band_rows))


__all__ = ["TILING_ATTRIBUTES", "TilePlan", "TpuTileUbPass", "decide", "layer_ops",
           "spill_cost", "spillable", "tile_ub"]
