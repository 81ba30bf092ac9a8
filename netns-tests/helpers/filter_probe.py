"""The kernel receive filter (vrrpd.net.bpf) on a real socket, for netns-tests/test_flood.py. Run in a lab namespace:

    filter_probe.py recv IFACE --family 4|6 --seconds S    a VrrpSocket filtered for the routers below
    filter_probe.py send IFACE SRC --family 4|6            one frame of each case, from SRC to the group

The receiver's routers: VRID 51 (VRRPv3) and, on IPv4, VRID 52 (VRRPv2). Each case's advert has its own priority,
so the receiver can tell which cases came through; it prints {"ready": true}, then one {"priority": P, ...} per
packet read, then {"stats": {...}} (vrrpd.net.sockets.SocketStats) when the time is up.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import time
from ipaddress import IPv6Address, ip_address

from flood import ip_frame

from vrrpd.net.bpf import Accept, program
from vrrpd.net.sockets import VrrpSocket
from vrrpd.protocol.packet import Advert, AuthType, ChecksumForm, Family, encode

VIP4, VIP6 = ip_address("198.51.100.100"), ip_address("2001:db8::100")
ROUTERS = {
    Family.IPV4: {51: Accept(3), 52: Accept(2)},
    Family.IPV6: {51: Accept(3)},
}

PASS_V4 = {
    10: "valid",
    16: "valid, in two fragments",
    18: "valid VRRPv2",
    25: "valid, message-only checksum",
    26: "bad checksum, with IP options (left to Python)",
}
DROP_V4 = {
    11: "TTL 64",
    15: "bad checksum",
    12: "version 4",
    13: "count lies",
    14: "unconfigured VRID 77",
    17: "a lone first fragment",
    19: "VRRPv3 to the VRRPv2 router",
}
PASS_V6 = {20: "valid"}
DROP_V6 = {21: "hop limit 64", 22: "unconfigured VRID 77", 23: "count lies", 24: "version 2", 27: "bad checksum"}


def v4_frames(src_mac: bytes, src) -> list[bytes]:
    def adv(prio: int, vrid: int = 51) -> bytes:
        return encode(Advert(vrid, prio, 10, (VIP4,)), src)

    def corrupt(message: bytes, index: int, value: int) -> bytes:
        return message[:index] + bytes([value]) + message[index + 1 :]

    v2 = encode(Advert(52, 18, 100, (VIP4,), 2, AuthType.SIMPLE, b"pw"), src)
    frag = adv(16)
    return [
        ip_frame(src_mac, src, adv(10)),
        ip_frame(src_mac, src, adv(11), ttl=64),
        ip_frame(src_mac, src, corrupt(adv(12), 0, 0x41)),
        ip_frame(src_mac, src, corrupt(adv(13), 3, 5)),
        ip_frame(src_mac, src, adv(14, vrid=77)),
        ip_frame(src_mac, src, corrupt(adv(15), 6, adv(15)[6] ^ 0xFF)),
        # 12 bytes in two fragments (8 + 4): the kernel reassembles them before any raw socket sees the packet.
        ip_frame(src_mac, src, frag[:8], frag=0x2000, ident=16),
        ip_frame(src_mac, src, frag[8:], frag=0x0001, ident=16),
        ip_frame(src_mac, src, adv(17)[:8], frag=0x2000, ident=17),
        ip_frame(src_mac, src, v2),
        ip_frame(src_mac, src, encode(Advert(52, 19, 10, (VIP4,)), src)),
        ip_frame(src_mac, src, encode(Advert(51, 25, 10, (VIP4,)), src, checksum_form=ChecksumForm.MESSAGE_ONLY)),
        ip_frame(src_mac, src, corrupt(adv(26), 6, adv(26)[6] ^ 0xFF), options=b"\x01\x01\x01\x00"),
    ]


def ip6_frame(src_mac: bytes, src: IPv6Address, payload: bytes, hops: int = 255) -> bytes:
    group = Family.IPV6.group
    head = struct.pack("!IHBB16s16s", 0x6E000000, len(payload), 112, hops, src.packed, group.packed)
    return bytes.fromhex("333300000012") + src_mac + struct.pack("!H", 0x86DD) + head + payload


def v6_frames(src_mac: bytes, src: IPv6Address) -> list[bytes]:
    def adv(prio: int, vrid: int = 51) -> bytes:
        return encode(Advert(vrid, prio, 10, (VIP6,)), src)

    lie = adv(23)
    lie = lie[:3] + b"\x02" + lie[4:]
    v2 = adv(24)
    v2 = b"\x21" + v2[1:]
    return [
        ip6_frame(src_mac, src, adv(20)),
        ip6_frame(src_mac, src, adv(21), hops=64),
        ip6_frame(src_mac, src, adv(22, vrid=77)),
        ip6_frame(src_mac, src, lie),
        ip6_frame(src_mac, src, v2),
        ip6_frame(src_mac, src, adv(27)[:6] + bytes([adv(27)[6] ^ 0xFF]) + adv(27)[7:]),
    ]


def recv(args: argparse.Namespace) -> None:
    family = Family(args.family)
    sock = VrrpSocket(args.iface, family)
    sock.set_filter(program(family, ROUTERS[family]))
    print(json.dumps({"ready": True}), flush=True)
    end = time.monotonic() + args.seconds
    while (left := end - time.monotonic()) > 0:
        select.select([sock], [], [], left)
        while (rx := sock.recv()) is not None:
            priority = rx.payload[2] if len(rx.payload) > 2 else None
            print(json.dumps({"priority": priority, "ttl": rx.ttl, "src": str(rx.src)}), flush=True)
    stats = sock.stats()
    print(json.dumps({"stats": {"rcvbuf": stats.rcvbuf, "queued": stats.queued, "drops": stats.drops}}), flush=True)


def send(args: argparse.Namespace) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.iface, 0))
    src_mac = sock.getsockname()[4]
    frames = v4_frames(src_mac, args.src) if args.family == 4 else v6_frames(src_mac, args.src)
    for frame in frames:
        sock.send(frame)
    print(json.dumps({"sent": len(frames)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recv")
    r.add_argument("iface")
    r.add_argument("--family", type=int, choices=(4, 6), required=True)
    r.add_argument("--seconds", type=float, default=2.0)
    s = sub.add_parser("send")
    s.add_argument("iface")
    s.add_argument("src", type=ip_address)
    s.add_argument("--family", type=int, choices=(4, 6), required=True)
    args = parser.parse_args()
    recv(args) if args.cmd == "recv" else send(args)


if __name__ == "__main__":
    main()
