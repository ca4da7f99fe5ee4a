"""The optional onnxruntime engine for float graphs (qcc/ort_float.py) against the
FP32 interpreter, the oracle: through the API (qcc.run(..., engine=), FloatSession)
and the CLI (qcc run --engine onnxruntime), and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.ort_float import FloatSession

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"


def _close(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("model", ["cnn", "depthwise_cnn", "bert"])
def test_onnxruntime_engine_matches_the_interpreter(model):
    if model == "bert":
        module = qcc.load(str(MODELS / "bert" / "tiny_bert.onnx"),
                          input_shapes={"input_ids": (2, 16)})
        inputs = dict(np.load(MODELS / "bert" / "tiny_bert_inputs.npz"))
    else:
        module = qcc.load(str(MODELS / f"{model}.onnx"), batch=4)
        x = np.random.default_rng(0).standard_normal(module.main.args[0].type.shape)
        inputs = {module.main.input_names[0]: x.astype(np.float32)}
    want = qcc.run(module, inputs)
    _close(qcc.run(module, inputs, engine="onnxruntime"), want)
    session = FloatSession(module)  # built once, run many times
    first, second = session.run(inputs), session.run(inputs)
    _close(first, want)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_inputs_are_checked_as_the_interpreter_checks_them():
    module = qcc.load(str(MODELS / "cnn.onnx"), batch=2)
    with pytest.raises(QccError, match=r"input 'input' has shape \[3, 1, 8, 8\], the model "
                                       r"expects \[2, 1, 8, 8\]"):
        FloatSession(module).run({"input": np.zeros((3, 1, 8, 8), np.float32)})


def test_an_unknown_engine_is_refused():
    module = qcc.load(str(MODELS / "cnn.onnx"), batch=1)
    with pytest.raises(QccError, match="unknown float engine 'fast'; choose one of numpy, "
                                       "onnxruntime"):
        qcc.run(module, {"input": np.zeros((1, 1, 8, 8), np.float32)}, engine="fast")


def test_cli_run_with_the_onnxruntime_engine(tmp_path, capsys):
    ours, theirs = tmp_path / "numpy.npy", tmp_path / "ort.npy"
    model = str(MODELS / "cnn.onnx")
    assert main(["run", model, "--batch", "4", "--random-input", "1", "--output",
                 str(ours)]) == 0
    assert main(["run", model, "--batch", "4", "--random-input", "1", "--engine",
                 "onnxruntime", "--output", str(theirs)]) == 0
    capsys.readouterr()
    np.testing.assert_allclose(np.load(theirs), np.load(ours), rtol=1e-5, atol=1e-6)


def test_an_integer_program_is_a_clear_cli_error(tmp_path, capsys):
    """The integer program (after fold-rescale) has no float form: exit 2, the op
    named, no traceback, no output file."""
    ir = tmp_path / "cnn_int.mlir"
    assert main(["quantize", str(MODELS / "cnn.onnx"), "--batch", "1", "--calib-data",
                 str(ROOT / "examples" / "data" / "digits_calib.npz"), "-o", str(ir)]) == 0
    capsys.readouterr()
    out = tmp_path / "out.npy"
    code = main(["run", str(ir), "--random-input", "0", "--engine", "onnxruntime",
                 "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "the onnxruntime engine runs float graphs through the ONNX exporter: " \
           "export-qdq needs the fake-quantized graph (before fold-rescale)" in err
    assert "Traceback" not in err
    assert not out.exists()
