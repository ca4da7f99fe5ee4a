"""Export a fake-quantized graph as an ONNX QDQ model (``qcc export-qdq``).

The input is what ``quantize`` leaves (or what the frontend imports from a QDQ
model): ``nn`` ops on f32 tensors, ``quant.quantize`` / ``quant.dequantize`` pairs
around activations, and quantized ``nn.constant`` weights and biases read through a
``quant.dequantize``. Each op becomes one ONNX node (``nn.dense`` on a 2-D input a
Gemm, otherwise MatMul + Add; ``nn.gelu``, an ONNX op only from opset 20, the
exporters' Erf or Tanh form); ``nn.conv_transpose2d`` and ``nn.resize`` have no
form yet:

- ``quant.quantize`` -> QuantizeLinear, ``quant.dequantize`` -> DequantizeLinear,
  with a float32 scale and a zero point of the storage type (int8, uint8, int32) as
  initializers (scalars per tensor; 1-D and ``axis`` per axis);
- quantized constants -> integer initializers of their storage type; float
  constants -> float32 initializers;
- ``quant.stats`` (a calibrated but unquantized value) is an Identity.

Tensor names are the IR value names (graph inputs and outputs keep their public
names); node names come from the ONNX locations of the ops when they have one,
made unique. The model uses opset 19 (onnxruntime runs its QDQ int8 kernels there,
including per-axis int32 biases) and passes ``onnx.checker``.

The integer ops of ``fold-rescale`` (``quant.conv2d``, ``quant.requantize``...)
have no QDQ form: export the graph before fold-rescale.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qcc.diagnostics import FusedLoc, OnnxLoc, QccError
from qcc.dialects import nn, quant
from qcc.ir.core import Graph, Module, Op, ReturnOp, Value
from qcc.ir.traits import IntegerForm, ScaleTransparent
from qcc.ir.types import (
    FloatType,
    IntegerType,
    QuantType,
    TensorType,
    UniformQuantPerAxisType,
)
from qcc.text.printer import value_names

#: the default-domain opset of exported models
OPSET = 19
_SIMPLE = {nn.ReluOp: "Relu", nn.SigmoidOp: "Sigmoid", nn.TanhOp: "Tanh",
           nn.AddOp: "Add", nn.SubOp: "Sub", nn.MulOp: "Mul", nn.DivOp: "Div",
           nn.MatMulOp: "MatMul", nn.GlobalAvgPoolOp: "GlobalAveragePool",
           nn.IdentityOp: "Identity", nn.DropoutOp: "Identity", nn.ErfOp: "Erf",
           nn.HardSwishOp: "HardSwish", nn.WhereOp: "Where", nn.SqrtOp: "Sqrt",
           nn.PowOp: "Pow", nn.PReluOp: "PRelu", nn.EqualOp: "Equal", nn.LessOp: "Less",
           nn.LessEqualOp: "LessOrEqual", nn.GreaterOp: "Greater",
           nn.GreaterEqualOp: "GreaterOrEqual", nn.LogicalAndOp: "And",
           nn.LogicalOrOp: "Or", nn.LogicalXorOp: "Xor", nn.LogicalNotOp: "Not"}
_NEEDS_FOLDED = "export-qdq needs the fake-quantized graph (before fold-rescale)"


def onnx_elem_type(t: TensorType) -> int:
    """The ONNX element type of a tensor (the storage type of quantized tensors)."""
    e = t.element
    if isinstance(e, QuantType):
        e = e.storage
    try:
        return helper.np_dtype_to_tensor_dtype(e.numpy_dtype)
    except (KeyError, ValueError):
        raise QccError(f"no ONNX element type for {t}") from None


class _Exporter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.used: set[str] = set()  # tensor names
        self.node_names: set[str] = set()
        self.names: dict[Value, str] = {}

    # -- names -----------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def name_values(self) -> None:
        g = self.graph
        reserved = set(g.input_names) | set(g.output_names)
        self.used |= reserved
        for a, name in zip(g.args, g.input_names, strict=True):
            self.names[a] = name
        # a value returned (once, and not a graph input) takes the output's name
        returned: dict[Value, int] = {}
        for v in g.outputs:
            returned[v] = returned.get(v, 0) + 1
        for v, name in zip(g.outputs, g.output_names, strict=True):
            if v not in self.names and returned[v] == 1:
                self.names[v] = name
        for v, name in value_names(g).items():
            if v not in self.names:
                self.names[v] = self.fresh(name if name not in reserved else f"{name}_v")

    def node_name(self, op: Op, op_type: str) -> str:
        loc = op.loc.locs[0] if isinstance(op.loc, FusedLoc) else op.loc
        if isinstance(loc, OnnxLoc):
            base = loc.name if loc.op_type == op_type else f"{loc.name}_{op_type}"
        else:
            base = f"{op_type}_{len(self.nodes)}"
        return self.fresh_node(base)

    # -- building --------------------------------------------------------------------
    def init(self, stem: str, array: np.ndarray) -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(_c_order(array), name))
        return name

    def node(self, op: Op, op_type: str, inputs: list[str], outputs: list[str] | None = None,
             **attrs: object) -> None:
        outputs = outputs if outputs is not None else [self.names[op.results[0]]]
        self.nodes.append(helper.make_node(op_type, inputs, outputs,
                                           name=self.node_name(op, op_type), **attrs))

    def qparams(self, v: Value, stem: str) -> tuple[list[str], dict[str, object]]:
        """Scale and zero point initializers (and axis) of a quantized value."""
        e = v.type.element
        dtype = e.storage.numpy_dtype
        if isinstance(e, UniformQuantPerAxisType):
            scale = np.array(e.scales, np.float32)
            zp = np.array(e.zero_points, dtype)
            attrs: dict[str, object] = {"axis": e.axis}
        else:
            scale = np.array(e.scale, np.float32)
            zp = np.array(e.zero_point, dtype)
            attrs = {}
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise QccError(f"the scales of {v.type} do not fit in float32")
        return [self.init(f"{stem}_scale", scale), self.init(f"{stem}_zero_point", zp)], attrs

    # -- ops -------------------------------------------------------------------------
    def export(self) -> onnx.GraphProto:
        self.name_values()
        for op in self.graph.ops:
            if isinstance(op, ReturnOp):
                continue
            self.op(op)
        outputs = []
        for v, name in zip(self.graph.outputs, self.graph.output_names, strict=True):
            if self.names[v] != name:  # a graph input or a value returned twice
                self.nodes.append(helper.make_node("Identity", [self.names[v]], [name],
                                                   name=self.fresh_node(f"{name}_Identity")))
            outputs.append(_value_info(name, v.type))
        inputs = [_value_info(n, a.type) for a, n in zip(self.graph.args, self.graph.input_names,
                                                         strict=True)]
        return helper.make_graph(self.nodes, self.graph.name, inputs, outputs, self.inits)

    def fresh_node(self, base: str) -> str:
        name, k = base, 0
        while name in self.node_names:
            k += 1
            name = f"{base}_{k}"
        self.node_names.add(name)
        return name

    def ins(self, op: Op) -> list[str]:
        return [self.names[v] for v in op.operands]

    def op(self, op: Op) -> None:
        if op.has_trait(IntegerForm):  # exists only after fold-rescale
            raise QccError(f"{_NEEDS_FOLDED}; '{op.name}' is an integer op of the folded "
                           "program", op.loc)
        if isinstance(op, nn.ConstantOp):
            return self.constant(op)
        if isinstance(op, quant.StatsOp):  # calibrated, not quantized: the value itself
            return self.node(op, "Identity", self.ins(op))
        if isinstance(op, quant.QuantizeOp):
            return self.quantize(op)
        if isinstance(op, quant.DequantizeOp):
            scale_zp, attrs = self.qparams(op.input, self.names[op.input])
            return self.node(op, "DequantizeLinear", [self.names[op.input], *scale_zp], **attrs)
        quantized = [v for v in op.operands if isinstance(v.type.element, QuantType)]
        if quantized and not op.has_trait(ScaleTransparent):  # these run on integers in ONNX
            raise QccError(f"{_NEEDS_FOLDED}; '{op.name}' computes on the quantized tensor "
                           f"{quantized[0].type}", op.loc)
        fn = _EXPORTERS.get(type(op))
        if fn is None:
            raise QccError(f"export-qdq has no ONNX form for '{op.name}'", op.loc)
        return fn(self, op)

    def constant(self, op: nn.ConstantOp) -> None:
        data = op.value.data
        if data is None:
            raise QccError("constant was elided when printed; cannot export it (print without "
                           "--elide-constants)", op.loc)
        name = self.names[op.output]
        self.inits.append(numpy_helper.from_array(_c_order(data), name))

    def quantize(self, op: quant.QuantizeOp) -> None:
        e = op.output.type.element
        if e.storage.width != 8 or (e.storage_min, e.storage_max) != (e.storage.min,
                                                                       e.storage.max):
            raise QccError(f"QuantizeLinear saturates to the full int8 or uint8 range; "
                           f"{e} has no ONNX QDQ form", op.loc)
        scale_zp, attrs = self.qparams(op.output, self.names[op.output])
        self.node(op, "QuantizeLinear", [self.names[op.input], *scale_zp], **attrs)


def _c_order(a: np.ndarray) -> np.ndarray:
    """``a`` in C order, keeping its rank (np.ascontiguousarray makes a 0-d array 1-D:
    a scalar Gather index would then keep the axis it removes)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _value_info(name: str, t) -> onnx.ValueInfoProto:
    if not isinstance(t, TensorType):
        raise QccError(f"graph input or output '{name}' is not a tensor ({t})")
    return helper.make_tensor_value_info(name, onnx_elem_type(t), list(t.shape))


# --------------------------------------------------------------------------- nn ops


def _simple(ex: _Exporter, op: Op) -> None:
    ex.node(op, _SIMPLE[type(op)], ex.ins(op))


def _conv(ex: _Exporter, op: nn.Conv2dOp) -> None:
    ex.node(op, "Conv", ex.ins(op), kernel_shape=list(op.weight.type.shape[2:]),
            strides=list(op.strides), pads=list(op.pads), dilations=list(op.dilations),
            group=op.group)


def _dense(ex: _Exporter, op: nn.DenseOp) -> None:
    if op.input.type.rank == 2:
        ex.node(op, "Gemm", ex.ins(op))
        return
    out = ex.names[op.output]
    if op.bias is None:
        ex.node(op, "MatMul", ex.ins(op)[:2])
        return
    product = ex.fresh(f"{out}_matmul")
    ex.node(op, "MatMul", ex.ins(op)[:2], [product])
    ex.node(op, "Add", [product, ex.names[op.bias]])


def _gemm(ex: _Exporter, op: nn.GemmOp) -> None:
    ex.node(op, "Gemm", ex.ins(op), alpha=op.alpha, beta=op.beta, transA=int(op.trans_a),
            transB=int(op.trans_b))


def _float_scalar(ex: _Exporter, op: Op, stem: str, value: float) -> str:
    dtype = op.results[0].type.element.numpy_dtype
    return ex.init(f"{ex.names[op.results[0]]}_{stem}", np.array(value, dtype))


def _clip(ex: _Exporter, op: nn.ClipOp) -> None:
    lo = _float_scalar(ex, op, "min", op.min) if op.min != -math.inf else ""
    hi = _float_scalar(ex, op, "max", op.max) if op.max != math.inf else ""
    inputs = [ex.names[op.input], lo, hi]
    while inputs[-1] == "":
        inputs.pop()
    ex.node(op, "Clip", inputs)


def _leaky_relu(ex: _Exporter, op: nn.LeakyReluOp) -> None:
    ex.node(op, "LeakyRelu", ex.ins(op), alpha=op.alpha)


def _softmax(ex: _Exporter, op: nn.SoftmaxOp) -> None:
    ex.node(op, "Softmax", ex.ins(op), axis=op.axis)


def _max_pool(ex: _Exporter, op: nn.MaxPoolOp) -> None:
    ex.node(op, "MaxPool", ex.ins(op), kernel_shape=list(op.kernel), strides=list(op.strides),
            pads=list(op.pads), dilations=list(op.dilations), ceil_mode=int(op.ceil_mode))


def _avg_pool(ex: _Exporter, op: nn.AvgPoolOp) -> None:
    ex.node(op, "AveragePool", ex.ins(op), kernel_shape=list(op.kernel),
            strides=list(op.strides), pads=list(op.pads), ceil_mode=int(op.ceil_mode),
            count_include_pad=int(op.count_include_pad))


def _reshape(ex: _Exporter, op: nn.ReshapeOp) -> None:
    shape = ex.init(f"{ex.names[op.output]}_shape", np.array(op.shape, np.int64))
    ex.node(op, "Reshape", [ex.names[op.input], shape])


def _transpose(ex: _Exporter, op: nn.TransposeOp) -> None:
    ex.node(op, "Transpose", ex.ins(op), perm=list(op.perm))


def _concat(ex: _Exporter, op: nn.ConcatOp) -> None:
    ex.node(op, "Concat", ex.ins(op), axis=op.axis)


def _pad(ex: _Exporter, op: nn.PadOp) -> None:
    pads = ex.init(f"{ex.names[op.output]}_pads", np.array(op.pads, np.int64))
    value = _float_scalar(ex, op, "value", op.value)
    ex.node(op, "Pad", [ex.names[op.input], pads, value], mode="constant")


def _batch_norm(ex: _Exporter, op: nn.BatchNormOp) -> None:
    ex.node(op, "BatchNormalization", ex.ins(op), epsilon=op.epsilon)


def _hard_sigmoid(ex: _Exporter, op: nn.HardSigmoidOp) -> None:
    ex.node(op, "HardSigmoid", ex.ins(op), alpha=op.alpha, beta=op.beta)


def _gather(ex: _Exporter, op: nn.GatherOp) -> None:
    ex.node(op, "Gather", ex.ins(op), axis=op.axis)


def _cast(ex: _Exporter, op: nn.CastOp) -> None:
    ex.node(op, "Cast", ex.ins(op), to=helper.np_dtype_to_tensor_dtype(op.to.numpy_dtype))


def _expand(ex: _Exporter, op: nn.ExpandOp) -> None:
    shape = ex.init(f"{ex.names[op.output]}_shape", np.array(op.shape, np.int64))
    ex.node(op, "Expand", [ex.names[op.input], shape])


def _layer_norm(ex: _Exporter, op: nn.LayerNormOp) -> None:
    ex.node(op, "LayerNormalization", ex.ins(op), axis=op.axis, epsilon=op.epsilon)


def _gather_elements(ex: _Exporter, op: nn.GatherElementsOp) -> None:
    ex.node(op, "GatherElements", ex.ins(op), axis=op.axis)


def _reduce_mean(ex: _Exporter, op: nn.ReduceMeanOp) -> None:
    axes = ex.init(f"{ex.names[op.output]}_axes", np.array(op.axes, np.int64))
    ex.node(op, "ReduceMean", [ex.names[op.input], axes], keepdims=int(op.keepdims))


def _lrn(ex: _Exporter, op: nn.LrnOp) -> None:
    ex.node(op, "LRN", ex.ins(op), size=op.size, alpha=op.alpha, beta=op.beta,
            bias=op.bias)


def _slice(ex: _Exporter, op: nn.SliceOp) -> None:
    shape = op.input.type.shape
    # a normalized end of -1 with a negative step runs through index 0: in ONNX an end
    # below -size does (-1 would count from the end)
    ends = [-size - 1 if step < 0 and end == -1 else end
            for end, step, size in zip(op.ends, op.steps, shape, strict=True)]
    out = ex.names[op.output]
    inputs = [ex.names[op.input], ex.init(f"{out}_starts", np.array(op.starts, np.int64)),
              ex.init(f"{out}_ends", np.array(ends, np.int64)),
              ex.init(f"{out}_axes", np.arange(len(shape), dtype=np.int64)),
              ex.init(f"{out}_steps", np.array(op.steps, np.int64))]
    ex.node(op, "Slice", inputs)


def _gelu(ex: _Exporter, op: nn.GeluOp) -> None:
    """Gelu is an ONNX op from opset 20: written as the exporters' Erf (or Tanh) form."""
    x, out = ex.names[op.input], ex.names[op.output]

    def scalar(stem: str, value: float) -> str:
        return _float_scalar(ex, op, stem, value)

    def step(op_type: str, inputs: list[str], stem: str) -> str:
        name = ex.fresh(f"{out}_{stem}")
        ex.node(op, op_type, inputs, [name])
        return name

    if op.approximate == "tanh":
        cube = step("Mul", [step("Mul", [x, x], "square"), x], "cube")
        inner = step("Add", [x, step("Mul", [cube, scalar("c", 0.044715)], "cubic")], "sum")
        t = step("Tanh", [step("Mul", [inner, scalar("k", math.sqrt(2 / math.pi))],
                               "scaled")], "tanh")
    else:
        t = step("Erf", [step("Div", [x, scalar("root2", math.sqrt(2))], "scaled")], "erf")
    half = step("Mul", [x, scalar("half", 0.5)], "half")
    ex.node(op, "Mul", [half, step("Add", [t, scalar("one", 1.0)], "one_plus")])


_EXPORTERS = {
    **dict.fromkeys(_SIMPLE, _simple),
    nn.HardSigmoidOp: _hard_sigmoid, nn.GatherOp: _gather, nn.CastOp: _cast,
    nn.ExpandOp: _expand, nn.LayerNormOp: _layer_norm, nn.GeluOp: _gelu,
    nn.GatherElementsOp: _gather_elements, nn.ReduceMeanOp: _reduce_mean, nn.LrnOp: _lrn,
    nn.SliceOp: _slice,
    nn.Conv2dOp: _conv, nn.DenseOp: _dense, nn.GemmOp: _gemm, nn.ClipOp: _clip,
    nn.LeakyReluOp: _leaky_relu, nn.SoftmaxOp: _softmax, nn.MaxPoolOp: _max_pool,
    nn.AvgPoolOp: _avg_pool, nn.ReshapeOp: _reshape, nn.TransposeOp: _transpose,
    nn.ConcatOp: _concat, nn.PadOp: _pad, nn.BatchNormOp: _batch_norm,
}


# --------------------------------------------------------------------------- entry


def export_qdq(module: Module | Graph, producer: str = "qcc") -> onnx.ModelProto:
    """The fake-quantized graph (``main`` of a module) as an ONNX QDQ model.

    Raises :class:`QccError` for graphs that have no QDQ form: integer ops after
    fold-rescale, ops without an ONNX equivalent, elided constants.
    """
    from qcc.version import __version__

    graph = module.main if isinstance(module, Module) else module
    for a in graph.args:
        if not isinstance(a.type, TensorType) or not isinstance(a.type.element, FloatType
                                                                   | IntegerType):
            raise QccError(f"graph input {a!r} must be a float or integer tensor")
    proto = helper.make_model(_Exporter(graph).export(),
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=producer, producer_version=__version__)
    proto.ir_version = 9  # onnx >= 1.14; what onnxruntime >= 1.15 reads
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise QccError(f"the exported QDQ model does not pass the ONNX checker (a qcc bug): "
                       f"{e}") from None
    return proto
