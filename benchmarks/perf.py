"""Measure qcc's speed against onnxruntime: simulator, FP32 interpreter, compile, explore.

    python benchmarks/perf.py [--quick] [--runs 5] [--threads 2]

Writes ``benchmark-results/perf.json`` and ``benchmark-results/performance.md`` in
the current directory (git-ignored); with ``--update-docs``, the tracked
``benchmarks/results/perf.json`` and ``docs/performance.md`` (``--json`` / ``--doc``
name other files). Measures only.

Every engine uses the same thread count N (``--threads``, default 2): the script sets
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS to N before numpy is imported
(numpy's BLAS, used by qcc's interpreter and simulator) and QCC_THREADS to N (qcc's
compiled loops that split their work: calibration's histograms), and onnxruntime
sessions get ``intra_op_num_threads = inter_op_num_threads = N``. Every figure is the median of
``--runs`` timed runs (default 5; 3 with ``--quick``) after untimed warm-up runs (two
for the engines compared on a model, whose times are kept as ``warmup`` in the JSON:
the simulator decodes a program's weight tiles on its first run, and its onnxruntime
engine gives weights used again a constant-weight session on the second; one for the
rest), and every ratio divides two medians measured in the same invocation; the
engines compared on one model take turns run by run, so that a slow spell of a shared
machine slows them alike, in an order that turns by one place each round.

numpy's OpenBLAS picks its kernel for the CPU, unless ``OPENBLAS_CORETYPE`` forces
one: the script removes that variable before numpy is imported (onnxruntime has no
such switch and always uses the CPU's own kernels), unless ``--blas-kernel-from-env``
is given, and records the kernel OpenBLAS used (``blas_kernel`` in the JSON). On an
AVX-512 machine with ``OPENBLAS_CORETYPE=Haswell`` set, the FP32 interpreter took
0.64-0.74 s for ResNet-50's 8 images at 224x224 against 0.37-0.57 s with OpenBLAS's
own choice (SkylakeX), medians of 5 runs, three times each way.

Models: issue 19's benchmark shapes. From ``examples/zoo.py``: ResNet-50 and
MobileNet-v2 at 224x224 as one batch of 8 (tpu-tile-ub bands and spills what does not
fit the Unified Buffer), MobileNet-v3-small at 224x224 with 8 images one by one (at
batch 8 its stem output does not fit and tpu-tile-ub finds no split), VGG-16 at
224x224 with 2 images one by one (15.5 GMACs each), the large MLP as built (batch
200); from ``examples/bert.py``, an
encoder of all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads, FFN 1536, vocabulary
30522, seeded weights, the exporter's graph) on one batch of 8 sequences of 32 tokens
(host segments included). The same inputs calibrate; ResNet-50's compile with its 8
images is the compile-time measurement. ``--quick`` shrinks everything for a smoke run
(its numbers are not comparable with the targets).

The simulator runs with its default matrix engine (``auto``: onnxruntime's
MatMulInteger, exact) and with the numpy reference engine; the FP32 interpreter on
the graph calibration interprets (after qcc's clean-up passes, which fold batch norm
as onnxruntime's own graph optimizations do) and on the graph as imported.

Peak memory of a compile is the high-water mark of resident memory (``VmHWM`` in
``/proc/self/status``; ``ru_maxrss`` where there is none) of a fresh child process
that runs only that compile (it includes the interpreter, numpy and the model's
weights). Not ``ru_maxrss`` on Linux: a child's carries the parent's resident size at
the fork over its exec.

Where a target is missed, one run of it is profiled with cProfile (top functions by
cumulative time) into the page. The prose reading of those profiles is written by hand
and passed with ``--findings FILE.md``; ``--render-only --findings FILE.md`` rewrites
the page from an existing perf.json without measuring again. The findings of the
committed perf.json are kept in ``benchmarks/results/perf-findings.md``.
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_threads(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    n = 2
    for i, a in enumerate(args):
        if a == "--threads" and i + 1 < len(args):
            n = int(args[i + 1])
        elif a.startswith("--threads="):
            n = int(a.split("=", 1)[1])
    # QCC_THREADS: the threads of qcc's compiled loops that split their work
    # (calibration's histograms, qcc/fast.py)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "QCC_THREADS"):
        os.environ[var] = str(n)
    return n


#: OPENBLAS_CORETYPE found in the environment (and removed) when the script started
_FORCED_KERNEL: str | None = None


def _native_blas_kernel(argv: list[str] | None) -> str | None:
    """Drop OPENBLAS_CORETYPE (it forces numpy's OpenBLAS onto one CPU's kernel, an AVX2
    one on an AVX-512 machine, say, while onnxruntime keeps its own dispatch) unless
    --blas-kernel-from-env is given; return what it was."""
    args = list(sys.argv[1:] if argv is None else argv)
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced is not None and "--blas-kernel-from-env" not in args:
        del os.environ["OPENBLAS_CORETYPE"]
    return forced


if __name__ == "__main__":  # before numpy is imported anywhere
    _set_threads(None)
    _FORCED_KERNEL = _native_blas_kernel(None)

import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import bert  # noqa: E402
import zoo  # noqa: E402

import qcc  # noqa: E402
from qcc.testing.processes import peak_rss_bytes  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "perf.json"
DOC = ROOT / "docs" / "performance.md"
DIGITS = ROOT / "examples" / "models" / "digits_cnn.onnx"
DIGITS_CALIB = ROOT / "examples" / "data" / "digits_calib.npz"
DIGITS_EVAL = ROOT / "examples" / "data" / "digits_eval.npz"

#: issue 19's targets: simulator within 2x of onnxruntime int8, the FP32 interpreter
#: (calibration's engine) within 1.5x of onnxruntime FP32, ResNet-50 224 batch 8
#: compiled (calibration on its 8 images included) in 10 s and under 3 GB
TARGETS = {"simulator": 2.0, "interpreter": 1.5, "compile_seconds": 10.0,
           "compile_ratio": 5.0, "compile_peak_gb": 3.0, "explore_seconds": 60.0}


def blas_kernel() -> str:
    """The kernel OpenBLAS chose (its core name), or "unknown" for another BLAS."""
    import ctypes

    np.ones((2, 2)) @ np.ones((2, 2))  # numpy's BLAS is loaded
    try:
        libs = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                if "openblas" in line.lower() and line.split()[-1].startswith("/")}
    except OSError:
        return "unknown"
    for lib in sorted(libs):
        handle = ctypes.CDLL(lib)
        for sym in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                    "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(handle, sym, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


# ---- timing helpers

def median_time(fn: Callable[[], object], runs: int, warmup: int = 1) -> dict:
    """Median wall time (s) of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median": statistics.median(times), "min": min(times), "runs": times}


#: untimed pause before each timed run of interleaved_times
SETTLE_SECONDS = 0.1


def interleaved_times(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 1
                      ) -> dict[str, dict]:
    """Median wall times like :func:`median_time`, but the functions take turns (one
    run of each per round, ``runs`` rounds): on a shared machine a slow spell then
    slows every engine alike instead of one, which keeps same-run ratios fair. The
    order turns by one place each round, so that no function always runs first or
    always follows the same one (in A/B runs of two interpreter versions, whichever
    ran second after onnxruntime was 3-5% faster)."""
    first: dict[str, list[float]] = {k: [] for k in fns}
    for k, fn in fns.items():
        for _ in range(warmup):
            time.sleep(SETTLE_SECONDS)
            t = time.perf_counter()
            fn()
            first[k].append(time.perf_counter() - t)
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(runs):
        for k in names[r % len(names):] + names[:r % len(names)]:
            fn = fns[k]
            # onnxruntime's worker threads spin for a while after a run; a pause keeps
            # them from competing with whatever engine runs next
            time.sleep(SETTLE_SECONDS)
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: {"median": statistics.median(v), "min": min(v), "runs": v,
                "warmup": first[k]} for k, v in times.items()}


def profile_top(fn: Callable[[], object], top: int = 15) -> str:
    """cProfile one call of ``fn``; the top functions by cumulative time, as text."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    lines = out.getvalue().splitlines()
    # keep the table, drop pstats' header noise and absolute paths
    keep = [ln.replace(str(ROOT) + "/", "") for ln in lines if ln.strip()]
    start = next((i for i, ln in enumerate(keep) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln.replace(sys.prefix + "/", "") for ln in keep[start:])


def verdict(value: float, target: float) -> dict:
    met = value <= target
    return {"value": value, "target": target, "met": met,
            "miss_factor": None if met else value / target}


# ---- engines

def ort_session(path: str | Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_quantize(src: str | Path, dst: str | Path, calib: list[dict]) -> None:
    """onnxruntime's own static quantization: QDQ, int8 activations and weights,
    per-channel weights (qcc's default granularity), min-max calibration on ``calib``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    logging.getLogger().setLevel(logging.ERROR)  # per-node "consider pre-processing" noise

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=CalibrationMethod.MinMax)


def build_model(builder: Callable[..., onnx.ModelProto], out: Path, **kw) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(builder(**kw), out)
    return out


def resnet_depth(scale: int, batch: int, resolution: int, width: float = 1.0
                 ) -> onnx.ModelProto:
    """A ResNet-50-shaped model with ``scale`` x the bottleneck blocks of every stage
    ([3, 4, 6, 3] * scale), built with the zoo's onnx.helper graph builder (zoo.py's
    public builders have no depth parameter)."""
    layers = [n * scale for n in (3, 4, 6, 3)]
    return zoo._resnet(f"resnet_x{scale}", zoo._bottleneck, layers, seed=0, batch=batch,
                       resolution=resolution, width=width, classes=1000)


def model_input(path: Path, seed: int = 0) -> np.ndarray:
    shape = zoo.input_shape(onnx.load(str(path), load_external_data=False))
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


#: images of a batch-1 model: calibration and timing both use this many
IMAGES = 8


def image_set(path: Path) -> list[np.ndarray]:
    """The inputs of one timed run: the model's static batch as one array, or for a
    batch-1 model ``IMAGES`` seeded images, one by one (the same images calibrate)."""
    x = model_input(path)
    if x.shape[0] != 1:
        return [x]
    return [model_input(path, seed) for seed in range(IMAGES)]


#: the graph calibration interprets: qcc's clean-up before calibrate (quantization.py)
CALIBRATION_GRAPH = "canonicalize,normalize-gemm,fold-batchnorm,canonicalize"


# ---- the four measurements

def image_case(path: Path, images: int | None = None) -> dict:
    """An image model's case: its inputs (image_set; ``images`` of them for a batch-1
    model) and the compile's batch."""
    xs = image_set(path)[:images] if images else image_set(path)
    dynamic = zoo.dynamic_dims(onnx.load(str(path), load_external_data=False))
    load = {"input_shapes": {"input": tuple(xs[0].shape)}} if dynamic else \
        {"batch": int(xs[0].shape[0])}
    return {"path": path, "feeds": [{"input": x} for x in xs], "load": load,
            "input": list(xs[0].shape), "images": len(xs)}


def encoder_case(path: Path, batch: int, sequence: int, vocab: int) -> dict:
    """A BERT-class encoder's case: one batch of token ids, mask and types."""
    feeds = [bert.sample_inputs(batch, sequence, vocab)]
    return {"path": path, "feeds": feeds,
            "load": {"input_shapes": {"input_ids": (batch, sequence)}},
            "input": [batch, sequence], "input_desc": f"{batch}x{sequence} tokens",
            "images": 1}


def bench_model(name: str, case: dict, runs: int, threads: int, work: Path,
                profile: bool = True) -> dict:
    """Simulator vs onnxruntime int8 (QDQ) and interpreter vs onnxruntime FP32 on one
    model; inputs = the case's feeds (the calibration data too), every engine running
    them the same way (one batch, or one image at a time)."""
    path, feeds, load = case["path"], case["feeds"], case["load"]
    compiled = qcc.compile(str(path), calib_data=feeds, **load)
    qpath = work / f"{name}.qdq.onnx"
    ort_quantize(path, qpath, feeds)
    ort_q, ort_f = ort_session(qpath, threads), ort_session(path, threads)
    module = qcc.load(str(path), **load)
    calib_module = qcc.load(str(path), **load)
    qcc.run_pipeline(calib_module, CALIBRATION_GRAPH)

    def each(fn):
        return lambda: [fn(f) for f in feeds]

    # calibration's pass over the data: the forward pass and the statistics of every
    # activation, with each engine (the collectors are built once: the onnxruntime
    # engine's session is made on its first batch, a warm-up run)
    from qcc.calibration import Collector

    collectors = {e: Collector(calib_module, engine=e) for e in ("numpy", "onnxruntime")}
    # the optional onnxruntime engine of qcc.run: its session built once (ort_float.py)
    from qcc.ort_float import FloatSession

    float_session = FloatSession(calib_module)
    fns = {
        "sim": each(lambda f: compiled.run(f)),
        "sim_np": each(lambda f: compiled.run(f, engine="numpy")),
        "ortq": each(lambda f: ort_q.run(None, f)),
        "interp": each(lambda f: qcc.run(calib_module, f)),
        "interp_raw": each(lambda f: qcc.run(module, f)),
        "interp_ort": each(lambda f: float_session.run(f)),
        "calib_np": each(lambda f: collectors["numpy"].add_batch(f)),
        "calib_ort": each(lambda f: collectors["onnxruntime"].add_batch(f)),
        "ortf": each(lambda f: ort_f.run(None, f))}
    t = interleaved_times(fns, runs, warmup=2)
    sim, sim_np, ortq = t["sim"], t["sim_np"], t["ortq"]
    interp, interp_raw, ortf = t["interp"], t["interp_raw"], t["ortf"]
    res = {"model": name, "input": case["input"], "images": case["images"],
           "simulator_s": sim, "simulator_numpy_s": sim_np, "ort_int8_s": ortq,
           "interpreter_s": interp, "interpreter_raw_s": interp_raw, "ort_fp32_s": ortf,
           "simulator": verdict(sim["median"] / ortq["median"], TARGETS["simulator"]),
           "simulator_numpy": verdict(sim_np["median"] / ortq["median"],
                                      TARGETS["simulator"]),
           "interpreter": verdict(interp["median"] / ortf["median"], TARGETS["interpreter"]),
           "interpreter_ort_s": t["interp_ort"],
           "interpreter_ort": verdict(t["interp_ort"]["median"] / ortf["median"],
                                      TARGETS["interpreter"]),
           "interpreter_raw": verdict(interp_raw["median"] / ortf["median"],
                                      TARGETS["interpreter"]),
           "calibration_numpy_s": t["calib_np"], "calibration_ort_s": t["calib_ort"],
           "calibration_numpy": verdict(t["calib_np"]["median"] / ortf["median"],
                                        TARGETS["interpreter"]),
           "calibration_ort": verdict(t["calib_ort"]["median"] / ortf["median"],
                                      TARGETS["interpreter"]),
           "calibration_ort_fallback": collectors["onnxruntime"].engine_fallback}
    if "input_desc" in case:
        res["input_desc"] = case["input_desc"]
    if profile and not res["simulator"]["met"]:
        res["simulator_profile"] = profile_top(each(lambda f: compiled.run(f)))
    if profile and not res["interpreter"]["met"]:
        res["interpreter_profile"] = profile_top(
            each(lambda f: qcc.run(calib_module, f)))
    return res


def _compile_child(path: str) -> None:
    """Run in a fresh process: one compile; print seconds and peak RSS as JSON."""
    xs = image_set(Path(path))
    t = time.perf_counter()
    qcc.compile(path, calib_data=[{"input": x} for x in xs], batch=int(xs[0].shape[0]))
    dt = time.perf_counter() - t
    print(json.dumps({"seconds": dt, "peak_rss_bytes": peak_rss_bytes()}))


def compile_peak(path: Path, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), QCC_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--threads", str(threads),
                          "--compile-child", str(path)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_compile(path: Path, runs: int, threads: int, work: Path,
                  profile: bool = True) -> dict:
    xs = image_set(path)
    calib = [{"input": x} for x in xs]
    batch = int(xs[0].shape[0])
    qc = median_time(lambda: qcc.compile(str(path), calib_data=calib, batch=batch), runs,
                     warmup=0)
    qpath = work / "compile.qdq.onnx"
    oq = median_time(lambda: ort_quantize(path, qpath, calib), runs, warmup=0)
    peak = compile_peak(path, threads)
    res = {"input": list(xs[0].shape), "calibration_images": len(xs) * batch,
           "qcc_compile_s": qc, "ort_quantize_static_s": oq,
           "seconds": verdict(qc["median"], TARGETS["compile_seconds"]),
           "ratio": verdict(qc["median"] / oq["median"], TARGETS["compile_ratio"]),
           "peak_rss_gb": verdict(peak["peak_rss_bytes"] / 1e9, TARGETS["compile_peak_gb"]),
           "peak_method": "VmHWM (the high-water mark of resident memory) of a child "
                          "process running one qcc.compile"}
    if profile and not (res["seconds"]["met"] and res["ratio"]["met"]):
        res["profile"] = profile_top(
            lambda: qcc.compile(str(path), calib_data=calib, batch=batch), top=25)
    return res


def bench_depth(scales: list[int], batch: int, resolution: int, runs: int, work: Path,
                width: float = 1.0) -> dict:
    rows = []
    for s in scales:
        p = work / f"resnet_x{s}.onnx"
        onnx.save(resnet_depth(s, batch, resolution, width), p)
        model = onnx.load(str(p))
        x = model_input(p)
        t = median_time(lambda p=p, x=x: qcc.compile(str(p), calib_data=[{"input": x}],
                                                     batch=batch), runs, warmup=0)
        rows.append({"scale": s, "blocks": [n * s for n in (3, 4, 6, 3)],
                     "nodes": len(model.graph.node), "compile_s": t})
    base = rows[0]["compile_s"]["median"] / rows[0]["nodes"]
    for r in rows:
        r["s_per_node_vs_1x"] = r["compile_s"]["median"] / r["nodes"] / base
    # least-squares line t = a + b * nodes; how far the largest point is from it
    n = np.array([r["nodes"] for r in rows], float)
    t = np.array([r["compile_s"]["median"] for r in rows])
    b, a = np.polyfit(n, t, 1) if len(rows) > 1 else (t[0] / n[0], 0.0)
    return {"input": [batch, 3, resolution, resolution], "width": width, "rows": rows,
            "fit_intercept_s": float(a), "fit_s_per_node": float(b),
            "max_rel_residual": float(np.max(np.abs(t - (a + b * n)) / t))}


def bench_explore(runs: int, profile: bool = True) -> dict:
    def go():
        # the four fixed methods: the sweep the target was set for (auto adds its own
        # per-tensor measurement, about 2 s per granularity on this model)
        return qcc.explore(str(DIGITS), calib_data=str(DIGITS_CALIB),
                           eval_data=str(DIGITS_EVAL), targets=("tpu-v1",), batches=(1,),
                           methods=("minmax", "percentile", "entropy", "mse"))

    rows = len(go()["rows"])  # warm-up, and the size of the sweep
    t = median_time(go, runs, warmup=0)
    res = {"configurations": rows, "explore_s": t,
           "seconds": verdict(t["median"], TARGETS["explore_seconds"])}
    if profile and not res["seconds"]["met"]:
        res["profile"] = profile_top(go)
    return res


# ---- report

def _input_text(r: dict) -> str:
    if "input_desc" in r:
        return r["input_desc"]
    shape = "x".join(map(str, r["input"]))
    return f"{r['images']} x {shape}, one by one" if r.get("images", 1) > 1 else shape


def _fmt_v(v: dict, unit: str = "x") -> str:
    s = f"{v['value']:.2f}{unit}"
    if v["met"]:
        return f"{s} | <= {v['target']:g}{unit} | met"
    return f"{s} | <= {v['target']:g}{unit} | **missed by {v['miss_factor']:.2f}x**"


def _blas_text(m: dict) -> str:
    """The sentence on numpy's BLAS kernel, for a run that recorded it."""
    if "blas_kernel" not in m:
        return ""
    forced = m.get("openblas_coretype_env")
    if not forced:
        return f" numpy's BLAS kernel: {m['blas_kernel']}."
    what = ("kept: `--blas-kernel-from-env`" if m.get("blas_kernel_from_env") else
            "removed, so OpenBLAS chose the CPU's own kernel")
    return (f" numpy's BLAS kernel: {m['blas_kernel']} (OPENBLAS_CORETYPE={forced} was set "
            f"in the environment and {what}).")


def markdown(res: dict) -> str:
    m = res["meta"]
    out = ["# Performance", "",
           "Written by `python benchmarks/perf.py --update-docs"
           + (" --quick" if m["quick"] else "") + f" --runs {m['runs']}` "
           f"({m['date']}); raw numbers in `benchmarks/results/perf.json`. "
           "This page measures; it changes nothing in qcc.", "",
           f"Machine: {m['machine']}, {m['cpus']} CPUs, Python {m['python']}, numpy "
           f"{m['numpy']}, onnxruntime {m['onnxruntime']}." + _blas_text(m)
           + (f" Load average (1 min) {m['loadavg_start'][0]:.1f} at the start, "
              f"{m['loadavg_end'][0]:.1f} at the end: the machine is shared, so "
              "absolute times are noisy." if "loadavg_start" in m else ""), "",
           f"Threads: **{m['threads']}** for every engine (OMP/OPENBLAS/MKL_NUM_THREADS "
           "set before numpy is imported, QCC_THREADS for qcc's compiled loops that "
           "split their work; onnxruntime intra_op_num_threads = "
           f"inter_op_num_threads = {m['threads']}, sequential execution). Every time is "
           f"the median of {m['runs']} runs after untimed warm-up runs (two for the "
           "simulator, interpreter and onnxruntime sessions of a model: the simulator "
           "decodes a program's weight tiles on its first run and builds constant-weight "
           "onnxruntime sessions on its second; one for the explore sweep; compiles: "
           "none); every ratio divides two medians from this same invocation, and the "
           "engines compared on a model take turns run by run, in an order that turns "
           "by one place each round (a slow spell of the machine slows them alike, and "
           "none always runs first).", ""]
    if m["quick"]:
        out += ["**Quick mode: shrunken models and fewer runs; these numbers are a smoke "
                "run, not comparable with the targets.**", ""]
    out += ["## 1. Simulator vs onnxruntime int8", "",
            "The simulator (`compiled.run`, bit-exact int8 TPU-v1 simulation) against "
            "onnxruntime running the same model quantized by its own `quantize_static` "
            "(QDQ, int8 activations and weights, per-channel, min-max, calibrated on the "
            "same images). Inputs: the calibration images, as one batch, or for a "
            "batch-1 model images one by one (every engine the same way; the encoder: "
            "one batch of token ids, attention mask and token types). The "
            "simulator's default matrix engine is onnxruntime's MatMulInteger "
            "(`engine='auto'`); the numpy engine (float32 products, the reference) is "
            "shown beside it.", "",
            "| model | input | qcc simulator (s) | ORT int8 (s) | ratio | target | status "
            "| numpy engine (s) | ratio |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in res["models"]:
        out.append(f"| {r['model']} | {_input_text(r)} | "
                   f"{r['simulator_s']['median']:.3f} | {r['ort_int8_s']['median']:.4f} | "
                   f"{_fmt_v(r['simulator'])} | {r['simulator_numpy_s']['median']:.3f} | "
                   f"{r['simulator_numpy']['value']:.2f}x |")
    out += ["", "The simulator's untimed first and second runs (a fresh program: tile "
            "decoding, then constant-weight sessions), against its timed median: " +
            "; ".join(f"{r['model']} {r['simulator_s']['warmup'][0]:.3f} s, "
                      f"{r['simulator_s']['warmup'][1]:.3f} s, median "
                      f"{r['simulator_s']['median']:.3f} s"
                      for r in res["models"] if len(r['simulator_s'].get('warmup', [])) > 1)
            + "."]
    out += ["", "## 2. FP32 interpreter vs onnxruntime FP32", "",
            "`qcc.run` on the graph calibration interprets (the model after "
            f"`{CALIBRATION_GRAPH}`, batch norm folded as onnxruntime folds it) and on the "
            "graph as imported, against onnxruntime FP32 on the ONNX model. Last "
            "columns: the same calibration graph on qcc's optional onnxruntime engine "
            "(`qcc.run(..., engine=\"onnxruntime\")`, `qcc run --engine onnxruntime`: the "
            "graph exported and run in a session built once, qcc/ort_float.py; equal to "
            "the interpreter up to the last bits of float sums).", "",
            "| model | input | calibration graph (s) | ORT FP32 (s) | ratio | target "
            "| status | as imported (s) | ratio | status | onnxruntime engine (s) | ratio "
            "| status |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def status(v: dict) -> str:
        return "met" if v["met"] else f"**missed by {v['miss_factor']:.2f}x**"

    for r in res["models"]:
        raw = r["interpreter_raw"]
        ort = r.get("interpreter_ort")
        out.append(f"| {r['model']} | {_input_text(r)} | "
                   f"{r['interpreter_s']['median']:.3f} | {r['ort_fp32_s']['median']:.4f} | "
                   f"{_fmt_v(r['interpreter'])} | {r['interpreter_raw_s']['median']:.3f} | "
                   f"{raw['value']:.2f}x | {status(raw)} | "
                   + (f"{r['interpreter_ort_s']['median']:.3f} | {ort['value']:.2f}x | "
                      f"{status(ort)} |" if ort else "- | - | - |"))
    out += ["", "Calibration's pass over the data (`Collector.add_batch`: the forward "
            "pass and the statistics, min, max and histogram, of every activation) with "
            "the interpreter (the default) and with the onnxruntime engine "
            "(`--calibration-engine onnxruntime`: the float graph exported with every "
            "activation as an output; docs/calibration.md), against onnxruntime FP32's "
            "plain run:", "",
            "| model | input | interpreter engine (s) | ratio | target | status | "
            "onnxruntime engine (s) | ratio | target | status |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["models"]:
        if "calibration_numpy" not in r:
            continue
        cn, co = r["calibration_numpy"], r["calibration_ort"]
        fell = r.get("calibration_ort_fallback")
        out.append(f"| {r['model']} | {_input_text(r)} | "
                   f"{r['calibration_numpy_s']['median']:.3f} | {_fmt_v(cn)} | "
                   + (f"{r['calibration_ort_s']['median']:.3f} | {_fmt_v(co)} |" if not fell
                      else f"(fell back to the interpreter: {fell}) | | | |"))
    out += ["", "Ratios of the fastest runs (less disturbed by other load; not the "
            "official figure): " + "; ".join(
                f"{r['model']} simulator "
                f"{r['simulator_s']['min'] / r['ort_int8_s']['min']:.2f}x, interpreter "
                f"{r['interpreter_s']['min'] / r['ort_fp32_s']['min']:.2f}x"
                for r in res["models"]) + "."]
    c = res["compile"]
    out += ["", "## 3. Compile time and memory", "",
            f"Full `qcc.compile` of ResNet-50 ({'x'.join(map(str, c['input']))}: ONNX "
            f"import, calibration on {c.get('calibration_images', 8)} images, "
            "quantization, folding, lowering, emission) against onnxruntime's "
            "`quantize_static` of the same model on the same images (QDQ, per-channel).",
            "",
            "| measure | qcc | onnxruntime | value | target | status |",
            "|---|---|---|---|---|---|",
            f"| compile time (s) | {c['qcc_compile_s']['median']:.2f} | "
            f"{c['ort_quantize_static_s']['median']:.2f} | "
            f"{_fmt_v(c['seconds'], ' s')} |",
            f"| compile / quantize_static | | | {_fmt_v(c['ratio'])} |",
            f"| peak RSS of the compile (GB) | | | {_fmt_v(c['peak_rss_gb'], ' GB')} |",
            "", f"Peak memory: {c['peak_method']} (`/proc/self/status`; it includes "
            "Python, numpy, onnx and the model).", ""]
    d = res["depth"]
    out += ["### Compile time vs depth", "",
            f"ResNet-50-shaped models with 1x, 2x, 4x the bottleneck blocks per stage, "
            f"input {'x'.join(map(str, d['input']))}, width {d['width']} (built in "
            "perf.py with the zoo's onnx.helper builder). Per-node cost relative to 1x "
            "stays near (or below) 1 if compile time is linear in depth; the minimum of "
            "the runs is shown too because it is the least disturbed by other load.", "",
            "| scale | blocks | ONNX nodes | compile, median (s) | compile, min (s) "
            "| s/node vs 1x (median) | s/node vs 1x (min) |",
            "|---|---|---|---|---|---|---|"]
    r0 = d["rows"][0]
    for r in d["rows"]:
        c, c0 = r["compile_s"], r0["compile_s"]
        mn = (c.get("min", c["median"]) / r["nodes"]) / (c0.get("min", c0["median"])
                                                           / r0["nodes"])
        out.append(f"| {r['scale']}x | {r['blocks']} | {r['nodes']} | "
                   f"{c['median']:.2f} | {c.get('min', c['median']):.2f} | "
                   f"{r['s_per_node_vs_1x']:.2f} | {mn:.2f} |")
    out += ["", f"Least-squares line through the medians: {d['fit_intercept_s']:.2f} s + "
            f"{d['fit_s_per_node'] * 1e3:.2f} ms per node; largest relative residual "
            f"{d['max_rel_residual'] * 100:.1f}%.", ""]
    e = res["explore"]
    out += ["## 4. Explore throughput", "",
            f"`qcc.explore` of `examples/models/digits_cnn.onnx` (calibration "
            f"`digits_calib.npz`, evaluation `digits_eval.npz`), {e['configurations']} "
            "configurations (2 granularities x 4 methods), target tpu-v1, batch 1, default "
            "jobs.", "",
            "| measure | value | target | status |", "|---|---|---|---|",
            f"| full explore (s) | {_fmt_v(e['seconds'], ' s')} |", ""]
    profiles = []
    for r in res["models"]:
        for key in ("simulator", "interpreter"):
            if f"{key}_profile" in r:
                profiles.append((f"{key} on {r['model']}", r[f"{key}_profile"]))
    if "profile" in c:
        profiles.append(("qcc.compile of ResNet-50", c["profile"]))
    if "profile" in e:
        profiles.append(("qcc.explore", e["profile"]))
    out += ["## Where the time goes (missed targets)", ""]
    if res.get("findings"):
        out += res["findings"] + [""]
    if not profiles:
        out += ["Every target is met; no profiles.", ""]
    for title, text in profiles:
        out += [f"### {title}", "", "cProfile, one run, top functions by cumulative time:",
                "", "```", text, "```", ""]
    return "\n".join(out)


def run_all(quick: bool, runs: int, threads: int, work: Path, profile: bool = True,
            log: Callable[[str], None] = print, blas_kernel_from_env: bool = False) -> dict:
    import onnxruntime

    if quick:
        res_, width = 32, 0.25
        specs = {"resnet50_b8": (zoo.resnet50, dict(batch=8, resolution=res_, width=width)),
                 "mobilenet_v2_b8": (zoo.mobilenet_v2, dict(batch=8, resolution=res_,
                                                            width=width)),
                 "mobilenet_v3_small": (zoo.mobilenet_v3_small,
                                        dict(batch=1, resolution=res_, width=width)),
                 "vgg16": (zoo.vgg16, dict(batch=1, resolution=res_, width=0.125)),
                 "mlp_large": (zoo.mlp_large, dict(batch=200, width=256))}
        encoder = dict(layers=2, hidden=64, heads=2, intermediate=128, vocab=1000,
                       max_positions=64)
        sequence = 16
        depth = dict(scales=[1, 2, 4], batch=1, resolution=32, width=0.25)
    else:
        specs = {"resnet50_b8": (zoo.resnet50, dict(batch=8, resolution=224)),
                 "mobilenet_v2_b8": (zoo.mobilenet_v2, dict(batch=8, resolution=224)),
                 # at batch 8 its 8x16x112x112 stem output (25.7 MB) does not fit the
                 # Unified Buffer and tpu-tile-ub finds no split: 8 images one by one
                 "mobilenet_v3_small": (zoo.mobilenet_v3_small,
                                        dict(batch=1, resolution=224)),
                 "vgg16": (zoo.vgg16, dict(batch=1, resolution=224)),
                 "mlp_large": (zoo.mlp_large, dict())}
        # all-MiniLM-L6-v2's shape: 6 layers, hidden 384, 12 heads, FFN 1536, its
        # vocabulary; seeded weights (examples/bert.py: the exporter's graph)
        encoder = dict(layers=6, hidden=384, heads=12, intermediate=1536, vocab=30522,
                       max_positions=512)
        sequence = 32
        depth = dict(scales=[1, 2, 4], batch=8, resolution=96, width=1.0)
    paths = {n: build_model(b, work / f"{n}.onnx", **kw) for n, (b, kw) in specs.items()}
    #: VGG-16 at 224 takes 15.5 GMACs an image: 2 images one by one (not 8)
    cases = {n: image_case(p, images=2 if n == "vgg16" else None) for n, p in paths.items()}
    enc_name = f"minilm_s{sequence}"
    enc_path = build_model(bert.build_bert, work / f"{enc_name}.onnx", **encoder)
    cases[enc_name] = encoder_case(enc_path, 8, sequence, encoder["vocab"])
    res = {"meta": {"quick": quick, "runs": runs, "threads": threads,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": platform.machine(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "onnxruntime": onnxruntime.__version__, "targets": TARGETS,
                    "blas_kernel": blas_kernel(), "openblas_coretype_env": _FORCED_KERNEL,
                    "blas_kernel_from_env": blas_kernel_from_env,
                    "loadavg_start": os.getloadavg()},
           "models": []}
    for n, case in cases.items():
        log(f"perf: {n}: simulator / interpreter vs onnxruntime")
        res["models"].append(bench_model(n, case, runs, threads, work, profile))
    log("perf: ResNet-50 compile time and memory")
    res["compile"] = bench_compile(paths["resnet50_b8"], runs, threads, work, profile)
    log("perf: compile time vs depth")
    res["depth"] = bench_depth(depth["scales"], depth["batch"], depth["resolution"],
                               1 if quick else min(runs, 3), work, depth["width"])
    log("perf: explore")
    res["explore"] = bench_explore(runs, profile)
    res["meta"]["loadavg_end"] = os.getloadavg()
    return res


def compile_only(runs: int, threads: int, quick: bool,
                 target: Path = RESULTS.parent / "perf_compile.json") -> int:
    """ResNet-50 at 224x224 (32x32 at width 0.25 with --quick), batch 1 and batch 8: the
    compile (calibration on the same 8 images) against onnxruntime's quantize_static,
    and the peak memory of one compile in a fresh process. At batch 8 the activations
    do not fit the Unified Buffer: tpu-tile-ub spills and bands them."""
    kw = dict(resolution=32, width=0.25) if quick else dict(resolution=224)
    out = {"meta": {"quick": quick, "runs": runs, "threads": threads,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
                    "targets": {k: TARGETS[k] for k in ("compile_seconds",
                                                         "compile_ratio",
                                                         "compile_peak_gb")}}}
    with tempfile.TemporaryDirectory(prefix="qcc-perf-") as tmp:
        for batch in (1, 8):
            path = build_model(zoo.resnet50, Path(tmp) / f"resnet50_b{batch}.onnx",
                               batch=batch, **kw)
            print(f"perf: ResNet-50 batch {batch}: compile time and memory", flush=True)
            out[f"resnet50_b{batch}"] = bench_compile(path, runs, threads, Path(tmp),
                                                     profile=False)
    out["meta"]["loadavg_end"] = os.getloadavg()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=1) + "\n")
    for key in ("resnet50_b1", "resnet50_b8"):
        r = out[key]
        print(f"{key}: input {r['input']}: qcc compile median "
              f"{r['qcc_compile_s']['median']:.1f} s ({runs} runs), onnxruntime "
              f"quantize_static {r['ort_quantize_static_s']['median']:.1f} s, ratio "
              f"{r['ratio']['value']:.2f}; peak {r['peak_rss_gb']['value']:.2f} GB")
    print(f"perf: wrote {target}")
    return 0


def _write_doc(path: Path, text: str) -> None:
    """Write the page, keeping the section that benchmarks/ir_parse.py --doc put at its end."""
    marker = "<!-- ir_parse.py:"
    old = path.read_text() if path.exists() else ""
    keep = "\n" + old[old.index(marker):] if marker in old else ""
    path.write_text(text + "\n" + keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, 3 runs")
    parser.add_argument("--runs", type=int, default=None, help="timed runs (default 5, "
                        "3 with --quick)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for numpy's BLAS and onnxruntime (default 2)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--blas-kernel-from-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE from the environment (by default it is "
                             "removed, so that numpy's OpenBLAS uses the CPU's own kernel)")
    parser.add_argument("--json", default=None,
                        help="results (default: benchmark-results/perf.json)")
    parser.add_argument("--doc", default=None,
                        help="the page (default: benchmark-results/performance.md)")
    parser.add_argument("--update-docs", action="store_true",
                        help="write the tracked benchmarks/results/perf*.json and "
                             "docs/performance.md")
    parser.add_argument("--findings", default=None,
                        help="a markdown file of hand-written profile findings to include")
    parser.add_argument("--render-only", action="store_true",
                        help="re-render the markdown from an existing --json (default: the "
                             "tracked perf.json; no measuring)")
    parser.add_argument("--compile-only", action="store_true",
                        help="only ResNet-50 at 224x224's compile time and peak memory, at "
                             "batch 1 and batch 8 (written to perf_compile.json beside "
                             "the results; the full run's files are left alone)")
    parser.add_argument("--compile-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scratch = Path("benchmark-results")
    source = args.json or str(RESULTS)  # what --render-only reads
    args.json = args.json or str(RESULTS if args.update_docs else scratch / RESULTS.name)
    args.doc = args.doc or str(DOC if args.update_docs else scratch / DOC.name)
    if args.compile_child:
        _compile_child(args.compile_child)
        return 0
    if args.compile_only:
        return compile_only(args.runs or (3 if args.quick else 5), args.threads, args.quick,
                            Path(args.json).parent / "perf_compile.json")
    Path(args.doc).parent.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        res = json.loads(Path(source).read_text())
        if args.findings:
            res["findings"] = Path(args.findings).read_text().rstrip().splitlines()
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        _write_doc(Path(args.doc), markdown(res))
        print(f"perf: wrote {args.doc}")
        return 0
    runs = args.runs or (3 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="qcc-perf-") as tmp:
        res = run_all(args.quick, runs, args.threads, Path(tmp), not args.no_profile,
                      blas_kernel_from_env=args.blas_kernel_from_env)
    if args.findings:
        res["findings"] = Path(args.findings).read_text().rstrip().splitlines()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    _write_doc(Path(args.doc), markdown(res))
    print(f"perf: wrote {args.json} and {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
