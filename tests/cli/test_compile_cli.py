"""`qcc compile` and `qcc run model.tpu`: end to end through files, the same numbers
as the Python API, deterministic bytes, asm/disasm round trips of compiled models,
and errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1.asm import assemble, disassemble
from qcc.backends.tpu_v1.binary import load_binary, serialize
from qcc.cli import main
from qcc.testing.processes import run_side_by_side

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")


def qcc_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "x.npy"
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        np.save(path, z["input"][:8])
    return path


def test_compile_and_run(capsys, tmp_path, images):
    out = tmp_path / "cnn.tpu"
    code, _, err = qcc_cli(capsys, "compile", str(MODELS / "digits_cnn.onnx"), "--calib-data",
                           CALIB, "--batch", "8", "-o", str(out))
    assert code == 0 and "on tpu-v1:" in err and "TOPS" in err
    y = tmp_path / "y.npy"
    code, stdout, _ = qcc_cli(capsys, "run", str(out), "--input", str(images), "--output",
                              str(y), "--stats", "--target", "tpu-v1-gddr5")
    assert code == 0 and "target tpu-v1-gddr5, batch 8" in stdout and "/fc/Gemm" in stdout
    # the same as the Python API, and as the integer IR interpreter
    compiled = qcc.compile(MODELS / "digits_cnn.onnx", calib_data=CALIB, batch=8)
    x = np.load(images)
    np.testing.assert_array_equal(np.load(y), compiled.run({"input": x})["logits"])
    np.testing.assert_array_equal(np.load(y), qcc.run(compiled.module, {"input": x})["logits"])


def test_run_engines_give_the_same_outputs(capsys, tmp_path, images):
    out = tmp_path / "dwsep.tpu"
    qcc.compile(MODELS / "digits_dwsep.onnx", calib_data=CALIB, batch=8).save(out)
    ys = []
    for engine in ("numpy", "onnxruntime", "auto"):
        y = tmp_path / f"y_{engine}.npy"
        code, _, _ = qcc_cli(capsys, "run", str(out), "--input", str(images), "--output",
                             str(y), "--engine", engine)
        assert code == 0
        ys.append(np.load(y))
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])
    with pytest.raises(SystemExit) as e:
        main(["run", str(out), "--input", str(images), "--engine", "gpu"])
    assert e.value.code == 2 and "invalid choice: 'gpu'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "digits_dwsep"])
def test_asm_disasm_round_trip_of_compiled_models(name):
    data = qcc.compile(MODELS / f"{name}.onnx", calib_data=CALIB, batch=2).to_bytes()
    assert serialize(assemble(disassemble(data))) == data
    assert load_binary(data).layer_of  # the per-layer annotations survive


def test_compile_errors(capsys, tmp_path):
    out = tmp_path / "m.tpu"
    code, _, err = qcc_cli(capsys, "compile", str(MODELS / "cnn.onnx"), "--calib-data",
                           CALIB, "--no-host", "-o", str(out))
    assert code == 2 and "1 op(s) cannot run on the TPU and --no-host" in err
    assert "note: ONNX node 'softmax_38_node' (Softmax): 'nn.softmax'" in err
    assert not out.exists() and "Traceback" not in err
    code, _, err = qcc_cli(capsys, "compile", str(MODELS / "cnn.onnx"), "--host-ops",
                           "Conv", "--no-host", "-o", str(out))
    assert code == 2 and "--host-ops and --no-host contradict" in err
    code, _, err = qcc_cli(capsys, "compile", str(MODELS / "digits_mlp.onnx"), "--target",
                           "tpu-v9", "-o", str(out))
    assert code == 2 and "tpu-v9" in err and not out.exists()


def test_run_rejects_a_corrupt_binary(capsys, tmp_path, images):
    good = qcc.compile(MODELS / "digits_mlp.onnx", calib_data=CALIB).to_bytes()
    bad = tmp_path / "bad.tpu"
    bad.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    code, _, err = qcc_cli(capsys, "run", str(bad), "--input", str(images))
    assert code == 2 and "checksum mismatch" in err and "Traceback" not in err


def test_binaries_and_reports_are_identical_across_processes(tmp_path):
    """Same inputs, same bytes: the binary and the compile report, in two processes
    with different hash seeds."""
    seeds = ("3", "4")
    run_side_by_side([([sys.executable, "-m", "qcc", "compile",
                        str(MODELS / "digits_cnn.onnx"), "--calib-data", CALIB, "--batch", "4",
                        "--report", str(tmp_path / f"r{seed}.json"), "-o",
                        str(tmp_path / f"m{seed}.tpu")],
                       dict(os.environ, PYTHONHASHSEED=seed)) for seed in seeds])
    outs = [((tmp_path / f"m{seed}.tpu").read_bytes(),
             (tmp_path / f"r{seed}.json").read_bytes()) for seed in seeds]
    assert outs[0] == outs[1]


def test_compiling_from_statistics_is_independent_of_the_blas_kernel(tmp_path):
    """Calibration's FP32 products differ in their last bits from one BLAS kernel to
    another; compiling from a saved statistics file does not run them, so two processes,
    one with OpenBLAS's SSE3 kernel forced (present on every x86-64 CPU; the variable is
    ignored elsewhere), give the same binary and report (docs/determinism.md)."""
    stats = tmp_path / "stats.json"
    qcc.compile(MODELS / "digits_cnn.onnx", calib_data=CALIB, batch=4, save_stats=str(stats))
    commands = []
    for k, kernel in enumerate((os.environ.get("OPENBLAS_CORETYPE"), "Prescott")):
        env = {key: v for key, v in os.environ.items() if key != "OPENBLAS_CORETYPE"}
        if kernel:
            env["OPENBLAS_CORETYPE"] = kernel
        commands.append(([sys.executable, "-m", "qcc", "compile",
                          str(MODELS / "digits_cnn.onnx"), "--stats", str(stats), "--batch",
                          "4", "--report", str(tmp_path / f"r{k}.json"), "-o",
                          str(tmp_path / f"m{k}.tpu")], env))
    run_side_by_side(commands)
    outs = [((tmp_path / f"m{k}.tpu").read_bytes(), (tmp_path / f"r{k}.json").read_bytes())
            for k in range(2)]
    assert outs[0] == outs[1]
    assert b"statistics_sha256" in outs[0][0]


def _wide_conv_model(path: Path, side: int, channels: int) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((channels, 3, 1, 1), 0.01, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["y"], name="widen", kernel_shape=[1, 1])],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, side, side])],
        [w])
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize(("side", "channels", "where", "name", "rows"), [
    # (larger tensors run in row bands: what must fit is one row of one image)
    # one row of 50000 pixels in 2 blocks of 256 channels: 100000 rows of the 98304
    (50000, 300, "ONNX node 'widen' (Conv): ", "y", 100000),
    # one row of the input alone: 100000 pixels
    (100000, 8, "", "input", 100000),
])
def test_activation_larger_than_the_unified_buffer_stops_before_calibration(
        capsys, tmp_path, side, channels, where, name, rows):
    model = _wide_conv_model(tmp_path / "wide.onnx", side, channels)
    out = tmp_path / "wide.tpu"
    code, _, err = qcc_cli(capsys, "compile", str(model), "-o", str(out))
    assert code == 2 and not out.exists() and "Traceback" not in err
    assert f"{where}tensor '{name}' tensor<" in err
    assert f"one row of it (of one image) needs {rows} Unified Buffer rows ({rows * 256} " \
           "bytes) as 8-bit values, more than all 98304 rows (25165824 bytes) of tpu-v1's " \
           "Unified Buffer" in err
    assert "calibrating on" not in err  # stopped before calibration's random samples
    with pytest.raises(qcc.QccError, match=f"tensor '{name}'"):
        qcc.compile(model, activations="uint8")
