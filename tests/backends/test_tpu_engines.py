"""The simulator's matrix engines (backends/tpu_v1/engines.py) give identical, exact
integer sums, and the simulator's int32 overflow check fires exactly when the sum
leaves int32, whichever engine multiplies."""

from __future__ import annotations

import numpy as np
import pytest

from qcc.backends.tpu_v1 import engines
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.program import Program, TensorDesc
from qcc.backends.tpu_v1.simulator import Machine, MachineError, _Tile
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


def _accumulating_program(passes: int, weight: int, unsigned: bool) -> Program:
    """Input row of 127s (or 255s), a tile of ``weight``s, ``passes`` accumulating
    matmuls into accumulator row 0."""
    x = TensorDesc("x", (1, 256), "u8" if unsigned else "i8", 1.0, 0, 0)
    y = TensorDesc("y", (1, 256), "i8", 1.0, 0, 256)
    ins = [Instruction("read_host", host=0, ub=0, rows=1, row_bytes=256, host_stride=256),
           Instruction("sync", kind=0), Instruction("read_weights", dram=0, count=1)]
    ins += [Instruction("matmul", switch=int(k == 0), accumulate=int(k > 0), ub=0, acc=0,
                        length=1, unsigned=int(unsigned)) for k in range(passes)]
    ins.append(Instruction("halt"))
    return Program(ins, bytes(np.full(65536, weight, np.int8).view(np.uint8)), [x], [y],
                   "tpu-v1")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("value", "weight", "unsigned"),
                         [(127, 127, False), (-128, -128, False), (255, -128, True)])
def test_accumulator_overflow_is_caught_exactly_at_int32(engine, value, weight, unsigned):
    per_pass = value * weight * 256
    limit = (2**31 - 1) // per_pass if per_pass > 0 else (2**31) // -per_pass
    x = np.full(256, value, np.uint8 if unsigned else np.int8).view(np.uint8)
    fits = Machine(_accumulating_program(limit, weight, unsigned), load_target("tpu-v1"),
                   engine)
    fits.host[:256] = x.tobytes()
    fits.run()
    assert (fits.acc[0].astype(np.int64) == limit * per_pass).all()
    over = Machine(_accumulating_program(limit + 1, weight, unsigned), load_target("tpu-v1"),
                   engine)
    over.host[:256] = x.tobytes()
    with pytest.raises(MachineError, match=r"instruction \d+ \(matmul\): int32 accumulator "
                                           "overflow"):
        over.run()
