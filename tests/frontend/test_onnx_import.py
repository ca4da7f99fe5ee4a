"""Structural tests of the ONNX importer: small models built with onnx.helper."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcc.diagnostics import OnnxLoc, QccError
from qcc.frontend import import_onnx
from qcc.frontend.onnx_importer import ImportContext
from qcc.frontend.onnx_ops import CONVERTERS
from qcc.ir import Module
from qcc.text import print_module

# --------------------------------------------------------------------------- helpers

Shape = Sequence[int | str | None]


def make_model(nodes: list[onnx.NodeProto], inputs: dict[str, Shape],
               outputs: Sequence[str] = ("y",), inits: dict[str, np.ndarray] | None = None,
               opset: int = 17, input_type: int = TensorProto.FLOAT,
               init_inputs: bool = False) -> onnx.ModelProto:
    """A one-graph model; outputs carry no type (shape inference fills it in)."""
    ins = [helper.make_tensor_value_info(n, input_type, list(s)) for n, s in inputs.items()]
    outs = [helper.make_empty_tensor_value_info(n) for n in outputs]
    tensors = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    if init_inputs:  # old exporters list initializers as graph inputs too
        ins += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                for t in tensors]
    graph = helper.make_graph(nodes, "g", ins, outs, tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str] = ("y",),
         name: str | None = None, **attrs: object) -> onnx.NodeProto:
    return helper.make_node(op_type, list(inputs), list(outputs), name=name or op_type.lower(),
                            **attrs)


def f32(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def ops_of(module: Module) -> list[str]:
    return [op.name for op in module.main.ops]


def op_named(module: Module, name: str):
    (op,) = [op for op in module.main.ops if op.name == name]
    return op


def out_type(module: Module) -> str:
    return str(module.main.outputs[0].type)


def import_error(model, **kwargs) -> str:
    with pytest.raises(QccError) as info:
        import_onnx(model, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- basics


def test_simple_cnn_names_locations_and_printing():
    model = make_model(
        [node("Conv", ["x", "w", "b"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])],  # unnamed: gets "Relu_1"
        {"x": [1, 3, 8, 8]}, inits={"w": f32(4, 3, 3, 3), "b": f32(4)})
    m = import_onnx(model)
    assert ops_of(m) == ["nn.constant", "nn.constant", "nn.conv2d", "nn.relu", "func.return"]
    g = m.main
    assert g.input_names == ["x"] and g.output_names == ["y"]
    assert g.args[0].name_hint == "x"
    conv = op_named(m, "nn.conv2d")
    assert conv.loc == OnnxLoc("Conv", "conv1")
    assert conv.result.name_hint == "c"
    assert op_named(m, "nn.relu").loc == OnnxLoc("Relu", "Relu_1")
    assert g.ops[0].loc == OnnxLoc("Initializer", "w")
    text = print_module(m)
    assert 'loc(onnx "Conv" "conv1")' in text
    assert "%c = \"nn.conv2d\"(%x, %w, %b)" in text
    assert out_type(m) == "tensor<1x4x8x8xf32>"


def test_accepts_path_str_bytes_and_leaves_model_untouched(tmp_path):
    model = make_model([node("Relu", ["x"])], {"x": ["N", 4]})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    for source in (path, str(path), model.SerializeToString(), model):
        assert out_type(import_onnx(source, batch=3)) == "tensor<3x4xf32>"
    # batch fixing works on a copy
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_initializers_listed_as_inputs_are_constants():
    model = make_model([node("Add", ["x", "k"])], {"x": [2, 3]}, inits={"k": f32(3)},
                       init_inputs=True)
    m = import_onnx(model)
    assert m.main.input_names == ["x"]
    assert ops_of(m) == ["nn.constant", "nn.add", "func.return"]


def test_unused_initializers_and_int64_shapes_stay_out_of_the_ir():
    model = make_model([node("Reshape", ["x", "s"])], {"x": [2, 3]},
                       inits={"s": i64(3, 2), "unused": f32(5)})
    m = import_onnx(model)
    assert ops_of(m) == ["nn.reshape", "func.return"]


@pytest.mark.parametrize("dim", ["N", None])
def test_dynamic_batch_is_fixed(dim):
    model = make_model([node("Relu", ["x"])], {"x": [dim, 3, 4, 4]})
    assert import_onnx(model, batch=8).main.args[0].type.shape == (8, 3, 4, 4)
    assert out_type(import_onnx(model)) == "tensor<1x3x4x4xf32>"


def test_static_batch_is_kept():
    model = make_model([node("Relu", ["x"])], {"x": [2, 3]})
    assert out_type(import_onnx(model, batch=8)) == "tensor<2x3xf32>"


def test_output_declared_with_symbolic_batch():
    model = make_model([node("Relu", ["x"])], {"x": ["N", 3]})
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                 ["N", 3]))
    assert out_type(import_onnx(model, batch=5)) == "tensor<5x3xf32>"


@pytest.mark.parametrize("opset", range(11, onnx.defs.onnx_opset_version() + 1))
def test_small_cnn_at_every_supported_opset(opset):
    bn = {k: f32(4) for k in ("s", "b", "mean")} | {"var": np.ones(4, np.float32)}
    model = make_model(
        [node("Conv", ["x", "w", "cb"], ["c"], pads=[1, 1, 1, 1]),
         node("BatchNormalization", ["c", "s", "b", "mean", "var"], ["n"]),
         node("Relu", ["n"], ["r"]),
         node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         node("Flatten", ["p"], ["f"]),
         node("Gemm", ["f", "fc", "fb"], ["g"], transB=1),
         node("Softmax", ["g"])],
        {"x": ["N", 3, 8, 8]}, opset=opset,
        inits={"w": f32(4, 3, 3, 3), "cb": f32(4), "fc": f32(10, 64), "fb": f32(10)} | bn)
    m = import_onnx(model, batch=2)
    assert [n for n in ops_of(m) if n != "nn.constant"] == [
        "nn.conv2d", "nn.batch_norm", "nn.relu", "nn.max_pool", "nn.reshape", "nn.gemm",
        "nn.softmax", "func.return"]
    assert out_type(m) == "tensor<2x10xf32>"


# --------------------------------------------------------------------------- ops


def _conv(size: int = 7, **attrs):
    return make_model([node("Conv", ["x", "w"], **attrs)], {"x": [1, 4, size, size]},
                      inits={"w": f32(8, 4 // attrs.get("group", 1), 3, 3)})


@pytest.mark.parametrize(("attrs", "pads", "shape"), [
    ({}, [0, 0, 0, 0], "1x8x5x5"),
    ({"strides": [2, 2], "pads": [1, 1, 1, 1]}, [1, 1, 1, 1], "1x8x4x4"),
    ({"auto_pad": "VALID"}, [0, 0, 0, 0], "1x8x5x5"),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, [1, 1, 1, 1], "1x8x4x4"),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2], "size": 8}, [0, 0, 1, 1], "1x8x4x4"),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2], "size": 8}, [1, 1, 0, 0], "1x8x4x4"),
    ({"auto_pad": "SAME_UPPER", "dilations": [2, 2]}, [2, 2, 2, 2], "1x8x7x7"),
    ({"group": 2, "kernel_shape": [3, 3]}, [0, 0, 0, 0], "1x8x5x5"),
    ({"group": 4}, [0, 0, 0, 0], "1x8x5x5"),  # depthwise (multiplier 2)
])
def test_conv(attrs, pads, shape):
    m = import_onnx(_conv(**attrs))
    conv = op_named(m, "nn.conv2d")
    assert list(conv.attributes["pads"]) == pads
    assert conv.attributes["group"] == attrs.get("group", 1)
    assert out_type(m) == f"tensor<{shape}xf32>"


def test_conv_errors():
    assert "kernel_shape [5, 5] does not match" in import_error(_conv(kernel_shape=[5, 5]))
    model = make_model([node("Conv", ["x", "w"], auto_pad="SAME_UPPER")],
                       {"x": [1, 2, 4, 4, 4]}, inits={"w": f32(2, 2, 3, 3, 3)})
    msg = import_error(model)
    assert "ONNX node 'conv' (Conv)" in msg and "3-D" in msg
    model = make_model([node("Conv", ["x", "w"])], {"x": [1, 3, 6, 6]},
                       inits={"w": f32(2, 5, 3, 3)})  # channels disagree
    assert "cannot lower to 'nn.conv2d'" in import_error(model)


@pytest.mark.parametrize("with_c", [True, False])
def test_gemm(with_c):
    inputs = ["x", "w", "c"] if with_c else ["x", "w"]
    model = make_model([node("Gemm", inputs, transB=1, alpha=0.5, beta=2.0)], {"x": [2, 3]},
                       inits={"w": f32(4, 3), "c": f32(4)})
    m = import_onnx(model)
    gemm = op_named(m, "nn.gemm")
    assert gemm.attributes["trans_b"] is True and gemm.attributes["trans_a"] is False
    assert gemm.attributes["alpha"] == 0.5 and gemm.attributes["beta"] == 2.0
    assert len(gemm.operands) == (3 if with_c else 2)
    assert out_type(m) == "tensor<2x4xf32>"


def test_matmul():
    model = make_model([node("MatMul", ["x", "w"])], {"x": [2, 5, 3]}, inits={"w": f32(3, 4)})
    m = import_onnx(model)
    assert "nn.matmul" in ops_of(m) and out_type(m) == "tensor<2x5x4xf32>"


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div"])
def test_binary(op_type):
    model = make_model([node(op_type, ["x", "k"])], {"x": [2, 3]},
                       inits={"k": np.float32(2.0)})
    m = import_onnx(model)
    assert f"nn.{op_type.lower()}" in ops_of(m)
    assert out_type(m) == "tensor<2x3xf32>"


@pytest.mark.parametrize(("op_type", "nn_name"), [
    ("Relu", "nn.relu"), ("Sigmoid", "nn.sigmoid"), ("Tanh", "nn.tanh"),
    ("Identity", "nn.identity"), ("LeakyRelu", "nn.leaky_relu"),
    ("GlobalAveragePool", "nn.global_avg_pool"),
])
def test_unary(op_type, nn_name):
    m = import_onnx(make_model([node(op_type, ["x"])], {"x": [1, 2, 3, 3]}))
    assert ops_of(m) == [nn_name, "func.return"]


def test_leaky_relu_alpha():
    m = import_onnx(make_model([node("LeakyRelu", ["x"], alpha=0.2)], {"x": [2]}))
    assert op_named(m, "nn.leaky_relu").attributes["alpha"] == pytest.approx(0.2)


@pytest.mark.parametrize(("inputs", "lo", "hi"), [
    (["x", "lo", "hi"], 0.0, 6.0),
    (["x", "", "hi"], -np.inf, 6.0),
    (["x", "lo"], 0.0, np.inf),
    (["x"], -np.inf, np.inf),
])
def test_clip(inputs, lo, hi):
    model = make_model([node("Clip", inputs)], {"x": [2, 3]},
                       inits={"lo": np.float32(0), "hi": np.float32(6)})
    m = import_onnx(model)
    clip = op_named(m, "nn.clip")
    assert (clip.attributes["min"], clip.attributes["max"]) == (lo, hi)
    assert ops_of(m) == ["nn.clip", "func.return"]  # bounds do not become constants


def test_clip_bounds_from_constant_node():
    model = make_model([node("Constant", [], ["hi"], value_float=6.0),
                        node("Clip", ["x", "", "hi"])], {"x": [2]}, opset=13)
    assert op_named(import_onnx(model), "nn.clip").attributes["max"] == 6.0


def test_softmax_opset13_any_axis():
    model = make_model([node("Softmax", ["x"], axis=1)], {"x": [2, 3, 4]}, opset=13)
    m = import_onnx(model)
    assert ops_of(m) == ["nn.softmax", "func.return"]
    assert op_named(m, "nn.softmax").attributes["axis"] == 1


def test_softmax_opset11_coerces_to_2d():
    model = make_model([node("Softmax", ["x"], axis=1)], {"x": [2, 3, 4]}, opset=11)
    m = import_onnx(model)
    assert ops_of(m) == ["nn.reshape", "nn.softmax", "nn.reshape", "func.return"]
    assert [op.result.type.shape for op in m.main.ops[:3]] == [(2, 12), (2, 12), (2, 3, 4)]
    assert m.main.ops[1].attributes["axis"] == 1
    assert m.main.outputs[0].name_hint == "y"
    # the default axis (1) of a 2-D input already is the last one
    m = import_onnx(make_model([node("Softmax", ["x"])], {"x": [2, 5]}, opset=12))
    assert ops_of(m) == ["nn.softmax", "func.return"]


@pytest.mark.parametrize(("attrs", "shape"), [
    ({"kernel_shape": [2, 2], "strides": [2, 2]}, "1x2x3x3"),
    ({"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, "1x2x4x4"),
    ({"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"}, "1x2x7x7"),
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "dilations": [2, 2]}, "1x2x5x5"),
])
def test_max_pool(attrs, shape):
    m = import_onnx(make_model([node("MaxPool", ["x"], **attrs)], {"x": [1, 2, 7, 7]}))
    pool = op_named(m, "nn.max_pool")
    assert pool.attributes["ceil_mode"] is bool(attrs.get("ceil_mode", 0))
    assert out_type(m) == f"tensor<{shape}xf32>"


def test_average_pool():
    model = make_model([node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                             count_include_pad=1)], {"x": [1, 2, 6, 6]})
    m = import_onnx(model)
    pool = op_named(m, "nn.avg_pool")
    assert pool.attributes["count_include_pad"] is True
    assert list(pool.attributes["pads"]) == [1, 1, 1, 1]
    assert out_type(m) == "tensor<1x2x6x6xf32>"


def test_pool_errors():
    model = make_model([node("MaxPool", ["x"], kernel_shape=[2, 2], storage_order=1)],
                       {"x": [1, 1, 4, 4]})
    msg = import_error(model)
    assert "ONNX node 'maxpool' (MaxPool)" in msg and "storage_order" in msg
    model = make_model([node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2])],
                       {"x": [1, 1, 4, 4]})
    assert "Indices" in import_error(model)
    model = make_model([node("AveragePool", ["x"], kernel_shape=[2, 2], dilations=[2, 2])],
                       {"x": [1, 1, 6, 6]}, opset=19)
    msg = import_error(model)
    assert "(AveragePool)" in msg and "dilations" in msg


def _batch_norm(outputs=("y",), opset=17, **attrs):
    inits = {k: f32(3) for k in ("s", "b", "mean")} | {"var": np.ones(3, np.float32)}
    return make_model([node("BatchNormalization", ["x", "s", "b", "mean", "var"],
                            outputs, **attrs)], {"x": [1, 3, 4, 4]}, inits=inits,
                      opset=opset)


def test_batch_norm():
    m = import_onnx(_batch_norm(epsilon=1e-3))
    bn = op_named(m, "nn.batch_norm")
    assert bn.attributes["epsilon"] == pytest.approx(1e-3)
    assert len(bn.operands) == 5


def test_batch_norm_training_is_unsupported():
    msg = import_error(_batch_norm(("y", "m", "v"), training_mode=1))
    assert "(BatchNormalization)" in msg and "training_mode" in msg
    msg = import_error(_batch_norm(("y", "m", "v", "sm", "sv"), opset=12))
    assert "training outputs" in msg
    # BatchNormalization-9 has 1 or 5 outputs: 3 break its schema (onnxruntime agrees)
    msg = import_error(_batch_norm(("y", "m", "v"), opset=12))
    assert "schema of BatchNormalization at opset 12" in msg and "output size 3" in msg


@pytest.mark.parametrize(("axis", "shape"), [(1, (2, 48)), (0, (1, 96)), (-1, (24, 4)),
                                             (4, (96, 1))])
def test_flatten(axis, shape):
    m = import_onnx(make_model([node("Flatten", ["x"], axis=axis)], {"x": [2, 3, 4, 4]}))
    assert op_named(m, "nn.reshape").attributes["shape"] == shape


@pytest.mark.parametrize(("shape", "allowzero", "expected"), [
    (i64(0, -1), 0, (2, 12)),
    (i64(-1), 0, (24,)),
    (i64(4, 0, 2), 0, (4, 3, 2)),
    (i64(2, 3, 4), 1, (2, 3, 4)),
])
def test_reshape(shape, allowzero, expected):
    model = make_model([node("Reshape", ["x", "s"], allowzero=allowzero)], {"x": [2, 3, 4]},
                       inits={"s": shape})
    assert op_named(import_onnx(model), "nn.reshape").attributes["shape"] == expected


def test_reshape_shape_from_constant_node():
    model = make_model([node("Constant", [], ["s"], value_ints=[3, -1]),
                        node("Reshape", ["x", "s"])], {"x": [2, 3]})
    m = import_onnx(model)
    assert ops_of(m) == ["nn.reshape", "func.return"]
    model = make_model([node("Constant", [], ["s"],
                             value=numpy_helper.from_array(i64(6), "s")),
                        node("Reshape", ["x", "s"])], {"x": [2, 3]})
    assert out_type(import_onnx(model)) == "tensor<6xf32>"


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize(("op_type", "axes", "in_shape", "out_shape"), [
    ("Squeeze", [0, -1], [1, 3, 1], (3,)),
    ("Squeeze", None, [1, 3, 1], (3,)),
    ("Unsqueeze", [0, -1], [3, 4], (1, 3, 4, 1)),
    ("Unsqueeze", [1], [3], (3, 1)),
])
def test_squeeze_unsqueeze(opset, op_type, axes, in_shape, out_shape):
    if opset < 13:
        n = node(op_type, ["x"], **({} if axes is None else {"axes": axes}))
        inits = {}
    else:
        n = node(op_type, ["x"] if axes is None else ["x", "axes"])
        inits = {} if axes is None else {"axes": i64(*axes)}
    m = import_onnx(make_model([n], {"x": in_shape}, inits=inits, opset=opset))
    assert op_named(m, "nn.reshape").attributes["shape"] == out_shape


@pytest.mark.parametrize(("perm", "expected"), [(None, (2, 1, 0)), ([0, 2, 1], (0, 2, 1))])
def test_transpose(perm, expected):
    attrs = {} if perm is None else {"perm": perm}
    m = import_onnx(make_model([node("Transpose", ["x"], **attrs)], {"x": [2, 3, 4]}))
    assert op_named(m, "nn.transpose").attributes["perm"] == expected


def test_concat_normalizes_axis():
    model = make_model([node("Concat", ["x", "x2", "k"], axis=-1)],
                       {"x": [2, 3], "x2": [2, 1]}, inits={"k": f32(2, 4)})
    m = import_onnx(model)
    assert op_named(m, "nn.concat").attributes["axis"] == 1
    assert out_type(m) == "tensor<2x8xf32>"
    assert m.main.input_names == ["x", "x2"]


def test_pad():
    model = make_model([node("Pad", ["x", "p", "v"])], {"x": [1, 2, 3, 3]},
                       inits={"p": i64(0, 0, 1, 2, 0, 0, 3, 4), "v": np.float32(1.5)})
    m = import_onnx(model)
    pad = op_named(m, "nn.pad")
    assert pad.attributes["pads"] == (0, 0, 1, 2, 0, 0, 3, 4)
    assert pad.attributes["value"] == 1.5
    assert out_type(m) == "tensor<1x2x7x9xf32>"


def test_pad_axes_opset18():
    model = make_model([node("Pad", ["x", "p", "", "axes"])], {"x": [1, 2, 3, 3]},
                       inits={"p": i64(1, 2, 3, 4), "axes": i64(-2, 3)}, opset=18)
    m = import_onnx(model)
    assert op_named(m, "nn.pad").attributes["pads"] == (0, 0, 1, 2, 0, 0, 3, 4)
    assert op_named(m, "nn.pad").attributes["value"] == 0.0


@pytest.mark.parametrize("opset", [11, 13])
def test_dropout(opset):
    if opset < 12:
        n, inits = node("Dropout", ["x"], ["y", "mask"], ratio=0.3), {}
    else:
        n, inits = node("Dropout", ["x", "r"], ["y", "mask"]), {"r": np.float32(0.3)}
    m = import_onnx(make_model([n], {"x": [2, 3]}, inits=inits, opset=opset))
    assert ops_of(m) == ["nn.dropout", "func.return"]  # the unused mask is dropped
    assert op_named(m, "nn.dropout").attributes["ratio"] == pytest.approx(0.3)


def test_dropout_used_mask_is_unsupported():
    model = make_model([node("Dropout", ["x"], ["y", "mask"])], {"x": [2, 3]},
                       outputs=["y", "mask"])
    assert "mask output 'mask'" in import_error(model)


def test_constant_node_becomes_nn_constant():
    model = make_model([node("Constant", [], ["k"], value_floats=[1.0, 2.0, 3.0]),
                        node("Mul", ["x", "k"])], {"x": [2, 3]})
    m = import_onnx(model)
    assert ops_of(m) == ["nn.constant", "nn.mul", "func.return"]
    assert m.main.ops[0].loc == OnnxLoc("Constant", "constant")
    assert list(m.main.ops[0].attributes["value"].data) == [1.0, 2.0, 3.0]


def test_every_converter_is_exercised():
    # keep the list in the docs and this file honest when converters are added
    # (the ops of issue 15 are exercised in test_cnn_ops.py)
    assert sorted(CONVERTERS) == sorted([
        "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv",
        "DequantizeLinear", "Div", "Dropout", "Flatten", "Gemm", "GlobalAveragePool",
        "Identity", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad", "QuantizeLinear", "Relu",
        "Reshape", "Sigmoid", "Softmax", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
        "ConvTranspose", "HardSigmoid", "HardSwish", "LRN", "PRelu", "Pow", "ReduceMean",
        "Resize", "Slice", "Split", "Sqrt", "Sum",
        "Erf", "Gelu",
        # issue 16 (exercised in test_transformer_ops.py)
        "Gather", "GatherElements", "LayerNormalization", "Cast", "Where", "Equal", "Less",
        "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Expand",
        # issue 18 (exercised in test_lstm.py)
        "LSTM"])


def test_float_ops_and_qdq_are_converted_in_their_own_modules():
    """onnx_ops.py converts the float ops, onnx_qdq.py the QDQ nodes; both register in
    the one table the importer reads."""
    by_module = {op: fn.__module__ for op, fn in CONVERTERS.items()}
    assert {op for op, m in by_module.items() if m == "qcc.frontend.onnx_qdq"} == \
        {"QuantizeLinear", "DequantizeLinear"}
    assert set(by_module.values()) == {"qcc.frontend.onnx_ops", "qcc.frontend.onnx_qdq"}


# --------------------------------------------------------------------------- errors


def test_unsupported_op_lists_supported_ones():
    model = make_model([node("Einsum", ["x", "x"], name="ein", equation="ij,ij->ij")],
                       {"x": [2, 2]}, opset=12)
    msg = import_error(model)
    assert msg.startswith("error: ONNX node 'ein' (Einsum): ")
    assert "unsupported" in msg
    listed = msg.split("supported op types: ")[1].split(", ")
    assert listed == sorted(CONVERTERS)


def test_other_domain_is_unsupported():
    model = make_model([helper.make_node("FusedConv", ["x"], ["y"], name="fc",
                                         domain="com.microsoft")], {"x": [2]})
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    msg = import_error(model)
    assert "ONNX node 'fc' (FusedConv)" in msg and "com.microsoft.FusedConv" in msg


def test_pad_reflect_is_unsupported():
    model = make_model([node("Pad", ["x", "p"], name="pad0", mode="reflect")], {"x": [1, 4]},
                       inits={"p": i64(0, 1, 0, 1)})
    msg = import_error(model)
    assert msg.startswith("error: ONNX node 'pad0' (Pad): ")
    assert "'reflect'" in msg and "'mode'" in msg


def test_non_constant_reshape_shape():
    model = make_model([node("Reshape", ["x", "s"], name="r")], {"x": [2, 3], "s": [2]})
    model.graph.input[1].type.tensor_type.elem_type = TensorProto.INT64
    msg = import_error(model)
    assert "input 's' of node 'r' (Reshape) must be a constant" in msg
    # a shape computed from constants is folded at import time (onnx_fold.py)
    model = make_model([node("Concat", ["a", "b"], ["s"], axis=0),
                        node("Reshape", ["x", "s"], name="r")], {"x": [2, 3]},
                       inits={"a": i64(3), "b": i64(2)})
    assert out_type(import_onnx(model)) == "tensor<3x2xf32>"
    # one computed from a graph input is not
    model = make_model([node("Relu", ["s0"], ["s"]), node("Reshape", ["x", "s"], name="r")],
                       {"x": [2, 3], "s0": [2]})
    msg = import_error(model)
    assert "input 's' of node 'r' (Reshape) must be a constant" in msg


def test_non_constant_clip_bound():
    model = make_model([node("Clip", ["x", "x"], name="c")], {"x": [1]})
    assert "input 'x' of node 'c' (Clip) must be a constant" in import_error(model)


def test_dynamic_non_batch_dim():
    model = make_model([node("Relu", ["x"])], {"x": [1, "C", 4]})
    msg = import_error(model)
    assert "graph input 'x'" in msg and "dimension 1" in msg and "'C'" in msg


@pytest.mark.parametrize("opset", [6, 99])
def test_unsupported_opset(opset):
    msg = import_error(make_model([node("Relu", ["x"])], {"x": [1]}, opset=opset))
    newest = onnx.defs.onnx_opset_version()
    assert f"opset {opset} is not supported; qcc supports 11..{newest}" in msg


def test_int16_input():
    # (int64, int32 and bool inputs are token ids and masks: tests/frontend/
    # test_transformer_ops.py)
    model = make_model([node("Relu", ["x"])], {"x": [1, 2]}, input_type=TensorProto.INT16)
    msg = import_error(model)
    assert "graph input 'x'" in msg and "int16" in msg and "qcc imports float32 models" in msg


def test_int64_constant_used_as_tensor():
    model = make_model([node("Identity", ["k"], name="id")], {"x": [1]},
                       inits={"k": i64(1, 2)})
    # (the Identity is computed at import time; its int64 result is the graph output,
    # which int64 outputs may be since issue 16)
    m = import_onnx(model)
    assert out_type(m) == "tensor<2xi64>"
    assert m.main.ops[0].loc == OnnxLoc("Identity", "id")


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x00\x01\x02 this is not protobuf \xff\xfe")
    msg = import_error(path)
    assert "bad.onnx" in msg and "not a valid ONNX model" in msg
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert "empty.onnx" in import_error(empty)
    assert "not a valid ONNX model" in import_error(b"\x00\x01\x02garbage")


def test_missing_file(tmp_path):
    msg = import_error(tmp_path / "nope.onnx")
    assert "nope.onnx" in msg and "no such file" in msg


def test_shape_inference_failure_names_the_node():
    model = make_model([node("Relu", ["x"], name="r0")], {"x": [2, 3]})
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                 [5, 3]))
    msg = import_error(model)
    assert msg.startswith("error: ONNX node 'r0' (Relu): ONNX shape inference failed")


def test_int64_graph_output():
    # int64 outputs are allowed (issue 16: token ids, masks); float64 ones are not
    model = make_model([node("Constant", [], ["y"], value_ints=[1, 2])], {"x": [1]})
    assert out_type(import_onnx(model)) == "tensor<2xi64>"
    model = make_model([node("Constant", [], ["y"], value=numpy_helper.from_array(
        np.array([1.0, 2.0]), "v"))], {"x": [1]})
    msg = import_error(model)
    assert "tensor 'y' has element type float64; qcc imports float32 models" in msg


def test_dynamic_value_is_reported_with_node_and_tensor():
    # inputs are static, so supported ops never leave a dynamic shape behind; check the
    # guard itself on a context whose inferred type has a symbolic dimension
    ctx = ImportContext(17)
    ctx.types["t"] = helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, "M"]).type
    with pytest.raises(QccError) as info:
        ctx.tensor_type("t", OnnxLoc("MatMul", "mm"))
    assert str(info.value) == ("error: ONNX node 'mm' (MatMul): tensor 't' has no static "
                               "shape ([1, M]) after shape inference; qcc needs static shapes")


def test_bad_batch():
    with pytest.raises(QccError, match="batch"):
        import_onnx(make_model([node("Relu", ["x"])], {"x": [1]}), batch=0)


def test_ceil_mode_pool_that_old_onnx_shape_inference_gets_wrong():
    """Before opset 22 ONNX keeps a last ceil_mode window that starts in the end padding;
    onnxruntime and qcc drop it. qcc refuses such a model with a clear error."""
    pool = node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 0, 1, 1],
                ceil_mode=1, name="p")
    message = import_error(make_model([pool], {"x": [1, 1, 5, 5]}, opset=17))
    assert "ONNX node 'p' (MaxPool)" in message and "export the model with opset 22" in message
    if onnx.defs.onnx_opset_version() >= 22:
        module = import_onnx(make_model([pool], {"x": [1, 1, 5, 5]}, opset=22))
        assert out_type(module) == "tensor<1x1x3x3xf32>"
