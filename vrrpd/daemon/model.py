"""What the daemon is made of: links, instances, and the operations an instance's ordered worker runs.

A `Link` is one (interface, family) the daemon listens on; an `Instance` is one configured virtual router with
everything it needs to act (its pure router and tracking, its sockets, its worker queue, its counters). Both are
plain data: the assembly (vrrpd.daemon.assembly) builds them, the driver, worker and receive path act on them and
the status (vrrpd.daemon.status) reads them.

The worker operations are typed values rather than ("add", addresses) strings, so the worker's dispatch is checked
and each operation names what it carries. Their `verb` is the word the log lines have always used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import ClassVar, Protocol

from vrrpd.config import InstanceConfig
from vrrpd.config.routes import RouteConfig, RuleConfig
from vrrpd.net.announce import Announcer
from vrrpd.net.bpf import ACCEPT_ALL, Accept, Insn, program
from vrrpd.net.netlink import LinkInfo
from vrrpd.net.routes import KernelRoute, KernelRule
from vrrpd.net.sockets import Received, SocketStats, VrrpSocket
from vrrpd.net.unicast import UnicastPeers, is_local
from vrrpd.protocol import Advert, AdvertReceived, Family, VirtualRouter
from vrrpd.protocol.packet import IPAddress
from vrrpd.protocol.receive import Receiver
from vrrpd.protocol.tracking import Tracking
from vrrpd.services.workqueue import WorkQueue

log = logging.getLogger("vrrpd")

# --- the I/O an instance uses (vrrpd.net, or its test doubles in vrrpd.net.fakes) ------------------------------


class AdvertSocket(Protocol):
    """A raw VRRP socket (vrrpd.net.sockets.VrrpSocket)."""

    def fileno(self) -> int: ...

    def recv(self) -> Received | None: ...

    def recv_raw(self) -> bytes | None: ...

    def send(self, payload: bytes, src: IPAddress) -> None: ...

    def send_to(self, payload: bytes, src: IPAddress, dst: IPAddress, ttl: int = ...) -> None: ...

    def set_filter(self, insns: tuple[Insn, ...]) -> None: ...

    def stats(self) -> SocketStats: ...

    def close(self) -> None: ...


class FrameSender(Protocol):
    """Gratuitous ARP / unsolicited NA on one interface (vrrpd.net.announce.Announcer)."""

    def announce(self, addresses: Iterable[IPAddress]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Openers:
    """How the daemon opens its sockets and asks the host about addresses. The defaults are the real ones
    (root needed); tests pass doubles (vrrpd.net.fakes.FakeSockets) and build real links and instances."""

    vrrp_socket: Callable[..., AdvertSocket] = VrrpSocket
    """(ifname, family, *, receive=True) -> a raw VRRP socket; receive=False for a macvlan's send-only one."""
    announcer: Callable[[str, str, IPv6Address | None], FrameSender] = Announcer
    """(ifname, mac, IPv6 link-local source) -> a GARP / NA sender."""
    is_local: Callable[[IPAddress, int], bool] = is_local
    """(address, ifindex) -> whether it is an address of this host."""


# --- the model ---------------------------------------------------------------------------------------------------


@dataclass
class VirtualMac:
    """The macvlan carrying one instance's virtual MAC and VIPs (vrrpd.daemon.vmac)."""

    name: str
    mac: str
    index: int = 0
    running: bool = False
    """Protodown off and carrier up: adverts sent now leave with the virtual MAC."""
    pending_up: int = 0
    """Queued "up" operations: while non-zero, adverts go through the worker so they follow the carrier."""


@dataclass
class Device:
    """Another interface some of an instance's addresses live on (keepalived's ``dev OTHER``)."""

    index: int
    announcer: FrameSender
    """GARP / NA for the addresses on this interface, from its own MAC (shared with other users of the interface)."""


@dataclass(frozen=True, slots=True)
class RawRepeat:
    """An entry of Link.repeats: whose advert it is, the input it became, and the TTL it came with."""

    inst: Instance
    event: AdvertReceived
    ttl: int


@dataclass(eq=False)  # an entity: two links are the same link only if they are one object
class Link:
    """One (interface, family) the daemon listens on: the socket and the routers behind it, by VRID."""

    ifname: str
    family: Family
    info: LinkInfo
    primary: IPAddress
    sock: AdvertSocket
    routers: dict[int, Instance] = field(default_factory=dict)
    own: set[IPAddress] = field(default_factory=set)
    """Every advert source of ours on this link (the primary, and macvlan link-locals): never a peer."""
    drops: dict[str, int] = field(default_factory=dict)
    """Drops that belong to no configured router (unknown VRID, unparseable header)."""
    attached: bool = False
    """Being read (vrrpd.daemon.receive.Listener.attach)."""
    polled: bool = False
    """Drained by the scheduler's tick rather than watched (vrrpd.services.scheduler)."""
    drain: Callable[[], None] | None = None
    """The drain handed to the scheduler while attached, to take it back when the link closes: polled, it runs every
    tick; either way it runs before a deadline fires (watched: when the socket is readable)."""
    group: IPAddress = field(init=False)
    """The family's VRRP group (224.0.0.18 or ff02::12), looked up once rather than per packet."""
    accepts: dict[int, Accept] | None = None
    """What the socket's kernel filter was last built from (vrrpd.net.bpf): None before the first."""
    kernel_filter: str = "checksums"
    """The filter in force, for the status: "checksums" (the long program), "no checksums" (the kernel refused the
    long one: net.core.optmem_max, docs/hostile.md) or "none" (it refused both: every packet reaches vrrpd)."""

    repeats: dict[bytes, RawRepeat] = field(default_factory=dict)
    """IPv4: the adverts a Backup follows as they arrive, keyed by the raw packet from its source address on (the
    header's fields before it, the ID and checksum among them, change from one advert to the next), so a repeat
    reaches its router without being parsed or screened (vrrpd.daemon.receive). One per VRID at most."""
    repeat_keys: dict[int, bytes] = field(default_factory=dict)
    """The key of each VRID's entry in `repeats`."""

    def __post_init__(self) -> None:
        self.group = self.family.group

    def add(self, inst: Instance, refilter: bool = True) -> None:
        """`inst` is read from this link from now on: its VRID goes into the kernel filter (with `refilter=False`,
        once the caller calls `refilter`, before the link is read)."""
        self.forget(inst.config.vrid)
        self.routers[inst.config.vrid] = inst
        if refilter:
            self.refilter()

    def remove(self, inst: Instance) -> None:
        """`inst` is no longer read here (if it still is): its VRID leaves the kernel filter."""
        if self.routers.get(inst.config.vrid) is inst:
            self.forget(inst.config.vrid)
            del self.routers[inst.config.vrid]
            self.refilter()

    def remember(self, key: bytes, repeat: RawRepeat) -> None:
        """The raw packet `key` is a repeat for `repeat.inst` from now on (in place of its VRID's earlier one)."""
        self.forget(repeat.inst.config.vrid)
        self.repeats[key] = repeat
        self.repeat_keys[repeat.inst.config.vrid] = key

    def forget(self, vrid: int) -> None:
        """No raw repeat for `vrid` any more: its next advert takes the whole receive path."""
        key = self.repeat_keys.pop(vrid, None)
        if key is not None:
            del self.repeats[key]

    def refilter(self) -> None:
        """Rebuild the socket's kernel filter from the routers the link has now, if what they accept changed.
        Called wherever a router comes, goes or changes its unicast settings (a VRID, version and unicast TTL
        are what the filter knows); re-attaching replaces the old program atomically."""
        accepts = {vrid: accept_of(inst.config) for vrid, inst in self.routers.items()}
        if accepts == self.accepts:
            return
        replacing = self.accepts is not None and self.kernel_filter == "checksums"
        self.accepts = accepts
        short = program(self.family, accepts, checksum=False)
        # The kernel charges a new program to net.core.optmem_max while it still holds the old one, and two checksum
        # programs do not fit together even in 128 KiB (the default since Linux 6.9): the short one goes first.
        if replacing and not self._attach_short(short):
            return
        try:
            self.sock.set_filter(program(self.family, accepts))
        except OSError as exc:  # converted and JIT-ed, a checksum program takes 80-130 KiB of net.core.optmem_max
            if self._attach_short(short):
                log.warning(
                    "%s: kernel filter with checksums refused (%s); filtering without them "
                    "(net.core.optmem_max=131072, the default since Linux 6.9, makes room: docs/hostile.md)",
                    self.ifname,
                    exc,
                )
            return
        self.kernel_filter = "checksums"

    def _attach_short(self, short: tuple[Insn, ...]) -> bool:
        try:
            self.sock.set_filter(short)
        except OSError as exc:  # reading everything beats reading nothing: the Python screen still checks it all
            log.error("%s: no kernel filter (%s); every VRRP packet reaches vrrpd", self.ifname, exc)
            self.sock.set_filter(ACCEPT_ALL)
            self.kernel_filter = "none"
            return False
        self.kernel_filter = "no checksums"
        return True

    def drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1


def accept_of(cfg: InstanceConfig) -> Accept:
    """What the kernel filter lets through for the router of `cfg` (vrrpd.net.bpf)."""
    if cfg.unicast_peers:
        return Accept(cfg.version, cfg.unicast_min_ttl, unicast=True)
    return Accept(cfg.version)


@dataclass(eq=False)  # an entity, as Link
class Instance:
    """One configured virtual router and everything it acts with."""

    config: InstanceConfig
    router: VirtualRouter
    link: Link
    announcer: FrameSender
    source: IPAddress
    """Advert source: the parent's primary IPv4 address or IPv6 link-local, or the macvlan's link-local."""
    tx: AdvertSocket
    """Where adverts leave: the link's socket, or the macvlan's send-only socket."""
    tracking: Tracking
    receiver: Receiver
    """What the receive screen knows of this router (vrrpd.protocol.receive), with its repeat cache."""
    vmac: VirtualMac | None = None
    unicast: UnicastPeers | None = None
    """Unicast peers (vrrpd.net.unicast); None for a multicast instance."""
    kept: frozenset[IPAddress] = frozenset()
    """Owner addresses that were on the interface before us: never removed by us."""
    devices: dict[str, Device] = field(default_factory=dict)
    """The other interfaces its addresses live on, by name (vrrpd.daemon.assembly opens them)."""
    routes: dict[RouteConfig, KernelRoute] = field(default_factory=dict)
    """The routes its worker installed and has not removed since: the only ones it ever removes."""
    rules: dict[RuleConfig, KernelRule] = field(default_factory=dict)
    """As `routes`, for rules."""
    foreign: set[RouteConfig | RuleConfig] = field(default_factory=set)
    """Configured routes and rules that were already in the kernel when it became Master: not ours, kept."""
    timer_at: float | None = None
    """The deadline last handed to the scheduler."""
    wire: tuple[Advert, bytes] | None = None
    """The last advert sent and its encoding: an unchanged advert is not encoded again."""
    ops: WorkQueue[Op] = field(default_factory=WorkQueue)
    worker: asyncio.Task[None] | None = None
    garp: asyncio.Task[None] | None = None
    """The announcement of a takeover: its bursts, then the refresh (vrrpd.daemon.worker)."""
    bursts: set[asyncio.Task[None]] = field(default_factory=set)
    """Bursts for addresses a reload added while Master, running beside `garp`."""
    send_errors: int = 0
    netlink_errors: int = 0
    silent_fault: dict[str, object] | None = None
    """The event of a start-up FAULT whose hooks have not run: it only waits for fault scripts' first results, which
    keepalived notifies nothing for (issue #12). They run if the wait turns into a failure (vrrpd.daemon.driver)."""

    @property
    def name(self) -> str:
        return self.config.name

    def stop_announcing(self) -> None:
        """End every GARP / NA task of this instance (it leaves Master, or stops)."""
        for task in (self.garp, *self.bursts):
            if task is not None:
                task.cancel()
        self.garp = None
        self.bursts.clear()


# --- the worker's operations (vrrpd.daemon.worker), in the order a takeover queues them ----------------------


@dataclass(frozen=True, slots=True)
class VmacUp:
    """Clear the macvlan's protodown and wait for its carrier (before the VIPs go on it)."""

    verb: ClassVar[str] = "up"


@dataclass(frozen=True, slots=True)
class AddVips:
    """Block the VIPs (Accept_Mode false), then add them in one netlink batch."""

    addresses: tuple[IPAddress, ...]
    verb: ClassVar[str] = "add"


@dataclass(frozen=True, slots=True)
class SendWire:
    """Send an advert held back while the macvlan's carrier was coming up."""

    wire: bytes
    verb: ClassVar[str] = "send"


@dataclass(frozen=True, slots=True)
class AnnounceVips:
    """Start the GARP / NA bursts for the VIPs (RFC 9568 §6.4.1, §6.4.2), replacing any still running."""

    addresses: tuple[IPAddress, ...]
    beside: bool = False
    """Addresses a reload added while Master: their bursts run beside the running announcement, whose remaining
    bursts and refresh go on (the refresh covers every address the instance holds)."""
    verb: ClassVar[str] = "announce"


@dataclass(frozen=True, slots=True)
class RemoveVips:
    """Remove the VIPs (never an owner's kept address), then unblock them."""

    addresses: tuple[IPAddress, ...]
    verb: ClassVar[str] = "remove"


@dataclass(frozen=True, slots=True)
class BlockVips:
    """A reload turned Accept_Mode off on a Master: drop packets to the VIPs it holds from now on."""

    addresses: tuple[IPAddress, ...]
    verb: ClassVar[str] = "block"


@dataclass(frozen=True, slots=True)
class UnblockVips:
    """A reload turned Accept_Mode on: accept packets to these VIPs again (any of them still blocked)."""

    addresses: tuple[IPAddress, ...]
    verb: ClassVar[str] = "unblock"


@dataclass(frozen=True, slots=True)
class InstallRoutes:
    """Install routes and rules (after the addresses they may use as source or gateway)."""

    routes: tuple[RouteConfig, ...]
    rules: tuple[RuleConfig, ...]
    verb: ClassVar[str] = "install"


@dataclass(frozen=True, slots=True)
class WithdrawRoutes:
    """Remove routes and rules the instance installed (before its addresses go); None: every one it holds."""

    routes: tuple[RouteConfig, ...] | None = None
    rules: tuple[RuleConfig, ...] | None = None
    verb: ClassVar[str] = "withdraw"


@dataclass(frozen=True, slots=True)
class VmacDown:
    """Put the macvlan back in protodown (after the VIPs are gone)."""

    verb: ClassVar[str] = "down"


Op = (
    VmacUp
    | AddVips
    | SendWire
    | AnnounceVips
    | RemoveVips
    | VmacDown
    | BlockVips
    | UnblockVips
    | InstallRoutes
    | WithdrawRoutes
)
