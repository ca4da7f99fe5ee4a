"""One int32 overflow rule for the integer interpreter and the TPU simulator
(qcc/quant_arith.py): a layer's value, sum((x - zx) * w) + bias, must fit int32, or
both stop with the same error and the same value; values that fit come out the same
however far the simulator's raw sums (zero point folded into the bias) go past int32.
And NaN / Inf model inputs: the same codes and the same warning on both paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc import quant_arith
from qcc.backends.tpu_v1.engines import select_engine
from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.interpreter import run as interpret

K = 90_000
OVERFLOW = "int32 accumulator overflow: a sum reaches"


def _engines() -> list[str]:
    try:
        select_engine("onnxruntime")
    except QccError:
        return ["numpy"]
    return ["numpy", "onnxruntime"]


def _model(path: Path, k: int, bias: float | None) -> Path:
    """y = x @ ones[k, 1] (+ bias): MatMul, or Gemm with a bias."""
    w = numpy_helper.from_array(np.ones((k, 1), np.float32), "w")
    if bias is None:
        node, inits = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"), [w]
    else:
        node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc")
        inits = [w, numpy_helper.from_array(np.array([bias], np.float32), "b")]
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _files(tmp_path: Path, k: int, bias: float | None, calib_values: list[float],
           activations: str = "int8") -> tuple[str, str]:
    """Compile and quantize the model from calibration rows of the given constants:
    (program.tpu, program.mlir)."""
    model = _model(tmp_path / "m.onnx", k, bias)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.stack([np.full(k, v, np.float32) for v in calib_values]))
    tpu, mlir = tmp_path / "m.tpu", tmp_path / "m.mlir"
    common = [str(model), "--calib-data", str(calib), "--activations", activations]
    assert main(["compile", *common, "-o", str(tpu)]) == 0
    assert main(["quantize", *common, "-o", str(mlir)]) == 0
    return str(tpu), str(mlir)


def _run_both(capsys, tmp_path: Path, tpu: str, mlir: str, x: np.ndarray,
              engine: str = "numpy") -> list[tuple[int, str, str]]:
    """`qcc run` of the program and of the integer IR on x: (exit code, stdout, the
    stderr line that is not the pipeline's) for each."""
    inp = tmp_path / "x.npy"
    np.save(inp, x)
    capsys.readouterr()
    results = []
    for argv in (["run", tpu, "--input", str(inp), "--engine", engine],
                 ["run", mlir, "--input", str(inp)]):
        code = main(argv)
        out, err = capsys.readouterr()
        lines = [ln for ln in err.splitlines() if not ln.startswith("qcc: pipeline")]
        results.append((code, out, "\n".join(lines)))
    return results


def _error_value(err: str) -> int:
    return int(err.split(OVERFLOW, 1)[1].split(",")[0])


@pytest.mark.parametrize("engine", _engines())
def test_k90000_of_ones_overflows_in_both(capsys, tmp_path, engine):
    """The issue's case: int8 inputs of 1 (code 127, zero point -128) times weights of
    127, K = 90,000: the layer's sum is 90,000 x 255 x 127 > 2^31 - 1. The interpreter
    stopped; the simulator printed 90000 (its raw sums, 127 x 127 x K, fit, and the
    folded bias was added in float64)."""
    tpu, mlir = _files(tmp_path, K, None, [1.0])
    (c1, out1, err1), (c2, out2, err2) = _run_both(capsys, tmp_path, tpu, mlir,
                                                   np.ones((1, K), np.float32), engine)
    assert (c1, c2) == (2, 2) and out1 == out2 == ""
    assert "layer 'mm': " + OVERFLOW in err1 and "ONNX node 'mm' (MatMul): " + OVERFLOW in err2
    assert _error_value(err1) == _error_value(err2) == K * 255 * 127
    # and a small input fits in both, with the same numbers
    (c1, out1, _), (c2, out2, _) = _run_both(capsys, tmp_path, tpu, mlir,
                                             np.full((1, K), 0.001, np.float32), engine)
    assert c1 == c2 == 0 and out1 == out2


def test_k90000_through_the_python_api(tmp_path):
    model = _model(tmp_path / "m.onnx", K, None)
    compiled = qcc.compile(str(model), calib_data=[{"x": np.ones((1, K), np.float32)}])
    x = {"x": np.ones((1, K), np.float32)}
    with pytest.raises(QccError, match=OVERFLOW) as sim:
        compiled.run(x, engine="numpy")
    with pytest.raises(QccError, match=OVERFLOW) as ir:
        interpret(compiled.module, x)
    assert _error_value(str(sim.value)) == _error_value(str(ir.value))


@pytest.mark.parametrize("engine", _engines())
def test_raw_sums_past_int32_give_the_interpreters_numbers(capsys, tmp_path, engine):
    """uint8 inputs (zero point 128), K = 90,000: the matrix unit's raw sum of 255 x 127
    x K leaves int32 while the layer's value, 127 x 127 x K, fits. The simulator used
    to stop at the matmul; now both print the same numbers."""
    tpu, mlir = _files(tmp_path, K, None, [1.0, -1.0], activations="uint8")
    (c1, out1, err1), (c2, out2, err2) = _run_both(capsys, tmp_path, tpu, mlir,
                                                   np.ones((1, K), np.float32), engine)
    assert c1 == c2 == 0 and out1 == out2 and "overflow" not in err1 + err2
    assert float(out1.split("[[")[1].split("]]")[0]) == pytest.approx(K, rel=0.01)


@pytest.mark.parametrize("engine", _engines())
def test_bias_of_minus_1e6_overflows_in_both(capsys, tmp_path, engine):
    """Gemm with bias -1e6 on inputs in [-7.5, 7.5]: the bias is -2^31 + 2148 at the
    accumulator's scale (the weight scale raised to fit it), so inputs of -7.5 take the
    layer's value below -2^31; +7.5 fits."""
    tpu, mlir = _files(tmp_path, 16, -1e6, [-7.5, 7.5])
    (c1, out1, err1), (c2, out2, err2) = _run_both(capsys, tmp_path, tpu, mlir,
                                                   np.full((1, 16), -7.5, np.float32), engine)
    assert (c1, c2) == (2, 2) and out1 == out2 == ""
    assert "layer 'fc': " + OVERFLOW in err1 and "ONNX node 'fc' (Gemm): " + OVERFLOW in err2
    assert _error_value(err1) == _error_value(err2) < quant_arith.INT32_MIN
    (c1, out1, _), (c2, out2, _) = _run_both(capsys, tmp_path, tpu, mlir,
                                             np.full((1, 16), 7.5, np.float32), engine)
    assert c1 == c2 == 0 and out1 == out2 and "-1.00012e+06" in out1


def test_a_folded_bias_outside_int32_is_a_compile_error(capsys, tmp_path):
    """Inputs in [-15, 0] (zero point 127) and a bias near -2^31: the activation table's
    bias, b - 127 * sum(w), is below -2^31. The table would wrap it, and the simulator
    could then not tell a layer value that fits from one that does not."""
    model = _model(tmp_path / "m.onnx", 16, -1e6)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.stack([np.full(16, v, np.float32) for v in (-15.0, 0.0)]))
    capsys.readouterr()
    assert main(["compile", str(model), "--calib-data", str(calib), "-o",
                 str(tmp_path / "m.tpu")]) == 2
    err = capsys.readouterr().err
    assert "ONNX node 'fc' (Gemm): 'quant.dense': the bias with the input zero point " \
           "folded in (b - 127 * sum(w)) reaches -21477" in err
    assert "outside the int32 of the activation table" in err
    assert not (tmp_path / "m.tpu").exists()


def test_nonfinite_inputs_same_codes_and_warning(capsys, tmp_path):
    """NaN quantizes to code 0, +-Inf (and float64 values beyond float32) saturate, on
    both paths, each warning once with the same words."""
    tpu, mlir = _files(tmp_path, 16, 0.5, [-1.0, 1.0])
    for dtype in (np.float32, np.float64):
        x = np.full((1, 16), 0.25, dtype)
        x[0, :4] = [np.nan, np.inf, -np.inf, np.nan]
        if dtype == np.float64:
            x[0, 4] = 1e300  # +Inf in float32
        (c1, out1, err1), (c2, out2, err2) = _run_both(capsys, tmp_path, tpu, mlir, x)
        assert c1 == c2 == 0 and out1 == out2
        bad = 5 if dtype == np.float64 else 4
        want = (f"warning: input 'x' has {bad} non-finite value(s) (2 NaN, {bad - 2} Inf): "
                "NaN quantizes to code 0 and +-Inf to the ends of the storage range")
        assert err1 == err2 == want
    # finite inputs: no warning
    (_, _, err1), (_, _, err2) = _run_both(capsys, tmp_path, tpu, mlir,
                                           np.zeros((1, 16), np.float32))
    assert err1 == err2 == ""


def test_nonfinite_inputs_through_the_python_api(capsys, tmp_path):
    model = _model(tmp_path / "m.onnx", 16, 0.5)
    compiled = qcc.compile(str(model), calib_data=[{"x": np.linspace(-1, 1, 16, dtype=np.float32)
                                                   .reshape(1, 16)}])
    x = {"x": np.array([[np.nan, np.inf, -np.inf] + [0.5] * 13], np.float32)}
    capsys.readouterr()
    sim = compiled.run(x, engine="numpy")
    err_sim = capsys.readouterr().err
    ir = interpret(compiled.module, x)
    err_ir = capsys.readouterr().err
    np.testing.assert_array_equal(sim["y"], ir["y"])
    assert err_sim == err_ir and "(1 NaN, 2 Inf)" in err_sim


@pytest.mark.parametrize(("values", "want"), [
    ([], None), ([0, quant_arith.INT32_MAX, quant_arith.INT32_MIN], None),
    ([quant_arith.INT32_MAX + 1], quant_arith.INT32_MAX + 1),
    ([quant_arith.INT32_MIN - 1, 5], quant_arith.INT32_MIN - 1),
    ([quant_arith.INT32_MIN - 1, quant_arith.INT32_MAX + 3], quant_arith.INT32_MAX + 3),
])
def test_int32_overflow_finds_the_farthest_value(values, want):
    for dtype in (np.int64, np.float64):
        assert quant_arith.int32_overflow(np.array(values, dtype)) == want
