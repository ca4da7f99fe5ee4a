"""print -> parse -> print is identical for every imported example model, before and
after the default pipeline, and unelided text carries the weights bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcc.driver import load
from qcc.ir.attributes import DenseAttr
from qcc.passmanager import Pipeline
from qcc.text import parse_module, print_module

MODELS = sorted((Path(__file__).resolve().parents[2] / "examples" / "models").glob("*.onnx"))


def _constants(module) -> list[str]:
    return [a.digest for op in module.walk() for a in op.attributes.values()
            if isinstance(a, DenseAttr)]


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
@pytest.mark.parametrize("pipeline", ["", "canonicalize,normalize-gemm,fold-batchnorm"])
def test_roundtrip(path: Path, pipeline: str):
    module = load(path, batch=2)
    if pipeline:
        Pipeline.parse(pipeline).run(module)
    text = print_module(module)
    again = parse_module(text, "roundtrip.mlir")
    assert print_module(again) == text
    assert _constants(again) == _constants(module)
    elided = print_module(module, elide_constants=True)
    assert print_module(parse_module(elided), elide_constants=True) == elided
    assert "dense_resource<__elided__>" in elided


def test_there_are_example_models():
    assert len(MODELS) >= 3
