"""``canonicalize``: the local simplifications imported graphs need, to a fixed point.

- Identity and Dropout are removed.
- ``reshape(reshape(x))`` is one reshape; a reshape to the same shape disappears.
- ``transpose(transpose(x))`` is one transpose; an identity permutation disappears.
- ``x + 0``, ``x - 0``, ``x * 1``, ``x / 1`` with a constant that does not change the
  shape disappear.
- A constant ``nn.pad`` of zeros on H and W only, feeding only a conv, moves into the
  conv's ``pads`` (frameworks export explicit Pad before Conv).
- The Erf form of GELU, ``x * 0.5 * (1 + erf(x / sqrt(2)))``, becomes one ``nn.gelu``
  (``fuse-gelu``).
- Ops with constant operands are folded, equal constants merged, dead ops erased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.diagnostics import fuse_locs
from qcc.dialects import nn
from qcc.dialects.nn import constant_value
from qcc.ir.core import Module, Op, Rewriter
from qcc.ir.traits import Commutative, NoOp, ops_with
from qcc.passes.constant_fold import fold_op, merge_duplicate_constants
from qcc.passes.dce import eliminate_dead_ops
from qcc.passes.fuse_gelu import fuse_gelu
from qcc.passes.remove_identity import forward_identity
from qcc.passmanager import PassContext, register_pass
from qcc.rewrite import Pattern, PatternPass, single_user


def merge_reshapes(op: nn.ReshapeOp, rw: Rewriter) -> bool:
    if op.result.type == op.input.type:
        rw.replace_op(op, [op.input])
        return True
    inner = op.input.op
    if isinstance(inner, nn.ReshapeOp):
        new = rw.insert_before(op, nn.ReshapeOp.build(inner.input, shape=op.shape, loc=op.loc))
        rw.replace_op(op, [new.result])
        return True
    return False


def merge_transposes(op: nn.TransposeOp, rw: Rewriter) -> bool:
    if list(op.perm) == list(range(len(op.perm))):
        rw.replace_op(op, [op.input])
        return True
    inner = op.input.op
    if isinstance(inner, nn.TransposeOp):
        perm = tuple(inner.perm[p] for p in op.perm)
        new = rw.insert_before(op, nn.TransposeOp.build(inner.input, perm=perm, loc=op.loc))
        rw.replace_op(op, [new.result])
        return True
    return False


_NEUTRAL = {nn.AddOp: 0.0, nn.SubOp: 0.0, nn.MulOp: 1.0, nn.DivOp: 1.0}


def drop_neutral_arithmetic(op: Op, rw: Rewriter) -> bool:
    neutral = _NEUTRAL[type(op)]
    sides = [(op.operands[0], op.operands[1])]
    if op.has_trait(Commutative):
        sides.append((op.operands[1], op.operands[0]))
    for keep, const in sides:
        value = constant_value(const)
        if value is not None and keep.type == op.result.type and value.size \
                and bool(np.all(value == neutral)):
            rw.replace_op(op, [keep])
            return True
    return False


def fold_pad_into_conv(op: nn.PadOp, rw: Rewriter) -> bool:
    conv = single_user(op.result)
    if not isinstance(conv, nn.Conv2dOp) or conv.input is not op.result:
        return False
    p = op.pads
    if op.value != 0.0 or min(p) < 0 or any(p[i] for i in (0, 1, 4, 5)):
        return False
    pads = tuple(a + b for a, b in zip(conv.pads, (p[2], p[3], p[6], p[7]), strict=True))
    attrs = {k: conv.attributes[k] for k in conv.attr_defs} | {"pads": pads}
    new = nn.Conv2dOp.build(op.input, conv.weight, conv.bias, loc=fuse_locs(op.loc, conv.loc),
                            **attrs)
    rw.insert_before(conv, new)
    rw.replace_op(conv, [new.result])
    rw.erase(op)
    return True


def fold_constants(op: Op, rw: Rewriter) -> bool:
    return fold_op(op, rw, 1 << 24) is not None


@register_pass
@dataclass(frozen=True)
class Canonicalize(PatternPass):
    """Simplify locally to a fixed point: identities, reshape/transpose chains, neutral
    arithmetic, pad-into-conv, constant folding, dead code."""

    name = "canonicalize"
    patterns = (
        Pattern(ops_with(NoOp, "nn"), forward_identity),
        Pattern(nn.ReshapeOp, merge_reshapes),
        Pattern(nn.TransposeOp, merge_transposes),
        Pattern(tuple(_NEUTRAL), drop_neutral_arithmetic),
        Pattern(nn.PadOp, fold_pad_into_conv),
        Pattern(nn.MulOp, fuse_gelu),
        Pattern(Op, fold_constants),
    )

    def run(self, module: Module, ctx: PassContext) -> None:
        super().run(module, ctx)
        for g in module.graphs.values():
            ctx.stat("constants-merged", merge_duplicate_constants(g))
            ctx.stat("ops-erased", eliminate_dead_ops(g))
