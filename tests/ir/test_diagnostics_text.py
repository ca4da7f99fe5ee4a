"""Errors in IR text point at file:line:col, show the line and put a caret under it."""

from __future__ import annotations

import re

import numpy as np
import pytest

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.diagnostics import UNKNOWN, FileLoc, FusedLoc, OnnxLoc, QccError
from qcc.dialects import nn
from qcc.ir import DenseAttr, Graph, Module, TensorType, f32, verify
from qcc.text import parse_module

X = "tensor<1x3x8x8xf32>"
W = "tensor<4x3x3x3xf32>"


def module(body: str, ret: str = f"    return %x : {X}\n",
           args: str = f"%x: {X}, %w: {W}", results: str = X) -> str:
    return (f"module {{\n  func.func @main({args}) -> ({results}) {{\n"
            f"{body}{ret}  }}\n}}\n")


def error_at(src: str, at: str, message: str, filename: str = "t.mlir") -> QccError:
    """Parse ``src`` expecting an error whose caret is where ``^`` is in ``at``
    (``at`` without the ``^`` must occur once in ``src``) and whose text has
    ``message``."""
    needle = at.replace("^", "")
    assert src.count(needle) == 1, f"{needle!r} must occur once in the source"
    offset = src.index(needle) + at.index("^")
    line = src.count("\n", 0, offset) + 1
    col = offset - (src.rfind("\n", 0, offset) + 1) + 1
    with pytest.raises(QccError) as info:
        parse_module(src, filename)
    err = info.value
    lines = str(err).split("\n")
    assert lines[0].startswith(f"{filename}:{line}:{col}: error: "), str(err)
    assert message in lines[0], str(err)
    assert lines[1] == "  " + src.split("\n")[line - 1]
    assert lines[2] == "  " + " " * (col - 1) + "^"
    assert err.loc == FileLoc(filename, line, col)
    return err


# --------------------------------------------------------------------------- syntax


def test_unexpected_token():
    src = module(f'    %1 = "nn.relu"(%x) : ({X}) {X}\n')
    error_at(src, f": ({X}) ^{X}", "expected '->'")


def test_unexpected_token_lists_what_was_expected():
    src = module(f'    %1 = "nn.relu"(%x) : ({X}) -> {X} foo\n')
    err = error_at(src, f"{X} ^foo", "unexpected")
    assert "expected" in err.message


def test_unexpected_character():
    src = module(f'    %1 = "nn.relu"(%x) # : ({X}) -> {X}\n')
    error_at(src, "(%x) ^#", "unexpected character '#'")


def test_unexpected_end_of_input():
    src = module("")[:-2]  # drop the closing brace of the module
    lines = src.split("\n")
    err = error_at(src, "  }^", "unexpected end of input")
    assert err.loc.line == len(lines) - 1


def test_error_in_the_first_line():
    error_at("modul {}\n", "^modul", "unexpected")


# --------------------------------------------------------------------------- values and ops


def test_undefined_value():
    src = module(f'    %1 = "nn.relu"(%y) : ({X}) -> {X}\n')
    error_at(src, '"nn.relu"(^%y)', "use of undefined value %y")


def test_value_used_before_its_definition():
    src = module(f'    %1 = "nn.relu"(%2) : ({X}) -> {X}\n'
                 f'    %2 = "nn.relu"(%x) : ({X}) -> {X}\n')
    error_at(src, '"nn.relu"(^%2)', "use of undefined value %2")


def test_unknown_op():
    src = module(f'    %1 = "nn.frobnicate"(%x) : ({X}) -> {X}\n')
    error_at(src, '%1 = ^"nn.frobnicate"', "unknown op 'nn.frobnicate'")


def test_wrong_operand_count():
    src = module(f'    %1 = "nn.relu"(%x, %x) : ({X}, {X}) -> {X}\n')
    error_at(src, '^%1 = "nn.relu"', "'nn.relu' op expects 1 operand, got 2")


def test_wrong_operand_count_for_optional_operand():
    src = module(f'    %1 = "nn.conv2d"(%x) : ({X}) -> {X}\n')
    error_at(src, '^%1 = "nn.conv2d"', "'nn.conv2d' op expects 2 or 3 operands, got 1")


def test_operand_count_differs_from_the_type():
    src = module(f'    %1 = "nn.relu"(%x) : ({X}, {X}) -> {X}\n')
    error_at(src, f'(%x) : ^({X}, {X})', "has 1 operands but its type lists 2")


def test_operand_type_mismatch():
    src = module(f'    %1 = "nn.relu"(%x) : (tensor<1x3x8x9xf32>) -> {X}\n')
    error_at(src, ": ^(tensor<1x3x8x9xf32>)",
             f"operand 0 of 'nn.relu' is %x of type {X}, but the op's type says "
             "tensor<1x3x8x9xf32>")


def test_result_count_differs_from_the_type():
    src = module(f'    %1 = "nn.relu"(%x) : ({X}) -> ({X}, {X})\n')
    error_at(src, f"(%x) : ^({X}) -> ({X}, {X})", "defines 1 values but its type has 2")


def test_result_type_does_not_match_the_inferred_one():
    src = module(f'    %1 = "nn.conv2d"(%x, %w) : ({X}, {W}) -> tensor<1x4x8x8xf32>\n')
    error_at(src, '^%1 = "nn.conv2d"',
             "'nn.conv2d' op result type tensor<1x4x8x8xf32> does not match the inferred "
             "tensor<1x4x6x6xf32>")


def test_duplicate_value_definition():
    src = module(f'    %1 = "nn.relu"(%x) : ({X}) -> {X}\n'
                 f'    %1 = "nn.sigmoid"(%x) : ({X}) -> {X}\n')
    error_at(src, '^%1 = "nn.sigmoid"', "value %1 defined twice")


def test_value_redefining_an_argument():
    src = module(f'    %w = "nn.relu"(%x) : ({X}) -> {X}\n')
    error_at(src, '^%w = "nn.relu"', "value %w defined twice")


def test_duplicate_argument():
    src = module("", args=f"%x: {X}, %x: {X}")
    error_at(src, f"{X}, ^%x", "value %x defined twice")


# --------------------------------------------------------------------------- attributes


def test_bad_attribute_kind():
    src = module(f'    %1 = "nn.conv2d"(%x, %w) {{group = 1.5}} : ({X}, {W}) -> '
                 "tensor<1x4x6x6xf32>\n")
    with pytest.raises(QccError) as info:
        parse_module(src, "t.mlir")
    err = info.value
    assert "'nn.conv2d' attribute 'group': expected an integer, got 1.5" in err.message
    # the caret is on the attribute dictionary: at its brace, the name or the value
    line = src.split("\n")[err.loc.line - 1]
    assert err.loc.line == 3
    assert err.loc.col - 1 in (line.index("{group"), line.index("group"), line.index("1.5"))
    assert str(err).split("\n")[2] == "  " + " " * (err.loc.col - 1) + "^"


@pytest.mark.parametrize("attrs, message", [
    ("{strides = 2}", "expected a list of integers, got 2"),
    ('{pads = [1, 1, "a", 1]}', "expected an integer, got 'a'"),
    ("{group = true}", "expected an integer, got True"),
])
def test_more_bad_attribute_kinds(attrs, message):
    src = module(f'    %1 = "nn.conv2d"(%x, %w) {attrs} : ({X}, {W}) -> tensor<1x4x6x6xf32>\n')
    with pytest.raises(QccError, match="attribute") as info:
        parse_module(src, "t.mlir")
    assert message in info.value.message
    assert info.value.loc.line == 3


def test_missing_required_attribute():
    src = module(f'    %1 = "nn.reshape"(%x) : ({X}) -> tensor<192xf32>\n')
    error_at(src, '^%1 = "nn.reshape"',
             "'nn.reshape' op requires attribute 'shape' (list of integers)")


def test_duplicate_attribute():
    src = module(f'    %1 = "nn.softmax"(%x) {{axis = 1, axis = 2}} : ({X}) -> {X}\n')
    error_at(src, "axis = 1, ^axis = 2", "attribute 'axis' given twice")


# --------------------------------------------------------------------------- constants


def constant(dense: str, t: str = "tensor<2xf32>") -> str:
    return module(f'    %c = "nn.constant"() {{value = {dense} : {t}}} : () -> {t}\n')


def test_bad_dense_literal_size():
    error_at(constant("dense<[1.0, 2.0, 3.0]>"), "dense<^[1.0, 2.0, 3.0]>",
             "dense literal of shape (3,) does not match tensor<2xf32>")


def test_bad_dense_literal_nesting():
    error_at(constant("dense<[[1.0], [2.0]]>"), "dense<^[[1.0], [2.0]]>",
             "dense literal of shape (2, 1) does not match tensor<2xf32>")


@pytest.mark.parametrize("literal", ["[[1.0, 2.0], [3.0]]", "[1.0, [2.0]]"])
def test_ragged_dense_literal(literal):
    error_at(constant(f"dense<{literal}>"), f"dense<^{literal}>", "dense literal")


def test_hex_of_the_wrong_length():
    error_at(constant('dense<"0x0000803F">'), 'dense<^"0x0000803F">',
             "dense hex has 4 bytes, tensor<2xf32> needs 8")


def test_hex_with_bad_digits():
    error_at(constant('dense<"0x0000803G0000803F">'), 'dense<"0x0000803^G',
             "dense hex string has invalid digits: 'G' is not a hex digit")
    error_at(constant('dense<"1234">'), 'dense<^"1234">', "starting with 0x")


def test_integer_constant_errors():
    t = "tensor<2xi8>"
    error_at(constant("dense<[1, 300]>", t), "dense<^[1, 300]>",
             "constant 300 does not fit in int8")
    error_at(constant("dense<1.5>", t), "dense<^1.5>", "integer constant expected, got 1.5")


def test_constant_attribute_that_is_not_dense():
    src = module('    %c = "nn.constant"() {value = 1.0} : () -> tensor<2xf32>\n')
    err = error_at(src, "() ^{value", "expected a dense<...> constant, got 1.0")
    assert "'nn.constant' attribute 'value'" in err.message


# --------------------------------------------------------------------------- types


def test_unknown_element_type():
    error_at(module("", args="%x: tensor<2xf8>", ret="    return\n", results=""),
             "tensor<2x^f8>", "unknown element type 'f8' (known: f16, f32")


def test_element_type_that_is_not_a_type():
    error_at(module("", args="%x: tensor<2xbf16>", ret="    return\n", results=""),
             "tensor<2x^bf16>", "unexpected")


@pytest.mark.parametrize("quant, message", [
    ("!quant.uniform<i8:f32, -0.5:0>", "quantization scale must be positive and finite, "
                                       "got -0.5"),
    ("!quant.uniform<i8:f32, 0.0:0>", "quantization scale must be positive"),
    ("!quant.uniform<i8:f32, inf:0>", "unexpected"),
    ("!quant.uniform<i8:f32, 0.5:128>", "zero point 128 outside the storage range"),
    ("!quant.uniform<i8:f32:0, {0.5:0, -1.0:0}>", "quantization scale must be positive"),
])
def test_invalid_quant_type(quant, message):
    src = module("", args=f"%x: tensor<2x{quant}>", ret="    return\n", results="")
    if message == "unexpected":
        with pytest.raises(QccError, match=message):
            parse_module(src, "t.mlir")
        return
    err = error_at(src, f"tensor<2x^{quant}>", message)
    assert err.message.startswith("invalid quantized type: ")


def test_quant_storage_must_be_an_integer():
    src = module("", args="%x: tensor<2x!quant.uniform<f16:f32, 0.5:0>>",
                 ret="    return\n", results="")
    error_at(src, "!quant.uniform<^f16:f32", "needs integer storage")


# --------------------------------------------------------------------------- return


def test_return_type_mismatch():
    src = module("", ret="    return %x : tensor<1x3x8x9xf32>\n")
    error_at(src, "^return %x", f"returned %x has type {X}, but return says "
                                "tensor<1x3x8x9xf32>")


def test_declared_result_type_mismatch():
    src = module("", ret=f"    return %w : {W}\n")
    error_at(src, f"-> (^{X})", f"@main declares result type {X} but returns {W}")


def test_declared_result_count_mismatch():
    src = module("", ret=f"    return %x, %x : {X}, {X}\n")
    error_at(src, "^return %x, %x", "@main declares 1 results but returns 2")


def test_return_must_be_last():
    src = module(f"    return %x : {X}\n")
    error_at(src, f"{X}\n    ^return %x : {X}\n  }}", "unexpected return")
    src = module("", ret=f'    return %x : {X}\n    %1 = "nn.relu"(%x) : ({X}) -> {X}\n')
    error_at(src, f"{X}\n    ^%1 = ", "unexpected")


def test_graph_defined_twice():
    one = module("").strip()[len("module {"):-1]
    src = "module {" + one + one + "}\n"
    with pytest.raises(QccError, match="graph @main defined twice") as info:
        parse_module(src, "t.mlir")
    assert info.value.loc.line == 6


# --------------------------------------------------------------------------- reporting


def test_errors_report_the_given_file_name():
    src = module(f'    %1 = "nn.relu"(%nope) : ({X}) -> {X}\n')
    err = error_at(src, "(^%nope)", "undefined", filename="models/my model.mlir")
    assert str(err).startswith("models/my model.mlir:3:20: error: ")


def test_verifier_errors_at_explicit_locations_name_them():
    src = module(f'    %1 = "nn.relu"(%x, %x) : ({X}, {X}) -> {X} loc(onnx "Relu" "r1")\n')
    with pytest.raises(QccError) as info:
        parse_module(src, "t.mlir")
    assert str(info.value) == \
        "error: ONNX node 'r1' (Relu): 'nn.relu' op expects 1 operand, got 2"


@pytest.mark.parametrize("where", [
    '    // a comment\f with a form feed\n',
    '    // a comment\v with a vertical tab\n',
    f'    %0 = "nn.relu"(%x) : ({X}) -> {X} loc(onnx "Relu" "a\u2028b")\n',
    f'    %0 = "nn.relu"(%x) : ({X}) -> {X} loc(onnx "Relu" "a\x85b")\n',
])
def test_error_source_line_with_other_line_breaks_earlier(where):
    src = module(where + f'    %1 = "nn.relu"(%nope) : ({X}) -> {X}\n')
    error_at(src, "(^%nope)", "undefined")


def test_format_without_source_or_location():
    assert str(QccError("boom")) == "error: boom"
    assert str(QccError("boom", FileLoc("f.mlir", 2, 3))) == "f.mlir:2:3: error: boom"
    fused = FusedLoc((FileLoc("f.mlir", 2, 3), OnnxLoc("Conv", "c")))
    assert str(QccError("boom", fused, "a\nbcdef\n")) == \
        "f.mlir:2:3: error: boom\n  bcdef\n    ^"
    assert str(QccError("boom", notes=("see this",))) == "error: boom\nnote: see this"


# --------------------------------------------------------------------------- verifier


def conv_module(result_type=None, loc=UNKNOWN) -> Module:
    g = Graph("main")
    x = g.add_arg(TensorType((1, 3, 8, 8), f32), "x")
    w = g.append(nn.ConstantOp.build(
        value=DenseAttr(np.zeros((4, 3, 3, 3), np.float32), TensorType((4, 3, 3, 3), f32)))
    ).result
    types = None if result_type is None else [result_type]
    y = g.append(nn.Conv2dOp.build(x, w, result_types=types, loc=loc)).result
    g.set_outputs([y], ["y"])
    return Module([g])


def test_verifier_accepts_a_correct_module():
    verify(conv_module())


def test_verifier_rejects_a_wrong_result_type_built_in_code():
    bad = TensorType((1, 4, 8, 8), f32)
    with pytest.raises(QccError) as info:
        verify(conv_module(bad, OnnxLoc("Conv", "conv1")))
    text = str(info.value)
    assert "'nn.conv2d' op" in text
    assert "does not match the inferred tensor<1x4x6x6xf32>" in text
    assert text.startswith("error: ONNX node 'conv1' (Conv): ")


def test_verifier_rejects_a_bad_attribute_built_in_code():
    m = conv_module()
    conv = next(m.walk(nn.Conv2dOp))
    conv.attributes["group"] = 1.5
    with pytest.raises(QccError, match=re.escape("'nn.conv2d' op attribute 'group': "
                                                 "expected an integer, got 1.5")):
        verify(m)
    del conv.attributes["group"]
    with pytest.raises(QccError, match="requires attribute 'group'"):
        verify(m)


def test_verifier_rejects_an_op_verify_hook_failure():
    g = Graph("main")
    x = g.add_arg(TensorType((2, 3), f32), "x")
    s = g.append(nn.SoftmaxOp.build(x, axis=5, result_types=[x.type])).result
    g.set_outputs([s])
    with pytest.raises(QccError, match=r"'nn\.softmax' op axis 5 is out of range"):
        verify(Module([g]))
