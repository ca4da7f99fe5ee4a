"""IR graphs built directly (no ONNX) for tests and benchmarks."""

from __future__ import annotations

from qcc.dialects import nn
from qcc.ir import Graph, TensorType, f32


def chain_of_blocks(ops: int) -> Graph:
    """Blocks of identity -> transpose -> transpose back -> reshape -> reshape back ->
    relu (6 ops each) that canonicalize reduces to the relus, in three rounds: the
    graph that shows pattern application grows linearly (tests/passmanager,
    benchmarks/rewrite_scaling.py)."""
    g = Graph("main")
    v = g.add_arg(TensorType((2, 3), f32), "x")
    for _ in range(ops // 6):
        v = g.append(nn.IdentityOp.build(v)).result
        v = g.append(nn.TransposeOp.build(v, perm=(1, 0))).result
        v = g.append(nn.TransposeOp.build(v, perm=(1, 0))).result
        v = g.append(nn.ReshapeOp.build(v, shape=(6,))).result
        v = g.append(nn.ReshapeOp.build(v, shape=(2, 3))).result
        v = g.append(nn.ReluOp.build(v)).result
    g.set_outputs([v], ["y"])
    return g
