"""Quantization that survives an attention mask: sentinel-dominated tensors stay
float (by the observed statistics or by the sentinel constant they come from), non-float
tensors are never calibrated, and the int8 attention block keeps its accuracy
(output SQNR against FP32 through qcc's interpreter; FP32 itself against
onnxruntime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import qcc
from qcc.calibration import TensorStats, calibrated_values, random_samples
from qcc.calibration.sentinel import observed_sentinel, structural_sentinels
from qcc.passmanager import PassContext, run_pipeline
from qcc.quant_report import quant_error_report, sqnr_db
from qcc.testing.attention import MASK_SENTINEL, attention_block, attention_data
from qcc.text import parse_module

PREPARE = "canonicalize,normalize-gemm,fold-batchnorm,canonicalize"


def stats_of(*arrays: np.ndarray) -> TensorStats:
    s = TensorStats("t")
    for a in arrays:
        s.update(np.asarray(a, np.float32))
    return s


def test_observed_rule_finds_masks_and_nothing_else():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(4000) * 3
    masked = np.where(rng.random(4000) < 0.3, -10000.0, 0.0)
    # the additive mask itself, and scores plus a mask (-3.4e38 and BERT's -10000)
    assert observed_sentinel(stats_of(np.zeros(50), np.full(30, MASK_SENTINEL)))
    assert observed_sentinel(stats_of(np.minimum(scores, 0) + MASK_SENTINEL, scores))
    why = observed_sentinel(stats_of(scores + masked))
    assert why and "values at about -1.00" in why
    # sentinels only in a later batch: the histogram coarsens, the rule still holds
    assert observed_sentinel(stats_of(scores, np.full(10, MASK_SENTINEL)))
    # ordinary tensors, however large, are not sentinels: no empty gap
    assert observed_sentinel(stats_of(scores)) is None
    assert observed_sentinel(stats_of(scores * 1e5)) is None
    # an outlier 20x the rest but below the 1000 floor
    assert observed_sentinel(stats_of(scores, [60.0])) is None
    # a value in the gap (between M/100 and M/2) breaks the rule
    assert observed_sentinel(stats_of(scores, [-10000.0, -400.0])) is None
    # sentinels alone (every token masked) leave nothing to protect
    assert observed_sentinel(stats_of(np.full(10, -10000.0))) is None
    assert observed_sentinel(stats_of(np.zeros(10))) is None


@pytest.fixture(scope="module")
def attention(tmp_path_factory):
    path = tmp_path_factory.mktemp("attention") / "attention.onnx"
    onnx.save(attention_block(), path)
    return str(path)


@pytest.fixture(scope="module")
def eval_batches():
    d = attention_data(24, seed=1)
    return [{"x": d["x"][i:i + 1], "mask": d["mask"][i:i + 1]} for i in range(24)]


def _output_sqnr(module, reference, batches) -> float:
    got = np.concatenate([qcc.run(module, b)["out"] for b in batches])
    ref = np.concatenate([qcc.run(reference, b)["out"] for b in batches])
    return sqnr_db(ref, got)


def test_structural_rule_follows_the_mask_to_the_softmax(attention):
    module = qcc.load(attention)
    run_pipeline(module, PREPARE)
    names = calibrated_values(module.main)
    found = {names[v] for v in structural_sentinels(module.main)}
    assert found == {"mask_add_2d", "mask_add", "scores_masked"}  # not probs: bounded


def test_fp32_matches_onnxruntime(attention, eval_batches):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(attention)
    module = qcc.load(attention)
    for b in eval_batches[:4]:
        np.testing.assert_allclose(qcc.run(module, b)["out"], sess.run(None, b)[0],
                                   atol=1e-5)


@pytest.mark.parametrize("sentinels, lo, hi", [("float", 20.0, 40.0),
                                                ("quantize", -10.0, 8.0)])
def test_int8_attention_quality(attention, eval_batches, sentinels, lo, hi):
    """The int8 program (through the interpreter) against FP32: 29.0 dB with the mask
    kept float, 3.5 dB when the mask is quantized like any tensor."""
    reference = qcc.load(attention)
    module = qcc.load(attention)
    calib = attention_data(32)
    ctx = PassContext()
    ctx.data["calibration_data"] = calib
    run_pipeline(module, f"{PREPARE},calibrate{{sentinels={sentinels}}},quantize,"
                         "fold-rescale,fuse-relu", ctx)
    assert lo < _output_sqnr(module, reference, eval_batches) < hi
    kept = ctx.data["kept_float"]
    if sentinels == "float":
        assert set(kept) == {"mask_add_2d", "mask_add", "scores_masked"}
        ops = {op.name for op in module.walk()}
        assert "nn.softmax" in ops and "nn.add" in ops  # the mask add stays float
        assert "quant.add" not in ops
    else:
        assert kept == {}


def test_calibration_without_padding_still_keeps_the_mask_float(attention, eval_batches):
    """With no padded token in the calibration data the mask is all zeros; the
    structural rule still keeps it float, so padding at inference is masked."""
    reference = qcc.load(attention)
    module = qcc.load(attention)
    calib = attention_data(32, min_tokens=8)
    assert calib["mask"].min() == 1.0
    qcc.quantize_model(module, [calib])
    assert _output_sqnr(module, reference, eval_batches) > 20.0


ADDITIVE_MASK_IR = """
module {
  func.func @main(%x: tensor<1x4xf32>, %amask: tensor<1x4xf32>) -> (tensor<1x4xf32>) {
    %w = "nn.constant"() {value = dense<[[1.0, 0.5, 0.0, 0.0], [-0.5, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %s = "nn.dense"(%x, %w) : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
    %m = "nn.add"(%s, %amask) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
    %p = "nn.softmax"(%m) {axis = 1} : (tensor<1x4xf32>) -> tensor<1x4xf32>
    return %p : tensor<1x4xf32>
  }
}
"""


def test_observed_rule_on_a_mask_given_as_input():
    """No constant to follow: the statistics alone keep the mask and the sum float."""
    module = parse_module(ADDITIVE_MASK_IR)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    amask = np.where(rng.random((16, 4)) < 0.3, -10000.0, 0.0).astype(np.float32)
    ctx = PassContext()
    ctx.data["calibration_data"] = {"x": x, "amask": amask}
    run_pipeline(module, "calibrate,quantize", ctx)
    kept = ctx.data["kept_float"]
    assert set(kept) == {"amask", "m"}
    assert "values at about -1e+04" in kept["amask"] and "others at most 4.88 in" in kept["amask"]
    quantized = {op.input.name_hint for op in module.walk() if op.name == "quant.quantize"}
    assert quantized == {"x", "s", "p"}


INT_INPUT_IR = """
module {
  func.func @main(%x: tensor<1x4xf32>, %ids: tensor<1x4xi64>) -> (tensor<1x4xf32>, tensor<4xi64>) {
    %w = "nn.constant"() {value = dense<[[1.0, 0.5, 0.0, 0.0], [-0.5, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %a = "nn.dense"(%x, %w) : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
    %r = "nn.reshape"(%ids) {shape = [4]} : (tensor<1x4xi64>) -> tensor<4xi64>
    return %a, %r : tensor<1x4xf32>, tensor<4xi64>
  }
}
"""


def test_non_float_tensors_are_never_calibrated_nor_quantized():
    module = parse_module(INT_INPUT_IR)
    assert set(calibrated_values(module.main).values()) == {"x", "a"}
    samples = random_samples(module.main, 8)
    ids = np.stack([s["ids"] for s in samples])
    assert ids.dtype == np.int64 and set(np.unique(ids)) <= {0, 1}  # valid ids and masks
    rng = np.random.default_rng(0)
    data = {"x": rng.standard_normal((8, 4)).astype(np.float32),
            "ids": rng.integers(0, 30000, (8, 4))}
    qcc.quantize_model(module, data)
    quantized = {op.input.name_hint for op in module.walk() if op.name == "quant.quantize"}
    assert quantized == {"x"}
    reshape = next(op for op in module.walk() if op.name == "nn.reshape")
    assert str(reshape.input.type) == "tensor<1x4xi64>"
    out = qcc.run(module, {"x": data["x"][:1], "ids": data["ids"][:1]})
    np.testing.assert_array_equal(out[module.main.output_names[1]], data["ids"][0])


def test_report_lists_what_stays_float(attention, eval_batches):
    module = qcc.load(attention)
    run_pipeline(module, PREPARE)
    float_module = module.clone()
    ctx = PassContext()
    ctx.data["calibration_data"] = attention_data(16)
    run_pipeline(module, "calibrate,quantize", ctx)
    report = quant_error_report(float_module, module, None, eval_batches[:4],
                                kept_float=ctx.data["kept_float"])
    text = report.to_markdown()
    assert "Kept in float" in text
    assert "| scores_masked | sentinel-dominated: computed from a constant holding " \
           "-3.403e+38" in text
    assert {e["name"] for e in report.to_json()["kept_float"]} == {
        "mask_add_2d", "mask_add", "scores_masked"}
    assert report.output_sqnr["out"] > 20.0


# --------------------------------------------------------------------------- mixed precision


def test_mixed_precision_keeps_the_worst_layers_float(attention, eval_batches):
    reference = qcc.load(attention)
    int8 = qcc.quantize_model(qcc.load(attention), [attention_data(32)])
    ctx = PassContext()
    mixed = qcc.quantize_model(qcc.load(attention), [attention_data(32)], ctx=ctx,
                               mixed_precision="auto:1")
    result = ctx.data["mixed_precision"]
    worst = next(iter(result.local_sqnr))
    assert result.kept == [worst] and result.samples == 32
    assert list(result.local_sqnr.values()) == sorted(result.local_sqnr.values())
    assert result.sqnr_mixed > result.sqnr_int8
    assert ctx.data["kept_float"][worst].startswith("mixed precision: local int8 SQNR")
    assert "mask_add" in ctx.data["kept_float"]  # the sentinel handling is still there
    # the kept layer computes in float with float weights
    op = next(op for op in mixed.walk() if op.results and op.results[0].name_hint == worst)
    assert op.name == "nn.dense" and str(op.weight.type).endswith("xf32>")
    # and the program is more accurate on held-out data too
    assert _output_sqnr(mixed, reference, eval_batches) > \
        _output_sqnr(int8, reference, eval_batches)


def test_mixed_precision_auto_stops_at_the_target():
    from qcc.passes.mixed_precision import MixedPrecision

    def run(target: float, max_layers: int = 2):
        module = parse_module(ADDITIVE_MASK_IR)
        rng = np.random.default_rng(0)
        ctx = PassContext()
        ctx.data["calibration_data"] = {
            "x": rng.standard_normal((8, 4)).astype(np.float32),
            "amask": np.where(rng.random((8, 4)) < 0.3, -1e4, 0.0).astype(np.float32)}
        run_pipeline(module, "calibrate", ctx)
        MixedPrecision(target_db=target, max_layers=max_layers).run(module, ctx)
        return ctx.data["mixed_precision"], module

    easy, _ = run(-100.0)
    assert easy.kept == [] and easy.steps == [(0, easy.sqnr_int8)] and easy.reached
    hard, module = run(500.0)
    assert [k for k, _ in hard.steps] == [0, 1, 2] and not hard.reached
    assert "NOT reached" in hard.summary()
    assert hard.sqnr_mixed == max(s for _, s in hard.steps)
    stats = {op.input.name_hint for op in module.walk() if op.name == "quant.stats"}
    assert not stats & set(hard.kept)  # quantize will leave them float


def test_mixed_precision_errors(capsys, tmp_path):
    from qcc.cli import main
    from qcc.diagnostics import QccError

    for bad in ("bad", "auto:0", "auto:x", 0):
        with pytest.raises(QccError, match=r"expected 'auto'|at least 1"):
            qcc.quantization_pipeline(mixed_precision=bad)
    model = tmp_path / "m.mlir"
    model.write_text(ADDITIVE_MASK_IR)
    out = tmp_path / "q.mlir"
    code = main(["quantize", str(model), "--mixed-precision", "auto:0", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "error: mixed precision 'auto:0'" in err and "Traceback" not in err
    assert not out.exists()
    stats = tmp_path / "s.json"
    run_pipeline(parse_module(ADDITIVE_MASK_IR),
                 f"calibrate{{random-samples=2 save-stats={stats}}}")
    with pytest.raises(QccError, match="mixed precision measures the int8 error on "
                                       "calibration data"):
        run_pipeline(parse_module(ADDITIVE_MASK_IR),
                     f"calibrate{{stats={stats}}},mixed-precision")


def test_cli_mixed_precision(capsys, tmp_path):
    from qcc.cli import main

    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    mlp = str(root / "examples" / "models" / "digits_mlp.onnx")
    calib = str(root / "examples" / "data" / "digits_calib.npz")
    out = tmp_path / "m.tpu"
    code = main(["compile", mlp, "--calib-data", calib, "-o", str(out),
                 "--mixed-precision", "auto:1"])
    err = capsys.readouterr().err
    assert code == 0 and out.exists()
    line = next(x for x in err.splitlines() if x.startswith("qcc: mixed precision: "))
    assert "kept in float _body_body.2_Relu_output_0 (1 of 4 activations)" in line
    assert "measured on 32 calibration samples" in line


def test_an_infinite_mask_constant_is_not_observed(tmp_path):
    """``scores + [0, -inf, ...]``: the sum holds -inf, which statistics refuse; it is
    computed from a sentinel constant, so it is not observed and stays float (also when
    the statistics are saved and loaded again)."""
    from onnx import TensorProto, helper, numpy_helper

    c = numpy_helper.from_array(np.array([[0, -np.inf, 0, 0]], np.float32), "c")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["m"], name="add_mask"),
         helper.make_node("Softmax", ["m"], ["p"], name="softmax", axis=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 4])], [c])
    path = tmp_path / "inf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    stats = tmp_path / "s.json"
    for kwargs in ({"calib_data": {"x": x}, "save_stats": str(stats)}, {"stats": str(stats)}):
        ctx = PassContext()
        module = qcc.quantize_model(qcc.load(str(path)), ctx=ctx, **kwargs)
        assert list(ctx.data["kept_float"]) == ["m"]
        assert "constant holding -inf" in ctx.data["kept_float"]["m"]
        p = qcc.run(module, {"x": x[:1]})["p"]
        assert p[0, 1] == 0.0 and abs(p.sum() - 1) < 0.02
