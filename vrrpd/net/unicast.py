"""Unicast peers of one instance (issue #5 point 7): one advert per peer on send, the peer/TTL filter on receive.

Sending: each peer gets its own copy, encoded with that peer as the destination, because the IPv4 VRRPv3
pseudo-header (RFC 5798 §5.2.8 as keepalived 2.2.7 and FRR 8.4 read it) and the IPv6 one (RFC 8200 §8.1) both
carry the destination address. keepalived 2.2.7 does the same (its `old_unicast_checksum` knob brings back the
pre-1.3.6 form with the multicast group in the pseudo-header; vrrpd does not send or accept that form). A failed
send to one peer is counted for that peer and never stops the others. Nothing of a unicast instance ever goes to
the multicast group: there is no fallback.

Receiving (checked before the VRRP message is decoded, after the IP length and our-own-address checks):
- ``multicast``: an advert to the multicast group for a unicast instance's VRID is dropped, as keepalived does
  ("Expected unicast packet but received multicast packet"): its sender does not know we are unicast, so it
  cannot hear us, and obeying it would only hide a split configuration;
- ``unicast_unknown_peer``: the source is not one of `unicast_peers`;
- ``ttl``: the TTL / hop limit is below `unicast_min_ttl` (255 by default: on-link peers only, RFC 9568 §7.1).

The adverts leave through the socket of the instance's interface (with `virtual_mac` too, where keepalived needs
`vmac_xmit_base`): a unicast advert is routed to its peer, and the macvlan of a Backup has no route at all.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any

from vrrpd.config import InstanceConfig
from vrrpd.net.sockets import VrrpSocket
from vrrpd.protocol.packet import Advert, ChecksumForm, IPAddress, encode

log = logging.getLogger("vrrpd")


@dataclass
class Peer:
    address: IPAddress
    adverts_sent: int = 0
    send_errors: int = 0
    last_error: str | None = None
    wire: tuple[Advert, bytes] | None = None
    """The last advert sent to this peer and its encoding (the checksum covers the peer's address): an unchanged
    advert is not encoded again, as for multicast."""


class UnicastError(ValueError):
    """A unicast instance that cannot start: its source is not ours, or a peer is."""


class UnicastPeers:
    """The peers of one unicast instance, their send counters and the receive filter."""

    def __init__(self, peers: tuple[IPAddress, ...], source: IPAddress, ttl: int, min_ttl: int) -> None:
        self.peers = [Peer(address) for address in peers]
        self._known = frozenset(peers)
        self.source = source
        self.ttl = ttl
        self.min_ttl = min_ttl

    @classmethod
    def for_instance(cls, cfg: InstanceConfig, primary: IPAddress, ifindex: int) -> UnicastPeers | None:
        """None for a multicast instance.

        A listed peer that is an address of this host is left out (and logged), so that one file listing every
        router serves them all, each leaving itself out. Raises UnicastError when the source is not an address of
        this host, or when no peer is left.
        """
        if not cfg.unicast_peers:
            return None
        source = cfg.unicast_source or primary
        if not is_local(source, ifindex):
            raise UnicastError(f"unicast_source {source} is not an address of this host (on {cfg.interface})")
        peers = []
        for peer in cfg.unicast_peers:
            if peer == source or is_local(peer, ifindex):
                log.info("%s: unicast peer %s is an address of this host; left out", cfg.name, peer)
            else:
                peers.append(peer)
        if not peers:
            listed = ", ".join(map(str, cfg.unicast_peers))
            raise UnicastError(f"every unicast peer ({listed}) is an address of this host; list the other routers")
        log.info(
            "%s: unicast to %s from %s (TTL %d; accepting TTL >= %d, from these peers only)",
            cfg.name,
            ", ".join(map(str, peers)),
            source,
            cfg.unicast_ttl,
            cfg.unicast_min_ttl,
        )
        return cls(tuple(peers), source, cfg.unicast_ttl, cfg.unicast_min_ttl)

    def transmit(
        self, sock: VrrpSocket, advert: Advert, checksum_form: ChecksumForm
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

    def reject(self, src: IPAddress, dst: IPAddress, ttl: int) -> tuple[str, str] | None:
        """(drop reason, detail) for a received advert this instance must not process, else None."""
        if dst.is_multicast:
            return "multicast", f"sent to {dst}, but this instance uses unicast peers"
        if src not in self._known:
            return "unicast_unknown_peer", f"{src} is not in unicast_peers"
        if ttl < self.min_ttl:
            return "ttl", f"TTL/hop limit {ttl} is below unicast_min_ttl {self.min_ttl}"
        return None

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
