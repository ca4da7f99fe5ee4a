"""``qcc explore``: what per-channel vs per-tensor weights and each calibration method
cost a model in accuracy, latency and performance per watt on the TPU targets.

For every granularity x calibration method: quantize (calibration statistics are
collected once and shared, each method derives its ranges from them), measure
accuracy on the evaluation data with the integer program's exact arithmetic (top-1
against labels when the data has them, else agreement with FP32), the output SQNR,
and for every batch size and target the simulated latency, throughput, inferences/s/W
and the cycles spent on rescaling (activate and table loads). Configurations run in
parallel processes.

It runs whole compiles, so it sits above the backends with the driver: it reaches a
target's backend through the registry (qcc/backend.py) and never the other way
round (docs/layers.md).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qcc.diagnostics import QccError

GRANULARITIES = ("per-tensor", "per-channel")
METHODS = ("minmax", "percentile", "entropy", "mse")


@dataclass
class Row:
    granularity: str
    method: str
    target: str
    batch: int
    accuracy: float | None  # top-1 against labels (None without labels)
    agreement: float  # top-1 agreement with FP32
    sqnr_db: float
    latency_us: float
    inferences_per_s: float
    inferences_per_s_per_w: float
    tops: float
    rescale_cycles: float
    cycles: float


def _eval_arrays(path: str | None, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    if not path:
        raise QccError("explore needs evaluation inputs: give --eval-data (or --calib-data)")
    try:
        with np.load(path) as z:
            x = z[name] if name in z.files else None
            labels = z["label"] if "label" in z.files else None
    except (OSError, ValueError) as e:
        raise QccError(f"--eval-data {path}: cannot read ({e})") from None
    if x is None:
        raise QccError(f"--eval-data {path} has no array '{name}' (the model's input)")
    return x, labels


def _logits(module, x: np.ndarray, name: str, batch: int) -> np.ndarray:
    from qcc.interpreter import run

    out = []
    for i in range(0, len(x) - len(x) % batch, batch):
        out.append(next(iter(run(module, {name: x[i:i + batch]}).values())))
    return np.concatenate(out)


def backend_for_targets(targets: Sequence[str]):
    """The one backend of every target of a sweep (a program is compiled once, for the
    first target, and timed on each)."""
    from qcc.backend import backend_for_target

    if not targets:
        raise QccError("explore needs at least one target")
    backend = backend_for_target(targets[0])
    for t in targets[1:]:
        other = backend_for_target(t)
        if other is not backend:
            raise QccError(f"--targets: '{targets[0]}' and '{t}' are targets of different "
                           f"backends ({backend.name}, {other.name}); explore compares "
                           "the targets of one backend")
    return backend


def _batch_free(input_shapes: dict | None) -> dict | None:
    """The input shapes with their first (batch) dimension left to the sweep's batch."""
    if not input_shapes:
        return None
    return {name: (None, *tuple(shape)[1:]) for name, shape in input_shapes.items()}


def _one_config(job: dict) -> list[dict]:
    """Quantize with one granularity and method, evaluate, compile and time."""
    from qcc import driver
    from qcc.quant_report import sqnr_db

    x, labels, fp32 = job["x"], job["labels"], job["fp32"]
    eval_batch = job["eval_batch"]
    module = driver.load(job["model"], batch=eval_batch, input_shapes=job.get("input_shapes"))
    driver.quantize_model(module, method=job["method"], granularity=job["granularity"],
                       stats=job["stats"])
    name = module.main.input_names[0]
    logits = _logits(module, x, name, eval_batch)
    n = len(logits)
    pred = logits.argmax(axis=1)
    acc = float((pred == labels[:n]).mean()) if labels is not None else None
    agreement = float((pred == fp32[:n].argmax(axis=1)).mean())
    sq = sqnr_db(fp32[:n], logits)
    rows = []
    for batch in job["batches"]:
        m = driver.load(job["model"], batch=batch, input_shapes=job.get("input_shapes"))
        driver.quantize_model(m, method=job["method"], granularity=job["granularity"],
                              stats=job["stats"])
        backend = backend_for_targets(job["targets"])
        compiled = backend.compile(m, job["targets"][0])
        for tname in job["targets"]:
            target = backend.load_target(tname)
            r = backend.estimate(compiled.program, target, batch)
            rows.append(asdict(Row(job["granularity"], job["method"], target.name, batch,
                                   acc, agreement, sq, r.latency_s * 1e6, r.inferences_per_s,
                                   r.inferences_per_s_per_w, r.tops(),
                                   backend.rescale_cycles(compiled.program, target),
                                   r.cycles)))
    return rows


def explore(model: str, calib_data: str | None, eval_data: str | None,
            targets: Sequence[str] = ("tpu-v1",), batches: Sequence[int] = (1,),
            granularities: Sequence[str] = GRANULARITIES, methods: Sequence[str] = METHODS,
            jobs: int | None = None, progress: bool = True,
            input_shapes: dict | None = None) -> dict:
    """Run the sweep; returns {"fp32": {...}, "rows": [...]} (JSON-ready).
    ``input_shapes`` fixes dynamic input dimensions but the first, the swept batch."""
    from qcc import driver
    from qcc.passmanager import Pipeline

    backend = backend_for_targets(targets)
    for t in targets:
        backend.load_target(t)  # fail early on a bad target name
    shapes = _batch_free(input_shapes)
    fp_module = driver.load(model, batch=1, input_shapes=shapes)
    name = fp_module.main.input_names[0]
    x, labels = _eval_arrays(eval_data or calib_data, name)
    eval_batch = min(len(x), 200)
    fp_module = driver.load(model, batch=eval_batch, input_shapes=shapes)
    fp32 = _logits(fp_module, x, name, eval_batch)
    n = len(fp32)
    fp32_acc = float((fp32.argmax(1) == labels[:n]).mean()) if labels is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        stats = str(Path(tmp) / "stats.json")
        # calibration statistics, collected once and shared by every configuration
        prepared = driver.load(model, batch=eval_batch, input_shapes=shapes)
        calib = {"data": str(calib_data)} if calib_data else {}
        from qcc.outputs import outside_transaction

        with outside_transaction():  # a scratch file, read back at once: not an output
            Pipeline.parse(driver.PREPARE_PIPELINE).add("calibrate", save_stats=stats,
                                                        **calib).run(prepared)
        work = [{"model": str(model), "granularity": g, "method": m, "stats": stats,
                 "x": x, "labels": labels, "fp32": fp32, "eval_batch": eval_batch,
                 "batches": list(batches), "targets": list(targets),
                 "input_shapes": shapes}
                for g in granularities for m in methods]
        rows: list[dict] = []
        jobs = jobs or min(len(work), os.cpu_count() or 1)
        if jobs > 1:
            with ProcessPoolExecutor(jobs) as pool:
                for k, part in enumerate(pool.map(_one_config, work), 1):
                    rows += part
                    _progress(progress, k, len(work))
        else:
            for k, job in enumerate(work, 1):
                rows += _one_config(job)
                _progress(progress, k, len(work))
        roofline = _roofline_points(model, stats, granularities[-1], methods[0], batches[0],
                                    targets, shapes)
    return {"model": str(model), "fp32": {"accuracy": fp32_acc, "samples": n},
            "rows": rows, "roofline": roofline}


def _roofline_points(model: str, stats: str, granularity: str, method: str, batch: int,
                     targets: Sequence[str], input_shapes: dict | None = None) -> dict:
    """Per layer: operational intensity (useful MACs per weight-memory byte) and the
    achieved TOPS, for one configuration on every target, with each roof."""
    from qcc import driver

    m = driver.load(model, batch=batch, input_shapes=input_shapes)
    driver.quantize_model(m, method=method, granularity=granularity, stats=stats)
    backend = backend_for_targets(targets)
    compiled = backend.compile(m, targets[0])
    out = {"configuration": {"granularity": granularity, "method": method, "batch": batch},
           "targets": {}}
    for name in targets:
        t = backend.load_target(name)
        r = backend.estimate(compiled.program, t, batch)
        layers = [{"layer": k, "macs_per_byte": c.useful_macs / c.dram_bytes,
                   "tops": r.tops(c)} for k, c in r.layers.items()
                  if c.useful_macs and c.dram_bytes]
        out["targets"][t.name] = {"peak_tops": t.peak_tops,
                                  "weight_bandwidth": t.weight_memory.bandwidth_bytes_per_s,
                                  "layers": layers}
    return out


def _progress(enabled: bool, done: int, total: int) -> None:
    if enabled:
        bar = "#" * (20 * done // total)
        print(f"\rexplore [{bar:<20}] {done}/{total} configurations", end="",
              file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)


def pareto(rows: list[dict], key: str) -> list[dict]:
    """Rows no other row beats on both latency and ``key`` (higher is better)."""
    front = []
    for r in rows:
        if not any(o["latency_us"] <= r["latency_us"] and o[key] >= r[key] and
                   (o["latency_us"] < r["latency_us"] or o[key] > r[key]) for o in rows):
            front.append(r)
    return front


def recommend(result: dict, max_drop_points: float) -> dict | None:
    """The fastest configuration whose accuracy (or agreement) is within
    ``max_drop_points`` percentage points of FP32."""
    base = result["fp32"]["accuracy"]
    key = "accuracy" if base is not None else "agreement"
    ref = base if base is not None else 1.0
    ok = [r for r in result["rows"] if 100 * (ref - r[key]) <= max_drop_points + 1e-9]
    return min(ok, key=lambda r: (r["latency_us"], -r[key])) if ok else None


def to_markdown(result: dict, recommendation: dict | None, max_drop: float) -> str:
    key = "accuracy" if result["fp32"]["accuracy"] is not None else "agreement"
    lines = [f"| weights | calibration | target | batch | {key} | SQNR (dB) | latency (us) "
             "| inferences/s | inferences/s/W | TOPS | rescale cycles |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['granularity']} | {r['method']} | {r['target']} | {r['batch']} | "
                     f"{100 * r[key]:.2f}% | {r['sqnr_db']:.1f} | {r['latency_us']:.2f} | "
                     f"{r['inferences_per_s']:.0f} | {r['inferences_per_s_per_w']:.0f} | "
                     f"{r['tops']:.3f} | {r['rescale_cycles']:.0f} |")
    fp = result["fp32"]
    head = (f"FP32 {key}: " + (f"{100 * fp['accuracy']:.2f}%" if fp["accuracy"] is not None
                               else "100% (reference)") + f" on {fp['samples']} samples")
    rec = recommendation_line(recommendation, max_drop, key)
    return head + "\n\n" + "\n".join(lines) + "\n\n" + rec + "\n"


def recommendation_line(r: dict | None, max_drop: float, key: str) -> str:
    if r is None:
        return f"recommendation: no configuration within {max_drop} points of FP32"
    return (f"recommendation: {r['granularity']} weights, {r['method']} calibration on "
            f"{r['target']} at batch {r['batch']}: {r['latency_us']:.2f} us, "
            f"{100 * r[key]:.2f}% {key}, {r['inferences_per_s_per_w']:.0f} inferences/s/W "
            f"(the fastest within {max_drop} points of FP32)")


def plot(result: dict, path: Path) -> bool:
    """Accuracy vs latency with the Pareto front; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    key = "accuracy" if result["fp32"]["accuracy"] is not None else "agreement"
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = sorted({(r["target"], r["batch"]) for r in rows})
    for k, (target, batch) in enumerate(groups):
        for gran, marker in (("per-tensor", "s"), ("per-channel", "o")):
            sel = [r for r in rows if (r["target"], r["batch"], r["granularity"]) ==
                   (target, batch, gran)]
            ax.scatter([r["latency_us"] for r in sel], [100 * r[key] for r in sel], s=22,
                       marker=marker, color=f"C{k % 10}",
                       label=f"{target}, batch {batch}, {gran}")
    front = sorted(pareto(rows, key), key=lambda r: r["latency_us"])
    ax.plot([r["latency_us"] for r in front], [100 * r[key] for r in front], "k--",
            marker="x", label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("latency per batch (us, simulated)")
    ax.set_ylabel(f"{key} (%)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    _save_figure(plt, fig, path)
    roofline = result.get("roofline")
    if roofline:
        _plot_roofline(plt, roofline, path.with_name("roofline.png"))
    return True


def _save_figure(plt, fig, path: Path) -> None:
    """Render to PNG in memory and write it as an output (qcc/outputs.py)."""
    import io

    from qcc.outputs import write_output

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_output(path, buf.getvalue())


def _plot_roofline(plt, roofline: dict, path: Path) -> None:
    """Each target's roof (min(peak, 2 x bandwidth x intensity)) and every layer."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = np.logspace(-2, 5, 200)
    for k, (name, data) in enumerate(roofline["targets"].items()):
        roof = np.minimum(data["peak_tops"], 2 * data["weight_bandwidth"] * xs / 1e12)
        ax.plot(xs, roof, color=f"C{k}", label=f"{name} roof")
        ax.scatter([p["macs_per_byte"] for p in data["layers"]],
                   [max(p["tops"], 1e-4) for p in data["layers"]], color=f"C{k}", s=14)
    cfg = roofline["configuration"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (MACs per weight byte)")
    ax.set_ylabel("TOPS (simulated)")
    ax.set_title(f"layers, {cfg['granularity']} {cfg['method']}, batch {cfg['batch']}",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(plt, fig, path)


def finite(obj):
    """JSON-safe copy (infinities as strings)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def write_outputs(result: dict, out_dir: Path, max_drop: float
                  ) -> tuple[dict | None, list[str]]:
    """Write explore.json, explore.md and (with matplotlib) the plots into
    ``out_dir``; returns the recommendation and the names written."""
    from qcc.outputs import write_output

    if out_dir.exists() and not out_dir.is_dir():
        raise QccError(f"--out {out_dir}: exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    rec = recommend(result, max_drop)
    write_output(out_dir / "explore.json",
                 json.dumps(finite({**result, "recommendation": rec}), indent=1,
                            sort_keys=True) + "\n")
    write_output(out_dir / "explore.md", to_markdown(result, rec, max_drop))
    written = ["explore.json", "explore.md"]
    if plot(result, out_dir / "accuracy_vs_latency.png"):
        written.append("accuracy_vs_latency.png")
        if result.get("roofline"):
            written.append("roofline.png")
    return rec, written
