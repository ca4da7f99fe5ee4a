"""Progress bars for long work (calibration, the passes of a compile, the compile
report's measurements, explore's configurations), on a terminal only.

    with Progress(len(work), "explore", unit="configurations") as bar:
        for item in work:
            ...
            bar.update(1)

A bar is drawn on its stream (stderr by default) only when that stream is a terminal,
or when ``enabled=True``; otherwise it writes nothing, so pipes, files and tests see
no change. Redraws are throttled to 10 a second and rewrite one line (``\\r``); the
line is ended when the bar closes. Something else printed to the stream while a bar
is on screen (a warning, an inner bar) first calls :func:`end_line`, which ends the
bar's line so the text starts on its own line; the bar is drawn again below on its
next update.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

#: bars currently drawn (their line not ended), innermost last
_ACTIVE: list[Progress] = []


def end_line(stream: TextIO | None = None) -> None:
    """End the line of any bar drawn on ``stream`` (default stderr), before other text
    is written there."""
    stream = stream or sys.stderr
    for bar in _ACTIVE:
        if bar.stream is stream and bar._shown:
            bar.stream.write("\n")
            bar.stream.flush()
            bar._shown = False
            bar._last = 0.0  # redraw on the next update
            bar._width = 0


class Progress:
    """A plain-text progress bar: ``label [#####.....] done/total unit pct%``, or
    ``label: done unit`` when the total is unknown (None). Drawn only on a terminal
    (``stream.isatty()``) unless ``enabled`` says otherwise."""

    def __init__(self, total: int | None, label: str, unit: str = "samples",
                 stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            try:
                enabled = bool(isatty and isatty())
            except (ValueError, OSError):  # a closed stream
                enabled = False
        self.enabled = enabled
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0
        #: what is being worked on, shown after the count (a pass's name, say)
        self.detail = ""
        self._last = 0.0
        self._shown = False
        self._width = 0
        self._drawn = -1

    def update(self, n: int = 1, detail: str | None = None) -> None:
        """``n`` more units done; ``detail`` replaces the text shown after the count."""
        self.done += n
        if detail is not None:
            self.detail = detail
        if not self.enabled:
            return
        now = time.monotonic()
        finished = bool(self.total) and self.done >= self.total
        if now - self._last < 0.1 and not finished and self._shown:
            return
        self._last = now
        self._draw()

    def _draw(self) -> None:
        self._drawn = self.done
        if not self._shown:
            end_line(self.stream)  # an outer bar's line ends first
            if self not in _ACTIVE:
                _ACTIVE.append(self)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            text = (f"{self.label} [{bar}] {self.done}/{self.total} {self.unit} "
                    f"{100 * frac:3.0f}%")
        else:
            text = f"{self.label}: {self.done} {self.unit}"
        if self.detail:
            text += f" ({self.detail})"
        # spaces cover what a longer previous text left at the end of the line
        pad = " " * max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """Draw the last count if a redraw was skipped, and end the bar's line."""
        if self.enabled and self._drawn != self.done:
            self._draw()
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def track(items: Iterable[Any], total: int | None, label: str, unit: str = "samples",
          stream: TextIO | None = None, enabled: bool | None = None) -> Iterator[Any]:
    """Yield ``items``, counting one unit per item on a :class:`Progress` bar."""
    with Progress(total, label, unit, stream, enabled) as bar:
        bar.update(0)
        for item in items:
            yield item
            bar.update(1)
