"""Calibration: statistics of every float activation, and the ranges derived from them.

One pass of the FP32 interpreter over the calibration data collects, per activation
(graph argument or result of a non-constant op with an f32 tensor type), a
:class:`TensorStats`: the exact min and max and a signed histogram. Every method
derives its range from that same collection, so methods can be compared (and the
statistics saved and re-derived later) without running the model again::

    from qcc.calibration import CalibrationData, Collector, compute_range
    collector = Collector(module)
    collector.collect(CalibrationData(module.main, "calib.npz"))
    for name, s in collector.stats.items():
        print(name, compute_range(s, "entropy"))

Methods (docs/calibration.md has the details and the differences from ONNX Runtime
and NVIDIA's tools):

- ``minmax``: [min, max] (symmetric: [-max|x|, max|x|]).
- ``percentile`` (default 99.999, as ORT): asymmetric cuts (100-p)/2 % of the values
  on each side of the signed histogram; symmetric cuts (100-p) % of |x|.
- ``entropy``: NVIDIA's KL-divergence search on the |x| histogram (start bin 128,
  128 quantized levels, tail folded into the last bin, last minimum).
- ``mse``: the clip value (a bin edge of the |x| histogram from start bin 128 on, or
  max|x|) whose int8 quantization has the least expected squared error, clipping
  included, assuming values uniform within each histogram bin.

The histogram: a constant bin width ``w`` fixed by the first batch ((max - min) /
num_bins) and bins at integer multiples of it, so 0 is always an edge. Bin ``k >= 0``
holds [k*w, (k+1)*w); bin ``k < 0`` holds (k*w, (k+1)*w], the mirror image, so the
histogram of |x| is the exact fold of the signed one (bin ``k`` and bin ``-k-1``).
Later data outside the range adds bins at either end, same width. A histogram may
not exceed ``max_bins`` (default 32 * num_bins): beyond that the width doubles
(pairs of bins merge, exactly, since edges stay multiples of the width).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from qcc.diagnostics import QccError, warn
from qcc.ir.core import Graph, Module, ReturnOp, Value
from qcc.ir.types import TensorType, f32

#: bins of the first batch's histogram (NVIDIA's default; ORT's for percentile)
DEFAULT_NUM_BINS = 2048
#: ORT's default percentile (NVIDIA's is 99.99)
DEFAULT_PERCENTILE = 99.999
#: first |x|-histogram bin that entropy and mse consider as a threshold (NVIDIA)
START_BIN = 128
#: bits of the quantized activations
NUM_BITS = 8
METHODS = ("minmax", "percentile", "entropy", "mse")
FORMAT = "qcc-calibration"
VERSION = 1
#: candidates whose KL divergence is within this of the minimum count as minimal
_KL_TIE = 1e-12


# --------------------------------------------------------------------------- statistics


def _bin_index(x: float, width: float) -> int:
    """Signed bin of a scalar (same arithmetic as :meth:`TensorStats._indices`)."""
    j = math.floor(abs(x) / width)
    return -j - 1 if x < 0 else j


def _merge_indices(k: np.ndarray, factor: int) -> np.ndarray:
    """Signed bin indices after merging ``factor`` |x|-bins into one."""
    j = np.where(k < 0, -k - 1, k) // factor
    return np.where(k < 0, -j - 1, j)


class TensorStats:
    """Streaming min/max and signed histogram of one tensor's values.

    ``counts[i]`` is the number of values in bin ``first_bin + i`` (width
    ``bin_width``). ``bin_width`` is 0 while every value seen is 0 (then
    ``counts == [n]`` at bin 0).
    """

    __slots__ = ("bin_width", "counts", "first_bin", "max", "max_bins", "min", "name",
                 "num_bins")

    def __init__(self, name: str = "", num_bins: int = DEFAULT_NUM_BINS,
                 max_bins: int | None = None):
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        self.name = name
        self.num_bins = int(num_bins)
        self.max_bins = int(max_bins) if max_bins is not None else 32 * self.num_bins
        if self.max_bins < 2 * self.num_bins + 2:
            raise ValueError(f"max_bins ({self.max_bins}) must be at least 2 * num_bins + 2")
        self.min = math.inf
        self.max = -math.inf
        self.bin_width = 0.0
        self.first_bin = 0
        self.counts = np.zeros(0, np.int64)

    # -- queries -------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of values seen."""
        return int(self.counts.sum())

    @property
    def edges(self) -> np.ndarray:
        """The ``len(counts) + 1`` bin edges (float64)."""
        return (self.first_bin + np.arange(len(self.counts) + 1)) * self.bin_width

    @property
    def absmax(self) -> float:
        return max(-self.min, self.max)

    def abs_histogram(self) -> tuple[np.ndarray, float]:
        """(counts, width) of the histogram of |x|: bin j holds [j*w, (j+1)*w)."""
        if self.bin_width == 0.0:
            return self.counts.copy(), 0.0
        k = self.first_bin + np.arange(len(self.counts))
        j = np.where(k < 0, -k - 1, k)
        out = np.zeros(int(j.max()) + 1, np.int64)
        np.add.at(out, j, self.counts)
        return out, self.bin_width

    def __repr__(self) -> str:
        return (f"TensorStats({self.name!r}, n={self.count}, min={self.min}, max={self.max}, "
                f"bins={len(self.counts)} x {self.bin_width})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorStats):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    # -- collection -------------------------------------------------------------------
    def update(self, x: Any) -> None:
        """Add the values of an array (any shape). Refuses NaN and Inf."""
        a = np.asarray(x)
        if a.size == 0:
            return
        if a.dtype.kind not in "fiub":
            raise TypeError(f"tensor '{self.name}': cannot histogram dtype {a.dtype}")
        a = a.reshape(-1).astype(np.float64, copy=False)
        finite = np.isfinite(a)
        if not finite.all():
            bad = a.size - int(np.count_nonzero(finite))
            nans = int(np.count_nonzero(np.isnan(a)))
            raise QccError(f"tensor '{self.name}' has {bad} non-finite value(s) ({nans} NaN, "
                           f"{bad - nans} Inf); calibration needs finite activations")
        lo, hi = float(a.min()), float(a.max())
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        if self.bin_width == 0.0:
            if self.min == 0.0 and self.max == 0.0:  # only zeros so far: no width yet
                if len(self.counts) == 0:
                    self.counts = np.zeros(1, np.int64)
                self.counts[0] += a.size
                return
            self._fix_width()
        self._cover(lo, hi)
        k = self._indices(a)
        self.counts += np.bincount(k - self.first_bin, minlength=len(self.counts))

    def _fix_width(self) -> None:
        """Width from the range seen so far (the first batch, plus earlier zeros)."""
        span = self.max / self.num_bins - self.min / self.num_bins
        if span == 0.0:  # every value equal (and not 0): bins of |x| / num_bins
            span = abs(self.max) / self.num_bins
        self.bin_width = span
        # earlier zeros, if any, stay in bin 0 (counts == [n], first_bin == 0)

    def _indices(self, a: np.ndarray) -> np.ndarray:
        j = np.floor(np.abs(a) / self.bin_width).astype(np.int64)
        return np.where(a < 0, -j - 1, j)

    def _cover(self, lo: float, hi: float) -> None:
        """Grow (or, beyond max_bins, coarsen) the bins so [lo, hi] fits."""
        while True:
            w = self.bin_width
            need_lo = min(self.min, lo)
            need_hi = max(self.max, hi)
            if ((need_hi / w - need_lo / w) + 3 > self.max_bins
                    or max(-need_lo, need_hi) / w > 2.0 ** 62):
                self._coarsen(2)
                continue
            klo, khi = _bin_index(lo, w), _bin_index(hi, w)
            if len(self.counts) == 0:
                first, last = klo, khi
            else:
                first = min(self.first_bin, klo)
                last = max(self.first_bin + len(self.counts) - 1, khi)
            if last - first + 1 > self.max_bins:
                self._coarsen(2)
                continue
            if len(self.counts) == 0:
                self.first_bin, self.counts = first, np.zeros(last - first + 1, np.int64)
            elif first < self.first_bin or last >= self.first_bin + len(self.counts):
                before = self.first_bin - first
                after = last - (self.first_bin + len(self.counts) - 1)
                self.counts = np.concatenate([np.zeros(before, np.int64), self.counts,
                                              np.zeros(after, np.int64)])
                self.first_bin = first
            return

    def _coarsen(self, factor: int) -> None:
        """Merge ``factor`` adjacent |x|-bins (width times factor; exact)."""
        k = self.first_bin + np.arange(len(self.counts))
        k2 = _merge_indices(k, factor)
        first = int(k2[0]) if len(k2) else 0
        counts = np.zeros(int(k2[-1]) - first + 1 if len(k2) else 0, np.int64)
        np.add.at(counts, k2 - first, self.counts)
        self.first_bin, self.counts = first, counts
        self.bin_width *= factor

    # -- (de)serialization ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.count == 0:
            raise ValueError(f"tensor '{self.name}' has no statistics")
        return {"min": float(self.min), "max": float(self.max),
                "bin_width": float(self.bin_width), "first_bin": int(self.first_bin),
                "counts": [int(c) for c in self.counts]}

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any], num_bins: int = DEFAULT_NUM_BINS,
                  where: str = "") -> TensorStats:
        """Statistics from :meth:`to_dict`'s form; QccError (naming ``where`` and the
        tensor) if it is malformed."""

        def bad(msg: str) -> QccError:
            return QccError(f"{where}tensor '{name}': {msg}")

        if not isinstance(d, Mapping):
            raise bad("expected an object")
        keys = {"min", "max", "bin_width", "first_bin", "counts"}
        if set(d) != keys:
            missing, extra = sorted(keys - set(d)), sorted(set(d) - keys)
            raise bad("expected the fields bin_width, counts, first_bin, max, min"
                      + (f"; missing {', '.join(missing)}" if missing else "")
                      + (f"; unknown {', '.join(extra)}" if extra else ""))
        nums = {}
        for k in ("min", "max", "bin_width"):
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise bad(f"'{k}' must be a finite number, got {v!r}")
            nums[k] = float(v)
        first = d["first_bin"]
        if isinstance(first, bool) or not isinstance(first, int):
            raise bad(f"'first_bin' must be an integer, got {first!r}")
        counts = d["counts"]
        if not isinstance(counts, list) or not counts or any(
                isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
            raise bad("'counts' must be a non-empty list of non-negative integers")
        lo, hi, w = nums["min"], nums["max"], nums["bin_width"]
        if lo > hi:
            raise bad(f"min {lo} is greater than max {hi}")
        if w < 0:
            raise bad(f"bin_width {w} is negative")
        if sum(counts) == 0:
            raise bad("counts are all zero")
        if w == 0.0 and (lo != 0.0 or hi != 0.0 or len(counts) != 1 or first != 0):
            raise bad("bin_width 0 is only valid for an all-zero tensor (min = max = 0, "
                      "first_bin 0, one count)")
        if w > 0.0:
            last = first + len(counts) - 1
            if not (first - 1 <= _bin_index(lo, w) and _bin_index(hi, w) <= last + 1):
                raise bad(f"min/max [{lo}, {hi}] lie outside the histogram's bins")
        s = cls(name, num_bins, max(32 * num_bins, len(counts) + 2 * num_bins + 2))
        s.min, s.max, s.bin_width, s.first_bin = lo, hi, w, int(first)
        s.counts = np.asarray(counts, np.int64)
        return s


# --------------------------------------------------------------------------- ranges


def compute_range(stats: TensorStats, method: str = "minmax", *,
                  percentile: float = DEFAULT_PERCENTILE, symmetric: bool = False,
                  num_bins: int = DEFAULT_NUM_BINS, start_bin: int = START_BIN
                  ) -> tuple[float, float]:
    """The calibrated range [lo, hi] of a tensor by ``method``.

    Asymmetric results lie within [min, max]; symmetric ones are [-t, t] with
    t <= max|x|. ``num_bins`` bounds the |x| histogram that entropy and mse search
    (adjacent bins are merged by an integer factor when it has more).
    """
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r} (known: {', '.join(METHODS)})")
    if stats.count == 0:
        raise ValueError(f"tensor '{stats.name}' has no statistics")
    amax = stats.absmax
    if amax == 0.0:
        return 0.0, 0.0
    if method == "minmax":
        return (-amax, amax) if symmetric else (stats.min, stats.max)
    if method == "percentile":
        return percentile_range(stats, percentile, symmetric)
    if method == "entropy":
        t = entropy_threshold(stats, num_bins=num_bins, start_bin=start_bin)
    else:
        t = mse_threshold(stats, num_bins=num_bins, start_bin=start_bin, symmetric=symmetric)
    return _clip_range(stats, t, symmetric)


def _clip_range(stats: TensorStats, t: float, symmetric: bool) -> tuple[float, float]:
    t = min(t, stats.absmax)
    if symmetric:
        return -t, t
    lo, hi = max(stats.min, -t), min(stats.max, t)
    if lo > hi:  # every value beyond the threshold on one side
        lo = hi = t if stats.min > 0 else -t
    return lo, hi


def percentile_range(stats: TensorStats, percentile: float = DEFAULT_PERCENTILE,
                     symmetric: bool = False) -> tuple[float, float]:
    """Percentile range at bin-edge resolution.

    Asymmetric: lo is the largest edge with at most (100-p)/200 of the values below
    it, hi the smallest edge with at most that fraction above it, then clamped to
    [min, max]. Symmetric: t is the smallest edge of the |x| histogram with at most
    (100-p)/100 of the values above it, clamped to max|x|; the range is [-t, t].
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if stats.absmax == 0.0:
        return 0.0, 0.0
    if symmetric:
        h, w = stats.abs_histogram()
        n = int(h.sum())
        cut = (100.0 - percentile) / 100.0 * n
        below = np.concatenate([[0], np.cumsum(h)])
        j = int(np.searchsorted(below, n - cut, side="left"))
        t = min(j * w, stats.absmax)
        return -t, t
    counts = stats.counts
    n = int(counts.sum())
    cut = (100.0 - percentile) / 200.0 * n
    below = np.concatenate([[0], np.cumsum(counts)])
    edges = stats.edges
    i_lo = int(np.searchsorted(below, cut, side="right")) - 1
    i_hi = int(np.searchsorted(below, n - cut, side="left"))
    lo = max(float(edges[i_lo]), stats.min)
    hi = min(float(edges[i_hi]), stats.max)
    if lo > hi:  # p close to 0: both cuts meet inside one bin
        lo = hi = (lo + hi) / 2
    return lo, hi


def search_histogram(stats: TensorStats, num_bins: int = DEFAULT_NUM_BINS
                     ) -> tuple[np.ndarray, float, int]:
    """The |x| histogram entropy and mse search: (counts, width, merge factor).

    The fold of the signed histogram, with ``m`` adjacent bins merged (m the
    smallest integer giving at most num_bins + 1 bins; 1 unless the histogram grew
    or the values lie far from 0).
    """
    h, w = stats.abs_histogram()
    m = max(1, -(-len(h) // (num_bins + 1)))
    if m > 1:
        h = np.concatenate([h, np.zeros((-len(h)) % m, np.int64)]).reshape(-1, m).sum(1)
    return h, w * m, m


def entropy_threshold(stats: TensorStats, num_bins: int = DEFAULT_NUM_BINS,
                      start_bin: int = START_BIN, num_bits: int = NUM_BITS) -> float:
    """NVIDIA's (pytorch-quantization ``_compute_amax_entropy``) KL threshold.

    On the |x| histogram ``bins`` (:func:`search_histogram`), with ``bins[0]``
    replaced by ``bins[1]`` (NVIDIA ignores the spike of exact zeros), for every
    candidate ``i`` in [start_bin, len(bins)]: the reference p is ``bins[:i]`` with
    the tail ``sum(bins[i:])`` added to its last bin; the candidate q merges bin j
    into level floor(j * L / i), L = 2^(num_bits-1) = 128 levels, and spreads each
    level's count evenly over its non-empty bins. KL(p || q) of the normalized
    distributions (inf where p > 0 and q = 0); the threshold is edge ``i`` of the
    last minimum (ties within 1e-12), at most max|x|. Vectorized over candidates
    with prefix sums: O(candidates x L), not O(candidates x bins).
    """
    amax = stats.absmax
    h, w, _ = search_histogram(stats, num_bins)
    n = len(h)
    levels = 1 << (num_bits - 1)
    if w == 0.0 or n < 1:
        return amax
    bins = h.astype(np.float64)
    if n > 1:
        bins[0] = bins[1]
    cand = np.arange(max(start_bin, 1), n + 1, dtype=np.int64)
    if cand.size == 0:
        return amax
    csum = np.concatenate([[0.0], np.cumsum(bins)])
    nz = np.concatenate([[0], np.cumsum(bins > 0)])
    with np.errstate(divide="ignore", invalid="ignore"):
        xlogx = np.where(bins > 0, bins * np.log(np.where(bins > 0, bins, 1.0)), 0.0)
    lsum = np.concatenate([[0.0], np.cumsum(xlogx)])
    total = csum[n]
    if total <= 0:
        return amax
    m = np.arange(levels + 1, dtype=np.int64)
    bounds = (m[None, :] * cand[:, None] + levels - 1) // levels  # ceil(m * i / L)
    s = csum[bounds[:, 1:]] - csum[bounds[:, :-1]]
    k = nz[bounds[:, 1:]] - nz[bounds[:, :-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        level_terms = np.where(k > 0, s * np.log(np.where(k > 0, s, 1.0) / np.maximum(k, 1)),
                               0.0)
        p_log_q = level_terms.sum(axis=1)
        i = cand
        last = bins[i - 1]
        tail = total - csum[i]
        rows = np.arange(len(cand))
        m_last = ((i - 1) * levels) // i
        s_last, k_last = s[rows, m_last], k[rows, m_last]
        q_last = np.where(k_last > 0, s_last / np.maximum(k_last, 1), 1.0)
        p_log_q = p_log_q + np.where(tail > 0, tail * np.log(np.where(q_last > 0, q_last, 1.0)),
                                     0.0)
        p_last = last + tail
        p_log_p = lsum[i - 1] + np.where(p_last > 0, p_last * np.log(np.where(p_last > 0,
                                                                              p_last, 1.0)),
                                         0.0)
        q_total = csum[i]
        kl = (p_log_p - p_log_q) / total + np.log(np.where(q_total > 0, q_total, 1.0) / total)
    kl = np.where(((tail > 0) & (last == 0)) | (q_total <= 0), np.inf, kl)
    if not np.isfinite(kl).any():
        return amax
    best = kl.min()
    pick = int(np.nonzero(kl <= best + _KL_TIE)[0][-1])
    return min(float(cand[pick]) * w, amax)


def quantization_mse(stats: TensorStats, lo: float, hi: float, symmetric: bool = False,
                     num_bins: int = DEFAULT_NUM_BINS) -> float:
    """Expected squared error of int8-quantizing the tensor with range [lo, hi].

    Values are taken as uniform within each histogram bin (intersected with
    [min, max]); the grid is :func:`qcc.quant_arith.choose_scale_zero_point`'s
    (int8 [-128, 127] asymmetric, [-127, 127] symmetric); values beyond the grid
    clip to its ends.
    """
    return float(_mse_of_clips(stats, np.array([lo]), np.array([hi]), symmetric,
                               num_bins)[0])


def _grid(lo: np.ndarray, hi: np.ndarray, symmetric: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from qcc.quant_arith import choose_scale_zero_point

    qmin, qmax = (-127, 127) if symmetric else (-128, 127)
    scale, g0, g1 = [], [], []
    for a, b in zip(lo, hi, strict=True):
        s, zp = choose_scale_zero_point(float(a), float(b), qmin, qmax, symmetric)
        scale.append(s)
        g0.append(s * (qmin - zp))
        g1.append(s * (qmax - zp))
    return np.array(scale), np.array(g0), np.array(g1)


def _mse_of_clips(stats: TensorStats, lo: np.ndarray, hi: np.ndarray, symmetric: bool,
                  num_bins: int) -> np.ndarray:
    """Expected squared error (per value) for each candidate range [lo_c, hi_c].

    With bin k holding c_k values spread evenly over [a_k, b_k] (density d_k), the
    error is sum_k d_k (F(b_k) - F(a_k)), F the antiderivative of the squared error;
    bins share edges, so this is sum_j F(e_j) (d_{j-1} - d_j): one evaluation of F
    per edge and a dot product per candidate.
    """
    _, _, m = search_histogram(stats, num_bins)
    counts, first, w = stats.counts, stats.first_bin, stats.bin_width
    if m > 1:  # the signed bins matching the merged |x| bins
        k2 = _merge_indices(first + np.arange(len(counts)), m)
        first = int(k2[0])
        merged = np.zeros(int(k2[-1]) - first + 1, np.int64)
        np.add.at(merged, k2 - first, counts)
        counts, w = merged, w * m
    edges = np.clip((first + np.arange(len(counts) + 1)) * w, stats.min, stats.max)
    length = np.diff(edges)
    c = counts.astype(np.float64)
    spread = (length > 0) & (c > 0)
    density = np.where(spread, c / np.where(spread, length, 1.0), 0.0)
    padded = np.concatenate([[0.0], density, [0.0]])
    weights = padded[:-1] - padded[1:]  # d_{j-1} - d_j per edge
    point_bins = (length <= 0) & (c > 0)  # values squeezed onto one point
    px, pc = edges[:-1][point_bins], c[point_bins]
    total = c.sum()
    scale, g0, g1 = _grid(np.asarray(lo, np.float64), np.asarray(hi, np.float64), symmetric)
    out = np.empty(len(scale))
    used = weights != 0  # edges inside runs of equal density cancel out
    e, weights = edges[used][None, :], weights[used]
    chunk = max(1, (1 << 19) // max(1, e.shape[1]))
    for start in range(0, len(scale), chunk):
        s = scale[start:start + chunk, None]
        lo_g = g0[start:start + chunk, None]
        hi_g = g1[start:start + chunk, None]
        # F(e) up to constants (the weights sum to 0): rounding error inside the grid,
        # s^3 * H(e / s), plus clipping error beyond either end
        u = np.clip(e, lo_g, hi_g) / s
        r = np.floor(u + 0.5)
        v = u - r
        above = np.maximum(e - hi_g, 0.0)
        below = np.minimum(e - lo_g, 0.0)
        f = (s * s * s) * (r / 12.0 + v * v * v / 3.0) + (above * above * above
                                                        + below * below * below) / 3.0
        err = f @ weights
        if len(px):
            x = px[None, :]
            q = np.clip(s * np.round(x / s), lo_g, hi_g)
            err = err + ((x - q) ** 2) @ pc
        out[start:start + chunk] = err / total
    return out


def mse_threshold(stats: TensorStats, num_bins: int = DEFAULT_NUM_BINS,
                  start_bin: int = START_BIN, symmetric: bool = False) -> float:
    """The clip value c minimizing the expected squared int8 quantization error.

    Candidates: the edges i*W of the |x| histogram (:func:`search_histogram`) for i
    from start_bin on, below max|x|, and max|x| itself (no clipping). Asymmetric: the
    range [max(min, -c), min(max, c)] quantized to int8 [-128, 127] with a zero point;
    symmetric: [-c, c] to [-127, 127]. The error (:func:`quantization_mse`) includes
    the clipping error. The first minimum wins.
    """
    amax = stats.absmax
    h, w, _ = search_histogram(stats, num_bins)
    if w == 0.0:
        return amax
    i = np.arange(max(start_bin, 1), len(h) + 1)
    cands = i * w
    cands = np.unique(np.append(cands[cands < amax], amax))
    if symmetric:
        lo, hi = -cands, cands
    else:
        lo, hi = np.maximum(stats.min, -cands), np.minimum(stats.max, cands)
        # every value beyond the clip on one side: they all clip to it
        lo = np.where(stats.min > cands, cands, np.where(stats.max < -cands, -cands, lo))
        hi = np.where(stats.min > cands, cands, np.where(stats.max < -cands, -cands, hi))
    errors = _mse_of_clips(stats, lo, hi, symmetric, num_bins)
    return float(cands[int(np.argmin(errors))])


# --------------------------------------------------------------------------- JSON


def dumps_stats(stats: Mapping[str, TensorStats], num_samples: int) -> str:
    """The JSON text of raw statistics: sorted keys, one tensor per line, floats in
    their shortest round-trip form; the same statistics always give the same bytes."""
    entries = []
    for name in sorted(stats):
        body = json.dumps(stats[name].to_dict(), sort_keys=True, allow_nan=False)
        entries.append(f"  {json.dumps(name)}: {body}")
    tensors = "{\n" + ",\n".join(entries) + "\n}" if entries else "{}"
    return (f'{{"format": {json.dumps(FORMAT)}, "num_samples": {int(num_samples)}, '
            f'"tensors": {tensors}, "version": {VERSION}}}\n')


def save_stats(path: str | os.PathLike, stats: Mapping[str, TensorStats],
               num_samples: int) -> None:
    """Write raw statistics to ``path`` (atomically)."""
    from qcc.driver import write_atomic

    write_atomic(path, dumps_stats(stats, num_samples))


def loads_stats(text: str, where: str = "<string>", num_bins: int = DEFAULT_NUM_BINS
                ) -> tuple[dict[str, TensorStats], int]:
    """(statistics by tensor name, number of samples) from :func:`dumps_stats`'s text."""
    prefix = f"{where}: "

    def reject(token: str) -> Any:
        raise ValueError(f"{token} is not allowed")

    try:
        doc = json.loads(text, parse_constant=reject)
    except ValueError as e:
        raise QccError(f"{prefix}not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise QccError(f"{prefix}not a qcc calibration statistics file (expected "
                       f'"format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise QccError(f"{prefix}unsupported version {doc.get('version')!r} (this qcc reads "
                       f"version {VERSION})")
    extra = sorted(set(doc) - {"format", "version", "num_samples", "tensors"})
    if extra:
        raise QccError(f"{prefix}unknown field {extra[0]!r}")
    n = doc.get("num_samples")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise QccError(f"{prefix}'num_samples' must be a non-negative integer, got {n!r}")
    tensors = doc.get("tensors")
    if not isinstance(tensors, dict):
        raise QccError(f"{prefix}'tensors' must be an object of tensor statistics")
    out = {name: TensorStats.from_dict(name, d, num_bins, prefix) for name, d in tensors.items()}
    return out, n


def load_stats(path: str | os.PathLike, num_bins: int = DEFAULT_NUM_BINS
               ) -> tuple[dict[str, TensorStats], int]:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise QccError(f"calibration statistics {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise QccError(f"calibration statistics {path}: cannot read it: {e}") from None
    return loads_stats(text, str(path), num_bins)


# --------------------------------------------------------------------------- what to calibrate


def is_f32_tensor(t: Any) -> bool:
    return isinstance(t, TensorType) and t.element == f32


def calibrated_values(graph: Graph) -> dict[Value, str]:
    """The float activations of a graph, by printed name, in graph order: f32
    arguments and f32 results of ops that depend on an argument (not ``nn.constant``
    nor anything computed from constants only; not ``quant.stats``, whose input is
    the calibrated value)."""
    from qcc.dialects import nn, quant
    from qcc.text.printer import value_names

    names = value_names(graph)
    out = {a: names[a] for a in graph.args if is_f32_tensor(a.type)}
    constant: set[Value] = set()
    for op in graph.ops:
        if isinstance(op, ReturnOp):
            continue
        if isinstance(op, nn.ConstantOp) or all(v in constant for v in op.operands):
            constant.update(op.results)
            continue
        if isinstance(op, quant.StatsOp):
            continue
        for r in op.results:
            if is_f32_tensor(r.type):
                out[r] = names[r]
    return out


def batch_size(graph: Graph) -> int:
    """The batch size B of a graph: the first dimension its inputs share."""
    sizes = {a.type.shape[0] for a in graph.args
             if isinstance(a.type, TensorType) and a.type.rank >= 1}
    if len(sizes) > 1:
        shapes = ", ".join(f"{n} ({a.type})" for n, a in zip(graph.input_names, graph.args,
                                                             strict=True))
        raise QccError(f"calibration batches inputs along their first dimension, but the "
                       f"inputs disagree on it: {shapes}")
    b = sizes.pop() if sizes else 1
    if b < 1:
        raise QccError("calibration cannot run a model whose batch size is 0")
    scalars = [n for n, a in zip(graph.input_names, graph.args, strict=True)
               if not isinstance(a.type, TensorType) or a.type.rank == 0]
    if scalars and b != 1:
        raise QccError(f"input {scalars[0]!r} is a scalar, so it has no batch dimension, "
                       f"but the other inputs have batch size {b}")
    return b


def batch_major_values(graph: Graph, batch: int) -> set[Value]:
    """Values whose axis 0 provably holds one row per batch sample, each computed
    from that sample alone (and constants). Used to drop the padding rows of the
    last, partial batch."""
    from qcc.dialects import nn, quant

    const: set[Value] = set()
    bm: set[Value] = {a for a in graph.args if isinstance(a.type, TensorType)
                      and a.type.rank >= 1 and a.type.shape[0] == batch}
    unary = (nn.ReluOp, nn.SigmoidOp, nn.TanhOp, nn.IdentityOp, nn.DropoutOp,
             nn.LeakyReluOp, nn.ClipOp, nn.MaxPoolOp, nn.AvgPoolOp, nn.GlobalAvgPoolOp,
             quant.StatsOp)

    def rows(v: Value) -> bool:
        return v in bm

    for op in graph.ops:
        if isinstance(op, ReturnOp):
            continue
        if isinstance(op, nn.ConstantOp) or all(v in const for v in op.operands):
            const.update(op.results)
            continue
        if len(op.results) != 1:
            continue
        out = op.results[0]
        t = out.type
        if not isinstance(t, TensorType) or t.rank < 1 or t.shape[0] != batch:
            continue
        ops = op.operands
        rest_const = all(v in const for v in ops[1:])
        ok = False
        if isinstance(op, unary):
            ok = rows(ops[0])
        elif isinstance(op, nn.SoftmaxOp):
            ok = rows(ops[0]) and op.axis % t.rank != 0
        elif isinstance(op, nn.AddOp | nn.SubOp | nn.MulOp | nn.DivOp):
            ok = all((rows(v) and v.type.rank == t.rank) or
                     (v in const and (v.type.rank < t.rank or v.type.shape[0] == 1))
                     for v in ops)
        elif isinstance(op, nn.Conv2dOp | nn.BatchNormOp):
            ok = rows(ops[0]) and rest_const
        elif isinstance(op, nn.DenseOp):
            ok = rows(ops[0]) and ops[0].type.rank >= 2 and rest_const
        elif isinstance(op, nn.GemmOp):
            ok = rows(ops[0]) and not op.trans_a and rest_const
        elif isinstance(op, nn.MatMulOp):
            ok = (rows(ops[0]) and ops[0].type.rank >= 2 and rest_const
                  and ops[1].type.rank <= ops[0].type.rank)
        elif isinstance(op, nn.ReshapeOp | nn.TransposeOp | nn.PadOp):
            if isinstance(op, nn.TransposeOp):
                ok = rows(ops[0]) and op.perm[0] == 0
            elif isinstance(op, nn.PadOp):
                ok = rows(ops[0]) and op.pads[0] == 0 and op.pads[t.rank] == 0
            else:
                ok = rows(ops[0])  # row-major: a kept first dimension keeps the rows
        elif isinstance(op, nn.ConcatOp):
            ok = all(rows(v) for v in ops) and op.axis % t.rank != 0
        if ok:
            bm.add(out)
    return bm


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class InputSpec:
    """What calibration data must hold for one graph input."""

    name: str
    type: TensorType
    sample_shape: tuple[int, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{self.name!r} ({self.type})"


def _shape(s: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def _read_npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        return fmt.read_array_header_1_0(f)
    if version == (2, 0):
        return fmt.read_array_header_2_0(f)
    return fmt._read_array_header(f, version)  # version 3.0: utf-8 field names


class _NpzMember:
    """One array of a .npz, read row by row (bounded memory) from the zip stream."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str):
        self.zf, self.info, self.where = zf, info, where
        with zf.open(info) as f:
            self.shape, self.fortran, self.dtype = _read_npy_header(f)

    def read(self) -> np.ndarray:
        """The whole array."""
        with self.zf.open(self.info) as f:
            _read_npy_header(f)
            count = math.prod(self.shape)
            data = np.frombuffer(f.read(count * self.dtype.itemsize), self.dtype)
        if data.size != count:
            raise QccError(f"{self.where}: array is truncated")
        return data.reshape(self.shape, order="F" if self.fortran else "C")

    def rows(self, chunk_rows: int = 256) -> Iterator[np.ndarray]:
        shape, dtype = self.shape, self.dtype
        with self.zf.open(self.info) as f:
            _read_npy_header(f)
            if len(shape) == 0:
                yield np.frombuffer(f.read(dtype.itemsize), dtype).reshape(())
                return
            if self.fortran and len(shape) > 1:  # column-major: rows are not contiguous
                data = np.frombuffer(f.read(), dtype)
                yield from data.reshape(shape, order="F")
                return
            row = math.prod(shape[1:]) * dtype.itemsize
            left = shape[0]
            while left:
                k = min(left, chunk_rows)
                buf = f.read(row * k)
                if len(buf) != row * k:
                    raise QccError(f"{self.where}: array is truncated")
                yield from np.frombuffer(buf, dtype).reshape((k, *shape[1:]))
                left -= k


def _open_npz(path: Path) -> tuple[zipfile.ZipFile, dict[str, _NpzMember]]:
    try:
        zf = zipfile.ZipFile(path)
        members = {}
        for info in zf.infolist():
            if info.filename.endswith(".npy"):
                name = info.filename[:-4]
                members[name] = _NpzMember(zf, info, f"{path} ({name})")
        return zf, members
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise QccError(f"calibration data {path}: not a readable .npz file ({e})") from None


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise QccError(f"calibration data {path}: not a readable .npy file ({e})") from None


class CalibrationData:
    """Calibration samples for a graph, streamed in batches of its batch size.

    ``source`` is one of:

    - a path to a ``.npz`` file: one array per input, named by the input, first
      axis = samples (any number); read row by row from the archive;
    - a path to a folder of ``.npy`` / ``.npz`` files (taken in name order), each a
      sample (the input's shape without its batch dimension) or a batch of samples
      (one more leading axis); a ``.npy`` needs a single-input model; ``.npy`` files
      are memory-mapped, one file open at a time;
    - a path to a single ``.npy`` file (a sample or a batch, single-input models);
    - a mapping {input name: array with samples on axis 0} (like a loaded .npz);
    - an iterable of mappings {input name: sample or batch of samples}.

    Samples are cast to the input's dtype (same kind only) and must be finite.
    Batches: B consecutive samples; a last partial batch of r < B samples is padded
    with copies of its own samples and reported as holding r valid samples (the
    :class:`Collector` drops the padding rows from the statistics).
    """

    def __init__(self, graph: Graph, source: Any):
        self.graph = graph
        self.batch = batch_size(graph)
        self.specs = []
        for name, a in zip(graph.input_names, graph.args, strict=True):
            t = a.type
            sample = t.shape[1:] if t.rank >= 1 else ()
            self.specs.append(InputSpec(name, t, tuple(sample), t.element.numpy_dtype))
        self.source = source
        self.description = (f"calibration data {source}" if isinstance(source, str | os.PathLike)
                             else "calibration data")
        #: number of samples, when known before streaming
        self.total: int | None = None
        self._ignored: set[tuple[str, ...]] = set()
        self._plan: Callable[[], Iterator[tuple[str, int, dict[str, np.ndarray]]]]
        self._prepare()

    # -- validation ---------------------------------------------------------------------
    def _spec(self, name: str, where: str) -> InputSpec:
        for s in self.specs:
            if s.name == name:
                return s
        inputs = ", ".join(s.describe() for s in self.specs) or "none"
        raise QccError(f"{where} has an array {name!r}, which is not an input of the model "
                       f"(its inputs: {inputs})")

    def _check_names(self, names: Iterable[str], where: str) -> None:
        """Every input needs an array; other arrays (labels, say) are ignored, with a
        warning the first time."""
        names = list(names)
        for s in self.specs:
            if s.name not in names:
                have = f" (it has {', '.join(map(repr, names))})" if names else ""
                raise QccError(f"{where} has no array for input {s.describe()}{have}")
        inputs = {s.name for s in self.specs}
        extra = tuple(n for n in names if n not in inputs)
        if extra and extra not in self._ignored:
            self._ignored.add(extra)
            warn(f"{where}: ignoring {', '.join(map(repr, extra))}: not an input of the "
                 f"model (its inputs: {', '.join(sorted(inputs))})")

    def _check_array(self, spec: InputSpec, shape: tuple[int, ...], dtype: np.dtype,
                     where: str, batch_only: bool) -> int:
        """Samples in an array of this shape (a sample, or a batch with one more axis)."""
        if dtype.hasobject:
            raise QccError(f"{where}: input {spec.name!r} holds Python objects, not numbers")
        want = spec.dtype
        ok = (dtype.kind == "f") if want.kind == "f" else (
            dtype.kind in "iu" if want.kind in "iu" else dtype.kind == want.kind)
        if not ok:
            raise QccError(f"{where}: input {spec.name!r} has dtype {dtype}; the model expects "
                           f"{want} ({spec.type})")
        sample = spec.sample_shape
        if len(shape) == len(sample) + 1 and tuple(shape[1:]) == sample:
            return int(shape[0])
        if not batch_only and tuple(shape) == sample:
            return 1
        batched = _shape(("N", *sample))
        form = (f"{batched} (N samples)" if batch_only
                else f"{_shape(sample)} (one sample) or {batched} (N samples)")
        raise QccError(f"{where}: input {spec.name!r} has shape {_shape(shape)}, but its samples "
                       f"have shape {_shape(sample)} ({spec.type} without the batch "
                       f"dimension): expected {form}")

    def _check_counts(self, counts: dict[str, int], where: str) -> int:
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{n!r} has {c}" for n, c in counts.items())
            raise QccError(f"{where}: arrays hold different numbers of samples: {detail}")
        return next(iter(counts.values()), 0)

    def _cast(self, spec: InputSpec, a: np.ndarray, where: str, index: int) -> np.ndarray:
        a = np.asarray(a, dtype=spec.dtype)
        if spec.dtype.kind == "f":
            finite = np.isfinite(a)
            if not finite.all():
                bad = a.size - int(np.count_nonzero(finite))
                raise QccError(f"{where}: input {spec.name!r} sample {index} has {bad} "
                               "non-finite value(s) (NaN or Inf)")
        return a

    # -- sources ------------------------------------------------------------------------
    def _prepare(self) -> None:
        src = self.source
        if isinstance(src, str | os.PathLike):
            path = Path(src)
            if path.is_dir():
                self._prepare_folder(path)
            elif path.is_file() and path.suffix == ".npz":
                self._prepare_npz(path)
            elif path.is_file() and path.suffix == ".npy":
                self._prepare_files(path.parent, [path])
            elif path.exists():
                raise QccError(f"calibration data {path}: expected a .npz file, a .npy file "
                               "or a folder of them")
            else:
                raise QccError(f"calibration data {path}: no such file or directory")
        elif isinstance(src, Mapping):
            self._prepare_mapping(src)
        elif isinstance(src, Iterable):
            self._plan = lambda: self._iter_items(src)  # items may be samples or batches
        else:
            raise QccError(f"calibration data must be a path, a mapping of arrays or an "
                           f"iterable of mappings, not {type(src).__name__}")

    def _prepare_npz(self, path: Path) -> None:
        where = f"calibration data {path}"
        zf, members = _open_npz(path)
        try:
            self._check_names(members, where)
            counts = {}
            for s in self.specs:
                m = members[s.name]
                counts[s.name] = self._check_array(s, m.shape, m.dtype, where, True)
            self.total = self._check_counts(counts, where)
        finally:
            zf.close()

        def plan() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            zf, members = _open_npz(path)
            with zf:
                streams = [members[s.name].rows() for s in self.specs]
                for i, row in enumerate(zip(*streams, strict=True)):
                    yield where, i, dict(zip((s.name for s in self.specs), row, strict=True))

        self._plan = plan

    def _prepare_mapping(self, arrays: Mapping[str, Any]) -> None:
        where = "calibration data"
        self._check_names(arrays, where)
        data = {s.name: np.asarray(arrays[s.name]) for s in self.specs}
        counts = {s.name: self._check_array(s, data[s.name].shape, data[s.name].dtype, where,
                                            True) for s in self.specs}
        self.total = self._check_counts(counts, where)

        def plan() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            for i in range(self.total or 0):
                yield where, i, {n: a[i] for n, a in data.items()}

        self._plan = plan

    def _prepare_folder(self, folder: Path) -> None:
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix in (".npy", ".npz"))
        self._prepare_files(folder, files)

    def _prepare_files(self, folder: Path, files: list[Path]) -> None:
        total = 0
        for p in files:  # headers only: errors before the (long) run
            total += self._file_samples(p, read=False)[0]
        self.total = total

        def plan() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            for p in files:
                yield from self._file_samples(p, read=True)[1]

        self._plan = plan

    def _file_samples(self, path: Path, read: bool
                      ) -> tuple[int, Iterator[tuple[str, int, dict[str, np.ndarray]]]]:
        where = f"calibration data {path}"
        if path.suffix == ".npy":
            if len(self.specs) != 1:
                raise QccError(f"{where}: a .npy file holds one array, but the model has "
                               f"{len(self.specs)} inputs "
                               f"({', '.join(s.name for s in self.specs)}); use .npz files "
                               "with one array per input")
            spec = self.specs[0]
            arr = _open_npy(path)
            n = self._check_array(spec, arr.shape, arr.dtype, where, False)
            single = arr.shape == spec.sample_shape

            def gen_npy() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
                if single:
                    yield where, 0, {spec.name: np.array(arr)}
                    return
                for i in range(n):
                    yield where, i, {spec.name: np.array(arr[i])}

            return n, gen_npy() if read else iter(())
        zf, members = _open_npz(path)
        with zf:
            self._check_names(members, where)
            counts, single = {}, {}
            for s in self.specs:
                m = members[s.name]
                counts[s.name] = self._check_array(s, m.shape, m.dtype, where, False)
                single[s.name] = tuple(m.shape) == s.sample_shape
            n = self._check_counts(counts, where)

        def gen_npz() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            zf, members = _open_npz(path)
            with zf:
                streams = [iter([members[s.name].read()]) if single[s.name]
                           else members[s.name].rows() for s in self.specs]
                for i, row in enumerate(zip(*streams, strict=True)):
                    yield where, i, dict(zip((s.name for s in self.specs), row, strict=True))

        return n, gen_npz() if read else iter(())

    def _iter_items(self, items: Iterable[Any]) -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
        for k, item in enumerate(items):
            where = f"calibration data item {k}"
            if not isinstance(item, Mapping):
                raise QccError(f"{where}: expected a mapping {{input name: array}}, got "
                               f"{type(item).__name__}")
            self._check_names(item, where)
            arrays = {s.name: np.asarray(item[s.name]) for s in self.specs}
            counts = {s.name: self._check_array(s, arrays[s.name].shape, arrays[s.name].dtype,
                                                where, False) for s in self.specs}
            n = self._check_counts(counts, where)
            single = {s.name: arrays[s.name].ndim == len(s.sample_shape) for s in self.specs}
            for i in range(n):
                yield where, i, {s.name: arrays[s.name] if single[s.name] else arrays[s.name][i]
                                 for s in self.specs}

    # -- streaming ----------------------------------------------------------------------
    def samples(self) -> Iterator[dict[str, np.ndarray]]:
        """Every sample, checked and cast to the inputs' dtypes."""
        specs = self.specs
        empty = True
        for where, i, sample in self._plan():
            empty = False
            yield {s.name: self._cast(s, sample[s.name], where, i) for s in specs}
        if empty:
            raise QccError(f"{self.description} is empty: it holds no samples")

    def batches(self) -> Iterator[tuple[dict[str, np.ndarray], int]]:
        """(inputs of the graph's shapes, number of real samples in them)."""
        b = self.batch
        buf: list[dict[str, np.ndarray]] = []
        for sample in self.samples():
            buf.append(sample)
            if len(buf) == b:
                yield self._stack(buf), b
                buf = []
        if buf:
            r = len(buf)
            yield self._stack(buf + [buf[i % r] for i in range(b - r)]), r

    def _stack(self, samples: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        out = {}
        for s in self.specs:
            if s.type.rank == 0:
                out[s.name] = samples[0][s.name]
            else:
                out[s.name] = np.stack([x[s.name] for x in samples])
        return out


def iterate_batches(source: Any, graph: Graph) -> Iterator[dict[str, np.ndarray]]:
    """The graph-shaped input batches of calibration data (any source
    :class:`CalibrationData` accepts). A last partial batch comes padded with copies
    of its own samples; use :meth:`CalibrationData.batches` to know how many rows
    are real."""
    for inputs, _ in CalibrationData(graph, source).batches():
        yield inputs


def random_samples(graph: Graph, count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``count`` standard-normal samples per input, from a fixed seed (meaningless
    ranges for real inputs; for tests and smoke runs only)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        sample = {}
        for name, a in zip(graph.input_names, graph.args, strict=True):
            shape = a.type.shape[1:] if a.type.rank >= 1 else ()
            sample[name] = rng.standard_normal(shape).astype(a.type.element.numpy_dtype)
        out.append(sample)
    return out


# --------------------------------------------------------------------------- progress


class Progress:
    """A plain-text progress bar on stderr, shown only on a terminal (or when
    ``enabled`` is True)."""

    def __init__(self, total: int | None, label: str = "calibrating",
                 stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.label = label
        self.done = 0
        self._last = 0.0
        self._shown = False

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and not (self.total and self.done >= self.total):
            return
        self._last = now
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            text = f"{self.label} [{bar}] {self.done}/{self.total} samples {100 * frac:3.0f}%"
        else:
            text = f"{self.label}: {self.done} samples"
        self.stream.write("\r" + text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


# --------------------------------------------------------------------------- collection


class Collector:
    """Runs the FP32 interpreter over calibration batches and keeps one
    :class:`TensorStats` per float activation, keyed by its printed name."""

    def __init__(self, module: Module | Graph, num_bins: int = DEFAULT_NUM_BINS,
                 max_bins: int | None = None):
        self.graph = module.main if isinstance(module, Module) else module
        self.values = calibrated_values(self.graph)
        self.stats = {name: TensorStats(name, num_bins, max_bins)
                      for name in self.values.values()}
        self.batch = batch_size(self.graph)
        self.num_samples = 0
        self._batch_major: set[Value] | None = None

    def add_batch(self, inputs: Mapping[str, Any], valid: int | None = None) -> None:
        """Run one batch; only its first ``valid`` samples (rows) count."""
        from qcc.interpreter import run

        valid = self.batch if valid is None else valid
        if not 0 < valid <= self.batch:
            raise ValueError(f"valid must be in 1..{self.batch}, got {valid}")
        if valid < self.batch:
            if self._batch_major is None:
                self._batch_major = batch_major_values(self.graph, self.batch)
            for v, name in self.values.items():
                if v not in self._batch_major:
                    raise QccError(
                        f"the last calibration batch holds {valid} of {self.batch} samples, "
                        f"and tensor '{name}' ({v.type}) does not keep the batch on its "
                        f"first axis, so the padding cannot be left out of its statistics; "
                        f"give a multiple of {self.batch} samples")
        first = self.num_samples

        def observe(v: Value, arr: np.ndarray) -> None:
            name = self.values.get(v)
            if name is None:
                return
            try:
                self.stats[name].update(arr if valid == self.batch else arr[:valid])
            except QccError as e:
                raise QccError(f"{e.message} (calibration samples {first}.."
                               f"{first + valid - 1})", e.loc) from None

        run(self.graph, inputs, observer=observe)
        self.num_samples += valid

    def collect(self, data: CalibrationData | Any, progress: bool | None = None,
                stream: TextIO | None = None) -> dict[str, TensorStats]:
        """Feed every batch of ``data`` (a :class:`CalibrationData` or any source it
        accepts); returns the statistics."""
        if not isinstance(data, CalibrationData):
            data = CalibrationData(self.graph, data)
        bar = Progress(data.total, stream=stream, enabled=progress)
        try:
            for inputs, valid in data.batches():
                self.add_batch(inputs, valid)
                bar.update(valid)
        finally:
            bar.close()
        return self.stats


@dataclass
class CalibrationResult:
    """What ``calibrate`` leaves in ``ctx.data["calibration"]``."""

    method: str
    symmetric: bool
    num_samples: int
    #: raw statistics by printed value name
    stats: dict[str, TensorStats] = field(default_factory=dict)
    #: calibrated [lo, hi] by printed value name
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
