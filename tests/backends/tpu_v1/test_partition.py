"""Host partitioning (backends/tpu_v1/partition.py, host.py): ops the TPU cannot run
go to the host as host segments; the binary runs them with the IR interpreter and
stays bit-exact with the integer IR; the timing model charges them."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1.asm import assemble, disassemble
from qcc.backends.tpu_v1.binary import load_binary, serialize
from qcc.backends.tpu_v1.reference import execute_reference
from qcc.backends.tpu_v1.runtime import quantize_input, run_program
from qcc.backends.tpu_v1.simulator import execute
from qcc.diagnostics import QccError
from qcc.interpreter import run


def _classifier(middle_softmax: bool) -> onnx.ModelProto:
    """conv -> relu [-> softmax over channels] -> maxpool -> flatten -> gemm -> softmax,
    the way exporters end a classifier."""
    r = np.random.default_rng(0)
    inits = [numpy_helper.from_array((r.standard_normal((8, 3, 3, 3)) * 0.3)
                                     .astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
             numpy_helper.from_array((r.standard_normal((10, 128)) * 0.1)
                                     .astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(10, np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu")]
    last = "r"
    if middle_softmax:
        nodes.append(helper.make_node("Softmax", ["r"], ["s"], name="mid", axis=1))
        last = "s"
    nodes += [helper.make_node("MaxPool", [last], ["p"], name="pool", kernel_shape=[2, 2],
                               strides=[2, 2]),
              helper.make_node("Flatten", ["p"], ["f"], name="flat"),
              helper.make_node("Gemm", ["f", "w2", "b2"], ["l"], name="fc", transB=1),
              helper.make_node("Softmax", ["l"], ["y"], name="probs", axis=1)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _calib() -> dict:
    return {"x": np.random.default_rng(1).standard_normal((16, 3, 8, 8)).astype(np.float32)}


@pytest.fixture(scope="module", params=[False, True], ids=["softmax-last", "softmax-mid"])
def compiled(request):
    module = qcc.import_onnx(_classifier(request.param))
    return qcc.compile(module, calib_data=_calib())


def _bit_exact(compiled) -> None:
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    want = run(compiled.module, {"x": x})["y"]
    program = load_binary(compiled.to_bytes())  # through the binary
    assert np.array_equal(run_program(program, {"x": x})["y"], want)
    q = {"x": quantize_input(program.inputs[0], x)}
    assert np.array_equal(execute_reference(program, q)["y"], execute(program, q)["y"])


def test_a_classifier_with_softmax_compiles_and_is_bit_exact(compiled):
    program = compiled.program
    assert program.segments and program.host_tensors
    assert any(i.op == "host_call" for i in program.instructions)
    _bit_exact(compiled)


def test_host_ops_carry_their_reason_in_the_tpu_ir(compiled):
    hosts = {op.name: op.attributes["host_reason"] for op in compiled.tpu_module.main.ops
             if "host_reason" in op.attributes}
    assert hosts["nn.softmax"] == "'nn.softmax' has no integer form: it computes in float"


def test_timing_charges_the_host_and_the_link(compiled):
    report = compiled.estimate()
    total = report.total
    host = compiled.program.resolve_target().host
    calls = sum(i.op == "host_call" for i in compiled.program.instructions)
    floor = calls * host.call_overhead_s * compiled.program.resolve_target().array.clock_hz
    assert total.host_compute_cycles >= floor > 0
    assert total.host_write_bytes >= 2 * 10  # the logits leave the TPU for the softmax
    assert total.cycles >= total.host_compute_cycles
    # the softmax's layer is the host's: its bound says so, and qcc run --stats's table
    # ends with the split
    assert report.bound(report.layers["probs"]) == "host CPU"
    assert "us on the host CPU (host segments)" in report.format().splitlines()[-1]


def test_binary_and_assembly_round_trip_with_host_segments(compiled):
    data = compiled.to_bytes()
    assert serialize(assemble(disassemble(data))) == data
    assert serialize(load_binary(data)) == data


def test_forced_host_ops_are_bit_exact_and_charged():
    module = qcc.import_onnx(_classifier(False))
    c = qcc.compile(module, calib_data=_calib(), host_ops=("Conv",))
    hosts = [op for op in c.tpu_module.main.ops if "host_reason" in op.attributes]
    assert any(op.name == "quant.conv2d" and op.attributes["host_reason"] ==
               "forced to the host (--host-ops)" for op in hosts)
    _bit_exact(c)
    calls = [i for i in c.program.instructions if i.op == "host_call"]
    assert calls[0].products == 2 * 8 * 8 * 8 * 27  # the forced convolution's products
    assert c.program.manifest["host_ops"] == "Conv"


def test_no_host_lists_every_op_the_tpu_cannot_run():
    module = qcc.import_onnx(_classifier(True))
    with pytest.raises(QccError) as e:
        qcc.compile(module, calib_data=_calib(), no_host=True)
    text = str(e.value)
    assert "op(s) cannot run on the TPU and --no-host" in text
    assert "note: ONNX node 'mid' (Softmax)" in text and "note: ONNX node 'probs'" in text


def _program(compiled):
    return dataclasses.replace(load_binary(compiled.to_bytes()), decoded_tiles={})


def test_a_host_call_of_a_missing_segment_is_a_load_error(compiled):
    program = _program(compiled)
    program.segments = []
    with pytest.raises(QccError, match=r"host segment 0 does not exist"):
        load_binary(serialize(program, validate=False))


def test_a_segment_naming_an_unknown_tensor_is_a_load_error(compiled):
    program = _program(compiled)
    seg = program.segments[0]
    program.segments[0] = dataclasses.replace(seg, inputs=("nowhere",))
    with pytest.raises(QccError, match="host segment 0 names the tensor 'nowhere'"):
        load_binary(serialize(program, validate=False))


def test_a_segment_that_does_not_parse_is_a_run_error(compiled):
    program = _program(compiled)
    program.segments[0] = dataclasses.replace(program.segments[0], ir="module { bad")
    program = load_binary(serialize(program))
    x = np.zeros((2, 3, 8, 8), np.float32)
    with pytest.raises(QccError, match="host segment 0 does not parse"):
        run_program(program, {"x": x})


def _conv_act_conv(op_type: str, **attrs) -> onnx.ModelProto:
    r = np.random.default_rng(0)
    inits = [numpy_helper.from_array((r.standard_normal((4, 3, 3, 3)) * 0.3)
                                     .astype(np.float32), "w"),
             numpy_helper.from_array((r.standard_normal((2, 4, 1, 1)) * 0.3)
                                     .astype(np.float32), "w2")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node(op_type, ["c"], ["h"], name="act", **attrs),
             helper.make_node("Conv", ["h", "w2"], ["y"], name="conv2")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("op_type", "attrs", "where"), [
    ("HardSwish", {}, "table"), ("HardSigmoid", {}, "table"),
    ("LeakyRelu", {"alpha": 0.1}, "table"), ("LRN", {"size": 3}, "host")])
def test_functions_of_one_input_are_tables_and_the_rest_goes_to_the_host(op_type, attrs,
                                                                          where):
    c = qcc.compile(qcc.import_onnx(_conv_act_conv(op_type, **attrs)), calib_data=_calib())
    ops = c.tpu_module.main.ops
    if where == "table":
        (lookup,) = [op for op in ops if op.name == "tpu.lookup"]
        assert lookup.function == "table" and not c.program.segments
    else:
        assert [op.name for op in ops if "host_reason" in op.attributes] == \
            ["quant.dequantize", "nn.lrn", "quant.quantize"]
    _bit_exact(c)


def test_the_pass_options_place_and_forbid(tmp_path, capsys):
    from qcc.cli import main

    module = qcc.import_onnx(_classifier(False))
    qcc.quantize_model(module, calib_data=_calib())
    ir = tmp_path / "int.mlir"
    ir.write_text(str(module))
    assert main(["opt", str(ir), "-p", "tpu-lower{host-ops=fc}", "-o",
                 str(tmp_path / "a.mlir")]) == 0
    text = (tmp_path / "a.mlir").read_text()
    assert '"quant.dense"' in text and 'host_reason = "forced to the host (--host-ops)"' in text
    assert main(["opt", str(ir), "-p", "tpu-lower{no-host=true}", "-o",
                 str(tmp_path / "b.mlir")]) == 2
    err = capsys.readouterr().err
    assert "op(s) cannot run on the TPU and --no-host" in err and "Traceback" not in err
    assert not (tmp_path / "b.mlir").exists()


def test_compile_says_what_runs_on_the_host(tmp_path, capsys):
    from qcc.cli import main

    root = __import__("pathlib").Path(__file__).resolve().parents[3]
    out, report = tmp_path / "cnn.tpu", tmp_path / "r.json"
    assert main(["compile", str(root / "examples/models/cnn.onnx"), "--calib-data",
                 str(root / "examples/data/digits_calib.npz"), "-o", str(out),
                 "--report", str(report)]) == 0
    err = capsys.readouterr().err
    assert "qcc: 1 host segment(s) run what the TPU cannot:" in err
    import json

    data = json.loads(report.read_text())
    totals = data["totals"]
    assert totals["host_ops"] == 3 and totals["host_segments"] == 1
    assert sum(totals["split_us"].values()) == pytest.approx(totals["latency_us"])
    assert totals["mxu_mac_share"] == 1.0 and totals["pcie_bytes"] > 0
    reasons = {o["op"]: o["note"] for o in data["ops"] if o["unit"] == "host CPU"}
    assert reasons["nn.softmax"] == "'nn.softmax' has no integer form: it computes in float"


@pytest.mark.parametrize("middle", [False, True], ids=["softmax-last", "softmax-mid"])
def test_host_segments_in_a_tiled_program(middle):
    """A Unified Buffer too small for the activations: tpu-tile-ub spills and bands the
    layers (at the whole batch: host segments are not batch-chunked) and the host
    segments still run between them, bit-exactly."""
    from qcc.backends.tpu_v1.target import load_target

    small = load_target("tpu-v1").updated({"unified_buffer.rows": 150})
    c = qcc.compile(qcc.import_onnx(_classifier(middle)), calib_data=_calib(), target=small)
    ops = c.tpu_module.main.ops
    assert any("spill" in op.attributes or "band_rows" in op.attributes for op in ops)
    assert not any("batch_chunk" in op.attributes for op in ops)
    assert len(c.program.segments) == (2 if middle else 1)
    _bit_exact(c)


def test_host_ops_naming_nothing_is_an_error():
    module = qcc.import_onnx(_classifier(False))
    with pytest.raises(QccError, match=r"--host-ops names 'Conv2D', which matches no ONNX "
                                       r"op type, ONNX node name or IR op name"):
        qcc.compile(module, calib_data=_calib(), host_ops=("Conv", "Conv2D"))


@pytest.mark.parametrize("node", ["probs", "fc"])
def test_forcing_the_output_node_keeps_the_output(node):
    """The runtime's output dequantize (and the transfers) share the location of the
    node they serve; forcing that node to the host moves its work, not them: the
    program still has its output, bit-exact."""
    c = qcc.compile(qcc.import_onnx(_classifier(False)), calib_data=_calib(),
                    host_ops=(node,))
    assert [d.name for d in c.program.outputs] == ["y"]
    _bit_exact(c)


def test_forcing_the_last_conv_of_a_model_without_softmax():
    c = qcc.compile(qcc.import_onnx(_conv_act_conv("Relu")), calib_data=_calib(),
                    host_ops=("conv2",))
    assert [d.name for d in c.program.outputs] == ["y"] and len(c.program.segments) == 1
    _bit_exact(c)


def test_host_ops_and_no_host_contradict_in_the_pass_too():
    from qcc.backends.tpu_v1.compile import lower

    module = qcc.import_onnx(_classifier(False))
    qcc.quantize_model(module, calib_data=_calib())
    with pytest.raises(QccError, match="host-ops and no-host contradict"):
        lower(module, placement={"host_ops": ("probs",), "no_host": True})


def test_placement_options_on_ir_past_tpu_lower_are_an_error(tmp_path, capsys):
    from qcc.cli import main

    module = qcc.import_onnx(_classifier(False))
    qcc.quantize_model(module, calib_data=_calib())
    ir = tmp_path / "int.mlir"
    ir.write_text(str(module))
    lowered = tmp_path / "tpu.mlir"
    assert main(["opt", str(ir), "-p", "tpu-lower", "-o", str(lowered)]) == 0
    assert main(["compile", str(lowered), "--no-host", "-o", str(tmp_path / "x.tpu")]) == 2
    err = capsys.readouterr().err
    assert "--host-ops and --no-host apply to tpu-lower" in err
    assert not (tmp_path / "x.tpu").exists()
    assert main(["compile", str(ir), "--no-host", "-o", str(tmp_path / "x.tpu")]) == 2
    assert "cannot run on the TPU and --no-host" in capsys.readouterr().err


def test_a_tensor_read_back_from_the_host_takes_rows_when_it_arrives():
    """The mid-network softmax's result (128 rows) is placed when tpu.read_host brings
    it back, in the rows of the input (128 rows, dead after the convolution), not from
    the program's start beside it: the Unified Buffer high water is 256 rows, not 384."""
    c = qcc.compile(qcc.import_onnx(_classifier(True)), calib_data=_calib())
    assert c.report().memory["ub_high_water_rows"] == 256
    _bit_exact(c)
