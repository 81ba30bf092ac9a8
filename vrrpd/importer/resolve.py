"""The instances as read -> their vrrpd mappings, once every block and global_defs are known.

`resolve` decides what needs more than one keyword, in the order of the keys it writes: version, priority and
preempt, addresses, strict mode / accept / adverts, authentication / GARP / virtual MAC, then unicast, tracking and
hooks. keepalived's defaults are made explicit where they differ from vrrpd's: every instance gets its `version`
(keepalived defaults IPv4 to VRRPv2, vrrpd to v3), and `vrrp_strict`'s hidden effects become keys.
`resolve_instances` then keeps what vrrpd can hold together: one instance per address, per name, and per VRID,
interface and family.
"""

from __future__ import annotations

import math
from typing import Any

from vrrpd.importer.hooks import hooks_out
from vrrpd.importer.model import Context, Garp, Instance, address_of
from vrrpd.importer.render import yaml_number
from vrrpd.importer.routes import owned_out, with_interface
from vrrpd.importer.tracking import tracking_out
from vrrpd.importer.unicast import unicast_out
from vrrpd.protocol.constants import OWNER_PRIORITY

DEFAULT_PRIORITY = 100
"""keepalived's and vrrpd's."""
_MAX_ADDRESSES = 255
"""An advert counts its addresses in one byte (RFC 9568 §5.2.5)."""
_MAX_V2_INTERVAL = 255
"""Seconds, in one byte (RFC 3768 §5.3.7)."""
_MAX_V3_CENTISECONDS = 4095
"""The 12-bit Max Advertise Interval (RFC 9568 §5.2.7)."""
_MAX_V3_INTERVAL = 40.95
_GARP_DEFAULTS = {"count": 5, "interval": 0, "repeat_delay": 5, "repeat_count": 5, "refresh": 0}
"""vrrpd's garp: settings, which are not written."""


def resolve_instances(ctx: Context, instances: list[Instance]) -> list[dict[str, Any]]:
    """The instances section: each instance resolved, then left out (with a warning) where it collides with an
    earlier one; `ctx.origins` gets where each kept one came from."""
    outputs: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    routers: dict[tuple[str, int, int], str] = {}
    """(interface, family, VRID) -> the instance using it."""
    owners: dict[tuple[str, str], str] = {}
    """(interface, address without prefix length) -> the instance it is a virtual address of."""
    for inst in instances:
        out = resolve(ctx, inst)
        kept = []
        for address in out["virtual_addresses"]:
            owner = owners.get((out["interface"], address_of(address).split("/")[0]))
            if owner is not None:
                ctx.warn(
                    inst.stmt,
                    f"vrrp_instance {out['name']}: {address} is already a virtual address of "
                    f"{owner} on {out['interface']}; vrrpd allows one instance per address (not imported)",
                )
            else:
                kept.append(address)
        if not kept:
            ctx.warn(inst.stmt, f"vrrp_instance {out['name']}: no virtual address left; instance not imported")
            continue
        out["virtual_addresses"] = kept
        if out["name"] in seen_names:
            ctx.warn(inst.stmt, f"vrrp_instance {out['name']}: the name is used twice; instance not imported")
            continue
        key = (out["interface"], 6 if ":" in address_of(out["virtual_addresses"][0]) else 4, out["vrid"])
        if key in routers:
            ctx.warn(
                inst.stmt,
                f"vrrp_instance {out['name']}: VRID {out['vrid']} on {out['interface']} is already used by "
                f"{routers[key]} (keepalived tells them apart by unicast peers or mcast_dst_ip; vrrpd has one "
                "instance per VRID, interface and family); instance not imported",
            )
            continue
        seen_names.add(out["name"])
        routers[key] = out["name"]
        for address in kept:
            owners[(out["interface"], address_of(address).split("/")[0])] = out["name"]
        outputs.append(out)
        ctx.origins.append(f"vrrp_instance {' '.join(inst.stmt.args)} ({inst.stmt.where})")
    return outputs


def resolve(ctx: Context, inst: Instance) -> dict[str, Any]:
    """One instance's vrrpd mapping (its addresses not yet checked against the other instances')."""
    assert inst.interface is not None and inst.vrid is not None  # read_instance drops an instance without them
    family = inst.addresses[0][0].version
    version = _version(ctx, inst, family)
    priority = _priority(ctx, inst)
    strict = inst.strict if inst.strict is not None else ctx.globals.strict
    ctx.strict_instances.append(strict)
    _strict_resets(ctx, inst, strict)
    out: dict[str, Any] = {"name": inst.name, "interface": inst.interface, "vrid": inst.vrid, "priority": priority}
    out["advert_interval"] = _advert_interval(ctx, inst, version)
    out["version"] = version
    out |= _preempt(ctx, inst, priority, strict)
    out["virtual_addresses"] = _addresses(ctx, inst, inst.interface, family)
    owned_out(ctx, inst, out)
    out |= _strict_accept_adverts(ctx, inst, priority, version, family)
    out |= _auth_garp_vmac(ctx, inst, version, family, strict)
    if strict and inst.unicast.peers:
        ctx.warn(
            inst.stmt,
            f"vrrp_instance {inst.name}: strict mode with unicast peers: keepalived 2.2.7 refuses to start "
            '("Unicast peers are not supported in strict mode") on an interface that can multicast; imported '
            "with the peers: drop vrrp_strict / strict_mode or the peers, as on the keepalived side",
        )
    unicast_out(ctx, inst, out, family, ctx.globals.check_unicast_src)
    tracking_out(ctx, inst, out)
    hooks = hooks_out(ctx, inst.hooks, "vrrp_instance", inst.name, inst.stmt)
    if hooks is not None:
        out["notify"] = hooks
    return out


def _version(ctx: Context, inst: Instance, family: int) -> int:
    """keepalived's default is the global vrrp_version (itself 2); IPv6 is always 3."""
    if inst.version is not None:
        if inst.version == 2 and family == 6:
            assert inst.version_at is not None
            ctx.warn(
                inst.version_at,
                "version: VRRPv2 is IPv4 only (RFC 3768); vrrpd uses version: 3 here. Check what the peers run",
            )
            return 3
        return inst.version
    if family == 6:
        return 3
    if ctx.globals.version is not None:
        return ctx.globals.version
    ctx.note_once(
        "version",
        inst.stmt,
        f"vrrp_instance {inst.name}: no version: keepalived's default for IPv4 is VRRPv2, so "
        "version: 2 (vrrpd's own default is 3; change both sides together to move to v3); said once for every "
        "IPv4 instance without a version",
    )
    return 2


def _priority(ctx: Context, inst: Instance) -> int:
    if inst.priority is not None:
        return inst.priority
    if inst.state != "MASTER":
        return DEFAULT_PRIORITY
    ctx.note(
        inst.stmt,
        "state MASTER without priority: keepalived makes it the address owner (priority 255); so does the import",
    )
    return OWNER_PRIORITY


def _advert_interval(ctx: Context, inst: Instance, version: int) -> float | int:
    """Seconds: whole ones for VRRPv2, centiseconds for v3, rounded as keepalived rounds them."""
    if inst.advert is None:
        return 1
    seconds, at = inst.advert
    if version == 2:
        rounded = max(1, min(_MAX_V2_INTERVAL, math.floor(seconds + 0.5)))
        if rounded != seconds:
            ctx.note(
                at,
                f"advert_int {at.args[0]}: VRRPv2 counts whole seconds; keepalived rounds it to "
                f"{rounded}, so does the import",
            )
        return rounded
    centis = math.floor(seconds * 100 + 0.5)
    if centis > _MAX_V3_CENTISECONDS:
        ctx.warn(
            at,
            f"advert_int {at.args[0]}: over 40.95 s, the VRRPv3 maximum (keepalived 2.2.7 reports an error and "
            f"uses 40.95; a version that does not check sends the low 12 bits, {(centis & 0xFFF) / 100:g} s); "
            "set to 40.95: choose the interval you mean",
        )
        return _MAX_V3_INTERVAL
    if centis != round(seconds * 100, 6):
        ctx.note(at, f"advert_int {at.args[0]}: VRRPv3 counts centiseconds; rounded to {centis / 100:g}")
    return yaml_number(max(1, centis) / 100)


def _strict_resets(ctx: Context, inst: Instance, strict: bool) -> None:
    """The settings keepalived resets in strict mode: faithful then (a note), otherwise not imported (a warning)."""
    for at, warning in inst.strict_resets:
        if strict:
            ctx.note(at, f"{at.keyword}: keepalived resets it in strict mode, so it has no effect; not imported")
        else:
            ctx.warn(at, warning)


def _preempt(ctx: Context, inst: Instance, priority: int, strict: bool) -> dict[str, Any]:
    """keepalived 2.2.7's rules (vrrp.c, vrrp_complete_instance), in its order: strict mode makes the initial state
    follow ownership; the owner never honours nopreempt (RFC 9568 §6.1, Preempt_Mode); an initial state MASTER
    clears nopreempt and preempt_delay; strict mode and nopreempt clear preempt_delay."""
    keys: dict[str, Any] = {}
    nopreempt = inst.nopreempt_at is not None
    delay = inst.preempt_delay  # keepalived's rules below test it as a number: 0 (no delay) passes them all
    owner = priority == OWNER_PRIORITY
    master_start = inst.state == "MASTER" if inst.state is not None else owner
    if strict and inst.state is not None and master_start != owner:
        assert inst.state_at is not None
        master_start = owner
        ctx.note(
            inst.state_at,
            f'state {inst.state}: in strict mode keepalived makes the initial state follow ownership ("State MASTER '
            f'must match being address owner"), so {inst.name} starts as {"master" if owner else "backup"}',
        )
    if nopreempt and owner:
        assert inst.nopreempt_at is not None
        ctx.note(
            inst.nopreempt_at,
            "nopreempt: ignored for the address owner (priority 255), which always takes over at once",
        )
        nopreempt = False
    if master_start:
        for at, what in (
            (inst.nopreempt_at if nopreempt else None, "nopreempt"),
            (inst.preempt_delay_at if delay else None, "preempt_delay"),
        ):
            if at is not None:
                ctx.note(
                    at,
                    f'{what}: keepalived clears it with the initial state MASTER ("{what.replace("_", " ")} will '
                    f'not work with initial state MASTER"), so {inst.name} preempts like keepalived: not imported',
                )
        nopreempt, delay = False, (delay if not delay else None)
    if delay and strict:
        assert inst.preempt_delay_at is not None
        ctx.note(inst.preempt_delay_at, "preempt_delay: keepalived resets it in strict mode; not imported")
        delay = None
    if delay is not None and nopreempt:
        assert inst.preempt_delay_at is not None
        ctx.note(inst.preempt_delay_at, "preempt_delay: no effect with nopreempt; not imported")
        delay = None
    if nopreempt:
        keys["preempt"] = False
    if delay is not None:
        keys["preempt_delay"] = delay
    return keys


def _addresses(ctx: Context, inst: Instance, interface: str, family: int) -> list[str | dict[str, str]]:
    """The virtual addresses vrrpd can hold: unicast, of the first address's family, each once, 255 at most. One
    with ``dev OTHER`` lives on that interface (and is still advertised, as keepalived does)."""
    devs = {id(at): dev for dev, at in inst.devs}
    written: list[str | dict[str, str]] = []
    addresses: list[str] = []
    for address, at in inst.addresses:
        ip = address.ip
        if ip.is_multicast or ip.is_unspecified or ip.is_loopback or str(ip) == "255.255.255.255":
            ctx.warn(at, f"virtual_ipaddress {address}: not a unicast address; not imported")
        elif address.version != family:
            ctx.warn(
                at,
                f"virtual_ipaddress {address}: not IPv{family} like the first address; vrrpd has one "
                "family per instance. Make a separate instance for it (not imported)",
            )
        elif str(address) in addresses or any(a.split("/")[0] == str(address.ip) for a in addresses):
            ctx.warn(at, f"virtual_ipaddress {address}: listed twice; imported once")
        elif len(addresses) == _MAX_ADDRESSES:
            ctx.warn(
                at,
                f"virtual_ipaddress {address}: beyond 255 addresses (keepalived moves these out of the "
                "advert); not imported, make a second instance",
            )
        else:
            addresses.append(str(address))
            written.append(with_interface(address, devs.get(id(at)), interface))
    return written


def _strict_accept_adverts(ctx: Context, inst: Instance, priority: int, version: int, family: int) -> dict[str, Any]:
    """accept_mode, checksum and advert_on_lower_priority: strict mode (vrrp_strict, strict_mode) changes the
    defaults of the first and the last in keepalived."""
    g = ctx.globals
    keys: dict[str, Any] = {}
    strict = inst.strict if inst.strict is not None else g.strict
    strict_at = inst.strict_at or g.strict_at
    # Accept mode: keepalived accepts unless strict mode, where only the owner accepts.
    accept = inst.accept if inst.accept is not None else not strict
    if accept and inst.accept and strict and version == 2 and priority != OWNER_PRIORITY:
        assert strict_at is not None
        ctx.note(
            strict_at,
            f'strict mode: keepalived resets `accept` of {inst.name} for VRRPv2 ("accept mode for VRRP version 2 '
            'does not comply with RFC3768"); mapped to accept_mode: false',
        )
        accept = False
    if not accept and priority != OWNER_PRIORITY:
        keys["accept_mode"] = False
        if inst.accept is None and strict_at is not None:
            ctx.note(
                strict_at,
                f"strict mode: keepalived drops traffic to the addresses of {inst.name} (not the "
                "owner) unless `accept` is set; mapped to accept_mode: false",
            )
    as_v2 = inst.checksum_as_v2 if inst.checksum_as_v2 is not None else g.checksum_as_v2
    if as_v2 and version == 3 and family == 4:
        keys["checksum"] = "message-only"
    no_advert = inst.lower_prio_no_advert
    if no_advert is None:
        no_advert = g.lower_prio_no_advert if g.lower_prio_no_advert is not None else strict
    if strict and strict_at is not None:
        what = "ignores its lower_prio_no_advert false and " if not no_advert else ""
        ctx.note(
            strict_at,
            f"strict mode: keepalived {what}does not answer a lower-priority advert on "
            f"{inst.name}; mapped to advert_on_lower_priority: false",
        )
        no_advert = True
    if no_advert:
        keys["advert_on_lower_priority"] = False
    return keys


def _auth_garp_vmac(ctx: Context, inst: Instance, version: int, family: int, strict: bool) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    auth_at = inst.auth[1] if inst.auth is not None else inst.auth_ah_at
    if strict and auth_at is not None:
        ctx.note(
            auth_at,
            'authentication: keepalived ignores it in strict mode ("Strict mode does not support authentication"): '
            "it sends adverts without authentication and drops those that carry some; not imported, so peers "
            "must not use a password either",
        )
    elif inst.auth_ah_at is not None:
        ctx.warn(
            inst.auth_ah_at,
            "authentication: auth_type AH (IPsec AH, RFC 2338) is not supported by vrrpd (RFC 3768 "
            "removed it); imported without authentication, so AH peers will reject our adverts",
        )
    elif inst.auth is not None:
        password, at = inst.auth
        if version == 2:
            keys["authentication"] = {"type": "simple", "password": password}
        else:
            ctx.note(at, "authentication: keepalived ignores it for VRRPv3 (RFC 5798 has none); not imported")
    garp = _garp_out(ctx, inst.garp, family)
    if garp:
        keys["garp"] = garp
    if inst.virtual_mac:
        keys["virtual_mac"] = True
    return keys


def _garp_out(ctx: Context, k: Garp, family: int) -> dict[str, Any]:
    """The garp: keys that differ from vrrpd's defaults."""
    if k.refresh_repeat != 1 and k.refresh_repeat_at is not None:
        ctx.warn(
            k.refresh_repeat_at,
            f"garp_master_refresh_repeat {k.refresh_repeat}: vrrpd sends one message "
            "per address at each refresh; use a shorter garp.refresh instead",
        )
    garp = {
        "count": k.repeat,
        "interval": yaml_number(k.interval if family == 4 else k.gna_interval),
        "repeat_delay": yaml_number(k.delay),
        # keepalived sends the second burst only when garp_master_delay is not 0
        "repeat_count": k.repeat if k.delay > 0 else 0,
        "refresh": yaml_number(k.refresh),
    }
    return {key: value for key, value in garp.items() if value != _GARP_DEFAULTS[key]}
