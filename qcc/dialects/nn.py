"""The ``nn`` dialect: tensor ops of imported models (f32, static shapes).

Layouts follow ONNX: activations NCHW, conv weights OIHW, ``pads`` as
``[begin_0, begin_1, ..., end_0, end_1, ...]``. ``nn.dense`` is the canonical
fully-connected op that Gemm and MatMul normalize into: ``y = x @ w + bias`` with
``w`` of shape ``[K, N]`` (input features by output features).

Each op infers its result type; the verifier checks the printed type against it.
What an op computes is defined by the interpreter (``qcc.interpreter``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from qcc.ir.attributes import (
    Bool,
    Dense,
    DenseAttr,
    Float,
    Floats,
    Int,
    Ints,
    Str,
    TypeAttr,
)
from qcc.ir.core import Op, Rewriter, Value, VerifyError, attr, operand, register_op, result
from qcc.ir.traits import (
    Clamp,
    ClampFusable,
    Commutative,
    DataMovement,
    Elementwise,
    HasWeights,
    NoOp,
    Pool,
    ScaleTransparent,
)
from qcc.ir.types import (
    BoolType,
    FloatType,
    IntegerType,
    TensorType,
    Type,
    UniformQuantPerAxisType,
    i1,
    i32,
    i64,
)


def _tensor(t: Type, what: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise VerifyError(f"{what} must be a tensor, got {t}")
    return t


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise VerifyError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy (= ONNX multidirectional) broadcasting of two shapes."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and 1 not in (da, db):
            raise VerifyError(f"shapes {a} and {b} do not broadcast")
        out.append(db if da == 1 else da)
    return tuple(reversed(out))


def window_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                       dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a sliding window (conv or pool) along one axis, as ONNX defines it."""
    span = dilation * (kernel - 1) + 1
    room = size + pad_begin + pad_end - span
    if room < 0:
        raise VerifyError(f"window of {span} does not fit in {size} padded by "
                          f"{pad_begin}+{pad_end}")
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    if (out - 1) * stride >= size + pad_begin:  # last window must start inside
        out -= 1
    return out


def _same_as_input(cls, operand_types, attrs):
    return [_tensor(operand_types[0], "input")]


# --------------------------------------------------------------------------- constants


@register_op
class ConstantOp(Op):
    """A constant tensor (weights, biases, shapes)."""

    name = "nn.constant"
    output = result()
    value = attr(Dense)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return [attrs["value"].type]


# --------------------------------------------------------------------------- elementwise


class UnaryOp(Op):
    """Base of elementwise ops of one tensor; the result has the input's type."""

    traits = (Elementwise(),)
    input = operand()
    output = result()
    infer_types = classmethod(_same_as_input)


@register_op
class ReluOp(UnaryOp):
    """max(x, 0)."""

    name = "nn.relu"
    traits = (Elementwise(), Clamp())


@register_op
class SigmoidOp(UnaryOp):
    """1 / (1 + exp(-x))."""

    name = "nn.sigmoid"


@register_op
class TanhOp(UnaryOp):
    """tanh(x)."""

    name = "nn.tanh"


@register_op
class IdentityOp(UnaryOp):
    """x (ONNX Identity); removed by ``remove-identity``."""

    name = "nn.identity"
    traits = (Elementwise(), ScaleTransparent(), DataMovement(), NoOp())


@register_op
class DropoutOp(UnaryOp):
    """Dropout at inference: x. ``ratio`` is kept for information only."""

    name = "nn.dropout"
    traits = (Elementwise(), ScaleTransparent(), DataMovement(), NoOp())
    ratio = attr(Float, default=0.5)


@register_op
class LeakyReluOp(UnaryOp):
    """x if x >= 0 else alpha * x."""

    name = "nn.leaky_relu"
    alpha = attr(Float, default=0.01)


@register_op
class ClipOp(UnaryOp):
    """min(max(x, min), max); ReLU6 is clip{min=0, max=6}."""

    name = "nn.clip"
    traits = (Elementwise(), Clamp())
    min = attr(Float, default=-math.inf)
    max = attr(Float, default=math.inf)


@register_op
class SoftmaxOp(UnaryOp):
    """exp(x) / sum(exp(x)) along ``axis``."""

    name = "nn.softmax"
    traits = ()  # reads its whole axis: not elementwise
    axis = attr(Int, default=-1)

    def verify_(self) -> None:
        _axis(self.axis, self.input.type.rank)
        super().verify_()


@register_op
class HardSigmoidOp(UnaryOp):
    """max(0, min(1, alpha * x + beta))."""

    name = "nn.hard_sigmoid"
    alpha = attr(Float, default=0.2)
    beta = attr(Float, default=0.5)


@register_op
class HardSwishOp(UnaryOp):
    """x * max(0, min(1, x / 6 + 1 / 2)) (ONNX HardSwish: alpha = 1/6, beta = 0.5)."""

    name = "nn.hard_swish"


@register_op
class SqrtOp(UnaryOp):
    """sqrt(x) (NaN below zero)."""

    name = "nn.sqrt"


class BinaryOp(Op):
    """Base of elementwise ops of two tensors with numpy broadcasting."""

    traits = (Elementwise(),)
    lhs = operand()
    rhs = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        a, b = (_tensor(t, "operand") for t in operand_types)
        if a.element != b.element:
            raise VerifyError(f"operand element types differ: {a.element} and {b.element}")
        return [TensorType(broadcast_shapes(a.shape, b.shape), a.element)]


@register_op
class AddOp(BinaryOp):
    """lhs + rhs."""

    name = "nn.add"
    traits = (Elementwise(), Commutative(), ClampFusable())


@register_op
class SubOp(BinaryOp):
    """lhs - rhs."""

    name = "nn.sub"


@register_op
class MulOp(BinaryOp):
    """lhs * rhs."""

    name = "nn.mul"
    traits = (Elementwise(), Commutative())


@register_op
class DivOp(BinaryOp):
    """lhs / rhs."""

    name = "nn.div"


@register_op
class PowOp(BinaryOp):
    """lhs ** rhs (ONNX Pow)."""

    name = "nn.pow"


@register_op
class PReluOp(Op):
    """x if x >= 0 else slope * x; ``slope`` broadcasts to the input's shape (ONNX
    PRelu: one slope per channel, or any unidirectionally broadcastable shape)."""

    name = "nn.prelu"
    traits = (Elementwise(),)
    input = operand()
    slope = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        s = _tensor(operand_types[1], "slope")
        if s.element != x.element:
            raise VerifyError(f"operand element types differ: {x.element} and {s.element}")
        try:
            fits = s.rank <= x.rank and broadcast_shapes(x.shape, s.shape) == x.shape
        except VerifyError:
            fits = False
        if not fits:
            raise VerifyError(f"slope {s} does not broadcast to the input {x}")
        return [x]


# --------------------------------------------------------------------------- linear algebra


class Conv2dSchema(Op):
    """The operands and attributes of ``nn.conv2d``, shared with ``quant.conv2d``
    (not an op: the two ops derive from it, and neither is an instance of the other)."""

    input = operand()
    weight = operand()
    bias = operand(optional=True)
    output = result()
    strides = attr(Ints, default=(1, 1))
    pads = attr(Ints, default=(0, 0, 0, 0))
    dilations = attr(Ints, default=(1, 1))
    group = attr(Int, default=1)


@register_op
class Conv2dOp(Conv2dSchema):
    """2-D convolution: input NCHW, weight [O, C/group, KH, KW], optional bias [O].

    ``pads`` is [top, left, bottom, right]; ``group`` = C gives a depthwise conv.
    """

    name = "nn.conv2d"
    traits = (HasWeights(weight_axis=0, output_axis=1), ClampFusable())

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        w = _tensor(operand_types[1], "weight")
        if x.rank != 4 or w.rank != 4:
            raise VerifyError(f"expects a 4-D input and weight, got {x} and {w}")
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        group = attrs["group"]
        strides, pads, dil = attrs["strides"], attrs["pads"], attrs["dilations"]
        if len(strides) != 2 or len(dil) != 2 or len(pads) != 4:
            raise VerifyError("strides and dilations need 2 values, pads 4")
        if min(strides) < 1 or min(dil) < 1 or min(pads) < 0:
            raise VerifyError("strides and dilations must be >= 1 and pads >= 0")
        if group < 1 or c % group or o % group or cg * group != c:
            raise VerifyError(f"{c} input channels, {o} filters of depth {cg} and "
                              f"group={group} do not agree")
        if len(operand_types) == 3:
            b = _tensor(operand_types[2], "bias")
            if b.shape != (o,):
                raise VerifyError(f"bias must have shape [{o}], got {b}")
        oh = window_output_size(h, kh, strides[0], pads[0], pads[2], dil[0])
        ow = window_output_size(wd, kw, strides[1], pads[1], pads[3], dil[1])
        return [TensorType((n, o, oh, ow), x.element)]


def transposed_output_size(size: int, kernel: int, stride: int, pad_begin: int,
                           pad_end: int, dilation: int = 1, output_padding: int = 0) -> int:
    """Output length of a transposed convolution along one axis (ONNX ConvTranspose)."""
    out = (size - 1) * stride + dilation * (kernel - 1) + 1 + output_padding - pad_begin - \
        pad_end
    if out < 1:
        raise VerifyError(f"a transposed convolution of {size} by a window of {kernel} "
                          f"(stride {stride}, dilation {dilation}) padded by "
                          f"{pad_begin}+{pad_end} has no output")
    return out


@register_op
class ConvTranspose2dOp(Op):
    """2-D transposed convolution (ONNX ConvTranspose): input NCHW, weight
    [C, O/group, KH, KW], optional bias [O]. Each input pixel adds its weighted kernel
    to the output at ``stride`` spacing; ``pads`` [top, left, bottom, right] crop the
    result (a negative pad extends it with zeros, as an ONNX ``output_shape`` larger
    than the natural size asks) and ``output_padding`` extends its bottom and right."""

    name = "nn.conv_transpose2d"
    input = operand()
    weight = operand()
    bias = operand(optional=True)
    output = result()
    strides = attr(Ints, default=(1, 1))
    pads = attr(Ints, default=(0, 0, 0, 0))
    dilations = attr(Ints, default=(1, 1))
    output_padding = attr(Ints, default=(0, 0))
    group = attr(Int, default=1)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        w = _tensor(operand_types[1], "weight")
        if x.rank != 4 or w.rank != 4:
            raise VerifyError(f"expects a 4-D input and weight, got {x} and {w}")
        n, c, h, wd = x.shape
        cw, og, kh, kw = w.shape
        group = attrs["group"]
        strides, pads, dil = attrs["strides"], attrs["pads"], attrs["dilations"]
        outpad = attrs["output_padding"]
        if len(strides) != 2 or len(dil) != 2 or len(pads) != 4 or len(outpad) != 2:
            raise VerifyError("strides, dilations and output_padding need 2 values, pads 4")
        if min(strides) < 1 or min(dil) < 1 or min(outpad) < 0:
            raise VerifyError("strides and dilations must be >= 1 and output_padding >= 0")
        if group < 1 or c % group or cw != c:
            raise VerifyError(f"{c} input channels, a weight for {cw} input channels and "
                              f"group={group} do not agree")
        o = og * group
        if len(operand_types) == 3:
            b = _tensor(operand_types[2], "bias")
            if b.shape != (o,):
                raise VerifyError(f"bias must have shape [{o}], got {b}")
        oh = transposed_output_size(h, kh, strides[0], pads[0], pads[2], dil[0], outpad[0])
        ow = transposed_output_size(wd, kw, strides[1], pads[1], pads[3], dil[1], outpad[1])
        return [TensorType((n, o, oh, ow), x.element)]


@register_op
class GemmOp(Op):
    """ONNX Gemm: alpha * op(a) @ op(b) + beta * c, op = optional transpose."""

    name = "nn.gemm"
    a = operand()
    b = operand()
    c = operand(optional=True)
    output = result()
    alpha = attr(Float, default=1.0)
    beta = attr(Float, default=1.0)
    trans_a = attr(Bool, default=False)
    trans_b = attr(Bool, default=False)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        a = _tensor(operand_types[0], "a")
        b = _tensor(operand_types[1], "b")
        if a.rank != 2 or b.rank != 2:
            raise VerifyError(f"expects 2-D operands, got {a} and {b}")
        m, k = a.shape[::-1] if attrs["trans_a"] else a.shape
        k2, n = b.shape[::-1] if attrs["trans_b"] else b.shape
        if k != k2:
            raise VerifyError(f"inner dimensions differ: {k} and {k2}")
        if len(operand_types) == 3:
            c = _tensor(operand_types[2], "c")
            if broadcast_shapes(c.shape, (m, n)) != (m, n):
                raise VerifyError(f"c of shape {c.shape} does not broadcast to {(m, n)}")
        return [TensorType((m, n), a.element)]


@register_op
class MatMulOp(Op):
    """numpy matmul: batched over leading dimensions with broadcasting."""

    name = "nn.matmul"
    lhs = operand()
    rhs = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        a = _tensor(operand_types[0], "lhs")
        b = _tensor(operand_types[1], "rhs")
        if a.rank == 0 or b.rank == 0:
            raise VerifyError("matmul operands must have rank >= 1")
        sa = (1, *a.shape) if a.rank == 1 else a.shape
        sb = (*b.shape, 1) if b.rank == 1 else b.shape
        if sa[-1] != sb[-2]:
            raise VerifyError(f"inner dimensions differ: {a} and {b}")
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        shape = (*batch, sa[-2], sb[-1])
        if a.rank == 1:
            shape = shape[:-2] + shape[-1:]
        if b.rank == 1:
            shape = shape[:-1]
        return [TensorType(shape, a.element)]


class DenseSchema(Op):
    """The operands of ``nn.dense``, shared with ``quant.dense`` (not an op)."""

    input = operand()
    weight = operand()
    bias = operand(optional=True)
    output = result()


@register_op
class DenseOp(DenseSchema):
    """Fully connected: y = x @ weight + bias; x [..., K], weight [K, N], bias [N]."""

    name = "nn.dense"
    traits = (HasWeights(weight_axis=1, output_axis=-1), ClampFusable())

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        w = _tensor(operand_types[1], "weight")
        if x.rank < 1 or w.rank != 2 or x.shape[-1] != w.shape[0]:
            raise VerifyError(f"input {x} and weight {w} do not fit x[..., K] @ w[K, N]")
        if len(operand_types) == 3:
            b = _tensor(operand_types[2], "bias")
            if b.shape != (w.shape[1],):
                raise VerifyError(f"bias must have shape [{w.shape[1]}], got {b}")
        return [TensorType((*x.shape[:-1], w.shape[1]), x.element)]


@register_op
class BatchNormOp(Op):
    """Inference batch normalization over axis 1: (x - mean) / sqrt(var + eps) * scale + bias."""

    name = "nn.batch_norm"
    input = operand()
    scale = operand()
    bias = operand()
    mean = operand()
    var = operand()
    output = result()
    epsilon = attr(Float, default=1e-5)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if x.rank < 2:
            raise VerifyError(f"input must have a channel axis, got {x}")
        for t, what in zip(operand_types[1:], ("scale", "bias", "mean", "var"), strict=True):
            if _tensor(t, what).shape != (x.shape[1],):
                raise VerifyError(f"{what} must have shape [{x.shape[1]}], got {t}")
        return [x]


# --------------------------------------------------------------------------- pooling


class _PoolOp(Op):
    traits = (Pool(),)
    input = operand()
    output = result()
    kernel = attr(Ints)
    strides = attr(Ints, default=(1, 1))
    pads = attr(Ints, default=(0, 0, 0, 0))
    ceil_mode = attr(Bool, default=False)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if x.rank != 4:
            raise VerifyError(f"expects a 4-D NCHW input, got {x}")
        k, s, p = attrs["kernel"], attrs["strides"], attrs["pads"]
        d = attrs.get("dilations", (1, 1))
        if len(k) != 2 or len(s) != 2 or len(p) != 4 or len(d) != 2:
            raise VerifyError("kernel, strides and dilations need 2 values, pads 4")
        if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
            raise VerifyError("kernel, strides and dilations must be >= 1 and pads >= 0")
        if p[0] >= d[0] * (k[0] - 1) + 1 or p[1] >= d[1] * (k[1] - 1) + 1 or \
                p[2] >= d[0] * (k[0] - 1) + 1 or p[3] >= d[1] * (k[1] - 1) + 1:
            raise VerifyError(f"pads {list(p)} must be smaller than the window")
        oh = window_output_size(x.shape[2], k[0], s[0], p[0], p[2], d[0], attrs["ceil_mode"])
        ow = window_output_size(x.shape[3], k[1], s[1], p[1], p[3], d[1], attrs["ceil_mode"])
        return [x.with_shape((x.shape[0], x.shape[1], oh, ow))]


@register_op
class MaxPoolOp(_PoolOp):
    """Max over each window; padding never wins."""

    name = "nn.max_pool"
    traits = (Pool(), ScaleTransparent())
    dilations = attr(Ints, default=(1, 1))


class AvgPoolSchema(_PoolOp):
    """The operands and attributes of ``nn.avg_pool``, shared with ``quant.avg_pool``
    (not an op)."""

    count_include_pad = attr(Bool, default=False)


@register_op
class AvgPoolOp(AvgPoolSchema):
    """Mean over each window; ``count_include_pad`` decides whether pads count."""

    name = "nn.avg_pool"


class GlobalAvgPoolSchema(Op):
    """The operands of ``nn.global_avg_pool``, shared with ``quant.global_avg_pool``
    (not an op)."""

    input = operand()
    output = result()


@register_op
class GlobalAvgPoolOp(GlobalAvgPoolSchema):
    """Mean over H and W: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "nn.global_avg_pool"
    traits = (Pool(),)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if x.rank < 3:
            raise VerifyError(f"expects an input of rank >= 3, got {x}")
        return [x.with_shape(x.shape[:2] + (1,) * (x.rank - 2))]


# --------------------------------------------------------------------------- normalization


@register_op
class LrnOp(Op):
    """Local response normalization across channels (axis 1):
    x / (bias + alpha / size * sum of x^2 over the ``size`` neighbouring channels)^beta,
    the window running from c - floor((size-1)/2) to c + ceil((size-1)/2), clipped."""

    name = "nn.lrn"
    input = operand()
    output = result()
    size = attr(Int)
    alpha = attr(Float, default=1e-4)
    beta = attr(Float, default=0.75)
    bias = attr(Float, default=1.0)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if x.rank < 3:
            raise VerifyError(f"expects an input of rank >= 3 (N, C, spatial...), got {x}")
        if attrs["size"] < 1:
            raise VerifyError(f"size must be >= 1, got {attrs['size']}")
        return [x]


@register_op
class ReduceMeanOp(Op):
    """Mean over ``axes`` (sorted, non-negative, distinct); ``keepdims`` keeps them
    as size-1 dimensions."""

    name = "nn.reduce_mean"
    input = operand()
    output = result()
    axes = attr(Ints)
    keepdims = attr(Bool, default=True)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        axes = attrs["axes"]
        if list(axes) != sorted(set(axes)) or any(not 0 <= a < x.rank for a in axes):
            raise VerifyError(f"axes {list(axes)} must be distinct, sorted and within the "
                              f"rank {x.rank}")
        if any(x.shape[a] == 0 for a in axes):
            raise VerifyError(f"cannot average over an empty axis of {x}")
        if attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [x.with_shape(shape)]


# --------------------------------------------------------------------------- transformers
# Embeddings, layer normalization, and the integer and boolean tensors of attention
# masks (token ids are i64, comparisons give i1). These ops accept any element type
# where ONNX does; the frontend types them as ONNX shape inference does.


def _index_tensor(t: Type, what: str) -> TensorType:
    t = _tensor(t, what)
    if t.element not in (i64, i32):
        raise VerifyError(f"{what} must be i64 or i32 integers, got {t}")
    return t


@register_op
class GatherOp(Op):
    """ONNX Gather: ``input`` indexed along ``axis`` by every element of ``indices``
    (negative indices count from the end); the result's shape is
    ``input.shape[:axis] + indices.shape + input.shape[axis + 1:]``. An embedding
    lookup is a gather of a constant table along axis 0 by token ids."""

    name = "nn.gather"
    input = operand()
    indices = operand()
    output = result()
    axis = attr(Int, default=0)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        idx = _index_tensor(operand_types[1], "indices")
        if x.rank == 0:
            raise VerifyError("cannot gather from a scalar")
        axis = _axis(attrs["axis"], x.rank)
        return [x.with_shape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1:]))]

    def verify_(self) -> None:
        if self.attributes["axis"] < 0:
            raise VerifyError("axis must be normalized to be non-negative")
        super().verify_()


@register_op
class GatherElementsOp(Op):
    """ONNX GatherElements: ``out[i][j][k] = input[i][indices[i][j][k]][k]`` for axis 1
    (likewise for any axis); the result has the shape of ``indices``."""

    name = "nn.gather_elements"
    input = operand()
    indices = operand()
    output = result()
    axis = attr(Int, default=0)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        idx = _index_tensor(operand_types[1], "indices")
        if x.rank == 0 or idx.rank != x.rank:
            raise VerifyError(f"indices {idx} must have the rank of the input {x}")
        axis = _axis(attrs["axis"], x.rank)
        if any(a > b for i, (a, b) in enumerate(zip(idx.shape, x.shape, strict=True))
               if i != axis):
            raise VerifyError(f"indices {idx} exceed the input {x} off axis {axis}")
        return [x.with_shape(idx.shape)]

    def verify_(self) -> None:
        if self.attributes["axis"] < 0:
            raise VerifyError("axis must be normalized to be non-negative")
        super().verify_()


@register_op
class LayerNormOp(Op):
    """ONNX LayerNormalization: over the axes ``axis`` .. rank - 1,
    ``(x - mean) / sqrt(var + epsilon) * scale + bias`` (mean and biased variance of
    those axes, computed in f32); ``scale`` and ``bias`` broadcast to
    ``input.shape[axis:]``."""

    name = "nn.layer_norm"
    input = operand()
    scale = operand()
    bias = operand(optional=True)
    output = result()
    axis = attr(Int, default=-1)
    epsilon = attr(Float, default=1e-5)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if not isinstance(x.element, FloatType):
            raise VerifyError(f"input must be a float tensor, got {x}")
        axis = _axis(attrs["axis"], x.rank)
        normalized = x.shape[axis:]
        for t, what in zip(operand_types[1:], ("scale", "bias"), strict=False):
            p = _tensor(t, what)
            if p.element != x.element:
                raise VerifyError(f"{what} {p} must have the element type of the input {x}")
            try:
                fits = p.rank <= len(normalized) and \
                    broadcast_shapes(normalized, p.shape) == normalized
            except VerifyError:
                fits = False
            if not fits:
                raise VerifyError(f"{what} {p} does not broadcast to the normalized shape "
                                  f"{list(normalized)}")
        return [x]

    def verify_(self) -> None:
        if self.attributes["axis"] < 0:
            raise VerifyError("axis must be normalized to be non-negative")
        super().verify_()


@register_op
class CastOp(Op):
    """ONNX Cast to the element type ``to``: floats to integers truncate toward zero,
    anything to i1 is ``x != 0``, i1 to numbers is 0 or 1."""

    name = "nn.cast"
    input = operand()
    output = result()
    to = attr(TypeAttr)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        to = attrs["to"]
        if not isinstance(to, FloatType | IntegerType | BoolType):
            raise VerifyError(f"cannot cast to {to}")
        return [x.with_element(to)]


@register_op
class WhereOp(Op):
    """ONNX Where: ``lhs`` where ``condition`` (i1) holds, else ``rhs``, the three
    broadcast together."""

    name = "nn.where"
    condition = operand()
    lhs = operand()
    rhs = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        c = _tensor(operand_types[0], "condition")
        a, b = _tensor(operand_types[1], "lhs"), _tensor(operand_types[2], "rhs")
        if c.element != i1:
            raise VerifyError(f"condition must be i1, got {c}")
        if a.element != b.element:
            raise VerifyError(f"operand element types differ: {a.element} and {b.element}")
        return [TensorType(broadcast_shapes(broadcast_shapes(c.shape, a.shape), b.shape),
                           a.element)]


class CompareOp(Op):
    """Base of elementwise comparisons with numpy broadcasting; the result is i1."""

    lhs = operand()
    rhs = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        a, b = (_tensor(t, "operand") for t in operand_types)
        if a.element != b.element:
            raise VerifyError(f"operand element types differ: {a.element} and {b.element}")
        return [TensorType(broadcast_shapes(a.shape, b.shape), i1)]


@register_op
class EqualOp(CompareOp):
    """lhs == rhs."""

    name = "nn.equal"


@register_op
class LessOp(CompareOp):
    """lhs < rhs."""

    name = "nn.less"


@register_op
class LessEqualOp(CompareOp):
    """lhs <= rhs."""

    name = "nn.less_equal"


@register_op
class GreaterOp(CompareOp):
    """lhs > rhs."""

    name = "nn.greater"


@register_op
class GreaterEqualOp(CompareOp):
    """lhs >= rhs."""

    name = "nn.greater_equal"


class LogicalOp(Op):
    """Base of elementwise logic on i1 tensors, with numpy broadcasting."""

    lhs = operand()
    rhs = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        a, b = (_tensor(t, "operand") for t in operand_types)
        if a.element != i1 or b.element != i1:
            raise VerifyError(f"operands must be i1, got {a} and {b}")
        return [TensorType(broadcast_shapes(a.shape, b.shape), i1)]


@register_op
class LogicalAndOp(LogicalOp):
    """lhs and rhs."""

    name = "nn.logical_and"


@register_op
class LogicalOrOp(LogicalOp):
    """lhs or rhs."""

    name = "nn.logical_or"


@register_op
class LogicalXorOp(LogicalOp):
    """lhs xor rhs."""

    name = "nn.logical_xor"


@register_op
class LogicalNotOp(Op):
    """not x (i1)."""

    name = "nn.logical_not"
    input = operand()
    output = result()

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if x.element != i1:
            raise VerifyError(f"input must be i1, got {x}")
        return [x]


@register_op
class ExpandOp(Op):
    """ONNX Expand: the input broadcast with ``shape`` (both ways, as numpy
    broadcasting: a 1 in ``shape`` keeps the input's dimension)."""

    name = "nn.expand"
    input = operand()
    output = result()
    shape = attr(Ints)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        if any(d < 0 for d in attrs["shape"]):
            raise VerifyError(f"shape {list(attrs['shape'])} has a negative size")
        return [x.with_shape(broadcast_shapes(x.shape, tuple(attrs["shape"])))]


# --------------------------------------------------------------------------- shapes


@register_op
class ReshapeOp(Op):
    """Same elements in row-major order, new static shape (also Flatten, Squeeze,
    Unsqueeze). A per-axis quantized input keeps its quantization axis, which must
    survive the reshape as one axis (it may move, e.g. when ones are inserted)."""

    name = "nn.reshape"
    traits = (ScaleTransparent(), DataMovement())
    input = operand()
    output = result()
    shape = attr(Ints)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        shape = attrs["shape"]
        if any(d < 0 for d in shape) or math.prod(shape) != x.num_elements:
            raise VerifyError(f"cannot reshape {x} to {list(shape)}")
        e = x.element
        if isinstance(e, UniformQuantPerAxisType):
            axis = reshaped_axis(x.shape, tuple(shape), e.axis)
            if axis is None:
                raise VerifyError(f"cannot reshape {x} to {list(shape)}: its quantization "
                                  f"axis {e.axis} would not stay one axis of the result")
            return [TensorType(shape, dataclasses.replace(e, axis=axis))]
        return [x.with_shape(shape)]


def reshaped_axis(old: tuple[int, ...], new: tuple[int, ...], axis: int) -> int | None:
    """Where axis ``axis`` of shape ``old`` is in ``new`` after a row-major reshape:
    the axis of the same size with as many elements before it; None if the reshape
    splits or merges it."""
    before = math.prod(old[:axis])
    for i, d in enumerate(new):
        if d == old[axis] and math.prod(new[:i]) == before:
            return i
    return None


@register_op
class TransposeOp(Op):
    """Permute dimensions: output dim i is input dim perm[i]; a per-axis quantization
    axis moves with its dimension."""

    name = "nn.transpose"
    traits = (ScaleTransparent(), DataMovement())
    input = operand()
    output = result()
    perm = attr(Ints)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        perm = attrs["perm"]
        if sorted(perm) != list(range(x.rank)):
            raise VerifyError(f"perm {list(perm)} is not a permutation of {x.rank} axes")
        e = x.element
        if isinstance(e, UniformQuantPerAxisType):  # the quantization axis moves too
            e = dataclasses.replace(e, axis=list(perm).index(e.axis))
        return [TensorType(tuple(x.shape[p] for p in perm), e)]


@register_op
class ConcatOp(Op):
    """Join tensors along ``axis``."""

    name = "nn.concat"
    traits = (ScaleTransparent(),)
    inputs = operand(variadic=True)
    output = result()
    axis = attr(Int)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        ts = [_tensor(t, "input") for t in operand_types]
        if not ts:
            raise VerifyError("needs at least one input")
        first = ts[0]
        axis = _axis(attrs["axis"], first.rank)
        total = 0
        for t in ts:
            if t.rank != first.rank or t.element != first.element or any(
                    a != b for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True))
                    if i != axis):
                raise VerifyError(f"inputs {first} and {t} do not concatenate on axis {axis}")
            total += t.shape[axis]
        shape = list(first.shape)
        shape[axis] = total
        return [first.with_shape(shape)]

    def verify_(self) -> None:
        if self.attributes["axis"] < 0:
            raise VerifyError("axis must be normalized to be non-negative")
        super().verify_()


@register_op
class PadOp(Op):
    """Constant padding; ``pads`` = [begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}]."""

    name = "nn.pad"
    input = operand()
    output = result()
    pads = attr(Ints)
    value = attr(Float, default=0.0)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        p = attrs["pads"]
        if len(p) != 2 * x.rank:
            raise VerifyError(f"pads needs {2 * x.rank} values for {x}, got {len(p)}")
        shape = [d + p[i] + p[i + x.rank] for i, d in enumerate(x.shape)]
        if any(d < 0 for d in shape):
            raise VerifyError(f"pads {list(p)} crop {x} below zero")
        return [x.with_shape(shape)]


def slice_length(start: int, end: int, step: int) -> int:
    """Number of elements of ``x[start:end:step]`` for normalized bounds (an ``end`` of
    -1 with a negative step runs through index 0)."""
    if step > 0:
        return max(0, -(-(end - start) // step))
    return max(0, -(-(start - end) // -step))


@register_op
class SliceOp(Op):
    """``x[start:end:step]`` on every axis. Bounds are normalized (what ONNX Slice
    computes after negative indices and clamping): with a positive step
    0 <= start, end <= size; with a negative step 0 <= start <= size - 1 and
    -1 <= end <= size - 1, where -1 means through index 0."""

    name = "nn.slice"
    input = operand()
    output = result()
    starts = attr(Ints)
    ends = attr(Ints)
    steps = attr(Ints)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        starts, ends, steps = attrs["starts"], attrs["ends"], attrs["steps"]
        if not len(starts) == len(ends) == len(steps) == x.rank:
            raise VerifyError(f"starts, ends and steps need {x.rank} values each for {x}")
        shape = []
        for d, b, e, s in zip(x.shape, starts, ends, steps, strict=True):
            if s == 0:
                raise VerifyError("steps must not be 0")
            ok = (0 <= b <= d and 0 <= e <= d) if s > 0 else \
                (0 <= b <= max(d - 1, 0) and -1 <= e <= d - 1)
            if not ok:
                raise VerifyError(f"slice {b}:{e}:{s} is not normalized for a dimension "
                                  f"of {d}")
            shape.append(slice_length(b, e, s))
        return [x.with_shape(shape)]


RESIZE_MODES = ("nearest", "linear", "cubic")
RESIZE_COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                           "align_corners", "asymmetric", "tf_half_pixel_for_nn")
RESIZE_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@register_op
class ResizeOp(Op):
    """ONNX Resize, separable over the axes: output shape ``sizes``; ``scales`` (one
    per axis, output over input as ONNX uses it, which with given scales is not
    always sizes / input) maps output coordinates to input ones through
    ``coordinate_mode``. ``mode`` nearest (rounded by ``nearest_mode``), linear or
    cubic (``cubic_coeff_a``, ``exclude_outside``); ``antialias`` widens linear and
    cubic filters when downsampling."""

    name = "nn.resize"
    input = operand()
    output = result()
    sizes = attr(Ints)
    scales = attr(Floats)
    mode = attr(Str, default="nearest")
    coordinate_mode = attr(Str, default="half_pixel")
    nearest_mode = attr(Str, default="round_prefer_floor")
    cubic_coeff_a = attr(Float, default=-0.75)
    exclude_outside = attr(Bool, default=False)
    antialias = attr(Bool, default=False)

    @classmethod
    def infer_types(cls, operand_types, attrs):
        x = _tensor(operand_types[0], "input")
        sizes, scales = attrs["sizes"], attrs["scales"]
        if len(sizes) != x.rank or len(scales) != x.rank:
            raise VerifyError(f"sizes and scales need {x.rank} values each for {x}")
        if any(d < 0 for d in sizes) or not all(math.isfinite(s) and s > 0 for s in scales):
            raise VerifyError(f"sizes {list(sizes)} must be >= 0 and scales "
                              f"{list(scales)} > 0")
        for key, allowed in (("mode", RESIZE_MODES),
                             ("coordinate_mode", RESIZE_COORDINATE_MODES),
                             ("nearest_mode", RESIZE_NEAREST_MODES)):
            if attrs[key] not in allowed:
                raise VerifyError(f"{key} {attrs[key]!r} is not one of {', '.join(allowed)}")
        if any(d == 0 for d, s in zip(x.shape, sizes, strict=True) if s):
            raise VerifyError(f"cannot resize the empty {x}")
        return [x.with_shape(sizes)]


# --------------------------------------------------------------------------- erf, gelu


@register_op
class ErfOp(UnaryOp):
    """erf(x), the Gauss error function (ONNX Erf)."""

    name = "nn.erf"


GELU_APPROXIMATIONS = ("none", "tanh")


@register_op
class GeluOp(UnaryOp):
    """GELU (ONNX Gelu, opset 20): ``0.5 x (1 + erf(x / sqrt(2)))``, or with
    ``approximate = "tanh"`` ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``.
    ``fuse-gelu`` makes it from the exporters' Erf form."""

    name = "nn.gelu"
    approximate = attr(Str, default="none")

    def verify_(self) -> None:
        if self.approximate not in GELU_APPROXIMATIONS:
            raise VerifyError(f"approximate {self.approximate!r} is not one of "
                              f"{', '.join(GELU_APPROXIMATIONS)}")
        super().verify_()


# --------------------------------------------------------------------------- helpers for passes


def constant_value(v: Value | None) -> np.ndarray | None:
    """The array of a value defined by ``nn.constant`` (None if not constant or elided)."""
    if v is None or not isinstance(v.op, ConstantOp):
        return None
    return v.op.value.data


def make_constant(rw: Rewriter, anchor: Op, array: np.ndarray, like: Value | None = None,
                  name: str | None = None) -> Value:
    """Insert an ``nn.constant`` before ``anchor`` holding ``array`` (in the element type
    of ``like`` when given)."""
    if like is not None:
        data = DenseAttr(np.asarray(array, like.type.element.numpy_dtype),
                         like.type.with_shape(np.shape(array)))
    else:
        data = DenseAttr.from_array(np.asarray(array))
    op = ConstantOp.build(value=data, loc=anchor.loc, name=name)
    rw.insert_before(anchor, op)
    return op.result
