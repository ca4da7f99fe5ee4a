"""Pattern rewriting: patterns name the op class they match and rewrite through the
one :class:`~qcc.ir.core.Rewriter`; the driver applies them until nothing changes.

    def fold_double_reshape(op: ReshapeOp, rw: Rewriter) -> bool:
        ...
    patterns = [Pattern(ReshapeOp, fold_double_reshape)]
    apply_patterns(graph, patterns)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcc.diagnostics import QccError
from qcc.dialects import nn
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Graph, Module, Op, Rewriter, Value
from qcc.passmanager import Pass, PassContext


@dataclass(frozen=True)
class Pattern:
    """Rewrite ops of ``op_class`` with ``fn(op, rewriter) -> bool`` (True if changed).

    ``stat`` names the counter of its rewrites (default: the function's name).
    """

    op_class: type[Op] | tuple[type[Op], ...]
    fn: Callable[[Op, Rewriter], bool]
    stat: str = ""

    @property
    def name(self) -> str:
        return self.stat or self.fn.__name__.lstrip("_").replace("_", "-")


def apply_patterns(graph: Graph, patterns: list[Pattern], max_sweeps: int = 64,
                   counts: dict[str, int] | None = None) -> int:
    """Sweep the graph applying the first matching pattern to each op, until a sweep
    changes nothing. Returns the number of rewrites; ``counts`` gets them per pattern."""
    rw = Rewriter(graph)
    total = 0
    for _ in range(max_sweeps):
        changed = 0
        for op in graph.walk():
            if op.graph is not graph:  # erased earlier in this sweep
                continue
            for p in patterns:
                if isinstance(op, p.op_class) and p.fn(op, rw):
                    changed += 1
                    if counts is not None:
                        counts[p.name] = counts.get(p.name, 0) + 1
                    break
        total += changed
        if not changed:
            return total
    raise QccError(f"pattern rewriting on @{graph.name} did not converge in {max_sweeps} "
                   "sweeps")


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


def constant_value(v: Value | None) -> np.ndarray | None:
    """The array of a value defined by ``nn.constant`` (None if not constant or elided)."""
    if v is None or not isinstance(v.op, nn.ConstantOp):
        return None
    return v.op.value.data


def make_constant(rw: Rewriter, anchor: Op, array: np.ndarray, like: Value | None = None,
                  name: str | None = None) -> Value:
    """Insert an ``nn.constant`` before ``anchor`` holding ``array`` (in the element type
    of ``like`` when given)."""
    if like is not None:
        attr = DenseAttr(np.asarray(array, like.type.element.numpy_dtype),
                         like.type.with_shape(np.shape(array)))
    else:
        attr = DenseAttr.from_array(np.asarray(array))
    op = nn.ConstantOp.build(value=attr, loc=anchor.loc, name=name)
    rw.insert_before(anchor, op)
    return op.result


def single_user(v: Value) -> Op | None:
    users = v.users
    return users[0] if len(users) == 1 and len(v.uses) == 1 else None
