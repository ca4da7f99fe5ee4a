"""`qcc compile --report`: JSON or Markdown written atomically beside the program;
no file at all when something fails."""

from __future__ import annotations

import json
from pathlib import Path

from qcc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")


def qcc_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_json_and_markdown(capsys, tmp_path):
    for suffix in ("json", "md"):
        out, rep = tmp_path / "cnn.tpu", tmp_path / f"report.{suffix}"
        code, _, err = qcc_cli(capsys, "compile", str(MODELS / "digits_cnn.onnx"),
                               "--calib-data", CALIB, "--batch", "8", "-o", str(out),
                               "--report", str(rep))
        assert code == 0, err
        assert "on tpu-v1:" in err and f"report written to {rep}" in err
        assert out.is_file() and rep.is_file()
        text = rep.read_text()
        if suffix == "json":
            data = json.loads(text)
            assert data["format"] == "qcc-compile-report/1" and data["batch"] == 8
            assert "/fc/Gemm" in [x["name"] for x in data["layers"]]
            assert sum(x["cycles"] for x in data["layers"]) > 0
        else:
            assert text.startswith("# Compile report: tpu-v1, batch 8")
            assert "| layer | units | MACs |" in text and "`/fc/Gemm`" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_error_leaves_no_files(capsys, tmp_path):
    out, rep = tmp_path / "cnn.tpu", tmp_path / "report.md"
    code, _, err = qcc_cli(capsys, "compile", str(MODELS / "digits_mlp.onnx"), "--calib-data",
                           CALIB, "-o", str(out), "--report", str(rep), "--eval-data",
                           str(tmp_path / "missing.npz"))
    assert code == 2 and "missing.npz" in err and "Traceback" not in err
    assert not out.exists() and not rep.exists()
    assert not list(tmp_path.iterdir())
