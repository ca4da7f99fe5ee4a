"""``remove-identity``: drop ``nn.identity`` and inference-time ``nn.dropout``.

    %y = "nn.dropout"(%x) {ratio = 0.5} ...   =>   uses of %y use %x
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.dialects import nn
from qcc.ir.core import Module, Op, Rewriter
from qcc.passmanager import Pass, PassContext, register_pass
from qcc.rewrite import Pattern, apply_patterns


def forward_identity(op: Op, rw: Rewriter) -> bool:
    rw.replace_op(op, [op.operands[0]])
    return True


PATTERNS = [Pattern((nn.IdentityOp, nn.DropoutOp), forward_identity)]


@register_pass
@dataclass(frozen=True)
class RemoveIdentity(Pass):
    """Remove Identity and Dropout (a no-op at inference)."""

    name = "remove-identity"

    def run(self, module: Module, ctx: PassContext) -> None:
        for g in module.graphs.values():
            ctx.stat("ops-removed", apply_patterns(g, PATTERNS))
