"""Range derivation: the calibrated range [lo, hi] of a tensor from its
:class:`~qcc.calibration.stats.TensorStats`, by method (:func:`compute_range`).

Every method derives its range from the same collection, so methods can be compared
without running the model again. Methods (docs/calibration.md has the details and
the differences from ONNX Runtime and NVIDIA's tools):

- ``minmax``: [min, max] (symmetric: [-max|x|, max|x|]).
- ``percentile`` (default 99.999, as ORT): asymmetric cuts (100-p)/2 % of the values
  on each side of the signed histogram; symmetric cuts (100-p) % of |x|.
- ``entropy``: NVIDIA's KL-divergence search on the |x| histogram (start bin 128,
  128 quantized levels, tail folded into the last bin, last minimum).
- ``mse``: the clip value (a bin edge of the |x| histogram from start bin 128 on, or
  max|x|) whose int8 quantization has the least expected squared error, clipping
  included, assuming values uniform within each histogram bin.
"""

from __future__ import annotations

import numpy as np

from qcc.calibration.stats import DEFAULT_NUM_BINS, TensorStats, _merge_indices

#: ORT's default percentile (NVIDIA's is 99.99)
DEFAULT_PERCENTILE = 99.999
#: first |x|-histogram bin that entropy and mse consider as a threshold (NVIDIA)
START_BIN = 128
#: bits of the quantized activations
NUM_BITS = 8
METHODS = ("minmax", "percentile", "entropy", "mse")
#: candidates whose KL divergence is within this of the minimum count as minimal
_KL_TIE = 1e-12


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
