"""User and input faults that were exit 1 ("internal error") or silently accepted, and
builds that depended on how a path was spelled (issue 13). Each is exit 2 with a message
that says what is wrong and where, or the same bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import qcc
from qcc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "models" / "digits_mlp.onnx"
CALIB = ROOT / "examples" / "data" / "digits_calib.npz"
MLP_STATS = ROOT / "tests" / "golden" / "models" / "digits_mlp" / "calibration.json"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_stats_with_calib_data(capsys, tmp_path):
    code, _, err = cli(capsys, "compile", MLP, "--calib-data", CALIB, "--stats", MLP_STATS,
                       "-o", tmp_path / "o.tpu")
    assert code == 2 and "not both" in err
    code, _, err = cli(capsys, "quantize", MLP, "--calib-data", CALIB, "--stats", MLP_STATS)
    assert code == 2 and "not both" in err
    with pytest.raises(qcc.QccError, match="not both"):
        qcc.compile(MLP, calib_data=str(CALIB), stats=str(MLP_STATS))


def test_npz_named_npy_as_calibration_data(capsys, tmp_path):
    bad = tmp_path / "calib.npy"
    shutil.copyfile(CALIB, bad)
    code, _, err = cli(capsys, "compile", MLP, "--calib-data", bad, "-o", tmp_path / "o.tpu")
    assert code == 2 and "is a .npz archive (zip) but named .npy" in err


def test_npy_named_npz_as_calibration_data_and_input(capsys, tmp_path):
    bad = tmp_path / "x.npz"
    with open(bad, "wb") as f:
        np.save(f, np.zeros((1, 1, 8, 8), np.float32))
    code, _, err = cli(capsys, "compile", MLP, "--calib-data", bad, "-o", tmp_path / "o.tpu")
    assert code == 2 and "is a .npy array but named .npz" in err
    code, _, err = cli(capsys, "run", MLP, "--input", bad)
    assert code == 2 and "is a .npy array but named .npz" in err
    npz_as_npy = tmp_path / "y.npy"
    shutil.copyfile(CALIB, npz_as_npy)
    code, _, err = cli(capsys, "run", MLP, "--input", npz_as_npy)
    assert code == 2 and "is a .npz archive (zip) but not named .npz" in err


@pytest.mark.parametrize("body", ["raise SystemExit(0)", "import sys; sys.exit(3)"])
def test_load_file_that_exits(capsys, tmp_path, body):
    f = tmp_path / "passes.py"
    f.write_text(body + "\n")
    code, out, err = cli(capsys, "opt", MLP, "-p", "dce", "--load", f)
    assert code == 2 and "loading it failed: SystemExit" in err and out == ""


@pytest.mark.parametrize("pipeline,message", [
    ("constant-fold{max-elements=-1}", "max-elements must be >= 0"),
    ("calibrate{seed=-1}", "seed must be >= 0"),
    ("calibrate{percentile=nan}", "percentile must be in (0, 100]"),
])
def test_nonsense_pass_options(capsys, pipeline, message):
    code, _, err = cli(capsys, "opt", MLP, "-p", pipeline)
    assert code == 2 and message in err


def test_nonsense_pass_options_through_the_python_api():
    with pytest.raises(qcc.QccError, match="max-elements must be >= 0"):
        qcc.Pipeline().add("constant-fold", max_elements=-1)


@pytest.mark.parametrize("args,message", [
    (["--max-accuracy-drop", "nan"], "--max-accuracy-drop nan"),
    (["--max-accuracy-drop", "-1"], "--max-accuracy-drop -1.0"),
    (["--jobs", "-3"], "--jobs -3: expected at least 1"),
    (["--jobs", "0"], "--jobs 0: expected at least 1"),
])
def test_nonsense_explore_options(capsys, tmp_path, args, message):
    out = tmp_path / "ex"
    code, _, err = cli(capsys, "explore", MLP, "--calib-data", CALIB, "--out", out, *args)
    assert code == 2 and message in err
    assert not out.exists()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_binary_does_not_depend_on_how_paths_are_spelled(capsys, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    shutil.copyfile(MLP, work / "m.onnx")
    shutil.copyfile(CALIB, work / "c.npz")
    shutil.copyfile(MLP_STATS, work / "s.json")
    folder = work / "calib"
    folder.mkdir()
    with np.load(CALIB) as z:
        np.save(folder / "a.npy", z["input"][:64])
    monkeypatch.chdir(work)
    digests = {}
    for kind, spellings in {
        "--calib-data": ["c.npz", "./c.npz", str(work / "c.npz"), "sub/../c.npz"],
        "--stats": ["s.json", "./s.json", str(work / "s.json"), "sub/../s.json"],
        "folder": ["calib", "./calib/", str(folder), "sub/../calib"],
    }.items():
        option = "--calib-data" if kind == "folder" else kind
        for i, spelling in enumerate(spellings):
            model = ["m.onnx", "./m.onnx", str(work / "m.onnx"), "sub/../m.onnx"][i]
            out = work / f"{kind.strip('-')}{i}.tpu"
            assert cli(capsys, "compile", model, option, spelling, "-o", out)[0] == 0
            digests.setdefault(kind, set()).add(_sha(out))
    assert all(len(d) == 1 for d in digests.values()), digests
    text = qcc.compile(work / "m.onnx", calib_data=str(folder)).program.manifest
    assert "calibration_data_sha256" in text and str(work) not in str(text)
    # another folder with the same files gives the same program
    other = tmp_path / "elsewhere"
    shutil.copytree(folder, other)
    out = work / "elsewhere.tpu"
    assert cli(capsys, "compile", "m.onnx", "--calib-data", other, "-o", out)[0] == 0
    assert _sha(out) in digests["folder"]
    assert os.path.realpath(other) != os.path.realpath(folder)


def test_report_threshold_nan(capsys, tmp_path):
    report = tmp_path / "r.md"
    code, _, err = cli(capsys, "quantize", MLP, "--stats", MLP_STATS, "--report", report,
                       "--report-threshold", "nan", "--eval-data", CALIB)
    assert code == 2 and "--report-threshold nan" in err and not report.exists()


def test_input_array_that_is_a_directory(capsys, tmp_path):
    code, _, err = cli(capsys, "run", MLP, "--input", tmp_path)
    assert code == 2 and "is a directory" in err


def test_model_without_the_onnx_suffix(capsys, tmp_path):
    link = tmp_path / "model"
    link.symlink_to(MLP)
    out = tmp_path / "o.tpu"
    code, _, err = cli(capsys, "compile", link, "--stats", MLP_STATS, "-o", out)
    assert code == 0, err
    ref = tmp_path / "ref.tpu"
    assert cli(capsys, "compile", MLP, "--stats", MLP_STATS, "-o", ref)[0] == 0
    assert out.read_bytes() == ref.read_bytes()
    junk = tmp_path / "junk.mlir"
    junk.write_bytes(b"module \x88\xff")
    code, _, err = cli(capsys, "opt", junk, "-p", "dce")
    assert code == 2 and "not IR text (byte 0x88 at offset 7 is not UTF-8)" in err
