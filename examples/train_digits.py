"""Train four small example models on real data and export them to ONNX.

    pip install -e ".[train]"          # torch==2.13.0 and scikit-learn
    python examples/train_digits.py [--out examples] [--models NAME ...]

The data is scikit-learn's bundled handwritten-digits set (``load_digits``: 1797
8x8 grayscale images with values 0..16, 10 classes); it is read from a file inside
the scikit-learn package, so nothing is downloaded. Images are scaled to [0, 1]
(divided by 16) and shaped ``[N, 1, 8, 8]`` float32.

The split is fixed: ``numpy.random.default_rng(0).permutation(1797)``; its first
1197 indices are the training set, the next 200 the calibration set and the last
400 the evaluation set (three disjoint sets of sample indices).

``digits_convfc`` has a split of its own, from the same permutation, with a larger
evaluation set: its first 1097 indices train it, the next 200 calibrate it and the
last 500 evaluate it (disjoint from one another; its evaluation set holds the 400
images of ``digits_eval.npz`` and 100 more). It is trained after the other three and
adding it does not change them (the same machine writes the same bytes for them).

Writes, under ``--out`` (default: this script's folder):

* ``models/digits_mlp.onnx``   Flatten, Gemm, Relu
* ``models/digits_cnn.onnx``   Conv+BatchNormalization+Relu, MaxPool, a residual Add,
  GlobalAveragePool, Flatten, Gemm
* ``models/digits_dwsep.onnx`` MobileNet-style depthwise-separable CNN (Clip = ReLU6)
* ``models/digits_convfc.onnx`` a plain CNN the way many users write one: Conv+Relu,
  MaxPool, Conv+Relu, MaxPool, Flatten feeding a Gemm directly (no global pooling),
  Gemm+Relu, Gemm; convolutions with biases, no BatchNormalization
* ``data/digits_calib.npz``    ``input`` [200,1,8,8] float32, ``label`` [200] int64
* ``data/digits_eval.npz``     ``input`` [400,1,8,8] float32, ``label`` [400] int64
* ``data/digits_convfc_calib.npz``  ``input`` [200,1,8,8] float32, ``label`` [200] int64
* ``data/digits_convfc_eval.npz``   ``input`` [500,1,8,8] float32, ``label`` [500] int64
* ``data/digits_fp32_accuracy.json``  each model's FP32 eval accuracy, as measured by
  onnxruntime on the exported file, plus the torch version, seed and split sizes;
  ``digits_convfc``'s figures (on its own 500-image evaluation set) are under the key
  ``digits_convfc``

Models are exported at opset 17 with the TorchScript exporter (``dynamo=False``), in
eval mode and without constant folding, so BatchNormalization stays a node of its
own (qcc's fold-batchnorm pass folds it); ``torch.nn.Flatten`` exports as a Flatten
node. The batch dimension is dynamic (``N``).
Each export is checked with ``onnx.checker``, against torch (onnxruntime's logits
within 1e-4 on the eval split) and against qcc (``qcc.load`` + ``qcc.run`` gets the
same number of eval images right as onnxruntime).
Training is seeded and deterministic on CPU (one thread), so running the script
twice on one machine writes the same bytes. Another CPU may pick other float kernels
whose results differ in the last bits, and the trained weights then differ: on the
machine that added ``digits_convfc``, the committed three other models came out with
other bytes (the data files were identical; digits_dwsep got 395 of 400 right, not
394). ``--models NAME ...`` trains and writes only the named models and their data,
keeping the other entries of the accuracy file, so a model can be added or remade
without touching the others::

    python examples/train_digits.py --models digits_convfc
"""

from __future__ import annotations

import argparse
import io
import json
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from torch import nn

import qcc

SEED = 0
N_TRAIN, N_CALIB, N_EVAL = 1197, 200, 400
OPSET = 17
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
EPOCHS = {"digits_mlp": 40, "digits_cnn": 30, "digits_dwsep": 40, "digits_convfc": 40}
# digits_convfc's own split of the same permutation: a 500-image evaluation set
CONVFC = "digits_convfc"
CONVFC_TRAIN, CONVFC_CALIB, CONVFC_EVAL = 1097, 200, 500
MIN_ACCURACY = 0.95


# --- data -------------------------------------------------------------------------

def load_split(sizes: tuple[int, int, int] = (N_TRAIN, N_CALIB, N_EVAL),
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The fixed train/calib/eval split: ``{name: (images [N,1,8,8] f32, labels i64)}``.
    ``sizes`` cuts the same permutation into (train, calib, eval)."""
    n_train, n_calib, n_eval = sizes
    digits = load_digits()
    images = (digits.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    total = n_train + n_calib + n_eval
    assert images.shape[0] == total, images.shape
    perm = np.random.default_rng(SEED).permutation(total)
    parts = {"train": perm[:n_train],
             "calib": perm[n_train:n_train + n_calib],
             "eval": perm[n_train + n_calib:]}
    split = {}
    for name, idx in parts.items():
        x, y = np.ascontiguousarray(images[idx]), np.ascontiguousarray(labels[idx])
        assert set(y.tolist()) == set(range(10)), f"{name} split misses a class"
        split[name] = (x, y)
    return split


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez`` but byte-reproducible: numpy stamps each zip member with the
    current time, so the members are written here with a fixed 1980-01-01 date."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    path.write_bytes(buf.getvalue())


# --- models -----------------------------------------------------------------------

def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
            act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups,
                  bias=False),
        nn.BatchNorm2d(cout),
        act(),
    )


class DigitsMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DigitsCNN(nn.Module):
    """conv-bn-relu x2, maxpool, a residual conv-bn-relu block, global average pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, 16), conv_bn(16, 32), nn.MaxPool2d(2))
        self.block = conv_bn(32, 32)
        self.pool = nn.AdaptiveAvgPool2d(1)   # exports as GlobalAveragePool
        self.flatten = nn.Flatten()           # exports as Flatten (no Shape/Gather chain)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.stem(x)                # [N, 32, 4, 4]
        y = self.block(pooled) + pooled      # residual Add
        return self.fc(self.flatten(self.pool(y)))


class DigitsDWSep(nn.Module):
    """MobileNet style: a 3x3 stem, then depthwise 3x3 + pointwise 1x1 blocks, ReLU6."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 16, act=nn.ReLU6),
            conv_bn(16, 16, groups=16, act=nn.ReLU6),             # depthwise
            conv_bn(16, 32, kernel=1, act=nn.ReLU6),              # pointwise
            conv_bn(32, 32, stride=2, groups=32, act=nn.ReLU6),   # depthwise, stride 2
            conv_bn(32, 64, kernel=1, act=nn.ReLU6),              # pointwise
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class DigitsConvFC(nn.Module):
    """conv-relu, maxpool, conv-relu, maxpool, then Flatten straight into Linear layers
    (no global pooling): 8x8 -> 4x4 -> 2x2, so the first Linear sees 32*2*2 = 128."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.flatten(self.features(x)))))


MODELS: dict[str, type[nn.Module]] = {
    "digits_mlp": DigitsMLP,
    "digits_cnn": DigitsCNN,
    "digits_dwsep": DigitsDWSep,
}
# trained after MODELS, on its own split (CONVFC_*)
EXTRA_MODELS: dict[str, type[nn.Module]] = {CONVFC: DigitsConvFC}


# --- training and export ----------------------------------------------------------

def train(name: str, x: np.ndarray, y: np.ndarray) -> nn.Module:
    torch.manual_seed(SEED)
    model = {**MODELS, **EXTRA_MODELS}[name]()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS[name]):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def export(model: nn.Module, path: Path, example: np.ndarray) -> None:
    with warnings.catch_warnings():
        # torch warns that the TorchScript exporter is the legacy one; it is chosen on
        # purpose (no onnxscript dependency, BatchNormalization kept unfolded)
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                message=".*legacy TorchScript-based ONNX export.*")
        _export(model, path, example)


def _export(model: nn.Module, path: Path, example: np.ndarray) -> None:
    torch.onnx.export(
        model, (torch.from_numpy(example),), str(path),
        dynamo=False,                # the TorchScript exporter: no onnxscript needed
        opset_version=OPSET,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        training=torch.onnx.TrainingMode.EVAL,
        do_constant_folding=False,   # keep BatchNormalization for qcc's fold-batchnorm
    )


def ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def train_and_check(name: str, split: dict[str, tuple[np.ndarray, np.ndarray]],
                    models_dir: Path) -> int:
    """Train ``name`` on ``split["train"]``, export it, check the export against torch
    and qcc on ``split["eval"]``; the number of eval images onnxruntime gets right."""
    (x_train, y_train), (x_eval, y_eval) = split["train"], split["eval"]
    start = time.perf_counter()
    model = train(name, x_train, y_train)
    seconds = time.perf_counter() - start
    path = models_dir / f"{name}.onnx"
    export(model, path, x_eval[:1])
    onnx.checker.check_model(onnx.load(path), full_check=True)
    with torch.no_grad():
        want = model(torch.from_numpy(x_eval)).numpy()
    got = ort_logits(path, x_eval)
    diff = float(np.abs(got - want).max())
    assert diff < 1e-4, f"{name}: onnxruntime and torch differ by {diff}"
    correct = int((got.argmax(axis=1) == y_eval).sum())
    # qcc's own frontend and interpreter must agree with onnxruntime
    module = qcc.load(path, batch=len(x_eval))
    ours = qcc.run(module, {"input": x_eval})["logits"]
    qcc_correct = int((ours.argmax(axis=1) == y_eval).sum())
    assert qcc_correct == correct, f"{name}: qcc {qcc_correct} vs ort {correct}"
    accuracy = correct / len(y_eval)
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"{name}: trained in {seconds:.1f}s, eval accuracy {accuracy:.4f} "
          f"({correct}/{len(y_eval)}, same under qcc), max |ort - torch| {diff:.2e}, "
          f"{path.stat().st_size} bytes, ops {ops}")
    assert accuracy >= MIN_ACCURACY, f"{name}: accuracy {accuracy}"
    return correct


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write models/ and data/ into (default: examples/)")
    names = [*MODELS, *EXTRA_MODELS]
    parser.add_argument("--models", nargs="+", choices=names, default=names, metavar="NAME",
                        help="train and write only these models (and their data); the "
                             "accuracy file keeps the other models' entries "
                             f"(default: all of {', '.join(names)})")
    args = parser.parse_args(argv)

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    models_dir, data_dir = args.out / "models", args.out / "data"
    models_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    record_path = data_dir / "digits_fp32_accuracy.json"
    # entries of models not trained now are kept as they are
    record = json.loads(record_path.read_text()) if record_path.exists() else {}

    base = [name for name in MODELS if name in args.models]
    if base:
        split = load_split()
        y_eval = split["eval"][1]
        for part in ("calib", "eval"):
            x, y = split[part]
            save_npz(data_dir / f"digits_{part}.npz", {"input": x, "label": y})
            print(f"wrote {data_dir / f'digits_{part}.npz'}: input {list(x.shape)}")
        accuracy = record.get("eval_accuracy", {})
        correct = record.get("eval_correct", {})
        for name in base:
            correct[name] = train_and_check(name, split, models_dir)
            accuracy[name] = correct[name] / len(y_eval)
        record.update({
            "torch_version": torch.__version__,
            "seed": SEED,
            "split": {"train": N_TRAIN, "calib": N_CALIB, "eval": N_EVAL},
            "split_rule": "numpy.random.default_rng(seed).permutation(1797): "
                          "[:1197] train, [1197:1397] calib, [1397:] eval",
            "opset": OPSET,
            "accuracy_measured_by": "onnxruntime on the exported model, eval split",
            "eval_accuracy": {n: accuracy[n] for n in MODELS if n in accuracy},
            "eval_correct": {n: correct[n] for n in MODELS if n in correct},
        })

    if CONVFC in args.models:
        # last, on its own split: the three models above do not depend on it
        convfc_split = load_split((CONVFC_TRAIN, CONVFC_CALIB, CONVFC_EVAL))
        for part in ("calib", "eval"):
            x, y = convfc_split[part]
            save_npz(data_dir / f"{CONVFC}_{part}.npz", {"input": x, "label": y})
            print(f"wrote {data_dir / f'{CONVFC}_{part}.npz'}: input {list(x.shape)}")
        convfc_correct = train_and_check(CONVFC, convfc_split, models_dir)
        record.pop(CONVFC, None)   # last in the file
        record[CONVFC] = {
            "torch_version": torch.__version__,
            "seed": SEED,
            "split": {"train": CONVFC_TRAIN, "calib": CONVFC_CALIB, "eval": CONVFC_EVAL},
            "split_rule": "numpy.random.default_rng(seed).permutation(1797): "
                          "[:1097] train, [1097:1297] calib, [1297:] eval",
            "data": {"calib": f"{CONVFC}_calib.npz", "eval": f"{CONVFC}_eval.npz"},
            "opset": OPSET,
            "accuracy_measured_by": "onnxruntime on the exported model, its eval split",
            "eval_accuracy": convfc_correct / CONVFC_EVAL,
            "eval_correct": convfc_correct,
        }

    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {record_path}")


if __name__ == "__main__":
    main()
