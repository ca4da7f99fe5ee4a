"""The ``quant`` dialect: calibration statistics, quantize/dequantize, and the
integer ops that fold-rescale produces.

Element types are MLIR quant types (``qcc.ir.types``). Integer tensors hold storage
integers; their quant type says what real numbers they stand for.

- ``quant.stats``: identity on f32 that carries the calibrated range of its value.
- ``quant.quantize`` / ``quant.dequantize``: f32 <-> quantized (round half to even,
  saturating; ``(q - zp) * scale``), as ONNX QuantizeLinear / DequantizeLinear.
- ``quant.conv2d`` / ``quant.dense``: int8 x int8 products summed in int32 plus an
  int32 bias, result typed ``!quant.uniform<i32:f32, s_x*s_w>`` (per axis when the
  weights are per channel).
- ``quant.requantize``: int32 (or any quantized int) -> int8/uint8 with a Q31
  multiplier and shift per tensor or per channel (``qcc.quant_arith``), the output
  zero point, and clamp bounds (where ReLU and ReLU6 end up).
- ``quant.add``: the sum of two quantized tensors of different scales, TFLite style.
"""

from __future__ import annotations

import math

from qcc.dialects import nn
from qcc.ir.attributes import Float, Floats, Int, Ints
from qcc.ir.core import Op, VerifyError, attr, operand, register_op, result
from qcc.ir.traits import (
    Accumulates,
    Clamped,
    Elementwise,
    HasWeights,
    IntegerForm,
    Pool,
)
from qcc.ir.types import (
    FloatType,
    QuantType,
    TensorType,
    UniformQuantPerAxisType,
    UniformQuantType,
    i32,
)
from qcc.quant_arith import ADD_LEFT_SHIFT, quantize_multiplier

# --------------------------------------------------------------------------- helpers


def quant_element(t, what: str) -> QuantType:
    if not isinstance(t, TensorType) or not isinstance(t.element, QuantType):
        raise VerifyError(f"{what} must be a quantized tensor, got {t}")
    return t.element


def channel_scales(e: QuantType, channels: int) -> list[float]:
    """Scales per channel (a per-tensor scale repeated)."""
    if isinstance(e, UniformQuantPerAxisType):
        return list(e.scales)
    return [e.scale] * channels


def zero_points(e: QuantType) -> tuple[int, ...]:
    return e.zero_points if isinstance(e, UniformQuantPerAxisType) else (e.zero_point,)


def accumulator_type(x: QuantType, w: QuantType, channels: int, axis: int) -> QuantType:
    """The int32 type of sum(x * w): scale s_x * s_w (per channel if w is)."""
    if isinstance(x, UniformQuantPerAxisType):
        raise VerifyError("activations must be quantized per tensor")
    if isinstance(w, UniformQuantPerAxisType):
        return UniformQuantPerAxisType.make(i32, axis, [x.scale * s for s in w.scales],
                                            expressed=x.expressed)
    return UniformQuantType.make(i32, x.scale * w.scale, 0, x.expressed)


def requant_params(in_scales: list[float], out_scale: float | list[float]
                   ) -> tuple[list[int], list[int]]:
    """(multipliers, shifts) for rescaling each input scale to the output scale (or
    to each channel's output scale)."""
    ms, shifts = [], []
    outs = out_scale if isinstance(out_scale, list) else [out_scale] * len(in_scales)
    for s, o in zip(in_scales, outs, strict=True):
        m, sh = quantize_multiplier(s / o)
        ms.append(m)
        shifts.append(sh)
    return ms, shifts


# --------------------------------------------------------------------------- ops


@register_op
class StatsOp(Op):
    """Identity that records the calibrated real range [min, max] of its f32 operand."""

    name = "quant.stats"
    traits = (Elementwise(),)
    input = operand()
    output = result()
    min = attr(Float)
    max = attr(Float)
    #: an optional attribute ``lane_absmax`` (floats, calibrate{outlier-channels}): the
    #: max |x| per index of the last axis; quantize then gives the tensor one scale
    #: per channel there

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return [operand_types[0]]

    def verify_(self) -> None:
        if not self.min <= self.max or not (math.isfinite(self.min)
                                            and math.isfinite(self.max)):
            raise VerifyError(f"range [{self.min}, {self.max}] is not a finite interval")
        super().verify_()


@register_op
class QuantizeOp(Op):
    """f32 -> quantized: saturate(round_half_even(x / scale) + zero_point)."""

    name = "quant.quantize"
    traits = (Elementwise(),)
    input = operand()
    output = result()

    def verify_(self) -> None:
        x, y = self.input.type, self.output.type
        e = quant_element(y, "result")
        if not isinstance(x, TensorType) or not isinstance(x.element, FloatType):
            raise VerifyError(f"operand must be a float tensor, got {x}")
        if x.shape != y.shape or x.element != e.expressed:
            raise VerifyError(f"{x} cannot be quantized to {y}")
        _check_axis(e, y)


@register_op
class DequantizeOp(Op):
    """quantized -> f32: (q - zero_point) * scale."""

    name = "quant.dequantize"
    traits = (Elementwise(),)
    input = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        t = operand_types[0]
        e = quant_element(t, "operand")
        _check_axis(e, t)
        return [t.with_element(e.expressed)]


def _check_axis(e: QuantType, t: TensorType) -> None:
    if isinstance(e, UniformQuantPerAxisType) and (
            e.axis >= t.rank or t.shape[e.axis] != len(e.scales)):
        raise VerifyError(f"per-axis quantization on axis {e.axis} does not fit {t}")


def _check_bias(bias_t, acc: QuantType, channels: int) -> None:
    b = quant_element(bias_t, "bias")
    if bias_t.shape != (channels,) or b.storage != i32:
        raise VerifyError(f"bias must be i32 of shape [{channels}], got {bias_t}")
    if any(z != 0 for z in zero_points(b)) or not _same_scales(b, acc, channels):
        raise VerifyError(f"bias type {b} must have zero point 0 and the scale of the "
                          f"accumulator {acc}")


def _same_scales(a: QuantType, b: QuantType, channels: int) -> bool:
    return all(math.isclose(p, q, rel_tol=1e-12) for p, q in
               zip(channel_scales(a, channels), channel_scales(b, channels), strict=True))


@register_op
class Conv2dOp(nn.Conv2dSchema):
    """Integer 2-D convolution: sum((x - z_x) * (w - z_w)) + bias in int32.

    Padding is with x's zero point (real zero). Operands and attributes as
    ``nn.conv2d`` (``nn.Conv2dSchema``).
    """

    name = "quant.conv2d"
    traits = (HasWeights(weight_axis=0, output_axis=1), Accumulates(),
              IntegerForm(nn.Conv2dOp))

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = quant_element(operand_types[0], "input")
        w = quant_element(operand_types[1], "weight")
        shape = nn.Conv2dOp.infer_types(operand_types[:2], attrs)[0].shape
        if isinstance(w, UniformQuantPerAxisType) and w.axis != 0:
            raise VerifyError("per-channel conv weights must be quantized along axis 0")
        acc = accumulator_type(x, w, shape[1], 1)
        if len(operand_types) == 3:
            _check_bias(operand_types[2], acc, shape[1])
        return [TensorType(shape, acc)]


@register_op
class DenseOp(nn.DenseSchema):
    """Integer fully-connected: (x - z_x) @ (w - z_w) + bias in int32; w is [K, N].
    Operands as ``nn.dense`` (``nn.DenseSchema``)."""

    name = "quant.dense"
    traits = (HasWeights(weight_axis=1, output_axis=-1), Accumulates(),
              IntegerForm(nn.DenseOp))

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = quant_element(operand_types[0], "input")
        w = quant_element(operand_types[1], "weight")
        shape = nn.DenseOp.infer_types(operand_types[:2], attrs)[0].shape
        if isinstance(w, UniformQuantPerAxisType) and w.axis != 1:
            raise VerifyError("per-channel dense weights must be quantized along axis 1")
        acc = accumulator_type(x, w, shape[-1], len(shape) - 1)
        if len(operand_types) == 3:
            _check_bias(operand_types[2], acc, shape[-1])
        return [TensorType(shape, acc)]


@register_op
class RequantizeOp(Op):
    """Rescale a quantized integer tensor to a per-tensor int8/uint8 type:
    clamp(z_out + (q - z_in) * M, clamp_min, clamp_max), with M = s_in / s_out as
    ``multiplier`` (Q31) and ``shift`` per tensor or per channel of the input."""

    name = "quant.requantize"
    traits = (Elementwise(), Clamped(), IntegerForm())
    input = operand()
    output = result()
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)

    def verify_(self) -> None:
        t_in, t_out = self.input.type, self.output.type
        e_in = quant_element(t_in, "operand")
        e_out = quant_element(t_out, "result")
        if isinstance(e_out, UniformQuantPerAxisType) and (
                e_out.axis != t_out.rank - 1 or len(set(e_out.zero_points)) != 1 or
                (isinstance(e_in, UniformQuantPerAxisType) and e_in.axis != e_out.axis)):
            raise VerifyError(f"a per-channel result is quantized along the last axis with "
                              f"one zero point (and an input per tensor or per channel of "
                              f"that axis), got {e_out}")
        if t_in.shape != t_out.shape:
            raise VerifyError(f"shapes differ: {t_in} and {t_out}")
        try:
            ms, shifts = requantize_params(e_in, e_out)
        except ValueError as e:
            raise VerifyError(str(e)) from None
        if list(self.multiplier) != ms or list(self.shift) != shifts:
            raise VerifyError(f"multiplier {list(self.multiplier)} and shift "
                              f"{list(self.shift)} do not rescale {e_in} to {e_out} "
                              f"(expected {ms} and {shifts})")
        if not e_out.storage_min <= self.clamp_min <= self.clamp_max <= e_out.storage_max:
            raise VerifyError(f"clamp [{self.clamp_min}, {self.clamp_max}] is not inside the "
                              f"storage range of {e_out}")

    @staticmethod
    def make(value, out_type: TensorType, clamp: tuple[int, int] | None = None,
             loc=None, name: str | None = None) -> RequantizeOp:
        """A requantize of ``value`` to ``out_type`` with derived multipliers."""
        from qcc.diagnostics import UNKNOWN, QccError

        e_in = value.type.element
        e_out = out_type.element
        try:
            ms, shifts = requantize_params(e_in, e_out)
        except ValueError as e:  # a scale ratio no 31-bit multiplier and shift can hold
            raise QccError(f"cannot requantize {value.type} to {out_type}: {e}",
                           loc or UNKNOWN) from None
        lo, hi = clamp or (e_out.storage_min, e_out.storage_max)
        return RequantizeOp.build(value, result_types=[out_type], loc=loc or UNKNOWN,
                                  name=name, multiplier=ms, shift=shifts, clamp_min=lo,
                                  clamp_max=hi)




def requantize_params(e_in: QuantType, e_out: QuantType) -> tuple[list[int], list[int]]:
    """quant.requantize's multipliers and shifts: one, or one per channel when either
    side is quantized per channel (the result along the last axis)."""
    channels = max(len(e.scales) if isinstance(e, UniformQuantPerAxisType) else 1
                   for e in (e_in, e_out))
    out = channel_scales(e_out, channels) if isinstance(e_out, UniformQuantPerAxisType) \
        else e_out.scale
    return requant_params(channel_scales(e_in, channels), out)


def output_zero_point(e: QuantType) -> int:
    """The zero point of a result: per tensor, or the one all channels share."""
    return e.zero_points[0] if isinstance(e, UniformQuantPerAxisType) else e.zero_point


def _check_int8_io(t_in: TensorType, t_out: TensorType) -> None:
    """Operand and result quantized per tensor to 8 bits."""
    for t, what in ((t_in, "operand"), (t_out, "result")):
        e = quant_element(t, what)
        if not isinstance(e, UniformQuantType) or e.storage.width != 8:
            raise VerifyError(f"{what} must be quantized per tensor to 8 bits, got {t}")


def _check_clamp(op: Op, t_out: TensorType) -> None:
    """``clamp_min``/``clamp_max`` within the result's storage range."""
    e = t_out.element
    if not e.storage_min <= op.clamp_min <= op.clamp_max <= e.storage_max:
        raise VerifyError(f"clamp [{op.clamp_min}, {op.clamp_max}] is not inside "
                          f"the storage range of {e}")


def add_params(a: UniformQuantType, b: UniformQuantType,
               out: UniformQuantType) -> tuple[list[int], list[int]]:
    """TFLite's ADD: both inputs to a common scale 2*max(s_a, s_b) / 2^20, the sum to
    the output scale. Returns ([m_a, m_b, m_out], [shift_a, shift_b, shift_out])."""
    twice_max = 2 * max(a.scale, b.scale)
    reals = [a.scale / twice_max, b.scale / twice_max,
             twice_max / ((1 << ADD_LEFT_SHIFT) * out.scale)]
    pairs = [quantize_multiplier(r) for r in reals]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@register_op
class AddOp(Op):
    """Sum of two per-tensor quantized tensors (broadcasting) into a third type:
    each input, minus its zero point and shifted left 20 bits, is rescaled to a
    common scale; the sum is rescaled to the output and clamped."""

    name = "quant.add"
    traits = (Elementwise(), Clamped(), IntegerForm(nn.AddOp))
    lhs = operand()
    rhs = operand()
    output = result()
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)

    def verify_(self) -> None:
        a = quant_element(self.lhs.type, "lhs")
        b = quant_element(self.rhs.type, "rhs")
        out = quant_element(self.output.type, "result")
        for e in (a, b, out):
            if not isinstance(e, UniformQuantType):
                raise VerifyError(f"operands and result must be quantized per tensor, got {e}")
        shape = nn.broadcast_shapes(self.lhs.type.shape, self.rhs.type.shape)
        if shape != self.output.type.shape:
            raise VerifyError(f"result shape {self.output.type.shape} is not the broadcast "
                              f"shape {shape}")
        ms, shifts = add_params(a, b, out)
        if list(self.multiplier) != ms or list(self.shift) != shifts:
            raise VerifyError(f"multiplier/shift do not match the operand types (expected "
                              f"{ms} and {shifts})")
        if not out.storage_min <= self.clamp_min <= self.clamp_max <= out.storage_max:
            raise VerifyError("clamp bounds are outside the result's storage range")


def is_quantized(t) -> bool:
    return isinstance(t, TensorType) and isinstance(t.element, QuantType)


def _pool_accumulator(t: TensorType, shape: tuple[int, ...], count: int) -> TensorType:
    e = quant_element(t, "input")
    if not isinstance(e, UniformQuantType):
        raise VerifyError("input must be quantized per tensor")
    return TensorType(shape, UniformQuantType.make(i32, e.scale / count, 0, e.expressed))


@register_op
class AvgPoolOp(nn.AvgPoolSchema):
    """Integer average pooling, exact: the int32 sum of ``q - z`` over each window,
    typed with scale ``s / (KH * KW)`` so that it stands for the average; a
    requantize follows. Only for windows that all count KH * KW positions: no
    padding, or padding counted (``count_include_pad``) without ceil_mode windows.
    Operands and attributes as ``nn.avg_pool`` (``nn.AvgPoolSchema``)."""

    name = "quant.avg_pool"
    traits = (Pool(), Accumulates(), IntegerForm(nn.AvgPoolOp))

    @classmethod
    def infer_types(cls, operand_types, attrs):
        shape = nn.AvgPoolOp.infer_types(operand_types, attrs)[0].shape
        if not has_constant_window(operand_types[0].shape, shape, attrs):
            raise VerifyError("windows must all count kernel-size positions")
        kh, kw = attrs["kernel"]
        return [_pool_accumulator(operand_types[0], shape, kh * kw)]


def has_constant_window(in_shape, out_shape, attrs) -> bool:
    """Whether every window of an average pool divides by KH * KW."""
    if any(attrs["pads"]) and not attrs["count_include_pad"]:
        return False
    p, (kh, kw), (sh, sw) = attrs["pads"], attrs["kernel"], attrs["strides"]
    return ((out_shape[2] - 1) * sh + kh <= in_shape[2] + p[0] + p[2]
            and (out_shape[3] - 1) * sw + kw <= in_shape[3] + p[1] + p[3])


@register_op
class GlobalAvgPoolOp(nn.GlobalAvgPoolSchema):
    """Integer mean over H and W, exact: the int32 sum of ``q - z`` typed with scale
    ``s / (H * W)``; a requantize follows. Operands as ``nn.global_avg_pool``."""

    name = "quant.global_avg_pool"
    traits = (Pool(), Accumulates(), IntegerForm(nn.GlobalAvgPoolOp))

    @classmethod
    def infer_types(cls, operand_types, attrs):
        t = operand_types[0]
        shape = nn.GlobalAvgPoolOp.infer_types(operand_types, attrs)[0].shape
        return [_pool_accumulator(t, shape, math.prod(t.shape[2:]))]


def window_counts(in_hw, out_hw, kernel, strides, pads,
                  count_include_pad: bool = False) -> list[list[int]]:
    """The divisor of each window of an average pool, [OH][OW]: the window's input
    positions, or its input and explicit-pad positions (``count_include_pad``); never
    the positions past the pads that ceil_mode adds."""
    per_axis = []
    for a in range(2):
        lo, hi = (-pads[a], in_hw[a] + pads[a + 2]) if count_include_pad else \
            (0, in_hw[a])
        starts = [i * strides[a] - pads[a] for i in range(out_hw[a])]
        per_axis.append([max(0, min(s + kernel[a], hi) - max(s, lo)) for s in starts])
    return [[r * c for c in per_axis[1]] for r in per_axis[0]]


@register_op
class AvgPoolValidOp(nn.AvgPoolSchema):
    """Integer average pooling whose windows count different numbers of positions
    (padding not counted, ``count_include_pad = 0``; or ceil_mode windows), exact: the
    int32 sum of ``q - z`` over each window (padding adds nothing), requantized to the
    8-bit result with the multiplier of the window's count ``n``, ``M_n = s_in / (n *
    s_out)``: ``clamp(z_out + sum * M_n)``. ``counts`` lists the counts that occur
    (ascending), ``multiplier`` and ``shift`` one entry per count. Operands and pool
    attributes as ``nn.avg_pool``."""

    name = "quant.avg_pool_valid"
    traits = (Clamped(),)
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)
    counts = attr(Ints)

    @staticmethod
    def params(in_type: TensorType, out_type: TensorType, attrs) -> dict:
        """counts, multiplier and shift for pooling ``in_type`` into ``out_type``."""
        grid = window_counts(in_type.shape[2:], out_type.shape[2:], attrs["kernel"],
                             attrs["strides"], attrs["pads"], attrs["count_include_pad"])
        counts = sorted({n for row in grid for n in row})
        if counts and counts[0] == 0:
            raise ValueError("a window holds no position to average")
        s_in = quant_element(in_type, "operand").scale
        ms, shifts = requant_params([s_in / n for n in counts],
                                    quant_element(out_type, "result").scale)
        return dict(counts=counts, multiplier=ms, shift=shifts)

    def verify_(self) -> None:
        t_in, t_out = self.input.type, self.output.type
        _check_int8_io(t_in, t_out)
        shape = nn.AvgPoolOp.infer_types([t_in], self.attributes)[0].shape
        if t_out.shape != shape:
            raise VerifyError(f"result shape {t_out.shape} is not the pool's {shape}")
        try:
            want = self.params(t_in, t_out, self.attributes)
        except ValueError as e:
            raise VerifyError(str(e)) from None
        got = {k: list(self.attributes[k]) for k in want}
        if got != want:
            raise VerifyError(f"counts, multiplier and shift {got} do not average "
                              f"{t_in} into {t_out} (expected {want})")
        _check_clamp(self, t_out)


@register_op
class PReluOp(Op):
    """Integer PRelu of an 8-bit per-tensor tensor by constant slopes (one, or one per
    channel of axis 1), TFLite's int8 PRELU arithmetic (``quant_arith.prelu``):
    ``q - z_in >= 0`` rescales by ``multiplier``/``shift`` (``s_in / s_out``), below
    zero by ``negative_multiplier``/``negative_shift`` (``s_in * |slope| / s_out``, the
    multiplier negated for a negative slope); then ``z_out`` and the clamp. ``slope``
    keeps the real slopes the multipliers come from."""

    name = "quant.prelu"
    traits = (Elementwise(), Clamped(), IntegerForm())
    input = operand()
    output = result()
    slope = attr(Floats)
    multiplier = attr(Ints)
    shift = attr(Ints)
    negative_multiplier = attr(Ints)
    negative_shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)

    @staticmethod
    def params(in_type: TensorType, out_type: TensorType, slope) -> dict:
        """multiplier, shift, negative_multiplier and negative_shift for ``slope``."""
        s_in = quant_element(in_type, "operand").scale
        s_out = quant_element(out_type, "result").scale
        m, sh = quantize_multiplier(s_in / s_out)
        neg_m, neg_sh = [], []
        for a in slope:
            mn, shn = quantize_multiplier(s_in * abs(a) / s_out)
            neg_m.append(-mn if a < 0 else mn)
            neg_sh.append(shn)
        return dict(multiplier=[m], shift=[sh], negative_multiplier=neg_m,
                    negative_shift=neg_sh)

    def verify_(self) -> None:
        t_in, t_out = self.input.type, self.output.type
        _check_int8_io(t_in, t_out)
        if t_in.shape != t_out.shape:
            raise VerifyError(f"shapes differ: {t_in} and {t_out}")
        n = len(self.slope)
        if n != 1 and (t_in.rank < 2 or t_in.shape[1] != n):
            raise VerifyError(f"{n} slopes for {t_in}: one, or one per channel of axis 1")
        try:
            want = self.params(t_in, t_out, self.slope)
        except ValueError as e:
            raise VerifyError(str(e)) from None
        got = {k: list(self.attributes[k]) for k in want}
        if got != want:
            raise VerifyError(f"multipliers and shifts {got} do not rescale {t_in} to "
                              f"{t_out} with slopes {list(self.slope)} (expected {want})")
        _check_clamp(self, t_out)
