"""Benchmark scripts leave tracked files alone unless asked: by default their results
go to ./benchmark-results/ (git-ignored); only --update-docs writes docs/*.md and
benchmarks/results/*."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))


def _load(name: str):
    return load_script(ROOT / "benchmarks" / f"{name}.py", f"qcc_bench_paths_{name}")


def _tracked_state() -> dict[Path, bytes]:
    files = [*(ROOT / "docs").glob("*.md"), *(ROOT / "benchmarks" / "results").glob("*")]
    return {p: p.read_bytes() for p in files if p.is_file()}


def test_rendering_again_writes_outside_the_tracked_files(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    before = _tracked_state()
    monkeypatch.chdir(tmp_path)
    report = _load("transformers_report")
    assert report.main(["--doc-only"]) == 0  # reads the tracked results
    assert (tmp_path / "benchmark-results" / "transformers.md").read_text() == \
        report.markdown(json.loads(report.RESULTS.read_text()))
    perf = _load("perf")
    assert perf.main(["--render-only"]) == 0
    page = (tmp_path / "benchmark-results" / "performance.md").read_text()
    assert page.startswith("# Performance") and "--update-docs" in page
    assert _tracked_state() == before


def test_benchmark_results_are_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "benchmark-results/x.json"],
                             cwd=ROOT, capture_output=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0


@pytest.mark.parametrize("name", ["examples_tables", "explore_cluster", "ir_parse", "perf",
                                  "quant_accuracy", "tpu_targets", "transformers_report",
                                  "zoo_report"])
def test_scripts_that_write_docs_document_update_docs(name):
    assert f"{name}.py" in SCRIPTS
    text = (ROOT / "benchmarks" / f"{name}.py").read_text()
    doc = text.split('"""')[1]
    assert "--update-docs" in doc and "benchmark-results" in doc
