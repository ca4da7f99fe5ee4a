"""What to calibrate: the float activations of a graph (f32 graph arguments and f32
results of non-constant ops), the batch size its inputs share, and which values keep
one row per batch sample (so the padding of a partial last batch can be left out of
their statistics).
"""

from __future__ import annotations

from typing import Any

from qcc.diagnostics import QccError
from qcc.ir.core import Graph, ReturnOp, Value
from qcc.ir.types import TensorType, f32


def is_f32_tensor(t: Any) -> bool:
    return isinstance(t, TensorType) and t.element == f32


def calibrated_values(graph: Graph) -> dict[Value, str]:
    """The float activations of a graph, by printed name, in graph order: f32
    arguments and f32 results of ops that depend on an argument (not ``nn.constant``
    nor anything computed from constants only; not ``quant.stats``, whose input is
    the calibrated value)."""
    from qcc.dialects import nn, quant
    from qcc.text.printer import value_names

    names = value_names(graph)
    out = {a: names[a] for a in graph.args if is_f32_tensor(a.type)}
    constant: set[Value] = set()
    for op in graph.ops:
        if isinstance(op, ReturnOp):
            continue
        if isinstance(op, nn.ConstantOp) or all(v in constant for v in op.operands):
            constant.update(op.results)
            continue
        if isinstance(op, quant.StatsOp):
            continue
        for r in op.results:
            if is_f32_tensor(r.type):
                out[r] = names[r]
    return out


def batch_size(graph: Graph) -> int:
    """The batch size B of a graph: the first dimension its inputs share."""
    sizes = {a.type.shape[0] for a in graph.args
             if isinstance(a.type, TensorType) and a.type.rank >= 1}
    if len(sizes) > 1:
        shapes = ", ".join(f"{n} ({a.type})" for n, a in zip(graph.input_names, graph.args,
                                                             strict=True))
        raise QccError(f"calibration batches inputs along their first dimension, but the "
                       f"inputs disagree on it: {shapes}")
    b = sizes.pop() if sizes else 1
    if b < 1:
        raise QccError("calibration cannot run a model whose batch size is 0")
    scalars = [n for n, a in zip(graph.input_names, graph.args, strict=True)
               if not isinstance(a.type, TensorType) or a.type.rank == 0]
    if scalars and b != 1:
        raise QccError(f"input {scalars[0]!r} is a scalar, so it has no batch dimension, "
                       f"but the other inputs have batch size {b}")
    return b


def batch_major_values(graph: Graph, batch: int) -> set[Value]:
    """Values whose axis 0 provably holds one row per batch sample, each computed
    from that sample alone (and constants). Used to drop the padding rows of the
    last, partial batch."""
    from qcc.dialects import nn
    from qcc.ir.traits import Elementwise, HasWeights, Pool

    const: set[Value] = set()
    bm: set[Value] = {a for a in graph.args if isinstance(a.type, TensorType)
                      and a.type.rank >= 1 and a.type.shape[0] == batch}

    def rows(v: Value) -> bool:
        return v in bm

    for op in graph.ops:
        if isinstance(op, ReturnOp):
            continue
        if isinstance(op, nn.ConstantOp) or all(v in const for v in op.operands):
            const.update(op.results)
            continue
        if len(op.results) != 1:
            continue
        out = op.results[0]
        t = out.type
        if not isinstance(t, TensorType) or t.rank < 1 or t.shape[0] != batch:
            continue
        ops = op.operands
        rest_const = all(v in const for v in ops[1:])
        ok = False
        if op.has_trait(Elementwise):  # rows broadcast against constants
            ok = all((rows(v) and v.type.rank == t.rank) or
                     (v in const and (v.type.rank < t.rank or v.type.shape[0] == 1))
                     for v in ops)
        elif op.has_trait(Pool):
            ok = rows(ops[0])
        elif isinstance(op, nn.SoftmaxOp):
            ok = rows(ops[0]) and op.axis % t.rank != 0
        elif op.has_trait(HasWeights):  # conv, dense: a 1-D dense input has no rows
            ok = rows(ops[0]) and ops[0].type.rank >= 2 and rest_const
        elif isinstance(op, nn.BatchNormOp):
            ok = rows(ops[0]) and rest_const
        elif isinstance(op, nn.GemmOp):
            ok = rows(ops[0]) and not op.trans_a and rest_const
        elif isinstance(op, nn.MatMulOp):
            ok = (rows(ops[0]) and ops[0].type.rank >= 2 and rest_const
                  and ops[1].type.rank <= ops[0].type.rank)
        elif isinstance(op, nn.TransposeOp):
            ok = rows(ops[0]) and op.perm[0] == 0
        elif isinstance(op, nn.PadOp):
            ok = rows(ops[0]) and op.pads[0] == 0 and op.pads[t.rank] == 0
        elif isinstance(op, nn.ReshapeOp):
            ok = rows(ops[0])  # row-major: a kept first dimension keeps the rows
        elif isinstance(op, nn.ConcatOp):
            ok = all(rows(v) for v in ops) and op.axis % t.rank != 0
        if ok:
            bm.add(out)
    return bm
