"""The integer dense layer multiplied a block of weight rows at a time (large
classifiers) gives the same exact integers as one product."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import qcc
from qcc import interpreter

ROOT = Path(__file__).resolve().parents[2]


def test_blocked_dense_is_the_same_integers(monkeypatch):
    module = qcc.load(ROOT / "examples" / "models" / "digits_mlp.onnx", batch=4)
    qcc.quantize_model(module, stats=str(ROOT / "tests" / "golden" / "models" /
                                         "digits_mlp" / "calibration.json"))
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    seen = []
    whole = interpreter.run(module, {"input": x}, observer=lambda v, a: seen.append(a.copy()))
    monkeypatch.setattr(interpreter, "_DENSE_BLOCK", 100)  # every dense in blocks
    blocked_seen = []
    blocked = interpreter.run(module, {"input": x},
                      observer=lambda v, a: blocked_seen.append(a.copy()))
    assert whole.keys() == blocked.keys()
    for k in whole:
        np.testing.assert_array_equal(whole[k], blocked[k])
    assert len(seen) == len(blocked_seen)
    for a, b in zip(seen, blocked_seen, strict=True):
        np.testing.assert_array_equal(a, b)
