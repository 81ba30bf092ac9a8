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

import socket
from dataclasses import dataclass
from ipaddress import IPv6Address
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
    """Whether `address` is an address of this host (network namespace). Instant and non-blocking.

    A datagram socket "connected" to a local address gets that same address as its source (the kernel routes it
    through the local table); any other address gets one of ours. Binding would be simpler but lies with
    net.ipv4.ip_nonlocal_bind=1, common on haproxy hosts. `ifindex` scopes an IPv6 link-local address.
    """
    if isinstance(address, IPv6Address):
        family, sockaddr = socket.AF_INET6, (str(address), 9, 0, ifindex if address.is_link_local else 0)
    else:
        family, sockaddr = socket.AF_INET, (str(address), 9)  # type: ignore[assignment]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(sockaddr)
        except OSError:  # no route at all: certainly not one of ours
            return False
        return str(probe.getsockname()[0]).split("%", 1)[0] == str(address)
