"""The compile report: where every op of the integer graph runs, what memory the
program uses, and per layer what it costs and why (docs/compile-report.md).

    compiled = qcc.compile("model.onnx", calib_data="calib.npz", batch=8)
    report = compiled.report()                  # or report(target, eval_data=...)
    print(report.to_markdown())
    json.dumps(report.to_json())                # stable keys; CompileReport.from_json

Everything is derived from the integer module, the lowering (re-run here to see its
Unified Buffer plan; the program is not changed) and the timing model
(``TimingReport.layers``, keyed by the ONNX node name that ``Program.layer_of``
gives every instruction). The per-layer SQNR comes from
:func:`qcc.quant_report.quant_error_report` on the float, fake-quantized and
integer graphs that :func:`compile_model` keeps.

The rescale share of the latency (total and per layer) is a counterfactual: the
program timed again with requantization free (activates and table loads taking no
time, timing.rescale_seconds), the difference being what requantizing costs in the
latency. The per-layer "rescale cycles" beside it are an upper bound that ignores
overlap: the rows the layer's ``activate`` instructions process (all passes) at the
activation unit's throughput plus its ``load_table`` records at the weight memory's
bandwidth.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.dialect import ACTIVATION, ADDER, HOST, MXU, NOTHING, POOL  # noqa: F401
from qcc.backends.tpu_v1.lower import host_role, is_weight, loc_name
from qcc.backends.tpu_v1.memory import Buffer
from qcc.backends.tpu_v1.partition import HOST as HOST_REASON
from qcc.backends.tpu_v1.partition import host_runs, segment_layer
from qcc.backends.tpu_v1.plan import buffer_of, layer_ops
from qcc.backends.tpu_v1.program import LANES
from qcc.backends.tpu_v1.tables import RECORD_BYTES
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.backends.tpu_v1.timing import (
    TimingReport,
    requantization_line,
    rescale_cycles,
    rescale_seconds,
)
from qcc.dialects import nn
from qcc.ir.core import Op, Value

if TYPE_CHECKING:
    from qcc.backends.tpu_v1.compile import CompiledModel

#: the version of the JSON layout (bumped when keys change meaning)
FORMAT = "qcc-compile-report/1"

WEIGHTS = "weight memory"
HOST_CPU = isa.Unit.HOST_CPU.value  # the unit of host segments' ops

#: a layer whose MXU utilization is below this gets a "why" line
LOW_UTILIZATION = 0.25



@dataclass
class OpPlacement:
    """One op of the integer graph and where it runs."""

    op: str  # the op name, e.g. quant.conv2d
    result: str  # its result's name (or '')
    type: str  # its result's type
    layer: str  # the ONNX node it comes from (the timing report's layer)
    unit: str  # MXU / activation unit / pool unit / vector adder / host / nothing / ...
    note: str = ""


@dataclass
class BufferUse:
    """A Unified Buffer allocation (tensors that alias, e.g. a free reshape, share one)."""

    tensors: list[str]
    shape: list[int]
    base_row: int
    rows: int
    bytes: int  # rows x 256: every row is a whole 256-byte line
    valid_bytes: int  # the tensor's own bytes
    first_layer: str  # written by (or 'host' for an input)
    last_layer: str  # last read by (or 'host' for an output)


@dataclass
class LayerReport:
    name: str
    ops: list[str]
    units: list[str]  # units its instructions use
    useful_macs: int
    array_macs: int
    weight_bytes: int  # weight tiles read for the layer
    table_bytes: int  # activation/add table records read
    intensity: float | None  # useful MACs per weight byte (None: no weights)
    cycles: float
    seconds: float
    bound: str
    utilization: float
    #: upper bound, not part of the latency: activate rows (all passes) / throughput +
    #: tables / bandwidth, as if nothing overlapped them
    rescale_cycles: float
    accumulator_rows: int  # distinct accumulator rows the layer writes or reads
    rows_per_tile: float | None  # matmul rows streamed per weight tile
    k_lanes: float | None  # input lanes of a pass (of 256)
    n_lanes: float | None  # output lanes (columns) of a pass (of 256)
    energy_j: float
    sqnr_db: float | str | None = None  # of the layer's output vs float; 'inf' if exact
    why: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    #: the layer's share of the latency saved if requantization were free (us); the
    #: layers add up to ``totals["rescale_us"]`` (None in reports made before it)
    rescale_us: float | None = None
    #: activate rows of the extra passes a per-tensor activation unit makes
    extra_rescale_rows: int = 0
    #: the TPU paper's Table 3 counters in cycles and MACs (they sum over the layers to
    #: the totals'); ``paper_counters`` has them in percent of the layer's cycles, and
    #: TOPS (timing.PAPER_COUNTERS). Absent (zero, empty) in reports made before them.
    array_active_cycles: float = 0.0
    weight_stall_cycles: float = 0.0
    weight_shift_cycles: float = 0.0
    non_matrix_cycles: float = 0.0
    raw_stall_cycles: float = 0.0
    host_stall_cycles: float = 0.0
    unused_macs: int = 0
    paper_counters: dict[str, float] = field(default_factory=dict)


@dataclass
class CompileReport:
    target: str
    batch: int
    instructions: int
    ops: list[OpPlacement]
    buffers: list[BufferUse]
    memory: dict[str, Any]
    layers: list[LayerReport]
    totals: dict[str, Any]
    sqnr_data: str | None = None  # what the SQNR was measured on
    output_sqnr_db: dict[str, float | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: activations larger than the Unified Buffer (tpu-tile-ub): batch chunk, layers
    #: in row bands, spilled tensors, extra PCIe bytes; empty when everything fits
    tiling: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with stable keys (``format`` names the layout)."""
        out: dict[str, Any] = {"format": FORMAT}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("ops", "buffers", "layers"):
                value = [dataclasses.asdict(v) for v in value]
            out[f.name] = _jsonable(value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompileReport:
        d = {k: v for k, v in data.items() if k != "format"}
        d["ops"] = [OpPlacement(**o) for o in d["ops"]]
        d["buffers"] = [BufferUse(**b) for b in d["buffers"]]
        d["layers"] = [LayerReport(**x) for x in d["layers"]]
        return cls(**d)

    def layer(self, name: str) -> LayerReport:
        for x in self.layers:
            if x.name == name:
                return x
        raise KeyError(name)

    # ------------------------------------------------------------------ text
    def summary(self) -> str:
        """One line: latency, TOPS, energy per inference, inferences/s/W."""
        t = self.totals
        return (f"{t['latency_us']:.1f} us per batch of {self.batch} (host transfers "
                f"{t['host_transfer_us']:.2f} us), {t['tops']:.2f} TOPS, "
                f"{t['energy_per_inference_uj']:.1f} uJ per inference, "
                f"{t['inferences_per_s_per_w']:.0f} inferences/s/W, bound: {t['bound']}")

    def to_markdown(self) -> str:
        """The report as Markdown (report_render.py)."""
        from qcc.backends.tpu_v1.report_render import render_markdown

        return render_markdown(self)


def _finite(x: float) -> float | str:
    if math.isnan(x):
        return "nan"
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return _finite(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


# ---------------------------------------------------------------------- analysis
def _result(op: Op) -> Value | None:
    return op.results[0] if op.results else None


def _graph_ops(tpu_module) -> list[Op]:
    """The ops of the tpu graph the report lists: all but the return and barriers."""
    g = tpu_module.main
    return [op for op in g.ops if op is not g.return_op and not isinstance(op, tpu.SyncOp)]


def _placements(tpu_module) -> list[OpPlacement]:
    """Every op of the tpu graph (but the return and the barriers) with its unit: the
    tpu ops' own (their class says which unit runs them), the host's quantize,
    dequantize and layout, and the constants in the weight image."""
    layers = _layer_of_ops(tpu_module)
    out = []
    for op in _graph_ops(tpu_module):
        role = host_role(op)
        if isinstance(op, tpu.TpuOp):
            unit, note = op.unit, op.describe()
        elif role is not None:
            unit, note = HOST, role
        elif HOST_REASON in op.attributes:
            unit, note = HOST_CPU, op.attributes[HOST_REASON]
        elif is_weight(op):
            users = op.results[0].users if op.results else []
            if any(getattr(u, "bias", None) is op.results[0] for u in users):
                note = "bias: in the activation table"
            elif isinstance(op, nn.ConstantOp):
                note = "weights: in the weight tiles"
            else:
                note = "folded into the weight tiles"
            unit = WEIGHTS
        else:
            unit, note = "-", "not lowered"
        r = _result(op)
        out.append(OpPlacement(op.name, (r.name_hint or "") if r is not None else "",
                               str(r.type) if r is not None else "",
                               layers.get(op, loc_name(op)), unit, note))
    return out


def _layer_of_ops(tpu_module) -> dict[Op, str]:
    """The layer (timing report key) each op's instructions are counted in, as the
    emission names them: a layer op's ONNX node, the program's for host transfers
    and host ops; weights belong to the layer that reads them."""
    ops = _graph_ops(tpu_module)
    layer: dict[Op, str] = {}
    for op in ops:
        if isinstance(op, tpu.LAYER_OPS):
            layer[op] = loc_name(op)
        elif isinstance(op, tpu.TpuOp) or host_role(op) is not None:
            layer[op] = "program"
    for run in host_runs(tpu_module.main):  # a segment's ops: its host_call's layer
        for op in run:
            layer[op] = segment_layer(run)
    for op in reversed(ops):  # weights: the layer of their (transitive) user
        if is_weight(op):
            users = [u for r in op.results for u in r.users if u in layer]
            layer[op] = layer[users[0]] if users else loc_name(op)
    return layer


def _buffers(tpu_module) -> tuple[list[BufferUse], int]:
    """The Unified Buffer plan (the ops' ``ub`` placements; one batch chunk's when the
    program runs in chunks; spilled tensors are in host memory), and the peak of live
    rows."""
    from qcc.backends.tpu_v1.plan import batch_chunk, batch_view

    with batch_view(tpu_module.main, batch_chunk(tpu_module.main)):
        return _buffers_planned(tpu_module)


def _buffers_planned(tpu_module) -> tuple[list[BufferUse], int]:
    g = tpu_module.main
    layers = _layer_of_ops(tpu_module)
    ops = layer_ops(g)
    position = {op: k for k, op in enumerate(ops)}
    placed = [op for op in g.ops if isinstance(op, (tpu.ReadHostOp, *tpu.LAYER_OPS))
              and "ub" in op.attributes]
    written = {op.input for op in g.ops if isinstance(op, tpu.WriteHostOp)}
    group_of: dict[Value, list[Value]] = {}
    groups: list[list[Value]] = []
    for op in placed:
        v = op.output
        if isinstance(op, tpu.ReshapeOp) and op.input in group_of:  # same rows
            group_of[op.input].append(v)
            group_of[v] = group_of[op.input]
        else:
            group_of[v] = [v]
            groups.append(group_of[v])

    def where(k: int) -> str:
        return "host" if k < 0 or k >= len(ops) else layers[ops[k]]

    def users(v: Value) -> list[int]:
        return [position[u] for u in v.users if u in position]

    uses, intervals, firsts = [], [], []
    for values in groups:
        buf = buffer_of(values[0])
        first = min(position.get(v.op, -1) for v in values)
        last = max(max(users(v), default=first) for v in values)
        if any(v in written for v in values):
            last = len(ops)
        intervals.append((first, last, buf.rows))
        firsts.append(first)
        v0 = values[0]
        uses.append(BufferUse([v.name_hint or "" for v in values], list(v0.type.shape),
                              buf.base, buf.rows, buf.rows * LANES,
                              math.prod(v0.type.shape), where(first), where(last)))
    order = {id(u): k for k, u in enumerate(uses)}
    uses.sort(key=lambda b: (firsts[order[id(b)]], b.base_row))
    peak = 0
    for k in range(-1, len(ops) + 1):
        peak = max(peak, sum(rows for a, b, rows in intervals if a <= k <= b))
    return uses, peak


def _accumulator_range(ins) -> tuple[int, int] | None:
    """[start, end) of the accumulator rows an instruction writes or reads."""
    if ins.defn is isa.MATMUL:
        return ins.acc, ins.acc + ins.length
    if ins.defn is isa.ACTIVATE and not ins.src_ub:
        return ins.src, ins.src + ins.rows
    if ins.defn is isa.POOL and ins.sum:
        return ins.dst, ins.dst + ins.length
    return None


def _rows_in(spans: set[tuple[int, int]], size: int) -> int:
    """How many distinct rows the [start, end) spans cover."""
    used = np.zeros(size, bool)
    for a, b in spans:
        used[a:b] = True
    return int(used.sum())


def _pass_lanes(head: Op) -> tuple[float | None, float | None]:
    """Input lanes and output lanes of one pass of the layer's matmuls, from the tile
    plan of its tpu op."""
    if not isinstance(head, tpu.MatmulOp | tpu.Conv2dOp):
        return None, None
    from qcc.backends.tpu_v1.memory import layout

    x, y = (Buffer(0, *layout(v.type)) for v in (head.input, head.output))
    n = sum(y.lanes) / len(y.lanes)
    if isinstance(head, tpu.MatmulOp):
        return sum(x.lanes) / len(x.lanes), n
    if head.depthwise:
        return 1.0, n  # one input lane feeds each column
    if head.taps_per_row > 1:  # packed taps fill the row
        c = head.input.type.shape[1]
        return float(c * head.taps_per_row // max(1, head.group)), n
    return sum(x.lanes) / len(x.lanes) / head.group, n


def _why(x: LayerReport, head: Op | None, target: Target, batch: int) -> None:
    """Explain a layer far below its bound, and suggest what would help."""
    if x.cycles <= 0 or x.utilization >= LOW_UTILIZATION:
        return
    if not x.array_macs:
        units = [u for u in x.units if u != MXU] or ["no unit"]
        if x.name == "program":
            x.why.append("host transfers and the final barriers; no matrix work")
        else:
            x.why.append(f"no matrix work: runs on the {', '.join(units)}")
        return
    ridge = target.ridge_macs_per_weight_byte
    if isinstance(head, tpu.Conv2dOp) and head.depthwise:
        x.why.append("depthwise: one lane per column (block-diagonal tiles: each "
                     "output channel sees one input channel per tap), at most 1/256 "
                     "of the array")
        x.suggestions.append("inherent on a weight-stationary array; the pointwise "
                             "layers carry the MACs, so keep the depthwise layers small, "
                             "or fuse them into a dense 3x3 convolution when channels "
                             "are few")
    elif x.k_lanes is not None and x.k_lanes < LANES / 2:
        x.why.append(f"shallow channels: {x.k_lanes:.0f} of {LANES} input lanes (K) per pass")
        x.suggestions.append(f"input channels x packed taps filling {LANES} lanes "
                             "(channel counts that are multiples of 256, or divide it)")
    if x.n_lanes is not None and x.n_lanes < LANES / 2:
        x.why.append(f"few output channels: {x.n_lanes:.0f} of {LANES} columns (N) per pass")
        x.suggestions.append(f"output channel counts that are multiples of {LANES}")
    if x.rows_per_tile is not None and x.rows_per_tile < ridge:
        kind = ("weight-bandwidth bound" if x.bound == "weight memory" else
                "weight-shift bound" if x.bound == "weight shift" else
                "weight fetches and pass overheads dominate")
        x.why.append(f"small batch: {x.rows_per_tile:.0f} rows per weight tile, below the "
                     f"~{ridge:.0f}-row ridge (FIFO starvation: {kind})")
        per_item = x.rows_per_tile / batch
        if per_item > 0:
            need = math.ceil(min(ridge, target.accumulators.rows // 2) / per_item)
            x.suggestions.append(f"a larger batch (~{need}) amortizes each weight load "
                                 "over more rows")
    if x.bound == "non-matrix":
        x.why.append("non-matrix time dominates: the layer's barrier, exposed fill/drain "
                     "and activation")
    if not x.why:
        x.why.append(f"bound by {x.bound}")


def build_report(compiled: CompiledModel, target: Target | str | None = None,
                 eval_data: Any = None) -> CompileReport:
    """The :class:`CompileReport` of a compiled model on ``target`` (default: its own)."""
    from qcc.diagnostics import QccError

    if compiled.module is None:
        raise QccError("the compile report needs the integer module (compile_model keeps it)")
    program = compiled.program
    if target is None:
        target = compiled.target or load_target(program.target)
    elif not isinstance(target, Target):
        target = load_target(target)
    timing: TimingReport = compiled.estimate(target)
    tpu_module = compiled.tpu_module
    if tpu_module is None:
        raise QccError("the compile report needs the tpu module the program was emitted "
                       "from (compile_model and compile_module keep it)")
    placements = _placements(tpu_module)
    buffers, peak_live = _buffers(tpu_module)

    # per layer: instructions, tiles, tables, activate rows, accumulator rows
    per: dict[str, dict[str, Any]] = {}
    for ins, layer in zip(program.instructions, program.layer_of, strict=True):
        p = per.setdefault(layer, {"tiles": 0, "tables": 0, "instructions": [],
                                   "acc_rows": set(), "units": [], "mm_rows": 0,
                                   "switches": 0})
        p["instructions"].append(ins)
        if ins.defn is isa.READ_WEIGHTS:
            p["tiles"] += ins.count
        elif ins.defn is isa.LOAD_TABLE:
            p["tables"] += 1
        elif ins.defn is isa.MATMUL:
            p["mm_rows"] += ins.length
            p["switches"] += ins.switch
        span = _accumulator_range(ins)
        if span is not None:
            p["acc_rows"].add(span)
        u = isa.unit_label(ins.op)
        if u is not None and u not in p["units"]:
            p["units"].append(u)
    heads: dict[str, Op] = {}
    layer_ops: dict[str, list[str]] = {}
    for o, op in zip(placements, _graph_ops(tpu_module), strict=True):
        if o.unit != WEIGHTS:
            layer_ops.setdefault(o.layer, []).append(o.op)
        if o.unit == MXU and o.layer not in heads:
            heads[o.layer] = op

    # SQNR per layer output
    sqnr_by_tensor: dict[str, float] = {}
    output_sqnr: dict[str, float | str] = {}
    data = eval_data if eval_data is not None else compiled.calib_data
    data_name = None
    rescale_s, rescale_layers = rescale_seconds(program, target, timing.batch)
    notes = [requantization_line(target, timing.total),
             "rescale share of latency: the latency saved if requantization were free "
             "(the program timed again with activates and table loads taking no time); "
             "rescale cycles: an upper bound that ignores overlap (activate rows, all "
             "passes, at the activation unit's throughput + table records at the "
             "weight-memory bandwidth)"]
    if data is not None and not isinstance(data, str | bytes | Mapping) and \
            not hasattr(data, "__fspath__") and iter(data) is data:
        data = None  # a one-shot iterator, consumed by calibration
    if data is not None and compiled.float_module is not None and \
            compiled.fake_quant_module is not None:
        from qcc.calibration import iterate_batches
        from qcc.quant_report import quant_error_report

        # calibration data: calibrate already warned about its arrays that are not inputs
        batches = iterate_batches(data, compiled.float_module.main,
                                  what="evaluation data" if eval_data is not None
                                  else "calibration data", warn_ignored=eval_data is not None)
        from qcc.progress import track

        batches = track(batches, None, "compile report: SQNR", unit="batches")
        q = quant_error_report(compiled.float_module, compiled.fake_quant_module,
                               compiled.module, batches)
        for e in q.layers:
            v = e.sqnr_integer if e.sqnr_integer is not None else e.sqnr_fake_quant
            sqnr_by_tensor[e.tensor] = v
        output_sqnr = {k: _finite(v) for k, v in q.output_sqnr.items()}
        data_name = str(data) if isinstance(data, str) or hasattr(data, "__fspath__") \
            else "in-memory batches"
    elif data is None:
        notes.append("no SQNR: give eval data (or compile with calibration data from a file)")
    else:
        notes.append("no SQNR: the float and fake-quantized graphs were not kept (compile "
                     "with compile_model to have them)")
    kept = getattr(compiled, "kept_float", None) or {}
    if kept:
        notes.append(f"kept in float ({len(kept)}): " + "; ".join(
            f"{name}: {why}" for name, why in kept.items()))
    lanes = getattr(compiled, "outlier_channels", None)
    if lanes:
        notes.append(f"one scale per channel, outlier channels ({len(lanes)}; "
                     "--outlier-channels): " + ", ".join(lanes))
    mixed = getattr(compiled, "mixed_precision", None)
    if mixed is not None:
        notes.append(f"mixed precision: {mixed.summary()}")
    auto = getattr(compiled, "calibration_auto", None)
    if auto is not None:
        notes.append(auto.summary())
    sufficiency = getattr(compiled, "calibration_sufficiency", None)
    if sufficiency is not None:
        notes.append(sufficiency.summary())
    inherited = getattr(compiled, "inherited_quantization", None) or {}
    if inherited:
        notes.append(f"quantized with their input's type ({len(inherited)}; ops that only "
                     "move data): " + ", ".join(inherited))
    layer_tensor: dict[str, str] = {}
    for o in placements:
        if o.unit not in (WEIGHTS, HOST) and o.result:
            layer_tensor[o.layer] = o.result.removesuffix("_q")

    tile_bytes = target.weights.tile_bytes
    layers = []
    for name, c in timing.layers.items():
        p = per.get(name, {"tiles": 0, "tables": 0, "instructions": [], "acc_rows": set(),
                           "units": [], "mm_rows": 0, "switches": 0})
        head = heads.get(name)
        k_lanes, n_lanes = _pass_lanes(head) if head is not None else (None, None)
        wbytes = p["tiles"] * tile_bytes
        sq = sqnr_by_tensor.get(layer_tensor.get(name, ""))
        x = LayerReport(
            name=name, ops=layer_ops.get(name, []), units=p["units"],
            useful_macs=c.useful_macs, array_macs=c.array_macs, weight_bytes=wbytes,
            table_bytes=p["tables"] * RECORD_BYTES,
            intensity=c.useful_macs / wbytes if wbytes else None,
            cycles=c.cycles, seconds=timing.seconds(c), bound=timing.bound(c),
            utilization=timing.utilization(c),
            rescale_cycles=rescale_cycles(p["instructions"], target, program.weights),
            accumulator_rows=_rows_in(p["acc_rows"], target.accumulators.rows),
            rows_per_tile=p["mm_rows"] / p["switches"] if p["switches"] else None,
            k_lanes=k_lanes, n_lanes=n_lanes, energy_j=timing.energy_j(c),
            sqnr_db=None if sq is None else _finite(sq),
            rescale_us=rescale_layers.get(name, 0.0) * 1e6,
            extra_rescale_rows=c.extra_rescale_rows,
            **_cycle_counters(c), paper_counters=timing.paper_counters(c))
        _why(x, head, target, timing.batch)
        layers.append(x)

    tot = timing.total
    n_tiles = sum(p["tiles"] for p in per.values())
    n_tables = sum(p["tables"] for p in per.values())
    host_bytes = tot.host_read_bytes + tot.host_write_bytes
    memory = {
        "ub_rows": target.unified_buffer.rows,
        "ub_row_bytes": target.unified_buffer.row_bytes,
        "ub_peak_live_rows": peak_live, "ub_peak_live_bytes": peak_live * LANES,
        "ub_high_water_rows": max((b.base_row + b.rows for b in buffers), default=0),
        "ub_high_water_bytes": max((b.base_row + b.rows for b in buffers), default=0) * LANES,
        "accumulator_rows": target.accumulators.rows,
        "accumulator_rows_used": max((x.accumulator_rows for x in layers), default=0),
        "tile_bytes": tile_bytes, "weight_tiles": n_tiles,
        "weight_tile_bytes": n_tiles * tile_bytes, "tables": n_tables,
        "table_bytes": n_tables * RECORD_BYTES, "weight_image_bytes": len(program.weights),
        "weight_memory_bytes": target.weight_memory.capacity_bytes,
        "weight_dram_bytes_read": tot.dram_bytes,
        "host_read_bytes": tot.host_read_bytes, "host_write_bytes": tot.host_write_bytes,
        "inputs": {d.name: d.host_bytes for d in program.inputs},
        "outputs": {d.name: d.host_bytes for d in program.outputs},
    }
    energy = timing.energy_j()
    batch = timing.batch
    totals = {
        "cycles": tot.cycles, "latency_us": timing.latency_s * 1e6,
        "host_transfer_us": host_bytes / target.host_link.bandwidth_bytes_per_s * 1e6,
        "useful_macs": tot.useful_macs, "array_macs": tot.array_macs,
        "tops": timing.tops(), "peak_tops": target.peak_tops,
        "matrix_program_us": timing.device_seconds() * 1e6,
        "matrix_program_tops": timing.device_tops(),  # the paper's: host waits excluded
        "utilization": timing.utilization(), "bound": timing.bound(),
        "energy_uj": energy * 1e6, "energy_per_inference_uj": energy / batch * 1e6,
        "energy_breakdown_uj": {k: v * 1e6 for k, v in timing.energy().items()},
        "average_power_w": timing.average_power_w,
        "die_power_w": timing.die_power_w, "dram_power_w": timing.dram_power_w,
        "inferences_per_s": timing.inferences_per_s,
        "inferences_per_s_per_w": timing.inferences_per_s_per_w,
        "die_inferences_per_s_per_w": timing.die_inferences_per_s_per_w,
        **_cycle_counters(tot), "paper_counters": timing.paper_counters(),
        "rescale_us": rescale_s * 1e6,
        "requantization": target.requantization.multipliers,
        "extra_rescale_rows": tot.extra_rescale_rows,
    }
    host_ops = [o for o in placements if o.unit == HOST_CPU]
    if host_ops or program.segments:
        # latency split: the host computing (the TPU waits), waiting for PCIe
        # transfers (host stalls), and the rest on the TPU
        host_macs = sum(i.products for i in program.instructions if i.op == "host_call")
        totals.update({
            "host_ops": len(host_ops), "host_segments": len(program.segments),
            "split_us": {k: v * 1e6 for k, v in timing.split_s().items()},
            "pcie_bytes": host_bytes, "host_macs": host_macs,
            "mxu_mac_share": tot.useful_macs / max(tot.useful_macs + host_macs, 1)})
    return CompileReport(target.name, batch, len(program.instructions), placements, buffers,
                         memory, layers, totals, data_name, output_sqnr, notes,
                         _tiling(tpu_module, program, tot, target))


def _cycle_counters(c) -> dict[str, Any]:
    """The TPU paper's counters of one timing ``Counters`` in cycles and MACs: array
    active, weight stall, weight shift and non-matrix cycles (they add up to the
    cycles), RAW and host-transfer (input) stalls (parts of non-matrix), and the
    unused MACs (array MACs - useful MACs)."""
    return {"array_active_cycles": c.array_active_cycles,
            "weight_stall_cycles": c.weight_stall_cycles,
            "weight_shift_cycles": c.weight_shift_cycles,
            "non_matrix_cycles": c.non_matrix_cycles,
            "raw_stall_cycles": c.raw_stall_cycles,
            "host_stall_cycles": c.host_stall_cycles,
            "unused_macs": c.array_macs - c.useful_macs}


def _tiling(tpu_module, program, tot, target: Target) -> dict[str, Any]:
    """What tpu-tile-ub decided, read off the tpu IR, and what it costs: the PCIe bytes
    beyond the program's inputs and outputs (each moved once when nothing is tiled)."""
    from qcc.backends.tpu_v1.plan import batch_chunk, spilled

    g = tpu_module.main
    chunk = batch_chunk(g)
    layers, tensors = [], []
    for op in g.ops:
        if not isinstance(op, (tpu.ReadHostOp, *tpu.LAYER_OPS)):
            continue
        if "band_rows" in op.attributes:
            ins = [v for v in op.operands if spilled(v)]
            why = []
            if ins:
                why.append("reads a spilled tensor band by band, with its window's halo")
            if spilled(op.output):
                why.append("writes its spilled result band by band")
            layers.append({"layer": loc_name(op), "op": op.name,
                           "band_rows": int(op.attributes["band_rows"]),
                           "rows": op.output.type.shape[2], "why": "; ".join(why)})
        if spilled(op.output):
            v = op.output
            model_io = isinstance(op, tpu.ReadHostOp) or \
                any(isinstance(u, tpu.WriteHostOp) for u in v.users)
            tensors.append({
                "tensor": v.name_hint or "", "layer": loc_name(op),
                "shape": list(v.type.shape), "bytes": math.prod(v.type.shape),
                "why": "does not fit the Unified Buffer beside the tensors live with it; "
                       + ("it is a program input or output, in host memory anyway" if
                          model_io else "the fewest added PCIe bytes per row freed")})
    if not (chunk or layers or tensors):
        return {}
    io = sum(d.host_bytes for d in (*program.inputs, *program.outputs))
    moved = tot.host_read_bytes + tot.host_write_bytes
    return {"batch_chunk": chunk,
            "batch_chunk_why": "the whole batch does not fit the Unified Buffer, this many "
                               "images do: the layers run once per chunk and read their "
                               "weights again" if chunk else "",
            "banded_layers": layers, "spilled_tensors": tensors,
            "host_scratch_bytes": program.scratch_bytes,
            "extra_pcie_bytes": moved - io,
            "extra_pcie_us": (moved - io) / target.host_link.bandwidth_bytes_per_s * 1e6}
