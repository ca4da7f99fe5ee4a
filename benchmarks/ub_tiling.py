"""Activations larger than the Unified Buffer: a VGG-shaped network at 224x224 (whose
first layers' input and output together exceed tpu-v1's 98304 rows) compiled with
``tpu-tile-ub``; prints the tiling decisions, the extra PCIe bytes, the simulated
time, whether the binary runs bit-exactly with the integer IR, and the time and
peak memory (max RSS) of each step.

    python benchmarks/ub_tiling.py                       # VGG-16 shape, 224, 4 images
    python benchmarks/ub_tiling.py --depth 19 --calib 4  # VGG-19 shape
    /usr/bin/time -v python benchmarks/ub_tiling.py      # the process's peak memory
    python benchmarks/ub_tiling.py --depth 19 --head fc --save vgg19.onnx
    /usr/bin/time -v python benchmarks/ub_tiling.py --model vgg19.onnx --quantize-only

Measured (2-core machine shared with other jobs): the VGG-16 stack compiles in 22 s
(4 calibration images), spills the input and the first convolution's result, runs
both 224-row layers in bands of 218 and 213 rows, adds 6.45 MB of PCIe traffic,
1.54 ms simulated, bit-exact, peak 534 MB; VGG-19: 33 s, 1.72 ms, peak 603 MB.
Quantizing VGG-19 with its classifier (``--model`` of a ``--save``d file) peaked at
3.5 GB when the quantize pass made whole float64 copies of the 25088x4096 weight;
a block at a time, 1.7 GB.

The network is the VGG convolution stack (3x3 convolutions with ReLU, 2x2 max
pools) with a global average pool and one dense layer as the head (flatten into the
VGG classifier is another part of issue 15); weights are seeded random (He).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

STACKS = {11: [1, 1, 2, 2, 2], 13: [2, 2, 2, 2, 2], 16: [2, 2, 3, 3, 3],
          19: [2, 2, 4, 4, 4]}


def vgg(depth: int, side: int, batch: int = 1, classes: int = 1000, head: str = "gap"):
    from zoo import ZooBuilder

    b = ZooBuilder(f"vgg{depth}_stack", 0, [batch, 3, side, side])
    x = "input"
    for convs, width in zip(STACKS[depth], (64, 128, 256, 512, 512), strict=True):
        for _ in range(convs):
            x = b.relu(b.conv(x, width, 3))
        x = b.max_pool(x, 2, 2, 0)
    if head == "fc":  # VGG's own classifier: flatten 512x7x7 into 4096, 4096, classes
        n, c, h, w = b.shapes[x]
        x = b.node("Flatten", [x], (n, c * h * w), "flat", axis=1)
        x = b.relu(b.gemm(b.relu(b.gemm(x, 4096)), 4096))
        x = b.gemm(x, classes)
    else:
        x = b.gemm(b.global_avg_pool_flatten(x), classes)
    return b.model(x, f"VGG-{depth} convolution stack, {head} head")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    import qcc
    from qcc.backends.tpu_v1 import dialect as tpu
    from qcc.backends.tpu_v1.runtime import run_program
    from qcc.interpreter import run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=16, choices=sorted(STACKS))
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--calib", type=int, default=4, help="calibration images")
    p.add_argument("--no-run", action="store_true", help="compile only")
    p.add_argument("--head", choices=("gap", "fc"), default="gap",
                   help="gap: global average pool + one dense layer; fc: VGG's classifier "
                        "(flatten into 4096, 4096, 1000), with --quantize-only")
    p.add_argument("--quantize-only", action="store_true",
                   help="calibrate and quantize (no TPU compile): the memory of quantization")
    p.add_argument("--save", metavar="PATH", help="write the ONNX model there and stop")
    p.add_argument("--model", metavar="PATH", help="load this ONNX file (from --save) "
                   "instead of building the model in this process (whose float64 random "
                   "weights would count in the peak)")
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    if a.save:
        import onnx

        onnx.save(vgg(a.depth, a.side, head=a.head), a.save)
        return 0
    t0 = time.perf_counter()
    module = qcc.load(a.model) if a.model else \
        qcc.import_onnx(vgg(a.depth, a.side, head=a.head))
    calib = {"input": rng.standard_normal((a.calib, 3, a.side, a.side)).astype(np.float32)}
    if a.quantize_only:
        qcc.quantize_model(module, calib_data=calib)
        what = a.model or f"VGG-{a.depth} ({a.head} head) at {a.side}"
        print(f"{what}: quantized on {a.calib} images in "
              f"{time.perf_counter() - t0:.1f} s (peak {peak_mib():.0f} MiB)")
        return 0
    compiled = qcc.compile(module, calib_data=calib)
    t1 = time.perf_counter()
    print(f"VGG-{a.depth} stack at {a.side}: compiled in {t1 - t0:.1f} s "
          f"(peak {peak_mib():.0f} MiB)")
    ops = [op for op in compiled.tpu_module.main.ops
           if isinstance(op, tpu.TpuOp) and not isinstance(op, tpu.SyncOp)]
    for op in ops:
        tiled = {k: op.attributes[k] for k in ("batch_chunk", "spill", "band_rows")
                 if k in op.attributes}
        if tiled:
            print(f"  {op.name:15s} {op.output.type.shape}  {tiled}")
    est = compiled.estimate()
    io = sum(d.host_bytes for d in (*compiled.program.inputs, *compiled.program.outputs))
    pcie = est.total.host_read_bytes + est.total.host_write_bytes
    print(f"  PCIe bytes {pcie} (program I/O {io}, tiling adds {pcie - io}); host "
          f"scratch {compiled.program.scratch_bytes} bytes; simulated "
          f"{est.seconds() * 1e3:.2f} ms")
    if a.no_run:
        return 0
    x = rng.standard_normal((1, 3, a.side, a.side)).astype(np.float32)
    seen: dict = {}
    t2 = time.perf_counter()
    run(compiled.module, {"input": x}, observer=seen.__setitem__)
    g = compiled.module.main
    want = {n: seen[v.op.input] for n, v in zip(g.output_names, g.outputs, strict=True)}
    q_in = {n: seen[arg.users[0].output] for n, arg in zip(g.input_names, g.args,
                                                           strict=True)}
    seen.clear()
    t3 = time.perf_counter()
    got = run_program(compiled.program, q_in, quantized=True)
    t4 = time.perf_counter()
    exact = all(np.array_equal(got[n], want[n]) for n in want)
    print(f"  integer IR {t3 - t2:.1f} s, simulator {t4 - t3:.1f} s; bit-exact: {exact} "
          f"(peak {peak_mib():.0f} MiB)")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
