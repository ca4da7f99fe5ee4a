"""``fold-rescale``: turn dequantize -> op -> quantize chains into integer ops.

On the fake-quantized graph that ``quantize`` leaves:

- ``quantize(conv2d(dequantize(x), dequantize(w), dequantize(b)))`` becomes
  ``requantize(quant.conv2d(x, w, b))``: int8 x int8 products summed in int32 with
  the int32 bias, then one fixed-point rescale to the output type. ``nn.dense`` the
  same. With a ReLU / Clip between the op and the quantize, the requantize goes to
  the quantize's type and the activation stays for ``fuse-relu``.
- ``quantize(add(dequantize(a), dequantize(b)))`` becomes ``quant.add(a, b)``.
- ``quantize(prelu(dequantize(x), slope))`` with a constant slope (one, or one per
  channel) becomes ``quant.prelu(x)``: TFLite's int8 PRELU, one rescale for
  ``q >= z_in`` and one per channel below.
- reshape, transpose and max pooling commute with dequantize: they run on the
  integers (``quantize`` gives their output their input's type, so no requantize
  follows); concat requantizes inputs whose type differs from its output's;
  average pooling runs as ``quant.avg_pool`` / ``quant.global_avg_pool`` at the
  input's scale, followed by a requantize when the output's differs.
- ``quantize(dequantize(x))`` is ``x`` when the types agree and a requantize when
  they do not; consecutive requantizes fold into one (one rounding instead of two);
  a requantize from a type to itself with the full clamp disappears.

What is not rewritten (ops without an integer form, like softmax) stays in float
between a dequantize and a quantize, and so do the ops named by ``exclude`` (the
names ``quantize{exclude=...}`` took: ONNX node names, ONNX op types, IR op names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.diagnostics import QccError, fuse_locs
from qcc.dialects import nn, quant
from qcc.dialects.nn import constant_value
from qcc.ir.core import Module, Op, Rewriter, Value
from qcc.ir.traits import (
    Clamp,
    HasWeights,
    Pool,
    ScaleTransparent,
    integer_form,
    ops_with,
)
from qcc.ir.types import TensorType, UniformQuantType
from qcc.passes.dce import eliminate_dead_ops
from qcc.passmanager import PassContext, register_pass
from qcc.rewrite import Pattern, PatternPass, single_user


def _dequantized_source(v: Value | None) -> Value | None:
    """x if v = dequantize(x), else None."""
    if v is not None and isinstance(v.op, quant.DequantizeOp):
        return v.op.input
    return None


def _has(op: Op | None, trait: type) -> bool:
    return op is not None and op.has_trait(trait)


def _per_tensor(v: Value) -> bool:
    return isinstance(v.type.element, UniformQuantType)


def _requantized(rw: Rewriter, anchor: Op, v: Value, t: TensorType) -> Value:
    """``v`` rescaled to type ``t`` (itself when the types already agree)."""
    if v.type == t:
        return v
    return rw.insert_before(anchor, quant.RequantizeOp.make(v, t, loc=anchor.loc)).result


def fold_linear(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize([act](conv|dense(dq x, dq w, dq b))) -> requantize(quant.conv|dense)."""
    act = q.input.op if _has(q.input.op, Clamp) else None
    linear_v = act.input if act is not None else q.input
    linear = linear_v.op
    qclass = integer_form(type(linear)) if _has(linear, HasWeights) else None
    if qclass is None or single_user(linear_v) is None:
        return False
    if act is not None and single_user(q.input) is not q:
        return False
    sources = [_dequantized_source(v) for v in linear.operands]
    if any(s is None for s in sources) or not _per_tensor(sources[0]):
        return False
    attrs = {k: linear.attributes[k] for k in linear.attr_defs}
    anchor = act or q
    acc = rw.insert_before(anchor, qclass.build(*sources, loc=linear.loc, **attrs)).result
    requant = rw.insert_before(anchor, quant.RequantizeOp.make(
        acc, q.output.type, loc=q.loc, name=None if act else q.output.name_hint))
    if act is None:
        rw.replace_op(q, [requant.result])
    else:  # keep the activation in float between a dequantize and the quantize
        dq = rw.insert_before(act, quant.DequantizeOp.build(requant.result, loc=q.loc))
        rw.set_operand(act, 0, dq.result)
    rw.erase(linear)
    return True


def fold_add(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize([act](add(dq a, dq b))) -> quant.add(a, b)."""
    act = q.input.op if _has(q.input.op, Clamp) else None
    add_v = act.input if act is not None else q.input
    add = add_v.op
    if not isinstance(add, nn.AddOp) or single_user(add_v) is None:
        return False
    a, b = (_dequantized_source(v) for v in add.operands)
    if a is None or b is None or not (_per_tensor(a) and _per_tensor(b)) \
            or not isinstance(q.output.type.element, UniformQuantType):
        return False
    out_t = q.output.type
    try:
        ms, shifts = quant.add_params(a.type.element, b.type.element, out_t.element)
    except ValueError as e:
        raise QccError(f"cannot add {a.type} and {b.type} into {out_t}: {e}", add.loc) \
            from None
    e = out_t.element
    new = quant.AddOp.build(a, b, result_types=[out_t], loc=add.loc, multiplier=ms,
                            shift=shifts, clamp_min=e.storage_min, clamp_max=e.storage_max)
    rw.insert_before(act or q, new)
    if act is None:
        rw.replace_op(q, [new.result])
    else:
        dq = rw.insert_before(act, quant.DequantizeOp.build(new.result, loc=q.loc))
        rw.set_operand(act, 0, dq.result)
    rw.erase(add)
    return True


#: scale-transparent ops of one operand (reshape, transpose, max pooling, identity)
_PASSTHROUGH = tuple(c for c in ops_with(ScaleTransparent, "nn")
                     if [d.variadic for _, d in c.operand_defs] == [False])


def sink_dequantize(op: Op, rw: Rewriter) -> bool:
    """P(dequantize(x)) -> dequantize(P(x)) for scale-transparent ops of one operand."""
    x = _dequantized_source(op.operands[0])
    if x is None or not _per_tensor(x):
        return False  # moving a per-axis type through a reshape would move its axis
    attrs = {k: op.attributes[k] for k in op.attr_defs}
    moved = rw.insert_before(op, type(op).build(x, loc=op.loc, **attrs))
    dq = rw.insert_before(op, quant.DequantizeOp.build(moved.result, loc=op.loc))
    rw.replace_op(op, [dq.result])
    return True


def fold_concat(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize(concat(dq a_i)) -> concat(requantize(a_i) to the output type)."""
    concat = q.input.op
    if not isinstance(concat, nn.ConcatOp) or single_user(q.input) is not q:
        return False
    sources = [_dequantized_source(v) for v in concat.inputs]
    if any(s is None or not _per_tensor(s) for s in sources) or not _per_tensor(q.output):
        return False
    e = q.output.type.element
    rescaled: dict[Value, Value] = {}  # one requantize per distinct input
    for s in sources:
        if s not in rescaled:
            rescaled[s] = _requantized(rw, q, s, s.type.with_element(e))
    inputs = [rescaled[s] for s in sources]
    new = rw.insert_before(q, nn.ConcatOp.build(*inputs, loc=concat.loc, axis=concat.axis))
    rw.replace_op(q, [new.result])
    rw.erase(concat)
    return True


def fold_avg_pool(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize(avg_pool(dq x)) -> requantize(quant.avg_pool(x))."""
    pool = q.input.op
    qclass = integer_form(type(pool)) if _has(pool, Pool) else None
    if qclass is None or single_user(q.input) is not q:
        return False
    x = _dequantized_source(pool.input)
    if x is None or not _per_tensor(x) or not _per_tensor(q.output):
        return False
    attrs = {k: pool.attributes[k] for k in pool.attr_defs}
    if isinstance(pool, nn.AvgPoolOp) and not quant.has_constant_window(
            x.type.shape, pool.output.type.shape, attrs):
        return False  # windows of different sizes: stays in float
    total = rw.insert_before(q, qclass.build(x, loc=pool.loc, **attrs)).result
    rw.replace_op(q, [_requantized(rw, q, total, q.output.type)])
    rw.erase(pool)
    return True


def fold_avg_pool_valid(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize(avg_pool(dq x)) whose windows count different numbers of positions
    (padding not counted) -> quant.avg_pool_valid(x): the window sums requantized
    with the multiplier of each window's count."""
    pool = q.input.op
    if not isinstance(pool, nn.AvgPoolOp) or single_user(q.input) is not q:
        return False
    x = _dequantized_source(pool.input)
    if x is None or not _per_tensor(x) or not _per_tensor(q.output) or \
            x.type.element.storage.width != 8 or q.output.type.element.storage.width != 8:
        return False
    attrs = {k: pool.attributes[k] for k in pool.attr_defs}
    if quant.has_constant_window(x.type.shape, pool.output.type.shape, attrs):
        return False  # quant.avg_pool + requantize (fold_avg_pool)
    try:
        params = quant.AvgPoolValidOp.params(x.type, q.output.type, attrs)
    except ValueError:
        return False  # stays in float
    e = q.output.type.element
    new = quant.AvgPoolValidOp.build(x, loc=fuse_locs(pool.loc, q.loc),
                                     result_types=[q.output.type],
                                     name=q.output.name_hint, **attrs, **params,
                                     clamp_min=e.storage_min, clamp_max=e.storage_max)
    rw.insert_before(q, new)
    rw.replace_op(q, [new.result])
    rw.erase(pool)
    return True


def channel_slopes(prelu: nn.PReluOp) -> list[float] | None:
    """The slopes of a PRelu by a constant that is one value or one per channel of
    axis 1 of its input (as ONNX broadcasts it), else None."""
    slope = constant_value(prelu.slope)
    x = prelu.input.type
    if slope is None or slope.ndim > x.rank:
        return None
    s = np.asarray(slope, np.float64).reshape((1,) * (x.rank - slope.ndim) + slope.shape)
    if s.size == 1:
        return [float(s.reshape(-1)[0])]
    if x.rank < 2 or any(d != 1 for k, d in enumerate(s.shape) if k != 1) or \
            s.shape[1] != x.shape[1]:
        return None
    values = s.reshape(-1)
    return [float(values[0])] if np.all(values == values[0]) else [float(v) for v in values]


def fold_prelu(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize(prelu(dq x, constant slope)) -> quant.prelu(x): TFLite's int8 PRELU
    (two rescales, by the sign of q - z_in)."""
    prelu = q.input.op
    if not isinstance(prelu, nn.PReluOp) or single_user(q.input) is not q:
        return False
    x = _dequantized_source(prelu.input)
    if x is None or not _per_tensor(x) or not _per_tensor(q.output) or \
            x.type.element.storage.width != 8 or q.output.type.element.storage.width != 8:
        return False
    slopes = channel_slopes(prelu)
    if slopes is None:
        return False
    try:
        params = quant.PReluOp.params(x.type, q.output.type, slopes)
    except ValueError:
        return False  # a rescale no multiplier holds: stays in float
    e = q.output.type.element
    new = quant.PReluOp.build(x, loc=fuse_locs(prelu.loc, q.loc),
                              result_types=[q.output.type], name=q.output.name_hint,
                              slope=slopes, **params, clamp_min=e.storage_min,
                              clamp_max=e.storage_max)
    rw.insert_before(q, new)
    rw.replace_op(q, [new.result])
    rw.erase(prelu)
    return True


def fold_quantize_dequantize(q: quant.QuantizeOp, rw: Rewriter) -> bool:
    """quantize(dequantize(x)) -> x, or a requantize when the types differ."""
    x = _dequantized_source(q.input)
    if x is None or not isinstance(q.output.type.element, UniformQuantType):
        return False
    rw.replace_op(q, [_requantized(rw, q, x, q.output.type)])
    return True


def fold_requantize_chain(r: quant.RequantizeOp, rw: Rewriter) -> bool:
    """requantize(requantize(x)) -> requantize(x) when the inner one clamps nothing."""
    inner = r.input.op
    if not isinstance(inner, quant.RequantizeOp) or single_user(r.input) is not r:
        return False
    e = inner.output.type.element
    if (inner.clamp_min, inner.clamp_max) != (e.storage_min, e.storage_max):
        return False
    new = quant.RequantizeOp.make(inner.input, r.output.type, (r.clamp_min, r.clamp_max),
                                  loc=fuse_locs(inner.loc, r.loc), name=r.output.name_hint)
    rw.insert_before(r, new)
    rw.replace_op(r, [new.result])
    rw.erase(inner)
    return True


def drop_identity_requantize(r: quant.RequantizeOp, rw: Rewriter) -> bool:
    e = r.output.type.element
    if r.input.type != r.output.type or (r.clamp_min, r.clamp_max) != (e.storage_min,
                                                                         e.storage_max):
        return False
    rw.replace_op(r, [r.input])
    return True


@register_pass
@dataclass(frozen=True)
class FoldRescale(PatternPass):
    """Turn dequantize -> op -> quantize chains into integer ops and one requantize."""

    name = "fold-rescale"
    patterns = (
        Pattern(quant.QuantizeOp, fold_linear),
        Pattern(quant.QuantizeOp, fold_add),
        Pattern(quant.QuantizeOp, fold_concat),
        Pattern(quant.QuantizeOp, fold_avg_pool),
        Pattern(quant.QuantizeOp, fold_avg_pool_valid),
        Pattern(quant.QuantizeOp, fold_prelu),
        Pattern(quant.QuantizeOp, fold_quantize_dequantize),
        Pattern(_PASSTHROUGH, sink_dequantize),
        Pattern(quant.RequantizeOp, fold_requantize_chain),
        Pattern(quant.RequantizeOp, drop_identity_requantize),
    )

    #: ops ``quantize`` kept in float (same names as its ``exclude``): not folded
    exclude: tuple[str, ...] = ()

    def run(self, module: Module, ctx: PassContext) -> None:
        if self.exclude:
            self._run_excluding(module, ctx)
        else:
            super().run(module, ctx)
        for g in module.graphs.values():
            ctx.stat("ops-erased", eliminate_dead_ops(g))

    def _run_excluding(self, module: Module, ctx: PassContext) -> None:
        """The patterns, except on the excluded ops: they stay float between a
        dequantize and a quantize (their requantize chains still fold)."""
        from qcc.passes.quantize import is_excluded
        from qcc.rewrite import apply_patterns

        exclude = self.exclude

        def folded(op: Op) -> list[Op]:
            """The op a pattern anchored at ``op`` would turn into an integer op."""
            if isinstance(op, quant.QuantizeOp):
                inner = op.input.op
                if inner is None:
                    return []
                if inner.has_trait(Clamp) and inner.operands and inner.operands[0].op:
                    return [inner, inner.operands[0].op]
                return [inner]
            return [op] if not isinstance(op, quant.RequantizeOp) else []

        def guard(p: Pattern) -> Pattern:
            def fn(op: Op, rw) -> bool:
                if any(is_excluded(o, exclude) for o in folded(op)):
                    return False
                return p.fn(op, rw)
            return Pattern(p.op_class, fn, p.name)

        patterns = [p if p.fn is fold_quantize_dequantize else guard(p)
                    for p in self.patterns]
        for g in module.graphs.values():
            counts: dict[str, int] = {}
            apply_patterns(g, patterns, counts=counts)
            for name, count in sorted(counts.items()):
                ctx.stat(name, count)
