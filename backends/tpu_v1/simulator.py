"""The fast executor: runs a TPU program as ``reference.py`` defines it, bit for bit,
with the work batched where the result cannot tell.

``reference.py`` is the plain reference machine (one instruction at a time, as
docs/isa.md describes it); this module computes the same outputs and leaves the same
Unified Buffer and accumulator contents (tests/backends/tpu_v1/test_reference.py),
faster: weight tiles decoded once and multiplied by their nonzero block, consecutive
matrix passes into the same rows multiplied together (``_PendingSum``), later output
blocks of a layer taken in the same product (``_plan``), accumulators kept in int32
with a bound that says when a sum may leave it, and the matrix products on an engine
(engines.py). Every integer operation that rounds goes through ``qcc.quant_arith``,
the module the IR interpreter uses too: that is what makes the two agree bit for
bit. Timing is not modelled here (see ``timing.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from qcc import fast, quant_arith
from qcc.backends.tpu_v1.engines import select_engine
from qcc.backends.tpu_v1.host import run_segment
from qcc.backends.tpu_v1.isa import FUNCTIONS, Instruction
from qcc.backends.tpu_v1.program import LANES, Program
from qcc.backends.tpu_v1.reference import (
    TILE_BYTES,
    MachineError,
    _as_storage,
    read_outputs,
    write_inputs,
)
from qcc.backends.tpu_v1.tables import RECORD_BYTES, ActivateTable, AddTable, decode_table
from qcc.backends.tpu_v1.target import Target

__all__ = ["AUTO_ENGINE_MACS", "Machine", "MachineError", "execute"]


class Machine:
    def __init__(self, program: Program, target: Target, engine: str | None = "auto"):
        if engine in (None, "auto") and _matrix_macs(program) < AUTO_ENGINE_MACS:
            engine = "numpy"  # too small to repay loading onnxruntime
        self.engine = select_engine(engine)
        self.program = program
        # the instructions as this machine runs them (a list changed during a run does
        # not change the run)
        self.instructions = tuple(program.instructions)
        self.host = bytearray(program.host_bytes)
        self.ub = np.zeros((target.unified_buffer.rows, LANES), np.uint8)
        # acc_bound[row] bounds |value| of the row since its last overwrite, so the int32
        # overflow check runs only when an overflow is possible. The accumulators hold
        # int32 values modulo 2^32, as 32-bit registers do; the exact values of rows whose
        # bound passes int32 are kept in acc_wide (allocated when first needed), so that
        # activate can check the layer's value as quant_arith's overflow rule says
        self.acc = np.zeros((target.accumulators.rows, LANES), np.int32)
        # each row's lanes [acc_lo, acc_hi) hold its values; the lanes outside are zero
        # by the machine's definition but not yet written (a pass that overwrites rows
        # clears the lanes it does not write: the clearing waits until something reads
        # them, _real, which for most layers never happens)
        self.acc_lo = np.zeros(target.accumulators.rows, np.int16)
        self.acc_hi = np.full(target.accumulators.rows, LANES, np.int16)
        self.acc_bound = np.zeros(target.accumulators.rows, np.float64)
        self.acc_bound_top = 0.0  # >= every acc_bound (activate's check asks it first)
        self.acc_wide: np.ndarray | None = None
        self.dram = np.frombuffer(program.weights, np.uint8)
        self.fifo: deque[_Tile] = deque()
        self.fifo_depth = target.weights.fifo_depth
        self.tile: _Tile | None = None
        # decoded weight tiles by weight-memory byte, for as long as the image is the same
        if program.decoded_tiles.get("weights") is not program.weights:
            program.decoded_tiles.clear()
            program.decoded_tiles["weights"] = program.weights
        self._tiles: dict[int, _Tile] = program.decoded_tiles
        # convolution taps' input rows by geometry, kept with the program too
        self._gathers: dict[tuple, _Gather] = program.decoded_tiles.setdefault("gathers", {})
        self.tables: dict[int, ActivateTable | AddTable] = {}
        # decoded table records by weight-memory byte, kept with the program, and for an
        # activate table its prepared requantization and bias (float64)
        self._records: dict[int, tuple] = program.decoded_tiles.setdefault("tables", {})
        self._prepared: dict[int, tuple] = {}
        # look-ahead plans by pc (_plan), kept with the program for these instructions
        # (they are immutable, and comparing the tuples compares identities first)
        plans = program.decoded_tiles.get("plans")
        if plans is None or plans[0] != self.instructions:
            plans = program.decoded_tiles["plans"] = (self.instructions, {})
        self._plans: dict[int, tuple] = plans[1]
        self.conv: Instruction | None = None
        self._conv_key: tuple = ()
        # consecutive passes into the same accumulator rows, not yet multiplied, by their
        # first row: several sets of rows at once (a tile's passes over two chunks of
        # rows, taken in turn, each chunk's passes summed as one product)
        self._pendings: dict[int, _PendingSum] = {}
        # products of passes still to come, taken with earlier ones (_flush), by the pc
        # of their first pass
        self._prefetched: dict[int, tuple] = {}
        self._conv_reads = (0, 0)  # Unified Buffer rows [lo, hi) the last conv pass read
        self._fast = fast.enabled()  # compiled loops (qcc/fast.py)
        self.pc = 0

    # ------------------------------------------------------------------ helpers
    def fail(self, message: str) -> MachineError:
        ins = self.instructions[self.pc]
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

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        instrs = self.instructions
        # each instruction's handler and whether it ends the pending passes, looked up
        # once per distinct op (not per instruction: the lookups were a tenth of a
        # small program's run)
        handlers = {op: (getattr(self, f"_{op}", None), op not in _KEEP_PENDING)
                    for op in {ins.op for ins in instrs}}
        steps = [(ins, *handlers[ins.op]) for ins in instrs]
        while self.pc < len(steps):
            ins, handler, ends_pending = steps[self.pc]
            if ends_pending and self._pendings:
                self._flush()
            if ins.op == "halt":
                return
            if handler is None:
                raise self.fail(f"no such instruction '{ins.op}'")
            handler(ins)
            self.pc += 1
        raise MachineError("the program ran past its end without 'halt'")

    def _nop(self, ins: Instruction) -> None:
        pass

    _sync = _nop  # synchronization matters for timing only

    def _host_rows(self, ins: Instruction) -> tuple[slice, np.ndarray]:
        """(UB rows, the host bytes they move to or from: a [rows, row_bytes] view of
        the host buffer, row r at byte host + r * host_stride) of a transfer."""
        rows = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        n = ins.row_bytes
        end = ins.host + (ins.rows - 1) * ins.host_stride + n if ins.rows else ins.host
        if end > len(self.host):
            raise self.fail(f"host bytes up to {end} are outside the {len(self.host)}-byte "
                            "host buffer")
        host = np.frombuffer(self.host, np.uint8)
        if not ins.rows:
            return rows, host[:0].reshape(0, n)
        # a strided view (inside the buffer: checked above), not a gather by index
        view = np.lib.stride_tricks.as_strided(host[ins.host:end], (ins.rows, n),
                                               (ins.host_stride, 1))
        return rows, view

    def _host_call(self, ins: Instruction) -> None:
        run_segment(self.program, ins.segment, self.host)

    def _read_host(self, ins: Instruction) -> None:
        rows, view = self._host_rows(ins)
        self.ub[rows, ins.row_bytes:] = 0
        self.ub[rows, :ins.row_bytes] = view

    def _write_host(self, ins: Instruction) -> None:
        rows, view = self._host_rows(ins)
        if ins.host_stride < ins.row_bytes and ins.rows > 1:
            # rows that overlap in host memory: later rows win, as the DMA writes them
            for r in range(ins.rows):
                view[r] = self.ub[rows.start + r, :ins.row_bytes]
            return
        view[...] = self.ub[rows, :ins.row_bytes]

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
            self.fifo.append(self._tile(start))

    def _load_table(self, ins: Instruction) -> None:
        start = ins.dram
        if start + RECORD_BYTES > len(self.dram):
            raise self.fail(f"table record at byte {start} is outside the weight memory")
        loaded = self._records.get(start)
        if loaded is None:
            record = self.dram[start:start + RECORD_BYTES].tobytes()
            table = decode_table(record, f"table at byte {start}")
            prepared = None
            if isinstance(table, ActivateTable):
                prepared = (quant_arith.Requantizer(table.multiplier, table.shift,
                                                    table.zp_out, table.clamp_min,
                                                    table.clamp_max),
                            table.bias.astype(np.float64),
                            float(np.abs(table.bias).max(initial=0)))
            loaded = self._records[start] = (table, prepared)
        self.tables[ins.slot], self._prepared[ins.slot] = loaded

    def _set_conv(self, ins: Instruction) -> None:
        self.conv = ins
        self._conv_key = tuple(ins.args.values())

    # ------------------------------------------------------------------ matrix unit
    def _tile(self, start: int) -> _Tile:
        tile = self._tiles.get(start)
        if tile is None:
            w = self.dram[start:start + TILE_BYTES].view(np.int8).reshape(LANES, LANES)
            tile = self._tiles[start] = _Tile.decode(w)
            tile.start = start
        return tile

    def _geometry(self, first_tap: int, count: int, length: int) -> _Gather:
        """Where the input vectors of taps [first_tap, first_tap + count) of the current
        convolution geometry come from (taps past the kernel, in a last partial group
        of packed taps, are left out)."""
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before a convolution")
        key = (self._conv_key, first_tap, count, length)
        gather = self._gathers.get(key)
        if gather is not None:
            return gather
        taps = np.arange(first_tap, min(first_tap + count, c.kernel_h * c.kernel_w))
        kh, kw = np.divmod(taps, c.kernel_w)
        p = c.first_pixel + np.arange(length)
        n, rest = np.divmod(p, c.out_h * c.out_w)
        oh, ow = np.divmod(rest, c.out_w)
        ih = (oh * c.stride_h - c.pad_top)[:, None] + kh * c.dilation_h
        iw = (ow * c.stride_w - c.pad_left)[:, None] + kw * c.dilation_w
        uh, uw = max(1, c.up_h), max(1, c.up_w)  # nearest upsampling of the image
        inside = (ih >= 0) & (ih < c.in_h * uh) & (iw >= 0) & (iw < c.in_w * uw)
        rows = (n[:, None] * c.in_h + np.clip(ih // uh, 0, c.in_h - 1)) * c.in_w + \
            np.clip(iw // uw, 0, c.in_w - 1)
        gather = self._gathers[key] = _Gather(rows, None if inside.all() else ~inside)
        return gather

    def _read_geometry(self, base: int, first_tap: int, count: int, length: int
                       ) -> _Gather:
        """_geometry for a pass reading the input at Unified Buffer row ``base``:
        checked against the buffer's end, its rows noted in _conv_reads."""
        g = self._geometry(first_tap, count, length)
        if g.rows.size and base + g.last_row >= len(self.ub):
            raise self.fail("convolution reads past the Unified Buffer")
        self._conv_reads = (base + g.first_row, base + g.last_row + 1)
        return g

    def _conv_rows(self, base: int, first_tap: int, length: int, unsigned: bool,
                   lanes: slice) -> np.ndarray:
        """Lanes ``lanes`` of the input vectors of a convolution pass: [length, lanes]
        bytes as the Unified Buffer stores them. Packed taps lay ``channels`` lanes of
        each tap side by side; one tap per pass takes all 256 lanes of its rows."""
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before a convolution")
        per_row = c.taps_per_row
        width = (c.channels or LANES) if per_row > 1 else LANES
        if lanes.stop <= lanes.start:  # an all-zero tile reads nothing
            self._read_geometry(base, first_tap, 1, length)
            self._conv_reads = (base, base)
            return np.zeros((length, 0), np.uint8)
        # only the taps whose lanes the tile reads
        j0 = lanes.start // width
        j1 = max(j0, min(per_row, -(-lanes.stop // width)))
        g = self._read_geometry(base, first_tap + j0, j1 - j0, length)
        ub = self.ub[base:]  # the rows are relative to the input's first row
        if per_row == 1:
            src = g.rows[:, 0] if g.start is None else slice(g.start, g.start + length)
            values = ub[src, lanes][:, None, :]
            lo = 0
        elif width < _BYTE_GATHER_WIDTH:
            offsets, pad = g.byte_index(width)
            flat = ub.reshape(-1)[offsets]  # [length, taps * width]
            if pad is not None:
                flat.reshape(-1)[pad] = c.pad_value  # the padding byte (a gathered copy)
            values = flat[:, None, :]
            lo = lanes.start - j0 * width
        else:
            values = ub[g.rows, :width]  # [length, taps, width]
            lo = lanes.start - j0 * width
        if g.outside is not None and not (per_row > 1 and width < _BYTE_GATHER_WIDTH):
            values[g.outside] = c.pad_value  # the padding byte (values is a gathered copy)
        flat = values.reshape(length, values.shape[1] * values.shape[2])
        flat = flat[:, lo:lo + lanes.stop - lanes.start]
        if flat.shape[1] == lanes.stop - lanes.start:
            return flat
        out = np.zeros((length, lanes.stop - lanes.start), np.uint8)
        out[:, :flat.shape[1]] = flat  # lanes past the last tap of a partial group are zero
        return out

    def _conv_input_rows(self, base: int, first_tap: int, length: int) -> _Rows | None:
        """The input rows of a one-tap-per-pass convolution pass (a depthwise layer's
        diagonal tiles), not gathered: _flush reads them in place (fast.diagonal_sum).
        None for packed taps (gathered by _conv_rows)."""
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before a convolution")
        if c.taps_per_row != 1:
            return None
        g = self._read_geometry(base, first_tap, 1, length)
        return _Rows(base, g.flat_rows(), c.pad_value)

    def _values(self, x: np.ndarray | _Rows, lanes: slice) -> np.ndarray:
        """A pass's input vectors as an array (gathered now when they were deferred)."""
        if not isinstance(x, _Rows):
            return x
        values = self.ub[x.base + np.maximum(x.rows, 0), lanes]
        values[x.rows < 0] = x.pad
        return values

    def _matmul(self, ins: Instruction) -> None:
        f = ins.args  # the fields (attribute access to them is slower, and this is hot)
        length, accumulate, unsigned = f["length"], bool(f["accumulate"]), bool(f["unsigned"])
        if f["switch"]:
            if not self.fifo:
                raise self.fail("switch needs a weight tile, but the weight FIFO is empty")
            self.tile = self.fifo.popleft()
        tile = self.tile
        if tile is None:
            raise self.fail("no weight tile in the matrix unit")
        dst = self._rows(self.acc, f["acc"], length, "accumulator")
        # only the tile's nonzero block is multiplied: the other lanes add zeros
        # a diagonal tile's inputs are read in place when the passes are summed
        # (fast.diagonal_sum), not gathered here
        lazy = tile.diagonal is not None and self._fast
        if f["conv"]:
            x = self._conv_input_rows(f["ub"], f["tap"], length) if lazy else None
            if x is None:
                x = self._conv_rows(f["ub"], f["tap"], length, unsigned, tile.rows)
            reads = self._conv_reads
            source = (f["ub"], f["tap"], self._conv_key, tile.rows)
        else:
            src = self._rows(self.ub, f["ub"], length, "Unified Buffer")
            x = _Rows(src.start, _consecutive(length), 0) if lazy else \
                self.ub[src, tile.rows]
            reads = (src.start, src.stop)
            source = (f["ub"], -1, None, tile.rows)
        # one pass is at most 255 * 128 * 256 < 2^31 in size; sums are kept exactly past
        # int32 only where the bound of |sum| over the passes leaves overflow possible
        step = tile.abs_col_sum * (255 if unsigned else 128)
        # dense and diagonal tiles are kept pending (in separate runs); an all-zero one
        # is not
        kind = None if not tile.weights.size else tile.diagonal is not None
        if self._pendings:
            pending = self._pendings.get(dst.start)
            if pending is not None and kind is not None and accumulate and \
                    pending.dst == dst and pending.cols == tile.cols and \
                    pending.unsigned == unsigned and pending.diagonal == kind and \
                    pending.bound + step <= quant_arith.INT32_MAX:
                pending.add(x, tile, source, reads, step)
                return
            # other rows' passes may stay pending: they are summed independently
            if pending is not None or kind is None or any(
                    p.dst.start < dst.stop and dst.start < p.dst.stop
                    for p in self._pendings.values()):
                self._flush()
        bound = self.acc_bound[dst] + step if accumulate else step
        top = float(bound.max()) if accumulate and length else float(step)
        may_overflow = accumulate and length and top > quant_arith.INT32_MAX
        if kind is not None and not may_overflow:
            # the sum is taken when the passes into these rows end (_flush): one product
            # over all their input lanes. No partial sum can overflow (the bound).
            self._pendings[dst.start] = _PendingSum(dst, tile.cols, unsigned, accumulate, x,
                                                    tile, source, reads, self.pc, bound)
            return
        if self._pendings:
            self._flush()  # a pass taken now comes after every pending one
        # exact integer sums (engines.py)
        if not tile.weights.size:
            product = np.zeros((ins.length, 0), np.int32)  # an all-zero tile
        elif tile.diagonal is not None:
            # |byte x int8| <= 255 * 128 fits int16 (numpy computes the product in int16)
            x = self._values(x, tile.rows)
            product = (x if ins.unsigned else x.view(np.int8)) * tile.diagonal
        else:
            product = self.engine.multiply(x, bool(ins.unsigned), tile.weights, tile.block)
        if may_overflow:
            # the raw sum may leave int32 (the hardware's registers wrap around): kept
            # exactly; whether the layer's value fits is activate's check
            exact = self._exact(dst)
            part = exact[:, tile.cols]
            np.add(part, product, out=part, casting="unsafe")  # float32 holds integers
            self._store_exact(dst, exact, bound)
            return
        self._store(dst, tile.cols, bool(ins.accumulate), product)
        self.acc_bound[dst] = bound
        self.acc_bound_top = max(self.acc_bound_top, top)

    def _real(self, rows: slice, lanes: slice) -> None:
        """Write the zeros of accumulator rows' lanes ``lanes`` that are still only
        implied (acc_lo, acc_hi): before anything reads those lanes."""
        if rows.stop <= rows.start or lanes.stop <= lanes.start:
            return
        lo, hi = self.acc_lo[rows], self.acc_hi[rows]
        if int(lo.max()) <= lanes.start and int(hi.min()) >= lanes.stop:
            return
        acc = self.acc[rows]
        if int(lo.min()) == int(lo.max()) and int(hi.min()) == int(hi.max()):
            a, b = int(lo[0]), int(hi[0])  # one window for every row (a layer's)
            acc[:, :a] = 0
            acc[:, b:] = 0
        else:
            lane = np.arange(LANES, dtype=np.int16)
            acc[(lane < lo[:, None]) | (lane >= hi[:, None])] = 0
        lo[...] = 0
        hi[...] = LANES

    def _written(self, rows: slice, lanes: slice = slice(0, LANES)) -> None:
        """Accumulator rows written over on lanes ``lanes`` (the others: zero)."""
        self.acc_lo[rows] = lanes.start
        self.acc_hi[rows] = lanes.stop

    def _exact(self, rows: slice) -> np.ndarray:
        """The exact values of accumulator rows, as a new int64 array."""
        self._real(rows, slice(0, LANES))
        values = self.acc[rows].astype(np.int64)
        if self.acc_wide is not None:
            wide = self.acc_bound[rows] > quant_arith.INT32_MAX
            if wide.any():
                values[wide] = self.acc_wide[rows][wide]
        return values

    def _store_exact(self, rows: slice, values: np.ndarray, bound: np.ndarray) -> None:
        """Accumulator rows = ``values`` (int64, every lane), whose |values| are bounded
        by ``bound`` (per row): modulo 2^32 in the accumulators, exactly in acc_wide
        where the bound passes int32."""
        self.acc[rows] = values.astype(np.int32)  # two's complement wrap-around
        self._written(rows)
        self.acc_bound[rows] = bound
        self.acc_bound_top = max(self.acc_bound_top, float(np.max(bound, initial=0)))
        wide = np.broadcast_to(bound, (rows.stop - rows.start,)) > quant_arith.INT32_MAX
        if wide.any():
            if self.acc_wide is None:
                self.acc_wide = np.zeros(self.acc.shape, np.int64)
            self.acc_wide[rows][wide] = values[wide]

    def _store(self, dst: slice, cols: slice, accumulate: bool, product: np.ndarray) -> None:
        """Accumulator rows ``dst``, lanes ``cols``: += product, or = product with the
        other lanes cleared (when they are next read: _real)."""
        acc = self.acc[dst]
        if accumulate:
            self._real(dst, cols)
            np.add(acc[:, cols], product, out=acc[:, cols], casting="unsafe")
        else:
            acc[:, cols] = product
            self._written(dst, cols)

    def _flush(self) -> None:
        """Multiply and accumulate the pending passes of every set of rows (the state
        is then as if each had been accumulated when it issued: integer sums do not
        depend on their order, and the sets of rows do not overlap)."""
        pendings, self._pendings = self._pendings, {}
        for p in pendings.values():
            self._flush_rows(p)

    def _flush_rows(self, p: _PendingSum) -> None:
        """Multiply and accumulate the pending passes into one set of rows.

        When the passes that follow, up to the next instruction that is not an
        activate, a matrix pass or a configuration, multiply the same input vectors
        into other output lanes (the other output blocks of a layer: _plan), their
        products are taken now in the same matrix product and kept until those
        passes issue (_prefetched)."""
        self.acc_bound[p.dst] = p.row_bounds()
        self.acc_bound_top = max(self.acc_bound_top, p.bound)
        if p.diagonal:
            if all(isinstance(x, _Rows) for x in p.xs):
                # read in place, multiplied and summed into the rows in one loop
                ub = self.ub if p.unsigned else self.ub.view(np.int8)
                if p.accumulate:
                    self._real(p.dst, p.cols)
                else:  # the loop writes the lanes p.cols of the rows
                    self._written(p.dst, p.cols)
                pad = [x.pad if p.unsigned or x.pad < 128 else x.pad - 256 for x in p.xs]
                fast.diagonal_sum(ub, np.stack([x.rows for x in p.xs]),
                                  np.array([x.base for x in p.xs], np.int64),
                                  np.array(pad, np.int64),
                                  np.stack([t.diagonal for t in p.tiles]), p.cols.start,
                                  self.acc, p.dst.start, p.accumulate)
                return
            # diagonal tiles (depthwise): elementwise products; |byte x int8| fits
            # int16, and their sum int32 (the bound)
            total = None
            for x, t in zip(p.xs, p.tiles, strict=True):
                x = self._values(x, t.rows)
                term = (x if p.unsigned else x.view(np.int8)) * t.diagonal
                if total is None:
                    total = term.astype(np.int32)
                else:
                    total += term
            self._store(p.dst, p.cols, p.accumulate, total)
            return
        starts = tuple(t.start for t in p.tiles)
        ahead = self._prefetched.pop(p.first_pc, None)
        if ahead is not None and ahead[0] == starts and ahead[1] == p.sources:
            self._store(p.dst, p.cols, p.accumulate, ahead[2])
            return
        plan = self._plan(p) if not p.accumulate else ()
        groups = ((p.first_pc, starts, p.tiles), *plan)
        key = ("stack", *(g[1] for g in groups))

        def weights() -> np.ndarray:
            stacks = [np.concatenate([t.weights for t in g[2]]) for g in groups]
            return stacks[0] if len(stacks) == 1 else np.concatenate(stacks, axis=1)

        blocks = [t.block for t in p.tiles] if not plan else None
        product = self.engine.multiply_sum(p.xs, p.unsigned, weights, self._tiles, key,
                                           blocks)
        width = p.cols.stop - p.cols.start
        self._store(p.dst, p.cols, p.accumulate, product[:, :width])
        at = width
        for first_pc, group_starts, tiles in plan:
            n = tiles[0].cols.stop - tiles[0].cols.start
            self._prefetched[first_pc] = (group_starts, p.sources, product[:, at:at + n])
            at += n

    def _plan(self, p: _PendingSum) -> tuple:
        """The groups of passes after the current instruction that multiply the input
        vectors of ``p`` again, each into its own accumulator rows and output lanes:
        (first pass's pc, tile bytes, tiles) for each, in order. Cached by pc and p's
        first pass for the program's instructions: the instructions, the weight FIFO's
        contents at each pc and the Unified Buffer rows each instruction writes are all
        fixed by the program (Machine.__init__ keeps them for the instructions only)."""
        key = (self.pc, p.first_pc)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._scan(p)
        return plan

    def _scan(self, p: _PendingSum) -> tuple:
        """_plan's search: from the activate at pc, through activates (none may write
        the rows p read), configuration and weight loads, to each later group of
        passes that repeats p's passes exactly (same input rows, taps, geometry, lanes
        and signedness; first pass overwriting, then accumulating into one set of rows
        and output lanes), each ended by an activate. Stops at anything else."""
        instrs = self.instructions
        if instrs[self.pc].op != "activate":
            return ()
        lo, hi = min(r[0] for r in p.reads), max(r[1] for r in p.reads)
        fifo, tile, conv_key = list(self.fifo), self.tile, self._conv_key
        groups: list[tuple] = []
        current: tuple | None = None  # (first pc, accumulator row, tiles)
        lanes = p.cols.stop - p.cols.start
        for pc in range(self.pc, len(instrs)):
            ins = instrs[pc]
            op = ins.op
            if op == "activate":
                if current is not None:
                    n = current[2][0].cols.stop - current[2][0].cols.start
                    if len(current[2]) != len(p.sources) or lanes + n > _MAX_PLANNED_LANES:
                        break
                    groups.append((current[0], tuple(t.start for t in current[2]),
                                   tuple(current[2])))
                    lanes += n
                    current = None
                    if len(groups) == _MAX_PLANNED_GROUPS:
                        break
                if ins.src_ub or (ins.ub < hi and lo < ins.ub + ins.rows):
                    break  # it overwrites input rows a later group would read
            elif op == "set_conv":
                conv_key = tuple(ins.args.values())
            elif op == "read_weights":
                if len(fifo) + ins.count > self.fifo_depth or \
                        ins.dram + ins.count * TILE_BYTES > len(self.dram):
                    break
                fifo += [self._tile(ins.dram + k * TILE_BYTES) for k in range(ins.count)]
            elif op == "matmul":
                if ins.switch:
                    if not fifo:
                        break
                    tile = fifo.pop(0)
                k = 0 if current is None else len(current[2])
                if tile is None or tile.diagonal is not None or not tile.weights.size or \
                        ins.length != p.length or bool(ins.unsigned) != p.unsigned or \
                        bool(ins.accumulate) != (k > 0) or k >= len(p.sources):
                    break
                source = (ins.ub, ins.tap, conv_key, tile.rows) if ins.conv else \
                    (ins.ub, -1, None, tile.rows)
                if source != p.sources[k]:
                    break
                if current is None:
                    current = (pc, ins.acc, [tile])
                elif ins.acc != current[1] or tile.cols != current[2][0].cols:
                    break
                else:
                    current[2].append(tile)
                bound = sum(t.abs_col_sum for t in current[2]) * (255 if p.unsigned else 128)
                if bound > quant_arith.INT32_MAX:
                    break  # its overflow check runs pass by pass
            elif op not in ("load_table", "sync", "nop"):
                break
        return tuple(groups)

    # ------------------------------------------------------------------ vector units
    def _activate(self, ins: Instruction) -> None:
        table = self._table(ins.table, ActivateTable)
        if not 1 <= ins.lanes <= LANES or ins.column + ins.lanes > LANES:
            raise self.fail(f"lanes [{ins.column}, {ins.column + ins.lanes}) do not fit a "
                            "row")
        lanes = slice(0, ins.lanes)  # only the lanes written back are computed
        dst = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        if (ins.function == FUNCTIONS["prelu"]) != (table.negative_multiplier is not None):
            raise self.fail("activate function prelu needs a PRelu table and a PRelu table "
                            "needs function prelu")
        if table.negative_multiplier is not None:
            self._prelu(ins, table, dst, lanes)
            return
        requantizer, bias, bias_bound = self._prepared[ins.table]
        if ins.src_ub:
            src = self._rows(self.ub, ins.src, ins.rows, "Unified Buffer")
            x = self.ub[src, lanes] if table.unsigned else self.ub[src, lanes].view(np.int8)
            if _overlaps_later(src.start, dst, ins.rows):
                x = x.copy()
            offset = -table.zp_in
        else:
            src = self._rows(self.acc, ins.src, ins.rows, "accumulator")
            if self.acc_bound_top + bias_bound > quant_arith.INT32_MAX and ins.rows and \
                    self.acc_bound[src].max() + bias_bound > quant_arith.INT32_MAX:
                # the layer's value, sum + bias, might leave int32: computed exactly and
                # checked (quant_arith's overflow rule, the interpreter's too)
                x = self._exact(src)[:, lanes] + table.bias[lanes]
                value = quant_arith.int32_overflow(x)
                if value is not None:
                    layer = self.program.layer_of[self.pc] \
                        if self.pc < len(self.program.layer_of) else ""
                    where = f"layer '{layer}': " if layer else ""
                    raise self.fail(where + quant_arith.accumulator_overflow_message(value))
                offset = 0
            else:
                self._real(src, lanes)
                x = self.acc[src, lanes]
                offset = bias[lanes]  # the table's int32 bias, as float64
        dtype = np.uint8 if table.unsigned else np.int8
        out = self.ub.view(dtype)[dst, ins.column:ins.column + ins.lanes]
        if not ins.function:
            requantizer(out, x, offset, lanes)
            return
        y = np.empty(out.shape, dtype)
        requantizer(y, x, offset, lanes)
        lo = 0 if table.unsigned else -128
        out[...] = table.lut[y.astype(np.int64) - lo].astype(dtype)

    def _prelu(self, ins: Instruction, table: ActivateTable, dst: slice,
               lanes: slice) -> None:
        """quant_arith.prelu of Unified Buffer rows, per lane."""
        if not ins.src_ub:
            raise self.fail("activate function prelu reads the Unified Buffer (src_ub=1)")
        src = self._rows(self.ub, ins.src, ins.rows, "Unified Buffer")
        dtype = np.uint8 if table.unsigned else np.int8
        x = self.ub[src, lanes].view(dtype).astype(np.int64) - table.zp_in
        out = self.ub.view(dtype)[dst, ins.column:ins.column + ins.lanes]
        out[...] = quant_arith.prelu(x, table.multiplier[lanes], table.shift[lanes],
                                     table.negative_multiplier[lanes],
                                     table.negative_shift[lanes], table.zp_out,
                                     table.clamp_min, table.clamp_max, dtype)

    def _pool(self, ins: Instruction) -> None:
        c = self.conv
        if c is None:
            raise self.fail("no set_conv before pool")
        dtype = np.uint8 if ins.unsigned else np.int8
        floor = 0 if ins.unsigned else -128
        pad = _as_storage(c.pad_value, ins.unsigned)
        best = np.full((ins.length, LANES), floor, dtype)
        taps = c.kernel_h * c.kernel_w
        # |sum| <= 255 * taps: int32 unless a (hand-written) window is that large
        wide = ins.sum and 255 * taps > quant_arith.INT32_MAX
        total = np.zeros((ins.length, LANES), np.int64 if wide else np.int32)
        # taps in groups whose gathered rows take about 4 MiB: one gather per group, not
        # per tap (a global average pool over 56 x 56 pixels has 3,136 taps); integer
        # sums and maxima do not depend on the order they are taken in
        group = max(1, _POOL_GATHER_BYTES // max(1, ins.length * LANES))
        for t0 in range(0, taps, group):
            count = min(group, taps - t0)
            g = self._geometry(t0, count, ins.length)
            if g.rows.size and ins.src + g.last_row >= len(self.ub):
                raise self.fail("pool reads past the Unified Buffer")
            values = self.ub[g.rows + ins.src].view(dtype)  # [pixels, taps, lanes]
            if ins.sum:
                centered = values.astype(np.int32) - pad
                if g.outside is not None:
                    centered[g.outside] = 0  # padding adds nothing
                total += centered.sum(axis=1, dtype=total.dtype)
            else:
                if g.outside is not None:
                    values[g.outside] = floor  # padding never wins (a gathered copy)
                np.maximum(best, values.max(axis=1), out=best)
        if ins.sum:
            dst = self._rows(self.acc, ins.dst, ins.length, "accumulator")
            if wide:
                self._store_exact(dst, total, np.full(ins.length, 255.0 * taps))
                return
            self.acc[dst] = total
            self._written(dst)
            self.acc_bound[dst] = 255 * taps
            self.acc_bound_top = max(self.acc_bound_top, 255.0 * taps)
        else:
            dst = self._rows(self.ub, ins.dst, ins.length, "Unified Buffer")
            self.ub[dst] = best.view(np.uint8)

    def _add(self, ins: Instruction) -> None:
        t = self._table(ins.table, AddTable)
        dtype = np.uint8 if t.unsigned else np.int8
        dst = self._rows(self.ub, ins.ub, ins.rows, "Unified Buffer")
        inputs = []
        for start in (ins.src_a, ins.src_b):
            x = self.ub[self._rows(self.ub, start, ins.rows, "Unified Buffer")].view(dtype)
            if _overlaps_later(start, dst, ins.rows):
                x = x.copy()
            inputs.append(x)
        quant_arith.add_quantized_into(self.ub[dst].view(dtype), *inputs, t.zp_a, t.zp_b,
                                       t.zp_out, t.multipliers, t.shifts, t.clamp_min,
                                       t.clamp_max, t.left_shift)


def _overlaps_later(src: int, dst: slice, rows: int) -> bool:
    """Whether writing ``dst`` in blocks of rows, first to last, would overwrite rows
    of the source [src, src + rows) not read yet (the vector units' block-wise
    computations read a block, then write it)."""
    return src < dst.start < src + rows


#: bytes of Unified Buffer rows a pool gathers at once (taps grouped up to this)
_POOL_GATHER_BYTES = 1 << 22

#: at most this many later groups of passes, and output lanes in all, are multiplied
#: together with one (Machine._plan)
_MAX_PLANNED_GROUPS = 16
_MAX_PLANNED_LANES = 4096

#: instructions that neither read nor write the accumulators or the Unified Buffer:
#: pending matrix passes stay pending across them
_KEEP_PENDING = frozenset({"matmul", "read_weights", "load_table", "set_conv", "sync",
                           "nop"})


class _PendingSum:
    """Matrix passes into the same accumulator rows and output lanes, with the same
    input signedness, each adding to the one before: their input vectors and tiles,
    multiplied together when they end (Machine._flush). ``accumulate`` is the first
    pass's flag: whether the sum adds to the rows or replaces them."""

    __slots__ = ("accumulate", "base", "bound", "cols", "diagonal", "dst", "first_pc",
                 "length", "reads", "sources", "steps", "tiles", "unsigned", "xs")

    def __init__(self, dst: slice, cols: slice, unsigned: bool, accumulate: bool,
                 x: np.ndarray, tile: _Tile, source: tuple, reads: tuple[int, int], pc: int,
                 bound: np.ndarray | int):
        self.dst, self.cols, self.unsigned, self.accumulate = dst, cols, unsigned, accumulate
        self.xs, self.tiles, self.sources, self.reads = [x], [tile], [source], [reads]
        self.first_pc, self.length = pc, dst.stop - dst.start
        self.diagonal = tile.diagonal is not None
        # the rows' bounds after the first pass, their largest, and what later passes add
        self.base, self.steps = bound, 0
        # (np.max of a Python int costs more than the rest of the constructor)
        self.bound = 0.0 if not self.length else \
            float(bound) if isinstance(bound, int) else float(bound.max())

    def add(self, x: np.ndarray, tile: _Tile, source: tuple, reads: tuple[int, int],
            step: int) -> None:
        """One more pass: its input vectors, tile, where the inputs come from (Unified
        Buffer row, tap, convolution geometry, lanes), the rows it read [lo, hi) and
        what it adds to the bound of |sum|."""
        self.xs.append(x)
        self.tiles.append(tile)
        self.sources.append(source)
        self.reads.append(reads)
        self.steps += step
        self.bound += step

    def row_bounds(self) -> np.ndarray | int:
        return self.base + self.steps


class _Tile:
    """A weight tile as the simulator multiplies it: the block of lanes holding its
    nonzero weights (input lanes ``rows``, output lanes ``cols``) as int8 and as
    float32, and for a diagonal tile (depthwise convolution) the diagonal alone.
    ``start`` is its byte in weight memory."""

    __slots__ = ("abs_col_sum", "block", "cols", "diagonal", "rows", "start", "weights")

    def __init__(self, rows: slice, cols: slice, weights: np.ndarray,
                 diagonal: np.ndarray | None):
        self.rows, self.cols, self.weights, self.diagonal = rows, cols, weights, diagonal
        self.start = -1
        self.block = weights.astype(np.float32)
        # the largest sum of |w| over one output lane
        self.abs_col_sum = int(np.abs(self.block).sum(axis=0).max()) if weights.size else 0

    @classmethod
    def decode(cls, w: np.ndarray) -> _Tile:
        r = np.flatnonzero(w.any(axis=1))
        if not r.size:
            return cls(slice(0, 0), slice(0, 0), np.zeros((0, 0), np.int8), None)
        c = np.flatnonzero(w.any(axis=0))
        rows, cols = slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1)
        block = np.ascontiguousarray(w[rows, cols])
        diag = np.diagonal(w)
        if rows == cols and np.count_nonzero(diag) == np.count_nonzero(block):
            return cls(rows, cols, block, diag[rows].astype(np.int16))
        return cls(rows, cols, block, None)


class _Rows:
    """A pass's input vectors, not yet read: Unified Buffer rows ``base + rows[r]``
    (relative rows, int64) for its output rows, ``pad`` (the padding byte) where
    ``rows[r] < 0``. Nothing writes the Unified Buffer between a pass and the
    _flush that sums it (_KEEP_PENDING), so reading them then reads the same bytes."""

    __slots__ = ("base", "pad", "rows")

    def __init__(self, base: int, rows: np.ndarray, pad: int):
        self.base, self.rows, self.pad = base, rows, pad


_CONSECUTIVE: dict[int, np.ndarray] = {}


def _consecutive(length: int) -> np.ndarray:
    """0, 1, ..., length - 1 (int64, cached: never written)."""
    rows = _CONSECUTIVE.get(length)
    if rows is None:
        rows = _CONSECUTIVE[length] = np.arange(length, dtype=np.int64)
        rows.flags.writeable = False
    return rows


class _Gather:
    """The Unified Buffer rows (relative to the input's base) some taps of a convolution
    read for each output pixel ([pixels, taps]), and which of them fall in the padding."""

    __slots__ = ("_bytes", "_flat", "first_row", "last_row", "outside", "rows", "start")

    def __init__(self, rows: np.ndarray, outside: np.ndarray | None):
        self.rows, self.outside = rows, outside
        self._bytes: tuple | None = None
        self._flat: np.ndarray | None = None
        self.first_row = int(rows.min()) if rows.size else 0
        self.last_row = int(rows.max()) if rows.size else 0
        # one tap reading consecutive rows (a 1x1 convolution, stride 1): a slice
        flat = rows[:, 0] if rows.shape[1:] == (1,) else None
        contiguous = flat is not None and flat.size and outside is None and \
            self.last_row - int(flat[0]) == flat.size - 1 and bool(np.all(np.diff(flat) == 1))
        self.start = int(flat[0]) if contiguous else None

    def flat_rows(self) -> np.ndarray:
        """One tap's rows ([pixels], int64), -1 where the tap falls in the padding."""
        if self._flat is None:
            flat = self.rows[:, 0].astype(np.int64)
            if self.outside is not None:
                flat[self.outside[:, 0]] = -1
            flat.flags.writeable = False
            self._flat = flat
        return self._flat

    def byte_index(self, width: int) -> tuple[np.ndarray, np.ndarray | None]:
        """For taps of ``width`` lanes: the byte offsets (from the input's first row)
        of each pixel's [taps * width] input bytes, and the positions among them that
        fall in the padding (flat, or None)."""
        if self._bytes is None or self._bytes[0] != width:
            pixels, taps = self.rows.shape
            offsets = (self.rows[:, :, None] * LANES + np.arange(width)).reshape(
                pixels, taps * width)
            pad = None if self.outside is None else \
                np.flatnonzero(np.repeat(self.outside, width, axis=1))
            self._bytes = (width, offsets, pad)
        return self._bytes[1], self._bytes[2]


#: packed taps narrower than this many lanes are gathered byte by byte (one row
#: slice per tap and pixel costs more than it copies)
_BYTE_GATHER_WIDTH = 16


#: programs that multiply less than this (MACs of the matrix unit, zero padding
#: included) run on the numpy engine under ``auto``: loading onnxruntime takes longer
AUTO_ENGINE_MACS = 10**9


def _matrix_macs(program: Program) -> int:
    return sum(i.length for i in program.instructions if i.op == "matmul") * TILE_BYTES


def execute(program: Program, inputs: Mapping[str, np.ndarray],
            target: Target | None = None, engine: str | None = "auto"
            ) -> dict[str, np.ndarray]:
    """Run ``program`` on quantized inputs (storage integers by input name); return
    the quantized outputs by name. The memories are sized by ``target`` (by default
    the target the program was compiled for); ``engine`` computes the matrix unit's
    products (engines.py: ``auto``, ``numpy`` or ``onnxruntime``, all exact)."""
    machine = Machine(program, target or program.resolve_target(), engine)
    write_inputs(machine.host, program, inputs)
    machine.run()
    return read_outputs(machine.host, program)
