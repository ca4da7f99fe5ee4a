"""``tpu-tile-ub`` (backends/tpu_v1/tile.py) and the tiled emission
(emit_tiled.py): small models on targets with a tiny Unified Buffer. Batch chunks,
spilled tensors and row bands give programs that run bit-exactly with the integer
IR interpreter; the tiled IR round-trips, interprets like the integer IR after
every backend pass and emits the same program from its parsed form; the extra
PCIe bytes are in the instruction stream and so in the timing; capacity errors
remain only where one row band does not fit. The golden CHECK test is
tests/golden/passes/tpu-tile-ub.mlir."""

from __future__ import annotations

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.binary import Section, load_binary, pack_container, serialize
from qcc.backends.tpu_v1.compile import compile_module
from qcc.backends.tpu_v1.emit import emit
from qcc.backends.tpu_v1.memory import check_activations_fit
from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
from qcc.backends.tpu_v1.runtime import run_program
from qcc.backends.tpu_v1.target import load_target
from qcc.backends.tpu_v1.timing import estimate_program
from qcc.diagnostics import QccError
from qcc.interpreter import run
from qcc.passmanager import PassContext, Pipeline
from qcc.testing.models import _Builder
from qcc.text import parse_module, print_module

SIDE = 16


def _model(batch: int, widen: int = 0):
    """conv 3->8 -> conv 8->8 -> max pool -> strided conv 8->16 -> avg pool (padded),
    on SIDE x SIDE images; with ``widen``, a last 1x1 conv to that many channels."""
    b = _Builder("tiled", 0)
    x = b.node("Relu", [b.conv("input", 3, 8, 3)])
    x = b.node("Relu", [b.conv(x, 8, 8, 3)])
    x = b.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Relu", [b.conv(x, 8, 16, 3, stride=2)])
    x = b.node("AveragePool", [x], "avg", kernel_shape=[3, 3], strides=[1, 1],
               pads=[1, 1, 1, 1], count_include_pad=1)
    channels = 16
    if widen:
        x = b.conv(x, 16, widen, 1)
        channels = widen
    return b.model([batch, 3, SIDE, SIDE], x, [batch, channels, SIDE // 4, SIDE // 4])


def _quantized(batch: int, widen: int = 0) -> qcc.Module:
    module = qcc.import_onnx(_model(batch, widen), batch)
    rng = np.random.default_rng(0)
    qcc.quantize_model(module, calib_data={
        "input": rng.standard_normal((4, 3, SIDE, SIDE)).astype(np.float32)})
    return module


@pytest.fixture(scope="module")
def integer():
    return _quantized(2)


def _target(rows: int):
    return load_target("tpu-v1").updated({"unified_buffer.rows": rows})


def _codes(module: qcc.Module, x: np.ndarray) -> tuple[dict, dict]:
    """(output codes, input codes) the interpreter computes on ``module``."""
    seen: dict = {}
    run(module, {"input": x}, observer=seen.__setitem__)
    g = module.main
    out = {n: seen[v.op.input] for n, v in zip(g.output_names, g.outputs, strict=True)}
    q_in = {n: seen[a.users[0].output] for n, a in zip(g.input_names, g.args, strict=True)}
    return out, q_in


def _attrs(tpu_module) -> dict[str, dict]:
    """Per tpu layer or transfer (by op name, numbered): its tiling attributes."""
    out = {}
    for k, op in enumerate(tpu_module.main.ops):
        if isinstance(op, tpu.TpuOp) and not isinstance(op, tpu.SyncOp):
            out[f"{k}:{op.name}"] = {a: op.attributes[a] for a in
                                     ("batch_chunk", "spill", "band_rows")
                                     if a in op.attributes}
    return out


def _check_bit_exact(module, compiled, seed=1):
    x = np.random.default_rng(seed).standard_normal(
        module.main.args[0].type.shape).astype(np.float32)
    want, q_in = _codes(module, x)
    got = run_program(compiled.program, q_in, quantized=True, engine="numpy")
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    # and after a trip through the binary
    loaded = load_binary(serialize(compiled.program))
    assert loaded.scratch_bytes == compiled.program.scratch_bytes
    again = run_program(loaded, q_in, quantized=True, engine="numpy")
    for name in want:
        np.testing.assert_array_equal(again[name], want[name])


# rows of one 16x16 image: input 256, conv1 256, conv2 256, pool 64, conv3 16, avg 16
@pytest.mark.parametrize(("rows", "chunk", "spilled", "banded"), [
    (98304, 0, 0, 0),   # fits: nothing changes
    # two images do not fit, one does; spilling the input and conv1's result (bands
    # of conv1 and conv2) costs less than reading the weights again per image
    (1000, 0, 2, 2),
    (400, 0, 3, 3),     # ... and conv2's result too
    (120, 1, 3, 3),     # the whole batch does not fit even so: one image at a time
    (70, 1, 4, 4),      # ... and the max pool's result spilled: all but one in bands
])
def test_tiled_programs_run_bit_exact_with_the_integer_ir(integer, rows, chunk, spilled,
                                                          banded):
    compiled = compile_module(integer, _target(rows))
    attrs = _attrs(compiled.tpu_module)
    assert {a.get("batch_chunk", 0) for a in attrs.values()} == {chunk}
    assert sum("spill" in a for a in attrs.values()) == spilled
    assert sum("band_rows" in a for a in attrs.values()) == banded
    assert (compiled.program.scratch_bytes > 0) == (spilled > 1)  # input: no scratch
    _check_bit_exact(integer, compiled)


def test_tiling_costs_pcie_in_the_timing(integer):
    """The spilled tensors' PCIe bytes and the weights read again per band are
    instructions, so the timing model charges them (batch chunks: see the digits
    test below)."""
    whole = estimate_program(compile_module(integer, _target(98304)).program, _target(98304))
    banded = estimate_program(compile_module(integer, _target(120)).program, _target(120))
    io = whole.total.host_read_bytes + whole.total.host_write_bytes
    assert io == 2 * 3 * SIDE * SIDE + 2 * 16 * (SIDE // 4) ** 2
    extra = banded.total.host_read_bytes + banded.total.host_write_bytes - io
    # conv1 and conv2 results written and read back (8 channels of 16x16 per image),
    # the max pool's written and read; input rows read again for the halos
    assert extra >= 2 * 2 * (2 * 8 * SIDE * SIDE) + 2 * 2 * 8 * (SIDE // 2) ** 2
    assert banded.total.dram_bytes > whole.total.dram_bytes
    assert banded.total.cycles > whole.total.cycles


def test_tiled_ir_round_trips_interprets_exactly_and_emits_the_same_program(integer):
    target = _target(120)
    x = np.random.default_rng(2).standard_normal((2, 3, SIDE, SIDE)).astype(np.float32)
    want = run(integer, {"input": x})
    m = integer.clone()
    ctx = PassContext()
    ctx.data["target"] = target
    for name in BACKEND_PIPELINE.split(","):
        Pipeline.parse(name).run(m, ctx)
        text = print_module(m)
        assert print_module(parse_module(text)) == text, name
        got = run(m, {"input": x})
        for out in want:
            np.testing.assert_array_equal(got[out], want[out], err_msg=name)
    compiled = compile_module(integer, target)
    assert print_module(m) == print_module(compiled.tpu_module)
    program = emit(parse_module(print_module(m)).main, target)
    program.manifest = dict(compiled.program.manifest)
    assert serialize(program) == compiled.to_bytes()


def test_two_channel_blocks_and_a_spilled_program_output():
    """A 1x1 conv to 300 channels (two 256-lane blocks, 512 rows) on a 300-row Unified
    Buffer: written band by band straight into the program output's host buffer."""
    b = _Builder("wide", 0)
    y = b.conv("input", 3, 300, 1)
    module = qcc.import_onnx(b.model([1, 3, SIDE, SIDE], y, [1, 300, SIDE, SIDE]))
    qcc.quantize_model(module, calib_data={"input": np.random.default_rng(0).standard_normal(
        (2, 3, SIDE, SIDE)).astype(np.float32)})
    compiled = compile_module(module, _target(300))
    ops = compiled.tpu_module.main.ops
    conv = next(op for op in ops if isinstance(op, tpu.Conv2dOp))
    write = next(op for op in ops if isinstance(op, tpu.WriteHostOp))
    assert conv.attributes.get("spill") == 1 and "band_rows" in conv.attributes
    assert conv.attributes["host"] == write.attributes["host"]
    assert compiled.program.scratch_bytes == 0  # input and output are in host memory
    _check_bit_exact(module, compiled)


def test_nothing_fits_names_the_layer_the_band_and_the_sizes(integer):
    with pytest.raises(QccError, match=r"ONNX node 'conv_2_node' \(Conv\): one row band of "
                                       r"layer 'conv_2_node' \(1 output rows: 48 input and 16 "
                                       r"output staging rows, 16384 bytes\) does not fit the "
                                       r"largest free range of the Unified Buffer, 40 rows of "
                                       r"40 \(10240 bytes\), so nothing fits: not the whole "
                                       r"graph \(tensor 'input_q' tensor<2x3x16x16x.* needs "
                                       r"512 Unified Buffer rows \(131072 bytes\) but the "
                                       r"largest free range is 40 rows"):
        compile_module(integer, _target(40))


def test_the_pass_refuses_a_graph_tiled_twice(integer):
    m = integer.clone()
    Pipeline.parse("tpu-lower,tpu-tile-ub{ub-rows=120}").run(m, PassContext())
    with pytest.raises(QccError, match="already tiled"):
        Pipeline.parse("tpu-tile-ub{ub-rows=120}").run(m, PassContext())
    with pytest.raises(QccError, match="ub_rows must be positive"):
        Pipeline.parse("tpu-tile-ub{ub-rows=-3}").run(integer.clone(), PassContext())


def test_weight_constants_are_not_activations_before_calibration():
    """The check before calibration counts activations only (the MLP's 64x32 weight
    takes 64 rows, its activations one row per image), one row per image."""
    from qcc.testing.models import mlp

    module = qcc.import_onnx(mlp(batch=1))
    check_activations_fit(module.main, 32, "small")  # the weights would need 64
    conv = qcc.import_onnx(_model(1))  # one row of conv1's result: 16 rows
    check_activations_fit(conv.main, 16, "small")
    with pytest.raises(QccError, match=r"tensor '.*' tensor<1x3x16x16xf32>: one row of it "
                                       r"\(of one image\) needs 16 Unified Buffer rows \(4096 "
                                       r"bytes\) as 8-bit values, more than all 15 rows"):
        check_activations_fit(conv.main, 15, "small")


def test_a_malformed_host_scratch_section_is_rejected(integer):
    from qcc.backends.tpu_v1.binary import (
        encode_io,
        encode_layers,
        encode_manifest,
        encode_target,
    )
    from qcc.backends.tpu_v1.isa import encode

    program = compile_module(integer, _target(120)).program
    target = program.resolve_target()

    def packed(scratch: bytes) -> bytes:
        return pack_container([
            (Section.INSTRUCTIONS, encode(program.instructions)),
            (Section.WEIGHTS, bytes(program.weights)),
            (Section.IO, encode_io(program.inputs, program.outputs)),
            (Section.MANIFEST, encode_manifest(program.manifest)),
            (Section.LAYERS, encode_layers(program)),
            (Section.TARGET, encode_target(target)),
            (Section.HOST_SCRATCH, scratch)])

    assert packed((program.scratch_bytes).to_bytes(8, "little")) == serialize(program)
    with pytest.raises(QccError, match="HOST_SCRATCH section: 4 bytes, expected 8"):
        load_binary(packed(b"\0" * 4))
    with pytest.raises(QccError, match=r"HOST_SCRATCH section: 0 bytes of host scratch"):
        load_binary(packed(b"\0" * 8))
    # without the section the spilled tensors' host addresses are out of range
    with pytest.raises(QccError, match=r"outside the .*host buffer space"):
        load_binary(pack_container([
            (Section.INSTRUCTIONS, encode(program.instructions)),
            (Section.WEIGHTS, bytes(program.weights)),
            (Section.IO, encode_io(program.inputs, program.outputs)),
            (Section.MANIFEST, encode_manifest(program.manifest)),
            (Section.TARGET, encode_target(target))]))


def test_the_report_says_what_was_tiled_and_the_extra_pcie_bytes(integer):
    import json

    from qcc.backends.tpu_v1.report import CompileReport

    whole = compile_module(integer, _target(98304)).report()
    assert whole.tiling == {} and "Unified Buffer tiling" not in whole.to_markdown()
    compiled = compile_module(integer, _target(120))
    report = compiled.report()
    t = report.tiling
    assert t["batch_chunk"] == 1
    assert [x["band_rows"] for x in t["banded_layers"]] == [
        int(op.attributes["band_rows"]) for op in compiled.tpu_module.main.ops
        if "band_rows" in op.attributes]
    assert t["spilled_tensors"][0]["tensor"] == "input_q"
    est = compiled.estimate()
    assert t["extra_pcie_bytes"] == est.total.host_read_bytes + \
        est.total.host_write_bytes - (2 * 3 * SIDE * SIDE + 2 * 16 * (SIDE // 4) ** 2) > 0
    assert t["host_scratch_bytes"] == compiled.program.scratch_bytes
    text = report.to_markdown()
    assert "## Unified Buffer tiling" in text and "batch chunks of 1" in text
    assert "| tensor spilled to host memory |" in text
    data = report.to_json()
    assert CompileReport.from_json(json.loads(json.dumps(data))).to_json() == data


def _small_target_file(tmp_path, rows: int):
    path = tmp_path / f"small-ub-{rows}.toml"
    path.write_text(f'inherits = "tpu-v1"\nname = "tpu-v1-ub{rows}"\n'
                    f'description = "tpu-v1 with a {rows}-row Unified Buffer (a test)"\n'
                    f"\n[unified_buffer]\nrows = {rows}\n")
    return str(path)


def test_the_cli_prints_the_tiling_and_stops_cleanly_where_nothing_fits(capsys, tmp_path):
    from pathlib import Path

    from qcc.cli import main

    root = Path(__file__).resolve().parents[3]
    compile_ = ("compile", str(root / "examples" / "models" / "digits_cnn.onnx"),
                "--calib-data", str(root / "examples" / "data" / "digits_calib.npz"),
                "--batch", "2")
    out = tmp_path / "m.tpu"
    code = main([*compile_, "--target", _small_target_file(tmp_path, 100), "-o", str(out),
                 "--print-ir-after=tpu-tile-ub", "--elide-constants"])
    err = capsys.readouterr().err
    assert code == 0, err
    dump = err.split("// -----// IR Dump After tpu-tile-ub //----- //", 1)[1]
    assert "spill = 1" in dump and "band_rows = " in dump
    assert load_binary(out.read_bytes()).scratch_bytes > 0
    out.unlink()
    code = main([*compile_, "--target", _small_target_file(tmp_path, 10), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not out.exists()
    assert "one row band of layer '/stem/stem.0/stem.0.0/Conv' (1 output rows: 24 input " \
           "and 8 output staging rows, 8192 bytes) does not fit the largest free range of " \
           "the Unified Buffer, 10 rows of 10 (2560 bytes), so nothing fits" in err


@pytest.mark.parametrize(("rows", "chunk"), [(600, 4), (100, 1)])
def test_an_example_model_with_add_reshape_and_dense_in_chunks(rows, chunk):
    """digits_cnn at batch 8 (a residual add, a reshape and a dense layer run per
    chunk; at 100 rows its first convolutions also run in bands)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    module = qcc.load(root / "examples" / "models" / "digits_cnn.onnx", batch=8)
    qcc.quantize_model(module, stats=str(root / "tests" / "golden" / "models" / "digits_cnn"
                                         / "calibration.json"))
    compiled = compile_module(module, _target(rows))
    assert {a.get("batch_chunk") for a in _attrs(compiled.tpu_module).values()} == {chunk}
    _check_bit_exact(module, compiled)
    if chunk == 4:  # chunks cost weight traffic (read again per chunk), no PCIe
        whole = compile_module(module, _target(98304)).estimate().total
        t = compiled.estimate().total
        assert t.host_read_bytes == whole.host_read_bytes
        assert t.host_write_bytes == whole.host_write_bytes
        assert t.dram_bytes > 1.9 * whole.dram_bytes
