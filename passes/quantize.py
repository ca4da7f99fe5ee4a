"""``quantize``: turn a calibrated f32 graph into a fake-quantized one.

Every ``quant.stats`` op (left by ``calibrate``) becomes a ``quant.quantize`` /
``quant.dequantize`` pair whose type holds the activation's scale and zero point,
chosen so that real zero is exact (int8 [-128, 127] or uint8 [0, 255], asymmetric).
The weights of ``nn.conv2d`` and ``nn.dense`` become int8 constants in [-127, 127]
with zero point 0, one scale per tensor or per output channel, followed by a
dequantize; their bias becomes an int32 constant with scale ``s_in * s_w`` and zero
point 0. If a bias is too large for int32 at that scale, the weight scale of that
channel is raised until it fits (as onnxruntime does).

A conv, dense or add whose only user is a ReLU or Clip is not quantized at its output:
the range that matters is the activation's, and ``fuse-relu`` later folds the
activation into the requantize.

    %s = "quant.stats"(%x) {max = 2.0, min = -1.0}
    =>  %q = "quant.quantize"(%x) : (tensor<4xf32>)
                 -> tensor<4x!quant.uniform<i8:f32, 0.011764705882352941:-43>>
        %s = "quant.dequantize"(%q) ...

``exclude`` names ops (by ONNX node name, ONNX op type or IR op name) and tensors
(by value name). An excluded op keeps its weights f32 and computes in float on
dequantized inputs (give ``fold-rescale`` the same ``exclude`` so it stays so); its
output is still quantized for the ops after it unless that tensor is excluded too.
An excluded tensor is not quantized: the ops that read it compute in float, and its
producer too (an op whose output stays float keeps its weights float). A name that
matches nothing is an error listing it. What is kept float, and why, goes to
``ctx.data["kept_float"]`` (name -> reason) for the report.

Ops that only move or select values (``transparent_source``: max pooling, reshape,
transpose, identity, slice, gather, expand, nearest resize, zero padding) inherit
their input's quantization: when the input is quantized per tensor with the
activation storage, the output gets exactly the input's type, not one from its own
calibrated range, so the integer program needs no requantize there. A concat whose
inputs all have one type takes it; an input whose only user is a concat and whose
own type is not inherited is quantized with the concat's type (from the concat's
calibrated range), so its producer writes the concat's codes directly. Ops named by
``exclude`` and per-lane (``lane_absmax``) inputs keep their own ranges. Each
inherited or adopted tensor is counted (``activations-inherited``,
``concat-inputs-adopted``) and listed in ``ctx.data["inherited_quantization"]``
(tensor name -> where its type comes from) for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from qcc.diagnostics import QccError, onnx_locs
from qcc.dialects import nn, quant
from qcc.dialects.nn import constant_value
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Graph, Module, Op, ReturnOp, Rewriter, Value
from qcc.ir.traits import Clamp, ClampFusable, HasWeights, ScaleTransparent, ops_with
from qcc.ir.types import (
    IntegerType,
    QuantType,
    TensorType,
    UniformQuantPerAxisType,
    UniformQuantType,
    i8,
    i32,
    u8,
)
from qcc.passes.dce import eliminate_dead_ops
from qcc.passmanager import Pass, PassContext, register_pass
from qcc.quant_arith import INT32_MAX, choose_scale_zero_point

WEIGHT_MAX = 127  # weights are symmetric int8 in [-127, 127]


def transparent_source(op: Op | None) -> Value | None:
    """The operand whose elements ``op``'s result copies without arithmetic (moved,
    repeated or selected by comparison), if ``op`` is such an op of one data operand:
    the ``ScaleTransparent`` ops of one operand (max pooling, reshape, transpose,
    identity, dropout), slice, gather and gather_elements (of the data operand, by
    integer indices), expand, nearest resize and padding with zero (real zero is
    exact in every activation type). Concat (several operands) is handled apart.
    Every result value is then a value of the operand, so the operand's quantized
    type represents the result exactly."""
    if op is None or isinstance(op, nn.ConcatOp):
        return None
    if op.has_trait(ScaleTransparent) and len(op.operands) == 1:
        return op.operands[0]
    if isinstance(op, nn.SliceOp | nn.ExpandOp | nn.GatherOp | nn.GatherElementsOp):
        return op.operands[0]
    if isinstance(op, nn.ResizeOp) and op.attributes["mode"] == "nearest":
        return op.operands[0]
    if isinstance(op, nn.PadOp) and op.attributes["value"] == 0.0:
        return op.operands[0]
    return None


def is_excluded(op: Op, exclude: tuple[str, ...]) -> bool:
    if not exclude:
        return False
    return bool(op_names(op) & set(exclude))


def _output_quantized(op: Op, names: dict[Value, str], exclude: tuple[str, ...]) -> bool:
    """Whether ``op``'s result will be quantized: ``calibrate`` gave it a range (a
    ``quant.stats`` user, or only ReLU / Clip users that have one) and it is not an
    excluded tensor. An op whose output stays float (a sentinel-dominated or
    excluded tensor) keeps its weights float too: it cannot become an integer op, and
    a dequantized sentinel weight may overflow f32."""
    def ranged(v: Value) -> bool:
        return names.get(v) not in exclude and any(isinstance(u, quant.StatsOp)
                                                   for u in v.users)

    r = op.results[0]
    if ranged(r):
        return True
    users = r.users
    return bool(users) and op.has_trait(ClampFusable) and all(
        u.has_trait(Clamp) and ranged(u.results[0]) for u in users)


def op_names(op: Op) -> set[str]:
    """The names ``exclude`` matches an op by: its IR op name and, for each ONNX node
    it came from, the node's name and op type."""
    names = {op.name}
    for loc in onnx_locs(op.loc):
        names.update(n for n in (loc.name, loc.op_type) if n)
    return names


def op_label(op: Op) -> str:
    """How the report names an op: its ONNX node (op type and name), else its IR name."""
    locs = onnx_locs(op.loc)
    if locs:
        return " ".join(f"{loc.op_type} {loc.name}".strip() for loc in locs)
    return op.name


def canonical_exclude(module: Module, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """``exclude`` with each name that is no op's and no printed tensor name but is a
    tensor's ONNX name (its name hint: ``/Add_7_output_0``, printed
    ``_Add_7_output_0``) replaced by the printed name."""
    from qcc.text.printer import value_names

    ops: set[str] = set()
    printed: dict[str, str] = {}
    for g in module.graphs.values():
        for op in g.ops:
            ops |= op_names(op)
        for v, n in value_names(g).items():
            printed[n] = n
            if v.name_hint:
                printed.setdefault(v.name_hint, n)
    return tuple(n if n in ops else printed.get(n, n) for n in exclude)


def check_exclude(module: Module, exclude: tuple[str, ...]) -> None:
    """QccError listing the names of ``exclude`` that match no op (ONNX node name,
    ONNX op type, IR op name) and no tensor (value name) of the module, with some
    names that exist."""
    if not exclude:
        return
    from qcc.text.printer import value_names

    ops: set[str] = set()
    tensors: set[str] = set()
    nodes: list[str] = []
    for g in module.graphs.values():
        for op in g.ops:
            if isinstance(op, ReturnOp | quant.StatsOp | nn.ConstantOp):
                continue
            ops |= op_names(op)
            nodes += [loc.name for loc in onnx_locs(op.loc) if loc.name]
        names = value_names(g)
        tensors |= {n for v, n in names.items()
                    if not (v.op is not None and isinstance(v.op, nn.ConstantOp | quant.StatsOp))}
    unknown = [n for n in exclude if n not in ops and n not in tensors]
    if not unknown:
        return
    shown = ", ".join(repr(n) for n in unknown)
    examples = []
    for kind, pool in (("ONNX nodes", nodes),
                       ("op types", sorted(n for n in ops if n not in nodes)),
                       ("tensors", sorted(tensors))):
        seen = list(dict.fromkeys(pool))
        if seen:
            more = f", ... ({len(seen)} in all)" if len(seen) > 6 else ""
            examples.append(f"{kind}: {', '.join(seen[:6])}{more}")
    raise QccError(f"exclude: {shown} match{'es' if len(unknown) == 1 else ''} no op or "
                   f"tensor of the model (names are ONNX node names, ONNX op types, IR op "
                   f"names or tensor names); it has {'; '.join(examples)}")


def _activation_element(v: Value, storage: IntegerType) -> UniformQuantType | None:
    """The per-tensor quantized type of ``v`` = dequantize(q) when ``q`` holds an
    activation (``storage`` over its full range), else None."""
    if not isinstance(v.op, quant.DequantizeOp):
        return None
    e = v.op.input.type.element
    if not isinstance(e, UniformQuantType) or e.storage != storage or \
            (e.storage_min, e.storage_max) != (storage.min, storage.max):
        return None
    return e


def _describe(e: UniformQuantType) -> str:
    return f"scale {e.scale:.6g}, zero point {e.zero_point}"


def activation_type(t: TensorType, lo: float, hi: float, storage: IntegerType) -> TensorType:
    scale, zp = choose_scale_zero_point(lo, hi, storage.min, storage.max)
    return t.with_element(UniformQuantType.make(storage, scale, zp, t.element))


def lane_activation_type(t: TensorType, lane_absmax, storage: IntegerType) -> TensorType:
    """One symmetric scale per channel of the last axis, ``max|x| / 127`` (zero point
    0: the activation unit's per-lane multipliers produce it; one zero point per
    table)."""
    m = np.asarray(lane_absmax, np.float64)
    scales = np.where(m > 0, m / WEIGHT_MAX, 1.0)
    return t.with_element(UniformQuantPerAxisType.make(storage, t.rank - 1, scales, None,
                                                       t.element))


def weight_scales(w: np.ndarray, axis: int | None) -> np.ndarray:
    """max|w| / 127 per tensor (axis None) or per slice along ``axis``; 1.0 where 0."""
    if axis is None:
        m = np.array([np.abs(w).max(initial=0.0)], np.float64)
    else:
        m = np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1)
        m = m.astype(np.float64)
    return np.where(m > 0, m / WEIGHT_MAX, 1.0)


def _quant_weight_type(w: np.ndarray, scales: np.ndarray, axis: int | None) -> QuantType:
    if axis is None:
        return UniformQuantType.make(i8, scales[0], 0, storage_min=-WEIGHT_MAX,
                                     storage_max=WEIGHT_MAX)
    return UniformQuantPerAxisType.make(i8, axis, scales, None, storage_min=-WEIGHT_MAX,
                                        storage_max=WEIGHT_MAX)


#: elements of a weight quantized at a time (float64 temporaries of this size)
WEIGHT_BLOCK = 1 << 20


def quantize_weight_blocks(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int8 ``clip(rint(w / scales), -127, 127)`` in float64, a block of leading-axis
    slices at a time: the same values as on the whole array, without whole-size
    float64 temporaries (a 25088x4096 dense weight would need 822 MB for each)."""
    out = np.empty(w.shape, np.int8)
    if w.ndim == 0 or w.size == 0:
        out[...] = np.clip(np.rint(w.astype(np.float64) / scales), -WEIGHT_MAX, WEIGHT_MAX)
        return out
    step = max(1, WEIGHT_BLOCK // max(1, w[0].size))
    for a in range(0, w.shape[0], step):
        part = slice(a, a + step)
        s = scales[part] if scales.ndim and scales.shape[0] > 1 else scales
        out[part] = np.clip(np.rint(w[part].astype(np.float64) / s), -WEIGHT_MAX, WEIGHT_MAX)
    return out


def _broadcast(scales: np.ndarray, rank: int, axis: int | None) -> np.ndarray:
    if axis is None:
        return scales.reshape(())
    shape = [1] * rank
    shape[axis] = scales.size
    return scales.reshape(shape)


def _insert_constant(rw: Rewriter, anchor: Op, data: np.ndarray, t: TensorType,
                     name: str | None) -> Value:
    c = nn.ConstantOp.build(value=DenseAttr(data, t), loc=anchor.loc, name=name)
    rw.insert_before(anchor, c)
    return c.result


def _dequantized(rw: Rewriter, anchor: Op, q: Value) -> Value:
    return rw.insert_before(anchor, quant.DequantizeOp.build(q, loc=anchor.loc)).result


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Insert quantize/dequantize pairs from calibration and quantize weights and biases."""

    name = "quantize"
    granularity: Literal["per-tensor", "per-channel"] = "per-channel"
    activations: Literal["int8", "uint8"] = "int8"
    exclude: tuple[str, ...] = ()

    def run(self, module: Module, ctx: PassContext) -> None:
        storage = i8 if self.activations == "int8" else u8
        for g in module.graphs.values():
            if not any(isinstance(op, quant.StatsOp) for op in g.ops):
                raise QccError(f"quantize: @{g.name} has no calibration statistics; run "
                               "'calibrate' first (or load statistics with "
                               "calibrate{stats=FILE})")
        from qcc.text.printer import value_names

        check_exclude(module, self.exclude)
        kept = ctx.data.setdefault("kept_float", {})
        for g in module.graphs.values():
            rw = Rewriter(g)
            names = value_names(g)
            skip = quant.StatsOp | ReturnOp | nn.ConstantOp
            for op in g.ops:
                if self.exclude and not isinstance(op, skip) and is_excluded(op, self.exclude):
                    kept[f"op {op_label(op)}"] = (
                        f"excluded ({', '.join(sorted(op_names(op) & set(self.exclude)))}): "
                        "computes in float on dequantized inputs")
            for v, name in names.items():
                if name in self.exclude and any(isinstance(u, quant.StatsOp)
                                                for u in v.users):
                    kept[name] = f"excluded ({name}): not quantized"
            float_out = {op for op in g.walk(ops_with(HasWeights, "nn"))
                         if not _output_quantized(op, names, self.exclude)}
            self._quantize_activations(g, rw, storage, ctx, names)
            for op in g.walk(ops_with(HasWeights, "nn")):
                if is_excluded(op, self.exclude) or op in float_out:
                    ctx.stat("ops-kept-float")
                    continue
                if self._quantize_weights(op, rw, ctx):
                    ctx.stat("weights-quantized")
                else:
                    ctx.stat("ops-kept-float")
            eliminate_dead_ops(g)

    def _quantize_activations(self, g: Graph, rw: Rewriter, storage: IntegerType,
                              ctx: PassContext, names: dict[Value, str]) -> None:
        inherited = ctx.data.setdefault("inherited_quantization", {})
        adopt = self._concat_adoptions(g, storage, names)
        for stats in g.walk(quant.StatsOp):
            x = stats.input
            producer = x.op
            if names.get(x) in self.exclude:
                rw.replace_op(stats, [x])  # an excluded tensor stays float
                ctx.stat("tensors-kept-float")
                continue
            users = stats.output.users
            if producer is not None and producer.has_trait(ClampFusable) and users and \
                    not is_excluded(producer, self.exclude) and \
                    all(u.has_trait(Clamp) for u in users):
                rw.replace_op(stats, [x])  # the ReLU after it is quantized instead
                continue
            lanes = stats.attributes.get("lane_absmax")
            per_lane = bool(lanes) and storage.signed
            own = None if per_lane else activation_type(x.type, stats.min, stats.max,
                                                        storage)
            source = self._inherited_from(producer, storage, names)
            if source is not None and isinstance(producer, nn.ConcatOp) and \
                    own is not None and source[0] == own.element:
                source = None  # its inputs took the concat's own type
            if source is not None:
                element, what = source
                qt = x.type.with_element(element)
                ctx.stat("activations-inherited")
                inherited[names.get(x, x.name_hint or "?")] = (
                    f"{op_label(producer)}: {what} ({_describe(element)})")
            elif x in adopt:
                element, concat = adopt[x]
                qt = x.type.with_element(element)
                ctx.stat("concat-inputs-adopted")
                inherited[names.get(x, x.name_hint or "?")] = (
                    f"read only by {op_label(concat)}: quantized as its output "
                    f"{names.get(concat.results[0], '?')} ({_describe(element)})")
            elif per_lane:
                qt = lane_activation_type(x.type, lanes, storage)
                ctx.stat("activations-per-channel")
            else:
                qt = own
            q = quant.QuantizeOp.build(x, result_types=[qt], loc=stats.loc,
                                       name=f"{x.name_hint}_q" if x.name_hint else None)
            rw.insert_before(stats, q)
            dq = quant.DequantizeOp.build(q.result, loc=stats.loc,
                                          name=f"{x.name_hint}_dq" if x.name_hint else None)
            rw.insert_before(stats, dq)
            rw.replace_op(stats, [dq.result])
            ctx.stat("activations-quantized")

    def _inherited_from(self, op: Op | None, storage: IntegerType, names: dict[Value, str]
                        ) -> tuple[UniformQuantType, str] | None:
        """The quantized type ``op``'s result inherits, and from what: its data
        operand's (``transparent_source``), or, for a concat, the one type all its
        inputs have; None when the operand is not quantized per tensor with the
        activation storage (float, per lane, a weight's narrow range) or ``op`` is
        excluded."""
        if op is None or is_excluded(op, self.exclude):
            return None
        if isinstance(op, nn.ConcatOp):
            elements = {_activation_element(v, storage) for v in op.operands}
            if len(elements) != 1 or None in elements:
                return None
            return elements.pop(), "its inputs all have one type"
        source = transparent_source(op)
        element = _activation_element(source, storage) if source is not None else None
        if element is None:
            return None
        q = source.op.input.op  # the quantize of the source, before its dequantize
        name = names.get(q.input) if isinstance(q, quant.QuantizeOp) else None
        return element, f"copies values of {name or 'its input'}"

    def _concat_adoptions(self, g: Graph, storage: IntegerType, names: dict[Value, str]
                          ) -> dict[Value, tuple[UniformQuantType, Op]]:
        """The concat inputs to quantize with their concat's type (from the concat's
        calibrated range): inputs read only by the concat, not excluded, with no
        per-lane range, whose producer is not an op that inherits its input's type
        (a max pool, reshape, ... or another concat keeps its input's type; the
        concat then requantizes it)."""
        adopt: dict[Value, tuple[UniformQuantType, Op]] = {}
        for stats in g.walk(quant.StatsOp):
            concat = stats.input.op
            if not isinstance(concat, nn.ConcatOp) or is_excluded(concat, self.exclude) \
                    or names.get(stats.input) in self.exclude or \
                    (stats.attributes.get("lane_absmax") and storage.signed):
                continue
            element = activation_type(stats.input.type, stats.min, stats.max,
                                      storage).element
            for v in concat.operands:
                s = v.op
                if not isinstance(s, quant.StatsOp) or names.get(s.input) in self.exclude \
                        or (s.attributes.get("lane_absmax") and storage.signed) or \
                        any(u is not concat for u in s.output.users):
                    continue
                p = s.input.op
                if p is not None and (isinstance(p, nn.ConcatOp) or
                                      transparent_source(p) is not None):
                    continue
                adopt[s.input] = (element, concat)
        return adopt

    def _quantize_weights(self, op: Op, rw: Rewriter,
                          ctx: PassContext) -> bool:
        w = constant_value(op.weight)
        x_dq = op.input.op
        if w is None or not isinstance(x_dq, quant.DequantizeOp):
            return False  # dynamic weights, or an input that is not quantized
        s_in = x_dq.input.type.element.scale
        axis = None
        if self.granularity == "per-channel":
            axis = op.trait(HasWeights).weight_axis
        scales = weight_scales(w, axis)  # |w| and max are exact in w's own type
        bias = constant_value(op.bias) if op.bias is not None else None
        if op.bias is not None and bias is None:
            return False
        if bias is not None:
            # raise weight scales whose bias would not fit int32 at s_in * s_w
            b = bias.astype(np.float64)
            need = np.abs(b) / (s_in * INT32_MAX)
            if axis is None:
                need = np.array([need.max(initial=0.0)])
            if np.any(need > scales):
                ctx.stat("weight-scales-raised-for-bias", int(np.sum(need > scales)))
                scales = np.maximum(scales, need * (1 + 1e-6))
        qw = quantize_weight_blocks(w, _broadcast(scales, w.ndim, axis))
        wt = op.weight.type.with_element(_quant_weight_type(w, scales, axis))
        w_const = _insert_constant(rw, op, qw, wt, op.weight.name_hint)
        operands = [op.input, _dequantized(rw, op, w_const)]
        if bias is not None:
            bias_scales = s_in * scales
            qb = np.rint(bias.astype(np.float64) / (bias_scales if axis is not None
                                                     else bias_scales[0]))
            qb = np.clip(qb, -INT32_MAX, INT32_MAX).astype(np.int32)
            if axis is None:
                be = UniformQuantType.make(i32, float(bias_scales[0]), 0)
            else:
                be = UniformQuantPerAxisType.make(i32, 0, bias_scales)
            b_const = _insert_constant(rw, op, qb, op.bias.type.with_element(be),
                                       op.bias.name_hint)
            operands.append(_dequantized(rw, op, b_const))
        attrs = {k: op.attributes[k] for k in op.attr_defs}
        new = type(op).build(*operands, loc=op.loc, **attrs)
        rw.insert_before(op, new)
        rw.replace_op(op, [new.result])
        return True
