"""benchmarks/zoo_report.py: the one-command report on the classic zoo models runs end
to end on the small variants, reports each stage's outcome (a failing stage with the
first line of its error) and goes on with the next model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def _load():
    return load_script(ROOT / "benchmarks" / "zoo_report.py", "qcc_bench_zoo_report")


zr = _load()


def _first_failure(res):
    failed = [s for s in zr.STAGES if res["stages"].get(s) == "failed"]
    return failed[0] if failed else None


def test_quick_report_end_to_end(tmp_path, capsys):
    out, js = tmp_path / "zoo.md", tmp_path / "zoo.json"
    assert zr.main(["--quick", "--models", "squeezenet,alexnet_opset9", "--out", str(out),
                    "--json", str(js)]) == 0
    results = json.loads(js.read_text())
    assert [r["label"] for r in results] == ["squeezenet", "alexnet_opset9"]
    text = out.read_text()
    assert text.startswith("# The classic-architecture zoo through qcc (quick")
    assert "`python benchmarks/zoo_report.py --quick --models squeezenet,alexnet_opset9`" \
        in text
    assert "## Where each model stops" in text
    printed = capsys.readouterr().out
    for r in results:
        assert r["stages"]["build"] == "ok" and r["input"][2] in (32, 64)
        stage = _first_failure(r)
        if stage is None:  # every stage ran: the figures are there
            assert r["bitexact"] is True and 0 <= r["top1_agree"] <= 1
            assert f"**{r['label']}**: every stage passes." in text
        else:  # the first failure is one line, in the document and printed
            line = r["errors"][stage]
            assert line and "\n" not in line
            assert f"  - {stage}: `{line}`" in text
            assert f"stops at {stage}: {line}" in printed
        assert f"| {r['label']} |" in text


def test_every_stage_on_a_model_that_compiles(tmp_path, monkeypatch):
    # the zoo's MLP compiles today: the figures of the later stages, checked
    res = zr.evaluate("mlp", "mlp_large", dict(width=16, batch=2, classes=4, layers=1),
                      tmp_path, quick=True)
    assert all(res["stages"][s] == "ok" for s in zr.STAGES), res["errors"]
    assert res["fp32_max_abs_err"] < 1e-4 * res["fp32_max_abs_ref"]
    assert res["bitexact"] is True
    # one calibration image, evaluated on others: some clipping, still well above noise
    assert np.isfinite(res["sqnr_db"]) and res["sqnr_db"] > 5
    assert 0 <= res["top1_agree"] <= 1 and res["eval_images"] == 2
    assert res["latency_s"] > 0
    assert res["mxu_macs"] == res["macs"] == 2 * (16 * 16 + 16 * 4)
    assert res["mxu_share"] == 1.0
    assert res["pcie_bytes"] >= 2 * 16 + 2 * 4  # int8 input in, output out
    text = zr.markdown([res], quick=True, command="cmd")
    row = next(line for line in text.splitlines() if line.startswith("| mlp |"))
    assert "| yes | yes |" in row and "100.0%" in row
    # the timing model's split: no host segment, the rest adds up to the latency
    assert res["host_s"] == 0.0 and res["pcie_s"] >= 0.0
    assert res["tpu_s"] + res["host_s"] + res["pcie_s"] == pytest.approx(res["latency_s"])
    assert "**0 of 0 classic entries compile**" in text  # the MLP is not a classic
    assert "*(logits)*" in text


def test_sqnr():
    ref = np.array([3.0, -4.0])
    assert zr.sqnr_db(ref, ref + np.array([0.3, 0.4])) == pytest.approx(20.0)
    assert zr.sqnr_db(ref, ref) == float("inf")


def _hardmax(seed=0, **_):
    graph = helper.make_graph(
        [helper.make_node("Hardmax", ["input"], ["output"], name="hm")], "hardmax",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"macs": "0", "params": "0"})
    return model


def _broken(**_):
    raise RuntimeError("boom\nsecond line")


def test_failures_are_reported_and_the_report_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(zr.zoo.BUILDERS, "hardmax", _hardmax)
    monkeypatch.setitem(zr.zoo.BUILDERS, "broken", _broken)
    monkeypatch.setattr(zr, "QUICK", [("broken", "broken", {}), ("hardmax", "hardmax", {}),
                                      ("mlp", "mlp_large", dict(width=8, batch=1,
                                                                classes=4, layers=1))])
    out, js = tmp_path / "zoo.md", tmp_path / "zoo.json"
    assert zr.main(["--quick", "--out", str(out), "--json", str(js)]) == 0
    broken, hardmax, mlp = json.loads(js.read_text())
    assert broken["stages"] == {"build": "failed"}
    assert broken["errors"] == {"build": "internal error: RuntimeError: boom"}
    assert "Traceback" in broken["tracebacks"]["build"]
    assert broken["error_text"]["build"] == "boom\nsecond line"
    # qcc's own error (a QccError), first line, at import; the compile says the same
    assert hardmax["stages"]["fp32"] == hardmax["stages"]["compile"] == "failed"
    assert hardmax["errors"]["fp32"].startswith("error: ") and "Hardmax" in \
        hardmax["errors"]["fp32"]
    assert "tracebacks" not in hardmax
    assert "bitexact" not in hardmax["stages"]  # nothing to run: not attempted
    assert all(v == "ok" for v in mlp["stages"].values())  # the next model still ran
    text = out.read_text()
    assert text.count(f"`{hardmax['errors']['fp32']}`") == 1  # shown once
    assert "  - build: `internal error: RuntimeError: boom` (and 1 more line)\n" in text
    assert "| hardmax | 1x10 | 0 | fails | **no** | - |" in text
    # the document again from the saved results, without running a model
    again = tmp_path / "again.md"
    assert zr.main(["--quick", "--from-json", str(js), "--out", str(again)]) == 0
    assert again.read_text() == text


def test_isolated_model_that_times_out_is_reported(tmp_path):
    res = zr.run_isolated("squeezenet", "squeezenet", dict(resolution=32, width=0.25),
                          quick=True, timeout=0.01)
    assert _first_failure(res) is not None
    assert res["errors"][_first_failure(res)] == "timed out after 0.01 s"


def test_unknown_model_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        zr.main(["--quick", "--models", "vgg19"])
    assert e.value.code == 2
    assert "unknown model(s) vgg19" in capsys.readouterr().err
