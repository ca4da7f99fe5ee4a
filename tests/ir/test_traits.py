"""Op traits: declaration and lookup, the traits of the nn and quant ops, quant ops
sharing their float counterparts' schema, and no nn pattern matching a quant op."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.dialects import nn, quant
from qcc.ir import (
    OP_REGISTRY,
    DenseAttr,
    Graph,
    Module,
    Op,
    Rewriter,
    TensorType,
    UniformQuantType,
    f32,
    i8,
    operand,
    result,
)
from qcc.ir import traits as tr
from qcc.ir.traits import (
    Accumulates,
    Clamp,
    Clamped,
    ClampFusable,
    Commutative,
    DataMovement,
    Elementwise,
    HasWeights,
    IntegerForm,
    NoOp,
    Pool,
    ScaleTransparent,
    Trait,
    integer_form,
    ops_with,
)
from qcc.passmanager import PASS_PACKAGES, PASS_REGISTRY
from qcc.rewrite import PatternPass
from qcc.text import parse_module, print_module

ALL_TRAITS = [v for v in vars(tr).values()
              if isinstance(v, type) and issubclass(v, Trait) and v is not Trait]


def names(classes) -> set[str]:
    return {c.name for c in classes}


# --------------------------------------------------------------------------- mechanism


def test_lookup_on_class_and_instance():
    x = Graph().add_arg(TensorType((2, 3), f32), "x")
    relu = nn.ReluOp.build(x)
    assert relu.has_trait(Clamp) and nn.ReluOp.has_trait(Elementwise)
    assert not relu.has_trait(HasWeights) and relu.trait(HasWeights) is None
    assert nn.Conv2dOp.trait(HasWeights) == HasWeights(weight_axis=0, output_axis=1)
    assert nn.DenseOp.trait(HasWeights).output_axis == -1
    assert Op.traits == () and not Op.has_trait(Trait)


def test_traits_inherit_unless_redeclared():
    assert nn.SigmoidOp.has_trait(Elementwise)  # from UnaryOp
    assert nn.SubOp.has_trait(Elementwise) and not nn.SubOp.has_trait(Commutative)
    assert not nn.SoftmaxOp.has_trait(Elementwise)  # redeclared: reads its whole axis


def test_a_trait_on_a_new_op_class():
    class Tagged(Op):
        name = "test.tagged"
        traits = (Pool(), HasWeights(2, 3))
        input = operand()
        output = result()

    assert Tagged.has_trait(Pool) and Tagged.trait(HasWeights).weight_axis == 2
    assert Tagged.trait(Trait) == Pool()  # the first trait of a kind (or subclass)
    assert "test.tagged" not in OP_REGISTRY  # not registered: ops_with does not see it
    assert Tagged not in ops_with(Pool)


def test_every_trait_is_documented_and_frozen():
    assert len(ALL_TRAITS) >= 10
    for t in ALL_TRAITS:
        assert t.__doc__ and len(t.__doc__) > 40, t
        assert t.__dataclass_params__.frozen, t


# --------------------------------------------------------------------------- declarations


def test_trait_sets_of_the_dialects():
    assert names(ops_with(Clamp)) == {"nn.relu", "nn.clip"}
    assert names(ops_with(ClampFusable)) == {"nn.conv2d", "nn.dense", "nn.add"}
    assert names(ops_with(Clamped)) == {"quant.requantize", "quant.add", "quant.avg_pool_valid",
                                         "quant.prelu"}
    assert names(ops_with(HasWeights, "nn")) == {"nn.conv2d", "nn.dense"}
    assert names(ops_with(HasWeights, "quant")) == {"quant.conv2d", "quant.dense"}
    assert names(ops_with(Accumulates)) == {"quant.conv2d", "quant.dense", "quant.avg_pool",
                                            "quant.global_avg_pool"}
    assert names(ops_with(ScaleTransparent)) == {
        "nn.reshape", "nn.transpose", "nn.concat", "nn.max_pool", "nn.identity",
        "nn.dropout"}
    assert names(ops_with(DataMovement)) == {"nn.reshape", "nn.transpose", "nn.identity",
                                             "nn.dropout"}
    assert names(ops_with(NoOp)) == {"nn.identity", "nn.dropout"}
    assert names(ops_with(Commutative)) == {"nn.add", "nn.mul"}
    assert names(ops_with(Pool, "nn")) == {"nn.max_pool", "nn.avg_pool",
                                           "nn.global_avg_pool"}
    assert names(ops_with(IntegerForm)) == {
        "quant.conv2d", "quant.dense", "quant.requantize", "quant.add", "quant.avg_pool",
        "quant.global_avg_pool", "quant.prelu"}
    elementwise = names(ops_with(Elementwise))
    assert {"nn.relu", "nn.add", "nn.div", "quant.stats", "quant.requantize"} <= elementwise
    assert not elementwise & {"nn.softmax", "nn.conv2d", "nn.batch_norm", "nn.pad"}
    assert {"nn.hard_sigmoid", "nn.hard_swish", "nn.sqrt", "nn.pow", "nn.prelu"} <= elementwise
    assert not elementwise & {"nn.lrn", "nn.reduce_mean", "nn.slice", "nn.resize",
                              "nn.conv_transpose2d"}


def test_no_unit_in_the_core_dialects():
    assert ops_with(tr.Unit, "nn") == () and ops_with(tr.Unit, "quant") == ()


def test_data_movement_implies_scale_transparent():
    for cls in ops_with(DataMovement):
        assert cls.has_trait(ScaleTransparent), cls.name


def test_has_weights_ops_have_the_operands_it_names():
    for cls in ops_with(HasWeights):
        assert [n for n, _ in cls.operand_defs] == ["input", "weight", "bias"], cls.name


def test_clamped_ops_have_clamp_attributes():
    for cls in ops_with(Clamped):
        assert {"clamp_min", "clamp_max"} <= set(cls.attr_defs), cls.name


def test_integer_forms():
    assert integer_form(nn.Conv2dOp) is quant.Conv2dOp
    assert integer_form(nn.DenseOp) is quant.DenseOp
    assert integer_form(nn.AvgPoolOp) is quant.AvgPoolOp
    assert integer_form(nn.GlobalAvgPoolOp) is quant.GlobalAvgPoolOp
    assert integer_form(nn.AddOp) is quant.AddOp
    assert integer_form(nn.MaxPoolOp) is None  # runs on the integers as it is
    assert quant.RequantizeOp.trait(IntegerForm).of is None


# --------------------------------------------------------------------------- shared schema

SHARED = [(quant.Conv2dOp, nn.Conv2dOp), (quant.DenseOp, nn.DenseOp),
          (quant.AvgPoolOp, nn.AvgPoolOp), (quant.GlobalAvgPoolOp, nn.GlobalAvgPoolOp)]


@pytest.mark.parametrize(("qcls", "fcls"), SHARED, ids=lambda c: c.name)
def test_quant_op_shares_the_float_schema(qcls, fcls):
    assert qcls.trait(IntegerForm).of is fcls
    assert qcls.operand_defs == fcls.operand_defs
    assert qcls.result_defs == fcls.result_defs
    assert qcls.attr_defs == fcls.attr_defs
    assert not issubclass(qcls, fcls) and not issubclass(fcls, qcls)
    # the schema base carries no nn traits into the quant op
    assert set(qcls.traits).isdisjoint({ClampFusable(), ScaleTransparent()})


def test_quant_conv_prints_and_parses_as_before():
    g = Graph()
    x = g.add_arg(TensorType((1, 2, 4, 4), UniformQuantType.make(i8, 0.5, 0)), "x")
    w = g.add_arg(TensorType((3, 2, 1, 1), UniformQuantType.make(i8, 0.25, 0)), "w")
    conv = g.append(quant.Conv2dOp.build(x, w, strides=(2, 2), name="y"))
    g.set_outputs([conv.result])
    text = print_module(Module([g]))
    assert '"quant.conv2d"(%x, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], ' \
           'strides = [2, 2]}' in text
    op = parse_module(text).main.ops[0]
    assert isinstance(op, quant.Conv2dOp) and not isinstance(op, nn.Conv2dOp)
    assert op.strides == (2, 2) and op.group == 1 and op.bias is None
    assert print_module(parse_module(text)) == text


# --------------------------------------------------------------------------- patterns


def _pattern_passes() -> list[type[PatternPass]]:
    for package in PASS_PACKAGES:
        importlib.import_module(package)
    return [p for p in PASS_REGISTRY.values() if issubclass(p, PatternPass)]


def test_no_nn_pattern_matches_a_quant_op():
    quant_ops = [c for n, c in OP_REGISTRY.items() if n.startswith("quant.")]
    checked = 0
    for p in _pattern_passes():
        for pattern in p.patterns:
            roots = pattern.op_class if isinstance(pattern.op_class, tuple) \
                else (pattern.op_class,)
            for root in roots:
                if not root.name.startswith("nn."):
                    continue  # quant patterns, and Op (every op, e.g. constant folding)
                checked += 1
                for q in quant_ops:
                    assert not issubclass(q, root), f"{p.name}: {pattern.name} on {q.name}"
    assert checked >= 5


def test_fold_batchnorm_leaves_integer_weights_alone():
    """fold-batchnorm asks HasWeights, which quant.conv2d has too; it folds only into
    float weights."""
    from qcc.passes.fold_batchnorm import fold_batchnorm

    g = Graph()
    x = g.add_arg(TensorType((1, 2, 4, 4), UniformQuantType.make(i8, 0.5, 0)), "x")
    wt = TensorType((3, 2, 1, 1), UniformQuantType.make(i8, 0.25, 0))
    w = g.append(nn.ConstantOp.build(value=DenseAttr(np.ones((3, 2, 1, 1), np.int8), wt)))
    conv = g.append(quant.Conv2dOp.build(x, w.result))
    params = [g.append(nn.ConstantOp.build(value=DenseAttr.from_array(
        np.ones(3, np.float32)))).result for _ in range(4)]
    bn = g.append(nn.BatchNormOp.build(conv.result, *params))
    g.set_outputs([bn.result])
    assert not fold_batchnorm(bn, Rewriter(g))
