"""Progress bars (qcc/progress.py): drawn on a terminal only, never on a pipe or a
file; the compile's bar over its passes; warnings and inner bars start on their own
line."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc import driver
from qcc.calibration import Progress as CalibrationProgress
from qcc.diagnostics import warn
from qcc.progress import Progress, end_line, track

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "models" / "digits_mlp.onnx"
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal_with_its_unit():
    term = FakeTerminal()
    with Progress(4, "explore", unit="configurations", stream=term) as bar:
        for _ in range(4):
            bar.update(1)
    text = term.getvalue()
    assert text.startswith("\rexplore [") and text.endswith("\n")
    assert "4/4 configurations 100%" in text and text.count("\n") == 1


def test_nothing_on_a_pipe_or_file():
    pipe = io.StringIO()  # isatty() is False
    with Progress(4, "explore", unit="configurations", stream=pipe) as bar:
        bar.update(4)
    assert list(track(range(3), 3, "x", stream=pipe)) == [0, 1, 2]
    assert pipe.getvalue() == ""
    forced = io.StringIO()
    with Progress(2, "forced", stream=forced, enabled=True) as bar:
        bar.update(2)
    assert "2/2 samples" in forced.getvalue()


def test_unknown_total_and_detail():
    term = FakeTerminal()
    assert list(track("ab", None, "report", unit="batches", stream=term)) == ["a", "b"]
    assert "report: 2 batches" in term.getvalue()
    term = FakeTerminal()
    with Progress(3, "compiling", unit="passes", stream=term) as bar:
        bar.update(1, "a-very-long-pass-name")
        bar._last = 0.0
        bar.update(1, "short")
    last = term.getvalue().split("\r")[-1]
    # the shorter line covers the longer one with spaces
    assert last.startswith("compiling [") and "(short)" in last
    assert len(last.rstrip("\n")) == len(term.getvalue().split("\r")[-2])


def test_calibration_progress_is_the_general_bar():
    term = FakeTerminal()
    with CalibrationProgress(2, stream=term) as bar:
        bar.update(2)
    assert isinstance(bar, Progress) and "calibrating [" in term.getvalue()
    assert "2/2 samples 100%" in term.getvalue()


def test_warning_and_inner_bar_start_on_their_own_line(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    with Progress(2, "outer", unit="passes") as outer:
        outer.update(1)
        warn("something")
        with Progress(1, "inner") as inner:
            inner.update(1)
        outer.update(1)
    lines = term.getvalue().split("\n")
    assert lines[0].startswith("\router [") and "1/2 passes" in lines[0]
    assert lines[1] == "warning: something"
    assert lines[2].startswith("\rinner [") and "1/1 samples" in lines[2]
    assert lines[3].startswith("\router [") and "2/2 passes" in lines[3]
    assert lines[4] == ""
    end_line(term)  # no bar drawn: nothing to end
    assert term.getvalue().count("\n") == 4


@pytest.fixture(scope="module")
def small_calib(tmp_path_factory) -> str:
    """16 labelled calibration samples with an array that is not an input (it draws
    compile's warning; the label does not)."""
    path = tmp_path_factory.mktemp("progress") / "calib.npz"
    with np.load(CALIB) as z:
        np.savez(path, input=z["input"][:16], label=z["label"][:16], ids=np.arange(16))
    return str(path)


def test_compile_shows_its_passes_on_a_terminal_only(monkeypatch, capsys, small_calib):
    monkeypatch.setattr(driver, "COMPILE_PROGRESS_DELAY_S", 0.0)
    qcc.compile(MLP, calib_data=small_calib)  # stderr is not a terminal: nothing new
    assert "compiling" not in capsys.readouterr().err
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    qcc.compile(MLP, calib_data=small_calib)
    text = term.getvalue()
    passes = len(driver.quantization_pipeline(float_outputs=False)) + 4  # + tpu passes
    assert text.startswith("\rcompiling [") and f"{passes}/{passes} passes 100%" in text
    assert "\nwarning: calibration data" in text  # on its own line
    assert text.endswith("\n")


@pytest.mark.parametrize("delay", [0.0, 1000.0])
def test_compile_bar_waits_and_steps_aside_for_ir_dumps(monkeypatch, delay, small_calib):
    monkeypatch.setattr(driver, "COMPILE_PROGRESS_DELAY_S", delay)
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    from qcc.passmanager import Instrumentation

    dump = io.StringIO()
    qcc.compile(MLP, calib_data=small_calib, instrumentation=Instrumentation(
        print_ir_after=("tpu-lower",), elide_constants=True, stream=dump))
    assert "compiling" not in term.getvalue() and "IR Dump After tpu-lower" in dump.getvalue()
    if delay:  # a compile shorter than the delay draws only its last state
        term = FakeTerminal()
        monkeypatch.setattr(sys, "stderr", term)
        qcc.compile(MLP, calib_data=small_calib)
        assert term.getvalue().count("compiling [") == 1
