"""What a received advert does to a virtual router: the checks every advert passes first (RFC 9568 §7.1, RFC 3768
§7.1), a second address owner, and the Backup's and the Master's `AdvertReceived` handlers.

They are a mixin of VirtualRouter (vrrpd.protocol.router's TRANSITIONS lists the handlers), not functions taking the
router, since this module may not import vrrpd.protocol.router (which imports it); they use the router's public
attributes and methods only (`send`, `set_state`, `saw_master`, `follow`). Sans-I/O, like all the core.

Two address owners (priority 255) on one VRID are a configuration error (RFC 9568 §5.2.4, §8.3.2: at most
one router owns the addresses). An owner never drops another owner's adverts: the ordinary equal-priority
tie-break (§6.4.3, higher primary address wins) leaves exactly one master instead of two that never hear
each other, and both sides record the conflict (`owner_conflict`) for status and logs. keepalived reaches
the same single master by demoting the lower address to 254; we keep advertising 255, since priority is what
a router *is* (the owner), and the loser simply stays a silent Backup.
"""

from __future__ import annotations

from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.events import Action, AdvertReceived, Announce, Log, RemoveAddresses, State
from vrrpd.protocol.packet import ChecksumForm, Family
from vrrpd.protocol.parameters import AddressCheck
from vrrpd.protocol.receive import mismatch

LOWER_PRIORITY_ANNOUNCE_HOLDOFF = 5.0
"""Seconds between two re-announcements triggered by lower-priority adverts (keepalived's garp_master_delay)."""


class AdvertHandlers:
    """VirtualRouter's handling of `AdvertReceived` in Backup and Master, and what it records of a second owner."""

    @property
    def conflict(self) -> str | None:
        """One sentence for status while a configuration conflict with a peer is known, else None.

        Sticky: the owner that keeps the master role never hears the other one again (it is a silent Backup),
        so the conflict stays reported, with `owner_conflict_seen_at` as its age, until that address advertises
        a priority below 255 (reconfigured) or this daemon restarts.
        """
        if self.owner_conflict is None:
            return None
        return f"another address owner {self.owner_conflict} (priority 255)"

    def on_advert_backup(self, event: AdvertReceived, now: float, actions: list[Action]) -> None:
        if not self._precheck(event, now, actions):
            return
        advert = event.advert
        if advert.priority == 0:
            # §6.4.2: the master is shutting down; take over after Skew_Time, not Master_Down_Interval.
            self.master_down_at = now + self.skew_time
            self.wants_master = self.defers = False
            self.saw_master(event.src, 0, now)
            return
        lower = advert.priority < self.election_priority
        preempts = self.config.preempt and self.drain is None  # drained: follow whatever master is heard
        if lower and preempts and self.config.preempt_delay > 0:
            if self.preempt_hold_until is None:
                self.preempt_hold_until = now + self.config.preempt_delay
                actions.append(
                    Log(
                        "info",
                        "preempt_delay",
                        f"VRID {self.config.vrid}: lower-priority master {event.src} "
                        f"(priority {advert.priority}); preempting in {self.config.preempt_delay:g} s",
                    )
                )
        elif not lower:
            self.preempt_hold_until = None
        held = self.preempt_hold_until is not None and now < self.preempt_hold_until
        if not preempts or not lower or held:
            # §6.4.2: adopt the master's interval (v3 only; v2 intervals match or were dropped), which also
            # recomputes Skew_Time and Master_Down_Interval, and restart Master_Down_Timer.
            if self.config.version == 3:
                self.master_adver_interval_cs = advert.interval_cs
            interval = self.master_down_interval
            self.master_down_at = now + interval
            self.wants_master, self.defers = False, True
            self.saw_master(event.src, advert.priority, now)
            if (
                not actions
                and (not preempts or not lower)  # not held by preempt_delay: the outcome does not hang on `now`
                and event.checksum_form is not ChecksumForm.MESSAGE_ONLY
                and self.config.sync_group is None  # its group looks at every input of its members
            ):
                self.follow(event, interval)
            return
        # Preempt_Mode and a lower priority: discard, so Master_Down_Timer runs out and we preempt.
        self.counters.lower_priority_received += 1

    def on_advert_master(self, event: AdvertReceived, now: float, actions: list[Action]) -> None:
        if not self._precheck(event, now, actions):
            return
        advert = event.advert
        if advert.priority == 0:
            # §6.4.3: another master is leaving; assert ourselves at once.
            self.send(actions)
            self.adver_at = now + self.config.advert_interval_cs / 100
            return
        # §6.4.3: step down on a higher priority, or an equal one from a higher primary address compared as
        # an unsigned integer in network byte order (RFC 9568).
        mine = self.election_priority
        if advert.priority > mine or (advert.priority == mine and int(event.src) > int(self.primary_address)):
            actions.append(RemoveAddresses(self.config.addresses))
            if self.config.version == 3:
                self.master_adver_interval_cs = advert.interval_cs
            self.set_state(State.BACKUP, f"higher priority master {event.src} ({advert.priority})", actions)
            self.master_down_at = now + self.master_down_interval
            self.defers = True
            self.saw_master(event.src, advert.priority, now)
            return
        self.counters.lower_priority_received += 1
        if self.config.advert_on_lower_priority:
            self.send(actions)  # RFC 9568 §6.4.3: so the sender and learning bridges relearn the master
        # A router that sent this thought it was master (a partition, a second owner starting as one, §6.4.1)
        # and may have announced the VIPs with its own MAC: take the neighbour caches back as it steps down
        # (keepalived's garp_lower_prio_*). At most once per hold-off, so a sender of frequent lower-priority
        # adverts cannot make us flood the LAN with GARP/NA.
        last = self.lower_priority_announced_at
        wanted = self.config.advert_on_lower_priority or advert.priority == OWNER_PRIORITY
        if wanted and (last is None or now - last >= LOWER_PRIORITY_ANNOUNCE_HOLDOFF):
            self.lower_priority_announced_at = now
            actions.append(Announce(self.config.addresses))

    def _precheck(self, event: AdvertReceived, now: float, actions: list[Action]) -> bool:
        """Checks common to Backup and Master (RFC 9568 §7.1, RFC 3768 §7.1). False = drop (counted)."""
        advert, cfg = event.advert, self.config
        self.counters.adverts_received += 1
        reason = mismatch(event, cfg, self.priority)
        if reason in (None, "owner") and cfg.is_owner:
            self._check_owner_conflict(event, now, actions)
        if reason is None and advert.addresses != cfg.addresses and set(advert.addresses) != set(cfg.addresses):
            self.counters.address_mismatches += 1
            actions.append(
                Log(
                    "warning",
                    "address_mismatch",
                    f"VRID {cfg.vrid}: advert from {event.src} lists "
                    f"{', '.join(map(str, advert.addresses))}, we have {', '.join(map(str, cfg.addresses))}",
                )
            )
            if cfg.address_check is AddressCheck.DROP:
                reason = "address_list"
            elif cfg.version == 2 and advert.priority != OWNER_PRIORITY:
                reason = "address_list"  # RFC 3768 §7.1: v2 MUST drop a mismatch unless the owner sent it
        if reason is not None:
            self.counters.drop(reason)
            return False
        if advert.priority == 0:
            self.counters.priority_zero_received += 1
        if event.checksum_form is ChecksumForm.MESSAGE_ONLY and cfg.version == 3 and cfg.family is Family.IPV4:
            self.counters.message_only_checksums += 1
        return True

    def _check_owner_conflict(self, event: AdvertReceived, now: float, actions: list[Action]) -> None:
        """RFC 9568 §5.2.4/§8.3.2: at most one owner per VRID. Record and report a second one; a former
        conflict ends when that address advertises a priority below 255 (it was reconfigured)."""
        if event.advert.priority != OWNER_PRIORITY:
            # Priority 0 is that owner shutting down (still misconfigured); 1..254 means it was reconfigured.
            if event.src == self.owner_conflict and event.advert.priority > 0:
                self.owner_conflict = self.owner_conflict_seen_at = None
                actions.append(
                    Log("info", "owner_conflict", f"VRID {self.config.vrid}: {event.src} is no longer an owner")
                )
            return
        self.counters.owner_conflicts += 1
        self.owner_conflict, self.owner_conflict_seen_at = event.src, now
        winner = int(event.src) > int(self.primary_address)
        outcome = (
            f"{event.src} has the higher primary address and stays master; this router waits as backup"
            if winner
            else "this router has the higher primary address and stays master"
        )
        actions.append(
            Log(
                "error",
                "owner_conflict",
                f"VRID {self.config.vrid}: configuration error: {event.src} also advertises priority 255, but at "
                f"most one router may own the virtual addresses (RFC 9568 §5.2.4, §8.3.2); {outcome}",
            )
        )
