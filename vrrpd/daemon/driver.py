"""Driving the core: inputs go into the routers (and sync groups), their actions come out and are carried out.

aioquic's adapter rule: after every input, do what the core asked, then re-arm its one deadline if it moved. Here
`feed` hands an input to the instance's router, or to its sync group, which feeds the member and then moves the
other members with it (vrrpd.protocol.syncgroup); `apply` carries out the actions in order:

- `SendAdvert` leaves at once, from this very call (an unchanged advert is not encoded again), unless the virtual
  MAC's carrier is still coming up: then it queues behind the "up" in the instance's worker;
- address changes and announcements are queued for the instance's ordered worker (vrrpd.daemon.worker): netlink
  and nftables are slow, and the state machine never waits for them. A reload's `UpdateAddresses` (a Master's
  list changed) removes before it adds, and the `Announce` that follows it bursts beside the running one;
- `StateChanged` is logged, goes to the event stream and the hooks (vrrpd.services.hooks, which never wait), and
  queues one STATUS= update per loop iteration.

Deadlines go to the scheduler (vrrpd.services.scheduler: all of them on one timerfd); `on_deadline` is what it
calls back. Tracking reaches the routers through `update_tracking`: the effective priority first (a `priority` event
in the stream, with the trackers that make it), then the faults or their end.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from vrrpd.daemon.model import (
    AddVips,
    AnnounceVips,
    InstallRoutes,
    Instance,
    RemoveVips,
    SendWire,
    VmacDown,
    VmacUp,
    WithdrawRoutes,
)
from vrrpd.daemon.status import summary
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.protocol import (
    Action,
    AddAddresses,
    AdvertReceived,
    Announce,
    Faulted,
    Input,
    Log,
    PriorityChanged,
    Recovered,
    RemoveAddresses,
    SendAdvert,
    State,
    StateChanged,
    TimerExpired,
    UpdateAddresses,
    encode,
)
from vrrpd.protocol.packet import IPAddress
from vrrpd.protocol.syncgroup import Coordinated, GroupStateChanged
from vrrpd.protocol.tracking import TrackerKind, Tracking, TrackState
from vrrpd.services import sdnotify
from vrrpd.services.hooks import Notifier
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scheduler import MAX_SLACK, Scheduler

log = logging.getLogger("vrrpd")


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class Driver:
    """Feeds the routers of `instances` and carries out what they answer."""

    instances: dict[str, Instance]
    sync: SyncGroups
    notifier: Notifier
    ratelog: RateLimitedLogger
    loop: asyncio.AbstractEventLoop
    scheduler: Scheduler | None = None
    """Set once the daemon runs; until then no deadline is armed (the routers have not started)."""
    stopping: bool = False
    """The daemon is stopping: tracking no longer moves the routers, and no STATUS= follows STOPPING=1."""
    status_due: bool = False
    """A STATUS= update is queued for this loop iteration (`push_status`)."""
    silent_groups: dict[str, dict[str, object]] = field(default_factory=dict)
    """Sync groups in a start-up FAULT whose hooks have not run: the group only waits for fault scripts' first
    results (keepalived keeps such a group in its init state, `num_member_init`, and notifies nothing). Their
    hooks run if the wait turns into a failure (`wake_silent_groups`), or with the group's next transition."""

    # --- inputs ----------------------------------------------------------------------------------------------------

    def feed(self, inst: Instance, event: Input, now: float | None = None) -> None:
        now = self.loop.time() if now is None else now
        group = self.sync.of(inst.config.name)
        if group is not None:  # the group feeds the member, then moves the other members with it
            self.apply_group(group.handle(inst.config.name, event, now))
            return
        self.apply(inst, inst.router.handle(event, now))
        self.arm(inst)

    def feed_advert(self, inst: Instance, event: AdvertReceived) -> None:
        """A received advert: `heard_again` if it is a repeat the router takes as one, else `feed`."""
        now = self.loop.time()
        if not self.heard_again(inst, event, now):
            self.feed(inst, event, now)

    def heard_again(self, inst: Instance, event: AdvertReceived, now: float) -> bool:
        """A Backup's repeat of the advert it follows restarts its Master_Down_Timer and nothing else
        (VirtualRouter.heard_again): no actions to carry out, and a deadline that only moved later, which the
        scheduler just records. False: `event` must go through `feed` (it is no such repeat: a member of a sync group
        never takes one, its group looks at every input)."""
        name = inst.config.name
        if self.scheduler is None:
            return False
        deadline = inst.router.heard_again(event, now)
        if deadline is None:
            return False
        inst.timer_at = deadline
        self.scheduler.set(name, deadline)
        return True

    def on_deadline(self, name: str, now: float) -> None:
        inst = self.instances[name]
        inst.timer_at = None
        self.feed(inst, TimerExpired(), now)

    def slack(self, name: str) -> float:
        """How early a router's timer may be served to share a wake-up: only a master's Adver_Timer, by at most
        5% of its interval (an advert 0.5 ms early at 10 ms is harmless); a Master_Down_Timer never early."""
        inst = self.instances[name]
        if inst.router.state is not State.MASTER:
            return 0.0
        return min(MAX_SLACK, inst.config.advert_interval * 0.05)

    def update_tracking(self, inst: Instance) -> None:
        """Hand the router what tracking now says: the effective priority first (so a recovering router
        restarts with it), then the faults or their end."""
        if self.stopping:
            return
        router, tracking = inst.router, inst.tracking
        priority = tracking.priority
        if priority != router.priority:
            reason = priority_reason(tracking)
            log.info("%s: effective priority %d -> %d (%s)", inst.config.name, router.priority, priority, reason)
            if router.state is not State.INITIALIZE:  # a router that has not started has no priority to change yet
                fields = {"old": router.priority, "new": priority, "reason": reason}
                self.notifier.record("priority", "instance", inst.config.name, fields)
            self.feed(inst, PriorityChanged(priority))
        faults = tracking.faults
        if faults:
            reason = "; ".join(faults)
            if router.fault_reason != reason:
                self.feed(inst, Faulted(reason))
            if inst.silent_fault is not None and router.state is State.FAULT and not tracking.only_waiting:
                event, inst.silent_fault = inst.silent_fault, None
                self.notifier.run_hooks("instance", inst.config.name, event, reason, router.priority)
                self.wake_silent_groups()
        elif router.fault_reason is not None:
            log.info("%s: fault cleared (%s)", inst.config.name, router.fault_reason)
            self.feed(inst, Recovered())

    def update_groups(self, kind: TrackerKind, name: str, state: TrackState) -> None:
        if not self.stopping:
            for out in self.sync.changed(kind, name, state, self.loop.time()):
                self.apply_group(out)
            self.wake_silent_groups()

    def group_waits(self, name: str) -> bool:
        """Sync group `name` is held only by fault scripts that have not reported yet: its own, or those of the
        members in FAULT (each of which is in a silent start-up FAULT)."""
        group = self.sync.groups[name]
        if group.tracking.faults and not group.tracking.only_waiting:
            return False
        faulted = [member for member, router in group.members.items() if router.state is State.FAULT]
        return all(self.instances[member].silent_fault is not None for member in faulted)

    def wake_silent_groups(self) -> None:
        """Run the hooks of each silent start-up group FAULT whose wait has turned into a failure."""
        for name, event in list(self.silent_groups.items()):
            group = self.sync.groups.get(name)
            if group is None or group.state is not State.FAULT:
                del self.silent_groups[name]
            elif not self.group_waits(name):
                del self.silent_groups[name]
                self.notifier.run_hooks("group", name, event, group.held_by(self.loop.time()) or group.reason, 0)

    # --- actions ---------------------------------------------------------------------------------------------------

    def apply_group(self, out: Coordinated) -> None:
        for name, actions in out.actions:
            self.apply(self.instances[name], actions)
        for name in out.members():
            self.arm(self.instances[name])
        for change in out.changes:
            self.group_changed(change)

    def group_changed(self, change: GroupStateChanged) -> None:
        """One sync group transition, in order: logged, then to the event stream and the group's hooks."""
        log.info("sync group %s: %s -> %s (%s)", change.group, change.old, change.new, change.reason)
        # A group has no priority of its own: 0, as keepalived passes to a group's notify script.
        silent = change.old is State.INITIALIZE and change.new is State.FAULT and self.group_waits(change.group)
        event = self.notifier.transition(
            "group", change.group, change.old, change.new, change.reason, 0, hooks=not silent
        )
        self.silent_groups.pop(change.group, None)
        if silent and event is not None:
            self.silent_groups[change.group] = event

    def arm(self, inst: Instance) -> None:
        deadline = inst.router.next_deadline()
        if deadline == inst.timer_at or self.scheduler is None:
            return
        inst.timer_at = deadline
        self.scheduler.set(inst.config.name, deadline)

    def apply(self, inst: Instance, actions: list[Action]) -> None:
        updated = False  # an UpdateAddresses came first: the Announce after it is for the addresses a reload added
        for action in actions:
            if isinstance(action, SendAdvert):
                self.send(inst, action)
            elif isinstance(action, AddAddresses):
                if inst.vmac is not None:
                    inst.vmac.pending_up += 1
                    inst.ops.put_nowait(VmacUp())
                inst.ops.put_nowait(AddVips(action.addresses + excluded(inst)))
                if inst.config.routes or inst.config.rules:
                    inst.ops.put_nowait(InstallRoutes(inst.config.routes, inst.config.rules))
            elif isinstance(action, RemoveAddresses):
                inst.stop_announcing()
                inst.ops.put_nowait(WithdrawRoutes())
                inst.ops.put_nowait(RemoveVips(action.addresses + excluded(inst)))
                if inst.vmac is not None:
                    inst.ops.put_nowait(VmacDown())
            elif isinstance(action, UpdateAddresses):
                updated = True  # still Master: the virtual MAC stays up, the announcement goes on
                if action.removed:
                    inst.ops.put_nowait(RemoveVips(action.removed))
                if action.added:
                    inst.ops.put_nowait(AddVips(action.added))
            elif isinstance(action, Announce):
                # A reload's Announce is for the advertised addresses it added; inplace announces excluded ones.
                extra = () if updated else excluded(inst)
                inst.ops.put_nowait(AnnounceVips(action.addresses + extra, beside=updated))
            elif isinstance(action, StateChanged):
                log.info("%s: %s -> %s (%s)", inst.config.name, action.old, action.new, action.reason)
                # A start that only waits for its fault scripts is FAULT in status and events, but keepalived
                # runs no notify script for it: the hooks follow once the wait becomes a failure, or the next state.
                silent = action.old is State.INITIALIZE and action.new is State.FAULT and inst.tracking.only_waiting
                event = self.notifier.transition(
                    "instance",
                    inst.config.name,
                    action.old,
                    action.new,
                    action.reason,
                    inst.router.priority,
                    hooks=not silent,
                )
                inst.silent_fault = event if silent else None
                if not self.stopping and not self.status_due:
                    # One update per loop iteration, not per transition: 100 instances starting would cost 100
                    # summaries of 100 instances each before READY (issue #6).
                    self.status_due = True
                    self.loop.call_soon(self.push_status)
            elif isinstance(action, Log):
                self.ratelog.log(
                    getattr(logging, action.level.upper(), logging.INFO),
                    f"{inst.config.name}:{action.key}",
                    "%s: %s",
                    inst.config.name,
                    action.message,
                )

    def push_status(self) -> None:
        self.status_due = False
        if not self.stopping:  # after STOPPING=1 systemd shows our last running status, not teardown
            sdnotify.status(summary(self.instances.values()))

    def send(self, inst: Instance, action: SendAdvert) -> None:
        if inst.unicast is not None:
            for peer, exc in inst.unicast.transmit(inst.tx, action.advert, inst.config.checksum):
                inst.send_errors += 1
                name = inst.config.name
                self.ratelog.log(
                    logging.WARNING, f"send:{name}:{peer}", "%s: cannot send advert to peer %s: %s", name, peer, exc
                )
            return
        # The router hands out the same Advert object while nothing in it changes.
        if inst.wire is not None and inst.wire[0] is action.advert:
            wire = inst.wire[1]
        else:
            wire = encode(action.advert, inst.source, checksum_form=inst.config.checksum)
            inst.wire = (action.advert, wire)
        if inst.vmac is not None and inst.vmac.pending_up:
            # The macvlan is still in protodown: the worker sends this once its carrier is up (after the VIPs
            # are added), instead of the kernel silently dropping it now.
            inst.ops.put_nowait(SendWire(wire))
            return
        transmit(inst, wire, self.ratelog)


TRACKER_WORDS = {TrackerKind.SCRIPT: "track script", TrackerKind.INTERFACE: "interface", TrackerKind.FILE: "track file"}


def priority_reason(tracking: Tracking) -> str:
    """Why the effective priority is what it is, for logs and `priority` events: the base, then each tracker that
    moves it (``base 150, track script chk_web down -50``), and the clamp when there is one (1..254)."""
    parts, total = [f"base {tracking.base_priority}"], tracking.base_priority
    for tracker in tracking.trackers:
        if contribution := tracking.contribution(tracker):
            total += contribution
            state = tracking.states[tracker.key].value
            if (value := tracking.value(tracker)) is not None:
                state = f"{state} (value {value})"
            parts.append(f"{TRACKER_WORDS[tracker.kind]} {tracker.name} {state} {contribution:+d}")
    if total != tracking.priority:
        parts.append(f"clamped to {tracking.priority}")
    return ", ".join(parts)


def excluded(inst: Instance) -> tuple[IPAddress, ...]:
    """The addresses a Master owns besides those in its adverts (keepalived's virtual_ipaddress_excluded): the
    core never sees them (RouterConfig.addresses is what is advertised), so they go and come with its actions."""
    return tuple(a.ip for a in inst.config.excluded_addresses)


def transmit(inst: Instance, wire: bytes, ratelog: RateLimitedLogger) -> None:
    """Send one encoded advert to the group; a failure is counted and logged (rate-limited), never raised: the
    next advert is only an interval away."""
    try:
        inst.tx.send(wire, inst.source)
    except OSError as exc:
        inst.send_errors += 1
        ratelog.log(logging.WARNING, f"send:{inst.config.name}", "%s: cannot send advert: %s", inst.config.name, exc)
