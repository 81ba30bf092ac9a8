"""A Master's routes and policy rules (keepalived's virtual_routes and virtual_rules): installed by the instance's
worker after its addresses, removed before them when it leaves Master, stops, or a reload drops them.

Only what vrrpd installed is ever removed, as in keepalived 2.2.7 (vrrp_iproute.c / vrrp_iprule.c: an entry whose
add failed is not `set`, and only `set` ones are deleted). A route or rule that is already in the kernel when the
instance becomes Master (the kernel refuses the exclusive add with EEXIST) belongs to someone else: it is logged,
shown in the status as not ours, and left in place when the instance leaves Master. Deleting it would take away
what an administrator (or another daemon) relies on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from vrrpd.config.routes import RouteConfig, RuleConfig
from vrrpd.daemon.model import Instance
from vrrpd.net.netlink import AddressManager
from vrrpd.net.routes import KernelRoute, KernelRule

log = logging.getLogger("vrrpd")
_E = TypeVar("_E", RouteConfig, RuleConfig)
_K = TypeVar("_K", KernelRoute, KernelRule)


async def kernel_route(netlink: AddressManager, route: RouteConfig) -> KernelRoute:
    """The route with its interface resolved (raises NetlinkError(ENODEV) for an unknown interface)."""
    oif = (await netlink.link(route.interface)).index if route.interface else None
    return KernelRoute(
        dst=str(route.to),
        gateway=str(route.via) if route.via else None,
        oif=oif,
        table=route.table,
        metric=route.metric,
        prefsrc=str(route.src) if route.src else None,
        scope=route.scope.value if route.scope else None,
        type=route.type.value,
    )


def kernel_rule(rule: RuleConfig) -> KernelRule:
    return KernelRule(
        family=rule.family,
        table=rule.table,
        src=str(rule.src) if rule.src else None,
        dst=str(rule.dst) if rule.dst else None,
        priority=rule.priority,
    )


async def install(
    netlink: AddressManager, inst: Instance, routes: tuple[RouteConfig, ...], rules: tuple[RuleConfig, ...]
) -> None:
    """Routes first, then the rules that point at their tables (a rule to an empty table would send traffic on
    to the next rule meanwhile: harmless, but pointless). Each failure is counted and logged; the rest go on."""
    name = inst.config.name
    for route in routes:
        if route in inst.routes:
            continue
        try:
            kernel = await kernel_route(netlink, route)
            if await netlink.add_route(kernel):
                inst.routes[route] = kernel
                inst.foreign.discard(route)
            else:
                inst.foreign.add(route)
                log.warning(
                    "%s: route %s: one to the same destination and metric is already in the kernel; left to its owner",
                    name,
                    route,
                )
        except OSError as exc:
            inst.netlink_errors += 1
            log.error("%s: cannot add route %s: %s", name, route, exc)
    for rule in rules:
        if rule in inst.rules:
            continue
        kernel = kernel_rule(rule)
        try:
            if await netlink.add_rule(kernel):
                inst.rules[rule] = kernel
                inst.foreign.discard(rule)
            else:
                inst.foreign.add(rule)
                log.warning("%s: rule %s is already in the kernel; left to its owner", name, rule)
        except OSError as exc:
            inst.netlink_errors += 1
            log.error("%s: cannot add rule %s: %s", name, rule, exc)


async def withdraw(
    netlink: AddressManager,
    inst: Instance,
    routes: tuple[RouteConfig, ...] | None,
    rules: tuple[RuleConfig, ...] | None,
) -> None:
    """Remove the rules, then the routes, that the instance installed (None: all of them). A failed removal is
    counted and logged, and forgotten: the instance no longer holds it either way."""
    if routes is None and rules is None:
        inst.foreign.clear()  # leaving Master: what was someone else's is of no concern to a Backup
    await forget(inst, "rule", inst.rules, rules, netlink.remove_rule)
    await forget(inst, "route", inst.routes, routes, netlink.remove_route)


async def forget(
    inst: Instance,
    what: str,
    held: dict[_E, _K],
    entries: Iterable[_E] | None,
    remove: Callable[[_K], Awaitable[None]],
) -> None:
    """Remove from the kernel each of `entries` (None: all) that `held` maps to what was installed for it."""
    for entry in list(held) if entries is None else entries:
        inst.foreign.discard(entry)
        kernel = held.pop(entry, None)
        if kernel is None:
            continue
        try:
            await remove(kernel)
        except OSError as exc:
            inst.netlink_errors += 1
            log.error("%s: cannot remove %s %s: %s", inst.config.name, what, entry, exc)


def status(inst: Instance) -> dict[str, list[dict[str, object]]]:
    """The configured routes and rules, each with whether it is installed by us now, or was already there."""

    def state(entry: RouteConfig | RuleConfig, held: bool) -> str:
        return "installed" if held else "not ours" if entry in inst.foreign else "absent"

    cfg = inst.config
    return {
        "routes": [{"route": str(r), "state": state(r, r in inst.routes)} for r in cfg.routes],
        "rules": [{"rule": str(r), "state": state(r, r in inst.rules)} for r in cfg.rules],
    }
