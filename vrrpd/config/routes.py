"""What a Master owns besides its advertised addresses: addresses on other interfaces, addresses left out of the
adverts (`excluded_addresses`), and routes and policy rules (`routes`, `rules`), each checked from YAML.

An address list holds plain strings (``198.51.100.10/24``, on the instance's interface) beside mappings
(``{address: 203.0.113.5/24, interface: eth1}``, on another interface): keepalived's ``dev OTHER``. The interface
is kept apart from the address (`AddressList.interfaces`), so an address stays a plain `ip_interface` value
everywhere else. Routes and rules are the subset of keepalived's ``virtual_routes`` / ``virtual_rules`` grammar
that installs the same kernel objects (vrrp_iproute.c, vrrp_iprule.c in keepalived 2.2.7); their family must be
consistent within each entry (a gateway's reachability cannot be known before the addresses exist, so it is not
checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from vrrpd.config.checker import Checker, Loc, VirtualAddress
from vrrpd.config.errors import clip
from vrrpd.config.yamlsrc import Map
from vrrpd.protocol.packet import IPAddress

IPNetwork = IPv4Network | IPv6Network
ADDRESS_KEYS = ("address", "interface")
ROUTE_KEYS = ("to", "via", "interface", "table", "metric", "src", "scope", "type")
RULE_KEYS = ("from", "to", "table", "priority")
_MAX_TABLE = 2**32 - 1
_MAX_EXCLUDED = 1000
"""No wire limit (they are not advertised); a bound that keeps one takeover's netlink batch reasonable."""


class RouteType(StrEnum):
    """The route types keepalived's virtual_routes take besides a plain (unicast) route."""

    UNICAST = "unicast"
    BLACKHOLE = "blackhole"
    UNREACHABLE = "unreachable"
    PROHIBIT = "prohibit"


class RouteScope(StrEnum):
    """`ip route ... scope`: link for a directly reachable destination, host for a local one."""

    GLOBAL = "global"
    LINK = "link"
    HOST = "host"


class AddressList(tuple[VirtualAddress, ...]):
    """Addresses, with the interface of each one that names its own (an `ip_interface` has no room for it)."""

    interfaces: tuple[tuple[IPAddress, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """One route a Master installs (and removes when it leaves Master)."""

    to: IPNetwork
    via: IPAddress | None = None
    interface: str | None = None
    table: int | None = None
    """None: the main table."""
    metric: int | None = None
    src: IPAddress | None = None
    scope: RouteScope | None = None
    type: RouteType = RouteType.UNICAST

    @property
    def version(self) -> int:
        return self.to.version

    def __str__(self) -> str:
        """As `ip route` writes it."""
        words = [str(self.to)] if self.type is RouteType.UNICAST else [self.type.value, str(self.to)]
        for word, value in (("via", self.via), ("dev", self.interface), ("table", self.table)):
            if value is not None:
                words += [word, str(value)]
        for word, value in (("metric", self.metric), ("src", self.src), ("scope", self.scope)):
            if value is not None:
                words += [word, str(value)]
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One policy-routing rule a Master installs (and removes when it leaves Master)."""

    table: int
    src: IPNetwork | None = None
    dst: IPNetwork | None = None
    priority: int | None = None
    """None: the kernel picks one (just below the first existing rule other than 0), as `ip rule add` does."""
    family: int = 4
    """4 or 6: a rule with neither `from` nor `to` takes the instance's family."""

    def __str__(self) -> str:
        """As `ip rule` writes it."""
        words = ["from", str(self.src) if self.src else "all"]
        if self.dst is not None:
            words += ["to", str(self.dst)]
        words += ["lookup", str(self.table)]
        if self.priority is not None:
            words += ["priority", str(self.priority)]
        return " ".join(words)


def address_list(checker: Checker, value: Any, loc: Loc, limit: int = _MAX_EXCLUDED) -> AddressList:
    """A list of addresses with prefix, each a string or ``{address, interface}``; no address twice."""
    items = checker.sequence(value, loc)
    if len(items) > limit:
        raise checker.error(loc, f"has {len(items)} addresses; at most {limit}")
    result: list[VirtualAddress] = []
    interfaces: list[tuple[IPAddress, str]] = []
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        at = loc.item(items, index)
        if isinstance(item, Map):
            entry = checker.mapping(item, at, ADDRESS_KEYS)
            if "address" not in entry:
                raise checker.error(at, "missing required key address")
            address = checker.address(entry["address"], at.key(entry, "address"), with_prefix=True)
            if "interface" in entry:
                interfaces.append((address.ip, checker.interface(entry["interface"], at.key(entry, "interface"))))
        else:
            address = checker.address(item, at, with_prefix=True)
        if address.ip in seen:
            raise checker.error(at, f"{address.ip} is already listed at {loc.path}[{seen[address.ip]}]")
        seen[address.ip] = index
        result.append(address)
    listed = AddressList(result)
    listed.interfaces = tuple(interfaces)
    return listed


def excluded_addresses(checker: Checker, value: Any, loc: Loc) -> AddressList:
    """keepalived's virtual_ipaddress_excluded: either family (they are never in an advert)."""
    return address_list(checker, value, loc)


def _network(checker: Checker, value: Any, loc: Loc) -> IPNetwork:
    text = checker.string(value, loc)
    if "/" not in text:
        example = text if len(text) <= 45 else "NETWORK"  # 45: the longest IPv6 address written out
        raise checker.error(loc, f"{clip(text)} needs a prefix length, e.g. {example}/24 (or /32, /128 for one host)")
    try:
        return ip_network(text, strict=True)
    except ValueError as e:
        raise checker.error(loc, f"{clip(text)} is not a network ({clip(str(e), quoted=False)})") from None


def _same_family(checker: Checker, version: int, value: Any, loc: Loc, first: str) -> None:
    if value is not None and value.version != version:
        raise checker.error(loc, f"{value} is not IPv{version} like {first} (one family per entry)")


def _route(checker: Checker, value: Any, loc: Loc) -> RouteConfig:
    entry = checker.mapping(value, loc, ROUTE_KEYS)
    if "to" not in entry:
        raise checker.error(loc, "missing required key to")
    to = _network(checker, entry["to"], loc.key(entry, "to"))
    kind = checker.choice(entry["type"], loc.key(entry, "type"), RouteType) if "type" in entry else RouteType.UNICAST
    via = checker.address(entry["via"], loc.key(entry, "via"), with_prefix=False) if "via" in entry else None
    src = checker.address(entry["src"], loc.key(entry, "src"), with_prefix=False) if "src" in entry else None
    for key, address in (("via", via), ("src", src)):
        _same_family(checker, to.version, address, loc.key(entry, key), f"to {to}")
    if kind is not RouteType.UNICAST:
        for key in ("via", "interface", "src", "scope"):
            if key in entry:
                raise checker.error(loc.key(entry, key), f"means nothing for a {kind.value} route; remove it")
    elif via is None and "interface" not in entry:
        raise checker.error(loc, f"route to {to} needs via (a gateway), interface, or type: blackhole")
    return RouteConfig(
        to=to,
        via=via,
        interface=checker.interface(entry["interface"], loc.key(entry, "interface")) if "interface" in entry else None,
        table=checker.integer(entry["table"], loc.key(entry, "table"), 1, _MAX_TABLE) if "table" in entry else None,
        metric=checker.integer(entry["metric"], loc.key(entry, "metric"), 0, _MAX_TABLE) if "metric" in entry else None,
        src=src,
        scope=checker.choice(entry["scope"], loc.key(entry, "scope"), RouteScope) if "scope" in entry else None,
        type=kind,
    )


def routes(checker: Checker, value: Any, loc: Loc) -> tuple[RouteConfig, ...]:
    """keepalived's virtual_routes: installed while Master."""
    items = checker.sequence(value, loc)
    result: list[RouteConfig] = []
    for index, item in enumerate(items):
        route = _route(checker, item, loc.item(items, index))
        if route in result:
            raise checker.error(
                loc.item(items, index), f"{route} is already listed at {loc.path}[{result.index(route)}]"
            )
        result.append(route)
    return tuple(result)


def _rule(checker: Checker, value: Any, loc: Loc) -> RuleConfig:
    entry = checker.mapping(value, loc, RULE_KEYS)
    if "table" not in entry:
        raise checker.error(loc, "missing required key table")
    table = checker.integer(entry["table"], loc.key(entry, "table"), 1, _MAX_TABLE)
    src = _network(checker, entry["from"], loc.key(entry, "from")) if "from" in entry else None
    dst = _network(checker, entry["to"], loc.key(entry, "to")) if "to" in entry else None
    if src is not None and dst is not None:
        _same_family(checker, src.version, dst, loc.key(entry, "to"), f"from {src}")
    priority = None
    if "priority" in entry:
        priority = checker.integer(entry["priority"], loc.key(entry, "priority"), 1, _MAX_TABLE)
    family = src.version if src else dst.version if dst else 0
    return RuleConfig(table=table, src=src, dst=dst, priority=priority, family=family)


def rules(checker: Checker, value: Any, loc: Loc) -> tuple[RuleConfig, ...]:
    """keepalived's virtual_rules: installed while Master. A rule with neither from nor to gets the instance's
    family later (family 0 until then)."""
    items = checker.sequence(value, loc)
    result: list[RuleConfig] = []
    for index, item in enumerate(items):
        rule = _rule(checker, item, loc.item(items, index))
        if rule in result:
            raise checker.error(loc.item(items, index), f"{rule} is already listed at {loc.path}[{result.index(rule)}]")
        result.append(rule)
    return tuple(result)
