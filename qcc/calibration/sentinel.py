"""Sentinel-dominated tensors: values that carry a huge marker (an additive attention
mask's ``-3.4e38`` or ``-10000``, a ``-inf``-like constant) beside ordinary values.

One int8 scale cannot hold both: a range that reaches the sentinel makes the step so
large (1.3e36 for float32's lowest value) that every ordinary value rounds to 0, and a
range that leaves it out clips the sentinel to an ordinary value, so a masked token
gets attention again. Such tensors are not activation-quantized: they, and what
consumes them, compute in float (docs/calibration.md, "Sentinel-dominated tensors").

Two rules, either is enough:

- **observed** (:func:`observed_sentinel`): the calibration statistics of the tensor
  show a value of magnitude ``M >= SENTINEL_MIN`` (1000), and every value is either
  a *sentinel* (``|x| >= M / 2``) or *ordinary* (``|x| <= M / SENTINEL_GAP``, 100
  times smaller), with ordinary values present and nothing observed in between. The
  in-between test is made on the histogram's bins (a bin counts as in between if it
  overlaps the gap), so it never misses an observed value.
- **structural** (:func:`structural_sentinels`): the tensor is computed from a
  constant holding an element of magnitude ``>= SENTINEL_CONSTANT`` (1e30) or an
  infinity, through any ops but those whose output is bounded (softmax, sigmoid,
  tanh, clip...). This catches an additive mask even when the calibration data has no
  padding at all (the mask then looks like zeros, and a range of [0, 0] would turn
  the sentinel into 0 at inference).
"""

from __future__ import annotations

import math

import numpy as np

from qcc.calibration.stats import TensorStats
from qcc.ir.core import Graph, ReturnOp, Value

#: smallest magnitude a sentinel may have (BERT's original mask used -10000)
SENTINEL_MIN = 1e3
#: ordinary values are at least this many times smaller than the sentinel
SENTINEL_GAP = 100.0
#: a constant element this large (or infinite) is a sentinel wherever it flows
SENTINEL_CONSTANT = 1e30
#: ops whose output is bounded whatever their input: a sentinel stops there
BOUNDED_OPS = frozenset({"nn.softmax", "nn.sigmoid", "nn.tanh", "nn.hard_sigmoid",
                         "nn.clip", "nn.erf"})


def observed_sentinel(s: TensorStats) -> str | None:
    """Why ``s`` is sentinel-dominated (a sentence for the report), or None."""
    if s.count == 0 or s.bin_width == 0.0:
        return None
    m = max(-s.min, s.max)
    if not m >= SENTINEL_MIN:
        return None
    counts, w = s.abs_histogram()
    lower = np.arange(len(counts)) * w  # |x|-bin j holds [j*w, (j+1)*w)
    upper = lower + w
    ordinary_limit = m / SENTINEL_GAP
    ordinary = upper <= ordinary_limit
    sentinel = lower >= m / 2 - w  # the bin holding m / 2 counts as sentinel
    if np.any((counts > 0) & ~ordinary & ~sentinel) or not counts[ordinary].sum():
        return None
    n_sent = int(counts[sentinel].sum())
    bulk = float(upper[ordinary & (counts > 0)].max())
    extreme = s.min if -s.min >= s.max else s.max
    return (f"sentinel-dominated: {n_sent} of {s.count} values at about {extreme:.4g}, "
            f"the others at most {bulk:.3g} in magnitude; one int8 scale cannot hold both")


def is_sentinel_constant(a: np.ndarray) -> bool:
    if a.dtype.kind != "f" or a.size == 0:
        return False
    with np.errstate(invalid="ignore"):
        big = np.abs(a.astype(np.float64)) >= SENTINEL_CONSTANT
    return bool(np.any(big | np.isinf(a)))


def structural_sentinels(graph: Graph) -> dict[Value, str]:
    """Values computed from a sentinel constant (see the module docstring), each with
    the reason, in graph order. Constants themselves are not listed (they are not
    activations)."""
    from qcc.dialects import nn

    source: dict[Value, str] = {}  # value -> the sentinel constant's description
    out: dict[Value, str] = {}
    for op in graph.ops:
        if isinstance(op, ReturnOp):
            continue
        if isinstance(op, nn.ConstantOp):
            data = op.value.data if op.value is not None else None
            if data is not None and is_sentinel_constant(np.asarray(data)):
                a = np.asarray(data, np.float64).reshape(-1)
                v = float(a[np.nanargmax(np.abs(a))])
                source[op.result] = f"{v:.4g}" if math.isfinite(v) else str(v)
            continue
        if op.name in BOUNDED_OPS:
            continue
        origins = [source[v] for v in op.operands if v in source]
        if not origins:
            continue
        for r in op.results:
            source[r] = origins[0]
            out[r] = (f"sentinel-dominated: computed from a constant holding "
                      f"{origins[0]} (an additive mask or -inf-like marker)")
    return out
