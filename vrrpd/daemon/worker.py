"""Each instance's ordered worker: netlink, nftables and the virtual MAC's carrier, one operation after another.

The driver (vrrpd.daemon.driver) never waits for the kernel: it queues typed operations (vrrpd.daemon.model) on the
instance, and one task per instance runs them in order. The order is what makes them correct:

- an announcement never precedes the address it announces (RFC 9568 §8.1.2), and a removal never overtakes an add;
- the Accept_Mode drop (RFC 9568 §6.1, vrrpd.net.firewall) is in place before a VIP appears and stays until it
  is gone;
- a virtual MAC's carrier is up before anything is sent from it (vrrpd.daemon.vmac).

The GARP / NA bursts of a takeover (RFC 9568 §6.4.1, §6.4.2; keepalived's garp_master_* knobs) run as a task of
their own, started by the worker once the addresses are in place and ended when the instance leaves Master.

The worker knows which instance holds which VIP on which device (`holders`: what its adds and removals did), so:
- an add waits while another instance still holds the address (a reload moving a VIP from one instance to
  another: the first one's removal goes first, whatever order their workers run in);
- a removal removes the address with the prefix it was added with (a reload may have changed the prefix);
- an announcement names only addresses the instance holds: never one a reload took away, never one whose add
  has not happened yet (RFC 9568 §8.1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import ip_interface

from vrrpd.daemon import routes
from vrrpd.daemon.driver import transmit
from vrrpd.daemon.model import (
    AddVips,
    AnnounceVips,
    BlockVips,
    FrameSender,
    InstallRoutes,
    Instance,
    Op,
    RemoveVips,
    SendWire,
    UnblockVips,
    VmacDown,
    VmacUp,
    WithdrawRoutes,
)
from vrrpd.daemon.vmac import VirtualMacs
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import AddressManager, IPInterface
from vrrpd.protocol import State
from vrrpd.protocol.packet import IPAddress
from vrrpd.services.logsetup import RateLimitedLogger

log = logging.getLogger("vrrpd")
MOVE_TIMEOUT = 5.0
"""Seconds an add waits for another instance's worker to remove an address a reload moves (then it adds anyway)."""


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class Worker:
    """Runs the operations of every instance, each instance in its own task (`start`)."""

    netlink: AddressManager
    firewall: Firewall
    vmacs: VirtualMacs
    ratelog: RateLimitedLogger
    loop: asyncio.AbstractEventLoop
    holders: dict[tuple[int, IPAddress], tuple[Instance, IPInterface]] = field(default_factory=dict)
    """(device ifindex, VIP) -> the instance whose worker added it there, and the prefix it was added with."""
    released: asyncio.Event = field(default_factory=asyncio.Event)
    """Set (then replaced) whenever a held address is let go: what a waiting add waits on."""

    def start(self, inst: Instance) -> None:
        inst.worker = asyncio.create_task(self.run(inst), name=f"vrrpd-addr-{inst.config.name}")

    async def drain(self, instances: list[Instance], timeout: float = 5.0) -> None:
        """Wait (at most `timeout` seconds) until the workers of `instances` have run what is queued."""
        pending = [inst.ops.join() for inst in instances if inst.worker]
        if pending:
            try:
                await asyncio.wait_for(asyncio.gather(*pending), timeout=timeout)
            except TimeoutError:
                log.error("timed out removing virtual addresses on shutdown")

    def cancel(self, instances: list[Instance]) -> None:
        """End the workers of `instances` and their announcements; forget what they held."""
        for inst in instances:
            if inst.worker:
                inst.worker.cancel()
            inst.stop_announcing()
            self.let_go(inst, [ip for (_, ip), (holder, _) in self.holders.items() if holder is inst])

    async def run(self, inst: Instance) -> None:
        """The loop of one instance: one failed operation is counted and logged, and the next one runs."""
        while True:
            op = await inst.ops.get()
            try:
                await self.run_op(inst, op)
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed step must not end the worker, or every later op would hang
                inst.netlink_errors += 1
                log.exception("%s: %s failed", inst.config.name, op.verb)
            finally:
                inst.ops.task_done()

    async def run_op(self, inst: Instance, op: Op) -> None:
        if isinstance(op, AnnounceVips):
            if op.beside:
                burst = asyncio.create_task(self.announce(inst, op.addresses, refresh=False))
                inst.bursts.add(burst)
                burst.add_done_callback(inst.bursts.discard)
            else:
                inst.stop_announcing()
                inst.garp = asyncio.create_task(self.announce(inst, op.addresses))
        elif isinstance(op, BlockVips):
            await self.guard(inst, self.firewall.block, self.held(inst, op.addresses))
        elif isinstance(op, UnblockVips):
            await self.guard(inst, self.firewall.unblock, op.addresses)
        elif isinstance(op, SendWire):
            transmit(inst, op.wire, self.ratelog)
        elif isinstance(op, VmacUp):
            assert inst.vmac is not None
            await self.vmacs.up(inst.vmac)
        elif isinstance(op, VmacDown):
            assert inst.vmac is not None
            await self.vmacs.down(inst.vmac)
        elif isinstance(op, InstallRoutes):
            await routes.install(self.netlink, inst, op.routes, op.rules)
        elif isinstance(op, WithdrawRoutes):
            await routes.withdraw(self.netlink, inst, op.routes, op.rules)
        elif isinstance(op, AddVips):
            if not inst.config.accepts_traffic:
                await self.guard(inst, self.firewall.block, op.addresses)
            await self.change_addresses(inst, op)
        else:
            await self.change_addresses(inst, op)
            if not inst.config.accepts_traffic:
                await self.guard(inst, self.firewall.unblock, op.addresses)

    async def change_addresses(self, inst: Instance, op: AddVips | RemoveVips) -> None:
        """Add or remove the VIPs in one netlink batch per device (vrrpd.net.addrbatch: 100 VIPs are up in about
        10 ms instead of 26). An address the kernel refuses is counted and logged; the others still change."""
        by_ip = {a.ip: a for a in inst.config.owned_addresses}
        adding = isinstance(op, AddVips)
        batches: dict[int, list[IPInterface]] = {}
        if adding:
            for address in op.addresses:
                batches.setdefault(place(inst, address), []).append(by_ip.get(address) or ip_interface(address))
            for index, ifaces in batches.items():
                await self.wait_released(inst, index, [iface.ip for iface in ifaces])
        else:
            for address in op.addresses:
                if address in inst.kept:
                    continue
                # Where and with which prefix it was added (a reload may have changed either since).
                index, held = self.holding(inst, address) or (place(inst, address), None)
                batches.setdefault(index, []).append(held or by_ip.get(address) or ip_interface(address))
        change = self.netlink.add_many if adding else self.netlink.remove_many
        for index, ifaces in batches.items():
            try:
                results: list[OSError | None] = list(await change(index, ifaces))
            except OSError as exc:  # the batch as a whole (its socket), not one address
                results = [exc] * len(ifaces)
            for iface, error in zip(ifaces, results, strict=True):
                if error is not None:
                    inst.netlink_errors += 1
                    device = inst.config.interface_of(iface.ip)
                    log.error("%s: cannot %s %s on %s: %s", inst.config.name, op.verb, iface, device, error)
                elif adding:
                    self.holders[(index, iface.ip)] = (inst, iface)
        if not adding:  # gone or not, it is not held any more: a failed removal is counted and logged above
            self.let_go(inst, op.addresses)

    def holding(self, inst: Instance, address: IPAddress) -> tuple[int, IPInterface] | None:
        """The device index `inst` added `address` on, and the interface value it added, if it holds it."""
        for index in device_indexes(inst):
            held = self.holders.get((index, address))
            if held is not None and held[0] is inst:
                return index, held[1]
        return None

    async def wait_released(self, inst: Instance, index: int, addresses: Iterable[IPAddress]) -> None:
        """Until no other instance holds any of `addresses` on device `index` (at most MOVE_TIMEOUT seconds)."""
        deadline = self.loop.time() + MOVE_TIMEOUT
        while busy := [a for a in addresses if (held := self.holders.get((index, a))) and held[0] is not inst]:
            if self.loop.time() >= deadline:
                names = ", ".join(f"{a} ({self.holders[(index, a)][0].config.name})" for a in busy)
                log.error("%s: adding %s although still held by another instance", inst.config.name, names)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), deadline - self.loop.time())

    def let_go(self, inst: Instance, addresses: Iterable[IPAddress]) -> None:
        """`inst` no longer holds `addresses`: wake the adds waiting for them."""
        gone = [(where[0], a) for a in addresses if (where := self.holding(inst, a))]
        for key in gone:
            del self.holders[key]
        if gone:
            self.released.set()
            self.released = asyncio.Event()

    def held(self, inst: Instance, addresses: Iterable[IPAddress]) -> tuple[IPAddress, ...]:
        """Those of `addresses` that `inst` holds (its worker added them and has not removed them since)."""
        return tuple(a for a in addresses if self.holding(inst, a))

    async def guard(
        self,
        inst: Instance,
        change: Callable[[tuple[IPAddress, ...]], Awaitable[None]],
        addresses: tuple[IPAddress, ...],
    ) -> None:
        """Block or unblock the VIPs (Accept_Mode false); nftables failing is logged, and the VIPs change anyway."""
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

    async def announce(self, inst: Instance, addresses: tuple[IPAddress, ...], refresh: bool = True) -> None:
        """`garp.count` announcements at once (`garp.interval` apart), `garp.repeat_count` more after
        `garp.repeat_delay`, then (`refresh`) one every `garp.refresh` seconds: while the instance stays Master.
        The refresh announces every address the instance holds then, and follows a reload's `garp.refresh`."""
        garp = inst.config.garp
        # A burst of none is no burst: waiting repeat_delay for it would hold the refresh back, and keep a reload
        # that turns the refresh on from starting one.
        bursts = [(0.0, garp.count), (garp.repeat_delay, garp.repeat_count)] if addresses else []
        bursts = [(offset, count) for offset, count in bursts if count]
        started = self.loop.time()
        for offset, count in bursts:
            await asyncio.sleep(max(0.0, started + offset - self.loop.time()))
            for i in range(count):
                if inst.router.state is not State.MASTER:
                    return
                self.announce_once(inst, addresses)
                if garp.interval and i + 1 < count:
                    await asyncio.sleep(garp.interval)
        while refresh and (every := inst.config.garp.refresh) > 0 and inst.router.state is State.MASTER:
            await asyncio.sleep(every)
            if inst.router.state is State.MASTER:
                excluded = tuple(a.ip for a in inst.config.excluded_addresses)
                self.announce_once(inst, inst.router.config.addresses + excluded)

    def announce_once(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        """Each held address from the interface it lives on (an address on another interface is announced
        there, with that interface's MAC, as keepalived does for a ``dev OTHER`` address)."""
        by_sender: dict[int, tuple[FrameSender, list[IPAddress]]] = {}
        for address in self.held(inst, addresses):
            device = inst.devices.get(inst.config.interface_of(address))
            sender = device.announcer if device else inst.announcer
            by_sender.setdefault(id(sender), (sender, []))[1].append(address)
        for sender, held in by_sender.values():
            try:
                sender.announce(held)
            except (OSError, ValueError) as exc:
                name = inst.config.name
                self.ratelog.log(logging.WARNING, f"announce:{name}", "%s: cannot announce: %s", name, exc)


def device_index(inst: Instance) -> int:
    """The ifindex the instance's VIPs live on: its macvlan's, or its interface's."""
    return inst.vmac.index if inst.vmac else inst.link.info.index


def place(inst: Instance, address: IPAddress) -> int:
    """The ifindex `address` is added to: its own interface's (``dev OTHER``, vrrpd.daemon.assembly opened it), or
    else the instance's device."""
    device = inst.devices.get(inst.config.interface_of(address))
    return device.index if device else device_index(inst)


def device_indexes(inst: Instance) -> list[int]:
    """Every ifindex the instance may hold an address on."""
    return [device_index(inst), *(device.index for device in inst.devices.values())]
