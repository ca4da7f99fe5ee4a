"""A long random fuzz run of qcc's entry points (no hypothesis: plain seeded random
mutations of real inputs, so it is fast).

    python tests/fuzz/run_fuzz.py --cases 100000
        [--entry ir|pipeline|asm|onnx|binary|run|backend|all]
        [--seed S] [--timeout SECONDS] [--out DIR]

Prints per entry point the cases run, successes, QccErrors and other exceptions
(crashes and hangs); each distinct crash gets a reproducer file in DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzlib


def mutate(entry: str, rng: random.Random, seed: str | bytes, pool: tuple) -> str | bytes:
    if entry in ("ir", "pipeline", "asm", "backend"):
        return fuzzlib.mutate_text(rng, seed, pool)
    if entry == "onnx":
        return fuzzlib.mutate_onnx(rng, seed)
    return fuzzlib.mutate_binary(rng, seed)


def signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    last = tb[-1] if tb else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {where}"


def fuzz(entry: str, cases: int, seed: int, timeout: float, out: Path,
         deep: float = 0.1, report_every: float = 60.0) -> dict:
    rng = random.Random(f"{entry}:{seed}")
    pool = fuzzlib.seeds(entry)
    oracle = fuzzlib.ORACLES[entry]
    counts = {"cases": 0, "ok": 0, "error": 0, "crash": 0, "hang": 0}
    crashes: dict[str, str] = {}
    start = last = time.monotonic()
    for _ in range(cases):
        # (the full assembly, weight lines and all, is slow to assemble: 1 case in 10)
        base = rng.choice(pool) if entry != "asm" else pool[rng.random() < 0.1]
        data = mutate(entry, rng, base, pool)
        counts["cases"] += 1
        try:
            with fuzzlib.time_limit(timeout):
                if entry == "onnx" and rng.random() < deep:
                    counts[fuzzlib.run_onnx(data, deep=True)] += 1
                else:
                    counts[oracle(data)] += 1
        except fuzzlib.Hang as e:
            counts["hang"] += 1
            _record(out, entry, data, f"Hang: {e}", "hang", crashes)
        except Exception as e:
            if isinstance(e.__cause__, fuzzlib.Hang):
                # the time limit struck inside a pass, which reports any exception as a
                # PassFailure: a hang all the same
                counts["hang"] += 1
                _record(out, entry, data, f"Hang: {e.__cause__}", "hang", crashes)
            else:
                counts["crash"] += 1
                _record(out, entry, data, "".join(traceback.format_exception(e)),
                        signature(e), crashes)
        now = time.monotonic()
        if now - last > report_every:
            last = now
            print(f"  [{entry}] {counts} ({counts['cases'] / (now - start):.0f} cases/s)",
                  flush=True)
    counts["seconds"] = round(time.monotonic() - start, 1)
    counts["distinct"] = crashes
    return counts


def _record(out: Path, entry: str, data: str | bytes, trace: str, sig: str,
            crashes: dict[str, str]) -> None:
    if sig in crashes:
        return
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    name = f"{entry}-{hashlib.sha256(raw).hexdigest()[:12]}"
    out.mkdir(parents=True, exist_ok=True)
    (out / (name + ".input")).write_bytes(raw)
    (out / (name + ".txt")).write_text(trace)
    crashes[sig] = str(out / name)
    print(f"  [{entry}] NEW: {sig} -> {out / name}.input", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000, help="cases per entry point")
    ap.add_argument("--entry", default="all", choices=[*fuzzlib.ENTRIES, "all"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-case limit (s)")
    ap.add_argument("--deep", type=float, default=0.1,
                    help="share of ONNX cases also calibrated and quantized")
    ap.add_argument("--out", type=Path, default=Path("/tmp/qcc-fuzz-crashes"),
                    help="folder for reproducers")
    ap.add_argument("--max-memory", type=int, default=4096,
                    help="address-space limit in MiB (a huge allocation is a MemoryError, "
                    "reported as a crash, rather than a swapping machine)")
    args = ap.parse_args(argv)
    limit = args.max_memory << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    entries = fuzzlib.ENTRIES if args.entry == "all" else (args.entry,)
    bad = 0
    for entry in entries:
        print(f"{entry}: fuzzing {args.cases} cases (seed {args.seed})", flush=True)
        c = fuzz(entry, args.cases, args.seed, args.timeout, args.out, args.deep)
        print(f"{entry}: {c['cases']} cases in {c['seconds']} s: {c['ok']} successes, "
              f"{c['error']} QccErrors, {c['crash']} other exceptions, {c['hang']} hangs",
              flush=True)
        for sig, path in c["distinct"].items():
            print(f"    {sig}: {path}.input")
        bad += c["crash"] + c["hang"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
