"""Issue 15, "more on the matrix unit": layer shapes of real CNNs the backend maps
to the TPU. Each model is built here as ONNX, checked in FP32 against onnxruntime
(the models are new), quantized, compiled, and simulated: the program's output codes
must equal the integer-IR interpreter's (tests/backends/tpu_v1/test_simulator.py's
``assert_bit_exact``). The patterns' decisions are pinned by the golden CHECK files
tests/golden/passes/tpu-lower-flatten-dense.mlir and friends."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.simulator import execute
from qcc.interpreter import run
from qcc.passmanager import Pipeline

ort = pytest.importorskip("onnxruntime")


def assert_bit_exact(module: qcc.Module, x: np.ndarray, engine: str) -> None:
    """The simulated program's output codes equal the integer-IR interpreter's."""
    program = lower(module)
    values: dict = {}
    run(module, {module.main.input_names[0]: x}, observer=values.__setitem__)
    g = module.main
    q_in = values[g.args[0].uses[0].op.output]
    got = execute(program, {program.inputs[0].name: q_in}, engine=engine)
    for name, v in zip(g.output_names, g.outputs, strict=True):
        np.testing.assert_array_equal(got[name], values[v.op.input])


class Net:
    """A small ONNX graph under construction (seeded weights)."""

    def __init__(self, shape: list[int], seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.shape = shape
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x: str, name: str, c: int, o: int, k: int = 3, relu: bool = True,
             group: int = 1) -> str:
        w = (self.rng.standard_normal((o, c // group, k, k)) /
             np.sqrt(c // group * k * k)).astype(np.float32)
        b = (0.1 * self.rng.standard_normal(o)).astype(np.float32)
        y = self.node("Conv", [x, self.const(name + "_w", w), self.const(name + "_b", b)],
                      name, kernel_shape=[k, k], pads=[k // 2] * 4, group=group)
        return self.node("Relu", [y], name + "_relu") if relu else y

    def model(self, out: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                            self.shape)],
            [helper.make_empty_tensor_value_info(out)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    def inputs(self, count: int) -> list[dict[str, np.ndarray]]:
        return [{"x": self.rng.standard_normal(self.shape).astype(np.float32)}
                for _ in range(count)]


def check(net: Net, out: str, granularity: str = "per-channel",
          activations: str = "int8") -> qcc.Module:
    """FP32 interpreter == onnxruntime; quantize; binary == integer IR (both engines).
    Returns the quantized module."""
    model = net.model(out)
    x = net.inputs(1)[0]
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, x)[0]
    got = next(iter(run(qcc.import_onnx(model), x).values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    module = qcc.import_onnx(model)
    qcc.quantize_model(module, calib_data=net.inputs(3), granularity=granularity,
                       activations=activations)
    for engine in ("numpy", "onnxruntime"):
        assert_bit_exact(module, net.inputs(1)[0]["x"], engine)
    return module


def tpu_ops(module: qcc.Module) -> list[str]:
    lowered = module.clone()
    Pipeline.parse("tpu-lower").run(lowered)
    return [op.name for op in lowered.main.ops if isinstance(op, tpu.TpuOp)]


# --------------------------------------------------------------------------- flatten

@pytest.mark.parametrize(("c", "hw", "flatten", "granularity", "activations"), [
    (4, 4, "Flatten", "per-channel", "int8"),     # 4 channels: taps packed in a row
    (300, 3, "Reshape", "per-tensor", "uint8"),   # two channel blocks, one tap per pass
])
def test_conv_pool_flatten_dense(c, hw, flatten, granularity, activations):
    """The plain conv -> maxpool -> flatten -> FC network (AlexNet, VGG): the flatten
    and the dense layer become one convolution over the whole map."""
    net = Net([2, 3, 2 * hw, 2 * hw], seed=c)
    x = net.conv("x", "conv", 3, c)
    x = net.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    if flatten == "Flatten":
        x = net.node("Flatten", [x], "flat")
    else:
        x = net.node("Reshape", [x, net.const("shape", np.array([2, -1], np.int64))],
                     "flat")
    fw = (net.rng.standard_normal((c * hw * hw, 7)) / np.sqrt(c * hw * hw))
    x = net.node("Gemm", [x, net.const("fw", fw.astype(np.float32)),
                          net.const("fb", np.ones(7, np.float32))], "fc")
    module = check(net, x, granularity, activations)
    ops = tpu_ops(module)
    assert ops.count("tpu.conv2d") == 2 and "tpu.matmul" not in ops
    assert "tpu.reshape" in ops


def test_flatten_of_a_spatial_map_into_something_else_goes_to_the_host():
    net = Net([1, 3, 4, 4])
    x = net.conv("x", "conv", 3, 4)
    x = net.node("Flatten", [x], "flat")
    x = net.node("Relu", [x], "after")  # not a dense layer
    module = qcc.import_onnx(net.model(x))
    qcc.quantize_model(module, calib_data=net.inputs(2))
    with pytest.raises(qcc.QccError, match="changes the row layout"):
        lower(module, placement={"no_host": True})
    assert len(lower(module).segments) == 1


# --------------------------------------------------------------------------- Mul / Add

def _affine(net: Net, x: str, name: str, c: int, shape: tuple, scalar: bool = False) -> str:
    """x * s + t with constants of ``shape`` (a batch norm exported as Mul + Add)."""
    s = np.float32(1.5) if scalar else (1 + 0.5 * net.rng.random(shape)).astype(np.float32)
    t = np.float32(-0.25) if scalar else (0.3 * net.rng.standard_normal(shape)).astype(
        np.float32)
    x = net.node("Mul", [x, net.const(name + "_s", np.asarray(s))], name + "_mul")
    return net.node("Add", [net.const(name + "_t", np.asarray(t)), x], name + "_add")


def _float_ops(module: qcc.Module) -> set[str]:
    return {op.name for op in module.main.ops}


def test_mul_add_after_a_conv_folds_into_it():
    net = Net([2, 3, 6, 6], seed=3)
    x = net.conv("x", "conv", 3, 8, relu=False)
    x = _affine(net, x, "bn", 8, (8, 1, 1))
    y = net.node("Relu", [x], "relu")
    module = check(net, y)
    assert not _float_ops(module) & {"nn.mul", "nn.add", "quant.add"}
    assert sum(op.name == "quant.conv2d" for op in module.main.ops) == 1


@pytest.mark.parametrize("scalar", [False, True])
def test_mul_add_after_a_concat_becomes_a_depthwise_layer(scalar):
    """DenseNet's BN-ReLU-Conv after a concatenation, the BN exported as Mul + Add (or a
    scalar scale and offset): no conv before it to fold into, so one depthwise 1x1
    layer on the matrix unit."""
    net = Net([1, 3, 5, 5], seed=4)
    a = net.conv("x", "a", 3, 4)
    b = net.conv("x", "b", 3, 6)
    x = net.node("Concat", [a, b], "cat", axis=1)
    x = _affine(net, x, "bn", 10, (1, 10, 1, 1), scalar=scalar)
    x = net.node("Relu", [x], "relu")
    y = net.conv(x, "c", 10, 5, k=1, relu=False)
    module = check(net, y)
    convs = [op for op in module.main.ops if op.name == "quant.conv2d"]
    assert not _float_ops(module) & {"nn.mul", "nn.add"}
    assert [op.group for op in convs] == [1, 1, 10, 1]


def test_mul_add_after_a_dense_folds_into_it():
    net = Net([3, 12], seed=5)
    w = net.const("w", (net.rng.standard_normal((12, 6)) / 4).astype(np.float32))
    x = net.node("MatMul", ["x", w], "fc")
    y = _affine(net, x, "scale", 6, (6,))
    module = check(net, y)
    assert not _float_ops(module) & {"nn.mul", "nn.add"}


def test_scalar_mul_and_per_channel_add_on_a_2d_tensor_become_a_diagonal_dense():
    net = Net([3, 12], seed=7)
    w = net.const("w", (net.rng.standard_normal((12, 6)) / 4).astype(np.float32))
    x = net.node("Relu", [net.node("MatMul", ["x", w], "fc")], "relu")
    y = _affine(net, x, "scale", 6, (6,), scalar=True)
    y = net.node("Add", [y, net.const("shift", np.linspace(-1, 1, 6).astype(np.float32))],
                 "shift_add")
    module = check(net, y)
    assert not _float_ops(module) & {"nn.mul", "nn.add"}
    assert tpu_ops(module).count("tpu.matmul") == 2


def test_a_mul_by_a_spatial_constant_is_left_alone():
    """Only constants along the channels fold: a [H, W] mask stays an nn.mul (which
    runs on the host; with the host forbidden, the TPU lowering names it)."""
    net = Net([1, 2, 3, 3], seed=6)
    x = net.conv("x", "conv", 2, 2)
    y = net.node("Mul", [x, net.const("mask_c", net.rng.random((3, 3)).astype(np.float32))], "mask")
    module = qcc.import_onnx(net.model(y))
    qcc.quantize_model(module, calib_data=net.inputs(2))
    assert "nn.mul" in _float_ops(module)
    with pytest.raises(qcc.QccError, match=r"ONNX node 'mask' .* cannot run on the TPU"):
        lower(module, placement={"no_host": True})


# --------------------------------------------------------------------------- concat

@pytest.mark.parametrize(("widths", "n"), [
    ((200, 100), 1),        # the second input crosses the first block boundary
    ((64, 300, 30), 2),     # a 300-channel input at lane 64: every block straddles
])
def test_concat_at_any_channel_offset(widths, n):
    """SqueezeNet / Inception: inputs placed at any lane offset, across 256-channel
    blocks (the matrix unit moves the straddling inputs' channels)."""
    net = Net([n, 3, 3, 3], seed=sum(widths))
    parts = [net.conv("x", f"b{k}", 3, w, k=1) for k, w in enumerate(widths)]
    x = net.node("Concat", parts, "cat", axis=1)
    y = net.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[1, 1])
    module = check(net, y)
    ops = tpu_ops(module)
    assert "tpu.concat" in ops and ops.count("tpu.conv2d") == len(widths) + 2


def test_concat_of_dense_outputs_at_any_offset():
    """The same for 2-D tensors: the straddling input's columns move through a
    tpu.matmul by a selection matrix."""
    net = Net([3, 10], seed=13)
    parts = []
    for k, n in enumerate((100, 200)):
        w = net.const(f"w{k}", (net.rng.standard_normal((10, n)) / 3).astype(np.float32))
        parts.append(net.node("Relu", [net.node("MatMul", ["x", w], f"fc{k}")], f"r{k}"))
    x = net.node("Concat", parts, "cat", axis=1)
    w = net.const("wo", (net.rng.standard_normal((300, 4)) / 17).astype(np.float32))
    y = net.node("MatMul", [x, w], "out")
    module = check(net, y)
    assert tpu_ops(module).count("tpu.matmul") == 5


# --------------------------------------------------------------------------- shuffle

@pytest.mark.parametrize(("c", "groups"), [(12, 3), (300, 2)])
def test_channel_shuffle(c, groups):
    """ShuffleNet's channel shuffle (Reshape, Transpose(0, 2, 1, 3, 4), Reshape): one
    permuted channel copy on the matrix unit, then a grouped convolution."""
    net = Net([1, 4, 4, 4], seed=c)
    x = net.conv("x", "a", 4, c, k=1)
    x = net.node("Reshape", [x, net.const("s5", np.array([1, groups, c // groups, 4, 4],
                                                          np.int64))], "split")
    x = net.node("Transpose", [x], "swap", perm=[0, 2, 1, 3, 4])
    x = net.node("Reshape", [x, net.const("s4", np.array([1, c, 4, 4], np.int64))],
                 "shuffle")
    y = net.conv(x, "b", c, 2 * groups, k=1, group=groups, relu=False)
    module = check(net, y)
    ops = tpu_ops(module)
    assert ops.count("tpu.conv2d") == 3 and "tpu.reshape" not in ops


def test_cli_compiles_and_runs_the_flatten_network_and_names_what_cannot_map(capsys,
                                                                           tmp_path):
    """`qcc compile` + `qcc run` on the conv -> maxpool -> flatten -> FC network: the
    binary's output equals the integer IR's (`qcc run` on both); a map too wide for
    one window goes to the host, or with --no-host is exit code 2, no traceback."""
    from qcc.cli import main

    net = Net([1, 2, 4, 4], seed=9)
    x = net.conv("x", "conv", 2, 3)
    x = net.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    x = net.node("Flatten", [x], "flat")
    fw = (net.rng.standard_normal((12, 4)) / 3).astype(np.float32)
    y = net.node("Gemm", [x, net.const("fw", fw)], "fc")
    onnx.save(net.model(y), tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=np.concatenate([d["x"] for d in net.inputs(4)]))
    np.save(tmp_path / "x.npy", net.inputs(1)[0]["x"])
    assert main(["compile", str(tmp_path / "m.onnx"), "--calib-data",
                 str(tmp_path / "calib.npz"), "--batch", "1", "-o",
                 str(tmp_path / "m.tpu")]) == 0
    assert main(["compile", str(tmp_path / "m.onnx"), "--calib-data",
                 str(tmp_path / "calib.npz"), "--batch", "1", "--stop-after=fuse-relu",
                 "-o", str(tmp_path / "int.mlir")]) == 0
    outs = []
    for path in ("m.tpu", "int.mlir"):
        out = tmp_path / f"{path}.npz"
        assert main(["run", str(tmp_path / path), "--input", str(tmp_path / "x.npy"),
                     "--output", str(out)]) == 0
        with np.load(out) as f:
            outs.append({k: f[k] for k in f.files})
    assert outs[0].keys() == outs[1].keys()
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])

    wide = Net([1, 1, 256, 2], seed=9)
    x = wide.node("MaxPool", ["x"], "pool", kernel_shape=[1, 1])
    x = wide.node("Flatten", [x], "flat")
    y = wide.node("Gemm", [x, wide.const("fw", np.ones((512, 2), np.float32))], "fc")
    onnx.save(wide.model(y), tmp_path / "wide.onnx")
    np.savez(tmp_path / "wide.npz", x=wide.inputs(1)[0]["x"])
    capsys.readouterr()
    assert main(["compile", str(tmp_path / "wide.onnx"), "--calib-data",
                 str(tmp_path / "wide.npz"), "--no-host", "-o", str(tmp_path / "w.tpu")]) == 2
    err = capsys.readouterr().err
    assert "a 256x2 map" in err and "Traceback" not in err
    assert not (tmp_path / "w.tpu").exists()
    assert main(["compile", str(tmp_path / "wide.onnx"), "--calib-data",  # on the host
                 str(tmp_path / "wide.npz"), "-o", str(tmp_path / "w.tpu")]) == 0


# --------------------------------------------------------------------------- avg pool

@pytest.mark.parametrize(("attrs", "activations"), [
    (dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), "int8"),
    (dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), "uint8"),  # ShuffleNet
    (dict(kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 0, 0], ceil_mode=1), "int8"),
])
def test_average_pooling_without_counted_padding(attrs, activations):
    """count_include_pad = 0: each window divides by its own count of input positions;
    quant.avg_pool_valid requantizes each with the multiplier of its count, and the TPU
    runs one activate per run of pixels with the same count."""
    net = Net([2, 3, 7, 6], seed=11)
    x = net.conv("x", "conv", 3, 300 if activations == "uint8" else 5)
    y = net.node("AveragePool", [x], "avg", count_include_pad=0, **attrs)
    module = check(net, y, activations=activations)
    assert "quant.avg_pool_valid" in _float_ops(module)
    assert "tpu.avg_pool_valid" in tpu_ops(module)


def test_average_pooling_with_too_many_window_counts_names_the_reason():
    """A 7x7 window with padding 3 has 10 different counts: more than the 8 table
    slots; the pool runs on the host (an error naming why with --no-host)."""
    net = Net([1, 2, 9, 9], seed=12)
    y = net.node("AveragePool", [net.conv("x", "conv", 2, 2)], "avg", kernel_shape=[7, 7],
                 pads=[3, 3, 3, 3], count_include_pad=0)
    module = qcc.import_onnx(net.model(y))
    qcc.quantize_model(module, calib_data=net.inputs(2))
    with pytest.raises(qcc.QccError, match=r"ONNX node 'avg' \(AveragePool\).*count 10 "
                                           r"different numbers of positions"):
        lower(module, placement={"no_host": True})
    assert len(lower(module).segments) == 1  # without --no-host: on the host


def test_a_shufflenet_unit_with_batch_norm_as_mul_add():
    """The pieces together, as ShuffleNet's stride-2 unit has them: grouped 1x1 conv,
    batch norm exported as Mul + Add, ReLU, channel shuffle, depthwise 3x3 stride 2,
    grouped 1x1 conv; the shortcut an uncounted-padding 3x3 average pool; the two
    concatenated at channel 200 (straddling the first 256-channel block)."""
    net = Net([1, 200, 6, 6], seed=14)
    x = net.conv("x", "g1", 200, 40, k=1, relu=False, group=4)
    x = net.node("Relu", [_affine(net, x, "bn1", 40, (1, 40, 1, 1))], "relu1")
    x = net.node("Reshape", [x, net.const("s5", np.array([1, 4, 10, 6, 6], np.int64))],
                 "split")
    x = net.node("Transpose", [x], "swap", perm=[0, 2, 1, 3, 4])
    x = net.node("Reshape", [x, net.const("s4", np.array([1, 40, 6, 6], np.int64))],
                 "shuffle")
    w = (net.rng.standard_normal((40, 1, 3, 3)) / 3).astype(np.float32)
    x = net.node("Conv", [x, net.const("dw_w", w)], "dw", kernel_shape=[3, 3],
                 strides=[2, 2], pads=[1, 1, 1, 1], group=40)
    x = _affine(net, x, "bn2", 40, (40, 1, 1))
    x = net.conv(x, "g2", 40, 100, k=1, relu=False, group=4)
    s = net.node("AveragePool", ["x"], "shortcut", kernel_shape=[3, 3], strides=[2, 2],
                 pads=[1, 1, 1, 1], count_include_pad=0)
    y = net.node("Relu", [net.node("Concat", [s, x], "cat", axis=1)], "out")
    module = check(net, y)
    assert not _float_ops(module) & {"nn.mul", "nn.add", "nn.relu", "nn.avg_pool"}
    ops = tpu_ops(module)
    assert {"tpu.avg_pool_valid", "tpu.concat"} <= set(ops)


# --------------------------------------------------------------------------- resize

def _resize(net: Net, x: str, name: str, scales: list[float], **attrs) -> str:
    roi = net.const(name + "_roi", np.zeros(0, np.float32))
    sc = net.const(name + "_scales", np.array(scales, np.float32))
    return net.node("Resize", [x, roi, sc], name, **attrs)


@pytest.mark.parametrize(("scales", "attrs", "channels"), [
    ([1, 1, 2, 2], {}, 5),  # PyTorch's nn.Upsample(scale_factor=2) export
    ([1, 1, 3, 2], dict(coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     300),  # two channel blocks
])
def test_nearest_resize_by_integer_factors_runs_in_the_pool_unit(scales, attrs, channels):
    """conv -> nearest Resize -> conv (an FPN/YOLO neck): tpu.upsample copies pixels
    through set_conv's up_h/up_w; bit-exact with the integer IR."""
    net = Net([1, 3, 5, 4], seed=21)
    x = net.conv("x", "conv", 3, channels)
    y = _resize(net, x, "up", scales, mode="nearest", **attrs)
    z = net.conv(y, "conv2", channels, 4, relu=False)
    module = check(net, z)
    assert "tpu.upsample" in tpu_ops(module)
    program = lower(module)
    assert not program.segments  # nothing on the host
    sets = [i for i in program.instructions if i.op == "set_conv" and i.up_h]
    assert sets and all((i.up_h, i.up_w) == (scales[2], scales[3]) for i in sets)


def test_nearest_resize_with_a_new_scale_adds_a_table(tmp_path):
    """A Resize whose output was calibrated to another range than its input (here: a
    statistics file that clips it) needs new codes: the upsampled codes go through
    an exact 256-entry table. (A nearest Resize inherits its input's type unless it is
    excluded from quantization, as here; then its output keeps its own range.)"""
    import json

    net = Net([1, 3, 6, 6], seed=22)
    y = _resize(net, net.conv("x", "conv", 3, 4), "up", [1, 1, 2, 2], mode="nearest")
    model = net.model(y)
    stats = tmp_path / "stats.json"
    qcc.quantize_model(qcc.import_onnx(model), calib_data=net.inputs(3),
                       save_stats=str(stats))
    saved = json.loads(stats.read_text())
    saved["tensors"]["up"]["max"] = 0.5 * saved["tensors"]["up"]["max"]
    stats.write_text(json.dumps(saved))
    module = qcc.import_onnx(model)
    qcc.quantize_model(module, stats=str(stats), exclude=("Resize",))
    ops = tpu_ops(module)
    assert ops.index("tpu.upsample") + 1 == ops.index("tpu.lookup")
    for engine in ("numpy", "onnxruntime"):
        assert_bit_exact(module, net.inputs(1)[0]["x"], engine)


@pytest.mark.parametrize(("scales", "attrs", "why"), [
    ([1, 1, 2, 2], dict(mode="linear"), "linear interpolation computes new values"),
    ([1, 1, 1.5, 1.5], dict(mode="nearest"), "is not an integer factor"),
    ([1, 1, 2, 2], dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                        nearest_mode="round_prefer_ceil"), "does not copy input pixel"),
])
def test_other_resizes_go_to_the_host_with_the_reason(scales, attrs, why):
    net = Net([1, 2, 4, 4], seed=23)
    y = _resize(net, net.conv("x", "conv", 2, 2), "up", scales, **attrs)
    module = qcc.import_onnx(net.model(y))
    qcc.quantize_model(module, calib_data=net.inputs(2))
    with pytest.raises(qcc.QccError, match=rf"ONNX node 'up' \(Resize\).*{why}"):
        lower(module, placement={"no_host": True})
    assert len(lower(module).segments) == 1


# --------------------------------------------------------------------------- prelu

@pytest.mark.parametrize(("channels", "slope", "activations"), [
    (4, "per-channel", "int8"),   # slopes of both signs and zero
    (300, "per-channel", "uint8"),  # two channel blocks: two tables
    (4, "scalar", "int8"),
])
def test_prelu_runs_in_the_activation_unit(channels, slope, activations):
    """conv -> PRelu -> conv: quant.prelu (TFLite's int8 PRELU) -> tpu.prelu, the
    activate function prelu; bit-exact with the integer IR on both engines."""
    net = Net([1, 3, 5, 5], seed=24)
    x = net.conv("x", "conv", 3, channels, relu=False)
    if slope == "scalar":
        a = np.array([0.1], np.float32)
    else:
        a = net.rng.uniform(-0.5, 0.6, (channels, 1, 1)).astype(np.float32)
        a[0] = 0.0
    y = net.node("PRelu", [x, net.const("slope", a)], "prelu")
    module = check(net, net.conv(y, "conv2", channels, 3, relu=False),
                   activations=activations)
    assert "quant.prelu" in _float_ops(module)
    assert "tpu.prelu" in tpu_ops(module)
    assert not lower(module).segments


def test_prelu_integer_form_is_within_one_code_of_float_prelu():
    """quant.prelu rounds once per branch: against the fake-quantized graph (float
    PRelu between quantize and dequantize) no output differs by more than one code."""
    net = Net([2, 3, 6, 6], seed=25)
    x = net.conv("x", "conv", 3, 6, relu=False)
    a = net.rng.uniform(-0.5, 0.6, (6, 1, 1)).astype(np.float32)
    y = net.node("PRelu", [x, net.const("slope", a)], "prelu")
    model = net.model(y)
    data = net.inputs(3)
    integer, fake = qcc.import_onnx(model), qcc.import_onnx(model)
    qcc.quantize_model(integer, calib_data=data)
    qcc.quantize_model(fake, calib_data=data, integer=False)
    x_in = net.inputs(1)[0]
    got = next(iter(run(integer, x_in).values()))
    want = next(iter(run(fake, x_in).values()))
    scale = next(op for op in integer.main.ops if op.name == "quant.prelu") \
        .output.type.element.scale
    assert np.abs(got - want).max() <= scale * 1.0001
