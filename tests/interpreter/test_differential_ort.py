"""Differential tests: import + interpret agrees with onnxruntime.

Agreement is to 1e-5 relative: every element within ``1e-5 * max|reference|`` of
onnxruntime's result (an elementwise relative bound is meaningless for outputs
near zero, where the two engines' float32 summation orders differ).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from qcc.frontend import import_onnx
from qcc.interpreter import run
from qcc.passmanager import Pipeline
from qcc.testing.models import BUILDERS

ort = pytest.importorskip("onnxruntime")

NEWEST = onnx.defs.onnx_opset_version()


def _reference(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def assert_close(got: np.ndarray, want: np.ndarray, rel: float = 1e-5) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = float(np.abs(want).max()) or 1.0
    np.testing.assert_allclose(got, want, rtol=rel, atol=rel * scale)


def _with_opset(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.opset_import[:]
    model.opset_import.append(onnx.helper.make_opsetid("", opset))
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("opset", [11, 13, 17, NEWEST])
def test_models_match_onnxruntime(name: str, batch: int, opset: int):
    model = _with_opset(BUILDERS[name](seed=batch), opset)
    x = np.random.default_rng(opset).standard_normal((batch, 1, 8, 8)).astype(np.float32)
    want = _reference(model, {"input": x})[0]
    module = import_onnx(model, batch=batch)
    got = run(module, {"input": x})["output"]
    assert_close(got, want)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_canonicalized_models_match_onnxruntime(name: str):
    """The import pipeline (folding batch norms, normalizing Gemm) keeps the numbers."""
    model = BUILDERS[name](seed=7)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    want = _reference(model, {"input": x})[0]
    module = import_onnx(model, batch=3)
    Pipeline.parse("canonicalize,normalize-gemm,fold-batchnorm,canonicalize").run(module)
    ops = {op.name for op in module.walk()}
    assert "nn.batch_norm" not in ops and "nn.gemm" not in ops
    assert_close(run(module, {"input": x})["output"], want)


def _single_node_model(node: onnx.NodeProto, inputs: dict[str, tuple], out_shape: tuple,
                       inits: list[onnx.TensorProto] = ()) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, out_shape)],
        list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


CONV_CASES = [
    # (x shape, w shape, attrs)
    ((2, 3, 9, 7), (4, 3, 3, 3), dict(strides=[2, 1], pads=[1, 0, 2, 1])),
    ((1, 4, 10, 10), (4, 1, 3, 3), dict(group=4, pads=[1, 1, 1, 1])),  # depthwise
    # strided depthwise, summed over slabs of channels (more than one slab per image)
    ((2, 5, 512, 514), (5, 1, 3, 3), dict(group=5, pads=[1, 1, 1, 1], strides=[2, 2])),
    ((1, 6, 8, 8), (6, 2, 3, 3), dict(group=3, dilations=[2, 2])),
    ((1, 3, 11, 11), (5, 3, 5, 5), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    ((1, 3, 11, 11), (5, 3, 4, 4), dict(auto_pad="SAME_LOWER", strides=[3, 3])),
    ((1, 2, 6, 6), (2, 2, 1, 1), dict(auto_pad="VALID")),
    # several images in one product (>= 128 pixels each, and fewer), with and without
    # a bias: the images are put first as the bias is added
    ((3, 4, 14, 12), (6, 4, 3, 3), dict(pads=[1, 1, 1, 1])),
    ((3, 4, 14, 12), (6, 4, 3, 3), dict(pads=[1, 1, 1, 1], bias=False)),
    ((4, 5, 6, 6), (7, 5, 1, 1), dict(bias=False)),
    ((4, 5, 6, 6), (7, 5, 1, 1), dict()),
]


@pytest.mark.parametrize(("xs", "ws", "attrs"), CONV_CASES)
def test_conv_variants(xs, ws, attrs):
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(len(str(attrs)))
    attrs = dict(attrs)
    with_bias = attrs.pop("bias", True)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")] + ([numpy_helper.from_array(b, "b")]
                                                 if with_bias else [])
    node = helper.make_node("Conv", ["x", "w", "b"][:len(inits) + 1], ["y"],
                            kernel_shape=list(ws[2:]), **attrs)
    probe = _single_node_model(node, {"x": xs}, None, inits)
    x = rng.standard_normal(xs).astype(np.float32)
    want = _reference(probe, {"x": x})[0]
    got = run(import_onnx(probe), {"x": x})["y"]
    assert_close(got, want)


POOL_CASES = [
    ("MaxPool", (1, 2, 9, 9), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", (1, 2, 8, 8), dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1], dilations=[2, 2])),
    ("AveragePool", (2, 3, 7, 7), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                       count_include_pad=1)),
    ("AveragePool", (2, 3, 7, 7), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                       count_include_pad=0, ceil_mode=1)),
    ("AveragePool", (1, 1, 6, 6), dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER",
                                       strides=[2, 2])),
]


@pytest.mark.parametrize(("op", "xs", "attrs"), POOL_CASES)
def test_pool_variants(op, xs, attrs):
    from onnx import helper

    node = helper.make_node(op, ["x"], ["y"], **attrs)
    probe = _single_node_model(node, {"x": xs}, None)
    x = np.random.default_rng(0).standard_normal(xs).astype(np.float32)
    want = _reference(probe, {"x": x})[0]
    got = run(import_onnx(probe), {"x": x})["y"]
    assert_close(got, want)
