"""Shared pieces of the fuzz tests: seed inputs, mutators and the per-entry-point
oracles. An oracle runs one input and returns "ok" or "error" (a QccError); any other
exception escapes, and a case that runs longer than its time limit raises Hang.

Used by test_fuzz_entry_points.py (hypothesis) and run_fuzz.py (plain random).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import random
import signal
import struct
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from qcc.diagnostics import QccError

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = ("ir", "pipeline", "asm", "onnx", "binary", "run", "backend")

PIPELINES = (
    "canonicalize",
    "canonicalize,normalize-gemm,fold-batchnorm,canonicalize",
    "calibrate{method=minmax random-samples=4}",
    "quantize{granularity=per-channel activations=int8}",
    "quantize{exclude=keep_me}",
    "dce , constant-fold",
    "calibrate{method=entropy symmetric=true data=\"x y.npz\"},quantize",
    "fold-rescale,fuse-relu",
    "remove-identity,dce",
    "",
)
# the front of the compile pipeline: imported models (NaN weights and all) must pass it
ONNX_PASSES = "canonicalize,normalize-gemm,fold-batchnorm,canonicalize,constant-fold,dce"
# and, for some cases, on to integer code (random calibration samples: no data files)
ONNX_DEEP = (ONNX_PASSES + ",calibrate{method=minmax random-samples=2},quantize,"
             "fold-rescale,fuse-relu")


class Hang(Exception):
    """A case ran longer than its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the block after ``seconds`` (SIGALRM: main thread only)."""
    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------- seeds
@cache
def compiled_bytes() -> bytes:
    import qcc

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        compiled = qcc.compile(str(ROOT / "examples/models/digits_mlp.onnx"),
                               calib_data=str(ROOT / "examples/data/digits_calib.npz"))
    return compiled.to_bytes()


@cache
def ir_seeds() -> tuple[str, ...]:
    return tuple(p.read_text() for p in sorted((ROOT / "tests/golden/passes").glob("*.mlir")))


@cache
def asm_seeds() -> tuple[str, ...]:
    from qcc.backends.tpu_v1.asm import disassemble

    full = disassemble(compiled_bytes())
    # without the weight data lines (the image stays zero): small and fast to assemble
    lines = full.splitlines(keepends=True)
    small = "".join(ln for ln in lines if not ln[:1].isdigit() and ln[:1] not in "abcdef")
    return (small, full)


@cache
def onnx_seeds() -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted((ROOT / "examples/models").glob("*.onnx")))


@cache
def binary_seeds() -> tuple[bytes, ...]:
    return (compiled_bytes(),)


@cache
def run_seeds() -> tuple[bytes, ...]:
    """Programs to mutate and execute: the dense MLP, and the CNN (convolutions with
    packed taps, pooling) at batch 2."""
    import qcc

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        cnn = qcc.compile(str(ROOT / "examples/models/digits_cnn.onnx"), batch=2,
                          calib_data=str(ROOT / "examples/data/digits_calib.npz"))
    return (compiled_bytes(), cnn.to_bytes())


BACKEND_STAGES = ("fuse-relu", "tpu-lower", "tpu-plan-memory", "tpu-schedule")


@cache
def backend_seeds() -> tuple[str, ...]:
    """The digits CNN at batch 2 as the compile leaves it after each stage: the
    integer IR and the tpu IR after each backend pass (IR text `qcc compile` resumes)."""
    import qcc
    from qcc.passmanager import Instrumentation
    from qcc.text import print_module

    out = []
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for stage in BACKEND_STAGES:
            stopped = qcc.compile(str(ROOT / "examples/models/digits_cnn.onnx"), batch=2,
                                  calib_data=str(ROOT / "examples/data/digits_calib.npz"),
                                  instrumentation=Instrumentation(stop_after=stage))
            out.append(print_module(stopped.module))
    return tuple(out)


def seeds(entry: str) -> tuple:
    return {"ir": ir_seeds, "pipeline": lambda: PIPELINES, "asm": asm_seeds,
            "onnx": onnx_seeds, "binary": binary_seeds, "run": run_seeds,
            "backend": backend_seeds}[entry]()


# ---------------------------------------------------------------------- oracles
def _outcome(fn: Callable[[], object]) -> str:
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # (and qcc's warnings on stderr)
        try:
            fn()
        except QccError:
            return "error"
    return "ok"


def run_ir(text: str) -> str:
    from qcc.text import parse_module, print_module

    return _outcome(lambda: print_module(parse_module(text, "<fuzz>")))


def run_backend(text: str) -> str:
    """Integer or tpu IR through the backend passes it has not been through, then
    emission (what `qcc compile IR.mlir` does)."""
    import qcc

    return _outcome(lambda: qcc.compile(qcc.parse_module(text, "<fuzz>")).to_bytes())


def run_pipeline(text: str) -> str:
    from qcc.passmanager import Pipeline

    def go() -> None:
        p = Pipeline.parse(text)
        str(p)

    return _outcome(go)


def run_asm(text: str) -> str:
    from qcc.backends.tpu_v1.asm import assemble
    from qcc.backends.tpu_v1.binary import load_binary, serialize

    def go() -> None:  # as `qcc asm` does; what it writes must load back
        data = serialize(assemble(text, "<fuzz>"))
        load_binary(data, "<fuzz>")

    return _outcome(go)


def run_onnx(data: bytes, deep: bool = False) -> str:
    from qcc.frontend import import_onnx
    from qcc.passmanager import Pipeline

    def go() -> None:
        module = import_onnx(data)
        Pipeline.parse(ONNX_DEEP if deep else ONNX_PASSES).run(module)

    return _outcome(go)


def run_binary(data: bytes) -> str:
    from qcc.backends.tpu_v1.binary import load_binary

    return _outcome(lambda: load_binary(data, "<fuzz>"))


def run_program(data: bytes) -> str:
    """Load a binary and execute it, as `qcc run model.tpu` does, on zero inputs; with
    both matrix engines (alternating by the input's length)."""
    import numpy as np

    from qcc.backends.tpu_v1.binary import load_binary
    from qcc.backends.tpu_v1.simulator import execute

    def go() -> None:
        program = load_binary(data, "<fuzz>")
        engine = "numpy" if len(data) % 2 else "onnxruntime"
        execute(program, {d.name: np.zeros(d.shape, d.numpy_dtype) for d in program.inputs},
                engine=engine)

    return _outcome(go)


ORACLES: dict[str, Callable] = {"ir": run_ir, "pipeline": run_pipeline, "asm": run_asm,
                                "onnx": run_onnx, "binary": run_binary, "run": run_program,
                                "backend": run_backend}


# ---------------------------------------------------------------------- text mutators
_TEXT_ALPHABET = ('%@"{}[]()<>:=,.-+x0123456789 \n\t\\eE#;/_abcfinz'
                  "\u00e9\x00\x7f")
_TEXT_TOKENS = ("tensor<", ">", "f32", "i8", "x", "0", "-1", "1e309", "nan", "inf",
                "%x", "@main", "dense<", "[", "]", "{", "}", '"', "->", ":", "=",
                "99999999999999999999", "0x", "-", "quant.", "nn.", "func.func",
                "module", "return", "(", ")", ",", "\n", "//", ";", "shape=[", "host=",
                "scale=", "zero_point=", "dtype=", "rows=", ".weights", ".input", ".output",
                "halt", "matmul", "read_host", "sync", "{", "}", "=", "\\")


def mutate_text(rng: random.Random, text: str, pool: tuple[str, ...]) -> str:
    """One to four random edits of ``text`` (``pool``: other seeds to splice from)."""
    for _ in range(rng.randint(1, 4)):
        n = len(text)
        i = rng.randint(0, n)
        j = min(n, i + rng.choice((1, 1, 2, 5, 20, 100)))
        op = rng.randrange(9)
        if op == 0 and n:  # replace a char
            text = text[:i] + rng.choice(_TEXT_ALPHABET) + text[i + 1:]
        elif op == 1:  # insert a char
            text = text[:i] + rng.choice(_TEXT_ALPHABET) + text[i:]
        elif op == 2:  # delete a span
            text = text[:i] + text[j:]
        elif op == 3:  # truncate
            text = text[:i]
        elif op == 4:  # insert a token
            text = text[:i] + rng.choice(_TEXT_TOKENS) + text[i:]
        elif op == 5:  # duplicate a span
            text = text[:j] + text[i:j] + text[j:]
        elif op == 6:  # splice another seed in
            other = rng.choice(pool) if pool else text
            a = rng.randint(0, len(other))
            b = min(len(other), a + rng.randint(0, 200))
            text = text[:i] + other[a:b] + text[j:]
        elif op == 7:  # change a number
            text = _mutate_number(rng, text)
        else:  # swap two lines / drop a line
            lines = text.split("\n")
            if len(lines) > 1:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                if rng.random() < 0.5:
                    lines[a], lines[b] = lines[b], lines[a]
                else:
                    del lines[a]
            text = "\n".join(lines)
    return text


_NUMBERS = ("0", "-1", "1", "-0", "255", "256", "127", "-129", "65536", "4294967296",
            "18446744073709551616", "1e308", "1e-320", "nan", "inf", "-inf", "0x7fffffff",
            "99999999999", "2.5", "0.0")


def _mutate_number(rng: random.Random, text: str) -> str:
    digits = [k for k in range(len(text)) if text[k].isdigit()]
    if not digits:
        return text
    k = rng.choice(digits)
    a = k
    while a > 0 and text[a - 1].isdigit():
        a -= 1
    b = k
    while b < len(text) and text[b].isdigit():
        b += 1
    return text[:a] + rng.choice(_NUMBERS) + text[b:]


# ---------------------------------------------------------------------- byte mutators
_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0xFE, 8, 16, 24)


def mutate_bytes(rng: random.Random, data: bytes, pool: tuple[bytes, ...] = ()) -> bytes:
    """One to four byte-level edits: bit flips, byte sets, inserts, deletes,
    truncations, splices, overwritten 32/64-bit fields."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        n = len(buf)
        i = rng.randrange(n) if n else 0
        op = rng.randrange(8)
        if op == 0 and n:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[i] = rng.choice(_INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
        elif op == 2:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 1, 4, 8))))
        elif op == 3:
            del buf[i:i + rng.choice((1, 1, 4, 8, 64))]
        elif op == 4:
            del buf[rng.randint(0, n):]
        elif op == 5:
            other = rng.choice(pool) if pool else bytes(buf)
            a = rng.randint(0, len(other))
            buf[i:i + rng.randint(0, 64)] = other[a:a + rng.randint(0, 64)]
        elif op == 6 and n >= 8:
            k = rng.randrange(0, n - 7)
            value = rng.choice((0, 1, 2**31 - 1, 2**32 - 1, 2**63, 2**64 - 1, n, n + 8,
                                rng.randrange(2**64)))
            width = rng.choice((4, 8))
            buf[k:k + width] = (value % (1 << 8 * width)).to_bytes(width, "little")
        elif op == 7 and n:
            buf[i:i] = bytes(buf[i:i + rng.randint(1, 32)])  # duplicate
    return bytes(buf)


# ---------------------------------------------------------------------- binaries
def reseal(data: bytes) -> bytes:
    """Fix the header's total size and the trailing SHA-256 so a mutated binary gets
    past the checksum to the deeper checks."""
    from qcc.backends.tpu_v1.binary import CHECKSUM_BYTES, HEADER

    buf = bytearray(data)
    if len(buf) < HEADER.size + CHECKSUM_BYTES:
        return bytes(buf)
    if len(buf) % 8:
        buf += bytes(8 - len(buf) % 8)
    struct.pack_into("<Q", buf, 16, len(buf))
    body = bytes(buf[:-CHECKSUM_BYTES])
    return body + hashlib.sha256(body).digest()


def split_sections(data: bytes) -> list[tuple[int, bytes]]:
    from qcc.backends.tpu_v1.binary import ENTRY, HEADER

    count = struct.unpack_from("<I", data, 8)[0]
    out = []
    for k in range(count):
        sid, _, off, size = ENTRY.unpack_from(data, HEADER.size + ENTRY.size * k)
        out.append((sid, data[off:off + size]))
    return out


def mutate_binary(rng: random.Random, data: bytes) -> bytes:
    """Raw mutation (mostly resealed), a mutated section repacked with pack_container,
    or a section dropped, duplicated or reordered."""
    from qcc.backends.tpu_v1.binary import pack_container

    r = rng.random()
    if r < 0.15:
        return mutate_bytes(rng, data)  # checksum left wrong (or header broken)
    if r < 0.45:
        return reseal(mutate_bytes(rng, data))
    sections = split_sections(data)
    op = rng.randrange(6)
    if op <= 2:  # mutate one payload (the small ones are the interesting ones)
        k = rng.choice([k for k, (sid, _) in enumerate(sections) if sid != 2] or [0])
        if rng.random() < 0.2:
            k = rng.randrange(len(sections))
        sid, payload = sections[k]
        if sid == 2 and len(payload) > 4096 and rng.random() < 0.5:
            payload = payload[:rng.randrange(len(payload))]
        elif sid in (4, 5) and rng.random() < 0.5:
            payload = mutate_text(rng, payload.decode("latin-1"), ()).encode("latin-1",
                                                                            "replace")
        elif sid == 1 and rng.random() < 0.5:
            payload = _mutate_instruction_field(rng, payload)
        else:
            payload = mutate_bytes(rng, payload)
        sections[k] = (sid, payload)
    elif op == 3 and sections:
        del sections[rng.randrange(len(sections))]
    elif op == 4 and sections:
        sections.append(rng.choice(sections))
    else:
        rng.shuffle(sections)
        if rng.random() < 0.3:
            sections.append((rng.choice((0, 6, 2**32 - 1)), b"x" * rng.randrange(16)))
    return pack_container(sections)


def _mutate_instruction_field(rng: random.Random, payload: bytes) -> bytes:
    """Set a little-endian 1/2/4/8-byte window of the instruction stream to an edge
    value (addresses and counts out of range)."""
    if not payload:
        return payload
    buf = bytearray(payload)
    width = rng.choice((1, 2, 4, 8))
    k = rng.randrange(max(1, len(buf) - width + 1))
    top = 2**(8 * width)
    value = rng.choice((0, 1, top - 1, top // 2, rng.randrange(top)))
    buf[k:k + width] = value.to_bytes(width, "little")[:len(buf) - k]
    return bytes(buf)


# ---------------------------------------------------------------------- ONNX
@cache
def _parsed_onnx(k: int) -> onnx.ModelProto:
    return onnx.load_from_string(onnx_seeds()[k])


def mutate_onnx(rng: random.Random, data: bytes | None = None) -> bytes:
    """A structured mutation with the onnx API (half of the time followed by byte
    mutations), or a plain byte mutation of a seed."""
    seeds_ = onnx_seeds()
    if data is None:
        data = rng.choice(seeds_)
    if rng.random() < 0.3:
        return mutate_bytes(rng, data, seeds_)
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:
        return mutate_bytes(rng, data, seeds_)
    for _ in range(rng.randint(1, 3)):
        with contextlib.suppress(Exception):
            _structured(rng, proto)
    out = proto.SerializeToString()
    if rng.random() < 0.2:
        out = mutate_bytes(rng, out, seeds_)
    return out


_OPS = ("Relu", "Gemm", "Conv", "Add", "Mul", "MatMul", "Reshape", "Flatten", "Transpose",
        "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Softmax",
        "Sigmoid", "Clip", "Concat", "Identity", "QuantizeLinear", "DequantizeLinear",
        "Tanh", "Sub", "Div", "Pad", "Squeeze", "Unsqueeze", "Bogus", "")


def _structured(rng: random.Random, proto: onnx.ModelProto) -> None:
    g = proto.graph
    op = rng.randrange(14)
    if op == 0 and g.initializer:  # drop an initializer
        del g.initializer[rng.randrange(len(g.initializer))]
    elif op == 1:  # change a dim of an input, output or value_info
        vis = [*g.input, *g.output, *g.value_info]
        vi = rng.choice(vis)
        dims = vi.type.tensor_type.shape.dim
        if dims:
            d = rng.choice(dims)
            if rng.random() < 0.2:
                d.dim_param = "N"
            else:
                d.dim_value = rng.choice((0, 1, 2, 3, 7, 64, 10**6, -1))
        elif rng.random() < 0.5:
            vi.type.tensor_type.shape.dim.add().dim_value = rng.choice((0, 1, 5))
    elif op == 2 and len(g.node) >= 2:  # a cycle: an early node reads a later output
        a, b = sorted(rng.sample(range(len(g.node)), 2))
        if g.node[b].output and g.node[a].input:
            g.node[a].input[rng.randrange(len(g.node[a].input))] = g.node[b].output[0]
        elif g.node[b].output:
            g.node[a].input.append(g.node[b].output[0])
    elif op == 3 and g.initializer:  # NaN / Inf / huge weights
        t = rng.choice(g.initializer)
        arr = numpy_helper.to_array(t).copy()
        if arr.dtype.kind == "f" and arr.size:
            value = rng.choice((math.nan, math.inf, -math.inf, 3e38, 1e-45, 0.0))
            flat = arr.reshape(-1)
            if rng.random() < 0.5:
                flat[:] = value
            else:
                flat[rng.randrange(flat.size)] = value
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
    elif op == 4 and g.node:  # change an op type
        rng.choice(g.node).op_type = rng.choice(_OPS)
    elif op == 5 and g.node:  # change / add / drop an attribute
        node = rng.choice(g.node)
        if node.attribute and rng.random() < 0.6:
            a = rng.choice(node.attribute)
            if a.type == onnx.AttributeProto.INT:
                a.i = rng.choice((0, 1, -1, 2, 3, 100, 2**40))
            elif a.type == onnx.AttributeProto.FLOAT:
                a.f = rng.choice((0.0, -1.0, math.nan, math.inf, 1e-30))
            elif a.type == onnx.AttributeProto.INTS and a.ints:
                a.ints[rng.randrange(len(a.ints))] = rng.choice((0, -1, 2, 5, 1000))
            elif a.type == onnx.AttributeProto.INTS:
                a.ints.append(1)
            elif rng.random() < 0.5:
                node.attribute.remove(a)
            else:
                a.type = rng.choice((1, 2, 3, 6, 7))
        else:
            name = rng.choice(("axis", "transA", "transB", "alpha", "beta", "group",
                               "kernel_shape", "pads", "strides", "dilations", "perm",
                               "epsilon", "auto_pad", "ceil_mode", "keepdims", "bogus"))
            value = rng.choice((0, 1, -1, 2, [0, 1], [1, 1, 1, 1], [2, 2], 0.5, "SAME_UPPER",
                                "VALID", [-1, 3]))
            node.attribute.append(onnx.helper.make_attribute(name, value))
    elif op == 6 and g.node:  # drop a node
        del g.node[rng.randrange(len(g.node))]
    elif op == 7 and g.node:  # swap inputs / drop an input / add an input
        node = rng.choice(g.node)
        names = [*(i.name for i in g.input), *(t.name for t in g.initializer),
                 *(o for n in g.node for o in n.output), "", "missing"]
        r = rng.random()
        if node.input and r < 0.4:
            del node.input[rng.randrange(len(node.input))]
        elif node.input and r < 0.7:
            node.input[rng.randrange(len(node.input))] = rng.choice(names)
        else:
            node.input.append(rng.choice(names))
    elif op == 8 and g.initializer:  # change an initializer's shape or dtype
        t = rng.choice(g.initializer)
        arr = numpy_helper.to_array(t)
        r = rng.random()
        if r < 0.3 and arr.size:
            arr = arr.reshape(-1)[: rng.randrange(arr.size)]
        elif r < 0.6:
            arr = arr.reshape((*arr.shape, 1)) if rng.random() < 0.5 else arr.reshape(-1)
        else:
            with np.errstate(all="ignore"):  # (NaN to int: any value will do)
                arr = arr.astype(rng.choice((np.float64, np.int64, np.int8, np.float16,
                                             np.int32, np.uint8, np.bool_)))
        t.CopyFrom(numpy_helper.from_array(arr, t.name))
    elif op == 9 and g.initializer:  # raw data of the wrong length
        t = rng.choice(g.initializer)
        if t.raw_data:
            t.raw_data = t.raw_data[: rng.randrange(len(t.raw_data) + 1)] + \
                b"\0" * rng.choice((0, 1, 3))
        else:
            del t.dims[:]
    elif op == 10:  # opset
        if proto.opset_import:
            proto.opset_import[0].version = rng.choice((1, 6, 7, 11, 13, 17, 21, 99, 0))
    elif op == 11 and g.output:  # outputs: drop, rename, duplicate
        r = rng.random()
        if r < 0.3:
            del g.output[rng.randrange(len(g.output))]
        elif r < 0.6:
            g.output[0].name = rng.choice(["missing", g.input[0].name if g.input else "",
                                           *(t.name for t in g.initializer[:1])])
        else:
            g.output.append(g.output[0])
    elif op == 12 and g.input:  # input element type / shape removed / rank
        vi = rng.choice(g.input)
        r = rng.random()
        if r < 0.4:
            vi.type.tensor_type.elem_type = rng.choice((0, 2, 3, 7, 10, 11, 16))
        elif r < 0.7:
            vi.type.tensor_type.ClearField("shape")
        else:
            vi.type.tensor_type.shape.dim.add().dim_value = 1
    elif op == 13 and g.node:  # rename an output (dangling users) or duplicate a node
        node = rng.choice(g.node)
        if rng.random() < 0.5 and node.output:
            node.output[0] = rng.choice(("renamed", g.input[0].name if g.input else "x",
                                         node.input[0] if node.input else ""))
        else:
            g.node.append(node)
