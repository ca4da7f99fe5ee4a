"""The host's side of a program: running a host segment (partition.py).

A ``host_call`` hands the host one segment of the program's HOST section: IR text
whose arguments and results are host tensors. The host reads the arguments from
host memory (the row layout of program.py), runs the segment with qcc's IR
interpreter, the semantic oracle, and writes the results back. The reference
machine and the fast executor both call :func:`run_segment`, so a partitioned
program stays bit-exact with the integer IR by construction.
"""

from __future__ import annotations

from qcc.backends.tpu_v1.program import Program, TensorDesc, from_rows, to_rows
from qcc.diagnostics import QccError
from qcc.ir.core import Module


def host_descs(program: Program) -> dict[str, TensorDesc]:
    """Every host tensor of the program by name: inputs, outputs, host tensors."""
    return {d.name: d for d in (*program.inputs, *program.outputs, *program.host_tensors)}


def segment_module(program: Program, index: int) -> Module:
    """Segment ``index`` parsed (once per program: kept with its decoded data)."""
    cache = program.decoded_tiles.setdefault("segments", {})
    seg = program.segments[index]
    hit = cache.get(index)
    if hit is not None and hit[0] is seg:
        return hit[1]
    from qcc.text import parse_module

    try:
        module = parse_module(seg.ir, f"<host segment {index}>")
    except QccError as e:
        raise QccError(f"host segment {index} does not parse: {e.message}") from None
    cache[index] = (seg, module)
    return module


def run_segment(program: Program, index: int, host: bytearray) -> None:
    """Run host segment ``index`` on host memory ``host``: read its inputs, run it
    with the IR interpreter, write its outputs."""
    from qcc.interpreter import run

    if not 0 <= index < len(program.segments):
        raise QccError(f"host_call of segment {index}; the program has "
                       f"{len(program.segments)}")
    seg = program.segments[index]
    descs = host_descs(program)
    inputs = {}
    for name in seg.inputs:
        d = descs[name]
        inputs[name] = from_rows(d, bytes(host[d.host_offset:d.host_offset + d.host_bytes]))
    results = run(segment_module(program, index), inputs)
    for name in seg.outputs:
        d = descs[name]
        data = to_rows(d, results[name].reshape(d.shape))
        host[d.host_offset:d.host_offset + len(data)] = data


__all__ = ["host_descs", "run_segment", "segment_module"]
