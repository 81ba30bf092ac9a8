"""The receive path: read a link's socket, screen each packet (vrrpd.protocol.receive), count drops, feed adverts.

A link is either watched (`add_reader`: a wake-up when a packet arrives) or, when its routers expect many adverts a
second, drained from the scheduler's tick (vrrpd.services.scheduler). Either way the scheduler also drains it
before any deadline fires, so a timer never runs out while an advert that would have reset it waits in the socket
(after a pause the timer's wake-up may come first). The work per wake-up is bounded, so one flooded socket cannot
starve the timers of every other router: MAX_PACKETS_PER_WAKEUP for a watched socket's own wake-up (the loop comes
back at once for the rest), MAX_PACKETS_BEFORE_FIRING for its drain before a deadline fires, which must still
reach an advert queued behind garbage or behind the adverts of other routers.

What a Backup receives nearly always is the advert of the master it follows, again (issue #16: a backup no dearer
than keepalived). The screen answers such a repeat with the input it gave last time, and the router takes that as
a restart of its Master_Down_Timer and nothing else (VirtualRouter.heard_again, through Driver.heard_again). On
IPv4 the header comes with the data, so a repeat is recognised before it is even parsed: `Link.repeats` keys each
followed advert by its raw bytes from the source address on (ID and checksum, before it, change per packet); with
the same TTL, no IP options and its whole length read, it goes straight to the router (1.5 -> 0.7 us a packet,
bench/receive_cost.py). A router that moved on answers no, and the packet takes the whole path.

Most garbage never gets here: each link's socket carries a kernel filter (vrrpd.net.bpf, set by
vrrpd.daemon.model.Link.refilter) that refuses what cannot be a valid advert for its routers. The receive path
never raises on remote garbage (python-zeroconf's rule): the screen answers every packet with an
input or a `Drop`; a drop is counted on the router its VRID names (or on the link when none) and logged at most
a few times a minute per reason. An exception here would be our own bug: it is counted as ``internal_error`` and
logged, and the next packet is read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from vrrpd.daemon.driver import Driver
from vrrpd.daemon.model import Link, RawRepeat
from vrrpd.net.sockets import Received, parse_ipv4
from vrrpd.protocol import AdvertReceived, Family
from vrrpd.protocol.receive import Drop, screen
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scheduler import POLL_ABOVE_RATE, Scheduler

log = logging.getLogger("vrrpd")
# Bounded work per wake-up, so one flooded socket cannot starve the timers of every other router.
MAX_PACKETS_PER_WAKEUP = 64
MAX_PACKETS_PER_POLL = 4096
MAX_PACKETS_BEFORE_FIRING = 512
"""What a watched socket's drain before a deadline fires reads at most. It must reach an advert that was waiting when
the deadline came due, and reading further only reads what came after. The queue holds only what passed the kernel
filter (vrrpd.net.bpf): well-formed adverts for this link's VRIDs, normally the few a pause lets pile up (a
backup stopped 0.5 s behind 100 routers at 0.1 s has 500 waiting). The receive buffer (vrrpd.net.sockets.RCVBUF,
about 2,500 queued adverts) could hold more, but only under a flood of adverts that pass the filter; then a firing
is held back by at most 512 packets' work (~10-20 ms), not the whole buffer's."""


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class Listener:
    """Reads every link's socket and hands what passes the screen to the driver."""

    driver: Driver
    ratelog: RateLimitedLogger
    loop: asyncio.AbstractEventLoop

    def attach(self, link: Link, scheduler: Scheduler) -> None:
        """Start reading `link`: polled when its routers expect more adverts a second than the tick's rate (the
        rate of the routers it has now), else watched."""
        link.attached = True
        if sum(1 / inst.config.advert_interval for inst in link.routers.values()) > POLL_ABOVE_RATE:
            link.polled = True
            link.drain = lambda: self.on_readable(link, MAX_PACKETS_PER_POLL)
            scheduler.poll(link.drain)
        else:
            self.loop.add_reader(link.sock.fileno(), self.on_readable, link)
            link.drain = lambda: self.on_readable(link, MAX_PACKETS_BEFORE_FIRING)
            scheduler.watch(link.sock.fileno(), link.drain)

    def detach(self, link: Link, scheduler: Scheduler | None) -> None:
        """Stop reading `link` (before its socket closes); a link never read is left as it is."""
        if not link.attached:
            return
        link.attached = False
        if not link.polled:
            self.loop.remove_reader(link.sock.fileno())
            if scheduler is not None:
                scheduler.unwatch(link.sock.fileno())
        elif link.drain is not None and scheduler is not None:
            scheduler.unpoll(link.drain)
        link.drain = None

    def on_readable(self, link: Link, limit: int = MAX_PACKETS_PER_WAKEUP) -> None:
        if link.family is Family.IPV4:
            self.read_ipv4(link, limit)
            return
        for _ in range(limit):
            try:
                packet = link.sock.recv()
            except OSError as exc:
                self.ratelog.log(logging.WARNING, f"recv:{link.ifname}", "%s: receive error: %s", link.ifname, exc)
                return
            if packet is None:
                return
            try:
                self.receive(link, packet)
            except Exception:  # remote garbage must never take the daemon down; this would be our bug
                link.drop("internal_error")
                log.exception("%s: unexpected error handling a packet from %s", link.ifname, packet.src)

    def read_ipv4(self, link: Link, limit: int) -> None:
        """`on_readable` for IPv4, with the backup's shortcut: a packet that is, byte for byte from its source
        address on, the advert a Backup follows (Link.repeats), with the same TTL, no IP options and its whole
        length read, is that advert again; it goes straight to the router's `heard_again` (the screen's repeat
        check without parsing). Anything else, or a repeat the router no longer takes, goes the whole way."""
        # time.monotonic is the loop's clock (BaseEventLoop.time) without a Python call around it, per packet.
        recv_raw, repeats, clock, ifindex = link.sock.recv_raw, link.repeats, time.monotonic, link.info.index
        for _ in range(limit):
            try:
                data = recv_raw()
            except OSError as exc:
                self.ratelog.log(logging.WARNING, f"recv:{link.ifname}", "%s: receive error: %s", link.ifname, exc)
                return
            if data is None:
                return
            try:
                key = data[12:]
                hit = repeats.get(key)
                if hit is not None and data[0] == 0x45 and data[8] == hit.ttl and data[2] << 8 | data[3] == len(data):
                    if self.driver.heard_again(hit.inst, hit.event, clock()):
                        continue
                    link.forget(hit.inst.config.vrid)  # its router moved on
                packet = parse_ipv4(data, ifindex)
                if packet is None:
                    continue
                event = self.receive(link, packet)
                if event is not None and data[0] == 0x45 and not packet.length_mismatch:
                    inst = link.routers[event.advert.vrid]
                    if inst.router.following is event:
                        link.remember(key, RawRepeat(inst, event, packet.ttl))
            except Exception:  # remote garbage must never take the daemon down; this would be our bug
                link.drop("internal_error")
                log.exception("%s: unexpected error handling a packet", link.ifname)

    def receive(self, link: Link, packet: Received) -> AdvertReceived | None:
        """One packet read from `link`: fed to the router its VRID names (and returned), or counted as a drop."""
        payload = packet.payload
        inst = link.routers.get(payload[1]) if len(payload) >= 2 else None
        result = screen(packet, inst.receiver if inst is not None else None, link.ifname, link.group, link.own)
        if isinstance(result, Drop):
            (inst.router.counters if inst is not None else link).drop(result.reason)
            self.ratelog.log(
                logging.INFO,
                f"drop:{link.ifname}:{link.family.name}:{result.reason}",
                "%s: dropped advert from %s: %s%s",
                link.ifname,
                packet.src,
                result.reason,
                f" ({result.detail})" if result.detail else "",
            )
            return None
        assert inst is not None  # the screen drops a VRID no router has
        self.driver.feed_advert(inst, result)
        return result
