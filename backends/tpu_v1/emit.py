"""Emission: a planned and scheduled tpu graph to a TPU program. The only place
instructions are made; every decision it follows is an attribute of the tpu ops
(docs/tpu-dialect.md), so what it emits can be read off the IR.

Weight tiles are cut from the int8 weight constants in the order the plan numbered
them; table records (activation and add tables) are built from the ops'
requantization attributes and folded biases and placed after all tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1 import hostio, isa, partition
from qcc.backends.tpu_v1.isa import SYNC_HOST, SYNC_UNITS, Instruction
from qcc.backends.tpu_v1.lower import conv_matrix, conv_steps, host_input_dtype, loc_name
from qcc.backends.tpu_v1.memory import Buffer
from qcc.backends.tpu_v1.plan import TILE, buffer_of, chunk_spans, host_outputs
from qcc.backends.tpu_v1.program import LANES, HostSegment, Program, TensorDesc
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, AddTable
from qcc.backends.tpu_v1.target import Target
from qcc.backends.tpu_v1.validate import ProgramError, validate_program
from qcc.diagnostics import QccError, onnx_locs
from qcc.dialects import nn, quant
from qcc.dialects.nn import constant_value
from qcc.dialects.quant import output_zero_point
from qcc.interpreter import qparams
from qcc.ir.core import Graph, Op, Value
from qcc.ir.types import UniformQuantType
from qcc.text.printer import print_module


@dataclass
class _Out:
    instructions: list[tuple[isa.InstrDef, dict]] = field(default_factory=list)
    layer_of: list[str] = field(default_factory=list)
    useful_macs: list[int] = field(default_factory=list)
    tiles: dict[int, bytes] = field(default_factory=dict)
    tables: dict[int, bytes] = field(default_factory=dict)


def _attr(op: Op, key: str):
    if key not in op.attributes:
        raise QccError(f"'{op.name}' has no '{key}' placement: run tpu-plan-memory and "
                       "tpu-schedule before emission", op.loc)
    return op.attributes[key]


def _weight_codes(op: Op, v: Value) -> np.ndarray:
    """The integer weights of ``op`` in their own (8-bit) storage type: the tiles are
    cut from them without a wider copy."""
    arr = constant_value(v)
    if arr is None:
        return _constant(op, v)  # (the error)
    return arr if arr.dtype.kind in "iu" else arr.astype(np.int64)


def _constant(op: Op, v: Value) -> np.ndarray:
    """The integer array of a weight or bias constant of ``op``."""
    arr = constant_value(v)
    if arr is None:
        what = "was elided (dense_resource<__elided__>): print the IR without " \
            "--elide-constants" if isinstance(v.op, nn.ConstantOp) else "is not a constant"
        raise QccError(f"'{op.name}': %{v.name_hint} {what}", op.loc)
    return arr.astype(np.int64)


def _desc(name: str, v: Value, host: int) -> TensorDesc:
    """A transfer's descriptor; a tensor with one scale per lane (a host tensor: host
    segments read its type from their IR) is described with scale 1 and its zero
    point."""
    e = v.type.element
    scale = e.scale if isinstance(e, UniformQuantType) else 1.0
    return TensorDesc(name, v.type.shape, "u8" if not e.storage.signed else "i8",
                      scale, output_zero_point(e), host)


def host_input_desc(op: tpu.HostInputOp) -> TensorDesc:
    """The descriptor of an input or host tensor the host keeps as it is (its own
    dtype, C-order; a quantized one in the row layout, as transfers have it)."""
    t = op.output.type
    if host_input_dtype(t) is None:
        return _desc(op.tensor, op.output, _attr(op, "host"))
    return TensorDesc(op.tensor, t.shape, host_input_dtype(t), 1.0, 0, _attr(op, "host"))


class Emitter:
    #: overlap the program's host transfers with compute (backends/tpu_v1/hostio.py);
    #: False: inputs whole before the first layer, outputs whole after the last
    overlap_host = True

    def __init__(self, graph: Graph, target: Target):
        self.graph = graph
        self.target = target
        self.depth = target.weights.fifo_depth
        self.out = _Out()
        self.layer = "program"
        self.segments: list[HostSegment] = []

    def emit(self, op: isa.InstrDef, macs: int = 0, **args) -> None:
        self.out.instructions.append((op, args))
        self.out.layer_of.append(self.layer)
        self.out.useful_macs.append(macs)

    # ------------------------------------------------------------------ driver
    def run(self) -> Program:
        g = self.graph
        ops = g.ops
        transfers: list[tuple[Op, TensorDesc]] = []
        io_in: list[hostio.Transfer] = []
        io_out: list[hostio.Transfer] = []
        segs = {seg.ops[0]: seg for seg in partition.segments(g)}
        for k, op in enumerate(ops):
            seg = segs.get(op)
            if seg is not None:
                self.layer = partition.segment_layer(seg.ops)
                self._host_call(seg)
                continue
            if isinstance(op, tpu.SyncOp):
                nxt = ops[k + 1] if k + 1 < len(ops) else None
                self.layer = loc_name(nxt) if op.kind == "units" and \
                    isinstance(nxt, tpu.LAYER_OPS) else "program"
                self._reads(list(op.prefetch))
                self.emit(isa.SYNC, kind=SYNC_HOST if op.kind == "host" else SYNC_UNITS)
            elif isinstance(op, tpu.HostInputOp):  # no transfer: the host keeps it
                transfers.append((op, host_input_desc(op)))
            elif isinstance(op, tpu.ReadHostOp | tpu.WriteHostOp):
                self.layer = "program"
                desc = _desc(op.tensor, op.output, _attr(op, "host"))
                read = isinstance(op, tpu.ReadHostOp)
                transfers.append((op, desc))
                buf = buffer_of(op.output if read else op.input)
                start = len(self.out.instructions)
                self._transfer(isa.READ_HOST if read else isa.WRITE_HOST, desc, buf)
                if partition.transfer_role(op) != "boundary":  # the program's own I/O
                    (io_in if read else io_out).append(hostio.Transfer(
                        desc, buf, list(range(start, len(self.out.instructions)))))
            elif isinstance(op, tpu.LAYER_OPS):
                self.layer = loc_name(op)
                self._layer(op)
        self.layer = "program"
        self.emit(isa.HALT)
        if self.overlap_host:  # inputs in row chunks, outputs as soon as written
            out = self.out
            out.instructions, out.layer_of, out.useful_macs = \
                hostio.overlap_host_transfers(
                    out.instructions, out.layer_of, out.useful_macs, io_in, io_out,
                    self.target.timing.fill_drain_cycles + self.target.weights.shift_cycles)
        return self._finish(*self.io_descriptors(transfers))

    def io_descriptors(self, transfers: list[tuple[Op, TensorDesc]]
                       ) -> tuple[list[TensorDesc], list[TensorDesc], list[TensorDesc]]:
        """The program's inputs, its outputs (in the graph's output order, those a host
        segment writes included) and its host tensors, from the descriptors of the
        transfers in program order."""
        g = self.graph
        inputs, outputs, boundary = [], [], []
        for op, desc in transfers:
            role = "boundary" if isinstance(op, tpu.HostTensorOp) else "input" \
                if isinstance(op, tpu.HostInputOp) else partition.transfer_role(op)
            (boundary if role == "boundary" else inputs if role == "input"
             else outputs).append(desc)
        outputs += [_desc(g.output_names[g.return_op.operands.index(op.output)], op.input,
                          _attr(op, "host")) for op in host_outputs(g)]
        order = {name: k for k, name in enumerate(g.output_names)}
        outputs.sort(key=lambda d: order.get(d.name, len(order)))
        return inputs, outputs, boundary

    def _host_call(self, seg: partition.Segment) -> None:
        """A host segment: its IR into the program, one host_call."""
        module = partition.segment_module(self.graph, seg)
        self.segments.append(HostSegment(tuple(n for n, _ in seg.inputs),
                                         tuple(n for n, _ in seg.outputs),
                                         print_module(module)))
        elements, macs = partition.host_work(seg)
        self.emit(isa.HOST_CALL, segment=len(self.segments) - 1, elements=elements,
                  products=macs)

    def _finish(self, inputs: list[TensorDesc], outputs: list[TensorDesc],
                boundary: list[TensorDesc] | None = None) -> Program:
        out = self.out
        n_tiles = len(out.tiles)
        if sorted(out.tiles) != list(range(n_tiles)) or \
                sorted(out.tables) != list(range(len(out.tables))):
            raise QccError("the weight image has gaps: the tpu graph's weight_tile/tables "
                           "placements do not number every tile and table once")
        tiles_end = n_tiles * TILE
        instrs = []
        for k, (op, args) in enumerate(out.instructions):
            if op is isa.LOAD_TABLE:
                args = {"slot": args["slot"],
                        "dram": tiles_end + args["table_index"] * RECORD_BYTES}
            try:
                instrs.append(Instruction(op, **args))
            except (ValueError, QccError) as e:
                raise self._bad_ir(k, str(e)) from None
        weights = b"".join(out.tiles[k] for k in range(n_tiles)) + \
            b"".join(out.tables[k] for k in range(len(out.tables)))
        program = Program(instrs, weights, inputs, outputs, self.target.name,
                          layer_of=list(out.layer_of), useful_macs=list(out.useful_macs),
                          target_desc=self.target, host_tensors=list(boundary or []),
                          segments=list(self.segments),
                          scratch_bytes=getattr(self, "scratch_bytes", 0))
        try:  # placements edited by hand (or a broken pass) must not make a bad binary
            validate_program(program, self.target)
        except ProgramError as e:
            raise self._bad_ir(e.index, e.detail) from None
        return program

    def _bad_ir(self, index: int | None, detail: str) -> QccError:
        where = "" if index is None else \
            f" at instruction {index} (layer '{self.out.layer_of[index]}')"
        return QccError(f"the tpu graph's placements make an invalid program{where}: "
                        f"{detail}")

    def _transfer(self, kind: isa.InstrDef, desc: TensorDesc, buf: Buffer) -> None:
        host = desc.host_offset
        for b, lanes in enumerate(desc.blocks):
            self.emit(kind, host=host, ub=buf.block(b), rows=buf.pixels, row_bytes=lanes,
                      host_stride=lanes)
            host += lanes * buf.pixels

    def _reads(self, ids: list[int]) -> None:
        if not ids:
            return
        if ids == list(range(ids[0], ids[0] + len(ids))):  # consecutive: one read
            self.emit(isa.READ_WEIGHTS, dram=ids[0] * TILE, count=len(ids))
        else:
            for i in ids:
                self.emit(isa.READ_WEIGHTS, dram=i * TILE, count=1)

    # ------------------------------------------------------------------ tables
    def _tile(self, index: int, tile: np.ndarray) -> None:
        if index in self.out.tiles:
            raise QccError(f"weight tile {index} is placed twice")
        self.out.tiles[index] = np.ascontiguousarray(tile, np.int8).tobytes()

    def _load_table(self, op: Op, k: int, record: bytes) -> None:
        assert len(record) == RECORD_BYTES
        index, slot = _attr(op, "tables")[k], _attr(op, "slots")[k]
        if index in self.out.tables:
            raise QccError(f"table record {index} is placed twice", op.loc)
        self.out.tables[index] = record
        self.emit(isa.LOAD_TABLE, slot=slot, table_index=index)

    def _activate_table(self, op: Op, bias: np.ndarray, channels: slice,
                        zp_in: int = 0) -> bytes:
        e_out = op.output.type.element
        ms = np.array(op.multiplier, np.int64)
        shifts = np.array(op.shift, np.int64)
        if ms.size > 1:
            ms, shifts = ms[channels], shifts[channels]
        return ActivateTable(zp_in, output_zero_point(e_out), op.clamp_min, op.clamp_max,
                             not e_out.storage.signed, bias,
                             np.broadcast_to(ms, (LANES,)) if ms.size == 1 else ms,
                             np.broadcast_to(shifts, (LANES,)) if shifts.size == 1
                             else shifts).encode()

    def _copy_record(self, e: UniformQuantType, lut: np.ndarray | None = None) -> bytes:
        """An activation table that copies int8 rows (M = 1, same zero point), or
        looks each code up in ``lut`` (the storage type's whole range)."""
        lo, hi = (e.storage_min, e.storage_max) if lut is None else \
            (e.storage.min, e.storage.max)
        return ActivateTable(e.zero_point, e.zero_point, lo, hi,
                             not e.storage.signed, np.zeros(LANES, np.int64),
                             np.full(LANES, 1 << 30, np.int64), np.ones(LANES, np.int64),
                             lut).encode()

    # ------------------------------------------------------------------ layers
    def _layer(self, op: Op) -> None:
        if isinstance(op, tpu.MatmulOp):
            self._matmul(op)
        elif isinstance(op, tpu.Conv2dOp):
            self._conv(op)
        elif isinstance(op, tpu.PoolOp):
            self._max_pool(op) if op.kind == "max" else self._avg_pool(op)
        elif isinstance(op, tpu.AddOp):
            self._add(op)
        elif isinstance(op, tpu.ActivateOp):
            self._activate(op)
        elif isinstance(op, tpu.LookupOp):
            self._lookup(op)
        elif isinstance(op, tpu.ConcatOp):
            self._concat(op)
        elif isinstance(op, tpu.AvgPoolValidOp):
            self._avg_pool_valid(op)
        elif isinstance(op, tpu.UpsampleOp):
            self._upsample(op)
        elif isinstance(op, tpu.PReluOp):
            self._prelu(op)
        # tpu.reshape: same rows, nothing to do

    def _chunked(self, op: Op, ids: list[int], chunks: list[tuple[int, int, int]],
                 pass_args: Callable[[int, int, int, int], dict],
                 activate: Callable[[int, int, int], None], first: bool,
                 set_conv: Callable[[int], None] | None = None) -> None:
        """The matmuls of one output tile over its row chunks ``(first row, rows,
        accumulator base)``: ``ids`` are its weight tiles in pass order (the same for
        every chunk), ``pass_args(k, q0, qc, acc)`` the operands of pass k of a chunk
        (``macs`` included), ``activate(q0, qc, acc)`` emits a chunk's activate, and
        ``set_conv(q0)`` a convolution chunk's geometry.

        Chunks go in pairs, one per accumulator half: each weight tile switches in
        for the pair's first chunk and stays in the array for the second
        (``switch=0``), so a tile is fetched once per pair instead of once per chunk.
        read_weights run up to the FIFO depth ahead of the matmuls that switch their
        tiles in; the first reads of the layer's first pair were issued before its
        barrier (``prefetched``). A chunk's activate follows its last pass."""
        depth = self.depth
        for g in range(0, len(chunks), 2):
            group = chunks[g:g + 2]
            if not (first and op.attributes.get("prefetched", 0)):
                self._reads(ids[:depth])
            first = False
            geometry = None
            for k in range(len(ids)):
                for j, (q0, qc, acc) in enumerate(group):
                    if set_conv is not None and geometry != q0:
                        set_conv(q0)
                        geometry = q0
                    args = pass_args(k, q0, qc, acc)
                    self.emit(isa.MATMUL, macs=args.pop("macs"), switch=int(j == 0),
                              **args)
                    if j == 0 and k + depth < len(ids):
                        self.emit(isa.READ_WEIGHTS, dram=ids[k + depth] * TILE, count=1)
                    if k == len(ids) - 1:
                        activate(q0, qc, acc)

    def _matmul(self, op: tpu.MatmulOp) -> None:
        x, y = buffer_of(op.input), buffer_of(op.output)
        w = _weight_codes(op, op.weight)
        bias = _constant(op, op.bias)
        n_dim = w.shape[1]
        unsigned = int(not op.input.type.element.storage.signed)
        rows = x.pixels
        tile = _attr(op, "weight_tile")
        accs = iter(_attr(op, "acc"))
        first = True
        for nb in range(op.n_tiles):
            cols = slice(nb * LANES, min(n_dim, (nb + 1) * LANES))
            wn = w[:, cols]
            ids = []
            for kb in range(op.k_tiles):
                t = np.zeros((LANES, LANES), np.int64)
                part = wn[kb * LANES:(kb + 1) * LANES]
                t[:part.shape[0], :part.shape[1]] = part
                self._tile(tile, t)
                ids.append(tile)
                tile += 1
            self._load_table(op, nb, self._activate_table(op, bias[cols], cols))
            slot = _attr(op, "slots")[nb]
            lanes = y.lanes[nb]
            chunks = [(m0, mc, next(accs)) for m0, mc in chunk_spans(rows, op.row_chunk)]
            self._chunked(
                op, ids, chunks,
                lambda kb, m0, mc, acc, cols=cols: dict(
                    accumulate=int(kb > 0), ub=x.block(kb) + m0, acc=acc, length=mc,
                    unsigned=unsigned, macs=mc * x.lanes[kb] * (cols.stop - cols.start)),
                lambda m0, mc, acc, nb=nb, slot=slot, lanes=lanes: self.emit(
                    isa.ACTIVATE, src=acc, ub=y.block(nb) + m0, rows=mc, table=slot,
                    lanes=lanes),
                first)
            first = False

    def _conv(self, op: tpu.Conv2dOp) -> None:
        x, y = buffer_of(op.input), buffer_of(op.output)
        w = _weight_codes(op, op.weight)
        bias = _constant(op, op.bias)
        n, c, h, wd = op.input.type.shape
        o, _, kh, kw = w.shape
        _, _, oh, ow = op.output.type.shape
        zx = op.input.type.element.zero_point
        unsigned = int(not op.input.type.element.storage.signed)
        full, present = conv_matrix(w, c, op.group)
        per_row = op.taps_per_row
        steps = conv_steps(full, present, per_row, op.k_tiles)
        pixels_out = n * oh * ow
        s, d, p = op.strides, op.dilations, op.pads
        pad_byte = zx & 0xFF
        tile = _attr(op, "weight_tile")
        accs = iter(_attr(op, "acc"))
        first = True
        for ob in range(op.n_tiles):
            cols = slice(ob * LANES, min(o, (ob + 1) * LANES))
            ids, kept = [], []
            for t0, cb, rows, mask in steps:
                if not mask[:, cols].any():
                    continue  # block diagonal: no weight of this output block here
                part = rows[:, cols]
                t = np.zeros((LANES, LANES), np.int64)
                t[:part.shape[0], :part.shape[1]] = part
                kept.append((t0, cb, int(np.count_nonzero(mask[:, cols]))))
                self._tile(tile, t)
                ids.append(tile)
                tile += 1
            if not kept:  # an all-zero layer still needs its accumulators written
                self._tile(tile, np.zeros((LANES, LANES), np.int64))
                kept.append((0, 0, 0))
                ids.append(tile)
                tile += 1
            if len(kept) != op.tiles[ob]:
                raise QccError(f"output tile {ob} has {len(kept)} weight tiles, the plan "
                               f"says {op.tiles[ob]}", op.loc)
            self._load_table(op, ob, self._activate_table(op, bias[cols], cols))
            slot = _attr(op, "slots")[ob]
            lanes = y.lanes[ob]

            def set_conv(q0: int) -> None:
                self.emit(isa.SET_CONV, in_h=h, in_w=wd, out_h=oh, out_w=ow, kernel_h=kh,
                          kernel_w=kw, stride_h=s[0], stride_w=s[1], dilation_h=d[0],
                          dilation_w=d[1], pad_top=p[0], pad_left=p[1], pad_value=pad_byte,
                          taps_per_row=per_row, channels=c if per_row > 1 else 0,
                          first_pixel=q0)

            chunks = [(q0, qc, next(accs))
                      for q0, qc in chunk_spans(pixels_out, op.row_chunk)]
            self._chunked(
                op, ids, chunks,
                lambda k, q0, qc, acc, kept=kept: dict(
                    accumulate=int(k > 0), conv=1, tap=kept[k][0], ub=x.block(kept[k][1]),
                    acc=acc, length=qc, unsigned=unsigned, macs=qc * kept[k][2]),
                lambda q0, qc, acc, ob=ob, slot=slot, lanes=lanes: self.emit(
                    isa.ACTIVATE, src=acc, ub=y.block(ob) + q0, rows=qc, table=slot,
                    lanes=lanes),
                first, set_conv)
            first = False

    def _pool_config(self, op: tpu.PoolOp, pad_value: int, first_pixel: int) -> None:
        _, _, h, w = op.input.type.shape
        _, _, oh, ow = op.output.type.shape
        k, s, p, d = op.kernel, op.strides, op.pads, op.dilations
        self.emit(isa.SET_CONV, in_h=h, in_w=w, out_h=oh, out_w=ow, kernel_h=k[0],
                  kernel_w=k[1], stride_h=s[0], stride_w=s[1], dilation_h=d[0],
                  dilation_w=d[1], pad_top=p[0], pad_left=p[1], pad_value=pad_value & 0xFF,
                  taps_per_row=1, channels=0, first_pixel=first_pixel)

    def _max_pool(self, op: tpu.PoolOp) -> None:
        x, y = buffer_of(op.input), buffer_of(op.output)
        unsigned = int(not op.input.type.element.storage.signed)
        for cb in range(x.blocks):
            for q0, qc in chunk_spans(y.pixels, op.row_chunk):
                self._pool_config(op, 0, q0)
                self.emit(isa.POOL, sum=0, unsigned=unsigned, src=x.block(cb),
                          dst=y.block(cb) + q0, length=qc)

    def _upsample(self, op: tpu.UpsampleOp) -> None:
        """Max over a 1x1 window of the image set_conv's up_h/up_w repeat: a copy of
        one input pixel per output pixel, in chunks of ``row_chunk`` output pixels."""
        x, y = buffer_of(op.input), buffer_of(op.output)
        _, _, h, w = op.input.type.shape
        _, _, oh, ow = op.output.type.shape
        unsigned = int(not op.input.type.element.storage.signed)
        fh, fw = op.factors
        for cb in range(x.blocks):
            for q0, qc in chunk_spans(y.pixels, op.row_chunk):
                self.emit(isa.SET_CONV, in_h=h, in_w=w, out_h=oh, out_w=ow, kernel_h=1,
                          kernel_w=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
                          pad_top=0, pad_left=0, pad_value=0, taps_per_row=1, channels=0,
                          first_pixel=q0, up_h=fh if fh > 1 else 0,
                          up_w=fw if fw > 1 else 0)
                self.emit(isa.POOL, sum=0, unsigned=unsigned, src=x.block(cb),
                          dst=y.block(cb) + q0, length=qc)

    def _avg_pool(self, op: tpu.PoolOp) -> None:
        x, y = buffer_of(op.input), buffer_of(op.output)
        e_in = op.input.type.element
        unsigned = int(not e_in.storage.signed)
        self._load_table(op, 0, self._activate_table(op, np.zeros(LANES, np.int64),
                                                     slice(0, LANES)))
        slot = _attr(op, "slots")[0]
        accs = iter(_attr(op, "acc"))
        for cb in range(x.blocks):
            for q0, qc in chunk_spans(y.pixels, op.row_chunk):
                self._pool_config(op, e_in.zero_point, q0)
                acc = next(accs)
                self.emit(isa.POOL, sum=1, unsigned=unsigned, src=x.block(cb), dst=acc,
                          length=qc)
                self.emit(isa.ACTIVATE, src=acc, ub=y.block(cb) + q0, rows=qc, table=slot,
                          lanes=y.lanes[cb])

    def _avg_pool_valid(self, op: tpu.AvgPoolValidOp) -> None:
        """Window sums into the accumulators, as for an average pool; then, per row
        chunk, one activate per run of output pixels whose windows count the same
        number of positions, with that count's table (all loaded first)."""
        x, y = buffer_of(op.input), buffer_of(op.output)
        e_in, e_out = op.input.type.element, op.output.type.element
        unsigned = int(not e_in.storage.signed)
        for k in range(len(op.counts)):
            record = ActivateTable(0, e_out.zero_point, op.clamp_min, op.clamp_max,
                                   not e_out.storage.signed, np.zeros(LANES, np.int64),
                                   np.full(LANES, op.multipliers[k], np.int64),
                                   np.full(LANES, op.shifts[k], np.int64)).encode()
            self._load_table(op, k, record)
        slots = _attr(op, "slots")
        n, _, oh, ow = op.output.type.shape
        grid = np.array(quant.window_counts(op.input.type.shape[2:], (oh, ow), op.kernel,
                                            op.strides, op.pads, op.count_include_pad))
        table_of = np.tile(np.searchsorted(np.array(op.counts), grid).reshape(-1), n)
        accs = iter(_attr(op, "acc"))
        for cb in range(x.blocks):
            for q0, qc in chunk_spans(y.pixels, op.row_chunk):
                self._pool_config(op, e_in.zero_point, q0)
                acc = next(accs)
                self.emit(isa.POOL, sum=1, unsigned=unsigned, src=x.block(cb), dst=acc,
                          length=qc)
                tables = table_of[q0:q0 + qc]
                starts = np.flatnonzero(np.diff(tables, prepend=-1))
                for r0, r1 in zip(starts, [*starts[1:], qc], strict=True):
                    self.emit(isa.ACTIVATE, src=acc + int(r0), ub=y.block(cb) + q0 + int(r0),
                              rows=int(r1 - r0), table=slots[int(tables[r0])],
                              lanes=y.lanes[cb])

    def _add(self, op: tpu.AddOp) -> None:
        a, b, y = buffer_of(op.lhs), buffer_of(op.rhs), buffer_of(op.output)
        ea, eb, eo = (v.type.element for v in (op.lhs, op.rhs, op.output))
        record = AddTable(ea.zero_point, eb.zero_point, eo.zero_point, op.clamp_min,
                          op.clamp_max, not eo.storage.signed, quant.ADD_LEFT_SHIFT,
                          tuple(op.multiplier), tuple(op.shift)).encode()
        self._load_table(op, 0, record)
        self.emit(isa.ADD, src_a=a.base, src_b=b.base, ub=y.base, rows=y.rows,
                  table=_attr(op, "slots")[0])

    def _activate(self, op: tpu.ActivateOp) -> None:
        x, y = buffer_of(op.input), buffer_of(op.output)
        zp_in = int(qparams(op.input.type)[1])
        self._load_table(op, 0, self._activate_table(op, np.zeros(LANES, np.int64),
                                                     slice(0, LANES), zp_in))
        slot = _attr(op, "slots")[0]
        for cb in range(x.blocks):
            self.emit(isa.ACTIVATE, src_ub=1, src=x.block(cb), ub=y.block(cb), rows=x.pixels,
                      table=slot, lanes=y.lanes[cb])

    def _prelu(self, op: tpu.PReluOp) -> None:
        """One PRelu table per 256-channel block (the lanes' negative-side rescale),
        loaded before that block's activate."""
        x, y = buffer_of(op.input), buffer_of(op.output)
        e_in, e_out = op.input.type.element, op.output.type.element
        neg_m = np.array(op.negative_multiplier, np.int64)
        neg_s = np.array(op.negative_shift, np.int64)
        slots = _attr(op, "slots")
        for b in range(x.blocks):
            k = b if neg_m.size > 1 else 0
            if b == 0 or neg_m.size > 1:
                lanes = slice(b * LANES, (b + 1) * LANES) if neg_m.size > 1 else slice(0, 1)
                m_b, s_b = neg_m[lanes], neg_s[lanes]
                record = ActivateTable(
                    e_in.zero_point, e_out.zero_point, op.clamp_min, op.clamp_max,
                    not e_out.storage.signed, np.zeros(LANES, np.int64),
                    np.full(LANES, op.multiplier[0], np.int64),
                    np.full(LANES, op.shift[0], np.int64), None,
                    np.broadcast_to(m_b, (LANES,)) if m_b.size == 1 else m_b,
                    np.broadcast_to(s_b, (LANES,)) if s_b.size == 1 else s_b)
                self._load_table(op, k, record.encode())
            self.emit(isa.ACTIVATE, src_ub=1, function=isa.FUNCTIONS["prelu"],
                      src=x.block(b), ub=y.block(b), rows=x.pixels, table=slots[k],
                      lanes=y.lanes[b])

    def _lookup(self, op: tpu.LookupOp) -> None:
        e = op.input.type.element
        lut = np.array(op.table, np.int64).astype(np.int8)
        self._load_table(op, 0, self._copy_record(e, lut))
        slot = _attr(op, "slots")[0]
        x, y = buffer_of(op.input), buffer_of(op.output)
        function = isa.FUNCTIONS[op.function]
        for b in range(x.blocks):
            self.emit(isa.ACTIVATE, src_ub=1, function=function, src=x.block(b), ub=y.block(b),
                      rows=x.pixels, table=slot, lanes=y.lanes[b])

    def _concat(self, op: tpu.ConcatOp) -> None:
        """Each input copied into place with ``activate`` (identity table): along the
        batch into later rows, along channels into a lane offset of the rows."""
        y = buffer_of(op.output)
        self._load_table(op, 0, self._copy_record(op.output.type.element))
        slot = _attr(op, "slots")[0]
        offset = 0
        for v in op.inputs:
            x = buffer_of(v)
            for b in range(x.blocks):
                lanes = x.lanes[b]
                if op.axis == 0:
                    dst, column = y.block(b) + offset, 0
                else:
                    dst_block, column = divmod(offset + b * LANES, LANES)
                    dst = y.block(dst_block)
                self.emit(isa.ACTIVATE, src_ub=1, src=x.block(b), ub=dst, rows=x.pixels,
                          table=slot, lanes=lanes, column=column)
            offset += x.pixels if op.axis == 0 else v.type.shape[1]


def emit(graph: Graph, target: Target) -> Program:
    """The program of a planned and scheduled tpu graph."""
    if not any(isinstance(op, tpu.SyncOp) for op in graph.ops):
        raise QccError("emission needs a scheduled tpu graph (run tpu-lower, "
                       "tpu-plan-memory and tpu-schedule)")
    from qcc.backends.tpu_v1.emit_tiled import TiledEmitter, is_tiled

    if is_tiled(graph):  # batch chunks, spilled tensors, row bands (tpu-tile-ub)
        return TiledEmitter(graph, target).run()
    return Emitter(graph, target).run()


__all__ = ["Emitter", "emit", "onnx_locs"]
