"""The simulator executes compiled programs bit-exactly like the integer IR
interpreter: the example models and randomized single layers (shapes that are not
multiples of 256, K > 256, stride, padding, dilation, groups, per-tensor and
per-channel weights, int8 and uint8 activations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.simulator import execute
from qcc.interpreter import run
from qcc.testing import models

ROOT = Path(__file__).resolve().parents[3]
CALIB = ROOT / "examples" / "data" / "digits_calib.npz"


#: every bit-exactness test runs with both of the simulator's matrix engines
ENGINES = pytest.mark.parametrize("engine", ["numpy", "onnxruntime"])


def assert_bit_exact(module: qcc.Module, x: np.ndarray, engine: str = "numpy") -> None:
    """Interpreter and simulator give the same output codes on input ``x``."""
    program = lower(module)
    values: dict = {}
    run(module, {module.main.input_names[0]: x}, observer=values.__setitem__)
    g = module.main
    q_in = values[g.args[0].uses[0].op.output]
    want = {name: values[v.op.input] for name, v in zip(g.output_names, g.outputs,
                                                        strict=True)}
    got = execute(program, {program.inputs[0].name: q_in}, engine=engine)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "digits_dwsep"])
@pytest.mark.parametrize("granularity", ["per-tensor", "per-channel"])
@ENGINES
def test_digits_models(name, granularity, engine):
    module = qcc.load(ROOT / "examples" / "models" / f"{name}.onnx", batch=32)
    qcc.quantize_model(module, calib_data=str(CALIB), granularity=granularity)
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        x = z["input"][:32]
    assert_bit_exact(module, x, engine)


@pytest.mark.parametrize("builder", [models.mlp, models.depthwise_cnn])
@ENGINES
def test_seeded_example_models(builder, engine):
    module = qcc.import_onnx(builder(seed=3), batch=4)
    rng = np.random.default_rng(0)
    calib = [{"input": rng.standard_normal((4, 1, 8, 8)).astype(np.float32)}
             for _ in range(4)]
    qcc.quantize_model(module, calib_data=calib, activations="uint8")
    assert_bit_exact(module, rng.standard_normal((4, 1, 8, 8)).astype(np.float32), engine)


def _single_layer(kind: str, rng: np.random.Generator, **p) -> onnx.ModelProto:
    nodes, inits = [], []
    if kind == "conv":
        n, c, h, w = p["n"], p["c"], p["h"], p["w"]
        o, k, g = p["o"], p["k"], p["group"]
        weight = (rng.standard_normal((o, c // g, k, k)) / np.sqrt(c * k)).astype(np.float32)
        inits += [numpy_helper.from_array(weight, "w"),
                  numpy_helper.from_array(rng.standard_normal(o).astype(np.float32), "b")]
        nodes.append(helper.make_node(
            "Conv", ["x", "w", "b"], ["y0"], kernel_shape=[k, k], group=g,
            strides=[p["stride"]] * 2, dilations=[p["dilation"]] * 2, pads=[p["pad"]] * 4))
        shape = [n, c, h, w]
    else:
        m, kd, nd = p["m"], p["k"], p["n"]
        weight = (rng.standard_normal((kd, nd)) / np.sqrt(kd)).astype(np.float32)
        inits += [numpy_helper.from_array(weight, "w"),
                  numpy_helper.from_array(rng.standard_normal(nd).astype(np.float32), "b")]
        nodes.append(helper.make_node("Gemm", ["x", "w", "b"], ["y0"]))
        shape = [m, kd]
    nodes.append(helper.make_node("Relu", ["y0"], ["y"]))
    graph = helper.make_graph(nodes, "layer",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


LAYERS = [
    ("dense", dict(m=5, k=300, n=270)),  # K > 256 and N > 256, neither a multiple
    ("dense", dict(m=3, k=40, n=10)),
    ("conv", dict(n=2, c=3, h=9, w=7, o=20, k=3, group=1, stride=1, dilation=1, pad=1)),
    ("conv", dict(n=1, c=300, h=5, w=5, o=12, k=3, group=1, stride=2, dilation=1, pad=1)),
    ("conv", dict(n=1, c=16, h=9, w=9, o=300, k=3, group=1, stride=1, dilation=2, pad=2)),
    ("conv", dict(n=2, c=24, h=6, w=6, o=24, k=3, group=24, stride=2, dilation=1, pad=1)),
    # depthwise over more than one tile of lanes, dilated, padded
    ("conv", dict(n=2, c=300, h=7, w=6, o=300, k=3, group=300, stride=1, dilation=2,
                  pad=2)),
    ("conv", dict(n=1, c=12, h=7, w=7, o=18, k=5, group=3, stride=1, dilation=1, pad=0)),
    ("conv", dict(n=3, c=2, h=5, w=5, o=7, k=1, group=1, stride=1, dilation=1, pad=0)),
]


@pytest.mark.parametrize(("kind", "params"), LAYERS,
                         ids=[f"{k}-{i}" for i, (k, _) in enumerate(LAYERS)])
@pytest.mark.parametrize("granularity", ["per-tensor", "per-channel"])
@pytest.mark.parametrize("activations", ["int8", "uint8"])
@ENGINES
def test_random_single_layers(kind, params, granularity, activations, engine):
    rng = np.random.default_rng(len(str(params)))
    module = qcc.import_onnx(_single_layer(kind, rng, **params))
    shape = module.main.args[0].type.shape
    calib = [{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(3)]
    qcc.quantize_model(module, calib_data=calib, granularity=granularity,
                       activations=activations)
    assert_bit_exact(module, rng.standard_normal(shape).astype(np.float32), engine)


DEPTHWISE = [(k, p) for k, p in LAYERS if k == "conv" and p["group"] == p["c"] == p["o"]]


@pytest.mark.parametrize(("kind", "params"), DEPTHWISE)
@pytest.mark.parametrize("activations", ["int8", "uint8"])
@pytest.mark.parametrize("numba", ["on", "off"])
def test_depthwise_layers_with_and_without_compiled_loops(monkeypatch, kind, params,
                                                          activations, numba):
    """Diagonal passes are summed in place by fast.diagonal_sum when numba is
    installed, and gathered and multiplied by numpy otherwise (QCC_NO_NUMBA=1): both
    bit-exact with the interpreter."""
    if numba == "on":
        pytest.importorskip("numba")
        monkeypatch.delenv("QCC_NO_NUMBA", raising=False)
    else:
        monkeypatch.setenv("QCC_NO_NUMBA", "1")
    rng = np.random.default_rng(7)
    module = qcc.import_onnx(_single_layer(kind, rng, **params))
    shape = module.main.args[0].type.shape
    calib = [{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(3)]
    qcc.quantize_model(module, calib_data=calib, activations=activations)
    assert_bit_exact(module, rng.standard_normal(shape).astype(np.float32) + 0.5)


def test_channel_concat_and_residual_add():
    """Two convolutions concatenated along channels (the second at a column offset),
    max pooling, and a residual add of tensors with different scales."""
    rng = np.random.default_rng(5)

    def conv(name, x, c, o, k=3):
        w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"{name}_w"))
        nodes.append(helper.make_node("Conv", [x, f"{name}_w"], [name], name=name,
                                      kernel_shape=[k, k], pads=[k // 2] * 4))
        return name

    nodes, inits = [], []
    a = conv("a", "input", 3, 8)
    b = conv("b", "input", 3, 20, k=1)
    nodes.append(helper.make_node("Concat", [a, b], ["cat"], name="cat", axis=1))
    c = conv("c", "cat", 28, 28)
    nodes.append(helper.make_node("Add", ["cat", c], ["res"], name="res"))
    nodes.append(helper.make_node("MaxPool", ["res"], ["y"], name="pool", kernel_shape=[2, 2],
                                  strides=[2, 2]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 6, 6])],
        [helper.make_empty_tensor_value_info("y")], inits)
    module = qcc.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                                      17)]))
    calib = [{"input": rng.standard_normal((2, 3, 6, 6)).astype(np.float32)} for _ in range(3)]
    qcc.quantize_model(module, calib_data=calib)
    ops = {op.name for op in module.walk()}
    assert {"nn.concat", "quant.add", "nn.max_pool"} <= ops
    assert_bit_exact(module, rng.standard_normal((2, 3, 6, 6)).astype(np.float32))


@pytest.mark.parametrize("function", ["Sigmoid", "Tanh"])
@pytest.mark.parametrize("activations", ["int8", "uint8"])
def test_sigmoid_and_tanh_through_the_lookup_table(function, activations):
    rng = np.random.default_rng(9)
    w = (rng.standard_normal((6, 3, 3, 3)) / 3).astype(np.float32)
    w2 = (rng.standard_normal((4, 6, 1, 1)) / 2).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="conv", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node(function, ["c"], ["s"], name="act"),
             helper.make_node("Conv", ["s", "w2"], ["y"], name="conv2", kernel_shape=[1, 1])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 5, 5])],
        [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2")])
    module = qcc.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                                      17)]))
    calib = [{"input": rng.standard_normal((2, 3, 5, 5)).astype(np.float32)} for _ in range(3)]
    qcc.quantize_model(module, calib_data=calib, activations=activations)
    program = lower(module)
    assert any(i.op == "activate" and i.function for i in program.instructions)
    assert_bit_exact(module, rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
