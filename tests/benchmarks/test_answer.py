"""benchmarks/answer.py: the one-command answer runs end to end on a small sweep and
says in words only what the sweep measured."""

from __future__ import annotations

import json
from pathlib import Path

from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def _load():
    return load_script(ROOT / "benchmarks" / "answer.py", "qcc_bench_answer")


def test_answer_on_the_digits_mlp(tmp_path, monkeypatch):
    answer = _load()
    monkeypatch.chdir(tmp_path)
    assert answer.main(["--models", "digits_mlp", "--zoo", "none", "--methods",
                        "minmax,mse", "--batches", "1,8", "--out", "out", "--jobs", "1"]) == 0
    text = (tmp_path / "out" / "answer.md").read_text()
    data = json.loads((tmp_path / "out" / "explore" / "digits_mlp" / "explore.json")
                      .read_text())
    c = data["recommendation"]["choice"]
    assert f"| digits_mlp | 400 | {c['granularity']}, {c['method']}, {c['target']}, " \
           f"batch {c['batch']} | {c['inferences_per_s_per_w']:.0f} |" in text
    assert "**Per-channel vs per-tensor weights**" in text and "## Caveats" in text
    assert "FP32 99.25% on 400 samples" in text
    assert data["model"] == "examples/models/digits_mlp.onnx"  # relative, not the machine's
