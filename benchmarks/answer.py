"""The question qcc is for, answered in one command: what per-channel vs per-tensor
weights and each calibration method cost in accuracy, latency and performance per
watt on the TPU-v1 targets, on the trained digits models and on zoo architectures.

    python benchmarks/answer.py                 # writes ./benchmark-results/answer/
    python benchmarks/answer.py --update-docs   # rewrites docs/answer.md, docs/explore/

For every model it runs ``qcc explore`` (both granularities, the four fixed calibration
methods and ``auto`` where the calibrate pass has it, every shipped target, several
batch sizes) and writes that model's explore.json, explore.md and plots into
``explore/<model>/`` beside ``answer.md``, which says in words and tables what the
sweeps found, with the caveats. Every figure in it is computed from the sweeps of
the same run; nothing is typed in by hand.

Models: the trained digits models of examples/train_digits.py with their bundled
calibration and evaluation data (accuracy against labels), and zoo architectures
(examples/zoo.py, random He-initialized weights, built and cached on first use) on
seeded standard-normal inputs, where the measure is top-1 agreement with FP32
(``--zoo`` picks them; ``--zoo none`` skips them).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from qcc import exploration as ex  # noqa: E402
from qcc.backends.tpu_v1.target import list_targets, load_target  # noqa: E402

DIGITS = ("digits_mlp", "digits_cnn", "digits_dwsep", "digits_convfc")
DEFAULT_ZOO = ("resnet18", "mobilenet_v2")
BUDGET = 0.5  # points of accuracy below FP32 the recommendation may spend


def _digits_data(name: str) -> tuple[str, str] | None:
    own = (f"examples/data/{name}_calib.npz", f"examples/data/{name}_eval.npz")
    if (ROOT / own[0]).exists() and (ROOT / own[1]).exists():
        return own
    return ("examples/data/digits_calib.npz", "examples/data/digits_eval.npz")


def _zoo_case(name: str, scratch: Path, samples: int) -> tuple[str, str, str, dict]:
    """A zoo model at 224x224 with seeded standard-normal calibration (32) and
    evaluation (``samples``) inputs."""
    import onnx
    import zoo

    import qcc

    model = onnx.load(zoo.load(name))
    # the zoo writes batch 1; the sweep times several batch sizes: a dynamic batch
    for v in (*model.graph.input, *model.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    path = scratch / f"{name}.onnx"
    onnx.save(model, path)
    shape = tuple(qcc.load(path, batch=1).main.args[0].type.shape[1:])
    rng = np.random.default_rng(0)
    calib = scratch / f"{name}_calib.npz"
    evals = scratch / f"{name}_eval.npz"
    np.savez(calib, input=rng.standard_normal((32, *shape)).astype(np.float32))
    np.savez(evals, input=rng.standard_normal((samples, *shape)).astype(np.float32))
    return str(path), str(calib), str(evals), {}


def sweep(model: str, calib: str, evals: str, batches: list[int], methods: tuple[str, ...],
          jobs: int | None) -> tuple[dict, float]:
    start = time.perf_counter()
    result = ex.explore(model, calib, evals, list_targets(), batches, methods=methods,
                        jobs=jobs, progress=sys.stderr.isatty())
    return result, time.perf_counter() - start


# ------------------------------------------------------------------ words
def _q(result: dict, g: str, m: str) -> dict | None:
    return next((q for q in result["quality"] if (q["granularity"], q["method"]) == (g, m)
                 and not q.get("error")), None)


def _pts(x: float) -> str:
    return f"{100 * x:.2f}%"


def findings(name: str, result: dict, rec: dict) -> list[str]:
    """Plain sentences, each computed from the sweep."""
    key = ex.quality_key(result)
    n = result["fp32"]["samples"]
    out = []
    fp = result["fp32"]["accuracy"]
    quality = [q for q in result["quality"] if not q.get("error")]
    if not quality:
        return [f"no configuration of {name} quantized: "
                + "; ".join(q["error"] for q in result["quality"])]
    best = max(quality, key=lambda q: (q[key], q["sqnr_db"]))
    worst = min(quality, key=lambda q: (q[key], q["sqnr_db"]))
    corr = result.get("_correct", {})
    test = ex.mcnemar(corr[f"{best['granularity']}/{best['method']}"],
                      corr[f"{worst['granularity']}/{worst['method']}"]) \
        if corr.get(f"{best['granularity']}/{best['method']}") is not None else None
    ref = f"FP32 {_pts(fp)}" if fp is not None else "FP32 (agreement is measured against it)"
    if best[key] == worst[key]:
        same = f"Every configuration scores {_pts(best[key])}"
    else:
        same = (f"The configurations range from {_pts(worst[key])} ({worst['granularity']}, "
                f"{worst['method']}) to {_pts(best[key])} ({best['granularity']}, "
                f"{best['method']})")
    out.append(f"**Accuracy.** {ref} on {n} samples. {same}"
               + (f"; the best and the worst differ on {test['only_a'] + test['only_b']} "
                  f"samples (McNemar p = {test['p_value']:.2g}"
                  + (", within noise)" if test["p_value"] >= 0.05 else ")")
                  if test and best[key] != worst[key] else "") + ".")
    # per-channel vs per-tensor, per method
    gains = []
    for m in dict.fromkeys(q["method"] for q in quality):
        a, b = _q(result, "per-tensor", m), _q(result, "per-channel", m)
        if a and b:
            gains.append((m, round(b[key], 4) - round(a[key], 4),
                          round(b["sqnr_db"], 1) - round(a["sqnr_db"], 1)))
    if gains:
        acc = ", ".join(f"{m} {100 * d:+.2f} points / {s:+.1f} dB" for m, d, s in gains)
        acc += " (differences of the rounded figures in the table below)"
        out.append(f"**Per-channel vs per-tensor weights** ({key}, output SQNR), by "
                   f"calibration method: {acc}.")
        layer_gain = _layer_gains(result, gains[0][0])
        if layer_gain:
            out.append(f"Per layer ({gains[0][0]}), per-channel weights gain most on "
                       + ", ".join(f"`{t}` ({g:+.1f} dB)" for t, g in layer_gain) + ".")
    # calibration methods
    for g in ("per-tensor", "per-channel"):
        sel = [q for q in quality if q["granularity"] == g and q["method"] != "auto"]
        if len(sel) > 1:
            hi = max(sel, key=lambda q: q["sqnr_db"])
            lo = min(sel, key=lambda q: q["sqnr_db"])
            out.append(f"**Calibration ({g}).** Output SQNR from {lo['sqnr_db']:.1f} dB "
                       f"({lo['method']}) to {hi['sqnr_db']:.1f} dB ({hi['method']}); "
                       f"{key} from {_pts(min(q[key] for q in sel))} to "
                       f"{_pts(max(q[key] for q in sel))}.")
        auto = _q(result, g, "auto")
        if auto and sel:
            best_fixed = max(sel, key=lambda q: q[key])
            out.append(f"`auto` ({g}): {_pts(auto[key])}, {auto['sqnr_db']:.1f} dB, against "
                       f"the best fixed method ({best_fixed['method']}) "
                       f"{_pts(best_fixed[key])}, {best_fixed['sqnr_db']:.1f} dB.")
    # performance
    diffs = result.get("differences") or []
    if diffs:
        out.append("**Latency between configurations.** " + " ".join(
            d.rstrip(".") + "." for d in diffs))
    else:
        out.append("**Latency between configurations.** Every configuration runs the same "
                   "instructions in the same time on each target and batch: on these "
                   "targets the choice of method and granularity costs accuracy only.")
    perf = [p for p in result["performance"] if not p.get("error")]
    if perf:
        tpu = [p for p in perf if p["target"] == "tpu-v1"]
        if tpu:
            b1 = min(tpu, key=lambda p: p["batch"])
            bn = max(tpu, key=lambda p: p["batch"])
            if bn["batch"] != b1["batch"]:
                out.append(f"**Batch.** On tpu-v1, batch {bn['batch']} gives "
                           f"{bn['inferences_per_s_per_w'] / b1['inferences_per_s_per_w']:.1f}x "
                           f"the inferences/s/W of batch {b1['batch']} "
                           f"({bn['inferences_per_s_per_w']:.0f} vs "
                           f"{b1['inferences_per_s_per_w']:.0f}) for "
                           f"{bn['latency_us'] / b1['latency_us']:.1f}x the latency "
                           f"({bn['latency_us']:.1f} vs {b1['latency_us']:.1f} us).")
    failed = [p for p in result["performance"] if p.get("error")]
    if failed:
        out.append(f"**Did not compile:** {len(failed)} of {len(result['performance'])} "
                   f"(configuration, target, batch) rows; first: {failed[0]['error']}")
    c = rec.get("choice")
    if c:
        lat = rec["latency_only"]
        out.append(f"**Recommendation** (most inferences/s/W within {BUDGET} points of "
                   f"FP32, real targets): {c['granularity']} weights, {c['method']} on "
                   f"{c['target']} at batch {c['batch']}: "
                   f"{c['inferences_per_s_per_w']:.0f} inferences/s/W, "
                   f"{c['latency_us']:.1f} us, {_pts(c[key])}. The latency-only choice "
                   f"would be {lat['granularity']}, {lat['method']} at batch "
                   f"{lat['batch']}: {lat['latency_us']:.1f} us but "
                   f"{lat['inferences_per_s_per_w']:.0f} inferences/s/W.")
    else:
        near = rec.get("nearest") or {}
        b = near.get("most_accurate")
        out.append(f"**Recommendation:** no configuration within {BUDGET} points of FP32 "
                   "on a real target"
                   + (f"; the closest, {b['granularity']} weights with {b['method']}, is "
                      f"{near['drop_points']:.2f} points below" if b else "") + ".")
    return out


def _layer_gains(result: dict, method: str, top: int = 3) -> list[tuple[str, float]]:
    a, b = _q(result, "per-tensor", method), _q(result, "per-channel", method)
    if not a or not b:
        return []
    la, lb = a.get("layer_sqnr_db") or {}, b.get("layer_sqnr_db") or {}
    gains = [(t, lb[t] - la[t]) for t in la if t in lb and math.isfinite(la[t])
             and math.isfinite(lb[t])]
    return sorted(gains, key=lambda x: -x[1])[:top]


def _none_row(rec: dict) -> str:
    near = rec.get("nearest") or {}
    b = near.get("most_accurate")
    if not b:
        return "none | | | |"
    return (f"none within {BUDGET} points (closest: {b['granularity']}, {b['method']}, "
            f"{near['drop_points']:.2f} points below) | | {100 * b[rec['key']]:.2f}% | |")


def requant_note() -> list[str]:
    from qcc.backend import backend_for_target

    notes = []
    for name in list_targets():
        t = load_target(name)
        line = backend_for_target(name).requantization_note(t)
        if line:
            notes.append(f"`{name}`{' (what-if)' if t.what_if else ''}: {line}")
    return notes


CAVEATS = """\
- Latency, throughput and energy are the cost model's (docs/cost-model.md), run on the
  program the simulator executes bit-exactly; they are not measurements of a chip.
  The host CPU and PCIe figures are assumptions of the target files.
- What-if targets (marked) are not products; the recommendation ignores them unless
  asked (`qcc explore --include-what-if`).
- tpu-v1's per-lane requantization multipliers are an assumption (the paper does not
  describe the activation unit's rescaling); a per-tensor-rescale target shows what
  per-channel weights would cost without them, where that target is listed.
- Accuracy is measured on the bundled evaluation sets (400 or 500 images): a difference
  of one or two images is noise, which the McNemar p-values say.
- The zoo models have random weights and random inputs: their "accuracy" is top-1
  agreement with FP32, a fidelity measure, and per-channel gains there say nothing
  about trained weights, whose channel ranges differ far more.
- Timings of compile and calibration are wall clock on the machine that ran this
  script; every other figure is deterministic.
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--update-docs", action="store_true",
                   help="write docs/answer.md and docs/explore/ (tracked files)")
    p.add_argument("--out", default="benchmark-results/answer", metavar="DIR",
                   help="where answer.md and explore/ go without --update-docs")
    p.add_argument("--zoo", default=",".join(DEFAULT_ZOO), metavar="M1,M2",
                   help="zoo models to include ('none' for none)")
    p.add_argument("--zoo-samples", type=int, default=64,
                   help="evaluation inputs per zoo model (default 64)")
    p.add_argument("--models", default=",".join(DIGITS), metavar="M1,M2",
                   help="digits models to include (default: all that exist)")
    p.add_argument("--methods", default=None, metavar="M1,M2",
                   help="calibration methods (default: the four fixed ones and auto)")
    p.add_argument("--batches", default=None, metavar="B1,B2",
                   help="batch sizes (default 1,8,64 for digits, 1,8 for the zoo)")
    p.add_argument("--jobs", type=int, default=None)
    args = p.parse_args(argv)
    import shlex

    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/answer.py", *map(shlex.quote, given)])
    out = Path(args.out).resolve()  # relative to where the command runs
    os.chdir(ROOT)  # paths in the results relative to the repository
    if args.update_docs:  # relative to the repository (the commands printed in them too)
        doc, explore_dir, link = Path("docs") / "answer.md", Path("docs") / "explore", \
            "explore"
    else:
        doc = out / "answer.md"
        explore_dir, link = out / "explore", "explore"
    methods = tuple(args.methods.split(",")) if args.methods else \
        ((*ex.METHODS, "auto") if _has_auto() else ex.METHODS)
    fixed = [int(b) for b in args.batches.split(",")] if args.batches else None
    cases = []
    for name in [m for m in args.models.split(",") if m]:
        if (ROOT / f"examples/models/{name}.onnx").exists():
            calib, evals = _digits_data(name)
            cases.append((name, f"examples/models/{name}.onnx", calib, evals,
                          fixed or [1, 8, 64]))
    import atexit
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="qcc-answer-"))
    atexit.register(shutil.rmtree, scratch, True)  # the zoo's model files, when done
    zoo = [] if args.zoo == "none" else [z for z in args.zoo.split(",") if z]
    for name in zoo:
        model, calib, evals, _ = _zoo_case(name, scratch, args.zoo_samples)
        cases.append((name, model, calib, evals, fixed or [1, 8]))
    # auto measures every tensor of a deep model (minutes on ResNet-18 at 224): the zoo
    # sweeps compare the fixed methods
    zoo_methods = tuple(m for m in methods if m != "auto") or methods
    sections, summary = [], []
    for name, model, calib, evals, batches in cases:
        print(f"answer: {name} ...", file=sys.stderr, flush=True)
        result, seconds = sweep(model, calib, evals, batches,
                                zoo_methods if name in zoo else methods, args.jobs)
        if name in zoo:  # a cache path: name the model, not the machine's folder
            result["model"] = f"examples/zoo.py {name}"
            result["eval_data"] = f"{args.zoo_samples} seeded standard-normal inputs"
            result["calibration"]["data"] = "32 seeded standard-normal inputs"
        rec, written = ex.write_outputs(result, explore_dir / name, BUDGET)
        plots = [w for w in written if w.endswith(".png")]
        words = findings(name, result, rec)
        sections.append(f"## {name}\n\n" + "\n\n".join(words) + "\n\n"
                        + ("Plots: " + ", ".join(f"[{w}]({link}/{name}/{w})" for w in plots)
                           + ". " if plots else "")
                        + f"Full tables: [{link}/{name}/explore.md]({link}/{name}/explore.md). "
                        f"Sweep time: {seconds:.0f} s.\n\n### Performance per target and "
                        "batch\n\n" + "\n".join(ex.performance_table(result)) + "\n\n"
                        "### Accuracy per configuration\n\n"
                        + "\n".join(ex.quality_table(result)) + "\n")
        c = rec.get("choice")
        key = ex.quality_key(result)
        summary.append(
            f"| {name} | {result['fp32']['samples']} | "
            + (f"{c['granularity']}, {c['method']}, {c['target']}, batch {c['batch']} | "
               f"{c['inferences_per_s_per_w']:.0f} | {100 * c[key]:.2f}% | "
               f"{rec['latency_only']['inferences_per_s_per_w']:.0f} (batch "
               f"{rec['latency_only']['batch']}) |" if c else _none_row(rec)))
    text = ("# The answer: what int8 choices cost on TPU v1\n\n"
            f"Generated by `{command}`: every figure comes from the `qcc explore` sweeps "
            "of that run.\n\n"
            "The question: for this model, what do per-channel vs per-tensor weights and "
            "histogram vs MSE calibration cost in accuracy, end-to-end latency and "
            "performance per watt on TPU v1, given weight bandwidth, matrix-unit tiling "
            "and rescaling overhead?\n\n"
            "## In short\n\n"
            "| model | samples | recommended (most inferences/s/W within "
            f"{BUDGET} points of FP32) | inferences/s/W | accuracy or agreement | "
            "latency-only choice's inferences/s/W |\n|---|---:|---|---:|---:|---:|\n"
            + "\n".join(summary) + "\n\n"
            + ("Requantization on each target:\n\n"
               + "".join(f"- {line}\n" for line in requant_note()) + "\n"
               if requant_note() else "")
            + "\n".join(sections) + "\n## Caveats\n\n" + CAVEATS)
    from qcc.outputs import write_output

    doc.parent.mkdir(parents=True, exist_ok=True)
    write_output(doc, text)
    print(f"wrote {doc}", file=sys.stderr)
    return 0


def _has_auto() -> bool:
    from qcc.passmanager import PASS_REGISTRY, _load_builtin_passes

    _load_builtin_passes()
    cal = PASS_REGISTRY.get("calibrate")
    typ = cal.options().get("method", (None,))[0] if cal else None
    return "auto" in str(typ)


if __name__ == "__main__":
    raise SystemExit(main())
