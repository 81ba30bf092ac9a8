"""Rogue VRRP sender for the receive-rule tests: crafts adverts with scapy (Ethernet frames, so no routes are
needed) and sends them on one interface. Run inside a lab namespace: inject.py IFACE SRC VRID VIP CASE [CASE ...].

Every case but the IP-level ones (ttl, ip_len_*, unicast) is a VRRP message whose checksum is valid for its own
(possibly mutated) contents, so the drop it provokes is the one its name says and not a checksum failure.
"""

from __future__ import annotations

import argparse
import struct
from ipaddress import ip_address

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp

from vrrpd.protocol.packet import Advert, AuthType, ChecksumForm, encode, internet_checksum


def with_checksum(message: bytes, src, dst, form: ChecksumForm = ChecksumForm.PSEUDO_HEADER) -> bytes:
    """Recompute a valid checksum for a hand-mutated message (pseudo-header form, as keepalived sends, unless
    `form` says message-only, the RFC 9568 IPv4 form)."""
    zeroed = message[:6] + b"\0\0" + message[8:]
    if form is ChecksumForm.MESSAGE_ONLY:
        pseudo = b""
    elif src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 112, len(zeroed))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(zeroed), 112)
    csum = internet_checksum(pseudo + zeroed)
    return zeroed[:6] + struct.pack("!H", csum) + zeroed[8:]


def carp(vrid: int) -> bytes:
    """An OpenBSD CARP advertisement: protocol 112, first byte 0x21 like VRRPv2, but a different layout
    (vhid, advskew, authlen 7, demote, advbase 1, cksum, 8-byte counter, 20-byte HMAC); its checksum is the
    plain message sum, so only the layout can tell it from VRRPv2."""
    head = struct.pack("!BBBBBBH", 0x21, vrid, 0, 7, 0, 1, 0)
    message = head + bytes(range(8)) + bytes(20)
    return message[:6] + struct.pack("!H", internet_checksum(message)) + message[8:]


def build(
    case: str,
    src,
    vrid: int,
    vips: tuple,
    priority: int,
    interval: int = 100,
    dst=None,
    password: bytes | None = None,
) -> tuple[bytes, int]:
    """Return (VRRP message, TTL) for one named case. `interval` is in centiseconds."""
    group = ip_address("224.0.0.18" if src.version == 4 else "ff02::12")
    dst = group if dst is None else dst
    good = encode(Advert(vrid, priority, interval, vips), src, dst)
    if case in ("valid", "ip_len_long", "ip_len_short", "unicast"):
        return good, 255
    if case == "ttl":
        return good, 64
    if case == "checksum":
        return good[:6] + bytes([good[6] ^ 0xFF, good[7]]) + good[8:], 255
    if case == "message_only":  # the RFC 9568 IPv4 form; for IPv6 (pseudo-header only) a wrong checksum
        return with_checksum(good, src, dst, ChecksumForm.MESSAGE_ONLY), 255
    if case in ("version", "version2"):
        if src.version == 4:  # a well-formed VRRPv2 advert, as keepalived sends by default
            return encode(Advert(vrid, priority, interval, vips, version=2), src, dst), 255
        return with_checksum(bytes([0x21]) + good[1:], src, dst), 255
    if case == "version4":  # an unknown version, well formed otherwise
        return with_checksum(bytes([0x41]) + good[1:], src, dst), 255
    if case == "carp":
        return carp(vrid), 255
    if case == "v2":  # VRRPv2 with optional simple password, for a version 2 instance
        auth = AuthType.SIMPLE if password is not None else AuthType.NONE
        advert = Advert(vrid, priority, interval, vips, version=2, auth_type=auth, auth_data=password or b"")
        return encode(advert, src, dst), 255
    if case == "type":  # type 2 (RFC 3768 and 9568 define only 1, ADVERTISEMENT)
        return with_checksum(bytes([0x32]) + good[1:], src, dst), 255
    if case == "truncated":
        return good[:-2], 255
    if case == "header_only":  # shorter than the fixed 8-byte header
        return good[:6], 255
    if case == "too_long":  # 4 trailing bytes beyond Count addresses, checksum valid over all of it
        return with_checksum(good + b"\xde\xad\xbe\xef", src, dst), 255
    if case == "mixed_family":  # one address of the other family (RFC 9568 §5.2.9: never mixed)
        other = ip_address("203.0.113.1" if src.version == 6 else "2001:db8::1")
        return with_checksum(good[:8] + other.packed, src, dst), 255
    if case == "unknown_vrid":
        return encode(Advert(vrid + 1, priority, interval, vips), src, dst), 255
    if case == "count_zero":
        return with_checksum(good[:3] + b"\0" + good[4:8], src, dst), 255
    if case == "interval_zero":
        return with_checksum(good[:4] + b"\0\0" + good[6:], src, dst), 255
    if case == "reserved_bits":
        # Reserved nibble set: must be masked and the advert processed (RFC 9568 §5.2.6).
        return with_checksum(good[:4] + bytes([good[4] | 0xF0]) + good[5:], src, dst), 255
    raise SystemExit(f"unknown case {case}")


def frame(src, message: bytes, case: str = "valid", ttl: int = 255, dst=None) -> Ether:
    """The Ethernet frame carrying `message` from `src` to the VRRP group (or to unicast `dst`)."""
    if src.version == 4:
        ip_dst = str(dst) if dst is not None else "224.0.0.18"
        # Unicast goes to the broadcast MAC: the frame reaches the target without ARP, the IP is what counts.
        mac = "ff:ff:ff:ff:ff:ff" if dst is not None else "01:00:5e:00:00:12"
        ip = IP(src=str(src), dst=ip_dst, ttl=ttl, proto=112, tos=0xC0)
        if case in ("ip_len_long", "ip_len_short"):
            # Total length 8 bytes beyond / 4 short of what is sent (RFC 791 §3.1); scapy's header checksum
            # covers the lie, so only the length is wrong.
            ip.len = 20 + len(message) + (8 if case == "ip_len_long" else -4)
        return Ether(dst=mac) / ip / Raw(message)
    ip_dst = str(dst) if dst is not None else "ff02::12"
    return Ether(dst="33:33:00:00:00:12") / IPv6(src=str(src), dst=ip_dst, hlim=ttl, nh=112) / Raw(message)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("iface")
    parser.add_argument("src")
    parser.add_argument("vrid", type=int)
    parser.add_argument("vip", help="the advertised address; several separated by commas, in that order")
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--priority", type=int, default=250)
    parser.add_argument("--interval", type=int, default=100, help="Max Adver Int in centiseconds")
    parser.add_argument("--dst", help="unicast destination for the 'unicast' case")
    parser.add_argument("--password", help="VRRPv2 simple password for the 'v2' case")
    parser.add_argument("--ttl", type=int, help="TTL / hop limit of every frame (e.g. a routed peer), not the case's")
    parser.add_argument(
        "--sentinel",
        action="store_true",
        help="end with one valid priority-1 advert: once the target counts it, it has seen everything before it",
    )
    args = parser.parse_args()
    src = ip_address(args.src)
    vips = tuple(ip_address(v) for v in args.vip.split(","))
    password = args.password.encode() if args.password is not None else None
    frames = []
    for case in args.cases:
        dst = ip_address(args.dst) if case == "unicast" else None
        message, ttl = build(case, src, args.vrid, vips, args.priority, args.interval, dst, password)
        ttl = args.ttl if args.ttl is not None else ttl
        frames.extend([frame(src, message, case, ttl, dst)] * args.count)
    if args.sentinel:
        frames.append(frame(src, build("valid", src, args.vrid, vips, 1, args.interval)[0]))
    sendp(frames, iface=args.iface, verbose=False)
    print(f"sent {len(frames)}")


if __name__ == "__main__":
    main()
