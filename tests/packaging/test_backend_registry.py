"""The backend registry (qcc/backend.py): backends found by name and by target, the
driver compiling through it."""

from __future__ import annotations

import numpy as np
import pytest

import qcc
from qcc import backend as registry
from qcc.backend import (
    Backend,
    backend_for_binary,
    backend_for_target,
    backend_names,
    get_backend,
    register_backend,
)
from qcc.backends.tpu_v1.target import list_targets, load_target
from qcc.diagnostics import QccError


def test_tpu_v1_is_a_builtin_backend():
    assert "tpu-v1" in backend_names()
    backend = get_backend("tpu-v1")
    assert isinstance(backend, Backend) and backend.name == "tpu-v1"
    assert backend.binary_suffix == ".tpu"
    assert backend.target_names() == list_targets()


@pytest.mark.parametrize("name", list_targets())
def test_shipped_targets_find_tpu_v1(name):
    backend = backend_for_target(name)
    assert backend is get_backend("tpu-v1")
    assert backend.load_target(name) == load_target(name)


def test_target_file_and_description_find_tpu_v1(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('inherits = "tpu-v1"\nname = "mine"\n[weight_memory]\n'
                    "bandwidth_bytes_per_s = 100e9\n")
    assert backend_for_target(str(path)) is get_backend("tpu-v1")
    assert backend_for_target(path).load_target(path).name == "mine"
    target = load_target("tpu-v1-hbm")
    assert backend_for_target(target).load_target(target) is target


def test_unknown_target_and_backend_are_clean_errors():
    with pytest.raises(QccError, match="unknown target 'nope': shipped targets are"):
        backend_for_target("nope")
    with pytest.raises(QccError, match=r"unknown backend 'nope': backends are .*tpu-v1"):
        get_backend("nope")


def test_binaries_by_suffix():
    assert backend_for_binary("model.tpu") is get_backend("tpu-v1")
    assert backend_for_binary("-") is get_backend(registry.DEFAULT_BACKEND)


def test_pipeline_is_a_string():
    assert isinstance(get_backend("tpu-v1").pipeline(load_target("tpu-v1")), str)


def test_register_backend_needs_a_named_backend():
    with pytest.raises(TypeError):
        register_backend(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        register_backend(Backend())


class _Compiled:
    def __init__(self, module, manifest):
        self.module, self.manifest = module, manifest


class _Toy(Backend):
    """A backend with one target, 'toy-1': compile records what the driver gives."""

    name = "toy"
    binary_suffix = ".toy"

    def target_names(self):
        return ["toy-1"]

    def claims_target(self, target):
        return target == "toy-1"

    def load_target(self, target):
        return target

    def pipeline(self, target):
        return "canonicalize"

    def emit(self, module, target, manifest=None, source=None, source_sha256=None):
        assert source is not None and source_sha256  # the integer module, kept
        return _Compiled(module, dict(manifest or {}))


@pytest.fixture
def toy():
    backend = register_backend(_Toy())
    yield backend
    registry._REGISTRY.pop("toy")


def test_the_driver_compiles_through_the_registry(toy, tmp_path):
    """qcc.compile finds the backend by the target's name, runs the quantization
    pipeline, then the backend's pipeline and emission."""
    from qcc.testing.models import mlp

    model = tmp_path / "mlp.onnx"
    model.write_bytes(mlp(seed=0).SerializeToString())
    calib = {"input": np.random.default_rng(0).standard_normal((8, 1, 8, 8)).astype(np.float32)}
    compiled = qcc.compile(model, calib_data=[calib], target="toy-1")
    assert isinstance(compiled, _Compiled)
    assert "toy" in backend_names() and backend_for_target("toy-1") is toy
    assert backend_for_binary("x.toy") is toy
    assert {"model_sha256", "pipeline"} <= set(compiled.manifest)
    assert "quant." in qcc.print_module(compiled.module)
    assert compiled.float_module is not None and compiled.fake_quant_module is not None
