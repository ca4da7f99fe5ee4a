"""Every number in a shipped target file says where it comes from: a comment on its
line, or the comment block directly above it, names a source key (J17a, H14, OC17,
VIZ, SB17, [D]) or says it is an assumption (target.unsourced_keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcc.backends.tpu_v1.target import list_targets, load_target, unsourced_keys

TARGETS = Path(__file__).resolve().parents[3] / "backends" / "tpu_v1" / "targets"


@pytest.mark.parametrize("name", list_targets())
def test_every_shipped_number_names_its_source(name):
    text = (TARGETS / f"{name}.toml").read_text(encoding="utf-8")
    assert unsourced_keys(text) == []


def test_the_checker_sees_every_number_of_a_shipped_file():
    """It reads each numeric key (top level and in tables), so passing is not for
    want of looking: stripping the comments makes every number unsourced."""
    text = (TARGETS / "tpu-v1.toml").read_text(encoding="utf-8")
    bare = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    keys = {key for _, key in unsourced_keys(bare)}
    t = load_target("tpu-v1")
    assert {"array.clock_hz", "energy.mac_pj", "energy.static_w",
            "energy.switching_activity", "power.idle_w", "host.macs_per_s"} <= keys
    assert "what_if" not in keys and "weight_memory.kind" not in keys  # not numbers
    assert len(keys) == 34 and t.energy.static_w == 34.7  # every numeric key of the schema


def test_a_bare_number_fails(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('inherits = "tpu-v1"\nname = "mine"\ndescription = "J17a"\n'
                    "[array]\n"
                    "# J17a Table 2\n"
                    "clock_hz = 700e6\n"
                    "\n"
                    "[weight_memory]\n"
                    "bandwidth_bytes_per_s = 68e9\n"
                    "[energy]\n"
                    "mac_pj = 0.1  # my guess\n"
                    "static_w = 30  # an assumption: my board\n"
                    "# H14 x SB17, but a blank line separates it from the key\n"
                    "\n"
                    "dram_pj_per_bit = 20\n")
    assert unsourced_keys(path.read_text()) == [
        (9, "weight_memory.bandwidth_bytes_per_s"), (11, "energy.mac_pj"),
        (15, "energy.dram_pj_per_bit")]
    assert load_target(path).weight_memory.bandwidth_bytes_per_s == 68e9  # loads anyway


def test_source_marks():
    for comment in ("J17a §2", "H14", "OC17", "VIZ", "SB17 Table 5", "[D] 24 MiB / 256",
                    "Assumption: a test size", "ASSUMPTION"):
        assert unsourced_keys(f"[a]\nx = 1  # {comment}\n") == [], comment
    for comment in ("J17", "from the paper", "D", "H140"):
        assert unsourced_keys(f"[a]\nx = 1  # {comment}\n") == [(2, "a.x")], comment
    # integers, floats, inf and negative numbers are numbers; strings and booleans not
    assert unsourced_keys("a = 3\nb = -1.5e3\nc = inf\nd = true\ne = '7'\n") == \
        [(1, "a"), (2, "b"), (3, "c")]
