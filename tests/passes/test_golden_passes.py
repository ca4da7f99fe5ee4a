"""Golden IR tests of every pass: tests/golden/passes/<pass>.mlir.

Each file names its pipeline in a ``// RUN: -p PIPELINE`` line and holds test cases
separated by ``// -----``. For every case: the IR after the pipeline must satisfy
the case's CHECK lines (in-house FileCheck), and the interpreter must give the same
outputs before and after the pipeline on seeded random inputs (to 1e-5, exactly
with ``// EQUIV: exact``, or to an absolute tolerance with ``// EQUIV: atol=X`` for
passes that approximate by design, like quantize).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qcc.driver import random_inputs
from qcc.interpreter import run
from qcc.passmanager import PASS_REGISTRY, Pipeline, _load_builtin_passes
from qcc.testing import filecheck
from qcc.testing.golden import parse_run_line, split_input_file
from qcc.text import parse_module, print_module

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "passes"
FILES = sorted(GOLDEN.glob("*.mlir"))


def _cases():
    for path in FILES:
        text = path.read_text()
        for k, (chunk, start) in enumerate(split_input_file(text)):
            yield pytest.param(path, chunk, start, id=f"{path.stem}-{k}")


def test_every_pass_has_a_golden_file():
    _load_builtin_passes()
    missing = sorted(n for n, cls in PASS_REGISTRY.items()
                     if cls.__module__.startswith("qcc.passes")
                     and not (GOLDEN / f"{n}.mlir").exists())
    assert not missing, f"passes without golden IR tests: {missing}"


@pytest.mark.parametrize(("path", "chunk", "start"), list(_cases()))
def test_golden(path: Path, chunk: str, start: int):
    pipeline = parse_run_line(path.read_text())
    assert pipeline, f"{path}: no '// RUN: -p PIPELINE' line"
    source = "\n" * (start - 1) + chunk  # keep file line numbers in messages
    before = parse_module(source, str(path))
    after = parse_module(source, str(path))
    Pipeline.parse(pipeline).run(after)
    text = print_module(after, locations=False)
    filecheck(text, chunk, check_file=str(path), first_line=start)
    # the pass output round-trips
    assert print_module(parse_module(print_module(after))) == print_module(after)
    # interpreter equivalence on seeded random inputs
    rtol, atol = _tolerance(chunk if "// EQUIV:" in chunk else path.read_text())
    for seed in range(3):
        inputs = random_inputs(before.main, seed)
        want = run(before, inputs)
        got = run(after, inputs)
        assert list(want) == list(got)
        for name in want:
            if rtol is None:
                np.testing.assert_array_equal(got[name], want[name],
                                              err_msg=f"{path.name} output {name}")
            else:
                np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol,
                                           err_msg=f"{path.name} output {name}")


def _tolerance(text: str) -> tuple[float | None, float]:
    """``// EQUIV: exact`` (bit-identical outputs), ``// EQUIV: atol=X`` (passes that
    approximate, like quantize), default rtol 1e-5 / atol 1e-6 (float rewrites)."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("// EQUIV:"):
            spec = line.removeprefix("// EQUIV:").strip()
            if spec == "exact":
                return None, 0.0
            key, _, value = spec.partition("=")
            assert key == "atol", f"unknown EQUIV spec {spec!r}"
            return 0.0, float(value)
    return 1e-5, 1e-6
