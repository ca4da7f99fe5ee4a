"""Per-layer quantization error: float vs fake-quantized vs integer program.

For every quantized activation (a ``quant.quantize`` of the fake-quantized graph,
named ``<tensor>_q``) the report runs three graphs on the same inputs and measures,
against the float graph's value of ``<tensor>``:

- the SQNR of the fake-quantized graph's dequantized value,
- the SQNR of the integer graph's value (dequantized with its type),
- the fraction of the float values that fall outside the range the quantized type
  can represent, ``[scale * (qmin - zp), scale * (qmax - zp)]`` (clipping: what a
  narrow calibration range costs; a fused ReLU's zeroing is not counted, because
  the float reference is taken after the ReLU),

and names the first layer whose integer SQNR falls below a threshold: where to look
first when accuracy drops. It also lists what was kept in float and why
(sentinel-dominated tensors, excluded ops and tensors, mixed precision).

SQNR = 10 log10(sum(x^2) / sum((x - x_q)^2)) in dB; infinite when equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from qcc.diagnostics import escape_controls
from qcc.dialects import quant
from qcc.interpreter import qparams, run
from qcc.ir.core import Module, Value
from qcc.ir.types import QuantType, TensorType
from qcc.text.printer import value_names


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``approx`` against ``reference`` (dB)."""
    ref = np.asarray(reference, np.float64)
    noise = float(np.sum((ref - np.asarray(approx, np.float64)) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


@dataclass
class LayerError:
    tensor: str
    op: str
    type: str
    sqnr_fake_quant: float
    sqnr_integer: float | None
    clipped: float | None = None
    #: the calibration method of the tensor's range (per tensor with auto)
    method: str | None = None


@dataclass
class QuantReport:
    layers: list[LayerError] = field(default_factory=list)
    output_sqnr: dict[str, float] = field(default_factory=dict)
    threshold_db: float = 20.0
    #: tensors (and ``op ...`` entries for ops) left in float, with the reason
    kept_float: dict[str, str] = field(default_factory=dict)
    #: tensors quantized with their input's type (scale-transparent ops) or a
    #: concat's, with where the type comes from (``ctx.data["inherited_quantization"]``)
    inherited: dict[str, str] = field(default_factory=dict)
    #: the calibration method ("auto": chosen per tensor, in each layer's ``method``)
    calibration: str | None = None
    #: one line each: what auto chose, and whether the ranges settled (the
    #: ``summary()`` of ``ctx.data["calibration_auto"]`` and
    #: ``ctx.data["calibration_sufficiency"]``)
    calibration_auto: str | None = None
    calibration_sufficiency: str | None = None
    #: the sufficiency result's ``to_json()``
    sufficiency_json: dict | None = None

    @property
    def first_bad_layer(self) -> LayerError | None:
        for layer in self.layers:
            value = layer.sqnr_integer if layer.sqnr_integer is not None else \
                layer.sqnr_fake_quant
            if value < self.threshold_db:
                return layer
        return None

    def to_markdown(self) -> str:
        per_tensor = self.calibration == "auto"
        lines = ["| tensor | produced by | type | SQNR fake-quant (dB) | SQNR integer (dB) "
                 "| clipped |" + (" method |" if per_tensor else ""),
                 "|---|---|---|---:|---:|---:|" + ("---|" if per_tensor else "")]
        for r in self.layers:
            integer = "-" if r.sqnr_integer is None else f"{r.sqnr_integer:.1f}"
            clipped = "-" if r.clipped is None else f"{100 * r.clipped:.2f}%"
            method = f" {r.method or '-'} |" if per_tensor else ""
            lines.append(f"| {_e(r.tensor)} | {_e(r.op)} | `{r.type}` | {r.sqnr_fake_quant:.1f} | "
                         f"{integer} | {clipped} |{method}")
        for name, value in self.output_sqnr.items():
            lines.append(f"\noutput `{_e(name)}`: SQNR {value:.1f} dB against float")
        bad = self.first_bad_layer
        lines.append("" if bad is None else
                     f"\nfirst layer below {self.threshold_db:.0f} dB: `{_e(bad.tensor)}` "
                     f"({_e(bad.op)})")
        if self.kept_float:
            lines += ["\nKept in float (not quantized):\n", "| tensor or op | why |",
                      "|---|---|"]
            lines += [f"| {_e(k)} | {_e(v)} |" for k, v in self.kept_float.items()]
        if self.inherited:
            lines += ["\nQuantized with their input's type (ops that only move or select "
                      "values) or with the concat's that reads them:\n",
                      "| tensor | type from |", "|---|---|"]
            lines += [f"| {_e(k)} | {_e(v)} |" for k, v in self.inherited.items()]
        for line in (self.calibration_auto, self.calibration_sufficiency):
            if line:
                lines.append(f"\n{_e(line)}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        bad = self.first_bad_layer
        return {"threshold_db": self.threshold_db,
                "first_bad_layer": None if bad is None else bad.tensor,
                "output_sqnr_db": {k: _finite(v) for k, v in self.output_sqnr.items()},
                "layers": [{"tensor": r.tensor, "op": r.op, "type": r.type,
                            "sqnr_fake_quant_db": _finite(r.sqnr_fake_quant),
                            "sqnr_integer_db": None if r.sqnr_integer is None
                            else _finite(r.sqnr_integer),
                            "clipped_fraction": r.clipped,
                            **({"method": r.method} if r.method else {})}
                           for r in self.layers],
                "kept_float": [{"name": k, "reason": v} for k, v in self.kept_float.items()],
                "inherited": [{"name": k, "from": v} for k, v in self.inherited.items()],
                **({"calibration": self.calibration} if self.calibration else {}),
                **({"calibration_auto": self.calibration_auto}
                   if self.calibration_auto else {}),
                **({"calibration_sufficiency": self.sufficiency_json}
                   if self.sufficiency_json else {})}


def _e(name: str) -> str:
    """A name from the model, with control characters escaped (no raw escapes or
    line breaks in a report)."""
    return escape_controls(name)


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _record(module: Module, inputs: Mapping[str, np.ndarray]) -> dict[Value, np.ndarray]:
    """Every value the graph computes on ``inputs``."""
    values: dict[Value, np.ndarray] = {}
    run(module, inputs, observer=values.__setitem__)
    return values


def _by_name(values: dict[Value, np.ndarray]) -> dict[str, tuple[Value, np.ndarray]]:
    return {v.name_hint: (v, a) for v, a in values.items() if v.name_hint}


def _dequantized(v: Value, a: np.ndarray) -> np.ndarray:
    t = v.type
    if isinstance(t, TensorType) and isinstance(t.element, QuantType):
        scale, zp = qparams(t)
        return (a.astype(np.int64) - zp) * scale
    return a.astype(np.float64)


def _clipped_count(t: TensorType, real: np.ndarray) -> int:
    """How many real values lie outside what quantized type ``t`` represents."""
    scale, zp = qparams(t)
    e = t.element
    lo = scale * (e.storage_min - zp)
    hi = scale * (e.storage_max - zp)
    half = scale / 2  # values within half a step of the bounds round onto them
    return int(np.sum((real < lo - half) | (real > hi + half)))


def quant_error_report(float_module: Module, fake_quant: Module, integer: Module | None,
                       batches: Iterable[Mapping[str, np.ndarray]],
                       threshold_db: float = 20.0,
                       kept_float: Mapping[str, str] | None = None,
                       inherited: Mapping[str, str] | None = None,
                       calibration: Mapping | None = None) -> QuantReport:
    """Compare the three graphs tensor by tensor over ``batches`` of inputs.
    ``kept_float`` (name -> reason: what ``calibrate`` and ``quantize`` left in
    ``ctx.data["kept_float"]``) and ``inherited`` (``quantize``'s
    ``ctx.data["inherited_quantization"]``) are listed as is. ``calibration``: the pass
    context's data (``ctx.data``) after ``calibrate``: the method of each tensor's
    range, what ``--calibration auto`` chose and the calibration-set sufficiency go in
    the report."""
    sums: dict[str, list[float]] = {}
    out_sums: dict[str, list[float]] = {}
    order: list[tuple[str, str, str]] = []
    printed: dict[str, str] = {}  # quantize name -> the printed name of its input
    names = value_names(fake_quant.main) if calibration else {}
    for fq_op in fake_quant.main.ops:
        if isinstance(fq_op, quant.QuantizeOp) and fq_op.output.name_hint:
            src = fq_op.input
            producer = src.op.name if src.op is not None else "input"
            order.append((fq_op.output.name_hint, producer, str(fq_op.output.type.element)))
            if src in names:
                printed[fq_op.output.name_hint] = names[src]
    for batch in batches:
        f_all = _record(float_module, batch)
        f = _by_name(f_all)
        q = _by_name(_record(fake_quant, batch))
        i = _by_name(_record(integer, batch)) if integer is not None else {}
        for qname, _, _ in order:
            fname = qname.removesuffix("_q")
            if fname not in f or qname not in q:
                continue
            ref = f[fname][1].astype(np.float64)
            acc = sums.setdefault(qname, [0.0, 0.0, 0.0, 0.0, 0.0])
            acc[0] += float(np.sum(ref ** 2))
            acc[1] += float(np.sum((ref - _dequantized(*q[qname])) ** 2))
            acc[3] += _clipped_count(q[qname][0].type, ref)
            acc[4] += ref.size
            if qname in i:
                acc[2] += float(np.sum((ref - _dequantized(*i[qname])) ** 2))
            else:
                acc[2] = math.nan
        g = float_module.main
        outs_f = {n: f_all[v] for n, v in zip(g.output_names, g.outputs, strict=True)}
        outs_i = run(integer if integer is not None else fake_quant, batch)
        for name, ref in outs_f.items():
            s = out_sums.setdefault(name, [0.0, 0.0])
            s[0] += float(np.sum(ref.astype(np.float64) ** 2))
            s[1] += float(np.sum((ref.astype(np.float64) - outs_i[name]) ** 2))
    report = QuantReport(threshold_db=threshold_db, kept_float=dict(kept_float or {}),
                         inherited=dict(inherited or {}))
    calibration = calibration or {}
    result = calibration.get("calibration")
    methods = dict(getattr(result, "methods", None) or
                   calibration.get("calibration_choice") or {})
    if result is not None:
        report.calibration = result.method
    if calibration.get("calibration_auto") is not None:
        report.calibration_auto = calibration["calibration_auto"].summary()
    sufficiency = calibration.get("calibration_sufficiency")
    if sufficiency is not None:
        report.calibration_sufficiency = sufficiency.summary()
        report.sufficiency_json = sufficiency.to_json()
    for qname, producer, type_text in order:
        if qname not in sums:
            continue
        sig, n_fq, n_int, clipped, count = sums[qname]
        tensor = qname.removesuffix("_q")
        report.layers.append(LayerError(
            tensor, producer, type_text, _ratio_db(sig, n_fq),
            None if math.isnan(n_int) or integer is None else _ratio_db(sig, n_int),
            clipped / count if count else None,
            methods.get(printed.get(qname, tensor), methods.get(tensor))))
    report.output_sqnr = {k: _ratio_db(s, n) for k, (s, n) in out_sums.items()}
    return report


def _ratio_db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)
