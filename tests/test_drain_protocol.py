"""Maintenance drain in the protocol core (issue #15: `vrrpctl drain`), rule by rule and on the FakeLan.

A drain is router state (vrrpd.protocol.drain): a hard-drained Master hands over the way a stopping
Master does (RFC 9568 §6.4.3: priority 0), so a Backup takes over after its Skew_Time, not Master_Down_Interval
(§6.4.2); a hard-drained router is never Master; a soft-drained one stands with priority 1 and serves only while no
other router is heard; a resumed one preempts as usual (§6.4.2, Preempt_Mode).
"""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from fakelan import FakeLan

from vrrpd.protocol import (
    Advert,
    AdvertReceived,
    Drain,
    Drained,
    Log,
    PriorityChanged,
    RemoveAddresses,
    Resumed,
    RouterConfig,
    SendAdvert,
    Started,
    State,
    StateChanged,
    TimerExpired,
    VirtualRouter,
)
from vrrpd.protocol.syncgroup import SyncGroup
from vrrpd.protocol.timers import master_down_interval, skew_time

VIPS = (ip_address("198.51.100.100"),)
HARD, SOFT = Drained(Drain.HARD), Drained(Drain.SOFT)


def cfg(priority: int, **kwargs) -> RouterConfig:
    return RouterConfig(vrid=51, addresses=VIPS, priority=priority, advert_interval_cs=100, **kwargs)


def lan(*priorities: int, **kwargs) -> FakeLan:
    """Routers a, b, c... with these priorities, started and settled (the first is Master)."""
    fake = FakeLan()
    for i, priority in enumerate(priorities):
        fake.add("abcde"[i], cfg(priority, **kwargs), f"198.51.100.{11 + i}")
    fake.start()
    fake.run_for(10.3)
    assert fake.masters() == ["a"]
    return fake


def holders(fake: FakeLan) -> list[str]:
    return [n.name for n in fake.nodes.values() if n.vips]


def masters_after(fake: FakeLan, at: float) -> list[tuple[float, str]]:
    return [(t, who) for t, who, ch in fake.transitions if ch.new is State.MASTER and t > at]


# --- hard drain ---------------------------------------------------------------------------------------------------


def test_9568_6_4_3_a_drained_master_hands_over_with_priority_0_and_the_backup_takes_over_after_skew_time():
    fake = lan(200, 150, 100)
    drained_at = fake.now
    fake.feed("a", HARD)
    # At once: the shutdown advert (§6.4.3), the addresses gone, Backup.
    assert fake.nodes["a"].sent[-1] == (drained_at, 0)
    assert fake.nodes["a"].state is State.BACKUP and not fake.nodes["a"].vips
    fake.run_for(10)
    # §6.4.2: priority 0 sets the Backup's Master_Down_Timer to Skew_Time, not Master_Down_Interval.
    assert masters_after(fake, drained_at) == [(pytest.approx(drained_at + skew_time(150, 100)), "b")]
    assert skew_time(150, 100) < 1.0 < master_down_interval(150, 100)
    assert fake.masters() == ["b"] and holders(fake) == ["b"]
    assert fake.nodes["a"].router.drain is Drain.HARD and fake.nodes["a"].state is State.BACKUP


def test_a_drained_backup_never_becomes_master_even_when_the_master_goes():
    fake = lan(200, 150, 100)
    fake.feed("b", HARD)  # the next in line
    stopped_at = fake.now
    fake.stop("a")
    fake.run_for(10)
    # c, not b, takes over, after its own Skew_Time (§6.4.2): b lets its timer run out and stays Backup.
    assert masters_after(fake, stopped_at) == [(pytest.approx(stopped_at + skew_time(100, 100)), "c")]
    crashed_at = fake.now
    fake.crash("c")
    fake.run_for(30)
    assert masters_after(fake, crashed_at) == [] and holders(fake) == []
    b = fake.nodes["b"]
    assert b.state is State.BACKUP and b.router.next_deadline() is not None  # its timer keeps running
    warnings = [a for _, a in b.actions if isinstance(a, Log) and a.key == "drained_unserved"]
    assert warnings and "nobody serves the virtual addresses" in warnings[0].message


def test_a_drained_backup_does_not_preempt_a_lower_master_and_follows_it():
    router = VirtualRouter(cfg(200), ip_address("198.51.100.11"))
    router.handle(Started(), 0.0)
    router.handle(HARD, 0.1)
    peer = ip_address("198.51.100.12")
    for t in range(1, 20):
        router.handle(AdvertReceived(peer, Advert(vrid=51, priority=100, interval_cs=100, addresses=VIPS)), float(t))
        assert router.handle(TimerExpired(), float(t)) == []
    # It adopts the lower master's adverts (no preemption while drained): its timer restarts on each.
    assert router.state is State.BACKUP and router.master_address == peer
    assert router.counters.lower_priority_received == 0
    assert router.next_deadline() == pytest.approx(19 + master_down_interval(200, 100))


def test_a_router_drained_before_it_starts_never_becomes_master_even_alone():
    """What a restart does with a drained state file: Drained before Started (§6.4.1 then starts it as Backup)."""
    fake = FakeLan()
    fake.add("a", cfg(200), "198.51.100.11")
    fake.feed("a", HARD)
    fake.start()
    fake.run_for(60)
    assert fake.masters() == [] and fake.transitions[-1][2].new is State.BACKUP


def test_an_address_owner_cannot_be_drained():
    router = VirtualRouter(cfg(255), ip_address("198.51.100.11"))
    router.handle(Started(), 0.0)
    with pytest.raises(ValueError, match="address owner"):
        router.handle(HARD, 1.0)
    assert router.state is State.MASTER and router.drain is None


# --- soft drain ---------------------------------------------------------------------------------------------------


def test_soft_drained_master_alone_keeps_serving_with_priority_1_and_no_gap():
    fake = lan(200)
    drained_at = fake.now
    fake.feed("a", SOFT)
    fake.run_for(30)
    # The priority-0 advert (a Backup would take over), then priority 1, every interval; never a transition.
    sent = [(t, p) for t, p in fake.nodes["a"].sent if t >= drained_at]
    assert sent[0] == (drained_at, 0) and {p for _, p in sent[1:]} == {1} and len(sent) == 31
    assert [t for t, _, _ in fake.transitions if t >= drained_at] == []
    assert fake.masters() == ["a"] and holders(fake) == ["a"]


def test_soft_drained_master_hands_over_after_the_peers_skew_time_even_without_preemption():
    """The peer hears priority 0 and takes over after Skew_Time (< one interval, so before our next advert, which
    would otherwise restart its timer: preempt off). The drained one keeps its addresses until it hears it (§6.4.3)."""
    fake = FakeLan()
    fake.add("a", cfg(200), "198.51.100.11")
    fake.add("b", cfg(150, preempt=False), "198.51.100.12")
    fake.start()
    fake.run_for(10.3)
    drained_at = fake.now
    fake.feed("a", SOFT)
    assert fake.masters() == ["a"] and holders(fake) == ["a"]
    fake.run_for(10)
    took = drained_at + skew_time(150, 100)
    assert masters_after(fake, drained_at) == [(pytest.approx(took), "b")]
    gave = [t for t, who, ch in fake.transitions if who == "a" and ch.new is State.BACKUP and t > drained_at]
    assert gave == [pytest.approx(took)]  # the moment b's first advert arrives: addresses never missing
    assert fake.masters() == ["b"] and holders(fake) == ["b"]


def test_soft_drained_backup_takes_over_only_when_no_other_router_is_heard():
    fake = lan(200, 150, 100)
    fake.feed("b", SOFT)
    stopped_at = fake.now
    fake.stop("a")
    fake.run_for(10)
    # c (100) beats b (standing with 1): c's Skew_Time is the shorter.
    assert masters_after(fake, stopped_at) == [(pytest.approx(stopped_at + skew_time(100, 100)), "c")]
    last = fake.last_advert_at("c")
    fake.crash("c")
    fake.run_for(10)
    # Nobody else: b takes over after its Master_Down_Interval at priority 1, and advertises 1.
    assert masters_after(fake, last) == [(pytest.approx(last + master_down_interval(1, 100)), "b")]
    assert fake.nodes["b"].sent[-1][1] == 1 and holders(fake) == ["b"]
    # c comes back: any other router wins over a soft-drained Master (c preempts a priority-1 master).
    fake.start("c")
    fake.run_for(10)
    assert fake.masters() == ["c"] and holders(fake) == ["c"]


def test_tracking_does_not_move_a_soft_drained_masters_adverts():
    router = VirtualRouter(cfg(200), ip_address("198.51.100.11"))
    router.handle(Started(), 0.0)
    router.handle(TimerExpired(), 10.0)
    router.handle(SOFT, 10.5)
    assert router.handle(PriorityChanged(150), 10.6) == []  # still standing with 1: nothing new to say
    assert router.priority == 150 and router.election_priority == 1


# --- resume -------------------------------------------------------------------------------------------------------


def test_resume_with_preempt_takes_back_as_usual():
    fake = lan(200, 150)
    fake.feed("a", HARD)
    fake.run_for(10)
    assert fake.masters() == ["b"]
    resumed_at = fake.now
    last_b = fake.last_advert_at("b")
    fake.feed("a", Resumed())
    fake.run_for(10)
    # §6.4.2 Preempt_Mode: b's lower-priority adverts are discarded from now on, so a's Master_Down_Timer (restarted
    # by b's last advert before the resume) runs out, and a takes over; b steps down on a's advert (§6.4.3).
    assert masters_after(fake, resumed_at) == [(pytest.approx(last_b + master_down_interval(200, 100)), "a")]
    assert fake.masters() == ["a"] and holders(fake) == ["a"]


def test_resume_without_preempt_stays_backup():
    fake = lan(200, 150, preempt=False)
    fake.feed("a", HARD)
    fake.run_for(10)
    fake.feed("a", Resumed())
    fake.run_for(10)
    assert fake.masters() == ["b"]


def test_resume_of_a_lonely_drained_router_takes_over_after_skew_time():
    fake = FakeLan()
    fake.add("a", cfg(200), "198.51.100.11")
    fake.feed("a", HARD)
    fake.start()
    fake.run_for(20)
    resumed_at = fake.now
    fake.feed("a", Resumed())
    fake.run_for(5)
    # Nobody has served for a Master_Down_Interval: Skew_Time, as after a priority-0 advert (§6.4.2).
    assert masters_after(fake, resumed_at) == [(pytest.approx(resumed_at + skew_time(200, 100)), "a")]


def test_resume_of_a_soft_drained_master_advertises_its_own_priority_at_once():
    router = VirtualRouter(cfg(200), ip_address("198.51.100.11"))
    router.handle(Started(), 0.0)
    router.handle(TimerExpired(), 10.0)
    router.handle(SOFT, 10.5)
    actions = router.handle(Resumed(), 10.7)
    assert [a.advert.priority for a in actions if isinstance(a, SendAdvert)] == [200]
    assert router.next_deadline() == pytest.approx(11.7) and router.state is State.MASTER


def test_draining_again_with_the_same_mode_does_nothing_and_soft_to_hard_hands_over():
    router = VirtualRouter(cfg(200), ip_address("198.51.100.11"))
    router.handle(Started(), 0.0)
    router.handle(TimerExpired(), 10.0)
    assert len(router.handle(SOFT, 10.5)) == 1  # the priority-0 advert
    assert router.handle(SOFT, 10.6) == []
    actions = router.handle(HARD, 10.7)
    assert [type(a) for a in actions] == [SendAdvert, RemoveAddresses, StateChanged]
    assert router.state is State.BACKUP and router.handle(HARD, 10.8) == []


# --- sync groups --------------------------------------------------------------------------------------------------


def test_a_drained_member_takes_its_group_out_of_master_and_holds_it():
    routers = {
        name: VirtualRouter(
            RouterConfig(vrid=vrid, addresses=VIPS, priority=200, sync_group="g"), ip_address("198.51.100.11")
        )
        for name, vrid in (("g1", 51), ("g2", 52))
    }
    group = SyncGroup("g", routers)
    for name in routers:
        group.handle(name, Started(), 0.0)
    for name in routers:
        group.handle(name, TimerExpired(), 10.0)
    assert group.state is State.MASTER
    out = group.handle("g1", HARD, 11.0)
    # g1 hands over (priority 0), then the group takes g2 out the same way (GroupBackup).
    sent = {name: [a.advert.priority for a in actions if isinstance(a, SendAdvert)] for name, actions in out.actions}
    assert sent == {"g1": [0], "g2": [0]} and group.state is State.BACKUP
    assert group.held_by(12.0) == "member g1 is drained"
    for t in (20.0, 40.0):  # timers run out: g2 wants Master, g1 never does, so the group stays Backup
        for name in routers:
            group.handle(name, TimerExpired(), t)
    assert routers["g2"].wants_master and not routers["g1"].wants_master and group.state is State.BACKUP
    group.handle("g1", Resumed(), 41.0)
    group.handle("g1", TimerExpired(), 41.0 + skew_time(200, 100))
    assert group.state is State.MASTER


def test_a_soft_drained_member_alone_still_wants_master():
    router = VirtualRouter(RouterConfig(vrid=51, addresses=VIPS, sync_group="g"), ip_address("198.51.100.11"))
    router.handle(Started(), 0.0)
    router.handle(SOFT, 0.5)
    router.handle(TimerExpired(), 10.0)
    assert router.wants_master  # alone: a soft-drained member still wants Master
