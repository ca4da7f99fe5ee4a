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
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from qcc.diagnostics import QccError

# a field that may be zero (the default is strictly positive)
_NONNEG = {"min": "nonneg"}


@dataclass(frozen=True)
class ArraySpec:
    rows: int  # input lanes (the K side of a weight tile)
    cols: int  # output lanes (the N side)
    clock_hz: float


@dataclass(frozen=True)
class UnifiedBufferSpec:
    rows: int
    row_bytes: int

    @property
    def bytes(self) -> int:
        return self.rows * self.row_bytes


@dataclass(frozen=True)
class AccumulatorSpec:
    rows: int
    lanes: int
    bytes_per_lane: int

    @property
    def row_bytes(self) -> int:
        return self.lanes * self.bytes_per_lane


@dataclass(frozen=True)
class WeightSpec:
    fifo_depth: int  # tiles
    tile_bytes: int
    shift_cycles: int  # to shift one tile into the array's shadow buffer


@dataclass(frozen=True)
class MemorySpec:
    kind: str
    capacity_bytes: int
    bandwidth_bytes_per_s: float


@dataclass(frozen=True)
class LinkSpec:
    kind: str
    raw_bandwidth_bytes_per_s: float
    bandwidth_bytes_per_s: float  # effective, what the timing model uses


@dataclass(frozen=True)
class PowerSpec:
    idle_w: float
    busy_w: float
    tdp_w: float


@dataclass(frozen=True)
class TimingSpec:
    issue_cycles: float = field(metadata=_NONNEG)
    fill_drain_cycles: float = field(metadata=_NONNEG)
    activate_rows_per_cycle: float
    pool_rows_per_cycle: float
    add_rows_per_cycle: float


@dataclass(frozen=True)
class EnergySpec:
    mac_pj: float = field(metadata=_NONNEG)
    ub_pj_per_byte: float = field(metadata=_NONNEG)
    acc_pj_per_access: float = field(metadata=_NONNEG)  # one 32-bit accumulator word
    dram_pj_per_bit: float = field(metadata=_NONNEG)
    host_pj_per_bit: float = field(metadata=_NONNEG)
    static_w: float = field(metadata=_NONNEG)


@dataclass(frozen=True)
class Target:
    """One machine. Sections mirror the TOML tables; derived quantities are
    properties so that they can never disagree with the numbers they come from."""

    name: str
    description: str
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
        raw = _to_raw(self)
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
    return _build(Target, raw, label, "", where)


def _load_raw(name_or_path: str, chain: tuple[str, ...]) -> tuple[dict, str, str]:
    """The merged TOML tables of a target (``inherits`` resolved), its file name, and
    the name errors use (the file and the files it inherits from)."""
    text, where = _read(name_or_path, chain[-1] if chain else None)
    if where in chain:
        raise QccError(f"{where}: 'inherits' makes a cycle: {' -> '.join((*chain, where))}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise QccError(f"{where}: not valid TOML: {e}") from None
    base = raw.get("inherits")
    if base is None:
        return raw, where, where
    if not isinstance(base, str):
        raise QccError(f"{where}: key 'inherits': expected a target name or path, got "
                       f"{_kind(base)}")
    parent, _, parent_label = _load_raw(base, (*chain, where))
    return _merge(parent, raw), where, f"{where} (inheriting {parent_label})"


def _read(name_or_path: str, relative_to: str | None) -> tuple[str, str]:
    shipped = list_targets()
    if name_or_path in shipped:
        res = _targets_dir() / f"{name_or_path}.toml"
        return res.read_text(encoding="utf-8"), str(res)
    path = Path(name_or_path)
    if not path.is_absolute() and relative_to is not None:
        path = Path(relative_to).parent / path  # inherits: relative to the file
    if path.suffix != ".toml":
        raise QccError(f"unknown target '{name_or_path}': shipped targets are "
                       f"{', '.join(shipped)}; a user target is a path to a .toml file")
    if not path.is_file():
        raise QccError(f"target file '{path}' does not exist")
    return path.read_text(encoding="utf-8"), str(path)


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
            raise QccError(f"{where}: unknown key {prefix}'{key}' (expected one of "
                           f"{', '.join(sorted(names))})")
    values: dict[str, Any] = {}
    for f in fields:
        key = f"{section}.{f.name}" if section else f.name
        if f.name not in table:
            raise QccError(f"{where}: missing key '{key}'")
        v, hint = table[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(v, dict):
                raise QccError(f"{where}: '{key}' must be a table [{key}], got {_kind(v)}")
            values[f.name] = _build(hint, v, where, key, source)
            continue
        values[f.name] = _check(v, hint, f, key, where)
    if cls is Target:
        values["source"] = source
        target = Target(**values)
        _check_consistent(target, where)
        return target
    return cls(**values)


def _check(v: Any, hint: type, f: dataclasses.Field, key: str, where: str) -> Any:
    ok = {str: isinstance(v, str), bool: isinstance(v, bool),
          int: isinstance(v, int) and not isinstance(v, bool),
          float: isinstance(v, int | float) and not isinstance(v, bool)}[hint]
    if not ok:
        want = {str: "a string", bool: "true or false", int: "an integer",
                float: "a number"}[hint]
        raise QccError(f"{where}: key '{key}': expected {want}, got {_kind(v)} ({v!r})")
    if hint in (int, float):
        nonneg = f.metadata.get("min") == "nonneg"
        if v < 0 or (v == 0 and not nonneg) or v != v or v == float("inf"):
            want = "a non-negative finite" if nonneg else "a positive finite"
            raise QccError(f"{where}: key '{key}': expected {want} value, got {v!r}")
        return float(v) if hint is float else v
    return v


def _check_consistent(t: Target, where: str) -> None:
    """Relations between sections that the rest of the backend relies on."""
    rules = [
        (t.weights.tile_bytes == t.array.rows * t.array.cols,
         "weights.tile_bytes", f"must equal array.rows x array.cols = "
         f"{t.array.rows * t.array.cols} (one int8 weight per MAC)"),
        (t.unified_buffer.row_bytes == t.array.rows,
         "unified_buffer.row_bytes", f"must equal array.rows = {t.array.rows} (one UB "
         "row feeds the array's inputs)"),
        (t.accumulators.lanes == t.array.cols,
         "accumulators.lanes", f"must equal array.cols = {t.array.cols}"),
        (t.host_link.bandwidth_bytes_per_s <= t.host_link.raw_bandwidth_bytes_per_s,
         "host_link.bandwidth_bytes_per_s", "must not exceed raw_bandwidth_bytes_per_s"),
    ]
    for ok, key, what in rules:
        if not ok:
            raise QccError(f"{where}: key '{key}' {what}")


def _to_raw(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_raw(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.name != "source"}
    return obj
