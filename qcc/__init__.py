"""qcc: an int8 compiler from FP32 ONNX models to a TPU-v1-class systolic-array
accelerator, built like MLIR: a typed SSA graph IR with a round-tripping text form,
passes run from pipeline strings, and a numpy interpreter that defines what every
op means.

    import qcc
    module = qcc.load("examples/models/digits_cnn.onnx")
    qcc.run_pipeline(module, "canonicalize,normalize-gemm,fold-batchnorm")
    print(qcc.print_module(module, elide_constants=True))
    outputs = qcc.run(module, {"input": x})
"""

__version__ = "0.1.0"

from qcc import dialects
from qcc.diagnostics import PassFailure, QccError
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
from qcc.text import parse_module, print_module

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
