"""Carrying out a reload plan (vrrpd.config.reload) on the running daemon: `apply_plan(daemon, plan)`.

In this order (docs/reload.md says what each key does):

1. Preflight (vrrpd.daemon.preflight): what start-up would refuse about the instances that start, and what the
   in-place changes need, checked without side effects. A problem raises `ReloadRefused`; nothing was changed.
2. Stop: removed and re-created instances stop as at shutdown (a master sends priority 0, RFC 9568 §6.4.3; its
   worker removes its VIPs; its on_stop hook is queued), with the sync groups re-created or removed with them.
   Their workers are done before anything else happens, so a VIP they held is gone before another takes it.
3. Definitions: a changed script's or file's monitor is replaced (a script's state carried over); every monitor
   the new configuration needs is created; groups whose members stay get their new trackers and hooks.
4. In place (vrrpd.daemon.inplace): each changed instance keeps its state and takes its new keys; an unchanged
   one only gets its new (equal) configuration object. Then the workers of instances that gave up VIPs are done,
   so that no instance about to start finds one of them still on its interface.
5. Start: added and re-created instances start as at start-up, with the sync groups they make up.
6. What nothing uses any more stops; the daemon's configuration is the new one.

A VIP that moves from one instance to another ends on the second within the one reload: the first one's removal
always goes first (steps 2 and 4, and between two instances changed in place, vrrpd.daemon.worker's `holders`).

Should an instance still fail to start in step 5 (something changed between the preflight and the start: an
interface went away, a user was deleted), the rest of the plan is carried out all the same; that instance (with
the other members of its sync group) is left out, not running and not part of the daemon's configuration, so the
next reload tries it again; and `ReloadIncomplete` says which, and why.

The loop is never held: every wait is an await, and an unchanged instance costs an equality check (the planner's)
and one assignment here.
"""

from __future__ import annotations

import dataclasses
import logging

from vrrpd.config import Config
from vrrpd.config.reload import Change, ReloadPlan
from vrrpd.daemon.inplace import reconfigure
from vrrpd.daemon.preflight import Checked, ReloadRefused, preflight
from vrrpd.daemon.seam import InstanceSeam
from vrrpd.protocol import State

log = logging.getLogger("vrrpd")

__all__ = ["ReloadIncomplete", "ReloadRefused", "apply_plan"]


class ReloadIncomplete(Exception):
    """The plan was carried out except for `failed` (instance name -> why): those instances are not running and
    are not in the daemon's configuration. `str()` says which, in one sentence."""

    def __init__(self, failed: dict[str, str]) -> None:
        self.failed = dict(failed)
        what = "; ".join(f"{name} ({why})" for name, why in self.failed.items())
        noun = "instance" if len(failed) == 1 else "instances"
        super().__init__(f"reloaded, except for {noun} {what}: not running; fix it and reload again")


async def apply_plan(daemon: InstanceSeam, plan: ReloadPlan) -> None:
    """Carry out `plan` (made against `daemon.config`) on the running daemon, in the order of the module's
    docstring. Raises ReloadRefused (nothing was changed) or ReloadIncomplete (all but the instances it names)."""
    if plan.new.metrics != plan.old.metrics:
        # The exporter keeps the socket it opened at start-up: vrrpd.config.metrics says why it waits.
        old = plan.old.metrics.listen if plan.old.metrics else "off"
        new = plan.new.metrics.listen if plan.new.metrics else "off"
        where = plan.new.source
        log.warning("metrics.listen changed from %s to %s in %s: applied at the next restart", old, new, where)
    if plan.empty:
        adopt(daemon, plan.new)
        return
    checked = await preflight(daemon, plan)
    if plan.new.log_level != plan.old.log_level:
        follow_log_level(daemon, plan.new)
    await stop(daemon, plan)
    await redefine(daemon, plan, checked)
    givers = []
    for p in plan.of(Change.CHANGED):
        assert p.old is not None and p.new is not None
        inst = daemon.instances[p.name]
        await reconfigure(daemon, inst, p.new, p.keys, checked)
        if inst.router.state is State.MASTER and set(p.old.virtual_addresses) - set(p.new.virtual_addresses):
            givers.append(inst)
    await daemon.worker.drain(givers)
    daemon.config = dataclasses.replace(
        daemon.config, instances=tuple(daemon.instances[c.name].config for c in daemon.config.instances)
    )
    starting = [p.new for p in plan.instances if p.change in (Change.ADDED, Change.RECREATED) and p.new is not None]
    groups = [g for g in plan.new.sync_groups if g.name in plan.groups_recreated]
    failed = await daemon.add_instances(starting, groups, checked.hook_users) if starting else {}
    await daemon.monitors.release(daemon.instances.values())
    daemon.monitors.start()
    lost = {g.name for g in plan.new.sync_groups if any(m in failed for m in g.members)}
    adopt(
        daemon,
        dataclasses.replace(
            plan.new,
            instances=tuple(c for c in plan.new.instances if c.name not in failed),
            sync_groups=tuple(g for g in plan.new.sync_groups if g.name not in lost),
        ),
    )
    log.info("reloaded %s: %s", plan.new.source, plan.summary())
    if failed:
        raise ReloadIncomplete(failed)


async def stop(daemon: InstanceSeam, plan: ReloadPlan) -> None:
    """Step 2: removed and re-created instances stop, with their groups. Those that start again under the same
    name keep their hook queues, so their on_stop runs before the hooks of what replaces them."""
    stopping = [p.name for p in plan.instances if p.change in (Change.REMOVED, Change.RECREATED)]
    if not stopping:
        return
    names = {g.name for g in plan.new.sync_groups}
    keep = {("instance", p.name) for p in plan.of(Change.RECREATED)}
    keep |= {("group", name) for name in plan.groups_recreated if name in names}
    await daemon.remove_instances(stopping, keep)


async def redefine(daemon: InstanceSeam, plan: ReloadPlan, checked: Checked) -> None:
    """Step 3: the new definitions, the monitors the new configuration needs, and the groups that stay."""
    new, staying = plan.new, {g.name: g for g in daemon.config.sync_groups}
    daemon.config = dataclasses.replace(daemon.config, track_scripts=new.track_scripts, track_files=new.track_files)
    await daemon.monitors.redefine(plan.scripts.changed, plan.files.changed, checked.script_users)
    await daemon.monitors.prepare(new, checked.script_users)
    for group in plan.groups.changed:
        old = staying.get(group.name)
        if old is None or group.name in plan.groups_recreated:
            continue
        if group.trackers != old.trackers:
            states = {t.key: daemon.monitors.state_of(t.kind, t.name) for t in group.trackers}
            daemon.driver.apply_group(daemon.sync.retrack(group, states, daemon.driver.loop.time()))
        if group.notify != old.notify:
            daemon.notifier.add_group(group, checked.hook_users.get(("group", group.name)))
        staying[group.name] = group
        log.info("sync group %s: changed in place", group.name)
    daemon.config = dataclasses.replace(daemon.config, sync_groups=tuple(staying.values()))


def follow_log_level(daemon: InstanceSeam, config: Config) -> None:
    """The root logger takes the file's new `log_level` (info when the file no longer sets one), unless the
    command line set the level."""
    level = (config.log_level or "info").upper()
    if daemon.log_level_pinned:
        log.info("log_level %s in %s not applied: vrrpd run --log-level sets the level", level.lower(), config.source)
        return
    logging.getLogger().setLevel(level)
    log.warning("log level is now %s (log_level in %s)", level.lower(), config.source)


def adopt(daemon: InstanceSeam, config: Config) -> None:
    """The daemon runs `config` now: its configuration, and its instances in the file's order (for the status)."""
    daemon.config = config
    ordered = {c.name: daemon.instances[c.name] for c in config.instances if c.name in daemon.instances}
    for c in config.instances:
        if c.name in ordered:
            ordered[c.name].config = c
    daemon.instances.clear()
    daemon.instances.update(ordered)
