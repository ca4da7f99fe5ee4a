"""Calibration: statistics of every float activation, and the ranges derived from them.

One pass of the FP32 interpreter over the calibration data collects, per activation
(graph argument or result of a non-constant op with an f32 tensor type), a
:class:`TensorStats`: the exact min and max and a signed histogram. Every method
derives its range from that same collection, so methods can be compared (and the
statistics saved and re-derived later) without running the model again::

    from qcc.calibration import CalibrationData, Collector, compute_range
    collector = Collector(module)
    collector.collect(CalibrationData(module.main, "calib.npz"))
    for name, s in collector.stats.items():
        print(name, compute_range(s, "entropy"))

Modules (every public name is re-exported here):

- :mod:`~qcc.calibration.stats`: :class:`TensorStats` (streaming min/max and the
  signed histogram) and the JSON statistics files.
- :mod:`~qcc.calibration.methods`: the range methods (minmax, percentile, entropy,
  mse) and :func:`compute_range`.
- :mod:`~qcc.calibration.activations`: which values are calibrated, the batch size,
  the batch-major values.
- :mod:`~qcc.calibration.npyio`: bounded-memory reading of ``.npz`` / ``.npy`` files.
- :mod:`~qcc.calibration.data`: :class:`CalibrationData`, the calibration data
  sources, their checks and batching.
- :mod:`~qcc.calibration.collect`: :class:`Collector` over the interpreter,
  :class:`Progress`, :class:`CalibrationResult`.
- :mod:`~qcc.calibration.auto`: ``method=auto``, the method per activation whose
  range gives the least output error (:func:`choose_methods`).
- :mod:`~qcc.calibration.sufficiency`: whether the ranges settled as samples were
  added (:func:`check_sufficiency`, :class:`SufficiencyResult`).
"""

from qcc.calibration.activations import (
    batch_major_values,
    batch_size,
    calibrated_values,
    is_f32_tensor,
)
from qcc.calibration.auto import AutoCalibrationResult, choose_methods
from qcc.calibration.collect import CalibrationResult, Collector, Progress
from qcc.calibration.data import (
    CalibrationData,
    InputSpec,
    iterate_batches,
    random_samples,
)
from qcc.calibration.methods import (
    DEFAULT_PERCENTILE,
    METHODS,
    NUM_BITS,
    START_BIN,
    compute_range,
    entropy_threshold,
    mse_threshold,
    percentile_range,
    quantization_mse,
    search_histogram,
)
from qcc.calibration.stats import (
    DEFAULT_NUM_BINS,
    FORMAT,
    VERSION,
    TensorStats,
    dumps_stats,
    load_stats,
    loads_stats,
    save_stats,
)
from qcc.calibration.sufficiency import SufficiencyResult, check_sufficiency, checkpoints

__all__ = [
    "DEFAULT_NUM_BINS",
    "DEFAULT_PERCENTILE",
    "FORMAT",
    "METHODS",
    "NUM_BITS",
    "START_BIN",
    "VERSION",
    "AutoCalibrationResult",
    "CalibrationData",
    "CalibrationResult",
    "Collector",
    "InputSpec",
    "Progress",
    "SufficiencyResult",
    "TensorStats",
    "batch_major_values",
    "batch_size",
    "calibrated_values",
    "check_sufficiency",
    "checkpoints",
    "choose_methods",
    "compute_range",
    "dumps_stats",
    "entropy_threshold",
    "is_f32_tensor",
    "iterate_batches",
    "load_stats",
    "loads_stats",
    "mse_threshold",
    "percentile_range",
    "quantization_mse",
    "random_samples",
    "save_stats",
    "search_histogram",
]
