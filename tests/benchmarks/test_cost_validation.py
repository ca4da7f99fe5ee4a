"""benchmarks/cost_validation.py's pieces: the mechanisms against their closed forms,
the application builders, the power placeholder and a quick page."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcc.testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def _load():
    return load_script(ROOT / "benchmarks" / "cost_validation.py", "qcc_bench_cost_validation")


cv = _load()


def test_every_mechanism_is_its_closed_form_or_within_the_stated_reason():
    checks = cv.mechanisms()
    names = {c.mechanism.split(" (")[0] for c in checks}
    for want in ("SCALE-Sim closed form", "weight-bandwidth bound", "compute bound",
                 "fill/drain once per run of matmuls", "double-buffered shift",
                 "RAW sync cost", "host transfer time", "activate behind the drain",
                 "next layer's first tile shifted in ahead of the sync",
                 "pooling in the activation path", "full-duplex host link",
                 "weight FIFO depth"):
        assert want in names
    for c in checks:
        assert not c.status.startswith("**"), (c.mechanism, c.case, c.closed, c.model)
    # SCALE-Sim's form is exact: 6 x (2 x 256 + 256 + 300 - 2) for 2x3 tiles of 300 rows
    scale = [c for c in checks if c.mechanism.startswith("SCALE-Sim") and "T=300" in c.case]
    assert scale[0].closed == scale[0].model == 6396


def test_a_figure_beyond_its_reason_is_marked():
    c = cv.Check("m", "case", "f", closed=100.0, model=200.0, reason="r", slack=10.0)
    assert not c.within and c.status == "**differs beyond the stated reason**"
    assert cv.Check("m", "c", "f", 100.0, 105.0, "r", slack=10.0).status == \
        "within the stated reason"
    assert cv.Check("m", "c", "f", 100.0, 51.0, "r", alt=("pipelined", 50.0)).status == \
        "matches the pipelined form"
    page = "\n".join(cv.mechanism_lines([c], None))
    assert "**differs beyond the stated reason**" in page and "+100.00%" in page


def test_the_lowering_chunks_are_read_off_the_program():
    chunks = cv.accumulator_chunks(rows=2100)
    assert chunks["chunks"] == chunks["equal"] == [1050]  # two chunks of 1050 rows
    assert chunks["tiles_read"] == chunks["tiles"] == 2  # 2 K tiles, once for the pair
    assert "**as the closed form**" in "\n".join(cv.mechanism_lines([], chunks))


def test_the_applications_have_the_published_layer_counts():
    for app in cv.apps(scale=0.02):
        model = app.build()
        counts = cv.layer_counts(model)
        paper = cv.PAPER[app.name]
        kinds = ("FC", "Conv", "Pool") if app.name.startswith("LSTM") else (
            "FC", "Conv", "Vector", "Pool")  # an LSTM's vector layers: qcc's granularity
        assert {k: counts[k] for k in kinds} == {k: paper[k] for k in kinds}, app.name
    # the widths at full scale give the published weights (CNN0: 18% more)
    assert 5 * 2000 ** 2 == 20_000_000 and abs(4 * 1120 ** 2 - 5e6) / 5e6 < 0.01
    # LSTM0: 12 layers of W and R, 736 x 2944 each; LSTM1: 18 layers, 484 x 1936, and
    # the output layer 484 x 484
    assert abs(24 * 736 * 2944 - 52e6) / 52e6 < 0.01
    assert abs(36 * 484 * 1936 + 484 ** 2 - 34e6) / 34e6 < 0.01
    assert cv.PAPER["CNN0"]["intensity"] == 19 * 19 * 8
    assert abs(72 * 9 * 240 ** 2 + 240 * 5300 + 2 * 5300 ** 2 + 5300 * 1000 - 100e6) < 1e6


def test_an_application_compiles_and_its_counters_add_up():
    app = next(a for a in cv.apps(scale=0.05) if a.name == "MLP1")
    r = cv.run_app(app)
    assert r["layers"]["FC"] == 4 and r["batch"] == 168
    assert r["intensity"] == pytest.approx(168, rel=0.01)  # an FC layer: MACs/byte = batch
    active, useful, unused, wstall, shift, nonmx, raw, inp, tops, mtops = r["counters"]
    assert raw + inp <= nonmx + 1e-9
    assert active + wstall + shift + nonmx == pytest.approx(100)
    assert useful + unused == pytest.approx(active)
    assert tops == pytest.approx(r["report"].tops())
    assert mtops == pytest.approx(r["report"].device_tops()) and mtops >= tops
    assert cv.POWER_AT_LOAD(r["report"], 1.0) == pytest.approx(r["report"].die_power_w)
    low = cv.POWER_AT_LOAD(r["report"], 0.1)
    assert r["report"].target.energy.static_w < low < r["report"].die_power_w
    lines = "\n".join(cv.app_lines([r]) + cv.power_lines([r]))
    assert "| MLP1 | paper | 10.6 |" in lines and "| MLP1 | qcc |" in lines
    assert "| - | 9.7 | |" in lines  # the paper's TOPS (host excluded) under mTOPS


def test_an_lstm_step_is_a_real_recurrent_step():
    """Every layer's h and c are inputs and h', c' outputs: the recurrent Gemm has a
    non-constant input, so it compiles to matrix work (a zero state would fold it)."""
    app = next(a for a in cv.apps(scale=0.02) if a.name == "LSTM1")
    model = app.build()
    names = [i.name for i in model.graph.input]
    assert names == list(app.shapes) and len(names) == 1 + 2 * 18
    assert [o.name for o in model.graph.output][-1] == "y"
    r = cv.run_app(app)
    assert r["layers"]["FC"] == 37 and r["batch"] == 96
    assert r["intensity"] == pytest.approx(96, rel=0.01)  # each weight once per row
    rows = {name for name, c in r["report"].layers.items() if c.useful_macs}
    assert {"l0_xw", "l0_hr", "l17_hr", "out"} <= rows  # both Gemms of a layer on the MXU


def test_quick_page(tmp_path, capsys):
    out = tmp_path / "v.md"
    assert cv.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# The cost model against closed forms")
    assert f"`python benchmarks/cost_validation.py --quick --out {out}`" in text
    for section in ("## 1. Each mechanism", "## 2. Roofline per target", "### tpu-v1-gddr5",
                    "### tpu-v1-hbm", "## 3. Power", "## 4. The paper's six"):
        assert section in text
    assert str(ROOT) not in text.replace(str(out), "")
    if (tmp_path / "v" / "roofline.png").exists():
        assert "![roofline.png](v/roofline.png)" in text


def test_unknown_application_is_an_error():
    with pytest.raises(SystemExit, match=r"unknown application.*FOO.*known: MLP0"):
        cv.main(["--apps", "MLP0,FOO", "--quick"])
