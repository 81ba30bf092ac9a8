"""The pure part of the raw socket: splitting a received IPv4 packet (docs/interop.md §1; receive check V5 of
docs/conformance.md)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from vrrpd.net.sockets import parse_ipv4


def ipv4_packet(payload: bytes, ttl: int = 255, total_length: int | None = None, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    length = 20 + len(options) + len(payload) if total_length is None else total_length
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0xC0, length, 0, 0, ttl, 112, 0,
                         IPv4Address("198.51.100.1").packed, IPv4Address("224.0.0.18").packed)  # fmt: skip
    return header + options + payload


def test_header_fields_and_payload():
    rx = parse_ipv4(ipv4_packet(b"\x31\x05" + bytes(10), ttl=254), ifindex=7)
    assert rx is not None
    assert rx.src == IPv4Address("198.51.100.1")
    assert rx.dst == IPv4Address("224.0.0.18")
    assert rx.ttl == 254
    assert rx.ifindex == 7
    assert rx.payload == b"\x31\x05" + bytes(10)
    assert rx.length_mismatch is False


def test_ip_options_are_skipped_by_ihl():
    rx = parse_ipv4(ipv4_packet(b"vrrp", options=b"\x94\x04\x00\x00"), ifindex=1)  # router alert
    assert rx is not None and rx.payload == b"vrrp" and not rx.length_mismatch


def test_total_length_shorter_than_read_is_a_length_error():
    rx = parse_ipv4(ipv4_packet(b"12345678", total_length=24), ifindex=1)
    assert rx is not None and rx.length_mismatch
    assert rx.payload == b"1234"  # never more than the header claims


def test_total_length_longer_than_read_is_a_length_error():
    rx = parse_ipv4(ipv4_packet(b"12345678", total_length=100), ifindex=1)
    assert rx is not None and rx.length_mismatch
    assert rx.payload == b"12345678"


def test_truncated_read_is_a_length_error():
    rx = parse_ipv4(ipv4_packet(b"12345678"), ifindex=1, truncated=True)
    assert rx is not None and rx.length_mismatch


def test_not_ipv4_at_all():
    assert parse_ipv4(b"\x60" + bytes(39), ifindex=1) is None
    assert parse_ipv4(b"\x45\x00", ifindex=1) is None
