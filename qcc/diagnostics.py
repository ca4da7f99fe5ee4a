"""Locations and diagnostics.

Every op carries a location: where it came from in an ONNX model (node name and op
type), in a text file (file:line:col), or several of those when ops were fused.
Errors a user can cause are raised as :class:`QccError`; they print as

    model.mlir:3:5: error: 'nn.relu' op expects 1 operand, got 2
      %1 = "nn.relu"(%0, %0) : ...
          ^

and the CLI turns them into exit code 2 without a traceback.

Messages interpolate names that come from the user's files (ONNX node and tensor
names, IR op names and locations, array names), which can hold any character. What
is printed escapes control characters (:func:`escape_controls`), so that a name can
neither send terminal escape sequences nor start a line of its own: an error is its
head line, the source line with its caret and its notes, and nothing else.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

#: C0 controls (newline and tab too), DEL, C1 controls, the Unicode line and paragraph
#: separators and the bidirectional overrides and isolates (which reorder what a
#: terminal shows)
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with its control characters written as escapes (``\\n``, ``\\x1b``,
    ``\\u202e``), but for those in ``keep`` (``"\\n"`` for a multi-line text that
    is printed as it is, a traceback say)."""
    if not _CONTROLS.search(text):
        return text
    if keep:
        return _CONTROLS.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _CONTROLS.sub(_escape, text)


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
        if self.op_type in ("Input", "Initializer", "Output"):
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
        """The error as printed: control characters in the message, the location and
        the notes are escaped (each is one line), and so are those in the source line
        but for tabs, which the caret line repeats to stay aligned."""
        loc = self.loc
        if isinstance(loc, FusedLoc):
            loc = loc.locs[0]
        if isinstance(loc, UnknownLoc):
            head = f"error: {self.message}"
        elif isinstance(loc, FileLoc):
            head = f"{loc.describe()}: error: {self.message}"
        else:
            head = f"error: {loc.describe()}: {self.message}"
        lines = [escape_controls(head)]
        if isinstance(loc, FileLoc) and self.source is not None:
            shown = _source_line(self.source, loc.line, loc.col)
            if shown is not None:
                text, col = shown
                cut = max(col - 1, 0)
                before = escape_controls(text[:cut], keep="\t")
                lines.append("  " + before + escape_controls(text[cut:], keep="\t"))
                lines.append("  " + "".join(c if c == "\t" else " " for c in before) + "^")
        lines.extend(escape_controls(f"note: {n}") for n in self.notes)
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
    from qcc.progress import end_line

    where = "" if isinstance(loc, UnknownLoc) else f"{loc.describe()}: "
    end_line(sys.stderr)  # a progress bar on the terminal: the warning on its own line
    print(escape_controls(f"{where}warning: {message}"), file=sys.stderr)
