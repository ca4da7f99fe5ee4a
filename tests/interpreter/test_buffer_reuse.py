# ruff: noqa: E501 (IR text below keeps one op per line)
"""The interpreter writes an elementwise op's result into its first operand's array
only where nothing can see the difference: the results are the same as without
reuse, and no input, constant, output or still-live value is overwritten."""

from __future__ import annotations

import numpy as np
import pytest

from qcc.interpreter import run
from qcc.text import parse_module

GRAPH = """
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {qcc.name = "s"}, tensor<2x4xf32> {qcc.name = "r"}, tensor<2x4xf32> {qcc.name = "c"}) {
    %w = "nn.constant"() {value = dense<[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 2.0], [3.0, 0.5, 0.5, -0.5], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %wr = "nn.relu"(%w) : (tensor<4x4xf32>) -> tensor<4x4xf32>
    %y = "nn.dense"(%x, %wr) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %alias = "nn.identity"(%y) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %r = "nn.relu"(%y) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %xr = "nn.relu"(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %d = "nn.add"(%alias, %xr) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %e = "nn.relu"(%d) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %c = "nn.clip"(%e) {max = 1.5, min = 0.0} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %s = "nn.add"(%r, %r) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    return %s, %r, %c : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  }
}
"""


def _reference(x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    y = x @ np.maximum(w, 0)
    r = np.maximum(y, 0)
    c = np.clip(np.maximum(y + np.maximum(x, 0), 0), 0, 1.5)
    return {"s": r + r, "r": r, "c": c}


@pytest.mark.parametrize("reuse", [None, True, False])
def test_reuse_changes_no_result_and_overwrites_nothing_live(reuse):
    module = parse_module(GRAPH)
    constant = next(op for op in module.main.ops if op.name == "nn.constant")
    w_before = np.array(constant.value.data, copy=True)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    x_before = x.copy()
    out = run(module, {"x": x}, reuse_buffers=reuse)
    want = _reference(x_before, w_before)
    for name, value in want.items():
        np.testing.assert_allclose(out[name], value, rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(x, x_before)  # the caller's input
    np.testing.assert_array_equal(constant.value.data, w_before)  # the module's constant
    assert out["s"] is not out["r"]


def test_an_observer_sees_values_unchanged_without_reuse():
    """By default an observer may keep the arrays it is shown: nothing is reused."""
    module = parse_module(GRAPH)
    seen: dict = {}
    x = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    run(module, {"x": x}, observer=seen.__setitem__)
    by_name = {v.name_hint: a for v, a in seen.items()}
    y = by_name["y"]
    np.testing.assert_allclose(by_name["d"], y + np.maximum(x, 0), rtol=1e-6)
    assert (by_name["d"] < 0).any() or (by_name["e"] >= 0).all()
    np.testing.assert_array_equal(by_name["e"], np.maximum(by_name["d"], 0))


VIEWS = """
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<4x2xf32> {qcc.name = "r"}, tensor<2x4xf32> {qcc.name = "yr"}, tensor<4x2xf32> {qcc.name = "zr"}) {
    %w = "nn.constant"() {value = dense<[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 2.0], [3.0, 0.5, 0.5, -0.5], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %y = "nn.dense"(%x, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %v = "nn.reshape"(%y) {shape = [4, 2]} : (tensor<2x4xf32>) -> tensor<4x2xf32>
    %r = "nn.relu"(%v) : (tensor<4x2xf32>) -> tensor<4x2xf32>
    %yr = "nn.relu"(%y) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %z = "nn.dense"(%x, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %zv = "nn.reshape"(%z) {shape = [4, 2]} : (tensor<2x4xf32>) -> tensor<4x2xf32>
    %zr = "nn.relu"(%zv) : (tensor<4x2xf32>) -> tensor<4x2xf32>
    return %r, %yr, %zr : tensor<4x2xf32>, tensor<2x4xf32>, tensor<4x2xf32>
  }
}
"""


def test_a_view_of_a_product_is_reused_only_when_nothing_else_holds_the_product():
    """%v views %y's memory while %y is still live: relu(%v) must not write into it.
    %zv is the only holder of %z's memory when relu(%zv) runs: it is written in place."""
    module = parse_module(VIEWS)
    w = np.array(next(op for op in module.main.ops if op.name == "nn.constant").value.data)
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    seen: dict = {}
    out = run(module, {"x": x}, observer=lambda v, a: seen.setdefault(v.name_hint, a),
              reuse_buffers=True)
    y = x @ w
    np.testing.assert_allclose(out["r"], np.maximum(y.reshape(4, 2), 0), rtol=1e-6)
    np.testing.assert_allclose(out["yr"], np.maximum(y, 0), rtol=1e-6)
    np.testing.assert_allclose(out["zr"], np.maximum(y.reshape(4, 2), 0), rtol=1e-6)
    assert seen["r"] is not seen["v"]
    assert seen["zr"] is seen["zv"]
