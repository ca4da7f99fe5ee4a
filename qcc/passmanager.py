"""Passes, the pass registry, pipeline strings and the pass manager.

A pass is a frozen dataclass registered under a kebab-case name; its fields are
its options::

    @register_pass
    @dataclass(frozen=True)
    class FoldThings(Pass):
        '''Fold things.'''
        name = "fold-things"
        max_depth: int = 4

A pipeline is a string of passes with options, ``canonicalize,fold-things{max-depth=2}``,
that prints back as written. The pass manager runs it, verifies the module after
every pass (naming the pass that broke an invariant), and offers the usual
instrumentation: IR dumps after passes, stopping early, timing, statistics and a
reproducer file when a pass crashes.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TextIO

from qcc.diagnostics import FileLoc, PassFailure, QccError
from qcc.ir.core import Module
from qcc.ir.verifier import verify

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class PassContext:
    """What a pass may use besides the module: statistics and shared data.

    ``data`` carries inputs later passes need (calibration data, target...);
    passes keep no state of their own between runs.
    """

    def __init__(self, data: dict[str, Any] | None = None):
        self.data: dict[str, Any] = dict(data or {})
        self.statistics: dict[str, dict[str, int]] = {}
        self._current = ""

    def stat(self, name: str, count: int = 1) -> None:
        """Add ``count`` to a named counter of the running pass."""
        counters = self.statistics.setdefault(self._current, {})
        counters[name] = counters.get(name, 0) + count


@dataclass(frozen=True)
class Pass:
    """Base of all passes. Subclasses set ``name`` and implement ``run``."""

    name: ClassVar[str] = ""

    def run(self, module: Module, ctx: PassContext) -> None:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def options(cls) -> dict[str, tuple[Any, Any]]:
        """Option name (kebab-case) -> (type, default)."""
        hints = typing.get_type_hints(cls)
        out = {}
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out[f.name.replace("_", "-")] = (hints[f.name], default)
        return out


PASS_REGISTRY: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Register a pass class (a frozen dataclass) under its kebab-case ``name``."""
    params = cls.__dict__.get("__dataclass_params__")  # decorated itself, not inherited
    if params is None or not params.frozen:
        raise TypeError(f"pass {cls.__name__} must be a frozen dataclass")
    if not _KEBAB.match(cls.name or ""):
        raise ValueError(f"pass {cls.__name__}: name {cls.name!r} is not kebab-case")
    if cls.name in PASS_REGISTRY and PASS_REGISTRY[cls.name] is not cls:
        raise ValueError(f"a pass named '{cls.name}' is already registered")
    for opt, (typ, _) in cls.options().items():
        _converter(typ, opt)  # fails early on an unsupported option type
    PASS_REGISTRY[cls.name] = cls
    return cls


def get_pass(name: str) -> type[Pass]:
    _load_builtin_passes()
    if name not in PASS_REGISTRY:
        raise KeyError(name)
    return PASS_REGISTRY[name]


#: packages whose import registers passes; the core reaches passes only through here
PASS_PACKAGES: list[str] = ["qcc.passes", "qcc.backends.tpu_v1.passes"]


def _load_builtin_passes() -> None:
    import importlib

    for package in PASS_PACKAGES:
        importlib.import_module(package)


# --------------------------------------------------------------------------- options


def _converter(typ: Any, opt: str) -> Callable[[str], Any]:
    if typ is bool:
        def conv_bool(text: str) -> bool:
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            raise ValueError("expected true or false")
        return conv_bool
    if typ is int:
        return lambda text: int(text, 0)
    if typ is float:
        return float
    if typ is str:
        return lambda text: text
    if typing.get_origin(typ) is Literal:
        choices = typing.get_args(typ)

        def conv_choice(text: str) -> str:
            if text not in choices:
                raise ValueError(f"expected one of {', '.join(map(str, choices))}")
            return text
        return conv_choice
    if typing.get_origin(typ) is tuple and typing.get_args(typ)[1:] == (Ellipsis,):
        inner = _converter(typing.get_args(typ)[0], opt)
        return lambda text: tuple(inner(t) for t in text.split(",") if t)
    raise TypeError(f"option '{opt}' has unsupported type {typ}")


def format_option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(format_option_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if text == "" or re.search(r'[\s{}"\\]', text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


# --------------------------------------------------------------------------- pipelines


@dataclass
class PipelineEntry:
    """One pass in a pipeline, with the options given explicitly (in their order)."""

    pass_cls: type[Pass]
    options: dict[str, Any] = field(default_factory=dict)

    def instantiate(self) -> Pass:
        return self.pass_cls(**{k.replace("-", "_"): v for k, v in self.options.items()})

    def __str__(self) -> str:
        if not self.options:
            return self.pass_cls.name
        opts = " ".join(f"{k}={format_option_value(v)}" for k, v in self.options.items())
        return f"{self.pass_cls.name}{{{opts}}}"


class Pipeline:
    """An ordered list of passes; ``str(Pipeline.parse(s)) == s`` for canonical ``s``."""

    def __init__(self, entries: list[PipelineEntry] | None = None):
        self.entries = list(entries or [])

    def add(self, pass_name_or_cls: str | type[Pass], **options: Any) -> Pipeline:
        """Append a pass by name or class, with options by field name."""
        cls = pass_name_or_cls if isinstance(pass_name_or_cls, type) else \
            _lookup(pass_name_or_cls, pass_name_or_cls, 0)
        known = cls.options()
        entry = PipelineEntry(cls)
        for key, value in options.items():
            kebab = key.replace("_", "-")
            if kebab not in known:
                raise QccError(f"pass '{cls.name}' has no option '{kebab}'"
                               + _options_note(cls))
            entry.options[kebab] = value
        try:
            entry.instantiate()
        except (ValueError, TypeError) as e:
            raise QccError(f"pass '{cls.name}': {e}") from None
        self.entries.append(entry)
        return self

    @staticmethod
    def parse(text: str) -> Pipeline:
        return _PipelineParser(text).parse()

    def __str__(self) -> str:
        return ",".join(str(e) for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def run(self, module: Module, ctx: PassContext | None = None,
            instrumentation: Instrumentation | None = None) -> Module:
        return PassManager(self, instrumentation).run(module, ctx)


def _options_note(cls: type[Pass]) -> str:
    opts = cls.options()
    if not opts:
        return " (it takes no options)"
    return " (its options: " + ", ".join(opts) + ")"


def _lookup(name: str, text: str, pos: int) -> type[Pass]:
    _load_builtin_passes()
    if name not in PASS_REGISTRY:
        known = ", ".join(sorted(PASS_REGISTRY))
        raise _pipeline_error(f"unknown pass '{name}' (known passes: {known})", text, pos)
    return PASS_REGISTRY[name]


def _pipeline_error(message: str, text: str, pos: int) -> QccError:
    return QccError(message, FileLoc("<pipeline>", 1, pos + 1), text)


class _PipelineParser:
    """``pass(,pass)*`` with ``pass := name[{key=value( key=value)*}]``."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> QccError:
        return _pipeline_error(message, self.text, self.pos if pos is None else pos)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word(self, what: str) -> tuple[str, int]:
        self.skip_ws()
        m = re.compile(r"[A-Za-z0-9_.\-]+").match(self.text, self.pos)
        if not m:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of input"
            raise self.error(f"expected {what}, found {found}")
        self.pos = m.end()
        return m.group(), m.start()

    def value(self) -> str:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            out, i = [], self.pos + 1
            while i < len(self.text) and self.text[i] != '"':
                if self.text[i] == "\\" and i + 1 < len(self.text):
                    i += 1
                out.append(self.text[i])
                i += 1
            if i >= len(self.text):
                raise self.error("unterminated string")
            self.pos = i + 1
            return "".join(out)
        m = re.compile(r'[^\s{}"]+').match(self.text, self.pos)
        if not m:
            raise self.error("expected an option value")
        self.pos = m.end()
        return m.group()

    def parse(self) -> Pipeline:
        pipeline = Pipeline()
        self.skip_ws()
        if self.pos == len(self.text):
            return pipeline
        while True:
            pipeline.entries.append(self.entry())
            self.skip_ws()
            if self.pos == len(self.text):
                return pipeline
            if self.text[self.pos] != ",":
                raise self.error(f"expected ',' between passes, found {self.text[self.pos]!r}")
            self.pos += 1

    def entry(self) -> PipelineEntry:
        name, start = self.word("a pass name")
        cls = _lookup(name, self.text, start)
        entry = PipelineEntry(cls)
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] == "{":
            self.pos += 1
            known = cls.options()
            while True:
                self.skip_ws()
                if self.pos < len(self.text) and self.text[self.pos] == "}":
                    self.pos += 1
                    break
                key, kpos = self.word("an option name")
                if key not in known:
                    raise self.error(f"pass '{name}' has no option '{key}'"
                                     + _options_note(cls), kpos)
                if key in entry.options:
                    raise self.error(f"option '{key}' given twice", kpos)
                self.skip_ws()
                if self.pos >= len(self.text) or self.text[self.pos] != "=":
                    raise self.error(f"expected '=' after option '{key}'")
                self.pos += 1
                vpos = self.pos
                raw = self.value()
                try:
                    entry.options[key] = _converter(known[key][0], key)(raw)
                except ValueError as e:
                    raise self.error(f"bad value {raw!r} for option '{key}' of pass "
                                     f"'{name}': {e}", vpos) from None
        try:
            entry.instantiate()
        except (ValueError, TypeError) as e:
            raise self.error(f"pass '{name}': {e}", start) from None
        return entry


# --------------------------------------------------------------------------- running


@dataclass
class Instrumentation:
    """What the pass manager reports while it runs (CLI flags map onto these)."""

    verify_each: bool = True
    print_ir_after_all: bool = False
    print_ir_after: tuple[str, ...] = ()
    stop_after: str | None = None
    time_passes: bool = False
    pass_statistics: bool = False
    #: where to write a reproducer when a pass crashes (None: no reproducer)
    reproducer_dir: Path | None = None
    elide_constants: bool = False
    stream: TextIO | None = None


@dataclass
class StoppedCompile:
    """A compile stopped after pass ``stopped_after`` (``Instrumentation.stop_after``):
    the module as it was then, and no program."""

    module: Module
    stopped_after: str


class PassManager:
    """Runs a pipeline on a module with verification and instrumentation."""

    def __init__(self, pipeline: Pipeline | str, instrumentation: Instrumentation | None = None,
                 after_pass: Callable[[int, str, Module], None] | None = None):
        self.pipeline = Pipeline.parse(pipeline) if isinstance(pipeline, str) else pipeline
        self.inst = instrumentation or Instrumentation()
        self.timings: list[tuple[str, float]] = []
        #: called with (index, pass name, module) after each pass is verified (a driver
        #: that runs one pipeline in stages keeps copies of the module here)
        self.after_pass = after_pass
        #: the pass the run stopped after (``stop_after``), if it stopped early
        self.stopped_after: str | None = None

    def _stream(self) -> TextIO:
        return self.inst.stream or sys.stderr

    def run(self, module: Module, ctx: PassContext | None = None) -> Module:
        from qcc.text import print_module

        ctx = ctx or PassContext()
        inst = self.inst
        names = {e.pass_cls.name for e in self.pipeline.entries}
        for wanted in (*inst.print_ir_after, *([inst.stop_after] if inst.stop_after else [])):
            if wanted not in names:
                raise QccError(f"pass '{wanted}' is not in the pipeline '{self.pipeline}'")
        for i, entry in enumerate(self.pipeline.entries):
            p = entry.instantiate()
            before = module.clone() if inst.reproducer_dir is not None else None
            ctx._current = p.name
            start = time.perf_counter()
            try:
                p.run(module, ctx)
            except QccError:
                raise
            except MemoryError as e:  # a resource limit, not a compiler bug
                raise QccError(f"pass '{p.name}' ran out of memory: {e or 'MemoryError'} "
                               "(the model's tensors are too large for this machine's "
                               "memory)") from None
            except Exception as e:  # a crash in a pass is a compiler bug
                repro = self._reproducer(before, i, p.name)
                tb = traceback.format_exc(limit=-3)
                raise PassFailure(f"pass '{p.name}' crashed: {type(e).__name__}: {e}\n{tb}",
                                  repro) from e
            finally:
                ctx._current = ""
            self.timings.append((p.name, time.perf_counter() - start))
            if inst.verify_each:
                try:
                    verify(module)
                except QccError as e:
                    repro = self._reproducer(before, i, p.name)
                    raise PassFailure(f"the IR is invalid after pass '{p.name}': "
                                      f"{e.format()}", repro) from None
            if inst.print_ir_after_all or p.name in inst.print_ir_after:
                out = self._stream()
                out.write(f"// -----// IR Dump After {p.name} //----- //\n")
                out.write(print_module(module, elide_constants=inst.elide_constants))
            if self.after_pass is not None:
                self.after_pass(i, p.name, module)
            if inst.stop_after == p.name:
                self.stopped_after = p.name
                break
        if inst.time_passes:
            self._report_times()
        if inst.pass_statistics:
            self._report_statistics(ctx)
        return module

    def _reproducer(self, before: Module | None, index: int, name: str) -> str | None:
        if before is None or self.inst.reproducer_dir is None:
            return None
        from qcc.text import print_module

        rest = Pipeline(self.pipeline.entries[index:])
        path = Path(self.inst.reproducer_dir) / f"qcc-reproducer-{name}.mlir"
        text = (f"// qcc reproducer: pass '{name}' failed on this IR.\n"
                f"// Rerun: qcc opt {path.name} -p '{rest}'\n"
                f"// pipeline: {rest}\n" + print_module(before))
        from qcc.outputs import outside_transaction, write_output

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # written now, although the command fails: it is the report of the failure
            with outside_transaction():
                write_output(path, text, "--reproducer-dir")
        except (OSError, QccError):
            return None
        return str(path)

    def _report_times(self) -> None:
        out = self._stream()
        total = sum(t for _, t in self.timings) or 1e-12
        out.write("===-------------------------------------------------------------===\n")
        out.write("                      ... Pass execution timing report ...\n")
        out.write("===-------------------------------------------------------------===\n")
        out.write(f"  Total Execution Time: {total:.4f} seconds\n\n")
        out.write("   ---Wall Time---  --- Name ---\n")
        for name, t in self.timings:
            out.write(f"   {t:.4f} ({100 * t / total:5.1f}%)  {name}\n")
        out.write(f"   {total:.4f} (100.0%)  Total\n")

    def _report_statistics(self, ctx: PassContext) -> None:
        out = self._stream()
        out.write("===-------------------------------------------------------------===\n")
        out.write("                         ... Pass statistics report ...\n")
        out.write("===-------------------------------------------------------------===\n")
        for entry in self.pipeline.entries:
            name = entry.pass_cls.name
            out.write(f"{name}\n")
            for key, value in sorted(ctx.statistics.get(name, {}).items()):
                out.write(f"  ({value:6d}) {key}\n")


def run_pipeline(module: Module, pipeline: str | Pipeline, ctx: PassContext | None = None,
                 instrumentation: Instrumentation | None = None) -> Module:
    """Parse (if needed) and run a pipeline on ``module`` in place; returns it."""
    pm = PassManager(pipeline, instrumentation)
    return pm.run(module, ctx)
