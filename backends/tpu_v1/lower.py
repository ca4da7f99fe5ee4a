"""Lowering: an integer graph (after fold-rescale and fuse-relu) to a TPU program.

Each layer becomes weight-stationary passes over the 256x256 matrix unit:

- ``quant.dense`` + ``quant.requantize``: weights cut into 256x256 tiles (K rows by
  N columns); for every column tile, the K tiles are multiplied in turn into the
  same accumulator rows; rows (batch) run in chunks of half the accumulators, the
  two halves alternating (double buffering); ``activate`` applies bias,
  requantization and clamp and writes int8 rows back.
- ``quant.conv2d`` + ``quant.requantize``: one pass per filter tap (input rows
  addressed through the ``set_conv`` window geometry), or, when the input has at
  most 128 channels, several taps packed into one 256-lane row (fewer passes: the
  cost model below picks the smaller number of passes). Grouped and depthwise
  convolutions use block-diagonal tiles: a depthwise layer uses 1/256 of the array
  per pass, and the report says so.
- average pooling: the pool unit sums windows into the accumulators, ``activate``
  requantizes (the average's scale is in the accumulator type); max pooling runs in
  the pool unit straight to the Unified Buffer.
- ``quant.add`` (residual): the vector unit's ``add``; ``quant.requantize`` of an
  int8 tensor: ``activate`` from the Unified Buffer.
- reshape between [N, C, 1, 1] and [N, C]: no data movement (same rows).

The input zero point is folded into the bias: ``sum((x - zx) * w) = sum(x * w) -
zx * sum(w)``, and padded positions read ``zx``, so the matrix unit multiplies raw
bytes. The host quantizes inputs and dequantizes outputs (the descriptors carry the
parameters). Anything else is a compile error naming the ONNX node and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcc.backends.tpu_v1.isa import SYNC_HOST, SYNC_UNITS, Instruction
from qcc.backends.tpu_v1.memory import Buffer, MemoryPlanner, layout
from qcc.backends.tpu_v1.program import LANES, Program, TensorDesc
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, AddTable
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.diagnostics import QccError, onnx_locs, warn
from qcc.dialects import nn, quant
from qcc.interpreter import qparams
from qcc.ir.core import Module, Op, Value
from qcc.ir.types import TensorType, UniformQuantPerAxisType, UniformQuantType
from qcc.quant_arith import INT32_MAX, int32_overflow
from qcc.rewrite import constant_value

TILE = LANES * LANES
TABLE_SLOTS = 8


@dataclass
class Emitted:
    """Instructions with the layer each belongs to, and the weight-memory image."""

    instructions: list[tuple[str, dict]] = field(default_factory=list)
    layer_of: list[str] = field(default_factory=list)
    tiles: list[bytes] = field(default_factory=list)
    tables: list[bytes] = field(default_factory=list)
    useful_macs: list[int] = field(default_factory=list)


def _loc_name(op: Op) -> str:
    """The layer name of an op: its (first) ONNX node, else the op name."""
    locs = onnx_locs(op.loc)
    return locs[0].name if locs else op.name


def _float_reason(op: Op) -> str:
    """Why an op stayed in float, for the compile error."""
    if isinstance(op, nn.AvgPoolOp):
        return ("average pooling whose windows count different numbers of positions "
                "(padding not counted) has no integer form here; export with "
                "count_include_pad=1 or without padding")
    if isinstance(op, nn.SoftmaxOp | nn.SigmoidOp | nn.TanhOp):
        return (f"'{op.name}' stayed in float (no integer form in qcc yet); running it "
                "on the host is a later step")
    ins = ", ".join(str(v.type) for v in op.operands)
    return (f"no TPU mapping for '{op.name}' on ({ins}); ops other than the input "
            "quantize and output dequantize would need the host")


def _unsupported(op: Op, reason: str) -> QccError:
    return QccError(f"'{op.name}' cannot run on the TPU: {reason}", op.loc)


class Lowering:
    def __init__(self, module: Module, target: Target):
        if (target.array.rows, target.array.cols) != (LANES, LANES) or \
                target.unified_buffer.row_bytes != LANES:
            raise QccError(f"target '{target.name}': qcc lowers to a {LANES}x{LANES} array "
                           f"with {LANES}-byte rows only")
        self.graph = module.main
        self.ub_rows = target.unified_buffer.rows
        self.acc_half = target.accumulators.rows // 2
        self.fifo_depth = target.weights.fifo_depth
        self.weight_capacity = target.weight_memory.capacity_bytes
        self.target = target.name
        self.target_desc = target  # carried by the program (binary TARGET section)
        self.out = Emitted()
        self.buffers: dict[Value, Buffer] = {}
        self.layer = "program"
        self.chunk = 0  # alternates accumulator halves
        self.slot = 0
        self.layer_sync: int | None = None  # where the current layer's sync is
        self.fifo_empty_at_sync = False

    # ------------------------------------------------------------------ emission
    def emit(self, op: str, macs: int = 0, **args) -> None:
        self.out.instructions.append((op, args))
        self.out.layer_of.append(self.layer)
        self.out.useful_macs.append(macs)

    def add_table(self, record: bytes) -> int:
        assert len(record) == RECORD_BYTES
        self.out.tables.append(record)
        return len(self.out.tables) - 1

    def load_table(self, record: bytes) -> int:
        slot = self.slot
        self.slot = (self.slot + 1) % TABLE_SLOTS
        self.emit("load_table", slot=slot, table_index=self.add_table(record))
        return slot

    def acc_base(self) -> int:
        base = (self.chunk % 2) * self.acc_half
        self.chunk += 1
        return base

    # ------------------------------------------------------------------ driver
    def run(self) -> Program:
        g = self.graph
        inputs, outputs = self._io()
        ops = [op for op in g.ops if op not in self._host_ops and not self._is_weight(op)]
        planner = self._plan_memory(ops, inputs, outputs)
        allocate_results, release_dead = planner.allocate_results, planner.release_dead
        host = 0
        in_descs = []
        for value, name in inputs:
            desc = self._desc(name, value, host)
            host += desc.host_bytes
            in_descs.append(desc)
            self._transfer("read_host", desc, self.buffers[value])
        self.emit("sync", kind=SYNC_HOST)
        done: set[Op] = set()
        for op in ops:
            if op in done:
                continue
            group = [op, *self._fused_with(op)]
            for member in group:  # outputs first, so they never overlap live inputs
                allocate_results(member)
            self.layer = _loc_name(op)
            self.layer_sync = len(self.out.instructions)
            self.fifo_empty_at_sync = True
            self.emit("sync", kind=SYNC_UNITS)
            self._lower(op)
            for member in group:
                release_dead(member)
            done.update(group)
        self.layer = "program"
        self.emit("sync", kind=SYNC_UNITS)
        out_descs = []
        for value, name in outputs:
            desc = self._desc(name, value, host)
            host += desc.host_bytes
            out_descs.append(desc)
            self._transfer("write_host", desc, self.buffers[value])
        self.emit("sync", kind=SYNC_HOST)
        self.emit("halt")
        return self._finish(in_descs, out_descs)

    def _finish(self, inputs: list[TensorDesc], outputs: list[TensorDesc]) -> Program:
        tiles_end = len(self.out.tiles) * TILE
        image = tiles_end + len(self.out.tables) * RECORD_BYTES
        if image > self.weight_capacity:
            raise QccError(f"the weight image ({len(self.out.tiles)} tiles of {TILE} bytes and "
                           f"{len(self.out.tables)} tables: {image} bytes) does not fit the "
                           f"{self.weight_capacity}-byte weight memory of target "
                           f"'{self.target}'")
        instrs = []
        for op, args in self.out.instructions:
            if op == "load_table":
                args = {"slot": args["slot"],
                        "dram": tiles_end + args["table_index"] * RECORD_BYTES}
            instrs.append(Instruction(op, **args))
        weights = b"".join(self.out.tiles) + b"".join(self.out.tables)
        return Program(instrs, weights, inputs, outputs, self.target,
                       layer_of=list(self.out.layer_of),
                       useful_macs=list(self.out.useful_macs), target_desc=self.target_desc)

    # ------------------------------------------------------------------ I/O
    def _io(self) -> tuple[list[tuple[Value, str]], list[tuple[Value, str]]]:
        g = self.graph
        self._host_ops: set[Op] = set()
        inputs = []
        for arg, name in zip(g.args, g.input_names, strict=True):
            users = arg.users
            if len(users) != 1 or not isinstance(users[0], quant.QuantizeOp) or \
                    not isinstance(users[0].output.type.element, UniformQuantType):
                raise QccError(f"input '{name}' must feed exactly one per-tensor "
                               "quant.quantize (the host quantizes inputs): quantize the "
                               "model first")
            self._host_ops.add(users[0])
            value = users[0].output
            # a reshape right after the input is the host's: it writes the buffer in
            # the reshaped layout (a row-major reshape moves no element)
            reshapes = value.users
            if len(reshapes) == 1 and isinstance(reshapes[0], nn.ReshapeOp):
                self._host_ops.add(reshapes[0])
                value = reshapes[0].output
            inputs.append((value, name))
        outputs = []
        for v, name in zip(g.outputs, g.output_names, strict=True):
            if not isinstance(v.op, quant.DequantizeOp) or \
                    not isinstance(v.op.input.type.element, UniformQuantType):
                raise QccError(f"output '{name}' must come from a per-tensor "
                               "quant.dequantize (the host dequantizes outputs)",
                               v.op.loc if v.op else g.return_op.loc)
            self._host_ops.add(v.op)
            outputs.append((v.op.input, name))
        self._host_ops.add(g.return_op)
        return inputs, outputs

    def _desc(self, name: str, v: Value, host: int) -> TensorDesc:
        e = v.type.element
        return TensorDesc(name, v.type.shape, "u8" if not e.storage.signed else "i8",
                          e.scale, e.zero_point, host)

    def _transfer(self, kind: str, desc: TensorDesc, buf: Buffer) -> None:
        host = desc.host_offset
        for b, lanes in enumerate(desc.blocks):
            self.emit(kind, host=host, ub=buf.block(b), rows=buf.pixels, row_bytes=lanes,
                      host_stride=lanes)
            host += lanes * buf.pixels

    # ------------------------------------------------------------------ memory
    def _is_weight(self, op: Op) -> bool:
        """Constants and their dequantize ops are weights, handled by their layer."""
        if isinstance(op, nn.ConstantOp):
            return True
        return isinstance(op, quant.DequantizeOp) and isinstance(op.input.op, nn.ConstantOp)

    def _plan_memory(self, ops: list[Op], inputs, outputs) -> MemoryPlanner:
        return MemoryPlanner(ops, [v for v, _ in inputs], [v for v, _ in outputs],
                             self.ub_rows, self.buffers, self._ub_resident, self._alias_of,
                             self.graph.return_op.loc)

    def _ub_resident(self, v: Value) -> bool:
        t = v.type
        if not isinstance(t, TensorType) or not isinstance(t.element, UniformQuantType):
            return False
        return t.element.storage.width == 8

    def _alias_of(self, op: Op) -> Value | None:
        if isinstance(op, nn.ReshapeOp) and op.input in self.buffers and \
                layout(op.input.type)[:2] == layout(op.output.type)[:2]:
            return op.input
        return None

    # ------------------------------------------------------------------ layers
    _ACCUMULATING = (quant.Conv2dOp, quant.DenseOp, quant.AvgPoolOp, quant.GlobalAvgPoolOp)

    def _lookup_chain(self, op: Op) -> list[Op] | None:
        """[sigmoid|tanh, quantize] after a dequantize of an int8 tensor: one lookup
        table in the activation unit."""
        if not isinstance(op, quant.DequantizeOp) or not self._ub_resident(op.input):
            return None
        act = op.output.users
        if len(act) != 1 or not isinstance(act[0], nn.SigmoidOp | nn.TanhOp):
            return None
        q = act[0].output.users
        if len(q) != 1 or not isinstance(q[0], quant.QuantizeOp) or \
                not self._ub_resident(q[0].output) or \
                q[0].output.type.element.storage != op.input.type.element.storage:
            return None
        return [act[0], q[0]]

    def _fused_with(self, op: Op) -> list[Op]:
        """The requantize that empties an accumulating op's int32 result, or the
        nonlinearity and quantize a lookup table replaces."""
        chain = self._lookup_chain(op)
        if chain is not None:
            return chain
        if not isinstance(op, self._ACCUMULATING):
            return []
        users = op.output.users
        if len(users) != 1 or not isinstance(users[0], quant.RequantizeOp):
            raise _unsupported(op, "its int32 result must feed exactly one "
                                   "quant.requantize (run fold-rescale)")
        return [users[0]]

    def _lower(self, op: Op) -> None:
        if isinstance(op, self._ACCUMULATING):
            requant = self._fused_with(op)[0]
            if isinstance(op, quant.DenseOp):
                self._dense(op, requant)
            elif isinstance(op, quant.Conv2dOp):
                self._conv(op, requant)
            else:
                self._avg_pool(op, requant)
            return
        if isinstance(op, nn.MaxPoolOp) and self._ub_resident(op.output):
            self._max_pool(op)
        elif isinstance(op, quant.AddOp):
            self._add(op)
        elif isinstance(op, quant.RequantizeOp) and self._ub_resident(op.input):
            self._requantize_ub(op)
        elif isinstance(op, nn.ConcatOp) and self._ub_resident(op.output):
            self._concat(op)
        elif isinstance(op, nn.ReshapeOp) and self.buffers.get(op.output) is \
                self.buffers.get(op.input):
            pass  # same rows
        elif isinstance(op, nn.ReshapeOp):
            raise _unsupported(op, f"reshape {op.input.type} -> {op.output.type} changes "
                                   "the row layout (only [N, C, 1, 1] <-> [N, C] is free)")
        elif self._lookup_chain(op) is not None:
            self._lookup(op, *self._lookup_chain(op))
        elif isinstance(op, quant.DequantizeOp):
            # a float op follows: name it, not the dequantize
            float_op = next((u for u in op.output.users if u not in self._host_ops), op)
            raise _unsupported(float_op, _float_reason(float_op))
        else:
            raise _unsupported(op, _float_reason(op))

    def _activate_table(self, requant: quant.RequantizeOp, bias: np.ndarray,
                        channels: slice, zp_in: int = 0) -> bytes:
        e_out = requant.output.type.element
        ms = np.array(requant.multiplier, np.int64)
        shifts = np.array(requant.shift, np.int64)
        if ms.size > 1:
            ms, shifts = ms[channels], shifts[channels]
        return ActivateTable(zp_in, e_out.zero_point, requant.clamp_min, requant.clamp_max,
                             not e_out.storage.signed, bias,
                             np.broadcast_to(ms, (LANES,)) if ms.size == 1 else ms,
                             np.broadcast_to(shifts, (LANES,)) if shifts.size == 1
                             else shifts).encode()

    def _weights(self, op: Op) -> tuple[np.ndarray, np.ndarray]:
        """Integer weights and int32 bias (zeros when absent) of a conv or dense."""
        w_src = op.weight.op.input if isinstance(op.weight.op, quant.DequantizeOp) else \
            op.weight
        w = constant_value(w_src)
        if w is None:
            raise _unsupported(op, "its weights are not constants")
        e = op.weight.type.element
        zps = e.zero_points if isinstance(e, UniformQuantPerAxisType) else (e.zero_point,)
        if any(zps):
            raise _unsupported(op, "weights with a nonzero zero point")
        n_out = op.output.type.shape[1] if isinstance(op, quant.Conv2dOp) else \
            op.output.type.shape[-1]
        b = constant_value(op.bias) if op.bias is not None else np.zeros(n_out, np.int64)
        if b is None:
            raise _unsupported(op, "its bias is not a constant")
        return w.astype(np.int64), b.astype(np.int64)

    def _check_accumulator_bound(self, op: Op, w_kn: np.ndarray, bias: np.ndarray) -> None:
        """Warn when int32 accumulators could overflow for some input: the matrix unit
        sums raw input bytes (|x| <= 128, or 255 unsigned) times the weights, then the
        bias (with the zero-point correction) is added."""
        e = op.input.type.element
        folded = int32_overflow(bias)
        if folded is not None:  # the activation table's int32 would wrap it around
            raise QccError(f"'{op.name}': the bias with the input zero point folded in "
                           f"(b - {e.zero_point} * sum(w)) reaches {folded}, outside the "
                           "int32 of the activation table; a smaller bias or an input range "
                           "closer to symmetric (zero point near 0) avoids it", op.loc)
        largest_input = 255 if not e.storage.signed else 128
        bound = largest_input * np.abs(w_kn).sum(axis=0) + np.abs(bias)
        worst = int(bound.max(initial=0))
        if worst > INT32_MAX:
            warn(f"'{op.name}': the int32 accumulators could overflow: |sum| can reach "
                 f"{worst} > {INT32_MAX} (K = {w_kn.shape[0]}); the simulator stops with an "
                 "error if a real input gets there", op.loc)

    def _push_tiles(self, tiles: list[np.ndarray]) -> list[int]:
        """Add tiles to the weight image; return their indices."""
        start = len(self.out.tiles)
        for t in tiles:
            self.out.tiles.append(np.ascontiguousarray(t, np.int8).tobytes())
        return list(range(start, start + len(tiles)))

    def _stream(self, passes: list[tuple[int, dict]]) -> None:
        """Matmuls, each with its weight tile; read_weights runs up to the FIFO depth
        ahead of the matmuls that consume the tiles. A layer's first tiles are fetched
        before the sync that starts it (weights do not depend on the Unified Buffer,
        and the FIFO is empty there), so the fetch overlaps the previous layer."""
        depth = self.fifo_depth
        ahead = min(depth, len(passes))
        ids = [passes[k][0] for k in range(ahead)]
        if ids == list(range(ids[0], ids[0] + ahead)):  # consecutive: one repeated read
            first = [("read_weights", {"dram": ids[0] * TILE, "count": ahead})]
        else:
            first = [("read_weights", {"dram": i * TILE, "count": 1}) for i in ids]
        if self.layer_sync is not None and self.fifo_empty_at_sync:
            at = self.layer_sync
            self.out.instructions[at:at] = first
            self.out.layer_of[at:at] = [self.layer] * len(first)
            self.out.useful_macs[at:at] = [0] * len(first)
            self.layer_sync += len(first)
        else:
            for op, args in first:
                self.emit(op, **args)
        self.fifo_empty_at_sync = False
        for k, (_, args) in enumerate(passes):
            self.emit("matmul", macs=args.pop("macs"), switch=1, **args)
            if k + depth < len(passes):
                self.emit("read_weights", dram=passes[k + depth][0] * TILE, count=1)

    def _dense(self, op: quant.DenseOp, requant: quant.RequantizeOp) -> None:
        x, y = self.buffers[op.input], self.buffers[requant.output]
        w, bias = self._weights(op)
        n_dim = w.shape[1]
        zx = op.input.type.element.zero_point
        unsigned = int(not op.input.type.element.storage.signed)
        rows = x.pixels
        for nb in range(y.blocks):
            cols = slice(nb * LANES, min(n_dim, (nb + 1) * LANES))
            wn = w[:, cols]
            tiles = []
            for kb in range(x.blocks):
                tile = np.zeros((LANES, LANES), np.int64)
                part = wn[kb * LANES:(kb + 1) * LANES]
                tile[:part.shape[0], :part.shape[1]] = part
                tiles.append(tile)
            ids = self._push_tiles(tiles)
            b = bias[cols] - zx * wn.sum(axis=0)
            self._check_accumulator_bound(op, wn, b)
            slot = self.load_table(self._activate_table(requant, b, cols))
            for m0 in range(0, rows, self.acc_half):
                mc = min(self.acc_half, rows - m0)
                acc = self.acc_base()
                passes = [(ids[kb], dict(accumulate=int(kb > 0), ub=x.block(kb) + m0, acc=acc,
                                         length=mc, unsigned=unsigned,
                                         macs=mc * x.lanes[kb] * (cols.stop - cols.start)))
                          for kb in range(x.blocks)]
                self._stream(passes)
                self.emit("activate", src=acc, ub=y.block(nb) + m0, rows=mc, table=slot,
                          lanes=y.lanes[nb])

    def _conv(self, op: quant.Conv2dOp, requant: quant.RequantizeOp) -> None:
        x, y = self.buffers[op.input], self.buffers[requant.output]
        w, bias = self._weights(op)
        n, c, h, wd = op.input.type.shape
        o, cg, kh, kw = w.shape
        _, _, oh, ow = op.output.type.shape
        groups = op.group
        og = o // groups
        zx = op.input.type.element.zero_point
        unsigned = int(not op.input.type.element.storage.signed)
        taps = kh * kw
        # full [tap, C, O] matrices: grouped convs become block diagonal
        full = np.zeros((taps, c, o), np.int64)
        present = np.zeros((taps, c, o), bool)  # which entries are real weights
        for g in range(groups):
            block = w[g * og:(g + 1) * og].transpose(2, 3, 1, 0).reshape(taps, cg, og)
            full[:, g * cg:(g + 1) * cg, g * og:(g + 1) * og] = block
            present[:, g * cg:(g + 1) * cg, g * og:(g + 1) * og] = True
        # cost model: passes per output tile, one tap each, or packed taps
        per_row = LANES // c if (x.blocks == 1 and c <= LANES // 2) else 1
        per_row = max(1, min(per_row, taps))
        steps = []  # (first tap, channel block, tile rows)
        if per_row > 1:
            for t0 in range(0, taps, per_row):
                steps.append((t0, 0, full[t0:t0 + per_row].reshape(-1, o),
                              present[t0:t0 + per_row].reshape(-1, o)))
        else:
            for t in range(taps):
                for cb in range(x.blocks):
                    rows = slice(cb * LANES, (cb + 1) * LANES)
                    steps.append((t, cb, full[t, rows], present[t, rows]))
        pixels_out = n * oh * ow
        s, d, p = op.strides, op.dilations, op.pads
        pad_byte = zx & 0xFF
        for ob in range(y.blocks):
            cols = slice(ob * LANES, min(o, (ob + 1) * LANES))
            tiles, kept = [], []
            for t0, cb, rows, mask in steps:
                if not mask[:, cols].any():
                    continue  # block diagonal: no weight of this output block here
                part = rows[:, cols]
                tile = np.zeros((LANES, LANES), np.int64)
                tile[:part.shape[0], :part.shape[1]] = part
                tiles.append(tile)
                kept.append((t0, cb, int(np.count_nonzero(mask[:, cols]))))
            if not tiles:  # an all-zero layer still needs its accumulators written
                tiles.append(np.zeros((LANES, LANES), np.int64))
                kept.append((0, 0, 0))
            ids = self._push_tiles(tiles)
            b = bias[cols] - zx * full[:, :, cols].sum(axis=(0, 1))
            self._check_accumulator_bound(op, full[:, :, cols].reshape(-1, cols.stop -
                                                                       cols.start), b)
            slot = self.load_table(self._activate_table(requant, b, cols))
            for q0 in range(0, pixels_out, self.acc_half):
                qc = min(self.acc_half, pixels_out - q0)
                self.emit("set_conv", in_h=h, in_w=wd, out_h=oh, out_w=ow, kernel_h=kh,
                          kernel_w=kw, stride_h=s[0], stride_w=s[1], dilation_h=d[0],
                          dilation_w=d[1], pad_top=p[0], pad_left=p[1], pad_value=pad_byte,
                          taps_per_row=per_row, channels=c if per_row > 1 else 0,
                          first_pixel=q0)
                acc = self.acc_base()
                passes = [(ids[k], dict(accumulate=int(k > 0), conv=1, tap=t0,
                                        ub=x.block(cb), acc=acc, length=qc,
                                        unsigned=unsigned, macs=qc * used))
                          for k, (t0, cb, used) in enumerate(kept)]
                self._stream(passes)
                self.emit("activate", src=acc, ub=y.block(ob) + q0, rows=qc, table=slot,
                          lanes=y.lanes[ob])

    def _pool_config(self, op: Op, x_t: TensorType, y_t: TensorType, kernel, strides, pads,
                     dilations, pad_value: int, first_pixel: int) -> None:
        _, _, h, w = x_t.shape
        _, _, oh, ow = y_t.shape
        self.emit("set_conv", in_h=h, in_w=w, out_h=oh, out_w=ow, kernel_h=kernel[0],
                  kernel_w=kernel[1], stride_h=strides[0], stride_w=strides[1],
                  dilation_h=dilations[0], dilation_w=dilations[1], pad_top=pads[0],
                  pad_left=pads[1], pad_value=pad_value & 0xFF, taps_per_row=1, channels=0,
                  first_pixel=first_pixel)

    def _max_pool(self, op: nn.MaxPoolOp) -> None:
        x, y = self.buffers[op.input], self.buffers[op.output]
        unsigned = int(not op.input.type.element.storage.signed)
        for cb in range(x.blocks):
            for q0 in range(0, y.pixels, self.acc_half):
                qc = min(self.acc_half, y.pixels - q0)
                self._pool_config(op, op.input.type, op.output.type, op.kernel, op.strides,
                                  op.pads, op.dilations, 0, q0)
                self.emit("pool", sum=0, unsigned=unsigned, src=x.block(cb),
                          dst=y.block(cb) + q0, length=qc)

    def _avg_pool(self, op: quant.AvgPoolOp | quant.GlobalAvgPoolOp,
                  requant: quant.RequantizeOp) -> None:
        x, y = self.buffers[op.input], self.buffers[requant.output]
        e_in = op.input.type.element
        unsigned = int(not e_in.storage.signed)
        if isinstance(op, quant.GlobalAvgPoolOp):
            _, _, h, w = op.input.type.shape
            kernel, strides, pads = (h, w), (1, 1), (0, 0, 0, 0)
            if h > 255 or w > 255:
                raise _unsupported(op, f"a {h}x{w} window exceeds the pool unit's 255")
        else:
            kernel, strides, pads = op.kernel, op.strides, op.pads
        slot = self.load_table(self._activate_table(requant, np.zeros(LANES, np.int64),
                                                    slice(0, LANES)))
        for cb in range(x.blocks):
            for q0 in range(0, y.pixels, self.acc_half):
                qc = min(self.acc_half, y.pixels - q0)
                self._pool_config(op, op.input.type, requant.output.type, kernel, strides,
                                  pads, (1, 1), e_in.zero_point, q0)
                acc = self.acc_base()
                self.emit("pool", sum=1, unsigned=unsigned, src=x.block(cb), dst=acc,
                          length=qc)
                self.emit("activate", src=acc, ub=y.block(cb) + q0, rows=qc, table=slot,
                          lanes=y.lanes[cb])

    def _add(self, op: quant.AddOp) -> None:
        if op.lhs.type.shape != op.rhs.type.shape:
            raise _unsupported(op, f"broadcasting add {op.lhs.type} + {op.rhs.type}")
        a, b, y = self.buffers[op.lhs], self.buffers[op.rhs], self.buffers[op.output]
        ea, eb, eo = (v.type.element for v in (op.lhs, op.rhs, op.output))
        record = AddTable(ea.zero_point, eb.zero_point, eo.zero_point, op.clamp_min,
                          op.clamp_max, not eo.storage.signed, quant.ADD_LEFT_SHIFT,
                          tuple(op.multiplier), tuple(op.shift)).encode()
        slot = self.load_table(record)
        self.emit("add", src_a=a.base, src_b=b.base, ub=y.base, rows=y.rows, table=slot)

    def _copy_table(self, e: UniformQuantType) -> int:
        """An activation table that copies int8 rows unchanged (M = 1, same zero point)."""
        record = ActivateTable(e.zero_point, e.zero_point, e.storage_min, e.storage_max,
                               not e.storage.signed, np.zeros(LANES, np.int64),
                               np.full(LANES, 1 << 30, np.int64), np.ones(LANES, np.int64))
        return self.load_table(record.encode())

    def _concat(self, op: nn.ConcatOp) -> None:
        """Concatenation copies each input into place with `activate` (identity
        requantization): along the batch, into later rows; along channels, into a
        column offset of the destination rows, when no input block has to be split
        across two destination blocks."""
        y = self.buffers[op.output]
        e = op.output.type.element
        slot = self._copy_table(e)
        axis = op.axis
        offset = 0
        for v in op.inputs:
            x = self.buffers[v]
            for b in range(x.blocks):
                lanes = x.lanes[b]
                if axis == 0:
                    rows = x.pixels
                    dst, column = y.block(b) + offset, 0
                elif axis == 1:
                    first = offset + b * LANES
                    dst_block, column = divmod(first, LANES)
                    if column + lanes > LANES:
                        raise _unsupported(op, f"input {v.type} would straddle two "
                                               "256-channel blocks of the result")
                    rows, dst = x.pixels, y.block(dst_block)
                else:
                    raise _unsupported(op, f"concatenation along axis {axis} (only batch "
                                           "and channels map to rows and lanes)")
                self.emit("activate", src_ub=1, src=x.block(b), ub=dst, rows=rows,
                          table=slot, lanes=lanes, column=column)
            offset += x.pixels if axis == 0 else v.type.shape[1]

    def _lookup(self, dq: quant.DequantizeOp, act: Op, q: quant.QuantizeOp) -> None:
        """quantize(f(dequantize(x))) for every one of the 256 codes, computed with the
        interpreter's own functions, so the table gives exactly what it computes."""
        from qcc.interpreter import SEMANTICS

        e = dq.input.type.element
        codes = np.arange(e.storage.min, e.storage.max + 1).astype(e.numpy_dtype)
        real = SEMANTICS[quant.DequantizeOp](dq, codes)
        with np.errstate(all="ignore"):
            lut = SEMANTICS[quant.QuantizeOp](q, SEMANTICS[type(act)](act, real))
        record = ActivateTable(e.zero_point, e.zero_point, e.storage.min, e.storage.max,
                               not e.storage.signed, np.zeros(LANES, np.int64),
                               np.full(LANES, 1 << 30, np.int64), np.ones(LANES, np.int64),
                               lut.astype(np.int64).astype(np.uint8).view(np.int8))
        slot = self.load_table(record.encode())
        x, y = self.buffers[dq.input], self.buffers[q.output]
        function = 1 if isinstance(act, nn.SigmoidOp) else 2
        for b in range(x.blocks):
            self.emit("activate", src_ub=1, function=function, src=x.block(b), ub=y.block(b),
                      rows=x.pixels, table=slot, lanes=y.lanes[b])

    def _requantize_ub(self, op: quant.RequantizeOp) -> None:
        x, y = self.buffers[op.input], self.buffers[op.output]
        if isinstance(op.input.type.element, UniformQuantPerAxisType):
            raise _unsupported(op, "requantizing a per-channel int8 tensor")
        zp_in = int(qparams(op.input.type)[1])
        slot = self.load_table(self._activate_table(op, np.zeros(LANES, np.int64),
                                                    slice(0, LANES), zp_in))
        for cb in range(x.blocks):
            self.emit("activate", src_ub=1, src=x.block(cb), ub=y.block(cb), rows=x.pixels,
                      table=slot, lanes=y.lanes[cb])


def lower(module: Module, target: Target | str = "tpu-v1") -> Program:
    """Compile the integer graph of ``module`` to a TPU program for ``target`` (a
    Target, a shipped target's name, or a path to a target file)."""
    if not isinstance(target, Target):
        target = load_target(target)
    return Lowering(module, target).run()
