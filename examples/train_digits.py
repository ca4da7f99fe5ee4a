"""Train three small example models on real data and export them to ONNX.

    pip install -e ".[train]"          # torch==2.13.0 and scikit-learn
    python examples/train_digits.py [--out examples]

The data is scikit-learn's bundled handwritten-digits set (``load_digits``: 1797
8x8 grayscale images with values 0..16, 10 classes); it is read from a file inside
the scikit-learn package, so nothing is downloaded. Images are scaled to [0, 1]
(divided by 16) and shaped ``[N, 1, 8, 8]`` float32.

The split is fixed: ``numpy.random.default_rng(0).permutation(1797)``; its first
1197 indices are the training set, the next 200 the calibration set and the last
400 the evaluation set (three disjoint sets of sample indices).

Writes, under ``--out`` (default: this script's folder):

* ``models/digits_mlp.onnx``   Flatten, Gemm, Relu
* ``models/digits_cnn.onnx``   Conv+BatchNormalization+Relu, MaxPool, a residual Add,
  GlobalAveragePool, Flatten, Gemm
* ``models/digits_dwsep.onnx`` MobileNet-style depthwise-separable CNN (Clip = ReLU6)
* ``data/digits_calib.npz``    ``input`` [200,1,8,8] float32, ``label`` [200] int64
* ``data/digits_eval.npz``     ``input`` [400,1,8,8] float32, ``label`` [400] int64
* ``data/digits_fp32_accuracy.json``  each model's FP32 eval accuracy, as measured by
  onnxruntime on the exported file, plus the torch version, seed and split sizes

Models are exported at opset 17 with the TorchScript exporter (``dynamo=False``), in
eval mode and without constant folding, so BatchNormalization stays a node of its
own (qcc's fold-batchnorm pass folds it). The batch dimension is dynamic (``N``).
Each export is checked with ``onnx.checker``, against torch (onnxruntime's logits
within 1e-4 on the eval split) and against qcc (``qcc.load`` + ``qcc.run`` gets the
same number of eval images right as onnxruntime).
Training is seeded and deterministic on CPU (one thread), so running the script
twice writes the same bytes.
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
EPOCHS = {"digits_mlp": 40, "digits_cnn": 30, "digits_dwsep": 40}
MIN_ACCURACY = 0.95


# --- data -------------------------------------------------------------------------

def load_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The fixed train/calib/eval split: ``{name: (images [N,1,8,8] f32, labels i64)}``."""
    digits = load_digits()
    images = (digits.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    total = N_TRAIN + N_CALIB + N_EVAL
    assert images.shape[0] == total, images.shape
    perm = np.random.default_rng(SEED).permutation(total)
    parts = {"train": perm[:N_TRAIN],
             "calib": perm[N_TRAIN:N_TRAIN + N_CALIB],
             "eval": perm[N_TRAIN + N_CALIB:]}
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


MODELS: dict[str, type[nn.Module]] = {
    "digits_mlp": DigitsMLP,
    "digits_cnn": DigitsCNN,
    "digits_dwsep": DigitsDWSep,
}


# --- training and export ----------------------------------------------------------

def train(name: str, x: np.ndarray, y: np.ndarray) -> nn.Module:
    torch.manual_seed(SEED)
    model = MODELS[name]()
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write models/ and data/ into (default: examples/)")
    args = parser.parse_args(argv)

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    models_dir, data_dir = args.out / "models", args.out / "data"
    models_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)

    split = load_split()
    (x_train, y_train), (x_eval, y_eval) = split["train"], split["eval"]
    for part in ("calib", "eval"):
        x, y = split[part]
        save_npz(data_dir / f"digits_{part}.npz", {"input": x, "label": y})
        print(f"wrote {data_dir / f'digits_{part}.npz'}: input {list(x.shape)}")

    accuracy: dict[str, float] = {}
    correct: dict[str, int] = {}
    for name in MODELS:
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
        correct[name] = int((got.argmax(axis=1) == y_eval).sum())
        # qcc's own frontend and interpreter must agree with onnxruntime
        module = qcc.load(path, batch=len(x_eval))
        ours = qcc.run(module, {"input": x_eval})["logits"]
        qcc_correct = int((ours.argmax(axis=1) == y_eval).sum())
        assert qcc_correct == correct[name], f"{name}: qcc {qcc_correct} vs ort {correct[name]}"
        accuracy[name] = correct[name] / len(y_eval)
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        print(f"{name}: trained in {seconds:.1f}s, eval accuracy {accuracy[name]:.4f} "
              f"({correct[name]}/{len(y_eval)}, same under qcc), max |ort - torch| {diff:.2e}, "
              f"{path.stat().st_size} bytes, ops {ops}")
        assert accuracy[name] >= MIN_ACCURACY, f"{name}: accuracy {accuracy[name]}"

    record = {
        "torch_version": torch.__version__,
        "seed": SEED,
        "split": {"train": N_TRAIN, "calib": N_CALIB, "eval": N_EVAL},
        "split_rule": "numpy.random.default_rng(seed).permutation(1797): "
                      "[:1197] train, [1197:1397] calib, [1397:] eval",
        "opset": OPSET,
        "accuracy_measured_by": "onnxruntime on the exported model, eval split",
        "eval_accuracy": accuracy,
        "eval_correct": correct,
    }
    (data_dir / "digits_fp32_accuracy.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {data_dir / 'digits_fp32_accuracy.json'}")


if __name__ == "__main__":
    main()
