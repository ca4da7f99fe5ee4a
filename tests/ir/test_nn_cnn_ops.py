"""The verifier rules of the nn ops added for real CNNs (issue 15): result types and
the attribute values each op rejects."""

from __future__ import annotations

import numpy as np
import pytest

from qcc.dialects import nn
from qcc.interpreter import evaluate_op
from qcc.ir import DenseAttr, Graph, TensorType
from qcc.ir.core import VerifyError
from qcc.ir.types import f32


def arg(*shape: int):
    return Graph("g").add_arg(TensorType(shape, f32), "x")


def const(array) -> object:
    return nn.ConstantOp.build(value=DenseAttr.from_array(np.asarray(array, np.float32))).result


@pytest.mark.parametrize(("build", "shape"), [
    (lambda: nn.SliceOp.build(arg(2, 9), starts=[0, 8], ends=[2, -1], steps=[1, -3]), (2, 3)),
    (lambda: nn.SliceOp.build(arg(2, 9), starts=[1, 2], ends=[1, 9], steps=[1, 2]), (0, 4)),
    (lambda: nn.ResizeOp.build(arg(1, 2, 3, 4), sizes=[1, 2, 7, 2],
                               scales=[1.0, 1.0, 2.5, 0.5]), (1, 2, 7, 2)),
    (lambda: nn.ReduceMeanOp.build(arg(2, 3, 4), axes=[0, 2], keepdims=False), (3,)),
    (lambda: nn.ReduceMeanOp.build(arg(2, 3, 4), axes=[1]), (2, 1, 4)),
    (lambda: nn.LrnOp.build(arg(1, 5, 2, 2), size=3), (1, 5, 2, 2)),
    (lambda: nn.PReluOp.build(arg(1, 5, 2, 2), const(np.ones((5, 1, 1)))), (1, 5, 2, 2)),
    (lambda: nn.ConvTranspose2dOp.build(arg(1, 4, 5, 6), const(np.ones((4, 3, 3, 2))),
                                        group=2, strides=[2, 3], pads=[1, 0, 1, -2],
                                        output_padding=[1, 0]),
     (1, 6, 10, 19)),
])
def test_result_types(build, shape):
    assert build().output.type.shape == shape


@pytest.mark.parametrize(("build", "message"), [
    (lambda: nn.SliceOp.build(arg(2, 9), starts=[0, 9], ends=[2, 0], steps=[1, -1]),
     "slice 9:0:-1 is not normalized for a dimension of 9"),
    (lambda: nn.SliceOp.build(arg(2, 9), starts=[0, 0], ends=[2, 10], steps=[1, 1]),
     "slice 0:10:1 is not normalized"),
    (lambda: nn.SliceOp.build(arg(2, 9), starts=[0, 0], ends=[2, 1], steps=[1, 0]),
     "steps must not be 0"),
    (lambda: nn.SliceOp.build(arg(2, 9), starts=[0], ends=[2], steps=[1]),
     "need 2 values each"),
    (lambda: nn.ResizeOp.build(arg(1, 4), sizes=[1, 8], scales=[1.0, 2.0], mode="area"),
     "mode 'area' is not one of nearest, linear, cubic"),
    (lambda: nn.ResizeOp.build(arg(1, 4), sizes=[1, 8], scales=[1.0, 0.0]),
     r"scales \[1.0, 0.0\] > 0"),
    (lambda: nn.ResizeOp.build(arg(1, 4), sizes=[8], scales=[2.0]), "need 2 values each"),
    (lambda: nn.ReduceMeanOp.build(arg(2, 3), axes=[1, 0]), "must be distinct, sorted"),
    (lambda: nn.ReduceMeanOp.build(arg(2, 3), axes=[2]), "within the rank 2"),
    (lambda: nn.LrnOp.build(arg(1, 3, 2, 2), size=0), "size must be >= 1"),
    (lambda: nn.LrnOp.build(arg(1, 3), size=1), "rank >= 3"),
    (lambda: nn.PReluOp.build(arg(1, 5, 2, 2), const(np.ones((3, 1, 1)))),
     "does not broadcast to the input"),
    (lambda: nn.ConvTranspose2dOp.build(arg(1, 4, 5, 6), const(np.ones((3, 3, 3, 3)))),
     "a weight for 3 input channels"),
    (lambda: nn.ConvTranspose2dOp.build(arg(1, 4, 5, 6), const(np.ones((4, 3, 3, 3))),
                                        group=3), "group=3 do not agree"),
    (lambda: nn.ConvTranspose2dOp.build(arg(1, 4, 1, 1), const(np.ones((4, 3, 1, 1))),
                                        pads=[1, 0, 0, 0]), "has no output"),
    (lambda: nn.ConvTranspose2dOp.build(arg(1, 4, 5, 6), const(np.ones((4, 3, 3, 3))),
                                        const(np.ones(4))), r"bias must have shape \[3\]"),
])
def test_verify_errors(build, message):
    with pytest.raises(VerifyError, match=message):
        build()


def test_slice_with_a_negative_step_runs_through_index_zero():
    op = nn.SliceOp.build(arg(7), starts=[6], ends=[-1], steps=[-2])
    x = np.arange(7, dtype=np.float32)
    np.testing.assert_array_equal(evaluate_op(op, [x])[0], [6, 4, 2, 0])
