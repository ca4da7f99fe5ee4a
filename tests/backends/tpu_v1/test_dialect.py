# ruff: noqa: E501 (IR text below keeps one op per line)
"""The tpu dialect (backends/tpu_v1/dialect.py) and its interpreter semantics
(backends/tpu_v1/semantics.py): on the example models, the interpreter's outputs on
the integer IR, on the tpu IR after each backend pass, and the simulator's on the
emitted program are bit-identical; the tpu IR round-trips through text and emits the
same program from its parsed form; each op's verifier rejects broken instances.
The per-pattern golden CHECK tests are tests/golden/passes/tpu-*.mlir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1.binary import serialize
from qcc.backends.tpu_v1.emit import emit
from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
from qcc.backends.tpu_v1.runtime import run_program
from qcc.backends.tpu_v1.target import load_target
from qcc.diagnostics import QccError
from qcc.interpreter import run
from qcc.passmanager import PassContext, Pipeline
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden" / "models"
#: the example models that compile (the golden suite's calibration statistics)
MODELS = sorted(p.stem for p in (ROOT / "examples" / "models").glob("*.onnx")
                if (GOLDEN / p.stem / "calibration.json").exists())
BATCH = 8


def _interpret(module: qcc.Module, inputs: dict) -> tuple[dict, dict, dict]:
    """(float outputs, output codes, input codes) of the interpreter on ``module``:
    the codes the final dequantize ops read and the first quantize ops write."""
    seen: dict = {}
    outputs = run(module, inputs, observer=seen.__setitem__)
    g = module.main
    codes = {name: seen[v.op.input] for name, v in zip(g.output_names, g.outputs,
                                                        strict=True)}
    q_in = {name: seen[a.users[0].output] for name, a in zip(g.input_names, g.args,
                                                             strict=True)}
    return outputs, codes, q_in


@pytest.fixture(scope="module", params=MODELS)
def compiled(request):
    name = request.param
    model = ROOT / "examples" / "models" / f"{name}.onnx"
    c = qcc.compile(model, stats=str(GOLDEN / name / "calibration.json"), batch=BATCH)
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        x = z["input"][:BATCH]
    g = c.module.main
    return name, c, {g.input_names[0]: x.reshape(g.args[0].type.shape)}


def _after_each_pass(module: qcc.Module):
    """(pass name, module after it) for every backend pass, on a copy."""
    m = module.clone()
    ctx = PassContext()
    ctx.data["target"] = load_target("tpu-v1")
    for name in BACKEND_PIPELINE.split(","):
        Pipeline.parse(name).run(m, ctx)
        yield name, m


def test_interpreter_on_every_backend_pass_and_simulator_agree(compiled):
    name, c, inputs = compiled
    want, want_codes, q_in = _interpret(c.module, inputs)
    for pass_name, m in _after_each_pass(c.module):
        got, codes, _ = _interpret(m, inputs)
        for out in want:
            np.testing.assert_array_equal(codes[out], want_codes[out],
                                          err_msg=f"{name} after {pass_name}: {out}")
            np.testing.assert_array_equal(got[out], want[out],
                                          err_msg=f"{name} after {pass_name}: {out}")
    # the IR the compile emitted from is what the passes give
    assert print_module(m) == print_module(c.tpu_module)
    simulated = run_program(c.program, q_in, quantized=True, engine="numpy")
    for out in want_codes:
        np.testing.assert_array_equal(simulated[out], want_codes[out],
                                      err_msg=f"{name}: simulator vs interpreter: {out}")


def test_tpu_ir_round_trips_and_emits_the_same_program(compiled):
    name, c, _ = compiled
    for pass_name, m in _after_each_pass(c.module):
        text = print_module(m)
        assert print_module(parse_module(text)) == text, f"{name} after {pass_name}"
    parsed = parse_module(print_module(c.tpu_module))
    program = emit(parsed.main, load_target("tpu-v1"))
    program.manifest = dict(c.program.manifest)
    assert serialize(program) == c.to_bytes(), name


# --------------------------------------------------------------------------- verifier

_T = "tensor<1x2x2x2x!quant.uniform<i8:f32, 0.05:3>>"
_W = "tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32, 0.01:0>>"
_MODULE = f"""module {{
  func.func @main(%x: tensor<1x2x2x2xf32>) -> (tensor<1x2x2x2xf32>) {{
    %q = "quant.quantize"(%x) : (tensor<1x2x2x2xf32>) -> {_T}
    %r = "tpu.read_host"(%q) {{tensor = "x"}} : ({_T}) -> {_T}
    %w = "nn.constant"() {{value = dense<[[[[2]], [[-1]]], [[[0]], [[3]]]]> : {_W}}} : () -> {_W}
    %b = "nn.constant"() {{value = dense<[5, -7]> : tensor<2xi32>}} : () -> tensor<2xi32>
    %c = "tpu.conv2d"(%r, %w, %b) {{clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1073741824], n_tiles = 1, pads = [0, 0, 0, 0], row_chunk = 2048, shift = [0], strides = [1, 1], taps_per_row = 1, tiles = [1]}} : ({_T}, {_W}, tensor<2xi32>) -> {_T}
    %p = "tpu.pool"(%c) {{kernel = [2, 2], kind = "max", pads = [1, 1, 0, 0], row_chunk = 2048, strides = [1, 1]}} : ({_T}) -> {_T}
    %a = "tpu.add"(%p, %c) {{clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 1073741824, 1073741824], shift = [0, 0, -19]}} : ({_T}, {_T}) -> {_T}
    %l = "tpu.lookup"(%a) {{function = "tanh", table = [{", ".join(str(k % 128) for k in range(256))}]}} : ({_T}) -> {_T}
    "tpu.sync"() {{kind = "units"}} : () -> ()
    %o = "tpu.write_host"(%l) {{tensor = "y"}} : ({_T}) -> {_T}
    %y = "quant.dequantize"(%o) : ({_T}) -> tensor<1x2x2x2xf32>
    return %y : tensor<1x2x2x2xf32>
  }}
}}
"""


def test_a_hand_written_tpu_module_parses_and_runs():
    m = parse_module(_MODULE)
    assert print_module(parse_module(print_module(m))) == print_module(m)
    x = np.linspace(-0.2, 0.2, 8, dtype=np.float32).reshape(1, 2, 2, 2)
    seen: dict = {}
    run(m, {"x": x}, observer=lambda v, a: seen.__setitem__(v.name_hint, a))
    q = seen["r"].astype(np.int64)
    # conv: raw bytes times weights plus the (folded) bias, M = 0.5, zero point 3
    w = np.array([[2, -1], [0, 3]])
    acc = np.einsum("oc,nchw->nohw", w, q) + np.array([5, -7]).reshape(1, 2, 1, 1)
    want_c = np.clip(np.round(acc / 2) + 3, -128, 127)  # np.round: ties to even
    np.testing.assert_array_equal(seen["c"], want_c)
    # max pool 2x2 padded at the top and left: padding never wins
    cp = np.pad(want_c, ((0, 0), (0, 0), (1, 0), (1, 0)), constant_values=-128)
    want_p = np.zeros_like(want_c)
    for i in range(2):
        for j in range(2):
            want_p[:, :, i, j] = cp[:, :, i:i + 2, j:j + 2].max(axis=(2, 3))
    np.testing.assert_array_equal(seen["p"], want_p)
    # the lookup: table[code - (-128)] = (code + 128) % 128
    np.testing.assert_array_equal(seen["l"], (seen["a"].astype(np.int64) + 128) % 128)
    np.testing.assert_array_equal(seen["o"], seen["l"])  # write_host: identity


@pytest.mark.parametrize(("old", "new", "message"), [
    ("taps_per_row = 1, tiles = [1]", "taps_per_row = 1, tiles = [1, 1]",
     "tiles has 2 entries for 1 output tiles"),
    ('kind = "max"', 'kind = "min"', "kind 'min' is not max or avg"),
    ('kind = "max", pads', 'kind = "avg", pads', "an average pool needs its requantization"),
    ('function = "tanh", table = [0, 1, ', 'function = "tanh", table = [',
     "the table has 254 entries, not 256"),
    ('function = "tanh"', 'function = "relu"', "function 'relu' has no table"),
    ('"tpu.sync"() {kind = "units"}', '"tpu.sync"() {kind = "all"}',
     "kind 'all' is not host or units"),
    ("multiplier = [1073741824], n_tiles", "multiplier = [1, 2, 3], n_tiles",
     "multiplier has 3 entries; 1 or 2 expected"),
])
def test_verifier_rejects_broken_ops(old, new, message):
    assert old in _MODULE
    with pytest.raises(QccError, match=message.replace("[", r"\[")):
        parse_module(_MODULE.replace(old, new, 1))


def test_verifier_rejects_an_add_of_different_shapes():
    t2 = "tensor<1x2x1x1x!quant.uniform<i8:f32, 0.05:3>>"
    text = _MODULE.replace(
        f'%a = "tpu.add"(%p, %c) {{clamp_max = 127, clamp_min = -128, multiplier = '
        f'[1073741824, 1073741824, 1073741824], shift = [0, 0, -19]}} : ({_T}, {_T}) -> {_T}',
        f'%s = "tpu.pool"(%c) {{kernel = [2, 2], kind = "max", pads = [0, 0, 0, 0], '
        f'row_chunk = 2048, strides = [1, 1]}} : ({_T}) -> {t2}\n'
        f'    %a = "tpu.add"(%p, %s) {{clamp_max = 127, clamp_min = -128, multiplier = '
        f'[1073741824, 1073741824, 1073741824], shift = [0, 0, -19]}} : ({_T}, {t2}) -> {_T}')
    assert "%s = " in text
    with pytest.raises(QccError, match="the vector adder does not broadcast"):
        parse_module(text)


def test_a_matmul_whose_shapes_do_not_multiply_is_rejected():
    t_in = "tensor<2x3x!quant.uniform<i8:f32, 0.05:3>>"
    t_w = "tensor<4x2x!quant.uniform<i8<-127:127>:f32, 0.01:0>>"
    t_out = "tensor<2x2x!quant.uniform<i8:f32, 0.05:3>>"
    text = f"""module {{
  func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x2xf32>) {{
    %q = "quant.quantize"(%x) : (tensor<2x3xf32>) -> {t_in}
    %w = "nn.constant"() {{value = dense<[[1, 2], [3, 4], [5, 6], [7, 8]]> : {t_w}}} : () -> {t_w}
    %b = "nn.constant"() {{value = dense<[0, 0]> : tensor<2xi32>}} : () -> tensor<2xi32>
    %m = "tpu.matmul"(%q, %w, %b) {{clamp_max = 127, clamp_min = -128, k_tiles = 1, multiplier = [1073741824], n_tiles = 1, row_chunk = 2048, shift = [0]}} : ({t_in}, {t_w}, tensor<2xi32>) -> {t_out}
    %y = "quant.dequantize"(%m) : ({t_out}) -> tensor<2x2xf32>
    return %y : tensor<2x2xf32>
  }}
}}
"""
    with pytest.raises(QccError, match="does not multiply"):
        parse_module(text)


def test_an_overflowing_layer_stops_the_interpreter_like_the_quant_op():
    """The tpu.matmul's int32 value (raw products plus the folded bias) leaving int32
    is quant_arith's overflow error, as for quant.dense."""
    k = 2
    t_in = f"tensor<1x{k}x!quant.uniform<i8:f32, 1.0:0>>"
    t_w = f"tensor<{k}x1x!quant.uniform<i8<-127:127>:f32, 1.0:0>>"
    t_out = "tensor<1x1x!quant.uniform<i8:f32, 1.0:0>>"
    text = f"""module {{
  func.func @main(%x: tensor<1x{k}xf32>) -> (tensor<1x1xf32>) {{
    %q = "quant.quantize"(%x) : (tensor<1x{k}xf32>) -> {t_in}
    %w = "nn.constant"() {{value = dense<[[127], [127]]> : {t_w}}} : () -> {t_w}
    %b = "nn.constant"() {{value = dense<[2147483600]> : tensor<1xi32>}} : () -> tensor<1xi32>
    %m = "tpu.matmul"(%q, %w, %b) {{clamp_max = 127, clamp_min = -128, k_tiles = 1, multiplier = [1073741824], n_tiles = 1, row_chunk = 2048, shift = [0]}} : ({t_in}, {t_w}, tensor<1xi32>) -> {t_out}
    %y = "quant.dequantize"(%m) : ({t_out}) -> tensor<1x1xf32>
    return %y : tensor<1x1xf32>
  }}
}}
"""
    m = parse_module(text)
    with pytest.raises(QccError, match="int32 accumulator overflow: a sum reaches 2147483854"):
        run(m, {"x": np.full((1, k), 1.0, np.float32)})
    out = run(m, {"x": np.full((1, k), -1.0, np.float32)})  # fits: 2147483346
    assert out["y"].shape == (1, 1)
