"""A small FileCheck: check a tool's text output against ``// CHECK`` directives.

Directives are read from the comment lines of the check text, in order::

    // CHECK:       pattern   found at or after the end of the previous match
    // CHECK-NEXT:  pattern   found on the line right after the previous match
    // CHECK-SAME:  pattern   found on the previous match's line, after it
    // CHECK-NOT:   pattern   absent between the previous and the next positive match
    // CHECK-EMPTY:           the line after the previous match is empty
    // CHECK-COUNT-3: pattern found 3 times in a row (like 3 CHECK lines)
    // CHECK-LABEL: pattern   matched first, in order: splits the output into blocks
                              and the other directives are matched within them

A pattern is literal text in which a whitespace run matches any run of spaces or
tabs; ``{{regex}}`` embeds a Python regex, ``[[NAME:regex]]`` captures the text that
the regex matched into variable NAME and ``[[NAME]]`` matches that text again (other
``[[``, as in ``dense<[[1.0, 2.0]]>``, is literal text). As in
LLVM FileCheck, matches never cross lines unless a regex asks for it. A failure
raises :class:`FileCheckError` naming the directive, its line in the check text and
the output region that was searched.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_KINDS = {"": "CHECK", "-NEXT": "NEXT", "-SAME": "SAME", "-NOT": "NOT",
          "-LABEL": "LABEL", "-EMPTY": "EMPTY"}
# "[[" starts a variable only as "[[NAME:" or "[[NAME]]": "dense<[[1.0]]>" is literal
_VAR_START = re.compile(r"\[\[([A-Za-z_][A-Za-z0-9_]*)(:|\]\])")
_MAX_SHOWN = 12


class FileCheckError(AssertionError):
    """The output does not satisfy the check directives (or the directives are bad)."""


@dataclass
class _Directive:
    kind: str        # CHECK, NEXT, SAME, NOT, LABEL, EMPTY (COUNT-n becomes CHECK, count=n)
    spelling: str    # as written, e.g. "CHECK-COUNT-2"
    pattern: str
    line: int        # line number in the check text
    count: int = 1

    def where(self, check_file: str) -> str:
        return f"{check_file}:{self.line}: {self.spelling}: {self.pattern}"


def _parse_directives(check_text: str, prefix: str, first_line: int,
                      check_file: str) -> list[_Directive]:
    head = re.compile(rf"^\s*//\s*{re.escape(prefix)}(-[A-Za-z0-9-]+)?:(.*)$")
    out: list[_Directive] = []
    for n, text in enumerate(check_text.split("\n"), start=first_line):
        m = head.match(text)
        if not m:
            continue
        suffix, pattern = m.group(1) or "", m.group(2).strip()
        count = re.fullmatch(r"-COUNT-([0-9]+)", suffix)
        kind = "CHECK" if count else _KINDS.get(suffix)
        spelling = prefix + suffix
        if kind is None or (count and int(count.group(1)) < 1):
            raise FileCheckError(f"{check_file}:{n}: unknown directive '{spelling}:'")
        if (kind == "EMPTY") != (not pattern):
            what = "takes no pattern" if kind == "EMPTY" else "has an empty pattern"
            raise FileCheckError(f"{check_file}:{n}: {spelling} {what}")
        out.append(_Directive(kind, spelling, pattern, n, int(count.group(1)) if count else 1))
    if not any(d.kind != "NOT" for d in out):
        raise FileCheckError(f"{check_file}: no positive '{prefix}' directives found: "
                             "a check that cannot fail is not a check")
    return out


def _closing(p: str, i: int) -> int:
    """Index of the ``]]`` closing a ``[[`` whose body starts at i (brackets nest)."""
    depth = 0
    while i < len(p):
        if p[i] == "\\":
            i += 2
            continue
        if p[i] == "[":
            depth += 1
        elif p[i] == "]":
            if depth == 0 and p.startswith("]]", i):
                return i
            depth -= 1
        i += 1
    return -1


def _compile(d: _Directive, variables: dict[str, str],
             where: str) -> tuple[re.Pattern, list[str]]:
    """The regex of a directive's pattern and the variables it defines."""
    p, i, parts, defined = d.pattern, 0, [], []
    while i < len(p):
        if p.startswith("{{", i):
            end = p.find("}}", i + 2)
            while end != -1 and p.startswith("}", end + 2):
                end += 1  # "{{x{2}}}" closes at the last "}}"
            if end == -1:
                raise FileCheckError(f"unclosed '{{{{' in {where}")
            parts.append(f"(?:{p[i + 2:end]})")
            i = end + 2
        elif _VAR_START.match(p, i):
            end = _closing(p, i + 2)
            if end == -1:
                raise FileCheckError(f"unclosed '[[' in {where}")
            name, colon, regex = p[i + 2:end].partition(":")
            if d.kind == "LABEL":
                raise FileCheckError(f"variables are not allowed in {where}")
            if colon:
                if d.kind == "NOT" or name in defined:
                    raise FileCheckError(f"cannot define [[{name}]] in {where}")
                parts.append(f"(?P<v_{name}>{regex})")
                defined.append(name)
            elif name in defined:
                parts.append(f"(?P=v_{name})")
            elif name in variables:
                parts.append(re.escape(variables[name]))
            else:
                raise FileCheckError(f"undefined variable [[{name}]] in {where}")
            i = end + 2
        else:
            var = _VAR_START.search(p, i)
            j = min(k for k in (p.find("{{", i), var.start() if var else -1, len(p)) if k >= 0)
            parts.extend(r"[ \t]+" if chunk.isspace() else re.escape(chunk)
                         for chunk in re.split(r"(\s+)", p[i:j]) if chunk)
            i = j
    try:
        return re.compile("".join(parts), re.MULTILINE), defined
    except re.error as e:
        raise FileCheckError(f"bad regex ({e}) in {where}") from None


class _AnyVars(dict):
    """Variables as seen by the syntax check before matching: all defined."""

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> str:
        return ""


class _Checker:
    def __init__(self, output: str, check_file: str):
        self.out = output
        self.file = check_file
        # line start offsets; a final newline does not begin another line
        self.starts = [0] + [m.end() for m in re.finditer("\n", output[:-1])]
        self.vars: dict[str, str] = {}

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def line_span(self, line: int) -> tuple[int, int]:
        lo = self.starts[line]
        nl = self.out.find("\n", lo)
        return lo, len(self.out) if nl == -1 else nl

    def fail(self, d: _Directive, why: str, lo: int, hi: int) -> FileCheckError:
        first, last = self.line_of(lo), self.line_of(max(lo, hi - 1))
        shown = [f"{k + 1:5} | {self.out[slice(*self.line_span(k))]}"
                 for k in range(first, min(last + 1, first + _MAX_SHOWN))]
        if last >= first + _MAX_SHOWN:
            shown.append(f"      | ... ({last - first + 1 - _MAX_SHOWN} more lines)")
        used = {k: v for k, v in self.vars.items() if f"[[{k}]]" in d.pattern}
        note = f"\nwith {', '.join(f'{k} = {v!r}' for k, v in used.items())}" if used else ""
        return FileCheckError(f"{d.where(self.file)}\nerror: {why}{note}\n"
                              f"searched output lines {first + 1}-{last + 1}:\n"
                              + "\n".join(shown))

    def search(self, d: _Directive, lo: int, hi: int) -> tuple[int, int]:
        regex, defined = _compile(d, self.vars, d.where(self.file))
        m = regex.search(self.out, lo, hi)
        if m is None:
            raise self.fail(d, "expected pattern not found", lo, hi)
        self.vars.update({n: m.group(f"v_{n}") for n in defined})
        return m.start(), m.end()

    def last_line(self, match: tuple[int, int]) -> int:
        start, end = match
        return self.line_of(end - 1 if end > start else start)

    def positive(self, d: _Directive, prev: tuple[int, int] | None, pos: int,
                 hi: int) -> tuple[int, int]:
        if d.kind == "CHECK":
            return self.search(d, pos, hi)
        if prev is None:
            raise self.fail(d, "needs a previous match in its block", pos, hi)
        line = self.last_line(prev)
        if d.kind == "SAME":
            return self.search(d, pos, min(hi, self.line_span(line)[1]))
        if line + 1 >= len(self.starts) or self.starts[line + 1] >= hi:
            raise self.fail(d, "no line follows the previous match", pos, hi)
        lo, end = self.line_span(line + 1)
        if d.kind == "NEXT":
            return self.search(d, lo, min(end, hi))
        if end != lo:  # EMPTY
            raise self.fail(d, "the next line is not empty", lo, end)
        return lo, lo

    def check_nots(self, nots: list[_Directive], lo: int, hi: int) -> None:
        for d in nots:
            m = _compile(d, self.vars, d.where(self.file))[0].search(self.out, lo, hi)
            if m is not None:
                raise self.fail(d, f"excluded pattern found at output line "
                                   f"{self.line_of(m.start()) + 1}", lo, hi)

    def block(self, directives: list[_Directive], lo: int, hi: int,
              label: tuple[int, int] | None) -> None:
        prev, pos, nots = label, label[1] if label else lo, []
        for d in directives:
            if d.kind == "NOT":
                nots.append(d)
                continue
            for _ in range(d.count):
                match = self.positive(d, prev, pos, hi)
                self.check_nots(nots, pos, match[0])
                prev, pos, nots = match, match[1], []
        self.check_nots(nots, pos, hi)


def filecheck(output: str, check_text: str, prefix: str = "CHECK", *,
              check_file: str = "<check>", first_line: int = 1) -> None:
    """Raise FileCheckError unless ``output`` satisfies the directives of ``check_text``.

    ``check_file`` and ``first_line`` (the line number of the check text's first line)
    only serve error messages.
    """
    directives = _parse_directives(check_text, prefix, first_line, check_file)
    for d in directives:  # report malformed patterns before any matching
        _compile(d, _AnyVars(), d.where(check_file))
    checker = _Checker(output, check_file)
    labels = [k for k, d in enumerate(directives) if d.kind == "LABEL"]
    label_matches, pos = [], 0
    for k in labels:
        label_matches.append(checker.search(directives[k], pos, len(output)))
        pos = label_matches[-1][1]
    bounds = [0, *labels, len(directives)]
    starts = [0, *(m[0] for m in label_matches), len(output)]
    for b in range(len(bounds) - 1):
        body = directives[bounds[b] + (1 if b else 0):bounds[b + 1]]
        checker.block(body, starts[b], starts[b + 1], label_matches[b - 1] if b else None)
