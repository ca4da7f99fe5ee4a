"""An optional faster engine for float graphs: onnxruntime runs what the FP32
interpreter runs.

The FP32 interpreter (qcc/interpreter.py) is the semantic oracle: its results are
the reference, the same on every machine. :class:`FloatSession` exports a float
graph to ONNX (the exporter of ``qcc export-qdq``, which writes each ``nn`` op as
one ONNX node and keeps the IR's value names) and runs it in an onnxruntime
session, built once and reused run after run. onnxruntime's kernels sum in another
order than numpy's, so results can differ from the interpreter's in their last
bits (tests/interpreter/test_ort_float.py bounds it). Its users:

- ``qcc.run(module, inputs, engine="onnxruntime")`` and ``qcc run MODEL --engine
  onnxruntime``: the graph's outputs;
- calibration's onnxruntime engine (``--calibration-engine onnxruntime``,
  qcc/calibration/ort_engine.py): every calibrated activation as an extra output.

A graph with an op the exporter has no ONNX form for (``nn.conv_transpose2d``,
``nn.resize``), or an integer program (after ``fold-rescale``), is a
:class:`QccError` that names the op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qcc.diagnostics import QccError
from qcc.ir.core import Graph, Module, Value

#: what runs a float graph: ``numpy`` (the interpreter, the reference) or
#: ``onnxruntime`` (:class:`FloatSession`)
ENGINES = ("numpy", "onnxruntime")


class FloatSession:
    """An onnxruntime session of ``graph`` (``main`` of a module) whose outputs are
    the graph's, then ``values`` (other values of the graph, named as the exporter
    names them; the graph's arguments among them are given back from the inputs)."""

    def __init__(self, graph: Module | Graph, values: Sequence[Value] = ()):
        try:
            import onnxruntime as ort
        except ImportError:
            raise QccError("the onnxruntime engine needs onnxruntime: pip install "
                           "onnxruntime (or qcc-compiler[fast]), or use the interpreter "
                           "(engine numpy, the default)") from None
        from onnx import helper

        from qcc.frontend.onnx_export import OPSET, _Exporter, _value_info

        graph = graph.main if isinstance(graph, Module) else graph
        self.graph = graph
        ex = _Exporter(graph)
        try:
            proto_graph = ex.export()
        except QccError as e:  # an op without an ONNX form, an integer program
            raise QccError(f"the onnxruntime engine runs float graphs through the ONNX "
                           f"exporter: {e.message}", e.loc) from None
        args = set(graph.args)
        have = {o.name for o in proto_graph.output}
        self.output_names = list(graph.output_names)
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
                                  producer_name="qcc")
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

    def _feeds(self, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(x) for (_, name), x in
                zip(self.arg_values, inputs, strict=True)}

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The graph's outputs by name, for named inputs (checked as the interpreter
        checks them)."""
        from qcc.interpreter import check_inputs

        arrays = self.session.run(self.output_names,
                                  self._feeds(check_inputs(self.graph, inputs)))
        return dict(zip(self.output_names, arrays, strict=True))

    def run_values(self, inputs: Sequence[np.ndarray]) -> list[tuple[Value, np.ndarray]]:
        """(value, array) for every value asked for, arguments first, then in graph
        order; ``inputs`` as :func:`qcc.interpreter.check_inputs` gives them."""
        names = [name for _, name in self.fetch]
        arrays = self.session.run(names, self._feeds(inputs))
        out = [(a, x) for (a, _), x in zip(self.arg_values, inputs, strict=True)]
        out += [(v, arr) for (v, _), arr in zip(self.fetch, arrays, strict=True)]
        return out


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise QccError(f"unknown float engine {engine!r}; choose one of "
                       f"{', '.join(ENGINES)}")
    return engine
