"""An optional faster engine for calibration: onnxruntime runs the float graph.

The FP32 interpreter (qcc/interpreter.py) is the semantic oracle and the default
engine of calibration. With ``calibrate{engine=onnxruntime}`` (``--calibration-engine
onnxruntime``, ``calibration_engine="onnxruntime"`` in Python), the float graph the
pass calibrates is exported to ONNX (the exporter of ``qcc export-qdq``, which writes
each ``nn`` op as one ONNX node and keeps the IR's value names) with every calibrated
activation as a graph output, and onnxruntime computes them all in one run per
batch; the statistics are then taken from its arrays exactly as from the
interpreter's.

onnxruntime's float kernels sum in another order than numpy's, so activations can
differ from the interpreter's in their last bits (tests/calibration/test_ort_engine.py
bounds it) and a histogram method may then place a range a bin apart: the two engines
give close, not identical, ranges, hence the same binary only with the same engine.
The engine is part of the pipeline string the binary's manifest records. A graph with
an op the exporter has no ONNX form for is calibrated by the interpreter, with a
warning that names the op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qcc.diagnostics import QccError, UnknownLoc
from qcc.ir.core import Graph, Value

ENGINES = ("numpy", "onnxruntime")


class OrtFloatRunner:
    """onnxruntime session of ``graph`` whose outputs are ``values`` (the graph's
    arguments among them are given back from the inputs)."""

    def __init__(self, graph: Graph, values: Sequence[Value]):
        try:
            import onnxruntime as ort
        except ImportError:
            raise QccError("the onnxruntime calibration engine needs onnxruntime: pip "
                           "install onnxruntime (or qcc-compiler[fast]), or calibrate "
                           "with the interpreter (engine numpy, the default)") from None
        from onnx import helper

        from qcc.frontend.onnx_export import OPSET, _Exporter, _value_info

        self.graph = graph
        ex = _Exporter(graph)
        proto_graph = ex.export()  # QccError: an op without an ONNX form
        args = set(graph.args)
        have = {o.name for o in proto_graph.output}
        self.fetch: list[tuple[Value, str]] = []
        for v in values:
            if v in args:
                continue
            name = ex.names[v]
            if name not in have:
                proto_graph.output.append(_value_info(name, v.type))
                have.add(name)
            self.fetch.append((v, name))
        proto = helper.make_model(proto_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="qcc-calibration")
        proto.ir_version = 9
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(proto.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own errors: the graph is not runnable there
            raise QccError(f"onnxruntime cannot load the exported float graph: "
                           f"{str(e).strip().splitlines()[0]}") from None
        self.arg_values = list(zip(graph.args, graph.input_names, strict=True))
        self.names = [name for _, name in self.fetch]

    def run(self, inputs: Sequence[np.ndarray]) -> list[tuple[Value, np.ndarray]]:
        """(value, array) for every value asked for, arguments first, then in graph
        order; ``inputs`` as :func:`qcc.interpreter.check_inputs` gives them."""
        feeds = {name: np.ascontiguousarray(x) for (_, name), x in
                 zip(self.arg_values, inputs, strict=True)}
        arrays = self.session.run(self.names, feeds)
        out = [(a, x) for (a, _), x in zip(self.arg_values, inputs, strict=True)]
        out += [(v, arr) for (v, _), arr in zip(self.fetch, arrays, strict=True)]
        return out


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

    for v, arr in runner.run(check_inputs(graph, inputs)):
        observer(v, arr)
