"""qcc disasm / qcc asm: a binary survives disassembly and assembly through files
byte for byte; bad input exits 2 with a message and writes no output file."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcc.backends.tpu_v1.binary import serialize
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.cli import main


def qcc(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    program = Program(
        [Instruction("read_host", rows=2, row_bytes=8, host_stride=8),
         Instruction("sync"), Instruction("load_table", slot=3, dram=0),
         Instruction("activate", src_ub=1, ub=4, rows=2, table=3, lanes=8),
         Instruction("write_host", host=16, ub=4, rows=2, row_bytes=8, host_stride=8),
         Instruction("halt")],
        bytes(range(256)) * 11, [TensorDesc("x", (2, 8), "i8", 0.5, 0, 0)],
        [TensorDesc("y", (2, 8), "i8", 0.25, -3, 16)], "tpu-v1", {"model_sha256": "00ff"})
    path = tmp_path / "m.tpu"
    path.write_bytes(serialize(program))
    return path


def test_disasm_then_asm_gives_the_same_bytes(capsys, tmp_path, binary):
    code, out, err = qcc(capsys, "disasm", str(binary), "-o", str(tmp_path / "m.s"))
    assert (code, out, err) == (0, "", "")
    text = (tmp_path / "m.s").read_text()
    assert '.manifest model_sha256="00ff"' in text and "\nhalt\n" in text
    code, out, _ = qcc(capsys, "disasm", str(binary))
    assert code == 0 and out == text
    code, _, err = qcc(capsys, "asm", str(tmp_path / "m.s"), "-o", str(tmp_path / "b.tpu"))
    assert (code, err) == (0, "")
    assert (tmp_path / "b.tpu").read_bytes() == binary.read_bytes()


def test_disasm_of_a_corrupt_binary(capsys, tmp_path, binary):
    data = bytearray(binary.read_bytes())
    data[100] ^= 1
    binary.write_bytes(data)
    out_file = tmp_path / "m.s"
    code, out, err = qcc(capsys, "disasm", str(binary), "-o", str(out_file))
    assert code == 2 and out == ""
    assert err == f"error: {binary}: checksum mismatch: the SHA-256 at byte {len(data) - 32} " \
                  "does not match the contents (the file is corrupted)\n"
    assert not out_file.exists()


def test_disasm_of_a_missing_or_foreign_file(capsys, tmp_path):
    code, _, err = qcc(capsys, "disasm", str(tmp_path / "nope.tpu"))
    assert code == 2 and "nope.tpu: cannot read: No such file or directory" in err
    other = tmp_path / "x.onnx"
    other.write_bytes(b"\x08\x07" + bytes(40))
    code, _, err = qcc(capsys, "disasm", str(other))
    assert code == 2 and "bad magic b'\\x08\\x07\\x00\\x00' at byte 0" in err


def test_asm_error_exits_2_and_leaves_the_output_alone(capsys, tmp_path):
    source = tmp_path / "bad.s"
    source.write_text('.target "tpu-v1"\nsync kind=1\nmatmull ub=0\nhalt\n')
    out_file = tmp_path / "out.tpu"
    out_file.write_bytes(b"old")
    code, out, err = qcc(capsys, "asm", str(source), "-o", str(out_file))
    assert code == 2 and out == ""
    assert err.startswith(f"{source}:3:1: error: unknown mnemonic 'matmull' (known: nop, ")
    assert err.endswith("\n  matmull ub=0\n  ^\n")
    assert out_file.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.s", "out.tpu"]  # no temp


def test_asm_validation_error_names_the_line(capsys, tmp_path):
    source = tmp_path / "v.s"
    source.write_text('.target "tpu-v1"\nread_host rows=4 row_bytes=8 host_stride=8\nhalt\n')
    code, _, err = qcc(capsys, "asm", str(source), "-o", str(tmp_path / "v.tpu"))
    assert code == 2
    assert err.splitlines()[0] == (f"{source}:2:1: error: host bytes [0, 32) are outside the "
                                   "0-byte host buffer space")
    assert not (tmp_path / "v.tpu").exists()


def test_asm_usage_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["asm", str(tmp_path / "x.s")])
    assert info.value.code == 2
    assert "the following arguments are required: -o/--output" in capsys.readouterr().err
    code, _, err = qcc(capsys, "asm", str(tmp_path / "x.s"), "-o", str(tmp_path / "x.tpu"))
    assert code == 2 and "x.s: cannot read: No such file or directory" in err
    latin = tmp_path / "l.s"
    latin.write_bytes(b"; caf\xe9\n")
    code, _, err = qcc(capsys, "asm", str(latin), "-o", str(tmp_path / "x.tpu"))
    assert code == 2 and "l.s: not UTF-8 text: invalid continuation byte at byte 5" in err
