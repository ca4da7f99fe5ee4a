"""Converters from ONNX nodes to ``nn`` ops, one small function per op type, and the
registry of converters (:func:`converter`, ``CONVERTERS``). The float ops are here;
QuantizeLinear and DequantizeLinear are in ``onnx_qdq.py``, registered the same way.

A converter takes the import context and the node, appends ``nn`` ops to the graph
and returns the value of the node's first output (the importer binds it and checks
its type against ONNX shape inference), or None for a node that only records an
import-time constant. ``CONSTANT_INPUTS`` lists the inputs each op type reads at
import time; the importer checks them before shape inference.

Shapes of reshape-like ops (Flatten, Reshape, Squeeze, Unsqueeze) are computed here
from the static input shape rather than copied from ONNX, so that the comparison
with the inferred type catches mistakes on either side.

The int32 bias of a Conv or Gemm over dequantized operands (a QDQ model's) is typed
here, with the op, with exactly ``s_x * s_w`` (docs/qdq.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from onnx import TensorProto, numpy_helper

from qcc.diagnostics import Location, QccError, warn
from qcc.dialects import nn, quant
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Value
from qcc.ir.types import UniformQuantPerAxisType, UniformQuantType, f32, i1, i32, i64
from qcc.quant_arith import INT32_MAX, INT32_MIN

if TYPE_CHECKING:
    from qcc.frontend.onnx_importer import ImportContext, OnnxNode

Converter = Callable[["ImportContext", "OnnxNode"], Value | None]

#: ONNX op type (default domain) -> converter
CONVERTERS: dict[str, Converter] = {}
#: ONNX op type -> indices of inputs that must be import-time constants when present
CONSTANT_INPUTS: dict[str, tuple[int, ...]] = {}


def converter(*op_types: str, constant_inputs: tuple[int, ...] = ()) -> Callable[
        [Converter], Converter]:
    """Register a converter for the given op types."""
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[op_type] = fn
            CONSTANT_INPUTS[op_type] = constant_inputs
        return fn
    return register


# --------------------------------------------------------------------------- helpers


def _shape(v: Value) -> tuple[int, ...]:
    return v.type.shape  # type: ignore[attr-defined]  # frontend values are tensors


def _ints(node: OnnxNode, index: int, array: np.ndarray) -> list[int]:
    """The values of constant input ``index``, which ONNX types as int64."""
    a = np.asarray(array)
    if a.dtype.kind not in "iu":
        raise node.error(f"input {index} ('{node.input(index)}') must be an integer "
                         f"tensor, not {a.dtype} {list(a.shape)}")
    return [int(x) for x in a.reshape(-1)]


def _scalar(node: OnnxNode, array: np.ndarray, what: str) -> float:
    if array.size != 1:
        raise node.error(f"{what} must be a scalar, got shape {list(array.shape)}")
    return float(array.reshape(-1)[0])


def _axis(node: OnnxNode, axis: int, rank: int, what: str = "axis") -> int:
    """Normalize a possibly negative axis into [0, rank)."""
    if not -rank <= axis < rank:
        raise node.error(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def _spatial(node: OnnxNode, x: Value, what: str) -> None:
    """qcc lowers 2-D windows only (NCHW inputs)."""
    if len(_shape(x)) != 4:
        raise node.error(f"unsupported {len(_shape(x)) - 2}-D {what}: qcc supports 2-D "
                         f"(NCHW) inputs only, got {x.type}")


def _window_pads(node: OnnxNode, x: Value, kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int]) -> tuple[int, ...]:
    """Explicit [top, left, bottom, right] pads, resolving ``auto_pad`` as ONNX does."""
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        pads = tuple(node.attr("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise node.error(f"pads needs 4 values for a 2-D window, got {list(pads)}")
        return pads
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.unsupported_attr("auto_pad", auto_pad)
    begins, ends = [], []
    for size, k, s, d in zip(_shape(x)[2:], kernel, strides, dilations, strict=True):
        # SAME: output = ceil(size / stride); the odd pad goes at the end (UPPER) or begin
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return (*begins, *ends)


def _window_attrs(node: OnnxNode, x: Value, kernel: Sequence[int]) -> dict[str, object]:
    """strides, dilations and pads of a Conv or pool node."""
    strides = tuple(node.attr("strides", [1, 1]))
    dilations = tuple(node.attr("dilations", [1, 1]))
    if len(kernel) != 2 or len(strides) != 2 or len(dilations) != 2:
        raise node.error("kernel_shape, strides and dilations need 2 values for a 2-D window")
    pads = _window_pads(node, x, kernel, strides, dilations)
    return {"strides": strides, "dilations": dilations, "pads": pads}


def _reshape(ctx: ImportContext, node: OnnxNode, x: Value, shape: Sequence[int]) -> Value:
    return ctx.emit(node, nn.ReshapeOp, x, shape=tuple(shape))


def _fit_quantized_bias(ctx: ImportContext, node: OnnxNode, x: Value, w: Value,
                       bias: Value | None, w_axis: int) -> Value | None:
    """The bias of a conv or dense over dequantized int8 operands, typed with exactly the
    accumulator scale ``s_x * s_w`` that integer kernels (and ``quant.conv2d``) need.

    QDQ writers store the bias scale as float32(s_x * s_w), a few ULPs off the exact
    product: the type is corrected and the integers kept (what onnxruntime's integer
    kernels compute). A bias at another scale is requantized to it, with a warning.
    """
    if bias is None or not all(isinstance(v.op, quant.DequantizeOp) for v in (x, w, bias)):
        return bias
    xe, we = x.op.input.type.element, w.op.input.type.element
    b_int = bias.op.input
    be = b_int.type.element
    if not isinstance(b_int.op, nn.ConstantOp) or be.storage != i32 or \
            not isinstance(xe, UniformQuantType) or b_int.type.rank != 1 or \
            (isinstance(we, UniformQuantPerAxisType) and we.axis != w_axis):
        return bias
    n = b_int.type.shape[0]
    w_scales = quant.channel_scales(we, n)
    if len(w_scales) != n or any(z != 0 for z in quant.zero_points(be)):
        return bias
    want = np.array([xe.scale * s for s in w_scales])
    have = np.array(quant.channel_scales(be, n))
    per_axis = isinstance(we, UniformQuantPerAxisType)
    if np.array_equal(want, have) and per_axis == isinstance(be, UniformQuantPerAxisType):
        return bias
    data = b_int.op.value.data
    if data is None:
        return bias
    if np.any(np.abs(have / want - 1) > 1e-6):
        warn(f"the bias '{b_int.name_hint}' is quantized with scale {be}, not the input "
             "scale times the weight scale; qcc requantizes it to that scale", node.loc)
        data = np.clip(np.rint(data.astype(np.float64) * (have / want)), INT32_MIN,
                       INT32_MAX).astype(np.int32)
    if per_axis:
        e = UniformQuantPerAxisType.make(i32, 0, want)
    else:
        e = UniformQuantType.make(i32, want[0])
    c = nn.ConstantOp.build(value=DenseAttr(data, b_int.type.with_element(e)),
                            loc=b_int.op.loc, name=b_int.name_hint)
    ctx.graph.insert_before(bias.op, c)
    dq = quant.DequantizeOp.build(c.result, loc=bias.op.loc, name=bias.name_hint)
    ctx.graph.insert_before(bias.op, dq)
    # the ONNX tensor now names the corrected bias; the old one goes if unused
    for name, v in list(ctx.values.items()):
        if v is bias:
            ctx.values[name] = dq.result
    for old in (bias.op, b_int.op):
        if not any(r.uses for r in old.results):
            ctx.graph.erase(old)
    return dq.result


# --------------------------------------------------------------------------- constants


def tensor_array(tensor: object, what: str, loc: Location) -> np.ndarray:
    """An ONNX TensorProto as an array; a malformed one (raw data of the wrong length,
    an unknown data type) is a QccError."""
    if not isinstance(tensor, TensorProto):
        raise QccError(f"{what} is not a tensor", loc)
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError) as e:
        raise QccError(f"{what} is malformed: {e}", loc) from None


def constant_node_value(node: OnnxNode) -> np.ndarray:
    """The tensor of a Constant node (called by the importer's scan)."""
    attrs = node.attrs
    if "value" in attrs:
        return tensor_array(attrs["value"], f"the value of Constant node '{node.name}'",
                            node.loc)
    if "value_float" in attrs:
        return np.array(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.array(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.array(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.array(attrs["value_ints"], dtype=np.int64)
    names = ", ".join(sorted(attrs)) or "none"
    raise node.error(f"unsupported Constant attribute ({names}); supported: value, "
                     "value_float, value_floats, value_int, value_ints")


@converter("Constant")
def _constant(ctx: ImportContext, node: OnnxNode) -> None:
    # recorded by the scan; becomes an nn.constant where an op uses it as a tensor
    return None


# --------------------------------------------------------------------------- elementwise


_UNARY = {"Relu": nn.ReluOp, "Sigmoid": nn.SigmoidOp, "Tanh": nn.TanhOp,
          "Identity": nn.IdentityOp, "Sqrt": nn.SqrtOp, "HardSwish": nn.HardSwishOp}
_BINARY = {"Add": nn.AddOp, "Sub": nn.SubOp, "Mul": nn.MulOp, "Div": nn.DivOp}


@converter(*_UNARY)
def _unary(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, _UNARY[node.op_type], ctx.value(node, 0))


@converter(*_BINARY)
def _binary(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, _BINARY[node.op_type], ctx.value(node, 0), ctx.value(node, 1))


@converter("LeakyRelu")
def _leaky_relu(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.LeakyReluOp, ctx.value(node, 0), alpha=node.attr("alpha", 0.01))


@converter("HardSigmoid")
def _hard_sigmoid(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.HardSigmoidOp, ctx.value(node, 0),
                    alpha=node.attr("alpha", 0.2), beta=node.attr("beta", 0.5))


@converter("PRelu")
def _prelu(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.PReluOp, ctx.value(node, 0), ctx.value(node, 1))


@converter("Pow")
def _pow(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    name = node.input(1)
    if name in ctx.values and ctx.values[name].type.element != x.type.element:
        return _mixed_pow(ctx, node, x, ctx.values[name])
    exponent = ctx.constants.get(name)
    if exponent is not None and exponent.dtype.kind in "iu" and name not in ctx.values:
        # an integer exponent (x ** 2 as exporters write it): the same power in float32,
        # exact for the small integers float32 holds
        if np.any(np.abs(exponent) > 1 << 24):
            raise node.error(f"the integer exponent '{name}' is too large for float32")
        c = nn.ConstantOp.build(value=DenseAttr.from_array(exponent.astype(np.float32)),
                                loc=node.loc, name=f"{node.outputs[0]}.exponent")
        ctx.graph.append(c)
        return ctx.emit(node, nn.PowOp, x, c.result)
    return ctx.emit(node, nn.PowOp, x, ctx.value(node, 1))


@converter("Sum")
def _sum(ctx: ImportContext, node: OnnxNode) -> Value:
    # a chain of additions, left to right (broadcasting as ONNX Sum does)
    inputs = [ctx.value(node, i) for i in range(len(node.inputs))]
    if not inputs:
        raise node.error("Sum needs at least one input")
    if len(inputs) == 1:
        return ctx.emit(node, nn.IdentityOp, inputs[0])
    total = inputs[0]
    for k, v in enumerate(inputs[1:], 1):
        last = k == len(inputs) - 1
        total = ctx.emit(node, nn.AddOp, total, v,
                         name=None if last else f"{node.outputs[0]}.sum{k}")
    return total


@converter("Clip", constant_inputs=(1, 2))
def _clip(ctx: ImportContext, node: OnnxNode) -> Value:
    # opset >= 11: the bounds are optional inputs; they become attributes
    bounds = {}
    for i, key in ((1, "min"), (2, "max")):
        array = ctx.optional_const(node, i)
        if array is not None:
            bounds[key] = _scalar(node, array, f"Clip {key}")
    return ctx.emit(node, nn.ClipOp, ctx.value(node, 0), **bounds)


@converter("Softmax")
def _softmax(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    shape = _shape(x)
    rank = len(shape)
    axis = _axis(node, node.attr("axis", -1 if ctx.opset >= 13 else 1), rank)
    if ctx.opset >= 13 or axis == rank - 1:
        return ctx.emit(node, nn.SoftmaxOp, x, axis=axis)
    # opset 11-12: coerce to 2-D at axis, softmax each row, restore the shape
    rows = (math.prod(shape[:axis]), math.prod(shape[axis:]))
    out = node.outputs[0]
    flat = ctx.emit(node, nn.ReshapeOp, x, shape=rows, name=f"{out}.2d")
    soft = ctx.emit(node, nn.SoftmaxOp, flat, axis=1, name=f"{out}.softmax")
    return _reshape(ctx, node, soft, shape)


@converter("Dropout", constant_inputs=(1, 2))
def _dropout(ctx: ImportContext, node: OnnxNode) -> Value:
    if len(node.outputs) > 1 and node.outputs[1] in ctx.used:
        raise node.error(f"the mask output '{node.outputs[1]}' of Dropout is unsupported")
    ratio = node.attr("ratio", 0.5)  # an attribute before opset 12, an input since
    if ctx.opset >= 12:
        array = ctx.optional_const(node, 1)
        ratio = 0.5 if array is None else _scalar(node, array, "Dropout ratio")
        training = ctx.optional_const(node, 2)
        if training is not None and bool(training.reshape(-1)[0]):
            raise node.error("Dropout with training_mode=true is unsupported (inference only)")
    return ctx.emit(node, nn.DropoutOp, ctx.value(node, 0), ratio=ratio)


# --------------------------------------------------------------------------- linear algebra


@converter("Conv")
def _conv(ctx: ImportContext, node: OnnxNode) -> Value:
    x, w = ctx.value(node, 0), ctx.value(node, 1)
    _spatial(node, x, "Conv")
    kernel = _shape(w)[2:]
    declared = node.attr("kernel_shape")
    if declared is not None and tuple(declared) != kernel:
        raise node.error(f"kernel_shape {list(declared)} does not match the weight {w.type}")
    bias = ctx.value(node, 2) if node.input(2) else None
    bias = _fit_quantized_bias(ctx, node, x, w, bias, 0)
    return ctx.emit(node, nn.Conv2dOp, x, w, bias, group=node.attr("group", 1),
                    **_window_attrs(node, x, kernel))


@converter("ConvTranspose")
def _conv_transpose(ctx: ImportContext, node: OnnxNode) -> Value:
    x, w = ctx.value(node, 0), ctx.value(node, 1)
    _spatial(node, x, "ConvTranspose")
    kernel = _shape(w)[2:]
    declared = node.attr("kernel_shape")
    if declared is not None and tuple(declared) != kernel:
        raise node.error(f"kernel_shape {list(declared)} does not match the weight {w.type}")
    strides = tuple(node.attr("strides", [1, 1]))
    dilations = tuple(node.attr("dilations", [1, 1]))
    outpad = tuple(node.attr("output_padding", [0, 0]))
    if len(strides) != 2 or len(dilations) != 2 or len(outpad) != 2:
        raise node.error("strides, dilations and output_padding need 2 values for a 2-D "
                         "window")
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise node.unsupported_attr("auto_pad", auto_pad)
    output_shape = node.attr("output_shape")
    in_hw = _shape(x)[2:]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # the pads that give the requested size (SAME: input size times stride)
        want = list(output_shape) if output_shape is not None else \
            [size * s for size, s in zip(in_hw, strides, strict=True)]
        if len(want) != 2:
            raise node.error(f"output_shape {want} needs 2 values (H, W)")
        begins, ends = [], []
        for size, k, s, d, op_, out in zip(in_hw, kernel, strides, dilations, outpad, want,
                                           strict=True):
            # (negative when the requested size is larger: the pads then extend)
            total = s * (size - 1) + op_ + (k - 1) * d + 1 - out
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        pads = (*begins, *ends)
    elif auto_pad == "VALID":
        pads = (0, 0, 0, 0)
    else:
        pads = tuple(node.attr("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise node.error(f"pads needs 4 values for a 2-D window, got {list(pads)}")
    bias = ctx.value(node, 2) if node.input(2) else None
    return ctx.emit(node, nn.ConvTranspose2dOp, x, w, bias, group=node.attr("group", 1),
                    strides=strides, dilations=dilations, pads=pads, output_padding=outpad)


@converter("Gemm")
def _gemm(ctx: ImportContext, node: OnnxNode) -> Value:
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    c = ctx.value(node, 2) if node.input(2) else None
    if not node.attr("transA", 0) and node.attr("alpha", 1.0) == 1.0 and \
            node.attr("beta", 1.0) == 1.0:
        c = _fit_quantized_bias(ctx, node, a, b, c, 0 if node.attr("transB", 0) else 1)
    return ctx.emit(node, nn.GemmOp, a, b, c,
                    alpha=node.attr("alpha", 1.0), beta=node.attr("beta", 1.0),
                    trans_a=bool(node.attr("transA", 0)), trans_b=bool(node.attr("transB", 0)))


@converter("MatMul")
def _matmul(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.MatMulOp, ctx.value(node, 0), ctx.value(node, 1))


@converter("BatchNormalization")
def _batch_norm(ctx: ImportContext, node: OnnxNode) -> Value:
    if node.attr("training_mode", 0):
        raise node.unsupported_attr("training_mode", node.attr("training_mode"),
                                    "qcc imports inference models only")
    extra = [o for o in node.outputs[1:] if o]
    if extra:
        raise node.error(f"the training outputs ({', '.join(extra)}) of BatchNormalization "
                         "are unsupported")
    operands = [ctx.value(node, i) for i in range(5)]
    return ctx.emit(node, nn.BatchNormOp, *operands, epsilon=node.attr("epsilon", 1e-5))


# --------------------------------------------------------------------------- pooling


def _pool_common(node: OnnxNode, x: Value) -> dict[str, object]:
    _spatial(node, x, node.op_type)
    kernel = tuple(node.attr("kernel_shape", ()))
    attrs = _window_attrs(node, x, kernel)
    return {**attrs, "kernel": kernel, "ceil_mode": bool(node.attr("ceil_mode", 0))}


def _pool(ctx: ImportContext, node: OnnxNode, op_class: type[nn.MaxPoolOp | nn.AvgPoolOp],
          x: Value, **attrs: object) -> Value:
    y = ctx.emit(node, op_class, x, **attrs)
    # Before opset 22, ONNX shape inference keeps a last ceil_mode window that starts in
    # the end padding; onnxruntime (and opset 22) drop it, as qcc does
    onnx_type = ctx.tensor_type(node.outputs[0], node.loc)
    if attrs["ceil_mode"] and ctx.opset < 22 and y.type != onnx_type:
        raise node.error(f"ceil_mode {node.op_type} whose last window would start past the "
                         f"input: ONNX shape inference for opset {ctx.opset} counts it "
                         f"({onnx_type}), onnxruntime and opset 22 do not ({y.type}); "
                         "export the model with opset 22 or later")
    return y


@converter("MaxPool")
def _max_pool(ctx: ImportContext, node: OnnxNode) -> Value:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise node.error(f"the Indices output '{node.outputs[1]}' of MaxPool is unsupported")
    if node.attr("storage_order", 0) != 0:
        raise node.unsupported_attr("storage_order", node.attr("storage_order"))
    x = ctx.value(node, 0)
    return _pool(ctx, node, nn.MaxPoolOp, x, **_pool_common(node, x))


@converter("AveragePool")
def _avg_pool(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    attrs = _pool_common(node, x)
    if attrs.pop("dilations") != (1, 1):
        raise node.unsupported_attr("dilations", node.attr("dilations"),
                                    "average pooling supports dilation 1 only")
    return _pool(ctx, node, nn.AvgPoolOp, x, **attrs,
                 count_include_pad=bool(node.attr("count_include_pad", 0)))


@converter("LRN")
def _lrn(ctx: ImportContext, node: OnnxNode) -> Value:
    size = node.attr("size")
    if size is None:
        raise node.error("LRN needs the attribute 'size'")
    if size < 1:
        raise node.unsupported_attr("size", size, "the window must hold at least one channel")
    return ctx.emit(node, nn.LrnOp, ctx.value(node, 0), size=size,
                    alpha=node.attr("alpha", 1e-4), beta=node.attr("beta", 0.75),
                    bias=node.attr("bias", 1.0))


@converter("ReduceMean", constant_inputs=(1,))
def _reduce_mean(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    rank = len(_shape(x))
    if ctx.opset >= 18:  # axes became an input
        array = ctx.optional_const(node, 1)
        axes = None if array is None else _ints(node, 1, array)
    else:
        axes = node.attr("axes")
    if not axes:  # absent or empty: all axes, unless noop_with_empty_axes
        if node.attr("noop_with_empty_axes", 0):
            return ctx.emit(node, nn.IdentityOp, x)
        axes = list(range(rank))
    normalized = [_axis(node, a, rank, "ReduceMean axis") for a in axes]
    if len(set(normalized)) != len(normalized):
        raise node.error(f"ReduceMean axes {list(axes)} repeat")
    return ctx.emit(node, nn.ReduceMeanOp, x, axes=tuple(sorted(normalized)),
                    keepdims=bool(node.attr("keepdims", 1)))


@converter("GlobalAveragePool")
def _global_avg_pool(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.GlobalAvgPoolOp, ctx.value(node, 0))


# --------------------------------------------------------------------------- shapes


@converter("Flatten")
def _flatten(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    shape = _shape(x)
    axis = node.attr("axis", 1)
    if not -len(shape) <= axis <= len(shape):  # axis == rank is allowed here
        raise node.error(f"axis {axis} is out of range for rank {len(shape)}")
    axis += len(shape) if axis < 0 else 0
    return _reshape(ctx, node, x, (math.prod(shape[:axis]), math.prod(shape[axis:])))


@converter("Reshape", constant_inputs=(1,))
def _reshape_node(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    requested = _ints(node, 1, ctx.const(node, 1))
    keep_zero = bool(node.attr("allowzero", 0))
    shape = list(requested)
    for i, d in enumerate(requested):
        if d == 0 and not keep_zero:  # 0 copies the input dimension
            if i >= len(_shape(x)):
                raise node.error(f"shape {requested} copies dimension {i} of {x.type}")
            shape[i] = _shape(x)[i]
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise node.error(f"invalid shape {requested}")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or x.type.num_elements % known:
            raise node.error(f"cannot reshape {x.type} to {requested}")
        shape[shape.index(-1)] = x.type.num_elements // known
    return _reshape(ctx, node, x, shape)


def _axes(ctx: ImportContext, node: OnnxNode) -> list[int] | None:
    """Squeeze/Unsqueeze axes: an attribute before opset 13, an input since."""
    if ctx.opset < 13:
        axes = node.attr("axes")
        return None if axes is None else list(axes)
    array = ctx.optional_const(node, 1)
    return None if array is None else _ints(node, 1, array)


@converter("Squeeze", constant_inputs=(1,))
def _squeeze(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    shape = _shape(x)
    axes = _axes(ctx, node)
    if axes is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = [_axis(node, a, len(shape), "Squeeze axis") for a in axes]
    if any(shape[a] != 1 for a in axes):
        raise node.error(f"cannot squeeze axes {axes} of {x.type}: their size is not 1")
    return _reshape(ctx, node, x, [d for i, d in enumerate(shape) if i not in axes])


@converter("Unsqueeze", constant_inputs=(1,))
def _unsqueeze(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    axes = _axes(ctx, node)
    if axes is None:
        raise node.error("Unsqueeze needs axes")
    rank = len(_shape(x)) + len(axes)
    axes = [_axis(node, a, rank, "Unsqueeze axis") for a in axes]
    if len(set(axes)) != len(axes):
        raise node.error(f"Unsqueeze axes {axes} repeat")
    dims = iter(_shape(x))
    return _reshape(ctx, node, x, [1 if i in axes else next(dims) for i in range(rank)])


@converter("Transpose")
def _transpose(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    perm = node.attr("perm")
    if perm is None:
        perm = list(reversed(range(len(_shape(x)))))
    return ctx.emit(node, nn.TransposeOp, x, perm=tuple(perm))


@converter("Concat")
def _concat(ctx: ImportContext, node: OnnxNode) -> Value:
    inputs = [ctx.value(node, i) for i in range(len(node.inputs))]
    if node.attr("axis") is None:
        raise node.error("Concat needs an axis")
    axis = _axis(node, node.attr("axis"), len(_shape(inputs[0])))
    return ctx.emit(node, nn.ConcatOp, *inputs, axis=axis)


@converter("Pad", constant_inputs=(1, 2, 3))
def _pad(ctx: ImportContext, node: OnnxNode) -> Value:
    mode = node.attr("mode", "constant")
    if mode != "constant":
        raise node.unsupported_attr("mode", mode, "only constant padding is supported")
    x = ctx.value(node, 0)
    rank = len(_shape(x))
    pads = _ints(node, 1, ctx.const(node, 1))
    fill = ctx.optional_const(node, 2)
    axes = ctx.optional_const(node, 3)  # opset >= 18: pads cover only these axes
    if axes is not None:
        axes_list = [_axis(node, a, rank, "Pad axis") for a in _ints(node, 3, axes)]
        if len(pads) != 2 * len(axes_list):
            raise node.error(f"pads {pads} needs {2 * len(axes_list)} values for axes "
                             f"{axes_list}")
        full = [0] * (2 * rank)
        for k, a in enumerate(axes_list):
            full[a], full[a + rank] = pads[k], pads[k + len(axes_list)]
        pads = full
    value = 0.0 if fill is None else _scalar(node, fill, "Pad constant_value")
    return ctx.emit(node, nn.PadOp, x, pads=tuple(pads), value=value)


def _slice_bounds(size: int, start: int, end: int, step: int) -> tuple[int, int]:
    """ONNX Slice's normalization of one axis: negative indices count from the end,
    then the bounds are clamped (to [0, size] going forward, to [0, size - 1] and
    [-1, size - 1] going backward, -1 meaning through index 0)."""
    start += size if start < 0 else 0
    end += size if end < 0 else 0
    if step > 0:
        return min(max(start, 0), size), min(max(end, 0), size)
    return min(max(start, 0), size - 1), min(max(end, -1), size - 1)


@converter("Slice", constant_inputs=(1, 2, 3, 4))
def _slice(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    shape = _shape(x)
    rank = len(shape)
    starts = _ints(node, 1, ctx.const(node, 1))
    ends = _ints(node, 2, ctx.const(node, 2))
    axes_in = ctx.optional_const(node, 3)
    steps_in = ctx.optional_const(node, 4)
    axes = list(range(len(starts))) if axes_in is None else _ints(node, 3, axes_in)
    steps = [1] * len(starts) if steps_in is None else _ints(node, 4, steps_in)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise node.error(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                         "must have the same length")
    axes = [_axis(node, a, rank, "Slice axis") for a in axes]
    if len(set(axes)) != len(axes):
        raise node.error(f"Slice axes {axes} repeat")
    if 0 in steps:
        raise node.error(f"Slice steps {steps} must not be 0")
    b, e, st = [0] * rank, list(shape), [1] * rank
    for a, start, end, step in zip(axes, starts, ends, steps, strict=True):
        b[a], e[a] = _slice_bounds(shape[a], start, end, step)
        st[a] = step
    return ctx.emit(node, nn.SliceOp, x, starts=tuple(b), ends=tuple(e), steps=tuple(st))


@converter("Split", constant_inputs=(1,))
def _split(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    shape = _shape(x)
    axis = _axis(node, node.attr("axis", 0), len(shape), "Split axis")
    size, parts = shape[axis], len(node.outputs)
    if ctx.opset >= 13:  # split became an input
        array = ctx.optional_const(node, 1)
        split = None if array is None else _ints(node, 1, array)
    else:
        split = node.attr("split")
        split = None if split is None else list(split)
    num_outputs = node.attr("num_outputs")
    if split is None:
        if num_outputs is not None and num_outputs != parts:
            raise node.error(f"num_outputs {num_outputs} differs from the {parts} outputs")
        if num_outputs is None and size % parts:
            raise node.error(f"axis {axis} of {x.type} does not split into {parts} equal "
                             "parts")
        chunk = -(-size // parts)  # the last part may be smaller (opset 18)
        split = [min(chunk, size - k * chunk) for k in range(parts)]
    if len(split) != parts or any(n < 0 for n in split) or sum(split) != size:
        raise node.error(f"split {split} does not divide axis {axis} of {x.type} into "
                         f"{parts} outputs")
    first = None
    offset = 0
    for k, n in enumerate(split):
        starts, ends = [0] * len(shape), list(shape)
        starts[axis], ends[axis] = offset, offset + n
        v = ctx.emit(node, nn.SliceOp, x, starts=tuple(starts), ends=tuple(ends),
                     steps=(1,) * len(shape), name=node.outputs[k])
        offset += n
        if k == 0:
            first = v
        else:
            ctx.bind(node, k, v)
    return first


_RESIZE_ATTRS = ("mode", "coordinate_transformation_mode", "nearest_mode")


@converter("Resize", constant_inputs=(2, 3))
def _resize(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    shape = _shape(x)
    rank = len(shape)
    mode = node.attr("mode", "nearest")
    coord = node.attr("coordinate_transformation_mode", "half_pixel")
    nearest = node.attr("nearest_mode", "round_prefer_floor")
    for key, value, allowed in (("mode", mode, nn.RESIZE_MODES),
                                ("coordinate_transformation_mode", coord,
                                 nn.RESIZE_COORDINATE_MODES),
                                ("nearest_mode", nearest, nn.RESIZE_NEAREST_MODES)):
        if value not in allowed:
            why = "cropping by a region of interest is unsupported" \
                if value == "tf_crop_and_resize" else f"qcc supports {', '.join(allowed)}"
            raise node.unsupported_attr(key, value, why)
    if node.attr("antialias", 0) and mode == "nearest":
        raise node.unsupported_attr("antialias", 1, "antialias needs linear or cubic mode")
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise node.unsupported_attr("keep_aspect_ratio_policy", policy)
    axes = node.attr("axes")
    axes = list(range(rank)) if axes is None else \
        [_axis(node, a, rank, "Resize axis") for a in axes]
    if len(set(axes)) != len(axes):
        raise node.error(f"Resize axes {axes} repeat")
    scales_in = ctx.optional_const(node, 2)
    sizes_in = ctx.optional_const(node, 3)
    if scales_in is not None and scales_in.size == 0:  # opset 11-12 write an empty one
        scales_in = None
    if sizes_in is not None and sizes_in.size == 0:
        sizes_in = None
    if (scales_in is None) == (sizes_in is None):
        raise node.error("Resize needs exactly one of scales and sizes")
    scales = [1.0] * rank
    sizes = list(shape)
    if scales_in is not None:
        values = np.asarray(scales_in).reshape(-1)
        if values.dtype.kind != "f" or len(values) != len(axes):
            raise node.error(f"scales {values.tolist()} must be {len(axes)} floats")
        for a, v in zip(axes, values, strict=True):
            if not (math.isfinite(float(v)) and v > 0):
                raise node.error(f"scales {values.tolist()} must be positive")
            scales[a] = float(v)
            sizes[a] = math.floor(float(v) * shape[a])
    else:
        wanted = _ints(node, 3, sizes_in)
        if len(wanted) != len(axes) or any(n < 1 for n in wanted):
            raise node.error(f"sizes {wanted} must be {len(axes)} positive integers")
        ratios = {a: n / shape[a] for a, n in zip(axes, wanted, strict=True)}
        if policy == "stretch":
            for a, n in zip(axes, wanted, strict=True):
                scales[a], sizes[a] = ratios[a], n
        else:  # one scale for every axis, the largest that fits or the smallest that covers
            common = (min if policy == "not_larger" else max)(ratios.values())
            for a in axes:
                scales[a], sizes[a] = common, int(common * shape[a] + 0.5)
    if any(shape[a] == 0 for a in axes):
        raise node.error(f"cannot resize the empty {x.type}")
    return ctx.emit(node, nn.ResizeOp, x, sizes=tuple(sizes), scales=tuple(scales),
                    mode=mode, coordinate_mode=coord, nearest_mode=nearest,
                    cubic_coeff_a=node.attr("cubic_coeff_a", -0.75),
                    exclude_outside=bool(node.attr("exclude_outside", 0)),
                    antialias=bool(node.attr("antialias", 0)))


# --------------------------------------------------------------------------- erf, gelu


@converter("Erf")
def _erf(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.ErfOp, ctx.value(node, 0))


@converter("Gelu")
def _gelu(ctx: ImportContext, node: OnnxNode) -> Value:
    approximate = node.attr("approximate", "none")
    if approximate not in nn.GELU_APPROXIMATIONS:
        raise node.unsupported_attr("approximate", approximate, "Gelu's approximate is "
                                    "'none' or 'tanh'")
    return ctx.emit(node, nn.GeluOp, ctx.value(node, 0), approximate=approximate)


# --------------------------------------------------------------------------- transformers
# Embeddings, LayerNormalization and the attention-mask ops; integer and boolean tensors
# (token ids, masks) flow through these as i64 / i32 / i1. With constant operands they
# are folded at import time instead (onnx_fold; the importer's FOLDED_WHEN_CONSTANT).

#: ONNX element types of tensors the IR carries besides float32 (token ids, masks)
ONNX_ELEMENTS = {TensorProto.FLOAT: f32, TensorProto.INT64: i64, TensorProto.INT32: i32,
                 TensorProto.BOOL: i1}


@converter("Gather")
def _gather(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    axis = _axis(node, node.attr("axis", 0), len(_shape(x)), "Gather axis")
    return ctx.emit(node, nn.GatherOp, x, ctx.value(node, 1), axis=axis)


@converter("GatherElements")
def _gather_elements(ctx: ImportContext, node: OnnxNode) -> Value:
    x = ctx.value(node, 0)
    axis = _axis(node, node.attr("axis", 0), len(_shape(x)), "GatherElements axis")
    return ctx.emit(node, nn.GatherElementsOp, x, ctx.value(node, 1), axis=axis)


@converter("LayerNormalization")
def _layer_norm(ctx: ImportContext, node: OnnxNode) -> Value:
    stash = node.attr("stash_type", 1)
    if stash != TensorProto.FLOAT:
        raise node.unsupported_attr("stash_type", stash, "qcc normalizes in float32")
    x = ctx.value(node, 0)
    rank = len(_shape(x))
    axis = _axis(node, node.attr("axis", -1), rank, "LayerNormalization axis")
    epsilon = node.attr("epsilon", 1e-5)
    bias = ctx.value(node, 2) if node.input(2) else None
    y = ctx.emit(node, nn.LayerNormOp, x, ctx.value(node, 1), bias, axis=axis, epsilon=epsilon)
    wanted = [k for k in (1, 2) if len(node.outputs) > k and node.outputs[k] in ctx.used]
    if wanted:  # the optional Mean and InvStdDev outputs, from reductions (rarely used)
        axes = tuple(range(axis, rank))
        out = node.outputs[0]
        mean = ctx.emit(node, nn.ReduceMeanOp, x, axes=axes, name=f"{out}.mean")
        d = ctx.emit(node, nn.SubOp, x, mean, name=f"{out}.centered")
        var = ctx.emit(node, nn.ReduceMeanOp, ctx.emit(node, nn.MulOp, d, d,
                                                       name=f"{out}.squared"),
                       axes=axes, name=f"{out}.var")
        eps = nn.ConstantOp.build(value=DenseAttr.from_array(np.float32(epsilon)),
                                  loc=node.loc, name=f"{out}.epsilon")
        one = nn.ConstantOp.build(value=DenseAttr.from_array(np.float32(1)), loc=node.loc,
                                  name=f"{out}.one")
        ctx.graph.append(eps)
        ctx.graph.append(one)
        std = ctx.emit(node, nn.SqrtOp, ctx.emit(node, nn.AddOp, var, eps.result,
                                                 name=f"{out}.var_eps"), name=f"{out}.std")
        results = {1: mean, 2: ctx.emit(node, nn.DivOp, one.result, std,
                                        name=node.outputs[2])}
        for k in wanted:
            if k == 1:
                results[1] = ctx.emit(node, nn.IdentityOp, mean, name=node.outputs[1])
            ctx.bind(node, k, results[k])
    return y


@converter("Cast")
def _cast(ctx: ImportContext, node: OnnxNode) -> Value:
    to = node.attr("to")
    if to not in ONNX_ELEMENTS:
        from qcc.frontend.onnx_importer import element_name

        raise node.unsupported_attr("to", to, f"a cast to {element_name(to)}; qcc computes "
                                    "in float32, int64, int32 and bool")
    return ctx.emit(node, nn.CastOp, ctx.value(node, 0), to=ONNX_ELEMENTS[to])


@converter("Where")
def _where(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.WhereOp, ctx.value(node, 0), ctx.value(node, 1),
                    ctx.value(node, 2))


_COMPARE = {"Equal": nn.EqualOp, "Less": nn.LessOp, "LessOrEqual": nn.LessEqualOp,
            "Greater": nn.GreaterOp, "GreaterOrEqual": nn.GreaterEqualOp,
            "And": nn.LogicalAndOp, "Or": nn.LogicalOrOp, "Xor": nn.LogicalXorOp}


@converter(*_COMPARE)
def _compare(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, _COMPARE[node.op_type], ctx.value(node, 0), ctx.value(node, 1))


@converter("Not")
def _not(ctx: ImportContext, node: OnnxNode) -> Value:
    return ctx.emit(node, nn.LogicalNotOp, ctx.value(node, 0))


@converter("Expand", constant_inputs=(1,))
def _expand(ctx: ImportContext, node: OnnxNode) -> Value:
    shape = _ints(node, 1, ctx.const(node, 1))
    if any(d < 0 for d in shape):
        raise node.error(f"Expand shape {shape} has a negative size")
    return ctx.emit(node, nn.ExpandOp, ctx.value(node, 0), shape=tuple(shape))


def _mixed_pow(ctx: ImportContext, node: OnnxNode, x: Value, y: Value) -> Value:
    """Pow of operands of different element types (ONNX allows any pair; the result has
    x's type): computed in float32, an integer result truncated back."""
    out = node.outputs[0]
    xf = x if x.type.element == f32 else ctx.emit(node, nn.CastOp, x, to=f32,
                                                  name=f"{out}.base")
    yf = y if y.type.element == f32 else ctx.emit(node, nn.CastOp, y, to=f32,
                                                  name=f"{out}.exponent")
    if x.type.element == f32:
        return ctx.emit(node, nn.PowOp, xf, yf)
    p = ctx.emit(node, nn.PowOp, xf, yf, name=f"{out}.f32")
    return ctx.emit(node, nn.CastOp, p, to=x.type.element)


# --------------------------------------------------------------------------- recurrent
# The LSTM op, unrolled over its static sequence length into the ops above (docs/lstm.md)

#: the activations an ONNX LSTM has when it names none, per direction: f, g, h
_LSTM_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
_LSTM_DIRECTIONS = ("forward", "reverse", "bidirectional")


def _lstm_weight(node: OnnxNode, array: np.ndarray, what: str,
                 shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype != np.float32:
        raise node.error(f"{what} must be float32, not {a.dtype}")
    if a.shape != shape:
        raise node.error(f"{what} has shape {list(a.shape)}; the LSTM's sizes need "
                         f"{list(shape)}")
    return a


def _lstm_state(ctx: ImportContext, node: OnnxNode, index: int, what: str,
                shape: tuple[int, ...]) -> Value | None:
    """initial_h or initial_c as a value of ``shape``; None when absent or a constant of
    zeros (the unrolled cell then leaves out the products with it)."""
    name = node.input(index)
    if not name:
        return None
    if name in ctx.constants and name not in ctx.values:
        array = np.asarray(ctx.constants[name])
        if array.shape == shape and array.dtype == np.float32 and not np.any(array):
            return None
    v = ctx.value(node, index)
    if _shape(v) != shape:
        raise node.error(f"{what} '{name}' is {v.type}; the LSTM's sizes need "
                         f"[{', '.join(map(str, shape))}]")
    return v


@converter("LSTM", constant_inputs=(1, 2, 3))
def _lstm(ctx: ImportContext, node: OnnxNode) -> Value | None:
    """ONNX LSTM (layout 0, default activations, no peepholes, no clip) unrolled over
    its sequence length. Per direction: one Gemm computes ``X W^T + Wb + Rb`` for all
    time steps at once ([seq * batch, input] x [input, 4 * hidden]); each step adds
    ``h R^T`` (one Gemm by the constant R^T, left out while h is the zero initial
    state), slices the i, o, f, c gates, and computes ``c = f * c + i * g(c~)``,
    ``h = o * tanh(c)`` with nn ops."""
    layout = node.attr("layout", 0)
    if layout != 0:
        raise node.unsupported_attr("layout", layout, "qcc supports layout 0 (X is "
                                    "[seq_length, batch_size, input_size]); transpose a "
                                    "batch-first input before the LSTM")
    if node.attr("clip") is not None:
        raise node.unsupported_attr("clip", node.attr("clip"), "cell clipping is "
                                    "unsupported")
    if node.attr("input_forget", 0):
        raise node.unsupported_attr("input_forget", node.attr("input_forget"),
                                    "coupled input and forget gates are unsupported")
    direction = node.attr("direction", "forward")
    if direction not in _LSTM_DIRECTIONS:
        raise node.unsupported_attr("direction", direction,
                                    f"ONNX has {', '.join(_LSTM_DIRECTIONS)}")
    dirs = 2 if direction == "bidirectional" else 1
    activations = node.attr("activations")
    if activations is not None and list(activations) != list(_LSTM_ACTIVATIONS) * dirs:
        raise node.unsupported_attr("activations", list(activations), "qcc supports the "
                                    "default activations " + ", ".join(_LSTM_ACTIVATIONS)
                                    + " per direction")
    if node.input(7):
        p = ctx.constants.get(node.input(7))
        if p is None or p.size:
            raise node.error(f"peephole weights P ('{node.input(7)}', input 7) are "
                             "unsupported")
    x = ctx.value(node, 0)
    if len(_shape(x)) != 3:
        raise node.error(f"X must be [seq_length, batch_size, input_size], got {x.type}")
    if node.input(0) in ctx.batch_defaulted and node.input(0) not in ctx.constants:
        seq_name = ctx.batch_defaulted[node.input(0)]
        fixed = "x".join(map(str, _shape(x)))
        raise node.error(f"the sequence length (dimension 0 of X, graph input "
                         f"'{node.input(0)}') is dynamic ({seq_name}); qcc unrolls the "
                         "LSTM over a fixed sequence length: fix it with --input-shape "
                         f"{node.input(0)}=SEQx{fixed.split('x', 1)[1]} (input_shapes= in "
                         "the Python API); --batch does not set it")
    seq, batch, size = _shape(x)
    if seq < 1:
        raise node.error(f"X {x.type} has no time steps")
    w_all = ctx.const(node, 1)
    hidden = node.attr("hidden_size")
    if hidden is None:
        hidden = np.asarray(w_all).shape[1] // 4 if np.ndim(w_all) == 3 else 0
    if hidden < 1:
        raise node.error(f"hidden_size {hidden} must be positive")
    w_all = _lstm_weight(node, w_all, f"W ('{node.input(1)}')", (dirs, 4 * hidden, size))
    r_all = _lstm_weight(node, ctx.const(node, 2), f"R ('{node.input(2)}')",
                         (dirs, 4 * hidden, hidden))
    if node.input(3):
        b_all = _lstm_weight(node, ctx.const(node, 3), f"B ('{node.input(3)}')",
                             (dirs, 8 * hidden))
    else:
        b_all = np.zeros((dirs, 8 * hidden), np.float32)
    if node.input(4):
        lens = ctx.constants.get(node.input(4))
        if lens is None:
            raise node.error(f"sequence_lens ('{node.input(4)}', input 4) must be a "
                             "constant: qcc unrolls the LSTM over a fixed sequence length")
        lens = np.asarray(lens).reshape(-1)
        if lens.size and (lens.size != batch or np.any(lens != seq)):
            raise node.error(f"sequence_lens {lens.tolist()} (input 4) gives sequences "
                             f"shorter than X's {seq} steps; qcc unrolls every sequence "
                             f"over all {seq} steps (variable lengths are unsupported)")
    states = (dirs, batch, hidden)
    h0 = _lstm_state(ctx, node, 5, "initial_h", states)
    c0 = _lstm_state(ctx, node, 6, "initial_c", states)

    outs = [node.outputs[k] if len(node.outputs) > k else "" for k in range(3)]
    wanted = [bool(o) and o in ctx.used for o in outs]
    base = node.name

    def emit(op_class, *operands, name, **attrs):
        return ctx.emit(node, op_class, *operands, name=f"{base}.{name}", **attrs)

    def const(array: np.ndarray, name: str) -> Value:
        c = nn.ConstantOp.build(value=DenseAttr.from_array(np.ascontiguousarray(array),
                                                           f32),
                                loc=node.loc, name=f"{base}.{name}")
        ctx.graph.append(c)
        return c.result

    def state(v: Value | None, d: int, name: str) -> Value | None:
        if v is None:
            return None
        if dirs > 1:
            v = emit(nn.SliceOp, v, name=f"{name}.slice", starts=(d, 0, 0),
                     ends=(d + 1, batch, hidden), steps=(1, 1, 1))
        return emit(nn.ReshapeOp, v, name=name, shape=(batch, hidden))

    rows = emit(nn.ReshapeOp, x, name="x_rows", shape=(seq * batch, size))
    ys, last_h, last_c = [], [], []
    for d in range(dirs):
        tag = "" if dirs == 1 else ("_fw", "_bw")[d]
        reverse = direction == "reverse" or d == 1
        bias = b_all[d, :4 * hidden] + b_all[d, 4 * hidden:]
        xw = emit(nn.GemmOp, rows, const(w_all[d].T, f"W{tag}_t"),
                  const(bias, f"B{tag}_sum"), name=f"x_proj{tag}")
        r_t = const(r_all[d].T, f"R{tag}_t")
        h = state(h0, d, f"initial_h{tag}")
        c = state(c0, d, f"initial_c{tag}")
        hs: dict[int, Value] = {}
        for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
            p = f"t{t}{tag}"
            gates = xw if seq == 1 else emit(
                nn.SliceOp, xw, name=f"{p}.x_proj", starts=(t * batch, 0),
                ends=((t + 1) * batch, 4 * hidden), steps=(1, 1))
            if h is not None:
                hr = emit(nn.GemmOp, h, r_t, None, name=f"{p}.h_proj")
                gates = emit(nn.AddOp, gates, hr, name=f"{p}.gates")
            i, o, f, g = (emit(nn.SliceOp, gates, name=f"{p}.{gate}",
                               starts=(0, k * hidden), ends=(batch, (k + 1) * hidden),
                               steps=(1, 1))
                          for k, gate in enumerate(("i", "o", "f", "c")))
            i = emit(nn.SigmoidOp, i, name=f"{p}.i_sigmoid")
            o = emit(nn.SigmoidOp, o, name=f"{p}.o_sigmoid")
            f = emit(nn.SigmoidOp, f, name=f"{p}.f_sigmoid")
            g = emit(nn.TanhOp, g, name=f"{p}.c_tanh")
            ig = emit(nn.MulOp, i, g, name=f"{p}.i_mul_c")
            c = ig if c is None else emit(nn.AddOp, emit(nn.MulOp, f, c, name=f"{p}.f_mul"),
                                          ig, name=f"{p}.cell")
            h = emit(nn.MulOp, o, emit(nn.TanhOp, c, name=f"{p}.cell_tanh"),
                     name=f"{p}.hidden")
            hs[t] = h
        last_h.append(h)
        last_c.append(c)
        if wanted[0]:
            steps = [hs[t] for t in range(seq)]
            y = steps[0] if seq == 1 else emit(nn.ConcatOp, *steps, name=f"y{tag}.rows",
                                               axis=0)
            ys.append(emit(nn.ReshapeOp, y, name=f"y{tag}", shape=(seq, 1, batch, hidden)))

    def stack(values: list[Value], k: int) -> Value:
        parts = [emit(nn.ReshapeOp, v, name=f"{outs[k]}.{d}" if dirs > 1 else outs[k],
                      shape=(1, batch, hidden)) for d, v in enumerate(values)]
        return parts[0] if dirs == 1 else ctx.emit(node, nn.ConcatOp, *parts,
                                                   name=outs[k], axis=0)

    for k, values in ((1, last_h), (2, last_c)):
        if wanted[k]:
            ctx.bind(node, k, stack(values, k))
    if not wanted[0]:
        return None
    return ys[0] if dirs == 1 else ctx.emit(node, nn.ConcatOp, *ys, name=outs[0], axis=1)
