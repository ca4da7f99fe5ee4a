"""`qcc quantize`: the integer program, the fake-quantized graph, statistics files,
the error report, and bad calibration data (exit 2, a message, no output file)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qcc.cli import main
from qcc.text import parse_module

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
EVAL = str(ROOT / "examples" / "data" / "digits_eval.npz")


def qcc(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_quantize_to_integer_program(capsys, tmp_path):
    out = tmp_path / "q.mlir"
    code, _, err = qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "--calibration", "mse",
                       "--granularity", "per-tensor", "-o", str(out))
    assert code == 0
    assert "qcc: pipeline: canonicalize,normalize-gemm,fold-batchnorm,canonicalize," \
           "calibrate{method=mse data=" in err
    text = out.read_text()
    assert '"quant.dense"' in text and '"nn.dense"' not in text and '"nn.relu"' not in text
    parse_module(text)


def test_fake_quant_and_exclude(capsys):
    code, out, _ = qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "--fake-quant",
                       "--exclude", "/body/body.3/Gemm", "--elide-constants")
    assert code == 0
    assert '"quant.quantize"' in out and "quant.requantize" not in out
    module = parse_module(out)
    denses = [op for op in module.walk() if op.name == "nn.dense"]
    weights = {op.loc.name: op.weight.op.name for op in denses}
    assert weights == {"/body/body.1/Gemm": "quant.dequantize",
                       "/body/body.3/Gemm": "nn.constant",  # excluded: float weights
                       "/body/body.5/Gemm": "quant.dequantize"}


def test_saved_statistics_give_the_same_program(capsys, tmp_path):
    stats, a, b = tmp_path / "s.json", tmp_path / "a.mlir", tmp_path / "b.mlir"
    assert qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "--save-stats", str(stats),
               "-o", str(a))[0] == 0
    assert json.loads(stats.read_text())["format"] == "qcc-calibration"
    assert qcc(capsys, "quantize", MLP, "--stats", str(stats), "-o", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("suffix", [".md", ".json"])
def test_report(capsys, tmp_path, suffix):
    report = tmp_path / f"r{suffix}"
    code, _, err = qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "--eval-data", EVAL,
                       "--report", str(report), "-o", str(tmp_path / "q.mlir"))
    assert code == 0 and "qcc: output logits: SQNR" in err
    text = report.read_text()
    if suffix == ".json":
        data = json.loads(text)
        assert data["first_bad_layer"] is None
        assert data["output_sqnr_db"]["logits"] > 30
        assert {row["tensor"] for row in data["layers"]} >= {"input", "logits"}
    else:
        assert "| tensor | produced by |" in text and "SQNR" in text


def test_random_calibration_warns(capsys, tmp_path):
    code, _, err = qcc(capsys, "quantize", MLP, "-o", str(tmp_path / "q.mlir"))
    assert code == 0 and "warning" in err and "random" in err


@pytest.mark.parametrize(("arrays", "message"), [
    ({"input": np.zeros((4, 1, 8, 9), np.float32)},
     "input 'input' has shape [4, 1, 8, 9], but its samples have shape [1, 8, 8]"),
    ({"image": np.zeros((4, 1, 8, 8), np.float32)},
     "has no array for input 'input' (tensor<1x1x8x8xf32>) (it has 'image')"),
    ({"input": np.full((4, 1, 8, 8), np.nan, np.float32)}, "non-finite"),
])
def test_bad_calibration_data(capsys, tmp_path, arrays, message):
    data = tmp_path / "calib.npz"
    np.savez(data, **arrays)
    out = tmp_path / "q.mlir"
    code, _, err = qcc(capsys, "quantize", MLP, "--calib-data", str(data), "-o", str(out))
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_missing_calibration_data(capsys, tmp_path):
    code, _, err = qcc(capsys, "quantize", MLP, "--calib-data", str(tmp_path / "nope.npz"))
    assert code == 2 and "nope.npz" in err


def test_report_needs_data(capsys, tmp_path):
    code, _, err = qcc(capsys, "quantize", MLP, "--report", str(tmp_path / "r.md"))
    assert code == 2 and "--report needs inputs to measure on" in err


def test_report_names_the_first_layer_below_the_threshold(capsys, tmp_path):
    report = tmp_path / "r.json"
    code, _, err = qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "--report", str(report),
                       "--report-threshold", "45", "-o", str(tmp_path / "q.mlir"))
    assert code == 0
    data = json.loads(report.read_text())
    first = data["first_bad_layer"]
    sqnrs = [row["sqnr_integer_db"] for row in data["layers"]]
    # the named layer is the first whose integer SQNR is below 45 dB
    index = next(i for i, v in enumerate(sqnrs) if v < 45)
    assert first == data["layers"][index]["tensor"]
    assert f"qcc: first layer below 45 dB: {first}" in err
