"""benchmarks/retime.py's pieces: the table of old vs new cycles, the reasons file, the
temporary worktree of the old ref, and one model timed on both sides."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def _load():
    return load_script(ROOT / "benchmarks" / "retime.py", "qcc_bench_retime")


rt = _load()


def _side(cycles: float, **kw) -> dict:
    base = dict.fromkeys(rt.FIELDS, 0.0)
    return {**base, "cycles": cycles, **kw, "target": "tpu-v1", "batch": 8}


def test_rows_give_ratio_deltas_and_reasons():
    cases = [{"model": m, "kind": "golden", "batch": 8} for m in ("a", "b", "c", "d")]
    old = [_side(1000, weight_stall_cycles=500, outputs="ab12"), _side(1000),
           _side(1000, outputs="ab12"), {"model": "d", "error": "QccError: cannot"}]
    new = [_side(800, weight_stall_cycles=300, outputs="ab12"), _side(1010),
           _side(500, non_matrix_cycles=-500.0, outputs="cd34"), _side(10)]
    table = rt.rows(cases, old, new, {"c": "activate pipelined behind the drain"}, 5.0)
    a, b, c, d = table
    assert a["ratio"] == pytest.approx(0.8)
    assert a["deltas"]["weight_stall_cycles"] == -200
    assert "no reason given" in a["reason"] and "w-stall -200" in a["reason"]
    assert b["reason"] == ""  # +1%: below the 5% that needs one
    assert c["reason"] == "activate pipelined behind the drain"
    assert d["ratio"] is None and d["reason"] == "old: QccError: cannot"
    assert [r["outputs"] for r in table] == ["same", "-", "**differ**", "-"]
    page = rt.markdown(table, "python benchmarks/retime.py", "84a08b2", 1.0, 5.0)
    assert "| a | tpu-v1 | 8 | 1,000 | 800 | 0.800 | -200 |" in page
    assert "identical old and new on 1 of 2 models compared (2 not compared" in page
    assert "| d | tpu-v1 | 8 | error | 10 | - |" in page


def test_reasons_file_errors(tmp_path):
    with pytest.raises(SystemExit, match="cannot read"):
        rt.load_reasons(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SystemExit, match="not JSON"):
        rt.load_reasons(str(bad))
    bad.write_text(json.dumps({"a": 1}))
    with pytest.raises(SystemExit, match="model name -> reason text"):
        rt.load_reasons(str(bad))
    bad.write_text(json.dumps({"a": "why"}))
    assert rt.load_reasons(str(bad)) == {"a": "why"}


def test_a_bad_ref_is_an_error():
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    with pytest.raises(SystemExit, match="cannot check out --old 'no-such-ref-x'"), \
            rt.OldTree("no-such-ref-x"):
        pass


def test_cases_cover_the_goldens_and_the_zoo(tmp_path):
    cases = rt.golden_cases()
    names = [c["model"] for c in cases]
    models = sorted(p.stem for p in (ROOT / "examples" / "models").glob("*.onnx"))
    assert names[:len(models)] == models
    assert "digits_cnn@tpu-v1-ub100" in names and "tiny_bert" in names
    zoo = rt.zoo_cases(tmp_path, ["mlp_large"])
    assert zoo[0]["model"] == "zoo mlp_large" and zoo[0]["batch"] == 8
    assert Path(zoo[0]["path"]).exists() and Path(zoo[0]["calib"]).exists()


def test_one_model_on_both_sides(tmp_path):
    """HEAD against the working tree: the old side imports qcc from the temporary
    worktree, and the cycles of an unchanged timing model agree."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    cases = [c for c in rt.golden_cases() if c["model"] == "digits_mlp"]
    with rt.OldTree("HEAD") as tree:
        old = rt.run_side(tree, cases, tmp_path, "old")
        assert old[0]["qcc"].startswith(str(tree)), old
    assert not tree.exists() and not tree.parent.exists()  # removed afterwards
    new = rt.run_side(ROOT, cases, tmp_path, "new")
    assert new[0]["qcc"].startswith(str(ROOT))
    assert "error" not in old[0] and "error" not in new[0], (old, new)
    assert new[0]["cycles"] > 0 and new[0]["target"] == "tpu-v1" and new[0]["batch"] == 8
    # the simulated outputs on the digits data: a 16-hex digest, equal on both sides
    assert len(new[0]["outputs"]) == 16 and old[0]["outputs"] == new[0]["outputs"]
