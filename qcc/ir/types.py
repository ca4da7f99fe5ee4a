"""IR types: static-shape tensors of plain or quantized elements.

Element types print as ``f32``, ``i8``, ``u8``, ``i32``, ``i64``, ``i1`` (bool) and, for quantized
elements, in the syntax of MLIR's ``quant`` dialect::

    !quant.uniform<i8:f32, 0.5:-3>                      per tensor: scale:zero_point
    !quant.uniform<i8<-127:127>:f32:0, {0.1:0, 0.2:0}>  per axis 0, narrow storage range

A tensor type prints as ``tensor<1x3x8x8xf32>`` (``tensor<f32>`` for a scalar).
All types are frozen and hashable.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


class Type:
    """Base class of all IR types."""


class ElementType(Type):
    """Base class of tensor element types."""

    @property
    def numpy_dtype(self) -> np.dtype:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class FloatType(ElementType):
    width: int

    def __str__(self) -> str:
        return f"f{self.width}"

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype({16: np.float16, 32: np.float32, 64: np.float64}[self.width])


@dataclass(frozen=True)
class IntegerType(ElementType):
    width: int
    signed: bool = True

    def __str__(self) -> str:
        return f"{'i' if self.signed else 'u'}{self.width}"

    @property
    def min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(f"{'i' if self.signed else 'u'}{self.width // 8}")


@dataclass(frozen=True)
class BoolType(ElementType):
    """Booleans (ONNX ``bool``: comparison results, masks); printed ``i1`` as in MLIR."""

    def __str__(self) -> str:
        return "i1"

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(np.bool_)


f32 = FloatType(32)
f64 = FloatType(64)
i8 = IntegerType(8)
u8 = IntegerType(8, signed=False)
i32 = IntegerType(32)
i64 = IntegerType(64)
i1 = BoolType()

ELEMENT_TYPES: dict[str, ElementType] = {
    "f16": FloatType(16), "f32": f32, "f64": f64,
    "i8": i8, "u8": u8, "i16": IntegerType(16), "u16": IntegerType(16, False),
    "i32": i32, "u32": IntegerType(32, False), "i64": i64, "i1": i1,
}


def format_float(value: float) -> str:
    """Shortest text that reads back as exactly the same float64."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


class QuantType(ElementType):
    """Base of the quantized element types: storage integers that stand for reals."""

    storage: IntegerType
    expressed: FloatType
    storage_min: int
    storage_max: int

    @property
    def numpy_dtype(self) -> np.dtype:
        return self.storage.numpy_dtype

    def _storage_text(self) -> str:
        text = str(self.storage)
        if (self.storage_min, self.storage_max) != (self.storage.min, self.storage.max):
            text += f"<{self.storage_min}:{self.storage_max}>"
        return text


def _check_storage(t: QuantType) -> None:
    if not (t.storage.min <= t.storage_min <= t.storage_max <= t.storage.max):
        raise ValueError(
            f"storage range [{t.storage_min}, {t.storage_max}] does not fit in {t.storage}")


@dataclass(frozen=True)
class UniformQuantType(QuantType):
    """Per-tensor affine quantization: ``real = scale * (q - zero_point)``."""

    storage: IntegerType
    expressed: FloatType
    scale: float
    zero_point: int
    storage_min: int
    storage_max: int

    def __post_init__(self) -> None:
        _check_storage(self)
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"quantization scale must be positive and finite, got {self.scale}")
        if not (self.storage_min <= self.zero_point <= self.storage_max):
            raise ValueError(f"zero point {self.zero_point} outside the storage range")

    @staticmethod
    def make(storage: IntegerType, scale: float, zero_point: int = 0,
             expressed: FloatType = f32, storage_min: int | None = None,
             storage_max: int | None = None) -> UniformQuantType:
        return UniformQuantType(storage, expressed, float(scale), int(zero_point),
                                storage.min if storage_min is None else storage_min,
                                storage.max if storage_max is None else storage_max)

    def __str__(self) -> str:
        return (f"!quant.uniform<{self._storage_text()}:{self.expressed}, "
                f"{format_float(self.scale)}:{self.zero_point}>")


@dataclass(frozen=True)
class UniformQuantPerAxisType(QuantType):
    """Per-axis (per-channel) affine quantization along ``axis``."""

    storage: IntegerType
    expressed: FloatType
    axis: int
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    storage_min: int
    storage_max: int

    def __post_init__(self) -> None:
        _check_storage(self)
        if self.axis < 0:
            raise ValueError(f"quantization axis must be non-negative, got {self.axis}")
        if len(self.scales) != len(self.zero_points) or not self.scales:
            raise ValueError("per-axis quantization needs one scale and zero point per channel")
        for s in self.scales:
            if not (s > 0 and math.isfinite(s)):
                raise ValueError(f"quantization scale must be positive and finite, got {s}")
        for z in self.zero_points:
            if not (self.storage_min <= z <= self.storage_max):
                raise ValueError(f"zero point {z} outside the storage range")

    @staticmethod
    def make(storage: IntegerType, axis: int, scales, zero_points=None,
             expressed: FloatType = f32, storage_min: int | None = None,
             storage_max: int | None = None) -> UniformQuantPerAxisType:
        scales = tuple(float(s) for s in scales)
        zps = tuple(0 for _ in scales) if zero_points is None else tuple(int(z) for z in
                                                                         zero_points)
        return UniformQuantPerAxisType(storage, expressed, int(axis), scales, zps,
                                       storage.min if storage_min is None else storage_min,
                                       storage.max if storage_max is None else storage_max)

    def __str__(self) -> str:
        return self._text

    @functools.cached_property
    def _text(self) -> str:
        # cached: a value's type is printed with every op that uses it, and a
        # per-channel type holds one scale per channel
        pairs = ", ".join(f"{format_float(s)}:{z}" for s, z in zip(self.scales,
                                                                   self.zero_points,
                                                                   strict=True))
        return (f"!quant.uniform<{self._storage_text()}:{self.expressed}:{self.axis}, "
                f"{{{pairs}}}>")


@dataclass(frozen=True)
class TensorType(Type):
    """A tensor of static shape."""

    shape: tuple[int, ...]
    element: ElementType

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if any(d < 0 for d in self.shape):
            raise ValueError(f"negative dimension in shape {self.shape}")
        e = self.element
        if isinstance(e, UniformQuantPerAxisType) and (
                e.axis >= len(self.shape) or self.shape[e.axis] != len(e.scales)):
            raise ValueError(f"per-axis quantization on axis {e.axis} with {len(e.scales)} "
                             f"scales does not fit shape {list(self.shape)}")

    def __str__(self) -> str:
        dims = "".join(f"{d}x" for d in self.shape)
        return f"tensor<{dims}{self.element}>"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    def with_shape(self, shape) -> TensorType:
        return TensorType(tuple(shape), self.element)

    def with_element(self, element: ElementType) -> TensorType:
        return TensorType(self.shape, element)


def element_type_for_dtype(dtype: np.dtype) -> ElementType:
    """The IR element type of a numpy dtype; raises ValueError if there is none."""
    dtype = np.dtype(dtype)
    for et in ELEMENT_TYPES.values():
        if et.numpy_dtype == dtype:
            return et
    raise ValueError(f"no IR element type for numpy dtype {dtype}")
