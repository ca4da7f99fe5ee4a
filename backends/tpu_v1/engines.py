"""Matrix engines: how the simulator computes one matrix-unit pass.

A pass multiplies input vectors (bytes from the Unified Buffer, int8 or uint8) by
the nonzero block of a weight tile (int8) and gives exact integer sums. Two engines
compute it, with the same results by construction and by test:

- ``numpy`` (the engines' reference): a float32 matrix product. 256 products of a byte
  (|x| <= 255) and an int8 weight (|w| <= 128), and every partial sum, stay below
  255 * 128 * 256 < 2^24, so float32 arithmetic is exact whatever the summation order.
- ``onnxruntime`` (optional, faster): onnxruntime's MatMulInteger with uint8 inputs
  and int8 weights, whose CPU kernels use the processor's int8 dot-product
  instructions. Signed inputs are offset by 128 (a flip of the top bit) and go in
  with zero point 128, which MatMulInteger takes off again. Consecutive passes into
  the same accumulator rows go in as one product over all their input lanes
  (``multiply_sum``); weights used a second time get a session of their own that
  holds them as a constant, which onnxruntime packs once. The sessions' worker
  threads do not spin while idle: with many sessions, spinning threads would take
  the processor from the one running (and from numpy, or another program, after a
  simulation).
  Some processors compute this product with 16-bit intermediate sums that saturate,
  so the engine is used only after a self-test with the extreme values agrees
  exactly with the reference.

``select_engine("auto")`` (the default) takes onnxruntime when it is installed and
passes its self-test, numpy otherwise; the simulator's ``auto`` also keeps numpy for
programs of less than ``simulator.AUTO_ENGINE_MACS`` multiply-accumulates, where
loading onnxruntime would take longer than it saves. onnxruntime runs with the thread count in
``OMP_NUM_THREADS`` when that is set (as for numpy's BLAS), its default otherwise.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable

import numpy as np

from qcc.diagnostics import QccError

ENGINES = ("auto", "numpy", "onnxruntime")
_ZERO_POINTS = {True: np.array(0, np.uint8), False: np.array(128, np.uint8)}


class NumpyEngine:
    name = "numpy"

    def multiply(self, x: np.ndarray, unsigned: bool, weights: np.ndarray,
                 weights_f32: np.ndarray) -> np.ndarray:
        """x: [rows, k] bytes; weights: [k, n] int8 (and the same as float32). Exact
        integer sums [rows, n] (here as float32)."""
        xf = x.astype(np.float32) if unsigned else x.view(np.int8).astype(np.float32)
        return xf @ weights_f32

    def multiply_sum(self, xs: list[np.ndarray], unsigned: bool,
                     weights: Callable[[], np.ndarray], cache: dict, key: tuple,
                     blocks: list[np.ndarray] | None = None) -> np.ndarray:
        """xs side by side (the input lanes of consecutive passes) times the stacked
        int8 weights ``weights()`` ([sum of xs widths, n], built once per ``key`` and
        kept in ``cache``): exact sums as int32 (the caller has bounded every partial
        sum to int32). One float32 product per pass's rows of the weights, each
        exact (at most 256 of them), added in int32; ``blocks``, when given, are
        those rows as float32 already (a tile's block), and nothing is cached."""
        chunks = blocks or cache.get(("float32", *key))
        if chunks is None:
            w = weights().astype(np.float32)
            edges = np.cumsum([0] + [x.shape[1] for x in xs])
            chunks = cache[("float32", *key)] = [w[a:b] for a, b in itertools.pairwise(edges)]
        total = None
        for x, w in zip(xs, chunks, strict=True):
            product = self.multiply(x, unsigned, None, w)
            if total is None:
                total = product.astype(np.int32)
            else:
                np.add(total, product, out=total, casting="unsafe")
        return total


class OnnxruntimeEngine:
    name = "onnxruntime"

    def __init__(self):
        import onnxruntime  # noqa: F401  (ImportError: the engine is unavailable)

        self.session = self._session(None)

    @staticmethod
    def _session(weights: np.ndarray | None):
        """A MatMulInteger session: weights as an input, or (``weights`` given) as a
        constant, which onnxruntime packs once for its kernels."""
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        inputs = [helper.make_tensor_value_info("x", TensorProto.UINT8, ["rows", "k"]),
                  helper.make_tensor_value_info("x_zero_point", TensorProto.UINT8, [])]
        constants = []
        if weights is None:
            inputs.append(helper.make_tensor_value_info("w", TensorProto.INT8, ["k", "n"]))
        else:
            constants.append(numpy_helper.from_array(weights, "w"))
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["x", "w", "x_zero_point"], ["y"])],
            "matrix_unit", inputs,
            [helper.make_tensor_value_info("y", TensorProto.INT32, ["rows", "n"])],
            constants)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit():
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        # every session has its own worker threads: spinning idle ones would take the
        # processor from the session running, and from numpy after a simulation
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])

    def multiply(self, x: np.ndarray, unsigned: bool, weights: np.ndarray,
                 weights_f32: np.ndarray) -> np.ndarray:
        if not x.shape[0]:
            return np.zeros((0, weights.shape[1]), np.int32)
        # a signed byte v goes in as the unsigned v + 128 with zero point 128
        a = x if unsigned else x ^ np.uint8(0x80)
        return self.session.run(None, {"x": np.ascontiguousarray(a), "w": weights,
                                       "x_zero_point": _ZERO_POINTS[unsigned]})[0]

    def multiply_sum(self, xs: list[np.ndarray], unsigned: bool,
                     weights: Callable[[], np.ndarray], cache: dict, key: tuple,
                     blocks: list[np.ndarray] | None = None) -> np.ndarray:
        """xs side by side times the stacked int8 weights ``weights()`` (built once per
        ``key``, kept in ``cache``) in one MatMulInteger, whose int32 sums are exact
        (the caller has bounded them to int32). From the weights' second use on, a
        session of their own holds them as a constant (packed once), so a program run
        once does not pay for building sessions."""
        entry = cache.get(key)
        if entry is None:
            entry = cache[key] = [np.ascontiguousarray(weights()), None]
        elif entry[1] is None:
            entry[1] = self._session(entry[0])
        x = np.concatenate(xs, axis=1) if len(xs) > 1 else xs[0]
        if not unsigned:
            x = np.bitwise_xor(x, np.uint8(0x80), out=x if len(xs) > 1 else None)
        if not x.shape[0]:
            return np.zeros((0, entry[0].shape[1]), np.int32)
        feed = {"x": np.ascontiguousarray(x), "x_zero_point": _ZERO_POINTS[unsigned]}
        if entry[1] is not None:
            return entry[1].run(None, feed)[0]
        feed["w"] = entry[0]
        return self.session.run(None, feed)[0]

    def self_test(self) -> bool:
        """Whether the engine agrees exactly with the reference on random values and
        on the extremes that saturate 16-bit intermediate sums."""
        rng = np.random.default_rng(0)
        cases = [(np.full((8, 256), 255, np.uint8), np.full((256, 256), v, np.int8))
                 for v in (127, -128)]
        cases.append((rng.integers(0, 256, (37, 256), dtype=np.uint8),
                      rng.integers(-128, 128, (256, 200), dtype=np.int8)))
        # a product over many tiles' lanes at once (multiply_sum), at the extremes
        cases += [(np.full((8, 2304), 255, np.uint8), np.full((2304, 64), v, np.int8))
                  for v in (127, -128)]
        reference = NumpyEngine()
        for x, w in cases:
            constant = self._session(w)  # the packed-constant path of multiply_sum
            for unsigned in (True, False):
                want = reference.multiply(x, unsigned, w, w.astype(np.float32))
                a = x if unsigned else x ^ np.uint8(0x80)
                packed = constant.run(None, {"x": a, "x_zero_point": _ZERO_POINTS[unsigned]})
                for got in (self.multiply(x, unsigned, w, None), packed[0]):
                    if not np.array_equal(got, want.astype(np.int64)):
                        return False
        return True


@functools.cache
def _onnxruntime_engine() -> OnnxruntimeEngine | None:
    try:
        engine = OnnxruntimeEngine()
    except ImportError:
        return None
    return engine if engine.self_test() else None


def select_engine(name: str | None = "auto") -> NumpyEngine | OnnxruntimeEngine:
    """The engine called ``name`` (``auto``, ``numpy`` or ``onnxruntime``)."""
    name = name or "auto"
    if name not in ENGINES:
        raise QccError(f"unknown matrix engine '{name}'; choose one of {', '.join(ENGINES)}")
    if name == "numpy":
        return NumpyEngine()
    engine = _onnxruntime_engine()
    if engine is not None:
        return engine
    if name == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise QccError("the onnxruntime matrix engine needs onnxruntime "
                           "(pip install onnxruntime); --engine numpy needs nothing "
                           "more") from None
        raise QccError("onnxruntime's MatMulInteger is not exact on this processor "
                       "(its self-test failed); use --engine numpy")
    return NumpyEngine()
