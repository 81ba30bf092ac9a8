"""Whole-LAN scenarios on a float clock: several routers, adverts through the real codec (RFC 9568 §6)."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from fakelan import FakeLan

from vrrpd.protocol import ChecksumForm, ChecksumMode, RouterConfig, State
from vrrpd.protocol.timers import master_down_interval, skew_time

VIPS = (ip_address("198.51.100.100"), ip_address("198.51.100.101"))


def cfg(priority: int, interval_cs: int = 100, **kwargs) -> RouterConfig:
    return RouterConfig(vrid=51, addresses=VIPS, priority=priority, advert_interval_cs=interval_cs, **kwargs)


def three(interval_cs: int = 100, delay: float = 0.0) -> FakeLan:
    lan = FakeLan(delay=delay)
    lan.add("a", cfg(200, interval_cs), "198.51.100.11")
    lan.add("b", cfg(150, interval_cs), "198.51.100.12")
    lan.add("c", cfg(100, interval_cs), "198.51.100.13")
    return lan


def assert_single_master(lan: FakeLan, name: str) -> None:
    assert lan.masters() == [name]
    for node in lan.nodes.values():
        assert (node.vips == set(VIPS)) == (node.name == name), node.name


def test_9568_6_4_election_highest_priority_wins_at_its_master_down_interval():
    lan = three()
    lan.start()
    lan.run_for(10)
    assert_single_master(lan, "a")
    assert lan.became_master_at("a") == pytest.approx(master_down_interval(200, 100))
    assert [who for _, who, ch in lan.transitions if ch.new is State.MASTER] == ["a"]


def test_9568_6_4_2_master_death_takeover_exactly_one_mdi_after_last_advert():
    lan = three()
    lan.start()
    lan.run_for(10)
    last = lan.last_advert_at("a")
    lan.crash("a")
    lan.run_for(10)
    assert_single_master(lan, "b")
    assert lan.became_master_at("b") == pytest.approx(last + master_down_interval(150, 100), abs=1e-9)


def test_9568_6_4_2_graceful_shutdown_takeover_after_skew_time():
    lan = three()
    lan.start()
    lan.run_for(10.3)
    stopped_at = lan.now
    lan.stop("a")
    assert lan.nodes["a"].sent[-1] == (stopped_at, 0)  # the goodbye advert
    lan.run_for(10)
    assert_single_master(lan, "b")
    assert lan.became_master_at("b") == pytest.approx(stopped_at + skew_time(150, 100), abs=1e-9)


def test_9568_6_4_2_preemption_by_a_higher_priority_router_joining_later():
    lan = three()
    lan.start("b", "c")
    lan.run_for(10)
    assert_single_master(lan, "b")
    joined = lan.now
    lan.start("a")
    lan.run_for(10)
    assert_single_master(lan, "a")
    # a discards b's lower-priority adverts (preempt on), so its Master_Down_Timer runs out once.
    assert lan.became_master_at("a") == pytest.approx(joined + master_down_interval(200, 100), abs=1e-9)


def test_9568_6_4_2_no_preemption_when_disabled():
    lan = FakeLan()
    lan.add("a", cfg(200, preempt=False), "198.51.100.11")
    lan.add("b", cfg(150), "198.51.100.12")
    lan.start("b")
    lan.run_for(10)
    lan.start("a")
    lan.run_for(30)
    assert_single_master(lan, "b")


def test_9568_6_4_3_equal_priority_tie_break_on_primary_address():
    # Equal priorities time out at the same instant; with any transit delay both become master, then the
    # lower primary address steps down on the first advert it hears from the higher one.
    lan = FakeLan(delay=0.001)
    lan.add("low", cfg(100), "198.51.100.11")
    lan.add("high", cfg(100), "203.0.113.11")
    lan.start()
    lan.run_for(10)
    assert_single_master(lan, "high")
    assert lan.became_master_at("low") == lan.became_master_at("high")


def test_9568_6_4_2_equal_priority_backup_never_tie_breaks():
    # R13: a Backup hearing an equal-priority master just resets its timer, whatever the addresses; so with
    # no transit delay the first router to time out keeps the role even with the lower address.
    lan = FakeLan()
    lan.add("low", cfg(100), "198.51.100.11")
    lan.add("high", cfg(100), "203.0.113.11")
    lan.start()
    lan.run_for(10)
    assert lan.masters() == ["low"]
    assert lan.nodes["high"].router.master_address == ip_address("198.51.100.11")


def test_9568_6_4_2_backup_adopts_the_masters_interval_for_its_timeout():
    lan = FakeLan()
    lan.add("fast", cfg(200, interval_cs=20), "198.51.100.11")
    lan.add("slow", cfg(100, interval_cs=100), "198.51.100.12")
    lan.start()
    lan.run_for(5)
    assert lan.nodes["slow"].router.master_adver_interval_cs == 20
    last = lan.last_advert_at("fast")
    lan.crash("fast")
    lan.run_for(5)
    assert lan.became_master_at("slow") == pytest.approx(last + master_down_interval(100, 20), abs=1e-9)
    # As master it advertises its own configured interval (RFC 9568 §7.2).
    slow_adverts = [a.advert for _, a in lan.nodes["slow"].actions if hasattr(a, "advert")]
    assert {a.interval_cs for a in slow_adverts} == {100}


def test_9568_6_4_split_brain_heals_within_one_master_down_interval():
    lan = three()
    lan.start()
    lan.run_for(10)
    lan.partition({"a"}, {"b", "c"})
    lan.run_for(10)
    assert sorted(lan.masters()) == ["a", "b"]
    healed = lan.now
    lan.heal()
    lan.run_for(master_down_interval(100, 100))
    assert_single_master(lan, "a")
    stepped_down = [at for at, who, ch in lan.transitions if who == "b" and ch.new is State.BACKUP and at > healed]
    assert stepped_down and stepped_down[0] - healed <= 1.0 + 1e-9  # at b's or a's next advert


def test_restarted_router_after_crash_leaves_a_single_vip_owner():
    lan = three()
    lan.start()
    lan.run_for(10)
    lan.crash("a")
    lan.run_for(10)
    lan.start("a")  # comes back and preempts
    lan.run_for(10)
    assert_single_master(lan, "a")


def test_one_way_delay_keeps_one_master():
    lan = three(interval_cs=10, delay=0.015)
    lan.start()
    lan.run_for(5)
    assert_single_master(lan, "a")
    last = lan.last_advert_at("a")
    lan.crash("a")
    lan.run_for(5)
    assert_single_master(lan, "b")
    # The last advert reached b `delay` later, so b's timer started then.
    assert lan.became_master_at("b") == pytest.approx(last + 0.015 + master_down_interval(150, 10), abs=1e-9)


def test_total_loss_gives_every_router_mastership_and_recovery_restores_one():
    lan = three()
    lan.start()
    lan.run_for(5)
    lan.drop_all = True
    lan.run_for(5)
    assert sorted(lan.masters()) == ["a", "b", "c"]
    lan.drop_all = False
    lan.run_for(2)
    assert_single_master(lan, "a")


def test_9568_5_2_8_checksum_form_mismatch_splits_the_brain_unless_receiver_accepts_both():
    # Message-only sender (RFC 9568) against a pseudo-header-only receiver (keepalived 2.2.7 / FRR 8.4).
    lan = FakeLan()
    lan.add("rfc9568", cfg(200), "198.51.100.11", transmit_form=ChecksumForm.MESSAGE_ONLY)
    lan.add("legacy", cfg(100), "198.51.100.12", receive_mode=ChecksumMode.PSEUDO_HEADER)
    lan.start()
    lan.run_for(10)
    assert sorted(lan.masters()) == ["legacy", "rfc9568"]
    assert lan.nodes["legacy"].router.counters.drops["checksum"] > 0

    lan = FakeLan()
    lan.add("rfc9568", cfg(200), "198.51.100.11", transmit_form=ChecksumForm.MESSAGE_ONLY)
    lan.add("ours", cfg(100), "198.51.100.12", receive_mode=ChecksumMode.ACCEPT_BOTH)
    lan.start()
    lan.run_for(10)
    assert lan.masters() == ["rfc9568"]
    assert lan.nodes["ours"].router.counters.message_only_checksums > 0


def test_ipv6_election_and_takeover():
    vips = (ip_address("fe80::51"), ip_address("2001:db8::51"))
    lan = FakeLan()
    lan.add("a", RouterConfig(51, vips, priority=200), "fe80::a")
    lan.add("b", RouterConfig(51, vips, priority=100), "fe80::b")
    lan.start()
    lan.run_for(5)
    assert lan.masters() == ["a"] and lan.nodes["a"].vips == set(vips)
    lan.stop("a")
    lan.run_for(5)
    assert lan.masters() == ["b"]


def test_3768_v2_cluster_elects_and_fails_over():
    lan = FakeLan()
    lan.add("a", cfg(200, version=2), "198.51.100.11")
    lan.add("b", cfg(100, version=2), "198.51.100.12")
    lan.start()
    lan.run_for(10)
    assert lan.masters() == ["a"]
    last = lan.last_advert_at("a")
    lan.crash("a")
    lan.run_for(10)
    assert lan.became_master_at("b") == pytest.approx(last + master_down_interval(100, 100, version=2))


def test_9568_8_3_2_two_owners_settle_on_one_master_without_flapping():
    """R25: two routers configured as owner start as masters (§6.4.1); the equal-priority tie-break leaves the
    higher address as the only master, for good, and both report the conflict."""
    lan = FakeLan()
    lan.add("low", cfg(255), "198.51.100.11")
    lan.add("high", cfg(255), "198.51.100.12")
    lan.start()
    lan.run_for(0.5)
    assert_single_master(lan, "high")
    settled = len(lan.transitions)
    lan.run_for(60)
    assert len(lan.transitions) == settled  # no flapping
    assert_single_master(lan, "high")
    assert lan.nodes["low"].router.conflict == "another address owner 198.51.100.12 (priority 255)"
    assert lan.nodes["high"].router.conflict == "another address owner 198.51.100.11 (priority 255)"
    lan.stop("high")
    lan.run_for(5)
    assert_single_master(lan, "low")
