"""``fold-batchnorm``: fold an inference batch norm into the conv or dense before it.

With ``s = scale / sqrt(var + eps)`` per channel, ``bn(conv(x, w, b))`` equals
``conv(x, w * s, (b - mean) * s + beta)``; the same holds for ``nn.dense`` with the
channel on the last axis of a 2-D output. The producer must have no other user and
constant weights; the arithmetic is done in float64 and rounded once.

    %c = "nn.conv2d"(%x, %w, %b) ...
    %y = "nn.batch_norm"(%c, %g, %beta, %m, %v) {epsilon = 1e-05}
    =>  %y = "nn.conv2d"(%x, %w2, %b2) ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.diagnostics import fuse_locs
from qcc.dialects import nn
from qcc.dialects.nn import constant_value, make_constant
from qcc.ir.core import Rewriter
from qcc.ir.traits import HasWeights
from qcc.ir.types import FloatType
from qcc.passes.fold_mul_add import fold_mul_add
from qcc.passmanager import register_pass
from qcc.rewrite import Pattern, PatternPass, single_user


def fold_batchnorm(bn: nn.BatchNormOp, rw: Rewriter) -> bool:
    producer = bn.input.op
    weights = producer.trait(HasWeights) if producer is not None else None
    if weights is None or not isinstance(producer.result.type.element, FloatType):
        return False  # not a float op with weights (quant.conv2d has integer weights)
    if single_user(bn.input) is not bn:
        return False
    if weights.output_axis % producer.result.type.rank != 1:
        return False  # batch norm normalizes axis 1 (dense: N only for 2-D outputs)
    params = [constant_value(v) for v in (bn.scale, bn.bias, bn.mean, bn.var)]
    w = constant_value(producer.weight)
    if w is None or any(p is None for p in params):
        return False
    b = constant_value(producer.bias) if producer.bias is not None else np.zeros(
        bn.mean.type.shape, w.dtype)
    if b is None:
        return False
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    s = gamma / np.sqrt(var + bn.epsilon)
    per_channel = [1] * w.ndim
    per_channel[weights.weight_axis] = -1  # s along the weight's output channels
    new_w = w.astype(np.float64) * s.reshape(per_channel)
    new_b = (b.astype(np.float64) - mean) * s + beta
    loc = fuse_locs(producer.loc, bn.loc)
    wv = make_constant(rw, producer, new_w, like=producer.weight, name=producer.weight.name_hint)
    bv = make_constant(rw, producer, new_b, like=bn.bias, name=None)
    attrs = {k: producer.attributes[k] for k in producer.attr_defs}
    new = type(producer).build(producer.input, wv, bv, loc=loc, **attrs)
    rw.insert_before(producer, new)
    new.result.name_hint = bn.result.name_hint
    rw.replace_op(bn, [new.result])
    rw.erase(producer)
    return True


@register_pass
@dataclass(frozen=True)
class FoldBatchNorm(PatternPass):
    """Fold inference batch normalization into the preceding conv2d or dense."""

    name = "fold-batchnorm"
    # a batch norm exported as Mul + Add by per-channel constants too (fold_mul_add.py;
    # the same pattern as the fold-mul-add pass, so the default pipeline folds them)
    patterns = (Pattern(nn.BatchNormOp, fold_batchnorm, "batchnorms-folded"),
                Pattern((nn.MulOp, nn.AddOp), fold_mul_add, "mul-add-folded"))
