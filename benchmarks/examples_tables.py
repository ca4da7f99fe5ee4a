"""Regenerate the measured table of examples/README.md in one command:

    python benchmarks/examples_tables.py                 # into ./benchmark-results/
    python benchmarks/examples_tables.py --update-docs   # examples/README.md

The simulated latency, TOPS and inferences/s/W of the zoo's architecture models
(examples/zoo.py, built and cached on first use) on every shipped target, with the
compile time (one run on this machine; calibration on 16 random samples). The
``qcc explore`` sweeps of the trained digits models are benchmarks/answer.py's
(docs/answer.md, docs/explore/<model>/); examples/README.md links to them.

The table goes between the `<!-- generated: ... -->` markers of examples/README.md.
Without ``--update-docs`` nothing tracked is written: the updated README goes to
``benchmark-results/examples-README.md`` in the current directory (git-ignored).
Timing figures are the deterministic cost model; compile times are wall clock.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import qcc  # noqa: E402
from qcc.backends.tpu_v1.target import list_targets  # noqa: E402

README = ROOT / "examples" / "README.md"
ZOO = ["resnet18", "resnet50", "mobilenet_v2", "mlp_large"]


def zoo_table() -> str:
    import zoo

    lines = ["| model | batch | compile (s) | instructions | weight memory (MB) | target | "
             "latency (us) | TOPS | inferences/s/W | bound |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for name in ZOO:
        path = zoo.load(name)
        module = qcc.load(path)
        shape = module.main.args[0].type.shape
        rng = np.random.default_rng(0)
        calib = [{module.main.input_names[0]: rng.standard_normal(shape).astype(np.float32)}
                 for _ in range(16 if shape[0] == 1 else 1)]
        start = time.perf_counter()
        compiled = qcc.compile(module, calib_data=calib)
        seconds = time.perf_counter() - start
        p = compiled.program
        for target in list_targets():
            r = compiled.estimate(target)
            lines.append(f"| {name} | {shape[0]} | {seconds:.1f} | {len(p.instructions)} | "
                         f"{len(p.weights) / 1e6:.1f} | {target} | {r.latency_s * 1e6:.1f} | "
                         f"{r.tops():.2f} | {r.inferences_per_s_per_w:.1f} | {r.bound()} |")
    return "\n".join(lines) + "\n"


def replace_section(text: str, key: str, body: str) -> str:
    begin, end = f"<!-- generated: {key} -->", f"<!-- end: {key} -->"
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        return re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text,
                      flags=re.S)
    return text.rstrip("\n") + f"\n\n{block}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-docs", action="store_true", help="write the tracked "
                        "examples/README.md (default: benchmark-results/)")
    args = parser.parse_args(argv)
    scratch = Path("benchmark-results").resolve()
    out = README if args.update_docs else scratch / "examples-README.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = README.read_text()
    text = replace_section(text, "explore", "## Explore tables of the trained models\n\n"
                           "`qcc explore` of every trained digits model (both granularities, "
                           "the four calibration methods and auto, every shipped target, "
                           "batch 1, 8 and 64), with the findings in words: "
                           "[docs/answer.md](../docs/answer.md), made by `python "
                           "benchmarks/answer.py --update-docs`; each model's tables and "
                           "plots are in [docs/explore/](../docs/explore/).\n")
    text = replace_section(text, "zoo", "## The zoo on every target\n\n"
                           "Produced by `python benchmarks/examples_tables.py --update-docs` "
                           "(compile times: one run on this machine).\n\n" + zoo_table())
    qcc.write_atomic(out, text)
    print(f"updated {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
