"""Records every VRRP packet seen on an interface, as JSON lines, for tests that compare implementations on the wire.

Run inside an observer namespace: `python advert_sniffer.py IFNAME OUTFILE [--arp]`. An AF_PACKET socket sees the frames
as they are on the wire (no kernel receive-side checks), so an advert with a bad checksum is recorded too. The fields
are decoded here, independently of vrrpd's codec, so the observer is not the implementation under test:
- `checksum_ok`: the RFC 9568 §5.2.8 checksum (IPv4 pseudo-header) verifies; `checksum_message_only`: the RFC 3768
  form (VRRP message only) verifies instead.
- `time`: CLOCK_MONOTONIC when this process read the frame (comparable with a test's time.monotonic());
  `kernel_time`: the observer kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME), which this process's own
  scheduling does not blur: the one to measure gaps between adverts with.
- `eth_src`: the frame's source MAC (a virtual MAC, RFC 9568 §7.3, or the interface's own).
With `--arp`, every ARP frame is recorded too, as {"arp": true, ...} (op, sender and target MAC and IP): a
gratuitous ARP is one whose sender IP is its target IP. Without it no such record is ever written.
Writes {"ready": true} first, once the socket(s) are bound.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time
from ipaddress import IPv4Address

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
IPPROTO_VRRP = 112
SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>, also SCM_TIMESTAMPNS; Python 3.11 does not export it


def internet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def describe(frame: bytes, kernel_time: float | None = None) -> dict[str, object] | None:
    if len(frame) < 14 + 20 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != IPPROTO_VRRP:
        return None
    total_length = struct.unpack("!H", ip[2:4])[0]
    vrrp = ip[ihl:total_length]
    src, dst = IPv4Address(ip[12:16]), IPv4Address(ip[16:20])
    if len(vrrp) < 8:
        return {"src": str(src), "short": True}
    version, kind = vrrp[0] >> 4, vrrp[0] & 0x0F
    count = vrrp[3]
    # v3: 12-bit centiseconds after 4 reserved bits; v2: whole seconds in byte 5 (after the auth type).
    interval_cs = struct.unpack("!H", vrrp[4:6])[0] & 0x0FFF if version == 3 else vrrp[5] * 100
    addresses = [str(IPv4Address(vrrp[8 + 4 * i : 12 + 4 * i])) for i in range(count) if 12 + 4 * i <= len(vrrp)]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, IPPROTO_VRRP, len(vrrp))
    return {
        "time": time.monotonic(),
        "kernel_time": kernel_time,
        "eth_src": mac(frame[6:12]),
        "src": str(src),
        "dst": str(dst),
        "ttl": ip[8],
        "version": version,
        "type": kind,
        "vrid": vrrp[1],
        "priority": vrrp[2],
        "count": count,
        "interval_cs": interval_cs,
        "addresses": addresses,
        "checksum_ok": internet_checksum(pseudo + vrrp) == 0,
        "checksum_message_only": internet_checksum(vrrp) == 0,
    }


def describe_arp(frame: bytes, kernel_time: float | None = None) -> dict[str, object] | None:
    """An Ethernet/IPv4 ARP frame (RFC 826)."""
    if len(frame) < 14 + 28 or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    arp = frame[14:42]
    if struct.unpack("!HHBB", arp[:6]) != (1, ETH_P_IP, 6, 4):
        return None
    return {
        "arp": True,
        "time": time.monotonic(),
        "kernel_time": kernel_time,
        "eth_src": mac(frame[6:12]),
        "eth_dst": mac(frame[0:6]),
        "op": struct.unpack("!H", arp[6:8])[0],
        "sender_mac": mac(arp[8:14]),
        "sender_ip": str(IPv4Address(arp[14:18])),
        "target_mac": mac(arp[18:24]),
        "target_ip": str(IPv4Address(arp[24:28])),
    }


def packet_socket(ifname: str, proto: int) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    # Adverts every 10 ms from several routers must not overflow the queue while this process waits for a CPU.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((ifname, 0))
    return sock


def main(ifname: str, outfile: str, arp: bool = False) -> None:
    decoders = {packet_socket(ifname, ETH_P_IP): describe}
    if arp:
        decoders[packet_socket(ifname, ETH_P_ARP)] = describe_arp
    space = socket.CMSG_SPACE(16)
    with open(outfile, "a", buffering=1) as out:
        out.write(json.dumps({"ready": True}) + "\n")
        while True:
            ready = select.select(list(decoders), [], [])[0] if len(decoders) > 1 else list(decoders)
            for sock in ready:
                frame, ancdata, _, _ = sock.recvmsg(65535, space)
                stamp = None
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                        sec, nsec = struct.unpack_from("=qq", data)
                        stamp = sec + nsec * 1e-9
                record = decoders[sock](frame, stamp)
                if record is not None:
                    out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], arp="--arp" in sys.argv[3:])
