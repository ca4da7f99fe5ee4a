"""Locations and diagnostics.

Every op carries a location: where it came from in an ONNX model (node name and op
type), in a text file (file:line:col), or several of those when ops were fused.
Errors a user can cause are raised as :class:`QccError`; they print as

    model.mlir:3:5: error: 'nn.relu' op expects 1 operand, got 2
      %1 = "nn.relu"(%0, %0) : ...
          ^

and the CLI turns them into exit code 2 without a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


class Location:
    """Base of all locations; subclasses are frozen dataclasses."""

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class UnknownLoc(Location):
    def describe(self) -> str:
        return "<unknown>"


@dataclass(frozen=True)
class FileLoc(Location):
    """A position in a text file; line and column count from 1."""

    file: str
    line: int
    col: int

    def describe(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class OnnxLoc(Location):
    """An ONNX node (or initializer / graph input), by op type and name."""

    op_type: str
    name: str

    def describe(self) -> str:
        if self.op_type in ("Input", "Initializer"):
            return f"ONNX {self.op_type.lower()} '{self.name}'"
        return f"ONNX node '{self.name}' ({self.op_type})"


@dataclass(frozen=True)
class FusedLoc(Location):
    """Several locations, for an op that replaced more than one op."""

    locs: tuple[Location, ...]

    def describe(self) -> str:
        return " + ".join(loc.describe() for loc in self.locs)


UNKNOWN = UnknownLoc()


def onnx_locs(loc: Location) -> list[OnnxLoc]:
    """The ONNX nodes a location names (one, several for a fused op, or none)."""
    parts = loc.locs if isinstance(loc, FusedLoc) else (loc,)
    return [p for p in parts if isinstance(p, OnnxLoc)]


def fuse_locs(*locs: Location) -> Location:
    """Fuse locations, flattening nested fusions and dropping unknowns and repeats."""
    flat: list[Location] = []
    for loc in locs:
        parts = loc.locs if isinstance(loc, FusedLoc) else (loc,)
        for part in parts:
            if not isinstance(part, UnknownLoc) and part not in flat:
                flat.append(part)
    if not flat:
        return UNKNOWN
    if len(flat) == 1:
        return flat[0]
    return FusedLoc(tuple(flat))


class QccError(Exception):
    """An error the user can act on: bad input, unsupported construct, misuse.

    ``loc`` says where; ``source`` (the text of the file, when known) lets the
    message show the offending line with a caret under the column.
    """

    def __init__(self, message: str, loc: Location = UNKNOWN, source: str | None = None,
                 notes: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.source = source
        self.notes = notes

    def format(self) -> str:
        loc = self.loc
        if isinstance(loc, FusedLoc):
            loc = loc.locs[0]
        if isinstance(loc, UnknownLoc):
            head = f"error: {self.message}"
        elif isinstance(loc, FileLoc):
            head = f"{loc.describe()}: error: {self.message}"
        else:
            head = f"error: {loc.describe()}: {self.message}"
        lines = [head]
        if isinstance(loc, FileLoc) and self.source is not None:
            shown = _source_line(self.source, loc.line, loc.col)
            if shown is not None:
                text, col = shown
                lines.append("  " + text)
                lines.append("  " + " " * max(col - 1, 0) + "^")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


#: a longer source line (a large constant of IR text) is shown cut around the column
_SHOWN_LINE = 160


def _source_line(source: str, line: int, col: int) -> tuple[str, int] | None:
    """Line ``line`` of ``source`` (only \\n ends a line, as in the lexers) and the
    column of the caret in it, cut to a window around ``col`` if the line is long;
    found without splitting the whole source (IR text can be hundreds of MB)."""
    if line < 1:
        return None
    start = 0
    for _ in range(line - 1):
        start = source.find("\n", start) + 1
        if start == 0:
            return None
    end = source.find("\n", start)
    end = len(source) if end < 0 else end
    if end - start <= _SHOWN_LINE:
        return source[start:end].rstrip("\r"), col
    lo = min(max(start, start + col - 1 - _SHOWN_LINE // 2), end - _SHOWN_LINE)
    hi = lo + _SHOWN_LINE
    text = source[lo:hi].rstrip("\r") if hi >= end else source[lo:hi]
    head, tail = ("..." if lo > start else ""), ("..." if hi < end else "")
    return head + text + tail, col - (lo - start) + len(head)


class PassFailure(Exception):
    """A pass crashed or broke an IR invariant: a compiler bug, not a user error."""

    def __init__(self, message: str, reproducer: str | None = None):
        super().__init__(message)
        self.message = message
        self.reproducer = reproducer


def warn(message: str, loc: Location = UNKNOWN) -> None:
    """Print a warning to stderr in the same format as errors."""
    where = "" if isinstance(loc, UnknownLoc) else f"{loc.describe()}: "
    print(f"{where}warning: {message}", file=sys.stderr)
