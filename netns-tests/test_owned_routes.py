"""What a Master owns besides its advertised addresses, on a real kernel (issue #12, rule 6): an address on a
second interface (keepalived's ``dev OTHER``), an excluded address, routes in table 100 and a policy rule. They
appear while Master and vanish when a higher-priority peer takes over and on SIGTERM; a route that was there before
vrrpd is never removed; the excluded address is never in an advert (checked on the wire by the independent
sniffer, helpers/advert_sniffer.py)."""

from __future__ import annotations

import json
from typing import Any

from lab import Host, wait_for
from reload_lab import A_IP, Observer, hosts
from vrrpd_runner import Vrrpd, instance

VIP, OTHER, EXCLUDED = "198.51.100.100/24", "203.0.113.100/24", "198.51.100.101/24"
TABLE_100 = {"dst": "203.0.113.128/25", "gateway": "198.51.100.1", "dev": "eth0", "metric": 10}
OURS_BLACKHOLE = "198.51.100.192/26"
THEIRS_BLACKHOLE = "198.51.100.224/27"
"""A route the administrator installed before vrrpd, identical to one in vrrpd's list: never vrrpd's to remove."""


def owner(priority: int) -> dict[str, Any]:
    return instance(
        priority=priority,
        addresses=[VIP, {"address": OTHER, "interface": "eth1"}],
        excluded_addresses=[EXCLUDED],
        routes=[
            {"to": "203.0.113.128/25", "via": "198.51.100.1", "interface": "eth0", "table": 100, "metric": 10},
            {"to": OURS_BLACKHOLE, "type": "blackhole", "table": 100},
            {"to": THEIRS_BLACKHOLE, "type": "blackhole", "table": 100},
        ],
        rules=[{"from": "198.51.100.0/24", "table": 100, "priority": 1000}],
    )


def ip_json(host: Host, *argv: str) -> list[dict[str, Any]]:
    return json.loads(host.run(["ip", "-j", *argv]).stdout or "[]")


def addresses(host: Host, dev: str) -> set[str]:
    return {
        f"{a['local']}/{a['prefixlen']}"
        for link in ip_json(host, "addr", "show", "dev", dev)
        for a in link["addr_info"]
    }


def table_100(host: Host) -> list[dict[str, Any]]:
    return ip_json(host, "route", "show", "table", "100")


def rules(host: Host) -> list[dict[str, Any]]:
    return [r for r in ip_json(host, "rule", "show") if r.get("priority") == 1000]


def owned(host: Host) -> bool:
    """Everything of the Master's there: both addresses on their interfaces, the routes, the rule."""
    routes = table_100(host)
    ours = any(all(r.get(k) == v for k, v in TABLE_100.items()) for r in routes)
    blackholes = {r["dst"] for r in routes if r.get("type") == "blackhole"}
    return (
        {VIP, EXCLUDED} <= addresses(host, "eth0")
        and OTHER in addresses(host, "eth1")
        and ours
        and blackholes == {OURS_BLACKHOLE, THEIRS_BLACKHOLE}
        and [r.get("src") for r in rules(host)] == ["198.51.100.0"]
    )


def released(host: Host) -> bool:
    """Nothing of the Master's left, but the administrator's own route."""
    routes = table_100(host)
    return (
        not ({VIP, EXCLUDED} & addresses(host, "eth0"))
        and OTHER not in addresses(host, "eth1")
        and [r["dst"] for r in routes] == [THEIRS_BLACKHOLE]
        and rules(host) == []
    )


def second_interface(host: Host) -> None:
    """eth1: one end of a veth pair inside the host's namespace (no dummy module on the test machines)."""
    host.run(["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"])
    for dev in ("eth1", "eth1p"):
        host.run(["ip", "link", "set", dev, "up"])


def test_a_master_owns_its_second_interface_address_excluded_address_routes_and_rule(lab):
    a, b, obs = hosts(lab)
    second_interface(a)
    a.run(["ip", "route", "add", "blackhole", THEIRS_BLACKHOLE, "table", "100"])
    sniffer = Observer(obs)
    da = Vrrpd(a, [owner(150)]).start()
    wait_for(lambda: da.state() == "MASTER", 10, message="a never became master")
    wait_for(lambda: owned(a), 5, message=f"a's owned state incomplete: {table_100(a)} {rules(a)}")
    status = da.instance_status()
    assert status["excluded_addresses"] == [EXCLUDED]
    assert status["address_interfaces"] == {OTHER.split("/")[0]: "eth1"}
    states = {r["route"].split(" table")[0]: r["state"] for r in status["routes"]}
    assert states == {
        "203.0.113.128/25 via 198.51.100.1 dev eth0": "installed",
        f"blackhole {OURS_BLACKHOLE}": "installed",
        f"blackhole {THEIRS_BLACKHOLE}": "not ours",
    }
    assert status["rules"] == [{"rule": "from 198.51.100.0/24 lookup 100 priority 1000", "state": "installed"}]
    # keepalived 2.2.7 vrrp.c: the dev OTHER address is advertised, the excluded one never.
    wait_for(lambda: sniffer.adverts(src=A_IP), 5, message="no advert from a")
    assert {tuple(r["addresses"]) for r in sniffer.adverts(src=A_IP)} == {("198.51.100.100", "203.0.113.100")}

    # A higher-priority peer takes over (RFC 9568 §6.4.3): a releases everything it installed.
    db = Vrrpd(b, [instance(priority=200, addresses=[VIP])]).start()
    wait_for(lambda: da.state() == "BACKUP", 10, message="a never went back to backup")
    wait_for(lambda: released(a), 5, message=f"a kept something: {table_100(a)} {rules(a)}")

    # b gone: a is Master again, then SIGTERM takes everything away once more.
    db.stop()
    wait_for(lambda: da.state() == "MASTER", 10, message="a never took over again")
    wait_for(lambda: owned(a), 5, message="a's owned state incomplete after the second takeover")
    assert da.stop() == 0
    assert released(a), f"{table_100(a)} {rules(a)}"
