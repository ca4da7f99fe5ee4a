"""A model zoo for performance work: ResNet-18, ResNet-50, MobileNet-v2 and a large MLP.

    python examples/zoo.py [--out examples/.cache/zoo] [--models resnet18,resnet50,...]

Architecture-shaped models built with ``onnx.helper`` from a seed (He-initialized
weights, inference batch norm with seeded statistics), at realistic sizes. They are
for measuring the compiler and the TPU cost model, not for accuracy: the weights are
random. The files are large (up to ~100 MB) and not committed: the CLI writes them to
``examples/.cache/zoo`` (ignored by git) and prints their sizes and MAC counts;
``load(name)`` returns the cached path, building the file first if it is missing or
was built by an older version of this script. The bytes are the same for the same
seed on every machine.

Every model takes one float32 input named ``input`` ([N, 3, R, R] for the CNNs,
[N, width] for the MLP) and returns ``output``: logits, no softmax, so the whole
network maps to the TPU-v1 backend. Small variants for tests::

    zoo.resnet18(resolution=32, width=0.25)     # an onnx.ModelProto
    zoo.mlp_large(width=64, batch=4)
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

    def __init__(self, name: str, seed: int, input_shape: list[int]):
        self.name = name
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
    def conv(self, x: str, cout: int, k: int, stride: int = 1, group: int = 1) -> str:
        """A bias-free k x k convolution with 'same'-style padding k // 2 (a batch norm
        follows it)."""
        n, cin, h, w = self.shapes[x]
        pad = k // 2
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        fan_in = cin // group * k * k
        wt = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        self.macs += n * cout * ho * wo * fan_in
        return self.node("Conv", [x, self.init("w", wt)], (n, cout, ho, wo), "conv",
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
    def model(self, output: str, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                           list(self.shapes["input"]))],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                           list(self.shapes[output]))],
            self.inits, doc_string=doc)
        assert graph.node[-1].output[0] == output
        graph.node[-1].output[0] = "output"
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name="qcc-zoo", producer_version=str(ZOO_VERSION))
        model.ir_version = 8
        helper.set_model_props(model, {"macs": str(self.macs), "params": str(self.params)})
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
            resolution: int, width: float, classes: int) -> onnx.ModelProto:
    b = ZooBuilder(name, seed, [batch, 3, resolution, resolution])
    x = b.conv_bn("input", _channels(64, width), 7, 2)
    x = b.max_pool(x, 3, 2, 1)
    for stage, blocks in enumerate(layers):
        planes = _channels(64 * 2 ** stage, width)
        for i in range(blocks):
            x = block(b, x, planes, 2 if i == 0 and stage > 0 else 1)
    x = b.gemm(b.global_avg_pool_flatten(x), classes)
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


BUILDERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "resnet18": resnet18, "resnet50": resnet50, "mobilenet_v2": mobilenet_v2,
    "mlp_large": mlp_large}


def macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of the model's Conv and Gemm nodes for its whole batch."""
    return int({p.key: p.value for p in model.metadata_props}["macs"])


def params(model: onnx.ModelProto) -> int:
    """Learnable parameters, counted as PyTorch counts them."""
    return int({p.key: p.value for p in model.metadata_props}["params"])


def input_shape(model: onnx.ModelProto) -> list[int]:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value for d in dims]


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
    parser.add_argument("--models", default=",".join(BUILDERS),
                        help="comma-separated models (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true",
                        help="also run onnx.checker (full check) on each model")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; the zoo has "
                     f"{', '.join(BUILDERS)}")
    print(f"{'model':<14} {'input':<18} {'params':>10} {'MACs/batch':>11} "
          f"{'MACs/inference':>15} {'file':>10}  path")
    for name in names:
        path = build(name, args.out, args.seed)
        model = onnx.load(path)
        if args.check:
            onnx.checker.check_model(model, full_check=True)
        shape = input_shape(model)
        total = macs(model)
        print(f"{name:<14} {'x'.join(map(str, shape)):<18} {_si(params(model)):>10} "
              f"{_si(total):>11} {_si(total / shape[0]):>15} "
              f"{path.stat().st_size / 2**20:>7.1f} MiB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
