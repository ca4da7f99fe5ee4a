"""Regenerate the measured tables of examples/README.md in one command:

    python benchmarks/examples_tables.py                 # into ./benchmark-results/
    python benchmarks/examples_tables.py --update-docs   # examples/README.md, docs/explore/

1. the `qcc explore` table of each trained digits model (both granularities x four
   calibration methods, every shipped target, batch 1 and 64), with its JSON,
   Markdown and plots (matplotlib: `pip install -e ".[plots]"`) in docs/explore/;
2. the simulated latency, TOPS and inferences/s/W of the zoo's architecture models
   (examples/zoo.py, built and cached on first use) on every shipped target, with the
   compile time (one run on this machine; calibration on 16 random samples).

The tables go between the `<!-- generated: ... -->` markers of examples/README.md.
Without ``--update-docs`` nothing tracked is written: the updated README goes to
``benchmark-results/examples-README.md`` and the explore outputs to
``benchmark-results/explore/<model>/`` in the current directory (git-ignored); with it,
to examples/README.md and docs/explore/<model>/.
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
from qcc import exploration as ex  # noqa: E402
from qcc.backends.tpu_v1.target import list_targets  # noqa: E402

README = ROOT / "examples" / "README.md"
DIGITS = ["digits_mlp", "digits_cnn", "digits_dwsep"]
ZOO = ["resnet18", "resnet50", "mobilenet_v2", "mlp_large"]


def explore_tables(explore_dir: Path = ROOT / "docs" / "explore") -> str:
    import os

    parts = []
    explore_dir = explore_dir.resolve()  # before the chdir
    os.chdir(ROOT)  # paths relative to the repository: explore.json records them as given
    for name in DIGITS:
        result = ex.explore(f"examples/models/{name}.onnx", "examples/data/digits_calib.npz",
                            "examples/data/digits_eval.npz", list_targets(), [1, 64],
                            progress=False)
        # explore.json, explore.md and (with matplotlib) the plots, per model
        rec, _ = ex.write_outputs(result, explore_dir / name, 0.5)
        plots = [p for p in ("accuracy_vs_latency.png", "roofline.png")
                 if (explore_dir / name / p).exists()]
        links = ", ".join(f"[{p}](../docs/explore/{name}/{p})" for p in plots)
        parts.append(f"### {name}\n\n" + (f"Plots: {links}.\n\n" if links else "")
                     + ex.to_markdown(result, rec))
    return "\n".join(parts)


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
                        "examples/README.md and docs/explore/ (default: benchmark-results/)")
    args = parser.parse_args(argv)
    scratch = Path("benchmark-results").resolve()
    out = README if args.update_docs else scratch / "examples-README.md"
    explore_dir = ROOT / "docs" / "explore" if args.update_docs else scratch / "explore"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = README.read_text()
    text = replace_section(text, "explore", "## Explore tables of the trained models\n\n"
                           "Produced by `python benchmarks/examples_tables.py "
                           "--update-docs`.\n\n" + explore_tables(explore_dir))
    text = replace_section(text, "zoo", "## The zoo on every target\n\n"
                           "Produced by `python benchmarks/examples_tables.py --update-docs` "
                           "(compile times: one run on this machine).\n\n" + zoo_table())
    qcc.write_atomic(out, text)
    print(f"updated {out}" + ("" if args.update_docs else f" and {explore_dir}/"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
