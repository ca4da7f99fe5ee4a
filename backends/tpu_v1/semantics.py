"""The interpreter's semantics of the ``tpu`` dialect (docs/tpu-dialect.md).

Registered into :data:`qcc.interpreter.SEMANTICS` when the dialect is loaded, so
``qcc.interpreter.run`` executes a lowered (planned, scheduled) module like any
other. Each op computes what the TPU computes, the way the TPU computes it: the
matrix unit multiplies raw int8 (or uint8) bytes by the weights (padded convolution
positions read the input zero point) and adds the bias with the input zero point
folded in (``b - zx * sum(w)``); the activation unit requantizes. All integer
arithmetic is quant_arith's, as for the quant ops, so running the tpu IR gives
bit-identical results to running the integer IR it was lowered from, and to the
simulator running the emitted program. A layer's int32 value that leaves int32 stops
the run with quant_arith's overflow message, as the quant ops and the simulator do.

Placement and schedule attributes (``ub``, ``acc``, ``tables``, ``prefetch``, ...)
do not change values; ``tpu.sync`` has no effect.
"""

from __future__ import annotations

import numpy as np

from qcc import quant_arith
from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.program import lane_axis
from qcc.diagnostics import QccError
from qcc.dialects import quant
from qcc.dialects.quant import output_zero_point
from qcc.interpreter import SEMANTICS, conv2d, qparams, semantics, windows
from qcc.ir.core import Op


def _checked(op: Op, value: np.ndarray, bound: int | None = None) -> np.ndarray:
    """A layer's exact int32 value, or the overflow error (quant_arith's rule).
    ``bound``, when given, bounds |value|: no check is needed below int32."""
    if bound is not None and bound <= quant_arith.INT32_MAX:
        return value
    worst = quant_arith.int32_overflow(value)
    if worst is not None:
        raise QccError(quant_arith.accumulator_overflow_message(worst), op.loc)
    return value


def _channel_param(values, rank: int) -> np.ndarray:
    """Per-tensor (one entry) or per-channel requantization parameters shaped to
    broadcast against a rank-``rank`` tensor whose channels are its lane axis (axis 1
    of a 4-D tensor, the last axis of a 2-D or 3-D one)."""
    arr = np.array(values, np.int64)
    if arr.size == 1:
        return arr.reshape(())
    shape = [1] * rank
    shape[lane_axis(rank)] = arr.size
    return arr.reshape(shape)


def _requantize(op: Op, acc: np.ndarray) -> np.ndarray:
    """The activation unit: ``acc`` (int32 values, centered) to the result type with
    the op's multiplier, shift and clamp and the result's zero point."""
    e_out = op.output.type.element
    return quant_arith.requantize(acc, _channel_param(op.multiplier, acc.ndim),
                                  _channel_param(op.shift, acc.ndim), output_zero_point(e_out),
                                  op.clamp_min, op.clamp_max, e_out.numpy_dtype)


def _raw(x: np.ndarray) -> np.ndarray:
    """Int8/uint8 bytes as float64: products and their sums stay exact integers."""
    return x.astype(np.float64)


# --------------------------------------------------------------------------- matrix unit


@semantics(tpu.MatmulOp)
def _matmul(op: tpu.MatmulOp, x, w, bias):
    acc = np.rint(np.matmul(_raw(x), _raw(w))).astype(np.int64)
    acc += bias.astype(np.int64)
    return _requantize(op, _checked(op, acc))


@semantics(tpu.Conv2dOp)
def _conv2d(op: tpu.Conv2dOp, x, w, bias):
    p = op.pads
    zx = int(op.input.type.element.zero_point)
    xp = np.pad(_raw(x), ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])),
                constant_values=float(zx))  # padded positions read the zero point
    acc = conv2d(xp, _raw(w), None, op.strides, (0, 0, 0, 0), op.dilations, op.group,
                 op.output.type.shape[2:])
    acc = np.rint(acc).astype(np.int64)
    acc += bias.astype(np.int64).reshape(1, -1, 1, 1)
    return _requantize(op, _checked(op, acc))


# --------------------------------------------------------------------------- pool unit


def _pool_windows(op: tpu.PoolOp, x: np.ndarray, fill) -> np.ndarray:
    """[N, C, KH, KW, OH, OW] windows of ``x`` padded with ``fill`` by the op's pads
    and whatever more the result's size needs at the end (ceil mode)."""
    kh, kw = op.kernel
    dh, dw = op.dilations
    sh, sw = op.strides
    oh, ow = op.output.type.shape[2:]
    p = op.pads
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (x.shape[2] + p[0] + p[2]))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (x.shape[3] + p[1] + p[3]))
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2] + extra_h), (p[1], p[3] + extra_w)),
                constant_values=fill)
    return windows(xp, (kh, kw), (sh, sw), (dh, dw), (oh, ow))


@semantics(tpu.PoolOp)
def _pool(op: tpu.PoolOp, x):
    if op.kind == "max":  # padding never wins
        return _pool_windows(op, x, np.iinfo(x.dtype).min).max(axis=(2, 3))
    # window sums of centered values (padding adds nothing), then requantize
    centered = x.astype(np.int64) - int(op.input.type.element.zero_point)
    cols = _pool_windows(op, centered, 0)
    total = _checked(op, cols.sum(axis=(2, 3)), 255 * cols.shape[2] * cols.shape[3])
    return _requantize(op, total)


semantics(tpu.HostInputOp)(lambda op, x: x)
semantics(tpu.HostTensorOp)(lambda op, x: x)


@semantics(tpu.PReluOp)
def _prelu(op: tpu.PReluOp, x):
    _, zp_in = qparams(op.input.type)
    e_out = op.output.type.element
    shape = [1] * x.ndim
    if len(op.negative_multiplier) > 1:
        shape[1] = len(op.negative_multiplier)
    return quant_arith.prelu(x.astype(np.int64) - zp_in, op.multiplier[0], op.shift[0],
                             np.array(op.negative_multiplier, np.int64).reshape(shape),
                             np.array(op.negative_shift, np.int64).reshape(shape),
                             e_out.zero_point, op.clamp_min, op.clamp_max, e_out.numpy_dtype)


@semantics(tpu.UpsampleOp)
def _upsample(op: tpu.UpsampleOp, x):
    fh, fw = op.factors
    return np.repeat(np.repeat(x, fh, axis=2), fw, axis=3)


@semantics(tpu.AvgPoolValidOp)
def _avg_pool_valid(op: tpu.AvgPoolValidOp, x):
    # window sums of centered values, each requantized with its window count's table
    centered = x.astype(np.int64) - int(op.input.type.element.zero_point)
    cols = _pool_windows(op, centered, 0)
    total = _checked(op, cols.sum(axis=(2, 3)), 255 * cols.shape[2] * cols.shape[3])
    grid = np.array(quant.window_counts(x.shape[2:], total.shape[2:], op.kernel,
                                        op.strides, op.pads, op.count_include_pad))
    k = np.searchsorted(np.array(op.counts), grid)
    e_out = op.output.type.element
    return quant_arith.requantize(total, np.array(op.multipliers, np.int64)[k],
                                  np.array(op.shifts, np.int64)[k], e_out.zero_point,
                                  op.clamp_min, op.clamp_max, e_out.numpy_dtype)


# --------------------------------------------------------------------------- vector units


# tpu.add computes quant.add's arithmetic with its attributes (the same names)
semantics(tpu.AddOp)(SEMANTICS[quant.AddOp])


@semantics(tpu.ActivateOp)
def _activate(op: tpu.ActivateOp, x):
    _, zp_in = qparams(op.input.type)
    return _requantize(op, x.astype(np.int64) - zp_in)


@semantics(tpu.LookupOp)
def _lookup(op: tpu.LookupOp, x):
    e = op.input.type.element
    table = np.array(op.table, np.int64).astype(np.int8)  # the table's bytes
    out = table[x.astype(np.int64) - e.storage.min]
    return out.astype(op.output.type.element.numpy_dtype)  # the bytes, as stored


semantics(tpu.ConcatOp)(lambda op, *xs: np.concatenate(xs, axis=op.axis))
semantics(tpu.ReshapeOp)(lambda op, x: x.reshape(op.output.type.shape))
semantics(tpu.ReadHostOp, tpu.WriteHostOp)(lambda op, x: x)
semantics(tpu.SyncOp)(lambda op: [])
