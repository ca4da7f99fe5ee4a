"""Graph-validity violations: the ONNX importer rejects what onnxruntime rejects (a tensor
defined twice, used before or without a definition, duplicate names, nodes that break
their schema) with a QccError naming the node, its op type and the tensor, from the
Python API and from the CLI (exit 2); valid corner cases still import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.cli import main
from qcc.diagnostics import QccError

N = helper.make_node


def model(nodes: list[onnx.NodeProto], inputs: tuple[str, ...] = ("x",),
          outputs: tuple[str, ...] = ("y",), inits: tuple[str, ...] = (),
          opset: int = 17) -> onnx.ModelProto:
    """x: [1, 4] float inputs, typed [1, 4] float outputs, [1, 4] initializers (a name
    repeated in ``inits`` gives two initializers of that name)."""
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in inputs]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in outputs]
    tensors = [numpy_helper.from_array(np.full((1, 4), i, np.float32), n)
               for i, n in enumerate(inits)]
    graph = helper.make_graph(nodes, "g", ins, outs, tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


#: id -> (model, fragments the error must contain: the location first)
INVALID = {
    "tensor-written-by-two-nodes": (
        model([N("Relu", ["x"], ["t"], name="r1"), N("Sigmoid", ["x"], ["t"], name="s2"),
               N("Relu", ["t"], ["y"], name="r3")]),
        ["ONNX node 's2' (Sigmoid)", "output 't' is already defined, by node 'r1' (Relu)"]),
    "node-output-is-a-graph-input": (
        model([N("Relu", ["x"], ["x"], name="r1"), N("Relu", ["x"], ["y"], name="r2")]),
        ["ONNX node 'r1' (Relu)", "output 'x' is already defined, by the graph input 'x'"]),
    "node-output-is-an-initializer": (
        model([N("Relu", ["x"], ["w"], name="r1"), N("Add", ["x", "w"], ["y"], name="a2")],
              inits=("w",)),
        ["ONNX node 'r1' (Relu)", "output 'w' is already defined, by the graph initializer"]),
    "one-node-outputs-a-name-twice": (
        model([N("Dropout", ["x"], ["y", "y"], name="d1")]),
        ["ONNX node 'd1' (Dropout)", "output 'y' is already defined, by this node's outputs"]),
    "input-never-defined": (
        model([N("Add", ["x", "nope"], ["y"], name="a1")]),
        ["ONNX node 'a1' (Add)", "input 1 ('nope') is never defined"]),
    "cycle": (
        model([N("Add", ["x", "u"], ["t"], name="a1"), N("Relu", ["t"], ["u"], name="r2"),
               N("Relu", ["t"], ["y"], name="r3")]),
        ["ONNX node 'a1' (Add)", "input 1 ('u') is computed by node 'r2' (Relu)", "cycle"]),
    "duplicate-graph-inputs": (
        model([N("Relu", ["x"], ["y"], name="r1")], inputs=("x", "x")),
        ["ONNX input 'x'", "two inputs named 'x'"]),
    "duplicate-node-names": (
        model([N("Relu", ["x"], ["t"], name="n"), N("Sigmoid", ["t"], ["y"], name="n")]),
        ["ONNX node 'n' (Sigmoid)", "two nodes are named 'n'"]),
    "empty-required-output": (
        model([N("Relu", ["x"], [""], name="r1"), N("Relu", ["x"], ["y"], name="r2")]),
        ["ONNX node 'r1' (Relu)", "schema of Relu at opset 17", "output 0",
         "empty string"]),
    "empty-required-input": (
        model([N("Add", ["x", ""], ["y"], name="a1")]),
        ["ONNX node 'a1' (Add)", "schema of Add at opset 17", "input 1", "empty string"]),
    "too-many-outputs": (
        model([N("Relu", ["x"], ["y", "z"], name="r1")]),
        ["ONNX node 'r1' (Relu)", "schema of Relu at opset 17", "output size 2"]),
    "graph-output-never-defined": (
        model([N("Relu", ["x"], ["y"], name="r1")], outputs=("y", "z")),
        ["ONNX output 'z'", "graph output 'z' is never defined"]),
}

#: onnxruntime accepts these (it sorts the nodes itself; of two initializers, or of an
#: initializer and a Constant node of one name, it takes the last and warns; it returns an
#: output twice), but ONNX's checker rejects all but the last (topological order,
#: unique initializer names, single static assignment) and qcc cannot name two outputs
#: alike: qcc rejects them all
INVALID_FOR_QCC_ONLY = {
    "input-defined-only-later": (
        model([N("Relu", ["t"], ["y"], name="r2"), N("Relu", ["x"], ["t"], name="r1")]),
        ["ONNX node 'r2' (Relu)", "input 0 ('t') is defined only later, by node 'r1' (Relu)",
         "topological order"]),
    "constant-node-output-is-an-initializer": (
        model([N("Constant", [], ["w"], name="c1",
                 value=numpy_helper.from_array(np.ones((1, 4), np.float32))),
               N("Add", ["x", "w"], ["y"], name="a2")], inits=("w",)),
        ["ONNX node 'c1' (Constant)", "output 'w' is already defined"]),
    "duplicate-initializers": (
        model([N("Add", ["x", "w"], ["y"], name="a1")], inits=("w", "w")),
        ["ONNX initializer 'w'", "two initializers named 'w'"]),
    "duplicate-graph-outputs": (
        model([N("Relu", ["x"], ["y"], name="r1")], outputs=("y", "y")),
        ["ONNX output 'y'", "lists output 'y' twice"]),
}
CHECKER_ACCEPTS = {"duplicate-graph-outputs"}


def test_an_ir_version_newer_than_onnx_knows_is_rejected(tmp_path, capsys):
    m = model([N("Relu", ["x"], ["y"], name="r1")])
    m.ir_version = onnx.IR_VERSION + 1
    assert main(["import", str(_save(m, tmp_path))]) == 2
    assert f"ONNX IR version {onnx.IR_VERSION + 1}, newer than" in capsys.readouterr().err
    m.ir_version = 99
    assert main(["import", str(_save(m, tmp_path))]) == 2
    ort = pytest.importorskip("onnxruntime")
    with pytest.raises(Exception, match="IR version"):
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _save(m: onnx.ModelProto, tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(m.SerializeToString())
    return path


@pytest.mark.parametrize("case", list(INVALID | INVALID_FOR_QCC_ONLY))
def test_python_api_rejects_and_names_the_node_and_tensor(case, tmp_path):
    m, fragments = (INVALID | INVALID_FOR_QCC_ONLY)[case]
    with pytest.raises(QccError) as info:
        qcc.load(_save(m, tmp_path))
    text = str(info.value)
    assert text.startswith(f"error: {fragments[0]}: "), text
    for fragment in fragments[1:]:
        assert fragment in text, text
    with pytest.raises(QccError) as info:  # a ModelProto too, the same message
        qcc.import_onnx(m)
    assert str(info.value) == text


@pytest.mark.parametrize("case", list(INVALID | INVALID_FOR_QCC_ONLY))
def test_cli_import_exits_2_naming_the_node_and_tensor(case, tmp_path, capsys):
    m, fragments = (INVALID | INVALID_FOR_QCC_ONLY)[case]
    code = main(["import", str(_save(m, tmp_path))])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"error: {fragments[0]}: "), err
    assert all(f in err for f in fragments[1:]), err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(INVALID | INVALID_FOR_QCC_ONLY))
def test_onnxruntime_agrees(case):
    """The models above are what they claim to be: onnxruntime rejects those of INVALID
    and loads the others (so the lists stay honest as onnxruntime changes)."""
    ort = pytest.importorskip("onnxruntime")
    m, _ = (INVALID | INVALID_FOR_QCC_ONLY)[case]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # its warnings about duplicate initializers
    load = lambda: ort.InferenceSession(m.SerializeToString(), options,  # noqa: E731
                                        providers=["CPUExecutionProvider"])
    if case in INVALID_FOR_QCC_ONLY:
        load()
    else:
        with pytest.raises(Exception, match=r"(?i)invalid|duplicate|not acyclic|not exist"):
            load()


@pytest.mark.parametrize("case", sorted(set(INVALID_FOR_QCC_ONLY) - CHECKER_ACCEPTS))
def test_onnx_checker_rejects_what_onnxruntime_lets_through(case):
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(INVALID_FOR_QCC_ONLY[case][0])


# --------------------------------------------------------------------------- still valid


def test_valid_corner_cases_still_import():
    # an initializer listed as a graph input too (older exporters)
    m = model([N("Add", ["x", "w"], ["y"], name="a1")], inputs=("x", "w"), inits=("w",))
    assert [a.name_hint for a in qcc.import_onnx(m).main.args] == ["x"]
    # many unnamed nodes; an optional output left out; an optional input left out
    m = model([N("Relu", ["x"], ["t"]), N("Dropout", ["t", ""], ["u", ""]),
               N("Relu", ["u"], ["y"])])
    assert [op.name for op in qcc.import_onnx(m).main.ops] == \
        ["nn.relu", "nn.dropout", "nn.relu", "func.return"]
    # a graph input that is also the output
    m = model([N("Relu", ["x"], ["y"], name="r1")], outputs=("y", "x"))
    assert len(qcc.import_onnx(m).main.outputs) == 2
