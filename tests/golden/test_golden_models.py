"""Golden-output regression suite: every committed example model, compiled for
tpu-v1 (minmax calibration, per-channel int8) and run on a fixed input set: the image
models calibrated on the digits calibration split and run on the first 8 digits
evaluation images, the tiny BERT calibrated and run on its own sample inputs. Stored
per model in tests/golden/models/<model>/:

- ``calibration.json``: the raw calibration statistics (``save_stats``), from which the
  program is compiled (``stats=``);
- ``program.s``: the full disassembly (weight data elided to its SHA-256);
- ``outputs.npz``: the output codes (int8 bytes) the simulator produced;
- ``timing.json``: cycles per layer and in total on tpu-v1 and the counters behind them;
- or ``error.txt``: the compile error, for a model the TPU cannot run.

The cnn example has a host segment (its softmax runs on the host); ``digits_cnn@
tpu-v1-ub100`` is digits_cnn on a 100-row Unified Buffer (``targets/``), tiled by
tpu-tile-ub into batch chunks and row bands. ``tiny_bert`` is the BERT-class encoder
of examples/models/bert/ (int64 token ids, attention mask and token types; opset 17),
compiled with ``input_shapes={"input_ids": (2, 16)}`` and calibrated and run on its own
sample inputs, tiny_bert_inputs.npz (2 sentences of 16 tokens): its program has host
inputs of dtype i64, host segments and a tensor kept in host memory between them
(``.host_tensor``).

Each case also checks that the binary's outputs equal the integer IR's
(qcc.interpreter.run on the compiled module) on the same inputs.

Everything from the statistics on is compared in full: a changed line, byte or cycle
fails. The statistics themselves are FP32 results, and float32 matrix products differ
in their last bits from one CPU's BLAS kernel to another's (FMA or not, the order of
the partial sums): calibrating on the data again is compared with them to a relative
1e-5 of each range, not bit for bit. Pinning the statistics is what makes a build
byte-identical across machines (docs/determinism.md).

Regenerate with ``python -m pytest tests/golden --update-goldens`` only when a change
is meant to alter the program (and read the diff: it is the review of that change).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1.asm import disassemble
from qcc.backends.tpu_v1.runtime import dequantize_output, quantize_input, run_program
from qcc.calibration import load_stats
from qcc.interpreter import run

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "models"
MODELS = sorted(p.stem for p in (ROOT / "examples" / "models").glob("*.onnx"))
BATCH = 8
#: (model, target file) cases beyond every model on tpu-v1: digits_cnn on a 100-row
#: Unified Buffer, which tpu-tile-ub tiles (batch chunks, row bands); the golden folder
#: is named "<model>@<target>"
TARGET_CASES = [("digits_cnn", "tpu-v1-ub100")]
#: cases with their own model file, data and input shapes (a model in a subfolder of
#: examples/models): golden folder name -> (model, calibration data = run inputs,
#: input_shapes); the batch is the inputs' leading dimension
OWN_INPUT_CASES = {
    "tiny_bert": (ROOT / "examples" / "models" / "bert" / "tiny_bert.onnx",
                  ROOT / "examples" / "models" / "bert" / "tiny_bert_inputs.npz",
                  {"input_ids": (2, 16)}),
}
CASES = [(name, None) for name in MODELS] + TARGET_CASES + \
    [(name, None) for name in OWN_INPUT_CASES]


def _inputs(module_input_shape: tuple[int, ...]) -> np.ndarray:
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        return z["input"][:BATCH].reshape(module_input_shape)


def _timing(compiled, target: str = "tpu-v1", batch: int = BATCH) -> dict:
    # on tpu-v1, or on the program's own (test) target
    report = compiled.estimate("tpu-v1") if target == "tpu-v1" else compiled.estimate()
    keys = ("cycles", "array_active_cycles", "weight_stall_cycles", "weight_shift_cycles",
            "non_matrix_cycles", "raw_stall_cycles", "host_stall_cycles", "useful_macs",
            "dram_bytes")

    def counters(c) -> dict:
        return {k: round(float(getattr(c, k)), 3) for k in keys}

    return {"target": target, "batch": batch, "total": counters(report.total),
            "layers": {name: counters(c) for name, c in report.layers.items()}}


def _check_text(path: Path, text: str, update: bool) -> None:
    if update:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run pytest tests/golden --update-goldens"
    assert path.read_text() == text, f"{path} differs from the new output"


#: a fresh calibration's ranges agree with the stored ones to this fraction of each
#: range (FP32 products differ in their last bits between BLAS kernels: 3.6e-7 at
#: worst between the SSE3 and the AVX2 kernels of OpenBLAS on these models)
RANGE_RTOL = 1e-5


def _ranges(stats_path: Path) -> dict[str, tuple[float, float]]:
    stats, _ = load_stats(stats_path)
    return {name: (s.min, s.max) for name, s in stats.items()}


def _check_calibration(name: str, stored: Path, fresh: Path) -> None:
    old, new = _ranges(stored), _ranges(fresh)
    assert sorted(old) == sorted(new), f"{name}: calibrated tensors changed"
    for tensor, (lo, hi) in old.items():
        nlo, nhi = new[tensor]
        tol = RANGE_RTOL * max(hi - lo, abs(lo), abs(hi), 1e-30)
        assert abs(nlo - lo) <= tol and abs(nhi - hi) <= tol, \
            f"{name}: {tensor}: range [{nlo}, {nhi}] now, [{lo}, {hi}] stored"


def _same_calibration(name: str, stored: Path, fresh: Path) -> bool:
    if not stored.exists():
        return False
    try:
        _check_calibration(name, stored, fresh)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize(("name", "target_file"), CASES,
                         ids=[n if t is None else f"{n}@{t}" for n, t in CASES])
def test_model_golden(name: str, target_file: str | None, update_goldens: bool,
                      tmp_path: Path):
    folder = GOLDEN / (name if target_file is None else f"{name}@{target_file}")
    target = "tpu-v1" if target_file is None else \
        str(Path(__file__).resolve().parent / "targets" / f"{target_file}.toml")
    if update_goldens:
        folder.mkdir(parents=True, exist_ok=True)
    if name in OWN_INPUT_CASES:
        model, data, input_shapes = OWN_INPUT_CASES[name]
        with np.load(data) as z:
            inputs = {key: z[key] for key in z.files}
        batch = None
        shapes = {"input_shapes": input_shapes}
    else:
        model = ROOT / "examples" / "models" / f"{name}.onnx"
        data = ROOT / "examples" / "data" / "digits_calib.npz"
        inputs = None  # the digits images, in the compiled module's input shape
        batch = BATCH
        shapes = {}
    stats = folder / "calibration.json"
    fresh = tmp_path / "calibration.json"
    try:
        qcc.compile(model, calib_data=str(data), batch=batch, save_stats=str(fresh),
                    target=target, **shapes)
    except qcc.QccError as e:
        _check_text(folder / "error.txt", e.format() + "\n", update_goldens)
        assert not stats.exists(), f"{stats} is left from a model that compiled"
        return
    if update_goldens and not _same_calibration(name, stats, fresh):
        # the stored statistics stay unless they no longer match (within RANGE_RTOL):
        # a fresh copy would carry this machine's BLAS rounding into every golden
        shutil.copyfile(fresh, stats)
    assert stats.exists(), f"{stats} is missing: run pytest tests/golden --update-goldens"
    _check_calibration(name, stats, fresh)
    compiled = qcc.compile(model, stats=str(stats), batch=batch, target=target, **shapes)
    program = compiled.program
    # the manifest records content hashes, never a path: the text is the same wherever
    # the repository lies
    text = disassemble(program, elide_weights=True)
    assert str(ROOT) not in text
    _check_text(folder / "program.s", text, update_goldens)
    if inputs is None:
        inputs = {program.inputs[0].name: _inputs(compiled.module.main.args[0].type.shape)}
    codes = run_program(program, {d.name: quantize_input(d, inputs[d.name])
                                  for d in program.inputs}, quantized=True)
    out_path = folder / "outputs.npz"
    if update_goldens:
        np.savez(out_path, **codes)
    with np.load(out_path) as stored:
        assert sorted(stored.files) == sorted(codes)
        for key, value in codes.items():
            assert stored[key].dtype == value.dtype
            np.testing.assert_array_equal(stored[key], value, err_msg=f"{name}: {key}")
    # the binary computes what the integer IR computes, bit for bit
    want = run(compiled.module, inputs)
    assert sorted(want) == sorted(d.name for d in program.outputs)
    for desc in program.outputs:
        np.testing.assert_array_equal(dequantize_output(desc, codes[desc.name]),
                                      want[desc.name], err_msg=f"{name}: {desc.name}")
    _check_text(folder / "timing.json",
                json.dumps(_timing(compiled, target_file or "tpu-v1",
                                   len(next(iter(inputs.values())))), indent=1,
                           sort_keys=True) + "\n", update_goldens)
