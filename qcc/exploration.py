"""``qcc explore``: what per-channel vs per-tensor weights and each calibration method
cost a model in accuracy, latency and performance per watt on the TPU targets.

The sweep has two halves that do not depend on each other:

* **quality**, per (granularity, calibration method): the integer program's
  top-1 accuracy against labels (when the data has them), its agreement with FP32,
  the output SQNR and the SQNR of every quantized layer, on *every* evaluation
  sample (in batches; the last one padded and the padding dropped), with the time
  the method took to derive its ranges and quantize;
* **performance**, per (configuration, target, batch): the simulated latency,
  throughput, inferences/s/W and what the program is made of. A configuration a
  target cannot compile keeps its quality figures; the error goes in its row.

Calibration statistics are collected once and shared (each fixed method derives its
ranges from them); ``auto`` chooses a method per tensor from the calibration data.
The recommendation maximizes inferences/s/W under an accuracy budget (and an optional
latency limit) on real targets, with a paired test of its accuracy against FP32 and
against the most accurate configuration. Configurations run in parallel processes,
or with ``cluster=`` on a Dask distributed cluster (the ``cluster`` extra): each
configuration is one job, sent the bytes of the model, the statistics and what it
evaluates on, so workers need qcc but not the caller's files.

It runs whole compiles, so it sits above the backends with the driver: it reaches a
target's backend through the registry (qcc/backend.py) and never the other way
round (docs/layers.md).
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from qcc.diagnostics import QccError

GRANULARITIES = ("per-tensor", "per-channel")
METHODS = ("minmax", "percentile", "entropy", "mse")
#: what a sweep compares by default: the fixed methods and ``auto`` (per tensor)
DEFAULT_METHODS = (*METHODS, "auto")
#: calibration methods from the cheapest to derive to the dearest (the
#: recommendation's tie-break: no search over a measurable gain)
METHOD_COST = {"minmax": 0, "percentile": 1, "entropy": 2, "mse": 3, "auto": 4}
#: the largest batch the interpreter evaluates at once
EVAL_BATCH = 200


# ------------------------------------------------------------------ statistics
def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion of ``k`` in ``n``."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of two paired per-sample correctness vectors: how many
    samples only ``a`` gets right, only ``b`` does, and the two-sided p-value that the
    two are equally accurate (binomial on the discordant pairs)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    if n == 0:
        return {"only_a": 0, "only_b": 0, "p_value": 1.0}
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return {"only_a": only_a, "only_b": only_b, "p_value": min(1.0, 2 * tail / 2 ** n)}


# ------------------------------------------------------------------ data
def _eval_arrays(path: str | None, names: Sequence[str], what: str
                 ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    if not path:
        raise QccError("explore needs evaluation inputs: give --eval-data (or --calib-data)")
    try:
        with np.load(path) as z:
            files = set(z.files)
            arrays = {n: z[n] for n in names if n in files}
            labels = z["label"] if "label" in files else None
    except (OSError, ValueError) as e:
        raise QccError(f"{what} {path}: cannot read ({e})") from None
    missing = [n for n in names if n not in arrays]
    if missing:
        raise QccError(f"{what} {path} has no array {', '.join(repr(m) for m in missing)} "
                       f"(the model's inputs: {', '.join(names)}; it has "
                       f"{', '.join(sorted(files)) or 'nothing'})")
    counts = {n: len(a) for n, a in arrays.items()}
    if len(set(counts.values())) != 1:
        raise QccError(f"{what} {path}: the inputs have different numbers of samples "
                       f"({', '.join(f'{n}: {c}' for n, c in counts.items())})")
    n = next(iter(counts.values()))
    if n == 0:
        raise QccError(f"{what} {path}: no samples")
    if labels is not None and len(labels) != n:
        raise QccError(f"{what} {path}: 'label' has {len(labels)} entries for {n} samples")
    return arrays, labels


def eval_batch_size(n: int) -> int:
    """Samples per interpreter run: all of them up to :data:`EVAL_BATCH`, else the
    batch that splits ``n`` into the fewest runs with the least padding."""
    if n <= EVAL_BATCH:
        return n
    runs = -(-n // EVAL_BATCH)
    return -(-n // runs)


def _outputs(module, inputs: dict[str, np.ndarray], batch: int) -> np.ndarray:
    """The first output of ``module`` (compiled for ``batch``) on every sample: the last
    batch padded with copies of its first sample, whose outputs are dropped (every
    sample is computed on its own, so padding changes nothing)."""
    from qcc.interpreter import run

    n = len(next(iter(inputs.values())))
    out = []
    for i in range(0, n, batch):
        chunk = {k: v[i:i + batch] for k, v in inputs.items()}
        real = len(next(iter(chunk.values())))
        if real < batch:
            chunk = {k: np.concatenate([v, np.repeat(v[:1], batch - real, axis=0)])
                     for k, v in chunk.items()}
        out.append(next(iter(run(module, chunk).values()))[:real])
    return np.concatenate(out)


def _check_sample_shapes(module, x: dict[str, np.ndarray], path, what: str) -> None:
    """Each array's sample shape against the model's input (its static dimensions)."""
    for arg, name in zip(module.main.args, module.main.input_names, strict=True):
        want = tuple(getattr(arg.type, "shape", ()) or ())[1:]
        have = tuple(x[name].shape[1:])
        if len(want) != len(have) or any(isinstance(w, int) and w != h
                                         for w, h in zip(want, have, strict=True)):
            raise QccError(f"{what} {path}: '{name}' holds {len(x[name])} samples of shape "
                           f"{list(have)}; the model's input '{name}' takes samples of "
                           f"shape {['?' if not isinstance(w, int) else w for w in want]}")


def _checked_labels(labels: np.ndarray | None, logits: np.ndarray, path, what: str
                    ) -> np.ndarray | None:
    """Class indices to compare top-1 with: a 1-D integer array, or one-hot rows
    (turned into indices), each a class of the model's output."""
    if labels is None:
        return None
    if logits.ndim != 2:
        raise QccError(f"{what} {path} has labels, but the model's first output "
                       f"{list(logits.shape)} is not [samples, classes]: top-1 accuracy "
                       "needs class scores (leave 'label' out to compare with FP32 only)")
    classes = logits.shape[1]
    if labels.ndim == 2 and labels.shape[1] == classes and \
            np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1):
        from qcc.diagnostics import warn

        warn(f"{what} {path}: 'label' holds one-hot rows of {classes} classes: read as "
             "class indices")
        labels = labels.argmax(axis=1)
    integral = np.issubdtype(labels.dtype, np.integer) or \
        (np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0))
    if labels.ndim != 1 or not integral:
        raise QccError(f"{what} {path}: 'label' {labels.dtype}{list(labels.shape)} is not "
                       f"one class index per sample (or one-hot rows of {classes} classes)")
    labels = labels.astype(np.int64)
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        raise QccError(f"{what} {path}: {int(bad.sum())} label(s) outside the model's "
                       f"{classes} classes (0..{classes - 1}), e.g. {int(labels[bad][0])} "
                       f"at sample {int(np.flatnonzero(bad)[0])}")
    return labels


def _padded(a: np.ndarray, batch: int) -> np.ndarray:
    """``a`` with copies of its first sample appended up to ``batch`` samples."""
    if len(a) >= batch:
        return a
    return np.concatenate([a, np.repeat(a[:1], batch - len(a), axis=0)])


def _fixed_batch(model: str, input_shapes: dict | None) -> int | None:
    """The batch size a model's inputs fix (an export without a dynamic batch
    dimension), or None when the batch is free."""
    from qcc import driver

    probe = driver.load(model, batch=2, input_shapes=input_shapes)
    dims = {a.type.shape[0] for a in probe.main.args
            if getattr(a.type, "shape", None) and len(a.type.shape) > 0}
    if not dims or dims == {2}:
        return None
    return max(d for d in dims if isinstance(d, int))


def _top1(logits: np.ndarray) -> np.ndarray | None:
    return logits.argmax(axis=-1) if logits.ndim == 2 else None


# ------------------------------------------------------------------ backends
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


def _error_text(e: BaseException) -> str:
    if isinstance(e, QccError):
        return str(e).splitlines()[0]
    last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
    return f"internal error: {type(e).__name__}: {e}{where}"


def _quantized(job: dict, batch: int):
    """The model loaded at ``batch`` and quantized with the job's configuration; the
    seconds it took and what ``auto`` chose. ``auto`` measures once (on the
    calibration data, from the shared statistics) and writes its choice beside them;
    the other batch sizes read that choice instead of measuring again."""
    import json

    from qcc import driver
    from qcc.passmanager import PassContext

    module = driver.load(job["model"], batch=batch, input_shapes=job["input_shapes"])
    ctx = PassContext()
    start = time.perf_counter()
    kw = {"granularity": job["granularity"], "stats": job["stats"], "ctx": ctx}
    choice_file = Path(job["stats"]).with_name(f"auto-{job['granularity']}.json")
    if job["method"] == "auto" and choice_file.exists():
        driver.quantize_model(module, method="auto", auto_choice=str(choice_file), **kw)
    elif job["method"] == "auto":
        driver.quantize_model(module, calib_data=job["calib_data"], method="auto", **kw)
        choice_file.write_text(json.dumps(ctx.data["calibration_choice"]))
    else:
        driver.quantize_model(module, method=job["method"], **kw)
    seconds = time.perf_counter() - start
    choice = ctx.data.get("calibration_choice") if job["method"] == "auto" else None
    return module, seconds, (dict(Counter(choice.values())) if choice else None)


def _layer_sqnr(job: dict, module) -> dict[str, float]:
    """SQNR (dB) of every quantized activation of the integer program against its
    float value, on the job's per-layer samples (the float values computed here and
    kept only for the tensors compared)."""
    from qcc import driver
    from qcc.interpreter import qparams, run
    from qcc.ir.types import QuantType, TensorType
    from qcc.quant_report import sqnr_db

    def quantized(v) -> bool:
        t = v.type
        return isinstance(t, TensorType) and isinstance(t.element, QuantType) and \
            bool(v.name_hint) and not (v.op is not None and not v.op.operands)

    wanted = {v.name_hint.removesuffix("_q") for op in module.main.ops
              for v in op.results if quantized(v)}
    wanted |= {a.name_hint.removesuffix("_q") for a in module.main.args if quantized(a)}
    fp: dict[str, np.ndarray] = {}

    def keep(v, a) -> None:
        if v.name_hint in wanted and isinstance(a, np.ndarray) and a.dtype == np.float32:
            fp.setdefault(v.name_hint, a)

    float_module = driver.load(job["model"], batch=job["layer_batch"],
                               input_shapes=job["input_shapes"])
    run(float_module, job["layer_inputs"], observer=keep)
    out: dict[str, float] = {}

    def compare(v, a) -> None:
        name = (v.name_hint or "").removesuffix("_q")
        if not quantized(v) or name not in fp or name in out or fp[name].shape != a.shape:
            return
        scale, zp = qparams(v.type)
        out[name] = sqnr_db(fp[name], (a.astype(np.int64) - zp) * scale)

    run(module, job["layer_inputs"], observer=compare)
    return out


#: memory the per-layer comparison may hold for the float activations of its samples
LAYER_BYTES = 256 << 20


def _activation_bytes(module) -> int:
    """Bytes of the float activations of one sample (the module at batch 1)."""
    total = 0
    for op in module.main.ops:
        for v in op.results:
            shape = getattr(v.type, "shape", None)
            if shape and all(isinstance(d, int) for d in shape) and op.operands:
                total += 4 * int(np.prod(shape))
    return max(total, 1)


def _what_if(target: str) -> bool | None:
    """Whether a target is a what-if (None when it cannot be loaded)."""
    try:
        return bool(getattr(backend_for_targets([target]).load_target(target), "what_if",
                            False))
    except Exception:
        return None


def _one_config(job: dict) -> dict:
    """Quality of one (granularity, method), then its performance on every batch and
    target; an error in one part does not lose the others. ``job["loaded_targets"]``
    (on a cluster): the target descriptions loaded by the caller, by the name given,
    so that a worker reads no target file; rows keep the name given."""
    loaded = job.get("loaded_targets") or {}

    def target(t):
        return loaded.get(t, t)

    quality = {"granularity": job["granularity"], "method": job["method"], "error": None}
    correct = None
    try:
        module, seconds, choice = _quantized(job, job["eval_batch"])
        logits = _outputs(module, job["x"], job["eval_batch"])
        fp32, labels = job["fp32"], job["labels"]
        pred, fp_pred = _top1(logits), _top1(fp32)
        n = len(logits)
        from qcc.quant_report import sqnr_db

        quality.update(samples=n, quantize_s=seconds, auto_choice=choice,
                       sqnr_db=sqnr_db(fp32, logits), accuracy=None, correct=None,
                       agreement=None)
        if pred is not None:
            quality["agreement"] = float(np.mean(pred == fp_pred))
            hits = pred == (labels if labels is not None else fp_pred)
            correct = hits
            if labels is not None:
                quality["correct"] = int(hits.sum())
                quality["accuracy"] = quality["correct"] / n
        lm, _, _ = _quantized(job, job["layer_batch"]) \
            if job["layer_batch"] != job["eval_batch"] else (module, 0, None)
        quality["layer_sqnr_db"] = _layer_sqnr(job, lm)
    except Exception as e:
        quality["error"] = _error_text(e)
    rows = []
    for batch in job["batches"]:
        base = {"granularity": job["granularity"], "method": job["method"], "batch": batch}
        fixed = job["fixed_batch"]
        if fixed and batch != fixed:
            rows += [{**base, "target": t, "what_if": _what_if(target(t)), "error": (
                f"the model's batch dimension is fixed at {fixed}: it runs at batch "
                f"{fixed} only (export it with a dynamic batch dimension to time batch "
                f"{batch})")} for t in job["targets"]]
            continue
        try:
            m, _, _ = _quantized(job, batch)
            backend = backend_for_targets([target(t) for t in job["targets"]])
            start = time.perf_counter()
            compiled = backend.compile(m, target(job["targets"][0]))
            compile_s = time.perf_counter() - start
            mix = backend.instruction_mix(compiled.program)
        except Exception as e:
            rows += [{**base, "target": t, "error": _error_text(e),
                      "what_if": _what_if(target(t))} for t in job["targets"]]
            continue
        for tname in job["targets"]:
            try:
                tgt = backend.load_target(target(tname))
                r = backend.estimate(compiled.program, tgt, batch)
                rows.append({**base, "target": tgt.name, "error": None,
                             "what_if": bool(getattr(tgt, "what_if", False)),
                             "latency_us": r.latency_s * 1e6,
                             "inferences_per_s": r.inferences_per_s,
                             "inferences_per_s_per_w": r.inferences_per_s_per_w,
                             "tops": r.tops(), "cycles": r.cycles,
                             "rescale_us": backend.rescale_us(compiled.program, tgt,
                                                              batch),
                             "requantization": backend.requantization_note(tgt),
                             "compile_s": compile_s, "program": mix})
            except Exception as e:
                rows.append({**base, "target": tname, "error": _error_text(e),
                             "what_if": _what_if(target(tname))})
    return {"quality": quality, "correct": correct, "performance": rows}


# ------------------------------------------------------------------ on a cluster
#: the figures of a sweep that are wall-clock times of this run (they differ from run
#: to run and between the local pool and a cluster; nothing else does)
WALL_CLOCK_KEYS = ("collect_s", "quantize_s", "compile_s")


def without_wall_clock(obj):
    """A copy of a sweep's result (or explore.json) without :data:`WALL_CLOCK_KEYS`:
    what two runs of one sweep must have identical."""
    if isinstance(obj, dict):
        return {k: without_wall_clock(v) for k, v in obj.items() if k not in WALL_CLOCK_KEYS}
    if isinstance(obj, list | tuple):
        return [without_wall_clock(v) for v in obj]
    return obj


def cluster_address(value: str | None) -> str | None:
    """The scheduler address of ``--cluster [ADDRESS]``: ``None`` (no --cluster) runs
    locally whatever the environment says; ``--cluster`` without an address takes
    Dask's ``DASK_SCHEDULER_ADDRESS`` and is an error when that is not set (it never
    starts a cluster of its own)."""
    if value is None:
        return None
    address = value.strip() or os.environ.get("DASK_SCHEDULER_ADDRESS", "").strip()
    if not address:
        raise QccError("--cluster without an address takes the Dask scheduler's address "
                       "from DASK_SCHEDULER_ADDRESS, which is not set: give it "
                       "(--cluster tcp://HOST:8786) or leave --cluster out to run on this "
                       "machine's processes")
    if ":" not in address:
        raise QccError(f"--cluster {address}: not a scheduler address (expected "
                       "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786); with the model after "
                       "the option, write --cluster=ADDRESS")
    return address


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise QccError("explore on a cluster needs Dask distributed, which is not "
                       "installed: pip install 'qcc-compiler[cluster]' (or pip install "
                       "distributed)") from None
    return distributed


def _probe(address: str, seconds: float) -> None:
    """Open and close one connection to ``address`` (in a thread of its own: the
    caller may be in an event loop), so that an unreachable scheduler is an error
    before any Client exists."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect
    from distributed.security import Security

    # TLS and the like as a Client would connect (Dask's configuration)
    args = Security().get_connection_args("client")

    async def once() -> None:
        comm = await connect(address, timeout=seconds, **args)
        await comm.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, once()).result()


@functools.cache
def installed_fingerprint() -> dict:
    """Which qcc this process runs: the SHA-256 of qcc's installed files (its package,
    passes and backends), taken once per process (the first time: in a worker, before
    its first configuration), and the versions of what the results depend on."""
    import hashlib
    import importlib.metadata
    import importlib.util

    out: dict = {}
    for dist in ("qcc-compiler", "numpy", "onnx"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    h = hashlib.sha256()
    for name in ("qcc", "qcc.passes", "qcc.backends"):
        spec = importlib.util.find_spec(name)
        root = Path(next(iter(spec.submodule_search_locations)))
        for f in sorted(root.rglob("*")):
            if f.suffix in (".py", ".lark", ".toml") and "__pycache__" not in f.parts:
                h.update(f.relative_to(root).as_posix().encode() + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
    out["qcc_files_sha256"] = h.hexdigest()
    return out


def _fingerprint_function():
    """A function that returns a worker's :func:`installed_fingerprint`. Defined
    inside a function so that cloudpickle sends it by value: it runs on a worker where
    qcc does not import, too (and says so)."""
    def fingerprint() -> dict:
        try:
            from qcc.exploration import installed_fingerprint
        except Exception as e:
            return {"qcc_files_sha256": None, "qcc_error": f"{type(e).__name__}: {e}"}
        return installed_fingerprint()
    return fingerprint


def connect_cluster(cluster, timeout: float | None = None):
    """``(client, owned)`` for ``cluster``: a ``distributed.Client`` as given (not
    owned: the caller closes it), or a new one connected to a scheduler address.
    Checks that the scheduler answers and has a worker within ``timeout`` seconds
    (default: Dask's ``distributed.comm.timeouts.connect``, 30 s) and that every
    worker runs the same qcc (the same installed files) and numpy and onnx versions;
    each is a :class:`QccError` that names the address."""
    distributed = _import_distributed()
    import dask
    from dask.utils import parse_timedelta

    seconds = timeout if timeout is not None else parse_timedelta(
        dask.config.get("distributed.comm.timeouts.connect"), "s")
    if isinstance(cluster, distributed.Client):
        client, owned, address = cluster, False, cluster.scheduler.address
    else:
        address = str(cluster).strip()
        if not address:
            raise QccError("explore: cluster= needs a Dask scheduler's address "
                           "(tcp://HOST:PORT) or a distributed.Client")
        try:
            _probe(address, seconds)
        except (OSError, TimeoutError, ValueError) as e:
            raise QccError(f"--cluster {address}: no Dask scheduler answered within "
                           f"{seconds:g} s ({e}); start one with `dask scheduler` and "
                           f"workers with `dask worker {address}`, or leave --cluster out "
                           "to run on this machine's processes") from None
        client = distributed.Client(address, timeout=seconds, set_as_default=False)
        owned = True
    try:
        try:
            client.wait_for_workers(1, timeout=seconds)
        except (TimeoutError, OSError):
            raise QccError(f"--cluster {address}: the scheduler has no worker after "
                           f"{seconds:g} s; start one with `dask worker {address}`") from None
        mine = installed_fingerprint()
        theirs = client.run(_fingerprint_function())
        bad = {w: f for w, f in theirs.items() if f != mine}
        if bad:
            worker, f = next(iter(sorted(bad.items())))
            if f.get("qcc_files_sha256") is None:
                why = f"its qcc cannot be checked ({f.get('qcc_error')})"
            else:
                why = ", ".join(f"{k} {f.get(k)} (here {mine.get(k)})" for k in mine
                                if f.get(k) != mine.get(k) and k != "qcc_files_sha256")
                if f.get("qcc_files_sha256") != mine["qcc_files_sha256"]:
                    why = (why + ", " if why else "") + "qcc's files differ from this one's"
            raise QccError(f"--cluster {address}: {len(bad)} of {len(theirs)} worker(s) "
                           f"do not run this qcc, e.g. {worker}: {why}; install the same "
                           "qcc (and numpy, onnx) on every worker")
    except BaseException:
        if owned:
            client.close()
        raise
    return client, owned


#: one configuration at a time in a worker process, whatever its threads (qcc keeps
#: per-process state, e.g. the output transaction): parallelism comes from processes
_WORKER_LOCK = threading.Lock()


def _shipped(path: str | None, onnx_model: bool = False) -> dict | None:
    """A file or a folder of calibration files, as bytes a worker writes back under
    the same name; an ONNX model with its external data inlined."""
    if not path:
        return None
    p = Path(path)
    if p.is_dir():
        return {"name": p.name, "files": {f.name: f.read_bytes() for f in sorted(p.iterdir())
                                          if f.is_file() and f.suffix in (".npy", ".npz")}}
    data = p.read_bytes()
    if onnx_model:
        import onnx
        from onnx.external_data_helper import uses_external_data

        try:
            proto = onnx.load_model_from_string(data)
        except Exception:  # IR text: sent as it is
            proto = None
        if proto is not None and any(uses_external_data(t)
                                     for t in proto.graph.initializer):
            data = onnx.load(str(p)).SerializeToString()  # the weights inlined
    return {"name": p.name, "data": data}


def _landed(shipped: dict | None, where: Path) -> str | None:
    if shipped is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    path = where / shipped["name"]
    if "files" in shipped:
        path.mkdir()
        for name, data in shipped["files"].items():
            (path / name).write_bytes(data)
    else:
        path.write_bytes(shipped["data"])
    return str(path)


def _cluster_config(shared: dict, config: dict) -> dict:
    """One configuration on a worker: the model, the statistics and the calibration
    data written to a scratch folder of the worker's (under their own names), then
    :func:`_one_config`; what ``auto`` chose comes back in the result."""
    with _WORKER_LOCK, tempfile.TemporaryDirectory(prefix="qcc-explore-") as tmp:
        root = Path(tmp)
        job = {**shared["job"], **config,
               "model": _landed(shared["model"], root / "model"),
               "calib_data": _landed(shared["calib_data"], root / "calib"),
               "stats": str(root / "stats.json")}
        Path(job["stats"]).write_text(shared["stats"])
        part = _one_config(job)
        choice = Path(job["stats"]).with_name(f"auto-{config['granularity']}.json")
        part["auto_choice_json"] = choice.read_text() if choice.exists() else None
    return part


def _run_on_cluster(client, work: list[dict], backend, bar) -> list[dict]:
    """Every configuration of ``work`` as one job of ``client``'s cluster; the results
    in ``work``'s order. What every job shares is sent to each worker once."""
    import uuid

    import distributed

    if not work:
        return []
    first = work[0]
    per_config = ("granularity", "method")
    shared = {"job": {k: v for k, v in first.items()
                      if k not in (*per_config, "model", "calib_data", "stats")},
              "model": _shipped(first["model"], onnx_model=True),
              "calib_data": _shipped(first["calib_data"]) if any(
                  j["method"] == "auto" for j in work) else None,
              "stats": Path(first["stats"]).read_text()}
    # the targets as loaded here: a worker reads no target file
    shared["job"]["loaded_targets"] = {t: backend.load_target(t) for t in first["targets"]}
    token = uuid.uuid4().hex[:12]
    [shared_future] = client.scatter([shared], broadcast=True, hash=False)
    futures = [client.submit(_cluster_config, shared_future,
                             {k: j[k] for k in per_config},
                             key=f"qcc-explore-{token}-{i}-{j['granularity']}-{j['method']}")
               for i, j in enumerate(work)]
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            if future.status != "finished":
                j = work[index[future.key]]
                try:
                    e = future.exception()
                except BaseException as cancelled:  # e.g. cancelled by the scheduler
                    e = cancelled
                raise QccError(f"explore: configuration {j['granularity']}/{j['method']} "
                               f"failed on the cluster at {client.scheduler.address}: "
                               f"{type(e).__name__}: {e}")
            bar.update(1)
        return [f.result() for f in futures]
    finally:
        client.cancel([*futures, shared_future])


# ------------------------------------------------------------------ the sweep
def explore(model: str, calib_data: str | None, eval_data: str | None,
            targets: Sequence[str] = ("tpu-v1",), batches: Sequence[int] = (1,),
            granularities: Sequence[str] = GRANULARITIES,
            methods: Sequence[str] = DEFAULT_METHODS,
            jobs: int | None = None, progress: bool | None = None,
            input_shapes: dict | None = None, cluster=None,
            cluster_timeout: float | None = None) -> dict:
    """Run the sweep; returns a JSON-ready dict: ``fp32``, ``quality`` (one entry per
    granularity x method), ``performance`` (per configuration x target x batch),
    ``rows`` (the two joined), ``calibration``, ``differences`` and ``roofline``.
    ``input_shapes`` fixes dynamic input dimensions but the first, the swept batch.
    ``progress``: a progress bar on stderr (default: when stderr is a terminal).

    ``jobs``: the local process pool's size (default one per core, at most one per
    configuration). ``cluster``: a Dask scheduler's address (``"tcp://host:8786"``)
    or a ``distributed.Client``: the configurations run on its workers instead, with
    the same results (:func:`connect_cluster`; ``cluster_timeout`` seconds to reach
    the scheduler and find a worker, default Dask's connect timeout). The rest of
    the sweep (the FP32 reference, the statistics, the roofline) runs here."""
    client, own = connect_cluster(cluster, cluster_timeout) if cluster is not None \
        else (None, False)
    try:
        return _explore(model, calib_data, eval_data, targets, batches, granularities,
                        methods, jobs, progress, input_shapes, client)
    finally:
        if own:
            client.close()


def _explore(model, calib_data, eval_data, targets, batches, granularities, methods, jobs,
             progress, input_shapes, client) -> dict:
    from qcc import driver
    from qcc.passmanager import Pipeline

    methods = tuple(dict.fromkeys(methods))  # each once, in the order given
    granularities = tuple(dict.fromkeys(granularities))
    for m in methods:
        if m not in (*METHODS, "auto"):
            raise QccError(f"explore: unknown calibration method '{m}' (choose from "
                           f"{', '.join((*METHODS, 'auto'))})")
    for g in granularities:
        if g not in GRANULARITIES:
            raise QccError(f"explore: unknown granularity '{g}' (choose from "
                           f"{', '.join(GRANULARITIES)})")
    backend = backend_for_targets(targets)
    for t in targets:
        backend.load_target(t)  # fail early on a bad target name
    shapes = _batch_free(input_shapes)
    fp_module = driver.load(model, batch=1, input_shapes=shapes)
    names = list(fp_module.main.input_names)
    what = "--eval-data" if eval_data else "--calib-data"
    x, labels = _eval_arrays(eval_data or calib_data, names, what)
    _check_sample_shapes(fp_module, x, eval_data or calib_data, what)
    if not eval_data:
        from qcc.diagnostics import warn

        warn(f"explore: no --eval-data: evaluating on the calibration data {calib_data} "
             "(in-sample: accuracy and SQNR are optimistic)")
    n = len(next(iter(x.values())))
    fixed = _fixed_batch(model, shapes)
    eval_batch = fixed or eval_batch_size(n)
    fp_module = driver.load(model, batch=eval_batch, input_shapes=shapes)
    fp32 = _outputs(fp_module, x, eval_batch)
    fp_pred = _top1(fp32)
    labels = _checked_labels(labels, fp32, eval_data or calib_data, what)
    fp32_correct = fp_pred == labels if labels is not None and fp_pred is not None else None
    # per-layer SQNR on the first samples: as many as LAYER_BYTES of float activations
    # hold (64 at most), each configuration's process computing its own
    per_sample = _activation_bytes(driver.load(model, batch=1, input_shapes=shapes))
    layer_batch = fixed or max(1, min(n, 64, LAYER_BYTES // per_sample))
    layer_inputs = {k: _padded(v[:layer_batch], layer_batch) for k, v in x.items()}
    with tempfile.TemporaryDirectory() as tmp:
        stats = str(Path(tmp) / "stats.json")
        # calibration statistics, collected once and shared by every fixed method
        prepared = driver.load(model, batch=eval_batch, input_shapes=shapes)
        calib = {"data": str(calib_data)} if calib_data else {}
        from qcc.outputs import outside_transaction
        from qcc.passmanager import PassContext

        ctx = PassContext()
        start = time.perf_counter()
        with outside_transaction():  # a scratch file, read back at once: not an output
            Pipeline.parse(driver.PREPARE_PIPELINE).add("calibrate", save_stats=stats,
                                                        **calib).run(prepared, ctx)
        collect_s = time.perf_counter() - start
        calibration = {"data": str(calib_data) if calib_data else None, "run": eval_batch,
                       "samples": int(ctx.data["calibration"].num_samples),
                       "collect_s": collect_s}
        sufficiency = ctx.data.get("calibration_sufficiency")
        if sufficiency is not None:
            calibration["sufficiency"] = getattr(sufficiency, "summary", lambda: None)() \
                or str(sufficiency)
        work = [{"model": str(model), "granularity": g, "method": m, "stats": stats,
                 "calib_data": str(calib_data) if calib_data else None,
                 "x": x, "labels": labels, "fp32": fp32, "eval_batch": eval_batch,
                 "layer_batch": layer_batch, "layer_inputs": layer_inputs,
                 "batches": list(batches), "targets": list(targets), "fixed_batch": fixed,
                 "input_shapes": shapes}
                for g in granularities for m in methods]
        results: list[dict] = []
        jobs = jobs or min(len(work), os.cpu_count() or 1)
        from qcc.progress import Progress

        with Progress(len(work), "explore", unit="configurations", enabled=progress) as bar:
            if client is not None:
                results = _run_on_cluster(client, work, backend, bar)
                for part in results:  # what auto chose, beside the statistics as here
                    choice = part.pop("auto_choice_json", None)
                    if choice is not None:
                        Path(stats).with_name(
                            f"auto-{part['quality']['granularity']}.json").write_text(choice)
            elif jobs > 1:
                with ProcessPoolExecutor(jobs) as pool:
                    for part in pool.map(_one_config, work):
                        results.append(part)
                        bar.update(1)
            else:
                for job in work:
                    results.append(_one_config(job))
                    bar.update(1)
        quality = [r["quality"] for r in results]
        performance = [row for r in results for row in r["performance"]]
        correct = {(r["quality"]["granularity"], r["quality"]["method"]): r["correct"]
                   for r in results}
        roofline = _roofline_points(model, stats, quality, [fixed] if fixed else batches,
                                    targets, shapes)
        # what reproduces any configuration with qcc compile: the shared statistics and
        # what auto chose (written beside explore.json)
        saved = {"stats.json": Path(stats).read_text()}
        for g in granularities:
            choice = Path(stats).with_name(f"auto-{g}.json")
            if choice.exists():
                saved[choice.name] = choice.read_text()
    result = {"model": str(model),
              "eval_data": str(eval_data or calib_data),
              "fp32": {"accuracy": float(fp32_correct.mean()) if fp32_correct is not None
                       else None, "samples": n,
                       "correct": int(fp32_correct.sum()) if fp32_correct is not None
                       else None},
              "calibration": calibration, "quality": quality, "performance": performance,
              "rows": joined_rows(quality, performance), "roofline": roofline,
              "input_shapes": {k: list(v) for k, v in (input_shapes or {}).items()},
              "layer_samples": min(n, layer_batch),
              "_files": saved}
    result["differences"] = performance_differences(performance)
    result["_correct"] = {"fp32": fp32_correct, **{f"{g}/{m}": c
                                                   for (g, m), c in correct.items()}}
    return result


def joined_rows(quality: list[dict], performance: list[dict]) -> list[dict]:
    """One row per configuration x target x batch with its quality figures (the
    instruction mix stays in ``performance``)."""
    by = {(q["granularity"], q["method"]): q for q in quality}
    keep = ("accuracy", "agreement", "sqnr_db")
    rows = []
    for p in performance:
        q = by[(p["granularity"], p["method"])]
        rows.append({**{k: q.get(k) for k in keep},
                     **{k: v for k, v in p.items() if k != "program"},
                     "quality_error": q.get("error")})
    return rows


def performance_differences(performance: list[dict]) -> list[str]:
    """Why configurations of one target and batch differ in latency: the instructions
    one program has and the other does not (a real difference), across methods at one
    granularity and across granularities with one method; the same difference on
    several targets and batches is said once, with where it applies."""
    ok = [p for p in performance if not p.get("error")]
    groups: dict = {}
    for p in ok:
        groups.setdefault((p["target"], p["batch"]), []).append(p)
    found: dict = {}
    for (target, batch), rows in sorted(groups.items()):
        for axis, other in (("method", "granularity"), ("granularity", "method")):
            by_other: dict = {}
            for p in rows:
                by_other.setdefault(p[other], []).append(p)
            for fixed, sel in sorted(by_other.items()):
                ref = min(sel, key=lambda p: (p["latency_us"], p[axis]))
                for p in sorted(sel, key=lambda p: p[axis]):
                    delta = p["latency_us"] - ref["latency_us"]
                    if delta < 1e-6:
                        continue
                    what = (axis, ref[axis], _mix_difference(p["program"], ref["program"]))
                    dr = _finite_or(p.get("rescale_us"), math.nan) - \
                        _finite_or(ref.get("rescale_us"), math.nan)
                    place = (f"{target} batch {batch} +{delta:.2f} us "
                             f"({100 * delta / ref['latency_us']:.1f}%"
                             + (f", of which rescaling {dr:+.2f} us" if math.isfinite(dr)
                                and abs(dr) > 1e-6 else "") + ")")
                    found.setdefault(what, {}).setdefault(place, []).append((p[axis], fixed))
    notes = []
    for (_axis, ref_name, mix), where in found.items():
        # the same configurations slower by the same amounts: one note
        by_who: dict = {}
        for place, who in where.items():
            by_who.setdefault(tuple(sorted(set(who))), []).append(place)
        for who, places in by_who.items():
            names = ", ".join(dict.fromkeys(w for w, _ in who))
            fixed = ", ".join(dict.fromkeys(f for _, f in who))
            notes.append(f"{names} vs {ref_name} ({fixed}): {mix}; slower by: "
                         f"{'; '.join(places)}")
    return notes


def _mix_difference(a: dict, b: dict) -> str:
    diff = {k: a.get(k, 0) - b.get(k, 0) for k in sorted(set(a) | set(b))}
    diff = {k: d for k, d in diff.items() if d}
    if not diff:
        return "the same instructions (the target times them differently: sizes, table " \
            "contents or, on a per-tensor-rescale target, one activate pass per distinct " \
            "multiplier)"
    return ", ".join(f"{d:+d} {k}" for k, d in diff.items())


def _roofline_points(model: str, stats: str, quality: list[dict], batches: Sequence[int],
                     targets: Sequence[str], input_shapes: dict | None = None) -> dict:
    """Per layer: operational intensity (useful MACs per weight-memory byte) and the
    achieved TOPS, for one configuration (the first that quantized, per-channel
    preferred; fixed methods only) at the largest batch on every target, with each
    roof."""
    from qcc import driver

    ok = [q for q in quality if not q.get("error") and q["method"] != "auto"]
    if not ok:
        return {}
    q = next((q for q in ok if q["granularity"] == "per-channel"), ok[0])
    batch = max(batches)
    try:
        m = driver.load(model, batch=batch, input_shapes=input_shapes)
        driver.quantize_model(m, method=q["method"], granularity=q["granularity"],
                              stats=stats)
        backend = backend_for_targets(targets)
        compiled = backend.compile(m, targets[0])
    except Exception:
        return {}
    out = {"configuration": {"granularity": q["granularity"], "method": q["method"],
                             "batch": batch}, "targets": {}}
    for name in targets:
        t = backend.load_target(name)
        r = backend.estimate(compiled.program, t, batch)
        layers = [{"layer": k, "macs_per_byte": c.useful_macs / c.dram_bytes,
                   "tops": r.tops(c)} for k, c in r.layers.items()
                  if c.useful_macs and c.dram_bytes]
        out["targets"][t.name] = {"peak_tops": t.peak_tops,
                                  "weight_bandwidth": t.weight_memory.bandwidth_bytes_per_s,
                                  "what_if": bool(getattr(t, "what_if", False)),
                                  "layers": layers}
    return out


def pareto(rows: list[dict], key: str, cost: str = "latency_us") -> list[dict]:
    """Rows no other row beats on both ``cost`` (lower is better) and ``key`` (higher
    is better)."""
    rows = [r for r in rows if not r.get("error") and r.get(key) is not None]
    front = []
    for r in rows:
        if not any(o[cost] <= r[cost] and o[key] >= r[key] and
                   (o[cost] < r[cost] or o[key] > r[key]) for o in rows):
            front.append(r)
    return front


# ------------------------------------------------------------------ recommendation
def quality_key(result: dict) -> str:
    return "accuracy" if result["fp32"]["accuracy"] is not None else "agreement"


def recommend(result: dict, max_drop_points: float, max_latency_us: float | None = None,
              include_what_if: bool = False) -> dict | None:
    """The configuration with the most inferences/s/W whose accuracy (or agreement with
    FP32) is within ``max_drop_points`` percentage points of FP32 and whose latency is
    at most ``max_latency_us``, on real targets unless ``include_what_if``; ties go to
    the more accurate, then the higher output SQNR (to 0.5 dB), then the cheaper
    calibration (:data:`METHOD_COST`), then the faster. Beside it: the
    fastest configuration under the same constraints (the latency-only choice) and
    paired tests of its accuracy."""
    key = quality_key(result)
    base = result["fp32"]["accuracy"]
    ref = base if base is not None else 1.0
    rows = [r for r in result["rows"] if not r.get("error") and r.get(key) is not None]
    ok = [r for r in rows if 100 * (ref - r[key]) <= max_drop_points + 1e-9
          and (include_what_if or not r.get("what_if"))
          and (max_latency_us is None or r["latency_us"] <= max_latency_us + 1e-9)]
    out = {"objective": "inferences/s/W", "key": key, "max_accuracy_drop": max_drop_points,
           "max_latency_us": max_latency_us, "what_if_included": include_what_if,
           "candidates": len(ok), "choice": None, "latency_only": None}
    if not ok:
        pool = [r for r in rows if include_what_if or not r.get("what_if")]
        if pool:
            accurate = [r for r in pool if 100 * (ref - r[key]) <= max_drop_points + 1e-9]
            fast = [r for r in pool if max_latency_us is None or
                    r["latency_us"] <= max_latency_us + 1e-9]
            near: dict = {"accuracy_blocks": not accurate,
                          "latency_blocks": max_latency_us is not None and
                          not [r for r in accurate if r in fast]}
            if not accurate:
                best = max(pool, key=lambda r: (r[key], _finite_or(r.get("sqnr_db"))))
                near["most_accurate"] = {k: best[k] for k in (
                    "granularity", "method", "target", "batch", key, "latency_us")}
                near["drop_points"] = 100 * (ref - best[key])
                mine = (result.get("_correct") or {}).get(
                    f"{best['granularity']}/{best['method']}")
                fp = (result.get("_correct") or {}).get("fp32")
                if mine is not None and fp is not None:
                    near["vs_fp32"] = mcnemar(mine, fp)
            if near["latency_blocks"]:
                quick = min(accurate or pool, key=lambda r: r["latency_us"])
                near["fastest"] = {k: quick[k] for k in (
                    "granularity", "method", "target", "batch", key, "latency_us")}
            out["nearest"] = near
        return out
    # how many configurations the tie-breaks decided between
    top = max(round(r["inferences_per_s_per_w"], 6) for r in ok)
    tied = [r for r in ok if round(r["inferences_per_s_per_w"], 6) == top]
    out["tied"] = len({(r["granularity"], r["method"]) for r in tied
                       if r[key] == max(t[key] for t in tied)})
    choice = max(ok, key=lambda r: (round(r["inferences_per_s_per_w"], 6), r[key],
                                    round(2 * _finite_or(r.get("sqnr_db"))) / 2,
                                    -METHOD_COST.get(r["method"], 9), -r["latency_us"]))
    out["choice"] = choice
    out["latency_only"] = min(ok, key=lambda r: (r["latency_us"], -r[key],
                                                 -round(2 * _finite_or(r.get("sqnr_db"))) / 2,
                                                 METHOD_COST.get(r["method"], 9)))
    correct = result.get("_correct") or {}
    mine = correct.get(f"{choice['granularity']}/{choice['method']}")
    q = [x for x in result["quality"] if not x.get("error") and x.get(key) is not None]
    best = max(q, key=lambda x: (x[key], _finite_or(x.get("sqnr_db"))))
    n = result["fp32"]["samples"]
    k = round(choice[key] * n)
    out["interval"] = wilson_interval(k, n)
    if mine is not None:
        if result["fp32"]["accuracy"] is not None and correct.get("fp32") is not None:
            out["vs_fp32"] = mcnemar(mine, correct["fp32"])
        other = correct.get(f"{best['granularity']}/{best['method']}")
        if other is not None:
            out["vs_most_accurate"] = {"granularity": best["granularity"],
                                       "method": best["method"], key: best[key],
                                       **mcnemar(mine, other)}
    return out


def _finite_or(x, default: float = -1e9) -> float:
    if isinstance(x, int | float) and math.isfinite(x):
        return float(x)
    return 1e9 if x in (math.inf, "inf") else default


def _config(r: dict) -> str:
    return f"{r['granularity']} weights, {r['method']} calibration"


def recommendation_lines(rec: dict | None) -> list[str]:
    if rec is None:
        return []
    key = rec["key"]
    limits = f"within {rec['max_accuracy_drop']} points of FP32"
    if rec["max_latency_us"] is not None:
        limits += f", at most {rec['max_latency_us']} us per batch"
    limits += ", what-if targets included" if rec["what_if_included"] else \
        ", real targets only"
    c = rec["choice"]
    if c is None:
        lines = [f"recommendation: no configuration {limits}"]
        near = rec.get("nearest") or {}
        b = near.get("most_accurate")
        if b:
            test = near.get("vs_fp32")
            lines.append(
                f"  accuracy rules every configuration out: the most accurate, "
                f"{b['granularity']} weights, {b['method']} on {b['target']}, is "
                f"{near['drop_points']:.2f} points below FP32"
                + (f" (McNemar p = {test['p_value']:.2g} against FP32"
                   + ("; within noise" if test["p_value"] >= 0.05 else "") + ")"
                   if test else "")
                + f": --max-accuracy-drop "
                f"{math.ceil(round(100 * near['drop_points'], 6)) / 100:g} would admit it")
        f = near.get("fastest")
        if f:
            what = (f"{f['granularity']} weights, {f['method']} on {f['target']} at batch "
                    f"{f['batch']}, takes {f['latency_us']:.2f} us per batch "
                    f"(--max-latency-us {rec['max_latency_us']:g})")
            lines.append(f"  latency too: the fastest configuration, {what}; both limits "
                         "must be relaxed" if b else
                         "  latency rules out every configuration within the accuracy "
                         f"budget: the fastest of them, {what}")
        return lines
    c = rec["choice"]
    lo, hi = rec["interval"]
    tie = (f"  {rec['tied']} configurations tie on inferences/s/W and {key}: the tie goes "
           "to the higher output SQNR (to 0.5 dB), then the cheaper calibration "
           "(minmax, percentile, entropy, mse, auto)" if rec.get("tied", 1) > 1 else None)
    lines = [f"recommendation (most inferences/s/W {limits}): {_config(c)} on "
             f"{c['target']} at batch {c['batch']}: {c['inferences_per_s_per_w']:.0f} "
             f"inferences/s/W, {c['latency_us']:.2f} us per batch, "
             f"{100 * c[key]:.2f}% {key} (95% CI {100 * lo:.1f}-{100 * hi:.1f}%)"]
    if tie:
        lines.append(tie)
    f = rec.get("vs_fp32")
    if f:
        lines.append(f"  against FP32 on the same samples: {f['only_a']} right only "
                     f"quantized, {f['only_b']} right only in FP32 (McNemar p = "
                     f"{f['p_value']:.2g})")
    b = rec.get("vs_most_accurate")
    if b and (b["granularity"], b["method"]) != (c["granularity"], c["method"]):
        lines.append(f"  against the most accurate ({b['granularity']} weights, "
                     f"{b['method']}: {100 * b[key]:.2f}%): {b['only_a']} vs "
                     f"{b['only_b']} samples only one gets right (McNemar p = "
                     f"{b['p_value']:.2g}" + ("; not a significant difference)"
                                              if b["p_value"] >= 0.05 else ")"))
    if rec.get("command"):
        lines.append(f"  to build it: {rec['command']}")
    lat = rec["latency_only"]
    lines.append(f"latency-only choice (the fastest under the same limits): {_config(lat)} "
                 f"on {lat['target']} at batch {lat['batch']}: {lat['latency_us']:.2f} us "
                 f"per batch, {lat['inferences_per_s_per_w']:.0f} inferences/s/W, "
                 f"{100 * lat[key]:.2f}% {key}")
    return lines


# ------------------------------------------------------------------ tables
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _db(x) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}" if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _target_label(r: dict) -> str:
    return f"{r['target']} (what-if)" if r.get("what_if") else r["target"]


def quality_table(result: dict) -> list[str]:
    key = quality_key(result)
    n = result["fp32"]["samples"]
    lines = [f"| weights | calibration | {key} (95% CI) | agreement with FP32 | "
             "SQNR (dB) | ranges + quantize (s) | note |",
             "|---|---|---:|---:|---:|---:|---|"]
    for q in result["quality"]:
        if q.get("error"):
            lines.append(f"| {q['granularity']} | {q['method']} | - | - | - | - | "
                         f"{_cell(q['error'])} |")
            continue
        v = q.get(key)
        if v is not None:
            lo, hi = wilson_interval(round(v * n), n)
            acc = f"{100 * v:.2f}% ({100 * lo:.1f}-{100 * hi:.1f})"
        else:
            acc = "-"
        note = ""
        if q.get("auto_choice"):
            note = "per tensor: " + ", ".join(f"{m} {c}" for m, c in
                                              sorted(q["auto_choice"].items()))
        lines.append(f"| {q['granularity']} | {q['method']} | {acc} | "
                     f"{_pct(q.get('agreement'))} | {_db(q.get('sqnr_db'))} | "
                     f"{q.get('quantize_s', 0):.2f} | {note} |")
    return lines


def _cell(text: str) -> str:
    from qcc.diagnostics import escape_controls

    return escape_controls(text).replace("|", "\\|")


def performance_table(result: dict) -> list[str]:
    """Per target and batch, one row per distinct performance and the configurations
    that have it."""
    lines = ["| target | batch | configurations | latency (us) | saved if rescaling were "
             "free (us) | inferences/s | inferences/s/W | TOPS | instructions |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    total = len(result["quality"])
    groups: dict = {}
    for p in result["performance"]:
        groups.setdefault((p["target"], p["batch"]), []).append(p)
    for (_, batch), rows in groups.items():
        label = _target_label(rows[0])
        distinct: dict = {}
        for p in rows:
            k = ("error", p["error"]) if p.get("error") else \
                ("ok", round(p["latency_us"], 6), round(p["inferences_per_s_per_w"], 6))
            distinct.setdefault(k, []).append(p)
        for k, sel in distinct.items():
            who = f"all {total}" if len(sel) == total and total > 1 else \
                ", ".join(f"{p['granularity']}/{p['method']}" for p in sel)
            p = sel[0]
            if k[0] == "error":
                lines.append(f"| {label} | {batch} | {who} | cannot compile: "
                             f"{_cell(p['error'])} | | | | | |")
                continue
            lines.append(f"| {label} | {batch} | {who} | {p['latency_us']:.2f} | "
                         f"{_us(p.get('rescale_us'))} | "
                         f"{p['inferences_per_s']:.0f} | {p['inferences_per_s_per_w']:.0f} | "
                         f"{p['tops']:.3f} | {sum(p['program'].values())} |")
    return lines


def _us(x) -> str:
    return f"{x:.2f}" if isinstance(x, int | float) and math.isfinite(x) else "-"


def layer_table(result: dict, method: str) -> list[str]:
    by = {(q["granularity"], q["method"]): q for q in result["quality"]}
    pt, pc = by.get(("per-tensor", method)), by.get(("per-channel", method))
    if not pt or not pc or pt.get("error") or pc.get("error"):
        return []
    a, b = pt.get("layer_sqnr_db") or {}, pc.get("layer_sqnr_db") or {}
    lines = [f"On the first {result.get('layer_samples', 64)} evaluation samples (the "
             "output row can differ from the summary's SQNR, which is on all of them); "
             f"{method} calibration.", "",
             "| layer | per-tensor SQNR (dB) | per-channel SQNR (dB) | gain (dB) |",
             "|---|---:|---:|---:|"]
    for name in a:
        if name in b:
            gain = b[name] - a[name] if math.isfinite(a[name]) and math.isfinite(b[name]) \
                else None
            lines.append(f"| {_cell(name)} | {_db(a[name])} | {_db(b[name])} | "
                         f"{'-' if gain is None else f'{gain:+.1f}'} |")
    return lines if len(lines) > 4 else []


def joint_table(result: dict) -> list[str]:
    key = quality_key(result)
    lines = [f"| weights | calibration | target | batch | {key} | SQNR (dB) | latency (us) "
             "| inferences/s | inferences/s/W | TOPS |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        if r.get("error"):
            lines.append(f"| {r['granularity']} | {r['method']} | {r['target']} | "
                         f"{r['batch']} | {_pct(r.get(key))} | {_db(r.get('sqnr_db'))} | "
                         f"error: {_cell(r['error'])} | | | |")
            continue
        lines.append(f"| {r['granularity']} | {r['method']} | {_target_label(r)} | "
                     f"{r['batch']} | {_pct(r.get(key))} | {_db(r.get('sqnr_db'))} | "
                     f"{r['latency_us']:.2f} | {r['inferences_per_s']:.0f} | "
                     f"{r['inferences_per_s_per_w']:.0f} | {r['tops']:.3f} |")
    return lines


def to_markdown(result: dict, rec: dict | None, full: bool = True) -> str:
    """explore.md; ``full=False`` (what the command prints) leaves out the per-layer
    and the joint tables."""
    key = quality_key(result)
    fp = result["fp32"]
    cal = result.get("calibration", {})
    head = [f"# qcc explore: {result['model']}", "",
            f"FP32 {key}: " + (f"{_pct(fp['accuracy'])} ({fp['correct']} of "
                               f"{fp['samples']})" if fp["accuracy"] is not None else
                               "100% (the reference)")
            + f" on all {fp['samples']} samples of {result.get('eval_data')}."]
    if cal:
        head.append(f"Calibration: {cal.get('samples')} samples of {cal.get('data')}, "
                    f"statistics collected once in {cal.get('collect_s', 0):.2f} s, in runs "
                    f"of {cal.get('run')} samples (entropy, mse and auto ranges depend on "
                    "the runs: to rebuild a configuration, compile from explore's "
                    "stats.json), and shared by the fixed methods" +
                    (f"; {cal['sufficiency']}" if cal.get("sufficiency") else "") + ".")
    out = [*head, "", "## Accuracy and SQNR per configuration", "", *quality_table(result)]
    out += ["", "## Performance per target and batch", "", *performance_table(result)]
    notes = performance_notes(result)
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    methods = [q["method"] for q in result["quality"]]
    layer_method = (rec or {}).get("choice", {}) or {}
    lt = layer_table(result, layer_method.get("method") or
                     next((m for m in methods if m != "auto"), methods[0]))
    if lt and full:
        out += ["", "## Per-layer SQNR: per-tensor vs per-channel weights", "", *lt]
    if full:
        out += ["", "## All configurations", "", *joint_table(result)]
    if rec is not None:
        out += ["", "## Recommendation", "", *recommendation_lines(rec)]
    return "\n".join(out) + "\n"


def performance_notes(result: dict) -> list[str]:
    """What the performance table means: real differences between configurations
    (instruction by instruction), and why per-channel weights cost nothing where they
    do not."""
    notes = list(result.get("differences", []))
    ok = [p for p in result["performance"] if not p.get("error")]
    if ok and not notes:
        notes.append("every configuration runs the same instructions in the same time on "
                     "each target and batch: calibration methods and weight granularity "
                     "change only the numbers (scales, multipliers, table contents)")
    for t in sorted({p["target"] for p in ok}):
        assumption = next((p.get("requantization") for p in ok
                           if p["target"] == t and p.get("requantization")), None)
        if assumption:
            notes.append(f"{t}: {assumption}")
    return notes


# ------------------------------------------------------------------ plots
METHOD_MARKERS = {"minmax": "o", "percentile": "s", "entropy": "^", "mse": "D", "auto": "*"}
GRANULARITY_STYLE = {"per-tensor": "hollow", "per-channel": "filled"}


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _legend(targets: list[str], methods: list[str], granularities: list[str]):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{k}", lw=0, marker="o", label=f"target {t}")
               for k, t in enumerate(targets)]
    handles += [Line2D([], [], color="0.3", lw=0, marker=METHOD_MARKERS.get(m, "x"),
                       markerfacecolor="none", label=f"calibration {m}") for m in methods]
    handles += [Line2D([], [], color="0.3", lw=0, marker="h", markersize=8,
                       markerfacecolor="0.3" if g == "per-channel" else "none",
                       markeredgecolor="k" if g == "per-channel" else "0.3",
                       label=f"{g} weights ({'filled' if g == 'per-channel' else 'hollow'})")
                for g in granularities]
    return handles


def _marker_size(method: str, methods: list[str], granularity: str) -> float:
    """Markers of one position drawn concentrically: each method a size of its own
    (the first the largest), per-channel inside per-tensor; larger ones go behind."""
    i = methods.index(method) if method in methods else 0
    size = 230.0 * 0.62 ** i
    return size * (0.45 if granularity == "per-channel" else 1.0)


def _scatter(ax, rows: list[dict], x: str, y: str, targets: list[str],
             methods: list[str], scale_y=1.0):
    """Every row a marker at its true position; configurations with the same figures
    stay visible as concentric markers (smaller on top)."""
    for r in sorted(rows, key=lambda r: -_marker_size(r["method"], methods,
                                                       r["granularity"])):
        k = targets.index(_target_label(r))
        filled = r["granularity"] == "per-channel"
        # filled markers get a black outline: a smaller one inside stays visible
        ax.scatter([r[x]], [r[y] * scale_y],
                   s=_marker_size(r["method"], methods, r["granularity"]),
                   marker=METHOD_MARKERS.get(r["method"], "x"),
                   facecolors=f"C{k}" if filled else "none",
                   edgecolors="k" if filled else f"C{k}",
                   linewidths=0.7 if filled else 1.2)


def _span(ax, axis: str, values: list[float]) -> None:
    """Axis limits with a margin around ``values``; a log scale when they span more
    than 10x (plain numbers on the ticks)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    lo, hi = min(values), max(values)
    log = lo > 0 and hi / lo > 10
    if log:
        lims = (lo / 1.4, hi * 1.4)
    else:
        pad = (hi - lo) * 0.2 or abs(hi) * 0.05 or 1.0
        lims = (lo - pad, hi + pad)
    target = ax.xaxis if axis == "x" else ax.yaxis
    if log:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        target.set_major_locator(LogLocator(numticks=5))
        target.set_minor_formatter(NullFormatter())
        target.set_major_formatter(ScalarFormatter())
    (ax.set_xlim if axis == "x" else ax.set_ylim)(*lims)


def accuracy_figures(result: dict):
    """[(file name, figure)]: accuracy vs latency and inferences/s/W vs accuracy, one
    panel per target (rows) and batch size (columns); marker shape = calibration
    method, filled = per-channel, hollow = per-tensor, colour = target (what-ifs named
    as such). Points are at their true positions: configurations with the same
    figures are drawn concentrically. None without matplotlib."""
    plt = _plt()
    if plt is None:
        return None
    key = quality_key(result)
    rows = [r for r in result["rows"] if not r.get("error") and r.get(key) is not None]
    if not rows:
        return []
    batches = sorted({r["batch"] for r in rows})
    targets = sorted({_target_label(r) for r in rows})
    methods = list(dict.fromkeys(q["method"] for q in result["quality"]))
    grans = list(dict.fromkeys(q["granularity"] for q in result["quality"]))
    figs = []
    pcts = [100 * r[key] for r in rows]
    top = min(100.0, max(pcts) + 0.5)
    bottom = min(pcts) - 0.5
    for fname, x, y, xl, yl in (
            ("accuracy_vs_latency.png", "latency_us", "_pct",
             "latency per batch (us, simulated)", f"{key} (%)"),
            ("perf_per_watt.png", "_pct", "inferences_per_s_per_w", f"{key} (%)",
             "inferences/s/W (simulated)")):
        fig, axes = plt.subplots(len(targets), len(batches),
                                 figsize=(3.9 * len(batches) + 2.7, 3.1 * len(targets) + 0.5),
                                 squeeze=False)
        for i, target in enumerate(targets):
            for j, batch in enumerate(batches):
                ax = axes[i][j]
                sel = [r for r in rows if r["batch"] == batch and _target_label(r) == target]
                for r in sel:
                    r["_pct"] = 100 * r[key]
                if not sel:
                    ax.set_visible(False)
                    continue
                _scatter(ax, sel, x, y, targets, methods)
                if x == "_pct":
                    ax.set_xlim(bottom, top)
                    _span(ax, "y", [r[y] for r in sel])
                else:
                    ax.set_ylim(bottom, top)
                    _span(ax, "x", [r[x] for r in sel])
                    front = sorted(pareto(sel, key), key=lambda r: r[x])
                    ax.plot([r[x] for r in front], [100 * r[key] for r in front], "k:",
                            lw=1, label="Pareto front")
                ax.set_title(f"{target}, batch {batch}", fontsize=8)
                ax.set_xlabel(xl, fontsize=7)
                ax.set_ylabel(yl, fontsize=7)
                ax.tick_params(labelsize=7)
                ax.grid(True, alpha=0.3)
        handles = _legend(targets, methods, grans)
        right = 1 - 2.6 / fig.get_figwidth()
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(right, 0.5),
                   fontsize=7, frameon=False)
        fig.text(0.01, 0.005, "configurations with the same figures are drawn "
                 "concentrically (each method its own size, per-channel inside per-tensor)",
                 fontsize=6, color="0.4")
        fig.tight_layout(rect=(0, 0.03, right, 1))
        figs.append((fname, fig))
    for r in rows:
        r.pop("_pct", None)
    return figs


def roofline_figure(result: dict):
    """One panel per target: its roof (min(peak, 2 x weight bandwidth x intensity))
    and every layer with matrix work, labelled."""
    plt = _plt()
    roof = result.get("roofline") or {}
    if plt is None or not roof.get("targets"):
        return None
    items = list(roof["targets"].items())
    fig, axes = plt.subplots(1, len(items), figsize=(5.0 * len(items), 4.4), squeeze=False)
    xs = np.logspace(-1, 5, 200)
    for k, (ax, (name, data)) in enumerate(zip(axes[0], items, strict=True)):
        line = np.minimum(data["peak_tops"], 2 * data["weight_bandwidth"] * xs / 1e12)
        label = f"{name} (what-if)" if data.get("what_if") else name
        ax.plot(xs, line, color=f"C{k}", label=f"{label} roof")
        for i, p in enumerate(data["layers"]):
            ax.scatter([p["macs_per_byte"]], [max(p["tops"], 1e-4)], color=f"C{k}", s=16,
                       label="layers" if i == 0 else None)
            ax.annotate(_short(p["layer"]), (p["macs_per_byte"], max(p["tops"], 1e-4)),
                        fontsize=6, xytext=(4, 6 if i % 2 else -9),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("operational intensity (MACs per weight byte)", fontsize=8)
        ax.set_ylabel("TOPS (simulated)", fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(True, alpha=0.3)
    cfg = roof["configuration"]
    fig.suptitle(f"per layer: {cfg['granularity']} weights, {cfg['method']} calibration, "
                 f"batch {cfg['batch']} (a layer whose weights were prefetched during "
                 "earlier layers can sit above its roof)", fontsize=8)
    fig.tight_layout()
    return fig


def _short(layer: str) -> str:
    parts = [p for p in layer.replace("/", " ").split() if p]
    text = " ".join(parts[-2:]) if parts else layer
    return text if len(text) <= 24 else text[:23] + "…"


def _save_figure(fig, path: Path) -> None:
    """Render to PNG in memory and write it as an output (qcc/outputs.py)."""
    import io

    import matplotlib.pyplot as plt

    from qcc.outputs import write_output

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    write_output(path, buf.getvalue())


# ------------------------------------------------------------------ outputs
def reproduce_command(result: dict, row: dict, out_dir: Path) -> str:
    """The ``qcc compile`` that builds the program of ``row`` exactly: explore's
    statistics (and auto's choice) instead of the calibration data, so the ranges do
    not depend on the compile's batch."""
    import shlex

    cmd = ["qcc", "compile", result["model"], "--stats", str(out_dir / "stats.json"),
           "--calibration", row["method"], "--granularity", row["granularity"]]
    if row["method"] == "auto":
        cmd += ["--auto-choice", str(out_dir / f"auto-{row['granularity']}.json")]
    shapes = result.get("input_shapes") or {}
    if shapes:  # the swept batch in place of the first dimension
        for name, dims in shapes.items():
            dims = [row["batch"], *list(dims)[1:]]
            cmd += ["--input-shape", f"{name}=" + "x".join(str(d) for d in dims)]
    else:
        cmd += ["--batch", str(row["batch"])]
    cmd += ["--target", row["target"]]
    stem = Path(result["model"]).stem or "model"
    cmd += ["-o", f"{stem}.tpu"]
    return " ".join(shlex.quote(c) for c in cmd)


def finite(obj):
    """JSON-safe copy (infinities as strings, numpy scalars as numbers; keys starting
    with '_' left out)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, np.generic):
        return finite(obj.item())
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def write_outputs(result: dict, out_dir: Path, max_drop: float,
                  max_latency_us: float | None = None, include_what_if: bool = False
                  ) -> tuple[dict | None, list[str]]:
    """Write explore.json, explore.md and (with matplotlib) the plots into
    ``out_dir``; returns the recommendation and the names written."""
    from qcc.outputs import write_output

    if out_dir.exists() and not out_dir.is_dir():
        raise QccError(f"--out {out_dir}: exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    rec = recommend(result, max_drop, max_latency_us, include_what_if)
    files = result.get("_files") or {}
    for name, text in files.items():
        write_output(out_dir / name, text)
    if rec.get("choice") and "stats.json" in files and Path(result["model"]).is_file():
        rec["command"] = reproduce_command(result, rec["choice"], out_dir)
    write_output(out_dir / "explore.json",
                 json.dumps(finite({**result, "recommendation": rec}), indent=1,
                            sort_keys=True) + "\n")
    write_output(out_dir / "explore.md", to_markdown(result, rec))
    written = ["explore.json", "explore.md", *files]
    for name, fig in accuracy_figures(result) or []:
        _save_figure(fig, out_dir / name)
        written.append(name)
    fig = roofline_figure(result)
    if fig is not None:
        _save_figure(fig, out_dir / "roofline.png")
        written.append("roofline.png")
    return rec, written
