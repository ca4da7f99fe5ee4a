"""Functional simulator: executes a TPU program instruction by instruction.

Memories: host buffer space (inputs, then outputs), Unified Buffer (rows of 256
bytes), accumulators (rows of 256 int32), weight memory (the program's weight
image), the weight FIFO and the tile in the array, activation table slots and the
convolution configuration. Every integer operation that rounds goes through
``qcc.quant_arith``, the module the IR interpreter uses too: that is what makes the
two agree bit for bit. Timing is not modelled here (see ``timing.py``); this file
defines what each instruction computes.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

from qcc import quant_arith
from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.program import LANES, Program, from_rows, to_rows
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, AddTable, decode_table
from qcc.backends.tpu_v1.target import Target, load_target
from qcc.diagnostics import QccError

TILE_BYTES = LANES * LANES


class MachineError(QccError):
    """The program did something the machine cannot do (a compiler bug or a
    hand-written program's mistake): the message names the instruction."""


class Machine:
    def __init__(self, program: Program, target: Target):
        self.program = program
        self.host = bytearray(program.host_bytes)
        self.ub = np.zeros((target.unified_buffer.rows, LANES), np.uint8)
        self.acc = np.zeros((target.accumulators.rows, LANES), np.int64)
        self.dram = np.frombuffer(program.weights, np.uint8)
        self.fifo: deque[np.ndarray] = deque()
        self.fifo_depth = target.weights.fifo_depth
        self.tile: np.ndarray | None = None
        self.tables: dict[int, ActivateTable | AddTable] = {}
        self.conv: Instruction | None = None
        self.pc = 0

    # ------------------------------------------------------------------ helpers
    def fail(self, message: str) -> MachineError:
        ins = self.program.instructions[self.pc]
        return MachineError(f"instruction {self.pc} ({ins.op}): {message}")

    def _rows(self, mem: np.ndarray, start: int, count: int, what: str) -> slice:
        if start < 0 or count < 0 or start + count > len(mem):
            raise self.fail(f"{what} rows [{start}, {start + count}) are outside "
                            f"[0, {len(mem)})")
        return slice(start, start + count)

    def _table(self, slot: int, kind: type) -> ActivateTable | AddTable:
        table = self.tables.get(slot)
        if not isinstance(table, kind):
            raise self.fail(f"table slot {slot} holds no {kind.__name__}")
        return table

    def _signed(self, rows: np.ndarray, unsigned: bool) -> np.ndarray:
        return rows.astype(np.int64) if unsigned else rows.view(np.int8).astype(np.int64)

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        instrs = self.program.instructions
        while self.pc < len(instrs):
            ins = instrs[self.pc]
            if ins.op == "halt":
                return
            getattr(self, f"_{ins.op}")(ins)
            self.pc += 1
        raise MachineError("the program ran past its end without 'halt'")

    def _nop(self, ins: Instruction) -> None:
        pass

    _sync = _nop  # synchronization matters for timing only

    def _host_rows(self, ins: Instruction) -> tuple[slice, np.ndarray, np.ndarray]:
        """(UB rows, host byte indices [rows, row_bytes], host bytes) of a transfer."""
        rows = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        n = ins.row_bytes
        end = ins.host + (ins.rows - 1) * ins.host_stride + n if ins.rows else ins.host
        if end > len(self.host):
            raise self.fail(f"host bytes up to {end} are outside the {len(self.host)}-byte "
                            "host buffer")
        idx = ins.host + np.arange(ins.rows)[:, None] * ins.host_stride + np.arange(n)
        return rows, idx, np.frombuffer(self.host, np.uint8)

    def _read_host(self, ins: Instruction) -> None:
        rows, idx, host = self._host_rows(ins)
        self.ub[rows] = 0
        self.ub[rows, :ins.row_bytes] = host[idx]

    def _write_host(self, ins: Instruction) -> None:
        rows, idx, host = self._host_rows(ins)
        host[idx] = self.ub[rows, :ins.row_bytes]

    def _read_weights(self, ins: Instruction) -> None:
        for k in range(ins.count):
            start = ins.dram + k * TILE_BYTES
            if start + TILE_BYTES > len(self.dram):
                raise self.fail(f"weight tile at byte {start} is outside the "
                                f"{len(self.dram)}-byte weight memory")
            if len(self.fifo) >= self.fifo_depth:
                # the hardware would wait for room forever: nothing drains the FIFO
                # until a later matmul issues
                raise self.fail(f"a weight tile would be the {len(self.fifo) + 1}th in a "
                                f"{self.fifo_depth}-deep weight FIFO")
            tile = self.dram[start:start + TILE_BYTES].view(np.int8).reshape(LANES, LANES)
            self.fifo.append(tile.astype(np.float32))

    def _load_table(self, ins: Instruction) -> None:
        start = ins.dram
        if start + RECORD_BYTES > len(self.dram):
            raise self.fail(f"table record at byte {start} is outside the weight memory")
        record = self.dram[start:start + RECORD_BYTES].tobytes()
        self.tables[ins.slot] = decode_table(record, f"table at byte {start}")

    def _set_conv(self, ins: Instruction) -> None:
        self.conv = ins

    # ------------------------------------------------------------------ matrix unit
    def _conv_rows(self, base: int, first_tap: int, length: int,
                   unsigned: bool) -> np.ndarray:
        """Input vectors of a convolution pass: [length, 256] int64."""
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before a convolution")
        p = c.first_pixel + np.arange(length)
        per_image = c.out_h * c.out_w
        n, rest = np.divmod(p, per_image)
        oh, ow = np.divmod(rest, c.out_w)
        channels = c.channels or LANES
        pad = _as_storage(c.pad_value, unsigned)
        out = np.zeros((length, LANES), np.int64)
        for j in range(c.taps_per_row):
            t = first_tap + j
            kh, kw = divmod(t, c.kernel_w)
            if kh >= c.kernel_h:
                break  # a last partial group of packed taps
            ih = oh * c.stride_h - c.pad_top + kh * c.dilation_h
            iw = ow * c.stride_w - c.pad_left + kw * c.dilation_w
            inside = (ih >= 0) & (ih < c.in_h) & (iw >= 0) & (iw < c.in_w)
            rows = base + (n * c.in_h + np.clip(ih, 0, c.in_h - 1)) * c.in_w + \
                np.clip(iw, 0, c.in_w - 1)
            if rows.size and (rows.max() >= len(self.ub)):
                raise self.fail("convolution reads past the Unified Buffer")
            width = channels if c.taps_per_row > 1 else LANES
            values = self._signed(self.ub[rows, :width], unsigned)
            values[~inside] = pad
            out[:, j * width:(j + 1) * width] = values
        return out

    def _matmul(self, ins: Instruction) -> None:
        if ins.switch:
            if not self.fifo:
                raise self.fail("switch needs a weight tile, but the weight FIFO is empty")
            self.tile = self.fifo.popleft()
        if self.tile is None:
            raise self.fail("no weight tile in the matrix unit")
        if ins.conv:
            x = self._conv_rows(ins.ub, ins.tap, ins.length, ins.unsigned)
        else:
            src = self._rows(self.ub, ins.ub, ins.length, "Unified Buffer")
            x = self._signed(self.ub[src], ins.unsigned)
        # 256 products of a byte (|x| <= 255) and an int8 weight (|w| <= 128) and every
        # partial sum stay below 255 * 128 * 256 < 2^24, so float32 arithmetic is exact
        # whatever the summation order
        product = (x.astype(np.float32) @ self.tile).astype(np.int64)
        dst = self._rows(self.acc, ins.acc, ins.length, "accumulator")
        result = self.acc[dst] + product if ins.accumulate else product
        if result.size and (result.max() > quant_arith.INT32_MAX or
                            result.min() < quant_arith.INT32_MIN):
            raise self.fail("int32 accumulator overflow")
        self.acc[dst] = result

    # ------------------------------------------------------------------ vector units
    def _activate(self, ins: Instruction) -> None:
        table = self._table(ins.table, ActivateTable)
        if ins.src_ub:
            src = self._rows(self.ub, ins.src, ins.rows, "Unified Buffer")
            x = self._signed(self.ub[src], table.unsigned) - table.zp_in
        else:
            src = self._rows(self.acc, ins.src, ins.rows, "accumulator")
            x = self.acc[src] + table.bias
        dtype = np.uint8 if table.unsigned else np.int8
        y = quant_arith.requantize(x, table.multiplier, table.shift, table.zp_out,
                                   table.clamp_min, table.clamp_max, dtype)
        if ins.function:
            lo = 0 if table.unsigned else -128
            y = table.lut[y.astype(np.int64) - lo].astype(dtype)
        if not 1 <= ins.lanes <= LANES or ins.column + ins.lanes > LANES:
            raise self.fail(f"lanes [{ins.column}, {ins.column + ins.lanes}) do not fit a "
                            "row")
        dst = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        self.ub[dst, ins.column:ins.column + ins.lanes] = y[:, :ins.lanes].view(np.uint8)

    def _pool(self, ins: Instruction) -> None:
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before pool")
        p = c.first_pixel + np.arange(ins.length)
        n, rest = np.divmod(p, c.out_h * c.out_w)
        oh, ow = np.divmod(rest, c.out_w)
        floor = 0 if ins.unsigned else -128
        best = np.full((ins.length, LANES), floor, np.int64)
        total = np.zeros((ins.length, LANES), np.int64)
        pad = _as_storage(c.pad_value, ins.unsigned)
        for kh in range(c.kernel_h):
            for kw in range(c.kernel_w):
                ih = oh * c.stride_h - c.pad_top + kh * c.dilation_h
                iw = ow * c.stride_w - c.pad_left + kw * c.dilation_w
                inside = (ih >= 0) & (ih < c.in_h) & (iw >= 0) & (iw < c.in_w)
                rows = ins.src + (n * c.in_h + np.clip(ih, 0, c.in_h - 1)) * c.in_w + \
                    np.clip(iw, 0, c.in_w - 1)
                if rows.size and rows.max() >= len(self.ub):
                    raise self.fail("pool reads past the Unified Buffer")
                values = self._signed(self.ub[rows], ins.unsigned)
                best = np.where(inside[:, None], np.maximum(best, values), best)
                total += np.where(inside[:, None], values - pad, 0)
        if ins.sum:
            dst = self._rows(self.acc, ins.dst, ins.length, "accumulator")
            self.acc[dst] = total
        else:
            dst = self._rows(self.ub, ins.dst, ins.length, "Unified Buffer")
            self.ub[dst] = best.astype(np.uint8 if ins.unsigned else np.int8).view(np.uint8)

    def _add(self, ins: Instruction) -> None:
        t = self._table(ins.table, AddTable)
        a = self._signed(self.ub[self._rows(self.ub, ins.src_a, ins.rows, "Unified Buffer")],
                         t.unsigned)
        b = self._signed(self.ub[self._rows(self.ub, ins.src_b, ins.rows, "Unified Buffer")],
                         t.unsigned)
        dtype = np.uint8 if t.unsigned else np.int8
        y = quant_arith.add_quantized(a, b, t.zp_a, t.zp_b, t.zp_out, t.multipliers, t.shifts,
                                      t.clamp_min, t.clamp_max, dtype, t.left_shift)
        dst = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        self.ub[dst] = y.view(np.uint8)


def _as_storage(byte: int, unsigned: bool) -> int:
    """A configuration byte as the int8 or uint8 value it stands for."""
    return byte if unsigned or byte < 128 else byte - 256


def execute(program: Program, inputs: Mapping[str, np.ndarray],
            target: Target | None = None) -> dict[str, np.ndarray]:
    """Run ``program`` on quantized inputs (storage integers by input name); return
    the quantized outputs by name. The memories are sized by ``target`` (by default
    the target the program was compiled for)."""
    machine = Machine(program, target or load_target(program.target))
    for desc in program.inputs:
        if desc.name not in inputs:
            raise QccError(f"missing input '{desc.name}' {list(desc.shape)}")
        q = np.asarray(inputs[desc.name])
        if q.shape != desc.shape and q.size == math.prod(desc.shape):
            q = q.reshape(desc.shape)  # the host lays the input out reshaped
        data = to_rows(desc, q)
        machine.host[desc.host_offset:desc.host_offset + len(data)] = data
    machine.run()
    return {d.name: from_rows(d, bytes(machine.host[d.host_offset:d.host_offset +
                                                      d.host_bytes]))
            for d in program.outputs}
