"""The unicast keys of an instance (issue #5 point 7), each checked by the function of its name.

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

from typing import Any

from vrrpd.config.checker import Checker, Loc, Val, pick, quote
from vrrpd.config.yamlsrc import Seq
from vrrpd.protocol.constants import VRRP_TTL
from vrrpd.protocol.packet import IPAddress

UNICAST_KEYS = ("unicast_peers", "unicast_source", "unicast_ttl", "unicast_min_ttl")
DEFAULT_TTL = VRRP_TTL


def unicast_peers(checker: Checker, value: Any, loc: Loc) -> tuple[IPAddress, ...]:
    if isinstance(value, list) and not value:
        raise checker.error(
            loc,
            "is empty: an instance without peers would use multicast, and vrrpd never falls back to multicast "
            "silently; list the peers, or leave unicast_peers out for a multicast instance",
        )
    if not isinstance(value, Seq):
        shown = "a mapping" if isinstance(value, dict) else quote(value, loc)
        raise checker.error(loc, f"expected a list of peer addresses, got {shown}")
    peers: list[IPAddress] = []
    seen: dict[IPAddress, int] = {}
    for index, item in enumerate(value):
        at = loc.item(value, index)
        peer = checker.address(item, at, with_prefix=False)
        if peer in seen:
            raise checker.error(at, f"{peer} is already listed at {loc.path}[{seen[peer]}]")
        if peers and peer.version != peers[0].version:
            raise checker.error(at, f"{peer} is not IPv{peers[0].version} like {loc.path}[0]")
        seen[peer] = index
        peers.append(peer)
    return tuple(peers)


def unicast_source(checker: Checker, value: Any, loc: Loc) -> IPAddress:
    return checker.address(value, loc, with_prefix=False)


def unicast_ttl(checker: Checker, value: Any, loc: Loc) -> int:
    """`unicast_ttl` and `unicast_min_ttl` alike."""
    return checker.integer(value, loc, 1, VRRP_TTL)


def check_unicast(checker: Checker, vals: dict[str, Val], family: int, loc: Loc) -> None:
    """Cross-key checks of one instance: families, VIPs, the source, keys that need peers."""
    peers, source = vals["unicast_peers"], vals["unicast_source"]
    if not peers.value:
        for key in UNICAST_KEYS[1:]:
            if vals[key].origin == "instance":
                raise checker.error(
                    vals[key].loc,
                    "is set but unicast_peers is not, so this instance would use multicast; add unicast_peers "
                    f"or remove {key}",
                )
        return
    at = pick(loc, peers)
    vips = {a.ip: i for i, a in enumerate(vals["virtual_addresses"].value)}
    for peer in peers.value:
        if peer.version != family:
            raise checker.error(at, f"{peer}{peers.note()} is not IPv{family} like the instance's virtual addresses")
        if peer in vips:
            raise checker.error(at, f"{peer}{peers.note()} is one of this instance's virtual addresses, not a peer")
    if source.value is not None:
        src_at = pick(loc, source)
        if source.value.version != family:
            raise checker.error(
                src_at, f"{source.value}{source.note()} is not IPv{family} like the instance's virtual addresses"
            )
        if source.value in vips:
            raise checker.error(
                src_at,
                f"{source.value}{source.note()} is a virtual address, which a backup does not have: adverts must "
                "leave from an address of the host itself",
            )
        if source.value in peers.value:
            raise checker.error(src_at, f"{source.value}{source.note()} is also listed in unicast_peers")
    _warn_link_local(checker, vals, family, loc)


def _warn_link_local(checker: Checker, vals: dict[str, Val], family: int, loc: Loc) -> None:
    min_ttl, source = vals["unicast_min_ttl"], vals["unicast_source"]
    if family != 6 or min_ttl.value >= VRRP_TTL or (source.value is not None and not source.value.is_link_local):
        return
    shown = "the default source, the interface's link-local" if source.value is None else f"{source.value}"
    checker.warn(
        pick(loc, min_ttl),
        f"accepts routed peers (unicast_min_ttl {min_ttl.value}{min_ttl.note()}), but adverts leave from "
        f"{shown}, which no router forwards; set unicast_source to a global address of this host",
    )
