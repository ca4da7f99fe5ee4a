"""One transformer encoder layer as PyTorch's exporter writes it, built with
``onnx.helper`` from a seed (float input ``[batch, tokens, hidden]``).

    q, k, v = x @ Wq + bq, x @ Wk + bk, x @ Wv + bv        (MatMul by [H, H] + Add)
    per head: Reshape [B, T, heads, d], Transpose (0, 2, 1, 3); K with (0, 2, 3, 1)
    a = Softmax(Q @ K^T / sqrt(d)) @ V                     (activation x activation)
    Transpose (0, 2, 1, 3), Reshape [B, T, H], @ Wo + bo, + x (residual)
    LayerNorm as ReduceMean / Sub / Pow / Add / Sqrt / Div / Mul / Add
    FFN: @ W1 + b1, GELU (x * 0.5 * (1 + Erf(x / sqrt(2)))), @ W2 + b2, + residual,
    LayerNorm

The output is ``[batch, tokens, hidden]``. ``gelu`` picks how GELU is written:
``"erf-half-last"`` (PyTorch: ``(x * (erf(x / 1.4142135) + 1)) * 0.5``),
``"erf-half-first"`` (``(x * 0.5) * (1 + erf(x * 0.70710677))``) or ``"gelu"`` (the
opset-20 Gelu op; the model's opset is then 20).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GELU_FORMS = ("erf-half-last", "erf-half-first", "gelu")


class _Encoder:
    def __init__(self, seed: int, opset: int):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, array, dtype=np.float32) -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attrs) -> str:
        out = self.fresh(stem or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{out}_node", **attrs))
        return out

    def linear(self, x: str, k: int, n: int, stem: str) -> str:
        w = self.rng.standard_normal((k, n)) / np.sqrt(k)
        b = 0.1 * self.rng.standard_normal(n)
        y = self.node("MatMul", [x, self.const(f"{stem}_w", w)], f"{stem}_matmul")
        return self.node("Add", [y, self.const(f"{stem}_b", b)], stem)

    def mean(self, x: str, stem: str) -> str:
        if self.opset >= 18:  # axes became an input
            return self.node("ReduceMean", [x, self.const("axes", [-1], np.int64)], stem,
                             keepdims=1)
        return self.node("ReduceMean", [x], stem, axes=[-1], keepdims=1)

    def layer_norm(self, x: str, h: int) -> str:
        d = self.node("Sub", [x, self.mean(x, "ln_mean")], "ln_sub")
        var = self.mean(self.node("Pow", [d, self.const("two", 2.0)], "ln_pow"), "ln_var")
        std = self.node("Sqrt", [self.node("Add", [var, self.const("eps", 1e-5)],
                                           "ln_add")], "ln_sqrt")
        y = self.node("Div", [d, std], "ln_div")
        gamma = 1 + 0.1 * self.rng.standard_normal(h)
        beta = 0.1 * self.rng.standard_normal(h)
        y = self.node("Mul", [y, self.const("ln_gamma", gamma)], "ln_mul")
        return self.node("Add", [y, self.const("ln_beta", beta)], "ln")

    def gelu(self, x: str, form: str) -> str:
        if form == "gelu":
            return self.node("Gelu", [x], "gelu")
        if form == "erf-half-last":
            s = self.node("Div", [x, self.const("sqrt2", math.sqrt(2))], "gelu_div")
            e = self.node("Erf", [s], "gelu_erf")
            a = self.node("Add", [e, self.const("one", 1.0)], "gelu_add")
            m = self.node("Mul", [x, a], "gelu_mul")
            return self.node("Mul", [m, self.const("half", 0.5)], "gelu")
        half = self.node("Mul", [x, self.const("half", 0.5)], "gelu_half")
        s = self.node("Mul", [x, self.const("rsqrt2", 1 / math.sqrt(2))], "gelu_scale")
        a = self.node("Add", [self.const("one", 1.0),
                              self.node("Erf", [s], "gelu_erf")], "gelu_add")
        return self.node("Mul", [half, a], "gelu")


def encoder_layer(seed: int = 0, batch: int = 1, tokens: int = 8, hidden: int = 32,
                  heads: int = 2, ffn: int | None = None, gelu: str = "erf-half-last"
                  ) -> onnx.ModelProto:
    """One encoder layer (see the module docstring), input ``input`` and output
    ``output``, both float ``[batch, tokens, hidden]``."""
    if gelu not in GELU_FORMS:
        raise ValueError(f"gelu must be one of {', '.join(GELU_FORMS)}, not {gelu!r}")
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
    ffn = ffn or 4 * hidden
    d = hidden // heads
    opset = 20 if gelu == "gelu" else 17
    b = _Encoder(seed, opset)
    x = "input"
    split = b.const("heads_shape", [batch, tokens, heads, d], np.int64)
    q = b.node("Transpose", [b.node("Reshape", [b.linear(x, hidden, hidden, "q"), split],
                                    "q_heads")], "q_t", perm=[0, 2, 1, 3])
    k = b.node("Transpose", [b.node("Reshape", [b.linear(x, hidden, hidden, "k"), split],
                                    "k_heads")], "k_t", perm=[0, 2, 3, 1])
    v = b.node("Transpose", [b.node("Reshape", [b.linear(x, hidden, hidden, "v"), split],
                                    "v_heads")], "v_t", perm=[0, 2, 1, 3])
    scores = b.node("Div", [b.node("MatMul", [q, k], "qk"), b.const("sqrt_d", math.sqrt(d))],
                    "scores")
    probs = b.node("Softmax", [scores], "probs", axis=-1)
    ctx = b.node("Transpose", [b.node("MatMul", [probs, v], "attn")], "ctx_t",
                 perm=[0, 2, 1, 3])
    ctx = b.node("Reshape", [ctx, b.const("hidden_shape", [batch, tokens, hidden],
                                          np.int64)], "ctx")
    h = b.node("Add", [b.linear(ctx, hidden, hidden, "o"), x], "residual1")
    h = b.layer_norm(h, hidden)
    f = b.gelu(b.linear(h, hidden, ffn, "ffn1"), gelu)
    y = b.node("Add", [b.linear(f, ffn, hidden, "ffn2"), h], "residual2")
    b.layer_norm(y, hidden)
    shape = [batch, tokens, hidden]
    graph = helper.make_graph(
        b.nodes, "encoder_layer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], b.inits)
    graph.node[-1].output[0] = "output"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="qcc.testing.encoder")
    model.ir_version = 9 if opset >= 20 else 8
    onnx.checker.check_model(model, full_check=True)
    return model
