"""Every file qcc writes goes through here: outputs are checked before any work, written
only after everything succeeded, all of a command's outputs or none, and nothing that
is not a regular file of the user's is ever replaced.

    plan = OutputPlan(inputs=["model.onnx", "calib.npz"])
    plan.declare("out.tpu", "-o")            # checked now: a clear QccError if unusable
    plan.declare("report.md", "--report")
    with transaction(plan) as txn:           # work; write_output() calls are staged
        write_output("out.tpu", data)
        write_output("report.md", text)
    # leaving the block without an exception writes both; an exception writes neither

What an output path may name:

- a regular file, or a name that does not exist yet in an existing, writable
  directory: written to a temporary file beside it, which is renamed over it when the
  whole command has succeeded (the file either appears complete or not at all);
- a symbolic link: followed; its final target is written as above and the link stays;
- a character or block device or a FIFO (``/dev/null``, ``/dev/stdout``, a named
  pipe): opened and written in place as a stream, never replaced or truncated;
- ``-``: standard output.

Never: a directory, a socket, one of the command's inputs (compared by resolved path
and by inode, so hard links and ``./`` spellings count), or another output of the same
command. Temporary files are named ``.NAME.qcc-PID-RANDOM.tmp``; they are removed when
the write fails or the process gets SIGINT or SIGTERM (the CLI turns SIGTERM into an
orderly exit), and one left behind by a process that no longer exists (SIGKILL, power
loss) is removed by the next write into that directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qcc.diagnostics import QccError

STDOUT = "-"
_TEMP_RE = re.compile(r"^\..+\.qcc-(\d+)-[0-9a-f]{8}\.tmp$")


def describe_os_error(e: OSError) -> str:
    """The reason of an OSError in words (``No space left on device``)."""
    if e.strerror:
        return e.strerror
    if e.errno is not None:
        return os.strerror(e.errno)
    return str(e) or type(e).__name__


@dataclass(frozen=True)
class OutputTarget:
    """Where an output really goes: ``kind`` is ``file`` (replaced atomically),
    ``stream`` (a device or FIFO, written in place) or ``stdout``."""

    display: str  # the path as the user spelled it, for messages
    role: str  # the option that named it ("-o", "--report", ...)
    kind: str
    path: str  # the resolved path ("" for stdout)

    def error(self, reason: str) -> QccError:
        return QccError(f"{self.role} {self.display}: {reason}")


def resolve_output(path: str | os.PathLike, role: str = "output") -> OutputTarget:
    """Check that ``path`` can be written as an output and say how (see the module
    docstring); a :class:`QccError` naming the option and the path otherwise."""
    display = os.fspath(path)
    if display == STDOUT:
        return OutputTarget(display, role, "stdout", "")
    if display == "":
        raise QccError(f"{role}: empty output path")
    if "\x00" in display:
        raise QccError(f"{role} {display!r}: a path cannot contain a NUL character")

    def fail(reason: str) -> QccError:
        return QccError(f"{role} {display}: {reason}")

    if display.endswith(os.sep) or display.endswith("/."):
        raise fail("names a directory, not a file")
    # the kernel's resolution first: it also follows /proc/self/fd/N (/dev/stdout),
    # whose targets ("pipe:[1234]") are no paths at all
    try:
        st = os.stat(display)
    except FileNotFoundError:
        st = None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise fail("a loop of symbolic links") from None
        raise fail(f"cannot examine it: {describe_os_error(e)}") from None
    real = os.path.realpath(display)
    if st is not None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise fail("is a directory; give a file name")
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or \
                (stat.S_ISSOCK(mode) and _is_proc_fd(real)):
            return OutputTarget(display, role, "stream", display)
        if not stat.S_ISREG(mode):
            raise fail("is not a regular file, a device or a FIFO (a socket?); qcc "
                       "does not write there")
        if not os.access(display, os.W_OK):
            raise fail("the file is not writable (permission denied)")
        if _is_proc_fd(real) or not _same_inode(real, st):
            # an open file reached through /proc/PID/fd (e.g. /dev/stdout redirected
            # to a file): write into it like a stream, as the shell would
            return OutputTarget(display, role, "stream", display)
    parent = os.path.dirname(real) or "."
    name_max = _name_max(parent) if os.path.isdir(parent) else 255
    if len(os.fsencode(os.path.basename(real))) > name_max:
        raise fail(f"the file name is longer than the {name_max} bytes the file system "
                   "allows")
    try:
        pst = os.stat(parent)
    except FileNotFoundError:
        raise fail(f"directory {os.path.dirname(display) or '.'} does not exist") from None
    except OSError as e:
        raise fail(f"cannot examine its directory: {describe_os_error(e)}") from None
    if not stat.S_ISDIR(pst.st_mode):
        raise fail(f"{os.path.dirname(display)} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise fail(f"cannot create files in {os.path.dirname(display) or '.'} "
                   "(permission denied)")
    return OutputTarget(display, role, "file", real)


def _is_proc_fd(real: str) -> bool:
    return real.startswith("/proc/") and "/fd/" in real


def _same_inode(path: str, st: os.stat_result) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass
class OutputPlan:
    """The outputs a command will write, checked before it does any work, against its
    inputs and against each other."""

    inputs: list[str] = field(default_factory=list)
    targets: list[OutputTarget] = field(default_factory=list)

    def add_inputs(self, paths: Iterable[str | os.PathLike | None]) -> None:
        self.inputs += [os.fspath(p) for p in paths if p]

    def declare(self, path: str | os.PathLike | None, role: str) -> OutputTarget | None:
        if path is None:
            return None
        target = resolve_output(path, role)
        self._check(target)
        self.targets.append(target)
        return target

    def declare_directory(self, path: str | os.PathLike, role: str) -> Path:
        """An output directory (``qcc explore --out``): it may exist (as a directory)
        or be created in an existing, writable parent."""
        display = os.fspath(path)
        if display in ("", STDOUT):
            raise QccError(f"{role} {display!r}: give a directory")
        real = os.path.realpath(display)
        if os.path.lexists(real) or os.path.exists(display):
            if not os.path.isdir(real):
                raise QccError(f"{role} {display}: exists and is not a directory")
            if not os.access(real, os.W_OK | os.X_OK):
                raise QccError(f"{role} {display}: cannot create files there (permission "
                               "denied)")
        else:
            parent = os.path.dirname(real) or "."
            if not os.path.isdir(parent):
                raise QccError(f"{role} {display}: its parent directory does not exist")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise QccError(f"{role} {display}: cannot create it (permission denied)")
        for inp in self.inputs:
            if _same_file(inp, display):
                raise QccError(f"{role} {display}: is an input of this command")
        return Path(display)

    def target_for(self, path: str | os.PathLike, role: str = "output") -> OutputTarget:
        """The declared target for ``path``, or a newly checked one."""
        display = os.fspath(path)
        for t in self.targets:
            if t.display == display:
                return t
        return self.declare(display, role)

    def _check(self, target: OutputTarget) -> None:
        if target.kind == "file":
            for inp in self.inputs:
                if _same_file(inp, target.path):
                    raise target.error(f"is also an input of this command ({inp}); "
                                       "qcc does not overwrite its inputs")
        for other in self.targets:
            if target.kind == "stdout" and other.kind == "stdout":
                raise target.error(f"standard output is already taken by {other.role}")
            if target.kind == "file" and other.kind == "file" and \
                    target.path == other.path:
                raise target.error(f"is also the output of {other.role} {other.display}")


class Transaction:
    """Outputs staged in memory and written together by :meth:`commit`."""

    def __init__(self, plan: OutputPlan | None = None):
        self.plan = plan or OutputPlan()
        self.staged: list[tuple[OutputTarget, bytes]] = []

    def stage(self, path: str | os.PathLike, data: str | bytes, role: str = "output") -> None:
        target = self.plan.target_for(path, role)
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self.staged = [(t, d) for t, d in self.staged if t is not target]
        self.staged.append((target, payload))

    def commit(self) -> None:
        """Write everything staged: temporary files beside every regular-file output
        first, then the streams, then the renames; on any failure the temporaries are
        removed and nothing regular is replaced."""
        staged, self.staged = self.staged, []
        if not staged:
            return
        temps: list[tuple[str, OutputTarget]] = []
        try:
            for target, data in staged:
                if target.kind == "file":
                    temps.append((_write_temp(target, data), target))
            for target, data in staged:
                if target.kind == "stdout":
                    _write_stdout(target, data)
                elif target.kind == "stream":
                    _write_stream(target, data)
            while temps:
                tmp, target = temps[0]
                try:
                    os.replace(tmp, target.path)
                except OSError as e:
                    raise target.error(f"cannot write: {describe_os_error(e)}") from None
                temps.pop(0)
        finally:
            for tmp, _ in temps:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def discard(self) -> None:
        self.staged = []


_active: list[Transaction] = []


@contextlib.contextmanager
def transaction(plan: OutputPlan | None = None) -> Iterator[Transaction]:
    """Stage every :func:`write_output` inside the block; write them all when it ends
    without an exception. Nested blocks join the outermost one."""
    if _active:
        yield _active[0]
        return
    txn = Transaction(plan)
    _active.append(txn)
    try:
        yield txn
        _active.pop()
        txn.commit()
    except BaseException:
        if _active and _active[-1] is txn:
            _active.pop()
        txn.discard()
        raise


@contextlib.contextmanager
def outside_transaction() -> Iterator[None]:
    """Write at once inside this block, even within a transaction (for scratch files
    that a command reads back itself)."""
    saved = _active[:]
    _active.clear()
    try:
        yield
    finally:
        _active[:] = saved


def write_output(path: str | os.PathLike, data: str | bytes, role: str = "output") -> None:
    """Write one output: staged inside a :func:`transaction`, written at once (still
    checked and atomic) outside one."""
    if _active:
        _active[0].stage(path, data, role)
        return
    txn = Transaction()
    txn.stage(path, data, role)
    txn.commit()


def commit_pending() -> None:
    """Write what the active transaction has staged so far (a command calls this
    when its work is done, before it reports what it wrote)."""
    if _active:
        _active[0].commit()


# ---------------------------------------------------------------------- writing


def _name_max(directory: str) -> int:
    try:
        return os.pathconf(directory or ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _temp_name(target: OutputTarget) -> str:
    """``.NAME.qcc-PID-RANDOM.tmp`` beside the target, NAME cut so that the whole name
    stays within the file system's limit (a legal output name of 255 bytes too)."""
    directory = os.path.dirname(target.path)
    suffix = f".qcc-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    room = _name_max(directory) - len(suffix) - 1
    base = os.fsencode(os.path.basename(target.path))[:max(room, 1)]
    # (a multi-byte character cut in two decodes to surrogates, which encode back to
    # the same bytes)
    return os.path.join(directory, "." + os.fsdecode(base) + suffix)


def _write_temp(target: OutputTarget, data: bytes) -> str:
    directory = os.path.dirname(target.path) or "."
    remove_stale_temporaries(directory)
    try:
        mode = stat.S_IMODE(os.stat(target.path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp = _temp_name(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except OSError as e:
        raise target.error(f"cannot create a file in {os.path.dirname(target.display) or '.'}"
                           f": {describe_os_error(e)}") from None
    try:
        try:
            _write_all(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise target.error(f"cannot write: {describe_os_error(e)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_stream(target: OutputTarget, data: bytes) -> None:
    try:
        fd = os.open(target.path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise target.error(f"cannot open: {describe_os_error(e)}") from None
    try:
        _write_all(fd, data)
    except OSError as e:
        raise target.error(f"cannot write: {describe_os_error(e)}") from None
    finally:
        os.close(fd)


def _write_stdout(target: OutputTarget, data: bytes) -> None:
    try:
        sys.stdout.flush()
        out = getattr(sys.stdout, "buffer", None)
        if out is None:
            sys.stdout.write(data.decode("utf-8", "backslashreplace"))
        else:
            out.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise target.error(f"cannot write to standard output: {describe_os_error(e)}") \
            from None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Remove qcc's temporary files in ``directory`` whose writing process no longer
    exists; returns their names. Files of live processes are left alone."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            pass
    return removed


# ---------------------------------------------------------------------- signals


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: unwind like Ctrl-C so that temporary files go."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` (the CLI does this; a library
    user's program keeps its own handlers)."""
    import signal

    def handler(signum, frame):
        raise Terminated(signum)

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, handler)
