"""Each instance's ordered worker: netlink, nftables and the virtual MAC's carrier, one operation after another.

The driver (vrrpd.daemon.driver) never waits for the kernel: it queues typed operations (vrrpd.daemon.model) on the
instance, and one task per instance runs them in order. The order is what makes them correct:

- an announcement never precedes the address it announces (RFC 9568 §8.1.2), and a removal never overtakes an add;
- the Accept_Mode drop (RFC 9568 §6.1, vrrpd.net.firewall) is in place before a VIP appears and stays until it
  is gone;
- a virtual MAC's carrier is up before anything is sent from it (vrrpd.daemon.vmac).

The GARP / NA bursts of a takeover (RFC 9568 §6.4.1, §6.4.2; keepalived's garp_master_* knobs) run as a task of
their own, started by the worker once the addresses are in place and ended when the instance leaves Master.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import ip_interface

from vrrpd.daemon.driver import transmit
from vrrpd.daemon.model import AddVips, AnnounceVips, Instance, Op, RemoveVips, SendWire, VmacDown, VmacUp
from vrrpd.daemon.vmac import VirtualMacs
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import AddressManager
from vrrpd.protocol import State
from vrrpd.protocol.packet import IPAddress
from vrrpd.services.logsetup import RateLimitedLogger

log = logging.getLogger("vrrpd")


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class Worker:
    """Runs the operations of every instance, each instance in its own task (`start`)."""

    netlink: AddressManager
    firewall: Firewall
    vmacs: VirtualMacs
    ratelog: RateLimitedLogger
    loop: asyncio.AbstractEventLoop

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
        """End the workers of `instances` and their announcements."""
        for inst in instances:
            for task in (inst.worker, inst.garp):
                if task:
                    task.cancel()

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
            if inst.garp:
                inst.garp.cancel()
            inst.garp = asyncio.create_task(self.announce(inst, op.addresses))
        elif isinstance(op, SendWire):
            transmit(inst, op.wire, self.ratelog)
        elif isinstance(op, VmacUp):
            assert inst.vmac is not None
            await self.vmacs.up(inst.vmac)
        elif isinstance(op, VmacDown):
            assert inst.vmac is not None
            await self.vmacs.down(inst.vmac)
        elif isinstance(op, AddVips):
            if not inst.config.accepts_traffic:
                await self.guard(inst, self.firewall.block, op.addresses)
            await self.change_addresses(inst, op)
        else:
            await self.change_addresses(inst, op)
            if not inst.config.accepts_traffic:
                await self.guard(inst, self.firewall.unblock, op.addresses)

    async def change_addresses(self, inst: Instance, op: AddVips | RemoveVips) -> None:
        """Add or remove the VIPs in one netlink batch (vrrpd.net.addrbatch: 100 VIPs are up in about 10 ms
        instead of 26). An address the kernel refuses is counted and logged; the others still change."""
        index = inst.vmac.index if inst.vmac else inst.link.info.index
        device = inst.vmac.name if inst.vmac else inst.config.interface
        by_ip = {a.ip: a for a in inst.config.virtual_addresses}
        kept = inst.kept if isinstance(op, RemoveVips) else frozenset()
        ifaces = [by_ip.get(a) or ip_interface(a) for a in op.addresses if a not in kept]
        change = self.netlink.add_many if isinstance(op, AddVips) else self.netlink.remove_many
        try:
            results: list[OSError | None] = list(await change(index, ifaces))
        except OSError as exc:  # the batch as a whole (its socket), not one address
            results = [exc] * len(ifaces)
        for iface, error in zip(ifaces, results, strict=True):
            if error is not None:
                inst.netlink_errors += 1
                log.error("%s: cannot %s %s on %s: %s", inst.config.name, op.verb, iface, device, error)

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

    async def announce(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        """`garp.count` announcements at once (`garp.interval` apart), `garp.repeat_count` more after
        `garp.repeat_delay`, then one every `garp.refresh` seconds: while the instance stays Master."""
        garp = inst.config.garp
        bursts = [(0.0, garp.count), (garp.repeat_delay, garp.repeat_count)]
        started = self.loop.time()
        for offset, count in bursts:
            await asyncio.sleep(max(0.0, started + offset - self.loop.time()))
            for i in range(count):
                if inst.router.state is not State.MASTER:
                    return
                self.announce_once(inst, addresses)
                if garp.interval and i + 1 < count:
                    await asyncio.sleep(garp.interval)
        while garp.refresh > 0 and inst.router.state is State.MASTER:
            await asyncio.sleep(garp.refresh)
            if inst.router.state is State.MASTER:
                self.announce_once(inst, addresses)

    def announce_once(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        try:
            inst.announcer.announce(addresses)
        except (OSError, ValueError) as exc:
            name = inst.config.name
            self.ratelog.log(logging.WARNING, f"announce:{name}", "%s: cannot announce: %s", name, exc)
