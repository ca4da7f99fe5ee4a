"""The simulator's matrix engines (backends/tpu_v1/engines.py) give identical, exact
integer sums, and the simulator's int32 overflow check fires exactly when a layer's
value leaves int32, whichever engine multiplies."""

from __future__ import annotations

import numpy as np
import pytest

from qcc.backends.tpu_v1 import engines
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.backends.tpu_v1.simulator import Machine, MachineError, _Tile
from qcc.backends.tpu_v1.tables import ActivateTable
from qcc.backends.tpu_v1.target import load_target
from qcc.diagnostics import QccError

ENGINES = ["numpy", "onnxruntime"]


def _tile_cases(rng: np.random.Generator) -> list[np.ndarray]:
    full = rng.integers(-128, 128, (256, 256), dtype=np.int8)
    corner = np.zeros((256, 256), np.int8)
    corner[3:70, 100:133] = rng.integers(-128, 128, (67, 33), dtype=np.int8)
    diagonal = np.diag(rng.integers(-128, 128, 256, dtype=np.int8))
    extreme = np.full((256, 256), -128, np.int8)
    return [full, corner, diagonal, extreme, np.zeros((256, 256), np.int8)]


def test_engines_agree_with_exact_integer_products():
    rng = np.random.default_rng(3)
    tiles = _tile_cases(rng)
    numpy_engine = engines.select_engine("numpy")
    fast = engines.select_engine("onnxruntime")
    assert fast.name == "onnxruntime"
    for w in tiles:
        t = _Tile.decode(w)
        if t.diagonal is not None or not t.weights.size:
            continue  # the simulator multiplies those itself
        for rows in (1, 37, 300):
            x = rng.integers(0, 256, (rows, t.rows.stop - t.rows.start), dtype=np.uint8)
            x[0] = 255  # the extremes, where 16-bit intermediate sums would saturate
            for unsigned in (True, False):
                v = x.astype(np.int64) if unsigned else x.view(np.int8).astype(np.int64)
                want = v @ t.weights.astype(np.int64)
                for engine in (numpy_engine, fast):
                    got = engine.multiply(x, unsigned, t.weights, t.block)
                    np.testing.assert_array_equal(np.asarray(got, np.int64), want,
                                                  err_msg=engine.name)


def test_tiles_keep_only_their_nonzero_block():
    rng = np.random.default_rng(4)
    full, corner, diagonal, _, zero = _tile_cases(rng)
    t = _Tile.decode(corner)
    assert (t.rows, t.cols) == (slice(3, 70), slice(100, 133)) and t.diagonal is None
    t = _Tile.decode(diagonal)
    nz = np.flatnonzero(np.diagonal(diagonal))
    assert t.diagonal is not None and t.rows == t.cols == slice(int(nz[0]), int(nz[-1]) + 1)
    t = _Tile.decode(zero)
    assert not t.weights.size and t.abs_col_sum == 0
    assert _Tile.decode(full).abs_col_sum == int(np.abs(full.astype(np.int64)).sum(0).max())


def test_unknown_engine_is_a_clean_error():
    with pytest.raises(QccError, match="unknown matrix engine 'gpu'"):
        engines.select_engine("gpu")


def _accumulating_program(passes: int, weight: int, unsigned: bool,
                          bias: int | None = None) -> Program:
    """Input row of 127s (or 255s), a tile of ``weight``s, ``passes`` accumulating
    matmuls into accumulator row 0; with ``bias``, an activate of that row adding it
    (multiplier 2^-31: the output is 0 unless the sum overflows)."""
    x = TensorDesc("x", (1, 256), "u8" if unsigned else "i8", 1.0, 0, 0)
    y = TensorDesc("y", (1, 256), "i8", 1.0, 0, 256)
    ins = [Instruction("read_host", host=0, ub=0, rows=1, row_bytes=256, host_stride=256),
           Instruction("sync", kind=0), Instruction("read_weights", dram=0, count=1)]
    ins += [Instruction("matmul", switch=int(k == 0), accumulate=int(k > 0), ub=0, acc=0,
                        length=1, unsigned=int(unsigned)) for k in range(passes)]
    weights = bytes(np.full(65536, weight, np.int8).view(np.uint8))
    if bias is not None:
        table = ActivateTable(0, 0, -128, 127, False, np.full(256, bias, np.int64),
                              np.full(256, 1 << 30, np.int64), np.full(256, -30, np.int64))
        ins += [Instruction("load_table", slot=0, dram=len(weights)),
                Instruction("activate", src_ub=0, function=0, src=0, ub=1, rows=1, table=0,
                            lanes=256, column=0)]
        weights += table.encode()
    ins.append(Instruction("halt"))
    return Program(ins, weights, [x], [y], "tpu-v1")


def _machine(passes: int, weight: int, unsigned: bool, value: int, engine: str,
             bias: int | None = None) -> Machine:
    m = Machine(_accumulating_program(passes, weight, unsigned, bias), load_target("tpu-v1"),
                engine)
    m.host[:256] = np.full(256, value, np.uint8 if unsigned else np.int8).view(np.uint8).tobytes()
    return m


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("value", "weight", "unsigned"),
                         [(127, 127, False), (-128, -128, False), (255, -128, True)])
def test_accumulator_overflow_is_caught_exactly_at_int32(engine, value, weight, unsigned):
    """quant_arith's rule: raw sums past int32 are kept exactly (the registers wrap
    around, which cannot change a value that fits), and activate stops when the layer's
    value, sum + bias, leaves int32: exactly there, whichever engine multiplies."""
    per_pass = value * weight * 256
    limit = (2**31 - 1) // per_pass if per_pass > 0 else (2**31) // -per_pass
    over = _machine(limit + 1, weight, unsigned, value, engine)
    over.run()  # past int32, no activate: nothing to check
    assert (over._exact(slice(0, 1))[0] == (limit + 1) * per_pass).all()
    assert (over.acc[0] == np.int64((limit + 1) * per_pass).astype(np.int32)).all()
    # the bias takes it back into int32: no error, and the exact value requantized
    back = _machine(limit + 1, weight, unsigned, value, engine, bias=-per_pass)
    back.run()
    # limit x per_pass x 2^-31 rounds to +-1
    assert (back.ub[1].view(np.int8) == np.sign(per_pass)).all()
    edge = 2**31 - 1 if per_pass > 0 else -2**31
    fits = _machine(limit, weight, unsigned, value, engine, bias=edge - limit * per_pass)
    fits.run()
    outside = edge + (1 if per_pass > 0 else -1)
    past = _machine(limit, weight, unsigned, value, engine,
                    bias=outside - limit * per_pass)
    with pytest.raises(MachineError, match=rf"instruction \d+ \(activate\): int32 accumulator "
                                           rf"overflow: a sum reaches {outside},"):
        past.run()


def _tiles(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Dense tiles with the same output lanes 5..200, of different input widths, the
    first at the extremes."""
    tiles = []
    for k in range(count):
        w = np.zeros((256, 256), np.int8)
        width = 256 if k % 2 == 0 else 100
        w[:width, 5:200] = -128 if k == 0 else rng.integers(-128, 128, (width, 195))
        tiles.append(w)
    return tiles


@pytest.mark.parametrize("engine", ENGINES)
def test_one_product_over_many_tiles_is_exact(engine):
    """multiply_sum (consecutive passes into the same rows taken in one product, and
    the same inputs times several output blocks' weights side by side) gives the
    exact int64 sums, at the extremes where 16-bit intermediate sums would saturate,
    for signed and unsigned inputs, each time the same weights are used again."""
    rng = np.random.default_rng(8)
    tiles = [_Tile.decode(w) for w in _tiles(rng, 9)]
    eng = engines.select_engine(engine)
    for unsigned in (True, False):
        xs = [rng.integers(0, 256, (50, t.rows.stop), dtype=np.uint8) for t in tiles]
        xs[0][:] = 255 if unsigned else 0x80  # the extremes: 255 or -128
        stacked = np.concatenate([t.weights for t in tiles])
        two_blocks = np.concatenate([stacked, stacked[:, ::-1]], axis=1)
        x = np.concatenate([a.astype(np.int64) if unsigned else
                            a.view(np.int8).astype(np.int64) for a in xs], axis=1)
        cache: dict = {}
        for key, w in ((("one",), stacked), (("two",), two_blocks)):
            for _ in range(3):  # onnxruntime: weights as an input, then as a constant
                got = eng.multiply_sum(xs, unsigned, lambda w=w: w, cache, key)
                np.testing.assert_array_equal(np.asarray(got, np.int64),
                                              x @ w.astype(np.int64))
        blocks = [t.block for t in tiles]
        got = eng.multiply_sum(xs, unsigned, lambda s=stacked: s, {}, ("b",), blocks)
        np.testing.assert_array_equal(np.asarray(got, np.int64), x @ stacked.astype(np.int64))
    if engine == "onnxruntime":
        assert cache[("two",)][1] is not None  # the constant-weight session ran


def _pass_program(tiles: list[np.ndarray], passes: list[dict], rows: int) -> Program:
    """Input [4 * rows, 256] bytes at Unified Buffer row 0; every tile loaded into the
    weight FIFO before its pass; ``passes`` are matmul fields (switch set); the
    accumulators' first 2 * rows rows are written out through an identity activate
    of lanes 0..255 (m = 2^30, shift 1: x * 1, clamped to int8)."""
    from qcc.backends.tpu_v1.tables import ActivateTable

    x = TensorDesc("x", (4 * rows, 256), "u8", 1.0, 0, 0)
    y = TensorDesc("y", (2 * rows, 256), "i8", 1.0, 0, 4 * rows * 256)
    ins = [Instruction("read_host", host=0, ub=0, rows=4 * rows, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0)]
    for k, p in enumerate(passes):
        ins.append(Instruction("read_weights", dram=k * 65536, count=1))
        ins.append(Instruction("set_conv", in_h=1, in_w=1, out_h=1, out_w=1, kernel_h=1,
                               kernel_w=1, stride_h=1, stride_w=1, dilation_h=1,
                               dilation_w=1, taps_per_row=1, first_pixel=k))
        ins.append(Instruction("matmul", switch=1, length=rows, **p))
    table_at = len(tiles) * 65536
    ins += [Instruction("load_table", slot=0, dram=table_at),
            Instruction("activate", src=0, ub=4 * rows, rows=2 * rows, table=0, lanes=256),
            Instruction("write_host", host=4 * rows * 256, ub=4 * rows, rows=2 * rows,
                        row_bytes=256, host_stride=256),
            Instruction("sync", kind=0), Instruction("halt")]
    identity = ActivateTable(0, 0, -128, 127, False, np.zeros(256, np.int64),
                             np.full(256, 1 << 30, np.int64), np.ones(256, np.int64))
    image = b"".join(w.view(np.uint8).tobytes() for w in tiles) + identity.encode()
    return Program(ins, image, [x], [y], "tpu-v1")


@pytest.mark.parametrize("engine", ENGINES)
def test_passes_into_the_same_rows_sum_exactly_whatever_comes_between(engine):
    """Runs of passes into the same accumulator rows (kept pending and multiplied
    together) across weight loads and set_conv, broken by a pass into other rows, a
    run of diagonal tiles, a pass that overwrites, a change of signedness: the
    accumulators hold the exact per-pass sums in order, whichever engine multiplies."""
    rng = np.random.default_rng(9)
    rows = 6
    tiles = _tiles(rng, 4)
    diag = np.zeros((256, 256), np.int8)
    np.fill_diagonal(diag[5:200, 5:200], rng.integers(-128, 128, 195))
    tiles.append(diag)
    plan = [(0, 0, 0, 0, 1), (1, 1, rows, 0, 1), (2, 1, 0, rows, 1),  # other rows
            (3, 1, 2 * rows, 0, 1), (4, 1, 3 * rows, 0, 1),  # the diagonal tile
            (4, 1, 2 * rows, 0, 1), (4, 1, rows, 0, 1),  # diagonal passes in a row
            (0, 1, rows, 0, 0),  # signed inputs
            (1, 0, 2 * rows, rows, 1), (2, 1, 3 * rows, rows, 1)]  # an overwrite
    passes = [dict(accumulate=a, ub=ub, acc=acc, unsigned=u) for _, a, ub, acc, u in plan]
    program = _pass_program([tiles[t] for t, *_ in plan], passes, rows)
    ub = rng.integers(0, 256, (4 * rows, 256), dtype=np.uint8)
    machine = Machine(program, load_target("tpu-v1"), engine)
    machine.host[:ub.size] = ub.tobytes()
    machine.run()
    want = np.zeros((2 * rows, 256), np.int64)
    for t, a, src, dst, u in plan:
        x = ub[src:src + rows].astype(np.int64) if u else \
            ub[src:src + rows].view(np.int8).astype(np.int64)
        product = x @ tiles[t].astype(np.int64)
        if a:
            want[dst:dst + rows] += product
        else:
            want[dst:dst + rows] = product
    np.testing.assert_array_equal(machine.acc[:2 * rows].astype(np.int64), want)
    out = np.frombuffer(bytes(machine.host[ub.size:]), np.int8).reshape(2 * rows, 256)
    np.testing.assert_array_equal(out, np.clip(want, -128, 127))


@pytest.mark.parametrize("shift_rows", [0, 2, -2])
def test_activate_from_the_unified_buffer_into_overlapping_rows(shift_rows):
    """An activate reading Unified Buffer rows and writing rows that overlap them (in
    place, or a few rows on) computes from the rows as they were before it wrote."""
    from qcc.backends.tpu_v1.tables import ActivateTable

    rows, at = 600, 4  # more rows than one block of Requantizer
    x = TensorDesc("x", (rows, 256), "u8", 1.0, 0, 0)
    y = TensorDesc("y", (rows, 256), "u8", 1.0, 0, rows * 256)
    dst = at + shift_rows
    ins = [Instruction("read_host", host=0, ub=at, rows=rows, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0),
           Instruction("load_table", slot=1, dram=0),
           Instruction("activate", src_ub=1, src=at, ub=dst, rows=rows, table=1,
                       lanes=256),
           Instruction("write_host", host=rows * 256, ub=dst, rows=rows, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0), Instruction("halt")]
    # y = (x - 10) * 1/2 + 3, ties to even, in 0..255
    table = ActivateTable(10, 3, 0, 255, True, np.zeros(256, np.int64),
                          np.full(256, 1 << 30, np.int64), np.zeros(256, np.int64))
    machine = Machine(Program(ins, table.encode(), [x], [y], "tpu-v1"),
                      load_target("tpu-v1"), "numpy")
    data = np.random.default_rng(10).integers(0, 256, (rows, 256), dtype=np.uint8)
    machine.host[:data.size] = data.tobytes()
    machine.run()
    out = np.frombuffer(bytes(machine.host[data.size:]), np.uint8).reshape(rows, 256)
    np.testing.assert_array_equal(out, np.clip(np.rint((data.astype(np.int64) - 10) / 2) + 3,
                                               0, 255))


@pytest.mark.parametrize("shift_rows", [0, 3, -3])
def test_add_into_rows_overlapping_its_inputs(shift_rows):
    """An add whose output rows overlap its inputs' (in place, or a few rows on, over
    more rows than one block of the table lookup) adds the rows as they were."""
    from qcc import quant_arith
    from qcc.backends.tpu_v1.tables import AddTable

    rows, at = 2100, 8
    x = TensorDesc("x", (2 * rows, 256), "i8", 1.0, 0, 0)
    y = TensorDesc("y", (rows, 256), "i8", 1.0, 0, 2 * rows * 256)
    dst = at + shift_rows
    ins = [Instruction("read_host", host=0, ub=at, rows=2 * rows, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0),
           Instruction("load_table", slot=2, dram=0),
           Instruction("add", src_a=at, src_b=at + rows, ub=dst, rows=rows, table=2),
           Instruction("write_host", host=2 * rows * 256, ub=dst, rows=rows, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0), Instruction("halt")]
    params = dict(zp_a=3, zp_b=-5, zp_out=1, multipliers=(1 << 30, 1 << 30, 1 << 30),
                  shifts=(0, 0, -19), lo=-128, hi=127, left_shift=20)
    table = AddTable(3, -5, 1, -128, 127, False, 20, params["multipliers"], params["shifts"])
    machine = Machine(Program(ins, table.encode(), [x], [y], "tpu-v1"),
                      load_target("tpu-v1"), "numpy")
    data = np.random.default_rng(11).integers(-128, 128, (2 * rows, 256)).astype(np.int8)
    machine.host[:data.size] = data.tobytes()
    machine.run()
    out = np.frombuffer(bytes(machine.host[data.size:]), np.int8).reshape(rows, 256)
    want = quant_arith._add_quantized(data[:rows], data[rows:], dtype=np.int8, **params)
    np.testing.assert_array_equal(out, want)


def _blocks_program(tiles: list[np.ndarray], rows: int, outputs: list[int]) -> Program:
    """A layer as the lowering emits it: input [2 * rows, 256] bytes (two input-lane
    chunks at Unified Buffer rows 0 and ``rows``); output block j is two passes
    (tiles 2j and 2j + 1) into accumulator rows 0 or 2048 by turns, then an activate
    (x / 256, int8) into Unified Buffer rows ``outputs[j]``."""
    from qcc.backends.tpu_v1.tables import ActivateTable

    blocks = len(outputs)
    x = TensorDesc("x", (2 * rows, 256), "i8", 1.0, 0, 0)
    y = TensorDesc("y", (blocks * rows, 256), "i8", 1.0, 0, 2 * rows * 256)
    ins = [Instruction("read_host", host=0, ub=0, rows=2 * rows, row_bytes=256,
                       host_stride=256), Instruction("sync", kind=0),
           Instruction("load_table", slot=0, dram=len(tiles) * 65536)]
    for j, out in enumerate(outputs):
        acc = 2048 * (j % 2)
        ins += [Instruction("read_weights", dram=2 * j * 65536, count=2),
                Instruction("matmul", switch=1, ub=0, acc=acc, length=rows),
                Instruction("matmul", switch=1, accumulate=1, ub=rows, acc=acc,
                            length=rows),
                Instruction("activate", src=acc, ub=out, rows=rows, table=0, lanes=256)]
    for j, out in enumerate(outputs):
        ins.append(Instruction("write_host", host=(2 + j) * rows * 256, ub=out, rows=rows,
                               row_bytes=256, host_stride=256))
    ins += [Instruction("sync", kind=0), Instruction("halt")]
    table = ActivateTable(0, 0, -128, 127, False, np.zeros(256, np.int64),
                          np.full(256, 1 << 30, np.int64), np.full(256, -7, np.int64))
    image = b"".join(w.view(np.uint8).tobytes() for w in tiles) + table.encode()
    return Program(ins, image, [x], [y], "tpu-v1")


def _check_blocks(program: Program, engine: str, tiles: list[np.ndarray], data: np.ndarray,
                  outputs: list[int]) -> None:
    """Run a _blocks_program on ``data``; its outputs are the exact per-block results in
    program order (a block writing the second input chunk changes what later ones read)."""
    from qcc import quant_arith

    rows, blocks = len(data) // 2, len(outputs)
    machine = Machine(program, load_target("tpu-v1"), engine)
    machine.host[:data.size] = data.tobytes()
    machine.run()
    ub = data.astype(np.int64)
    want = []
    for j, out in enumerate(outputs):
        acc = ub[:rows] @ tiles[2 * j].astype(np.int64) + \
            ub[rows:] @ tiles[2 * j + 1].astype(np.int64)
        y = quant_arith.requantize(acc, 1 << 30, -7, 0, -128, 127, np.int8)
        want.append(y)
        if out == rows:
            ub[rows:] = y  # the second input chunk, as later blocks read it
    got = np.frombuffer(bytes(machine.host[data.size:]), np.int8).reshape(blocks, rows, 256)
    for j in range(blocks):
        np.testing.assert_array_equal(got[j], want[j], err_msg=f"block {j}")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("overwrite", [False, True])
def test_output_blocks_of_one_layer_are_multiplied_together_exactly(engine, overwrite):
    """Later output blocks that multiply the same input vectors are computed with the
    first block's product (Machine._plan); when an activate in between overwrites
    input rows a later block reads, that block sees the new rows. Either way the
    outputs are the exact per-block results in program order."""
    rng = np.random.default_rng(12)
    rows, blocks = 40, 4
    tiles = []
    for j in range(2 * blocks):
        w = np.zeros((256, 256), np.int8)
        w[:, : 200 if j < 4 else 256] = rng.integers(-128, 128, (256, 200 if j < 4 else 256))
        tiles.append(w)
    # block 1's output lands on the second input chunk when ``overwrite``
    outputs = [2 * rows, rows if overwrite else 3 * rows, 4 * rows, 5 * rows]
    program = _blocks_program(tiles, rows, outputs)
    data = rng.integers(-128, 128, (2 * rows, 256)).astype(np.int8)
    _check_blocks(program, engine, tiles, data, outputs)
    # blocks multiplied with the one before them: all with block 0, or across the
    # overwrite none (0 with 1, 2 with 3)
    plans = program.decoded_tiles["plans"][1]
    assert sorted(len(p) for p in plans.values() if p) == ([1, 1] if overwrite else [3])


@pytest.mark.parametrize("engine", ENGINES)
def test_instructions_changed_in_place_are_planned_anew(engine):
    """The look-ahead plans kept with a program belong to its instructions: after the
    list is changed in place (here so that block 1 overwrites an input chunk), a run
    follows the new instructions, not the plans of the old ones."""
    rng = np.random.default_rng(13)
    rows = 40
    tiles = [rng.integers(-128, 128, (256, 256)).astype(np.int8) for _ in range(8)]
    data = rng.integers(-128, 128, (2 * rows, 256)).astype(np.int8)
    apart, overwriting = [2 * rows, 3 * rows, 4 * rows, 5 * rows], \
        [2 * rows, rows, 4 * rows, 5 * rows]
    program = _blocks_program(tiles, rows, apart)
    _check_blocks(program, engine, tiles, data, apart)
    program.instructions[:] = _blocks_program(tiles, rows, overwriting).instructions
    _check_blocks(program, engine, tiles, data, overwriting)
