"""In-memory test doubles of the OS adapters: netlink (vrrpd.net.netlink) with the kernel rules the daemon depends
on, raw VRRP sockets, announcers and the nftables firewall. With them a whole daemon runs without root and without
touching the host. Used by the tests and by nothing in production."""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import time
from collections import deque
from collections.abc import Awaitable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_address, ip_interface
from typing import Any

from vrrpd.net.bpf import ACCEPT_ALL, Insn
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import IPInterface, LinkCallback, LinkInfo, LinkMonitor, NetlinkError
from vrrpd.net.routes import KernelRoute, KernelRule
from vrrpd.net.sockets import RCVBUF, Received, SocketStats
from vrrpd.protocol.constants import VRRP_TTL
from vrrpd.protocol.packet import IPPROTO_VRRP, Family, IPAddress


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
    - Routes and rules are sets (`routes`, `rules`): adding one already there is EEXIST, as the kernel answers
      an exclusive add; removing one not there succeeds. A test adds a route "someone else installed" to the set.
    Every mutating call is appended to `calls` as (operation, ifindex, iface).
    """

    def __init__(self) -> None:
        self._links: dict[int, _FakeLink] = {}
        self.calls: list[tuple[str, int, Any]] = []
        self.fail_next: OSError | None = None
        self._monitors: list[FakeLinkMonitor] = []
        self.routes: set[KernelRoute] = set()
        self.rules: set[KernelRule] = set()

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

    def has_link(self, ifname: str) -> bool:
        return any(link.info.name == ifname for link in self._links.values())

    def addresses_of(self, ifname: str) -> list[IPInterface]:
        """`addresses()` by name, without awaiting (for a test's conditions)."""
        return [entry.iface for entry in self._by_name(ifname).addresses]

    def holds(self, address: IPAddress) -> bool:
        """Whether any link has `address` (the host's own addresses, as vrrpd.net.unicast.is_local tells them)."""
        return any(entry.iface.ip == address for link in self._links.values() for entry in link.addresses)

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

    async def add_route(self, route: KernelRoute) -> bool:
        return self._add_to(self.routes, "add_route", route)

    async def remove_route(self, route: KernelRoute) -> None:
        self.calls.append(("remove_route", route.oif or 0, route))
        self._maybe_fail()
        self.routes.discard(route)

    async def add_rule(self, rule: KernelRule) -> bool:
        return self._add_to(self.rules, "add_rule", rule)

    async def remove_rule(self, rule: KernelRule) -> None:
        self.calls.append(("remove_rule", 0, rule))
        self._maybe_fail()
        self.rules.discard(rule)

    def _add_to(self, table: set[Any], operation: str, entry: Any) -> bool:
        self.calls.append((operation, getattr(entry, "oif", None) or 0, entry))
        self._maybe_fail()
        if entry in table:
            return False  # the kernel's EEXIST to an exclusive add, as vrrpd.net.routes reports it
        table.add(entry)
        return True

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


# --- sockets, announcers and the firewall ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One advert a FakeVrrpSocket was asked to send."""

    payload: bytes
    src: IPAddress
    dst: IPAddress
    """The VRRP group (`send`), or a unicast peer (`send_to`)."""
    ttl: int
    at: float
    """time.monotonic() when it was sent (the asyncio loop's clock)."""


def ipv4_bytes(packet: Received) -> bytes:
    """`packet` as a raw IPv4 socket reads it (vrrpd.net.sockets.parse_ipv4 gives it back): a 20-byte header whose
    total length is one too many when the packet stands for a length mismatch."""
    length = 20 + len(packet.payload) + (1 if packet.length_mismatch else 0)
    header = struct.pack("!BBHHHBBH", 0x45, 0xC0, length, 0, 0, packet.ttl, IPPROTO_VRRP, 0)
    return header + packet.src.packed + packet.dst.packed + packet.payload


class FakeVrrpSocket:
    """A VrrpSocket (vrrpd.net.sockets) without a kernel: it records what is sent and hands out what a test
    `deliver`s. Its `fileno()` is a real pipe, readable while delivered packets wait, so a daemon's `add_reader`
    wakes up for them as it would for a real socket. `unreachable` destinations make `send_to` fail (EHOSTUNREACH).
    """

    def __init__(self, ifname: str, family: Family, *, receive: bool = True) -> None:
        self.ifname = ifname
        self.family = family
        self.receive = receive
        self.sent: list[Sent] = []
        self.unreachable: set[IPAddress] = set()
        self.inbox: deque[Received] = deque()
        self.closed = False
        self.filters: list[tuple[Insn, ...]] = []
        """Every kernel filter set, in order (the last is in force); delivered packets are not run through it."""
        self.kernel_drops = 0
        """What `stats` reports as queue overflows: a test sets it."""
        self.filter_limit: int | None = None
        """Instructions the socket may hold: a filter is refused (ENOMEM) when it and the one in force are longer
        together, as the kernel charges both to net.core.optmem_max while it replaces one. A test sets it."""
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)

    def fileno(self) -> int:
        return self._read

    def set_filter(self, insns: tuple[Insn, ...]) -> None:
        held = len(self.filters[-1]) if self.filters and self.filters[-1] != ACCEPT_ALL else 0
        if self.filter_limit is not None and insns != ACCEPT_ALL and len(insns) + held > self.filter_limit:
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        self.filters.append(insns)

    def stats(self) -> SocketStats:
        return SocketStats(rcvbuf=2 * RCVBUF, queued=0, drops=self.kernel_drops)

    def deliver(self, packet: Received) -> None:
        """A packet arrives (and the descriptor becomes readable)."""
        self.inbox.append(packet)
        os.write(self._write, b"\0")

    def recv(self) -> Received | None:
        if self.inbox:
            return self.inbox.popleft()
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass
        return None

    def recv_raw(self) -> bytes | None:
        """IPv4: the next delivered packet as the kernel would hand it over, IP header included."""
        packet = self.recv()
        return None if packet is None else ipv4_bytes(packet)

    def send(self, payload: bytes, src: IPAddress) -> None:
        self.sent.append(Sent(payload, src, self.family.group, VRRP_TTL, time.monotonic()))

    def send_to(self, payload: bytes, src: IPAddress, dst: IPAddress, ttl: int = VRRP_TTL) -> None:
        if dst in self.unreachable:
            raise OSError(errno.EHOSTUNREACH, "No route to host")
        self.sent.append(Sent(payload, src, dst, ttl, time.monotonic()))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read)
            os.close(self._write)


class FakeAnnouncer:
    """An Announcer (vrrpd.net.announce) that records each `announce` call's addresses."""

    def __init__(self, ifname: str, mac: str | bytes, link_local: IPv6Address | None = None) -> None:
        self.ifname = ifname
        self.mac = mac
        self.link_local = link_local
        self.announced: list[tuple[IPAddress, ...]] = []
        self.closed = False

    def announce(self, addresses: Iterable[IPAddress]) -> None:
        self.announced.append(tuple(addresses))

    def close(self) -> None:
        self.closed = True


class FakeSockets:
    """Opens FakeVrrpSockets and FakeAnnouncers on the links of a FakeNetlink, and answers `is_local` from its
    addresses: what a daemon needs to open (vrrpd.daemon.model.Openers), without root."""

    def __init__(self, netlink: FakeNetlink) -> None:
        self.netlink = netlink
        self.opened: list[FakeVrrpSocket] = []
        self.announcers: list[FakeAnnouncer] = []

    def vrrp_socket(self, ifname: str, family: Family, *, receive: bool = True) -> FakeVrrpSocket:
        if not self.netlink.has_link(ifname):  # as socket.if_nametoindex refuses it
            raise OSError(errno.ENODEV, "No such device")
        sock = FakeVrrpSocket(ifname, family, receive=receive)
        self.opened.append(sock)
        return sock

    def socket(self, ifname: str, family: Family = Family.IPV4) -> FakeVrrpSocket:
        """The receiving socket last opened on (ifname, family)."""
        return next(s for s in reversed(self.opened) if (s.ifname, s.family, s.receive) == (ifname, family, True))

    def announcer(self, ifname: str, mac: str | bytes, link_local: IPv6Address | None = None) -> FakeAnnouncer:
        announcer = FakeAnnouncer(ifname, mac, link_local)
        self.announcers.append(announcer)
        return announcer

    def is_local(self, address: IPAddress, ifindex: int) -> bool:
        return self.netlink.holds(address)

    def close(self) -> None:
        """Close what the code under test left open (its pipes are real descriptors)."""
        for sock in self.opened:
            sock.close()


class FakeFirewall(Firewall):
    """The Accept_Mode firewall (vrrpd.net.firewall) without nft: `start` succeeds, blocks and unblocks are
    recorded in `calls` (and `blocked`), nothing touches the host's nftables."""

    def __init__(self) -> None:
        super().__init__(nft="nft (fake)")
        self.calls: list[tuple[str, tuple[IPAddress, ...]]] = []

    async def start(self) -> bool:
        self.enabled, self.reason = True, None
        self.calls.append(("start", ()))
        return True

    async def remove_stale(self) -> None:
        self.calls.append(("remove_stale", ()))

    async def block(self, addresses: Iterable[IPAddress]) -> None:
        addresses = tuple(addresses)
        self.calls.append(("block", addresses))
        if self.enabled:
            self.blocked.update(addresses)

    async def unblock(self, addresses: Iterable[IPAddress]) -> None:
        addresses = tuple(addresses)
        self.calls.append(("unblock", addresses))
        self.blocked.difference_update(addresses)

    async def close(self) -> None:
        self.calls.append(("close", ()))
        self.enabled = False
        self.blocked.clear()
