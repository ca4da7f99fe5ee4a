"""Import of pre-quantized ONNX QDQ models (QuantizeLinear / DequantizeLinear pairs).

A small float CNN (conv+relu, maxpool, residual add, global average pool, gemm) is
quantized by onnxruntime's ``quantize_static`` (QDQ, int8 activations and weights,
per tensor and per channel); qcc imports it, folds it into integer ops with
``canonicalize,normalize-gemm,fold-batchnorm,fold-rescale,fuse-relu`` (no calibrate /
quantize) and must agree with onnxruntime running the same QDQ model: within one
output quantization step (ORT requantizes in float, qcc in fixed point).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from qcc.diagnostics import QccError
from qcc.dialects import nn, quant
from qcc.frontend import import_onnx
from qcc.interpreter import run
from qcc.ir import Module
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Graph, VerifyError
from qcc.ir.types import TensorType, UniformQuantPerAxisType, UniformQuantType, f32, i8
from qcc.passmanager import Pipeline

PIPELINE = "canonicalize,normalize-gemm,fold-batchnorm,fold-rescale,fuse-relu"
EVAL = 64


# --------------------------------------------------------------------------- the model


def float_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def init(name: str, shape, scale: float) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32),
                                       name)

    inits = [init("w1", (8, 3, 3, 3), 0.3), init("b1", (8,), 0.1),
             init("w2", (8, 8, 3, 3), 0.15), init("b2", (8,), 0.1),
             init("wf", (10, 8), 0.3), init("bf", (10,), 0.1)]
    mk = helper.make_node
    nodes = [mk("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             mk("Relu", ["c1"], ["r1"], name="relu1"),
             mk("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             mk("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             mk("Add", ["p1", "c2"], ["a1"], name="add1"),
             mk("Relu", ["a1"], ["r2"], name="relu2"),
             mk("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             mk("Flatten", ["g"], ["f"], name="flat"),
             mk("Gemm", ["f", "wf", "bf"], ["output"], name="fc", transB=1)]
    graph = helper.make_graph(
        nodes, "qdq_test",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class _Reader(CalibrationDataReader):
    """16 seeded random samples, one per batch."""

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self.samples = iter([{"input": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
                             for _ in range(16)])

    def get_next(self):
        return next(self.samples, None)


@pytest.fixture(scope="module", params=[False, True], ids=["per-tensor", "per-channel"])
def qdq_model(request, tmp_path_factory) -> onnx.ModelProto:
    d = tmp_path_factory.mktemp("qdq")
    onnx.save(float_model(), d / "float.onnx")
    quantize_static(str(d / "float.onnx"), str(d / "qdq.onnx"), _Reader(),
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=request.param,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    return onnx.load(d / "qdq.onnx")


def eval_inputs() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((EVAL, 3, 8, 8)).astype(np.float32)


def ort_run(model: onnx.ModelProto, x: np.ndarray, optimize: bool = True) -> np.ndarray:
    so = ort.SessionOptions()
    if not optimize:  # Q and DQ run as separate float ops
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


# --------------------------------------------------------------------------- end to end


def test_qdq_model_folds_to_integer_ops_and_matches_onnxruntime(qdq_model):
    x = eval_inputs()
    module = import_onnx(qdq_model, batch=EVAL)
    Pipeline.parse(PIPELINE).run(module)
    names = [op.name for op in module.main.ops]
    assert not {"nn.conv2d", "nn.dense", "nn.add", "nn.gemm"} & set(names)
    assert names.count("quant.conv2d") == 2 and names.count("quant.dense") == 1
    assert "quant.add" in names and "quant.global_avg_pool" in names
    # ORT's QDQ writer drops the ReLUs: the zero point -128 of their output clamps
    ours = run(module, {"input": x})["output"]
    theirs = ort_run(qdq_model, x)
    out = module.main.outputs[0].op
    assert isinstance(out, quant.DequantizeOp)
    scale = out.input.type.element.scale
    steps = np.rint(np.abs(ours - theirs) / scale)
    within_one = float(np.mean(steps <= 1))
    print(f"qcc integer vs onnxruntime: {np.mean(steps == 0):.4%} equal, {within_one:.4%} "
          f"within 1 step of {steps.size}, max {int(steps.max())}")
    assert within_one >= 0.99


def test_qdq_fake_quant_graph_matches_onnxruntime_without_fusion(qdq_model):
    x = eval_inputs()
    module = import_onnx(qdq_model, batch=EVAL)
    ours = run(module, {"input": x})["output"]
    theirs = ort_run(qdq_model, x, optimize=False)
    out_scale = module.main.outputs[0].op.input.type.element.scale
    # float conv on dequantized values: equal but for float summation order flipping a
    # rounding now and then
    steps = np.rint(np.abs(ours - theirs) / out_scale)
    assert np.mean(steps == 0) >= 0.99 and steps.max() <= 1


def test_qdq_import_keeps_scales_and_uses_qcc_weight_form(qdq_model):
    module = import_onnx(qdq_model)
    inits = {t.name: numpy_helper.to_array(t) for t in qdq_model.graph.initializer}
    consts = {op.output.name_hint: op for op in module.main.walk(nn.ConstantOp)}
    w1 = consts["w1_quantized"].output.type.element
    assert (w1.storage_min, w1.storage_max) == (-127, 127)  # narrow, like qcc's own
    per_channel = inits["w1_scale"].size > 1
    assert isinstance(w1, UniformQuantPerAxisType) == per_channel
    if per_channel:
        assert w1.axis == 0 and w1.scales == tuple(float(s) for s in inits["w1_scale"])
    q_in = next(module.main.walk(quant.QuantizeOp)).output.type.element
    assert q_in.scale == float(inits["input_scale"]) and q_in.zero_point == int(
        inits["input_zero_point"])
    # the bias is typed with exactly s_x * s_w (ORT stores float32 of it), integers kept
    b1 = consts["b1_quantized"]
    expected = [q_in.scale * s for s in quant.channel_scales(w1, 8)]
    assert quant.channel_scales(b1.output.type.element, 8) == expected
    assert np.array_equal(b1.value.data, inits["b1_quantized"])
    Pipeline.parse("canonicalize,normalize-gemm").run(module)
    (dense,) = module.main.walk(nn.DenseOp)
    w = dense.weight.op.input.type  # Gemm transB=1: [N, K] transposed to [K, N]
    assert w.shape == (8, 10)
    if per_channel:
        assert w.element.axis == 1  # the axis moved with the transpose


# --------------------------------------------------------------------------- small cases


def qdq(nodes, inits, inputs=None, outputs=("y",), opset=19) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
           for n, s in (inputs or {"x": [1, 4]}).items()]
    outs = [helper.make_empty_tensor_value_info(n) for n in outputs]
    tensors = [numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs, tensors),
                             opset_imports=[helper.make_opsetid("", opset)])


def node(op: str, ins, outs, name=None, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, list(ins), list(outs), name=name or outs[0] + "_node", **attrs)


def import_error(model) -> str:
    with pytest.raises(QccError) as info:
        import_onnx(model)
    return str(info.value)


def qdq_pair(zp_dtype=np.int8, axis=None):
    attrs = {} if axis is None else {"axis": axis}
    return ([node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
             node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)])


def test_uint8_activations_and_quantize_semantics():
    model = qdq(qdq_pair(), {"s": np.float32(0.1), "z": np.uint8(128)})
    module = import_onnx(model)
    q = next(module.main.walk(quant.QuantizeOp))
    assert str(q.output.type) == "tensor<1x4x!quant.uniform<u8:f32, 0.10000000149011612:128>>"
    x = np.array([[-20.0, 0.05, 0.15, 30.0]], np.float32)
    ref = ort_run_generic(model, {"x": x})
    assert np.array_equal(run(module, {"x": x})["y"], ref)


def ort_run_generic(model: onnx.ModelProto, feeds) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_per_axis_activation_with_negative_axis():
    model = qdq(qdq_pair(axis=-1), {"s": np.array([0.1, 0.2, 0.3, 0.4], np.float32),
                                    "z": np.array([0, 1, -2, 3], np.int8)})
    module = import_onnx(model)
    e = next(module.main.walk(quant.QuantizeOp)).output.type.element
    assert isinstance(e, UniformQuantPerAxisType) and e.axis == 1 and e.zero_points == (0, 1,
                                                                                         -2, 3)
    x = np.array([[1.0, -2.0, 3.3, 100.0]], np.float32)
    assert np.array_equal(run(module, {"x": x})["y"], ort_run_generic(model, {"x": x}))


def test_full_range_weights_and_nonzero_weight_zero_point_keep_full_storage_range():
    nodes = [node("DequantizeLinear", ["w", "s", "z"], ["wd"]), node("MatMul", ["x", "wd"], ["y"])]
    w = np.array([[-128, 5], [3, 127], [0, 1], [2, 2]], np.int8)
    m = import_onnx(qdq(nodes, {"w": w, "s": np.float32(0.5), "z": np.int8(0)}))
    e = next(m.main.walk(nn.ConstantOp)).output.type.element
    assert (e.storage_min, e.storage_max) == (-128, 127)
    m = import_onnx(qdq(nodes, {"w": w // 2, "s": np.float32(0.5), "z": np.int8(3)}))
    e = next(m.main.walk(nn.ConstantOp)).output.type.element
    assert (e.storage_min, e.storage_max, e.zero_point) == (-128, 127, 3)
    nodes[0].input.pop()  # no zero point: 0
    m = import_onnx(qdq(nodes, {"w": w // 2, "s": np.float32(0.5)}))
    e = next(m.main.walk(nn.ConstantOp)).output.type.element
    assert (e.storage_min, e.storage_max, e.zero_point) == (-127, 127, 0)


def test_quantize_of_a_float_weight_is_done_at_import():
    # quantization-aware training exports: float weight -> QuantizeLinear -> DequantizeLinear
    w = np.array([[0.5, -1.0], [0.25, 1.27], [0.0, -0.01], [2.0, 0.3]], np.float32)
    nodes = [node("QuantizeLinear", ["w", "s", "z"], ["wq"], axis=1),
             node("DequantizeLinear", ["wq", "s", "z"], ["wd"], axis=1),
             node("MatMul", ["x", "wd"], ["y"])]
    model = qdq(nodes, {"w": w, "s": np.array([0.01, 0.02], np.float32),
                        "z": np.zeros(2, np.int8)})
    module = import_onnx(model)
    assert [op.name for op in module.main.ops] == ["nn.constant", "quant.dequantize",
                                                   "nn.matmul", "func.return"]
    c = module.main.ops[0]
    assert str(c.output.type.element).startswith("!quant.uniform<i8<-127:127>:f32:1, ")
    assert c.value.data.tolist() == [[50, -50], [25, 64], [0, 0], [127, 15]]
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(run(module, {"x": x})["y"], ort_run_generic(model, {"x": x}),
                               rtol=1e-6)


def test_int32_bias_of_a_gemm_and_requantized_bias_scale(capsys):
    # a bias at a scale other than s_x * s_w is requantized to it, with a warning
    nodes = [*qdq_pair(),
             node("DequantizeLinear", ["w", "ws"], ["wd"]),
             node("DequantizeLinear", ["b", "bs"], ["bd"]),
             node("Gemm", ["y", "wd", "bd"], ["g"], transB=1),
             node("QuantizeLinear", ["g", "s", "z"], ["gq"]),
             node("DequantizeLinear", ["gq", "s", "z"], ["out"])]
    inits = {"s": np.float32(0.1), "z": np.int8(0), "w": np.ones((3, 4), np.int8),
             "ws": np.float32(0.5), "b": np.array([10, -20, 30], np.int32),
             "bs": np.float32(0.1)}
    module = import_onnx(qdq(nodes, inits, outputs=("out",)))
    assert "requantizes it" in capsys.readouterr().err
    b = [op for op in module.main.walk(nn.ConstantOp) if op.output.name_hint == "b"]
    assert b[0].value.data.tolist() == [20, -40, 60]  # 0.1 / (0.1 * 0.5) = 2
    Pipeline.parse(PIPELINE).run(module)
    assert "quant.dense" in [op.name for op in module.main.ops]


@pytest.mark.parametrize("change, message", [
    (lambda n, i: n[0].attribute.append(helper.make_attribute("block_size", 2)),
     "unsupported value 2 of attribute 'block_size'"),
    (lambda n, i: i.update(z=np.int16(0)), "has element type int16; qcc imports float32 models"),
    (lambda n, i: n[1].input.__setitem__(1, "s2") or i.update(s2=np.float32(0.2)),
     "other quantization parameters"),
    (lambda n, i: i.update(s=np.float32(0.0)), "quantization scale must be positive"),
    (lambda n, i: n[0].attribute.append(helper.make_attribute("saturate", 0)),
     "attribute 'saturate'"),
])
def test_qdq_errors(change, message):
    nodes, inits = qdq_pair(), {"s": np.float32(0.1), "z": np.int8(0)}
    change(nodes, inits)
    assert message in import_error(qdq(nodes, inits, opset=21))


def test_scale_must_be_a_constant_and_the_error_names_the_node():
    nodes = [node("QuantizeLinear", ["x", "s"], ["q"], name="q_node"),
             node("DequantizeLinear", ["q", "s"], ["y"])]
    msg = import_error(qdq(nodes, {}, inputs={"x": [1, 4], "s": []}))
    assert "ONNX node 'q_node' (QuantizeLinear)" in msg and "must be a constant" in msg


def test_integer_initializers_only_through_dequantize_and_outputs_float():
    msg = import_error(qdq([node("Relu", ["w"], ["y"], name="r")], {"w": np.ones(4, np.int8)}))
    assert "ONNX node 'r' (Relu)" in msg and "has element type int8" in msg
    msg = import_error(qdq([node("QuantizeLinear", ["x", "s", "z"], ["y"])],
                           {"s": np.float32(0.1), "z": np.int8(0)}))
    assert "graph output 'y' has element type int8; qcc imports float32 models" in msg
    msg = import_error(qdq([node("DequantizeLinear", ["w", "s"], ["y"], name="dq")],
                           {"w": np.ones(4, np.int16), "s": np.float32(0.1)}))
    assert "ONNX node 'dq' (DequantizeLinear)" in msg and "has element type int16" in msg


# --------------------------------------------------------------------------- per-axis types


def per_axis(shape, axis) -> TensorType:
    e = UniformQuantPerAxisType.make(i8, axis, [0.5] * shape[axis], storage_min=-127,
                                     storage_max=127)
    return TensorType(shape, e)


def test_transpose_moves_the_quantization_axis():
    t = nn.TransposeOp.infer_types([per_axis((10, 8), 0)], {"perm": (1, 0)})[0]
    assert t.shape == (8, 10) and t.element.axis == 1
    t = nn.TransposeOp.infer_types([per_axis((2, 3, 4), 2)], {"perm": (2, 0, 1)})[0]
    assert t.element.axis == 0
    per_tensor = TensorType((2, 3), UniformQuantType.make(i8, 0.1))
    assert nn.TransposeOp.infer_types([per_tensor], {"perm": (1, 0)})[0].element == \
        per_tensor.element


def test_reshape_keeps_the_quantization_axis_or_refuses():
    t = nn.ReshapeOp.infer_types([per_axis((8, 3, 1, 1), 0)], {"shape": (8, 3)})[0]
    assert t.element.axis == 0
    t = nn.ReshapeOp.infer_types([per_axis((8, 4), 1)], {"shape": (8, 1, 4)})[0]
    assert t.element.axis == 2
    with pytest.raises(VerifyError, match="quantization axis 1"):
        nn.ReshapeOp.infer_types([per_axis((8, 4), 1)], {"shape": (32,)})
    with pytest.raises(VerifyError, match="quantization axis 0"):
        nn.ReshapeOp.infer_types([per_axis((8, 4), 0)], {"shape": (4, 8)})


def test_constant_folding_keeps_quantized_constants_and_moves_transposes():
    g = Graph("main")
    x = g.add_arg(TensorType((2, 8), f32), "x")
    data = np.arange(80, dtype=np.int8).reshape(10, 8) - 40
    c = g.append(nn.ConstantOp.build(value=DenseAttr(data, per_axis((10, 8), 0)), name="w"))
    dq = g.append(quant.DequantizeOp.build(c.output))
    t = g.append(nn.TransposeOp.build(dq.output, perm=(1, 0)))
    y = g.append(nn.MatMulOp.build(x, t.output))
    g.set_outputs([y.output], ["y"])
    module = Module([g])
    before = run(module, {"x": np.ones((2, 8), np.float32)})["y"]
    Pipeline.parse("canonicalize").run(module)
    names = [op.name for op in module.main.ops]
    assert names == ["nn.constant", "quant.dequantize", "nn.matmul", "func.return"]
    w = module.main.ops[0]
    assert w.output.type.shape == (8, 10) and w.output.type.element.axis == 1
    assert np.array_equal(w.value.data, data.T)
    assert np.array_equal(run(module, {"x": np.ones((2, 8), np.float32)})["y"], before)
