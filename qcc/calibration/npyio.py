"""Bounded-memory reading of calibration arrays: the arrays of a ``.npz`` are read
row by row from the zip stream (never loaded whole), ``.npy`` files are
memory-mapped. Unreadable or truncated files raise QccError naming the file.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qcc.diagnostics import QccError


def _read_npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        return fmt.read_array_header_1_0(f)
    if version == (2, 0):
        return fmt.read_array_header_2_0(f)
    return fmt._read_array_header(f, version)  # version 3.0: utf-8 field names


class _NpzMember:
    """One array of a .npz, read row by row (bounded memory) from the zip stream."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str):
        self.zf, self.info, self.where = zf, info, where
        with zf.open(info) as f:
            self.shape, self.fortran, self.dtype = _read_npy_header(f)

    def read(self) -> np.ndarray:
        """The whole array."""
        with self.zf.open(self.info) as f:
            _read_npy_header(f)
            count = math.prod(self.shape)
            data = np.frombuffer(f.read(count * self.dtype.itemsize), self.dtype)
        if data.size != count:
            raise QccError(f"{self.where}: array is truncated")
        return data.reshape(self.shape, order="F" if self.fortran else "C")

    def rows(self, chunk_rows: int = 256) -> Iterator[np.ndarray]:
        shape, dtype = self.shape, self.dtype
        with self.zf.open(self.info) as f:
            _read_npy_header(f)
            if len(shape) == 0:
                yield np.frombuffer(f.read(dtype.itemsize), dtype).reshape(())
                return
            if self.fortran and len(shape) > 1:  # column-major: rows are not contiguous
                data = np.frombuffer(f.read(), dtype)
                yield from data.reshape(shape, order="F")
                return
            row = math.prod(shape[1:]) * dtype.itemsize
            left = shape[0]
            while left:
                k = min(left, chunk_rows)
                buf = f.read(row * k)
                if len(buf) != row * k:
                    raise QccError(f"{self.where}: array is truncated")
                yield from np.frombuffer(buf, dtype).reshape((k, *shape[1:]))
                left -= k


def _open_npz(path: Path) -> tuple[zipfile.ZipFile, dict[str, _NpzMember]]:
    if array_file_kind(path) == "npy":
        raise QccError(f"calibration data {path}: is a .npy array but named .npz; rename "
                       "it to .npy")
    try:
        zf = zipfile.ZipFile(path)
        members = {}
        for info in zf.infolist():
            if info.filename.endswith(".npy"):
                name = info.filename[:-4]
                members[name] = _NpzMember(zf, info, f"{path} ({name})")
        return zf, members
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise QccError(f"calibration data {path}: not a readable .npz file ({e})") from None


def array_file_kind(path: Path) -> str:
    """What a file holds by its first bytes, whatever its name: ``npy`` (numpy's
    array format), ``npz`` (a zip archive) or ``other``."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return "other"
    if head == b"\x93NUMPY":
        return "npy"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "npz"
    return "other"


def _open_npy(path: Path) -> np.ndarray:
    if array_file_kind(path) == "npz":
        raise QccError(f"calibration data {path}: is a .npz archive (zip) but named .npy; "
                       "rename it to .npz")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise QccError(f"calibration data {path}: not a readable .npy file ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise QccError(f"calibration data {path}: not a .npy array file")
    return arr
