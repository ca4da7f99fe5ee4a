"""The .tpu binary: deterministic serialization, exact round trips, and a loader
that turns every malformation into a QccError naming what and where."""

from __future__ import annotations

import hashlib
import os
import struct
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcc.backends.tpu_v1.binary import (
    CHECKSUM_BYTES,
    ENTRY,
    HEADER,
    ProgramError,
    Section,
    check_fits,
    encode_io,
    encode_manifest,
    encode_target,
    load_binary,
    pack_container,
    read_binary,
    serialize,
    validate_program,
)
from qcc.backends.tpu_v1.isa import Instruction as I
from qcc.backends.tpu_v1.isa import encode
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, AddTable
from qcc.backends.tpu_v1.target import load_target
from qcc.diagnostics import QccError

TILES = 2 * 65536
HOST_IN, HOST_OUT = 96, 20  # x: 2 x 4 x 4 pixels of 3 channels; y: 2 rows of 10


def sample_program(weights: bytes | None = None, instructions: list[I] | None = None
                   ) -> Program:
    """A valid program with an instruction of every kind, two weight tiles and two
    table records."""
    if weights is None:
        tiles = np.random.default_rng(0).integers(0, 256, TILES, np.uint8).tobytes()
        act = ActivateTable(-3, 5, -128, 127, False, np.arange(256), np.full(256, 1 << 30),
                            np.full(256, 3))
        add = AddTable(1, 2, 3, -128, 127, False, 20, (1 << 30, 1 << 29, 1 << 28), (1, 2, 3))
        weights = tiles + act.encode() + add.encode()
    if instructions is None:
        instructions = [
            I("read_host", host=0, ub=0, rows=32, row_bytes=3, host_stride=3),
            I("sync", kind=0),
            I("read_weights", dram=0, count=2),
            I("load_table", slot=0, dram=TILES),
            I("load_table", slot=1, dram=TILES + RECORD_BYTES),
            I("set_conv", in_h=4, in_w=4, out_h=4, out_w=4, kernel_h=3, kernel_w=3,
              stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1,
              pad_value=128, taps_per_row=1, channels=0, first_pixel=0),
            I("matmul", switch=1, conv=1, tap=4, ub=0, acc=0, length=32),
            I("matmul", accumulate=1, switch=1, ub=0, acc=0, length=32),
            I("activate", src=0, ub=100, rows=32, table=0, lanes=3),
            I("pool", src=100, dst=200, length=32),
            I("add", src_a=100, src_b=200, ub=300, rows=32, table=1),
            I("nop"),
            I("sync", kind=1),
            I("write_host", host=HOST_IN, ub=300, rows=2, row_bytes=10, host_stride=10),
            I("halt"),
        ]
    return Program(
        instructions, weights,
        [TensorDesc("x", (2, 3, 4, 4), "i8", 0.0039215686274509803, -128, 0)],
        [TensorDesc("y", (2, 10), "u8", 0.1, 7, HOST_IN)],
        "tpu-v1", {"pipeline": "canonicalize,fold-rescale", "model_sha256": "ab" * 32,
                   "note": "caf\u00e9 \u2192 ok"})


DATA = serialize(sample_program())


def layout(data: bytes) -> dict[str, tuple[int, int]]:
    """Section name -> (offset, size), from the section table."""
    count = HEADER.unpack_from(data)[3]
    out = {}
    for i in range(count):
        sid, _, off, size = ENTRY.unpack_from(data, HEADER.size + ENTRY.size * i)
        out[Section(sid).name] = (off, size)
    return out


def reseal(data: bytes | bytearray) -> bytes:
    """Recompute the checksum, so that a test reaches the checks behind it."""
    body = bytes(data[:-CHECKSUM_BYTES])
    return body + hashlib.sha256(body).digest()


def patched(offset: int, fmt: str, value: int, data: bytes = DATA) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return reseal(buf)


def entry_at(i: int) -> int:
    return HEADER.size + ENTRY.size * i


def load_error(data: bytes) -> str:
    with pytest.raises(QccError) as info:
        load_binary(data, "m.tpu")
    return info.value.format()


# ---------------------------------------------------------------------- round trips
def test_round_trip_is_identical():
    program = load_binary(DATA)
    original = sample_program()
    assert program.instructions == original.instructions
    assert program.weights == original.weights
    assert program.inputs == original.inputs and program.outputs == original.outputs
    assert program.target == "tpu-v1" and program.manifest == original.manifest
    assert serialize(program) == DATA


def test_layout_is_aligned_and_checksummed():
    magic, version, flags, count, reserved, total = HEADER.unpack_from(DATA)
    assert (magic, version, flags, count, reserved, total) == (b"QTPU", 2, 0, 5, 0, len(DATA))
    sections = layout(DATA)
    assert list(sections) == ["INSTRUCTIONS", "WEIGHTS", "IO", "MANIFEST", "TARGET"]
    assert all(off % 8 == 0 for off, _ in sections.values())
    assert sections["WEIGHTS"][1] == TILES + 2 * RECORD_BYTES
    assert DATA[-32:] == hashlib.sha256(DATA[:-32]).digest()
    manifest = DATA[slice(sections["MANIFEST"][0], sum(sections["MANIFEST"]))]
    assert manifest.startswith(b'{"manifest":{"model_sha256":') and manifest.isascii()
    assert read_binary(DATA).qcc_version == "0.1.0"
    target = DATA[slice(sections["TARGET"][0], sum(sections["TARGET"]))]
    assert target.startswith(b'{"accumulators":{"bytes_per_lane":4,"lanes":256,'
                             b'"rows":4096},"array":{"clock_hz":700000000.0,') and \
        b'"name":"tpu-v1"' in target and target.isascii()


def test_same_bytes_across_processes():
    code = ("import hashlib, importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('t', {__file__!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "sys.stdout.write(hashlib.sha256(m.serialize(m.sample_program())).hexdigest())")
    from qcc.testing.processes import run_side_by_side

    runs = run_side_by_side([([sys.executable, "-c", code],
                               {**os.environ, "PYTHONHASHSEED": seed})
                              for seed in ("0", "4242")])
    assert {r.stdout for r in runs} == {hashlib.sha256(DATA).hexdigest()}


def test_empty_weights_and_io():
    program = Program([I("halt")], b"", [], [], "tpu-v1")
    data = serialize(program)
    assert load_binary(data).instructions == [I("halt")]
    assert serialize(load_binary(data)) == data


# ---------------------------------------------------------------------- container
def test_bad_magic():
    assert "m.tpu: bad magic b'XTPU' at byte 0 (expected b'QTPU')" in \
        load_error(b"XTPU" + DATA[4:])


def test_unsupported_version():
    assert "unsupported format version 3 (this qcc reads version 2)" in \
        load_error(patched(4, "<H", 3))
    assert "format version 1: written by an older qcc, it names its target without the " \
        "target's numbers; recompile it" in load_error(patched(4, "<H", 1))


def test_nonzero_flags_and_reserved():
    assert "unknown header flags 0x0004 at byte 6" in load_error(patched(6, "<H", 4))
    assert "nonzero reserved header field at byte 12" in load_error(patched(12, "<I", 1))


def test_checksum_mismatch():
    buf = bytearray(DATA)
    buf[layout(DATA)["WEIGHTS"][0] + 5] ^= 0x10
    assert load_error(bytes(buf)) == (f"error: m.tpu: checksum mismatch: the SHA-256 at byte "
                                      f"{len(DATA) - 32} does not match the contents (the "
                                      "file is corrupted)")


def test_truncated_at_every_section_boundary():
    sections = layout(DATA)
    assert "shorter than the 24-byte header" in load_error(DATA[:10])
    assert "the section table (bytes 24..144) is cut off" in load_error(DATA[:24])
    for name, (off, size) in sections.items():
        for cut in (off, off + size - 1):
            message = load_error(DATA[:cut])
            assert f"truncated file: {cut} of the {len(DATA)} bytes" in message
            assert f"section {name} (bytes {off}..{off + size}) is cut off" in message
    for cut in (len(DATA) - 32, len(DATA) - 1):
        assert "the checksum" in load_error(DATA[:cut])


def test_trailing_bytes():
    assert "3 unexpected bytes after the" in load_error(DATA + b"abc")


def test_section_outside_the_file():
    off, _ = layout(DATA)["WEIGHTS"]
    message = load_error(patched(entry_at(1) + 16, "<Q", 1 << 40))
    assert f"WEIGHTS section [{off}, {off + (1 << 40)}) lies outside" in message
    assert "lies outside" in load_error(patched(entry_at(0) + 8, "<Q", 0))


def test_overlapping_sections():
    weights_off, _ = layout(DATA)["WEIGHTS"]
    message = load_error(patched(entry_at(2) + 8, "<Q", weights_off + 8))
    assert "the IO section (from byte" in message and "overlaps the WEIGHTS section" in message


def test_unaligned_section():
    off, _ = layout(DATA)["MANIFEST"]
    assert f"MANIFEST section offset {off + 1} is not 8-byte aligned" in \
        load_error(patched(entry_at(3) + 8, "<Q", off + 1))


def test_unknown_duplicate_and_missing_sections():
    assert "section table entry 3 (byte 96): unknown section id 9" in \
        load_error(patched(entry_at(3), "<I", 9))
    assert "a second WEIGHTS section" in load_error(patched(entry_at(3), "<I", 2))
    assert "nonzero reserved field in the IO entry" in \
        load_error(patched(entry_at(2) + 4, "<I", 1))
    program = sample_program()
    three = pack_container([(Section.INSTRUCTIONS, encode(program.instructions)),
                            (Section.WEIGHTS, program.weights),
                            (Section.MANIFEST, encode_manifest({})),
                            (Section.TARGET, encode_target(load_target("tpu-v1")))])
    assert "missing required IO section" in load_error(three)
    no_target = pack_container([(Section.INSTRUCTIONS, encode(program.instructions)),
                                (Section.WEIGHTS, program.weights),
                                (Section.IO, encode_io(program.inputs, program.outputs)),
                                (Section.MANIFEST, encode_manifest({}))])
    assert "missing required TARGET section" in load_error(no_target)


def test_nonzero_padding():
    off, size = layout(DATA)["INSTRUCTIONS"]
    assert size % 8, "the test needs a padded section"
    buf = bytearray(DATA)
    buf[off + size] = 1
    assert f"nonzero padding at byte {off + size} (before the WEIGHTS section)" in \
        load_error(reseal(buf))


# ---------------------------------------------------------------------- payloads
def container(instructions: bytes | None = None, io: bytes | None = None,
              manifest: bytes | None = None, target: bytes | None = None) -> bytes:
    program = sample_program()
    return pack_container([
        (Section.INSTRUCTIONS, encode(program.instructions) if instructions is None
         else instructions),
        (Section.WEIGHTS, program.weights),
        (Section.IO, encode_io(program.inputs, program.outputs) if io is None else io),
        (Section.MANIFEST, encode_manifest({}) if manifest is None else manifest),
        (Section.TARGET, encode_target(load_target("tpu-v1")) if target is None
         else target)])


def test_container_helper_matches_serialize():
    program = sample_program()
    program.manifest = {}
    assert container() == serialize(program)


@pytest.mark.parametrize(("stream", "message"), [
    (encode([I("nop")]) + b"\xff\0\0\0" + encode([I("halt")]),
     "INSTRUCTIONS section: unknown opcode 0xff at byte 4"),
    (encode([I("nop")]) + encode([I("matmul")])[:7],
     "INSTRUCTIONS section: 'matmul' at byte 4 is truncated (7 of 12 bytes)"),
    (b"\x01\0\0\x80", "'halt' at byte 0 has nonzero padding bits"),
])
def test_malformed_instruction_stream(stream, message):
    assert message in load_error(container(instructions=stream))


def io_section(*records: bytes, counts: tuple[int, int] = (1, 0)) -> bytes:
    return struct.pack("<II", *counts) + b"".join(records)


def desc_record(code: int = 0, rank: int = 2, name: bytes = b"x", zp: int = 0,
                scale: float = 1.0, host: int = 0, dims: tuple[int, ...] = (1, 8)) -> bytes:
    padded = name + bytes(-len(name) % 8)
    return struct.pack("<BBHidQ", code, rank, len(name), zp, scale, host) + \
        struct.pack(f"<{len(dims)}Q", *dims) + padded


@pytest.mark.parametrize(("io", "message"), [
    (b"\1\0", "IO section: 2 bytes, too short for the descriptor counts"),
    (io_section(desc_record()[:20]), "descriptor 0 at byte 8 is truncated"),
    (io_section(desc_record(code=9)), "unknown dtype code 9"),
    (io_section(desc_record(name=b"\xff")), "the name is not UTF-8"),
    (io_section(desc_record(zp=200)), "input 0 ('x'): zero point 200 is outside -128..127"),
    (io_section(desc_record(scale=float("nan"))), "scale nan must be a finite positive"),
    (io_section(desc_record(rank=1, dims=(8,))), "must have 2 to 255 dimensions"),
    (io_section(desc_record(dims=(1, 0))), "has a dimension outside 1..2^64-1"),
    (io_section(desc_record(), desc_record(), counts=(2, 0)),
     "input 1 ('x'): the name 'x' is used by an earlier input"),
    (io_section(desc_record(), b"\0" * 8), "8 unexpected bytes after the last descriptor"),
])
def test_malformed_io(io, message):
    assert message in load_error(container(io=io))


@pytest.mark.parametrize(("manifest", "message"), [
    (b"\xff", "MANIFEST section: not ASCII JSON"),
    (b"[1]", "expected an object with keys manifest, qcc_version"),
    (b'{"manifest":{},"qcc_version":"0.1.0","target":"tpu-v1"}',
     "expected an object with keys manifest, qcc_version"),
    (b'{"manifest":{"a":1},"qcc_version":"0.1.0"}', "map strings to strings"),
    (b'{"manifest":{},"qcc_version":7}', "'qcc_version' must be a string"),
    (b'{"qcc_version":"0.1.0","manifest":{}}', "not in canonical form"),
])
def test_malformed_manifest(manifest, message):
    assert message in load_error(container(manifest=manifest))


# ---------------------------------------------------------------------- validation
CONV = sample_program().instructions[5]


def with_changes(changes: dict[int, I]) -> Program:
    program = sample_program()
    for index, ins in changes.items():
        program.instructions[index] = ins
    return program


BAD = [
    ({0: I("read_host", host=30, rows=32, row_bytes=3, host_stride=3)},
     0, "host bytes [30, 126) are outside the 116-byte host buffer space"),
    ({0: I("read_host", rows=32, row_bytes=0, host_stride=3)},
     0, "row_bytes 0 is outside 1..256"),
    ({0: I("read_host", ub=98300, rows=32, row_bytes=3, host_stride=3)},
     0, "Unified Buffer rows [98300, 98332) are outside the 98304-row Unified Buffer"),
    ({13: I("write_host", host=HOST_IN, rows=2, row_bytes=257, host_stride=10)},
     13, "row_bytes 257 is outside 1..256"),
    ({13: I("write_host", host=HOST_IN + 1, rows=2, row_bytes=10, host_stride=10)},
     13, "host bytes [97, 117) are outside the 116-byte host buffer space"),
    ({1: I("sync", kind=3)}, 1, "kind 3 is outside 0..2"),  # kinds: isa.SYNC_WAITS
    ({2: I("read_weights", dram=65536, count=2)}, 2, "reading 2 weight tile(s) needs weight "
     "memory bytes [65536, 196608), outside the 136256-byte weight image (WEIGHTS section)"),
    ({3: I("load_table", dram=TILES + RECORD_BYTES + 1)}, 3,
     "the table record needs weight memory bytes [133665, 136257)"),
    ({5: I("set_conv", **{**CONV.args, "out_w": 0})}, 5, "out_w 0 is outside 1..65535"),
    ({5: I("set_conv", **{**CONV.args, "taps_per_row": 2, "channels": 200})}, 5,
     "2 taps of 200 channels do not fit a 256-lane row"),
    ({6: I("matmul", switch=1, conv=1, tap=9, length=32)}, 6,
     "tap 9 is outside the 9 taps of the set_conv kernel"),
    ({6: I("matmul", switch=1, conv=1, ub=98280, length=32)}, 6,
     "Unified Buffer rows [98280, 98312) are outside"),
    ({5: I("nop")}, 6, "a convolution (conv=1) needs an earlier set_conv"),
    ({5: I("nop"), 6: I("matmul", switch=1, length=32)}, 9, "pool needs an earlier set_conv"),
    ({7: I("matmul", switch=1, acc=4090, length=32)}, 7,
     "accumulator rows [4090, 4122) are outside the 4096 accumulator rows"),
    ({8: I("activate", rows=32, table=0, lanes=0)}, 8, "lanes 0 is outside 1..256"),
    ({8: I("activate", rows=32, table=0, column=250, lanes=10)}, 8,
     "lanes [250, 260) do not fit a 256-lane row"),
    ({8: I("activate", function=5, rows=32, lanes=3)}, 8, "function 5 is outside 0..4"),
    ({8: I("activate", src_ub=1, src=98300, rows=32, lanes=3)}, 8,
     "Unified Buffer rows [98300, 98332)"),
    ({9: I("pool", sum=1, src=100, dst=4090, length=32)}, 9, "accumulator rows [4090, 4122)"),
    ({10: I("add", src_a=100, src_b=98300, ub=300, rows=32)}, 10,
     "Unified Buffer rows [98300, 98332)"),
    ({14: I("nop")}, 14, "the program must end with 'halt'"),
    ({3: I("load_table", slot=8, dram=TILES)}, 3,
     "slot 8 is outside 0..7 (activation.table_slots = 8)"),
    ({8: I("activate", rows=32, table=255, lanes=3)}, 8,
     "table 255 is outside 0..7 (activation.table_slots = 8)"),
    ({10: I("add", src_a=100, src_b=200, ub=300, rows=32, table=8)}, 10,
     "table 8 is outside 0..7"),
]


@pytest.mark.parametrize(("changes", "index", "detail"), BAD)
def test_out_of_range_instructions(changes, index, detail):
    program = with_changes(changes)
    op = program.instructions[index].op
    byte = sum(ins.defn.size for ins in program.instructions[:index])
    where = f"instruction {index} ('{op}' at byte {byte}): "
    assert f"error: m.tpu: INSTRUCTIONS section: {where}{detail}" in \
        load_error(serialize(program, validate=False))
    with pytest.raises(ProgramError) as info:
        serialize(program)
    assert info.value.index == index and where + detail in info.value.message


def test_empty_program():
    program = Program([], b"", [], [], "tpu-v1")
    assert "the program has no instructions (it must end with 'halt')" in \
        load_error(serialize(program, validate=False))


def test_memory_sizes_come_from_the_target():
    tpu = load_target("tpu-v1")
    validate_program(sample_program())
    with pytest.raises(ProgramError, match=r"rows \[300, 332\) are outside the 320-row"):
        validate_program(sample_program(), tpu.updated({"unified_buffer.rows": 320}))
    # the loader checks against the target the binary carries
    small = tpu.updated({"name": "small", "accumulators.rows": 16})
    program = sample_program()
    program.target, program.target_desc = "small", small
    data = serialize(program, validate=False)
    assert "instruction 6 ('matmul' at byte 68): accumulator rows [0, 32) are outside " \
        "the 16 accumulator rows" in load_error(data)
    loaded = load_binary(serialize(sample_program(), validate=False))
    assert loaded.target_desc == tpu
    with pytest.raises(QccError, match=r"m\.tpu \(compiled for 'tpu-v1'\) does not fit "
                                       r"target 'small': instruction 6"):
        check_fits(loaded, small, "m.tpu")
    check_fits(loaded, load_target("tpu-v1-hbm"), "m.tpu")


def test_table_slots_come_from_the_target():
    """The slot fields are bounded by the target's activation.table_slots (default
    8, left out of the TARGET section while it is the default, so that binaries
    written before the key existed keep their bytes and load)."""
    tpu = load_target("tpu-v1")
    assert tpu.activation.table_slots == 8 and b"activation" not in DATA
    program = with_changes({4: I("load_table", slot=11, dram=TILES + RECORD_BYTES),
                            10: I("add", src_a=100, src_b=200, ub=300, rows=32, table=11)})
    with pytest.raises(ProgramError, match=r"slot 11 is outside 0\.\.7 \(activation"):
        validate_program(program)
    wide = tpu.updated({"name": "wide", "activation.table_slots": 12})
    validate_program(program, wide)
    program.target, program.target_desc = "wide", wide
    data = serialize(program)
    assert b'"activation":{"table_slots":12}' in data
    assert load_binary(data).target_desc == wide
    with pytest.raises(QccError, match=r"does not fit target 'tpu-v1': instruction 4 "
                                       r"\('load_table' at byte 36\): slot 11"):
        check_fits(load_binary(data), tpu, "m.tpu")


def test_weight_memory_and_fifo_depth_come_from_the_target():
    tpu = load_target("tpu-v1")
    program = sample_program()
    with pytest.raises(ProgramError, match="the 136256-byte weight image does not fit the "
                                           "100000-byte weight memory"):
        validate_program(program, tpu.updated({"weight_memory.capacity_bytes": 100_000}))
    with pytest.raises(ProgramError, match=r"2 tile\(s\) would fill the weight FIFO to 2 "
                                           r"tiles; it holds 1 \(weights\.fifo_depth\)"):
        validate_program(program, tpu.updated({"weights.fifo_depth": 1}))
    # the FIFO drains as matmuls switch tiles in (instructions 6 and 7): two more
    # tiles fit a 2-deep FIFO after both, not between them
    two = tpu.updated({"weights.fifo_depth": 2})
    more = [I("read_weights", dram=0, count=2), I("matmul", switch=1, ub=0, acc=0, length=32)]
    early = sample_program()
    early.instructions[7:7] = more
    with pytest.raises(ProgramError, match="would fill the weight FIFO to 3 tiles"):
        validate_program(early, two)
    late = sample_program()
    late.instructions[8:8] = more
    validate_program(late, two)


def test_the_target_section():
    """The binary carries every number of its target; a damaged description is a
    clean error naming the section and the key."""
    tpu = load_target("tpu-v1")
    huge = tpu.updated({"name": "huge", "unified_buffer.rows": 1 << 20,
                        "array.clock_hz": 1.4e9})
    program = sample_program()
    program.target, program.target_desc = "huge", huge
    loaded = load_binary(serialize(program))
    assert loaded.target == "huge" and loaded.target_desc == huge
    assert serialize(loaded) == serialize(program)
    raw = encode_target(tpu)
    for payload, message in [
        (b"\xff", "not ASCII JSON"),
        (b"[1]", "expected a table of target keys, got an array"),
        (raw.replace(b'"rows":4096', b'"rows":1'),
         "key 'accumulators.rows' = 1: must be at least 2"),
        (raw.replace(b'"clock_hz":700000000.0', b'"clock_hz":NaN'),
         "key 'array.clock_hz' = nan: must be a finite number"),
        (raw.replace(b'"clock_hz":700000000.0', b'"clock_hz":1e-300'),
         "key 'array.clock_hz' = 1e-300: must be at least 1000"),
        (raw.replace(b'"bytes_per_lane":4,', b''), "missing key 'accumulators.bytes_per_lane'"),
        (raw.replace(b'"what_if":false', b'"what_if":false,"x":1'), "unknown key 'x'"),
        (raw.replace(b'"clock_hz":700000000.0', b'"clock_hz":700000000'),
         "not in canonical form"),
        (raw.replace(b'{"accumulators"', b'{ "accumulators"'), "not in canonical form"),
    ]:
        assert f"error: m.tpu: TARGET section: {message}" in \
            load_error(container(target=payload)), message


def test_program_and_target_names_agree():
    program = sample_program()
    program.target_desc = load_target("tpu-v1-hbm")
    with pytest.raises(QccError, match="the program names target 'tpu-v1' but carries the "
                                       "description of 'tpu-v1-hbm'"):
        serialize(program)
    program = sample_program()
    program.target = "mine"
    with pytest.raises(QccError, match="unknown target 'mine'"):
        serialize(program)


def test_serialize_rejects_unencodable_programs():
    program = sample_program()
    program.inputs[0] = TensorDesc("x", (2, 3, 4, 4), "f16", 1.0, 0, 0)
    with pytest.raises(QccError, match="input 0 \\('x'\\): dtype 'f16' is not one of i8, u8"):
        serialize(program, validate=False)
    program = sample_program()
    program.manifest["n"] = 3  # type: ignore[assignment]
    with pytest.raises(QccError, match="manifest entry 'n': keys and values must be strings"):
        serialize(program)


# ---------------------------------------------------------------------- fuzzing
def small_program() -> Program:
    table = ActivateTable(0, 0, -128, 127, False, np.zeros(256), np.full(256, 1 << 30),
                          np.zeros(256))
    return sample_program(table.encode(), [
        I("read_host", rows=32, row_bytes=3, host_stride=3), I("load_table"),
        I("activate", rows=32, lanes=3), I("sync", kind=1),
        I("write_host", host=HOST_IN, rows=2, row_bytes=10, host_stride=10), I("halt")])


SMALL = serialize(small_program())
HEAD_BITS = 8 * (HEADER.size + 4 * ENTRY.size)
bit_positions = st.one_of(st.integers(0, HEAD_BITS - 1), st.integers(0, 8 * len(SMALL) - 1))


def flip(data: bytes, bits: list[int]) -> bytearray:
    buf = bytearray(data)
    for bit in bits:
        buf[bit // 8] ^= 1 << (bit % 8)
    return buf


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bit_positions, max_size=3), st.integers(0, len(SMALL)))
def test_corrupted_binaries_raise_qcc_error(bits, cut):
    data = bytes(flip(SMALL, bits)[:cut])
    if data == SMALL:
        assert serialize(load_binary(data)) == SMALL
    else:
        with pytest.raises(QccError):
            load_binary(data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bit_positions.filter(lambda b: b < 8 * (len(SMALL) - 32)), min_size=1,
                max_size=2))
def test_resealed_corruption_loads_canonically_or_raises_qcc_error(bits):
    """With a valid checksum, the structure checks alone must catch the damage; a
    file that still loads is canonical (it serializes back to itself)."""
    data = reseal(flip(SMALL, bits))
    try:
        loaded = read_binary(data)
    except QccError:
        return
    if loaded.qcc_version == "0.1.0":
        assert serialize(loaded.program, validate=False) == data
