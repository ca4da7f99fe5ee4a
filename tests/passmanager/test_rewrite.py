"""The pattern driver (qcc/rewrite.py): worklist-driven, the same rewrites as sweeping
the whole graph until nothing changes, work linear in the graph's size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qcc.rewrite
from qcc import driver
from qcc.diagnostics import QccError
from qcc.dialects import nn
from qcc.ir import Graph, Module, Rewriter, TensorType, f32, verify
from qcc.passes.canonicalize import Canonicalize
from qcc.passmanager import PassContext, Pipeline
from qcc.rewrite import USERS_DEPTH, Pattern, apply_patterns
from qcc.testing.golden import parse_run_line, split_input_file
from qcc.testing.graphs import chain_of_blocks
from qcc.text import parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_PASSES = ROOT / "tests" / "golden" / "passes"
STATS = ROOT / "benchmarks" / "results" / "identity"
T = TensorType((2, 3), f32)


def sweep_until_unchanged(graph: Graph, patterns: list[Pattern], max_sweeps: int = 64,
                          counts: dict[str, int] | None = None, work=None) -> int:
    """The driver before the worklist: sweep every op, again and again, until a sweep
    changes nothing (the reference the worklist driver must agree with)."""
    rw = Rewriter(graph)
    total = 0
    for _ in range(max_sweeps):
        changed = 0
        for op in graph.walk():
            if op.graph is not graph:
                continue
            for p in patterns:
                if isinstance(op, p.op_class) and p.fn(op, rw):
                    changed += 1
                    if counts is not None:
                        counts[p.name] = counts.get(p.name, 0) + 1
                    break
        total += changed
        if not changed:
            return total
    raise QccError("did not converge")


def run_both(monkeypatch, module: Module, pipeline: str | Pipeline,
             ctx_data: dict | None = None) -> tuple[list[str], list[str]]:
    """IR text after every pass, with the worklist driver and with sweeping."""
    texts = []
    for driver_fn in (apply_patterns, sweep_until_unchanged):
        monkeypatch.setattr(qcc.rewrite, "apply_patterns", driver_fn)
        m = module.clone()
        pipe = Pipeline.parse(pipeline) if isinstance(pipeline, str) else pipeline
        dumps = []
        ctx = PassContext(dict(ctx_data or {}))
        for entry in pipe.entries:
            Pipeline([entry]).run(m, ctx)
            dumps.append(f"{entry}\n{print_module(m)}{sorted(ctx.statistics.items())}")
        texts.append(dumps)
    monkeypatch.undo()
    return texts[0], texts[1]


def _golden_cases():
    for path in sorted(GOLDEN_PASSES.glob("*.mlir")):
        for k, (chunk, _start) in enumerate(split_input_file(path.read_text())):
            yield pytest.param(path, chunk, id=f"{path.stem}-{k}")


@pytest.mark.parametrize(("path", "chunk"), list(_golden_cases()))
def test_worklist_gives_the_ir_of_sweeping_on_the_pass_goldens(monkeypatch, path, chunk):
    pipeline = parse_run_line(path.read_text())
    worklist, sweeps = run_both(monkeypatch, parse_module(chunk), pipeline)
    assert worklist == sweeps


@pytest.mark.parametrize("model", ["depthwise_cnn", "digits_mlp"])
def test_worklist_gives_the_ir_of_sweeping_on_models(monkeypatch, model):
    module = driver.load(ROOT / "examples" / "models" / f"{model}.onnx", batch=8)
    pipeline = driver.quantization_pipeline(stats=str(STATS / f"{model}.stats.json"))
    worklist, sweeps = run_both(monkeypatch, module, pipeline)
    assert len(worklist) == len(pipeline.entries)
    for a, b in zip(worklist, sweeps, strict=True):
        assert a == b, a.split("\n", 1)[0]


# --------------------------------------------------------------------------- work


def work_on(ops: int) -> dict[str, int]:
    g = chain_of_blocks(ops)
    work: dict[str, int] = {}
    rewrites = apply_patterns(g, list(Canonicalize.patterns), work=work)
    assert rewrites == 5 * (ops // 6)  # 5 rewrites per block
    assert [op.name for op in g.ops] == ["nn.relu"] * (ops // 6) + ["func.return"]
    verify(Module([g]))
    return work


def test_pattern_application_grows_linearly():
    small, medium, large = work_on(2_500), work_on(5_000), work_on(10_000)
    # rounds: the first visit, the second rewrites of each block, the confirming visit
    assert small["rounds"] == medium["rounds"] == large["rounds"] == 3
    for key in ("visits", "calls"):
        assert medium[key] <= 2.5 * small[key], key
        assert large[key] <= 2.5 * medium[key], key
    # each op is looked at a bounded number of times
    assert large["visits"] <= 2 * 10_000


def test_a_pattern_that_looks_far_is_still_applied():
    """A rewrite enables a pattern further away than the driver re-visits: the
    confirming visit of every op applies it."""
    g = Graph("main")
    v = g.add_arg(T, "x")
    top = g.append(nn.TanhOp.build(v))
    v = top.result
    for _ in range(USERS_DEPTH + 3):
        v = g.append(nn.ReluOp.build(v)).result
    bottom = g.append(nn.LeakyReluOp.build(v))
    g.set_outputs([bottom.result], ["y"])

    def leaky_to_sigmoid(op, rw):
        new = rw.insert_before(op, nn.SigmoidOp.build(op.input, loc=op.loc))
        rw.replace_op(op, [new.result])
        return True

    def tanh_above_sigmoid(op, rw):  # looks down the chain to its end
        v = op.result
        while v.users and not isinstance(v.users[0], nn.SigmoidOp):
            v = v.users[0].results[0] if v.users[0].results else None
            if v is None:
                return False
        if not v.users:
            return False
        new = rw.insert_before(op, nn.SigmoidOp.build(op.input, loc=op.loc))
        rw.replace_op(op, [new.result])
        return True

    work: dict[str, int] = {}
    counts: dict[str, int] = {}
    apply_patterns(g, [Pattern(nn.LeakyReluOp, leaky_to_sigmoid),
                       Pattern(nn.TanhOp, tanh_above_sigmoid)], counts=counts, work=work)
    assert counts == {"leaky-to-sigmoid": 1, "tanh-above-sigmoid": 1}
    assert [op.name for op in g.ops][:2] == ["nn.sigmoid", "nn.relu"]
    assert work["rounds"] >= 3  # the full visit, the neighbourhood, the confirming visit


def test_rewriting_that_never_converges_is_an_error():
    g = Graph("main")
    x = g.add_arg(T, "x")
    g.set_outputs([g.append(nn.ReluOp.build(x)).result], ["y"])

    def swap(cls):
        def fn(op, rw):
            new = rw.insert_before(op, cls.build(op.input, loc=op.loc))
            rw.replace_op(op, [new.result])
            return True
        return fn

    with pytest.raises(QccError, match="did not converge in 5 sweeps"):
        apply_patterns(g, [Pattern(nn.ReluOp, swap(nn.TanhOp)),
                           Pattern(nn.TanhOp, swap(nn.ReluOp))], max_sweeps=5)


def test_a_pattern_that_undoes_its_change_and_says_no_ends():
    g = Graph("main")
    x = g.add_arg(T, "x")
    g.set_outputs([g.append(nn.ReluOp.build(x)).result], ["y"])

    def try_and_undo(op, rw):
        rw.erase(rw.insert_before(op, nn.TanhOp.build(op.input)))
        return False

    work: dict[str, int] = {}
    assert apply_patterns(g, [Pattern(nn.ReluOp, try_and_undo)], work=work) == 0
    assert work == {"rounds": 1, "visits": 2, "calls": 1}


# --------------------------------------------------------------------------- layering


def test_rewrite_imports_no_dialect():
    tree = ast.parse((ROOT / "qcc" / "rewrite.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
            assert not any(n.startswith("qcc.dialects") for n in names), names
