"""`qcc compile` as one pipeline, frontend clean-up to the scheduled tpu graph:
--print-ir-after(-all), --stop-after (the IR then is the output), --time-passes and
--pass-statistics reach every pass, the backend's included; what a stopped compile
writes runs on through `qcc opt` to the same program."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcc.backend import get_backend
from qcc.backends.tpu_v1.binary import load_binary
from qcc.backends.tpu_v1.emit import emit
from qcc.backends.tpu_v1.isa import encode
from qcc.backends.tpu_v1.target import load_target
from qcc.cli import main
from qcc.text import parse_module

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "examples" / "models" / "digits_cnn.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
COMPILE = ("compile", MODEL, "--calib-data", CALIB, "--batch", "4")


def qcc_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_print_ir_after_a_backend_pass(capsys, tmp_path):
    out = tmp_path / "m.tpu"
    code, _, err = qcc_cli(capsys, *COMPILE, "-o", str(out), "--print-ir-after=tpu-lower",
                           "--elide-constants")
    assert code == 0, err
    dump = err.split("// -----// IR Dump After tpu-lower //----- //", 1)[1]
    for op in ("tpu.read_host", "tpu.conv2d", "tpu.pool", "tpu.add", "tpu.reshape",
               "tpu.matmul", "tpu.write_host"):
        assert f'"{op}"' in dump, op
    assert '"quant.conv2d"' not in dump and '"tpu.sync"' not in dump  # not yet scheduled
    assert "taps_per_row = 9" in dump  # the plan of the 1-channel stem: 9 packed taps
    assert out.is_file()


def test_print_ir_after_all_and_timing_cover_the_whole_compile(capsys, tmp_path):
    code, _, err = qcc_cli(capsys, *COMPILE, "-o", str(tmp_path / "m.tpu"),
                           "--print-ir-after-all", "--elide-constants", "--time-passes",
                           "--pass-statistics")
    assert code == 0, err
    dumps = [line.split("After ")[1].split(" ")[0] for line in err.splitlines()
             if line.startswith("// -----// IR Dump After")]
    assert dumps[0] == "canonicalize" and dumps[-4:] == ["tpu-lower", "tpu-tile-ub",
                                                         "tpu-plan-memory", "tpu-schedule"]
    assert {"calibrate", "quantize", "fold-rescale", "fuse-relu"} <= set(dumps)
    timing = err.split("Pass execution timing report")[1]
    assert "tpu-plan-memory" in timing and "quantize" in timing
    assert "lower-conv" in err.split("Pass statistics report")[1]


def test_stop_after_writes_the_ir_and_opt_finishes_it(capsys, tmp_path):
    """The integer IR from --stop-after=fuse-relu, lowered by `qcc opt`, and the final
    tpu IR from --stop-after=tpu-schedule emit the program the compile writes."""
    program, integer, final = (tmp_path / n for n in ("m.tpu", "int.mlir", "tpu.mlir"))
    assert qcc_cli(capsys, *COMPILE, "-o", str(program))[0] == 0
    code, _, err = qcc_cli(capsys, *COMPILE, "--stop-after=fuse-relu", "-o", str(integer))
    assert code == 0 and "stopped after fuse-relu" in err
    assert '"quant.requantize"' in integer.read_text() and "tpu." not in integer.read_text()
    code, _, err = qcc_cli(capsys, *COMPILE, "--stop-after=tpu-schedule", "-o", str(final))
    assert code == 0, err
    lowered = tmp_path / "lowered.mlir"
    code, _, err = qcc_cli(capsys, "opt", str(integer), "-p",
                           get_backend("tpu-v1").pipeline("tpu-v1"), "-o", str(lowered))
    assert code == 0, err
    target = load_target("tpu-v1")
    compiled = load_binary(program.read_bytes())
    for text in (final.read_text(), lowered.read_text()):
        emitted = emit(parse_module(text).main, target)
        # the instructions, weight image and I/O are the compile's (not the manifest)
        assert encode(emitted.instructions) == encode(compiled.instructions)
        assert emitted.weights == compiled.weights
        assert emitted.inputs == compiled.inputs and emitted.outputs == compiled.outputs


@pytest.mark.parametrize("argv, message", [
    (("--stop-after=no-such-pass",), "pass 'no-such-pass' is not in the pipeline"),
    (("--print-ir-after=tpu-emit",), "pass 'tpu-emit' is not in the pipeline"),
    (("--stop-after=tpu-lower", "--report", "r.md"), "--report needs the whole compile"),
    (("--stop-after=tpu-lower", "--eval-data", CALIB), "--eval-data is for the report"),
    (("--stop-after=",), "--stop-after needs a pass name"),
    (("--stop-after=tpu-lower", "-o", "x.tpu"), "writes IR text, not a program"),
])
def test_stage_option_errors(capsys, tmp_path, argv, message):
    """Conflicting options stop before any work (no calibration warning first)."""
    out = tmp_path / "m.out"
    argv = tuple(str(tmp_path / a) if a in ("r.md", "x.tpu") else a for a in argv)
    code, _, err = qcc_cli(capsys, *COMPILE, "-o", str(out), *argv)
    assert code == 2 and message in err and "Traceback" not in err
    if "--stop-after=tpu-lower" in argv:
        assert "warning:" not in err  # refused before calibrating (no calibration warning)
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("stage", ["fuse-relu", "tpu-lower", "tpu-plan-memory",
                                   "tpu-schedule"])
def test_compile_goes_on_from_a_stopped_compile(capsys, tmp_path, stage):
    """The IR a stopped compile wrote compiles on (only the passes it has not been
    through) to the program the whole compile writes."""
    full, ir, resumed = tmp_path / "full.tpu", tmp_path / "m.mlir", tmp_path / "m.tpu"
    assert qcc_cli(capsys, *COMPILE, "-o", str(full))[0] == 0
    assert qcc_cli(capsys, *COMPILE, f"--stop-after={stage}", "-o", str(ir))[0] == 0
    code, _, err = qcc_cli(capsys, "compile", str(ir), "-o", str(resumed),
                           "--print-ir-after-all", "--elide-constants")
    assert code == 0, err
    ran = [line.split("After ")[1].split(" ")[0] for line in err.splitlines()
           if line.startswith("// -----// IR Dump After")]
    # (tpu-tile-ub leaves nothing on a model that fits, so it is not a stage here)
    backend = ["tpu-lower", "tpu-tile-ub", "tpu-plan-memory", "tpu-schedule"]
    assert ran == backend[backend.index(stage) + 1:] if stage in backend else backend
    a, b = load_binary(full.read_bytes()), load_binary(resumed.read_bytes())
    assert encode(a.instructions) == encode(b.instructions) and a.weights == b.weights
    assert "calibrating on" not in err  # no random calibration of a quantized model


def test_a_quantized_model_takes_no_calibration(capsys, tmp_path):
    ir = tmp_path / "int.mlir"
    assert qcc_cli(capsys, *COMPILE, "--stop-after=fuse-relu", "-o", str(ir))[0] == 0
    code, _, err = qcc_cli(capsys, "compile", str(ir), "--calib-data", CALIB, "-o",
                           str(tmp_path / "m.tpu"))
    assert code == 2 and "already quantized (integer IR)" in err
    assert not (tmp_path / "m.tpu").exists()
