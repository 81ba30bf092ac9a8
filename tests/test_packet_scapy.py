"""Our encoder against an independent decoder: scapy's VRRP/VRRPv3 layers (tests only; never at run time)."""

from __future__ import annotations

from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRP, VRRPv3

from vrrpd.protocol.packet import Advert, AuthType, ChecksumForm, decode, encode

SRC4, SRC6 = "198.51.100.1", "fe80::1"


def scapy_v3(src: str, wire: bytes):
    if ":" in src:
        return IPv6(bytes(IPv6(src=src, dst="ff02::12", nh=112, hlim=255) / wire))[VRRPv3]
    return IP(bytes(IP(src=src, dst="224.0.0.18", proto=112, ttl=255) / wire))[VRRPv3]


ipv4s = st.builds(lambda n: ip_address(f"198.51.100.{n}"), st.integers(1, 254))
ipv6s = st.builds(lambda n: ip_address(f"2001:db8::{n:x}"), st.integers(1, 0xFFFF))


@settings(max_examples=150, deadline=None)
@given(
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    interval=st.integers(1, 4095),
    v6=st.booleans(),
    data=st.data(),
)
def test_9568_5_2_scapy_parses_our_v3_fields_and_validates_the_checksum(vrid, priority, interval, v6, data):
    addresses = tuple(data.draw(st.lists(ipv6s if v6 else ipv4s, min_size=1, max_size=12, unique=True)))
    src = SRC6 if v6 else SRC4
    advert = Advert(vrid, priority, interval, addresses)
    wire = encode(advert, ip_address(src), checksum_form=ChecksumForm.PSEUDO_HEADER)
    layer = scapy_v3(src, wire)
    assert layer.version == 3 and layer.type == 1
    assert layer.vrid == vrid and layer.priority == priority
    assert layer.ipcount == len(addresses)
    assert layer.adv == interval and layer.res == 0
    assert [ip_address(a) for a in layer.addrlist] == list(addresses)
    # scapy recomputes the checksum with the pseudo-header (in4_chksum / in6_chksum): it must agree with ours.
    assert scapy_rebuilt_checksum(src, layer) == layer.chksum


def scapy_rebuilt_checksum(src: str, layer) -> int:
    """Let scapy compute the checksum from scratch over the same fields."""
    if ":" in src:
        pkt = IPv6(src=src, dst="ff02::12", nh=112, hlim=255) / VRRPv3(
            vrid=layer.vrid, priority=layer.priority, ipcount=layer.ipcount, adv=layer.adv, addrlist=layer.addrlist
        )
        return IPv6(bytes(pkt))[VRRPv3].chksum
    pkt = IP(src=src, dst="224.0.0.18", proto=112, ttl=255) / VRRPv3(
        vrid=layer.vrid, priority=layer.priority, ipcount=layer.ipcount, adv=layer.adv, addrlist=layer.addrlist
    )
    return IP(bytes(pkt))[VRRPv3].chksum


@settings(max_examples=100, deadline=None)
@given(
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    seconds=st.integers(1, 255),
    addresses=st.lists(ipv4s, min_size=1, max_size=10, unique=True),
    password=st.one_of(st.none(), st.binary(min_size=1, max_size=8).map(lambda b: b.rstrip(b"\0") or b"x")),
)
def test_3768_5_scapy_parses_our_v2_fields(vrid, priority, seconds, addresses, password):
    auth = AuthType.SIMPLE if password is not None else AuthType.NONE
    advert = Advert(vrid, priority, seconds * 100, tuple(addresses), 2, auth, password or b"")
    wire = encode(advert, ip_address(SRC4))
    layer = IP(bytes(IP(src=SRC4, dst="224.0.0.18", proto=112, ttl=255) / wire))[VRRP]
    assert layer.version == 2 and layer.type == 1
    assert (layer.vrid, layer.priority, layer.ipcount, layer.adv) == (vrid, priority, len(addresses), seconds)
    assert layer.authtype == auth
    assert [ip_address(a) for a in layer.addrlist] == addresses
    stored = layer.chksum
    rebuilt = VRRP(
        vrid=vrid,
        priority=priority,
        ipcount=len(addresses),
        authtype=auth,
        adv=seconds,
        addrlist=[str(a) for a in addresses],
        auth1=int.from_bytes((password or b"").ljust(8, b"\0")[:4], "big"),
        auth2=int.from_bytes((password or b"").ljust(8, b"\0")[4:], "big"),
    )
    assert VRRP(bytes(rebuilt)).chksum == stored


def test_9568_5_2_scapy_built_advert_decodes_with_our_codec():
    pkt = IP(src=SRC4, dst="224.0.0.18", proto=112, ttl=255) / VRRPv3(
        vrid=42, priority=120, ipcount=2, adv=25, addrlist=["198.51.100.10", "198.51.100.11"]
    )
    raw = bytes(IP(bytes(pkt))[VRRPv3])
    decoded = decode(raw, ip_address(SRC4), ip_address("224.0.0.18"))
    assert decoded.checksum_form is ChecksumForm.PSEUDO_HEADER
    assert decoded.advert == Advert(42, 120, 25, (ip_address("198.51.100.10"), ip_address("198.51.100.11")))
