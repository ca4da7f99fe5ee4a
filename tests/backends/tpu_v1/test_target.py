"""Target descriptions: the shipped TOML files hold the published TPU-v1 numbers (each
with its source), user files load by path (optionally inheriting a shipped one), and
every mistake in a file is an error naming the file, the key and what is wrong."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from qcc.backends.tpu_v1.target import (
    Target,
    TargetError,
    list_targets,
    load_target,
    target_from_raw,
    target_to_raw,
)
from qcc.diagnostics import FileLoc, QccError

TARGETS = Path(__file__).resolve().parents[3] / "backends" / "tpu_v1" / "targets"


def test_shipped_targets():
    assert list_targets() == ["tpu-v1", "tpu-v1-gddr5", "tpu-v1-hbm",
                              "tpu-v1-per-tensor-rescale"]
    for name in list_targets():
        assert load_target(name).name == name


def test_tpu_v1_numbers():
    t = load_target("tpu-v1")
    assert (t.array.rows, t.array.cols, t.array.clock_hz) == (256, 256, 700e6)
    assert t.peak_tops == pytest.approx(91.75, abs=0.01)  # "92 TOPS"
    assert t.unified_buffer.bytes == 24 * 2**20
    assert (t.accumulators.rows, t.accumulators.row_bytes) == (4096, 1024)
    assert (t.weights.fifo_depth, t.weights.tile_bytes, t.weights.shift_cycles) == \
        (4, 65536, 256)
    assert t.weight_memory.capacity_bytes == 8 * 2**30
    assert t.weight_memory.bandwidth_bytes_per_s == 34e9
    # a tile takes ~1349 cycles to fetch: the paper's ~1350 roofline ridge
    assert t.tile_fetch_cycles == pytest.approx(1349.27, abs=0.01)
    assert t.ridge_macs_per_weight_byte == pytest.approx(1349.27, abs=0.01)
    assert (t.power.idle_w, t.power.busy_w, t.power.tdp_w) == (28, 40, 75)
    assert t.host_link.bandwidth_bytes_per_s < t.host_link.raw_bandwidth_bytes_per_s == \
        15.75e9
    assert not t.what_if


def test_what_ifs_change_only_the_memory():
    base, gddr5, hbm = (load_target(n) for n in ("tpu-v1", "tpu-v1-gddr5", "tpu-v1-hbm"))
    assert gddr5.what_if and hbm.what_if
    assert "not a real product" in hbm.description
    # J17a §7: "more than a factor of five", ridge point 1350 -> 250
    assert gddr5.weight_memory.bandwidth_bytes_per_s / 34e9 > 5
    assert gddr5.ridge_macs_per_weight_byte == pytest.approx(250, abs=0.5)
    assert (gddr5.energy.dram_pj_per_bit, hbm.energy.dram_pj_per_bit) == (14, 3.97)
    assert gddr5.power.busy_w == base.power.busy_w + 10
    for t in (gddr5, hbm):
        assert (t.array, t.unified_buffer, t.accumulators, t.weights, t.timing) == \
            (base.array, base.unified_buffer, base.accumulators, base.weights, base.timing)


def test_target_is_frozen():
    t = load_target("tpu-v1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.array.rows = 128  # type: ignore[misc]
    assert load_target("tpu-v1") == t


def test_updated_copy_is_checked():
    t = load_target("tpu-v1")
    fast = t.updated({"weight_memory.bandwidth_bytes_per_s": 68e9})
    assert fast.tile_fetch_cycles == pytest.approx(t.tile_fetch_cycles / 2)
    assert t.weight_memory.bandwidth_bytes_per_s == 34e9
    with pytest.raises(QccError, match=r"'weight_memory.bandwidth_bytes_per_s' = 0: must be "
                                       r"at least 1000"):
        t.updated({"weight_memory.bandwidth_bytes_per_s": 0})
    with pytest.raises(QccError, match=r"unknown key 'array\.depth'"):
        t.updated({"array.depth": 3})
    with pytest.raises(QccError, match="'power' must be a table"):
        t.updated({"power": 3})


# ---------------------------------------------------------------- user files
def _user_file(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = (TARGETS / "tpu-v1.toml").read_text()
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_user_file_by_path(tmp_path):
    path = _user_file(tmp_path, 'name = "tpu-v1"', 'name = "mine"')
    t = load_target(path)
    assert t.name == "mine" and t.source == str(path)
    assert load_target(str(path)) == t


def test_user_file_may_not_take_a_shipped_name_with_other_numbers(tmp_path):
    path = tmp_path / "fake.toml"
    path.write_text('inherits = "tpu-v1"\n[weight_memory]\nbandwidth_bytes_per_s = 340e9\n')
    with pytest.raises(QccError, match=r"key 'name' = 'tpu-v1' is the name of a shipped "
                                       r"target.*weight_memory\.bandwidth_bytes_per_s"):
        load_target(path)
    # a copy with the same numbers is the same machine
    copy = _user_file(tmp_path)
    assert load_target(copy).name == "tpu-v1"
    path.write_text('inherits = "tpu-v1"\n')
    assert load_target(path).name == "tpu-v1"


def test_target_path_that_is_a_directory(tmp_path):
    (tmp_path / "d.toml").mkdir()
    with pytest.raises(QccError, match="is a directory"):
        load_target(tmp_path / "d.toml")


def test_user_file_inherits(tmp_path):
    (tmp_path / "base.toml").write_text(
        'inherits = "tpu-v1"\nname = "base"\n[array]\nclock_hz = 1050e6\n')
    (tmp_path / "mine.toml").write_text(
        'inherits = "base.toml"\nname = "mine"\n[weight_memory]\n'
        'bandwidth_bytes_per_s = 68e9\n')
    t = load_target(tmp_path / "mine.toml")
    assert (t.name, t.array.clock_hz, t.weight_memory.bandwidth_bytes_per_s) == \
        ("mine", 1050e6, 68e9)
    assert t.weights == load_target("tpu-v1").weights
    assert t.source == str(tmp_path / "mine.toml")
    (tmp_path / "base.toml").write_text('inherits = "tpu-v1"\n[array]\nclock_hz = 0\n')
    with pytest.raises(QccError, match=r"mine.toml \(inheriting .*base.toml \(inheriting "
                                       r".*tpu-v1.toml\)\): key 'array.clock_hz'"):
        load_target(tmp_path / "mine.toml")


@pytest.mark.parametrize("old,new,message", [
    ("clock_hz = 700e6", "", r"missing key 'array.clock_hz'"),
    ("rows = 256 ", 'rows = "256" ', r"key 'array.rows': expected an integer, got a string"),
    ("rows = 256 ", "rows = 256.0 ", r"key 'array.rows': expected an integer, got a number"),
    ("fifo_depth = 4", "fifo_depth = true", r"'weights.fifo_depth': expected an integer, "
                                            r"got a boolean"),
    ("what_if = false", "what_if = 0", r"key 'what_if': expected true or false"),
    ("fifo_depth = 4", "fifo_depth = 0", r"'weights.fifo_depth' = 0: must be at least 1"),
    ("bandwidth_bytes_per_s = 34e9", "bandwidth_bytes_per_s = -34e9",
     r"'weight_memory.bandwidth_bytes_per_s' = -34000000000.0: must be at least 1000 "
     r"\(bytes per second"),
    ("issue_cycles = 10", "issue_cycles = -1", r"'timing.issue_cycles' = -1: must be at "
                                               r"least 0"),
    ("fifo_depth = 4", "fifo_depth = 4\nfifo_width = 2", r"unknown key \[weights\] "
                                                         r"'fifo_width'"),
    ("[power]", "[bogus]\nx = 1\n[power]", r"unknown key 'bogus'"),
    ("tile_bytes = 65536", "tile_bytes = 32768", r"'weights.tile_bytes' = 32768 must equal "
                                                 r"array.rows x array.cols = 65536"),
    # non-finite numbers (TOML has inf and nan)
    ("clock_hz = 700e6", "clock_hz = inf", r"'array.clock_hz' = inf: must be a finite number"),
    ("mac_pj = 0.16", "mac_pj = nan", r"'energy.mac_pj' = nan: must be a finite number"),
    # out of the physical range
    ("clock_hz = 700e6", "clock_hz = 1e-300", r"'array.clock_hz' = 1e-300: must be at least "
                                              r"1000 \(hertz: 1 kHz to 1 THz\)"),
    ("clock_hz = 700e6", "clock_hz = 7e12", r"'array.clock_hz' = 7000000000000.0: must be at "
                                            r"most 1e\+12"),
    ("rows = 4096", "rows = 1", r"'accumulators.rows' = 1: must be at least 2 \(the lowering "
                                r"alternates two accumulator halves"),
    ("rows = 4096", "rows = 65537", r"'accumulators.rows' = 65537: must be at most 65536"),
    ("rows = 98304", "rows = 16777217", r"'unified_buffer.rows' = 16777217: must be at most "
                                        r"16777216 \(the ISA's Unified Buffer row fields"),
    ("capacity_bytes = 8589934592", "capacity_bytes = 2199023255553",
     r"'weight_memory.capacity_bytes' = 2199023255553: must be at most 1099511627776"),
    ("fifo_depth = 4", "fifo_depth = 65536", r"'weights.fifo_depth' = 65536: must be at most "
                                             r"65535"),
    ("activate_rows_per_cycle = 1", "activate_rows_per_cycle = 1e-9",
     r"'timing.activate_rows_per_cycle' = 1e-09: must be at least 0.001"),
    ("idle_w = 28", "idle_w = 0", r"'power.idle_w' = 0: must be above 0"),
    ("table_slots = 8", "table_slots = 0", r"'activation.table_slots' = 0: must be at "
                                           r"least 1"),
    ("table_slots = 8", "table_slots = 257", r"'activation.table_slots' = 257: must be at "
                                             r"most 256 \(the ISA's table slot fields are 8 "
                                             r"bits\)"),
    ("table_slots = 8", "table_slots = 8\nslots = 2", r"unknown key \[activation\] 'slots'"),
    ("switching_activity = 0.54", "switching_activity = 0",
     r"'energy.switching_activity' = 0: must be above 0 \(a fraction of the per-event"),
    ("switching_activity = 0.54", "switching_activity = 1.5",
     r"'energy.switching_activity' = 1.5: must be at most 1"),
    ("switching_activity = 0.54", 'switching_activity = "half"',
     r"key 'energy.switching_activity': expected a number, got a string"),
    ("static_w = 34.7", "static_w = -1", r"'energy.static_w' = -1: must be at least 0"),
    ("busy_w = 40", "busy_w = 80", r"'power.busy_w' = 80.0 must lie between power.idle_w = "
                                   r"28 and power.tdp_w = 75"),
    # what the backend does not model
    ("bytes_per_lane = 4", "bytes_per_lane = 2", r"'accumulators.bytes_per_lane' = 2: must be "
                                                 r"4 \(only 32-bit accumulators are modelled"),
    ("rows = 256 ", "rows = 128 ", r"'array.rows' = 128: must be 256 \(the ISA moves "
                                   r"256-lane rows"),
    ("row_bytes = 256", "row_bytes = 128", r"'unified_buffer.row_bytes' = 128 must equal "
                                           r"array.rows = 256"),
    ("raw_bandwidth_bytes_per_s = 15.75e9", "raw_bandwidth_bytes_per_s = 10e9",
     r"'host_link.bandwidth_bytes_per_s' = 14000000000.0 must not exceed "
     r"host_link.raw_bandwidth_bytes_per_s = 1e\+10"),
    # strings
    ('name = "tpu-v1"', 'name = ""', r"key 'name' = '': must not be empty"),
    ('kind = "DDR3"', 'kind = "DDR3\\n"', r"'weight_memory.kind' = 'DDR3\\n': must not "
                                             r"contain control characters"),
])
def test_file_errors_name_file_key_and_problem(tmp_path, old, new, message):
    path = _user_file(tmp_path, old, new)
    with pytest.raises(TargetError, match=message) as err:
        load_target(path)
    assert str(path) in err.value.message
    key = re.search(r"'([a-z_.]+)'", message.replace("\\", ""))
    if key is not None and "." in key[1]:
        assert err.value.key == key[1]


def test_syntax_and_encoding_errors_point_at_the_line(tmp_path):
    path = _user_file(tmp_path, "[array]", "[array")
    with pytest.raises(TargetError) as err:
        load_target(path)
    line = (TARGETS / "tpu-v1.toml").read_text().splitlines().index("[array]") + 1
    assert err.value.loc == FileLoc(str(path), line, 7)
    assert str(err.value).startswith(f"{path}:{line}:7: error: not valid TOML: ")
    assert str(err.value).endswith("\n  [array\n        ^")
    path.write_bytes(b'name = "x"\n# caf\xe9\n')
    with pytest.raises(TargetError) as err:
        load_target(path)
    assert err.value.loc == FileLoc(str(path), 2, 6)
    assert "not UTF-8 text: byte 0xe9" in err.value.message


def test_bad_inherits(tmp_path):
    mine = tmp_path / "mine.toml"
    for text, message in [
        ("inherits = 3\n", r"mine.toml: key 'inherits': expected a target name or path, got "
                           r"an integer"),
        ('inherits = "tpu-v9"\n', r"mine.toml: key 'inherits' = 'tpu-v9': unknown target "
                                  r"'tpu-v9': shipped targets are tpu-v1"),
        ('inherits = "base.toml"\n', r"mine.toml: key 'inherits' = 'base.toml': target file "
                                     r"'.*base.toml' does not exist"),
        ('inherits = "mine.toml"\n', r"'inherits' makes a cycle"),
    ]:
        mine.write_text(text)
        with pytest.raises(TargetError, match=message) as err:
            load_target(mine)
        assert err.value.key == "inherits"
    # an inherited file's own mistakes name that file
    (tmp_path / "base.toml").write_text('inherits = "tpu-v1"\n[array]\nclock_hz = "fast"\n')
    mine.write_text('inherits = "base.toml"\nname = "mine"\n')
    with pytest.raises(TargetError, match=r"key 'array.clock_hz': expected a number, got a "
                                          r"string \('fast'\)"):
        load_target(mine)


def test_optional_key_defaults_and_is_left_out_at_its_default(tmp_path):
    """activation.table_slots may be left out (8, what qcc assumed before the key
    existed); the canonical description leaves it out while it is 8, so binaries
    written before keep their bytes and load."""
    tpu = load_target("tpu-v1")
    text = (Path(tpu.source).read_text(encoding="utf-8")
            .replace('name = "tpu-v1"', 'name = "mine"'))
    start = text.index("[activation]")
    no_section = text[:start] + text[text.index("[timing]"):]
    (tmp_path / "a.toml").write_text(no_section)
    mine = load_target(tmp_path / "a.toml")
    assert mine.activation.table_slots == 8 and mine == tpu.updated({"name": "mine"})
    assert "activation" not in target_to_raw(mine)
    twelve = mine.updated({"activation.table_slots": 12})
    assert target_to_raw(twelve)["activation"] == {"table_slots": 12}
    assert target_from_raw(target_to_raw(twelve), "x") == twelve
    raw = target_to_raw(mine)
    assert target_from_raw({**raw, "activation": {}}, "x") == mine


def test_switching_activity_defaults_to_one_and_is_left_out_at_it(tmp_path):
    """energy.switching_activity came after binaries embedded their target: left out
    it is 1 (each event charged in full, what qcc did before), so an old binary's
    TARGET section still loads and means what it meant."""
    tpu = load_target("tpu-v1")
    text = Path(tpu.source).read_text(encoding="utf-8").replace('name = "tpu-v1"',
                                                                'name = "mine"')
    (tmp_path / "a.toml").write_text(text.replace("switching_activity = 0.54", ""))
    mine = load_target(tmp_path / "a.toml")
    assert mine.energy.switching_activity == 1.0
    assert "switching_activity" not in target_to_raw(mine)["energy"]
    assert target_to_raw(tpu)["energy"]["switching_activity"] == 0.54
    assert mine.updated({"energy.switching_activity": 0.54}) == tpu.updated({"name": "mine"})
    with pytest.raises(QccError, match=r"'energy.switching_activity' = 2: must be at most 1"):
        tpu.updated({"energy.switching_activity": 2})


def test_description_round_trips_through_its_tables():
    for name in list_targets():
        t = load_target(name)
        assert target_from_raw(target_to_raw(t), "x") == t
    with pytest.raises(TargetError, match="x: expected a table of target keys, got a string"):
        target_from_raw("tpu-v1", "x")


def test_unknown_targets(tmp_path):
    with pytest.raises(QccError, match=r"unknown target 'tpu-v9'.*tpu-v1, tpu-v1-gddr5"):
        load_target("tpu-v9")
    with pytest.raises(QccError, match="does not exist"):
        load_target(tmp_path / "nothere.toml")


def test_inherits_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('inherits = "b.toml"\n')
    (tmp_path / "b.toml").write_text('inherits = "a.toml"\n')
    with pytest.raises(QccError, match="'inherits' makes a cycle"):
        load_target(tmp_path / "a.toml")


def test_every_field_is_in_the_file():
    """The dataclasses and the shipped file list the same keys (the loader rejects
    both missing and unknown keys, so this holds by construction; this guards the
    dataclass defaults: none may exist, every number must come from a file)."""
    t = load_target("tpu-v1")
    for f in dataclasses.fields(Target):
        if f.name != "source":
            assert f.default is dataclasses.MISSING, f.name
    assert isinstance(t.timing.issue_cycles, float)
