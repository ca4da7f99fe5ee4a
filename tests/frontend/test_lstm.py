"""The ONNX LSTM op (issue 18): unrolled over its fixed sequence length, in FP32 against
onnxruntime for every direction, with and without initial states, stacked, with any
subset of its outputs; the op form and the exported cell form (MatMul / Split /
Sigmoid / Tanh / Mul) agree; an LSTM compiles for tpu-v1 through the CLI and the Python
API and runs bit-exactly with the integer IR, its gate products on the host; and every
unsupported form is refused with the node named, exit code 2 and no output file."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.testing.lstm_models import (
    DIRECTIONS,
    lstm_calibration,
    lstm_inputs,
    lstm_model,
)

SIZES = {"input_size": 5, "hidden": 6, "seq_len": 4, "batch": 3}
TOL = 1e-5  # measured: at most 1.8e-7 (float32 rounding of sums in another order)


def reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds), strict=True))


def qcc_fp32(model: onnx.ModelProto, feeds: dict[str, np.ndarray], **kw) -> dict:
    return qcc.run(qcc.import_onnx(model, **kw), feeds)


def max_error(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].shape == b[k].shape, k
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("states", ["zeros", "inputs"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("form", ["op", "cell"])
def test_fp32_matches_onnxruntime(form, direction, states, layers):
    model = lstm_model(**SIZES, layers=layers, form=form, direction=direction, states=states,
                       seed=layers)
    feeds = lstm_inputs(model, seed=3)
    ours = qcc_fp32(model, feeds)
    assert max_error(ours, reference(model, feeds)) < TOL
    dirs = 2 if direction == "bidirectional" else 1
    assert ours["y"].shape == (4, dirs, 3, 6)
    assert ours["y_h"].shape == ours["y_c"].shape == (layers * dirs, 3, 6)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_op_and_cell_forms_agree(direction):
    """The two forms are the same network: onnxruntime says so of the models, and qcc
    imports both to the same function."""
    args = dict(**SIZES, layers=2, direction=direction, states="inputs", seed=5)
    op, cell = lstm_model(**args, form="op"), lstm_model(**args, form="cell")
    assert {n.op_type for n in op.graph.node} >= {"LSTM"}
    assert "LSTM" not in {n.op_type for n in cell.graph.node}
    feeds = lstm_inputs(op, seed=4)
    assert max_error(reference(op, feeds), reference(cell, feeds)) < TOL
    assert max_error(qcc_fp32(op, feeds), qcc_fp32(cell, feeds)) < TOL


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("outputs", [("y",), ("y_h",), ("y_c",), ("y_h", "y_c"),
                                     ("y", "y_c")])
def test_output_subsets(outputs, layers):
    model = lstm_model(**SIZES, layers=layers, direction="bidirectional", states="inputs",
                       outputs=outputs)
    lstm = [n for n in model.graph.node if n.op_type == "LSTM"][-1]
    assert [bool(o) for o in lstm.output] == [o in outputs for o in ("y", "y_h", "y_c")
                                              ][:len(lstm.output)]
    feeds = lstm_inputs(model, seed=2)
    ours = qcc_fp32(model, feeds)
    assert sorted(ours) == sorted(outputs)
    assert max_error(ours, reference(model, feeds)) < TOL


def edited(model: onnx.ModelProto, *, attrs: dict | None = None,
           inputs: dict[int, str] | None = None, inits: list | None = None,
           graph_inputs: list | None = None) -> onnx.ModelProto:
    """The model with its (first) LSTM node changed; output shapes left to inference."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    node = next(n for n in m.graph.node if n.op_type == "LSTM")
    for k, v in (attrs or {}).items():
        node.attribute.append(helper.make_attribute(k, v))
    names = list(node.input) + [""] * 8
    for i, name in (inputs or {}).items():
        names[i] = name
    while not names[-1]:
        names.pop()
    del node.input[:]
    node.input.extend(names)
    m.graph.initializer.extend(inits or [])
    m.graph.input.extend(graph_inputs or [])
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    return m


def test_sequence_lens_of_full_length_and_empty_peepholes_are_accepted():
    model = lstm_model(**SIZES, states="inputs")
    full = numpy_helper.from_array(np.full(3, 4, np.int32), "lens")
    empty_p = numpy_helper.from_array(np.zeros(0, np.float32), "P")
    m = edited(model, inputs={4: "lens", 7: "P"}, inits=[full, empty_p])
    feeds = lstm_inputs(m, seed=1)
    assert max_error(qcc_fp32(m, feeds), reference(model, feeds)) < TOL


def test_a_dynamic_sequence_length_is_fixed_by_input_shape():
    model = lstm_model(**SIZES, outputs=("y",))
    for vi in (model.graph.input[0], model.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].dim_param = "seq"
    with pytest.raises(QccError, match=r"sequence length \(dimension 0 of X, graph input "
                                       r"'x'\) is dynamic \('seq'\).*--input-shape x=SEQx3x5"):
        qcc.import_onnx(model)
    feeds = lstm_inputs(lstm_model(**SIZES, outputs=("y",)), seed=0)
    ours = qcc_fp32(model, feeds, input_shapes={"x": (4, 3, 5)})
    assert max_error(ours, reference(model, feeds)) < TOL


# ----------------------------------------------------------------- refusals, via the CLI


def _refusals() -> dict[str, tuple[onnx.ModelProto, str]]:
    base = lstm_model(**SIZES, outputs=("y",))
    dynamic = lstm_model(**SIZES, outputs=("y",))
    for vi in (dynamic.graph.input[0], dynamic.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].dim_param = "seq"
    w_input = edited(base)
    w = next(t for t in w_input.graph.initializer if t.name == "l0_W")
    w_input.graph.initializer.remove(w)
    w_input.graph.input.append(helper.make_tensor_value_info("l0_W", TensorProto.FLOAT,
                                                             list(w.dims)))
    p = numpy_helper.from_array(np.zeros((1, 18), np.float32), "P")
    short = numpy_helper.from_array(np.array([4, 2, 4], np.int32), "lens")
    lens_input = helper.make_tensor_value_info("lens", TensorProto.INT32, [3])
    return {
        "layout": (edited(base, attrs={"layout": 1}),
                   "unsupported value 1 of attribute 'layout'"),
        "peephole": (edited(base, inputs={7: "P"}, inits=[p]),
                     "peephole weights P ('P', input 7) are unsupported"),
        "clip": (edited(base, attrs={"clip": 3.0}),
                 "unsupported value 3.0 of attribute 'clip'"),
        "input_forget": (edited(base, attrs={"input_forget": 1}),
                         "unsupported value 1 of attribute 'input_forget'"),
        "activations": (edited(base, attrs={"activations": ["Sigmoid", "Tanh", "Relu"]}),
                        "attribute 'activations': qcc supports the default activations"),
        "sequence_lens": (edited(base, inputs={4: "lens"}, inits=[short]),
                          "sequence_lens [4, 2, 4] (input 4) gives sequences shorter"),
        "sequence_lens_input": (edited(base, inputs={4: "lens"}, graph_inputs=[lens_input]),
                                "sequence_lens ('lens', input 4) must be a constant"),
        "non_constant_W": (w_input, "input 'l0_W' of node 'l0_lstm_node' (LSTM) must be a "
                                    "constant"),
        "dynamic_seq_len": (dynamic, "the sequence length (dimension 0 of X"),
    }


REFUSALS = _refusals()


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal_through_the_cli(case, tmp_path, capsys):
    model, message = REFUSALS[case]
    path = tmp_path / "lstm.onnx"
    onnx.save(model, path)
    out = tmp_path / "lstm.tpu"
    code = main(["compile", str(path), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error: ONNX node 'l0_lstm_node' (LSTM): " in err and message in err, err
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_refusal_in_a_real_process(tmp_path):
    model, message = REFUSALS["clip"]
    path = tmp_path / "lstm.onnx"
    onnx.save(model, path)
    p = subprocess.run([sys.executable, "-m", "qcc", "compile", str(path), "-o",
                        str(tmp_path / "lstm.tpu")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "lstm.tpu").exists()


# ----------------------------------------------------------------- compile for tpu-v1


def test_compile_through_the_cli_and_the_api(tmp_path, capsys):
    model = lstm_model(8, 16, 4, 2, seed=7)
    path, calib = tmp_path / "lstm.onnx", tmp_path / "calib.npz"
    onnx.save(model, path)
    np.savez(calib, **lstm_calibration(model, 16, seed=1))
    out, report = tmp_path / "lstm.tpu", tmp_path / "report.md"
    code = main(["compile", str(path), "--calib-data", str(calib), "-o", str(out),
                 "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "on tpu-v1:" in err and "host segment(s) run what the TPU cannot" in err
    text = report.read_text()
    assert "host segments" in text
    assert "| `nn.mul` | `l0_lstm_node.t1.hidden` | `l0_lstm_node` | host CPU | 'nn.mul' " \
           "has no integer form" in text
    assert "| `tpu.matmul` | `l0_lstm_node.x_proj_q` | `l0_lstm_node` | MXU |" in text
    assert "| `tpu.matmul` | `l0_lstm_node.t1.h_proj_q` | `l0_lstm_node` | MXU |" in text

    feeds = lstm_inputs(model, 11)
    inputs, y = tmp_path / "x.npz", tmp_path / "y.npz"
    np.savez(inputs, **feeds)
    code = main(["run", str(out), "--input", str(inputs), "--output", str(y)])
    assert code == 0, capsys.readouterr().err
    cli = dict(np.load(y))
    compiled = qcc.compile(path, calib_data=str(calib))
    assert compiled.to_bytes() == out.read_bytes()
    simulated, integer = compiled.run(feeds), qcc.run(compiled.module, feeds)
    for name in ("y", "y_h", "y_c"):
        np.testing.assert_array_equal(cli[name], simulated[name])
        np.testing.assert_array_equal(simulated[name], integer[name])
    # int8 stays near FP32 (measured: at most 0.008 on values within +-0.55)
    assert max_error(simulated, reference(model, feeds)) < 0.03


@pytest.mark.parametrize("form", ["op", "cell"])
def test_bidirectional_stack_compiles_bit_exactly(form):
    model = lstm_model(6, 8, 3, 2, layers=2, form=form, direction="bidirectional", seed=2)
    compiled = qcc.compile(qcc.import_onnx(model),
                           calib_data=lstm_calibration(model, 8, seed=3))
    feeds = lstm_inputs(model, 5)
    simulated, integer = compiled.run(feeds), qcc.run(compiled.module, feeds)
    for name in ("y", "y_h", "y_c"):
        np.testing.assert_array_equal(simulated[name], integer[name])
    # measured: at most 0.012 (op form and cell form alike) on values within +-0.74
    assert max_error(simulated, reference(model, feeds)) < 0.04


def test_calibration_stacks_whole_sequences():
    model = lstm_model(**SIZES)
    data = lstm_calibration(model, 5, seed=0)
    assert data["x"].shape == (5 * 4, 3, 5)
    first = lstm_inputs(model, seed=0)["x"]
    np.testing.assert_array_equal(data["x"][:4], first)


def test_models_are_deterministic():
    for form in ("op", "cell"):
        a = lstm_model(**SIZES, form=form, layers=2, direction="bidirectional", seed=9)
        b = lstm_model(**SIZES, form=form, layers=2, direction="bidirectional", seed=9)
        assert a.SerializeToString() == b.SerializeToString()


def test_opset_13_and_18_forms():
    for opset in (13, 18):
        for form in ("op", "cell"):
            model = lstm_model(**SIZES, layers=2, form=form, opset=opset, states="inputs")
            feeds = lstm_inputs(model, seed=1)
            assert max_error(qcc_fp32(model, feeds), reference(model, feeds)) < TOL
