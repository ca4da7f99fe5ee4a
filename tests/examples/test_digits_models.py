"""The committed digits models and data (written by examples/train_digits.py).

Needs neither torch nor scikit-learn: it reads the committed .onnx/.npz/.json files,
checks the data's shapes, dtypes and split sizes, and that onnxruntime and qcc's
interpreter both reproduce the recorded FP32 eval accuracy exactly (the same count of
correct predictions).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import qcc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS = ["digits_mlp", "digits_cnn", "digits_dwsep"]
SPLIT = {"calib": 200, "eval": 400}


def _data(part: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(EXAMPLES / "data" / f"digits_{part}.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["input", "label"]
        return z["input"], z["label"]


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((EXAMPLES / "data" / "digits_fp32_accuracy.json").read_text())


@pytest.fixture(scope="module")
def eval_split() -> tuple[np.ndarray, np.ndarray]:
    return _data("eval")


CONVFC_SPLIT = {"calib": 200, "eval": 500}


@pytest.mark.parametrize("name,n", [*SPLIT.items(),
                                    *((f"convfc_{p}", n) for p, n in CONVFC_SPLIT.items())])
def test_split_shapes_and_classes(name: str, n: int):
    x, y = _data(name)
    assert x.shape == (n, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    # load_digits pixels are 0..16, divided by 16
    np.testing.assert_array_equal(x * 16, np.round(x * 16))
    assert set(y.tolist()) == set(range(10))


def test_calib_and_eval_share_no_image():
    calib = {img.tobytes() for img in _data("calib")[0]}
    assert not any(img.tobytes() in calib for img in _data("eval")[0])


def test_record(record: dict):
    assert record["split"] == {"train": 1197, "calib": 200, "eval": 400}
    assert sum(record["split"].values()) == 1797
    assert isinstance(record["seed"], int)
    assert record["torch_version"].startswith("2.13.0")
    assert sorted(record["eval_accuracy"]) == sorted(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_model_file(name: str):
    path = EXAMPLES / "models" / f"{name}.onnx"
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert path.stat().st_size < 100_000
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 8, 8]
    if name != "digits_mlp":  # BatchNormalization left for qcc's fold-batchnorm
        assert "BatchNormalization" in {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("name", MODELS)
def test_onnxruntime_accuracy(name: str, record: dict, eval_split):
    ort = pytest.importorskip("onnxruntime")
    x, y = eval_split
    session = ort.InferenceSession(str(EXAMPLES / "models" / f"{name}.onnx"),
                                   providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input": x})[0]
    assert logits.shape == (len(y), 10)
    correct = int((logits.argmax(axis=1) == y).sum())
    assert correct == record["eval_correct"][name]
    assert correct / len(y) == record["eval_accuracy"][name]
    assert correct / len(y) >= 0.95


@pytest.mark.parametrize("name", MODELS)
def test_qcc_interpreter_accuracy(name: str, record: dict, eval_split):
    x, y = eval_split
    module = qcc.load(EXAMPLES / "models" / f"{name}.onnx", batch=len(y))
    logits = qcc.run(module, {"input": x})["logits"]
    assert logits.shape == (len(y), 10) and logits.dtype == np.float32
    correct = int((logits.argmax(axis=1) == y).sum())
    assert correct == record["eval_correct"][name]
    assert correct / len(y) == record["eval_accuracy"][name]
    assert correct / len(y) >= 0.95


# --- digits_convfc: conv -> maxpool -> flatten -> FC, on its own 500-image split ----

CONVFC = "digits_convfc"


def _convfc_data(part: str) -> tuple[np.ndarray, np.ndarray]:
    return _data(f"convfc_{part}")


@pytest.fixture(scope="module")
def convfc_eval() -> tuple[np.ndarray, np.ndarray]:
    return _convfc_data("eval")


def test_convfc_calib_and_eval_share_no_image_and_eval_extends_digits_eval():
    calib = {img.tobytes() for img in _convfc_data("calib")[0]}
    x_eval, y_eval = _convfc_data("eval")
    assert not any(img.tobytes() in calib for img in x_eval)
    # the same permutation cut later: the last 400 are digits_eval.npz's 400
    x400, y400 = _data("eval")
    np.testing.assert_array_equal(x_eval[100:], x400)
    np.testing.assert_array_equal(y_eval[100:], y400)


def test_convfc_record(record: dict):
    entry = record[CONVFC]
    assert entry["split"] == {"train": 1097, "calib": 200, "eval": 500}
    assert sum(entry["split"].values()) == 1797
    assert entry["data"] == {"calib": "digits_convfc_calib.npz",
                             "eval": "digits_convfc_eval.npz"}
    assert entry["eval_accuracy"] == entry["eval_correct"] / 500
    assert entry["torch_version"].startswith("2.13.0") and entry["opset"] == 17


def test_convfc_model_file():
    """Flatten feeds the first Gemm directly: no global pooling, no batch norm."""
    path = EXAMPLES / "models" / f"{CONVFC}.onnx"
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert path.stat().st_size < 100_000
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 8, 8]
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm",
                   "Relu", "Gemm"]
    nodes = list(model.graph.node)
    assert nodes[7].input[0] == nodes[6].output[0] and nodes[6].input[0] == nodes[5].output[0]


def test_convfc_onnxruntime_and_qcc_accuracy(record: dict, convfc_eval):
    """All 500 evaluation images: onnxruntime and qcc's FP32 interpreter get the
    recorded number right, and their logits agree."""
    ort = pytest.importorskip("onnxruntime")
    x, y = convfc_eval
    path = EXAMPLES / "models" / f"{CONVFC}.onnx"
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["logits"], {"input": x})[0]
    got = qcc.run(qcc.load(path, batch=len(y)), {"input": x})["logits"]
    assert got.shape == want.shape == (500, 10)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    entry = record[CONVFC]
    for logits in (want, got):
        correct = int((logits.argmax(axis=1) == y).sum())
        assert correct == entry["eval_correct"]
    assert entry["eval_accuracy"] >= 0.95


def test_convfc_compiles_and_qcc_run_of_the_binary_is_bit_exact(convfc_eval, tmp_path,
                                                                 capsys):
    """What `qcc compile examples/models/digits_convfc.onnx --calib-data
    examples/data/digits_convfc_calib.npz --batch 16 -o m.tpu` makes; `qcc run` of the
    binary gives the integer IR's outputs bit for bit, on 16 evaluation images."""
    from qcc.cli import main

    x, _ = convfc_eval
    compiled = qcc.compile(EXAMPLES / "models" / f"{CONVFC}.onnx", batch=16,
                           calib_data=str(EXAMPLES / "data" / "digits_convfc_calib.npz"))
    binary, images, out = tmp_path / "m.tpu", tmp_path / "x.npy", tmp_path / "y.npy"
    compiled.save(binary)
    np.save(images, x[:16])
    assert main(["run", str(binary), "--input", str(images), "--output", str(out)]) == 0
    capsys.readouterr()
    simulated = np.load(out)
    assert simulated.shape == (16, 10)
    np.testing.assert_array_equal(simulated,
                                  qcc.run(compiled.module, {"input": x[:16]})["logits"])
