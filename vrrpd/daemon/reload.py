"""Carrying out a reload plan (vrrpd.config.reload) on the running daemon.

First cut: instances are added, removed and re-created through the daemon's per-instance seam
(`Daemon.add_instance` / `remove_instance`); an instance changed in place is, for now, re-created too; a plan that
touches sync groups is refused.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from vrrpd.config import Config, InstanceConfig
from vrrpd.config.reload import Change, ReloadPlan
from vrrpd.daemon.model import Instance
from vrrpd.daemon.tracking import TrackingMonitors


class ReloadRefused(Exception):
    """The plan cannot be carried out; nothing was changed. `str()` says why, in one sentence."""


class Seam(Protocol):
    """What the reload needs of the daemon (vrrpd.daemon.daemon imports this module, so not `Daemon` itself)."""

    config: Config
    monitors: TrackingMonitors

    async def add_instance(self, cfg: InstanceConfig) -> Instance: ...

    async def remove_instance(self, name: str) -> None: ...


async def apply_plan(daemon: Seam, plan: ReloadPlan) -> None:
    """Carry out `plan`: removed and re-created instances stop first (so an address moving to another instance is
    gone from the first before the second may add it), then added and re-created ones start."""
    if not plan.groups.empty or plan.groups_recreated:
        raise ReloadRefused("sync groups cannot change while vrrpd runs yet; restart vrrpd to apply this file")
    for p in plan.instances:
        if p.change in (Change.REMOVED, Change.RECREATED, Change.CHANGED):
            await daemon.remove_instance(p.name)
    # The definitions instances refer to, before any instance that uses a new one starts.
    daemon.config = dataclasses.replace(
        daemon.config, track_scripts=plan.new.track_scripts, track_files=plan.new.track_files
    )
    daemon.monitors.config = daemon.config
    for p in plan.instances:
        if p.change in (Change.ADDED, Change.RECREATED, Change.CHANGED):
            assert p.new is not None
            await daemon.add_instance(p.new)
    daemon.config = dataclasses.replace(plan.new, instances=daemon.config.instances)
    daemon.monitors.config = daemon.config
