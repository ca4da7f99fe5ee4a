"""Calibration: histograms, range methods, the statistics file, data sources, the
``calibrate`` pass, and cross-checks against onnxruntime's calibrators and a
transcription of NVIDIA's entropy search."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.calibration import (
    METHODS,
    CalibrationData,
    CalibrationResult,
    Collector,
    Progress,
    TensorStats,
    batch_major_values,
    calibrated_values,
    compute_range,
    dumps_stats,
    entropy_threshold,
    load_stats,
    loads_stats,
    quantization_mse,
    save_stats,
    search_histogram,
)
from qcc.diagnostics import QccError
from qcc.dialects import quant
from qcc.interpreter import run
from qcc.passmanager import PassContext
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
CNN = ROOT / "examples" / "models" / "cnn.onnx"
DIGITS = ROOT / "examples" / "data" / "digits_calib.npz"


def stats_of(*batches, num_bins=2048, name="t", **kw) -> TensorStats:
    s = TensorStats(name, num_bins, **kw)
    for b in batches:
        s.update(b)
    return s


def reference_counts(values: np.ndarray, width: float, first: int, n: int) -> np.ndarray:
    """Signed histogram by the documented rule, computed independently."""
    v = values.astype(np.float64).ravel()
    j = np.floor(np.abs(v) / width).astype(np.int64)
    k = np.where(v < 0, -j - 1, j)
    return np.bincount(k - first, minlength=n)


# --------------------------------------------------------------------------- histograms


def test_first_batch_fixes_width_and_zero_is_an_edge():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.3, 2.1, 5000).astype(np.float32)
    s = stats_of(x)
    assert s.bin_width == pytest.approx((float(x.max()) - float(x.min())) / 2048)
    assert s.min == float(x.min()) and s.max == float(x.max())
    assert len(s.counts) in (2048, 2049) and s.count == 5000
    edges = s.edges
    assert 0.0 in edges  # bins are aligned to multiples of the width
    np.testing.assert_array_equal(s.counts, reference_counts(x, s.bin_width, s.first_bin,
                                                             len(s.counts)))


def test_growth_keeps_counts_and_width():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, 4000).astype(np.float32)
    b = rng.uniform(-5, 3, 4000).astype(np.float32)  # beyond both ends
    s = stats_of(a)
    w, first_a, counts_a = s.bin_width, s.first_bin, s.counts.copy()
    s.update(b)
    assert s.bin_width == w  # same width
    assert s.first_bin < first_a and len(s.counts) > len(counts_a)  # bins added at both ends
    assert s.count == 8000
    both = np.concatenate([a, b])
    np.testing.assert_array_equal(s.counts, reference_counts(both, w, s.first_bin,
                                                             len(s.counts)))
    # the first batch's counts are still there, in place
    off = first_a - s.first_bin
    ref_b = reference_counts(b, w, s.first_bin, len(s.counts))
    np.testing.assert_array_equal(s.counts[off:off + len(counts_a)]
                                  - ref_b[off:off + len(counts_a)], counts_a)
    assert (s.min, s.max) == (float(both.min()), float(both.max()))


def test_fold_to_abs_is_exact():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(10000).astype(np.float32)
    s = stats_of(x[:3000], x[3000:] * 2)
    h, w = s.abs_histogram()
    assert w == s.bin_width
    ref = np.bincount(np.floor(np.abs(x[:3000].astype(np.float64)) / w).astype(int),
                      minlength=len(h))
    ref = ref + np.bincount(np.floor(np.abs(2 * x[3000:].astype(np.float64)) / w).astype(int),
                            minlength=len(h))
    np.testing.assert_array_equal(h, ref[:len(h)])
    assert h.sum() == 10000


def test_growth_beyond_max_bins_doubles_the_width():
    s = stats_of(np.linspace(-1, 1, 101, dtype=np.float32), num_bins=16, max_bins=64)
    w = s.bin_width
    s.update(np.array([40.0, -3.0], np.float32))
    assert len(s.counts) <= 64 and s.count == 103
    ratio = s.bin_width / w
    assert ratio == 8  # a power of two: 43 / (0.125 * 8) + 3 bins fit in 64
    assert compute_range(s) == (-3.0, 40.0)


def test_all_zero_and_all_equal_tensors():
    z = stats_of(np.zeros(10), np.zeros((2, 3)))
    assert (z.bin_width, list(z.counts), z.count) == (0.0, [16], 16)
    for m in METHODS:
        assert compute_range(z, m) == (0.0, 0.0)
        assert compute_range(z, m, symmetric=True) == (0.0, 0.0)
    z.update(np.array([0.0, 2.0]))  # the width is fixed by the first non-zero batch
    assert z.bin_width > 0 and z.counts[-z.first_bin] == 17 and z.count == 18
    for value in (-3.0, 0.25):
        c = stats_of(np.full(7, value))
        for m in METHODS:
            assert compute_range(c, m) == (value, value), m
            assert compute_range(c, m, symmetric=True) == (-abs(value), abs(value)), m


def test_non_finite_values_are_refused_naming_the_tensor():
    s = TensorStats("conv_2")
    with pytest.raises(QccError, match=r"tensor 'conv_2' has 2 non-finite value\(s\) "
                                       r"\(1 NaN, 1 Inf\)"):
        s.update(np.array([1.0, np.nan, np.inf]))


# --------------------------------------------------------------------------- methods


def test_percentile_exact_on_a_ramp():
    x = np.arange(1000, dtype=np.float32)  # 0 .. 999
    s = stats_of(x)
    w = s.bin_width
    lo, hi = compute_range(s, "percentile", percentile=99.0)  # 5 values cut per side
    assert 5 - w <= lo <= 5 + w and 994 - w <= hi <= 994 + w
    t = compute_range(s, "percentile", percentile=99.0, symmetric=True)[1]  # 10 cut
    assert 989 - w <= t <= 990 + w
    assert compute_range(s, "percentile", percentile=100.0) == (0.0, 999.0)


def test_methods_on_uniform():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 3, 200_000).astype(np.float32)
    s = stats_of(x)
    w = s.bin_width
    assert compute_range(s, "minmax") == (float(x.min()), float(x.max()))
    lo, hi = compute_range(s, "percentile", percentile=99.0)  # 0.5 % per side: +-0.02
    assert abs(lo - -0.98) < 0.005 and abs(hi - 2.98) < 0.005
    t = compute_range(s, "percentile", percentile=99.0, symmetric=True)[1]  # P(|x|>t)=1%
    assert abs(t - 2.96) < 0.005
    # flat data: neither KL nor the squared error gains from clipping
    for m in ("entropy", "mse"):
        lo, hi = compute_range(s, m)
        assert lo == float(x.min()) and hi > float(x.max()) - 8 * w, m
    assert compute_range(s, "minmax", symmetric=True) == (-float(x.max()), float(x.max()))


def test_methods_on_gaussian_with_outliers():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.standard_normal(200_000), [60.0, -45.0, 52.0]]).astype(np.float32)
    s = stats_of(x[:50_000], x[50_000:])
    assert compute_range(s, "minmax") == (-45.0, 60.0)
    # 99.99 % two-sided: the normal quantile 3.89 (not the outliers)
    lo, hi = compute_range(s, "percentile", percentile=99.99)
    assert -4.2 < lo < -3.6 and 3.6 < hi < 4.2
    # KL ignores the three outliers and clips at ~4 sigma, as NVIDIA's calibrator does
    lo, hi = compute_range(s, "entropy")
    assert lo == -hi and 3.0 < hi < 5.5
    # squared error: the outliers' clipping error (~50^2 each) outweighs the rounding
    # noise they cause, so mse keeps most of the range (it clips at ~40 here)
    assert compute_range(s, "mse")[1] > 30
    # without the outliers, mse clips a gaussian near 4 sigma (8-bit ACIQ-like optimum)
    g = stats_of(x[:200_000] * 2)
    lo, hi = compute_range(g, "mse")
    assert lo == -hi and 3.4 * 2 < hi < 4.6 * 2
    assert 3.4 * 2 < compute_range(g, "mse", symmetric=True)[1] < 4.6 * 2


def test_methods_on_relu_like_data():
    rng = np.random.default_rng(5)
    x = np.maximum(rng.standard_normal(100_000), 0).astype(np.float32)
    s = stats_of(x)
    for m in METHODS:
        lo, hi = compute_range(s, m)
        assert lo == 0.0 and 0 < hi <= float(x.max()), m
    assert 3.0 < compute_range(s, "entropy")[1] < 4.6
    assert 3.0 < compute_range(s, "mse")[1] < 4.6
    lo, hi = compute_range(s, "percentile", symmetric=True)
    assert lo == -hi  # symmetric ranges are symmetric even for one-signed data


def test_mse_matches_the_error_on_the_data():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(100_000) * 1.5).astype(np.float32)
    s = stats_of(x)
    from qcc.quant_arith import choose_scale_zero_point

    for lo, hi in [(-3.0, 3.0), (-6.0, 6.5), (-1.0, 1.0), (0.0, 2.0)]:
        scale, zp = choose_scale_zero_point(lo, hi, -128, 127)
        q = np.clip(np.rint(x.astype(np.float64) / scale) + zp, -128, 127)
        direct = np.mean((x - (q - zp) * scale) ** 2)
        assert quantization_mse(s, lo, hi) == pytest.approx(direct, rel=0.02)


def _nvidia_entropy_reference(hist, edges, num_bits=8, start_bin=128):
    """A direct transcription of pytorch-quantization's ``_compute_amax_entropy``
    (loop per candidate, np.digitize, scipy-style entropy, last argmin)."""
    bins = hist.astype(np.float64).copy()
    bins[0] = bins[1]
    nbins = 1 << (num_bits - 1)
    divergences = []
    for i in range(start_bin, len(bins) + 1):
        space = np.linspace(0, i, num=nbins + 1)
        digitized = np.digitize(range(i), space) - 1
        digitized[bins[:i] == 0] = -1
        density = np.zeros(nbins)
        for idx, d in enumerate(digitized):
            if d != -1:
                density[d] += bins[idx]
        for key, val in Counter(digitized).items():
            if key != -1:
                density[key] /= val
        new = np.array([density[d] if d != -1 else 0.0 for d in digitized])
        ref = bins[:i].copy()
        ref[-1] += bins[i:].sum()
        p, q = ref / ref.sum(), new / new.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p / q), 0.0)
        divergences.append(np.inf if np.any((p > 0) & (q == 0)) else terms.sum())
    divergences = np.array(divergences)
    last = len(divergences) - 1 - np.argmin(divergences[::-1])
    return edges[last + start_bin]


@pytest.mark.parametrize("kind", ["gauss", "relu", "laplace", "bimodal"])
def test_entropy_equals_nvidia_reference(kind):
    rng = np.random.default_rng(7)
    x = {"gauss": rng.standard_normal(20000),
         "relu": np.maximum(rng.standard_normal(20000), 0),
         "laplace": rng.laplace(size=20000),
         "bimodal": np.concatenate([rng.normal(-2, 0.3, 9000), rng.normal(1, 0.5, 11000)]),
         }[kind].astype(np.float32)
    s = stats_of(x, num_bins=384)
    h, w, _ = search_histogram(s, 384)
    ref = _nvidia_entropy_reference(h, np.arange(len(h) + 1) * w, start_bin=64)
    assert entropy_threshold(s, num_bins=384, start_bin=64) == min(ref, s.absmax)


# --------------------------------------------------------------------------- JSON


def test_json_round_trip_is_exact_and_deterministic(tmp_path):
    rng = np.random.default_rng(8)
    stats = {"b": stats_of(rng.standard_normal(3000).astype(np.float32), name="b"),
             "a": stats_of(np.maximum(rng.standard_normal(2000), 0).astype(np.float32),
                           rng.uniform(-9, 1, 100).astype(np.float32), name="a"),
             "z": stats_of(np.zeros(5), name="z")}
    text = dumps_stats(stats, 17)
    assert text == dumps_stats(dict(reversed(list(stats.items()))), 17)
    doc = json.loads(text)
    assert list(doc) == ["format", "num_samples", "tensors", "version"]
    assert list(doc["tensors"]) == ["a", "b", "z"]
    assert list(doc["tensors"]["a"]) == ["bin_width", "counts", "first_bin", "max", "min"]
    loaded, n = loads_stats(text)
    assert n == 17 and loaded == stats
    assert dumps_stats(loaded, n) == text
    for name, s in stats.items():
        for m in METHODS:
            for sym in (False, True):
                assert compute_range(loaded[name], m, symmetric=sym) == \
                    compute_range(s, m, symmetric=sym)
    path = tmp_path / "s.json"
    save_stats(path, stats, 17)
    assert path.read_text() == text
    assert load_stats(path)[0] == stats


GOOD = {"min": -1.0, "max": 2.0, "bin_width": 0.5, "first_bin": -3,
        "counts": [1, 0, 3, 0, 0, 0, 0, 2]}  # bins -3 (-1.5, -1.0] .. 4 [2.0, 2.5)


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not valid JSON"),
    ('{"format": "other", "version": 1}', "not a qcc calibration statistics file"),
    ('{"format": "qcc-calibration", "version": 2, "num_samples": 1, "tensors": {}}',
     "unsupported version 2"),
    ('{"format": "qcc-calibration", "version": 1, "num_samples": -1, "tensors": {}}',
     "'num_samples' must be a non-negative integer"),
    ('{"format": "qcc-calibration", "version": 1, "num_samples": 1, "tensors": []}',
     "'tensors' must be an object"),
    ({**GOOD, "counts": [1, -1]}, "tensor 'x': 'counts' must be a non-empty list"),
    ({**GOOD, "counts": []}, "'counts' must be a non-empty list"),
    ({**GOOD, "min": 3.0}, "min 3.0 is greater than max 2.0"),
    ({**GOOD, "bin_width": -0.5}, "bin_width -0.5 is negative"),
    ({**GOOD, "first_bin": 1.5}, "'first_bin' must be an integer"),
    ({**GOOD, "max": "2"}, "'max' must be a finite number"),
    ({k: v for k, v in GOOD.items() if k != "min"}, "missing min"),
    ({**GOOD, "extra": 1}, "unknown extra"),
    ({**GOOD, "counts": [0, 0]}, "counts are all zero"),
    ({**GOOD, "max": 90.0}, "lie outside the histogram's bins"),
    ({**GOOD, "bin_width": 0.0}, "bin_width 0 is only valid for an all-zero tensor"),
    ('{"format": "qcc-calibration", "version": 1, "num_samples": 1, "tensors": '
     '{"x": {"min": NaN, "max": 1, "bin_width": 1, "first_bin": 0, "counts": [1]}}}',
     "not valid JSON"),
])
def test_malformed_statistics_files(tmp_path, doc, message):
    if isinstance(doc, dict):
        doc = json.dumps({"format": "qcc-calibration", "version": 1, "num_samples": 3,
                          "tensors": {"x": doc}})
    path = tmp_path / "bad.json"
    path.write_text(doc)
    with pytest.raises(QccError, match="bad.json: .*" + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        load_stats(path)
    assert loads_stats(json.dumps({"format": "qcc-calibration", "version": 1,
                                   "num_samples": 3, "tensors": {"x": GOOD}}))[1] == 3


def test_missing_statistics_file(tmp_path):
    with pytest.raises(QccError, match="no such file"):
        load_stats(tmp_path / "nope.json")


# --------------------------------------------------------------------------- ORT cross-checks


def _ort_collector(method, symmetric, batches, num_bins=2048, percentile=99.999):
    from onnxruntime.quantization.calibrate import HistogramCollector

    c = HistogramCollector(method, symmetric, num_bins, 128, percentile, "same")
    for b in batches:
        c.collect({"t": b})
    lo, hi = c.compute_collection_result()["t"][:2]
    edges = c.histogram_dict["t"][1]
    return float(lo), float(hi), float(edges[1] - edges[0])


# 4 x 50001 values: the counts cut by each percentile are not whole numbers, so ORT's
# float cdf cannot tip a tie to the next value
DISTS = {
    "gauss": lambda r: r.standard_normal(50001),
    "relu": lambda r: np.maximum(r.standard_normal(50001), 0),
    "skewed": lambda r: r.gamma(2.0, 1.0, 50001) - 1.0,
}


@pytest.mark.parametrize("dist", sorted(DISTS))
@pytest.mark.parametrize("percentile", [99.999, 99.99, 99.9])
def test_percentile_agrees_with_onnxruntime(capsys, dist, percentile):
    """ORT takes the lower edge of the bin where the cdf crosses p; qcc the edge that
    cuts at most the asked share, and the grids differ: agreement within one ORT bin
    plus one qcc bin. ORT's symmetric range is clamped to [min, max]; qcc's is
    [-t, t]: the thresholds t agree."""
    rng = np.random.default_rng(9)
    batches = [DISTS[dist](rng).astype(np.float32) for _ in range(4)]
    s = stats_of(*batches)
    lo, hi, w_ort = _ort_collector("percentile", False, batches, percentile=percentile)
    mine = compute_range(s, "percentile", percentile=percentile)
    tol = w_ort + s.bin_width
    assert abs(mine[0] - lo) <= tol and abs(mine[1] - hi) <= tol
    lo, hi, w_ort = _ort_collector("percentile", True, batches, percentile=percentile)
    t = compute_range(s, "percentile", percentile=percentile, symmetric=True)[1]
    assert abs(t - max(-lo, hi)) <= w_ort + s.abs_histogram()[1]
    capsys.readouterr()


def test_entropy_close_to_onnxruntime_on_gaussian(capsys):
    """Different algorithms (ORT: windows of the signed histogram, 128 levels over
    [-t, t], smoothed, first minimum; qcc/NVIDIA: |x| histogram, 128 levels over
    [0, t], last minimum): on gaussian data the thresholds agree within 10 %.
    ORT's defaults (128 bins = 128 quantized bins) leave a single candidate: minmax."""
    rng = np.random.default_rng(10)
    batches = [rng.standard_normal(50000).astype(np.float32) for _ in range(4)]
    s = stats_of(*batches)
    lo, hi, _ = _ort_collector("entropy", False, batches, num_bins=2048)
    t = compute_range(s, "entropy")[1]
    assert abs(t - max(-lo, hi)) <= 0.10 * max(-lo, hi)
    lo, hi, _ = _ort_collector("entropy", False, batches[:1], num_bins=128)
    assert (lo, hi) == (float(batches[0].min()), float(batches[0].max()))
    capsys.readouterr()


def _elementwise_onnx(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])
    c = numpy_helper.from_array(np.array([0.5, -1.5, 2.0, 3.0, -0.25, 1.0], np.float32), "c")
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Mul", ["r", "c"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "x"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "g", [x], [y], [c])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def _ort_minmax(model: Path, name: str, batches: list[np.ndarray], tmp_path: Path,
                symmetric: bool = False) -> dict[str, tuple[float, float]]:
    from onnxruntime.quantization.calibrate import (
        CalibrationDataReader,
        CalibrationMethod,
        create_calibrator,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: b} for b in batches])

        def get_next(self):
            return next(self.it, None)

    cal = create_calibrator(model, augmented_model_path=str(tmp_path / "augmented.onnx"),
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"symmetric": symmetric})
    cal.collect_data(Reader())
    return {k: tuple(float(np.asarray(v).reshape(-1)[0]) for v in d.range_value)
            for k, d in cal.compute_data().items()}


def test_minmax_equals_onnxruntime_exactly(tmp_path):
    """Exact float ops only (Relu, Mul, Add): qcc's and ORT's activations are the same
    bits, so the minmax ranges are identical, asymmetric and symmetric."""
    model = tmp_path / "elementwise.onnx"
    _elementwise_onnx(model)
    rng = np.random.default_rng(11)
    samples = (rng.standard_normal((12, 6)) * 3).astype(np.float32)
    c = Collector(qcc.load(model))
    c.collect({"x": samples})  # batches of 2
    for symmetric in (False, True):
        ort = _ort_minmax(model, "x", list(samples.reshape(6, 2, 6)), tmp_path, symmetric)
        assert set(ort) == set(c.stats) == {"x", "r", "m", "y"}
        for name, s in c.stats.items():
            assert compute_range(s, "minmax", symmetric=symmetric) == ort[name], name


def test_minmax_on_cnn_agrees_with_onnxruntime(tmp_path):
    """On the example CNN: the same tensors, the input range exactly, the rest within
    float32 rounding (ORT's conv/pool kernels sum in another order)."""
    x = np.load(DIGITS)["input"][:24]
    c = Collector(qcc.load(CNN))
    c.collect({"input": x})
    ort = _ort_minmax(CNN, "input", [x[i:i + 1] for i in range(len(x))], tmp_path)
    assert set(ort) == set(c.stats) and len(ort) == 19
    assert ort["input"] == (c.stats["input"].min, c.stats["input"].max)
    for name, s in c.stats.items():
        np.testing.assert_allclose([s.min, s.max], ort[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


# --------------------------------------------------------------------------- data sources


def cnn_graph():
    return qcc.load(CNN).main


def test_arrays_that_are_not_inputs_are_ignored_with_a_warning(tmp_path, capsys):
    path = tmp_path / "with_labels.npz"
    np.savez(path, input=np.zeros((3, 1, 8, 8), np.float32), label=np.zeros(3),
             mask=np.zeros(3))
    data = CalibrationData(cnn_graph(), path)
    assert sum(len(b) if isinstance(b, list) else 1 for b in data.batches()) >= 1
    err = capsys.readouterr().err
    assert "ignoring 'mask': not an input of the model (its inputs: input)" in err
    assert "'label'" not in err  # labels are left out silently


def test_data_errors(tmp_path):
    g = cnn_graph()
    good = np.zeros((3, 1, 8, 8), np.float32)

    def npz(name, **arrays):
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    def fails(source, message):
        with pytest.raises(QccError, match=message):
            list(CalibrationData(g, source).batches())

    fails({"other": good}, r"has no array for input 'input' \(tensor<1x1x8x8xf32>\) "
                           r"\(it has 'other'\)")
    fails([{}], r"calibration data item 0 has no array for input 'input' "
                r"\(tensor<1x1x8x8xf32>\)")
    fails({}, r"^error: calibration data has no array for input 'input' "
              r"\(tensor<1x1x8x8xf32>\)$")
    fails(npz("shape.npz", input=np.zeros((3, 8, 8), np.float32)),
          r"input 'input' has shape \[3, 8, 8\], but its samples have shape \[1, 8, 8\] "
          r"\(tensor<1x1x8x8xf32> without the batch dimension\): expected \[N, 1, 8, 8\]")
    fails(npz("dtype.npz", input=good.astype(np.int32)),
          r"input 'input' has dtype int32; the model expects float32")
    bad = good.copy()
    bad[2, 0, 1, :3] = [np.nan, np.inf, -np.inf]
    fails(npz("nan.npz", input=bad),
          r"nan.npz: input 'input' sample 2 has 3 non-finite value\(s\) \(NaN or Inf\)")
    fails(npz("empty.npz", input=np.zeros((0, 1, 8, 8), np.float32)),
          r"empty.npz is empty: it holds no samples")
    fails([], "calibration data is empty")
    (tmp_path / "empty_dir").mkdir()
    fails(tmp_path / "empty_dir", "empty_dir is empty")
    fails(tmp_path / "missing.npz", "missing.npz: no such file or directory")
    (tmp_path / "data.txt").write_text("1 2 3")
    fails(tmp_path / "data.txt", "expected a .npz file, a .npy file or a folder")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    fails(tmp_path / "broken.npz", "not a readable .npz file")
    fails(3, "must be a path, a mapping of arrays or an iterable")


def test_data_errors_multi_input(tmp_path):
    m = parse_module("""module {
  func.func @main(%a: tensor<1x3xf32>, %b: tensor<1x3xf32>) -> (tensor<1x3xf32>) {
    %s = "nn.add"(%a, %b) : (tensor<1x3xf32>, tensor<1x3xf32>) -> tensor<1x3xf32>
    return %s : tensor<1x3xf32>
  }
}""")
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "s0.npy", np.zeros(3, np.float32))
    with pytest.raises(QccError, match="a .npy file holds one array, but the model has 2 "
                                       r"inputs \(a, b\)"):
        CalibrationData(m.main, folder)
    with pytest.raises(QccError, match="arrays hold different numbers of samples: 'a' has 4, "
                                       "'b' has 5"):
        CalibrationData(m.main, {"a": np.zeros((4, 3)), "b": np.zeros((5, 3))})


def test_folder_npz_and_iterable_sources_agree(tmp_path):
    g = cnn_graph()
    x = np.load(DIGITS)["input"][:11]
    np.savez(tmp_path / "all.npz", input=x)
    np.savez_compressed(tmp_path / "compressed.npz", input=x)
    folder = tmp_path / "folder"
    folder.mkdir()
    np.save(folder / "a0.npy", x[0])             # one sample
    np.save(folder / "a1.npy", x[1:5])           # a batch of 4
    np.savez(folder / "a2.npz", input=x[5])      # one sample in a .npz
    np.savez(folder / "a3.npz", input=x[6:11])   # a batch of 5
    (folder / "README").write_text("ignored")
    sources = [tmp_path / "all.npz", str(tmp_path / "compressed.npz"), folder,
               {"input": x}, [{"input": x[:3]}, {"input": x[3]}, {"input": x[4:]}]]
    results = []
    for src in sources:
        data = CalibrationData(g, src)
        assert data.total == (None if isinstance(src, list) else 11)
        c = Collector(g)
        c.collect(data)
        assert c.num_samples == 11
        results.append(dumps_stats(c.stats, c.num_samples))
    assert all(r == results[0] for r in results)
    single = tmp_path / "one.npy"
    np.save(single, x[:2])
    assert CalibrationData(g, single).total == 2


def test_npz_is_streamed_not_loaded(tmp_path, monkeypatch):
    x = np.load(DIGITS)["input"][:7]
    np.savez(tmp_path / "d.npz", input=x)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load used on .npz"))
    data = CalibrationData(cnn_graph(), tmp_path / "d.npz")
    got = [b["input"] for b, _ in data.batches()]
    np.testing.assert_array_equal(np.concatenate(got), x)


W44 = "[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 2.0], [3.0, 0.5, 0.5, -0.5], [1.0, 1.0, 1.0, 1.0]]"
BATCHED = """module {
  func.func @main(%x: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<4x3xf32>) {
    %w = "nn.constant"() {value = dense<W44> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %y = "nn.dense"(%x, %w) : (tensor<3x4xf32>, tensor<4x4xf32>) -> tensor<3x4xf32>
    %r = "nn.relu"(%y) : (tensor<3x4xf32>) -> tensor<3x4xf32>
    %t = "nn.transpose"(%r) {perm = [1, 0]} : (tensor<3x4xf32>) -> tensor<4x3xf32>
    return %r, %t : tensor<3x4xf32>, tensor<4x3xf32>
  }
}""".replace("W44", W44)


def test_partial_last_batch_is_padded_and_the_padding_left_out():
    m = parse_module(BATCHED.replace(", tensor<4x3xf32>) {", ") {")
                     .replace("    %t = \"nn.transpose\"(%r) {perm = [1, 0]} : (tensor<3x4xf32>) "
                              "-> tensor<4x3xf32>\n", "")
                     .replace("return %r, %t : tensor<3x4xf32>, tensor<4x3xf32>",
                              "return %r : tensor<3x4xf32>"))
    rng = np.random.default_rng(12)
    x = rng.standard_normal((7, 4)).astype(np.float32)  # batches of 3: 3 + 3 + 1 (padded)
    batches = list(CalibrationData(m.main, {"x": x}).batches())
    assert [v for _, v in batches] == [3, 3, 1]
    np.testing.assert_array_equal(batches[-1][0]["x"], x[[6, 6, 6]])
    c = Collector(m)
    c.collect({"x": x})
    w = m.main.ops[0].value.data
    y = x @ w
    assert c.num_samples == 7
    for name, ref in {"x": x, "y": y, "r": np.maximum(y, 0)}.items():
        s = c.stats[name]
        assert s.count == 28
        np.testing.assert_allclose([s.min, s.max], [ref.min(), ref.max()], rtol=1e-6)


def test_partial_batch_with_a_batch_mixing_layout_is_an_error():
    m = parse_module(BATCHED)
    assert {v.name_hint for v in batch_major_values(m.main, 3)} == {"x", "y", "r"}
    x = np.zeros((7, 4), np.float32)
    with pytest.raises(QccError, match=r"last calibration batch holds 1 of 3 samples, and "
                                       r"tensor 't' \(tensor<4x3xf32>\) does not keep the "
                                       r"batch on its first axis.*multiple of 3"):
        Collector(m).collect({"x": x})
    Collector(m).collect({"x": np.zeros((6, 4), np.float32)})  # whole batches are fine


def test_calibrated_values_skip_constants():
    m = parse_module(BATCHED)
    names = sorted(calibrated_values(m.main).values())
    assert names == ["r", "t", "x", "y"]


def test_progress_bar():
    out = io.StringIO()
    bar = Progress(10, stream=out, enabled=True)
    for _ in range(10):
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert text.startswith("\rcalibrating [") and "10/10 samples 100%" in text
    assert text.endswith("\n")
    quiet = io.StringIO()  # not a terminal: nothing unless enabled
    bar = Progress(10, stream=quiet)
    bar.update(10)
    bar.close()
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------- the pass


@pytest.fixture(scope="module")
def calib_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    np.savez(path, input=np.load(DIGITS)["input"][:32])
    return path


def stats_ops(m):
    return [op for op in m.main.ops if isinstance(op, quant.StatsOp)]


def test_pass_on_cnn(calib_npz):
    m = qcc.load(CNN)
    ctx = PassContext()
    x = np.load(calib_npz)["input"][:1]
    before = run(m, {"input": x})
    qcc.run_pipeline(m, f"calibrate{{data={calib_npz}}}", ctx)
    ops = stats_ops(m)
    assert len(ops) == 19
    assert ctx.statistics["calibrate"] == {"tensors-calibrated": 19, "samples-seen": 32}
    result = ctx.data["calibration"]
    assert isinstance(result, CalibrationResult) and result.num_samples == 32
    assert result.method == "minmax" and len(result.stats) == 19
    for op in ops:
        name = op.output.name_hint.removesuffix("_stats")
        s = result.stats[name]
        assert (op.min, op.max) == (s.min, s.max) == result.ranges[name]
        # every other use goes through the stats op
        assert [u.op for u in op.input.uses] == [op]
    np.testing.assert_array_equal(run(m, {"input": x})["output"], before["output"])
    # again, with another method: the stats ops are updated, not stacked
    qcc.run_pipeline(m, f"calibrate{{method=entropy data={calib_npz}}}", ctx)
    assert len(stats_ops(m)) == 19
    assert ctx.data["calibration"].ranges["relu_8"] == (
        ctx.data["calibration"].stats["relu_8"].min,
        compute_range(ctx.data["calibration"].stats["relu_8"], "entropy")[1])
    assert print_module(parse_module(print_module(m))) == print_module(m)


def test_save_stats_then_stats_gives_identical_ir(calib_npz, tmp_path):
    saved = tmp_path / "stats.json"
    a = qcc.load(CNN)
    ctx_a = PassContext()
    qcc.run_pipeline(a, f"calibrate{{method=entropy symmetric=true data={calib_npz} "
                        f"save-stats={saved}}}", ctx_a)
    b = qcc.load(CNN)
    ctx_b = PassContext()
    qcc.run_pipeline(b, f"calibrate{{method=entropy symmetric=true stats={saved}}}", ctx_b)
    assert print_module(a) == print_module(b)
    assert ctx_b.statistics["calibrate"] == {"tensors-calibrated": 19, "samples-seen": 32}
    # the raw statistics survive the file exactly, so every method derives the same
    # ranges from it as from the data
    loaded, n = load_stats(saved)
    assert n == 32 and loaded == ctx_a.data["calibration"].stats
    # the same data gives the same bytes
    again = tmp_path / "again.json"
    qcc.run_pipeline(qcc.load(CNN), f"calibrate{{data={calib_npz} save-stats={again}}}")
    assert again.read_bytes() == saved.read_bytes()


def test_pass_data_from_context_and_random_fallback(capsys):
    x = np.load(DIGITS)["input"][:5]
    m = qcc.load(CNN)
    ctx = PassContext({"calibration_data": ({"input": s} for s in x)})
    qcc.run_pipeline(m, "calibrate", ctx)
    assert ctx.statistics["calibrate"]["samples-seen"] == 5
    assert "warning" not in capsys.readouterr().err
    m2 = qcc.load(CNN)
    ctx2 = PassContext()
    qcc.run_pipeline(m2, "calibrate{random-samples=3 seed=7}", ctx2)
    err = capsys.readouterr().err
    assert "warning: calibrate: no calibration data" in err and "MEANINGLESS" in err
    assert "--calib-data FILE.npz" in err and "calibrate{data=FILE.npz}" in err
    assert ctx2.statistics["calibrate"]["samples-seen"] == 3


def test_pass_errors(tmp_path, calib_npz):
    m = qcc.load(CNN)
    with pytest.raises(QccError, match="not both"):
        qcc.run_pipeline(m, f"calibrate{{data={calib_npz} stats=x.json}}")
    with pytest.raises(QccError, match=r"percentile must be in \(0, 100\]"):
        qcc.run_pipeline(m, "calibrate{percentile=0}")
    other = tmp_path / "other.json"
    save_stats(other, {"input": stats_of(np.ones(3), name="input")}, 1)
    with pytest.raises(QccError, match=r"have no entry for tensor 'conv_2' "
                                       r"\(tensor<1x8x8x8xf32>\)"):
        qcc.run_pipeline(m, f"calibrate{{stats={other}}}")
    bad = tmp_path / "bad.npz"
    np.savez(bad, image=np.zeros((2, 1, 8, 8), np.float32), label=np.zeros(2))
    with pytest.raises(QccError, match=r"has no array for input 'input' .* \(it has 'image', "
                                       r"'label'\)"):
        qcc.run_pipeline(m, f"calibrate{{data={bad}}}")
    assert not stats_ops(m)


def test_cli_opt_with_calibrate(tmp_path, calib_npz):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "qcc", "opt", str(CNN), "-p",
                          f"calibrate{{method=percentile data={calib_npz}}}"],
                         capture_output=True, text=True, env={**os.environ}, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count('"quant.stats"') == 19
    # 32 samples do not settle this model's ranges: the one warning is the
    # calibration-set sufficiency check's (tests/quant/test_calibration_auto.py)
    assert all(line.startswith("warning: calibrate: calibration sufficiency on 32 samples")
               for line in out.stderr.splitlines())
