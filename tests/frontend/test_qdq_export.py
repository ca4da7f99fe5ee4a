"""Export of qcc's fake-quantized graph as ONNX QDQ (``export_qdq``).

qcc quantizes the digits models itself (calibrate on the calibration split, int8
per-channel weights), exports the fake-quantized graph, and onnxruntime runs it on
the evaluation split; qcc's integer program (after fold-rescale and fuse-relu) must
give the same int8 outputs, but for rare 1-LSB differences (ORT requantizes in
float, qcc in fixed point).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcc.diagnostics import QccError
from qcc.dialects import quant
from qcc.frontend import export_qdq, import_onnx
from qcc.interpreter import run
from qcc.passmanager import Pipeline
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
DATA = ROOT / "examples" / "data"
BATCH = 200  # the calibration split is one batch, the evaluation split two
FAKE_QUANT = ("canonicalize,normalize-gemm,fold-batchnorm,canonicalize,"
              f"calibrate{{data={DATA / 'digits_calib.npz'}}},quantize{{granularity=per-channel}}")


def ort_session(model: onnx.ModelProto, optimize: bool = True) -> ort.InferenceSession:
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def batches(module, x: np.ndarray):
    name = module.main.input_names[0]
    for i in range(0, len(x), BATCH):
        yield {name: x[i:i + BATCH]}


@pytest.fixture(scope="module", params=["digits_cnn", "digits_mlp"])
def quantized(request):
    """(fake-quantized module, its export, the integer module)."""
    module = import_onnx(MODELS / f"{request.param}.onnx", batch=BATCH)
    Pipeline.parse(FAKE_QUANT).run(module)
    exported = export_qdq(module)
    integer = module.clone()
    Pipeline.parse("fold-rescale,fuse-relu").run(integer)
    return request.param, module, exported, integer


def test_export_runs_in_onnxruntime_and_matches_the_integer_program(quantized):
    name, _, exported, integer = quantized
    onnx.checker.check_model(exported, full_check=True)
    x = np.load(DATA / "digits_eval.npz")["input"]
    sess = ort_session(exported)
    out = integer.main.output_names[0]
    theirs = np.concatenate([sess.run(None, feed)[0] for feed in batches(integer, x)])
    ours = np.concatenate([run(integer, feed)[out] for feed in batches(integer, x)])
    # compare the int8 codes: the output is dequantize(int8) in both
    dq = integer.main.outputs[0].op
    assert isinstance(dq, quant.DequantizeOp)
    scale = dq.input.type.element.scale
    steps = np.rint(np.abs(ours - theirs) / scale)
    within_one = float(np.mean(steps <= 1))
    print(f"{name}: qcc integer vs onnxruntime on QDQ export: {np.mean(steps == 0):.4%} "
          f"equal, {within_one:.4%} within 1 LSB of {steps.size}")
    assert within_one >= 0.999
    labels = np.load(DATA / "digits_eval.npz")["label"]
    assert abs(np.mean(theirs.argmax(1) == labels) - np.mean(ours.argmax(1) == labels)) <= 0.01


def test_export_without_fusion_is_the_fake_quantized_graph(quantized):
    _, fake, exported, _ = quantized
    x = np.load(DATA / "digits_eval.npz")["input"][:BATCH]
    feed = next(batches(fake, x))
    ours = run(fake, feed)[fake.main.output_names[0]]
    theirs = ort_session(exported, optimize=False).run(None, feed)[0]
    scale = fake.main.outputs[0].op.input.type.element.scale
    steps = np.rint(np.abs(ours - theirs) / scale)
    assert np.mean(steps == 0) >= 0.999 and steps.max() <= 1


def test_export_names_and_reimport_gives_the_same_integer_program(quantized):
    _, fake, exported, integer = quantized
    g = exported.graph
    assert [i.name for i in g.input] == fake.main.input_names
    assert [o.name for o in g.output] == fake.main.output_names
    names = [n.name for n in g.node]
    assert len(set(names)) == len(names) and any(n.startswith("/") for n in names)
    types = {n.op_type for n in g.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Gemm"} <= types
    dtypes = {numpy_helper.to_array(t).dtype for t in g.initializer}
    assert {np.dtype(np.int8), np.dtype(np.int32)} <= dtypes
    # ONNX QDQ -> qcc -> integer program: the same program qcc built itself
    again = import_onnx(exported)
    Pipeline.parse("canonicalize,normalize-gemm,fold-batchnorm,fold-rescale,fuse-relu").run(again)
    assert [op.name for op in again.main.ops] == [op.name for op in integer.main.ops]
    # ONNX stores the scales as float32, so the requantization multipliers rebuilt from
    # them differ from qcc's own in their last bits (about 1e-7): an output code may
    # move by one step where a sum lands that close to a rounding boundary
    x = np.load(DATA / "digits_eval.npz")["input"][:BATCH]
    out = integer.main.output_names[0]
    feed = {integer.main.input_names[0]: x}
    scale = integer.main.outputs[0].op.input.type.element.scale
    steps = np.rint(np.abs(run(again, feed)[out] - run(integer, feed)[out]) / scale)
    assert steps.max() <= 1 and np.mean(steps == 0) >= 0.999


def test_integer_program_is_refused(quantized):
    _, _, _, integer = quantized
    with pytest.raises(QccError, match=r"export-qdq needs the fake-quantized graph \(before "
                                       r"fold-rescale\); 'quant\.(conv2d|dense)'"):
        export_qdq(integer)


def test_elided_constants_are_refused(quantized):
    _, fake, _, _ = quantized
    elided = parse_module(print_module(fake, elide_constants=True))
    with pytest.raises(QccError, match="elided"):
        export_qdq(elided)


# --------------------------------------------------------------------------- op coverage


def test_every_nn_op_exports_and_runs_like_the_interpreter():
    """A float graph with the other nn ops: ONNX -> qcc -> ONNX gives what qcc computes."""
    rng = np.random.default_rng(0)

    def f(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    mk = helper.make_node
    inits = {"w": f(4, 3, 3, 3), "bn_s": f(4), "bn_b": f(4), "bn_m": f(4),
             "bn_v": np.abs(f(4)) + 1, "lo": np.float32(-0.5), "hi": np.float32(0.7),
             "pads": np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "two": np.float32(2.0),
             "shape": np.array([1, 4, -1], np.int64), "shape2": np.array([4, -1], np.int64),
             "shape3": np.array([1, 4, 5], np.int64), "g_b": f(54, 5), "g_c": f(5),
             "m_b": f(5, 6), "k": f(6)}
    nodes = [
        mk("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),     # 1x4x8x8
        mk("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"]),
        mk("Clip", ["bn", "lo", "hi"], ["clip"]),
        mk("LeakyRelu", ["clip"], ["lr"], alpha=0.2),
        mk("AveragePool", ["lr"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),  # 1x4x4x4
        mk("MaxPool", ["lr"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        mk("Sub", ["ap", "mp"], ["sub"]),
        mk("Concat", ["sub", "mp"], ["cat"], axis=2),                        # 1x4x8x4
        mk("Pad", ["cat", "pads"], ["pad"]),                                 # 1x4x9x6
        mk("Sigmoid", ["pad"], ["sig"]),
        mk("GlobalAveragePool", ["sig"], ["gap"]),
        mk("Mul", ["sig", "gap"], ["mul"]),
        mk("Reshape", ["mul", "shape"], ["r"]),                              # 1x4x54
        mk("Transpose", ["r"], ["t"], perm=[0, 2, 1]),                       # 1x54x4
        mk("Tanh", ["t"], ["tanh"]),
        mk("Softmax", ["tanh"], ["sm"], axis=1),
        mk("Div", ["sm", "two"], ["div"]),
        mk("Transpose", ["div"], ["t2"], perm=[0, 2, 1]),                    # 1x4x54
        mk("Reshape", ["t2", "shape2"], ["r2"]),                             # 4x54
        mk("Gemm", ["r2", "g_b", "g_c"], ["gemm"], alpha=0.5),               # 4x5
        mk("Reshape", ["gemm", "shape3"], ["r3"]),                           # 1x4x5
        mk("MatMul", ["r3", "m_b"], ["mm"]),                                 # 1x4x6
        mk("Add", ["mm", "k"], ["y"]),
        mk("Relu", ["x"], ["y2"]),
    ]
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_empty_tensor_value_info("y"), helper.make_empty_tensor_value_info("y2")],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    module = import_onnx(model)
    exported = export_qdq(module)
    types = {n.op_type for n in exported.graph.node}
    assert types >= {"Conv", "BatchNormalization", "Clip", "LeakyRelu", "AveragePool",
                     "MaxPool", "Sub", "Concat", "Pad", "Sigmoid", "GlobalAveragePool", "Mul",
                     "Reshape", "Transpose", "Tanh", "Softmax", "Div", "Gemm", "MatMul", "Add",
                     "Relu"}
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    ours = run(module, {"x": x})
    theirs = ort_session(exported, optimize=False).run(None, {"x": x})
    for name, value in zip(["y", "y2"], theirs, strict=True):
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6)
    # nn.dense on a 3-D input becomes MatMul + Add
    Pipeline.parse("canonicalize,normalize-gemm").run(module)
    exported = export_qdq(module)
    ours = run(module, {"x": x})
    theirs = ort_session(exported).run(None, {"x": x})
    np.testing.assert_allclose(ours["y"], theirs[0], rtol=1e-5, atol=1e-6)


def test_returned_input_and_repeated_output_get_identities():
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_empty_tensor_value_info("r")]),
        opset_imports=[helper.make_opsetid("", 17)])
    module = import_onnx(model)
    module.main.set_outputs([module.main.args[0], module.main.ops[0].result,
                             module.main.ops[0].result], ["a", "b", "c"])
    exported = export_qdq(module)
    x = np.array([-1.0, 2.0], np.float32)
    a, b, c = ort_session(exported).run(None, {"x": x})
    assert a.tolist() == [-1.0, 2.0] and b.tolist() == c.tolist() == [0.0, 2.0]


def test_transformer_and_mobilenet_ops_export_and_run_like_the_interpreter():
    """The ops of encoders and MobileNet-v3 (so that calibration's onnxruntime engine
    runs them): Gather by int64 ids, LayerNormalization, GELU (both forms, written as
    Erf / Tanh arithmetic), HardSigmoid, HardSwish, comparisons, logic, Where, Cast,
    Expand, Slice (a negative step through index 0), ReduceMean, LRN, GatherElements,
    PRelu, Sqrt, Pow."""
    rng = np.random.default_rng(1)

    def f(*shape):
        return (rng.standard_normal(shape) * 0.7).astype(np.float32)

    mk = helper.make_node
    inits = {"table": f(20, 8), "ln_s": f(8), "ln_b": f(8), "zero": np.float32(0.0),
             "half": np.float32(0.5), "mean_axes": np.array([1], np.int64),
             "exp_shape": np.array([2, 5, 8], np.int64), "slope": f(8),
             "st": np.array([4, 7], np.int64), "en": np.array([-100, -100], np.int64),
             "ax": np.array([1, 2], np.int64), "sp": np.array([-1, -2], np.int64),
             "shape4": np.array([2, 5, 8, 1], np.int64), "two": np.float32(2.0),
             "gidx": rng.integers(0, 5, (2, 3, 8)).astype(np.int64), "sidx": np.int64(2)}
    nodes = [
        mk("Gather", ["table", "ids"], ["emb"], axis=0),                     # 2x5x8
        mk("Add", ["emb", "x"], ["a"]),
        mk("LayerNormalization", ["a", "ln_s", "ln_b"], ["ln"], axis=-1, epsilon=1e-5),
        mk("Gelu", ["ln"], ["g1"]),
        mk("Gelu", ["ln"], ["g2"], approximate="tanh"),
        mk("Erf", ["g1"], ["erf"]),
        mk("HardSigmoid", ["g2"], ["hs"], alpha=0.3, beta=0.4),
        mk("HardSwish", ["erf"], ["hw"]),
        mk("Greater", ["hw", "zero"], ["gt"]),
        mk("Less", ["hs", "half"], ["lt"]),
        mk("GreaterOrEqual", ["a", "zero"], ["ge"]),
        mk("LessOrEqual", ["a", "half"], ["le"]),
        mk("Equal", ["gt", "lt"], ["eq"]),
        mk("And", ["ge", "le"], ["and"]),
        mk("Or", ["eq", "and"], ["or"]),
        mk("Xor", ["or", "gt"], ["xor"]),
        mk("Not", ["xor"], ["not"]),
        mk("Where", ["not", "hw", "hs"], ["wh"]),
        mk("Cast", ["and"], ["cast"], to=TensorProto.FLOAT),
        mk("Add", ["wh", "cast"], ["b"]),
        mk("ReduceMean", ["b", "mean_axes"], ["rm"], keepdims=1),            # 2x1x8
        mk("Expand", ["rm", "exp_shape"], ["ex"]),                           # 2x5x8
        mk("PRelu", ["ex", "slope"], ["pr"]),
        mk("Slice", ["pr", "st", "en", "ax", "sp"], ["sl"]),                 # 2x5x4
        mk("Mul", ["sl", "sl"], ["sq"]),
        mk("Sqrt", ["sq"], ["sqrt"]),
        mk("Pow", ["sqrt", "two"], ["pow"]),
        mk("GatherElements", ["b", "gidx"], ["ge2"], axis=1),               # 2x3x8
        mk("Reshape", ["b", "shape4"], ["b4"]),
        mk("LRN", ["b4"], ["lrn"], size=3, alpha=1e-2, beta=0.75, bias=1.0),
        mk("Gather", ["b", "sidx"], ["pick"], axis=1),  # a scalar index: 2x8
    ]
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 5]),
                       helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 8])],
        [helper.make_empty_tensor_value_info(n) for n in ("pow", "ge2", "lrn", "pick")],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    module = import_onnx(model)
    exported = export_qdq(module)
    types = {n.op_type for n in exported.graph.node}
    assert types >= {"Gather", "LayerNormalization", "Erf", "Tanh", "HardSigmoid",
                     "HardSwish", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal",
                     "And", "Or", "Xor", "Not", "Where", "Cast", "ReduceMean", "Expand",
                     "PRelu", "Slice", "Sqrt", "Pow", "GatherElements", "LRN"}, types
    feeds = {"ids": rng.integers(0, 20, (2, 5)).astype(np.int64),
             "x": rng.standard_normal((2, 5, 8)).astype(np.float32)}
    ours = run(module, feeds)
    outputs = ["pow", "ge2", "lrn", "pick"]
    theirs = ort_session(exported, optimize=False).run(outputs, feeds)
    assert theirs[3].shape == (2, 8)
    for name, value in zip(outputs, theirs, strict=True):
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-5)
