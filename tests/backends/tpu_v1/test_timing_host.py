"""Host transfers overlapped with compute (backends/tpu_v1/hostio.py, the timing
model's full-duplex host link and ``sync kind=2``; docs/cost-model.md §2, §5):
micro-programs against their closed forms, a hand-built 4096x4096 GEMM at batch
2048 in the emitter's pattern before and after the rewrite, and compiled models
(inputs in chunks, outputs written early) that stay bit-exact with the integer IR."""

from __future__ import annotations

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1 import hostio, isa
from qcc.backends.tpu_v1.asm import assemble, disassemble
from qcc.backends.tpu_v1.binary import load_binary, serialize
from qcc.backends.tpu_v1.compile import compile_module
from qcc.backends.tpu_v1.emit import Emitter
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.memory import Buffer
from qcc.backends.tpu_v1.program import TensorDesc
from qcc.backends.tpu_v1.runtime import run_program
from qcc.backends.tpu_v1.target import load_target
from qcc.backends.tpu_v1.timing import Options, estimate, estimate_program
from qcc.diagnostics import QccError
from qcc.interpreter import run
from qcc.testing.models import _Builder

TPU = load_target("tpu-v1")
ISSUE = TPU.timing.issue_cycles
FILL_DRAIN = TPU.timing.fill_drain_cycles
MIB = 1 << 20
LINK = MIB / TPU.host_bytes_per_cycle  # cycles to move 1 MiB over PCIe
ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


# ---------------------------------------------------------------- micro-programs
def test_a_read_and_a_write_together_take_one_transfer():
    """Full duplex: a 1 MiB read and a 1 MiB write issued together end one transfer
    after the write's issue; two reads take two transfers (one channel each way)."""
    move = dict(rows=4096, row_bytes=256, host_stride=256)
    both = [Instruction("read_host", **move), Instruction("write_host", **move),
            Instruction("sync", kind=0), Instruction("halt")]
    r = estimate(both, TPU)
    assert r.cycles == pytest.approx(ISSUE + LINK + ISSUE)  # write issued at 10; halt
    assert r.total.host_read_bytes == r.total.host_write_bytes == MIB
    reads = [Instruction("read_host", **move), Instruction("read_host", **move),
             Instruction("sync", kind=0), Instruction("halt")]
    assert estimate(reads, TPU).cycles == pytest.approx(2 * LINK + ISSUE)


def test_sync_vector_waits_for_the_vector_units_only():
    """A short matmul and its activate, then a long matmul, then a sync and a 1 MiB
    write-back of the activate's rows: after ``sync kind=2`` the write starts once
    the activate is done; after ``kind=1`` once the long matmul has drained too,
    2048 - 1 cycles later (tiles at once: the long matmul's rows follow the short
    one's, and the activate ends one cycle after the short one's last row drained)."""
    def prog(kind: int) -> list[Instruction]:
        return [Instruction("read_weights", count=2),
                Instruction("matmul", switch=1, acc=0, length=256),
                Instruction("activate", src=0, ub=0, rows=256, table=0, lanes=256),
                Instruction("matmul", switch=1, acc=2048, ub=256, length=2048),
                Instruction("sync", kind=kind),
                Instruction("write_host", rows=4096, row_bytes=256, host_stride=256),
                Instruction("sync", kind=0), Instruction("halt")]
    fast = Options(infinite_weight_bandwidth=True)
    vector, units = estimate(prog(2), TPU, options=fast), estimate(prog(1), TPU,
                                                                    options=fast)
    # the first tile shifts in from its arrival (0: infinite bandwidth); the activate
    # streams behind the drain and ends one cycle after the last row drained
    shift, act_end = 256, 256 + 256 + FILL_DRAIN + 1
    assert vector.cycles == pytest.approx(act_end + LINK + ISSUE)
    assert units.cycles - vector.cycles == pytest.approx(2048 - 1)
    assert vector.total.raw_stall_cycles < units.total.raw_stall_cycles
    assert shift == TPU.weights.shift_cycles


def test_an_unknown_sync_kind_is_refused_everywhere(tmp_path, capsys):
    with pytest.raises(QccError, match=r"instruction 0 \(sync\): unknown sync kind 3 "
                                       r"\(0: host, 1: units, 2: vector units\)"):
        estimate([Instruction("sync", kind=3), Instruction("halt")], TPU)
    head = '.target "tpu-v1"\n'
    program = assemble(head + "sync kind=2\nhalt\n", "ok.s")
    assert program.instructions[0].kind == 2
    assert assemble(disassemble(program), "again.s").instructions == program.instructions
    bad = tmp_path / "bad.s"
    bad.write_text(head + "sync kind=3\nhalt\n")
    from qcc.cli import main
    capsys.readouterr()
    assert main(["asm", str(bad), "-o", str(tmp_path / "bad.tpu")]) == 2
    err = capsys.readouterr().err
    assert "bad.s:2" in err and "kind 3 is outside 0..2" in err
    assert "Traceback" not in err


def test_matrix_program_time_excludes_host_waits():
    """device_seconds/device_tops (the paper's terms): the latency less the
    host-transfer stall; the report's format() says both."""
    move = dict(rows=4096, row_bytes=256, host_stride=256)
    prog = [Instruction("read_host", **move), Instruction("sync", kind=0),
            Instruction("read_weights", count=1),
            Instruction("matmul", switch=1, acc=0, length=4096),
            Instruction("sync", kind=1), Instruction("halt")]
    r = estimate(prog, TPU)
    stall = r.total.host_stall_cycles
    assert stall == pytest.approx(LINK - 2 * ISSUE)
    assert r.device_cycles() == pytest.approx(r.cycles - stall)
    assert r.device_seconds() == pytest.approx(r.device_cycles() * TPU.cycle_s)
    assert r.device_tops() == pytest.approx(2 * r.total.useful_macs / r.device_seconds()
                                            / 1e12)
    assert r.device_tops() > r.tops()
    text = r.format()
    assert f"latency {r.latency_s * 1e6:.2f} us" in text
    assert f"matrix program {r.device_seconds() * 1e6:.2f} us, {r.device_tops():.2f} " \
        "TOPS" in text


# ---------------------------------------------------------------- the rewrite
def _gemm(k_tiles: int, n_tiles: int, rows: int) -> tuple[list, list, list]:
    """[rows, 256 k] x [256 k, 256 n] in the emitter's pattern with its program I/O:
    the input read whole, a host sync, per output tile the matmuls over K (tiles
    read four ahead) and the activate; a units sync, the output written whole, a
    host sync, halt. Returns (stream, inputs, outputs) as emission has them."""
    x = Buffer(0, k_tiles, rows, [256] * k_tiles)
    y = Buffer(x.rows, n_tiles, rows, [256] * n_tiles)
    inp = hostio.Transfer(TensorDesc("x", (rows, 256 * k_tiles), "i8", 1.0, 0, 0), x)
    out = hostio.Transfer(TensorDesc("y", (rows, 256 * n_tiles), "i8", 1.0, 0,
                                     rows * 256 * k_tiles), y)
    s: list = []
    for b in range(k_tiles):
        inp.indices.append(len(s))
        s.append(inp.move(isa.READ_HOST, x.block(b), x.block(b) + rows))
    s.append((isa.SYNC, {"kind": 0}))
    for nb in range(n_tiles):
        tiles = [(nb * k_tiles + k) * 65536 for k in range(k_tiles)]
        acc = nb % 2 * 2048  # accumulator halves alternate
        s += [(isa.READ_WEIGHTS, {"dram": t, "count": 1}) for t in tiles[:4]]
        for kb in range(k_tiles):
            s.append((isa.MATMUL, {"switch": 1, "accumulate": int(kb > 0),
                                   "ub": x.block(kb), "acc": acc, "length": rows}))
            if kb + 4 < k_tiles:
                s.append((isa.READ_WEIGHTS, {"dram": tiles[kb + 4], "count": 1}))
        s.append((isa.ACTIVATE, {"src": acc, "ub": y.block(nb), "rows": rows, "table": 0,
                                 "lanes": 256}))
    s.append((isa.SYNC, {"kind": 1}))
    for b in range(n_tiles):
        out.indices.append(len(s))
        s.append(out.move(isa.WRITE_HOST, y.block(b), y.block(b) + rows))
    s += [(isa.SYNC, {"kind": 0}), (isa.HALT, {})]
    return s, [inp], [out]


def _instructions(stream) -> list[Instruction]:
    return [Instruction(d, **a) for d, a in stream]


def _check_order(stream, inputs, outputs) -> None:
    """What the rewrite must keep: every input row read once, before anything touches
    it and with a host sync in between; every output row written once, after its last
    writer and with a vector or units sync in between."""
    inp, out = inputs[0].buf, outputs[0].buf
    read = np.zeros(inp.rows, int)
    synced = np.zeros(inp.rows, bool)
    written = np.zeros(out.rows, int)
    final = np.zeros(out.rows, bool)  # last writer done (a sync since)
    pending: list[tuple[int, int]] = []
    for d, a in stream:
        if d is isa.READ_HOST:
            read[a["ub"] - inp.base:a["ub"] - inp.base + a["rows"]] += 1
        elif d is isa.SYNC and a["kind"] == 0:
            synced |= read > 0
        elif d is isa.SYNC:
            for lo, hi in pending:
                final[lo:hi] = True
            pending = []
        elif d is isa.MATMUL:
            lo = a["ub"] - inp.base
            assert synced[lo:lo + a["length"]].all()
        elif d is isa.ACTIVATE:
            lo = a["ub"] - out.base
            pending.append((lo, lo + a["rows"]))
        elif d is isa.WRITE_HOST:
            lo = a["ub"] - out.base
            assert final[lo:lo + a["rows"]].all()
            written[lo:lo + a["rows"]] += 1
    assert (read == 1).all() and (written == 1).all()


def test_the_gemm_overlaps_its_transfers_with_the_matrix_work():
    """[2048 x 4096] x [4096 x 4096]: before, the 8 MiB input, the matrix program and
    the 8 MiB output follow one another (35 TOPS end to end). After: the input in 16
    chunks (one per channel block, in the order the first output tile's matmuls read
    them), each output tile written while the next one computes. The matrix program
    (host waits excluded) keeps > 85 TOPS. End to end the input still bounds the
    first output tile's pass (every output needs all of K), so the latency is the
    input transfer + the other 15 tiles' passes + the last tile's write-back, no more
    (closed form, within 0.1%)."""
    stream, inputs, outputs = _gemm(16, 16, 2048)
    before = estimate(_instructions(stream), TPU, batch=2048)
    new, layers, macs = hostio.overlap_host_transfers(
        stream, ["program"] * len(stream), [0] * len(stream), inputs, outputs,
        FILL_DRAIN + TPU.weights.shift_cycles)
    assert len(layers) == len(macs) == len(new)
    _check_order(new, inputs, outputs)
    reads = [a for d, a in new if d is isa.READ_HOST]
    assert len(reads) == 16
    assert sum(1 for d, a in new if d is isa.SYNC and a["kind"] == 2) == 15
    after = estimate(_instructions(new), TPU, batch=2048)
    block = 2048 * 256 / TPU.host_bytes_per_cycle  # one channel block over PCIe
    pass_cycles = 16 * 2048  # one output tile: 16 matmuls of 2048 rows
    compute = before.device_cycles()
    assert before.cycles == pytest.approx(16 * block + compute + 16 * block, rel=1e-3)
    assert before.tops() == pytest.approx(35.2, abs=0.1)
    # the last input block, then its matmul, the other 15 tiles, the last drain and
    # the last row's activation (the activate streams behind the drain), the last
    # tile's write-back
    floor = 16 * block + 2048 + 15 * pass_cycles + FILL_DRAIN + 1 + block
    assert floor < after.cycles < floor * 1.001
    assert after.tops() == pytest.approx(51.1, abs=0.1)
    assert after.device_tops() > 85
    assert after.total.host_read_bytes == after.total.host_write_bytes == 8 * MIB
    # the same bytes move: the rewrite changes when, not what
    assert after.total.ub_read_bytes == before.total.ub_read_bytes


def test_chunks_are_bounded():
    """An input touched in many small pieces is read in at most MAX_CHUNKS chunks of
    at least MIN_CHUNK_ROWS rows each (the last may be shorter)."""
    x = Buffer(0, 1, 8192, [256])
    inp = hostio.Transfer(TensorDesc("x", (8192, 256), "i8", 1.0, 0, 0), x, [0])
    stream = [inp.move(isa.READ_HOST, 0, 8192), (isa.SYNC, {"kind": 0}),
              (isa.READ_WEIGHTS, {"count": 1})]
    stream += [(isa.MATMUL, {"switch": int(m == 0), "ub": m, "acc": 0, "length": 64})
               for m in range(0, 8192, 64)]
    stream.append((isa.HALT, {}))
    new, _, _ = hostio.overlap_host_transfers(stream, ["p"] * len(stream),
                                              [0] * len(stream), [inp], [])
    rows = [a["rows"] for d, a in new if d is isa.READ_HOST]
    assert len(rows) == 16 and sum(rows) == 8192 and min(rows[:-1]) >= 512
    small = hostio.Transfer(TensorDesc("x", (300, 256), "i8", 1.0, 0, 0),
                            Buffer(0, 1, 300, [256]), [0])
    stream[0] = small.move(isa.READ_HOST, 0, 300)
    new, _, _ = hostio.overlap_host_transfers(stream, ["p"] * len(stream),
                                              [0] * len(stream), [small], [])
    assert [a["rows"] for d, a in new if d is isa.READ_HOST] == [256, 44]


def test_untouched_and_unknown_rows_are_read_first():
    """Rows nothing reads come with the first chunk; an instruction whose UB rows are
    not known (a pool before any set_conv) waits for the whole input."""
    x = Buffer(0, 1, 1024, [256])
    inp = hostio.Transfer(TensorDesc("x", (1024, 256), "i8", 1.0, 0, 0), x, [0])
    stream = [inp.move(isa.READ_HOST, 0, 1024), (isa.SYNC, {"kind": 0}),
              (isa.READ_WEIGHTS, {"count": 1}),
              (isa.MATMUL, {"switch": 1, "ub": 0, "acc": 0, "length": 512}),
              (isa.MATMUL, {"ub": 512, "acc": 0, "length": 256}),
              (isa.HALT, {})]
    new, _, _ = hostio.overlap_host_transfers(stream, ["p"] * 6, [0] * 6, [inp], [])
    reads = [(a["ub"], a["rows"]) for d, a in new if d is isa.READ_HOST]
    assert reads[:2] == [(0, 512), (768, 256)] and reads[2] == (512, 256)
    stream[4] = (isa.POOL, {"src": 0, "dst": 2000, "length": 1})
    new, _, _ = hostio.overlap_host_transfers(stream, ["p"] * 6, [0] * 6, [inp], [])
    ops = [(d.mnemonic, a.get("kind", a.get("ub"))) for d, a in new]
    assert ops.index(("pool", None)) > ops.index(("read_host", 512)) + 1
    assert ops[ops.index(("pool", None)) - 1] == ("sync", 0)


# ---------------------------------------------------------------- compiled models
def _compiled(model, batch: int, calib: dict, overlap: bool = True):
    module = qcc.import_onnx(model, batch)
    qcc.quantize_model(module, calib_data=calib)
    Emitter.overlap_host = overlap
    try:
        return module, compile_module(module, TPU)
    finally:
        Emitter.overlap_host = True


def _bit_exact(module, compiled, seed: int = 1) -> dict:
    """The program's output codes equal the integer IR's, also after a trip through
    the binary; returns them."""
    shape = module.main.args[0].type.shape
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    seen: dict = {}
    run(module, {"input": x}, observer=seen.__setitem__)
    g = module.main
    want = {n: seen[v.op.input] for n, v in zip(g.output_names, g.outputs, strict=True)}
    q_in = {n: seen[a.users[0].output] for n, a in zip(g.input_names, g.args, strict=True)}
    for program in (compiled.program, load_binary(serialize(compiled.program))):
        got = run_program(program, q_in, quantized=True, engine="numpy")
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    return want


@pytest.fixture(scope="module")
def digits_calib():
    return {"input": np.load(ROOT / "examples" / "data" / "digits_calib.npz")["input"]}


def test_a_compiled_cnn_reads_its_input_in_chunks_bit_exact(digits_calib):
    """digits_cnn at batch 64: the first convolution's two output-pixel chunks each
    read their own input pixels (window halo included), the second while the first
    computes; the binary is bit-exact with the integer IR and its latency is below
    the whole-input program's."""
    path = str(ROOT / "examples" / "models" / "digits_cnn.onnx")
    module, chunked = _compiled(path, 64, digits_calib)
    _, whole = _compiled(path, 64, digits_calib, overlap=False)
    name = chunked.program.inputs[0].name
    reads = [i for i in chunked.program.instructions if i.op == "read_host"]
    assert len(reads) == 2 and sum(i.rows for i in reads) == 64 * 8 * 8
    first_matmul = next(k for k, i in enumerate(chunked.program.instructions)
                        if i.op == "matmul")
    assert chunked.program.instructions.index(reads[1]) < first_matmul
    assert len([i for i in whole.program.instructions if i.op == "read_host"]) == 1
    _bit_exact(module, chunked)
    assert name == whole.program.inputs[0].name
    t_chunked = estimate_program(chunked.program, TPU)
    t_whole = estimate_program(whole.program, TPU)
    assert t_chunked.cycles < t_whole.cycles
    assert t_chunked.total.host_stall_cycles < t_whole.total.host_stall_cycles


def test_multi_block_input_and_output_bit_exact():
    """A dense layer with 600 inputs and 300 outputs (three and two channel blocks)
    at batch 1024: one chunk per input block, the first output block written while
    the second computes (after a vector sync), bit-exact."""
    b = _Builder("wide", 0)
    model = b.model([1024, 600], b.gemm("input", 600, 300), [1024, 300])
    calib = {"input": np.random.default_rng(0).standard_normal((16, 600))
             .astype(np.float32)}
    module, compiled = _compiled(model, 1024, calib)
    ins = compiled.program.instructions
    ops = [i.op for i in ins]
    reads = [i for i in ins if i.op == "read_host"]
    assert [(i.rows, i.row_bytes) for i in reads] == [(1024, 256), (1024, 256), (1024, 88)]
    writes = [k for k, i in enumerate(ins) if i.op == "write_host"]
    last_matmul = len(ops) - 1 - ops[::-1].index("matmul")
    assert writes[0] < last_matmul < writes[1]
    assert ins[writes[0] - 1].op == "sync" and ins[writes[0] - 1].kind == 2
    _bit_exact(module, compiled)
    # the compile report's totals: end to end and the matrix program
    report = compiled.report()
    timing = estimate_program(compiled.program, TPU)
    t = report.totals
    assert t["matrix_program_us"] == pytest.approx(timing.device_seconds() * 1e6)
    assert t["matrix_program_tops"] == pytest.approx(timing.device_tops())
    assert t["matrix_program_us"] < t["latency_us"]
    assert f"{t['matrix_program_tops']:.3f} TOPS" in report.to_markdown()
