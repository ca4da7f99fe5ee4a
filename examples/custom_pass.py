"""Run a user-defined pass from the Python API and check it changes nothing numerically.

    python examples/custom_pass.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import qcc

HERE = Path(__file__).resolve().parent


def main() -> None:
    qcc.load_passes(HERE / "my_passes.py")  # registers swap-relu-maxpool
    module = qcc.load(HERE / "models" / "cnn.onnx")
    x = np.load(HERE / "models" / "input.npy")
    before = qcc.run(module, {"input": x})["output"]

    pipeline = qcc.Pipeline.parse("canonicalize,normalize-gemm,fold-batchnorm")
    pipeline.add("swap-relu-maxpool")
    ctx = qcc.PassContext()
    pipeline.run(module, ctx)
    print(f"pipeline: {pipeline}")
    print(f"statistics: {ctx.statistics}")

    after = qcc.run(module, {"input": x})["output"]
    print(f"max |difference| of outputs: {np.abs(after - before).max():.3g}")
    print(qcc.print_module(module, elide_constants=True, locations=False))


if __name__ == "__main__":
    main()
