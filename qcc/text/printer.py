"""Deterministic printer of the generic IR text.

The same module always prints to the same bytes; ``parse(print(m))`` prints back
identically. Constants print as nested lists when small, as the hex of their
little-endian bytes when large, or as ``dense_resource<__elided__>`` when
``elide_constants`` is set and they have more than ``elide_limit`` elements.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import numpy as np

from qcc.diagnostics import FileLoc, FusedLoc, Location, OnnxLoc, UnknownLoc
from qcc.ir.attributes import DenseAttr, format_attr_value, quote_string
from qcc.ir.core import Graph, Module, Op, ReturnOp, Value
from qcc.ir.types import FloatType, Type

#: constants with at most this many elements print as readable numbers
SMALL_CONSTANT = 16
_NAME_RE = re.compile(r"[^A-Za-z0-9_.$\-]")


def value_names(graph: Graph) -> dict[Value, str]:
    """Unique printed names (without ``%``) for every value of a graph.

    Name hints are kept (made safe and unique with ``_1``, ``_2`` ...); values
    without a hint are numbered, skipping numbers that some hint already uses.
    """
    values = list(graph.args) + [r for op in graph.ops for r in op.results]
    hinted = {_NAME_RE.sub("_", v.name_hint) for v in values if v.name_hint}
    names: dict[Value, str] = {}
    used: set[str] = set()
    counter = 0
    for v in values:
        if v.name_hint:
            base = _NAME_RE.sub("_", v.name_hint)
            name, k = base, 0
            while name in used:
                k += 1
                name = f"{base}_{k}"
        else:
            while str(counter) in used or str(counter) in hinted:
                counter += 1
            name = str(counter)
            counter += 1
        used.add(name)
        names[v] = name
    return names


def format_location(loc: Location, top: bool = True) -> str:
    if isinstance(loc, UnknownLoc):
        body = "unknown"
    elif isinstance(loc, FileLoc):
        body = f"{quote_string(loc.file)}:{loc.line}:{loc.col}"
    elif isinstance(loc, OnnxLoc):
        body = f"onnx {quote_string(loc.op_type)} {quote_string(loc.name)}"
    elif isinstance(loc, FusedLoc):
        body = "fused[" + ", ".join(format_location(sub, False) for sub in loc.locs) + "]"
    else:
        raise TypeError(f"unknown location {loc!r}")
    return f"loc({body})" if top else body


def _format_scalar(x, is_float: bool) -> str:
    if not is_float:
        return str(int(x))
    x32 = np.float32(x) if x.dtype == np.float32 else x
    if np.isnan(x32):
        return "nan"
    if np.isinf(x32):
        return "inf" if x32 > 0 else "-inf"
    text = str(x32)
    if x.dtype == np.float32 and np.float32(float(text)).tobytes() != x32.tobytes():
        text = repr(float(x32))  # exact float64 text of the float32 value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _scalar_round_trips(x, is_float: bool) -> bool:
    """Special NaN payloads cannot be written as numbers; those go to hex."""
    if is_float and np.isnan(x):
        canonical = np.array(np.nan, dtype=x.dtype)
        return canonical.tobytes() == np.array(x).tobytes()
    return True


def format_dense(attr: DenseAttr, elide_constants: bool = False,
                 elide_limit: int = SMALL_CONSTANT) -> str:
    t = attr.type
    if attr.data is None or (elide_constants and t.num_elements > elide_limit):
        return f"dense_resource<__elided__> : {t}"
    data = attr.data
    is_float = isinstance(t.element, FloatType)
    flat = data.reshape(-1)
    if flat.size and all(_scalar_round_trips(x, is_float) for x in flat[:SMALL_CONSTANT]):
        if flat.size > 1 and bool(np.all(flat.view(np.uint8).reshape(flat.size, -1)
                                          == flat[:1].view(np.uint8))):
            return f"dense<{_format_scalar(flat[0], is_float)}> : {t}"
        if flat.size <= SMALL_CONSTANT:
            return f"dense<{_nested(data, is_float)}> : {t}"
    hexdigits = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes().hex().upper()
    return f'dense<"0x{hexdigits}"> : {t}'


def _nested(data: np.ndarray, is_float: bool) -> str:
    if data.ndim == 0:
        return _format_scalar(data[()], is_float)
    return "[" + ", ".join(_nested(sub, is_float) for sub in data) + "]"


def format_attr(value, elide_constants: bool, elide_limit: int) -> str:
    if isinstance(value, DenseAttr):
        return format_dense(value, elide_constants, elide_limit)
    return format_attr_value(value)


def _types(types: list[Type]) -> str:
    return ", ".join(str(t) for t in types)


def print_op(op: Op, names: dict[Value, str], elide_constants: bool = False,
             elide_limit: int = SMALL_CONSTANT, locations: bool = True) -> str:
    loc = f" {format_location(op.loc)}" if locations else ""
    if isinstance(op, ReturnOp):
        if not op.operands:
            return f"return{loc}"
        vals = ", ".join(f"%{names[v]}" for v in op.operands)
        return f"return {vals} : {_types([v.type for v in op.operands])}{loc}"
    head = ""
    if op.results:
        head = ", ".join(f"%{names[r]}" for r in op.results) + " = "
    operands = ", ".join(f"%{names[v]}" for v in op.operands)
    attrs = ""
    if op.attributes:
        attrs = " {" + ", ".join(
            f"{k} = {format_attr(op.attributes[k], elide_constants, elide_limit)}"
            for k in sorted(op.attributes)) + "}"
    res_types = [r.type for r in op.results]
    res = str(res_types[0]) if len(res_types) == 1 else f"({_types(res_types)})"
    return (f'{head}"{op.name}"({operands}){attrs} : '
            f"({_types([v.type for v in op.operands])}) -> {res}{loc}")


def print_graph(graph: Graph, elide_constants: bool = False,
                elide_limit: int = SMALL_CONSTANT, locations: bool = True,
                indent: str = "  ") -> str:
    return "".join(graph_text(graph, elide_constants, elide_limit, locations, indent))


def graph_text(graph: Graph, elide_constants: bool = False,
               elide_limit: int = SMALL_CONSTANT, locations: bool = True,
               indent: str = "  ") -> Iterator[str]:
    """print_graph's text in pieces (one per op), to stream rather than join."""
    names = value_names(graph)
    args = []
    for a, public in zip(graph.args, graph.input_names, strict=True):
        extra = "" if public == names[a] else f" {{qcc.name = {quote_string(public)}}}"
        args.append(f"%{names[a]}: {a.type}{extra}")
    results = []
    for v, public in zip(graph.outputs, graph.output_names, strict=True):
        extra = "" if public == names[v] else f" {{qcc.name = {quote_string(public)}}}"
        results.append(f"{v.type}{extra}")
    yield f"{indent}func.func @{graph.name}({', '.join(args)}) -> ({', '.join(results)}) {{"
    for op in graph.ops:
        yield "\n" + indent * 2 + print_op(op, names, elide_constants, elide_limit, locations)
    yield "\n" + indent + "}"


def print_module(module: Module, elide_constants: bool = False,
                 elide_limit: int = SMALL_CONSTANT, locations: bool = True) -> str:
    """The module's text, ending in a newline."""
    return "".join(module_text(module, elide_constants, elide_limit, locations))


def module_text(module: Module, elide_constants: bool = False,
                elide_limit: int = SMALL_CONSTANT, locations: bool = True) -> Iterator[str]:
    """print_module's text in pieces: ``sha256`` of a large module without building
    its whole text (see module_sha256)."""
    yield "module {\n"
    for i, g in enumerate(module.graphs.values()):
        if i:
            yield "\n"
        yield from graph_text(g, elide_constants, elide_limit, locations)
    yield "\n}\n"


def module_sha256(module: Module) -> str:
    """SHA-256 (hex) of ``print_module(module)`` encoded as UTF-8, streamed."""
    digest = hashlib.sha256()
    for piece in module_text(module):
        digest.update(piece.encode())
    return digest.hexdigest()
