"""The TPU program binary (``.tpu``): serialization, loading and validation.

    data = serialize(program)            # deterministic: same Program, same bytes
    program = load_binary(data, "model.tpu")

Layout (all little-endian; docs/binary-format.md is the full specification)::

    header         magic "QTPU", version u16, flags u16, section count u32,
                   reserved u32, total size u64                      (24 bytes)
    section table  per section: id u32, reserved u32, offset u64, size u64
    sections       INSTRUCTIONS, WEIGHTS, IO, MANIFEST, [LAYERS], TARGET; 8-byte
                   aligned, zero padded
    checksum       SHA-256 of every byte before it                   (32 bytes)

Loading trusts nothing: every malformation (bad magic or version, truncation,
checksum, section table, instruction stream, the target description, addresses
outside the memories of the program's own target) is a :class:`QccError` naming what
is wrong and where.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.program import LANES, Program, TensorDesc
from qcc.backends.tpu_v1.tables import RECORD_BYTES
from qcc.backends.tpu_v1.target import Target, target_from_raw, target_to_raw
from qcc.diagnostics import QccError
from qcc.version import __version__

MAGIC = b"QTPU"
#: 2: the TARGET section (the full target description) is required, and the MANIFEST
#: no longer names the target. Version 1 files named a target without its numbers;
#: they are rejected (recompile them).
FORMAT_VERSION = 2
HEADER = struct.Struct("<4sHHIIQ")
ENTRY = struct.Struct("<IIQQ")
CHECKSUM_BYTES = 32
ALIGN = 8
DESC = struct.Struct("<BBHidQ")  # dtype, rank, name bytes, zero point, scale, host offset
DTYPE_CODES = {"i8": 0, "u8": 1}
ZERO_POINT_RANGE = {"i8": (-128, 127), "u8": (0, 255)}
MANIFEST_KEYS = ("manifest", "qcc_version")


class Section(IntEnum):
    """Section ids; the serializer writes them in this order."""

    INSTRUCTIONS = 1
    WEIGHTS = 2
    IO = 3
    MANIFEST = 4
    LAYERS = 5  # optional: each instruction's layer and useful MACs (for reports)
    TARGET = 6  # the target description: every number of the target the program is for


OPTIONAL_SECTIONS = {Section.LAYERS}


@dataclass
class LoadedBinary:
    """A loaded binary: the program and what the file says about its writer."""

    program: Program
    format_version: int
    qcc_version: str


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


# ---------------------------------------------------------------------- writing
def serialize(program: Program, *, validate: bool = True) -> bytes:
    """The binary of ``program``, with the description of its target
    (``Program.resolve_target``). With ``validate`` (the default) the program is
    first checked like :func:`load_binary` checks it, so every written file loads."""
    target = program.resolve_target()
    if validate:
        validate_program(program, target)
    return pack_container([
        (Section.INSTRUCTIONS, isa.encode(program.instructions)),
        (Section.WEIGHTS, bytes(program.weights)),
        (Section.IO, encode_io(program.inputs, program.outputs)),
        (Section.MANIFEST, encode_manifest(program.manifest)),
        *([(Section.LAYERS, encode_layers(program))] if program.layer_of else []),
        (Section.TARGET, encode_target(target))])


def encode_target(target: Target) -> bytes:
    """Canonical JSON of every key of the target description (floats as shortest
    round-trip decimals, integers as integers)."""
    try:
        return json.dumps(target_to_raw(target), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False).encode("ascii")
    except ValueError:
        raise QccError(f"target '{target.name}': a number is not finite") from None


def _decode_target(payload: bytes, where: str) -> Target:
    at = f"{where}: TARGET section"
    try:
        raw = json.loads(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise QccError(f"{at}: not ASCII JSON: {e}") from None
    target = target_from_raw(raw, at, at)
    if encode_target(target) != payload:
        raise QccError(f"{at}: not in canonical form (sorted keys, no spaces, ASCII "
                       "escapes, floats for the real-valued keys)")
    return target


def encode_layers(program: Program) -> bytes:
    """Canonical JSON: {"layer_of": [...], "useful_macs": [...]}, one entry per
    instruction."""
    macs = program.useful_macs or [0] * len(program.layer_of)
    return json.dumps({"layer_of": list(program.layer_of), "useful_macs": list(macs)},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _decode_layers(payload: bytes, count: int, where: str) -> tuple[list[str], list[int]]:
    def fail(message: str) -> QccError:
        return QccError(f"{where}: LAYERS section: {message}")

    try:
        data = json.loads(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise fail(f"not JSON: {e}") from None
    if not isinstance(data, dict) or set(data) != {"layer_of", "useful_macs"}:
        raise fail("expected an object with 'layer_of' and 'useful_macs'")
    layers, macs = data["layer_of"], data["useful_macs"]
    if not (isinstance(layers, list) and all(isinstance(x, str) for x in layers)):
        raise fail("'layer_of' must be a list of strings")
    if not (isinstance(macs, list) and all(type(x) is int and x >= 0 for x in macs)):
        raise fail("'useful_macs' must be a list of non-negative integers")
    if len(layers) != count or len(macs) != count:
        raise fail(f"{len(layers)} layers and {len(macs)} MAC counts for {count} "
                   "instructions")
    if encode_layers(Program([], b"", [], [], "", layer_of=layers, useful_macs=macs)) != \
            payload:
        raise fail("not in canonical form")
    return layers, macs


def pack_container(sections: list[tuple[int, bytes]]) -> bytes:
    """Header, section table, the payloads in the order given (each at the next
    multiple of 8) and the checksum. :func:`serialize` uses it; tests use it to
    build files with unusual sections."""
    pos = _align(HEADER.size + ENTRY.size * len(sections))
    table, body = [], bytearray()
    for sid, payload in sections:
        table.append(ENTRY.pack(sid, 0, pos, len(payload)))
        body += payload + bytes(_align(len(payload)) - len(payload))
        pos += _align(len(payload))
    total = pos + CHECKSUM_BYTES
    head = HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(sections), 0, total) + b"".join(table)
    out = head + bytes(_align(len(head)) - len(head)) + body
    return out + hashlib.sha256(out).digest()


def check_descriptor(desc: TensorDesc) -> str | None:
    """What is wrong with an I/O descriptor, or None."""
    if not isinstance(desc.name, str) or not desc.name:
        return "the name must be a non-empty string"
    try:
        desc.name.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not valid Unicode"
    if desc.dtype not in DTYPE_CODES:
        return f"dtype '{desc.dtype}' is not one of i8, u8"
    if not 2 <= len(desc.shape) <= 255:
        return f"shape {list(desc.shape)} must have 2 to 255 dimensions"
    if any(not 1 <= int(d) < 1 << 64 for d in desc.shape):
        return f"shape {list(desc.shape)} has a dimension outside 1..2^64-1"
    if not (isinstance(desc.scale, float | int) and math.isfinite(desc.scale)
            and desc.scale > 0):
        return f"scale {desc.scale!r} must be a finite positive number"
    lo, hi = ZERO_POINT_RANGE[desc.dtype]
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
            problem = check_descriptor(desc)
            if problem is None and desc.name in names:
                problem = f"the name '{desc.name}' is used by an earlier {kind}"
            if problem is not None:
                raise QccError(f"{kind} {i} ('{desc.name}'): {problem}")
            names.add(desc.name)


def check_io_fits(inputs: list[TensorDesc], outputs: list[TensorDesc], ub_rows: int
                  ) -> None:
    """Raise ProgramError unless every input and output fits the Unified Buffer (they
    move between it and the host whole) and the host buffer space holds the tensors
    and nothing more (the layout qcc writes: descriptors without gaps)."""
    total = 0
    for kind, descs in (("input", inputs), ("output", outputs)):
        for desc in descs:
            rows = desc.pixels * -(-desc.channels // LANES)  # (not len(blocks): huge)
            if rows > ub_rows:
                raise ProgramError(f"{kind} '{desc.name}' {list(desc.shape)} needs {rows} "
                                   f"Unified Buffer rows; the Unified Buffer has {ub_rows}")
            total += desc.host_bytes
    end = max((d.host_offset + d.host_bytes for d in (*inputs, *outputs)), default=0)
    if end > total:
        raise ProgramError(f"the I/O descriptors reach host byte {end}, but the tensors "
                           f"take {total} bytes: descriptors must not leave gaps")


def encode_io(inputs: list[TensorDesc], outputs: list[TensorDesc]) -> bytes:
    """The IO section: counts, then one record per descriptor (inputs first)."""
    check_descriptors(inputs, outputs)
    out = bytearray(struct.pack("<II", len(inputs), len(outputs)))
    for d in (*inputs, *outputs):
        name = d.name.encode("utf-8")
        out += DESC.pack(DTYPE_CODES[d.dtype], len(d.shape), len(name), int(d.zero_point),
                         float(d.scale), int(d.host_offset))
        out += struct.pack(f"<{len(d.shape)}Q", *(int(x) for x in d.shape))
        out += name + bytes(_align(len(name)) - len(name))
    return bytes(out)


def encode_manifest(manifest: dict[str, str]) -> bytes:
    """Canonical JSON (sorted keys, no spaces, ASCII) of the manifest and the writing
    qcc's version."""
    bad = [k for k, v in manifest.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise QccError(f"manifest entry {bad[0]!r}: keys and values must be strings")
    doc = {"manifest": manifest, "qcc_version": __version__}
    return _canonical_json(doc)


def _canonical_json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


# ---------------------------------------------------------------------- reading
def load_binary(data: bytes, where: str = "<bytes>") -> Program:
    """Parse and validate a binary; any malformation raises QccError."""
    return read_binary(data, where).program


def read_binary(data: bytes, where: str = "<bytes>") -> LoadedBinary:
    """Like :func:`load_binary`, also returning the writer's format and qcc versions.
    The program is validated against the memories of the target it carries."""
    data = bytes(data)
    sections = _sections(data, where)
    inputs, outputs = _decode_io(sections[Section.IO], where)
    manifest, version = _decode_manifest(sections[Section.MANIFEST], where)
    target = _decode_target(sections[Section.TARGET], where)
    instructions = isa.decode(sections[Section.INSTRUCTIONS], f"{where}: INSTRUCTIONS section")
    layers, macs = ([], []) if Section.LAYERS not in sections else _decode_layers(
        sections[Section.LAYERS], len(instructions), where)
    program = Program(instructions, sections[Section.WEIGHTS], inputs, outputs, target.name,
                      manifest, layer_of=layers, useful_macs=macs, target_desc=target)
    try:
        validate_program(program, target)
    except ProgramError as e:
        raise QccError(f"{where}: INSTRUCTIONS section: {e.message}") from None
    return LoadedBinary(program, FORMAT_VERSION, version)


def _sections(data: bytes, where: str) -> dict[Section, bytes]:
    """Check the container (header, table, layout, checksum); the section payloads."""
    def fail(message: str) -> QccError:
        return QccError(f"{where}: {message}")

    n = len(data)
    if n < HEADER.size:
        raise fail(f"truncated: {n} bytes, shorter than the {HEADER.size}-byte header")
    magic, version, flags, count, reserved, total = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise fail(f"bad magic {magic!r} at byte 0 (expected {MAGIC!r}): not a qcc TPU "
                   "binary")
    if version == 1:
        raise fail("format version 1: written by an older qcc, it names its target "
                   f"without the target's numbers; recompile it (this qcc reads version "
                   f"{FORMAT_VERSION})")
    if version != FORMAT_VERSION:
        raise fail(f"unsupported format version {version} (this qcc reads version "
                   f"{FORMAT_VERSION})")
    if flags:
        raise fail(f"unknown header flags 0x{flags:04x} at byte 6 (version "
                   f"{FORMAT_VERSION} defines none)")
    if reserved:
        raise fail("nonzero reserved header field at byte 12")
    table_end = HEADER.size + ENTRY.size * count
    if n < total:
        raise fail(_truncation(data, count, total))
    if n > total:
        raise fail(f"{n - total} unexpected bytes after the {total} bytes the header "
                   "declares")
    checksum_at = total - CHECKSUM_BYTES
    if total % ALIGN or checksum_at < table_end:
        raise fail(f"the declared total size {total} cannot hold a {count}-entry section "
                   "table and the checksum at an 8-byte aligned offset")
    if hashlib.sha256(data[:checksum_at]).digest() != data[checksum_at:]:
        raise fail(f"checksum mismatch: the SHA-256 at byte {checksum_at} does not match "
                   "the contents (the file is corrupted)")
    found: dict[Section, tuple[int, int]] = {}
    for i in range(count):
        sid, res, off, size = ENTRY.unpack_from(data, HEADER.size + ENTRY.size * i)
        at = f"section table entry {i} (byte {HEADER.size + ENTRY.size * i})"
        if sid not in Section.__members__.values():
            raise fail(f"{at}: unknown section id {sid}")
        name = Section(sid).name
        if res:
            raise fail(f"{at}: nonzero reserved field in the {name} entry")
        if sid in found:
            raise fail(f"{at}: a second {name} section")
        if off % ALIGN:
            raise fail(f"{name} section offset {off} is not 8-byte aligned")
        if off < table_end or off + size > checksum_at:
            raise fail(f"{name} section [{off}, {off + size}) lies outside the file's "
                       f"section area [{table_end}, {checksum_at})")
        found[Section(sid)] = (off, size)
    for sid in Section:
        if sid not in found and sid not in OPTIONAL_SECTIONS:
            raise fail(f"missing required {sid.name} section")
    _check_layout(data, table_end, checksum_at, found, fail)
    return {sid: data[off:off + size] for sid, (off, size) in found.items()}


def _check_layout(data: bytes, table_end: int, checksum_at: int,
                  found: dict[Section, tuple[int, int]], fail: Callable[[str], QccError]
                  ) -> None:
    """No two regions overlap; every byte between them is zero padding."""
    regions = sorted([(0, table_end, "the section table"),
                      *((off, off + size, f"the {sid.name} section")
                        for sid, (off, size) in found.items()),
                      (checksum_at, checksum_at, "the checksum")])
    for (_, end_a, a), (start_b, _, b) in itertools.pairwise(regions):
        if start_b < end_a:
            raise fail(f"{b} (from byte {start_b}) overlaps {a} (up to byte {end_a})")
        if any(data[end_a:start_b]):
            nonzero = end_a + next(i for i, v in enumerate(data[end_a:start_b]) if v)
            raise fail(f"nonzero padding at byte {nonzero} (before {b})")


def _truncation(data: bytes, count: int, total: int) -> str:
    """Name the part of a truncated file that is cut off."""
    n = len(data)
    head = f"truncated file: {n} of the {total} bytes the header declares"
    table_end = HEADER.size + ENTRY.size * count
    if n < table_end:
        return f"{head}; the section table (bytes {HEADER.size}..{table_end}) is cut off"
    parts = []
    for i in range(count):
        sid, _, off, size = ENTRY.unpack_from(data, HEADER.size + ENTRY.size * i)
        name = Section(sid).name if sid in Section.__members__.values() else f"id {sid}"
        parts.append((off + size, off, f"section {name}"))
    for end, off, what in sorted(parts):
        if end > n:
            return f"{head}; {what} (bytes {off}..{end}) is cut off"
    return f"{head}; the checksum (bytes {total - CHECKSUM_BYTES}..{total}) is cut off"


def _decode_io(payload: bytes, where: str) -> tuple[list[TensorDesc], list[TensorDesc]]:
    def fail(message: str) -> QccError:
        return QccError(f"{where}: IO section: {message}")

    if len(payload) < 8:
        raise fail(f"{len(payload)} bytes, too short for the descriptor counts")
    n_in, n_out = struct.unpack_from("<II", payload)
    pos, descs = 8, []
    for i in range(n_in + n_out):
        if pos + DESC.size > len(payload):
            raise fail(f"descriptor {i} at byte {pos} is truncated")
        code, rank, name_len, zp, scale, host = DESC.unpack_from(payload, pos)
        end = pos + DESC.size + 8 * rank + _align(name_len)
        if end > len(payload):
            raise fail(f"descriptor {i} at byte {pos} is truncated")
        shape = struct.unpack_from(f"<{rank}Q", payload, pos + DESC.size)
        raw = payload[pos + DESC.size + 8 * rank:end]
        dtype = {v: k for k, v in DTYPE_CODES.items()}.get(code)
        if dtype is None:
            raise fail(f"descriptor {i} at byte {pos}: unknown dtype code {code}")
        try:
            name = raw[:name_len].decode("utf-8")
        except UnicodeDecodeError:
            raise fail(f"descriptor {i} at byte {pos}: the name is not UTF-8") from None
        if any(raw[name_len:]):
            raise fail(f"descriptor {i} at byte {pos}: nonzero padding after the name")
        descs.append(TensorDesc(name, tuple(shape), dtype, scale, zp, host))
        pos = end
    if pos != len(payload):
        raise fail(f"{len(payload) - pos} unexpected bytes after the last descriptor")
    inputs, outputs = descs[:n_in], descs[n_in:]
    try:
        check_descriptors(inputs, outputs)
    except QccError as e:
        raise fail(e.message) from None
    return inputs, outputs


def _decode_manifest(payload: bytes, where: str) -> tuple[dict[str, str], str]:
    def fail(message: str) -> QccError:
        return QccError(f"{where}: MANIFEST section: {message}")

    try:
        doc = json.loads(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise fail(f"not ASCII JSON: {e}") from None
    if not isinstance(doc, dict) or sorted(doc) != list(MANIFEST_KEYS):
        raise fail(f"expected an object with keys {', '.join(MANIFEST_KEYS)}")
    manifest, version = (doc[k] for k in MANIFEST_KEYS)
    if not isinstance(version, str):
        raise fail("'qcc_version' must be a string")
    if not isinstance(manifest, dict) or not all(isinstance(v, str)
                                                 for v in manifest.values()):
        raise fail("'manifest' must map strings to strings")
    if _canonical_json(doc) != payload:
        raise fail("not in canonical form (sorted keys, no spaces, ASCII escapes)")
    return manifest, version



# ---------------------------------------------------------------------- validation
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
    weight FIFO never fuller than its depth, operand limits (row_bytes, lanes,
    set_conv geometry), and a final ``halt``."""
    target = target or program.resolve_target()
    check_descriptors(program.inputs, program.outputs)
    ub_rows = target.unified_buffer.rows
    check_io_fits(program.inputs, program.outputs, ub_rows)
    capacity = target.weight_memory.capacity_bytes
    if len(program.weights) > capacity:
        raise ProgramError(f"the {len(program.weights)}-byte weight image does not fit the "
                           f"{capacity}-byte weight memory (weight_memory.capacity_bytes)")
    checker = _Checker(program.host_bytes, len(program.weights), target)
    byte = 0
    for i, ins in enumerate(program.instructions):
        try:
            getattr(checker, ins.op)(ins)
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


def check_fits(program: Program, target: Target, where: str = "the program") -> None:
    """Raise QccError unless ``program`` (compiled for its own target) also fits the
    memories of ``target``: what running or timing it there needs."""
    try:
        validate_program(program, target)
    except ProgramError as e:
        raise QccError(f"{where} (compiled for '{program.target}') does not fit target "
                       f"'{target.name}': {e.message}") from None


_GEOMETRY = ("in_h", "in_w", "out_h", "out_w", "kernel_h", "kernel_w", "stride_h",
             "stride_w", "dilation_h", "dilation_w", "taps_per_row")


class _Checker:
    """Per-instruction checks; a method per mnemonic. The program is straight-line
    code, so the set_conv in force at each instruction is known exactly."""

    def __init__(self, host_bytes: int, dram_bytes: int, target: Target):
        self.host_bytes, self.dram_bytes = host_bytes, dram_bytes
        self.ub_rows, self.acc_rows = target.unified_buffer.rows, target.accumulators.rows
        self.tile_bytes, self.fifo_depth = target.weights.tile_bytes, target.weights.fifo_depth
        self.fifo = 0  # tiles in the weight FIFO (the program is straight-line code)
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

    halt = nop

    def sync(self, ins: isa.Instruction) -> None:
        if ins.kind not in (isa.SYNC_HOST, isa.SYNC_UNITS):
            raise _Bad(f"unknown sync kind {ins.kind} (0: host transfers, 1: units)")

    def read_host(self, ins: isa.Instruction) -> None:
        if not 1 <= ins.row_bytes <= LANES:
            raise _Bad(f"row_bytes {ins.row_bytes} is outside 1..{LANES}")
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
        for name in _GEOMETRY:
            if ins.args[name] == 0:
                raise _Bad(f"'{name}' is 0 (it must be at least 1)")
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
        if ins.function not in isa.FUNCTIONS.values():
            raise _Bad(f"unknown function {ins.function} (0: none, 1: sigmoid, 2: tanh)")
        if not 1 <= ins.lanes <= LANES or ins.column + ins.lanes > LANES:
            raise _Bad(f"lanes [{ins.column}, {ins.column + ins.lanes}) are not 1 to "
                       f"{LANES} lanes of a row")
        (self.ub if ins.src_ub else self.acc)(ins.src, ins.rows)
        self.ub(ins.ub, ins.rows)

    def pool(self, ins: isa.Instruction) -> None:
        self.image(ins.src, ins.length, "pool")
        (self.acc if ins.sum else self.ub)(ins.dst, ins.length)

    def add(self, ins: isa.Instruction) -> None:
        for start in (ins.src_a, ins.src_b, ins.ub):
            self.ub(start, ins.rows)
