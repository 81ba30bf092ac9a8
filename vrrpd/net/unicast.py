"""Unicast peers of one instance (issue #5 point 7): one advert per peer on send, the peer/TTL filter on receive.

Sending: each peer gets its own copy, encoded with that peer as the destination, because the IPv4 VRRPv3
pseudo-header (RFC 5798 §5.2.8 as keepalived 2.2.7 and FRR 8.4 read it) and the IPv6 one (RFC 8200 §8.1) both
carry the destination address. keepalived 2.2.7 does the same (its `old_unicast_checksum` knob brings back the
pre-1.3.6 form with the multicast group in the pseudo-header; vrrpd does not send or accept that form). A failed
send to one peer is counted for that peer and never stops the others. Nothing of a unicast instance ever goes to
the multicast group: there is no fallback.

Receiving: the peers and `unicast_min_ttl` make the instance's `UnicastFilter` (vrrpd.protocol.receive), which the
receive screen applies before the VRRP message is decoded: ``multicast`` (an advert to the group), then
``unicast_unknown_peer``, then ``ttl`` (below `unicast_min_ttl`, 255 by default: on-link peers only, RFC 9568 §7.1).

The adverts leave through the socket of the instance's interface (with `virtual_mac` too, where keepalived needs
`vmac_xmit_base`): a unicast advert is routed to its peer, and the macvlan of a Backup has no route at all.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

from vrrpd.protocol.packet import Advert, ChecksumForm, IPAddress, encode
from vrrpd.protocol.receive import UnicastFilter


class PeerSocket(Protocol):
    """What sends to a peer (vrrpd.net.sockets.VrrpSocket.send_to)."""

    def send_to(self, payload: bytes, src: IPAddress, dst: IPAddress, ttl: int) -> None: ...


@dataclass
class Peer:
    address: IPAddress
    adverts_sent: int = 0
    send_errors: int = 0
    last_error: str | None = None
    wire: tuple[Advert, bytes] | None = None
    """The last advert sent to this peer and its encoding (the checksum covers the peer's address): an unchanged
    advert is not encoded again, as for multicast."""


class UnicastPeers:
    """The peers of one unicast instance, their send counters and the receive filter."""

    def __init__(self, peers: tuple[IPAddress, ...], source: IPAddress, ttl: int, min_ttl: int) -> None:
        self.peers = [Peer(address) for address in peers]
        self.source = source
        self.ttl = ttl
        self.min_ttl = min_ttl
        self.filter = UnicastFilter(frozenset(peers), min_ttl)
        """The receive side: only these peers, at least `min_ttl`."""

    def transmit(
        self, sock: PeerSocket, advert: Advert, checksum_form: ChecksumForm
    ) -> list[tuple[IPAddress, OSError]]:
        """Send `advert` to every peer; returns the failures (each already counted on its peer)."""
        failures: list[tuple[IPAddress, OSError]] = []
        for peer in self.peers:
            if peer.wire is not None and peer.wire[0] is advert:
                wire = peer.wire[1]
            else:
                wire = encode(advert, self.source, peer.address, checksum_form=checksum_form)
                peer.wire = (advert, wire)
            try:
                sock.send_to(wire, self.source, peer.address, self.ttl)
            except OSError as exc:
                peer.send_errors += 1
                peer.last_error = exc.strerror or str(exc)
                failures.append((peer.address, exc))
            else:
                peer.adverts_sent += 1
        return failures

    def status(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "ttl": self.ttl,
            "min_ttl": self.min_ttl,
            "peers": [
                {
                    "address": str(p.address),
                    "adverts_sent": p.adverts_sent,
                    "send_errors": p.send_errors,
                    "last_error": p.last_error,
                }
                for p in self.peers
            ],
        }


def is_local(address: IPAddress, ifindex: int) -> bool:
    """Whether `address` is an address of this host (network namespace). Instant and non-blocking: it runs on the
    event loop at start-up and in a reload's preflight.

    Fast path: a datagram socket "connected" to a local address usually gets that same address as its source (the
    kernel routes it through the local table). Not always: the local route of a second address in the subnet of
    the interface's primary one has the primary as its preferred source, so the connect answers the primary (the
    secondary-address bug the reload tests found). A "no" is therefore checked against the exact list of this
    namespace's addresses (`ipv4_addresses`, `ipv6_addresses`). Binding would be simpler but lies with
    net.ipv4.ip_nonlocal_bind=1, common on haproxy hosts; /proc/net/fib_trie is exact too but huge on a router
    with full BGP tables. `ifindex` scopes an IPv6 link-local address.
    """
    if isinstance(address, IPv6Address):
        family, sockaddr = socket.AF_INET6, (str(address), 9, 0, ifindex if address.is_link_local else 0)
    else:
        family, sockaddr = socket.AF_INET, (str(address), 9)  # type: ignore[assignment]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(sockaddr)
        except OSError:
            pass  # no route at all: the list below still tells
        else:
            if str(probe.getsockname()[0]).split("%", 1)[0] == str(address):
                return True
    if isinstance(address, IPv6Address):
        return any(a == address and (not address.is_link_local or i == ifindex) for a, i in ipv6_addresses())
    return address in ipv4_addresses()


SIOCGIFCONF = 0x8912
IFREQ_SIZE = max(32, struct.calcsize("16sLLHBBB0L"))
"""struct ifreq: the interface name (IFNAMSIZ, 16) and a union whose largest member is struct ifmap (two unsigned
longs, a short and three chars): 40 bytes on 64-bit Linux, 32 on 32-bit. The sockaddr_in starts at byte 16, so its
IPv4 address sits at bytes 20..24."""


def ipv4_addresses() -> set[IPv4Address]:
    """Every IPv4 address of every interface of this namespace, secondaries included (SIOCGIFCONF)."""
    size = 64 * IFREQ_SIZE
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while True:
            buf = array.array("B", bytes(size))
            ifconf = struct.pack("iL", size, buf.buffer_info()[0])  # struct ifconf {int len; char *buf}
            length = struct.unpack("iL", fcntl.ioctl(sock.fileno(), SIOCGIFCONF, ifconf))[0]
            if length < size:  # a full buffer may have left some out: ask again with a larger one
                break
            size *= 4
    data = buf.tobytes()
    return {IPv4Address(data[at + 20 : at + 24]) for at in range(0, length - IFREQ_SIZE + 1, IFREQ_SIZE)}


IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40


def ipv6_addresses() -> list[tuple[IPv6Address, int]]:
    """Every usable IPv6 address of this namespace with its interface index (/proc/net/if_inet6: one short line
    per address, unlike the routing table)."""
    try:
        with open("/proc/net/if_inet6") as f:
            return parse_if_inet6(f.read())
    except OSError:  # IPv6 disabled: no addresses
        return []


def parse_if_inet6(text: str) -> list[tuple[IPv6Address, int]]:
    """The (address, ifindex) pairs of /proc/net/if_inet6's lines: 32 hex digits, ifindex, prefix length, scope
    and flags in hex, then the interface name.

    An address still in duplicate address detection (IFA_F_TENTATIVE) or that failed it (IFA_F_DADFAILED) is
    left out: the kernel does not send from it, so adverts from it would never leave. Refusing it says so at
    start-up (or at the reload) instead of failing every send; DAD is over in a second or so.
    """
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or int(fields[4], 16) & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            continue
        found.append((IPv6Address(bytes.fromhex(fields[0])), int(fields[1], 16)))
    return found
