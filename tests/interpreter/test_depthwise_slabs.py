"""The FP32 interpreter's depthwise convolution summed over cache-sized slabs of
channels gives the same bits as one pass over the whole output: the same products
added in the same tap order."""

from __future__ import annotations

import numpy as np
import pytest

import qcc.interpreter as interpreter


@pytest.mark.parametrize("shape,kernel,strides,dilations", [
    ((3, 40, 33, 33), 3, (1, 1), (1, 1)),
    ((2, 24, 34, 34), 3, (2, 2), (1, 1)),
    ((2, 16, 30, 30), 5, (1, 1), (1, 1)),
    ((1, 12, 31, 29), 3, (1, 2), (2, 2)),
])
def test_slabs_give_the_same_bits(monkeypatch, shape, kernel, strides, dilations):
    rng = np.random.default_rng(1)
    xp = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((shape[1], 1, kernel, kernel)).astype(np.float32)
    out_hw = tuple((shape[2 + i] - dilations[i] * (kernel - 1) - 1) // strides[i] + 1
                   for i in range(2))
    monkeypatch.setattr(interpreter, "_DEPTHWISE_SLAB", 1 << 40)  # one pass
    whole = interpreter._depthwise(xp, w, strides, dilations, out_hw)
    monkeypatch.setattr(interpreter, "_DEPTHWISE_SLAB", 500)  # many slabs per image
    slabs = interpreter._depthwise(xp, w, strides, dilations, out_hw)
    np.testing.assert_array_equal(slabs, whole)
    # against the definition, in float64 (only the rounding of float32 sums differs)
    ref = np.zeros(slabs.shape)
    for i in range(kernel):
        for j in range(kernel):
            tap = xp[:, :, i * dilations[0]::strides[0], j * dilations[1]::strides[1]]
            ref += tap[:, :, :out_hw[0], :out_hw[1]] * w[None, :, 0, i, j, None, None]
    np.testing.assert_allclose(slabs, ref, rtol=1e-4, atol=1e-4)
