"""Interface facts and virtual-address changes over rtnetlink, behind a small interface with a fake for tests.

`Netlink` uses one long-lived pyroute2 `AsyncIPRoute` (never NDB, which starts a thread and a database). The
socket is opened in the network namespace of the calling process, so a daemon started with
`ip netns exec NS vrrpd ...` manages NS. Requests are serialized with an asyncio.Lock: they take microseconds,
and one in flight at a time keeps pyroute2's request/response matching simple. Address adds and removals, the
time-critical part of a takeover, take a faster path on a socket of their own (`vrrpd.net.addrbatch`: the same
pyroute2-encoded requests, sent back to back, acks matched by sequence number).

Errors come out as `NetlinkError` (an OSError carrying the kernel errno), from the fake as well.

Link monitoring (`LinkMonitor`, for interface tracking) uses its own plain netlink socket driven by
`loop.add_reader`: it joins RTNLGRP_LINK *before* it dumps the links, so no change can fall between the dump and
the first notification, and both arrive in order on the one socket. A receive-buffer overrun (ENOBUFS: some
notifications were lost) triggers a fresh dump, and the differences are reported as changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_interface
from socket import AF_INET, AF_INET6
from typing import Any, Protocol

from vrrpd.net import pyroute2_lean, routes
from vrrpd.net.addrbatch import IFA_PROTO_VRRPD, AddressBatch
from vrrpd.net.routes import KernelRoute, KernelRule

# Only the modules we use, not pyroute2's package __init__ (~6 MB and ~150 ms more; see pyroute2_lean).
pyroute2_lean.prepare()
# Imported at module level: importing pyroute2 takes tens of ms, which must not happen inside the running loop.
from pyroute2.iproute.linux import AsyncIPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError as PyrouteError  # noqa: E402
from pyroute2.netlink.rtnl.marshal import MarshalRtnl  # noqa: E402

log = logging.getLogger("vrrpd.netlink")

IPInterface = IPv4Interface | IPv6Interface

# <linux/if_addr.h>
IFA_F_SECONDARY = 0x01
# IFA_PROTO_VRRPD (from addrbatch, with IFA_PROTO: Linux >= 5.18) tags the addresses we add, so that after a crash
# we can tell our leftovers from the admin's own addresses (an owner's VIP is one of those).
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
# <linux/if.h>
IFF_UP = 0x1
IFF_RUNNING = 0x40
# <linux/if_link.h>
MACVLAN_MODE_BRIDGE = 4
IN6_ADDR_GEN_MODE_RANDOM = 3

RT_SCOPE_HOST = 254

# Deleting an address that is not there is the state we wanted: success, not an error.
_ALREADY_GONE = frozenset({errno.ENOENT, errno.EADDRNOTAVAIL, errno.ESRCH, errno.ENODEV})


class NetlinkError(OSError):
    """A netlink request failed; `errno` is the kernel's error code (ENODEV for an unknown interface)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(code, message or os.strerror(code))


@dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    name: str
    mac: str
    """'aa:bb:cc:dd:ee:ff'."""
    up: bool
    """Administratively up and operationally running (IFF_UP and IFF_RUNNING): able to carry VRRP."""
    mtu: int
    kind: str | None = None
    """IFLA_INFO_KIND ('macvlan', 'veth', ...); None for a plain device."""
    parent: int | None = None
    """IFLA_LINK: the lower device's ifindex for a stacked device such as a macvlan."""
    protodown: bool = False


class AddressManager(Protocol):
    """What the daemon needs from the kernel's interface and address tables."""

    async def link(self, ifname: str) -> LinkInfo:
        """Raises NetlinkError(ENODEV) when there is no such interface."""
        ...

    async def primary_ipv4(self, ifindex: int, exclude: Collection[IPv4Address] = ()) -> IPv4Address | None:
        """The address the kernel treats as primary (first non-secondary, scope below host), skipping `exclude`
        (pass the VIPs: a VIP outside every existing subnet is itself a primary)."""
        ...

    async def link_local(self, ifindex: int) -> IPv6Address | None:
        """The usable IPv6 link-local address: None while it is still tentative (DAD) or missing."""
        ...

    async def addresses(self, ifindex: int) -> list[IPInterface]:
        """All addresses on the interface, both families, in kernel order."""
        ...

    async def add(self, ifindex: int, iface: IPInterface) -> None:
        """Idempotent add (replace), tagged IFA_PROTO_VRRPD. IPv6 addresses skip DAD so they are usable at once."""
        ...

    async def add_many(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[NetlinkError | None]:
        """`add` for several addresses at once: one result per address, in order (None: added). One address
        failing does not stop the others."""
        ...

    async def ours(self, ifindex: int) -> set[IPv4Address | IPv6Address]:
        """Addresses on the interface that vrrpd added (IFA_PROTO_VRRPD), e.g. left by a crash."""
        ...

    async def remove(self, ifindex: int, iface: IPInterface) -> None:
        """Idempotent delete: an address (or interface) that is already gone is success."""
        ...

    async def remove_many(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[NetlinkError | None]:
        """`remove` for several addresses at once, one result per address, in order (None: gone)."""
        ...

    async def add_macvlan(self, parent: int, name: str, mac: str) -> LinkInfo:
        """Create a bridge-mode macvlan `name` on `parent` with `mac`, left down, with IPv6 addrgenmode random
        (so routers sharing the virtual MAC do not share an EUI-64 link-local; set after creation, as FRR's
        documentation notes the one-step form fails)."""
        ...

    async def set_link(self, ifindex: int, *, up: bool | None = None, protodown: bool | None = None) -> None:
        """Administrative state and/or protodown (carrier forced off: the device neither sends nor receives)."""
        ...

    async def delete_link(self, ifindex: int) -> None:
        """Idempotent: an interface that is already gone is success."""
        ...

    async def add_route(self, route: KernelRoute) -> bool:
        """Exclusive add: False (and nothing changed) when an identical route is already there (vrrpd.net.routes)."""
        ...

    async def remove_route(self, route: KernelRoute) -> None:
        """Idempotent delete."""
        ...

    async def add_rule(self, rule: KernelRule) -> bool:
        """Exclusive add, as `add_route`."""
        ...

    async def remove_rule(self, rule: KernelRule) -> None:
        """Idempotent delete."""
        ...

    def link_monitor(self) -> LinkMonitor:
        """A new monitor of link state changes (see LinkMonitor)."""
        ...

    async def close(self) -> None: ...


LinkCallback = Callable[[str, "LinkInfo | None"], None]
"""Called with an interface name and its new state (None: the interface is gone) when `up` changes, or when an
interface appears or disappears."""


class LinkMonitor(Protocol):
    async def start(self, on_change: LinkCallback) -> dict[str, LinkInfo]:
        """Subscribe to link changes, then return every current link by name; from then on, report changes."""
        ...

    async def close(self) -> None: ...


def _address_of(msg: Any) -> IPv4Address | IPv6Address:
    # For IPv4, IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point links.
    return ip_address(msg.get("local") or msg.get("address"))


class Netlink:
    """AddressManager over a single pyroute2 AsyncIPRoute, created lazily inside the running event loop."""

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None
        self._lock = asyncio.Lock()
        # Address changes, the time-critical part of a takeover, bypass AsyncIPRoute's per-request pipeline
        # (~190 us per address) on a socket of their own; see addrbatch.
        self._batch = AddressBatch()

    def _route(self) -> AsyncIPRoute:
        if self._ipr is None:
            self._ipr = AsyncIPRoute()
        return self._ipr

    async def _request(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        async with self._lock:
            try:
                result = await getattr(self._route(), method)(*args, **kwargs)
                if isinstance(result, list):
                    return result
                return [msg async for msg in result]  # dumps are async generators
            except PyrouteError as err:
                raise NetlinkError(err.code) from err

    async def _dump_addresses(self, ifindex: int, family: int = 0) -> list[Any]:
        msgs = await self._request("addr", "dump", index=ifindex)
        return [m for m in msgs if not family or m["family"] == family]

    async def link(self, ifname: str) -> LinkInfo:
        (msg,) = await self._request("link", "get", ifname=ifname)
        return _link_info(msg)

    async def add_macvlan(self, parent: int, name: str, mac: str) -> LinkInfo:
        await self._request("link", "add", ifname=name, kind="macvlan", link=parent, macvlan_mode="bridge", address=mac)
        info = await self.link(name)
        spec = {"attrs": [("AF_INET6", {"attrs": [("IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_RANDOM)]})]}
        try:
            await self._request("link", "set", index=info.index, IFLA_AF_SPEC=spec)
        except BaseException:
            await self.delete_link(info.index)
            raise
        return info

    async def set_link(self, ifindex: int, *, up: bool | None = None, protodown: bool | None = None) -> None:
        if protodown is not None:
            await self._request("link", "set", index=ifindex, proto_down=int(protodown))
        if up is not None:
            await self._request("link", "set", index=ifindex, state="up" if up else "down")

    async def delete_link(self, ifindex: int) -> None:
        try:
            await self._request("link", "del", index=ifindex)
        except NetlinkError as err:
            if err.errno not in _ALREADY_GONE:
                raise

    async def primary_ipv4(self, ifindex: int, exclude: Collection[IPv4Address] = ()) -> IPv4Address | None:
        for msg in await self._dump_addresses(ifindex, AF_INET):
            address = _address_of(msg)
            if msg["flags"] & IFA_F_SECONDARY or msg["scope"] >= RT_SCOPE_HOST or address in exclude:
                continue
            assert isinstance(address, IPv4Address)
            return address
        return None

    async def link_local(self, ifindex: int) -> IPv6Address | None:
        for msg in await self._dump_addresses(ifindex, AF_INET6):
            address = _address_of(msg)
            if address.is_link_local and not msg["flags"] & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
                assert isinstance(address, IPv6Address)
                return address
        return None

    async def addresses(self, ifindex: int) -> list[IPInterface]:
        return [ip_interface(f"{_address_of(m)}/{m['prefixlen']}") for m in await self._dump_addresses(ifindex)]

    async def add(self, ifindex: int, iface: IPInterface) -> None:
        # Replace (idempotent), IFA_PROTO_VRRPD, IPv6 with IFA_F_NODAD: see addrbatch.encode.
        (error,) = await self.add_many(ifindex, [iface])
        if error is not None:
            raise error

    async def add_many(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[NetlinkError | None]:
        return [NetlinkError(code) if code else None for code in await self._batch.add(ifindex, ifaces)]

    async def ours(self, ifindex: int) -> set[IPv4Address | IPv6Address]:
        msgs = await self._dump_addresses(ifindex)
        return {_address_of(m) for m in msgs if m.get_attr("IFA_PROTO") == IFA_PROTO_VRRPD}

    async def remove(self, ifindex: int, iface: IPInterface) -> None:
        (error,) = await self.remove_many(ifindex, [iface])
        if error is not None:
            raise error

    async def remove_many(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[NetlinkError | None]:
        codes = await self._batch.remove(ifindex, ifaces)
        return [NetlinkError(code) if code and code not in _ALREADY_GONE else None for code in codes]

    async def add_route(self, route: KernelRoute) -> bool:
        return await routes.add(self._request, "route", route.request())

    async def remove_route(self, route: KernelRoute) -> None:
        await routes.delete(self._request, "route", route.request())

    async def add_rule(self, rule: KernelRule) -> bool:
        return await routes.add(self._request, "rule", rule.request())

    async def remove_rule(self, rule: KernelRule) -> None:
        await routes.delete(self._request, "rule", rule.request())

    def link_monitor(self) -> LinkMonitor:
        return NetlinkLinkMonitor()

    async def close(self) -> None:
        self._batch.close()
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None


# <linux/rtnetlink.h>
RTMGRP_LINK = 0x1
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
_RCVBUF = 1 << 20


class NetlinkLinkMonitor:
    """LinkMonitor over an RTNLGRP_LINK socket (see the module docstring)."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._marshal = MarshalRtnl()
        self._seq = 0
        self._dumping: dict[str, LinkInfo] | None = None
        """Links received so far by the dump in progress; None when no dump is running."""
        self._dump_done: asyncio.Future[None] | None = None
        self._early: list[tuple[int, LinkInfo]] = []
        """Notifications that arrived during the dump, applied after it in order."""
        self._on_change: LinkCallback | None = None
        self.links: dict[str, LinkInfo] = {}
        self.resyncs = 0
        """Dumps after a receive-buffer overrun."""
        self._renamed: list[str] = []

    async def start(self, on_change: LinkCallback) -> dict[str, LinkInfo]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
        self._sock = sock
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind((0, RTMGRP_LINK))  # subscribe first: nothing can slip in before the dump
            loop.add_reader(sock.fileno(), self._on_readable)
            await self._dump()
        except BaseException:
            await self.close()
            raise
        self._on_change = on_change
        return dict(self.links)

    async def _dump(self) -> None:
        assert self._sock is not None
        self._seq += 1
        self._dumping, self._early = {}, []
        self._dump_done = asyncio.get_running_loop().create_future()
        body = struct.pack("BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)  # struct ifinfomsg
        header = struct.pack("IHHII", 16 + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, self._seq, 0)
        self._sock.send(header + body)
        try:
            await asyncio.wait_for(self._dump_done, 10)
        finally:
            dumped, early = self._dumping, self._early
            self._dumping, self._early, self._dump_done = None, [], None
        old, self.links = self.links, dict(dumped)
        for msg_type, info in early:  # full states, in order: the last one for a link is the newest
            self._apply(msg_type, info)
        self._renamed.clear()  # the comparison below reports those
        if self._on_change is not None:
            for name in old.keys() | self.links.keys():
                before, after = old.get(name), self.links.get(name)
                if (before is None) != (after is None) or (before and after and before.up != after.up):
                    self._on_change(name, after)

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    log.warning("link monitor: netlink receive buffer overrun; re-reading every link")
                    self.resyncs += 1
                    if self._dumping is None:
                        asyncio.get_running_loop().create_task(self._resync())
                    continue
                log.error("link monitor: receive error: %s", exc)
                return
            for msg in self._marshal.parse(data):
                self._message(msg)

    async def _resync(self) -> None:
        try:
            await self._dump()
        except Exception as exc:
            log.error("link monitor: cannot re-read the links: %s", exc)

    def _message(self, msg: Any) -> None:
        header = msg["header"]
        msg_type, seq = header["type"], header["sequence_number"]
        if self._dumping is not None and seq == self._seq and seq != 0:
            if msg_type in (NLMSG_DONE, NLMSG_ERROR):
                if self._dump_done is not None and not self._dump_done.done():
                    error = header.get("error")
                    if error is not None:
                        self._dump_done.set_exception(NetlinkError(getattr(error, "code", errno.EIO) or errno.EIO))
                    else:
                        self._dump_done.set_result(None)
            elif msg_type == RTM_NEWLINK:
                info = _link_info(msg)
                self._dumping[info.name] = info
            return
        if msg_type not in (RTM_NEWLINK, RTM_DELLINK):
            return
        info = _link_info(msg)
        if self._dumping is not None:
            self._early.append((msg_type, info))
            return
        before = self.links.get(info.name)
        self._apply(msg_type, info)
        after = self.links.get(info.name)
        renamed, self._renamed = self._renamed, []
        if self._on_change is None:
            return
        for name in renamed:
            self._on_change(name, None)
        if (before is None) != (after is None) or (before and after and before.up != after.up):
            self._on_change(info.name, after)

    def _apply(self, msg_type: int, info: LinkInfo) -> None:
        for name, known in list(self.links.items()):
            if known.index == info.index and name != info.name:
                del self.links[name]  # renamed (or deleted under its old name)
                self._renamed.append(name)
        if msg_type == RTM_DELLINK:
            self.links.pop(info.name, None)
        else:
            self.links[info.name] = info

    async def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None


def _link_info(msg: Any) -> LinkInfo:
    flags = msg["flags"]
    return LinkInfo(
        index=msg["index"],
        name=msg.get("ifname"),
        mac=msg.get("address") or "00:00:00:00:00:00",
        up=bool(flags & IFF_UP) and bool(flags & IFF_RUNNING),
        mtu=msg.get("mtu"),
        kind=msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND"),
        parent=msg.get("link"),
        protodown=bool(msg.get("proto_down")),
    )
