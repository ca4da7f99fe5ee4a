"""The SSA graph: use-lists under mutation, erasure, networkx/DOT views, operand groups."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.diagnostics import QccError
from qcc.dialects import nn
from qcc.ir import (
    DenseAttr,
    Graph,
    Module,
    Op,
    ReturnOp,
    Rewriter,
    TensorType,
    Value,
    f32,
    operand,
    register_op,
    result,
    verify,
)
from qcc.text import print_module

T = TensorType((2, 3), f32)


def uses(v: Value) -> list[tuple[Op, int]]:
    return sorted(((u.op, u.index) for u in v.uses), key=lambda p: (id(p[0]), p[1]))


def same(a, b) -> bool:
    return sorted(a, key=lambda p: (id(p[0]), p[1])) == sorted(b, key=lambda p: (id(p[0]),
                                                                                p[1]))


def assert_use_lists_consistent(g: Graph) -> None:
    """Every operand has exactly one matching use and every use one operand."""
    values = list(g.args) + [r for op in g.ops for r in op.results]
    expected = {id(v): [] for v in values}
    for op in g.ops:
        for i, v in enumerate(op.operands):
            expected[id(v)].append((op, i))
    for v in values:
        assert same([(u.op, u.index) for u in v.uses], expected[id(v)]), v
    verify(Module([g]))


def chain() -> tuple[Graph, Value, Op, Op, Op]:
    """x -> relu -> add(relu, relu) -> sigmoid -> return."""
    g = Graph("main")
    x = g.add_arg(T, "x")
    relu = g.append(nn.ReluOp.build(x, name="r"))
    add = g.append(nn.AddOp.build(relu.result, relu.result, name="a"))
    sig = g.append(nn.SigmoidOp.build(add.result, name="s"))
    g.set_outputs([sig.result], ["y"])
    return g, x, relu, add, sig


# --------------------------------------------------------------------------- use-lists


def test_construction_registers_uses():
    g, x, relu, add, sig = chain()
    assert same([(u.op, u.index) for u in relu.result.uses], [(add, 0), (add, 1)])
    assert relu.result.users == [add]  # users are deduplicated
    assert x.users == [relu]
    assert sig.result.users == [g.return_op]
    assert not g.return_op.results
    assert_use_lists_consistent(g)


def test_set_operand_moves_one_use():
    g, x, relu, add, _sig = chain()
    add.set_operand(1, x)
    assert add.operands == [relu.result, x]
    assert same([(u.op, u.index) for u in relu.result.uses], [(add, 0)])
    assert same([(u.op, u.index) for u in x.uses], [(relu, 0), (add, 1)])
    assert_use_lists_consistent(g)
    add.set_operand(0, x)
    assert not relu.result.has_uses
    assert x.users == [relu, add]
    assert_use_lists_consistent(g)


def test_set_operand_to_the_same_value():
    g, _x, relu, add, _sig = chain()
    add.set_operand(0, relu.result)
    assert len(relu.result.uses) == 2
    assert_use_lists_consistent(g)


def test_replace_all_uses_with():
    g, x, relu, add, _sig = chain()
    relu.result.replace_all_uses_with(x)
    assert add.operands == [x, x]
    assert not relu.result.uses
    assert same([(u.op, u.index) for u in x.uses], [(relu, 0), (add, 0), (add, 1)])
    assert_use_lists_consistent(g)


def test_replace_all_uses_of_an_output():
    g, _x, _relu, add, sig = chain()
    sig.result.replace_all_uses_with(add.result)
    assert g.outputs == [add.result]
    assert not sig.result.has_uses
    assert_use_lists_consistent(g)


def test_replace_all_uses_with_itself_is_a_no_op():
    g, _x, relu, add, _sig = chain()
    relu.result.replace_all_uses_with(relu.result)
    assert add.operands == [relu.result, relu.result]
    assert_use_lists_consistent(g)


def test_rewriter_replace_op():
    events = []
    g, x, relu, add, _sig = chain()
    rw = Rewriter(g, listener=lambda e, op: events.append((e, op.name)))
    new = rw.insert_before(add, nn.TanhOp.build(x))
    rw.replace_op(relu, [new.result])
    assert relu not in g.ops and relu.graph is None
    assert relu.operands == [] and x.users == [new]
    assert add.operands == [new.result, new.result]
    assert new.result.name_hint == "r"  # inherits the replaced value's name
    assert (rw.created, rw.replaced, rw.erased) == (1, 1, 1)
    assert events == [("created", "nn.tanh"), ("modified", "nn.add"), ("erased", "nn.relu")]
    assert_use_lists_consistent(g)
    assert '%r = "nn.tanh"(%x)' in print_module(Module([g]))


def test_rewriter_replace_op_keeps_an_existing_name():
    g, _x, _relu, add, sig = chain()
    Rewriter(g).replace_op(sig, [add.result])
    assert add.result.name_hint == "a"
    assert g.outputs == [add.result]
    assert_use_lists_consistent(g)


def test_rewriter_replace_op_needs_one_value_per_result():
    g, _x, relu, _add, _sig = chain()
    with pytest.raises(ValueError, match="1 results"):
        Rewriter(g).replace_op(relu, [])
    assert relu in g.ops


def test_rewriter_erase_notifies_operand_producers():
    g, _x, _relu, add, sig = chain()
    events = []
    rw = Rewriter(g, listener=lambda e, op: events.append((e, op)))
    sig.result.replace_all_uses_with(add.result)
    rw.erase(sig)
    assert events == [("erased", sig), ("modified", add)]
    assert add.result.users == [g.return_op]
    assert_use_lists_consistent(g)


def test_erase_drops_the_op_uses():
    g, _x, _relu, add, sig = chain()
    sig.result.replace_all_uses_with(add.result)
    g.erase(sig)
    assert sig not in g.ops and sig.graph is None
    assert add.result.users == [g.return_op]
    assert_use_lists_consistent(g)


def test_erase_refuses_an_op_with_uses():
    g, x, relu, _add, sig = chain()
    with pytest.raises(ValueError, match="still has 2 uses"):
        g.erase(relu)
    assert relu in g.ops and relu.operands == [x]
    assert_use_lists_consistent(g)
    with pytest.raises(ValueError, match="still has 1 uses"):
        Rewriter(g).erase(sig)
    assert_use_lists_consistent(g)


def test_erase_of_a_foreign_op_changes_nothing():
    _g, _x, relu, _add, _sig = chain()
    unused = nn.TanhOp.build(relu.result)
    _g.append(unused)
    with pytest.raises(ValueError, match="not in graph"):
        Graph("other").erase(unused)
    assert unused.operands == [relu.result]
    assert unused in relu.result.users


def test_set_outputs_replaces_the_return():
    g, x, relu, _add, sig = chain()
    old_ret = g.return_op
    g.set_outputs([relu.result, x], ["a", "b"])
    assert g.return_op is not old_ret and old_ret.operands == []
    assert not sig.result.has_uses
    assert g.outputs == [relu.result, x] and g.output_names == ["a", "b"]
    assert [op for op in g.ops if isinstance(op, ReturnOp)] == [g.return_op]
    assert_use_lists_consistent(g)


def test_append_and_insert_keep_return_last():
    g, x, relu, _add, _sig = chain()
    late = g.append(nn.TanhOp.build(x))
    assert g.ops[-2] is late and isinstance(g.ops[-1], ReturnOp)
    first = g.insert_before(relu, nn.SigmoidOp.build(x))
    after = g.insert_after(relu, nn.ReluOp.build(relu.result))
    assert g.ops[:3] == [first, relu, after]
    assert all(op.graph is g for op in g.ops)
    assert_use_lists_consistent(g)
    with pytest.raises(ValueError, match="not in graph"):
        g.insert_before(nn.ReluOp.build(x), nn.ReluOp.build(x))


def test_walk_is_a_snapshot():
    g, _x, relu, _add, _sig = chain()
    seen = []
    for op in g.walk(nn.ReluOp):
        seen.append(op)
        g.insert_after(op, nn.ReluOp.build(op.result))
    assert seen == [relu]
    assert [type(op) for op in g.walk((nn.AddOp, nn.SigmoidOp))] == [nn.AddOp, nn.SigmoidOp]


# --------------------------------------------------------------------------- verifier on IR


def test_verifier_finds_stale_use_lists():
    g, x, _relu, add, _sig = chain()
    add.operands[1] = x  # bypasses set_operand
    with pytest.raises(QccError, match="missing from its value's use-list"):
        verify(Module([g]))


def test_verifier_finds_use_before_definition():
    g, _x, relu, add, _sig = chain()
    g.ops.remove(relu)
    g.insert_after(add, relu)
    with pytest.raises(QccError, match="used before it is defined"):
        verify(Module([g]))


def test_verifier_needs_a_return():
    g = Graph("main")
    g.add_arg(T, "x")
    with pytest.raises(QccError, match=r"does not end in func\.return"):
        verify(Module([g]))
    with pytest.raises(QccError, match="no graphs"):
        verify(Module())


# --------------------------------------------------------------------------- clone


def test_module_clone_is_independent():
    g, _x, _relu, _add, _sig = chain()
    m = Module([g])
    text = print_module(m)
    c = m.clone()
    assert print_module(c) == text
    cg = c.main
    assert not {id(op) for op in cg.ops} & {id(op) for op in g.ops}
    Rewriter(cg).replace_op(cg.ops[2], [cg.ops[1].result])
    assert print_module(m) == text
    assert_use_lists_consistent(g)
    assert_use_lists_consistent(cg)


# --------------------------------------------------------------------------- networkx / dot


def diamond() -> Graph:
    """Two args, a constant, fan-out and fan-in, an op using a value twice."""
    g = Graph("main")
    x = g.add_arg(T, "x")
    y = g.add_arg(T, "y")
    c = g.append(nn.ConstantOp.build(value=DenseAttr(np.ones((2, 3), np.float32), T))).result
    a = g.append(nn.AddOp.build(x, c, name="a")).result
    b = g.append(nn.MulOp.build(a, a, name="b")).result
    s = g.append(nn.SubOp.build(b, y, name="s")).result
    t = g.append(nn.TanhOp.build(a, name="t")).result
    g.set_outputs([s, t], ["s", "t"])
    return g


def test_to_networkx_is_a_dag_in_op_order():
    g = diamond()
    dg = g.to_networkx()
    assert isinstance(dg, nx.MultiDiGraph)
    assert nx.is_directed_acyclic_graph(dg)
    nodes = [("arg", 0), ("arg", 1), *g.ops]
    assert set(dg.nodes) == set(nodes)
    position = {n: k for k, n in enumerate(nodes)}
    for u, v in dg.edges():
        assert position[u] < position[v]
    # the op order itself is a topological order
    assert list(nx.lexicographical_topological_sort(dg, key=position.__getitem__)) == nodes
    # one edge per operand, parallel edges for a value used twice
    assert dg.number_of_edges() == sum(len(op.operands) for op in g.ops)
    mul = g.ops[2]
    assert dg.number_of_edges(g.ops[1], mul) == 2
    assert all(d["value"] is g.ops[1].result for d in dg.get_edge_data(g.ops[1], mul).values())
    assert dg.nodes[("arg", 1)]["label"] == "%y"
    assert dg.nodes[mul]["kind"] == "op" and dg.nodes[mul]["label"] == "nn.mul"


def test_to_networkx_after_rewrites():
    g = diamond()
    Rewriter(g).replace_op(g.ops[4], [g.ops[1].result])  # tanh(a) -> a
    dg = g.to_networkx()
    assert nx.is_directed_acyclic_graph(dg)
    assert len(dg.nodes) == 2 + len(g.ops)
    assert dg.has_edge(g.ops[1], g.return_op)


def test_to_dot_is_deterministic():
    dot = diamond().to_dot()
    assert dot == diamond().to_dot()  # same structure, different objects
    assert dot == (
        'digraph "main" {\n'
        "  node [shape=box, fontname=monospace];\n"
        '  a0 [label="%x\\ntensor<2x3xf32>", shape=ellipse];\n'
        '  a1 [label="%y\\ntensor<2x3xf32>", shape=ellipse];\n'
        '  n0 [label="nn.constant"];\n'
        '  n1 [label="nn.add"];\n'
        '  n2 [label="nn.mul"];\n'
        '  n3 [label="nn.sub"];\n'
        '  n4 [label="nn.tanh"];\n'
        '  n5 [label="func.return"];\n'
        '  a0 -> n1 [label="tensor<2x3xf32>"];\n'
        '  n0 -> n1 [label="tensor<2x3xf32>"];\n'
        '  n1 -> n2 [label="tensor<2x3xf32>"];\n'
        '  n1 -> n2 [label="tensor<2x3xf32>"];\n'
        '  n2 -> n3 [label="tensor<2x3xf32>"];\n'
        '  a1 -> n3 [label="tensor<2x3xf32>"];\n'
        '  n1 -> n4 [label="tensor<2x3xf32>"];\n'
        '  n3 -> n5 [label="tensor<2x3xf32>"];\n'
        '  n4 -> n5 [label="tensor<2x3xf32>"];\n'
        "}\n")


# --------------------------------------------------------------------------- operand groups


def conv_graph(with_bias: bool) -> tuple[Graph, Op]:
    g = Graph("main")
    x = g.add_arg(TensorType((1, 3, 8, 8), f32), "x")
    w = g.add_arg(TensorType((4, 3, 3, 3), f32), "w")
    b = g.add_arg(TensorType((4,), f32), "b")
    conv = g.append(nn.Conv2dOp.build(x, w, b if with_bias else None))
    g.set_outputs([conv.result])
    return g, conv


def test_optional_operand_present():
    g, conv = conv_graph(True)
    x, w, b = g.args
    assert (conv.input, conv.weight, conv.bias) == (x, w, b)
    assert conv.operand_group_bounds() == {"input": (0, 1), "weight": (1, 2), "bias": (2, 3)}
    assert conv.output is conv.result is conv.results[0]
    verify(Module([g]))


def test_optional_operand_absent():
    g, conv = conv_graph(False)
    x, w, _ = g.args
    assert (conv.input, conv.weight, conv.bias) == (x, w, None)
    assert conv.operand_group_bounds()["bias"] == (2, 2)
    verify(Module([g]))


def test_optional_operand_of_gemm_and_dense():
    g = Graph("main")
    a = g.add_arg(TensorType((2, 4), f32), "a")
    b = g.add_arg(TensorType((4, 5), f32), "b")
    c = g.add_arg(TensorType((5,), f32), "c")
    gemm = g.append(nn.GemmOp.build(a, b, c))
    dense = g.append(nn.DenseOp.build(a, b))
    assert (gemm.a, gemm.b, gemm.c) == (a, b, c)
    assert (dense.input, dense.weight, dense.bias) == (a, b, None)


def test_variadic_operand():
    g = Graph("main")
    xs = [g.add_arg(TensorType((1, k + 1), f32), f"x{k}") for k in range(3)]
    cat = g.append(nn.ConcatOp.build(*xs, axis=1))
    assert cat.inputs == xs
    assert cat.result.type == TensorType((1, 6), f32)
    assert cat.operand_group_bounds() == {"inputs": (0, 3)}
    one = g.append(nn.ConcatOp.build(xs[0], axis=0))
    assert one.inputs == [xs[0]]
    g.set_outputs([cat.result, one.result])
    assert g.return_op.values == [cat.result, one.result]
    verify(Module([g]))
    cat.set_operand(2, xs[0])
    assert cat.inputs == [xs[0], xs[1], xs[0]]


def test_attribute_accessors_and_defaults():
    g, conv = conv_graph(False)
    assert conv.strides == (1, 1) and conv.pads == (0, 0, 0, 0) and conv.group == 1
    clip = nn.ClipOp.build(g.args[0])
    assert clip.min == -np.inf and clip.max == np.inf
    conv2 = nn.Conv2dOp.build(*g.args[:2], pads=[1, 1, 1, 1])
    assert conv2.pads == (1, 1, 1, 1)  # lists are converted to tuples


def test_single_result_accessor_and_build_errors():
    with pytest.raises(TypeError, match="must be a Value"):
        nn.ReluOp([1.0], [T])
    with pytest.raises(NotImplementedError, match="cannot infer"):
        Op.infer_types([], {})
    ret = ReturnOp([])
    with pytest.raises(ValueError, match="0 results"):
        _ = ret.result


# --------------------------------------------------------------------------- op classes


def test_op_schema_allows_one_optional_or_variadic_group():
    with pytest.raises(TypeError, match="at most one optional or variadic"):
        class _Bad(Op):
            name = "test.bad"
            a = operand(optional=True)
            b = operand(variadic=True)
            out = result()


def test_register_op_checks_names():
    class NoDialect(Op):
        name = "nodialect"
        out = result()

    with pytest.raises(ValueError, match="dialect-qualified"):
        register_op(NoDialect)

    class Dup(Op):
        name = "nn.relu"
        out = result()

    with pytest.raises(ValueError, match="already registered"):
        register_op(Dup)
    assert register_op(nn.ReluOp) is nn.ReluOp  # registering again is harmless
