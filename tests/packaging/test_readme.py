"""README.md works as written: every command of its ```sh blocks runs, in order, in a
temporary folder holding the examples (so what the commands write, report.md or
digits_cnn.tpu, lands there and never in the checkout), with the ``qcc`` and
``python`` of this environment, and exits 0 (or 2 where the README shows the error it
prints). Its ```python blocks run too, in the same folder.

What counts as a command: in a block with ``$ `` prompts, the prompted lines and their
``\\`` continuations (the other lines are the output shown); in a block without
prompts (the Quick start), every line. Not run, because they install or test the
environment the suite runs in: ``pip install`` and ``python -m pytest``.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: commands the suite cannot run inside itself
SKIPPED = ("pip install", "python -m pytest")


@dataclass
class Command:
    line: int  # README line number
    text: str
    expect: int  # exit code: 0, or 2 where the README shows an error
    #: from a block with ``$`` prompts (else: the Quick start's kind, to copy as is)
    prompted: bool = True


def blocks(text: str, lang: str) -> list[tuple[int, list[str]]]:
    """The ```lang blocks of a markdown text: (line number of the first line, lines)."""
    out, current, start = [], None, 0
    for n, line in enumerate(text.splitlines(), 1):
        if current is None:
            if line.strip() == f"```{lang}":
                current, start = [], n + 1
        elif line.strip() == "```":
            out.append((start, current))
            current = None
        else:
            current.append(line)
    return out


def _parts(text: str) -> list[str]:
    """One command line split at ``&&`` (outside quotes), minus the skipped ones."""
    lexer = shlex.shlex(text, posix=False, punctuation_chars="&")
    lexer.whitespace_split = True
    parts, current = [], []
    for token in lexer:
        if token == "&&":
            parts.append(" ".join(current))
            current = []
        else:
            current.append(token)
    parts.append(" ".join(current))
    return [p for p in parts if not any(s in p for s in SKIPPED)]


def commands(text: str) -> list[Command]:
    out = []
    for start, lines in blocks(text, "sh"):
        prompted = any(line.startswith("$ ") for line in lines)
        i = 0
        while i < len(lines):
            line = lines[i]
            if prompted and not line.startswith("$ "):
                i += 1
                continue
            first = i
            cmd = line[2:] if prompted else line
            while cmd.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd.rstrip()[:-1].rstrip() + " " + lines[i].strip()
            i += 1
            # the output shown up to the next prompt: an error line means exit code 2
            shown = []
            while prompted and i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            expect = 2 if any(s.startswith("error:") for s in shown) else 0
            if cmd.strip():
                out.extend(Command(start + first, part, expect, prompted)
                           for part in _parts(cmd))
    return out


def test_commands_are_found():
    """The extraction itself, on a made-up README."""
    text = "\n".join([
        "```sh", "python -m pip install -e . && qcc run a.onnx --input 'x && y.npy'", "```",
        "```sh", "$ qcc compile m.onnx \\", "      -o m.tpu", "qcc: m.tpu: 3 instructions",
        "$ qcc compile m.onnx ... --no-host", "error: no", "```",
        "```python", "print(1)", "```"])
    got = [(c.line, c.text, c.expect, c.prompted) for c in commands(text)]
    assert got == [(2, "qcc run a.onnx --input 'x && y.npy'", 0, False),
                   (5, "qcc compile m.onnx -o m.tpu", 0, True),
                   (8, "qcc compile m.onnx ... --no-host", 2, True)]
    assert blocks(text, "python") == [(12, ["print(1)"])]


def _examples_dir(d: Path) -> Path:
    """``d`` with examples/ of links to the checkout's examples (a file a command writes
    into examples/ itself lands in ``d``)."""
    (d / "examples").mkdir(parents=True)
    for entry in (ROOT / "examples").iterdir():
        if entry.name != ".cache":
            (d / "examples" / entry.name).symlink_to(entry)
    return d


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # qcc and python of this environment first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    return env


def _untracked_examples() -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*")
            if ".cache" not in p.parts and "__pycache__" not in p.parts}


def _in_process(text: str) -> list[str] | None:
    """The arguments of a plain ``qcc`` command (no shell syntax but a trailing
    comment), which runs in this process: the same ``qcc.cli.main`` as the ``qcc``
    script, without a second's start-up per command. None: run it in bash."""
    if not text.startswith("qcc ") or re.search(r"[|<>;$`]", text.split("#")[0]):
        return None
    return shlex.split(text, comments=True)[1:]


def _run(c: Command, workdir: Path, env: dict[str, str], shell: bool) -> tuple[int, str]:
    from qcc.cli import main

    args = None if shell else _in_process(c.text)
    if args is None:
        result = subprocess.run(["bash", "-c", "set -o pipefail; " + c.text], cwd=workdir,
                                env=env, capture_output=True, text=True, timeout=300)
        return result.returncode, result.stdout[-2000:] + result.stderr[-2000:]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue()[-2000:] + err.getvalue()[-2000:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return _examples_dir(tmp_path_factory.mktemp("readme"))


def test_readme_commands_run_as_written(workdir, monkeypatch):
    found = commands(README.read_text(encoding="utf-8"))
    assert len(found) >= 20, "the README's commands were not found"
    assert shutil.which("bash"), "the commands run in bash"
    before = _untracked_examples()
    env = _environment()
    monkeypatch.chdir(workdir)
    for c in found:
        assert "..." not in c.text, f"README.md:{c.line}: elided command: {c.text}"
        # the Quick start's commands (no prompt) run in bash, through the qcc script
        code, output = _run(c, workdir, env, shell=not c.prompted)
        assert code == c.expect, (f"README.md:{c.line}: `{c.text}` exited {code}, "
                                  f"expected {c.expect}\n{output}")
        assert "Traceback" not in output, f"README.md:{c.line}: {output}"
    assert _untracked_examples() == before, "a README command wrote into examples/"


def test_readme_python_blocks_run(workdir, monkeypatch):
    """The ```python blocks, in order, in one namespace, in the same folder (after the
    commands: nothing they write is needed), with README.md's line numbers."""
    monkeypatch.chdir(workdir)
    found = blocks(README.read_text(encoding="utf-8"), "python")
    assert found, "no python block in README.md"
    namespace: dict = {"__name__": "readme"}
    before = _untracked_examples()
    for start, lines in found:
        tree = ast.parse("\n" * (start - 1) + "\n".join(lines), str(README))
        exec(compile(tree, str(README), "exec"), namespace)
    assert _untracked_examples() == before, "a README python block wrote into examples/"


def test_no_elided_arguments_in_commands():
    """``...`` stands for output in the README, never for a command's arguments."""
    for c in commands(README.read_text(encoding="utf-8")):
        assert not re.search(r"(^|\s)\.\.\.(\s|$)", c.text), f"README.md:{c.line}: {c.text}"
