"""The tiny BERT of examples/bert.py (issue 16): imported with its symbolic
[batch, sequence] dimensions fixed, it runs in FP32 through the interpreter and through
``qcc run`` and matches onnxruntime to 1e-5, at both opsets, with a padded attention
mask. The committed model and inputs are what the script writes."""

from __future__ import annotations

import collections
import functools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from qcc.cli import main
from qcc.frontend import import_onnx
from qcc.frontend.onnx_ops import CONVERTERS
from qcc.interpreter import run
from qcc.ir.types import i64
from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models" / "bert"
OUTPUTS = ("last_hidden_state", "pooler_output")


@functools.cache
def bert():
    return load_script(ROOT / "examples" / "bert.py", "qcc_examples_bert")


#: GELU as written by the exporter needs Erf; until qcc has it, the tanh form is checked
GELUS = ["erf", "tanh"] if "Erf" in CONVERTERS else ["tanh"]


@functools.cache
def built(opset: int, gelu: str) -> onnx.ModelProto:
    return bert().build_bert(opset=opset, gelu=gelu)


def onnxruntime_outputs(m: onnx.ModelProto, feeds) -> list[np.ndarray]:
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(list(OUTPUTS), feeds)


@pytest.mark.parametrize("gelu", GELUS)
@pytest.mark.parametrize("opset", [17, 14])
def test_tiny_bert_matches_onnxruntime(opset, gelu):
    m = built(opset, gelu)
    feeds = bert().sample_inputs()
    assert feeds["attention_mask"][1].sum() < feeds["attention_mask"].shape[1]  # padded
    module = import_onnx(m, input_shapes={"input_ids": (2, 16)})
    got = run(module, feeds)
    for name, want in zip(OUTPUTS, onnxruntime_outputs(m, feeds), strict=True):
        assert got[name].shape == want.shape
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opset", [17, 14])
def test_shape_arithmetic_folds_away(opset):
    module = import_onnx(built(opset, "tanh"), input_shapes={"input_ids": (1, 32)})
    counts = collections.Counter(op.name for op in module.main.ops)
    # what is left of the int64 graph: the lookups of the ids (word and token type; the
    # positions are constants) and the mask's unsqueeze (and expand) before its cast:
    # every int64 value computed at run time comes from the attention mask
    assert counts["nn.gather"] == 3  # word, token type, the pooler's first token
    mask = module.main.args[1]

    def from_mask(v) -> bool:
        return v is mask or (v.op is not None and any(from_mask(o) for o in v.op.operands))

    for op in module.main.ops:
        if op.name != "nn.constant" and any(r.type.element == i64 for r in op.results):
            assert op.name in ("nn.reshape", "nn.expand") and from_mask(op.results[0])
    assert counts["nn.layer_norm" if opset == 17 else "nn.reduce_mean"] == 5 * (
        1 if opset == 17 else 2)
    assert [str(a.type) for a in module.main.args] == ["tensor<1x32xi64>"] * 3


def test_the_mask_hides_the_padding():
    m = built(17, "tanh")
    module = import_onnx(m, input_shapes={"input_ids": (2, 16)})
    feeds = bert().sample_inputs()
    padded = feeds["attention_mask"][1] == 0
    other = dict(feeds, input_ids=feeds["input_ids"].copy())
    other["input_ids"][1, padded] = 7  # different tokens where the mask is 0
    a, b = run(module, feeds), run(module, other)
    np.testing.assert_allclose(a["last_hidden_state"][1, ~padded],
                               b["last_hidden_state"][1, ~padded], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a["last_hidden_state"][1, padded],
                           b["last_hidden_state"][1, padded])


def test_files_are_deterministic_and_committed_ones_current():
    b = bert()
    assert b.build_bert().SerializeToString() == b.build_bert().SerializeToString()
    assert (MODELS / "tiny_bert.onnx").read_bytes() == b.build_bert().SerializeToString()
    committed = np.load(MODELS / "tiny_bert_inputs.npz")
    sample = b.sample_inputs()
    assert sorted(committed.files) == sorted(sample)
    for name, array in sample.items():
        assert committed[name].dtype == np.int64
        np.testing.assert_array_equal(committed[name], array)
    assert onnx.load(MODELS / "tiny_bert.onnx").opset_import[0].version == 17
    for opset in (17, 14):  # the exporter's form, with Erf: valid ONNX at both opsets
        onnx.checker.check_model(built(opset, "erf"), full_check=True)


def test_qcc_run_on_int64_inputs_from_npz(capsys, tmp_path):
    path = tmp_path / "bert.onnx"
    bert().main(["--gelu", GELUS[0], "--opset", "14", "--out", str(path)])
    out = tmp_path / "out.npz"
    inputs = MODELS / "tiny_bert_inputs.npz"
    code = main(["run", str(path), "--input-shape", "input_ids=2x16", "--input", str(inputs),
                 "--output", str(out)])
    assert code == 0
    got = np.load(out)
    want = onnxruntime_outputs(onnx.load(path), dict(np.load(inputs)))
    for name, w in zip(OUTPUTS, want, strict=True):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-5)
    capsys.readouterr()
    # random inputs: token ids, masks and types of 0 or 1, valid for any table
    code = main(["run", str(path), "--input-shape", "input_ids=1x8", "--random-input", "3"])
    assert code == 0 and "pooler_output: float32[1, 32]" in capsys.readouterr().out
    # a float mask where int64 is expected: the input, expected and given dtype
    bad = tmp_path / "bad.npz"
    np.savez(bad, **dict(np.load(inputs), attention_mask=np.ones((2, 16), np.float32)))
    code = main(["run", str(path), "--input-shape", "input_ids=2x16", "--input", str(bad)])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "error: input 'attention_mask' has dtype float32, the model expects int64\n"
    # the sequence dimension left open: which input and dimension, and the option
    code = main(["import", str(path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ONNX input 'input_ids': graph input 'input_ids' has a "
                          "dynamic dimension 1 ('sequence'); qcc needs static shapes: fix "
                          "it with --input-shape input_ids=1xsequence")
    assert "Traceback" not in err and err.count("error:") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--hidden", "30", "--heads", "4"], "hidden 30 is not a multiple of heads 4"),
    (["--layers", "0"], "sizes must be at least 1: layers 0"),
    (["--out", "{tmp}/missing/b.onnx"], "No such file or directory"),
])
def test_the_builder_script_reports_bad_arguments(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "b.onnx")]
    assert bert().main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "b.onnx").exists()
