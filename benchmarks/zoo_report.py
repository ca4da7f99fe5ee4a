"""The classic-architecture zoo through every stage of qcc, in one command.

    python benchmarks/zoo_report.py              # every model: benchmark-results/zoo.md
    python benchmarks/zoo_report.py --update-docs  # every model: docs/zoo.md
    python benchmarks/zoo_report.py --quick      # the small variants, a few seconds
    python benchmarks/zoo_report.py --models alexnet,vgg16 --out /tmp/zoo.md

The page goes to ``benchmark-results/zoo.md`` in the current directory (git-ignored)
unless ``--update-docs`` (the tracked docs/zoo.md) or ``--out`` names it.

For each model of ``examples/zoo.py``'s ``CLASSICS`` at 224x224, batch 1 (and
ResNet-50 with Softmax at batch 8), the stages, each with its outcome:

1. **build** the ONNX file (seeded weights; the 224x224 files are cached as
   ``zoo.load`` caches them);
2. **FP32**: qcc's interpreter on the imported model against onnxruntime, max
   absolute error over the evaluation inputs;
3. **compile** for ``tpu-v1`` (``qcc.compile``, calibrated on seeded inputs);
4. **bit-exact**: the simulated binary (``CompiledModel.run``) against the integer
   IR (``qcc.run(compiled.module, ...)``) on every evaluation input;
5. **int8 vs FP32**: SQNR of the simulated output against onnxruntime's FP32 output,
   and top-1 agreement (argmax over the classes) on every evaluation image;
6. **timing** (``CompiledModel.estimate``): simulated latency, its split TPU / host
   / PCIe where the API gives it, the bytes over PCIe, and the share of the
   model's MACs (its Conv and Gemm nodes) that the matrix unit runs.

A stage that fails is reported with the first line of its error (a ``QccError``
as qcc prints it; anything else as ``internal error: Type: message``) and the
report goes on with the next model. By default each model runs in its own process
(``--isolate``, the default without ``--quick``): a crash or running out of memory
is reported as such, and the process's peak resident memory is measured.
Inputs are seeded standard-normal images (the weights are random too: top-1
agreement is between int8 and FP32 on the same input, not accuracy).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import zoo  # noqa: E402

from qcc.testing.processes import peak_rss_bytes  # noqa: E402

DOC = ROOT / "docs" / "zoo.md"
TARGET = "tpu-v1"
SEED = 0

#: (label, zoo builder, its arguments) at full size: the classics, ResNet-50 with
#: Softmax at batch 8, and for comparison the zoo's CNNs for performance work (logits,
#: no Softmax: they compiled before issue 15)
FULL = [(name, name, {}) for name in zoo.CLASSICS] + [
    ("resnet50_softmax b8", "resnet50_softmax", {"batch": 8})] + [
    (f"{name} (logits)", name, {}) for name in ("resnet18", "resnet50", "mobilenet_v2")]

#: the small variants of --quick: the same layers at a low resolution and width
_SMALL = {"alexnet": dict(resolution=64, width=0.25),
          "alexnet_opset9": dict(resolution=64, width=0.25),
          "vgg16": dict(resolution=32, width=0.125)}
QUICK = [(label, name, {**dict(resolution=32, width=0.25), **_SMALL.get(name, {}),
                        **({"batch": 2} if "batch" in kw else {})})
         for label, name, kw in FULL]
QUICK = [(label.replace("b8", "b2"), name, kw) for label, name, kw in QUICK]

#: images to calibrate on and to evaluate (batches of the model's batch size)
CALIB_IMAGES = 4
EVAL_IMAGES = 8
QUICK_CALIB_IMAGES = 1
QUICK_EVAL_IMAGES = 2

STAGES = ["build", "fp32", "compile", "bitexact", "accuracy", "timing"]


def error_line(e: BaseException) -> str:
    """The first line of an error as the report shows it."""
    from qcc import QccError

    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(e, QccError):
        return first
    if isinstance(e, MemoryError):
        return "out of memory (MemoryError)"
    return f"internal error: {type(e).__name__}: {first}"


def _shape_option(fn: Any, shape: list[int]) -> dict[str, Any]:
    """Fix the input's shape through the Python API's option for it, if ``fn`` has
    one (``input_shapes={"input": shape}``); else nothing (a model with symbolic
    dims then reports what qcc says about them)."""
    params = inspect.signature(fn).parameters
    for key in ("input_shapes", "input_shape"):
        if key in params:
            return {key: {"input": list(shape)}}
    return {}


def _batches(shape: list[int], images: int, rng: np.random.Generator) -> list[np.ndarray]:
    n = max(1, images // shape[0])
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def _ort(path: Path, xs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # an old export's initializers-as-inputs warnings
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return [session.run(None, {"input": x})[0] for x in xs]


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - got) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    if noise == 0:
        return float("inf")
    return 10 * np.log10(signal / noise) if signal > 0 else float("-inf")


def mxu_macs(timing: Any, model: onnx.ModelProto) -> int:
    """MACs the matrix unit runs for the model's Conv, Gemm and MatMul nodes (the
    timing report's layers are named after the ONNX nodes)."""
    dense = {n.name for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")}
    return sum(int(c.useful_macs) for name, c in timing.layers.items() if name in dense)


def time_split(timing: Any) -> dict[str, float | None]:
    """Seconds of the latency on the TPU, on the host CPU (host segments) and
    waiting for PCIe transfers, as the timing model splits it (``split_s``, the
    compile report's split too): the three add up to the latency."""
    split = timing.split_s()
    return {"tpu_s": split["tpu"], "host_s": split["host"], "pcie_s": split["pcie"]}


def evaluate(label: str, name: str, kwargs: dict[str, Any], work: Path, quick: bool,
             checkpoint: Any = None) -> dict[str, Any]:
    """Every stage for one model; never raises (each stage's error is recorded).
    ``checkpoint(result)`` is called after every stage (the isolated child saves the
    result so far: if it dies, the stage it died in is the next one)."""
    import qcc

    res: dict[str, Any] = {"label": label, "model": name, "args": kwargs,
                           "stages": {}, "errors": {}}

    class _Stages(dict):
        def __setitem__(self, stage: str, state: str) -> None:
            super().__setitem__(stage, state)
            if checkpoint is not None:
                checkpoint(res)

    res["stages"] = stages = _Stages()

    def fail(stage: str, e: BaseException) -> None:
        res["errors"][stage] = error_line(e)
        more = len(str(e).strip().splitlines()) - 1
        if more > 0:  # the whole message is in the JSON; the document says how much
            res.setdefault("error_text", {})[stage] = str(e)
        if not isinstance(e, qcc.QccError):
            res.setdefault("tracebacks", {})[stage] = traceback.format_exc()
        stages[stage] = "failed"

    # 1. build
    try:
        t0 = time.perf_counter()
        if not kwargs and not quick:
            path = zoo.load(name)
            model = onnx.load(str(path))
        else:
            model = zoo.BUILDERS[name](seed=SEED, **kwargs)
            path = work / f"{label.replace(' ', '_')}.onnx"
            onnx.save(model, str(path))
        shape = zoo.input_shape(model)
        res.update(input=shape, dynamic=zoo.dynamic_dims(model), macs=zoo.macs(model),
                   params=zoo.params(model), opset=model.opset_import[0].version,
                   build_s=time.perf_counter() - t0)
        res["stages"]["build"] = "ok"
    except Exception as e:
        fail("build", e)
        return res
    rng = np.random.default_rng(SEED)
    n_calib, n_eval = ((QUICK_CALIB_IMAGES, QUICK_EVAL_IMAGES) if quick
                       else (CALIB_IMAGES, EVAL_IMAGES))
    calib = [{"input": x} for x in _batches(shape, n_calib, rng)]
    xs = _batches(shape, n_eval, rng)
    res["calib_images"] = len(calib) * shape[0]
    res["eval_images"] = len(xs) * shape[0]
    ref: list[np.ndarray] | None = None
    try:
        ref = _ort(path, xs)
    except Exception as e:
        res["errors"]["onnxruntime"] = error_line(e)

    # 2. FP32: the interpreter against onnxruntime
    try:
        t0 = time.perf_counter()
        module = qcc.load(path, batch=shape[0], **_shape_option(qcc.load, shape))
        got = [qcc.run(module, {"input": x})["output"] for x in xs]
        if ref is None:
            raise RuntimeError("onnxruntime did not run the model")
        err = max(float(np.max(np.abs(g - r))) for g, r in zip(got, ref, strict=True))
        res.update(fp32_max_abs_err=err,
                   fp32_max_abs_ref=max(float(np.max(np.abs(r))) for r in ref),
                   fp32_s=time.perf_counter() - t0)
        res["stages"]["fp32"] = "ok"
        del module, got
    except Exception as e:
        fail("fp32", e)

    # 3. compile
    try:
        t0 = time.perf_counter()
        compiled = qcc.compile(path, calib_data=calib, target=TARGET, batch=shape[0],
                               **_shape_option(qcc.compile, shape))
        res["compile_s"] = time.perf_counter() - t0
        res["stages"]["compile"] = "ok"
    except Exception as e:
        fail("compile", e)
        return res

    # 4. the binary against the integer IR
    sims: list[np.ndarray] = []
    try:
        t0 = time.perf_counter()
        exact = True
        for x in xs:
            sim = compiled.run({"input": x})
            integer = qcc.run(compiled.module, {"input": x})
            exact = exact and sim.keys() == integer.keys() and all(
                np.array_equal(sim[k], integer[k]) for k in sim)
            sims.append(sim["output"])
        res["bitexact"] = exact
        res["run_s"] = time.perf_counter() - t0
        if not exact:
            res["errors"]["bitexact"] = "the binary's outputs differ from the integer IR's"
        res["stages"]["bitexact"] = "ok" if exact else "failed"
    except Exception as e:
        fail("bitexact", e)

    # 5. int8 vs FP32
    try:
        if ref is None:
            raise RuntimeError("onnxruntime did not run the model")
        if len(sims) != len(ref):
            raise RuntimeError("the simulation did not run")
        r, q = np.concatenate(ref), np.concatenate(sims)
        res["sqnr_db"] = sqnr_db(r, q)
        res["top1_agree"] = float(np.mean(np.argmax(r, axis=-1) == np.argmax(q, axis=-1)))
        res["stages"]["accuracy"] = "ok"
    except Exception as e:
        fail("accuracy", e)

    # 6. timing
    try:
        timing = compiled.estimate()
        total = timing.total
        res.update(latency_s=float(timing.latency_s), **time_split(timing),
                   pcie_bytes=int(total.host_read_bytes + total.host_write_bytes),
                   mxu_macs=mxu_macs(timing, model))
        res["mxu_share"] = res["mxu_macs"] / res["macs"] if res["macs"] else None
        res["stages"]["timing"] = "ok"
    except Exception as e:
        fail("timing", e)
    return res


def run_isolated(label: str, name: str, kwargs: dict[str, Any], quick: bool,
                 timeout: float) -> dict[str, Any]:
    """:func:`evaluate` in a child process; a crash, a kill (out of memory) or a
    timeout becomes the result of the stage the child was in."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--one", json.dumps([label, name, kwargs]),
               "--result", str(out)] + (["--quick"] if quick else [])
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            problem = None if proc.returncode == 0 else (
                f"the process died with exit code {proc.returncode}" if proc.returncode > 0
                else f"the process was killed by signal {-proc.returncode}"
                     + (" (out of memory?)" if proc.returncode == -9 else ""))
        except subprocess.TimeoutExpired:
            problem = f"timed out after {timeout:g} s"
        if out.is_file():
            res = json.loads(out.read_text())
        else:
            res = {"label": label, "model": name, "args": kwargs, "stages": {},
                   "errors": {}}
        if problem:
            stage = next((s for s in STAGES if s not in res["stages"]), "build")
            res["stages"][stage] = "failed"
            res["errors"][stage] = problem
        return res


# ---- the document

def _fmt_err(res: dict[str, Any]) -> str:
    if "fp32_max_abs_err" not in res:
        return "fails"
    return f"{res['fp32_max_abs_err']:.1e}"


def _yes(res: dict[str, Any], stage: str, key: str | None = None) -> str:
    state = res["stages"].get(stage)
    if state is None:
        return "-"
    if key is not None and key in res:
        return "yes" if res[key] else "**no**"
    return "yes" if state == "ok" else "**no**"


def _num(res: dict[str, Any], key: str, fmt: str, scale: float = 1.0) -> str:
    v = res.get(key)
    if v is None:
        return "n/a" if res["stages"].get("timing") == "ok" else "-"
    if isinstance(v, float) and not np.isfinite(v):
        return "inf" if v > 0 else "-inf"
    return format(v * scale if scale != 1.0 else v, fmt)


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def markdown(results: list[dict[str, Any]], quick: bool, command: str) -> str:
    calib, evals = ((QUICK_CALIB_IMAGES, QUICK_EVAL_IMAGES) if quick
                    else (CALIB_IMAGES, EVAL_IMAGES))
    classics = [r for r in results if r["model"] in zoo.CLASSICS]
    compiled = sum(r["stages"].get("compile") == "ok" for r in classics)
    lines = [
        "# The classic-architecture zoo through qcc" + (" (quick: small variants)"
                                                        if quick else ""),
        "",
        f"Generated by `{command}` (benchmarks/zoo_report.py; do not edit by hand). The "
        "models are `examples/zoo.py`'s classic architectures, built as exporters write "
        "them (Softmax at the end, Flatten into Gemm, batch norm as Mul/Add in "
        "DenseNet-121, LRN, channel shuffle, dynamic height and width in "
        "MobileNet-v3-small, an opset-9 export of AlexNet), with seeded random weights. "
        f"Target `{TARGET}`; calibration on {calib} seeded standard-normal image(s), "
        f"evaluation on {evals} others (per batch entry: at least one batch).",
        "",
        f"**{compiled} of {len(classics)} classic entries compile** for the TPU today." +
        ("" if len(classics) == len(results) else
         " The rows marked *(logits)* are the zoo's models for performance work (no "
         "Softmax), for comparison."),
        "",
        "| model | input | MACs (batch) | FP32 vs onnxruntime (max abs err) | compiles | "
        "binary = integer IR | SQNR int8 vs FP32 (dB) | top-1 agreement | latency (us) | "
        "TPU / host / PCIe (us) | PCIe bytes | MACs on the matrix unit | compile (s) | "
        "peak memory (GB) |",
        "|---|---|---:|---:|:-:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        shape = "x".join(map(str, r.get("input", []))) or "-"
        if r.get("dynamic"):
            shape += " (dynamic H, W)"
        if r.get("opset", 17) != 17:
            shape += f", opset {r['opset']}"
        split = " / ".join(_num(r, k, ".1f", 1e6) for k in ("tpu_s", "host_s", "pcie_s"))
        top1 = r.get("top1_agree")
        lines.append(
            f"| {r['label']} | {shape} | {_si(r['macs']) if 'macs' in r else '-'} | "
            f"{_fmt_err(r) if r['stages'].get('build') == 'ok' else '-'} | "
            f"{_yes(r, 'compile')} | {_yes(r, 'bitexact', 'bitexact')} | "
            f"{_num(r, 'sqnr_db', '.1f')} | "
            f"{'-' if top1 is None else f'{top1:.0%}'} | "
            f"{_num(r, 'latency_s', '.1f', 1e6)} | {split} | "
            f"{_num(r, 'pcie_bytes', ',d')} | {_num(r, 'mxu_share', '.1%')} | "
            f"{_num(r, 'compile_s', '.1f')} | {_num(r, 'peak_rss_bytes', '.2f', 1e-9)} |")
    lines += ["", "## Where each model stops", ""]
    for r in results:
        errs = r["errors"]
        if not errs:
            lines.append(f"- **{r['label']}**: every stage passes.")
            continue
        lines.append(f"- **{r['label']}**:")
        shown = set()
        for stage, msg in errs.items():
            if msg in shown:
                continue  # the compile's import error repeats the FP32 stage's
            shown.add(msg)
            more = len(r.get("error_text", {}).get(stage, "").splitlines()) - 1
            lines.append(f"  - {stage}: `{msg}`"
                         + (f" (and {more} more line{'s' * (more > 1)})" if more > 0 else ""))
    lines += [
        "",
        "## How to read it",
        "",
        "- *FP32 vs onnxruntime*: qcc's interpreter on the imported model against "
        "onnxruntime on the same inputs (outputs are Softmax probabilities); `fails` when "
        "the model does not import or run (see above).",
        "- *binary = integer IR*: the simulated program's outputs equal, bit for bit, "
        "the integer IR's run by the interpreter, on every evaluation input.",
        "- *SQNR* and *top-1 agreement*: the simulated int8 program's output against "
        "onnxruntime's FP32 output; agreement is the share of images whose largest class "
        "is the same. Random weights: this is quantization error, not accuracy.",
        "- *latency*: `CompiledModel.estimate()` for the whole batch. *TPU / host / "
        "PCIe*: the timing model's split of it (`TimingReport.split_s`, as the compile "
        "report gives it): the host CPU running host segments (the ops the TPU cannot "
        "run; docs/partitioning.md, at assumed host speeds), the TPU waiting for PCIe "
        "transfers, and the rest on the TPU; the three add up to the latency. *PCIe "
        "bytes*: host -> Unified Buffer plus Unified Buffer -> host, from the timing "
        "report's counters.",
        "- *MACs on the matrix unit*: the useful MACs of the timing report's layers that "
        "are the model's Conv and Gemm nodes, over the model's Conv and Gemm MACs.",
        "- *peak memory*: the peak resident memory of the process that ran the model's "
        "stages (build, onnxruntime, interpreter, compile, simulation); `-` when run "
        "in-process.",
        "- `-`: the stage did not run because an earlier one failed.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the small variants (a few seconds; runs in-process)")
    parser.add_argument("--models", default="",
                        help="comma-separated entries (labels or zoo names; default all)")
    parser.add_argument("--out", default=None,
                        help="the Markdown report (default benchmark-results/zoo.md; "
                             "with --quick, only printed unless given)")
    parser.add_argument("--update-docs", action="store_true",
                        help=f"write the tracked {DOC.relative_to(ROOT)}")
    parser.add_argument("--json", default=None, help="also write the results as JSON")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="each model in its own process (default: on, off with --quick)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds per model when isolated (default %(default)s)")
    parser.add_argument("--from-json", default=None,
                        help="write the document from the results a --json run saved "
                             "(no model is run)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:  # the child of --isolate
        label, name, kwargs = json.loads(args.one)
        def save(res: dict[str, Any]) -> None:
            res["peak_rss_bytes"] = peak_rss_bytes()
            tmp = Path(args.result + ".tmp")
            tmp.write_text(json.dumps(res, default=str))
            os.replace(tmp, args.result)

        with tempfile.TemporaryDirectory() as tmp:
            save(evaluate(label, name, kwargs, Path(tmp), args.quick, checkpoint=save))
        return 0

    command = "python benchmarks/zoo_report.py" + (" --quick" if args.quick else "")
    if args.models:
        command += f" --models {args.models}"
    if args.update_docs:
        command += " --update-docs"
    out = args.out if args.out is not None else (
        str(DOC) if args.update_docs else None if args.quick
        else str(Path("benchmark-results") / DOC.name))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)

    def write(results: list[dict[str, Any]]) -> None:
        text = markdown(results, args.quick, command)
        if out:
            Path(out).write_text(text)
            print(f"wrote {out}")
        else:
            print(text)

    if args.from_json:
        write(json.loads(Path(args.from_json).read_text()))
        return 0
    entries = QUICK if args.quick else FULL
    if args.models:
        wanted = [m for m in args.models.split(",") if m]
        known = {e[0] for e in entries} | {e[1] for e in entries}
        unknown = [m for m in wanted if m not in known]
        if unknown:
            parser.error(f"unknown model(s) {', '.join(unknown)}; the report has "
                         f"{', '.join(e[0] for e in entries)}")
        entries = [e for e in entries if e[0] in wanted or e[1] in wanted]
    isolate = (not args.quick) if args.isolate is None else args.isolate
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, kwargs in entries:
            t0 = time.perf_counter()
            if isolate:
                res = run_isolated(label, name, kwargs, args.quick, args.timeout)
            else:
                res = evaluate(label, name, kwargs, Path(tmp), args.quick)
            stopped = [s for s, v in res["stages"].items() if v != "ok"]
            print(f"{label:<22} {time.perf_counter() - t0:6.1f} s  "
                  + (f"stops at {stopped[0]}: {res['errors'][stopped[0]]}" if stopped
                     else "every stage passes"), flush=True)
            results.append(res)
    write(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
