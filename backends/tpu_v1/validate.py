"""What a TPU program may contain: the checks a program passes before it is written
and after it is loaded (binary.py holds the container: header, sections, checksum).

- I/O descriptors: names, dtypes, shapes, scales, zero points, host offsets
  (:func:`check_descriptors`), and that each tensor fits the Unified Buffer and the
  host buffer space is laid out without gaps (:func:`check_io_fits`);
- every instruction's field values within the ranges of the ISA table and the
  limits of the program's target (``isa.field_problem``: e.g. ``row_bytes``
  1..256, a table slot below ``activation.table_slots``);
- every instruction's memory ranges inside the target's memories, the weight FIFO
  never fuller than its depth, convolutions after a ``set_conv`` (:class:`_Checker`,
  one method per instruction), and a final ``halt`` (:func:`validate_program`).

Errors are :class:`ProgramError`, naming the instruction and its byte offset.
"""

from __future__ import annotations

import math

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.program import LANES, RAW_DTYPES, Program, TensorDesc
from qcc.backends.tpu_v1.tables import RECORD_BYTES
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError

#: the storage types of I/O tensors and their zero-point ranges
ZERO_POINT_RANGE = {"i8": (-128, 127), "u8": (0, 255)}


def check_descriptor(desc: TensorDesc, kind: str = "input") -> str | None:
    """What is wrong with an I/O descriptor (of an ``input``, ``output`` or ``host
    tensor``), or None."""
    if not isinstance(desc.name, str) or not desc.name:
        return "the name must be a non-empty string"
    try:
        desc.name.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not valid Unicode"
    if desc.dtype not in ZERO_POINT_RANGE and desc.dtype not in RAW_DTYPES:
        return (f"dtype '{desc.dtype}' is not one of i8, u8 (quantized) or "
                f"{', '.join(RAW_DTYPES)} (kept by the host)")
    if kind == "output" and desc.raw:
        return (f"dtype '{desc.dtype}': an output is quantized (i8, u8); only inputs are "
                "kept by the host as given")
    if not (1 if desc.raw else 2) <= len(desc.shape) <= 255:
        return f"shape {list(desc.shape)} must have 2 to 255 dimensions"
    if any(not 1 <= int(d) < 1 << 64 for d in desc.shape):
        return f"shape {list(desc.shape)} has a dimension outside 1..2^64-1"
    if not (isinstance(desc.scale, float | int) and math.isfinite(desc.scale)
            and desc.scale > 0):
        return f"scale {desc.scale!r} must be a finite positive number"
    lo, hi = ZERO_POINT_RANGE.get(desc.dtype, (0, 0))
    if not lo <= int(desc.zero_point) <= hi:
        return f"zero point {desc.zero_point} is outside {lo}..{hi} for {desc.dtype}"
    if not 0 <= int(desc.host_offset) < 1 << 64:
        return f"host offset {desc.host_offset} is outside 0..2^64-1"
    return None


def check_descriptors(inputs: list[TensorDesc], outputs: list[TensorDesc]) -> None:
    """Raise QccError for a bad descriptor or a repeated input or output name."""
    for kind, descs in (("input", inputs), ("output", outputs)):
        names: set[str] = set()
        for i, desc in enumerate(descs):
            problem = check_descriptor(desc, kind)
            if problem is None and desc.name in names:
                problem = f"the name '{desc.name}' is used by an earlier {kind}"
            if problem is not None:
                raise QccError(f"{kind} {i} ('{desc.name}'): {problem}")
            names.add(desc.name)


#: an input or output may take at most this many times the Unified Buffer's rows
IO_LIMIT_UB = 64


def check_io_fits(inputs: list[TensorDesc], outputs: list[TensorDesc], ub_rows: int,
                  host_tensors: tuple[TensorDesc, ...] | list[TensorDesc] = ()) -> None:
    """Raise ProgramError unless every input and output fits the Unified Buffer (they
    move between it and the host whole) and the host buffer space holds the tensors
    and nothing more (the layout qcc writes: descriptors without gaps)."""
    total = 0
    for kind, descs in (("input", inputs), ("output", outputs),
                        ("host tensor", host_tensors)):
        for desc in descs:
            rows = 0 if desc.raw else desc.pixels * -(-desc.channels // LANES)  # (not
            # len(blocks): huge); a raw input never enters the Unified Buffer
            # tiled programs (tpu-tile-ub) move I/O in batch chunks and row bands, so
            # a tensor may exceed the Unified Buffer, within a bound on host memory
            if rows > ub_rows * IO_LIMIT_UB:
                raise ProgramError(f"{kind} '{desc.name}' {list(desc.shape)} needs {rows} "
                                   f"Unified Buffer rows; more than {IO_LIMIT_UB} times "
                                   f"the {ub_rows} rows of the Unified Buffer")
            total += desc.host_bytes
    end = max((d.host_offset + d.host_bytes for d in (*inputs, *outputs, *host_tensors)),
              default=0)
    if end > total:
        raise ProgramError(f"the I/O descriptors reach host byte {end}, but the tensors "
                           f"take {total} bytes: descriptors must not leave gaps")


class ProgramError(QccError):
    """An instruction the program's memories cannot satisfy. ``index`` is the
    instruction's number (None: the program as a whole), ``detail`` the problem
    without the position (the assembler reports it at a source line instead)."""

    def __init__(self, detail: str, index: int | None = None, byte: int = 0, op: str = ""):
        where = "" if index is None else f"instruction {index} ('{op}' at byte {byte}): "
        super().__init__(where + detail)
        self.detail = detail
        self.index = index


class _Bad(Exception):
    """A problem with one instruction, before its position is added."""


def validate_program(program: Program, target: Target | None = None) -> None:
    """Check every instruction against the memories of ``target`` (by default the
    program's own, ``Program.resolve_target``): host ranges inside the host buffer
    space, weight-memory ranges inside the weight image and the image inside the
    weight memory, Unified Buffer and accumulator rows inside the target's, the
    weight FIFO never fuller than its depth, every field within the ISA table's
    range (row_bytes, lanes, set_conv geometry, ...) and the target's limits (table
    slots), and a final ``halt``."""
    target = target or program.resolve_target()
    check_descriptors(program.inputs, program.outputs)
    ub_rows = target.unified_buffer.rows
    check_io_fits(program.inputs, program.outputs, ub_rows, program.host_tensors)
    _check_segments(program)
    capacity = target.weight_memory.capacity_bytes
    if len(program.weights) > capacity:
        raise ProgramError(f"the {len(program.weights)}-byte weight image does not fit the "
                           f"{capacity}-byte weight memory (weight_memory.capacity_bytes)")
    checker = _Checker(program.host_bytes, len(program.weights), target)
    checker.segments = len(program.segments)
    check = {defn: getattr(checker, defn.mnemonic) for defn in isa.ISA}
    byte = 0
    for i, ins in enumerate(program.instructions):
        try:
            if ins.defn.limited:
                problem = isa.field_problem(ins, target)
                if problem is not None:
                    raise _Bad(problem)
            check[ins.defn](ins)
        except _Bad as e:
            raise ProgramError(str(e), i, byte, ins.op) from None
        byte += ins.defn.size
    instrs = program.instructions
    if not instrs:
        raise ProgramError("the program has no instructions (it must end with 'halt')")
    if instrs[-1].op != "halt":
        last = instrs[-1]
        raise ProgramError("the program must end with 'halt'", len(instrs) - 1,
                           byte - last.defn.size, last.op)


def _check_segments(program: Program) -> None:
    """Host tensors are named once (and not like an input or output); every tensor a
    host segment reads or writes exists."""
    known = {d.name for d in (*program.inputs, *program.outputs)}
    for i, desc in enumerate(program.host_tensors):
        problem = check_descriptor(desc, "host tensor")
        if problem is None and desc.name in known:
            problem = f"the name '{desc.name}' is used by an earlier tensor"
        if problem is not None:
            raise ProgramError(f"host tensor {i} ('{desc.name}'): {problem}")
        known.add(desc.name)
    for k, seg in enumerate(program.segments):
        for name in (*seg.inputs, *seg.outputs):
            if name not in known:
                raise ProgramError(f"host segment {k} names the tensor '{name}', which the "
                                   "program does not have")


def check_fits(program: Program, target: Target, where: str = "the program") -> None:
    """Raise QccError unless ``program`` (compiled for its own target) also fits the
    memories of ``target``: what running or timing it there needs."""
    try:
        validate_program(program, target)
    except ProgramError as e:
        raise QccError(f"{where} (compiled for '{program.target}') does not fit target "
                       f"'{target.name}': {e.message}") from None


class _Checker:
    """Per-instruction checks of what spans fields and instructions (each field's
    own range is the ISA table's, checked before); a method per mnemonic. The
    program is straight-line code, so the set_conv in force at each instruction is
    known exactly."""

    def __init__(self, host_bytes: int, dram_bytes: int, target: Target):
        self.host_bytes, self.dram_bytes = host_bytes, dram_bytes
        self.ub_rows, self.acc_rows = target.unified_buffer.rows, target.accumulators.rows
        self.tile_bytes, self.fifo_depth = target.weights.tile_bytes, target.weights.fifo_depth
        self.fifo = 0  # tiles in the weight FIFO (the program is straight-line code)
        self.segments = 0  # host segments of the program
        self.conv: isa.Instruction | None = None

    def ub(self, start: int, count: int) -> None:
        if start + count > self.ub_rows:
            raise _Bad(f"Unified Buffer rows [{start}, {start + count}) are outside the "
                       f"{self.ub_rows}-row Unified Buffer")

    def acc(self, start: int, count: int) -> None:
        if start + count > self.acc_rows:
            raise _Bad(f"accumulator rows [{start}, {start + count}) are outside the "
                       f"{self.acc_rows} accumulator rows")

    def dram(self, start: int, size: int, what: str) -> None:
        if start + size > self.dram_bytes:
            raise _Bad(f"{what} needs weight memory bytes [{start}, {start + size}), "
                       f"outside the {self.dram_bytes}-byte weight image (WEIGHTS section)")

    def nop(self, ins: isa.Instruction) -> None:
        pass

    halt = sync = nop

    def host_call(self, ins: isa.Instruction) -> None:
        if ins.segment >= self.segments:
            raise _Bad(f"host segment {ins.segment} does not exist (the program has "
                       f"{self.segments})")

    def read_host(self, ins: isa.Instruction) -> None:
        self.ub(ins.ub, ins.rows)
        end = ins.host + (ins.rows - 1) * ins.host_stride + ins.row_bytes
        if ins.rows and end > self.host_bytes:
            raise _Bad(f"host bytes [{ins.host}, {end}) are outside the "
                       f"{self.host_bytes}-byte host buffer space")

    write_host = read_host

    def read_weights(self, ins: isa.Instruction) -> None:
        self.dram(ins.dram, ins.count * self.tile_bytes, f"reading {ins.count} weight tile(s)")
        self.fifo += ins.count
        if self.fifo > self.fifo_depth:
            raise _Bad(f"{ins.count} tile(s) would fill the weight FIFO to {self.fifo} "
                       f"tiles; it holds {self.fifo_depth} (weights.fifo_depth)")

    def load_table(self, ins: isa.Instruction) -> None:
        self.dram(ins.dram, RECORD_BYTES, "the table record")

    def set_conv(self, ins: isa.Instruction) -> None:
        width = ins.channels or LANES
        if ins.taps_per_row > 1 and ins.taps_per_row * width > LANES:
            raise _Bad(f"{ins.taps_per_row} taps of {width} channels do not fit a "
                       f"{LANES}-lane row")
        self.conv = ins

    def image(self, base: int, pixels: int, what: str) -> None:
        """The whole input images that output pixels read lie in the UB."""
        c = self.conv
        if c is None:
            raise _Bad(f"{what} needs an earlier set_conv")
        if pixels:
            last = (c.first_pixel + pixels - 1) // (c.out_h * c.out_w)
            self.ub(base, (last + 1) * c.in_h * c.in_w)

    def matmul(self, ins: isa.Instruction) -> None:
        if ins.switch:
            self.fifo = max(0, self.fifo - 1)
        if ins.conv:
            self.image(ins.ub, ins.length, "a convolution (conv=1)")
            assert self.conv is not None
            taps = self.conv.kernel_h * self.conv.kernel_w
            if ins.tap >= taps:
                raise _Bad(f"tap {ins.tap} is outside the {taps} taps of the set_conv "
                           "kernel")
        else:
            self.ub(ins.ub, ins.length)
        self.acc(ins.acc, ins.length)

    def activate(self, ins: isa.Instruction) -> None:
        if ins.column + ins.lanes > LANES:
            raise _Bad(f"lanes [{ins.column}, {ins.column + ins.lanes}) do not fit a "
                       f"{LANES}-lane row")
        (self.ub if ins.src_ub else self.acc)(ins.src, ins.rows)
        self.ub(ins.ub, ins.rows)

    def pool(self, ins: isa.Instruction) -> None:
        self.image(ins.src, ins.length, "pool")
        (self.acc if ins.sum else self.ub)(ins.dst, ins.length)

    def add(self, ins: isa.Instruction) -> None:
        for start in (ins.src_a, ins.src_b, ins.ub):
            self.ub(start, ins.rows)
