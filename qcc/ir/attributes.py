"""Attribute values and the attribute kinds that op definitions declare.

Attribute values are plain immutable Python values (int, float, bool, str, tuples of
int or float, a :class:`~qcc.ir.types.Type`) or a :class:`DenseAttr` holding a constant
tensor. A :class:`DenseAttr` is content addressed: equal contents give equal digests,
so constants can be compared and deduplicated cheaply.

An op definition declares each attribute with a kind (``Int``, ``Ints``, ``Float``,
``Dense``...); the kind checks values, converts what the parser read, and prints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from qcc.ir.types import TensorType, Type, format_float


class DenseAttr:
    """A constant tensor: an immutable numpy array with its IR type.

    ``data`` is None when the constant was elided in the text it was parsed from;
    such a module can be printed and transformed structurally but not executed.
    """

    __slots__ = ("_digest", "data", "type")

    def __init__(self, data: np.ndarray | None, type: TensorType):
        if data is not None:
            data = np.array(data, dtype=type.element.numpy_dtype, copy=True, order="C")
            if data.shape != type.shape:
                raise ValueError(f"dense data of shape {data.shape} does not match {type}")
            data.flags.writeable = False
        self.data = data
        self.type = type
        self._digest: str | None = None

    @staticmethod
    def from_array(array: np.ndarray, element=None) -> DenseAttr:
        from qcc.ir.types import element_type_for_dtype

        array = np.asarray(array)
        element = element or element_type_for_dtype(array.dtype)
        return DenseAttr(array, TensorType(array.shape, element))

    @property
    def elided(self) -> bool:
        return self.data is None

    @property
    def digest(self) -> str:
        """SHA-256 of type and bytes: the constant's identity."""
        if self._digest is None:
            h = hashlib.sha256(str(self.type).encode())
            h.update(b"\0" if self.data is None else self.data.tobytes())
            self._digest = h.hexdigest()
        return self._digest

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, DenseAttr) and not self.elided and not other.elided
                and self.digest == other.digest)

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"DenseAttr({self.type}, {'elided' if self.elided else self.digest[:12]})"


@dataclass(frozen=True)
class AttrKind:
    """How one kind of attribute is checked, converted from parsed text, and described."""

    name: str

    def convert(self, value: Any) -> Any:
        """Turn a parsed or user-given value into the canonical value; raise ValueError."""
        raise NotImplementedError


class _Int(AttrKind):
    def convert(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"expected an integer, got {_show(value)}")
        return int(value)


class _Float(AttrKind):
    def convert(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ValueError(f"expected a float, got {_show(value)}")
        return float(value)


class _Bool(AttrKind):
    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"expected true or false, got {_show(value)}")
        return bool(value)


class _Str(AttrKind):
    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_show(value)}")
        return value


class _Ints(AttrKind):
    def convert(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of integers, got {_show(value)}")
        if type(value) is tuple and all(type(v) is int for v in value):
            return value  # already canonical (the verifier checks every op's attributes)
        return tuple(Int.convert(v) for v in value)


class _Floats(AttrKind):
    def convert(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of floats, got {_show(value)}")
        if type(value) is tuple and all(type(v) is float for v in value):
            return value  # already canonical
        return tuple(Float.convert(v) for v in value)


class _Dense(AttrKind):
    def convert(self, value: Any) -> DenseAttr:
        if not isinstance(value, DenseAttr):
            raise ValueError(f"expected a dense<...> constant, got {_show(value)}")
        return value


class _TypeKind(AttrKind):
    def convert(self, value: Any) -> Type:
        if not isinstance(value, Type):
            raise ValueError(f"expected a type, got {_show(value)}")
        return value


class _AnyKind(AttrKind):
    def convert(self, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


Int = _Int("integer")
Float = _Float("float")
Bool = _Bool("bool")
Str = _Str("string")
Ints = _Ints("list of integers")
Floats = _Floats("list of floats")
Dense = _Dense("dense constant")
TypeAttr = _TypeKind("type")
AnyAttr = _AnyKind("any")


def _show(value: Any) -> str:
    if isinstance(value, DenseAttr):
        return "a dense constant"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def format_attr_value(value: Any) -> str:
    """Text of a non-dense attribute value (dense constants are printed by the printer)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_attr_value(v) for v in value) + "]"
    if isinstance(value, Type):
        return str(value)
    raise TypeError(f"cannot print attribute value {value!r}")


def quote_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:  # C0, DEL and C1 controls
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
