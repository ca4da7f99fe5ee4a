"""The SSA graph: values with use-lists, declarative ops, graphs and modules.

An op class is its own schema::

    @register_op
    class Conv2dOp(Op):
        '''2-D convolution, NCHW input, OIHW weight.'''
        name = "nn.conv2d"
        input = operand()
        weight = operand()
        bias = operand(optional=True)
        output = result()
        strides = attr(Ints, default=(1, 1))

The printer, the parser and the verifier read these declarations; nothing else
lists an op's operands or attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from qcc.diagnostics import UNKNOWN, Location
from qcc.ir.attributes import AttrKind
from qcc.ir.types import Type

# --------------------------------------------------------------------------- values


@dataclass(eq=False)
class Use:
    """One use of a value: operand ``index`` of ``op``."""

    op: Op
    index: int


class Value:
    """An SSA value: the result of an op or an argument of a graph."""

    __slots__ = ("index", "name_hint", "owner", "type", "uses")

    def __init__(self, type: Type, owner: Op | Graph | None, index: int,
                 name_hint: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name_hint = name_hint
        self.uses: list[Use] = []

    @property
    def op(self) -> Op | None:
        """The defining op, or None for a graph argument."""
        return self.owner if isinstance(self.owner, Op) else None

    @property
    def users(self) -> list[Op]:
        seen: list[Op] = []
        for use in self.uses:
            if use.op not in seen:
                seen.append(use.op)
        return seen

    @property
    def has_uses(self) -> bool:
        return bool(self.uses)

    def replace_all_uses_with(self, new: Value) -> None:
        """Make every use of this value use ``new`` (in one pass over the use-list)."""
        if new is self:
            return
        moved, self.uses = self.uses, []
        for use in moved:
            use.op.operands[use.index] = new
        new.uses.extend(moved)

    def __repr__(self) -> str:
        return f"Value(%{self.name_hint or '?'}: {self.type})"


# --------------------------------------------------------------------------- op schema


@dataclass(frozen=True)
class OperandDef:
    doc: str = ""
    optional: bool = False
    variadic: bool = False


@dataclass(frozen=True)
class ResultDef:
    doc: str = ""


@dataclass(frozen=True)
class AttrDef:
    kind: AttrKind
    default: Any = None
    required: bool = True
    doc: str = ""


_NO_DEFAULT = object()


def operand(doc: str = "", *, optional: bool = False, variadic: bool = False) -> Any:
    return OperandDef(doc, optional, variadic)


def result(doc: str = "") -> Any:
    return ResultDef(doc)


def attr(kind: AttrKind, default: Any = _NO_DEFAULT, doc: str = "") -> Any:
    """Declare an attribute; with a default it may be omitted in text and builders."""
    if default is _NO_DEFAULT:
        return AttrDef(kind, None, True, doc)
    return AttrDef(kind, default, False, doc)


class _OperandAccessor:
    def __init__(self, name: str):
        self.name = name

    def __get__(self, op: Op | None, cls: type) -> Any:
        if op is None:
            return self
        return op.operand_group(self.name)


class _ResultAccessor:
    def __init__(self, index: int):
        self.index = index

    def __get__(self, op: Op | None, cls: type) -> Any:
        if op is None:
            return self
        return op.results[self.index]


class _AttrAccessor:
    def __init__(self, name: str):
        self.name = name

    def __get__(self, op: Op | None, cls: type) -> Any:
        if op is None:
            return self
        return op.attributes[self.name]


class VerifyError(Exception):
    """Raised by ``verify_`` hooks; the verifier attaches the op's location."""


# --------------------------------------------------------------------------- ops


class Op:
    """An operation. Subclasses declare operands, results and attributes as class fields."""

    name: ClassVar[str] = ""
    operand_defs: ClassVar[tuple[tuple[str, OperandDef], ...]] = ()
    result_defs: ClassVar[tuple[tuple[str, ResultDef], ...]] = ()
    attr_defs: ClassVar[dict[str, AttrDef]] = {}
    #: ops without side effects may be erased when unused and folded when constant
    pure: ClassVar[bool] = True
    #: facts passes ask about (``qcc.ir.traits``), inherited unless redeclared
    traits: ClassVar[tuple[Any, ...]] = ()

    @classmethod
    def trait(cls, kind: type) -> Any:
        """The declared trait of class ``kind`` (with its parameters), or None."""
        return next((t for t in cls.traits if isinstance(t, kind)), None)

    @classmethod
    def has_trait(cls, kind: type) -> bool:
        return any(isinstance(t, kind) for t in cls.traits)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        operands = [(n, d) for n, d in vars(cls).items() if isinstance(d, OperandDef)]
        results = [(n, d) for n, d in vars(cls).items() if isinstance(d, ResultDef)]
        attrs = {n: d for n, d in vars(cls).items() if isinstance(d, AttrDef)}
        if operands or results or attrs:
            # a subclass that declares nothing inherits its parent's schema
            base_ops = list(cls.operand_defs) if not operands else []
            cls.operand_defs = tuple(base_ops + operands)
            cls.result_defs = tuple(results) if results else cls.result_defs
            cls.attr_defs = {**cls.attr_defs, **attrs}
        if sum(1 for _, d in cls.operand_defs if d.optional or d.variadic) > 1:
            raise TypeError(f"{cls.__name__}: at most one optional or variadic operand")
        for n, _ in cls.operand_defs:
            setattr(cls, n, _OperandAccessor(n))
        for i, (n, _) in enumerate(cls.result_defs):
            setattr(cls, n, _ResultAccessor(i))
        for n in cls.attr_defs:
            setattr(cls, n, _AttrAccessor(n))

    def __init__(self, operands: Iterable[Value] = (), result_types: Iterable[Type] = (),
                 attributes: dict[str, Any] | None = None, loc: Location = UNKNOWN,
                 result_names: Iterable[str | None] | None = None):
        self.operands: list[Value] = []
        self.graph: Graph | None = None
        self.loc = loc
        self.attributes: dict[str, Any] = dict(attributes or {})
        for name, d in self.attr_defs.items():
            if name not in self.attributes and not d.required:
                self.attributes[name] = d.default
        for v in operands:
            self._add_operand(v)
        types = list(result_types)
        names = list(result_names) if result_names is not None else [None] * len(types)
        self.results = [Value(t, self, i, n) for i, (t, n) in enumerate(zip(types, names,
                                                                             strict=True))]

    # -- construction helpers for passes and the frontend --------------------------
    @classmethod
    def build(cls, *operands: Value | None, loc: Location = UNKNOWN,
              result_types: Iterable[Type] | None = None, name: str | None = None,
              **attributes: Any) -> Op:
        """Create an op, inferring result types when the op class knows how.

        Optional operands may be passed as None. Attribute values are converted by
        their declared kinds.
        """
        ops = [v for v in operands if v is not None]
        attrs = {k: cls.attr_defs[k].kind.convert(v) if k in cls.attr_defs else v
                 for k, v in attributes.items()}
        for k, d in cls.attr_defs.items():
            if k not in attrs and not d.required:
                attrs[k] = d.default
        if result_types is None:
            result_types = cls.infer_types([v.type for v in ops], attrs)
        result_types = list(result_types)
        names = [name] + [None] * (len(result_types) - 1) if name else None
        return cls(ops, result_types, attrs, loc, names)

    @classmethod
    def infer_types(cls, operand_types: list[Type], attrs: dict[str, Any]) -> list[Type]:
        """Result types from operand types and attributes; ops override this."""
        raise NotImplementedError(f"'{cls.name}' cannot infer its result types")

    def _add_operand(self, v: Value) -> None:
        if not isinstance(v, Value):
            raise TypeError(f"operand of '{self.name}' must be a Value, got {v!r}")
        self.operands.append(v)
        v.uses.append(Use(self, len(self.operands) - 1))

    def set_operand(self, index: int, new: Value) -> None:
        old = self.operands[index]
        for i, use in enumerate(old.uses):
            if use.op is self and use.index == index:
                del old.uses[i]
                break
        self.operands[index] = new
        new.uses.append(Use(self, index))

    def drop_operands(self) -> None:
        for i, v in enumerate(self.operands):
            v.uses = [u for u in v.uses if not (u.op is self and u.index == i)]
        self.operands = []

    # -- schema-based access ---------------------------------------------------------
    def operand_group_bounds(self) -> dict[str, tuple[int, int]]:
        """Operand index range of each declared operand, resolving the one optional or
        variadic group from the number of operands."""
        fixed = sum(1 for _, d in self.operand_defs if not (d.optional or d.variadic))
        extra = len(self.operands) - fixed
        bounds, i = {}, 0
        for n, d in self.operand_defs:
            count = max(extra, 0) if (d.optional or d.variadic) else 1
            bounds[n] = (i, i + count)
            i += count
        return bounds

    def operand_group(self, name: str) -> Any:
        lo, hi = self.operand_group_bounds()[name]
        d = dict(self.operand_defs)[name]
        if d.variadic:
            return self.operands[lo:hi]
        if d.optional:
            return self.operands[lo] if hi > lo else None
        return self.operands[lo] if lo < len(self.operands) else None

    @property
    def result(self) -> Value:
        """The single result (error if the op has several)."""
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results")
        return self.results[0]

    def verify_(self) -> None:
        """Op-specific invariants; raise VerifyError. Default: check inferred types."""
        try:
            expected = self.infer_types([v.type for v in self.operands], self.attributes)
        except NotImplementedError:
            return
        actual = [v.type for v in self.results]
        if list(expected) != actual:
            raise VerifyError(
                "result type " + ", ".join(map(str, actual)) + " does not match the inferred "
                + ", ".join(map(str, expected)))

    def __repr__(self) -> str:
        return f"<{self.name} at {self.loc.describe()}>"


OP_REGISTRY: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    """Make an op class known to the parser under its dialect-qualified name."""
    if not cls.name or "." not in cls.name:
        raise ValueError(f"op class {cls.__name__} needs a dialect-qualified name")
    if cls.name in OP_REGISTRY and OP_REGISTRY[cls.name] is not cls:
        raise ValueError(f"op '{cls.name}' is already registered")
    OP_REGISTRY[cls.name] = cls
    return cls


@register_op
class ReturnOp(Op):
    """Terminator of a graph: its operands are the graph's outputs."""

    name = "func.return"
    values = operand(variadic=True)
    pure = False

    @classmethod
    def infer_types(cls, operand_types, attrs):
        return []


# --------------------------------------------------------------------------- graphs


class OpList(list):
    """The ops of a graph in order: what :attr:`Graph.ops` returns.

    A snapshot taken when it is read (kept until the graph changes), so reading it is
    reading a list. Passes change a graph through :class:`Rewriter`; for code written
    against a plain list, ``append``, ``insert``, ``pop`` and ``remove`` act on the
    graph as well (without touching use-lists); other list mutations are refused.
    """

    __slots__ = ("_graph",)

    def __init__(self, graph: Graph, ops: Iterable[Op]):
        super().__init__(ops)
        self._graph = graph

    def append(self, op: Op) -> None:
        self._graph._link(op, None)
        super().append(op)

    def insert(self, index: int, op: Op) -> None:
        n = len(self)
        i = min(max(index + n if index < 0 else index, 0), n)  # as list.insert clamps
        self._graph._link(op, self[i] if i < n else None)
        super().insert(index, op)

    def pop(self, index: int = -1) -> Op:
        op = super().pop(index)
        self._graph._unlink(op)
        return op

    def remove(self, op: Op) -> None:
        super().remove(op)
        self._graph._unlink(op)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Graph.ops is a view of the graph's op order: change the graph "
                        "through qcc.ir.Rewriter (or Graph.insert_before/insert_after/"
                        "erase)")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    extend = clear = sort = reverse = _refuse


class Graph:
    """One function: arguments, an ordered list of ops ending in ``func.return``.

    The op order is a doubly linked list (``_prev`` / ``_next`` maps), so finding an
    op, inserting next to it and erasing it take O(1) time whatever the graph's size;
    :attr:`ops` gives the order as a list.
    """

    def __init__(self, name: str = "main"):
        self.name = name
        self.args: list[Value] = []
        self._prev: dict[Op, Op | None] = {}
        self._next: dict[Op, Op | None] = {}
        self._first: Op | None = None
        self._last: Op | None = None
        self._snapshot: OpList | None = None
        #: public names of inputs and outputs (ONNX graph input/output names)
        self.input_names: list[str] = []
        self.output_names: list[str] = []

    # -- op order ----------------------------------------------------------------
    @property
    def ops(self) -> OpList:
        """The ops in order (a list snapshot, rebuilt after the graph changes)."""
        snap = self._snapshot
        if snap is None:
            order, op, nxt = [], self._first, self._next
            while op is not None:
                order.append(op)
                op = nxt[op]
            snap = self._snapshot = OpList(self, order)
        return snap

    def __contains__(self, op: object) -> bool:
        return op in self._next

    def __len__(self) -> int:
        return len(self._next)

    def __bool__(self) -> bool:
        return True

    def next_op(self, op: Op) -> Op | None:
        """The op after ``op`` (None after the last)."""
        self._check_member(op)
        return self._next[op]

    def prev_op(self, op: Op) -> Op | None:
        """The op before ``op`` (None before the first)."""
        self._check_member(op)
        return self._prev[op]

    def _check_member(self, op: Op) -> None:
        if op not in self._next:
            raise ValueError(f"{op!r} is not in graph @{self.name}")

    def _link(self, op: Op, before: Op | None) -> None:
        """Put ``op`` before ``before`` (None: at the end)."""
        if op in self._next:
            raise ValueError(f"{op!r} is already in graph @{self.name}")
        if before is None:
            prev = self._last
        else:
            self._check_member(before)
            prev = self._prev[before]
        self._prev[op], self._next[op] = prev, before
        if prev is None:
            self._first = op
        else:
            self._next[prev] = op
        if before is None:
            self._last = op
        else:
            self._prev[before] = op
        op.graph = self
        self._snapshot = None

    def _unlink(self, op: Op) -> None:
        self._check_member(op)
        prev, nxt = self._prev.pop(op), self._next.pop(op)
        if prev is None:
            self._first = nxt
        else:
            self._next[prev] = nxt
        if nxt is None:
            self._last = prev
        else:
            self._prev[nxt] = prev
        op.graph = None
        self._snapshot = None

    # -- building ------------------------------------------------------------------
    def add_arg(self, type: Type, name: str) -> Value:
        v = Value(type, self, len(self.args), name)
        self.args.append(v)
        self.input_names.append(name)
        return v

    def append(self, op: Op) -> Op:
        """Add ``op`` at the end (before the ``func.return`` if there is one)."""
        last = self._last
        self._link(op, last if isinstance(last, ReturnOp) else None)
        return op

    def insert_before(self, anchor: Op, op: Op) -> Op:
        self._link(op, anchor)
        return op

    def insert_after(self, anchor: Op, op: Op) -> Op:
        self._check_member(anchor)
        self._link(op, self._next[anchor])
        return op

    def set_outputs(self, values: list[Value], names: list[str] | None = None) -> None:
        if isinstance(self._last, ReturnOp):
            self.erase(self._last)
        self._link(ReturnOp(values), None)
        self.output_names = list(names) if names else [f"output_{i}" for i in
                                                       range(len(values))]

    @property
    def return_op(self) -> ReturnOp:
        op = self._last
        if not isinstance(op, ReturnOp):
            raise ValueError(f"graph @{self.name} has no func.return")
        return op

    @property
    def outputs(self) -> list[Value]:
        return list(self.return_op.operands)

    def erase(self, op: Op) -> None:
        """Remove an op whose results are unused."""
        for r in op.results:
            if r.uses:
                raise ValueError(f"cannot erase {op!r}: result still has {len(r.uses)} uses")
        self._check_member(op)
        op.drop_operands()
        self._unlink(op)

    def walk(self, op_class: type[Op] | tuple[type[Op], ...] | None = None) -> Iterator[Op]:
        """Iterate over a snapshot of the ops, optionally only those of a class."""
        for op in list(self.ops):
            if op_class is None or isinstance(op, op_class):
                yield op

    def clone(self) -> Graph:
        """A copy with new values and ops; attribute values (immutable) are shared."""
        g = Graph(self.name)
        mapping: dict[Value, Value] = {}
        for a, name in zip(self.args, self.input_names, strict=True):
            mapping[a] = g.add_arg(a.type, name)
            mapping[a].name_hint = a.name_hint
        for op in self.ops:
            if isinstance(op, ReturnOp):
                g.set_outputs([mapping[v] for v in op.operands], list(self.output_names))
                g.return_op.loc = op.loc
                continue
            new = type(op)([mapping[v] for v in op.operands], [r.type for r in op.results],
                           dict(op.attributes), op.loc, [r.name_hint for r in op.results])
            for old_r, new_r in zip(op.results, new.results, strict=True):
                mapping[old_r] = new_r
            g.append(new)
        return g

    def to_networkx(self):
        """The dataflow graph as a networkx.MultiDiGraph of ops (and ``arg:N`` nodes).

        Nodes are the Op objects and ``("arg", i)`` for arguments; each edge carries
        the value. For analyses: topological order, cycle checks, liveness, DOT export.
        """
        import networkx as nx

        g = nx.MultiDiGraph()
        for i, a in enumerate(self.args):
            g.add_node(("arg", i), label=f"%{a.name_hint}", kind="arg")
        for op in self.ops:
            g.add_node(op, label=op.name, kind="op")
        for op in self.ops:
            for v in op.operands:
                src = ("arg", v.index) if v.op is None else v.op
                g.add_edge(src, op, value=v, label=str(v.type))
        return g

    def to_dot(self) -> str:
        """Graphviz text of the dataflow graph (deterministic order)."""
        from qcc.text.printer import value_names

        names = value_names(self)
        ids: dict[Any, str] = {}
        lines = [f'digraph "{self.name}" {{', "  node [shape=box, fontname=monospace];"]
        for i, a in enumerate(self.args):
            ids[("arg", i)] = f"a{i}"
            lines.append(f'  a{i} [label="%{names[a]}\\n{a.type}", shape=ellipse];')
        for k, op in enumerate(self.ops):
            ids[id(op)] = f"n{k}"
            lines.append(f'  n{k} [label="{op.name}"];')
        for op in self.ops:
            for v in op.operands:
                src = ids[("arg", v.index)] if v.op is None else ids[id(v.op)]
                lines.append(f'  {src} -> {ids[id(op)]} [label="{v.type}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


class Module:
    """A compilation unit: named graphs; the entry graph is ``main``."""

    def __init__(self, graphs: Iterable[Graph] = ()):
        self.graphs: dict[str, Graph] = {}
        for g in graphs:
            self.add(g)

    def add(self, graph: Graph) -> Graph:
        if graph.name in self.graphs:
            raise ValueError(f"duplicate graph @{graph.name}")
        self.graphs[graph.name] = graph
        return graph

    @property
    def main(self) -> Graph:
        if "main" in self.graphs:
            return self.graphs["main"]
        if len(self.graphs) == 1:
            return next(iter(self.graphs.values()))
        raise ValueError("module has no graph @main")

    def walk(self, op_class=None) -> Iterator[Op]:
        for g in self.graphs.values():
            yield from g.walk(op_class)

    def clone(self) -> Module:
        """A deep copy of the structure; attribute values (immutable) are shared."""
        return Module(g.clone() for g in self.graphs.values())

    def __str__(self) -> str:
        from qcc.text import print_module

        return print_module(self)


# --------------------------------------------------------------------------- rewriter


class Rewriter:
    """All IR mutation by passes goes through here, so use-lists stay right and every
    change is reported to ``listener(event, op)`` (events ``created``, ``modified``,
    ``erased``; the pattern driver re-visits what changed) and counted (``erased``,
    ``created``, ``replaced``)."""

    def __init__(self, graph: Graph, listener: Callable[[str, Op], None] | None = None):
        self.graph = graph
        self.listener = listener
        self.erased = 0
        self.created = 0
        self.replaced = 0

    def _notify(self, event: str, op: Op) -> None:
        if self.listener:
            self.listener(event, op)

    def _modified(self, op: Op | None) -> None:
        if op is not None and op.graph is self.graph:
            self._notify("modified", op)

    # -- ops ---------------------------------------------------------------------------
    def insert_before(self, anchor: Op, op: Op) -> Op:
        self.graph.insert_before(anchor, op)
        self.created += 1
        self._notify("created", op)
        return op

    def insert_after(self, anchor: Op, op: Op) -> Op:
        self.graph.insert_after(anchor, op)
        self.created += 1
        self._notify("created", op)
        return op

    def move_before(self, op: Op, anchor: Op) -> None:
        """Move ``op`` (of this graph) to just before ``anchor``; the caller keeps the
        order valid (operands defined before, users after)."""
        if op is anchor or self.graph.next_op(op) is anchor:
            return
        self.graph._unlink(op)
        self.graph._link(op, anchor)
        self._modified(op)

    def replace_op(self, op: Op, new_values: list[Value]) -> None:
        """Replace every result of ``op`` by ``new_values`` and erase ``op``."""
        if len(new_values) != len(op.results):
            raise ValueError(f"replacing {op!r}: {len(new_values)} values for "
                             f"{len(op.results)} results")
        for old, new in zip(op.results, new_values, strict=True):
            if new is not old:
                if new.name_hint is None:
                    new.name_hint = old.name_hint
                self._replace_uses(old, new, ())
        self.replaced += 1
        self.erase(op)

    def erase(self, op: Op) -> None:
        """Erase ``op`` (a no-op if it is already gone), then every side-effect-free op
        that only it used, so that dead ops never block a pattern's use-count checks."""
        if op.graph is None:
            return
        pending = [iter(self._erase_one(op))]
        while pending:  # depth first, without recursion: chains of dead ops can be long
            o = next(pending[-1], None)
            if o is None:
                pending.pop()
            elif o.graph is self.graph and o.pure and not any(r.uses for r in o.results):
                pending.append(iter(self._erase_one(o)))
            else:
                self._modified(o)

    def _erase_one(self, op: Op) -> list[Op]:
        operand_ops = [v.op for v in op.operands if v.op is not None]
        self.graph.erase(op)
        self.erased += 1
        self._notify("erased", op)
        return operand_ops

    # -- values and attributes ---------------------------------------------------------
    def replace_uses(self, old: Value, new: Value, exclude: Iterable[Op] = ()) -> None:
        """Make every use of ``old`` use ``new`` instead, except uses by the ops in
        ``exclude``."""
        if new is old:
            return
        self._replace_uses(old, new, tuple(exclude))
        self._modified(old.op)  # it lost uses

    def _replace_uses(self, old: Value, new: Value, exclude: tuple[Op, ...]) -> None:
        for u in old.users:
            if u not in exclude:
                self._notify("modified", u)
        if not exclude:
            old.replace_all_uses_with(new)
            return
        kept = [u for u in old.uses if u.op in exclude]
        moved = [u for u in old.uses if u.op not in exclude]
        old.uses = kept
        for use in moved:
            use.op.operands[use.index] = new
        new.uses.extend(moved)

    def set_operand(self, op: Op, index: int, value: Value) -> None:
        """Make operand ``index`` of ``op`` read ``value``."""
        old = op.operands[index]
        if old is value:
            return
        op.set_operand(index, value)
        self._notify("modified", op)
        self._modified(old.op)  # it lost a use

    def set_attribute(self, op: Op, name: str, value: Any) -> None:
        """Set attribute ``name`` of ``op``, converted by its declared kind."""
        d = op.attr_defs.get(name)
        op.attributes[name] = d.kind.convert(value) if d is not None else value
        self._notify("modified", op)
