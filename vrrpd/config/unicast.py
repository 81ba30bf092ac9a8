"""The unicast keys of an instance (issue #5 point 7): checked here, mixed into vrrpd.config's checker.

- ``unicast_peers``: the addresses adverts are sent to, one copy each, instead of the multicast group; received
  adverts are accepted only from them. An empty list is an error (keepalived before 2.2.4 silently fell back to
  multicast; vrrpd never does): leave the key out for multicast.
- ``unicast_source``: the address adverts leave from (keepalived's ``unicast_src_ip``). Default: what a multicast
  instance uses (the interface's primary IPv4 address, or its IPv6 link-local).
- ``unicast_ttl``: TTL / hop limit of the adverts we send (default 255, the RFC 9568 §5.1.1.3 value).
- ``unicast_min_ttl``: the lowest TTL / hop limit accepted from a peer (default 255, the RFC 9568 §7.1 check).
  A number rather than an on/off switch: a peer N routers away arrives with 255 - N, so ``255 - N`` accepts it while
  still refusing a forged advert from further away (the GTSM idea, RFC 5082), which "no TTL check" would let in.

A listed peer that turns out to be an address of this host is left out when the daemon starts (and logged), so
one file listing every node of a cluster serves them all; the unicast source and the virtual addresses, which the
config does know, are errors as peers.

There is no key to accept adverts from unlisted sources: every peer must be listed anyway for it to hear us, so an
advert from anyone else is a misconfiguration (e.g. the peer sends from another address) or a forgery, and
silently accepting it would hide exactly that. Such adverts are dropped, counted and logged as
``unicast_unknown_peer``.

The unicast keys without ``unicast_peers`` are an error when set on the instance itself (the instance would be
multicast, which is the trap this avoids); inherited from ``defaults`` they apply to unicast instances only.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

IPAddress = IPv4Address | IPv6Address

UNICAST_KEYS = ("unicast_peers", "unicast_source", "unicast_ttl", "unicast_min_ttl")
DEFAULT_TTL = 255
_BROADCAST = IPv4Address("255.255.255.255")


class UnicastChecks:
    """Per-key checks for vrrpd.config's `_Checker` (dispatched by key name), and the per-instance check.

    Relies on the checker's `error`, `warn`, `string` and `integer`, and on its `_Loc` / `_Val` / `_Seq` values.
    """

    error: Any
    warn: Any
    string: Any
    integer: Any

    def unicast_peers(self, value: Any, loc: Any) -> tuple[IPAddress, ...]:
        if isinstance(value, list) and not value:
            raise self.error(
                loc,
                "is empty: an instance without peers would use multicast, and vrrpd never falls back to multicast "
                "silently; list the peers, or leave unicast_peers out for a multicast instance",
            )
        if not isinstance(value, list) or not hasattr(value, "item_lines"):
            shown = "a mapping" if isinstance(value, dict) else f"{value!r}"
            raise self.error(loc, f"expected a list of peer addresses, got {shown}")
        peers: list[IPAddress] = []
        seen: dict[IPAddress, int] = {}
        for index, item in enumerate(value):
            at = loc.item(value, index)
            peer = self._unicast_address(item, at)
            if peer in seen:
                raise self.error(at, f"{peer} is already listed at {loc.path}[{seen[peer]}]")
            if peers and peer.version != peers[0].version:
                raise self.error(at, f"{peer} is not IPv{peers[0].version} like {loc.path}[0]")
            seen[peer] = index
            peers.append(peer)
        return tuple(peers)

    def unicast_source(self, value: Any, loc: Any) -> IPAddress:
        return self._unicast_address(value, loc)

    def unicast_ttl(self, value: Any, loc: Any) -> int:
        return int(self.integer(value, loc, 1, 255))

    def unicast_min_ttl(self, value: Any, loc: Any) -> int:
        return int(self.integer(value, loc, 1, 255))

    def _unicast_address(self, value: Any, loc: Any) -> IPAddress:
        text = self.string(value, loc)
        if "/" in text:
            raise self.error(loc, f"{text!r} is an address, not a network: write it without a prefix length")
        if "%" in text:
            raise self.error(loc, f"{text!r} must not carry a zone; the instance's interface is the zone")
        try:
            address = ip_address(text)
        except ValueError:
            raise self.error(loc, f"{text!r} is not an IPv4 or IPv6 address") from None
        if address.is_multicast or address.is_unspecified or address.is_loopback or address == _BROADCAST:
            raise self.error(loc, f"{address} is not a unicast address")
        return address

    def _check_unicast(self, vals: dict[str, Any], family: int, loc: Any) -> None:
        """Cross-key checks of one instance: families, VIPs, the source, keys that need peers."""
        peers, source = vals["unicast_peers"], vals["unicast_source"]
        if not peers.value:
            for key in UNICAST_KEYS[1:]:
                if vals[key].origin == "instance":
                    raise self.error(
                        vals[key].loc,
                        "is set but unicast_peers is not, so this instance would use multicast; add unicast_peers "
                        f"or remove {key}",
                    )
            return
        at = peers.loc if peers.origin == "instance" else loc
        vips = {a.ip: i for i, a in enumerate(vals["virtual_addresses"].value)}
        for peer in peers.value:
            if peer.version != family:
                raise self.error(at, f"{peer}{peers.note()} is not IPv{family} like the instance's virtual addresses")
            if peer in vips:
                raise self.error(at, f"{peer}{peers.note()} is one of this instance's virtual addresses, not a peer")
        if source.value is None:
            self._warn_link_local(vals, family, loc)
            return
        src_at = source.loc if source.origin == "instance" else loc
        if source.value.version != family:
            raise self.error(
                src_at, f"{source.value}{source.note()} is not IPv{family} like the instance's virtual addresses"
            )
        if source.value in vips:
            raise self.error(
                src_at,
                f"{source.value}{source.note()} is a virtual address, which a backup does not have: adverts must "
                "leave from an address of the host itself",
            )
        if source.value in peers.value:
            raise self.error(src_at, f"{source.value}{source.note()} is also listed in unicast_peers")
        self._warn_link_local(vals, family, loc)

    def _warn_link_local(self, vals: dict[str, Any], family: int, loc: Any) -> None:
        min_ttl, source = vals["unicast_min_ttl"], vals["unicast_source"]
        if family != 6 or min_ttl.value >= DEFAULT_TTL or (source.value is not None and not source.value.is_link_local):
            return
        shown = "the default source, the interface's link-local" if source.value is None else f"{source.value}"
        self.warn(
            min_ttl.loc if min_ttl.origin == "instance" else loc,
            f"accepts routed peers (unicast_min_ttl {min_ttl.value}{min_ttl.note()}), but adverts leave from "
            f"{shown}, which no router forwards; set unicast_source to a global address of this host",
        )
