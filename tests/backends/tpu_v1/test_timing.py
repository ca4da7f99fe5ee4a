"""The timing and energy model against closed forms and the paper's rooflines.

Programs are built by hand in the lowering's pattern: per output tile and row chunk,
up to four ``read_weights`` ahead, one ``matmul`` (switch) per weight tile with a
``read_weights`` after it for the tile four ahead, then ``activate``.

1. No overlap and infinite weight bandwidth reduce the model to SCALE-Sim's
   weight-stationary closed form, exactly.
2. A batch-8 GEMM streaming weights is weight-bandwidth bound.
3. A batch-2048 GEMM reaches >= 95% of 92 TOPS.
4. GDDR5 makes test 2 ~5x faster; syncs cost RAW stall; host DMAs run at the link
   bandwidth; energy is events x energy + static power x time
   (tests/backends/tpu_v1/test_energy.py: die vs DRAM, power at load).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.target import load_target
from qcc.backends.tpu_v1.timing import Options, estimate, estimate_program
from qcc.diagnostics import QccError
from qcc.testing import models

TPU = load_target("tpu-v1")
R = C = 256
FILL_DRAIN = TPU.timing.fill_drain_cycles  # 510 = R + C - 2
ISSUE = TPU.timing.issue_cycles
INFINITE = Options(infinite_weight_bandwidth=True)


def gemm(k_tiles: int, n_tiles: int, rows: int, chunk: int = 2048,
         activate: bool = True) -> list[Instruction]:
    """[rows, 256 k_tiles] x [256 k_tiles, 256 n_tiles], tiles fetched 4 ahead."""
    out, chunks = [], 0
    for nb in range(n_tiles):
        for m0 in range(0, rows, chunk):
            mc = min(chunk, rows - m0)
            acc = (chunks % 2) * 2048  # accumulator halves alternate
            chunks += 1
            tile = [(nb * k_tiles + k) * 65536 for k in range(k_tiles)]
            out += [Instruction("read_weights", dram=tile[k], count=1)
                    for k in range(min(4, k_tiles))]
            for kb in range(k_tiles):
                out.append(Instruction("matmul", switch=1, accumulate=int(kb > 0),
                                       ub=kb * rows + m0, acc=acc, length=mc))
                if kb + 4 < k_tiles:
                    out.append(Instruction("read_weights", dram=tile[kb + 4], count=1))
            if activate:
                out.append(Instruction("activate", src=acc, ub=60000 + m0, rows=mc,
                                       table=0, lanes=256))
    return out


def closed_form(folds: int, t: int) -> int:
    """SCALE-Sim weight stationary: R cycles of preload, then R + C + T - 2."""
    return folds * (2 * R + C + t - 2)


# ------------------------------------------------------------------ 1. closed form
@pytest.mark.parametrize("k_tiles,n_tiles,rows", [(1, 1, 100), (2, 3, 300), (3, 2, 2048),
                                                  (6, 1, 17)])
def test_no_overlap_infinite_bandwidth_is_the_closed_form(k_tiles, n_tiles, rows):
    program = gemm(k_tiles, n_tiles, rows, activate=False)
    folds = k_tiles * n_tiles
    no_issue = TPU.updated({"timing.issue_cycles": 0})
    r = estimate(program, no_issue, options=Options(overlap=False,
                                                    infinite_weight_bandwidth=True))
    assert r.cycles == closed_form(folds, rows)  # e.g. 6 x (766 + 300) = 6396
    # the same with the bandwidth merely huge
    huge = no_issue.updated({"weight_memory.bandwidth_bytes_per_s": 1e30})
    assert estimate(program, huge, options=Options(overlap=False)).cycles == \
        pytest.approx(closed_form(folds, rows))
    # Difference 1: the model charges issue cycles; without overlap each instruction
    # other than a matmul adds its 10 (a matmul's issue hides behind its own shift).
    r = estimate(program, TPU, options=Options(overlap=False, infinite_weight_bandwidth=True))
    reads = sum(i.op == "read_weights" for i in program)
    assert r.cycles == closed_form(folds, rows) + ISSUE * reads
    # Difference 2 (what the real model adds): the next tile shifts in behind the
    # previous matmul's rows, and rows of consecutive matmuls follow back to back,
    # so one shift and one fill/drain show, plus any shift longer than the rows.
    r = estimate(program, no_issue, options=INFINITE)
    assert r.cycles == 256 + (folds - 1) * max(rows, 256) + rows + FILL_DRAIN
    assert r.total.array_active_cycles == folds * rows


def test_counters_partition_time():
    r = estimate(gemm(2, 3, 300), TPU)
    c = r.total
    assert c.array_active_cycles + c.weight_stall_cycles + c.weight_shift_cycles + \
        c.non_matrix_cycles == pytest.approx(c.cycles)
    assert c.array_macs == c.useful_macs == 6 * 300 * 65536
    assert c.dram_bytes == 6 * 65536
    assert c.ub_read_bytes == 6 * 300 * 256
    assert c.acc_write_bytes == 6 * 300 * 1024
    assert c.acc_read_bytes == (3 + 3) * 300 * 1024  # 3 accumulating matmuls, 3 activates


# ------------------------------------------------------------------ 2. weight bound
def test_small_batch_is_weight_bandwidth_bound():
    """Batch 8 x [4096 x 4096] (256 tiles): 345,413 cycles of tile fetches; the model
    gives 346,195 (+0.23%: the first fetch, the last shift and fill/drain, the last
    activate)."""
    r = estimate(gemm(16, 16, 8), TPU, batch=8)
    weight_time = 256 * 65536 / 34e9
    assert r.latency_s == pytest.approx(weight_time, rel=0.05)
    assert r.latency_s == pytest.approx(weight_time, rel=0.003)
    macs_per_weight_byte = 8  # each weight byte is used once per batch row
    assert r.total.useful_macs / r.latency_s == pytest.approx(macs_per_weight_byte * 34e9,
                                                              rel=0.05)
    assert r.bound() == "weight memory"
    assert r.tops() == pytest.approx(0.543, abs=0.001)


# ------------------------------------------------------------------ 3. compute bound
def test_large_batch_reaches_peak():
    """2048 rows x 256 tiles: 524,288 array cycles of 526,404 (99.6%): 91.38 TOPS.
    Not hidden: the first tile's fetch (1,309 cycles of weight stall) and shift (256),
    the last drain (510) and the last row's activation (1), and issue cycles."""
    r = estimate(gemm(16, 16, 2048), TPU, batch=2048)
    assert r.tops() >= 0.95 * 92
    assert r.tops() == pytest.approx(91.38, abs=0.01)
    assert r.total.non_matrix_cycles == 551  # 510 + 1 + 40 issue
    assert r.bound() == "compute"
    assert r.total.weight_shift_cycles == 256  # only the very first tile's shift shows


# ------------------------------------------------------------------ 4. what-ifs, syncs, host
def test_gddr5_makes_small_batches_five_times_faster():
    program = gemm(16, 16, 8)
    ddr3 = estimate(program, TPU).latency_s
    gddr5 = estimate(program, load_target("tpu-v1-gddr5")).latency_s
    hbm = estimate(program, load_target("tpu-v1-hbm")).latency_s
    assert ddr3 / gddr5 == pytest.approx(5.2, abs=0.05)  # bandwidth is 5.4x
    # GDDR5 fetches a tile in 250 cycles, less than the 256 to shift it in: the shift
    # bounds small batches now, so HBM's 600 GB/s gains almost nothing more
    assert 256 * 256 * TPU.cycle_s < hbm < gddr5 < 1.01 * hbm


def _one_layer(sync: bool) -> list[Instruction]:
    prog = [Instruction("read_weights", count=1),
            Instruction("matmul", switch=1, length=512),
            Instruction("activate", src=0, ub=1000, rows=512, table=0, lanes=256)]
    if sync:
        prog.append(Instruction("sync", kind=1))
    return [*prog, Instruction("matmul", ub=1000, acc=2048, length=512),
            Instruction("halt")]


def test_sync_adds_raw_stall():
    """The barrier exposes the drain of the last rows and the activation of the last
    row (the activate streams behind the drain): 510 + 1 cycles in which the array is
    idle."""
    r = estimate(_one_layer(True), TPU, options=INFINITE)
    assert r.total.raw_stall_cycles == FILL_DRAIN + 1
    free = estimate(_one_layer(False), TPU, options=INFINITE)
    assert free.total.raw_stall_cycles == 0
    # without the sync, the second matmul's rows follow the first's at once
    assert r.cycles - free.cycles == FILL_DRAIN + 1
    # the second matmul waited for the sync, not for its weights (the tile stayed)
    assert r.total.weight_stall_cycles == 0


def test_host_transfers_run_at_the_link_bandwidth():
    nbytes = 4096 * 256
    prog = [Instruction("read_host", rows=4096, row_bytes=256, host_stride=256),
            Instruction("sync", kind=0), Instruction("halt")]
    r = estimate(prog, TPU)
    link = nbytes / 14e9 / TPU.cycle_s
    assert r.cycles == pytest.approx(link + ISSUE)  # the halt issues after the sync
    assert r.total.host_stall_cycles == pytest.approx(link - 2 * ISSUE)
    assert r.total.host_read_bytes == nbytes
    assert r.latency_s == pytest.approx(nbytes / 14e9, rel=1e-3)
    assert estimate(prog, TPU, options=Options(infinite_host_bandwidth=True)).cycles == \
        3 * ISSUE


def test_energy_is_events_plus_static_power():
    r = estimate(gemm(16, 16, 2048), TPU, batch=2048)
    c, e = r.total, TPU.energy
    parts = r.energy()
    # the datapath's events at their switching activity (fitted, docs/cost-model.md §4)
    assert parts["mac"] == pytest.approx(c.array_macs * e.mac_pj * e.switching_activity
                                         * 1e-12)
    assert parts["weight_memory"] == pytest.approx(c.dram_bytes * 8 * e.dram_pj_per_bit *
                                                   1e-12)
    assert parts["accumulators"] == pytest.approx(
        (c.acc_read_bytes + c.acc_write_bytes) / 4 * e.acc_pj_per_access
        * e.switching_activity * 1e-12)
    assert parts["static"] == pytest.approx(e.static_w * r.latency_s)
    assert r.energy_j() == pytest.approx(sum(parts.values()))
    assert r.inferences_per_s_per_w == pytest.approx(2048 / r.energy_j())
    # at peak the die draws ~40 W (J17a's busy figure, which the static power and
    # activity are fitted to) and the DDR3 ~5.3 W more; weight-bound batch 8 leaves
    # the die near its static power while the DRAM streams at full bandwidth (~8 W)
    assert 39 < r.die_power_w < 41 and 45 < r.average_power_w < TPU.power.tdp_w
    small = estimate(gemm(16, 16, 8), TPU)
    assert e.static_w < small.die_power_w < e.static_w + 0.1
    assert 8 < small.dram_power_w < 8.3


# ------------------------------------------------------------------ layers and errors
def test_per_layer_counters_sum_to_the_total():
    a, b = gemm(4, 2, 600), gemm(2, 1, 300)
    program = [*a, Instruction("sync", kind=1), *b, Instruction("halt")]
    layer_of = ["a"] * len(a) + ["b"] * (len(b) + 2)
    useful = [600 * 100 if i.op == "matmul" else 0 for i in program]
    r = estimate(program, TPU, layer_of, useful)
    assert list(r.layers) == ["a", "b"]
    for f in dataclasses.fields(r.total):
        total = sum(getattr(c, f.name) for c in r.layers.values())
        assert getattr(r.total, f.name) == pytest.approx(total), f.name
    assert r.layers["a"].array_active_cycles == 8 * 600
    assert r.layers["b"].useful_macs == 2 * 600 * 100
    # b's sync waits for a's drain and activation: those cycles are a's non-matrix
    # cycles, and its RAW stall with them (per layer, RAW stall <= non-matrix)
    assert r.layers["a"].raw_stall_cycles > 0 and r.layers["b"].raw_stall_cycles == 0
    for c in r.layers.values():
        assert c.raw_stall_cycles + c.host_stall_cycles <= c.non_matrix_cycles + 1e-9
    assert "total" in r.format()


def test_activate_waits_for_the_accumulators_and_matmul_for_the_activate():
    prog = [Instruction("read_weights", count=1),
            Instruction("matmul", switch=1, length=1000),
            Instruction("activate", src=0, ub=5000, rows=1000, table=0, lanes=256),
            # overwrites the last rows the activate reads
            Instruction("matmul", acc=990, length=10)]
    r = estimate(prog, TPU, options=INFINITE)
    # the tile shifts in from its arrival (the read's issue), while the matmul issues
    first_end = 256 + 1000 + FILL_DRAIN
    # the activate streams behind the drain: row k drains at 256 + k + 1 +
    # FILL_DRAIN and is read one cycle later, so the last row is read at first_end + 1
    # and the second matmul's row i (accumulator row 990 + i) enters no earlier than
    # that row's read: it starts at first_end + 1 - 9 and drains 10 + FILL_DRAIN later
    assert r.cycles == first_end + 1 - 9 + 10 + FILL_DRAIN
    # over accumulator rows nobody reads, it follows the first matmul's rows at once
    prog[-1] = Instruction("matmul", acc=1000, length=10)
    assert estimate(prog, TPU, options=INFINITE).cycles == first_end + 10


def test_machine_errors_name_the_instruction():
    with pytest.raises(QccError, match=r"instruction 4 \(read_weights\).*5th in a 4-deep"):
        estimate([Instruction("read_weights", count=1)] * 5, TPU)
    with pytest.raises(QccError, match=r"instruction 0 \(matmul\).*no read_weights"):
        estimate([Instruction("matmul", switch=1, length=8)], TPU)
    with pytest.raises(QccError, match="no set_conv"):
        estimate([Instruction("pool", length=8)], TPU)
    with pytest.raises(QccError, match="unknown sync kind 7"):
        estimate([Instruction("sync", kind=7)], TPU)
    with pytest.raises(QccError, match="layer_of has 1 entries for 2"):
        estimate([Instruction("nop")] * 2, TPU, layer_of=["x"])


def test_table_slots_come_from_the_target():
    """The table-slot fields are bounded by the target's activation.table_slots."""
    program = [Instruction("load_table", slot=9), Instruction("add", rows=4, table=9),
               Instruction("halt")]
    with pytest.raises(QccError, match=r"instruction 0 \(load_table\): table slot 9 is "
                                       r"outside the target's 8 \(activation.table_slots"):
        estimate(program, TPU)
    wide = TPU.updated({"name": "wide", "activation.table_slots": 16})
    assert estimate(program, wide).cycles == estimate(
        [Instruction("load_table", slot=1), Instruction("add", rows=4, table=1),
         Instruction("halt")], TPU).cycles


def test_every_instruction_has_a_timing_handler():
    """Dispatch follows the ISA table: every entry has a handler, chosen by its unit
    unless the instruction needs its own."""
    from qcc.backends.tpu_v1 import isa, timing

    assert set(timing._HANDLERS) == set(isa.ISA)
    assert timing._HANDLERS[isa.POOL] is timing._Model._pool
    assert set(timing._SLOT_FIELD) == {isa.ACTIVATE, isa.LOAD_TABLE, isa.ADD}


def test_compiled_program():
    """A lowered model times end to end, per ONNX layer, reading every weight tile
    and table record once (batch 4: one row chunk)."""
    module = qcc.import_onnx(models.mlp(seed=3), batch=4)
    rng = np.random.default_rng(0)
    qcc.quantize_model(module, calib_data=[
        {"input": rng.standard_normal((4, 1, 8, 8)).astype(np.float32)}])
    program = lower(module)
    r = estimate_program(program, TPU)
    assert r.batch == 4
    assert len(r.layers) >= 3 and "program" in r.layers
    assert sum(c.cycles for c in r.layers.values()) == pytest.approx(r.cycles)
    assert r.total.dram_bytes == len(program.weights)
    assert r.total.useful_macs < r.total.array_macs  # small layers use part of the array
    assert r.bound() == "weight memory"
    # without the lowering's annotations (a program read back from a binary)
    bare = dataclasses.replace(program, layer_of=[], useful_macs=[])
    r2 = estimate_program(bare, TPU)
    assert list(r2.layers) == ["program"] and r2.cycles == r.cycles
    assert r2.total.useful_macs == r2.total.array_macs


@pytest.mark.parametrize(("size", "kernel", "stride", "pad", "out", "reads"), [
    (8, 3, 2, 1, 4, 64),  # 3x3/2 windows overlap: each of the 64 pixels read once
    (8, 2, 2, 0, 4, 64),  # 2x2/2 windows tile the image
    (7, 7, 1, 0, 1, 49),  # a global pool reads its whole map for one pixel
    (8, 1, 2, 0, 4, 16),  # 1x1/2 skips pixels: only 16 are read
])
def test_pooling_in_the_activation_path_reads_each_input_pixel_once(
        size, kernel, stride, pad, out, reads):
    """The pool stage keeps a window's rows in a line buffer: its time is the input
    pixels its windows cover (or its output pixels, if more), not one cycle per tap."""
    geometry = Instruction("set_conv", in_h=size, in_w=size, out_h=out, out_w=out,
                           kernel_h=kernel, kernel_w=kernel, stride_h=stride,
                           stride_w=stride, dilation_h=1, dilation_w=1, pad_top=pad,
                           pad_left=pad)
    prog = [geometry, Instruction("pool", length=out * out, src=0, dst=1000)]
    r = estimate(prog, TPU)
    assert r.total.ub_read_bytes == reads * 256
    assert r.cycles == ISSUE + max(reads, out * out)  # after set_conv's issue
