"""vrrpd.config: track_scripts / track_interfaces, their errors (file, key path, line) and warnings."""

from __future__ import annotations

import pytest
from configcase import BASE as ONE_INSTANCE
from configcase import FILE, instance_keys_parsers, uncomment

from vrrpd.config import ConfigError, ScriptConfig, parse_config
from vrrpd.protocol.tracking import Tracker, TrackerKind

S, IF = TrackerKind.SCRIPT, TrackerKind.INTERFACE

# Line 1 = "track_scripts:"; the instance's extra keys start on line 12.
BASE = """\
track_scripts:
  chk_web:
    command: [/usr/bin/curl, -fsS, "http://localhost/"]
    interval: 2
    timeout: 0.5
    rise: 2
    fall: 3
  chk_db: {command: "/usr/local/bin/check-db --quick 'a b'"}
instances:
  - name: a
    interface: eth0
    vrid: 1
    priority: 150
    virtual_addresses: [198.51.100.1/24]
"""


parse, error = instance_keys_parsers(BASE)


def test_scripts_and_trackers_parse():
    config = parse("""\
        track_scripts:
          - {name: chk_web, weight: -60}
          - {name: chk_db, on_failure: fault}
        track_interfaces:
          - {interface: eth1, weight: 20}
          - {interface: bond0, on_failure: fault}
        """)
    web, db = config.track_scripts
    assert web == ScriptConfig("chk_web", ("/usr/bin/curl", "-fsS", "http://localhost/"), 2.0, 0.5, 2, 3, None)
    # A string is split like a shell would, but never run through one; timeout defaults to the interval.
    assert db == ScriptConfig("chk_db", ("/usr/local/bin/check-db", "--quick", "a b"), 1.0, 1.0, 1, 1, None)
    inst = config.instances[0]
    assert inst.track_scripts == (Tracker(S, "chk_web", -60), Tracker(S, "chk_db", None))
    assert inst.track_interfaces == (Tracker(IF, "eth1", 20), Tracker(IF, "bond0", None))
    # The own interface is always tracked first, as a fault.
    assert inst.trackers[0] == Tracker(IF, "eth0", None)
    assert len(inst.trackers) == 5
    assert config.warnings == ()


def test_trackers_from_defaults():
    base = BASE.replace("instances:\n", "defaults:\n  track_scripts: [{name: chk_web, weight: -60}]\ninstances:\n")
    config = parse("track_scripts: [{name: chk_db, weight: -60}]\n", base)
    assert config.instances[0].track_scripts == (Tracker(S, "chk_db", -60),)
    assert any("chk_web" in w and "not used" not in w for w in config.warnings) is False


def test_user_is_kept():
    base = BASE.replace("    fall: 3\n", "    fall: 3\n    user: nobody\n")
    assert parse("track_scripts: [{name: chk_web, on_failure: fault}]\n", base).script("chk_web").user == "nobody"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "track_scripts: [{name: chk_web, weight: 0}]\n",
            "instances[0].track_scripts[0].weight (line 15): weight 0 is not allowed: keepalived reads it as "
            "'fault on failure', which is easy to miss; write on_failure: fault for that, or give a non-zero weight",
        ),
        (
            "track_scripts: [{name: chk_web, weight: 254}]\n",
            "instances[0].track_scripts[0].weight (line 15): 254 is outside -253..253",
        ),
        (
            "track_scripts: [{name: chk_web, weight: -254}]\n",
            "instances[0].track_scripts[0].weight (line 15): -254 is outside -253..253",
        ),
        (
            "track_scripts: [{name: chk_wbe, weight: -10}]\n",
            "instances[0].track_scripts[0].name (line 15): 'chk_wbe' is not defined under the top-level "
            "track_scripts (did you mean chk_web?)",
        ),
        (
            "track_scripts:\n  - {name: chk_web}\n",
            "instances[0].track_scripts[0] (line 16): needs weight (-253..253, not 0) or on_failure: fault",
        ),
        (
            "track_scripts:\n  - {name: chk_web, weight: -5, on_failure: fault}\n",
            "instances[0].track_scripts[0].on_failure (line 16): give either weight or on_failure: fault, not both",
        ),
        (
            "track_interfaces:\n  - {interface: eth1, on_failure: backup}\n",
            "instances[0].track_interfaces[0].on_failure (line 16): 'backup' is not supported (only fault",
        ),
        (
            "track_interfaces:\n  - {interface: eth1, weight: 10}\n  - {interface: eth1, weight: 20}\n",
            "instances[0].track_interfaces[1].interface (line 17): 'eth1' is already listed at "
            "instances[0].track_interfaces[0]",
        ),
        (
            "track_interfaces:\n  - {name: eth1, weight: 10}\n",
            "instances[0].track_interfaces[0].name (line 16): unknown key",
        ),
        (
            "track_scripts:\n  - {name: chk_web, weight: high}\n",
            "instances[0].track_scripts[0].weight (line 16): expected a whole number -253..253, got the string 'high'",
        ),
        (
            "track_script:\n  - {name: chk_web, weight: 1}\n",
            "instances[0].track_script (line 16): unknown key (this is keepalived's name; vrrpd uses track_scripts)",
        ),
    ],
)
def test_tracker_errors(extra, message):
    assert error(extra).startswith(f"{FILE}: {message}")


@pytest.mark.parametrize(
    ("scripts", "message"),
    [
        ("track_scripts:\n  c: {interval: 1}\n", "track_scripts.c (line 2): missing required key command"),
        ("track_scripts:\n  c: {command: 'a \"b'}\n", "track_scripts.c.command (line 2): cannot be split"),
        ("track_scripts:\n  c: {command: []}\n", "track_scripts.c.command (line 2): must not be empty"),
        ("track_scripts:\n  c: {command: ''}\n", "track_scripts.c.command (line 2): must not be empty"),
        ("track_scripts:\n  c: {command: x, interval: 0}\n", "track_scripts.c.interval (line 2): 0 is outside"),
        ("track_scripts:\n  c: {command: x, rise: 0}\n", "track_scripts.c.rise (line 2): 0 is outside 1..100"),
        ("track_scripts:\n  c: {command: x, weight: 2}\n", "track_scripts.c.weight (line 2): unknown key"),
        ("track_scripts:\n  'a b': {command: x}\n", "track_scripts.'a b' (line 2): script name 'a b' may only"),
        ("track_scripts: [a]\n", "track_scripts (line 1): expected a mapping of script names, got a list"),
    ],
)
def test_script_errors(scripts, message):
    base = scripts + BASE[BASE.index("instances:") :]
    with pytest.raises(ConfigError) as info:
        parse_config(base, FILE)
    assert str(info.value).startswith(f"{FILE}: {message}")


def test_shell_operators_warn():
    base = "track_scripts:\n  c: {command: pidof nginx || exit 1}\n" + BASE[BASE.index("instances:") :]
    config = parse_config(base + "    track_scripts: [{name: c, on_failure: fault}]\n", FILE)
    assert config.script("c").command == ("pidof", "nginx", "||", "exit", "1")
    (warning,) = config.warnings
    assert warning.startswith(f"{FILE}: track_scripts.c.command (line 2): is not run through a shell, so ||")


def test_unused_script_warns():
    config = parse("")
    assert config.warnings == (
        f"{FILE}: track_scripts.chk_web (line 3): is not used by any instance's track_scripts; it will not run",
        f"{FILE}: track_scripts.chk_db (line 8): is not used by any instance's track_scripts; it will not run",
    )


def warnings(extra: str, priority: int = 150) -> list[str]:
    base = BASE.replace("priority: 150", f"priority: {priority}")
    return [w for w in parse(extra, base).warnings if "not used by any" not in w]


def test_weight_too_small_to_fail_over_warns():
    (w,) = warnings("track_scripts: [{name: chk_web, weight: -20}]\n", priority=150)
    assert w.startswith(
        f"{FILE}: instances[0].track_scripts (line 15): with every negative-weight tracker failing, priority 150 "
        "only drops to 130, which is not below 100 (the default priority): a backup at priority 100 would never "
        "take over."
    )
    # Together the weights can cross 100: no warning (the sum is what can never change the election).
    assert warnings("track_scripts: [{name: chk_web, weight: -20}, {name: chk_db, weight: -40}]\n") == []
    assert warnings("track_scripts: [{name: chk_web, weight: -51}]\n") == []


def test_positive_weight_too_small_to_preempt_warns():
    (w,) = warnings("track_interfaces: [{interface: eth1, weight: 10}]\n", priority=90)
    assert "priority 90 only rises to 100, which is not above 100" in w
    assert warnings("track_interfaces: [{interface: eth1, weight: 11}]\n", priority=90) == []
    # At the default priority both directions are meaningful against a peer at 100.
    assert warnings("track_interfaces: [{interface: eth1, weight: 10}]\n", priority=100) == []


def test_owner_weights_warn_fault_does_not():
    (w,) = warnings("track_scripts: [{name: chk_web, weight: -100}]\n", priority=255)
    assert "the address owner (priority 255) is never moved by tracking" in w
    assert warnings("track_scripts: [{name: chk_web, on_failure: fault}]\n", priority=255) == []


def test_own_interface_in_track_interfaces_warns():
    (w,) = warnings("track_interfaces: [{interface: eth0, on_failure: fault}]\n")
    assert "eth0 is the instance's own interface, which always puts the instance in FAULT" in w


def test_example_file_tracking_examples_parse_when_uncommented():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml").read_text()
    keys = "track_scripts:|  chk_web:|  chk_db:|    command|    interval|    timeout|    rise|    fall|    user"
    text = re.sub(rf"^# ({keys})", r"\1", text, flags=re.M)
    text = uncomment(uncomment(text, "track_scripts", "    "), "track_interfaces", "    ")
    config = parse_config(text, FILE)
    assert [s.name for s in config.track_scripts] == ["chk_web", "chk_db"]
    assert len(config.instances[0].trackers) == 5
    assert config.warnings == ()


@pytest.mark.parametrize("section", ["track_scripts", "track_files"])
def test_a_tracker_name_with_no_top_level_section_says_there_is_none(section: str) -> None:
    """The one name check serves both sections; with nothing defined it names the missing section."""
    assert error(f"{section}: [{{name: chk, weight: -10}}]\n", ONE_INSTANCE) == (
        f"{FILE}: instances[0].{section}[0].name (line 6): 'chk' is not defined under the top-level {section} "
        f"(there is no top-level {section})"
    )
