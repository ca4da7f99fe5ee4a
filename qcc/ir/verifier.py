"""The verifier: structural and per-op invariants of a module.

Checked: every op is registered and matches its declaration (operand and result
counts, attributes present and of the declared kind); each operand is defined
before use in the same graph; use-lists agree with operands; the graph ends in
exactly one ``func.return``; and each op's own ``verify_`` hook (by default: the
result types equal the inferred ones).
"""

from __future__ import annotations

from qcc.diagnostics import QccError
from qcc.ir.core import OP_REGISTRY, Graph, Module, Op, ReturnOp, Value, VerifyError


def _fail(op: Op, message: str) -> QccError:
    return QccError(f"'{op.name}' op {message}", op.loc)


def verify_op_schema(op: Op) -> None:
    """Check an op against its class declaration (counts and attribute kinds)."""
    if OP_REGISTRY.get(op.name) is not type(op):
        raise _fail(op, "is not a registered op")
    fixed = sum(1 for _, d in op.operand_defs if not (d.optional or d.variadic))
    group = [d for _, d in op.operand_defs if d.optional or d.variadic]
    n = len(op.operands)
    if group and group[0].optional:
        ok, want = fixed <= n <= fixed + 1, f"{fixed} or {fixed + 1}"
    elif group:
        ok, want = n >= fixed, f"at least {fixed}"
    else:
        ok, want = n == fixed, f"{fixed}"
    if not ok:
        raise _fail(op, f"expects {want} operand{'s' if want != '1' else ''}, got {n}")
    if len(op.results) != len(op.result_defs):
        raise _fail(op, f"expects {len(op.result_defs)} results, got {len(op.results)}")
    for name, d in op.attr_defs.items():
        if name not in op.attributes:
            raise _fail(op, f"requires attribute '{name}' ({d.kind.name})")
        value = op.attributes[name]
        try:
            canonical = d.kind.convert(value)
        except ValueError as e:
            raise _fail(op, f"attribute '{name}': {e}") from None
        if type(canonical) is not type(value):
            raise _fail(op, f"attribute '{name}' holds a {type(value).__name__}, not the "
                            f"canonical {type(canonical).__name__} (build ops with Op.build)")


def verify_graph(graph: Graph) -> None:
    defined: set[int] = {id(a) for a in graph.args}
    for i, a in enumerate(graph.args):
        if a.owner is not graph or a.index != i:
            raise QccError(f"graph @{graph.name}: argument {i} is not owned by the graph")
    if not graph.ops or not isinstance(graph.ops[-1], ReturnOp):
        raise QccError(f"graph @{graph.name} does not end in func.return")
    if len(graph.output_names) != len(graph.ops[-1].operands):
        raise QccError(f"graph @{graph.name}: {len(graph.output_names)} output names for "
                       f"{len(graph.ops[-1].operands)} outputs")
    if len(graph.input_names) != len(graph.args):
        raise QccError(f"graph @{graph.name}: {len(graph.input_names)} input names for "
                       f"{len(graph.args)} arguments")
    for k, op in enumerate(graph.ops):
        if isinstance(op, ReturnOp) and k != len(graph.ops) - 1:
            raise _fail(op, "must be the last op of its graph")
        if op.graph is not graph:
            raise _fail(op, "does not belong to the graph that lists it")
        verify_op_schema(op)
        for i, v in enumerate(op.operands):
            if id(v) not in defined:
                raise _fail(op, f"operand {i} ({v.type}) is used before it is defined, or "
                                "is defined in another graph")
            if not any(u.op is op and u.index == i for u in v.uses):
                raise _fail(op, f"operand {i} is missing from its value's use-list")
        for j, r in enumerate(op.results):
            if r.owner is not op or r.index != j:
                raise _fail(op, f"result {j} is not owned by the op")
            defined.add(id(r))
        try:
            op.verify_()
        except VerifyError as e:
            raise _fail(op, str(e)) from None
    _verify_use_lists(graph)


def _verify_use_lists(graph: Graph) -> None:
    values: list[Value] = list(graph.args) + [r for op in graph.ops for r in op.results]
    for v in values:
        for u in v.uses:
            if u.op.graph is not graph or u.index >= len(u.op.operands) or \
                    u.op.operands[u.index] is not v:
                raise QccError(f"graph @{graph.name}: stale use of %{v.name_hint} by "
                               f"{u.op!r}", u.op.loc)


def verify(module: Module) -> None:
    """Raise QccError at the first broken invariant."""
    if not module.graphs:
        raise QccError("module has no graphs")
    for g in module.graphs.values():
        verify_graph(g)
