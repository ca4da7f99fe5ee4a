"""The reference machine: TPU-v1 programs executed one instruction at a time, as
docs/isa.md describes each instruction, in plain numpy.

This module defines what a program computes. It is slow and meant to be read next to
docs/isa.md (and ``tables.py`` for the activation tables); ``simulator.py`` is the fast
executor that ``run_program``, ``CompiledModel.run`` and ``qcc run`` use, and
tests/backends/tpu_v1/test_reference.py checks that the two give bit-identical outputs
and final Unified Buffer and accumulator contents.

The machine's state:

- the host buffer space (bytes: the inputs, then the outputs);
- the Unified Buffer: rows of 256 bytes, each lane an int8 or uint8 as the
  instruction reading it says;
- the accumulators: rows of 256 integers. They are kept here as exact values
  (int64); the hardware's 32-bit registers hold them modulo 2^32, which changes
  nothing that a program can observe, because ``activate`` stops with an error when
  a layer's value (sum + bias) leaves int32 (``quant_arith``'s overflow rule, the IR
  interpreter's too);
- weight memory (the program's weight image), the weight FIFO, the tile in the
  matrix unit, the activation table slots and the convolution geometry (set_conv).

Every rounding follows ``qcc.quant_arith``'s integer definitions
(``multiply_by_quantized_multiplier``), not its faster equivalents.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

from qcc import quant_arith
from qcc.backends.tpu_v1.host import run_segment
from qcc.backends.tpu_v1.isa import FUNCTIONS, Instruction
from qcc.backends.tpu_v1.program import LANES, Program, from_rows, to_rows
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, AddTable, decode_table
from qcc.backends.tpu_v1.target import Target
from qcc.diagnostics import QccError

#: bytes of one weight tile (256 x 256 int8) in weight memory
TILE_BYTES = LANES * LANES


class MachineError(QccError):
    """The program did something the machine cannot do (a compiler bug or a
    hand-written program's mistake): the message names the instruction."""


class ReferenceMachine:
    """The machine's state and one method per instruction (``_<mnemonic>``)."""

    def __init__(self, program: Program, target: Target):
        self.program = program
        self.instructions = tuple(program.instructions)
        self.host = bytearray(program.host_bytes)
        self.ub = np.zeros((target.unified_buffer.rows, LANES), np.uint8)
        self.acc = np.zeros((target.accumulators.rows, LANES), np.int64)
        self.weight_memory = np.frombuffer(program.weights, np.uint8)
        self.fifo: deque[np.ndarray] = deque()  # int8 [256, 256] tiles
        self.fifo_depth = target.weights.fifo_depth
        self.tile: np.ndarray | None = None  # the tile in the matrix unit
        self.tables: dict[int, ActivateTable | AddTable] = {}
        self.conv: Instruction | None = None  # the last set_conv
        self.pc = 0

    def run(self) -> None:
        """Execute from the first instruction to ``halt``."""
        while self.pc < len(self.instructions):
            ins = self.instructions[self.pc]
            if ins.op == "halt":
                return
            getattr(self, f"_{ins.op}")(ins)
            self.pc += 1
        raise MachineError("the program ran past its end without 'halt'")

    # ------------------------------------------------------------------ helpers
    def fail(self, message: str) -> MachineError:
        return MachineError(f"instruction {self.pc} ({self.instructions[self.pc].op}): "
                            f"{message}")

    def _rows(self, mem: np.ndarray, start: int, count: int, what: str) -> slice:
        if start + count > len(mem):
            raise self.fail(f"{what} rows [{start}, {start + count}) are outside "
                            f"[0, {len(mem)})")
        return slice(start, start + count)

    def _table(self, slot: int, kind: type) -> ActivateTable | AddTable:
        table = self.tables.get(slot)
        if not isinstance(table, kind):
            raise self.fail(f"table slot {slot} holds no {kind.__name__}")
        return table

    def _values(self, rows: np.ndarray, unsigned: bool) -> np.ndarray:
        """Unified Buffer bytes as the integers they stand for (int64)."""
        return (rows if unsigned else rows.view(np.int8)).astype(np.int64)

    def _window(self, tap: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """For output pixels ``first_pixel .. first_pixel + length - 1`` of the set_conv
        geometry and filter tap ``tap`` (kh * kernel_w + kw): the input row each reads
        (relative to the image's first Unified Buffer row; images are stored one pixel
        per row in N, H, W order) and whether it lies inside the image (outside it,
        the window reads the padding byte)."""
        c = self.conv
        kh, kw = divmod(tap, c.kernel_w)
        pixel = c.first_pixel + np.arange(length)
        n, rest = np.divmod(pixel, c.out_h * c.out_w)
        oh, ow = np.divmod(rest, c.out_w)
        ih = oh * c.stride_h - c.pad_top + kh * c.dilation_h
        iw = ow * c.stride_w - c.pad_left + kw * c.dilation_w
        uh, uw = max(1, c.up_h), max(1, c.up_w)  # every input pixel repeated uh x uw
        inside = (ih >= 0) & (ih < c.in_h * uh) & (iw >= 0) & (iw < c.in_w * uw)
        return (n * c.in_h + ih // uh) * c.in_w + iw // uw, inside

    def _image_rows(self, base: int, rows: np.ndarray, what: str) -> np.ndarray:
        """Unified Buffer rows ``base + rows`` (checked)."""
        if rows.size and base + int(rows.max()) >= len(self.ub):
            raise self.fail(f"{what} reads past the Unified Buffer")
        return self.ub[base + rows]

    # ------------------------------------------------------------------ control
    def _nop(self, ins: Instruction) -> None:
        pass

    def _sync(self, ins: Instruction) -> None:
        pass  # instructions take effect in order here: synchronization is timing only

    # ------------------------------------------------------------------ host transfers
    def _host_index(self, ins: Instruction) -> np.ndarray:
        """Host byte addresses of a transfer: [rows, row_bytes]."""
        index = ins.host + np.arange(ins.rows)[:, None] * ins.host_stride + \
            np.arange(ins.row_bytes)
        if index.size and int(index.max()) >= len(self.host):
            raise self.fail(f"host bytes up to {int(index.max()) + 1} are outside the "
                            f"{len(self.host)}-byte host buffer")
        return index

    def _host_call(self, ins: Instruction) -> None:
        run_segment(self.program, ins.segment, self.host)

    def _read_host(self, ins: Instruction) -> None:
        """UB rows = host rows of ``row_bytes`` bytes, the rest of each row zero."""
        rows = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        index = self._host_index(ins)
        self.ub[rows] = 0
        self.ub[rows, :ins.row_bytes] = np.frombuffer(self.host, np.uint8)[index]

    def _write_host(self, ins: Instruction) -> None:
        """Host rows = the first ``row_bytes`` bytes of UB rows."""
        rows = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        index = self._host_index(ins)
        np.frombuffer(self.host, np.uint8)[index] = self.ub[rows, :ins.row_bytes]

    # ------------------------------------------------------------------ configuration
    def _read_weights(self, ins: Instruction) -> None:
        """Push ``count`` consecutive weight tiles onto the weight FIFO."""
        for k in range(ins.count):
            start = ins.dram + k * TILE_BYTES
            if start + TILE_BYTES > len(self.weight_memory):
                raise self.fail(f"weight tile at byte {start} is outside the "
                                f"{len(self.weight_memory)}-byte weight memory")
            if len(self.fifo) >= self.fifo_depth:
                raise self.fail(f"a weight tile would be the {len(self.fifo) + 1}th in a "
                                f"{self.fifo_depth}-deep weight FIFO")
            tile = self.weight_memory[start:start + TILE_BYTES].view(np.int8)
            self.fifo.append(tile.reshape(LANES, LANES))

    def _load_table(self, ins: Instruction) -> None:
        start = ins.dram
        if start + RECORD_BYTES > len(self.weight_memory):
            raise self.fail(f"table record at byte {start} is outside the weight memory")
        record = self.weight_memory[start:start + RECORD_BYTES].tobytes()
        self.tables[ins.slot] = decode_table(record, f"table at byte {start}")

    def _set_conv(self, ins: Instruction) -> None:
        self.conv = ins

    # ------------------------------------------------------------------ matrix unit
    def _matmul(self, ins: Instruction) -> None:
        """acc rows (+)= input rows x tile: one 256-lane input vector per row."""
        if ins.switch:
            if not self.fifo:
                raise self.fail("switch needs a weight tile, but the weight FIFO is empty")
            self.tile = self.fifo.popleft()
        if self.tile is None:
            raise self.fail("no weight tile in the matrix unit")
        dst = self._rows(self.acc, ins.acc, ins.length, "accumulator")
        if ins.conv:
            x = self._conv_inputs(ins)
        else:
            x = self.ub[self._rows(self.ub, ins.ub, ins.length, "Unified Buffer")]
        product = self._values(x, bool(ins.unsigned)) @ self.tile.astype(np.int64)
        if ins.accumulate:
            self.acc[dst] += product
        else:
            self.acc[dst] = product

    def _conv_inputs(self, ins: Instruction) -> np.ndarray:
        """The input vectors of a convolution pass, [length, 256] bytes: for each
        output pixel, taps ``tap .. tap + taps_per_row - 1`` side by side. One tap per
        row takes all 256 lanes of its input row; packed taps take the first
        ``channels`` lanes each. Lanes past the last tap (or past the kernel) are zero;
        a tap outside the image reads ``pad_value``."""
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before a convolution")
        x = np.zeros((ins.length, LANES), np.uint8)
        width = (c.channels or LANES) if c.taps_per_row > 1 else LANES
        for j in range(c.taps_per_row):
            tap = ins.tap + j
            first = j * width
            if tap >= c.kernel_h * c.kernel_w or first >= LANES:
                break
            lanes = slice(first, min(LANES, first + width))
            n = lanes.stop - lanes.start
            rows, inside = self._window(tap, ins.length)
            image = self._image_rows(ins.ub, rows[inside], "convolution")
            x[inside, lanes] = image[:, :n]
            x[~inside, lanes] = c.pad_value
        return x

    # ------------------------------------------------------------------ vector units
    def _activate(self, ins: Instruction) -> None:
        """UB rows, lanes [column, column + lanes) = the table's requantization of
        lanes [0, lanes) of the source rows (accumulator + bias, or UB byte - zp_in),
        then its lookup table for sigmoid/tanh."""
        table = self._table(ins.table, ActivateTable)
        n = ins.lanes
        if not 1 <= n <= LANES or ins.column + n > LANES:
            raise self.fail(f"lanes [{ins.column}, {ins.column + n}) do not fit a row")
        dst = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        prelu = ins.function == FUNCTIONS["prelu"]
        if prelu != (table.negative_multiplier is not None) or (prelu and not ins.src_ub):
            raise self.fail("activate function prelu needs a PRelu table and src_ub=1")
        if prelu:  # the rescale by the sign of byte - zp_in, negated for negative slopes
            src = self._rows(self.ub, ins.src, ins.rows, "Unified Buffer")
            value = self._values(self.ub[src, :n], table.unsigned) - table.zp_in
            neg_m = table.negative_multiplier[:n]
            neg = _requantize(value, np.abs(neg_m), table.negative_shift[:n], 0,
                              quant_arith.INT32_MIN, quant_arith.INT32_MAX)
            neg = np.clip(np.where(neg_m < 0, -neg, neg) + table.zp_out, table.clamp_min,
                          table.clamp_max)
            pos = _requantize(value, table.multiplier[:n], table.shift[:n], table.zp_out,
                              table.clamp_min, table.clamp_max)
            self.ub[dst, ins.column:ins.column + n] = _bytes(np.where(value >= 0, pos, neg))
            return
        if ins.src_ub:
            src = self._rows(self.ub, ins.src, ins.rows, "Unified Buffer")
            value = self._values(self.ub[src, :n], table.unsigned) - table.zp_in
        else:
            src = self._rows(self.acc, ins.src, ins.rows, "accumulator")
            value = self.acc[src, :n] + table.bias[:n]
            outside = quant_arith.int32_overflow(value)
            if outside is not None:
                layer = self.program.layer_of[self.pc] \
                    if self.pc < len(self.program.layer_of) else ""
                where = f"layer '{layer}': " if layer else ""
                raise self.fail(where + quant_arith.accumulator_overflow_message(outside))
        y = _requantize(value, table.multiplier[:n], table.shift[:n], table.zp_out,
                        table.clamp_min, table.clamp_max)
        if ins.function:  # sigmoid or tanh: the table's 256 entries, by code - min code
            y = table.lut[y - (0 if table.unsigned else -128)].astype(np.int64)
        self.ub[dst, ins.column:ins.column + n] = _bytes(y)

    def _pool(self, ins: Instruction) -> None:
        """For each output pixel of the set_conv geometry: the max of its window's bytes
        (padding never wins) into UB rows, or the sum of (byte - pad_value) over the
        window (padding adds nothing) into accumulator rows."""
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before pool")
        unsigned = bool(ins.unsigned)
        pad = _as_storage(c.pad_value, unsigned)
        best = np.full((ins.length, LANES), 0 if unsigned else -128, np.int64)
        total = np.zeros((ins.length, LANES), np.int64)
        for tap in range(c.kernel_h * c.kernel_w):
            rows, inside = self._window(tap, ins.length)
            values = self._values(self._image_rows(ins.src, rows[inside], "pool"), unsigned)
            best[inside] = np.maximum(best[inside], values)
            total[inside] += values - pad
        if ins.sum:
            self.acc[self._rows(self.acc, ins.dst, ins.length, "accumulator")] = total
        else:
            self.ub[self._rows(self.ub, ins.dst, ins.length, "Unified Buffer")] = _bytes(best)

    def _add(self, ins: Instruction) -> None:
        """UB rows = TFLite's int8 ADD of two row ranges: each input minus its zero
        point, shifted left, rescaled to a common scale; the sum rescaled to the
        output, plus its zero point, clamped."""
        t = self._table(ins.table, AddTable)
        dst = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        a, b = (self._values(self.ub[self._rows(self.ub, start, ins.rows, "Unified Buffer")],
                             t.unsigned) for start in (ins.src_a, ins.src_b))
        (m_a, m_b, m_out), (s_a, s_b, s_out) = t.multipliers, t.shifts
        a = quant_arith.multiply_by_quantized_multiplier((a - t.zp_a) << t.left_shift, m_a, s_a)
        b = quant_arith.multiply_by_quantized_multiplier((b - t.zp_b) << t.left_shift, m_b, s_b)
        self.ub[dst] = _bytes(_requantize(a + b, m_out, s_out, t.zp_out, t.clamp_min,
                                          t.clamp_max))


def _requantize(value: np.ndarray, m: np.ndarray | int, shift: np.ndarray | int,
                zero_point: int, lo: int, hi: int) -> np.ndarray:
    """clamp(zero_point + round(value * m * 2^(shift - 31)), lo, hi): the rounding
    saturates to int32 first (quant_arith.multiply_by_quantized_multiplier)."""
    scaled = quant_arith.multiply_by_quantized_multiplier(value, m, shift)
    return np.clip(scaled + zero_point, lo, hi)


def _bytes(values: np.ndarray) -> np.ndarray:
    """int8 or uint8 values (as int64) as the bytes the Unified Buffer stores."""
    return (values & 0xFF).astype(np.uint8)


def _as_storage(byte: int, unsigned: bool) -> int:
    """A configuration byte as the int8 or uint8 value it stands for."""
    return byte if unsigned or byte < 128 else byte - 256


def write_inputs(host: bytearray, program: Program, inputs: Mapping[str, np.ndarray]) -> None:
    """Lay quantized inputs (storage integers by name) into the host buffer space."""
    for desc in program.inputs:
        if desc.name not in inputs:
            raise QccError(f"missing input '{desc.name}' {list(desc.shape)}")
        q = np.asarray(inputs[desc.name])
        if q.shape != desc.shape and q.size == math.prod(desc.shape):
            q = q.reshape(desc.shape)  # the host lays the input out reshaped
        data = to_rows(desc, q)
        host[desc.host_offset:desc.host_offset + len(data)] = data


def read_outputs(host: bytearray, program: Program) -> dict[str, np.ndarray]:
    """The quantized outputs by name, from the host buffer space."""
    return {d.name: from_rows(d, bytes(host[d.host_offset:d.host_offset + d.host_bytes]))
            for d in program.outputs}


def execute_reference(program: Program, inputs: Mapping[str, np.ndarray],
                      target: Target | None = None) -> dict[str, np.ndarray]:
    """``simulator.execute`` on the reference machine: the quantized outputs by name."""
    machine = ReferenceMachine(program, target or program.resolve_target())
    write_inputs(machine.host, program, inputs)
    machine.run()
    return read_outputs(machine.host, program)
