"""print -> parse -> print is the identity, and constants survive bit for bit."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qcc.dialects  # noqa: F401  (registers the ops)
from qcc.diagnostics import UNKNOWN, FileLoc, FusedLoc, OnnxLoc, fuse_locs
from qcc.dialects import nn
from qcc.ir import OP_REGISTRY, DenseAttr, Graph, Module, TensorType, verify
from qcc.ir.types import (
    ELEMENT_TYPES,
    UniformQuantPerAxisType,
    UniformQuantType,
    f32,
    i1,
    i8,
    i64,
    u8,
)
from qcc.testing.golden import split_input_file
from qcc.text import parse_module, print_module

TESTS = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(1234)


def round_trip(module: Module, **print_kw) -> Module:
    """Assert print(parse(print(m))) == print(m); return the parsed module."""
    verify(module)
    text = print_module(module, **print_kw)
    again = parse_module(text, "<round-trip>")
    assert print_module(again, **print_kw) == text
    return again


def const(g: Graph, array, name: str | None = None, element=None, loc=UNKNOWN):
    attr = DenseAttr.from_array(np.asarray(array), element)
    return g.append(nn.ConstantOp.build(value=attr, name=name, loc=loc)).result


def randn(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def constants(module: Module) -> list[DenseAttr]:
    return [op.attributes["value"] for op in module.walk(nn.ConstantOp)]


def assert_same_constants(a: Module, b: Module) -> None:
    ca, cb = constants(a), constants(b)
    assert len(ca) == len(cb)
    for x, y in zip(ca, cb, strict=True):
        assert x.type == y.type
        assert (x.data is None) == (y.data is None)
        if x.data is not None:
            assert x.data.dtype == y.data.dtype
            assert x.data.tobytes() == y.data.tobytes()
            assert x == y and x.digest == y.digest


# --------------------------------------------------------------------------- every nn op


def all_ops_module() -> Module:
    """One graph that uses every nn op, with optional operands present and absent."""
    g = Graph("main")
    x = g.add_arg(TensorType((1, 3, 8, 8), f32), "x")
    v = g.add_arg(TensorType((2, 4), f32), "input:0")  # not a valid value name
    app = lambda op: g.append(op).result  # noqa: E731
    w = const(g, randn(4, 3, 3, 3), "w")
    b = const(g, np.arange(4, dtype=np.float32), "b")
    conv = app(nn.Conv2dOp.build(x, w, b, pads=[1, 1, 1, 1], name="conv",
                                 loc=OnnxLoc("Conv", "conv1")))
    conv2 = app(nn.Conv2dOp.build(x, w, None, strides=[2, 2], dilations=[2, 2]))
    dw = app(nn.Conv2dOp.build(x, const(g, randn(3, 1, 3, 3)), group=3, pads=[1, 1, 1, 1]))
    h = app(nn.ReluOp.build(conv))
    h = app(nn.SigmoidOp.build(h))
    h = app(nn.TanhOp.build(h))
    h = app(nn.IdentityOp.build(h))
    h = app(nn.DropoutOp.build(h, ratio=0.25))
    h = app(nn.LeakyReluOp.build(h, alpha=0.1))
    h = app(nn.ClipOp.build(h, min=0.0, max=6.0))
    h = app(nn.ClipOp.build(h))  # +-inf bounds
    h = app(nn.SoftmaxOp.build(h, axis=1))
    h = app(nn.AddOp.build(h, conv))
    h = app(nn.SubOp.build(h, const(g, randn(1, 4, 1, 1))))
    h = app(nn.MulOp.build(h, const(g, np.float32(2.0))))
    h = app(nn.DivOp.build(h, const(g, np.full((8,), 3.0, np.float32))))
    bn = [const(g, randn(4)) for _ in range(4)]
    h = app(nn.BatchNormOp.build(h, *bn, epsilon=1e-3))
    mp = app(nn.MaxPoolOp.build(h, kernel=[2, 2], strides=[2, 2]))
    ap = app(nn.AvgPoolOp.build(dw, kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                ceil_mode=True, count_include_pad=True))
    gap = app(nn.GlobalAvgPoolOp.build(mp))
    flat = app(nn.ReshapeOp.build(gap, shape=[1, 4]))
    t = app(nn.TransposeOp.build(conv2, perm=[0, 2, 3, 1]))
    cat = app(nn.ConcatOp.build(conv, conv, h, axis=1))
    pad = app(nn.PadOp.build(x, pads=[0, 0, 1, 2, 0, 0, 2, 1], value=-0.5))
    gm = app(nn.GemmOp.build(flat, const(g, randn(5, 4)), const(g, randn(5)),
                             alpha=0.5, beta=2.0, trans_b=True))
    gm2 = app(nn.GemmOp.build(v, const(g, randn(2, 3)), trans_a=True))
    dn = app(nn.DenseOp.build(v, const(g, randn(4, 6)), const(g, randn(6))))
    dn2 = app(nn.DenseOp.build(flat, const(g, randn(4, 2))))
    mm = app(nn.MatMulOp.build(v, const(g, randn(3, 4, 5))))  # broadcast batch
    mv = app(nn.MatMulOp.build(v, const(g, randn(4))))  # matrix @ vector
    # the ops of real CNNs (issue 15)
    c = app(nn.HardSigmoidOp.build(x, alpha=0.25, beta=0.4))
    c = app(nn.HardSwishOp.build(c))
    c = app(nn.SqrtOp.build(c))
    c = app(nn.ErfOp.build(c))
    c = app(nn.GeluOp.build(c, approximate="tanh"))
    c = app(nn.PowOp.build(c, const(g, np.float32(2.0))))
    c = app(nn.PReluOp.build(c, const(g, randn(3, 1, 1))))
    c = app(nn.LrnOp.build(c, size=3, alpha=2e-4, beta=0.5, bias=2.0))
    c = app(nn.ConvTranspose2dOp.build(c, const(g, randn(3, 2, 3, 3)), const(g, randn(6)),
                                       strides=[2, 2], pads=[1, 0, -1, 1], group=3,
                                       output_padding=[1, 0], dilations=[1, 2]))
    c = app(nn.SliceOp.build(c, starts=[0, 5, 0, 2], ends=[1, -1, 15, 16], steps=[1, -2, 3, 1]))
    c = app(nn.ResizeOp.build(c, sizes=[1, 3, 10, 7], scales=[1.0, 1.0, 2.0, 0.5],
                              mode="cubic", coordinate_mode="align_corners",
                              nearest_mode="ceil", cubic_coeff_a=-0.5, exclude_outside=True,
                              antialias=True))
    c = app(nn.ResizeOp.build(c, sizes=[1, 3, 20, 14], scales=[1.0, 1.0, 2.0, 2.0]))
    red = app(nn.ReduceMeanOp.build(c, axes=[1, 3], keepdims=False))
    # the ops of transformers (issue 16): i64 token ids, i1 masks
    ids = g.add_arg(TensorType((1, 4), i64), "input_ids")
    mask = g.add_arg(TensorType((1, 4), i1), "mask")
    emb = app(nn.GatherOp.build(const(g, randn(10, 6)), ids, axis=0))
    ge = app(nn.GatherElementsOp.build(emb, const(g, np.zeros((1, 2, 6), np.int32)), axis=1))
    ln = app(nn.LayerNormOp.build(emb, const(g, randn(6)), const(g, randn(6)), axis=2,
                                  epsilon=1e-12))
    ln = app(nn.LayerNormOp.build(ln, const(g, randn(4, 6)), None, axis=1))
    m = app(nn.LogicalNotOp.build(mask))
    m = app(nn.LogicalAndOp.build(m, const(g, np.array([True, False, True, True]))))
    m = app(nn.LogicalOrOp.build(m, mask))
    m = app(nn.LogicalXorOp.build(m, mask))
    one = const(g, np.int64(1))
    cmp = [app(cls.build(ids, one)) for cls in (nn.EqualOp, nn.LessOp, nn.LessEqualOp,
                                                nn.GreaterOp, nn.GreaterEqualOp)]
    m = app(nn.LogicalAndOp.build(m, cmp[0]))
    for k in cmp[1:]:
        m = app(nn.LogicalOrOp.build(m, k))
    fm = app(nn.CastOp.build(m, to=f32))
    im = app(nn.CastOp.build(fm, to=i64))
    wm = app(nn.WhereOp.build(m, const(g, np.float32(-3.4028234663852886e38)), fm))
    ex = app(nn.ExpandOp.build(app(nn.ReshapeOp.build(wm, shape=[1, 1, 1, 4])),
                               shape=[1, 2, 4, 1]))
    g.set_outputs([gm, gm2, dn, dn2, mm, mv, t, cat, pad, ap, red, ge, ln, im, ex],
                  ["gemm", "gemm2", "dense", "dense2", "mm", "mv", "t", "cat", "pad", "ap",
                   "red", "ge", "ln", "im", "ex"])
    return Module([g])


def test_every_nn_op_round_trips():
    module = all_ops_module()
    used = {op.name for op in module.walk()}
    missing = {n for n, cls in OP_REGISTRY.items() if cls.__module__ == nn.__name__} - used
    assert not missing, f"add these ops to all_ops_module: {sorted(missing)}"
    again = round_trip(module)
    assert_same_constants(module, again)
    for a, b in zip(module.main.ops, again.main.ops, strict=True):
        assert type(a) is type(b)
        assert a.attributes.keys() == b.attributes.keys()
        for k, va in a.attributes.items():
            if not isinstance(va, DenseAttr):
                assert b.attributes[k] == va and type(b.attributes[k]) is type(va), k
        assert [r.type for r in a.results] == [r.type for r in b.results]
        assert a.loc == b.loc
    assert again.main.input_names == ["x", "input:0", "input_ids", "mask"]
    assert again.main.output_names == module.main.output_names


def test_round_trip_without_locations():
    text = print_module(all_ops_module(), locations=False)
    assert "loc(" not in text
    again = parse_module(text)
    assert print_module(again, locations=False) == text


def test_parsed_module_prints_identically_twice():
    m = all_ops_module()
    assert print_module(m) == print_module(m)
    assert str(m) == print_module(m)


def test_several_graphs_round_trip():
    graphs = []
    for name in ("main", "helper", "a.b-c$"):
        g = Graph(name)
        a = g.add_arg(TensorType((2,), f32), "a")
        r = g.append(nn.ReluOp.build(a)).result
        g.set_outputs([r, a])
        graphs.append(g)
    again = round_trip(Module(graphs))
    assert list(again.graphs) == ["main", "helper", "a.b-c$"]
    assert again.graphs["helper"].output_names == ["output_0", "output_1"]


def test_empty_graph_and_graph_without_outputs():
    g = Graph("main")
    g.set_outputs([])
    round_trip(Module([g]))
    g = Graph("main")
    a = g.add_arg(TensorType((), f32), "a")
    g.set_outputs([a, a], ["first", "second"])
    again = round_trip(Module([g]))
    assert again.main.output_names == ["first", "second"]
    assert again.main.outputs == [again.main.args[0]] * 2


# --------------------------------------------------------------------------- element types


def test_all_element_types_as_args_and_constants():
    g = Graph("main")
    outs = []
    for name, et in ELEMENT_TYPES.items():
        outs.append(g.add_arg(TensorType((2, 3), et), f"arg_{name}"))
        dtype = et.numpy_dtype
        if dtype.kind == "f":
            small = np.array([[0.5, -1.25, 3.0], [1e-3, 0.0, 7.0]], dtype=dtype)
        elif dtype.kind == "b":  # i1
            small = np.array([[False, True, False], [True, True, False]])
        else:
            info = np.iinfo(dtype)
            small = np.array([[info.min, info.max, 0], [1, 2, 3]], dtype=dtype)
        outs.append(const(g, small, f"small_{name}"))
        outs.append(const(g, np.full((4, 5), small[0, 1], dtype=dtype), f"splat_{name}"))
        outs.append(const(g, (RNG.random((5, 7)) * 100).astype(dtype), f"big_{name}"))
        outs.append(const(g, np.zeros((), dtype=dtype) + 1, f"scalar_{name}"))
        outs.append(const(g, np.zeros((0, 3), dtype=dtype), f"empty_{name}"))
    g.set_outputs(outs)
    module = Module([g])
    text = print_module(module)
    assert 'dense<"0x' in text and "dense<[[" in text
    again = round_trip(module)
    assert_same_constants(module, again)
    assert [a.type for a in again.main.args] == [a.type for a in module.main.args]


def test_quantized_constants_and_args():
    q = UniformQuantType.make(i8, 0.05, -3)
    qn = UniformQuantType.make(u8, 0.5, 128, storage_min=1, storage_max=255)
    qa = UniformQuantPerAxisType.make(i8, 0, [0.1, 0.2, 0.3], storage_min=-127,
                                      storage_max=127)
    g = Graph("main")
    arg = g.add_arg(TensorType((1, 4), q), "xq")
    c1 = const(g, np.array([[-128, 0, 5, 127]], np.int8), "c1", element=q)
    c2 = const(g, np.full((2, 3), 200, np.uint8), "c2", element=qn)
    c3 = const(g, RNG.integers(-127, 128, (3, 4, 2)).astype(np.int8), "c3", element=qa)
    g.set_outputs([arg, c1, c2, c3])
    module = Module([g])
    again = round_trip(module)
    assert_same_constants(module, again)
    assert again.main.args[0].type == TensorType((1, 4), q)
    assert [c.type.element for c in constants(again)] == [q, qn, qa]


# --------------------------------------------------------------------------- float values

#: float32 bit patterns whose text is easy to get wrong
TRICKY_F32_BITS = [
    0x00000000, 0x80000000,  # +0.0, -0.0
    0x00000001, 0x80000001,  # smallest subnormals
    0x007FFFFF, 0x00800000,  # largest subnormal, smallest normal
    0x7F7FFFFF, 0xFF7FFFFF,  # +-max
    0x7F800000, 0xFF800000,  # +-inf
    0x7FC00000,  # canonical NaN
    0xFFC00000, 0x7FC00001, 0x7F800001, 0x7FBFFFFF,  # -NaN, NaN payloads, signalling NaNs
    0x3DCCCCCD,  # 0.1f
    0x4B800001,  # 16777218: above 2**24
    0x15AE43FD,  # 7.038531e-26: its shortest text rounds wrong through float64
    0x3F7FFFFF, 0x3F800001,  # neighbours of 1.0
]


def f32_from_bits(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def constant_module(*arrays: np.ndarray) -> Module:
    g = Graph("main")
    g.set_outputs([const(g, a) for a in arrays])
    return Module([g])


def assert_constants_round_trip(*arrays: np.ndarray, **print_kw) -> str:
    module = constant_module(*arrays)
    again = round_trip(module, **print_kw)
    assert_same_constants(module, again)
    for a, c in zip(arrays, constants(again), strict=True):
        assert c.data.tobytes() == np.ascontiguousarray(a).tobytes()
    return print_module(module)


def test_special_float_values_small_nested():
    values = np.array([math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-45, 3.4028235e38],
                      dtype=np.float32)
    text = assert_constants_round_trip(values)
    assert "dense<[nan, inf, -inf, -0.0, 0.0, 1e-45, 3.4028235e+38]>" in text


def test_special_float_splats():
    text = assert_constants_round_trip(
        np.full((3, 3), -0.0, np.float32), np.full((2,), 0.0, np.float32),
        np.full((20,), math.nan, np.float32), np.full((4,), -math.inf, np.float32),
        np.full((5,), math.inf, np.float64))
    for splat in ("dense<-0.0> : tensor<3x3xf32>", "dense<0.0> : tensor<2xf32>",
                  "dense<nan> : tensor<20xf32>", "dense<-inf> : tensor<4xf32>",
                  "dense<inf> : tensor<5xf64>"):
        assert splat in text


def test_special_float_values_large_hex():
    big = np.tile(f32_from_bits(TRICKY_F32_BITS), 3)
    text = assert_constants_round_trip(big)
    assert 'dense<"0x' in text


def test_tricky_float32_values_one_by_one():
    # each alone (nested/scalar form), in a small array, and as a splat
    for bits in TRICKY_F32_BITS:
        v = f32_from_bits([bits])
        assert_constants_round_trip(v, v.reshape(()), np.repeat(v, 4))


def test_nan_payloads_fall_back_to_hex():
    payload = f32_from_bits([0x3F800000, 0x7FC00001])
    text = assert_constants_round_trip(payload)
    assert 'dense<"0x0000803F0100C07F"> : tensor<2xf32>' in text


def test_non_splat_with_equal_values_but_different_bits():
    # 0.0 and -0.0 compare equal but are different constants
    assert_constants_round_trip(np.array([0.0, -0.0, 0.0], np.float32))
    assert_constants_round_trip(np.array([0.0] * 20 + [-0.0], np.float32))


def test_hex_constants_are_little_endian():
    text = assert_constants_round_trip(np.arange(20, dtype=np.int32))
    assert '"0x000000000100000002000000' in text


finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
any_f32_bits = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from(TRICKY_F32_BITS))


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.uint32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
                  elements=any_f32_bits))
def test_float32_bit_patterns_round_trip(bits):
    assert_constants_round_trip(bits.view(np.float32))


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 16), elements=finite_f32))
def test_float32_values_round_trip_as_decimals(values):
    text = assert_constants_round_trip(values)
    assert '"0x' not in text  # finite values of small constants print as decimals


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float16, np.float64, np.int8, np.uint8, np.int32, np.int64]),
       st.data())
def test_other_dtypes_round_trip_bit_identically(dtype, data):
    dtype = np.dtype(dtype)
    width = {1: 2**8, 2: 2**16, 4: 2**32, 8: 2**64}[dtype.itemsize]
    raw = data.draw(hnp.arrays(np.dtype(f"u{dtype.itemsize}"),
                               hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
                               elements=st.integers(0, width - 1)))
    assert_constants_round_trip(raw.view(dtype))


# --------------------------------------------------------------------------- locations


def loc_module(*locs) -> Module:
    g = Graph("main")
    a = g.add_arg(TensorType((2,), f32), "a")
    v = a
    for loc in locs:
        v = g.append(nn.ReluOp.build(v, loc=loc)).result
    g.set_outputs([v])
    return Module([g])


NASTY = ['plain', 'with "quotes"', "back\\slash", "new\nline", "tab\t", "\x00\x01\x1f\x7f",
         "caf\u00e9 \u2603", "\\n literally", '"', "", "a\u2028b\x85"]


@pytest.mark.parametrize("s", NASTY)
def test_strings_with_quotes_and_escapes_in_locations(s):
    locs = [OnnxLoc(s, s), FileLoc(s, 3, 7), FusedLoc((OnnxLoc("Conv", s), FileLoc(s, 1, 1)))]
    again = round_trip(loc_module(*locs))
    assert [op.loc for op in again.main.ops[:-1]] == locs


def test_fused_and_nested_locations():
    locs = [
        UNKNOWN,
        fuse_locs(OnnxLoc("Conv", "c"), OnnxLoc("Relu", "r")),
        FusedLoc((FileLoc("x.mlir", 1, 2), FusedLoc((UNKNOWN, OnnxLoc("A", "b"))))),
        FileLoc("model.onnx", 123456, 1),
    ]
    module = loc_module(*locs)
    module.main.return_op.loc = OnnxLoc("Return", "out")
    again = round_trip(module)
    assert [op.loc for op in again.main.ops] == [*locs, OnnxLoc("Return", "out")]
    text = print_module(module)
    assert 'loc(fused[onnx "Conv" "c", onnx "Relu" "r"])' in text


# --------------------------------------------------------------------------- names


def test_duplicate_name_hints_get_suffixes():
    g = Graph("main")
    x = g.add_arg(TensorType((2,), f32), "x")
    a = g.append(nn.ReluOp.build(x, name="x")).result
    b = g.append(nn.ReluOp.build(a, name="x")).result
    c = g.append(nn.ReluOp.build(b, name="x_1")).result
    g.set_outputs([c], ["y"])
    text = print_module(Module([g]))
    assert '%x_1 = "nn.relu"(%x)' in text
    assert '%x_2 = "nn.relu"(%x_1)' in text
    assert '%x_1_1 = "nn.relu"(%x_2)' in text
    again = round_trip(Module([g]))
    assert [r.name_hint for op in again.main.ops[:-1] for r in op.results] == \
        ["x_1", "x_2", "x_1_1"]


def test_unnamed_values_are_numbered_around_hints():
    g = Graph("main")
    x = g.add_arg(TensorType((2,), f32), "x")
    a = g.append(nn.ReluOp.build(x)).result
    b = g.append(nn.ReluOp.build(a, name="0")).result  # a hint that looks like a number
    c = g.append(nn.ReluOp.build(b)).result
    d = g.append(nn.ReluOp.build(c, name="weird name/with:chars")).result
    e = g.append(nn.ReluOp.build(d, name="")).result
    g.set_outputs([e])
    text = print_module(Module([g]))
    assert '%1 = "nn.relu"(%x)' in text
    assert '%0 = "nn.relu"(%1)' in text
    assert '%2 = "nn.relu"(%0)' in text
    assert '%weird_name_with_chars = "nn.relu"(%2)' in text
    assert '%3 = "nn.relu"(%weird_name_with_chars)' in text
    round_trip(Module([g]))


def test_public_names_differ_from_value_names():
    g = Graph("main")
    x = g.add_arg(TensorType((2,), f32), "input.1")
    y = g.add_arg(TensorType((2,), f32), "in put")
    r = g.append(nn.AddOp.build(x, y, name="sum")).result
    g.set_outputs([r, x], ["out:0", "input.1"])
    text = print_module(Module([g]))
    assert '%in_put: tensor<2xf32> {qcc.name = "in put"}' in text
    assert "%input.1: tensor<2xf32>," in text
    assert '(tensor<2xf32> {qcc.name = "out:0"}, tensor<2xf32>)' in text
    again = round_trip(Module([g]))
    assert again.main.input_names == ["input.1", "in put"]
    assert again.main.output_names == ["out:0", "input.1"]


# --------------------------------------------------------------------------- elision


def test_elided_constants_round_trip():
    big, small = randn(4, 8), randn(2, 2)
    module = constant_module(big, small, np.full((100,), 2.0, np.float32))
    text = print_module(module, elide_constants=True)
    assert text.count("dense_resource<__elided__>") == 2
    assert "dense<2.0> : tensor<100xf32>" not in text
    again = parse_module(text)
    assert print_module(again, elide_constants=True) == text
    # elided constants parse back without data; and stay elided when printed in full
    c = constants(again)
    assert c[0].data is None and c[0].elided and c[0].type == TensorType((4, 8), f32)
    assert c[2].data is None
    assert c[1].data.tobytes() == small.tobytes()
    assert print_module(again) == text
    assert c[0] != c[2] and c[0] != c[0]  # elided constants are not comparable
    # the elided module can be cloned and re-verified
    verify(again)
    assert print_module(again.clone()) == text


def test_elide_limit():
    module = constant_module(randn(3, 3))
    assert "__elided__" not in print_module(module, elide_constants=True)
    assert "__elided__" in print_module(module, elide_constants=True, elide_limit=8)
    text = print_module(module, elide_constants=True, elide_limit=8)
    assert print_module(parse_module(text)) == text


# --------------------------------------------------------------------------- golden files


def golden_files() -> list[Path]:
    return sorted(TESTS.rglob("*.mlir"))


def test_golden_files_exist_once_the_directory_does():
    golden = TESTS / "golden"
    if not golden.is_dir():
        pytest.skip("tests/golden does not exist yet")
    assert golden_files(), "tests/golden exists but no .mlir file was found under tests/"


@pytest.mark.parametrize("path", golden_files(),
                         ids=lambda p: str(p.relative_to(TESTS)))
def test_mlir_files_round_trip(path: Path):
    failures = []
    for chunk, start in split_input_file(path.read_text()):
        if "expected-error" in chunk or "module" not in chunk:
            continue
        # pad so that error messages give line numbers of the whole file
        text = "\n" * (start - 1) + chunk
        first = print_module(parse_module(text, str(path), verify=False))
        second = print_module(parse_module(first, f"{path} (printed)", verify=False))
        if first != second:
            failures.append(f"chunk at line {start} does not round-trip:\n{first}\n{second}")
    assert not failures, "\n".join(failures)
