"""The TPU program binary (``.tpu``): the container, its serialization and loading.

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
is wrong and where. What a program may contain (descriptors, field ranges, memory
ranges) is checked by validate.py; its names are importable from here too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.program import HostSegment, Program, TensorDesc
from qcc.backends.tpu_v1.target import Target, target_from_raw, target_to_raw
from qcc.backends.tpu_v1.validate import (
    ZERO_POINT_RANGE,
    ProgramError,
    check_descriptor,
    check_descriptors,
    check_fits,
    check_io_fits,
    validate_program,
)
from qcc.diagnostics import QccError
from qcc.version import __version__

__all__ = ["CHECKSUM_BYTES", "ENTRY", "FORMAT_VERSION", "HEADER", "MAGIC",
           "ZERO_POINT_RANGE", "LoadedBinary", "ProgramError", "Section",
           "check_descriptor", "check_descriptors", "check_fits", "check_io_fits",
           "encode_io", "encode_layers", "encode_manifest", "encode_target",
           "load_binary", "pack_container", "read_binary", "serialize",
           "validate_program"]

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
DTYPE_CODES = {"i8": 0, "u8": 1, "f32": 2, "i64": 3, "i32": 4, "i1": 5}
MANIFEST_KEYS = ("manifest", "qcc_version")


class Section(IntEnum):
    """Section ids; the serializer writes them in this order."""

    INSTRUCTIONS = 1
    WEIGHTS = 2
    IO = 3
    MANIFEST = 4
    LAYERS = 5  # optional: each instruction's layer and useful MACs (for reports)
    TARGET = 6  # the target description: every number of the target the program is for
    HOST = 7  # optional: host tensors and host segments (a partitioned program)
    HOST_SCRATCH = 8  # optional: u64 bytes of host memory for spilled tensors (tile-ub)


OPTIONAL_SECTIONS = {Section.LAYERS, Section.HOST, Section.HOST_SCRATCH}
#: the host scratch of spilled tensors is at most this many times the Unified Buffer
SCRATCH_LIMIT_UB = 64


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
        (Section.TARGET, encode_target(target)),
        *([(Section.HOST, encode_host(program))] if program.segments or
          program.host_tensors else []),
        *([(Section.HOST_SCRATCH, struct.pack("<Q", program.scratch_bytes))]
          if program.scratch_bytes else [])])


def encode_host(program: Program) -> bytes:
    """The HOST section: canonical JSON of the host tensors (descriptors as in the IO
    section) and the host segments (names of their tensors, IR text)."""
    tensors = [{"name": d.name, "shape": [int(x) for x in d.shape], "dtype": d.dtype,
                "scale": float(d.scale), "zero_point": int(d.zero_point),
                "host_offset": int(d.host_offset)} for d in program.host_tensors]
    segments = [{"inputs": list(g.inputs), "outputs": list(g.outputs), "ir": g.ir}
                for g in program.segments]
    return _canonical_json({"segments": segments, "tensors": tensors})


def _decode_host(payload: bytes, where: str) -> tuple[list[TensorDesc], list[HostSegment]]:
    def fail(message: str) -> QccError:
        return QccError(f"{where}: HOST section: {message}")

    try:
        doc = json.loads(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise fail(f"not canonical JSON ({e})") from None
    if not isinstance(doc, dict) or set(doc) != {"segments", "tensors"} or \
            not isinstance(doc["segments"], list) or not isinstance(doc["tensors"], list):
        raise fail("expected an object with the lists 'segments' and 'tensors'")
    tensors = []
    keys = {"name", "shape", "dtype", "scale", "zero_point", "host_offset"}
    for k, t in enumerate(doc["tensors"]):
        if not isinstance(t, dict) or set(t) != keys or not isinstance(t["name"], str) or \
                not isinstance(t["shape"], list) or \
                not all(type(x) is int and x > 0 for x in t["shape"]) or \
                t["dtype"] not in DTYPE_CODES or \
                not isinstance(t["scale"], int | float) or \
                type(t["zero_point"]) is not int or type(t["host_offset"]) is not int or \
                t["host_offset"] < 0 or len(t["shape"]) < 2:
            raise fail(f"host tensor {k} is malformed")
        tensors.append(TensorDesc(t["name"], tuple(t["shape"]), t["dtype"],
                                  float(t["scale"]), t["zero_point"], t["host_offset"]))
    segments = []
    for k, g in enumerate(doc["segments"]):
        if not isinstance(g, dict) or set(g) != {"inputs", "outputs", "ir"} or \
                not isinstance(g["ir"], str) or \
                not all(isinstance(x, list) and all(isinstance(n, str) for n in x)
                        for x in (g["inputs"], g["outputs"])):
            raise fail(f"host segment {k} is malformed")
        segments.append(HostSegment(tuple(g["inputs"]), tuple(g["outputs"]), g["ir"]))
    if encode_host(Program([], b"", [], [], "", host_tensors=tensors,
                           segments=segments)) != payload:
        raise fail("not in canonical form")
    return tensors, segments


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
    host_tensors, segments = ([], []) if Section.HOST not in sections else _decode_host(
        sections[Section.HOST], where)
    scratch = _decode_scratch(sections.get(Section.HOST_SCRATCH), target, where)
    program = Program(instructions, sections[Section.WEIGHTS], inputs, outputs, target.name,
                      manifest, layer_of=layers, useful_macs=macs, target_desc=target,
                      host_tensors=host_tensors, segments=segments, scratch_bytes=scratch)
    try:
        validate_program(program, target)
    except ProgramError as e:
        raise QccError(f"{where}: INSTRUCTIONS section: {e.message}") from None
    return LoadedBinary(program, FORMAT_VERSION, version)


def _decode_scratch(payload: bytes | None, target: Target, where: str) -> int:
    if payload is None:
        return 0
    limit = SCRATCH_LIMIT_UB * target.unified_buffer.rows * target.unified_buffer.row_bytes
    if len(payload) != 8:
        raise QccError(f"{where}: HOST_SCRATCH section: {len(payload)} bytes, expected 8")
    (scratch,) = struct.unpack("<Q", payload)
    if not 0 < scratch <= limit:
        raise QccError(f"{where}: HOST_SCRATCH section: {scratch} bytes of host scratch, "
                       f"expected 1..{limit} ({SCRATCH_LIMIT_UB} times the Unified Buffer)")
    return scratch


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
