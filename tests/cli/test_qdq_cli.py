"""``qcc export-qdq``: fake-quantized IR text in, ONNX QDQ model out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from qcc.cli import main
from qcc.frontend import import_onnx
from qcc.interpreter import run
from qcc.passmanager import Pipeline

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
EVAL = ROOT / "examples" / "data" / "digits_eval.npz"


def qcc(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_quantize_fake_quant_then_export_qdq(capsys, tmp_path):
    ir, model = tmp_path / "q.mlir", tmp_path / "q.onnx"
    code, _, err = qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "--fake-quant",
                       "-o", str(ir))
    assert code == 0, err
    code, out, err = qcc(capsys, "export-qdq", str(ir), "-o", str(model))
    assert code == 0 and out == "" and err == ""
    proto = onnx.load(model)
    onnx.checker.check_model(proto)
    assert any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
    # onnxruntime agrees with qcc's integer program built from the same IR
    x = np.load(EVAL)["input"][:1]
    theirs = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    module = import_onnx(model)
    Pipeline.parse("canonicalize,normalize-gemm,fold-rescale,fuse-relu").run(module)
    ours = run(module, {"input": x})[module.main.output_names[0]]
    np.testing.assert_array_equal(ours, theirs)


def test_opt_pipeline_output_exports_too(capsys, tmp_path):
    ir, model = tmp_path / "q.mlir", tmp_path / "q.onnx"
    code, _, err = qcc(capsys, "opt", MLP, "-p", "canonicalize,normalize-gemm,calibrate{data="
                       f"{CALIB}}},quantize{{granularity=per-tensor}}", "-o", str(ir))
    assert code == 0, err
    assert qcc(capsys, "export-qdq", str(ir), "-o", str(model))[0] == 0
    assert model.exists()


def test_integer_program_is_refused_without_writing(capsys, tmp_path):
    ir, model = tmp_path / "int.mlir", tmp_path / "q.onnx"
    assert qcc(capsys, "quantize", MLP, "--calib-data", CALIB, "-o", str(ir))[0] == 0
    code, out, err = qcc(capsys, "export-qdq", str(ir), "-o", str(model))
    assert code == 2 and out == ""
    assert "export-qdq needs the fake-quantized graph (before fold-rescale)" in err
    assert "Traceback" not in err and not model.exists()


def test_usage_errors(capsys, tmp_path):
    code, _, err = qcc(capsys, "export-qdq", MLP, "-o", str(tmp_path / "q.onnx"))
    assert code == 2 and "reads IR text of a fake-quantized graph" in err
    code, _, err = qcc(capsys, "export-qdq", str(tmp_path / "missing.mlir"), "-o",
                       str(tmp_path / "q.onnx"))
    assert code == 2 and "no such file" in err
    with pytest.raises(SystemExit) as info:  # argparse: -o is required
        main(["export-qdq", str(tmp_path / "missing.mlir")])
    assert info.value.code == 2 and "-o/--output" in capsys.readouterr().err
