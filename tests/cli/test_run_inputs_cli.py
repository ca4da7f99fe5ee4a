"""`qcc run --input`: the .npz files compile accepts (arrays named like the inputs and a
``label``) run too, the label ignored with one warning, for models and for .tpu
programs; an input given twice is an error. And compile warns once per file about the
arrays it ignores, naming evaluation data as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qcc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
EVAL = ROOT / "examples" / "data" / "digits_eval.npz"


def qcc_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """4 labelled evaluation samples (.npz with input and label), the same images
    alone (.npy) and the MLP compiled for batch 4."""
    d = tmp_path_factory.mktemp("run_inputs")
    with np.load(EVAL) as z:
        x, label = z["input"][:4], z["label"][:4]
    np.savez(d / "labelled.npz", input=x, label=label)
    np.savez(d / "extra.npz", input=x, label=label, mask=np.ones(4, np.int64))
    np.save(d / "x.npy", x)
    tpu = d / "mlp.tpu"
    assert main(["compile", MLP, "--calib-data", CALIB, "--batch", "4", "-o", str(tpu)]) == 0
    return {"npz": str(d / "labelled.npz"), "extra": str(d / "extra.npz"),
            "npy": str(d / "x.npy"), "tpu": str(tpu)}


@pytest.mark.parametrize("what", ["model", "program"])
def test_run_ignores_label_and_warns_of_other_arrays(capsys, tmp_path, files, what):
    """``label`` (what accuracy is measured against) is left out silently; any other
    array that is not an input with one warning."""
    capsys.readouterr()
    model = MLP if what == "model" else files["tpu"]
    extra = ("--batch", "4") if what == "model" else ()
    y_npz, y_npy = tmp_path / "a.npy", tmp_path / "b.npy"
    code, _, err = qcc_cli(capsys, "run", model, *extra, "--input", files["npz"],
                           "--output", str(y_npz))
    assert code == 0 and err == "", err
    code, _, err = qcc_cli(capsys, "run", model, *extra, "--input", files["extra"],
                           "--output", str(tmp_path / "c.npy"))
    assert code == 0, err
    assert err.splitlines() == [
        f"warning: --input {files['extra']}: ignoring 'mask': not an input of the {what} "
        "(its inputs: input)"]
    code, _, err = qcc_cli(capsys, "run", model, *extra, "--input", files["npy"],
                           "--output", str(y_npy))
    assert code == 0 and err == ""
    np.testing.assert_array_equal(np.load(y_npz), np.load(y_npy))


@pytest.mark.parametrize("what", ["model", "program"])
@pytest.mark.parametrize("second", ["npy", "name", "npz"])
def test_run_input_given_twice_is_an_error(capsys, files, what, second):
    capsys.readouterr()
    model = MLP if what == "model" else files["tpu"]
    extra = ("--batch", "4") if what == "model" else ()
    again = {"npy": files["npy"], "name": "input=" + files["npy"], "npz": files["npz"]}[second]
    code, out, err = qcc_cli(capsys, "run", model, *extra, "--input", files["npy"],
                             "--input", again)
    assert code == 2 and out == ""
    assert f"error: --input {again}: input 'input' is already given by --input " \
           f"{files['npy']}" in err
    assert "Traceback" not in err


def test_run_npz_without_the_input_names_what_is_missing(capsys, tmp_path):
    data = tmp_path / "labels_only.npz"
    np.savez(data, label=np.zeros(4, np.int64))
    code, _, err = qcc_cli(capsys, "run", MLP, "--input", str(data))
    assert code == 2
    assert "ignoring" not in err and "error: missing input 'input'" in err


def test_compile_warns_once_per_file(capsys, tmp_path):
    """Calibration data read twice (calibrate, then mixed precision) warns once of an
    array that is not an input; the evaluation data of the report is named evaluation
    data; ``label`` is never warned about."""
    calib, evals = tmp_path / "calib.npz", tmp_path / "eval.npz"
    with np.load(CALIB) as z:
        np.savez(calib, input=z["input"], label=z["label"], ids=np.arange(len(z["label"])))
    with np.load(EVAL) as z:
        np.savez(evals, input=z["input"][:50], label=z["label"][:50], ids=np.arange(50))
    out, report = tmp_path / "m.tpu", tmp_path / "r.md"
    code, _, err = qcc_cli(capsys, "compile", MLP, "--calib-data", str(calib),
                           "--mixed-precision", "auto", "--eval-data", str(evals),
                           "--report", str(report), "-o", str(out))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")
                and "sufficiency" not in line]
    assert warnings == [
        f"warning: calibration data {calib}: ignoring 'ids': not an input of the model "
        "(its inputs: input)",
        f"warning: evaluation data {evals}: ignoring 'ids': not an input of the model "
        "(its inputs: input)"]


def test_the_bundled_labelled_data_gives_no_warning(capsys, tmp_path):
    code, _, err = qcc_cli(capsys, "quantize", MLP, "--calib-data", CALIB, "--report",
                           str(tmp_path / "r.md"), "-o", str(tmp_path / "m.mlir"))
    assert code == 0, err
    assert "ignoring" not in err
