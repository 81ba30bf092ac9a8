"""Rogue VRRP sender for the receive-rule tests: crafts adverts with scapy (Ethernet frames, so no routes are
needed) and sends them on one interface. Run inside a lab namespace: inject.py IFACE SRC VRID CASE [CASE ...]."""

from __future__ import annotations

import argparse
import struct
from ipaddress import ip_address

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp

from vrrpd.protocol.packet import Advert, encode, internet_checksum


def with_checksum(message: bytes, src, dst) -> bytes:
    """Recompute a valid checksum for a hand-mutated message (pseudo-header form, as keepalived sends)."""
    zeroed = message[:6] + b"\0\0" + message[8:]
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 112, len(zeroed))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(zeroed), 112)
    csum = internet_checksum(pseudo + zeroed)
    return zeroed[:6] + struct.pack("!H", csum) + zeroed[8:]


def build(case: str, src, vrid: int, vip, priority: int) -> tuple[bytes, int]:
    """Return (VRRP message, TTL) for one named case."""
    dst = ip_address("224.0.0.18" if src.version == 4 else "ff02::12")
    good = encode(Advert(vrid, priority, 100, (vip,)), src, dst)
    if case == "valid":
        return good, 255
    if case == "ttl":
        return good, 64
    if case == "checksum":
        return good[:6] + bytes([good[6] ^ 0xFF, good[7]]) + good[8:], 255
    if case == "version":
        if src.version == 4:  # a well-formed VRRPv2 advert, as keepalived sends by default
            return encode(Advert(vrid, priority, 100, (vip,), version=2), src, dst), 255
        return with_checksum(bytes([0x21]) + good[1:], src, dst), 255
    if case == "truncated":
        return good[:-2], 255
    if case == "unknown_vrid":
        return encode(Advert(vrid + 1, priority, 100, (vip,)), src, dst), 255
    if case == "count_zero":
        return with_checksum(good[:3] + b"\0" + good[4:8], src, dst), 255
    if case == "interval_zero":
        return with_checksum(good[:4] + b"\0\0" + good[6:], src, dst), 255
    if case == "reserved_bits":
        # Reserved nibble set: must be masked and the advert processed (RFC 9568 §5.2.6).
        return with_checksum(good[:4] + bytes([good[4] | 0xF0]) + good[5:], src, dst), 255
    raise SystemExit(f"unknown case {case}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("iface")
    parser.add_argument("src")
    parser.add_argument("vrid", type=int)
    parser.add_argument("vip")
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--priority", type=int, default=250)
    args = parser.parse_args()
    src, vip = ip_address(args.src), ip_address(args.vip)
    frames = []
    for case in args.cases:
        message, ttl = build(case, src, args.vrid, vip, args.priority)
        if src.version == 4:
            frame = Ether(dst="01:00:5e:00:00:12") / IP(src=str(src), dst="224.0.0.18", ttl=ttl, proto=112, tos=0xC0)
        else:
            frame = Ether(dst="33:33:00:00:00:12") / IPv6(src=str(src), dst="ff02::12", hlim=ttl, nh=112)
        frames.extend([frame / Raw(message)] * args.count)
    sendp(frames, iface=args.iface, verbose=False)
    print(f"sent {len(frames)}")


if __name__ == "__main__":
    main()
