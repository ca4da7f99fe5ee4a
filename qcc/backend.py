"""The backend registry: how the driver, the CLI and explore reach a backend without
importing it.

A backend is an object with a small interface (:class:`Backend`): the names of the
targets it compiles for, its pass pipeline, emission of a program from a quantized
module, loading a binary, simulating and estimating a program. It registers itself
with :func:`register_backend` when its module is imported; the built-in backends are
listed here by module *name* only (``_BUILTIN``) and imported on first use, so the
core never imports ``qcc.backends`` (tests/packaging checks the direction).

    backend = backend_for_target("tpu-v1-gddr5")    # by target name, or a .toml path
    target = backend.load_target("tpu-v1-gddr5")
    compiled = backend.compile(quantized_module, target, manifest)
    report = backend.estimate(compiled.program, target, batch=8)

A backend must not import ``qcc.driver``, ``qcc.cli``, ``qcc.exploration`` or read
names from the package top level (``qcc/__init__.py``); docs/layers.md draws the
layers.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from qcc.diagnostics import QccError
from qcc.ir.core import Module

#: the backends shipped with qcc: name -> the module that registers it (imported on
#: first use, by name)
_BUILTIN: dict[str, str] = {"tpu-v1": "qcc.backends.tpu_v1.backend"}

_REGISTRY: dict[str, Backend] = {}

#: dialects that backends define: prefix -> the module that registers its ops (imported
#: by name when IR text names one of its ops, or a pass needs them)
DIALECTS: dict[str, str] = {"tpu": "qcc.backends.tpu_v1.dialect"}


def load_dialect(prefix: str) -> bool:
    """Import the module of a backend's dialect (``tpu``); False if none is known."""
    module = DIALECTS.get(prefix)
    if module is None:
        return False
    importlib.import_module(module)
    return True


class Backend:
    """What the driver needs from a backend. Subclasses set :attr:`name` and
    :attr:`binary_suffix` and implement the methods; ``target`` arguments are what
    :meth:`load_target` returns (or a name/path it accepts)."""

    #: the registry key (``"tpu-v1"``)
    name: str = ""
    #: the file suffix of this backend's binaries (``".tpu"``)
    binary_suffix: str = ""

    # ---------------------------------------------------------------- targets
    def target_names(self) -> list[str]:
        """The shipped targets this backend compiles for (``tpu-v1``, its variants)."""
        raise NotImplementedError

    def claims_target(self, target: Any) -> bool:
        """Whether ``target`` (a name, a path to a target file, or a loaded target
        description) is one of this backend's."""
        raise NotImplementedError

    def load_target(self, target: Any) -> Any:
        """The target description (with a ``.name``) of a name, a path or a loaded
        description; bad input is a QccError naming what is wrong."""
        raise NotImplementedError

    # ---------------------------------------------------------------- compile
    def pipeline(self, target: Any) -> str:
        """The backend's passes, as a pipeline string the pass manager runs on the
        quantized module after the quantization pipeline (the driver runs both as one
        pipeline, so --print-ir-after and --stop-after reach them)."""
        raise NotImplementedError

    def resume_pipeline(self, module: Module, target: Any) -> str:
        """The part of :meth:`pipeline` still to run on ``module``, IR that a compile
        stopped part-way wrote (``qcc compile --stop-after``). Default: all of it."""
        return self.pipeline(target)

    def check_module(self, module: Module, target: Any) -> None:
        """An early check of the float module (after clean-up, before calibration):
        raise a QccError for what the backend can never compile. Optional."""

    def emit(self, module: Module, target: Any, manifest: Mapping[str, str] | None = None,
             source: Module | None = None, source_sha256: str | None = None) -> Any:
        """The compiled model of ``module`` after :meth:`pipeline` ran on it: an object
        with ``.program``, ``.run(inputs)``, ``.estimate()``, ``.report()``,
        ``.to_bytes()`` and ``.save(path)``. ``source`` is the integer module it was
        lowered from; ``manifest`` (strings) is recorded in the binary."""
        raise NotImplementedError

    def compile(self, module: Module, target: Any,
                manifest: Mapping[str, str] | None = None, instrumentation: Any = None
                ) -> Any:
        """:meth:`pipeline` on a copy of an already quantized module, then :meth:`emit`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- programs
    def load(self, binary: bytes | str | os.PathLike, where: str | None = None) -> Any:
        """A program from a binary's bytes or its path, validated."""
        raise NotImplementedError

    def check_fits(self, program: Any, target: Any, where: str = "the program") -> None:
        """Raise a QccError if ``program`` cannot run on ``target`` (to time a program
        on another target than its own). Optional."""

    def simulate(self, program: Any, inputs: Mapping[str, Any], *, quantized: bool = False,
                 engine: str = "auto") -> dict[str, Any]:
        """Run a program on named float inputs; float outputs by name."""
        raise NotImplementedError

    def estimate(self, program: Any, target: Any = None, batch: int | None = None) -> Any:
        """The timing report (cycles, latency, throughput, energy, per layer) of a
        program on ``target`` (default: its own) at ``batch``."""
        raise NotImplementedError

    def rescale_cycles(self, program: Any, target: Any) -> float:
        """Cycles a program spends requantizing (``qcc explore``'s column); NaN when
        the backend does not say."""
        return float("nan")

    def instruction_mix(self, program: Any) -> dict[str, int]:
        """How many instructions of each kind a program has (``qcc explore`` names the
        real differences between two configurations' programs with it); empty when
        the backend does not say."""
        return {}

    def rescale_us(self, program: Any, target: Any, batch: int | None = None) -> float:
        """The rescale share of the latency on ``target`` at ``batch`` (default: the
        program's), in microseconds: the latency saved if requantization were free
        (a counterfactual re-timing), between 0 and the latency; NaN when the backend
        does not say."""
        return float("nan")

    def requantization_note(self, target: Any) -> str:
        """One line saying how ``target`` requantizes and whether that is an assumption
        ('' when the backend does not say)."""
        return ""

    # ---------------------------------------------------------------- text form
    def disassemble(self, binary: bytes, where: str = "<bytes>") -> str:
        """A binary as assembly text (``qcc disasm``)."""
        raise QccError(f"backend '{self.name}' has no assembly text form")

    def assemble(self, text: str, where: str = "<text>") -> bytes:
        """Assembly text back to a binary (``qcc asm``)."""
        raise QccError(f"backend '{self.name}' has no assembly text form")

    def __repr__(self) -> str:
        return f"<backend {self.name}>"


def register_backend(backend: Backend) -> Backend:
    """Make ``backend`` findable by its name (a later registration of the same name
    replaces it). Returns it, so a module can write ``BACKEND = register_backend(...)``."""
    if not isinstance(backend, Backend) or not backend.name:
        raise TypeError("register_backend takes a Backend instance with a name")
    _REGISTRY[backend.name] = backend
    return backend


def backend_names() -> list[str]:
    """Every backend name: the built-in ones and those registered so far."""
    return sorted({*_BUILTIN, *_REGISTRY})


def get_backend(name: str) -> Backend:
    """The backend registered as ``name`` (a built-in one is imported on first use)."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise QccError(f"unknown backend '{name}': backends are "
                       f"{', '.join(backend_names())}") from None


def _backends() -> list[Backend]:
    return [get_backend(name) for name in backend_names()]


def backend_for_target(target: Any) -> Backend:
    """The backend whose target ``target`` is: a shipped target's name (``tpu-v1``,
    ``tpu-v1-gddr5``...), a path to a target file, or a loaded target description.
    When no backend claims it, the default backend's own error says why (for example
    the list of shipped targets)."""
    backends = _backends()
    for backend in backends:
        if backend.claims_target(target):
            return backend
    default = get_backend(DEFAULT_BACKEND)
    default.load_target(target)  # raises the backend's message for a bad target
    raise QccError(f"unknown target '{target}': no backend claims it (backends: "
                   f"{', '.join(b.name for b in backends)})")


def binary_suffixes() -> list[str]:
    """The file suffixes of every backend's binaries (``[".tpu"]``)."""
    return sorted({b.binary_suffix for b in _backends() if b.binary_suffix})


def backend_for_binary(path: str | os.PathLike) -> Backend:
    """The backend whose binaries are named like ``path`` (by suffix); the default
    backend for any other name (a binary renamed, ``-``, a device)."""
    for backend in _backends():
        if backend.binary_suffix and str(path).endswith(backend.binary_suffix):
            return backend
    return get_backend(DEFAULT_BACKEND)


#: the backend of the default target
DEFAULT_BACKEND = "tpu-v1"
