"""Fold the shape arithmetic of an ONNX graph into initializers, before conversion.

Exporters compute shapes at run time: PyTorch's ``flatten`` becomes
``Shape -> Gather(0) -> Unsqueeze -> Concat([.., -1]) -> Reshape``, a tensor of ones
``ConstantOfShape(Shape(x))``. Once the graph inputs have static shapes (the importer
fixes them first: ``--batch``, ``--input-shape``) all of it is known at import time.
:func:`fold_constants` replaces such nodes by initializers holding their values:

* a ``Shape`` (or ``Size``) node whose input has a static shape after ONNX shape
  inference (with data propagation, so shapes computed by earlier folded nodes count);
* any other node whose inputs are all constants (initializers, Constant nodes or the
  outputs of nodes folded before it), evaluated by onnx's reference evaluator on a
  one-node model, not by code of qcc's own.

Nodes are left alone when the importer converts them into IR ops itself and they
compute float tensors (a Transpose of float weights stays an op, as before), and so are
Constant nodes (already constants), QuantizeLinear / DequantizeLinear (the QDQ import
reads them), random ops, ops with subgraphs and ops of other domains. A node the
reference evaluator cannot run is left in the graph too: the importer then reports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from qcc.diagnostics import OnnxLoc

#: op types never folded (besides ops with subgraphs and other domains)
_NEVER = frozenset({
    "Constant", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
    "Multinomial", "Bernoulli", "If", "Loop", "Scan", "SequenceMap",
})
_FLOAT = TensorProto.FLOAT
#: how many times shape inference is rerun to resolve Shape nodes that depend on
#: shapes only known after an earlier fold (each round folds at least one node)
_MAX_ROUNDS = 16

Types = dict[str, onnx.TypeProto]


def static_shape(tp: onnx.TypeProto | None) -> tuple[int, ...] | None:
    """The shape of a tensor type if every dimension is a known number, else None."""
    if tp is None or not tp.HasField("tensor_type") or not tp.tensor_type.HasField("shape"):
        return None
    dims = tp.tensor_type.shape.dim
    if any(not d.HasField("dim_value") or d.dim_value < 0 for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _foldable(node: onnx.NodeProto) -> bool:
    if node.domain not in ("", "ai.onnx") or node.op_type in _NEVER:
        return False
    if not any(node.output):
        return False
    return not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                   for a in node.attribute)


def _shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    """The value of a Shape or Size node over an input of static ``shape``."""
    if node.op_type == "Size":
        return np.array(math.prod(shape), dtype=np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    rank = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    # (ONNX clamps start and end to [0, rank] after adding rank to negative ones)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.array(shape[start:end], dtype=np.int64)


def evaluate_node(node: onnx.NodeProto, inputs: dict[str, np.ndarray],
                  opset_import: Collection[onnx.OperatorSetIdProto]) -> list[np.ndarray]:
    """Run one node on constant inputs with onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    names = list(dict.fromkeys(n for n in node.input if n))
    graph_inputs = [helper.make_tensor_value_info(
        n, helper.np_dtype_to_tensor_dtype(inputs[n].dtype), list(inputs[n].shape))
        for n in names]
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = helper.make_graph([node], "fold", graph_inputs, outputs)
    model = helper.make_model(graph, opset_imports=list(opset_import),
                              ir_version=onnx.IR_VERSION)
    results = ReferenceEvaluator(model).run(None, {n: inputs[n] for n in names})
    return [np.asarray(r) for r in results]


class _Constants:
    """Tensors known at import time (initializers, Constant nodes' values, folded
    results), decoded on first use: most models never need one."""

    def __init__(self, graph: onnx.GraphProto, opset_import):
        self.protos: dict[str, onnx.TensorProto] = {t.name: t for t in graph.initializer}
        self.nodes: dict[str, onnx.NodeProto] = {
            n.output[0]: n for n in graph.node
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and n.output
            and n.output[0]}
        self.opset_import = opset_import
        self.arrays: dict[str, np.ndarray] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.arrays or name in self.protos or name in self.nodes

    def __getitem__(self, name: str) -> np.ndarray:
        """The value (a malformed Constant node raises: the importer says why)."""
        if name not in self.arrays:
            if name in self.protos:
                self.arrays[name] = numpy_helper.to_array(self.protos[name])
            else:
                (self.arrays[name],) = evaluate_node(self.nodes[name], {}, self.opset_import)
        return self.arrays[name]

    def add(self, name: str, array: np.ndarray) -> None:
        self.arrays[name] = array


def fold_constants(model: onnx.ModelProto, infer: Callable[[onnx.ModelProto], Types],
                   converted: Collection[str] = (),
                   names: dict[int, str] | None = None) -> dict[str, tuple[np.ndarray,
                                                                           OnnxLoc]]:
    """Fold the constant (shape) computations of ``model`` in place: folded nodes are
    removed and their outputs become initializers.

    ``infer`` returns the tensor types ONNX shape inference finds for a model (empty if
    it fails); ``converted`` are the op types the importer converts itself (left alone
    when they compute float32); ``names`` maps node indices to the names the importer
    gives nodes in messages. Returns, for every folded tensor, its value and the
    location of the node that computed it.
    """
    graph = model.graph
    known = _Constants(graph, model.opset_import)
    folded: dict[str, tuple[np.ndarray, OnnxLoc]] = {}
    removed: set[int] = set()
    checker = onnx.checker.C.CheckerContext()
    checker.ir_version = model.ir_version or onnx.IR_VERSION
    checker.opset_imports = {("" if o.domain == "ai.onnx" else o.domain): o.version
                             for o in model.opset_import}
    nodes = list(graph.node)
    types: Types = {}
    for _ in range(_MAX_ROUNDS):
        if any(n.op_type in ("Shape", "Size") for i, n in enumerate(nodes)
               if i not in removed):
            types = infer(model)
        progress = False
        for i, node in enumerate(nodes):
            if i in removed or not _foldable(node):
                continue
            values = _try_fold(node, known, types, converted, checker, model.opset_import)
            if values is None:
                continue
            removed.add(i)
            progress = True
            name = (names or {}).get(i) or node.name or f"{node.op_type}_{i}"
            loc = OnnxLoc(node.op_type, name)
            for out, value in zip(node.output, values, strict=False):
                if out:
                    known.add(out, value)
                    folded[out] = (value, loc)
        if not progress:
            break
        _rewrite(graph, nodes, removed, folded)
    return folded


def _try_fold(node: onnx.NodeProto, known: _Constants, types: Types,
              converted: Collection[str],
              checker: object, opset_import) -> list[np.ndarray] | None:
    """The values of ``node``'s outputs if it can be folded now, else None."""
    inputs = [n for n in node.input if n]
    if node.op_type in ("Shape", "Size") and len(inputs) == 1 and inputs[0] not in known:
        shape = static_shape(types.get(inputs[0]))
        if shape is None:
            return None
        try:
            onnx.checker.check_node(node, checker)
        except onnx.checker.ValidationError:
            return None
        return [_shape_value(node, shape)]
    if not inputs or any(n not in known for n in inputs):
        return None
    if node.op_type in converted and all(
            o in types and types[o].tensor_type.elem_type == _FLOAT for o in node.output if o):
        return None  # a float op the importer converts itself (known without running it)
    try:
        onnx.checker.check_node(node, checker)
        values = evaluate_node(node, {n: known[n] for n in inputs}, opset_import)
    except Exception:  # left in the graph (or a Constant it reads): the importer reports it
        return None
    if node.op_type in converted and all(v.dtype == np.float32 for v in values):
        return None  # a float op the importer converts itself
    return values


def _rewrite(graph: onnx.GraphProto, nodes: list[onnx.NodeProto], removed: set[int],
             folded: dict[str, tuple[np.ndarray, OnnxLoc]]) -> None:
    """Drop the folded nodes from ``graph`` and add their outputs as initializers."""
    present = {t.name for t in graph.initializer}
    kept = [n for i, n in enumerate(nodes) if i not in removed]
    del graph.node[:]
    graph.node.extend(kept)
    for name, (value, _) in folded.items():
        if name not in present:
            graph.initializer.append(numpy_helper.from_array(value, name))
