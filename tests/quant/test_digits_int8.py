"""The trained digits models compiled to integer programs: accuracy against FP32, and
the integer graph against the fake-quantized graph it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.dialects import quant
from qcc.passmanager import Pipeline

ROOT = Path(__file__).resolve().parents[2]
CALIB = ROOT / "examples" / "data" / "digits_calib.npz"
MODELS = ["digits_mlp", "digits_cnn", "digits_dwsep"]
BATCH = 200


@pytest.fixture(scope="module")
def evaluation():
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        return z["input"], z["label"]


def _logits(module, x):
    return np.concatenate([qcc.run(module, {"input": x[i:i + BATCH]})["logits"]
                           for i in range(0, len(x), BATCH)])


@pytest.fixture(scope="module", params=MODELS)
def compiled(request, evaluation):
    """(fp32 logits, fake-quantized module, integer module) per-channel, minmax."""
    x, _ = evaluation
    path = ROOT / "examples" / "models" / f"{request.param}.onnx"
    fp32 = _logits(qcc.load(path, batch=BATCH), x)
    fake = qcc.quantize_model(qcc.load(path, batch=BATCH), calib_data=str(CALIB),
                              integer=False)
    integer = fake.clone()
    Pipeline.parse("fold-rescale,fuse-relu").run(integer)
    return request.param, fp32, fake, integer


def test_integer_program_is_integer(compiled):
    _, _, _, integer = compiled
    names = {op.name for op in integer.walk()}
    assert not names & {"nn.conv2d", "nn.dense", "nn.add", "nn.relu", "nn.clip",
                        "nn.global_avg_pool", "nn.batch_norm", "quant.stats"}
    # quantize at the input, dequantize at the output and nothing float between
    g = integer.main
    assert isinstance(g.args[0].uses[0].op, quant.QuantizeOp)
    assert isinstance(g.outputs[0].op, quant.DequantizeOp)


def test_accuracy_within_one_point_of_fp32(compiled, evaluation):
    name, fp32, _, integer = compiled
    x, labels = evaluation
    acc_fp32 = (fp32.argmax(1) == labels).mean()
    acc_int8 = (_logits(integer, x).argmax(1) == labels).mean()
    assert acc_int8 >= acc_fp32 - 0.01, f"{name}: {acc_int8:.4f} vs FP32 {acc_fp32:.4f}"


def test_integer_graph_matches_fake_quant(compiled, evaluation):
    """Identical output codes but for values within the multiplier's error of a tie:
    at least 99.9% identical, never more than one code apart."""
    _, _, fake, integer = compiled
    x, _ = evaluation
    out_type = integer.main.outputs[0].op.input.type.element
    codes = [np.rint(_logits(m, x) / out_type.scale).astype(np.int64) for m in (fake, integer)]
    diff = np.abs(codes[0] - codes[1])
    assert diff.max() <= 1
    assert (diff == 0).mean() >= 0.999
