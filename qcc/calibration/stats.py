"""Raw calibration statistics: :class:`TensorStats` (the streaming min/max and signed
histogram of one tensor) and their JSON form (:func:`dumps_stats` /
:func:`loads_stats`, :func:`save_stats` / :func:`load_stats`), so statistics can be
saved and the ranges re-derived later without running the model again.

The histogram: a constant bin width ``w`` fixed by the first batch ((max - min) /
num_bins) and bins at integer multiples of it, so 0 is always an edge. Bin ``k >= 0``
holds [k*w, (k+1)*w); bin ``k < 0`` holds (k*w, (k+1)*w], the mirror image, so the
histogram of |x| is the exact fold of the signed one (bin ``k`` and bin ``-k-1``).
Later data outside the range adds bins at either end, same width. A histogram may
not exceed ``max_bins`` (default 32 * num_bins): beyond that the width doubles
(pairs of bins merge, exactly, since edges stay multiples of the width).

The JSON file: ``{"format": "qcc-calibration", "num_samples": N, "tensors": {name:
{"bin_width", "counts", "first_bin", "max", "min"}}, "version": 1}``, keys sorted and
one tensor per line, so the same statistics always give the same bytes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qcc import fast
from qcc.diagnostics import QccError

#: bins of the first batch's histogram (NVIDIA's default; ORT's for percentile)
DEFAULT_NUM_BINS = 2048
#: values binned per step of TensorStats._count (8 MiB of float64)
_CHUNK = 1 << 20
FORMAT = "qcc-calibration"
VERSION = 1


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

    __slots__ = ("bin_width", "counts", "first_bin", "lane_absmax", "max", "max_bins", "min",
                 "name", "num_bins")

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
        #: max |x| per index of the last axis (outlier channels), when collected
        self.lane_absmax: np.ndarray | None = None

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
        a = a.reshape(-1)
        # min and max are exact in the array's own type; NaN propagates through them
        lo, hi = float(a.min()), float(a.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            a = a.astype(np.float64)
            bad = a.size - int(np.count_nonzero(np.isfinite(a)))
            nans = int(np.count_nonzero(np.isnan(a)))
            raise QccError(f"tensor '{self.name}' has {bad} non-finite value(s) ({nans} NaN, "
                           f"{bad - nans} Inf); calibration needs finite activations")
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
        self._count(a)

    def _fix_width(self) -> None:
        """Width from the range seen so far (the first batch, plus earlier zeros)."""
        span = self.max / self.num_bins - self.min / self.num_bins
        if span == 0.0:  # every value equal (and not 0): bins of |x| / num_bins
            span = abs(self.max) / self.num_bins
        self.bin_width = span
        # earlier zeros, if any, stay in bin 0 (counts == [n], first_bin == 0)

    def _indices(self, a: np.ndarray) -> np.ndarray:
        """Signed bin of each value: floor(|x| / w) in float64, -that-1 below 0."""
        j = np.floor(np.abs(a.astype(np.float64, copy=False)) / self.bin_width).astype(
            np.int64)
        return np.where(a < 0, -j - 1, j)

    def _count(self, a: np.ndarray) -> None:
        """Add the values of a flat array (inside the bins: _cover) to ``counts``: the
        arithmetic of :meth:`_indices`, chunk by chunk in reused buffers (whole-tensor
        float64 and int64 temporaries are fresh memory the system must map on every
        call: that was most of calibration's time)."""
        n, w, first = len(self.counts), self.bin_width, self.first_bin
        if fast.enabled():  # the same arithmetic in one compiled loop (qcc/fast.py)
            fast.histogram(a, w, first, self.counts)
            return
        size = min(a.size, _CHUNK)
        t = np.empty(size, np.float64)
        j = np.empty(size, np.int64)
        for s in range(0, a.size, _CHUNK):
            c = a[s:s + _CHUNK]
            tt, jj = t[:c.size], j[:c.size]
            np.absolute(c, out=tt, dtype=np.float64)
            np.divide(tt, w, out=tt)
            np.floor(tt, out=tt)
            np.copyto(jj, tt, casting="unsafe")
            np.invert(jj, out=jj, where=c < 0)  # ~j == -j - 1
            jj -= first
            self.counts += np.bincount(jj, minlength=n)

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

    def update_lanes(self, x: Any) -> None:
        """Track max |x| per index of the last axis (the TPU's lanes for 2-D and 3-D
        tensors): which channels carry outliers."""
        a = np.asarray(x)
        if a.ndim < 1 or a.size == 0:
            return
        m = np.abs(a.reshape(-1, a.shape[-1]).astype(np.float64)).max(axis=0)
        self.lane_absmax = m if self.lane_absmax is None else \
            np.maximum(self.lane_absmax, m)

    # -- (de)serialization ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.count == 0:
            raise ValueError(f"tensor '{self.name}' has no statistics")
        d = {"min": float(self.min), "max": float(self.max),
             "bin_width": float(self.bin_width), "first_bin": int(self.first_bin),
             "counts": [int(c) for c in self.counts]}
        if self.lane_absmax is not None:
            d["lane_absmax"] = [float(v) for v in self.lane_absmax]
        return d

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
        lanes = d.get("lane_absmax") if isinstance(d, Mapping) else None
        if lanes is not None and (not isinstance(lanes, list) or not lanes or any(
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                or v < 0 for v in lanes)):
            raise bad("'lane_absmax' must be a non-empty list of finite numbers >= 0")
        if set(d) - {"lane_absmax"} != keys:
            missing, extra = sorted(keys - set(d)), sorted(set(d) - keys - {"lane_absmax"})
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
        if lanes is not None:
            s.lane_absmax = np.asarray(lanes, np.float64)
        return s


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
    from qcc.outputs import write_output

    write_output(path, dumps_stats(stats, num_samples))


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
