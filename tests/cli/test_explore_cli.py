"""`qcc explore`: the sweep's table, JSON, Markdown and recommendation."""

from __future__ import annotations

import json
from pathlib import Path

from qcc.cli import main
from qcc.exploration import explore, recommend

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
EVAL = str(ROOT / "examples" / "data" / "digits_eval.npz")


def test_explore_cli(capsys, tmp_path):
    code = main(["explore", MLP, "--calib-data", CALIB, "--eval-data", EVAL, "--targets",
                 "tpu-v1,tpu-v1-hbm", "--batch", "1,8", "--jobs", "2", "--out", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads((tmp_path / "explore.json").read_text())
    assert len(data["rows"]) == 2 * 4 * 2 * 2  # granularities x methods x targets x batches
    assert data["fp32"]["accuracy"] == 0.9925
    assert {r["target"] for r in data["rows"]} == {"tpu-v1", "tpu-v1-hbm"}
    for r in data["rows"]:
        assert 0.97 <= r["accuracy"] <= 1.0 and r["latency_us"] > 0 and r["rescale_cycles"] > 0
    rec = data["recommendation"]
    assert rec["latency_us"] == min(r["latency_us"] for r in data["rows"]
                                    if 100 * (0.9925 - r["accuracy"]) <= 0.5 + 1e-9)
    assert "recommendation:" in out and "| per-channel | mse |" in out
    roof = data["roofline"]["targets"]["tpu-v1"]
    assert roof["peak_tops"] > 90 and roof["layers"]
    for p in roof["layers"]:  # no layer above its roof
        assert p["tops"] <= min(roof["peak_tops"],
                                2 * roof["weight_bandwidth"] * p["macs_per_byte"] / 1e12) * 1.01
    assert (tmp_path / "explore.md").read_text().startswith("FP32 accuracy: 99.25%")


def test_explore_without_labels_uses_agreement(tmp_path):
    import numpy as np

    data = tmp_path / "x.npz"
    with np.load(EVAL) as z:
        np.savez(data, input=z["input"][:50])
    result = explore(MLP, CALIB, str(data), methods=("minmax",), granularities=("per-tensor",),
                     jobs=1, progress=False)
    assert result["fp32"]["accuracy"] is None
    (row,) = result["rows"]
    assert row["accuracy"] is None and 0.9 <= row["agreement"] <= 1.0
    assert recommend(result, 0.0) is None or recommend(result, 100.0) is not None


def test_explore_errors(capsys):
    assert main(["explore", MLP, "--batch", "0"]) == 2
    assert "batch sizes must be positive" in capsys.readouterr().err
    assert main(["explore", MLP, "--calib-data", CALIB, "--targets", "tpu-v9"]) == 2
    assert "tpu-v9" in capsys.readouterr().err
