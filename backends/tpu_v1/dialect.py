"""The ``tpu`` dialect: what the TPU-v1 does per layer, between the integer graph and
the instruction stream (docs/tpu-dialect.md).

The backend's passes build and annotate these ops in three steps:

- ``tpu-lower`` (lower.py) rewrites ``quant.*`` ops into ``tpu.*`` ops carrying
  their tile plan: a ``tpu.matmul`` or ``tpu.conv2d`` is a layer's matrix passes
  over 256x256 weight tiles with the requantization that empties the accumulators
  fused in (``k_tiles`` input-lane blocks, ``n_tiles`` output tiles, rows in chunks
  of ``row_chunk``, convolutions one tap per pass or ``taps_per_row`` taps packed
  into one 256-lane row; ``tiles`` weight tiles per output tile after empty
  block-diagonal tiles are dropped). Weights are int8 constants; the bias operand is
  the int32 bias with the input zero point folded in, ``b - zx * sum(w)``.
- ``tpu-plan-memory`` (plan.py) adds placements: ``ub`` (first Unified Buffer row
  of the result), ``acc`` (accumulator base of every row chunk, in order),
  ``weight_tile`` (first tile of the op in the weight image), ``tables`` and
  ``slots`` (activation-table records in the weight image and the table slot each
  is loaded into), ``host`` (byte offset of a host transfer).
- ``tpu-schedule`` (schedule.py) adds ``tpu.sync`` barriers and the weight
  prefetch: a sync's ``prefetch`` lists the tiles read before it (a layer's first
  weights are fetched while the previous layer runs) and the layer's
  ``prefetched`` says how many of its first reads that took.

Emission (emit.py) is the only place instructions are made; it reads these ops and
their attributes and nothing else. Values are the integer tensors of the quant
dialect (``!quant.uniform<i8...>`` rows in the Unified Buffer).
"""

from __future__ import annotations

from typing import ClassVar

from qcc.backends.tpu_v1.isa import FUNCTIONS
from qcc.backends.tpu_v1.program import lane_axis
from qcc.ir.attributes import Bool, Int, Ints, Str
from qcc.ir.core import Op, VerifyError, attr, operand, register_op, result
from qcc.ir.traits import Unit
from qcc.ir.types import TensorType, UniformQuantPerAxisType, UniformQuantType

#: the nonlinearities the activation unit computes by table (the ISA's function codes)
TABLE_FUNCTIONS = tuple(name for name in FUNCTIONS if name not in ("none", "prelu"))

#: the unit that does an op's work (the compile report's "unit" column)
MXU = "MXU"
ACTIVATION = "activation unit"
POOL = "pool unit"
ADDER = "vector adder"
HOST = "host"
NOTHING = "nothing"
CONTROL = "control"


def _int8(t, what: str, per_lane: bool = False) -> UniformQuantType:
    """The 8-bit quantized element type of ``t``; with ``per_lane``, one scale per lane
    (per channel of the lane axis, one zero point) is allowed too: the activation
    unit's per-lane multipliers produce it (calibrate{outlier-channels})."""
    if per_lane and isinstance(t, TensorType) and \
            isinstance(t.element, UniformQuantPerAxisType) and \
            t.element.storage.width == 8 and t.element.axis == lane_axis(t.rank) and \
            len(set(t.element.zero_points)) == 1:
        return t.element
    if not isinstance(t, TensorType) or not isinstance(t.element, UniformQuantType) or \
            t.element.storage.width != 8:
        raise VerifyError(f"{what} must be a per-tensor 8-bit quantized tensor, got {t}")
    return t.element


class TpuOp(Op):
    """Base of the tpu ops: the unit that runs them (a ``Unit`` trait) and a one-line
    note for the compile report."""

    traits = (Unit(NOTHING),)
    note: ClassVar[str] = ""

    @property
    def unit(self) -> str:
        """The unit that runs the op (its ``Unit`` trait)."""
        return self.trait(Unit).name

    #: whether the result (and for a transfer the operand) may have one scale per lane
    PER_LANE: ClassVar[bool] = False

    def verify_(self) -> None:
        for v in self.operands[:1]:
            _int8(v.type, "operand", self.PER_LANE and isinstance(self, WriteHostOp))
        for r in self.results:
            _int8(r.type, "result", self.PER_LANE)
        defs = type(self).attr_defs
        if "multiplier" in defs:
            m, sh = self.attributes["multiplier"], self.attributes["shift"]
            want = (3,) if isinstance(self, AddOp) else (1, self._channels())
            if m and len(m) not in want:
                raise VerifyError(f"multiplier has {len(m)} entries; "
                                  f"{' or '.join(map(str, want))} expected")
            if len(sh) != len(m):
                raise VerifyError(f"{len(m)} multipliers but {len(sh)} shifts")
            if m and self.results:
                e = self.results[0].type.element
                lo, hi = self.attributes["clamp_min"], self.attributes["clamp_max"]
                if not e.storage.min <= lo <= hi <= e.storage.max:
                    raise VerifyError(f"clamp [{lo}, {hi}] is not an interval within the "
                                      f"result's {e.storage.min}..{e.storage.max}")
        self._verify_placements()
        super().verify_()

    #: placement attributes (tpu-plan-memory, tpu-schedule) and their kinds
    PLACEMENTS: ClassVar[dict[str, str]] = {"ub": "int", "host": "int", "weight_tile": "int",
                                            "prefetched": "int", "acc": "ints",
                                            "tables": "ints", "slots": "ints"}

    def _verify_placements(self) -> None:
        for key, kind in self.PLACEMENTS.items():
            if key not in self.attributes or key in type(self).attr_defs:
                continue
            v = self.attributes[key]
            values = [v] if kind == "int" else v
            if (kind == "ints" and not isinstance(v, list | tuple)) or any(
                    isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in values):
                what = "a non-negative integer" if kind == "int" else \
                    "a list of non-negative integers"
                raise VerifyError(f"placement '{key}' must be {what}, got {v!r}")

    def describe(self) -> str:
        """The compile report's note on where and how the op runs."""
        return self.note

    def _channels(self) -> int:
        if not self.results:
            return 0
        t = self.results[0].type
        return t.shape[lane_axis(t.rank)]


@register_op
class ReadHostOp(TpuOp):
    """Host memory -> Unified Buffer: a program input (quantized by the host), or a
    host segment's result that a TPU op reads (partition.py)."""

    name = "tpu.read_host"
    traits = (Unit(HOST),)
    note = "host -> Unified Buffer"
    input = operand()
    output = result()
    tensor = attr(Str, doc="the program input's or host tensor's name")

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return [operand_types[0]]


@register_op
class HostInputOp(Op):
    """A program input the host keeps in host memory as it is given (token ids, a
    mask, a float input that no quantize reads): only host segments read it; it
    never enters the Unified Buffer. The binary describes it with its own dtype
    (f32, i64, i32, i1), stored C-order."""

    name = "tpu.host_input"
    input = operand()
    output = result()
    tensor = attr(Str, doc="the program input's name")

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return [operand_types[0]]


@register_op
class HostTensorOp(HostInputOp):
    """A host segment's result that a later host segment reads (partition.py): the
    host keeps it in host memory as it is (a float mask, a float residual)."""

    name = "tpu.host_tensor"


@register_op
class WriteHostOp(TpuOp):
    """Unified Buffer -> host memory: a program output (dequantized by the host), or a
    value a host segment reads (partition.py)."""

    name = "tpu.write_host"
    traits = (Unit(HOST),)
    note = "Unified Buffer -> host"
    PER_LANE = True
    input = operand()
    output = result()
    tensor = attr(Str, doc="the program output's or host tensor's name")

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return [operand_types[0]]


@register_op
class MatmulOp(TpuOp):
    """A dense layer: [rows, K] x [K, N] int8 products in the matrix unit, bias,
    requantize and clamp in the activation unit."""

    name = "tpu.matmul"
    traits = (Unit(MXU),)
    note = "matrix passes; bias, requantize, clamp in the activation unit"
    PER_LANE = True
    input = operand()
    weight = operand()
    bias = operand()
    output = result()
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)
    k_tiles = attr(Int)
    n_tiles = attr(Int)
    row_chunk = attr(Int)

    def verify_(self) -> None:
        x, y = self.input.type, self.output.type
        k, n = self.weight.type.shape
        if x.shape[-1] != k or y.shape[-1] != n or self.bias.type.shape != (n,):
            raise VerifyError(f"{x} x {self.weight.type} -> {y} (bias "
                              f"{self.bias.type}) does not multiply")
        super().verify_()


@register_op
class Conv2dOp(TpuOp):
    """A convolution as matrix passes over filter taps (``taps_per_row`` > 1: that
    many taps packed into one 256-lane row), bias, requantize and clamp fused."""

    name = "tpu.conv2d"
    traits = (Unit(MXU),)
    note = "matrix passes; bias, requantize, clamp in the activation unit"
    input = operand()
    weight = operand()
    bias = operand()
    output = result()
    strides = attr(Ints)
    pads = attr(Ints)
    dilations = attr(Ints)
    group = attr(Int)
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)
    taps_per_row = attr(Int)
    k_tiles = attr(Int)
    n_tiles = attr(Int)
    row_chunk = attr(Int)
    tiles = attr(Ints, doc="weight tiles per output tile (empty block-diagonal tiles "
                           "dropped)")

    @property
    def depthwise(self) -> bool:
        return self.group > 1 and self.weight.type.shape[1] == 1

    def describe(self) -> str:
        packing = f"{self.taps_per_row} taps per row" if self.taps_per_row > 1 else \
            "one tap per pass"
        kind = "depthwise: block-diagonal tiles; " if self.depthwise else ""
        return f"{kind}{packing}; bias, requantize, clamp in the activation unit"

    def verify_(self) -> None:
        if len(self.tiles) != self.n_tiles:
            raise VerifyError(f"tiles has {len(self.tiles)} entries for {self.n_tiles} "
                              "output tiles")
        super().verify_()


@register_op
class PoolOp(TpuOp):
    """Pooling in the pool unit: ``kind = "max"`` straight to the Unified Buffer, or
    ``"avg"``: window sums into the accumulators, then requantize (the average's 1/n
    is in the multiplier)."""

    name = "tpu.pool"
    traits = (Unit(POOL),)
    input = operand()
    output = result()
    kind = attr(Str)
    kernel = attr(Ints)
    strides = attr(Ints)
    pads = attr(Ints)
    dilations = attr(Ints, default=(1, 1))
    row_chunk = attr(Int)
    multiplier = attr(Ints, default=())
    shift = attr(Ints, default=())
    clamp_min = attr(Int, default=0)
    clamp_max = attr(Int, default=0)

    def verify_(self) -> None:
        if self.kind not in ("max", "avg"):
            raise VerifyError(f"kind '{self.kind}' is not max or avg")
        if self.kind == "avg" and not self.multiplier:
            raise VerifyError("an average pool needs its requantization")
        super().verify_()

    def describe(self) -> str:
        return "max pool" if self.kind == "max" else \
            "window sums into the accumulators; requantize in the activation unit"


@register_op
class AddOp(TpuOp):
    """Elementwise sum of two int8 tensors of different scales in the vector adder
    (quant.add's fixed-point arithmetic)."""

    name = "tpu.add"
    traits = (Unit(ADDER),)
    lhs = operand()
    rhs = operand()
    output = result()
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)

    def verify_(self) -> None:
        if self.lhs.type.shape != self.rhs.type.shape:
            raise VerifyError(f"{self.lhs.type} + {self.rhs.type}: the vector adder does "
                              "not broadcast")
        super().verify_()


@register_op
class ActivateOp(TpuOp):
    """Requantize an int8 tensor from the Unified Buffer in the activation unit."""

    name = "tpu.activate"
    traits = (Unit(ACTIVATION),)
    note = "requantize from the Unified Buffer"
    input = operand()
    output = result()
    multiplier = attr(Ints)
    shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)


@register_op
class PReluOp(TpuOp):
    """quant.prelu of an int8 tensor from the Unified Buffer in the activation unit
    (function prelu): per lane, one rescale at or above the input zero point and one
    below; one table per 256-channel block."""

    name = "tpu.prelu"
    traits = (Unit(ACTIVATION),)
    note = "PRelu: two rescales by sign"
    input = operand()
    output = result()
    multiplier = attr(Ints)
    shift = attr(Ints)
    negative_multiplier = attr(Ints)
    negative_shift = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)

    def verify_(self) -> None:
        n = len(self.negative_multiplier)
        if len(self.negative_shift) != n or \
                (n != 1 and (self.input.type.rank < 2 or self.input.type.shape[1] != n)):
            raise VerifyError(f"{n} negative multipliers and {len(self.negative_shift)} "
                              f"shifts for {self.input.type}: one, or one per channel")
        super().verify_()


@register_op
class LookupOp(TpuOp):
    """``quantize(f(dequantize(x)))`` for a nonlinearity ``f`` as a 256-entry table
    in the activation unit (``table[code - storage_min]``)."""

    name = "tpu.lookup"
    traits = (Unit(ACTIVATION),)
    note = "lookup table"
    input = operand()
    output = result()
    function = attr(Str)
    table = attr(Ints)

    def verify_(self) -> None:
        if self.function not in TABLE_FUNCTIONS:
            raise VerifyError(f"function '{self.function}' has no table (the activation "
                              f"unit's: {', '.join(TABLE_FUNCTIONS)})")
        if len(self.table) != 256:
            raise VerifyError(f"the table has {len(self.table)} entries, not 256")
        super().verify_()


@register_op
class ConcatOp(TpuOp):
    """Concatenation by copies (activate with an identity table): along the batch into
    later rows, along channels into a lane offset."""

    name = "tpu.concat"
    traits = (Unit(ACTIVATION),)
    note = "copies (identity table)"
    inputs = operand(variadic=True)
    output = result()
    axis = attr(Int)


@register_op
class ReshapeOp(TpuOp):
    """A reshape that keeps the rows (e.g. [N, C, 1, 1] <-> [N, C]): no data moves;
    the result shares its operand's rows."""

    name = "tpu.reshape"
    traits = (Unit(NOTHING),)
    note = "same rows"
    input = operand()
    output = result()


@register_op
class SyncOp(TpuOp):
    """A barrier: ``kind = "host"`` waits for host transfers, ``"units"`` for every
    unit. ``prefetch`` lists the weight tiles read before it."""

    name = "tpu.sync"
    traits = (Unit(CONTROL),)
    pure = False
    kind = attr(Str)
    prefetch = attr(Ints, default=())

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return []

    def verify_(self) -> None:
        if self.kind not in ("host", "units"):
            raise VerifyError(f"kind '{self.kind}' is not host or units")
        super().verify_()


@register_op
class AvgPoolValidOp(TpuOp):
    """Average pooling whose windows count different numbers of positions (padding
    not counted): the pool unit sums each window of ``q - zp`` into accumulator rows
    (padding adds nothing); the activation unit requantizes each output pixel with
    the table of its window's count (``counts``, ascending; ``multipliers`` and
    ``shifts`` one per count): quant.avg_pool_valid."""

    name = "tpu.avg_pool_valid"
    traits = (Unit(POOL),)
    input = operand()
    output = result()
    kernel = attr(Ints)
    strides = attr(Ints)
    pads = attr(Ints)
    dilations = attr(Ints, default=(1, 1))
    ceil_mode = attr(Bool, default=False)
    count_include_pad = attr(Bool, default=False)
    row_chunk = attr(Int)
    counts = attr(Ints)
    multipliers = attr(Ints)
    shifts = attr(Ints)
    clamp_min = attr(Int)
    clamp_max = attr(Int)

    def verify_(self) -> None:
        if not self.counts or len(self.multipliers) != len(self.counts) or \
                len(self.shifts) != len(self.counts):
            raise VerifyError(f"{len(self.counts)} counts need as many multipliers and "
                              f"shifts, not {len(self.multipliers)} and {len(self.shifts)}")
        e = _int8(self.output.type, "result")
        if not e.storage.min <= self.clamp_min <= self.clamp_max <= e.storage.max:
            raise VerifyError(f"clamp [{self.clamp_min}, {self.clamp_max}] is not an "
                              f"interval within the result's {e.storage.min}.."
                              f"{e.storage.max}")
        super().verify_()

    def describe(self) -> str:
        return (f"window sums into the accumulators; requantize in the activation unit "
                f"with one table per window count ({len(self.counts)})")


@register_op
class UpsampleOp(TpuOp):
    """Nearest upsampling by integer factors (``factors``: along H and W): the pool
    unit takes the max over a 1x1 window of the image in which set_conv's
    ``up_h``/``up_w`` repeat every input pixel, so each output pixel is a copy of one
    input pixel (same type)."""

    name = "tpu.upsample"
    traits = (Unit(POOL),)
    input = operand()
    output = result()
    factors = attr(Ints)
    row_chunk = attr(Int)

    def verify_(self) -> None:
        x, y = self.input.type, self.output.type
        if len(self.factors) != 2 or not all(1 <= f <= 15 for f in self.factors):
            raise VerifyError(f"factors {list(self.factors)} must be two integers in 1..15")
        if x.rank != 4 or y.shape != (*x.shape[:2], x.shape[2] * self.factors[0],
                                      x.shape[3] * self.factors[1]):
            raise VerifyError(f"{y} is not {x} upsampled by {list(self.factors)}")
        if x.element != y.element:
            raise VerifyError("an upsampling copies: its result has its input's type")
        super().verify_()

    def describe(self) -> str:
        return (f"nearest upsampling x{self.factors[0]}x{self.factors[1]}: the pool unit "
                "copies every input pixel")


#: ops that occupy a layer of their own (a sync before each)
LAYER_OPS = (MatmulOp, Conv2dOp, PoolOp, AddOp, ActivateOp, LookupOp, ConcatOp, ReshapeOp)
LAYER_OPS += (AvgPoolValidOp, UpsampleOp, PReluOp)  # issue 15: average pooling without counted
# padding, nearest upsampling

from qcc.backends.tpu_v1 import semantics as _semantics  # noqa: E402,F401  (interpreter)
