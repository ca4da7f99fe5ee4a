"""docs/isa.md, generated from the instruction table so that it cannot drift.

    python -m qcc.backends.tpu_v1.isadoc > docs/isa.md

A test compares docs/isa.md with :func:`isa_markdown`.
"""

from __future__ import annotations

import re
import sys

from qcc.backends.tpu_v1.isa import (
    ISA,
    SYNC_HOST,
    SYNC_UNITS,
    SYNC_VECTOR,
    SYNC_WAITS,
    InstrDef,
    Store,
)
from qcc.backends.tpu_v1.program import LANES
from qcc.backends.tpu_v1.tables import RECORD_BYTES

INTRO = """\
# TPU-v1 instruction set

<!-- Generated from backends/tpu_v1/isa.py by
     `python -m qcc.backends.tpu_v1.isadoc > docs/isa.md`; do not edit by hand:
     change the table (or the intro in isadoc.py) and regenerate. -->

qcc's TPU-v1 target is a TPU-v1-class accelerator: a 256x256 int8 systolic matrix
unit fed from a Unified Buffer (UB) of 256-byte rows, int32 accumulators, a weight
FIFO filled from weight memory, and activation, pool and vector units. The
instruction set follows the TPU paper's CISC style: few instructions, each moving
or computing many rows, with a repeat count instead of loops. The paper fixes only
MatrixMultiply (12 bytes: a 3-byte UB address, a 2-byte accumulator address and a
4-byte length); the rest is qcc's design, defined by one table,
`backends/tpu_v1/isa.py`, from which the encoder, decoder, assembler,
disassembler and this page derive.

## Encoding

- Every instruction has a fixed size; byte 0 is the opcode.
- The fields follow the opcode, packed little-endian, least significant bit
  first: bit *b* of the table below is bit *b mod 8* of byte *b div 8*.
- `_pad` fields must be zero; the decoder rejects anything else.
- A program is the concatenation of its instructions and ends with `halt`.

## Addresses

- `ub` fields count 256-byte Unified Buffer rows.
- `acc` fields count accumulator rows (256 x int32).
- `dram` fields are byte addresses in weight memory: a weight tile is @TILE@ bytes
  (@LANES@ x @LANES@ int8), an activation table record @RECORD@ bytes (see
  `backends/tpu_v1/tables.py`).
- `host` fields are byte addresses in the host buffer space: the inputs, then the
  outputs, as the binary's I/O descriptors lay them out.

Loading a binary checks every range against the program's memories; see
[binary-format.md](binary-format.md).

## Units, storage and allowed values

Each instruction below names the unit that executes it (the compile report's
unit column uses the same names), the storage it may read and write (some only
with a flag set), and for every field the values it may hold: any value of its
width unless the table narrows it (`row_bytes` 1..256) or bounds it by a key of
the program's target (`activation.table_slots`). A binary with a field outside its
range does not load; address fields are further checked, with the row counts,
against the memories of the program's target. `sync kind=0` waits for the
@HOST_WAITS@ (both DMA channels: reads and writes); `sync kind=1` for the
@UNIT_WAITS@; `sync kind=2` for the @VECTOR_WAITS@ only.

## Assembly

`qcc disasm model.tpu` prints a program, `qcc asm model.s -o model.tpu` builds
one; the two round-trip byte for byte. One statement per line, `;` or `#` starts
a comment. An instruction is its mnemonic and `field=value` pairs (decimal, or hex
with `0x`); omitted fields are 0, and the disassembler prints every field in table
order:

```
.target "tpu-v1"
.manifest model_sha256="..."
.input name="x" shape=[1,1,8,8] dtype=i8 scale=0.5 zero_point=-128 host=0
.output name="y" shape=[1,10] dtype=i8 scale=0.25 zero_point=0 host=64
read_host host=0 ub=0 rows=64 row_bytes=1 host_stride=1
sync kind=0
halt
.weights 65536
00000040: 0102030405060708
```

`.target` (required), `.manifest key="value"`, `.input` and `.output` (all six
attributes required) give the non-instruction parts of the binary. `.target
"NAME"` alone is a shipped target; any other description is given in full by
attributes `description=` and `what_if=` and one `.target_table SECTION key=value
...` line per table, as `qcc disasm` writes it (docs/targets.md). `.weights SIZE`
makes a zero weight image of SIZE bytes; each data line `OFFSET: HEX` (a hex byte
offset, then the bytes) fills part of it, in increasing order. The disassembler
writes 64 bytes per line and leaves out all-zero lines. `.layer "name"` names the
layer of the instructions that follow and `.macs N` the useful multiply-accumulates
of the next one (the optional LAYERS section, for per-layer counters).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(defn: InstrDef) -> str:
    """The doc's first sentence without parentheticals."""
    text = re.sub(r"\s*\([^)]*\)", "", defn.doc)
    return text.split(". ")[0].rstrip(".")


def _stores(stores: frozenset[Store]) -> str:
    return ", ".join(s.value for s in Store if s in stores) or "nothing"


def instruction_markdown(defn: InstrDef) -> str:
    """One instruction's section: doc text, unit and storage, field table, assembly
    form."""
    lines = [f"## `{defn.mnemonic}`", "",
             f"Opcode `0x{defn.opcode:02x}`, {defn.size} bytes.", "", defn.doc, "",
             f"Unit: {defn.unit.value}. Reads: {_stores(defn.reads)}. Writes: "
             f"{_stores(defn.writes)}.", "",
             "| bits | field | width | allowed | meaning |", "|---|---|---|---|---|",
             f"| 0..7 | opcode | 8 | | `0x{defn.opcode:02x}` |"]
    bit = 8
    for f in defn.fields:
        pad = f.name.startswith("_pad")
        meaning = "zero" if pad else _cell(f.doc)
        allowed = "0" if pad else f.allowed() if f.narrowed else "any"
        lines.append(f"| {bit}..{bit + f.bits - 1} | `{f.name}` | {f.bits} | {allowed} | "
                     f"{meaning} |")
        bit += f.bits
    operands = " ".join(f"{f.name}={f.lo}" for f in defn.operands)
    lines += ["", "```", f"{defn.mnemonic} {operands}".rstrip(), "```", ""]
    return "\n".join(lines)


def isa_markdown() -> str:
    """The whole of docs/isa.md."""
    def units(kind: int) -> str:
        return ", ".join(u.value for u in SYNC_WAITS[kind])

    intro = INTRO.replace("@TILE@", str(LANES * LANES)).replace("@LANES@", str(LANES)) \
        .replace("@RECORD@", str(RECORD_BYTES)) \
        .replace("@HOST_WAITS@", units(SYNC_HOST)).replace("@UNIT_WAITS@", units(SYNC_UNITS)) \
        .replace("@VECTOR_WAITS@", units(SYNC_VECTOR))
    parts = [intro, "## Summary", "",
             "| mnemonic | opcode | bytes | unit | what |", "|---|---|---|---|---|"]
    parts += [f"| [`{d.mnemonic}`](#{d.mnemonic}) | `0x{d.opcode:02x}` | {d.size} | "
              f"{d.unit.value} | {_cell(_summary(d))} |" for d in ISA]
    parts.append("")
    parts += [instruction_markdown(d) for d in ISA]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(isa_markdown())
