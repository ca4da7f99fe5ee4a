"""``--input-shape`` on the commands that load a model, old opsets and IR-version-3
models from the command line, and every import problem in one error (exit code 2, no
traceback)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcc.cli import main


def qcc(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _weights(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def exported_cnn(opset: int = 11) -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> PyTorch-style flatten (Shape, Gather,
    Unsqueeze, Concat, Reshape) -> Gemm, on an input of symbolic batch, height and
    width, as exporters write it."""
    n = helper.make_node
    nodes = [n("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             n("Relu", ["c"], ["r"], name="relu"),
             n("GlobalAveragePool", ["r"], ["p"], name="pool"),
             n("Shape", ["p"], ["s"], name="shape"),
             n("Gather", ["s", "zero"], ["batch"], name="gather", axis=0),
             n("Unsqueeze", ["batch"], ["batch1"], name="unsqueeze", axes=[0]),
             n("Concat", ["batch1", "minus_one"], ["target"], name="concat", axis=0),
             n("Reshape", ["p", "target"], ["flat"], name="flatten"),
             n("Gemm", ["flat", "fc_w", "fc_b"], ["y"], name="fc", transB=1)]
    inits = {"w": _weights(8, 3, 3, 3, seed=1), "b": _weights(8, seed=2),
             "zero": np.array(0, np.int64), "minus_one": np.array([-1], np.int64),
             "fc_w": _weights(4, 8, seed=3), "fc_b": _weights(4, seed=4)}
    graph = helper.make_graph(
        nodes, "exported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(a, k) for k, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("shapes") / "exported.onnx"
    onnx.save(exported_cnn(), path)
    return str(path)


def test_import_fixes_every_dimension_and_folds_the_shape_subgraph(capsys, model_path):
    code, out, err = qcc(capsys, "import", model_path, "--input-shape", "x=2x3x10x12",
                         "--elide-constants")
    assert code == 0, err
    assert "tensor<2x3x10x12xf32>" in out and "tensor<2x4xf32>" in out
    assert "Shape" not in out and "Gather" not in out


def test_run_matches_onnxruntime(capsys, model_path, tmp_path):
    x = _weights(2, 3, 6, 5, seed=5)
    np.save(tmp_path / "x.npy", x)
    code, _, err = qcc(capsys, "run", model_path, "--input-shape", "x=2x3x6x5", "--input",
                       str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert code == 0, err
    (expected,) = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-5)


def test_batch_and_input_shape_together(capsys, model_path):
    code, out, err = qcc(capsys, "import", model_path, "--input-shape", "x=3x3x4x4",
                         "--batch", "3", "--elide-constants")
    assert code == 0, err
    assert "tensor<3x3x4x4xf32>" in out
    code, _, err = qcc(capsys, "import", model_path, "--input-shape", "x=3x3x4x4",
                       "--batch", "2")
    assert code == 2
    assert err == ("error: ONNX input 'x': --batch 2 and --input-shape x=3x3x4x4 disagree "
                   "on the batch (dimension 0)\n")


def test_quantize_and_compile_take_input_shape(capsys, model_path, tmp_path):
    code, out, err = qcc(capsys, "quantize", model_path, "--input-shape", "x=1x3x8x8",
                         "--elide-constants")
    assert code == 0, err
    assert "tensor<1x3x8x8xf32>" in out
    program = tmp_path / "m.tpu"
    code, _, err = qcc(capsys, "compile", model_path, "--input-shape", "x=1x3x8x8",
                       "-o", str(program))
    assert code == 0, err
    code, out, err = qcc(capsys, "run", str(program), "--random-input", "0")
    assert code == 0 and "y: float32[1, 4]" in out
    code, out, err = qcc(capsys, "run", str(program), "--random-input", "0",
                         "--input-shape", "x=1x3x8x8")
    assert code == 2 and "--input-shape applies to ONNX models" in err


def test_compile_of_a_module_refuses_input_shapes(model_path):
    import qcc as api

    module = api.load(model_path, input_shapes={"x": (1, 3, 4, 4)})
    with pytest.raises(api.QccError, match="input_shapes apply to an ONNX model"):
        api.compile(module, input_shapes={"x": (1, 3, 4, 4)})


def test_symbolic_dimension_left_is_an_error_that_says_what_to_do(capsys, model_path,
                                                                   tmp_path):
    for argv in (["import", model_path], ["run", model_path, "--random-input", "0"],
                 ["compile", model_path, "-o", str(tmp_path / "m.tpu")],
                 ["explore", model_path, "--out", str(tmp_path / "explore")]):
        code, _, err = qcc(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("error: ONNX input 'x': graph input 'x' has dynamic dimensions "
                              "2 ('H'), 3 ('W'); qcc needs static shapes: fix it with "
                              "--input-shape x=1x3xHxW"), argv
    assert not (tmp_path / "m.tpu").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--input-shape", "image=1x3x8x8", "--input-shape", "x=1x3x8x8"],
     "error: --input-shape image=1x3x8x8: the model has no input 'image' (its inputs: "
     "'x')"),
    (["--input-shape", "x=1x3x8"],
     "error: ONNX input 'x': --input-shape x=1x3x8 gives 3 dimensions but graph input 'x' "
     "has rank 4 (Nx3xHxW)"),
    (["--input-shape", "x=1x4x8x8"],
     "error: ONNX input 'x': --input-shape x=1x4x8x8 gives dimension 1 size 4, but the model "
     "fixes it to 3"),
    (["--input-shape", "x=1x3x8x8", "--input-shape", "x=1x3x9x9"],
     "error: --input-shape x=...: given twice"),
])
def test_input_shape_errors(capsys, model_path, args, message):
    code, _, err = qcc(capsys, "import", model_path, *args)
    assert code == 2
    assert err == message + "\n"


@pytest.mark.parametrize("spec", ["x", "x=", "=1x3", "x=1x3xH", "x=1x0x3", "x=-1x3"])
def test_malformed_input_shape_is_a_usage_error(capsys, model_path, spec):
    with pytest.raises(SystemExit) as info:
        main(["import", model_path, "--input-shape", spec])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --input-shape: '{spec}': expected NAME=SIZExSIZEx..." in err


def test_input_shape_on_ir_text_is_an_error(capsys, model_path, tmp_path):
    text = tmp_path / "m.mlir"
    assert qcc(capsys, "import", model_path, "--input-shape", "x=1x3x4x4", "-o",
               str(text))[0] == 0
    code, _, err = qcc(capsys, "run", str(text), "--input-shape", "x=1x3x4x4",
                       "--random-input", "0")
    assert code == 2
    assert "input shapes (--input-shape) apply to ONNX models" in err


def test_old_opset_is_converted_with_a_warning(capsys, tmp_path):
    model = exported_cnn(opset=9)
    path = tmp_path / "opset9.onnx"
    onnx.save(model, path)
    code, out, err = qcc(capsys, "import", str(path), "--input-shape", "x=1x3x4x4",
                         "--elide-constants")
    assert code == 0
    assert err == (f"warning: '{path}': opset 9 converted to opset 11 by onnx's version "
                   "converter\n")
    assert "tensor<1x4xf32>" in out


def test_ir_version_3_model_needs_only_its_real_input(capsys, tmp_path):
    n = helper.make_node
    inits = {"w": _weights(2, 3, 3, 3, seed=1), "b": _weights(2, seed=2)}
    graph = helper.make_graph(
        [n("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), n("Relu", ["c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])]
        + [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(a.shape))
           for k, a in inits.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5, 5])],
        [numpy_helper.from_array(a, k) for k, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)])
    model.ir_version = 3
    path = tmp_path / "ir3.onnx"
    onnx.save(model, path)
    x = _weights(1, 3, 5, 5, seed=3)
    np.save(tmp_path / "x.npy", x)
    code, _, err = qcc(capsys, "run", str(path), "--input", str(tmp_path / "x.npy"),
                       "--output", str(tmp_path / "y.npy"))
    assert code == 0, err
    assert "opset 8 converted to opset 11" in err
    (expected,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-5)


def test_every_problem_at_once_exit_code_2(capsys, tmp_path):
    n = helper.make_node
    graph = helper.make_graph(
        [n("Einsum", ["x", "x"], ["e"], name="ein", equation="ij,ij->ij"),
         n("Pad", ["z", "p"], ["q"], name="pad0", mode="reflect"),
         n("Add", ["e", "q"], ["y"], name="sum")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, "C"]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "p")])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, out, err = qcc(capsys, "compile", str(path), "-o", str(tmp_path / "bad.tpu"))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == f"error: '{path}': 3 problems stop the import"
    assert lines[1].startswith("  error: ONNX input 'x': graph input 'x' has a dynamic "
                               "dimension 1 ('C'); qcc needs static shapes: fix it with "
                               "--input-shape x=2xC")
    assert lines[2] == ("  error: ONNX node 'ein' (Einsum): op type 'Einsum' is unsupported "
                        "(supported op types below)")
    assert lines[3].startswith("  error: ONNX node 'pad0' (Pad): unsupported value 'reflect'")
    assert lines[4].startswith("note: supported op types: Add, ")
    assert len(lines) == 5
    assert not (tmp_path / "bad.tpu").exists()


def test_explore_fixes_the_dims_the_batch_sweep_does_not(model_path, tmp_path):
    from qcc.exploration import explore

    data = tmp_path / "data.npz"
    np.savez(data, x=_weights(4, 3, 6, 6, seed=6))
    result = explore(model_path, str(data), None, batches=(1, 2), methods=("minmax",),
                     granularities=("per-tensor",), jobs=1, progress=False,
                     input_shapes={"x": (1, 3, 6, 6)})
    assert [row["batch"] for row in result["rows"]] == [1, 2]
    assert result["rows"][0]["sqnr_db"] > 20
