"""Weights are quantized a block of slices at a time (passes/quantize.py), so a large
dense weight needs no whole-size float64 temporaries: the codes are those of the
whole-array formula, per tensor and per channel along either axis."""

from __future__ import annotations

import numpy as np
import pytest

from qcc.passes import quantize as qp


def _whole(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(w.astype(np.float64) / scales), -127, 127).astype(np.int8)


@pytest.mark.parametrize(("shape", "axis"), [((37, 5, 3, 3), 0), ((37, 5, 3, 3), None),
                                             ((300, 41), 1), ((300, 41), 0), ((7,), None)])
def test_blocks_give_the_codes_of_the_whole_array(monkeypatch, shape, axis):
    monkeypatch.setattr(qp, "WEIGHT_BLOCK", 50)  # many blocks, some partial
    rng = np.random.default_rng(3)
    w = (rng.standard_normal(shape) * 0.2).astype(np.float32)
    scales = qp.weight_scales(w, axis)
    assert scales.dtype == np.float64
    assert np.array_equal(scales, qp.weight_scales(w.astype(np.float64), axis))
    b = qp._broadcast(scales, w.ndim, axis)
    got = qp.quantize_weight_blocks(w, b)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, _whole(w, b))
