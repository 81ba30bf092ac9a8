"""Addresses on another interface, excluded addresses, routes and rules of an instance (issue #12, rule 6):
keepalived's ``virtual_ipaddress { ADDR dev OTHER }``, ``virtual_ipaddress_excluded``, ``virtual_routes`` and
``virtual_rules`` (keepalived 2.2.7 vrrp_parser.c, vrrp_iproute.c, vrrp_iprule.c). Every error is one sentence that
names the file, the key path and the line."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network

import pytest
from configcase import BASE, FILE, instance_keys_parsers

from vrrpd.config.routes import RouteConfig, RouteScope, RouteType, RuleConfig

parse, error = instance_keys_parsers(BASE)
# Line 1 = "instances:"; a key given to parse()/error() is on line 6.


def test_an_address_may_name_its_interface_beside_plain_ones():
    config = parse(
        """\
        excluded_addresses: [198.51.100.9/24, {address: "2001:db8::9/64", interface: eth2}]
        """,
        base=BASE.replace("[198.51.100.1/24]", "[198.51.100.1/24, {address: 203.0.113.5/24, interface: eth1}]"),
    )
    inst = config.instances[0]
    assert inst.virtual_addresses == (ip_interface("198.51.100.1/24"), ip_interface("203.0.113.5/24"))
    assert inst.excluded_addresses == (ip_interface("198.51.100.9/24"), ip_interface("2001:db8::9/64"))
    assert inst.interface_of(ip_address("203.0.113.5")) == "eth1"
    assert inst.interface_of(ip_address("2001:db8::9")) == "eth2"
    assert inst.interface_of(ip_address("198.51.100.1")) == "eth0"
    # Only the advertised addresses reach the protocol core (keepalived: excluded ones are never in an advert).
    assert inst.router_config().addresses == (ip_address("198.51.100.1"), ip_address("203.0.113.5"))


def test_routes_and_rules_parse_to_typed_values():
    config = parse(
        """\
        routes:
          - {to: 203.0.113.0/24, via: 198.51.100.254, interface: eth0, table: 100, metric: 10, src: 198.51.100.1}
          - {to: 198.51.100.128/25, type: blackhole, table: 100}
          - {to: 203.0.113.128/25, interface: eth1, scope: link}
        rules:
          - {from: 198.51.100.0/24, table: 100, priority: 1000}
          - {table: 100}
        """
    )
    inst = config.instances[0]
    assert inst.routes == (
        RouteConfig(
            ip_network("203.0.113.0/24"),
            ip_address("198.51.100.254"),
            "eth0",
            100,
            10,
            ip_address("198.51.100.1"),
        ),
        RouteConfig(ip_network("198.51.100.128/25"), table=100, type=RouteType.BLACKHOLE),
        RouteConfig(ip_network("203.0.113.128/25"), interface="eth1", scope=RouteScope.LINK),
    )
    assert inst.rules == (
        RuleConfig(100, src=ip_network("198.51.100.0/24"), priority=1000, family=4),
        RuleConfig(100, family=4),  # neither from nor to: the instance's family
    )
    assert str(inst.routes[0]) == "203.0.113.0/24 via 198.51.100.254 dev eth0 table 100 metric 10 src 198.51.100.1"
    assert str(inst.rules[0]) == "from 198.51.100.0/24 lookup 100 priority 1000"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "excluded_addresses: [198.51.100.1/24]",
            "instances[0].excluded_addresses (line 6): 198.51.100.1 is also in virtual_addresses; list it once",
        ),
        (
            "excluded_addresses: [{address: 198.51.100.9/24, interface: 'eth 1'}]",
            "instances[0].excluded_addresses[0].interface (line 6): 'eth 1' is not a valid Linux interface name",
        ),
        (
            "excluded_addresses: [{interface: eth1}]",
            "instances[0].excluded_addresses[0] (line 6): missing required key address",
        ),
        (
            "excluded_addresses: [{address: 198.51.100.9/24, dev: eth1}]",
            "instances[0].excluded_addresses[0].dev (line 6)",
        ),
        (
            "routes: [{to: 203.0.113.0/24, via: '2001:db8::1'}]",
            "instances[0].routes[0].via (line 6): 2001:db8::1 is not IPv4 like to 203.0.113.0/24 (one family per "
            "entry)",
        ),
        (
            "routes: [{to: 203.0.113.1/24, via: 198.51.100.254}]",
            "instances[0].routes[0].to (line 6): '203.0.113.1/24' is not a network (203.0.113.1/24 has host bits set)",
        ),
        (
            "routes: [{to: 203.0.113.0/24}]",
            "instances[0].routes[0] (line 6): route to 203.0.113.0/24 needs via (a gateway), interface, or type: "
            "blackhole",
        ),
        (
            "routes: [{to: 203.0.113.0/24, type: blackhole, via: 198.51.100.254}]",
            "instances[0].routes[0].via (line 6): means nothing for a blackhole route; remove it",
        ),
        (
            "routes: [{to: 203.0.113.0/24, via: 198.51.100.254, table: 0}]",
            "instances[0].routes[0].table (line 6)",
        ),
        (
            "rules: [{from: 198.51.100.0/24}]",
            "instances[0].rules[0] (line 6): missing required key table",
        ),
        (
            "rules: [{from: 198.51.100.0/24, to: '2001:db8::/32', table: 100}]",
            "instances[0].rules[0].to (line 6): 2001:db8::/32 is not IPv4 like from 198.51.100.0/24 (one family "
            "per entry)",
        ),
        (
            "rules: [{from: 198.51.100.0/24, table: 100}, {from: 198.51.100.0/24, table: 100}]",
            "instances[0].rules[1] (line 6): from 198.51.100.0/24 lookup 100 is already listed at "
            "instances[0].rules[0]",
        ),
    ],
)
def test_errors_name_file_key_and_line(extra: str, expected: str) -> None:
    message = error(extra)
    assert message.startswith(f"{FILE}: ")
    assert expected in message, message


def test_vrrpd_check_lists_what_a_master_holds_beyond_its_advertised_addresses(tmp_path) -> None:
    """`vrrpd check` shows them (issue #12, rule 6): an imported keepalived.conf puts them in places an operator
    may not expect (another interface, another table)."""
    from click.testing import CliRunner

    from vrrpd.cli.daemon import main

    path = tmp_path / "vrrpd.yaml"
    path.write_text(
        BASE.replace("[198.51.100.1/24]", "[198.51.100.1/24, {address: 203.0.113.5/24, interface: eth1}]")
        + "    excluded_addresses: [198.51.100.9/24]\n"
        + "    routes: [{to: 203.0.113.0/24, via: 198.51.100.254, table: 100}]\n"
        + "    rules: [{from: 198.51.100.0/24, table: 100}]\n"
    )
    result = CliRunner().invoke(main, ["check", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  a: 203.0.113.5/24 on eth1",
        "  a: excluded 198.51.100.9/24 on eth0 (not advertised)",
        "  a: route 203.0.113.0/24 via 198.51.100.254 table 100 (while Master)",
        "  a: rule from 198.51.100.0/24 lookup 100 (while Master)",
    ]


def test_the_commented_examples_of_etc_vrrpd_yaml_load_when_uncommented() -> None:
    from pathlib import Path

    from configcase import uncomment

    from vrrpd.config import parse_config

    example = Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml"
    text = example.read_text()
    for key in ("excluded_addresses", "routes", "rules"):
        text = uncomment(text, key, "    ")
    text = uncomment(text, "- address", "      ")  # an address on another interface, in virtual_addresses
    config = parse_config(text, str(example))
    inst = config.instances[0]
    assert len(inst.excluded_addresses) == 2 and len(inst.routes) == 2 and len(inst.rules) == 1
    assert [r.type.value for r in inst.routes] == ["unicast", "blackhole"] and inst.routes[0].metric == 10
    assert inst.interface_of(inst.virtual_addresses[2].ip) == "eth1"
    assert config.warnings == ()


def test_two_instances_holding_one_address_on_one_interface_is_an_error_whichever_list_it_is_in() -> None:
    """Two Masters would add and remove it under each other: refused, as for VIPs (a case the config check had)."""
    from configcase import error as doc_error

    second = (
        "  - name: b\n    interface: eth0\n    vrid: 2\n    virtual_addresses: [198.51.100.2/24]\n"
        "    excluded_addresses: [198.51.100.1/24]\n"
    )
    message = doc_error(BASE + second)
    assert "instances[1].excluded_addresses (line 10): 198.51.100.1 is already a virtual address of instance 'a'" in (
        message
    )
    elsewhere = second.replace("[198.51.100.1/24]", "[{address: 198.51.100.1/24, interface: eth1}]")
    assert parse("", base=BASE + elsewhere).warnings  # on another interface: a warning, as for VIPs
