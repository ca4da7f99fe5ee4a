"""``fold-mul-add``: multiplications and additions of an activation by per-channel or
scalar constants (batch norm exported as Mul + Add, as DenseNet and Inception-v2
exports do; a scalar scale or offset) become part of a linear layer.

- After a conv2d or dense with constant weights and no other user: ``conv(x, w, b) *
  s`` is ``conv(x, w * s, b * s)`` and ``conv(x, w, b) + t`` is ``conv(x, w, b + t)``
  (``s``, ``t`` per output channel; the arithmetic in float64, rounded once).
- Elsewhere, on a 4-D tensor: ``x * s`` and ``x + t`` become a depthwise 1x1
  convolution (weights ``s`` or 1, bias 0 or ``t``), which the next ``x + t`` folds
  into: one layer per Mul + Add. Quantized per channel, each channel's one weight is
  exact; the matrix unit runs it like any depthwise layer. On a 2-D [N, C] tensor
  (C <= 1024) the layer is a dense one with diagonal weights.

A constant is per-channel when it broadcasts along axis 1 only (shapes [C, 1, 1],
[1, C, 1, 1], [C] for a 2-D [N, C] tensor) or is a scalar.

    %c = "nn.conv2d"(%x, %w, %b) ...
    %m = "nn.mul"(%c, %s)     // %s : tensor<4x1x1xf32>
    %y = "nn.add"(%m, %t)
    =>  %y = "nn.conv2d"(%x, %w2, %b2) ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.diagnostics import fuse_locs
from qcc.dialects import nn
from qcc.dialects.nn import constant_value, make_constant
from qcc.ir.core import Op, Rewriter, Value
from qcc.ir.traits import HasWeights
from qcc.ir.types import FloatType, TensorType
from qcc.passmanager import register_pass
from qcc.rewrite import Pattern, PatternPass, single_user


def channel_vector(c: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The constant ``c`` as one float64 value per channel (axis 1) of a tensor of
    ``shape``, if it varies along that axis only (or is a scalar)."""
    rank = len(shape)
    if rank < 2 or c.ndim > rank:
        return None
    full = (1,) * (rank - c.ndim) + tuple(c.shape)
    if any(d != 1 for i, d in enumerate(full) if i != 1) or full[1] not in (1, shape[1]):
        return None
    return np.broadcast_to(c.astype(np.float64).reshape(-1), (shape[1],)) \
        if full[1] == shape[1] else np.full(shape[1], float(c.reshape(())), np.float64)


def _split(op: Op) -> tuple[Value, np.ndarray] | None:
    """(the activation, its per-channel constant) of a float nn.mul / nn.add."""
    out = op.output.type
    if not isinstance(out, TensorType) or not isinstance(out.element, FloatType):
        return None
    for x, c in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
        value = constant_value(c)
        if value is None or constant_value(x) is not None or x.type.shape != out.shape:
            continue
        vec = channel_vector(value, out.shape)
        if vec is not None:
            return x, vec
    return None


def _foldable(x: Value) -> Op | None:
    """The float conv2d / dense with constant weights that produces ``x`` alone."""
    producer = x.op
    weights = producer.trait(HasWeights) if producer is not None else None
    if weights is None or not isinstance(producer.result.type.element, FloatType):
        return None
    if single_user(x) is None or weights.output_axis % producer.result.type.rank != 1:
        return None
    if constant_value(producer.weight) is None or \
            (producer.bias is not None and constant_value(producer.bias) is None):
        return None
    return producer


def fold_mul_add(op: nn.MulOp | nn.AddOp, rw: Rewriter) -> bool:
    split = _split(op)
    if split is None:
        return False
    x, vec = split
    mul = isinstance(op, nn.MulOp)
    producer = _foldable(x)
    if producer is None:
        return _to_depthwise(op, x, vec, mul, rw)
    w = constant_value(producer.weight)
    b = constant_value(producer.bias) if producer.bias is not None else \
        np.zeros(vec.shape, w.dtype)
    axis = producer.trait(HasWeights).weight_axis
    per_channel = [1] * w.ndim
    per_channel[axis] = -1
    new_w = w.astype(np.float64) * vec.reshape(per_channel) if mul else w
    new_b = b.astype(np.float64) * vec if mul else b.astype(np.float64) + vec
    wv = make_constant(rw, producer, new_w, like=producer.weight,
                       name=producer.weight.name_hint)
    bv = make_constant(rw, producer, new_b, like=producer.weight, name=None)
    attrs = {k: producer.attributes[k] for k in producer.attr_defs}
    new = type(producer).build(producer.input, wv, bv, loc=fuse_locs(producer.loc, op.loc),
                               **attrs)
    rw.insert_before(producer, new)
    new.result.name_hint = op.output.name_hint
    rw.replace_op(op, [new.result])
    rw.erase(producer)
    return True


#: the widest 2-D tensor whose Mul / Add becomes a diagonal dense layer (C x C weights)
MAX_DIAGONAL = 1024


def _to_depthwise(op: Op, x: Value, vec: np.ndarray, mul: bool, rw: Rewriter) -> bool:
    """x * s or x + t on a 4-D tensor -> a depthwise 1x1 convolution; on a 2-D [N, C]
    tensor (C <= MAX_DIAGONAL) -> a dense layer with diagonal weights."""
    c = x.type.shape[1] if x.type.rank >= 2 else 0
    if x.type.rank not in (2, 4) or (x.type.rank == 2 and c > MAX_DIAGONAL):
        return False
    scale = vec if mul else np.ones(c)
    w = scale.reshape(c, 1, 1, 1) if x.type.rank == 4 else np.diag(scale)
    b = np.zeros(c) if mul else vec
    wv = make_constant(rw, op, w, like=x, name=(op.output.name_hint or "affine") + "_w")
    bv = make_constant(rw, op, b, like=x, name=(op.output.name_hint or "affine") + "_b")
    new = nn.Conv2dOp.build(x, wv, bv, loc=op.loc, group=c) if x.type.rank == 4 else \
        nn.DenseOp.build(x, wv, bv, loc=op.loc)
    rw.insert_before(op, new)
    new.result.name_hint = op.output.name_hint
    rw.replace_op(op, [new.result])
    return True


@register_pass
@dataclass(frozen=True)
class FoldMulAdd(PatternPass):
    """Fold Mul / Add by per-channel or scalar constants into a conv2d or dense, else
    into a depthwise 1x1 convolution."""

    name = "fold-mul-add"
    patterns = (Pattern((nn.MulOp, nn.AddOp), fold_mul_add, "mul-add-folded"),)
