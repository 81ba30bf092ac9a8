"""Garbage VRRP flood for the hostile-conditions tests and bench (issue #13): run inside a lab namespace.

    flood.py IFACE SRC --vrid N [--seconds S] [--rate PPS] [--mix all|checksum] [--vip VIP]

Pre-builds a few hundred IPv4 Ethernet frames of protocol 112 and sends them round-robin on an AF_PACKET socket
(no routes, no scapy, one `send` per frame: a plain Python loop reaches ~100 k pkt/s on a free core). The `all`
mix, each kind as many frames as the others but the last:

- a bad checksum on the configured VRID (TTL 255, right length: only the checksum is wrong);
- TTL 64 on the configured VRID (otherwise valid);
- a bad version (4) and a bad type (2) on the configured VRID;
- a count that lies (5 addresses announced, 1 carried);
- IPv4 fragments of a protocol-112 packet (a first fragment with MF, and a lone non-first one);
- valid adverts at priority 254 for 200 VRIDs that are not configured (1..255 except N and its neighbours).

`checksum` sends only the first kind: garbage that looks right to anything short of the checksum. `passing`
sends valid adverts but for a Max Adver Int of 0: what passes every check the kernel filter makes, checksum
included, and only Python refuses (RFC 9568 erratum 8301). All frames
come from SRC (a third host, never a router under test) to 224.0.0.18. At exit (SIGTERM/SIGINT or after S
seconds) one JSON line on stdout: {"sent": packets, "failed": sends refused, "seconds": elapsed, "pps": sent / seconds}.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import time
from ipaddress import IPv4Address, ip_address

from vrrpd.protocol.packet import Advert, encode, internet_checksum

GROUP = IPv4Address("224.0.0.18")
GROUP_MAC = bytes.fromhex("01005e000012")
ETH_P_IP = 0x0800


def ip_frame(
    src_mac: bytes,
    src: IPv4Address,
    payload: bytes,
    ttl: int = 255,
    frag: int = 0,
    ident: int = 1,
    options: bytes = b"",
) -> bytes:
    """An Ethernet frame of one IPv4 packet of protocol 112 to the VRRP group, with a valid header checksum;
    `options`: IP options, a multiple of 4 bytes."""
    ihl = 5 + len(options) // 4
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0xC0, 4 * ihl + len(payload), ident, frag, ttl, 112, 0,
                       src.packed, GROUP.packed) + options  # fmt: skip
    head = head[:10] + struct.pack("!H", internet_checksum(head)) + head[12:]
    return GROUP_MAC + src_mac + struct.pack("!H", ETH_P_IP) + head + payload


def garbage(src_mac: bytes, src: IPv4Address, vrid: int, vip: IPv4Address, mix: str) -> list[bytes]:
    """The frames of `mix`, in the round-robin order they are sent."""
    good = encode(Advert(vrid, 254, 10, (vip,)), src)
    bad_checksum = good[:6] + bytes([good[6] ^ 0x5A, good[7]]) + good[8:]
    if mix == "checksum":
        return [ip_frame(src_mac, src, bad_checksum)]
    if mix == "passing":
        # Valid in every way the kernel filter checks, checksum included; only Python refuses it (erratum 8301).
        zero = good[:4] + b"\0\0\0\0" + good[8:]
        pseudo = src.packed + GROUP.packed + struct.pack("!BBH", 0, 112, len(zero))
        zero = zero[:6] + struct.pack("!H", internet_checksum(pseudo + zero)) + zero[8:]
        return [ip_frame(src_mac, src, zero)]
    kinds: list[list[bytes]] = [
        [ip_frame(src_mac, src, bad_checksum)],
        [ip_frame(src_mac, src, good, ttl=64)],
        [ip_frame(src_mac, src, bytes([0x41]) + good[1:])],
        [ip_frame(src_mac, src, bytes([0x32]) + good[1:])],
        [ip_frame(src_mac, src, good[:3] + bytes([5]) + good[4:])],
        [
            ip_frame(src_mac, src, good, frag=0x2000, ident=7),  # MF: a first fragment that never completes
            ip_frame(src_mac, src, good, frag=0x0010, ident=8),  # offset 128 bytes, no first fragment
        ],
    ]
    others = [v for v in range(1, 256) if abs(v - vrid) > 2][:200]
    unconfigured = [ip_frame(src_mac, src, encode(Advert(v, 254, 10, (vip,)), src)) for v in others]
    # Interleave: every kind as often as the others, the 200 VRIDs spread between them.
    frames: list[bytes] = []
    for i, frame in enumerate(unconfigured):
        frames.extend(kinds[i % len(kinds)])
        frames.append(frame)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("iface")
    parser.add_argument("src", type=ip_address)
    parser.add_argument("--vrid", type=int, required=True)
    parser.add_argument("--vip", type=ip_address, default=IPv4Address("198.51.100.100"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="packets/s to aim at (0: as fast as it goes)")
    parser.add_argument("--mix", choices=("all", "checksum", "passing"), default="all")
    args = parser.parse_args()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.iface, 0))
    src_mac = sock.getsockname()[4]
    frames = garbage(src_mac, args.src, args.vrid, args.vip, args.mix)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    send = sock.send
    sent = 0
    start = time.monotonic()
    end = start + args.seconds
    failed = 0
    while not stop:
        now = time.monotonic()
        if now >= end:
            break
        if args.rate and sent > (now - start) * args.rate:
            time.sleep(min(0.001, end - now))
            continue
        for frame in frames:  # one batch between clock reads: the clock costs as much as a send
            try:
                send(frame)
            except OSError:  # ENOBUFS: the queue is full; the next one goes
                failed += 1
        sent += len(frames)
    sent -= failed
    elapsed = time.monotonic() - start
    print(
        json.dumps({"sent": sent, "failed": failed, "seconds": round(elapsed, 3), "pps": round(sent / elapsed)}),
        flush=True,
    )


if __name__ == "__main__":
    main()
