"""Building instances from their configuration, and taking them apart again: one instance at a time.

An instance needs its link (the interface's raw VRRP socket and primary address, shared with the other instances
on that interface and family), its VIPs cleared of what a crash left behind, its virtual MAC when it has one
(vrrpd.daemon.vmac), an announcer (shared per interface), its unicast peers, its router, tracking and hooks.
`Assembly.build` makes these for a list of instance configurations, one step at a time over the whole list (open
every link, clear every VIP, make every macvlan, then the routers): at start-up that keeps the order in which
problems are found and reported, and one address dump per interface however many instances share it. For one
instance added to a running daemon the list holds that one. `tear_down` undoes what was built for one instance:
its macvlan, and the link and announcer once no other instance uses them.

Every error that stops an instance from being built is a `StartupError` naming the instance or interface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from vrrpd.config import Config, InstanceConfig
from vrrpd.config.syncgroups import SyncGroupConfig
from vrrpd.daemon.model import Device, FrameSender, Instance, Link, Openers
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.daemon.vmac import VirtualMacError, VirtualMacs
from vrrpd.net.bpf import DROP_ALL
from vrrpd.net.netlink import AddressManager, IPInterface, LinkInfo
from vrrpd.net.unicast import UnicastPeers, is_local
from vrrpd.protocol import Family, VirtualRouter
from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.packet import IPAddress
from vrrpd.protocol.receive import Receiver
from vrrpd.protocol.tracking import Tracking
from vrrpd.services.hooks import HookSetupError, Notifier

log = logging.getLogger("vrrpd")


class StartupError(Exception):
    """The daemon cannot start (interface missing, no primary address, socket already served...)."""


class UnicastError(ValueError):
    """A unicast instance that cannot start: its source is not ours, or no peer is left that is not ours."""


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class Assembly:
    """Builds and tears down the instances of one daemon, with the links and announcers they share."""

    netlink: AddressManager
    openers: Openers
    vmacs: VirtualMacs
    notifier: Notifier
    sync: SyncGroups
    links: dict[tuple[str, Family], Link]
    """The daemon's links, by (interface, family); built and closed here."""
    instances: dict[str, Instance]
    """The daemon's instances, by name; added and removed here."""
    announcers: dict[str, FrameSender] = field(default_factory=dict)
    """Per interface: one packet socket serves GARP and NA for every instance without a virtual MAC."""

    def check_addable(self, cfgs: Sequence[InstanceConfig], groups: Sequence[SyncGroupConfig], config: Config) -> None:
        """Refuse (ValueError) instances to add to the running ones, of configuration `config`, that the
        configuration check would refuse next to them, or sync groups that would not come with all their members."""
        adding = {cfg.name for cfg in cfgs}
        for group in groups:
            if group.name in self.sync.groups:
                raise ValueError(f"sync group {group.name} exists already")
            if missing := [m for m in group.members if m not in adding]:
                raise ValueError(f"sync group {group.name} comes with all its members, not without {missing[0]}")
        joining = {m: g.name for g in groups for m in g.members}
        held = {
            (other.config.interface, a.ip): other.name
            for other in self.instances.values()
            for a in other.config.virtual_addresses
        }
        defined = {s.name for s in config.track_scripts} | {f.name for f in config.track_files}
        for cfg in cfgs:
            if cfg.name in self.instances:
                raise ValueError(f"instance {cfg.name} exists already")
            if cfg.name not in joining and self.sync.member(cfg.name):
                raise ValueError(f"instance {cfg.name} is in a sync group: it comes and goes with its group")
            link = self.links.get((cfg.interface, cfg.family))
            if link is not None and (other := link.routers.get(cfg.vrid)) is not None:
                raise ValueError(f"instance {cfg.name}: VRID {cfg.vrid} on {cfg.interface} is {other.config.name}'s")
            for address in cfg.virtual_addresses:
                if (holder := held.get((cfg.interface, address.ip))) is not None:
                    # its stale-address clean-up would take it from the instance holding it
                    raise ValueError(f"instance {cfg.name}: {address.ip} is a virtual address of {holder}")
            for tracker in (*cfg.track_scripts, *cfg.track_files):
                if tracker.name not in defined:
                    raise ValueError(f"instance {cfg.name}: {tracker.kind.value} {tracker.name} is not defined")

    async def build(
        self, cfgs: Sequence[InstanceConfig], every: Collection[InstanceConfig], dumps: AddressDumps | None = None
    ) -> list[Instance]:
        """Build the instances of `cfgs` and add them to the daemon's links and instances. `every` is every
        instance the daemon runs once these are added (their VIPs are no link's primary address). `dumps`: the
        address dumps of a batch built one instance at a time (read once per interface all the same)."""
        await self.open_links(cfgs, every)
        dumps = dumps or AddressDumps(self.netlink)
        kept = {cfg.name: await self.remove_stale(cfg, dumps) for cfg in cfgs}
        try:
            await self.vmacs.setup(cfgs, self.links, every)
        except VirtualMacError as exc:
            raise StartupError(str(exc)) from None
        instances = [await self.make_instance(cfg, kept[cfg.name]) for cfg in cfgs]
        # Each link's kernel filter once for the whole batch, before anything reads the link: rebuilt per instance,
        # 100 instances on a link cost 100 programs of growing length (and as many attaches): ~1 ms each.
        for link in {inst.link: None for inst in instances}:
            link.refilter()
        return instances

    async def open_links(self, cfgs: Sequence[InstanceConfig], every: Collection[InstanceConfig]) -> None:
        # An owner's addresses are its own real addresses (RFC 9568 §1.2), so one may well be the primary.
        vips = {a.ip for cfg in every if cfg.priority != OWNER_PRIORITY for a in cfg.virtual_addresses}
        for cfg in cfgs:
            key = (cfg.interface, cfg.family)
            if key not in self.links:
                link = self.links[key] = await open_link(self.netlink, self.openers, cfg.interface, cfg.family, vips)
                link.own.add(link.primary)

    async def remove_stale(self, cfg: InstanceConfig, dumps: AddressDumps) -> frozenset[IPAddress]:
        """A crash can leave our VIPs behind; a Backup must not hold them (RFC 9568 §6.4.2). VIPs left on a
        macvlan go with it (vrrpd.daemon.vmac removes the macvlan); these are the ones on the interface itself, and
        the excluded and other-interface addresses wherever they live. Returns the owner's addresses that were
        there before us, never to be removed by us."""
        index = self.links[(cfg.interface, cfg.family)].info.index
        kept: set[IPAddress] = set()
        for vip in cfg.owned_addresses:
            where = cfg.interface_of(vip.ip)
            if where != cfg.interface:
                try:
                    at = (await self.netlink.link(where)).index
                except OSError:
                    continue  # make_instance says so (open_devices)
            else:
                at = index
            present, ours = await dumps.of(at)
            if vip.ip not in present:
                continue
            advertised_here = where == cfg.interface and vip in cfg.virtual_addresses
            if advertised_here and cfg.priority == OWNER_PRIORITY and not cfg.virtual_mac and vip.ip not in ours:
                # The owner's addresses are its real interface addresses, configured by the admin (not
                # tagged as added by us): removing one, at start or later on shutdown, would cut the host
                # off. Keep it, and never remove it.
                log.info("%s: %s is already on %s; kept as the owner's own address", cfg.name, vip, cfg.interface)
                kept.add(vip.ip)
                continue
            if not advertised_here and vip.ip not in ours:
                continue  # an excluded or other-interface address we did not add (IFA_PROTO): the host's own
            log.warning("%s: removing %s left on %s (crash?)", cfg.name, present[vip.ip], where)
            await self.netlink.remove(at, present.pop(vip.ip))
        return frozenset(kept)

    async def make_instance(self, cfg: InstanceConfig, kept: frozenset[IPAddress]) -> Instance:
        link = self.links[(cfg.interface, cfg.family)]
        io = self.vmacs.io.get(cfg.name)
        if io is not None:
            assert io.source is not None and io.tx is not None and io.announcer is not None
            vmac, announcer, source, tx = io.vmac, io.announcer, io.source, io.tx
        else:
            vmac, source, tx = None, link.primary, link.sock
            announcer = self.announcers.get(cfg.interface)
            if announcer is None:
                # One packet socket per interface serves GARP and NA; NAs leave from the link-local address.
                link_local = await self.netlink.link_local(link.info.index)
                announcer = self.openers.announcer(cfg.interface, link.info.mac, link_local)
                self.announcers[cfg.interface] = announcer
        try:
            unicast = unicast_peers(cfg, link.primary, link.info.index, self.openers.is_local)
        except UnicastError as exc:
            raise StartupError(f"{cfg.name}: {exc}") from None
        if unicast is not None:  # adverts go from the interface itself to each peer (vrrpd.net.unicast)
            source, tx = unicast.source, link.sock
        check_advert_fits(cfg, link.info)
        inst = Instance(
            cfg,
            VirtualRouter(self.sync.router_config(cfg), source),
            link,
            announcer,
            source,
            tx,
            Tracking(cfg.priority, cfg.trackers),
            Receiver(cfg.checksum_mode, unicast.filter if unicast is not None else None),
            vmac=vmac,
            unicast=unicast,
            kept=kept,
        )
        link.add(inst, refilter=False)  # `build` refilters each link once, for all its new instances
        link.own.add(source)
        self.instances[cfg.name] = inst
        await self.open_devices(inst)
        try:
            self.notifier.add_instance(cfg, await self.notifier.resolve_user("instance", cfg.name, cfg.notify))
        except HookSetupError as exc:
            raise StartupError(str(exc)) from None
        return inst

    async def open_devices(self, inst: Instance) -> None:
        """The other interfaces the instance's addresses live on (keepalived's ``dev OTHER``), each with the
        announcer of that interface (shared, as an instance's own). A reload calls it again for new ones."""
        cfg = inst.config
        for name in dict.fromkeys(ifname for _, ifname in cfg.address_interfaces):
            if name == cfg.interface or name in inst.devices:
                continue
            try:
                info = await self.netlink.link(name)
            except OSError as exc:
                raise StartupError(f"{cfg.name}: interface {name} of its addresses: {exc}") from None
            announcer = self.announcers.get(name)
            if announcer is None:
                announcer = self.openers.announcer(name, info.mac, await self.netlink.link_local(info.index))
                self.announcers[name] = announcer
            inst.devices[name] = Device(info.index, announcer)

    def close_unused_announcers(self, names: Collection[str]) -> None:
        """Close the announcers of `names` that no instance uses any more (as its own or for its addresses)."""
        for name in names:
            announcer = self.announcers.get(name)
            used = any(
                other.announcer is announcer or any(d.announcer is announcer for d in other.devices.values())
                for other in self.instances.values()
            )
            if announcer is not None and not used:
                announcer.close()
                del self.announcers[name]

    async def tear_down(
        self, cfg: InstanceConfig, detach: Callable[[Link], None], inst: Instance | None = None
    ) -> None:
        """Undo whatever was built for `cfg` (all of it, or what a failed `build` got to): forget the instance
        (`inst`, when the caller has already taken it out), delete its macvlan, and close the link (`detach` first
        stops reading it) and the announcer it used once no other instance uses them."""
        inst = self.instances.pop(cfg.name, None) or inst
        link = self.links.get((cfg.interface, cfg.family))
        if link is not None and inst is not None:
            link.remove(inst)  # a no-op when the caller has removed it already
            if inst.source != link.primary and all(other.source != inst.source for other in link.routers.values()):
                link.own.discard(inst.source)
        await self.vmacs.release(cfg.name)
        if link is not None and not link.routers:
            detach(link)
            link.sock.close()
            del self.links[(cfg.interface, cfg.family)]
        self.close_unused_announcers([cfg.interface, *(inst.devices if inst is not None else ())])

    def close(self) -> None:
        """Close every link's socket and every shared announcer (the macvlans' are the VirtualMacs')."""
        for link in self.links.values():
            link.sock.close()
        for announcer in self.announcers.values():
            announcer.close()


class AddressDumps:
    """One pair of address dumps per interface, however many instances share it: 100 instances on a link would
    otherwise cost 200 netlink round trips at start-up (issue #6)."""

    def __init__(self, netlink: AddressManager) -> None:
        self.netlink = netlink
        self.dumps: dict[int, tuple[dict[IPAddress, IPInterface], set[IPAddress]]] = {}

    async def of(self, ifindex: int) -> tuple[dict[IPAddress, IPInterface], set[IPAddress]]:
        """The interface's addresses (by IP; removals are popped, so a later instance does not remove them
        again) and those tagged as added by us."""
        if ifindex not in self.dumps:
            self.dumps[ifindex] = (
                {a.ip: a for a in await self.netlink.addresses(ifindex)},
                await self.netlink.ours(ifindex),
            )
        return self.dumps[ifindex]


async def open_link(
    netlink: AddressManager, openers: Openers, ifname: str, family: Family, vips: Collection[IPAddress]
) -> Link:
    """The link of (ifname, family): its advert source (never one of `vips`) and its raw VRRP socket."""
    info, primary = await probe_link(netlink, ifname, family, vips)
    try:
        sock = openers.vrrp_socket(ifname, family)
    except OSError as exc:
        raise StartupError(f"interface {ifname}: cannot open the {family.name} VRRP socket: {exc}") from None
    try:
        # Nothing queues before the link's first router sets the real filter (Link.refilter): not even a flood.
        sock.set_filter(DROP_ALL)
    except OSError as exc:
        sock.close()
        raise StartupError(f"interface {ifname}: cannot filter the {family.name} VRRP socket: {exc}") from None
    return Link(ifname, family, info, primary, sock)


async def probe_link(
    netlink: AddressManager, ifname: str, family: Family, vips: Collection[IPAddress]
) -> tuple[LinkInfo, IPAddress]:
    """What opening the link of (ifname, family) finds out, read only: the interface and its advert source.
    StartupError when there is no such interface, or no address to send adverts from."""
    try:
        info = await netlink.link(ifname)
    except Exception as exc:
        raise StartupError(f"interface {ifname}: not found ({exc})") from None
    primary: IPAddress | None
    if family is Family.IPV4:
        primary = await netlink.primary_ipv4(info.index, exclude=[v for v in vips if v.version == 4])
        if primary is None:
            raise StartupError(f"interface {ifname} has no IPv4 address to send adverts from (RFC 9568 §5.1.1.1)")
    else:
        primary = await netlink.link_local(info.index)
        if primary is None:
            raise StartupError(f"interface {ifname} has no IPv6 link-local address (RFC 9568 §5.1.2.1)")
    return info, primary


def unicast_peers(
    cfg: InstanceConfig,
    primary: IPAddress,
    ifindex: int,
    local: Callable[[IPAddress, int], bool] = is_local,
) -> UnicastPeers | None:
    """The unicast peers of `cfg` (vrrpd.net.unicast); None for a multicast instance.

    A listed peer that is an address of this host is left out (and logged), so that one file listing every
    router serves them all, each leaving itself out. Raises UnicastError when the source is not an address of
    this host, or when no peer is left. `local` tells an address of this host (`is_local`, or a test's double).
    """
    if not cfg.unicast_peers:
        return None
    source, peers = unicast_choice(cfg, primary, ifindex, local)
    for peer in cfg.unicast_peers:
        if peer not in peers:
            log.info("%s: unicast peer %s is an address of this host; left out", cfg.name, peer)
    log.info(
        "%s: unicast to %s from %s (TTL %d; accepting TTL >= %d, from these peers only)",
        cfg.name,
        ", ".join(map(str, peers)),
        source,
        cfg.unicast_ttl,
        cfg.unicast_min_ttl,
    )
    return UnicastPeers(peers, source, cfg.unicast_ttl, cfg.unicast_min_ttl)


def unicast_choice(
    cfg: InstanceConfig, primary: IPAddress, ifindex: int, local: Callable[[IPAddress, int], bool] = is_local
) -> tuple[IPAddress, tuple[IPAddress, ...]]:
    """The advert source of a unicast instance and the peers it sends to (`unicast_peers`' rules, nothing logged:
    a reload's preflight asks too). Raises UnicastError."""
    source = cfg.unicast_source or primary
    if not local(source, ifindex):
        raise UnicastError(f"unicast_source {source} is not an address of this host (on {cfg.interface})")
    peers = tuple(peer for peer in cfg.unicast_peers if peer != source and not local(peer, ifindex))
    if not peers:
        listed = ", ".join(map(str, cfg.unicast_peers))
        raise UnicastError(f"every unicast peer ({listed}) is an address of this host; list the other routers")
    return source, peers


def check_advert_fits(cfg: InstanceConfig, info: LinkInfo) -> None:
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
