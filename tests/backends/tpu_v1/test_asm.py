"""TPU assembly: disassembly and assembly round-trip binaries byte for byte (hand
written, compiled and random programs), every assembler error has its
file:line:col message, and docs/isa.md is what the ISA table generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcc
from qcc.backends.tpu_v1.asm import assemble, disassemble
from qcc.backends.tpu_v1.binary import serialize
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.isa import ISA, Instruction
from qcc.backends.tpu_v1.isadoc import isa_markdown
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.backends.tpu_v1.tables import ActivateTable
from qcc.backends.tpu_v1.target import Target, list_targets, load_target
from qcc.diagnostics import QccError
from qcc.testing import models

ROOT = Path(__file__).resolve().parents[3]
TABLE = ActivateTable(0, 0, -128, 127, False, np.arange(256), np.full(256, 1 << 30),
                      np.full(256, 2)).encode()

HAND_WRITTEN = f"""\
; a hand-written program: comments, blank lines, omitted fields, hex values
.target "tpu-v1"
.manifest model="hand written"   # a comment after a directive
.manifest "key with spaces"="caf\\u00e9 \\"quoted\\""
.input name="x" shape=[2,3,4,4] dtype=i8 scale=0.0039215686274509803 zero_point=-128 host=0
.output name="y" shape=[2,10] dtype=u8 scale=1e-05 zero_point=7 host=96

read_host rows=32 row_bytes=3 host_stride=3
sync                                  ; kind=0 by default
load_table slot=0 dram=0x10000
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 \
dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 taps_per_row=1
read_weights count=1
matmul switch=1 conv=1 tap=4 length=32
activate rows=32 ub=100 lanes=3
pool src=100 dst=200 length=32
add src_a=100 src_b=200 ub=300 rows=32
nop
sync kind=1
write_host host=96 ub=300 rows=2 row_bytes=10 host_stride=10
halt

.weights {65536 + len(TABLE)}
00000000: 0102030405060708
00000100: ff
00010000: {TABLE[:64].hex()}
{"".join(f"{0x10000 + o:08x}: {TABLE[o:o + 64].hex()}" + chr(10)
         for o in range(64, len(TABLE), 64))}"""


def round_trip(data: bytes) -> str:
    """asm(disasm(b)) == b, and the text is a fixed point."""
    text = disassemble(data, "m.tpu")
    again = serialize(assemble(text, "m.s"))
    assert again == data
    assert disassemble(again) == text
    return text


def test_hand_written_program_round_trips():
    program = assemble(HAND_WRITTEN, "hand.s")
    assert program.manifest == {"model": "hand written", "key with spaces": 'caf\u00e9 "quoted"'}
    assert program.instructions[2] == Instruction("load_table", slot=0, dram=65536)
    assert program.weights[:9] == bytes(range(1, 9)) + b"\0"
    assert program.weights[256] == 0xFF and program.weights[65536:] == TABLE
    assert program.outputs[0].scale == 1e-05
    text = round_trip(serialize(program))
    assert "\nmatmul accumulate=0 switch=1 conv=1 unsigned=0 tap=4 ub=0 acc=0 length=32\n" \
        in text
    assert '\n.manifest "key with spaces"="caf\\u00e9 \\"quoted\\""\n' in text


def test_disassembly_golden():
    program = Program([Instruction("sync", kind=1), Instruction("halt")], bytes(64) + b"\x7f",
                      [TensorDesc("in", (1, 8), "i8", 0.1, -1, 0)],
                      [TensorDesc("out", (1, 2), "u8", 2.5, 0, 8)], "tpu-v1",
                      {"b": "2", "a": "1"})
    assert disassemble(program) == """\
; TPU program: 2 instructions, 65 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest a="1"
.manifest b="2"
.input name="in" shape=[1,8] dtype=i8 scale=0.1 zero_point=-1 host=0
.output name="out" shape=[1,2] dtype=u8 scale=2.5 zero_point=0 host=8

sync kind=1
halt

.weights 65
00000040: 7f
"""


def test_compiled_model_round_trips():
    module = qcc.import_onnx(models.mlp(seed=1), batch=2)
    rng = np.random.default_rng(0)
    calib = [{"input": rng.standard_normal((2, 1, 8, 8)).astype(np.float32)}]
    qcc.quantize_model(module, calib_data=calib)
    program = lower(module)
    program.manifest = {"pipeline": "test"}
    text = round_trip(serialize(program))
    assert text.count("\nmatmul ") >= 3


# ---------------------------------------------------------------------- random programs
def instructions() -> st.SearchStrategy[Instruction]:
    def build(defn):
        return st.fixed_dictionaries({f.name: st.integers(0, f.max) for f in defn.operands}
                                     ).map(lambda args: Instruction(defn.mnemonic, **args))
    return st.one_of([build(d) for d in ISA])


texts = st.text(st.characters(codec="utf-8"), max_size=12)
descs = st.sampled_from([("i8", -128, 127), ("u8", 0, 255)]).flatmap(
    lambda dtype: st.builds(
        TensorDesc, texts.filter(bool),
        st.lists(st.integers(1, 2 ** 64 - 1), min_size=2, max_size=5).map(tuple),
        st.just(dtype[0]), st.floats(0, exclude_min=True, allow_infinity=False),
        st.integers(dtype[1], dtype[2]), st.integers(0, 2 ** 64 - 1)))
weights = st.lists(st.sampled_from([bytes(64), bytes(range(64)), b"\x80", b"\0\x01\0"]),
                   max_size=6).map(b"".join)


def unique(items: list[TensorDesc]) -> list[TensorDesc]:
    return list({d.name: d for d in items}.values())


def _user_target(name: str, ub_rows: int, clock_hz: float, what_if: bool) -> Target:
    return load_target("tpu-v1").updated({"name": name, "unified_buffer.rows": ub_rows,
                                          "array.clock_hz": clock_hz, "what_if": what_if})


# a shipped target, or a user's description with any name (carried in full)
targets = st.one_of(
    st.sampled_from(list_targets()).map(load_target),
    st.builds(_user_target, texts.filter(lambda s: s and s.isprintable()),
              st.integers(1, 1 << 24), st.floats(1e3, 1e12), st.booleans()))


def _program(instructions, weights, inputs, outputs, manifest, target) -> Program:
    return Program(instructions, weights, inputs, outputs, target.name, manifest,
                   target_desc=target)


programs = st.builds(_program, st.lists(instructions(), max_size=12), weights,
                     st.lists(descs, max_size=2).map(unique),
                     st.lists(descs, max_size=2).map(unique),
                     st.dictionaries(texts, texts, max_size=3), targets)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_random_programs_round_trip(program):
    """Every field at its full width, any names and floats: the text keeps it all
    (validation is off: random addresses do not fit the memories)."""
    data = serialize(program, validate=False)
    text = disassemble(program)
    assert serialize(assemble(text, "r.s", validate=False), validate=False) == data


# ---------------------------------------------------------------------- errors
T = '.target "tpu-v1"\n'
IO = 'name="x" shape=[1,8] dtype=i8 scale=1.0 zero_point=0 host=0'
ERRORS = [
    (T + "halt\nmatmull ub=1\n", "3:1", "unknown mnemonic 'matmull' (known: nop, halt, sync, "
     "read_host, write_host, host_call, read_weights, matmul, activate, load_table, "
     "set_conv, pool, add)"),
    (T + "matmul ub=1 acc=2 lenght=3\nhalt\n", "2:19", "'matmul' has no field 'lenght' "
     "(fields: accumulate, switch, conv, unsigned, tap, ub, acc, length)"),
    (T + "halt _pad0=1\n", "2:6", "'halt' has no field '_pad0' (fields: none)"),
    (T + "sync kind=1 kind=0\nhalt", "2:13", "field 'kind' given twice"),
    (T + "sync kind=256\nhalt", "2:11", "value 256 of field 'kind' does not fit in 8 bits "
     "(0..255)"),
    (T + "sync kind=-1\nhalt", "2:11", "value -1 of field 'kind' does not fit in 8 bits "
     "(0..255)"),
    (T + "matmul length=0x100000000\nhalt", "2:15", "value 4294967296 of field 'length' does "
     "not fit in 32 bits (0..4294967295)"),
    (T + "sync kind=1.5\nhalt", "2:11", "field 'kind' needs an integer"),
    ('.targte "tpu-v1"\nhalt\n', "1:1", "unknown directive '.targte' (known: .host_tensor, "
     ".input, .layer, .macs, .manifest, .output, .segment, .target, .target_table, "
     ".weights)"),
    ("halt\n", "1:1", "missing '.target' directive (e.g. .target \"tpu-v1\")"),
    (T + '.target "x"\nhalt\n', "2:1", "a second '.target' directive"),
    (".target tpu\nhalt\n", "1:9", "'.target' needs a string in double quotes"),
    (T + '.input name="x" shape=[1,8] dtype=i8\nhalt\n', "2:1",
     "'.input' needs scale=, zero_point=, host="),
    (T + f".input {IO} size=3\nhalt\n", "2:68", "'.input' has no attribute 'size' "
     "(attributes: name, shape, dtype, scale, zero_point, host)"),
    (T + f".input {IO.replace('i8', 'f16')}\nhalt\n", "2:1",
     "input 'x': dtype 'f16' is not one of i8, u8 (quantized) or f32, i64, i32, i1 (kept "
     "by the host)"),
    (T + f".output {IO.replace('i8', 'f32')}\nhalt\n", "2:1",
     "output 'x': dtype 'f32': an output is quantized (i8, u8); only inputs are kept by "
     "the host as given"),
    (T + f".input {IO.replace('[1,8]', '8')}\nhalt\n", "2:23",
     "'shape' needs a list of integers, e.g. [1,1,8,8]"),
    (T + f".output {IO}\n.output {IO}\nhalt\n", "3:1",
     "output 'x': the name 'x' is used by an earlier output"),
    (T + '.input name="x" name="y"\nhalt\n', "2:17", "'name' given twice"),
    (T + '.manifest a="\\q"\nhalt\n', "2:13",
     "invalid escape in string (use JSON escapes: \\\" \\\\ \\n \\uXXXX)"),
    (T + '.manifest a="1"\n.manifest a="2"\nhalt\n', "3:11", "manifest key 'a' given twice"),
    (T + "00000000: 00\nhalt\n", "2:1", "weight data before the '.weights SIZE' directive"),
    (T + ".weights 8\n00000004: 0000\n00000002: 00\nhalt\n", "4:1",
     "weight data at 0x2 overlaps or precedes the previous line (which ends at 0x6)"),
    (T + ".weights 8\n00000004: 0000000000\nhalt\n", "3:1",
     "weight data [0x4, 0x9) is outside the 8-byte weight image"),
    (T + ".weights 8\n00000000: 000\nhalt\n", "3:11", "odd number of hex digits in weight data"),
    (T + ".weights 8\n.weights 8\nhalt\n", "3:1", "a second '.weights' directive"),
    (T + "sync kind=1 =\nhalt\n", "2:13", "unexpected '=' (expected a name, end of line)"),
    (T + "sync kind\nhalt\n", "2:10", "unexpected end of line (expected '=')"),
    (T + "sync kind=1 @\nhalt\n", "2:13", "unexpected character '@'"),
    (T + "read_host rows=1 row_bytes=8\nhalt\n", "2:1",
     "host bytes [0, 8) are outside the 0-byte host buffer space"),
    (T + "nop\nread_weights count=1\nhalt\n", "3:1", "reading 1 weight tile(s) needs weight "
     "memory bytes [0, 65536), outside the 0-byte weight image (WEIGHTS section)"),
    (T + "sync\n", "2:1", "the program must end with 'halt'"),
    (T, "1:17", "the program has no instructions (it must end with 'halt')"),
]


@pytest.mark.parametrize(("text", "where", "message"), ERRORS)
def test_assembler_errors(text, where, message):
    with pytest.raises(QccError) as info:
        assemble(text, "t.s")
    assert info.value.format().split("\n")[0] == f"t.s:{where}: error: {message}"


def test_error_shows_the_line_and_a_caret():
    with pytest.raises(QccError) as info:
        assemble(T + "halt\r\nsync kind=999\r\n", "t.s")
    assert info.value.format() == """\
t.s:3:11: error: value 999 of field 'kind' does not fit in 8 bits (0..255)
  sync kind=999
            ^"""


def _inline_target(**changes) -> str:
    """The `.target` lines of a user target (tpu-v1 with ``changes``, dotted keys)."""
    target = load_target("tpu-v1").updated({"name": "big", **changes})
    program = Program([Instruction("halt")], b"", [], [], "big", target_desc=target)
    return "".join(ln + "\n" for ln in disassemble(program).splitlines()
                   if ln.startswith(".target"))


def test_validation_limits_come_from_the_target():
    body = "matmul acc=4000 length=200\nhalt\n"
    with pytest.raises(QccError, match="accumulator rows \\[4000, 4200\\)"):
        assemble(T + body)
    program = assemble(_inline_target(**{"accumulators.rows": 8192}) + body)
    assert program.target == "big" and program.target_desc.accumulators.rows == 8192
    assert len(assemble(T + "sync\n", validate=False).instructions) == 1


def test_table_slots_of_an_inline_target():
    """activation.table_slots is written only when it is not the default 8, and
    bounds the slot fields."""
    body = "load_table slot=10\nhalt\n"
    assert ".target_table activation" not in _inline_target(**{"array.clock_hz": 1.5e9})
    with pytest.raises(QccError, match=r"slot 10 is outside 0\.\.7 \(activation"):
        assemble(T + body, validate=True)
    lines = _inline_target(**{"activation.table_slots": 16})
    assert ".target_table activation table_slots=16\n" in lines
    program = assemble(lines + "halt\n")
    assert program.target_desc.activation.table_slots == 16
    assert serialize(assemble(disassemble(program))) == serialize(program)


def test_inline_target_round_trips_and_is_checked_like_a_file():
    lines = _inline_target(**{"array.clock_hz": 1.5e9})
    assert lines.startswith('.target "big" description=') and \
        ".target_table array rows=256 cols=256 clock_hz=1500000000.0\n" in lines
    program = assemble(lines + "halt\n")
    assert program.target_desc == load_target("tpu-v1").updated(
        {"name": "big", "array.clock_hz": 1.5e9})
    assert serialize(assemble(disassemble(program))) == serialize(program)
    # a shipped target as shipped is written by name only
    assert _target_lines_of(load_target("tpu-v1-hbm")) == ['.target "tpu-v1-hbm"']
    # errors point at the key
    bad = lines.replace("clock_hz=1500000000.0", "clock_hz=1e-300")
    with pytest.raises(QccError) as info:
        assemble(bad + "halt\n", "t.s")
    assert info.value.loc.line == 2 and info.value.loc.col == \
        bad.splitlines()[1].index("clock_hz") + 1
    assert "key 'array.clock_hz' = 1e-300: must be at least 1000" in info.value.message
    missing = "\n".join(ln for ln in lines.splitlines() if "[power]" not in ln and
                        not ln.startswith(".target_table power")) + "\nhalt\n"
    with pytest.raises(QccError, match="missing key 'power'"):
        assemble(missing)
    with pytest.raises(QccError, match=r"'\.target' has no attribute 'colour'"):
        assemble('.target "x" colour=1\nhalt\n')
    with pytest.raises(QccError, match=r"'array\.rows' needs a number, a string, true "
                                       r"or false"):
        assemble(lines.replace("rows=256 cols", "rows=[1] cols", 1) + "halt\n")
    with pytest.raises(QccError, match=r"a second '\.target_table array'"):
        assemble(lines + ".target_table array rows=256\nhalt\n")
    with pytest.raises(QccError, match=r"'\.target_table' before the '\.target'"):
        assemble(".target_table array rows=256\n" + T + "halt\n")
    with pytest.raises(QccError, match="unknown target 'huge'") as info:
        assemble('.target "huge"\nhalt\n', "t.s")
    assert (info.value.loc.line, info.value.loc.col) == (1, 9)


def _target_lines_of(target: Target) -> list[str]:
    program = Program([Instruction("halt")], b"", [], [], target.name, target_desc=target)
    return [ln for ln in disassemble(program).splitlines() if ln.startswith(".target")]


# ---------------------------------------------------------------------- docs/isa.md
def test_isa_doc_is_generated_from_the_table():
    doc = (ROOT / "docs" / "isa.md").read_text()
    assert doc == isa_markdown(), ("docs/isa.md is stale: run "
                                   "'python -m qcc.backends.tpu_v1.isadoc > docs/isa.md'")
    for defn in ISA:
        assert f"## `{defn.mnemonic}`" in doc and defn.doc in doc
        assert all(f"| `{f.name}` | {f.bits} |" in doc for f in defn.fields)


def test_isa_doc_example_assembles():
    doc = (ROOT / "docs" / "isa.md").read_text()
    example = doc.split("## Assembly")[1].split("```")[1]
    program = assemble(example, "isa.md")
    assert [i.op for i in program.instructions] == ["read_host", "sync", "halt"]
    assert program.weights[64:72] == bytes(range(1, 9))


def test_isa_doc_module_prints_the_doc():
    out = subprocess.run([sys.executable, "-m", "qcc.backends.tpu_v1.isadoc"],
                         capture_output=True, text=True, check=True).stdout
    assert out == isa_markdown()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1299), st.sampled_from(
    ["", "a", "x", "0", "9", " ", "=", ".", ",", "[", "]", '"', "\\", ";", "\n", ":", "-",
     "e", "_", "\t", "\r", "@", "\u00e9"]), st.booleans()), min_size=1, max_size=3))
def test_mangled_assembly_fails_only_with_qcc_error(edits):
    """Random insertions, deletions and replacements: a QccError, never a crash."""
    text = list(HAND_WRITTEN[:1300])
    for pos, char, insert in edits:
        text[pos:pos + (0 if insert else 1)] = [char]
    try:
        assemble("".join(text), "f.s")
    except QccError as e:
        assert e.format().startswith("f.s:")
