"""Write the bundled example models and one input for each to examples/models/.

    python examples/build_models.py

The models are built with onnx.helper from fixed seeds (qcc.testing.models), so the
files are the same on every machine. They are small (a few KB) and committed; this
script is how they were made. Trained models on real data come with the
quantization work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from qcc.testing.models import BUILDERS

HERE = Path(__file__).resolve().parent / "models"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, build in BUILDERS.items():
        onnx.save(build(seed=0), HERE / f"{name}.onnx")
        print(f"wrote {HERE / name}.onnx")
    # one 1x1x8x8 image-shaped input serves all three models
    x = np.random.default_rng(1).standard_normal((1, 1, 8, 8)).astype(np.float32)
    np.save(HERE / "input.npy", x)
    print(f"wrote {HERE / 'input.npy'}")


if __name__ == "__main__":
    main()
