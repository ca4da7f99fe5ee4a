"""Property tests of qcc's integer requantization against exact rational arithmetic.

The rounding qcc defines (TFLite's default, gemmlowp's primitives):
- SRDHM(a, b) = round(a * b / 2^31) with ties toward +inf, saturating only for
  INT32_MIN * INT32_MIN;
- RoundingDivideByPOT(x, e) = round(x / 2^e) with ties away from zero;
- x * M = RoundingDivideByPOT(SRDHM(x * 2^max(s, 0), m), max(-s, 0)) for M = m * 2^(s - 31)
  ("double rounding"): within one unit of the exact round(x * M), and exactly the
  exact value whenever the first rounding is exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qcc import quant_arith as qa

INT32 = st.integers(min_value=qa.INT32_MIN, max_value=qa.INT32_MAX)
SETTINGS = settings(max_examples=400, deadline=None)


def round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def round_half_away(x: Fraction) -> int:
    return int(math.copysign(math.floor(abs(x) + Fraction(1, 2)), x)) if x else 0


@SETTINGS
@given(INT32, INT32)
def test_srdhm_is_exact_round_half_up(a, b):
    got = int(qa.saturating_rounding_doubling_high_mul(np.int64(a), np.int64(b)))
    if a == b == qa.INT32_MIN:
        assert got == qa.INT32_MAX
    else:
        assert got == round_half_up(Fraction(a * b, 1 << 31))


@SETTINGS
@given(INT32, st.integers(min_value=0, max_value=31))
def test_rounding_divide_by_pot_is_round_half_away_from_zero(x, e):
    got = int(qa.rounding_divide_by_pot(np.int64(x), e))
    assert got == round_half_away(Fraction(x, 1 << e))


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
@given(INT32, st.floats(min_value=2.0 ** -20, max_value=0.999, allow_nan=False))
def test_multiply_by_quantized_multiplier_within_one_of_exact(x, real):
    m, shift = qa.quantize_multiplier(real)
    got = int(qa.multiply_by_quantized_multiplier(np.int64(x), m, shift))
    exact = Fraction(x) * m * Fraction(2) ** (shift - 31)
    # the documented double rounding, composed from the exact primitives
    first = round_half_up(Fraction(x * m, 1 << 31))
    assert shift <= 0  # multipliers below 1 never shift left
    assert got == round_half_away(Fraction(first, 1 << -shift))
    assert abs(got - exact) <= 1
    if Fraction(x * m, 1 << 31).denominator == 1:  # first rounding exact: single rounding
        assert got == round_half_away(exact)


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
    want = np.array([[[-3, -2], [-1, -1], [0, 0]], [[0, 1], [1, 1], [1, 1]]])
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
