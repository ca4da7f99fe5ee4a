"""``calibrate``: record the calibrated range of every float activation.

Runs the FP32 interpreter over calibration data (or loads statistics saved by an
earlier run), derives each activation's range by ``method`` (``qcc.calibration``:
minmax, percentile, entropy, mse) and inserts after it an identity that carries the
range; every other use of the value reads the identity::

    %y = "nn.relu"(%x) ...
    %z = "nn.tanh"(%y) ...
  becomes
    %x_stats = "quant.stats"(%x) {max = 2.9, min = -3.1} ...   // top of the graph
    %y = "nn.relu"(%x_stats) ...
    %y_stats = "quant.stats"(%y) {max = 2.9, min = 0.0} ...
    %z = "nn.tanh"(%y_stats) ...

Calibrated values: f32 graph arguments and f32 results of ops that depend on an
argument (constants and what is computed from constants only are not activations).
Running the pass again updates the existing ``quant.stats`` ops.

Sentinel-dominated values (an additive attention mask, ``(1 - mask) * -3.4e38``, and
the sum it is added to; ``qcc.calibration.sentinel``) get no ``quant.stats``: they are
never activation-quantized, so they and the ops that read them compute in float. They
are listed with the reason in ``CalibrationResult.kept_float`` and
``ctx.data["kept_float"]``. Values whose type is not f32 (int64 token ids, bool
masks, shapes) are never calibrated. The statistics and
ranges also go to ``ctx.data["calibration"]`` (a ``CalibrationResult``).

Data: ``data=PATH`` (a .npz, a .npy or a folder of them), else
``ctx.data["calibration_data"]`` (a path, a mapping of arrays or an iterable of
{input name: array}); ``stats=FILE`` loads statistics instead of running the model;
``save-stats=FILE`` writes the raw statistics (any method can be derived from them
later). Without any of these the pass calibrates on ``random-samples`` seeded
standard-normal samples and warns that the ranges mean nothing for real inputs.
``ctx.data["progress"]`` (True / False) forces the stderr progress bar on or off; by
default it shows on a terminal only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qcc.calibration import (
    DEFAULT_NUM_BINS,
    DEFAULT_PERCENTILE,
    CalibrationData,
    CalibrationResult,
    Collector,
    TensorStats,
    calibrated_values,
    compute_range,
    load_stats,
    random_samples,
    save_stats,
)
from qcc.calibration.sentinel import observed_sentinel, structural_sentinels
from qcc.calibration.sufficiency import (
    DEFAULT_THRESHOLD,
    SufficiencyResult,
    check_sufficiency,
    checkpoints,
)
from qcc.diagnostics import UNKNOWN, QccError, warn
from qcc.dialects import quant
from qcc.ir.core import Graph, Module, ReturnOp, Rewriter, Value
from qcc.ir.traits import Elementwise, HasWeights
from qcc.passmanager import Pass, PassContext, register_pass

#: a tensor has outlier channels when its largest channel's max |x| is this many
#: times its median channel's (BERT's residual stream: a few channels near 100x)
OUTLIER_RATIO = 8.0


def outlier_lanes(v: Value, stats: TensorStats) -> tuple[float, ...]:
    """The per-channel max |x| of a 2-D or 3-D tensor with outlier channels that no
    op with weights nor elementwise op of one input reads (the matrix unit and the
    activation tables need one input scale), else ()."""
    lanes = stats.lane_absmax
    if lanes is None or v.type.rank not in (2, 3) or len(lanes) < 2:
        return ()
    median = float(np.median(lanes))
    if median <= 0 or float(lanes.max()) < OUTLIER_RATIO * median:
        return ()
    if any(u.has_trait(HasWeights) or (u.has_trait(Elementwise) and len(u.operands) == 1)
           or isinstance(u, ReturnOp) for u in v.users):  # a matrix-unit input, an
        return ()  # activation table's or an output (the host dequantizes): one scale
    return tuple(float(x) for x in lanes)


def record_ranges(graph: Graph, values: dict[Value, str],
                  ranges: dict[str, tuple[float, float]],
                  lanes: Mapping[str, tuple[float, ...]] | None = None) -> tuple[int, int]:
    """Put a ``quant.stats`` with its range after each value (graph arguments: at the
    top) and route the value's other uses through it; an existing ``quant.stats`` of
    the value is updated instead. ``lanes``: per-channel max |x| of the tensors that
    get one scale per channel. Returns (inserted, updated)."""
    rw = Rewriter(graph)
    top = graph.ops[0]
    inserted = updated = 0
    last_after: dict[object, object] = {}
    lanes = lanes or {}
    for v, name in values.items():
        lo, hi = ranges[name]
        existing = next((u for u in v.users if isinstance(u, quant.StatsOp)), None)
        if existing is not None:
            rw.set_attribute(existing, "min", float(lo))
            rw.set_attribute(existing, "max", float(hi))
            if name in lanes:
                rw.set_attribute(existing, "lane_absmax",
                                 tuple(float(x) for x in lanes[name]))
            elif existing.attributes.pop("lane_absmax", None) is not None:
                rw.set_attribute(existing, "min", float(lo))  # (notifies the change)
            stats = existing
            updated += 1
        else:
            loc = v.op.loc if v.op is not None else UNKNOWN
            stats = quant.StatsOp.build(v, loc=loc, name=f"{name}_stats", min=float(lo),
                                        max=float(hi))
            if name in lanes:
                stats.attributes["lane_absmax"] = tuple(float(x) for x in lanes[name])
            if v.op is None:
                rw.insert_before(top, stats)
            else:  # after the op (and after the stats of its earlier results)
                anchor = last_after.get(v.op, v.op)
                rw.insert_after(anchor, stats)
                last_after[v.op] = stats
            inserted += 1
        if any(u.op is not stats for u in v.uses):
            rw.replace_uses(v, stats.output, exclude=[stats])  # the one use that stays
    return inserted, updated


def sentinel_tensors(graph: Graph, values: dict[Value, str],
                     stats: Mapping[str, TensorStats],
                     structural: Mapping[Value, str] | None = None) -> dict[str, str]:
    """The calibrated values that must stay float because sentinels dominate them
    (qcc.calibration.sentinel), by name, with the reason."""
    if structural is None:
        structural = structural_sentinels(graph)
    kept: dict[str, str] = {}
    for v, name in values.items():
        reason = structural.get(v) or observed_sentinel(stats[name])
        if reason:
            kept[name] = reason
    return kept


def drop_ranges(graph: Graph, values: list[Value]) -> int:
    """Remove the ``quant.stats`` of ``values`` (left by an earlier run), so that they
    stay float. Returns how many were removed."""
    rw = Rewriter(graph)
    removed = 0
    for v in values:
        for u in list(v.users):
            if isinstance(u, quant.StatsOp):
                rw.replace_op(u, [v])
                removed += 1
    return removed


@register_pass
@dataclass(frozen=True)
class Calibrate(Pass):
    """Calibrate activation ranges (minmax, percentile, entropy, mse) into quant.stats ops."""

    name = "calibrate"
    #: auto: per tensor, the method whose range gives the least output error
    #: (qcc.calibration.auto; measured on the calibration data)
    method: Literal["minmax", "percentile", "entropy", "mse", "auto"] = "minmax"
    #: calibration data: .npz, .npy or a folder of them ("" = ctx.data["calibration_data"])
    data: str = ""
    #: load raw statistics from this JSON file instead of running the model
    stats: str = ""
    #: write the raw statistics to this JSON file
    save_stats: str = ""
    percentile: float = DEFAULT_PERCENTILE
    num_bins: int = DEFAULT_NUM_BINS
    symmetric: bool = False
    #: seeded standard-normal samples used when there is no data (with a warning)
    random_samples: int = 16
    seed: int = 0
    #: sentinel-dominated tensors: "float" (not quantized) or "quantize" (calibrated
    #: like any other: the behaviour before qcc knew of them, for comparison)
    sentinels: Literal["float", "quantize"] = "float"
    #: give 2-D and 3-D tensors with outlier channels (a transformer's residual
    #: stream) one scale per channel of the last axis, when no op with weights reads
    #: them (docs/calibration.md)
    outlier_channels: bool = False
    #: method=auto: the quantization it measures with (give quantize's options)
    granularity: Literal["per-tensor", "per-channel"] = "per-channel"
    activations: Literal["int8", "uint8"] = "int8"
    exclude: tuple[str, ...] = ()
    #: method=auto: calibration samples the choice is measured on (the first ones)
    auto_samples: int = 64
    #: method=auto: each tensor's method from this JSON file ({tensor: method}, what an
    #: earlier auto chose: ``ctx.data["calibration_choice"]``) instead of measuring
    choice: str = ""
    #: warn when the second half of the samples moved a range by more than this
    #: fraction of its width (qcc.calibration.sufficiency)
    sufficiency_threshold: float = DEFAULT_THRESHOLD
    #: what computes the activations: the FP32 interpreter (numpy, the oracle) or
    #: onnxruntime on the exported float graph (qcc.calibration.ort_engine: faster;
    #: ranges close to, not identical with, the interpreter's)
    engine: Literal["numpy", "onnxruntime"] = "numpy"

    def __post_init__(self) -> None:
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.num_bins < 1:
            raise ValueError(f"num-bins must be >= 1, got {self.num_bins}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.random_samples < 1:
            raise ValueError(f"random-samples must be >= 1, got {self.random_samples}")
        if self.data and self.stats and self.method != "auto":
            raise ValueError("give data= (to collect statistics) or stats= (to load them), "
                             "not both (method=auto takes both: it measures on the data)")
        if self.auto_samples < 1:
            raise ValueError(f"auto-samples must be >= 1, got {self.auto_samples}")
        if not self.sufficiency_threshold > 0.0:
            raise ValueError("sufficiency-threshold must be > 0, got "
                             f"{self.sufficiency_threshold}")

    def run(self, module: Module, ctx: PassContext) -> None:
        graph = module.main
        values = calibrated_values(graph)
        # values computed from a sentinel constant stay float whatever their statistics
        # (and may hold infinities): they are not observed
        structural = structural_sentinels(graph) if self.sentinels == "float" else {}
        stats, num_samples, snapshots = self._statistics(graph, values, ctx, structural)
        if self.save_stats:
            save_stats(self.save_stats, stats, num_samples)
        kept = sentinel_tensors(graph, values, stats, structural) \
            if self.sentinels == "float" else {}
        quantized = {v: name for v, name in values.items() if name not in kept}
        lanes = {name: outlier_lanes(v, stats[name]) for v, name in quantized.items()} \
            if self.outlier_channels else {}
        lanes = {name: x for name, x in lanes.items() if x}
        drop_ranges(graph, [v for v in values if v not in quantized])
        cache: dict[tuple[str, str], tuple[float, float]] = {}

        def range_of(name: str, method: str) -> tuple[float, float]:
            if (name, method) not in cache:
                cache[name, method] = self._range(stats[name], method)
            return cache[name, method]

        if self.method == "auto" and self.choice:
            methods = self._load_choice(quantized)
        elif self.method == "auto":
            methods = self._auto(module, quantized, range_of, lanes, ctx)
        else:
            methods = {name: self.method for name in quantized.values()}
        ranges = {name: range_of(name, methods[name]) for name in quantized.values()}
        if quantized:
            record_ranges(graph, quantized, ranges, lanes)
        if self.outlier_channels:
            ctx.stat("tensors-per-channel", len(lanes))
            ctx.data["outlier_channels"] = sorted(lanes)
        ctx.data["calibration"] = CalibrationResult(
            self.method, self.symmetric, num_samples,
            {n: stats[n] for n in values.values() if n in stats}, ranges, kept, methods)
        ctx.data["calibration_choice"] = dict(methods)
        self._sufficiency(quantized, stats, snapshots, methods, lanes, num_samples, ctx)
        ctx.data.setdefault("kept_float", {}).update(kept)
        ctx.stat("tensors-calibrated", len(quantized))
        if kept:
            ctx.stat("tensors-kept-float", len(kept))
        ctx.stat("samples-seen", num_samples)

    def _range(self, stats: TensorStats, method: str) -> tuple[float, float]:
        return compute_range(stats, method, percentile=self.percentile,
                             symmetric=self.symmetric, num_bins=self.num_bins)

    def _load_choice(self, quantized: dict[Value, str]) -> dict[str, str]:
        """method=auto with choice=FILE: the methods an earlier auto chose."""
        import json

        try:
            with open(self.choice, encoding="utf-8") as f:
                choice = json.load(f)
        except (OSError, ValueError) as e:
            raise QccError(f"calibrate: choice file {self.choice}: cannot read ({e})") from None
        fixed = ("minmax", "percentile", "entropy", "mse")
        if not isinstance(choice, dict) or not all(
                isinstance(k, str) and v in fixed for k, v in choice.items()):
            raise QccError(f"calibrate: choice file {self.choice}: expected a JSON object "
                           f"of tensor name -> one of {', '.join(fixed)}")
        missing = [n for n in quantized.values() if n not in choice]
        if missing:
            raise QccError(f"calibrate: choice file {self.choice} has no method for "
                           f"{len(missing)} tensor(s) of this model, first '{missing[0]}'; "
                           "was it written for another model?")
        return {name: choice[name] for name in quantized.values()}

    def _auto(self, module: Module, quantized: dict[Value, str], range_of,
              lanes: Mapping[str, tuple[float, ...]], ctx: PassContext) -> dict[str, str]:
        """method=auto: the method of each tensor (qcc.calibration.auto)."""
        from qcc.calibration.auto import choose_methods

        if not quantized:
            return {}
        source = self._measure_source(ctx)
        batches = []
        seen = 0
        for inputs, valid in CalibrationData(module.main, source).batches():
            batches.append((inputs, valid))
            seen += valid
            if seen >= self.auto_samples:
                break
        # the graph with ranges (any: every candidate is set explicitly) to quantize
        record_ranges(module.main, quantized,
                      {n: range_of(n, "minmax") for n in quantized.values()}, lanes)
        result = choose_methods(module, [n for n in quantized.values() if n not in lanes],
                                range_of, batches, granularity=self.granularity,
                                activations=self.activations, exclude=self.exclude)
        ctx.data["calibration_auto"] = result
        ctx.stat("auto-tensors-measured", len(result.measured))
        for m, n in result.counts().items():
            ctx.stat(f"auto-{m}", n)
        if result.fallback:
            warn(f"calibrate: {result.summary()}")
        methods = dict(result.choice)
        best = max(result.uniform_sqnr, key=result.uniform_sqnr.get) \
            if result.uniform_sqnr else "minmax"
        for name in quantized.values():
            methods.setdefault(name, best)  # one scale per channel: not measured
        return {name: methods[name] for name in quantized.values()}

    def _measure_source(self, ctx: PassContext):
        source = self.data or ctx.data.get("calibration_data")
        if source is None or (isinstance(source, str) and not source):
            source = ctx.data.get("calibration_random_samples")
        if source is None:
            raise QccError("calibration 'auto' measures each candidate range's output error "
                           "on calibration data, and statistics loaded from a file are not "
                           "enough: give the data too (--calib-data with --stats, calib_data= "
                           "in Python, calibrate{method=auto stats=S.json data=FILE.npz}), or "
                           "a fixed method (--calibration minmax|percentile|entropy|mse)")
        return source

    def _sufficiency(self, quantized: dict[Value, str], stats: Mapping[str, TensorStats],
                     snapshots: dict | None, methods: Mapping[str, str],
                     lanes: Mapping[str, tuple[float, ...]], num_samples: int,
                     ctx: PassContext) -> None:
        """How much the second half of the samples moved the ranges
        (qcc.calibration.sufficiency); warns when one has not settled."""
        from qcc.passes.mixed_precision import _quantized_by_itself

        if snapshots is None:
            why = ("statistics loaded from a file" if self.stats else
                   "random samples, not calibration data")
            result = SufficiencyResult(num_samples, self.sufficiency_threshold,
                                       not_measured=why)
        else:
            # only the ranges quantize uses (not a conv's whose ReLU is quantized)
            used = {name: methods[name] for v, name in quantized.items()
                    if name not in lanes and _quantized_by_itself(v)}
            result = check_sufficiency(snapshots, stats, used, num_samples,
                                       threshold=self.sufficiency_threshold,
                                       percentile=self.percentile, symmetric=self.symmetric,
                                       num_bins=self.num_bins)
        ctx.data["calibration_sufficiency"] = result
        if result.sufficient is False:
            warn(f"calibrate: {result.summary()}")

    def _statistics(self, graph: Graph, values: dict[Value, str], ctx: PassContext,
                    skip: Mapping[Value, str]
                    ) -> tuple[dict[str, TensorStats], int, dict | None]:
        if self.stats:
            stats, n = load_stats(self.stats, self.num_bins)
            for v, name in values.items():
                if name not in stats and v not in skip:
                    raise QccError(f"calibration statistics {self.stats} have no entry for "
                                   f"tensor '{name}' ({v.type}); were they collected on "
                                   "another model (or before other passes)?")
            return stats, n, None
        if not values:
            return {}, 0, {}
        source = self.data or ctx.data.get("calibration_data")
        random = source is None or (isinstance(source, str) and not source)
        if random:
            warn(f"calibrate: no calibration data; calibrating on {self.random_samples} "
                 f"random standard-normal samples (seed {self.seed}). THESE RANGES ARE "
                 "MEANINGLESS FOR REAL INPUTS and the quantized model will be inaccurate; "
                 "give representative data: --calib-data FILE.npz (or --stats S.json) on "
                 "the command line, calib_data= in Python, calibrate{data=FILE.npz} in a "
                 "pipeline")
            source = random_samples(graph, self.random_samples, self.seed)
            ctx.data["calibration_random_samples"] = source  # for mixed-precision
        collector = Collector(graph, self.num_bins, skip=skip, lanes=self.outlier_channels,
                              engine=self.engine)
        data = CalibrationData(graph, source)
        collector.set_checkpoints(checkpoints(data.total) if not random else ())
        collector.collect(data, progress=ctx.data.get("progress"))
        return collector.stats, collector.num_samples, None if random else collector.snapshots
