"""An optional faster engine for calibration: onnxruntime runs the float graph.

The FP32 interpreter (qcc/interpreter.py) is the semantic oracle and the default
engine of calibration. With ``calibrate{engine=onnxruntime}`` (``--calibration-engine
onnxruntime``, ``calibration_engine="onnxruntime"`` in Python), the float graph the
pass calibrates is exported to ONNX (the exporter of ``qcc export-qdq``, which writes
each ``nn`` op as one ONNX node and keeps the IR's value names) with every calibrated
activation as a graph output (qcc/ort_float.py's FloatSession), and onnxruntime
computes them all in one run per batch; the statistics are then taken from its
arrays exactly as from the interpreter's.

onnxruntime's float kernels sum in another order than numpy's, so activations can
differ from the interpreter's in their last bits (tests/quant/test_calibration_engine.py
bounds it) and a histogram method may then place a range a bin apart: the two engines
give close, not identical, ranges, hence the same binary only with the same engine.
The engine is part of the pipeline string the binary's manifest records. A graph with
an op the exporter has no ONNX form for is calibrated by the interpreter, with a
warning that names the op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qcc.diagnostics import QccError, UnknownLoc
from qcc.ir.core import Graph, Value
from qcc.ort_float import ENGINES, FloatSession  # noqa: F401  (calibrate's engines)

#: the session calibration runs: the float graph with every calibrated activation
#: as an output (qcc/ort_float.py)
OrtFloatRunner = FloatSession


def make_runner(graph: Graph, values: Sequence[Value]) -> tuple[OrtFloatRunner | None, str]:
    """The runner, or (None, why) when the graph has no ONNX form for onnxruntime."""
    try:
        return OrtFloatRunner(graph, values), ""
    except QccError as e:
        if "needs onnxruntime" in e.message:
            raise
        where = "" if isinstance(e.loc, UnknownLoc) else f" at {e.loc.describe()}"
        return None, f"{e.message}{where}"


def observe_all(runner: OrtFloatRunner, graph: Graph, inputs: Mapping[str, Any],
                observer) -> None:
    """Run one batch and call ``observer(value, array)`` for each value."""
    from qcc.interpreter import check_inputs

    for v, arr in runner.run_values(check_inputs(graph, inputs)):
        observer(v, arr)
