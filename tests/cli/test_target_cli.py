"""Target descriptions through the CLI: a bad target file is exit 2 naming the file and
the key; a program compiled for a user's target file carries it, so `qcc run` needs
no flag; `--target` times the program on another target after checking it fits."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from qcc.backends.tpu_v1.binary import CHECKSUM_BYTES, load_binary
from qcc.backends.tpu_v1.target import load_target
from qcc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
TARGETS = ROOT / "backends" / "tpu_v1" / "targets"

#: a user target whose name no qcc ships: twice the clock and the Unified Buffer
HUGE = """inherits = "tpu-v1"
name = "huge"
description = "tpu-v1 at 1.4 GHz with a 48 MiB Unified Buffer"
what_if = true
[array]
clock_hz = 1.4e9
[unified_buffer]
rows = 196608
"""


def qcc_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "x.npy"
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        np.save(path, z["input"][:1])
    return path


@pytest.fixture(scope="module")
def huge_program(tmp_path_factory) -> Path:
    """digits_mlp compiled for HUGE; the target file is deleted afterwards, so only
    the binary knows the target."""
    import contextlib
    import io

    work = tmp_path_factory.mktemp("huge")
    toml = work / "huge.toml"
    toml.write_text(HUGE)
    out = work / "a.tpu"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["compile", MODEL, "--calib-data", CALIB, "--target", str(toml),
                     "-o", str(out)]) == 0
    toml.unlink()
    return out


def _latency(stdout: str) -> float:
    return float(re.search(r"^latency ([\d.]+) us", stdout, re.M)[1])


def test_run_uses_the_target_the_binary_carries(capsys, huge_program, images):
    program = load_binary(huge_program.read_bytes())
    assert program.target == "huge"
    assert program.target_desc == load_target("tpu-v1").updated(
        {"name": "huge", "description": "tpu-v1 at 1.4 GHz with a 48 MiB Unified Buffer",
         "what_if": True, "array.clock_hz": 1.4e9, "unified_buffer.rows": 196608})
    code, out, err = qcc_cli(capsys, "run", str(huge_program), "--input", str(images),
                             "--stats")
    assert code == 0, err
    assert "target huge, batch 1" in out and "logits argmax:" in out
    # --target NAME and --target FILE time the same program elsewhere: the same
    # outputs, slower at 700 MHz and at 350 MHz than at 1.4 GHz
    code, tpu_out, err = qcc_cli(capsys, "run", str(huge_program), "--input", str(images),
                                 "--stats", "--target", "tpu-v1")
    assert code == 0, err
    assert "target tpu-v1, batch 1" in tpu_out
    assert _latency(tpu_out) > 1.05 * _latency(out)
    outputs = out.split("target huge")[0]
    assert tpu_out.split("target tpu-v1")[0] == outputs
    slow = huge_program.parent / "slow.toml"
    slow.write_text('inherits = "tpu-v1"\nname = "slow"\n[array]\nclock_hz = 350e6\n')
    code, slow_out, err = qcc_cli(capsys, "run", str(huge_program), "--input", str(images),
                                  "--stats", "--target", str(slow))
    assert code == 0, err
    assert "target slow, batch 1" in slow_out and slow_out.split("target slow")[0] == outputs
    assert _latency(slow_out) > 1.05 * _latency(tpu_out)


def test_run_on_a_target_the_program_does_not_fit(capsys, huge_program, images, tmp_path):
    small = tmp_path / "small.toml"
    small.write_text('inherits = "tpu-v1"\nname = "small"\n[accumulators]\nrows = 8\n')
    code, out, err = qcc_cli(capsys, "run", str(huge_program), "--input", str(images),
                             "--stats", "--target", str(small))
    assert code == 2 and out == ""
    assert f"error: {huge_program} (compiled for 'huge') does not fit target 'small': " \
        "instruction" in err and "outside the 8 accumulator rows" in err


def test_disasm_asm_round_trip_keeps_a_user_target(capsys, huge_program, tmp_path):
    text = tmp_path / "a.s"
    assert qcc_cli(capsys, "disasm", str(huge_program), "-o", str(text))[0] == 0
    assert '\n.target "huge" description="tpu-v1 at 1.4 GHz with a 48 MiB Unified Buffer" ' \
        "what_if=true\n.target_table array rows=256 cols=256 clock_hz=1400000000.0\n" \
        ".target_table unified_buffer rows=196608 row_bytes=256\n" in text.read_text()
    again = tmp_path / "b.tpu"
    assert qcc_cli(capsys, "asm", str(text), "-o", str(again))[0] == 0
    assert again.read_bytes() == huge_program.read_bytes()


def test_a_corrupted_target_section_is_a_clean_error(capsys, huge_program, tmp_path):
    data = huge_program.read_bytes()
    assert data.count(b'"bytes_per_lane":4') == 1
    body = data[:-CHECKSUM_BYTES].replace(b'"bytes_per_lane":4', b'"bytes_per_lane":8')
    bad = tmp_path / "bad.tpu"
    bad.write_bytes(body + hashlib.sha256(body).digest())
    code, out, err = qcc_cli(capsys, "run", str(bad), "--random-input", "0")
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bad}: TARGET section: key 'accumulators.bytes_per_lane' "
                          "= 8: must be 4 (only 32-bit accumulators are modelled")
    assert "Traceback" not in err


def _user_file(tmp_path: Path, old: str, new: str) -> Path:
    text = (TARGETS / "tpu-v1.toml").read_text()
    assert old in text
    path = tmp_path / "my.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("rows = 4096", "rows = 1", "key 'accumulators.rows' = 1: must be at least 2"),
    ("clock_hz = 700e6", "clock_hz = 1e-300", "key 'array.clock_hz' = 1e-300: must be at "
                                              "least 1000"),
    ("clock_hz = 700e6", "clock_hz = nan", "key 'array.clock_hz' = nan: must be a finite "
                                           "number"),
    ("bytes_per_lane = 4", "bytes_per_lane = 8", "key 'accumulators.bytes_per_lane' = 8: "
                                                 "must be 4"),
    ("clock_hz = 700e6", "", "missing key 'array.clock_hz'"),
    ("fifo_depth = 4", 'fifo_depth = "4"', "key 'weights.fifo_depth': expected an integer, "
                                           "got a string"),
    ("fifo_depth = 4", "fifo_depth = 4\ndepth = 2", "unknown key [weights] 'depth'"),
    ('name = "tpu-v1"', 'inherits = "tpu-v9"\nname = "x"', "key 'inherits' = 'tpu-v9': "
                                                           "unknown target 'tpu-v9'"),
])
def test_compile_with_a_bad_target_file(capsys, tmp_path, old, new, message):
    path = _user_file(tmp_path, old, new)
    out = tmp_path / "a.tpu"
    code, _, err = qcc_cli(capsys, "compile", MODEL, "--calib-data", CALIB, "--target",
                           str(path), "-o", str(out))
    assert code == 2 and not out.exists()
    assert err.startswith(f"error: {path}") and message in err, err
    assert "Traceback" not in err


def test_compile_with_a_target_file_that_is_not_toml(capsys, tmp_path):
    path = tmp_path / "my.toml"
    path.write_bytes(b'name = "x"\n# caf\xe9\n')
    code, _, err = qcc_cli(capsys, "compile", MODEL, "--calib-data", CALIB, "--target",
                           str(path), "-o", str(tmp_path / "a.tpu"))
    assert code == 2 and err.startswith(f"{path}:2:6: error: not UTF-8 text: byte 0xe9")
    path.write_text('name = "x"\n[array\n')
    code, _, err = qcc_cli(capsys, "compile", MODEL, "--calib-data", CALIB, "--target",
                           str(path), "-o", str(tmp_path / "a.tpu"))
    assert code == 2 and err.startswith(f"{path}:2:7: error: not valid TOML: ")
    assert err.endswith("  [array\n        ^\n")
