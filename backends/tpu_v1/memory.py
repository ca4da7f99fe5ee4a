"""Unified Buffer planning: where every int8 tensor lives, from liveness intervals.

A tensor takes ``blocks x pixels`` rows (see program.py for the row layout) from the
op that writes it to its last reader, first fit; outputs are allocated before the
inputs of the same op are released, so a layer never overwrites its own input. A
tensor that does not fit is a compile error naming it and the sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from qcc.backends.tpu_v1.program import LANES, lane_axis
from qcc.diagnostics import Location, QccError
from qcc.ir.core import Graph, Op, Value
from qcc.ir.types import FloatType, TensorType


@dataclass
class Buffer:
    """A tensor in the Unified Buffer: ``blocks`` channel blocks of ``pixels`` rows."""

    base: int
    blocks: int
    pixels: int
    lanes: list[int]

    @property
    def rows(self) -> int:
        return self.blocks * self.pixels

    def block(self, b: int) -> int:
        return self.base + b * self.pixels


#: ranks of the tensors the Unified Buffer holds as rows (program.py's row layout)
ROW_RANKS = (2, 3, 4)


def layout(t: TensorType) -> tuple[int, int, list[int]]:
    """(blocks, pixels, lanes per block) of a tensor in the row layout: the lane axis
    (``lane_axis``: channels of a 4-D tensor, the last axis of a 2-D or 3-D one) in
    blocks of 256 lanes, one row per element of the other axes."""
    if t.rank not in ROW_RANKS:
        raise ValueError(f"rank {t.rank}")
    c = t.shape[lane_axis(t.rank)]
    lanes = [min(LANES, c - b) for b in range(0, c, LANES)]
    return len(lanes), math.prod(t.shape) // c, lanes


def check_activations_fit(graph: Graph, ub_rows: int, target_name: str) -> None:
    """Before calibration: every activation of a float ``graph`` (rank 2, 3 or 4, as
    the lowering places them; not the weight constants) must be placeable once it is
    8-bit: tpu-tile-ub splits larger ones into batch chunks and row bands, so what
    must fit is one row of one image (``blocks x W`` rows; one batch row for a 2-D
    tensor, one sequence, ``blocks x T`` rows, for a 3-D one), or the compile would
    fail only after calibrating. A QccError names the first that does not, with its
    sizes."""
    from qcc.dialects import nn

    for v in [*graph.args, *(r for op in graph.ops for r in op.results)]:
        t = v.type
        if not isinstance(t, TensorType) or t.rank not in ROW_RANKS or \
                not isinstance(t.element, FloatType) or isinstance(v.op, nn.ConstantOp):
            continue
        blocks, _, _ = layout(t)
        rows = blocks * (t.shape[3] if t.rank == 4 else t.shape[1] if t.rank == 3 else 1)
        if rows > ub_rows:
            name = v.name_hint or (v.op.name if v.op is not None else "?")
            raise QccError(
                f"tensor '{name}' {t}: one row of it (of one image) needs {rows} Unified "
                f"Buffer rows ({rows * LANES} bytes) as 8-bit values, more than all "
                f"{ub_rows} rows ({ub_rows * LANES} bytes) of {target_name}'s Unified "
                "Buffer, so it cannot be placed even in row bands (stopped before "
                "calibration)", v.op.loc if v.op else graph.return_op.loc)


class MemoryPlanner:
    """First-fit allocation of Unified Buffer rows over the ops in program order."""

    def __init__(self, ops: list[Op], inputs: list[Value], outputs: list[Value],
                 ub_rows: int, buffers: dict[Value, Buffer],
                 resident: Callable[[Value], bool],
                 alias_of: Callable[[Op], Value | None], fallback_loc: Location):
        self.ub_rows = ub_rows
        self.buffers = buffers
        self.alias_of = alias_of
        self.resident = resident
        self.fallback_loc = fallback_loc
        self.position = {op: k for k, op in enumerate(ops)}
        self.end = len(ops)
        values = list(inputs) + [r for op in ops for r in op.results if resident(r)]
        self.last_use: dict[Value, int] = {}
        for v in values:
            uses = [self.position[u] for u in v.users if u in self.position]
            self.last_use[v] = max(uses, default=self.end)
        for v in outputs:
            self.last_use[v] = self.end
        self.free: list[tuple[int, int]] = [(0, ub_rows)]  # (start, size), sorted
        for v in inputs:
            self.allocate(v)

    def allocate(self, v: Value) -> None:
        blocks, pixels, lanes = layout(v.type)
        rows = blocks * pixels
        for k, (start, size) in enumerate(self.free):
            if size >= rows:
                self.free[k] = (start + rows, size - rows)
                self.buffers[v] = Buffer(start, blocks, pixels, lanes)
                return
        largest = max((size for _, size in self.free), default=0)
        raise QccError(
            f"tensor '{v.name_hint}' {v.type} needs {rows} Unified Buffer rows "
            f"({rows * LANES} bytes) but the largest free range is {largest} rows of "
            f"{self.ub_rows} ({self.ub_rows * LANES} bytes)",
            v.op.loc if v.op else self.fallback_loc)

    def release(self, v: Value) -> None:
        buf = self.buffers[v]
        merged: list[tuple[int, int]] = []
        for start, size in sorted([*self.free, (buf.base, buf.rows)]):
            if merged and merged[-1][0] + merged[-1][1] == start:
                merged[-1] = (merged[-1][0], merged[-1][1] + size)
            elif size:
                merged.append((start, size))
        self.free = merged

    def allocate_results(self, op: Op) -> None:
        for r in op.results:
            if self.resident(r) and r not in self.buffers:
                alias = self.alias_of(op)
                if alias is not None:  # same rows, e.g. a free reshape
                    self.buffers[r] = self.buffers[alias]
                    self.last_use[alias] = max(self.last_use[alias], self.last_use[r])
                else:
                    self.allocate(r)

    def release_dead(self, op: Op) -> None:
        k = self.position[op]
        for v in {o for o in op.operands if o in self.buffers}:
            buf = self.buffers[v]
            if self.last_use.get(v, self.end) <= k and not any(
                    other is buf and self.last_use.get(a, self.end) > k
                    for a, other in self.buffers.items()):
                self.release(v)
