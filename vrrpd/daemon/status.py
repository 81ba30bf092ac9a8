"""The daemon's status (`vrrpctl status --json`) and its one-line summary (systemd's STATUS=), pure over the model.

Nothing here reads a clock or changes anything: the caller passes `now` (loop time), the uptime and the pid. The
keys and their order are an interface (tests/golden/status/status.json holds them, `vrrpctl status` renders
them): add keys at the end of their object, never rename or move one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vrrpd import __version__
from vrrpd.daemon import routes
from vrrpd.daemon.model import Instance, Link
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.net.firewall import Firewall
from vrrpd.net.sysctl import Sysctls
from vrrpd.protocol import Drain, Family
from vrrpd.protocol.tracking import TrackerKind
from vrrpd.services.filetrack import FileMonitor
from vrrpd.services.hooks import Notifier
from vrrpd.services.scripts import ScriptMonitor


def summary(instances: Iterable[Instance]) -> str:
    """How many instances are in each state: "2 backup, 1 master" (or "no instances")."""
    states: dict[str, int] = {}
    for inst in instances:
        states[inst.router.state.value] = states.get(inst.router.state.value, 0) + 1
    return ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "no instances"


def daemon_status(
    *,
    now: float,
    pid: int,
    uptime: float,
    config: dict[str, Any],
    instances: Iterable[Instance],
    links: Iterable[Link],
    scripts: Iterable[ScriptMonitor],
    files: Iterable[FileMonitor],
    sync: SyncGroups,
    notifier: Notifier,
    firewall: Firewall,
    sysctls: Sysctls,
    drain_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "version": __version__,
        "pid": pid,
        "uptime": round(uptime, 3),
        "config": config,
        "instances": [instance_status(inst, now, notifier) for inst in instances],
        "interfaces": [link_status(link) for link in links],
        "track_scripts": [monitor.status() for monitor in scripts],
        "track_files": [monitor.status() for monitor in files],
        "sync_groups": sync.status(now, notifier),
        "firewall": firewall.status(),
        "sysctls": sysctls.status(),
        "drain_state": drain_state,
    }


def link_status(link: Link) -> dict[str, Any]:
    """A link's drops: those the receive screen counted by reason (`drops`), and the kernel's receive queue
    (vrrpd.net.sockets.SocketStats): its size and how many packets it dropped full; and which kernel filter is in
    force (vrrpd.net.bpf). What the kernel filter refused is counted nowhere: docs/hostile.md."""
    stats = link.sock.stats()
    return {
        "interface": link.ifname,
        "family": family_name(link.family),
        "primary_address": str(link.primary),
        "drops": dict(link.drops),
        "kernel_filter": link.kernel_filter,
        "receive_buffer": stats.rcvbuf,
        "kernel_drops": stats.drops,
    }


def instance_status(inst: Instance, now: float, notifier: Notifier) -> dict[str, Any]:
    r, cfg, c = inst.router, inst.config, inst.router.counters
    return {
        "name": cfg.name,
        "interface": cfg.interface,
        "family": family_name(cfg.family),
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
        **owned_status(inst),
        "virtual_mac": (
            {"mac": inst.vmac.mac, "interface": inst.vmac.name, "running": inst.vmac.running} if inst.vmac else None
        ),
        # RFC 9568 §6.1: whether packets to the VIPs are accepted while master (owner or accept_mode).
        "accept_mode": cfg.accept_mode,
        "accepts_traffic": cfg.accepts_traffic,
        "fault_reason": r.fault_reason,
        "hooks": notifier.status("instance", cfg.name),
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
        "conflict_age": (round(now - r.owner_conflict_seen_at, 3) if r.owner_conflict_seen_at is not None else None),
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
        # vrrpctl drain: false, true (hard: never Master) or "soft" (Master only while no other router is heard).
        "drained": drained(r.drain),
    }


def owned_status(inst: Instance) -> dict[str, Any]:
    """What a Master owns besides its advertised addresses, shown only when configured (so the status of an
    instance without them reads as before): excluded addresses, the interface of each address that names one,
    and the routes and rules with whether each is installed (vrrpd.daemon.routes)."""
    cfg = inst.config
    shown: dict[str, Any] = {}
    if cfg.excluded_addresses:
        shown["excluded_addresses"] = [str(a) for a in cfg.excluded_addresses]
    if cfg.address_interfaces:
        shown["address_interfaces"] = {str(ip): name for ip, name in cfg.address_interfaces}
    if cfg.routes or cfg.rules:
        shown.update(routes.status(inst))
    return shown


def drained(mode: Drain | None) -> bool | str:
    """An instance's ``drained`` in the status: false, true (hard) or "soft"."""
    return False if mode is None else True if mode is Drain.HARD else "soft"


def family_name(family: Family) -> str:
    return "IPv4" if family is Family.IPV4 else "IPv6"
