"""The lowering (backends/tpu_v1/lower.py, with memory planning): what the TPU cannot
run is a compile error naming the ONNX node and the reason, tensors and weights that
do not fit name the sizes, and layers whose int32 accumulators could overflow warn.
The patterns' decisions are tested by the golden CHECK files
tests/golden/passes/tpu-lower-*.mlir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.target import load_target
from qcc.diagnostics import QccError
from qcc.testing import models

ROOT = Path(__file__).resolve().parents[3]
CALIB = ROOT / "examples" / "data" / "digits_calib.npz"


def _quantized(model: onnx.ModelProto) -> qcc.Module:
    module = qcc.import_onnx(model)
    shape = module.main.args[0].type.shape
    qcc.quantize_model(module, calib_data=[{"input": np.ones(shape, np.float32)}])
    return module


def test_an_op_the_tpu_cannot_run_is_a_compile_error_without_the_host():
    with pytest.raises(QccError) as e:  # the softmax (the uncounted-padding pool maps)
        lower(_quantized(models.cnn(seed=0)), placement={"no_host": True})
    text = str(e.value)
    assert "error: ONNX node 'softmax_38_node' (Softmax): 1 op(s) cannot run" in text
    assert "(Softmax): 'nn.softmax': 'nn.softmax' has no integer form" in text


def _softmax_model() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["h"], name="fc"),
         helper.make_node("Softmax", ["h"], ["y"], name="probs", axis=1)], "g", [x],
        [helper.make_empty_tensor_value_info("y")], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_softmax_is_named():
    with pytest.raises(QccError, match=r"ONNX node 'probs' \(Softmax\): 1 op\(s\) cannot "
                                       r"run on the TPU"):
        lower(_quantized(_softmax_model()), placement={"no_host": True})


def test_softmax_runs_on_the_host():
    program = lower(_quantized(_softmax_model()))
    (seg,) = program.segments
    assert seg.inputs == ("h_q",) and seg.outputs == ("y",)
    assert '"nn.softmax"' in seg.ir and "host_reason" not in seg.ir
    assert [d.name for d in program.host_tensors] == ["h_q"]
    assert [i.op for i in program.instructions].count("host_call") == 1


def test_a_model_that_does_not_fit_names_the_tensor_and_sizes():
    module = qcc.load(ROOT / "examples" / "models" / "digits_cnn.onnx", batch=8)
    qcc.quantize_model(module, calib_data=str(CALIB))
    # (600 rows run it in batch chunks, tests/backends/tpu_v1/test_tile.py; 10 rows do
    # not hold one row band of the first convolution)
    with pytest.raises(QccError, match=r"one row band of layer '.*Conv' .* does not fit .* "
                                       r"so nothing fits: .*tensor '.*' tensor<8x.*needs \d+ "
                                       r"Unified Buffer rows \(\d+ bytes\) but the largest free "
                                       r"range is \d+ rows of 10 \(2560 bytes\)"):
        lower(module, load_target("tpu-v1").updated({"unified_buffer.rows": 10}))


def test_weights_that_do_not_fit_the_weight_memory():
    module = qcc.load(ROOT / "examples" / "models" / "digits_mlp.onnx")
    qcc.quantize_model(module, calib_data=str(CALIB))
    small = load_target("tpu-v1").updated({"weight_memory.capacity_bytes": 100_000})
    with pytest.raises(QccError, match=r"the weight image \(3 tiles of 65536 bytes and 3 "
                                       r"tables: 204384 bytes\) does not fit the "
                                       r"100000-byte weight memory"):
        lower(module, small)


def test_accumulator_overflow_bound_warns(capsys):
    """A dense layer with K = 140,000 all-equal weights: 128 x 127 x K > 2^31 - 1
    (inputs calibrated on [-1, 1]: zero point 0, so the bias with the zero point folded
    in fits int32; tests/quant/test_overflow_semantics.py has the case where it does
    not)."""
    k = 140_000
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["y"], name="wide")], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, k])],
        [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(np.full((k, 1), 0.01, np.float32), "w")])
    module = qcc.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                                      17)]))
    qcc.quantize_model(module, calib_data=[{"input": np.ones((1, k), np.float32)},
                                           {"input": -np.ones((1, k), np.float32)}])
    capsys.readouterr()
    lower(module)
    err = capsys.readouterr().err
    assert "ONNX node 'wide' (MatMul): warning: 'quant.dense': the int32 accumulators could " \
           "overflow" in err


def test_no_overflow_warning_for_ordinary_layers(capsys):
    module = qcc.load(ROOT / "examples" / "models" / "digits_cnn.onnx")
    qcc.quantize_model(module, calib_data=str(CALIB))
    capsys.readouterr()
    lower(module)
    assert "could overflow" not in capsys.readouterr().err


def test_two_program_inputs():
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"], name="add")], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in "ab"],
        [helper.make_empty_tensor_value_info("y")])
    module = qcc.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                                      17)]))
    rng = np.random.default_rng(0)
    qcc.quantize_model(module, calib_data=[
        {n: rng.standard_normal((2, 3)).astype(np.float32) for n in "ab"} for _ in range(3)])
    program = lower(module)
    assert [d.name for d in program.inputs] == ["a", "b"]
    # the transfers read each input from its own host bytes: the sum is the IR's
    from qcc.backends.tpu_v1.runtime import run_program

    x = {n: rng.standard_normal((2, 3)).astype(np.float32) for n in "ab"}
    np.testing.assert_array_equal(run_program(program, x)["y"], qcc.run(module, x)["y"])
