"""keepalived's ``virtual_ipaddress { ADDR dev OTHER }``, ``virtual_ipaddress_excluded``, ``virtual_routes`` and
``virtual_rules`` -> vrrpd's per-address interface, `excluded_addresses`, `routes` and `rules` (issue #12, rule 6).
Before, the dev address was put on the VRRP interface (the wrong link) and the three blocks were reported as
unmapped. The grammar is keepalived 2.2.7's (vrrp_iproute.c alloc_route, vrrp_iprule.c alloc_rule)."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml

from vrrpd.config import parse_config
from vrrpd.config.routes import RouteConfig, RouteScope, RouteType, RuleConfig
from vrrpd.importer import import_keepalived

CONFS = Path(__file__).resolve().parent / "keepalived-confs"


def test_the_owned_fixture_maps_every_line():
    result = import_keepalived(str(CONFS / "owned.conf"))
    assert [m.text for m in result.messages if m.severity == "warning"] == []
    (inst,) = parse_config(result.yaml, "<test>").instances
    assert inst.virtual_addresses == (ip_interface("198.51.100.60/24"), ip_interface("203.0.113.60/24"))
    assert inst.excluded_addresses == (ip_interface("198.51.100.61/24"), ip_interface("2001:db8:60::1/64"))
    assert inst.address_interfaces == ((ip_address("203.0.113.60"), "eth1"), (ip_address("2001:db8:60::1"), "eth1"))
    via = ip_address("198.51.100.1")
    assert inst.routes == (
        RouteConfig(ip_network("203.0.113.128/25"), via, "eth0", 100, 10),
        RouteConfig(ip_network("0.0.0.0/0"), via, "eth0", 100, src=ip_address("198.51.100.60")),
        RouteConfig(ip_network("198.51.100.128/25"), type=RouteType.BLACKHOLE),
        RouteConfig(ip_network("203.0.113.0/24"), interface="eth1", table=100, scope=RouteScope.LINK),
    )
    assert inst.rules == (
        RuleConfig(100, src=ip_network("198.51.100.0/24"), priority=1000, family=4),
        RuleConfig(100, dst=ip_network("203.0.113.0/24"), priority=1001, family=4),
    )
    # no_track has no vrrpd form: a note, not a warning (vrrpd never watches its routes).
    assert any("no_track: vrrpd does not watch" in m.text for m in result.messages if m.severity == "note")


def convert_block(tmp_path: Path, block: str) -> tuple[dict[str, Any], list[str]]:
    text = (
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n"
        f"        198.51.100.1/24\n    }}\n{block}\n}}\n"
    )
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    result = import_keepalived(str(path))
    parse_config(result.yaml, "<test>")  # what the importer writes is valid vrrpd YAML
    (inst,) = yaml.safe_load(result.yaml)["instances"]
    return inst, [m.text for m in result.messages if m.severity == "warning"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("203.0.113.0/24 via 198.51.100.254", {"to": "203.0.113.0/24", "via": "198.51.100.254"}),
        ("to 203.0.113.0/24 gw 198.51.100.254 table main", {"to": "203.0.113.0/24", "via": "198.51.100.254"}),
        ("default via 198.51.100.254 dev eth0", {"to": "0.0.0.0/0", "via": "198.51.100.254", "interface": "eth0"}),
        ("203.0.113.7 dev eth0 scope link", {"to": "203.0.113.7/32", "interface": "eth0", "scope": "link"}),
        ("unreachable 203.0.113.0/24 table 7", {"to": "203.0.113.0/24", "type": "unreachable", "table": 7}),
        (
            "203.0.113.0/24 via 198.51.100.254 preference 5",
            {"to": "203.0.113.0/24", "via": "198.51.100.254", "metric": 5},
        ),
    ],
)
def test_each_route_form(tmp_path: Path, line: str, expected: dict[str, Any]) -> None:
    inst, warnings = convert_block(tmp_path, f"    virtual_routes {{\n        {line}\n    }}")
    assert warnings == []
    assert inst["routes"] == [expected]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("from 198.51.100.0/24 table 100", {"from": "198.51.100.0/24", "table": 100}),
        ("from all to 203.0.113.7 lookup 7 pref 20", {"to": "203.0.113.7/32", "table": 7, "priority": 20}),
        ("from 198.51.100.1 table main preference 30", {"from": "198.51.100.1/32", "table": 254, "priority": 30}),
    ],
)
def test_each_rule_form(tmp_path: Path, line: str, expected: dict[str, Any]) -> None:
    inst, warnings = convert_block(tmp_path, f"    virtual_rules {{\n        {line}\n    }}")
    assert warnings == []
    assert inst["rules"] == [expected]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("virtual_routes {\n 203.0.113.0/24 via 198.51.100.254 onlink\n}", "'onlink' has no vrrpd form"),
        ("virtual_routes {\n 203.0.113.0/24 via 198.51.100.254 realms 3\n}", "'realms' has no vrrpd form"),
        ("virtual_routes {\n 203.0.113.0/24\n}", "needs via or dev for vrrpd"),
        ("virtual_rules {\n from 198.51.100.0/24 fwmark 1 table 100\n}", "fwmark 1 has no vrrpd form"),
        ("virtual_rules {\n from 198.51.100.0/24 goto 1000\n}", "goto 1000 has no vrrpd form"),
        ("virtual_rules {\n from 198.51.100.0/24\n}", "no table"),
    ],
)
def test_what_has_no_vrrpd_form_is_left_out_with_a_warning_naming_it(tmp_path: Path, block: str, expected: str):
    inst, warnings = convert_block(tmp_path, block)
    (warning,) = warnings
    assert expected in warning and "not imported" in warning
    assert "routes" not in inst and "rules" not in inst


def test_an_excluded_address_also_advertised_is_imported_once(tmp_path: Path) -> None:
    inst, warnings = convert_block(tmp_path, "    virtual_ipaddress_excluded {\n        198.51.100.1/24\n    }")
    assert "excluded_addresses" not in inst
    (warning,) = warnings
    assert "virtual_ipaddress_excluded 198.51.100.1/24: listed already; imported once" in warning
