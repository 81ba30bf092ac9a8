"""Routes and policy-routing rules as the kernel takes them (`KernelRoute`, `KernelRule`), and the pyroute2 requests
that add and delete them.

An add is exclusive (NLM_F_CREATE | NLM_F_EXCL, what pyroute2's "add" sends): when an identical route or rule
(for a route: one to the same destination, TOS and metric) is already there the kernel answers EEXIST, and
`add_route` / `add_rule` report False, so that the caller does not take ownership of an object someone else
installed, and never deletes it. keepalived 2.2.7 (vrrp_iproute.c netlink_route) adds routes without NLM_F_EXCL
("prepend"), which the kernel refuses only for a perfect match; a different route to the same destination and
metric it puts in front of the existing one, where vrrpd leaves the existing one alone. Rules are exclusive in both
(vrrp_iprule.c netlink_rule). A delete of one already gone is success.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from socket import AF_INET, AF_INET6
from typing import Any

Request = Callable[..., Awaitable[list[Any]]]
"""Netlink._request: (method, command, **kwargs) -> the kernel's answers; raises NetlinkError."""

_GONE = frozenset({errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL})
SCOPES = {"global": 0, "link": 253, "host": 254}
"""<linux/rtnetlink.h> rt_scope_t by the name `ip route` gives it."""


@dataclass(frozen=True, slots=True)
class KernelRoute:
    """One route, its output interface resolved to an ifindex."""

    dst: str
    """A network with its prefix, e.g. 203.0.113.0/24."""
    gateway: str | None = None
    oif: int | None = None
    table: int | None = None
    metric: int | None = None
    prefsrc: str | None = None
    scope: str | None = None
    type: str = "unicast"

    def request(self) -> dict[str, Any]:
        family = AF_INET6 if ":" in self.dst else AF_INET
        args: dict[str, Any] = {"dst": self.dst, "family": family, "type": self.type}
        for key, value in (("gateway", self.gateway), ("oif", self.oif), ("table", self.table)):
            if value is not None:
                args[key] = value
        if self.metric is not None:
            args["priority"] = self.metric
        if self.prefsrc is not None:
            args["prefsrc"] = self.prefsrc
        if self.scope is not None:
            args["scope"] = SCOPES[self.scope]
        return args


@dataclass(frozen=True, slots=True)
class KernelRule:
    """One policy-routing rule."""

    family: int
    """4 or 6."""
    table: int
    src: str | None = None
    """A network with its prefix, or None for "from all"."""
    dst: str | None = None
    priority: int | None = None

    def request(self) -> dict[str, Any]:
        args: dict[str, Any] = {"family": AF_INET6 if self.family == 6 else AF_INET, "table": self.table}
        # Tables above 255 travel in FRA_TABLE; pyroute2 sets it from `table` as well as the header's byte.
        for key, value in (("src", self.src), ("dst", self.dst)):
            if value is not None:
                address, length = value.split("/")
                args[key] = address
                args[f"{key}_len"] = int(length)
        if self.priority is not None:
            args["priority"] = self.priority
        return args


async def add(request: Request, method: str, args: dict[str, Any]) -> bool:
    """Add a route ("route") or a rule ("rule"); False when an identical one was already there (not ours)."""
    try:
        await request(method, "add", **args)
    except OSError as err:
        if err.errno == errno.EEXIST:
            return False
        raise
    return True


async def delete(request: Request, method: str, args: dict[str, Any]) -> None:
    """Delete a route or a rule; one already gone is success."""
    try:
        await request(method, "del", **args)
    except OSError as err:
        if err.errno not in _GONE:
            raise
