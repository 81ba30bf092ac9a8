"""The VRRP virtual router state machine (RFC 9568 §6; RFC 3768 §6 where v2 differs).

Rules this module keeps:
- Everything that changes a router's state lives here (with the handler mixins of vrrpd.protocol.adverts and
  vrrpd.protocol.drain), and nothing here does I/O: no sockets, clocks, subprocesses or netlink. Every entry point
  takes `now` (seconds, any monotonic origin); the router answers with a list of actions and exposes its one next
  deadline through `next_deadline()`.
- Timers are deadlines stored in the router (Master_Down_Timer in BACKUP, Adver_Timer in MASTER), never
  timer handles. The caller feeds `TimerExpired()` once `now >= next_deadline()`.
- Every (state, input) pair has an entry in `TRANSITIONS`, with the states its handler may move to (h11's
  transitions as data); one `set_state()` emits each transition and refuses any the table does not list.
- Skew_Time and Master_Down_Interval are derived from the *effective* priority and the learned
  Master_Adver_Interval whenever they are needed, so adopting an interval recomputes both (RFC 9568 §6.4.2).
- Remote input never raises: an advert that must be ignored is counted under `counters.drops[reason]`.
- Two address owners (priority 255) on one VRID, and the checks of every received advert: see
  vrrpd.protocol.adverts (whose handlers are VirtualRouter's too).
- A member of a sync group (`RouterConfig.sync_group`) never makes itself Master: where the RFC would (Master_Down
  timer expiry, the owner's start) it sets `wants_master` and stays Backup; the group (vrrpd.protocol.syncgroup)
  then moves every member with `GroupMaster`, or takes them out with `GroupBackup`. `defers` records that the
  Master_Down timer was last restarted by a master this router must not preempt (§6.4.2), which holds the group.
- A Backup's repeat (`heard_again`): the advert it last followed, arriving again, is what a backup receives nearly
  always (a master sends the same advert every interval). Its whole effect is known once the first one was handled
  by the rules (counted, Master_Down_Timer restarted from `now`, the master seen at `now`), so the router answers it
  with that and nothing else, as long as no other input came in between, the first one's outcome did not hang on
  the clock (a preempt_delay hold) or ask for anything (a log line, such as an owner's conflict, or a message-only
  checksum to count), and the router is in no sync group (the group looks at every input of its members).
- Drain (`vrrpctl drain`, `Drained` / `Resumed`): its rules, and its handlers, are in vrrpd.protocol.drain.
"""

from __future__ import annotations

from collections.abc import Callable

from vrrpd.protocol.adverts import LOWER_PRIORITY_ANNOUNCE_HOLDOFF, AdvertHandlers
from vrrpd.protocol.constants import MIN_PRIORITY, OWNER_PRIORITY
from vrrpd.protocol.drain import DrainHandlers
from vrrpd.protocol.events import (
    Action,
    AddAddresses,
    AdvertReceived,
    Announce,
    Drain,
    Drained,
    Faulted,
    GroupBackup,
    GroupMaster,
    Input,
    Log,
    PriorityChanged,
    Reconfigured,
    Recovered,
    RemoveAddresses,
    Resumed,
    SendAdvert,
    ShutdownRequested,
    Started,
    State,
    StateChanged,
    TimerExpired,
    UpdateAddresses,
)
from vrrpd.protocol.packet import Advert, IPAddress
from vrrpd.protocol.parameters import Counters, RouterConfig
from vrrpd.protocol.timers import master_down_interval, skew_time

# LOWER_PRIORITY_ANNOUNCE_HOLDOFF lives with the advert handlers; it stays importable from here, as before.
__all__ = ["LOWER_PRIORITY_ANNOUNCE_HOLDOFF", "TRANSITIONS", "VirtualRouter"]


class VirtualRouter(AdvertHandlers, DrainHandlers):
    """One VRRP virtual router: one (interface, family, VRID)."""

    def __init__(self, config: RouterConfig, primary_address: IPAddress) -> None:
        if primary_address.version != config.family:
            raise ValueError(f"primary address {primary_address} is not of the router's family")
        self.config = config
        self.primary_address = primary_address
        """Our own advert source (RFC 9568 §5.1.1.1/§5.1.2.1), used for the equal-priority tie-break."""
        self.state = State.INITIALIZE
        self.priority = config.priority
        """Effective priority: base priority moved by tracking."""
        self.master_adver_interval_cs = config.advert_interval_cs
        self.master_down_at: float | None = None
        self.adver_at: float | None = None
        self.preempt_hold_until: float | None = None
        self.master_hold_until: float | None = None
        """startup_delay: no transition to Master before this time."""
        self.lower_priority_announced_at: float | None = None
        self.fault_reason: str | None = None
        self.master_address: IPAddress | None = None
        self.master_priority: int | None = None
        self.master_seen_at: float | None = None
        self.owner_conflict: IPAddress | None = None
        """Another router advertising priority 255 while we own the addresses too (sticky: see `conflict`)."""
        self.owner_conflict_seen_at: float | None = None
        self.wants_master = False
        """Sync group member only: the RFC would make it Master now (timer expired, or owner); the group decides."""
        self.defers = False
        """Backup whose Master_Down timer was last restarted by a master it must not preempt (§6.4.2)."""
        self.drain: Drain | None = None
        """The operator's drain (`Drained`), or None: see the module's docstring."""
        self.counters = Counters()
        self._follows: AdvertReceived | None = None
        """The advert a Backup last followed with nothing else to do, while no other input came (`heard_again`)."""
        self._follows_mdi = 0.0
        """Master_Down_Interval as it was when `_follows` was handled (nothing it derives from has changed since)."""
        self._last_advert: Advert | None = None
        self._last_advert_config: RouterConfig | None = None
        self._targets: frozenset[State] = frozenset()
        """Where the input being handled may move the state (its row of TRANSITIONS)."""

    # --- public API -------------------------------------------------------------------------------------

    @property
    def election_priority(self) -> int:
        """The priority this router stands for election with: the effective one, or 1 while soft-drained (every
        other router wins). A hard-drained router never stands; its timers keep its effective priority."""
        return MIN_PRIORITY if self.drain is Drain.SOFT else self.priority

    @property
    def skew_time(self) -> float:
        return skew_time(self.election_priority, self.master_adver_interval_cs, self.config.version)

    @property
    def master_down_interval(self) -> float:
        return master_down_interval(self.election_priority, self.master_adver_interval_cs, self.config.version)

    def next_deadline(self) -> float | None:
        if self.state is State.BACKUP:
            return self.master_down_at
        if self.state is State.MASTER:
            return self.adver_at
        return None

    def handle(self, event: Input, now: float) -> list[Action]:
        handler, self._targets = TRANSITIONS[(self.state, type(event))]
        self._follows = None
        actions: list[Action] = []
        handler(self, event, now, actions)
        return actions

    @property
    def following(self) -> AdvertReceived | None:
        """The advert `heard_again` takes as a repeat now, if any."""
        return self._follows

    def follow(self, event: AdvertReceived, master_down_interval: float) -> None:
        """Take `event`, just handled with nothing else to do, as the advert `heard_again` answers from now on."""
        self._follows, self._follows_mdi = event, master_down_interval

    def heard_again(self, event: AdvertReceived, now: float) -> float | None:
        """`event` once more, if it is the advert this Backup last followed (the screen hands out the same
        AdvertReceived for a repeat, vrrpd.protocol.receive) and no other input came since: it restarts
        Master_Down_Timer from `now` (RFC 9568 §6.4.2) and is counted, exactly what `handle` would do with it, and
        the new deadline is returned (it only ever moves later). None: not such a repeat, `handle` must take it.
        This is what a Backup does nearly all the time, so it costs an identity test and three stores."""
        if event is not self._follows:
            return None
        self.counters.adverts_received += 1
        self.master_seen_at = now
        self.master_down_at = deadline = now + self._follows_mdi
        return deadline

    # --- helpers ----------------------------------------------------------------------------------------

    def _advert(self, priority: int) -> Advert:
        # The same object while nothing changes: the daemon reuses its encoding when it sees the same advert.
        cached = self._last_advert
        if cached is not None and cached.priority == priority and self._last_advert_config is self.config:
            return cached
        self._last_advert_config = self.config
        # RFC 9568 §7.2 / R26: always our *configured* interval, also after taking over from a master.
        self._last_advert = Advert(
            vrid=self.config.vrid,
            priority=priority,
            interval_cs=self.config.advert_interval_cs,
            addresses=self.config.addresses,
            version=self.config.version,
            auth_type=self.config.auth_type,
            auth_data=self.config.auth_data,
        )
        return self._last_advert

    # `send`, `set_state`, `saw_master` and `leave_master` are public because the handler mixins of other modules
    # (vrrpd.protocol.adverts, vrrpd.protocol.drain) use them; they belong to the handlers, never to the daemon.

    def send(self, actions: list[Action], priority: int | None = None) -> None:
        priority = self.election_priority if priority is None else priority
        self.counters.adverts_sent += 1
        if priority == 0:
            self.counters.priority_zero_sent += 1
        actions.append(SendAdvert(self._advert(priority)))

    def set_state(self, new: State, reason: str, actions: list[Action]) -> None:
        if new not in self._targets:
            # A handler doing what its row of the table does not say is a bug here, never a peer's doing.
            raise RuntimeError(f"{self.state} may not move to {new} on this input (see TRANSITIONS)")
        old, self.state = self.state, new
        self.wants_master = self.defers = False
        if new is not State.BACKUP:
            self.master_down_at = None
        if new is not State.MASTER:
            self.adver_at = None
        if new is State.MASTER:
            self.counters.became_master += 1
            self.saw_master(self.primary_address, self.election_priority, None)
        elif new is not State.BACKUP:
            self.master_address = self.master_priority = self.master_seen_at = None
        self.counters.transitions += 1
        actions.append(StateChanged(old, new, reason))

    def saw_master(self, address: IPAddress, priority: int, now: float | None) -> None:
        self.master_address, self.master_priority, self.master_seen_at = address, priority, now

    def _become_master(self, now: float, reason: str, actions: list[Action]) -> None:
        # RFC 9568 §6.4.1/§6.4.2: advertise, announce the VIPs, arm Adver_Timer. The VIPs are added first so
        # that the announcements never precede the addresses (§8.1.2: delay GARP until the VIP is configured).
        actions.append(AddAddresses(self.config.addresses))
        self.send(actions)
        actions.append(Announce(self.config.addresses))
        self.adver_at = now + self.config.advert_interval_cs / 100
        self.set_state(State.MASTER, reason, actions)

    def leave_master(self, actions: list[Action]) -> None:
        # RFC 9568 §6.4.3 Shutdown: send an advert with priority 0, then give up the VIPs.
        self.send(actions, priority=0)
        actions.append(RemoveAddresses(self.config.addresses))

    def _start(self, now: float, actions: list[Action]) -> None:
        if self.fault_reason is not None:
            self.set_state(State.FAULT, self.fault_reason, actions)
            return
        if self.config.preempt_delay > 0:
            self.preempt_hold_until = now + self.config.preempt_delay
        if self.master_hold_until is None and self.config.startup_delay > 0:
            self.master_hold_until = now + self.config.startup_delay  # once per process, not per recovery
        if self.master_hold_until is not None and now < self.master_hold_until:
            self.master_adver_interval_cs = self.config.advert_interval_cs
            self.set_state(
                State.BACKUP, f"started; startup_delay holds mastership for {self.config.startup_delay:g} s", actions
            )
            self.master_down_at = max(now + self.master_down_interval, self.master_hold_until)
            return
        if self.config.is_owner and self.priority == OWNER_PRIORITY:
            if self.config.sync_group is not None:
                self.set_state(
                    State.BACKUP, f"started; address owner, waiting for sync group {self.config.sync_group}", actions
                )
                self.wants_master = True
                return
            self._become_master(now, "address owner (priority 255) starts as master", actions)  # §6.4.1
            return
        # §6.4.1: a non-owner starts in Backup with Master_Adver_Interval = Advertisement_Interval.
        self.master_adver_interval_cs = self.config.advert_interval_cs
        self.set_state(State.BACKUP, "started", actions)
        self.master_down_at = now + self.master_down_interval

    # --- transitions ------------------------------------------------------------------------------------

    def _ignore(self, event: Input, now: float, actions: list[Action]) -> None:
        """Nothing to do in this state (e.g. adverts in Initialize, RFC 9568 §6.4.1)."""

    def _on_started(self, event: Started, now: float, actions: list[Action]) -> None:
        self._start(now, actions)

    def _on_shutdown_backup(self, event: ShutdownRequested, now: float, actions: list[Action]) -> None:
        # §6.4.2: cancel Master_Down_Timer, go to Initialize; no advert.
        self.set_state(State.INITIALIZE, "shutdown", actions)

    def _on_shutdown_master(self, event: ShutdownRequested, now: float, actions: list[Action]) -> None:
        self.leave_master(actions)
        self.set_state(State.INITIALIZE, "shutdown", actions)

    def _on_timer_backup(self, event: TimerExpired, now: float, actions: list[Action]) -> None:
        if self.master_down_at is None or now < self.master_down_at:
            return
        if self.drain is Drain.HARD:
            # Drained: never Master. The timer restarts, so that a resume finds it running (and the warning repeats).
            self.master_down_at = now + self.master_down_interval
            actions.append(
                Log(
                    "warning",
                    "drained_unserved",
                    f"VRID {self.config.vrid}: no master heard for Master_Down_Interval, and this router is drained: "
                    "it stays BACKUP, so nobody serves the virtual addresses (vrrpctl resume lets it take over)",
                )
            )
            return
        if self.master_hold_until is not None and now < self.master_hold_until:
            self.master_down_at = self.master_hold_until  # startup_delay: not yet
            return
        if self.config.sync_group is not None:
            # The master we deferred to is gone; the group moves all members at once.
            self.master_down_at, self.wants_master, self.defers = None, True, False
            return
        self._become_master(now, "master down timer expired", actions)  # §6.4.2

    def _on_timer_master(self, event: TimerExpired, now: float, actions: list[Action]) -> None:
        if self.adver_at is None or now < self.adver_at:
            return
        self.send(actions)  # §6.4.3: Adver_Timer fired
        interval = self.config.advert_interval_cs / 100
        # Re-armed from the deadline, not from `now`: adverts stay on a fixed grid whatever the lateness of each
        # firing (a gap that varies by it is jitter on the wire, and masters that went up together keep sharing
        # a wake-up). After a stall of a whole interval the grid restarts from now: no burst to catch up.
        late = now - self.adver_at
        self.adver_at = (self.adver_at if late < interval else now) + interval

    def _on_priority(self, event: PriorityChanged, now: float, actions: list[Action]) -> None:
        if not 1 <= event.priority <= OWNER_PRIORITY:
            raise ValueError(f"effective priority {event.priority} outside 1..255")
        before = self.election_priority
        self.priority = event.priority
        if self.election_priority != before and self.state is State.MASTER:
            # Tell the backups now rather than one interval later, so a preempting backup reacts at once.
            self.saw_master(self.primary_address, self.election_priority, None)  # the master seen is us, as we are
            self.send(actions)
            self.adver_at = now + self.config.advert_interval_cs / 100

    def _on_faulted(self, event: Faulted, now: float, actions: list[Action]) -> None:
        self.fault_reason = event.reason
        if self.state is State.MASTER:
            self.leave_master(actions)
        if self.state in (State.MASTER, State.BACKUP):
            self.set_state(State.FAULT, event.reason, actions)

    def _on_recovered(self, event: Recovered, now: float, actions: list[Action]) -> None:
        was_faulted, self.fault_reason = self.fault_reason is not None, None
        if self.state is State.FAULT and was_faulted:
            self._start(now, actions)

    def _on_group_master(self, event: GroupMaster, now: float, actions: list[Action]) -> None:
        if self.master_hold_until is not None and now < self.master_hold_until:
            return  # startup_delay holds this member, whatever its group says (the group checks it first)
        if self.drain is Drain.HARD:
            return  # never Master while drained (the group never asks: a drained member never wants Master)
        self._become_master(now, event.reason, actions)

    def _on_group_backup(self, event: GroupBackup, now: float, actions: list[Action]) -> None:
        # Like a shutdown (§6.4.3): priority 0 so the peers take over after Skew_Time, not Master_Down_Interval.
        self.leave_master(actions)
        self.set_state(State.BACKUP, event.reason, actions)
        self.master_down_at = now + self.master_down_interval + event.hold

    def _on_reconfigured(self, event: Reconfigured, now: float, actions: list[Action]) -> None:
        """A reload changed parameters that do not make a new router: the state stays, and so does every timer
        but one. What the new values govern takes effect when they are next used (the next advert carries the new
        interval); a Master's address list changes at once, since the addresses are what it serves, and it
        advertises the new list at once (restarting its Adver_Timer) so that its backups need not wait for it."""
        old, new = self.config, event.config
        for name in ("vrid", "family", "version", "is_owner", "sync_group"):
            if getattr(old, name) != getattr(new, name):
                raise ValueError(f"{name} cannot change in place ({getattr(old, name)} -> {getattr(new, name)})")
        self.config = new
        if self.state is not State.MASTER and self.master_address is None:
            # No master heard yet: our own interval is the Master_Adver_Interval in use (§6.4.1).
            self.master_adver_interval_cs = new.advert_interval_cs
        if self.state is State.MASTER and new.addresses != old.addresses:
            added = tuple(a for a in new.addresses if a not in old.addresses)
            removed = tuple(a for a in old.addresses if a not in new.addresses)
            if added or removed:
                actions.append(UpdateAddresses(added, removed))
            self.send(actions)
            self.adver_at = now + new.advert_interval_cs / 100
            if added:
                actions.append(Announce(added))  # §8.1.2: after the addresses are in place, as on becoming Master


_Handler = Callable[[VirtualRouter, Input, float, list[Action]], None]
_R = VirtualRouter
_NONE: frozenset[State] = frozenset()


def _to(*states: State) -> frozenset[State]:
    return frozenset(states)


TRANSITIONS: dict[tuple[State, type], tuple[_Handler, frozenset[State]]] = {
    # (state, input): (handler, the states the handler may move to; none = the state stays)
    (State.INITIALIZE, Started): (_R._on_started, _to(State.BACKUP, State.MASTER, State.FAULT)),
    (State.INITIALIZE, ShutdownRequested): (_R._ignore, _NONE),
    (State.INITIALIZE, AdvertReceived): (_R._ignore, _NONE),
    (State.INITIALIZE, TimerExpired): (_R._ignore, _NONE),
    (State.INITIALIZE, PriorityChanged): (_R._on_priority, _NONE),
    (State.INITIALIZE, Faulted): (_R._on_faulted, _NONE),
    (State.INITIALIZE, Recovered): (_R._on_recovered, _NONE),
    (State.INITIALIZE, GroupMaster): (_R._ignore, _NONE),
    (State.INITIALIZE, Reconfigured): (_R._on_reconfigured, _NONE),
    (State.INITIALIZE, GroupBackup): (_R._ignore, _NONE),
    (State.INITIALIZE, Drained): (_R.on_drained, _NONE),
    (State.INITIALIZE, Resumed): (_R.on_resumed, _NONE),
    (State.BACKUP, Started): (_R._ignore, _NONE),
    (State.BACKUP, ShutdownRequested): (_R._on_shutdown_backup, _to(State.INITIALIZE)),
    (State.BACKUP, AdvertReceived): (_R.on_advert_backup, _NONE),
    (State.BACKUP, TimerExpired): (_R._on_timer_backup, _to(State.MASTER)),
    (State.BACKUP, PriorityChanged): (_R._on_priority, _NONE),
    (State.BACKUP, Faulted): (_R._on_faulted, _to(State.FAULT)),
    (State.BACKUP, Recovered): (_R._on_recovered, _NONE),
    (State.BACKUP, GroupMaster): (_R._on_group_master, _to(State.MASTER)),
    (State.BACKUP, Reconfigured): (_R._on_reconfigured, _NONE),
    (State.BACKUP, GroupBackup): (_R._ignore, _NONE),
    (State.BACKUP, Drained): (_R.on_drained, _NONE),
    (State.BACKUP, Resumed): (_R.on_resumed, _NONE),
    (State.MASTER, Started): (_R._ignore, _NONE),
    (State.MASTER, ShutdownRequested): (_R._on_shutdown_master, _to(State.INITIALIZE)),
    (State.MASTER, AdvertReceived): (_R.on_advert_master, _to(State.BACKUP)),
    (State.MASTER, TimerExpired): (_R._on_timer_master, _NONE),
    (State.MASTER, PriorityChanged): (_R._on_priority, _NONE),
    (State.MASTER, Faulted): (_R._on_faulted, _to(State.FAULT)),
    (State.MASTER, Recovered): (_R._on_recovered, _NONE),
    (State.MASTER, GroupMaster): (_R._ignore, _NONE),
    (State.MASTER, Reconfigured): (_R._on_reconfigured, _NONE),
    (State.MASTER, GroupBackup): (_R._on_group_backup, _to(State.BACKUP)),
    (State.MASTER, Drained): (_R.on_drained, _to(State.BACKUP)),
    (State.MASTER, Resumed): (_R.on_resumed, _NONE),
    (State.FAULT, Started): (_R._ignore, _NONE),
    (State.FAULT, ShutdownRequested): (_R._on_shutdown_backup, _to(State.INITIALIZE)),
    (State.FAULT, AdvertReceived): (_R._ignore, _NONE),
    (State.FAULT, TimerExpired): (_R._ignore, _NONE),
    (State.FAULT, PriorityChanged): (_R._on_priority, _NONE),
    (State.FAULT, Faulted): (_R._on_faulted, _NONE),
    (State.FAULT, Recovered): (_R._on_recovered, _to(State.BACKUP, State.MASTER)),
    (State.FAULT, GroupMaster): (_R._ignore, _NONE),
    (State.FAULT, Reconfigured): (_R._on_reconfigured, _NONE),
    (State.FAULT, GroupBackup): (_R._ignore, _NONE),
    (State.FAULT, Drained): (_R.on_drained, _NONE),
    (State.FAULT, Resumed): (_R.on_resumed, _NONE),
}
