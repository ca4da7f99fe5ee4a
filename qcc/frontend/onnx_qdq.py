"""Converters of the ONNX QDQ nodes: QuantizeLinear and DequantizeLinear.

Registered with :func:`qcc.frontend.onnx_ops.converter` like the float ops of
``onnx_ops.py`` (the importer imports both modules). QuantizeLinear and
DequantizeLinear become ``quant.quantize`` / ``quant.dequantize``; a DequantizeLinear
of an integer initializer becomes an ``nn.constant`` of the quantized type (int8
weights in [-127, 127] with zero point 0 get qcc's narrow range ``i8<-127:127>``), and
a QuantizeLinear of a float initializer is quantized at import into such a constant
(docs/qdq.md). The int32 bias of a Conv or Gemm over dequantized operands is typed
where those ops are converted (``onnx_ops._fit_quantized_bias``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from onnx import TensorProto

from qcc.dialects import nn, quant
from qcc.frontend.onnx_ops import _axis, _shape, converter
from qcc.interpreter import qparams
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Value
from qcc.ir.types import (
    IntegerType,
    QuantType,
    TensorType,
    UniformQuantPerAxisType,
    UniformQuantType,
    i8,
    i32,
    u8,
)
from qcc.quant_arith import quantize

if TYPE_CHECKING:
    from qcc.frontend.onnx_importer import ImportContext, OnnxNode



#: numpy dtype of quantized data -> IR storage type
_STORAGE = {np.dtype(np.int8): i8, np.dtype(np.uint8): u8, np.dtype(np.int32): i32}
_Q_OUTPUT_DTYPES = {TensorProto.INT8: i8, TensorProto.UINT8: u8}


def _no_blocks(node: OnnxNode) -> None:
    block = node.attr("block_size", 0)
    if block:
        raise node.unsupported_attr("block_size", block, "block quantization is unsupported; "
                                    "qcc supports per-tensor and per-axis scales")


def _qparams(ctx: ImportContext, node: OnnxNode, shape: tuple[int, ...]
             ) -> tuple[list[float], np.ndarray | None, int | None]:
    """(scales, zero points or None, axis or None for per tensor) of a Q/DQ node."""
    scale = ctx.const(node, 1)
    zp = ctx.optional_const(node, 2)
    if scale.dtype.kind != "f":
        raise node.error(f"the scale of {node.op_type} '{node.name}' must be a float tensor, "
                         f"got {scale.dtype}")
    if zp is not None and zp.size != scale.size:
        raise node.error(f"the zero point (shape {list(zp.shape)}) and scale (shape "
                         f"{list(scale.shape)}) of {node.op_type} '{node.name}' differ in size")
    scales = [float(s) for s in scale.reshape(-1)]
    if scale.size == 1 and scale.ndim <= 1:
        return scales, zp, None  # per tensor (a 1-element vector too, as onnxruntime reads it)
    if scale.ndim != 1:
        raise node.error(f"the scale of {node.op_type} '{node.name}' must be a scalar or 1-D, "
                         f"got shape {list(scale.shape)}")
    axis = _axis(node, int(node.attr("axis", 1)), len(shape), f"{node.op_type} axis")
    if shape[axis] != scale.size:
        raise node.error(f"{node.op_type} '{node.name}' has {scale.size} scales for axis "
                         f"{axis} of size {shape[axis]}")
    return scales, zp, axis


def _quant_type(node: OnnxNode, storage: IntegerType, scales: list[float],
                zp: np.ndarray | None, axis: int | None, narrow: bool = False) -> QuantType:
    zps = [0] * len(scales) if zp is None else [int(z) for z in zp.reshape(-1)]
    lo, hi = (-127, 127) if narrow else (None, None)
    try:
        if axis is None:
            return UniformQuantType.make(storage, scales[0], zps[0], storage_min=lo,
                                         storage_max=hi)
        return UniformQuantPerAxisType.make(storage, axis, scales, zps, storage_min=lo,
                                            storage_max=hi)
    except ValueError as e:
        raise node.error(f"invalid quantization parameters of {node.op_type} '{node.name}': "
                         f"{e}") from None


def _narrow(storage: IntegerType, data: np.ndarray, zp: np.ndarray | None) -> bool:
    """int8 data in [-127, 127] with zero point 0 gets qcc's weight range
    i8<-127:127>, so that imported weights look like qcc's own."""
    return storage == i8 and (zp is None or not np.any(zp)) and \
        int(data.min(initial=0)) >= -127


def _same_quantization(a: QuantType, b: QuantType) -> bool:
    """Equal but for the storage range (a narrowed constant reads as the full one)."""
    def key(e: QuantType) -> tuple:
        if isinstance(e, UniformQuantPerAxisType):
            return (e.storage, e.axis, e.scales, e.zero_points)
        return (e.storage, None, (e.scale,), (e.zero_point,))
    return key(a) == key(b)


def _is_import_constant(ctx: ImportContext, name: str) -> bool:
    return bool(name) and name in ctx.constants and name not in ctx.values


@converter("QuantizeLinear", constant_inputs=(1, 2))
def _quantize_linear(ctx: ImportContext, node: OnnxNode) -> Value:
    _no_blocks(node)
    if node.attr("saturate", 1) != 1:
        raise node.unsupported_attr("saturate", node.attr("saturate"),
                                    "it applies to float8 outputs, which qcc does not support")
    zp = ctx.optional_const(node, 2)
    out_dtype = node.attr("output_dtype", 0)
    if zp is not None:
        storage = _STORAGE.get(zp.dtype)
        if storage not in (i8, u8):
            raise node.error(f"the output '{node.outputs[0]}' of QuantizeLinear '{node.name}' "
                             f"has element type {zp.dtype}; qcc imports float32 models "
                             "quantized to int8 or uint8")
        if out_dtype and _Q_OUTPUT_DTYPES.get(out_dtype) != storage:
            raise node.unsupported_attr("output_dtype", out_dtype,
                                        f"it contradicts the zero point's type {zp.dtype}")
    elif out_dtype:
        if out_dtype not in _Q_OUTPUT_DTYPES:
            raise node.unsupported_attr("output_dtype", out_dtype,
                                        "qcc quantizes to int8 and uint8 only")
        storage = _Q_OUTPUT_DTYPES[out_dtype]
    else:
        storage = u8  # ONNX's default without a zero point
    name = node.input(0)
    if _is_import_constant(ctx, name):
        # a float weight quantized in the graph (quantization-aware training exports):
        # quantize it now, as the interpreter would, into an integer constant
        array = ctx.constants[name]
        if array.dtype != np.float32:
            raise node.error(f"tensor '{name}' quantized by QuantizeLinear '{node.name}' has "
                             f"element type {array.dtype}; qcc imports float32 models")
        scales, zp, axis = _qparams(ctx, node, array.shape)
        qt = _quant_type(node, storage, scales, zp, axis)
        t = TensorType(array.shape, qt)
        scale_b, zp_b = qparams(t)
        data = quantize(array, scale_b.astype(np.float32), zp_b, qt.storage_min, qt.storage_max,
                        qt.numpy_dtype)
        if _narrow(storage, data, zp):
            t = TensorType(array.shape, _quant_type(node, storage, scales, zp, axis, True))
        op = nn.ConstantOp.build(value=DenseAttr(data, t), loc=node.loc, name=node.outputs[0])
        ctx.graph.append(op)
        return op.result
    x = ctx.value(node, 0)
    scales, zp, axis = _qparams(ctx, node, _shape(x))
    qt = _quant_type(node, storage, scales, zp, axis)
    return ctx.emit(node, quant.QuantizeOp, x, result_types=[x.type.with_element(qt)])


@converter("DequantizeLinear", constant_inputs=(1, 2))
def _dequantize_linear(ctx: ImportContext, node: OnnxNode) -> Value:
    _no_blocks(node)
    out_dtype = node.attr("output_dtype", 0)
    if out_dtype not in (0, TensorProto.FLOAT):
        raise node.unsupported_attr("output_dtype", out_dtype, "qcc dequantizes to float32")
    name = node.input(0)
    zp = ctx.optional_const(node, 2)
    if _is_import_constant(ctx, name):
        # quantized weights or bias: an integer constant with its quant type
        data = ctx.constants[name]
        storage = _STORAGE.get(data.dtype)
        if storage is None:
            raise node.error(f"tensor '{name}' read by DequantizeLinear '{node.name}' has "
                             f"element type {data.dtype}; qcc imports float32 models with "
                             "int8, uint8 or int32 quantized data")
        _check_zero_point(node, zp, data.dtype)
        scales, zp, axis = _qparams(ctx, node, data.shape)
        qt = _quant_type(node, storage, scales, zp, axis, _narrow(storage, data, zp))
        c = nn.ConstantOp.build(value=DenseAttr(data, TensorType(data.shape, qt)),
                                loc=ctx.constant_locs[name], name=name)
        ctx.graph.append(c)
        return ctx.emit(node, quant.DequantizeOp, c.result)
    x = ctx.value(node, 0)
    e = x.type.element
    if not isinstance(e, QuantType):
        raise node.error(f"DequantizeLinear '{node.name}' reads '{name}' ({x.type}): its input "
                         "must be the output of a QuantizeLinear or an int8/uint8/int32 "
                         "initializer")
    _check_zero_point(node, zp, e.numpy_dtype)
    scales, zp, axis = _qparams(ctx, node, _shape(x))
    qt = _quant_type(node, e.storage, scales, zp, axis)
    if not _same_quantization(qt, e):
        raise node.error(f"DequantizeLinear '{node.name}' reads '{name}' with other "
                         f"quantization parameters ({qt}) than it was quantized with ({e}); "
                         "qcc needs them equal")
    return ctx.emit(node, quant.DequantizeOp, x)


def _check_zero_point(node: OnnxNode, zp: np.ndarray | None, dtype: np.dtype) -> None:
    if zp is None:
        return
    if zp.dtype != dtype:
        raise node.error(f"the zero point of DequantizeLinear '{node.name}' is {zp.dtype}, "
                         f"its input {np.dtype(dtype)}")
    if zp.dtype == np.int32 and np.any(zp):
        raise node.error(f"DequantizeLinear '{node.name}' of int32 data needs zero point 0")
