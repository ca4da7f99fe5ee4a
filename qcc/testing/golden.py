"""Conventions of golden ``.mlir`` test files.

A file may hold several independent test cases separated by lines ``// -----``
(as with ``mlir-opt --split-input-file``); the pipeline to run is given by a line
``// RUN: -p PIPELINE`` (the pipeline may be quoted)::

    // RUN: -p "fold-constants,canonicalize"
    module { ... }
    // CHECK: ...
    // -----
    module { ... }
"""

from __future__ import annotations

import re
import shlex

_SEPARATOR = re.compile(r"^\s*// -----\s*$")
_RUN = re.compile(r"^\s*//\s*RUN:(.*)$")


def split_input_file(text: str) -> list[tuple[str, int]]:
    """The chunks between ``// -----`` lines, each with the (1-based) number of the
    line of ``text`` it starts on, so that errors can be reported per chunk as
    ``chunk_line + start - 1``. Separator lines belong to no chunk."""
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    start = 1
    parts = text.split("\n")  # not splitlines(): only "\n" ends a line, as in the parser
    lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    for n, line in enumerate(lines, start=1):
        if _SEPARATOR.match(line):
            chunks.append(("".join(current), start))
            current, start = [], n + 1
        else:
            current.append(line)
    chunks.append(("".join(current), start))
    return chunks


def parse_run_line(text: str) -> str | None:
    """The pipeline of the ``// RUN: -p PIPELINE`` line of ``text``; None without a
    RUN line, ``""`` for a RUN line without ``-p``. Raises ValueError on a malformed
    RUN line or on several of them."""
    runs = [m.group(1) for line in text.split("\n") if (m := _RUN.match(line))]
    if not runs:
        return None
    if len(runs) > 1:
        raise ValueError(f"expected one RUN line, found {len(runs)}")
    try:
        args = shlex.split(runs[0])
    except ValueError as e:
        raise ValueError(f"malformed RUN line: {e}") from None
    if not args:
        return ""
    if args[0] in ("-p", "--pipeline") and len(args) == 2:
        return args[1]
    if len(args) == 1 and args[0].startswith(("-p=", "--pipeline=")):
        return args[0].split("=", 1)[1]
    raise ValueError(f"RUN line must be '// RUN: -p PIPELINE', got '// RUN:{runs[0]}'")
