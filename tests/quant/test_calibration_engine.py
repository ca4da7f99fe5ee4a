"""Calibration's speed paths against the reference arithmetic: the histogram binned
in chunks (TensorStats._count) against the whole-array arithmetic, and the optional
onnxruntime engine (qcc/calibration/ort_engine.py) against the FP32 interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import qcc
import qcc.calibration.stats as stats_module
from qcc.calibration import Collector, TensorStats
from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
CNN = ROOT / "examples" / "models" / "cnn.onnx"
DIGITS = ROOT / "examples" / "data" / "digits_calib.npz"


def _reference_counts(s: TensorStats, a: np.ndarray) -> np.ndarray:
    """The histogram of ``a`` in the bins of ``s``, by the per-value arithmetic."""
    k = s._indices(a.reshape(-1))
    return np.bincount(k - s.first_bin, minlength=len(s.counts))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint8])
def test_histogram_in_chunks_equals_the_whole_array(monkeypatch, dtype):
    monkeypatch.setenv("QCC_NO_NUMBA", "1")  # the numpy code (fast.py has its own test)
    rng = np.random.default_rng(7)
    batches = [rng.standard_normal(1000) * 50 for _ in range(3)]
    batches[1] = np.maximum(batches[1], -3.0) * 4  # grows the bins on the right
    batches = [b.astype(dtype) if np.dtype(dtype).kind == "f" else
               np.clip(b, np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
               for b in batches]
    whole, chunked = TensorStats("t", num_bins=64), TensorStats("t", num_bins=64)
    for b in batches:
        whole.update(b)
        monkeypatch.setattr(stats_module, "_CHUNK", 7)  # chunks end mid-array
        chunked.update(b)
        monkeypatch.setattr(stats_module, "_CHUNK", 1 << 20)
    assert whole == chunked
    # and the one-shot histogram of all of them equals the per-value arithmetic
    one = TensorStats("t", num_bins=64)
    one.update(batches[0])
    one._cover(min(float(b.min()) for b in batches), max(float(b.max()) for b in batches))
    counts = one.counts.copy()
    for b in batches[1:]:
        counts += _reference_counts(one, b)
        one.update(b)
    np.testing.assert_array_equal(one.counts, counts)


def test_non_finite_values_are_still_refused():
    s = TensorStats("act")
    with pytest.raises(QccError, match=r"tensor 'act' has 2 non-finite value\(s\) "
                                       r"\(1 NaN, 1 Inf\)"):
        s.update(np.array([1.0, np.nan, np.inf, 2.0], np.float32))


def _collect(engine: str, path: Path = CNN) -> Collector:
    m = qcc.load(str(path))
    qcc.run_pipeline(m, "canonicalize,normalize-gemm,fold-batchnorm,canonicalize")
    c = Collector(m, engine=engine)
    with np.load(DIGITS) as z:
        c.collect([{"input": z["input"][i:i + 1]} for i in range(16)], progress=False)
    return c


def test_onnxruntime_engine_matches_the_interpreter():
    pytest.importorskip("onnxruntime")
    ref, ort = _collect("numpy"), _collect("onnxruntime")
    assert ort.engine_fallback == "" and set(ref.stats) == set(ort.stats)
    assert len(ref.stats) == 16
    for name, s in ref.stats.items():
        o = ort.stats[name]
        assert o.count == s.count, name
        # float sums in another order: the last bits of an activation may differ
        assert o.min == pytest.approx(s.min, rel=1e-5, abs=1e-6), name
        assert o.max == pytest.approx(s.max, rel=1e-5, abs=1e-6), name
        assert o.bin_width == pytest.approx(s.bin_width, rel=1e-5), name


def _example(name: str):
    return load_script(ROOT / "examples" / f"{name}.py", f"qcc_examples_{name}")


@pytest.mark.parametrize("name", ["bert", "mobilenet_v3_small"])
def test_onnxruntime_engine_runs_encoders_and_mobilenet_v3(tmp_path, name):
    """Gather, LayerNormalization, GELU, Where, Cast, Expand (an encoder) and
    HardSigmoid, HardSwish (MobileNet-v3) have ONNX forms: no fallback, and the same
    statistics as the interpreter's up to the last bits of float sums."""
    pytest.importorskip("onnxruntime")
    path = tmp_path / f"{name}.onnx"
    if name == "bert":
        bert = _example("bert")
        onnx.save(bert.build_bert(layers=1, hidden=16, heads=2, intermediate=32), path)
        load = {"input_shapes": {"input_ids": (2, 8)}}
        batches = [bert.sample_inputs(2, 8, 100, seed=s) for s in range(2)]
    else:
        zoo = _example("zoo")
        onnx.save(zoo.mobilenet_v3_small(batch=1, resolution=32, width=0.25), path)
        load = {"input_shapes": {"input": (1, 3, 32, 32)}}
        rng = np.random.default_rng(0)
        batches = [{"input": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}
                   for _ in range(2)]
    collectors = {}
    for engine in ("numpy", "onnxruntime"):
        m = qcc.load(str(path), **load)
        qcc.run_pipeline(m, "canonicalize,normalize-gemm,fold-batchnorm,canonicalize")
        c = collectors[engine] = Collector(m, engine=engine)
        for b in batches:
            c.add_batch(b)
    ref, ort = collectors["numpy"], collectors["onnxruntime"]
    assert ort.engine_fallback == "" and set(ref.stats) == set(ort.stats)
    for tensor, s in ref.stats.items():
        o = ort.stats[tensor]
        assert o.count == s.count, tensor
        assert o.min == pytest.approx(s.min, rel=1e-4, abs=1e-5), tensor
        assert o.max == pytest.approx(s.max, rel=1e-4, abs=1e-5), tensor


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="calibration engine must be one of numpy, "
                                         "onnxruntime, got 'fast'"):
        Collector(qcc.load(str(CNN)), engine="fast")


def test_a_graph_without_an_onnx_form_falls_back_to_the_interpreter(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    # ConvTranspose has no form in the exporter: the interpreter calibrates, with a
    # warning naming the node
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 9, 9])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 2, 2, 2],
                           np.linspace(-1, 1, 8, dtype=np.float32))
    model = helper.make_model(helper.make_graph(
        [helper.make_node("ConvTranspose", ["input", "w"], ["e"], name="the_deconv"),
         helper.make_node("Relu", ["e"], ["y"], name="relu")], "g", [x], [y], [w]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "deconv.onnx"
    onnx.save(model, str(path))
    c = _collect("onnxruntime", path)
    assert "no ONNX form for 'nn.conv_transpose2d'" in c.engine_fallback
    assert "the_deconv" in c.engine_fallback
    err = capsys.readouterr().err
    assert "warning: calibrate: the onnxruntime engine cannot run this graph" in err
    assert "calibrating with the interpreter" in err
    ref = _collect("numpy", path)
    assert {n: s.to_dict() for n, s in c.stats.items()} == \
        {n: s.to_dict() for n, s in ref.stats.items()}


def test_compile_with_the_onnxruntime_engine(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "cnn.tpu"
    code = main(["compile", str(CNN), "--calib-data", str(DIGITS),
                 "--calibration-engine", "onnxruntime", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    compiled = qcc.compile(str(CNN), calib_data=str(DIGITS),
                           calibration_engine="onnxruntime")
    assert compiled.to_bytes() == out.read_bytes()  # the same bytes, CLI and API
    assert "engine=onnxruntime" in compiled.program.manifest["pipeline"]
    default = qcc.compile(str(CNN), calib_data=str(DIGITS))
    assert "engine" not in default.program.manifest["pipeline"]
    with np.load(DIGITS) as z:
        x = z["input"][:1]
    np.testing.assert_array_equal(compiled.run({"input": x})["output"],
                                  qcc.run(compiled.module, {"input": x})["output"])


def test_the_cli_refuses_an_unknown_engine(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compile", str(CNN), "--calibration-engine", "fast", "-o",
              str(tmp_path / "x.tpu")])
    assert e.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
    assert not (tmp_path / "x.tpu").exists()


def test_quantize_cli_takes_the_engine(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "cnn.mlir"
    code = main(["quantize", str(CNN), "--calib-data", str(DIGITS),
                 "--calibration-engine", "onnxruntime", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "calibrate{method=minmax data=" in err and "engine=onnxruntime}" in err
    assert "quant.requantize" in out.read_text()  # the integer program


def test_a_bad_thread_count_is_a_cli_error(tmp_path, capsys, monkeypatch):
    """QCC_THREADS (the threads of calibration's histogram loop) that is not a whole
    number: exit 2, the variable named, no traceback, no output file."""
    pytest.importorskip("numba")
    monkeypatch.delenv("QCC_NO_NUMBA", raising=False)
    monkeypatch.setenv("QCC_THREADS", "two")
    out = tmp_path / "cnn.tpu"
    code = main(["compile", str(CNN), "--calib-data", str(DIGITS), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "QCC_THREADS must be a whole number of threads, not 'two'" in err
    assert "Traceback" not in err
    assert not out.exists()
