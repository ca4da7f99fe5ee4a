"""Emission of a tiled tpu graph (``tpu-tile-ub``'s attributes; part of emission,
emit.py hands tiled graphs here).

- ``batch_chunk``: the layers are emitted once per chunk of images, each time with
  the tensors seen at the chunk's batch (the placements are one chunk's); the host
  transfers move the chunk's rows of the program's inputs and outputs; weights and
  tables are read again per chunk.
- ``spill`` / ``band_rows``: a convolution or pooling that reads or writes a tensor
  in host memory runs band by band: ``read_host`` of the input rows the band's
  windows need (into the staging rows at ``stage``), the layer on the band (the
  window geometry shifted to the band: ``pad_top`` only where the band meets the
  image's top, padding below where it meets the bottom), ``write_host`` of the
  band's output rows; syncs order the staging rows between bands.
"""

from __future__ import annotations

import math

import numpy as np

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.backends.tpu_v1 import isa, partition
from qcc.backends.tpu_v1.emit import (
    Emitter,
    _attr,
    _constant,
    _desc,
    _weight_codes,
    host_input_desc,
)
from qcc.backends.tpu_v1.isa import SYNC_HOST, SYNC_UNITS
from qcc.backends.tpu_v1.lower import conv_matrix, conv_steps, loc_name
from qcc.backends.tpu_v1.memory import layout
from qcc.backends.tpu_v1.plan import (
    band_input,
    bands,
    batch_chunk,
    batch_view,
    buffer_of,
    chunk_spans,
    spilled,
    stage_rows,
    window,
)
from qcc.backends.tpu_v1.program import LANES, Program, TensorDesc
from qcc.diagnostics import QccError
from qcc.ir.core import Op, Value


def is_tiled(graph) -> bool:
    return any(a in op.attributes for op in graph.ops if isinstance(op, tpu.TpuOp)
               for a in ("batch_chunk", "spill", "band_rows"))


class TiledEmitter(Emitter):
    """Emitter for graphs with batch chunks, spilled tensors and row bands."""

    def run(self) -> Program:
        g = self.graph
        reads = [op for op in g.ops if isinstance(op, tpu.ReadHostOp)]
        writes = [op for op in g.ops if isinstance(op, tpu.WriteHostOp)]
        self.descs: dict[Op, TensorDesc] = {
            op: _desc(op.tensor, op.output, _attr(op, "host")) for op in (*reads, *writes)}
        self.descs.update({op: host_input_desc(op) for op in g.ops
                           if isinstance(op, tpu.HostInputOp)})
        self.host_segments = {seg.ops[0]: seg for seg in partition.segments(g)}
        io_end = max((d.host_offset + d.host_bytes for d in self.descs.values()), default=0)
        first = (reads or writes)[0].output if (reads or writes) else None
        self.batch = first.type.shape[0] if first is not None else 1
        chunk = batch_chunk(g)
        if chunk and self.host_segments:
            raise QccError("a graph with host segments is not run in batch chunks (its "
                           "host segments run at the whole batch)")
        step = chunk or self.batch
        scratch_end = io_end
        for c0 in range(0, self.batch, step):
            self.c0 = c0
            with batch_view(g, min(step, self.batch - c0) if chunk else 0):
                if c0 == 0:
                    for op in g.ops:
                        if isinstance(op, tpu.LAYER_OPS) and spilled(op.output) and \
                                not self._in_io(op.output):
                            scratch_end = max(scratch_end, _attr(op, "host") +
                                              math.prod(op.output.type.shape))
                self._ops()
        self.layer = "program"
        self.emit(isa.HALT)
        self.scratch_bytes = scratch_end - io_end
        return self._finish(*self.io_descriptors(
            [(op, self.descs[op]) for op in g.ops if op in self.descs]))

    def _ops(self) -> None:
        ops = self.graph.ops
        for k, op in enumerate(ops):
            seg = self.host_segments.get(op)
            if seg is not None:
                self.layer = partition.segment_layer(seg.ops)
                self._host_call(seg)
            elif isinstance(op, tpu.SyncOp):
                nxt = ops[k + 1] if k + 1 < len(ops) else None
                self.layer = loc_name(nxt) if op.kind == "units" and \
                    isinstance(nxt, tpu.LAYER_OPS) else "program"
                self._reads(list(op.prefetch))
                self.emit(isa.SYNC, kind=SYNC_HOST if op.kind == "host" else SYNC_UNITS)
            elif isinstance(op, tpu.ReadHostOp | tpu.WriteHostOp):
                self.layer = "program"
                read = isinstance(op, tpu.ReadHostOp)
                v = op.output if read else op.input
                if spilled(v):
                    continue  # the layers move it band by band
                buf = buffer_of(v)
                for b, lanes in enumerate(buf.lanes):
                    self.emit(isa.READ_HOST if read else isa.WRITE_HOST,
                              host=self._host_row(v, b, 0), ub=buf.block(b),
                              rows=buf.pixels, row_bytes=lanes, host_stride=lanes)
            elif isinstance(op, tpu.LAYER_OPS):
                self.layer = loc_name(op)
                if "band_rows" in op.attributes:
                    self._banded(op)
                else:
                    self._layer(op)

    # ----------------------------------------------------------- host addresses
    def _in_io(self, v: Value) -> bool:
        return isinstance(v.op, tpu.ReadHostOp) or \
            any(isinstance(u, tpu.WriteHostOp) for u in v.users)

    def _host_row(self, v: Value, block: int, pixel: int) -> int:
        """Host byte of row ``pixel`` (of the current chunk) of channel block ``block``
        of ``v``: in a program input's or output's buffer (the whole batch), else in
        the host scratch (one chunk)."""
        _, pixels, lanes = layout(v.type)
        per_image = pixels // v.type.shape[0]
        if self._in_io(v):
            io = v.op if isinstance(v.op, tpu.ReadHostOp) else \
                next(u for u in v.users if isinstance(u, tpu.WriteHostOp))
            full = per_image * self.batch
            return _attr(io, "host") + sum(lanes[:block]) * full + \
                (self.c0 * per_image + pixel) * lanes[block]
        return _attr(v.op, "host") + sum(lanes[:block]) * pixels + pixel * lanes[block]

    # ------------------------------------------------------- weights and tables
    def _tile(self, index: int, tile: np.ndarray) -> None:
        if index not in self.out.tiles:  # later chunks and bands read the same tiles
            super()._tile(index, tile)

    def _load_table(self, op: Op, k: int, record: bytes) -> None:
        index, slot = _attr(op, "tables")[k], _attr(op, "slots")[k]
        if index in self.out.tables:
            if self.out.tables[index] != record:
                raise QccError(f"table record {index} is placed twice", op.loc)
            self.emit(isa.LOAD_TABLE, slot=slot, table_index=index)
        else:
            super()._load_table(op, k, record)

    # -------------------------------------------------------------- row bands
    def _banded(self, op: Op) -> None:
        x, y = op.input, op.output
        s_in, s_out = spilled(x), spilled(y)
        n, _, h, w = x.type.shape
        _, _, oh, ow = y.type.shape
        bx, _, lx = layout(x.type)
        by, _, ly = layout(y.type)
        rows = int(op.attributes["band_rows"])
        stage = int(_attr(op, "stage"))
        in_rows = stage_rows(op, rows, s_in, s_out)[0]
        xb = None if s_in else buffer_of(x)
        yb = None if s_out else buffer_of(y)
        self._accs = iter(_attr(op, "acc")) if "acc" in op.attributes else iter(())
        self._first = True
        prepared = self._prepare_conv(op) if isinstance(op, tpu.Conv2dOp) else None
        k = 0
        for ni in range(n):
            for r0, r in bands(oh, rows):
                lo, hin, pad_top = band_input(op, r0, r)
                if k:
                    self.emit(isa.SYNC, kind=SYNC_UNITS)  # the last band left the staging
                if s_in:
                    src = [stage + cb * hin * w for cb in range(bx)]
                    for cb in range(bx):
                        self.emit(isa.READ_HOST, host=self._host_row(x, cb, (ni * h + lo) * w),
                                  ub=src[cb], rows=hin * w, row_bytes=lx[cb],
                                  host_stride=lx[cb])
                else:
                    src = [xb.block(cb) + (ni * h + lo) * w for cb in range(bx)]
                if s_out:
                    dst = [stage + in_rows + ob * r * ow for ob in range(by)]
                else:
                    dst = [yb.block(ob) + (ni * oh + r0) * ow for ob in range(by)]
                if s_in or (s_out and k):
                    self.emit(isa.SYNC, kind=SYNC_HOST)
                geometry = dict(in_h=hin, in_w=w, out_h=r, out_w=ow, pad_top=pad_top)
                if prepared is not None:
                    self._conv_band(op, prepared, src, dst, geometry)
                else:
                    self._pool_band(op, src, dst, ly, geometry)
                if s_out:
                    self.emit(isa.SYNC, kind=SYNC_UNITS)
                    for ob in range(by):
                        self.emit(isa.WRITE_HOST,
                                  host=self._host_row(y, ob, (ni * oh + r0) * ow),
                                  ub=dst[ob], rows=r * ow, row_bytes=ly[ob],
                                  host_stride=ly[ob])
                k += 1
        if s_out:
            self.emit(isa.SYNC, kind=SYNC_HOST)

    def _prepare_conv(self, op: tpu.Conv2dOp):
        """Per output tile: (weight tile ids, (tap, input block, MACs per row) of each
        pass, table record), the tiles placed in the weight image once."""
        w = _weight_codes(op, op.weight)
        bias = _constant(op, op.bias)
        c = op.input.type.shape[1]
        o = w.shape[0]
        full, present = conv_matrix(w, c, op.group)
        steps = conv_steps(full, present, op.taps_per_row, op.k_tiles)
        tile = _attr(op, "weight_tile")
        out = []
        for ob in range(op.n_tiles):
            cols = slice(ob * LANES, min(o, (ob + 1) * LANES))
            ids, kept = [], []
            for t0, cb, rows, mask in steps:
                if not mask[:, cols].any():
                    continue
                part = rows[:, cols]
                t = np.zeros((LANES, LANES), np.int64)
                t[:part.shape[0], :part.shape[1]] = part
                kept.append((t0, cb, int(np.count_nonzero(mask[:, cols]))))
                self._tile(tile, t)
                ids.append(tile)
                tile += 1
            if not kept:
                self._tile(tile, np.zeros((LANES, LANES), np.int64))
                kept.append((0, 0, 0))
                ids.append(tile)
                tile += 1
            if len(kept) != op.tiles[ob]:
                raise QccError(f"output tile {ob} has {len(kept)} weight tiles, the plan "
                               f"says {op.tiles[ob]}", op.loc)
            out.append((ids, kept, self._activate_table(op, bias[cols], cols)))
        return out

    def _set_conv(self, op: Op, geometry: dict, pad_value: int, first_pixel: int,
                  taps_per_row: int = 1, channels: int = 0) -> None:
        kh, sh, dh = window(op)
        kw = op.weight.type.shape[3] if isinstance(op, tpu.Conv2dOp) else op.kernel[1]
        self.emit(isa.SET_CONV, **geometry, kernel_h=kh, kernel_w=kw, stride_h=sh,
                  stride_w=op.strides[1], dilation_h=dh, dilation_w=op.dilations[1],
                  pad_left=op.pads[1], pad_value=pad_value & 0xFF,
                  taps_per_row=taps_per_row, channels=channels, first_pixel=first_pixel)

    def _conv_band(self, op: tpu.Conv2dOp, prepared, src: list[int], dst: list[int],
                   geometry: dict) -> None:
        zx = op.input.type.element.zero_point
        unsigned = int(not op.input.type.element.storage.signed)
        c = op.input.type.shape[1]
        per_row = op.taps_per_row
        pixels = geometry["out_h"] * geometry["out_w"]
        ly = layout(op.output.type)[2]
        for ob, (ids, kept, record) in enumerate(prepared):
            self._load_table(op, ob, record)
            slot = _attr(op, "slots")[ob]
            chunks = [(q0, qc, next(self._accs))
                      for q0, qc in chunk_spans(pixels, op.row_chunk)]
            self._chunked(
                op, ids, chunks,
                lambda j, q0, qc, acc, kept=kept: dict(
                    accumulate=int(j > 0), conv=1, tap=kept[j][0], ub=src[kept[j][1]],
                    acc=acc, length=qc, unsigned=unsigned, macs=qc * kept[j][2]),
                lambda q0, qc, acc, ob=ob, slot=slot: self.emit(
                    isa.ACTIVATE, src=acc, ub=dst[ob] + q0, rows=qc, table=slot,
                    lanes=ly[ob]),
                self._first,
                lambda q0: self._set_conv(op, geometry, zx, q0, per_row,
                                          c if per_row > 1 else 0))
            self._first = False

    def _pool_band(self, op: tpu.PoolOp, src: list[int], dst: list[int], lanes: list[int],
                   geometry: dict) -> None:
        e_in = op.input.type.element
        unsigned = int(not e_in.storage.signed)
        pixels = geometry["out_h"] * geometry["out_w"]
        avg = op.kind == "avg"
        if avg:
            self._load_table(op, 0, self._activate_table(op, np.zeros(LANES, np.int64),
                                                         slice(0, LANES)))
            slot = _attr(op, "slots")[0]
        for cb in range(len(src)):
            for q0, qc in chunk_spans(pixels, op.row_chunk):
                self._set_conv(op, geometry, e_in.zero_point if avg else 0, q0)
                if avg:
                    acc = next(self._accs)
                    self.emit(isa.POOL, sum=1, unsigned=unsigned, src=src[cb], dst=acc,
                              length=qc)
                    self.emit(isa.ACTIVATE, src=acc, ub=dst[cb] + q0, rows=qc, table=slot,
                              lanes=lanes[cb])
                else:
                    self.emit(isa.POOL, sum=0, unsigned=unsigned, src=src[cb],
                              dst=dst[cb] + q0, length=qc)


__all__ = ["TiledEmitter", "is_tiled"]
