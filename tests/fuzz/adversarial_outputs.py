"""An adversarial run over qcc's outputs: random output paths of every awkward kind
(existing files, directories, symlinks of all shapes, FIFOs, fake devices, a full
device, ``-``, inputs under other spellings, two options naming one file, names with
control characters, names too long, missing parents, files standing in for
directories), given to the output layer and to real CLI commands.

    python tests/fuzz/adversarial_outputs.py --cases 100000 [--seed S] [--cli 0.02]

Every case is checked against what qcc promises (qcc/outputs.py):
- the outcome is success or a QccError (exit 0 or 2 from the CLI), nothing else;
- no input changes; no symlink, directory, FIFO or device is replaced;
- on success every regular output holds exactly its data; on failure no regular file
  changed and no file appeared;
- no temporary file is left.
A violation raises AssertionError with the case's description.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "models" / "digits_mlp.onnx"
MLP_STATS = ROOT / "tests" / "golden" / "models" / "digits_mlp" / "calibration.json"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

KINDS = ("new", "regular", "readonly", "dir", "dir-slash", "missing-parent", "under-file",
         "symlink-file", "symlink-dangling", "symlink-dir", "symlink-loop", "symlink-chain",
         "fifo", "null-dev", "full-dev", "dash", "input", "input-dot", "input-hardlink",
         "input-symlink", "dup", "ctrl-name", "long-name", "socket", "empty")


class FifoReader:
    """Drains a FIFO from a thread so that a writer never blocks."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.data = bytearray()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                chunk = None
            if chunk:
                self.data += chunk
            elif self.stop.is_set():
                return
            else:
                time.sleep(0.001)

    def close(self) -> bytes:
        self.stop.set()
        self.thread.join(10)
        while True:  # what arrived after the thread's last read
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.data += chunk
        os.close(self.fd)
        return bytes(self.data)


class Case:
    def __init__(self, rng: random.Random, folder: Path):
        self.rng, self.dir = rng, folder
        self.readers: list[FifoReader] = []
        self.sockets: list[socket.socket] = []
        self.n = 0
        self.inputs: list[Path] = []
        for i in range(rng.randint(1, 2)):
            p = folder / f"input{i}.bin"
            p.write_bytes(rng.randbytes(rng.randint(0, 64)))
            self.inputs.append(p)

    def name(self) -> str:
        self.n += 1
        return f"o{self.n}"

    def path(self, kind: str, taken: list[str]) -> str:
        """Make the situation ``kind`` in the folder and return the path to give."""
        rng, d = self.rng, self.dir
        name = self.name()
        p = d / name
        if kind == "new":
            return str(p)
        if kind in ("regular", "readonly"):
            p.write_bytes(rng.randbytes(rng.randint(0, 32)))
            if kind == "readonly":
                p.chmod(0o444)
            return str(p)
        if kind == "dir":
            p.mkdir()
            return str(p)
        if kind == "dir-slash":
            return str(p) + "/"
        if kind == "missing-parent":
            return str(d / "nodir" / name)
        if kind == "under-file":
            p.write_bytes(b"x")
            return str(p / "x")
        if kind == "symlink-file":
            (d / (name + ".t")).write_bytes(b"target")
            p.symlink_to(name + ".t")
            return str(p)
        if kind == "symlink-dangling":
            p.symlink_to(name + ".made")
            return str(p)
        if kind == "symlink-dir":
            (d / (name + ".d")).mkdir()
            p.symlink_to(name + ".d")
            return str(p)
        if kind == "symlink-loop":
            p.symlink_to(name + ".l")
            (d / (name + ".l")).symlink_to(name)
            return str(p)
        if kind == "symlink-chain":
            (d / (name + ".t")).write_bytes(b"chain")
            (d / (name + ".m")).symlink_to(name + ".t")
            p.symlink_to(name + ".m")
            return str(p)
        if kind == "fifo":
            os.mkfifo(p)
            self.readers.append(FifoReader(p))
            return str(p)
        if kind in ("null-dev", "full-dev"):
            if not IS_ROOT:
                return str(p)
            os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3 if kind == "null-dev" else 7))
            return str(p)
        if kind == "dash":
            return "-"
        if kind == "input":
            return str(rng.choice(self.inputs))
        if kind == "input-dot":
            i = rng.choice(self.inputs)
            return f"{i.parent}/./{i.name}"
        if kind == "input-hardlink":
            os.link(rng.choice(self.inputs), p)
            return str(p)
        if kind == "input-symlink":
            p.symlink_to(rng.choice(self.inputs).name)
            return str(p)
        if kind == "dup":
            return rng.choice(taken) if taken else str(p)
        if kind == "ctrl-name":
            return str(d / (name + rng.choice(["\n", "\x1b[31m", "\t", "\r", "\x7f"]) + "x"))
        if kind == "long-name":
            return str(d / ("n" * rng.choice([255, 256, 300])))
        if kind == "socket":
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(p))
            self.sockets.append(s)
            return str(p)
        if kind == "empty":
            return ""
        raise AssertionError(kind)

    def close(self) -> None:
        for r in self.readers:
            r.close()
        for s in self.sockets:
            s.close()


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: its kind and, for files, contents; for links, the
    link text."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            m = st.st_mode
            if stat.S_ISLNK(m):
                out[p] = ("link", os.readlink(p))
            elif stat.S_ISREG(m):
                with open(p, "rb") as f:
                    out[p] = ("file", f.read())
            else:
                out[p] = (stat.S_IFMT(m),)
    return out


def check_after(before: dict, after: dict, success: bool, written: dict[str, bytes],
                inputs: list[Path], describe: str) -> None:
    temps = [p for p in after if p.endswith(".tmp")]
    assert not temps, f"temporary files left: {temps} ({describe})"
    for p in inputs:
        assert after[str(p)] == before[str(p)], f"input {p} changed ({describe})"
    for p, was in before.items():
        now = after.get(p)
        assert now is not None, f"{p} disappeared ({describe})"
        if was[0] != "file":
            assert now == was, f"{p} ({was[0]}) was replaced ({describe})"
    if not success:
        assert after == before, f"the folder changed on failure ({describe}): " \
            f"{sorted(set(after) ^ set(before))}"
        return
    for real, data in written.items():
        assert after.get(real) == ("file", data), f"{real} lacks its data ({describe})"
    new = set(after) - set(before)
    assert new <= set(written), f"unexpected files {sorted(new - set(written))} ({describe})"


def layer_case(rng: random.Random, folder: Path) -> str:
    """The output layer itself: an OutputPlan, a transaction, staged data, sometimes a
    failure of the 'command' before the end."""
    from qcc.diagnostics import QccError
    from qcc.outputs import OutputPlan, transaction, write_output

    case = Case(rng, folder)
    plan = OutputPlan()
    plan.add_inputs(case.inputs)
    taken: list[str] = []
    kinds = [rng.choice(KINDS) for _ in range(rng.randint(1, 3))]
    paths = []
    for k in kinds:
        paths.append(case.path(k, taken))
        taken.append(paths[-1])
    describe = f"layer {list(zip(kinds, paths, strict=True))!r}"
    before = snapshot(folder)
    data = {p: rng.randbytes(rng.randint(0, 4096)) for p in paths}
    fail_inside = rng.random() < 0.2
    stdout = io.TextIOWrapper(io.BytesIO())
    written: dict[str, bytes] = {}
    outcome = "ok"
    try:
        with contextlib.redirect_stdout(stdout):
            for i, p in enumerate(paths):
                plan.declare(p, f"--out{i}")
            with transaction(plan):
                for p in paths:
                    write_output(p, data[p])
                if fail_inside:
                    raise QccError("the command failed")
        for t in plan.targets:
            if t.kind == "file":
                written[t.path] = data[t.display]
    except QccError:
        outcome = "error"
    finally:
        fifo_data = [r.close() for r in case.readers]
        case.readers = []
        case.close()
    after = snapshot(folder)
    check_after(before, after, outcome == "ok", written, case.inputs, describe)
    if outcome == "ok":
        stdout.flush()
        dash = [p for p in paths if p == "-"]
        assert stdout.buffer.getvalue() == b"".join(data[p] for p in dash), describe
        fifos = [p for p, k in zip(paths, kinds, strict=True) if k == "fifo"]
        assert fifo_data == [data[p] for p in fifos], describe
    return outcome


def cli_case(rng: random.Random, folder: Path, program: Path) -> str:
    """A real command (compile, import, run --output, disasm, quantize --report) with
    its outputs drawn from the same situations; exit 0 or 2 only."""
    from qcc.cli import main

    case = Case(rng, folder)
    model = folder / "m.onnx"
    shutil.copyfile(MLP, model)
    stats = folder / "s.json"
    shutil.copyfile(MLP_STATS, stats)
    prog = folder / "p.tpu"
    shutil.copyfile(program, prog)
    command = rng.choice(["compile", "import", "run", "disasm", "quantize"])
    case.inputs = {"compile": [model, stats], "import": [model], "run": [model],
                   "disasm": [prog], "quantize": [model, stats]}[command]
    taken: list[str] = []

    def out(kind: str | None = None) -> str:
        p = case.path(kind or rng.choice(KINDS), taken)
        taken.append(p)
        return p

    if command == "compile":
        args = ["compile", str(model), "--stats", str(stats), "-o", out()]
        if rng.random() < 0.5:
            args += ["--report", out()]
    elif command == "import":
        args = ["import", str(model), "-o", out()]
    elif command == "run":
        path = out()
        if rng.random() < 0.3 and path.startswith(str(folder)):
            path += ".npy"  # (only inside the case's folder: "" + ".npy" is in the cwd)
        args = ["run", str(model), "--random-input", "0", "--output", path]
    elif command == "disasm":
        args = ["disasm", str(prog), "-o", out()]
    else:
        args = ["quantize", str(model), "--stats", str(stats), "-o", out()]
        if rng.random() < 0.5:
            args += ["--save-stats", out()]
    before = snapshot(folder)
    describe = f"cli {args!r}"
    stdout = io.TextIOWrapper(io.BytesIO())
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(args)
            except SystemExit as e:  # argparse's usage errors ("-.npy" reads as a flag)
                code = e.code
    finally:
        for r in case.readers:
            r.close()
        case.readers = []
        case.close()
    err = stderr.getvalue()
    assert code in (0, 2), f"exit {code}: {err} ({describe})"
    assert "Traceback" not in err and "internal error" not in err, f"{err} ({describe})"
    after = snapshot(folder)
    # on success the outputs' contents are the command's own: check kinds only
    written = {p: after[p][1] for p in set(after) - set(before) if after[p][0] == "file"}
    for p, was in before.items():
        if was[0] == "file" and after.get(p, was) != was and p not in map(str, case.inputs):
            written[p] = after[p][1]
    check_after(before, after, code == 0, written, case.inputs, describe)
    return "ok" if code == 0 else "error"


def compiled_program(folder: Path) -> Path:
    from qcc.cli import main

    prog = folder / "ref.tpu"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["compile", str(MLP), "--stats", str(MLP_STATS), "-o", str(prog)]) == 0
    return prog


def run(cases: int, seed: int, cli_share: float, report_every: float = 60.0) -> dict:
    rng = random.Random(f"outputs:{seed}")
    counts = {"cases": 0, "layer ok": 0, "layer error": 0, "cli ok": 0, "cli error": 0}
    start = last = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        program = compiled_program(Path(tmp))
        for i in range(cases):
            folder = Path(tmp) / f"c{i}"
            folder.mkdir()
            try:
                if rng.random() < cli_share:
                    counts[f"cli {cli_case(rng, folder, program)}"] += 1
                else:
                    counts[f"layer {layer_case(rng, folder)}"] += 1
            finally:
                for dirpath, dirnames, _ in os.walk(folder):
                    for n in dirnames:
                        with contextlib.suppress(OSError):
                            os.chmod(os.path.join(dirpath, n), 0o755)
                shutil.rmtree(folder, ignore_errors=True)
            counts["cases"] += 1
            now = time.monotonic()
            if now - last > report_every:
                last = now
                print(f"  {counts} ({counts['cases'] / (now - start):.0f} cases/s)",
                      flush=True)
    counts["seconds"] = round(time.monotonic() - start, 1)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", type=float, default=0.02,
                    help="share of cases run as real CLI commands (slower)")
    args = ap.parse_args(argv)
    counts = run(args.cases, args.seed, args.cli)
    print(f"outputs: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
