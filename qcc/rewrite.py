"""Pattern rewriting: patterns name the op class they match and rewrite through the
one :class:`~qcc.ir.core.Rewriter`; the driver applies them until nothing changes.

    def fold_double_reshape(op: ReshapeOp, rw: Rewriter) -> bool:
        ...
    patterns = [Pattern(ReshapeOp, fold_double_reshape)]
    apply_patterns(graph, patterns)

The driver is worklist-driven. It first visits every op in order; after a rewrite it
marks for another visit the ops the rewrite touched (created, modified, and the
producers of erased ops' operands) and their neighbourhood: their users up to
:data:`USERS_DEPTH` ops downstream (a pattern may look that far up from the op it
matches) and their producers up to :data:`PRODUCERS_DEPTH` upstream (a pattern may
look at its users). Each further round visits the marked ops in graph order (every
op, when half of them are marked), which makes the sequence of rewrites the same as
sweeping the whole graph again and again, at a cost proportional to what changed.
When no op is left marked, one more visit of every op confirms the fixed point (a
pattern that looks further away is still applied, in a later round).

This module is dialect-free: helpers about a dialect's ops live in the dialect
(``qcc.dialects.nn.constant_value``, ``nn.make_constant``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from qcc.diagnostics import QccError
from qcc.ir.core import Graph, Module, Op, Rewriter, Value
from qcc.passmanager import Pass, PassContext

#: how far around a changed op the driver looks again: its users up to this many ops
#: downstream (a pattern may look this far up from the op it matches) ...
USERS_DEPTH = 3
#: ... and its producers up to this many ops upstream (a pattern may look at its users)
PRODUCERS_DEPTH = 1
#: a round visits every op when this share of them is marked (it costs no more, and a
#: full round that changes nothing confirms the fixed point)
FULL_ROUND_SHARE = 0.5


@dataclass(frozen=True)
class Pattern:
    """Rewrite ops of ``op_class`` with ``fn(op, rewriter) -> bool`` (True if changed).

    ``stat`` names the counter of its rewrites (default: the function's name). A
    pattern changes the IR only through the rewriter it is given, and only when it
    returns True.
    """

    op_class: type[Op] | tuple[type[Op], ...]
    fn: Callable[[Op, Rewriter], bool]
    stat: str = ""

    @property
    def name(self) -> str:
        return self.stat or self.fn.__name__.lstrip("_").replace("_", "-")


def _neighbourhood(graph: Graph, ops: list[Op]) -> set[Op]:
    """``ops`` still in ``graph``, their users up to :data:`USERS_DEPTH` ops downstream
    and their producers up to :data:`PRODUCERS_DEPTH` ops upstream."""
    starts = {op for op in ops if op.graph is graph}
    found = set(starts)
    for follow, depth in ((_users, USERS_DEPTH), (_producers, PRODUCERS_DEPTH)):
        frontier = starts
        for _ in range(depth):
            frontier = {n for op in frontier for n in follow(op)} - found
            if not frontier:
                break
            found |= frontier
    return found


def _users(op: Op) -> list[Op]:
    return [u.op for r in op.results for u in r.uses]


def _producers(op: Op) -> list[Op]:
    return [v.op for v in op.operands if v.op is not None]


def apply_patterns(graph: Graph, patterns: list[Pattern], max_sweeps: int = 64,
                   counts: dict[str, int] | None = None,
                   work: dict[str, int] | None = None) -> int:
    """Apply the first matching pattern to each op until no pattern applies anywhere.

    Returns the number of rewrites; ``counts`` gets them per pattern and ``work`` the
    driver's effort: ``rounds``, ``visits`` (ops looked at) and ``calls`` (pattern
    functions called). Raises QccError when ``max_sweeps`` rounds rewrite without
    reaching the fixed point.
    """
    touched: list[Op] = []
    rw = Rewriter(graph, lambda event, op: touched.append(op))
    patterns = list(patterns)
    total = rounds = changing_rounds = visits = calls = 0
    order, full = list(graph.ops), True
    while True:
        rounds += 1
        marked: set[Op] = set()  # for the next round
        saturated = False  # so much is marked that the next round visits every op
        changed = 0
        for op in order:
            if op.graph is not graph:  # erased earlier in this round
                continue
            marked.discard(op)
            visits += 1
            for p in patterns:
                if not isinstance(op, p.op_class):
                    continue
                calls += 1
                touched.clear()
                if p.fn(op, rw):
                    changed += 1
                    if counts is not None:
                        counts[p.name] = counts.get(p.name, 0) + 1
                    if not saturated:
                        touched.append(op)
                        marked |= _neighbourhood(graph, touched)
                        saturated = len(marked) >= FULL_ROUND_SHARE * len(graph)
                    break
        touched.clear()
        total += changed
        if changed:
            changing_rounds += 1
            if changing_rounds >= max_sweeps:
                raise QccError(f"pattern rewriting on @{graph.name} did not converge in "
                               f"{max_sweeps} sweeps")
        elif full:
            break  # a visit of every op changed nothing: the fixed point
        marked = {op for op in marked if op.graph is graph}
        full = saturated or not marked or len(marked) >= FULL_ROUND_SHARE * len(graph)
        # every op when nothing is marked: to confirm the fixed point
        order = list(graph.ops) if full else [op for op in graph.ops if op in marked]
    if work is not None:
        for key, value in (("rounds", rounds), ("visits", visits), ("calls", calls)):
            work[key] = work.get(key, 0) + value
    return total


@dataclass(frozen=True)
class PatternPass(Pass):
    """A pass that applies its ``patterns`` to every graph until nothing changes and
    counts the rewrites of each pattern in the pass statistics."""

    patterns: ClassVar[tuple[Pattern, ...]] = ()

    def run(self, module: Module, ctx: PassContext) -> None:
        for g in module.graphs.values():
            counts: dict[str, int] = {}
            apply_patterns(g, list(self.patterns), counts=counts)
            for name, count in sorted(counts.items()):
                ctx.stat(name, count)


# --------------------------------------------------------------------------- helpers


def single_user(v: Value) -> Op | None:
    """The one op that uses ``v``, if it uses it once and nothing else does."""
    users = v.users
    return users[0] if len(users) == 1 and len(v.uses) == 1 else None

