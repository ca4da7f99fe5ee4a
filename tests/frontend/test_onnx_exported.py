"""What real exported models need before any op matters: old opsets converted by onnx's
version converter, IR-version-3 initializers listed as inputs, input shapes fixed by
the user, shape subgraphs folded (qcc/frontend/onnx_fold.py), and every problem of a
model reported at once. FP32 results are checked against onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcc.diagnostics import QccError
from qcc.frontend import import_onnx, onnx_importer
from qcc.frontend.onnx_fold import evaluate_node, fold_constants
from qcc.frontend.onnx_importer import ImportProblems
from qcc.interpreter import run

Shape = Sequence[int | str | None]


def make_model(nodes: list[onnx.NodeProto], inputs: dict[str, Shape],
               inits: dict[str, np.ndarray] | None = None, opset: int = 13,
               outputs: Sequence[str] = ("y",)) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))
           for n, s in inputs.items()]
    outs = [helper.make_empty_tensor_value_info(n) for n in outputs]
    tensors = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    graph = helper.make_graph(nodes, "g", ins, outs, tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7  # (what onnxruntime reads for every opset used here)
    return model


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str] = ("y",),
         name: str | None = None, **attrs: object) -> onnx.NodeProto:
    return helper.make_node(op_type, list(inputs), list(outputs),
                            name=name or f"{op_type.lower()}_{outputs[0]}", **attrs)


def weights(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def onnxruntime_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # (unused initializers after conversion are fine)
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_matches_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray],
                               reference: onnx.ModelProto | None = None, **kwargs) -> None:
    """qcc's import of ``model`` (fixed by ``kwargs``) computes what onnxruntime
    computes for ``reference`` (default: the same model)."""
    module = import_onnx(model, **kwargs)
    got = run(module, feeds)
    expected = onnxruntime_outputs(reference or model, feeds)
    for name, want in zip([o.name for o in model.graph.output], expected, strict=True):
        assert got[name].shape == want.shape
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5)


def import_error(model, **kwargs) -> str:
    with pytest.raises(QccError) as info:
        import_onnx(model, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- old opsets


def _classifier(opset: int, spatial: bool = False):
    """BatchNormalization -> MaxPool -> Flatten -> Gemm, as opset 7..10 exporters wrote
    it (BatchNormalization with 'spatial', Gemm without 'broadcast')."""
    bn_attrs = {"spatial": 1} if spatial else {}
    nodes = [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], **bn_attrs),
             node("MaxPool", ["bn"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             node("Flatten", ["mp"], ["fl"]),
             node("Gemm", ["fl", "w", "c"], ["y"], transB=1)]
    rng = np.random.default_rng(1)
    inits = {"s": weights(3, seed=2), "b": weights(3, seed=3), "m": weights(3, seed=4),
             "v": rng.uniform(0.5, 2, 3).astype(np.float32), "w": weights(5, 48, seed=5),
             "c": weights(5, seed=6)}
    return make_model(nodes, {"x": ["N", 3, 8, 8]}, inits, opset=opset)


@pytest.mark.parametrize("opset", [7, 8, 9, 10])
def test_old_opsets_are_converted_with_a_warning(opset, capfd, monkeypatch):
    monkeypatch.setattr(onnx_importer, "_WARNED", set())
    x = weights(2, 3, 8, 8, seed=9)
    # (opset 7 and 8 BatchNormalization has 'spatial'; 9 and 10 exporters kept writing
    # it though the schema dropped it: onnxruntime refuses that, qcc drops spatial=1)
    model = _classifier(opset, spatial=True)
    reference = model if opset < 9 else _classifier(opset)
    assert_matches_onnxruntime(model, {"x": x}, reference, batch=2)
    err = capfd.readouterr().err
    assert (f"warning: <ModelProto>: opset {opset} converted to opset 11 by onnx's "
            "version converter") in err
    import_onnx(model, batch=2)  # (said once per process: explore loads a model often)
    assert "warning" not in capfd.readouterr().err


def test_opset_9_upsample_becomes_resize_with_the_same_results(capfd, monkeypatch):
    from qcc.frontend.onnx_importer import _convert_opset

    monkeypatch.setattr(onnx_importer, "_WARNED", set())
    model = make_model([node("MaxPool", ["x"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
                        node("Upsample", ["mp", "scales"], mode="nearest")],
                       {"x": [1, 2, 6, 6]}, {"scales": np.array([1, 1, 2, 3], np.float32)},
                       opset=9)
    converted = _convert_opset(model, "up.onnx", 9)
    assert [n.op_type for n in converted.graph.node] == ["MaxPool", "Constant", "Resize"]
    assert converted.opset_import[0].version == 11
    x = weights(1, 2, 6, 6)
    np.testing.assert_array_equal(onnxruntime_outputs(converted, {"x": x})[0],
                                  onnxruntime_outputs(model, {"x": x})[0])
    assert "warning: up.onnx: opset 9 converted to opset 11" in capfd.readouterr().err


def test_opset_11_and_newer_are_not_converted(capfd):
    import_onnx(_classifier(11))
    assert "warning" not in capfd.readouterr().err


def test_failed_conversion_names_the_opset_and_the_converters_message():
    # BatchNormalization with per-activation statistics (spatial=0) has no newer form
    model = _classifier(7)
    model.graph.node[0].attribute.append(helper.make_attribute("spatial", 0))
    msg = import_error(model)
    assert msg.startswith("error: <ModelProto> has opset 7, which qcc converts to opset 11 "
                          "with onnx's version converter, and the conversion failed: ")
    assert "spatial must have value 1" in msg
    assert msg.endswith("\nnote: export the model with opset 11 or newer")


def test_opsets_older_than_7_are_refused():
    msg = import_error(make_model([node("Relu", ["x"])], {"x": [1]}, opset=6))
    assert "opset 6 is not supported; qcc supports 11.." in msg
    assert "converts opsets 7..10 with onnx's version converter" in msg


# --------------------------------------------------------------------------- IR version 3


def _ir3_model() -> onnx.ModelProto:
    """An IR-version-3 export: opset 8, every initializer also a graph input."""
    inits = {"w": weights(4, 3, 3, 3, seed=1), "b": weights(4, seed=2)}
    model = make_model([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                        node("Relu", ["c"])], {"x": [1, 3, 6, 6]}, inits, opset=8)
    model.ir_version = 3
    model.graph.input.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
                             for n, a in inits.items())
    return model


def test_ir_version_3_initializers_listed_as_inputs_are_constants():
    model = _ir3_model()
    module = import_onnx(model)
    assert module.main.input_names == ["x"]
    x = weights(1, 3, 6, 6, seed=3)
    assert_matches_onnxruntime(model, {"x": x})


# --------------------------------------------------------------------------- input shapes


def _dynamic_cnn(opset: int = 13) -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool over an input of symbolic height and width."""
    return make_model([node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                       node("Relu", ["c"], ["r"]), node("GlobalAveragePool", ["r"], ["y"])],
                      {"x": ["N", 3, "H", "W"]}, {"w": weights(2, 3, 3, 3)}, opset=opset)


def test_input_shapes_fix_every_dynamic_dimension():
    model = _dynamic_cnn()
    module = import_onnx(model, input_shapes={"x": (2, 3, 5, 7)})
    assert module.main.args[0].type.shape == (2, 3, 5, 7)
    assert_matches_onnxruntime(model, {"x": weights(2, 3, 5, 7)},
                               input_shapes={"x": [2, 3, 5, 7]})
    # None leaves a dimension as the model has it: the batch then comes from batch=
    module = import_onnx(model, batch=4, input_shapes={"x": (None, 3, 6, 6)})
    assert module.main.args[0].type.shape == (4, 3, 6, 6)
    # batch and input_shapes may both give the batch if they agree
    module = import_onnx(model, batch=3, input_shapes={"x": (3, 3, 6, 6)})
    assert module.main.args[0].type.shape == (3, 3, 6, 6)


def test_input_shape_of_an_input_without_shape():
    model = make_model([node("Relu", ["x"])], {"x": [1]})
    model.graph.input[0].type.tensor_type.ClearField("shape")
    assert "has no shape" in import_error(model) and "--input-shape x=" in import_error(model)
    module = import_onnx(model, input_shapes={"x": (2, 3)})
    assert module.main.args[0].type.shape == (2, 3)


def test_symbolic_dimension_left_says_which_and_suggests_input_shape():
    msg = import_error(_dynamic_cnn())
    assert msg == ("error: ONNX input 'x': graph input 'x' has dynamic dimensions 2 ('H'), "
                   "3 ('W'); qcc needs static shapes: fix it with --input-shape x=1x3xHxW "
                   "(sizes in place of the names; input_shapes= in the Python API)")
    msg = import_error(_dynamic_cnn(), input_shapes={"x": (None, 3, 8, None)}, batch=2)
    assert "has a dynamic dimension 3 ('W')" in msg and "--input-shape x=2x3x8xW" in msg


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"input_shapes": {"image": (1, 3, 8, 8), "x": (1, 3, 8, 8)}},
     "error: --input-shape image=1x3x8x8: the model has no input 'image' (its inputs: 'x')"),
    ({"input_shapes": {"x": (1, 3, 8)}},
     "error: ONNX input 'x': --input-shape x=1x3x8 gives 3 dimensions but graph input 'x' "
     "has rank 4 (Nx3xHxW)"),
    ({"input_shapes": {"x": (1, 4, 8, 8)}},
     "error: ONNX input 'x': --input-shape x=1x4x8x8 gives dimension 1 size 4, but the "
     "model fixes it to 3"),
    ({"input_shapes": {"x": (2, 3, 8, 8)}, "batch": 4},
     "error: ONNX input 'x': --batch 4 and --input-shape x=2x3x8x8 disagree on the batch "
     "(dimension 0)"),
])
def test_input_shape_errors(kwargs, expected):
    assert import_error(_dynamic_cnn(), **kwargs) == expected


@pytest.mark.parametrize(("shapes", "expected"), [
    ([("x", (1, 3))], "input_shapes must map input names to shapes"),
    ({"x": 3}, "expected a sequence of sizes"),
    ({"x": "1x3"}, "expected a sequence of sizes"),
    ({"x": (1, 0, 2)}, "sizes must be positive integers"),
    ({"x": (1, 2.5)}, "sizes must be positive integers"),
    ({3: (1, 2)}, "input names are strings"),
])
def test_malformed_input_shapes_in_the_python_api(shapes, expected):
    assert expected in import_error(_dynamic_cnn(), input_shapes=shapes)


# --------------------------------------------------------------------------- folding


def _torch_flatten(opset: int) -> onnx.ModelProto:
    """PyTorch's x.view(x.size(0), -1) as exported at opset 9 and 11:
    Shape -> Gather(0) -> Unsqueeze -> Concat([.., -1]) -> Reshape, then Gemm."""
    unsqueeze = (node("Unsqueeze", ["n"], ["n1"], axes=[0]) if opset < 13
                 else node("Unsqueeze", ["n", "zero_axis"], ["n1"]))
    nodes = [node("Relu", ["x"], ["r"]), node("Shape", ["r"], ["s"]),
             node("Gather", ["s", "zero"], ["n"], axis=0), unsqueeze,
             node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             node("Reshape", ["r", "target"], ["flat"]),
             node("Gemm", ["flat", "w", "c"], ["y"], transB=1)]
    inits = {"zero": np.array(0, np.int64), "minus_one": i64(-1), "zero_axis": i64(0),
             "w": weights(4, 3 * 4 * 4), "c": weights(4, seed=1)}
    if opset < 13:
        del inits["zero_axis"]
    return make_model(nodes, {"x": ["N", 3, "H", "W"]}, inits, opset=opset)


@pytest.mark.parametrize("opset", [9, 11, 13])
def test_pytorch_flatten_shape_subgraph_is_folded(opset):
    model = _torch_flatten(opset)
    module = import_onnx(model, input_shapes={"x": (2, 3, 4, 4)})
    names = [op.name for op in module.main.ops]
    # (the folded int64 target shape is read at import time: no op for it)
    assert names == ["nn.relu", "nn.reshape", "nn.constant", "nn.constant", "nn.gemm",
                     "func.return"]
    reshape = next(op for op in module.main.ops if op.name == "nn.reshape")
    assert str(reshape.result.type) == "tensor<2x48xf32>"
    assert_matches_onnxruntime(model, {"x": weights(2, 3, 4, 4, seed=7)},
                               input_shapes={"x": (2, 3, 4, 4)})


def test_constant_of_shape_range_expand_and_cast_are_folded():
    """ConstantOfShape(Shape(x)), Expand of a constant to Shape(x), and
    Cast(Range(0, C)) reshaped to a per-channel bias."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.5])
    nodes = [node("Shape", ["x"], ["s"]),
             node("ConstantOfShape", ["s"], ["ones"], value=one),
             node("Expand", ["k", "s"], ["kx"]),
             node("Gather", ["s", "one_index"], ["c"], axis=0),
             node("Range", ["zero", "c", "step"], ["ramp"]),
             node("Cast", ["ramp"], ["ramp_f"], to=TensorProto.FLOAT),
             node("Reshape", ["ramp_f", "bias_shape"], ["bias"]),
             node("Add", ["x", "ones"], ["a"]), node("Mul", ["a", "kx"], ["m"]),
             node("Add", ["m", "bias"], ["y"])]
    inits = {"k": weights(1, 1, 1, 5), "one_index": np.array(1, np.int64),
             "zero": np.array(0, np.int64), "step": np.array(1, np.int64),
             "bias_shape": i64(1, -1, 1, 1)}
    model = make_model(nodes, {"x": ["N", 3, 4, 5]}, inits)
    module = import_onnx(model, batch=2)
    kinds = {op.name for op in module.main.ops}
    assert kinds == {"nn.constant", "nn.add", "nn.mul", "nn.reshape", "func.return"}
    assert_matches_onnxruntime(model, {"x": weights(2, 3, 4, 5, seed=3)}, batch=2)


def test_folding_leaves_float_ops_the_importer_converts_and_qdq():
    # a Transpose of float weights stays an op (as before); its int64 twin is folded
    model = make_model([node("Transpose", ["wt"], ["w"], perm=[1, 0]),
                        node("MatMul", ["x", "w"], ["y"])], {"x": [2, 3]},
                       {"wt": weights(4, 3)})
    assert "nn.transpose" in [op.name for op in import_onnx(model).main.ops]
    folded = fold_constants(model, lambda _: {}, converted={"Transpose", "MatMul"})
    assert folded == {} and len(model.graph.node) == 2


def test_fold_constants_reports_values_and_the_nodes_that_computed_them():
    model = _torch_flatten(11)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    for d in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        d.dim_value = 4

    def infer(m):
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True).graph
        return {vi.name: vi.type for vi in [*inferred.input, *inferred.value_info]}

    folded = fold_constants(model, infer, converted={"Relu", "Reshape", "Gemm"})
    assert sorted(folded) == ["n", "n1", "s", "target"]
    np.testing.assert_array_equal(folded["target"][0], i64(2, -1))
    assert folded["s"][1].describe() == "ONNX node 'shape_s' (Shape)"
    assert [n.op_type for n in model.graph.node] == ["Relu", "Reshape", "Gemm"]
    assert "target" in {t.name for t in model.graph.initializer}


def test_shape_with_start_and_end_and_size():
    nodes = [node("Shape", ["x"], ["hw"], start=-2), node("Size", ["x"], ["n"]),
             node("Shape", ["x"], ["cl"], start=1, end=2)]
    model = make_model(nodes, {"x": [2, 3, 4, 5]}, opset=15, outputs=("hw", "n", "cl"))

    def infer(m):
        return {vi.name: vi.type for vi in m.graph.input}

    folded = fold_constants(model, infer)
    np.testing.assert_array_equal(folded["hw"][0], i64(4, 5))
    assert int(folded["n"][0]) == 120
    np.testing.assert_array_equal(folded["cl"][0], i64(3))


def test_evaluate_node_runs_onnx_reference():
    (y,) = evaluate_node(node("Range", ["a", "b", "c"], ["y"]),
                         {"a": np.array(1, np.int64), "b": np.array(7, np.int64),
                          "c": np.array(2, np.int64)}, [helper.make_opsetid("", 13)])
    np.testing.assert_array_equal(y, i64(1, 3, 5))


def test_shape_of_a_symbolic_dimension_is_reported_once():
    # the Shape of a tensor of dynamic size cannot be folded: that is the input's problem
    error = _raised(_torch_flatten(11))
    assert not isinstance(error, ImportProblems)
    assert str(error).startswith("error: ONNX input 'x': graph input 'x' has dynamic "
                                 "dimensions 2 ('H'), 3 ('W'); qcc needs static shapes: fix "
                                 "it with --input-shape x=1x3xHxW")


def test_shape_op_on_data_that_is_not_constant():
    model = make_model([node("Tile", ["x", "r"], name="g0")], {"x": [3, 2]},
                       {"r": i64(2, 1)})
    assert import_error(model) == (
        "error: ONNX node 'g0' (Tile): op type 'Tile' is supported only where qcc can "
        "compute it at import time (all its inputs constants, or a Shape of a static "
        "shape), and it cannot here")


# --------------------------------------------------------------------------- all problems


def _raised(model, **kwargs) -> QccError:
    with pytest.raises(QccError) as info:
        import_onnx(model, **kwargs)
    return info.value


def test_every_problem_of_a_model_in_one_error():
    nodes = [node("Einsum", ["x", "x"], ["e"], name="ein", equation="ij,ij->ij"),
             node("Relu", ["e"], ["r"], name="after_ein"),  # (skipped: its input failed)
             node("Pad", ["x", "p"], ["padded"], name="pad0", mode="reflect"),
             node("Reshape", ["x", "s0"], ["re"], name="reshape0"),
             node("Det", ["x"], ["d"], name="det0"),
             node("Add", ["r", "padded"], ["y"], name="sum")]
    model = make_model(nodes, {"x": [2, 2], "s0": [2]}, {"p": i64(0, 1, 0, 1)}, opset=17)
    error = _raised(model)
    assert isinstance(error, ImportProblems) and len(error.problems) == 4
    lines = str(error).splitlines()
    assert lines[0] == "error: <ModelProto>: 4 problems stop the import"
    assert len(lines) == 6
    body = "\n".join(lines[1:])
    for fragment in ["ONNX node 'ein' (Einsum): op type 'Einsum' is unsupported (supported "
                     "op types below)",
                     "ONNX node 'det0' (Det): op type 'Det' is unsupported",
                     "ONNX node 'reshape0' (Reshape): input 's0' of node 'reshape0' "
                     "(Reshape) must be a constant",
                     "ONNX node 'pad0' (Pad): unsupported value 'reflect' of attribute "
                     "'mode'"]:
        assert fragment in body
    assert "after_ein" not in body and "'sum'" not in body
    # the list of supported op types comes once, as the last line
    assert lines[-1].startswith("note: supported op types: ")
    assert sum("supported op types: " in line for line in lines) == 1


def test_a_single_problem_keeps_its_own_message():
    model = make_model([node("Einsum", ["x", "x"], name="ein", equation="ij,ij->ij")],
                       {"x": [2, 2]})
    error = _raised(model)
    assert not isinstance(error, ImportProblems)
    assert str(error).startswith("error: ONNX node 'ein' (Einsum): op type 'Einsum' is "
                                 "unsupported; supported op types: ")


def test_problem_lines_escape_control_characters():
    model = make_model([node("Einsum", ["x", "x"], ["e"], name="bad\nname", equation="i,i->i"),
                        node("Det", ["e"], name="det\x1b[31m")], {"x": [2]})
    text = str(_raised(model))
    assert "bad\\nname" in text and "det\\x1b[31m" in text and "\x1b" not in text
    assert len(text.splitlines()) == 4
