"""The status object and the event lines of a real daemon keep their keys (issue #10: behaviour unchanged).

One vrrpd with every kind of instance the status shows (multicast IPv4 with script, file and interface trackers,
hooks and accept_mode false; IPv6 with a virtual MAC, backup to a peer; unicast; a sync group with a group tracker
and hooks; an instance held in FAULT) and a second vrrpd as its peer. The key paths of `vrrpctl status --json`
must be exactly those of tests/golden/status/status.json, in the same order; the keys of `vrrpctl events` lines
those of tests/golden/status/events.json. tests/test_golden.py renders the same status.json as a table.

VRRPD_UPDATE_GOLDEN=1 rewrites both files from this run (pid and uptime fixed), after a deliberate change.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from lab import Lab, wait_for
from vrrpd_runner import Vrrpd, follow_events, instance, json_lines

from vrrpd.services.control import request

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "status"
UPDATE = os.environ.get("VRRPD_UPDATE_GOLDEN") == "1"
TRUE = shutil.which("true") or "/bin/true"
FALSE = shutil.which("false") or "/bin/false"
DYNAMIC = ("drops", "sysctls")
"""Mappings whose keys are data (drop reasons, sysctl names), not schema."""


def key_paths(value: Any, path: str = "") -> list[str]:
    """Every key path in `value`, in order of first appearance; a list's items share one `[]` path."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            out.append(sub)
            if key not in DYNAMIC:
                out += key_paths(item, sub)
    elif isinstance(value, list):
        for item in value:
            out += key_paths(item, f"{path}[]")
    return list(dict.fromkeys(out))


def a_config(lab: Lab) -> tuple[list[dict], dict]:
    level = lab.workdir / "level"
    level.write_text("1\n")
    hook = {"on_master": [TRUE], "notify": [TRUE], "timeout": 5}
    top = {
        "track_scripts": {"ok": {"command": [TRUE], "interval": 0.2}, "bad": {"command": [FALSE], "interval": 0.2}},
        "track_files": {"level": {"path": str(level), "on_missing": {"value": 0}}},
        "sync_groups": {
            "g": {"members": ["g1", "g2"], "track_scripts": [{"name": "ok", "on_failure": "fault"}], "notify": hook}
        },
    }
    instances = [
        instance(
            "v4",
            vrid=51,
            priority=200,
            addresses=["198.51.100.100/24"],
            accept_mode=False,
            track_scripts=[{"name": "ok", "weight": -20}],
            track_files=[{"name": "level", "weight": 5}],
            track_interfaces=[{"interface": "lo", "weight": -10}],
            notify=hook,
        ),
        instance("v6", vrid=52, priority=100, addresses=["2001:db8::100/64"], virtual_mac=True),
        instance("u4", vrid=53, priority=150, addresses=["198.51.100.103/24"], unicast_peers=["198.51.100.12"]),
        instance("g1", vrid=54, priority=150, addresses=["198.51.100.104/24"]),
        instance("g2", vrid=55, priority=150, addresses=["198.51.100.105/24"]),
        instance(
            "f4", vrid=56, addresses=["198.51.100.106/24"], track_scripts=[{"name": "bad", "on_failure": "fault"}]
        ),
    ]
    return instances, top


def test_status_json_keys_and_event_keys_of_a_real_daemon_are_unchanged(lab):
    ha = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    hb = lab.add_host("b", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    b = Vrrpd(
        hb,
        [
            instance("v6", vrid=52, priority=200, addresses=["2001:db8::100/64"], virtual_mac=True),
            instance("u4", vrid=53, priority=100, addresses=["198.51.100.103/24"], unicast_peers=["198.51.100.11"]),
        ],
    ).start()
    wait_for(lambda: b.state("v6") == "MASTER", 10, message="b never became master of v6")
    instances, top = a_config(lab)
    a = Vrrpd(ha, instances, **top).start()
    expected = {"v4": "MASTER", "v6": "BACKUP", "u4": "MASTER", "g1": "MASTER", "g2": "MASTER", "f4": "FAULT"}

    def settled() -> dict[str, Any] | None:
        status = a.status()
        states = {i["name"]: i["state"] for i in status["instances"]}
        seen = next(i for i in status["instances"] if i["name"] == "v6")["master_address"]
        hooks_ran = all(i["hooks"] is None or i["hooks"]["runs"] for i in status["instances"])
        return status if states == expected and seen and hooks_ran else None

    wait_for(settled, 15, message="a never reached the expected states")
    # One reload of the unchanged file, so the status' config section shows a last reload with all its keys (and the
    # event stream a reload event); a drained backup (issue #15: a drain event, and the status' drained line); a
    # track file that moves v4's priority (a priority event).
    assert request(a.socket, "reload", timeout=30)["summary"] == "6 unchanged, 0 changed, 0 added, 0 removed"
    assert request(a.socket, "drain", names=["v6"], timeout=30)["summary"] == "drained (hard): v6"
    (lab.workdir / "level").write_text("2\n")
    v4_moved = lambda: a.instance_status("v4")["effective_priority"] == 210  # noqa: E731
    wait_for(v4_moved, 5, message="the track file never moved v4's priority")
    status = wait_for(settled, 5, message="a left the expected states after a no-op reload and a drain")
    events_out = lab.workdir / "events"
    follower = follow_events(ha, a, events_out, "--replay", "1000")
    # Transitions by kind (instance, group), other events by type.
    key = lambda event: event["kind"] if event["type"] == "transition" else event["type"]  # noqa: E731
    try:
        kinds = lambda: {key(event) for event in json_lines(events_out)}  # noqa: E731
        every = {"instance", "group", "reload", "drain", "priority"}
        wait_for(lambda: kinds() == every, 5, message="not every kind and type of event replayed")
    finally:
        ha.stop(follower)
    events: dict[str, list[str]] = {}
    for event in json_lines(events_out):
        events.setdefault(key(event), list(event))

    if UPDATE:
        fixed = {"path": "/etc/vrrpd/vrrpd.yaml", "loaded_at": "2026-12-04T08:00:00.000Z"}
        config = {
            **status["config"],
            **fixed,
            "last_reload": {**status["config"]["last_reload"], "time": "2026-12-04T09:00:00.000Z"},
        }
        normalised = {**status, "pid": 4242, "uptime": 3725.5, "config": config}
        (GOLDEN / "status.json").write_text(json.dumps(normalised, indent=2) + "\n")
        (GOLDEN / "events.json").write_text(json.dumps(events, indent=2) + "\n")
    golden = json.loads((GOLDEN / "status.json").read_text())
    assert key_paths(status) == key_paths(golden)
    assert events == json.loads((GOLDEN / "events.json").read_text())
