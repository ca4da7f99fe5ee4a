"""Row chunks of a layer: equal sizes, and each weight tile fetched once per pair of
chunks (the two accumulator halves), bit-exact with the integer IR."""

from __future__ import annotations

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1.compile import lower
from qcc.backends.tpu_v1.plan import chunk_spans
from qcc.backends.tpu_v1.simulator import execute
from qcc.backends.tpu_v1.target import load_target
from qcc.backends.tpu_v1.timing import estimate_program
from qcc.interpreter import run

from .test_simulator import _single_layer

#: 64 accumulator rows: chunks of at most 32 rows, so small layers take several
SMALL = load_target("tpu-v1").updated({"name": "tpu-v1-acc64", "accumulators.rows": 64})


@pytest.mark.parametrize(("rows", "chunk", "sizes"), [
    (2888, 2048, [1444, 1444]), (2049, 2048, [1025, 1024]), (2048, 2048, [2048]),
    (10, 2048, [10]), (0, 2048, []), (100, 32, [25, 25, 25, 25]), (70, 32, [24, 23, 23])])
def test_chunks_are_equal_to_within_one_row(rows, chunk, sizes):
    spans = chunk_spans(rows, chunk)
    assert [n for _, n in spans] == sizes
    assert [q for q, _ in spans] == list(np.cumsum([0, *sizes])[:-1])


def _compiled(kind, **params):
    rng = np.random.default_rng(7)
    module = qcc.import_onnx(_single_layer(kind, rng, **params))
    shape = module.main.args[0].type.shape
    calib = [{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
    qcc.quantize_model(module, calib_data=calib)
    return module, lower(module, SMALL), rng.standard_normal(shape).astype(np.float32)


#: (kind, layer, tiles fetched, matmuls, matmuls keeping their tile (switch=0))
CASES = [
    # 70 rows: chunks of 24/23/23 in two pairs; 2 x 2 weight tiles: each read once per
    # pair (8), 2 x 2 x 3 matmuls, the second chunk of the first pair keeps each tile
    ("dense", dict(m=70, k=300, n=270), 8, 12, 4),
    # 126 output pixels: chunks of 32/32/31/31; the 9 taps of 3 channels in one tile
    ("conv", dict(n=2, c=3, h=9, w=7, o=20, k=3, group=1, stride=1, dilation=1, pad=1),
     2, 4, 2)]


@pytest.mark.parametrize(("kind", "params", "reads", "n_matmuls", "kept"), CASES,
                         ids=[c[0] for c in CASES])
def test_tiles_are_fetched_once_per_pair_of_chunks_and_results_are_exact(
        kind, params, reads, n_matmuls, kept):
    module, program, x = _compiled(kind, **params)
    values: dict = {}
    run(module, {"x": x}, observer=values.__setitem__)
    g = module.main
    got = execute(program, {program.inputs[0].name: values[g.args[0].uses[0].op.output]})
    np.testing.assert_array_equal(got[g.output_names[0]], values[g.outputs[0].op.input])

    matmuls = [i for i in program.instructions if i.op == "matmul"]
    tiles_read = sum(i.count for i in program.instructions if i.op == "read_weights")
    switched = sum(i.switch for i in matmuls)
    assert (tiles_read, len(matmuls), len(matmuls) - switched) == (reads, n_matmuls, kept)
    assert tiles_read == switched  # every fetched tile is switched in once
    lengths = sorted({i.length for i in matmuls})
    assert max(lengths) - min(lengths) <= 1  # equal chunks
    report = estimate_program(program, SMALL)
    assert report.total.dram_bytes == tiles_read * 65536 + \
        sum(1 for i in program.instructions if i.op == "load_table") * 2592
