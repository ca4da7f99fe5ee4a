"""Real English sentences for the transformer examples, extracted from Python's own docs.

    python examples/sentences.py                # writes examples/data/sentences.txt
    python examples/sentences.py --check        # exit 1 if the committed file differs

The source is ``pydoc_data/topics.py`` of the Python standard library: the text of the
language reference and library documentation topics that ``help()`` shows, generated
by Sphinx from the CPython documentation. It is on every machine with Python and is
distributed under the Python Software Foundation License, which lets us ship an
extract with the licence and its copyright notice (examples/data/PSF-LICENSE.txt).
Nothing is downloaded.

The extraction is deterministic for a given ``topics.py`` (its sha256 is written into
the header of the output file):

1. each topic's text is cut into paragraphs at blank lines; paragraphs that are
   headings, tables, code (``>>>``, grammar rules with ``::=``) or indented beyond a
   list item's text are dropped, list markers ("1.", "*", "-") are removed, and the
   lines of a paragraph are joined (no space after a line ending in a hyphen);
2. paragraphs are cut into sentences after ``.``, ``?`` or ``!`` followed by a space
   and an upper-case letter, except after common abbreviations (e.g., i.e., etc.);
3. a sentence is kept if it starts with an upper-case letter, ends with ``.``, has
   6 to 30 words, and no characters of code (``=``, brackets, ``_``, backslash,
   ``>>>``); inline markup (``*x*``) is removed;
4. duplicates (case-insensitive, after normalising spaces) are dropped;
5. the kept sentences are ordered by the sha256 of their text (a fixed shuffle that
   mixes the topics) and the first ``COUNT`` are written.

``examples/minilm.py`` splits the file: the first ``CALIBRATION`` sentences calibrate,
the rest evaluate.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "data" / "sentences.txt"

#: sentences written; the first CALIBRATION calibrate, the rest (600) evaluate
COUNT = 700
CALIBRATION = 100

_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Dr.", "No.")
_CODE_CHARS = set("=[]{}()<>_\\|`#@$%^~")
_LIST_MARKER = re.compile(r"^(\d+\.|\*|-|\(\d+\))\s+")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")
_MARKUP = re.compile(r"\*{1,2}([^*\s][^*]*?)\*{1,2}")


def source_path() -> Path:
    """The path of the standard library's ``pydoc_data/topics.py``."""
    import pydoc_data.topics

    return Path(pydoc_data.topics.__file__)


def source_sha256(path: Path | None = None) -> str:
    return hashlib.sha256((path or source_path()).read_bytes()).hexdigest()


def _paragraphs(text: str) -> list[str]:
    """Prose paragraphs of one topic, each joined into one line."""
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", text)
    for block in blocks:
        lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        # headings: a line of *** / === / --- under the title
        if any(set(ln.strip()) <= set("*=-~^") for ln in lines):
            continue
        # tables, prompts, grammar rules
        if any(ln.lstrip().startswith(("+-", "+=", "|", ">>>", "...")) for ln in lines):
            continue
        if any("::=" in ln for ln in lines):
            continue
        indent = len(lines[0]) - len(lines[0].lstrip())
        # top-level prose (0) or a list item's text (3); deeper is code or quotes
        if indent > 3:
            continue
        first = _LIST_MARKER.sub("", lines[0].lstrip())
        joined = first
        for ln in lines[1:]:
            # a word broken at a hyphen across lines ("pseudo-" / "compiled") is one word
            joined += ("" if joined.endswith("-") else " ") + ln.strip()
        out.append(re.sub(r"\s+", " ", joined).strip())
    return out


def _split_sentences(paragraph: str) -> list[str]:
    pieces = _SENTENCE_END.split(paragraph)
    sentences: list[str] = []
    for piece in pieces:
        if sentences and sentences[-1].endswith(_ABBREVIATIONS):
            sentences[-1] = sentences[-1] + " " + piece
        else:
            sentences.append(piece)
    return sentences


def _clean(sentence: str) -> str | None:
    """The sentence without inline markup, or None if it is not kept."""
    s = _MARKUP.sub(r"\1", sentence).strip()
    if not s or not s[0].isupper() or not s.endswith("."):
        return None
    if any(c in _CODE_CHARS for c in s) or "*" in s:
        return None
    words = s.split()
    if not 6 <= len(words) <= 30:
        return None
    # mostly words: at most a quarter of the words quoted ("if", "None": inline code)
    if s.count('"') > len(words) // 2:
        return None
    if not sum(c.isalpha() for c in s) >= 0.7 * len(s.replace(" ", "")):
        return None
    return s


def extract(topics: dict[str, str]) -> list[str]:
    """Every kept sentence of ``topics`` (name -> text), deduplicated, in topic order."""
    seen: set[str] = set()
    out: list[str] = []
    for name in sorted(topics):
        for paragraph in _paragraphs(topics[name]):
            for raw in _split_sentences(paragraph):
                s = _clean(raw)
                if s is None:
                    continue
                key = re.sub(r"\s+", " ", s.lower())
                if key in seen:
                    continue
                seen.add(key)
                out.append(s)
    return out


def select(sentences: list[str], count: int = COUNT) -> list[str]:
    """The first ``count`` sentences in the order of the sha256 of their text."""
    if len(sentences) < count:
        raise ValueError(f"only {len(sentences)} sentences in the source, {count} wanted")
    key = lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()  # noqa: E731
    return sorted(sentences, key=key)[:count]


def header(sha256: str) -> list[str]:
    return [
        f"# {COUNT} English sentences extracted by examples/sentences.py from Python's",
        "# pydoc_data/topics.py (the Python documentation's help topics).",
        "# Copyright (c) 2001-2023 Python Software Foundation; All Rights Reserved.",
        "# Distributed under the PSF License Version 2 (examples/data/PSF-LICENSE.txt).",
        "# Changes: whole sentences only; inline markup (*x*) removed; reordered.",
        f"# Source sha256: {sha256}",
        f"# Lines after this header: the first {CALIBRATION} calibrate, the rest evaluate.",
    ]


def render(topics: dict[str, str] | None = None, sha256: str | None = None) -> str:
    """The whole file as ``examples/sentences.py`` writes it."""
    if topics is None:
        return _render_installed()
    lines = header(sha256 or "unknown") + select(extract(topics))
    return "\n".join(lines) + "\n"


@functools.cache
def _render_installed() -> str:
    import pydoc_data.topics

    return render(pydoc_data.topics.topics, source_sha256())


def load(path: Path = OUT) -> list[str]:
    """The sentences of a file written by ``render`` (header lines dropped)."""
    text = Path(path).read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def recorded_sha256(path: Path = OUT) -> str | None:
    """The source sha256 recorded in a file's header."""
    for ln in Path(path).read_text(encoding="utf-8").splitlines():
        if ln.startswith("# Source sha256: "):
            return ln.split(": ", 1)[1].strip()
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="output file (default %(default)s)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the file instead of writing it; exit 1 if it differs")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} differs from what {Path(__file__).name} extracts "
                  f"(source {source_path()}, sha256 {source_sha256()})", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {COUNT} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
