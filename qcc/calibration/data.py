"""Calibration data sources: :class:`CalibrationData` streams the samples of a
``.npz``, a ``.npy``, a folder of them, a mapping of arrays or an iterable of
``{input name: array}``, checks them against the graph's inputs (names, shapes,
dtypes, finite values; a QccError names the file or item and the input), and stacks
them into batches of the graph's batch size. :func:`iterate_batches` gives just the
batches; :func:`random_samples` makes standard-normal samples for tests and smoke runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qcc.calibration.activations import batch_size
from qcc.calibration.npyio import _open_npy, _open_npz
from qcc.diagnostics import QccError, warn
from qcc.ir.core import Graph
from qcc.ir.types import TensorType

#: arrays of a data file that hold labels, not inputs: left out without a warning
#: (`qcc explore` and the reports measure accuracy against ``label``)
LABEL_ARRAYS = ("label", "labels")


@dataclass(frozen=True)
class InputSpec:
    """What calibration data must hold for one graph input."""

    name: str
    type: TensorType
    sample_shape: tuple[int, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{self.name!r} ({self.type})"


def _shape(s: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"

class CalibrationData:
    """Calibration samples for a graph, streamed in batches of its batch size.

    ``source`` is one of:

    - a path to a ``.npz`` file: one array per input, named by the input, first
      axis = samples (any number); read row by row from the archive;
    - a path to a folder of ``.npy`` / ``.npz`` files (taken in name order), each a
      sample (the input's shape without its batch dimension) or a batch of samples
      (one more leading axis); a ``.npy`` needs a single-input model; ``.npy`` files
      are memory-mapped, one file open at a time;
    - a path to a single ``.npy`` file (a sample or a batch, single-input models);
    - a mapping {input name: array with samples on axis 0} (like a loaded .npz);
    - an iterable of mappings {input name: sample or batch of samples}.

    Samples are cast to the input's dtype (same kind only) and must be finite.
    Batches: B consecutive samples; a last partial batch of r < B samples is padded
    with copies of its own samples and reported as holding r valid samples (the
    :class:`Collector` drops the padding rows from the statistics).
    """

    def __init__(self, graph: Graph, source: Any, what: str = "calibration data",
                 warn_ignored: bool = True):
        """``what`` names the data in messages ("evaluation data"); ``warn_ignored``
        False: no warning about arrays that are not inputs (when another reader of
        the same source already gave it)."""
        self.graph = graph
        self._what = what
        self.batch = batch_size(graph)
        self.specs = []
        for name, a in zip(graph.input_names, graph.args, strict=True):
            t = a.type
            sample = t.shape[1:] if t.rank >= 1 else ()
            self.specs.append(InputSpec(name, t, tuple(sample), t.element.numpy_dtype))
        self.source = source
        self.description = (f"{what} {source}" if isinstance(source, str | os.PathLike)
                             else what)
        #: number of samples, when known before streaming
        self.total: int | None = None
        self._ignored: set[tuple[str, ...]] = set()
        self._warn_ignored = warn_ignored
        self._plan: Callable[[], Iterator[tuple[str, int, dict[str, np.ndarray]]]]
        self._prepare()

    # -- validation ---------------------------------------------------------------------
    def _spec(self, name: str, where: str) -> InputSpec:
        for s in self.specs:
            if s.name == name:
                return s
        inputs = ", ".join(s.describe() for s in self.specs) or "none"
        raise QccError(f"{where} has an array {name!r}, which is not an input of the model "
                       f"(its inputs: {inputs})")

    def _check_names(self, names: Iterable[str], where: str) -> None:
        """Every input needs an array; a ``label`` array (:data:`LABEL_ARRAYS`, what
        accuracy is measured against) is left out silently, any other array that is
        not an input with a warning the first time."""
        names = list(names)
        for s in self.specs:
            if s.name not in names:
                have = f" (it has {', '.join(map(repr, names))})" if names else ""
                raise QccError(f"{where} has no array for input {s.describe()}{have}")
        inputs = {s.name for s in self.specs}
        extra = tuple(n for n in names if n not in inputs and n not in LABEL_ARRAYS)
        if extra and extra not in self._ignored and self._warn_ignored:
            self._ignored.add(extra)
            warn(f"{where}: ignoring {', '.join(map(repr, extra))}: not an input of the "
                 f"model (its inputs: {', '.join(sorted(inputs))})")

    def _check_array(self, spec: InputSpec, shape: tuple[int, ...], dtype: np.dtype,
                     where: str, batch_only: bool) -> int:
        """Samples in an array of this shape (a sample, or a batch with one more axis)."""
        if dtype.hasobject:
            raise QccError(f"{where}: input {spec.name!r} holds Python objects, not numbers")
        want = spec.dtype
        ok = (dtype.kind == "f") if want.kind == "f" else (
            dtype.kind in "iu" if want.kind in "iu" else dtype.kind == want.kind)
        if not ok:
            raise QccError(f"{where}: input {spec.name!r} has dtype {dtype}; the model expects "
                           f"{want} ({spec.type})")
        sample = spec.sample_shape
        if len(shape) == len(sample) + 1 and tuple(shape[1:]) == sample:
            return int(shape[0])
        if not batch_only and tuple(shape) == sample:
            return 1
        batched = _shape(("N", *sample))
        form = (f"{batched} (N samples)" if batch_only
                else f"{_shape(sample)} (one sample) or {batched} (N samples)")
        raise QccError(f"{where}: input {spec.name!r} has shape {_shape(shape)}, but its samples "
                       f"have shape {_shape(sample)} ({spec.type} without the batch "
                       f"dimension): expected {form}")

    def _check_counts(self, counts: dict[str, int], where: str) -> int:
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{n!r} has {c}" for n, c in counts.items())
            raise QccError(f"{where}: arrays hold different numbers of samples: {detail}")
        return next(iter(counts.values()), 0)

    def _cast(self, spec: InputSpec, a: np.ndarray, where: str, index: int) -> np.ndarray:
        a = np.asarray(a, dtype=spec.dtype)
        if spec.dtype.kind == "f":
            finite = np.isfinite(a)
            if not finite.all():
                bad = a.size - int(np.count_nonzero(finite))
                raise QccError(f"{where}: input {spec.name!r} sample {index} has {bad} "
                               "non-finite value(s) (NaN or Inf)")
        return a

    # -- sources ------------------------------------------------------------------------
    def _prepare(self) -> None:
        src = self.source
        if isinstance(src, str | os.PathLike):
            path = Path(src)
            if path.is_dir():
                self._prepare_folder(path)
            elif path.is_file() and path.suffix == ".npz":
                self._prepare_npz(path)
            elif path.is_file() and path.suffix == ".npy":
                self._prepare_files(path.parent, [path])
            elif path.exists():
                raise QccError(f"{self._what} {path}: expected a .npz file, a .npy file "
                               "or a folder of them")
            else:
                raise QccError(f"{self._what} {path}: no such file or directory")
        elif isinstance(src, Mapping):
            self._prepare_mapping(src)
        elif isinstance(src, Iterable):
            self._plan = lambda: self._iter_items(src)  # items may be samples or batches
        else:
            raise QccError(f"{self._what} must be a path, a mapping of arrays or an "
                           f"iterable of mappings, not {type(src).__name__}")

    def _prepare_npz(self, path: Path) -> None:
        where = f"{self._what} {path}"
        zf, members = _open_npz(path)
        try:
            self._check_names(members, where)
            counts = {}
            for s in self.specs:
                m = members[s.name]
                counts[s.name] = self._check_array(s, m.shape, m.dtype, where, True)
            self.total = self._check_counts(counts, where)
        finally:
            zf.close()

        def plan() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            zf, members = _open_npz(path)
            with zf:
                streams = [members[s.name].rows() for s in self.specs]
                for i, row in enumerate(zip(*streams, strict=True)):
                    yield where, i, dict(zip((s.name for s in self.specs), row, strict=True))

        self._plan = plan

    def _prepare_mapping(self, arrays: Mapping[str, Any]) -> None:
        where = self._what
        self._check_names(arrays, where)
        data = {s.name: np.asarray(arrays[s.name]) for s in self.specs}
        counts = {s.name: self._check_array(s, data[s.name].shape, data[s.name].dtype, where,
                                            True) for s in self.specs}
        self.total = self._check_counts(counts, where)

        def plan() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            for i in range(self.total or 0):
                yield where, i, {n: a[i] for n, a in data.items()}

        self._plan = plan

    def _prepare_folder(self, folder: Path) -> None:
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix in (".npy", ".npz"))
        self._prepare_files(folder, files)

    def _prepare_files(self, folder: Path, files: list[Path]) -> None:
        total = 0
        for p in files:  # headers only: errors before the (long) run
            total += self._file_samples(p, read=False)[0]
        self.total = total

        def plan() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            for p in files:
                yield from self._file_samples(p, read=True)[1]

        self._plan = plan

    def _file_samples(self, path: Path, read: bool
                      ) -> tuple[int, Iterator[tuple[str, int, dict[str, np.ndarray]]]]:
        where = f"{self._what} {path}"
        if path.suffix == ".npy":
            if len(self.specs) != 1:
                raise QccError(f"{where}: a .npy file holds one array, but the model has "
                               f"{len(self.specs)} inputs "
                               f"({', '.join(s.name for s in self.specs)}); use .npz files "
                               "with one array per input")
            spec = self.specs[0]
            arr = _open_npy(path)
            n = self._check_array(spec, arr.shape, arr.dtype, where, False)
            single = arr.shape == spec.sample_shape

            def gen_npy() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
                if single:
                    yield where, 0, {spec.name: np.array(arr)}
                    return
                for i in range(n):
                    yield where, i, {spec.name: np.array(arr[i])}

            return n, gen_npy() if read else iter(())
        zf, members = _open_npz(path)
        with zf:
            self._check_names(members, where)
            counts, single = {}, {}
            for s in self.specs:
                m = members[s.name]
                counts[s.name] = self._check_array(s, m.shape, m.dtype, where, False)
                single[s.name] = tuple(m.shape) == s.sample_shape
            n = self._check_counts(counts, where)

        def gen_npz() -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
            zf, members = _open_npz(path)
            with zf:
                streams = [iter([members[s.name].read()]) if single[s.name]
                           else members[s.name].rows() for s in self.specs]
                for i, row in enumerate(zip(*streams, strict=True)):
                    yield where, i, dict(zip((s.name for s in self.specs), row, strict=True))

        return n, gen_npz() if read else iter(())

    def _iter_items(self, items: Iterable[Any]) -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
        for k, item in enumerate(items):
            where = f"{self._what} item {k}"
            if not isinstance(item, Mapping):
                raise QccError(f"{where}: expected a mapping {{input name: array}}, got "
                               f"{type(item).__name__}")
            self._check_names(item, where)
            arrays = {s.name: np.asarray(item[s.name]) for s in self.specs}
            counts = {s.name: self._check_array(s, arrays[s.name].shape, arrays[s.name].dtype,
                                                where, False) for s in self.specs}
            n = self._check_counts(counts, where)
            single = {s.name: arrays[s.name].ndim == len(s.sample_shape) for s in self.specs}
            for i in range(n):
                yield where, i, {s.name: arrays[s.name] if single[s.name] else arrays[s.name][i]
                                 for s in self.specs}

    # -- streaming ----------------------------------------------------------------------
    def samples(self) -> Iterator[dict[str, np.ndarray]]:
        """Every sample, checked and cast to the inputs' dtypes."""
        specs = self.specs
        empty = True
        for where, i, sample in self._plan():
            empty = False
            yield {s.name: self._cast(s, sample[s.name], where, i) for s in specs}
        if empty:
            raise QccError(f"{self.description} is empty: it holds no samples")

    def batches(self) -> Iterator[tuple[dict[str, np.ndarray], int]]:
        """(inputs of the graph's shapes, number of real samples in them)."""
        b = self.batch
        buf: list[dict[str, np.ndarray]] = []
        for sample in self.samples():
            buf.append(sample)
            if len(buf) == b:
                yield self._stack(buf), b
                buf = []
        if buf:
            r = len(buf)
            yield self._stack(buf + [buf[i % r] for i in range(b - r)]), r

    def _stack(self, samples: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        out = {}
        for s in self.specs:
            if s.type.rank == 0:
                out[s.name] = samples[0][s.name]
            else:
                out[s.name] = np.stack([x[s.name] for x in samples])
        return out


def iterate_batches(source: Any, graph: Graph, what: str = "calibration data",
                    warn_ignored: bool = True) -> Iterator[dict[str, np.ndarray]]:
    """The graph-shaped input batches of calibration data (any source
    :class:`CalibrationData` accepts). A last partial batch comes padded with copies
    of its own samples; use :meth:`CalibrationData.batches` to know how many rows
    are real."""
    for inputs, _ in CalibrationData(graph, source, what, warn_ignored).batches():
        yield inputs


def random_samples(graph: Graph, count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``count`` standard-normal samples per input, from a fixed seed (meaningless
    ranges for real inputs; for tests and smoke runs only). Integer and boolean
    inputs (token ids, masks) get 0s and 1s instead: valid as ids and as masks."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        sample = {}
        for name, a in zip(graph.input_names, graph.args, strict=True):
            shape = a.type.shape[1:] if a.type.rank >= 1 else ()
            dtype = np.dtype(a.type.element.numpy_dtype)
            if dtype.kind in "iub":
                sample[name] = rng.integers(0, 2, shape).astype(dtype)
            else:
                sample[name] = rng.standard_normal(shape).astype(dtype)
        out.append(sample)
    return out
