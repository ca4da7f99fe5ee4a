"""From a quantized module to a TPU program: lower, record the manifest; and the
compiled model the driver hands back.

    compiled = compile_module(quantized_module, target="tpu-v1")
    outputs = compiled.run({"input": x})        # float in, float out, simulated
    compiled.save("model.tpu")

The whole compile (import, calibrate, quantize, then this) is the driver's
(``qcc.compile``, qcc/driver.py); the backend never imports it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qcc.backends.tpu_v1.program import Program
from qcc.backends.tpu_v1.runtime import run_program
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.backends.tpu_v1.timing import TimingReport, estimate_program
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
    #: from, kept by the driver's compile_model for the per-layer SQNR of the report
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
        from qcc.outputs import write_output

        write_output(path, self.to_bytes())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def target_digest(target: Target) -> str:
    """SHA-256 of every number of the target description (canonical JSON)."""
    import json

    from qcc.backends.tpu_v1.target import _to_raw

    return _sha256(json.dumps(_to_raw(target), sort_keys=True).encode())


def compile_module(module: Module, target: Target | str = "tpu-v1",
                   manifest: dict[str, str] | None = None,
                   instrumentation=None, placement: dict | None = None):
    """Lower an already quantized integer module: the backend's passes on a copy of
    it, then emission. ``placement`` (``{"host_ops": (...), "no_host": bool}``)
    forces ops to the host or forbids the host (partition.py)."""
    from qcc.passmanager import StoppedCompile
    from qcc.text import module_sha256

    if not isinstance(target, Target):
        target = load_target(target)
    tpu_module = module.clone()
    stopped = run_backend(tpu_module, target, instrumentation=instrumentation,
                          placement=placement)
    if stopped is not None:
        return StoppedCompile(tpu_module, stopped)
    return emit_compiled(module, tpu_module, target, manifest, module_sha256(module))


def lower(module: Module, target: Target | str = "tpu-v1",
          placement: dict | None = None) -> Program:
    """The TPU program of an integer ``module`` for ``target`` (a Target, a shipped
    target's name, or a path to a target file): the backend's passes on a copy of
    the module, then emission."""
    return compile_module(module, target, placement=placement).program


def run_backend(module: Module, target: Target, ctx=None, instrumentation=None,
                placement: dict | None = None) -> str | None:
    """The backend's pass pipeline on an integer ``module``, in place; the pass it
    stopped after, if it stopped."""
    from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
    from qcc.passmanager import PassContext, PassManager

    ctx = ctx or PassContext()
    ctx.data["target"] = target
    if placement:
        ctx.data["placement"] = placement
    pm = PassManager(BACKEND_PIPELINE, instrumentation)
    pm.run(module, ctx)
    return pm.stopped_after


def emit_compiled(module: Module, tpu_module: Module, target: Target,
                  manifest: dict[str, str] | None, integer_sha: str | None
                  ) -> CompiledModel:
    """The compiled model of a tpu module after the backend's pipeline: its program
    (manifest recorded) with the integer ``module`` it came from."""
    from qcc.backends.tpu_v1.emit import emit

    program = emit(tpu_module.main, target)
    program.manifest = {**({"integer_ir_sha256": integer_sha} if integer_sha else {}),
                        **(manifest or {})}
    return CompiledModel(program, module, target, tpu_module=tpu_module)
