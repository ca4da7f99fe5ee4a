"""The backend's passes and emission in one call (used by ``lower`` and the
compile)."""

from __future__ import annotations

from qcc.backends.tpu_v1.emit import emit
from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
from qcc.backends.tpu_v1.program import Program
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.ir.core import Module
from qcc.passmanager import PassContext, Pipeline


def compile_to_program(module: Module, target: Target | str = "tpu-v1",
                       ctx: PassContext | None = None) -> tuple[Program, Module]:
    """Run the backend pipeline on a copy of the integer ``module`` and emit: the
    program and the tpu module it was emitted from."""
    if not isinstance(target, Target):
        target = load_target(target)
    tpu_module = module.clone()
    ctx = ctx or PassContext()
    ctx.data["target"] = target
    Pipeline.parse(BACKEND_PIPELINE).run(tpu_module, ctx)
    return emit(tpu_module.main, target), tpu_module
