"""Pipelines print back as written; bad pipelines and bad pass definitions give clear
errors; the pass manager verifies, stops, times and counts."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import pytest

from qcc.diagnostics import QccError
from qcc.driver import load
from qcc.passmanager import (
    Instrumentation,
    Pass,
    PassContext,
    Pipeline,
    get_pass,
    register_pass,
)
from qcc.testing.models import cnn


@register_pass
@dataclass(frozen=True)
class OptionsDemo(Pass):
    """A pass with every kind of option (registered by this test)."""

    name = "test-options-demo"
    count: int = 3
    ratio: float = 0.5
    enabled: bool = False
    label: str = "x"
    mode: Literal["fast", "exact"] = "fast"
    exclude: tuple[str, ...] = ()

    def run(self, module, ctx):
        ctx.stat("runs")


@pytest.mark.parametrize("text", [
    "",
    "dce",
    "canonicalize,dce",
    "constant-fold{max-elements=10}",
    "test-options-demo{count=5 ratio=0.25 enabled=true label=hello mode=exact exclude=a,b}",
    'test-options-demo{label="with space" mode=fast}',
    "test-options-demo{exclude=conv1},dce,test-options-demo{enabled=false}",
])
def test_pipeline_prints_back(text):
    assert str(Pipeline.parse(text)) == text


def test_pipeline_normalizes_spacing():
    assert str(Pipeline.parse(" dce , test-options-demo{ count=1  ratio=2.0 } ")) == \
        "dce,test-options-demo{count=1 ratio=2.0}"


def test_options_reach_the_pass():
    entry = Pipeline.parse("test-options-demo{count=7 exclude=a,b mode=exact}").entries[0]
    p = entry.instantiate()
    assert (p.count, p.exclude, p.mode, p.ratio) == (7, ("a", "b"), "exact", 0.5)


@pytest.mark.parametrize(("text", "message", "col"), [
    ("dce,nope", "unknown pass 'nope'", 5),
    ("dce,", "expected a pass name, found end of input", 5),
    ("dce dce", "expected ',' between passes", 5),
    ("test-options-demo{count=x}", "bad value 'x' for option 'count'", 25),
    ("test-options-demo{mode=slow}", "expected one of fast, exact", 24),
    ("test-options-demo{enabled=maybe}", "expected true or false", 27),
    ("test-options-demo{bogus=1}", "pass 'test-options-demo' has no option 'bogus'", 19),
    ("test-options-demo{count=1 count=2}", "option 'count' given twice", 27),
    ("test-options-demo{count}", "expected '=' after option 'count'", 24),
    ('test-options-demo{label="open}', "unterminated string", 25),
    ("test-options-demo{count=1", "expected an option name", 26),
])
def test_pipeline_errors(text, message, col):
    with pytest.raises(QccError) as e:
        Pipeline.parse(text)
    assert message in e.value.message
    assert e.value.loc.col == col
    assert "<pipeline>:1:" in e.value.format() and "^" in e.value.format()


def test_add_by_name_and_option():
    p = Pipeline().add("canonicalize").add("constant-fold", max_elements=8)
    assert str(p) == "canonicalize,constant-fold{max-elements=8}"
    with pytest.raises(QccError, match="has no option 'nope'"):
        Pipeline().add("dce", nope=1)


def test_register_pass_rejects_bad_definitions():
    class NotFrozen(Pass):  # not a dataclass of its own
        name = "test-not-frozen"

    with pytest.raises(TypeError, match="frozen dataclass"):
        register_pass(NotFrozen)

    @dataclass(frozen=True)
    class BadName(Pass):
        name = "Bad_Name"

    with pytest.raises(ValueError, match="kebab-case"):
        register_pass(BadName)

    @dataclass(frozen=True)
    class Duplicate(Pass):
        name = "dce"

    with pytest.raises(ValueError, match="already registered"):
        register_pass(Duplicate)

    @dataclass(frozen=True)
    class BadOption(Pass):
        name = "test-bad-option"
        weights: dict = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="unsupported type"):
        register_pass(BadOption)


def test_instrumentation_and_statistics():
    module = load_cnn()
    stream = io.StringIO()
    ctx = PassContext()
    inst = Instrumentation(print_ir_after=("fold-batchnorm",), stop_after="fold-batchnorm",
                           time_passes=True, pass_statistics=True, stream=stream)
    Pipeline.parse("canonicalize,fold-batchnorm,test-options-demo").run(module, ctx, inst)
    out = stream.getvalue()
    assert out.count("IR Dump After") == 1
    assert "Pass execution timing report" in out
    assert ctx.statistics["fold-batchnorm"] == {"batchnorms-folded": 3}
    assert "test-options-demo" not in ctx.statistics  # stopped before it


def load_cnn():
    from qcc.frontend import import_onnx

    return import_onnx(cnn())


def test_get_pass():
    assert get_pass("dce").name == "dce"
    with pytest.raises(KeyError):
        get_pass("nope")


def test_example_load(tmp_path):
    module = load(__import__("pathlib").Path(__file__).resolve().parents[2] /
                  "examples" / "models" / "mlp.onnx")
    assert module.main.input_names == ["input"]
