"""Packaging: every sub-package is in pyproject's package list, passes/ and backends/
are reached as qcc.passes / qcc.backends only, the core does not import passes or
backends, and ruff is clean."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SOURCE_DIRS = {"qcc": ROOT / "qcc", "qcc.passes": ROOT / "passes",
               "qcc.backends": ROOT / "backends"}


def _packages_on_disk() -> set[str]:
    found = set()
    for prefix, root in SOURCE_DIRS.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            found.add(".".join((prefix, *rel)))
    return found


def test_every_subpackage_is_listed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = _packages_on_disk()
    assert on_disk - listed == set(), "packages missing from pyproject.toml"
    assert listed - on_disk == set(), "pyproject.toml lists packages that do not exist"


def test_package_dirs():
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert dirs == {"qcc": "qcc", "qcc.passes": "passes", "qcc.backends": "backends"}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
    return out


def _python_files():
    for d in ("qcc", "passes", "backends", "tests", "examples", "benchmarks"):
        yield from (ROOT / d).rglob("*.py")


def test_no_bare_passes_or_backends_imports():
    bad = [f"{p.relative_to(ROOT)}:{line}: import {mod}" for p in _python_files()
           for mod, line in _imports(p) if mod.split(".")[0] in ("passes", "backends")]
    assert not bad, "import qcc.passes / qcc.backends instead:\n" + "\n".join(bad)


CORE_ALLOWED = {"cli.py", "driver.py", "__init__.py", "__main__.py"}


def test_core_does_not_import_passes_or_backends():
    """The core reaches passes and backends through registries only."""
    bad = []
    for p in (ROOT / "qcc").rglob("*.py"):
        rel = p.relative_to(ROOT / "qcc")
        if rel.parts[0] == "testing" or (len(rel.parts) == 1 and rel.name in CORE_ALLOWED):
            continue
        bad += [f"qcc/{rel}:{line}: {mod}" for mod, line in _imports(p)
                if mod.startswith(("qcc.passes", "qcc.backends"))]
    assert not bad, "core modules must not import passes/backends:\n" + "\n".join(bad)


def test_installed_package_layout():
    import qcc
    import qcc.backends
    import qcc.passes

    assert Path(qcc.passes.__file__).parent == ROOT / "passes"
    assert Path(qcc.backends.__file__).parent == ROOT / "backends"


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", "--quiet", str(ROOT)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
