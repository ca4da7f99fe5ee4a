"""One call from a model to a TPU program: quantize, lower, record the manifest.

    compiled = compile_model("model.onnx", calib_data="calib.npz", target="tpu-v1")
    outputs = compiled.run({"input": x})        # float in, float out, simulated
    compiled.save("model.tpu")
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qcc.backends.tpu_v1.memory import check_activations_fit
from qcc.backends.tpu_v1.program import Program
from qcc.backends.tpu_v1.runtime import run_program
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.backends.tpu_v1.timing import TimingReport, estimate_program
from qcc.diagnostics import QccError
from qcc.ir.core import Module


@dataclass
class CompiledModel:
    """A compiled program with the integer IR it came from."""

    program: Program
    module: Module | None = None
    target: Target | None = None
    #: the tpu-dialect module the program was emitted from (planned and scheduled):
    #: the compile report reads its per-layer decisions here
    tpu_module: Module | None = None
    #: the float graph (after clean-up) and the fake-quantized graph it was quantized
    #: from, kept by compile_model for the per-layer SQNR of the compile report
    float_module: Module | None = None
    fake_quant_module: Module | None = None
    calib_data: Any = None

    def run(self, inputs: Mapping[str, np.ndarray], quantized: bool = False,
            engine: str = "auto") -> dict[str, np.ndarray]:
        """Simulate the program: float inputs -> float outputs (bit-exact integer
        arithmetic inside; the host quantizes and dequantizes at the edges). ``engine``
        computes the matrix unit's products: ``numpy`` (the reference), ``onnxruntime``
        (int8 kernels, optional) or ``auto`` (onnxruntime when installed and exact)."""
        return run_program(self.program, inputs, quantized, engine=engine)

    def estimate(self, target: Target | str | None = None, batch: int | None = None
                 ) -> TimingReport:
        """Cycles, time, throughput and energy of the program (timing.py), on its own
        target or another."""
        if target is None:
            target = self.target or load_target(self.program.target)
        elif not isinstance(target, Target):
            target = load_target(target)
        return estimate_program(self.program, target, batch)

    def report(self, target: Target | str | None = None, eval_data: Any = None):
        """The compile report (backends/tpu_v1/report.py): where every op runs, memory,
        per-layer cycles, bounds and (with eval_data, or the float graph's calibration
        data) SQNR."""
        from qcc.backends.tpu_v1.report import build_report

        return build_report(self, target, eval_data)

    def to_bytes(self) -> bytes:
        from qcc.backends.tpu_v1.binary import serialize

        return serialize(self.program)

    def save(self, path: str | os.PathLike) -> None:
        from qcc.driver import write_atomic

        write_atomic(path, self.to_bytes())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of a file's bytes; for a folder (calibration data), of the sorted names
    and contents of the .npy/.npz files in it (what the calibration reads, in its
    order). None if the path does not exist."""
    p = Path(path)
    if p.is_file():
        return _sha256(p.read_bytes())
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in p.iterdir() if q.is_file() and q.suffix in (".npy",
                                                                               ".npz")):
            h.update(f.name.encode("utf-8", "surrogateescape") + b"\0")
            h.update(bytes.fromhex(_sha256(f.read_bytes())))
        return h.hexdigest()
    return None


def target_digest(target: Target) -> str:
    """SHA-256 of every number of the target description (canonical JSON)."""
    import json

    from qcc.backends.tpu_v1.target import _to_raw

    return _sha256(json.dumps(_to_raw(target), sort_keys=True).encode())


@dataclass
class StoppedCompile:
    """A compile stopped after pass ``stopped_after`` (``stop_after``): the module as
    it was then, and no program."""

    module: Module
    stopped_after: str


def compile_module(module: Module, target: Target | str = "tpu-v1",
                   manifest: dict[str, str] | None = None,
                   instrumentation=None) -> CompiledModel | StoppedCompile:
    """Lower an already quantized integer module: the backend's passes on a copy of
    it, then emission."""
    from qcc.text import module_sha256

    if not isinstance(target, Target):
        target = load_target(target)
    tpu_module = module.clone()
    stopped = run_backend(tpu_module, target, instrumentation=instrumentation)
    if stopped is not None:
        return StoppedCompile(tpu_module, stopped)
    return _emit(module, tpu_module, target, manifest, module_sha256(module))


def run_backend(module: Module, target: Target, ctx=None, instrumentation=None
                ) -> str | None:
    """The backend's pass pipeline on an integer ``module``, in place; the pass it
    stopped after, if it stopped."""
    from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
    from qcc.passmanager import PassContext, PassManager

    ctx = ctx or PassContext()
    ctx.data["target"] = target
    pm = PassManager(BACKEND_PIPELINE, instrumentation)
    pm.run(module, ctx)
    return pm.stopped_after


def _emit(module: Module, tpu_module: Module, target: Target,
          manifest: dict[str, str] | None, integer_sha: str) -> CompiledModel:
    from qcc.backends.tpu_v1.emit import emit

    program = emit(tpu_module.main, target)
    program.manifest = {"integer_ir_sha256": integer_sha, **(manifest or {})}
    return CompiledModel(program, module, target, tpu_module=tpu_module)


def compile_model(model: str | os.PathLike | Module, calib_data: Any = None,
                  method: str = "minmax", granularity: str = "per-channel",
                  activations: str = "int8", exclude: tuple[str, ...] = (),
                  stats: str | None = None, target: Target | str = "tpu-v1",
                  batch: int = 1,
                  save_stats: str | None = None,
                  instrumentation=None) -> CompiledModel | StoppedCompile:
    """Import (if a path), calibrate, quantize, fold and lower a model: one pipeline
    of passes from the float graph to the scheduled tpu graph, then emission. A
    ``save_stats`` file is written only if the whole compile succeeds.
    ``instrumentation`` (a :class:`qcc.passmanager.Instrumentation`) prints, times or
    stops the pipeline anywhere; a compile stopped by its ``stop_after`` returns a
    :class:`StoppedCompile` (the module then, no program)."""
    from qcc.outputs import transaction

    with transaction():
        return _compile_model(model, calib_data, method, granularity, activations, exclude,
                              stats, target, batch, save_stats, instrumentation)


def _compile_model(model, calib_data, method, granularity, activations, exclude, stats,
                   target, batch, save_stats, instrumentation) -> CompiledModel:
    from qcc import driver

    if calib_data is not None and stats:
        raise QccError("give calibration data or statistics to load (--stats), not both")
    target_desc = target if isinstance(target, Target) else load_target(target)
    manifest: dict[str, str] = {"target": target_desc.name,
                                "target_sha256": target_digest(target_desc)}
    if isinstance(model, Module):
        module = model
    else:
        path = Path(model)
        module = driver.load(path, batch=batch)
        manifest["model_sha256"] = _sha256(path.read_bytes())
    for key, source in (("calibration_data_sha256", calib_data), ("statistics_sha256", stats)):
        if isinstance(source, str | os.PathLike):
            digest = content_sha256(source)
            if digest is not None:
                manifest[key] = digest
    # the pipeline without the paths of its data: a path's spelling (relative, absolute,
    # ./) must not change the binary; the files' contents are hashed above
    pipeline = driver.quantization_pipeline(method, granularity, activations, tuple(exclude))
    manifest["pipeline"] = str(pipeline)
    # one pipeline, frontend clean-up to the scheduled tpu graph; copies of the float
    # graph (after clean-up) and the fake-quantized one are kept on the way for the
    # compile report's SQNR, and the integer graph for the report and the manifest
    from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
    from qcc.passmanager import PassContext, PassManager, Pipeline
    from qcc.text import module_sha256

    ctx = PassContext()
    ctx.data["target"] = target_desc
    if calib_data is not None and not isinstance(calib_data, str | os.PathLike):
        ctx.data["calibration_data"] = calib_data
    full = driver.quantization_pipeline(method, granularity, activations, tuple(exclude),
                                        None if calib_data is None or not isinstance(
                                            calib_data, str | os.PathLike)
                                        else str(calib_data), stats, save_stats)
    n_prepare = len(Pipeline.parse(driver.PREPARE_PIPELINE))
    n_fake = len(full) - 2  # fold-rescale, fuse-relu
    n_integer = len(full)
    kept: dict[str, Any] = {}

    def keep(index: int, name: str, m: Module) -> None:
        if index == n_prepare - 1:
            check_activations_fit(m.main, target_desc.unified_buffer.rows, target_desc.name)
            kept["float"] = m.clone()
        elif index == n_fake - 1:
            kept["fake_quant"] = m.clone()
        elif index == n_integer - 1:
            kept["integer"] = m.clone()
            kept["integer_sha256"] = module_sha256(m)

    pipeline = Pipeline(full.entries + Pipeline.parse(BACKEND_PIPELINE).entries)
    pm = PassManager(pipeline, instrumentation, after_pass=keep)
    pm.run(module, ctx)
    if pm.stopped_after is not None:
        return StoppedCompile(module, pm.stopped_after)
    compiled = _emit(kept["integer"], module, target_desc, manifest,
                     kept["integer_sha256"])
    compiled.float_module, compiled.fake_quant_module = kept["float"], kept["fake_quant"]
    compiled.calib_data = calib_data
    return compiled
