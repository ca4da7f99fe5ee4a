"""The TPU-v1 backend as the registry sees it (qcc/backend.py): its targets
(``tpu-v1``, the shipped variants such as ``tpu-v1-gddr5``, and target files), its
pass pipeline, emission, binaries, simulation and timing.

Importing this module registers the backend; the driver finds it by a target's name
(``qcc.backend.backend_for_target``). The heavy modules (lowering, simulator, timing,
assembler) are imported by the methods that need them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qcc.backend import Backend, register_backend
from qcc.backends.tpu_v1.target import Target, list_targets, load_target
from qcc.diagnostics import QccError
from qcc.ir.core import Module


class TpuV1Backend(Backend):
    name = "tpu-v1"
    binary_suffix = ".tpu"

    # ---------------------------------------------------------------- targets
    def target_names(self) -> list[str]:
        return list_targets()

    def claims_target(self, target: Any) -> bool:
        """A :class:`Target`, a shipped target's name, or a path to a ``.toml`` file
        (the target files are this backend's format)."""
        if isinstance(target, Target):
            return True
        if not isinstance(target, str | os.PathLike):
            return False
        return str(target) in list_targets() or Path(target).suffix == ".toml"

    def load_target(self, target: Any) -> Target:
        return target if isinstance(target, Target) else load_target(target)

    # ---------------------------------------------------------------- compile
    def pipeline(self, target: Any) -> str:
        """tpu-lower, tpu-plan-memory, tpu-schedule (backends/tpu_v1/passes.py); the
        passes find the target in the pass context."""
        from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE

        return BACKEND_PIPELINE

    def resume_pipeline(self, module: Module, target: Any) -> str:
        """The backend passes ``module`` has not been through yet: what each leaves
        behind says it ran (tpu ops, ``ub`` placements, barriers)."""
        from qcc.backends.tpu_v1 import dialect as tpu
        from qcc.passmanager import Pipeline

        ops = module.main.ops
        planned = any("ub" in op.attributes for op in ops if isinstance(op, tpu.TpuOp))
        done = {"tpu-lower": any(isinstance(op, tpu.TpuOp) for op in ops),
                "tpu-tile-ub": planned or any(
                    a in op.attributes for op in ops for a in ("batch_chunk", "spill",
                                                               "band_rows")),
                "tpu-plan-memory": planned,
                "tpu-schedule": any(isinstance(op, tpu.SyncOp) for op in ops)}
        entries = Pipeline.parse(self.pipeline(target)).entries
        return str(Pipeline([e for e in entries if not done.get(e.pass_cls.name)]))

    def check_module(self, module: Module, target: Any) -> None:
        """Every activation of the float graph must fit the Unified Buffer."""
        from qcc.backends.tpu_v1.memory import check_activations_fit

        t = self.load_target(target)
        check_activations_fit(module.main, t.unified_buffer.rows, t.name)

    def _manifest(self, t: Target, manifest: Mapping[str, str] | None) -> dict[str, str]:
        from qcc.backends.tpu_v1.compile import target_digest

        return {"target": t.name, "target_sha256": target_digest(t), **(manifest or {})}

    def compile(self, module: Module, target: Any,
                manifest: Mapping[str, str] | None = None, instrumentation: Any = None):
        """The backend's pipeline on a copy of an integer module, then emission; the
        manifest gets the target's name and digest first."""
        from qcc.backends.tpu_v1.compile import compile_module

        t = self.load_target(target)
        return compile_module(module, t, self._manifest(t, manifest), instrumentation)

    def emit(self, module: Module, target: Any, manifest: Mapping[str, str] | None = None,
             source: Module | None = None, source_sha256: str | None = None):
        """The compiled model of ``module`` after :meth:`pipeline` ran on it;
        ``source`` is the integer module it was lowered from (kept for the report)."""
        from qcc.backends.tpu_v1.compile import emit_compiled
        from qcc.text import module_sha256

        t = self.load_target(target)
        if source_sha256 is None and source is not None:
            source_sha256 = module_sha256(source)
        return emit_compiled(source, module, t, self._manifest(t, manifest), source_sha256)

    # ---------------------------------------------------------------- programs
    def load(self, binary: bytes | str | os.PathLike, where: str | None = None):
        """A validated program whose target resolves (its own description, or the
        shipped target it names)."""
        from qcc.backends.tpu_v1.binary import load_binary

        if not isinstance(binary, bytes | bytearray | memoryview):
            path = Path(binary)
            where = where or str(path)
            try:
                binary = path.read_bytes()
            except OSError as e:
                raise QccError(f"{path}: cannot read: {e.strerror or e}") from None
        program = load_binary(bytes(binary), where or "<bytes>")
        program.resolve_target()
        return program

    def check_fits(self, program: Any, target: Any, where: str = "the program") -> None:
        from qcc.backends.tpu_v1.binary import check_fits

        check_fits(program, self.load_target(target), where)

    def simulate(self, program: Any, inputs: Mapping[str, Any], *, quantized: bool = False,
                 engine: str = "auto") -> dict[str, Any]:
        from qcc.backends.tpu_v1.runtime import run_program

        return run_program(program, inputs, quantized, target=program.resolve_target(),
                           engine=engine)

    def estimate(self, program: Any, target: Any = None, batch: int | None = None):
        from qcc.backends.tpu_v1.timing import estimate_program

        t = program.resolve_target() if target is None else self.load_target(target)
        return estimate_program(program, t, batch)

    def rescale_cycles(self, program: Any, target: Any) -> float:
        """Cycles of the activation unit (all passes) and of table loads if nothing
        overlapped them: an upper bound on the price of requantizing, not part of
        the latency (:meth:`rescale_us` is)."""
        from qcc.backends.tpu_v1.timing import rescale_cycles

        return rescale_cycles(program.instructions, self.load_target(target),
                              program.weights)

    def rescale_us(self, program: Any, target: Any, batch: int | None = None) -> float:
        """The rescale share of the latency, in microseconds: what the program would
        save if requantization were free (activates and table loads taking no time),
        from timing it again that way (timing.rescale_seconds)."""
        from qcc.backends.tpu_v1.timing import rescale_seconds

        return rescale_seconds(program, self.load_target(target), batch)[0] * 1e6

    def requantization_note(self, target: Any) -> str:
        """One line on how the target requantizes: per-lane multipliers flagged as an
        assumption, or per-tensor ones and their extra passes."""
        from qcc.backends.tpu_v1.timing import requantization_line

        return requantization_line(self.load_target(target))

    def instruction_mix(self, program: Any) -> dict[str, int]:
        """Instructions by mnemonic (a host segment is one ``host_call``)."""
        mix: dict[str, int] = {}
        for ins in program.instructions:
            mix[ins.defn.mnemonic] = mix.get(ins.defn.mnemonic, 0) + 1
        return dict(sorted(mix.items()))

    # ---------------------------------------------------------------- text form
    def disassemble(self, binary: bytes, where: str = "<bytes>") -> str:
        from qcc.backends.tpu_v1.asm import disassemble

        return disassemble(binary, where)

    def assemble(self, text: str, where: str = "<text>") -> bytes:
        from qcc.backends.tpu_v1.asm import assemble
        from qcc.backends.tpu_v1.binary import serialize

        return serialize(assemble(text, where))


BACKEND = register_backend(TpuV1Backend())
