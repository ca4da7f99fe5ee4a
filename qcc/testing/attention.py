"""A small single-head attention block built with ``onnx.helper``, for the tests of
quantization around an additive attention mask.

Inputs: ``x`` [1, T, H] (float) and ``mask`` [1, T] (float, 1 = token, 0 = padding).
The mask becomes additive as BERT exports do: ``(1 - mask) * -3.4028234663852886e38``,
reshaped to [1, 1, T] and added to the scaled scores ``Q K^T / sqrt(H)`` before the
Softmax. Q, K, V and the output projection are MatMul + Add with seeded weights.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: what BERT-style exports multiply the inverted mask by: float32's lowest value
MASK_SENTINEL = -3.4028234663852886e38


def attention_block(seed: int = 0, tokens: int = 8, hidden: int = 16,
                    sentinel: float = MASK_SENTINEL) -> onnx.ModelProto:
    """The block; ``sentinel`` is what masked positions add to the scores (BERT's
    original export used -10000)."""
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def init(name: str, a: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=f"{out}_node", **attrs))
        return out

    def proj(x: str, stem: str) -> str:
        w = rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)
        b = rng.standard_normal(hidden) * 0.1
        mm = node("MatMul", [x, init(f"{stem}_w", w)], f"{stem}_mm")
        return node("Add", [mm, init(f"{stem}_b", b)], stem)

    init("one", np.array(1.0))
    init("sentinel", np.array(sentinel))
    inits.append(numpy_helper.from_array(np.array([1, 1, tokens], np.int64), "mask_shape"))
    init("scale", np.array(np.sqrt(hidden)))

    inv = node("Sub", ["one", "mask"], "mask_inv")
    add_mask = node("Mul", [inv, "sentinel"], "mask_add_2d")
    add_mask = node("Reshape", [add_mask, "mask_shape"], "mask_add")
    q = proj("x", "q")
    k = proj("x", "k")
    v = proj("x", "v")
    kt = node("Transpose", [k], "k_t", perm=[0, 2, 1])
    scores = node("MatMul", [q, kt], "scores_raw")
    scores = node("Div", [scores, "scale"], "scores")
    masked = node("Add", [scores, add_mask], "scores_masked")
    probs = node("Softmax", [masked], "probs", axis=-1)
    context = node("MatMul", [probs, v], "context")
    proj(context, "out")
    graph = helper.make_graph(
        nodes, "attention_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, tokens, hidden]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, tokens])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, tokens, hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def attention_data(n: int, seed: int = 0, tokens: int = 8, hidden: int = 16,
                   min_tokens: int = 2) -> dict[str, np.ndarray]:
    """``n`` calibration samples (the batch axis replaced by n): standard-normal ``x``
    [n, T, H] and masks [n, T] whose first ``min_tokens``..T tokens are 1."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, tokens, hidden)).astype(np.float32)
    lengths = rng.integers(min_tokens, tokens + 1, n)
    mask = (np.arange(tokens)[None, :] < lengths[:, None]).astype(np.float32)
    return {"x": x, "mask": mask}
