"""Virtual MAC helpers, the sysctl keeper, the Accept_Mode nft script and FakeNetlink's macvlan calls."""

from __future__ import annotations

import asyncio
import errno
import json
from ipaddress import ip_address

import pytest

from vrrpd.net import firewall
from vrrpd.net.fakes import FakeNetlink
from vrrpd.net.netlink import NetlinkError
from vrrpd.net.sysctl import Sysctls, conf_key
from vrrpd.net.vmac import IFNAMSIZ, macvlan_name, virtual_mac
from vrrpd.protocol.packet import Family


def test_9568_7_3_virtual_router_mac():
    assert virtual_mac(Family.IPV4, 51) == "00:00:5e:00:01:33"
    assert virtual_mac(Family.IPV6, 255) == "00:00:5e:00:02:ff"
    assert virtual_mac(Family.IPV4, 1) == "00:00:5e:00:01:01"
    with pytest.raises(ValueError):
        virtual_mac(Family.IPV4, 0)


def test_macvlan_names_fit_ifnamsiz():
    assert macvlan_name(Family.IPV4, 51) == "vrrp4-51"
    assert macvlan_name(Family.IPV6, 255) == "vrrp6-255"
    # The same VRID and family on several interfaces: the parent's ifindex keeps the names apart.
    assert macvlan_name(Family.IPV4, 51, 2) == "v4-2-51"
    assert len(macvlan_name(Family.IPV6, 255, 2**31 - 1)) < IFNAMSIZ


# --- sysctls ------------------------------------------------------------------------------------------------


@pytest.fixture
def proc(tmp_path):
    root = tmp_path / "sys"
    for key, value in {"net/ipv4/conf/eth0.100/arp_ignore": "0", "net/ipv4/conf/eth0.100/arp_announce": "2"}.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(f"{value}\n")
    return root


def test_sysctl_raised_then_restored_and_the_state_file_removed(proc, tmp_path):
    state = tmp_path / "restore.json"
    sysctls = Sysctls(state, root=proc)
    ignore, announce = conf_key(4, "eth0.100", "arp_ignore"), conf_key(4, "eth0.100", "arp_announce")
    assert ignore == "net/ipv4/conf/eth0.100/arp_ignore"  # a dotted ifname stays one path component
    sysctls.ensure_at_least(ignore, 1)
    sysctls.ensure_at_least(announce, 2)  # already 2: left alone, nothing to restore
    assert sysctls.read(ignore) == "1"
    assert json.loads(state.read_text()) == {ignore: "0"}
    assert sysctls.status() == {"net.ipv4.conf.eth0.100.arp_ignore": {"set": "1", "original": "0"}}
    sysctls.restore()
    assert sysctls.read(ignore) == "0" and sysctls.read(announce) == "2"
    assert not state.exists()


def test_sysctl_originals_survive_a_crash(proc, tmp_path):
    state = tmp_path / "restore.json"
    key = conf_key(4, "eth0.100", "arp_ignore")
    Sysctls(state, root=proc).ensure_at_least(key, 1)  # then "kill -9": no restore
    restarted = Sysctls(state, root=proc)
    restarted.ensure_at_least(key, 1)  # already 1 now, but the original 0 is still known
    restarted.restore()
    assert restarted.read(key) == "0"


def test_sysctl_restore_of_a_vanished_interface_is_quiet(proc, tmp_path):
    sysctls = Sysctls(None, root=proc)
    sysctls.originals["net/ipv4/conf/gone/arp_ignore"] = "0"
    sysctls.restore()
    assert sysctls.originals == {}


# --- Accept_Mode nft script ----------------------------------------------------------------------------------


def test_firewall_ruleset_drops_vip_traffic_but_lets_neighbour_discovery_through():
    rules = firewall.RULESET
    assert "table inet vrrpd {}\ndelete table inet vrrpd\n" in rules  # replaces a crashed run's table
    assert "hook input" in rules
    nd = rules.index("nd-neighbor-solicit, nd-neighbor-advert } accept")
    assert nd < rules.index(f"ip6 daddr @{firewall.SET6} counter drop")  # RFC 9568 §6.1: NS/NA not dropped


def test_firewall_element_commands_split_by_family():
    script = firewall.elements("add", [ip_address("198.51.100.100"), ip_address("2001:db8::100")])
    assert script == (
        "add element inet vrrpd no_accept4 { 198.51.100.100 }\nadd element inet vrrpd no_accept6 { 2001:db8::100 }\n"
    )


def test_firewall_without_nft_warns_and_stays_disabled(caplog):
    fw = firewall.Firewall(nft="vrrpd-no-such-nft-binary")
    assert asyncio.run(fw.start()) is False
    assert not fw.enabled and fw.reason == "nft not found"
    assert "accept_mode: false cannot be enforced" in caplog.text
    asyncio.run(fw.block([ip_address("198.51.100.100")]))  # a no-op, not an error
    assert fw.status()["blocked"] == []


# --- FakeNetlink macvlans -----------------------------------------------------------------------------------


def test_fake_netlink_macvlan_life_cycle():
    async def scenario() -> None:
        nl = FakeNetlink()
        parent = nl.add_link("eth0")
        info = await nl.add_macvlan(parent.index, "vrrp4-51", "00:00:5e:00:01:33")
        assert (info.kind, info.parent, info.mac, info.up) == ("macvlan", parent.index, "00:00:5e:00:01:33", False)
        with pytest.raises(NetlinkError) as exc:
            await nl.add_macvlan(parent.index, "vrrp4-51", "00:00:5e:00:01:33")
        assert exc.value.errno == errno.EEXIST
        await nl.set_link(info.index, up=True)
        assert (await nl.link("vrrp4-51")).up
        await nl.set_link(info.index, protodown=True)
        link = await nl.link("vrrp4-51")
        assert (link.up, link.protodown) == (False, True)  # protodown: no carrier, although admin up
        await nl.set_link(info.index, protodown=False)
        assert (await nl.link("vrrp4-51")).up
        await nl.delete_link(info.index)
        await nl.delete_link(info.index)  # idempotent
        with pytest.raises(NetlinkError):
            await nl.link("vrrp4-51")

    asyncio.run(scenario())
