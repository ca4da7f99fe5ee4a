"""The TPU-v1 backend's passes, registered with the pass manager (docs/tpu-dialect.md):

    tpu-lower         quant.* -> tpu.* with tile plans, host transfers at the edges
    tpu-tile-ub       activations larger than the Unified Buffer: batch chunks, or
                      tensors spilled to host memory and layers in row bands
    tpu-plan-memory   Unified Buffer rows, accumulator halves, weight image, tables
    tpu-schedule      barriers and weight prefetch

Emission (emit.py) turns the result into the program; ``BACKEND_PIPELINE`` is the
pipeline ``qcc compile`` runs between quantization and emission.
"""

from __future__ import annotations

from qcc.backends.tpu_v1 import dialect  # noqa: F401  (registers the tpu ops)
from qcc.backends.tpu_v1.lower import TpuLowerPass
from qcc.backends.tpu_v1.plan import TpuPlanMemoryPass
from qcc.backends.tpu_v1.schedule import TpuSchedulePass
from qcc.backends.tpu_v1.tile import TpuTileUbPass

BACKEND_PIPELINE = "tpu-lower,tpu-tile-ub,tpu-plan-memory,tpu-schedule"

__all__ = ["BACKEND_PIPELINE", "TpuLowerPass", "TpuPlanMemoryPass", "TpuSchedulePass",
           "TpuTileUbPass"]
