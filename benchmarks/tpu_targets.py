"""Simulated latency, throughput and energy of the digits models on every shipped
target, from the compiled programs' timing model (backends/tpu_v1/timing.py).

    python benchmarks/tpu_targets.py                 # ./benchmark-results/
    python benchmarks/tpu_targets.py --update-docs   # docs/tpu-results.md

Without ``--update-docs`` the page and its JSON go to ``benchmark-results/`` in the
current directory (git-ignored); with it, to the tracked docs/tpu-results.md and
benchmarks/results/tpu_targets.json (``--out`` / ``--json`` name other files).

Deterministic: the timing model is a function of the instruction stream and the
target; one run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import qcc
from qcc.backends.tpu_v1.target import list_targets, load_target

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["digits_mlp", "digits_cnn", "digits_dwsep"]
BATCHES = [1, 64]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None,
                        help="the page (default: benchmark-results/tpu-results.md)")
    parser.add_argument("--json", default=None,
                        help="the results (default: benchmark-results/tpu_targets.json)")
    parser.add_argument("--update-docs", action="store_true", help="write the tracked "
                        "docs/tpu-results.md and benchmarks/results/tpu_targets.json")
    args = parser.parse_args(argv)
    scratch = Path("benchmark-results")
    args.out = args.out or str(ROOT / "docs" / "tpu-results.md" if args.update_docs
                               else scratch / "tpu-results.md")
    args.json = args.json or str(ROOT / "benchmarks" / "results" / "tpu_targets.json"
                                 if args.update_docs else scratch / "tpu_targets.json")
    calib = ROOT / "examples" / "data" / "digits_calib.npz"
    rows = []
    for model in MODELS:
        for batch in BATCHES:
            compiled = qcc.compile(ROOT / "examples" / "models" / f"{model}.onnx",
                                   calib_data=str(calib), batch=batch)
            for name in list_targets():
                r = compiled.estimate(load_target(name))
                rows.append({"model": model, "batch": batch, "target": name,
                             "cycles": r.cycles, "latency_us": r.latency_s * 1e6,
                             "inferences_per_s": r.inferences_per_s, "tops": r.tops(),
                             "utilization": r.utilization(), "power_w": r.average_power_w,
                             "inferences_per_s_per_w": r.inferences_per_s_per_w,
                             "bound": r.bound()})
    lines = ["# Simulated performance of the digits models on the TPU-v1 targets", "",
             "Produced by `python benchmarks/tpu_targets.py --update-docs` (the timing "
             "model of "
             "`docs/cost-model.md` on the compiled programs; per-channel int8, minmax "
             "calibration). `tpu-v1-gddr5` is the paper's own what-if; `tpu-v1-hbm` is a "
             "what-if, not a product. Latency includes the host transfers.", "",
             "| model | batch | target | latency (us) | inferences/s | TOPS | array use "
             "| power (W) | inferences/s/W | bound |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['batch']} | {r['target']} | "
                     f"{r['latency_us']:.2f} | {r['inferences_per_s']:.0f} | {r['tops']:.3f} | "
                     f"{100 * r['utilization']:.1f}% | {r['power_w']:.1f} | "
                     f"{r['inferences_per_s_per_w']:.0f} | {r['bound']} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    qcc.write_atomic(args.out, text)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    qcc.write_atomic(args.json, json.dumps(rows, indent=1) + "\n")
    print(text)
    print(f"wrote {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
