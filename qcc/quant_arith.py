"""Integer quantization arithmetic: the one definition qcc's interpreter and the TPU
simulator share.

Affine quantization: ``real = scale * (q - zero_point)``.

Requantization takes an int32 accumulator to int8/uint8 with integers only, as in
gemmlowp and TFLite (Jacob et al. 2018):

- a real multiplier ``M = s_in / s_out`` (for a conv: ``s_x * s_w / s_y``) becomes a
  Q31 fixed-point multiplier ``m`` in ``[2^30, 2^31)`` and a power-of-two ``shift``
  with ``M ~= m * 2^(shift - 31)`` (:func:`quantize_multiplier`);
- ``x * M`` is the exact 64-bit product ``x * m`` shifted right by ``31 - shift``
  bits with one rounding, ties to even (:func:`multiply_by_quantized_multiplier`).
  qcc chooses one rounding (TFLite's default rounds twice: SRDHM, then a rounding
  shift, and the first rounding moves about 0.1% of outputs across a tie) and ties
  to even (the rounding of ONNX QuantizeLinear, so an integer graph agrees with the
  fake-quantized graph it came from even where the real result is exactly halfway,
  which rational scale ratios make common, e.g. in average pooling). The only
  approximation left is ``m``'s 31 bits; property tests in tests/quant pin this down.
- then the output zero point is added and the result clamped to ``[lo, hi]`` (the
  storage range, narrowed by a fused ReLU / ReLU6 / Clip).

Float -> int quantization (:func:`quantize`) rounds half to even, as ONNX
QuantizeLinear does, and saturates; NaN becomes code 0 and +-Inf the ends of the
storage range (:func:`nonfinite_warning` words the warning both engines print when a
model input holds them).

int32 overflow, the one rule of the interpreter and the simulator: a layer's int32
value (``sum((x - zx) * (w - zw)) + bias`` of ``quant.dense`` / ``quant.conv2d``, the
window sums of average pooling) must fit int32, or the run stops with
:func:`accumulator_overflow_message` (:func:`int32_overflow` finds the value). How an
engine reaches that value may leave int32 on the way (the TPU folds the input zero
point into the bias and multiplies raw bytes, in passes): two's complement sums are
exact modulo 2^32, so intermediate wrap-around cannot change a value that fits, and
the simulator checks the layer's value alone, where ``activate`` reads it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from qcc import fast

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


def multiply_by_quantized_multiplier(x: np.ndarray, m: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """round(x * m * 2^(shift - 31)), ties to even, saturated to int32.

    One rounding of the exact 64-bit product ``p = x * m`` by ``n = 31 - shift``
    bits: ``floor(p / 2^n)``, plus one when the remainder is more than half, or
    exactly half and the floor is odd. ``x`` holds int32 values and ``m`` < 2^31, so
    ``p`` fits in int64. ``m`` and ``shift`` broadcast against ``x`` (per-channel
    requantization passes arrays shaped to the channel axis).
    """
    return np.clip(_rounding_shift(x, m, shift), INT32_MIN, INT32_MAX)


def _rounding_shift(x: np.ndarray, m: np.ndarray | int, shift: np.ndarray | int
                    ) -> np.ndarray:
    """multiply_by_quantized_multiplier without the saturation.

    With ``p = f * 2^n + r`` (``0 <= r < 2^n``, ``f`` = floor), adding ``half - 1``
    plus ``f``'s lowest bit before the shift carries into ``f`` exactly when
    ``r > half``, or ``r == half`` and ``f`` is odd: the rounding above in four array
    operations (``|p| < 2^62`` and ``half <= 2^61``, so nothing overflows).
    """
    n = 31 - np.asarray(shift, dtype=np.int64)
    if np.any(n < 1) or np.any(n > 62):
        raise ValueError("requantization shift must be in [-31, 30]")
    p = np.asarray(x, dtype=np.int64) * np.asarray(m, dtype=np.int64)
    odd = (p >> n) & 1
    p += (np.int64(1) << (n - 1)) - 1
    p += odd
    p >>= n
    return p


def requantize(acc: np.ndarray, m: np.ndarray | int, shift: np.ndarray | int,
               zero_point: int, lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
    """int32 accumulator -> clamp(zero_point + acc * M, lo, hi) as ``dtype``.

    ``acc`` holds integers, as an integer array or as float64 (the simulator's
    accumulators). Where :func:`_float_requantize_is_exact` says so, the product is
    taken in float64, which gives the same integers as the 64-bit definition with
    fewer passes over memory.
    """
    if _float_requantize_is_exact(acc, shift, zero_point, lo, hi):
        y = np.asarray(acc, np.float64) * _multiplier_array(m, shift)
        np.rint(y, out=y)  # ties to even
        y += zero_point
        return np.clip(y, lo, hi, out=y).astype(dtype)
    scaled = _rounding_shift(acc, m, shift)
    scaled += zero_point
    # saturating to int32 before adding the zero point, then clamping to [lo, hi], is
    # one clamp to the intersection of the two ranges (when they meet)
    first, last = max(lo, INT32_MIN + zero_point), min(hi, INT32_MAX + zero_point)
    if first <= last:
        return np.clip(scaled, first, last, out=scaled).astype(dtype)
    return np.clip(np.clip(scaled, INT32_MIN + zero_point, INT32_MAX + zero_point),
                   lo, hi).astype(dtype)


#: elements per block of Requantizer: its float64 scratch (512 KiB) stays in cache
_BLOCK_ELEMENTS = 1 << 16


class Requantizer:
    """:func:`requantize` with its per-column parameters prepared once (for a layer's
    activation table), writing straight into its destination.

    ``requantizer(out, acc, offset)`` sets ``out[...] = requantize(acc + offset, ...)``
    for 2-D ``acc`` holding int32 values (any integer dtype, or float64) and ``offset``
    int32 values (per column, or a scalar; float64 is fine and saves a conversion),
    ``out`` an int8 or uint8 array or view of ``acc``'s shape. ``columns`` picks the
    parameters' columns when ``acc`` has fewer than they do. Where
    :func:`_float_requantize_is_exact` allows it, the product is taken in float64 in
    blocks of rows whose scratch stays in the processor's cache, so its five passes do
    not each go through main memory; otherwise in 64-bit integers.
    """

    def __init__(self, m: np.ndarray | int, shift: np.ndarray | int, zero_point: int,
                 lo: int, hi: int):
        self.m, self.shift = np.asarray(m, np.int64), np.asarray(shift, np.int64)
        self.zero_point, self.lo, self.hi = zero_point, lo, hi
        self.float_exact = _float_requantize_is_exact(np.zeros(0, np.int32), self.shift,
                                                      zero_point, lo, hi)
        self.multiplier = _multiplier_array(self.m, self.shift) if self.float_exact else None

    def __call__(self, out: np.ndarray, acc: np.ndarray, offset: np.ndarray | int,
                 columns: slice = slice(None)) -> None:
        if not (self.float_exact and (acc.dtype.kind in "iu" or acc.dtype == np.float64)):
            x = np.asarray(acc, np.int64) + np.asarray(offset).astype(np.int64)
            m = self.m[columns] if self.m.ndim else self.m
            shift = self.shift[columns] if self.shift.ndim else self.shift
            out[...] = requantize(x, m, shift, self.zero_point, self.lo, self.hi, out.dtype)
            return
        multiplier = self.multiplier[columns] if self.multiplier.ndim else self.multiplier
        # clamping before adding the (integer) zero point is the same clamp
        zp = float(self.zero_point)
        lo, hi = float(self.lo) - zp, float(self.hi) - zp
        if acc.ndim == 2 and np.ndim(offset) <= 1 and fast.enabled():
            # the same float64 operations in one compiled pass (qcc/fast.py); the loop
            # writes as it reads, so an ``out`` over ``acc``'s memory (an activate
            # writing over its own inputs) reads a copy, as the blocks below read
            # every row of a block before writing it
            if np.may_share_memory(acc, out):
                acc = acc.copy()
            fast.requantize_float(out, acc, offset, multiplier, lo, hi, zp)
            return
        for r0, r1, y in _row_blocks(acc.shape, _BLOCK_ELEMENTS, np.float64):
            np.add(acc[r0:r1], offset, out=y, dtype=np.float64)  # exact
            y *= multiplier
            np.rint(y, out=y)  # ties to even
            np.clip(y, lo, hi, out=y)
            # integers in out's range: the sum and the cast are exact
            np.add(y, zp, out=out[r0:r1], casting="unsafe")


def prelu(centered: np.ndarray, m: np.ndarray | int, shift: np.ndarray | int,
          m_neg: np.ndarray | int, shift_neg: np.ndarray | int, zero_point: int,
          lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
    """Integer PRelu (TFLite's int8 PRELU arithmetic): ``centered = q - z_in`` at or
    above zero is rescaled by ``M = s_in / s_out`` (``m``, ``shift``), below zero by
    ``|M_neg| = s_in * |slope| / s_out`` (``m_neg`` carries the slope's sign:
    negative for a negative slope, whose products are negated after rounding); then
    ``zero_point`` is added and the result clamped to [lo, hi]. ``m_neg`` and
    ``shift_neg`` broadcast against ``centered`` (one per channel)."""
    m_neg = np.asarray(m_neg, np.int64)
    pos = requantize(centered, m, shift, zero_point, lo, hi, np.int64)
    neg = multiply_by_quantized_multiplier(centered, np.abs(m_neg), shift_neg)
    neg = np.clip(np.where(m_neg < 0, -neg, neg) + zero_point, lo, hi)
    return np.where(centered >= 0, pos, neg).astype(dtype)


def _row_blocks(shape: tuple[int, int], elements: int, dtype: type):
    """Blocks of rows of a 2-D ``shape`` of about ``elements`` elements each:
    (first row, end row, scratch array of that many rows, reused from block to block)."""
    rows, cols = shape
    step = max(1, elements // max(1, cols))
    scratch = np.empty((min(step, rows), cols), dtype)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        yield r0, r1, scratch[:r1 - r0]


def _float_requantize_is_exact(acc: np.ndarray, shift: np.ndarray | int, zero_point: int,
                               lo: int, hi: int) -> bool:
    """Whether ``rint(float64(acc) * M)`` rounds every element the way the exact
    definition does, for the outputs that survive the clamp.

    With ``n = 31 - shift``, ``v = acc * M`` is a multiple of 2^-n, so a ``v`` that is
    not exactly halfway between two integers is at least 2^-n away from halfway. Only
    the halfway points ``h = k + 1/2`` whose two neighbours clamp to different outputs
    matter: ``lo <= k + zp`` and ``k + 1 + zp <= hi``, so ``|h| <= S - 1/2`` with
    ``S = max(|lo - zp|, |hi - zp|)``, and a ``v`` within 2^-n of one has
    ``|v| < S < 2^E``, ``E`` the bit length of ``S``. There the one float64 rounding of
    the product is off by less than one unit in the last place, 2^(E - 53), which is
    at most 2^-n when ``n <= 52 - E``: it never reaches or crosses a halfway point. An
    exact halfway ``v`` (at most E + 1 significant bits) is computed exactly. Larger
    ``|v|`` clamp to the same bound either way. For 8-bit outputs ``S <= 255``, so
    shifts by up to 44 bits qualify. ``acc`` holds int32 values (as for
    :func:`multiply_by_quantized_multiplier`), exact in float64 whatever its dtype.
    """
    a = np.asarray(acc)
    if a.dtype.kind == "f" and a.dtype != np.float64:
        return False
    if a.dtype.kind not in "iuf" or a.dtype.itemsize > 8:
        return False
    span = max(abs(lo - zero_point), abs(hi - zero_point))
    if span >= 1 << 9:
        return False
    n = 31 - np.asarray(shift, dtype=np.int64)
    return bool(np.all(n >= 1) and np.all(n <= 52 - span.bit_length()))


def _multiplier_array(m: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """M = m * 2^(shift - 31) exactly, as float64 (m has 31 bits)."""
    return np.ldexp(np.asarray(m, np.float64), np.asarray(shift, np.int64) - 31)


def int32_overflow(values: np.ndarray) -> int | None:
    """The element of ``values`` (integers, any dtype; float64 holding integers is
    fine) farthest outside int32, or None when every element fits."""
    a = np.asarray(values)
    if not a.size:
        return None
    hi, lo = int(a.max()), int(a.min())
    above, below = hi - INT32_MAX, INT32_MIN - lo
    if above <= 0 and below <= 0:
        return None
    return hi if above >= below else lo


def accumulator_overflow_message(value: int) -> str:
    """What the interpreter and the simulator say when a layer's int32 value, ``value``,
    leaves int32 (they add where: the ONNX node, or the instruction and layer)."""
    return (f"int32 accumulator overflow: a sum reaches {value}, outside "
            f"[{INT32_MIN}, {INT32_MAX}]; the integer program cannot represent this "
            "layer's sums for this input")


def nonfinite_warning(name: str, x: np.ndarray) -> str | None:
    """The warning for float values about to be quantized that are not finite (None
    when all are): NaN quantizes to code 0, +-Inf saturate (:func:`quantize`). The
    interpreter's ``quant.quantize`` and the TPU host's input quantization both print
    it, so the two report the same inputs the same way."""
    a = np.asarray(x)
    if a.dtype.kind != "f" or not a.size:
        return None
    finite = np.isfinite(a)
    if finite.all():
        return None
    bad = a.size - int(np.count_nonzero(finite))
    nans = int(np.count_nonzero(np.isnan(a)))
    return (f"input '{name}' has {bad} non-finite value(s) ({nans} NaN, {bad - nans} Inf): "
            "NaN quantizes to code 0 and +-Inf to the ends of the storage range")


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


#: bits the inputs of a quantized add are shifted left before rescaling (TFLite: 20)
ADD_LEFT_SHIFT = 20


def add_quantized(a: np.ndarray, b: np.ndarray, zp_a: int, zp_b: int, zp_out: int,
                  multipliers: tuple[int, int, int], shifts: tuple[int, int, int],
                  lo: int, hi: int, dtype: np.dtype,
                  left_shift: int = ADD_LEFT_SHIFT) -> np.ndarray:
    """TFLite's int8 ADD: each input minus its zero point, shifted left, rescaled to a
    common scale; the sum rescaled to the output, plus its zero point, clamped."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype in _BYTES and b.dtype in _BYTES:
        # two 8-bit inputs: every pair of codes is computed once, then looked up
        table = _add_table(a.dtype.char, b.dtype.char, zp_a, zp_b, zp_out, tuple(multipliers),
                           tuple(shifts), lo, hi, np.dtype(dtype).char, left_shift)
        return table[(a.view(np.uint8).astype(np.uint16) << 8) | b.view(np.uint8)]
    return _add_quantized(a, b, zp_a, zp_b, zp_out, multipliers, shifts, lo, hi, dtype,
                          left_shift)


_BYTES = (np.dtype(np.int8), np.dtype(np.uint8))
#: elements per block of add_quantized_into: its uint16 indices (512 KiB) stay in cache
_ADD_BLOCK_ELEMENTS = 1 << 18


def add_quantized_into(out: np.ndarray, a: np.ndarray, b: np.ndarray, zp_a: int, zp_b: int,
                       zp_out: int, multipliers: tuple[int, int, int],
                       shifts: tuple[int, int, int], lo: int, hi: int,
                       left_shift: int = ADD_LEFT_SHIFT) -> None:
    """``out[...] = add_quantized(a, b, ...)`` for 2-D 8-bit ``a``, ``b`` and ``out``
    (``out``'s dtype is the output type): the table of every pair of codes looked up
    in blocks of rows whose indices stay in the processor's cache."""
    if a.dtype not in _BYTES or b.dtype not in _BYTES:
        out[...] = add_quantized(a, b, zp_a, zp_b, zp_out, multipliers, shifts, lo, hi,
                                 out.dtype, left_shift)
        return
    table = _add_table(a.dtype.char, b.dtype.char, zp_a, zp_b, zp_out, tuple(multipliers),
                       tuple(shifts), lo, hi, out.dtype.char, left_shift)
    a, b = a.view(np.uint8), b.view(np.uint8)
    for r0, r1, index in _row_blocks(a.shape, _ADD_BLOCK_ELEMENTS, np.uint16):
        np.left_shift(a[r0:r1], 8, out=index, dtype=np.uint16)
        np.bitwise_or(index, b[r0:r1], out=index)
        np.take(table, index, out=out[r0:r1])


def _add_quantized(a, b, zp_a, zp_b, zp_out, multipliers, shifts, lo, hi, dtype,
                   left_shift):
    (ma, mb, mo), (sa, sb, so) = multipliers, shifts
    xa = multiply_by_quantized_multiplier((a.astype(np.int64) - zp_a) << left_shift, ma, sa)
    xb = multiply_by_quantized_multiplier((b.astype(np.int64) - zp_b) << left_shift, mb, sb)
    return requantize(xa + xb, mo, so, zp_out, lo, hi, dtype)


@functools.lru_cache(maxsize=64)
def _add_table(a_type: str, b_type: str, *params) -> np.ndarray:
    """add_quantized of every pair of 8-bit codes, indexed by (a's byte << 8) | b's byte."""
    codes = np.arange(256, dtype=np.uint8)
    a = np.repeat(codes, 256).view(np.dtype(a_type))
    b = np.tile(codes, 256).view(np.dtype(b_type))
    table = _add_quantized(a, b, *params[:7], np.dtype(params[7]), params[8])
    table.flags.writeable = False
    return table
