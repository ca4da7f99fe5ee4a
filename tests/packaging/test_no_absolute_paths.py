"""No committed file holds an absolute path of the machine that wrote it (a checkout
under /work or /home, a pytest folder under /tmp, a user's home): generated files
(explore.json, reports, goldens) must record paths as given, relative to the
repository. Usage examples that name a scratch location for the reader's own
machine are allowed one by one below, each with its reason; an entry that no longer
matches anything fails too, so the list cannot go stale."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: folders that are a machine's, not the project's: checkouts, homes, temporary folders
ABSOLUTE = re.compile(
    r"(?<![\w.~$-])/(?:work|tmp|home|Users|root|mnt|private/var|var/folders)/[^\s\"'`)\]>]*"
    r"|\b[A-Za-z]:\\\\?(?:Users|home)\\\\?[^\s\"'`]*")

#: (file, path as written): why it may stay
ALLOWED = {
    ("benchmarks/compile_ab.py", "/tmp/qcc-base"):
        "usage example: where the reader puts a worktree of the baseline commit",
    ("benchmarks/compile_ab.py", "/tmp/qcc-base-venv"):
        "usage example: the baseline's venv, beside it",
    ("benchmarks/compile_ab.py", "/tmp/qcc-base-venv/bin/python"):
        "usage example: that venv's python",
    ("benchmarks/compile_ab.py", "/tmp/qcc-base[test"):
        "usage example: installing the baseline worktree",
    ("benchmarks/zoo_report.py", "/tmp/zoo.md"):
        "usage example of --out: a scratch file of the reader's",
    ("examples/README.md", "/tmp/zoo"):
        "usage example of zoo.py --out: a scratch folder of the reader's",
    ("examples/README.md", "/tmp/venv-export"):
        "usage example: the separate venv the MiniLM export needs",
    ("examples/README.md", "/tmp/venv-export/bin/activate"):
        "usage example: activating that venv",
    ("examples/README.md", "/tmp/bert14.onnx"):
        "usage example of bert.py --out: a scratch file of the reader's",
    ("examples/bert.py", "/tmp/bert.onnx"):
        "usage example of --out in the docstring",
    ("tests/fuzz/run_fuzz.py", "/tmp/qcc-fuzz-crashes"):
        "the long fuzz run's default crash folder (--out), outside the checkout by design",
}


#: files not scanned, with the reason
SKIPPED = {
    "tests/packaging/test_no_absolute_paths.py":
        "this file: its allow-list and the pattern's examples are such paths",
}


def tracked_text_files() -> list[Path]:
    git = shutil.which("git")
    result = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            text=True) if git else None
    if result is None or result.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = []
    for name in result.stdout.split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or name in SKIPPED:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (.onnx, .npz, .tpu)
        out.append(path)
    return out


def find(text: str) -> list[tuple[int, str]]:
    return [(text.count("\n", 0, m.start()) + 1, m.group(0).rstrip(".,:;"))
            for m in ABSOLUTE.finditer(text)]


def test_the_pattern():
    text = ('run("/work/main/examples/x.onnx")\n"model": "/tmp/pytest-of-root/p0/m.onnx"\n'
            "cd /home/ann/qcc; C:\\Users\\ann\\qcc\n"
            "/dev/stdout, /stem/stem.0/Conv, examples/tmp/x, ~/tmp/x, $HOME/tmp, "
            "https://example.com/home/x, docs/work/y\n")
    assert [p for _, p in find(text)] == ["/work/main/examples/x.onnx",
                                          "/tmp/pytest-of-root/p0/m.onnx", "/home/ann/qcc",
                                          "C:\\Users\\ann\\qcc"]


def test_no_absolute_paths_in_tracked_files():
    found, used = [], set()
    for path in tracked_text_files():
        rel = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8", errors="replace")
        for line, p in find(text):
            if (rel, p) in ALLOWED:
                used.add((rel, p))
            else:
                found.append(f"{rel}:{line}: {p}")
    assert not found, "absolute paths of a machine in committed files:\n" + "\n".join(found)
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"allowed paths no longer found (remove them from ALLOWED): {stale}"
