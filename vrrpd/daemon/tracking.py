"""The daemon's side of tracking (keepalived's track_script / track_interface / track_file): the monitors.

Every instance has a pure `Tracking` (its own interface as an implicit fault tracker, then its configured
interfaces and scripts). A `LinkMonitor` (netlink, subscribed before its initial dump) reports link changes and
one `ScriptMonitor` per script reports rise/fall changes; after each change the instance's effective priority
goes to the router as `PriorityChanged`, then any fault as `Faulted(reasons)`, or `Recovered` once none is left
(vrrpd.daemon.driver's `update_tracking`). The initial states are fed before `Started`, so a router whose
interface is down at start goes straight to FAULT; scripts start UNKNOWN (no effect) until they have run. Track
files (vrrpd.services.filetrack) are read once before the routers start, then polled; each value change arrives
through `on_file` like a script's. Group trackers (fault only) reach the sync groups from the same link and script
monitors.

`TrackingMonitors` creates the monitors and turns each change into tracker states; the daemon starts and stops
them and hands the results to the routers and groups through the two callbacks it passes in. Monitors are shared:
an instance added later (`add`) uses the ones already running and starts only those it is the first to need, and
an instance that goes (`release`) stops those nobody needs any more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping

from vrrpd.config import Config
from vrrpd.daemon.model import Instance
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.net.netlink import AddressManager, LinkInfo, LinkMonitor
from vrrpd.protocol.tracking import TrackerKind, TrackState
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

    async def create(self) -> None:
        """Subscribe to link changes and read every link's state; resolve script users; create (not yet start)
        one monitor per script and file in use, the files read once."""
        self.link_monitor = self.netlink.link_monitor()
        self.links = dict(await self.link_monitor.start(self.on_link))
        await self.add(list(self.instances.values()), groups=True)

    async def add(self, instances: Collection[Instance], groups: bool = False) -> None:
        """Give `instances` their trackers' current states, creating (not starting) the monitors they are the first
        to need; `groups`: the sync groups' trackers too (at start-up)."""
        for inst in instances:
            for tracker in inst.tracking.trackers:
                if tracker.kind is TrackerKind.INTERFACE:
                    info = self.links.get(tracker.name)
                    if info is None:
                        log.warning(
                            "%s: tracked interface %s does not exist (counted as down)", inst.config.name, tracker.name
                        )
                    inst.tracking.set_state(tracker.kind, tracker.name, link_state(info))
        if groups:
            for name in self.sync.interfaces():
                if name not in self.links:
                    log.warning("sync group tracked interface %s does not exist (counted as down)", name)
                self.sync.set_initial(TrackerKind.INTERFACE, name, link_state(self.links.get(name)))
        used = {t.name for inst in instances for t in inst.config.track_scripts} | (
            self.sync.scripts() if groups else set()
        )
        for script in self.config.track_scripts:
            if script.name not in used:
                continue
            monitor = self.scripts.get(script.name)
            if monitor is not None:  # running for others already: its state so far counts for these too
                for inst in instances:
                    inst.tracking.set_state(TrackerKind.SCRIPT, script.name, monitor.state)
                continue
            run_as: RunAs | None = None
            if script.user is not None:
                try:  # NSS may block (LDAP, sssd): in a thread, as the loop may be serving other instances
                    run_as = await asyncio.to_thread(resolve_user_for, f"track script {script.name}", script.user)
                except ValueError as exc:
                    raise TrackingError(str(exc)) from None
            self.scripts[script.name] = ScriptMonitor(script, self.on_script, self.ratelog, run_as)
        used_files = {t.name for inst in instances for t in inst.config.track_files}
        for name in used_files & set(self.files):
            for inst in instances:
                inst.tracking.set_value(name, self.files[name].effective)
        new_files = [f for f in self.config.track_files if f.name not in self.files]
        trackings = [inst.tracking for inst in instances]
        self.files.update(await create_monitors(new_files, used_files, trackings, self.on_file, self.ratelog))

    def start(self) -> None:
        """Start every monitor not running yet."""
        for monitor in (*self.scripts.values(), *self.files.values()):
            if not monitor.started:
                monitor.start()

    async def release(self, others: Collection[Instance]) -> None:
        """Stop the script and file monitors that none of `others` (the instances that stay) nor any sync group
        needs any more."""
        scripts = {t.name for inst in others for t in inst.config.track_scripts} | self.sync.scripts()
        files = {t.name for inst in others for t in inst.config.track_files}
        gone = [self.scripts.pop(n) for n in list(self.scripts) if n not in scripts]
        gone += [self.files.pop(n) for n in list(self.files) if n not in files]
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
