"""The TPU-v1 instruction set: one table defines every instruction.

Each entry gives the mnemonic, the opcode (byte 0 of the encoding), the encoded
size, and the fields in encoding order with their widths in bits. Fields are packed
little-endian, least significant bit first, right after the opcode byte; ``_pad``
fields are zero. The encoder, the decoder, the assembler, the disassembler and
docs/isa.md all derive from this table.

The paper fixes MatrixMultiply: 12 bytes, of which 3 are a Unified Buffer address,
2 an accumulator address and 4 a length; the rest are opcode and flags. Everything
else (opcodes, the other instructions' layouts, flag bits, the repeat field) is
qcc's design, written down here and in docs/isa.md.

Addresses: ``ub`` fields count 256-byte Unified Buffer rows; ``acc`` fields count
accumulator rows (256 x int32); ``dram`` fields are byte addresses in weight memory;
``host`` fields are byte addresses in the host buffer space (inputs then outputs,
as the binary's I/O descriptors lay them out).

Besides the encoding, each entry says which unit executes the instruction
(:class:`Unit`), which storage it may read and write (:class:`Store`), and each
field's allowed values: the width's range, or a narrower one the semantics demand
(``lo``/``hi``), or a bound from the target (``limit``, a dotted key of the target
description such as ``activation.table_slots``). Binary validation
(``validate.py``), the timing model's dispatch, the compile report's unit column
(:func:`unit_label`) and docs/isa.md read them here.

The lowering and other code name instructions by the module constants
(``isa.MATMUL``, ``isa.ACTIVATE``, ...: the :class:`InstrDef` entries);
``Instruction(isa.MATMUL, length=...)`` and ``Instruction("matmul", ...)`` (the
assembler's form) build the same instruction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from types import MappingProxyType
from typing import Any

from qcc.backends.tpu_v1.target import LANES
from qcc.diagnostics import QccError


class Unit(Enum):
    """The part of the machine that executes an instruction. The values are the
    names the compile report shows."""

    MXU = "MXU"  # the matrix unit (systolic array)
    ACTIVATION = "activation unit"
    POOL = "pool unit"
    ADDER = "vector adder"
    HOST = "host"  # the host interface's DMA
    HOST_CPU = "host CPU"  # the host processor running a host segment
    WEIGHT_FETCH = "weight fetch"  # the weight-memory channel
    CONTROL = "control"  # the issue stage itself: configuration, barriers


class Store(Enum):
    """Storage an instruction reads or writes."""

    UB = "Unified Buffer"
    ACC = "accumulators"
    WEIGHT_FIFO = "weight FIFO"
    DRAM = "weight memory"
    HOST = "host memory"
    TABLES = "table slots"
    CONV = "convolution configuration"


@dataclass(frozen=True)
class Field:
    name: str
    bits: int
    doc: str = ""
    #: the allowed values lo..hi (hi None: the width's maximum)
    lo: int = 0
    hi: int | None = None
    #: a dotted key of the target description the value must stay below
    #: (``activation.table_slots``): what the target has, not what the field holds
    limit: str = ""

    @property
    def max(self) -> int:
        """The largest value the width holds."""
        return (1 << self.bits) - 1

    @property
    def top(self) -> int:
        """The largest allowed value, before any target ``limit``."""
        return self.max if self.hi is None else self.hi

    @property
    def narrowed(self) -> bool:
        """Whether the allowed values are fewer than the width holds."""
        return bool(self.lo or self.top != self.max or self.limit)

    def allowed(self) -> str:
        """The allowed values, for documents: ``1..256``,
        ``0..`activation.table_slots` - 1``."""
        if self.limit:
            return f"{self.lo}..`{self.limit}` - 1"
        return f"{self.lo}..{self.top}"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per entry
class InstrDef:
    mnemonic: str
    opcode: int
    size: int  # bytes, opcode included
    fields: tuple[Field, ...]
    doc: str
    unit: Unit = Unit.CONTROL
    #: storage the instruction may read / write (some only with a flag set)
    reads: frozenset[Store] = frozenset()
    writes: frozenset[Store] = frozenset()

    def __post_init__(self) -> None:
        used = 8 + sum(f.bits for f in self.fields)
        if used != 8 * self.size:
            raise ValueError(f"{self.mnemonic}: fields use {used} bits of {8 * self.size}")
        for f in self.fields:
            if not 0 <= f.lo <= f.top <= f.max:
                raise ValueError(f"{self.mnemonic}.{f.name}: range {f.lo}..{f.top} "
                                 f"outside the {f.bits}-bit width")

    def __repr__(self) -> str:
        return f"isa.{self.mnemonic.upper()}"

    def __reduce__(self) -> tuple:
        # copies and pickles stand for the table's own entry (compared by identity)
        return definition, (self.mnemonic,)

    @cached_property
    def limited(self) -> tuple[Field, ...]:
        """The operands whose allowed values are narrower than their width."""
        return tuple(f for f in self.operands if f.narrowed)

    @cached_property
    def operands(self) -> tuple[Field, ...]:
        """The fields an assembler writes (padding excluded)."""
        return tuple(f for f in self.fields if not f.name.startswith("_pad"))


def _pad(bits: int, k: int = 0) -> Field:
    return Field(f"_pad{k}", bits)


#: the target key that bounds table slot fields
SLOTS = "activation.table_slots"

#: the instruction set
ISA: tuple[InstrDef, ...] = (
    InstrDef("nop", 0x00, 4, (_pad(24),), "Do nothing for one issue slot."),
    InstrDef("halt", 0x01, 4, (_pad(24),), "End of program."),
    InstrDef("sync", 0x02, 4, (
        Field("kind", 8, "0: wait until host transfers (read_host/write_host) are done; "
                         "1: wait until the matrix unit and the activation, pool and add "
                         "units have written back (the read-after-write barrier between "
                         "layers); 2: wait until the activation, pool and add units "
                         "have written back, not the matrix unit (rows a vector unit "
                         "wrote may then leave for the host while matrix work goes on)",
              hi=2),
        _pad(16)), "Synchronize: stop issuing until the named units are idle."),
    InstrDef("read_host", 0x10, 16, (
        Field("host", 40, "host byte address of the first row"),
        Field("ub", 24, "first Unified Buffer row"),
        Field("rows", 24, "number of rows"),
        Field("row_bytes", 16, "bytes per row (the rest of each UB row is zeroed)",
              lo=1, hi=LANES),
        Field("host_stride", 16, "bytes between consecutive rows in host memory"),
        ), "Read_Host_Memory: DMA rows from host memory into the Unified Buffer.",
        Unit.HOST, frozenset({Store.HOST}), frozenset({Store.UB})),
    InstrDef("write_host", 0x11, 16, (
        Field("host", 40, "host byte address of the first row"),
        Field("ub", 24, "first Unified Buffer row"),
        Field("rows", 24, "number of rows"),
        Field("row_bytes", 16, "bytes of each row to write", lo=1, hi=LANES),
        Field("host_stride", 16, "bytes between consecutive rows in host memory"),
        ), "Write_Host_Memory: DMA rows from the Unified Buffer to host memory.",
        Unit.HOST, frozenset({Store.UB}), frozenset({Store.HOST})),
    InstrDef("host_call", 0x12, 16, (
        Field("segment", 16, "the host segment (the binary's HOST section)"),
        Field("elements", 48, "elements the segment's ops produce (host timing)"),
        Field("products", 48, "multiply-accumulates of its ops with weights (host "
                              "timing)"),
        _pad(8),
        ), "Run a host segment: issue stops while the host reads the segment's inputs "
           "from host memory, runs its ops and writes its outputs to host memory (the "
           "driver's round trip between two runs of the TPU, as one instruction).",
        Unit.HOST_CPU, frozenset({Store.HOST}), frozenset({Store.HOST})),
    InstrDef("read_weights", 0x20, 8, (
        Field("dram", 40, "weight-memory byte address of the first 64 KiB tile"),
        Field("count", 16, "repeat: number of consecutive tiles, pushed in order"),
        ), "Read_Weights: queue weight tiles from weight memory into the weight FIFO "
           "(decoupled: retires once issued; the matrix unit stalls if a tile it "
           "needs has not arrived).",
        Unit.WEIGHT_FETCH, frozenset({Store.DRAM}), frozenset({Store.WEIGHT_FIFO})),
    InstrDef("matmul", 0x30, 12, (
        Field("accumulate", 1, "1: add into the accumulators; 0: overwrite them"),
        Field("switch", 1, "1: first take the next tile from the weight FIFO into the "
                           "array (shifting it in takes 256 cycles)"),
        Field("conv", 1, "1: address input rows through the convolution configuration "
                         "(set_conv) and the tap field; 0: consecutive UB rows"),
        Field("unsigned", 1, "1: input bytes are uint8; 0: int8 (weights are int8)"),
        _pad(4, 1),
        Field("tap", 8, "convolution: index of the first filter tap (kh * kernel_w + kw)"),
        Field("ub", 24, "first Unified Buffer row of the input (conv: of the image)"),
        Field("acc", 16, "first accumulator row written"),
        Field("length", 32, "rows to multiply (conv: output pixels)"),
        ), "MatrixMultiply/Convolve: multiply `length` 256-wide input rows by the "
           "256x256 weight tile in the array, into accumulator rows.",
        Unit.MXU, frozenset({Store.UB, Store.WEIGHT_FIFO, Store.CONV, Store.ACC}),
        frozenset({Store.ACC})),
    InstrDef("activate", 0x40, 16, (
        Field("src_ub", 1, "1: read int8 rows from the Unified Buffer (minus the "
                           "table's input zero point); 0: read int32 accumulator rows"),
        Field("function", 3, "0: none; 1: sigmoid; 2: tanh; 3: any other function of "
                             "one input (through the table's 256-entry lookup table, "
                             "after requantization); 4: prelu (src_ub only: inputs below "
                             "the input zero point are rescaled by the table's negative-"
                             "side multipliers and shifts, one per lane)", hi=4),
        _pad(4, 1),
        Field("src", 24, "first source row (accumulator, or UB with src_ub)"),
        Field("ub", 24, "first destination Unified Buffer row"),
        Field("rows", 24, "number of rows"),
        Field("table", 8, "activation table slot (bias, multiplier, shift, zero points, "
                          "clamp, lookup table)", limit=SLOTS),
        Field("lanes", 16, "lanes written, starting at column `column`", lo=1, hi=LANES),
        Field("column", 8, "first destination column", hi=LANES - 1),
        _pad(8, 2),
        ), "Activate: bias add, requantization, zero point, clamp (ReLU/ReLU6), "
           "optional sigmoid/tanh; int8 results into the Unified Buffer.",
        Unit.ACTIVATION, frozenset({Store.ACC, Store.UB, Store.TABLES}),
        frozenset({Store.UB})),
    InstrDef("load_table", 0x50, 8, (
        Field("slot", 8, "activation table slot to fill", limit=SLOTS),
        Field("dram", 40, "weight-memory byte address of the table record"),
        _pad(8, 1),
        ), "Set configuration: load an activation table (one record of the binary's "
           "tables section, placed in weight memory) into a table slot.",
        Unit.WEIGHT_FETCH, frozenset({Store.DRAM}), frozenset({Store.TABLES})),
    InstrDef("set_conv", 0x51, 24, (
        Field("in_h", 16, lo=1), Field("in_w", 16, lo=1), Field("out_h", 16, lo=1),
        Field("out_w", 16, lo=1),
        Field("kernel_h", 8, lo=1), Field("kernel_w", 8, lo=1),
        Field("stride_h", 8, lo=1), Field("stride_w", 8, lo=1),
        Field("dilation_h", 8, lo=1), Field("dilation_w", 8, lo=1),
        Field("pad_top", 8), Field("pad_left", 8),
        Field("pad_value", 8, "byte read for positions outside the image (the input's "
                              "zero point, two's complement)"),
        Field("taps_per_row", 8, "taps packed into one 256-lane input row (1: one "
                                 "tap per pass)", lo=1),
        Field("channels", 8, "channels per tap when taps are packed (0 means 256)"),
        Field("first_pixel", 24, "output pixel that row 0 of a matmul or pool stands "
                                 "for (pixels count in N, H, W order), so that long "
                                 "outputs run in chunks"),
        Field("up_h", 4, "nearest upsampling: the window geometry reads an image of "
                         "in_h * up_h rows in which every input row repeats up_h times "
                         "(0 and 1: none)"),
        Field("up_w", 4, "the same along the width"),
        ), "Set configuration: the window geometry used by matmul with `conv` and by "
           "pool. Input images are stored one pixel per UB row, in N, H, W order.",
        Unit.CONTROL, frozenset(), frozenset({Store.CONV})),
    InstrDef("pool", 0x60, 12, (
        Field("sum", 1, "1: int32 sum of (x - pad_value) into accumulator rows; "
                        "0: max into UB rows"),
        Field("unsigned", 1, "1: input bytes are uint8; 0: int8"),
        _pad(6, 1),
        Field("src", 24, "first UB row of the input image"),
        Field("dst", 24, "first destination row (UB for max, accumulator for sum)"),
        Field("length", 24, "output pixels"),
        _pad(8, 2),
        ), "Pool unit: max or sum over each window of the set_conv geometry.",
        Unit.POOL, frozenset({Store.UB, Store.CONV}), frozenset({Store.UB, Store.ACC})),
    InstrDef("add", 0x70, 16, (
        Field("src_a", 24), Field("src_b", 24), Field("ub", 24, "destination row"),
        Field("rows", 24), Field("table", 8, "table slot with the add parameters",
                                 limit=SLOTS),
        _pad(16, 1),
        ), "Vector unit: elementwise sum of two quantized row ranges with TFLite's "
           "int8 ADD arithmetic (rescale both to a common scale, add, requantize).",
        Unit.ADDER, frozenset({Store.UB, Store.TABLES}), frozenset({Store.UB})),
)

BY_MNEMONIC: Mapping[str, InstrDef] = MappingProxyType({d.mnemonic: d for d in ISA})
BY_OPCODE: Mapping[int, InstrDef] = MappingProxyType({d.opcode: d for d in ISA})

# the instructions by name: ``Instruction(MATMUL, ...)``, ``ins.defn is MATMUL``
NOP, HALT, SYNC = BY_MNEMONIC["nop"], BY_MNEMONIC["halt"], BY_MNEMONIC["sync"]
READ_HOST, WRITE_HOST = BY_MNEMONIC["read_host"], BY_MNEMONIC["write_host"]
HOST_CALL = BY_MNEMONIC["host_call"]
READ_WEIGHTS, MATMUL = BY_MNEMONIC["read_weights"], BY_MNEMONIC["matmul"]
ACTIVATE, LOAD_TABLE = BY_MNEMONIC["activate"], BY_MNEMONIC["load_table"]
SET_CONV, POOL, ADD = BY_MNEMONIC["set_conv"], BY_MNEMONIC["pool"], BY_MNEMONIC["add"]

SYNC_HOST, SYNC_UNITS, SYNC_VECTOR = 0, 1, 2
#: the units each sync kind waits for
SYNC_WAITS: Mapping[int, tuple[Unit, ...]] = MappingProxyType({
    SYNC_HOST: (Unit.HOST,),
    SYNC_UNITS: (Unit.MXU, Unit.ACTIVATION, Unit.POOL, Unit.ADDER),
    SYNC_VECTOR: (Unit.ACTIVATION, Unit.POOL, Unit.ADDER)})
FUNCTIONS = {"none": 0, "sigmoid": 1, "tanh": 2, "table": 3, "prelu": 4}

#: the units a compile report lists for a layer: those that compute or move its
#: data (not the issue stage's control instructions, not weight fetches)
REPORTED_UNITS = (Unit.MXU, Unit.ACTIVATION, Unit.POOL, Unit.ADDER, Unit.HOST,
                  Unit.HOST_CPU)


def definition(op: str | InstrDef) -> InstrDef:
    """The table entry of a mnemonic (or the entry itself)."""
    if isinstance(op, InstrDef):
        return op
    defn = BY_MNEMONIC.get(op)
    if defn is None:
        raise QccError(f"unknown instruction '{op}'")
    return defn


def unit_label(op: str | InstrDef) -> str | None:
    """The compile report's name for the unit that executes ``op`` ("MXU",
    "activation unit", "pool unit", "vector adder", "host"), or None for an
    instruction no layer is said to run on (control, weight fetch)."""
    unit = definition(op).unit
    return unit.value if unit in REPORTED_UNITS else None


def field_limit(f: Field, target: Any) -> int:
    """The largest value ``f`` may take on ``target`` (a Target): the table's range,
    cut by the target key ``f.limit``."""
    if not f.limit:
        return f.top
    value: Any = target
    for part in f.limit.split("."):
        value = getattr(value, part)
    return min(f.top, int(value) - 1)


def field_problem(ins: Instruction, target: Any) -> str | None:
    """What is wrong with ``ins``'s field values on ``target`` (the table's ranges
    and the target's limits; the widths hold already), or None."""
    for f in ins.defn.limited:
        v = ins.args[f.name]
        hi = field_limit(f, target)
        if not f.lo <= v <= hi:
            why = f" ({f.limit} = {hi + 1})" if f.limit else ""
            return f"{f.name} {v} is outside {f.lo}..{hi}{why}"
    return None


class Instruction:
    """One decoded instruction: its table entry and integer field values.
    ``op`` is an entry (``isa.MATMUL``) or its mnemonic (``"matmul"``)."""

    __slots__ = ("args", "defn")

    def __init__(self, op: str | InstrDef, **args: int):
        defn = definition(op)
        mnemonic = defn.mnemonic
        values = {}
        for f in defn.operands:
            v = int(args.pop(f.name, 0))
            if not 0 <= v <= f.max:
                raise QccError(f"{mnemonic}: field '{f.name}' = {v} does not fit in "
                               f"{f.bits} bits")
            values[f.name] = v
        if args:
            raise QccError(f"{mnemonic} has no field(s) {', '.join(sorted(args))}")
        self.defn = defn
        self.args = MappingProxyType(values)

    @property
    def op(self) -> str:
        return self.defn.mnemonic

    def __getattr__(self, name: str) -> int:
        try:
            return self.args[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instruction) and self.op == other.op and \
            dict(self.args) == dict(other.args)

    def __hash__(self) -> int:
        return hash((self.op, tuple(self.args.items())))

    def __repr__(self) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.op} {fields}".strip()


def encode_one(ins: Instruction) -> bytes:
    value, shift = 0, 0
    for f in ins.defn.fields:
        value |= ins.args.get(f.name, 0) << shift
        shift += f.bits
    return bytes([ins.defn.opcode]) + value.to_bytes(ins.defn.size - 1, "little")


def encode(instructions: Iterable[Instruction]) -> bytes:
    return b"".join(encode_one(i) for i in instructions)


def decode(data: bytes, where: str = "instructions") -> list[Instruction]:
    """Decode a stream; errors name the byte offset."""
    out: list[Instruction] = []
    pos = 0
    while pos < len(data):
        defn = BY_OPCODE.get(data[pos])
        if defn is None:
            raise QccError(f"{where}: unknown opcode 0x{data[pos]:02x} at byte {pos}")
        if pos + defn.size > len(data):
            raise QccError(f"{where}: '{defn.mnemonic}' at byte {pos} is truncated "
                           f"({len(data) - pos} of {defn.size} bytes)")
        value = int.from_bytes(data[pos + 1:pos + defn.size], "little")
        args: dict[str, Any] = {}
        for f in defn.fields:
            v = value & f.max
            value >>= f.bits
            if f.name.startswith("_pad"):
                if v:
                    raise QccError(f"{where}: '{defn.mnemonic}' at byte {pos} has nonzero "
                                   "padding bits")
            else:
                args[f.name] = v
        out.append(Instruction(defn.mnemonic, **args))
        pos += defn.size
    return out
