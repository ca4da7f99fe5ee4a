"""How a target requantizes (``[requantization] multipliers``) and what rescaling
costs: per-lane multipliers (tpu-v1's flagged assumption) or per-tensor ones, where
an activate whose lanes need k (multiplier, shift) pairs takes k passes; the rescale
share of the latency (a counterfactual re-timing with requantization free)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.backend import Backend, backend_for_target
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.tables import ActivateTable
from qcc.backends.tpu_v1.target import TargetError, load_target, target_to_raw
from qcc.backends.tpu_v1.timing import (
    estimate,
    estimate_program,
    rescale_cycles,
    rescale_seconds,
)
from qcc.cli import main
from qcc.diagnostics import QccError

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "examples" / "models" / "digits_cnn.onnx"
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
TPU = load_target("tpu-v1")
PT = load_target("tpu-v1-per-tensor-rescale")
ASSUMPTION = "assumption: per-lane requantization multipliers (not published for TPU v1)"


@pytest.fixture(scope="module")
def compiled():
    """digits_cnn at batch 2, per-channel and per-tensor weights, for tpu-v1."""
    return {g: qcc.compile(MODEL, calib_data=CALIB, batch=2, granularity=g)
            for g in ("per-channel", "per-tensor")}


# ------------------------------------------------------------------ the schema
def test_shipped_targets_say_how_they_requantize():
    assert TPU.requantization.multipliers == "per-lane"
    assert PT.requantization.multipliers == "per-tensor" and PT.what_if
    # the default is left out of a binary's TARGET section: old binaries keep their bytes
    assert "requantization" not in target_to_raw(TPU)
    assert target_to_raw(PT)["requantization"] == {"multipliers": "per-tensor"}
    # the what-if differs from tpu-v1 in its requantization only
    changed = {"name": PT.name, "description": PT.description, "what_if": True,
               "requantization.multipliers": "per-tensor"}
    assert TPU.updated(changed) == PT
    text = (ROOT / "backends" / "tpu_v1" / "targets" / "tpu-v1.toml").read_text()
    assert 'multipliers = "per-lane"' in text and "ASSUMPTION, NOT PUBLISHED" in text


@pytest.mark.parametrize(("body", "message"), [
    ('[requantization]\nmultipliers = "per-channel"\n',
     "key 'requantization.multipliers' = 'per-channel': must be one of 'per-lane', "
     "'per-tensor'"),
    ("[requantization]\nmultipliers = 1\n",
     "key 'requantization.multipliers': expected a string, got an integer (1)"),
    ('[requantization]\nmode = "per-lane"\n',
     "unknown key [requantization] 'mode' (expected one of multipliers)"),
    ('requantization = "per-lane"\n',
     "'requantization' must be a table [requantization], got a string"),
])
def test_schema_errors_name_the_key(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text('inherits = "tpu-v1"\nname = "bad"\n' + body)
    with pytest.raises(TargetError) as e:
        load_target(path)
    assert message in e.value.message and str(path) in e.value.message
    assert e.value.key.startswith("requantization")


def test_cli_schema_error_is_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('inherits = "tpu-v1"\nname = "bad"\n[requantization]\n'
                    'multipliers = "per-lane-ish"\n')
    code = main(["compile", str(MODEL), "--calib-data", CALIB, "--target", str(path),
                 "-o", str(tmp_path / "m.tpu")])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert "key 'requantization.multipliers' = 'per-lane-ish': must be one of" in err
    assert not (tmp_path / "m.tpu").exists()


# ------------------------------------------------------------------ k passes
def _one_activate(multipliers: list[int], shifts: list[int], lanes: int, rows: int = 300
                  ) -> tuple[list[Instruction], bytes]:
    """A table record with the given per-lane (multiplier, shift) pairs, loaded and
    read by one activate of ``rows`` UB rows writing ``lanes`` lanes."""
    n = len(multipliers)
    record = ActivateTable(0, 0, -128, 127, False, np.zeros(n, np.int32),
                           np.array(multipliers, np.int32), np.array(shifts, np.int8))
    program = [Instruction("load_table", slot=0, dram=0),
               Instruction("activate", src_ub=1, src=0, ub=1000, rows=rows, table=0,
                           lanes=lanes),
               Instruction("halt")]
    return program, record.encode()


def test_per_tensor_unit_takes_one_pass_per_distinct_pair():
    m, s = 1 << 30, -3
    # lanes 0..9: three distinct pairs (the shift alone also makes a pair distinct)
    pairs = [(m, s)] * 4 + [(m + 1, s)] * 3 + [(m, s + 1)] * 3
    program, weights = _one_activate([p[0] for p in pairs], [p[1] for p in pairs], 10)
    lane = estimate(program, TPU, weights=weights)
    tensor = estimate(program, PT, weights=weights)
    assert tensor.cycles - lane.cycles == pytest.approx(2 * 300)  # 3 passes, not 1
    assert (lane.total.extra_rescale_rows, tensor.total.extra_rescale_rows) == (0, 600)
    assert tensor.total.activate_rows == lane.total.activate_rows == 300
    # each pass reads the source rows again; the lanes are written once
    assert tensor.total.ub_read_bytes == 3 * lane.total.ub_read_bytes
    assert tensor.total.ub_write_bytes == lane.total.ub_write_bytes
    assert rescale_cycles(program, PT, weights) - rescale_cycles(program, TPU) == 600
    # only the lanes written count: the first four share one pair
    program4, _ = _one_activate([p[0] for p in pairs], [p[1] for p in pairs], 4)
    assert estimate(program4, PT, weights=weights).cycles == \
        estimate(program4, TPU).cycles


def test_per_tensor_timing_needs_the_table_records():
    program, _ = _one_activate([1 << 30], [0], 1)
    with pytest.raises(QccError, match=r"per-tensor requantization.*needs the "
                                       r"program's weight image"):
        estimate(program, PT)


def test_per_channel_costs_more_only_on_the_per_tensor_target(compiled):
    channel, tensor = compiled["per-channel"].program, compiled["per-tensor"].program
    lat = {(g, t.name): estimate_program(p, t).latency_s
           for g, p in (("per-channel", channel), ("per-tensor", tensor))
           for t in (TPU, PT)}
    assert lat["per-channel", "tpu-v1"] == pytest.approx(lat["per-tensor", "tpu-v1"])
    assert lat["per-tensor", "tpu-v1-per-tensor-rescale"] == \
        pytest.approx(lat["per-tensor", "tpu-v1"])
    assert lat["per-channel", "tpu-v1-per-tensor-rescale"] > \
        1.2 * lat["per-channel", "tpu-v1"]
    r = estimate_program(channel, PT)
    assert r.total.extra_rescale_rows > 0
    assert estimate_program(tensor, PT).total.extra_rescale_rows == 0
    # the conv layers pay: their output channels have their own multipliers
    assert any(c.extra_rescale_rows for name, c in r.layers.items() if "Conv" in name)


def test_compiled_for_the_per_tensor_target_same_program_same_outputs(compiled):
    """The extra passes are only charged by the timing model: compiling for the
    what-if gives the same instructions and weights, and the same (bit-exact)
    outputs."""
    other = qcc.compile(MODEL, calib_data=CALIB, batch=2, granularity="per-channel",
                        target="tpu-v1-per-tensor-rescale")
    mine = compiled["per-channel"]
    assert other.program.instructions == mine.program.instructions
    assert other.program.weights == mine.program.weights
    assert other.program.target == "tpu-v1-per-tensor-rescale"
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        x = z["input"][:2]
    a, b = mine.run({"input": x}), other.run({"input": x})
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    # timed on its own target by default
    assert other.estimate().latency_s == pytest.approx(mine.estimate(PT).latency_s)


# ------------------------------------------------------------------ rescale share
def test_rescale_share_is_part_of_the_latency(compiled):
    backend = backend_for_target("tpu-v1")
    for program in (compiled["per-channel"].program, compiled["per-tensor"].program):
        for t in (TPU, PT):
            latency_us = estimate_program(program, t).latency_s * 1e6
            us = backend.rescale_us(program, t.name, 2)
            assert 0 < us < latency_us
            total, layers = rescale_seconds(program, t)
            assert us == pytest.approx(total * 1e6)
            assert sum(layers.values()) == pytest.approx(total, abs=1e-12)
            # the upper bound ignores overlap: never below the share
            assert backend.rescale_cycles(program, t) * t.cycle_s * 1e6 >= us
    # on the per-tensor target, per-channel's extra passes show in the share
    channel = compiled["per-channel"].program
    extra = (estimate_program(channel, PT).latency_s -
             estimate_program(channel, TPU).latency_s) * 1e6
    assert backend.rescale_us(channel, PT) >= \
        backend.rescale_us(channel, TPU) + 0.9 * extra


def test_rescale_share_is_zero_without_anything_to_rescale():
    program = [Instruction("read_weights", dram=0, count=1),
               Instruction("matmul", switch=1, ub=0, acc=0, length=100),
               Instruction("sync", kind=1), Instruction("halt")]

    class P:  # what rescale_seconds reads of a program
        instructions, layer_of, useful_macs, weights, inputs = program, [], [], b"", []

    total, layers = rescale_seconds(P, PT)
    assert total == 0 and set(layers.values()) == {0.0}
    assert estimate(program, PT).latency_s > 0


def test_backends_that_do_not_say():
    assert np.isnan(Backend.rescale_us(Backend(), None, None))
    assert Backend.requantization_note(Backend(), None) == ""
    backend = backend_for_target("tpu-v1")
    assert backend.requantization_note("tpu-v1") == ASSUMPTION
    assert "per-tensor" in backend.requantization_note("tpu-v1-per-tensor-rescale")


def test_compile_report_shows_the_share_and_the_assumption(compiled):
    quick = copy.copy(compiled["per-channel"])
    quick.calib_data = None  # no SQNR: the slow part of a report, not under test here
    report = quick.report()
    t = report.totals
    assert 0 < t["rescale_us"] < t["latency_us"] and t["requantization"] == "per-lane"
    assert sum(x.rescale_us for x in report.layers) == pytest.approx(t["rescale_us"])
    assert ASSUMPTION in report.notes
    md = report.to_markdown()
    assert "| rescale share of latency (saved if requantization were free) |" in md
    assert "per-lane (assumption: not published for TPU v1)" in md
    assert "rescale share us | rescale cyc (bound)" in md
    other = quick.report(PT)
    assert other.totals["rescale_us"] > t["rescale_us"]
    assert other.totals["extra_rescale_rows"] > 0
    assert re.search(r"per-tensor \(\d+ extra activate rows\)", other.to_markdown())
    assert type(report).from_json(report.to_json()).totals == report.to_json()["totals"]


# ------------------------------------------------------------------ the CLI
def test_run_stats_prints_the_assumption(compiled, tmp_path, capsys):
    binary = tmp_path / "m.tpu"
    compiled["per-channel"].save(binary)
    x = tmp_path / "x.npy"
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        np.save(x, z["input"][:2])
    assert main(["run", str(binary), "--input", str(x), "--stats"]) == 0
    out = capsys.readouterr().out
    assert ASSUMPTION in out.splitlines()
    share = float(re.search(r"^rescale share of latency ([\d.]+) us \(saved if "
                            r"requantization were free\)$", out, re.M)[1])
    assert share == pytest.approx(rescale_seconds(compiled["per-channel"].program, TPU)[0]
                                  * 1e6, abs=0.006)
    assert main(["run", str(binary), "--input", str(x), "--stats", "--target",
                 "tpu-v1-per-tensor-rescale"]) == 0
    other = capsys.readouterr().out
    assert "target tpu-v1-per-tensor-rescale, batch 2" in other
    assert ASSUMPTION not in other
    assert re.search(r"requantization: per-tensor multipliers .* \d+ extra activate rows",
                     other)
    lat = [float(re.search(r"^latency ([\d.]+) us", o, re.M)[1]) for o in (out, other)]
    assert lat[1] > 1.2 * lat[0]
    assert out.split("target tpu-v1")[0] == other.split("target tpu-v1")[0]  # outputs
