"""The backend's passes out of order, on the wrong IR, or on a machine too small, and
emission of an incomplete tpu graph: each is a clear error (QccError from the API,
exit 2 from `qcc opt`), never a crash; and what each pass decides, on a real model
(tpu-plan-memory: placements and the weight image; tpu-schedule: barriers, prefetch
capped by the FIFO depth; emit.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import qcc
from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.emit import emit
from qcc.backends.tpu_v1.passes import BACKEND_PIPELINE
from qcc.backends.tpu_v1.plan import TILE
from qcc.backends.tpu_v1.schedule import first_stream_tiles
from qcc.backends.tpu_v1.target import load_target
from qcc.cli import main
from qcc.passmanager import Instrumentation, PassContext, Pipeline
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "examples" / "models" / "digits_cnn.onnx"
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")


@pytest.fixture(scope="module")
def integer_text() -> str:
    stopped = qcc.compile(MODEL, calib_data=CALIB, batch=4,
                          instrumentation=Instrumentation(stop_after="fuse-relu"))
    return print_module(stopped.module)


def _run(text: str, pipeline: str, target=None) -> qcc.Module:
    module = parse_module(text)
    ctx = PassContext()
    if target is not None:
        ctx.data["target"] = target
    Pipeline.parse(pipeline).run(module, ctx)
    return module


def test_plan_places_every_layer_and_numbers_the_weight_image(integer_text):
    m = _run(integer_text, "tpu-lower,tpu-plan-memory")
    layers = [op for op in m.main.ops if isinstance(op, tpu.LAYER_OPS)]
    assert layers and all("ub" in op.attributes for op in layers)
    tiles = [(op.attributes["weight_tile"], op) for op in layers if "weight_tile" in op.attributes]
    first = [t for t, _ in tiles]
    assert first == sorted(first) and first[0] == 0  # tiles in program order
    tables = [k for op in layers for k in op.attributes.get("tables", ())]
    assert tables == list(range(len(tables)))
    slots = [k for op in layers for k in op.attributes.get("slots", ())]
    assert slots == [k % 8 for k in range(len(slots))]  # round robin over 8 slots
    accs = [a for op in layers for a in op.attributes.get("acc", ())]
    assert accs == [(k % 2) * 2048 for k in range(len(accs))]  # the halves alternate


def test_schedule_prefetch_is_capped_by_the_fifo_depth(integer_text):
    for depth in (1, 4):
        base = load_target("tpu-v1")
        target = dataclasses.replace(base, weights=dataclasses.replace(base.weights,
                                                                       fifo_depth=depth))
        m = _run(integer_text, BACKEND_PIPELINE, target)
        syncs = [op for op in m.main.ops if isinstance(op, tpu.SyncOp)]
        assert syncs[0].kind == "host" and syncs[-1].kind == "host"
        ops = m.main.ops
        for k, op in enumerate(ops):
            if isinstance(op, tpu.LAYER_OPS):
                sync = ops[k - 1]
                assert isinstance(sync, tpu.SyncOp) and sync.kind == "units"
                assert len(sync.prefetch) == op.attributes.get("prefetched", 0) == \
                    min(depth, first_stream_tiles(op))
        assert max(len(s.prefetch) for s in syncs) == min(depth, 2)  # 2: the widest here


def test_a_smaller_unified_buffer_or_weight_memory_is_an_error(integer_text):
    base = load_target("tpu-v1")
    tiny_ub = dataclasses.replace(base, unified_buffer=dataclasses.replace(
        base.unified_buffer, rows=40))
    with pytest.raises(qcc.QccError, match=r"Unified Buffer rows .* largest free range"):
        _run(integer_text, "tpu-lower,tpu-plan-memory", tiny_ub)
    tiny_w = dataclasses.replace(base, weight_memory=dataclasses.replace(
        base.weight_memory, capacity_bytes=2 * TILE))
    with pytest.raises(qcc.QccError, match=r"weight image .* does not fit"):
        _run(integer_text, "tpu-lower,tpu-plan-memory", tiny_w)


@pytest.mark.parametrize("pipeline, message", [
    ("tpu-plan-memory", "no tpu ops to place: run tpu-lower first"),
    ("tpu-schedule", "no tpu ops to schedule"),
    ("tpu-lower,tpu-schedule", "has no weight placement (run tpu-plan-memory first)"),
    ("tpu-lower,tpu-lower", "already lowered to the tpu dialect"),
    ("tpu-lower,tpu-plan-memory,tpu-schedule,tpu-schedule", "already scheduled"),
])
def test_passes_out_of_order(integer_text, pipeline, message):
    with pytest.raises(qcc.QccError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _run(integer_text, pipeline)


def test_emission_needs_every_pass(integer_text):
    target = load_target("tpu-v1")
    with pytest.raises(qcc.QccError, match="needs a scheduled tpu graph"):
        emit(_run(integer_text, "tpu-lower,tpu-plan-memory").main, target)
    final = print_module(_run(integer_text, BACKEND_PIPELINE))
    assert emit(parse_module(final).main, target).instructions
    # a placement deleted by hand: the error names the op and the pass to run
    broken = final.replace("ub = 0, ", "", 1) if "ub = 0, " in final else \
        final.replace(", ub = 0}", "}", 1)
    assert broken != final
    with pytest.raises(qcc.QccError, match="has no Unified Buffer placement"):
        emit(parse_module(broken).main, target)


def test_qcc_opt_reports_pass_errors_with_exit_2(integer_text, tmp_path, capsys):
    src = tmp_path / "int.mlir"
    src.write_text(integer_text)
    code = main(["opt", str(src), "-p", "tpu-lower,tpu-schedule", "-o",
                 str(tmp_path / "out.mlir")])
    err = capsys.readouterr().err
    assert code == 2 and "run tpu-plan-memory first" in err and "Traceback" not in err
    assert not (tmp_path / "out.mlir").exists()


@pytest.fixture(scope="module")
def final_text(integer_text) -> str:
    return print_module(_run(integer_text, BACKEND_PIPELINE))


def _edit(text: str, op: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in the first line holding ``op``."""
    lines = text.splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if f'"{op}"' in line and old in line)
    lines[k] = lines[k].replace(old, new, 1)
    return "".join(lines)


@pytest.mark.parametrize("op, old, new, message", [
    ("tpu.pool", "shift = [-3]", "shift = []", "1 multipliers but 0 shifts"),
    ("tpu.matmul", "clamp_min = -128", "clamp_min = 500",
     "clamp [500, 127] is not an interval within the result's -128..127"),
    ("tpu.conv2d", "ub = 0", 'ub = "x"', "placement 'ub' must be a non-negative integer"),
    ("tpu.add", "slots = [", "slots = [-1, ", "placement 'slots' must be a list"),
])
def test_hand_edited_tpu_ir_is_rejected_by_the_verifier(final_text, op, old, new, message):
    broken = _edit(final_text, op, old, new)
    assert broken != final_text
    with pytest.raises(qcc.QccError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_module(broken)  # the parser verifies what it read


@pytest.mark.parametrize("op, old, new, message", [
    ("tpu.conv2d", "ub = 0", "ub = 200000", "Unified Buffer"),
    ("tpu.sync", "prefetch = [0]", "prefetch = [77]", "weight"),
])
def test_placements_outside_the_machine_stop_the_emission(final_text, op, old, new,
                                                          message):
    broken = _edit(final_text, op, old, new)
    assert broken != final_text
    with pytest.raises(qcc.QccError, match=r"placements make an invalid program at "
                                           r"instruction \d+ \(layer '[^']+'\)") as e:
        emit(parse_module(broken).main, load_target("tpu-v1"))
    assert message in str(e.value)
