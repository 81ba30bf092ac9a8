"""The daemon's side of sync groups: config -> pure `SyncGroup`s over the daemon's routers, group trackers, status.

The group logic itself is pure (vrrpd.protocol.syncgroup); this only builds the groups, says which instance's
inputs go through which group, hands group-tracker changes on, and renders the status entry (with the group's
hooks, which the daemon registers with its `Notifier` as it does an instance's). The daemon applies each
`Coordinated` result (every member's actions, then the group's own transitions).

A reload re-creates a group whose members change (`remove`, then `add` over the new members' routers) and changes
the trackers of one whose members stay (`retrack`). `config` is the daemon's running configuration (it tells which
instance belongs to which group); the groups' own trackers are those of the groups built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from vrrpd.config import Config, InstanceConfig
from vrrpd.config.syncgroups import SyncGroupConfig, group_of
from vrrpd.protocol.parameters import RouterConfig
from vrrpd.protocol.router import VirtualRouter
from vrrpd.protocol.syncgroup import Coordinated, SyncGroup
from vrrpd.protocol.tracking import TrackerKind, TrackState
from vrrpd.services.hooks import Notifier


class SyncGroups:
    """Every sync group of one daemon."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.groups: dict[str, SyncGroup] = {}
        self._of: dict[str, SyncGroup] = {}

    def router_config(self, cfg: InstanceConfig) -> RouterConfig:
        """The instance's router parameters, marked as a group member where it is one."""
        group = group_of(self.config, cfg.name)
        return cfg.router_config() if group is None else replace(cfg.router_config(), sync_group=group.name)

    def build(self, routers: Mapping[str, VirtualRouter]) -> None:
        for group in self.config.sync_groups:
            self.add(group, routers)

    def add(self, group: SyncGroupConfig, routers: Mapping[str, VirtualRouter]) -> SyncGroup:
        """Build one group over its members' routers (not yet started)."""
        sync = SyncGroup(group.name, {m: routers[m] for m in group.members}, group.trackers)
        self.groups[group.name] = sync
        self._of.update(dict.fromkeys(group.members, sync))
        return sync

    def remove(self, names: Iterable[str]) -> None:
        """Forget groups whose members have stopped."""
        for name in names:
            group = self.groups.pop(name)
            for member in group.members:
                del self._of[member]

    def retrack(
        self, group: SyncGroupConfig, states: Mapping[tuple[TrackerKind, str], TrackState], now: float
    ) -> Coordinated:
        """A reload changed a running group's own trackers (vrrpd.protocol.syncgroup.SyncGroup.retrack)."""
        return self.groups[group.name].retrack(group.trackers, states, now)

    def of(self, instance: str) -> SyncGroup | None:
        return self._of.get(instance)

    def member(self, instance: str) -> bool:
        """Whether the configuration puts `instance` in a sync group (built or not)."""
        return group_of(self.config, instance) is not None

    def scripts(self) -> set[str]:
        """Script names the groups track (their monitors must run)."""
        return {t.name for g in self.groups.values() for t in g.tracking.trackers if t.kind is TrackerKind.SCRIPT}

    def changed(self, kind: TrackerKind, name: str, state: TrackState, now: float) -> Iterable[Coordinated]:
        for group in self.groups.values():
            yield group.tracker_changed(kind, name, state, now)

    def status(self, now: float, notifier: Notifier | None = None) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "state": group.state.value,
                "reason": group.reason,
                "hooks": notifier.status("group", name) if notifier is not None else None,
                "held_by": group.held_by(now),
                "waiting_for": group.waiting_for(),
                "members": [
                    {
                        "name": member,
                        "state": router.state.value,
                        "wants_master": router.wants_master,
                        "defers": router.defers,
                    }
                    for member, router in group.members.items()
                ],
                "trackers": [
                    {
                        "kind": t.kind.value,
                        "name": t.name,
                        "state": group.tracking.states[t.key].value,
                        "effect": t.effect,
                    }
                    for t in group.tracking.trackers
                ],
            }
            for name, group in self.groups.items()
        ]
