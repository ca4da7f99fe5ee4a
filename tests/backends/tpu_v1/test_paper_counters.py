"""The TPU paper's counters (J17a Table 3) in `qcc run --stats` (TimingReport.format)
and in the compile report: each column is what the timing counter says on hand-built
programs, the per-layer columns add up to the totals, the JSON and Markdown have them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qcc
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.report import CompileReport
from qcc.backends.tpu_v1.target import load_target
from qcc.backends.tpu_v1.timing import PAPER_COUNTERS, Options, estimate

ROOT = Path(__file__).resolve().parents[3]
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
TPU = load_target("tpu-v1")
KEYS = [k for k, _, _ in PAPER_COUNTERS]
CYCLE_FIELDS = ("array_active_cycles", "weight_stall_cycles", "weight_shift_cycles",
                "non_matrix_cycles", "raw_stall_cycles", "host_stall_cycles")


def two_layers() -> tuple[list[Instruction], list[str], list[int]]:
    """Layer "a": read 256 input rows from the host, one tile, a 512-row matmul of
    which half the MACs are useful, its activate; layer "b": a RAW sync, a second
    matmul on a fresh tile (a weight stall: the tile is fetched after the sync), a
    host write and the host sync."""
    prog = [Instruction("read_host", rows=256, row_bytes=256, host_stride=256),
            Instruction("sync", kind=0),
            Instruction("read_weights", count=1),
            Instruction("matmul", switch=1, length=512),
            Instruction("activate", src=0, ub=1000, rows=512, table=0, lanes=256),
            Instruction("sync", kind=1),
            Instruction("read_weights", dram=65536, count=1),
            Instruction("matmul", switch=1, ub=1000, acc=2048, length=512),
            Instruction("activate", src=2048, ub=3000, rows=512, table=0, lanes=256),
            Instruction("sync", kind=1),
            Instruction("write_host", rows=512, row_bytes=256, host_stride=256, ub=3000),
            Instruction("sync", kind=0), Instruction("halt")]
    layer_of = ["a"] * 5 + ["b"] * 8
    useful = [0 if i.op != "matmul" else 512 * (32768 if layer == "a" else 65536)
              for i, layer in zip(prog, layer_of, strict=True)]
    return prog, layer_of, useful


@pytest.fixture(scope="module")
def report():
    prog, layer_of, useful = two_layers()
    return estimate(prog, TPU, layer_of, useful)


def test_each_column_is_its_counter(report):
    for c in [*report.layers.values(), report.total]:
        p = report.paper_counters(c)
        assert list(p) == KEYS
        peak = c.cycles * TPU.macs_per_cycle
        assert p["array_active"] == pytest.approx(100 * c.array_active_cycles / c.cycles)
        assert p["useful_macs"] == pytest.approx(100 * c.useful_macs / peak)
        assert p["unused_macs"] == pytest.approx(100 * (c.array_macs - c.useful_macs) / peak)
        assert p["weight_stall"] == pytest.approx(100 * c.weight_stall_cycles / c.cycles)
        assert p["weight_shift"] == pytest.approx(100 * c.weight_shift_cycles / c.cycles)
        assert p["non_matrix"] == pytest.approx(100 * c.non_matrix_cycles / c.cycles)
        assert p["raw_stall"] == pytest.approx(100 * c.raw_stall_cycles / c.cycles)
        assert p["input_stall"] == pytest.approx(100 * c.host_stall_cycles / c.cycles)
        assert p["tops"] == pytest.approx(report.tops(c))
        # Table 3's identities: rows 1, 4, 5, 6 add up to 100; 2 + 3 = 1; 7, 8 in 6
        assert p["array_active"] + p["weight_stall"] + p["weight_shift"] + \
            p["non_matrix"] == pytest.approx(100)
        assert p["useful_macs"] + p["unused_macs"] == pytest.approx(p["array_active"])
        assert p["raw_stall"] + p["input_stall"] <= p["non_matrix"] + 1e-9


def test_the_hand_built_program_counts_what_it_does(report):
    a, b, t = report.layers["a"], report.layers["b"], report.total
    assert a.array_active_cycles == b.array_active_cycles == 512
    # a uses half of each row's MACs: useful = unused = half of array active
    pa = report.paper_counters(a)
    assert pa["useful_macs"] == pytest.approx(pa["unused_macs"])
    assert report.paper_counters(b)["unused_macs"] == 0
    # the first tile waits for the host read's sync, then its fetch: a weight stall
    # of a's; b's tile is fetched after b's sync, another
    assert a.weight_stall_cycles > 0 and b.weight_stall_cycles > 0
    # host transfers: 64 KiB in, 128 KiB out at 20 B/cycle, blocked at the host syncs
    link = TPU.host_bytes_per_cycle
    assert t.host_stall_cycles == pytest.approx(3 * 65536 / link, rel=0.01)
    assert t.raw_stall_cycles > TPU.timing.fill_drain_cycles  # each sync exposes a drain
    # with infinite host bandwidth the input stalls vanish, the rest stays
    prog, layer_of, useful = two_layers()
    fast = estimate(prog, TPU, layer_of, useful,
                    options=Options(infinite_host_bandwidth=True))
    assert fast.total.host_stall_cycles == 0
    assert fast.total.array_active_cycles == t.array_active_cycles


def test_layers_sum_to_the_total(report):
    for f in (*CYCLE_FIELDS, "useful_macs", "array_macs", "cycles"):
        assert sum(getattr(c, f) for c in report.layers.values()) == \
            pytest.approx(getattr(report.total, f)), f
    # and the percentages, weighted by each layer's cycles
    for k in KEYS[:-1]:
        weighted = sum(report.paper_counters(c)[k] * c.cycles for c in report.layers.values())
        assert weighted / report.total.cycles == pytest.approx(report.paper_counters()[k]), k


def test_format_prints_the_counters_and_a_legend(report):
    text = report.format()
    lines = text.splitlines()
    assert lines[0] == "target tpu-v1, batch 1"
    assert lines[1].split() == ["layer", "cycles", *[h for _, h, _ in PAPER_COUNTERS],
                                "bound"]
    assert max(len(line) for line in lines) <= 110
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert list(rows) == ["a", "b", "total"]
    for name, c in [*report.layers.items(), ("total", report.total)]:
        p = report.paper_counters(c)
        figures = dict(zip(KEYS, map(float, rows[name][2:2 + len(KEYS)]), strict=True))
        tops = ("tops", "matrix_tops")
        assert [figures[k] for k in KEYS if k not in tops] == \
            pytest.approx([p[k] for k in KEYS if k not in tops], abs=0.051)
        assert [figures[k] for k in tops] == pytest.approx([p[k] for k in tops], abs=0.0051)
        assert float(rows[name][1]) == pytest.approx(c.cycles, abs=0.5)
    assert any("Table 3" in line for line in lines)  # the legend
    assert any(line.startswith("latency ") for line in lines)


@pytest.fixture(scope="module")
def compiled_report():
    compiled = qcc.compile(ROOT / "examples" / "models" / "digits_cnn.onnx",
                           calib_data=CALIB, batch=8)
    return compiled, compiled.report()


def test_compile_report_has_the_counters(compiled_report):
    compiled, report = compiled_report
    timing = compiled.estimate()
    data = json.loads(json.dumps(report.to_json()))
    for x in data["layers"]:
        assert set(CYCLE_FIELDS) | {"unused_macs", "paper_counters"} <= set(x)
        assert list(x["paper_counters"]) == KEYS
        c = timing.layers[x["name"]]
        assert x["raw_stall_cycles"] == pytest.approx(c.raw_stall_cycles)
        assert x["unused_macs"] == c.array_macs - c.useful_macs
    t = data["totals"]
    for f in (*CYCLE_FIELDS, "unused_macs"):
        assert sum(x[f] for x in data["layers"]) == pytest.approx(t[f]), f
    assert t["paper_counters"] == pytest.approx(timing.paper_counters())
    assert t["raw_stall_cycles"] > 0  # every layer starts with a RAW sync
    back = CompileReport.from_json(data)
    assert back.layers[1].paper_counters == pytest.approx(report.layers[1].paper_counters)
    md = report.to_markdown()
    section = md[md.index("## Counters (the TPU paper's Table 3)"):].split("\n\n")
    table = [line for line in section[1].splitlines() if line.startswith("| ")]
    assert "Table 3" in section[2]  # the legend under the table
    assert table[0].split(" | ")[2:5] == ["active", "useful", "unused"]
    assert len(table) == 1 + len(report.layers) + 1  # header, layers, total
    total = table[-1].strip("| ").split(" | ")
    assert total[0] == "**total**"
    assert float(total[2]) == pytest.approx(timing.paper_counters()["array_active"], abs=0.05)


def test_a_report_from_before_the_counters_still_renders(compiled_report):
    _, report = compiled_report
    data = report.to_json()
    for x in data["layers"]:
        for f in (*CYCLE_FIELDS, "unused_macs", "paper_counters"):
            del x[f]
    del data["totals"]["paper_counters"]
    old = CompileReport.from_json(data)
    assert "## Counters" not in old.to_markdown()
