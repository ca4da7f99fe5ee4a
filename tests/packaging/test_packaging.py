"""Packaging: every sub-package is in pyproject's package list, passes/ and backends/
are reached as qcc.passes / qcc.backends only, every module imports only its own
layer and those below (core < passes < backends < driver < commands, the table
LAYERS), a backend module loads no upper layer, and ruff is clean."""

from __future__ import annotations

import ast
import functools
import os
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
    # folders of data only (the shipped targets): listed for their package-data
    data = set(PYPROJECT["tool"]["setuptools"]["package-data"]) - on_disk
    assert on_disk - listed == set(), "packages missing from pyproject.toml"
    assert listed - on_disk - data == set(), "pyproject.toml lists packages that do not exist"


def test_package_dirs():
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert dirs == {"qcc": "qcc", "qcc.passes": "passes", "qcc.backends": "backends"}


@functools.cache
def _tree(path: Path) -> ast.Module:
    """The parsed source of ``path`` (each file parsed once for all the tests here)."""
    return ast.parse(path.read_text(), str(path))


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = _tree(path)
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


# ---------------------------------------------------------------------- layering
#: The layers, lowest first (docs/layers.md draws them). A module may import modules
#: of its own layer and of the layers below, never above: every import counts,
#: module-level or inside a function, and those under ``if TYPE_CHECKING:`` too (an
#: annotation naming an upper layer is a dependency on it all the same; a lazy import
#: in a function only hides a cycle). A module is in the layer of the longest prefix
#: that names it; a qcc module in no layer is an error (add it here).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("qcc.version", "qcc.diagnostics", "qcc.ir", "qcc.dialects", "qcc.text",
              "qcc.passmanager", "qcc.rewrite", "qcc.frontend", "qcc.interpreter",
              "qcc.quant_arith", "qcc.quant_report", "qcc.calibration", "qcc.outputs",
              "qcc.backend", "qcc.testing", "qcc.progress", "qcc.fast",
              "qcc.ort_float")),
    ("passes", ("qcc.passes",)),
    ("backends", ("qcc.backends",)),
    ("driver", ("qcc.driver", "qcc.exploration")),
    # the package top level re-exports the driver's names (lazily, qcc/__init__.py)
    ("commands", ("qcc", "qcc.cli", "qcc.__main__")),
)


def _layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and \
                    len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    return best


def _module_files() -> dict[str, Path]:
    """Every module of the qcc package (qcc/, passes/, backends/) by dotted name."""
    out = {}
    for prefix, root in SOURCE_DIRS.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((prefix, *parts))] = path
    return out


MODULES = _module_files()


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


@functools.cache
def _qcc_imports(module: str, path: Path) -> list[tuple[str, int]]:
    """The qcc modules ``module`` imports, with line numbers: ``from qcc import x``
    is the module ``qcc.x`` when there is one, else the package top level ``qcc``;
    relative imports are resolved."""
    tree = _tree(path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package_of(module, path).split(".")
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in MODULES else base, node.lineno))
    result = []
    for name, line in out:
        if name != "qcc" and not name.startswith("qcc."):
            continue
        while name not in MODULES and "." in name:  # qcc.ir.core.Op -> qcc.ir.core
            name = name.rpartition(".")[0]
        result.append((name, line))
    return result


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if _layer_of(m) is None)
    assert not missing, "modules in no layer (add them to LAYERS):\n" + "\n".join(missing)


def test_imports_point_down():
    """Every import of every module (in functions and TYPE_CHECKING blocks too) goes
    to its own layer or one below (the core reaches passes and backends only
    through registries: the pass registry and qcc/backend.py)."""
    bad = []
    for module, path in sorted(MODULES.items()):
        mine = _layer_of(module)
        if mine is None:
            continue
        for target, line in _qcc_imports(module, path):
            theirs = _layer_of(target)
            if theirs is not None and theirs > mine:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} ({LAYERS[mine][0]}) "
                           f"imports {target} ({LAYERS[theirs][0]})")
    assert not bad, "imports that point up a layer (docs/layers.md):\n" + "\n".join(bad)


def test_driver_reaches_backends_through_the_registry():
    """The driver, explore and the CLI find a backend by target name (qcc/backend.py);
    none of them names a backend module."""
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line}: {target}"
           for m in MODULES if _layer_of(m) >= _layer_of("qcc.driver")
           for target, line in _qcc_imports(m, MODULES[m])
           if target.startswith("qcc.backends")]
    assert not bad, "use qcc.backend.backend_for_target:\n" + "\n".join(bad)


def test_the_checker_sees_imports_in_functions(tmp_path):
    """The check itself: a function-level import and a TYPE_CHECKING one are seen."""
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                   "    from qcc.driver import load\n"
                   "def f():\n    from qcc import cli\n    from . import lower\n")
    found = _qcc_imports("qcc.backends.tpu_v1.x", src)
    assert ("qcc.driver", 3) in found and ("qcc.cli", 5) in found
    assert ("qcc.backends.tpu_v1.lower", 6) in found


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return set(out.split())


UPPER = {"qcc.driver", "qcc.cli", "qcc.exploration", "lark"}


def test_backend_import_loads_no_upper_layer():
    """A backend module, and the registry finding the backend, load neither the
    driver, the CLI, explore nor the parser generator: the package top level (run by
    any qcc import) is lazy. One fresh interpreter: nothing loads them in between."""
    loaded = _loaded_after("import qcc.backends.tpu_v1.binary\n"
                           "from qcc.backend import get_backend\nget_backend('tpu-v1')")
    assert {"qcc.backends.tpu_v1.binary", "qcc.backends.tpu_v1.backend"} <= loaded
    assert not UPPER & loaded, f"loaded {sorted(UPPER & loaded)}"


def test_package_top_level_names_load_on_use():
    import qcc

    assert callable(qcc.compile) and callable(qcc.print_module)
    assert {"compile", "load", "print_module"} <= set(dir(qcc))
    with pytest.raises(AttributeError):
        qcc.no_such_name  # noqa: B018


def test_installed_package_layout():
    import qcc
    import qcc.backends
    import qcc.passes

    assert Path(qcc.passes.__file__).parent == ROOT / "passes"
    assert Path(qcc.backends.__file__).parent == ROOT / "backends"


def lint_targets(root: Path) -> list[str]:
    """What the ruff test checks: the project's tracked Python files (``git ls-files``)
    in a git checkout, so that a stray untracked file anywhere in the checkout (a
    scratch script, another tool's output) cannot fail the suite; the whole folder
    when there is no git checkout (an unpacked source archive) or no git."""
    git = shutil.which("git")
    if git is None:
        return [str(root)]
    result = subprocess.run([git, "ls-files", "-z", "--", "*.py", "*.pyi"], cwd=root,
                            capture_output=True, text=True)
    if result.returncode != 0:  # not a git checkout
        return [str(root)]
    # tracked files deleted in the working tree are not there to check
    return [f for f in result.stdout.split("\0") if f and (root / f).is_file()]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    # --force-exclude: pyproject's exclusions hold for files named one by one too
    result = subprocess.run([ruff, "check", "--quiet", "--force-exclude",
                             *lint_targets(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_covers_tracked_files_only(tmp_path):
    """A stray untracked .py file is not linted; tracked ones are; outside git, all."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "tracked.py").write_text("x = 1\n")
    (tmp_path / "setup_notes.txt").write_text("not python\n")
    assert lint_targets(tmp_path) == [str(tmp_path)]  # no git checkout: the folder
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    subprocess.run(["git", "add", "pkg/tracked.py", "setup_notes.txt"], cwd=tmp_path,
                   check=True, env=env)
    (tmp_path / "stray.py").write_text("import os\n")  # unused import: ruff would fail
    (tmp_path / "pkg" / "scratch.py").write_text("import sys\n")
    assert lint_targets(tmp_path) == ["pkg/tracked.py"]
    # and in this checkout: tracked files only, this test among them
    ours = lint_targets(ROOT)
    assert "tests/packaging/test_packaging.py" in ours and "qcc/cli.py" in ours
    assert all(not Path(f).is_absolute() and f.endswith((".py", ".pyi")) for f in ours)
