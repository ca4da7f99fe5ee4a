"""Import the project's scripts (``benchmarks/*.py``, ``examples/*.py``), which are
not packages, by path: for tests of their functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(path: str | Path, name: str) -> ModuleType:
    """The script at ``path`` imported as module ``name`` (registered in
    ``sys.modules``, so that dataclasses and pickling find it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
