"""``constant-fold``: evaluate ops whose operands are all constants.

The interpreter computes the result, so a folded graph means exactly what the
unfolded one did. Identical constants are then merged (constants are content
addressed) and dead ops dropped.

    %c = "nn.transpose"(%w) {perm = [1, 0]} ...   // %w constant
    =>  %c = "nn.constant"() {value = dense<...>} ...

Quantized constants stay quantized: ``quant.dequantize`` of a constant is not folded
(fold-rescale needs the integer weights and biases of a fake-quantized graph, such
as an imported ONNX QDQ model), and a transpose or reshape of one folds into the
integers instead, the quantization axis moving with its dimension::

    %d = "quant.dequantize"(%w) ...                 // %w: i8 constant, per axis 0
    %t = "nn.transpose"(%d) {perm = [1, 0]} ...
    =>  %w2 = "nn.constant"() ...                     // transposed, per axis 1
        %t = "quant.dequantize"(%w2) ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.dialects import nn, quant
from qcc.dialects.nn import constant_value
from qcc.interpreter import SEMANTICS, evaluate_op
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Graph, Module, Op, Rewriter, Value, VerifyError
from qcc.ir.traits import DataMovement
from qcc.ir.types import TensorType
from qcc.passes.dce import eliminate_dead_ops
from qcc.passmanager import Pass, PassContext, register_pass


def fold_op(op: Op, rw: Rewriter, max_elements: int = 1 << 30) -> list[Value] | None:
    """Replace ``op`` by constants if all its operands are constants; return them."""
    if isinstance(op, nn.ConstantOp | quant.DequantizeOp) or not op.pure or \
            type(op) not in SEMANTICS:
        return None
    if op.has_trait(DataMovement):
        moved = _fold_through_dequantize(op, rw, max_elements)
        if moved is not None:
            return moved
    if not op.operands or not all(isinstance(r.type, TensorType) for r in op.results):
        return None
    if sum(r.type.num_elements for r in op.results) > max_elements:
        return None
    args = [constant_value(v) for v in op.operands]
    if any(a is None for a in args):
        return None
    with np.errstate(all="ignore"):
        values = evaluate_op(op, args)
    new = []
    for r, value in zip(op.results, values, strict=True):
        c = nn.ConstantOp.build(value=DenseAttr(value, r.type), loc=op.loc, name=r.name_hint)
        rw.insert_before(op, c)
        new.append(c.result)
    rw.replace_op(op, new)
    return new


def _fold_through_dequantize(op: Op, rw: Rewriter,
                             max_elements: int) -> list[Value] | None:
    """layout(dequantize(c)) -> dequantize(c') with c' = layout(c) folded."""
    dq = op.operands[0].op
    if not isinstance(dq, quant.DequantizeOp) or constant_value(dq.input) is None:
        return None
    attrs = {k: op.attributes[k] for k in op.attr_defs}
    try:
        moved = type(op).build(dq.input, loc=op.loc, name=dq.input.name_hint, **attrs)
    except VerifyError:  # e.g. a reshape that would split a quantization axis
        return None
    rw.insert_before(op, moved)
    folded = fold_op(moved, rw, max_elements)
    if folded is None:
        rw.erase(moved)
        return None
    new = rw.insert_before(op, quant.DequantizeOp.build(folded[0], loc=op.loc,
                                                        name=op.result.name_hint))
    rw.replace_op(op, [new.result])
    return [new.result]


def merge_duplicate_constants(graph: Graph, rw: Rewriter | None = None) -> int:
    """Make every use of a constant point at the first constant with the same contents."""
    rw = rw or Rewriter(graph)
    first: dict[tuple[str, str], nn.ConstantOp] = {}
    merged = 0
    for op in graph.walk(nn.ConstantOp):
        if op.value.elided:
            continue
        key = (op.value.digest, str(op.result.type))
        if key in first:
            rw.replace_uses(op.result, first[key].result)
            rw.erase(op)
            merged += 1
        else:
            first[key] = op
    return merged


@register_pass
@dataclass(frozen=True)
class ConstantFold(Pass):
    """Evaluate ops with constant operands at compile time and merge equal constants."""

    name = "constant-fold"
    #: do not create constants larger than this many elements
    max_elements: int = 1 << 24

    def __post_init__(self) -> None:
        if self.max_elements < 0:
            raise ValueError(f"max-elements must be >= 0, got {self.max_elements}")

    def run(self, module: Module, ctx: PassContext) -> None:
        for g in module.graphs.values():
            rw = Rewriter(g)
            for op in g.walk():
                if op.graph is g and fold_op(op, rw, self.max_elements) is not None:
                    ctx.stat("ops-folded")
            ctx.stat("constants-merged", merge_duplicate_constants(g, rw))
            ctx.stat("ops-erased", eliminate_dead_ops(g, rw))
