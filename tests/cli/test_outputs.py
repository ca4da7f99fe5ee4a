"""Outputs (qcc/outputs.py): nothing lost, nothing destroyed.

Every case is a finding of the adversarial pass over the CLI (issue 13), run through
``qcc.cli.main`` or, where a signal or a resource limit is involved, through a real
``qcc`` process. Devices, FIFOs and symlinks are made in a temporary folder, never
taken from the system.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.cli import main
from qcc.outputs import OutputPlan, remove_stale_temporaries, resolve_output

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
CALIB = ROOT / "examples" / "data" / "digits_calib.npz"
MLP = MODELS / "digits_mlp.onnx"
MLP_STATS = ROOT / "tests" / "golden" / "models" / "digits_mlp" / "calibration.json"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def compile_args(out, *extra) -> list:
    return ["compile", MLP, "--stats", MLP_STATS, "-o", out, *extra]


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def make_device(path: Path, minor: int) -> None:
    """A character device of the memory driver (1, minor): 3 is null, 7 is full."""
    if not IS_ROOT:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))


@pytest.fixture(scope="module")
def expected_binary(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("ref") / "ref.tpu"
    assert main([str(a) for a in compile_args(out)]) == 0
    return out.read_bytes()


# -- what -o may name --------------------------------------------------------------------
def test_fake_character_device_is_written_in_place_and_stays_a_device(capsys, tmp_path):
    dev = tmp_path / "null"
    make_device(dev, 3)
    code, _, err = cli(capsys, *compile_args(dev))
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert temporaries(tmp_path) == []


def test_full_device_is_a_clean_error(capsys, tmp_path):
    dev = tmp_path / "full"
    make_device(dev, 7)
    report = tmp_path / "r.md"
    code, _, err = cli(capsys, *compile_args(tmp_path / "out.tpu", "--report", dev))
    assert code == 2
    assert "No space left on device" in err and "Traceback" not in err
    assert "internal error" not in err
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    # all or nothing: the program is not written either
    assert not (tmp_path / "out.tpu").exists() and not report.exists()
    assert temporaries(tmp_path) == []


def test_symlink_is_followed_and_stays_a_link(capsys, tmp_path, expected_binary):
    real = tmp_path / "real.tpu"
    real.write_bytes(b"old")
    link = tmp_path / "link.tpu"
    link.symlink_to(real.name)
    code, _, err = cli(capsys, *compile_args(link))
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "real.tpu"
    assert real.read_bytes() == expected_binary


def test_dangling_symlink_creates_its_target(capsys, tmp_path, expected_binary):
    link = tmp_path / "link.tpu"
    link.symlink_to("made.tpu")
    assert cli(capsys, *compile_args(link))[0] == 0
    assert link.is_symlink() and (tmp_path / "made.tpu").read_bytes() == expected_binary


def test_symlink_loop_is_a_clean_error(capsys, tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    code, _, err = cli(capsys, *compile_args(tmp_path / "a"))
    assert code == 2 and "loop of symbolic links" in err


def test_fifo_is_written_as_a_stream(capsys, tmp_path, expected_binary):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []

    def reader():
        with open(fifo, "rb") as f:
            received.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    code, _, err = cli(capsys, *compile_args(fifo))
    t.join(30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received == [expected_binary]


def test_dash_is_standard_output(capfdbinary, tmp_path, expected_binary):
    assert main([str(a) for a in compile_args("-")]) == 0
    out, _ = capfdbinary.readouterr()
    assert out == expected_binary
    assert not (Path.cwd() / "-").exists()


def test_run_output_dash_writes_the_array_to_stdout(capfdbinary, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.float32))
    assert main(["run", str(MLP), "--input", str(x), "--output", "-"]) == 0
    out, err = capfdbinary.readouterr()
    assert out.startswith(b"\x93NUMPY")  # the array, not the printed text
    assert b"argmax" in err


def test_directory_is_refused(capsys, tmp_path):
    code, _, err = cli(capsys, *compile_args(tmp_path))
    assert code == 2 and "is a directory" in err
    code, _, err = cli(capsys, *compile_args(f"{tmp_path}/new/"))
    assert code == 2 and "names a directory" in err


def test_missing_parent_is_refused_before_any_work(capsys, tmp_path):
    code, _, err = cli(capsys, "compile", MLP, "--calib-data", CALIB, "-o",
                       tmp_path / "nodir" / "out.tpu")
    assert code == 2 and "nodir does not exist" in err
    assert "calibration data" not in err  # refused before calibrating (no warning)


def test_socket_is_refused(capsys, tmp_path):
    import socket

    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        code, _, err = cli(capsys, *compile_args(path))
    assert code == 2 and "socket" in err


# -- outputs that are inputs or each other -------------------------------------------------
@pytest.mark.parametrize("which", ["model", "model-dot", "hardlink", "stats"])
def test_compile_never_overwrites_an_input(capsys, tmp_path, which):
    model = tmp_path / "m.onnx"
    shutil.copyfile(MLP, model)
    stats = tmp_path / "s.json"
    shutil.copyfile(MLP_STATS, stats)
    before = model.read_bytes(), stats.read_bytes()
    out = {"model": model, "model-dot": Path(f"{tmp_path}/./m.onnx"), "stats": stats,
           "hardlink": tmp_path / "alias.onnx"}[which]
    if which == "hardlink":
        os.link(model, out)
    code, _, err = cli(capsys, "compile", model, "--stats", stats, "-o", out)
    assert code == 2 and "is also an input" in err
    assert (model.read_bytes(), stats.read_bytes()) == before


def test_import_and_calibration_data_are_not_overwritten(capsys, tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copyfile(MLP, model)
    code, _, err = cli(capsys, "import", model, "-o", model)
    assert code == 2 and "is also an input" in err
    assert model.read_bytes() == MLP.read_bytes()
    calib = tmp_path / "c.npz"
    shutil.copyfile(CALIB, calib)
    code, _, err = cli(capsys, "compile", model, "--calib-data", calib, "-o", calib)
    assert code == 2 and "is also an input" in err
    assert calib.read_bytes() == CALIB.read_bytes()


@pytest.mark.parametrize("other", ["--report", "--save-stats"])
def test_two_outputs_naming_one_file(capsys, tmp_path, other):
    out = tmp_path / "out.tpu"
    code, _, err = cli(capsys, "compile", MLP, "--calib-data", CALIB, "-o", out, other, out)
    assert code == 2 and f"{other} {out}: is also the output of -o" in err
    assert not out.exists()


# -- all outputs or none -------------------------------------------------------------------
def test_failing_report_leaves_no_program(capsys, tmp_path):
    out = tmp_path / "out.tpu"
    code, _, _ = cli(capsys, *compile_args(out, "--report", tmp_path / "nodir" / "r.md"))
    assert code == 2 and not out.exists()


def test_quantize_failing_output_leaves_no_report(capsys, tmp_path):
    report = tmp_path / "r.md"
    code, _, _ = cli(capsys, "quantize", MLP, "--calib-data", CALIB, "--report", report,
                     "-o", tmp_path / "nodir" / "q.mlir")
    assert code == 2 and not report.exists()


def test_compile_failing_after_calibration_leaves_no_statistics(capsys, tmp_path):
    stats = tmp_path / "s.json"
    code, _, err = cli(capsys, "compile", MODELS / "cnn.onnx", "--calib-data", CALIB,
                       "--no-host", "--save-stats", stats, "-o", tmp_path / "out.tpu")
    assert code == 2 and "cannot run on the TPU" in err
    assert not stats.exists() and list(tmp_path.iterdir()) == []


def test_python_api_compile_failing_leaves_no_statistics(tmp_path):
    stats = tmp_path / "s.json"
    with pytest.raises(qcc.QccError, match="cannot run on the TPU"):
        qcc.compile(MODELS / "cnn.onnx", calib_data=str(CALIB), save_stats=str(stats),
                    no_host=True)
    assert not stats.exists()
    qcc.compile(MLP, calib_data=str(CALIB), save_stats=str(stats))
    assert stats.exists()


def test_api_write_refuses_a_directory(tmp_path):
    with pytest.raises(qcc.QccError, match="is a directory"):
        qcc.write_atomic(tmp_path, b"x")


# -- temporary files -----------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_processes_are_removed(capsys, tmp_path):
    dead = tmp_path / f".out.tpu.qcc-{_dead_pid()}-0123abcd.tmp"
    live = tmp_path / f".out.tpu.qcc-{os.getppid()}-0123abcd.tmp"
    other = tmp_path / ".out.tpu.abcd.tmp"  # not qcc's pattern: never touched
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    assert cli(capsys, *compile_args(tmp_path / "out.tpu"))[0] == 0
    assert not dead.exists() and live.exists() and other.exists()
    assert remove_stale_temporaries(tmp_path) == []


def _default_sigint() -> None:
    # a shell starts background jobs with SIGINT ignored, and an ignored SIGINT stays
    # ignored in qcc (as in any program run under nohup or with '&'): the signal tests
    # give the child the default disposition so that they test the same thing anywhere
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _qcc_process(args: list, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qcc.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint, **kw)


def _wait_for_temporary(folder: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not temporaries(folder):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_writing_removes_temporaries(tmp_path, sig):
    # the program's temporary file is written first; then qcc blocks opening the report
    # FIFO (no reader): the signal arrives with the temporary on disk
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    proc = _qcc_process(compile_args(tmp_path / "out.tpu", "--report", fifo))
    _wait_for_temporary(tmp_path, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert temporaries(tmp_path) == [] and not (tmp_path / "out.tpu").exists()
    assert b"Traceback" not in err


def test_sigkill_leaves_a_temporary_that_the_next_write_removes(capsys, tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    proc = _qcc_process(compile_args(tmp_path / "out.tpu", "--report", fifo))
    _wait_for_temporary(tmp_path, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert len(temporaries(tmp_path)) == 1
    assert cli(capsys, *compile_args(tmp_path / "other.tpu"))[0] == 0
    assert temporaries(tmp_path) == []


# -- environment faults are exit 2 ---------------------------------------------------------
def _limited_qcc(args: list, max_file_bytes: int) -> subprocess.Popen:
    """qcc with files limited to max_file_bytes, started: a write past it fails with
    EFBIG, as on a full disk (Python ignores SIGXFSZ)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.Popen([sys.executable, "-m", "qcc.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limit)


_WRITERS = ("compile", "import", "run", "disasm", "save-stats")


@pytest.fixture(scope="module")
def failing_writes(tmp_path_factory, expected_binary) -> dict:
    """Each command of _WRITERS in its own folder with files limited to 100 bytes, the
    processes started together (each spends most of its time starting Python and
    importing onnx): per command, (return code, stderr, folder before, folder after)."""
    runs = {}
    for command in _WRITERS:
        folder = tmp_path_factory.mktemp(f"efbig-{command}")
        prog = folder / "p.tpu"
        prog.write_bytes(expected_binary)
        x = folder / "x.npy"
        np.save(x, np.zeros((1, 1, 8, 8), np.float32))
        out = folder / "out"
        args = {"compile": compile_args(out),
                "import": ["import", MLP, "-o", out],
                "run": ["run", MLP, "--input", x, "--output", folder / "out.npy"],
                "disasm": ["disasm", prog, "-o", out],
                "save-stats": ["compile", MLP, "--calib-data", CALIB, "--save-stats", out,
                               "-o", "-"]}[command]
        before = sorted(p.name for p in folder.iterdir())
        runs[command] = (folder, before, _limited_qcc(args, 100))
    results = {}
    for command, (folder, before, proc) in runs.items():
        _, err = proc.communicate(timeout=300)
        results[command] = (proc.returncode, err, before,
                            sorted(p.name for p in folder.iterdir()))
    return results


@pytest.mark.parametrize("command", _WRITERS)
def test_a_failing_write_is_exit_2_with_no_file_left(failing_writes, command):
    code, err, before, after = failing_writes[command]
    assert code == 2, err
    assert "File too large" in err and "Traceback" not in err
    assert after == before


def test_explore_out_naming_a_file(capsys, tmp_path):
    f = tmp_path / "f"
    f.write_text("keep")
    code, _, err = cli(capsys, "explore", MLP, "--calib-data", CALIB, "--out", f)
    assert code == 2 and "not a directory" in err and f.read_text() == "keep"


# -- the resolution rules themselves ---------------------------------------------------------
def test_resolve_output_kinds(tmp_path):
    assert resolve_output("-").kind == "stdout"
    assert resolve_output(tmp_path / "new.bin").kind == "file"
    os.mkfifo(tmp_path / "f")
    assert resolve_output(tmp_path / "f").kind == "stream"
    with pytest.raises(qcc.QccError, match="empty output path"):
        resolve_output("")
    plan = OutputPlan()
    plan.declare("-", "-o")
    with pytest.raises(qcc.QccError, match="standard output is already taken by -o"):
        plan.declare("-", "--report")


@pytest.mark.skipif(not Path("/proc/self/fd/1").exists(), reason="needs /proc")
@pytest.mark.parametrize("stdout_kind", ["pipe", "file"])
def test_link_to_standard_output_is_a_stream(tmp_path, expected_binary, stdout_kind):
    # what /dev/stdout is, made in the temporary folder: a link to /proc/self/fd/1
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    args = [sys.executable, "-m", "qcc.cli", *map(str, compile_args(link))]
    if stdout_kind == "pipe":
        r = subprocess.run(args, capture_output=True, timeout=300)
        out = r.stdout
    else:
        with open(tmp_path / "redirected.tpu", "wb") as f:
            r = subprocess.run(args, stdout=f, stderr=subprocess.PIPE, timeout=300)
        out = (tmp_path / "redirected.tpu").read_bytes()
    assert r.returncode == 0, r.stderr
    assert out == expected_binary
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert temporaries(tmp_path) == []


def _unprivileged() -> list[str]:
    """A command prefix under which permissions apply: as root, util-linux's setpriv
    drops the capabilities that override them (root ignores file modes otherwise)."""
    if not IS_ROOT:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def test_permission_denied_is_exit_2(tmp_path, expected_binary):
    prefix = _unprivileged()
    locked = tmp_path / "locked"
    locked.mkdir()
    prog = tmp_path / "p.tpu"
    prog.write_bytes(expected_binary)
    prog.chmod(0o644)
    secret = tmp_path / "secret.tpu"
    secret.write_bytes(expected_binary)
    secret.chmod(0o000)
    readonly = tmp_path / "ro.s"
    readonly.write_text("keep")
    readonly.chmod(0o444)
    locked.chmod(0o555)
    cases = [(["disasm", prog, "-o", locked / "out.s"], "permission denied"),
             (["disasm", secret], "Permission denied"),
             (["disasm", prog, "-o", readonly], "not writable")]
    for args, message in cases:
        r = subprocess.run([*prefix, sys.executable, "-m", "qcc.cli", *map(str, args)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
    assert list(locked.iterdir()) == [] and readonly.read_text() == "keep"


def test_longest_legal_file_name_is_written(capsys, tmp_path, expected_binary):
    # the temporary name is longer than the output's: it is cut to fit
    out = tmp_path / ("\u00e9" * 100 + "a" * 51 + ".tpu")  # 255 bytes in UTF-8
    assert len(os.fsencode(out.name)) == 255
    code, _, err = cli(capsys, *compile_args(out))
    assert code == 0, err
    assert out.read_bytes() == expected_binary and temporaries(tmp_path) == []


def test_too_long_file_name_is_refused_before_any_work(capsys, tmp_path):
    code, _, err = cli(capsys, "compile", MLP, "--calib-data", CALIB, "-o",
                       tmp_path / ("a" * 256))
    assert code == 2 and "too long" in err
    assert "calibration data" not in err  # before calibrating (no warning yet)


def test_run_writes_its_output_file_before_printing(tmp_path):
    """`qcc run ... --output F | head`: the reader of the printed outputs goes away at
    once, and F is written all the same (it is committed before the printing)."""
    out = tmp_path / "y.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "qcc", "run", str(MODELS / "mlp.onnx"), "--random-input",
         "0", "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.stdout.close()  # the reader has gone before anything was printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    with np.load(out) as saved:
        assert saved.files == ["output"] and saved["output"].shape[0] == 1
