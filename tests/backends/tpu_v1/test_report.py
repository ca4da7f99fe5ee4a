"""The compile report (backends/tpu_v1/report.py): every layer and op placed, cycles
that add up, depthwise explanations, memory, SQNR, JSON and Markdown renderings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qcc
from qcc.backends.tpu_v1.report import (
    ACTIVATION,
    HOST,
    MXU,
    NOTHING,
    POOL,
    WEIGHTS,
    CompileReport,
)

ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "examples" / "models"
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")


@pytest.fixture(scope="module")
def compiled():
    return {name: qcc.compile(MODELS / f"{name}.onnx", calib_data=CALIB, batch=8)
            for name in ("digits_cnn", "digits_dwsep")}


@pytest.fixture(scope="module")
def reports(compiled):
    return {name: c.report() for name, c in compiled.items()}


@pytest.mark.parametrize("name", ["digits_cnn", "digits_dwsep"])
def test_every_layer_and_cycles_sum_to_the_total(compiled, reports, name):
    report, timing = reports[name], compiled[name].estimate()
    assert [x.name for x in report.layers] == list(timing.layers)
    assert set(compiled[name].program.layer_of) <= {x.name for x in report.layers}
    assert sum(x.cycles for x in report.layers) == pytest.approx(report.totals["cycles"])
    assert report.totals["cycles"] == pytest.approx(timing.cycles)
    assert sum(x.useful_macs for x in report.layers) == report.totals["useful_macs"]
    # totals: latency includes the host transfers; energy per inference = energy / batch
    t = report.totals
    assert t["latency_us"] == pytest.approx(timing.latency_s * 1e6)
    assert 0 < t["host_transfer_us"] < t["latency_us"]
    assert t["energy_per_inference_uj"] == pytest.approx(t["energy_uj"] / 8)
    assert t["inferences_per_s_per_w"] == pytest.approx(timing.inferences_per_s_per_w)
    for x in report.layers:
        if x.weight_bytes:
            assert x.intensity == pytest.approx(x.useful_macs / x.weight_bytes)
        assert x.bound in ("compute", "weight memory", "weight shift", "non-matrix", "-")
        # matmul layers are far below their bound at batch 8: each says why
        if x.array_macs:
            assert x.utilization < 0.25 and x.why, x.name
            assert MXU in x.units and ACTIVATION in x.units
            assert x.rescale_cycles > 0 and x.accumulator_rows > 0
            assert x.sqnr_db is not None and x.sqnr_db > 20  # measured on the calib data


@pytest.mark.parametrize("name", ["digits_cnn", "digits_dwsep"])
def test_every_op_is_placed(compiled, reports, name):
    """The report lists the ops of the tpu graph the program was emitted from (all
    but the barriers), each with the unit its class declares."""
    graph = compiled[name].tpu_module.main
    ops = [op for op in graph.ops if op is not graph.return_op and op.name != "tpu.sync"]
    placed = reports[name].ops
    assert [o.op for o in placed] == [op.name for op in ops]
    unit = {o.op: set() for o in placed}
    for o in placed:
        unit[o.op].add(o.unit)
    assert unit["tpu.conv2d"] == {MXU} and unit["tpu.matmul"] == {MXU}
    assert unit["quant.quantize"] == {HOST} and unit["quant.dequantize"] == {HOST}
    assert unit["tpu.read_host"] == {HOST} and unit["tpu.write_host"] == {HOST}
    assert unit["nn.constant"] == {WEIGHTS}
    assert unit["tpu.reshape"] == {NOTHING}
    assert not any(o.op.startswith("quant.") and o.unit != HOST for o in placed)
    layers = {x.name for x in reports[name].layers}
    assert {o.layer for o in placed} <= layers
    if name == "digits_dwsep":
        assert unit["tpu.pool"] == {POOL}
    # the report's notes are the ops' own: packed taps where the plan packed them
    for o, op in zip(placed, ops, strict=True):
        if op.name == "tpu.conv2d":
            assert (f"{op.taps_per_row} taps per row" in o.note) == (op.taps_per_row > 1)
            assert o.unit == op.unit and op.unit != ACTIVATION


def test_depthwise_layers_say_so(compiled, reports):
    graph = compiled["digits_dwsep"].module.main
    report = reports["digits_dwsep"]
    depthwise = {o.layer for o in report.ops if o.op == "tpu.conv2d" and "depthwise" in o.note}
    convs = [op for op in graph.ops if op.name == "quant.conv2d"]
    assert len(depthwise) == sum(op.group > 1 for op in convs) == 2
    for x in report.layers:
        text = " ".join(x.why)
        assert ("depthwise" in text) == (x.name in depthwise), x.name
        if x.name in depthwise:
            assert x.k_lanes == 1 and x.suggestions
    # digits_cnn has no depthwise layer; its shallow first conv says so
    cnn = reports["digits_cnn"]
    assert not any("depthwise" in " ".join(x.why) for x in cnn.layers)
    assert any("shallow channels" in " ".join(x.why) for x in cnn.layers)
    assert any("small batch" in " ".join(x.why) for x in cnn.layers)


def test_memory(compiled, reports):
    for name, report in reports.items():
        m, program = report.memory, compiled[name].program
        assert m["weight_image_bytes"] == len(program.weights)
        assert m["weight_tile_bytes"] + m["table_bytes"] == len(program.weights)
        assert m["weight_dram_bytes_read"] == len(program.weights)  # each read once
        assert m["host_read_bytes"] == sum(d.host_bytes for d in program.inputs)
        assert m["host_write_bytes"] == sum(d.host_bytes for d in program.outputs)
        assert 0 < m["ub_peak_live_rows"] <= m["ub_high_water_rows"] <= m["ub_rows"]
        assert 0 < m["accumulator_rows_used"] <= m["accumulator_rows"]
        # the input has a buffer; every buffer takes whole 256-byte rows
        assert any("input_q" in b.tensors for b in report.buffers)
        assert all(b.bytes == b.rows * 256 >= b.valid_bytes for b in report.buffers)


def test_json_round_trips_and_markdown(reports):
    report = reports["digits_cnn"]
    data = report.to_json()
    text = json.dumps(data, indent=2)
    assert json.loads(text) == data
    assert CompileReport.from_json(json.loads(text)).to_json() == data
    assert list(data)[:4] == ["format", "target", "batch", "instructions"]
    assert data["format"] == "qcc-compile-report/1"
    md = report.to_markdown()
    assert "| layer | units | MACs |" in md and "## Memory" in md and "## Where every op runs" \
        in md
    for x in report.layers:
        assert f"| `{x.name}` |" in md
    assert "## Why layers are far below their bound" in md


def test_other_target_and_eval_data(compiled):
    c = compiled["digits_cnn"]
    eval_data = str(ROOT / "examples" / "data" / "digits_eval.npz")
    report = c.report("tpu-v1-gddr5", eval_data=eval_data)
    assert report.target == "tpu-v1-gddr5" and report.sqnr_data == eval_data
    assert report.totals["cycles"] == pytest.approx(c.estimate("tpu-v1-gddr5").cycles)
    assert report.output_sqnr_db["logits"] > 20


def test_without_data_there_is_no_sqnr(compiled):
    c = compiled["digits_cnn"]
    bare = type(c)(c.program, c.module, c.target, tpu_module=c.tpu_module)
    report = bare.report()
    assert all(x.sqnr_db is None for x in report.layers)
    assert any("no SQNR" in n for n in report.notes)


def test_notes_say_what_calibration_found(compiled, reports):
    """The compile report carries the calibration-set sufficiency and the tensors that
    inherit their input's quantization (digits_cnn: the max-pool and the flatten)."""
    notes = reports["digits_cnn"].notes
    assert any(n.startswith("calibration sufficiency on 200 samples") for n in notes)
    inherited = next(n for n in notes if n.startswith("quantized with their input's type"))
    assert "MaxPool" in inherited and "Flatten" in inherited
