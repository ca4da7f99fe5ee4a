"""The IR interpreter: numpy semantics of every op, the specification of what ops mean.

Each op class maps to one function from its operand arrays (and the op, for its
attributes) to its result arrays; constant folding uses the same functions, so a
folded graph computes what the unfolded one does. Everything is vectorized:
convolutions and pools gather their windows one kernel tap at a time (im2col) and
reduce with matrix products, never with per-element Python loops.

    outputs = run(module, {"x": np.zeros((1, 3, 8, 8), np.float32)})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from qcc import fast, quant_arith
from qcc.diagnostics import QccError, warn
from qcc.dialects import nn, quant
from qcc.ir.core import Graph, Module, Op, ReturnOp, Value
from qcc.ir.types import FloatType, QuantType, TensorType, UniformQuantPerAxisType

Semantics = Callable[..., Any]
SEMANTICS: dict[type[Op], Semantics] = {}


def semantics(*op_classes: type[Op]) -> Callable[[Semantics], Semantics]:
    """Register the numpy meaning of op classes: ``fn(op, *arrays) -> array | list``."""

    def register(fn: Semantics) -> Semantics:
        for cls in op_classes:
            SEMANTICS[cls] = fn
        return fn

    return register


def evaluate_op(op: Op, args: list[np.ndarray]) -> list[np.ndarray]:
    """Results of one op on concrete operands."""
    fn = SEMANTICS.get(type(op))
    if fn is None:
        raise QccError(f"the interpreter has no semantics for '{op.name}'", op.loc)
    out = fn(op, *args)
    results = list(out) if isinstance(out, list | tuple) else [out]
    for r, v in zip(results, op.results, strict=True):
        t = v.type
        if isinstance(t, TensorType) and r.shape != t.shape:
            raise AssertionError(f"{op!r} computed shape {r.shape}, expected {t}")
    return [np.asarray(r, dtype=v.type.element.numpy_dtype) if isinstance(v.type, TensorType)
            else r for r, v in zip(results, op.results, strict=True)]


def check_inputs(graph: Graph, inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """Match named input arrays to the graph's arguments, checking shape and dtype."""
    unknown = sorted(set(inputs) - set(graph.input_names))
    if unknown:
        raise QccError(f"unknown input {unknown[0]!r}; the model's inputs are "
                       f"{', '.join(graph.input_names)}")
    arrays = []
    for arg, name in zip(graph.args, graph.input_names, strict=True):
        if name not in inputs:
            raise QccError(f"missing input {name!r} ({arg.type})")
        a = np.asarray(inputs[name])
        t = arg.type
        want = t.element.numpy_dtype
        if a.shape != t.shape:
            raise QccError(f"input {name!r} has shape {list(a.shape)}, the model expects "
                           f"{list(t.shape)} ({t})")
        if a.dtype != want:
            same_kind = a.dtype.kind == want.kind or (a.dtype.kind in "iu" and want.kind in "iu")
            if not same_kind or (isinstance(t.element, FloatType) and a.dtype.kind != "f"):
                raise QccError(f"input {name!r} has dtype {a.dtype}, the model expects {want}")
            with np.errstate(over="ignore"):  # float64 beyond float32: +-Inf, as on the TPU
                a = a.astype(want)
        arrays.append(a)
    return arrays


def run(module: Module | Graph, inputs: Mapping[str, Any],
        observer: Callable[[Value, np.ndarray], None] | None = None,
        reuse_buffers: bool | None = None) -> dict[str, np.ndarray]:
    """Execute the graph (``main`` of a module) and return outputs by output name.

    ``observer(value, array)`` is called for every value computed, in order; arrays
    are freed after their last use, so memory stays bounded by the live set.
    With ``reuse_buffers`` (the default when there is no observer; an observer that
    keeps no arrays, like calibration's, may allow it), an elementwise op whose first
    operand dies there writes its result into that operand's array (IN_PLACE), when
    the interpreter computed that array and nothing else still live shares it. An
    array is followed by its owner (``base``): a reshaped product is the product's
    memory.
    """
    graph = module.main if isinstance(module, Module) else module
    env: dict[Value, np.ndarray] = dict(zip(graph.args, check_inputs(graph, inputs),
                                            strict=True))
    last_use: dict[Value, int] = {}
    for k, op in enumerate(graph.ops):
        for v in op.operands:
            last_use[v] = k
    if observer:
        for a in graph.args:
            observer(a, env[a])
    reuse = observer is None if reuse_buffers is None else reuse_buffers
    # ids of owner arrays an op (not a constant) allocated in this run
    fresh: set[int] = set()
    sharing: dict[int, int] = {}  # owner array id -> live values whose array it holds
    outputs: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        for k, op in enumerate(graph.ops):
            args = [env[v] for v in op.operands]
            if isinstance(op, ReturnOp):
                outputs = args
                break
            donate = reuse and type(op) in IN_PLACE and op.operands[0] not in op.operands[1:] \
                and last_use.get(op.operands[0]) == k and _fits(args[0], op.results[0]) and \
                _sole_fresh_owner(args[0], fresh, sharing)
            results = _evaluate_in_place(op, args) if donate else evaluate_op(op, args)
            for v, arr in zip(op.results, results, strict=True):
                env[v] = arr
                if reuse and isinstance(arr, np.ndarray):
                    owner = _owner(arr)
                    sharing[id(owner)] = sharing.get(id(owner), 0) + 1
                    if not isinstance(op, nn.ConstantOp) and isinstance(owner, np.ndarray) \
                            and not any(owner is _owner(a) for a in args
                                        if isinstance(a, np.ndarray)):
                        fresh.add(id(owner))
                if observer:
                    observer(v, arr)
            for v in set(op.operands):
                if last_use.get(v) == k:
                    arr = env.pop(v, None)
                    if reuse and isinstance(arr, np.ndarray):
                        owner = _owner(arr)
                        left = sharing.get(id(owner), 1) - 1
                        if left:
                            sharing[id(owner)] = left
                        else:  # its id may be reused by a later array
                            sharing.pop(id(owner), None)
                            fresh.discard(id(owner))
    return dict(zip(graph.output_names, outputs, strict=True))


def _owner(arr: np.ndarray) -> object:
    """The object that holds an array's memory: the array, or what it is a view of."""
    return arr if arr.base is None else arr.base


def _sole_fresh_owner(arr: np.ndarray, fresh: set[int], sharing: dict[int, int]) -> bool:
    """Whether this run allocated ``arr``'s memory and no other live value holds it."""
    owner = id(_owner(arr))
    return owner in fresh and sharing.get(owner) == 1


def _fits(arr: np.ndarray, result: Value) -> bool:
    t = result.type
    return isinstance(t, TensorType) and arr.shape == t.shape and \
        arr.dtype == t.element.numpy_dtype and arr.flags.writeable


def _evaluate_in_place(op: Op, args: list[np.ndarray]) -> list[np.ndarray]:
    out = args[0]
    IN_PLACE[type(op)](op, out, *args)
    return [out]


#: elementwise ops that can write their result into their first operand's array:
#: ``fn(op, out, *arrays)``, computing exactly what SEMANTICS does
IN_PLACE: dict[type[Op], Callable[..., None]] = {}


# --------------------------------------------------------------------------- constants


@semantics(nn.ConstantOp)
def _constant(op: nn.ConstantOp) -> np.ndarray:
    if op.value.data is None:
        raise QccError("constant was elided when printed; cannot execute it (print without "
                       "--elide-constants)", op.loc)
    return op.value.data


# --------------------------------------------------------------------------- elementwise


def _f(op: Op, value: float) -> np.generic:
    """A scalar attribute in the op's element type (so f32 math stays f32)."""
    return op.results[0].type.element.numpy_dtype.type(value)


semantics(nn.IdentityOp, nn.DropoutOp)(lambda op, x: x)
semantics(nn.ReluOp)(lambda op, x: np.maximum(x, _f(op, 0)))
IN_PLACE[nn.ReluOp] = lambda op, out, x: np.maximum(x, _f(op, 0), out=out)
semantics(nn.TanhOp)(lambda op, x: np.tanh(x))
semantics(nn.LeakyReluOp)(lambda op, x: np.where(x >= 0, x, x * _f(op, op.alpha)))


def _clip_into(op: nn.ClipOp, out: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """min(max(x, min), max) into ``out`` (a new array when None)."""
    if fast.enabled() and x.dtype in (np.float32, np.float64) and x.flags.c_contiguous \
            and (out is None or out.flags.c_contiguous):  # one pass, the same values
        return fast.clip(x, _f(op, op.min), _f(op, op.max), out)
    if out is None:
        return np.minimum(np.maximum(x, _f(op, op.min)), _f(op, op.max))
    return np.minimum(np.maximum(x, _f(op, op.min), out=out), _f(op, op.max), out=out)


semantics(nn.ClipOp)(lambda op, x: _clip_into(op, None, x))
IN_PLACE[nn.ClipOp] = _clip_into
semantics(nn.AddOp)(lambda op, a, b: a + b)
IN_PLACE[nn.AddOp] = lambda op, out, a, b: np.add(a, b, out=out)
semantics(nn.SubOp)(lambda op, a, b: a - b)
semantics(nn.MulOp)(lambda op, a, b: a * b)
semantics(nn.DivOp)(lambda op, a, b: a / b)


semantics(nn.PowOp)(lambda op, a, b: np.power(a, b))
semantics(nn.SqrtOp)(lambda op, x: np.sqrt(x))
semantics(nn.PReluOp)(lambda op, x, slope: np.where(x < 0, x * slope, x))


@semantics(nn.HardSigmoidOp)
def _hard_sigmoid(op: nn.HardSigmoidOp, x: np.ndarray) -> np.ndarray:
    return np.clip(x * _f(op, op.alpha) + _f(op, op.beta), _f(op, 0), _f(op, 1))


@semantics(nn.HardSwishOp)
def _hard_swish(op: nn.HardSwishOp, x: np.ndarray) -> np.ndarray:
    return x * np.clip(x * _f(op, 1 / 6) + _f(op, 0.5), _f(op, 0), _f(op, 1))


@semantics(nn.SigmoidOp)
def _sigmoid(op: Op, x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@semantics(nn.SoftmaxOp)
def _softmax(op: nn.SoftmaxOp, x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=op.axis, keepdims=True))
    return e / np.sum(e, axis=op.axis, keepdims=True)


# --------------------------------------------------------------------------- linear algebra


def windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
            dilations: tuple[int, int], out_hw: tuple[int, int],
            batch_inner: bool = False) -> np.ndarray:
    """Gather sliding windows of an (already padded) NCHW array: [N, C, KH, KW, OH, OW],
    or [C, KH, KW, N, OH, OW] with ``batch_inner``."""
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out_hw
    cols = np.empty((c, kh, kw, n, oh, ow) if batch_inner else (n, c, kh, kw, oh, ow),
                    dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = x[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                    j * dw:j * dw + sw * (ow - 1) + 1:sw]
            if batch_inner:
                cols[:, i, j] = tap.transpose(1, 0, 2, 3)
            else:
                cols[:, :, i, j] = tap
    return cols


#: below this many output pixels per image, a 1x1 convolution's images share one matrix
#: product (per-image products this narrow run far below BLAS's speed)
_ONE_PRODUCT_PIXELS = 128


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides, pads, dilations,
           group: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Grouped 2-D convolution: a depthwise one as a sum over its taps, any other as
    matrix products (im2col, or the input itself for a 1x1 kernel)."""
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    oh, ow = out_hw
    sh, sw = strides
    p = oh * ow
    if group == 1 and kh == kw == 1 and not any(pads):
        xs = x[:, :, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw].reshape(n, c, p)
        if n == 1:
            out = w.reshape(o, c) @ xs[0]
        elif p >= _ONE_PRODUCT_PIXELS:
            out = np.matmul(w.reshape(o, c), xs)
        else:
            out = w.reshape(o, c) @ xs.transpose(1, 0, 2).reshape(c, n * p)
            return _images_first(out, b, n, out_hw)
        out = np.ascontiguousarray(out).reshape(n, o, oh, ow)
    else:
        xp = _zero_pad_hw(x, pads)
        if group == c == o and cg == 1:
            out = _depthwise(xp, w, strides, dilations, out_hw)
        elif group == 1:
            # the windows are copied anyway: with the images side by side, one product
            cols = windows(xp, (kh, kw), strides, dilations, out_hw, batch_inner=True)
            out = w.reshape(o, c * kh * kw) @ cols.reshape(c * kh * kw, n * p)
            if n > 1:
                return _images_first(out, b, n, out_hw)
            out = out.reshape(n, o, oh, ow)
        else:
            cols = windows(xp, (kh, kw), strides, dilations, out_hw)
            cols = cols.reshape(n, group, cg * kh * kw, p)
            wm = w.reshape(group, o // group, cg * kh * kw)
            out = np.matmul(wm[None], cols).reshape(n, o, oh, ow)
    if b is not None:
        out += b.reshape(1, o, 1, 1)
    return out


def _images_first(out: np.ndarray, b: np.ndarray | None, n: int, out_hw) -> np.ndarray:
    """A product [O, N * P] of all images as [N, O, OH, OW], plus the bias: the bias is
    added as the product is copied (the same sums)."""
    o = out.shape[0]
    out = out.reshape(o, n, -1).transpose(1, 0, 2)
    if b is None:
        return np.ascontiguousarray(out).reshape(n, o, *out_hw)
    y = np.empty(out.shape, out.dtype)
    np.add(out, b.reshape(1, o, 1), out=y)
    return y.reshape(n, o, *out_hw)


def _zero_pad_hw(x: np.ndarray, pads) -> np.ndarray:
    """x [N, C, H, W] zero-padded by pads (top, left, bottom, right)."""
    if not any(pads):
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]), x.dtype)
    out[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    return out


def _depthwise(xp: np.ndarray, w: np.ndarray, strides, dilations, out_hw) -> np.ndarray:
    """One filter per channel on a padded input: the weighted sum of its shifted taps,
    added in tap order. Each of the kh * kw passes reads and writes the whole output,
    so on a large output the sum is taken over slabs of channels of one image whose
    output stays in the processor's cache (the same additions in the same order;
    about 2x faster on MobileNet-v2's first layers at 224 x 224)."""
    if fast.enabled():  # the same products and sums, in a compiled loop (qcc/fast.py)
        return fast.depthwise(xp, w, strides, dilations, out_hw)
    c, _, kh, kw = w.shape
    (sh, sw), (dh, dw), (oh, ow) = strides, dilations, out_hw
    out = np.zeros((xp.shape[0], c, oh, ow), np.result_type(xp, w))
    slabs = [(slice(None), slice(None))]
    if out.size > _DEPTHWISE_SLAB:
        step = max(1, _DEPTHWISE_SLAB // max(1, oh * ow))
        slabs = [(slice(b, b + 1), slice(c0, c0 + step))
                 for b in range(xp.shape[0]) for c0 in range(0, c, step)]
    term = np.empty_like(out[slabs[0]])
    for images, channels in slabs:
        o = out[images, channels]
        t = term[:, :o.shape[1]]
        weights = w[channels, 0]
        for i in range(kh):
            for j in range(kw):
                tap = xp[images, channels, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                         j * dw:j * dw + sw * (ow - 1) + 1:sw]
                np.multiply(tap, weights[:, i, j].reshape(1, -1, 1, 1), out=t)
                o += t
    return out


#: output elements per slab of a depthwise convolution (256 KiB of float32)
_DEPTHWISE_SLAB = 1 << 16


@semantics(nn.Conv2dOp)
def _conv2d(op: nn.Conv2dOp, x, w, b=None):
    return conv2d(x, w, b, op.strides, op.pads, op.dilations, op.group,
                  op.output.type.shape[2:])


@semantics(nn.ConvTranspose2dOp)
def _conv_transpose2d(op: nn.ConvTranspose2dOp, x, w, b=None):
    """Every input pixel times each kernel tap, added into the output at
    ``stride * pixel + dilation * tap`` (col2im), then cropped by the pads."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    g = op.group
    (sh, sw), (dh, dw), p = op.strides, op.dilations, op.pads
    oh, ow = op.output.type.shape[2:]
    # the products of each group: [N, G, OG * KH * KW, H * W]
    wm = w.reshape(g, c // g, og * kh * kw).transpose(0, 2, 1)
    cols = np.matmul(wm[None], x.reshape(n, g, c // g, h * wd))
    cols = cols.reshape(n, g * og, kh, kw, h, wd)
    # the uncropped result, with room for output rows and columns past its end
    top, left = max(p[0], 0), max(p[1], 0)
    full_h = max((h - 1) * sh + dh * (kh - 1) + 1, p[0] + oh) - min(p[0], 0)
    full_w = max((wd - 1) * sw + dw * (kw - 1) + 1, p[1] + ow) - min(p[1], 0)
    full = np.zeros((n, g * og, full_h, full_w), np.result_type(x, w))
    y0, x0 = top - p[0], left - p[1]  # where output (0, 0) of the uncropped result sits
    for i in range(kh):
        for j in range(kw):
            full[:, :, y0 + i * dh:y0 + i * dh + sh * (h - 1) + 1:sh,
                 x0 + j * dw:x0 + j * dw + sw * (wd - 1) + 1:sw] += cols[:, :, i, j]
    out = full[:, :, top:top + oh, left:left + ow]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


@semantics(nn.GemmOp)
def _gemm(op: nn.GemmOp, a, b, c=None):
    a = a.T if op.trans_a else a
    b = b.T if op.trans_b else b
    y = a @ b
    if op.alpha != 1.0:
        y = y * _f(op, op.alpha)
    if c is not None:
        y = y + (c * _f(op, op.beta) if op.beta != 1.0 else c)
    return y


semantics(nn.MatMulOp)(lambda op, a, b: np.matmul(a, b))


@semantics(nn.DenseOp)
def _dense(op: nn.DenseOp, x, w, b=None):
    y = np.matmul(x, w)
    return y + b if b is not None else y


@semantics(nn.BatchNormOp)
def _batch_norm(op: nn.BatchNormOp, x, scale, bias, mean, var):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / np.sqrt(var + _f(op, op.epsilon))
    y = x * inv.reshape(shape)
    y += (bias - mean * inv).reshape(shape)
    return y


# --------------------------------------------------------------------------- pooling


def _pool_windows(op: nn.MaxPoolOp | nn.AvgPoolOp | quant.AvgPoolOp, x: np.ndarray,
                  fill: float):
    """Windows of x padded by the explicit pads plus what ceil_mode needs at the end."""
    kh, kw = op.kernel
    dh, dw = op.attributes.get("dilations", (1, 1))
    oh, ow = op.output.type.shape[2:]
    sh, sw = op.strides
    p = op.pads
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (x.shape[2] + p[0] + p[2]))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (x.shape[3] + p[1] + p[3]))
    widths = ((0, 0), (0, 0), (p[0], p[2] + extra_h), (p[1], p[3] + extra_w))
    xp = np.pad(x, widths, constant_values=fill)
    return windows(xp, (kh, kw), (sh, sw), (dh, dw), (oh, ow)), widths


@semantics(nn.MaxPoolOp)
def _max_pool(op: nn.MaxPoolOp, x):
    # padding never wins: -inf for floats, the smallest integer for quantized storage
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    cols, _ = _pool_windows(op, x, fill)
    return cols.max(axis=(2, 3))


@semantics(nn.AvgPoolOp)
def _avg_pool(op: nn.AvgPoolOp, x):
    cols, widths = _pool_windows(op, x, 0.0)
    total = cols.sum(axis=(2, 3), dtype=x.dtype)
    return total / _pool_counts(op, x.shape, widths, x.dtype)


def _pool_counts(op: nn.AvgPoolOp | quant.AvgPoolOp, shape, widths, dtype) -> np.ndarray:
    """The divisor of each average: window positions inside the input, or inside the
    input and its explicit pads (``count_include_pad``); never the ceil_mode extra."""
    p = op.pads
    h, w = shape[2:]
    mask = np.zeros((1, 1, h + widths[2][0] + widths[2][1], w + widths[3][0] + widths[3][1]),
                    dtype=dtype)
    if op.count_include_pad:
        mask[:, :, :h + p[0] + p[2], :w + p[1] + p[3]] = 1
    else:
        mask[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = 1
    out_hw = op.output.type.shape[2:]
    return windows(mask, op.kernel, op.strides, (1, 1), out_hw).sum(axis=(2, 3))


semantics(nn.GlobalAvgPoolOp)(
    lambda op, x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=x.dtype))


# --------------------------------------------------------------------------- normalization


@semantics(nn.LrnOp)
def _lrn(op: nn.LrnOp, x):
    c = x.shape[1]
    before, after = (op.size - 1) // 2, op.size // 2  # floor and ceil of (size - 1) / 2
    sq = np.square(x)
    # running sums over channels: window [c - before, c + after], clipped to [0, C)
    cum = np.concatenate([np.zeros_like(sq[:, :1]), np.cumsum(sq, axis=1, dtype=np.float64)],
                         axis=1)
    hi = np.minimum(np.arange(c) + after + 1, c)
    lo = np.maximum(np.arange(c) - before, 0)
    square_sum = (cum[:, hi] - cum[:, lo]).astype(x.dtype)
    base = _f(op, op.bias) + _f(op, op.alpha / op.size) * square_sum
    return x / np.power(base, _f(op, op.beta))


semantics(nn.ReduceMeanOp)(lambda op, x: np.mean(x, axis=tuple(op.axes), keepdims=op.keepdims,
                                                 dtype=x.dtype))


# --------------------------------------------------------------------------- shapes


semantics(nn.ReshapeOp)(lambda op, x: x.reshape(op.shape))
semantics(nn.TransposeOp)(lambda op, x: np.transpose(x, op.perm))
semantics(nn.ConcatOp)(lambda op, *xs: np.concatenate(xs, axis=op.axis))


@semantics(nn.SliceOp)
def _slice(op: nn.SliceOp, x):
    return x[tuple(slice(b, None if e < 0 else e, s)
                   for b, e, s in zip(op.starts, op.ends, op.steps, strict=True))]


@semantics(nn.ResizeOp)
def _resize(op: nn.ResizeOp, x):
    """One axis at a time (Resize is separable), in float64 as ONNX's reference
    computes it, rounded to the element type at the end; nearest copies elements."""
    y = x
    for axis, (size, scale) in enumerate(zip(op.sizes, op.scales, strict=True)):
        if size == y.shape[axis] and scale == 1.0:
            continue
        source = resize_coordinates(op, y.shape[axis], size, scale)
        if op.mode == "nearest":
            y = np.take(y, _nearest_index(op.nearest_mode, source, y.shape[axis]), axis=axis)
            continue
        index, weights = _resize_taps(op, source, y.shape[axis], scale)
        taps = np.take(y.astype(np.float64), index, axis=axis)  # [..., size, T, ...]
        shape = (1,) * axis + weights.shape + (1,) * (y.ndim - axis - 1)
        y = np.sum(taps * weights.reshape(shape), axis=axis + 1)
    return y.astype(x.dtype, copy=False)


def resize_coordinates(op: nn.ResizeOp, length: int, size: int, scale: float) -> np.ndarray:
    """The input coordinate of each output position along one axis (float64)."""
    out = np.arange(size, dtype=np.float64)
    mode = op.coordinate_mode
    scaled = scale * length  # the output length before rounding, as ONNX defines it
    if mode == "asymmetric":
        return out / scale
    if mode == "align_corners":
        return np.zeros(size) if scaled == 1 else out * (length - 1) / (scaled - 1)
    if mode == "pytorch_half_pixel" and scaled == 1:
        return np.full(size, -0.5)
    if mode == "tf_half_pixel_for_nn":
        return (out + 0.5) / scale
    source = (out + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        source += length / 2 * (1 - size / scaled)
    return source


def _nearest_index(mode: str, source: np.ndarray, length: int) -> np.ndarray:
    floor = np.floor(source)
    frac = source - floor
    if mode == "round_prefer_floor":
        index = np.where(frac > 0.5, floor + 1, floor)
    elif mode == "round_prefer_ceil":
        index = np.where(frac >= 0.5, floor + 1, floor)
    elif mode == "floor":
        index = floor
    else:
        index = np.ceil(source)
    return np.clip(index, 0, length - 1).astype(np.intp)


def _cubic(d: np.ndarray, a: float) -> np.ndarray:
    """The cubic convolution kernel of coefficient ``a`` at distances ``d``."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _resize_taps(op: nn.ResizeOp, source: np.ndarray, length: int,
                 scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Input indices [size, T] (edge-clamped) and weights [size, T] of linear or cubic
    interpolation. The T taps sit at offsets 1 - T/2 .. T/2 from ``base``, the input
    position at or left of the coordinate (strictly left when it is an integer, as ONNX's
    reference picks them); ``antialias`` stretches the kernel by 1/scale downsampling."""
    base = np.floor(source)
    ratio = source - base
    whole = ratio == 0
    base[whole] -= 1
    ratio[whole] = 1.0
    reach = 1.0 if op.mode == "linear" else 2.0  # kernel support
    stretch = min(scale, 1.0) if op.antialias else 1.0
    half = int(np.ceil(reach / stretch))
    offsets = np.arange(1 - half, half + 1)
    distance = (offsets[None, :] - ratio[:, None]) * stretch
    if op.mode == "linear":
        weights = np.clip(1 - np.abs(distance), 0, 1)
    else:
        weights = _cubic(distance, op.cubic_coeff_a)
    index = base.astype(np.intp)[:, None] + offsets[None, :]
    if op.exclude_outside:
        weights = np.where((index < 0) | (index >= length), 0.0, weights)
    if op.antialias or op.exclude_outside:
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    return np.clip(index, 0, length - 1), weights


@semantics(nn.PadOp)
def _pad(op: nn.PadOp, x):
    r = x.ndim
    begins, ends = op.pads[:r], op.pads[r:]
    # negative pads crop
    x = x[tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0))
                for i, (b, e) in enumerate(zip(begins, ends, strict=True)))]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends, strict=True)]
    t = op.output.type
    if isinstance(t.element, QuantType):  # pad with the code of the real value
        scale, zp = qparams(t.with_shape(()) if t.rank == 0 else t)
        value = quant_arith.quantize(np.float32(op.value), scale.reshape(-1)[0],
                                     zp.reshape(-1)[0], t.element.storage_min,
                                     t.element.storage_max, t.element.numpy_dtype)
        return np.pad(x, widths, constant_values=value)
    return np.pad(x, widths, constant_values=_f(op, op.value))


# --------------------------------------------------------------------------- quant dialect


def qparams(t: TensorType) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point of a quantized tensor type, shaped to broadcast against it."""
    e = t.element
    if isinstance(e, UniformQuantPerAxisType):
        shape = [1] * t.rank
        shape[e.axis] = len(e.scales)
        return (np.array(e.scales, np.float64).reshape(shape),
                np.array(e.zero_points, np.int64).reshape(shape))
    return np.array(e.scale, np.float64), np.array(e.zero_point, np.int64)


def _per_channel(values, t: TensorType) -> np.ndarray:
    """Per-tensor or per-axis integer parameters shaped to broadcast against ``t``."""
    e = t.element
    arr = np.array(values, np.int64)
    if isinstance(e, UniformQuantPerAxisType) and arr.size > 1:
        shape = [1] * t.rank
        shape[e.axis] = arr.size
        return arr.reshape(shape)
    return arr.reshape(())


semantics(quant.StatsOp)(lambda op, x: x)


@semantics(quant.QuantizeOp)
def _quantize(op: quant.QuantizeOp, x):
    t = op.output.type
    scale, zp = qparams(t)
    e = t.element
    if isinstance(op.input.owner, Graph):  # a model input: the host boundary
        message = quant_arith.nonfinite_warning(op.input.name_hint or "?", x)
        if message:
            warn(message, op.loc)
    return quant_arith.quantize(x, scale.astype(np.float32), zp, e.storage_min, e.storage_max,
                                e.numpy_dtype)


@semantics(quant.DequantizeOp)
def _dequantize(op: quant.DequantizeOp, q):
    scale, zp = qparams(op.input.type)
    return quant_arith.dequantize(q, scale.astype(np.float32), zp)


def _centered(v: Value, q: np.ndarray) -> np.ndarray:
    """q - zero_point as float64 (exact: int8 products summed in float64 stay far below
    2^53, so the matrix products below are exact integer arithmetic)."""
    _, zp = qparams(v.type)
    return (q.astype(np.int64) - zp).astype(np.float64)


@semantics(quant.Conv2dOp)
def _qconv2d(op: quant.Conv2dOp, x, w, b=None):
    acc = conv2d(_centered(op.input, x), _centered(op.weight, w), None, op.strides, op.pads,
                 op.dilations, op.group, op.output.type.shape[2:])
    acc = np.rint(acc).astype(np.int64)
    if b is not None:
        acc += b.astype(np.int64).reshape(1, -1, 1, 1)
    return _check_int32(op, acc)


#: weights of more elements than this are multiplied a block of rows at a time
_DENSE_BLOCK = 1 << 24


@semantics(quant.DenseOp)
def _qdense(op: quant.DenseOp, x, w, b=None):
    xc = _centered(op.input, x)
    if w.size <= _DENSE_BLOCK:
        prod = np.matmul(xc, _centered(op.weight, w))
    else:
        # a block of weight rows at a time: float64 copies of a classifier's 100M
        # weights would take 0.8 GB each; every partial product is an exact integer
        # (below 2^53), so the sum is the same exact integer as one product
        _, zw = qparams(op.weight.type)
        step = max(1, _DENSE_BLOCK // max(w.shape[-1], 1))
        prod = None
        for k0 in range(0, w.shape[0], step):
            wk = w[k0:k0 + step].astype(np.float64) - zw
            part = np.matmul(xc[..., k0:k0 + step], wk)
            prod = part if prod is None else prod + part
    acc = np.rint(prod).astype(np.int64)
    if b is not None:
        acc += b.astype(np.int64)
    return _check_int32(op, acc)


def _check_int32(op: Op, acc: np.ndarray, bound: int | None = None) -> np.ndarray:
    """``acc``, a layer's int32 value computed exactly, or the overflow error (the rule
    of quant_arith, which the TPU simulator follows too). ``bound``, when given, bounds
    |acc|: no check is needed below int32."""
    if bound is not None and bound <= quant_arith.INT32_MAX:
        return acc
    value = quant_arith.int32_overflow(acc)
    if value is not None:
        raise QccError(quant_arith.accumulator_overflow_message(value), op.loc)
    return acc


@semantics(quant.RequantizeOp)
def _requantize(op: quant.RequantizeOp, q):
    t_in = op.input.type
    _, zp_in = qparams(t_in)
    e_out = op.output.type.element
    # per channel along the input's axis, or along the result's (per-channel result)
    ref = t_in if isinstance(t_in.element, UniformQuantPerAxisType) else op.output.type
    m = _per_channel(op.multiplier, ref)
    shift = _per_channel(op.shift, ref)
    centered = q.astype(np.int64) - zp_in
    return quant_arith.requantize(centered, m, shift, quant.output_zero_point(e_out),
                                  op.clamp_min, op.clamp_max, e_out.numpy_dtype)


@semantics(quant.PReluOp)
def _quant_prelu(op: quant.PReluOp, q):
    _, zp_in = qparams(op.input.type)
    e_out = op.output.type.element
    shape = [1] * q.ndim
    if len(op.slope) > 1:
        shape[1] = len(op.slope)
    neg_m = np.array(op.negative_multiplier, np.int64).reshape(shape)
    neg_s = np.array(op.negative_shift, np.int64).reshape(shape)
    return quant_arith.prelu(q.astype(np.int64) - zp_in, op.multiplier[0], op.shift[0],
                             neg_m, neg_s, e_out.zero_point, op.clamp_min, op.clamp_max,
                             e_out.numpy_dtype)


@semantics(quant.AddOp)
def _qadd(op: quant.AddOp, a, b):
    ea, eb, eo = (v.type.element for v in (op.lhs, op.rhs, op.output))
    return quant_arith.add_quantized(a, b, ea.zero_point, eb.zero_point, eo.zero_point,
                                     tuple(op.multiplier), tuple(op.shift), op.clamp_min,
                                     op.clamp_max, eo.numpy_dtype, quant.ADD_LEFT_SHIFT)


@semantics(quant.AvgPoolOp)
def _qavg_pool(op: quant.AvgPoolOp, x):
    centered = x.astype(np.int64) - op.input.type.element.zero_point
    cols, _ = _pool_windows(op, centered, 0)
    return _check_int32(op, cols.sum(axis=(2, 3)), 255 * cols.shape[2] * cols.shape[3])


@semantics(quant.AvgPoolValidOp)
def _qavg_pool_valid(op: quant.AvgPoolValidOp, x):
    """Window sums of q - z, each requantized with the multiplier of its count."""
    centered = x.astype(np.int64) - op.input.type.element.zero_point
    cols, _ = _pool_windows(op, centered, 0)
    total = _check_int32(op, cols.sum(axis=(2, 3)), 255 * cols.shape[2] * cols.shape[3])
    grid = np.array(quant.window_counts(x.shape[2:], total.shape[2:], op.kernel,
                                        op.strides, op.pads, op.count_include_pad))
    k = np.searchsorted(np.array(op.counts), grid)
    e = op.output.type.element
    return quant_arith.requantize(total, np.array(op.multiplier, np.int64)[k],
                                  np.array(op.shift, np.int64)[k], e.zero_point,
                                  op.clamp_min, op.clamp_max, e.numpy_dtype)


@semantics(quant.GlobalAvgPoolOp)
def _qglobal_avg_pool(op: quant.GlobalAvgPoolOp, x):
    centered = x.astype(np.int64) - op.input.type.element.zero_point
    window = int(np.prod(x.shape[2:]))
    return _check_int32(op, centered.sum(axis=tuple(range(2, x.ndim)), keepdims=True),
                        255 * window)


# --------------------------------------------------------------------------- erf, gelu

_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf64(x: np.ndarray) -> np.ndarray:
    """erf in float64 (math.erf, correctly rounded to double almost everywhere)."""
    if fast.enabled():  # the same C library erf, in a compiled loop (qcc/fast.py)
        return fast.erf(x)
    return _ERF(np.asarray(x, np.float64)).astype(np.float64)


@semantics(nn.ErfOp)
def _erf(op: nn.ErfOp, x: np.ndarray) -> np.ndarray:
    return _erf64(x).astype(x.dtype)


@semantics(nn.GeluOp)
def _gelu(op: nn.GeluOp, x: np.ndarray) -> np.ndarray:
    """Computed in float64 and rounded once to the element type."""
    d = np.asarray(x, np.float64)
    if op.approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (d + 0.044715 * d * d * d)
        return (0.5 * d * (1 + np.tanh(inner))).astype(x.dtype)
    if fast.enabled() and x.dtype in (np.float32, np.float64):  # the same operations
        return fast.gelu(x)
    return (0.5 * d * (1 + _erf64(d / math.sqrt(2)))).astype(x.dtype)


# --------------------------------------------------------------------------- transformers


def _indices(op: Op, indices: np.ndarray, size: int, what: str) -> np.ndarray:
    """ONNX indices into an axis of ``size``: negative ones count from the end; any
    outside [-size, size) is an error naming the op (onnxruntime refuses them too)."""
    idx = np.asarray(indices, dtype=np.int64)
    bad = (idx < -size) | (idx >= size)
    if np.any(bad):
        first = int(idx[bad].reshape(-1)[0])
        raise QccError(f"{op.name}: {what} {first} is out of range for an axis of {size} "
                       f"(valid: {-size} to {size - 1})", op.loc)
    return np.where(idx < 0, idx + size, idx)


@semantics(nn.GatherOp)
def _gather(op: nn.GatherOp, x, indices):
    idx = _indices(op, indices, x.shape[op.axis], "index")
    return np.take(x, idx, axis=op.axis)


@semantics(nn.GatherElementsOp)
def _gather_elements(op: nn.GatherElementsOp, x, indices):
    idx = _indices(op, indices, x.shape[op.axis], "index")
    # (indices may be smaller than the input off the axis: index with an open grid)
    grid = list(np.ix_(*(np.arange(n) for n in idx.shape))) if idx.ndim else []
    grid[op.axis] = idx
    return x[tuple(grid)]


@semantics(nn.LayerNormOp)
def _layer_norm(op: nn.LayerNormOp, x, scale, bias=None):
    axes = tuple(range(op.axis, x.ndim))
    xf = x.astype(np.float32)
    mean = np.mean(xf, axis=axes, keepdims=True)
    d = xf - mean
    var = np.mean(d * d, axis=axes, keepdims=True)
    y = d / np.sqrt(var + np.float32(op.epsilon)) * scale
    return y if bias is None else y + bias


@semantics(nn.CastOp)
def _cast(op: nn.CastOp, x):
    to = op.to.numpy_dtype
    if to.kind == "b":
        return x != 0
    if to.kind in "iu" and x.dtype.kind == "f":
        return np.trunc(x).astype(to)
    return x.astype(to)


semantics(nn.WhereOp)(lambda op, c, a, b: np.where(c, a, b))
semantics(nn.EqualOp)(lambda op, a, b: np.equal(a, b))
semantics(nn.LessOp)(lambda op, a, b: np.less(a, b))
semantics(nn.LessEqualOp)(lambda op, a, b: np.less_equal(a, b))
semantics(nn.GreaterOp)(lambda op, a, b: np.greater(a, b))
semantics(nn.GreaterEqualOp)(lambda op, a, b: np.greater_equal(a, b))
semantics(nn.LogicalAndOp)(lambda op, a, b: np.logical_and(a, b))
semantics(nn.LogicalOrOp)(lambda op, a, b: np.logical_or(a, b))
semantics(nn.LogicalXorOp)(lambda op, a, b: np.logical_xor(a, b))
semantics(nn.LogicalNotOp)(lambda op, x: np.logical_not(x))
semantics(nn.ExpandOp)(lambda op, x: np.broadcast_to(x, op.output.type.shape).copy())
