"""A tiny BERT-class encoder, written as ONNX the way PyTorch's exporter writes one.

    python examples/bert.py                  # examples/models/bert/tiny_bert.onnx + inputs
    python examples/bert.py --opset 14 --layers 4 --hidden 64 --out /tmp/bert.onnx

What ``torch.onnx.export`` makes of a HuggingFace ``BertModel`` (with
``dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, ...}``), built here with
onnx.helper from a seed, so no PyTorch and no download are needed and the bytes are
the same on every machine:

* three int64 inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape
  [batch, sequence] (symbolic dimensions);
* the shape arithmetic of the exporter: ``Shape -> Gather -> Unsqueeze -> Concat ->
  Reshape`` for every head split and merge;
* embeddings: word + token type + position ``Gather`` lookups; the position ids are a
  constant buffer sliced to the sequence length (opset 14 variant) or ``Range ->
  Unsqueeze -> Expand`` (opset 17 variant); then a LayerNorm;
* the extended attention mask: ``Unsqueeze -> Cast(float) -> Sub(1.0, .) ->
  Mul(., -3.4028234663852886e+38)`` (torch.finfo(float32).min) added to the scores
  (``mask="mul"``, the opset 14 default), or the newer exporters' ``Expand ->
  Cast -> Sub -> Cast(bool) -> Where(., min, .)`` (``mask="where"``, opset 17);
* per layer: Q/K/V ``MatMul + Add`` on [batch, sequence, hidden] activations,
  ``Reshape`` to [B, T, heads, d], ``Transpose`` heads first, ``MatMul`` of Q by K^T
  (activation by activation), ``Div`` by sqrt(d), ``Add`` of the mask, ``Softmax``,
  ``MatMul`` by V, ``Transpose`` back, ``Reshape``; output projection, residual, LayerNorm;
  the FFN with GELU as ``x * 0.5 * (1 + Erf(x / sqrt(2)))`` (``gelu="erf"``; ``"tanh"``
  is the tanh approximation and ``"relu"`` a ReLU, for builds of qcc without Erf),
  residual, LayerNorm;
* LayerNorm as one ``LayerNormalization`` node (opset 17) or decomposed as older
  exporters write it (opset 14): ``ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt,
  Div, Mul, Add``;
* outputs ``last_hidden_state`` [B, T, hidden] and ``pooler_output`` [B, hidden]
  (``Gather`` of token 0, ``Gemm``, ``Tanh``).

qcc imports it once the symbolic dimensions are fixed: ``--input-shape input_ids=1x32``
(the other inputs share the dimension names, so they are fixed too).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent / "models" / "bert"
#: torch.finfo(torch.float32).min, as the exporter writes it
FLOAT32_MIN = -3.4028234663852886e38
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _Graph:
    """Nodes, initializers and unique names while a model is written."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count: dict[str, int] = {}

    def name(self, op: str) -> str:
        k = self.count.get(op, 0)
        self.count[op] = k + 1
        return f"/{op}_{k}"

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        name = self.name(op)
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def const(self, array: np.ndarray, name: str | None = None) -> str:
        """An initializer (weights) or, unnamed, a Constant node (as the exporter
        writes scalars and shapes)."""
        array = np.asarray(array)
        if name is not None:
            self.inits.append(numpy_helper.from_array(array, name))
            return name
        out = self.name("Constant") + "_output_0"
        self.nodes.append(helper.make_node(
            "Constant", [], [out], name=out.removesuffix("_output_0"),
            value=numpy_helper.from_array(array)))
        return out

    def i64(self, *values: int) -> str:
        return self.const(np.array(values, dtype=np.int64))

    def scalar(self, value: float) -> str:
        return self.const(np.array(value, dtype=np.float32))

    def unsqueeze(self, x: str, axes: list[int]) -> str:
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.i64(*axes)])
        return self.node("Unsqueeze", [x], axes=axes)

    def dim(self, x: str, i: int) -> str:
        """``x.size(i)`` as the exporter writes it: Shape, Gather of a scalar index."""
        shape = self.node("Shape", [x])
        return self.node("Gather", [shape, self.const(np.array(i, dtype=np.int64))], axis=0)

    def reshape_dynamic(self, x: str, leading_of: str, tail: list[int]) -> str:
        """``x.view(y.size(0), y.size(1), *tail)``: Shape -> Gather -> Unsqueeze ->
        Concat -> Reshape."""
        parts = [self.unsqueeze(self.dim(leading_of, i), [0]) for i in (0, 1)]
        shape = self.node("Concat", [*parts, self.i64(*tail)], axis=0)
        return self.node("Reshape", [x, shape])

    def layer_norm(self, x: str, prefix: str, hidden: int, rng, eps: float = 1e-12) -> str:
        gamma = self.const((1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32),
                           f"{prefix}.weight")
        beta = self.const((0.1 * rng.standard_normal(hidden)).astype(np.float32),
                          f"{prefix}.bias")
        if self.opset >= 17:
            return self.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)
        mean = self.node("ReduceMean", [x], axes=[-1], keepdims=1)
        d = self.node("Sub", [x, mean])
        var = self.node("ReduceMean", [self.node("Pow", [d, self.scalar(2.0)])], axes=[-1],
                        keepdims=1)
        std = self.node("Sqrt", [self.node("Add", [var, self.scalar(eps)])])
        normalized = self.node("Div", [d, std])
        return self.node("Add", [self.node("Mul", [normalized, gamma]), beta])

    def linear(self, x: str, prefix: str, n_in: int, n_out: int, rng) -> str:
        """``nn.Linear`` on a rank-3 activation: MatMul by the transposed weight, Add."""
        w = self.const((rng.standard_normal((n_in, n_out)) / math.sqrt(n_in))
                       .astype(np.float32), f"{prefix}.weight")
        b = self.const((0.1 * rng.standard_normal(n_out)).astype(np.float32), f"{prefix}.bias")
        return self.node("Add", [self.node("MatMul", [x, w]), b])


def _gelu(g: _Graph, x: str, kind: str) -> str:
    if kind == "erf":  # x * 0.5 * (1 + erf(x / sqrt(2))), as torch exports nn.GELU()
        e = g.node("Erf", [g.node("Div", [x, g.scalar(1.4142135381698608)])])
        return g.node("Mul", [g.node("Mul", [x, g.node("Add", [e, g.scalar(1.0)])]),
                              g.scalar(0.5)])
    if kind == "tanh":  # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        cube = g.node("Pow", [x, g.scalar(3.0)])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.scalar(0.044715)])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.scalar(math.sqrt(2 / math.pi))])])
        return g.node("Mul", [g.node("Mul", [x, g.scalar(0.5)]),
                              g.node("Add", [t, g.scalar(1.0)])])
    if kind == "relu":
        return g.node("Relu", [x])
    raise ValueError(f"gelu must be 'erf', 'tanh' or 'relu', got {kind!r}")


def build_bert(layers: int = 2, hidden: int = 32, heads: int = 2, intermediate: int = 64,
               vocab: int = 100, max_positions: int = 64, type_vocab: int = 2,
               opset: int = 17, gelu: str = "erf", mask: str | None = None,
               positions: str | None = None, seed: int = 0) -> onnx.ModelProto:
    """A BERT encoder as PyTorch's exporter writes it (module docstring), with small
    random weights from ``seed``. ``mask`` ("mul" or "where") and ``positions``
    ("slice" or "range") default to the opset 14 and opset 17 exporters' forms."""
    if opset not in (14, 17):
        raise ValueError(f"opset must be 14 or 17, got {opset}")
    sizes = dict(layers=layers, hidden=hidden, heads=heads, intermediate=intermediate,
                 vocab=vocab, max_positions=max_positions, type_vocab=type_vocab)
    small = [f"{k} {v}" for k, v in sizes.items() if v < 1]
    if small:
        raise ValueError(f"sizes must be at least 1: {', '.join(small)}")
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
    mask = mask or ("mul" if opset == 14 else "where")
    positions = positions or ("slice" if opset == 14 else "range")
    rng = np.random.default_rng(seed)
    g = _Graph(opset)
    d = hidden // heads
    ids, attention, types = INPUTS

    # --- embeddings
    word = g.const((0.5 * rng.standard_normal((vocab, hidden))).astype(np.float32),
                   "embeddings.word_embeddings.weight")
    pos_table = g.const((0.5 * rng.standard_normal((max_positions, hidden)))
                        .astype(np.float32), "embeddings.position_embeddings.weight")
    type_table = g.const((0.5 * rng.standard_normal((type_vocab, hidden))).astype(np.float32),
                         "embeddings.token_type_embeddings.weight")
    seq = g.dim(ids, 1)
    if positions == "slice":  # self.position_ids[:, :seq_length] (a registered buffer)
        buffer = g.const(np.arange(max_positions, dtype=np.int64)[None],
                         "embeddings.position_ids")
        position_ids = g.node("Slice", [buffer, g.i64(0), g.unsqueeze(seq, [0]), g.i64(1),
                                        g.i64(1)])
    elif positions == "range":  # torch.arange(seq).unsqueeze(0).expand_as(input_ids)
        r = g.node("Range", [g.const(np.array(0, np.int64)), seq,
                             g.const(np.array(1, np.int64))])
        position_ids = g.node("Expand", [g.unsqueeze(r, [0]), g.node("Shape", [ids])])
    else:
        raise ValueError(f"positions must be 'slice' or 'range', got {positions!r}")
    emb = g.node("Add", [g.node("Gather", [word, ids]), g.node("Gather", [type_table, types])])
    emb = g.node("Add", [emb, g.node("Gather", [pos_table, position_ids])])
    h = g.layer_norm(emb, "embeddings.LayerNorm", hidden, rng)

    # --- the extended attention mask, [B, 1, 1, T] or [B, 1, T, T]
    m = g.unsqueeze(g.unsqueeze(attention, [1]), [2])
    if mask == "mul":  # (1.0 - mask) * torch.finfo(float32).min
        m = g.node("Cast", [m], to=TensorProto.FLOAT)
        m = g.node("Mul", [g.node("Sub", [g.scalar(1.0), m]), g.scalar(FLOAT32_MIN)])
    elif mask == "where":  # _prepare_4d_attention_mask: expand, invert, masked_fill
        b, t = (g.unsqueeze(g.dim(ids, i), [0]) for i in (0, 1))
        shape = g.node("Concat", [b, g.i64(1), t, t], axis=0)
        m = g.node("Cast", [g.node("Expand", [m, shape])], to=TensorProto.FLOAT)
        inverted = g.node("Sub", [g.scalar(1.0), m])
        m = g.node("Where", [g.node("Cast", [inverted], to=TensorProto.BOOL),
                             g.scalar(FLOAT32_MIN), inverted])
    else:
        raise ValueError(f"mask must be 'mul' or 'where', got {mask!r}")

    # --- the layers
    scale = g.scalar(math.sqrt(d))
    for k in range(layers):
        p = f"encoder.layer.{k}"

        def heads_first(x: str) -> str:
            return g.node("Transpose", [g.reshape_dynamic(x, x, [heads, d])],
                          perm=[0, 2, 1, 3])

        q = heads_first(g.linear(h, f"{p}.attention.self.query", hidden, hidden, rng))
        key = heads_first(g.linear(h, f"{p}.attention.self.key", hidden, hidden, rng))
        v = heads_first(g.linear(h, f"{p}.attention.self.value", hidden, hidden, rng))
        kt = g.node("Transpose", [key], perm=[0, 1, 3, 2])
        scores = g.node("Div", [g.node("MatMul", [q, kt]), scale])
        probs = g.node("Softmax", [g.node("Add", [scores, m])], axis=-1)
        context = g.node("Transpose", [g.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        context = g.reshape_dynamic(context, context, [hidden])
        a = g.linear(context, f"{p}.attention.output.dense", hidden, hidden, rng)
        h = g.layer_norm(g.node("Add", [a, h]), f"{p}.attention.output.LayerNorm", hidden, rng)
        f = _gelu(g, g.linear(h, f"{p}.intermediate.dense", hidden, intermediate, rng), gelu)
        f = g.linear(f, f"{p}.output.dense", intermediate, hidden, rng)
        h = g.layer_norm(g.node("Add", [f, h]), f"{p}.output.LayerNorm", hidden, rng)

    # --- the pooler: the first token, a dense layer and tanh
    first = g.node("Gather", [h, g.const(np.array(0, dtype=np.int64))], axis=1)
    pw = g.const((rng.standard_normal((hidden, hidden)) / math.sqrt(hidden))
                 .astype(np.float32), "pooler.dense.weight")
    pb = g.const((0.1 * rng.standard_normal(hidden)).astype(np.float32), "pooler.dense.bias")
    pooled = g.node("Tanh", [g.node("Gemm", [first, pw, pb], alpha=1.0, beta=1.0, transB=1)])

    # the outputs get the exporter's names
    g.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"],
                                    name="/Identity_last_hidden_state"))
    g.nodes.append(helper.make_node("Identity", [pooled], ["pooler_output"],
                                    name="/Identity_pooler_output"))
    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes, "main_graph",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in INPUTS],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       [*dims, hidden]),
         helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT,
                                       ["batch", hidden])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="qcc-examples-bert", producer_version="1")
    model.ir_version = 8  # (what onnxruntime reads for both opsets)
    return model


def sample_inputs(batch: int = 2, sequence: int = 16, vocab: int = 100,
                  seed: int = 1) -> dict[str, np.ndarray]:
    """Token ids, an attention mask with padding (each row after the first is shorter)
    and token types (a second segment in the second half of each sentence), int64."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, sequence), dtype=np.int64)
    mask = np.ones((batch, sequence), dtype=np.int64)
    types = np.zeros((batch, sequence), dtype=np.int64)
    for b in range(batch):
        length = max(sequence - 5 * b, 2)
        mask[b, length:] = 0
        ids[b, length:] = 0  # [PAD]
        types[b, length // 2:length] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def main(argv: list[str] | None = None) -> int:
    """Write the tiny BERT (and its sample inputs), or one model to ``--out``; bad
    sizes or an unwritable path are an error message and exit code 2."""
    try:
        _main(argv)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _main(argv: list[str] | None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=64)
    p.add_argument("--vocab", type=int, default=100)
    p.add_argument("--max-positions", type=int, default=64)
    p.add_argument("--opset", type=int, choices=(14, 17), default=17,
                   help="17 (LayerNormalization; the default, tiny_bert.onnx) or 14 "
                        "(decomposed LayerNorm, tiny_bert_opset14.onnx)")
    p.add_argument("--gelu", choices=("erf", "tanh", "relu"), default="erf")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="the .onnx file (one opset)")
    args = p.parse_args(argv)
    kw = dict(layers=args.layers, hidden=args.hidden, heads=args.heads,
              intermediate=args.intermediate, vocab=args.vocab,
              max_positions=args.max_positions, gelu=args.gelu, seed=args.seed)
    model = build_bert(opset=args.opset, **kw)
    if args.out is not None:
        onnx.save(model, args.out)
        print(f"wrote {args.out}")
        return
    HERE.mkdir(exist_ok=True)
    path = HERE / ("tiny_bert.onnx" if args.opset == 17 else "tiny_bert_opset14.onnx")
    onnx.save(model, path)
    print(f"wrote {path}")
    np.savez(HERE / "tiny_bert_inputs.npz", **sample_inputs(vocab=args.vocab))
    print(f"wrote {HERE / 'tiny_bert_inputs.npz'}")


if __name__ == "__main__":
    sys.exit(main())
