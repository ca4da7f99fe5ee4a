"""IR types: printing in MLIR syntax, validation, and parse/print of tensor types."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.diagnostics import QccError
from qcc.ir.types import (
    ELEMENT_TYPES,
    FloatType,
    IntegerType,
    TensorType,
    UniformQuantPerAxisType,
    UniformQuantType,
    element_type_for_dtype,
    f32,
    i1,
    i8,
    i32,
    i64,
    u8,
)
from qcc.text import parse_module, print_module


def parse_type(text: str, canonical: bool = True):
    """Parse a type by using it as the type of a function argument and result; a
    canonical type prints back as the same text."""
    src = (f"module {{\n  func.func @main(%a: {text}) -> ({text}) {{\n"
           f"    return %a : {text}\n  }}\n}}\n")
    module = parse_module(src, "<type>")
    assert print_module(module, locations=False) == src or not canonical
    return module.main.args[0].type


# --------------------------------------------------------------------------- printing


def test_scalar_element_types_print():
    assert [str(t) for t in (f32, i8, u8, i32, i64)] == ["f32", "i8", "u8", "i32", "i64"]
    assert str(FloatType(16)) == "f16"
    assert str(IntegerType(16, signed=False)) == "u16"


def test_integer_type_ranges():
    assert (i8.min, i8.max) == (-128, 127)
    assert (u8.min, u8.max) == (0, 255)
    assert (i32.min, i32.max) == (-(2**31), 2**31 - 1)


def test_per_tensor_quant_type_prints_in_mlir_syntax():
    assert str(UniformQuantType.make(i8, 0.5, -3)) == "!quant.uniform<i8:f32, 0.5:-3>"
    assert str(UniformQuantType.make(u8, 0.25, 128)) == "!quant.uniform<u8:f32, 0.25:128>"
    assert str(UniformQuantType.make(i8, 1e-05)) == "!quant.uniform<i8:f32, 1e-05:0>"


def test_per_axis_quant_type_prints_in_mlir_syntax():
    t = UniformQuantPerAxisType.make(i8, 0, [0.1, 0.2])
    assert str(t) == "!quant.uniform<i8:f32:0, {0.1:0, 0.2:0}>"
    t = UniformQuantPerAxisType.make(u8, 1, [0.5, 2.0, 3.0], [1, 2, 3])
    assert str(t) == "!quant.uniform<u8:f32:1, {0.5:1, 2.0:2, 3.0:3}>"


def test_narrow_range_storage_prints():
    t = UniformQuantType.make(i8, 0.5, 0, storage_min=-127, storage_max=127)
    assert str(t) == "!quant.uniform<i8<-127:127>:f32, 0.5:0>"
    t = UniformQuantPerAxisType.make(i8, 0, [0.1, 0.2], storage_min=-127, storage_max=127)
    assert str(t) == "!quant.uniform<i8<-127:127>:f32:0, {0.1:0, 0.2:0}>"
    # the full range is not spelled out
    assert str(UniformQuantType.make(i8, 0.5, 0, storage_min=-128, storage_max=127)) == \
        "!quant.uniform<i8:f32, 0.5:0>"


def test_tensor_types_print():
    assert str(TensorType((1, 3, 8, 8), f32)) == "tensor<1x3x8x8xf32>"
    assert str(TensorType((), i8)) == "tensor<i8>"
    assert str(TensorType((0, 5), u8)) == "tensor<0x5xu8>"
    q = UniformQuantType.make(i8, 0.5, -3)
    assert str(TensorType((4,), q)) == "tensor<4x!quant.uniform<i8:f32, 0.5:-3>>"


def test_types_are_hashable_and_compare_by_value():
    a = UniformQuantType.make(i8, 0.5, -3)
    b = UniformQuantType.make(i8, 0.5, -3)
    assert a == b and hash(a) == hash(b)
    assert a != UniformQuantType.make(i8, 0.5, -2)
    assert TensorType([1, 2], f32) == TensorType((1, 2), f32)
    assert len({TensorType((1,), f32), TensorType((1,), f32), TensorType((1,), i8)}) == 2


def test_tensor_type_helpers():
    t = TensorType((2, 3, 4), f32)
    assert t.rank == 3 and t.num_elements == 24
    assert t.with_shape((6, 4)) == TensorType((6, 4), f32)
    assert t.with_element(i8) == TensorType((2, 3, 4), i8)
    assert TensorType((), f32).num_elements == 1


def test_numpy_dtypes():
    assert f32.numpy_dtype == np.float32
    assert i8.numpy_dtype == np.int8 and u8.numpy_dtype == np.uint8
    assert i64.numpy_dtype == np.int64
    assert UniformQuantType.make(u8, 0.5).numpy_dtype == np.uint8
    for et in ELEMENT_TYPES.values():
        assert element_type_for_dtype(et.numpy_dtype) == et
    assert element_type_for_dtype(np.bool_) == i1 and str(i1) == "i1"  # (issue 16)
    with pytest.raises(ValueError):
        element_type_for_dtype(np.complex64)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs", [
    dict(scale=0.0), dict(scale=-0.5), dict(scale=math.inf), dict(scale=math.nan),
    dict(scale=1.0, zero_point=128), dict(scale=1.0, zero_point=-129),
    dict(scale=1.0, storage_min=-200), dict(scale=1.0, storage_max=128),
    dict(scale=1.0, storage_min=5, storage_max=3),
    dict(scale=1.0, zero_point=-128, storage_min=-127, storage_max=127),
])
def test_invalid_per_tensor_quant_types_raise(kwargs):
    with pytest.raises(ValueError):
        UniformQuantType.make(i8, **kwargs)


def test_invalid_unsigned_zero_point():
    with pytest.raises(ValueError):
        UniformQuantType.make(u8, 1.0, -1)


@pytest.mark.parametrize("scales, zps", [
    ([], []), ([1.0], [0, 0]), ([0.5, 0.0], None), ([0.5, -1.0], None),
    ([math.inf], None), ([1.0, 1.0], [0, 300]),
])
def test_invalid_per_axis_quant_types_raise(scales, zps):
    with pytest.raises(ValueError):
        UniformQuantPerAxisType.make(i8, 0, scales, zps)


def test_negative_dimension_raises():
    with pytest.raises(ValueError):
        TensorType((2, -1), f32)


def test_per_axis_negative_axis_raises():
    with pytest.raises(ValueError):
        UniformQuantPerAxisType.make(i8, -1, [1.0])


@pytest.mark.parametrize("shape", [(3, 4), (4,), ()])
def test_per_axis_element_must_fit_the_tensor(shape):
    # 2 scales along axis 1 need a tensor of rank >= 2 with dimension 1 of size 2
    q = UniformQuantPerAxisType.make(i8, 1, [0.1, 0.2])
    assert TensorType((3, 2), q).shape == (3, 2)
    with pytest.raises(ValueError):
        TensorType(shape, q)


# --------------------------------------------------------------------------- parse/print


@pytest.mark.parametrize("name", ["f32", "i8", "u8", "i32", "i64", "f16", "f64", "i16",
                                  "u16", "u32"])
@pytest.mark.parametrize("dims", ["", "7x", "1x3x8x8x", "0x2x"])
def test_tensor_types_of_every_element_type_parse_and_print(name, dims):
    text = f"tensor<{dims}{name}>"
    t = parse_type(text)
    assert isinstance(t, TensorType)
    assert t.element == ELEMENT_TYPES[name]
    assert t.shape == tuple(int(d) for d in dims.split("x")[:-1])
    assert str(t) == text


@pytest.mark.parametrize("elem", [
    UniformQuantType.make(i8, 0.5, -3),
    UniformQuantType.make(u8, 0.0078125, 128),
    UniformQuantType.make(i8, 0.1, 0, storage_min=-127, storage_max=127),
    UniformQuantType.make(i32, 1.1754943508222875e-38, -5),
    UniformQuantType.make(i8, 3.0517578125e-05, 7),
    UniformQuantPerAxisType.make(i8, 0, [0.1, 0.2]),
    UniformQuantPerAxisType.make(i8, 0, [0.1, 0.2], storage_min=-127, storage_max=127),
    UniformQuantPerAxisType.make(u8, 0, [1.0, 1e-07], [3, 250]),
])
def test_quant_elements_inside_tensors_parse_and_print(elem):
    n = len(elem.scales) if isinstance(elem, UniformQuantPerAxisType) else 3
    t = TensorType((n, 4), elem)
    parsed = parse_type(str(t))
    assert parsed == t
    assert str(parsed) == str(t)


def test_quant_type_written_by_hand_parses():
    t = parse_type("tensor<2x!quant.uniform<i8<-127:127>:f32:0, {0.1, 0.2:-1}>>", False)
    assert t.element == UniformQuantPerAxisType.make(i8, 0, [0.1, 0.2], [0, -1],
                                                     storage_min=-127, storage_max=127)
    # an integer scale and an omitted zero point are accepted
    assert parse_type("tensor<!quant.uniform<u8:f32, 2>>", False).element == \
        UniformQuantType.make(u8, 2.0, 0)


@pytest.mark.parametrize("text, message", [
    ("tensor<2x!quant.uniform<i8:f32, -0.5:0>>", "scale must be positive"),
    ("tensor<2x!quant.uniform<i8:f32, 0.5:200>>", "zero point 200"),
    ("tensor<2x!quant.uniform<i8<-300:0>:f32, 0.5:0>>", "storage range"),
    ("tensor<2x!quant.uniform<f32:f32, 0.5:0>>", "integer storage"),
    ("tensor<2x!quant.uniform<i8:i32, 0.5:0>>", "float expressed"),
    ("tensor<2xf8>", "unknown element type 'f8'"),
])
def test_invalid_types_in_text_are_errors(text, message):
    with pytest.raises(QccError, match=message):
        parse_type(text)
