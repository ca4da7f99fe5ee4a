"""The model zoo (examples/zoo.py) on small variants of each model.

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
}


@functools.cache
def _small(name: str, seed: int = 0) -> bytes:
    return zoo.BUILDERS[name](seed=seed, **SMALL[name]).SerializeToString()


def _model(name: str) -> onnx.ModelProto:
    return onnx.load_from_string(_small(name))


def test_the_zoo_has_the_four_models():
    assert list(zoo.BUILDERS) == ["resnet18", "resnet50", "mobilenet_v2", "mlp_large"]


@pytest.mark.parametrize("name", list(SMALL))
def test_small_variant_is_valid_and_deterministic(name):
    model = _model(name)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert _small(name) == zoo.BUILDERS[name](seed=0, **SMALL[name]).SerializeToString()
    assert zoo.BUILDERS[name](seed=1, **SMALL[name]).SerializeToString() != _small(name)
    ops = {n.op_type for n in model.graph.node}
    assert "Softmax" not in ops  # logits: the whole network maps to the TPU


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


def test_mac_and_parameter_counts():
    # the builder counts MACs and PyTorch-style parameters as it goes; check them on
    # the small MLP by hand: 4 layers 64 -> 64, then 64 -> 1000, batch 4
    model = _model("mlp_large")
    assert zoo.macs(model) == 4 * (4 * 64 * 64 + 64 * 1000)
    assert zoo.params(model) == 4 * (64 * 64 + 64) + 64 * 1000 + 1000
    # a small ResNet-18: the stem alone is 16 x 3 x 7 x 7 x 16 x 16 MACs
    assert zoo.macs(_model("resnet18")) > 16 * 3 * 49 * 16 * 16


@pytest.mark.parametrize("name", list(SMALL))
def test_interpreter_matches_onnxruntime_and_tpu_is_bitexact(name, tmp_path):
    model = _model(name)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(_small(name))
    shape = zoo.input_shape(model)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)

    expected = ort.InferenceSession(_small(name), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    got = qcc.run(qcc.load(path), {"input": x})["output"]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())

    calib = [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
    compiled = qcc.compile(path, calib_data=calib, batch=shape[0])
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
        zoo.load("vgg16", cache=tmp_path)


def test_cli_writes_models_and_prints_sizes_and_macs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(zoo.BUILDERS, "mlp_large",
                        functools.partial(zoo.mlp_large, width=16, batch=2, classes=4))
    assert zoo.main(["--out", str(tmp_path), "--models", "mlp_large", "--check"]) == 0
    out = capsys.readouterr().out
    assert "MACs" in out and "mlp_large" in out and "2x16" in out
    assert (tmp_path / "mlp_large.onnx").is_file()
    with pytest.raises(SystemExit):
        zoo.main(["--out", str(tmp_path), "--models", "vgg16"])
