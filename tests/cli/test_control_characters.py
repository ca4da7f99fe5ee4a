"""Names from the user's files (ONNX node and tensor names, IR op names and locations,
array names in .npz files, command-line arguments) may hold control characters: what
qcc prints escapes them, so no terminal escape sequence gets through and no name starts
a line of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import qcc
from qcc.cli import main
from qcc.diagnostics import FileLoc, OnnxLoc, QccError, escape_controls, warn

ROOT = Path(__file__).resolve().parents[2]
CNN = str(ROOT / "examples" / "models" / "cnn.onnx")

EVIL = "a\x1b[31mred\nx"
SHOWN = "a\\x1b[31mred\\nx"


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_clean(err: str, lines: int = 1) -> None:
    """No control character but the line ends, and ``lines`` lines."""
    assert escape_controls(err, keep="\n") == err, repr(err)
    assert len(err.splitlines()) == lines, err


def _onnx(tmp_path: Path, nodes: list[onnx.NodeProto]) -> str:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "evil.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_onnx_node_name_with_escapes_and_newline(tmp_path, capsys):
    path = _onnx(tmp_path, [helper.make_node("Foo", ["x"], ["y"], name=EVIL, domain="my")])
    code, err = run(capsys, "import", path)
    assert code == 2
    assert_clean(err)
    assert err.startswith(f"error: ONNX node '{SHOWN}' (Foo): op type 'my.Foo' is unsupported")
    with pytest.raises(QccError) as info:  # the Python API prints the same text
        qcc.load(path)
    assert str(info.value) + "\n" == err
    assert info.value.loc == OnnxLoc("Foo", EVIL)  # the name itself is kept as it is


def test_onnx_tensor_name_in_a_validity_error(tmp_path, capsys):
    path = _onnx(tmp_path, [helper.make_node("Relu", ["x"], [EVIL], name="r1"),
                            helper.make_node("Relu", ["x"], [EVIL], name="r2"),
                            helper.make_node("Relu", [EVIL], ["y"], name="r3")])
    code, err = run(capsys, "import", path)
    assert code == 2
    assert_clean(err)
    assert f"ONNX node 'r2' (Relu): output '{SHOWN}' is already defined" in err


def _ir(tmp_path: Path, op: str, loc: str = "") -> str:
    path = tmp_path / "evil.mlir"
    path.write_text("module {\n  func.func @main(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {\n"
                    f'    %y = "{op}"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32>{loc}\n'
                    "    return %y : tensor<1x4xf32>\n  }\n}\n")
    return str(path)


def test_ir_op_name_with_escaped_control_characters(tmp_path, capsys):
    # the IR string escapes \1b and \0a make an ESC and a newline in the op name
    code, err = run(capsys, "opt", _ir(tmp_path, "nn.re\\1b[31mlu\\0ax"), "-p", "canonicalize")
    assert code == 2
    assert_clean(err, lines=3)  # the error, the source line, the caret
    head, source, caret = err.splitlines()
    assert head.endswith(":3:10: error: unknown op 'nn.re\\x1b[31mlu\\nx'")
    assert source == '      %y = "nn.re\\1b[31mlu\\0ax"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32>'
    assert caret.index("^") == source.index('"nn.')


def test_ir_op_name_with_a_raw_escape_character(tmp_path, capsys):
    code, err = run(capsys, "opt", _ir(tmp_path, "nn.re\x1b[31mlu"), "-p", "canonicalize")
    assert code == 2
    assert_clean(err, lines=3)
    head, source, caret = err.splitlines()
    assert head.endswith("unknown op 'nn.re\\x1b[31mlu'")
    assert '"nn.re\\x1b[31mlu"' in source and caret.index("^") == source.index('"nn.')


def test_ir_location_names_with_control_characters(tmp_path, capsys):
    # a verifier error is reported at the op's own location, as the file spells it
    path = tmp_path / "evil.mlir"
    path.write_text("module {\n  func.func @main(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {\n"
                    '    %y = "nn.relu"(%x, %x) : (tensor<1x4xf32>, tensor<1x4xf32>) -> '
                    'tensor<1x4xf32> loc(onnx "Relu" "a\\1b[31mred\\0ax")\n'
                    "    return %y : tensor<1x4xf32>\n  }\n}\n")
    code, err = run(capsys, "opt", str(path), "-p", "canonicalize")
    assert code == 2
    assert_clean(err)
    assert err.startswith(f"error: ONNX node '{SHOWN}' (Relu): 'nn.relu' op expects 1 operand")
    path.write_text(path.read_text().replace('onnx "Relu" "a\\1b[31mred\\0ax"',
                                             '"my\\0afile\\1b.mlir":7:1'))
    code, err = run(capsys, "opt", str(path), "-p", "canonicalize")
    assert code == 2
    assert_clean(err)
    assert err.startswith("my\\nfile\\x1b.mlir:7:1: error: 'nn.relu' op expects 1 operand")


def test_npz_array_name_with_control_characters(tmp_path, capsys):
    data = tmp_path / "evil.npz"
    np.savez(data, **{EVIL: np.zeros((1, 1, 8, 8), np.float32)})
    code, err = run(capsys, "run", CNN, "--input", str(data))
    assert code == 2
    assert_clean(err, lines=2)  # the array is ignored (a warning), then the input is missing
    assert SHOWN in err
    out = tmp_path / "cnn.tpu"
    code, err = run(capsys, "compile", CNN, "--calib-data", str(data), "-o", str(out))
    assert code == 2
    assert_clean(err)
    assert SHOWN in err and not out.exists()


def test_command_line_arguments_in_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["import", CNN, EVIL])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"unrecognized arguments: {SHOWN}" in err and "\x1b" not in err


def test_warnings_escape_their_location_and_message(capsys):
    warn(f"tensor '{EVIL}' is odd", OnnxLoc("Relu", EVIL))
    err = capsys.readouterr().err
    assert err == f"ONNX node '{SHOWN}' (Relu): warning: tensor '{SHOWN}' is odd\n"


def test_format_escapes_and_keeps_the_caret_under_the_column():
    # a tab stays (the caret line repeats it); an ESC before the column widens the line
    source = "\tab\x1bc\x85 de\u202ef"
    error = QccError("bad\rthing", FileLoc("f.mlir", 1, 5), source,
                     notes=("see\x00here",))
    head, line, caret, note = error.format().split("\n")
    assert head == "f.mlir:1:5: error: bad\\rthing"
    assert line == "  \tab\\x1bc\\x85 de\\u202ef"
    assert caret == "  \t" + " " * len("ab\\x1b") + "^"  # under the 'c', column 5
    assert note == "note: see\\x00here"


def test_escape_controls():
    assert escape_controls("plain ünïcode ✓") == "plain ünïcode ✓"
    assert escape_controls("a\nb\tc\x7fd\x9b\u2028") == "a\\nb\\tc\\x7fd\\x9b\\u2028"
    assert escape_controls("line 1\nline\x1b 2", keep="\n") == "line 1\nline\\x1b 2"


def test_printed_ir_escapes_control_characters_and_parses_back(tmp_path, capsys):
    name = EVIL + "\x9b\x7f"  # C1 and DEL too
    graph = helper.make_graph(
        [helper.make_node("Relu", [name], ["y"], name=name)], "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "named.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code = main(["import", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert escape_controls(out, keep="\n") == out and out.count("\n") == 6
    module = qcc.parse_module(out, "stdin")
    (relu,) = [op for op in module.main.ops if op.name == "nn.relu"]
    assert relu.loc == OnnxLoc("Relu", name)
    assert qcc.print_module(module) == out


def test_names_in_stdout_stats_and_reports_are_escaped(tmp_path, capsys):
    """Outputs printed by `qcc run`, the per-layer table of `--stats` and the Markdown
    reports of `compile` and `quantize` name layers and tensors from the model."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4],
                           rng.standard_normal(16).astype(np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], [EVIL], name=EVIL)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(EVIL, TensorProto.FLOAT, [1, 4])], [w])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    x = tmp_path / "x.npy"
    np.save(x, rng.standard_normal((1, 4)).astype(np.float32))
    calib = tmp_path / "c.npz"
    np.savez(calib, x=rng.standard_normal((16, 4)).astype(np.float32))
    prog, report, qreport = tmp_path / "m.tpu", tmp_path / "r.md", tmp_path / "q.md"
    for argv in (["run", model, "--input", x],
                 ["compile", model, "--calib-data", calib, "-o", prog, "--report", report],
                 ["run", prog, "--input", x, "--stats"],
                 ["quantize", model, "--calib-data", calib, "--report", qreport, "-o",
                  tmp_path / "q.mlir"]):
        assert main([str(a) for a in argv]) == 0
        out, err = capsys.readouterr()
        for text in (out, err):
            assert escape_controls(text, keep="\n") == text, repr(text)
            assert not any(line.startswith("x") for line in text.splitlines()), text
    assert SHOWN in report.read_text() and SHOWN in qreport.read_text()
    for text in (report.read_text(), qreport.read_text()):
        assert escape_controls(text, keep="\n") == text
