"""Unicast peers (issue #5 point 7), without a kernel: the per-peer checksum, the per-peer send loop and its error
counting, the receive filter, and the daemon's routing of received adverts when unicast and multicast instances
share an interface."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from daemoncase import started
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRPv3

from vrrpd.config import parse_config
from vrrpd.daemon import StartupError
from vrrpd.daemon.assembly import UnicastError, unicast_peers
from vrrpd.daemon.status import instance_status
from vrrpd.net import unicast as unicast_module
from vrrpd.net.sockets import Received
from vrrpd.net.unicast import UnicastPeers, is_local
from vrrpd.protocol import Advert, ChecksumForm, Family, InvalidAdvert, SendAdvert, decode, encode

OURS4, PEER4, OTHER4 = ip_address("198.51.100.11"), ip_address("198.51.100.12"), ip_address("198.51.100.13")
OURS6, PEER6 = ip_address("2001:db8::11"), ip_address("2001:db8::12")
GROUP4, GROUP6 = Family.IPV4.group, Family.IPV6.group
VIP4, VIP6 = ip_address("198.51.100.100"), ip_address("2001:db8::100")


# --- the checksum of a unicast advert --------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst", "vip"), [(OURS4, PEER4, VIP4), (OURS6, PEER6, VIP6)])
def test_issue5_7_pseudo_header_carries_the_peer_as_destination(src, dst, vip):
    """RFC 5798 §5.2.8 / RFC 8200 §8.1: the pseudo-header holds the IP destination, which for unicast is the peer
    (keepalived 2.2.7 sums it that way; only its `old_unicast_checksum` puts the group there)."""
    wire = encode(Advert(51, 200, 100, (vip,)), src, dst)
    assert decode(wire, src, dst).advert.priority == 200
    with pytest.raises(InvalidAdvert) as info:
        decode(wire, src, GROUP4 if src.version == 4 else GROUP6)
    assert info.value.reason == "checksum"
    # scapy, an independent implementation, computes the same sum for the unicast packet.
    if src.version == 4:
        layer = IP(bytes(IP(src=str(src), dst=str(dst), proto=112, ttl=255) / wire))[VRRPv3]
        rebuilt = IP(
            bytes(
                IP(src=str(src), dst=str(dst), proto=112) / VRRPv3(vrid=51, priority=200, adv=100, addrlist=[str(vip)])
            )
        )[VRRPv3]
    else:
        layer = IPv6(bytes(IPv6(src=str(src), dst=str(dst), nh=112, hlim=255) / wire))[VRRPv3]
        rebuilt = IPv6(
            bytes(
                IPv6(src=str(src), dst=str(dst), nh=112) / VRRPv3(vrid=51, priority=200, adv=100, addrlist=[str(vip)])
            )
        )[VRRPv3]
    assert layer.chksum == rebuilt.chksum


def test_issue5_7_message_only_and_v2_checksums_do_not_depend_on_the_destination():
    """RFC 9568 §5.2.8 (IPv4 message-only) and RFC 3768 (v2) sum the message alone: one copy fits every peer."""
    advert = Advert(51, 200, 100, (VIP4,))
    only = [encode(advert, OURS4, dst, ChecksumForm.MESSAGE_ONLY) for dst in (PEER4, OTHER4, GROUP4)]
    assert len(set(only)) == 1
    v2 = Advert(51, 200, 100, (VIP4,), version=2)
    assert len({encode(v2, OURS4, dst) for dst in (PEER4, OTHER4)}) == 1


# --- sending ------------------------------------------------------------------------------------------------


class FakeSock:
    def __init__(self, failing: set[Any] = frozenset()) -> None:
        self.failing = failing
        self.sent: list[tuple[bytes, Any, Any, int]] = []

    def send_to(self, wire: bytes, src: Any, dst: Any, ttl: int) -> None:
        if dst in self.failing:
            raise OSError(113, "No route to host")
        self.sent.append((wire, src, dst, ttl))

    def send(self, wire: bytes, src: Any) -> None:
        raise AssertionError("a unicast instance must never send to the multicast group")


def test_issue5_7_one_copy_per_peer_each_with_its_own_checksum_and_the_configured_ttl():
    peers = UnicastPeers((PEER4, OTHER4), OURS4, ttl=64, min_ttl=255)
    sock = FakeSock()
    advert = Advert(51, 200, 100, (VIP4,))
    assert peers.transmit(sock, advert, ChecksumForm.PSEUDO_HEADER) == []
    assert [(src, dst, ttl) for _, src, dst, ttl in sock.sent] == [(OURS4, PEER4, 64), (OURS4, OTHER4, 64)]
    for wire, src, dst, _ in sock.sent:
        assert decode(wire, src, dst).advert == advert
    assert [p.adverts_sent for p in peers.peers] == [1, 1]


def test_issue5_7_a_send_error_to_one_peer_is_counted_for_it_and_the_others_still_get_the_advert():
    peers = UnicastPeers((PEER4, OTHER4, ip_address("203.0.113.7")), OURS4, ttl=255, min_ttl=255)
    sock = FakeSock(failing={PEER4})
    advert = Advert(51, 200, 100, (VIP4,))
    for _ in range(3):
        failures = peers.transmit(sock, advert, ChecksumForm.PSEUDO_HEADER)
        assert [peer for peer, _ in failures] == [PEER4]
    assert [dst for _, _, dst, _ in sock.sent] == [OTHER4, ip_address("203.0.113.7")] * 3
    status = peers.status()
    assert status["peers"][0] == {
        "address": str(PEER4),
        "adverts_sent": 0,
        "send_errors": 3,
        "last_error": "No route to host",
    }
    assert [(p["adverts_sent"], p["send_errors"]) for p in status["peers"][1:]] == [(3, 0), (3, 0)]
    assert (status["source"], status["ttl"], status["min_ttl"]) == (str(OURS4), 255, 255)


def test_issue6_an_unchanged_advert_is_encoded_once_per_peer_with_that_peer_in_the_checksum():
    peers = UnicastPeers((PEER4, OTHER4), OURS4, ttl=255, min_ttl=255)
    sock = FakeSock()
    advert = Advert(51, 200, 100, (VIP4,))
    with mock.patch.object(unicast_module, "encode", wraps=unicast_module.encode) as encode:
        for _ in range(3):
            peers.transmit(sock, advert, ChecksumForm.PSEUDO_HEADER)
        assert encode.call_count == 2
        peers.transmit(sock, Advert(51, 0, 100, (VIP4,)), ChecksumForm.PSEUDO_HEADER)
        assert encode.call_count == 4
    wires = {dst: wire for wire, _, dst, _ in sock.sent[:2]}
    assert set(wires) == {PEER4, OTHER4}
    for dst, wire in wires.items():
        assert decode(wire, OURS4, dst).advert.priority == 200  # each copy's checksum names its own peer


# --- the receive filter ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "ttl", "min_ttl", "expected"),
    [
        (PEER4, OURS4, 255, 255, None),
        (OTHER4, OURS4, 255, 255, "unicast_unknown_peer"),
        (PEER4, GROUP4, 255, 255, "multicast"),  # keepalived: "Expected unicast packet but received multicast"
        (PEER4, OURS4, 254, 255, "ttl"),  # RFC 9568 §7.1 by default
        (PEER4, OURS4, 254, 254, None),  # a routed peer one hop away, once allowed
        (PEER4, OURS4, 253, 254, "ttl"),  # ...but not two hops away
        (PEER6, OURS6, 255, 255, None),
        (PEER6, GROUP6, 255, 255, "multicast"),
    ],
)
def test_issue5_7_receive_filter(src, dst, ttl, min_ttl, expected):
    peers = UnicastPeers((PEER4, PEER6), OURS4, ttl=255, min_ttl=min_ttl)
    rejected = peers.filter.reject(src, dst, ttl)
    assert (rejected.reason if rejected else None) == expected


def test_issue5_7_is_local_tells_our_addresses_from_others():
    assert is_local(ip_address("127.0.0.1"), 0)
    assert is_local(ip_address("::1"), 0)
    assert not is_local(ip_address("198.51.100.250"), 0)  # a documentation address no host here has


def test_the_address_lists_hold_this_hosts_addresses_without_root():
    """SIOCGIFCONF and /proc/net/if_inet6 need no privilege; loopback is in every namespace."""
    v4 = unicast_module.ipv4_addresses()
    assert ip_address("127.0.0.1") in v4
    assert ip_address("198.51.100.250") not in v4
    v6 = unicast_module.ipv6_addresses()
    try:
        loopback6 = "0" * 31 + "1" in Path("/proc/net/if_inet6").read_text()
    except OSError:  # IPv6 disabled on the test host
        loopback6 = False
    assert ((ip_address("::1"), socket.if_nametoindex("lo")) in v6) == loopback6


IF_INET6 = """\
20010db8000000000000000000000011 04 40 00 80     eth0
20010db8000000000000000000000021 04 40 00 c0     eth0
20010db8000000000000000000000031 04 40 00 40     eth0
20010db8000000000000000000000041 04 40 00 88     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000000000000000011 04 40 20 80     eth0
"""


def test_if_inet6_parser_reads_address_and_ifindex_and_leaves_out_tentative_and_dad_failed():
    """0xc0 (tentative | permanent) and 0x40 are still in DAD, 0x88 failed it: none of them can be a source."""
    assert unicast_module.parse_if_inet6(IF_INET6) == [
        (ip_address("2001:db8::11"), 4),
        (ip_address("::1"), 1),
        (ip_address("fe80::11"), 4),
    ]
    assert unicast_module.parse_if_inet6("") == []


def test_is_local_falls_back_to_the_address_lists_when_the_connect_check_says_no(monkeypatch):
    """A secondary address in the primary's subnet: the kernel's preferred source for it is the primary, so the
    connect check answers "no" (the bug the reload tests found); the exact lists say yes. A link-local address
    counts only on its own interface."""
    monkeypatch.setattr(unicast_module, "ipv4_addresses", lambda: {ip_address("198.51.100.21")})
    ours6 = [(ip_address("2001:db8::21"), 4), (ip_address("fe80::21"), 4)]
    monkeypatch.setattr(unicast_module, "ipv6_addresses", lambda: ours6)
    assert is_local(ip_address("198.51.100.21"), 4)
    assert not is_local(ip_address("198.51.100.22"), 4)
    assert is_local(ip_address("2001:db8::21"), 7)
    assert is_local(ip_address("fe80::21"), 4)
    assert not is_local(ip_address("fe80::21"), 7)


def test_issue5_7_peers_that_are_our_own_addresses_are_left_out_and_none_left_is_an_error():
    """One file listing every router serves them all: each leaves itself out. A list of only ourselves cannot work.
    (::1 stands in for this host's own address: the config refuses them, so the fields are set directly.)"""
    base = parse_config("instances:\n  - {name: u, interface: lo, vrid: 1, virtual_addresses: [2001:db8::1/64]}\n")
    us, peer, source = ip_address("::1"), ip_address("2001:db8::12"), ip_address("::1")
    cfg = replace(base.instances[0], unicast_peers=(peer, us), unicast_source=None)
    peers = unicast_peers(cfg, source, 1)
    assert peers is not None
    assert [p.address for p in peers.peers] == [peer]
    assert peers.source == source
    with pytest.raises(UnicastError, match=r"every unicast peer \(::1\) is an address of this host"):
        unicast_peers(replace(cfg, unicast_peers=(us,)), source, 1)
    not_ours = replace(cfg, unicast_source=ip_address("2001:db8::250"))
    with pytest.raises(UnicastError, match=r"unicast_source 2001:db8::250 is not an address of this host"):
        unicast_peers(not_ours, source, 1)


def test_issue5_7_multicast_instance_has_no_unicast_peers():
    cfg = parse_config("instances:\n  - {name: m, interface: lo, vrid: 1, virtual_addresses: [198.51.100.1/24]}\n")
    assert unicast_peers(cfg.instances[0], OURS4, 1) is None


# --- the daemon: routing received adverts, sending, status ------------------------------------------------------

CONFIG = """\
control_socket: /tmp/vrrpd-test-unused.sock
instances:
  - {name: uni, interface: eth0, vrid: 51, priority: 100, virtual_addresses: [198.51.100.100/24],
     unicast_peers: [198.51.100.12], unicast_min_ttl: 254}
  - {name: multi, interface: eth0, vrid: 52, priority: 100, virtual_addresses: [198.51.100.101/24]}
"""


def advert(vrid: int, src: Any, dst: Any, ttl: int = 255, vip: Any = VIP4) -> Received:
    wire = encode(Advert(vrid, 200, 100, (vip,)), src, dst)
    return Received(src=src, dst=dst, ttl=ttl, payload=wire, ifindex=2)


def test_issue5_7_receive_routes_unicast_and_multicast_instances_on_one_interface():
    async def body() -> None:
        case = await started(textwrap.dedent(CONFIG))
        uni, multi = case.inst("uni"), case.inst("multi")
        link, sock = case.daemon.links[("eth0", Family.IPV4)], case.sockets.socket("eth0")
        cases = [
            advert(51, PEER4, OURS4),  # accepted: a listed peer, to us
            advert(51, PEER4, OURS4, ttl=254),  # accepted: unicast_min_ttl 254
            advert(51, PEER4, OURS4, ttl=253),  # ttl
            advert(51, OTHER4, OURS4),  # unicast_unknown_peer
            advert(51, PEER4, GROUP4),  # multicast advert for the unicast instance
            advert(52, PEER4, GROUP4, vip=ip_address("198.51.100.101")),  # accepted: multicast instance
            advert(52, PEER4, OURS4, vip=ip_address("198.51.100.101")),  # V15: unicast to a multicast instance
            advert(52, PEER4, GROUP4, ttl=254, vip=ip_address("198.51.100.101")),  # multicast keeps TTL 255 only
            advert(53, PEER4, GROUP4),  # no such VRID: counted on the link
        ]
        for packet in cases:
            sock.deliver(packet)
        case.daemon.listener.on_readable(link)
        assert uni.router.counters.adverts_received == 2
        assert dict(uni.router.counters.drops) == {"ttl": 1, "unicast_unknown_peer": 1, "multicast": 1}
        assert multi.router.counters.adverts_received == 1
        assert dict(multi.router.counters.drops) == {"unicast": 1, "ttl": 1}
        assert link.drops == {"vrid": 1}
        await case.stop()

    asyncio.run(body())


def test_issue5_7_daemon_sends_to_each_peer_never_to_the_group_and_status_shows_peers():
    async def body() -> None:
        case = await started(textwrap.dedent(CONFIG))
        uni, sock = case.inst("uni"), case.sockets.socket("eth0")
        assert uni.tx is sock
        sock.unreachable.add(PEER4)
        case.daemon.driver.send(uni, SendAdvert(Advert(51, 100, 100, (VIP4,))))
        assert sock.sent == []  # the only peer failed, and nothing went to the group
        assert uni.send_errors == 1
        status = instance_status(uni, 0.0, case.daemon.notifier)
        assert status["unicast"]["peers"] == [
            {"address": str(PEER4), "adverts_sent": 0, "send_errors": 1, "last_error": "No route to host"}
        ]
        assert instance_status(case.inst("multi"), 0.0, case.daemon.notifier)["unicast"] is None
        await case.stop()

    asyncio.run(body())


def test_issue5_7_startup_error_names_the_instance():
    async def body() -> None:
        text = CONFIG.replace("unicast_min_ttl: 254", "unicast_source: 198.51.100.250")
        with pytest.raises(StartupError, match=r"uni: unicast_source 198\.51\.100\.250 is not an address of this host"):
            await started(textwrap.dedent(text))

    asyncio.run(body())
