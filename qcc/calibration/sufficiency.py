"""Calibration-set sufficiency: are the ranges still moving as samples are added?

While collecting, :class:`~qcc.calibration.collect.Collector` keeps the statistics
of the first 1/4, 1/2 and 3/4 of the samples (:func:`checkpoints`). For every
activation whose range ``quantize`` uses, :func:`check_sufficiency` derives the range
by the tensor's method on the first half and on the whole set, and measures how far
the second half of the samples moved it, relative to the final range's width::

    moved = max(|lo_all - lo_half|, |hi_all - hi_half|) / (hi_all - lo_all)

(minmax ranges are also given on every prefix; entropy and mse ranges are compared
with a search of at most :data:`SEARCH_BINS` bins, which costs an eighth of the
calibration's own search, both sides the same). If the largest movement exceeds
``threshold`` (:data:`DEFAULT_THRESHOLD`, 5 % of the width: about 13 int8 steps; a
5 % change of the scale changes the rounding noise power by about 10 %, 0.4 dB), the
ranges have not settled: the pass warns, naming the tensor that moved most, by how
much, and about how many samples would settle it.

Estimate of the samples needed: assume a range approaches its limit like
``R - c/n`` (each new sample moves it by a share of what lies beyond it). Then the
second half of n samples moved it by ``c/n``, which is also how far it still is from
its limit; that falls to the threshold at ``N = n * moved / threshold`` samples.
This is an order of magnitude, not a promise: the maximum of a heavy-tailed tensor
jumps when a rare sample arrives, so one set of n samples can look settled and a
larger one not (measured on the digits models in docs/calibration.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from qcc.calibration.methods import DEFAULT_PERCENTILE, compute_range
from qcc.calibration.stats import DEFAULT_NUM_BINS, TensorStats

#: movement of a range by the second half of the samples (of its width) that warns
DEFAULT_THRESHOLD = 0.05
#: fewer samples than this: the prefixes are too small to say anything
MIN_SAMPLES = 4
#: entropy and mse ranges are compared with a search of at most this many |x| bins
#: (the default 2048 would double the cost of an mse calibration)
SEARCH_BINS = 512


def checkpoints(total: int | None) -> tuple[int, ...]:
    """The prefix sizes kept while collecting: 1/4, 1/2 and 3/4 of ``total``
    (rounded up); none when the count is unknown or below :data:`MIN_SAMPLES`."""
    if total is None or total < MIN_SAMPLES:
        return ()
    return tuple(sorted({math.ceil(total * k / 4) for k in (1, 2, 3)} - {0, total}))


@dataclass
class Movement:
    tensor: str
    method: str
    #: (samples, (lo, hi)) by the method on the first half and on the whole set
    ranges: list[tuple[int, tuple[float, float]]]
    #: movement by the second half, as a fraction of the final range's width
    moved: float
    #: the same for minmax (the range's extremes)
    moved_minmax: float
    #: (samples, (min, max)) on each prefix (1/4, 1/2, 3/4) and the whole set
    minmax: list[tuple[int, tuple[float, float]]] = field(default_factory=list)


@dataclass
class SufficiencyResult:
    """``ctx.data["calibration_sufficiency"]``: how much the ranges still moved."""

    samples: int
    threshold: float = DEFAULT_THRESHOLD
    #: per quantized activation, largest movement first
    tensors: list[Movement] = field(default_factory=list)
    #: why it was not measured (statistics loaded from a file, too few samples, ...)
    not_measured: str = ""

    @property
    def worst(self) -> Movement | None:
        return self.tensors[0] if self.tensors else None

    @property
    def sufficient(self) -> bool | None:
        """True when every range settled, False when one still moves, None when not
        measured."""
        if self.not_measured or self.worst is None:
            return None
        return self.worst.moved <= self.threshold

    @property
    def unsettled(self) -> list[Movement]:
        return [m for m in self.tensors if m.moved > self.threshold]

    def samples_needed(self) -> int | None:
        """Estimated total samples for the worst range to settle (change ~ 1/n)."""
        w = self.worst
        if w is None or w.moved <= self.threshold:
            return None
        return math.ceil(self.samples * w.moved / self.threshold)

    def summary(self) -> str:
        if self.not_measured:
            return f"calibration sufficiency: not measured ({self.not_measured})"
        w = self.worst
        if w is None:
            return "calibration sufficiency: no quantized activation to check"
        head = (f"calibration sufficiency on {self.samples} samples: the second half moved "
                f"the ranges by at most {100 * w.moved:.1f}% of their width "
                f"('{w.tensor}', {w.method}; minmax {100 * w.moved_minmax:.1f}%)")
        if self.sufficient:
            return head + f", within the {100 * self.threshold:g}% threshold: settled"
        n = self.samples_needed()
        return (head + f"; {len(self.unsettled)} of {len(self.tensors)} ranges moved more "
                f"than {100 * self.threshold:g}%: NOT settled; about {n} samples "
                f"({n - self.samples} more) would settle '{w.tensor}' (assuming its "
                "change falls like 1/n)")

    def to_json(self) -> dict:
        return {"samples": self.samples, "threshold": self.threshold,
                "sufficient": self.sufficient, "not_measured": self.not_measured or None,
                "samples_needed": self.samples_needed(),
                "tensors": [{"tensor": m.tensor, "method": m.method, "moved": m.moved,
                             "moved_minmax": m.moved_minmax,
                             "ranges": [[n, list(r)] for n, r in m.ranges],
                             "minmax": [[n, list(r)] for n, r in m.minmax]}
                            for m in self.tensors]}


def _moved(a: tuple[float, float], b: tuple[float, float]) -> float:
    width = b[1] - b[0]
    change = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
    if width <= 0.0:
        return 0.0 if change == 0.0 else math.inf
    return change / width


def check_sufficiency(snapshots: Mapping[int, Mapping[str, TensorStats]],
                      stats: Mapping[str, TensorStats], methods: Mapping[str, str],
                      samples: int, *, threshold: float = DEFAULT_THRESHOLD,
                      percentile: float = DEFAULT_PERCENTILE, symmetric: bool = False,
                      num_bins: int = DEFAULT_NUM_BINS) -> SufficiencyResult:
    """Movement of each range of ``methods`` ({tensor: method}) from the snapshot of
    the first half of the samples to the whole set ``stats``."""
    result = SufficiencyResult(samples, threshold)
    counts = sorted(n for n in snapshots if n < samples)
    if not counts:
        result.not_measured = (f"{samples} calibration samples: too few to compare "
                               f"prefixes" if samples < MIN_SAMPLES else
                               "no prefix statistics were kept")
        return result

    def rng(s: TensorStats, method: str) -> tuple[float, float]:
        bins = min(num_bins, SEARCH_BINS) if method in ("entropy", "mse") else num_bins
        return compute_range(s, method, percentile=percentile, symmetric=symmetric,
                             num_bins=bins)

    for name, method in methods.items():
        final = stats.get(name)
        snaps = [(n, snapshots[n].get(name)) for n in counts]
        if final is None or final.count == 0 or any(s is None or s.count == 0
                                                    for _, s in snaps):
            continue
        n_half, half = next(((n, s) for n, s in reversed(snaps) if 2 * n <= samples),
                            snaps[0])
        ranges = [(n_half, rng(half, method)), (samples, rng(final, method))]
        minmax = [(n, rng(s, "minmax")) for n, s in snaps] + [(samples, rng(final, "minmax"))]
        moved = _moved(*(r for _, r in ranges))
        moved_mm = _moved(rng(half, "minmax"), minmax[-1][1])
        result.tensors.append(Movement(name, method, ranges, moved, moved_mm, minmax))
    result.tensors.sort(key=lambda m: -m.moved)
    return result
