"""Sync groups: virtual routers that are Master together or not at all (keepalived's vrrp_sync_group).

Use: several VIPs that only work from the same router (the inside and outside addresses of a NAT firewall, the
IPv4 and IPv6 addresses of one service). Each member is still an ordinary RFC 9568 virtual router on the wire;
the group only decides *when* its members become Master and makes them leave together. Pure: every entry
point takes `now` and returns what each member must do.

Semantics:
- Together to MASTER. A member never makes itself Master (`RouterConfig.sync_group`); where RFC 9568 would
  (its Master_Down timer expires, §6.4.2, or the owner starts, §6.4.1) it *wants* Master. When every member
  wants Master, and nothing holds the group (below), the group moves them all at once (`GroupMaster`). The
  first member to want Master waits for the others' own elections rather than dragging them along: a member
  whose timer is still running may not yet have heard a higher-priority master on its VRID (just started,
  just recovered, a longer advert interval), and forcing it up would make it lose that election at once and
  take the whole group down again (keepalived: "prefer backup state to avoid thrashing"). The wait is at most
  the longest Master_Down_Interval among the members, and only a Skew_Time after the peer group's priority-0
  adverts.
- Together out of MASTER. When one member leaves Master (a higher-priority advert, §6.4.3; a fault; a stop),
  every other Master member leaves at once (`GroupBackup`) the way a Master shuts down (§6.4.3, R19): it sends
  one advert with priority 0, removes its VIPs and waits as Backup. Priority 0 makes the peers' Backups take
  over after Skew_Time instead of Master_Down_Interval (§6.4.2, R10): the peer group gets all the VIPs within
  one Skew_Time, rather than one VIP at once and the rest ~3 intervals later.
- Held. The group is not Master while: a member is in FAULT (its own interface or fault trackers), a member is
  not running (INITIALIZE), a group tracker has failed (group state FAULT), a member is still in its
  startup_delay, or a member *defers*: its Master_Down timer was last restarted by an advert it must not
  preempt (§6.4.2: equal or higher priority, or preempt off / preempt_delay pending for it). Healthy members
  of a held group stay in BACKUP, not FAULT: a Backup sends nothing and owns nothing (§6.4.2), which is all
  a fault needs on the wire, and each keeps following its VRID's election (master seen, learned interval), so
  the group comes back as soon as the hold ends. A member is FAULT only for its own faults.
- Preemption. A group preempts a peer group only when *every* member would: each has preempt on and hears
  only lower-priority masters (or none). If the peer is higher on even one member, that member defers and
  the group stays Backup. So with priorities where the peer is higher on one member only, the group that
  holds the VIPs keeps them; neither group preempts the other, and nothing flaps.
- No bounce. A member taken out of Master by its group restarts its Master_Down timer and must win its own
  election again (timer expiry without a master it defers to) before the group can return; a forced
  transition never reverses by itself within the same input.
- Stop. Stopping one member stops the group: every member gets the shutdown (priority 0 from each Master).
- Mirrored priorities (router A higher on one member, B on another) are a misconfiguration: if both groups
  are Master at once (start-up, a healed partition), each loses one member's election, so both yield, and
  with symmetric timers they would come back at the same instant and do it again forever. Tie-break, in the
  orientation of RFC 9568 §6.4.3 (the higher primary address wins an equal election): a group that yields
  because a member lost to a router whose address on that link is higher than the member's own holds its
  yielded members one extra Master_Down_Interval (the longest among the members, `GroupBackup.hold`). The
  other group comes back first and takes every VIP; this one then defers. It settles the usual case where
  one host's addresses are lower on every link; if the orders differ between links, timing decides.
  Configure the same router highest on every member.
- Drain. A hard-drained member never wants Master, so it holds its group in Backup ("member X is drained"); one
  drained while Master leaves it (priority 0), and its group takes the others out with it. Soft-drained members
  stand with priority 1 each, so the peer group wins every member's election when there is one. The daemon drains
  a group's members together (`vrrpctl drain` refuses some of them only).
- Trackers of the group itself are fault trackers only (a group has no priority of its own to weigh).
  A group script that has not reported yet holds the group like a failed one (group FAULT, members Backup),
  as a member's own unreported fault script holds it through that member's FAULT (issue #12; keepalived's
  `num_member_init`).
- Every change of the group's state (INITIALIZE when no member runs, whatever the trackers say; else FAULT
  when a member is in FAULT or a group tracker failed, MASTER when every member is, BACKUP) is reported as a
  `GroupStateChanged`, for logs, hooks and event streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vrrpd.protocol.events import (
    Action,
    Drain,
    GroupBackup,
    GroupMaster,
    Input,
    ShutdownRequested,
    State,
    StateChanged,
)
from vrrpd.protocol.router import VirtualRouter
from vrrpd.protocol.tracking import Tracker, TrackerKind, Tracking, TrackState


@dataclass(frozen=True, slots=True)
class GroupStateChanged:
    """The group's own state changed (what a group hook or an event stream reports)."""

    group: str
    old: State
    new: State
    reason: str


@dataclass(slots=True)
class Coordinated:
    """What one input to a group produced: each member's actions in order, then the group's own changes."""

    actions: list[tuple[str, list[Action]]] = field(default_factory=list)
    changes: list[GroupStateChanged] = field(default_factory=list)

    def members(self) -> list[str]:
        """Members that received an input (their timers may have moved)."""
        return list(dict.fromkeys(name for name, _ in self.actions))


class SyncGroup:
    def __init__(self, name: str, members: Mapping[str, VirtualRouter], trackers: Iterable[Tracker] = ()) -> None:
        if not members:
            raise ValueError(f"sync group {name} has no members")
        for member, router in members.items():
            if router.config.sync_group != name:
                raise ValueError(f"{member} is not configured as a member of sync group {name}")
        trackers = tuple(trackers)
        if any(not t.is_fault for t in trackers):
            raise ValueError(f"sync group {name}: group trackers can only fault the group (no weights)")
        self.name = name
        self.members: dict[str, VirtualRouter] = dict(members)
        self.tracking = Tracking(1, trackers)
        self.state = self._derive()
        self.reason = "configured"
        """Why the group is in its state (the reason of its last change)."""

    # --- public API -------------------------------------------------------------------------------------

    @property
    def faults(self) -> tuple[str, ...]:
        """Failed group trackers."""
        return self.tracking.faults

    def held_by(self, now: float) -> str | None:
        """Why the group cannot be Master now, or None."""
        if self.faults:
            return "; ".join(self.faults)
        for name, router in self.members.items():
            if router.state is State.FAULT:
                return f"member {name} is in FAULT ({router.fault_reason})"
            if router.state is State.INITIALIZE:
                return f"member {name} is not running"
        for name, router in self.members.items():
            if router.state is State.BACKUP and router.drain is Drain.HARD:
                return f"member {name} is drained"
            if router.state is State.BACKUP and router.master_hold_until is not None and now < router.master_hold_until:
                return f"member {name} is in its startup_delay"
            if router.state is State.BACKUP and router.defers:
                seen = f"{router.master_address} (priority {router.master_priority})"
                return f"member {name} defers to master {seen}"
        return None

    def waiting_for(self) -> list[str]:
        """Backup members whose own election does not yet say Master (their Master_Down timer is running)."""
        return [n for n, r in self.members.items() if r.state is State.BACKUP and not r.wants_master]

    def handle(self, member: str, event: Input, now: float) -> Coordinated:
        """Feed one member's input, then bring the other members in line."""
        out = Coordinated()
        if isinstance(event, ShutdownRequested):
            for name in self.members:  # a group stops as a whole
                self._feed(out, name, event, now)
            self._track(out, f"member {member} stopped")
            return out
        changed = self._feed(out, member, event, now)
        self._coordinate(out, now, f"member {member}: {changed.reason}" if changed else None)
        return out

    def tracker_changed(self, kind: TrackerKind, name: str, state: TrackState, now: float) -> Coordinated:
        """A group tracker's state changed (nothing happens if the group has no such tracker)."""
        out = Coordinated()
        if self.tracking.set_state(kind, name, state):
            self._coordinate(out, now, "; ".join(self.faults) if self.faults else "group trackers recovered")
        return out

    def retrack(
        self, trackers: Iterable[Tracker], states: Mapping[tuple[TrackerKind, str], TrackState], now: float
    ) -> Coordinated:
        """A reload changed the group's own trackers; its members keep running. A tracker the group had keeps its
        state (one it still waits for keeps holding it), a new one starts in `states` (UNKNOWN when absent, which
        does not hold a running group: keepalived 2.2.7's SCRIPT_INIT_STATE_INIT_RELOAD); then the members are
        brought in line (a failing tracker that went takes the hold away, a failing one that came holds the group)."""
        trackers = tuple(trackers)
        if any(not t.is_fault for t in trackers):
            raise ValueError(f"sync group {self.name}: group trackers can only fault the group (no weights)")
        old, self.tracking = self.tracking, Tracking(1, trackers)
        self.tracking.carry_over(old)  # a new script does not hold a running group before it has spoken
        for tracker in trackers:
            if tracker.key not in old.states:
                self.tracking.set_state(tracker.kind, tracker.name, states.get(tracker.key, TrackState.UNKNOWN))
        out = Coordinated()
        self._coordinate(out, now, "; ".join(self.faults) if self.faults else "group trackers changed")
        return out

    # --- internals --------------------------------------------------------------------------------------

    def _feed(self, out: Coordinated, member: str, event: Input, now: float) -> StateChanged | None:
        actions = self.members[member].handle(event, now)
        out.actions.append((member, actions))
        changes = [a for a in actions if isinstance(a, StateChanged)]
        return changes[-1] if changes else None

    def _coordinate(self, out: Coordinated, now: float, why: str | None) -> None:
        masters = [n for n, r in self.members.items() if r.state is State.MASTER]
        held = self.held_by(now)
        if masters and (len(masters) < len(self.members) or self.faults):
            reason = f"sync group {self.name}: {held or why or 'a member left MASTER'}"
            hold = max(r.master_down_interval for r in self.members.values()) if self._lost_tie() else 0.0
            for name in masters:
                self._feed(out, name, GroupBackup(reason, hold), now)
        elif not masters and held is None and all(r.wants_master for r in self.members.values()):
            why = "every member's master down timer expired"
            for name in self.members:
                self._feed(out, name, GroupMaster(f"sync group {self.name}: {why}"), now)
        self._track(out, why or held or "members changed")

    def _lost_tie(self) -> bool:
        """A member stepped down to a master whose address is higher than its own (see "Mirrored priorities")."""
        return any(
            r.state is State.BACKUP
            and r.defers
            and r.master_address is not None
            and int(r.master_address) > int(r.primary_address)
            for r in self.members.values()
        )

    def _derive(self) -> State:
        states = [r.state for r in self.members.values()]
        # First: a group whose members are all stopped is stopped (its STOP hook runs), failed trackers or not.
        if all(s is State.INITIALIZE for s in states):
            return State.INITIALIZE
        if self.tracking.faults or State.FAULT in states:
            return State.FAULT
        if all(s is State.MASTER for s in states):
            return State.MASTER
        return State.BACKUP

    def _track(self, out: Coordinated, reason: str) -> None:
        new = self._derive()
        if new is State.FAULT and self.tracking.faults:
            reason = "; ".join(self.tracking.faults)  # the group's own trackers say why (a start held by a script)
        if new is not self.state:
            out.changes.append(GroupStateChanged(self.name, self.state, new, reason))
            self.state, self.reason = new, reason
