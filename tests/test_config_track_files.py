"""vrrpd.config: top-level track_files and per-instance track_files (issue #5 point 2), their errors (one
sentence naming file, key path and line) and warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from configcase import FILE, instance_keys_parsers, uncomment

from vrrpd.config import parse_config
from vrrpd.config.track_files import FileConfig
from vrrpd.protocol.tracking import Tracker, TrackerKind

F = TrackerKind.FILE

# Line 1 = "track_files:"; the instance's extra keys start on line 13.
BASE = """\
track_files:
  maint:
    path: /run/vrrpd/maint
    interval: 0.5
    on_missing: fault
  offset: {path: /run/vrrpd/offset, on_missing: {value: 0}, init: {value: 2, overwrite: true}}
instances:
  - name: a
    interface: eth0
    vrid: 1
    priority: 150
    virtual_addresses: [198.51.100.1/24]
"""


parse, error = instance_keys_parsers(BASE)


def test_track_files_parse() -> None:
    config = parse("track_files: [{name: maint, on_failure: fault}, {name: offset, weight: -20}]\n")
    assert config.track_files == (
        FileConfig("maint", Path("/run/vrrpd/maint"), 0.5, None),
        FileConfig("offset", Path("/run/vrrpd/offset"), 1.0, 0, init_value=2, init_overwrite=True),
    )
    inst = config.instances[0]
    assert inst.track_files == (Tracker(F, "maint", None), Tracker(F, "offset", -20))
    assert inst.trackers[-2:] == inst.track_files  # after the own interface, interfaces and scripts
    assert config.warnings == ()


def test_track_files_from_defaults() -> None:
    base = BASE.replace("instances:", "defaults:\n  track_files: [{name: maint, weight: -5}]\ninstances:")
    config = parse("", base)
    assert config.instances[0].track_files == (Tracker(F, "maint", -5),)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "track_files: [{name: maint, weight: 0}]",
            "instances[0].track_files[0].weight (line 13): weight 0 is not allowed: keepalived reads it as 'fault on "
            "failure', which is easy to miss; write on_failure: fault for that, or give a non-zero weight (for a "
            "file: fault while its value is non-zero)",
        ),
        (
            "track_files: [{name: mant, weight: 3}]",
            "instances[0].track_files[0].name (line 13): 'mant' is not defined under the top-level track_files "
            "(did you mean maint?)",
        ),
        (
            "track_files: [{name: zzz, weight: 3}]",
            "instances[0].track_files[0].name (line 13): 'zzz' is not defined under the top-level track_files "
            "(defined: maint, offset)",
        ),
        ("track_files: [{name: maint}]", "instances[0].track_files[0] (line 13): needs weight"),
        (
            "track_files: [{name: maint, weight: 254}]",
            "instances[0].track_files[0].weight (line 13): 254 is outside -253..253",
        ),
        (
            "track_files: [{name: maint, weight: 1}, {name: maint, weight: 2}]",
            "instances[0].track_files[1].name (line 13): 'maint' is already listed at instances[0].track_files[0]",
        ),
        ("track_files: [{file: maint, weight: 1}]", "instances[0].track_files[0].file (line 13): unknown key"),
    ],
)
def test_instance_track_files_errors(extra: str, message: str) -> None:
    assert error(extra).startswith(f"{FILE}: {message}")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "  m: {path: /x}\n",
            "track_files.m (line 2): needs on_missing: fault or on_missing: {value: N}",
        ),
        ("  m: {path: x, on_missing: fault}\n", "track_files.m.path (line 2): 'x' must be an absolute path"),
        ("  m: {on_missing: fault}\n", "track_files.m (line 2): missing required key path"),
        ("  m: {path: /x, on_missing: zero}\n", "track_files.m.on_missing (line 2): 'zero' is not fault or {value: N}"),
        ("  m: {path: /x, on_missing: 0}\n", "track_files.m.on_missing (line 2): the number 0 is not fault or"),
        ("  m: {path: /x, on_missing: {}}\n", "track_files.m.on_missing (line 2): missing required key value"),
        (
            "  m: {path: /x, on_missing: {value: x}}\n",
            "track_files.m.on_missing.value (line 2): expected a whole number",
        ),
        (
            "  m: {path: /x, on_missing: fault, interval: 0}\n",
            "track_files.m.interval (line 2): 0 is outside 0.1..3600",
        ),
        ("  m: {path: /x, on_missing: fault, weight: 1}\n", "track_files.m.weight (line 2): unknown key"),
        ("  m: {file: /x, on_missing: fault}\n", "track_files.m.file (line 2): unknown key (this is keepalived's name"),
        ("  m: {path: /x, on_missing: fault, init: {value: 1, overwrite: 1}}\n", "track_files.m.init.overwrite"),
        ("  m b: {path: /x, on_missing: fault}\n", "track_files.'m b' (line 2): track file name 'm b' may only"),
        ("  - m\n", "track_files (line 2): expected a mapping of track file names, got a list"),
    ],
)
def test_top_level_track_files_errors(section: str, message: str) -> None:
    base = "track_files:\n" + section + BASE[BASE.index("instances:") :]
    assert error("", base).startswith(f"{FILE}: {message}")


def test_unused_track_file_warns() -> None:
    config = parse("track_files: [{name: maint, weight: -1}]\n")
    assert config.warnings == (
        f"{FILE}: track_files.offset (line 6): is not used by any instance's track_files; it is not read",
    )


def test_owner_file_weights_warn_fault_does_not() -> None:
    owner = BASE.replace("priority: 150", "priority: 255")
    config = parse("track_files: [{name: maint, on_failure: fault}, {name: offset, weight: -5}]\n", owner)
    assert [w for w in config.warnings if "owner" in w] == [
        f"{FILE}: instances[0].track_files (line 13): track file weights have no effect: the address owner "
        "(priority 255) is never moved by tracking; use on_failure: fault to make it give up the addresses"
    ]
    config = parse("track_files: [{name: maint, on_failure: fault}, {name: offset, on_failure: fault}]\n", owner)
    assert config.warnings == ()


def test_small_file_weight_gets_no_election_warning() -> None:
    """Unlike scripts, a file's value is unbounded, so weight -1 may well move the election (value 60)."""
    config = parse("track_files: [{name: maint, weight: -1}, {name: offset, weight: 1}]\n")
    assert config.warnings == ()


def test_same_path_twice_warns() -> None:
    base = (
        "track_files:\n  a: {path: /x, on_missing: fault}\n  b: {path: /x, on_missing: fault}\n"
        + BASE[BASE.index("instances:") :]
    )
    config = parse("track_files: [{name: a, weight: 1}, {name: b, weight: 2}]\n", base)
    assert config.warnings == (
        f"{FILE}: track_files.b (line 3): reads the same file as track_files.a; define it once and list that "
        "name in every instance that tracks it",
    )


def test_example_file_track_files_examples_parse_when_uncommented() -> None:

    text = (Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml").read_text()
    text = uncomment(uncomment(text, "track_files"), "track_files", "    ")
    config = parse_config(text, FILE)
    assert config.track_files == (
        FileConfig("drain", Path("/run/vrrpd/drain"), 1.0, 0, init_value=0),
        FileConfig("maintenance", Path("/run/vrrpd/maintenance"), 1.0, None),
    )
    assert config.instances[0].track_files == (Tracker(F, "drain", -60), Tracker(F, "maintenance", None))
    assert config.warnings == ()
