"""The ONNX backend node test cases, run through the importer and the interpreter.

Every case of ``onnx.backend.test.loader.load_model_tests(kind="node")`` whose nodes
all have a qcc converter is imported and executed on its data sets; each output must
match the reference (same shape and dtype; float32 with ``assert_allclose`` at the case's
rtol and atol, int64 / int32 / bool exactly). A case that cannot pass is listed in
``expected_failures.txt`` as

    test_name: category: specific reason

and must really fail, at import, with a QccError of that category (see
``CATEGORIES``); a listed case that passes is an error, so the list stays honest.

qcc reads some inputs at import time (Reshape shapes, Clip bounds, Pad pads, Squeeze
and Unsqueeze axes, Dropout ratio...) and requires them to be constants, while many
node cases feed them as graph inputs. Such a case must first fail with exactly that
error; it is then imported again with those inputs frozen into initializers holding
the data set's values, and that model must pass (or fail as listed). The summary
test counts both kinds of passes separately; run with ``-s`` to see it.
"""

from __future__ import annotations

import collections
import functools
import re
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.backend.test.case.test_case import TestCase as NodeCase
from onnx.backend.test.loader import load_model_tests

from qcc.diagnostics import QccError
from qcc.frontend import import_onnx
from qcc.frontend.onnx_ops import CONSTANT_INPUTS, CONVERTERS
from qcc.interpreter import run

EXPECTED_FAILURES_FILE = Path(__file__).with_name("expected_failures.txt")

#: category of an expected failure -> pattern its QccError message must match
CATEGORIES: dict[str, str] = {
    # an input or output of another element type than float32
    "dtype": r"has element type (?!float32\b)\w+; qcc imports float32 models",
    # sequence or optional graph inputs
    "non-tensor": r"graph input '[^']*' is not a tensor",
    # 1-D or 3-D windows: qcc lowers 2-D (NCHW) convolution and pooling only
    "spatial-rank": r"unsupported \d+-D \w+: qcc supports 2-D \(NCHW\) inputs only",
    # an attribute value the frontend rejects on purpose
    "attribute": r"unsupported value .* of attribute '\w+'",
    # training-mode BatchNormalization / Dropout
    "training": r"training_mode",
    # optional outputs qcc does not compute (Dropout mask, MaxPool indices)
    "extra-output": r"the \w+ output '[^']*' of \w+ is unsupported",
    # cases written for an opset older than qcc reads or converts
    "opset": r"opset \d+ is not supported",
    # an optional input the frontend rejects on purpose (LSTM peepholes)
    "optional-input": r"\('[^']*', input \d+\) are unsupported",
}
_CONSTANT_INPUT_ERROR = re.compile(r"must be a constant \(an initializer or a Constant node\)")
_DEFAULT_DOMAINS = ("", "ai.onnx")


# --------------------------------------------------------------------------- the cases


@functools.cache
def all_cases() -> tuple[NodeCase, ...]:
    """Every node test case, generated once per session (about 5 s)."""
    with warnings.catch_warnings():  # the generators overflow casts etc. on purpose
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return tuple(load_model_tests(kind="node"))


def is_supported(case: NodeCase) -> bool:
    return all(n.domain in _DEFAULT_DOMAINS and n.op_type in CONVERTERS
               for n in case.model.graph.node)


@functools.cache
def selected_cases() -> dict[str, NodeCase]:
    return {c.name: c for c in all_cases() if is_supported(c)}


@functools.cache
def expected_failures() -> dict[str, tuple[str, str]]:
    """name -> (category, full reason) from expected_failures.txt."""
    listed: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(EXPECTED_FAILURES_FILE.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{EXPECTED_FAILURES_FILE.name}:{number}"
        name, sep, reason = (part.strip() for part in line.partition(":"))
        category = reason.partition(":")[0].strip()
        assert sep and name and reason, f"{where}: expected 'test_name: category: reason'"
        assert category in CATEGORIES, (f"{where}: unknown category {category!r}; "
                                        f"known: {', '.join(CATEGORIES)}")
        assert name not in listed, f"{where}: {name} is listed twice"
        listed[name] = (category, reason)
    return listed


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    """What happened to one case."""

    status: str  # "passed", "passed-frozen", "import-error", "crash", "mismatch"
    message: str = ""
    frozen: tuple[str, ...] = ()  # graph inputs frozen into initializers


def import_time_inputs(model: onnx.ModelProto) -> set[str]:
    """Graph inputs that some node reads at import time (shapes, axes, pads...)."""
    names = {vi.name for vi in model.graph.input}
    return {n.input[i] for n in model.graph.node for i in CONSTANT_INPUTS.get(n.op_type, ())
            if i < len(n.input) and n.input[i] in names}


def freeze(model: onnx.ModelProto, inputs: list[np.ndarray],
           names: set[str]) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs ``names`` are initializers holding the data."""
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    graph = frozen.graph
    kept = []
    for vi, array in zip(model.graph.input, inputs, strict=True):
        if vi.name in names:
            if isinstance(array, onnx.TensorProto):  # types numpy lacks (int4, float8...)
                tensor = onnx.TensorProto()
                tensor.CopyFrom(array)
                tensor.name = vi.name
                graph.initializer.append(tensor)
            else:
                graph.initializer.append(numpy_helper.from_array(np.asarray(array), vi.name))
        else:
            kept.append(vi)
    del graph.input[:]
    graph.input.extend(kept)
    return frozen


def batch_of(model: onnx.ModelProto, inputs: list[np.ndarray]) -> int:
    """The batch of the first graph input whose first dimension is dynamic (else 1)."""
    for vi, array in zip(model.graph.input, inputs, strict=False):
        dims = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
        if dims and not dims[0].HasField("dim_value") and np.ndim(array) > 0:
            return max(int(np.shape(array)[0]), 1)
    return 1


def check_data_set(model: onnx.ModelProto, inputs: list, outputs: list,
                   case: NodeCase) -> None:
    """Import ``model`` and compare its outputs on one data set; raises on failure."""
    module = import_onnx(model, batch=batch_of(model, inputs))
    names = [vi.name for vi in model.graph.input]
    results = run(module, dict(zip(names, inputs, strict=True)))
    for vi, expected in zip(model.graph.output, outputs, strict=True):
        got = results[vi.name]
        want = np.asarray(expected).dtype  # float32, or int64 / int32 / bool (issue 16)
        assert got.dtype == want, f"output {vi.name!r} has dtype {got.dtype}, expected {want}"
        assert got.shape == np.shape(expected), \
            f"output {vi.name!r} has shape {got.shape}, expected {np.shape(expected)}"
        if want.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=case.atol,
                                       err_msg=f"output {vi.name!r}")
        else:
            np.testing.assert_array_equal(got, expected, err_msg=f"output {vi.name!r}")


def _attempt(case: NodeCase, frozen: set[str]) -> Outcome | None:
    """None when every data set passes, else what went wrong."""
    model = case.model
    for inputs, outputs in case.data_sets:
        fed = [a for vi, a in zip(model.graph.input, inputs, strict=True)
               if vi.name not in frozen]
        try:
            check_data_set(freeze(model, inputs, frozen) if frozen else model, fed, outputs,
                           case)
        except QccError as e:
            return Outcome("import-error", e.message, tuple(sorted(frozen)))
        except AssertionError as e:
            return Outcome("mismatch", str(e), tuple(sorted(frozen)))
        except Exception:
            return Outcome("crash", traceback.format_exc(), tuple(sorted(frozen)))
    return None


@functools.cache
def outcome(name: str) -> Outcome:
    """Run one selected case (once per session: the summary reuses the result)."""
    case = selected_cases()[name]
    with np.errstate(all="ignore"):
        failed = _attempt(case, set())
        if failed is None:
            return Outcome("passed")
        frozen = import_time_inputs(case.model)
        if failed.status != "import-error" or not frozen or \
                not _CONSTANT_INPUT_ERROR.search(failed.message):
            return failed
        return _attempt(case, frozen) or Outcome("passed-frozen",
                                                             frozen=tuple(sorted(frozen)))


def _describe(result: Outcome) -> str:
    frozen = f" (with inputs {', '.join(result.frozen)} frozen)" if result.frozen else ""
    return f"{result.status}{frozen}: {result.message}"


def verdict(name: str) -> tuple[str, str]:
    """("passed" | "passed-frozen" | "expected-failure" | "error", detail) of one case."""
    result = outcome(name)
    listed = expected_failures().get(name)
    file = EXPECTED_FAILURES_FILE.name
    if listed is None:
        if result.status.startswith("passed"):
            return result.status, ""
        return "error", (f"{name} fails (fix qcc, or list it in {file} if qcc does not "
                         f"support it): {_describe(result)}")
    category, reason = listed
    if result.status.startswith("passed"):
        return "error", f"{name} passes: remove it from {file}"
    if result.status != "import-error" or not re.search(CATEGORIES[category], result.message):
        return "error", (f"{name} is listed in {file} as '{category}' ({reason}) but fails "
                         f"in another way: {_describe(result)}")
    return "expected-failure", reason


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(selected_cases()))
def test_node_case(name: str) -> None:
    kind, detail = verdict(name)
    if kind == "error":
        pytest.fail(detail, pytrace=False)
    if kind == "expected-failure":
        pytest.xfail(detail)


def test_expected_failures_are_selected_cases() -> None:
    stale = sorted(set(expected_failures()) - set(selected_cases()))
    assert not stale, (f"{EXPECTED_FAILURES_FILE.name} lists cases that are not selected "
                       f"node cases: {', '.join(stale)}")


def test_summary() -> None:
    cases, selected, listed = all_cases(), selected_cases(), expected_failures()
    verdicts = {name: verdict(name) for name in selected}
    count = collections.Counter(kind for kind, _ in verdicts.values())
    by_category = collections.Counter(listed[name][0] for name, (kind, _) in verdicts.items()
                                      if kind == "expected-failure")
    lines = [
        "ONNX node test cases:",
        f"  total:                    {len(cases)}",
        f"  selected (all ops known): {len(selected)}",
        f"  passed:                   {count['passed'] + count['passed-frozen']}"
        f" ({count['passed']} as is, {count['passed-frozen']} with import-time inputs frozen)",
        f"  expected failures:        {count['expected-failure']}",
        *(f"    {category + ':':24}{n}" for category, n in sorted(by_category.items())),
        f"  errors:                   {count['error']}",
    ]
    print("\n" + "\n".join(lines))
    assert len(selected) == sum(is_supported(c) for c in cases) <= len(cases)
    assert set(listed) <= set(selected)
    errors = [detail for kind, detail in verdicts.values() if kind == "error"]
    assert not errors, f"{len(errors)} cases fail:\n" + "\n".join(errors)
    assert count["expected-failure"] == len(listed)
    assert count["passed"] + count["passed-frozen"] + len(listed) == len(selected)
