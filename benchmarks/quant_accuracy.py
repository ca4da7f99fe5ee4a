"""Accuracy of qcc's int8 programs on the digits models, beside onnxruntime's.

    python benchmarks/quant_accuracy.py                 # ./benchmark-results/
    python benchmarks/quant_accuracy.py --update-docs   # docs/quantization-results.md

Without ``--update-docs`` the page and its JSON go to ``benchmark-results/`` in the
current directory (git-ignored); with it, to the tracked docs/quantization-results.md
and benchmarks/results/quant_accuracy.json (``--out`` / ``--json`` name other files).

For each trained digits model (examples/models/digits_*.onnx), each calibration
method (minmax, percentile, entropy, mse, and auto: per tensor, the method whose range
gives the least output error on the calibration split) and each weight granularity
(per tensor, per channel), qcc calibrates on the 200-image calibration split, compiles the integer
program and runs it on the 400-image evaluation split; reported: top-1 accuracy,
top-1 agreement with FP32, and the SQNR of the logits against FP32.

Beside it, onnxruntime's own `quantize_static` (QDQ, int8 activations and weights,
same calibration split; MinMax, Entropy and Percentile, per channel on and off) runs
in onnxruntime on the same evaluation split. Everything is deterministic; one run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import qcc
from qcc.passmanager import PassContext
from qcc.quant_report import sqnr_db

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["digits_mlp", "digits_cnn", "digits_dwsep"]
METHODS = ["minmax", "percentile", "entropy", "mse", "auto"]
GRANULARITIES = ["per-tensor", "per-channel"]
ORT_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def _metrics(logits: np.ndarray, fp32: np.ndarray, labels: np.ndarray) -> dict:
    pred = logits.argmax(axis=1)
    return {"accuracy": float((pred == labels).mean()),
            "agreement": float((pred == fp32.argmax(axis=1)).mean()),
            "sqnr_db": sqnr_db(fp32, logits)}


def _run_qcc(module: qcc.Module, x: np.ndarray, batch: int) -> np.ndarray:
    name = module.main.input_names[0]
    out = [next(iter(qcc.run(module, {name: x[i:i + batch]}).values()))
           for i in range(0, len(x), batch)]
    return np.concatenate(out)


def qcc_rows(model: str, calib: Path, x: np.ndarray, labels: np.ndarray) -> list[dict]:
    path = ROOT / "examples" / "models" / f"{model}.onnx"
    batch = 200
    fp32_module = qcc.load(path, batch=batch)
    fp32 = _run_qcc(fp32_module, x, batch)
    rows = [{"model": model, "tool": "fp32", "method": "-", "granularity": "-",
             **_metrics(fp32, fp32, labels)}]
    for method in METHODS:
        for granularity in GRANULARITIES:
            module = qcc.load(path, batch=batch)
            ctx = PassContext()
            start = time.perf_counter()
            qcc.quantize_model(module, calib_data=str(calib), method=method,
                               granularity=granularity, ctx=ctx)
            seconds = time.perf_counter() - start
            logits = _run_qcc(module, x, batch)
            row = {"model": model, "tool": "qcc", "method": method,
                   "granularity": granularity, "compile_s": seconds,
                   **_metrics(logits, fp32, labels)}
            auto = ctx.data.get("calibration_auto")
            if auto is not None:  # what auto chose, per tensor, and what it cost
                row["auto_choice"] = dict(auto.choice)
                row["auto_summary"] = auto.summary()
                row["auto_s"] = auto.seconds
            rows.append(row)
    return rows, fp32


def ort_rows(model: str, calib_x: np.ndarray, x: np.ndarray, labels: np.ndarray,
             fp32: np.ndarray) -> list[dict]:
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter([{"input": calib_x[i:i + 1]} for i in range(len(calib_x))])

        def get_next(self):
            return next(self.samples, None)

    ort.set_default_logger_severity(3)  # no warnings about unused initializers
    path = ROOT / "examples" / "models" / f"{model}.onnx"
    rows = []
    for method, ort_method in ORT_METHODS.items():
        for granularity in GRANULARITIES:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "q.onnx"
                quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ,
                                per_channel=granularity == "per-channel",
                                activation_type=QuantType.QInt8,
                                weight_type=QuantType.QInt8,
                                calibrate_method=getattr(CalibrationMethod, ort_method))
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                session = ort.InferenceSession(str(out), options,
                                               providers=["CPUExecutionProvider"])
                logits = session.run(None, {"input": x})[0]
            rows.append({"model": model, "tool": "onnxruntime", "method": method,
                         "granularity": granularity, **_metrics(logits, fp32, labels)})
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = ["| model | tool | calibration | weights | top-1 accuracy | agreement with FP32 "
             "| logits SQNR (dB) |", "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        sq = "inf" if math.isinf(r["sqnr_db"]) else f"{r['sqnr_db']:.1f}"
        lines.append(f"| {r['model']} | {r['tool']} | {r['method']} | {r['granularity']} | "
                     f"{100 * r['accuracy']:.2f}% | {100 * r['agreement']:.2f}% | {sq} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="the page (default: "
                        "benchmark-results/quantization-results.md)")
    parser.add_argument("--json", default=None, help="the results (default: "
                        "benchmark-results/quant_accuracy.json)")
    parser.add_argument("--update-docs", action="store_true", help="write the tracked "
                        "docs/quantization-results.md and benchmarks/results/"
                        "quant_accuracy.json")
    parser.add_argument("--no-ort", action="store_true", help="skip onnxruntime")
    args = parser.parse_args(argv)
    scratch = Path("benchmark-results")
    args.out = args.out or str(ROOT / "docs" / "quantization-results.md" if args.update_docs
                               else scratch / "quantization-results.md")
    args.json = args.json or str(ROOT / "benchmarks" / "results" / "quant_accuracy.json"
                                 if args.update_docs else scratch / "quant_accuracy.json")
    calib_path = ROOT / "examples" / "data" / "digits_calib.npz"
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        x, labels = z["input"], z["label"]
    with np.load(calib_path) as z:
        calib_x = z["input"]
    rows = []
    for model in MODELS:
        q_rows, fp32 = qcc_rows(model, calib_path, x, labels)
        rows += q_rows
        if not args.no_ort:
            rows += ort_rows(model, calib_x, x, labels, fp32)
        print(f"{model}: done", file=sys.stderr)
    table = to_markdown(rows)
    header = ("# Quantization accuracy on the digits models\n\n"
              "Produced by `python benchmarks/quant_accuracy.py --update-docs` "
              "(deterministic; one run). "
              "Evaluation: 400 held-out images; calibration: 200 other images. qcc rows "
              "run the integer program (after fold-rescale and fuse-relu) in qcc's "
              "interpreter; onnxruntime rows run onnxruntime's `quantize_static` QDQ "
              "model (int8 activations and weights) in onnxruntime.\n\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    qcc.write_atomic(args.out, header + table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    qcc.write_atomic(args.json, json.dumps(
        [{k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
          for k, v in r.items()} for r in rows], indent=1) + "\n")
    print(table)
    print(f"wrote {args.out} and {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
