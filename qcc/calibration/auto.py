"""Automatic calibration: per activation, the range method (minmax, percentile,
entropy, mse) whose range gives the least error at the model's outputs.

:func:`choose_methods` works on a calibrated graph (``quant.stats`` ops holding any
ranges) and the four candidate ranges of every activation:

1. It quantizes a copy as ``quantize`` will (same weight granularity, activation
   type and exclusions), so the weights carry their real int8 error.
2. It runs the float graph on the measurement batches (the first ``samples``
   calibration samples) for the reference outputs.
3. In graph order, for every activation that ``quantize`` quantizes by itself and
   whose candidate ranges give more than one distinct grid (scale, zero point), it
   fake-quantizes that activation at each distinct candidate, the activations before
   it at their chosen ranges and the ones after it float, and keeps the candidate
   with the least squared error of the float outputs against FP32 (ties: the first
   method in METHODS order). The part of the graph before the activation is
   computed once for all its candidates.
4. Guarantee: the whole per-tensor choice is measured against each uniform method
   (every activation at that method's range) on the same batches; if a uniform
   method has less output error, it is used for every tensor instead, and the result
   says so (``fallback``).

Activations that ``quantize`` does not quantize by themselves (a conv whose only
users are ReLUs: the ReLU's range is used) are not measured and keep the minmax
range, which nothing uses; quantized tensors that cannot be measured (one scale per
channel) take the best uniform method's range.

The fake quantization here is ``quant.quantize`` then ``quant.dequantize`` with the
candidate's scale and zero point, evaluated op by op with the interpreter's
semantics; the bias of the next layer keeps the scale the copy was quantized with
(its rounding differs by at most half a step of s_in * s_w). A test checks that the
error measured this way equals that of the graph ``quantize`` makes from the chosen
ranges.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from qcc.calibration.methods import METHODS
from qcc.ir.core import Module, Op, ReturnOp, Value


@dataclass
class AutoCalibrationResult:
    """What ``calibrate{method=auto}`` chose, in ``ctx.data["calibration_auto"]``."""

    #: the method of every quantized activation (measured or not), by tensor name
    choice: dict[str, str] = field(default_factory=dict)
    #: the activations whose candidates were measured (more than one distinct grid)
    measured: list[str] = field(default_factory=list)
    #: output squared error per candidate method of each measured activation
    errors: dict[str, dict[str, float]] = field(default_factory=dict)
    #: output SQNR (dB) of each uniform method and of the per-tensor choice
    uniform_sqnr: dict[str, float] = field(default_factory=dict)
    auto_sqnr: float = math.nan
    #: the uniform method used instead of the per-tensor choice (it measured better)
    fallback: str | None = None
    samples: int = 0
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        out = {m: 0 for m in METHODS}
        for m in self.choice.values():
            out[m] += 1
        return {m: n for m, n in out.items() if n}

    def summary(self) -> str:
        counts = ", ".join(f"{m} {n}" for m, n in self.counts().items()) or "none"
        best = max(self.uniform_sqnr.items(), key=lambda kv: kv[1], default=None)
        uniform = "" if best is None else (f"; best uniform method {best[0]} "
                                           f"{best[1]:.1f} dB")
        head = (f"calibration auto: per tensor {counts} ({len(self.measured)} of "
                f"{len(self.choice)} activations measured; the others have one distinct "
                "candidate range or a range quantize does not use, such as a ReLU's "
                "input); output SQNR "
                f"{self.auto_sqnr:.1f} dB{uniform}")
        if self.fallback:
            head += (f"; the per-tensor choice measured worse than uniform {self.fallback}, "
                     f"which is used for every tensor")
        return head + (f"; measured on {self.samples} calibration samples in "
                       f"{self.seconds:.2f} s")


def _ratio_db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


#: (scale as float32, zero point, qmin, qmax, numpy dtype) of a fake quantization
Grid = tuple


class FakeQuantRunner:
    """Runs a fake-quantized graph (``quantize`` with ``integer`` off) with the
    grid of chosen ``quant.quantize`` ops replaced: each tunable quantize op (one per
    measured tensor, all of whose users are dequantize ops) is evaluated, with its
    dequantize, as x -> dequantize(quantize(x)) on a given grid, or as the identity
    (None: the tensor left float)."""

    def __init__(self, module: Module, tunable: Mapping[Op, str]):
        from qcc.dialects import quant

        self.graph = module.main
        self.ops = list(self.graph.ops)
        self.position = {op: k for k, op in enumerate(self.ops)}
        self.tunable: dict[Op, str] = {}
        self.dequantize_of: dict[Op, list[Op]] = {}
        for q, name in tunable.items():
            users = list(q.results[0].users)
            if users and all(isinstance(u, quant.DequantizeOp) for u in users):
                self.tunable[q] = name
                self.dequantize_of[q] = users
        self.skipped = {d for ds in self.dequantize_of.values() for d in ds}
        self.last_use: dict[Value, int] = {}
        for k, op in enumerate(self.ops):
            for v in op.operands:
                self.last_use[v] = k

    def start(self, inputs: Mapping[str, np.ndarray]) -> dict[Value, np.ndarray]:
        from qcc.interpreter import check_inputs

        return dict(zip(self.graph.args, check_inputs(self.graph, inputs), strict=True))

    def advance(self, env: dict[Value, np.ndarray], begin: int, end: int,
                grids: Mapping[str, Grid | None]) -> list[np.ndarray] | None:
        """Evaluate ops[begin:end] into ``env`` (freeing dead values); the outputs if
        the return op was reached."""
        from qcc.interpreter import evaluate_op
        from qcc.quant_arith import dequantize, quantize

        with np.errstate(all="ignore"):
            for k in range(begin, end):
                op = self.ops[k]
                if isinstance(op, ReturnOp):
                    return [env[v] for v in op.operands]
                if op in self.skipped:
                    continue
                name = self.tunable.get(op)
                if name is not None:
                    x = env[op.operands[0]]
                    grid = grids.get(name)
                    if grid is None:
                        y = np.asarray(x, np.float32)
                    else:
                        scale, zp, lo, hi, dtype = grid
                        y = dequantize(quantize(x, scale, zp, lo, hi, dtype), scale, zp)
                    for d in self.dequantize_of[op]:
                        env[d.results[0]] = y
                    self._free(env, op, k)
                    for d in self.dequantize_of[op]:
                        self._free(env, d, k)
                    continue
                results = evaluate_op(op, [env[v] for v in op.operands])
                for v, arr in zip(op.results, results, strict=True):
                    env[v] = arr
                self._free(env, op, k)
        return None

    def _free(self, env: dict[Value, np.ndarray], op: Op, k: int) -> None:
        for v in op.operands:
            if self.last_use.get(v, -1) <= k:
                env.pop(v, None)


def grid_of(t, lo: float, hi: float, storage) -> Grid:
    """The fake-quantization grid ``quantize`` gives a tensor with range [lo, hi] in
    ``storage`` (i8 or u8): its scale and zero point, as the interpreter applies
    them (``t``, the tensor's type, is not needed for a per-tensor grid)."""
    from qcc.quant_arith import choose_scale_zero_point

    scale, zp = choose_scale_zero_point(lo, hi, storage.min, storage.max)
    return (np.array(scale, np.float64).astype(np.float32), np.array(zp, np.int64),
            storage.min, storage.max, storage.numpy_dtype)


def choose_methods(module: Module, tensors: list[str],
                   range_of: Callable[[str, str], tuple[float, float]],
                   batches: list[tuple[dict[str, np.ndarray], int]], *,
                   granularity: str = "per-channel", activations: str = "int8",
                   exclude: tuple[str, ...] = ()) -> AutoCalibrationResult:
    """Choose a method per activation (see the module's docstring).

    ``module``: the calibrated graph (``quant.stats`` ops with any ranges; not
    changed); ``tensors``: the names of the calibrated activations to choose for;
    ``range_of(tensor, method)``: a candidate range (asked only for the tensors
    measured); ``batches``: (inputs, valid rows) to measure on.
    """
    from qcc.calibration.activations import calibrated_values
    from qcc.dialects import quant
    from qcc.interpreter import run
    from qcc.ir.types import i8, u8
    from qcc.passmanager import PassContext, Pipeline

    t0 = time.perf_counter()
    storage = i8 if activations == "int8" else u8
    result = AutoCalibrationResult(samples=sum(v for _, v in batches))
    fq = module.clone()
    # quantize rebuilds the ops with weights (new result values that keep the name):
    # find each activation's quantize op by its input's name; an activation without
    # a name of its own (or sharing one) gets a unique one in the copy (named ones keep
    # theirs: exclude names tensors)
    values = {v: n for v, n in calibrated_values(fq.main).items() if n in tensors}
    hints = [v.name_hint for v in values]
    by_tag: dict[str, str] = {}
    for i, (v, name) in enumerate(values.items()):
        if not v.name_hint or hints.count(v.name_hint) > 1:
            v.name_hint = f"qcc_auto_{i}"
        by_tag[v.name_hint] = name
    # through the pass registry (the core does not import passes)
    quantize = {"granularity": granularity, "activations": activations}
    if exclude:
        quantize["exclude"] = tuple(exclude)
    Pipeline().add("quantize", **quantize).run(fq, PassContext())
    tunable = {}
    quantized = set()  # the activations quantize quantizes (a conv's before a ReLU: no)
    for op in fq.main.ops:
        if isinstance(op, quant.QuantizeOp):
            name = by_tag.get(op.operands[0].name_hint)
            if name is not None:
                quantized.add(name)
                if not _per_axis(op.results[0].type):
                    tunable[op] = name
    runner = FakeQuantRunner(fq, tunable)
    types = {name: q.operands[0].type for q, name in runner.tunable.items()}
    grids: dict[str, dict[str, Grid]] = {
        name: {m: grid_of(types[name], *range_of(name, m), storage) for m in METHODS}
        for name in types}

    refs, kinds = [], []
    for inputs, valid in batches:
        out = list(run(module, inputs).values())
        kinds = [a.dtype.kind == "f" for a in out]
        refs.append([np.asarray(a[:valid] if a.ndim else a, np.float64) for a in out])
    signal = sum(float(np.sum(r ** 2)) for rs in refs for r, f in zip(rs, kinds, strict=True)
                 if f)

    def noise(outs: list[list[np.ndarray]]) -> float:
        total = 0.0
        for (_, valid), rs, os_ in zip(batches, refs, outs, strict=True):
            for r, o, f in zip(rs, os_, kinds, strict=True):
                if f:
                    got = o[:valid] if np.ndim(o) else o
                    total += float(np.sum((r - np.asarray(got, np.float64)) ** 2))
        return total

    def full(setting: Mapping[str, Grid | None]) -> float:
        outs = []
        for inputs, _ in batches:
            env = runner.start(inputs)
            outs.append(runner.advance(env, 0, len(runner.ops), setting))
        return noise(outs)

    # start from the best uniform method; then in graph order, each tensor's candidates
    # with the tensors before it at their choice and the ones after it at the start's
    uniform_noise = {m: full({n: g[m] for n, g in grids.items() if m in g})
                     for m in METHODS}
    result.uniform_sqnr = {m: _ratio_db(signal, e) for m, e in uniform_noise.items()}
    best_uniform = min(METHODS, key=lambda m: (uniform_noise[m], METHODS.index(m)))
    chosen: dict[str, Grid | None] = {n: g[best_uniform] for n, g in grids.items()}
    choice = {n: best_uniform for n in grids}
    current = uniform_noise[best_uniform]
    order = sorted(runner.tunable, key=runner.position.__getitem__)
    envs = [runner.start(inputs) for inputs, _ in batches]
    pos = 0
    for q in order:
        name = runner.tunable[q]
        k = runner.position[q]
        for env in envs:
            runner.advance(env, pos, k, chosen)
        pos = k
        distinct: dict[tuple, str] = {}
        for m in (choice[name], *METHODS):
            g = grids[name][m]
            distinct.setdefault((float(g[0]), int(g[1])), m)
        if len(distinct) < 2:
            continue
        errs = {choice[name]: current}
        for m in distinct.values():
            if m not in errs:
                trial = {**chosen, name: grids[name][m]}
                errs[m] = noise([runner.advance(dict(env), k, len(runner.ops), trial)
                                 for env in envs])
        best = min(errs, key=lambda m: (errs[m], METHODS.index(m)))
        for m in METHODS:  # methods with the same grid as another share its error
            if m not in errs:
                g = grids[name][m]
                errs[m] = errs[distinct[(float(g[0]), int(g[1]))]]
        result.errors[name] = {m: errs[m] for m in METHODS}
        result.measured.append(name)
        choice[name], chosen[name], current = best, grids[name][best], errs[best]
    del envs
    result.choice = choice
    # the guarantee (by construction: each step keeps the current setting unless a
    # candidate measures better), checked on the whole graph
    auto_noise = full(chosen) if grids else uniform_noise[best_uniform]
    if uniform_noise[best_uniform] < auto_noise:
        result.fallback = best_uniform
        result.choice = {n: best_uniform for n in result.choice}
        auto_noise = uniform_noise[best_uniform]
    result.auto_sqnr = _ratio_db(signal, auto_noise)
    # tensors quantized but not measured take the best uniform method; those whose
    # range quantize does not use, minmax (the cheapest; it changes nothing)
    for name in tensors:
        result.choice.setdefault(name, best_uniform if name in quantized else "minmax")
    result.choice = {n: result.choice[n] for n in tensors}
    result.seconds = time.perf_counter() - t0
    return result


def _per_axis(t) -> bool:
    from qcc.ir.types import UniformQuantPerAxisType

    return isinstance(getattr(t, "element", None), UniformQuantPerAxisType)
