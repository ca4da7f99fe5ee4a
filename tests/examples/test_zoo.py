"""The model zoo (examples/zoo.py) on small variants of each model.

The classic architectures (issue 15) end in Softmax and use ops and layouts that do
not all import or compile yet: here each small variant passes the ONNX checker (full
check) and runs in onnxruntime; how far each gets through qcc is what
benchmarks/zoo_report.py reports (docs/zoo.md).

Full-size models are not built here (they are ~100 MB and take a while to compile);
their figures are measured by hand (examples/README.md, "Model zoo"). Small variants
keep the architecture (the same layers, strides, blocks and op types) at 32x32 and a
quarter of the width: each passes the ONNX checker, qcc's FP32 interpreter matches
onnxruntime, and the TPU program compiled from it gives, on the simulator, exactly the
integer interpreter's outputs.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

import qcc

ZOO_PATH = Path(__file__).resolve().parents[2] / "examples" / "zoo.py"


def _import_zoo():
    spec = importlib.util.spec_from_file_location("qcc_examples_zoo", ZOO_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


zoo = _import_zoo()

SMALL = {
    "resnet18": dict(resolution=32, width=0.25),
    "resnet50": dict(resolution=32, width=0.25),
    "mobilenet_v2": dict(resolution=32, width=0.25),
    "mlp_large": dict(width=64, batch=4),
    # the classic architectures; AlexNet's three 3x3/2 max pools need 64 pixels
    "alexnet": dict(resolution=64, width=0.25),
    "vgg16": dict(resolution=32, width=0.125),
    "inception_v1": dict(resolution=32, width=0.25),
    "densenet121": dict(resolution=32, width=0.25),
    "shufflenet": dict(resolution=32, width=0.25),
    "squeezenet": dict(resolution=32, width=0.25),
    "mobilenet_v3_small": dict(resolution=32, width=0.25),
    "resnet50_softmax": dict(resolution=32, width=0.25),
    "alexnet_opset9": dict(resolution=64, width=0.25),
}
ORIGINAL = ["resnet18", "resnet50", "mobilenet_v2", "mlp_large"]


@functools.cache
def _small(name: str, seed: int = 0) -> bytes:
    return zoo.BUILDERS[name](seed=seed, **SMALL[name]).SerializeToString()


def _model(name: str) -> onnx.ModelProto:
    return onnx.load_from_string(_small(name))


def test_the_zoo_has_the_models():
    assert list(zoo.BUILDERS) == ORIGINAL + zoo.CLASSICS
    assert list(SMALL) == list(zoo.BUILDERS)


@pytest.mark.parametrize("name", list(SMALL))
def test_small_variant_is_valid_and_deterministic(name):
    model = _model(name)
    onnx.checker.check_model(model, full_check=True)
    inputs = [i.name for i in model.graph.input]
    if name == "alexnet_opset9":  # an old export: the weights are graph inputs too
        assert inputs == ["input"] + [t.name for t in model.graph.initializer]
    else:
        assert inputs == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert _small(name) == zoo.BUILDERS[name](seed=0, **SMALL[name]).SerializeToString()
    assert zoo.BUILDERS[name](seed=1, **SMALL[name]).SerializeToString() != _small(name)
    ops = {n.op_type for n in model.graph.node}
    if name in ORIGINAL:
        assert "Softmax" not in ops  # logits: the whole network maps to the TPU
    else:
        assert model.graph.node[-1].op_type == "Softmax"  # as exporters write classifiers


def _ort(data: bytes, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the opset-9 export's initializers-as-inputs warning
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("name", [n for n in SMALL if n not in ORIGINAL])
def test_classic_small_variant_runs_in_onnxruntime(name):
    model = _model(name)
    x = np.random.default_rng(3).standard_normal(zoo.input_shape(model)).astype(np.float32)
    y = _ort(_small(name), x)
    assert y.shape == (1, 1000) and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # a softmax
    assert y.max() > 2 * y.min()  # the classes differ: the activations did not vanish


def _ops(name: str) -> Counter:
    return Counter(n.op_type for n in _model(name).graph.node)


def _attr(node: onnx.NodeProto, key: str, default=None):
    for a in node.attribute:
        if a.name == key:
            return helper.get_attribute_value(a)
    return default


def test_alexnet_layout():
    model = _model("alexnet")
    ops = _ops("alexnet")
    assert ops == Counter(Conv=5, Relu=7, LRN=2, MaxPool=3, Flatten=1, Gemm=3, Dropout=2,
                          Softmax=1)
    groups = [_attr(n, "group") for n in model.graph.node if n.op_type == "Conv"]
    assert groups == [1, 2, 1, 2, 2]
    assert [n.op_type for n in model.graph.node][-9:] == [
        "Flatten", "Gemm", "Relu", "Dropout", "Gemm", "Relu", "Dropout", "Gemm", "Softmax"]
    assert model.opset_import[0].version == 17 and model.ir_version == 8


def test_alexnet_opset9_is_alexnet_as_an_old_exporter_wrote_it():
    old, new = _model("alexnet_opset9"), _model("alexnet")
    assert old.opset_import[0].version == 9 and old.ir_version == 4
    ops = _ops("alexnet_opset9")
    assert "Flatten" not in ops
    flatten = [n.op_type for n in old.graph.node if n.op_type in
               ("Shape", "Gather", "Unsqueeze", "Concat", "Reshape")]
    assert flatten == ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"]
    assert all(_attr(n, "ratio") == pytest.approx(0.5) for n in old.graph.node
               if n.op_type == "Dropout")
    # the same weights; the same outputs in onnxruntime
    weights = {t.name: numpy_helper.to_array(t) for t in new.graph.initializer}
    old_weights = [numpy_helper.to_array(t) for t in old.graph.initializer
                   if t.data_type == onnx.TensorProto.FLOAT]
    assert len(old_weights) == len(weights)
    for a, b in zip(old_weights, weights.values(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(4).standard_normal(zoo.input_shape(new)).astype(np.float32)
    np.testing.assert_allclose(_ort(_small("alexnet_opset9"), x), _ort(_small("alexnet"), x),
                               rtol=1e-5, atol=1e-7)


def test_vgg16_layout():
    ops = _ops("vgg16")
    assert ops == Counter(Conv=13, Relu=15, MaxPool=5, Flatten=1, Gemm=3, Dropout=2,
                          Softmax=1)


def test_inception_v1_concats_straddle_channel_blocks():
    model = _model("inception_v1")
    ops = _ops("inception_v1")
    # stem 3 convs + 9 modules x 6 convs; 4 max pools outside the modules + 9 inside
    assert (ops["Conv"], ops["Concat"], ops["LRN"], ops["MaxPool"]) == (57, 9, 2, 13)
    assert ops["AveragePool"] == 1 and ops["Dropout"] == 1 and ops["Gemm"] == 1
    kernels = Counter(_attr(n, "kernel_shape")[0] for n in model.graph.node
                      if n.op_type == "Conv")
    assert kernels == Counter({1: 37, 3: 10, 5: 9, 7: 1})
    # at full width the first module's outputs sit at channel offsets 0, 64, 192, 224
    # (its 3x3 branch crosses channel 128 and 256 offsets occur later); here the widths
    # are scaled, the structure the same
    full = [m[0] + m[2] + m[4] + m[5] for m in zoo.INCEPTION_V1 if m != "M"]
    assert full == [256, 480, 512, 512, 512, 528, 832, 832, 1024]


def test_densenet121_batch_norm_is_mul_add():
    model = _model("densenet121")
    ops = _ops("densenet121")
    # 1 stem conv + 58 dense layers x 2 + 3 transitions + the classifier
    assert ops["Conv"] == 120 and ops["Gemm"] == 1
    assert "BatchNormalization" not in ops
    # a batch norm before every conv but the stem's, after the stem and at the end
    assert ops["Mul"] == ops["Add"] == 121
    assert ops["Concat"] == 58 and ops["AveragePool"] == 3
    inits = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type in ("Mul", "Add"):
            assert list(inits[n.input[1]].dims)[1:] == [1, 1]  # per channel: [C, 1, 1]


def test_shufflenet_shuffle_pooling_and_groups():
    model = _model("shufflenet")
    ops = _ops("shufflenet")
    units = 4 + 8 + 4
    assert ops["Transpose"] == units and ops["Reshape"] == 2 * units
    assert ops["AveragePool"] == 3 and ops["Concat"] == 3 and ops["Add"] == units - 3
    for n in model.graph.node:
        if n.op_type == "AveragePool":  # padded, the padding not counted (the default)
            assert _attr(n, "pads") == [1, 1, 1, 1]
            assert _attr(n, "count_include_pad", 0) == 0
        if n.op_type == "Transpose":
            assert _attr(n, "perm") == [0, 2, 1, 3, 4]
    grouped_1x1 = [n for n in model.graph.node if n.op_type == "Conv"
                   and _attr(n, "kernel_shape") == [1, 1] and _attr(n, "group") == 3]
    assert len(grouped_1x1) == 2 * units - 1  # the very first 1x1 is not grouped


def test_squeezenet_fire_modules():
    ops = _ops("squeezenet")
    assert (ops["Conv"], ops["Concat"], ops["MaxPool"]) == (2 + 8 * 3, 8, 3)
    assert ops["GlobalAveragePool"] == 1 and ops["Flatten"] == 1 and ops["Gemm"] == 0


def test_mobilenet_v3_small_activations_and_dynamic_size():
    model = _model("mobilenet_v3_small")
    ops = _ops("mobilenet_v3_small")
    assert ops["HardSigmoid"] == 9 and ops["Mul"] == 9  # squeeze-excite in 9 blocks
    assert ops["GlobalAveragePool"] == 10
    assert ops["HardSwish"] == 1 + 8 * 2 + 1 + 1  # stem, 8 blocks x 2, head conv, FC
    assert all(_attr(n, "alpha") == pytest.approx(1 / 6) for n in model.graph.node
               if n.op_type == "HardSigmoid")
    assert zoo.dynamic_dims(model) == ["height", "width"]
    assert zoo.input_shape(model) == [1, 3, 32, 32]  # the shape it was built for
    # dynamic: onnxruntime runs it at another size
    x = np.random.default_rng(5).standard_normal((1, 3, 48, 40)).astype(np.float32)
    assert _ort(_small("mobilenet_v3_small"), x).shape == (1, 1000)


def test_resnet50_softmax_is_resnet50_with_softmax():
    a, b = _model("resnet50_softmax"), _model("resnet50")
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node] + [
        "Softmax"]
    assert [t.raw_data for t in a.graph.initializer] == [
        t.raw_data for t in b.graph.initializer]


def test_default_shapes():
    # read from the builders' signatures: no full-size model is built
    import inspect

    for name in ("resnet18", "resnet50", "mobilenet_v2"):
        params = inspect.signature(zoo.BUILDERS[name]).parameters
        assert (params["batch"].default, params["resolution"].default,
                params["width"].default, params["classes"].default) == (1, 224, 1.0, 1000)
    params = inspect.signature(zoo.mlp_large).parameters
    assert (params["batch"].default, params["width"].default,
            params["classes"].default) == (200, 2048, 1000)


@pytest.mark.parametrize("name, convs, depthwise, adds, gemms, input_shape, output_shape", [
    # stem + 16 block convs + 3 projections
    ("resnet18", 20, 0, 8, 1, [1, 3, 32, 32], [1, 1000]),
    # stem + 48 block convs + 4 projections
    ("resnet50", 53, 0, 16, 1, [1, 3, 32, 32], [1, 1000]),
    # stem + 2 + 16 x 3 block convs + the 1x1 to 1280; 17 depthwise; 10 residuals at
    # full width, 11 at width 0.25 (the first block's 32 -> 16 channels become 8 -> 8)
    ("mobilenet_v2", 52, 17, 11, 1, [1, 3, 32, 32], [1, 1000]),
    ("mlp_large", 0, 0, 0, 5, [4, 64], [4, 1000]),
])
def test_architecture(name, convs, depthwise, adds, gemms, input_shape, output_shape):
    model = _model(name)
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["Conv"] == convs
    assert sum(any(a.name == "group" and a.i > 1 for a in n.attribute)
               for n in model.graph.node if n.op_type == "Conv") == depthwise
    assert ops["Add"] == adds
    assert ops["Gemm"] == gemms
    assert zoo.input_shape(model) == input_shape
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == output_shape
    if name != "mlp_large":
        assert ops["BatchNormalization"] == convs
        assert ops["GlobalAveragePool"] == 1
    if name == "mobilenet_v2":
        assert ops["Clip"] == 35 and ops["Relu"] == 0
    if name.startswith("resnet"):
        assert ops["MaxPool"] == 1


def test_alexnet_macs_by_hand():
    # 64x64 at width 0.25: channels 24, 64, 96, 96, 64 and FC 1024
    conv1 = 15 * 15 * 24 * (3 * 11 * 11)  # (64 + 4 - 11) // 4 + 1 = 15
    conv2 = 7 * 7 * 64 * (24 // 2 * 5 * 5)  # pooled to 7; 2 groups
    conv3 = 3 * 3 * 96 * (64 * 3 * 3)  # pooled to 3
    conv4 = 3 * 3 * 96 * (96 // 2 * 3 * 3)
    conv5 = 3 * 3 * 64 * (96 // 2 * 3 * 3)
    fc = 64 * 1024 + 1024 * 1024 + 1024 * 1000  # pooled to 1x1x64
    assert zoo.macs(_model("alexnet")) == conv1 + conv2 + conv3 + conv4 + conv5 + fc
    assert zoo.macs(_model("alexnet_opset9")) == zoo.macs(_model("alexnet"))


def test_mac_and_parameter_counts():
    # the builder counts MACs and PyTorch-style parameters as it goes; check them on
    # the small MLP by hand: 4 layers 64 -> 64, then 64 -> 1000, batch 4
    model = _model("mlp_large")
    assert zoo.macs(model) == 4 * (4 * 64 * 64 + 64 * 1000)
    assert zoo.params(model) == 4 * (64 * 64 + 64) + 64 * 1000 + 1000
    # a small ResNet-18: the stem alone is 16 x 3 x 7 x 7 x 16 x 16 MACs
    assert zoo.macs(_model("resnet18")) > 16 * 3 * 49 * 16 * 16


@pytest.mark.parametrize("name", ORIGINAL + list(zoo.CLASSICS))
def test_interpreter_matches_onnxruntime_and_tpu_is_bitexact(name, tmp_path):
    """Every zoo model, the classics with their Softmax, LRN, batch norm as Mul/Add,
    channel shuffle and opset-9 export included: FP32 as onnxruntime computes it, and
    it compiles (what the matrix unit cannot run goes to the host) to a binary that
    runs bit-exactly with the integer IR."""
    model = _model(name)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(_small(name))
    shape = zoo.input_shape(model)
    fixed = {"input_shapes": {"input": shape}} if zoo.dynamic_dims(model) else {}
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)

    expected = ort.InferenceSession(_small(name), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    got = qcc.run(qcc.load(path, **fixed), {"input": x})["output"]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())

    calib = [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
    compiled = qcc.compile(path, calib_data=calib, batch=shape[0], **fixed)
    simulated = compiled.run({"input": x})
    integer = qcc.run(compiled.module, {"input": x})
    assert simulated.keys() == integer.keys() == {"output"}
    np.testing.assert_array_equal(simulated["output"], integer["output"])


def test_load_builds_once_and_rebuilds_when_stale(tmp_path, monkeypatch):
    # stand in a small builder so the test does not write a 70 MB file
    monkeypatch.setitem(zoo.BUILDERS, "mlp_large",
                        functools.partial(zoo.mlp_large, width=16, batch=2, classes=4))
    path = zoo.load("mlp_large", cache=tmp_path)
    assert path == tmp_path / "mlp_large.onnx"
    data = path.read_bytes()
    assert onnx.load_from_string(data).graph.name == "mlp_large"
    mtime = path.stat().st_mtime_ns
    assert zoo.load("mlp_large", cache=tmp_path) == path
    assert path.stat().st_mtime_ns == mtime  # cached: not rewritten
    path.with_suffix(".stamp").write_text("old")
    path.write_bytes(b"stale")
    assert zoo.load("mlp_large", cache=tmp_path).read_bytes() == data
    with pytest.raises(KeyError, match="unknown zoo model"):
        zoo.load("vgg19", cache=tmp_path)


def test_cli_writes_models_and_prints_sizes_and_macs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(zoo.BUILDERS, "mlp_large",
                        functools.partial(zoo.mlp_large, width=16, batch=2, classes=4))
    assert zoo.main(["--out", str(tmp_path), "--models", "mlp_large", "--check"]) == 0
    out = capsys.readouterr().out
    assert "MACs" in out and "mlp_large" in out and "2x16" in out
    assert (tmp_path / "mlp_large.onnx").is_file()
    with pytest.raises(SystemExit):
        zoo.main(["--out", str(tmp_path), "--models", "vgg19"])


def test_cli_groups_of_models(tmp_path, monkeypatch, capsys):
    built = []

    def build(name, out, seed):  # records the name; writes a small model, not the model
        built.append(name)
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(_small("mlp_large"))
        return path

    monkeypatch.setattr(zoo, "build", build)
    assert zoo.main(["--out", str(tmp_path), "--models", "classics,mlp_large"]) == 0
    assert built == [*zoo.CLASSICS, "mlp_large"]
    built.clear()
    assert zoo.main(["--out", str(tmp_path)]) == 0
    assert built == ORIGINAL == zoo.ORIGINAL
