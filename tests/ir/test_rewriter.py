"""The op order (a linked list: O(1) lookup, insertion, erasure) and every Rewriter
method: use-lists stay consistent, locations are kept, changes are reported."""

from __future__ import annotations

import pytest

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.diagnostics import OnnxLoc
from qcc.dialects import nn, quant
from qcc.ir import Graph, Module, Op, ReturnOp, Rewriter, TensorType, Value, f32, verify

T = TensorType((2, 3), f32)


def assert_use_lists_consistent(g: Graph) -> None:
    """Every operand has exactly one matching use and every use one operand."""
    expected: dict[int, list[tuple[int, int]]] = {id(v): [] for v in g.args}
    for op in g.ops:
        for r in op.results:
            expected[id(r)] = []
    for op in g.ops:
        for i, v in enumerate(op.operands):
            expected[id(v)].append((id(op), i))
    for v in [*g.args, *(r for op in g.ops for r in op.results)]:
        assert sorted((id(u.op), u.index) for u in v.uses) == sorted(expected[id(v)]), v
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


def recorder():
    events: list[tuple[str, object]] = []
    return events, (lambda e, op: events.append((e, op)))


# --------------------------------------------------------------------------- op order


def test_op_order_is_a_linked_list():
    g, x, relu, add, sig = chain()
    ret = g.return_op
    assert g.ops == [relu, add, sig, ret] and len(g) == 4
    assert relu in g and x not in g
    assert (g.prev_op(relu), g.next_op(relu)) == (None, add)
    assert (g.prev_op(ret), g.next_op(ret)) == (sig, None)
    t = g.insert_after(add, nn.TanhOp.build(add.result))
    assert g.ops == [relu, add, t, sig, ret]
    assert (g.next_op(add), g.prev_op(sig)) == (t, t)
    g.erase(t)
    assert g.ops == [relu, add, sig, ret] and t not in g and t.graph is None
    with pytest.raises(ValueError, match="not in graph"):
        g.next_op(t)
    assert_use_lists_consistent(g)


def test_ops_is_a_snapshot_kept_until_the_graph_changes():
    g, x, relu, _add, _sig = chain()
    ops = g.ops
    assert g.ops is ops  # no rebuilding while nothing changes
    new = g.insert_before(relu, nn.TanhOp.build(x))
    assert ops[0] is relu  # the old snapshot is left as it was
    assert g.ops[0] is new and g.ops is not ops


def test_an_op_cannot_be_inserted_twice():
    g, x, relu, add, _sig = chain()
    with pytest.raises(ValueError, match="already in graph"):
        g.insert_after(add, relu)
    t = g.append(nn.TanhOp.build(x))
    with pytest.raises(ValueError, match="already in graph"):
        g.append(t)
    assert g.ops.count(relu) == 1 and g.ops.count(t) == 1


def test_list_mutations_of_ops_act_on_the_graph():
    g, x, relu, add, sig = chain()
    ret = g.return_op
    g.ops.insert(0, g.ops.pop(-2))  # move sig first: breaks the IR, on purpose
    assert g.ops == [sig, relu, add, ret] and sig.graph is g
    g.ops.remove(sig)
    assert g.ops == [relu, add, ret] and sig not in g
    g.ops.insert(99, sig)  # past the end: appended, as list.insert does
    assert g.ops == [relu, add, ret, sig]
    g.ops.remove(sig)
    g.ops.insert(-1, sig)
    assert g.ops == [relu, add, sig, ret]
    assert_use_lists_consistent(g)
    for mutate in (lambda ops: ops.sort(key=id), lambda ops: ops.__setitem__(0, sig),
                   lambda ops: ops.__delitem__(0), lambda ops: ops.extend([]),
                   lambda ops: ops.clear(), lambda ops: ops.reverse()):
        with pytest.raises(TypeError, match="Rewriter"):
            mutate(g.ops)
    assert g.ops == [relu, add, sig, ret]
    assert g.ops.count(x.users[0]) == 1


def test_ops_keep_their_order_through_many_insertions_and_erasures():
    g = Graph("main")
    x = g.add_arg(T, "x")
    ops = [g.append(nn.ReluOp.build(x)) for _ in range(50)]
    g.set_outputs([x], ["y"])
    rw = Rewriter(g)
    expected = list(ops)
    for k in range(0, 50, 3):
        new = rw.insert_before(ops[k], nn.TanhOp.build(x))
        expected.insert(expected.index(ops[k]), new)
    for k in range(1, 50, 4):
        rw.erase(ops[k])
        expected.remove(ops[k])
    assert g.ops == [*expected, g.return_op]
    assert isinstance(g.ops[-1], ReturnOp)
    assert_use_lists_consistent(g)


# --------------------------------------------------------------------------- rewriter


def test_set_operand_keeps_use_lists_and_reports_both_ends():
    g, x, relu, add, sig = chain()
    events, listener = recorder()
    rw = Rewriter(g, listener)
    rw.set_operand(add, 1, x)
    assert add.operands == [relu.result, x]
    assert [(u.op, u.index) for u in relu.result.uses] == [(add, 0)]
    assert (add, 1) in [(u.op, u.index) for u in x.uses]
    assert events == [("modified", add), ("modified", relu)]  # relu lost a use
    events.clear()
    rw.set_operand(add, 1, x)  # already so: nothing happens
    assert events == []
    rw.set_operand(sig, 0, x)  # from an op's result to a graph argument
    assert not add.result.uses[1:] and add.result.users == []
    assert events == [("modified", sig), ("modified", add)]
    assert_use_lists_consistent(g)


def test_replace_uses_reports_the_users_and_the_old_producer():
    g, x, relu, add, _sig = chain()
    events, listener = recorder()
    rw = Rewriter(g, listener)
    rw.replace_uses(relu.result, x)
    assert add.operands == [x, x] and not relu.result.uses
    assert events == [("modified", add), ("modified", relu)]
    assert_use_lists_consistent(g)


def test_replace_uses_except_some_users():
    g, _x, relu, add, _sig = chain()
    stats = g.insert_after(relu, quant.StatsOp.build(relu.result, min=0.0, max=1.0))
    rw = Rewriter(g)
    rw.replace_uses(relu.result, stats.output, exclude=[stats])
    assert stats.input is relu.result and relu.result.users == [stats]
    assert add.operands == [stats.output, stats.output]
    assert [(u.op, u.index) for u in stats.output.uses] == [(add, 0), (add, 1)]
    assert_use_lists_consistent(g)


def test_replace_uses_keeps_the_order_of_the_uses():
    g, x, relu, add, _sig = chain()
    t = g.insert_before(add, nn.TanhOp.build(x))
    Rewriter(g).replace_uses(relu.result, t.result)
    assert [(u.op, u.index) for u in t.result.uses] == [(add, 0), (add, 1)]
    Rewriter(g).replace_uses(t.result, t.result)  # with itself: nothing changes
    assert [(u.op, u.index) for u in t.result.uses] == [(add, 0), (add, 1)]
    assert_use_lists_consistent(g)


def test_set_attribute_converts_and_reports():
    g, _x, relu, _add, _sig = chain()
    clip = g.insert_after(relu, nn.ClipOp.build(relu.result, min=0.0, max=6.0))
    events, listener = recorder()
    Rewriter(g, listener).set_attribute(clip, "max", 4)
    assert clip.max == 4.0 and type(clip.max) is float  # canonical, as Op.build makes it
    assert events == [("modified", clip)]
    assert_use_lists_consistent(g)


def test_rewrites_keep_locations():
    g, x, relu, add, sig = chain()
    for op, node in ((relu, "r"), (add, "a"), (sig, "s")):
        op.loc = OnnxLoc(type(op).__name__, node)
    rw = Rewriter(g)
    new = rw.insert_before(add, nn.TanhOp.build(x, loc=relu.loc))
    rw.replace_op(relu, [new.result])
    rw.set_operand(sig, 0, new.result)
    assert new.loc == OnnxLoc("ReluOp", "r")
    assert add.loc == OnnxLoc("AddOp", "a") and sig.loc == OnnxLoc("SigmoidOp", "s")
    assert_use_lists_consistent(g)


def test_erase_takes_long_dead_chains_without_recursion():
    g = Graph("main")
    x = g.add_arg(T, "x")
    v = x
    for _ in range(5000):  # deeper than Python's recursion limit
        v = g.append(nn.ReluOp.build(v)).result
    last = v.op
    g.set_outputs([x], ["y"])
    events, listener = recorder()
    rw = Rewriter(g, listener)
    rw.erase(last)
    assert g.ops == [g.return_op] and rw.erased == 5000
    assert [e for e, _ in events] == ["erased"] * 5000
    assert_use_lists_consistent(g)


def test_erase_notifies_each_surviving_producer_once_per_operand():
    g, _x, relu, add, _sig = chain()
    t = g.insert_after(add, nn.AddOp.build(add.result, relu.result))
    events, listener = recorder()
    Rewriter(g, listener).erase(t)
    assert events == [("erased", t), ("modified", add), ("modified", relu)]
    assert_use_lists_consistent(g)
