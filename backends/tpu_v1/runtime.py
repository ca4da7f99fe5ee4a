"""Running a compiled program from the host's side: quantize float inputs with the
input descriptors, execute on the simulator, dequantize the outputs."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from qcc import quant_arith
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.backends.tpu_v1.simulator import execute
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError, warn


def quantize_input(desc: TensorDesc, x: np.ndarray) -> np.ndarray:
    """The host's half of an input: float -> storage integers in the program's layout
    (a model input may arrive in its own shape: the program's is a row-major reshape
    of it)."""
    x = np.asarray(x)
    if desc.raw:  # token ids, masks: the host keeps them as given
        want = desc.numpy_dtype
        fits = (want.kind == x.dtype.kind or (want.kind == "i" and x.dtype.kind in "iub")
                or (want.kind == "f" and x.dtype.kind == "f"))
        if not fits:
            raise QccError(f"input '{desc.name}' has dtype {x.dtype}, the program expects "
                           f"{desc.dtype}")
        if x.size != math.prod(desc.shape):
            raise QccError(f"input '{desc.name}' has shape {list(x.shape)} ({x.size} "
                           f"values); the program expects {list(desc.shape)}")
        return x.astype(want).reshape(desc.shape)
    if x.dtype.kind in "iu":
        raise QccError(f"input '{desc.name}' has dtype {x.dtype}; give float values "
                       "(the host quantizes them)")
    if x.size != math.prod(desc.shape):
        raise QccError(f"input '{desc.name}' has shape {list(x.shape)} ({x.size} values); "
                       f"the program expects {list(desc.shape)}")
    with np.errstate(over="ignore"):  # float64 beyond float32: +-Inf, as in the interpreter
        x = x.astype(np.float32)
    message = quant_arith.nonfinite_warning(desc.name, x)
    if message:  # the interpreter's quant.quantize of a model input says the same
        warn(message)
    info = np.iinfo(desc.numpy_dtype)
    q = quant_arith.quantize(x, np.float32(desc.scale), desc.zero_point,
                             info.min, info.max, desc.numpy_dtype)
    return q.reshape(desc.shape)


def dequantize_output(desc: TensorDesc, q: np.ndarray) -> np.ndarray:
    return quant_arith.dequantize(q, np.float32(desc.scale), desc.zero_point)


def run_program(program: Program, inputs: Mapping[str, np.ndarray],
                quantized: bool = False, target: Target | None = None,
                engine: str | None = "auto") -> dict[str, np.ndarray]:
    """Outputs by name: float (dequantized), or the raw integer codes with
    ``quantized=True`` (inputs are then expected as integer codes too). ``engine``
    picks how the simulator multiplies (simulator.execute)."""
    known = {d.name for d in program.inputs}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise QccError(f"unknown input '{unknown[0]}'; the program's inputs are "
                       f"{', '.join(sorted(known))}")
    codes = {}
    for desc in program.inputs:
        if desc.name not in inputs:
            raise QccError(f"missing input '{desc.name}' {list(desc.shape)}")
        x = inputs[desc.name]
        codes[desc.name] = np.asarray(x) if quantized else quantize_input(desc, x)
    outputs = execute(program, codes, target, engine)
    if quantized:
        return outputs
    return {d.name: dequantize_output(d, outputs[d.name]) for d in program.outputs}
