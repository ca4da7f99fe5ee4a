"""Smoke test of benchmarks/perf.py: its functions run end to end on tiny models and
produce a report. No timing assertions (the figures themselves are in
docs/performance.md, from ``python benchmarks/perf.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import pytest

from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("onnxruntime.quantization")


def _load_perf():
    return load_script(ROOT / "benchmarks" / "perf.py", "qcc_bench_perf")


perf = _load_perf()


def test_perf_functions_on_tiny_models(tmp_path, monkeypatch):
    # no pause between timed runs (it lets onnxruntime's spinning threads settle for
    # real measurements; 36 of them took 3.6 s of this test)
    monkeypatch.setattr(perf, "SETTLE_SECONDS", 0.0)
    mlp = tmp_path / "mlp.onnx"
    onnx.save(perf.zoo.mlp_large(batch=4, width=32, layers=1, classes=10), mlp)
    row = perf.bench_model("mlp", perf.image_case(mlp), runs=1, threads=1, work=tmp_path,
                           profile=True)
    assert row["input"] == [4, 32] and row["simulator_s"]["median"] > 0
    for key in ("simulator", "interpreter", "simulator_numpy", "interpreter_raw",
                "interpreter_ort"):
        v = row[key]
        assert v["value"] > 0 and v["met"] == (v["value"] <= v["target"])
    for key in ("simulator", "interpreter"):
        assert row[key]["met"] or f"{key}_profile" in row

    # a batch-1 model runs (and calibrates on) the images one by one
    one = tmp_path / "mlp1.onnx"
    onnx.save(perf.zoo.mlp_large(batch=1, width=32, layers=1, classes=10), one)
    assert len(perf.image_set(one)) == perf.IMAGES
    row1 = perf.bench_model("mlp1", perf.image_case(one), runs=1, threads=1, work=tmp_path,
                            profile=False)
    assert row1["images"] == perf.IMAGES

    # an encoder: three int64 inputs of dynamic shape, fixed by input_shapes
    enc = tmp_path / "enc.onnx"
    onnx.save(perf.bert.build_bert(layers=1, hidden=16, heads=2, intermediate=32), enc)
    row2 = perf.bench_model("enc", perf.encoder_case(enc, 2, 8, 100), runs=1, threads=1,
                            work=tmp_path, profile=False)
    assert row2["input_desc"] == "2x8 tokens" and row2["simulator_s"]["median"] > 0

    depth = perf.bench_depth([1], batch=1, resolution=32, runs=1, work=tmp_path, width=0.125)
    assert depth["rows"][0]["nodes"] > 100

    peak = perf.compile_peak(mlp, threads=1)
    assert peak["peak_rss_bytes"] > 0

    fallback = dict(row2, model="fell_back", calibration_ort_fallback=(
        "export-qdq has no ONNX form for 'nn.resize' at ONNX node 'up' (Resize)"))
    verdict = perf.verdict(1.0, 2.0)
    compile_ = {"input": [4, 32], "qcc_compile_s": {"median": 1.0},
                "ort_quantize_static_s": {"median": 2.0}, "seconds": verdict,
                "ratio": perf.verdict(6.0, 5.0), "peak_rss_gb": verdict,
                "peak_method": "test", "profile": "ncalls ..."}
    res = {"meta": {"quick": True, "runs": 1, "threads": 1, "date": "-", "machine": "-",
                    "cpus": 1, "python": "-", "numpy": "-", "onnxruntime": "-"},
           "models": [row, row1, row2, fallback], "compile": compile_, "depth": depth,
           "explore": {"configurations": 8, "explore_s": {"median": 1.0},
                       "seconds": verdict}}
    text = perf.markdown(res)
    assert "## 4. Explore throughput" in text and "missed by 1.20x" in text
    assert "| onnxruntime engine (s) | ratio | status |" in text
    assert f"{perf.IMAGES} x 1x32, one by one" in text and "| enc | 2x8 tokens |" in text
    # calibration's pass with both engines (the encoder's ops all have an ONNX form);
    # a model that fell back is rendered so
    assert row["calibration_ort_fallback"] == "" and row["calibration_ort_s"]["median"] > 0
    assert row2["calibration_ort_fallback"] == ""
    assert "(fell back to the interpreter: export-qdq has no ONNX form for 'nn.resize'" in text
    json.dumps(res)  # the results are JSON-ready


def test_peak_memory_is_the_process_own():
    """VmHWM, not ru_maxrss: a child of a large parent reports its own peak."""
    import subprocess

    ballast = bytearray(600 * 1024 * 1024)  # the parent holds 600 MB, touched
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location("
            f"'p', {str(ROOT / 'benchmarks' / 'perf.py')!r}); m = importlib.util."
            "module_from_spec(spec); sys.modules['p'] = m; spec.loader.exec_module(m); "
            "print(m.peak_rss_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.split()[-1]) < 500 * 1024 * 1024, out.stdout
    del ballast
