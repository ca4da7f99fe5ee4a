"""Property tests: every mutated input to a user-facing entry point ends in success
or a QccError (never another exception, never a hang).

Inputs are real ones (golden pass IR, pipeline strings, a compiled program's
assembly and binary, the example ONNX models) mutated by the shared mutators of
fuzzlib.py, driven by a hypothesis-drawn random seed (so a failure shrinks to a
seed and is replayed exactly). Bounded to run in a few seconds; run_fuzz.py is the
long run.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzlib

CASE_SECONDS = 10.0  # hang guard per case (SIGALRM)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def check(entry: str, data: str | bytes, oracle=None) -> None:
    """Run one case; anything but success or QccError fails with the input attached."""
    oracle = oracle or fuzzlib.ORACLES[entry]
    try:
        with fuzzlib.time_limit(CASE_SECONDS):
            oracle(data)
    except fuzzlib.Hang:
        pytest.fail(f"{entry}: hang (> {CASE_SECONDS} s) on input {data!r:.4000}")
    except Exception as e:
        pytest.fail(f"{entry}: {type(e).__name__}: {e} on input {data!r:.4000}")


@pytest.fixture(scope="module", autouse=True)
def _seeds() -> None:
    # build the seeds (one compile) outside the per-example timing
    for entry in fuzzlib.ENTRIES:
        fuzzlib.seeds(entry)


@pytest.mark.parametrize("entry", fuzzlib.ENTRIES)
def test_unmutated_seeds_load(entry: str) -> None:
    for seed in fuzzlib.seeds(entry):
        check(entry, seed)


@FUZZ
@given(st.integers(0, 2**32))
def test_fuzz_ir_text(n: int) -> None:
    pool = fuzzlib.ir_seeds()
    check("ir", fuzzlib.mutate_text(random.Random(n), pool[n % len(pool)], pool))


@settings(FUZZ, max_examples=40)
@given(st.integers(0, 2**32))
def test_fuzz_backend_ir(n: int) -> None:
    """Integer and tpu IR (what a stopped compile writes), mutated, through the rest of
    the backend and emission: a program or a QccError."""
    pool = fuzzlib.backend_seeds()
    check("backend", fuzzlib.mutate_text(random.Random(n), pool[n % len(pool)], pool))


@settings(FUZZ, max_examples=300)
@given(st.integers(0, 2**32))
def test_fuzz_pipeline_text(n: int) -> None:
    rng = random.Random(n)
    pool = fuzzlib.PIPELINES
    check("pipeline", fuzzlib.mutate_text(rng, rng.choice(pool), pool))


@settings(FUZZ, max_examples=300)
@given(st.text(alphabet=st.sampled_from('abcdefghilmnopqrstuvxyz-{}=,"\\ 0123456789.'),
               max_size=60))
def test_fuzz_pipeline_random_text(text: str) -> None:
    check("pipeline", text)


@settings(FUZZ, max_examples=100)
@given(st.integers(0, 2**32))
def test_fuzz_asm_text(n: int) -> None:
    rng = random.Random(n)
    small, full = fuzzlib.asm_seeds()
    seed = full if rng.random() < 0.1 else small
    check("asm", fuzzlib.mutate_text(rng, seed, (small,)))


@settings(FUZZ, max_examples=200)
@given(st.integers(0, 2**32))
def test_fuzz_onnx_bytes_and_structure(n: int) -> None:
    check("onnx", fuzzlib.mutate_onnx(random.Random(n)))


@settings(FUZZ, max_examples=100)
@given(st.binary(max_size=64), st.integers(0, 5), st.integers(0, 2**20))
def test_fuzz_onnx_splice(junk: bytes, which: int, at: int) -> None:
    seeds = fuzzlib.onnx_seeds()
    seed = seeds[which % len(seeds)]
    at %= len(seed) + 1
    check("onnx", seed[:at] + junk + seed[at + len(junk):])


@settings(FUZZ, max_examples=300)
@given(st.integers(0, 2**32))
def test_fuzz_binary(n: int) -> None:
    check("binary", fuzzlib.mutate_binary(random.Random(n), fuzzlib.compiled_bytes()))


@settings(FUZZ, max_examples=100)
@given(st.integers(0, 2**32), st.booleans())
def test_fuzz_binary_truncated(cut: int, reseal: bool) -> None:
    data = fuzzlib.compiled_bytes()
    data = data[:cut % (len(data) + 1)]
    check("binary", fuzzlib.reseal(data) if reseal else data)


@settings(FUZZ, max_examples=150)
@given(st.integers(0, 2**32))
def test_fuzz_run_binary(n: int) -> None:
    """Mutated programs that still load also execute to an output or a clean
    MachineError (instruction fields at edge values reach the simulator's checks)."""
    rng = random.Random(n)
    check("run", fuzzlib.mutate_binary(rng, rng.choice(fuzzlib.run_seeds())))
