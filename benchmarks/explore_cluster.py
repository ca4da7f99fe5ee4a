"""A zoo-wide ``qcc explore`` on a Dask cluster of 1 and of 2 local workers: wall time
and identical results.

    python benchmarks/explore_cluster.py                 # benchmark-results/explore_cluster.md
    python benchmarks/explore_cluster.py --update-docs   # docs/explore-cluster.md
    python benchmarks/explore_cluster.py --models resnet18,mlp_large --runs 1

Without ``--update-docs`` the page goes to ``benchmark-results/`` in the current
directory (git-ignored); with it, to the tracked docs/explore-cluster.md (``--out``
names another file).

Every model of ``examples/zoo.py`` (``ORIGINAL + CLASSICS``) at the small sizes of
``benchmarks/zoo_report.py --quick`` (the MLP, which that report does not have, at
width 256 and batch 8) x 8 configurations (per-tensor/per-channel weights x minmax,
percentile, entropy, mse) x 3 targets (tpu-v1, tpu-v1-gddr5, tpu-v1-hbm), at the
model's batch (1; the MLP's static 8),
on seeded standard-normal inputs (4 to calibrate, 8 to evaluate: agreement with
FP32, the weights being random). One sweep is one ``qcc.exploration.explore`` per
model with ``cluster=`` the scheduler's address, as ``qcc explore --cluster`` runs
it. A ``distributed.LocalCluster`` of N worker processes of one thread each is
started once per N, before its runs are timed (its start-up is reported apart).
The results of every run (explore.json's content without the wall-clock figures)
are compared with each other and with one run of the local process pool (the
default, ``jobs=2``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import zoo  # noqa: E402
import zoo_report  # noqa: E402

DOC = ROOT / "docs" / "explore-cluster.md"
TARGETS = ("tpu-v1", "tpu-v1-gddr5", "tpu-v1-hbm")
CALIB_SAMPLES = 4
EVAL_SAMPLES = 8
SEED = 0


def small_models() -> list[tuple[str, dict]]:
    """(zoo name, builder arguments) of every zoo model at zoo_report --quick's size."""
    quick = {name: kw for label, name, kw in zoo_report.QUICK
             if label == name or label == f"{name} (logits)"}
    out = []
    for name in (*zoo.ORIGINAL, *zoo.CLASSICS):
        out.append((name, quick.get(name) or {"width": 256, "batch": 8}))
    return out


def build(name: str, kwargs: dict, where: Path) -> dict:
    """The model file, its calibration and evaluation data, and the input shape."""
    model = zoo.BUILDERS[name](seed=SEED, **kwargs)
    path = where / f"{name}.onnx"
    onnx.save(model, str(path))
    shape = zoo.input_shape(model)
    rng = np.random.default_rng(SEED)
    for what, n in (("calib", CALIB_SAMPLES), ("eval", EVAL_SAMPLES)):
        n = max(n, shape[0])  # a static batch evaluates whole batches
        x = rng.standard_normal([n, *shape[1:]]).astype(np.float32)
        np.savez(where / f"{name}_{what}.npz", input=x)
    return {"name": name, "model": str(path), "calib": str(where / f"{name}_calib.npz"),
            "eval": str(where / f"{name}_eval.npz"), "input": shape,
            "input_shapes": {"input": shape} if zoo.dynamic_dims(model) else None}


def sweep(models: list[dict], **kw) -> tuple[float, dict[str, float], dict[str, str]]:
    """One zoo-wide sweep: its wall time, each model's, and each model's results as
    explore.json has them without the wall-clock figures."""
    from qcc.exploration import explore, finite, without_wall_clock

    per_model, results = {}, {}
    start = time.perf_counter()
    for m in models:
        t0 = time.perf_counter()
        r = explore(m["model"], m["calib"], m["eval"], targets=TARGETS,
                    batches=(m["input"][0],),
                    methods=("minmax", "percentile", "entropy", "mse"),
                    input_shapes=m["input_shapes"], progress=False, **kw)
        per_model[m["name"]] = time.perf_counter() - t0
        results[m["name"]] = json.dumps(finite(without_wall_clock(r)), sort_keys=True)
    return time.perf_counter() - start, per_model, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None,
                        help="the page (default: benchmark-results/explore_cluster.md)")
    parser.add_argument("--update-docs", action="store_true",
                        help=f"write the tracked {DOC.relative_to(ROOT)}")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed sweeps per cluster size (the median is reported)")
    parser.add_argument("--models", default="", help="comma-separated zoo names "
                        "(default: every model)")
    parser.add_argument("--workers", default="1,2", help="cluster sizes (default 1,2)")
    parser.add_argument("--worker-env", choices=("dask", "caller"), default="dask",
                        help="the workers' environment: Dask's (its nanny sets "
                        "MALLOC_TRIM_THRESHOLD_=65536 and OMP/MKL/OPENBLAS_NUM_THREADS=1, "
                        "the default) or the caller's, as the local pool's processes "
                        "have it (distributed.nanny.pre-spawn-environ emptied)")
    args = parser.parse_args(argv)
    out = Path(args.out or (DOC if args.update_docs
                            else Path("benchmark-results") / "explore_cluster.md"))
    import dask
    import distributed

    import qcc

    entries = small_models()
    if args.models:
        wanted = args.models.split(",")
        entries = [e for e in entries if e[0] in wanted]
    sizes = [int(w) for w in args.workers.split(",")]
    # the scheduler's and workers' own logging on stderr is not the benchmark's
    dask.config.set({"distributed.logging.distributed": "error"})
    nanny_env = dask.config.get("distributed.nanny.pre-spawn-environ")
    if args.worker_env == "caller":
        dask.config.set({"distributed.nanny.pre-spawn-environ": {}})
    with tempfile.TemporaryDirectory() as tmp:
        models = [build(n, kw, Path(tmp)) for n, kw in entries]
        print(f"{len(models)} models x 8 configurations x {len(TARGETS)} targets",
              flush=True)
        t0 = time.perf_counter()
        pool_load = os.getloadavg()[0]
        pool_s, pool_models, reference = sweep(models, jobs=2)
        print(f"local process pool (jobs=2): {pool_s:.1f} s", flush=True)
        timings: dict[int, dict] = {}
        identical = True
        for n in sizes:
            s0 = time.perf_counter()
            with distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                          processes=True, dashboard_address=None) as c:
                startup = time.perf_counter() - s0
                runs, per_model, loads = [], [], []
                for i in range(args.runs):
                    loads.append(os.getloadavg()[0])
                    wall, pm, res = sweep(models, cluster=c.scheduler_address)
                    same = res == reference
                    identical &= same
                    runs.append(wall)
                    per_model.append(pm)
                    print(f"{n} worker(s), run {i + 1}: {wall:.1f} s"
                          + ("" if same else "  RESULTS DIFFER"), flush=True)
            timings[n] = {"runs": runs, "startup": startup, "per_model": per_model,
                          "loads": loads}
        total_s = time.perf_counter() - t0
        rows_per_model = {m["name"]: json.loads(reference[m["name"]]) for m in models}
    errors = {name: sum(1 for r in d["rows"] if r.get("error"))
              for name, d in rows_per_model.items()}
    rows = sum(len(d["rows"]) for d in rows_per_model.values())

    med = {n: statistics.median(t["runs"]) for n, t in timings.items()}
    base = med.get(1)
    lines = [
        "# `qcc explore` on a Dask cluster: the zoo, 1 and 2 local workers", "",
        "Produced by `python benchmarks/explore_cluster.py"
        + (f" --models {args.models}" if args.models else "")
        + (f" --runs {args.runs}" if args.runs != 3 else "")
        + (f" --workers {args.workers}" if args.workers != "1,2" else "")
        + (f" --worker-env {args.worker_env}" if args.worker_env != "dask" else "")
        + (" --update-docs" if args.update_docs else "") + f"` in {total_s:.0f} s. "
        "How `--cluster` works: docs/explore.md.", "",
        f"**The sweep**: {len(models)} models (every model of `examples/zoo.py`'s "
        "`ORIGINAL + CLASSICS`, at the small sizes of `benchmarks/zoo_report.py "
        "--quick`; the MLP at width 256, batch 8) x 8 configurations (per-tensor / "
        "per-channel weights x minmax, percentile, entropy, mse) x 3 targets "
        f"({', '.join(TARGETS)}), at the model's batch (1; the MLP's static 8): "
        f"{len(models) * 8} jobs, {rows} result rows"
        + (f" ({sum(errors.values())} of them a configuration a target cannot compile, "
           "the same in every run)" if any(errors.values()) else "")
        + f". Inputs: {CALIB_SAMPLES} seeded standard-normal samples to calibrate on, "
        f"{EVAL_SAMPLES} to evaluate (random weights: agreement with FP32). One sweep "
        "is one `explore(..., cluster=ADDRESS)` per model, as `qcc explore --cluster` "
        "runs it: the FP32 reference, the calibration statistics, the roofline and "
        "the tables run in the calling process, the 8 configurations as 8 jobs of the "
        "cluster.", "",
        f"**The machine**: {os.cpu_count()} cores ({_cpu()}), shared with other work "
        "while this ran; Python "
        f"{platform.python_version()}, numpy {np.__version__}, dask/distributed "
        f"{distributed.__version__}, qcc {qcc.__version__}. With 2 cores, 2 workers can "
        "at most halve the time of the configurations, and the calling process's part "
        "of each sweep is serial. **Workers' environment**: "
        + ("Dask's: its nanny starts each worker process with "
           + ", ".join(f"`{k}={v}`" for k, v in sorted(nanny_env.items()))
           + " (`distributed.nanny.pre-spawn-environ`), while the local pool's processes "
           "inherit the caller's environment (`--worker-env caller` gives the workers "
           "that)" if args.worker_env == "dask" else
           "the caller's, as the local pool's processes have it (`--worker-env caller`: "
           "`distributed.nanny.pre-spawn-environ` emptied; Dask's default sets "
           + ", ".join(f"`{k}={v}`" for k, v in sorted(nanny_env.items())) + ")")
        + ".", "",
        "**Results**: "
        + ("identical in every run, 1 and 2 workers, and to the local process pool's "
           "(`jobs=2`): explore.json's content without the wall-clock figures "
           "(`collect_s`, `quantize_s`, `compile_s`), compared model by model."
           if identical else "**NOT identical** between runs (see the script's output)."),
        "",
        "## Wall time of the zoo-wide sweep", "",
        f"Median of {args.runs} sweep(s) per cluster size; the cluster started before "
        "the first (its start-up in its own column, not in the times).", "",
        "| engine | median (s) | runs (s) | speed-up vs 1 worker | cluster start-up (s) "
        "| 1-min load average before each run |",
        "|---|---:|---:|---:|---:|---:|"]
    for n, t in timings.items():
        speed = f"{base / med[n]:.2f}x" if base else "-"
        lines.append(f"| Dask, {n} worker{'s' if n > 1 else ''} (1 thread each) | "
                     f"{med[n]:.1f} | {', '.join(f'{r:.1f}' for r in t['runs'])} | "
                     f"{speed} | {t['startup']:.1f} | "
                     f"{', '.join(f'{x:.1f}' for x in t['loads'])} |")
    lines.append(f"| local process pool, `jobs=2` (one run, the reference) | "
                 f"{pool_s:.1f} | {pool_s:.1f} | "
                 f"{f'{base / pool_s:.2f}x' if base else '-'} | - | {pool_load:.1f} |")
    lines += ["", "## Per model", "",
              "Seconds of each model's sweep (the median run's figures per cluster size).",
              "", "| model | input | rows that cannot compile | "
              + " | ".join(f"{n} worker{'s' if n > 1 else ''} (s)" for n in timings)
              + " | local pool (s) |",
              "|---|---|---:|" + "---:|" * (len(timings) + 1)]
    median_run = {n: t["per_model"][t["runs"].index(sorted(t["runs"])[len(t["runs"]) // 2])]
                  for n, t in timings.items()}
    for m in models:
        lines.append(f"| {m['name']} | {'x'.join(str(d) for d in m['input'])} | "
                     f"{errors[m['name']]} | "
                     + " | ".join(f"{median_run[n][m['name']]:.1f}" for n in timings)
                     + f" | {pool_models[m['name']]:.1f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0 if identical else 1


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
