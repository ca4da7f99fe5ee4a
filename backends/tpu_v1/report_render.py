"""The compile report's rendering as Markdown (docs/compile-report.md); the report's
model and how it is derived from the tpu IR and the program are in report.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qcc.backends.tpu_v1.tables import RECORD_BYTES
from qcc.diagnostics import escape_controls

if TYPE_CHECKING:
    from qcc.backends.tpu_v1.report import CompileReport


def render_markdown(self: CompileReport) -> str:
    """The compile report as Markdown: totals, layers, why layers are far below
    their bound, memory, where every op runs, notes (names escaped)."""
    t, m = self.totals, self.memory
    lines = [f"# Compile report: {self.target}, batch {self.batch}", "",
             f"{self.instructions} instructions. {self.summary()}.", "",
             "## Totals", "",
             "| metric | value |", "|---|---:|",
             f"| latency (end to end, host transfers included) | {t['latency_us']:.2f} us |",
             f"| host transfers (in + out, at the link bandwidth) | "
             f"{t['host_transfer_us']:.2f} us |",
             f"| cycles | {t['cycles']:.0f} |",
             f"| achieved TOPS (peak {t['peak_tops']:.1f}) | {t['tops']:.3f} |",
             *([f"| matrix program (the paper's terms: without waits for PCIe or the "
                f"host CPU) | {t['matrix_program_us']:.2f} us, "
                f"{t['matrix_program_tops']:.3f} TOPS |"] if "matrix_program_us" in t
               else []),
             f"| MXU utilization | {100 * t['utilization']:.2f}% |",
             f"| energy per batch | {t['energy_uj']:.2f} uJ |",
             f"| energy per inference | {t['energy_per_inference_uj']:.2f} uJ |",
             f"| average power (die + weight DRAM) | {t['average_power_w']:.1f} W |",
             *([f"| of which die / weight DRAM | {t['die_power_w']:.1f} W / "
                f"{t['dram_power_w']:.1f} W |"] if "die_power_w" in t else []),
             f"| inferences/s | {t['inferences_per_s']:.0f} |",
             f"| inferences/s/W (die + weight DRAM) | {t['inferences_per_s_per_w']:.0f} |",
             *([f"| inferences/s/W on die power alone (the paper's 40 W) | "
                f"{t['die_inferences_per_s_per_w']:.0f} |"]
               if "die_inferences_per_s_per_w" in t else []),
             f"| bound | {t['bound']} |"]
    if "rescale_us" in t:
        lines += [f"| rescale share of latency (saved if requantization were free) | "
                  f"{t['rescale_us']:.2f} us |",
                  f"| requantization multipliers | {t['requantization']}"
                  + (" (assumption: not published for TPU v1)"
                     if t["requantization"] == "per-lane" else
                     f" ({t['extra_rescale_rows']} extra activate rows)") + " |"]
    if "split_us" in t:
        split = t["split_us"]
        lines += [f"| time on the TPU / host CPU / waiting for PCIe | {split['tpu']:.2f} / "
                  f"{split['host']:.2f} / {split['pcie']:.2f} us |",
                  f"| host ops ({t['host_segments']} host segments) | {t['host_ops']} |",
                  f"| PCIe bytes (in + out) | {t['pcie_bytes']} |",
                  f"| MACs on the matrix unit | {100 * t['mxu_mac_share']:.2f}% |"]
        if t.get("host_macs"):
            total_us = sum(split.values()) or 1.0
            lines += [f"| MACs on the host CPU | {t['host_macs']} "
                      f"({100 * (1 - t['mxu_mac_share']):.2f}%) |",
                      f"| share of the latency on the TPU / host CPU / waiting for PCIe | "
                      f"{100 * split['tpu'] / total_us:.1f}% / "
                      f"{100 * split['host'] / total_us:.1f}% / "
                      f"{100 * split['pcie'] / total_us:.1f}% |"]
    for name, value in self.output_sqnr_db.items():
        lines.append(f"| output `{_e(name)}` SQNR | {_db(value)} dB |")
    lines += ["", "## Layers", "",
              "| layer | units | MACs | weight B | MACs/B | cycles | % time | bound | "
              "MXU util | rescale share us | rescale cyc (bound) | acc rows | SQNR dB |",
              "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    total = t["cycles"] or 1.0
    for x in self.layers:
        oi = "-" if x.intensity is None else f"{x.intensity:.1f}"
        lines.append(
            f"| `{_e(x.name)}` | {', '.join(x.units) or '-'} | {x.useful_macs} | "
            f"{x.weight_bytes} | {oi} | {x.cycles:.0f} | {100 * x.cycles / total:.1f}% | "
            f"{x.bound} | {100 * x.utilization:.2f}% | {_us(x.rescale_us)} | "
            f"{x.rescale_cycles:.0f} | "
            f"{x.accumulator_rows} | {_db(x.sqnr_db)} |")
    lines += _counter_lines(self)
    whys = [x for x in self.layers if x.why]
    if whys:
        lines += ["", "## Why layers are far below their bound", ""]
        for x in whys:
            lines.append(f"- `{_e(x.name)}`: " + _e("; ".join(x.why)) + ".")
            for s in x.suggestions:
                lines.append(f"  - suggestion: {s}")
    lines += ["", "## Memory", "",
              "| memory | used | capacity |", "|---|---:|---:|",
              f"| Unified Buffer, peak live | {m['ub_peak_live_rows']} rows, "
              f"{m['ub_peak_live_bytes']} B | {m['ub_rows']} rows |",
              f"| Unified Buffer, highest row used | {m['ub_high_water_rows']} rows, "
              f"{m['ub_high_water_bytes']} B | {m['ub_rows']} rows |",
              f"| accumulators, most rows one layer uses | {m['accumulator_rows_used']} rows | "
              f"{m['accumulator_rows']} rows |",
              f"| weight memory: tiles | {m['weight_tiles']} x {m['tile_bytes']} B = "
              f"{m['weight_tile_bytes']} B | |",
              f"| weight memory: tables | {m['tables']} x {RECORD_BYTES} B = "
              f"{m['table_bytes']} B | |",
              f"| weight memory: image | {m['weight_image_bytes']} B | "
              f"{m['weight_memory_bytes']} B |",
              f"| host -> UB | {m['host_read_bytes']} B | |",
              f"| UB -> host | {m['host_write_bytes']} B | |",
              "", "| buffer | shape | rows | bytes | base row | written by | last read by |",
              "|---|---|---:|---:|---:|---|---|"]
    for b in self.buffers:
        lines.append(f"| {', '.join(f'`{_e(n)}`' for n in b.tensors)} | "
                     f"{'x'.join(map(str, b.shape))} | {b.rows} | {b.bytes} | "
                     f"{b.base_row} | `{_e(b.first_layer)}` | `{_e(b.last_layer)}` |")
    lines += _tiling_lines(self.tiling)
    lines += ["", "## Where every op runs", "",
              "| op | result | layer | unit | note |", "|---|---|---|---|---|"]
    for o in self.ops:
        result = f"`{_e(o.result)}`" if o.result else "-"
        lines.append(f"| `{o.op}` | {result} | `{_e(o.layer)}` | {o.unit} | "
                     f"{_e(o.note or '-')} |")
    if self.notes:
        lines += ["", "## Notes", ""] + [f"- {_e(n)}" for n in self.notes]
    return "\n".join(lines) + "\n"


def _counter_lines(self: CompileReport) -> list[str]:
    """The TPU paper's Table 3 counters per layer and in total, in percent of each
    row's cycles (absent from reports made before them)."""
    from qcc.backends.tpu_v1.timing import PAPER_COUNTERS, PAPER_LEGEND

    total = self.totals.get("paper_counters")
    if not total:
        return []
    heads = [h for _, h, _ in PAPER_COUNTERS]
    lines = ["", "## Counters (the TPU paper's Table 3)", "",
             "| layer | cycles | " + " | ".join(heads) + " |",
             "|---|---:|" + "---:|" * len(heads)]

    def row(name: str, cycles: float, p: dict[str, float]) -> str:
        figures = " | ".join(f"{p.get(k, 0.0):.2f}" if k.endswith("tops") else
                             f"{p.get(k, 0.0):.1f}" for k, _, _ in PAPER_COUNTERS)
        return f"| {name} | {cycles:.0f} | {figures} |"

    lines += [row(f"`{_e(x.name)}`", x.cycles, x.paper_counters) for x in self.layers]
    lines += [row("**total**", self.totals["cycles"], total), "", " ".join(PAPER_LEGEND)]
    return lines


def _e(text: str) -> str:
    """Names from the model with control characters escaped: no raw terminal escapes
    or line breaks in the report."""
    return escape_controls(text)


def _us(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _db(v: float | str | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.1f}"


def _tiling_lines(t: dict) -> list[str]:
    """The Unified Buffer tiling section (tpu-tile-ub), when anything is tiled."""
    if not t:
        return []
    lines = ["", "## Unified Buffer tiling", ""]
    if t["batch_chunk"]:
        lines.append(f"- batch chunks of {t['batch_chunk']}: {t['batch_chunk_why']}")
    lines.append(f"- extra PCIe bytes: {t['extra_pcie_bytes']} "
                 f"({t['extra_pcie_us']:.2f} us at the link bandwidth); host scratch "
                 f"{t['host_scratch_bytes']} B")
    if t["banded_layers"]:
        lines += ["", "| layer in row bands | op | band rows | of rows | why |",
                  "|---|---|---:|---:|---|"]
        lines += [f"| `{_e(x['layer'])}` | {x['op']} | {x['band_rows']} | {x['rows']} | "
                  f"{_e(x['why'])} |" for x in t["banded_layers"]]
    if t["spilled_tensors"]:
        lines += ["", "| tensor spilled to host memory | written by | shape | bytes | why |",
                  "|---|---|---|---:|---|"]
        lines += [f"| `{_e(x['tensor'])}` | `{_e(x['layer'])}` | "
                  f"{'x'.join(map(str, x['shape']))} | {x['bytes']} | {_e(x['why'])} |"
                  for x in t["spilled_tensors"]]
    return lines
