"""benchmarks/transformers_report.py on a tiny BERT-shaped encoder built here (int64
token ids, an embedding Gather, an additive -3.4e38 attention mask, a projection): the
whole report (onnxruntime FP32 and its quantizations, the qcc attempt, the JSON and
the markdown) runs on it as it runs on the real MiniLM export."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcc.testing.scripts import load_script

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]


def _import(path: Path, name: str):
    return load_script(path, name)


report = _import(ROOT / "benchmarks" / "transformers_report.py", "qcc_bench_transformers_report")
minilm = report.minilm

VOCAB, HIDDEN, SEQ = 40, 16, 8
SENTINEL = np.float32(np.finfo(np.float32).min)


def tiny_encoder(seed: int = 0) -> onnx.ModelProto:
    """Embeddings of token and token-type ids, one masked self-attention, a projection:
    last_hidden_state [batch, sequence, HIDDEN], dynamic batch and sequence."""
    rng = np.random.default_rng(seed)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    def const(name: str, value: np.ndarray) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))

    nodes = [
        helper.make_node("Gather", ["word", "input_ids"], ["we"]),
        helper.make_node("Gather", ["ttype", "token_type_ids"], ["te"]),
        helper.make_node("Add", ["we", "te"], ["emb"]),
        # mask [b, s] -> [b, 1, 1, s] of 0 / finfo.min, as transformers' eager path
        const("axes", np.array([1, 2], np.int64)),
        helper.make_node("Unsqueeze", ["attention_mask", "axes"], ["m4"]),
        const("zero_i", np.array(0, np.int64)),
        helper.make_node("Equal", ["m4", "zero_i"], ["pad"]),
        const("zero_f", np.array(0.0, np.float32)),
        const("neg", np.array(SENTINEL)),
        helper.make_node("Where", ["pad", "neg", "zero_f"], ["mask_add"]),
        # one head: scores = (emb Wq)(emb Wk)^T / 4 + mask, softmax, x (emb Wv)
        helper.make_node("MatMul", ["emb", "wq"], ["q"]),
        helper.make_node("MatMul", ["emb", "wk"], ["k"]),
        helper.make_node("MatMul", ["emb", "wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        const("scale", np.array(0.25, np.float32)),
        helper.make_node("Mul", ["s", "scale"], ["ss"]),
        const("squeeze_axes", np.array([1], np.int64)),
        helper.make_node("Squeeze", ["mask_add", "squeeze_axes"], ["mask3"]),
        helper.make_node("Add", ["ss", "mask3"], ["sm"]),
        helper.make_node("Softmax", ["sm"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["att"]),
        helper.make_node("MatMul", ["att", "wo"], ["proj"]),
        helper.make_node("Add", ["proj", "bo"], ["last_hidden_state"]),
    ]
    dyn = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes, "tiny_encoder",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dyn) for n in minilm.INPUT_NAMES],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       [*dyn, HIDDEN])],
        [init("word", VOCAB, HIDDEN), init("ttype", 2, HIDDEN), init("wq", HIDDEN, HIDDEN),
         init("wk", HIDDEN, HIDDEN), init("wv", HIDDEN, HIDDEN), init("wo", HIDDEN, HIDDEN),
         init("bo", HIDDEN)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def tiny_inputs(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, SEQ + 1, size=n)
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1, VOCAB, size=(n, SEQ)).astype(np.int64) * mask
    return {"input_ids": ids, "attention_mask": mask,
            "token_type_ids": np.zeros((n, SEQ), np.int64)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A directory laid out as examples/minilm.py writes it, with the tiny encoder."""
    d = tmp_path_factory.mktemp("tiny_minilm")
    onnx.save(tiny_encoder(), d / minilm.MODEL_FILE)
    calib, evaluation = tiny_inputs(6, 1), tiny_inputs(12, 2)
    np.savez(d / minilm.DATA_FILE, **{f"calib_{k}": v for k, v in calib.items()},
             **{f"eval_{k}": v for k, v in evaluation.items()})
    meta = {
        "source": "tests: a tiny BERT-shaped encoder", "sha256": minilm.sha256_file(
            d / minilm.MODEL_FILE), "bytes": (d / minilm.MODEL_FILE).stat().st_size,
        "export": {"exporter": "onnx.helper", "opset": 17, "attention": "eager"},
        "versions": {"torch": "none", "transformers": "none"},
        "data": {"file": minilm.DATA_FILE, "sentences_sha256": minilm.sha256_file(
            minilm.sentence_data.OUT), "sequence_length": SEQ, "calibration": 6,
            "evaluation": 12, "mean_tokens": 5.0, "truncated": 0},
    }
    (d / minilm.META_FILE).write_text(json.dumps(meta))
    return d


@pytest.fixture(scope="module")
def built(model_dir) -> dict:
    return report.build(model_dir, runs=1, latency_sentences=2,
                        configs=[{"granularity": "per-channel", "method": "minmax"}])


def test_inventory_finds_int64_inputs_and_the_mask_sentinel(model_dir):
    inv = report.graph_inventory(model_dir / minilm.MODEL_FILE)
    assert inv["opset"] == {"ai.onnx": 17}
    assert [(v["name"], v["dtype"], v["shape"]) for v in inv["inputs"]] == [
        (n, "int64", ["batch", "sequence"]) for n in minilm.INPUT_NAMES]
    assert inv["op_types"]["MatMul"] == 6 and inv["op_types"]["Where"] == 1
    assert inv["initializers"] == {"float": 7}
    assert inv["constant_nodes"] == {"int64": 3, "float": 3}
    (s,) = inv["mask_sentinels"]
    assert s["value"] == float(SENTINEL) and s["used_by"] == {"Where": 1}
    assert s["then_by"] == {"Squeeze": 1}


def test_report_rows(built):
    rows = {r["name"]: r for r in built["rows"]}
    ref = rows["onnxruntime FP32"]
    assert ref["mean_cosine"] == pytest.approx(1.0) and ref["nn_agreement"] == 1.0
    ort_names = [n for n, r in rows.items() if r["group"] == "onnxruntime"]
    assert len(ort_names) == 5
    pre = rows["ort quantize_static, defaults, pre-processed"]
    if importlib.util.find_spec("sympy") is None:  # onnxruntime's pre-processing needs it
        assert "sympy" in pre["error"]
        ort_names.remove(pre["name"])
    for name in ["onnxruntime FP32", *ort_names]:
        r = rows[name]
        assert "error" not in r, r
        assert -1.0 <= r["min_cosine"] <= r["mean_cosine"] <= 1.0 + 1e-9
        assert 0.0 <= r["nn_agreement"] <= 1.0 and r["latency_ms"] > 0
    # the default static quantization meets the -3.4e38 mask: per-tensor ranges wrecked
    default = rows["ort quantize_static, defaults"]
    assert default["mean_cosine"] < 0.99
    top = default["largest_activation_scales"][0]
    assert top["scale"] > 1e35, default["largest_activation_scales"]
    assert "largest_activation_scales" not in rows["ort quantize_dynamic, per tensor"]
    qcc_rows = [r for r in built["rows"] if r["group"] == "qcc"]
    assert qcc_rows and all(("error" in r) != ("mean_cosine" in r) for r in qcc_rows)
    # the tiny encoder compiles for the TPU: its MatMuls by constants on the matrix unit,
    # the binary bit-exact with the integer IR on the spot sentences
    (q,) = qcc_rows
    assert "error" not in q, q
    assert q["mxu_matmuls"] > 0 and q["host_dense"] == 0 and 0 < q["mxu_mac_share"] < 1
    assert q["bit_exact_sentences"] == q["spot_sentences"] == report.SPOT_SENTENCES
    assert set(q["latency_ms_by_target"]) == set(report.TARGETS)
    for t, split in q["split_ms_by_target"].items():  # the split adds up on each target
        assert sum(split.values()) == pytest.approx(q["latency_ms_by_target"][t], abs=2e-4)
    assert q["layer_sqnr"] and {"tensor", "op", "sqnr_integer_db"} <= set(q["layer_sqnr"][0])


def test_report_files_have_no_absolute_paths(built, model_dir, tmp_path):
    text = json.dumps(built)
    assert str(model_dir) not in text and "/tmp" not in text
    md = report.markdown(built)
    assert md.startswith("# Transformers") and f"`{report.COMMAND}`" in md
    assert "| ort quantize_dynamic, per channel |" in md
    assert str(model_dir) not in md
    assert "holds -3.4028235e+38, read by 1 Where" in md


def test_evaluate_row_reports_errors_not_crashes():
    ref = minilm.l2_normalize(np.eye(3))
    inputs = {"attention_mask": np.ones((3, 2), np.int64)}

    def broken(_):
        raise RuntimeError("no kernel\nsecond line")

    row = report.evaluate_row("broken", "test", broken, ref, inputs)
    assert row["error"] == "RuntimeError: no kernel"
    assert row["where"].startswith('File "tests/benchmarks/test_transformers_report.py"')
    row = report.evaluate_row("broken", "qcc", broken, ref, inputs)
    assert row["error"] == "internal error: RuntimeError: no kernel"
    row = report.evaluate_row("short", "test", lambda _: ref[:2], ref, inputs)
    assert "embeddings of shape (2, 3), expected (3, 3)" in row["error"]
    row = report.evaluate_row("same", "test", lambda _: ref * 2, ref, inputs,
                              latency_s=lambda: 0.002)
    assert row["mean_cosine"] == pytest.approx(1.0) and row["latency_ms"] == 2.0


def test_error_problems_groups_qcc_import_problems(tmp_path):
    import qcc

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [])
    graph = helper.make_graph([helper.make_node("Det", ["x"], ["y"], name="d1"),
                               helper.make_node("Det", ["x"], ["z"], name="d2")],
                              "dets", [x], [y, z])
    path = tmp_path / "dets.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    report._PATHS[:] = [str(tmp_path)]
    with pytest.raises(qcc.QccError) as info:
        qcc.import_onnx(str(path))
    assert report.error_line(info.value).startswith("error: 'dets.onnx'")
    problems = report.error_problems(info.value)
    assert problems == {"Det: op type 'Det' is unsupported (supported op types below)": 2}


def test_main_writes_both_files(model_dir, tmp_path, capsys):
    out_json, out_md = tmp_path / "t.json", tmp_path / "t.md"
    assert report.main(["--dir", str(model_dir), "--runs", "1", "--latency-sentences", "1",
                        "--qcc", "none", "--json", str(out_json), "--doc", str(out_md)]) == 0
    assert json.loads(out_json.read_text())["data"]["evaluation"] == 12
    assert "## Embedding quality and latency" in out_md.read_text()
    assert "ort quantize_static, MatMul only" in capsys.readouterr().out
    out_md.unlink()
    assert report.main(["--doc-only", "--json", str(out_json), "--doc", str(out_md)]) == 0
    assert "## Embedding quality and latency" in out_md.read_text()
