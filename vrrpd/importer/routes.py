"""`virtual_ipaddress_excluded`, `virtual_routes` and `virtual_rules` of a `vrrp_instance` -> `excluded_addresses`,
`routes` and `rules`, and the per-address `interface` of a ``dev OTHER`` address.

The grammar is keepalived 2.2.7's (vrrp_iproute.c alloc_route, vrrp_iprule.c alloc_rule, the `ip route` /
`ip rule` words), of which the subset vrrpd installs is mapped: ``[src IP] [to] DEST [via|gw GW] [dev IF]
[table N] [metric|priority|preference N] [scope S]``, ``blackhole|unreachable|prohibit DEST``, and rules ``from
PFX|all [to PFX|all] table|lookup N [priority|preference|pref N]``. An entry with a word vrrpd has no form for is
left out with a warning that names the word; ``no_track`` (keepalived leaves Master when the route is deleted
behind its back; vrrpd does not watch routes) is dropped with a note.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network
from typing import Any

from vrrpd.importer.model import Context, Instance, VirtualAddress, address_of
from vrrpd.importer.syntax import Statement

_ROUTE_TYPES = ("blackhole", "unreachable", "prohibit")
_SCOPES = {"global": "global", "universe": "global", "link": "link", "host": "host"}
_TABLES = {"main": 254, "default": 253, "local": 255}
_NO_TRACK = (
    "no_track: vrrpd does not watch its routes and rules (keepalived leaves Master when one is deleted behind its "
    "back); dropped"
)


def read_excluded(ctx: Context, inst: Instance, stmt: Statement, address: Any, options: Any) -> None:
    """`virtual_ipaddress_excluded { ADDRESS[/LEN] [options] }`: as virtual_ipaddress lines (`address` and
    `options` are instance.py's readers of those)."""
    for entry in ctx.block(stmt) or []:
        parsed = address(ctx, entry)
        if parsed is not None:
            options(ctx, inst, entry)
            inst.excluded.append((parsed, entry))


def read_routes(ctx: Context, inst: Instance, stmt: Statement) -> None:
    for entry in ctx.block(stmt) or []:
        route = _route(ctx, entry, [entry.keyword, *entry.args])
        if route is not None:
            inst.routes.append(route)


def read_rules(ctx: Context, inst: Instance, stmt: Statement) -> None:
    for entry in ctx.block(stmt) or []:
        rule = _rule(ctx, entry, [entry.keyword, *entry.args])
        if rule is not None:
            inst.rules.append(rule)


def with_interface(address: VirtualAddress, dev: str | None, interface: str) -> str | dict[str, str]:
    """An address as written: a plain string on the instance's interface, a mapping on another one."""
    if dev is None or dev == interface:
        return str(address)
    return {"address": str(address), "interface": dev}


def excluded_out(ctx: Context, inst: Instance, devs: dict[int, str], taken: set[str]) -> list[str | dict[str, str]]:
    """The excluded addresses vrrpd can hold (`taken`: the virtual addresses, each imported once)."""
    assert inst.interface is not None
    out: list[str | dict[str, str]] = []
    for address, at in inst.excluded:
        ip = address.ip
        if ip.is_multicast or ip.is_unspecified or ip.is_loopback or str(ip) == "255.255.255.255":
            ctx.warn(at, f"virtual_ipaddress_excluded {address}: not a unicast address; not imported")
        elif str(ip) in taken:
            ctx.warn(at, f"virtual_ipaddress_excluded {address}: listed already; imported once")
        else:
            taken.add(str(ip))
            out.append(with_interface(address, devs.get(id(at)), inst.interface))
    return out


def _network(word: str, family: int | None = None) -> str:
    """keepalived's destination: a prefix, a bare address (one host), or `default`."""
    if word == "default":
        return "::/0" if family == 6 else "0.0.0.0/0"
    if "/" in word:
        return str(ip_network(word, strict=True))
    return str(ip_interface(word).network)


def _route(ctx: Context, at: Statement, words: list[str]) -> dict[str, Any] | None:
    shown = " ".join(words)
    out: dict[str, Any] = {}
    dest: str | None = None
    i = 0
    try:
        while i < len(words):
            word, value = words[i], words[i + 1] if i + 1 < len(words) else None
            if word in _ROUTE_TYPES and dest is None and value is not None:
                out["type"], dest, i = word, value, i + 2
                continue
            if word == "no_track":
                ctx.note(at, f"virtual_routes {shown}: {_NO_TRACK}")
                i += 1
                continue
            if word in ("src", "via", "gw", "dev", "table", "metric", "priority", "preference", "scope", "to"):
                if value is None:
                    raise ValueError(f"{word} without a value")
                if word == "src":
                    out["src"] = str(ip_address(value))
                elif word in ("via", "gw"):
                    out["via"] = str(ip_address(value.split("%")[0]))
                elif word == "dev":
                    out["interface"] = value
                elif word == "table":
                    out["table"] = _TABLES.get(value) or int(value)
                elif word in ("metric", "priority", "preference"):
                    out["metric"] = int(value)
                elif word == "scope":
                    if value not in _SCOPES:
                        raise ValueError(f"scope {value} has no vrrpd form")
                    out["scope"] = _SCOPES[value]
                else:
                    dest = value
                i += 2
                continue
            if dest is None:
                dest, i = word, i + 1
                continue
            raise ValueError(f"{word!r} has no vrrpd form")
        if dest is None:
            raise ValueError("no destination")
        via = out.get("via")
        out = {"to": _network(dest, 6 if via and ":" in via else 4), **out}
    except ValueError as e:
        ctx.warn(at, f"virtual_routes {shown}: {e}; not imported (add the route another way, e.g. a notify hook)")
        return None
    if out.get("table") == 254:
        del out["table"]  # the main table is vrrpd's default
    if "type" not in out and "via" not in out and "interface" not in out:
        ctx.warn(at, f"virtual_routes {shown}: needs via or dev for vrrpd; not imported")
        return None
    return out


def _rule(ctx: Context, at: Statement, words: list[str]) -> dict[str, Any] | None:
    shown = " ".join(words)
    out: dict[str, Any] = {}
    try:
        i = 0
        while i < len(words):
            word, value = words[i], words[i + 1] if i + 1 < len(words) else None
            if word == "no_track":
                ctx.note(at, f"virtual_rules {shown}: {_NO_TRACK}")
                i += 1
                continue
            if value is None:
                raise ValueError(f"{word!r} has no vrrpd form" if word not in ("from", "to") else f"{word} alone")
            if word in ("from", "to"):
                if value != "all":
                    out[word] = _network(value)
            elif word in ("table", "lookup"):
                out["table"] = _TABLES.get(value) or int(value)
            elif word in ("priority", "preference", "pref"):
                out["priority"] = int(value)
            else:
                raise ValueError(f"{word} {value} has no vrrpd form")
            i += 2
        if "table" not in out:
            raise ValueError("no table (vrrpd's rules look a table up)")
    except ValueError as e:
        ctx.warn(at, f"virtual_rules {shown}: {e}; not imported (add the rule another way, e.g. a notify hook)")
        return None
    if "priority" not in out:
        ctx.note(
            at,
            f"virtual_rules {shown}: no priority; keepalived picks a preference of its own, vrrpd leaves it to "
            "the kernel (just below the first rule after 0); give one to pin the order",
        )
    return out


def owned_out(ctx: Context, inst: Instance, out: dict[str, Any]) -> None:
    """Add excluded_addresses, routes and rules to `out` (an instance being written)."""
    devs = {id(at): dev for dev, at in inst.devs}
    taken = {address_of(a).split("/")[0] for a in out["virtual_addresses"]}
    excluded = excluded_out(ctx, inst, devs, taken)
    if excluded:
        out["excluded_addresses"] = excluded
    if inst.routes:
        out["routes"] = inst.routes
    if inst.rules:
        out["rules"] = inst.rules
