"""Interop matrix: vrrpd against keepalived 2.2.7, FRR 8.4 vrrpd and itself, over IPv4 and IPv6 (RFC 9568).

One scenario per (peer, family, our role) strings the events together, so every cell costs one lab:

- we are Backup  (we 100, peer 200): startup -> the peer preempts us -> peer crash (we take over within
  Master_Down_Interval) -> peer restarts with another interval (it preempts back, we adopt its interval) -> peer
  graceful stop (priority 0: we take over within Skew_Time).
- we are Master  (we 200, peer 100): startup -> we preempt the peer -> the (Backup) peer crashes and restarts and stays
  Backup -> we crash (the peer takes over) -> we restart with another interval (we preempt back, the peer adopts it)
  -> we crash again (the peer's takeover time follows the new interval) -> we restart -> our graceful stop (the peer
  takes over within Skew_Time).
- we are the owner (we 255, peer 200): as Master, but we take over at once at startup and restart (§6.4.1). The VIP
  is one our daemon adds (it is not configured on eth0 beforehand), so it must be gone after our graceful stop.

Excluded cells: the peer as owner against FRR (FRR priorities are 1..254) and two owners on one VRID (a
misconfiguration, RFC 9568 §8.3.2; keepalived demotes itself to 254), so the peer is never 255 here.

Oracles: our state from the daemon's status JSON (what vrrpctl shows); keepalived's from its notify script; FRR's from
`show vrrp json`; vrrpd-as-peer from its status JSON. "Holds the VIP": the address is on eth0 (vrrpd, keepalived), or
on FRR's macvlan with protodown off. Takeover times run from the event to the first observation of the new master
and are bounded by the RFC value plus MARGIN; the peer's own timers are computed with the RFC formulas (FRR truncates
Skew_Time to centiseconds, which only makes it faster).
"""

from __future__ import annotations

import time

import pytest
from frr import Frr
from lab import Host, Lab, wait_for
from peers import Keepalived
from vrrpd_runner import Vrrpd, instance

VIPS = {"ipv4": "198.51.100.100/24", "ipv6": "2001:db8::100/64"}
VRID = 51
INTERVAL = 0.1
NEW_INTERVAL = 0.2
# Priority gaps of >= 10 so rounding differences between implementations can never race (docs/interop.md §4).
HIGH, LOW, OWNER = 200, 100, 255
MARGIN = 0.5
SETTLE = 5.0


def skew_time(priority: int, master_adver_interval: float) -> float:
    """RFC 9568 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256."""
    return (256 - priority) * master_adver_interval / 256


def master_down_interval(priority: int, master_adver_interval: float) -> float:
    """RFC 9568 §6.1: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time."""
    return 3 * master_adver_interval + skew_time(priority, master_adver_interval)


# --- one daemon, whatever its implementation ------------------------------------------------------------------


class Daemon:
    """The operations a scenario needs from one router; subclasses adapt each implementation."""

    kind = ""

    def __init__(self, host: Host, vip: str, priority: int) -> None:
        self.host = host
        self.name = host.name
        self.vip = vip
        self.family = "ipv4" if ":" not in vip else "ipv6"
        self.priority = priority
        self.interval = INTERVAL

    def start(self, interval: float | None = None) -> None:
        """(Re)start with the same priority; ``interval`` changes the advertisement interval. Returns once the
        daemon has left Initialize."""
        raise NotImplementedError

    def crash(self) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        """Ask for a graceful stop (SIGTERM) without waiting: a Master sends priority 0 first (§6.4.3)."""
        raise NotImplementedError

    def wait_stopped(self) -> int | None:
        raise NotImplementedError

    def state(self) -> str | None:
        raise NotImplementedError

    def holds_vip(self) -> bool:
        return self.vip in self.host.addresses()

    def learned_interval(self, seconds: float) -> bool | None:
        """Whether, as Backup, it adopted the Master's interval; None when the implementation does not show it."""
        return None

    def log(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.kind}@{self.name}"


class VrrpdDaemon(Daemon):
    kind = "vrrpd"

    def __init__(self, host: Host, vip: str, priority: int, **extra: object) -> None:
        super().__init__(host, vip, priority)
        self.extra = extra
        self.d: Vrrpd | None = None

    def start(self, interval: float | None = None) -> None:
        self.interval = interval or self.interval
        # accept_mode=None: the daemon's own default (RFC 9568 §6.1: false); nothing here sends to the VIP.
        inst = instance(
            vrid=VRID, priority=self.priority, addresses=[self.vip], advert_interval=self.interval, accept_mode=None
        )
        # A fresh runner per start: its own config, socket and log (the lab keeps the older logs too).
        self.d = Vrrpd(self.host, [{**inst, **self.extra}]).start()
        wait_for(lambda: self.state() in ("BACKUP", "MASTER"), SETTLE, message=f"{self} never left initialize")

    def crash(self) -> None:
        assert self.d is not None
        self.d.crash()

    def terminate(self) -> None:
        assert self.d is not None and self.d.proc is not None
        self.d.proc.terminate()

    def wait_stopped(self) -> int | None:
        assert self.d is not None and self.d.proc is not None
        return self.d.proc.wait(10)

    def state(self) -> str | None:
        return self.d.state() if self.d is not None else None

    def status(self) -> dict:
        assert self.d is not None
        return self.d.instance_status()

    def learned_interval(self, seconds: float) -> bool | None:
        return self.status()["master_advert_interval"] == pytest.approx(seconds)

    def log(self) -> str:
        return self.d.log() if self.d is not None else ""


class KeepalivedDaemon(Daemon):
    kind = "keepalived"

    def __init__(self, host: Host, vip: str, priority: int) -> None:
        super().__init__(host, vip, priority)
        self.ka = Keepalived(host, vrid=VRID, priority=priority, addresses=[vip], advert_int=INTERVAL)

    def start(self, interval: float | None = None) -> None:
        self.interval = self.ka.advert_int = interval or self.interval
        self.ka.start()
        wait_for(lambda: self.state() in ("BACKUP", "MASTER"), SETTLE, message=f"{self} never reported a state")

    def crash(self) -> None:
        self.ka.crash()

    def terminate(self) -> None:
        assert self.ka.proc is not None
        self.ka.proc.terminate()

    def wait_stopped(self) -> int | None:
        assert self.ka.proc is not None
        return self.ka.proc.wait(10)

    def state(self) -> str | None:
        return self.ka.state() if self.ka.running else None

    def learned_interval(self, seconds: float) -> bool | None:
        # keepalived 2.2.7 logs the adoption (vrrp.c, vrrp_check_packet): "(VI_1) advertisement interval changed:
        # mine=100 milli-sec, rcved=200 milli-sec", but only for a change seen while Backup: stepping down from
        # Master it adopts the interval silently. So a missing line proves nothing (None).
        return True if f"rcved={round(seconds * 1000)} milli-sec" in self.log() else None

    def log(self) -> str:
        return self.ka.log()


class FrrDaemon(Daemon):
    kind = "frr"

    def __init__(self, host: Host, vip: str, priority: int) -> None:
        super().__init__(host, vip, priority)
        self.frr = Frr(host, VRID, priority, [vip], INTERVAL)

    def start(self, interval: float | None = None) -> None:
        self.interval = self.frr.advert_interval = interval or self.interval
        self.frr.start()

    def crash(self) -> None:
        self.frr.crash()

    def terminate(self) -> None:
        # FRR 8.4 sends priority 0 on SIGTERM (vrrp_fini() -> vrrp_shutdown(); seen on the wire here), so no
        # `vrrp N shutdown` is needed first. zebra stays up and keeps the macvlan in protodown.
        assert self.frr.vrrpd is not None
        self.frr.vrrpd.terminate()

    def wait_stopped(self) -> int | None:
        assert self.frr.vrrpd is not None
        return self.frr.vrrpd.wait(10)

    def state(self) -> str | None:
        return self.frr.state(self.family)

    def holds_vip(self) -> bool:
        return self.frr.holds_vip(self.vip)

    def learned_interval(self, seconds: float) -> bool | None:
        return self.frr.master_adver_interval(self.family) == pytest.approx(seconds)

    def log(self) -> str:
        return self.frr.log()


PEERS = {"keepalived": KeepalivedDaemon, "frr": FrrDaemon, "vrrpd": VrrpdDaemon}


def make_pair(lab: Lab, peer_kind: str, family: str, ours_priority: int, peer_priority: int):
    vip = VIPS[family]
    ours_host = lab.add_host("ours", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    peer_host = lab.add_host(peer_kind[:5], ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    return VrrpdDaemon(ours_host, vip, ours_priority), PEERS[peer_kind](peer_host, vip, peer_priority)


# --- checks ------------------------------------------------------------------------------------------------------


def tail(daemon: Daemon, chars: int = 3000) -> str:
    return f"\n--- {daemon} log tail ---\n{daemon.log()[-chars:]}"


def agree(master: Daemon, backup: Daemon, what: str) -> None:
    """Both daemons agree on who is Master, and the VIP is on that host only."""
    wait_for(
        lambda: (master.state(), backup.state()) == ("MASTER", "BACKUP"),
        SETTLE,
        message=f"{what}: no agreement on {master} as master ({master.state()}, {backup.state()})"
        + tail(master)
        + tail(backup),
    )
    wait_for(
        lambda: [d.name for d in (master, backup) if d.holds_vip()] == [master.name],
        3,
        message=f"{what}: VIP not on {master} alone",
    )


def takeover(event, new_master: Daemon, what: str) -> float:
    """Run ``event`` and return the seconds until ``new_master`` is first seen as Master."""
    started = time.monotonic()
    event()
    wait_for(lambda: new_master.state() == "MASTER", SETTLE, interval=0.01, message=f"{what}" + tail(new_master))
    took = time.monotonic() - started
    print(f"{new_master} master {took * 1000:.0f} ms after the event ({what.split(' did not ')[-1]})")
    return took


def stays(master: Daemon, backup: Daemon, seconds: float) -> None:
    """Nothing changes for ``seconds`` (the check is the absence of a transition, so a poll is all there is)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert (master.state(), backup.state()) == ("MASTER", "BACKUP")
        time.sleep(0.05)


def assert_clean(ours: VrrpdDaemon) -> None:
    """Nothing the peer sent was dropped, and it used the RFC 5798 pseudo-header checksum form (both peers' only
    form for IPv4; IPv6 has just that one), so we counted no message-only sums. The owner discards every advert
    (RFC 5798 §7.1), so adverts of the peer's last moments as Master count as "owner" drops: those are expected."""
    counters = ours.status()["counters"]
    drops = dict(counters["drops"])
    if ours.priority == OWNER:
        drops.pop("owner", None)
    assert drops == {}, counters
    assert counters["message_only_checksums"] == 0, counters


def assert_crash_takeover(took: float, mdi: float, interval: float, who: Daemon) -> None:
    # §6.4.2: the Backup's Master_Down_Timer runs out MDI after the last advert, which left at most one interval
    # before the crash: so no earlier than MDI - interval, and (plus polling) no later than MDI.
    assert mdi - interval - 0.05 <= took <= mdi + MARGIN, (
        f"{who} took over {took:.3f}s after the crash; Master_Down_Interval {mdi:.3f}s"
    )


def assert_graceful_takeover(took: float, skew: float, mdi: float, who: Daemon) -> None:
    # §6.4.2: a priority-0 advert sets Master_Down_Timer to Skew_Time. MDI is well above the bound at NEW_INTERVAL,
    # so only the priority-0 advert explains a takeover this fast.
    assert took <= skew + MARGIN < mdi, f"{who} took over {took:.3f}s after SIGTERM; Skew_Time {skew:.3f}s"


def assert_owner_started_as_master(ours: VrrpdDaemon) -> None:
    # §6.4.1: the owner goes from Initialize straight to Master, never through Backup (so it never waited for a
    # Master_Down_Interval). Timing it from outside would mostly measure the interpreter's start-up.
    status = ours.status()
    assert status["counters"]["became_master"] == 1
    assert status["counters"]["transitions"] == 1, status["counters"]


# --- the matrix --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", VIPS)
@pytest.mark.parametrize("peer_kind", PEERS)
def test_9568_6_4_we_are_backup_peer_preempts_crashes_changes_interval_and_stops(lab, peer_kind, family):
    """RFC 9568 §6.4.2 (Backup): preemption by a higher priority, takeover on Master_Down_Timer after a crash,
    adoption of the Master's interval (§6.4.2, Master_Adver_Interval), Skew_Time takeover on priority 0."""
    ours, peer = make_pair(lab, peer_kind, family, LOW, HIGH)

    # Startup (§6.4.1): alone we become Master after Master_Down_Interval; the peer then preempts us (§6.4.2
    # on its side: our lower-priority adverts are discarded; §6.4.3 on ours: we step down on its higher priority).
    ours.start()
    wait_for(lambda: ours.state() == "MASTER", SETTLE, message="we never became master alone")
    peer.start()
    agree(peer, ours, "peer preempts")
    status = ours.status()
    assert status["master_priority"] == HIGH
    assert status["master_advert_interval"] == pytest.approx(INTERVAL)

    # Peer crash: no priority 0, so our Master_Down_Timer has to run out.
    mdi = status["master_down_interval"]
    assert mdi == pytest.approx(master_down_interval(LOW, INTERVAL), abs=0.011)
    took = takeover(peer.crash, ours, "we did not take over from the crashed peer")
    assert_crash_takeover(took, mdi, INTERVAL, ours)
    wait_for(ours.holds_vip, 3, message="we took over without the VIP")

    # The peer comes back with another interval: it preempts us again (and removes any VIP its crash left), and
    # we, now Backup, adopt its interval and recompute our timers from it.
    peer.start(interval=NEW_INTERVAL)
    agree(peer, ours, "peer preempts back after its restart")
    wait_for(lambda: ours.learned_interval(NEW_INTERVAL), 3, message="we never adopted the master's new interval")
    status = ours.status()
    skew, mdi = status["skew_time"], status["master_down_interval"]
    assert skew == pytest.approx(skew_time(LOW, NEW_INTERVAL), abs=0.011)
    assert mdi == pytest.approx(master_down_interval(LOW, NEW_INTERVAL), abs=0.011)

    # Graceful stop: the peer's priority-0 advert makes us take over after Skew_Time, not Master_Down_Interval.
    zeros = status["counters"]["priority_zero_received"]
    took = takeover(peer.terminate, ours, "we did not take over from the stopped peer")
    assert_graceful_takeover(took, skew, mdi, ours)
    assert peer.wait_stopped() == 0
    assert ours.status()["counters"]["priority_zero_received"] == zeros + 1
    wait_for(lambda: [d.name for d in (ours, peer) if d.holds_vip()] == [ours.name], 3, message="VIP not on us alone")
    assert_clean(ours)


def _we_lead(lab, peer_kind: str, family: str, ours_priority: int) -> None:
    ours, peer = make_pair(lab, peer_kind, family, ours_priority, LOW if ours_priority == HIGH else HIGH)
    owner = ours_priority == OWNER

    # Startup: the peer alone becomes Master; then we take over, the owner at once (§6.4.1), a non-owner once its
    # Master_Down_Timer runs out while it discards the peer's lower-priority adverts (§6.4.2, Preempt_Mode).
    peer.start()
    wait_for(lambda: peer.state() == "MASTER", SETTLE, message="the peer never became master alone" + tail(peer))
    ours.start()
    agree(ours, peer, "we preempt at startup")
    if owner:
        assert_owner_started_as_master(ours)
    wait_for(lambda: peer.learned_interval(INTERVAL) in (True, None), 3, message="the peer never learned our interval")

    # The Backup crashes and comes back: it starts as Backup (§6.4.1) and stays there, because it hears our
    # higher-priority adverts; two of its Master_Down_Intervals show it does not preempt on its own timer.
    peer.crash()
    wait_for(lambda: [d.name for d in (ours, peer) if d.holds_vip()] == [ours.name], 3, message="VIP moved")
    peer.start()
    agree(ours, peer, "the restarted backup stays backup")
    stays(ours, peer, 2 * master_down_interval(peer.priority, INTERVAL))

    # We crash: the peer takes over on its Master_Down_Timer.
    mdi = master_down_interval(peer.priority, INTERVAL)
    took = takeover(ours.crash, peer, "the peer did not take over from us after our crash")
    assert_crash_takeover(took, mdi, INTERVAL, peer)

    # We come back with another interval and take over again (the owner at once); the peer, Backup again, adopts
    # our interval (§6.4.2). FRR and vrrpd show it; keepalived logs it only when a Backup sees the interval change,
    # not when it steps down from Master (it adopts silently there), so for all peers the proof is the next crash:
    # a takeover no earlier than the new Master_Down_Interval minus one interval means the peer's timer used it.
    ours.start(interval=NEW_INTERVAL)
    agree(ours, peer, "we preempt after our restart")
    if owner:
        assert_owner_started_as_master(ours)
    wait_for(
        lambda: peer.learned_interval(NEW_INTERVAL) in (True, None),
        3,
        message="the peer never adopted our new interval" + tail(peer),
    )
    mdi = master_down_interval(peer.priority, NEW_INTERVAL)
    assert mdi - NEW_INTERVAL - 0.05 > master_down_interval(peer.priority, INTERVAL) + 0.05
    took = takeover(ours.crash, peer, "the peer did not take over from us after our second crash")
    assert_crash_takeover(took, mdi, NEW_INTERVAL, peer)
    ours.start(interval=NEW_INTERVAL)
    agree(ours, peer, "we preempt after our second restart")

    assert_clean(ours)

    # Graceful stop: our priority-0 advert makes the peer take over after its Skew_Time.
    skew = skew_time(peer.priority, NEW_INTERVAL)
    mdi = master_down_interval(peer.priority, NEW_INTERVAL)
    took = takeover(ours.terminate, peer, "the peer did not take over after our graceful stop")
    assert_graceful_takeover(took, skew, mdi, peer)
    assert ours.wait_stopped() == 0
    wait_for(peer.holds_vip, 3, message="the peer took over without the VIP")
    # Every VIP here was added by our daemon (none was configured on eth0 beforehand), so a graceful stop must take
    # it away, crash and restart or not: otherwise the LAN has the address twice.
    wait_for(
        lambda: not ours.holds_vip(),
        3,
        message="the VIP stayed on our host after our graceful stop, so two hosts hold it" + tail(ours),
    )


@pytest.mark.parametrize("family", VIPS)
@pytest.mark.parametrize("peer_kind", PEERS)
def test_9568_6_4_we_are_master_preempt_then_peer_takes_over_on_crash_and_priority_zero(lab, peer_kind, family):
    """RFC 9568 §6.4.2/§6.4.3 (we Master): we preempt a lower-priority Master, a restarted Backup stays Backup, the
    peer takes over within Master_Down_Interval after our crash and within Skew_Time after our priority 0, and
    adopts our new interval as Backup."""
    _we_lead(lab, peer_kind, family, HIGH)


@pytest.mark.parametrize("family", VIPS)
@pytest.mark.parametrize("peer_kind", PEERS)
def test_9568_6_4_1_we_are_owner_take_over_at_once_then_peer_takes_over_on_crash_and_priority_zero(
    lab, peer_kind, family
):
    """RFC 9568 §6.4.1 (owner, priority 255): we go straight to Master at startup and restart, without waiting for a
    Master_Down_Interval; otherwise as the Master case. Only we are the owner (FRR cannot be one; two owners is a
    misconfiguration, §8.3.2)."""
    _we_lead(lab, peer_kind, family, OWNER)


# --- IPv4 checksum form against FRR 8.4 ------------------------------------------------------------------------


def test_9568_5_2_8_message_only_checksum_is_dropped_by_frr_8_4_pseudo_header_works(lab):
    """RFC 9568 §5.2.8 says IPv4 sums the message only; FRR 8.4 (like keepalived 2.2.7) checks the RFC 5798
    pseudo-header form, so with `checksum: message-only` FRR drops our adverts and both become Master. With our
    default (pseudo-header) FRR hears us and backs off."""
    vip = VIPS["ipv4"]
    ours_host = lab.add_host("ours", ipv4="198.51.100.11/24")
    frr_host = lab.add_host("frr", ipv4="198.51.100.12/24")
    frr = FrrDaemon(frr_host, vip, LOW)
    ours = VrrpdDaemon(ours_host, vip, HIGH, checksum="message-only")
    frr.frr.debug = ["packets"]

    frr.start()
    ours.start()
    wait_for(lambda: ours.state() == "MASTER", SETTLE, message="we never became master")
    wait_for(lambda: "Bad VRRP checksum" in frr.log(), SETTLE, message="FRR never rejected our checksum" + tail(frr))
    # FRR never hears our priority 200, so it is Master too: the documented split brain.
    wait_for(lambda: frr.state() == "MASTER", SETTLE, message="FRR did not become master")
    stays_master = time.monotonic() + 3 * master_down_interval(LOW, INTERVAL)
    while time.monotonic() < stays_master:
        assert (ours.state(), frr.state()) == ("MASTER", "MASTER")
        time.sleep(0.05)
    assert ours.holds_vip() and frr.holds_vip()
    # We do hear FRR (its pseudo-header sum is accepted) and discard its lower priority.
    assert ours.status()["counters"]["lower_priority_received"] > 0

    ours.crash()
    rejected = frr.log().count("Bad VRRP checksum")
    received = frr.frr.stats("v4")["adverRx"]
    ours.extra = {}  # back to the default transmit form: pseudo-header
    ours.start()
    agree(ours, frr, "with the pseudo-header FRR hears us")
    assert ours.status()["checksum"]["transmit"] == "pseudo-header"
    # Our adverts keep flowing, and FRR rejects none of them now.
    wait_for(lambda: frr.frr.stats("v4")["adverRx"] > received + 10, 3, message="FRR counts no adverts from us")
    assert frr.log().count("Bad VRRP checksum") == rejected
