"""`qcc explore`: the sweep's tables, JSON, Markdown, recommendation and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qcc.cli import main
from qcc.exploration import (
    eval_batch_size,
    explore,
    mcnemar,
    recommend,
    to_markdown,
    wilson_interval,
)

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
EVAL = str(ROOT / "examples" / "data" / "digits_eval.npz")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One CLI sweep of the digits MLP on a real and a what-if target, two batches."""
    out = tmp_path_factory.mktemp("explore")
    code = main(["explore", MLP, "--calib-data", CALIB, "--eval-data", EVAL, "--targets",
                 "tpu-v1,tpu-v1-hbm", "--batch", "1,8", "--jobs", "2", "--out", str(out)])
    assert code == 0
    return out, json.loads((out / "explore.json").read_text())


def test_explore_cli_tables(sweep, capsys):
    out, data = sweep
    assert len(data["quality"]) == 2 * 5  # granularities x methods (four and auto)
    assert len(data["rows"]) == 2 * 5 * 2 * 2  # ... x targets x batches
    assert data["fp32"] == {"accuracy": 0.9925, "samples": 400, "correct": 397}
    for q in data["quality"]:
        assert q["error"] is None and q["samples"] == 400
        assert 0.97 <= q["accuracy"] <= 1.0 and q["correct"] == round(q["accuracy"] * 400)
        assert q["layer_sqnr_db"] and all(v > 10 for v in q["layer_sqnr_db"].values())
    hbm = [r for r in data["rows"] if r["target"] == "tpu-v1-hbm"]
    assert hbm and all(r["what_if"] for r in hbm)
    assert not any(r["what_if"] for r in data["rows"] if r["target"] == "tpu-v1")
    md = (out / "explore.md").read_text()
    for section in ("## Accuracy and SQNR per configuration", "## Performance per target "
                    "and batch", "## Per-layer SQNR", "## All configurations",
                    "## Recommendation", "latency-only choice"):
        assert section in md
    assert "FP32 accuracy: 99.25% (397 of 400) on all 400 samples" in md
    assert "tpu-v1-hbm (what-if)" in md


def test_recommendation_maximizes_perf_per_watt_on_real_targets(sweep):
    _, data = sweep
    rec = data["recommendation"]
    ok = [r for r in data["rows"] if 100 * (0.9925 - r["accuracy"]) <= 0.5 + 1e-9]
    real = [r for r in ok if not r["what_if"]]
    c = rec["choice"]
    assert not c["what_if"]
    assert c["inferences_per_s_per_w"] == max(r["inferences_per_s_per_w"] for r in real)
    assert rec["latency_only"]["latency_us"] == min(r["latency_us"] for r in real)
    # at batch 8 the same program runs 8 inferences for little more energy
    assert c["batch"] == 8 and rec["latency_only"]["batch"] == 1
    lo, hi = rec["interval"]
    assert lo < c["accuracy"] < hi
    assert 0 <= rec["vs_fp32"]["p_value"] <= 1


def test_recommendation_limits(sweep):
    _, data = sweep
    data["_correct"] = {}
    with_what_if = recommend(data, 0.5, include_what_if=True)
    assert with_what_if["choice"]["target"] == "tpu-v1-hbm"
    fastest = min(r["latency_us"] for r in data["rows"] if r["target"] == "tpu-v1")
    limited = recommend(data, 0.5, max_latency_us=fastest)
    assert limited["choice"]["latency_us"] <= fastest
    assert recommend(data, 0.5, max_latency_us=fastest / 2)["choice"] is None
    assert "recommendation: no configuration" in to_markdown(
        data, recommend(data, 0.5, max_latency_us=fastest / 2))


def test_statistics():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(396, 400)
    assert 0.97 < lo < 0.99 < hi < 1.0
    assert mcnemar([1, 1, 0], [1, 1, 0]) == {"only_a": 0, "only_b": 0, "p_value": 1.0}
    # 5 discordant pairs, all one way: two-sided 2 * 0.5**5
    r = mcnemar([1] * 5 + [0] * 3, [0] * 5 + [0] * 3)
    assert (r["only_a"], r["only_b"]) == (5, 0) and r["p_value"] == pytest.approx(0.0625)


def test_every_sample_is_evaluated(tmp_path):
    """499 samples: three runs of 167, the last padded; the accuracy is the one of a
    single run over all 499."""
    import qcc

    data = tmp_path / "eval.npz"
    with np.load(EVAL) as z:
        x, y = z["input"][:399], z["label"][:399]
    x, y = np.concatenate([x, x[:100]]), np.concatenate([y, y[:100]])
    np.savez(data, input=x, label=y)
    assert eval_batch_size(499) == 167 and eval_batch_size(400) == 200
    result = explore(MLP, CALIB, str(data), methods=("minmax",),
                     granularities=("per-tensor",), jobs=1, progress=False)
    (q,) = result["quality"]
    assert result["fp32"]["samples"] == 499 and q["samples"] == 499
    m = qcc.load(MLP, batch=499)
    qcc.quantize_model(m, calib_data=CALIB, method="minmax", granularity="per-tensor")
    pred = qcc.run(m, {"input": x})["logits"].argmax(1)
    assert q["correct"] == int((pred == y).sum())


def test_a_target_that_cannot_compile_keeps_the_accuracy_rows(tmp_path):
    """A configuration the target cannot compile keeps its quality figures; the error
    goes in its performance rows."""
    small = tmp_path / "tiny.toml"
    small.write_text('inherits = "tpu-v1"\nname = "tpu-v1-tiny"\n'
                     'description = "weight memory too small for any model"\n'
                     '[weight_memory]\ncapacity_bytes = 1024\n')
    result = explore(MLP, CALIB, EVAL, targets=(str(small),), methods=("minmax", "mse"),
                     granularities=("per-tensor",), jobs=1, progress=False)
    assert [q["error"] for q in result["quality"]] == [None, None]
    assert all(q["accuracy"] > 0.97 for q in result["quality"])
    assert len(result["performance"]) == 2
    assert all(p["error"] for p in result["performance"])
    md = to_markdown(result, recommend(result, 0.5))
    assert "cannot compile" in md and "recommendation: no configuration" in md


def test_explore_without_labels_uses_agreement(tmp_path):
    data = tmp_path / "x.npz"
    with np.load(EVAL) as z:
        np.savez(data, input=z["input"][:50])
    result = explore(MLP, CALIB, str(data), methods=("minmax",), granularities=("per-tensor",),
                     jobs=1, progress=False)
    assert result["fp32"]["accuracy"] is None
    (row,) = result["rows"]
    assert row["accuracy"] is None and 0.9 <= row["agreement"] <= 1.0
    rec = recommend(result, 100.0)
    assert rec["choice"] is not None and rec["key"] == "agreement"


def test_plots_encode_method_and_granularity(sweep):
    """Every plot's legend names each calibration method, each granularity and each
    target; the roofline has one labelled panel per target."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from qcc.exploration import accuracy_figures, roofline_figure

    out, data = sweep
    figs = accuracy_figures(data)
    # markers sit at the true figures (no offsets that would invent differences)
    _, fig = figs[0]
    row = next(r for r in data["rows"] if r["target"] == "tpu-v1" and r["batch"] == 1
               and r["method"] == "minmax" and r["granularity"] == "per-tensor")
    points = {tuple(np.round(c.get_offsets()[0], 6)) for c in fig.axes[0].collections}
    assert (round(row["latency_us"], 6), round(100 * row["accuracy"], 6)) in points
    assert [name for name, _ in figs] == ["accuracy_vs_latency.png", "perf_per_watt.png"]
    for _, fig in figs:
        labels = {t.get_text() for leg in fig.legends for t in leg.get_texts()}
        for m in ("minmax", "percentile", "entropy", "mse", "auto"):
            assert f"calibration {m}" in labels
        assert {"per-tensor weights (hollow)", "per-channel weights (filled)",
                "target tpu-v1", "target tpu-v1-hbm (what-if)"} <= labels
        # one panel per target and batch, every configuration on each, at its place
        assert [ax.get_title() for ax in fig.axes] == [
            "tpu-v1, batch 1", "tpu-v1, batch 8", "tpu-v1-hbm (what-if), batch 1",
            "tpu-v1-hbm (what-if), batch 8"]
        for ax in fig.axes:
            assert len(ax.collections) == 10
        plt.close(fig)
    fig = roofline_figure(data)
    assert [ax.get_title() for ax in fig.axes] == ["tpu-v1", "tpu-v1-hbm (what-if)"]
    for ax, layers in zip(fig.axes, [t["layers"] for t in data["roofline"]["targets"].values()],
                          strict=True):
        assert len(ax.texts) == len(layers) > 0
    plt.close(fig)
    for name in ("accuracy_vs_latency.png", "perf_per_watt.png", "roofline.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explore_errors(capsys, tmp_path):
    assert main(["explore", MLP, "--batch", "0"]) == 2
    assert "batch sizes must be positive" in capsys.readouterr().err
    assert main(["explore", MLP, "--calib-data", CALIB, "--targets", "tpu-v9"]) == 2
    assert "tpu-v9" in capsys.readouterr().err
    assert main(["explore", MLP, "--calib-data", CALIB, "--methods", "minmax,best"]) == 2
    assert "unknown calibration method 'best'" in capsys.readouterr().err
    assert main(["explore", MLP, "--calib-data", CALIB, "--granularities", "per-row"]) == 2
    assert "unknown granularity 'per-row'" in capsys.readouterr().err
    assert main(["explore", MLP, "--calib-data", CALIB, "--max-latency-us", "-1"]) == 2
    assert "--max-latency-us -1.0: expected a positive" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=np.zeros((3, 1, 8, 8), np.float32))
    assert main(["explore", MLP, "--calib-data", CALIB, "--eval-data", str(bad),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "has no array 'input'" in err and "it has pixels" in err
    assert not (tmp_path / "o").exists()


def test_trained_flatten_fc_cnn_on_500_samples():
    """The network the issue reports (conv -> maxpool -> flatten -> FC, trained), with
    500 labelled evaluation samples: every sample is used and every calibration method
    runs the same program in the same time (max-pool and flatten inherit their input's
    quantization), so latency differences between methods are none."""
    model = str(ROOT / "examples" / "models" / "digits_convfc.onnx")
    result = explore(model, str(ROOT / "examples" / "data" / "digits_convfc_calib.npz"),
                     str(ROOT / "examples" / "data" / "digits_convfc_eval.npz"),
                     batches=(1, 64), granularities=("per-tensor",), jobs=2, progress=False)
    assert result["fp32"]["samples"] == 500 and result["fp32"]["correct"] == 494
    assert [q["samples"] for q in result["quality"]] == [500] * 5  # four methods and auto
    assert not any(r["error"] for r in result["rows"])
    for batch in (1, 64):
        lat = {r["method"]: r["latency_us"] for r in result["rows"] if r["batch"] == batch}
        assert len(set(lat.values())) == 1, lat
    assert result["differences"] == []
    assert "every configuration runs the same instructions" in to_markdown(
        result, recommend(result, 0.5))


def test_a_model_with_a_fixed_batch(tmp_path):
    """An export without a dynamic batch dimension (batch 1): evaluated one sample at a
    time, timed at batch 1; other batch sizes get an error row saying why."""
    import onnx

    m = onnx.load(MLP)
    for v in (*m.graph.input, *m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = 1
    fixed = tmp_path / "mlp_b1.onnx"
    onnx.save(m, fixed)
    data = tmp_path / "eval.npz"
    with np.load(EVAL) as z:
        np.savez(data, input=z["input"][:37], label=z["label"][:37])
    result = explore(str(fixed), CALIB, str(data), batches=(1, 8), methods=("minmax",),
                     granularities=("per-tensor",), jobs=1, progress=False)
    (q,) = result["quality"]
    assert q["error"] is None and q["samples"] == 37 and result["fp32"]["samples"] == 37
    ok, bad = result["performance"]
    assert ok["batch"] == 1 and ok["error"] is None and ok["latency_us"] > 0
    assert bad["batch"] == 8 and "batch dimension is fixed at 1" in bad["error"]
    assert result["roofline"]["configuration"]["batch"] == 1


def test_the_recommendation_says_how_to_build_it(sweep, capsys, tmp_path, monkeypatch):
    """explore writes its statistics (and auto's choices) beside explore.json; the
    printed qcc compile builds the recommended program with explore's figures, auto's
    included."""
    import shlex

    out, data = sweep
    assert (out / "stats.json").exists() and (out / "auto-per-channel.json").exists()
    rec = data["recommendation"]
    cmd = shlex.split(rec["command"])
    assert cmd[:2] == ["qcc", "compile"] and "--stats" in cmd
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(cmd[1:]) == 0
    err = capsys.readouterr().err
    c = rec["choice"]
    assert f"{c['latency_us']:.1f} us per batch of {c['batch']}" in err
    auto = next(r for r in data["rows"] if r["method"] == "auto" and r["target"] == "tpu-v1"
                and r["batch"] == 8 and r["granularity"] == "per-channel")
    from qcc.exploration import reproduce_command

    cmd = shlex.split(reproduce_command(data, auto, out))
    assert "--auto-choice" in cmd
    assert main([*cmd[1:], "-o", str(tmp_path / "auto.tpu")]) == 0
    assert f"{auto['latency_us']:.1f} us per batch of 8" in capsys.readouterr().err
    assert main(["compile", MLP, "--calibration", "mse", "--auto-choice",
                 str(out / "auto-per-channel.json"), "-o", str(tmp_path / "x.tpu")]) == 2
    assert "--auto-choice) applies to --calibration auto" in capsys.readouterr().err


def test_labels_are_checked(tmp_path, capsys):
    """One-hot labels count as class indices; labels outside the model's classes, or of
    another shape, are bad input (exit 2), not an internal error or a silent 0%."""
    with np.load(EVAL) as z:
        x, y = z["input"][:30], z["label"][:30]
    onehot = tmp_path / "onehot.npz"
    np.savez(onehot, input=x, label=np.eye(10, dtype=np.int64)[y])
    r = explore(MLP, CALIB, str(onehot), methods=("minmax",), granularities=("per-tensor",),
                jobs=1, progress=False)
    plain = tmp_path / "plain.npz"
    np.savez(plain, input=x, label=y)
    r2 = explore(MLP, CALIB, str(plain), methods=("minmax",), granularities=("per-tensor",),
                 jobs=1, progress=False)
    assert r["fp32"] == r2["fp32"] and r["quality"][0]["correct"] == r2["quality"][0]["correct"]
    for name, label, message in (("big", y + 5, "label(s) outside the model's 10 classes"),
                                 ("shape", np.zeros((30, 3)), "is not one class index")):
        bad = tmp_path / f"{name}.npz"
        np.savez(bad, input=x, label=label)
        assert main(["explore", MLP, "--calib-data", CALIB, "--eval-data", str(bad),
                     "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, input=np.zeros((5, 1, 6, 6), np.float32))
    assert main(["explore", MLP, "--calib-data", CALIB, "--eval-data", str(wrong)]) == 2
    assert "'input' holds 5 samples of shape [1, 6, 6]; the model's input 'input' takes " \
           "samples of shape [1, 8, 8]" in capsys.readouterr().err


def test_no_recommendation_says_what_is_closest(sweep):
    _, data = sweep
    rec = recommend(data, 0.0, max_latency_us=1.0)
    assert rec["choice"] is None
    from qcc.exploration import recommendation_lines

    text = "\n".join(recommendation_lines(rec))  # both limits rule everything out
    assert "accuracy rules every configuration out" in text
    assert "--max-accuracy-drop 0.25 would admit it" in text
    assert "takes 7.09 us per batch (--max-latency-us 1); both limits must be relaxed" in text
    # only the latency limit: no accuracy hint (the trial saw a negative drop suggested)
    text = "\n".join(recommendation_lines(recommend(data, 0.5, max_latency_us=1.0)))
    assert "accuracy rules" not in text and "--max-accuracy-drop" not in text
    assert "latency rules out every configuration within the accuracy budget" in text
