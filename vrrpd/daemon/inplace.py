"""A running instance changed in place by a reload: it keeps its state, its timers, its counters and its router;
what depends on the changed keys follows (docs/reload.md has the table, key by key).

- The router gets its new parameters (`Reconfigured`, RFC 9568 §6.1): a Master's address list changes at once
  (the worker removes, then adds, then announces the added addresses only); everything else takes effect where
  it is next used (the next advert carries the new interval, priority and addresses).
- The effective priority is tracking's: a new base priority or new trackers (the kept ones with their states)
  reach the router as `PriorityChanged` (a Master advertises it at once), faults as `Faulted` / `Recovered`.
- The receive screen gets the new checksum mode and unicast filter, the unicast peers their new list and TTLs
  (each kept peer its counters), the hooks their new commands (the queue is kept). The screen's repeat cache is
  dropped: the next advert is decoded and checked again.
- Accept_Mode turned off on a Master blocks the VIPs it holds, turned on unblocks them, in the ordered worker.
- A VIP whose prefix changed on a Master is removed and added again with the new prefix (the kernel keeps an
  address's prefix); the GARP / NA refresh follows `garp.refresh` (started if the reload turns it on).
- An address owner's new VIP that is already one of the host's own addresses is kept on shutdown, as at start-up.
- A Master's excluded addresses, the interface of its addresses, its routes and rules follow at once: removed ones
  go (before the router's own additions, so an address moving between the advertised and the excluded list is
  removed before it is added), added ones come after (and are announced); a Backup only records them.
"""

from __future__ import annotations

import logging

from vrrpd.config import InstanceConfig
from vrrpd.daemon.assembly import AddressDumps, unicast_choice
from vrrpd.daemon.model import (
    AddVips,
    AnnounceVips,
    BlockVips,
    InstallRoutes,
    Instance,
    RemoveVips,
    UnblockVips,
    WithdrawRoutes,
)
from vrrpd.daemon.preflight import REREGISTER, UNICAST_KEYS, Checked
from vrrpd.daemon.seam import InstanceSeam
from vrrpd.daemon.worker import device_index
from vrrpd.net.unicast import UnicastPeers
from vrrpd.protocol import Reconfigured, State
from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.packet import IPAddress
from vrrpd.protocol.receive import Receiver

log = logging.getLogger("vrrpd")

SCREEN_KEYS = UNICAST_KEYS | {"checksum", "accept_checksum"}
"""Keys the receive screen (`Receiver`) and the unicast peers are built from."""


async def reconfigure(
    daemon: InstanceSeam, inst: Instance, cfg: InstanceConfig, keys: tuple[str, ...], checked: Checked
) -> None:
    """Change `inst` to `cfg` in place; `keys` are the keys that differ (vrrpd.config.reload.InstancePlan)."""
    old = inst.config
    if cfg.priority == OWNER_PRIORITY and not cfg.virtual_mac and "virtual_addresses" in keys:
        await keep_own_addresses(daemon, inst, cfg)
    inst.config = cfg  # what the worker and the driver read from here on (prefixes, Accept_Mode, GARP, checksum)
    if "address_interfaces" in keys:
        await daemon.assembly.open_devices(inst)
    if REREGISTER & set(keys):
        daemon.notifier.add_instance(cfg, checked.hook_users.get(("instance", cfg.name)))
    if SCREEN_KEYS & set(keys):
        rescreen(daemon, inst, cfg, keys)
    # Memos of answers given under the old configuration (the screen's and the raw lane's): one decode re-makes them.
    inst.receiver.repeat = None
    inst.link.forget(inst.config.vrid)
    master = inst.router.state is State.MASTER
    if "virtual_addresses" in keys and master:
        readd_changed_prefixes(inst, old)
    owned = OWNED_KEYS & set(keys) and master
    added = withdraw_owned(inst, old) if owned else ()
    router_config = daemon.sync.router_config(cfg)
    if router_config != inst.router.config:
        daemon.driver.feed(inst, Reconfigured(router_config))
    if owned:
        install_owned(inst, old, added)
    if old.accepts_traffic != cfg.accepts_traffic:
        await refilter(daemon, inst, old)
    if "garp" in keys and master and cfg.garp.refresh > 0 and (inst.garp is None or inst.garp.done()):
        inst.ops.put_nowait(AnnounceVips(()))  # the refresh alone: the addresses were announced when they came
    if cfg.trackers != old.trackers or cfg.priority != old.priority:
        await daemon.monitors.retrack(inst, checked.script_users)
    daemon.driver.update_tracking(inst)
    log.info("%s: changed in place (%s)", cfg.name, ", ".join(keys))


def rescreen(daemon: InstanceSeam, inst: Instance, cfg: InstanceConfig, keys: tuple[str, ...]) -> None:
    """New unicast peers (each kept peer with its counters) and a new receive screen, without the repeat cache of
    the old one: a repeat it remembers passed checks that may now answer otherwise."""
    old = inst.unicast
    if old is not None and UNICAST_KEYS & set(keys):
        link = inst.link
        source, peers = unicast_choice(cfg, link.primary, link.info.index, daemon.assembly.openers.is_local)
        inst.unicast = UnicastPeers(peers, source, cfg.unicast_ttl, cfg.unicast_min_ttl)
        before = {peer.address: peer for peer in old.peers}
        inst.unicast.peers = [before.get(peer.address, peer) for peer in inst.unicast.peers]
    for peer in inst.unicast.peers if inst.unicast is not None else ():
        peer.wire = None  # encoded with the checksum form in use when it was sent
    inst.receiver = Receiver(cfg.checksum_mode, inst.unicast.filter if inst.unicast is not None else None)
    inst.wire = None
    inst.link.refilter()  # unicast_min_ttl is in the kernel filter too


def readd_changed_prefixes(inst: Instance, old: InstanceConfig) -> None:
    """A Master's VIP whose prefix changed goes and comes back with the new one, in its worker."""
    before = {a.ip: a for a in old.virtual_addresses}
    changed = tuple(a.ip for a in inst.config.virtual_addresses if a.ip in before and before[a.ip] != a)
    if changed:
        inst.ops.put_nowait(RemoveVips(changed))
        inst.ops.put_nowait(AddVips(changed))


OWNED_KEYS = frozenset({"excluded_addresses", "address_interfaces", "routes", "rules"})
"""Keys of what a Master owns besides its advertised addresses."""


def withdraw_owned(inst: Instance, old: InstanceConfig) -> tuple[IPAddress, ...]:
    """The first half of a Master's change of excluded addresses, address interfaces, routes and rules: what goes
    (and an address whose interface or prefix changed). Returns the excluded addresses to add afterwards."""
    cfg = inst.config
    dropped_routes = tuple(r for r in old.routes if r not in cfg.routes)
    dropped_rules = tuple(r for r in old.rules if r not in cfg.rules)
    if dropped_routes or dropped_rules:
        inst.ops.put_nowait(WithdrawRoutes(dropped_routes, dropped_rules))
    before = {a.ip: (a, old.interface_of(a.ip)) for a in old.excluded_addresses}
    after = {a.ip: (a, cfg.interface_of(a.ip)) for a in cfg.excluded_addresses}
    # A VIP that only moved to another interface: the router does not see it (its address list is the same).
    vips = {a.ip for a in old.virtual_addresses} & {a.ip for a in cfg.virtual_addresses}
    moved = tuple(ip for ip in vips if old.interface_of(ip) != cfg.interface_of(ip))
    gone = tuple(ip for ip in before if before[ip] != after.get(ip)) + moved
    if gone:
        inst.ops.put_nowait(RemoveVips(gone))
    return tuple(ip for ip in after if after[ip] != before.get(ip)) + moved


def install_owned(inst: Instance, old: InstanceConfig, added: tuple[IPAddress, ...]) -> None:
    """The second half: the excluded (or moved) addresses that come, announced beside the running announcement,
    then the new routes and rules."""
    cfg = inst.config
    if added:
        inst.ops.put_nowait(AddVips(added))
        inst.ops.put_nowait(AnnounceVips(added, beside=True))
    new_routes = tuple(r for r in cfg.routes if r not in old.routes)
    new_rules = tuple(r for r in cfg.rules if r not in old.rules)
    if new_routes or new_rules:
        inst.ops.put_nowait(InstallRoutes(new_routes, new_rules))


async def refilter(daemon: InstanceSeam, inst: Instance, old: InstanceConfig) -> None:
    """Accept_Mode changed (RFC 9568 §6.1). Off: a Master drops packets to the VIPs it holds from now on (the
    table made if it is the first instance to need it); a Backup holds none, and its next takeover blocks them
    first. On: whatever of the instance's VIPs is blocked is unblocked, after what its worker has queued."""
    cfg = inst.config
    if not cfg.accepts_traffic:
        await daemon.ensure_firewall([cfg])
        if inst.router.state is State.MASTER:
            inst.ops.put_nowait(BlockVips(inst.router.config.addresses))
        return
    addresses = {a.ip: None for a in (*old.virtual_addresses, *cfg.virtual_addresses)}
    inst.ops.put_nowait(UnblockVips(tuple(addresses)))


async def keep_own_addresses(daemon: InstanceSeam, inst: Instance, cfg: InstanceConfig) -> None:
    """An address owner's new VIP that is on its interface already, and not put there by us, is the host's own
    (RFC 9568 §1.2): never removed by us, as start-up decides for the owner's first list (vrrpd.daemon.assembly)."""
    before = {a.ip for a in inst.config.virtual_addresses}
    added = {a.ip for a in cfg.virtual_addresses} - before
    present, ours = await AddressDumps(daemon.netlink).of(device_index(inst))
    own = {ip for ip in added if ip in present and ip not in ours}
    if own:
        log.info("%s: %s already on %s; kept as the owner's own", cfg.name, ", ".join(map(str, own)), cfg.interface)
        inst.kept = inst.kept | own
