"""Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6) for the virtual addresses.

Frames are built with `struct` and sent whole on an AF_PACKET socket, so the kernel neither rewrites them nor
resolves anything first. The daemon decides when and how often to announce (RFC 9568 §6.4.1, §6.4.2); this
module only puts one frame per address on the wire.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address

from vrrpd.protocol.packet import IPAddress, internet_checksum

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LL_ADDR = 2
ALL_NODES = IPv6Address("ff02::1")

_BROADCAST = b"\xff" * 6
# RFC 9568 §6.4.2: R=1 (we are a router), S=0 (unsolicited), O=1 (override caches holding another MAC).
_NA_FLAGS = 0xA0000000
_ETH_MIN_FRAME = 60  # without FCS; veth and friends do not pad short frames for us


def mac_bytes(mac: str | bytes) -> bytes:
    """'aa:bb:cc:dd:ee:ff' (or 6 raw bytes) -> 6 bytes."""
    raw = mac if isinstance(mac, bytes) else bytes(int(part, 16) for part in mac.replace("-", ":").split(":"))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def _multicast_mac(group: IPv6Address) -> bytes:
    # RFC 2464 §7: 33:33 followed by the low 32 bits of the group.
    return b"\x33\x33" + group.packed[12:]


def build_garp(mac: str | bytes, address: IPv4Address) -> bytes:
    """A broadcast gratuitous ARP request: sha = mac, spa = tpa = address, tha = ff:ff:ff:ff:ff:ff.

    A request rather than a reply, with tha all-ones, as FRR (vrrp_arp.c) and keepalived send it: every
    neighbour that holds an entry for the address updates it, and old stacks that ignore unsolicited replies
    still learn it.
    """
    src = mac_bytes(mac)
    eth = _BROADCAST + src + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src + address.packed + _BROADCAST + address.packed
    return (eth + arp).ljust(_ETH_MIN_FRAME, b"\0")


def build_unsolicited_na(mac: str | bytes, address: IPv6Address, source: IPv6Address) -> bytes:
    """An unsolicited Neighbor Advertisement to ff02::1 for `address` with Target Link-Layer Address = mac.

    `source` is the interface's link-local address (RFC 4861 §4.4 only requires an address of the interface,
    but neighbours validate NAs from link-local sources everywhere). Hop limit 255 (RFC 4861 §7.1.2).
    """
    src = mac_bytes(mac)
    option = struct.pack("!BB", ND_OPT_TARGET_LL_ADDR, 1) + src
    icmp = struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, _NA_FLAGS) + address.packed + option
    pseudo = source.packed + ALL_NODES.packed + struct.pack("!I3xB", len(icmp), IPPROTO_ICMPV6)
    checksum = internet_checksum(pseudo + icmp)
    icmp = icmp[:2] + struct.pack("!H", checksum) + icmp[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(icmp), IPPROTO_ICMPV6, 255) + source.packed + ALL_NODES.packed
    eth = _multicast_mac(ALL_NODES) + src + struct.pack("!H", ETH_P_IPV6)
    return eth + ipv6 + icmp


class Announcer:
    """Sends GARP / unsolicited NA frames on one interface through a non-blocking AF_PACKET socket.

    `mac` is the address the neighbours should learn (the interface MAC, or the virtual MAC when the VIPs live
    on a macvlan). `link_local` is the IPv6 source for NAs; it may be set later, once DAD has finished.
    """

    def __init__(self, ifname: str, mac: str | bytes, link_local: IPv6Address | None = None) -> None:
        self.ifname = ifname
        self.mac = mac_bytes(mac)
        self.link_local = link_local
        # Protocol 0: the socket receives nothing, so nothing queues up on it unread.
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self._sock.setblocking(False)
            self._sock.bind((ifname, 0))
        except BaseException:
            self._sock.close()
            raise

    def frame(self, address: IPAddress) -> bytes:
        if isinstance(address, IPv4Address):
            return build_garp(self.mac, address)
        if self.link_local is None:
            raise ValueError(f"no IPv6 link-local source on {self.ifname} yet; cannot announce {address}")
        return build_unsolicited_na(self.mac, address, self.link_local)

    def announce(self, addresses: Iterable[IPAddress]) -> None:
        """Send one frame per address (GARP for IPv4, NA for IPv6). Never blocks.

        Every address is tried even when one fails; the first OSError (ENETDOWN, ENOBUFS, ...) is then raised.
        """
        frames = [self.frame(address) for address in addresses]  # a ValueError here sends nothing
        first_error: OSError | None = None
        for frame in frames:
            try:
                self._sock.send(frame)
            except OSError as err:
                first_error = first_error or err
        if first_error is not None:
            raise first_error

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
