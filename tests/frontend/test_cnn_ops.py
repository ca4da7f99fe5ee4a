"""The float ops of real CNNs (Sum, LRN, ReduceMean, Pow, Sqrt, Sub, Div, Slice, Split,
Resize, ConvTranspose, HardSigmoid, HardSwish, LeakyRelu, PRelu): imported and
interpreted, each checked against onnxruntime on small one-node models (random
shapes, broadcasting, the attribute variants exporters write); their import errors;
and their quantization (they stay float on dequantized inputs, outputs quantized)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.driver import quantize_model
from qcc.frontend import import_onnx
from qcc.interpreter import run

ort = pytest.importorskip("onnxruntime")

I64_MAX = np.iinfo(np.int64).max


def model_of(nodes: list[onnx.NodeProto], inputs: dict[str, tuple], outputs: list[str],
             inits: dict[str, np.ndarray] | None = None, opset: int = 17) -> onnx.ModelProto:
    """A model of ``nodes`` with float inputs of the given shapes; output shapes are
    left to ONNX shape inference."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # output shapes
    except onnx.shape_inference.InferenceError:
        return model  # an invalid model, for the error tests
    onnx.checker.check_model(model)
    return model


def onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_matches_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray],
                               rel: float = 1e-5) -> dict[str, np.ndarray]:
    """qcc's outputs equal onnxruntime's within ``rel`` of the largest magnitude."""
    want = onnxruntime(model, feeds)
    got = run(import_onnx(model), feeds)
    for vi, w in zip(model.graph.output, want, strict=True):
        g = got[vi.name]
        assert g.shape == w.shape and g.dtype == np.float32, (vi.name, g.shape, w.shape)
        scale = float(np.abs(w).max()) if w.size else 1.0
        np.testing.assert_allclose(g, w, rtol=rel, atol=rel * (scale or 1.0),
                                   err_msg=vi.name)
    return got


def one_node(op_type: str, x_shape: tuple, *, seed: int = 0, extra: dict | None = None,
             inits: dict | None = None, opset: int = 17, positive: bool = False,
             outputs: int = 1, **attrs) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A one-node model whose first input is 'x' (random data); ``extra`` are further
    graph inputs (name -> shape), ``inits`` constant inputs; input order is x, extra,
    inits as listed ('' skips an optional input)."""
    rng = np.random.default_rng(seed)
    extra, inits = extra or {}, dict(inits or {})
    names = ["x", *extra, *inits]
    outs = [f"y{k}" for k in range(outputs)]
    node = helper.make_node(op_type, names, outs, **attrs)
    inits = {n: a for n, a in inits.items() if n}
    feeds = {n: rng.standard_normal(s).astype(np.float32)
             for n, s in {"x": x_shape, **extra}.items()}
    if positive:
        feeds = {n: np.abs(a) + 0.1 for n, a in feeds.items()}
    model = model_of([node], {"x": x_shape, **extra}, outs, inits, opset)
    return model, feeds


# --------------------------------------------------------------------------- elementwise


@pytest.mark.parametrize("seed", range(3))
def test_sum_broadcasts_any_number_of_inputs(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 5, size=3))
    extra = {"b": shape[1:], "c": (1, shape[1], 1), "d": shape}
    model, feeds = one_node("Sum", shape, seed=seed, extra=extra)
    assert_matches_onnxruntime(model, feeds)
    ops = [op.name for op in import_onnx(model).walk() if op.name.startswith("nn.")]
    assert ops == ["nn.add"] * 3  # a chain of additions


def test_sum_of_one_input():
    assert_matches_onnxruntime(*one_node("Sum", (2, 3)))


@pytest.mark.parametrize("op_type", ["Sub", "Div", "Pow"])
def test_binary_ops_broadcast(op_type):
    model, feeds = one_node(op_type, (2, 3, 4, 5), extra={"b": (3, 1, 5)}, positive=True)
    assert_matches_onnxruntime(model, feeds)


@pytest.mark.parametrize("exponent", [np.array(2, np.int64), np.array([0.5, 3.0], np.float32),
                                      np.array(-1.5, np.float32)])
def test_pow_by_constant_exponents(exponent):
    model, feeds = one_node("Pow", (3, 2), inits={"e": exponent}, positive=True)
    assert_matches_onnxruntime(model, feeds)


def test_pow_by_a_huge_integer_exponent_is_an_error():
    model, _ = one_node("Pow", (3, 2), inits={"e": np.array(1 << 40, np.int64)})
    with pytest.raises(QccError, match="integer exponent 'e' is too large"):
        import_onnx(model)


@pytest.mark.parametrize(("op_type", "attrs"), [
    ("Sqrt", {}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.2})])
def test_unary_activations(op_type, attrs):
    model, feeds = one_node(op_type, (2, 3, 5, 4), positive=op_type == "Sqrt", **attrs)
    feeds["x"] *= 4  # past the hard ends of HardSigmoid / HardSwish
    assert_matches_onnxruntime(model, feeds)


@pytest.mark.parametrize("slope", [(3, 1, 1), (1,), (4,), (2, 3, 5, 4)])
def test_prelu_slopes(slope):
    rng = np.random.default_rng(1)
    inits = {"slope": rng.standard_normal(slope).astype(np.float32)}
    assert_matches_onnxruntime(*one_node("PRelu", (2, 3, 5, 4), inits=inits))


def test_prelu_with_a_slope_input():
    assert_matches_onnxruntime(*one_node("PRelu", (2, 3, 5, 4), extra={"slope": (3, 1, 1)}))


# --------------------------------------------------------------------------- LRN, ReduceMean


# (onnxruntime accepts odd sizes only; the ONNX node tests have size 3 and 5)
@pytest.mark.parametrize(("size", "attrs"), [
    (1, {}), (3, {"alpha": 0.01, "beta": 0.5, "bias": 2.0}),
    (5, {"alpha": 1e-4, "beta": 0.75, "bias": 1.0}), (9, {"alpha": 0.5})])
def test_lrn_sizes(size, attrs):
    model, feeds = one_node("LRN", (2, 7, 4, 3), size=size, **attrs)
    feeds["x"] *= 3
    assert_matches_onnxruntime(model, feeds)


@pytest.mark.parametrize(("axes", "keepdims"), [
    (None, 1), (None, 0), ([1], 1), ([1], 0), ([-1, 2], 1), ([0, 3], 0), ([-3], 0)])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean(axes, keepdims, opset):
    if opset >= 18:  # axes are an input
        inits = {} if axes is None else {"axes": np.array(axes, np.int64)}
        model, feeds = one_node("ReduceMean", (2, 3, 4, 5), inits=inits, opset=opset,
                                keepdims=keepdims)
    else:
        kw = {} if axes is None else {"axes": axes}
        model, feeds = one_node("ReduceMean", (2, 3, 4, 5), opset=opset, keepdims=keepdims,
                                **kw)
    assert_matches_onnxruntime(model, feeds)


def test_reduce_mean_noop_with_empty_axes():
    model, feeds = one_node("ReduceMean", (2, 3), opset=18, noop_with_empty_axes=1)
    got = assert_matches_onnxruntime(model, feeds)
    np.testing.assert_array_equal(got["y0"], feeds["x"])


# --------------------------------------------------------------------------- Slice, Split


@pytest.mark.parametrize(("starts", "ends", "axes", "steps"), [
    ([1, 0], [3, 10], None, None),  # default axes and steps, a clamped end
    ([-3], [-1], [2], None),  # negative indices
    ([0, -100], [I64_MAX, 100], [1, 3], None),  # clamped on both sides
    ([-1, 4], [-I64_MAX, 0], [-1, 2], [-1, -2]),  # negative steps through index 0
    ([5], [-10], [3], [-3]),
    ([0, 1, 1], [2, 4, 5], [0, 2, 3], [2, 2, 3]),
    ([3], [1], [2], [1]),  # empty
])
def test_slice(starts, ends, axes, steps):
    rng = np.random.default_rng(len(starts))
    inits = {"starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64)}
    if axes is not None:
        inits["axes"] = np.array(axes, np.int64)
    if steps is not None:
        if axes is None:
            inits["axes"] = np.arange(len(starts), dtype=np.int64)
        inits["steps"] = np.array(steps, np.int64)
    shape = (2, 3, int(rng.integers(4, 7)), 6)
    assert_matches_onnxruntime(*one_node("Slice", shape, inits=inits, opset=13))


@pytest.mark.parametrize(("opset", "axis", "split", "outputs"), [
    (13, 1, None, 3),  # equal parts
    (13, -1, [1, 4, 2], 3),  # sizes as an input
    (11, 2, [2, 2], 2),  # sizes as an attribute
    (18, 3, None, 4),  # num_outputs, the last part smaller
])
def test_split(opset, axis, split, outputs):
    attrs = {"axis": axis}
    inits = {}
    if split is not None and opset >= 13:
        inits["split"] = np.array(split, np.int64)
    elif split is not None:
        attrs["split"] = split
    if opset >= 18:
        attrs["num_outputs"] = outputs
    model, feeds = one_node("Split", (2, 6, 4, 7), inits=inits, opset=opset,
                            outputs=outputs, **attrs)
    got = assert_matches_onnxruntime(model, feeds)
    assert len(got) == outputs


def test_split_outputs_are_slices_and_unused_ones_go():
    model, feeds = one_node("Split", (2, 6), axis=1, outputs=3, opset=13)
    del model.graph.output[1:]
    module = import_onnx(model)
    assert [op.name for op in module.walk() if op.name.startswith("nn.")].count(
        "nn.slice") == 3
    np.testing.assert_array_equal(run(module, feeds)["y0"], feeds["x"][:, :2])


# --------------------------------------------------------------------------- Resize


def _resize(x_shape, *, scales=None, sizes=None, opset=19, seed=0, **attrs):
    """A Resize model: opset 11-12 write an empty roi (and empty scales with sizes),
    later opsets leave the unused inputs out."""
    inits = {}
    if opset < 13:
        inits["roi"] = np.array([], np.float32)
        inits["scales"] = np.array([] if scales is None else scales, np.float32)
        names = ["x", "roi", "scales"]
    else:
        names = ["x", "", "scales" if scales is not None else ""]
        if scales is not None:
            inits["scales"] = np.array(scales, np.float32)
    if sizes is not None:
        inits["sizes"] = np.array(sizes, np.int64)
        names.append("sizes")
    node = helper.make_node("Resize", names, ["y0"], **attrs)
    feeds = {"x": np.random.default_rng(seed).standard_normal(x_shape).astype(np.float32)}
    return model_of([node], {"x": x_shape}, ["y0"], inits, opset), feeds


RESIZE_CASES = [
    # PyTorch nearest upsampling (scale_factor=2)
    ({"scales": [1, 1, 2, 2]}, {"mode": "nearest", "coordinate_transformation_mode":
                                "asymmetric", "nearest_mode": "floor"}),
    ({"scales": [1, 1, 3, 2]}, {"mode": "nearest"}),
    ({"sizes": [2, 3, 7, 11]}, {"mode": "nearest", "nearest_mode": "round_prefer_ceil"}),
    ({"sizes": [2, 3, 3, 2]}, {"mode": "nearest", "nearest_mode": "ceil"}),
    ({"sizes": [2, 3, 9, 6]}, {"mode": "nearest", "coordinate_transformation_mode":
                               "align_corners", "nearest_mode": "round_prefer_floor"}),
    # PyTorch bilinear, align_corners=False / True
    ({"scales": [1, 1, 2, 2]}, {"mode": "linear", "coordinate_transformation_mode":
                                "pytorch_half_pixel"}),
    ({"sizes": [2, 3, 9, 13]}, {"mode": "linear", "coordinate_transformation_mode":
                                "align_corners"}),
    ({"scales": [1, 1, 0.5, 0.5]}, {"mode": "linear"}),
    ({"sizes": [2, 3, 1, 1]}, {"mode": "linear", "coordinate_transformation_mode":
                               "pytorch_half_pixel"}),
    ({"sizes": [2, 3, 7, 4]}, {"mode": "linear", "coordinate_transformation_mode":
                               "asymmetric"}),
    ({"scales": [1, 1, 1.5, 2.5]}, {"mode": "cubic"}),
    ({"sizes": [2, 3, 8, 9]}, {"mode": "cubic", "cubic_coeff_a": -0.5,
                               "exclude_outside": 1}),
    ({"scales": [1, 1, 0.5, 0.75]}, {"mode": "linear", "antialias": 1}),
]


@pytest.mark.parametrize(("size", "attrs"), RESIZE_CASES)
@pytest.mark.parametrize("opset", [11, 19])
def test_resize(size, attrs, opset):
    if opset < 18 and "antialias" in attrs:
        pytest.skip("antialias is an opset 18 attribute")
    model, feeds = _resize((2, 3, 5, 6), opset=opset, **size, **attrs)
    assert_matches_onnxruntime(model, feeds)


@pytest.mark.parametrize(("sizes", "policy"), [([8, 20], "not_larger"),
                                               ([8, 20], "not_smaller")])
def test_resize_axes_and_aspect_ratio(sizes, policy):
    model, feeds = _resize((2, 3, 5, 6), sizes=sizes, axes=[2, 3], mode="linear",
                           keep_aspect_ratio_policy=policy)
    assert_matches_onnxruntime(model, feeds)


def test_nearest_resize_copies_elements():
    model, feeds = _resize((1, 2, 3, 4), scales=[1, 1, 2, 2], mode="nearest",
                           coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    got = run(import_onnx(model), feeds)["y0"]
    np.testing.assert_array_equal(got, feeds["x"].repeat(2, axis=2).repeat(2, axis=3))


# --------------------------------------------------------------------------- ConvTranspose


@pytest.mark.parametrize("attrs", [
    {},
    {"strides": [2, 2]},
    {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
    {"strides": [3, 2], "pads": [0, 1, 2, 0], "output_padding": [2, 0]},
    {"dilations": [2, 1], "pads": [1, 0, 0, 1]},
    {"group": 2, "strides": [2, 1]},
    {"group": 4, "strides": [2, 2], "pads": [1, 1, 1, 1]},  # depthwise
    {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"strides": [2, 2], "auto_pad": "SAME_LOWER"},
    {"strides": [2, 2], "auto_pad": "VALID"},
    {"strides": [2, 2], "output_shape": [10, 11]},
    {"strides": [2, 2], "output_shape": [12, 13]},  # past the natural size
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose(attrs, bias):
    rng = np.random.default_rng(len(attrs))
    group = attrs.get("group", 1)
    inits = {"w": rng.standard_normal((4, 6 // group, 3, 3)).astype(np.float32)}
    if bias:
        inits["b"] = rng.standard_normal(6 // group * group).astype(np.float32)
    model, feeds = one_node("ConvTranspose", (2, 4, 5, 6), inits=inits, **attrs)
    assert_matches_onnxruntime(model, feeds)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _resize((1, 1, 4, 4), sizes=[1, 1, 2, 2], opset=11,
                     coordinate_transformation_mode="tf_crop_and_resize"),
     r"node 'Resize_0'.*unsupported value 'tf_crop_and_resize' of attribute "
     r"'coordinate_transformation_mode': cropping by a region of interest"),
    (lambda: _resize((1, 1, 4, 4), scales=[1, 1, 2, 2], mode="nearest", antialias=1),
     r"unsupported value 1 of attribute 'antialias': antialias needs linear or cubic"),
    (lambda: _resize((1, 1, 4, 4), scales=[1, 1, 2, 2], mode="bilinear"),
     r"unsupported value 'bilinear' of attribute 'mode': qcc supports nearest, linear, "
     r"cubic"),
    (lambda: _resize((1, 1, 4, 4), scales=[1, 1, 2, 2], nearest_mode="up"),
     r"unsupported value 'up' of attribute 'nearest_mode'"),
    (lambda: _resize((1, 1, 4, 4), scales=[1, 1, -2, 2]), r"scales .* must be positive"),
    (lambda: one_node("Resize", (1, 1, 4, 4), opset=11,
                      inits={"roi": np.array([], np.float32),
                             "scales": np.array([1, 1, 2, 2], np.float32),
                             "sizes": np.array([1, 1, 8, 8], np.int64)}),
     r"Resize needs exactly one of scales and sizes"),
    (lambda: one_node("Split", (2, 5), axis=1, outputs=2, opset=13),
     r"Split.*not evenly splittable"),  # (ONNX shape inference finds these first)
    (lambda: one_node("Split", (2, 5), inits={"s": np.array([2, 2], np.int64)}, axis=1,
                      outputs=2, opset=13),
     r"Split.*sum of 'split' \(4\)"),
    (lambda: one_node("Slice", (2, 5), opset=13,
                      inits={"s": np.array([0], np.int64), "e": np.array([1], np.int64),
                             "a": np.array([1], np.int64), "st": np.array([0], np.int64)}),
     r"'step' cannot be 0 for Slice"),
    (lambda: one_node("Slice", (2, 5), opset=13,
                      inits={"s": np.array([0, 0], np.int64), "e": np.array([1, 1], np.int64),
                             "a": np.array([1, -1], np.int64)}),
     r"Slice.*Axis 1 is referred to more than once"),
    (lambda: one_node("ReduceMean", (2, 5), axes=[1, -1], opset=13),
     r"ReduceMean axes \[1, -1\] repeat"),
    (lambda: one_node("ReduceMean", (2, 5), axes=[2], opset=13),
     r"ReduceMean.*axis must be in \[-rank, rank-1\]"),
    (lambda: one_node("ConvTranspose", (1, 2, 5),
                      inits={"w": np.ones((2, 1, 3), np.float32)}),
     r"unsupported 1-D ConvTranspose: qcc supports 2-D \(NCHW\) inputs only"),
    (lambda: one_node("ConvTranspose", (1, 2, 5, 5), kernel_shape=[2, 2],
                      inits={"w": np.ones((2, 1, 3, 3), np.float32)}),
     r"kernel_shape \[2, 2\] does not match the weight"),
])
def test_import_errors_name_the_node(make, message):
    model, _ = make()
    with pytest.raises(QccError, match=message) as info:
        import_onnx(model)
    if "shape inference" not in info.value.message:  # qcc's own checks name the node
        assert info.value.loc.name == f"{model.graph.node[0].op_type}_0"


def test_cli_reports_an_unsupported_resize_with_exit_2(capsys, tmp_path):
    model, _ = _resize((1, 1, 4, 4), scales=[1, 1, 2, 2], mode="bilinear")
    model.graph.node[0].name = "up1"
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert main(["import", str(path)]) == 2
    _, err = capsys.readouterr()
    assert "up1" in err and "unsupported value 'bilinear' of attribute 'mode'" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- quantization


def _quantizable(op_type: str) -> tuple[onnx.ModelProto, dict]:
    """conv -> relu -> OP -> conv: a small model using one of the ops between layers
    that quantize, with what the op needs."""
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    inits: dict[str, np.ndarray] = {"w1": w1}
    extra_inputs: list[str] = []
    attrs: dict = {}
    c_out = 4
    if op_type in ("Sub", "Div", "Pow", "PRelu"):
        value = {"Sub": 0.5, "Div": 2.0, "Pow": 2.0, "PRelu": 0.25}[op_type]
        inits["k"] = np.full((4, 1, 1), value, np.float32)
        extra_inputs = ["k"]
    elif op_type == "Sum":
        extra_inputs = ["h"]  # h + h
    elif op_type == "LRN":
        attrs = {"size": 3, "alpha": 0.1}
    elif op_type == "ReduceMean":
        inits["axes"] = np.array([3], np.int64)
        extra_inputs = ["axes"]
    elif op_type == "Slice":
        for n, v in (("s", [1, 1]), ("e", [4, -1]), ("a", [1, 3])):
            inits[n] = np.array(v, np.int64)
        extra_inputs = ["s", "e", "a"]
        c_out = 3
    elif op_type == "Resize":
        inits["scales"] = np.array([1, 1, 2, 2], np.float32)
        extra_inputs = ["", "scales"]
        attrs = {"mode": "linear"}
    elif op_type == "ConvTranspose":
        inits["wt"] = (rng.standard_normal((4, 4, 2, 2)) * 0.3).astype(np.float32)
        extra_inputs = ["wt"]
        attrs = {"strides": [2, 2]}
    elif op_type == "HardSigmoid":
        attrs = {"alpha": 0.5}
    elif op_type == "LeakyRelu":
        attrs = {"alpha": 0.1}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu" if op_type in ("Sqrt", "Pow") else "Identity",
                              ["c1"], ["h"])]
    if op_type == "Split":
        nodes.append(helper.make_node("Split", ["h"], ["y", "y_rest"], axis=1,
                                      num_outputs=2))
        c_out = 2
    else:
        nodes.append(helper.make_node(op_type, ["h", *extra_inputs], ["y"], **attrs))
    w2 = (rng.standard_normal((5, c_out, 1, 1)) * 0.3).astype(np.float32)
    inits["w2"] = w2
    nodes.append(helper.make_node("Conv", ["y", "w2"], ["out"]))
    model = model_of(nodes, {"x": (1, 3, 6, 6)}, ["out"], inits, opset=19)
    return model, inits


NEW_OPS = ["Sum", "LRN", "ReduceMean", "Pow", "Sqrt", "Sub", "Div", "Slice", "Split", "Resize",
           "ConvTranspose", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu"]
_NN_NAME = {"Sum": "nn.add", "LRN": "nn.lrn", "ReduceMean": "nn.reduce_mean",
            "Pow": "nn.pow", "Sqrt": "nn.sqrt", "Sub": "nn.sub", "Div": "nn.div",
            "Slice": "nn.slice", "Split": "nn.slice", "Resize": "nn.resize",
            "ConvTranspose": "nn.conv_transpose2d", "HardSigmoid": "nn.hard_sigmoid",
            "HardSwish": "nn.hard_swish", "LeakyRelu": "nn.leaky_relu", "PRelu": "nn.prelu"}


@pytest.mark.parametrize("op_type", NEW_OPS)
def test_quantized_model_runs_close_to_float(op_type):
    """After quantize, the op computes in float on dequantized inputs and its output is
    quantized for the next conv; the integer program runs close to FP32."""
    model, _ = _quantizable(op_type)
    rng = np.random.default_rng(1)
    calib = [{"x": rng.standard_normal((1, 3, 6, 6)).astype(np.float32)} for _ in range(4)]
    x = calib[0]["x"]
    want = onnxruntime(model, {"x": x})[0]
    module = import_onnx(model)
    assert run(module, {"x": x})["out"].shape == want.shape
    quantize_model(module, calib)
    ops = list(module.walk())
    names = [op.name for op in ops]
    assert "quant.conv2d" in names  # the convs around it became integer
    if op_type == "Sum":  # additions have an integer form
        assert "quant.add" in names and "nn.add" not in names, names
    if op_type == "PRelu":  # so has PRelu by constant slopes (TFLite's int8 PRELU)
        assert "quant.prelu" in names and "nn.prelu" not in names, names
    new = [op for op in ops if op.name == _NN_NAME[op_type]]
    assert new or op_type in ("Sum", "PRelu"), names
    for op in new:
        # float on dequantized inputs, the output quantized for the integer conv after it
        assert all(o.op is None or o.op.name in ("quant.dequantize", "nn.constant")
                   for o in op.operands if o.op is not None), \
            [o.op.name for o in op.operands]
        assert {u.op.name for u in op.output.uses} <= {"quant.quantize"}
    got = run(module, {"x": x})["out"]
    err = np.abs(got - want).max()
    assert err <= 0.05 * np.abs(want).max(), (op_type, err)


def test_resize_tf_half_pixel_for_nn_of_opset_11():
    model, feeds = _resize((1, 2, 5, 6), scales=[1, 1, 1.6, 0.7], opset=11, mode="nearest",
                           coordinate_transformation_mode="tf_half_pixel_for_nn")
    assert_matches_onnxruntime(model, feeds)
