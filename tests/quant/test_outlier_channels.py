"""calibrate{outlier-channels} (``outlier_channels=``, ``--outlier-channels``): 2-D
and 3-D activations with outlier channels (a transformer's residual stream) that no op
with weights nor activation table reads get one symmetric scale per channel of the
last axis; the matrix unit's activate produces them with its per-lane multipliers, and
the binary stays bit-exact with the integer IR."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1.runtime import run_program
from qcc.calibration.stats import TensorStats
from qcc.diagnostics import QccError
from qcc.interpreter import run
from qcc.ir.types import UniformQuantPerAxisType

T, H = 8, 32


def _residual_block(seed: int = 0) -> onnx.ModelProto:
    """x -> dense (one output channel 60x the others) -> + x -> LayerNorm -> dense:
    the dense output and the residual sum carry an outlier channel, as BERT's do."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((H, H)) / np.sqrt(H)).astype(np.float32)
    w1[:, 5] *= 60.0
    w2 = (rng.standard_normal((H, H)) / np.sqrt(H)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (w1, "w1"), ((0.1 * rng.standard_normal(H)).astype(np.float32), "b1"),
        (w2, "w2"), (np.ones(H, np.float32), "gamma"), (np.zeros(H, np.float32), "beta"))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"], name="dense1"),
             helper.make_node("Add", ["m1", "b1"], ["d1"], name="bias1"),
             helper.make_node("Add", ["d1", "x"], ["res"], name="residual"),
             helper.make_node("LayerNormalization", ["res", "gamma", "beta"], ["ln"],
                              name="ln", axis=-1),
             helper.make_node("MatMul", ["ln", "w2"], ["y"], name="dense2")]
    graph = helper.make_graph(nodes, "block",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, T, H])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             [1, T, H])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _data(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, T, H)).astype(np.float32)} for _ in range(n)]


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - got) ** 2)))


@pytest.fixture(scope="module")
def block():
    model = _residual_block()
    on = qcc.compile(qcc.import_onnx(model), calib_data=_data(8, 1), outlier_channels=True)
    off = qcc.compile(qcc.import_onnx(model), calib_data=_data(8, 1))
    return model, on, off


def test_the_residual_stream_gets_one_scale_per_channel(block):
    _, on, off = block
    lanes = {v.name_hint: v.type.element for op in on.module.main.ops for v in op.results
             if isinstance(getattr(v.type, "element", None), UniformQuantPerAxisType)
             and v.type.element.storage.width == 8}
    assert sorted(on.outlier_channels) == ["d1", "res"]
    e = next(e for name, e in lanes.items() if name.startswith("d1"))
    assert e.axis == 2 and set(e.zero_points) == {0}
    assert max(e.scales) > 20 * float(np.median(e.scales))  # the outlier channel
    assert off.outlier_channels is None


def test_the_dense_layers_stay_on_the_matrix_unit(block):
    _, on, _ = block
    ops = [op.name for op in on.tpu_module.main.ops]
    assert ops.count("tpu.matmul") == 2
    per_lane = [op for op in on.tpu_module.main.ops if op.name == "tpu.matmul" and
                isinstance(op.output.type.element, UniformQuantPerAxisType)]
    assert len(per_lane) == 1  # dense1 writes per-lane scales; dense2 reads the LayerNorm


def test_bit_exact_and_more_accurate(block):
    model, on, off = block
    x = _data(3, 7)
    ref = np.concatenate([run(qcc.import_onnx(model), b)["y"] for b in x])
    for compiled in (on, off):
        for b in x:
            np.testing.assert_array_equal(run_program(compiled.program, b)["y"],
                                          run(compiled.module, b)["y"])
    got = {k: np.concatenate([run(c.module, b)["y"] for b in x])
           for k, c in (("on", on), ("off", off))}
    assert _sqnr(ref, got["on"]) > _sqnr(ref, got["off"]) + 6.0


def test_a_tensor_a_dense_layer_reads_keeps_one_scale():
    """The input of dense2 (the LayerNorm output) is never per channel: the matrix unit
    multiplies it with one input scale. Here x itself has an outlier channel and feeds
    dense1: it stays per tensor."""
    model = _residual_block()
    data = _data(8, 1)
    for b in data:
        b["x"][..., 3] *= 40.0
    compiled = qcc.compile(qcc.import_onnx(model), calib_data=data, outlier_channels=True)
    assert "x" not in compiled.outlier_channels


def test_lane_statistics_round_trip_and_are_checked(tmp_path):
    s = TensorStats("t")
    s.update(np.array([[1.0, -5.0], [2.0, 0.5]]))
    s.update_lanes(np.array([[1.0, -5.0], [2.0, 0.5]]))
    assert s.lane_absmax.tolist() == [2.0, 5.0]
    again = TensorStats.from_dict("t", s.to_dict())
    assert again.lane_absmax.tolist() == [2.0, 5.0] and again == s
    bad = dict(s.to_dict(), lane_absmax=[1.0, -2.0])
    with pytest.raises(QccError, match="'lane_absmax' must be a non-empty list of finite "
                                       "numbers >= 0"):
        TensorStats.from_dict("t", bad)


def test_cli_names_the_tensors(tmp_path, capsys):
    from qcc.cli import main

    model = tmp_path / "block.onnx"
    onnx.save(_residual_block(), model)
    data = tmp_path / "calib.npz"
    np.savez(data, x=np.concatenate([b["x"] for b in _data(8, 1)]))
    assert main(["compile", str(model), "--calib-data", str(data), "--outlier-channels",
                 "-o", str(tmp_path / "b.tpu")]) == 0
    assert "one scale per channel (outlier channels): d1, res" in capsys.readouterr().err
    assert main(["quantize", str(model), "--calib-data", str(data), "--outlier-channels",
                 "-o", str(tmp_path / "b.mlir")]) == 0
    assert "one scale per channel (outlier channels): d1, res" in capsys.readouterr().err
