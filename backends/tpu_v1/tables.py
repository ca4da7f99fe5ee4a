"""Activation tables: the per-layer parameters ``activate`` and ``add`` read.

A table record lives in weight memory (after the weight tiles) and is loaded into a
table slot by ``load_table``. Every record has the same size, little-endian:

Activate record (kind 0):

| bytes | contents |
|---|---|
| 0..32 | kind, zp_in, zp_out, clamp_min, clamp_max, storage (0 i8, 1 u8), 0, 0 (int32) |
| 32..1056 | bias, int32 x 256 lanes |
| 1056..2080 | multiplier, int32 x 256 |
| 2080..2336 | shift, int8 x 256 |
| 2336..2592 | lookup table, int8 x 256, indexed by code - storage min |

A PRelu record (the activate function prelu) is an activate record with header
word 6 set to 1: bytes 32..1056 hold the negative-side multipliers (int32 x 256, the
sign of each lane's slope; the bias is zero for UB sources anyway) and bytes
2336..2592 the negative-side shifts (int8 x 256) in place of the lookup table.

Add record (kind 1): bytes 0..32 hold kind, zp_a, zp_b, zp_out, clamp_min,
clamp_max, storage, left_shift; bytes 32..56 hold m_a, m_b, m_out, shift_a,
shift_b, shift_out (int32); the rest is zero.

A per-tensor requantization repeats its multiplier and shift in every lane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcc.backends.tpu_v1.target import LANES
from qcc.diagnostics import QccError

#: a record's size: the 32-byte header, bias and multiplier (int32) and shift and
#: lookup table (int8) for each of the ISA's LANES lanes
RECORD_BYTES = 32 + (4 + 4 + 1 + 1) * LANES
KIND_ACTIVATE, KIND_ADD = 0, 1


@dataclass
class ActivateTable:
    zp_in: int
    zp_out: int
    clamp_min: int
    clamp_max: int
    unsigned: bool
    bias: np.ndarray  # int32 [256]
    multiplier: np.ndarray  # int32 [256]
    shift: np.ndarray  # int8 [256]
    lut: np.ndarray | None = None  # int8 [256] or None for the identity
    #: PRelu records: the rescale below the input zero point, per lane (the
    #: multiplier negative for a negative slope)
    negative_multiplier: np.ndarray | None = None
    negative_shift: np.ndarray | None = None

    def encode(self) -> bytes:
        prelu = self.negative_multiplier is not None
        header = np.array([KIND_ACTIVATE, self.zp_in, self.zp_out, self.clamp_min,
                           self.clamp_max, int(self.unsigned), int(prelu), 0], "<i4")
        if prelu:
            return (header.tobytes() + _lanes(self.negative_multiplier, "<i4") +
                    _lanes(self.multiplier, "<i4") + _lanes(self.shift, "i1") +
                    _lanes(self.negative_shift, "i1"))
        lut = np.zeros(LANES, np.int8) if self.lut is None else self.lut.astype(np.int8)
        return (header.tobytes() + _lanes(self.bias, "<i4") + _lanes(self.multiplier, "<i4")
                + _lanes(self.shift, "i1") + lut.tobytes())


@dataclass
class AddTable:
    zp_a: int
    zp_b: int
    zp_out: int
    clamp_min: int
    clamp_max: int
    unsigned: bool
    left_shift: int
    multipliers: tuple[int, int, int]
    shifts: tuple[int, int, int]

    def encode(self) -> bytes:
        header = np.array([KIND_ADD, self.zp_a, self.zp_b, self.zp_out, self.clamp_min,
                           self.clamp_max, int(self.unsigned), self.left_shift], "<i4")
        params = np.zeros(LANES, "<i4")
        params[:6] = [*self.multipliers, *self.shifts]
        return header.tobytes() + params.tobytes() + bytes(RECORD_BYTES - 32 - 4 * LANES)


def _lanes(values: np.ndarray, dtype: str) -> bytes:
    arr = np.zeros(LANES, dtype)
    values = np.asarray(values)
    arr[:values.size] = values.reshape(-1)
    return arr.tobytes()


#: the largest left shift of an add's inputs whose 64-bit products cannot overflow
#: (a 9-bit difference shifted by 22 bits, times a 31-bit multiplier: below 2^62)
MAX_ADD_LEFT_SHIFT = 22


def _check_requant(where: str, multipliers: np.ndarray, shifts: np.ndarray) -> None:
    """Multipliers must be Q31 values (0 <= m < 2^31) and shifts in [-31, 30]."""
    if multipliers.size and int(multipliers.min()) < 0:
        raise QccError(f"{where}: a requantization multiplier is negative "
                       f"({int(multipliers.min())})")
    if shifts.size and (int(shifts.min()) < -31 or int(shifts.max()) > 30):
        raise QccError(f"{where}: a requantization shift is outside -31..30 "
                       f"({int(shifts.min())}..{int(shifts.max())})")


def decode_table(record: bytes, where: str = "table") -> ActivateTable | AddTable:
    if len(record) != RECORD_BYTES:
        raise QccError(f"{where}: a table record has {RECORD_BYTES} bytes, got {len(record)}")
    header = np.frombuffer(record[:32], "<i4")
    if header[0] == KIND_ACTIVATE:
        body = record[32:]
        _check_requant(where, np.frombuffer(body[1024:2048], "<i4"),
                       np.frombuffer(body[2048:2304], "i1"))
        if header[6] not in (0, 1):
            raise QccError(f"{where}: activate record flag {int(header[6])} is not 0 or 1")
        if header[6] == 1:  # PRelu: negative-side rescale in the bias and table bytes
            neg_m = np.frombuffer(body[:1024], "<i4").astype(np.int64)
            neg_s = np.frombuffer(body[2304:2560], "i1").astype(np.int64)
            _check_requant(where, np.abs(neg_m), neg_s)
            return ActivateTable(
                int(header[1]), int(header[2]), int(header[3]), int(header[4]),
                bool(header[5]), np.zeros(LANES, np.int64),
                np.frombuffer(body[1024:2048], "<i4").astype(np.int64),
                np.frombuffer(body[2048:2304], "i1").astype(np.int64), None, neg_m, neg_s)
        return ActivateTable(
            int(header[1]), int(header[2]), int(header[3]), int(header[4]), bool(header[5]),
            np.frombuffer(body[:1024], "<i4").astype(np.int64),
            np.frombuffer(body[1024:2048], "<i4").astype(np.int64),
            np.frombuffer(body[2048:2304], "i1").astype(np.int64),
            np.frombuffer(body[2304:2560], "i1").copy())
    if header[0] == KIND_ADD:
        params = np.frombuffer(record[32:56], "<i4")
        _check_requant(where, params[:3], params[3:6])
        if not 0 <= int(header[7]) <= MAX_ADD_LEFT_SHIFT:
            raise QccError(f"{where}: add left shift {int(header[7])} is outside "
                           f"0..{MAX_ADD_LEFT_SHIFT}")
        return AddTable(int(header[1]), int(header[2]), int(header[3]), int(header[4]),
                        int(header[5]), bool(header[6]), int(header[7]),
                        tuple(int(v) for v in params[:3]), tuple(int(v) for v in params[3:6]))
    raise QccError(f"{where}: unknown table kind {int(header[0])}")
