"""A model zoo: ResNet-18, ResNet-50, MobileNet-v2, a large MLP and the classic CNNs.

    python examples/zoo.py [--out examples/.cache/zoo] [--models resnet18,resnet50,...]
    python examples/zoo.py --models classics    # or all

Architecture-shaped models built with ``onnx.helper`` from a seed (He-initialized
weights, inference batch norm with seeded statistics), at realistic sizes. They are
for measuring the compiler and the TPU cost model, not for accuracy: the weights are
random. The files are large (up to ~100 MB) and not committed: the CLI writes them to
``examples/.cache/zoo`` (ignored by git) and prints their sizes and MAC counts;
``load(name)`` returns the cached path, building the file first if it is missing or
was built by an older version of this script. The bytes are the same for the same
seed on every machine.

Every model takes one float32 input named ``input`` ([N, 3, R, R] for the CNNs,
[N, width] for the MLP) and returns ``output``. The first four return logits, no
softmax, so the whole network maps to the TPU-v1 backend. The classic architectures
(``CLASSICS``: AlexNet, VGG-16, Inception-v1, DenseNet-121, ShuffleNet, SqueezeNet,
MobileNet-v3-small, ResNet-50 with Softmax, and AlexNet as an opset-9 export) are
written the way exporters write them: Softmax at the end, Flatten into Gemm, batch
norm as Mul/Add where nothing precedes it to fold into, LRN, Dropout in inference
form, channel shuffle as Reshape/Transpose/Reshape, dynamic height and width for
MobileNet-v3-small; what qcc makes of each is benchmarks/zoo_report.py's report
(docs/zoo.md). Small variants for tests::

    zoo.resnet18(resolution=32, width=0.25)     # an onnx.ModelProto
    zoo.mlp_large(width=64, batch=4)
    zoo.alexnet(resolution=64, width=0.25)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: bump when a builder changes the bytes it writes, so cached files are rebuilt
ZOO_VERSION = 1
CACHE = Path(__file__).resolve().parent / ".cache" / "zoo"


class ZooBuilder:
    """Builds an ONNX graph node by node, tracking shapes, parameters and MACs.

    Tensor shapes are tracked in ``shapes`` so the helpers need no channel or size
    arguments; ``macs`` counts multiply-accumulates of Conv and Gemm nodes (for the
    whole batch); ``params`` counts the learnable parameters the way PyTorch does
    (conv and dense weights and biases, batch-norm scale and shift, not the running
    statistics).
    """

    def __init__(self, name: str, seed: int, input_shape: list[int], opset: int = 17):
        self.name = name
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
        self.count = 0
        self.macs = 0
        self.params = 0
        self._consts: dict[str, str] = {}

    # ---- names, initializers, nodes
    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def init(self, stem: str, array: np.ndarray, learnable: bool = True) -> str:
        name = self.fresh(stem)
        array = np.asarray(array, np.float32)
        self.inits.append(numpy_helper.from_array(array, name))
        self.shapes[name] = array.shape
        if learnable:
            self.params += array.size
        return name

    def init_int(self, stem: str, values: list[int]) -> str:
        """An int64 initializer (Reshape shapes, Gather indices): not a parameter."""
        name = self.fresh(stem)
        array = np.asarray(values, np.int64)
        self.inits.append(numpy_helper.from_array(array, name))
        self.shapes[name] = array.shape
        return name

    def const(self, value: float) -> str:
        """A shared scalar initializer (Clip bounds)."""
        if value not in self._consts:
            self._consts[value] = self.init("const", np.array(value), learnable=False)
        return self._consts[value]

    def node(self, op: str, inputs: list[str], shape: tuple[int, ...], stem: str | None = None,
             **attrs) -> str:
        out = self.fresh(stem or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{out}_node", **attrs))
        self.shapes[out] = tuple(shape)
        return out

    # ---- layers
    def conv(self, x: str, cout: int, k: int, stride: int = 1, group: int = 1,
             bias: bool = False, pad: int | None = None) -> str:
        """A k x k convolution with 'same'-style padding k // 2 (or ``pad``); bias-free
        unless ``bias`` (a batch norm follows the bias-free ones)."""
        n, cin, h, w = self.shapes[x]
        pad = k // 2 if pad is None else pad
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        fan_in = cin // group * k * k
        wt = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        self.macs += n * cout * ho * wo * fan_in
        inputs = [x, self.init("w", wt)]
        if bias:
            inputs.append(self.init("b", 0.1 * self.rng.standard_normal(cout)))
        return self.node("Conv", inputs, (n, cout, ho, wo), "conv",
                         kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                         group=group)

    def bn(self, x: str, gamma_scale: float = 1.0) -> str:
        c = self.shapes[x][1]
        r = self.rng
        gamma = self.init("gamma", gamma_scale * (1 + 0.1 * r.standard_normal(c)))
        beta = self.init("beta", 0.1 * r.standard_normal(c))
        mean = self.init("mean", 0.1 * r.standard_normal(c), learnable=False)
        var = self.init("var", 1 + 0.1 * np.abs(r.standard_normal(c)), learnable=False)
        return self.node("BatchNormalization", [x, gamma, beta, mean, var], self.shapes[x],
                         "bn", epsilon=1e-5)

    def bn_mul_add(self, x: str) -> str:
        """An inference batch norm as exporters write it when no conv precedes it to
        fold into: Mul by the per-channel scale gamma / sqrt(var + eps), then Add of
        beta - mean * scale (both [C, 1, 1] constants)."""
        c = self.shapes[x][1]
        r = self.rng
        gamma = 1 + 0.1 * r.standard_normal(c)
        beta = 0.1 * r.standard_normal(c)
        mean = 0.1 * r.standard_normal(c)
        var = 1 + 0.1 * np.abs(r.standard_normal(c))
        scale = gamma / np.sqrt(var + 1e-5)
        self.params += 2 * c  # gamma and beta
        y = self.node("Mul", [x, self.init("bn_scale", scale.reshape(c, 1, 1), False)],
                      self.shapes[x], "bn_mul")
        return self.node("Add", [y, self.init("bn_shift", (beta - mean * scale)
                                              .reshape(c, 1, 1), False)],
                         self.shapes[x], "bn_add")

    def hardswish(self, x: str) -> str:
        return self.node("HardSwish", [x], self.shapes[x])

    def hardsigmoid(self, x: str) -> str:
        """PyTorch's hardsigmoid, relu6(x + 3) / 6, as exported."""
        return self.node("HardSigmoid", [x], self.shapes[x], alpha=1 / 6, beta=0.5)

    def lrn(self, x: str) -> str:
        """Local response normalization across 5 channels (AlexNet's, GoogLeNet's)."""
        return self.node("LRN", [x], self.shapes[x], size=5, alpha=1e-4, beta=0.75,
                         bias=1.0)

    def dropout(self, x: str) -> str:
        """Dropout as an inference export keeps it (the identity): the ratio is an
        attribute up to opset 11, an input (left at its default) after."""
        attrs = {"ratio": 0.5} if self.opset < 12 else {}
        return self.node("Dropout", [x], self.shapes[x], **attrs)

    def concat(self, xs: list[str]) -> str:
        n, _, h, w = self.shapes[xs[0]]
        assert all(self.shapes[x][2:] == (h, w) for x in xs)
        return self.node("Concat", xs, (n, sum(self.shapes[x][1] for x in xs), h, w),
                         axis=1)

    def mul(self, a: str, b: str) -> str:
        """a * b, b broadcast over a (squeeze-excite's channel scale)."""
        return self.node("Mul", [a, b], self.shapes[a])

    def avg_pool(self, x: str, k: int, stride: int, pad: int) -> str:
        """AveragePool; with padding, the ONNX default count_include_pad=0: the border
        windows average only the elements they cover."""
        n, c, h, w = self.shapes[x]
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self.node("AveragePool", [x], (n, c, ho, wo), "avgpool",
                         kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def global_avg_pool(self, x: str) -> str:
        n, c = self.shapes[x][:2]
        return self.node("GlobalAveragePool", [x], (n, c, 1, 1), "gap")

    def flatten(self, x: str) -> str:
        n = self.shapes[x][0]
        return self.node("Flatten", [x], (n, int(np.prod(self.shapes[x][1:]))), "flat",
                         axis=1)

    def flatten_by_shape(self, x: str) -> str:
        """``x.view(x.size(0), -1)`` as the PyTorch tracer exports it: Shape -> Gather
        (the batch) -> Unsqueeze -> Concat with -1 -> Reshape."""
        shape = self.shapes[x]
        s = self.node("Shape", [x], (len(shape),))
        g = self.node("Gather", [s, self.init_int("index", 0)], (), axis=0)
        if self.opset < 13:
            u = self.node("Unsqueeze", [g], (1,), axes=[0])
        else:
            u = self.node("Unsqueeze", [g, self.init_int("axes", [0])], (1,))
        c = self.node("Concat", [u, self.init_int("minus_one", [-1])], (2,), axis=0)
        return self.node("Reshape", [x, c], (shape[0], int(np.prod(shape[1:]))), "flat")

    def channel_shuffle(self, x: str, groups: int) -> str:
        """ShuffleNet's channel shuffle as exported: Reshape [N, g, C/g, H, W] ->
        Transpose (swap the group axes) -> Reshape [N, C, H, W]."""
        n, c, h, w = self.shapes[x]
        five = (n, groups, c // groups, h, w)
        y = self.node("Reshape", [x, self.init_int("shape", list(five))], five)
        y = self.node("Transpose", [y], (n, c // groups, groups, h, w), perm=[0, 2, 1, 3, 4])
        return self.node("Reshape", [y, self.init_int("shape", [n, c, h, w])], (n, c, h, w),
                         "shuffle")

    def softmax(self, x: str) -> str:
        return self.node("Softmax", [x], self.shapes[x], axis=1)

    def relu(self, x: str) -> str:
        return self.node("Relu", [x], self.shapes[x])

    def relu6(self, x: str) -> str:
        return self.node("Clip", [x, self.const(0.0), self.const(6.0)], self.shapes[x],
                         "relu6")

    def conv_bn(self, x: str, cout: int, k: int, stride: int = 1, group: int = 1,
                act: str | None = "relu", gamma_scale: float = 1.0) -> str:
        y = self.bn(self.conv(x, cout, k, stride, group), gamma_scale)
        if act == "relu":
            return self.relu(y)
        if act == "relu6":
            return self.relu6(y)
        if act == "hswish":
            return self.hardswish(y)
        assert act is None, act
        return y

    def max_pool(self, x: str, k: int, stride: int, pad: int) -> str:
        n, c, h, w = self.shapes[x]
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self.node("MaxPool", [x], (n, c, ho, wo), "maxpool", kernel_shape=[k, k],
                         strides=[stride, stride], pads=[pad] * 4)

    def add(self, a: str, b: str) -> str:
        assert self.shapes[a] == self.shapes[b], (self.shapes[a], self.shapes[b])
        return self.node("Add", [a, b], self.shapes[a], "residual")

    def global_avg_pool_flatten(self, x: str) -> str:
        n, c = self.shapes[x][:2]
        x = self.node("GlobalAveragePool", [x], (n, c, 1, 1), "gap")
        return self.node("Flatten", [x], (n, c), "flat", axis=1)

    def gemm(self, x: str, out: int) -> str:
        n, k = self.shapes[x]
        w = self.rng.standard_normal((out, k)) * np.sqrt(2.0 / k)
        b = self.rng.standard_normal(out) * 0.1
        self.macs += n * k * out
        return self.node("Gemm", [x, self.init("fc_w", w), self.init("fc_b", b)], (n, out),
                         "fc", transB=1)

    # ---- the model
    def model(self, output: str, doc: str = "", dynamic_hw: bool = False
              ) -> onnx.ModelProto:
        """The ONNX model. At opset 17, IR version 8. Below opset 11 (an old exporter),
        IR version 4 with the initializers also listed as graph inputs, as PyTorch's
        exporter wrote them then. ``dynamic_hw``: the input's height and width are the
        symbolic dims ``height`` and ``width`` (an export with dynamic axes); the
        concrete shape the builder used is kept in the ``input_shape`` property."""
        in_dims: list = list(self.shapes["input"])
        if dynamic_hw:
            in_dims[2:] = ["height", "width"]
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_dims)]
        if self.opset < 11:
            inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                       for t in self.inits]
        graph = helper.make_graph(
            self.nodes, self.name, inputs,
            [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                           list(self.shapes[output]))],
            self.inits, doc_string=doc)
        assert graph.node[-1].output[0] == output
        graph.node[-1].output[0] = "output"
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="qcc-zoo", producer_version=str(ZOO_VERSION))
        model.ir_version = 8 if self.opset >= 11 else 4
        props = {"macs": str(self.macs), "params": str(self.params)}
        if dynamic_hw:
            props["input_shape"] = "x".join(map(str, self.shapes["input"]))
        helper.set_model_props(model, props)
        return model


def _channels(c: float, width: float, divisor: int = 8) -> int:
    """Scale a channel count by the width multiplier, to a multiple of ``divisor``
    (at least ``divisor``, never more than 10% below the exact value), as in the
    MobileNet reference code."""
    v = c * width
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


# ---- ResNet (He et al. 2016; torchvision's v1.5: the stride on the 3x3 conv)

def _basic_block(b: ZooBuilder, x: str, planes: int, stride: int) -> str:
    cin = b.shapes[x][1]
    y = b.conv_bn(x, planes, 3, stride)
    # the branch's last batch norm starts small (a common ResNet init), so the
    # residual sum does not double the activation variance in every block
    y = b.conv_bn(y, planes, 3, act=None, gamma_scale=0.5)
    if stride != 1 or cin != planes:
        x = b.conv_bn(x, planes, 1, stride, act=None)
    return b.relu(b.add(x, y))


def _bottleneck(b: ZooBuilder, x: str, planes: int, stride: int) -> str:
    cin = b.shapes[x][1]
    cout = planes * 4
    y = b.conv_bn(x, planes, 1)
    y = b.conv_bn(y, planes, 3, stride)
    y = b.conv_bn(y, cout, 1, act=None, gamma_scale=0.5)
    if stride != 1 or cin != cout:
        x = b.conv_bn(x, cout, 1, stride, act=None)
    return b.relu(b.add(x, y))


def _resnet(name: str, block: Callable, layers: list[int], seed: int, batch: int,
            resolution: int, width: float, classes: int, softmax: bool = False
            ) -> onnx.ModelProto:
    b = ZooBuilder(name, seed, [batch, 3, resolution, resolution])
    x = b.conv_bn("input", _channels(64, width), 7, 2)
    x = b.max_pool(x, 3, 2, 1)
    for stage, blocks in enumerate(layers):
        planes = _channels(64 * 2 ** stage, width)
        for i in range(blocks):
            x = block(b, x, planes, 2 if i == 0 and stage > 0 else 1)
    x = b.gemm(b.global_avg_pool_flatten(x), classes)
    if softmax:
        x = b.softmax(x)
    return b.model(x, f"{name}: {layers} {block.__name__.strip('_')} blocks, width {width}, "
                      f"{resolution}x{resolution}, seed {seed}")


def resnet18(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
             classes: int = 1000) -> onnx.ModelProto:
    """ResNet-18: 7x7/2 stem, 3x3/2 max pool, basic blocks [2, 2, 2, 2] with 1x1
    projection shortcuts, global average pool, a ``classes``-way Gemm (logits)."""
    return _resnet("resnet18", _basic_block, [2, 2, 2, 2], seed, batch, resolution, width,
                   classes)


def resnet50(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
             classes: int = 1000) -> onnx.ModelProto:
    """ResNet-50: as ResNet-18 with bottleneck blocks [3, 4, 6, 3] (expansion 4)."""
    return _resnet("resnet50", _bottleneck, [3, 4, 6, 3], seed, batch, resolution, width,
                   classes)


def resnet50_softmax(seed: int = 0, batch: int = 1, resolution: int = 224,
                     width: float = 1.0, classes: int = 1000) -> onnx.ModelProto:
    """ResNet-50 as a classifier is exported: the same graph and weights as
    :func:`resnet50`, then a Softmax over the classes."""
    return _resnet("resnet50_softmax", _bottleneck, [3, 4, 6, 3], seed, batch, resolution,
                   width, classes, softmax=True)


# ---- MobileNet-v2 (Sandler et al. 2018)

#: (expansion t, output channels c, repeats n, first stride s)
MOBILENET_V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
                 classes: int = 1000) -> onnx.ModelProto:
    """MobileNet-v2: a 3x3/2 stem conv, inverted residual blocks (1x1 expansion with
    ReLU6, 3x3 depthwise with ReLU6, linear 1x1 projection, a residual add when the
    stride is 1 and the channels match), a 1x1 conv to 1280 channels (scaled only for
    width > 1, as in the reference), global average pool, a ``classes``-way Gemm.
    ReLU6 is Clip(0, 6)."""
    b = ZooBuilder("mobilenet_v2", seed, [batch, 3, resolution, resolution])
    x = b.conv_bn("input", _channels(32, width), 3, 2, act="relu6")
    for t, c, n, s in MOBILENET_V2_STAGES:
        cout = _channels(c, width)
        for i in range(n):
            stride = s if i == 0 else 1
            cin = b.shapes[x][1]
            y = x
            if t != 1:
                y = b.conv_bn(y, cin * t, 1, act="relu6")
            hidden = b.shapes[y][1]
            y = b.conv_bn(y, hidden, 3, stride, group=hidden, act="relu6")
            if stride == 1 and cin == cout:
                y = b.conv_bn(y, cout, 1, act=None, gamma_scale=0.5)
                x = b.add(x, y)
            else:
                x = b.conv_bn(y, cout, 1, act=None)
    x = b.conv_bn(x, _channels(1280, max(1.0, width)), 1, act="relu6")
    x = b.gemm(b.global_avg_pool_flatten(x), classes)
    return b.model(x, f"mobilenet_v2: width {width}, {resolution}x{resolution}, seed {seed}")


# ---- a large MLP (a throughput benchmark: a static batch)

def mlp_large(seed: int = 0, batch: int = 200, width: int = 2048, layers: int = 4,
              classes: int = 1000) -> onnx.ModelProto:
    """``layers`` Gemm + ReLU layers of ``width`` units on a [batch, width] input, then
    a ``classes``-way Gemm (logits). The batch dimension is static."""
    b = ZooBuilder("mlp_large", seed, [batch, width])
    x = "input"
    for _ in range(layers):
        x = b.relu(b.gemm(x, width))
    x = b.gemm(x, classes)
    return b.model(x, f"mlp_large: {layers} x {width} Gemm+ReLU, {classes} out, "
                      f"batch {batch}, seed {seed}")


# ---- the classic architectures, as exporters write them: Softmax at the end

def alexnet(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
            classes: int = 1000, opset: int = 17) -> onnx.ModelProto:
    """AlexNet (Krizhevsky et al. 2012) in the layout of the Caffe reference model
    (BVLC AlexNet): 11x11/4 conv (padded by 2, so 224 gives the 55x55 map), ReLU, LRN,
    3x3/2 max pool; 5x5 conv in 2 groups, ReLU, LRN, max pool; three 3x3 convs (the
    last two in 2 groups); max pool; the 256x6x6 map flattened into FC 4096 -> ReLU ->
    Dropout (twice), FC ``classes``, Softmax. Convs and FCs have biases. ``opset`` 9
    writes it as PyTorch exported to opset 9 (see :func:`alexnet_opset9`)."""
    name = "alexnet" if opset >= 11 else f"alexnet_opset{opset}"
    b = ZooBuilder(name, seed, [batch, 3, resolution, resolution], opset=opset)
    x = b.relu(b.conv("input", _channels(96, width), 11, 4, bias=True, pad=2))
    x = b.max_pool(b.lrn(x), 3, 2, 0)
    x = b.relu(b.conv(x, _channels(256, width), 5, group=2, bias=True))
    x = b.max_pool(b.lrn(x), 3, 2, 0)
    x = b.relu(b.conv(x, _channels(384, width), 3, bias=True))
    x = b.relu(b.conv(x, _channels(384, width), 3, group=2, bias=True))
    x = b.relu(b.conv(x, _channels(256, width), 3, group=2, bias=True))
    x = b.max_pool(x, 3, 2, 0)
    x = b.flatten(x) if opset >= 11 else b.flatten_by_shape(x)
    for _ in range(2):
        x = b.dropout(b.relu(b.gemm(x, _channels(4096, width))))
    x = b.softmax(b.gemm(x, classes))
    return b.model(x, f"{name}: width {width}, {resolution}x{resolution}, seed {seed}")


def alexnet_opset9(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
                   classes: int = 1000) -> onnx.ModelProto:
    """:func:`alexnet` as an old PyTorch exported it to opset 9 (IR version 4): the
    initializers also listed as graph inputs, Dropout with its ratio attribute, and
    the flatten as ``x.view(x.size(0), -1)`` traced: Shape -> Gather -> Unsqueeze ->
    Concat -> Reshape. Same weights as :func:`alexnet` for the same seed."""
    return alexnet(seed, batch, resolution, width, classes, opset=9)


#: VGG-16's convolutions (channels) and max pools ("M")
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"]


def vgg16(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
          classes: int = 1000) -> onnx.ModelProto:
    """VGG-16 (Simonyan and Zisserman 2015; torchvision's, without batch norm): 13
    3x3 convs with biases and ReLU in five blocks, each ending in a 2x2/2 max pool;
    the 512x7x7 map flattened into FC 4096 -> ReLU -> Dropout (twice), FC
    ``classes``, Softmax. (torchvision's adaptive 7x7 average pool is the identity at
    224 and is left out.)"""
    b = ZooBuilder("vgg16", seed, [batch, 3, resolution, resolution])
    x = "input"
    for v in VGG16:
        x = b.max_pool(x, 2, 2, 0) if v == "M" else b.relu(
            b.conv(x, _channels(v, width), 3, bias=True))
    x = b.flatten(x)
    for _ in range(2):
        x = b.dropout(b.relu(b.gemm(x, _channels(4096, width))))
    x = b.softmax(b.gemm(x, classes))
    return b.model(x, f"vgg16: width {width}, {resolution}x{resolution}, seed {seed}")


#: GoogLeNet's inception modules: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj),
#: "M" a 3x3/2 max pool
INCEPTION_V1 = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "M",
                (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64),
                (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
                (256, 160, 320, 32, 128, 128), "M",
                (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]


def inception_v1(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
                 classes: int = 1000) -> onnx.ModelProto:
    """Inception-v1 (GoogLeNet, Szegedy et al. 2015) as the BVLC reference model: 7x7/2
    conv, 3x3/2 max pool, LRN, 1x1 and 3x3 convs, LRN, max pool; nine inception
    modules (1x1, 1x1 -> 3x3, 1x1 -> 5x5 and 3x3 max pool -> 1x1 branches, each conv
    with bias and ReLU, concatenated over channels: offsets such as 64 + 128 + 32 or
    128 + 192 straddle 256-channel blocks) with two max pools between; average pool
    over the whole map, Dropout, FC ``classes``, Softmax. No auxiliary classifiers
    (inference). The max pools pad by 1 (Caffe's ceil mode gives the same shapes)."""
    b = ZooBuilder("inception_v1", seed, [batch, 3, resolution, resolution])

    def cr(x: str, c: int, k: int, stride: int = 1) -> str:
        return b.relu(b.conv(x, _channels(c, width), k, stride, bias=True))

    x = b.lrn(b.max_pool(cr("input", 64, 7, 2), 3, 2, 1))
    x = b.max_pool(b.lrn(cr(cr(x, 64, 1), 192, 3)), 3, 2, 1)
    for m in INCEPTION_V1:
        if m == "M":
            x = b.max_pool(x, 3, 2, 1)
            continue
        c1, c3r, c3, c5r, c5, cp = m
        x = b.concat([cr(x, c1, 1), cr(cr(x, c3r, 1), c3, 3), cr(cr(x, c5r, 1), c5, 5),
                      cr(b.max_pool(x, 3, 1, 1), cp, 1)])
    x = b.avg_pool(x, b.shapes[x][2], 1, 0)
    x = b.softmax(b.gemm(b.flatten(b.dropout(x)), classes))
    return b.model(x, f"inception_v1: width {width}, {resolution}x{resolution}, seed {seed}")


def densenet121(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
                classes: int = 1000) -> onnx.ModelProto:
    """DenseNet-121 (Huang et al. 2017; torchvision's): 7x7/2 conv, BN, ReLU, 3x3/2
    max pool; dense blocks of [6, 12, 24, 16] layers (BN, ReLU, 1x1 conv to 4 x
    growth, BN, ReLU, 3x3 conv to growth 32; the block's input and each layer's
    output concatenated), transitions (BN, ReLU, 1x1 conv halving the channels, 2x2/2
    average pool) between; BN, ReLU, global average pool, FC ``classes``, Softmax.
    Every batch norm is exported as Mul and Add by per-channel constants (the
    pre-activation ones follow a concat and have no conv to fold into)."""
    b = ZooBuilder("densenet121", seed, [batch, 3, resolution, resolution])
    growth = _channels(32, width)

    def bn_relu_conv(x: str, c: int, k: int, stride: int = 1) -> str:
        return b.conv(b.relu(b.bn_mul_add(x)), c, k, stride)

    x = b.relu(b.bn_mul_add(b.conv("input", _channels(64, width), 7, 2)))
    x = b.max_pool(x, 3, 2, 1)
    for i, layers in enumerate([6, 12, 24, 16]):
        for _ in range(layers):
            y = bn_relu_conv(bn_relu_conv(x, 4 * growth, 1), growth, 3)
            x = b.concat([x, y])
        if i < 3:
            x = b.avg_pool(bn_relu_conv(x, b.shapes[x][1] // 2, 1), 2, 2, 0)
    x = b.global_avg_pool_flatten(b.relu(b.bn_mul_add(x)))
    x = b.softmax(b.gemm(x, classes))
    return b.model(x, f"densenet121: width {width}, {resolution}x{resolution}, seed {seed}")


def _shuffle_unit(b: ZooBuilder, x: str, cout: int, groups: int, stride: int,
                  grouped_first: bool) -> str:
    cin = b.shapes[x][1]
    mid = cout // 4
    y = b.conv_bn(x, mid, 1, group=groups if grouped_first else 1)
    y = b.channel_shuffle(y, groups)
    y = b.conv_bn(y, mid, 3, stride, group=mid, act=None)
    if stride == 1:
        y = b.conv_bn(y, cout, 1, group=groups, act=None, gamma_scale=0.5)
        return b.relu(b.add(x, y))
    y = b.conv_bn(y, cout - cin, 1, group=groups, act=None)
    return b.relu(b.concat([b.avg_pool(x, 3, 2, 1), y]))


def shufflenet(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
               classes: int = 1000, groups: int = 3) -> onnx.ModelProto:
    """ShuffleNet v1 (Zhang et al. 2018), 1x with g = 3 groups: 3x3/2 conv to 24, 3x3/2
    max pool; stages of [4, 8, 4] units to 240, 480, 960 channels. A unit: grouped 1x1
    conv to a quarter of its output (not grouped in the very first unit), BN, ReLU,
    channel shuffle (Reshape -> Transpose -> Reshape), 3x3 depthwise conv (stride 2 in
    a stage's first unit), BN, grouped 1x1 conv, BN; then the identity added (stride
    1) or a 3x3/2 average pool of the input concatenated (padding not counted:
    ONNX's default count_include_pad=0), ReLU. Global average pool, FC ``classes``,
    Softmax."""
    stage2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}[groups]
    b = ZooBuilder("shufflenet", seed, [batch, 3, resolution, resolution])
    x = b.conv_bn("input", max(groups, round(24 * width / groups) * groups), 3, 2)
    x = b.max_pool(x, 3, 2, 1)
    unit = 4 * groups  # a unit's quarter must split into the groups
    for stage, repeats in enumerate([4, 8, 4]):
        cout = max(unit, round(stage2 * 2 ** stage * width / unit) * unit)
        for i in range(repeats):
            x = _shuffle_unit(b, x, cout, groups, 2 if i == 0 else 1,
                              grouped_first=stage > 0 or i > 0)
    x = b.softmax(b.gemm(b.global_avg_pool_flatten(x), classes))
    return b.model(x, f"shufflenet: g={groups}, width {width}, {resolution}x{resolution}, "
                      f"seed {seed}")


def squeezenet(seed: int = 0, batch: int = 1, resolution: int = 224, width: float = 1.0,
               classes: int = 1000) -> onnx.ModelProto:
    """SqueezeNet 1.1 (Iandola et al. 2016; torchvision's): 3x3/2 conv to 64, ReLU, 3x3/2
    max pool; fire modules (1x1 squeeze conv, ReLU; 1x1 and 3x3 expand convs, ReLU,
    concatenated) (16, 64) x 2, max pool, (32, 128) x 2, max pool, (48, 192) x 2,
    (64, 256) x 2; Dropout, 1x1 conv to ``classes``, ReLU, global average pool,
    Flatten, Softmax. Convs have biases, no batch norm. (The max pools use floor
    mode: at 224 the shapes equal torchvision's ceil mode.)"""
    b = ZooBuilder("squeezenet", seed, [batch, 3, resolution, resolution])

    def cr(x: str, c: int, k: int) -> str:
        return b.relu(b.conv(x, c, k, bias=True))

    def fire(x: str, squeeze: int, expand: int) -> str:
        s = cr(x, _channels(squeeze, width), 1)
        e = _channels(expand, width)
        return b.concat([cr(s, e, 1), cr(s, e, 3)])

    x = b.relu(b.conv("input", _channels(64, width), 3, 2, bias=True, pad=0))
    x = b.max_pool(x, 3, 2, 0)
    x = fire(fire(x, 16, 64), 16, 64)
    x = b.max_pool(x, 3, 2, 0)
    x = fire(fire(x, 32, 128), 32, 128)
    x = b.max_pool(x, 3, 2, 0)
    x = fire(fire(fire(fire(x, 48, 192), 48, 192), 64, 256), 64, 256)
    x = cr(b.dropout(x), classes, 1)
    x = b.softmax(b.global_avg_pool_flatten(x))
    return b.model(x, f"squeezenet: 1.1, width {width}, {resolution}x{resolution}, "
                      f"seed {seed}")


#: (kernel, expanded channels, output channels, squeeze-excite, activation, stride)
MOBILENET_V3_SMALL = [(3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2),
                      (3, 88, 24, False, "relu", 1), (5, 96, 40, True, "hswish", 2),
                      (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1),
                      (5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1),
                      (5, 288, 96, True, "hswish", 2), (5, 576, 96, True, "hswish", 1),
                      (5, 576, 96, True, "hswish", 1)]


def mobilenet_v3_small(seed: int = 0, batch: int = 1, resolution: int = 224,
                       width: float = 1.0, classes: int = 1000, dynamic_hw: bool = True
                       ) -> onnx.ModelProto:
    """MobileNet-v3-small (Howard et al. 2019; torchvision's): 3x3/2 conv to 16, BN,
    HardSwish; 11 inverted residual blocks (1x1 expansion unless the block keeps its
    input width, kxk depthwise, BN and ReLU or HardSwish; squeeze-excite: global
    average pool, 1x1 conv with bias, ReLU, 1x1 conv with bias, HardSigmoid, Mul with
    the block's activations; linear 1x1 projection; a residual add when the stride is
    1 and the channels match); 1x1 conv to 576, BN, HardSwish; global average pool,
    FC 1024, HardSwish, Dropout, FC ``classes``, Softmax. Exported with dynamic
    height and width (``dynamic_hw``): ``input`` is [batch, 3, height, width]."""
    b = ZooBuilder("mobilenet_v3_small", seed, [batch, 3, resolution, resolution])
    x = b.conv_bn("input", _channels(16, width), 3, 2, act="hswish")
    for k, e, o, se, act, stride in MOBILENET_V3_SMALL:
        cin = b.shapes[x][1]
        hidden, cout = _channels(e, width), _channels(o, width)
        y = x if hidden == cin else b.conv_bn(x, hidden, 1, act=act)
        y = b.conv_bn(y, hidden, k, stride, group=hidden, act=act)
        if se:
            s = b.relu(b.conv(b.global_avg_pool(y), _channels(hidden // 4, 1.0), 1,
                              bias=True))
            y = b.mul(y, b.hardsigmoid(b.conv(s, hidden, 1, bias=True)))
        if stride == 1 and cin == cout:
            x = b.add(x, b.conv_bn(y, cout, 1, act=None, gamma_scale=0.5))
        else:
            x = b.conv_bn(y, cout, 1, act=None)
    x = b.conv_bn(x, _channels(576, width), 1, act="hswish")
    x = b.hardswish(b.gemm(b.global_avg_pool_flatten(x), _channels(1024, width)))
    x = b.softmax(b.gemm(b.dropout(x), classes))
    return b.model(x, f"mobilenet_v3_small: width {width}, {resolution}x{resolution}, "
                      f"seed {seed}", dynamic_hw=dynamic_hw)


BUILDERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "resnet18": resnet18, "resnet50": resnet50, "mobilenet_v2": mobilenet_v2,
    "mlp_large": mlp_large,
    # the classic architectures (issue 15), exported with Softmax at the end
    "alexnet": alexnet, "vgg16": vgg16, "inception_v1": inception_v1,
    "densenet121": densenet121, "shufflenet": shufflenet, "squeezenet": squeezenet,
    "mobilenet_v3_small": mobilenet_v3_small, "resnet50_softmax": resnet50_softmax,
    "alexnet_opset9": alexnet_opset9}

#: the models for performance work (what the CLI builds by default)
ORIGINAL = ["resnet18", "resnet50", "mobilenet_v2", "mlp_large"]
#: the classic architectures: what benchmarks/zoo_report.py reports on
CLASSICS = ["alexnet", "vgg16", "inception_v1", "densenet121", "shufflenet", "squeezenet",
            "mobilenet_v3_small", "resnet50_softmax", "alexnet_opset9"]


def macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of the model's Conv and Gemm nodes for its whole batch."""
    return int({p.key: p.value for p in model.metadata_props}["macs"])


def params(model: onnx.ModelProto) -> int:
    """Learnable parameters, counted as PyTorch counts them."""
    return int({p.key: p.value for p in model.metadata_props}["params"])


def input_shape(model: onnx.ModelProto) -> list[int]:
    """The input's shape; for a model exported with dynamic height and width, the
    concrete shape it was built for (the ``input_shape`` property)."""
    props = {p.key: p.value for p in model.metadata_props}
    if "input_shape" in props:
        return [int(d) for d in props["input_shape"].split("x")]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value for d in dims]


def dynamic_dims(model: onnx.ModelProto) -> list[str]:
    """The input's symbolic dimensions (``height``, ``width``), if any."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param for d in dims if d.dim_param]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _stamp(name: str, seed: int) -> str:
    return json.dumps({"zoo_version": ZOO_VERSION, "model": name, "seed": seed,
                       "onnx": onnx.__version__})


def build(name: str, out: str | os.PathLike = CACHE, seed: int = 0) -> Path:
    """Build the full-size model ``name`` and write ``out/name.onnx`` (and a stamp
    that ``load`` checks)."""
    if name not in BUILDERS:
        raise KeyError(f"unknown zoo model {name!r}; the zoo has {', '.join(BUILDERS)}")
    path = Path(out) / f"{name}.onnx"
    _write_atomic(path, BUILDERS[name](seed=seed).SerializeToString())
    _write_atomic(path.with_suffix(".stamp"), _stamp(name, seed).encode())
    return path


def load(name: str, cache: str | os.PathLike = CACHE, seed: int = 0) -> Path:
    """The path of the full-size model ``name`` in the cache, built first if missing
    or stale."""
    path = Path(cache) / f"{name}.onnx"
    stamp = path.with_suffix(".stamp")
    if (not path.is_file() or not stamp.is_file()
            or stamp.read_text() != _stamp(name, seed)):
        build(name, cache, seed)
    return path


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(CACHE), help="output folder (default %(default)s)")
    parser.add_argument("--models", default=",".join(ORIGINAL),
                        help="comma-separated models, 'classics' for the classic "
                             "architectures, 'all' for every model (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true",
                        help="also run onnx.checker (full check) on each model")
    args = parser.parse_args(argv)
    groups = {"classics": CLASSICS, "all": list(BUILDERS)}
    names = [m for n in args.models.split(",") if n for m in groups.get(n, [n])]
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; the zoo has "
                     f"{', '.join(BUILDERS)}")
    print(f"{'model':<18} {'input':<18} {'params':>10} {'MACs/batch':>11} "
          f"{'MACs/inference':>15} {'file':>10}  path")
    for name in names:
        path = build(name, args.out, args.seed)
        model = onnx.load(path)
        if args.check:
            onnx.checker.check_model(model, full_check=True)
        shape = input_shape(model)
        total = macs(model)
        print(f"{name:<18} {'x'.join(map(str, shape)):<18} {_si(params(model)):>10} "
              f"{_si(total):>11} {_si(total / shape[0]):>15} "
              f"{path.stat().st_size / 2**20:>7.1f} MiB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
