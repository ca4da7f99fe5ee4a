"""Host transfers overlapped with compute: the last step of emission.

The emitter first writes a program that moves each input whole before the first
layer and each output whole after the last one. This step rewrites the program's
own inputs and outputs (not a host segment's boundary tensors) so that PCIe
overlaps the matrix work, keyed only on the Unified Buffer rows each instruction
reads or writes (so it holds whatever order the layers' loops run in):

- **Inputs, in row chunks, double-buffered.** Each input is cut into chunks in the
  order the program first touches its rows: a dense layer's matmul touches its row
  range of one channel block, a convolution's the input pixels its output pixels'
  windows cover (halo included; the ``set_conv`` in force gives the geometry);
  anything else (an activate, a pool...) the rows it reads, often the whole input.
  At most :data:`MAX_CHUNKS` chunks per input, each of at least
  :data:`MIN_CHUNK_ROWS` rows (rows nothing reads go with the first). The first
  chunk is read where the whole input was, then after each host sync the next
  chunk's read is issued (one chunk in flight), and before an instruction that
  touches rows of a chunk no completed sync covers: ``sync kind=0`` (issuing the
  reads of any chunk it needs first). The host sync that followed the whole input
  goes: the first layer's weight prefetch and table load, which touch no input row,
  are issued before the first sync, so the first tile's fetch overlaps the input.
- **Outputs, as soon as their rows are final.** The rows of an output whose last
  writer is a vector-unit instruction (activate, pool, add) are written back with
  ``sync kind=2; write_host ...`` once enough matrix work has been issued behind
  that writer to keep the array busy while the barrier waits for it (the matmuls
  issued since stream for longer than the writer's rows plus the drain and a tile
  shift), or right after a later units sync. Other rows are written where they
  were (after the last layer).

The functional result is unchanged: an input row arrives before anything touches
it, and an output row leaves after its last write, with the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.isa import SYNC_HOST, SYNC_VECTOR, Store, Unit
from qcc.backends.tpu_v1.memory import Buffer
from qcc.backends.tpu_v1.program import TensorDesc

#: an input is read in at most this many chunks ...
MAX_CHUNKS = 16
#: ... of at least this many Unified Buffer rows (except the last)
MIN_CHUNK_ROWS = 256

_VECTOR = (Unit.ACTIVATION, Unit.POOL, Unit.ADDER)

Stream = list[tuple[isa.InstrDef, dict]]
Range = tuple[int, int]


@dataclass
class Transfer:
    """A program input or output the emitter moved whole: its descriptor, its
    Unified Buffer placement and the indices of its read_host/write_host
    instructions in the stream."""

    desc: TensorDesc
    buf: Buffer
    indices: list[int] = field(default_factory=list)

    def block_of(self, row: int) -> int:
        return (row - self.buf.base) // self.buf.pixels

    def move(self, kind: isa.InstrDef, lo: int, hi: int) -> tuple[isa.InstrDef, dict]:
        """The transfer of UB rows [lo, hi) (inside one channel block)."""
        b = self.block_of(lo)
        lanes = self.desc.blocks
        host = self.desc.host_offset + sum(lanes[:b]) * self.buf.pixels + \
            (lo - self.buf.block(b)) * lanes[b]
        return kind, dict(host=host, ub=lo, rows=hi - lo, row_bytes=lanes[b],
                          host_stride=lanes[b])


def _window(conv: dict, base: int, length: int) -> Range:
    """The UB rows the windows of ``length`` output pixels (from the set_conv's
    ``first_pixel``) cover, whole image rows, halo included."""
    g = conv.get
    oh, ow, h, w = g("out_h", 1), g("out_w", 1), g("in_h", 1), g("in_w", 1)
    up = max(1, g("up_h", 0))
    p0 = g("first_pixel", 0)
    p1 = p0 + length - 1
    n0, r0 = divmod(p0, oh * ow)
    n1, r1 = divmod(p1, oh * ow)
    top = h * up - 1
    y0 = (r0 // ow) * g("stride_h", 1) - g("pad_top", 0)
    y1 = (r1 // ow) * g("stride_h", 1) - g("pad_top", 0) + \
        (g("kernel_h", 1) - 1) * g("dilation_h", 1)
    y0, y1 = min(max(y0, 0), top) // up, min(max(y1, 0), top) // up
    return base + (n0 * h + y0) * w, base + (n1 * h + y1 + 1) * w


def ub_access(defn: isa.InstrDef, a: dict, conv: dict | None
              ) -> tuple[list[Range], list[Range]] | None:
    """(rows read, rows written) of the Unified Buffer by one instruction (``conv``:
    the set_conv in force); None when not known (taken as the whole buffer)."""
    g = a.get
    if Store.UB not in defn.reads | defn.writes:
        return [], []
    if defn is isa.MATMUL:
        if not g("length", 0):
            return [], []
        if g("conv", 0):
            return ([_window(conv, g("ub", 0), g("length"))], []) if conv else None
        return [(g("ub", 0), g("ub", 0) + g("length"))], []
    if defn is isa.ACTIVATE:
        span = (g("ub", 0), g("ub", 0) + g("rows", 0))
        return ([(g("src", 0), g("src", 0) + g("rows", 0))] if g("src_ub", 0) else []), \
            [span]
    if defn is isa.POOL:
        if conv is None:
            return None
        read = [_window(conv, g("src", 0), g("length", 0))] if g("length", 0) else []
        return read, ([] if g("sum", 0) else [(g("dst", 0), g("dst", 0) + g("length", 0))])
    if defn is isa.ADD:
        n = g("rows", 0)
        return [(g("src_a", 0), g("src_a", 0) + n), (g("src_b", 0), g("src_b", 0) + n)], \
            [(g("ub", 0), g("ub", 0) + n)]
    if defn is isa.READ_HOST:
        return [], [(g("ub", 0), g("ub", 0) + g("rows", 0))]
    if defn is isa.WRITE_HOST:
        return [(g("ub", 0), g("ub", 0) + g("rows", 0))], []
    return None


def _touches(stream: Stream, skip: set[int]) -> list[list[Range] | None]:
    """Per instruction: the UB rows it reads or writes (None: all of them)."""
    out: list[list[Range] | None] = []
    conv = None
    for k, (defn, a) in enumerate(stream):
        if defn is isa.SET_CONV:
            conv = a
        if k in skip:
            out.append([])
            continue
        acc = ub_access(defn, a, conv)
        out.append(None if acc is None else acc[0] + acc[1])
    return out


def _runs(mask: np.ndarray) -> list[Range]:
    """[lo, hi) runs of True in ``mask``."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))


@dataclass
class _Chunk:
    first_need: int  # the first instruction that touches its rows
    pieces: list[tuple[Transfer, int, int]]  # UB rows [lo, hi) of one channel block


def _input_chunks(inp: Transfer, touches: list[list[Range] | None]) -> list[_Chunk]:
    """An input's chunks in the order the program first touches their rows."""
    buf = inp.buf
    covered = np.zeros(buf.rows, bool)
    left = buf.rows
    pieces: list[tuple[int, int, int]] = []  # (first need, lo, hi), UB rows
    for k, ranges in enumerate(touches):
        if not left:
            break
        for lo, hi in [(buf.base, buf.base + buf.rows)] if ranges is None else ranges:
            for b in range(buf.blocks):
                b0 = buf.block(b)
                s, e = max(lo, b0) - buf.base, min(hi, b0 + buf.pixels) - buf.base
                if s >= e:
                    continue
                for r0, r1 in _runs(~covered[s:e]):
                    pieces.append((k, buf.base + s + r0, buf.base + s + r1))
                    left -= r1 - r0
                covered[s:e] = True
    target = max(MIN_CHUNK_ROWS, -(-buf.rows // MAX_CHUNKS))
    chunks: list[_Chunk] = []
    size = target
    for k, lo, hi in pieces:
        if size >= target:
            chunks.append(_Chunk(k, []))
            size = 0
        chunks[-1].pieces.append((inp, lo, hi))
        size += hi - lo
    if not chunks:
        chunks.append(_Chunk(0, []))
    # rows nothing touches: with the first chunk
    chunks[0].pieces += [(inp, buf.base + r0, buf.base + r1) for r0, r1 in _runs(~covered)]
    return chunks


def _write_point(stream: Stream, k: int, end: int, lead: int) -> int:
    """Where the rows vector instruction ``k`` writes may leave for the host (the
    index to insert ``sync kind=2; write_host`` before), or -1: not before ``end``.
    Right after a later sync of the units (they are written then); else before the
    first matmul behind which the matmuls issued since ``k`` stream for at least
    ``k``'s rows + ``lead`` cycles (the drain before it and a tile shift), so the
    barrier releases issue before the matrix unit runs out of work."""
    need = stream[k][1].get("rows", stream[k][1].get("length", 0)) + lead
    queued = 0
    for j in range(k + 1, end):
        defn, a = stream[j]
        if defn is isa.SYNC and a.get("kind", 0) != SYNC_HOST:
            return j + 1
        if defn is isa.MATMUL:
            if queued >= need:
                return j
            queued += a.get("length", 0)
    return -1


def _output_writes(out: Transfer, stream: Stream, touches: list[list[Range] | None],
                   end: int, lead: int) -> dict[int, list[tuple[isa.InstrDef, dict]]]:
    """Early write-backs of an output's rows: by the index of the instruction they go
    before. Rows whose last writer is not a vector-unit instruction stay at the end."""
    buf = out.buf
    last = np.full(buf.rows, -1)
    for k, (defn, a) in enumerate(stream[:end]):
        acc = ub_access(defn, a, None) if defn not in (isa.MATMUL, isa.POOL) else \
            ([], [] if defn is isa.MATMUL or a.get("sum", 0) else
             [(a.get("dst", 0), a.get("dst", 0) + a.get("length", 0))])
        if touches[k] is None:
            acc = ([], [(buf.base, buf.base + buf.rows)])
        if acc is None:
            continue
        for lo, hi in acc[1]:
            s, e = max(lo - buf.base, 0), min(hi - buf.base, buf.rows)
            if s < e:
                last[s:e] = k
    place = {int(k): _write_point(stream, int(k), end, lead)
             for k in np.unique(last) if k >= 0 and stream[k][0].unit in _VECTOR}
    early: dict[int, list[tuple[isa.InstrDef, dict]]] = {}
    moved = np.zeros(buf.rows, bool)
    for b in range(buf.blocks):
        s0 = b * buf.pixels
        seg = last[s0:s0 + buf.pixels]
        cuts = np.flatnonzero(np.diff(seg)) + 1
        for r0, r1 in zip([0, *cuts.tolist()], [*cuts.tolist(), buf.pixels], strict=True):
            j = place.get(int(seg[r0]), -1)
            if j < 0:
                continue
            early.setdefault(j, []).append(out.move(isa.WRITE_HOST, buf.base + s0 + r0,
                                                    buf.base + s0 + r1))
            moved[s0 + r0:s0 + r1] = True
    # what stays: the rows not moved, at the original place
    rest = [out.move(isa.WRITE_HOST, buf.base + s + r0, buf.base + s + r1)
            for b in range(buf.blocks) for s in [b * buf.pixels]
            for r0, r1 in _runs(~moved[s:s + buf.pixels])]
    early.setdefault(-1, []).extend(rest)
    return early


def overlap_host_transfers(stream: Stream, layer_of: list[str], useful: list[int],
                           inputs: list[Transfer], outputs: list[Transfer],
                           lead: int = 1024) -> tuple[Stream, list[str], list[int]]:
    """The stream with inputs read in chunks and outputs written early (the module's
    docstring), and its layer names and useful MACs (inserted instructions: layer
    "program", no MACs). ``lead``: the matrix unit's cycles between a matmul's last
    row and its results' activation (the target's fill/drain and a tile shift)."""
    if not inputs and not outputs:
        return stream, layer_of, useful
    skip = {k for t in (*inputs, *outputs) for k in t.indices}
    touches = _touches(stream, skip)
    chunks = sorted((c for t in inputs for c in _input_chunks(t, touches)),
                    key=lambda c: c.first_need)
    chunk_of = {id(t): np.full(t.buf.rows, 0) for t in inputs}
    for n, c in enumerate(chunks):
        for t, lo, hi in c.pieces:
            chunk_of[id(t)][lo - t.buf.base:hi - t.buf.base] = n
    read_at = min((k for t in inputs for k in t.indices), default=-1)
    # the host sync the schedule put right after the input reads: the syncs before the
    # first instructions that touch input rows replace it, so what touches none (the
    # first layer's weight prefetch and table load) is issued before it and its tile
    # fetch overlaps the input's transfer
    last_read = max((k for t in inputs for k in t.indices), default=-1)
    if 0 <= last_read + 1 < len(stream) and stream[last_read + 1][0] is isa.SYNC and \
            stream[last_read + 1][1].get("kind", 0) == SYNC_HOST and \
            all(k in skip for k in range(read_at, last_read + 1)):
        skip = skip | {last_read + 1}
    out_end = min((k for t in outputs for k in t.indices), default=len(stream))
    early: dict[int, list[tuple[isa.InstrDef, dict]]] = {}
    for t in outputs:
        for j, moves in _output_writes(t, stream, touches, out_end, lead).items():
            early.setdefault(j, []).extend(moves)
    at_end = early.pop(-1, [])

    new: Stream = []
    layers: list[str] = []
    macs: list[int] = []
    issued = synced = 0  # chunks whose reads were issued / a host sync completed

    def put(defn: isa.InstrDef, a: dict, layer: str = "program", m: int = 0) -> None:
        new.append((defn, a))
        layers.append(layer)
        macs.append(m)

    def issue(upto: int) -> None:
        nonlocal issued
        while issued < min(upto, len(chunks)):
            for t, lo, hi in _merged(chunks[issued].pieces):
                put(*t.move(isa.READ_HOST, lo, hi))
            issued += 1

    def sync() -> None:
        nonlocal synced
        put(isa.SYNC, {"kind": SYNC_HOST})
        synced = issued
        issue(issued + 1)  # the next chunk moves while the TPU works

    def need(k: int) -> int:
        """Chunks that must be complete before instruction k."""
        ranges = touches[k]
        m = 0
        for t in inputs:
            rows = chunk_of[id(t)]
            base = t.buf.base
            for lo, hi in [(base, base + t.buf.rows)] if ranges is None else ranges:
                s, e = max(lo - base, 0), min(hi - base, t.buf.rows)
                if s < e:
                    m = max(m, int(rows[s:e].max()) + 1)
        return m

    for k, (defn, a) in enumerate(stream):
        if k == read_at:
            issue(1)
        if defn is isa.HALT and synced < len(chunks):
            issue(len(chunks))
            sync()
        m = need(k) if synced < len(chunks) else 0
        if m > synced:
            issue(m)
            sync()
        if k in early:
            if not (new[-1][0] is isa.SYNC and new[-1][1].get("kind", 0) != SYNC_HOST):
                put(isa.SYNC, {"kind": SYNC_VECTOR})  # (a units sync just waited)
            for mv in early[k]:
                put(*mv)
        if k in skip:
            if k == out_end:
                for mv in at_end:
                    put(*mv)
            continue
        put(defn, a, layer_of[k], useful[k])
        if defn is isa.SYNC and a.get("kind", 0) == SYNC_HOST:
            synced = issued
            issue(issued + 1)
    return new, layers, macs


def _merged(pieces: list[tuple[Transfer, int, int]]) -> list[tuple[Transfer, int, int]]:
    """Pieces of one chunk with adjacent rows of the same channel block joined."""
    out: list[tuple[Transfer, int, int]] = []
    for t, lo, hi in sorted(pieces, key=lambda p: (id(p[0]), p[1])):
        if out and out[-1][0] is t and out[-1][2] == lo and \
                t.block_of(lo) == t.block_of(out[-1][1]):
            out[-1] = (t, out[-1][1], hi)
        else:
            out.append((t, lo, hi))
    return out
