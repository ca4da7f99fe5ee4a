"""The ISA table (backends/tpu_v1/isa.py): instructions by name, units, storage and
field ranges, which validation, timing and the compile report read."""

from __future__ import annotations

import copy
import pickle

import pytest

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.isa import Instruction, Store, Unit
from qcc.backends.tpu_v1.target import load_target
from qcc.diagnostics import QccError

TPU = load_target("tpu-v1")


def test_instructions_by_name_or_by_entry():
    names = {isa.NOP, isa.HALT, isa.SYNC, isa.READ_HOST, isa.WRITE_HOST, isa.HOST_CALL,
             isa.READ_WEIGHTS, isa.MATMUL, isa.ACTIVATE, isa.LOAD_TABLE, isa.SET_CONV,
             isa.POOL, isa.ADD}
    assert names == set(isa.ISA)
    for defn in isa.ISA:
        assert getattr(isa, defn.mnemonic.upper()) is defn
        assert repr(defn) == f"isa.{defn.mnemonic.upper()}"
    a, b = Instruction(isa.MATMUL, switch=1, length=8), Instruction("matmul", switch=1,
                                                                     length=8)
    assert a == b and a.defn is isa.MATMUL and a.op == "matmul"
    assert isa.encode([a]) == isa.encode([b])
    assert copy.deepcopy(isa.MATMUL) is isa.MATMUL
    assert pickle.loads(pickle.dumps(isa.ADD)) is isa.ADD
    with pytest.raises(QccError, match="unknown instruction 'mul'"):
        Instruction("mul")
    with pytest.raises(QccError, match="field 'tap' = 256 does not fit in 8 bits"):
        Instruction(isa.MATMUL, tap=256)


def test_units_and_the_report_names():
    """unit_label gives the compile report's unit column (what report.py listed by
    hand before); control and weight fetches run no layer."""
    assert {d.mnemonic: isa.unit_label(d) for d in isa.ISA} == {
        "matmul": "MXU", "activate": "activation unit", "pool": "pool unit",
        "add": "vector adder", "read_host": "host", "write_host": "host",
        "host_call": "host CPU", "nop": None, "halt": None, "sync": None, "set_conv": None,
        "read_weights": None, "load_table": None}
    assert isa.unit_label("matmul") == isa.unit_label(isa.MATMUL)
    assert isa.READ_WEIGHTS.unit is Unit.WEIGHT_FETCH and isa.SET_CONV.unit is Unit.CONTROL


def test_storage_read_and_written():
    assert isa.MATMUL.writes == {Store.ACC}
    assert Store.WEIGHT_FIFO in isa.MATMUL.reads and Store.WEIGHT_FIFO in \
        isa.READ_WEIGHTS.writes
    assert isa.LOAD_TABLE.writes == {Store.TABLES}
    assert {d for d in isa.ISA if Store.TABLES in d.reads} == {isa.ACTIVATE, isa.ADD}
    assert {d for d in isa.ISA if Store.HOST in d.reads | d.writes} == \
        {isa.READ_HOST, isa.WRITE_HOST, isa.HOST_CALL}
    # a unit that a sync waits for executes some instruction
    for units in isa.SYNC_WAITS.values():
        assert all(any(d.unit is u for d in isa.ISA) for u in units)


def test_field_ranges():
    for defn in isa.ISA:
        for f in defn.fields:
            assert 0 <= f.lo <= f.top <= f.max
    assert {f.name: (f.lo, f.top) for f in isa.ACTIVATE.limited} == {
        "function": (0, 4), "table": (0, 255), "lanes": (1, 256)}
    slot = next(f for f in isa.LOAD_TABLE.fields if f.name == "slot")
    assert slot.limit == "activation.table_slots" and isa.field_limit(slot, TPU) == 7
    wide = TPU.updated({"name": "wide", "activation.table_slots": 200})
    assert isa.field_limit(slot, wide) == 199
    assert isa.field_problem(Instruction(isa.LOAD_TABLE, slot=7), TPU) is None
    assert isa.field_problem(Instruction(isa.LOAD_TABLE, slot=8), TPU) == \
        "slot 8 is outside 0..7 (activation.table_slots = 8)"
    assert isa.field_problem(Instruction(isa.READ_HOST, row_bytes=257), TPU) == \
        "row_bytes 257 is outside 1..256"
    assert isa.field_problem(Instruction(isa.MATMUL, length=5), TPU) is None


def test_bad_ranges_are_refused_by_the_table():
    with pytest.raises(ValueError, match=r"x\.f: range 0\.\.300 outside the 8-bit width"):
        isa.InstrDef("x", 0xff, 2, (isa.Field("f", 8, hi=300),), "")
