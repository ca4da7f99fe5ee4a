"""``--calibration auto`` (qcc/calibration/auto.py: the method per activation whose
range gives the least output error) and the calibration-set sufficiency check
(qcc/calibration/sufficiency.py), on the trained digits models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.calibration import METHODS, CalibrationData, Collector, calibrated_values, compute_range
from qcc.calibration.auto import FakeQuantRunner, choose_methods, grid_of
from qcc.calibration.sufficiency import (
    Movement,
    SufficiencyResult,
    check_sufficiency,
    checkpoints,
)
from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.dialects import quant
from qcc.interpreter import run
from qcc.ir.types import i8
from qcc.passes.calibrate import record_ranges
from qcc.passes.quantize import Quantize
from qcc.passmanager import PassContext

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
MLP = MODELS / "digits_mlp.onnx"
CNN = MODELS / "digits_cnn.onnx"
CALIB = ROOT / "examples" / "data" / "digits_calib.npz"


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    with np.load(CALIB) as z:
        return z["input"]


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory, images) -> Path:
    path = tmp_path_factory.mktemp("calib") / "calib40.npz"
    np.savez(path, input=images[:40])
    return path


#: the float clean-up `qcc quantize` runs first
PREPARE = "canonicalize,normalize-gemm,fold-batchnorm,canonicalize"


@pytest.fixture(scope="module")
def auto_cnn(images):
    """digits_cnn at batch 20, auto on 60 calibration images, weights per tensor
    (256-bin histograms: entropy and mse search fewer candidates)."""
    m = qcc.load(CNN, batch=20)
    ctx = PassContext({"calibration_data": {"input": images[:60]}})
    qcc.run_pipeline(m, f"{PREPARE},calibrate{{method=auto num-bins=256 "
                        "granularity=per-tensor}", ctx)
    return m, ctx


def test_auto_chooses_a_method_per_tensor_and_is_never_worse(auto_cnn):
    _, ctx = auto_cnn
    result = ctx.data["calibration_auto"]
    cal = ctx.data["calibration"]
    assert cal.method == "auto"
    # every quantized activation has a method, and its range is that method's
    assert set(ctx.data["calibration_choice"]) == set(cal.ranges) == set(cal.methods)
    for name, method in cal.methods.items():
        assert method in METHODS
        assert cal.ranges[name] == compute_range(cal.stats[name], method, num_bins=256)
    assert result.measured and set(result.measured) <= set(result.choice)
    for name in result.measured:
        errs = result.errors[name]
        assert set(errs) == set(METHODS)
        assert errs[result.choice[name]] == min(errs.values()) or result.fallback
    # the guarantee: no uniform method measures better than the per-tensor choice
    assert set(result.uniform_sqnr) == set(METHODS)
    assert result.auto_sqnr >= max(result.uniform_sqnr.values())
    assert result.samples == 60
    assert ctx.statistics["calibrate"]["auto-tensors-measured"] == len(result.measured)
    assert "calibration auto: per tensor" in result.summary()


def test_fake_quant_runner_matches_the_interpreter_on_quantized_graphs(images):
    """The evaluator auto measures with computes what the interpreter computes on the
    graph `quantize` makes: exactly at the ranges the copy was quantized with, and
    to within the bias rounding at other ranges."""
    m = qcc.load(CNN, batch=8)
    qcc.run_pipeline(m, PREPARE)
    ctx = PassContext({"calibration_data": {"input": images[:16]}})
    qcc.run_pipeline(m, "calibrate", ctx)
    stats = ctx.data["calibration"].stats
    x = {"input": images[16:24]}

    def quantized(ranges):
        q = m.clone()
        names = {n: v for v, n in calibrated_values(q.main).items()}
        record_ranges(q.main, {names[n]: n for n in ranges}, ranges)
        Quantize(granularity="per-channel").run(q, PassContext())
        return q

    base = {n: compute_range(s, "minmax") for n, s in stats.items()}
    assert ctx.data["calibration"].ranges == base
    fq = quantized(base)
    # find each activation's quantize op by its name (quantize names it <tensor>_q)
    names = {v.name_hint: n for v, n in calibrated_values(m.main).items()}
    tunable = {op: names[op.results[0].name_hint.removesuffix("_q")]
               for op in fq.main.ops if isinstance(op, quant.QuantizeOp)}
    runner = FakeQuantRunner(fq, tunable)
    assert len(runner.tunable) >= 5

    def runner_outputs(ranges):
        grids = {n: grid_of(q.operands[0].type, *ranges[n], i8)
                 for q, n in runner.tunable.items()}
        env = runner.start(x)
        return runner.advance(env, 0, len(runner.ops), grids)

    want = list(run(fq, x).values())
    got = runner_outputs(base)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)
    other = {n: compute_range(s, "percentile", percentile=99.0) for n, s in stats.items()}
    assert other != base
    want = list(run(quantized(other), x).values())
    got = runner_outputs(other)
    fp32 = list(run(m, x).values())
    for a, b, f in zip(want, got, fp32, strict=True):
        noise_a = float(np.sum((f - a) ** 2))
        noise_b = float(np.sum((f - b) ** 2))
        assert abs(noise_a - noise_b) <= 0.02 * noise_a
        np.testing.assert_allclose(a, b, atol=0.05 * float(np.abs(f).max()))


def test_choose_methods_directly_never_worse_than_uniform(images):
    m = qcc.load(MLP, batch=25)
    ctx = PassContext({"calibration_data": {"input": images[:50]}})
    qcc.run_pipeline(m, "canonicalize,normalize-gemm,calibrate{num-bins=256}", ctx)
    stats = ctx.data["calibration"].stats
    batches = list(CalibrationData(m.main, {"input": images[:50]}).batches())
    result = choose_methods(m, list(stats),
                            lambda n, meth: compute_range(stats[n], meth, num_bins=256),
                            batches, granularity="per-tensor")
    assert set(result.choice) == set(stats)
    assert result.auto_sqnr >= max(result.uniform_sqnr.values())
    assert result.samples == 50


def test_auto_with_statistics_needs_data(tmp_path, small_npz, capsys):
    saved = tmp_path / "s.json"
    assert main(["quantize", str(MLP), "--calib-data", str(small_npz), "--save-stats",
                 str(saved), "-o", str(tmp_path / "a.mlir")]) == 0
    capsys.readouterr()
    out = tmp_path / "b.mlir"
    code = main(["quantize", str(MLP), "--stats", str(saved), "--calibration", "auto",
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "statistics loaded from a file are not enough" in err
    assert "--calib-data with --stats" in err and "Traceback" not in err
    # stats and data together: auto measures on the data
    report = tmp_path / "r.json"
    code = main(["quantize", str(MLP), "--stats", str(saved), "--calib-data", str(small_npz),
                 "--calibration", "auto", "--report", str(report), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and out.exists()
    assert "qcc: calibration auto: per tensor" in err
    data = json.loads(report.read_text())
    assert data["calibration"] == "auto"
    assert {r["method"] for r in data["layers"]} <= set(METHODS)
    assert all("method" in r for r in data["layers"])
    assert data["calibration_auto"].startswith("calibration auto:")
    # statistics from a file: the sufficiency is not measured, and says so
    assert data["calibration_sufficiency"]["not_measured"] == "statistics loaded from a file"
    # a fixed method still refuses both
    code = main(["quantize", str(MLP), "--stats", str(saved), "--calib-data", str(small_npz),
                 "-o", str(out)])
    assert code == 2 and "not both" in capsys.readouterr().err


def test_quantize_report_markdown_has_a_method_column(tmp_path, small_npz, capsys):
    report = tmp_path / "r.md"
    code = main(["quantize", str(MLP), "--calib-data", str(small_npz), "--calibration",
                 "auto", "--granularity", "per-tensor", "--report", str(report),
                 "-o", str(tmp_path / "q.mlir")])
    capsys.readouterr()
    assert code == 0
    text = report.read_text()
    header = text.splitlines()[0]
    assert header.endswith("| method |")
    rows = [r for r in text.splitlines() if r.startswith("| ") and "produced by" not in r]
    assert rows and all(r.rstrip(" |").rsplit("| ", 1)[1] in METHODS for r in rows
                        if "`" in r)
    assert "calibration auto: per tensor" in text
    assert "calibration sufficiency on 40 samples" in text
    # a fixed method: no method column, the sufficiency line still
    code = main(["quantize", str(MLP), "--calib-data", str(small_npz), "--report",
                 str(report), "-o", str(tmp_path / "q.mlir")])
    capsys.readouterr()
    text = report.read_text()
    assert "| method |" not in text.splitlines()[0]
    assert "calibration sufficiency on 40 samples" in text


def test_compile_with_auto(small_npz, capsys):
    compiled = qcc.compile(str(MLP), calib_data=str(small_npz), method="auto")
    assert set(compiled.calibration_choice.values()) <= set(METHODS)
    assert compiled.calibration_auto.measured
    assert compiled.calibration_sufficiency.samples == 40
    capsys.readouterr()


def test_calibration_choices_in_the_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["quantize", str(MLP), "--calibration", "best"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "'auto'" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    assert "'auto': per activation" in " ".join(capsys.readouterr().out.split())


def test_pass_option_errors():
    m = qcc.load(MLP)
    with pytest.raises(QccError, match="auto-samples must be >= 1"):
        qcc.run_pipeline(m, "calibrate{method=auto auto-samples=0}")
    with pytest.raises(QccError, match="sufficiency-threshold must be > 0"):
        qcc.run_pipeline(m, "calibrate{sufficiency-threshold=0}")


# -- calibration-set sufficiency ----------------------------------------------------

def test_checkpoints():
    assert checkpoints(200) == (50, 100, 150)
    assert checkpoints(5) == (2, 3, 4)
    assert checkpoints(3) == ()
    assert checkpoints(None) == ()


def test_estimate_of_the_samples_needed():
    r = SufficiencyResult(100, 0.05, [Movement("a", "minmax", [], 0.2, 0.2),
                                      Movement("b", "mse", [], 0.01, 0.0)])
    assert r.sufficient is False and r.worst.tensor == "a"
    # the last quarter's movement falls like 1/n: 0.2 -> 0.05 at 4x the samples
    assert r.samples_needed() == 400
    s = r.summary()
    assert "20.0%" in s and "'a'" in s and "about 400 samples (300 more)" in s
    assert "1 of 2 ranges" in s
    ok = SufficiencyResult(100, 0.05, [Movement("b", "mse", [], 0.01, 0.0)])
    assert ok.sufficient and ok.samples_needed() is None and "settled" in ok.summary()
    assert SufficiencyResult(3, not_measured="x").sufficient is None


def test_snapshots_leave_the_statistics_unchanged(images):
    m = qcc.load(MLP, batch=4)
    data = {"input": images[:22]}
    plain = Collector(m)
    plain.collect(CalibrationData(m.main, data))
    cut = Collector(m)
    cut.set_checkpoints(checkpoints(22))  # 6, 11, 17: inside batches of 4
    cut.collect(CalibrationData(m.main, data))
    assert cut.stats == plain.stats
    assert sorted(cut.snapshots) == [6, 11, 17]
    # a prefix's statistics are those of its samples (one row per sample here)
    first = Collector(m)
    first.collect(CalibrationData(m.main, {"input": images[:11]}))
    for name, s in cut.snapshots[11].items():
        assert (s.min, s.max, s.count) == (first.stats[name].min, first.stats[name].max,
                                           first.stats[name].count)


def test_too_few_samples_warn_and_the_bundled_set_is_settled(images, capsys):
    m = qcc.load(MODELS / "digits_dwsep.onnx", batch=4)
    ctx = PassContext({"calibration_data": {"input": images[:16]}})
    qcc.run_pipeline(m, f"{PREPARE},calibrate", ctx)
    r = ctx.data["calibration_sufficiency"]
    err = capsys.readouterr().err
    assert r.sufficient is False and r.worst.moved > 0.1
    assert "warning: calibrate: calibration sufficiency on 16 samples" in err
    assert f"'{r.worst.tensor}'" in err and "NOT settled" in err
    assert f"about {r.samples_needed()} samples" in err
    # the same model on the 200 bundled calibration images: every range settled
    m = qcc.load(MLP, batch=50)
    ctx = PassContext()
    qcc.run_pipeline(m, f"canonicalize,normalize-gemm,calibrate{{data={CALIB}}}", ctx)
    r = ctx.data["calibration_sufficiency"]
    assert r.sufficient is True and r.samples == 200
    assert "NOT settled" not in capsys.readouterr().err
    # the figures: minmax on every prefix
    assert [n for n, _ in r.worst.minmax] == [50, 100, 150, 200]


def test_sufficiency_not_measured_on_random_samples(capsys):
    m = qcc.load(MLP)
    ctx = PassContext()
    qcc.run_pipeline(m, "calibrate{random-samples=8}", ctx)
    r = ctx.data["calibration_sufficiency"]
    assert r.sufficient is None and "random samples" in r.summary()
    capsys.readouterr()


def test_check_sufficiency_by_method(images):
    m = qcc.load(MLP, batch=1)
    c = Collector(m)
    c.set_checkpoints(checkpoints(12))
    c.collect(CalibrationData(m.main, {"input": images[:12]}))
    names = list(c.stats)
    r = check_sufficiency(c.snapshots, c.stats, {n: "percentile" for n in names}, 12)
    assert {t.tensor for t in r.tensors} == set(names)
    for t in r.tensors:
        (n0, r0), (n1, r1) = t.ranges
        assert (n0, n1) == (6, 12)  # the first half, the whole set
        assert r1 == compute_range(c.stats[t.tensor], "percentile")
        assert r0 == compute_range(c.snapshots[6][t.tensor], "percentile")
    assert r.tensors == sorted(r.tensors, key=lambda t: -t.moved)


def test_auto_measures_with_the_exclusions(images, capsys):
    """An excluded tensor stays float in the copy auto measures on: not measured."""
    m = qcc.load(CNN, batch=20)
    ctx = PassContext({"calibration_data": {"input": images[:20]}})
    qcc.run_pipeline(m, f"{PREPARE},calibrate{{method=auto num-bins=256 "
                        "exclude=_Add_output_0}", ctx)
    result = ctx.data["calibration_auto"]
    assert result.measured and "_Add_output_0" not in result.measured
    assert "_Add_output_0" in result.choice  # it still has a range, as before
    capsys.readouterr()


def test_check_sufficiency_compares_mse_on_a_coarser_search(images):
    m = qcc.load(MLP, batch=4)
    c = Collector(m)
    c.set_checkpoints(checkpoints(12))
    c.collect(CalibrationData(m.main, {"input": images[:12]}))
    name = next(n for n, s in c.stats.items() if s.min < 0 or n.endswith("Relu_output_0"))
    r = check_sufficiency(c.snapshots, c.stats, {name: "mse"}, 12)
    (_, r0), (_, r1) = r.tensors[0].ranges
    assert r1 == compute_range(c.stats[name], "mse", num_bins=512)
    assert r0 == compute_range(c.snapshots[6][name], "mse", num_bins=512)


def test_a_saved_choice_reproduces_auto_without_measuring(tmp_path, small_npz):
    """calibrate{method=auto choice=FILE}: the methods an earlier auto chose, read
    back with statistics alone, give the same program (qcc explore quantizes each batch
    size this way)."""
    from qcc import driver
    from qcc.text import print_module

    stats = tmp_path / "stats.json"
    first = qcc.load(MLP, batch=40)
    ctx = PassContext()
    driver.quantize_model(first, calib_data=str(small_npz), method="auto",
                          granularity="per-tensor", save_stats=str(stats), ctx=ctx)
    choice = tmp_path / "choice.json"
    choice.write_text(json.dumps(ctx.data["calibration_choice"]))
    again = qcc.load(MLP, batch=40)
    ctx2 = PassContext()
    driver.quantize_model(again, method="auto", granularity="per-tensor", stats=str(stats),
                          auto_choice=str(choice), ctx=ctx2)
    assert "calibration_auto" not in ctx2.data  # nothing measured
    assert ctx2.data["calibration_choice"] == ctx.data["calibration_choice"]
    assert print_module(again) == print_module(first)
    bad = tmp_path / "bad.json"
    for text, message in (("[1]", "expected a JSON object of tensor name -> one of"),
                          ('{"x": "best"}', "expected a JSON object"),
                          ("{}", "has no method for"), ("{", "cannot read")):
        bad.write_text(text)
        with pytest.raises(QccError, match=message):
            driver.quantize_model(qcc.load(MLP, batch=40), method="auto", stats=str(stats),
                                  auto_choice=str(bad))


def test_auto_choice_on_the_command_line(tmp_path, small_npz, capsys):
    """qcc quantize --calibration auto --auto-choice FILE reads the methods back (no
    measuring); with another method it is a usage error."""
    from qcc import driver

    ctx = PassContext()
    stats = tmp_path / "s.json"
    driver.quantize_model(qcc.load(MLP, batch=40), calib_data=str(small_npz), method="auto",
                          granularity="per-tensor", save_stats=str(stats), ctx=ctx)
    choice = tmp_path / "c.json"
    choice.write_text(json.dumps(ctx.data["calibration_choice"]))
    out = tmp_path / "m.mlir"
    assert main(["quantize", str(MLP), "--stats", str(stats), "--calibration", "auto",
                 "--granularity", "per-tensor", "--auto-choice", str(choice), "-o",
                 str(out)]) == 0
    assert "calibration auto:" not in capsys.readouterr().err  # nothing measured
    assert main(["quantize", str(MLP), "--stats", str(stats), "--calibration", "mse",
                 "--auto-choice", str(choice), "-o", str(tmp_path / "n.mlir")]) == 2
    assert "--auto-choice applies to --calibration auto" in capsys.readouterr().err
