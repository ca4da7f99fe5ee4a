"""A BERT-class encoder as exporters write it (examples/bert.py's tiny BERT: int64
token ids, attention mask and token types, embeddings by Gather, the -3.4e38
additive mask) compiled for tpu-v1: the inputs the host keeps as given
(``tpu.host_input``, dtype i64 in the binary), the mask kept in host memory between
host segments (``tpu.host_tensor``, f32), and the binary bit-exact with the
integer IR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1.asm import assemble, disassemble
from qcc.backends.tpu_v1.binary import load_binary, serialize
from qcc.backends.tpu_v1.runtime import run_program
from qcc.diagnostics import QccError
from qcc.interpreter import run

BERT = Path(__file__).resolve().parents[3] / "examples" / "models" / "bert"
MODEL, INPUTS = BERT / "tiny_bert.onnx", BERT / "tiny_bert_inputs.npz"


@pytest.fixture(scope="module")
def compiled():
    return qcc.compile(str(MODEL), calib_data=str(INPUTS),
                       input_shapes={"input_ids": (2, 16)})


@pytest.fixture(scope="module")
def inputs():
    return dict(np.load(INPUTS))


def test_the_tiny_bert_is_bit_exact_with_the_integer_ir(compiled, inputs):
    want = run(compiled.module, inputs)
    got = run_program(compiled.program, inputs)
    assert set(got) == {"last_hidden_state", "pooler_output"}
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value)


def test_token_ids_and_masks_are_host_inputs_of_their_own_dtype(compiled):
    descs = {d.name: d for d in compiled.program.inputs}
    assert {n: (d.dtype, d.shape) for n, d in descs.items()} == {
        n: ("i64", (2, 16)) for n in ("input_ids", "attention_mask", "token_type_ids")}
    assert [d.host_offset for d in compiled.program.inputs] == [0, 256, 512]
    ops = [op.name for op in compiled.tpu_module.main.ops]
    assert ops.count("tpu.host_input") == 3


def test_the_mask_stays_in_host_memory_between_segments(compiled):
    """The additive mask is computed once, by the first layer's host segment, which
    writes it to host memory; the second layer's segment reads it there."""
    kept = [op for op in compiled.tpu_module.main.ops if isinstance(op, tpu.HostTensorOp)]
    masks = [op for op in kept if op.output.type.element.numpy_dtype == np.float32]
    assert len(masks) == 1
    name = masks[0].tensor
    descs = {d.name: d for d in compiled.program.host_tensors}
    assert (descs[name].dtype, descs[name].shape) == ("f32", (2, 1, 16, 16))
    writers = [k for k, s in enumerate(compiled.program.segments) if name in s.outputs]
    readers = [k for k, s in enumerate(compiled.program.segments) if name in s.inputs]
    assert len(writers) == 1 and len(readers) == 1 and writers[0] < readers[0]


def test_the_binary_and_its_assembly_round_trip(compiled, inputs):
    data = serialize(compiled.program)
    again = load_binary(data)
    assert [d.dtype for d in again.inputs] == ["i64"] * 3
    assert serialize(assemble(disassemble(again), "b.s")) == data
    np.testing.assert_array_equal(run_program(again, inputs)["pooler_output"],
                                  run_program(compiled.program, inputs)["pooler_output"])


def test_compiling_twice_gives_the_same_bytes(compiled):
    again = qcc.compile(str(MODEL), calib_data=str(INPUTS),
                        input_shapes={"input_ids": (2, 16)})
    assert serialize(again.program) == serialize(compiled.program)


def test_a_float_token_id_is_an_error_naming_the_input(compiled, inputs):
    bad = dict(inputs, input_ids=inputs["input_ids"].astype(np.float32))
    with pytest.raises(QccError, match="input 'input_ids' has dtype float32, the program "
                                       "expects i64"):
        run_program(compiled.program, bad)


def test_cli_runs_the_binary_and_refuses_a_wrong_dtype(compiled, inputs, tmp_path, capsys):
    from qcc.cli import main

    binary = tmp_path / "bert.tpu"
    binary.write_bytes(serialize(compiled.program))
    out = tmp_path / "out.npz"
    assert main(["run", str(binary), "--input", str(INPUTS), "--output", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out)["pooler_output"],
                                  run_program(compiled.program, inputs)["pooler_output"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, **dict(inputs, attention_mask=inputs["attention_mask"] * 0.5))
    capsys.readouterr()
    assert main(["run", str(binary), "--input", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "input 'attention_mask' has dtype float64, the program expects i64" in err
    assert "Traceback" not in err


def test_excluding_a_projection_keeps_it_on_the_host_bit_exact(inputs):
    """--exclude on the query projection: it computes in float on the host, its output
    quantized there for the head reshape (a host op, not the model input's quantize)."""
    compiled = qcc.compile(str(MODEL), calib_data=str(INPUTS),
                           input_shapes={"input_ids": (2, 16)}, exclude=("/Add_2",))
    want = run(compiled.module, inputs)
    got = run_program(compiled.program, inputs)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value)
    assert sum(op.name == "tpu.matmul" for op in compiled.tpu_module.main.ops) == 12


def test_exclude_takes_the_onnx_spelling_of_a_tensor():
    m = qcc.import_onnx(str(MODEL), input_shapes={"input_ids": (2, 16)})
    from qcc.passmanager import PassContext

    ctx = PassContext()
    qcc.quantize_model(m, calib_data=str(INPUTS), exclude=("/Add_7_output_0",), ctx=ctx)
    assert "_Add_7_output_0" in ctx.data["kept_float"]


def test_cli_random_input_gives_token_ids(compiled, tmp_path, capsys):
    from qcc.cli import main

    binary = tmp_path / "bert.tpu"
    binary.write_bytes(serialize(compiled.program))
    assert main(["run", str(binary), "--random-input", "0"]) == 0
    assert "pooler_output" in capsys.readouterr().out


def test_the_compile_report_says_what_stayed_float(compiled):
    notes = compiled.report().notes
    kept = next(n for n in notes if n.startswith("kept in float"))
    assert "_Where_0_output_0: sentinel-dominated" in kept
