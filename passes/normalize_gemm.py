"""``normalize-gemm``: bring Gemm and MatMul into the one form the backend tiles,
``nn.dense(x[..., K], w[K, N], bias[N])``.

- ``nn.gemm``: transposes become ``nn.transpose`` (folded away when the operand is a
  constant), ``alpha`` and ``beta`` become multiplications by constants, and ``c``
  becomes the bias when it broadcasts along N only, else an ``nn.add`` after.
- ``nn.matmul`` with a 2-D right operand and an operand of rank >= 2 becomes ``nn.dense``.
- ``nn.add(dense, c)`` with ``c`` a constant that broadcasts along N only folds into
  the bias of a dense that has none.

    %y = "nn.gemm"(%x, %w, %b) {trans_b = true, ...}
    =>  %wt = "nn.transpose"(%w) {perm = [1, 0]}
        %y = "nn.dense"(%x, %wt, %b)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.dialects import nn
from qcc.dialects.nn import constant_value, make_constant
from qcc.ir.core import Op, Rewriter, Value
from qcc.passes.constant_fold import fold_op
from qcc.passmanager import register_pass
from qcc.rewrite import Pattern, PatternPass, single_user


def _scaled(rw: Rewriter, anchor: Op, v: Value, factor: float) -> Value:
    if factor == 1.0:
        return v
    c = make_constant(rw, anchor, np.array(factor), like=v)
    mul = rw.insert_before(anchor, nn.MulOp.build(v, c, loc=anchor.loc))
    folded = fold_op(mul, rw)
    return folded[0] if folded else mul.result


def _transposed(rw: Rewriter, anchor: Op, v: Value) -> Value:
    t = rw.insert_before(anchor, nn.TransposeOp.build(v, perm=(1, 0), loc=anchor.loc))
    folded = fold_op(t, rw)
    return folded[0] if folded else t.result


def _as_bias(c: Value, n: int) -> bool:
    """Whether ``c`` broadcasts along the last (N) axis only."""
    shape = c.type.shape
    return len(shape) >= 1 and shape[-1] == n and all(d == 1 for d in shape[:-1])


def lower_gemm(op: nn.GemmOp, rw: Rewriter) -> bool:
    a = _transposed(rw, op, op.a) if op.trans_a else op.a
    b = _transposed(rw, op, op.b) if op.trans_b else op.b
    b = _scaled(rw, op, b, op.alpha)
    n = b.type.shape[1]
    c = op.c if op.c is not None and op.beta != 0.0 else None
    bias = None
    if c is not None:
        c = _scaled(rw, op, c, op.beta)
        if _as_bias(c, n):
            bias = c if c.type.shape == (n,) else _reshaped(rw, op, c, (n,))
            c = None
    dense = rw.insert_before(op, nn.DenseOp.build(a, b, bias, loc=op.loc))
    out = dense.result
    if c is not None:
        out = rw.insert_before(op, nn.AddOp.build(out, c, loc=op.loc)).result
    rw.replace_op(op, [out])
    return True


def _reshaped(rw: Rewriter, anchor: Op, v: Value, shape: tuple[int, ...]) -> Value:
    value = constant_value(v)
    if value is not None:
        return make_constant(rw, anchor, value.reshape(shape), like=v)
    return rw.insert_before(anchor, nn.ReshapeOp.build(v, shape=shape, loc=anchor.loc)).result


def matmul_to_dense(op: nn.MatMulOp, rw: Rewriter) -> bool:
    if op.rhs.type.rank != 2 or op.lhs.type.rank < 2:
        return False
    dense = rw.insert_before(op, nn.DenseOp.build(op.lhs, op.rhs, loc=op.loc))
    rw.replace_op(op, [dense.result])
    return True


def fold_add_into_dense_bias(op: nn.AddOp, rw: Rewriter) -> bool:
    for dense_v, c in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
        dense = dense_v.op
        if not isinstance(dense, nn.DenseOp) or dense.bias is not None:
            continue
        n = dense.result.type.shape[-1]
        value = constant_value(c)
        if value is None or not _as_bias(c, n) or single_user(dense_v) is not op:
            continue
        if op.result.type != dense.result.type:  # the add must not broadcast the dense
            continue
        bias = make_constant(rw, dense, value.reshape(n), like=c)
        new = rw.insert_before(op, nn.DenseOp.build(dense.input, dense.weight, bias,
                                                    loc=op.loc))
        rw.replace_op(op, [new.result])
        rw.erase(dense)
        return True
    return False


@register_pass
@dataclass(frozen=True)
class NormalizeGemm(PatternPass):
    """Rewrite Gemm and MatMul into nn.dense(x, w[K, N], bias[N])."""

    name = "normalize-gemm"
    patterns = (
        Pattern(nn.GemmOp, lower_gemm),
        Pattern(nn.MatMulOp, matmul_to_dense),
        Pattern(nn.AddOp, fold_add_into_dense_bias),
    )
