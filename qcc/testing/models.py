"""Small ONNX models built with ``onnx.helper`` from a seed, for tests and examples.

Each builder returns an ``onnx.ModelProto`` that passes the ONNX checker: an MLP,
a CNN with batch norm, pooling and a residual add, and a depthwise-separable CNN.
Weights are drawn from a seeded generator with He-style scaling, so activations
stay in a realistic range through the layers.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def init(self, stem: str, array: np.ndarray) -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attrs) -> str:
        out = self.fresh(stem or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{out}_node", **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1,
             bias: bool = False) -> str:
        fan_in = cin // group * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        inputs = [x, self.init("w", w)]
        if bias:
            inputs.append(self.init("b", self.rng.standard_normal(cout) * 0.1))
        return self.node("Conv", inputs, "conv", kernel_shape=[k, k], strides=[stride, stride],
                         pads=[k // 2] * 4, group=group)

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        return self.node("BatchNormalization", [
            x, self.init("gamma", 1 + 0.1 * r.standard_normal(c)),
            self.init("beta", 0.1 * r.standard_normal(c)),
            self.init("mean", 0.1 * r.standard_normal(c)),
            self.init("var", 1 + 0.1 * np.abs(r.standard_normal(c)))], "bn", epsilon=1e-5)

    def gemm(self, x: str, k: int, n: int, trans_b: bool = True) -> str:
        w = self.rng.standard_normal((n, k) if trans_b else (k, n)) * np.sqrt(2.0 / k)
        b = self.rng.standard_normal(n) * 0.1
        return self.node("Gemm", [x, self.init("fc_w", w), self.init("fc_b", b)], "fc",
                         transB=int(trans_b))

    def model(self, input_shape: list, output: str, output_shape: list,
              opset: int = 17) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)],
            self.inits)
        graph.node[-1].output[0] = "output"
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="qcc.testing.models")
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model


def mlp(seed: int = 0, in_features: int = 64, hidden: int = 32, classes: int = 10,
        batch: int | str = "N") -> onnx.ModelProto:
    """Flatten -> Gemm -> Relu -> Dropout -> Gemm -> Relu -> MatMul + Add (bias)."""
    b = _Builder("mlp", seed)
    x = b.node("Flatten", ["input"], "flat", axis=1)
    x = b.node("Relu", [b.gemm(x, in_features, hidden)])
    x = b.node("Dropout", [x])
    x = b.node("Relu", [b.gemm(x, hidden, hidden, trans_b=False)])
    w = b.init("w_out", b.rng.standard_normal((hidden, classes)) * np.sqrt(2.0 / hidden))
    x = b.node("MatMul", [x, w])
    x = b.node("Add", [x, b.init("b_out", b.rng.standard_normal(classes) * 0.1)])
    return b.model([batch, 1, 8, 8], x, [batch, classes])


def cnn(seed: int = 0, classes: int = 10, batch: int | str = "N") -> onnx.ModelProto:
    """Conv-BN-ReLU, MaxPool, a residual block, AveragePool, GlobalAveragePool, Gemm,
    Softmax, on 1x8x8 images."""
    b = _Builder("cnn", seed)
    x = b.node("Relu", [b.bn(b.conv("input", 1, 8, 3), 8)])
    x = b.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Relu", [b.bn(b.conv(x, 8, 8, 3), 8)])
    y = b.bn(b.conv(y, 8, 8, 3), 8)
    x = b.node("Relu", [b.node("Add", [x, y], "residual")])
    x = b.node("Clip", [b.conv(x, 8, 16, 3, bias=True), "", b.init("six", np.array(6.0))])
    x = b.node("AveragePool", [x], "avgpool", kernel_shape=[3, 3], strides=[1, 1],
               pads=[1, 1, 1, 1], count_include_pad=0)
    x = b.node("GlobalAveragePool", [x], "gap")
    x = b.node("Flatten", [x], "flat", axis=1)
    x = b.node("Softmax", [b.gemm(x, 16, classes)], "softmax", axis=1)
    return b.model([batch, 1, 8, 8], x, [batch, classes])


def depthwise_cnn(seed: int = 0, classes: int = 10, batch: int | str = "N") -> onnx.ModelProto:
    """MobileNet-style depthwise-separable blocks with ReLU6 (Clip) and a strided
    depthwise conv, on 1x8x8 images."""
    b = _Builder("depthwise_cnn", seed)
    six = b.init("six", np.array(6.0))
    zero = b.init("zero", np.array(0.0))
    x = b.node("Clip", [b.bn(b.conv("input", 1, 16, 3), 16), zero, six])
    for stride, cout in ((1, 16), (2, 32)):
        x = b.node("Clip", [b.bn(b.conv(x, 16, 16, 3, stride=stride,
                                        group=16), 16), zero, six])
        x = b.node("Clip", [b.bn(b.conv(x, 16, cout, 1), cout), zero, six])
        if cout == 32:
            break
    x = b.node("GlobalAveragePool", [x], "gap")
    x = b.node("Reshape", [x, _shape_init(b, [-1, 32])], "reshape")
    x = b.gemm(x, 32, classes)
    return b.model([batch, 1, 8, 8], x, [batch, classes])


def _shape_init(b: _Builder, shape: list[int]) -> str:
    name = b.fresh("shape")
    b.inits.append(numpy_helper.from_array(np.array(shape, np.int64), name))
    return name


BUILDERS = {"mlp": mlp, "cnn": cnn, "depthwise_cnn": depthwise_cnn}
