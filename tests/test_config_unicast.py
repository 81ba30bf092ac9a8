"""Unicast keys of an instance (issue #5 point 7): unicast_peers, unicast_source, unicast_ttl, unicast_min_ttl.

Every error is one sentence naming the file, the key path and the line; an empty peer list is an error (never a
silent fallback to multicast), and so is any unicast key without peers on the instance itself.
"""

from __future__ import annotations

import re
from ipaddress import ip_address
from pathlib import Path

import pytest
from configcase import FILE, error, parse

from vrrpd.config import parse_config

# Line 1 = "instances:"; instances[0] keys follow from line 2, so an extra key given to v4()/v6() is on line 6.
BASE = """\
instances:
  - name: a
    interface: eth0
    vrid: 1
    virtual_addresses: [{vips}]
"""


def doc(*lines: str, vips: str = "198.51.100.1/24") -> str:
    return BASE.format(vips=vips) + "".join(f"    {line}\n" for line in lines)


def test_issue5_7_unicast_keys_parse_to_typed_values():
    config = parse(
        doc(
            "unicast_peers: [198.51.100.12, 203.0.113.7]",
            "unicast_source: 198.51.100.11",
            "unicast_ttl: 64",
            "unicast_min_ttl: 253",
        )
    )
    inst = config.instances[0]
    assert inst.unicast_peers == (ip_address("198.51.100.12"), ip_address("203.0.113.7"))
    assert inst.unicast_source == ip_address("198.51.100.11")
    assert (inst.unicast_ttl, inst.unicast_min_ttl) == (64, 253)
    assert config.warnings == ()


def test_issue5_7_defaults_are_multicast_and_rfc_ttl():
    inst = parse(doc()).instances[0]
    assert inst.unicast_peers == ()
    assert inst.unicast_source is None
    # RFC 9568 §5.1.1.3 / §7.1: sent with 255, and only 255 accepted unless configured otherwise.
    assert (inst.unicast_ttl, inst.unicast_min_ttl) == (255, 255)


def test_issue5_7_block_list_of_ipv6_peers_with_link_local():
    text = BASE.format(vips="2001:db8::100/64") + "    unicast_peers:\n      - fe80::12\n      - 2001:db8::12\n"
    inst = parse(text).instances[0]
    assert inst.unicast_peers == (ip_address("fe80::12"), ip_address("2001:db8::12"))


@pytest.mark.parametrize(
    ("lines", "vips", "expected"),
    [
        (
            ["unicast_peers: []"],
            "198.51.100.1/24",
            "instances[0].unicast_peers (line 6): is empty: an instance without peers would use multicast, and vrrpd "
            "never falls back to multicast silently; list the peers, or leave unicast_peers out for a multicast "
            "instance",
        ),
        (
            ["unicast_peers: 198.51.100.12"],
            "198.51.100.1/24",
            "instances[0].unicast_peers (line 6): expected a list of peer addresses, got '198.51.100.12'",
        ),
        (
            ["unicast_peers: [198.51.100.12/24]"],
            "198.51.100.1/24",
            "instances[0].unicast_peers[0] (line 6): '198.51.100.12/24' is an address, not a network: write it "
            "without a prefix length",
        ),
        (
            ["unicast_peers: ['fe80::1%eth0']"],
            "2001:db8::1/64",
            "instances[0].unicast_peers[0] (line 6): 'fe80::1%eth0' must not carry a zone; the instance's interface "
            "is the zone",
        ),
        (
            ["unicast_peers: [224.0.0.18]"],
            "198.51.100.1/24",
            "instances[0].unicast_peers[0] (line 6): 224.0.0.18 is not a unicast address",
        ),
        (
            ["unicast_peers: [peer-b]"],
            "198.51.100.1/24",
            "instances[0].unicast_peers[0] (line 6): 'peer-b' is not an IPv4 or IPv6 address",
        ),
        (
            ["unicast_peers:", "  - 198.51.100.12", "  - 198.51.100.13", "  - 198.51.100.12"],
            "198.51.100.1/24",
            "instances[0].unicast_peers[2] (line 9): 198.51.100.12 is already listed at instances[0].unicast_peers[0]",
        ),
        (
            ["unicast_peers: [2001:db8::12]"],
            "198.51.100.1/24",
            "instances[0].unicast_peers (line 6): 2001:db8::12 is not IPv4 like the instance's virtual addresses",
        ),
        (
            ["unicast_peers: [198.51.100.1]"],
            "198.51.100.1/24",
            "instances[0].unicast_peers (line 6): 198.51.100.1 is one of this instance's virtual addresses, not a peer",
        ),
        (
            ["unicast_peers: [198.51.100.12]", "unicast_source: 198.51.100.1"],
            "198.51.100.1/24",
            "instances[0].unicast_source (line 7): 198.51.100.1 is a virtual address, which a backup does not have: "
            "adverts must leave from an address of the host itself",
        ),
        (
            ["unicast_peers: [198.51.100.12]", "unicast_source: 198.51.100.12"],
            "198.51.100.1/24",
            "instances[0].unicast_source (line 7): 198.51.100.12 is also listed in unicast_peers",
        ),
        (
            ["unicast_peers: [198.51.100.12]", "unicast_source: 2001:db8::11"],
            "198.51.100.1/24",
            "instances[0].unicast_source (line 7): 2001:db8::11 is not IPv4 like the instance's virtual addresses",
        ),
        (
            ["unicast_peers: [198.51.100.12]", "unicast_ttl: 0"],
            "198.51.100.1/24",
            "instances[0].unicast_ttl (line 7): 0 is outside 1..255",
        ),
        (
            ["unicast_peers: [198.51.100.12]", "unicast_min_ttl: 256"],
            "198.51.100.1/24",
            "instances[0].unicast_min_ttl (line 7): 256 is outside 1..255",
        ),
        (
            ["unicast_source: 198.51.100.11"],
            "198.51.100.1/24",
            "instances[0].unicast_source (line 6): is set but unicast_peers is not, so this instance would use "
            "multicast; add unicast_peers or remove unicast_source",
        ),
        (
            ["unicast_min_ttl: 250"],
            "198.51.100.1/24",
            "instances[0].unicast_min_ttl (line 6): is set but unicast_peers is not, so this instance would use "
            "multicast; add unicast_peers or remove unicast_min_ttl",
        ),
    ],
)
def test_issue5_7_errors_name_file_key_and_line(lines, vips, expected):
    assert error(doc(*lines, vips=vips)) == f"{FILE}: {expected}"


def test_issue5_7_defaults_apply_to_unicast_instances_and_leave_multicast_ones_alone():
    text = """\
    defaults:
      unicast_ttl: 64
      unicast_min_ttl: 250
    instances:
      - {name: u, interface: eth0, vrid: 1, virtual_addresses: [198.51.100.1/24], unicast_peers: [198.51.100.12]}
      - {name: m, interface: eth0, vrid: 2, virtual_addresses: [198.51.100.2/24]}
    """
    config = parse(text)
    u, m = config.instances
    assert (u.unicast_ttl, u.unicast_min_ttl) == (64, 250)
    # Inherited TTLs on a multicast instance are not an error (defaults serve every instance), and do nothing:
    # the instance has no peers.
    assert m.unicast_peers == ()
    assert config.warnings == ()


def test_issue5_7_peers_from_defaults_are_checked_against_each_instance():
    text = """\
    defaults:
      unicast_peers: [198.51.100.12]
    instances:
      - {name: u, interface: eth0, vrid: 1, virtual_addresses: [2001:db8::1/64]}
    """
    assert error(text) == (
        f"{FILE}: instances[0] (line 4): 198.51.100.12 (from defaults.unicast_peers, line 2) is not IPv6 like the "
        "instance's virtual addresses"
    )


def test_issue5_7_routed_ipv6_peers_with_a_link_local_source_warn():
    config = parse(doc("unicast_peers: [2001:db8:1::12]", "unicast_min_ttl: 250", vips="2001:db8::1/64"))
    (warning,) = config.warnings
    assert warning == (
        f"{FILE}: instances[0].unicast_min_ttl (line 7): accepts routed peers (unicast_min_ttl 250), but adverts "
        "leave from the default source, the interface's link-local, which no router forwards; set unicast_source "
        "to a global address of this host"
    )
    config = parse(
        doc(
            "unicast_peers: [2001:db8:1::12]",
            "unicast_min_ttl: 250",
            "unicast_source: 2001:db8::11",
            vips="2001:db8::1/64",
        )
    )
    assert config.warnings == ()


def test_issue5_7_same_vrid_on_one_interface_is_still_one_router():
    # One (interface, family, VRID) is one virtual router, unicast or not: the receive path finds the instance by
    # VRID, so a unicast and a multicast instance must not share one.
    text = """\
    instances:
      - {name: u, interface: eth0, vrid: 1, virtual_addresses: [198.51.100.1/24], unicast_peers: [198.51.100.12]}
      - {name: m, interface: eth0, vrid: 1, virtual_addresses: [198.51.100.2/24]}
    """
    assert "VRID 1 is already used on eth0 for IPv4 by instance 'u'" in error(text)


def test_issue5_7_the_commented_unicast_keys_of_etc_vrrpd_yaml_load_when_uncommented():
    example = Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml"
    text = example.read_text()
    block = re.search(r"^    # (unicast_peers:)\n    #   (- .+)\n", text, re.MULTILINE)
    assert block
    text = text.replace(block.group(0), f"    {block.group(1)}\n      {block.group(2)}\n", 1)
    for key in ("unicast_source", "unicast_ttl", "unicast_min_ttl"):
        line = re.search(rf"^    # ({key}: .+)$", text, re.MULTILINE)
        assert line, key
        text = text.replace(line.group(0), f"    {line.group(1)}", 1)
    config = parse_config(text, str(example))
    inst = config.instances[0]
    assert inst.unicast_peers and inst.unicast_source is not None
    assert (inst.unicast_ttl, inst.unicast_min_ttl) == (255, 255)
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("unicast_peer", "vrrpd uses unicast_peers"),
        ("unicast_src_ip", "vrrpd uses unicast_source"),
        ("check_unicast_src", "vrrpd uses nothing: vrrpd always accepts unicast adverts only from unicast_peers"),
    ],
)
def test_issue5_7_keepalived_spellings_point_at_ours(key, hint):
    assert error(doc(f"{key}: [198.51.100.12]")) == (
        f"{FILE}: instances[0].{key} (line 6): unknown key (this is keepalived's name; {hint})"
    )
