"""qcc: an int8 compiler from FP32 ONNX models to a TPU-v1-class systolic-array
accelerator, built like MLIR: a typed SSA graph IR with a round-tripping text form,
passes run from pipeline strings, and a numpy interpreter that defines what every
op means.

    import qcc
    module = qcc.load("examples/models/digits_cnn.onnx")
    qcc.run_pipeline(module, "canonicalize,normalize-gemm,fold-batchnorm")
    print(qcc.print_module(module, elide_constants=True))
    outputs = qcc.run(module, {"input": x})

Importing any ``qcc.*`` module runs this file first, so it loads only the core it
needs eagerly (the IR, the dialects, the pass manager); the driver's names
(``qcc.compile``, ``qcc.load``...) and the text printer/parser are loaded on first
use. A backend module can therefore be imported without the driver, the CLI or lark
(docs/layers.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qcc import dialects
from qcc.diagnostics import PassFailure, QccError
from qcc.ir import Module
from qcc.passmanager import (
    Instrumentation,
    Pass,
    PassContext,
    PassManager,
    Pipeline,
    register_pass,
    run_pipeline,
)
from qcc.version import __version__ as __version__

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and editors
    from qcc.driver import (
        compile,
        explore,
        import_onnx,
        load,
        load_passes,
        parse_file,
        quantization_pipeline,
        quantize_model,
        run,
        write_atomic,
    )
    from qcc.text import parse_module, print_module

#: name -> the module that defines it, imported on first access
_LAZY = {
    **dict.fromkeys(("compile", "explore", "import_onnx", "load", "load_passes",
                     "parse_file", "quantization_pipeline", "quantize_model", "run",
                     "write_atomic"), "qcc.driver"),
    **dict.fromkeys(("parse_module", "print_module"), "qcc.text"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qcc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Instrumentation",
    "Module",
    "Pass",
    "PassContext",
    "PassFailure",
    "PassManager",
    "Pipeline",
    "QccError",
    "compile",
    "dialects",
    "explore",
    "import_onnx",
    "load",
    "load_passes",
    "parse_file",
    "parse_module",
    "print_module",
    "quantization_pipeline",
    "quantize_model",
    "register_pass",
    "run",
    "run_pipeline",
    "write_atomic",
]
