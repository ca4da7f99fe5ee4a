"""Property tests of qcc's integer requantization against exact rational arithmetic.

The rounding qcc defines: x * M, with M = m * 2^(shift - 31) and m a 31-bit integer,
is the exact product rounded once to an integer, ties to even, saturated to int32.
Float -> int quantization rounds half to even, as ONNX QuantizeLinear.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qcc import quant_arith as qa

INT32 = st.integers(min_value=qa.INT32_MIN, max_value=qa.INT32_MAX)
SETTINGS = settings(max_examples=400, deadline=None)


def round_half_even(x: Fraction) -> int:
    return round(x)  # Fraction.__round__ rounds half to even


@SETTINGS
@given(st.floats(min_value=2.0 ** -31, max_value=2.0 ** 29, allow_nan=False))
def test_quantize_multiplier_is_accurate(real):
    m, shift = qa.quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    # the mantissa is rounded to 31 bits: error at most half a unit in the last place
    err = abs(Fraction(m) * Fraction(2) ** (shift - 31) - Fraction(real))
    assert err <= Fraction(2) ** (shift - 32)
    assert qa.multiplier_value(m, shift) == float(Fraction(m) * Fraction(2) ** (shift - 31))


def test_quantize_multiplier_edges():
    assert qa.quantize_multiplier(0.0) == (0, 0)
    assert qa.quantize_multiplier(2.0 ** -40) == (0, 0)  # flushed, as TFLite does
    assert qa.quantize_multiplier(0.5) == (1 << 30, 0)
    assert qa.quantize_multiplier(1.0) == (1 << 30, 1)
    for bad in (-1.0, math.inf, math.nan, 2.0 ** 31):
        try:
            qa.quantize_multiplier(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")


@SETTINGS
@given(INT32, st.integers(min_value=0, max_value=(1 << 31) - 1),
       st.integers(min_value=-31, max_value=30))
def test_multiply_by_quantized_multiplier_is_one_exact_rounding(x, m, shift):
    """Over the whole int32 range and every shift: round(x * m * 2^(shift-31)), ties
    to even, saturated to int32."""
    got = int(qa.multiply_by_quantized_multiplier(np.int64(x), m, shift))
    exact = Fraction(x * m) * Fraction(2) ** (shift - 31)
    assert got == min(max(round_half_even(exact), qa.INT32_MIN), qa.INT32_MAX)


@pytest.mark.parametrize(("x", "want"), [(1, 0), (3, 2), (5, 2), (-1, 0), (-3, -2), (-5, -2),
                                         (7, 4)])
def test_ties_go_to_even(x, want):
    # M = 1/2 exactly: m = 2^30, shift = 0
    assert int(qa.multiply_by_quantized_multiplier(np.int64(x), 1 << 30, 0)) == want


@SETTINGS
@given(INT32, st.floats(min_value=2.0 ** -20, max_value=0.999, allow_nan=False))
def test_requantized_value_is_within_half_a_unit_plus_multiplier_error(x, real):
    """Against the real multiplier, the only error beyond rounding is m's 31 bits."""
    m, shift = qa.quantize_multiplier(real)
    got = int(qa.multiply_by_quantized_multiplier(np.int64(x), m, shift))
    exact = Fraction(x) * Fraction(real)
    bound = Fraction(1, 2) + abs(Fraction(x)) * Fraction(2) ** (shift - 32)
    assert abs(got - exact) <= bound


@SETTINGS
@given(st.lists(INT32, min_size=1, max_size=50), st.floats(min_value=1e-6, max_value=0.99),
       st.integers(min_value=-128, max_value=127))
def test_requantize_matches_the_scalar_definition(xs, real, zp):
    m, shift = qa.quantize_multiplier(real)
    got = qa.requantize(np.array(xs, np.int64), m, shift, zp, -128, 127, np.int8)
    for x, g in zip(xs, got, strict=True):
        scaled = int(qa.multiply_by_quantized_multiplier(np.int64(x), m, shift)) + zp
        assert int(g) == min(max(scaled, -128), 127)
    assert got.dtype == np.int8


def test_per_channel_multipliers_broadcast():
    acc = np.arange(-6, 6, dtype=np.int64).reshape(2, 3, 2)
    ms = np.array([qa.quantize_multiplier(r)[0] for r in (0.5, 0.25, 0.125)]).reshape(1, 3, 1)
    sh = np.array([qa.quantize_multiplier(r)[1] for r in (0.5, 0.25, 0.125)]).reshape(1, 3, 1)
    got = qa.requantize(acc, ms, sh, 0, -128, 127, np.int8)
    want = np.array([[[-3, -2], [-1, -1], [0, 0]], [[0, 0], [0, 1], [0, 1]]])  # ties to even
    np.testing.assert_array_equal(got, want)


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0, np.nan], np.float32)
    got = qa.quantize(x, 1.0, 0, -128, 127, np.int8)
    np.testing.assert_array_equal(got, [0, 2, 2, 0, -2, 127, -128, 0])


@SETTINGS
@given(st.floats(min_value=-100, max_value=0), st.floats(min_value=0, max_value=100))
def test_zero_is_exactly_representable(lo, hi):
    for qmin, qmax in ((-128, 127), (0, 255)):
        scale, zp = qa.choose_scale_zero_point(lo, hi, qmin, qmax)
        assert qmin <= zp <= qmax and scale > 0
        assert qa.dequantize(np.array([zp]), scale, zp)[0] == 0.0
        q0 = qa.quantize(np.float32(0.0), scale, zp, qmin, qmax, np.int32)
        assert int(q0) == zp


def test_symmetric_zero_points():
    assert qa.choose_scale_zero_point(-1, 2, -127, 127, symmetric=True) == (2 / 127, 0)
    assert qa.choose_scale_zero_point(-1, 2, -128, 127, symmetric=True)[1] == 0
    assert qa.choose_scale_zero_point(-1, 2, 0, 255, symmetric=True)[1] == 128


def _exact_requantize(x: int, m: int, shift: int, zp: int, lo: int, hi: int) -> int:
    scaled = min(max(round_half_even(Fraction(x * m) * Fraction(2) ** (shift - 31)),
                     qa.INT32_MIN), qa.INT32_MAX)
    return min(max(scaled + zp, lo), hi)


@settings(max_examples=1500, deadline=None)
@given(st.integers(min_value=1 << 30, max_value=(1 << 31) - 1),
       st.integers(min_value=-31, max_value=30), st.integers(min_value=-300, max_value=300),
       st.integers(min_value=-3, max_value=3), st.integers(min_value=-128, max_value=127),
       st.sampled_from([(-128, 127), (0, 255), (0, 127), (-128, -100)]),
       st.sampled_from([np.int64, np.float64]))
def test_requantize_is_exact_next_to_halfway_points(m, shift, k, delta, zp, bounds, dtype):
    """requantize takes the product in float64 where that is exact (shifts of at most
    52 - E bits for outputs within 2^E of the zero point: 44 for 8-bit outputs):
    accumulators placed at, and one or a few units either
    side of, the halfway points k + 1/2 round exactly as the rational definition,
    given as int64 or as float64 (the simulator's accumulators)."""
    n = 31 - shift
    x0 = round(Fraction((2 * k + 1) << max(n - 1, 0), m * (1 << max(1 - n, 0))))
    xs = [min(max(x0 + delta + d, qa.INT32_MIN), qa.INT32_MAX) for d in (-1, 0, 1)]
    lo, hi = bounds
    got = qa.requantize(np.array(xs, dtype), m, shift, zp, lo, hi, np.int16)
    assert [int(g) for g in got] == [_exact_requantize(x, m, shift, zp, lo, hi) for x in xs]


@SETTINGS
@given(st.lists(INT32, min_size=1, max_size=20),
       st.integers(min_value=1 << 30, max_value=(1 << 31) - 1),
       st.integers(min_value=-31, max_value=30), st.integers(min_value=-128, max_value=255),
       st.sampled_from([(-128, 127), (0, 255), (qa.INT32_MIN, qa.INT32_MAX)]))
def test_requantize_over_the_int32_range(xs, m, shift, zp, bounds):
    """Both ways of computing requantize (float64 product where exact, 64-bit integers
    elsewhere, e.g. for wide output ranges) agree with the rational definition."""
    lo, hi = bounds
    got = qa.requantize(np.array(xs, np.int64), m, shift, zp, lo, hi, np.int64)
    assert [int(g) for g in got] == [_exact_requantize(x, m, shift, zp, lo, hi) for x in xs]


@SETTINGS
@given(st.sampled_from([np.int8, np.uint8]), st.sampled_from([np.int8, np.uint8]),
       st.integers(min_value=-128, max_value=255), st.integers(min_value=-128, max_value=255),
       st.integers(min_value=-128, max_value=127),
       st.lists(st.floats(min_value=1e-4, max_value=0.9), min_size=3, max_size=3),
       st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_add_of_bytes_looks_up_the_direct_computation(ta, tb, zp_a, zp_b, zp_out, reals,
                                                      seed):
    """add_quantized of two 8-bit arrays (a table of all 65,536 code pairs) gives what
    the 64-bit computation gives code by code, broadcasting included."""
    mults, shifts = zip(*(qa.quantize_multiplier(r) for r in reals), strict=True)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8).view(ta)
    b = rng.integers(0, 256, (1, 4, 1), dtype=np.uint8).view(tb)
    args = (zp_a, zp_b, zp_out, mults, shifts, -128, 127, np.int8, qa.ADD_LEFT_SHIFT)
    got = qa.add_quantized(a, b, *args)
    want = qa._add_quantized(a.astype(np.int64), b.astype(np.int64), *args)
    assert got.dtype == np.int8 and got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=600, deadline=None)
@given(st.integers(min_value=1 << 30, max_value=(1 << 31) - 1),
       st.integers(min_value=-31, max_value=30), st.integers(min_value=-300, max_value=300),
       st.integers(min_value=-128, max_value=127), st.integers(min_value=-40, max_value=40),
       st.sampled_from([((-128, 127), np.int8), ((0, 255), np.uint8), ((0, 127), np.int8)]))
def test_requantizer_writes_what_requantize_defines(m, shift, k, zp, offset, bounds):
    """Requantizer (the simulator's activate) gives the rational definition's integers
    for accumulators at and next to halfway points, offset by a per-column bias,
    written into an int8/uint8 view, whether it takes the float64 path (shifts of at
    most 44 bits for these outputs) or the 64-bit one."""
    (lo, hi), dtype = bounds
    n = 31 - shift
    x0 = round(Fraction((2 * k + 1) << max(n - 1, 0), m * (1 << max(1 - n, 0))))
    xs = [min(max(x0 + d, qa.INT32_MIN + 64), qa.INT32_MAX - 64) for d in (-1, 0, 1, 7)]
    acc = np.array([[x - offset for x in xs]] * 3, np.int32)  # 3 rows x 4 columns
    bias = np.full(6, offset, np.float64)  # more parameter columns than acc has
    out = np.zeros((5, 8), dtype)[1:4, 2:6]
    requantizer = qa.Requantizer(np.full(6, m), np.full(6, shift), zp, lo, hi)
    requantizer(out, acc, bias[:4], slice(0, 4))
    want = [_exact_requantize(x, m, shift, zp, lo, hi) for x in xs]
    assert out.tolist() == [want] * 3


def test_requantizer_blocks_of_rows_cover_every_row():
    """A destination larger than one block of rows (and a scalar offset, as for an
    activate reading the Unified Buffer) is written completely and in order."""
    rng = np.random.default_rng(5)
    rows = 3 * (qa._BLOCK_ELEMENTS // 64) + 17
    acc = rng.integers(-2**20, 2**20, (rows, 64)).astype(np.int32)
    m = rng.integers(1 << 30, 1 << 31, 64)
    shift = rng.integers(-12, -6, 64)
    out = np.zeros((rows, 64), np.int8)
    qa.Requantizer(m, shift, 5, -128, 127)(out, acc, -3)
    want = qa.requantize(acc.astype(np.int64) - 3, m, shift, 5, -128, 127, np.int8)
    np.testing.assert_array_equal(out, want)


def _round_shift_exact(p: int, n: int) -> int:
    q, r = divmod(p, 1 << n)  # floor division, 0 <= r < 2^n
    half = 1 << (n - 1)
    return q + (1 if r > half or (r == half and q & 1) else 0)


@pytest.mark.parametrize(("lo", "hi", "zp"), [(-128, 127, -128), (-128, 127, 0), (0, 255, 0),
                                              (0, 127, 0), (-128, 127, 127), (-3, 3, 0),
                                              (0, 300, 0), (-200, 311, 0)])
def test_float_requantize_at_the_longest_shift_it_allows(lo, hi, zp):
    """At the longest shift the float64 path takes (n = 52 - E, E the bit length of
    the output's largest distance from the zero point), every accumulator at and next
    to every halfway point that the clamp keeps rounds as the exact definition, and
    one bit more is refused."""
    span = max(abs(lo - zp), abs(hi - zp))
    n = 52 - span.bit_length()
    shift = 31 - n
    assert qa._float_requantize_is_exact(np.zeros(1, np.int32), shift, zp, lo, hi)
    assert not qa._float_requantize_is_exact(np.zeros(1, np.int32), shift - 1, zp, lo, hi)
    rng = np.random.default_rng(span)
    for m in [1 << 30, (1 << 31) - 1, *rng.integers(1 << 30, 1 << 31, 40).tolist()]:
        xs = []
        for k in range(lo - zp, hi - zp):
            x0 = ((2 * k + 1) << (n - 1)) // m
            xs += [x for x in range(x0 - 1, x0 + 3) if qa.INT32_MIN <= x <= qa.INT32_MAX]
        got = qa.requantize(np.array(xs, np.int64), m, shift, zp, lo, hi, np.int64)
        want = [min(max(_round_shift_exact(x * m, n) + zp, lo), hi) for x in xs]
        assert got.tolist() == want
