"""Timing and energy model of a TPU program on a target.

TPU programs are straight-line, so their timing is a function of the instruction
stream and the target: :func:`estimate` walks the stream once, in order, and keeps
for every unit of the machine the time it is next free. The rules (docs/cost-model.md
gives the reasons and the validation):

- **Issue.** Instructions issue in order; each occupies the issue stage for
  ``timing.issue_cycles``. An instruction whose unit cannot take it yet holds up
  the ones behind it. Each unit holds one instruction in execution and one waiting
  (the matrix unit: the one streaming rows and the one whose tile shifts into the
  shadow buffer), so an instruction is taken once its unit's previous one started.
- **Weights.** ``read_weights`` retires after issue; its tiles are fetched in order
  on the weight-memory channel at its bandwidth, each once the channel is free and
  the 4-deep weight FIFO has a free slot (a slot frees when its tile has shifted
  into the array). ``load_table`` records travel on the same channel.
- **Matrix unit.** A ``matmul`` of B rows streams for B cycles. With ``switch`` it
  first needs its tile to have arrived (waiting = *weight stall*) and shifted in,
  256 cycles that overlap the previous matmul's rows (double buffering); what is
  not hidden is *weight-shift stall*. Rows of consecutive matmuls follow back to
  back, so the fill/drain latency (``timing.fill_drain_cycles``) shows only where
  something waits for the results: once per run of matmuls.
- **Vector units.** ``activate``, ``pool`` and ``add`` run at their rows-per-cycle
  throughputs, each unit in order. Accumulator rows are interlocked: an activate
  waits until the matmuls that wrote its rows have drained, and a matmul (or a
  pool sum) does not overwrite rows an activate has not read yet. Unified Buffer
  dependences are not interlocked: the program orders them with ``sync``.
- **Syncs.** ``sync kind=0`` blocks issue until host transfers are done, ``sync
  kind=1`` until the matrix unit has drained and the activate, pool and add units
  are idle, ``sync kind=2`` until the activate, pool and add units are idle. The
  barrier's cost is what it adds: the blocked cycles (beyond the sync's own issue
  cycles) in which the array neither streams nor waits for weights: *host-transfer
  stall* (kind 0) and *RAW stall* (kinds 1 and 2), both part of the non-matrix
  cycles.
- **Host.** ``read_host``/``write_host`` are DMAs over the host link at its
  effective bandwidth. The link is full duplex: reads and writes run on two
  channels at once, each in order, overlapping everything until a sync.
- **Requantization.** On a target whose activation unit has one multiplier per
  lane (``requantization.multipliers = "per-lane"``, tpu-v1's assumption) an
  activate is one pass over its rows. On a ``"per-tensor"`` one, an activate whose
  written lanes need k distinct (multiplier, shift) pairs (read from the table
  record its slot holds, in the program's weight image) takes k passes: k x rows
  at the unit's throughput. The program is the same; only its time differs.

The ISA table (isa.py) drives the dispatch: each instruction goes to the model of
the unit the table says executes it (one handler per instruction, checked to cover
the table when the model is built), a vector unit's throughput is the target's
rate for that unit, a sync waits for the units the table lists for its kind, and
the table-slot fields (bounded by ``activation.table_slots``) order the
instructions that write a slot (``load_table``) and those that read it.

Counters partition time the way the TPU paper's Table 3 does: every cycle is
array-active, weight stall, weight-shift stall, or non-matrix (the array idle for
any other reason, exposed fill/drain included). Per-layer numbers follow
``layer_of``: array cycles belong to the matmul's layer, the other cycles to the
instruction that was the last to finish at that time.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.isa import SYNC_HOST, SYNC_WAITS, Instruction, Unit
from qcc.backends.tpu_v1.program import Program
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, decode_table
from qcc.backends.tpu_v1.target import PER_LANE, PER_TENSOR, Target
from qcc.diagnostics import QccError, escape_controls


@dataclass(frozen=True)
class Options:
    """Switches for validation against simpler models (all off: the real model)."""

    #: False: every instruction starts after all earlier ones have finished, so each
    #: tile shift and each fill/drain is paid in full (SCALE-Sim's closed form)
    overlap: bool = True
    #: weight tiles and table records arrive the moment they are asked for
    infinite_weight_bandwidth: bool = False
    #: host DMAs take no time
    infinite_host_bandwidth: bool = False
    #: the counterfactual behind :func:`rescale_seconds`: activates (every pass)
    #: take no time on the activation unit and table records arrive at once
    free_requantization: bool = False


@dataclass
class Counters:
    """What happened, for the whole program or one layer. Cycles are floats: a
    transfer at a bandwidth takes fractional cycles."""

    cycles: float = 0.0
    array_active_cycles: float = 0.0
    weight_stall_cycles: float = 0.0
    weight_shift_cycles: float = 0.0
    non_matrix_cycles: float = 0.0
    raw_stall_cycles: float = 0.0
    host_stall_cycles: float = 0.0
    host_compute_cycles: float = 0.0  # host segments (host_call): the TPU waits
    activate_rows: int = 0  # rows activates process, one pass each
    #: rows of the extra passes a per-tensor activation unit makes (0 per-lane)
    extra_rescale_rows: int = 0
    array_macs: int = 0  # rows x 256 x 256 per matmul
    useful_macs: int = 0  # the MACs that carry data (``useful_macs``), else array_macs
    dram_bytes: int = 0  # weight memory reads (tiles and table records)
    host_read_bytes: int = 0  # host -> Unified Buffer
    host_write_bytes: int = 0  # Unified Buffer -> host
    ub_read_bytes: int = 0  # whole 256-byte rows
    ub_write_bytes: int = 0
    acc_read_bytes: int = 0
    acc_write_bytes: int = 0
    instructions: int = 0

    def add(self, other: Counters) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class TimingReport:
    """The result of :func:`estimate`: counters in total and per layer, and the
    derived time, throughput and energy."""

    target: Target
    total: Counters
    layers: dict[str, Counters]
    batch: int = 1
    options: Options = field(default_factory=Options)
    #: the program timed (set by :func:`estimate_program`), for :meth:`rescale_s`
    program: Program | None = field(default=None, repr=False, compare=False)

    # ---- derived, for the total (default) or any Counters
    def seconds(self, c: Counters | None = None) -> float:
        return (c or self.total).cycles * self.target.cycle_s

    def tops(self, c: Counters | None = None) -> float:
        """Achieved tera-ops per second: 2 x useful MACs / time."""
        c = c or self.total
        s = self.seconds(c)
        return 2 * c.useful_macs / s / 1e12 if s else 0.0

    def utilization(self, c: Counters | None = None) -> float:
        """Useful MACs over the MACs the array could have done in the time."""
        c = c or self.total
        return c.useful_macs / (c.cycles * self.target.macs_per_cycle) if c.cycles else 0.0

    def energy(self, c: Counters | None = None) -> dict[str, float]:
        """Joules by component: events x their energy, plus static power x time.
        ``weight_memory`` is the off-chip DRAM (:meth:`dram_energy_j`); the other
        parts are the die's (:meth:`die_energy_j`), the host link's PHY included."""
        c = c or self.total
        e = self.target.energy
        activity = e.switching_activity  # of the on-die datapath events
        pj = {"mac": c.array_macs * e.mac_pj * activity,
              "unified_buffer": (c.ub_read_bytes + c.ub_write_bytes) * e.ub_pj_per_byte
              * activity,
              "accumulators": (c.acc_read_bytes + c.acc_write_bytes)
              / self.target.accumulators.bytes_per_lane * e.acc_pj_per_access * activity,
              "weight_memory": c.dram_bytes * 8 * e.dram_pj_per_bit,
              "host_link": (c.host_read_bytes + c.host_write_bytes) * 8 * e.host_pj_per_bit}
        out = {k: v * 1e-12 for k, v in pj.items()}
        out["static"] = e.static_w * self.seconds(c)
        return out

    def energy_j(self, c: Counters | None = None) -> float:
        """Die + DRAM: everything :meth:`energy` charges."""
        return sum(self.energy(c).values())

    def die_energy_j(self, c: Counters | None = None) -> float:
        """The die's energy: MACs, Unified Buffer, accumulators, the host link's PHY
        and static power (what J17a's die power figures compare with)."""
        return sum(v for k, v in self.energy(c).items() if k not in DRAM_PARTS)

    def dram_energy_j(self, c: Counters | None = None) -> float:
        """The off-chip weight memory's energy (DRAM device and interface)."""
        return sum(v for k, v in self.energy(c).items() if k in DRAM_PARTS)

    def bound(self, c: Counters | None = None) -> str:
        """What most of the time went to."""
        c = c or self.total
        if not c.cycles:
            return "-"
        host = min(c.host_compute_cycles, c.non_matrix_cycles)  # host segments: off-array
        parts = {"compute": c.array_active_cycles, "weight memory": c.weight_stall_cycles,
                 "weight shift": c.weight_shift_cycles,
                 "non-matrix": c.non_matrix_cycles - host, "host CPU": host}
        return max(parts, key=parts.__getitem__)

    # ---- totals
    @property
    def cycles(self) -> float:
        return self.total.cycles

    @property
    def latency_s(self) -> float:
        return self.seconds()

    def split_s(self, c: Counters | None = None) -> dict[str, float]:
        """The latency in three parts that add up to it: ``host`` (host segments
        computing; the TPU waits), ``pcie`` (the TPU blocked on host transfers at a
        host sync) and ``tpu`` (the rest: the TPU's own work and waits)."""
        c = c or self.total
        host = c.host_compute_cycles * self.target.cycle_s
        pcie = c.host_stall_cycles * self.target.cycle_s
        return {"tpu": max(self.seconds(c) - host - pcie, 0.0), "host": host, "pcie": pcie}

    def device_cycles(self, c: Counters | None = None) -> float:
        """The matrix program's cycles as the TPU paper counts them: the latency less
        the cycles in which the TPU waits for PCIe (host-transfer stall) or for a
        host segment (host compute)."""
        c = c or self.total
        return max(c.cycles - c.host_stall_cycles - c.host_compute_cycles, 0.0)

    def device_seconds(self, c: Counters | None = None) -> float:
        """:meth:`device_cycles` in seconds (the paper's time: host time excluded)."""
        return self.device_cycles(c) * self.target.cycle_s

    def device_tops(self, c: Counters | None = None) -> float:
        """Tera-ops per second as the TPU paper defines them: 2 x useful MACs over
        :meth:`device_seconds` (host transfers and host segments excluded)."""
        c = c or self.total
        s = self.device_seconds(c)
        return 2 * c.useful_macs / s / 1e12 if s else 0.0

    def rescale_s(self) -> float | None:
        """The rescale share of the latency (:func:`rescale_seconds`: saved if
        requantization were free), from timing the program again; None for a report
        of a bare instruction list."""
        if self.program is None:
            return None
        free = estimate_program(self.program, self.target, self.batch,
                                dataclasses.replace(self.options,
                                                    free_requantization=True))
        return max(self.latency_s - free.latency_s, 0.0)

    @property
    def average_power_w(self) -> float:
        """Die + DRAM power over the run (:attr:`die_power_w` + :attr:`dram_power_w`)."""
        return self.energy_j() / self.latency_s if self.latency_s else 0.0

    @property
    def die_power_w(self) -> float:
        """The die's average power over the run (J17a: 40 W busy, Table 2)."""
        return self.die_energy_j() / self.latency_s if self.latency_s else 0.0

    @property
    def dram_power_w(self) -> float:
        """The off-chip weight memory's average power over the run."""
        return self.dram_energy_j() / self.latency_s if self.latency_s else 0.0

    @property
    def inferences_per_s(self) -> float:
        return self.batch / self.latency_s if self.latency_s else 0.0

    @property
    def inferences_per_s_per_w(self) -> float:
        """The headline perf/W: batch / (die + DRAM energy), inferences per joule.
        The weight memory is counted because it is the accelerator's: a faster
        memory (tpu-v1-gddr5) costs power the comparison must see (J17a §8)."""
        e = self.energy_j()
        return self.batch / e if e else 0.0

    @property
    def die_inferences_per_s_per_w(self) -> float:
        """batch / die energy: perf/W against the die power alone (J17a's 40 W)."""
        e = self.die_energy_j()
        return self.batch / e if e else 0.0

    def paper_counters(self, c: Counters | None = None) -> dict[str, float]:
        """The TPU paper's Table 3 (J17a) for the total (default) or one layer, keyed
        as :data:`PAPER_COUNTERS`: percent of the cycles (array active, weight stall,
        weight shift and non-matrix add up to 100; RAW and input stalls are parts of
        non-matrix), useful and unused MACs in percent of the peak MACs of those
        cycles (they add up to array active), and TOPS."""
        c = c or self.total
        peak = c.cycles * self.target.macs_per_cycle

        def pct(x: float) -> float:
            return 100 * x / c.cycles if c.cycles else 0.0

        return {"array_active": pct(c.array_active_cycles),
                "useful_macs": 100 * c.useful_macs / peak if peak else 0.0,
                "unused_macs": 100 * (c.array_macs - c.useful_macs) / peak if peak else 0.0,
                "weight_stall": pct(c.weight_stall_cycles),
                "weight_shift": pct(c.weight_shift_cycles),
                "non_matrix": pct(c.non_matrix_cycles),
                "raw_stall": pct(c.raw_stall_cycles),
                "input_stall": pct(c.host_stall_cycles),
                "tops": self.tops(c),  # end to end, host transfers included
                # the matrix program's: host waits excluded, as the paper's Table 3
                "matrix_tops": self.device_tops(c)}

    def format(self) -> str:
        """A per-layer table of the TPU paper's counters (Table 3) and the totals."""
        cols = "".join(f"{h:>7}" for _, h, _ in PAPER_COUNTERS)
        head = f"{'layer':<16} {'cycles':>10}{cols}  bound"
        lines = [f"target {self.target.name}, batch {self.batch}", head]
        for name, c in [*self.layers.items(), ("total", self.total)]:
            name = escape_controls(name)  # a layer name comes from the model
            p = self.paper_counters(c)
            figures = "".join(f"{p[k]:>7.2f}" if k.endswith("tops") else f"{p[k]:>7.1f}"
                              for k, _, _ in PAPER_COUNTERS)
            lines.append(f"{name[:16]:<16} {c.cycles:>10.0f}{figures}  {self.bound(c)}")
        lines += PAPER_LEGEND
        lines.append(f"latency {self.latency_s * 1e6:.2f} us, {self.tops():.2f} TOPS, "
                     f"{self.energy_j() * 1e6:.2f} uJ, {self.average_power_w:.1f} W, "
                     f"{self.inferences_per_s_per_w:.1f} inferences/s/W")
        lines.append(f"power: die {self.die_power_w:.1f} W + DRAM {self.dram_power_w:.1f} W "
                     f"(inferences/s/W on die power alone "
                     f"{self.die_inferences_per_s_per_w:.1f})")
        lines.append(f"matrix program {self.device_seconds() * 1e6:.2f} us, "
                     f"{self.device_tops():.2f} TOPS (the paper's: without waits for "
                     f"PCIe or the host CPU)")
        rescale = self.rescale_s()
        if rescale is not None:
            lines.append(f"rescale share of latency {rescale * 1e6:.2f} us (saved if "
                         "requantization were free)")
        lines.append(requantization_line(self.target, self.total))
        if self.total.host_compute_cycles:
            split = self.split_s()
            lines.append(f"of which {split['tpu'] * 1e6:.2f} us on the TPU, "
                         f"{split['host'] * 1e6:.2f} us on the host CPU (host segments), "
                         f"{split['pcie'] * 1e6:.2f} us waiting for PCIe")
        return "\n".join(lines)


#: the TPU paper's Table 3 counters (:meth:`TimingReport.paper_counters`): key, the
#: short header of ``qcc run --stats`` and the compile report, what it is
PAPER_COUNTERS = (
    ("array_active", "active", "array active cycles, % of cycles"),
    ("useful_macs", "useful", "useful MACs, % of the peak MACs in the cycles"),
    ("unused_macs", "unused", "unused MACs (array MACs - useful), % of peak"),
    ("weight_stall", "wstall", "weight stall cycles, %"),
    ("weight_shift", "shift", "weight shift cycles, %"),
    ("non_matrix", "nonmx", "non-matrix cycles, %"),
    ("raw_stall", "raw", "RAW stalls (sync kind=1), % of cycles, part of non-matrix"),
    ("input_stall", "input", "input (host-transfer) stalls (sync kind=0), %, part of "
                             "non-matrix"),
    ("tops", "TOPS", "tera-ops per second: 2 x useful MACs / time"),
    ("matrix_tops", "mTOPS", "the same over the matrix program's time: without the "
                             "cycles the TPU waits for PCIe or the host CPU (the paper's)"),
)
#: the legend under the table (each line under 100 columns)
PAPER_LEGEND = [
    "% of each row's cycles (the TPU paper's Table 3): active + wstall + shift + nonmx = 100;",
    "useful + unused = active (MACs, % of the peak in those cycles); raw = RAW stalls and",
    "input = host-transfer stalls, parts of nonmx (in total); TOPS includes host transfers,",
    "mTOPS does not (the matrix program's time, the paper's TOPS);",
    "bound: the largest of active, wstall, shift, nonmx (host CPU: host segments)",
]


#: the parts of :meth:`TimingReport.energy` that are off the die
DRAM_PARTS = frozenset({"weight_memory"})


def power_at_load(report: TimingReport, load: float, *, dram: bool = False) -> float:
    """Average die power (watts) when the report's program runs back to back a
    fraction ``load`` of the time and the chip waits, powered and clocked, the rest:
    ``load x die power + (1 - load) x energy.static_w`` (docs/cost-model.md §4; the
    TPU v1 has no power states between requests, so waiting costs its static power).
    With ``dram``, the weight memory's power at that load is added (its idle
    draw, refresh and standby, is not modelled)."""
    if not 0 <= load <= 1:
        raise QccError(f"power_at_load: load {load!r} must be a fraction from 0 to 1")
    busy = report.die_power_w if report.latency_s else report.target.energy.static_w
    watts = load * busy + (1 - load) * report.target.energy.static_w
    return watts + load * report.dram_power_w if dram else watts


def requantization_line(target: Target, total: Counters | None = None) -> str:
    """One line saying how the target requantizes: per-lane multipliers are an
    assumption (the TPU v1 paper does not say); per-tensor ones cost extra passes."""
    if target.requantization.multipliers == PER_LANE:
        return "assumption: per-lane requantization multipliers (not published for TPU v1)"
    extra = "" if total is None else \
        f": {total.extra_rescale_rows} extra activate rows here"
    return ("requantization: per-tensor multipliers (one per pass): an activate whose "
            f"lanes need k multipliers takes k passes{extra}")


def estimate(instructions: Sequence[Instruction], target: Target,
             layer_of: Sequence[str] | None = None,
             useful_macs: Sequence[int] | None = None, batch: int = 1,
             options: Options | None = None, weights: bytes | None = None
             ) -> TimingReport:
    """Time ``instructions`` on ``target``.

    ``layer_of[i]`` names the layer of instruction i (default: one layer,
    "program"); ``useful_macs[i]`` the MACs of matmul i that carry data (default:
    rows x array size); ``batch`` the inferences the program computes, for
    inferences per second per watt. ``weights`` is the program's weight-memory
    image: a target with per-tensor requantization reads the table records in it
    to count an activate's passes (it is required there and unused elsewhere).
    """
    n = len(instructions)
    for what, seq in (("layer_of", layer_of), ("useful_macs", useful_macs)):
        if seq is not None and len(seq) != n:
            raise QccError(f"{what} has {len(seq)} entries for {n} instructions")
    if batch < 1:
        raise QccError(f"batch must be positive, got {batch}")
    model = _Model(target, options or Options(), weights)
    for i, ins in enumerate(instructions):
        layer = layer_of[i] if layer_of is not None else "program"
        macs = useful_macs[i] if useful_macs is not None else None
        try:
            done = model.step(ins, layer, macs)
        except QccError as e:
            raise QccError(f"instruction {i} ({ins.op}): {e.message}") from None
        if done:
            break
    return model.report(batch)


def estimate_program(program: Program, target: Target, batch: int | None = None,
                     options: Options | None = None) -> TimingReport:
    """:func:`estimate` for a compiled :class:`~qcc.backends.tpu_v1.program.Program`,
    with the layer names and useful MACs the lowering recorded (a program without
    them, e.g. one read back from a binary, counts one layer and all array MACs)
    and the batch of its first input."""
    if batch is None:
        batch = program.inputs[0].shape[0] if program.inputs else 1
    report = estimate(program.instructions, target, program.layer_of or None,
                      program.useful_macs or None, batch, options, program.weights)
    report.program = program
    return report


class _Model:
    """The machine's state while walking the stream: times are in cycles."""

    def __init__(self, target: Target, options: Options, weights: bytes | None = None):
        self.t = target
        self.opt = options
        self.passes = RequantPasses(weights) if \
            target.requantization.multipliers == PER_TENSOR else None
        self.table_at: dict[int, int] = {}  # slot -> the record's weight-memory address
        a = target.array
        self.issue = target.timing.issue_cycles
        self.tile_cycles = 0.0 if options.infinite_weight_bandwidth else \
            target.tile_fetch_cycles
        self.record_cycles = 0.0 if options.infinite_weight_bandwidth or \
            options.free_requantization else RECORD_BYTES / target.weight_bytes_per_cycle
        self.host_bpc = float("inf") if options.infinite_host_bandwidth else \
            target.host_bytes_per_cycle
        self.row = target.unified_buffer.row_bytes
        self.acc_row = target.accumulators.row_bytes
        self.macs_per_row = a.rows * a.cols
        self.fe = 0.0  # the issue stage is next free
        self.frontier = 0.0  # everything issued so far has finished by then
        # weights
        self.dram_free = 0.0
        self.arrivals: list[float] = []  # tile j is in the FIFO at arrivals[j]
        self.slot_free: list[float] = []  # tile j's FIFO slot frees at slot_free[j]
        self.tile_loaded = False
        self.shadow_free = 0.0  # the shadow buffer takes the next tile from then
        # matrix unit
        self.mm_start = 0.0  # the last matmul started streaming
        self.mm_stream_end = 0.0  # ... and its last row entered the array
        self.matrix_done = 0.0  # the last results have drained into the accumulators
        # vector units: (last start, free), and their throughputs
        self.units = {Unit.ACTIVATION: [0.0, 0.0], Unit.POOL: [0.0, 0.0],
                      Unit.ADDER: [0.0, 0.0]}
        self.rate = {Unit.ACTIVATION: target.timing.activate_rows_per_cycle,
                     Unit.POOL: target.timing.pool_rows_per_cycle,
                     Unit.ADDER: target.timing.add_rows_per_cycle}
        # the host link is full duplex: reads (host -> UB) and writes (UB -> host) run
        # on two DMA channels at once, each in order at the link's bandwidth
        self.host_read_free = 0.0
        self.host_write_free = 0.0
        rows = target.accumulators.rows
        self.acc_ready = np.zeros(rows)  # row written (drained) at
        self.acc_read = np.zeros(rows)  # row read by its last reader at
        self._ramp_cache = np.arange(256, dtype=float)
        self._pool_cache: dict[tuple, int] = {}
        self.table_slots = target.activation.table_slots
        self.table_ready: dict[int, float] = {}  # slot loaded at
        self.table_used: dict[int, float] = {}  # slot read by its last reader at
        self.conv: Instruction | None = None
        # accounting
        self.counters: dict[str, Counters] = {}
        self.segments: list[tuple[float, float, str]] = []  # frontier advances
        self.stalls: list[tuple[float, float, bool]] = []  # sync blocks (host sync?)
        self.array_iv: list[tuple[float, float]] = []  # array busy or stalled on weights

    # ------------------------------------------------------------------ helpers
    def dispatch(self, accept: float = 0.0) -> float:
        """Issue the next instruction once its unit can take it; return the time."""
        d = max(self.fe, accept)
        if not self.opt.overlap:
            d = max(d, self.frontier)
        self.fe = d + self.issue
        return d

    def complete(self, layer: str, t: float) -> None:
        new = max(self.frontier, t, self.fe)
        if new > self.frontier:
            self.segments.append((self.frontier, new, layer))
            self.frontier = new

    def acc_rows(self, start: int, count: int) -> slice:
        if start + count > len(self.acc_ready):
            raise QccError(f"accumulator rows [{start}, {start + count}) are outside "
                           f"[0, {len(self.acc_ready)})")
        return slice(start, start + count)

    def array_cycles_in(self, t0: float, t1: float) -> float:
        """Cycles of [t0, t1) in which the array streams or waits for weights (the
        intervals recorded so far; later matmuls cannot start before t1)."""
        total = 0.0
        for s, e in reversed(self.array_iv):
            if e <= t0:
                break
            total += max(0.0, min(e, t1) - max(s, t0))
        return total

    def _max(self, a: np.ndarray, rows: slice) -> float:
        return float(a[rows].max()) if rows.stop > rows.start else 0.0

    def vector_unit(self, ins: Instruction, deps: float, rows: float) -> tuple[float, float]:
        """Run ``rows`` on the vector unit that executes ``ins``, in order on it."""
        unit = ins.defn.unit
        last_start, free = self.units[unit]
        d = self.dispatch(last_start)
        start = max(d, free, deps)
        end = start + rows / self.rate[unit]
        self.units[unit] = [start, end]
        return start, end

    @property
    def host_free(self) -> float:
        """Both host DMA channels have finished everything issued to them."""
        return max(self.host_read_free, self.host_write_free)

    def busy_until(self, unit: Unit) -> float:
        """When ``unit`` has finished everything issued to it so far."""
        if unit is Unit.HOST:
            return self.host_free
        if unit is Unit.MXU:
            return self.matrix_done
        return self.units[unit][1]

    def table_slot(self, ins: Instruction) -> int:
        """The table slot ``ins`` reads or writes (its field bounded by the target's
        ``activation.table_slots``)."""
        slot = ins.args[_SLOT_FIELD[ins.defn]]
        if slot >= self.table_slots:
            raise QccError(f"table slot {slot} is outside the target's "
                           f"{self.table_slots} (activation.table_slots)")
        return slot

    # ------------------------------------------------------------------ one step
    def step(self, ins: Instruction, layer: str, useful: int | None) -> bool:
        """Time one instruction; True at the end of the program (``halt``)."""
        c = self.counters.setdefault(layer, Counters())
        c.instructions += 1
        _HANDLERS[ins.defn](self, ins, layer, c, useful)
        return ins.defn is isa.HALT

    def _control(self, ins: Instruction, layer: str, c: Counters, useful: int | None
                 ) -> None:
        """nop, halt, set_conv: the issue slot only."""
        self.dispatch()
        if ins.defn is isa.SET_CONV:
            self.conv = ins
        self.complete(layer, self.fe)

    def _load_table(self, ins: Instruction, layer: str, c: Counters, useful: int | None
                    ) -> None:
        slot = self.table_slot(ins)
        self.table_at[slot] = ins.dram
        d = self.dispatch()
        start = max(d, self.dram_free)
        self.dram_free = start + self.record_cycles
        ready = max(self.dram_free, self.table_used.get(slot, 0.0))
        self.table_ready[slot] = ready
        c.dram_bytes += RECORD_BYTES
        self.complete(layer, ready)

    def _add(self, ins: Instruction, layer: str, c: Counters, useful: int | None) -> None:
        slot = self.table_slot(ins)
        deps = self.table_ready.get(slot, 0.0)
        _, end = self.vector_unit(ins, deps, ins.rows)
        self.table_used[slot] = max(self.table_used.get(slot, 0.0), end)
        c.ub_read_bytes += 2 * ins.rows * self.row
        c.ub_write_bytes += ins.rows * self.row
        self.complete(layer, end)

    def _sync(self, ins: Instruction, layer: str, c: Counters, useful: int | None) -> None:
        self.dispatch()
        units = SYNC_WAITS.get(ins.kind)
        if units is None:
            raise QccError(f"unknown sync kind {ins.kind} (0: host, 1: units, "
                           "2: vector units)")
        wait = max(self.busy_until(u) for u in units)
        if wait > self.fe:
            # the barrier's cost: blocked cycles in which the array is not busy anyway,
            # counted in report() in the layers those non-matrix cycles belong to
            self.stalls.append((self.fe, wait, ins.kind == SYNC_HOST))
            self.fe = wait
        self.complete(layer, self.fe)

    def _host(self, ins: Instruction, layer: str, c: Counters, useful: int | None) -> None:
        d = self.dispatch()
        nbytes = ins.rows * ins.row_bytes
        if ins.defn is isa.READ_HOST:  # the read channel
            self.host_read_free = end = max(d, self.host_read_free) + nbytes / self.host_bpc
            c.host_read_bytes += nbytes
            c.ub_write_bytes += ins.rows * self.row  # whole rows: the rest is zeroed
        else:  # the write channel
            self.host_write_free = end = max(d, self.host_write_free) + \
                nbytes / self.host_bpc
            c.host_write_bytes += nbytes
            c.ub_read_bytes += ins.rows * self.row
        self.complete(layer, end)

    def _host_call(self, ins: Instruction, layer: str, c: Counters, useful: int | None
                   ) -> None:
        """A host segment: issue stops until the host has run it (after the transfers
        before it, which the program waits for with a host sync)."""
        d = self.dispatch()
        h = self.t.host
        seconds = h.call_overhead_s + ins.elements / h.elements_per_s + \
            ins.products / h.macs_per_s
        start = max(d, self.host_free)
        end = start + seconds * self.t.array.clock_hz
        c.host_compute_cycles += end - start
        self.host_read_free = max(self.host_read_free, end)
        self.host_write_free = max(self.host_write_free, end)
        self.fe = max(self.fe, end)
        self.complete(layer, end)

    def _read_weights(self, ins: Instruction, layer: str, c: Counters, useful: int | None
                      ) -> None:
        d = self.dispatch()
        depth = self.t.weights.fifo_depth
        last = d
        for _ in range(ins.count):
            j = len(self.arrivals)
            if j - len(self.slot_free) >= depth:
                raise QccError(f"a weight tile would be the {j - len(self.slot_free) + 1}th "
                               f"in a {depth}-deep weight FIFO")
            room = self.slot_free[j - depth] if j >= depth else 0.0
            start = max(d, self.dram_free, room)
            self.dram_free = last = start + self.tile_cycles
            self.arrivals.append(last)
            c.dram_bytes += self.t.weights.tile_bytes
        self.complete(layer, last)

    def _matmul(self, ins: Instruction, layer: str, c: Counters, useful: int | None) -> None:
        d = self.dispatch(self.mm_start)
        b = ins.length
        rows = self.acc_rows(ins.acc, b)
        # the previous matmul's rows go first; row i enters the array at start + i and
        # must not overwrite an accumulator row an activate has not read yet
        want = max(d, self.mm_stream_end, self._war(rows))
        start = want
        if ins.switch:
            j = len(self.slot_free)
            if j >= len(self.arrivals):
                raise QccError("switch needs a weight tile, but no read_weights queued one")
            arrival = self.arrivals[j]
            # the weight FIFO shifts its head tile into the shadow buffer once the tile
            # has arrived and the buffer is free (the previous tile switched in), not
            # when the matmul issues: a layer's first tile shifts in ahead of its sync
            shift_from = max(arrival, self.shadow_free) if self.opt.overlap else \
                max(d, arrival)
            shift_end = shift_from + self.t.weights.shift_cycles
            self.slot_free.append(shift_end)
            self.tile_loaded = True
            start = max(want, shift_end)
            self.shadow_free = start
            stall = max(0.0, min(arrival, start) - want)
            c.weight_stall_cycles += stall
            c.weight_shift_cycles += start - want - stall
        elif not self.tile_loaded:
            raise QccError("no weight tile in the matrix unit")
        stream_end = start + b
        fill_drain = self.t.timing.fill_drain_cycles
        end = stream_end + fill_drain
        if stream_end > want:
            self.array_iv.append((want, stream_end))
        self.mm_start, self.mm_stream_end = start, stream_end
        self.matrix_done = max(self.matrix_done, end)
        # row i has drained into the accumulators fill_drain cycles after it entered
        np.maximum(self.acc_ready[rows], start + fill_drain + 1 + self._ramp(b),
                   out=self.acc_ready[rows])
        c.array_active_cycles += b
        c.array_macs += b * self.macs_per_row
        c.useful_macs += b * self.macs_per_row if useful is None else useful
        c.ub_read_bytes += b * self._taps_per_row(ins) * self.row
        c.acc_write_bytes += b * self.acc_row
        if ins.accumulate:
            c.acc_read_bytes += b * self.acc_row
        self.complete(layer, end)

    def _ramp(self, n: int) -> np.ndarray:
        """0, 1, ..., n - 1 (cached: row offsets within an instruction)."""
        if len(self._ramp_cache) < n:
            self._ramp_cache = np.arange(max(n, 2 * len(self._ramp_cache)), dtype=float)
        return self._ramp_cache[:n]

    def _war(self, rows: slice) -> float:
        """The earliest start of a matmul writing ``rows``: its row i enters the array
        at start + i, after the last read of accumulator row i."""
        n = rows.stop - rows.start
        if not n:
            return 0.0
        return float((self.acc_read[rows] - self._ramp(n)).max())

    def _taps_per_row(self, ins: Instruction) -> int:
        """UB rows read to build one input row (packed convolution taps)."""
        if not ins.conv:
            return 1
        if self.conv is None:
            raise QccError("no set_conv before a convolution")
        k = self.conv.kernel_h * self.conv.kernel_w
        return max(1, min(self.conv.taps_per_row, k - ins.tap))

    def _activate(self, ins: Instruction, layer: str, c: Counters, useful: int | None
                  ) -> None:
        slot = self.table_slot(ins)
        deps = self.table_ready.get(slot, 0.0)
        rows = self.acc_rows(ins.src, ins.rows) if not ins.src_ub else None
        passes = 1
        if self.passes is not None:
            if slot not in self.table_at:
                raise QccError(f"table slot {slot} is read before any load_table fills it")
            passes = self.passes.count(self.table_at[slot], ins.lanes)
        if rows is None:
            work = 0 if self.opt.free_requantization else passes * ins.rows
            _, end = self.vector_unit(ins, deps, work)
        else:
            end, read_at = self._activate_behind_drain(ins, deps, rows, passes)
            np.maximum(self.acc_read[rows], read_at, out=self.acc_read[rows])
        self.table_used[slot] = max(self.table_used.get(slot, 0.0), end)
        c.activate_rows += ins.rows
        c.extra_rescale_rows += (passes - 1) * ins.rows
        # each pass reads the source rows; the passes write each lane once
        if rows is None:
            c.ub_read_bytes += passes * ins.rows * self.row
        else:
            c.acc_read_bytes += passes * ins.rows * self.acc_row
        c.ub_write_bytes += ins.rows * self.row
        self.complete(layer, end)

    def _activate_behind_drain(self, ins: Instruction, deps: float, rows: slice,
                               passes: int) -> tuple[float, np.ndarray | float]:
        """An activate reading accumulator rows streams behind the array's drain: row
        k is processed once it has drained (``acc_ready``) and row k - 1 is done, at
        the unit's throughput. With several passes (per-tensor requantization) the
        first pass streams behind the drain and the others follow over all rows.
        Returns the end and when each row was last read."""
        unit = ins.defn.unit
        last_start, free = self.units[unit]
        d = self.dispatch(last_start)
        start = max(d, free, deps)
        n = ins.rows
        per = 0.0 if self.opt.free_requantization else 1.0 / self.rate[unit]
        ready = self.acc_ready[rows]
        if not self.opt.overlap:  # the closed forms' model: after the whole drain
            start = max(start, float(ready.max()) if n else 0.0)
        offset = self._ramp(n) * per
        # row k starts at k x per + max(start, max over j <= k of ready_j - j x per)
        begin = offset + np.maximum(start, np.maximum.accumulate(ready - offset))
        first = float(begin[-1]) + per if n else start
        end = first + (passes - 1) * n * per
        self.units[unit] = [start, end]
        return end, (begin + per if passes == 1 else end)

    def _pool(self, ins: Instruction, layer: str, c: Counters, useful: int | None) -> None:
        if self.conv is None:
            raise QccError("no set_conv before pool")
        deps, rows = 0.0, None
        if ins.sum:
            rows = self.acc_rows(ins.dst, ins.length)
            deps = self._max(self.acc_read, rows)
        reads = self._pool_reads(ins)
        _, end = self.vector_unit(ins, deps, max(reads, ins.length))
        c.ub_read_bytes += reads * self.row
        if rows is None:
            c.ub_write_bytes += ins.length * self.row
        else:
            np.maximum(self.acc_ready[rows], end, out=self.acc_ready[rows])
            c.acc_write_bytes += ins.length * self.acc_row
        self.complete(layer, end)

    def _pool_reads(self, ins: Instruction) -> int:
        """Input pixels the windows of a pool's output pixels cover. The pooling
        hardware sits in the activation path (J17a §2) and keeps the rows a window
        spans in a line buffer, so each input pixel is read once, not once per window
        tap: a 3x3 stride-2 max pool reads about one input row per cycle for four
        output pixels instead of 9 taps for each. Padding is not read. A nearest
        upsample (up_h/up_w) reads one pixel per output pixel."""
        g = self.conv
        if g.up_h or g.up_w:
            return ins.length
        key = (g.in_h, g.in_w, g.out_h, g.out_w, g.kernel_h, g.kernel_w, g.stride_h,
               g.stride_w, g.dilation_h, g.dilation_w, g.pad_top, g.pad_left,
               g.first_pixel, ins.length)
        if key not in self._pool_cache:
            q = np.arange(g.first_pixel, g.first_pixel + ins.length)
            img, rest = np.divmod(q, g.out_h * g.out_w)
            oy, ox = np.divmod(rest, g.out_w)
            iy = (oy * g.stride_h - g.pad_top)[:, None] + np.arange(g.kernel_h) * g.dilation_h
            ix = (ox * g.stride_w - g.pad_left)[:, None] + np.arange(g.kernel_w) * \
                g.dilation_w
            pix = (img[:, None, None] * g.in_h + iy[:, :, None]) * g.in_w + ix[:, None, :]
            valid = ((iy >= 0) & (iy < g.in_h))[:, :, None] & \
                ((ix >= 0) & (ix < g.in_w))[:, None, :]
            self._pool_cache[key] = len(np.unique(pix[valid]))
        return self._pool_cache[key]

    # ------------------------------------------------------------------ the end
    def report(self, batch: int) -> TimingReport:
        """Attribute the non-matrix cycles (frontier advances not covered by array
        intervals) to layers; sum the total."""
        starts = [s for s, _ in self.array_iv]
        cum = [0.0]
        for s, e in self.array_iv:
            cum.append(cum[-1] + e - s)

        def covered(t: float) -> float:  # array cycles in [0, t)
            k = bisect.bisect_right(starts, t) - 1
            if k < 0:
                return 0.0
            s, e = self.array_iv[k]
            return cum[k] + min(t, e) - s

        for s, e, layer in self.segments:
            self.counters[layer].non_matrix_cycles += (e - s) - (covered(e) - covered(s))
        # a sync's blocked cycles (array idle) go to the layers whose non-matrix cycles
        # they are, so that per layer too RAW + input stalls <= non-matrix cycles
        seg_starts = [s for s, _, _ in self.segments]
        for s, e, host in self.stalls:
            k = max(bisect.bisect_right(seg_starts, s) - 1, 0)
            while k < len(self.segments) and self.segments[k][0] < e:
                s2, e2, layer = self.segments[k]
                a, b = max(s, s2), min(e, e2)
                if b > a:
                    idle = (b - a) - (covered(b) - covered(a))
                    c = self.counters[layer]
                    if host:
                        c.host_stall_cycles += idle
                    else:
                        c.raw_stall_cycles += idle
                k += 1
        total = Counters()
        for c in self.counters.values():
            c.cycles = (c.array_active_cycles + c.weight_stall_cycles +
                        c.weight_shift_cycles + c.non_matrix_cycles)
            total.add(c)
        total.cycles = self.frontier  # equal to the sum up to rounding
        return TimingReport(self.t, total, self.counters, batch, self.opt)


def _handlers() -> dict[isa.InstrDef, Callable[..., None]]:
    """One handler per instruction of the ISA table: a unit's model, or the control
    path for the instructions no unit executes."""
    special = {isa.SYNC: _Model._sync, isa.LOAD_TABLE: _Model._load_table,
               isa.READ_WEIGHTS: _Model._read_weights}
    by_unit = {Unit.CONTROL: _Model._control, Unit.HOST: _Model._host,
               Unit.HOST_CPU: _Model._host_call,
               Unit.MXU: _Model._matmul, Unit.ACTIVATION: _Model._activate,
               Unit.POOL: _Model._pool, Unit.ADDER: _Model._add}
    return {d: special.get(d) or by_unit[d.unit] for d in isa.ISA}


_HANDLERS = _handlers()
#: per instruction that reads or writes table slots: its slot field
_SLOT_FIELD = {d: f.name for d in isa.ISA for f in d.operands if f.limit == isa.SLOTS}


class RequantPasses:
    """How many passes a per-tensor activation unit makes for an activate: the
    distinct (multiplier, shift) pairs (PRelu records: with the negative side's
    pair) among the lanes it writes, read from the table record in ``weights``."""

    def __init__(self, weights: bytes | None):
        self.weights = weights
        self.cache: dict[tuple[int, int], int] = {}

    def count(self, address: int, lanes: int) -> int:
        key = (address, lanes)
        if key not in self.cache:
            if self.weights is None:
                raise QccError("timing an activate on a target with per-tensor "
                               "requantization (requantization.multipliers = "
                               "\"per-tensor\") needs the program's weight image: its "
                               "passes are counted from its table record")
            record = self.weights[address:address + RECORD_BYTES]
            table = decode_table(bytes(record), f"table at byte {address}")
            if not isinstance(table, ActivateTable):
                raise QccError(f"an activate reads the add table at byte {address}")
            pairs = [table.multiplier[:lanes], table.shift[:lanes]]
            if table.negative_multiplier is not None:
                pairs += [table.negative_multiplier[:lanes], table.negative_shift[:lanes]]
            self.cache[key] = len(np.unique(np.stack(pairs, axis=1), axis=0))
        return self.cache[key]


def rescale_cycles(instructions: Sequence[Instruction], target: Target,
                   weights: bytes | None = None) -> float:
    """Cycles the activation unit's instructions and the table loads take if nothing
    overlapped them: an upper bound on the price of requantizing, not part of the
    latency (:func:`rescale_seconds` is). The rows of every instruction the ISA table
    assigns to the activation unit at its throughput (times its passes on a target
    with per-tensor requantization, which needs ``weights``), plus every table
    record at the weight memory's bandwidth."""
    passes = RequantPasses(weights) if \
        target.requantization.multipliers == PER_TENSOR else None
    rows, table_at = 0, {}
    for ins in instructions:
        if ins.defn is isa.LOAD_TABLE:
            table_at[ins.slot] = ins.dram
        elif ins.defn.unit is Unit.ACTIVATION:
            k = 1 if passes is None or ins.table not in table_at else \
                passes.count(table_at[ins.table], ins.lanes)
            rows += k * ins.rows
    tables = sum(1 for ins in instructions if ins.defn is isa.LOAD_TABLE)
    return rows / target.timing.activate_rows_per_cycle + \
        tables * RECORD_BYTES / target.weight_bytes_per_cycle


def rescale_seconds(program: Program, target: Target, batch: int | None = None
                    ) -> tuple[float, dict[str, float]]:
    """The rescale share of the latency: the seconds the program would save if
    requantization were free (every activate pass taking no time on the activation
    unit, table records arriving at once), found by timing it again that way. In
    total and per layer (each layer's cycles minus its cycles in the counterfactual;
    the layers add up to the total). Between 0 and the latency; an add's rescale is
    part of the vector adder's pass and not counted."""
    real = estimate_program(program, target, batch)
    free = estimate_program(program, target, batch, Options(free_requantization=True))
    per_layer = {name: (c.cycles - free.layers[name].cycles) * target.cycle_s
                 for name, c in real.layers.items()}
    return max(real.latency_s - free.latency_s, 0.0), per_layer
