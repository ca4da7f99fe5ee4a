"""Integer quantization arithmetic: the one definition qcc's interpreter and the TPU
simulator share.

Affine quantization: ``real = scale * (q - zero_point)``.

Requantization takes an int32 accumulator to int8/uint8 with integers only, as in
gemmlowp and TFLite (Jacob et al. 2018):

- a real multiplier ``M = s_in / s_out`` (for a conv: ``s_x * s_w / s_y``) becomes a
  Q31 fixed-point multiplier ``m`` in ``[2^30, 2^31)`` and a power-of-two ``shift``
  with ``M ~= m * 2^(shift - 31)`` (:func:`quantize_multiplier`);
- ``x * M`` is computed as ``RoundingDivideByPOT(SRDHM(x * 2^max(shift, 0), m),
  max(-shift, 0))`` (:func:`multiply_by_quantized_multiplier`): TFLite's default
  "double rounding". SRDHM rounds half up (toward +inf) and saturates the single
  overflow case; the rounding shift rounds half away from zero. This is the rounding
  qcc defines; it differs from exact rational rounding by at most one unit, and only
  near ties (see tests/quant for the property tests that pin it down).
- then the output zero point is added and the result clamped to ``[lo, hi]`` (the
  storage range, narrowed by a fused ReLU / ReLU6 / Clip).

Float -> int quantization (:func:`quantize`) rounds half to even, as ONNX
QuantizeLinear does, and saturates.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
#: ranges narrower than this (the smallest normal float32) quantize with scale 1.0
_MIN_RANGE = float(np.finfo(np.float32).tiny)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(m, shift) with ``real ~= m * 2^(shift - 31)``, ``m`` in [2^30, 2^31) (or 0).

    TFLite's QuantizeMultiplier: ``frexp`` then rounding of the mantissa to 31 bits;
    multipliers below 2^-31 flush to zero. Raises ValueError for a negative or
    non-finite multiplier, or one of 2^31 or more.
    """
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    m = round(q * (1 << 31))  # Python's round of an exact binary float: half to even
    if m == 1 << 31:
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"requantization multiplier {real} is too large (>= 2^30)")
    return int(m), int(shift)


def multiplier_value(m: int, shift: int) -> float:
    """The real number a (m, shift) pair stands for."""
    return math.ldexp(m, shift - 31)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SRDHM on int32 values: round(a * b / 2^31), ties toward +inf; the one
    overflow case (INT32_MIN * INT32_MIN) saturates to INT32_MAX."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C++ '/' truncates toward zero; numpy '//' floors: correct for negatives
    res = np.where(total >= 0, total >> 31, -((-total) >> 31))
    return np.where(overflow, INT32_MAX, res).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero
    (0 <= exponent <= 31)."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, m: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """x * m * 2^(shift - 31) in TFLite's double-rounding integer arithmetic.

    ``x`` holds int32 values; ``m`` and ``shift`` broadcast against it (per-channel
    requantization passes arrays shaped to the channel axis). The left shift must
    keep ``x`` in int32 (it does for requantization, where shift <= 0 is usual);
    values are saturated to int32 before the multiply, as a 32-bit machine would.
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(x << left, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m), right)


def requantize(acc: np.ndarray, m: np.ndarray | int, shift: np.ndarray | int,
               zero_point: int, lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
    """int32 accumulator -> clamp(zero_point + acc * M, lo, hi) as ``dtype``."""
    scaled = multiply_by_quantized_multiplier(acc, m, shift) + zero_point
    return np.clip(scaled, lo, hi).astype(dtype)


def quantize(x: np.ndarray, scale: np.ndarray | float, zero_point: np.ndarray | int,
             lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
    """Float -> integer: saturate(round_half_even(x / scale) + zero_point), computed
    in float32 as ONNX QuantizeLinear specifies."""
    x = np.asarray(x, dtype=np.float32)
    scaled = np.rint(x / np.asarray(scale, dtype=np.float32))
    q = scaled.astype(np.float64) + np.asarray(zero_point, dtype=np.float64)
    q = np.where(np.isnan(q), 0.0, q)
    return np.clip(q, lo, hi).astype(dtype)


def dequantize(q: np.ndarray, scale: np.ndarray | float,
               zero_point: np.ndarray | int) -> np.ndarray:
    """Integer -> float32: (q - zero_point) * scale, as ONNX DequantizeLinear does."""
    diff = np.asarray(q, dtype=np.int32) - np.asarray(zero_point, dtype=np.int32)
    return diff.astype(np.float32) * np.asarray(scale, dtype=np.float32)


def choose_scale_zero_point(lo: float, hi: float, qmin: int, qmax: int,
                            symmetric: bool = False) -> tuple[float, int]:
    """Scale and zero point for the real range [lo, hi] so that real 0 is exact.

    The range is first widened to contain 0. Symmetric: zero point at the middle of
    the storage range (0 for int8 [-127, 127] / [-128, 127], 128 for uint8) and scale
    max(|lo|, |hi|) / ((qmax - qmin) / 2). Asymmetric: scale (hi - lo) / (qmax - qmin)
    and the zero point nudged to the nearest integer (so [lo, hi] shifts slightly).
    A zero-width range gets scale 1.0.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"range [{lo}, {hi}] is not finite")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if symmetric:
        bound = max(-lo, hi)
        half = (qmax - qmin) / 2
        scale = bound / half if bound >= _MIN_RANGE else 1.0
        # the middle of the storage range, ties to even: 0 for int8, 128 for uint8
        return float(scale), int(np.round((qmax + qmin) / 2))
    if hi - lo < _MIN_RANGE:  # empty or denormal range: any scale represents it
        return 1.0, int(min(max(0, qmin), qmax))
    scale = (hi - lo) / (qmax - qmin)
    zero_point = qmin - lo / scale
    zero_point = int(min(max(round(zero_point), qmin), qmax))
    return float(scale), zero_point
