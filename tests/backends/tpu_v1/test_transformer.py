"""A transformer encoder layer on the TPU (qcc.testing.encoder): [B, T, H] activations
as B*T Unified Buffer rows, every MatMul by a constant on the matrix unit, GELU as an
activation table, the attention's data movement, activation x activation MatMuls,
Softmax and LayerNorm on the host with their reasons; the binary bit-exact with the
integer IR; the report's share of MACs and time."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1.binary import load_binary
from qcc.backends.tpu_v1.memory import layout
from qcc.backends.tpu_v1.program import TensorDesc, from_rows, to_rows
from qcc.backends.tpu_v1.reference import execute_reference
from qcc.backends.tpu_v1.runtime import quantize_input, run_program
from qcc.backends.tpu_v1.simulator import execute
from qcc.diagnostics import QccError
from qcc.dialects import nn
from qcc.interpreter import run
from qcc.ir.types import TensorType, f32
from qcc.testing.encoder import encoder_layer

HOST = "host_reason"


def _compile(model: onnx.ModelProto, seed: int = 1, **kw):
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(seed)
    calib = rng.standard_normal((2 * shape[0] * 4, *shape[1:])).astype(np.float32)
    return qcc.compile(qcc.import_onnx(model), calib_data={"input": calib}, **kw), shape


def _bit_exact(compiled, shape, seed: int = 2) -> None:
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    want = run(compiled.module, {"input": x})["output"]
    program = load_binary(compiled.to_bytes())  # through the binary
    assert np.array_equal(run_program(program, {"input": x})["output"], want)
    q = {"input": quantize_input(program.inputs[0], x)}
    assert np.array_equal(execute_reference(program, q)["output"],
                          execute(program, q)["output"])


@pytest.fixture(scope="module")
def encoder():
    return _compile(encoder_layer(seed=0, tokens=8, hidden=32, heads=2))


def test_the_encoder_layer_is_bit_exact_with_the_integer_ir(encoder):
    compiled, shape = encoder
    _bit_exact(compiled, shape)


def test_gelu_is_fused_before_calibration_and_runs_as_a_table(encoder):
    compiled, _ = encoder
    names = [op.name for op in compiled.module.main.ops]
    assert "nn.gelu" in names and "nn.erf" not in names
    lookups = [op for op in compiled.tpu_module.main.ops if op.name == "tpu.lookup"]
    assert [op.function for op in lookups] == ["table"]
    assert lookups[0].output.type.shape == (1, 8, 128)


def test_every_matmul_by_a_constant_is_on_the_matrix_unit(encoder):
    compiled, _ = encoder
    ops = compiled.tpu_module.main.ops
    matmuls = [op for op in ops if op.name == "tpu.matmul"]
    # q, k, v, output projection, FFN in and out, all on [1, 8, K] rows
    assert len(matmuls) == 6
    assert all(op.input.type.rank == 3 for op in matmuls)
    assert not any(op.name in ("quant.dense", "nn.dense") for op in ops)
    assert sum(op.name == "tpu.add" for op in ops) == 2  # the residuals


def test_the_rest_is_on_the_host_with_reasons(encoder):
    compiled, _ = encoder
    reasons = {}
    for op in compiled.tpu_module.main.ops:
        if HOST in op.attributes:
            reasons.setdefault(op.name, set()).add(op.attributes[HOST])
    assert reasons["nn.matmul"] == {
        "multiplies two activations (attention's Q x K^T or scores x V): the matrix "
        "unit reads its weights only from weight memory, filled at compile time"}
    assert reasons["nn.transpose"] == {
        f"transpose {p} moves elements between Unified Buffer rows; the TPU copies "
        "whole rows only" for p in ((0, 2, 1, 3), (0, 2, 3, 1))}
    splits = [r for r in reasons["nn.reshape"] if r.startswith("reshape tensor")]
    assert len(splits) == 3  # q, k and v into heads
    assert all("tensor<1x8x32x" in r and "tensor<1x8x2x16x" in r and
               "changes the row layout" in r for r in splits)
    assert "reshapes the result of a host op, on the host" in reasons["nn.reshape"]
    assert "nn.softmax" in reasons and "nn.reduce_mean" in reasons
    # the LayerNorm's Sqrt stays with the other LayerNorm ops: one segment per norm
    assert reasons["nn.sqrt"] == {
        "a table between host ops (its input is a float op's result and only float ops "
        "read it): cheaper on the host than two transfers and a second host call"}
    assert len(compiled.program.segments) == 3


def test_the_report_gives_the_share_of_macs_and_time(encoder):
    compiled, _ = encoder
    report = compiled.report()
    totals = report.to_json()["totals"]
    # per head: Q x K^T and scores x V, each 8 x 8 x 16 MACs; 2 heads
    assert totals["host_macs"] == 2 * 2 * 8 * 8 * 16
    mxu = 3 * 8 * 32 * 32 + 8 * 32 * 32 + 2 * 8 * 32 * 128
    assert totals["useful_macs"] == mxu
    assert totals["mxu_mac_share"] == pytest.approx(mxu / (mxu + totals["host_macs"]))
    assert sum(totals["split_us"].values()) == pytest.approx(totals["latency_us"])
    assert totals["split_us"]["host"] > 0 and totals["split_us"]["tpu"] > 0
    text = report.to_markdown()
    assert "| MACs on the host CPU | 4096 (4.00%) |" in text
    assert "| share of the latency on the TPU / host CPU / waiting for PCIe |" in text


@pytest.mark.parametrize("kw", [dict(batch=2, tokens=5, hidden=48, heads=3, ffn=300,
                                     gelu="gelu"),
                                dict(batch=3, tokens=7, hidden=32, heads=4,
                                     gelu="erf-half-first")],
                         ids=["b2-t5-two-lane-blocks", "b3-t7"])
def test_other_batches_token_counts_and_widths_are_bit_exact(kw):
    compiled, shape = _compile(encoder_layer(seed=3, **kw))
    assert sum(op.name == "tpu.matmul" for op in compiled.tpu_module.main.ops) == 6
    assert sum(op.name == "tpu.lookup" for op in compiled.tpu_module.main.ops) == 1
    _bit_exact(compiled, shape)


def test_no_host_lists_the_attention_ops():
    module = qcc.import_onnx(encoder_layer(seed=0))
    calib = np.random.default_rng(1).standard_normal((8, 8, 32)).astype(np.float32)
    with pytest.raises(QccError, match=r"op\(s\) cannot run on the TPU and --no-host") as e:
        qcc.compile(module, calib_data={"input": calib}, no_host=True)
    notes = "\n".join(e.value.notes)
    assert "'nn.matmul': multiplies two activations" in notes
    assert "'nn.softmax'" in notes and "'nn.transpose'" in notes


def test_compile_cli_reports_the_split(tmp_path, capsys):
    from qcc.cli import main

    onnx.save(encoder_layer(seed=0), tmp_path / "enc.onnx")
    np.savez(tmp_path / "calib.npz", input=np.random.default_rng(1).standard_normal(
        (8, 8, 32)).astype(np.float32))
    out, report = tmp_path / "enc.tpu", tmp_path / "r.json"
    assert main(["compile", str(tmp_path / "enc.onnx"), "--calib-data",
                 str(tmp_path / "calib.npz"), "-o", str(out), "--report", str(report)]) == 0
    assert "3 host segment(s) run what the TPU cannot" in capsys.readouterr().err
    data = json.loads(report.read_text())
    units = {o["op"]: o["unit"] for o in data["ops"]}
    assert units["tpu.matmul"] != "host CPU" and units["nn.matmul"] == "host CPU"
    assert 0 < data["totals"]["mxu_mac_share"] < 1
    assert main(["compile", str(tmp_path / "enc.onnx"), "--calib-data",
                 str(tmp_path / "calib.npz"), "-o", str(tmp_path / "b.tpu"),
                 "--no-host"]) == 2
    err = capsys.readouterr().err
    assert "multiplies two activations" in err and "Traceback" not in err


# --------------------------------------------------------------------------- layouts

def test_a_3d_tensor_is_one_row_per_token():
    t = TensorType((2, 3, 300), f32)
    assert layout(t) == (2, 6, [256, 44])
    desc = TensorDesc("x", (2, 3, 300), "i8", 1.0, 0, 0)
    q = np.arange(2 * 3 * 300).reshape(2, 3, 300).astype(np.int8)
    data = to_rows(desc, q)
    # block 0: 6 rows of 256 lanes in (B, T) order, then block 1: 6 rows of 44
    first = np.frombuffer(data[:6 * 256], np.int8).reshape(6, 256)
    assert np.array_equal(first, q.reshape(6, 300)[:, :256])
    assert np.array_equal(from_rows(desc, data), q)


def _matmul_model(x_shape: list[int], k: int) -> onnx.ModelProto:
    r = np.random.default_rng(0)
    w = numpy_helper.from_array((r.standard_normal((k, k)) / np.sqrt(k)).astype(np.float32),
                                "w")
    nodes = [helper.make_node("MatMul", ["input", "w"], ["m"], name="mm"),
             helper.make_node("Relu", ["m"], ["output"], name="relu")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, x_shape)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_dense_layer_over_the_last_axis_of_a_4d_tensor_goes_to_the_host():
    """A 4-D tensor has its channels (axis 1) across the lanes, not its last axis."""
    compiled, shape = _compile(_matmul_model([1, 2, 4, 8], 8))
    reasons = {op.name: op.attributes[HOST] for op in compiled.tpu_module.main.ops
               if HOST in op.attributes}
    assert "a dense layer over the last axis of tensor<1x2x4x8x" in reasons["quant.dense"]
    _bit_exact(compiled, shape)


def test_reshapes_that_keep_the_rows_are_free():
    """[1, T, H] -> [T, H] -> MatMul: one row per token either way."""
    r = np.random.default_rng(0)
    inits = [numpy_helper.from_array((r.standard_normal((16, 16)) / 4).astype(np.float32),
                                     "w1"),
             numpy_helper.from_array((r.standard_normal((16, 16)) / 4).astype(np.float32),
                                     "w2"),
             numpy_helper.from_array(np.array([6, 16], np.int64), "s2"),
             numpy_helper.from_array(np.array([1, 6, 16], np.int64), "s3")]
    nodes = [helper.make_node("MatMul", ["input", "w1"], ["a"], name="mm1"),
             helper.make_node("Reshape", ["a", "s2"], ["b"], name="to2d"),
             helper.make_node("MatMul", ["b", "w2"], ["c"], name="mm2"),
             helper.make_node("Reshape", ["c", "s3"], ["output"], name="to3d")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 6, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 6, 16])], inits)
    compiled, shape = _compile(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]))
    ops = compiled.tpu_module.main.ops
    assert not any(HOST in op.attributes for op in ops)
    assert sum(op.name == "tpu.reshape" for op in ops) == 2
    _bit_exact(compiled, shape)


def test_the_encoder_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gelu must be one of"):
        encoder_layer(gelu="fast")
    with pytest.raises(ValueError, match="not a multiple of heads"):
        encoder_layer(hidden=30, heads=4)


def test_gelu_forms_import_and_match_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(4).standard_normal((1, 8, 32)).astype(np.float32)
    for form in ("erf-half-last", "erf-half-first", "gelu"):
        model = encoder_layer(seed=5, gelu=form)
        want = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(
            None, {"input": x})[0]
        module = qcc.import_onnx(model)
        qcc.run_pipeline(module, "canonicalize")
        assert any(isinstance(op, nn.GeluOp) for op in module.main.ops)
        np.testing.assert_allclose(run(module, {"input": x})["output"], want, atol=1e-5)


def test_a_concat_of_3d_tensors_goes_to_the_host():
    r = np.random.default_rng(0)
    w = numpy_helper.from_array((r.standard_normal((16, 16)) / 4).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["input", "w"], ["a"], name="mm"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Concat", ["a", "b"], ["output"], name="cat", axis=1)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 16])], [w])
    compiled, shape = _compile(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]))
    reasons = {op.name: op.attributes[HOST] for op in compiled.tpu_module.main.ops
               if HOST in op.attributes}
    assert reasons["nn.concat"].startswith("concatenation of 3-D tensors")
    _bit_exact(compiled, shape)
