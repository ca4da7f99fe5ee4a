"""The qcc command: each subcommand, its instrumentation flags, and its errors
(exit code 2, a message naming what and where, no traceback, no output file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qcc.cli import main
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
CNN = str(MODELS / "cnn.onnx")
INPUT = str(MODELS / "input.npy")


def qcc(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_prints_ir_that_parses(capsys):
    code, out, _ = qcc(capsys, "import", CNN)
    assert code == 0
    module = parse_module(out, "stdout")
    assert print_module(module) == out
    assert '"nn.conv2d"' in out and 'loc(onnx "Conv"' in out


def test_import_to_file_with_elided_constants(capsys, tmp_path):
    out_file = tmp_path / "cnn.mlir"
    code, out, _ = qcc(capsys, "import", CNN, "-o", str(out_file), "--elide-constants")
    assert code == 0 and out == ""
    text = out_file.read_text()
    assert "dense_resource<__elided__>" in text
    assert print_module(parse_module(text)) == text


def test_import_batch(capsys):
    code, out, _ = qcc(capsys, "import", CNN, "--batch", "4", "--elide-constants")
    assert code == 0 and "tensor<4x1x8x8xf32>" in out and "tensor<4x10xf32>" in out


def test_opt_pipeline_and_instrumentation(capsys, tmp_path):
    out_file = tmp_path / "out.mlir"
    code, _, err = qcc(capsys, "opt", CNN, "-p", "canonicalize,normalize-gemm,fold-batchnorm",
                         "--print-ir-after=fold-batchnorm", "--time-passes",
                         "--pass-statistics", "-o", str(out_file))
    assert code == 0
    assert "// -----// IR Dump After fold-batchnorm //----- //" in err
    assert "IR Dump After canonicalize" not in err
    assert "Pass execution timing report" in err and "normalize-gemm" in err
    assert "(     3) batchnorms-folded" in err
    text = out_file.read_text()
    assert "nn.batch_norm" not in text and "nn.gemm" not in text and "nn.dense" in text


def test_opt_print_after_all_and_stop_after(capsys):
    code, out, err = qcc(capsys, "opt", CNN, "-p", "remove-identity,normalize-gemm,dce",
                         "--print-ir-after-all", "--stop-after", "normalize-gemm",
                         "--elide-constants")
    assert code == 0
    assert err.count("IR Dump After") == 2 and "IR Dump After dce" not in err
    assert "nn.dense" in out


def test_opt_on_ir_file(capsys, tmp_path):
    src = tmp_path / "in.mlir"
    qcc(capsys, "import", CNN, "-o", str(src))
    code, out, _ = qcc(capsys, "opt", str(src), "-p", "canonicalize")
    assert code == 0 and out.startswith("module {")


def test_run_onnx_and_ir_agree(capsys, tmp_path):
    y1, y2 = tmp_path / "y1.npy", tmp_path / "y2.npy"
    code, out, _ = qcc(capsys, "run", CNN, "--input", INPUT, "--output", str(y1))
    assert code == 0 and "output: float32[1, 10]" in out and "argmax" in out
    ir = tmp_path / "cnn.mlir"
    qcc(capsys, "opt", CNN, "-p", "canonicalize,normalize-gemm,fold-batchnorm", "-o", str(ir))
    code, _, _ = qcc(capsys, "run", str(ir), "--input", f"input={INPUT}", "--output", str(y2))
    assert code == 0
    np.testing.assert_allclose(np.load(y1), np.load(y2), rtol=1e-5, atol=1e-7)


def test_run_npz_input_and_output(capsys, tmp_path):
    inputs = tmp_path / "in.npz"
    np.savez(inputs, input=np.load(INPUT))
    out = tmp_path / "out.npz"
    code, _, _ = qcc(capsys, "run", CNN, "--input", str(inputs), "--output", str(out))
    assert code == 0
    with np.load(out) as z:
        assert z["output"].shape == (1, 10)


def test_run_random_input(capsys):
    code, out, _ = qcc(capsys, "run", CNN, "--random-input", "3", "--batch", "2")
    assert code == 0 and "float32[2, 10]" in out


def test_user_pass_from_cli(capsys):
    code, _, err = qcc(capsys, "opt", CNN, "--load", str(ROOT / "examples" / "my_passes.py"),
                         "-p", "swap-relu-maxpool", "--pass-statistics", "--elide-constants")
    assert code == 0 and "(     1) swapped" in err


def test_passes_lists_options(capsys):
    code, out, _ = qcc(capsys, "passes")
    assert code == 0 and "constant-fold:" in out and "max-elements: int" in out


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("argv", "message"), [
    (["run", CNN], "no inputs given; the model needs input (tensor<1x1x8x8xf32>)"),
    (["run", CNN, "--input", "missing.npy"], "input file missing.npy: no such file"),
    (["run", CNN, "--input", "x=" + INPUT], "unknown input 'x'; the model's inputs are input"),
    (["run", CNN, "--input", INPUT, "--batch", "2"],
     "input 'input' has shape [1, 1, 8, 8], the model expects [2, 1, 8, 8]"),
    (["opt", CNN, "-p", "canonicalize,nope"], "<pipeline>:1:14: error: unknown pass 'nope'"),
    (["opt", CNN, "-p", "dce{x=1}"], "pass 'dce' has no option 'x' (it takes no options)"),
    (["opt", CNN, "-p", "dce", "--stop-after", "canonicalize"],
     "pass 'canonicalize' is not in the pipeline 'dce'"),
    (["opt", "nothere.mlir", "-p", "dce"], "nothere.mlir: no such file"),
    (["import", "nothere.onnx"], "nothere.onnx"),
    (["import", INPUT], "'qcc import' reads .onnx files"),
    (["opt", CNN, "--load", "nothere.py", "-p", "dce"], "--load nothere.py: no such file"),
])
def test_user_errors_exit_2(capsys, argv, message):
    code, _, err = qcc(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_parse_error_points_at_the_source(capsys, tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("module {\n  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n"
                   "    %y = \"nn.relu\"(%z) : (tensor<2xf32>) -> tensor<2xf32>\n"
                   "    return %y : tensor<2xf32>\n  }\n}\n")
    out_file = tmp_path / "out.mlir"
    code, _, err = qcc(capsys, "opt", str(bad), "-p", "dce", "-o", str(out_file))
    assert code == 2
    assert f"{bad}:3:20: error: use of undefined value %z" in err
    assert err.splitlines()[-1].strip() == "^"
    assert not out_file.exists()


def test_failed_compile_leaves_no_output_file(capsys, tmp_path):
    out_file = tmp_path / "out.mlir"
    code, _, _ = qcc(capsys, "opt", CNN, "-p", "bogus", "-o", str(out_file))
    assert code == 2 and not out_file.exists()
    assert list(tmp_path.iterdir()) == []


CRASHING_PASS = '''
from dataclasses import dataclass
from qcc.passmanager import Pass, register_pass

@register_pass
@dataclass(frozen=True)
class Crash(Pass):
    name = "test-crash"
    def run(self, module, ctx):
        raise RuntimeError("boom")

@register_pass
@dataclass(frozen=True)
class Break(Pass):
    name = "test-break-ir"
    def run(self, module, ctx):
        g = module.main
        g.ops.insert(0, g.ops.pop(-2))  # move an op before its operands are defined
'''


@pytest.fixture(scope="module")
def bad_plugin(tmp_path_factory) -> Path:
    plugin = tmp_path_factory.mktemp("plugin") / "bad_passes.py"
    plugin.write_text(CRASHING_PASS)
    return plugin


@pytest.mark.parametrize(("pass_name", "message"), [
    ("test-crash", "pass 'test-crash' crashed: RuntimeError: boom"),
    ("test-break-ir", "the IR is invalid after pass 'test-break-ir'"),
])
def test_pass_failure_writes_reproducer(capsys, tmp_path, bad_plugin, pass_name, message):
    plugin = bad_plugin
    code, _, err = qcc(capsys, "opt", CNN, "--load", str(plugin), "-p", f"dce,{pass_name}",
                       "--reproducer-dir", str(tmp_path))
    assert code == 1
    assert message in err
    repro = tmp_path / f"qcc-reproducer-{pass_name}.mlir"
    assert f"reproducer written to {repro}" in err
    text = repro.read_text()
    assert f"// pipeline: {pass_name}" in text
    # the reproducer is the input IR of the failing pass, and it parses
    parse_module(text, str(repro))


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "qcc", "run", CNN, "--input", "nope.npy"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "input file nope.npy: no such file" in result.stderr


def test_help_for_every_command():
    for cmd in ("import", "opt", "run", "passes"):
        result = subprocess.run([sys.executable, "-m", "qcc", cmd, "--help"],
                                capture_output=True, text=True)
        assert result.returncode == 0 and "usage: qcc" in result.stdout


def test_run_rejects_integer_input_for_float_model(capsys, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.int32))
    code, _, err = qcc(capsys, "run", CNN, "--input", str(x))
    assert code == 2 and "input 'input' has dtype int32, the model expects float32" in err


def test_run_refuses_elided_constants(capsys, tmp_path):
    ir = tmp_path / "elided.mlir"
    qcc(capsys, "import", CNN, "--elide-constants", "-o", str(ir))
    code, _, err = qcc(capsys, "run", str(ir), "--input", INPUT)
    assert code == 2 and "constant was elided when printed; cannot execute it" in err
    assert "ONNX initializer 'w_1'" in err  # names the constant


def test_run_npy_for_multi_output_needs_npz(capsys, tmp_path):
    src = tmp_path / "two.mlir"
    src.write_text('module {\n  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>, '
                   'tensor<2xf32>) {\n    %y = "nn.relu"(%x) : (tensor<2xf32>) -> tensor<2xf32>'
                   '\n    return %x, %y : tensor<2xf32>, tensor<2xf32>\n  }\n}\n')
    out = tmp_path / "y.npy"
    code, _, err = qcc(capsys, "run", str(src), "--random-input", "0", "--output", str(out))
    assert code == 2 and "the model has 2 outputs; use a .npz file" in err
    assert not out.exists()


def test_import_is_deterministic_across_processes(tmp_path):
    """Same inputs, same bytes: two processes with different hash seeds agree."""
    import os

    from qcc.testing.processes import run_side_by_side

    seeds = ("0", "12345")
    run_side_by_side([([sys.executable, "-m", "qcc", "opt", CNN, "-p",
                        "canonicalize,normalize-gemm,fold-batchnorm", "-o",
                        str(tmp_path / f"cnn_{seed}.mlir")],
                       dict(os.environ, PYTHONHASHSEED=seed)) for seed in seeds])
    texts = [(tmp_path / f"cnn_{seed}.mlir").read_bytes() for seed in seeds]
    assert texts[0] == texts[1]


def test_written_files_get_the_usual_permissions(capsys, tmp_path):
    import os

    out = tmp_path / "cnn.mlir"
    assert qcc(capsys, "import", CNN, "-o", str(out))[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_running_out_of_memory_is_a_clean_error(capsys, monkeypatch):
    """A MemoryError outside a pass (the interpreter, the simulator, an allocation in
    the lowering) exits with status 2 and a one-line message, not a traceback."""
    from qcc import cli

    def exhausted(args):
        raise MemoryError("Unable to allocate 977. MiB for an array with shape "
                          "(128000000,) and data type int64")

    monkeypatch.setitem(cli.COMMANDS, "import", exhausted)
    code, out, err = qcc(capsys, "import", CNN)
    assert code == 2 and not out
    assert err == ("error: out of memory: Unable to allocate 977. MiB for an array with "
                   "shape (128000000,) and data type int64\n")
