"""What a configuration reload changes: the old and the new `Config` in, a `ReloadPlan` out. Pure: the daemon
(vrrpd.daemon.reload) carries the plan out; `vrrpd check` could print it.

Everything is matched by name: instances, track scripts, track files, sync groups. Renaming one is removing it
and adding another. Per instance the plan says:

- ``unchanged``: equal to the running one (where it is written in the file does not count). Nothing happens to
  it: no advert is missed or delayed, no timer reset, no VIP or hook touched, its counters go on.
- ``changed``: different in keys that can change in place (priority, trackers and their weights, preempt,
  advert interval, the VIP list, hooks, checksums, unicast peers and TTLs, GARP, Accept_Mode, ...). The
  instance keeps its state; see docs/reload.md for what each key does on the running router.
- ``recreated``: different in what makes it another virtual router (`RECREATE_KEYS`: its interface, VRID,
  address family, VRRP version, virtual MAC, owner status, advert source, multicast or unicast), or in its
  sync group: it stops as at shutdown (priority 0 if master, VIPs removed, on_stop) and starts as at start-up.
- ``added`` / ``removed``: starts as at start-up / stops as at shutdown.

A sync group whose members change, and every member of a group that is added or removed, is re-created with its
members (a group is Master together or not at all, so it cannot half-change); so is a group one of whose members
is re-created for a key of its own. A group whose trackers or hooks change keeps its members running.

A new `log_level` applies at once (unless `vrrpd run --log-level` set the level). A `control_socket` change is
refused: `vrrpctl` and systemd's ExecReload reach the daemon through the socket it
listens on, so moving it needs a restart. A `metrics` change is taken into the configuration but its listener
moves at the next restart (the daemon warns; vrrpd.config.metrics).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from vrrpd.config.document import Config
from vrrpd.config.errors import ConfigError
from vrrpd.config.instance import InstanceConfig
from vrrpd.config.syncgroups import SyncGroupConfig, group_of
from vrrpd.config.track_files import FileConfig
from vrrpd.config.tracking import ScriptConfig
from vrrpd.protocol.constants import OWNER_PRIORITY


class Change(StrEnum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    RECREATED = "recreated"
    ADDED = "added"
    REMOVED = "removed"


RECREATE_KEYS = ("interface", "vrid", "family", "version", "virtual_mac", "owner", "unicast_source", "unicast")
"""What makes another virtual router (`identity` gives each its value): a router's VRID, family and version are
what it is on the wire, its interface and virtual MAC where it lives, the owner (priority 255) starts as Master
(RFC 9568 §6.4.1), and the advert source (unicast or not, `unicast_source`) is its address in every election."""


def identity(cfg: InstanceConfig) -> dict[str, object]:
    """The values of `RECREATE_KEYS` for one instance."""
    return {
        "interface": cfg.interface,
        "vrid": cfg.vrid,
        "family": cfg.family,
        "version": cfg.version,
        "virtual_mac": cfg.virtual_mac,
        "owner": cfg.priority == OWNER_PRIORITY,
        "unicast_source": cfg.unicast_source,
        "unicast": bool(cfg.unicast_peers),
    }


@dataclass(frozen=True, slots=True)
class InstancePlan:
    name: str
    change: Change
    old: InstanceConfig | None
    """None for an added instance."""
    new: InstanceConfig | None
    """None for a removed instance."""
    keys: tuple[str, ...] = ()
    """The keys that differ (for a re-created instance, the ones that forced it, or ``sync_group``)."""


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_T = TypeVar("_T", bound=_Named)


@dataclass(frozen=True, slots=True)
class Diff(Generic[_T]):
    """Definitions matched by name (track scripts, track files, sync groups)."""

    added: tuple[_T, ...] = ()
    removed: tuple[_T, ...] = ()
    changed: tuple[_T, ...] = ()
    """The new definitions of those whose content changed."""

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    old: Config
    new: Config
    instances: tuple[InstancePlan, ...]
    """The new file's instances in its order, then the removed ones in the old file's order."""
    scripts: Diff[ScriptConfig]
    files: Diff[FileConfig]
    groups: Diff[SyncGroupConfig]
    groups_recreated: tuple[str, ...] = ()
    """Groups whose members are re-created with them (members changed, group added or removed)."""

    def of(self, change: Change) -> tuple[InstancePlan, ...]:
        return tuple(p for p in self.instances if p.change is change)

    @property
    def empty(self) -> bool:
        """Nothing to do: every instance, definition and group is as it runs, and so is the log level."""
        return (
            all(p.change is Change.UNCHANGED for p in self.instances)
            and all(d.empty for d in (self.scripts, self.files, self.groups))
            and self.old.log_level == self.new.log_level
        )

    def counts(self) -> dict[str, int]:
        """How many instances are unchanged, changed (in place or re-created), added and removed."""
        return {
            "unchanged": len(self.of(Change.UNCHANGED)),
            "changed": len(self.of(Change.CHANGED)) + len(self.of(Change.RECREATED)),
            "added": len(self.of(Change.ADDED)),
            "removed": len(self.of(Change.REMOVED)),
        }

    def summary(self) -> str:
        """``N unchanged, N changed, N added, N removed`` (what `vrrpctl reload` prints)."""
        return ", ".join(f"{n} {what}" for what, n in self.counts().items())


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """What changes from the running `old` to the freshly parsed `new` (both already valid on their own).
    Raises ConfigError for a change a reload cannot make (the control socket)."""
    if new.control_socket != old.control_socket:
        raise ConfigError(
            new.source,
            "control_socket",
            None,
            f"changed from {old.control_socket} to {new.control_socket}: vrrpctl and systemctl reload reach vrrpd "
            "through the socket it listens on, so a new one needs a restart (systemctl restart vrrpd); the running "
            "configuration is kept",
        )
    groups = diff(old.sync_groups, new.sync_groups)
    regrouped = {g.name for g in (*groups.added, *groups.removed)}
    regrouped |= {g.name for g in groups.changed if g.members != _by_name(old.sync_groups)[g.name].members}
    old_by_name = _by_name(old.instances)
    reborn = {c.name for c in new.instances if c.name in old_by_name and identity(c) != identity(old_by_name[c.name])}
    # A group with a member that is another router now restarts as a whole: it never runs with some members only.
    regrouped |= {g.name for g in (*old.sync_groups, *new.sync_groups) if reborn & set(g.members)}
    members = {m for g in (*old.sync_groups, *new.sync_groups) if g.name in regrouped for m in g.members}
    plans = []
    for cfg in new.instances:
        before = old_by_name.get(cfg.name)
        if before is None:
            plans.append(InstancePlan(cfg.name, Change.ADDED, None, cfg))
            continue
        forced = [key for key, value in identity(cfg).items() if identity(before)[key] != value]
        if not forced and (_group_name(old, cfg.name) != _group_name(new, cfg.name) or cfg.name in members):
            forced.append("sync_group")
        keys = _differing(before, cfg)
        if forced:
            plans.append(InstancePlan(cfg.name, Change.RECREATED, before, cfg, tuple(forced)))
        elif keys:
            plans.append(InstancePlan(cfg.name, Change.CHANGED, before, cfg, keys))
        else:
            plans.append(InstancePlan(cfg.name, Change.UNCHANGED, before, cfg))
    names = {cfg.name for cfg in new.instances}
    plans += [InstancePlan(c.name, Change.REMOVED, c, None) for c in old.instances if c.name not in names]
    return ReloadPlan(
        old,
        new,
        tuple(plans),
        diff(old.track_scripts, new.track_scripts),
        diff(old.track_files, new.track_files),
        groups,
        tuple(sorted(regrouped)),
    )


def diff(old: Sequence[_T], new: Sequence[_T]) -> Diff[_T]:
    """Definitions added, removed, and changed (by equality, which leaves out where they are written)."""
    before, after = _by_name(old), _by_name(new)
    return Diff(
        tuple(d for name, d in after.items() if name not in before),
        tuple(d for name, d in before.items() if name not in after),
        tuple(d for name, d in after.items() if name in before and before[name] != d),
    )


def apply_plan(old: Config, plan: ReloadPlan) -> Config:
    """The configuration the daemon runs once `plan` is carried out on `old`, built from the plan's changes alone
    (what the plan leaves out stays as it was). `apply_plan(a, plan_reload(a, b)) == b` is the plan's contract."""
    running = _by_name(old.instances)
    for p in plan.instances:
        if p.change is Change.REMOVED:
            del running[p.name]
        elif p.change is not Change.UNCHANGED:
            assert p.new is not None
            running[p.name] = p.new
    order = [p.name for p in plan.instances if p.change is not Change.REMOVED]
    return replace(
        old,
        instances=tuple(running[name] for name in order),
        source=plan.new.source,
        warnings=plan.new.warnings,
        track_scripts=_apply(old.track_scripts, plan.scripts, plan.new.track_scripts),
        track_files=_apply(old.track_files, plan.files, plan.new.track_files),
        sync_groups=_apply(old.sync_groups, plan.groups, plan.new.sync_groups),
        log_level=plan.new.log_level,
        metrics=plan.new.metrics,
    )


def _apply(old: Sequence[_T], change: Diff[_T], order: Iterable[_T]) -> tuple[_T, ...]:
    current = _by_name(old)
    for gone in change.removed:
        del current[gone.name]
    current.update(_by_name((*change.added, *change.changed)))
    return tuple(current[d.name] for d in order)


def _differing(old: InstanceConfig, new: InstanceConfig) -> tuple[str, ...]:
    """The keys (dataclass fields, `line` left out) whose values differ."""
    return tuple(f.name for f in fields(old) if f.compare and getattr(old, f.name) != getattr(new, f.name))


def _group_name(config: Config, instance: str) -> str | None:
    group = group_of(config, instance)
    return group.name if group is not None else None


def _by_name(items: Iterable[_T]) -> dict[str, _T]:
    return {item.name: item for item in items}
