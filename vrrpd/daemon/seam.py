"""Changing a running daemon a piece at a time: instances, and the sync groups they make up, added and removed while
the others run on without noticing. The seam a configuration reload (vrrpd.daemon.reload) builds on.

`Daemon` (vrrpd.daemon.daemon) is an `InstanceSeam`: it composes the parts declared here, and starts and stops them
all at once; this adds and removes some of them the way start-up and shutdown do, one instance at a time:

- an instance added is built as at start-up (its link opened when it is the first on it, its stale VIPs removed,
  its trackers primed) and started (its worker, its tracking's verdict, then RFC 9568 §6.4.1's Startup event);
- an instance removed stops as at shutdown (a master sends priority 0, RFC 9568 §6.4.3; its worker removes its
  VIPs; its on_stop hook runs), and is taken apart: its link closes when no other instance uses it, its monitors
  stop when nothing else tracks them;
- a sync group comes and goes with all its members (a group is Master together or not at all, so it never runs
  with some of them); its hooks are registered and its trackers primed as at start-up.

`config` is the configuration of what runs: setting it keeps the sync groups' and the monitors' view in step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence

from vrrpd.config import Config, InstanceConfig
from vrrpd.config.syncgroups import SyncGroupConfig
from vrrpd.daemon.assembly import AddressDumps, Assembly, StartupError
from vrrpd.daemon.drain import Drainer
from vrrpd.daemon.driver import Driver
from vrrpd.daemon.model import Instance, Link
from vrrpd.daemon.receive import Listener
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.daemon.tracking import TrackingError, TrackingMonitors
from vrrpd.daemon.vmac import VirtualMacs
from vrrpd.daemon.worker import Worker
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import AddressManager
from vrrpd.protocol import Family, ShutdownRequested, Started
from vrrpd.services.hooks import HookSetupError, Notifier
from vrrpd.services.scheduler import Scheduler
from vrrpd.services.scripts import RunAs

log = logging.getLogger("vrrpd")


class InstanceSeam:
    """Adds and removes instances and sync groups of a running daemon (see the module's docstring)."""

    netlink: AddressManager
    links: dict[tuple[str, Family], Link]
    instances: dict[str, Instance]
    firewall: Firewall
    sync: SyncGroups
    notifier: Notifier
    driver: Driver
    worker: Worker
    listener: Listener
    assembly: Assembly
    monitors: TrackingMonitors
    drainer: Drainer
    vmacs: VirtualMacs
    scheduler: Scheduler | None
    running_config: Config
    log_level_pinned: bool = False
    """`vrrpd run --log-level` was given: it wins over the file's `log_level`, at start-up and at every reload."""

    @property
    def config(self) -> Config:
        """The configuration of what runs (what a reload is planned against)."""
        return self.running_config

    @config.setter
    def config(self, config: Config) -> None:
        self.running_config = self.sync.config = self.monitors.config = config

    def run_instance(self, inst: Instance, drained_because: str = "a reload (re)created it") -> None:
        """Set a built instance going: its worker, its tracking's verdict (an interface already down: FAULT from
        the start), its drain if the state file has one (`drained_because` says why, in its event), then the
        router's Startup event (RFC 9568 §6.4.1)."""
        self.worker.start(inst)
        self.driver.update_tracking(inst)
        self.drainer.apply(inst, drained_because)
        self.driver.feed(inst, Started())

    async def ensure_firewall(self, cfgs: Collection[InstanceConfig]) -> None:
        """Create the Accept_Mode table (vrrpd.net.firewall) once an instance needs it and it is not there."""
        if not self.firewall.enabled and any(not cfg.accepts_traffic for cfg in cfgs):
            await self.firewall.start()

    # --- adding ------------------------------------------------------------------------------------------------

    async def add_instance(self, cfg: InstanceConfig) -> Instance:
        """Build and start one more instance (not of a sync group; see `add_instances`).

        Raises StartupError for what would stop the daemon from starting with it (the instance is then not
        added, and nothing of it is left), ValueError for what the configuration check would refuse."""
        failed = await self.add_instances([cfg])
        if failed:
            raise StartupError(failed[cfg.name])
        return self.instances[cfg.name]

    async def add_instances(
        self,
        cfgs: Sequence[InstanceConfig],
        groups: Sequence[SyncGroupConfig] = (),
        hook_users: Mapping[tuple[str, str], RunAs | None] | None = None,
    ) -> dict[str, str]:
        """Build and start `cfgs` and the sync `groups` they make up (each group with all its members), as
        start-up does; the instances running already are not touched. `hook_users`: the groups' hook users
        looked up already (a reload's preflight), by ("group", name).

        Returns the instances that could not start, each with the sentence that says why: nothing of them is
        left, and a group with such a member is not built (its other members are taken apart again). Raises
        ValueError, before anything is built, for what the configuration check would refuse."""
        if self.scheduler is None or self.driver.stopping:
            raise RuntimeError("add_instances: the daemon is not running")
        self.assembly.check_addable(cfgs, groups, self.config)
        self.config = dataclasses.replace(self.config, sync_groups=(*self.config.sync_groups, *groups))
        every = (*self.config.instances, *cfgs)
        reading, dumps = set(self.links), AddressDumps(self.netlink)
        failed: dict[str, str] = {}
        for cfg in cfgs:  # one at a time, so that one that fails leaves the others
            try:
                (inst,) = await self.assembly.build([cfg], every, dumps)
                await self.monitors.add([inst])
            except (StartupError, TrackingError) as exc:
                failed[cfg.name] = str(exc)
                await self.discard(cfg)
            except BaseException:
                for built in cfgs:
                    await self.discard(built)
                raise
        for group in groups:
            try:
                if lost := [m for m in group.members if m in failed]:
                    raise StartupError(f"sync group {group.name}: its member {lost[0]} could not start")
                run_as = (hook_users or {}).get(("group", group.name))
                if run_as is None:
                    run_as = await self.notifier.resolve_user("group", group.name, group.notify)
                self.notifier.add_group(group, run_as)
                routers = {m: self.instances[m].router for m in group.members}
                await self.monitors.add([], [self.sync.add(group, routers)])
            except (StartupError, HookSetupError, TrackingError) as exc:
                await self.drop_group(group, str(exc), failed)
        added = [cfg for cfg in cfgs if cfg.name not in failed]
        await self.ensure_firewall(added)
        self.config = dataclasses.replace(self.config, instances=(*self.config.instances, *added))
        for key, link in self.links.items():
            if key not in reading:
                self.listener.attach(link, self.scheduler)
        for cfg in added:
            self.run_instance(self.instances[cfg.name])
            log.info("%s: added", cfg.name)
        self.monitors.start()
        return failed

    async def drop_group(self, group: SyncGroupConfig, why: str, failed: dict[str, str]) -> None:
        """A group of `add_instances` cannot run: its members built so far are taken apart again (never started)."""
        if group.name in self.sync.groups:
            self.sync.remove([group.name])
        await self.notifier.remove("group", group.name)
        for member in group.members:
            failed.setdefault(member, why)
            if (inst := self.instances.get(member)) is not None:
                await self.discard(inst.config)
        self.config = dataclasses.replace(
            self.config, sync_groups=tuple(g for g in self.config.sync_groups if g.name != group.name)
        )

    # --- removing ----------------------------------------------------------------------------------------------

    async def remove_instance(self, name: str) -> None:
        """Stop one instance (not of a sync group; see `remove_instances`) and take it apart."""
        await self.remove_instances([name])

    async def remove_instances(self, names: Collection[str], keep_hooks: Collection[tuple[str, str]] = ()) -> None:
        """Stop instances as shutdown stops them all, with the sync groups they are in (ValueError when a group
        would lose only some of its members), and take them apart; the others are not touched. `keep_hooks`:
        (kind, name) of the instances and groups a reload starts again under the same name: their hook queues
        stay, so their on_stop runs before the hooks of what replaces them, and is not waited for here."""
        if self.scheduler is None or self.driver.stopping:
            raise RuntimeError("remove_instances: the daemon is not running")
        stopping = []
        for name in names:
            if name not in self.instances:
                raise KeyError(f"no instance {name}")
            stopping.append(self.instances[name])
        groups = {group.name: group for name in names if (group := self.sync.of(name)) is not None}
        for group in groups.values():
            if missing := [m for m in group.members if m not in names]:
                raise ValueError(f"instance {missing[0]} is in sync group {group.name}: a group stops as a whole")
        for inst in stopping:  # its timer goes with its last deadline; a group's stop reaches every member
            self.driver.feed(inst, ShutdownRequested())
        for inst in stopping:  # out of the receive path, the tracking and the status: nothing else reaches it now
            del self.instances[inst.name]
            inst.link.remove(inst)
        self.sync.remove(groups)
        await self.worker.drain(stopping)
        subjects = [("instance", inst.name) for inst in stopping] + [("group", name) for name in groups]
        await asyncio.gather(*(self.notifier.remove(*s) for s in subjects if s not in keep_hooks))
        self.worker.cancel(stopping)
        for inst in stopping:
            await self.assembly.tear_down(inst.config, self.detach, inst)
            log.info("%s: removed", inst.name)
        gone = {inst.name for inst in stopping}
        self.config = dataclasses.replace(
            self.config,
            instances=tuple(c for c in self.config.instances if c.name not in gone),
            sync_groups=tuple(g for g in self.config.sync_groups if g.name not in groups),
        )
        await self.monitors.release(self.instances.values())

    async def discard(self, cfg: InstanceConfig) -> None:
        """Forget whatever a failed add built of `cfg`: its hooks, the monitors only it used, its macvlan, and the
        link and announcer only it used."""
        await self.notifier.remove("instance", cfg.name)
        await self.monitors.release([other for other in self.instances.values() if other.name != cfg.name])
        await self.assembly.tear_down(cfg, self.detach)
        self.config = dataclasses.replace(
            self.config, instances=tuple(c for c in self.config.instances if c.name != cfg.name)
        )

    def detach(self, link: Link) -> None:
        """Stop reading a link that closes."""
        self.listener.detach(link, self.scheduler)
