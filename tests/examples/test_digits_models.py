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


@pytest.mark.parametrize("part", list(SPLIT))
def test_split_shapes_and_classes(part: str):
    x, y = _data(part)
    n = SPLIT[part]
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
