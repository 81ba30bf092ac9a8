"""The operator's drain of a virtual router (`vrrpctl drain` / `resume`): the state machine's `Drained` and `Resumed`
handlers, a mixin of VirtualRouter (vrrpd.protocol.router's TRANSITIONS lists them). Sans-I/O, like all the core.

Drain (`vrrpctl drain`, `Drained` / `Resumed`: the operator takes the router out of service; never an address
owner, which has nobody to hand its addresses to). Hard: a Master hands over at once the way a stopping Master
does (§6.4.3: one advert with priority 0, so a Backup takes over after its Skew_Time rather than
Master_Down_Interval, §6.4.2), removes its addresses and stays Backup; a drained Backup follows whatever master
it hears and never becomes Master: its Master_Down timer running out restarts it (and says, as a warning, that
nobody serves the addresses). Soft: it stands for election with priority 1 (`election_priority`), so every other
router wins and it is Master only while no other router is heard. A soft-drained Master sends the same priority-0
advert (a Backup takes over after Skew_Time, whatever its preempt setting: Skew_Time is shorter than one advert
interval, and our next advert comes one interval later) but keeps its addresses and goes on advertising priority
1 until another router's advert takes them over (§6.4.3): drained alone, it goes on serving, with no gap. Resume:
the effective priority is in force again; a Backup preempts as usual (its timer runs out on a lower master's
adverts), and one that has heard no master for a Master_Down_Interval takes over after Skew_Time.

The rest of a drain is the router's own: `VirtualRouter.election_priority` (1 while soft-drained), and a drained
Backup that follows any master and restarts its Master_Down timer instead of becoming Master.
"""

from __future__ import annotations

from vrrpd.protocol.events import Action, Drain, Drained, Resumed, State


class DrainHandlers:
    """VirtualRouter's handlers of `Drained` and `Resumed`. A mixin rather than functions taking the router: this
    module may not import vrrpd.protocol.router (which imports it), and the handlers use only the router's public
    attributes and methods (`send`, `set_state`, `leave_master`, `saw_master`)."""

    def on_drained(self, event: Drained, now: float, actions: list[Action]) -> None:
        if self.config.is_owner:
            raise ValueError("an address owner (priority 255) cannot be drained: nobody can take its addresses")
        old, self.drain = self.drain, event.mode
        if old is event.mode:
            return
        if self.state is State.BACKUP and event.mode is Drain.HARD:
            self.wants_master = False  # a sync group member no longer wants Master: its timer runs again
            if self.master_down_at is None:
                self.master_down_at = now + self.master_down_interval
        if self.state is not State.MASTER:
            return
        if event.mode is Drain.HARD:
            # §6.4.3 as at shutdown: priority 0, so a Backup takes over after Skew_Time; then Backup, for good.
            self.leave_master(actions)
            self.set_state(State.BACKUP, "drained: handed over with priority 0", actions)
            self.master_down_at = now + self.master_down_interval
            self.master_address = self.master_priority = self.master_seen_at = None
            return
        # Soft: the same priority 0 (a Backup takes over after its Skew_Time, shorter than one interval, before our
        # next advert), but the addresses stay until another router's advert takes them over (§6.4.3).
        self.send(actions, priority=0)
        self.adver_at = now + self.config.advert_interval_cs / 100
        self.saw_master(self.primary_address, self.election_priority, None)

    def on_resumed(self, event: Resumed, now: float, actions: list[Action]) -> None:
        old, self.drain = self.drain, None
        if old is None:
            return
        if self.state is State.MASTER:  # soft-drained Master: its own priority again, told to the backups at once
            self.send(actions)
            self.adver_at = now + self.config.advert_interval_cs / 100
            self.saw_master(self.primary_address, self.priority, None)
        elif self.state is State.BACKUP and old is Drain.HARD and self.master_down_at is not None:
            seen = self.master_seen_at
            if seen is None or self.master_priority == 0 or now - seen >= self.master_down_interval:
                # Nobody has served for a Master_Down_Interval (or the master said it leaves): take over after
                # Skew_Time, as on a priority-0 advert (§6.4.2), rather than wait a whole interval more.
                self.master_down_at = min(self.master_down_at, now + self.skew_time)
