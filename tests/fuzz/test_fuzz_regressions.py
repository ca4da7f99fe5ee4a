"""Inputs the fuzzers (tests/fuzz) found crashing an entry point with an exception
other than QccError; each must now give a clean QccError (or success)."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from qcc.diagnostics import QccError
from qcc.frontend import import_onnx
from qcc.passmanager import Pipeline
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples/models/mlp.onnx"


# ---------------------------------------------------------------------- ONNX frontend
def test_initializer_raw_data_of_the_wrong_length_is_a_qcc_error() -> None:
    # numpy_helper.to_array raised ValueError (buffer size not a multiple of 4)
    m = onnx.load(MLP)
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:-1]
    with pytest.raises(QccError, match="initializer 'fc_w_2' is malformed"):
        import_onnx(m.SerializeToString())


def test_constant_node_value_of_the_wrong_length_is_a_qcc_error() -> None:
    m = onnx.load(MLP)
    bad = numpy_helper.from_array(np.zeros(4, np.float32), "c")
    bad.raw_data = b"\0" * 5
    m.graph.node.insert(0, helper.make_node("Constant", [], ["c"], value=bad))
    with pytest.raises(QccError, match=r"Constant node .* is malformed"):
        import_onnx(m)


def test_negative_input_dimension_is_a_qcc_error() -> None:
    # TensorType raised ValueError("negative dimension in shape (-1, 1, 8, 8)")
    m = onnx.load(MLP)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1
    with pytest.raises(QccError, match="negative dimension"):
        import_onnx(m.SerializeToString())


def test_non_utf8_attribute_name_is_a_qcc_error() -> None:
    # protobuf returns invalid UTF-8 strings as bytes: sorted() of the Constant
    # node's attribute names raised TypeError
    m = onnx.load(MLP)
    m.graph.node.insert(0, helper.make_node("Constant", [], ["c"], value_float=1.0))
    data = m.SerializeToString().replace(b"value_float", b"v\xe1lue_float")
    with pytest.raises(QccError, match="not valid UTF-8"):
        import_onnx(data)


def test_non_utf8_node_name_is_a_qcc_error() -> None:
    m = onnx.load(MLP)
    m.graph.node[0].name = "flatten_node"
    data = m.SerializeToString().replace(b"flatten_node", b"flatten_n\xffde")
    with pytest.raises(QccError, match="not valid UTF-8"):
        import_onnx(data)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_import_and_canonicalize(value: float) -> None:
    m = onnx.load(MLP)
    t = m.graph.initializer[0]
    arr = numpy_helper.to_array(t).copy()
    arr[0, 0] = value
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    module = import_onnx(m.SerializeToString())
    Pipeline.parse("canonicalize,normalize-gemm,fold-batchnorm,canonicalize,"
                   "constant-fold,dce").run(module)


# ---------------------------------------------------------------------- IR text
def test_bad_string_escape_is_a_qcc_error() -> None:
    # _unquote raised ValueError: invalid literal for int() with base 16: 'ua'
    text = ('module {\n  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n'
            '    %y = "nn.re\\lu"(%x) : (tensor<2xf32>) -> tensor<2xf32>\n'
            '    return %y : tensor<2xf32>\n  }\n}\n')
    with pytest.raises(QccError, match=r"<t>:3:10: .*unexpected character"):
        parse_module(text, "<t>")


@pytest.mark.parametrize("escape", ["\\u", "\\0", "\\G1", "\\"])
def test_short_or_unknown_escapes_are_qcc_errors(escape: str) -> None:
    text = ('module {\n  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n'
            f'    return %x : tensor<2xf32> loc("a{escape}":1:1)\n  }}\n}}\n')
    with pytest.raises(QccError):
        parse_module(text, "<t>")


def test_valid_escapes_still_parse() -> None:
    text = ('module {\n  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n'
            '    return %x : tensor<2xf32> loc("a\\\\b\\n\\t\\"\\0A\\7f":1:1)\n  }\n}\n')
    printed = print_module(parse_module(text, "<t>"))
    assert 'loc("a\\\\b\\n\\t\\"\\n\\7F":1:1)' in printed, printed


def test_huge_finite_weight_quantizes_cleanly() -> None:
    """fold-rescale raised ValueError (a PassFailure) for a requantization multiplier
    >= 2^30; now a QccError naming the op, or success."""
    m = onnx.load(ROOT / "examples/models/digits_mlp.onnx")
    t = m.graph.initializer[0]
    arr = numpy_helper.to_array(t).copy()
    arr.reshape(-1)[0] = -1e20
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    module = import_onnx(m.SerializeToString())
    with contextlib.suppress(QccError):
        Pipeline.parse("canonicalize,normalize-gemm,fold-batchnorm,canonicalize,"
                       "calibrate{method=minmax random-samples=2},quantize,fold-rescale,"
                       "fuse-relu").run(module)


def test_splat_of_a_huge_tensor_type_is_a_qcc_error() -> None:
    # broadcasting the splat raised numpy's MemoryError ("Unable to allocate ...")
    big = "tensor<100000000x100000000xf32>"
    text = ('module {\n  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n'
            f'    %w = "nn.constant"() {{value = dense<1.0> : {big}}} : () -> {big}\n'
            '    return %x : tensor<2xf32>\n  }\n}\n')
    with pytest.raises(QccError, match="invalid dense literal"):
        parse_module(text, "<t>")


def test_attribute_of_the_wrong_type_is_a_qcc_error() -> None:
    # Flatten's converter compared an int with the list of a FLOATS 'axis' (TypeError)
    m = onnx.load(MLP)
    flatten = next(n for n in m.graph.node if n.op_type == "Flatten")
    del flatten.attribute[:]
    flatten.attribute.append(helper.make_attribute("axis", [1.0, 2.0]))
    with pytest.raises(QccError, match="attribute 'axis' has type FLOATS; ONNX Flatten "
                       "expects INT"):
        import_onnx(m.SerializeToString())


def _one_node(node: onnx.NodeProto, inits: list[onnx.TensorProto],
              out_shape: list[int] | None) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, out_shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(("op", "inputs", "out_shape", "bad"), [
    ("Unsqueeze", ["x", "a"], [2, 1, 3], 1),
    ("Squeeze", ["x", "a"], [2, 3], 1),
    ("Reshape", ["x", "a"], None, 1),
    ("Pad", ["x", "a"], [4, 5], 1),
    ("Pad", ["x", "p", "", "a"], [2, 5], 3),
])
def test_float_shape_axes_or_pads_input_is_a_qcc_error(op, inputs, out_shape, bad) -> None:
    # an Unsqueeze whose axes were a float weight with NaN in it: int(nan) raised
    # ValueError. A float initializer of more than 64 elements goes to ONNX shape
    # inference without its data, and that does not check the type of such an input.
    a = np.full(65, np.nan, np.float32)
    inits = [numpy_helper.from_array(a, "a")]
    if bad == 3:
        inits.append(numpy_helper.from_array(np.array([1, 1], np.int64), "p"))
    node = helper.make_node(op, inputs, ["y"], name="n")
    with pytest.raises(QccError, match=rf"'n' \({op}\): input {bad} \('a'\) must be an "
                       r"integer tensor, not float32 \[65\]"):
        import_onnx(_one_node(node, inits, out_shape))


# ---------------------------------------------------------------------- TPU assembler
_MEMORY_LIMITED = """
import resource, sys
from qcc.backends.tpu_v1.asm import assemble
from qcc.diagnostics import QccError
limit = 1536 << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    assemble('.target "tpu-v1"\\nhalt\\n.weights ' + sys.argv[1] + '\\n', "<t>")
    print("ok")
except QccError as e:
    print("QccError:", e.message)
"""


@pytest.mark.parametrize("size", ["0x7fffffff", "900000000"])
def test_weight_image_beyond_memory_is_a_qcc_error(size: str) -> None:
    # with a 1.5 GiB address-space limit: MemoryError from bytearray(size) (2 GiB) or
    # from the copy into the Program (900 MB twice)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _MEMORY_LIMITED, size], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("QccError: no memory for"), out.stdout + out.stderr


_CALIBRATE_LIMITED = """
import resource, sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper
from qcc.diagnostics import QccError
from qcc.frontend import import_onnx
from qcc.passmanager import Pipeline
w = numpy_helper.from_array(np.full((256, 1, 1, 1), 0.5, np.float32), "w")
graph = helper.make_graph(
    [helper.make_node("Conv", ["input", "w"], ["y"], name="widen", kernel_shape=[1, 1])],
    "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 2048, 2048])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256, 2048, 2048])], [w])
module = import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
limit = 1536 << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    Pipeline.parse("calibrate{random-samples=1}").run(module)
    print("ok")
except QccError as e:
    print("QccError:", e.message)
"""


def test_a_pass_out_of_memory_is_a_qcc_error() -> None:
    # a fuzzed model with 128M-element activations: calibration's MemoryError came out
    # as a PassFailure (an internal error). Here the 4 GiB output of one convolution
    # cannot be allocated under a 1.5 GiB address-space limit (it fails at once, rather
    # than after seconds of arithmetic on a smaller output).
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CALIBRATE_LIMITED], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("QccError: pass 'calibrate' ran out of memory: Unable to "
                                 "allocate"), out.stdout + out.stderr


# ---------------------------------------------------------------------- TPU simulator
# found by the 'run' entry point (mutated binaries loaded and executed)
def _program(name: str = "digits_cnn", batch: int = 2):
    import dataclasses

    import qcc

    compiled = qcc.compile(ROOT / "examples/models" / f"{name}.onnx", batch=batch,
                           calib_data=str(ROOT / "examples/data/digits_calib.npz"))
    return dataclasses.replace(compiled.program, decoded_tiles={})


@pytest.mark.parametrize(("shape", "rows"), [((1 << 40, 10), 1 << 40),
                                             ((1, 1 << 60), 1 << 52)])
def test_descriptor_larger_than_the_unified_buffer_is_a_load_error(shape, rows) -> None:
    # bytearray(host_bytes) raised MemoryError / OverflowError in the simulator; the
    # first check of it listed the channel blocks one by one (a hang for 2^60 channels)
    import dataclasses

    from qcc.backends.tpu_v1.binary import load_binary, serialize

    program = _program()
    program.outputs[0] = dataclasses.replace(program.outputs[0], shape=shape)
    with pytest.raises(QccError, match=rf"output 'logits' \[{shape[0]}, {shape[1]}\] needs "
                                       rf"{rows} Unified Buffer rows"):
        load_binary(serialize(program, validate=False))


def test_descriptor_far_out_in_host_memory_is_a_load_error() -> None:
    import dataclasses

    from qcc.backends.tpu_v1.binary import load_binary, serialize

    program = _program()
    program.outputs[0] = dataclasses.replace(program.outputs[0], host_offset=1 << 50)
    with pytest.raises(QccError, match="descriptors must not leave gaps"):
        load_binary(serialize(program, validate=False))


def test_activation_table_with_a_shift_out_of_range_is_a_qcc_error() -> None:
    # requantize raised ValueError inside the simulator
    from qcc.backends.tpu_v1.simulator import execute

    program = _program()
    load = next(i for i in program.instructions if i.op == "load_table")
    weights = bytearray(program.weights)
    weights[load.dram + 32 + 2048] = 40  # lane 0's shift
    program.weights = bytes(weights)
    x = np.zeros(program.inputs[0].shape, np.int8)
    with pytest.raises(QccError, match=r"requantization shift is outside -31\.\.30"):
        execute(program, {program.inputs[0].name: x}, engine="numpy")


def test_convolution_pass_of_no_pixels_runs() -> None:
    # a matmul with conv=1 and length=0 raised ValueError (reshape of an empty gather)
    from qcc.backends.tpu_v1.isa import Instruction
    from qcc.backends.tpu_v1.simulator import execute

    program = _program()
    i = next(k for k, ins in enumerate(program.instructions)
             if ins.op == "matmul" and ins.conv and ins.tap == 0)
    args = dict(program.instructions[i].args)
    program.instructions.insert(i + 1, Instruction("matmul", **{**args, "length": 0,
                                                                "switch": 0}))
    x = np.zeros(program.inputs[0].shape, np.int8)
    for engine in ("numpy", "onnxruntime"):
        execute(program, {program.inputs[0].name: x}, engine=engine)


@pytest.mark.parametrize("name", ["digits_cnn", "digits_dwsep"])
def test_all_zero_weight_tiles_run(name: str) -> None:
    # a convolution pass with an all-zero tile gathered no taps (IndexError)
    from qcc.backends.tpu_v1.simulator import execute

    program = _program(name)
    first_table = min(i.dram for i in program.instructions if i.op == "load_table")
    program.weights = bytes(first_table) + program.weights[first_table:]
    x = np.zeros(program.inputs[0].shape, np.int8)
    outs = [execute(program, {program.inputs[0].name: x}, engine=engine)
            for engine in ("numpy", "onnxruntime")]
    name_out = program.outputs[0].name
    np.testing.assert_array_equal(outs[0][name_out], outs[1][name_out])
