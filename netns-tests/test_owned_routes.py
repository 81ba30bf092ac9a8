"""What a Master owns besides its advertised addresses, on a real kernel (issue #12, rule 6): an address on a
second interface (keepalived's ``dev OTHER``), an excluded address, routes in table 100 and a policy rule. They
appear while Master and vanish when a higher-priority peer takes over and on SIGTERM; a route that was there before
vrrpd is never removed; the excluded address is never in an advert (checked on the wire by the independent
sniffer, helpers/advert_sniffer.py)."""

from __future__ import annotations

import json
from typing import Any

import yaml
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
    """`ip -j ARGV`; a table that does not exist (yet, or any more: the kernel drops an empty one) is empty."""
    done = host.run(["ip", "-j", *argv], check=False)
    if done.returncode != 0 and "does not exist" in done.stderr:
        return []
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "[]")


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


def kernel_state(host: Host) -> dict[str, Any]:
    """What a Master's owned objects look like to `ip -j`: addresses on eth0 and eth1, table 100, the main table's
    blackholes, the rules at 1000 and 1001. The routing protocol tag is left out (keepalived writes its own)."""
    keys = ("dst", "gateway", "dev", "metric", "type", "prefsrc", "scope")
    return {
        "eth0": sorted(addresses(host, "eth0")),
        "eth1": sorted(a for a in addresses(host, "eth1") if not a.startswith("fe80")),
        "table 100": sorted(json.dumps({k: r.get(k) for k in keys}) for r in table_100(host)),
        "blackholes": sorted(r["dst"] for r in ip_json(host, "route", "show", "type", "blackhole")),
        "rules": sorted(
            json.dumps({k: r.get(k) for k in ("priority", "src", "srclen", "dst", "dstlen", "table")})
            for r in ip_json(host, "rule", "show")
            if r.get("priority") in (1000, 1001)
        ),
    }


KEEPALIVED_OWNED = [
    "virtual_ipaddress_excluded {",
    f"    {EXCLUDED}",
    "    2001:db8:60::1/64 dev eth1",
    "}",
    "virtual_routes {",
    "    203.0.113.128/25 via 198.51.100.1 dev eth0 table 100 metric 10",
    f"    blackhole {OURS_BLACKHOLE} table 100 no_track",
    "    blackhole 198.51.100.240/28 no_track",
    "    203.0.113.0/26 dev eth1 scope link table 100",
    "}",
    "virtual_rules {",
    "    from 198.51.100.0/24 table 100 priority 1000",
    "    to 203.0.113.0/24 table 100 priority 1001",
    "}",
]


def test_the_same_keepalived_conf_gives_the_same_kernel_state_under_keepalived_and_converted_under_vrrpd(lab):
    """keepalived 2.2.7 runs a keepalived.conf with a dev OTHER address, excluded addresses, routes (table 100 and
    main, blackholes, a scope link route) and rules; then vrrpd runs what `vrrpctl import-keepalived` makes of
    the same file. As Master both leave the same addresses, routes and rules in the kernel; stopped, neither
    leaves any."""
    from peers import Keepalived

    from vrrpd.importer import import_keepalived

    a, _, _ = hosts(lab)
    second_interface(a)
    before = kernel_state(a)
    k = Keepalived(a, 60, 150, [VIP], advert_int=0.1, extra_instance_config=KEEPALIVED_OWNED, name="VI_owned")
    # keepalived's own `dev OTHER` line, in its virtual_ipaddress block beside the plain address.
    k.addresses.append(f"{OTHER} dev eth1")
    k.start()
    wait_for(lambda: k.state() == "MASTER", 15, message=f"keepalived never became master:\n{k.log()[-2000:]}")
    wait_for(lambda: OTHER in addresses(a, "eth1") and rules(a), 5, message="keepalived's state incomplete")
    wait_for(lambda: len(kernel_state(a)["rules"]) == 2 and len(kernel_state(a)["table 100"]) >= 3, 5)
    as_keepalived = kernel_state(a)
    assert k.stop() == 0
    wait_for(lambda: kernel_state(a) == before, 5, message="keepalived left something behind")

    result = import_keepalived(str(k.conf_path))
    assert [m.text for m in result.messages if m.severity == "warning"] == []
    instances = yaml.safe_load(result.yaml)["instances"]
    for inst in instances:
        inst.pop("notify", None)  # keepalived's notify script is not the point here
    d = Vrrpd(a, instances).start()
    wait_for(lambda: d.state("VI_owned") == "MASTER", 10, message="vrrpd never became master")
    wait_for(
        lambda: kernel_state(a) == as_keepalived, 5, message=f"vrrpd differs: {kernel_state(a)} vs {as_keepalived}"
    )
    assert d.stop() == 0
    assert kernel_state(a) == before
