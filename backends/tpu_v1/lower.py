"""``tpu-lower``: the integer graph (after fold-rescale and fuse-relu) to the ``tpu``
dialect, one rewrite pattern per op family (docs/tpu-dialect.md).

- ``quant.dense`` + ``quant.requantize`` -> ``tpu.matmul``: weights cut into 256x256
  tiles (K rows by N columns); for every column tile the K tiles are multiplied in
  turn into the same accumulator rows; rows (batch) run in equal chunks of at most
  half the accumulators (the two halves alternate: double buffering), and each pair
  of chunks shares every weight tile (fetched once per pair); the activation unit
  applies bias, requantization and clamp and writes int8 rows back.
- ``quant.conv2d`` + ``quant.requantize`` -> ``tpu.conv2d``: one pass per filter tap
  (input rows addressed through the window geometry), or, when the input has at
  most 128 channels, several taps packed into one 256-lane row (fewer passes: the
  plan takes the smaller number of passes). Grouped and depthwise convolutions use
  block-diagonal tiles; tiles with no weight of an output block are dropped.
- average pooling + requantize -> ``tpu.pool{kind="avg"}``: window sums into the
  accumulators, then requantize; max pooling -> ``tpu.pool{kind="max"}``.
  Average pooling without counted padding (``quant.avg_pool_valid``) ->
  ``tpu.avg_pool_valid``: window sums, then one activation table per window count.
- ``quant.add`` -> ``tpu.add`` (the vector adder); ``quant.requantize`` of an int8
  tensor -> ``tpu.activate``; dequantize, sigmoid/tanh, quantize -> ``tpu.lookup``
  (a 256-entry table); ``nn.concat`` -> ``tpu.concat`` (copies); a reshape between
  [N, C, 1, 1] and [N, C] -> ``tpu.reshape`` (same rows).
- Layouts of real CNNs (issue 15): a flatten of a spatial map into ``quant.dense`` ->
  ``tpu.conv2d`` over the whole map (weights permuted to OIHW at compile time) and a
  free ``tpu.reshape``; a channel concat whose input straddles 256-channel blocks and
  a channel shuffle -> channel copies on the matrix unit (1x1 ``tpu.conv2d`` with 0/1
  weights and the identity requantization), then ``tpu.concat``; a nearest Resize by
  integer factors -> ``tpu.upsample`` (the pool unit copies pixels through set_conv's
  up_h/up_w), with a lookup table when its output scale differs; ``quant.prelu`` ->
  ``tpu.prelu`` (activate function prelu: two rescales per lane, by sign).
- Program inputs: the host quantizes (and may reshape) them; ``tpu.read_host``
  moves them into the Unified Buffer. Outputs: ``tpu.write_host``, then the host
  dequantizes.

The input zero point is folded into the bias, ``sum((x - zx) * w) = sum(x * w) -
zx * sum(w)``, and padded positions read ``zx``, so the matrix unit multiplies raw
bytes. Anything else is a compile error naming the ONNX node and the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.partition import HOST, partition, place_forced
from qcc.backends.tpu_v1.program import LANES
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.diagnostics import QccError, onnx_locs, warn
from qcc.dialects import nn, quant
from qcc.dialects.nn import constant_value
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Graph, Module, Op, ReturnOp, Rewriter, Value
from qcc.ir.traits import Clamp, Elementwise, ScaleTransparent
from qcc.ir.types import (
    IntegerType,
    TensorType,
    UniformQuantPerAxisType,
    UniformQuantType,
    i32,
)
from qcc.passmanager import Pass, PassContext, register_pass
from qcc.quant_arith import INT32_MAX, int32_overflow
from qcc.rewrite import Pattern, apply_patterns


def loc_name(op: Op) -> str:
    """The layer name of an op: its (first) ONNX node, else the op name."""
    locs = onnx_locs(op.loc)
    return locs[0].name if locs else op.name


# backwards-compatible name
_loc_name = loc_name


class Refused(QccError):
    """A pattern cannot map its op to the TPU: the op goes to the host with
    ``reason`` (a QccError where no partitioning catches it)."""

    def __init__(self, op: Op, reason: str):
        super().__init__(f"'{op.name}' cannot run on the TPU: {reason}", op.loc)
        self.reason = reason


def _unsupported(op: Op, reason: str) -> QccError:
    return Refused(op, reason)


def resolve_target(target: str, ctx: PassContext) -> Target:
    """A backend pass's target: its ``target`` option (which the later backend passes
    of the pipeline then use too), else the context's, else tpu-v1."""
    if target:
        loaded = load_target(target)
        ctx.data["target"] = loaded
        return loaded
    t = ctx.data.get("target")
    if isinstance(t, Target):
        return t
    return load_target(t or "tpu-v1")


# --------------------------------------------------------------------------- queries

def ub_resident(v: Value) -> bool:
    """An 8-bit per-tensor quantized tensor: lives in the Unified Buffer as rows."""
    t = v.type
    return isinstance(t, TensorType) and isinstance(t.element, UniformQuantType) and \
        t.element.storage.width == 8


def in_unified_buffer(v: Value) -> bool:
    """A tensor that lives in the Unified Buffer as rows: an 8-bit per-tensor one
    (``ub_resident``), or a matrix unit result with one scale per lane (which only
    goes back to the host: no TPU op reads it)."""
    t = v.type
    return ub_resident(v) or (
        isinstance(t, TensorType) and isinstance(t.element, UniformQuantPerAxisType) and
        t.element.storage.width == 8 and isinstance(v.op, tpu.MatmulOp | tpu.WriteHostOp))


def is_weight(op: Op) -> bool:
    """Constants and their dequantize ops: weights, tables and biases of a layer."""
    if isinstance(op, nn.ConstantOp):
        return True
    return isinstance(op, quant.DequantizeOp) and isinstance(op.input.op, nn.ConstantOp)


def host_role(op: Op) -> str | None:
    """What a runtime op of a lowered graph does (the host's input quantize and
    output dequantize), or None for another op (a host segment's op included)."""
    if HOST in op.attributes:
        return None
    if isinstance(op, tpu.HostTensorOp):
        return "keeps a host segment's result in host memory for a later one"
    if isinstance(op, tpu.HostInputOp):
        return "keeps the input in host memory as given"
    # (of a model input: a quantize of another value feeding a reshape is a host op)
    if isinstance(op, quant.QuantizeOp) and op.input.op is None and \
            any(isinstance(u, tpu.ReadHostOp | nn.ReshapeOp) for u in op.output.users):
        return "quantizes the input"
    if isinstance(op, nn.ReshapeOp) and isinstance(op.input.op, quant.QuantizeOp) and \
            op.input.op.input.op is None and \
            any(isinstance(u, tpu.ReadHostOp) for u in op.output.users):
        return "the host writes the input in this layout"
    if isinstance(op, quant.DequantizeOp) and op.output.users and \
            all(isinstance(u, ReturnOp) for u in op.output.users) and \
            (isinstance(op.input.op, tpu.WriteHostOp) or
             (op.input.op is not None and HOST in op.input.op.attributes)):
        return "dequantizes the output"
    return None


# --------------------------------------------------------------------------- I/O

def host_input_dtype(t) -> str | None:
    """The binary's dtype of an input the host keeps as given (the IR's element type
    name: f32, i64, i32, i1), or None."""
    from qcc.backends.tpu_v1.program import RAW_DTYPES

    e = t.element if isinstance(t, TensorType) else None
    return str(e) if e is not None and str(e) in RAW_DTYPES else None


def _host_input(graph: Graph, rw: Rewriter, arg: Value, name: str, place) -> None:
    """An input no per-tensor quantize reads alone (token ids, a mask, a float input
    of host ops): the host keeps it as given (``tpu.host_input``); the ops reading it
    go to the host. A float input read only by quantize ops of another kind is a
    model that was not quantized for the TPU."""
    from qcc.backends.tpu_v1.program import RAW_DTYPES

    users = arg.users
    if host_input_dtype(arg.type) is None or not users or \
            all(isinstance(u, quant.QuantizeOp) for u in users):
        raise QccError(f"input '{name}' must feed exactly one per-tensor "
                       "quant.quantize (the host quantizes inputs), or be a "
                       f"{'/'.join(RAW_DTYPES)} input the host keeps for host ops "
                       f"(it is {arg.type}): quantize the model first")
    keep = tpu.HostInputOp.build(arg, tensor=name, loc=users[0].loc, name=name)
    place(keep)
    for u in users:
        for i, x in enumerate(u.operands):
            if x is arg:
                rw.set_operand(u, i, keep.output)


def _lower_io(graph: Graph, rw: Rewriter) -> None:
    """Program inputs and outputs: host quantize (and reshape) + tpu.read_host at the
    top, in input order; tpu.write_host + host dequantize at the end, in output
    order."""
    placed: list[Op] = []

    def place(op: Op) -> None:  # at the top, after the ops placed so far
        if placed:
            rw.insert_after(placed[-1], op)
        else:
            rw.insert_before(graph.ops[0], op)
        placed.append(op)

    for arg, name in zip(graph.args, graph.input_names, strict=True):
        users = arg.users
        if len(users) != 1 or not isinstance(users[0], quant.QuantizeOp) or \
                not isinstance(users[0].output.type.element, UniformQuantType):
            _host_input(graph, rw, arg, name, place)
            continue
        old_q = users[0]
        q = quant.QuantizeOp.build(arg, result_types=[old_q.output.type], loc=old_q.loc,
                                   name=old_q.output.name_hint)
        place(q)
        value, old_value, last = q.output, old_q.output, [old_q]
        # a reshape right after the input is the host's: it writes the buffer in the
        # reshaped layout (a row-major reshape moves no element)
        reshapes = old_q.output.users
        if len(reshapes) == 1 and isinstance(reshapes[0], nn.ReshapeOp):
            r_old = reshapes[0]
            r = nn.ReshapeOp.build(value, *r_old.operands[1:], loc=r_old.loc,
                                   result_types=[r_old.output.type],
                                   name=r_old.output.name_hint, **r_old.attributes)
            place(r)
            value, old_value = r.output, r_old.output
            last.insert(0, r_old)
        read = tpu.ReadHostOp.build(value, tensor=name, loc=last[-1].loc,
                                    name=old_value.name_hint)
        place(read)
        rw.replace_uses(old_value, read.output)
        for op in last:
            rw.erase(op)
    ret = graph.return_op
    writes: list[tuple[int, Op, Value]] = []
    for k, (v, name) in enumerate(zip(list(graph.outputs), graph.output_names,
                                      strict=True)):
        dq = v.op
        if not isinstance(dq, quant.DequantizeOp) or \
                not isinstance(dq.input.type.element, UniformQuantType):
            raise QccError(f"output '{name}' must come from a per-tensor "
                           "quant.dequantize (the host dequantizes outputs)",
                           dq.loc if dq else ret.loc)
        write = tpu.WriteHostOp.build(dq.input, tensor=name, loc=dq.loc,
                                      name=dq.input.name_hint)
        rw.insert_before(ret, write)
        writes.append((k, dq, write.output))
    done: dict[Op, Value] = {}
    for k, dq, written in writes:  # the host's dequantize after all transfers
        new = quant.DequantizeOp.build(written, result_types=[dq.output.type],
                                       loc=dq.loc, name=dq.output.name_hint)
        rw.insert_before(ret, new)
        rw.set_operand(ret, k, new.output)
        done[dq] = new.output
    for dq in done:
        if not dq.output.has_uses:
            rw.erase(dq)
        # else also read inside the graph: a float value, for host ops (partition.py)


# --------------------------------------------------------------------------- patterns

@dataclass
class _Ctx:
    target: Target

    @property
    def row_chunk(self) -> int:
        return self.target.accumulators.rows // 2


def _weights(op: Op) -> tuple[Value, np.ndarray, np.ndarray]:
    """The int8 weight constant, its integer array and the int32 bias (zeros when
    absent) of a conv or dense."""
    w_val = op.weight.op.input if isinstance(op.weight.op, quant.DequantizeOp) else \
        op.weight
    w = constant_value(w_val)
    if w is None:
        _check_not_elided(op, w_val)
        raise _unsupported(op, "its weights are not constants")
    e = op.weight.type.element
    zps = e.zero_points if isinstance(e, UniformQuantPerAxisType) else (e.zero_point,)
    if any(zps):
        raise _unsupported(op, "weights with a nonzero zero point")
    n_out = op.output.type.shape[1] if isinstance(op, quant.Conv2dOp) else \
        op.output.type.shape[-1]
    b = constant_value(op.bias) if op.bias is not None else np.zeros(n_out, np.int64)
    if b is None:
        _check_not_elided(op, op.bias)
        raise _unsupported(op, "its bias is not a constant")
    # int16, not int64: exact for 8-bit weights, |-128| included (sums over them widen
    # to int64 in numpy), and an int64 copy of a VGG classifier's 25088x4096 weights
    # would take 822 MB
    return w_val, w.astype(np.int16 if w.dtype.itemsize == 1 else np.int64), \
        b.astype(np.int64)


def _check_accumulator_bound(op: Op, abs_colsum: np.ndarray, k: int,
                             bias: np.ndarray) -> None:
    """Warn when int32 accumulators could overflow for some input: the matrix unit
    sums raw input bytes (|x| <= 128, or 255 unsigned) times the weights (``abs_colsum``:
    sum(|w|) per output column, over ``k`` rows), then the bias (with the zero-point
    correction) is added."""
    e = op.input.type.element
    folded = int32_overflow(bias)
    if folded is not None:  # the activation table's int32 would wrap it around
        raise QccError(f"'{op.name}': the bias with the input zero point folded in "
                       f"(b - {e.zero_point} * sum(w)) reaches {folded}, outside the "
                       "int32 of the activation table; a smaller bias or an input range "
                       "closer to symmetric (zero point near 0) avoids it", op.loc)
    largest_input = 255 if not e.storage.signed else 128
    bound = largest_input * abs_colsum + np.abs(bias)
    worst = int(bound.max(initial=0))
    if worst > INT32_MAX:
        warn(f"'{op.name}': the int32 accumulators could overflow: |sum| can reach "
             f"{worst} > {INT32_MAX} (K = {k}); the simulator stops with an "
             "error if a real input gets there", op.loc)


def _bias_constant(rw: Rewriter, anchor: Op, folded: np.ndarray, layer: Value) -> Value:
    """The int32 bias with the input zero point folded in, as a constant."""
    t = TensorType((folded.size,), i32)
    c = nn.ConstantOp.build(value=DenseAttr(folded.astype(np.int32), t), loc=anchor.loc,
                            name=(layer.name_hint or "layer") + "_bias")
    rw.insert_before(anchor, c)
    return c.output


def _check_not_elided(op: Op, v: Value) -> None:
    if isinstance(v.op, nn.ConstantOp) and v.op.value.elided:
        raise QccError(f"'{op.name}': the constant %{v.name_hint} was elided "
                       "(dense_resource<__elided__>): the lowering needs the weights; print "
                       "the IR without --elide-constants", op.loc)


def _requant_of(op: Op) -> quant.RequantizeOp:
    users = op.output.users
    if len(users) != 1 or not isinstance(users[0], quant.RequantizeOp):
        raise _unsupported(op, "its int32 result must feed exactly one quant.requantize "
                               "(run fold-rescale)")
    return users[0]


def _requant_attrs(r: quant.RequantizeOp) -> dict:
    return dict(multiplier=r.multiplier, shift=r.shift, clamp_min=r.clamp_min,
                clamp_max=r.clamp_max)


def _replace(rw: Rewriter, head: Op, fused: list[Op], new: Op) -> None:
    """Put ``new`` where ``head`` was; it replaces the last fused op's result."""
    rw.insert_before(head, new)
    rw.replace_uses((fused[-1] if fused else head).results[0], new.output)
    for op in reversed([head, *fused]):
        rw.erase(op)


def _erase_if_dead(rw: Rewriter, values: list[Value | None]) -> None:
    for v in values:
        if v is not None and v.op is not None and v.op.graph is not None and \
                not v.has_uses and is_weight(v.op):
            inner = v.op.input if isinstance(v.op, quant.DequantizeOp) else None
            rw.erase(v.op)
            _erase_if_dead(rw, [inner])


def _lower_dense(c: _Ctx, op: quant.DenseOp, rw: Rewriter) -> bool:
    if op.input.type.rank not in (2, 3):
        raise _unsupported(op, f"a dense layer over the last axis of {op.input.type}: the "
                               "matrix unit multiplies the lanes of a row, which hold the "
                               "last axis of 2-D and 3-D tensors only (a 4-D tensor's "
                               "channels, axis 1)")
    requant = _requant_of(op)
    w_val, w, bias = _weights(op)
    k_dim, n_dim = w.shape
    zx = op.input.type.element.zero_point
    folded = np.zeros(n_dim, np.int64)
    for n0 in range(0, n_dim, LANES):
        cols = slice(n0, min(n_dim, n0 + LANES))
        wn = w[:, cols]
        b = bias[cols] - zx * wn.sum(axis=0)
        _check_accumulator_bound(op, np.abs(wn).sum(axis=0), k_dim, b)
        folded[cols] = b
    new = tpu.MatmulOp.build(op.input, w_val, _bias_constant(rw, op, folded, requant.output),
                             result_types=[requant.output.type], loc=op.loc,
                             name=requant.output.name_hint, **_requant_attrs(requant),
                             k_tiles=-(-k_dim // LANES), n_tiles=-(-n_dim // LANES),
                             row_chunk=c.row_chunk)
    old = [op.weight, op.bias]
    _replace(rw, op, [requant], new)
    _erase_if_dead(rw, old)
    return True


def conv_matrix(w: np.ndarray, c: int, groups: int,
                weights: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """The full [tap, C, O] weight matrices of a (grouped) convolution and which
    entries are real weights (block diagonal for groups > 1); ``weights=False``
    computes only the latter."""
    o, cg, kh, kw = w.shape
    taps = kh * kw
    og = o // groups
    if groups == 1:  # in the weights' own (8-bit) type
        full = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(taps, c, o)) \
            if weights else None
        return full, np.ones((taps, c, o), bool)
    g = np.arange(groups)[:, None, None]
    rows = g * cg + np.arange(cg)[None, :, None]
    cols = g * og + np.arange(og)[None, None, :]
    present = np.zeros((taps, c, o), bool)
    present[:, rows, cols] = True
    if not weights:
        return None, present
    # blocks[g, tap, i, j] = w[g * og + j, i, tap]: group g's [tap, C/g, O/g] matrix
    blocks = w.reshape(groups, og, cg, taps).transpose(0, 3, 2, 1)
    full = np.zeros((taps, c, o), w.dtype)
    full[:, rows, cols] = blocks.transpose(1, 0, 2, 3)
    return full, present


def taps_per_row(c: int, k_tiles: int, taps: int) -> int:
    """Taps packed into one 256-lane row: as many as fit when the input has one
    channel block of at most 128 channels (fewer passes), else one."""
    per_row = LANES // c if (k_tiles == 1 and c <= LANES // 2) else 1
    return max(1, min(per_row, taps))


def conv_steps(full: np.ndarray | None, present: np.ndarray, per_row: int, k_tiles: int):
    """(first tap, channel block, tile rows, mask) of every pass of an output tile
    (tile rows None when ``full`` is)."""
    taps = present.shape[0]
    o = present.shape[2]
    steps = []
    if per_row > 1:
        for t0 in range(0, taps, per_row):
            steps.append((t0, 0, None if full is None else
                          full[t0:t0 + per_row].reshape(-1, o),
                          present[t0:t0 + per_row].reshape(-1, o)))
    else:
        for t in range(taps):
            for cb in range(k_tiles):
                rows = slice(cb * LANES, (cb + 1) * LANES)
                steps.append((t, cb, None if full is None else full[t, rows],
                              present[t, rows]))
    return steps


def _lower_conv(c: _Ctx, op: quant.Conv2dOp, rw: Rewriter) -> bool:
    requant = _requant_of(op)
    w_val, w, bias = _weights(op)
    ch = op.input.type.shape[1]
    o, _, kh, kw = w.shape
    k_tiles = -(-ch // LANES)
    _, present = conv_matrix(w, ch, op.group, weights=False)
    per_row = taps_per_row(ch, k_tiles, kh * kw)
    masks = [mask for *_, mask in conv_steps(None, present, per_row, k_tiles)]
    zx = op.input.type.element.zero_point
    w_sum = w.sum(axis=(1, 2, 3))  # per output channel (block-diagonal zeros add none)
    w_abs = np.abs(w).sum(axis=(1, 2, 3))
    folded = np.zeros(o, np.int64)
    tiles = []
    for o0 in range(0, o, LANES):
        cols = slice(o0, min(o, o0 + LANES))
        tiles.append(max(1, sum(1 for mask in masks if mask[:, cols].any())))
        b = bias[cols] - zx * w_sum[cols]
        _check_accumulator_bound(op, w_abs[cols], kh * kw * ch, b)
        folded[cols] = b
    new = tpu.Conv2dOp.build(op.input, w_val, _bias_constant(rw, op, folded, requant.output),
                             result_types=[requant.output.type], loc=op.loc,
                             name=requant.output.name_hint, strides=op.strides,
                             pads=op.pads, dilations=op.dilations, group=op.group,
                             **_requant_attrs(requant), taps_per_row=per_row,
                             k_tiles=k_tiles, n_tiles=len(tiles), row_chunk=c.row_chunk,
                             tiles=tiles)
    old = [op.weight, op.bias]
    _replace(rw, op, [requant], new)
    _erase_if_dead(rw, old)
    return True


def _lower_avg_pool(c: _Ctx, op: Op, rw: Rewriter) -> bool:
    requant = _requant_of(op)
    if isinstance(op, quant.GlobalAvgPoolOp):
        _, _, h, w = op.input.type.shape
        kernel, strides, pads = (h, w), (1, 1), (0, 0, 0, 0)
        if h > 255 or w > 255:
            raise _unsupported(op, f"a {h}x{w} window exceeds the pool unit's 255")
    else:
        kernel, strides, pads = op.kernel, op.strides, op.pads
    new = tpu.PoolOp.build(op.input, result_types=[requant.output.type], loc=op.loc,
                           name=requant.output.name_hint, kind="avg", kernel=kernel,
                           strides=strides, pads=pads, dilations=(1, 1),
                           row_chunk=c.row_chunk, **_requant_attrs(requant))
    _replace(rw, op, [requant], new)
    return True


def _lower_max_pool(c: _Ctx, op: nn.MaxPoolOp, rw: Rewriter) -> bool:
    if not ub_resident(op.output):
        return False
    new = tpu.PoolOp.build(op.input, result_types=[op.output.type], loc=op.loc,
                           name=op.output.name_hint, kind="max", kernel=op.kernel,
                           strides=op.strides, pads=op.pads, dilations=op.dilations,
                           row_chunk=c.row_chunk)
    _replace(rw, op, [], new)
    return True


def _check_row_rank(op: Op, v: Value) -> None:
    """Refuse an int8 tensor that has no row layout in the Unified Buffer."""
    from qcc.backends.tpu_v1.memory import ROW_RANKS

    if v.type.rank not in ROW_RANKS:
        raise _unsupported(op, f"{v.type} has no row layout in the Unified Buffer "
                               "(2-D, 3-D and 4-D tensors have)")


def _lower_add(c: _Ctx, op: quant.AddOp, rw: Rewriter) -> bool:
    if op.lhs.type.shape != op.rhs.type.shape:
        raise _unsupported(op, f"broadcasting add {op.lhs.type} + {op.rhs.type}")
    _check_row_rank(op, op.output)
    new = tpu.AddOp.build(op.lhs, op.rhs, result_types=[op.output.type], loc=op.loc,
                          name=op.output.name_hint, multiplier=op.multiplier,
                          shift=op.shift, clamp_min=op.clamp_min, clamp_max=op.clamp_max)
    _replace(rw, op, [], new)
    return True


def _lower_requantize(c: _Ctx, op: quant.RequantizeOp, rw: Rewriter) -> bool:
    if not ub_resident(op.input):
        return False  # an accumulating op's (lowered with it), or no TPU form
    _check_row_rank(op, op.output)
    new = tpu.ActivateOp.build(op.input, result_types=[op.output.type], loc=op.loc,
                               name=op.output.name_hint, **_requant_attrs(op))
    _replace(rw, op, [], new)
    return True


def _lower_prelu(c: _Ctx, op: quant.PReluOp, rw: Rewriter) -> bool:
    """quant.prelu of an int8 tensor -> tpu.prelu (the activate function prelu, one
    table per 256-channel block)."""
    if not ub_resident(op.input) or not ub_resident(op.output):
        return False
    blocks = -(-op.input.type.shape[1] // LANES) if len(op.slope) > 1 else 1
    slots = c.target.activation.table_slots
    if blocks > slots:
        raise _unsupported(op, f"its {op.input.type.shape[1]} channels need {blocks} "
                               f"tables, more than the {slots} table slots")
    new = tpu.PReluOp.build(op.input, result_types=[op.output.type], loc=op.loc,
                            name=op.output.name_hint, multiplier=op.multiplier,
                            shift=op.shift, negative_multiplier=op.negative_multiplier,
                            negative_shift=op.negative_shift, clamp_min=op.clamp_min,
                            clamp_max=op.clamp_max)
    _replace(rw, op, [], new)
    return True


#: float nonlinearities the activation unit computes by a 256-entry table (the ISA's
#: function codes, isa.FUNCTIONS)
LOOKUP_FUNCTIONS: dict[type[Op], str] = {nn.SigmoidOp: "sigmoid", nn.TanhOp: "tanh"}


def lookup_function(op: Op) -> str | None:
    """The activate function code name of an op a 256-entry table computes: sigmoid
    and tanh by name, any other elementwise function of its one operand (HardSwish,
    HardSigmoid, LeakyRelu, Sqrt...) as ``table``; None for other ops."""
    if type(op) in LOOKUP_FUNCTIONS:
        return LOOKUP_FUNCTIONS[type(op)]
    if op.has_trait(Elementwise) and len(op.operands) == 1 and len(op.results) == 1 and \
            not op.has_trait(Clamp) and not op.has_trait(ScaleTransparent):
        return "table"
    return None


def _lookup_chain(op: Op) -> list[Op] | None:
    """[sigmoid|tanh, quantize] after a dequantize of an int8 tensor: one lookup
    table in the activation unit."""
    if not isinstance(op, quant.DequantizeOp) or not ub_resident(op.input):
        return None
    act = op.output.users
    if len(act) != 1 or lookup_function(act[0]) is None or HOST in act[0].attributes:
        return None
    q = act[0].output.users
    if len(q) != 1 or not isinstance(q[0], quant.QuantizeOp) or \
            not ub_resident(q[0].output) or \
            q[0].output.type.element.storage != op.input.type.element.storage:
        return None
    return [act[0], q[0]]


def _between_host_ops(dq: quant.DequantizeOp, q: quant.QuantizeOp) -> bool:
    """Whether a lookup chain reads a float op's quantized result (a host op's, such
    as the Sqrt inside a LayerNorm written out) and its result is only dequantized
    again for float ops: a table there would split one host segment in two."""
    if not isinstance(dq.input.op, quant.QuantizeOp):
        return False
    users = q.output.users
    return bool(users) and all(isinstance(u, quant.DequantizeOp) and
                               _lookup_chain(u) is None for u in users)


def _lower_lookup(c: _Ctx, op: quant.DequantizeOp, rw: Rewriter) -> bool:
    """quantize(f(dequantize(x))) for every one of the 256 codes, computed with the
    interpreter's own functions, so the table gives exactly what it computes."""
    from qcc.interpreter import SEMANTICS

    chain = _lookup_chain(op)
    if chain is None:
        return False
    act, q = chain
    _check_row_rank(op, op.input)
    if _between_host_ops(op, q):
        rw.set_attribute(act, HOST, "a table between host ops (its input is a float op's "
                                    "result and only float ops read it): cheaper on the "
                                    "host than two transfers and a second host call")
        return True
    e = op.input.type.element
    codes = np.arange(e.storage.min, e.storage.max + 1).astype(e.numpy_dtype)
    real = SEMANTICS[quant.DequantizeOp](op, codes)
    with np.errstate(all="ignore"):
        lut = SEMANTICS[quant.QuantizeOp](q, SEMANTICS[type(act)](act, real))
    table = lut.astype(np.int64).astype(np.uint8).view(np.int8).astype(int)
    new = tpu.LookupOp.build(op.input, result_types=[q.output.type], loc=act.loc,
                             name=q.output.name_hint,
                             function=lookup_function(act),
                             table=[int(t) for t in table])
    _replace(rw, op, [act, q], new)
    return True


def _lower_concat(c: _Ctx, op: nn.ConcatOp, rw: Rewriter) -> bool:
    if not ub_resident(op.output):
        return False
    if op.output.type.rank == 3:
        raise _unsupported(op, "concatenation of 3-D tensors (the TPU concatenates "
                               "batches of rows and 4-D or 2-D channels)")
    axis = op.axis
    offset = 0
    for v in op.inputs:
        if axis == 1:
            lanes = [min(LANES, v.type.shape[1] - b) for b in range(0, v.type.shape[1],
                                                                    LANES)]
            for b, n in enumerate(lanes):
                if (offset + b * LANES) % LANES + n > LANES:
                    raise _unsupported(op, f"input {v.type} would straddle two "
                                           "256-channel blocks of the result")
            offset += v.type.shape[1]
        elif axis != 0:
            raise _unsupported(op, f"concatenation along axis {axis} (only batch and "
                                   "channels map to rows and lanes)")
    new = tpu.ConcatOp.build(*op.inputs, result_types=[op.output.type], loc=op.loc,
                             name=op.output.name_hint, axis=axis)
    _replace(rw, op, [], new)
    return True


def _row_major_lanes(t: TensorType) -> int | None:
    """The lanes of a tensor whose rows are its elements in row-major order, the last
    axis across the lanes: a 2-D or 3-D tensor, or a 4-D [N, C, 1, 1]; None else."""
    if t.rank in (2, 3):
        return t.shape[-1]
    if t.rank == 4 and t.shape[2] * t.shape[3] == 1:
        return t.shape[1]
    return None


def _same_rows(a: TensorType, b: TensorType) -> bool:
    from qcc.backends.tpu_v1.memory import layout

    if a.rank in (2, 4) and b.rank in (2, 4):
        return layout(a)[:2] == layout(b)[:2]
    # with a 3-D tensor: [B, T, H] <-> [B * T, H] (or [B * T, H, 1, 1]) keep the rows
    lanes = _row_major_lanes(a)
    return lanes is not None and lanes == _row_major_lanes(b)


def _lower_reshape(c: _Ctx, op: nn.ReshapeOp, rw: Rewriter) -> bool:
    if not ub_resident(op.input) or not isinstance(op.input.op, tpu.TpuOp) or \
            host_role(op) is not None:
        return False
    if not _same_rows(op.input.type, op.output.type):
        raise _unsupported(op, f"reshape {op.input.type} -> {op.output.type} changes "
                               "the row layout (free: [N, C, 1, 1] <-> [N, C], and "
                               "[B, T, H] <-> [B * T, H] with the last axis kept; a 4-D "
                               "tensor has its channels, axis 1, across the lanes)")
    new = tpu.ReshapeOp.build(op.input, result_types=[op.output.type], loc=op.loc,
                              name=op.output.name_hint)
    _replace(rw, op, [], new)
    return True


# ------------------------------------------------------------ issue 15: more on the MXU

def _conv_layer(c: _Ctx, rw: Rewriter, anchor: Op, x: Value, w_val: Value, w: np.ndarray,
                bias: np.ndarray, out_type: TensorType, name: str | None, loc,
                requant: dict, check: Op | None) -> tpu.Conv2dOp:
    """A stride-1, unpadded, ungrouped ``tpu.conv2d`` of ``x`` by the OIHW int8 weights
    ``w`` (the constant ``w_val``), inserted before ``anchor``: the tile plan and the
    bias with the input zero point folded in, as ``_lower_conv`` makes them.
    ``check`` is the op named by the accumulator-bound check (None: no check, for
    copies, whose sums are one byte)."""
    ch = x.type.shape[1]
    o, _, kh, kw = w.shape
    k_tiles = -(-ch // LANES)
    _, present = conv_matrix(w, ch, 1, weights=False)
    per_row = taps_per_row(ch, k_tiles, kh * kw)
    masks = [mask for *_, mask in conv_steps(None, present, per_row, k_tiles)]
    zx = x.type.element.zero_point
    w_sum = w.sum(axis=(1, 2, 3))
    w_abs = np.abs(w).sum(axis=(1, 2, 3))
    folded = np.zeros(o, np.int64)
    tiles = []
    for o0 in range(0, o, LANES):
        cols = slice(o0, min(o, o0 + LANES))
        tiles.append(max(1, sum(1 for mask in masks if mask[:, cols].any())))
        b = bias[cols] - zx * w_sum[cols]
        if check is not None:
            _check_accumulator_bound(check, w_abs[cols], kh * kw * ch, b)
        folded[cols] = b
    bias_c = nn.ConstantOp.build(value=DenseAttr(folded.astype(np.int32),
                                                 TensorType((o,), i32)),
                                 loc=loc, name=(name or "layer") + "_bias")
    rw.insert_before(anchor, bias_c)
    new = tpu.Conv2dOp.build(x, w_val, bias_c.output, result_types=[out_type], loc=loc,
                             name=name, strides=(1, 1), pads=(0, 0, 0, 0),
                             dilations=(1, 1), group=1, **requant, taps_per_row=per_row,
                             k_tiles=k_tiles, n_tiles=len(tiles), row_chunk=c.row_chunk,
                             tiles=tiles)
    rw.insert_before(anchor, new)
    return new


def _flatten_into_dense(op: nn.ReshapeOp) -> quant.DenseOp | None:
    """The dense layer an N x C x H x W map (H * W > 1) flattened to N x (C*H*W) feeds,
    if that is the reshape's only use."""
    it, ot = op.input.type, op.output.type
    if it.rank != 4 or ot.rank != 2 or it.shape[2] * it.shape[3] == 1 or \
            ot.shape != (it.shape[0], it.shape[1] * it.shape[2] * it.shape[3]):
        return None
    users = op.output.users
    if len(users) != 1 or not isinstance(users[0], quant.DenseOp) or \
            users[0].input is not op.output or HOST in users[0].attributes:
        return None
    return users[0]


def _lower_flatten_dense(c: _Ctx, op: nn.ReshapeOp, rw: Rewriter) -> bool:
    """Flatten of a spatial map + dense -> a convolution whose kernel covers the whole
    map (no padding: one output pixel), then a free [N, O, 1, 1] -> [N, O] reshape.
    The dense weights [C*H*W, O] (ONNX's C-major flatten order) become OIHW weights
    at compile time; no activation is copied."""
    if not ub_resident(op.input) or not isinstance(op.input.op, tpu.TpuOp) or \
            host_role(op) is not None:
        return False
    dense = _flatten_into_dense(op)
    if dense is None:
        return False
    n, ch, h, wd = op.input.type.shape
    if h > 255 or wd > 255:
        raise _unsupported(dense, f"flattening a {h}x{wd} map: a window over it exceeds "
                                  "the convolution geometry's 255")
    requant = _requant_of(dense)
    w_val, w, bias = _weights(dense)
    o = w.shape[1]
    e = w_val.type.element
    if isinstance(e, UniformQuantPerAxisType):  # per output column -> per output channel
        e = dataclasses.replace(e, axis=0)
    w_conv = np.ascontiguousarray(w.T.reshape(o, ch, h, wd))
    const = nn.ConstantOp.build(
        value=DenseAttr(w_conv.astype(e.numpy_dtype), TensorType((o, ch, h, wd), e)),
        loc=dense.loc, name=(w_val.name_hint or "w") + "_map")
    rw.insert_before(op, const)
    out = requant.output
    conv = _conv_layer(c, rw, op, op.input, const.output, w_conv, bias,
                       TensorType((n, o, 1, 1), out.type.element),
                       (out.name_hint or "fc") + "_map", dense.loc,
                       _requant_attrs(requant), dense)
    new = tpu.ReshapeOp.build(conv.output, result_types=[out.type], loc=op.loc,
                              name=out.name_hint)
    old = [dense.weight, dense.bias]
    _replace(rw, op, [dense, requant], new)
    _erase_if_dead(rw, old)
    return True


def _channel_copy(c: _Ctx, rw: Rewriter, anchor: Op, x: Value, src: np.ndarray,
                  name: str | None, loc) -> Value:
    """``y[:, j] = x[:, src[j]]`` for a 4-D int8 ``x``, as a 1x1 ``tpu.conv2d`` whose
    weights are a 0/1 selection matrix and whose requantization is the identity
    (x - zx, times 1, + zx: exact); for a 2-D ``x`` the same as a ``tpu.matmul``. The
    matrix unit moves channels to any lane, across 256-channel blocks, which the
    activation unit's copies cannot."""
    if x.type.rank == 2:
        return _column_copy(c, rw, anchor, x, src, name, loc)
    n, ch, h, wd = x.type.shape
    o = len(src)
    w = np.zeros((o, ch, 1, 1), np.int64)
    w[np.arange(o), src, 0, 0] = 1
    e_w = UniformQuantType.make(IntegerType(8), 1.0, 0, storage_min=-127, storage_max=127)
    const = nn.ConstantOp.build(value=DenseAttr(w.astype(np.int8),
                                                TensorType(w.shape, e_w)),
                                loc=loc, name=(name or "copy") + "_select")
    rw.insert_before(anchor, const)
    e = x.type.element
    one = dict(multiplier=(1 << 30,), shift=(1,), clamp_min=e.storage_min,
               clamp_max=e.storage_max)  # 2^30 * 2^(1 - 31) = 1
    conv = _conv_layer(c, rw, anchor, x, const.output, w, np.zeros(o, np.int64),
                       TensorType((n, o, h, wd), e), name, loc, one, None)
    return conv.output


def _column_copy(c: _Ctx, rw: Rewriter, anchor: Op, x: Value, src: np.ndarray,
                 name: str | None, loc) -> Value:
    """``y[:, j] = x[:, src[j]]`` for a 2-D int8 ``x``: a ``tpu.matmul`` by a 0/1
    [K, N] selection matrix with the identity requantization."""
    rows, k = x.type.shape
    o = len(src)
    w = np.zeros((k, o), np.int64)
    w[src, np.arange(o)] = 1
    e_w = UniformQuantType.make(IntegerType(8), 1.0, 0, storage_min=-127, storage_max=127)
    const = nn.ConstantOp.build(value=DenseAttr(w.astype(np.int8), TensorType(w.shape, e_w)),
                                loc=loc, name=(name or "copy") + "_select")
    rw.insert_before(anchor, const)
    e = x.type.element
    bias = nn.ConstantOp.build(value=DenseAttr(np.full(o, -e.zero_point, np.int32),
                                               TensorType((o,), i32)),
                               loc=loc, name=(name or "copy") + "_bias")
    rw.insert_before(anchor, bias)
    new = tpu.MatmulOp.build(x, const.output, bias.output,
                             result_types=[TensorType((rows, o), e)], loc=loc, name=name,
                             multiplier=(1 << 30,), shift=(1,), clamp_min=e.storage_min,
                             clamp_max=e.storage_max, k_tiles=-(-k // LANES),
                             n_tiles=-(-o // LANES), row_chunk=c.row_chunk)
    rw.insert_before(anchor, new)
    return new.output


def _straddles(offset: int, channels: int) -> bool:
    """Whether ``channels`` channels placed at channel ``offset`` have a 256-channel
    block that crosses a block boundary of the result."""
    return offset % LANES != 0 and offset % LANES + channels > LANES


def _lower_concat_any_offset(c: _Ctx, op: nn.ConcatOp, rw: Rewriter) -> bool:
    """A channel concat (4-D or 2-D tensors) with inputs that straddle 256-channel blocks
    (SqueezeNet, Inception): each such input is split by two channel copies on the
    matrix unit (``_channel_copy``) into the channels up to the block boundary and the
    rest, which start on a boundary; then ``tpu.concat`` places the pieces."""
    if not ub_resident(op.output) or op.axis != 1 or op.output.type.rank not in (2, 4):
        return False
    offsets = np.cumsum([0] + [v.type.shape[1] for v in op.inputs])
    if not any(_straddles(int(off), v.type.shape[1])
               for off, v in zip(offsets, op.inputs, strict=False)):
        return False
    pieces: list[Value] = []
    base = op.output.name_hint or "concat"
    for k, (off, v) in enumerate(zip(offsets, op.inputs, strict=False)):
        ch = v.type.shape[1]
        if not _straddles(int(off), ch):
            pieces.append(v)
            continue
        head = LANES - int(off) % LANES  # channels up to the block boundary
        for part, idx in (("head", np.arange(head)), ("tail", np.arange(head, ch))):
            pieces.append(_channel_copy(c, rw, op, v, idx, f"{base}_in{k}_{part}", op.loc))
    new = tpu.ConcatOp.build(*pieces, result_types=[op.output.type], loc=op.loc,
                             name=op.output.name_hint, axis=1)
    _replace(rw, op, [], new)
    return True


def _channel_shuffle(op: nn.ReshapeOp) -> tuple[list[Op], np.ndarray] | None:
    """[transpose, reshape] and the channel permutation when ``op`` starts a channel
    shuffle: [N, C, H, W] -> [N, g, C/g, H, W] -> transpose(0, 2, 1, 3, 4) -> [N, C,
    H, W] (ShuffleNet)."""
    it, ot = op.input.type, op.output.type
    if it.rank != 4 or ot.rank != 5 or ot.shape[0] != it.shape[0] or \
            ot.shape[3:] != it.shape[2:]:
        return None
    users = op.output.users
    if len(users) != 1 or not isinstance(users[0], nn.TransposeOp) or \
            tuple(users[0].perm) != (0, 2, 1, 3, 4):
        return None
    back = users[0].output.users
    if len(back) != 1 or not isinstance(back[0], nn.ReshapeOp) or \
            back[0].output.type.shape != it.shape:
        return None
    g, per = ot.shape[1], ot.shape[2]
    return [users[0], back[0]], np.arange(g * per).reshape(g, per).T.reshape(-1)


def _lower_channel_shuffle(c: _Ctx, op: nn.ReshapeOp, rw: Rewriter) -> bool:
    """A channel shuffle -> one permuted channel copy on the matrix unit."""
    if not ub_resident(op.input) or not isinstance(op.input.op, tpu.TpuOp) or \
            host_role(op) is not None:
        return False
    found = _channel_shuffle(op)
    if found is None:
        return False
    rest, src = found
    out = rest[-1].output
    y = _channel_copy(c, rw, op, op.input, src, out.name_hint, rest[0].loc)
    rw.replace_uses(out, y)
    for dead in reversed([op, *rest]):
        rw.erase(dead)
    return True


def _lower_avg_pool_valid(c: _Ctx, op: quant.AvgPoolValidOp, rw: Rewriter) -> bool:
    """Average pooling without counted padding -> tpu.avg_pool_valid: window sums in
    the pool unit, then one activation table per window count, all loaded at once."""
    slots = c.target.activation.table_slots
    if len(op.counts) > slots:
        raise _unsupported(op, f"its windows count {len(op.counts)} different numbers of "
                               f"positions ({', '.join(map(str, op.counts))}): one "
                               f"activation table each, more than the {slots} table "
                               "slots")
    if max(op.kernel) > 255:
        raise _unsupported(op, f"a {op.kernel[0]}x{op.kernel[1]} window exceeds the pool "
                               "unit's 255")
    new = tpu.AvgPoolValidOp.build(op.input, result_types=[op.output.type], loc=op.loc,
                                   name=op.output.name_hint, kernel=op.kernel,
                                   strides=op.strides, pads=op.pads,
                                   ceil_mode=op.ceil_mode,
                                   count_include_pad=op.count_include_pad,
                                   row_chunk=c.row_chunk, counts=op.counts,
                                   multipliers=op.multiplier, shifts=op.shift,
                                   clamp_min=op.clamp_min, clamp_max=op.clamp_max)
    _replace(rw, op, [], new)
    return True


def nearest_factors(op: nn.ResizeOp) -> tuple[tuple[int, int] | None, str]:
    """The integer (H, W) factors of a nearest Resize of an NCHW map whose output
    pixel (y, x) copies input pixel (y // fh, x // fw), as the interpreter's own
    coordinate rounding gives it; else None and why not."""
    from qcc.interpreter import _nearest_index, resize_coordinates

    x = op.input.type
    if op.mode != "nearest":
        return None, f"{op.mode} interpolation computes new values (nearest only)"
    if x.rank != 4 or op.sizes[:2] != x.shape[:2]:
        return None, "it resizes other axes than height and width"
    factors = []
    for axis in (2, 3):
        length, size = x.shape[axis], op.sizes[axis]
        f, rest = divmod(size, length)
        if rest or not 1 <= f <= 15:
            return None, (f"{length} -> {size} along axis {axis} is not an integer factor "
                          "in 1..15")
        index = _nearest_index(op.nearest_mode,
                               resize_coordinates(op, length, size, op.scales[axis]),
                               length)
        if not np.array_equal(index, np.arange(size) // f):
            return None, (f"coordinate mode '{op.coordinate_mode}' with nearest mode "
                          f"'{op.nearest_mode}' does not copy input pixel out // {f}")
        factors.append(f)
    return (factors[0], factors[1]), ""


def _lower_resize(c: _Ctx, op: nn.ResizeOp, rw: Rewriter) -> bool:
    """dequantize -> nearest Resize by integer factors -> quantize: ``tpu.upsample``
    (the pool unit copies pixels), then a lookup table when the output's scale differs
    from the input's (the table holds quantize(dequantize(code)), exact)."""
    from qcc.interpreter import SEMANTICS

    dq = op.input.op
    users = op.output.users
    if not isinstance(dq, quant.DequantizeOp) or not ub_resident(dq.input) or \
            len(users) != 1 or not isinstance(users[0], quant.QuantizeOp) or \
            not ub_resident(users[0].output) or HOST in users[0].attributes:
        return False
    q = users[0]
    factors, why = nearest_factors(op)
    if factors is None:
        raise _unsupported(op, why)
    x = dq.input
    e_in, e_out = x.type.element, q.output.type.element
    if e_in.storage != e_out.storage:
        raise _unsupported(op, f"its output's storage {e_out.storage} differs from its "
                               f"input's {e_in.storage}")
    up_type = TensorType(op.output.type.shape, e_in)
    same = e_in == e_out
    up = tpu.UpsampleOp.build(x, result_types=[up_type], loc=op.loc,
                              name=q.output.name_hint if same else
                              (op.output.name_hint or "resize") + "_up",
                              factors=factors, row_chunk=c.row_chunk)
    head, fused = (dq, [op, q]) if len(dq.output.users) == 1 else (op, [q])
    if same:
        _replace(rw, head, fused, up)
        return True
    rw.insert_before(head, up)
    codes = np.arange(e_in.storage.min, e_in.storage.max + 1).astype(e_in.numpy_dtype)
    with np.errstate(all="ignore"):
        lut = SEMANTICS[quant.QuantizeOp](q, SEMANTICS[quant.DequantizeOp](dq, codes))
    table = lut.astype(np.int64).astype(np.uint8).view(np.int8).astype(int)
    new = tpu.LookupOp.build(up.output, result_types=[q.output.type], loc=op.loc,
                             name=q.output.name_hint, function="table",
                             table=[int(t) for t in table])
    _replace(rw, head, fused, new)
    return True


_PATTERNS = ((quant.DenseOp, _lower_dense), (quant.Conv2dOp, _lower_conv),
             (quant.AvgPoolOp | quant.GlobalAvgPoolOp, _lower_avg_pool),
             (quant.AvgPoolValidOp, _lower_avg_pool_valid),
             (nn.MaxPoolOp, _lower_max_pool), (quant.AddOp, _lower_add),
             (quant.RequantizeOp, _lower_requantize), (quant.DequantizeOp, _lower_lookup),
             (nn.ConcatOp, _lower_concat_any_offset), (nn.ConcatOp, _lower_concat),
             (nn.ReshapeOp, _lower_flatten_dense), (nn.ReshapeOp, _lower_channel_shuffle),
             (nn.ReshapeOp, _lower_reshape), (nn.ResizeOp, _lower_resize),
             (quant.PReluOp, _lower_prelu))


def _apply(c: _Ctx, fn, op: Op, rw: Rewriter) -> bool:
    """A pattern, except on an op placed on the host; an op a pattern refuses is
    placed on the host with the pattern's reason."""
    if HOST in op.attributes:
        return False
    try:
        return fn(c, op, rw)
    except Refused as e:
        rw.set_attribute(op, HOST, e.reason)
        return True


def patterns(target: Target) -> list[Pattern]:
    """The lowering patterns, one per op family, for ``target``."""
    c = _Ctx(target)
    out = []
    for cls, fn in _PATTERNS:
        classes = cls.__args__ if hasattr(cls, "__args__") else cls
        out.append(Pattern(classes, lambda op, rw, fn=fn: _apply(c, fn, op, rw),
                           stat=fn.__name__.lstrip("_").replace("_", "-")))
    return out


def check_target(target: Target) -> None:
    if (target.array.rows, target.array.cols) != (LANES, LANES) or \
            target.unified_buffer.row_bytes != LANES:
        raise QccError(f"target '{target.name}': qcc lowers to a {LANES}x{LANES} array "
                       f"with {LANES}-byte rows only")


@register_pass
@dataclass(frozen=True)
class TpuLowerPass(Pass):
    """Lower the integer graph to the tpu dialect (tile plans; I/O transfers)."""

    name = "tpu-lower"
    target: str = ""
    #: ops placed on the host whatever the TPU could do (ONNX op types, node names or
    #: IR op names, comma-separated); the driver's ``host_ops`` adds to them
    host_ops: str = ""
    #: make any op the TPU cannot run an error instead of a host op
    no_host: bool = False

    def run(self, module: Module, ctx: PassContext) -> None:
        target = resolve_target(self.target, ctx)
        check_target(target)
        graph = module.main
        if any(isinstance(op, tpu.TpuOp) for op in graph.ops):
            raise QccError("the graph is already lowered to the tpu dialect")
        placement = ctx.data.get("placement") or {}
        forced = tuple(n for n in self.host_ops.split(",") if n) + \
            tuple(placement.get("host_ops", ()))
        allow = not (self.no_host or placement.get("no_host", False))
        if forced and not allow:
            raise QccError("host-ops and no-host contradict each other: give one")
        _lower_io(graph, Rewriter(graph))
        if forced:
            ctx.stat("forced-host-ops", place_forced(graph, forced))
        counts: dict[str, int] = {}
        apply_patterns(graph, patterns(target), counts=counts)
        for name, count in sorted(counts.items()):
            ctx.stat(name, count)
        hosts = partition(graph, allow_host=allow)
        if hosts:
            ctx.stat("host-ops", hosts)


__all__ = [
    "TpuLowerPass",
    "conv_matrix",
    "conv_steps",
    "host_role",
    "in_unified_buffer",
    "is_weight",
    "loc_name",
    "patterns",
    "taps_per_row",
    "ub_resident",
]
