"""Wires config -> virtual routers -> adapters on one asyncio loop.

The loop never blocks: sockets are non-blocking with `add_reader`, netlink and announcements run in one
ordered worker task per instance, and each router has exactly one `call_at` timer, re-armed from
`next_deadline()` after every input. Router time is `loop.time()` (monotonic).
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

from vrrpd import __version__, sdnotify
from vrrpd.config import Config, InstanceConfig
from vrrpd.control import ControlServer
from vrrpd.logsetup import RateLimitedLogger
from vrrpd.net.announce import Announcer
from vrrpd.net.netlink import AddressManager, LinkInfo, Netlink
from vrrpd.net.sockets import Received, VrrpSocket
from vrrpd.protocol import (
    Action,
    AddAddresses,
    AdvertReceived,
    Announce,
    Family,
    Input,
    InvalidAdvert,
    Log,
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
from vrrpd.protocol.packet import IPAddress

log = logging.getLogger("vrrpd")
VRRP_TTL = 255
# Bounded work per wake-up, so one flooded socket cannot starve the timers of every other router.
MAX_PACKETS_PER_WAKEUP = 64


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
    drops: dict[str, int] = field(default_factory=dict)
    """Drops that belong to no configured router (unknown VRID, unparseable header)."""
    send_errors: int = 0

    def drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1


@dataclass
class Instance:
    config: InstanceConfig
    router: VirtualRouter
    link: Link
    announcer: Announcer
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    ops: asyncio.Queue[tuple[str, tuple[IPAddress, ...]]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    garp: asyncio.Task[None] | None = None
    send_errors: int = 0
    netlink_errors: int = 0


class Daemon:
    def __init__(self, config: Config, netlink: AddressManager | None = None) -> None:
        self.config = config
        self.netlink: AddressManager = netlink or Netlink()
        self.links: dict[tuple[str, Family], Link] = {}
        self.instances: dict[str, Instance] = {}
        self.control: ControlServer | None = None
        self.started_at = time.monotonic()
        self.ratelog = RateLimitedLogger(log)
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    # --- life cycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        # Before the first await: a SIGTERM during start-up is recorded and acted on once started.
        self._install_signals()
        try:
            await self._open_links()
            await self._remove_stale_addresses()
            self.control = ControlServer(str(self.config.control_socket), {"status": self._status})
            await self.control.start()
        except BaseException:
            await self._close_io()
            raise
        for inst in self.instances.values():
            inst.worker = asyncio.create_task(self._address_worker(inst), name=f"vrrpd-addr-{inst.config.name}")
            self._feed(inst, Started())
        for link in self.links.values():
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
        sdnotify.stopping()
        for link in self.links.values():
            self._loop.remove_reader(link.sock.fileno())
        # RFC 9568 §6.4.3: each master sends priority 0 so a backup takes over after Skew_Time, not MDI.
        for inst in self.instances.values():
            self._feed(inst, ShutdownRequested())
        pending = [inst.ops.join() for inst in self.instances.values() if inst.worker]
        if pending:
            try:
                await asyncio.wait_for(asyncio.gather(*pending), timeout=5.0)
            except TimeoutError:
                log.error("timed out removing virtual addresses on shutdown")
        for inst in self.instances.values():
            for task in (inst.worker, inst.garp):
                if task:
                    task.cancel()
            if inst.timer:
                inst.timer.cancel()
        await self._close_io()
        log.info("vrrpd stopped")

    async def _close_io(self) -> None:
        if self.control:
            await self.control.close()
        for link in self.links.values():
            link.sock.close()
        announcers = {id(i.announcer): i.announcer for i in self.instances.values()}
        for announcer in announcers.values():
            announcer.close()
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
        vips = {a.ip for inst in self.config.instances for a in inst.virtual_addresses}
        announcers: dict[str, Announcer] = {}
        for cfg in self.config.instances:
            key = (cfg.interface, cfg.family)
            link = self.links.get(key)
            if link is None:
                link = self.links[key] = await self._open_link(cfg.interface, cfg.family, vips)
            announcer = announcers.get(cfg.interface)
            if announcer is None:
                # One packet socket per interface serves GARP and NA; NAs leave from the link-local address.
                link_local = await self.netlink.link_local(link.info.index)
                announcer = announcers[cfg.interface] = Announcer(cfg.interface, link.info.mac, link_local)
            router = VirtualRouter(cfg.router_config(), link.primary)
            inst = Instance(cfg, router, link, announcer)
            link.routers[cfg.vrid] = inst
            self.instances[cfg.name] = inst

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
        """A crash can leave our VIPs behind; a Backup must not hold them (RFC 9568 §6.4.2)."""
        for inst in self.instances.values():
            present = {a.ip: a for a in await self.netlink.addresses(inst.link.info.index)}
            for vip in inst.config.virtual_addresses:
                if vip.ip in present:
                    log.warning(
                        "%s: removing %s left on %s (crash?)", inst.config.name, present[vip.ip], inst.config.interface
                    )
                    await self.netlink.remove(inst.link.info.index, present[vip.ip])

    # --- the core's inputs and actions --------------------------------------------------------------------------

    def _feed(self, inst: Instance, event: Input, now: float | None = None) -> None:
        now = self._loop.time() if now is None else now
        self._apply(inst, inst.router.handle(event, now))
        self._arm(inst)

    def _arm(self, inst: Instance) -> None:
        deadline = inst.router.next_deadline()
        if deadline == inst.timer_at:
            return
        if inst.timer:
            inst.timer.cancel()
        inst.timer_at = deadline
        inst.timer = None if deadline is None else self._loop.call_at(deadline, self._on_timer, inst, deadline)

    def _on_timer(self, inst: Instance, deadline: float) -> None:
        inst.timer = inst.timer_at = None
        # A timer may fire a hair early; the router then sees exactly its deadline (aioquic's rule).
        self._feed(inst, TimerExpired(), max(deadline, self._loop.time()))

    def _apply(self, inst: Instance, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendAdvert):
                self._send(inst, action)
            elif isinstance(action, AddAddresses):
                inst.ops.put_nowait(("add", action.addresses))
            elif isinstance(action, RemoveAddresses):
                if inst.garp:
                    inst.garp.cancel()
                    inst.garp = None
                inst.ops.put_nowait(("remove", action.addresses))
            elif isinstance(action, Announce):
                inst.ops.put_nowait(("announce", action.addresses))
            elif isinstance(action, StateChanged):
                log.info("%s: %s -> %s (%s)", inst.config.name, action.old, action.new, action.reason)
                sdnotify.status(self._summary())
            elif isinstance(action, Log):
                self.ratelog.log(
                    getattr(logging, action.level.upper(), logging.INFO),
                    action.key,
                    "%s: %s",
                    inst.config.name,
                    action.message,
                )

    def _send(self, inst: Instance, action: SendAdvert) -> None:
        link = inst.link
        wire = encode(action.advert, link.primary, checksum_form=inst.config.checksum)
        try:
            link.sock.send(wire, link.primary)
        except OSError as exc:
            inst.send_errors += 1
            self.ratelog.log(
                logging.WARNING, f"send:{inst.config.name}", "%s: cannot send advert: %s", inst.config.name, exc
            )

    async def _address_worker(self, inst: Instance) -> None:
        """Runs netlink changes and announcements of one instance in order: an announcement never precedes
        the address it announces (RFC 9568 §8.1.2), and a removal never overtakes an add."""
        index = inst.link.info.index
        by_ip = {a.ip: a for a in inst.config.virtual_addresses}
        while True:
            op, addresses = await inst.ops.get()
            try:
                if op == "announce":
                    if inst.garp:
                        inst.garp.cancel()
                    inst.garp = asyncio.create_task(self._announce(inst, addresses))
                for address in addresses if op != "announce" else ():
                    iface = by_ip.get(address) or ip_interface(address)
                    try:
                        if op == "add":
                            await self.netlink.add(index, iface)
                        else:
                            await self.netlink.remove(index, iface)
                    except OSError as exc:
                        inst.netlink_errors += 1
                        log.error("%s: cannot %s %s on %s: %s", inst.config.name, op, iface, inst.config.interface, exc)
            finally:
                inst.ops.task_done()

    async def _announce(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        garp = inst.config.garp
        bursts = [(0.0, garp.count), (garp.repeat_delay, garp.repeat_count)]
        started = self._loop.time()
        for offset, count in bursts:
            await asyncio.sleep(max(0.0, started + offset - self._loop.time()))
            for i in range(count):
                if inst.router.state is not State.MASTER:
                    return
                try:
                    inst.announcer.announce(addresses)
                except (OSError, ValueError) as exc:
                    self.ratelog.log(
                        logging.WARNING,
                        f"announce:{inst.config.name}",
                        "%s: cannot announce: %s",
                        inst.config.name,
                        exc,
                    )
                if garp.interval and i + 1 < count:
                    await asyncio.sleep(garp.interval)
        while garp.refresh > 0 and inst.router.state is State.MASTER:
            await asyncio.sleep(garp.refresh)
            if inst.router.state is State.MASTER:
                try:
                    inst.announcer.announce(addresses)
                except (OSError, ValueError) as exc:
                    self.ratelog.log(
                        logging.WARNING,
                        f"announce:{inst.config.name}",
                        "%s: cannot announce: %s",
                        inst.config.name,
                        exc,
                    )

    # --- receive path ------------------------------------------------------------------------------------------

    def _on_readable(self, link: Link) -> None:
        for _ in range(MAX_PACKETS_PER_WAKEUP):
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

    def _receive(self, link: Link, packet: Received) -> None:
        vrid = packet.payload[1] if len(packet.payload) >= 2 else None
        inst = link.routers.get(vrid) if vrid is not None else None
        counters = inst.router.counters if inst else link

        def drop(reason: str, detail: str = "") -> None:
            counters.drop(reason)
            self.ratelog.log(
                logging.INFO,
                f"drop:{link.ifname}:{reason}",
                "%s: dropped advert from %s: %s%s",
                link.ifname,
                packet.src,
                reason,
                f" ({detail})" if detail else "",
            )

        if packet.length_mismatch:
            return drop("length", "IP length")
        if packet.ttl != VRRP_TTL:
            return drop("ttl", f"TTL/hop limit {packet.ttl}")  # RFC 9568 §7.1
        if packet.src == link.primary:
            return drop("own_address")
        mode = inst.config.checksum_receive if inst else None
        try:
            decoded = decode(packet.payload, packet.src, packet.dst, *(() if mode is None else (mode,)))
        except InvalidAdvert as exc:
            return drop(exc.reason, exc.detail)
        if inst is None:
            return drop("vrid", f"VRID {decoded.advert.vrid} not configured on {link.ifname}")  # RFC 9568 §7.1
        self._feed(inst, AdvertReceived(packet.src, decoded.advert, decoded.checksum_form))

    # --- status ------------------------------------------------------------------------------------------------

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
            "primary_address": str(inst.link.primary),
            "master_address": str(r.master_address) if r.master_address else None,
            "master_priority": r.master_priority,
            "master_age": round(now - r.master_seen_at, 3) if r.master_seen_at is not None else None,
            "master_down_interval": round(r.master_down_interval, 6),
            "skew_time": round(r.skew_time, 6),
            "checksum": {"transmit": cfg.checksum.value, "receive": cfg.checksum_receive.value},
            "virtual_addresses": [str(a) for a in cfg.virtual_addresses],
            "fault_reason": r.fault_reason,
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
                "send_errors": inst.send_errors,
                "netlink_errors": inst.netlink_errors,
                "drops": dict(c.drops),
            },
        }


def _family(family: Family) -> str:
    return "IPv4" if family is Family.IPV4 else "IPv6"
