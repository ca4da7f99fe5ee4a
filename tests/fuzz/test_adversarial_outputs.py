"""A short run of the adversarial output cases (adversarial_outputs.py is the long run):
random awkward output paths given to the output layer and to real commands; any
broken promise (an input changed, a link or device replaced, a partial file, a
temporary left, an exit code other than 0 or 2) fails with the case described."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adversarial_outputs


def test_adversarial_outputs_short_run():
    counts = adversarial_outputs.run(400, seed=0, cli_share=0.05, report_every=1e9)
    assert counts["cases"] == 400
    # both outcomes are exercised, through the layer and through the CLI
    assert min(counts["layer ok"], counts["layer error"], counts["cli ok"],
               counts["cli error"]) > 0
