"""The receive screen (RFC 9568 §7.1): which received packets reach a virtual router, and as what.

Pure, like the rest of the core: the daemon reads a packet from its socket and hands it here with what it knows of
the link (its name, the VRRP group, our own advert sources) and of the router the packet's VRID names (a
`Receiver`, or None when no router has that VRID on the link). The answer is the `AdvertReceived` input for that
router, or a `Drop` whose `reason` keys the drop counters and whose `detail` goes into the log line. Remote
garbage never raises here.

The checks run in this order, and the order is behaviour (it decides the reason a packet is counted under):

1. a repeat of the last advert the router accepted (same bytes, source, destination and TTL) passes at once: every
   check below passed for it last time and cannot answer differently, and neither can its decoding. A master
   sends the same advert every interval, so this is what a backup receives nearly always (the CPU of a backup),
   and the router takes the same input object again as a repeat (VirtualRouter.heard_again);
2. ``length``: the IP total length disagrees with the bytes read (or the read was truncated);
3. ``ttl``: a multicast router takes TTL / hop limit 255 only (§7.1; a unicast router checks its own minimum, 5);
4. ``own_address``: sent from one of our own advert sources (multicast loop is off, but a unicast peer list or a
   misconfigured neighbour can still bring our own adverts back);
5. a unicast router (`UnicastFilter`): ``multicast``, ``unicast_unknown_peer``, then ``ttl`` below its minimum;
6. ``unicast``: a multicast router takes no advert sent to anything but the VRRP group (keepalived drops it too);
7. the codec's reasons (vrrpd.protocol.packet.decode): ``too_short``, ``version``, ``type``, ``vrid`` (VRID 0),
   ``count_zero``, ``mixed_family``, ``length``, ``checksum``, ``auth_type``, ``interval_zero``;
8. ``vrid``: a valid advert for a VRID no router is configured for on this link (§7.1).

What the router itself ignores after that (lower priority, address mismatches, an owner's conflict) is the state
machine's business (vrrpd.protocol.router), counted there; `mismatch` names what of its own configuration an
advert that reached it contradicts.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Protocol

from vrrpd.protocol.constants import OWNER_PRIORITY, VRRP_TTL
from vrrpd.protocol.events import AdvertReceived
from vrrpd.protocol.packet import ChecksumMode, InvalidAdvert, IPAddress, decode
from vrrpd.protocol.parameters import RouterConfig


class Packet(Protocol):
    """A received packet as the screen reads it (vrrpd.net.sockets.Received is one)."""

    src: IPAddress
    dst: IPAddress
    ttl: int
    """IPv4 TTL or IPv6 hop limit as received."""
    payload: bytes
    """The VRRP message, IP header stripped."""
    length_mismatch: bool
    """The IP length disagreed with the bytes read, or the read was truncated."""


@dataclass(frozen=True, slots=True)
class Drop:
    """A packet the screen refuses: `reason` keys the drop counters, `detail` is for the log line."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class UnicastFilter:
    """The receive side of a unicast router (`unicast_peers`): only its peers, only to us, at least `min_ttl`."""

    peers: frozenset[IPAddress]
    min_ttl: int
    """`unicast_min_ttl`: 255 by default (on-link peers only, §7.1); lower lets routed peers in."""

    def reject(self, src: IPAddress, dst: IPAddress, ttl: int) -> Drop | None:
        """Why an advert must not reach this router, or None. An advert to the group is refused, as keepalived
        does it ("Expected unicast packet but received multicast packet"): its sender does not know we are
        unicast, so it cannot hear us, and obeying it would only hide a split configuration."""
        if dst.is_multicast:
            return Drop("multicast", f"sent to {dst}, but this instance uses unicast peers")
        if src not in self.peers:
            return Drop("unicast_unknown_peer", f"{src} is not in unicast_peers")
        if ttl < self.min_ttl:
            return Drop("ttl", f"TTL/hop limit {ttl} is below unicast_min_ttl {self.min_ttl}")
        return None


@dataclass(frozen=True, slots=True)
class Repeat:
    """The last advert a router accepted, as it arrived, and the input it became."""

    payload: bytes
    src: IPAddress
    dst: IPAddress
    ttl: int
    received: AdvertReceived


@dataclass(slots=True)
class Receiver:
    """What the screen knows of one configured router (its VRID on one link)."""

    checksum_mode: ChecksumMode
    """Which IPv4 VRRPv3 checksum forms it accepts (RFC 9568 §5.2.8)."""
    unicast: UnicastFilter | None = None
    """None for a multicast router."""
    repeat: Repeat | None = None
    """The repeat cache: set by `screen` on each accepted advert that was not a repeat. A memo only: it changes
    what an answer costs, never the answer."""


def screen(
    packet: Packet, receiver: Receiver | None, ifname: str, group: IPAddress, own: Container[IPAddress]
) -> Drop | AdvertReceived:
    """The §7.1 checks of one packet received on link `ifname` (whose VRRP group is `group` and whose own advert
    sources are `own`) for the router `receiver` its VRID names (None: no router has it on this link)."""
    src, dst = packet.src, packet.dst
    if receiver is not None:
        repeat = receiver.repeat
        # Identity first: the socket layer hands out the same address objects for a source it has seen.
        if (
            repeat is not None
            and (repeat.src is src or repeat.src == src)
            and (repeat.dst is dst or repeat.dst == dst)
            and repeat.ttl == packet.ttl
            and repeat.payload == packet.payload
            and not packet.length_mismatch
        ):
            return repeat.received
        unicast = receiver.unicast
    else:
        unicast = None
    if packet.length_mismatch:
        return Drop("length", "IP length")
    if packet.ttl != VRRP_TTL and unicast is None:  # a unicast router checks its own minimum, below
        return Drop("ttl", f"TTL/hop limit {packet.ttl}")
    if src in own:
        return Drop("own_address")
    if unicast is not None and (rejected := unicast.reject(src, dst, packet.ttl)) is not None:
        return rejected
    if dst != group and unicast is None:
        return Drop("unicast", f"sent to {dst}")
    try:
        if receiver is None:
            decoded = decode(packet.payload, src, dst)
        else:
            decoded = decode(packet.payload, src, dst, receiver.checksum_mode)
    except InvalidAdvert as exc:
        return Drop(exc.reason, exc.detail)
    if receiver is None:
        return Drop("vrid", f"VRID {decoded.advert.vrid} not configured on {ifname}")
    received = AdvertReceived(src, decoded.advert, decoded.checksum_form)
    receiver.repeat = Repeat(packet.payload, src, dst, packet.ttl, received)
    return received


def mismatch(event: AdvertReceived, cfg: RouterConfig, priority: int) -> str | None:
    """The drop reason for an advert that contradicts the router's configuration (RFC 9568 §7.1, RFC 3768 §7.1),
    None if it does not; `priority` is the router's effective one. The address list is checked by the router
    (a mismatch is logged and, by default, used anyway)."""
    advert = event.advert
    if advert.vrid != cfg.vrid:
        return "vrid"
    if event.src.version != cfg.family or advert.addresses[0].version != cfg.family:
        return "family"
    if advert.version != cfg.version:
        return "version"
    if cfg.version == 2 and (advert.auth_type, advert.auth_data) != (cfg.auth_type, cfg.auth_data):
        return "auth"  # RFC 3768 §7.1 / §10
    if cfg.version == 2 and advert.interval_cs != cfg.advert_interval_cs:
        return "interval"  # RFC 3768 §7.1: v2 MUST drop on interval mismatch; v3 adopts instead
    if priority == OWNER_PRIORITY and cfg.owner_ignores_adverts and advert.priority != OWNER_PRIORITY:
        return "owner"  # RFC 5798 §7.1; another owner is a conflict, handled by the router
    return None
