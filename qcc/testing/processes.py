"""Run several processes side by side (tests that compare what separate processes
produce: different hash seeds, BLAS kernels). Each starts a Python that imports numpy
and onnx, most of its run; side by side they take the time of one on a machine with
as many cores. And a process's own peak memory, as benchmark children report it."""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's own peak resident memory: VmHWM of /proc/self/status where there
    is one, else ru_maxrss. Not ru_maxrss on Linux: a child's carries the parent's
    resident size at the fork over its exec (a benchmark child of a parent holding
    8 GB reported 8.08 GB for a compile whose own peak was 0.49 GB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def run_side_by_side(commands: Sequence[tuple[Sequence[str], Mapping[str, str]]],
                     timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Start every ``(argv, env)`` at once, wait for all; raise CalledProcessError
    (with the output) for the first that failed, like ``subprocess.run(check=True)``."""
    procs = [subprocess.Popen(list(argv), env=dict(env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for argv, env in commands]
    done = []
    for (argv, _), p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(list(argv), p.returncode, out, err))
    for r in done:
        r.check_returncode()
    return done
