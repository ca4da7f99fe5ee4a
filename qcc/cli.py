"""The ``qcc`` command.

    qcc import model.onnx [-o model.mlir]          ONNX -> IR text
    qcc opt in.mlir -p PIPELINE [-o out.mlir]      run passes
    qcc run model.onnx --input x.npy               interpret (FP32 reference)
    qcc export-qdq q.mlir -o q.onnx                fake-quantized IR -> ONNX QDQ
    qcc disasm model.tpu [-o out.s]                binary -> assembly text
    qcc asm model.s -o model.tpu                   assembly text -> binary
    qcc passes                                     list passes and their options

Exit codes: 0 success, 2 bad input or usage (a message, no traceback), 1 a
compiler bug (a pass crashed or broke the IR; a reproducer file is written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from qcc.diagnostics import PassFailure, QccError, escape_controls
from qcc.version import __version__

#: what ``qcc explore`` compares by default (qcc.exploration.METHODS, without
#: importing it at start-up)
EXPLORE_METHODS = ("minmax", "percentile", "entropy", "mse", "auto")

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: exit 2, no traceback
        self.print_usage(sys.stderr)
        print(escape_controls(f"qcc: error: {message}"), file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def _input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """An ``--input-shape NAME=1x3x224x224`` argument."""
    name, sep, dims = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"'{text}': expected NAME=SIZExSIZEx..., positive sizes, e.g. "
            "input=1x3x224x224")
    return name, shape


def _add_input_shape_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", dest="input_shapes", action="append", default=[],
                   type=_input_shape, metavar="NAME=1x3x224x224",
                   help="fix the shape of ONNX input NAME, symbolic and dynamic "
                        "dimensions included (repeatable)")


def input_shapes(args: argparse.Namespace) -> dict[str, tuple[int, ...]] | None:
    """The --input-shape arguments as {input name: shape}; None if there are none."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in getattr(args, "input_shapes", []):
        if name in shapes:
            raise QccError(f"--input-shape {name}=...: given twice")
        shapes[name] = shape
    return shapes or None


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="model: .onnx, or IR text (.mlir)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="fix a dynamic batch dimension of ONNX inputs to N (default 1)")
    _add_input_shape_arg(p)


def _add_pass_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("-p", "--pipeline", required=required, default=None, metavar="PIPELINE",
                   help="passes to run, e.g. 'canonicalize,normalize-gemm,fold-batchnorm'")
    p.add_argument("--load", action="append", default=[], metavar="FILE.py",
                   help="import a Python file that registers passes (repeatable)")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the IR to stderr after every pass")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="NAME",
                   help="print the IR to stderr after pass NAME (repeatable)")
    p.add_argument("--stop-after", metavar="NAME", help="stop the pipeline after pass NAME")
    p.add_argument("--time-passes", action="store_true", help="report time spent per pass")
    p.add_argument("--pass-statistics", action="store_true", help="report pass counters")
    p.add_argument("--no-verify", action="store_true",
                   help="do not verify the IR after each pass")
    p.add_argument("--reproducer-dir", default=".", metavar="DIR",
                   help="where to write a reproducer if a pass crashes (default: .)")


def _add_compile_pass_args(p: argparse.ArgumentParser) -> None:
    """The pass manager's instruments over the whole compile, frontend clean-up to the
    scheduled tpu graph ('qcc passes' lists the pass names)."""
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the IR to stderr after every pass of the compile")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="NAME",
                   help="print the IR to stderr after pass NAME, e.g. tpu-lower "
                        "(repeatable)")
    p.add_argument("--stop-after", metavar="NAME",
                   help="stop after pass NAME and write its IR to --output instead of "
                        "the program")
    p.add_argument("--time-passes", action="store_true", help="report time spent per pass")
    p.add_argument("--pass-statistics", action="store_true", help="report pass counters")
    p.add_argument("--elide-constants", action="store_true",
                   help="print constants of more than 16 elements as "
                        "dense_resource<__elided__> in printed IR")


def _add_print_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="FILE", help="write the IR here (default stdout)")
    p.add_argument("--elide-constants", action="store_true",
                   help="print constants of more than 16 elements as "
                        "dense_resource<__elided__>")


def _add_quant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calib-data", metavar="PATH",
                   help="calibration inputs: a .npz file or a folder of .npy/.npz files "
                        "(arrays named like the model inputs, samples along axis 0); "
                        "without it, random inputs are used with a warning")
    p.add_argument("--calibration", default="minmax",
                   choices=["minmax", "percentile", "entropy", "mse", "auto"],
                   help="how activation ranges are chosen (default minmax); 'auto': per "
                        "activation, the method whose range gives the least output error "
                        "on --calib-data (docs/calibration.md)")
    p.add_argument("--granularity", default="per-channel",
                   choices=["per-tensor", "per-channel"], help="weight scales (default "
                                                               "per-channel)")
    p.add_argument("--activations", default="int8", choices=["int8", "uint8"],
                   help="activation storage type (default int8)")
    p.add_argument("--exclude", default="", metavar="NAMES",
                   help="comma-separated names to keep in float: ONNX node names, ONNX op "
                        "types or IR op names (the op computes in float) and tensor names "
                        "(the tensor is not quantized); a name that matches nothing is an "
                        "error")
    p.add_argument("--mixed-precision", metavar="auto|auto:N",
                   help="keep in float the activations whose int8 error costs the most: "
                        "'auto' the fewest that reach 30 dB output SQNR against float "
                        "(at most 8), 'auto:N' the N worst; measured on --calib-data "
                        "(docs/calibration.md)")
    p.add_argument("--outlier-channels", action="store_true",
                   help="give 2-D and 3-D activations with outlier channels (a "
                        "transformer's residual stream) one scale per channel of the last "
                        "axis, where no op with weights or activation table reads them "
                        "(the TPU's per-lane multipliers produce them; docs/calibration.md)")
    p.add_argument("--auto-choice", metavar="FILE.json",
                   help="with --calibration auto: each tensor's method from this file "
                        "(what an earlier auto chose, as qcc explore writes it) instead of "
                        "measuring; --stats then suffices")
    p.add_argument("--calibration-engine", default="numpy",
                   choices=["numpy", "onnxruntime"],
                   help="what computes the activations calibration observes: qcc's FP32 "
                        "interpreter (numpy, the default and the reference) or "
                        "onnxruntime on the exported float graph (faster; ranges close to, "
                        "not identical with, the interpreter's; docs/calibration.md)")
    p.add_argument("--stats", metavar="FILE.json",
                   help="load calibration statistics instead of calibrating")
    p.add_argument("--save-stats", metavar="FILE.json", help="save calibration statistics")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="qcc", description="qcc: int8 compiler for a TPU-v1-class accelerator, "
                                "MLIR style. ONNX in, IR and passes in the middle.")
    parser.add_argument("--version", action="version", version=f"qcc {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show Python tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)

    p = sub.add_parser("import", help="import an ONNX model and print its IR",
                       description="Import an ONNX model into the nn dialect and print it.")
    _add_model_args(p)
    p.add_argument("-p", "--pipeline", default=None, metavar="PIPELINE",
                   help="passes to run after import (default: none)")
    _add_print_args(p)

    p = sub.add_parser("opt", help="run a pass pipeline on IR or an ONNX model",
                       description="Parse IR text (or import ONNX), run passes, print IR.")
    _add_model_args(p)
    _add_pass_args(p, required=True)
    _add_print_args(p)

    p = sub.add_parser("run", help="run a model (interpreter) or a .tpu program (simulator)",
                       description="Interpret a model (ONNX or IR), or simulate a compiled "
                                   ".tpu program, on inputs from .npy/.npz files and print "
                                   "or save the outputs.")
    _add_model_args(p)
    p.add_argument("--input", dest="input_files", action="append", default=[],
                   metavar="[NAME=]FILE",
                   help="input array: FILE.npy (single-input models), NAME=FILE.npy, or "
                        "FILE.npz with arrays named like the inputs (repeatable)")
    p.add_argument("--random-input", type=int, default=None, metavar="SEED",
                   help="use standard-normal inputs from SEED instead of --input "
                        "(integer and bool inputs: 0 or 1)")
    p.add_argument("--output", metavar="FILE",
                   help="save outputs: .npy (one output) or .npz (by output name)")
    p.add_argument("--stats", action="store_true",
                   help=".tpu programs: print the timing and energy counters per layer")
    p.add_argument("--target", metavar="NAME|FILE.toml",
                   help=".tpu programs: time on this target (default: the program's)")
    p.add_argument("--engine", choices=("auto", "numpy", "onnxruntime"), default="auto",
                   help=".tpu programs: what computes the matrix unit's products, with "
                        "identical results: numpy (the reference), onnxruntime (int8 "
                        "kernels, if installed) or auto (onnxruntime when installed and "
                        "exact on this processor; default). Models and IR: numpy or "
                        "auto interpret the graph (the reference semantics); onnxruntime "
                        "runs a float graph in onnxruntime (faster; equal up to the "
                        "last bits of float sums)")
    _add_pass_args(p, required=False)

    p = sub.add_parser(
        "quantize", help="calibrate and quantize a model to an int8 integer program",
        description="Run the float clean-up, calibration on --calib-data, quantization and "
                    "the integer folding; print or write the resulting IR. The pipeline "
                    "used is printed to stderr so that 'qcc opt' can replay it.")
    _add_model_args(p)
    _add_quant_args(p)
    p.add_argument("--fake-quant", action="store_true",
                   help="stop after quantize: quantize/dequantize around float ops (the "
                        "form export-qdq writes)")
    p.add_argument("--report", metavar="FILE.md|FILE.json",
                   help="write the per-layer error report (float vs fake-quant vs integer "
                        "SQNR, clipping), measured on --eval-data or else the calibration "
                        "data")
    p.add_argument("--eval-data", metavar="PATH",
                   help="inputs the report is measured on (same forms as --calib-data)")
    p.add_argument("--report-threshold", type=float, default=20.0, metavar="DB",
                   help="the report names the first layer whose SQNR is below this "
                        "(default 20 dB)")
    _add_print_args(p)

    p = sub.add_parser(
        "export-qdq", help="write a fake-quantized graph as an ONNX QDQ model",
        description="Write the fake-quantized graph (the output of 'quantize', before "
                    "fold-rescale, e.g. 'qcc quantize --fake-quant') as an ONNX model with "
                    "QuantizeLinear/DequantizeLinear pairs and integer weights, for "
                    "onnxruntime and other QDQ runtimes.")
    p.add_argument("input", help="IR text of the fake-quantized graph (.mlir)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.onnx",
                   help="where to write the ONNX model")

    p = sub.add_parser(
        "compile", help="compile a model to a TPU-v1 program (.tpu)",
        description="Calibrate, quantize and lower a model to a TPU-v1 instruction binary; "
                    "run it with 'qcc run model.tpu'.")
    _add_model_args(p)
    _add_quant_args(p)
    p.add_argument("--target", default="tpu-v1", metavar="NAME|FILE.toml",
                   help="target description (default tpu-v1)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tpu",
                   help="where to write the program")
    p.add_argument("--report", metavar="FILE.json|FILE.md",
                   help="write the compile report (where every op runs, memory, per-layer "
                        "cycles, bound, utilization, SQNR and why): JSON for .json, else "
                        "Markdown (docs/compile-report.md)")
    p.add_argument("--eval-data", metavar="PATH",
                   help="inputs the report's SQNR is measured on (default: --calib-data)")
    p.add_argument("--host-ops", default="", metavar="TYPES|NODES",
                   help="comma-separated ONNX op types, node names or IR op names to run "
                        "on the host even where the TPU could (docs/partitioning.md)")
    p.add_argument("--no-host", action="store_true",
                   help="make every op the TPU cannot run an error (listing them all) "
                        "instead of running it on the host")
    _add_compile_pass_args(p)

    p = sub.add_parser("disasm", help="print a TPU program binary as assembly text",
                       description="Load and validate a .tpu binary and print it as "
                                   "assembly; 'qcc asm' turns the text back into the "
                                   "same bytes.")
    p.add_argument("input", help="the binary (.tpu)")
    p.add_argument("-o", "--output", metavar="FILE.s", help="write here (default stdout)")

    p = sub.add_parser("asm", help="assemble TPU assembly text into a program binary",
                       description="Assemble and validate TPU-v1 assembly (the form "
                                   "'qcc disasm' prints) and write the binary.")
    p.add_argument("input", help="the assembly text (.s)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tpu",
                   help="where to write the binary")

    p = sub.add_parser(
        "explore", help="sweep weight granularity x calibration method (x target x batch)",
        description="For each weight granularity and calibration method: accuracy (or "
                    "agreement with FP32) and SQNR of the integer program, and its "
                    "simulated latency, throughput and inferences/s/W on each target and "
                    "batch size. Writes explore.json, explore.md and (with matplotlib) a "
                    "plot to --out.")
    p.add_argument("input", help="model (.onnx)")
    p.add_argument("--calib-data", metavar="PATH", help="calibration inputs (.npz or folder)")
    p.add_argument("--eval-data", metavar="FILE.npz",
                   help="evaluation inputs (with a 'label' array for accuracy); default: "
                        "the calibration data")
    p.add_argument("--targets", default="tpu-v1", metavar="T1,T2",
                   help="comma-separated targets (default tpu-v1)")
    p.add_argument("--batch", default="1", metavar="B1,B2",
                   help="comma-separated batch sizes to time (default 1)")
    p.add_argument("--methods", default=",".join(EXPLORE_METHODS), metavar="M1,M2",
                   help="calibration methods to compare (default: "
                        f"{','.join(EXPLORE_METHODS)})")
    p.add_argument("--granularities", default="per-tensor,per-channel", metavar="G1,G2",
                   help="weight granularities to compare (default: both)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.5, metavar="POINTS",
                   help="accuracy budget of the recommendation (percentage points below "
                        "FP32; default 0.5)")
    p.add_argument("--max-latency-us", type=float, default=None, metavar="US",
                   help="latency limit of the recommendation (microseconds per batch)")
    p.add_argument("--include-what-if", action="store_true",
                   help="let the recommendation pick what-if targets (by default only "
                        "real ones; what-if rows are always shown and marked)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel processes (default: one per core)")
    p.add_argument("--cluster", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the configurations on a Dask cluster instead of local "
                        "processes: its scheduler's address (tcp://HOST:8786); without "
                        "ADDRESS, DASK_SCHEDULER_ADDRESS's (which is never used without "
                        "--cluster). Needs pip install 'qcc-compiler[cluster]'")
    p.add_argument("--cluster-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long to wait for the scheduler and a worker (default: Dask's "
                        "connect timeout, 30 s)")
    _add_input_shape_arg(p)
    p.add_argument("--out", default="explore", metavar="DIR",
                   help="where explore.json/.md and the plot go (default ./explore)")

    sub.add_parser("passes", help="list the registered passes and their options")
    return parser


def _instrumentation(args: argparse.Namespace):
    from qcc.passmanager import Instrumentation

    return Instrumentation(
        verify_each=not getattr(args, "no_verify", False),
        print_ir_after_all=args.print_ir_after_all,
        print_ir_after=tuple(args.print_ir_after),
        stop_after=args.stop_after,
        time_passes=args.time_passes,
        pass_statistics=args.pass_statistics,
        reproducer_dir=Path(getattr(args, "reproducer_dir", ".")),
        elide_constants=getattr(args, "elide_constants", False),
    )


def _run_passes(module, args: argparse.Namespace):
    from qcc import driver
    from qcc.passmanager import Pipeline

    for file in args.load:
        driver.load_passes(file)
    if args.pipeline is None:
        if args.stop_after or args.print_ir_after:
            raise QccError("--stop-after and --print-ir-after need a pipeline (-p)")
        return module
    pipeline = Pipeline.parse(args.pipeline)
    return pipeline.run(module, instrumentation=_instrumentation(args))


def _emit_ir(module, args: argparse.Namespace) -> None:
    from qcc import driver
    from qcc.text import print_module

    text = print_module(module, elide_constants=args.elide_constants)
    if args.output:
        driver.write_atomic(args.output, text)
    else:
        sys.stdout.write(text)


def cmd_import(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.passmanager import Pipeline

    if not args.input.endswith(".onnx"):
        raise QccError(f"{args.input}: 'qcc import' reads .onnx files")
    module = driver.load(args.input, batch=args.batch, input_shapes=input_shapes(args))
    if args.pipeline:
        Pipeline.parse(args.pipeline).run(module)
    _emit_ir(module, args)
    return 0


def cmd_opt(args: argparse.Namespace) -> int:
    from qcc import driver

    module = driver.load(args.input, batch=args.batch, input_shapes=input_shapes(args))
    module = _run_passes(module, args)
    _emit_ir(module, args)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.backend import binary_suffixes

    if args.input.endswith(tuple(binary_suffixes())):
        if args.input_shapes:
            raise QccError(f"{args.input}: --input-shape applies to ONNX models; a compiled "
                           "program has the shapes it was compiled for")
        return _run_tpu(args)
    module = driver.load(args.input, batch=args.batch, input_shapes=input_shapes(args))
    module = _run_passes(module, args)
    graph = module.main
    if args.random_input is not None:
        if args.input_files:
            raise QccError("give either --input or --random-input, not both")
        inputs = driver.random_inputs(graph, args.random_input)
    else:
        if not args.input_files:
            wanted = ", ".join(f"{n} ({a.type})" for n, a in zip(graph.input_names, graph.args,
                                                                  strict=True))
            raise QccError(f"no inputs given; the model needs {wanted}: pass --input FILE.npy "
                           "or --random-input SEED")
        inputs = driver.load_inputs(args.input_files, graph)
    engine = "onnxruntime" if args.engine == "onnxruntime" else "numpy"
    outputs = driver.run(module, inputs, engine=engine)
    _save_then_print(args.output, outputs)
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    import math

    from qcc import driver

    if not math.isfinite(args.report_threshold):
        raise QccError(f"--report-threshold {args.report_threshold}: expected a finite "
                       "number of dB")
    if args.auto_choice and args.calibration != "auto":
        raise QccError("--auto-choice applies to --calibration auto")

    module = driver.load(args.input, batch=args.batch, input_shapes=input_shapes(args))
    exclude = driver.check_exclude_early(
        module, tuple(n for n in args.exclude.split(",") if n))
    pipeline = driver.quantization_pipeline(
        args.calibration, args.granularity, args.activations, exclude, args.calib_data,
        args.stats, args.save_stats, integer=not args.fake_quant,
        mixed_precision=args.mixed_precision, outlier_channels=args.outlier_channels,
        auto_choice=args.auto_choice, calibration_engine=args.calibration_engine)
    print(f"qcc: pipeline: {pipeline}", file=sys.stderr)
    from qcc.passmanager import PassContext

    ctx = PassContext()
    if not args.report:
        pipeline.run(module, ctx)
    else:
        # run in three stages to keep the float and fake-quantized graphs for the report
        from qcc.passmanager import Pipeline

        entries = pipeline.entries
        n_prepare = len(Pipeline.parse(driver.PREPARE_PIPELINE))
        n_fake = len(entries) - (0 if args.fake_quant else 2)
        Pipeline(entries[:n_prepare]).run(module, ctx)
        float_module = module.clone()
        Pipeline(entries[n_prepare:n_fake]).run(module, ctx)
        fake = module.clone()
        Pipeline(entries[n_fake:]).run(module, ctx)
        _write_report(args, float_module, fake, None if args.fake_quant else module,
                      ctx.data.get("kept_float"), ctx.data.get("inherited_quantization"),
                      ctx.data)
    _print_kept_float(ctx.data.get("kept_float"), bool(args.report))
    _print_outlier_channels(ctx.data.get("outlier_channels"))
    if ctx.data.get("mixed_precision") is not None:
        print(escape_controls(f"qcc: {ctx.data['mixed_precision'].summary()}"),
              file=sys.stderr)
    if ctx.data.get("calibration_auto") is not None:
        print(escape_controls(f"qcc: {ctx.data['calibration_auto'].summary()}"),
              file=sys.stderr)
    _emit_ir(module, args)
    return 0


def _print_outlier_channels(names) -> None:
    """Which activations --outlier-channels gave one scale per channel."""
    if names:
        shown = ", ".join(names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6
                                        else "")
        print(escape_controls(f"qcc: one scale per channel (outlier channels): {shown}"),
              file=sys.stderr)
    elif names is not None:
        print("qcc: --outlier-channels: no activation has outlier channels that only "
              "host ops read", file=sys.stderr)


def _print_kept_float(kept: dict[str, str] | None, reported: bool,
                      why: str = "--report says why") -> None:
    """One stderr line naming what calibration and quantization left in float."""
    if not kept:
        return
    names = list(kept)
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    why = "the report says why" if reported else why
    print(escape_controls(f"qcc: kept in float: {shown} ({why})"), file=sys.stderr)


def _write_report(args: argparse.Namespace, float_module, fake, integer,
                  kept_float: dict[str, str] | None = None,
                  inherited: dict[str, str] | None = None, calibration=None) -> None:
    import json

    from qcc import driver
    from qcc.calibration import iterate_batches
    from qcc.quant_report import quant_error_report

    data = args.eval_data or args.calib_data
    if not data:
        raise QccError("--report needs inputs to measure on: give --eval-data or --calib-data")
    # calibration data: calibrate already warned about its arrays that are not inputs
    batches = iterate_batches(data, float_module.main, warn_ignored=bool(args.eval_data),
                              what="evaluation data" if args.eval_data else "calibration data")
    report = quant_error_report(float_module, fake, integer, batches,
                                threshold_db=args.report_threshold, kept_float=kept_float,
                                inherited=inherited, calibration=calibration)
    text = json.dumps(report.to_json(), indent=2) + "\n" if args.report.endswith(".json") \
        else report.to_markdown()
    driver.write_atomic(args.report, text)
    bad = report.first_bad_layer
    for name, value in report.output_sqnr.items():
        print(escape_controls(f"qcc: output {name}: SQNR {value:.1f} dB"), file=sys.stderr)
    if bad is not None:
        print(escape_controls(f"qcc: first layer below {report.threshold_db:.0f} dB: "
                              f"{bad.tensor} ({bad.op})"), file=sys.stderr)


def cmd_export_qdq(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.frontend import export_qdq

    if args.input.endswith(".onnx"):
        raise QccError(f"{args.input}: 'qcc export-qdq' reads IR text of a fake-quantized "
                       "graph (write one with 'qcc quantize --fake-quant -o FILE.mlir')")
    module = driver.load(args.input)
    driver.write_atomic(args.output, export_qdq(module).SerializeToString())
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.outputs import commit_pending

    exclude = tuple(n for n in args.exclude.split(",") if n)
    if args.stop_after is not None:
        if args.report:
            raise QccError("--report needs the whole compile (no --stop-after)")
        if args.eval_data:
            raise QccError("--eval-data is for the report, which needs the whole compile "
                           "(no --stop-after)")
        if not args.stop_after:
            raise QccError("--stop-after needs a pass name ('qcc passes' lists them)")
        if args.output.endswith(".tpu"):
            raise QccError(f"--stop-after writes IR text, not a program: name the output "
                           f"'.mlir', not '{args.output}'")
    compiled = driver.compile(args.input, args.calib_data, args.calibration,
                              args.granularity, args.activations, exclude, args.stats,
                              args.target, args.batch, args.save_stats,
                              instrumentation=_instrumentation(args),
                              host_ops=args.host_ops, no_host=args.no_host,
                              input_shapes=input_shapes(args),
                              mixed_precision=args.mixed_precision,
                              outlier_channels=args.outlier_channels,
                              auto_choice=args.auto_choice,
                              calibration_engine=args.calibration_engine)
    if not hasattr(compiled, "program"):  # --stop-after: the IR then is the output
        from qcc.text import print_module

        driver.write_atomic(args.output, print_module(
            compiled.module, elide_constants=args.elide_constants))
        commit_pending()
        print(f"qcc: stopped after {compiled.stopped_after}: its IR written to "
              f"{args.output}", file=sys.stderr)
        return 0
    data = compiled.to_bytes()
    text = _compile_report_text(compiled, args) if args.report else None
    driver.write_atomic(args.output, data)
    if text is not None:
        driver.write_atomic(args.report, text)
    commit_pending()  # every output written, or none: then say what was written
    program = compiled.program
    report = compiled.estimate()
    print(f"qcc: {args.output}: {len(program.instructions)} instructions, "
          f"{len(program.weights)} bytes of weight memory, {len(data)} bytes; "
          f"on {report.target.name}: {report.latency_s * 1e6:.1f} us per batch of "
          f"{report.batch}, {report.tops():.2f} TOPS, "
          f"{report.inferences_per_s_per_w:.0f} inferences/s/W", file=sys.stderr)
    segments = getattr(program, "segments", None)
    if segments:
        split = report.split_s()
        print(f"qcc: {len(segments)} host segment(s) run what the TPU cannot: "
              f"{split['host'] * 1e6:.1f} us on the host CPU, {split['pcie'] * 1e6:.1f} us "
              f"waiting for PCIe (--report lists every host op and why; --no-host "
              f"makes them errors)", file=sys.stderr)
    _print_kept_float(getattr(compiled, "kept_float", None), False,
                      "'qcc quantize --report' says why")
    _print_outlier_channels(getattr(compiled, "outlier_channels", None))
    if getattr(compiled, "mixed_precision", None) is not None:
        print(escape_controls(f"qcc: {compiled.mixed_precision.summary()}"), file=sys.stderr)
    if getattr(compiled, "calibration_auto", None) is not None:
        print(escape_controls(f"qcc: {compiled.calibration_auto.summary()}"), file=sys.stderr)
    if text is not None:
        print(f"qcc: report written to {args.report}", file=sys.stderr)
    return 0


def _compile_report_text(compiled, args: argparse.Namespace) -> str:
    """The compile report of ``qcc compile --report``, built before any file is
    written (an error leaves neither file behind)."""
    import json

    report = compiled.report(eval_data=args.eval_data)
    if args.report.endswith(".json"):
        return json.dumps(report.to_json(), indent=2) + "\n"
    return report.to_markdown()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise QccError(f"{path}: cannot read: {e.strerror or e}") from None


def _run_tpu(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.backend import backend_for_binary

    path = Path(args.input)
    backend = backend_for_binary(path)
    data = _read_bytes(path)
    program = backend.load(data, str(path))
    # the program runs on the target it carries; --target only times it elsewhere
    timing_target = None
    if args.target:
        timing_target = backend.load_target(args.target)
        backend.check_fits(program, timing_target, str(path))
    names = [d.name for d in program.inputs]
    if args.random_input is not None:
        rng = np.random.default_rng(args.random_input)
        # float inputs: standard-normal; token ids, masks (integer, bool): 0 or 1, as
        # `qcc run MODEL.onnx --random-input` gives them
        inputs = {}
        for d in program.inputs:
            if getattr(d, "raw", False) and d.numpy_dtype.kind in "iub":
                inputs[d.name] = rng.integers(0, 2, d.shape).astype(d.numpy_dtype)
            else:
                inputs[d.name] = rng.standard_normal(d.shape).astype(np.float32)
    elif not args.input_files:
        wanted = ", ".join(f"{d.name} {list(d.shape)}" for d in program.inputs)
        raise QccError(f"no inputs given; the program needs {wanted}: pass --input FILE.npy "
                       "or --random-input SEED")
    else:
        inputs = driver.load_inputs(args.input_files, names, what="program")
    outputs = backend.simulate(program, inputs, engine=args.engine)
    _save_then_print(args.output, outputs)
    if args.stats:
        report = backend.estimate(program, timing_target)
        print(report.format())
    return 0


def _save_then_print(output: str | None, outputs) -> None:
    """``--output`` written (and committed) first, then the outputs printed: a reader
    of standard output that goes away early (``| head``) cannot cost the file."""
    from qcc import driver
    from qcc.outputs import commit_pending

    if output:
        driver.save_outputs(output, outputs)
        commit_pending()
    _print_outputs(outputs, sys.stderr if output == "-" else sys.stdout)


def _print_outputs(outputs, file=None) -> None:
    """Print the outputs (to stderr when ``--output -`` takes stdout for the data)."""
    from qcc.diagnostics import escape_controls

    file = file or sys.stdout
    for name, value in outputs.items():
        name = escape_controls(name)  # output names come from the model
        print(f"{name}: {value.dtype}{list(value.shape)}", file=file)
        with np.printoptions(precision=6, suppress=True, threshold=64, edgeitems=4):
            print(np.array2string(value, prefix=""), file=file)
        if value.ndim == 2 and value.shape[1] > 1:
            print(f"{name} argmax: {value.argmax(axis=1).tolist()}", file=file)


def cmd_disasm(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.backend import backend_for_binary

    path = Path(args.input)
    backend = backend_for_binary(path)
    data = _read_bytes(path)
    text = backend.disassemble(data, str(path))
    if args.output:
        driver.write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_asm(args: argparse.Namespace) -> int:
    from qcc import driver
    from qcc.backend import backend_for_binary

    path = Path(args.input)
    backend = backend_for_binary(args.output)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise QccError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise QccError(f"{path}: not UTF-8 text: {e.reason} at byte {e.start}") from None
    driver.write_atomic(args.output, backend.assemble(text, str(path)))
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    from qcc import exploration as ex
    from qcc.outputs import commit_pending

    try:
        batches = [int(b) for b in args.batch.split(",") if b]
    except ValueError:
        raise QccError(f"--batch {args.batch}: expected comma-separated integers") from None
    if not batches or min(batches) < 1:
        raise QccError(f"--batch {args.batch}: batch sizes must be positive")
    import math

    if not math.isfinite(args.max_accuracy_drop) or args.max_accuracy_drop < 0:
        raise QccError(f"--max-accuracy-drop {args.max_accuracy_drop}: expected a finite "
                       "number of percentage points >= 0")
    if args.max_latency_us is not None and not (math.isfinite(args.max_latency_us)
                                                and args.max_latency_us > 0):
        raise QccError(f"--max-latency-us {args.max_latency_us}: expected a positive "
                       "number of microseconds")
    if args.jobs is not None and args.jobs < 1:
        raise QccError(f"--jobs {args.jobs}: expected at least 1")
    if args.cluster_timeout is not None and not (math.isfinite(args.cluster_timeout)
                                                 and args.cluster_timeout > 0):
        raise QccError(f"--cluster-timeout {args.cluster_timeout}: expected a positive "
                       "number of seconds")
    cluster = ex.cluster_address(args.cluster)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in (*ex.METHODS, "auto"):
            raise QccError(f"--methods: unknown calibration method '{m}' (choose from "
                           f"{', '.join((*ex.METHODS, 'auto'))})")
    grans = [g for g in args.granularities.split(",") if g]
    for g in grans:
        if g not in ex.GRANULARITIES:
            raise QccError(f"--granularities: unknown granularity '{g}' (choose from "
                           f"{', '.join(ex.GRANULARITIES)})")
    if not methods or not grans:
        raise QccError("--methods and --granularities need at least one entry each")
    targets = [t for t in args.targets.split(",") if t]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise QccError(f"--out {out}: exists and is not a directory")
    result = ex.explore(args.input, args.calib_data, args.eval_data, targets, batches,
                        granularities=grans, methods=methods, jobs=args.jobs,
                        input_shapes=input_shapes(args), cluster=cluster,
                        cluster_timeout=args.cluster_timeout)
    rec, written = ex.write_outputs(result, out, args.max_accuracy_drop,
                                    args.max_latency_us, args.include_what_if)
    commit_pending()
    print(ex.to_markdown(result, rec, full=False), end="")
    print(f"(the per-layer SQNR and the table of every configuration, target and batch: "
          f"{out / 'explore.md'})")
    print(f"qcc: wrote {', '.join(str(out / w) for w in written)}", file=sys.stderr)
    return 0


def cmd_passes(args: argparse.Namespace) -> int:
    from qcc.passmanager import PASS_REGISTRY, _load_builtin_passes

    _load_builtin_passes()
    for name in sorted(PASS_REGISTRY):
        cls = PASS_REGISTRY[name]
        print(f"{name}: {cls.summary()}")
        for opt, (typ, default) in cls.options().items():
            tname = getattr(typ, "__name__", str(typ).replace("typing.", ""))
            print(f"    {opt}: {tname} = {default!r}")
    return 0


COMMANDS = {"import": cmd_import, "opt": cmd_opt, "run": cmd_run, "quantize": cmd_quantize,
            "compile": cmd_compile, "explore": cmd_explore,
            "export-qdq": cmd_export_qdq,
            "disasm": cmd_disasm, "asm": cmd_asm,
            "passes": cmd_passes}


def main(argv: list[str] | None = None) -> int:
    from qcc.outputs import install_signal_handlers

    install_signal_handlers()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    return _dispatch(parser, args)


def _input_paths(args: argparse.Namespace) -> list[str]:
    """Every file a command reads (its outputs may be none of them)."""
    paths = [getattr(args, "input", None)]
    for key in ("calib_data", "eval_data"):
        paths.append(getattr(args, key, None))
    stats = getattr(args, "stats", None)
    if isinstance(stats, str):  # `qcc run --stats` is a flag
        paths.append(stats)
    target = getattr(args, "target", None)
    if isinstance(target, str) and Path(target).exists():
        paths.append(target)
    paths += getattr(args, "load", [])
    for spec in getattr(args, "input_files", []):
        _, sep, file = spec.partition("=")
        paths.append(file if sep else spec)
    return [p for p in paths if p]


#: the options of each command that name an output file
OUTPUT_OPTIONS = {
    "import": (("output", "-o"),), "opt": (("output", "-o"),),
    "run": (("output", "--output"),),
    "quantize": (("output", "-o"), ("report", "--report"), ("save_stats", "--save-stats")),
    "compile": (("output", "-o"), ("report", "--report"), ("save_stats", "--save-stats")),
    "export-qdq": (("output", "-o"),), "disasm": (("output", "-o"),),
    "asm": (("output", "-o"),),
}


def output_plan(args: argparse.Namespace):
    """Check every output a command names before it does any work (qcc/outputs.py)."""
    from qcc.outputs import OutputPlan

    plan = OutputPlan()
    plan.add_inputs(_input_paths(args))
    for attr, role in OUTPUT_OPTIONS.get(args.command, ()):
        plan.declare(getattr(args, attr, None), role)
    if args.command == "explore":
        plan.declare_directory(args.out, "--out")
    return plan


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from qcc.outputs import Terminated, describe_os_error, transaction

    try:
        plan = output_plan(args)
        with transaction(plan):
            return COMMANDS[args.command](args)
    except QccError as e:
        print(e.format(), file=sys.stderr)
        return EXIT_USER_ERROR
    except PassFailure as e:
        print(escape_controls(f"qcc: internal error: {e.message}", keep="\n"), file=sys.stderr)
        if e.reproducer:
            print(f"qcc: reproducer written to {e.reproducer}", file=sys.stderr)
        if args.traceback:
            raise
        return EXIT_INTERNAL_ERROR
    except MemoryError as e:
        print(escape_controls(f"error: out of memory: {e or 'MemoryError'}"), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("qcc: interrupted", file=sys.stderr)
        return 130
    except Terminated as e:
        print(f"qcc: terminated by signal {e.signum}", file=sys.stderr)
        return 128 + e.signum
    except BrokenPipeError:  # e.g. `qcc passes | head`: the reader has gone
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        # the environment, not qcc: a full disk, a permission, a vanished file
        if args.traceback:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"qcc: error: {where}{describe_os_error(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:
        if args.traceback:
            raise
        print(escape_controls(f"qcc: internal error: {type(e).__name__}: {e} (rerun with "
                              "--traceback and report it)"), file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
