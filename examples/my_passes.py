"""A user-defined pass, registered from outside qcc.

``swap-relu-maxpool`` rewrites ``max_pool(relu(x))`` into ``relu(max_pool(x))``: both
compute the same values (ReLU is monotonic, so it commutes with max), and the ReLU
then runs on the pooled, smaller tensor.

From the CLI:
    qcc opt examples/models/cnn.onnx --load examples/my_passes.py -p swap-relu-maxpool

From Python: see examples/custom_pass.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.dialects import nn
from qcc.ir import Rewriter
from qcc.passmanager import register_pass
from qcc.rewrite import Pattern, PatternPass, single_user


def swap_relu_maxpool(pool: nn.MaxPoolOp, rw: Rewriter) -> bool:
    relu = pool.input.op
    if not isinstance(relu, nn.ReluOp) or single_user(relu.result) is not pool:
        return False
    attrs = {k: pool.attributes[k] for k in pool.attr_defs}
    new_pool = rw.insert_before(pool, nn.MaxPoolOp.build(relu.input, loc=pool.loc, **attrs))
    new_relu = rw.insert_before(pool, nn.ReluOp.build(new_pool.result, loc=relu.loc))
    rw.replace_op(pool, [new_relu.result])
    rw.erase(relu)
    return True


@register_pass
@dataclass(frozen=True)
class SwapReluMaxPool(PatternPass):
    """Apply ReLU after max pooling instead of before (same values, less work)."""

    name = "swap-relu-maxpool"
    patterns = (Pattern(nn.MaxPoolOp, swap_relu_maxpool, "swapped"),)
