"""qcc/fast.py's compiled loops against the numpy code they stand in for, bit for bit:
the simulator's requantization (quant_arith.Requantizer) and the interpreter's
depthwise convolution; and the switch that turns them off."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qcc.interpreter as interpreter
from qcc import fast, quant_arith

pytest.importorskip("numba")


def _both(monkeypatch, fn):
    """fn() with the compiled loops, then with numpy (QCC_NO_NUMBA=1)."""
    monkeypatch.delenv("QCC_NO_NUMBA", raising=False)
    assert fast.enabled()
    compiled = fn()
    monkeypatch.setenv("QCC_NO_NUMBA", "1")
    assert not fast.enabled()
    reference = fn()
    monkeypatch.delenv("QCC_NO_NUMBA")
    return compiled, reference


@pytest.mark.parametrize("acc_dtype", [np.int32, np.int64, np.float64, np.int8, np.uint8])
@pytest.mark.parametrize("out_dtype,zp,lo,hi", [(np.int8, -3, -128, 127),
                                                (np.uint8, 7, 0, 255),
                                                (np.int8, 0, 0, 127)])
def test_requantization_is_bit_exact(monkeypatch, acc_dtype, out_dtype, zp, lo, hi):
    rng = np.random.default_rng(11)
    cols = 200
    m = rng.integers(1 << 29, 1 << 31, cols)
    shift = rng.integers(5, 30, cols)
    req = quant_arith.Requantizer(m, shift, zp, lo, hi)
    assert req.float_exact
    if np.dtype(acc_dtype).kind == "f" or np.dtype(acc_dtype).itemsize >= 4:
        acc = rng.integers(-(1 << 24), 1 << 24, (57, 256)).astype(acc_dtype)
        acc[:3] = [[-(1 << 31)] * 256, [(1 << 31) - 1] * 256, [0] * 256]  # extremes
    else:
        info = np.iinfo(acc_dtype)
        acc = rng.integers(info.min, info.max + 1, (57, 256)).astype(acc_dtype)
    acc = acc[:, 30:30 + cols]  # a strided view, as the simulator passes lanes
    cases = [(rng.integers(-5000, 5000, cols).astype(np.float64), slice(None)),
             (-11, slice(None)), (0, slice(None))]

    for offset, columns in cases:
        def run(offset=offset, columns=columns):
            out = np.zeros((acc.shape[0], 256), out_dtype)[:, 10:10 + cols]
            req(out, acc, offset, columns)
            return out.copy()

        got, want = _both(monkeypatch, run)
        np.testing.assert_array_equal(got, want)


def test_requantization_of_fewer_columns(monkeypatch):
    """``columns`` picks the parameters of the lanes computed."""
    rng = np.random.default_rng(12)
    req = quant_arith.Requantizer(rng.integers(1 << 30, 1 << 31, 256),
                                  rng.integers(8, 20, 256), 2, -128, 127)
    acc = rng.integers(-(1 << 22), 1 << 22, (9, 100)).astype(np.int32)
    offset = rng.integers(-100, 100, 100).astype(np.float64)

    def run():
        out = np.empty((9, 100), np.int8)
        req(out, acc, offset, slice(40, 140))
        return out

    got, want = _both(monkeypatch, run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape,kernel,strides,dilations,dtype", [
    ((3, 40, 33, 33), 3, (1, 1), (1, 1), np.float32),
    ((2, 24, 34, 34), 3, (2, 2), (1, 1), np.float32),
    ((1, 12, 31, 29), 5, (1, 2), (2, 2), np.float32),
    ((2, 8, 17, 17), 3, (1, 1), (1, 1), np.float64),
])
def test_depthwise_is_bit_exact(monkeypatch, shape, kernel, strides, dilations, dtype):
    rng = np.random.default_rng(13)
    xp = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((shape[1], 1, kernel, kernel)).astype(dtype)
    out_hw = tuple((shape[2 + i] - dilations[i] * (kernel - 1) - 1) // strides[i] + 1
                   for i in range(2))
    got, want = _both(monkeypatch, lambda: interpreter._depthwise(xp, w, strides,
                                                                  dilations, out_hw))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_ties_round_to_even():
    """Products exactly halfway between two integers round to the even one, as
    numpy's rint does."""
    acc = np.arange(-9, 10, dtype=np.int32).reshape(1, -1)
    out = np.empty(acc.shape, np.int8)
    fast.requantize_float(out, acc, 0.0, 0.5, -128.0, 127.0, 0.0)
    np.testing.assert_array_equal(out[0], np.rint(acc[0] * 0.5).astype(np.int8))
    assert list(out[0, 8:13]) == [0, 0, 0, 1, 2]  # -0.5, 0, 0.5, 1, 1.5


@pytest.mark.parametrize("rows,cols", [(0, 5), (1, 7), (1, 1), (5, 1), (6, 256), (3, 40)])
def test_requantization_views_of_any_size(monkeypatch, rows, cols):
    """Views of some lanes of a buffer's rows, contiguous arrays, single rows and
    columns, no rows: the compiled loop writes exactly the view's elements."""
    rng = np.random.default_rng(14)
    req = quant_arith.Requantizer(rng.integers(1 << 30, 1 << 31, 256),
                                  rng.integers(8, 20, 256), 1, -128, 127)
    buf = rng.integers(-(1 << 20), 1 << 20, (rows + 2, 300)).astype(np.int32)

    def run():
        ub = np.full((rows + 2, 300), 77, np.int8)
        req(ub[1:rows + 1, 13:13 + cols], buf[1:rows + 1, 5:5 + cols], 3,
            slice(0, cols))
        return ub

    got, want = _both(monkeypatch, run)
    np.testing.assert_array_equal(got, want)  # the rest of the buffer untouched too


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint8, np.int32])
def test_histograms_are_bit_exact(monkeypatch, dtype):
    from qcc.calibration import TensorStats

    rng = np.random.default_rng(15)
    batches = [rng.standard_normal(5000) * 40, np.maximum(rng.standard_normal(7000), -2) * 90,
               np.array([0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0])]
    if np.dtype(dtype).kind != "f":
        info = np.iinfo(dtype)
        batches = [np.clip(b, info.min, info.max) for b in batches]
    batches = [b.astype(dtype) for b in batches]

    def run():
        s = TensorStats("t", num_bins=100, max_bins=400)  # coarsens on the way
        for b in batches:
            s.update(b)
        return s.to_dict()

    got, want = _both(monkeypatch, run)
    assert got == want


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
def test_diagonal_sums_match_numpy(signed, accumulate):
    """The simulator's diagonal passes: each pass's rows read in place (padding rows
    -1 read the pad byte), times its diagonal, summed into accumulator lanes
    [lo, lo + width): against the same sum in numpy, int32 with wrap-around."""
    rng = np.random.default_rng(3)
    ub = rng.integers(0, 256, (64, 256), dtype=np.uint8)
    taps, length, width, lo, dst = 5, 20, 37, 100, 6
    rows = rng.integers(-1, 30, (taps, length)).astype(np.int64)
    base = rng.integers(0, 30, taps).astype(np.int64)
    pad = rng.integers(-128 if signed else 0, 128 if signed else 256, taps)
    diag = rng.integers(-128, 128, (taps, width)).astype(np.int16)
    acc = rng.integers(-(1 << 31), 1 << 31, (40, 256), dtype=np.int64).astype(np.int32)
    view = ub.view(np.int8) if signed else ub
    want = acc.copy()
    total = np.zeros((length, width), np.int64)
    for k in range(taps):
        x = view[base[k] + np.maximum(rows[k], 0), lo:lo + width].astype(np.int64)
        x[rows[k] < 0] = pad[k]
        total += x * diag[k]
    out = want[dst:dst + length]
    if accumulate:
        out[:, lo:lo + width] = (out[:, lo:lo + width] + total).astype(np.int32)
    else:  # the lanes written; the others are left alone (the simulator's _real)
        out[:, lo:lo + width] = total
    fast.diagonal_sum(view, rows, base, pad, diag, lo, acc, dst, accumulate)
    np.testing.assert_array_equal(acc, want)


def _erf_inputs() -> np.ndarray:
    rng = np.random.default_rng(5)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-310, 5.9, 6.0, -27.0,
               np.finfo(np.float64).max, np.finfo(np.float32).max, 1e-8, 0.5, -0.47]
    return np.concatenate([rng.standard_normal(200_000) * 3, rng.uniform(-6, 6, 100_000),
                           rng.standard_normal(50_000) * 1e-3, special])


def test_erf_is_the_c_librarys():
    """numba's math.erf against CPython's math.erf (through numpy's frompyfunc, the
    numpy path), bit for bit."""
    x = _erf_inputs()
    want = np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)
    got = fast.erf(x)
    np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_is_bit_exact(monkeypatch, dtype):
    """The interpreter's exact GELU (and Erf) with and without the compiled loops."""
    with np.errstate(over="ignore"):  # float64's largest value is inf in float32
        x = _erf_inputs().astype(dtype).reshape(-1, 5)

    def run():
        from qcc.dialects import nn

        class Op:  # the attribute _gelu reads
            approximate = "none"

        gelu = interpreter._gelu(Op(), x)
        erf = interpreter._erf(nn.ErfOp, x)
        return gelu, erf

    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 at the extremes
        (g1, e1), (g2, e2) = _both(monkeypatch, run)
    assert g1.dtype == g2.dtype == dtype
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(e1, e2)


def test_histograms_split_among_threads_count_the_same(monkeypatch):
    rng = np.random.default_rng(9)
    a = rng.standard_normal(3 * fast._THREADED_VALUES + 7).astype(np.float32)
    counts = {}
    for n in ("1", "3"):
        monkeypatch.setenv("QCC_THREADS", n)
        c = np.zeros(400, np.int64)
        fast.histogram(a, 0.05, -200, c)
        counts[n] = c
    assert counts["1"].sum() == a.size
    np.testing.assert_array_equal(counts["1"], counts["3"])


def test_bad_thread_count_is_an_error(monkeypatch):
    from qcc.diagnostics import QccError

    monkeypatch.setenv("QCC_THREADS", "two")
    with pytest.raises(QccError, match="QCC_THREADS must be a whole number"):
        fast.threads()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bounds", [(0.0, 6.0), (-0.0, 6.0), (-np.inf, 0.5), (-1.5, np.inf)])
def test_clip_is_bit_exact(monkeypatch, dtype, bounds):
    """The interpreter's Clip (and its in-place form) with and without the compiled
    loop: the same bits, NaN and the sign of zero included."""
    from qcc.dialects import nn

    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(5000) * 4,
                        [0.0, -0.0, np.nan, np.inf, -np.inf, 6.0, -1.5, 0.5]]).astype(dtype)

    class Op:  # what the Clip semantics read
        min, max = bounds
        results = [type("R", (), {"type": type("T", (), {"element": type(
            "E", (), {"numpy_dtype": np.dtype(dtype)})()})()})()]

    def run():
        fresh = interpreter.SEMANTICS[nn.ClipOp](Op(), x)
        into = x.copy()
        interpreter.IN_PLACE[nn.ClipOp](Op(), into, into)
        return fresh, into

    (a1, b1), (a2, b2) = _both(monkeypatch, run)
    for got, want in ((a1, a2), (b1, b2), (a1, b2)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"),
                                      want.view(f"u{want.itemsize}"))
