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

from qcc.backends.tpu_v1.lower import lower
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


def compile_module(module: Module, target: Target | str = "tpu-v1",
                   manifest: dict[str, str] | None = None) -> CompiledModel:
    """Lower an already quantized integer module."""
    from qcc.text import module_sha256

    if not isinstance(target, Target):
        target = load_target(target)
    program = lower(module, target)
    program.manifest = {"integer_ir_sha256": module_sha256(module),
                        **(manifest or {})}
    return CompiledModel(program, module, target)


def compile_model(model: str | os.PathLike | Module, calib_data: Any = None,
                  method: str = "minmax", granularity: str = "per-channel",
                  activations: str = "int8", exclude: tuple[str, ...] = (),
                  stats: str | None = None, target: Target | str = "tpu-v1",
                  batch: int = 1,
                  save_stats: str | None = None) -> CompiledModel:
    """Import (if a path), calibrate, quantize, fold and lower a model. A
    ``save_stats`` file is written only if the whole compile succeeds."""
    from qcc.outputs import transaction

    with transaction():
        return _compile_model(model, calib_data, method, granularity, activations, exclude,
                              stats, target, batch, save_stats)


def _compile_model(model, calib_data, method, granularity, activations, exclude, stats,
                   target, batch, save_stats) -> CompiledModel:
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
    # in three stages (as `qcc quantize --report`), keeping the float and the
    # fake-quantized graphs for the compile report's SQNR
    from qcc.passmanager import PassContext, Pipeline

    ctx = PassContext()
    if calib_data is not None and not isinstance(calib_data, str | os.PathLike):
        ctx.data["calibration_data"] = calib_data
    full = driver.quantization_pipeline(method, granularity, activations, tuple(exclude),
                                        None if calib_data is None or not isinstance(
                                            calib_data, str | os.PathLike)
                                        else str(calib_data), stats, save_stats)
    n_prepare = len(Pipeline.parse(driver.PREPARE_PIPELINE))
    n_fake = len(full) - 2  # fold-rescale, fuse-relu
    Pipeline(full.entries[:n_prepare]).run(module, ctx)
    check_activations_fit(module.main, target_desc.unified_buffer.rows, target_desc.name)
    float_module = module.clone()
    Pipeline(full.entries[n_prepare:n_fake]).run(module, ctx)
    fake_quant = module.clone()
    Pipeline(full.entries[n_fake:]).run(module, ctx)
    compiled = compile_module(module, target_desc, manifest)
    compiled.float_module, compiled.fake_quant_module = float_module, fake_quant
    compiled.calib_data = calib_data
    return compiled
