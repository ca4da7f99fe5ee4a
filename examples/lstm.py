"""A two-layer LSTM as ONNX, written the way ``torch.onnx.export`` writes ``nn.LSTM``.

    python examples/lstm.py            # examples/models/lstm/: lstm.onnx, calibration, inputs
    python examples/lstm.py --form cell --direction bidirectional --out lstm_cell.onnx

One ``LSTM`` node per layer (layout 0: X is ``[seq, batch, input]``; gates i, o, f, c;
zero initial states), the second layer reading the first's Y through a ``Squeeze`` of
its direction axis, built with onnx.helper from a seed
(:func:`qcc.testing.lstm_models.lstm_model`), so no PyTorch and no download are
needed and the bytes are the same on every machine. ``--form cell`` writes the same
network unrolled the way a traced cell loop is exported (MatMul, Add, Split, Sigmoid,
Tanh, Mul per time step).

The committed files: ``lstm.onnx`` (input 16, hidden 64, sequence length 12, batch 4,
2 layers; outputs ``y`` [12, 1, 4, 64], ``y_h`` and ``y_c`` [2, 4, 64]),
``lstm_calib.npz`` (64 sequences, stacked along axis 0 as qcc's calibration reads
them: ``x`` [64 * 12, 4, 16]) and ``lstm_inputs.npz`` (one more sequence). Compile and
run (docs/lstm.md shows what it prints):

    qcc compile examples/models/lstm/lstm.onnx \
        --calib-data examples/models/lstm/lstm_calib.npz -o lstm.tpu
    qcc run lstm.tpu --input examples/models/lstm/lstm_inputs.npz --stats
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx

from qcc.testing.lstm_models import (
    DIRECTIONS,
    FORMS,
    lstm_calibration,
    lstm_inputs,
    lstm_model,
)

HERE = Path(__file__).resolve().parent / "models" / "lstm"
SIZES = {"input_size": 16, "hidden": 64, "seq_len": 12, "batch": 4, "layers": 2}
CALIBRATION_SEQUENCES = 64


def build(form: str = "op", direction: str = "forward", seed: int = 0,
          **sizes: int) -> onnx.ModelProto:
    """The example LSTM (``sizes`` override :data:`SIZES`)."""
    return lstm_model(**(SIZES | sizes), form=form, direction=direction, seed=seed)


def main(argv: list[str] | None = None) -> int:
    """Write the example (or one model to ``--out``); bad sizes or an unwritable path
    are an error message and exit code 2."""
    try:
        _main(argv)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _main(argv: list[str] | None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for key, value in SIZES.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=value)
    p.add_argument("--form", choices=FORMS, default="op")
    p.add_argument("--direction", choices=DIRECTIONS, default="forward")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write only the .onnx file here")
    args = p.parse_args(argv)
    sizes = {k: getattr(args, k) for k in SIZES}
    if any(v < 1 for v in sizes.values()):
        raise ValueError(f"sizes must be positive: {sizes}")
    model = build(args.form, args.direction, args.seed, **sizes)
    if args.out is not None:
        onnx.save(model, args.out)
        print(f"wrote {args.out}")
        return
    HERE.mkdir(parents=True, exist_ok=True)
    onnx.save(model, HERE / "lstm.onnx")
    np.savez(HERE / "lstm_calib.npz", **lstm_calibration(model, CALIBRATION_SEQUENCES,
                                                         seed=1))
    np.savez(HERE / "lstm_inputs.npz", **lstm_inputs(model, seed=1000))
    for name in ("lstm.onnx", "lstm_calib.npz", "lstm_inputs.npz"):
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    sys.exit(main())
