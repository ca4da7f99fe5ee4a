"""The energy and power model: die and DRAM apart, the 28 nm per-event energies
(H14 scaled by SB17), and the static power and switching activity fitted to the
paper's busy power (40 W, J17a Table 2) and energy proportionality (88% of busy
power at 10% load on CNN0, J17a §6). docs/cost-model.md §4 gives the fit."""

from __future__ import annotations

import pytest

from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.target import load_target
from qcc.backends.tpu_v1.timing import DRAM_PARTS, estimate, power_at_load
from qcc.diagnostics import QccError

TPU = load_target("tpu-v1")


def gemm(k_tiles: int, n_tiles: int, rows: int) -> list[Instruction]:
    """[rows, 256 k_tiles] x [256 k_tiles, 256 n_tiles] in the lowering's pattern
    (test_timing.py's programs, rows <= 2048): per output tile, four read_weights
    ahead, a matmul per tile with the read_weights four ahead, an activate."""
    out = []
    for nb in range(n_tiles):
        acc = (nb % 2) * 2048  # accumulator halves alternate
        tile = [(nb * k_tiles + k) * 65536 for k in range(k_tiles)]
        out += [Instruction("read_weights", dram=t, count=1) for t in tile[:4]]
        for kb in range(k_tiles):
            out.append(Instruction("matmul", switch=1, accumulate=int(kb > 0),
                                   ub=kb * rows, acc=acc, length=rows))
            if kb + 4 < k_tiles:
                out.append(Instruction("read_weights", dram=tile[kb + 4], count=1))
        out.append(Instruction("activate", src=acc, ub=60000, rows=rows, table=0,
                               lanes=256))
    return out


@pytest.fixture(scope="module")
def busy():
    """A compute-bound CNN-like program: [2048 x 4096] x [4096 x 4096] at 99% of
    the array (docs/cost-model.md §5, test 3)."""
    return estimate(gemm(16, 16, 2048), TPU, batch=2048)


@pytest.fixture(scope="module")
def weight_bound():
    """The same GEMM at batch 8: weight-bandwidth bound, the array ~1% busy
    (LSTM-like: the paper's LSTMs are weight-bound)."""
    return estimate(gemm(16, 16, 8), TPU, batch=8)


def _sb17(a: float, b: float, c: float, v: float = 0.9) -> float:
    """SB17 Table 5: energy per operation ~ a V^2 + b V + c."""
    return a * v * v + b * v + c


def test_per_event_energies_are_h14_scaled_to_28nm():
    hp45 = _sb17(1.018, -0.3107, 0.1539)  # H14's node, at H14's 0.9 V
    hp32, hp20 = _sb17(0.8367, -0.4341, 0.1701), _sb17(0.373, -0.1582, 0.04104)
    n28 = hp32 + (28 - 32) / (20 - 32) * (hp20 - hp32)
    factor = n28 / hp45
    assert factor == pytest.approx(0.53, abs=0.005)
    e = TPU.energy
    assert e.mac_pj == pytest.approx((0.2 + 0.1) * factor, rel=0.01)  # 8b mult + 32b add
    assert e.ub_pj_per_byte == pytest.approx(100 / 8 * factor, rel=0.01)  # 1 MB SRAM
    assert e.acc_pj_per_access == pytest.approx(15 / 2 * factor, rel=0.01)  # 16 KB SRAM
    assert e.dram_pj_per_bit == 30  # off-chip: not scaled with the logic


def test_die_and_dram_add_up_to_the_total(busy, weight_bound):
    for r in (busy, weight_bound):
        parts = r.energy()
        assert r.die_energy_j() + r.dram_energy_j() == pytest.approx(r.energy_j())
        assert r.dram_energy_j() == parts["weight_memory"] > 0
        assert r.die_energy_j() == pytest.approx(sum(
            v for k, v in parts.items() if k not in DRAM_PARTS))
        assert r.die_power_w + r.dram_power_w == pytest.approx(r.average_power_w)
        assert r.die_power_w == pytest.approx(r.die_energy_j() / r.latency_s)
        assert r.inferences_per_s_per_w == pytest.approx(r.batch / r.energy_j())
        assert r.die_inferences_per_s_per_w == pytest.approx(r.batch / r.die_energy_j())
        assert r.die_inferences_per_s_per_w > r.inferences_per_s_per_w
    # per layer too
    layer = next(iter(busy.layers.values()))
    assert busy.die_energy_j(layer) + busy.dram_energy_j(layer) == \
        pytest.approx(busy.energy_j(layer))


def test_busy_compute_bound_program_draws_the_papers_40_w(busy):
    """J17a Table 2: 40 W busy die power. Tolerance 1 W: the fit is to this program,
    and a timing change of a few percent moves its power by less than that."""
    assert busy.utilization() > 0.95
    assert busy.die_power_w == pytest.approx(TPU.power.busy_w, abs=1.0)
    # events: 5.3 W of the 40 (the fit's E); the DDR3 adds ~5.3 W off the die
    assert busy.die_power_w - TPU.energy.static_w == pytest.approx(5.33, abs=0.3)
    assert 5 < busy.dram_power_w < 6
    assert busy.average_power_w < TPU.power.tdp_w


def test_power_at_ten_percent_load_is_88_percent_of_busy(busy):
    """J17a §6: at 10% load the TPU draws 88% of its 100%-load power (CNN0)."""
    full = power_at_load(busy, 1.0)
    assert full == pytest.approx(busy.die_power_w)
    assert 0.85 <= power_at_load(busy, 0.1) / full <= 0.91
    assert power_at_load(busy, 0.0) == TPU.energy.static_w
    assert power_at_load(busy, 0.1) < power_at_load(busy, 0.5) < full
    # linear in the load
    assert power_at_load(busy, 0.5) == pytest.approx((power_at_load(busy, 0.0) + full) / 2)
    # with the weight memory: its power scales with the load (idle DRAM not modelled)
    assert power_at_load(busy, 0.5, dram=True) == pytest.approx(
        power_at_load(busy, 0.5) + 0.5 * busy.dram_power_w)


def test_weight_bound_program_is_even_less_proportional(weight_bound, busy):
    """J17a §6: LSTM1 draws 94% at 10% load (more than CNN0's 88%). The model's
    weight-bound die sits at its static power, so it gives ~100% (a residual:
    the on-die share of the DDR3 interface is charged to the DRAM here)."""
    ratio = power_at_load(weight_bound, 0.1) / power_at_load(weight_bound, 1.0)
    assert ratio > power_at_load(busy, 0.1) / power_at_load(busy, 1.0)
    assert ratio > 0.99
    # the DDR3 streams at ~34 GB/s x 8 bit x 30 pJ = 8.2 W
    assert weight_bound.dram_power_w == pytest.approx(34e9 * 8 * 30e-12, rel=0.02)


def test_switching_activity_scales_the_datapath_events_only(busy):
    full = estimate(gemm(16, 16, 2048), TPU.updated({"energy.switching_activity": 1}),
                    batch=2048)
    a = TPU.energy.switching_activity
    for part in ("mac", "unified_buffer", "accumulators"):
        assert busy.energy()[part] == pytest.approx(a * full.energy()[part])
    for part in ("weight_memory", "host_link", "static"):
        assert busy.energy()[part] == pytest.approx(full.energy()[part])


def test_faster_memory_costs_dram_power_not_die_power(busy):
    """GDDR5 (J17a §8: "+10 W"): the same compute-bound program draws the same die
    power and more DRAM power (it streams the same bytes in the same time at 14
    instead of 30 pJ/bit: less); a weight-bound one streams 5.4x faster."""
    gddr5 = load_target("tpu-v1-gddr5")
    r = estimate(gemm(16, 16, 2048), gddr5, batch=2048)
    assert r.die_power_w == pytest.approx(busy.die_power_w, rel=0.01)
    assert r.dram_power_w == pytest.approx(busy.dram_power_w * 14 / 30, rel=0.01)
    small = estimate(gemm(16, 16, 8), gddr5, batch=8)
    # ~183.6 GB/s (less the shift-bound share) x 8 x 14 pJ: ~+10 W over DDR3's 8.2
    assert 15 < small.dram_power_w < 20.6


def test_power_at_load_rejects_a_load_outside_0_to_1(busy):
    for load in (-0.1, 1.5, float("nan")):
        with pytest.raises(QccError, match=r"power_at_load: load .* must be a fraction "
                                           r"from 0 to 1"):
            power_at_load(busy, load)


def test_an_empty_program_draws_static_power():
    r = estimate([], TPU)
    assert r.latency_s == 0 and r.die_power_w == 0 and r.inferences_per_s_per_w == 0
    assert power_at_load(r, 0.5) == TPU.energy.static_w
