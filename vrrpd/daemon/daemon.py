"""Wires config -> virtual routers -> adapters on one asyncio loop.

The loop never blocks: sockets are non-blocking with `add_reader` (or drained from a tick when a link carries
many adverts), netlink and announcements run in one ordered worker task per instance, and each router's one
deadline, re-read from `next_deadline()` after every input, is kept by the scheduler (vrrpd.services.scheduler: all
deadlines on one timerfd). Router time is `loop.time()` (monotonic).

Virtual MAC (`virtual_mac: true`, RFC 9568 §7.3; vrrpd.daemon.vmac): the VIPs live on a macvlan whose MAC is
the virtual router MAC, kept in protodown while the instance is not master. The ordered worker runs its "up"
(clear protodown, wait for the carrier) before the VIPs are added and its "down" after they are removed.

Tracking (keepalived's track_script / track_interface / track_file; vrrpd.daemon.tracking): the monitors
change the pure `Tracking` of each instance, then `_update_tracking` hands the router its effective priority
(`PriorityChanged`), then any fault (`Faulted(reasons)`), or `Recovered` once none is left.

Sync groups (vrrpd.protocol.syncgroup, vrrpd.daemon.syncgroups): every input of a member instance goes through
its group, which feeds the member and then moves the other members with it; group trackers (fault only) reach
the group from the same link and script monitors. Group transitions go to `_group_changed`, in order.

Accept_Mode (RFC 9568 §6.1): a non-owner master with `accept_mode: false` drops packets addressed to its VIPs
via nftables (vrrpd.net.firewall); the addresses are blocked just before the VIPs are added and unblocked just
after they are removed, in the same ordered worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from ipaddress import ip_interface
from typing import Any

from vrrpd import __version__
from vrrpd.config import Config, InstanceConfig
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.daemon.tracking import TrackingError, TrackingMonitors
from vrrpd.daemon.vmac import VirtualMac, VirtualMacError, VirtualMacs
from vrrpd.net.announce import Announcer
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import AddressManager, IPInterface, LinkInfo, LinkMonitor, Netlink
from vrrpd.net.sockets import Received, VrrpSocket
from vrrpd.net.sysctl import Sysctls
from vrrpd.net.unicast import UnicastError, UnicastPeers
from vrrpd.protocol import (
    Action,
    AddAddresses,
    AdvertReceived,
    Announce,
    Family,
    Faulted,
    Input,
    InvalidAdvert,
    Log,
    PriorityChanged,
    Recovered,
    RemoveAddresses,
    SendAdvert,
    ShutdownRequested,
    Started,
    State,
    StateChanged,
    TimerExpired,
    VirtualRouter,
    decode,
    encode,
)
from vrrpd.protocol.constants import OWNER_PRIORITY, VRRP_TTL
from vrrpd.protocol.packet import Decoded, IPAddress
from vrrpd.protocol.syncgroup import Coordinated, GroupStateChanged
from vrrpd.protocol.tracking import TrackerKind, Tracking, TrackState
from vrrpd.services import sdnotify
from vrrpd.services.control import ControlError, ControlServer, StreamHandler
from vrrpd.services.eventlog import EventLog
from vrrpd.services.filetrack import FileMonitor
from vrrpd.services.hooks import HookSetupError, Notifier
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scheduler import MAX_SLACK, POLL_ABOVE_RATE, Scheduler
from vrrpd.services.scripts import ScriptMonitor

log = logging.getLogger("vrrpd")
# Bounded work per wake-up, so one flooded socket cannot starve the timers of every other router.
MAX_PACKETS_PER_WAKEUP = 64
MAX_PACKETS_PER_POLL = 4096


class StartupError(Exception):
    """The daemon cannot start (interface missing, no primary address, socket already served...)."""


@dataclass
class Link:
    """One (interface, family) the daemon listens on: the socket and the routers behind it, by VRID."""

    ifname: str
    family: Family
    info: LinkInfo
    primary: IPAddress
    sock: VrrpSocket
    routers: dict[int, Instance] = field(default_factory=dict)
    own: set[IPAddress] = field(default_factory=set)
    """Every advert source of ours on this link (the primary, and macvlan link-locals): never a peer."""
    drops: dict[str, int] = field(default_factory=dict)
    """Drops that belong to no configured router (unknown VRID, unparseable header)."""
    send_errors: int = 0
    polled: bool = False
    """Drained by the scheduler's tick rather than watched (vrrpd.services.scheduler)."""

    def drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1


@dataclass
class Instance:
    config: InstanceConfig
    router: VirtualRouter
    link: Link
    announcer: Announcer
    source: IPAddress
    """Advert source: the parent's primary IPv4 address or IPv6 link-local, or the macvlan's link-local."""
    tx: VrrpSocket
    """Where adverts leave: the link's socket, or the macvlan's send-only socket."""
    tracking: Tracking
    vmac: VirtualMac | None = None
    timer_at: float | None = None
    """The deadline last handed to the scheduler."""
    wire: tuple[object, bytes] | None = None
    """The last advert sent and its encoding: an unchanged advert is not encoded again."""
    rx: tuple[bytes, IPAddress, IPAddress, int, Decoded] | None = None
    """The last advert that passed the receive checks (bytes, source, destination, TTL, decoding): a repeat
    is neither checked nor decoded again."""
    ops: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    garp: asyncio.Task[None] | None = None
    send_errors: int = 0
    netlink_errors: int = 0
    unicast: UnicastPeers | None = None
    """Unicast peers (vrrpd.net.unicast); None for a multicast instance."""


class Daemon:
    def __init__(self, config: Config, netlink: AddressManager | None = None) -> None:
        self.config = config
        self.netlink: AddressManager = netlink or Netlink()
        self.links: dict[tuple[str, Family], Link] = {}
        self.instances: dict[str, Instance] = {}
        self.announcers: list[Announcer] = []
        self._kept: dict[str, set[IPAddress]] = {}
        """Per instance: owner addresses that were on the interface before us; never removed by us."""
        restore = config.control_socket.with_name(config.control_socket.name + ".sysctl-restore.json")
        self.sysctls = Sysctls(restore)
        self.firewall = Firewall()
        self.vmacs = VirtualMacs(self.netlink, self.sysctls, asyncio.get_running_loop())
        self.control: ControlServer | None = None
        self.scheduler: Scheduler | None = None
        self.sync = SyncGroups(config)
        self.started_at = time.monotonic()
        self.ratelog = RateLimitedLogger(log)
        self.monitors = TrackingMonitors(
            config, self.netlink, self.sync, self.ratelog, self.instances, self._update_tracking, self._update_groups
        )
        self.notifier = Notifier(self.ratelog)
        """Transitions -> the event stream (`vrrpctl events`) and notify hooks (vrrpd.services.hooks)."""
        self._stop = asyncio.Event()
        self._stopping = False
        self._status_due = False
        """A STATUS= update is queued for this loop iteration (`_push_status`)."""
        self._loop = asyncio.get_running_loop()

    # --- life cycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        # Before the first await: a SIGTERM during start-up is recorded and acted on once started.
        self._install_signals()
        try:
            await self._open_links()
            await self._remove_stale_addresses()
            try:
                await self.vmacs.setup(self.config, self.links)
            except VirtualMacError as exc:
                raise StartupError(str(exc)) from None
            await self._create_routers()
            await self._start_tracking()
            if any(not cfg.accepts_traffic for cfg in self.config.instances):
                await self.firewall.start()
            else:
                await self.firewall.remove_stale()
                self.firewall.reason = "not needed: every instance accepts (accept_mode or owner)"
            self.control = ControlServer(
                str(self.config.control_socket),
                {"status": self._status},
                streams={"events": events_stream(self.notifier.events)},
            )
            await self.control.start()
        except BaseException:
            await self._close_io()
            raise
        self.scheduler = Scheduler(self._loop, self._on_deadline, self._slack)
        for inst in self.instances.values():
            inst.worker = asyncio.create_task(self._address_worker(inst), name=f"vrrpd-addr-{inst.config.name}")
            self._update_tracking(inst)  # an interface already down: FAULT from the start
            self._feed(inst, Started())
        for monitor in (*self.scripts.values(), *self.files.values()):
            monitor.start()
        for link in self.links.values():
            # Many adverts a second: drained from the scheduler's tick instead of a wake-up per packet.
            if sum(1 / inst.config.advert_interval for inst in link.routers.values()) > POLL_ABOVE_RATE:
                link.polled = True
                self.scheduler.poll(lambda link=link: self._on_readable(link, MAX_PACKETS_PER_POLL))
            else:
                self._loop.add_reader(link.sock.fileno(), self._on_readable, link)
        sdnotify.ready(self._summary())
        if (interval := sdnotify.watchdog_interval()) is not None:
            # Pinged from the loop itself: if the loop stalls, systemd notices and restarts us.
            self._watchdog(interval / 2)
        if self._loop.get_debug():
            log.warning(
                "asyncio debug mode is on: callbacks over %.0f ms will be reported",
                self._loop.slow_callback_duration * 1000,
            )
        log.info(
            "vrrpd %s started: %d instance(s), control socket %s",
            __version__,
            len(self.instances),
            self.config.control_socket,
        )

    async def run(self) -> None:
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.stop()

    def _watchdog(self, every: float) -> None:
        sdnotify.watchdog()
        if not self._stop.is_set():
            self._loop.call_later(every, self._watchdog, every)

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        self._stopping = True
        sdnotify.stopping()
        for link in self.links.values():
            if not link.polled:
                self._loop.remove_reader(link.sock.fileno())
        if self.scheduler is not None:
            self.scheduler.stop_polling()
        # RFC 9568 §6.4.3: each master sends priority 0 so a backup takes over after Skew_Time, not MDI.
        for inst in self.instances.values():
            self._feed(inst, ShutdownRequested())
        # Running checks are killed (their whole process group) and reaped before we go.
        await asyncio.gather(*(monitor.stop() for monitor in (*self.scripts.values(), *self.files.values())))
        pending = [inst.ops.join() for inst in self.instances.values() if inst.worker]
        if pending:
            try:
                await asyncio.wait_for(asyncio.gather(*pending), timeout=5.0)
            except TimeoutError:
                log.error("timed out removing virtual addresses on shutdown")
        await self.notifier.close()  # on_stop hooks, bounded; after the priority-0 adverts and the removals
        for inst in self.instances.values():
            for task in (inst.worker, inst.garp):
                if task:
                    task.cancel()
        if self.scheduler is not None:
            self.scheduler.close()
        await self._close_io()
        log.info("vrrpd stopped")

    async def _close_io(self) -> None:
        """Undo start-up: also after a failed start, so each step copes with what was never made."""
        if self.control:
            await self.control.close()
        if self.link_monitor is not None:
            await self.link_monitor.close()
        for link in self.links.values():
            link.sock.close()
        for announcer in self.announcers:
            announcer.close()
        await self.vmacs.close()
        self.sysctls.restore()
        await self.firewall.close()
        await self.netlink.close()

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.request_stop)
        # Reload arrives in a later release; until then SIGHUP must not kill the daemon.
        self._loop.add_signal_handler(
            signal.SIGHUP, lambda: log.warning("SIGHUP: configuration reload is not supported yet; ignored")
        )

    # --- start-up ----------------------------------------------------------------------------------------------

    async def _open_links(self) -> None:
        # An owner's addresses are its own real addresses (RFC 9568 §1.2), so one may well be the primary.
        vips = {
            a.ip for inst in self.config.instances if inst.priority != OWNER_PRIORITY for a in inst.virtual_addresses
        }
        for cfg in self.config.instances:
            key = (cfg.interface, cfg.family)
            if key not in self.links:
                self.links[key] = await self._open_link(cfg.interface, cfg.family, vips)
                self.links[key].own.add(self.links[key].primary)

    async def _create_routers(self) -> None:
        shared: dict[str, Announcer] = {}
        for cfg in self.config.instances:
            link = self.links[(cfg.interface, cfg.family)]
            vmac_io = self.vmacs.io.get(cfg.name)
            if vmac_io is not None:
                vmac, announcer, source, tx = vmac_io
            else:
                vmac, source, tx = None, link.primary, link.sock
                announcer = shared.get(cfg.interface)
                if announcer is None:
                    # One packet socket per interface serves GARP and NA; NAs leave from the link-local address.
                    link_local = await self.netlink.link_local(link.info.index)
                    announcer = shared[cfg.interface] = Announcer(cfg.interface, link.info.mac, link_local)
                    self.announcers.append(announcer)
            try:
                unicast = UnicastPeers.for_instance(cfg, link.primary, link.info.index)
            except UnicastError as exc:
                raise StartupError(f"{cfg.name}: {exc}") from None
            if unicast is not None:  # adverts go from the interface itself to each peer (vrrpd.net.unicast)
                source, tx = unicast.source, link.sock
            _check_advert_fits(cfg, link.info)
            router = VirtualRouter(self.sync.router_config(cfg), source)
            tracking = Tracking(cfg.priority, cfg.trackers)
            inst = Instance(cfg, router, link, announcer, source, tx, tracking, vmac, unicast=unicast)
            link.routers[cfg.vrid] = inst
            link.own.add(source)
            self.instances[cfg.name] = inst
            try:
                self.notifier.add_instance(cfg)
            except HookSetupError as exc:
                raise StartupError(str(exc)) from None
        self.sync.build({name: inst.router for name, inst in self.instances.items()})
        for group in self.config.sync_groups:
            try:
                self.notifier.add_group(group)
            except HookSetupError as exc:
                raise StartupError(str(exc)) from None

    @property
    def link_monitor(self) -> LinkMonitor | None:
        return self.monitors.link_monitor

    @property
    def scripts(self) -> dict[str, ScriptMonitor]:
        return self.monitors.scripts

    @property
    def files(self) -> dict[str, FileMonitor]:
        return self.monitors.files

    async def _start_tracking(self) -> None:
        """Create the link, script and file monitors (vrrpd.daemon.tracking) and read the initial states."""
        try:
            await self.monitors.create()
        except TrackingError as exc:
            raise StartupError(str(exc)) from None

    def _on_script(self, name: str, state: TrackState) -> None:
        self.monitors.on_script(name, state)

    def _on_file(self, name: str, value: int | None) -> None:
        self.monitors.on_file(name, value)

    def _update_groups(self, kind: TrackerKind, name: str, state: TrackState) -> None:
        if not self._stopping:
            for out in self.sync.changed(kind, name, state, self._loop.time()):
                self._apply_group(out)

    def _update_tracking(self, inst: Instance) -> None:
        """Hand the router what tracking now says: the effective priority first (so a recovering router
        restarts with it), then the faults or their end."""
        if self._stopping:
            return
        router, tracking = inst.router, inst.tracking
        priority = tracking.priority
        if priority != router.priority:
            log.info("%s: effective priority %d -> %d (tracking)", inst.config.name, router.priority, priority)
            self._feed(inst, PriorityChanged(priority))
        faults = tracking.faults
        if faults:
            reason = "; ".join(faults)
            if router.fault_reason != reason:
                self._feed(inst, Faulted(reason))
        elif router.fault_reason is not None:
            log.info("%s: fault cleared (%s)", inst.config.name, router.fault_reason)
            self._feed(inst, Recovered())

    async def _open_link(self, ifname: str, family: Family, vips: set[IPAddress]) -> Link:
        try:
            info = await self.netlink.link(ifname)
        except Exception as exc:
            raise StartupError(f"interface {ifname}: not found ({exc})") from None
        primary: IPAddress | None
        if family is Family.IPV4:
            primary = await self.netlink.primary_ipv4(info.index, exclude=[v for v in vips if v.version == 4])
            if primary is None:
                raise StartupError(f"interface {ifname} has no IPv4 address to send adverts from (RFC 9568 §5.1.1.1)")
        else:
            primary = await self.netlink.link_local(info.index)
            if primary is None:
                raise StartupError(f"interface {ifname} has no IPv6 link-local address (RFC 9568 §5.1.2.1)")
        try:
            sock = VrrpSocket(ifname, family)
        except OSError as exc:
            raise StartupError(f"interface {ifname}: cannot open the {family.name} VRRP socket: {exc}") from None
        return Link(ifname, family, info, primary, sock)

    async def _remove_stale_addresses(self) -> None:
        """A crash can leave our VIPs behind; a Backup must not hold them (RFC 9568 §6.4.2). VIPs left on a
        macvlan go with it (vrrpd.daemon.vmac removes the macvlan); these are the ones on the interface itself."""
        # One pair of dumps per interface, not per instance: 100 instances on a link would otherwise cost 200
        # netlink round trips at start-up (issue #6).
        dumps: dict[int, tuple[dict[IPAddress, IPInterface], set[IPAddress]]] = {}
        for cfg in self.config.instances:
            link = self.links[(cfg.interface, cfg.family)]
            if link.info.index not in dumps:
                dumps[link.info.index] = (
                    {a.ip: a for a in await self.netlink.addresses(link.info.index)},
                    await self.netlink.ours(link.info.index),
                )
            present, ours = dumps[link.info.index]
            for vip in cfg.virtual_addresses:
                if vip.ip not in present:
                    continue
                if cfg.priority == OWNER_PRIORITY and not cfg.virtual_mac and vip.ip not in ours:
                    # The owner's addresses are its real interface addresses, configured by the admin (not
                    # tagged as added by us): removing one, at start or later on shutdown, would cut the host
                    # off. Keep it, and never remove it.
                    log.info("%s: %s is already on %s; kept as the owner's own address", cfg.name, vip, cfg.interface)
                    self._kept.setdefault(cfg.name, set()).add(vip.ip)
                    continue
                log.warning("%s: removing %s left on %s (crash?)", cfg.name, present[vip.ip], cfg.interface)
                await self.netlink.remove(link.info.index, present.pop(vip.ip))

    # --- the core's inputs and actions --------------------------------------------------------------------------

    def _feed(self, inst: Instance, event: Input, now: float | None = None) -> None:
        now = self._loop.time() if now is None else now
        group = self.sync.of(inst.config.name)
        if group is not None:  # the group feeds the member, then moves the other members with it
            self._apply_group(group.handle(inst.config.name, event, now))
            return
        self._apply(inst, inst.router.handle(event, now))
        self._arm(inst)

    def _apply_group(self, out: Coordinated) -> None:
        for name, actions in out.actions:
            self._apply(self.instances[name], actions)
        for name in out.members():
            self._arm(self.instances[name])
        for change in out.changes:
            self._group_changed(change)

    def _group_changed(self, change: GroupStateChanged) -> None:
        """One sync group transition, in order: logged, then to the event stream and the group's hooks."""
        log.info("sync group %s: %s -> %s (%s)", change.group, change.old, change.new, change.reason)
        # A group has no priority of its own: 0, as keepalived passes to a group's notify script.
        self.notifier.transition("group", change.group, change.old, change.new, change.reason, 0)

    def _arm(self, inst: Instance) -> None:
        deadline = inst.router.next_deadline()
        if deadline == inst.timer_at or self.scheduler is None:
            return
        inst.timer_at = deadline
        self.scheduler.set(inst.config.name, deadline)

    def _on_deadline(self, name: str, now: float) -> None:
        inst = self.instances[name]
        inst.timer_at = None
        self._feed(inst, TimerExpired(), now)

    def _slack(self, name: str) -> float:
        """How early a router's timer may be served to share a wake-up: only a master's Adver_Timer, by at most
        5% of its interval (an advert 0.5 ms early at 10 ms is harmless); a Master_Down_Timer never early."""
        inst = self.instances[name]
        if inst.router.state is not State.MASTER:
            return 0.0
        return min(MAX_SLACK, inst.config.advert_interval * 0.05)

    def _apply(self, inst: Instance, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendAdvert):
                self._send(inst, action)
            elif isinstance(action, AddAddresses):
                if inst.vmac is not None:
                    inst.vmac.pending_up += 1
                    inst.ops.put_nowait(("up", None))
                inst.ops.put_nowait(("add", action.addresses))
            elif isinstance(action, RemoveAddresses):
                if inst.garp:
                    inst.garp.cancel()
                    inst.garp = None
                inst.ops.put_nowait(("remove", action.addresses))
                if inst.vmac is not None:
                    inst.ops.put_nowait(("down", None))
            elif isinstance(action, Announce):
                inst.ops.put_nowait(("announce", action.addresses))
            elif isinstance(action, StateChanged):
                log.info("%s: %s -> %s (%s)", inst.config.name, action.old, action.new, action.reason)
                self.notifier.transition(
                    "instance", inst.config.name, action.old, action.new, action.reason, inst.router.priority
                )
                if not self._stopping and not self._status_due:
                    # One update per loop iteration, not per transition: 100 instances starting would cost 100
                    # summaries of 100 instances each before READY (issue #6).
                    self._status_due = True
                    self._loop.call_soon(self._push_status)
            elif isinstance(action, Log):
                self.ratelog.log(
                    getattr(logging, action.level.upper(), logging.INFO),
                    f"{inst.config.name}:{action.key}",
                    "%s: %s",
                    inst.config.name,
                    action.message,
                )

    def _send(self, inst: Instance, action: SendAdvert) -> None:
        if inst.unicast is not None:
            return self._send_unicast(inst, action)
        # The router hands out the same Advert object while nothing in it changes.
        if inst.wire is not None and inst.wire[0] is action.advert:
            wire = inst.wire[1]
        else:
            wire = encode(action.advert, inst.source, checksum_form=inst.config.checksum)
            inst.wire = (action.advert, wire)
        if inst.vmac is not None and inst.vmac.pending_up:
            # The macvlan is still in protodown: the worker sends this once its carrier is up (after the VIPs
            # are added), instead of the kernel silently dropping it now.
            inst.ops.put_nowait(("send", wire))
            return
        self._transmit(inst, wire)

    def _transmit(self, inst: Instance, wire: bytes) -> None:
        try:
            inst.tx.send(wire, inst.source)
        except OSError as exc:
            inst.send_errors += 1
            self.ratelog.log(
                logging.WARNING, f"send:{inst.config.name}", "%s: cannot send advert: %s", inst.config.name, exc
            )

    def _send_unicast(self, inst: Instance, action: SendAdvert) -> None:
        assert inst.unicast is not None
        for peer, exc in inst.unicast.transmit(inst.tx, action.advert, inst.config.checksum):
            inst.send_errors += 1
            name = inst.config.name
            self.ratelog.log(
                logging.WARNING, f"send:{name}:{peer}", "%s: cannot send advert to peer %s: %s", name, peer, exc
            )

    async def _address_worker(self, inst: Instance) -> None:
        """Runs netlink changes, firewall changes and announcements of one instance in order: an announcement
        never precedes the address it announces (RFC 9568 §8.1.2), a removal never overtakes an add, the
        Accept_Mode drop is in place before a VIP appears and stays until it is gone, and a virtual MAC's
        carrier is up before anything is sent from it."""
        while True:
            op, arg = await inst.ops.get()
            try:
                await self._run_op(inst, op, arg)
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed step must not end the worker, or every later op would hang
                inst.netlink_errors += 1
                log.exception("%s: %s failed", inst.config.name, op)
            finally:
                inst.ops.task_done()

    async def _run_op(self, inst: Instance, op: str, arg: Any) -> None:
        name, blocks = inst.config.name, not inst.config.accepts_traffic
        if op == "announce":
            if inst.garp:
                inst.garp.cancel()
            inst.garp = asyncio.create_task(self._announce(inst, arg))
        elif op == "send":
            self._transmit(inst, arg)
        elif op == "up":
            assert inst.vmac is not None
            await self.vmacs.up(inst.vmac)
        elif op == "down":
            assert inst.vmac is not None
            await self.vmacs.down(inst.vmac)
        elif op in ("add", "remove"):
            if op == "add" and blocks:
                await self._firewall(inst, self.firewall.block, arg)
            index = inst.vmac.index if inst.vmac else inst.link.info.index
            device = inst.vmac.name if inst.vmac else inst.config.interface
            by_ip = {a.ip: a for a in inst.config.virtual_addresses}
            kept = self._kept.get(name, set()) if op == "remove" else set()
            ifaces = [by_ip.get(a) or ip_interface(a) for a in arg if a not in kept]
            # One batch (vrrpd.net.addrbatch): 100 VIPs are up in about 10 ms instead of 26.
            change = self.netlink.add_many if op == "add" else self.netlink.remove_many
            try:
                results: list[OSError | None] = list(await change(index, ifaces))
            except OSError as exc:  # the batch as a whole (its socket), not one address
                results = [exc] * len(ifaces)
            for iface, error in zip(ifaces, results, strict=True):
                if error is not None:
                    inst.netlink_errors += 1
                    log.error("%s: cannot %s %s on %s: %s", name, op, iface, device, error)
            if op == "remove" and blocks:
                await self._firewall(inst, self.firewall.unblock, arg)

    async def _firewall(self, inst: Instance, change: Any, addresses: tuple[IPAddress, ...]) -> None:
        try:
            await change(addresses)
        except Exception as exc:
            self.ratelog.log(
                logging.ERROR,
                f"firewall:{inst.config.name}",
                "%s: nftables (accept_mode: false) failed: %s",
                inst.config.name,
                exc,
            )

    async def _announce(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        garp = inst.config.garp
        bursts = [(0.0, garp.count), (garp.repeat_delay, garp.repeat_count)]
        started = self._loop.time()
        for offset, count in bursts:
            await asyncio.sleep(max(0.0, started + offset - self._loop.time()))
            for i in range(count):
                if inst.router.state is not State.MASTER:
                    return
                self._announce_once(inst, addresses)
                if garp.interval and i + 1 < count:
                    await asyncio.sleep(garp.interval)
        while garp.refresh > 0 and inst.router.state is State.MASTER:
            await asyncio.sleep(garp.refresh)
            if inst.router.state is State.MASTER:
                self._announce_once(inst, addresses)

    def _announce_once(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        try:
            inst.announcer.announce(addresses)
        except (OSError, ValueError) as exc:
            name = inst.config.name
            self.ratelog.log(logging.WARNING, f"announce:{name}", "%s: cannot announce: %s", name, exc)

    # --- receive path ------------------------------------------------------------------------------------------

    def _on_readable(self, link: Link, limit: int = MAX_PACKETS_PER_WAKEUP) -> None:
        for _ in range(limit):
            try:
                packet = link.sock.recv()
            except OSError as exc:
                self.ratelog.log(logging.WARNING, f"recv:{link.ifname}", "%s: receive error: %s", link.ifname, exc)
                return
            if packet is None:
                return
            try:
                self._receive(link, packet)
            except Exception:  # remote garbage must never take the daemon down; this would be our bug
                link.drop("internal_error")
                log.exception("%s: unexpected error handling a packet from %s", link.ifname, packet.src)

    def _drop(self, link: Link, inst: Instance | None, packet: Received, reason: str, detail: str = "") -> None:
        (inst.router.counters if inst else link).drop(reason)
        self.ratelog.log(
            logging.INFO,
            f"drop:{link.ifname}:{link.family.name}:{reason}",
            "%s: dropped advert from %s: %s%s",
            link.ifname,
            packet.src,
            reason,
            f" ({detail})" if detail else "",
        )

    def _receive(self, link: Link, packet: Received) -> None:
        vrid = packet.payload[1] if len(packet.payload) >= 2 else None
        inst = link.routers.get(vrid) if vrid is not None else None
        rx = inst.rx if inst is not None else None
        if (
            rx is not None
            and (rx[1] is packet.src or rx[1] == packet.src)
            and (rx[2] is packet.dst or rx[2] == packet.dst)
            and rx[3] == packet.ttl
            and rx[0] == packet.payload
            and not packet.length_mismatch
        ):
            # The master's unchanged advert again (same bytes, source, destination and TTL): every check below
            # passed for it last time and cannot answer differently, and neither can its decoding.
            assert inst is not None
            self._feed(inst, AdvertReceived(packet.src, rx[4].advert, rx[4].checksum_form))
            return
        unicast = inst.unicast if inst else None
        if packet.length_mismatch:
            return self._drop(link, inst, packet, "length", "IP length")
        if packet.ttl != VRRP_TTL and unicast is None:  # unicast: unicast_min_ttl, below
            return self._drop(link, inst, packet, "ttl", f"TTL/hop limit {packet.ttl}")  # RFC 9568 §7.1
        if packet.src in link.own:
            return self._drop(link, inst, packet, "own_address")
        if unicast is not None and (rejected := unicast.reject(packet.src, packet.dst, packet.ttl)):
            return self._drop(link, inst, packet, *rejected)
        if packet.dst != link.family.group and unicast is None:
            # V15: a multicast instance takes no unicast advert (keepalived drops it too).
            return self._drop(link, inst, packet, "unicast", f"sent to {packet.dst}")
        mode = inst.config.checksum_mode if inst else None
        try:
            decoded = decode(packet.payload, packet.src, packet.dst, *(() if mode is None else (mode,)))
        except InvalidAdvert as exc:
            return self._drop(link, inst, packet, exc.reason, exc.detail)
        if inst is None:
            # RFC 9568 §7.1
            return self._drop(link, inst, packet, "vrid", f"VRID {decoded.advert.vrid} not configured on {link.ifname}")
        inst.rx = (packet.payload, packet.src, packet.dst, packet.ttl, decoded)
        self._feed(inst, AdvertReceived(packet.src, decoded.advert, decoded.checksum_form))

    # --- status ------------------------------------------------------------------------------------------------

    def _push_status(self) -> None:
        self._status_due = False
        if not self._stopping:  # after STOPPING=1 systemd shows our last running status, not teardown
            sdnotify.status(self._summary())

    def _summary(self) -> str:
        states: dict[str, int] = {}
        for inst in self.instances.values():
            states[inst.router.state.value] = states.get(inst.router.state.value, 0) + 1
        return ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "no instances"

    def _status(self, request: dict[str, Any]) -> dict[str, Any]:
        now = self._loop.time()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": round(time.monotonic() - self.started_at, 3),
            "instances": [self._instance_status(inst, now) for inst in self.instances.values()],
            "interfaces": [
                {
                    "interface": link.ifname,
                    "family": _family(link.family),
                    "primary_address": str(link.primary),
                    "drops": dict(link.drops),
                }
                for link in self.links.values()
            ],
            "track_scripts": [monitor.status() for monitor in self.scripts.values()],
            "track_files": [monitor.status() for monitor in self.files.values()],
            "sync_groups": self.sync.status(now, self.notifier),
            "firewall": self.firewall.status(),
            "sysctls": self.sysctls.status(),
        }

    def _instance_status(self, inst: Instance, now: float) -> dict[str, Any]:
        r, cfg, c = inst.router, inst.config, inst.router.counters
        return {
            "name": cfg.name,
            "interface": cfg.interface,
            "family": _family(cfg.family),
            "vrid": cfg.vrid,
            "version": cfg.version,
            "state": r.state.value,
            "priority": cfg.priority,
            "effective_priority": r.priority,
            "advert_interval": r.config.advert_interval_cs / 100,
            "master_advert_interval": r.master_adver_interval_cs / 100,
            "preempt": cfg.preempt,
            "primary_address": str(inst.source),
            "master_address": str(r.master_address) if r.master_address else None,
            "master_priority": r.master_priority,
            "master_age": round(now - r.master_seen_at, 3) if r.master_seen_at is not None else None,
            "master_down_interval": round(r.master_down_interval, 6),
            "skew_time": round(r.skew_time, 6),
            "checksum": {
                "transmit": cfg.accepted_checksums[0].value
                if cfg.version == 2 or cfg.family is Family.IPV6
                else cfg.checksum.value,
                "receive": [form.value for form in cfg.accepted_checksums],
            },
            "virtual_addresses": [str(a) for a in cfg.virtual_addresses],
            "virtual_mac": (
                {"mac": inst.vmac.mac, "interface": inst.vmac.name, "running": inst.vmac.running} if inst.vmac else None
            ),
            # RFC 9568 §6.1: whether packets to the VIPs are accepted while master (owner or accept_mode).
            "accept_mode": cfg.accept_mode,
            "accepts_traffic": cfg.accepts_traffic,
            "fault_reason": r.fault_reason,
            "hooks": self.notifier.status("instance", cfg.name),
            "trackers": [
                {
                    "kind": t.kind.value,
                    "name": t.name,
                    "state": inst.tracking.states[t.key].value,
                    "effect": t.effect,
                    "contribution": inst.tracking.contribution(t),
                    **({"value": inst.tracking.value(t)} if t.kind is TrackerKind.FILE else {}),
                    "implicit": i == 0,
                }
                for i, t in enumerate(inst.tracking.trackers)
            ],
            "conflict": r.conflict,
            "conflict_age": (
                round(now - r.owner_conflict_seen_at, 3) if r.owner_conflict_seen_at is not None else None
            ),
            "unicast": inst.unicast.status() if inst.unicast else None,
            "counters": {
                "adverts_sent": c.adverts_sent,
                "adverts_received": c.adverts_received,
                "transitions": c.transitions,
                "became_master": c.became_master,
                "priority_zero_sent": c.priority_zero_sent,
                "priority_zero_received": c.priority_zero_received,
                "address_mismatches": c.address_mismatches,
                "message_only_checksums": c.message_only_checksums,
                "lower_priority_received": c.lower_priority_received,
                "owner_conflicts": c.owner_conflicts,
                "send_errors": inst.send_errors,
                "netlink_errors": inst.netlink_errors,
                "drops": dict(c.drops),
            },
        }


def _check_advert_fits(cfg: InstanceConfig, info: LinkInfo) -> None:
    """An advert larger than the link MTU would leave fragmented, and peers drop or mishandle fragmented VRRP
    (keepalived instead moves the addresses that do not fit out of the advert). IPv6 reaches 1500 bytes at 91
    addresses; IPv4 never does below 255 with the usual MTU."""
    ip_header = 20 if cfg.family is Family.IPV4 else 40
    per_address = 4 if cfg.family is Family.IPV4 else 16
    auth = 8 if cfg.version == 2 else 0
    size = ip_header + 8 + per_address * len(cfg.virtual_addresses) + auth
    if size > info.mtu:
        fits = (info.mtu - ip_header - 8 - auth) // per_address
        raise StartupError(
            f"{cfg.name}: its advertisement would be {size} bytes with {len(cfg.virtual_addresses)} addresses, more "
            f"than {cfg.interface}'s MTU of {info.mtu}, so it would leave fragmented; split the addresses over "
            f"instances of at most {fits}"
        )


def _family(family: Family) -> str:
    return "IPv4" if family is Family.IPV4 else "IPv6"


def events_stream(events: EventLog) -> StreamHandler:
    """The control socket's `events` stream over `events`: a bad argument is the request's error, worded as the
    event log words it."""

    def open_stream(args: dict[str, Any]) -> tuple[Any, Any]:
        try:
            return events.open_stream(args)
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    return open_stream
