"""Check that a change to the backend changes no number: the programs, simulated
outputs and cycle counts of the model zoo and the example models, against figures
recorded before the change.

    python benchmarks/backend_identity.py --record   # on the code before the change
    python benchmarks/backend_identity.py            # after it: exit 1 on any difference
    python benchmarks/backend_identity.py --quick    # the example models only

For every model the script compiles for tpu-v1 from calibration statistics stored
beside the record (``benchmarks/results/identity/<model>.stats.json``, written by
``--record``: FP32 calibration differs in its last bits between BLAS kernels, the
statistics pin it, as the golden suite does), then records:

- ``instructions``: SHA-256 of the encoded instruction stream;
- ``weights``: SHA-256 of the weight-memory image (tiles and tables);
- ``io``: the input and output descriptors (names, shapes, scales, host offsets);
- ``outputs``: SHA-256 of every simulated output's integer codes on a fixed input;
- ``timing``: the tpu-v1 timing model's counters in total and per layer.

The manifest is not compared (it names the pipeline, which a backend change may
legitimately extend). Models: ResNet-18 and ResNet-50 at 224x224 batch 1,
MobileNet-v2 at 96x96 batch 8, the large MLP (batch 200) from examples/zoo.py, and
every model of examples/models at batch 8 (the golden suite's set). A model the
record has as a compile error and that compiles now (the cnn example, since host
partitioning) is reported, not counted as a difference: there is no number to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

RECORD = ROOT / "benchmarks" / "results" / "identity"
DIGITS_CALIB = ROOT / "examples" / "data" / "digits_calib.npz"

ZOO = {"resnet18": ("resnet18", dict(batch=1, resolution=224)),
       "resnet50": ("resnet50", dict(batch=1, resolution=224)),
       "mobilenet_v2": ("mobilenet_v2", dict(batch=8, resolution=96)),
       "mlp_large": ("mlp_large", dict())}
EXAMPLES = sorted(p.stem for p in (ROOT / "examples" / "models").glob("*.onnx"))
EXAMPLE_BATCH = 8


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zoo_model(name: str, work: Path) -> tuple[Path, int]:
    import onnx
    import zoo

    builder, kw = ZOO[name]
    path = work / f"{name}.onnx"
    onnx.save(getattr(zoo, builder)(**kw), path)
    return path, 1


def _calibration(path: Path, batch: int, example: bool) -> object:
    """Calibration data: the digits split for the examples, 4 seeded random inputs
    (as the compile would see real images) for the zoo."""
    if example:
        return str(DIGITS_CALIB)
    from qcc import driver

    module = driver.load(path, batch=batch)
    rng = np.random.default_rng(0)
    return [{a: rng.standard_normal(arg.type.shape).astype(np.float32)
             for a, arg in zip(module.main.input_names, module.main.args, strict=True)}
            for _ in range(4)]


def _input(compiled, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {d.name: rng.standard_normal(d.shape).astype(np.float32)
            for d in compiled.program.inputs}


def figures(name: str, path: Path, batch: int, stats: Path, record: bool,
            example: bool) -> dict:
    import qcc
    from qcc.backends.tpu_v1.isa import encode
    from qcc.backends.tpu_v1.runtime import run_program

    if record or not stats.exists():  # (a model that fails to compile saves none)
        compiled = qcc.compile(path, calib_data=_calibration(path, batch, example),
                               batch=batch, save_stats=str(stats) if record else None)
    if stats.exists():
        compiled = qcc.compile(path, stats=str(stats), batch=batch)
    program = compiled.program
    outputs = run_program(program, _input(compiled), quantized=True)
    report = compiled.estimate("tpu-v1")
    keys = ("cycles", "array_active_cycles", "weight_stall_cycles", "weight_shift_cycles",
            "non_matrix_cycles", "raw_stall_cycles", "host_stall_cycles", "useful_macs",
            "dram_bytes")

    def counters(c) -> dict:
        return {k: float(getattr(c, k)) for k in keys}

    return {
        "instructions": _sha(encode(program.instructions)),
        "instruction_count": len(program.instructions),
        "weights": _sha(bytes(program.weights)),
        "io": [[d.name, list(d.shape), d.dtype, d.scale, d.zero_point, d.host_offset]
               for d in (*program.inputs, *program.outputs)],
        "layer_of": _sha("\n".join(program.layer_of).encode()),
        "outputs": {k: _sha(np.ascontiguousarray(v).tobytes())
                    for k, v in sorted(outputs.items())},
        "timing": {"total": counters(report.total),
                   "layers": {k: counters(c) for k, c in report.layers.items()}},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", action="store_true",
                    help="record the figures (on the code before a change)")
    ap.add_argument("--quick", action="store_true", help="the example models only")
    ap.add_argument("--only", nargs="*", default=None, help="these models only")
    args = ap.parse_args(argv)
    RECORD.mkdir(parents=True, exist_ok=True)
    names = [*EXAMPLES, *([] if args.quick else ZOO)]
    if args.only:
        names = [n for n in names if n in args.only]
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            example = name in EXAMPLES
            if example:
                path, batch = ROOT / "examples" / "models" / f"{name}.onnx", EXAMPLE_BATCH
            else:
                path, batch = _zoo_model(name, Path(tmp))
            stats = RECORD / f"{name}.stats.json"
            record_file = RECORD / f"{name}.json"
            try:
                got = figures(name, path, batch, stats, args.record, example)
            except Exception as e:  # a compile error is a figure too
                import qcc

                if not isinstance(e, qcc.QccError):
                    raise
                got = {"error": str(e)}
            took = time.perf_counter() - t0
            if args.record:
                record_file.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
                print(f"{name}: recorded ({took:.1f} s)")
                continue
            want = json.loads(record_file.read_text())
            got = json.loads(json.dumps(got))  # the same float spelling as the record
            if got == want:
                print(f"{name}: identical ({took:.1f} s)")
            elif "error" in want and "error" not in got:
                # refused when the record was made, compiles now (e.g. host partitioning):
                # no recorded number to compare; the golden suite checks its program
                print(f"{name}: compiles now; the record has the error: {want['error']}")
            else:
                diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                print(f"{name}: DIFFERENT in {', '.join(diff)}")
                failed.append(name)
    if failed:
        print(f"{len(failed)} model(s) differ: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
