"""vrrpctl status: the tracker section (states, effects, contributions)."""

from __future__ import annotations

import re

from vrrpd.cli.status import render_status


def test_tracker_rows_follow_the_instance_table():
    status = {
        "version": "0.1.0",
        "pid": 1,
        "uptime": 5,
        "instances": [
            {
                "name": "gw",
                "state": "BACKUP",
                "priority": 200,
                "effective_priority": 50,
                "trackers": [
                    {
                        "kind": "interface",
                        "name": "eth0",
                        "state": "up",
                        "effect": "fault",
                        "contribution": 0,
                        "implicit": True,
                    },
                    {
                        "kind": "script",
                        "name": "chk_web",
                        "state": "down",
                        "effect": "weight -150",
                        "contribution": -150,
                        "implicit": False,
                    },
                    {
                        "kind": "interface",
                        "name": "eth1",
                        "state": "up",
                        "effect": "weight +20",
                        "contribution": 20,
                        "implicit": False,
                    },
                    {
                        "kind": "script",
                        "name": "chk_db",
                        "state": "unknown",
                        "effect": "fault",
                        "contribution": 0,
                        "implicit": False,
                    },
                ],
            }
        ],
    }
    lines = render_status(status).splitlines()
    start = lines.index("") + 1
    rows = [re.split(r" {2,}", line) for line in lines[start:]]
    assert rows == [
        ["INSTANCE", "KIND", "TRACKER", "STATE", "EFFECT", "CONTRIB"],
        ["gw", "interface", "eth0 (own)", "up", "fault", "0"],
        ["gw", "script", "chk_web", "down", "weight -150", "-150"],
        ["gw", "interface", "eth1", "up", "weight +20", "+20"],
        ["gw", "script", "chk_db", "unknown", "fault", "0"],
    ]
    assert "200(50)" in lines[2]


def test_no_trackers_no_section():
    text = render_status({"instances": [{"name": "gw", "trackers": "garbage"}, {"name": "x"}]})
    assert "TRACKER" not in text
