"""``fuse-relu``: fold ReLU and Clip (ReLU6) into the clamp of the integer op before.

    %r = "quant.requantize"(%acc) {clamp_max = 127, clamp_min = -128, ...}
    %d = "quant.dequantize"(%r)
    %a = "nn.relu"(%d)
    %q = "quant.quantize"(%a)           // same type as %r
    =>  %q = "quant.requantize"(%acc) {clamp_max = 127, clamp_min = <zero point>, ...}

Exact: with the same type on both sides, quantize(relu(dequantize(r))) is
max(r, zero_point), and quantize(clip(dequantize(r), lo, hi)) is r clamped to the
codes of lo and hi (quantization is monotonic and real zero is exact). The producer
may be ``quant.requantize`` or ``quant.add``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.diagnostics import fuse_locs
from qcc.dialects import nn, quant
from qcc.ir.core import Op, Rewriter
from qcc.ir.traits import Clamp, Clamped
from qcc.ir.types import UniformQuantType
from qcc.passmanager import register_pass
from qcc.quant_arith import quantize
from qcc.rewrite import Pattern, PatternPass, single_user


def _code(value: float, op_type) -> int:
    e = op_type.element
    return int(quantize(np.float32(value), e.scale, e.zero_point, e.storage_min,
                        e.storage_max, np.int64))


def fuse_activation(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    act = q.input.op
    if act is None or not act.has_trait(Clamp) or single_user(q.input) is not q:
        return False
    dq = act.input.op
    if not isinstance(dq, quant.DequantizeOp) or single_user(act.input) is not act:
        return False
    producer: Op | None = dq.input.op
    if producer is None or not producer.has_trait(Clamped) or \
            single_user(dq.input) is not dq or dq.input.type != q.output.type:
        return False
    if isinstance(act, nn.ReluOp):
        lo, hi = _code(0.0, q.output.type), producer.clamp_max
    else:
        lo, hi = _code(act.min, q.output.type), _code(act.max, q.output.type)
    lo, hi = max(lo, producer.clamp_min), min(hi, producer.clamp_max)
    if lo > hi:
        return False
    attrs = {k: producer.attributes[k] for k in producer.attr_defs}
    attrs.update(clamp_min=lo, clamp_max=hi)
    new = type(producer).build(*producer.operands, result_types=[q.output.type],
                               loc=fuse_locs(producer.loc, act.loc),
                               name=q.output.name_hint, **attrs)
    rw.insert_before(q, new)
    rw.replace_op(q, [new.result])
    rw.erase(act)
    rw.erase(dq)
    rw.erase(producer)
    return True


def clamp_as_requantize(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """A ReLU / Clip of an 8-bit tensor with no clamped producer to fold into (after a
    concat, a max pool, an input) -> one quant.requantize with the clamp bounds (the
    TPU's activate)."""
    act = q.input.op
    if act is None or not act.has_trait(Clamp) or single_user(q.input) is not q:
        return False
    dq = act.input.op
    if not isinstance(dq, quant.DequantizeOp) or single_user(act.input) is not act:
        return False
    producer = dq.input.op
    if producer is not None and producer.has_trait(Clamped):
        return False  # fuse_activation's case (left alone when it does not apply)
    e_in, e_out = dq.input.type.element, q.output.type.element
    if not isinstance(e_in, UniformQuantType) or not isinstance(e_out, UniformQuantType) \
            or e_in.storage.width != 8 or e_out.storage.width != 8:
        return False
    if isinstance(act, nn.ReluOp):
        lo, hi = _code(0.0, q.output.type), e_out.storage_max
    else:
        lo, hi = _code(act.min, q.output.type), _code(act.max, q.output.type)
    if lo > hi:
        return False
    new = quant.RequantizeOp.make(dq.input, q.output.type, (lo, hi),
                                  loc=fuse_locs(dq.loc, act.loc), name=q.output.name_hint)
    rw.insert_before(q, new)
    rw.replace_op(q, [new.result])
    rw.erase(act)
    if not dq.output.has_uses:
        rw.erase(dq)
    return True


@register_pass
@dataclass(frozen=True)
class FuseRelu(PatternPass):
    """Fold ReLU and Clip into the clamp bounds of the requantize (or add) before them."""

    name = "fuse-relu"
    patterns = (Pattern(quant.QuantizeOp, fuse_activation, "activations-fused"),
                Pattern(quant.QuantizeOp, clamp_as_requantize, "clamps-requantized"))
