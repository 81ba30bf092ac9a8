"""The daemon's side of the virtual MAC (`virtual_mac: true`, RFC 9568 §7.3): macvlans, their sysctls and I/O.

The VIPs live on a bridge-mode macvlan of the instance's interface whose MAC is the virtual router MAC, as FRR
does it:
- Adverts leave through the macvlan (a send-only socket bound to it), so their Ethernet source is the
  virtual MAC, from the parent's primary IPv4 address (§5.1.1.1) or the macvlan's own link-local (§5.1.2.1;
  addrgenmode random, so two routers sharing the MAC do not share an EUI-64 link-local, and DAD off on it so
  the address is usable at once). The parent's socket receives: a bridge-mode macvlan's multicast never comes
  back to its parent, so we never hear ourselves.
- A Backup keeps the macvlan in protodown (carrier off), as FRR does, rather than merely without VIPs: up, it
  would still send IPv6 MLD reports and router solicitations with the shared virtual MAC (moving the switch's
  MAC table entry away from the master) and would accept and forward frames sent to the virtual MAC, which a
  Backup must discard (§6.4.2). Protodown keeps its link-local, so taking over only clears protodown, waits for
  the carrier (milliseconds), adds the VIPs, then advertises and announces, in that order in the worker.
- The parent gets arp_ignore=1 and arp_announce=2 (restored on exit) so it never answers ARP for a VIP, or
  announces one, with its own MAC; the macvlan gets the same plus rp_filter=0, since the route back to a client
  may point out of the parent (strict reverse-path filtering would drop what arrives on the macvlan).
  accept_local is not needed: no packet with one of our own source addresses ever reaches our sockets.

`VirtualMacs` creates an instance's macvlan when the instance is built and deletes it when the instance goes (or
on exit); the ordered worker (vrrpd.daemon.worker) calls its `up` and `down` for a takeover and a release.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from ipaddress import IPv6Address

from vrrpd.config import InstanceConfig
from vrrpd.daemon.model import AdvertSocket, FrameSender, Link, Openers, VirtualMac
from vrrpd.net.netlink import AddressManager, LinkInfo, NetlinkError
from vrrpd.net.sysctl import Sysctls, conf_key
from vrrpd.net.vmac import macvlan_name, virtual_mac
from vrrpd.protocol import Family
from vrrpd.protocol.packet import IPAddress

log = logging.getLogger("vrrpd")
# How long start-up waits for a new macvlan's IPv6 link-local, and a takeover for the macvlan's carrier.
LINK_LOCAL_TIMEOUT = 5.0
CARRIER_TIMEOUT = 1.0


class VirtualMacError(Exception):
    """A virtual MAC cannot be set up; the daemon reports it as its StartupError."""


@dataclass
class VmacIO:
    """One instance's macvlan and what uses it, filled in as they are made (so a failed set-up is undone)."""

    vmac: VirtualMac
    source: IPAddress | None = None
    """The advert source: the macvlan's link-local (IPv6), or the parent's primary IPv4 address."""
    tx: AdvertSocket | None = None
    announcer: FrameSender | None = None


class VirtualMacs:
    """Every `virtual_mac` instance's macvlan, with the send socket and announcer that use it."""

    def __init__(
        self, netlink: AddressManager, sysctls: Sysctls, loop: asyncio.AbstractEventLoop, openers: Openers
    ) -> None:
        self.netlink = netlink
        self.sysctls = sysctls
        self.openers = openers
        self._loop = loop
        self.io: dict[str, VmacIO] = {}
        """Per instance: its macvlan, advert source, send socket and announcer."""

    async def setup(
        self,
        wanted: Collection[InstanceConfig],
        links: Mapping[tuple[str, Family], Link],
        every: Collection[InstanceConfig],
    ) -> None:
        """Create the macvlan of each `virtual_mac` instance in `wanted` (removing one a crash left), set the
        sysctls it needs, and open its send socket and announcer. `every` is every instance the daemon runs
        (`wanted` included): a VRID on several interfaces names its macvlans apart. A macvlan ends in protodown:
        every router starts in Initialize, and the worker clears protodown when the router becomes master."""
        wanted = [cfg for cfg in wanted if cfg.virtual_mac]
        if any(cfg.family is Family.IPV4 for cfg in wanted):
            with contextlib.suppress(OSError, ValueError):
                if int(self.sysctls.read("net/ipv4/conf/all/rp_filter")) == 1:
                    log.warning(
                        "net.ipv4.conf.all.rp_filter=1 (strict) applies to every interface: traffic to a virtual "
                        "address arrives on the macvlan but is routed back via the parent and may be dropped; "
                        "use 2 (loose) or 0"
                    )
        for cfg in wanted:
            await self.create(cfg, links[(cfg.interface, cfg.family)], every)

    async def create(self, cfg: InstanceConfig, link: Link, every: Collection[InstanceConfig]) -> VmacIO:
        """One instance's macvlan, sysctls, send socket and announcer (see `setup`)."""
        parent = link.info
        vmac = VirtualMac(name=name_of(cfg, parent, every), mac=virtual_mac(cfg.family, cfg.vrid))
        stale = await self.existing(vmac.name, parent)
        if stale is not None:
            log.warning("removing macvlan %s left on %s (crash?)", vmac.name, parent.name)
            await self.netlink.delete_link(stale.index)
        if cfg.family is Family.IPV4:
            # The parent must not answer ARP for a VIP (now on the macvlan) with its own MAC, nor use a VIP
            # as the sender of its own ARP requests (RFC 9568 §6.4.3, §8.1.2: only the virtual MAC).
            try:
                self.sysctls.ensure_at_least(conf_key(4, parent.name, "arp_ignore"), 1)
                self.sysctls.ensure_at_least(conf_key(4, parent.name, "arp_announce"), 2)
            except (OSError, ValueError) as exc:
                raise VirtualMacError(f"{cfg.name}: cannot set ARP sysctls of {parent.name}: {exc}") from None
        try:
            info = await self.netlink.add_macvlan(parent.index, vmac.name, vmac.mac)
        except OSError as exc:
            raise VirtualMacError(f"{cfg.name}: cannot create macvlan {vmac.name} on {parent.name}: {exc}") from None
        vmac.index = info.index
        io = self.io[cfg.name] = VmacIO(vmac)
        try:
            for key, value in (("arp_ignore", 1), ("arp_announce", 2), ("rp_filter", 0)):
                self.sysctls.write(conf_key(4, vmac.name, key), value)
            # DAD would hold the random link-local (our IPv6 advert source) tentative for a second or more.
            self.sysctls.write(conf_key(6, vmac.name, "accept_dad"), 0)
        except OSError as exc:
            raise VirtualMacError(f"{cfg.name}: cannot configure {vmac.name}: {exc}") from None
        await self.netlink.set_link(vmac.index, up=True)
        link_local = await self._wait_link_local(vmac.index)
        if cfg.family is Family.IPV6 and link_local is None:
            raise VirtualMacError(f"{cfg.name}: macvlan {vmac.name} got no usable IPv6 link-local address")
        await self.netlink.set_link(vmac.index, protodown=True)
        io.source = link_local if cfg.family is Family.IPV6 and link_local else link.primary
        try:
            io.tx = self.openers.vrrp_socket(vmac.name, cfg.family, receive=False)
        except OSError as exc:
            raise VirtualMacError(f"{cfg.name}: cannot open the send socket on {vmac.name}: {exc}") from None
        io.announcer = self.openers.announcer(vmac.name, vmac.mac, link_local)
        log.info("%s: virtual MAC %s on %s (parent %s)", cfg.name, vmac.mac, vmac.name, parent.name)
        return io

    async def existing(self, name: str, parent: LinkInfo) -> LinkInfo | None:
        """The macvlan of that name on `parent` (one a crash left behind, to remove), or None; read only, so a
        reload's preflight asks too. VirtualMacError when the name is taken by anything else."""
        try:
            existing = await self.netlink.link(name)
        except NetlinkError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        if existing.kind != "macvlan" or existing.parent != parent.index:
            raise VirtualMacError(
                f"interface {name} exists and is not a macvlan of {parent.name}; vrrpd will not touch it"
            )
        return existing

    async def _wait_link_local(self, ifindex: int) -> IPv6Address | None:
        deadline = self._loop.time() + LINK_LOCAL_TIMEOUT
        while True:
            link_local = await self.netlink.link_local(ifindex)
            if link_local is not None or self._loop.time() >= deadline:
                return link_local
            await asyncio.sleep(0.02)

    async def up(self, vmac: VirtualMac) -> None:
        """The worker's "up": clear protodown and wait for the carrier, since until linkwatch has run the kernel
        drops what we send; then one queued "up" fewer, even if this failed."""
        try:
            await self.netlink.set_link(vmac.index, protodown=False)
            deadline = self._loop.time() + CARRIER_TIMEOUT
            while not (await self.netlink.link(vmac.name)).up:
                if self._loop.time() >= deadline:
                    log.warning("%s: no carrier %.1f s after clearing protodown", vmac.name, CARRIER_TIMEOUT)
                    break
                await asyncio.sleep(0.005)
            vmac.running = True
        finally:
            vmac.pending_up -= 1

    async def down(self, vmac: VirtualMac) -> None:
        """The worker's "down": back to protodown, unless a takeover queued behind it will need it up again."""
        if not vmac.pending_up:
            vmac.running = False
            await self.netlink.set_link(vmac.index, protodown=True)

    async def release(self, name: str) -> None:
        """Close an instance's send socket and announcer, then delete its macvlan (with the VIPs on it)."""
        io = self.io.pop(name, None)
        if io is None:
            return
        if io.tx is not None:
            io.tx.close()
        if io.announcer is not None:
            io.announcer.close()
        try:
            await self.netlink.delete_link(io.vmac.index)
        except OSError as exc:
            log.error("cannot delete macvlan %s: %s", io.vmac.name, exc)

    async def close(self) -> None:
        """Release every macvlan. Also after a failed start, so it copes with what was never made."""
        for name in list(self.io):
            await self.release(name)


def name_of(cfg: InstanceConfig, parent: LinkInfo, every: Collection[InstanceConfig]) -> str:
    """The name of the macvlan of `cfg` on `parent`. `every` is every instance the daemon runs with it: a VRID with
    a virtual MAC on several interfaces names its macvlans apart by their parent's ifindex."""
    parents = {c.interface for c in every if c.virtual_mac and (c.family, c.vrid) == (cfg.family, cfg.vrid)}
    return macvlan_name(cfg.family, cfg.vrid, parent.index if len(parents | {cfg.interface}) > 1 else None)
