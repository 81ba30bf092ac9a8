"""One instance: `InstanceConfig`, the check of each of its keys (`INSTANCE_CHECKS`, a table), and the checks
across its keys (version and interval, the address owner, VRRPv2-only keys) and across instances (names, VRIDs,
virtual addresses).

``defaults:`` gives any per-instance key except the identity ones; ``garp`` merges key by key. A VRRPv2-only key
(``authentication``) inherited by a v3 instance is ignored, whereas set on the instance itself it is an error. A
tracker list from ``defaults`` is replaced, not merged, by an instance's own. A check across keys points at the
value the instance sets itself, or else at the instance, naming where an inherited value was written (`pick`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from typing import Any

from vrrpd.config.checker import Checker, Loc, Val, VirtualAddress, number, pick, quote, what
from vrrpd.config.hooks import HooksConfig, parse_hooks
from vrrpd.config.routes import AddressList, RouteConfig, RuleConfig, address_list, excluded_addresses, routes, rules
from vrrpd.config.tracking import check_tracking, default_is_reference, trackers
from vrrpd.config.unicast import DEFAULT_TTL, check_unicast, unicast_peers, unicast_source, unicast_ttl
from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.packet import (
    MAX_INTERVAL_CS,
    MAX_V2_INTERVAL_S,
    AuthType,
    ChecksumForm,
    ChecksumMode,
    Family,
    IPAddress,
)
from vrrpd.protocol.parameters import AddressCheck, RouterConfig
from vrrpd.protocol.tracking import Tracker, TrackerKind

_MAX_VRID = 255  # RFC 9568 §5.2.3: an 8-bit field; 0 is not a VRID
_MAX_ADDRESSES = 255  # RFC 9568 §5.2.5: the 8-bit Count IPvX Addr field
_IPV6_ADDRESSES_IN_1500 = (1500 - 40 - 8) // 16
"""90: an IPv6 advert with more no longer fits a 1500-byte frame (IPv4 fits 255 addresses in 1048 bytes)."""


class AcceptChecksum(StrEnum):
    """Which IPv4 VRRPv3 checksum forms a receiver accepts (IPv6 and VRRPv2 have a single form anyway)."""

    BOTH = "both"
    """Pseudo-header and message-only alike, so mixed peers (keepalived/FRR vs Cisco/Juniper) interoperate."""
    STRICT = "strict"
    """Only the form this instance transmits (`checksum`)."""


@dataclass(frozen=True, slots=True)
class GarpConfig:
    """Gratuitous ARP (IPv4) / unsolicited Neighbor Advertisement (IPv6) on becoming master (keepalived defaults)."""

    count: int = 5
    """Messages per virtual address sent at once on becoming master."""
    interval: float = 0.0
    """Seconds between two messages of one burst."""
    repeat_delay: float = 5.0
    """Seconds after becoming master before the second burst."""
    repeat_count: int = 5
    """Messages in the second burst; 0 = no second burst."""
    refresh: float = 0.0
    """Seconds between periodic re-announcements while master; 0 = off."""


@dataclass(frozen=True, slots=True)
class Authentication:
    """VRRPv2 simple-text password (RFC 3768 §5.3.6). It protects nothing; it exists for interop only."""

    type: AuthType
    password: bytes = field(repr=False)
    """At most 8 bytes (UTF-8); zero-padded on the wire."""


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """One virtual router: one (interface, address family, VRID)."""

    name: str
    interface: str
    vrid: int
    virtual_addresses: tuple[VirtualAddress, ...]
    """With prefix; the prefix is what the address is added to the interface with."""
    priority: int = 100
    """255 = address owner; 1..254 otherwise."""
    advert_interval: float = 1.0
    """Seconds (v3: multiple of 0.01 up to 40.95; v2: whole seconds 1..255)."""
    preempt: bool = True
    preempt_delay: float = 0.0
    """Seconds to hold off preempting after start-up or after first seeing a lower-priority master."""
    startup_delay: float = 0.0
    """Seconds after start-up before the instance may become master at all (slow links or bonds at boot)."""
    version: int = 3
    checksum: ChecksumForm = ChecksumForm.PSEUDO_HEADER
    """IPv4 VRRPv3 transmit checksum form (IPv6 always uses the pseudo-header, v2 never does)."""
    accept_checksum: AcceptChecksum = AcceptChecksum.BOTH
    """IPv4 VRRPv3 receive: `both` forms, or `strict` = only the `checksum` form we transmit."""
    address_check: AddressCheck = AddressCheck.LOG
    advert_on_lower_priority: bool = True
    authentication: Authentication | None = None
    garp: GarpConfig = field(default_factory=GarpConfig)
    virtual_mac: bool = False
    """Put the VIPs on a bridge-mode macvlan with the RFC 9568 §7.3 MAC 00:00:5e:00:0{1,2}:VRID."""
    accept_mode: bool = True
    """RFC 9568 §6.1 Accept_Mode: whether a non-owner master accepts packets addressed to the VIPs. The RFC's
    default is false; ours is keepalived's (true), because services bound to a VIP are the common case and an
    operator moving from keepalived must not find them unreachable."""
    track_scripts: tuple[Tracker, ...] = ()
    """Scripts (by name, from the top-level `track_scripts`) and what their failure does."""
    track_interfaces: tuple[Tracker, ...] = ()
    """Other interfaces whose link state moves the priority or faults the instance. The instance's own
    interface is always tracked: down (or without carrier) means FAULT."""
    track_files: tuple[Tracker, ...] = ()
    """Files (by name, from the top-level `track_files`): value x weight, or fault while non-zero."""
    unicast_peers: tuple[IPAddress, ...] = ()
    """Adverts go to each of these (one copy each) instead of the multicast group, and are accepted only from
    them; empty = multicast. vrrpd.config.unicast has the rules."""
    unicast_source: IPAddress | None = None
    """Unicast advert source; None = the interface's primary IPv4 address / IPv6 link-local."""
    unicast_ttl: int = DEFAULT_TTL
    """TTL / hop limit of the unicast adverts we send."""
    unicast_min_ttl: int = DEFAULT_TTL
    """Lowest TTL / hop limit accepted from a unicast peer (255: on-link only, RFC 9568 §7.1)."""
    notify: HooksConfig = field(default_factory=HooksConfig)
    """Commands run on transitions (vrrpd.config.hooks, vrrpd.services.hooks); none by default."""
    excluded_addresses: tuple[VirtualAddress, ...] = ()
    """keepalived's virtual_ipaddress_excluded: added and removed with the virtual addresses, never advertised
    (so either family, and any number)."""
    routes: tuple[RouteConfig, ...] = ()
    """keepalived's virtual_routes: installed while Master, removed when it leaves Master (vrrpd.daemon.routes)."""
    rules: tuple[RuleConfig, ...] = ()
    """keepalived's virtual_rules: as `routes`, for policy-routing rules."""
    address_interfaces: tuple[tuple[IPAddress, str], ...] = ()
    """The addresses (virtual or excluded) that live on another interface than `interface`, and that interface:
    keepalived's ``dev OTHER``. Written as the `interface` of an address's mapping form, not as a key."""
    line: int = field(default=0, compare=False)
    """Where the instance starts in its file (for messages); not part of equality, so an instance moved within
    the file is still the same instance."""

    @property
    def family(self) -> Family:
        return Family.IPV4 if self.virtual_addresses[0].version == 4 else Family.IPV6

    def interface_of(self, address: IPAddress) -> str:
        """The interface a virtual or excluded address is added to."""
        return dict(self.address_interfaces).get(address, self.interface)

    @property
    def owned_addresses(self) -> tuple[VirtualAddress, ...]:
        """Every address a Master adds: the advertised ones, then the excluded ones."""
        return self.virtual_addresses + self.excluded_addresses

    @property
    def checksum_mode(self) -> ChecksumMode:
        """The codec's receive mode for IPv4 VRRPv3 (`strict` accepts only the form we transmit)."""
        if self.accept_checksum is AcceptChecksum.BOTH:
            return ChecksumMode.ACCEPT_BOTH
        return ChecksumMode(self.checksum.value)

    @property
    def accepted_checksums(self) -> tuple[ChecksumForm, ...]:
        """The checksum forms a received advert may use: IPv6 always the pseudo-header (RFC 8200), VRRPv2
        always the message only (RFC 3768), IPv4 VRRPv3 what `accept_checksum` allows."""
        if self.family is Family.IPV6:
            return (ChecksumForm.PSEUDO_HEADER,)
        if self.version == 2:
            return (ChecksumForm.MESSAGE_ONLY,)
        return self.checksum_mode.accepts()

    @property
    def trackers(self) -> tuple[Tracker, ...]:
        """Every tracker of this instance: its own interface first (implicit, on_failure: fault), then the
        configured interfaces and scripts."""
        own = Tracker(TrackerKind.INTERFACE, self.interface, None)
        others = tuple(t for t in self.track_interfaces if t.name != self.interface)
        return (own, *others, *self.track_scripts, *self.track_files)

    @property
    def accepts_traffic(self) -> bool:
        """RFC 9568 §6.1/§6.4.3: a master accepts packets to the VIPs if it is the owner or Accept_Mode is on."""
        return self.accept_mode or self.priority == OWNER_PRIORITY

    def router_config(self) -> RouterConfig:
        auth = self.authentication
        return RouterConfig(
            vrid=self.vrid,
            addresses=tuple(a.ip for a in self.virtual_addresses),
            priority=self.priority,
            advert_interval_cs=round(self.advert_interval * 100),
            preempt=self.preempt,
            preempt_delay=self.preempt_delay,
            startup_delay=self.startup_delay,
            version=self.version,
            address_check=self.address_check,
            advert_on_lower_priority=self.advert_on_lower_priority,
            auth_type=auth.type if auth else AuthType.NONE,
            auth_data=auth.password if auth else b"",
        )


IDENTITY_KEYS = ("name", "interface", "vrid", "virtual_addresses")
"""The keys that tell instances apart: required on each instance, never in `defaults`."""
_NOT_KEYS = ("line", "address_interfaces")
"""Fields that are not YAML keys of their own."""
DEFAULTABLE_KEYS = tuple(k for k in InstanceConfig.__dataclass_fields__ if k not in (*IDENTITY_KEYS, *_NOT_KEYS))
INSTANCE_KEYS = IDENTITY_KEYS + DEFAULTABLE_KEYS
"""Every key of an instance, in the order they are checked (and listed in "unknown key" messages)."""
DEFAULTS_KEYS = DEFAULTABLE_KEYS + IDENTITY_KEYS
"""The keys `defaults` reads: the identity keys too, so that they get "cannot be a default", not "unknown key"."""
GARP_KEYS = tuple(GarpConfig.__dataclass_fields__)
AUTH_KEYS = ("type", "password")
_BUILTIN = InstanceConfig(name="", interface="", vrid=1, virtual_addresses=())
"""Where a key neither the instance nor `defaults` sets takes its value from."""

KeyCheck = Callable[[Checker, Any, Loc], Any]
"""Checks one key's value and returns it typed."""


def _advert_interval(checker: Checker, value: Any, loc: Loc) -> float:
    # The per-version range (v3 up to 40.95 s, v2 whole seconds up to 255) is checked per instance,
    # because `defaults` does not know which version each instance ends up with.
    seconds = checker.seconds(value, loc, 0.01, MAX_V2_INTERVAL_S)
    if abs(seconds * 100 - round(seconds * 100)) > 1e-6:
        raise checker.error(loc, f"{number(value, loc)} is not a multiple of 0.01 seconds (VRRPv3 counts centiseconds)")
    return seconds


def _version(checker: Checker, value: Any, loc: Loc) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in (2, 3):
        raise checker.error(loc, f"expected 2 or 3, got {what(value, loc)}")
    return int(value)


def _authentication(checker: Checker, value: Any, loc: Loc) -> Authentication:
    auth = checker.mapping(value, loc, AUTH_KEYS)
    for key in AUTH_KEYS:
        if key not in auth:
            raise checker.error(loc, f"missing required key {key}")
    type_loc = loc.key(auth, "type")
    if auth["type"] != "simple":
        shown = quote(auth["type"], type_loc)
        raise checker.error(type_loc, f"{shown} is not supported (only simple; IP AH was removed in RFC 3768)")
    password_loc = loc.key(auth, "password")
    password = checker.string(auth["password"], password_loc).encode()
    if len(password) > 8:
        raise checker.error(password_loc, f"is {len(password)} bytes; VRRPv2 passwords are at most 8")
    return Authentication(AuthType.SIMPLE, password)


_GARP_CHECKS: dict[str, KeyCheck] = {
    "count": partial(Checker.integer, lo=1, hi=100),
    "interval": partial(Checker.seconds, lo=0, hi=10),
    "repeat_delay": partial(Checker.seconds, lo=0, hi=3600),
    "repeat_count": partial(Checker.integer, lo=0, hi=100),
    "refresh": partial(Checker.seconds, lo=0, hi=86400),
}


def _garp(checker: Checker, value: Any, loc: Loc) -> dict[str, Any]:
    """The keys given (not yet a GarpConfig: an instance's garp keys merge into those from `defaults`)."""
    garp = checker.mapping(value, loc, GARP_KEYS)
    return {k: _GARP_CHECKS[k](checker, garp[k], loc.key(garp, k)) for k in garp}


def _virtual_addresses(checker: Checker, value: Any, loc: Loc) -> AddressList:
    items = checker.sequence(value, loc)
    if len(items) > _MAX_ADDRESSES:
        raise checker.error(loc, f"has {len(items)} addresses; an advertisement carries at most {_MAX_ADDRESSES}")
    result = address_list(checker, items, loc, _MAX_ADDRESSES)
    for index, address in enumerate(result):
        if address.version != result[0].version:
            raise checker.error(
                loc.item(items, index),
                f"{address} is not IPv{result[0].version} like {loc.path}[0] (one family per instance)",
            )
    if result and result[0].version == 6 and len(result) > _IPV6_ADDRESSES_IN_1500:
        checker.warn(
            loc,
            f"has {len(result)} IPv6 addresses: the advertisement is {48 + 16 * len(result)} bytes, more than a "
            f"1500-byte MTU carries ({_IPV6_ADDRESSES_IN_1500} addresses), so vrrpd will refuse to start on an "
            "interface with that MTU; split the addresses over several instances",
        )
    return result


INSTANCE_CHECKS: dict[str, KeyCheck] = {
    "name": Checker.name,
    "interface": Checker.interface,
    "vrid": partial(Checker.integer, lo=1, hi=_MAX_VRID),
    "virtual_addresses": _virtual_addresses,
    "priority": partial(Checker.integer, lo=1, hi=OWNER_PRIORITY),
    "advert_interval": _advert_interval,
    "preempt": Checker.boolean,
    "preempt_delay": partial(Checker.seconds, lo=0, hi=1000),
    "startup_delay": partial(Checker.seconds, lo=0, hi=3600),
    "version": _version,
    "checksum": partial(Checker.choice, enum=ChecksumForm),
    "accept_checksum": partial(Checker.choice, enum=AcceptChecksum),
    "address_check": partial(Checker.choice, enum=AddressCheck),
    "advert_on_lower_priority": Checker.boolean,
    "authentication": _authentication,
    "garp": _garp,
    "virtual_mac": Checker.boolean,
    "accept_mode": Checker.boolean,
    "track_scripts": partial(trackers, kind=TrackerKind.SCRIPT),
    "track_interfaces": partial(trackers, kind=TrackerKind.INTERFACE),
    "track_files": partial(trackers, kind=TrackerKind.FILE),
    "unicast_peers": unicast_peers,
    "unicast_source": unicast_source,
    "unicast_ttl": unicast_ttl,
    "unicast_min_ttl": unicast_ttl,
    "notify": parse_hooks,
    "excluded_addresses": excluded_addresses,
    "routes": routes,
    "rules": rules,
}
"""Each instance key and the check of its value (a value from `defaults` gets the same check)."""


def check_defaults(checker: Checker, value: Any, loc: Loc) -> dict[str, Val]:
    """The top-level `defaults` section: per-instance keys, each checked as on an instance."""
    section = checker.mapping(value, loc, DEFAULTS_KEYS)
    defaults: dict[str, Val] = {}
    for key in section:
        key_loc = loc.key(section, key)
        if key in IDENTITY_KEYS:
            raise checker.error(key_loc, "cannot be a default; it identifies each instance")
        defaults[key] = Val(INSTANCE_CHECKS[key](checker, section[key], key_loc), key_loc, "defaults")
    return defaults


def check_instances(checker: Checker, value: Any, loc: Loc, defaults: dict[str, Val]) -> list[InstanceConfig]:
    """The `instances` list, each instance checked, then the instances against each other."""
    items = checker.sequence(value, loc)
    default = defaults["priority"].value if "priority" in defaults else None
    reference = default_is_reference(items, default)
    checked = [_instance(checker, item, loc.item(items, i), defaults, reference) for i, item in enumerate(items)]
    instances = [inst for inst, _ in checked]
    _cross_check(checker, instances, [locs for _, locs in checked])
    return instances


def _instance(
    checker: Checker, value: Any, loc: Loc, defaults: dict[str, Val], default_reference: bool
) -> tuple[InstanceConfig, dict[str, Loc]]:
    """The instance, and where its identity keys are (for the checks across instances)."""
    raw = checker.mapping(value, loc, INSTANCE_KEYS)
    for key in IDENTITY_KEYS:
        if key not in raw:
            raise checker.error(loc, f"missing required key {key}")
    vals: dict[str, Val] = {}
    for key in INSTANCE_KEYS:
        key_loc = loc.key(raw, key)
        if key in raw:
            vals[key] = Val(INSTANCE_CHECKS[key](checker, raw[key], key_loc), key_loc, "instance")
        elif key in defaults:
            vals[key] = defaults[key]
        else:
            vals[key] = Val(getattr(_BUILTIN, key), key_loc, "builtin")
    v = {key: val.value for key, val in vals.items()}
    v["garp"] = _merged_garp(defaults.get("garp"), vals["garp"])
    _split_addresses(checker, vals, v)

    family = 4 if v["virtual_addresses"][0].version == 4 else 6
    _check_version(checker, vals, family, loc)
    _check_owner(checker, vals, loc)
    check_tracking(checker, vals, loc, default_reference)
    check_unicast(checker, vals, family, loc)
    v["authentication"] = _check_v2_keys(checker, vals, family)

    inst = InstanceConfig(**v, line=loc.line)
    try:
        inst.router_config()
    except ValueError as e:  # a gap between these checks and RouterConfig's own; say where, not crash
        raise checker.error(loc, str(e)) from None
    return inst, {key: vals[key].loc for key in (*IDENTITY_KEYS, "excluded_addresses")}


def _split_addresses(checker: Checker, vals: dict[str, Val], v: dict[str, Any]) -> None:
    """The interface of each address apart, as a field of its own; no address both advertised and excluded; a
    rule with neither from nor to takes the instance's family."""
    vips: AddressList = vals["virtual_addresses"].value
    excluded: tuple[VirtualAddress, ...] = vals["excluded_addresses"].value
    both = {a.ip for a in vips} & {a.ip for a in excluded}
    if both:
        listed = ", ".join(sorted(map(str, both)))
        raise checker.error(vals["excluded_addresses"].loc, f"{listed} is also in virtual_addresses; list it once")
    v["virtual_addresses"] = tuple(vips)
    v["excluded_addresses"] = tuple(excluded)
    v["address_interfaces"] = vips.interfaces + getattr(excluded, "interfaces", ())
    family = vips[0].version
    v["rules"] = tuple(r if r.family else replace(r, family=family) for r in v["rules"])


def _merged_garp(default: Val | None, own: Val) -> GarpConfig:
    garp = GarpConfig()
    for source in (default, own if own.origin == "instance" else None):
        if source is not None:
            garp = replace(garp, **source.value)
    return garp


def _check_version(checker: Checker, vals: dict[str, Val], family: int, loc: Loc) -> None:
    version, interval = vals["version"], vals["advert_interval"]
    seconds = interval.value
    if version.value == 2 and family == 6:
        at = pick(loc, version, vals["virtual_addresses"])
        raise checker.error(at, f"VRRPv2{version.note()} is IPv4 only (RFC 3768) but the addresses are IPv6")
    if version.value == 2 and seconds != int(seconds):
        problem = "is not whole seconds, as VRRPv2 needs"
    elif version.value == 3 and seconds * 100 > MAX_INTERVAL_CS + 1e-6:
        problem = "is over 40.95 seconds, the VRRPv3 maximum"
    else:
        return
    at = pick(loc, interval, version)
    shown = number(seconds, interval.loc)
    subject = shown if at == interval.loc else f"advert_interval {shown}{interval.note()}"
    context = f" (version {version.value} at {version.loc.describe()})" if version.origin != "builtin" else ""
    raise checker.error(at, f"{subject} {problem}{context if at != version.loc else ''}")


def _check_owner(checker: Checker, vals: dict[str, Val], loc: Loc) -> None:
    priority, preempt, delay = vals["priority"], vals["preempt"], vals["preempt_delay"]
    owner = priority.value == OWNER_PRIORITY
    if owner and not preempt.value:
        # RFC 9568 §6.4.1: the owner goes straight to Master, so a non-preempting owner is a contradiction.
        if preempt.origin == "instance":
            raise checker.error(
                preempt.loc,
                f"is false, but the address owner (priority 255{priority.note()}) always takes over at once "
                "(RFC 9568 §6.4.1); remove it or lower the priority",
            )
        checker.warn(
            pick(loc, priority),
            f"priority 255{priority.note()} makes this the address owner, which always takes over at once "
            f"(RFC 9568 §6.4.1), so preempt: false{preempt.note()} is ignored",
        )
    accept = vals["accept_mode"]
    if owner and accept.origin == "instance" and not accept.value:
        checker.warn(
            accept.loc,
            f"has no effect: the address owner (priority 255{priority.note()}) always accepts packets to "
            "its addresses (RFC 9568 §6.1)",
        )
    if delay.value > 0 and not preempt.value and not owner:
        checker.warn(
            pick(loc, delay, preempt),
            f"preempt_delay{delay.note()} has no effect with preempt: false{preempt.note()}",
        )


def _check_v2_keys(checker: Checker, vals: dict[str, Val], family: int) -> Authentication | None:
    """Keys that mean nothing for some versions or families; returns the authentication the instance keeps."""
    auth, version = vals["authentication"], vals["version"].value
    kept: Authentication | None = auth.value
    if kept is not None and version != 2:
        if auth.origin == "instance":
            raise checker.error(
                auth.loc, "is VRRPv2 only (RFC 5798 removed authentication); set version: 2 or remove it"
            )
        kept = None
    for key in ("checksum", "accept_checksum"):
        if vals[key].origin == "instance" and (family == 6 or version == 2):
            reason = "IPv6 always uses the pseudo-header" if family == 6 else "VRRPv2 never uses a pseudo-header"
            checker.warn(vals[key].loc, f"has no effect: {reason}")
    return kept


def _cross_check(checker: Checker, instances: list[InstanceConfig], locs: list[dict[str, Loc]]) -> None:
    names: dict[str, int] = {}
    routers: dict[tuple[str, int, int], int] = {}
    by_address: dict[Any, list[int]] = {}
    for i, inst in enumerate(instances):
        loc = locs[i]
        if inst.name in names:
            other = instances[names[inst.name]]
            raise checker.error(loc["name"], f"{inst.name!r} is already the name of the instance at line {other.line}")
        names[inst.name] = i
        key = (inst.interface, inst.family, inst.vrid)
        if key in routers:
            other = instances[routers[key]]
            raise checker.error(
                loc["vrid"],
                f"VRID {inst.vrid} is already used on {inst.interface} for IPv{inst.family} "
                f"by instance {other.name!r} (line {other.line})",
            )
        routers[key] = i
        for address in inst.owned_addresses:
            at = loc["virtual_addresses"] if address in inst.virtual_addresses else loc["excluded_addresses"]
            here = inst.interface_of(address.ip)
            for other in (instances[j] for j in by_address.get(address.ip, ())):
                there = other.interface_of(address.ip)
                if there == here:
                    raise checker.error(at, f"{address.ip} is already a virtual address of instance {other.name!r}")
                # The same link-local VIP on several links is normal (keepalived #2573); a global one is not.
                if not address.ip.is_link_local:
                    checker.warn(at, f"{address.ip} is also a virtual address of {other.name!r} on {there}")
            by_address.setdefault(address.ip, []).append(i)
