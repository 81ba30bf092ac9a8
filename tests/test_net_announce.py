"""GARP and unsolicited NA frames against an independent decoder: scapy (tests only; never at run time)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.all import ARP, Ether, ICMPv6ND_NA, IPv6
from scapy.layers.inet6 import ICMPv6NDOptDstLLAddr, in6_chksum

from vrrpd.net.announce import build_garp, build_unsolicited_na, mac_bytes

MAC = "02:00:5e:00:01:05"
LINK_LOCAL = IPv6Address("fe80::1")


def test_garp_is_a_broadcast_arp_request_for_the_vip():
    vip = IPv4Address("198.51.100.100")
    frame = build_garp(MAC, vip)
    pkt = Ether(frame)
    assert len(frame) == 60  # padded to the Ethernet minimum
    assert pkt.dst == "ff:ff:ff:ff:ff:ff"
    assert pkt.src == MAC
    assert pkt.type == 0x0806
    arp = pkt[ARP]
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen) == (1, 0x0800, 6, 4)
    assert arp.op == 1  # who-has: a request, as FRR and keepalived send it
    assert arp.hwsrc == MAC
    assert arp.psrc == arp.pdst == str(vip)
    assert arp.hwdst == "ff:ff:ff:ff:ff:ff"


def test_9568_6_4_2_unsolicited_na_flags_target_and_tlla():
    vip = IPv6Address("2001:db8::100")
    frame = build_unsolicited_na(MAC, vip, LINK_LOCAL)
    pkt = Ether(frame)
    assert pkt.dst == "33:33:00:00:00:01"  # RFC 2464 mapping of ff02::1
    assert pkt.src == MAC
    assert pkt.type == 0x86DD
    ip6 = pkt[IPv6]
    assert (ip6.src, ip6.dst, ip6.hlim, ip6.nh, ip6.tc) == (str(LINK_LOCAL), "ff02::1", 255, 58, 0)
    assert ip6.plen == 32 == len(bytes(ip6.payload))
    na = pkt[ICMPv6ND_NA]
    assert (na.type, na.code) == (136, 0)
    assert (na.R, na.S, na.O) == (1, 0, 1)
    assert na.tgt == str(vip)
    option = pkt[ICMPv6NDOptDstLLAddr]  # type 2 = Target Link-Layer Address
    assert (option.type, option.len, option.lladdr) == (2, 1, MAC)


@given(
    target=st.integers(1, 2**64 - 1).map(lambda n: IPv6Address(int(IPv6Address("2001:db8::")) + n)),
    source=st.integers(1, 2**64 - 1).map(lambda n: IPv6Address(int(IPv6Address("fe80::")) + n)),
    mac=st.binary(min_size=6, max_size=6),
)
def test_na_checksum_is_valid_for_any_addresses(target, source, mac):
    pkt = Ether(build_unsolicited_na(mac, target, source))
    icmp = bytes(pkt[IPv6].payload)
    # The one's-complement sum over pseudo-header + message, checksum included, folds to zero.
    assert in6_chksum(58, pkt[IPv6], icmp) == 0
    # And scapy, recomputing from scratch, arrives at the same value.
    na = pkt[ICMPv6ND_NA]
    expected = na.cksum
    del na.cksum
    assert Ether(bytes(pkt))[ICMPv6ND_NA].cksum == expected


def test_mac_parsing():
    assert mac_bytes("02:00:5E:00:01:05") == bytes.fromhex("02005e000105")
    assert mac_bytes("02-00-5e-00-01-05") == bytes.fromhex("02005e000105")
    assert mac_bytes(b"\x01" * 6) == b"\x01" * 6
    for bad in ("02:00:5e:00:01", "zz:00:5e:00:01:05", b"\x00" * 5):
        with pytest.raises(ValueError):
            mac_bytes(bad)
