"""The daemon's side of tracking (keepalived's track_script / track_interface / track_file): the monitors.

Every instance has a pure `Tracking` (its own interface as an implicit fault tracker, then its configured
interfaces and scripts). A `LinkMonitor` (netlink, subscribed before its initial dump) reports link changes and
one `ScriptMonitor` per script reports rise/fall changes; after each change the instance's effective priority
goes to the router as `PriorityChanged`, then any fault as `Faulted(reasons)`, or `Recovered` once none is left
(the daemon's `_update_tracking`). The initial states are fed before `Started`, so a router whose interface is
down at start goes straight to FAULT; scripts start UNKNOWN (no effect) until they have run. Track files
(vrrpd.services.filetrack) are read once before the routers start, then polled; each value change arrives through
`on_file` like a script's. Group trackers (fault only) reach the sync groups from the same link and script
monitors.

`TrackingMonitors` creates the monitors and turns each change into tracker states; the daemon starts and stops
them and hands the results to the routers and groups through the two callbacks it passes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from vrrpd.config import Config
from vrrpd.net.netlink import AddressManager, LinkInfo, LinkMonitor
from vrrpd.protocol.tracking import TrackerKind, TrackState
from vrrpd.services.filetrack import FileMonitor, create_monitors
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scripts import RunAs, ScriptMonitor, resolve_user_for

if TYPE_CHECKING:
    from vrrpd.daemon.daemon import Instance
    from vrrpd.daemon.syncgroups import SyncGroups

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
        self.scripts: dict[str, ScriptMonitor] = {}
        self.files: dict[str, FileMonitor] = {}

    async def create(self) -> None:
        """Subscribe to link changes and read every link's state; resolve script users; create (not yet start)
        one monitor per script in use."""
        self.link_monitor = self.netlink.link_monitor()
        links = await self.link_monitor.start(self.on_link)
        for inst in self.instances.values():
            for tracker in inst.tracking.trackers:
                if tracker.kind is TrackerKind.INTERFACE:
                    info = links.get(tracker.name)
                    if info is None:
                        log.warning(
                            "%s: tracked interface %s does not exist (counted as down)", inst.config.name, tracker.name
                        )
                    inst.tracking.set_state(tracker.kind, tracker.name, link_state(info))
        for name in self.sync.interfaces():
            if name not in links:
                log.warning("sync group tracked interface %s does not exist (counted as down)", name)
            self.sync.set_initial(TrackerKind.INTERFACE, name, link_state(links.get(name)))
        used = {t.name for inst in self.instances.values() for t in inst.config.track_scripts} | self.sync.scripts()
        for script in self.config.track_scripts:
            if script.name not in used:
                continue
            run_as: RunAs | None = None
            if script.user is not None:
                try:
                    run_as = resolve_user_for(f"track script {script.name}", script.user)
                except ValueError as exc:
                    raise TrackingError(str(exc)) from None
            self.scripts[script.name] = ScriptMonitor(script, self.on_script, self.ratelog, run_as)
        used_files = {t.name for inst in self.instances.values() for t in inst.config.track_files}
        trackings = [inst.tracking for inst in self.instances.values()]
        self.files = await create_monitors(self.config.track_files, used_files, trackings, self.on_file, self.ratelog)

    def on_link(self, name: str, info: LinkInfo | None) -> None:
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
