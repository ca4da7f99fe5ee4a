"""Host partitioning: what the matrix unit cannot run goes to the host.

The TPU v1 is a coprocessor. After ``tpu-lower``'s patterns have taken every op they
can, every op left (neither a ``tpu`` op, nor a weight, nor the runtime's input
quantize / output dequantize) is a **host op**: it gets a ``host`` attribute saying
why, and it computes on the host exactly as the IR interpreter defines it (float
ops on dequantized values, requantized with their calibrated scale where the TPU
reads the result again). Ops named by ``--host-ops`` (ONNX op types, ONNX node
names or IR op names) are placed on the host before the patterns run.

Transfers go at the boundaries: a value a TPU op produced and a host op reads is
written to host memory (``tpu.write_host``) before the run of host ops that reads
it; a value a host op produced and a TPU op reads is read back into the Unified
Buffer (``tpu.read_host``) after the run. A model output a host op produces is
written by the host directly into the output's host buffer. Each maximal run of
host ops in program order is one **host segment**: emission prints it as IR text
into the binary and issues one ``host_call`` for it; the simulator runs it with the
IR interpreter, so the binary stays bit-exact with the integer IR.

Transfers of intermediate tensors name them ``tensor = "<value>"``; what a
transfer is (model input or output, or a segment boundary) is read off its
neighbours (``transfer_role``).
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.backends.tpu_v1 import dialect as tpu
from qcc.diagnostics import QccError, onnx_locs
from qcc.dialects import nn, quant
from qcc.ir.core import Graph, Module, Op, ReturnOp, Rewriter, Value
from qcc.ir.traits import Clamp, DataMovement, HasWeights, ScaleTransparent, integer_form
from qcc.ir.types import TensorType, UniformQuantType

#: the attribute that places an op on the host; its value says why
HOST = "host_reason"


def is_host_op(op: Op) -> bool:
    return HOST in op.attributes


def matches(op: Op, names: tuple[str, ...]) -> bool:
    """Whether ``op`` is named by ``names``: an ONNX op type or node name of its
    location, or its IR op name (``nn.softmax``)."""
    if op.name in names:
        return True
    return any(loc.op_type in names or loc.name in names for loc in onnx_locs(op.loc))


def float_reason(op: Op) -> str:
    """Why an op could not run on the matrix unit."""
    if isinstance(op, nn.AvgPoolOp):
        return ("average pooling whose windows count different numbers of positions "
                "(padding not counted) has no integer form")
    if isinstance(op, nn.MatMulOp):
        return ("multiplies two activations (attention's Q x K^T or scores x V): the "
                "matrix unit reads its weights only from weight memory, filled at "
                "compile time")
    if isinstance(op, nn.TransposeOp):
        return (f"transpose {tuple(op.perm)} moves elements between Unified Buffer "
                "rows; the TPU copies whole rows only")
    if isinstance(op, nn.ReshapeOp):
        return "reshapes the result of a host op, on the host"
    if op.name.startswith("nn.") and integer_form(type(op)) is None and \
            not op.has_trait(ScaleTransparent) and not op.has_trait(Clamp):
        return f"'{op.name}' has no integer form: it computes in float"
    if isinstance(op, quant.DequantizeOp):
        users = sorted({u.name for u in op.output.users})
        return f"dequantizes the input of {', '.join(users) or 'a host op'}"
    if isinstance(op, quant.QuantizeOp):
        return "quantizes a float result for the TPU or the output"
    ins = ", ".join(str(v.type) for v in op.operands)
    return f"no TPU mapping for '{op.name}' on ({ins})"


def place_forced(graph: Graph, names: tuple[str, ...]) -> int:
    """Mark the ops ``names`` names for the host before lowering; returns how many
    ops were marked."""
    rw = Rewriter(graph)
    count = 0
    used: set[str] = set()
    for op in list(graph.ops):
        # the transfers and the runtime's input quantize / output dequantize share the
        # location of the node they serve: they are not that node's work
        if isinstance(op, ReturnOp | tpu.TpuOp) or _is_runtime(op) or \
                not matches(op, names):
            continue
        rw.set_attribute(op, HOST, "forced to the host (--host-ops)")
        count += 1
        used |= {n for n in names if matches(op, (n,))}
    unknown = [n for n in names if n not in used]
    if unknown:
        raise QccError(f"--host-ops names {', '.join(repr(n) for n in unknown)}, which "
                       "matches no ONNX op type, ONNX node name or IR op name of the model")
    return count


def _is_runtime(op: Op) -> bool:
    from qcc.backends.tpu_v1.lower import host_role, is_weight
    return is_weight(op) or host_role(op) is not None


def _leftovers(graph: Graph) -> list[Op]:
    return [op for op in graph.ops
            if not isinstance(op, tpu.TpuOp | ReturnOp) and not _is_runtime(op)]


def describe(op: Op) -> str:
    """``ONNX node 'x' (Softmax)``, or the op name without a location."""
    locs = onnx_locs(op.loc)
    return locs[0].describe() if locs else f"'{op.name}'"


def partition(graph: Graph, allow_host: bool = True) -> int:
    """Place every op the patterns left on the host and insert the transfers.
    Returns the number of host ops. With ``allow_host`` False, any host op is an
    error listing every one of them."""
    rw = Rewriter(graph)
    left = _leftovers(graph)
    for op in left:
        if not is_host_op(op):
            rw.set_attribute(op, HOST, float_reason(op))
    hosts = [op for op in graph.ops if is_host_op(op)]
    if not hosts:
        return 0
    if not allow_host:
        # the ops themselves, not the (de)quantize ops that convert for them
        primary = [op for op in hosts
                   if not isinstance(op, quant.DequantizeOp | quant.QuantizeOp)] or hosts
        shown = [f"{describe(op)}: '{op.name}': {op.attributes[HOST]}" for op in primary]
        raise QccError(f"{len(primary)} op(s) cannot run on the TPU and --no-host keeps "
                       "them off the host (without --no-host they run on the host)",
                       primary[0].loc, notes=tuple(shown))
    # model outputs the host produces: the host writes them; no transfer
    for w in [op for op in graph.ops if isinstance(op, tpu.WriteHostOp)]:
        src = w.input.op
        if src is not None and is_host_op(src):
            rw.replace_uses(w.output, w.input)
            rw.erase(w)
    _gather(graph, rw)
    for run in host_runs(graph):
        _transfers(graph, rw, run)
    _between_segments(graph, rw)
    return len(hosts)


def _between_segments(graph: Graph, rw: Rewriter) -> None:
    """A value one host segment computes and a later one reads (an attention mask
    every layer adds, a float residual) stays in host memory: a ``tpu.host_tensor``
    after the first segment names it; the later segment reads it by that name."""
    runs = host_runs(graph)
    run_of = {op: k for k, run in enumerate(runs) for op in run}
    taken = _taken_names(graph)
    kept: dict[Value, Value] = {}
    for k, run in enumerate(runs):
        for op in run:
            for i, v in enumerate(op.operands):
                src = v.op
                if src is None or run_of.get(src, k) == k or \
                        any(isinstance(u, tpu.ReadHostOp) for u in v.users):
                    continue  # (a value the TPU reads too is in host memory already)
                if v not in kept:
                    t = v.type
                    if not isinstance(t, TensorType) or not (
                            str(t.element) in ("f32", "i64", "i32", "i1") or
                            isinstance(t.element, UniformQuantType)):
                        raise QccError(f"host op '{op.name}' reads %{v.name_hint} of type "
                                       f"{t} from an earlier host segment, which host "
                                       "memory cannot hold", op.loc)
                    keep = tpu.HostTensorOp.build(v, tensor=_tensor_name(v, taken),
                                                  loc=src.loc, name=v.name_hint)
                    rw.insert_after(runs[run_of[src]][-1], keep)
                    kept[v] = keep.output
                rw.set_operand(op, i, kept[v])


def _gather(graph: Graph, rw: Rewriter) -> None:
    """Make host runs contiguous where the dependences allow: a host op whose users
    are all host ops moves down to just before the first of them (a dequantize
    that feeds a host op on the other side of a TPU branch), so that one host call
    runs them and no float value has to cross between two segments."""
    position = {op: k for k, op in enumerate(graph.ops)}
    for op in reversed(list(graph.ops)):
        if not is_host_op(op):
            continue
        users = [u for r in op.results for u in r.users]
        if not users or not all(is_host_op(u) for u in users):
            continue
        first = min(users, key=lambda u: position[u])
        if graph.next_op(op) is not first:
            rw.move_before(op, first)
            position[op] = position[first] - 0.5


def host_runs(graph: Graph) -> list[list[Op]]:
    """The host segments: maximal runs of host ops in program order (weights
    between them do not break a run)."""
    from qcc.backends.tpu_v1.lower import is_weight
    runs: list[list[Op]] = []
    current: list[Op] = []
    for op in graph.ops:
        if is_host_op(op):
            current.append(op)
        elif is_weight(op) and current:
            continue
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def segment_layer(run: list[Op] | tuple[Op, ...]) -> str:
    """The layer name of a host segment (its host_call's, in the timing report):
    the ONNX node of its first op that is not a (de)quantize for it."""
    from qcc.backends.tpu_v1.lower import loc_name
    primary = [op for op in run if not isinstance(op, quant.DequantizeOp | quant.QuantizeOp)]
    return loc_name((primary or list(run))[0])


def _tensor_name(v: Value, taken: set[str]) -> str:
    base = v.name_hint or "t"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}.{k}"
    taken.add(name)
    return name


def _taken_names(graph: Graph) -> set[str]:
    names = set(graph.input_names) | set(graph.output_names)
    names |= {op.tensor for op in graph.ops
              if isinstance(op, tpu.ReadHostOp | tpu.WriteHostOp | tpu.HostInputOp)}
    return names


def _transfers(graph: Graph, rw: Rewriter, run: list[Op]) -> None:
    from qcc.backends.tpu_v1.lower import is_weight
    members = set(run)
    taken = _taken_names(graph)
    # inputs: values the TPU produced, written to host memory before the run
    for op in run:
        for i, v in enumerate(op.operands):
            src = v.op
            if src is None or src in members or is_weight(src):
                continue
            if isinstance(src, tpu.ReadHostOp):  # the host has it already
                rw.set_operand(op, i, src.input)
                continue
            if not isinstance(src, tpu.TpuOp):
                continue
            # a boundary write of an earlier run sent it already (a model output's
            # write comes after every run)
            write = next((u for u in v.users if isinstance(u, tpu.WriteHostOp)
                          and transfer_role(u) == "boundary"), None)
            if write is None:
                write = tpu.WriteHostOp.build(v, tensor=_tensor_name(v, taken),
                                              loc=op.loc, name=v.name_hint)
                rw.insert_before(run[0], write)
            rw.set_operand(op, i, write.output)
    # outputs: values a TPU op reads again, read into the Unified Buffer after the run
    anchor = run[-1]
    for op in run:
        for v in op.results:
            tpu_users = [u for u in v.users if isinstance(u, tpu.TpuOp)]
            if not tpu_users:
                continue
            t = v.type
            if not (isinstance(t, TensorType) and isinstance(t.element, UniformQuantType)
                    and t.element.storage.width == 8):
                raise QccError(f"'{op.name}' runs on the host but a TPU op reads its "
                               f"result of type {t}, which is not an 8-bit per-tensor "
                               "quantized tensor", op.loc)
            read = tpu.ReadHostOp.build(v, tensor=_tensor_name(v, taken),
                                        loc=op.loc, name=v.name_hint)
            rw.insert_after(anchor, read)
            anchor = read
            for u in tpu_users:
                for i, x in enumerate(u.operands):
                    if x is v:
                        rw.set_operand(u, i, read.output)


# --------------------------------------------------------------------------- roles

def transfer_role(op: Op) -> str:
    """``input`` / ``output`` (the model's I/O) or ``boundary`` (a host segment's)."""
    if isinstance(op, tpu.ReadHostOp):
        src = op.input.op
        return "boundary" if src is not None and is_host_op(src) else "input"
    if isinstance(op, tpu.WriteHostOp):
        from qcc.backends.tpu_v1.lower import host_role
        users = op.output.users
        return "output" if any(host_role(u) == "dequantizes the output" for u in users) \
            else "boundary"
    raise TypeError(op.name)


@dataclass(frozen=True)
class Segment:
    """One host segment: its ops, what it reads and writes (by host tensor name)."""

    index: int
    ops: tuple[Op, ...]
    inputs: tuple[tuple[str, Value], ...]
    outputs: tuple[tuple[str, Value], ...]


def segments(graph: Graph) -> list[Segment]:
    """The host segments of a partitioned graph, with their host tensors: a
    segment reads the tensors of the ``tpu.write_host`` ops (and model inputs) it
    uses and writes those its ``tpu.read_host`` ops and model outputs read."""
    from qcc.backends.tpu_v1.lower import host_role, is_weight
    out = []
    for k, run in enumerate(host_runs(graph)):
        members = set(run)
        ins: dict[Value, str] = {}
        outs: dict[Value, str] = {}
        for op in run:
            for v in op.operands:
                src = v.op
                if src in members or (src is not None and is_weight(src)):
                    continue
                if isinstance(src, tpu.WriteHostOp | tpu.HostInputOp):
                    ins.setdefault(v, src.tensor)
                elif src is not None and (host_role(src) is not None or is_host_op(src)) \
                        and any(isinstance(u, tpu.ReadHostOp) for u in v.users):
                    # a model input, or an earlier segment's output the TPU reads too
                    read = next(u for u in v.users if isinstance(u, tpu.ReadHostOp))
                    ins.setdefault(v, read.tensor)
                else:
                    raise QccError(f"host op '{op.name}' reads %{v.name_hint}, which is "
                                   "neither written to host memory nor a model input",
                                   op.loc)
            for v in op.results:
                for u in v.users:
                    if u in members:
                        continue
                    if isinstance(u, tpu.ReadHostOp | tpu.HostTensorOp):
                        outs.setdefault(v, u.tensor)
                    elif host_role(u) == "dequantizes the output":
                        ret = graph.return_op
                        idx = next(i for i, x in enumerate(ret.operands) if x is u.output)
                        outs.setdefault(v, graph.output_names[idx])
        out.append(Segment(k, tuple(run), tuple((n, v) for v, n in ins.items()),
                           tuple((n, v) for v, n in outs.items())))
    return out


def segment_module(graph: Graph, seg: Segment) -> Module:
    """The segment as a module of its own: arguments its inputs, results its outputs,
    the constants it reads copied in. The host runs it with the IR interpreter."""
    from qcc.backends.tpu_v1.lower import is_weight
    g = Graph("main")
    mapping: dict[Value, Value] = {}
    for name, v in seg.inputs:
        mapping[v] = g.add_arg(v.type, name)
    members = set(seg.ops)

    def copy(op: Op) -> None:
        for v in op.operands:
            if v not in mapping:
                src = v.op
                if src is None or not is_weight(src) or src in members:
                    raise QccError(f"host segment {seg.index}: %{v.name_hint} is not "
                                   "available on the host", op.loc)
                copy(src)
        attrs = {k: v for k, v in op.attributes.items() if k != HOST}
        new = type(op)([mapping[v] for v in op.operands], [r.type for r in op.results],
                       attrs, op.loc, [r.name_hint for r in op.results])
        for a, b in zip(op.results, new.results, strict=True):
            mapping[a] = b
        g.append(new)

    for op in seg.ops:
        copy(op)
    g.set_outputs([mapping[v] for _, v in seg.outputs], [n for n, _ in seg.outputs])
    return Module([g])


def host_work(seg: Segment) -> tuple[int, int]:
    """(elements, multiply-accumulates) of a segment, for the host's timing: the
    elements every op but a reshape or transpose produces, and for an op with weights
    (a forced convolution or dense layer) its products: output elements times the
    weights per output; for a MatMul of two activations, output elements times the
    inner dimension."""
    elements = macs = 0
    for op in seg.ops:
        if op.has_trait(DataMovement):
            # a reshape or transpose (attention's head split) is a layout the host's
            # next op reads through strides, not a copy: no elements of its own
            continue
        for r in op.results:
            if isinstance(r.type, TensorType):
                elements += _elements(r.type)
        if isinstance(op, nn.MatMulOp):
            macs += _elements(op.output.type) * op.lhs.type.shape[-1]
            continue
        trait = op.trait(HasWeights)
        if trait is not None and len(op.operands) > 1 and \
                isinstance(op.operands[1].type, TensorType):
            w = op.operands[1].type.shape
            macs += _elements(op.result.type) * _elements_of(w) // w[trait.weight_axis]
    return elements, macs


def _elements_of(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _elements(t: TensorType) -> int:
    return _elements_of(t.shape)


__all__ = [
    "HOST",
    "Segment",
    "describe",
    "float_reason",
    "host_runs",
    "host_work",
    "is_host_op",
    "matches",
    "partition",
    "place_forced",
    "segment_layer",
    "segment_module",
    "segments",
    "transfer_role",
]
