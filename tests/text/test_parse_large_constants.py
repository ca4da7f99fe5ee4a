"""Large dense constants in IR text: exact round trips and exact error positions.

The printer writes constants of more than 16 elements as the hex of their bytes
(``dense<"0x...">``); the parser decodes them at C speed. These tests check what it
reads (bit for bit) and where it says an error is (file:line:col), inside and after
constants of millions of digits. Speed itself is measured by benchmarks/ir_parse.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.diagnostics import FileLoc, QccError
from qcc.dialects import nn
from qcc.ir import DenseAttr, Graph, Module, TensorType
from qcc.ir.types import ELEMENT_TYPES
from qcc.text import parse_module, print_module

#: elements of the "large" constants: 2**20 float32 are 8 Mi hex digits on one line
N = 1 << 20


def constant_module(*arrays: np.ndarray) -> Module:
    g = Graph("main")
    g.set_outputs([g.append(nn.ConstantOp.build(value=DenseAttr.from_array(a))).result
                   for a in arrays])
    return Module([g])


def constants(module: Module) -> list[DenseAttr]:
    return [op.attributes["value"] for op in module.walk(nn.ConstantOp)]


def tricky_f32(n: int) -> np.ndarray:
    """n float32 values: random normals with -0.0, NaNs (canonical, negative, with
    payloads, signalling), infinities, subnormals and extremes spread through them."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal(n).astype(np.float32)
    bits = np.array([0x80000000, 0x00000000, 0x7FC00000, 0xFFC00000, 0x7FC00001,
                     0x7F800001, 0x7F800000, 0xFF800000, 0x00000001, 0x807FFFFF,
                     0x7F7FFFFF, 0x00800000], dtype=np.uint32)
    where = rng.choice(n, size=4096, replace=False)
    a.view(np.uint32)[where] = bits[np.arange(where.size) % bits.size]
    a[-len(bits):] = bits.view(np.float32)
    return a


def test_large_float32_constant_round_trips_bit_exactly():
    data = tricky_f32(N).reshape(256, 64, 8, 8)
    module = constant_module(data)
    text = print_module(module)
    assert 'dense<"0x' in text
    again = parse_module(text, "big.mlir")
    (c,) = constants(again)
    assert c.data.dtype == np.float32 and c.data.shape == data.shape
    assert c.data.tobytes() == data.tobytes()  # NaN payloads, -0.0, subnormals included
    assert print_module(again) == text


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.float64,
                                   np.float16])
def test_large_constants_of_other_element_types_round_trip(dtype):
    rng = np.random.default_rng(3)
    if np.dtype(dtype).kind == "f":
        data = rng.standard_normal(65536).astype(dtype)
        data[:3] = [-0.0, np.inf, np.nan]
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, size=65536, dtype=dtype, endpoint=True)
        data[:2] = [info.min, info.max]
    module = constant_module(data)
    text = print_module(module)
    again = parse_module(text)
    (c,) = constants(again)
    assert c.data.dtype == data.dtype and c.data.tobytes() == data.tobytes()
    assert print_module(again) == text


def test_several_large_constants_and_ops_after_them():
    a, b = tricky_f32(N // 4), np.arange(N // 4, dtype=np.int32)
    module = constant_module(a, b)
    text = print_module(module)
    (ca, cb) = constants(parse_module(text))
    assert ca.data.tobytes() == a.tobytes() and cb.data.tobytes() == b.tobytes()


def test_elided_large_constant_parses_and_prints_back():
    module = constant_module(tricky_f32(N))
    text = print_module(module, elide_constants=True)
    assert "dense_resource<__elided__> : tensor<1048576xf32>" in text
    again = parse_module(text)
    (c,) = constants(again)
    assert c.elided and c.type == TensorType((N,), ELEMENT_TYPES["f32"])
    assert print_module(again, elide_constants=True) == text


def test_escaped_hex_string_still_reads():
    # the string's escapes (\41 is 'A') are decoded before the digits are read
    src = module_with('dense<"0x\\41B0000000000803F">')
    (c,) = constants(parse_module(src))
    assert c.data.view(np.uint32).tolist() == [0x000000AB, 0x3F800000]


# --------------------------------------------------------------------------- errors

T = f"tensor<{N}xf32>"


def module_with(dense: str, t: str = "tensor<2xf32>", after: str = "") -> str:
    return ("module {\n  func.func @main() -> (" + t + ") {\n"
            f'    %c = "nn.constant"() {{value = {dense} : {t}}} : () -> {t}{after}\n'
            f"    return %c : {t}\n  }}\n}}\n")


def big_hex(n_bytes: int = 4 * N) -> str:
    return "3F800000" * (n_bytes // 4)


def parse_error(src: str) -> QccError:
    with pytest.raises(QccError) as info:
        parse_module(src, "big.mlir")
    return info.value


def position_of(src: str, offset: int) -> tuple[int, int]:
    line = src.count("\n", 0, offset) + 1
    return line, offset - (src.rfind("\n", 0, offset) + 1) + 1


def assert_caret_under(err: QccError, expected: str) -> None:
    """The shown source line is cut around the column, and the caret is under
    ``expected`` (the text that starts at the error's position)."""
    _, shown, caret = str(err).split("\n")[:3]
    assert len(shown) < 200, "a long line is shown cut"
    col = caret.index("^")
    assert shown[col:].startswith(expected), (shown, caret)


@pytest.mark.parametrize("where", [0, 1, 3 * N + 5, 8 * N - 1])
def test_bad_digit_inside_a_large_constant_is_located_exactly(where):
    digits = big_hex()
    digits = digits[:where] + "g" + digits[where + 1:]
    src = module_with(f'dense<"0x{digits}">', T)
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index("g")))
    assert "dense hex string has invalid digits: 'g' is not a hex digit" in err.message
    assert_caret_under(err, "g")


def test_wrong_length_of_a_large_constant_points_at_its_start():
    src = module_with(f'dense<"0x{big_hex()[:-2]}">', T)
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index('"0x')))
    assert f"dense hex has {4 * N - 1} bytes, {T} needs {4 * N}" in err.message
    assert_caret_under(err, '"0x3F80')


def test_odd_digit_count():
    src = module_with('dense<"0x0000803F000">')
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index('"0x')))
    assert "an odd number of them" in err.message


def test_bad_digit_in_an_escaped_string_points_at_the_string():
    src = module_with('dense<"0x\\41Z0000803F">')
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index('"0x')))
    assert "'Z' is not a hex digit" in err.message


def test_error_after_a_large_constant_on_the_same_line():
    src = module_with(f'dense<"0x{big_hex()}">', T, after=" oops")
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index("oops")))
    assert "unexpected oops" in err.message
    assert_caret_under(err, "oops")


def test_error_on_the_line_after_a_large_constant():
    src = module_with(f'dense<"0x{big_hex()}">', T).replace("    return %c", "    retrun %c")
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index("retrun")))
    assert str(err).split("\n")[1:3] == [f"      retrun %c : {T}", "      ^"]


def test_unterminated_large_constant():
    src = module_with(f'dense<"0x{big_hex()}', T)
    err = parse_error(src)
    assert err.loc == FileLoc("big.mlir", *position_of(src, src.index('"0x')))
    assert "unexpected character" in err.message
    assert_caret_under(err, '"0x3F80')


def test_long_line_window_at_both_ends():
    line = "x" * 1000
    src = f"short\n{line}\nend"
    head = QccError("m", FileLoc("f", 2, 1), src).format().split("\n")
    assert head[1] == "  " + "x" * 160 + "..." and head[2] == "  ^"
    tail = QccError("m", FileLoc("f", 2, 1000), src).format().split("\n")
    assert tail[1] == "  ..." + "x" * 160 and tail[2] == "  " + " " * 162 + "^"
    short = QccError("m", FileLoc("f", 3, 2), src).format().split("\n")
    assert short[1:] == ["  end", "   ^"]
    assert QccError("m", FileLoc("f", 4, 1), src).format() == "f:4:1: error: m"
