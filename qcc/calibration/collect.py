"""Collection: one pass of the FP32 interpreter over the calibration data collects,
per activation (graph argument or result of a non-constant op with an f32 tensor
type), a :class:`~qcc.calibration.stats.TensorStats`: the exact min and max and a
signed histogram. :class:`Collector` runs it, :class:`Progress` (a
:class:`qcc.progress.Progress`) shows a progress bar on a terminal, and
:class:`CalibrationResult` is what the ``calibrate`` pass leaves in
``ctx.data["calibration"]``.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from qcc.calibration.activations import batch_major_values, batch_size, calibrated_values
from qcc.calibration.data import CalibrationData
from qcc.calibration.stats import DEFAULT_NUM_BINS, TensorStats
from qcc.diagnostics import QccError
from qcc.ir.core import Graph, Module, Value
from qcc.progress import Progress as _Progress


class Progress(_Progress):
    """The calibration progress bar: a :class:`qcc.progress.Progress` labelled
    "calibrating", counting samples (kept here for ``qcc.calibration.Progress``)."""

    def __init__(self, total: int | None, label: str = "calibrating", unit: str = "samples",
                 stream: TextIO | None = None, enabled: bool | None = None):
        super().__init__(total, label, unit, stream, enabled)


class Collector:
    """Runs the FP32 interpreter over calibration batches and keeps one
    :class:`TensorStats` per float activation, keyed by its printed name."""

    def __init__(self, module: Module | Graph, num_bins: int = DEFAULT_NUM_BINS,
                 max_bins: int | None = None, skip: Collection[Value] = (),
                 lanes: bool = False, engine: str = "numpy"):
        from qcc.calibration.ort_engine import ENGINES

        if engine not in ENGINES:
            raise ValueError(f"calibration engine must be one of {', '.join(ENGINES)}, "
                             f"got {engine!r}")
        self.graph = module.main if isinstance(module, Module) else module
        #: what computes the activations: the FP32 interpreter (``numpy``, the oracle)
        #: or onnxruntime on the exported float graph (qcc.calibration.ort_engine)
        self.engine = engine
        self._runner: Any = None
        #: why the onnxruntime engine fell back to the interpreter ("" if it did not)
        self.engine_fallback = ""
        #: ``skip``: values not observed (sentinel-dominated by construction, which
        #: may hold infinities and are never quantized)
        self.values = {v: n for v, n in calibrated_values(self.graph).items()
                       if v not in skip}
        self.stats = {name: TensorStats(name, num_bins, max_bins)
                      for name in self.values.values()}
        self.batch = batch_size(self.graph)
        self.num_samples = 0
        #: also track max |x| per last-axis index of 2-D and 3-D tensors (outliers)
        self.lanes = {v for v in self.values if lanes and v.type.rank in (2, 3)}
        self._batch_major: set[Value] | None = None
        #: sample counts at which a copy of every tensor's statistics is kept
        #: (:meth:`set_checkpoints`; the calibration-set sufficiency check)
        self.checkpoints: tuple[int, ...] = ()
        #: {sample count: {tensor name: statistics of the first that many samples}}
        self.snapshots: dict[int, dict[str, TensorStats]] = {}

    def set_checkpoints(self, counts: Collection[int]) -> None:
        """Keep the statistics of the first ``n`` samples for each ``n`` in ``counts``
        (in :attr:`snapshots`). Tensors that keep one row per sample are cut at the
        exact sample; others at the end of the batch holding it. The statistics of the
        whole set are unchanged."""
        self.checkpoints = tuple(sorted({int(n) for n in counts if n > 0}))
        self.snapshots = {n: {} for n in self.checkpoints}

    def add_batch(self, inputs: Mapping[str, Any], valid: int | None = None) -> None:
        """Run one batch; only its first ``valid`` samples (rows) count."""
        from qcc.interpreter import run

        valid = self.batch if valid is None else valid
        if not 0 < valid <= self.batch:
            raise ValueError(f"valid must be in 1..{self.batch}, got {valid}")
        if valid < self.batch:
            if self._batch_major is None:
                self._batch_major = batch_major_values(self.graph, self.batch)
            for v, name in self.values.items():
                if v not in self._batch_major:
                    raise QccError(
                        f"the last calibration batch holds {valid} of {self.batch} samples, "
                        f"and tensor '{name}' ({v.type}) does not keep the batch on its "
                        f"first axis, so the padding cannot be left out of its statistics; "
                        f"give a multiple of {self.batch} samples")
        first = self.num_samples
        inside = [n for n in self.checkpoints if first < n < first + valid]
        at_end = [n for n in self.checkpoints if n == first + valid]
        if inside and self._batch_major is None:
            self._batch_major = batch_major_values(self.graph, self.batch)

        def observe(v: Value, arr: np.ndarray) -> None:
            name = self.values.get(v)
            if name is None:
                return
            try:
                part = arr if valid == self.batch else arr[:valid]
                rows = v in self._batch_major if inside else False
                for n in inside:  # the first n samples end inside this batch
                    if rows:
                        snap = copy.deepcopy(self.stats[name])
                        snap.update(part[:n - first])
                        self.snapshots[n][name] = snap
                self.stats[name].update(part)
                if v in self.lanes:
                    self.stats[name].update_lanes(part)
                for n in at_end + ([] if rows else inside):
                    self.snapshots[n][name] = copy.deepcopy(self.stats[name])
            except QccError as e:
                raise QccError(f"{e.message} (calibration samples {first}.."
                               f"{first + valid - 1})", e.loc) from None

        runner = self._ort_runner() if self.engine == "onnxruntime" else None
        if runner is not None:
            from qcc.calibration.ort_engine import observe_all

            observe_all(runner, self.graph, inputs, observe)
        else:
            # observe() reduces each array to statistics at once and keeps none of them
            run(self.graph, inputs, observer=observe, reuse_buffers=True)
        self.num_samples += valid

    def _ort_runner(self) -> Any:
        """The onnxruntime session (built once), or None after a fallback (warned)."""
        if self._runner is None and not self.engine_fallback:
            from qcc.calibration.ort_engine import make_runner
            from qcc.diagnostics import warn

            self._runner, why = make_runner(self.graph, list(self.values))
            if self._runner is None:
                self.engine_fallback = why
                warn(f"calibrate: the onnxruntime engine cannot run this graph ({why}); "
                     "calibrating with the interpreter")
        return self._runner

    def collect(self, data: CalibrationData | Any, progress: bool | None = None,
                stream: TextIO | None = None) -> dict[str, TensorStats]:
        """Feed every batch of ``data`` (a :class:`CalibrationData` or any source it
        accepts); returns the statistics."""
        if not isinstance(data, CalibrationData):
            data = CalibrationData(self.graph, data)
        bar = Progress(data.total, stream=stream, enabled=progress)
        try:
            for inputs, valid in data.batches():
                self.add_batch(inputs, valid)
                bar.update(valid)
        finally:
            bar.close()
        return self.stats


@dataclass
class CalibrationResult:
    """What ``calibrate`` leaves in ``ctx.data["calibration"]``."""

    method: str
    symmetric: bool
    num_samples: int
    #: raw statistics by printed value name
    stats: dict[str, TensorStats] = field(default_factory=dict)
    #: calibrated [lo, hi] by printed value name
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: values left float (no range), by printed value name, with the reason
    kept_float: dict[str, str] = field(default_factory=dict)
    #: the method of each range, by printed value name (one for all but with auto)
    methods: dict[str, str] = field(default_factory=dict)
