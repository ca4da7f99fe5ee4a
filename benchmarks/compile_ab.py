"""Compile time of this checkout against another one, measured in the same run:
ResNet-50 at 224x224 batch 1, calibrated on 8 seeded images, as benchmarks/perf.py
measures ``qcc_compile_s``.

    python benchmarks/compile_ab.py --baseline-python /path/to/other/venv/bin/python \
        [--runs 5] [--model resnet50]

The baseline is another qcc installed in its own environment, e.g. the commit before
a change:

    git worktree add /tmp/qcc-base <commit>
    python -m venv /tmp/qcc-base-venv && /tmp/qcc-base-venv/bin/python -m pip install \
        -e "/tmp/qcc-base[test]"

Each run is a fresh process that builds the model, compiles it once untimed (imports,
caches) and then times one compile; the two checkouts take turns run by run, so a
slow spell of a shared machine slows both alike. Prints the medians and their ratio
(this checkout / baseline). Measures only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import numpy as np, onnx, zoo, qcc
name = sys.argv[2]
kw = {"resnet50": dict(batch=1, resolution=224), "resnet18": dict(batch=1, resolution=224),
      "mobilenet_v2": dict(batch=8, resolution=96), "mlp_large": {}}[name]
path = Path(tempfile.mkdtemp()) / f"{name}.onnx"
onnx.save(getattr(zoo, name)(**kw), path)
shape = [d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
calib = [{"input": np.random.default_rng(s).standard_normal(shape).astype(np.float32)}
         for s in range(8 if shape[0] == 1 else 1)]
qcc.compile(path, calib_data=calib, batch=shape[0])
t = time.perf_counter()
qcc.compile(path, calib_data=calib, batch=shape[0])
print(json.dumps({"seconds": time.perf_counter() - t, "qcc": qcc.__file__}))
"""


def one(python: str, model: str) -> dict:
    out = subprocess.run([python, "-c", CHILD, str(ROOT / "examples"), model],
                         capture_output=True, text=True, check=True, cwd="/")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-python", required=True)
    ap.add_argument("--python", default=sys.executable, help="this checkout's (default: "
                    "the running interpreter)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="resnet50",
                    choices=["resnet50", "resnet18", "mobilenet_v2", "mlp_large"])
    args = ap.parse_args(argv)
    times: dict[str, list[float]] = {"this": [], "baseline": []}
    where = {}
    for k in range(args.runs):
        order = [("this", args.python), ("baseline", args.baseline_python)]
        for label, python in (order if k % 2 == 0 else order[::-1]):
            r = one(python, args.model)
            times[label].append(r["seconds"])
            where[label] = r["qcc"]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"model": args.model, "runs": args.runs, "qcc": where,
                      "seconds": times, "median": med,
                      "ratio": med["this"] / med["baseline"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
