"""Target descriptions: every hardware number of a TPU-v1-class machine, read from TOML.

A target is a TOML file (shipped ones live in ``targets/``; a user may pass a path)
with one table per part of the machine::

    name = "my-tpu"
    inherits = "tpu-v1"              # optional: start from another target
    [weight_memory]
    bandwidth_bytes_per_s = 100e9    # and change what differs

:func:`load_target` reads it into a frozen :class:`Target`. Nothing else in qcc
hard-codes a hardware number: the timing model, the lowering and the simulator read
them here. Errors (missing key, wrong type, non-positive value, unknown key) are
:class:`~qcc.diagnostics.QccError` naming the file, the key and what is wrong.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from qcc.diagnostics import UNKNOWN, FileLoc, Location, QccError

#: the ISA's row width: every instruction moves 256-lane rows and the matrix unit
#: multiplies by 256x256 weight tiles (docs/isa.md), so a target's array must match
LANES = 256


class TargetError(QccError):
    """A target description that breaks the schema; ``key`` is the dotted key
    (``"accumulators.rows"``), or "" for the file as a whole."""

    def __init__(self, message: str, key: str = "", loc: Location = UNKNOWN,
                 source: str | None = None):
        super().__init__(message, loc, source)
        self.key = key


def _num(lo: float, hi: float | None = None, why: str = "", *, above: bool = False,
         default: int | None = None) -> Any:
    """A numeric field: ``lo <= value`` (``lo < value`` with ``above``) and
    ``value <= hi``, finite; ``why`` says where the limits come from. A key with a
    ``default`` may be left out (a file, a binary's TARGET section); the canonical
    description (:func:`target_to_raw`) leaves it out while it has that value, so
    that adding such a key changes no existing binary."""
    meta = {"lo": lo, "hi": hi, "above": above, "why": why}
    if default is None:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _text(max_len: int, *, empty: bool = False) -> Any:
    """A string field: printable (no control characters), at most ``max_len`` long."""
    return field(metadata={"max_len": max_len, "empty": empty})


def _choice(choices: tuple[str, ...], default: str, why: str = "") -> Any:
    """A string field that takes one of ``choices``; optional, ``default`` when left
    out (and then left out of the canonical description, like :func:`_num`'s)."""
    return field(default=default, metadata={"max_len": max(map(len, choices)),
                                            "empty": False, "choices": choices,
                                            "why": why})


_ISA_UB = "the ISA's Unified Buffer row fields are 24 bits"
_ISA_ACC = ("the lowering alternates two accumulator halves; matmul's accumulator "
            "row field is 16 bits")
_RATE = "bytes per second; below 1 kB/s the timing model's cycle counts lose meaning"
_PER_CYCLE = "rows per cycle"
_PJ = "picojoules"
_WATTS = "watts"


@dataclass(frozen=True)
class ArraySpec:
    rows: int = _num(LANES, LANES, f"the ISA moves {LANES}-lane rows and {LANES}x{LANES} "
                     "weight tiles; qcc models no other array size")  # input lanes (K)
    cols: int = _num(LANES, LANES, f"the ISA moves {LANES}-lane rows and {LANES}x{LANES} "
                     "weight tiles; qcc models no other array size")  # output lanes (N)
    clock_hz: float = _num(1e3, 1e12, "hertz: 1 kHz to 1 THz")


@dataclass(frozen=True)
class UnifiedBufferSpec:
    rows: int = _num(1, 1 << 24, _ISA_UB)
    row_bytes: int = _num(1, 1 << 16)

    @property
    def bytes(self) -> int:
        return self.rows * self.row_bytes


@dataclass(frozen=True)
class AccumulatorSpec:
    rows: int = _num(2, 1 << 16, _ISA_ACC)
    lanes: int = _num(1, 1 << 16)
    bytes_per_lane: int = _num(4, 4, "only 32-bit accumulators are modelled: the simulator "
                               "accumulates in int32 and the lowering relies on it")

    @property
    def row_bytes(self) -> int:
        return self.lanes * self.bytes_per_lane


@dataclass(frozen=True)
class WeightSpec:
    fifo_depth: int = _num(1, (1 << 16) - 1, "tiles; read_weights' tile count is 16 bits")
    tile_bytes: int = _num(1, 1 << 32)
    # cycles to shift one tile into the array's shadow buffer
    shift_cycles: int = _num(1, 10**6, "cycles")


@dataclass(frozen=True)
class MemorySpec:
    kind: str = _text(64)
    capacity_bytes: int = _num(1, 1 << 40, "bytes; the ISA's weight-memory addresses "
                               "are 40 bits")
    bandwidth_bytes_per_s: float = _num(1e3, None, _RATE)


@dataclass(frozen=True)
class LinkSpec:
    kind: str = _text(64)
    raw_bandwidth_bytes_per_s: float = _num(1e3, None, _RATE)
    # effective, what the timing model uses
    bandwidth_bytes_per_s: float = _num(1e3, None, _RATE)


@dataclass(frozen=True)
class HostSpec:
    """The host processor that runs host segments (ops the TPU cannot run): what
    the timing model charges for them. The defaults are assumptions, not published
    figures (docs/partitioning.md gives the reasoning)."""

    # elementwise float32 work (softmax, LRN, (de)quantization), elements per second
    elements_per_s: float = _num(1e3, None, "elements per second", default=2e9)
    # multiply-accumulates of host ops with weights (a forced convolution)
    macs_per_s: float = _num(1e3, None, "multiply-accumulates per second", default=16e9)
    # fixed cost of one host call: the TPU stops, the driver runs the segment, resumes
    call_overhead_s: float = _num(0, 1, "seconds", default=10e-6)


@dataclass(frozen=True)
class PowerSpec:
    """The published die power figures, for reference and validation: the energy
    model charges ``energy.static_w`` and per-event energies, not these (J17a Table
    2's idle is the die with no service running, not the die between requests)."""

    idle_w: float = _num(0, 1e6, _WATTS, above=True)
    busy_w: float = _num(0, 1e6, _WATTS, above=True)
    tdp_w: float = _num(0, 1e6, _WATTS, above=True)


@dataclass(frozen=True)
class ActivationSpec:
    """The activation unit's parameter storage: the table slots that ``load_table``
    fills and ``activate``/``add`` read (the ISA's slot fields are 8 bits)."""

    table_slots: int = _num(1, 256, "the ISA's table slot fields are 8 bits", default=8)


#: how the activation unit applies requantization multipliers (``requantization.
#: multipliers``): one (multiplier, shift) per lane, or one per pass for all lanes
PER_LANE, PER_TENSOR = "per-lane", "per-tensor"


@dataclass(frozen=True)
class RequantizationSpec:
    """How the activation unit rescales: ``per-lane`` (each of the 256 lanes has its
    own multiplier and shift, what qcc's tables carry; an assumption, the TPU v1 paper
    does not say) or ``per-tensor`` (one multiplier and shift per pass: an activate
    whose lanes need k distinct pairs takes k passes over its rows). The program is
    the same on both; only the timing model charges the passes."""

    multipliers: str = _choice((PER_LANE, PER_TENSOR), PER_LANE,
                               "the activation unit's multipliers: one per lane, or one "
                               "for all lanes of a pass")


@dataclass(frozen=True)
class TimingSpec:
    issue_cycles: float = _num(0, 1e6, "cycles")
    fill_drain_cycles: float = _num(0, 1e9, "cycles")
    activate_rows_per_cycle: float = _num(1e-3, 1e3, _PER_CYCLE)
    pool_rows_per_cycle: float = _num(1e-3, 1e3, _PER_CYCLE)
    add_rows_per_cycle: float = _num(1e-3, 1e3, _PER_CYCLE)


@dataclass(frozen=True)
class EnergySpec:
    mac_pj: float = _num(0, 1e6, _PJ)
    ub_pj_per_byte: float = _num(0, 1e6, _PJ)
    acc_pj_per_access: float = _num(0, 1e6, _PJ)  # one 32-bit accumulator word
    dram_pj_per_bit: float = _num(0, 1e6, _PJ)  # off-chip: the weight memory
    host_pj_per_bit: float = _num(0, 1e6, _PJ)  # the host link's PHY, on the die
    #: always-on die power while the chip is powered and serving (leakage, clock
    #: tree, control): charged for the run and for idle time between requests
    static_w: float = _num(0, 1e6, _WATTS)
    #: the fraction of the per-event energies (figures for random operands) that
    #: the MAC, Unified Buffer and accumulator events spend; 1 (the default, what
    #: qcc assumed before the key existed) charges them in full
    switching_activity: float = _num(0, 1, "a fraction of the per-event energies",
                                     above=True, default=1)


@dataclass(frozen=True)
class Target:
    """One machine. Sections mirror the TOML tables; derived quantities are
    properties so that they can never disagree with the numbers they come from."""

    name: str = _text(64)
    description: str = _text(1000, empty=True)
    what_if: bool
    array: ArraySpec
    unified_buffer: UnifiedBufferSpec
    accumulators: AccumulatorSpec
    weights: WeightSpec
    weight_memory: MemorySpec
    host_link: LinkSpec
    power: PowerSpec
    timing: TimingSpec
    energy: EnergySpec
    activation: ActivationSpec = field(default_factory=ActivationSpec)
    requantization: RequantizationSpec = field(default_factory=RequantizationSpec)
    host: HostSpec = field(default_factory=HostSpec)
    source: str = field(default="", compare=False)  # the file it was read from

    @property
    def cycle_s(self) -> float:
        return 1.0 / self.array.clock_hz

    @property
    def macs_per_cycle(self) -> int:
        return self.array.rows * self.array.cols

    @property
    def peak_tops(self) -> float:
        """2 ops per MAC, all MACs every cycle (92 TOPS for TPU v1)."""
        return 2 * self.macs_per_cycle * self.array.clock_hz / 1e12

    @property
    def weight_bytes_per_cycle(self) -> float:
        return self.weight_memory.bandwidth_bytes_per_s / self.array.clock_hz

    @property
    def tile_fetch_cycles(self) -> float:
        """Cycles to stream one weight tile from weight memory (1349 for TPU v1)."""
        return self.weights.tile_bytes / self.weight_bytes_per_cycle

    @property
    def host_bytes_per_cycle(self) -> float:
        return self.host_link.bandwidth_bytes_per_s / self.array.clock_hz

    @property
    def ridge_macs_per_weight_byte(self) -> float:
        """Roofline ridge: MACs a weight byte must feed to keep the array busy."""
        return self.macs_per_cycle / self.weight_bytes_per_cycle

    def updated(self, values: dict[str, Any]) -> Target:
        """A copy with dotted keys replaced, checked like a file:
        ``t.updated({"weight_memory.bandwidth_bytes_per_s": 1e12})``."""
        raw = _to_raw(self, full=True)
        for dotted, value in values.items():
            *path, key = dotted.split(".")
            table = raw
            for part in path:
                if not isinstance(table.get(part), dict):
                    raise QccError(f"target '{self.name}': no section [{part}] (in "
                                   f"'{dotted}')")
                table = table[part]
            if key not in table:
                raise QccError(f"target '{self.name}': unknown key '{dotted}'")
            table[key] = value
        return _build(Target, raw, f"target '{self.name}' (updated)", "", self.source)


# ---------------------------------------------------------------------- loading
def _targets_dir() -> Any:
    return resources.files(__package__) / "targets"


def list_targets() -> list[str]:
    """Names of the shipped targets."""
    return sorted(p.name[:-5] for p in _targets_dir().iterdir() if p.name.endswith(".toml"))


def load_target(name_or_path: str | Path) -> Target:
    """A shipped target by name (``"tpu-v1"``) or a user's ``.toml`` file by path."""
    raw, where, label = _load_raw(str(name_or_path), ())
    raw.pop("inherits", None)
    target = _build(Target, raw, label, "", where)
    if str(name_or_path) not in list_targets() and target.name in list_targets():
        mine = _flat(_to_raw(target, full=True))
        shipped = _flat(_to_raw(load_target(target.name), full=True))
        differ = [k for k, v in mine.items() if shipped.get(k) != v]
        if differ:
            raise TargetError(
                f"{where}: key 'name' = {target.name!r} is the name of a shipped target, "
                f"but this file's numbers differ from it ({', '.join(differ[:3])}); give "
                "it a name of its own (name = \"...\"), so that programs and reports "
                "do not call two machines by one name", "name")
    return target


def _flat(raw: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def target_from_raw(raw: Any, where: str, source: str = "") -> Target:
    """A target from its tables (as :func:`target_to_raw` gives them, e.g. decoded
    from a binary's TARGET section), checked like a file: errors name ``where``."""
    if not isinstance(raw, dict):
        raise TargetError(f"{where}: expected a table of target keys, got {_kind(raw)}")
    return _build(Target, raw, where, "", source)


def target_to_raw(target: Target) -> dict[str, Any]:
    """Every key of the description (``inherits`` resolved, no file name), except a
    key that has a default and that value (a table left empty so is left out too):
    what :func:`target_from_raw` reads back to an equal Target."""
    return _to_raw(target)


def _load_raw(name_or_path: str, chain: tuple[str, ...]) -> tuple[dict, str, str]:
    """The merged TOML tables of a target (``inherits`` resolved), its file name, and
    the name errors use (the file and the files it inherits from)."""
    text, where = _read(name_or_path, chain[-1] if chain else None)
    if where in chain:
        raise TargetError(f"{where}: 'inherits' makes a cycle: "
                          f"{' -> '.join((*chain, where))}", "inherits")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(e, where, text) from None
    base = raw.get("inherits")
    if base is None:
        return raw, where, where
    if not isinstance(base, str):
        raise TargetError(f"{where}: key 'inherits': expected a target name or path, got "
                          f"{_kind(base)}", "inherits")
    parent, _, parent_label = _load_raw(base, (*chain, where))
    return _merge(parent, raw), where, f"{where} (inheriting {parent_label})"


def _toml_error(e: tomllib.TOMLDecodeError, where: str, text: str) -> TargetError:
    """A TOML syntax error at its line and column (tomllib puts them in the message)."""
    message = str(e)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if m is None:
        return TargetError(f"{where}: not valid TOML: {message}")
    return TargetError(f"not valid TOML: {message[:m.start()]}",
                       loc=FileLoc(where, int(m[1]), int(m[2])), source=text)


def _read(name_or_path: str, relative_to: str | None) -> tuple[str, str]:
    shipped = list_targets()
    if name_or_path in shipped:
        res = _targets_dir() / f"{name_or_path}.toml"
        return res.read_text(encoding="utf-8"), str(res)
    path = Path(name_or_path)
    # an inherited target: named by the file that inherits it, relative to that file
    referrer = "" if relative_to is None else \
        f"{relative_to}: key 'inherits' = {name_or_path!r}: "
    if not path.is_absolute() and relative_to is not None:
        path = Path(relative_to).parent / path
    if path.suffix != ".toml":
        raise TargetError(f"{referrer}unknown target '{name_or_path}': shipped targets are "
                          f"{', '.join(shipped)}; a user target is a path to a .toml file",
                          "inherits" if referrer else "")
    if path.is_dir():
        raise TargetError(f"{referrer}target file '{path}' is a directory",
                          "inherits" if referrer else "")
    if not path.is_file():
        raise TargetError(f"{referrer}target file '{path}' does not exist",
                          "inherits" if referrer else "")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TargetError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8"), str(path)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise TargetError(f"not UTF-8 text: byte 0x{data[e.start]:02x} ({e.reason}); "
                          "a target file is UTF-8 TOML",
                          loc=FileLoc(str(path), line, col)) from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k),
                                                                           dict) else v
    return out


def _kind(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            dict: "a table", list: "an array"}.get(type(v), type(v).__name__)


def _build(cls: type, table: dict, where: str, section: str, source: str) -> Any:
    """Check one TOML table against a dataclass and build it."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name != "source"]
    prefix = f"[{section}] " if section else ""
    names = {f.name for f in fields}
    for key in table:
        if key not in names:
            dotted = f"{section}.{key}" if section else str(key)
            raise TargetError(f"{where}: unknown key {prefix}'{key}' (expected one of "
                              f"{', '.join(sorted(names))})", dotted)
    values: dict[str, Any] = {}
    for f in fields:
        key = f"{section}.{f.name}" if section else f.name
        if f.name not in table and _optional(f):
            table = {**table, f.name: {} if dataclasses.is_dataclass(hints[f.name])
                     else f.default}
        if f.name not in table:
            raise TargetError(f"{where}: missing key '{key}'", key)
        v, hint = table[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(v, dict):
                raise TargetError(f"{where}: '{key}' must be a table [{key}], got "
                                  f"{_kind(v)}", key)
            values[f.name] = _build(hint, v, where, key, source)
            continue
        values[f.name] = _check(v, hint, f, key, where)
    if cls is Target:
        values["source"] = source
        target = Target(**values)
        _check_consistent(target, where)
        return target
    return cls(**values)


def _show(v: float, hint: type) -> str:
    """A limit as the reader would write it: 65536, 1000, 1e+12, 0.001."""
    short = f"{v:g}"
    return str(int(v)) if hint is int else short if float(short) == v else repr(v)


def _check(v: Any, hint: type, f: dataclasses.Field, key: str, where: str) -> Any:
    ok = {str: isinstance(v, str), bool: isinstance(v, bool),
          int: isinstance(v, int) and not isinstance(v, bool),
          float: isinstance(v, int | float) and not isinstance(v, bool)}[hint]
    if not ok:
        want = {str: "a string", bool: "true or false", int: "an integer",
                float: "a number"}[hint]
        raise TargetError(f"{where}: key '{key}': expected {want}, got {_kind(v)} ({v!r})",
                          key)

    def bad(problem: str) -> TargetError:
        return TargetError(f"{where}: key '{key}' = {v!r}: {problem}", key)

    if hint is str:
        choices = f.metadata.get("choices")
        if choices is not None and v not in choices:
            why = f" ({f.metadata['why']})" if f.metadata.get("why") else ""
            raise bad(f"must be one of {', '.join(map(repr, choices))}{why}")
        limit = f.metadata["max_len"]
        if not v and not f.metadata["empty"]:
            raise bad("must not be empty")
        if len(v) > limit:
            raise bad(f"must be at most {limit} characters")
        if not v.isprintable():
            raise bad("must not contain control characters")
        return v
    if hint is bool:
        return v
    lo, hi, above, why = (f.metadata[k] for k in ("lo", "hi", "above", "why"))
    note = f" ({why})" if why else ""
    if not math.isfinite(v):
        raise bad("must be a finite number")
    if lo == hi and v != lo:
        raise bad(f"must be {_show(lo, hint)}{note}")
    if (v <= lo if above else v < lo):
        raise bad(f"must be {'above' if above else 'at least'} {_show(lo, hint)}{note}")
    if hi is not None and v > hi:
        raise bad(f"must be at most {_show(hi, hint)}{note}")
    return float(v) if hint is float else v


def _check_consistent(t: Target, where: str) -> None:
    """Relations between sections that the rest of the backend relies on."""
    a, ub, acc, host, power = t.array, t.unified_buffer, t.accumulators, t.host_link, t.power
    rules = [
        ("weights.tile_bytes", t.weights.tile_bytes, t.weights.tile_bytes == a.rows * a.cols,
         f"must equal array.rows x array.cols = {a.rows * a.cols} (one int8 weight per "
         "MAC)"),
        ("unified_buffer.row_bytes", ub.row_bytes, ub.row_bytes == a.rows,
         f"must equal array.rows = {a.rows} (one UB row feeds the array's inputs)"),
        ("accumulators.lanes", acc.lanes, acc.lanes == a.cols,
         f"must equal array.cols = {a.cols} (one accumulator lane per array column)"),
        ("host_link.bandwidth_bytes_per_s", host.bandwidth_bytes_per_s,
         host.bandwidth_bytes_per_s <= host.raw_bandwidth_bytes_per_s,
         f"must not exceed host_link.raw_bandwidth_bytes_per_s = "
         f"{host.raw_bandwidth_bytes_per_s:g} (the effective rate is part of the raw one)"),
        ("power.busy_w", power.busy_w, power.idle_w <= power.busy_w <= power.tdp_w,
         f"must lie between power.idle_w = {power.idle_w:g} and power.tdp_w = "
         f"{power.tdp_w:g}"),
    ]
    for key, value, ok, what in rules:
        if not ok:
            raise TargetError(f"{where}: key '{key}' = {value!r} {what}", key)


def _optional(f: dataclasses.Field) -> bool:
    """A key that may be left out: it has a default (a table: all its keys do)."""
    return f.default is not dataclasses.MISSING or \
        f.default_factory is not dataclasses.MISSING  # type: ignore[misc]


def _to_raw(obj: Any, full: bool = False) -> Any:
    """The tables of a description; unless ``full``, without the optional keys that
    have their default value (and the tables that leaves empty)."""
    if not dataclasses.is_dataclass(obj):
        return obj
    out = {}
    for f in dataclasses.fields(obj):
        if f.name == "source":
            continue
        value = _to_raw(getattr(obj, f.name), full)
        if not full and _optional(f) and (value == {} or (
                f.default is not dataclasses.MISSING and value == f.default)):
            continue
        out[f.name] = value
    return out


# ---------------------------------------------------------------------- sources
#: what a number's comment must contain to say where it comes from: a source key of
#: shared/reference/tpu_v1.md (J17a, H14, OC17, VIZ; [D] = derived there by
#: arithmetic), SB17 (Stillmaker & Baas 2017, the 45 -> 28 nm scaling), or the word
#: "assumption"
SOURCE_MARKS = re.compile(r"\bJ17a\b|\bH14\b|\bOC17\b|\bVIZ\b|\bSB17\b|\[D\]|assumption",
                          re.IGNORECASE)
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def unsourced_keys(text: str) -> list[tuple[int, str]]:
    """The keys of a target file whose value is a number but whose comment (on the
    same line, or the block of comment lines directly above it) names no source
    (:data:`SOURCE_MARKS`): ``[(line number, "section.key"), ...]``. Shipped
    targets have none (a test checks); a user file may use it to check its own."""
    lines = text.splitlines()
    section, out = "", []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.split("]", 1)[0].strip("[ ")
            continue
        m = _KEY_LINE.match(line)
        if m is None:
            continue
        try:
            value = tomllib.loads(line.strip())[m[1]]
        except (tomllib.TOMLDecodeError, KeyError):
            continue  # a multi-line value: never a bare number
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        comments = [line.split("#", 1)[1]] if "#" in line else []
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#"):
            comments.append(lines[j])
            j -= 1
        if not any(SOURCE_MARKS.search(c) for c in comments):
            out.append((i + 1, f"{section}.{m[1]}" if section else m[1]))
    return out
