"""vrrpctl import-keepalived: keepalived's unicast keywords (issue #5 point 7).

The fixture tests/keepalived-confs/unicast.conf is also run through real keepalived (`keepalived -t`) and the CLI by
tests/test_importer.py; here its mapping is checked field by field, and the cases that cannot map 1:1 each give
their message.
"""

from __future__ import annotations

import textwrap
from ipaddress import ip_address
from pathlib import Path

from vrrpd.config import parse_config
from vrrpd.importer import ImportResult, import_keepalived

CONFS = Path(__file__).resolve().parent / "keepalived-confs"


def convert(path: Path) -> ImportResult:
    return import_keepalived(str(path))


def messages(result: ImportResult, severity: str) -> list[str]:
    return [f"{m.line}: {m.text}" for m in result.messages if m.severity == severity]


def instance(tmp_path: Path, body: str, vip: str = "198.51.100.100/24") -> Path:
    path = tmp_path / "keepalived.conf"
    path.write_text(
        "global_defs {\n    vrrp_version 3\n}\n"
        f"vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 1\n"
        f"{textwrap.indent(textwrap.dedent(body), '    ')}"
        f"    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
    return path


def test_issue5_7_fixture_maps_every_unicast_keyword():
    result = convert(CONFS / "unicast.conf")
    assert result.complete, result.warnings
    config = parse_config(result.yaml, "<generated>")
    u4, u6, m4 = config.instances
    assert u4.unicast_peers == (ip_address("198.51.100.12"), ip_address("203.0.113.12"))
    assert u4.unicast_source == ip_address("198.51.100.11")
    assert (u4.unicast_ttl, u4.unicast_min_ttl) == (64, 250)  # min_ttl of the peers, not unicast_ttl
    # mcast_src_ip is keepalived's other name for the source of a unicast instance.
    assert u6.unicast_peers == (ip_address("2001:db8::12"),)
    assert u6.unicast_source == ip_address("2001:db8::11")
    # keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64 without unicast_ttl (seen on the wire).
    assert (u6.unicast_ttl, u6.unicast_min_ttl) == (255, 64)
    assert m4.unicast_peers == ()
    notes = messages(result, "note")
    assert "19: check_unicast_src: vrrpd always accepts unicast adverts only from the instance's unicast_peers" in notes
    assert "20: unicast_fault_no_peer: vrrpd refuses an empty unicast_peers, so it never applies" in notes
    assert "21: old_unicast_checksum never: vrrpd never uses the old form either" in notes
    assert any(n.startswith("31: unicast_peer: keepalived 2.2.7 sends IPv6 unicast adverts") for n in notes)
    assert any(n.startswith("31: unicast_peer: keepalived (without check_unicast_src) accepts") for n in notes)


def test_issue5_7_ipv4_without_ttl_keys_notes_the_rfc_ttl_check_and_routed_peers(tmp_path):
    result = convert(instance(tmp_path, "unicast_peer {\n    198.51.100.12\n}\n"))
    assert result.complete
    (inst,) = result.document["instances"]
    assert inst["unicast_peers"] == ["198.51.100.12"]
    assert "unicast_min_ttl" not in inst and "unicast_source" not in inst
    notes = messages(result, "note")
    assert any("for a peer N routers away, set unicast_min_ttl: 255 - N" in n for n in notes), notes


def test_issue5_7_global_vrrp_check_unicast_src_is_a_note(tmp_path):
    path = instance(tmp_path, "unicast_peer {\n    198.51.100.12\n}\n")
    path.write_text(path.read_text().replace("vrrp_version 3\n", "vrrp_version 3\n    vrrp_check_unicast_src\n"))
    result = convert(path)
    assert result.complete
    notes = messages(result, "note")
    assert "3: vrrp_check_unicast_src: vrrpd always accepts unicast adverts only from the instance's unicast_peers" in (
        notes
    )
    assert not any("without check_unicast_src" in n for n in notes)


def test_issue5_7_what_does_not_map_warns(tmp_path):
    body = """\
    unicast_src_ip 198.51.100.100
    unicast_peer {
        198.51.100.12 min_ttl 250
        198.51.100.13 max_ttl 200
        198.51.100.100
        2001:db8::12
        not-an-address
    }
    old_unicast_checksum
    """
    result = convert(instance(tmp_path, body))
    assert not result.complete
    warnings = messages(result, "warning")
    for expected in (
        "10: unicast_peer 198.51.100.13: max_ttl 200: vrrpd has no upper TTL bound; not imported",
        "11: unicast_peer 198.51.100.100: a virtual address of this instance, not a peer; not imported",
        "12: unicast_peer 2001:db8::12: not IPv4 like the instance's addresses; not imported",
        "13: unicast_peer not-an-address: not an IP address; not imported",
        "7: unicast_src_ip 198.51.100.100: a virtual address of this instance; not imported (vrrpd would refuse it)",
        "8: unicast_peer: min_ttl differs between peers (or some have none); vrrpd has one unicast_min_ttl per "
        "instance: imported as the lowest given, 250",
    ):
        assert expected in warnings, warnings
    assert any(w.startswith("15: old_unicast_checksum: not supported") for w in warnings)
    (inst,) = result.document["instances"]
    assert inst["unicast_peers"] == ["198.51.100.12", "198.51.100.13"]
    assert inst["unicast_min_ttl"] == 250
    assert "unicast_source" not in inst
    parse_config(result.yaml, "<generated>")  # and vrrpd accepts what was generated


def test_issue5_7_no_peers_is_a_loud_multicast_import(tmp_path):
    result = convert(instance(tmp_path, "unicast_ttl 10\nunicast_fault_no_peer\nunicast_peer {\n}\n"))
    (warning,) = messages(result, "warning")
    assert warning.startswith(
        "7: unicast_ttl: this instance has no usable unicast peer, so keepalived keeps it in FAULT"
    )
    assert "imported as a MULTICAST instance" in warning
    (inst,) = result.document["instances"]
    assert not [key for key in inst if key.startswith("unicast")]


def test_issue5_7_mcast_src_ip_on_a_multicast_instance_still_warns(tmp_path):
    result = convert(instance(tmp_path, "mcast_src_ip 198.51.100.11\n"))
    assert messages(result, "warning") == [
        "7: mcast_src_ip: vrrpd sends multicast adverts from the interface's primary address (IPv6: its "
        "link-local); not imported"
    ]
