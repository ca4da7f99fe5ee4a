"""Parser of the generic IR text (lark, LALR) into a verified module.

Errors print as ``file:line:col: error: ...`` with the source line and a caret.
Ops without an explicit ``loc(...)`` get the location of their text.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import lark
import numpy as np

from qcc.diagnostics import UNKNOWN, FileLoc, FusedLoc, Location, OnnxLoc, QccError
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import OP_REGISTRY, Graph, Module, ReturnOp, Value
from qcc.ir.types import (
    ELEMENT_TYPES,
    ElementType,
    FloatType,
    IntegerType,
    TensorType,
    Type,
    UniformQuantPerAxisType,
    UniformQuantType,
)


@cache
def _parser() -> lark.Lark:
    grammar = resources.files("qcc.text").joinpath("ir.lark").read_text()
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True)


#: a character ``bytes.fromhex`` never accepts (it skips ASCII whitespace between bytes)
_NOT_HEX = re.compile(r"[^0-9A-Fa-f \t\n\r\f\v]")


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        simple = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        else:
            out.append(chr(int(body[i + 1:i + 3], 16)))
            i += 3
    return "".join(out)


class _Builder:
    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename

    def error(self, message: str, node: Any) -> QccError:
        line, col = _position(node)
        return QccError(message, FileLoc(self.filename, line, col), self.text)

    # ---------------------------------------------------------------- types
    def type(self, tree: lark.Tree) -> Type:
        child = tree.children[0]
        if child.data == "tensor_type":
            return self.tensor_type(child)
        return self.element_type(child)

    def tensor_type(self, tree: lark.Tree) -> TensorType:
        dims_tok, elem = tree.children
        dims = tuple(int(d) for d in str(dims_tok).split("x")[:-1]) if dims_tok else ()
        try:
            return TensorType(dims, self.element_type(elem))
        except ValueError as e:
            raise self.error(f"invalid tensor type: {e}", tree) from None

    def scalar_type(self, tok: lark.Token) -> ElementType:
        name = str(tok)
        if name not in ELEMENT_TYPES:
            raise self.error(f"unknown element type '{name}' (known: "
                             f"{', '.join(ELEMENT_TYPES)})", tok)
        return ELEMENT_TYPES[name]

    def element_type(self, tree: lark.Tree) -> ElementType:
        child = tree.children[0]
        if isinstance(child, lark.Token):
            return self.scalar_type(child)
        storage_tree = child.children[0]
        storage = self.scalar_type(storage_tree.children[0])
        expressed = self.scalar_type(child.children[1])
        if not isinstance(storage, IntegerType) or not isinstance(expressed, FloatType):
            raise self.error("quantized type needs integer storage and a float expressed "
                             "type", storage_tree)
        smin = smax = None
        if storage_tree.children[1] is not None:
            smin, smax = int(storage_tree.children[1]), int(storage_tree.children[2])
        try:
            if child.data == "quant_per_tensor":
                scale, zp = self.scale_zp(child.children[2])
                return UniformQuantType.make(storage, scale, zp, expressed, smin, smax)
            axis = int(child.children[2])
            pairs = [self.scale_zp(t) for t in child.children[3:]]
            return UniformQuantPerAxisType.make(storage, axis, [p[0] for p in pairs],
                                                [p[1] for p in pairs], expressed, smin, smax)
        except ValueError as e:
            raise self.error(f"invalid quantized type: {e}", child) from None

    @staticmethod
    def scale_zp(tree: lark.Tree) -> tuple[float, int]:
        scale = float(tree.children[0])
        zp = int(tree.children[1]) if tree.children[1] is not None else 0
        return scale, zp

    # ---------------------------------------------------------------- attributes
    def attr_value(self, tree: Any) -> Any:
        kind = tree.data
        if kind == "int":
            return int(tree.children[0])
        if kind == "float":
            return float(tree.children[0])
        if kind == "string":
            return _unquote(str(tree.children[0]))
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "list":
            return [self.attr_value(c) for c in tree.children if c is not None]
        if kind == "type":
            return self.type(tree)
        if kind == "dense":
            return self.dense(tree)
        if kind == "dense_elided":
            return DenseAttr(None, self.tensor_type(tree.children[1]))
        raise self.error(f"unexpected attribute value '{kind}'", tree)

    def dense(self, tree: lark.Tree) -> DenseAttr:
        body, ttree = tree.children
        t = self.tensor_type(ttree)
        dtype = t.element.numpy_dtype
        if body.data == "string":
            raw = self.dense_hex(body)
            body.children[0] = body.children[0].type  # drop the digits: the tree is
            # not read again, and a large module then never holds text and bytes twice
            want = t.num_elements * dtype.itemsize
            if len(raw) != want:
                raise self.error(f"dense hex has {len(raw)} bytes, {t} needs {want}", body)
            # DenseAttr copies into a native-order array: the one copy of the data
            return DenseAttr(np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
                             .reshape(t.shape), t)
        values = self.dense_values(body)
        try:
            if isinstance(values, list):
                arr = np.array(values, dtype=object)
                if arr.shape != t.shape or any(isinstance(v, list) for v in arr.flat):
                    raise self.error(f"dense literal of shape {arr.shape} does not match "
                                     f"{t}", body)
            arr = self._to_dtype(values, dtype, body)
            if arr.ndim == 0:
                arr = np.broadcast_to(arr, t.shape)
            return DenseAttr(arr, t)
        except (ValueError, OverflowError, MemoryError) as e:  # (a splat of a huge type)
            raise self.error(f"invalid dense literal: {e}", body) from None

    def dense_hex(self, body: lark.Tree) -> bytes:
        """The bytes of ``dense<"0x...">``, decoded at C speed (no per-element work).

        The printer's form (no escapes) is sliced straight out of the token, so that
        a 100 MB constant costs one copy of its digits; a bad digit is reported at
        its own line and column.
        """
        tok = body.children[0]
        plain = "\\" not in tok
        text = tok if plain else '"' + _unquote(tok) + '"'
        if not text.startswith('"0x'):
            raise self.error("dense string must be hex bytes starting with 0x", body)
        digits = text[3:-1]
        try:
            return bytes.fromhex(digits)
        except ValueError:
            pass
        bad = _NOT_HEX.search(digits)
        if bad is None:  # bytes.fromhex also refuses an odd digit count, "0xA B", ...
            raise self.error("dense hex string has invalid digits (an odd number of them, "
                             "or a space inside a byte)", body) from None
        detail = f"dense hex string has invalid digits: {bad.group()!r} is not a hex digit"
        if not plain:  # escapes: offsets in the text differ from those in the string
            raise self.error(detail, body)
        line, col = _position(tok)
        raise QccError(detail, FileLoc(self.filename, line, col + 3 + bad.start()),
                       self.text)

    def _to_dtype(self, values: Any, dtype: np.dtype, node: Any) -> np.ndarray:
        flat = np.array(values, dtype=object).reshape(-1)
        if dtype.kind == "f":
            # each decimal is read as float64 and then rounded once to the element type
            return np.array([float(v) for v in flat], dtype=np.float64).astype(dtype) \
                .reshape(np.shape(values))
        out = []
        if dtype.kind == "b":  # i1: 0 or 1
            for v in flat:
                if not isinstance(v, int) or v not in (0, 1):
                    raise self.error(f"i1 constant must be 0 or 1, got {v}", node)
            return np.array(list(flat), dtype=dtype).reshape(np.shape(values))
        info = np.iinfo(dtype)
        for v in flat:
            if not isinstance(v, int):
                raise self.error(f"integer constant expected, got {v}", node)
            if not info.min <= v <= info.max:
                raise self.error(f"constant {v} does not fit in {dtype}", node)
            out.append(v)
        return np.array(out, dtype=dtype).reshape(np.shape(values))

    def dense_values(self, tree: Any) -> Any:
        if tree.data == "dense_list":
            return [self.dense_values(c) for c in tree.children if c is not None]
        if tree.data == "int":
            return int(tree.children[0])
        if tree.data == "float":
            return float(tree.children[0])
        raise self.error("expected a number", tree)

    def attr_dict(self, tree: lark.Tree | None) -> dict[str, Any]:
        if tree is None:
            return {}
        out: dict[str, Any] = {}
        for entry in tree.children:
            if entry is None:
                continue
            name_tok, value = entry.children
            name = str(name_tok)
            if name in out:
                raise self.error(f"attribute '{name}' given twice", name_tok)
            out[name] = self.attr_value(value)
        return out

    # ---------------------------------------------------------------- locations
    def location(self, tree: lark.Tree | None) -> Location | None:
        if tree is None:
            return None
        return self.loc_item(tree.children[0])

    def loc_item(self, tree: lark.Tree) -> Location:
        if tree.data == "loc_unknown":
            return UNKNOWN
        if tree.data == "loc_file":
            f, line, col = tree.children
            return FileLoc(_unquote(str(f)), int(line), int(col))
        if tree.data == "loc_onnx":
            op_type, name = tree.children
            return OnnxLoc(_unquote(str(op_type)), _unquote(str(name)))
        return FusedLoc(tuple(self.loc_item(c) for c in tree.children))

    # ---------------------------------------------------------------- structure
    def module(self, tree: lark.Tree) -> Module:
        module = Module()
        for g in tree.children:
            if not isinstance(g, lark.Tree):
                continue
            graph = self.graph(g)
            if graph.name in module.graphs:
                raise self.error(f"graph @{graph.name} defined twice", g)
            module.add(graph)
        return module

    def graph(self, tree: lark.Tree) -> Graph:
        sym, *rest = tree.children
        graph = Graph(str(sym)[1:])
        scope: dict[str, Value] = {}
        args = [c for c in rest if isinstance(c, lark.Tree) and c.data == "arg"]
        ress = [c for c in rest if isinstance(c, lark.Tree) and c.data == "res"]
        body = [c for c in rest if isinstance(c, lark.Tree) and c.data in ("op", "ret")]
        for a in args:
            id_tok, ttree, attrs = a.children
            name = str(id_tok)[1:]
            if name in scope:
                raise self.error(f"value %{name} defined twice", id_tok)
            public = self.attr_dict(attrs).get("qcc.name", name)
            v = graph.add_arg(self.type(ttree), str(public))
            v.name_hint = name
            scope[name] = v
        for op_tree in body[:-1]:
            if op_tree.data == "ret":
                raise self.error("'return' must be the last op of a graph", op_tree)
            self.op(op_tree, graph, scope)
        self.ret(body[-1], graph, scope, ress)
        return graph

    def lookup(self, scope: dict[str, Value], tok: lark.Token) -> Value:
        name = str(tok)[1:]
        if name not in scope:
            raise self.error(f"use of undefined value %{name}", tok)
        return scope[name]

    def op(self, tree: lark.Tree, graph: Graph, scope: dict[str, Value]) -> None:
        res_ids, name_tok, vals, attrs, ftype, loc_tree = tree.children
        op_name = _unquote(str(name_tok))
        cls = OP_REGISTRY.get(op_name)
        if cls is None and "." in op_name:  # a backend's dialect, loaded on first use
            from qcc.backend import load_dialect

            if load_dialect(op_name.split(".", 1)[0]):
                cls = OP_REGISTRY.get(op_name)
        if cls is None:
            raise self.error(f"unknown op '{op_name}'", name_tok)
        if cls is ReturnOp:
            raise self.error("use 'return', not the generic form of func.return", name_tok)
        operands = [self.lookup(scope, t) for t in (vals.children if vals else [])]
        in_types, out_types = self.func_type(ftype)
        if len(in_types) != len(operands):
            raise self.error(f"'{op_name}' has {len(operands)} operands but its type lists "
                             f"{len(in_types)}", ftype)
        for i, (v, t) in enumerate(zip(operands, in_types, strict=True)):
            if v.type != t:
                raise self.error(f"operand {i} of '{op_name}' is %{v.name_hint} of type "
                                 f"{v.type}, but the op's type says {t}", ftype)
        ids = [str(t)[1:] for t in (res_ids.children if res_ids else [])]
        if len(ids) != len(out_types):
            raise self.error(f"'{op_name}' defines {len(ids)} values but its type has "
                             f"{len(out_types)} results", ftype)
        attributes = self.attr_dict(attrs)
        for key, d in cls.attr_defs.items():
            if key in attributes:
                try:
                    attributes[key] = d.kind.convert(attributes[key])
                except ValueError as e:
                    raise self.error(f"'{op_name}' attribute '{key}': {e}", attrs) from None
        loc = self.location(loc_tree) or FileLoc(self.filename, *_position(tree))
        op = cls(operands, out_types, attributes, loc, ids)
        for tok, r in zip(res_ids.children if res_ids else [], op.results, strict=True):
            name = str(tok)[1:]
            if name in scope:
                raise self.error(f"value %{name} defined twice", tok)
            scope[name] = r
        graph.append(op)

    def func_type(self, tree: lark.Tree) -> tuple[list[Type], list[Type]]:
        lists = [c for c in tree.children]
        ins = [self.type(t) for t in lists[0].children] if lists[0] is not None else []
        out = lists[1]
        if out is None:
            return ins, []
        if out.data == "type":
            return ins, [self.type(out)]
        return ins, [self.type(t) for t in out.children]

    def ret(self, tree: lark.Tree, graph: Graph, scope: dict[str, Value],
            ress: list[lark.Tree]) -> None:
        _, vals, types, loc_tree = tree.children
        values = [self.lookup(scope, t) for t in (vals.children if vals else [])]
        rtypes = [self.type(t) for t in (types.children if types else [])]
        for v, t in zip(values, rtypes, strict=True):
            if v.type != t:
                raise self.error(f"returned %{v.name_hint} has type {v.type}, but return "
                                 f"says {t}", tree)
        if len(ress) != len(values):
            raise self.error(f"@{graph.name} declares {len(ress)} results but returns "
                             f"{len(values)}", tree)
        names = []
        for r, v, tok in zip(ress, values, vals.children if vals else [], strict=True):
            t = self.type(r.children[0])
            if t != v.type:
                raise self.error(f"@{graph.name} declares result type {t} but returns "
                                 f"{v.type}", r)
            names.append(str(self.attr_dict(r.children[1]).get("qcc.name", str(tok)[1:])))
        if len(set(names)) != len(names):
            raise self.error(f"@{graph.name} has duplicate output names", tree)
        graph.set_outputs(values, names)
        loc = self.location(loc_tree)
        graph.return_op.loc = loc or FileLoc(self.filename, *_position(tree))


def _position(node: Any) -> tuple[int, int]:
    if isinstance(node, lark.Token):
        return node.line or 1, node.column or 1
    meta = getattr(node, "meta", None)
    if meta is not None and not meta.empty:
        return meta.line, meta.column
    return 1, 1


def _end_of(text: str, filename: str) -> FileLoc:
    """The position just after the last non-blank character."""
    lines = text.rstrip().split("\n")
    return FileLoc(filename, len(lines), len(lines[-1]) + 1)


def parse_module(text: str, filename: str = "<string>", verify: bool = True) -> Module:
    """Parse IR text; raise QccError with file:line:col on any error."""
    try:
        tree = _parser().parse(text)
    except lark.UnexpectedCharacters as e:
        raise QccError(f"unexpected character {text[e.pos_in_stream]!r}",
                       FileLoc(filename, e.line, e.column), text) from None
    except lark.UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise QccError("unexpected end of input", _end_of(text, filename), text) from None
        expected = sorted(_describe_terminal(t) for t in (e.accepts or e.expected))
        raise QccError(f"unexpected {tok!s:.40} (expected {', '.join(expected[:8])}"
                       f"{', ...' if len(expected) > 8 else ''})",
                       FileLoc(filename, tok.line, tok.column), text) from None
    except lark.UnexpectedEOF:
        raise QccError("unexpected end of input", _end_of(text, filename), text) from None
    module = _Builder(text, filename).module(tree.children[0])
    if verify:
        from qcc.ir.verifier import verify as run_verifier

        try:
            run_verifier(module)
        except QccError as e:
            e.source = text if isinstance(e.loc, FileLoc) and e.loc.file == filename \
                else e.source
            raise
    return module


_TERMINAL_NAMES = {
    "VALUE_ID": "a value (%name)", "STRING": "a string", "INT": "an integer",
    "FLOAT": "a float", "SYMBOL": "a symbol (@name)", "ATTR_NAME": "an attribute name",
    "SCALAR_TYPE": "an element type", "DIMS": "dimensions", "RETURN": "'return'",
}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = _parser().get_terminal(name).pattern
        if pattern.type == "str":
            return repr(pattern.value)
    except KeyError:
        pass
    return name.lower()
