"""Import an FP32 ONNX model into an ``nn``-dialect module.

Pre-quantized QDQ models (QuantizeLinear / DequantizeLinear around float ops) import
too, as ``quant.quantize`` / ``quant.dequantize`` with their scales and zero points
and integer weight constants (docs/qdq.md); their inputs and outputs are float32
and integer initializers may only feed DequantizeLinear.

The import runs in stages (docs/frontend.md):

1. load the protobuf (missing file, corrupt bytes);
2. check the default-domain opset (7 up to what the installed onnx knows) and the
   graph (:func:`check_graph`): unique names, every tensor defined once and before
   its use;
3. convert opsets 7 to 10 to ``MIN_OPSET`` with onnx's version converter (a warning);
4. check the graph inputs (float32) and fix their dynamic dimensions: from
   ``input_shapes``, a first one from ``batch`` (initializers also listed as inputs,
   as IR-version-3 models do, are constants);
5. fold shape computations on constants and static shapes into initializers
   (:mod:`qcc.frontend.onnx_fold`);
6. scan the nodes: every op type must have a converter, Constant nodes are
   recorded, inputs that are read at import time (Reshape shapes, Pad pads...) must be
   constants, and each node must be as its ONNX schema says (input and output counts,
   no empty name where a value is required), the rules onnxruntime enforces;
7. run ONNX shape inference;
8. convert the nodes in order with the converters of :mod:`qcc.frontend.onnx_ops`
   (float ops) and :mod:`qcc.frontend.onnx_qdq` (QuantizeLinear, DequantizeLinear),
   checking each result type against the one ONNX inferred.

Problems of stages 4, 6 and 8 are collected, not raised one by one: a model with
several gets one :class:`ImportProblems` listing them all (what only fails because of
a problem upstream is skipped). Stage 6 comes before shape inference on purpose:
strict inference reports unsupported or malformed constructs with messages that do not
name the real problem (or, for unknown domains, not at all); with problems found, the
inference is lenient.

Together the checks and the strict shape inference are what ``onnx.checker``'s full
check does, but for its demand that every value_info and graph output carry a type and
shape, which onnxruntime does not make (and qcc infers them).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError, Message
from onnx import TensorProto

from qcc.diagnostics import UNKNOWN, Location, OnnxLoc, QccError, escape_controls, warn
from qcc.dialects import nn
from qcc.frontend import onnx_qdq  # noqa: F401  (registers QuantizeLinear, DequantizeLinear)
from qcc.frontend.onnx_fold import fold_constants
from qcc.frontend.onnx_ops import (
    CONSTANT_INPUTS,
    CONVERTERS,
    ONNX_ELEMENTS,
    constant_node_value,
    tensor_array,
)
from qcc.ir.attributes import DenseAttr
from qcc.ir.core import Graph, Module, Op, Value, VerifyError
from qcc.ir.types import ElementType, QuantType, TensorType, f32, i1, i8, i32, i64, u8
from qcc.ir.verifier import verify

#: the oldest default-domain opset qcc accepts (Clip/Pad take their bounds as inputs)
MIN_OPSET = 11
#: the oldest opset converted to MIN_OPSET by onnx's version converter (its adapters
#: start at opset 7 for the ops CNN exporters use)
MIN_CONVERTED_OPSET = 7
#: op types qcc has no converter for but computes at import time when their inputs are
#: constants or static shapes (qcc/frontend/onnx_fold.py)
FOLDED_ONLY = frozenset({"Shape", "Size", "ConstantOfShape", "Range", "Expand", "Gather",
                         "Cast", "CastLike", "Slice", "Equal", "Where", "Not", "Less",
                         "Greater", "Floor", "Ceil", "ReduceProd", "Tile", "NonZero"})
#: op types qcc converts that are still folded at import time when all their inputs are
#: constants, even when they compute float32 (a Gather of a constant embedding table by
#: constant position ids, the Where of a constant mask)
FOLDED_WHEN_CONSTANT = frozenset({
    "Gather", "GatherElements", "LayerNormalization", "Cast", "Where", "Equal", "Less",
    "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Expand"})
#: numpy dtypes of the non-float tensors qcc carries in the IR (token ids, masks)
_INT_DTYPES = {np.dtype(np.int64): i64, np.dtype(np.int32): i32, np.dtype(np.bool_): i1}
#: where the list of supported op types starts in an unsupported-op error
_SUPPORTED = "; supported op types: "
_DEFAULT_DOMAINS = ("", "ai.onnx")
_ELEMENT_NAMES = {TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64",
                  TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16"}


def element_name(elem_type: int) -> str:
    """Readable name of an ONNX element type (``float32``, ``int64``...)."""
    if elem_type in _ELEMENT_NAMES:
        return _ELEMENT_NAMES[elem_type]
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"element type {elem_type}"


def _onnx_element(element: ElementType) -> int:
    """The ONNX element type that holds values of an IR element type."""
    storage = element.storage if isinstance(element, QuantType) else element
    return {f32: TensorProto.FLOAT, i8: TensorProto.INT8, u8: TensorProto.UINT8,
            i32: TensorProto.INT32, i64: TensorProto.INT64,
            i1: TensorProto.BOOL}.get(storage, TensorProto.UNDEFINED)


# --------------------------------------------------------------------------- nodes


def _attr_value(a: onnx.AttributeProto) -> object:
    value = onnx.helper.get_attribute_value(a)
    # strings come back as bytes; converters compare them with str literals
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
    return value


class OnnxNode:
    """One ONNX node with its attributes decoded, as the converters see it."""

    def __init__(self, proto: onnx.NodeProto, index: int):
        self.proto = proto
        self.op_type: str = proto.op_type
        self.domain: str = proto.domain
        # unnamed nodes are common; the index keeps error messages specific
        self.name: str = proto.name or f"{proto.op_type}_{index}"
        self.inputs: list[str] = list(proto.input)
        self.outputs: list[str] = list(proto.output)
        self.attrs: dict[str, object] = {a.name: _attr_value(a) for a in proto.attribute}
        self.loc = OnnxLoc(self.op_type, self.name)

    def attr(self, name: str, default: object = None) -> object:
        return self.attrs.get(name, default)

    def input(self, i: int) -> str:
        """Name of input ``i``; "" when the optional input is absent."""
        return self.inputs[i] if i < len(self.inputs) else ""

    def error(self, message: str) -> QccError:
        return QccError(message, self.loc)

    def unsupported_attr(self, name: str, value: object, why: str = "") -> QccError:
        text = f"unsupported value {value!r} of attribute '{name}'"
        return self.error(text + (f": {why}" if why else ""))


# --------------------------------------------------------------------------- context


class ImportContext:
    """State of one import: the graph being built and what is known about tensors."""

    def __init__(self, opset: int, proto: onnx.ModelProto | None = None):
        self.opset = opset
        #: what onnx.checker.check_node needs to know of the model
        self.checker = onnx.checker.C.CheckerContext()
        self.checker.ir_version = (proto.ir_version if proto else 0) or onnx.IR_VERSION
        self.checker.opset_imports = ({("" if o.domain == "ai.onnx" else o.domain): o.version
                                       for o in proto.opset_import} if proto else {"": opset})
        self.graph = Graph("main")
        #: ONNX tensor name -> IR value (graph args, op results, materialized constants)
        self.values: dict[str, Value] = {}
        #: tensors known at import time (initializers, Constant nodes)
        self.constants: dict[str, np.ndarray] = {}
        self.constant_locs: dict[str, Location] = {}
        #: ONNX tensor name -> type after shape inference
        self.types: dict[str, onnx.TypeProto] = {}
        #: tensors some node or graph output reads (to tell unused optional outputs)
        self.used: set[str] = set()
        #: what to add to the error of a shape computation that could not be folded
        self.fold_hint = ""
        #: tensors computed at import time by onnx_fold (from nodes of the model)
        self.folded: set[str] = set()
        #: graph inputs whose dynamic dimension 0 was fixed from ``batch`` (default 1),
        #: not by the model or ``input_shapes``: name -> how the model named it (an
        #: LSTM refuses such an input: its dimension 0 is the sequence length)
        self.batch_defaulted: dict[str, str] = {}

    # -- import-time constants -------------------------------------------------------
    def add_constant(self, name: str, array: np.ndarray, loc: Location) -> None:
        self.constants[name] = array
        self.constant_locs[name] = loc

    def const(self, node: OnnxNode, i: int) -> np.ndarray:
        """Input ``i`` of ``node`` as an array; it must be an import-time constant."""
        name = node.input(i)
        if not name:
            raise node.error(f"input {i} of node '{node.name}' ({node.op_type}) is required")
        if name not in self.constants:
            raise node.error(f"input '{name}' of node '{node.name}' ({node.op_type}) must be "
                             "a constant (an initializer or a Constant node)")
        return self.constants[name]

    def optional_const(self, node: OnnxNode, i: int) -> np.ndarray | None:
        """Like :meth:`const`, but None when the optional input is absent."""
        return self.const(node, i) if node.input(i) else None

    # -- IR values -------------------------------------------------------------------
    def value(self, node: OnnxNode, i: int) -> Value:
        """Input ``i`` of ``node`` as an IR value."""
        name = node.input(i)
        if not name:
            raise node.error(f"input {i} of node '{node.name}' ({node.op_type}) is required")
        return self.lookup(name, node.loc)

    def lookup(self, name: str, loc: Location) -> Value:
        """The IR value of a tensor, materializing a constant at its first use."""
        if name in self.values:
            return self.values[name]
        if name not in self.constants:
            raise QccError(f"tensor '{name}' is used but never defined", loc)
        array = self.constants[name]
        if array.dtype in _INT_DTYPES:  # token ids, masks, indices used as tensors
            op = nn.ConstantOp.build(value=DenseAttr.from_array(array, _INT_DTYPES[array.dtype]),
                                     loc=self.constant_locs[name], name=name)
            self.graph.append(op)
            self.values[name] = op.result
            return op.result
        if array.dtype != np.float32:
            if name in self.folded:  # computed at import time: the node that did says where
                loc = self.constant_locs[name]
            # int64 shapes and axes are read at import time; only f32 enters the IR
            # (and quantized integers, through DequantizeLinear)
            raise QccError(f"tensor '{name}' has element type {array.dtype}; qcc imports "
                           "float32 models (other types are allowed only for constants "
                           "read at import time, such as shapes, axes and pads, and for "
                           "int8/uint8/int32 data read by DequantizeLinear)", loc)
        op = nn.ConstantOp.build(value=DenseAttr.from_array(array, f32),
                                 loc=self.constant_locs[name], name=name)
        self.graph.append(op)
        self.values[name] = op.result
        return op.result

    def emit(self, node: OnnxNode, op_class: type[Op], *operands: Value | None,
             name: str | None = None, **attrs: object) -> Value:
        """Append an op located at ``node``; its result is named after the node's first
        output unless ``name`` says otherwise."""
        try:
            op = op_class.build(*operands, loc=node.loc, name=name or node.outputs[0], **attrs)
        except (VerifyError, ValueError) as e:
            raise node.error(f"cannot lower to '{op_class.name}': {e}") from None
        self.graph.append(op)
        return op.result

    def bind(self, node: OnnxNode, index: int, value: Value) -> None:
        """Make ``value`` the IR value of output ``index``, checked against ONNX."""
        name = node.outputs[index]
        expected = self.tensor_type(name, node.loc, value.type.element)
        if value.type != expected:
            raise QccError(f"qcc computed {value.type} for tensor '{name}' but ONNX shape "
                           f"inference says {expected}", node.loc,
                           notes=("this is probably a bug in the qcc ONNX frontend",))
        self.values[name] = value

    def tensor_type(self, name: str, loc: Location, element: ElementType = f32) -> TensorType:
        """The static tensor type ONNX inferred for ``name``, checked to hold ``element``
        (f32, or a quantized type whose storage is the ONNX element type)."""
        tp = self.types.get(name)
        if tp is None or not tp.HasField("tensor_type"):
            raise QccError(f"ONNX shape inference found no tensor type for '{name}'", loc)
        tt = tp.tensor_type
        if tt.elem_type != _onnx_element(element):
            raise QccError(f"tensor '{name}' has element type {element_name(tt.elem_type)}; "
                           + ("qcc imports float32 models" if element == f32 else
                              f"qcc expected {element}"), loc)
        dims = list(tt.shape.dim) if tt.HasField("shape") else None
        if dims is None or any(not d.HasField("dim_value") for d in dims):
            shown = "unknown rank" if dims is None else "[" + ", ".join(
                str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                for d in dims) + "]"
            raise QccError(f"tensor '{name}' has no static shape ({shown}) after shape "
                           "inference; qcc needs static shapes", loc)
        if any(d.dim_value < 0 for d in dims):
            raise QccError(f"tensor '{name}' has a negative dimension "
                           f"({[d.dim_value for d in dims]})", loc)
        return TensorType(tuple(d.dim_value for d in dims), element)

    # -- the scan before shape inference -------------------------------------------------
    def prescan(self, node: OnnxNode, failed: Collection[str] = ()) -> None:
        """Reject unsupported ops and non-constant import-time inputs; record Constants.
        Inputs in ``failed`` (computed by a node with a problem) are not checked."""
        if node.domain not in _DEFAULT_DOMAINS or node.op_type not in CONVERTERS:
            op = node.op_type if node.domain in _DEFAULT_DOMAINS else \
                f"{node.domain}.{node.op_type}"
            if node.domain in _DEFAULT_DOMAINS and node.op_type in FOLDED_ONLY:
                if any(n in failed for n in node.inputs):
                    return  # not computable because of a problem upstream, reported there
                raise node.error(f"op type '{op}' is supported only where qcc can compute "
                                 "it at import time (all its inputs constants, or a Shape "
                                 "of a static shape), and it cannot here" + self.fold_hint)
            raise node.error(f"op type '{op}' is unsupported{_SUPPORTED}"
                             + ", ".join(sorted(CONVERTERS)))
        self.check_attribute_types(node)
        if node.op_type == "Constant" and node.outputs:  # (no output: the schema check)
            self.add_constant(node.outputs[0], constant_node_value(node), node.loc)
        for i in CONSTANT_INPUTS.get(node.op_type, ()):
            if node.input(i) and node.input(i) not in failed:
                self.const(node, i)
        self.check_schema(node)  # after the checks above, whose messages are more specific
        self.used.update(n for n in node.inputs if n)


    def check_schema(self, node: OnnxNode) -> None:
        """The node must match its ONNX schema at the model's opset, as onnx's checker
        and onnxruntime demand: input and output counts, no empty name for a required
        input or output, known attributes of the right types."""
        try:
            onnx.checker.check_node(node.proto, self.checker)
        except onnx.checker.ValidationError as e:
            text = " ".join(str(e).split("==> Context:")[0].split())
            raise node.error(f"the node does not match the ONNX schema of {node.op_type} at "
                             f"opset {self.opset}: {text}") from None

    def check_attribute_types(self, node: OnnxNode) -> None:
        """Attributes must have the type the ONNX schema gives them (shape inference
        does not check; a converter reading an INT would get a list)."""
        try:
            schema = onnx.defs.get_schema(node.op_type, self.opset, "")
        except onnx.defs.SchemaError:
            return
        for a in node.proto.attribute:
            spec = schema.attributes.get(a.name)
            if spec is not None and a.type != int(spec.type):
                names = onnx.AttributeProto.AttributeType
                raise node.error(f"attribute '{a.name}' has type "
                                 f"{names.Name(a.type) if a.type in names.values() else a.type}"
                                 f"; ONNX {node.op_type} expects {names.Name(int(spec.type))}")


# --------------------------------------------------------------------------- stages


def _load(model: str | os.PathLike | bytes | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The model (a private copy: batch fixing edits it) and how to name it in errors."""
    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        source = "<ModelProto>"
    elif isinstance(model, bytes | bytearray | memoryview):
        source = "<bytes>"
        proto = onnx.ModelProto()
        try:
            proto.ParseFromString(bytes(model))
        except DecodeError as e:
            raise QccError(f"{source} is not a valid ONNX model: {e}") from None
    elif isinstance(model, str | os.PathLike):
        path = Path(model)
        source = f"'{path}'"
        if not path.exists():
            raise QccError(f"cannot read ONNX model {source}: no such file")
        try:
            proto = onnx.load(path)  # also loads external data next to the file
        except DecodeError as e:
            raise QccError(f"{source} is not a valid ONNX model: {e}") from None
        except (OSError, ValueError, onnx.checker.ValidationError) as e:
            # OSError also covers missing external-data files; ValidationError their paths
            raise QccError(f"cannot read ONNX model {source}: {e}") from None
    else:
        raise TypeError(f"import_onnx expects a path, bytes or onnx.ModelProto, "
                        f"got {type(model).__name__}")
    # protobuf parses some garbage (an empty file, say) into an empty message
    if not proto.HasField("graph"):
        raise QccError(f"{source} is not a valid ONNX model: it has no graph")
    bad = _non_utf8_field(proto)
    if bad:
        raise QccError(f"{source} is not a valid ONNX model: a string field ('{bad}') is "
                       "not valid UTF-8")
    return proto, source


def _non_utf8_field(message: Message) -> str | None:
    """The name of a string field holding invalid UTF-8 (protobuf returns those as
    bytes, which names and op types must never be), or None."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        if field.type == field.TYPE_STRING:
            if any(isinstance(v, bytes) for v in values):
                return field.name
        elif field.type == field.TYPE_MESSAGE:
            for v in values:
                bad = _non_utf8_field(v)
                if bad:
                    return bad
    return None


def check_graph(graph: onnx.GraphProto, nodes: list[OnnxNode]) -> None:
    """The graph-validity rules of ONNX that onnxruntime enforces too: names of graph
    inputs, initializers and nodes are unique; every tensor is defined once (by a graph
    input, an initializer or one node output: single static assignment) and before the
    nodes that read it (ONNX requires the nodes in topological order, which also rules
    out cycles); every graph output is defined. (An initializer may also be listed as a
    graph input, as older exporters do.) And, for qcc, graph outputs are distinct."""
    #: tensor -> where it is defined (graph inputs, then initializers, then nodes)
    defined: dict[str, Location] = {}
    for vi in graph.input:
        loc = OnnxLoc("Input", vi.name)
        if vi.name in defined:
            raise QccError(f"the graph has two inputs named '{vi.name}'; ONNX names must be "
                           "unique", loc)
        defined[vi.name] = loc
    initializers: set[str] = set()
    for t in graph.initializer:
        loc = OnnxLoc("Initializer", t.name)
        if t.name in initializers:
            raise QccError(f"the graph has two initializers named '{t.name}'; ONNX names "
                           "must be unique", loc)
        initializers.add(t.name)
        defined.setdefault(t.name, loc)
    producer: dict[str, int] = {}  # tensor -> index of the first node that outputs it
    for i, node in enumerate(nodes):
        for name in node.outputs:
            producer.setdefault(name, i)
    named: dict[str, OnnxNode] = {}
    for i, node in enumerate(nodes):
        if node.proto.name:  # (unnamed nodes are many and fine)
            if node.proto.name in named:
                first = named[node.proto.name]
                raise node.error(f"two nodes are named '{node.name}' (this one and the "
                                 f"{first.op_type} node before it); onnxruntime requires "
                                 "unique node names")
            named[node.proto.name] = node
        for k, name in enumerate(node.inputs):
            if not name or name in defined:
                continue
            where = f"input {k} ('{name}')"
            later = producer.get(name)
            if later is None:
                raise node.error(f"{where} is never defined: it is not a graph input, an "
                                 "initializer or the output of a node")
            cycle = _depends_on(nodes, producer, later, i)
            if cycle:
                raise node.error(f"{where} is computed by node '{nodes[later].name}' "
                                 f"({nodes[later].op_type}) from this node's output: the graph "
                                 "has a cycle")
            raise node.error(f"{where} is defined only later, by node '{nodes[later].name}' "
                             f"({nodes[later].op_type}); ONNX requires the nodes in "
                             "topological order")
        for name in node.outputs:
            if not name:
                continue  # an optional output left out (the schema check says where allowed)
            if name in defined:
                first = defined[name]
                by = "this node's outputs too" if first == node.loc else _describe(first)
                raise node.error(f"output '{name}' is already defined, by {by}: every tensor "
                                 "of an ONNX graph has one definition (single static "
                                 "assignment)")
            defined[name] = node.loc
    outputs: set[str] = set()
    for vi in graph.output:
        if vi.name in outputs:
            # (onnxruntime accepts this; qcc's modules and programs name their outputs)
            raise QccError(f"the graph lists output '{vi.name}' twice; qcc needs the graph "
                           "outputs to have distinct names", OnnxLoc("Output", vi.name))
        outputs.add(vi.name)
        if vi.name not in defined:
            raise QccError(f"graph output '{vi.name}' is never defined: it is not a graph "
                           "input, an initializer or the output of a node",
                           OnnxLoc("Output", vi.name))


def _describe(loc: Location) -> str:
    """A graph input, an initializer or a node, for the middle of a sentence."""
    assert isinstance(loc, OnnxLoc)
    if loc.op_type in ("Input", "Initializer"):
        return f"the graph {loc.op_type.lower()} '{loc.name}'"
    return f"node '{loc.name}' ({loc.op_type})"


def _depends_on(nodes: list[OnnxNode], producer: dict[str, int], start: int,
                target: int) -> bool:
    """Whether node ``start`` reads, directly or through other nodes, an output of
    node ``target`` (only asked on the way to an error)."""
    seen, todo = {start}, [start]
    while todo:
        for name in nodes[todo.pop()].inputs:
            j = producer.get(name)
            if j == target:
                return True
            if j is not None and j not in seen:
                seen.add(j)
                todo.append(j)
    return False


def _default_opset(proto: onnx.ModelProto, source: str) -> int:
    if proto.ir_version > onnx.IR_VERSION:  # (onnxruntime and onnx's checker refuse it too)
        raise QccError(f"{source} has ONNX IR version {proto.ir_version}, newer than the "
                       f"{onnx.IR_VERSION} that qcc's onnx {onnx.__version__} knows")
    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in proto.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions:
        raise QccError(f"{source} does not import the default ONNX opset")
    opset = versions[0]
    if not MIN_CONVERTED_OPSET <= opset <= newest:
        raise QccError(f"opset {opset} is not supported; qcc supports {MIN_OPSET}..{newest} "
                       f"(and converts opsets {MIN_CONVERTED_OPSET}..{MIN_OPSET - 1} with "
                       "onnx's version converter)")
    return opset


def _convert_opset(proto: onnx.ModelProto, source: str, opset: int) -> onnx.ModelProto:
    """An opset 7..10 model converted to MIN_OPSET by onnx's version converter, with a
    warning (never silently)."""
    from onnx import version_converter

    for node in proto.graph.node:
        # BatchNormalization lost 'spatial' at opset 9, but exporters kept writing
        # spatial=1 (the only behaviour left); the converter and onnxruntime refuse it
        if node.op_type == "BatchNormalization" and node.domain in _DEFAULT_DOMAINS \
                and opset >= 9:
            for k, a in enumerate(node.attribute):
                if a.name == "spatial" and a.type == onnx.AttributeProto.INT and a.i == 1:
                    del node.attribute[k]
                    break
    try:
        converted = version_converter.convert_version(proto, MIN_OPSET)
    except Exception as e:  # the converter raises RuntimeError, InferenceError...
        message = " ".join(str(e).split())
        raise QccError(f"{source} has opset {opset}, which qcc converts to opset {MIN_OPSET} "
                       f"with onnx's version converter, and the conversion failed: "
                       f"{message}", notes=(f"export the model with opset {MIN_OPSET} or "
                                            "newer",)) from None
    message = (f"{source}: opset {opset} converted to opset {MIN_OPSET} by onnx's version "
               "converter")
    if message not in _WARNED:  # (once per process: explore loads a model many times)
        _WARNED.add(message)
        warn(message)
    return converted


#: the conversion warnings printed by this process
_WARNED: set[str] = set()


def _dims_text(dims: list[int | str]) -> str:
    return "x".join(str(d) for d in dims)


def check_input_shapes(input_shapes: object) -> dict[str, tuple[int | None, ...]]:
    """``input_shapes`` ({input name: shape}) checked: names are strings, shapes
    sequences of positive integers (None leaves a dimension as the model has it)."""
    if input_shapes is None:
        return {}
    if not isinstance(input_shapes, dict):
        raise QccError(f"input_shapes must map input names to shapes, got "
                       f"{type(input_shapes).__name__}")
    shapes: dict[str, tuple[int | None, ...]] = {}
    for name, shape in input_shapes.items():
        if not isinstance(name, str):
            raise QccError(f"input_shapes: input names are strings, got {name!r}")
        if isinstance(shape, str | bytes) or not hasattr(shape, "__iter__"):
            raise QccError(f"input shape of '{name}': expected a sequence of sizes, got "
                           f"{shape!r}")
        dims = tuple(shape)
        if any(d is not None and (isinstance(d, bool) or not isinstance(d, int | np.integer)
                                  or d < 1) for d in dims):
            raise QccError(f"input shape of '{name}' {list(dims)}: sizes must be positive "
                           "integers")
        shapes[name] = tuple(None if d is None else int(d) for d in dims)
    return shapes


def _fix_inputs(graph: onnx.GraphProto, constants: Collection[str], batch: int | None,
                input_shapes: dict[str, tuple[int | None, ...]],
                problems: list[QccError],
                defaulted: dict[str, str] | None = None) -> set[str]:
    """Check the non-constant graph inputs and fix their dynamic dimensions in place:
    from ``input_shapes``, the first from ``batch`` (default 1). Problems are added to
    ``problems``; returns the names of the inputs that have one. The inputs whose
    dimension 0 came from ``batch`` go into ``defaulted`` (with the name the model gave
    the dimension)."""
    real = [vi for vi in graph.input if vi.name not in constants]
    names = [vi.name for vi in real]
    for name, shape in input_shapes.items():
        if name not in names:
            listed = ", ".join(f"'{n}'" for n in names) or "none"
            problems.append(QccError(
                f"--input-shape {name}={_dims_text(['?' if d is None else d for d in shape])}"
                f": the model has no input '{name}' (its inputs: {listed})"))
    named = _named_sizes(real, input_shapes)
    bad: set[str] = set()
    reported: set[str] = set()  # symbolic dimension names left open, said once
    for vi in real:
        loc = OnnxLoc("Input", vi.name)
        problem = _fix_input(vi, batch, input_shapes.get(vi.name), loc, named, defaulted)
        if problem is not None:
            bad.add(vi.name)
            params = {d.dim_param or "?" for d in vi.type.tensor_type.shape.dim
                      if not d.HasField("dim_value")} if vi.type.HasField("tensor_type") \
                else {"?"}
            if params and "?" not in params and params <= reported:
                continue  # the same dimension of an input reported before
            reported.update(params)
            others = [o.name for o in real if o is not vi and o.type.HasField("tensor_type")
                      and any(d.dim_param in params for d in o.type.tensor_type.shape.dim
                              if not d.HasField("dim_value"))]
            if others and "?" not in params and "static shapes" in problem.message:
                shown = ", ".join(f"'{o}'" for o in others)
                verb = "names" if len(others) == 1 else "name"
                problem = QccError(problem.message, problem.loc, notes=(
                    f"{shown} {verb} the same dimensions: fixing them here fixes them there",))
            problems.append(problem)
    return bad


def _named_sizes(inputs: list[onnx.ValueInfoProto],
                 input_shapes: dict[str, tuple[int | None, ...]]) -> dict[str, int]:
    """The sizes ``input_shapes`` gives to symbolic dimensions (dim_param names): a
    dimension of the same name in another input is the same size (ONNX's meaning), so
    ``--input-shape input_ids=1x32`` also fixes ``attention_mask`` [batch, sequence]."""
    named: dict[str, int] = {}
    for vi in inputs:
        given = input_shapes.get(vi.name)
        if given is None or not vi.type.HasField("tensor_type") or \
                len(vi.type.tensor_type.shape.dim) != len(given):
            continue  # (a wrong rank is reported with the input)
        for dim, size in zip(vi.type.tensor_type.shape.dim, given, strict=True):
            if size is None or dim.HasField("dim_value") or not dim.dim_param:
                continue
            named.setdefault(dim.dim_param, size)  # (a different size: _fix_input says)
    return named


def _fix_input(vi: onnx.ValueInfoProto, batch: int | None,
               given: tuple[int | None, ...] | None, loc: Location,
               named: dict[str, int] | None = None,
               defaulted: dict[str, str] | None = None) -> QccError | None:
    """Fix one graph input's dimensions; the problem found, if any. ``named`` gives
    sizes to symbolic dimensions this input's ``given`` leaves open; an input whose
    dimension 0 is fixed from ``batch`` is added to ``defaulted``."""
    if not vi.type.HasField("tensor_type"):
        return QccError(f"graph input '{vi.name}' is not a tensor", loc)
    tt = vi.type.tensor_type
    if tt.elem_type not in ONNX_ELEMENTS:
        return QccError(f"graph input '{vi.name}' has element type "
                        f"{element_name(tt.elem_type)}; qcc imports float32 models (and "
                        "int64, int32 or bool inputs such as token ids and masks)", loc)
    option = "" if given is None else \
        f"--input-shape {vi.name}={_dims_text(['?' if d is None else d for d in given])}"
    if not tt.HasField("shape"):
        if given is None or None in given:
            return QccError(f"graph input '{vi.name}' has no shape; qcc needs static shapes: "
                            f"give it with --input-shape {vi.name}=1x3x224x224 (its sizes)",
                            loc)
        tt.shape.dim.extend(onnx.TensorShapeProto.Dimension(dim_value=d) for d in given)
    dims = tt.shape.dim
    if given is not None and len(given) != len(dims):
        shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in dims]
        return QccError(f"{option} gives {len(given)} dimensions but graph input "
                        f"'{vi.name}' has rank {len(dims)} ({_dims_text(shown)})", loc)
    for i, dim in enumerate(dims):
        size = given[i] if given is not None else None
        if dim.HasField("dim_value"):
            if size is not None and size != dim.dim_value:
                return QccError(f"{option} gives dimension {i} size {size}, but the model "
                                f"fixes it to {dim.dim_value}", loc)
            continue
        if size is not None:
            if named and named.get(dim.dim_param, size) != size:
                return QccError(f"{option} gives dimension {i} ('{dim.dim_param}') size "
                                f"{size}, but another --input-shape gives "
                                f"'{dim.dim_param}' size {named[dim.dim_param]}; inputs that "
                                "name a dimension alike share its size", loc)
            if i == 0 and batch is not None and batch != size:
                return QccError(f"--batch {batch} and {option} disagree on the batch "
                                "(dimension 0)", loc)
            dim.dim_value = size  # clears dim_param: they share a oneof
        elif named and dim.dim_param in named:  # fixed in another input of the same name
            if i == 0 and batch is not None and batch != named[dim.dim_param]:
                return QccError(f"--batch {batch} and --input-shape disagree on the "
                                f"dimension '{dim.dim_param}' (dimension 0)", loc)
            dim.dim_value = named[dim.dim_param]
        elif i == 0:
            if defaulted is not None:
                defaulted[vi.name] = f"'{dim.dim_param}'" if dim.dim_param else "unknown"
            dim.dim_value = 1 if batch is None else batch
    dynamic = [(i, f"'{d.dim_param}'" if d.dim_param else "unknown")
               for i, d in enumerate(dims) if not d.HasField("dim_value")]
    if not dynamic:
        return None
    suggest = _dims_text([d.dim_value if d.HasField("dim_value") else
                          (d.dim_param or "?") for d in dims])
    which = (f"a dynamic dimension {dynamic[0][0]} ({dynamic[0][1]})" if len(dynamic) == 1
             else "dynamic dimensions " + ", ".join(f"{i} ({w})" for i, w in dynamic))
    return QccError(f"graph input '{vi.name}' has {which}; qcc needs static shapes: fix it "
                    f"with --input-shape {vi.name}={suggest} (sizes in place of the names; "
                    "input_shapes= in the Python API)", loc)


_NODE_IN_MESSAGE = re.compile(r"\(op_type:([^,]*), node name: ([^)]*)\)")


#: float initializers larger than this go to shape inference as typed inputs, without
#: their data (only their shapes matter to it; serializing the weights dominated)
_SHAPE_ONLY_ELEMENTS = 64
_FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                onnx.TensorProto.BFLOAT16)


def _without_weights(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its large float initializers replaced by graph inputs of the same
    type and shape: what shape inference needs, without copying the weights."""
    g = proto.graph
    listed = {vi.name for vi in g.input}  # (older models list initializers as inputs)
    inputs, kept = list(g.input), []
    for t in g.initializer:
        if (t.data_type in _FLOAT_TYPES and math.prod(t.dims) > _SHAPE_ONLY_ELEMENTS
                and t.name not in listed):
            inputs.append(onnx.helper.make_tensor_value_info(t.name, t.data_type,
                                                             list(t.dims)))
        else:
            kept.append(t)
    light = onnx.ModelProto(ir_version=proto.ir_version)
    light.opset_import.extend(proto.opset_import)
    light.functions.extend(proto.functions)
    light.graph.CopyFrom(onnx.helper.make_graph(g.node, g.name, inputs, g.output, kept,
                                                value_info=g.value_info))
    return light


def _infer_shapes(proto: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(_without_weights(proto), strict_mode=True,
                                                 data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError,
            ValueError) as e:
        message = " ".join(str(e).split())
        m = _NODE_IN_MESSAGE.search(message)
        loc = OnnxLoc(m[1], m[2]) if m and m[2] else UNKNOWN
        raise QccError(f"ONNX shape inference failed: {message}", loc) from None


def _inferred_types(proto: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """What lenient ONNX shape inference (with data propagation) finds; empty if it
    fails (the folding that asks just folds less)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(_without_weights(proto),
                                                     data_prop=True).graph
    except Exception:  # the strict inference later says what is wrong
        return {}
    return {vi.name: vi.type for vi in [*inferred.input, *inferred.value_info,
                                        *inferred.output]}


class ImportProblems(QccError):
    """Every problem found in a model, as one error: a head line, then one line per
    problem (where, what, and what to do), then the notes they share."""

    def __init__(self, source: str, problems: list[QccError]):
        shared: list[str] = []
        self.problems: list[QccError] = []
        for p in problems:
            head, sep, supported = p.message.partition(_SUPPORTED)
            if sep:  # the list of supported op types is said once, at the end
                p = QccError(head + " (supported op types below)", p.loc, notes=p.notes)
                shared.append("supported op types: " + supported)
            self.problems.append(p)
        #: the head line; ``message`` is it and the problems' lines
        self.head = f"{source}: {len(problems)} problems stop the import"
        lines = [self.head]
        for p in self.problems:
            lines.extend("  " + line for line in p.format().split("\n"))
        super().__init__("\n".join(lines), notes=tuple(dict.fromkeys(shared)))

    def format(self) -> str:
        # each problem's lines were escaped by its own format()
        head, _, rest = self.message.partition("\n")
        lines = [escape_controls(f"error: {head}"), rest]
        lines.extend(escape_controls(f"note: {n}") for n in self.notes)
        return "\n".join(lines)


def _raise_problems(source: str, problems: list[QccError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ImportProblems(source, problems)


def import_onnx(model: str | os.PathLike | bytes | onnx.ModelProto, batch: int | None = None,
                input_shapes: dict[str, object] | None = None) -> Module:
    """Import an FP32 ONNX model (path, serialized bytes or ModelProto) as a verified
    ``nn``-dialect module whose graph ``main`` has the model's inputs and outputs.

    ``input_shapes`` ({input name: shape}, e.g. ``{"input": (1, 3, 224, 224)}``) fixes
    any symbolic or dynamic dimension of the graph inputs (a None size leaves one as the
    model has it); a dynamic first dimension not given there is fixed to ``batch``
    (default 1). Given both, they must agree. Opsets 7 to 10 are converted to opset 11
    by onnx's version converter (with a warning), and shape computations on constants
    or static shapes are folded (:mod:`qcc.frontend.onnx_fold`).

    Raises :class:`QccError` for anything qcc cannot import: with several problems, one
    error that lists them all (:class:`ImportProblems`).
    """
    if batch is not None and batch < 1:
        raise QccError(f"batch must be at least 1, got {batch}")
    shapes = check_input_shapes(input_shapes)
    proto, source = _load(model)
    opset = _default_opset(proto, source)
    if len(proto.graph.sparse_initializer):
        raise QccError(f"{source} has sparse initializers, which qcc does not support")
    check_graph(proto.graph, [OnnxNode(p, i) for i, p in enumerate(proto.graph.node)])
    if opset < MIN_OPSET:
        proto = _convert_opset(proto, source, opset)
        opset = MIN_OPSET
    ctx = ImportContext(opset, proto)
    onnx_graph = proto.graph
    nodes = [OnnxNode(p, i) for i, p in enumerate(onnx_graph.node)]
    for t in onnx_graph.initializer:
        loc = OnnxLoc("Initializer", t.name)
        ctx.add_constant(t.name, tensor_array(t, f"initializer '{t.name}'", loc), loc)
    problems: list[QccError] = []
    #: tensors not computed because of a problem (what reads them is skipped)
    failed = _fix_inputs(onnx_graph, ctx.constants, batch, shapes, problems,
                         ctx.batch_defaulted)
    if failed:
        ctx.fold_hint = ": fix the graph inputs' dynamic dimensions with --input-shape"

    folded = fold_constants(proto, _inferred_types,
                            converted=set(CONVERTERS) - FOLDED_WHEN_CONSTANT,
                            names={i: n.name for i, n in enumerate(nodes)})
    for name, (array, loc) in folded.items():
        ctx.add_constant(name, array, loc)
    ctx.folded.update(folded)
    nodes = [n for n in nodes if not any(o in folded for o in n.outputs if o)]
    bad_inputs = set(failed)
    for node in nodes:
        try:  # (a bad graph input read at import time gets its own error here too;
            # the Shape of one is the input's problem)
            ctx.prescan(node, failed if node.op_type in ("Shape", "Size")
                        else failed - bad_inputs)
        except QccError as e:
            problems.append(e)
            failed.update(node.outputs)
        if any(n in failed for n in node.inputs):
            failed.update(node.outputs)
    ctx.used.update(o.name for o in onnx_graph.output)

    if problems:  # lenient: what the problems leave out needs no types
        ctx.types = _inferred_types(proto)
        if not ctx.types:  # (it failed: report what was found so far)
            _raise_problems(source, problems)
    else:
        inferred = _infer_shapes(proto).graph
        for vi in [*inferred.input, *inferred.value_info, *inferred.output]:
            if vi.name not in ctx.types or vi.type.tensor_type.elem_type:
                # (a graph input listed again as an output may come without a type)
                ctx.types[vi.name] = vi.type
    for vi in onnx_graph.input:
        if vi.name not in ctx.constants and vi.name not in failed:
            # (older models list initializers as inputs: those are constants)
            loc = OnnxLoc("Input", vi.name)
            element = ONNX_ELEMENTS[vi.type.tensor_type.elem_type]
            ctx.values[vi.name] = ctx.graph.add_arg(ctx.tensor_type(vi.name, loc, element),
                                                    vi.name)
    for node in nodes:
        if any(name in failed for name in [*node.inputs, *node.outputs]):
            failed.update(node.outputs)  # (its problem, or one upstream, is reported)
            continue
        try:
            result = CONVERTERS[node.op_type](ctx, node)
            if result is not None:
                ctx.bind(node, 0, result)
        except QccError as e:
            problems.append(e)
            failed.update(node.outputs)
    _raise_problems(source, problems)
    output_names = [o.name for o in onnx_graph.output]
    outputs = [ctx.lookup(name, OnnxLoc("Output", name)) for name in output_names]
    for v, name in zip(outputs, output_names, strict=True):
        if isinstance(v.type, TensorType) and v.type.element not in (f32, i64, i32, i1):
            raise QccError(f"graph output '{name}' has element type "
                           f"{element_name(_onnx_element(v.type.element))}; qcc imports "
                           "float32 models (dequantize quantized outputs)",
                           OnnxLoc("Output", name))
    ctx.graph.set_outputs(outputs, output_names)

    module = Module([ctx.graph])
    try:
        verify(module)
    except QccError as e:
        raise QccError(e.message, e.loc, notes=(
            "the imported module does not verify: this is a bug in the qcc ONNX frontend",
        )) from e
    return module
