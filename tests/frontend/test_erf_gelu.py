"""ONNX Erf and Gelu (opset 20) import as nn.erf / nn.gelu; the interpreter matches
onnxruntime (the ONNX node cases test_erf and test_gelu_* check the reference
outputs too); a bad ``approximate`` is an import error; the IR round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcc.diagnostics import QccError
from qcc.frontend import import_onnx
from qcc.interpreter import run
from qcc.ir.core import VerifyError
from qcc.text import parse_module, print_module


def _model(op_type: str, opset: int, **attrs):
    graph = helper.make_graph(
        [helper.make_node(op_type, ["x"], ["y"], name="n", **attrs)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 257])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 257])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("op_type,opset,attrs", [
    ("Erf", 13, {}), ("Gelu", 20, {}), ("Gelu", 20, {"approximate": "tanh"})])
def test_matches_onnxruntime(op_type, opset, attrs):
    ort = pytest.importorskip("onnxruntime")
    model = _model(op_type, opset, **attrs)
    x = (np.random.default_rng(0).standard_normal((3, 257)) * 4).astype(np.float32)
    x[0, :5] = [0.0, -0.0, 1e-8, 12.0, -12.0]
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    module = import_onnx(model)
    got = run(module, {"x": x})["y"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    again = parse_module(print_module(module))
    assert np.array_equal(run(again, {"x": x})["y"], got)


def test_a_bad_approximation_is_an_import_error():
    with pytest.raises(QccError, match=r"unsupported value 'fast' of attribute "
                                       r"'approximate': Gelu's approximate is 'none' or "
                                       r"'tanh'") as e:
        import_onnx(_model("Gelu", 20, approximate="fast"))
    assert "'n'" in str(e.value)  # the node


def test_the_verifier_rejects_a_bad_approximation():
    text = print_module(import_onnx(_model("Gelu", 20, approximate="tanh")))
    with pytest.raises((VerifyError, QccError), match="approximate 'fast' is not one of"):
        parse_module(text.replace('approximate = "tanh"', 'approximate = "fast"'))
