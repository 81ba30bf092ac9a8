"""The daemon's side of tracking (keepalived's track_script / track_interface / track_file): the monitors.

Every instance has a pure `Tracking` (its own interface as an implicit fault tracker, then its configured
interfaces and scripts). A `LinkMonitor` (netlink, subscribed before its initial dump) reports link changes and
one `ScriptMonitor` per script reports rise/fall changes; after each change the instance's effective priority
goes to the router as `PriorityChanged`, then any fault as `Faulted(reasons)`, or `Recovered` once none is left
(vrrpd.daemon.driver's `update_tracking`). The initial states are fed before `Started`, so a router whose
interface is down at start goes straight to FAULT; scripts start UNKNOWN (no weight) until they have run, and a
router with an `on_failure: fault` script waits in FAULT for its first result (issue #12), unless the script
says `initial_state: down` (then it is failed from the start). Track
files (vrrpd.services.filetrack) are read once before the routers start, then polled; each value change arrives
through `on_file` like a script's. Group trackers (fault only) reach the sync groups from the same link and script
monitors.

`TrackingMonitors` creates the monitors and turns each change into tracker states; the daemon starts and stops
them and hands the results to the routers and groups through the two callbacks it passes in. Monitors are shared:
an instance added later (`add`) uses the ones already running and starts only those it is the first to need, and
an instance that goes (`release`) stops those nobody needs any more. A reload replaces the monitor of a definition
it changes (`redefine`, a script's state carried over) and gives an instance whose trackers change a new `Tracking`
with the states of the trackers it keeps (`retrack`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Mapping

from vrrpd.config import Config, ScriptConfig
from vrrpd.config.track_files import FileConfig
from vrrpd.daemon.model import Instance
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.net.netlink import AddressManager, LinkInfo, LinkMonitor
from vrrpd.protocol.syncgroup import SyncGroup
from vrrpd.protocol.tracking import TrackerKind, Tracking, TrackState
from vrrpd.services.filetrack import FileMonitor, create_monitors
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scripts import RunAs, ScriptMonitor, resolve_user_for

log = logging.getLogger("vrrpd")


class TrackingError(Exception):
    """A tracker cannot be set up (a script's user does not exist...); the daemon reports it as its StartupError."""


class TrackingMonitors:
    """The link, script and file monitors of one daemon; each change goes to the instances' and groups'
    trackers, then to `update` (per affected instance) and `update_groups`."""

    def __init__(
        self,
        config: Config,
        netlink: AddressManager,
        sync: SyncGroups,
        ratelog: RateLimitedLogger,
        instances: Mapping[str, Instance],
        update: Callable[[Instance], None],
        update_groups: Callable[[TrackerKind, str, TrackState], None],
    ) -> None:
        self.config = config
        self.netlink = netlink
        self.sync = sync
        self.ratelog = ratelog
        self.instances = instances
        self.update = update
        self.update_groups = update_groups
        self.link_monitor: LinkMonitor | None = None
        self.links: dict[str, LinkInfo] = {}
        """Every link of the namespace as the link monitor last reported it (an added instance starts from it)."""
        self.scripts: dict[str, ScriptMonitor] = {}
        self.files: dict[str, FileMonitor] = {}
        self.fresh: list[ScriptMonitor | FileMonitor] = []
        """Monitors created and not yet started (`start`)."""

    async def create(self) -> None:
        """Subscribe to link changes and read every link's state; resolve script users; create (not yet start)
        one monitor per script and file in use, the files read once."""
        self.link_monitor = self.netlink.link_monitor()
        self.links = dict(await self.link_monitor.start(self.on_link))
        await self.add(list(self.instances.values()), list(self.sync.groups.values()))

    async def add(
        self,
        instances: Collection[Instance],
        groups: Collection[SyncGroup] = (),
        users: Mapping[str, RunAs | None] | None = None,
    ) -> None:
        """Give `instances` and the sync `groups` (newly built) their trackers' current states, creating (not
        starting) the monitors they are the first to need. `users`: script users already looked up (a reload's
        preflight); any other is looked up here, in a thread."""
        for inst in instances:
            for tracker in inst.tracking.trackers:
                if tracker.kind is TrackerKind.INTERFACE:
                    info = self.links.get(tracker.name)
                    if info is None:
                        log.warning(
                            "%s: tracked interface %s does not exist (counted as down)", inst.config.name, tracker.name
                        )
                    inst.tracking.set_state(tracker.kind, tracker.name, link_state(info))
        trackings = [inst.tracking for inst in instances] + [group.tracking for group in groups]
        for group in groups:
            for tracker in group.tracking.trackers:
                if tracker.kind is TrackerKind.INTERFACE:
                    if tracker.name not in self.links:
                        log.warning("sync group tracked interface %s does not exist (counted as down)", tracker.name)
                    group.tracking.set_state(tracker.kind, tracker.name, link_state(self.links.get(tracker.name)))
        used = {t.name for tracking in trackings for t in tracking.trackers if t.kind is TrackerKind.SCRIPT}
        for name in used & self.scripts.keys():  # running for others already: its state so far counts for these too
            for tracking in trackings:
                tracking.set_state(TrackerKind.SCRIPT, name, self.scripts[name].state)
        used_files = {t.name for inst in instances for t in inst.config.track_files}
        for name in used_files & self.files.keys():
            for inst in instances:
                inst.tracking.set_value(name, self.files[name].effective)
        await self.make(used, used_files, trackings, users or {})

    async def prepare(self, config: Config, users: Mapping[str, RunAs | None]) -> None:
        """Create (not start) a monitor for every script and file that `config`'s instances and sync groups use and
        that has none yet, the files read once, the scripts' users looked up already (`users`), so that what a
        reload does next finds every monitor it needs and cannot fail on one."""
        scripts = {t.name for c in (*config.instances, *config.sync_groups) for t in c.track_scripts}
        await self.make(scripts, {t.name for c in config.instances for t in c.track_files}, (), users)

    async def make(
        self, scripts: set[str], files: set[str], trackings: Collection[Tracking], users: Mapping[str, RunAs | None]
    ) -> None:
        """Create (not start) a monitor for each of the `scripts` and `files` (names) that has none; the files are
        read once, and `trackings` get what they hold."""
        for script in self.config.track_scripts:
            if script.name in scripts and script.name not in self.scripts:
                monitor = ScriptMonitor(script, self.on_script, self.ratelog, await self.user_of(script, users))
                self.scripts[script.name] = monitor
                self.fresh.append(monitor)
                for tracking in trackings:  # `initial_state: down` counts from the start (keepalived's init_fail)
                    tracking.set_state(TrackerKind.SCRIPT, script.name, monitor.state)
        new_files = [f for f in self.config.track_files if f.name not in self.files]
        created = await create_monitors(new_files, files, trackings, self.on_file, self.ratelog)
        self.files.update(created)
        self.fresh += created.values()

    async def user_of(self, script: ScriptConfig, users: Mapping[str, RunAs | None]) -> RunAs | None:
        """Whom `script` runs as: looked up already (`users`), or now, in a thread (NSS may block: LDAP, sssd)."""
        if script.user is None:
            return None
        if script.name in users:
            return users[script.name]
        try:
            return await asyncio.to_thread(resolve_user_for, f"track script {script.name}", script.user)
        except ValueError as exc:
            raise TrackingError(str(exc)) from None

    async def redefine(
        self, scripts: Iterable[ScriptConfig], files: Iterable[FileConfig], users: Mapping[str, RunAs | None]
    ) -> None:
        """A reload changed these definitions: each running monitor of one is replaced by a new one (not yet
        started). A script's state carries over (the instances see no change until the new check has spoken); a
        file is read again at once, and what it holds now reaches the instances tracking it."""
        replaced: list[ScriptMonitor | FileMonitor] = []
        for script in scripts:
            if (old := self.scripts.get(script.name)) is not None:
                run_as = await self.user_of(script, users)
                new = ScriptMonitor(script, self.on_script, self.ratelog, run_as, state=old.state)
                self.scripts[script.name] = new
                self.fresh.append(new)
                replaced.append(old)
                log.info(
                    "track script %s: definition changed; its check restarts (state %s kept)", script.name, old.state
                )
        reread = []
        for file in files:
            if (previous := self.files.get(file.name)) is not None:
                (monitor,) = (await create_monitors([file], {file.name}, (), self.on_file, self.ratelog)).values()
                self.files[file.name] = monitor
                self.fresh.append(monitor)
                replaced.append(previous)
                reread.append(file.name)
                log.info("track file %s: definition changed; its monitor restarts", file.name)
        await asyncio.gather(*(monitor.stop() for monitor in replaced))
        for name in reread:
            self.on_file(name, self.files[name].effective)

    async def retrack(self, inst: Instance, users: Mapping[str, RunAs | None]) -> None:
        """A reload changed the trackers or the base priority of `inst` (whose `config` is the new one already).
        A tracker it had keeps its state; a new one starts from its monitor (created if it is the first user). A new
        fault script that has not reported yet does not hold the running instance in FAULT (`Tracking.carry_over`)."""
        cfg, old = inst.config, inst.tracking
        if cfg.trackers == old.trackers:
            old.base_priority = cfg.priority
            return
        inst.tracking = Tracking(cfg.priority, cfg.trackers)
        inst.tracking.carry_over(old)
        await self.add([inst], users=users)

    def state_of(self, kind: TrackerKind, name: str) -> TrackState:
        """What the monitors say of a tracker now (UNKNOWN for a script whose check has not spoken)."""
        if kind is TrackerKind.INTERFACE:
            return link_state(self.links.get(name))
        monitor = self.scripts.get(name)
        return monitor.state if monitor is not None else TrackState.UNKNOWN

    def start(self) -> None:
        """Start the monitors created since the last start (one stopped on purpose stays stopped)."""
        for monitor in self.fresh:
            if not monitor.started:
                monitor.start()
        self.fresh.clear()

    async def release(self, others: Collection[Instance]) -> None:
        """Stop the script and file monitors that none of `others` (the instances that stay) nor any sync group
        needs any more."""
        scripts = {t.name for inst in others for t in inst.config.track_scripts} | self.sync.scripts()
        files = {t.name for inst in others for t in inst.config.track_files}
        gone = [self.scripts.pop(n) for n in list(self.scripts) if n not in scripts]
        gone += [self.files.pop(n) for n in list(self.files) if n not in files]
        self.fresh = [monitor for monitor in self.fresh if monitor not in gone]
        await asyncio.gather(*(monitor.stop() for monitor in gone))

    async def stop(self) -> None:
        """Stop every script and file monitor: running checks are killed (their whole process group) and reaped."""
        await asyncio.gather(*(monitor.stop() for monitor in (*self.scripts.values(), *self.files.values())))

    def on_link(self, name: str, info: LinkInfo | None) -> None:
        if info is None:
            self.links.pop(name, None)
        else:
            self.links[name] = info
        state = link_state(info)
        affected = [
            inst for inst in self.instances.values() if inst.tracking.set_state(TrackerKind.INTERFACE, name, state)
        ]
        if affected:
            log.info("interface %s is %s", name, "gone" if info is None else state.value)
        for inst in affected:
            self.update(inst)
        self.update_groups(TrackerKind.INTERFACE, name, state)

    def on_script(self, name: str, state: TrackState) -> None:
        for inst in self.instances.values():
            if inst.tracking.set_state(TrackerKind.SCRIPT, name, state):
                self.update(inst)
        self.update_groups(TrackerKind.SCRIPT, name, state)

    def on_file(self, name: str, value: int | None) -> None:
        for inst in self.instances.values():
            if inst.tracking.set_value(name, value):
                self.update(inst)


def link_state(info: LinkInfo | None) -> TrackState:
    return TrackState.UP if info is not None and info.up else TrackState.DOWN
