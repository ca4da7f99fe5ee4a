"""The fast executor (simulator.py) runs programs bit for bit as the reference
machine (reference.py) defines them: the same host outputs, and the same final
Unified Buffer and accumulator contents, with either matrix engine. Programs: the
example models compiled as tests/golden compiles them, a small model that lowers
to every instruction (convolutions with packed taps and one tap per pass, depthwise,
max and average pooling, add, channel concat, the sigmoid/tanh lookup tables, K and N
past 256), hand-written programs for what the fast paths batch (runs of passes into
the same rows, diagonal and all-zero tiles, output blocks taken in one product, sums
past int32, rows written over their own inputs, lanes a pass leaves zero read
later), and programs that fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcc
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.backends.tpu_v1.reference import MachineError, ReferenceMachine, execute_reference
from qcc.backends.tpu_v1.runtime import quantize_input
from qcc.backends.tpu_v1.simulator import Machine, execute
from qcc.backends.tpu_v1.tables import ActivateTable, AddTable
from qcc.backends.tpu_v1.target import load_target

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden" / "models"
MODELS = sorted(p.name for p in GOLDEN.iterdir() if (p / "calibration.json").exists())
ENGINES = ("numpy", "onnxruntime")
TILE = 65536


def _run(machine, data: bytes):
    machine.host[:len(data)] = data
    try:
        machine.run()
    except MachineError as e:
        return str(e)
    return None


def assert_same_run(program: Program, data: bytes, engines: tuple[str, ...] = ENGINES
                    ) -> None:
    """The reference machine and the fast one (with each matrix engine), started with
    ``data`` at the start of the host buffer, end in the same state (or stop with the
    same error)."""
    target = program.resolve_target()
    reference = ReferenceMachine(program, target)
    error = _run(reference, data)
    for engine in engines:
        fast = Machine(program, target, engine)
        assert _run(fast, data) == error, engine
        if error is not None:
            continue
        assert bytes(fast.host) == bytes(reference.host), engine
        _assert_equal(fast.ub, reference.ub, f"Unified Buffer ({engine})")
        _assert_equal(fast._exact(slice(0, len(fast.acc))), reference.acc,
                      f"accumulators ({engine})")


def _assert_equal(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """Exact equality of two machine memories (numpy's assertion, which explains the
    difference, only when they differ: it is slow on 24 MiB)."""
    if not np.array_equal(a, b):
        np.testing.assert_array_equal(a, b, err_msg=what)


@pytest.mark.parametrize("name", MODELS)
def test_example_models(name):
    """Each example model as tests/golden compiles it (its stored statistics, batch 8;
    ``model@target`` on that test target: a tiled program), on the golden inputs."""
    if name == "tiny_bert":  # examples/models/bert/, on its own inputs
        return _tiny_bert()
    model, _, target = name.partition("@")
    target = str(GOLDEN.parent / "targets" / f"{target}.toml") if target else "tpu-v1"
    compiled = qcc.compile(ROOT / "examples" / "models" / f"{model}.onnx",
                           stats=str(GOLDEN / name / "calibration.json"), batch=8,
                           target=target)
    program = compiled.program
    with np.load(ROOT / "examples" / "data" / "digits_eval.npz") as z:
        x = z["input"][:8].reshape(compiled.module.main.args[0].type.shape)
    codes = {program.inputs[0].name: quantize_input(program.inputs[0], x)}
    assert_same_run(program, _host_bytes(program, codes))


def _tiny_bert():
    """The tiny BERT as tests/golden compiles it (input_ids (2, 16)), on its sample
    inputs: int64 host inputs, host segments, tensors kept in host memory."""
    bert = ROOT / "examples" / "models" / "bert"
    compiled = qcc.compile(bert / "tiny_bert.onnx",
                           stats=str(GOLDEN / "tiny_bert" / "calibration.json"),
                           input_shapes={"input_ids": (2, 16)})
    program = compiled.program
    with np.load(bert / "tiny_bert_inputs.npz") as z:
        codes = {d.name: quantize_input(d, z[d.name]) for d in program.inputs}
    assert_same_run(program, _host_bytes(program, codes))


def _host_bytes(program: Program, codes: dict) -> bytes:
    from qcc.backends.tpu_v1.reference import write_inputs

    host = bytearray(program.host_bytes)
    write_inputs(host, program, codes)
    return bytes(host)


def _every_instruction_model(rng: np.random.Generator) -> onnx.ModelProto:
    nodes, inits = [], []

    def weight(name, shape):
        w = (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)
        inits.append(numpy_helper.from_array(w, name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    a = node("Conv", ["input", weight("wa", (8, 3, 3, 3))], "a", kernel_shape=[3, 3],
             pads=[1] * 4)  # 3 channels: taps packed into one row
    a = node("Relu", [a], "a_relu")
    b = node("Conv", ["input", weight("wb", (20, 3, 1, 1))], "b", kernel_shape=[1, 1])
    cat = node("Concat", [a, b], "cat", axis=1)  # b at column 8
    d = node("Conv", [cat, weight("wd", (28, 1, 3, 3))], "d", kernel_shape=[3, 3],
             pads=[1] * 4, group=28)  # depthwise: diagonal tiles
    res = node("Add", [cat, d], "res")
    s = node("Sigmoid", [res], "s")
    mp = node("MaxPool", [s], "mp", kernel_shape=[2, 2], strides=[2, 2])
    ap = node("AveragePool", [mp], "ap", kernel_shape=[2, 2], strides=[1, 1])
    t = node("Tanh", [ap], "t")
    e = node("Conv", [t, weight("we", (270, 28, 3, 3))], "e", kernel_shape=[3, 3],
             pads=[2] * 4, dilations=[2, 2])  # N past 256
    f = node("Conv", [e, weight("wf", (12, 270, 3, 3))], "f", kernel_shape=[3, 3],
             pads=[1] * 4, strides=[2, 2])  # K past 256: one tap per pass
    g = node("GlobalAveragePool", [f], "g")
    flat = node("Flatten", [g], "flat")
    h = node("Gemm", [flat, weight("wh", (12, 300))], "h")
    h = node("Relu", [h], "h_relu")
    node("Gemm", [h, weight("wy", (300, 10))], "y")
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("activations", ["int8", "uint8"])
def test_a_model_with_every_instruction(activations):
    rng = np.random.default_rng(21)
    module = qcc.import_onnx(_every_instruction_model(rng))
    calib = [{"input": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)}
             for _ in range(3)]
    qcc.quantize_model(module, calib_data=calib, activations=activations)
    program = lower(module)
    ops = {(i.op, i.args.get("sum"), i.args.get("function")) for i in program.instructions}
    assert {op for op, *_ in ops} >= {"read_host", "write_host", "read_weights", "matmul",
                                       "activate", "load_table", "set_conv", "pool", "add",
                                       "sync", "halt"}
    assert {("pool", 0, None), ("pool", 1, None), ("activate", None, 1),
            ("activate", None, 2)} <= ops
    convs = [i for i in program.instructions if i.op == "set_conv"]
    assert any(c.taps_per_row > 1 for c in convs) and any(c.taps_per_row == 1 for c in convs)
    assert any(i.op == "activate" and i.column for i in program.instructions)
    x = quantize_input(program.inputs[0], rng.standard_normal((2, 3, 8, 8)))
    data = _host_bytes(program, {program.inputs[0].name: x})
    assert_same_run(program, data)


def _identity(shift: int = 1, unsigned: bool = False) -> ActivateTable:
    """x * 2^(shift - 1), clamped to int8 (or uint8)."""
    lo, hi = (0, 255) if unsigned else (-128, 127)
    return ActivateTable(0, 0, lo, hi, unsigned, np.zeros(256, np.int64),
                         np.full(256, 1 << 30, np.int64), np.full(256, shift, np.int64))


def _program(ins: list[Instruction], image: bytes, rows_in: int, rows_out: int,
             at_out: int) -> Program:
    x = TensorDesc("x", (rows_in, 256), "u8", 1.0, 0, 0)
    y = TensorDesc("y", (rows_out, 256), "i8", 1.0, 0, rows_in * 256)
    ins = [Instruction("read_host", host=0, ub=0, rows=rows_in, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0), *ins,
           Instruction("write_host", host=rows_in * 256, ub=at_out, rows=rows_out,
                       row_bytes=256, host_stride=256),
           Instruction("sync", kind=0), Instruction("halt")]
    return Program(ins, image, [x], [y], "tpu-v1")


def _tiles(rng: np.random.Generator) -> list[np.ndarray]:
    dense = rng.integers(-128, 128, (256, 256)).astype(np.int8)
    corner = np.zeros((256, 256), np.int8)
    corner[3:70, 100:133] = rng.integers(-128, 128, (67, 33))
    diagonal = np.zeros((256, 256), np.int8)
    np.fill_diagonal(diagonal[5:200, 5:200], rng.integers(-128, 128, 195))
    return [dense, corner, diagonal, np.zeros((256, 256), np.int8),
            np.full((256, 256), 127, np.int8)]


def _passes_program(rng: np.random.Generator, rows: int) -> Program:
    """Matrix passes in the patterns the fast executor batches or must not batch."""
    tiles = _tiles(rng)
    table_at = len(tiles) * TILE
    image = b"".join(t.view(np.uint8).tobytes() for t in tiles) + _identity(-6).encode()

    def mm(tile, length=rows, **f):
        return [Instruction("read_weights", dram=tile * TILE, count=1),
                Instruction("matmul", switch=1, length=length, **f)]

    ins = [Instruction("load_table", slot=3, dram=table_at)]
    ins += mm(0, ub=0, acc=0, unsigned=1) + mm(1, accumulate=1, ub=rows, acc=0, unsigned=1)
    ins += mm(3, accumulate=1, ub=2 * rows, acc=0, unsigned=1)  # an all-zero tile
    ins += mm(2, ub=0, acc=rows) + mm(2, accumulate=1, ub=rows, acc=rows)  # diagonal, int8
    ins += mm(0, accumulate=1, ub=2 * rows, acc=rows)  # dense after diagonal
    # output blocks of one layer: the same inputs into other rows, each activated
    for block in range(3):
        acc = 2 * rows + block * rows
        ins += mm(0, ub=0, acc=acc, unsigned=1)
        ins += mm(4, accumulate=1, ub=rows, acc=acc, unsigned=1)
        ins.append(Instruction("activate", src=acc, ub=4 * rows + block * rows, rows=rows,
                               table=3, lanes=256))
        if block == 1:  # overwrites input rows the next block reads
            ins.append(Instruction("activate", src=acc, ub=rows, rows=rows, table=3,
                                   lanes=200, column=56))
    # sums past int32 (kept exactly; no activate reads them)
    ins += mm(4, ub=3 * rows, acc=9 * rows, length=1, unsigned=1)
    for _ in range(300):
        ins.append(Instruction("matmul", accumulate=1, ub=3 * rows, acc=9 * rows, length=1,
                               unsigned=1))
    # the lanes a pass does not write read as zero (the fast machine clears them only
    # when they are read): rows a dense tile filled, overwritten by a corner tile and
    # activated whole, or then accumulated by a dense tile; a diagonal tile's too
    for at in (10, 11, 12):
        ins += mm(0, ub=rows, acc=at * rows, unsigned=1)
        ins += mm(2 if at == 12 else 1, ub=0, acc=at * rows, unsigned=1)
    ins.append(Instruction("activate", src=10 * rows, ub=9 * rows, rows=rows, table=3,
                           lanes=256))
    ins.append(Instruction("activate", src=12 * rows, ub=11 * rows, rows=rows, table=3,
                           lanes=256))
    ins += mm(0, accumulate=1, ub=rows, acc=11 * rows, unsigned=1)
    ins += mm(0, ub=rows, acc=13 * rows, unsigned=1) + mm(1, ub=0, acc=13 * rows, unsigned=1)
    ins += mm(2, accumulate=1, ub=0, acc=13 * rows, unsigned=1)  # diagonal over a corner
    ins.append(Instruction("activate", src=13 * rows, ub=12 * rows, rows=rows, table=3,
                           lanes=256))
    ins.append(Instruction("activate", src=11 * rows, ub=10 * rows, rows=rows, table=3,
                           lanes=256))
    ins.append(Instruction("activate", src=0, ub=7 * rows, rows=2 * rows, table=3, lanes=256))
    return _program(ins, image, 4 * rows, 5 * rows, 4 * rows)


def test_matrix_passes_in_every_pattern():
    rng = np.random.default_rng(22)
    rows = 7
    data = rng.integers(0, 256, 4 * rows * 256).astype(np.uint8)
    data[3 * rows * 256:] = 255  # 300 passes of 255 x 127 x 256 leave int32
    program = _passes_program(rng, rows)
    assert_same_run(program, data.tobytes())
    # blocks 0 and 1 were multiplied together; block 2 (after the overwrite) alone
    assert sorted(len(p) for p in program.decoded_tiles["plans"][1].values() if p) == [1]


@pytest.mark.parametrize("shift_rows", [0, 2, -2])
def test_vector_units_writing_over_their_inputs(shift_rows):
    """activate (from the Unified Buffer, partial lanes at a column, a lookup table)
    and add, each writing rows that overlap the rows they read."""
    rows, at = 9, 4
    dst = at + shift_rows
    lut = np.random.default_rng(23).integers(-128, 128, 256).astype(np.int8)
    act = ActivateTable(10, 3, 0, 255, True, np.zeros(256, np.int64),
                        np.full(256, 1 << 30, np.int64), np.zeros(256, np.int64), lut)
    add = AddTable(3, -5, 1, -100, 127, False, 20, (1 << 30, 1 << 30, 1 << 30), (0, 0, -19))
    image = act.encode() + add.encode()
    ins = [Instruction("load_table", slot=1, dram=0),
           Instruction("load_table", slot=2, dram=len(act.encode())),
           Instruction("activate", src_ub=1, src=at, ub=dst, rows=rows, table=1, lanes=100,
                       column=30),
           Instruction("activate", src_ub=1, function=1, src=at, ub=dst + 1, rows=rows,
                       table=1, lanes=256),
           Instruction("add", src_a=at, src_b=at + 3, ub=dst, rows=rows, table=2)]
    data = np.random.default_rng(24).integers(0, 256, 2 * rows * 256).astype(np.uint8)
    assert_same_run(_program(ins, image, 2 * rows, rows + 8, 0), data.tobytes())


@pytest.mark.parametrize(("row_bytes", "host_stride"), [(256, 256), (100, 256), (64, 300),
                                                        (200, 120), (50, 0), (1, 1)])
def test_host_transfers_with_any_stride(row_bytes, host_stride):
    """read_host and write_host of rows at a host stride: gaps between rows, rows that
    overlap in host memory (the later row's bytes win), a stride of zero; the fast
    machine moves them as strided views of the host buffer."""
    rows = 6
    ins = [Instruction("read_host", host=7, ub=20, rows=rows, row_bytes=row_bytes,
                       host_stride=host_stride),
           Instruction("sync", kind=0),
           Instruction("write_host", host=3 * 256 + 11, ub=17, rows=rows,
                       row_bytes=row_bytes, host_stride=host_stride)]
    data = np.random.default_rng(27).integers(0, 256, 3 * 256).astype(np.uint8)
    assert_same_run(_program(ins, b"", 3, 30, 0), data.tobytes(), engines=("numpy",))


def _conv_program(per_row: int, channels: int, pad_value: int, sum_pool: bool) -> Program:
    """A 5x6 image (one pixel per row) through a packed-tap convolution and pools."""
    rng = np.random.default_rng(25)
    geometry = dict(in_h=5, in_w=6, out_h=3, out_w=3, kernel_h=3, kernel_w=3, stride_h=2,
                    stride_w=2, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1,
                    pad_value=pad_value)
    tile = rng.integers(-128, 128, (256, 256)).astype(np.int8)
    image = tile.view(np.uint8).tobytes() + _identity(-5).encode()
    ins = [Instruction("read_weights", dram=0, count=1), Instruction("load_table", slot=0,
                                                                      dram=TILE)]
    for tap in range(0, 9, per_row):
        ins.append(Instruction("set_conv", **geometry, taps_per_row=per_row,
                               channels=channels, first_pixel=2))
        ins.append(Instruction("matmul", switch=int(tap == 0), accumulate=int(tap > 0),
                               conv=1, tap=tap, ub=0, acc=0, length=7, unsigned=1))
    ins.append(Instruction("set_conv", **geometry, taps_per_row=1))
    ins.append(Instruction("pool", sum=int(sum_pool), src=0, dst=40, length=9))
    ins += [Instruction("activate", src=0, ub=30, rows=7, table=0, lanes=256)]
    return _program(ins, image, 30, 20, 30)


@pytest.mark.parametrize(("per_row", "channels"), [(1, 0), (2, 100), (3, 64), (4, 5),
                                                    (9, 20)])
@pytest.mark.parametrize("sum_pool", [False, True])
@pytest.mark.parametrize("pool_group", [None, 2 * 256 * 9])  # all 9 taps, or 2 at once
def test_convolution_windows_and_pools(monkeypatch, per_row, channels, sum_pool,
                                       pool_group):
    import qcc.backends.tpu_v1.simulator as simulator

    if pool_group:  # the pool gathers its taps in groups of 2 (the last alone)
        monkeypatch.setattr(simulator, "_POOL_GATHER_BYTES", pool_group)
    data = np.random.default_rng(26).integers(0, 256, 30 * 256).astype(np.uint8)
    assert_same_run(_conv_program(per_row, channels, 200, sum_pool), data.tobytes())


def test_execute_reference_takes_and_gives_what_execute_does():
    program = _conv_program(3, 64, 200, True)
    x = np.random.default_rng(27).integers(0, 256, (30, 256)).astype(np.uint8)
    want = execute(program, {"x": x})
    got = execute_reference(program, {"x": x})
    assert list(got) == list(want) == ["y"]
    np.testing.assert_array_equal(got["y"], want["y"])


BAD = {
    "past the end": [Instruction("nop")],
    "full FIFO": [Instruction("read_weights", dram=0, count=5)],
    "empty FIFO": [Instruction("matmul", switch=1, length=1)],
    "no tile": [Instruction("matmul", length=1)],
    "no table": [Instruction("activate", rows=1, table=4, lanes=256)],
    "no geometry": [Instruction("pool", length=1)],
    "weights outside": [Instruction("read_weights", dram=TILE, count=1)],
    "rows outside": [Instruction("read_weights", dram=0, count=1),
                     Instruction("matmul", switch=1, acc=4090, length=10)],
    "overflow": [Instruction("read_weights", dram=0, count=1),
                 Instruction("matmul", switch=1, unsigned=1, length=1),
                 *[Instruction("matmul", accumulate=1, unsigned=1, length=1)] * 300,
                 Instruction("load_table", slot=0, dram=TILE),
                 Instruction("activate", rows=1, table=0, lanes=256)],
}


@pytest.mark.parametrize("name", BAD)
def test_the_same_errors(name):
    """A program the machine cannot run stops both machines with the same message."""
    ins = [Instruction("read_host", host=0, ub=0, rows=1, row_bytes=256, host_stride=256),
           *BAD[name]]
    if name != "past the end":
        ins.append(Instruction("halt"))
    image = np.full(TILE, 127, np.int8).tobytes() + _identity().encode()
    x = TensorDesc("x", (1, 256), "u8", 1.0, 0, 0)
    program = Program(ins, image, [x], [], "tpu-v1")  # a 4-deep weight FIFO
    assert load_target("tpu-v1").weights.fifo_depth == 4
    reference = ReferenceMachine(program, program.resolve_target())
    error = _run(reference, b"\xff" * 256)
    assert error is not None
    assert_same_run(program, b"\xff" * 256)
