"""Optional compiled loops (numba) for the hottest element-wise work, bit-exact with
the numpy code they stand in for.

With numba installed (``pip install qcc-compiler[fast]``), these loops replace numpy
passes that each go over the whole array several times:

- :func:`requantize_float` (the simulator's activate): ``(acc + offset) * M``,
  round half to even, clamp, add the zero point, in one pass per element instead of
  five array passes (quant_arith.Requantizer's float64 path: the same float64
  operations in the same order, so the same bits);
- :func:`depthwise` (the FP32 interpreter's depthwise convolution): each output's
  taps multiplied and added in tap order, in the output's float type, as the numpy
  code adds whole tap planes in that order (the same roundings);
- :func:`diagonal_sum` (the simulator's depthwise passes): each pass's input rows
  read in place from the Unified Buffer, multiplied by its diagonal weights and
  summed into the accumulator rows, instead of a gathered copy per pass, a product
  array per pass and a store (integer arithmetic: exact, in any order);
- :func:`clip` (the FP32 interpreter's Clip, ReLU6): both bounds in one pass;
- :func:`erf` and :func:`gelu` (the FP32 interpreter's Erf and exact GELU): the C
  library's ``erf`` per element in float64, as ``math.erf`` through numpy's
  ``frompyfunc`` computes it, without a Python call per element;
- :func:`histogram` (calibration's statistics): each value's bin from the same
  float64 division and floor, counted in place, instead of five array passes and a
  bincount per chunk.

numba compiles without ``fastmath``, so LLVM neither reorders nor fuses these
floating-point operations (no multiply-add contraction); tests/quant/test_fast.py
checks every loop against the numpy path bit for bit. Without numba, or with
``QCC_NO_NUMBA=1`` in the environment, the numpy code runs: it stays the reference.
Compiled loops are cached on disk next to this file (numba's ``cache=True``), so a
process pays numba's compile time (about a second per loop and type signature) once
per installation.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os

import numpy as np

from qcc.diagnostics import QccError


@functools.cache
def _installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def enabled() -> bool:
    """Whether the compiled loops are used (numba installed, not switched off by
    ``QCC_NO_NUMBA=1``). numba itself is imported on the first use of a loop, not
    with qcc (its import takes about half a second)."""
    return os.environ.get("QCC_NO_NUMBA", "") not in ("1", "true") and _installed()


@functools.cache
def _kernels():  # pragma: no cover - compiled by numba
    import numba

    @numba.njit(cache=True, nogil=True)
    def requantize(acc, out, cols, offset, multiplier, lo, hi, zp):
        # acc and out are C-contiguous 2-D arrays whose rows may be wider than the
        # cols computed: the loop over a row is what LLVM vectorizes
        for r in range(acc.shape[0]):
            for c in range(cols):
                y = (np.float64(acc[r, c]) + offset[c]) * multiplier[c]
                y = np.rint(y)
                if y < lo:
                    y = lo
                elif y > hi:
                    y = hi
                out[r, c] = y + zp

    @numba.njit(cache=True, nogil=True)
    def depthwise(xp, w, sh, sw, dh, dw, out):
        n, c, oh, ow = out.shape
        kh, kw = w.shape[2], w.shape[3]
        # a strided row is summed at every column of its span, then every sw-th sum
        # kept: each kept sum adds the same products in the same order, and the loops
        # over contiguous slices are what LLVM vectorizes (7x at stride 1; at stride 2
        # twice the work still takes half the time of the strided loop)
        span = (ow - 1) * sw + 1
        full = np.empty(span, out.dtype)
        for b in range(n):
            for ch in range(c):
                for y in range(oh):
                    # one output row, tap by tap (the row stays in cache over the
                    # taps): each output adds its taps in the numpy code's order, from 0
                    acc = out[b, ch, y] if sw == 1 else full
                    acc[:] = 0
                    for i in range(kh):
                        row = xp[b, ch, y * sh + i * dh]
                        for j in range(kw):
                            wt = w[ch, 0, i, j]
                            seg = row[j * dw:j * dw + span]
                            for x in range(span):
                                acc[x] += seg[x] * wt
                    if sw != 1:
                        dst = out[b, ch, y]
                        for x in range(ow):
                            dst[x] = full[x * sw]

    @numba.njit(cache=True, nogil=True)
    def histogram(a, width, first, counts):
        for k in range(a.size):
            x = np.float64(a[k])
            j = np.int64(np.floor(np.abs(x) / width))
            if a[k] < 0:
                j = ~j  # -j - 1: the mirror bin below 0
            counts[j - first] += 1

    @numba.njit(cache=True, nogil=True)
    def diagonal_sum(ub, rows, base, pad, diag, lo, acc, dst, accumulate):
        # ub: the Unified Buffer as uint8 or (signed inputs) int8; rows[k, r]: the row
        # pass k reads for output row r, relative to base[k], or -1 for padding
        # (value pad[k]); diag[k]: pass k's diagonal weights (int32) for lanes lo + j.
        # Sums in int32 (the caller's bound: they fit); the loops over 1-D slices are
        # what LLVM vectorizes
        taps, length = rows.shape
        width = diag.shape[1]
        total = np.empty(width, np.int32)
        for r in range(length):
            total[:] = 0
            for k in range(taps):
                i = rows[k, r]
                dk = diag[k]
                if i < 0:
                    v = np.int32(pad[k])
                    for j in range(width):
                        total[j] = np.int32(total[j] + v * dk[j])
                else:
                    row = ub[base[k] + i, lo:lo + width]
                    for j in range(width):
                        total[j] = np.int32(total[j] + np.int32(row[j]) * dk[j])
            out = acc[dst + r]
            if accumulate:  # int32 registers: modulo 2^32
                part = out[lo:lo + width]
                for j in range(width):
                    part[j] = np.int32(part[j] + total[j])
            else:
                out[lo:lo + width] = total

    @numba.njit(cache=True, nogil=True)
    def erf(x, out):
        for i in range(x.size):
            out[i] = math.erf(x[i])

    @numba.njit(cache=True, nogil=True)
    def gelu(x, out, root2):
        for i in range(x.size):
            d = np.float64(x[i])
            out[i] = 0.5 * d * (1.0 + math.erf(d / root2))

    @numba.njit(cache=True, nogil=True)
    def clip(x, lo, hi, out):
        # numpy's maximum then minimum, element by element: NaN stays NaN, and of two
        # equal values (0.0 and -0.0) each gives its second operand
        for i in range(x.size):
            v = x[i]
            if v == v:
                v = v if v > lo else lo
                v = v if v < hi else hi
            out[i] = v

    return {"requantize": requantize, "depthwise": depthwise, "histogram": histogram,
            "diagonal_sum": diagonal_sum, "erf": erf, "gelu": gelu, "clip": clip}


def histogram(a: np.ndarray, width: float, first: int, counts: np.ndarray) -> None:
    """``counts[k - first] += 1`` for each value's signed bin ``k`` (calibration's
    TensorStats._count: ``floor(|x| / width)`` in float64, ``-that - 1`` below 0), for
    a flat array whose values all fall inside the bins. A large array is split among
    :func:`threads` threads (the loop releases the GIL), each counting into its own
    array; the counts are then added (integers: the same counts)."""
    a = np.ascontiguousarray(a)
    kernel = _kernels()["histogram"]
    n = threads()
    if n == 1 or a.size < _THREADED_VALUES:
        kernel(a, float(width), int(first), counts)
        return
    parts = np.array_split(a, n)
    own = [np.zeros_like(counts) for _ in parts[1:]]
    futures = [_pool().submit(kernel, part, float(width), int(first), c)
               for part, c in zip(parts[1:], own, strict=True)]
    kernel(parts[0], float(width), int(first), counts)
    for f, c in zip(futures, own, strict=True):
        f.result()
        counts += c


#: below this many values a histogram is counted in the calling thread alone
_THREADED_VALUES = 1 << 18


def threads() -> int:
    """Threads for the compiled loops that split their work: ``QCC_THREADS`` if set,
    else the CPUs this process may run on."""
    env = os.environ.get("QCC_THREADS", "")
    if env.strip():
        try:
            return max(1, int(env))
        except ValueError:
            raise QccError(f"QCC_THREADS must be a whole number of threads, not {env!r}"
                           ) from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def _pool():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=64, thread_name_prefix="qcc-fast")


def requantize_float(out: np.ndarray, acc: np.ndarray, offset, multiplier,
                     lo: float, hi: float, zp: float) -> None:
    """``out[...] = clip(rint((float64(acc) + offset) * multiplier), lo, hi) + zp`` for
    2-D ``acc``; ``offset`` and ``multiplier`` per column or scalars (float64)."""
    cols = acc.shape[1]
    offset, multiplier = _per_column(offset, cols), _per_column(multiplier, cols)
    if not _rows_of(acc):
        acc = np.ascontiguousarray(acc)
    target = out if _rows_of(out) else np.empty(out.shape, out.dtype)
    kernel = _kernels()["requantize"]
    split = not (acc.flags.c_contiguous and target.flags.c_contiguous)
    for a, o in zip(_c_rows(acc, split), _c_rows(target, split), strict=True):
        kernel(a, o, cols, offset, multiplier, float(lo), float(hi), float(zp))
    if target is not out:
        out[...] = target


def _per_column(v, cols: int) -> np.ndarray:
    """A scalar or per-column parameter as a C-contiguous float64 array of ``cols``
    (without numpy's broadcast_to when it already is one, or is a scalar: an activate
    of a few rows paid more for that than for its arithmetic)."""
    a = np.asarray(v, np.float64)
    if a.ndim == 0:
        return np.full(cols, float(a))
    if a.shape == (cols,) and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(np.broadcast_to(a, (cols,)))


def _rows_of(a: np.ndarray) -> bool:
    """Whether a 2-D array's rows are contiguous, in order, a whole number of elements
    apart (a view of some lanes of a buffer's rows, or a C-contiguous array)."""
    return a.ndim == 2 and (a.shape[1] <= 1 or a.strides[1] == a.itemsize) and \
        (a.shape[0] <= 1 or (a.strides[0] >= a.shape[1] * a.itemsize
                             and a.strides[0] % a.itemsize == 0))


def _c_rows(a: np.ndarray, split: bool) -> list[np.ndarray]:
    """A 2-D view of some lanes of a buffer's rows (``_rows_of``) as C-contiguous 2-D
    arrays: numba vectorizes a loop over their rows, while over the view itself,
    whose layout it cannot know, the loop took 3.7x numpy's time. With ``split``,
    every row but the last as whole rows of the buffer (the view's columns first; the
    rest, never touched, lies inside the buffer before the next row's first element),
    then the last row alone; otherwise ``a`` itself (C-contiguous)."""
    rows = a.shape[0]
    if not split:
        return [a]
    if rows <= 1:  # numpy flags such an array C-contiguous: no copy is needed
        return [a[:0], a]
    step = a.strides[0] // a.itemsize
    body = np.lib.stride_tricks.as_strided(a, (rows - 1, step), (a.strides[0], a.itemsize))
    return [body, a[rows - 1:]]


def diagonal_sum(ub: np.ndarray, rows: np.ndarray, base: np.ndarray, pad: np.ndarray,
                 diag: np.ndarray, lo: int, acc: np.ndarray, dst: int,
                 accumulate: bool) -> None:
    """The simulator's diagonal (depthwise) passes into accumulator rows ``dst`` on,
    lanes [lo, lo + width): for each output row r, the sum over passes k of input row
    ``base[k] + rows[k, r]`` of ``ub`` (or ``pad[k]`` where ``rows[k, r] < 0``) times
    ``diag[k]``, lane by lane; added to the rows or (``accumulate`` false) written
    over them (the other lanes are left alone: the simulator clears them when they
    are read). Integer sums in int32: exact, in any order, for
    the passes the simulator defers (the bound of their |sum| fits int32)."""
    _kernels()["diagonal_sum"](ub, rows, base, pad.astype(np.int32),
                               diag.astype(np.int32), int(lo), acc, int(dst),
                               bool(accumulate))


def erf(x: np.ndarray) -> np.ndarray:
    """``math.erf`` of each value (float64 in, float64 out): numba's ``math.erf`` and
    CPython's call the same C library function (tests/quant/test_fast.py checks them
    bit for bit), without a Python call per element."""
    x = np.ascontiguousarray(x, np.float64)
    out = np.empty(x.shape, np.float64)
    _kernels()["erf"](x.reshape(-1), out.reshape(-1))
    return out


def clip(x: np.ndarray, lo, hi, out: np.ndarray | None = None) -> np.ndarray:
    """``np.minimum(np.maximum(x, lo), hi)`` (the interpreter's Clip and ReLU6) in one
    pass instead of two, bit for bit (NaN and the sign of zero included), for a
    C-contiguous float array; ``lo`` and ``hi`` scalars of its type. ``out`` may be
    ``x``."""
    if out is None:
        out = np.empty(x.shape, x.dtype)
    _kernels()["clip"](x.reshape(-1), x.dtype.type(lo), x.dtype.type(hi), out.reshape(-1))
    return out


def gelu(x: np.ndarray) -> np.ndarray:
    """The interpreter's exact GELU, ``0.5 * d * (1 + erf(d / sqrt(2)))`` with ``d``
    the value in float64, the same operations in the same order, rounded once to
    ``x``'s float type."""
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape, x.dtype)
    _kernels()["gelu"](x.reshape(-1), out.reshape(-1), math.sqrt(2))
    return out


def depthwise(xp: np.ndarray, w: np.ndarray, strides, dilations, out_hw) -> np.ndarray:
    """The depthwise convolution of a padded input (the interpreter's _depthwise)."""
    (sh, sw), (dh, dw), (oh, ow) = strides, dilations, out_hw
    dtype = np.result_type(xp, w)
    out = np.empty((xp.shape[0], w.shape[0], oh, ow), dtype)
    _kernels()["depthwise"](xp.astype(dtype, copy=False), w.astype(dtype, copy=False), sh,
                            sw, dh, dw, out)
    return out
