"""LSTM models built with ``onnx.helper`` from a seed, in the two forms exporters write:

* ``form="op"``: the ONNX ``LSTM`` op, one node per layer (as ``torch.onnx.export``
  writes ``nn.LSTM``): X ``[seq, batch, input]`` (layout 0), W ``[dirs, 4h, input]``,
  R ``[dirs, 4h, h]``, B ``[dirs, 8h]`` with the gates in ONNX's order i, o, f, c;
  stacked layers read the previous layer's Y with its direction axis removed
  (``Squeeze`` of axis 1; bidirectional: ``Transpose (0, 2, 1, 3)`` and ``Reshape``
  to ``[seq, batch, 2h]``), and with ``states="inputs"`` each layer ``Slice``s its
  rows of the ``h0`` / ``c0`` inputs ``[layers * dirs, batch, h]``.
* ``form="cell"``: the same network unrolled the way a traced cell loop is exported:
  per time step ``Slice`` + ``Squeeze`` of x, ``MatMul`` by W^T and by R^T, ``Add``
  of the biases, ``Split`` into the four gates, ``Sigmoid`` / ``Tanh``, ``Mul``,
  ``Add``; Y by ``Unsqueeze`` + ``Concat``.

Both forms have the same weights (for the same arguments) and the same inputs and
outputs: ``x``, with ``states="inputs"`` also ``h0`` and ``c0``; ``y`` (the last
layer's Y, ``[seq, dirs, batch, h]``), ``y_h`` and ``y_c`` (``[layers * dirs, batch,
h]``, every layer's final states), or the subset ``outputs`` names. So they compute
the same function, which ``tests/frontend/test_lstm.py`` checks against onnxruntime.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FORMS = ("op", "cell")
DIRECTIONS = ("forward", "reverse", "bidirectional")
STATES = ("zeros", "inputs")
OUTPUTS = ("y", "y_h", "y_c")


def lstm_weights(input_size: int, hidden: int, layers: int = 1, direction: str = "forward",
                 seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(W, R, B) per layer in ONNX's layout, uniform in +-1/sqrt(hidden) as PyTorch
    initializes an LSTM."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    k = 1 / np.sqrt(hidden)
    out = []
    for layer in range(layers):
        size = input_size if layer == 0 else dirs * hidden
        w = rng.uniform(-k, k, (dirs, 4 * hidden, size)).astype(np.float32)
        r = rng.uniform(-k, k, (dirs, 4 * hidden, hidden)).astype(np.float32)
        b = rng.uniform(-k, k, (dirs, 8 * hidden)).astype(np.float32)
        out.append((w, r, b))
    return out


class _Builder:
    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: set[str] = set()

    def fresh(self, stem: str) -> str:
        name, k = stem, 1
        while name in self.names:
            k += 1
            name = f"{stem}_{k}"
        self.names.add(name)
        return name

    def const(self, stem: str, array, dtype=np.float32) -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, outputs: list[str] | None = None,
             **attrs) -> list[str]:
        outs = outputs if outputs is not None else [self.fresh(stem)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.fresh(f"{stem}_node"),
                                           **attrs))
        return outs

    def one(self, op: str, inputs: list[str], stem: str, output: str | None = None,
            **attrs) -> str:
        return self.node(op, inputs, stem, None if output is None else [output], **attrs)[0]

    def squeeze(self, x: str, axes: list[int], stem: str, output: str | None = None) -> str:
        if self.opset >= 13:
            return self.one("Squeeze", [x, self.const("axes", axes, np.int64)], stem, output)
        return self.one("Squeeze", [x], stem, output, axes=axes)

    def unsqueeze(self, x: str, axes: list[int], stem: str) -> str:
        if self.opset >= 13:
            return self.one("Unsqueeze", [x, self.const("axes", axes, np.int64)], stem)
        return self.one("Unsqueeze", [x], stem, axes=axes)

    def slice0(self, x: str, start: int, end: int, stem: str) -> str:
        """x[start:end] along axis 0."""
        return self.one("Slice", [x, self.const("starts", [start], np.int64),
                                  self.const("ends", [end], np.int64),
                                  self.const("axes", [0], np.int64)], stem)

    def split4(self, x: str, stem: str) -> list[str]:
        outs = [self.fresh(f"{stem}_{g}") for g in "iofc"]
        if self.opset >= 18:
            return self.node("Split", [x], stem, outs, axis=1, num_outputs=4)
        return self.node("Split", [x], stem, outs, axis=1)


def _check(form: str, direction: str, states: str, outputs: tuple[str, ...],
           layers: int) -> None:
    if form not in FORMS:
        raise ValueError(f"form {form!r}: one of {FORMS}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: one of {DIRECTIONS}")
    if states not in STATES:
        raise ValueError(f"states {states!r}: one of {STATES}")
    if not outputs or any(o not in OUTPUTS for o in outputs):
        raise ValueError(f"outputs {outputs!r}: a non-empty subset of {OUTPUTS}")
    if layers < 1:
        raise ValueError(f"layers {layers} must be at least 1")


def lstm_model(input_size: int, hidden: int, seq_len: int, batch: int, layers: int = 1,
               form: str = "op", direction: str = "forward", states: str = "zeros",
               seed: int = 0, opset: int = 17,
               outputs: tuple[str, ...] = OUTPUTS) -> onnx.ModelProto:
    """A stacked LSTM over ``x`` ``[seq_len, batch, input_size]`` (module docstring)."""
    outputs = tuple(o for o in OUTPUTS if o in outputs)
    _check(form, direction, states, outputs, layers)
    dirs = 2 if direction == "bidirectional" else 1
    b = _Builder(opset)
    b.names.update(("x", "h0", "c0", *OUTPUTS))
    weights = lstm_weights(input_size, hidden, layers, direction, seed)
    build = _op_form if form == "op" else _cell_form
    y, y_h, y_c = build(b, weights, seq_len, batch, hidden, direction, states, outputs)
    results = {"y": y, "y_h": y_h, "y_c": y_c}
    for name in outputs:  # every output is computed under its own name
        assert results[name] == name, (name, results[name])
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("x", f, [seq_len, batch, input_size])]
    if states == "inputs":
        inputs += [helper.make_tensor_value_info(s, f, [layers * dirs, batch, hidden])
                   for s in ("h0", "c0")]
    shapes = {"y": [seq_len, dirs, batch, hidden], "y_h": [layers * dirs, batch, hidden],
              "y_c": [layers * dirs, batch, hidden]}
    graph = helper.make_graph(b.nodes, f"lstm_{form}", inputs,
                              [helper.make_tensor_value_info(o, f, shapes[o])
                               for o in outputs], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="qcc.testing.lstm_models")
    model.ir_version = min(model.ir_version, 8)  # what onnxruntime of 2023 on reads
    onnx.checker.check_model(model, full_check=True)
    return model


def _state_rows(b: _Builder, states: str, layer: int, dirs: int, layers: int
                ) -> tuple[str, str]:
    """A layer's [dirs, batch, h] rows of h0 and c0 ("" for zeros)."""
    if states == "zeros":
        return "", ""
    if layers == 1:
        return "h0", "c0"
    return tuple(b.slice0(s, layer * dirs, (layer + 1) * dirs, f"l{layer}_{s}")
                 for s in ("h0", "c0"))


def _op_form(b: _Builder, weights, seq: int, batch: int, hidden: int, direction: str,
             states: str, outputs: tuple[str, ...]) -> tuple[str, str, str]:
    dirs = 2 if direction == "bidirectional" else 1
    layers = len(weights)
    x = "x"
    hs, cs = [], []
    y = ""
    for layer, (w, r, bias) in enumerate(weights):
        last = layer == layers - 1
        h0, c0 = _state_rows(b, states, layer, dirs, layers)
        ins = [x, b.const(f"l{layer}_W", w), b.const(f"l{layer}_R", r),
               b.const(f"l{layer}_B", bias), "", h0, c0]
        while not ins[-1]:
            ins.pop()
        single = layers == 1

        def name(o: str, layer=layer, last=last, single=single) -> str:
            if o not in outputs and not (o == "y" and not last):
                return ""
            if single or (o == "y" and last):
                return o
            return b.fresh(f"l{layer}_{o}")
        outs = [name("y"), name("y_h"), name("y_c")]
        while not outs[-1]:
            outs.pop()
        b.node("LSTM", ins, f"l{layer}_lstm", outs, hidden_size=hidden, direction=direction)
        y = outs[0]
        hs.append(name_or(outs, 1))
        cs.append(name_or(outs, 2))
        if not last:  # the next layer reads Y without its direction axis
            if dirs == 1:
                x = b.squeeze(y, [1], f"l{layer}_y_squeeze")
            else:
                t = b.one("Transpose", [y], f"l{layer}_y_transpose", perm=[0, 2, 1, 3])
                x = b.one("Reshape", [t, b.const("shape", [0, 0, -1], np.int64)],
                          f"l{layer}_y_reshape")
    if layers > 1:
        for o, parts in (("y_h", hs), ("y_c", cs)):
            if o in outputs:
                b.one("Concat", parts, o, o, axis=0)
    return y, "y_h" if "y_h" in outputs else "", "y_c" if "y_c" in outputs else ""


def name_or(outs: list[str], k: int) -> str:
    return outs[k] if len(outs) > k else ""


def _cell_form(b: _Builder, weights, seq: int, batch: int, hidden: int, direction: str,
               states: str, outputs: tuple[str, ...]) -> tuple[str, str, str]:
    dirs = 2 if direction == "bidirectional" else 1
    # per time step, the layer's input [batch, features]
    xs = [b.squeeze(b.slice0("x", t, t + 1, f"x_t{t}"), [0], f"x_t{t}_squeeze")
          for t in range(seq)]
    finals_h, finals_c = [], []
    ys: list[list[str]] = []
    for layer, (w, r, bias) in enumerate(weights):
        ys = []
        for d in range(dirs):
            p = f"l{layer}" + ("" if dirs == 1 else ("_fw", "_bw")[d])
            wt = b.const(f"{p}_W_t", w[d].T)
            rt = b.const(f"{p}_R_t", r[d].T)
            wb = b.const(f"{p}_Wb", bias[d, :4 * hidden])
            rb = b.const(f"{p}_Rb", bias[d, 4 * hidden:])
            if states == "inputs":
                k = layer * dirs + d
                h, c = (b.squeeze(b.slice0(s, k, k + 1, f"{p}_{s}"), [0], f"{p}_{s}_squeeze")
                        for s in ("h0", "c0"))
            else:
                h = c = b.const(f"{p}_zeros", np.zeros((batch, hidden)))
            reverse = direction == "reverse" or d == 1
            hs: dict[int, str] = {}
            for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
                q = f"{p}_t{t}"
                xw = b.one("Add", [b.one("MatMul", [xs[t], wt], f"{q}_xw_matmul"), wb],
                           f"{q}_xw")
                hr = b.one("Add", [b.one("MatMul", [h, rt], f"{q}_hr_matmul"), rb],
                           f"{q}_hr")
                gi, go, gf, gc = b.split4(b.one("Add", [xw, hr], f"{q}_gates"), f"{q}_split")
                i = b.one("Sigmoid", [gi], f"{q}_i")
                o = b.one("Sigmoid", [go], f"{q}_o")
                f = b.one("Sigmoid", [gf], f"{q}_f")
                g = b.one("Tanh", [gc], f"{q}_g")
                c = b.one("Add", [b.one("Mul", [f, c], f"{q}_fc"),
                                  b.one("Mul", [i, g], f"{q}_ig")], f"{q}_c")
                h = b.one("Mul", [o, b.one("Tanh", [c], f"{q}_c_tanh")], f"{q}_h")
                hs[t] = h
            finals_h.append(h)
            finals_c.append(c)
            ys.append([hs[t] for t in range(seq)])
        # the next layer's input per step: h of each direction, side by side
        xs = [ys[0][t] if dirs == 1 else
              b.one("Concat", [ys[0][t], ys[1][t]], f"l{layer}_out_t{t}", axis=1)
              for t in range(seq)]
    y = y_h = y_c = ""
    if "y" in outputs:
        per_dir = [b.one("Concat", [b.unsqueeze(h, [0, 1], "y_step") for h in steps],
                         "y_dir", axis=0) for steps in ys]
        y = b.one("Concat", per_dir, "y", "y", axis=1)
    for o, finals in (("y_h", finals_h), ("y_c", finals_c)):
        if o in outputs:
            b.one("Concat", [b.unsqueeze(v, [0], f"{o}_part") for v in finals], o, o, axis=0)
    y_h = "y_h" if "y_h" in outputs else ""
    y_c = "y_c" if "y_c" in outputs else ""
    return y, y_h, y_c


def lstm_inputs(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """One standard-normal value of every input of ``model`` (x, and h0 / c0 scaled by
    0.5), for FP32 checks."""
    rng = np.random.default_rng(seed)
    out = {}
    for vi in model.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        scale = 1.0 if vi.name == "x" else 0.5
        out[vi.name] = (scale * rng.standard_normal(shape)).astype(np.float32)
    return out


def lstm_calibration(model: onnx.ModelProto, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Calibration data for ``model``: ``n`` sequences drawn as :func:`lstm_inputs`,
    stacked along axis 0 as qcc's calibration reads them (``{input: array}``, samples
    on axis 0, batches of the inputs' first dimension): ``x`` is ``[n * seq, batch,
    input]``, so each batch qcc forms is one whole sequence, and ``h0`` / ``c0``, if the
    model has them, ``[n * layers * dirs, batch, h]``. Save it with ``np.savez`` for
    ``--calib-data``."""
    parts = [lstm_inputs(model, seed + k) for k in range(n)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
