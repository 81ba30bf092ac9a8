"""keepalived's unicast keywords -> vrrpd's unicast keys.

| keepalived 2.2.7 | vrrpd |
|---|---|
| `unicast_peer { IP ... }` | `unicast_peers: [IP, ...]` |
| `unicast_peer { IP min_ttl N }` | `unicast_min_ttl: N` (one per instance: the lowest of the peers') |
| `unicast_peer { IP max_ttl N }` | not mapped (vrrpd has no upper bound; N < 255 is a warning) |
| `unicast_src_ip IP` (`mcast_src_ip` on a unicast instance) | `unicast_source: IP` |
| `unicast_ttl N` | `unicast_ttl: N` |
| `check_unicast_src`, global `vrrp_check_unicast_src` | always on in vrrpd (a note) |
| `unicast_fault_no_peer` | nothing to map: vrrpd refuses an empty peer list (a note) |
| `old_unicast_checksum` | not mapped (a warning): vrrpd uses only the current form |

TTL: keepalived checks no TTL on unicast adverts unless a peer has min_ttl/max_ttl; vrrpd accepts only
`unicast_min_ttl` and up (255 by default). keepalived 2.2.7 sends IPv6 unicast adverts with the kernel's default
hop limit (64) unless `unicast_ttl` is set, so an IPv6 instance whose peers are still keepalived gets
`unicast_min_ttl: 64` (seen on the wire in netns-tests/test_unicast_peers.py).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from vrrpd.importer.model import Context, Instance, address_of
from vrrpd.importer.syntax import Statement
from vrrpd.protocol.constants import VRRP_TTL

KEYWORDS = (
    "unicast_peer",
    "unicast_src_ip",
    "mcast_src_ip",
    "unicast_ttl",
    "unicast_fault_no_peer",
    "check_unicast_src",
    "old_unicast_checksum",
)
"""The instance keywords `read_keyword` takes."""
CHECK_SRC_NOTE = "vrrpd always accepts unicast adverts only from the instance's unicast_peers"
KEEPALIVED_V6_HOP_LIMIT = 64
_MCAST_SRC = "vrrpd sends multicast adverts from the interface's primary address (IPv6: its link-local)"


def read_keyword(ctx: Context, inst: Instance, stmt: Statement) -> None:
    """One of the instance keywords in KEYWORDS; checked in `unicast_out`, once the family is known."""
    keys = inst.unicast
    key = stmt.keyword
    if key == "unicast_peer":
        keys.peer_block = stmt
        for entry in ctx.block(stmt) or []:
            keys.peers.append((entry.keyword, list(entry.args), entry))
    elif key in ("unicast_src_ip", "mcast_src_ip"):
        # keepalived keeps one source address for both; the later line wins, as in keepalived.
        if ctx.arg(stmt) is not None:
            keys.source = stmt
    elif key == "unicast_ttl":
        keys.ttl = stmt
    elif key == "unicast_fault_no_peer":
        keys.fault_no_peer = stmt
    elif key == "check_unicast_src":
        keys.check_src = stmt
    elif key == "old_unicast_checksum":
        keys.old_checksum = stmt


def _address(ctx: Context, stmt: Statement, text: str, family: int, what: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.split("%", 1)[0])
    except ValueError:
        ctx.warn(stmt, f"{what} {text}: not an IP address; not imported")
        return None
    if address.version != family:
        ctx.warn(stmt, f"{what} {text}: not IPv{family} like the instance's addresses; not imported")
        return None
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        ctx.warn(stmt, f"{what} {text}: not a unicast address; not imported")
        return None
    return address


def unicast_out(ctx: Context, inst: Instance, out: dict[str, Any], family: int, global_check: bool) -> None:
    """Add the unicast keys to `out` (an instance being written), with a message for what does not map 1:1."""
    keys = inst.unicast
    vips = {ip_address(address_of(a).split("/")[0]) for a in out["virtual_addresses"]}
    peers: list[IPv4Address | IPv6Address] = []
    min_ttls: list[tuple[int, Statement]] = []
    for text, options, at in keys.peers:
        peer = _address(ctx, at, text, family, "unicast_peer")
        if peer is None:
            continue
        if peer in vips:
            ctx.warn(at, f"unicast_peer {text}: a virtual address of this instance, not a peer; not imported")
            continue
        if peer in peers:
            ctx.note(at, f"unicast_peer {text}: listed twice; imported once")
            continue
        peers.append(peer)
        while options:
            word = options.pop(0)
            value = options.pop(0) if options else ""
            if word in ("min_ttl", "max_ttl") and value.isdigit() and 0 <= int(value) <= VRRP_TTL:
                if word == "min_ttl":
                    min_ttls.append((int(value), at))
                elif int(value) < VRRP_TTL:
                    ctx.warn(at, f"unicast_peer {text}: max_ttl {value}: vrrpd has no upper TTL bound; not imported")
            else:
                ctx.warn(at, f"unicast_peer {text}: {word} {value}: not understood; ignored")

    if not peers:
        _no_peers(ctx, inst, family)
        return
    out["unicast_peers"] = [str(p) for p in peers]

    if keys.source is not None:
        source = _address(ctx, keys.source, keys.source.args[0], family, keys.source.keyword)
        if source in vips or source in peers:
            what = "a virtual address of this instance" if source in vips else "also a unicast_peer"
            ctx.warn(keys.source, f"{keys.source.keyword} {source}: {what}; not imported (vrrpd would refuse it)")
        elif source is not None:
            out["unicast_source"] = str(source)

    ttl = None
    if keys.ttl is not None:
        text = keys.ttl.args[0] if keys.ttl.args else ""
        if text.isdigit() and 1 <= int(text) <= VRRP_TTL:
            ttl = int(text)
            if ttl != VRRP_TTL:
                out["unicast_ttl"] = ttl
        else:
            ctx.warn(keys.ttl, f"unicast_ttl {text}: vrrpd needs 1..255; not imported (255 is sent)")

    _min_ttl(ctx, inst, out, family, ttl, min_ttls)

    if keys.check_src is not None or global_check:
        if keys.check_src is not None:
            ctx.note(keys.check_src, f"check_unicast_src: {CHECK_SRC_NOTE}")
    else:
        ctx.note(
            keys.peer_block or inst.stmt,
            f"unicast_peer: keepalived (without check_unicast_src) accepts unicast adverts from any source; "
            f"{CHECK_SRC_NOTE}, so every peer must send from the address listed here (its unicast_src_ip)",
        )
    if keys.fault_no_peer is not None:
        ctx.note(keys.fault_no_peer, "unicast_fault_no_peer: vrrpd refuses an empty unicast_peers, so it never applies")
    if keys.old_checksum is not None:
        if keys.old_checksum.args[:1] == ["never"]:
            ctx.note(keys.old_checksum, "old_unicast_checksum never: vrrpd never uses the old form either")
        else:
            ctx.warn(
                keys.old_checksum,
                "old_unicast_checksum: not supported: vrrpd sends and accepts only the current unicast checksum "
                "(the peer's address in the pseudo-header, keepalived >= 1.3.6); remove old_unicast_checksum from "
                "the keepalived peers too (they detect the current form on their own)",
            )


def _min_ttl(
    ctx: Context,
    inst: Instance,
    out: dict[str, Any],
    family: int,
    ttl: int | None,
    min_ttls: list[tuple[int, Statement]],
) -> None:
    at = inst.unicast.peer_block or inst.stmt
    if min_ttls:
        lowest = min(value for value, _ in min_ttls)
        if len({value for value, _ in min_ttls}) > 1 or len(min_ttls) < len(out["unicast_peers"]):
            ctx.warn(
                at,
                f"unicast_peer: min_ttl differs between peers (or some have none); vrrpd has one unicast_min_ttl "
                f"per instance: imported as the lowest given, {lowest}",
            )
        if lowest < VRRP_TTL:
            out["unicast_min_ttl"] = max(lowest, 1)
        return
    if family == 6 and ttl is None:
        out["unicast_min_ttl"] = KEEPALIVED_V6_HOP_LIMIT
        ctx.note(
            at,
            f"unicast_peer: keepalived 2.2.7 sends IPv6 unicast adverts with the kernel's default hop limit "
            f"({KEEPALIVED_V6_HOP_LIMIT}) when unicast_ttl is not set, and vrrpd accepts only 255 by default: "
            f"imported as unicast_min_ttl: {KEEPALIVED_V6_HOP_LIMIT} so keepalived peers are heard; once every "
            "peer runs vrrpd (or has unicast_ttl 255), remove it",
        )
        return
    if ttl is not None and ttl < VRRP_TTL:
        out["unicast_min_ttl"] = ttl
        ctx.note(
            at,
            f"unicast_peer: imported as unicast_min_ttl: {ttl}, the unicast_ttl of this file, assuming the peers "
            "send with the same; keepalived itself checks no TTL on unicast adverts",
        )
        return
    ctx.note(
        at,
        "unicast_peer: keepalived checks no TTL on unicast adverts; vrrpd accepts only TTL 255 (on-link peers, "
        "RFC 9568 §7.1) unless unicast_min_ttl is set: for a peer N routers away, set unicast_min_ttl: 255 - N",
    )


def _no_peers(ctx: Context, inst: Instance, family: int) -> None:
    keys = inst.unicast
    used = [s for s in (keys.peer_block, keys.ttl, keys.fault_no_peer, keys.check_src, keys.old_checksum) if s]
    if keys.source is not None and keys.source.keyword == "unicast_src_ip":
        used.append(keys.source)
    if keys.source is not None and keys.source.keyword == "mcast_src_ip" and not used:
        ctx.warn(keys.source, f"mcast_src_ip: {_MCAST_SRC}; not imported")
        return
    if not used:
        return
    at = min(used, key=lambda s: s.line)
    if keys.fault_no_peer is not None:
        ctx.warn(
            at,
            f"{at.keyword}: this instance has no usable unicast peer, so keepalived keeps it in FAULT "
            "(unicast_fault_no_peer); vrrpd refuses an empty unicast_peers: imported as a MULTICAST instance, "
            "list the peers to make it unicast",
        )
    else:
        ctx.warn(
            at,
            f"{at.keyword}: this instance has no usable unicast peer, so keepalived falls back to multicast "
            "(deprecated); imported as a multicast instance: vrrpd refuses an empty unicast_peers, list the peers "
            "to make it unicast",
        )
