"""``fuse-gelu``: the exporters' Erf form of GELU -> one ``nn.gelu``.

    %s = "nn.div"(%x, %sqrt2)        // or nn.mul(%x, 0.70710677)
    %e = "nn.erf"(%s)
    %a = "nn.add"(%e, %one)
    %m = "nn.mul"(%x, %a)
    %y = "nn.mul"(%m, %half)         // or 0.5 first: (x * 0.5) * a, x * (0.5 * a), ...
    =>  %y = "nn.gelu"(%x) {approximate = "none"}

The product may be written in any order and grouping (PyTorch writes
``x * 0.5 * (1 + erf(x / sqrt(2)))`` as ``(x * (erf(x / 1.4142135) + 1)) * 0.5``;
TensorFlow multiplies the 0.5 in first); the constants are scalars within 1e-6 of
sqrt(2) (or 1/sqrt(2) for a Mul), 1 and 0.5. Every intermediate must have no other
user. It runs inside ``canonicalize`` (so in the prepare pipeline, before
calibration: the quantized graph then has one elementwise op, which the TPU
computes as one 256-entry table) and as a pass of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qcc.diagnostics import fuse_locs
from qcc.dialects import nn
from qcc.dialects.nn import constant_value
from qcc.ir.core import Op, Rewriter, Value
from qcc.passmanager import register_pass
from qcc.rewrite import Pattern, PatternPass, single_user

_TOL = 1e-6


def _scalar(v: Value, expected: float) -> bool:
    c = constant_value(v)
    return c is not None and c.size == 1 and \
        abs(float(c.reshape(())) - expected) <= _TOL * abs(expected)


def _factors(v: Value, root: bool) -> list[Value]:
    """The leaves of a product tree of single-user nn.mul ops under ``v``."""
    op = v.op
    if isinstance(op, nn.MulOp) and (root or single_user(v) is not None):
        return [f for operand in op.operands for f in _factors(operand, False)]
    return [v]


def _products(v: Value) -> list[Value]:
    """The nn.mul results of the product tree :func:`_factors` flattened, in order."""
    if not isinstance(v.op, nn.MulOp):
        return []
    inner = [p for operand in v.op.operands
             if isinstance(operand.op, nn.MulOp) and single_user(operand) is not None
             for p in _products(operand)]
    return [*inner, v]


def _erf_argument(a: Value) -> tuple[Value, list[Op]] | None:
    """(x, the ops from the scaling to the add) when ``a`` is ``1 + erf(x / sqrt(2))``
    (either operand order; a Div by sqrt(2) or a Mul by 1/sqrt(2))."""
    add = a.op
    if not isinstance(add, nn.AddOp) or single_user(a) is None:
        return None
    one, e = add.operands
    if not _scalar(one, 1.0):
        one, e = e, one
    if not _scalar(one, 1.0) or not isinstance(e.op, nn.ErfOp) or single_user(e) is None:
        return None
    s = e.op.input
    scale = s.op
    if single_user(s) is None:
        return None
    if isinstance(scale, nn.DivOp) and _scalar(scale.operands[1], math.sqrt(2)):
        return scale.operands[0], [scale, e.op, add]
    if isinstance(scale, nn.MulOp):
        for x, c in (scale.operands, tuple(reversed(scale.operands))):
            if _scalar(c, 1 / math.sqrt(2)):
                return x, [scale, e.op, add]
    return None


def fuse_gelu(op: nn.MulOp, rw: Rewriter) -> bool:
    leaves = _factors(op.result, True)
    if len(leaves) != 3:
        return False
    half = [v for v in leaves if _scalar(v, 0.5)]
    if not half:
        return False
    rest = list(leaves)
    rest.remove(half[0])
    for x, a in (rest, tuple(reversed(rest))):
        match = _erf_argument(a)
        if match is not None and match[0] is x and x.type == op.result.type:
            muls = [v.op for v in _products(op.result)]
            locs = [o.loc for o in (op, *match[1], *muls)]  # the last node's first
            new = nn.GeluOp.build(x, approximate="none", loc=fuse_locs(*locs),
                                  name=op.result.name_hint)
            rw.insert_before(op, new)
            rw.replace_op(op, [new.output])
            return True
    return False


@register_pass
@dataclass(frozen=True)
class FuseGelu(PatternPass):
    """Fuse the Erf form of GELU, x * 0.5 * (1 + erf(x / sqrt(2))), into nn.gelu."""

    name = "fuse-gelu"
    patterns = (Pattern(nn.MulOp, fuse_gelu, "gelus-fused"),)
