"""vrrpctl status: the unicast section (issue #5 point 7: the peers and per-peer send errors)."""

from __future__ import annotations

from vrrpd.cli.status import render_status


def status(*instances: dict) -> dict:
    return {"version": "0.1.0", "pid": 1, "uptime": 5, "instances": list(instances)}


def test_issue5_7_every_peer_of_a_unicast_instance_gets_a_row_with_its_send_errors():
    uni = {
        "name": "gw",
        "state": "MASTER",
        "unicast": {
            "source": "198.51.100.11",
            "ttl": 255,
            "min_ttl": 254,
            "peers": [
                {"address": "198.51.100.12", "adverts_sent": 40, "send_errors": 0, "last_error": None},
                {"address": "203.0.113.7", "adverts_sent": 0, "send_errors": 40, "last_error": "No route to host"},
            ],
        },
    }
    text = render_status(status(uni, {"name": "multi", "state": "BACKUP", "unicast": None}))
    lines = text.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("INSTANCE  SOURCE")))
    assert lines[header].split() == [
        "INSTANCE",
        "SOURCE",
        "PEER",
        "TTL",
        "MIN_TTL",
        "SENT",
        "SEND_ERRORS",
        "LAST_ERROR",
    ]
    assert lines[header + 1].split() == ["gw", "198.51.100.11", "198.51.100.12", "255", "254", "40", "0", "-"]
    assert lines[header + 2].split() == [
        "gw",
        "198.51.100.11",
        "203.0.113.7",
        "255",
        "254",
        "0",
        "40",
        "No",
        "route",
        "to",
        "host",
    ]
    assert len(lines) == header + 3  # the multicast instance has no peer rows


def test_issue5_7_no_unicast_section_without_unicast_instances_or_from_an_older_daemon():
    text = render_status(status({"name": "m", "state": "MASTER"}, {"name": "n", "unicast": None}))
    assert "PEER" not in text
