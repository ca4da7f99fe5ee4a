"""``mixed-precision``: keep in float the activations whose int8 quantization costs
the most, where int8 everywhere is not accurate enough.

Runs between ``calibrate`` and ``quantize``, on the calibrated graph:

1. Quantizes a copy as ``quantize`` would (same granularity, activations, exclude)
   and runs it and the float graph on up to ``samples`` calibration samples
   (``data=``, else ``ctx.data["calibration_data"]``, else, with a warning, the
   random samples ``calibrate`` used; statistics loaded from a file are not enough).
2. Ranks the quantized activations by their *local* int8 error: the SQNR of the
   float value against itself quantized to its own type (rounding and clipping of
   that tensor alone, not the error it inherits from earlier layers; the per-layer
   report's SQNR is cumulative, and would blame every layer after the first bad one).
   Graph outputs are candidates unless ``outputs=false`` (the compile sets it: the
   tpu-v1 backend reads every output from a dequantize).
3. ``layers=N``: keeps the N worst in float. ``layers=0`` (auto): keeps the fewest of
   the worst, one more at a time, that lift the output SQNR against float to
   ``target-db`` (30 dB: a relative RMS error of 3 %), at most ``max-layers``; if
   none reaches it, the count with the best output SQNR (the pass says so).
4. Removes the ``quant.stats`` of the kept tensors: ``quantize`` leaves them float, so
   their producer computes in float (with float weights) and so do the ops that read
   them, on the host after lowering.

The choice, the local SQNR of each kept tensor and the output SQNR with and without
go to ``ctx.data["mixed_precision"]`` (a :class:`MixedPrecisionResult`) and each kept
tensor to ``ctx.data["kept_float"]`` for the calibration report. Output SQNR pools
every float output of the graph: 10 log10(sum x^2 / sum (x - x_q)^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qcc.calibration import CalibrationData
from qcc.diagnostics import QccError, warn
from qcc.dialects import quant
from qcc.ir.core import Module
from qcc.passmanager import Pass, PassContext, register_pass


@dataclass
class MixedPrecisionResult:
    #: tensors kept in float, worst first
    kept: list[str] = field(default_factory=list)
    #: local int8 SQNR (dB) of every quantized activation, worst first
    local_sqnr: dict[str, float] = field(default_factory=dict)
    #: output SQNR against float with every activation int8, and with ``kept`` float
    sqnr_int8: float = math.nan
    sqnr_mixed: float = math.nan
    target_db: float | None = None
    #: (number kept, output SQNR) of every count tried
    steps: list[tuple[int, float]] = field(default_factory=list)
    samples: int = 0

    @property
    def reached(self) -> bool:
        return self.target_db is None or self.sqnr_mixed >= self.target_db

    def summary(self) -> str:
        kept = ", ".join(self.kept) if self.kept else "none"
        goal = "" if self.target_db is None else (
            f", target {self.target_db:g} dB" + ("" if self.reached else " NOT reached"))
        return (f"mixed precision: kept in float {kept} ({len(self.kept)} of "
                f"{len(self.local_sqnr)} activations); output SQNR {self.sqnr_int8:.1f} dB "
                f"all int8 -> {self.sqnr_mixed:.1f} dB{goal}; measured on {self.samples} "
                "calibration samples")


def _ratio_db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


@register_pass
@dataclass(frozen=True)
class MixedPrecision(Pass):
    """Keep in float the activations whose int8 quantization costs the most output SQNR."""

    name = "mixed-precision"
    #: how many activations to keep in float; 0: the fewest that reach target-db
    layers: int = 0
    target_db: float = 30.0
    #: auto: keep at most this many
    max_layers: int = 8
    #: calibration samples the choice is measured on
    samples: int = 32
    #: the calibration data (as calibrate's data=; "" = ctx.data["calibration_data"])
    data: str = ""
    granularity: Literal["per-tensor", "per-channel"] = "per-channel"
    activations: Literal["int8", "uint8"] = "int8"
    exclude: tuple[str, ...] = ()
    #: whether graph outputs may be kept float (a backend that reads every output
    #: from a dequantize, like tpu-v1's, needs false)
    outputs: bool = True

    def __post_init__(self) -> None:
        if self.layers < 0:
            raise ValueError(f"layers must be >= 0, got {self.layers}")
        if self.max_layers < 1:
            raise ValueError(f"max-layers must be >= 1, got {self.max_layers}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if not math.isfinite(self.target_db):
            raise ValueError(f"target-db must be a finite number, got {self.target_db}")

    def run(self, module: Module, ctx: PassContext) -> None:
        from qcc.calibration.activations import calibrated_values
        from qcc.interpreter import run
        from qcc.passes.calibrate import drop_ranges

        graph = module.main
        names = calibrated_values(graph)
        ranged = {name: v for v, name in names.items() if _quantized_by_itself(v)
                  and (self.outputs or not _returned(v))}
        if not ranged:
            raise QccError("mixed-precision: the graph has no calibrated activations; run "
                           "'calibrate' first")
        source = self.data or ctx.data.get("calibration_data")
        if (source is None or (isinstance(source, str) and not source)) and \
                ctx.data.get("calibration_random_samples") is not None:
            warn("mixed-precision: measuring on the random samples calibrate used; the "
                 "choice means nothing for real inputs")
            source = ctx.data["calibration_random_samples"]
        if source is None or (isinstance(source, str) and not source):
            raise QccError("mixed precision measures the int8 error on calibration data: "
                           "give --calib-data (calib_data= in Python, data= on the pass); "
                           "statistics loaded with --stats are not enough")
        batches = self._batches(graph, source)
        n_samples = sum(valid for _, valid in batches)

        def quantized(keep: list[str]) -> Module:
            from qcc.passes.quantize import Quantize

            m = module.clone()
            m_names = {name: v for v, name in calibrated_values(m.main).items()}
            drop_ranges(m.main, [m_names[k] for k in keep])
            Quantize(granularity=self.granularity, activations=self.activations,
                     exclude=self.exclude).run(m, PassContext())
            return m

        float_outs = [run(module, b) for b, _ in batches]

        def output_sqnr(m: Module) -> float:
            sig = noise = 0.0
            for (b, valid), ref in zip(batches, float_outs, strict=True):
                got = run(m, b)
                for name, r in ref.items():
                    if r.dtype.kind != "f":
                        continue
                    r64 = r[:valid].astype(np.float64)
                    sig += float(np.sum(r64 ** 2))
                    noise += float(np.sum((r64 - got[name][:valid]) ** 2))
            return _ratio_db(sig, noise)

        base = quantized([])
        local = self._local_sqnr(module, ranged, batches)
        order = sorted(local, key=lambda k: local[k])
        result = MixedPrecisionResult(local_sqnr={k: local[k] for k in order},
                                      samples=n_samples)
        result.sqnr_int8 = output_sqnr(base)
        result.steps.append((0, result.sqnr_int8))
        if self.layers:
            keep = order[:self.layers]
            result.sqnr_mixed = output_sqnr(quantized(keep))
            result.steps.append((len(keep), result.sqnr_mixed))
        else:
            result.target_db = self.target_db
            keep, best = [], result.sqnr_int8
            if result.sqnr_int8 < self.target_db:
                for k in range(1, min(self.max_layers, len(order)) + 1):
                    s = output_sqnr(quantized(order[:k]))
                    result.steps.append((k, s))
                    if s > best:
                        keep, best = order[:k], s
                    if s >= self.target_db:
                        break
            result.sqnr_mixed = best
        result.kept = list(keep)
        drop_ranges(graph, [ranged[k] for k in keep])
        kept = ctx.data.setdefault("kept_float", {})
        for i, k in enumerate(keep):
            kept[k] = (f"mixed precision: local int8 SQNR {local[k]:.1f} dB, the "
                       f"{_ordinal(i + 1)} worst of {len(order)}")
        ctx.data["mixed_precision"] = result
        ctx.stat("tensors-kept-float", len(keep))

    def _batches(self, graph, source) -> list[tuple[dict[str, np.ndarray], int]]:
        out = []
        seen = 0
        # calibrate already warned about arrays of the same source that are not inputs
        for inputs, valid in CalibrationData(graph, source, warn_ignored=False).batches():
            out.append((inputs, valid))
            seen += valid
            if seen >= self.samples:
                break
        if not out:
            raise QccError("mixed-precision: the calibration data holds no sample")
        return out

    def _local_sqnr(self, module: Module, ranged: dict, batches) -> dict[str, float]:
        """Per calibrated activation: the float value against itself quantized to the
        type its range gives (what this tensor's own rounding and clipping cost)."""
        from qcc.interpreter import qparams, run
        from qcc.ir.types import i8, u8
        from qcc.passes.quantize import activation_type

        storage = i8 if self.activations == "int8" else u8
        grids = {}
        for name, v in ranged.items():
            stats = next(u for u in v.users if isinstance(u, quant.StatsOp))
            t = activation_type(v.type, stats.min, stats.max, storage)
            scale, zp = qparams(t)
            grids[v] = (name, float(scale), int(zp), storage.min, storage.max)
        sums = {name: [0.0, 0.0] for name in ranged}
        rows = {"valid": 0, "full": True}

        def observe(v, a) -> None:
            grid = grids.get(v)
            if grid is None:
                return
            name, scale, zp, lo, hi = grid
            x = np.asarray(a if rows["full"] else a[:rows["valid"]], np.float64)
            q = np.clip(np.rint(x / scale) + zp, lo, hi)
            sums[name][0] += float(np.sum(x ** 2))
            sums[name][1] += float(np.sum((x - (q - zp) * scale) ** 2))

        batch = max(valid for _, valid in batches)
        for b, valid in batches:
            rows.update(valid=valid, full=valid == batch)
            run(module, b, observer=observe)
        return {k: _ratio_db(sig, noise) for k, (sig, noise) in sums.items()}


def _quantized_by_itself(v) -> bool:
    """Whether ``quantize`` will quantize ``v`` where it is: it has a range, and is not
    the output of a conv / dense / add whose ReLU or Clip users are quantized instead."""
    from qcc.ir.traits import Clamp, ClampFusable

    stats = next((u for u in v.users if isinstance(u, quant.StatsOp)), None)
    if stats is None:
        return False
    users = stats.output.users
    return not (v.op is not None and v.op.has_trait(ClampFusable) and users
                and all(u.has_trait(Clamp) for u in users))


def _returned(v) -> bool:
    from qcc.ir.core import ReturnOp

    return any(isinstance(u, ReturnOp) for w in (v, *[s.output for s in v.users
                                                      if isinstance(s, quant.StatsOp)])
               for u in w.users)


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
