"""Run several processes side by side (tests that compare what separate processes
produce: different hash seeds, BLAS kernels). Each starts a Python that imports numpy
and onnx, most of its run; side by side they take the time of one on a machine with
as many cores."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence


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
