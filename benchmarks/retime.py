"""Every golden and zoo model re-timed by an old and the current timing model: a table
of old vs new cycles with the counters that moved, and the reason for each large change.

    python benchmarks/retime.py                      # benchmark-results/cost-model-retime.md
    python benchmarks/retime.py --update-docs        # docs/cost-model-retime.md
    python benchmarks/retime.py --old REF --reasons reasons.json --models digits_cnn,resnet18

The old tree (``--old``, default 84a08b2: main before issue 18) is checked out into a
temporary ``git worktree`` (removed afterwards). Each side compiles and times the same
model files in its own subprocess, with PYTHONPATH (and an import hook, since qcc is
usually installed in editable mode) pointing at its tree: the old side is the old
compiler and the old timing model, the new side the working tree's.

Models: the goldens' example models (tests/golden/test_golden_models.py: every
examples/models/*.onnx at batch 8 from its stored calibration statistics, digits_cnn
on the 100-row Unified Buffer target, tiny_bert with its own inputs) and the zoo models
of examples/zoo.py, at their real sizes with ``--full`` (224 x 224, width 1, batch 1;
resnet18, resnet50 and mobilenet_v2 also at batch 8; mlp_large 2048 wide at batch
200: what docs/cost-model-retime.md shows), otherwise at small sizes to stay fast
(the variants of zoo_report.py's
``--quick``: resolution 32 and width 0.25, AlexNet at 64, VGG-16 at width 0.125;
mlp_large 256 wide at batch 8; batch 1 otherwise), built once into a scratch folder
and calibrated on one seeded standard-normal batch. ``--reasons FILE`` is a JSON
object ``{"model": "why its cycles changed"}`` (model as in the table's first
column); a large change (more than ``--large`` percent) without one says so.

Without ``--update-docs`` the page goes to ``benchmark-results/`` in the current
directory (git-ignored); ``--out`` names another file.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OLD = "84a08b2"  # main before issue 18
BATCH = 8  # the goldens'
#: the counters whose change the table shows (cycles), with their short headers
DELTAS = (("weight_stall_cycles", "d w-stall"), ("weight_shift_cycles", "d shift"),
          ("non_matrix_cycles", "d non-matrix"), ("host_stall_cycles", "d host stall"))
FIELDS = ("cycles", "array_active_cycles", "weight_stall_cycles", "weight_shift_cycles",
          "non_matrix_cycles", "raw_stall_cycles", "host_stall_cycles")
#: zoo models and their small variants (zoo_report.py --quick's, batch 1)
ZOO_SMALL = {"alexnet": dict(resolution=64, width=0.25),
             "alexnet_opset9": dict(resolution=64, width=0.25),
             "vgg16": dict(resolution=32, width=0.125),
             "mlp_large": dict(width=256, batch=BATCH)}
ZOO_DEFAULT = dict(resolution=32, width=0.25)


# ---------------------------------------------------------------------- the cases
def golden_cases(root: Path = ROOT) -> list[dict[str, Any]]:
    """The golden suite's models, compiled as tests/golden compiles them."""
    gold = root / "tests" / "golden"
    cases = []
    for onnx_file in sorted((root / "examples" / "models").glob("*.onnx")):
        name = onnx_file.stem
        stats = gold / "models" / name / "calibration.json"
        cases.append({"model": name, "kind": "golden", "path": str(onnx_file),
                      "stats": str(stats) if stats.exists() else None,
                      "calib": str(root / "examples" / "data" / "digits_calib.npz"),
                      "batch": BATCH, "target": "tpu-v1", "time_on": "tpu-v1"})
    ub100 = gold / "targets" / "tpu-v1-ub100.toml"
    if ub100.exists():
        stats = gold / "models" / "digits_cnn@tpu-v1-ub100" / "calibration.json"
        cases.append({"model": "digits_cnn@tpu-v1-ub100", "kind": "golden",
                      "path": str(root / "examples" / "models" / "digits_cnn.onnx"),
                      "stats": str(stats), "calib": None, "batch": BATCH,
                      "target": str(ub100), "time_on": None})
    bert = root / "examples" / "models" / "bert"
    if (bert / "tiny_bert.onnx").exists():
        cases.append({"model": "tiny_bert", "kind": "golden",
                      "path": str(bert / "tiny_bert.onnx"),
                      "stats": str(gold / "models" / "tiny_bert" / "calibration.json"),
                      "calib": str(bert / "tiny_bert_inputs.npz"), "batch": None,
                      "input_shapes": {"input_ids": [2, 16]}, "target": "tpu-v1",
                      "time_on": "tpu-v1"})
    return cases


#: --full: the zoo at the sizes users compile (docs/zoo.md's: 224 x 224, width 1,
#: batch 1), and the performance models also at batch 8, where row chunks and host
#: transfers matter
ZOO_FULL_BATCHES = {"resnet18": (1, 8), "resnet50": (1, 8), "mobilenet_v2": (1, 8)}


def zoo_cases(scratch: Path, names: list[str] | None = None, full: bool = False
              ) -> list[dict[str, Any]]:
    """The zoo's models, at small sizes (or, ``full``, at their real sizes), written
    to ``scratch`` with one seeded calibration batch each."""
    import numpy as np
    import onnx

    sys.path.insert(0, str(ROOT / "examples"))
    import zoo

    cases = []
    variants = []
    for name in names if names is not None else [*zoo.ORIGINAL, *zoo.CLASSICS]:
        if not full:
            variants.append((name, name, ZOO_SMALL.get(name, ZOO_DEFAULT)))
        elif name == "mlp_large":
            variants.append((name, name, {}))  # 2048 wide, batch 200
        else:
            for b in ZOO_FULL_BATCHES.get(name, (1,)):
                variants.append((name, name if b == 1 else f"{name} b{b}",
                                 dict(batch=b) if b > 1 else {}))
    for name, label, kwargs in variants:
        model = zoo.BUILDERS[name](seed=0, **kwargs)
        path = scratch / f"{label.replace(' ', '_')}.onnx"
        onnx.save(model, str(path))
        shape = zoo.input_shape(model)
        calib = scratch / f"{label.replace(' ', '_')}_calib.npz"
        np.savez(calib, input=np.random.default_rng(0).standard_normal(shape)
                 .astype(np.float32))
        size = ", ".join(f"{k} {v}" for k, v in kwargs.items() if k != "batch") or \
            "full size"
        cases.append({"model": f"zoo {label}", "kind": "zoo", "path": str(path),
                      "stats": None, "calib": str(calib), "batch": shape[0],
                      "input_shapes": {"input": shape}, "target": "tpu-v1",
                      "time_on": "tpu-v1", "size": size})
    return cases


# ---------------------------------------------------------------------- one side
def _use_tree(tree: Path) -> None:
    """Import qcc (and its qcc.passes, qcc.backends folders) from ``tree``, ahead of
    any installed copy (an editable install maps them with its own finder)."""
    import importlib.abc
    import importlib.util

    roots = {"qcc": tree / "qcc", "qcc.passes": tree / "passes",
             "qcc.backends": tree / "backends"}

    class TreeFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name in roots:
                return importlib.util.spec_from_file_location(
                    name, roots[name] / "__init__.py",
                    submodule_search_locations=[str(roots[name])])
            return None

    sys.meta_path.insert(0, TreeFinder())


def outputs_digest(compiled: Any, case: dict[str, Any], batch: int) -> str | None:
    """SHA-256 of the simulated program's outputs on the case's first ``batch`` data
    rows (the calibration file, or the golden digits data): the same on both sides
    when the timing model changed and the results did not."""
    import hashlib

    import numpy as np

    data = case.get("calib") or str(ROOT / "examples" / "data" / "digits_calib.npz")
    names = compiled.module.main.input_names
    with np.load(data) as z:
        inputs = {k: z[k][:batch] for k in names if k in z.files}
    if len(inputs) != len(names):
        return None
    outs = compiled.run(inputs)
    h = hashlib.sha256()
    for k in sorted(outs):
        h.update(k.encode() + np.ascontiguousarray(outs[k]).tobytes())
    return h.hexdigest()[:16]


def time_case(case: dict[str, Any]) -> dict[str, Any]:
    """Compile and time one case with the qcc imported now; errors are recorded."""
    import qcc

    out: dict[str, Any] = {"model": case["model"], "qcc": qcc.__file__}
    try:
        kwargs: dict[str, Any] = {"batch": case["batch"], "target": case["target"]}
        if case.get("input_shapes"):
            kwargs["input_shapes"] = {k: tuple(v) for k, v in case["input_shapes"].items()}
        if case["stats"]:
            kwargs["stats"] = case["stats"]
        else:
            kwargs["calib_data"] = case["calib"]
        compiled = qcc.compile(case["path"], **kwargs)
        report = compiled.estimate(case["time_on"]) if case["time_on"] else \
            compiled.estimate()
        out.update({f: float(getattr(report.total, f)) for f in FIELDS})
        out["target"] = report.target.name
        out["batch"] = report.batch
        out["outputs"] = outputs_digest(compiled, case, report.batch)
    except Exception as e:  # recorded: one model failing does not stop the others
        first = (str(e).strip().splitlines() or [""])[0]
        out["error"] = f"{type(e).__name__}: {first}"
    return out


def worker(tree: Path, cases_file: Path, result_file: Path) -> int:
    _use_tree(tree)
    cases = json.loads(cases_file.read_text())
    results = []
    for case in cases:
        print(f"retime: {tree.name}: {case['model']} ...", file=sys.stderr, flush=True)
        results.append(time_case(case))
        result_file.write_text(json.dumps(results, indent=1))
    return 0


def run_side(tree: Path, cases: list[dict[str, Any]], scratch: Path, label: str
             ) -> list[dict[str, Any]]:
    """Time ``cases`` with the qcc of ``tree``, each in its own subprocess (a full-size
    zoo compile holds gigabytes; one process for all of them grew past the machine's
    memory)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = []
    for n, case in enumerate(cases):
        cases_file = scratch / f"cases-{label}-{n}.json"
        result_file = scratch / f"result-{label}-{n}.json"
        cases_file.write_text(json.dumps([case]))
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker",
                               str(tree), "--cases", str(cases_file), "--result",
                               str(result_file)], env=env, cwd=scratch,
                              capture_output=True, text=True)
        got = json.loads(result_file.read_text()) if result_file.exists() else []
        if proc.returncode != 0 or not got:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            got = [{"model": case["model"], "error": f"the {label} side's process "
                    f"failed (exit {proc.returncode}): {tail[0]}"}]
        done += got
    return done


class OldTree:
    """``git worktree add --detach`` of ``ref`` into a temporary folder; removed on
    exit."""

    def __init__(self, ref: str, repo: Path = ROOT):
        self.ref, self.repo = ref, repo
        self.path = Path(tempfile.mkdtemp(prefix="qcc-retime-")) / "old"

    def __enter__(self) -> Path:
        proc = subprocess.run(["git", "-C", str(self.repo), "worktree", "add", "--detach",
                               str(self.path), self.ref], capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(self.path.parent, ignore_errors=True)
            msg = (proc.stderr.strip().splitlines() or ["git failed"])[-1]
            raise SystemExit(f"error: cannot check out --old {self.ref!r}: {msg}")
        return self.path

    def __exit__(self, *exc) -> None:
        subprocess.run(["git", "-C", str(self.repo), "worktree", "remove", "--force",
                        str(self.path)], capture_output=True)
        subprocess.run(["git", "-C", str(self.repo), "worktree", "prune"],
                       capture_output=True)
        shutil.rmtree(self.path.parent, ignore_errors=True)  # the temporary folder


# ---------------------------------------------------------------------- the page
def load_reasons(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise SystemExit(f"error: --reasons {path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: --reasons {path}: not JSON: {e.msg} at line "
                         f"{e.lineno}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in data.items()):
        raise SystemExit(f"error: --reasons {path}: expected a JSON object of model "
                         "name -> reason text")
    return data


def rows(cases: list[dict], old: list[dict], new: list[dict], reasons: dict[str, str],
         large: float) -> list[dict[str, Any]]:
    """One row per case: old and new cycles, ratio, counter deltas, reason."""
    out = []
    for case, o, n in zip(cases, old, new, strict=True):
        row: dict[str, Any] = {"model": case["model"], "kind": case["kind"],
                               "target": n.get("target") or o.get("target") or "?",
                               "batch": n.get("batch") or o.get("batch") or case["batch"],
                               "old": o, "new": n}
        if "error" in o or "error" in n:
            row["ratio"] = None
            row["reason"] = "; ".join(f"{side}: {r['error']}" for side, r in
                                      (("old", o), ("new", n)) if "error" in r)
        else:
            row["ratio"] = n["cycles"] / o["cycles"] if o["cycles"] else None
            row["deltas"] = {f: n[f] - o[f] for f, _ in DELTAS}
            changed = row["ratio"] is not None and abs(row["ratio"] - 1) * 100 > large
            if case["model"] in reasons:
                row["reason"] = reasons[case["model"]]
            elif changed:
                f, d = max(row["deltas"].items(), key=lambda kv: abs(kv[1]))
                row["reason"] = (f"**no reason given** (--reasons); the largest counter "
                                 f"change: {dict(DELTAS)[f][2:]} {d:+,.0f} cycles")
            else:
                row["reason"] = ""
        ho, hn = o.get("outputs"), n.get("outputs")
        row["outputs"] = "-" if ho is None or hn is None else \
            "same" if ho == hn else "**differ**"
        out.append(row)
    return out


def outputs_summary(table: list[dict[str, Any]]) -> str:
    """The sentence on results: the timing model changes time, never outputs."""
    compared = [r for r in table if r["outputs"] != "-"]
    same = sum(r["outputs"] == "same" for r in compared)
    return (f"**Outputs:** the simulated program's outputs (SHA-256 of every output on "
            f"the first batch of each model's data) are identical old and new on {same} "
            f"of {len(compared)} models compared"
            + (f" ({len(table) - len(compared)} not compared: no data or an error)"
               if len(compared) < len(table) else "") + ".")


def markdown(table: list[dict[str, Any]], command: str, old_ref: str, seconds: float,
             large: float) -> str:
    heads = " | ".join(h for _, h in DELTAS)
    lines = ["# Every golden and zoo model re-timed", "",
             f"Generated by `{command}` in {seconds:.0f} s: the old side is `{old_ref}` "
             "(its compiler and timing model), the new side this tree; each side compiles "
             "the same model files. Cycles end to end on the target named (host transfers "
             "included). The `d` columns are new - old cycles of the TPU paper's counters "
             f"(docs/cost-model.md §3); a change of more than {large:g}% needs a reason.",
             "", outputs_summary(table), "",
             "| model | target | batch | old cycles | new cycles | new / old | "
             f"{heads} | outputs | reason |",
             "|---|---|---:|---:|---:|---:|" + "---:|" * len(DELTAS) + ":-:|---|"]
    for r in table:
        o, n = r["old"], r["new"]
        if r["ratio"] is None:
            cells = [f"{o['cycles']:,.0f}" if "cycles" in o else "error",
                     f"{n['cycles']:,.0f}" if "cycles" in n else "error", "-"] + \
                ["-"] * len(DELTAS)
        else:
            cells = [f"{o['cycles']:,.0f}", f"{n['cycles']:,.0f}", f"{r['ratio']:.3f}"] + \
                [f"{r['deltas'][f]:+,.0f}" for f, _ in DELTAS]
        lines.append(f"| {r['model']} | {r['target']} | {r['batch']} | "
                     + " | ".join(cells) + f" | {r['outputs']} | {r['reason']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", default=OLD, metavar="REF",
                   help=f"the old tree's git ref (default {OLD}, main before issue 18)")
    p.add_argument("--reasons", metavar="FILE.json",
                   help="a JSON object: model -> why its cycles changed")
    p.add_argument("--models", metavar="M1,M2", help="only these models (table names; "
                   "zoo models by their zoo name)")
    p.add_argument("--no-zoo", action="store_true", help="the golden models only")
    p.add_argument("--full", action="store_true",
                   help="the zoo at its real sizes (224 x 224, width 1; batch 1, and 8 for "
                        "resnet18/resnet50/mobilenet_v2; mlp_large 2048 wide at batch 200) "
                        "instead of the small variants (a few minutes)")
    p.add_argument("--large", type=float, default=5.0,
                   help="a change above this percent needs a reason (default 5)")
    p.add_argument("--update-docs", action="store_true",
                   help="write docs/cost-model-retime.md (tracked)")
    p.add_argument("--out", metavar="FILE.md",
                   help="the page (default: benchmark-results/cost-model-retime.md)")
    p.add_argument("--worker", metavar="TREE", help=argparse.SUPPRESS)
    p.add_argument("--cases", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(Path(args.worker), Path(args.cases), Path(args.result))
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/retime.py", *map(shlex.quote, given)])
    reasons = load_reasons(args.reasons)
    out = Path(args.out).resolve() if args.out else \
        ROOT / "docs" / "cost-model-retime.md" if args.update_docs else \
        Path("benchmark-results").resolve() / "cost-model-retime.md"
    start = time.perf_counter()
    wanted = set(args.models.split(",")) if args.models else None
    scratch = Path(tempfile.mkdtemp(prefix="qcc-retime-cases-"))
    atexit.register(shutil.rmtree, scratch, True)
    cases = [c for c in golden_cases() if wanted is None or c["model"] in wanted]
    if not args.no_zoo:
        sys.path.insert(0, str(ROOT / "examples"))
        import zoo

        names = [z for z in [*zoo.ORIGINAL, *zoo.CLASSICS]
                 if wanted is None or z in wanted or f"zoo {z}" in wanted]
        cases += zoo_cases(scratch, names, full=args.full)
    if not cases:
        raise SystemExit("error: no models to time (--models matched none)")
    with OldTree(args.old) as tree:
        old = run_side(tree, cases, scratch, "old")
    new = run_side(ROOT, cases, scratch, "new")
    table = rows(cases, old, new, reasons, args.large)
    seconds = time.perf_counter() - start
    text = markdown(table, command, args.old, seconds, args.large)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out} in {seconds:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
