"""`qcc explore --cluster`: the sweep's configurations on a Dask distributed cluster (a
LocalCluster of two worker processes started here) give the local pool's results."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from qcc.cli import main
from qcc.exploration import explore, finite, without_wall_clock

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "models" / "digits_mlp.onnx")
CALIB = str(ROOT / "examples" / "data" / "digits_calib.npz")
EVAL = str(ROOT / "examples" / "data" / "digits_eval.npz")


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two single-threaded worker processes on this machine."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c.scheduler_address


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def comparable(result: dict) -> str:
    """A sweep's result as explore.json has it, without the wall-clock figures."""
    return json.dumps(finite(without_wall_clock(result)), sort_keys=True)


def masked_markdown(text: str) -> str:
    """explore.md without its wall-clock figures: the statistics' collection time and
    the 'ranges + quantize (s)' column."""
    text = re.sub(r"collected once in [0-9.]+ s", "collected once in T s", text)
    out = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) == 9 and re.fullmatch(r" [0-9.]+ ", cells[6]):  # the quality table
            cells[6] = " T "
        out.append("|".join(cells))
    return "\n".join(out)


def test_the_cluster_gives_the_local_pools_results(cluster, tmp_path, monkeypatch):
    """Through the API, with auto (its choice comes back from the worker) and a target
    file: identical results. The model, data and target file are given by paths
    relative to a folder the workers do not run in, so a worker that read any of the
    caller's files would fail: what it needs is sent."""
    for sub, src in (("m", MLP), ("d", CALIB), ("d", EVAL)):
        (tmp_path / sub).mkdir(exist_ok=True)
        shutil.copy(src, tmp_path / sub)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "mine.toml").write_text(
        'inherits = "tpu-v1"\nname = "tpu-v1-mine"\ndescription = "a what-if"\n'
        "what_if = true\n[weight_memory]\nbandwidth_bytes_per_s = 60e9\n")
    monkeypatch.chdir(tmp_path)
    with distributed.Client(cluster, set_as_default=False) as client:
        assert set(client.run(lambda: Path("m/digits_mlp.onnx").exists()).values()) == \
            {False}
    args = ("m/digits_mlp.onnx", "d/digits_calib.npz", "d/digits_eval.npz")
    kw = {"targets": ("tpu-v1", "t/mine.toml"), "batches": (1, 8),
          "methods": ("minmax", "auto"), "progress": False}
    local = explore(*args, jobs=2, **kw)
    remote = explore(*args, cluster=cluster, **kw)
    assert not any(r["error"] for r in remote["rows"])
    assert {r["target"] for r in remote["rows"]} == {"tpu-v1", "tpu-v1-mine"}
    assert comparable(remote) == comparable(local)
    assert remote["_files"] == local["_files"]  # stats.json and auto's two choices
    assert set(remote["_files"]) == {"stats.json", "auto-per-tensor.json",
                                     "auto-per-channel.json"}
    for k, v in local["_correct"].items():
        np.testing.assert_array_equal(remote["_correct"][k], v)


def test_a_configuration_that_fails_is_reported_as_locally(cluster, tmp_path):
    """A target that cannot hold the program: the error is in the rows, the same."""
    tiny = tmp_path / "tiny.toml"
    tiny.write_text('inherits = "tpu-v1"\nname = "tpu-v1-tiny"\n'
                    'description = "weight memory too small for any model"\n'
                    '[weight_memory]\ncapacity_bytes = 1024\n')
    kw = {"targets": (str(tiny),), "methods": ("minmax",), "granularities": ("per-tensor",),
          "progress": False}
    local = explore(MLP, CALIB, EVAL, jobs=1, **kw)
    remote = explore(MLP, CALIB, EVAL, cluster=cluster, **kw)
    assert remote["performance"][0]["error"]
    assert comparable(remote) == comparable(local)


def test_cli_cluster_writes_the_local_runs_files(cluster, tmp_path, monkeypatch, capsys):
    """qcc explore --cluster tcp://...: explore.json, explore.md, stats.json as the
    local pool writes them, but for the wall-clock figures. The local run has
    DASK_SCHEDULER_ADDRESS set to a closed port: without --cluster it is not used."""
    common = ["explore", MLP, "--calib-data", CALIB, "--eval-data", EVAL,
              "--methods", "minmax,mse", "--out", "explore"]  # the same --out: the
    c, lo = tmp_path / "c" / "explore", tmp_path / "l" / "explore"  # command names it
    for d in (c, lo):
        d.parent.mkdir()
    monkeypatch.chdir(c.parent)
    assert main([*common, "--cluster", cluster]) == 0
    monkeypatch.chdir(lo.parent)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", f"tcp://127.0.0.1:{closed_port()}")
    assert main([*common, "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert json.loads((c / "explore.json").read_text())["quality"][0]["error"] is None
    assert json.dumps(without_wall_clock(json.loads((c / "explore.json").read_text()))) == \
        json.dumps(without_wall_clock(json.loads((lo / "explore.json").read_text())))
    assert masked_markdown((c / "explore.md").read_text()) == \
        masked_markdown((lo / "explore.md").read_text())
    assert (c / "stats.json").read_bytes() == (lo / "stats.json").read_bytes()
    assert "## Recommendation" in out


def test_an_unreachable_scheduler_is_a_clear_error(capsys, monkeypatch):
    address = f"tcp://127.0.0.1:{closed_port()}"
    assert main(["explore", MLP, "--calib-data", CALIB, "--cluster", address,
                 "--cluster-timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert f"--cluster {address}: no Dask scheduler answered within 0.5 s" in err
    assert "dask scheduler" in err and "Traceback" not in err
    # --cluster without an address: DASK_SCHEDULER_ADDRESS's, never a cluster of its own
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    assert main(["explore", MLP, "--calib-data", CALIB, "--cluster-timeout", "0.5",
                 "--cluster"]) == 2
    assert f"--cluster {address}: no Dask scheduler answered" in capsys.readouterr().err
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    assert main(["explore", MLP, "--calib-data", CALIB, "--cluster"]) == 2
    assert "DASK_SCHEDULER_ADDRESS, which is not set" in capsys.readouterr().err
    # the model after a bare --cluster would be taken for the address
    assert main(["explore", "--calib-data", CALIB, "--cluster", "m.onnx", MLP]) == 2
    assert "not a scheduler address" in capsys.readouterr().err


def test_without_distributed_installed(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    assert main(["explore", MLP, "--calib-data", CALIB, "--cluster",
                 "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'qcc-compiler[cluster]'" in err and "Traceback" not in err


def test_workers_must_run_this_qcc(cluster, monkeypatch):
    """Every worker's qcc (its installed files) and numpy/onnx versions are checked
    before any work: here each process reports its own pid as qcc's version."""
    import qcc.exploration as ex

    def fake():
        def fingerprint():
            import os

            return {"qcc-compiler": str(os.getpid()), "qcc_files_sha256": "same"}
        return fingerprint

    monkeypatch.setattr(ex, "_fingerprint_function", fake)
    monkeypatch.setattr(ex, "installed_fingerprint", fake())
    with pytest.raises(ex.QccError, match=r"2 of 2 worker\(s\) do not run this qcc, e\.g\. "
                       r"tcp://.*: qcc-compiler \d+ \(here \d+\)"):
        ex.connect_cluster(cluster, timeout=5)
