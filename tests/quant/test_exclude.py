"""``exclude`` on any op (ONNX node name, ONNX op type, IR op name) or tensor name:
excluded ops compute in float, excluded tensors are not quantized, and names that
match nothing are an error (Python: QccError; CLI: exit 2, no traceback, no output)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import qcc
from qcc.cli import main
from qcc.diagnostics import QccError
from qcc.testing.attention import attention_block, attention_data
from qcc.text import parse_module

ADD_IR = """
module {
  func.func @main(%a: tensor<1x4xf32>, %b: tensor<1x4xf32>) -> (tensor<1x4xf32>) {
    %s = "nn.add"(%a, %b) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
        loc(onnx "Add" "sum")
    %t = "nn.add"(%s, %b) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
        loc(onnx "Add" "total")
    return %t : tensor<1x4xf32>
  }
}
"""


def _data():
    rng = np.random.default_rng(0)
    return {"a": rng.standard_normal((8, 4)).astype(np.float32),
            "b": rng.standard_normal((8, 4)).astype(np.float32)}


def _ops(module) -> list[tuple[str, str]]:
    return [(op.name, op.results[0].name_hint or "") for op in module.walk()
            if op.name in ("nn.add", "quant.add")]


@pytest.mark.parametrize("name", ["sum", "Add", "nn.add"])
def test_excluded_op_computes_in_float(name):
    module = qcc.quantize_model(parse_module(ADD_IR), _data(), exclude=(name,))
    ops = _ops(module)
    if name == "sum":  # the node alone; its output is still quantized for 'total'
        assert ops == [("nn.add", "s"), ("quant.add", "t_q")]
    else:  # every add
        assert [op for op, _ in ops] == ["nn.add", "nn.add"]


def test_excluded_tensor_is_not_quantized():
    module = qcc.quantize_model(parse_module(ADD_IR), _data(), exclude=("s",),
                                integer=False)
    quantized = {op.input.name_hint for op in module.walk() if op.name == "quant.quantize"}
    assert quantized == {"a", "b", "t"}


def test_excluded_dense_output_keeps_its_weights_float(tmp_path):
    """A tensor name of a projection: its producer becomes a float dense."""
    path = tmp_path / "att.onnx"
    onnx.save(attention_block(), path)
    module = qcc.quantize_model(qcc.load(str(path)), [attention_data(8)], exclude=("k",))
    k = next(op for op in module.walk() if op.results and op.results[0].name_hint == "k")
    assert k.name == "nn.dense" and k.weight.op.name == "nn.constant"
    assert str(k.weight.type).endswith("xf32>")


def test_unknown_names_are_an_error_listing_them_and_some_that_exist():
    with pytest.raises(QccError) as e:
        qcc.quantize_model(parse_module(ADD_IR), _data(), exclude=("sum", "nope", "Gemm"))
    msg = str(e.value)
    assert "'nope', 'Gemm' match no op or tensor" in msg
    assert "ONNX nodes: sum, total" in msg and "tensors: a, b, s, t" in msg


def test_unknown_names_in_a_pipeline():
    with pytest.raises(QccError, match="'zzz' matches no op or tensor"):
        qcc.run_pipeline(parse_module(ADD_IR), "calibrate{random-samples=2},"
                                               "quantize{exclude=zzz}")


def test_cli_unknown_exclude_exit_2_no_output(capsys, tmp_path):
    model = tmp_path / "add.mlir"
    model.write_text(ADD_IR)
    calib = tmp_path / "calib.npz"
    np.savez(calib, **_data())
    out, stats = tmp_path / "q.mlir", tmp_path / "s.json"
    for command in ("quantize", "compile"):
        o = tmp_path / ("q.mlir" if command == "quantize" else "q.tpu")
        code = main([command, str(model), "--calib-data", str(calib), "--exclude",
                     "sum,nope", "-o", str(o), "--save-stats", str(stats)])
        err = capsys.readouterr().err
        assert code == 2
        assert "error: exclude: 'nope' matches no op or tensor" in err
        assert "Traceback" not in err
        assert not o.exists() and not stats.exists()
    code = main(["quantize", str(model), "--calib-data", str(calib), "--exclude", "s,total",
                 "-o", str(out), "--report", str(tmp_path / "r.md")])
    err = capsys.readouterr().err
    assert code == 0 and "qcc: kept in float: op Add total, s (the report says why)" in err
    report = (tmp_path / "r.md").read_text()
    assert "| op Add total | excluded (total): computes in float on dequantized inputs |" \
        in report
    assert "| s | excluded (s): not quantized |" in report
