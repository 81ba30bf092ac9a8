"""In-memory test doubles of the netlink adapter (vrrpd.net.netlink): the kernel rules the daemon depends on,
without a kernel. Used by the tests and by nothing in production."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_address, ip_interface
from typing import Any

from vrrpd.net.netlink import IPInterface, LinkCallback, LinkInfo, LinkMonitor, NetlinkError


@dataclass
class _FakeAddress:
    iface: IPInterface
    secondary: bool = False
    tentative: bool = False
    ours: bool = False
    """Added through `add()` (tagged IFA_PROTO_VRRPD), not configured with the link."""


@dataclass
class _FakeLink:
    info: LinkInfo
    addresses: list[_FakeAddress] = field(default_factory=list)
    admin_up: bool = True


class FakeNetlink:
    """An in-memory AddressManager that follows the kernel rules the daemon depends on.

    - An IPv4 address inside the subnet of an existing primary becomes secondary; the first primary stays
      primary (so `primary_ipv4` is stable while VIPs come and go).
    - Adding twice and removing twice succeed; removing from an unknown ifindex succeeds.
    - `fail_next` makes the next add/remove raise that error (to test the daemon's error paths).
    - `add_many`/`remove_many` are `add`/`remove` address by address, each error returned in its place.
    - Link monitors (`link_monitor()`) hear every change of `up` made through `set_up`, `set_link`,
      `add_link` and `remove_link`, synchronously.
    Every mutating call is appended to `calls` as (operation, ifindex, iface).
    """

    def __init__(self) -> None:
        self._links: dict[int, _FakeLink] = {}
        self.calls: list[tuple[str, int, Any]] = []
        self.fail_next: OSError | None = None
        self._monitors: list[FakeLinkMonitor] = []

    # --- test set-up ---

    def add_link(
        self,
        name: str,
        mac: str = "02:00:00:00:00:01",
        *,
        up: bool = True,
        mtu: int = 1500,
        addresses: Collection[str | IPInterface] = (),
    ) -> LinkInfo:
        info = LinkInfo(index=self._next_index(), name=name, mac=mac, up=up, mtu=mtu)
        self._links[info.index] = _FakeLink(info, admin_up=up)
        for iface in addresses:
            self._insert(info.index, ip_interface(iface))
        self._notify(name, info)
        return info

    def remove_link(self, ifname: str) -> None:
        link = self._by_name(ifname)
        del self._links[link.info.index]
        self._notify(ifname, None)

    def _next_index(self) -> int:
        return max(self._links, default=1) + 1

    def set_up(self, ifname: str, up: bool) -> None:
        link = self._by_name(ifname)
        link.admin_up = up
        before = link.info.up
        link.info = replace(link.info, up=up and not link.info.protodown)
        if link.info.up != before:
            self._notify(ifname, link.info)

    def set_tentative(self, ifindex: int, address: str | IPv6Address, tentative: bool) -> None:
        for entry in self._links[ifindex].addresses:
            if entry.iface.ip == ip_address(address):
                entry.tentative = tentative

    # --- AddressManager ---

    async def link(self, ifname: str) -> LinkInfo:
        return self._by_name(ifname).info

    async def primary_ipv4(self, ifindex: int, exclude: Collection[IPv4Address] = ()) -> IPv4Address | None:
        for entry in self._link(ifindex).addresses:
            ip = entry.iface.ip
            if isinstance(ip, IPv4Address) and not entry.secondary and not ip.is_loopback and ip not in exclude:
                return ip
        return None

    async def link_local(self, ifindex: int) -> IPv6Address | None:
        for entry in self._link(ifindex).addresses:
            ip = entry.iface.ip
            if isinstance(ip, IPv6Address) and ip.is_link_local and not entry.tentative:
                return ip
        return None

    async def addresses(self, ifindex: int) -> list[IPInterface]:
        return [entry.iface for entry in self._link(ifindex).addresses]

    async def add(self, ifindex: int, iface: IPInterface) -> None:
        self.calls.append(("add", ifindex, iface))
        self._maybe_fail()
        self._insert(ifindex, iface)
        for entry in self._link(ifindex).addresses:
            if entry.iface == iface:
                entry.ours = True

    async def add_many(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[NetlinkError | None]:
        return [await _outcome(self.add(ifindex, iface)) for iface in ifaces]

    async def ours(self, ifindex: int) -> set[IPv4Address | IPv6Address]:
        return {entry.iface.ip for entry in self._link(ifindex).addresses if entry.ours}

    async def remove(self, ifindex: int, iface: IPInterface) -> None:
        self.calls.append(("remove", ifindex, iface))
        self._maybe_fail()
        link = self._links.get(ifindex)
        if link is not None:
            link.addresses = [e for e in link.addresses if e.iface != iface]

    async def remove_many(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[NetlinkError | None]:
        return [await _outcome(self.remove(ifindex, iface)) for iface in ifaces]

    async def add_macvlan(self, parent: int, name: str, mac: str) -> LinkInfo:
        self.calls.append(("add_macvlan", parent, (name, mac)))
        self._maybe_fail()
        self._link(parent)
        if any(link.info.name == name for link in self._links.values()):
            raise NetlinkError(errno.EEXIST)
        info = LinkInfo(index=self._next_index(), name=name, mac=mac, up=False, mtu=1500, kind="macvlan", parent=parent)
        self._links[info.index] = _FakeLink(info, admin_up=False)
        return info

    async def set_link(self, ifindex: int, *, up: bool | None = None, protodown: bool | None = None) -> None:
        self.calls.append(("set_link", ifindex, {"up": up, "protodown": protodown}))
        self._maybe_fail()
        link = self._link(ifindex)
        if up is not None:
            link.admin_up = up
        down = link.info.protodown if protodown is None else protodown
        before = link.info.up
        # `up` in LinkInfo means able to carry traffic: administratively up and not protodown.
        link.info = replace(link.info, up=link.admin_up and not down, protodown=down)
        if link.info.up != before:
            self._notify(link.info.name, link.info)

    def link_monitor(self) -> LinkMonitor:
        monitor = FakeLinkMonitor(self)
        self._monitors.append(monitor)
        return monitor

    def _notify(self, name: str, info: LinkInfo | None) -> None:
        for monitor in self._monitors:
            if monitor.on_change is not None:
                monitor.on_change(name, info)

    async def delete_link(self, ifindex: int) -> None:
        self.calls.append(("delete_link", ifindex, None))
        self._maybe_fail()
        self._links.pop(ifindex, None)

    async def close(self) -> None:
        pass

    # --- internals ---

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err

    def _link(self, ifindex: int) -> _FakeLink:
        try:
            return self._links[ifindex]
        except KeyError:
            raise NetlinkError(errno.ENODEV) from None

    def _by_name(self, ifname: str) -> _FakeLink:
        for link in self._links.values():
            if link.info.name == ifname:
                return link
        raise NetlinkError(errno.ENODEV)

    def _insert(self, ifindex: int, iface: IPInterface) -> None:
        link = self._link(ifindex)
        if any(e.iface == iface for e in link.addresses):
            return  # replace semantics: the same address again changes nothing
        secondary = isinstance(iface, IPv4Interface) and any(
            isinstance(e.iface, IPv4Interface) and not e.secondary and e.iface.network == iface.network
            for e in link.addresses
        )
        link.addresses.append(_FakeAddress(iface, secondary=secondary))


async def _outcome(change: Awaitable[None]) -> NetlinkError | None:
    """A batch reports each address's error instead of raising it (fail_next's OSError becomes a NetlinkError)."""
    try:
        await change
    except NetlinkError as err:
        return err
    except OSError as err:
        return NetlinkError(err.errno or errno.EIO, err.strerror or "")
    return None


class FakeLinkMonitor:
    """A LinkMonitor over a FakeNetlink's links."""

    def __init__(self, fake: FakeNetlink) -> None:
        self.fake = fake
        self.on_change: LinkCallback | None = None

    async def start(self, on_change: LinkCallback) -> dict[str, LinkInfo]:
        self.on_change = on_change
        return {link.info.name: link.info for link in self.fake._links.values()}

    async def close(self) -> None:
        self.on_change = None
