"""The real MiniLM sentence encoder: embedding quality and latency, in one command.

    python benchmarks/transformers_report.py          # benchmark-results/transformers.md
                                                      # and benchmark-results/transformers.json
    python benchmarks/transformers_report.py --update-docs  # docs/transformers.md and
                                                      # benchmarks/results/transformers.json
    python benchmarks/transformers_report.py --dir DIR --runs 5
    python benchmarks/transformers_report.py --doc-only   # the markdown from the JSON

Results go to ``benchmark-results/`` in the current directory (git-ignored) unless
``--update-docs`` (the tracked files above) or ``--json`` / ``--doc`` name the files;
``--doc-only`` and ``--fp32-check`` read the tracked results unless ``--json`` is given.

It needs the exported model (``examples/minilm.py``: PyTorch in a separate venv; run
it first, or this script runs it when PyTorch is importable) and onnxruntime. The
model directory defaults to ``~/.cache/qcc/minilm`` (``QCC_MINILM_DIR``). The figures
in docs/transformers.md were made in the export venv with qcc installed into it
(``pip install -e . --no-deps; pip install lark``): onnxruntime's ``quant_pre_process``
needs sympy, which PyTorch brings; without it that row reports onnxruntime's error.

Every row is a way of running the encoder on the evaluation sentences (600 real
sentences, sequence length 32), compared with onnxruntime FP32 on the same inputs:

- **embedding quality**: sentence embeddings are mean-pooled over the attention mask
  and L2-normalised (as sentence-transformers does); the *mean (and minimum) cosine*
  similarity to the FP32 embedding of the same sentence, and *nearest-neighbour
  agreement*: for each sentence, the most similar other evaluation sentence under
  FP32 and under the row's model; the share of sentences where the two agree;
- **latency**: onnxruntime on the CPU, one sentence per call (batch 1, one thread),
  the median over ``--runs`` passes x ``--latency-sentences`` sentences of the time
  of a call (the models take turns, pass by pass); for qcc rows, the simulated
  latency.

The rows: onnxruntime's ``quantize_static`` with its defaults (QDQ, int8, MinMax
calibration on the 100 calibration sentences), the same after its ``quant_pre_process``,
the same with only MatMul nodes quantized, and ``quantize_dynamic`` per channel and
per tensor (int8 weights, activations quantized at run time: not something a TPU can
run, for comparison);
then qcc: every granularity x calibration method (x mixed precision, when
``qcc.compile`` has it) of ``QCC_CONFIGS``. A qcc configuration that fails reports
qcc's error. To add a row of your own, give ``evaluate_row`` a callable from the
evaluation inputs ({name: int64 [N, 32]}) to embeddings [N, 384].
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import inspect
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import minilm  # noqa: E402

DOC = ROOT / "docs" / "transformers.md"
RESULTS = ROOT / "benchmarks" / "results" / "transformers.json"
COMMAND = "python benchmarks/transformers_report.py --update-docs"
TARGET = "tpu-v1"

#: an embedder: the evaluation inputs ({name: int64 [N, T]}) -> embeddings [N, H]
Embedder = Callable[[Mapping[str, np.ndarray]], np.ndarray]

#: the qcc configurations of the report: keyword arguments of ``qcc.compile``
#: (weight granularity x calibration method; then outlier channels, mixed precision)
QCC_CONFIGS: list[dict[str, Any]] = [
    {"granularity": g, "method": m}
    for g in ("per-channel", "per-tensor") for m in ("minmax", "percentile", "entropy", "mse")
] + [{"granularity": "per-channel", "method": m, "outlier_channels": True}
     for m in ("minmax", "percentile", "entropy", "mse")
     ] + [{"granularity": "per-channel", "method": "minmax", "mixed_precision": "auto"},
          {"granularity": "per-channel", "method": "minmax", "mixed_precision": "auto",
           "outlier_channels": True}
          ] + [{"granularity": "per-channel", "method": "mse", "outlier_channels": True,
                "exclude": names} for names in (
              # which layers hold it back: the FFN's GELU output (the down-projection
              # then runs on the host), and the attention core's scores, probabilities
              # and context (host ops either way)
              tuple(f"/bert/encoder/layer.{k}/intermediate/intermediate_act_fn/"
                    "Mul_1_output_0" for k in range(6)),
              tuple(f"/bert/encoder/layer.{k}/attention/self/{t}_output_0"
                    for k in range(6) for t in ("MatMul", "Mul", "Softmax", "MatMul_1")))]
#: issue 16's target for the mean cosine to the FP32 embeddings
TARGET_COSINE = 0.99
#: the targets whose simulated latency per sentence the report gives
TARGETS = ("tpu-v1", "tpu-v1-gddr5", "tpu-v1-hbm")
#: sentences on which each qcc binary is checked bit-exact against the integer IR
SPOT_SENTENCES = 5


# --- rows ------------------------------------------------------------------------------

#: absolute paths written as their file names in errors (set to the model's directory)
_PATHS: list[str] = []


def _relative(text: str) -> str:
    """``text`` without this machine's paths: the model's directory, this checkout and
    the Python installation's (site-packages/...) are left out."""
    # the longest first: a checkout inside the temporary folder loses its own path,
    # not just the temporary folder's
    for path in sorted([*_PATHS, str(ROOT)], key=len, reverse=True):
        text = text.replace(path.rstrip("/") + "/", "")
    text = re.sub(r"/[^\s\"']*/(site|dist)-packages/", "", text)
    return re.sub(r"/[^\s\"']*/lib/python3[.\d]*/", "", text)


def error_line(e: BaseException, qcc: bool = True) -> str:
    """The first line of an error: a ``QccError`` as qcc prints it, else with its type
    (and, from qcc, called an internal error)."""
    from qcc import QccError

    text = _relative(str(e).strip())
    first = text.splitlines()[0] if text else ""
    if isinstance(e, QccError):
        return first
    return f"{'internal error: ' if qcc else ''}{type(e).__name__}: {first}"


def error_problems(e: BaseException) -> dict[str, int]:
    """The problems a multi-line qcc error lists (its ``error: ...`` lines after the
    first), with node and input names taken out, and how many times each occurs."""
    lines = _relative(str(e)).splitlines()[1:]
    problems: collections.Counter[str] = collections.Counter()
    for line in lines:
        line = line.strip()
        if not line.startswith("error: "):
            continue
        line = line[len("error: "):]
        line = re.sub(r"ONNX node '[^']*' \((\w+)\): ", r"\1: ", line)
        line = re.sub(r"ONNX input '[^']*': graph input '[^']*' ", "a graph input ", line)
        problems[line] += 1
    return dict(problems.most_common())


def evaluate_row(name: str, group: str, embedder: Embedder, reference: np.ndarray,
                 inputs: Mapping[str, np.ndarray], latency_s: Callable[[], float] | None = None,
                 **extra: Any) -> dict[str, Any]:
    """One row: ``embedder``'s embeddings of ``inputs`` against ``reference`` (the FP32
    embeddings), and ``latency_s()`` (seconds per sentence), if given. An exception in
    either is the row's ``error`` (its first line), not a crash of the report."""
    row: dict[str, Any] = {"name": name, "group": group, **extra}
    try:
        t0 = time.perf_counter()
        got = np.asarray(embedder(inputs))
        row["embed_s"] = round(time.perf_counter() - t0, 2)
        if got.shape != reference.shape:
            raise ValueError(f"embeddings of shape {got.shape}, expected {reference.shape}")
        row.update({k: round(v, 6) for k, v in minilm.compare(reference, got).items()})
        if latency_s is not None:
            row["latency_ms"] = round(latency_s() * 1e3, 3)
    except Exception as e:
        row["error"] = error_line(e, qcc=group == "qcc")
        if not isinstance(e, _qcc_error()):
            row["where"] = _relative(traceback.format_exc(limit=-1).splitlines()[1].strip())
    return row


def _qcc_error() -> type:
    from qcc import QccError

    return QccError


# --- onnxruntime -------------------------------------------------------------------------

def ort_session(path: Path | str, threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_embedder(path: Path | str, batch: int = 50) -> Embedder:
    """onnxruntime on ``path`` (batches of ``batch`` sentences), pooled and normalised."""
    session = ort_session(path, threads=os.cpu_count() or 1)

    def run(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        hidden = np.concatenate([session.run(None, dict(b))[0]
                                 for b in minilm.batches(inputs, batch)])
        return minilm.embed(hidden, inputs["attention_mask"])

    return run


def ort_latencies(paths: Mapping[str, Path | str], inputs: Mapping[str, np.ndarray],
                  sentences: int, runs: int) -> dict[str, float]:
    """Seconds per sentence of onnxruntime on each model (name -> path), on one CPU
    thread at batch 1: every call on each of the first ``sentences`` sentences is timed,
    ``runs`` times, and the median of those calls is the figure. The models take
    turns pass by pass, so a burst of load on a shared machine hits them alike."""
    sessions = {name: ort_session(path, threads=1) for name, path in paths.items()}
    feeds = minilm.batches({k: v[:sentences] for k, v in inputs.items()}, 1)
    calls: dict[str, list[float]] = {name: [] for name in sessions}
    for session in sessions.values():  # warm-up
        session.run(None, feeds[0])
    for _ in range(runs):
        for name, session in sessions.items():
            for feed in feeds:
                t0 = time.perf_counter()
                session.run(None, feed)
                calls[name].append(time.perf_counter() - t0)
    return {name: statistics.median(times) for name, times in calls.items()}


class _Calibration:
    """onnxruntime's CalibrationDataReader over the calibration sentences, one each."""

    def __init__(self, inputs: Mapping[str, np.ndarray]) -> None:
        self._feeds = iter(minilm.batches(inputs, 1))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # not needed by MinMax; here for newer readers' protocol
        pass


def ort_quantized_models(model: Path, calib: Mapping[str, np.ndarray], work: Path,
                         ) -> list[tuple[str, str, Path | Exception]]:
    """(name, settings, path or the error) of each onnxruntime quantization."""
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    def reader() -> Any:
        from onnxruntime.quantization import CalibrationDataReader

        class Reader(_Calibration, CalibrationDataReader):
            pass

        return Reader(calib)

    model, work = Path(model).resolve(), Path(work).resolve()
    notes: dict[str, str] = {}

    def pre_process() -> Path:
        """quant_pre_process with its defaults; if they fail, with auto_merge=True."""
        pre = work / "pre.onnx"
        # it writes temporary files into the current directory: keep them in ``work``
        with contextlib.chdir(work):
            try:
                quant_pre_process(str(model), str(pre))
            except Exception as e:
                notes["pre"] = (f"quant_pre_process with its defaults fails "
                                f"({error_line(e, qcc=False)}); with auto_merge=True")
                quant_pre_process(str(model), str(pre), auto_merge=True)
        return pre

    jobs: list[tuple[str, str, Callable[[Path], None]]] = [
        ("ort quantize_static, defaults",
         "QDQ, int8 activations and weights, per tensor, MinMax on the calibration sentences",
         lambda out: quantize_static(str(model), str(out), reader())),
        ("ort quantize_static, defaults, pre-processed",
         "the same after onnxruntime's quant_pre_process (shape inference, graph "
         "optimization), which its quantize_static warns it recommends",
         lambda out: quantize_static(str(pre_process()), str(out), reader())),
        ("ort quantize_static, MatMul only",
         'the same with op_types_to_quantize=["MatMul"]',
         lambda out: quantize_static(str(model), str(out), reader(),
                                     op_types_to_quantize=["MatMul"])),
        ("ort quantize_dynamic, per channel",
         "int8 weights per channel, activations quantized at run time",
         lambda out: quantize_dynamic(str(model), str(out), per_channel=True,
                                      weight_type=QuantType.QInt8)),
        ("ort quantize_dynamic, per tensor",
         "int8 weights per tensor, activations quantized at run time",
         lambda out: quantize_dynamic(str(model), str(out), per_channel=False,
                                      weight_type=QuantType.QInt8)),
    ]
    results: list[tuple[str, str, Path | Exception]] = []
    for i, (name, settings, job) in enumerate(jobs):
        out = work / f"ort_{i}.onnx"
        try:
            job(out)
            if "pre-processed" in name and "pre" in notes:
                settings = f"{settings}: {notes['pre']}"
            results.append((name, settings, out))
        except Exception as e:
            results.append((name, settings, e))
    return results


def largest_scales(path: Path | str, count: int = 3) -> list[dict[str, Any]]:
    """The ``count`` largest scales of a QDQ model's QuantizeLinear nodes (activations:
    weights are stored quantized, with no QuantizeLinear), and the tensors they quantize."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name: i for i in model.graph.initializer}
    found = []
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[1] in inits:
            scale = numpy_helper.to_array(inits[n.input[1]])
            found.append({"tensor": n.input[0], "scale": float(np.max(scale))})
    return sorted(found, key=lambda f: -f["scale"])[:count]


# --- qcc -----------------------------------------------------------------------------------

def qcc_input_shapes(inputs: Mapping[str, np.ndarray]) -> dict[str, tuple[int, int]]:
    return {name: (1, v.shape[1]) for name, v in inputs.items()}


def qcc_embedder(compiled: Any) -> Embedder:
    """A compiled qcc model's integer program, run one sentence at a time by qcc's IR
    interpreter (the binary is bit-exact with it: checked on SPOT_SENTENCES sentences
    per configuration by :func:`qcc_rows`; the simulator takes longer per sentence)."""
    from qcc.interpreter import run as run_ir

    def run(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        hidden = [next(iter(run_ir(compiled.module, dict(b)).values()))
                  for b in minilm.batches(inputs, 1)]
        return minilm.embed(np.concatenate(hidden), inputs["attention_mask"])

    return run


def qcc_placement(compiled: Any) -> dict[str, Any]:
    """Where the work runs: MatMuls by a constant on the matrix unit or the host, the
    matrix unit's share of all MACs, host segments, per-channel and float tensors."""
    from qcc.backends.tpu_v1 import dialect as tpu

    ops = compiled.tpu_module.main.ops
    host_dense = sum(1 for op in ops if op.name in ("nn.dense", "quant.dense"))
    program = compiled.program
    mxu = float(compiled.estimate().total.useful_macs)
    host = float(sum(i.products for i in program.instructions if i.op == "host_call"))
    return {"mxu_matmuls": sum(1 for op in ops if isinstance(op, tpu.MatmulOp)),
            "host_dense": host_dense, "mxu_mac_share": round(mxu / max(mxu + host, 1.0), 4),
            "host_segments": len(program.segments),
            "per_channel_tensors": len(getattr(compiled, "outlier_channels", None) or []),
            "kept_float": len(getattr(compiled, "kept_float", None) or {})}


def qcc_rows(model: Path, calib: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
             reference: np.ndarray, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row per configuration qcc.compile takes; the import is tried first, once:
    if it fails, one row says so and the compile configurations are not tried."""
    import qcc
    from qcc.backends.tpu_v1.runtime import run_program
    from qcc.interpreter import run as run_ir

    if not configs:
        return []
    shapes = qcc_input_shapes(inputs)
    t0 = time.perf_counter()
    try:
        qcc.import_onnx(str(model), input_shapes=shapes)
    except Exception as e:
        return [{"name": "qcc import", "group": "qcc", "stage": "import",
                 "settings": f"qcc.import_onnx (qcc.compile imports first) with "
                             f"input_shapes={shapes}",
                 "error": error_line(e), "problems": error_problems(e),
                 "seconds": round(time.perf_counter() - t0, 2)}]
    params = inspect.signature(qcc.compile).parameters
    rows = []
    for config in configs:
        label = ", ".join(f"{k}={v}" if k != "exclude" else
                          f"exclude={len(v)} tensors ({v[0].rsplit('/', 1)[-1]}, ...)"
                          for k, v in config.items())
        if any(k not in params for k in config):
            missing = [k for k in config if k not in params]
            rows.append({"name": f"qcc {label}", "group": "qcc", "config": config,
                         "stage": "compile",
                         "error": f"qcc.compile has no argument {', '.join(missing)} yet"})
            continue
        t0 = time.perf_counter()
        try:
            compiled = qcc.compile(str(model), calib_data=minilm.batches(calib, 1),
                                   input_shapes=shapes, target=TARGET, **config)
        except Exception as e:
            rows.append({"name": f"qcc {label}", "group": "qcc", "config": config,
                         "stage": "compile", "error": error_line(e),
                         "problems": error_problems(e)})
            continue
        compile_s = round(time.perf_counter() - t0, 1)
        extra: dict[str, Any] = {"config": config, "compile_s": compile_s}
        spot = minilm.batches(inputs, 1)[:SPOT_SENTENCES]
        extra["bit_exact_sentences"] = sum(
            all(np.array_equal(a, b) for a, b in zip(
                run_program(compiled.program, b).values(),
                run_ir(compiled.module, b).values(), strict=True)) for b in spot)
        extra["spot_sentences"] = len(spot)
        try:
            timing = compiled.estimate()
            split = timing.split_s()
            extra.update(simulated_latency_ms=round(float(timing.latency_s) * 1e3, 4),
                         tpu_ms=round(split["tpu"] * 1e3, 4),
                         host_ms=round(split["host"] * 1e3, 4),
                         pcie_ms=round(split["pcie"] * 1e3, 4),
                         latency_ms_by_target={
                             t: round(float(compiled.estimate(t).latency_s) * 1e3, 4)
                             for t in TARGETS},
                         split_ms_by_target={
                             t: {k: round(v * 1e3, 4)
                                 for k, v in compiled.estimate(t).split_s().items()}
                             for t in TARGETS},
                         inferences_per_s_per_w=round(float(
                             timing.inferences_per_s_per_w), 1))
            extra.update(qcc_placement(compiled))
        except Exception as e:
            extra["timing_error"] = error_line(e)
        if getattr(compiled, "mixed_precision", None) is not None:
            extra["mixed_kept"] = list(compiled.mixed_precision.kept)
        rows.append(evaluate_row(f"qcc {label}", "qcc", qcc_embedder(compiled), reference,
                                 inputs, stage="run", **extra))
        rows[-1]["_compiled"] = compiled
    best = max((r for r in rows if "mean_cosine" in r), key=lambda r: r["mean_cosine"],
               default=None)
    if best is not None:
        best["layer_sqnr"] = layer_sqnr(best["_compiled"], inputs)
    for r in rows:
        r.pop("_compiled", None)
    return rows


def qcc_fp32_check(model: Path, inputs: Mapping[str, np.ndarray], sentences: int = 20
                   ) -> dict[str, Any]:
    """qcc's FP32 interpreter on the imported model against onnxruntime FP32 on the
    first ``sentences`` evaluation sentences (batch 1): the largest absolute
    difference of the last hidden state."""
    import qcc
    from qcc.interpreter import run as run_ir

    session = ort_session(model)
    module = qcc.import_onnx(str(model), input_shapes=qcc_input_shapes(inputs))
    worst = padded = largest = 0.0
    for b in minilm.batches({k: v[:sentences] for k, v in inputs.items()}, 1):
        want = session.run(None, b)[0]
        got = next(iter(run_ir(module, b).values()))
        real = b["attention_mask"][0].astype(bool)
        diff = np.abs(got - want)[0]
        worst = max(worst, float(diff[real].max()))
        if (~real).any():
            padded = max(padded, float(diff[~real].max()))
        largest = max(largest, float(np.abs(want[0][real]).max()))
    return {"sentences": sentences, "max_abs_diff": worst, "max_abs_value": largest,
            "max_abs_diff_padded": padded}


def layer_sqnr(compiled: Any, inputs: Mapping[str, np.ndarray], sentences: int = 20
               ) -> list[dict[str, Any]]:
    """qcc's per-layer SQNR report (fake-quantized and integer against float) on the
    first ``sentences`` evaluation sentences, one sentence per batch."""
    from qcc.quant_report import quant_error_report

    batches = minilm.batches({k: v[:sentences] for k, v in inputs.items()}, 1)
    report = quant_error_report(compiled.float_module, compiled.fake_quant_module,
                                compiled.module, batches)
    return report.to_json()["layers"]


# --- the model's graph ---------------------------------------------------------------------

def _json_float(v: float) -> float | str:
    return v if np.isfinite(v) else str(v)  # "-inf": JSON has no infinities


def graph_inventory(path: Path | str) -> dict[str, Any]:
    """Op types, opset, inputs/outputs and what is not float in the exported graph."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    dtype = onnx.TensorProto.DataType.Name

    def value_info(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        return {"name": v.name, "dtype": dtype(t.elem_type).lower(),
                "shape": [d.dim_param or d.dim_value for d in t.shape.dim]}

    users: dict[str, list[Any]] = collections.defaultdict(list)
    for n in g.node:
        for name in n.input:
            users[name].append(n)

    def used_by(names: list[str]) -> dict[str, int]:
        return dict(collections.Counter(u.op_type for name in names for u in users[name]))

    constants: collections.Counter[str] = collections.Counter()
    sentinels = []
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "Constant" and a.name == "value":
                constants[dtype(a.t.data_type).lower()] += 1
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == onnx.TensorProto.FLOAT:
                arr = numpy_helper.to_array(a.t)
                if arr.size and (not np.isfinite(arr).all() or np.abs(arr).max() > 1e30):
                    # who reads it, and who reads what they make (the mask's path)
                    first = [u for name in n.output for u in users[name]]
                    sentinels.append({"node": n.name, "op": n.op_type,
                                      "value": _json_float(float(arr.ravel()[0])),
                                      "used_by": used_by(list(n.output)),
                                      "then_by": used_by([o for u in first for o in u.output])})
    init_types = collections.Counter(dtype(i.data_type).lower() for i in g.initializer)
    return {
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "nodes": len(g.node),
        "op_types": dict(collections.Counter(n.op_type for n in g.node).most_common()),
        "inputs": [value_info(v) for v in g.input],
        "outputs": [value_info(v) for v in g.output],
        "initializers": dict(init_types),
        "weights": int(sum(int(np.prod(i.dims)) for i in g.initializer
                           if i.data_type == onnx.TensorProto.FLOAT)),
        "constant_nodes": dict(constants),
        "mask_sentinels": sentinels,
    }


# --- the report -----------------------------------------------------------------------------

def build(directory: Path, runs: int, latency_sentences: int,
          configs: list[dict[str, Any]]) -> dict[str, Any]:
    _PATHS[:] = [str(Path(directory).resolve()), str(directory), tempfile.gettempdir()]
    model_path, data_path, meta = minilm.ensure(directory)
    calib = minilm.load_inputs(data_path, "calib")
    inputs = minilm.load_inputs(data_path, "eval")
    import onnxruntime

    fp32_embed = ort_embedder(model_path)
    reference = fp32_embed(inputs)
    rows = [evaluate_row("onnxruntime FP32", "reference", fp32_embed, reference, inputs,
                         settings="the exported model as is")]
    timed = {rows[0]["name"]: model_path}
    with tempfile.TemporaryDirectory(prefix="qcc-minilm-") as tmp:
        for name, settings, result in ort_quantized_models(model_path, calib, Path(tmp)):
            if isinstance(result, Exception):
                rows.append({"name": name, "group": "onnxruntime", "settings": settings,
                             "error": error_line(result, qcc=False)})
                continue
            rows.append(evaluate_row(name, "onnxruntime", ort_embedder(result), reference,
                                     inputs, settings=settings))
            if "quantize_static" in name:
                rows[-1]["largest_activation_scales"] = largest_scales(result)
            if "error" not in rows[-1]:
                timed[name] = result
        latencies = ort_latencies(timed, inputs, latency_sentences, runs)
    for row in rows:
        if row["name"] in latencies:
            row["latency_ms"] = round(latencies[row["name"]] * 1e3, 3)
    rows += qcc_rows(model_path, calib, inputs, reference, configs)
    import qcc

    fp32 = qcc_fp32_check(model_path, inputs) if configs else None

    return {
        "model": {k: meta[k] for k in ("source", "sha256", "bytes", "export", "versions")},
        "data": {k: v for k, v in meta["data"].items() if k != "file"},
        "export_check": meta.get("check"),
        "graph": graph_inventory(model_path),
        "latency": {"runs": runs, "sentences": latency_sentences, "threads": 1, "batch": 1,
                    "onnxruntime": onnxruntime.__version__, "machine": platform.machine(),
                    "cpus": os.cpu_count()},
        "qcc": {"version": qcc.__version__, "target": TARGET, "fp32_check": fp32},
        "rows": rows,
    }


def _target_ms(row: dict[str, Any], target: str) -> str:
    """A row's simulated latency on ``target``, with its TPU / host / PCIe split when
    the results have it."""
    total = row.get("latency_ms_by_target", {}).get(target)
    if total is None:
        return ""
    split = row.get("split_ms_by_target", {}).get(target)
    if not split:
        return f"{total}"
    return f"{total:.3f} ({split['tpu']:.3f} / {split['host']:.3f} / {split['pcie']:.3f})"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def _fmt(row: dict[str, Any], key: str, fmt: str) -> str:
    v = row.get(key)
    return "" if v is None else format(v, fmt)


def markdown(report: dict[str, Any]) -> str:
    data, graph, lat = report["data"], report["graph"], report["latency"]
    model = report["model"]
    check = report.get("export_check") or {}
    rows = report["rows"]
    out = [
        "# Transformers: the real MiniLM sentence encoder",
        "",
        f"Generated by `{COMMAND}` (benchmarks/transformers_report.py; do not edit by "
        "hand). The model: `examples/minilm.py` (run it first, in a separate venv with "
        f"`{minilm.PIP_COMMAND}`); the figures come from that venv with qcc installed "
        "into it (`pip install -e . --no-deps`).",
        "",
        "## The model and the data",
        "",
        f"- **Model**: {model['source']}; BERT, 6 layers, hidden 384, 12 heads, "
        f"{graph['weights'] / 1e6:.2f} M weights; exported by "
        f"{model['export']['exporter']} (torch {model['versions']['torch']}, "
        f"transformers {model['versions']['transformers']}), opset "
        f"{model['export']['opset']}, {model['export']['attention']} attention; "
        f"{model['bytes'] / 1e6:.1f} MB, sha256 `{model['sha256'][:16]}...`.",
        f"- **Sentences**: examples/data/sentences.txt, {data['calibration']} to calibrate "
        f"and {data['evaluation']} to evaluate: real English sentences from Python's "
        "documentation (PSF licence; examples/sentences.py), tokenized at sequence length "
        f"{data['sequence_length']} (padded; {data['truncated']} of "
        f"{data['calibration'] + data['evaluation']} truncated; {data['mean_tokens']} "
        "real tokens on average).",
    ]
    if check:
        st = check.get("sentence_transformers_min_cosine")
        out.append(
            f"- **Export check**: onnxruntime FP32 against PyTorch on all {check['sentences']}"
            f" sentences: last hidden state max abs difference "
            f"{check['hidden_max_abs_diff']:.1e} (real tokens), embeddings min cosine "
            f"{check['embedding_min_cosine']:.9f}"
            + (f"; against sentence-transformers' own `encode`: min cosine {st:.9f}"
               if st is not None else "") + ".")
    ops = ", ".join(f"{k} {v}" for k, v in graph["op_types"].items())
    ins = ", ".join(f"`{v['name']}` {v['dtype']} {v['shape']}" for v in graph["inputs"])
    outs = ", ".join(f"`{v['name']}` {v['dtype']} {v['shape']}" for v in graph["outputs"])
    sent = graph["mask_sentinels"]
    out += [
        f"- **Graph**: {graph['nodes']} nodes: {ops}. Inputs {ins}; output {outs}. "
        f"Initializers: {_counts(graph['initializers'])}; Constant nodes: "
        f"{_counts(graph['constant_nodes'])} (no int64 initializer: the int64 data, shape "
        "arithmetic and the position ids, are Constant nodes).",
        "- **Mask**: " + ("; ".join(
            f"`{s['node']}` ({s['op']}) holds {float(s['value']):.8g}, read by "
            f"{_counts(s['used_by'])}, whose output is read by {_counts(s['then_by'])}"
            for s in sent) + " (the padded positions of the additive attention mask, "
            "added to the attention scores)." if sent else "no sentinel constant."),
        "",
        "## Embedding quality and latency",
        "",
        f"Against onnxruntime FP32 on the {data['evaluation']} evaluation sentences. "
        "*Cosine*: of each sentence's embedding to its FP32 embedding (mean pooling over "
        "the attention mask, L2 normalisation). *NN agreement*: share of sentences whose "
        "most similar other sentence is the same as under FP32. *Latency*: "
        f"onnxruntime {lat['onnxruntime']} on the CPU, batch 1, {lat['threads']} thread, "
        f"the median call over {lat['runs']} passes of {lat['sentences']} sentences, "
        "the models taking turns "
        f"({lat['machine']}, {lat['cpus']} CPUs, shared: compare rows with each other, "
        "not with other machines); for qcc rows, the simulated latency on "
        f"`{report['qcc']['target']}`.",
        "",
        "| configuration | mean cosine | min cosine | NN agreement | latency per sentence "
        "(ms) | settings / outcome |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lat_ms = _fmt(r, "latency_ms", ".2f") or _fmt(r, "simulated_latency_ms", ".3f")
        note = f"**fails**: {r['error']}" if "error" in r else r.get("settings", "")
        if r.get("stage") == "import" and "error" in r:
            note = f"**fails at import** ({r['settings']}): {r['error']}"
        nn = r.get("nn_agreement")
        out.append(f"| {r['name']} | {_fmt(r, 'mean_cosine', '.4f')} | "
                   f"{_fmt(r, 'min_cosine', '.4f')} | "
                   f"{'' if nn is None else f'{nn:.1%}'} | {lat_ms} | {note} |")
    scaled = [r for r in rows if r.get("largest_activation_scales")]
    if scaled:
        out += ["", "The largest activation scale in each static model (a scale of s "
                "rounds everything smaller than s/2 to zero):", ""]
        for r in scaled:
            top = r["largest_activation_scales"][0]
            out.append(f"- {r['name']}: {top['scale']:.3g}, on `{top['tensor']}`")
    qcc_rows_ = [r for r in rows if r["group"] == "qcc"]
    failed = [r for r in qcc_rows_ if "error" in r]
    out += ["", "## qcc on the TPU", ""]
    if qcc_rows_ and len(failed) == len(qcc_rows_):
        first = failed[0]
        out.append(f"qcc {report['qcc']['version']} does not run this model: "
                   f"`{first['error']}` (at {first.get('stage', 'compile')}).")
        if first.get("problems"):
            out += ["", "The problems it lists (node names left out):", ""]
            out += [f"- {n} x {p}" for p, n in first["problems"].items()]
        out.append("")
        return "\n".join(out)
    ok = [r for r in qcc_rows_ if "error" not in r]
    fp32 = report["qcc"].get("fp32_check")
    if fp32:
        out += [f"qcc's FP32 interpreter matches onnxruntime FP32 on the first "
                f"{fp32['sentences']} evaluation sentences to {fp32['max_abs_diff']:.2g} "
                f"(largest absolute difference of the last hidden state at the real "
                f"tokens, whose values reach {fp32['max_abs_value']:.2f}); at the padded "
                f"positions, which mean pooling leaves out, to "
                f"{fp32.get('max_abs_diff_padded', float('nan')):.2g}. The differences "
                "are float32 sums taken in another order.", ""]
    out += [f"{len(ok)} of {len(qcc_rows_)} qcc configurations compile for "
            f"{report['qcc']['target']} (batch 1, sequence length 32). Each binary was run "
            "on the simulator for the first sentences and is bit-exact with the integer "
            "IR (*bit-exact* column); the embeddings of all evaluation sentences come from "
            "the integer IR, which the binary reproduces. *MXU MatMuls*: MatMuls by a "
            "constant (Q, K, V, attention output, FFN in and out: 36) on the matrix unit, "
            "and those on the host. *Latency*: simulated, per sentence, on tpu-v1 (TPU / "
            "host CPU / waiting for PCIe) and the what-if targets.", "",
            "| configuration | mean cosine | min cosine | NN agreement | MXU MatMuls (host) "
            "| MXU MAC share | tpu-v1 ms (TPU / host / PCIe) | gddr5 ms | hbm ms | "
            "compile s | bit-exact |",
            "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in ok:
        split = (f"{r['simulated_latency_ms']:.3f} ({r['tpu_ms']:.3f} / {r['host_ms']:.3f} / "
                 f"{r['pcie_ms']:.3f})") if "simulated_latency_ms" in r else ""
        share = f"{r['mxu_mac_share']:.1%}" if "mxu_mac_share" in r else ""
        out.append(f"| {r['name'][4:]} | {r['mean_cosine']:.4f} | {r['min_cosine']:.4f} | "
                   f"{r['nn_agreement']:.1%} | {r.get('mxu_matmuls', '')} "
                   f"({r.get('host_dense', '')}) | {share} | {split} | "
                   f"{_target_ms(r, 'tpu-v1-gddr5')} | {_target_ms(r, 'tpu-v1-hbm')} | "
                   f"{r.get('compile_s', '')} | {r.get('bit_exact_sentences', '')}/"
                   f"{r.get('spot_sentences', '')} |")
    for r in failed:
        out.append(f"| {r['name'][4:]} | | | | | | **fails**: {r['error']} | | | | |")
    best = max(ok, key=lambda r: r["mean_cosine"], default=None)
    all_mxu = [r for r in ok if r.get("host_dense") == 0]
    best_mxu = max(all_mxu, key=lambda r: r["mean_cosine"], default=None)
    if best_mxu is not None:
        gap = TARGET_COSINE - best_mxu["mean_cosine"]
        out += ["", f"Target: mean cosine >= {TARGET_COSINE} with every projection and FFN "
                f"MatMul on the matrix unit in int8. The best such configuration "
                f"({best_mxu['name'][4:]}) reaches {best_mxu['mean_cosine']:.4f}"
                + (f", {gap:.4f} short." if gap > 0 else ": met.")]
    if best is not None and best.get("layer_sqnr"):
        layers = best["layer_sqnr"]
        worst = sorted((x for x in layers if isinstance(x.get("sqnr_integer_db",
                                                               x.get("sqnr_integer")),
                                                        int | float)),
                       key=lambda x: x.get("sqnr_integer_db", x.get("sqnr_integer")))[:12]
        out += ["", f"Per-layer SQNR of the best configuration ({best['name'][4:]}) on the "
                "first 20 evaluation sentences, integer IR against float, the 12 lowest "
                f"of {len(layers)} (the full list is in the results file, "
                "`layer_sqnr`):", "", "| tensor | produced by | SQNR (dB) |", "|---|---|---:|"]
        for x in worst:
            v = x.get("sqnr_integer_db", x.get("sqnr_integer"))
            out.append(f"| `{x['tensor']}` | {x['op']} | {v:.1f} |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=minilm.DEFAULT_OUT,
                    help="the exported model's directory (default %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="latency passes (median)")
    ap.add_argument("--latency-sentences", type=int, default=50,
                    help="sentences per latency pass")
    ap.add_argument("--qcc", choices=("all", "one", "none"), default="all",
                    help="qcc configurations to try: all of QCC_CONFIGS (default), the "
                         "first, or none")
    ap.add_argument("--json", type=Path, default=None,
                    help="results file (default: benchmark-results/transformers.json)")
    ap.add_argument("--doc", type=Path, default=None,
                    help="markdown file (default: benchmark-results/transformers.md)")
    ap.add_argument("--update-docs", action="store_true",
                    help="write the tracked docs/transformers.md and "
                         "benchmarks/results/transformers.json")
    ap.add_argument("--fp32-check", action="store_true",
                    help="measure only qcc's FP32 interpreter against onnxruntime, add it "
                         "to the results file and rewrite the markdown")
    ap.add_argument("--doc-only", action="store_true",
                    help="write the markdown from the results file, measuring nothing")
    args = ap.parse_args(argv)
    scratch = Path("benchmark-results")
    source = args.json or RESULTS  # what --doc-only and --fp32-check read
    args.json = args.json or (RESULTS if args.update_docs else scratch / RESULTS.name)
    args.doc = args.doc or (DOC if args.update_docs else scratch / "transformers.md")
    for path in (args.json, args.doc):
        path.parent.mkdir(parents=True, exist_ok=True)
    if args.fp32_check:  # add qcc's FP32 check to the results file, then the doc
        results = json.loads(source.read_text())
        model_path, data_path, _ = minilm.ensure(args.dir)
        results["qcc"]["fp32_check"] = qcc_fp32_check(
            model_path, minilm.load_inputs(data_path, "eval"))
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        args.doc_only = True
        source = args.json
    if args.doc_only:
        args.doc.write_text(markdown(json.loads(source.read_text())))
        print(f"wrote {args.doc} from {source}")
        return 0
    try:
        configs = {"all": QCC_CONFIGS, "one": QCC_CONFIGS[:1], "none": []}[args.qcc]
        report = build(args.dir, args.runs, args.latency_sentences, configs)
    except minilm.MissingDependency as e:
        print(f"error: no exported model in {args.dir} and it cannot be exported here: {e}",
              file=sys.stderr)
        return 2
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    args.doc.write_text(markdown(report))
    for r in report["rows"]:
        print(f"{r['name']:45s} " + (f"cos {r['mean_cosine']:.4f} nn {r['nn_agreement']:.3f} "
                                     f"{r.get('latency_ms', '')}" if "mean_cosine" in r
                                     else f"error: {r.get('error')}"))
    print(f"wrote {args.json} and {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
