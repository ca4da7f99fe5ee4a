"""The one-call Python API behind the CLI: load a model, run pipelines, run the
interpreter, compile (frontend, passes, then the backend found by the target's name
in the registry, qcc/backend.py), load and save arrays, write files atomically.

    import qcc
    m = qcc.load("examples/models/digits_cnn.onnx")            # .onnx or .mlir
    qcc.run_pipeline(m, "canonicalize,normalize-gemm")
    outputs = qcc.run(m, {"input": x})
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qcc.diagnostics import QccError
from qcc.ir.core import Graph, Module

if TYPE_CHECKING:
    from qcc.passmanager import PassContext, Pipeline


def import_onnx(model: Any, batch: int | None = None,
                input_shapes: Mapping[str, Any] | None = None) -> Module:
    """Import an ONNX model (path, bytes or ModelProto) into the nn dialect.
    ``input_shapes`` ({input name: shape}, e.g. ``{"input": (1, 3, 224, 224)}``) fixes
    any dynamic dimension of the inputs; ``batch`` (default 1) a dynamic first one."""
    from qcc.frontend import import_onnx as frontend_import

    return frontend_import(model, batch=batch,
                           input_shapes=None if input_shapes is None else dict(input_shapes))


def load(path: str | os.PathLike, batch: int | None = None,
         input_shapes: Mapping[str, Any] | None = None) -> Module:
    """Load a model: ONNX (``.onnx``, or any file whose content is an ONNX model and
    not text) through the frontend, anything else as IR text (whose shapes are
    static already: ``input_shapes`` and ``batch`` apply to ONNX models only)."""
    path = Path(path)
    if path.suffix == ".onnx" or _is_onnx_content(path):
        return import_onnx(path, batch=batch, input_shapes=input_shapes)
    if input_shapes:
        raise QccError(f"{path}: input shapes (--input-shape) apply to ONNX models; IR text "
                       "has static shapes")
    return parse_file(path)


def _is_onnx_content(path: Path) -> bool:
    """A file not named .onnx that is not UTF-8 text but parses as an ONNX model with
    a graph (a symlink or a download without the suffix)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    try:
        data.decode("utf-8")
        return False
    except UnicodeDecodeError:
        pass
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        return False
    return model.HasField("graph") and len(model.graph.node) > 0


def parse_file(path: str | os.PathLike) -> Module:
    from qcc.text import parse_module

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise QccError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise QccError(f"{path}: not IR text (byte 0x{e.object[e.start]:02x} at offset "
                       f"{e.start} is not UTF-8) and not an ONNX model either") from None
    except OSError as e:
        raise QccError(f"{path}: cannot read IR text: {e}") from None
    return parse_module(text, str(path))


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write an output file so that it either appears complete or not at all (see
    :mod:`qcc.outputs`: devices, FIFOs and ``-`` are written in place as streams,
    symlinks are followed, directories and missing parents are clean errors)."""
    from qcc.outputs import write_output

    write_output(path, data)


def load_passes(path: str | os.PathLike) -> None:
    """Import a Python file of user passes (they register themselves)."""
    path = Path(path)
    if not path.is_file():
        raise QccError(f"--load {path}: no such file")

    name = "qcc_user_passes_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    if name in sys.modules:  # already loaded in this process
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise QccError(f"--load {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except QccError:
        del sys.modules[name]
        raise
    except (Exception, SystemExit) as e:  # a file that calls exit() is not a pass file
        del sys.modules[name]
        raise QccError(f"--load {path}: loading it failed: {type(e).__name__}: {e}") from None


def _read_array_file(path: Path) -> dict[str, np.ndarray] | np.ndarray:
    from qcc.calibration.npyio import array_file_kind

    if path.is_dir():
        raise QccError(f"input file {path}: is a directory, not a .npy/.npz file")
    if not path.is_file():
        raise QccError(f"input file {path}: no such file")
    kind = array_file_kind(path)
    if path.suffix == ".npz" and kind == "npy":
        raise QccError(f"input file {path}: is a .npy array but named .npz; rename it to .npy")
    if path.suffix != ".npz" and kind == "npz":
        raise QccError(f"input file {path}: is a .npz archive (zip) but not named .npz; "
                       "rename it to .npz")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise QccError(f"input file {path}: not a readable .npy/.npz array file ({e})") \
            from None


def load_inputs(specs: list[str], graph: Graph | list[str],
                what: str = "model") -> dict[str, np.ndarray]:
    """Resolve ``--input`` arguments: ``file.npy`` (single-input models),
    ``name=file.npy``, or ``file.npz`` (arrays by input name). ``graph`` gives the
    input names (a graph, or the names themselves); ``what`` names it in messages
    ("model" or "program"). Arrays of a .npz that are not inputs are left out: a
    ``label`` (as in the calibration and evaluation files) silently, others with one
    warning per file, as compile does; an input given twice is an error."""
    from qcc.diagnostics import warn

    names = graph.input_names if isinstance(graph, Graph) else list(graph)
    inputs: dict[str, np.ndarray] = {}
    given_by: dict[str, str] = {}

    def add(name: str, value: np.ndarray, spec: str) -> None:
        if name in given_by:
            raise QccError(f"--input {spec}: input {name!r} is already given by "
                           f"--input {given_by[name]}")
        given_by[name] = spec
        inputs[name] = value

    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            name, file = "", spec
        loaded = _read_array_file(Path(file))
        if isinstance(loaded, dict):
            if name:
                raise QccError(f"--input {spec}: name= is for .npy files; a .npz names its "
                               "arrays itself")
            from qcc.calibration.data import LABEL_ARRAYS

            extra = [k for k in loaded if k not in names and k not in LABEL_ARRAYS]
            if extra:
                warn(f"--input {file}: ignoring {', '.join(map(repr, extra))}: not an input "
                     f"of the {what} (its inputs: {', '.join(names)})")
            for k, v in loaded.items():
                if k in names:
                    add(k, v, spec)
            continue
        if not name:
            if len(names) != 1:
                raise QccError(f"--input {spec}: the {what} has {len(names)} "
                               f"inputs ({', '.join(names)}); use name=file.npy")
            name = names[0]
        add(name, loaded, spec)
    return inputs


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal inputs of the right shapes, from a fixed seed; integer and
    boolean inputs (token ids, masks) get 0 or 1, valid for any embedding table."""
    rng = np.random.default_rng(seed)
    return {n: (rng.standard_normal(a.type.shape) if a.type.element.numpy_dtype.kind == "f"
                else rng.integers(0, 2, a.type.shape)).astype(a.type.element.numpy_dtype)
            for n, a in zip(graph.input_names, graph.args, strict=True)}


def save_outputs(path: str | os.PathLike, outputs: Mapping[str, np.ndarray]) -> None:
    """``.npy`` for a single output, ``.npz`` (arrays by output name) otherwise."""
    import io

    path = Path(path)
    buf = io.BytesIO()
    if path.suffix == ".npz":
        np.savez(buf, **dict(outputs))
    elif len(outputs) == 1:
        np.save(buf, next(iter(outputs.values())))
    else:
        raise QccError(f"--output {path}: the model has {len(outputs)} outputs; use a .npz "
                       "file")
    write_atomic(path, buf.getvalue())


def run(module: Module, inputs: Mapping[str, Any], engine: str = "numpy"
        ) -> dict[str, np.ndarray]:
    """Run ``module`` on named inputs. ``engine="numpy"`` (the default) interprets it:
    the reference semantics. ``engine="onnxruntime"`` runs a float graph in an
    onnxruntime session instead (qcc/ort_float.py: faster, equal up to the last bits
    of float sums); the session is built on every call, so for many runs build a
    :class:`qcc.ort_float.FloatSession` once and call its ``run``."""
    from qcc.ort_float import FloatSession, check_engine

    if check_engine(engine) == "onnxruntime":
        return FloatSession(module).run(inputs)
    from qcc.interpreter import run as interpret

    return interpret(module, inputs)


#: float clean-up before calibration: what `qcc quantize` runs first
PREPARE_PIPELINE = "canonicalize,normalize-gemm,fold-batchnorm,canonicalize"


def quantization_pipeline(method: str = "minmax", granularity: str = "per-channel",
                          activations: str = "int8", exclude: tuple[str, ...] = (),
                          data: str | None = None, stats: str | None = None,
                          save_stats: str | None = None, integer: bool = True,
                          mixed_precision: str | int | None = None,
                          float_outputs: bool = True,
                          outlier_channels: bool = False,
                          auto_choice: str | None = None,
                          calibration_engine: str = "numpy") -> Pipeline:
    """The pipeline `qcc quantize` runs: float clean-up, calibrate, [mixed-precision,]
    quantize and (for the integer program) fold-rescale and fuse-relu.
    ``mixed_precision``: ``"auto"`` (the fewest float activations that reach 30 dB
    output SQNR), ``"auto:N"`` or N (the N whose int8 error is worst), None: int8."""
    from qcc.passmanager import Pipeline

    pipeline = Pipeline.parse(PREPARE_PIPELINE)
    calib = {"method": method}
    if data:
        calib["data"] = str(data)
    if stats:
        calib["stats"] = str(stats)
    if save_stats:
        calib["save_stats"] = str(save_stats)
    if outlier_channels:
        calib["outlier_channels"] = True
    if calibration_engine != "numpy":  # the default keeps the pipeline string as it was
        calib["engine"] = calibration_engine
    if method == "auto" and auto_choice:  # what an earlier auto chose, from a file
        calib["choice"] = str(auto_choice)
    if method == "auto":  # it measures with the quantization that follows
        calib["granularity"] = granularity
        calib["activations"] = activations
        if exclude:
            calib["exclude"] = tuple(exclude)
    pipeline.add("calibrate", **calib)
    qopts: dict[str, Any] = {"granularity": granularity, "activations": activations}
    if exclude:
        qopts["exclude"] = tuple(exclude)
    layers = parse_mixed_precision(mixed_precision)
    if layers is not None:
        mopts = {"layers": layers, **qopts}
        if not float_outputs:  # the backend reads every output from a dequantize
            mopts["outputs"] = False
        if data:
            mopts["data"] = str(data)
        pipeline.add("mixed-precision", **mopts)
    pipeline.add("quantize", **qopts)
    if integer:
        if exclude:  # the excluded ops stay float: fold-rescale leaves them
            pipeline.add("fold-rescale", exclude=tuple(exclude)).add("fuse-relu")
        else:
            pipeline.add("fold-rescale").add("fuse-relu")
    return pipeline


def parse_mixed_precision(spec: str | int | None) -> int | None:
    """``auto`` -> 0 (the pass chooses how many), ``auto:N`` or N -> N, None -> None."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 1:
            raise QccError(f"mixed precision: {spec} layers; give at least 1 (or 'auto')")
        return spec
    text = str(spec).strip()
    if text == "auto":
        return 0
    head, sep, n = text.partition(":")
    if head == "auto" and sep and n.isdigit() and int(n) >= 1:
        return int(n)
    raise QccError(f"mixed precision '{spec}': expected 'auto' (the fewest float layers that "
                   "reach 30 dB output SQNR) or 'auto:N' with N >= 1 (the N worst layers)")


def check_exclude_early(module: Module, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """``exclude`` with tensors named as ONNX names them (``/Add_7_output_0``) given
    the IR's spelling (``_Add_7_output_0``); names that match nothing, as an error
    before calibration runs (``quantize`` checks them again on the graph it
    quantizes)."""
    if not exclude:
        return tuple(exclude)
    from qcc.passes.quantize import canonical_exclude, check_exclude

    exclude = canonical_exclude(module, tuple(exclude))
    check_exclude(module, exclude)
    return exclude


def quantize_model(module: Module, calib_data: Any = None, method: str = "minmax",
                   granularity: str = "per-channel", activations: str = "int8",
                   exclude: tuple[str, ...] = (), stats: str | None = None,
                   save_stats: str | None = None, integer: bool = True,
                   ctx: PassContext | None = None,
                   mixed_precision: str | int | None = None,
                   outlier_channels: bool = False,
                   auto_choice: str | None = None,
                   calibration_engine: str = "numpy") -> Module:
    """Quantize ``module`` in place and return it.

    ``calib_data`` is a path (a .npz file or a folder of .npy/.npz files) or an
    iterable of {input name: array} batches. With ``integer=False`` the result is the
    fake-quantized graph (quantize/dequantize around float ops), which
    ``qcc export-qdq`` writes as ONNX QDQ; otherwise the integer program.
    ``mixed_precision`` (``"auto"``, ``"auto:N"``) keeps in float the activations
    whose int8 error costs the most (passes/mixed_precision.py); what was chosen is in
    ``ctx.data["mixed_precision"]`` and ``ctx.data["kept_float"]``.
    ``outlier_channels``: 2-D and 3-D activations with outlier channels that no op
    with weights reads get one scale per channel of the last axis (a transformer's
    residual stream; docs/calibration.md).
    ``method="auto"`` chooses per activation the method (minmax, percentile, entropy,
    mse) whose range gives the least output error on the calibration data
    (qcc/calibration/auto.py; with ``stats=`` it still needs ``calib_data`` to
    measure on): the choice is in ``ctx.data["calibration_choice"]`` ({tensor:
    method}) and the details in ``ctx.data["calibration_auto"]``. Whatever the method,
    ``ctx.data["calibration_sufficiency"]`` says how much the ranges still moved in
    the last quarter of the samples (``.summary()``, ``.sufficient``).
    ``auto_choice``: with ``method="auto"``, a JSON file of tensor -> method (what an
    earlier auto chose) used instead of measuring; then ``stats=`` alone suffices.
    ``calibration_engine``: ``"numpy"`` (the FP32 interpreter, the default) or
    ``"onnxruntime"`` (the float graph run by onnxruntime: faster, ranges close to the
    interpreter's; qcc/calibration/ort_engine.py).
    """
    from qcc.passmanager import PassContext

    if calib_data is not None and stats and method != "auto":
        raise QccError("give calibration data or statistics to load (stats=), not both "
                       "(only method='auto' takes both: it measures on the data)")
    if auto_choice and method != "auto":
        raise QccError("auto_choice (a file of auto's choices) applies to method='auto'")
    ctx = ctx or PassContext()
    data = None
    if isinstance(calib_data, str | os.PathLike):
        data = str(calib_data)
    elif calib_data is not None:
        ctx.data["calibration_data"] = calib_data
    exclude = check_exclude_early(module, tuple(exclude))
    pipeline = quantization_pipeline(method, granularity, activations, tuple(exclude), data,
                                     stats, save_stats, integer, mixed_precision,
                                     outlier_channels=outlier_channels,
                                     auto_choice=auto_choice,
                                     calibration_engine=calibration_engine)
    from qcc.outputs import transaction

    with transaction():  # the save_stats file only if the whole pipeline succeeds
        pipeline.run(module, ctx)
    return module


def content_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of a file's bytes; for a folder (calibration data), of the sorted names
    and contents of the .npy/.npz files in it (what the calibration reads, in its
    order). None if the path does not exist."""
    p = Path(path)
    if p.is_file():
        return hashlib.sha256(p.read_bytes()).hexdigest()
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in p.iterdir() if q.is_file() and q.suffix in (".npy",
                                                                               ".npz")):
            h.update(f.name.encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
        return h.hexdigest()
    return None


def compile(model: Any, calib_data: Any = None, method: str = "minmax",
            granularity: str = "per-channel", activations: str = "int8",
            exclude: tuple[str, ...] = (), stats: str | None = None,
            target: Any = "tpu-v1", batch: int | None = None, save_stats: str | None = None,
            instrumentation: Any = None, input_shapes: Mapping[str, Any] | None = None,
            host_ops: tuple[str, ...] | str = (), no_host: bool = False,
            mixed_precision: str | int | None = None, outlier_channels: bool = False,
            auto_choice: str | None = None, calibration_engine: str = "numpy"):
    """Compile a model (path or module) to a program for ``target`` (a target name
    such as ``tpu-v1`` or ``tpu-v1-gddr5``, a target file, or a loaded target; the
    backend is found by it): calibrate, quantize, fold, lower. Returns the backend's
    compiled model, with ``.run(inputs)``, ``.estimate()``, ``.report()`` and
    ``.save(path)``. A ``save_stats`` file is written only if the whole compile
    succeeds. ``instrumentation`` (a :class:`qcc.passmanager.Instrumentation`)
    prints, times or stops the compile's pipeline at any pass; stopped by its
    ``stop_after``, the compile returns a :class:`StoppedCompile` (the IR then).
    ``input_shapes`` and ``batch`` fix the dynamic dimensions of an ONNX model's inputs
    (:func:`import_onnx`). Ops the accelerator cannot run go to the host
    (docs/partitioning.md); ``host_ops`` (ONNX op types, node names or IR op names)
    forces ops there and ``no_host=True`` makes any such op an error.
    ``mixed_precision`` (``"auto"``, ``"auto:N"``) keeps in float the activations whose
    int8 error costs the most and ``outlier_channels`` gives activations with outlier
    channels one scale per channel; ``auto_choice`` gives ``method="auto"`` the
    methods an earlier auto chose and ``calibration_engine`` (``"numpy"``, the
    interpreter, or ``"onnxruntime"``) what computes the calibration's activations
    (:func:`quantize_model`)."""
    return compile_model(model, calib_data, method, granularity, activations,
                         tuple(exclude), stats, target, batch, save_stats, instrumentation,
                         input_shapes, host_ops, no_host, mixed_precision, outlier_channels,
                         auto_choice, calibration_engine)


def compile_model(model: Any, calib_data: Any = None, method: str = "minmax",
                  granularity: str = "per-channel", activations: str = "int8",
                  exclude: tuple[str, ...] = (), stats: str | None = None,
                  target: Any = "tpu-v1", batch: int | None = None,
                  save_stats: str | None = None, instrumentation: Any = None,
                  input_shapes: Mapping[str, Any] | None = None,
                  host_ops: tuple[str, ...] | str = (), no_host: bool = False,
                  mixed_precision: str | int | None = None, outlier_channels: bool = False,
                  auto_choice: str | None = None, calibration_engine: str = "numpy"):
    """The compile, frontend to binary: import (if a path), then one pipeline of
    passes, the quantization pipeline followed by the backend's, then the backend's
    emission. Copies of the float graph (after clean-up) and the fake-quantized one
    are kept on the way for the compile report's SQNR, and the integer graph for the
    report and the manifest. Runs in an output transaction: a ``save_stats`` file is
    written only if the whole compile succeeds."""
    from qcc.outputs import transaction

    with transaction():
        return _compile_model(model, calib_data, method, granularity, activations,
                              exclude, stats, target, batch, save_stats, instrumentation,
                              input_shapes, _placement(host_ops, no_host), mixed_precision,
                              outlier_channels, auto_choice, calibration_engine)


def _placement(host_ops: tuple[str, ...] | str, no_host: bool) -> dict:
    """Where ops the accelerator cannot run go: ``host_ops`` (ONNX op types, node
    names or IR op names) are forced to the host; ``no_host`` forbids the host."""
    if isinstance(host_ops, str):
        host_ops = tuple(n.strip() for n in host_ops.split(",") if n.strip())
    if host_ops and no_host:
        raise QccError("--host-ops and --no-host contradict each other: give one")
    return {"host_ops": tuple(host_ops), "no_host": bool(no_host)}


def _compile_model(model, calib_data, method, granularity, activations, exclude, stats,
                   target, batch, save_stats, instrumentation, input_shapes=None,
                   placement=None, mixed_precision=None, outlier_channels=False,
                   auto_choice=None, calibration_engine="numpy"):
    from qcc.backend import backend_for_target
    from qcc.passmanager import PassContext, PassManager, Pipeline, StoppedCompile
    from qcc.text import module_sha256

    placement = placement or {"host_ops": (), "no_host": False}

    if calib_data is not None and stats and method != "auto":
        raise QccError("give calibration data or statistics to load (--stats), not both "
                       "(only --calibration auto takes both: it measures on the data)")
    backend = backend_for_target(target)
    target_desc = backend.load_target(target)
    manifest: dict[str, str] = {}
    if isinstance(model, Module):
        if input_shapes:
            raise QccError("input_shapes apply to an ONNX model to import (a path), not to "
                           "a module, whose shapes are static already")
        module = model
    else:
        path = Path(model)
        module = load(path, batch=batch, input_shapes=input_shapes)
        manifest["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    if auto_choice and method != "auto":
        raise QccError("an auto choice file (--auto-choice) applies to --calibration auto")
    for key, source in (("calibration_data_sha256", calib_data), ("statistics_sha256", stats),
                        ("auto_choice_sha256", auto_choice)):
        if isinstance(source, str | os.PathLike):
            digest = content_sha256(source)
            if digest is not None:
                manifest[key] = digest
    stage = compile_stage(module)
    if stage != "float":
        # IR that a stopped compile wrote: the compile goes on from where it stopped
        if calib_data is not None or stats or save_stats:
            raise QccError(f"the model is already quantized ({stage} IR): calibration "
                           "data and statistics do not apply to it")
        rest = Pipeline.parse(backend.resume_pipeline(module, target_desc) or "")
        if (placement["host_ops"] or placement["no_host"]) and \
                "tpu-lower" not in str(rest).split(","):
            raise QccError(f"the model is already lowered ({stage} IR): --host-ops and "
                           "--no-host apply to tpu-lower, which it has been through")
        source = module.clone() if stage == "integer" else None
        ctx = PassContext()
        ctx.data["target"] = target_desc
        ctx.data["placement"] = placement
        with _compile_progress(rest, instrumentation) as after_pass:
            pm = PassManager(rest, instrumentation, after_pass=after_pass)
            pm.run(module, ctx)
        if pm.stopped_after is not None:
            return StoppedCompile(module, pm.stopped_after)
        return backend.emit(module, target_desc, manifest, source=source)
    exclude = check_exclude_early(module, tuple(exclude))
    # the pipeline without the paths of its data: a path's spelling (relative, absolute,
    # ./) must not change the binary; the files' contents are hashed above
    pipeline = quantization_pipeline(method, granularity, activations, tuple(exclude),
                                     mixed_precision=mixed_precision, float_outputs=False,
                                     outlier_channels=outlier_channels,
                                     calibration_engine=calibration_engine)
    manifest["pipeline"] = str(pipeline)
    if placement["host_ops"]:
        manifest["host_ops"] = ",".join(placement["host_ops"])
    if placement["no_host"]:
        manifest["no_host"] = "true"
    ctx = PassContext()
    ctx.data["target"] = target_desc
    ctx.data["placement"] = placement
    data_path = None
    if isinstance(calib_data, str | os.PathLike):
        data_path = str(calib_data)
    elif calib_data is not None:
        ctx.data["calibration_data"] = calib_data
    full = quantization_pipeline(method, granularity, activations, tuple(exclude),
                                 data_path, stats, save_stats,
                                 mixed_precision=mixed_precision, float_outputs=False,
                                 outlier_channels=outlier_channels, auto_choice=auto_choice,
                                 calibration_engine=calibration_engine)
    n_prepare = len(Pipeline.parse(PREPARE_PIPELINE))
    n_fake = len(full) - 2  # fold-rescale, fuse-relu
    n_integer = len(full)
    kept: dict[str, Any] = {}

    def keep(index: int, name: str, m: Module) -> None:
        if index == n_prepare - 1:
            backend.check_module(m, target_desc)
            kept["float"] = m.clone()
        elif index == n_fake - 1:
            kept["fake_quant"] = m.clone()
        elif index == n_integer - 1:
            kept["integer"] = m.clone()
            kept["integer_sha256"] = module_sha256(m)

    entries = full.entries + Pipeline.parse(backend.pipeline(target_desc) or "").entries
    with _compile_progress(Pipeline(entries), instrumentation, keep) as after_pass:
        pm = PassManager(Pipeline(entries), instrumentation, after_pass=after_pass)
        pm.run(module, ctx)
    if pm.stopped_after is not None:
        return StoppedCompile(module, pm.stopped_after)
    compiled = backend.emit(module, target_desc, manifest, source=kept["integer"],
                            source_sha256=kept["integer_sha256"])
    compiled.float_module, compiled.fake_quant_module = kept["float"], kept["fake_quant"]
    compiled.calib_data = calib_data
    compiled.mixed_precision = ctx.data.get("mixed_precision")
    compiled.outlier_channels = ctx.data.get("outlier_channels") if outlier_channels \
        else None
    compiled.kept_float = dict(ctx.data.get("kept_float", {}))
    # the method of each activation's range ({tensor: method}), what --calibration auto
    # measured, and how much the ranges still moved in the last quarter of the samples
    compiled.calibration_choice = ctx.data.get("calibration_choice")
    compiled.calibration_auto = ctx.data.get("calibration_auto")
    compiled.calibration_sufficiency = ctx.data.get("calibration_sufficiency")
    # tensors quantized with their input's type (scale-transparent ops) or a concat's
    compiled.inherited_quantization = dict(ctx.data.get("inherited_quantization") or {})
    return compiled


#: a compile's progress bar is drawn once the compile has taken this long
COMPILE_PROGRESS_DELAY_S = 1.0


@contextlib.contextmanager
def _compile_progress(pipeline: Pipeline, instrumentation: Any = None,
                      after_pass: Any = None):
    """A progress bar over the compile's passes, on a terminal only (qcc/progress.py),
    drawn once the compile has taken a second (small models compile in silence) and
    not when IR dumps go to the same stream. Yields the pass manager's ``after_pass``
    callback (``after_pass``, then the bar's update)."""
    from qcc.progress import Progress

    names = [e.pass_cls.name for e in pipeline.entries]
    dumps = instrumentation is not None and (
        instrumentation.print_ir_after_all or instrumentation.print_ir_after)
    bar = Progress(len(names), "compiling", unit="passes",
                   enabled=False if dumps else None)
    start = time.monotonic()

    def update(index: int, name: str, module: Module) -> None:
        if after_pass is not None:
            after_pass(index, name, module)
        if time.monotonic() - start < COMPILE_PROGRESS_DELAY_S and index + 1 < len(names):
            bar.done += 1  # counted, not drawn yet
            return
        bar.update(1, names[index + 1] if index + 1 < len(names) else "")

    with bar:
        yield update


def compile_stage(module: Module) -> str:
    """How far a module got: ``float`` (to be calibrated and quantized), ``integer``
    (after fold-rescale: integer ops), or ``backend`` (a backend's own dialect, e.g.
    tpu IR from ``qcc compile --stop-after``)."""
    from qcc.ir.traits import IntegerForm

    ops = module.main.ops
    if any(op.name.split(".", 1)[0] not in ("nn", "quant", "func") for op in ops):
        return "backend"
    if any(op.has_trait(IntegerForm) for op in ops):
        return "integer"
    return "float"


def explore(model: Any, calib_data: Any = None, eval_data: Any = None,
            targets: tuple[str, ...] = ("tpu-v1",), batches: tuple[int, ...] = (1,),
            jobs: int | None = None, input_shapes: Mapping[str, Any] | None = None,
            granularities: tuple[str, ...] = ("per-tensor", "per-channel"),
            methods: tuple[str, ...] = ("minmax", "percentile", "entropy", "mse", "auto"),
            progress: bool | None = False) -> dict:
    """Sweep weight granularity x calibration method (x target x batch): accuracy,
    SQNR, simulated latency, throughput and inferences/s/W per configuration (the
    `qcc explore` command). See :mod:`qcc.exploration`; its ``recommend`` and
    ``write_outputs`` take the result. ``input_shapes`` fixes the dynamic dimensions
    of the model's inputs but the first, which the sweep sets."""
    from qcc.exploration import explore as sweep

    return sweep(str(model), calib_data, eval_data, targets, batches,
                 granularities=granularities, methods=methods, jobs=jobs,
                 progress=progress, input_shapes=input_shapes)
