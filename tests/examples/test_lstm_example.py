"""The LSTM example of examples/lstm.py (issue 18): the committed files are what the
script writes, the model matches onnxruntime in FP32, and it compiles for tpu-v1 from
its committed calibration into a program that runs bit-exactly with the integer IR,
every LSTM time step's gate products in a host segment."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

import qcc
from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models" / "lstm"
OUTPUTS = ("y", "y_h", "y_c")


@functools.cache
def example():
    return load_script(ROOT / "examples" / "lstm.py", "qcc_examples_lstm")


def test_committed_files_are_what_the_script_writes(tmp_path, monkeypatch):
    ex = example()
    monkeypatch.setattr(ex, "HERE", tmp_path)
    assert ex.main([]) == 0
    for name in ("lstm.onnx", "lstm_calib.npz", "lstm_inputs.npz"):
        if name.endswith(".onnx"):
            assert (tmp_path / name).read_bytes() == (MODELS / name).read_bytes()
        else:
            with np.load(tmp_path / name) as new, np.load(MODELS / name) as old:
                assert sorted(new) == sorted(old) == ["x"]
                np.testing.assert_array_equal(new["x"], old["x"])
    assert onnx.load(MODELS / "lstm.onnx").graph.input[0].type.tensor_type.shape.dim[0] \
        .dim_value == 12
    assert ex.main(["--hidden", "0"]) == 2


def test_example_compiles_and_runs_bit_exactly():
    path = MODELS / "lstm.onnx"
    feeds = dict(np.load(MODELS / "lstm_inputs.npz"))
    model = onnx.load(path)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    fp32 = dict(zip(OUTPUTS, session.run(list(OUTPUTS), feeds), strict=True))
    ours = qcc.run(qcc.import_onnx(path), feeds)
    for name in OUTPUTS:
        np.testing.assert_allclose(ours[name], fp32[name], atol=1e-5)

    compiled = qcc.compile(path, calib_data=str(MODELS / "lstm_calib.npz"))
    simulated, integer = compiled.run(feeds), qcc.run(compiled.module, feeds)
    for name in OUTPUTS:
        np.testing.assert_array_equal(simulated[name], integer[name])
        # measured: at most 0.009, 0.010, 0.022 on values within 0.14, 0.26, 0.50
        assert np.max(np.abs(simulated[name] - fp32[name])) < 0.05
    totals = compiled.report().to_json()["totals"]
    # every MAC on the matrix unit; at least one host segment per step of each of the
    # 2 layers for the gate products (measured: 49, two per step and one for the outputs)
    assert totals["host_macs"] == 0
    assert totals["host_segments"] >= 2 * 12
