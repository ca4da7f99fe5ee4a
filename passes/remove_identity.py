"""``remove-identity``: drop ``nn.identity`` and inference-time ``nn.dropout``.

    %y = "nn.dropout"(%x) {ratio = 0.5} ...   =>   uses of %y use %x
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.dialects import nn  # noqa: F401  (registers the nn ops that ops_with finds)
from qcc.ir.core import Op, Rewriter
from qcc.ir.traits import NoOp, ops_with
from qcc.passmanager import register_pass
from qcc.rewrite import Pattern, PatternPass


def forward_identity(op: Op, rw: Rewriter) -> bool:
    rw.replace_op(op, [op.operands[0]])
    return True


@register_pass
@dataclass(frozen=True)
class RemoveIdentity(PatternPass):
    """Remove Identity and Dropout (a no-op at inference)."""

    name = "remove-identity"
    patterns = (Pattern(ops_with(NoOp, "nn"), forward_identity, "ops-removed"),)
