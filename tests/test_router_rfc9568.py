"""The state machine, one RFC rule per test (RFC 9568 §6 unless named otherwise; R/V ids: docs/conformance.md)."""

from __future__ import annotations

import random
import typing
from dataclasses import replace
from ipaddress import ip_address

import pytest

from vrrpd.protocol import (
    AddAddresses,
    AddressCheck,
    Advert,
    AdvertReceived,
    Announce,
    AuthType,
    ChecksumForm,
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
    RouterConfig,
    SendAdvert,
    ShutdownRequested,
    Started,
    State,
    StateChanged,
    TimerExpired,
    UpdateAddresses,
    VirtualRouter,
)
from vrrpd.protocol.router import TRANSITIONS
from vrrpd.protocol.timers import master_down_interval, skew_time

VIP = ip_address("198.51.100.100")
ME = ip_address("198.51.100.2")
PEER = ip_address("198.51.100.3")
NEW_VIP = ip_address("198.51.100.101")
VIP_SETS = [(VIP,), (VIP, NEW_VIP), (NEW_VIP,)]


def make(priority: int = 100, interval_cs: int = 100, me=ME, **kwargs) -> VirtualRouter:
    addresses = kwargs.pop("addresses", (VIP,))
    return VirtualRouter(
        RouterConfig(vrid=5, addresses=addresses, priority=priority, advert_interval_cs=interval_cs, **kwargs), me
    )


def advert(priority: int, interval_cs: int = 100, addresses=(VIP,), **kwargs) -> Advert:
    return Advert(vrid=kwargs.pop("vrid", 5), priority=priority, interval_cs=interval_cs, addresses=addresses, **kwargs)


def rx(router: VirtualRouter, priority: int, now: float, src=PEER, interval_cs: int = 100, **kwargs):
    return router.handle(AdvertReceived(src, advert(priority, interval_cs, **kwargs)), now)


def of_type(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def backup(priority: int = 100, now: float = 0.0, **kwargs) -> VirtualRouter:
    router = make(priority, **kwargs)
    router.handle(Started(), now)
    assert router.state is State.BACKUP
    return router


def master(priority: int = 100, now: float = 0.0, **kwargs) -> VirtualRouter:
    router = backup(priority, now, **kwargs)
    router.handle(TimerExpired(), router.next_deadline())
    assert router.state is State.MASTER
    return router


# --- §6.1 parameters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "skew_cs", "mdi_cs"),
    [(100, 60.9375, 360.9375), (200, 21.875, 321.875), (254, 0.78125, 300.78125)],
)
def test_9568_6_1_skew_time_and_master_down_interval_worked_values(priority, skew_cs, mdi_cs):
    assert skew_time(priority, 100) == pytest.approx(skew_cs / 100)
    assert master_down_interval(priority, 100) == pytest.approx(mdi_cs / 100)


def test_9568_6_1_skew_scales_with_the_master_interval():
    assert skew_time(200, 10) == pytest.approx(skew_time(200, 100) / 10)


def test_3768_6_1_v2_skew_is_in_seconds_independent_of_interval():
    assert skew_time(200, 300, version=2) == pytest.approx(56 / 256)
    assert master_down_interval(200, 300, version=2) == pytest.approx(9 + 56 / 256)


def test_9568_6_1_skew_uses_the_effective_priority():
    router = backup(100)
    router.handle(PriorityChanged(200), 0.0)
    assert router.skew_time == pytest.approx(skew_time(200, 100))
    assert router.master_down_interval == pytest.approx(master_down_interval(200, 100))


# --- §6.4.1 Initialize ----------------------------------------------------------------------------------------


def test_9568_6_4_1_owner_starts_as_master_advertises_and_announces():
    router = make(255)
    actions = router.handle(Started(), 10.0)
    assert [type(a) for a in actions] == [AddAddresses, SendAdvert, Announce, StateChanged]
    assert actions[1].advert.priority == 255
    assert actions[2].addresses == (VIP,)
    assert actions[3] == StateChanged(State.INITIALIZE, State.MASTER, actions[3].reason)
    assert router.next_deadline() == pytest.approx(11.0)  # Adver_Timer = Advertisement_Interval


def test_9568_6_4_1_non_owner_starts_as_backup_without_sending():
    router = make(200, interval_cs=50)
    actions = router.handle(Started(), 10.0)
    assert not of_type(actions, SendAdvert) and not of_type(actions, Announce)
    assert router.state is State.BACKUP
    assert router.master_adver_interval_cs == 50
    assert router.next_deadline() == pytest.approx(10.0 + master_down_interval(200, 50))


def test_9568_6_4_1_initialize_ignores_adverts_and_timers():
    router = make(100)
    assert rx(router, 200, 1.0) == []
    assert router.handle(TimerExpired(), 5.0) == []
    assert router.state is State.INITIALIZE and router.next_deadline() is None


def test_started_twice_is_harmless():
    router = backup(100)
    deadline = router.next_deadline()
    assert router.handle(Started(), 1.0) == []
    assert router.next_deadline() == deadline


# --- §6.4.2 Backup ---------------------------------------------------------------------------------------------


def test_9568_6_4_2_master_down_timer_expiry_takes_over():
    router = backup(100, now=0.0)
    deadline = router.next_deadline()
    assert router.handle(TimerExpired(), deadline - 1e-6) == []  # early wake-up: nothing yet
    actions = router.handle(TimerExpired(), deadline)
    assert [type(a) for a in actions] == [AddAddresses, SendAdvert, Announce, StateChanged]
    assert actions[1].advert.priority == 100
    assert router.state is State.MASTER
    assert router.next_deadline() == pytest.approx(deadline + 1.0)
    assert router.counters.became_master == 1


def test_9568_6_4_2_backup_priority_zero_waits_skew():
    router = backup(200)
    rx(router, 0, 5.0)
    assert router.next_deadline() == pytest.approx(5.0 + skew_time(200, 100))
    assert router.counters.priority_zero_received == 1


def test_9568_6_4_2_higher_priority_advert_resets_master_down_timer():
    router = backup(100)
    rx(router, 150, 2.0)
    assert router.next_deadline() == pytest.approx(2.0 + master_down_interval(100, 100))
    assert (router.master_address, router.master_priority, router.master_seen_at) == (PEER, 150, 2.0)


def test_9568_6_4_2_adopts_advertised_interval_and_recomputes_skew():
    router = backup(200, interval_cs=100)
    rx(router, 250, 3.0, interval_cs=20)
    assert router.master_adver_interval_cs == 20
    assert router.skew_time == pytest.approx((256 - 200) * 20 / 256 / 100)
    assert router.next_deadline() == pytest.approx(3.0 + 0.6 + (256 - 200) * 20 / 256 / 100)


def test_9568_6_4_2_backup_never_discards_for_interval_mismatch():
    router = backup(100, interval_cs=100)
    rx(router, 150, 1.0, interval_cs=4095)
    assert router.counters.drops == {}
    assert router.master_adver_interval_cs == 4095


def test_9568_6_4_2_preempt_discards_lower_priority_so_timer_runs_out():
    router = backup(200)
    deadline = router.next_deadline()
    rx(router, 100, 1.0)
    assert router.next_deadline() == deadline
    assert router.counters.lower_priority_received == 1 and router.counters.drops == {}
    actions = router.handle(TimerExpired(), deadline)
    assert router.state is State.MASTER and of_type(actions, SendAdvert)


def test_9568_6_4_2_no_preempt_accepts_lower_priority_master():
    router = backup(200, preempt=False)
    rx(router, 100, 1.0)
    assert router.next_deadline() == pytest.approx(1.0 + master_down_interval(200, 100))
    assert router.master_priority == 100


def test_9568_6_4_2_equal_priority_always_resets_timer_no_tie_break_in_backup():
    # A Backup applies no address tie-break: lower and higher sender addresses both reset the timer.
    for src in (ip_address("198.51.100.1"), ip_address("198.51.100.9")):
        router = backup(100)
        rx(router, 100, 1.0, src=src)
        assert router.next_deadline() == pytest.approx(1.0 + master_down_interval(100, 100))


def test_9568_6_4_2_shutdown_from_backup_sends_nothing():
    router = backup(100)
    actions = router.handle(ShutdownRequested(), 1.0)
    assert of_type(actions, SendAdvert) == [] and of_type(actions, RemoveAddresses) == []
    assert router.state is State.INITIALIZE and router.next_deadline() is None


# --- §6.4.3 Master (Active) ------------------------------------------------------------------------------------


def test_9568_6_4_3_adver_timer_sends_and_rearms():
    router = master(100)
    at = router.next_deadline()
    actions = router.handle(TimerExpired(), at)
    assert [type(a) for a in actions] == [SendAdvert]
    assert router.next_deadline() == pytest.approx(at + 1.0)


def test_9568_7_2_master_sends_its_configured_interval_not_the_learned_one():
    router = backup(200, interval_cs=100)
    rx(router, 250, 1.0, interval_cs=20)  # learned 20 cs from the old master
    actions = router.handle(TimerExpired(), router.next_deadline())
    assert of_type(actions, SendAdvert)[0].advert.interval_cs == 100
    assert of_type(router.handle(TimerExpired(), router.next_deadline()), SendAdvert)[0].advert.interval_cs == 100


def test_9568_7_2_adverts_carry_all_addresses_in_configured_order():
    addresses = (ip_address("198.51.100.103"), ip_address("198.51.100.101"), ip_address("198.51.100.102"))
    router = master(100, addresses=addresses)
    sent = of_type(router.handle(TimerExpired(), router.next_deadline()), SendAdvert)[0].advert
    assert sent.addresses == addresses and sent.vrid == 5 and sent.version == 3


def test_9568_6_4_3_shutdown_sends_priority_zero_and_removes_vips():
    router = master(100)
    actions = router.handle(ShutdownRequested(), 9.0)
    assert [type(a) for a in actions] == [SendAdvert, RemoveAddresses, StateChanged]
    assert actions[0].advert.priority == 0
    assert router.state is State.INITIALIZE and router.next_deadline() is None
    assert router.counters.priority_zero_sent == 1


def test_9568_6_4_3_priority_zero_advert_triggers_an_immediate_advert():
    router = master(100)
    actions = rx(router, 0, 4.5)
    assert [type(a) for a in actions] == [SendAdvert]
    assert actions[0].advert.priority == 100
    assert router.next_deadline() == pytest.approx(5.5)  # Adver_Timer reset
    assert router.state is State.MASTER


def test_9568_6_4_3_higher_priority_makes_master_step_down():
    router = master(100)
    actions = rx(router, 150, 7.0, interval_cs=50)
    assert [type(a) for a in actions] == [RemoveAddresses, StateChanged]
    assert router.state is State.BACKUP
    assert router.master_adver_interval_cs == 50
    assert router.next_deadline() == pytest.approx(7.0 + master_down_interval(100, 50))
    assert router.master_address == PEER


def test_9568_6_4_3_equal_priority_higher_address_wins():
    router = master(100, me=ip_address("198.51.100.2"))
    actions = rx(router, 100, 7.0, src=ip_address("198.51.100.3"))
    assert router.state is State.BACKUP and of_type(actions, RemoveAddresses)


def test_9568_6_4_3_equal_priority_lower_address_is_discarded_and_readvertised():
    router = master(100, me=ip_address("198.51.100.3"))
    actions = rx(router, 100, 7.0, src=ip_address("198.51.100.2"))
    assert router.state is State.MASTER
    assert [type(a) for a in actions] == [SendAdvert, Announce]


def test_9568_6_4_3_tie_break_is_unsigned_in_network_byte_order():
    # 203.0.113.1 > 198.51.100.2 in network order; little-endian order (last octet first) says the opposite.
    router = master(100, me=ip_address("198.51.100.2"))
    rx(router, 100, 1.0, src=ip_address("203.0.113.1"))
    assert router.state is State.BACKUP
    router6 = VirtualRouter(RouterConfig(5, (ip_address("2001:db8::100"),)), ip_address("fe80::2"))
    router6.handle(Started(), 0.0)
    router6.handle(TimerExpired(), router6.next_deadline())
    router6.handle(AdvertReceived(ip_address("fe80::1:1"), Advert(5, 100, 100, (ip_address("2001:db8::100"),))), 5.0)
    assert router6.state is State.BACKUP


def test_9568_6_4_3_lower_priority_is_discarded_and_answered_with_an_advert():
    router = master(200)
    at = router.next_deadline()
    actions = rx(router, 100, 1.0)
    assert [type(a) for a in actions] == [SendAdvert, Announce]
    assert actions[0].advert.priority == 200
    assert router.state is State.MASTER and router.next_deadline() == at
    assert router.counters.lower_priority_received == 1 and router.counters.drops == {}


def test_5798_6_4_3_lower_priority_discarded_silently_when_configured():
    router = master(200, advert_on_lower_priority=False)
    assert rx(router, 100, 1.0) == []
    assert router.state is State.MASTER


def test_priority_change_as_master_is_advertised_at_once():
    router = master(200)
    actions = router.handle(PriorityChanged(150), 2.0)
    assert [a.advert.priority for a in of_type(actions, SendAdvert)] == [150]
    assert router.next_deadline() == pytest.approx(3.0)
    assert router.handle(PriorityChanged(150), 2.5) == []


def test_priority_change_outside_range_is_a_programming_error():
    with pytest.raises(ValueError):
        backup(100).handle(PriorityChanged(0), 1.0)


# --- §7.1 receive checks done by the router --------------------------------------------------------------------


def test_5798_7_1_owner_discards_adverts():
    router = make(255)
    router.handle(Started(), 0.0)
    assert rx(router, 254, 1.0) == []
    assert router.counters.drops == {"owner": 1}
    assert router.state is State.MASTER


def test_9568_erratum_8298_owner_may_process_adverts_when_configured():
    router = make(255, owner_ignores_adverts=False)
    router.handle(Started(), 0.0)
    actions = rx(router, 254, 1.0)
    assert of_type(actions, SendAdvert)  # processed: lower priority, re-advertised
    assert "owner" not in router.counters.drops


# --- §5.2.4 / §8.3.2: at most one address owner per VRID (R25) ------------------------------------------------


def owner(me=ME, now: float = 0.0) -> VirtualRouter:
    router = make(255, me=me)
    router.handle(Started(), now)  # §6.4.1: the owner starts as master
    assert router.state is State.MASTER
    return router


def test_9568_5_2_4_owner_with_higher_address_keeps_master_and_reports_the_other_owner():
    router = owner(me=PEER)  # 198.51.100.3 > ME 198.51.100.2
    actions = rx(router, 255, 1.0, src=ME)
    assert router.state is State.MASTER
    assert router.conflict == f"another address owner {ME} (priority 255)"
    assert router.owner_conflict_seen_at == 1.0
    assert router.counters.owner_conflicts == 1
    assert "owner" not in router.counters.drops  # another owner's advert is never silently dropped
    (log,) = of_type(actions, Log)
    assert (log.level, log.key) == ("error", "owner_conflict")
    assert str(ME) in log.message and "§5.2.4" in log.message and "this router" in log.message
    # §6.4.3 (R23): it discards the equal-priority advert from the lower address and asserts itself at once,
    # and re-announces, since the other owner started as master and announced the VIPs with its own MAC.
    assert of_type(actions, SendAdvert)[0].advert.priority == 255
    assert of_type(actions, Announce) == [Announce((VIP,))]


def test_9568_8_3_2_owner_with_lower_address_yields_instead_of_a_second_master():
    router = owner(me=ME)
    actions = rx(router, 255, 1.0, src=PEER)
    # §6.4.3 tie-break (R22): equal priority, higher primary address wins; no flapping, one master.
    assert router.state is State.BACKUP
    assert of_type(actions, RemoveAddresses) == [RemoveAddresses((VIP,))]
    assert router.conflict == f"another address owner {PEER} (priority 255)"
    assert router.master_address == PEER and router.master_priority == 255
    # As Backup it keeps hearing the winner (255 >= 255, §6.4.2 R11) and stays there, reporting each time.
    mdi = router.master_down_interval
    for t in (2.0, 3.0, 4.0):
        actions = rx(router, 255, t, src=PEER)
        assert router.state is State.BACKUP
        assert router.next_deadline() == pytest.approx(t + mdi)
        assert of_type(actions, Log)[0].key == "owner_conflict"
    assert router.counters.owner_conflicts == 4


def test_9568_8_3_2_yielded_owner_takes_over_when_the_other_owner_leaves():
    router = owner(me=ME)
    rx(router, 255, 1.0, src=PEER)
    rx(router, 0, 2.0, src=PEER)  # the other owner shuts down gracefully
    router.handle(TimerExpired(), router.next_deadline())
    assert router.state is State.MASTER
    assert router.conflict is not None  # sticky: the configuration error is still there


def test_owner_conflict_ends_when_that_address_advertises_below_255():
    router = owner(me=PEER)
    rx(router, 255, 1.0, src=ME)
    actions = rx(router, 200, 5.0, src=ME)  # reconfigured; as owner we still drop it (RFC 5798 §7.1)
    assert router.conflict is None and router.owner_conflict_seen_at is None
    assert router.counters.drops == {"owner": 1}
    assert of_type(actions, Log)[0].level == "info"


def test_non_owner_hearing_an_owner_is_no_conflict():
    router = backup(200)
    actions = rx(router, 255, 1.0)
    assert router.conflict is None and router.counters.owner_conflicts == 0
    assert not of_type(actions, Log)


def test_9568_7_1_wrong_vrid_or_family_is_dropped_without_state_change():
    router = backup(100)
    deadline = router.next_deadline()
    rx(router, 200, 1.0, vrid=6)
    router.handle(AdvertReceived(ip_address("fe80::9"), Advert(5, 200, 100, (ip_address("2001:db8::1"),))), 1.0)
    assert router.counters.drops == {"vrid": 1, "family": 1}
    assert router.next_deadline() == deadline


def test_9568_7_1_version_mismatch_is_dropped():
    router = backup(100)
    rx(router, 200, 1.0, version=2)
    assert router.counters.drops == {"version": 1}


def test_9568_7_1_address_list_mismatch_is_logged_not_dropped_by_default():
    router = backup(100)
    actions = rx(router, 200, 1.0, addresses=(ip_address("198.51.100.199"),))
    logs = of_type(actions, Log)
    assert len(logs) == 1 and logs[0].key == "address_mismatch" and "198.51.100.199" in logs[0].message
    assert router.counters.address_mismatches == 1 and router.counters.drops == {}
    assert router.next_deadline() == pytest.approx(1.0 + router.master_down_interval)


def test_9568_7_1_address_list_mismatch_dropped_when_configured():
    router = backup(100, address_check=AddressCheck.DROP)
    deadline = router.next_deadline()
    rx(router, 200, 1.0, addresses=(VIP, ip_address("198.51.100.199")))
    assert router.counters.drops == {"address_list": 1}
    assert router.next_deadline() == deadline


def test_9568_7_1_same_addresses_in_another_order_match():
    addresses = (ip_address("198.51.100.101"), ip_address("198.51.100.102"))
    router = backup(100, addresses=addresses)
    actions = rx(router, 200, 1.0, addresses=tuple(reversed(addresses)))
    assert of_type(actions, Log) == [] and router.counters.address_mismatches == 0


def test_9568_5_2_8_message_only_senders_are_counted():
    router = backup(100)
    router.handle(AdvertReceived(PEER, advert(200), ChecksumForm.MESSAGE_ONLY), 1.0)
    router.handle(AdvertReceived(PEER, advert(200), ChecksumForm.PSEUDO_HEADER), 2.0)
    assert router.counters.message_only_checksums == 1
    assert router.counters.adverts_received == 2


# --- VRRPv2 differences (RFC 3768) ----------------------------------------------------------------------------


def v2_backup(priority: int = 100, **kwargs) -> VirtualRouter:
    return backup(priority, version=2, **kwargs)


def test_3768_7_1_v2_interval_mismatch_is_dropped():
    router = v2_backup(100, interval_cs=100)
    deadline = router.next_deadline()
    rx(router, 200, 1.0, interval_cs=200, version=2)
    assert router.counters.drops == {"interval": 1}
    assert router.next_deadline() == deadline


def test_3768_6_1_v2_backup_timer_uses_skew_in_seconds():
    router = v2_backup(200, interval_cs=300)
    rx(router, 250, 1.0, interval_cs=300, version=2)
    assert router.next_deadline() == pytest.approx(1.0 + 9 + 56 / 256)


def test_3768_10_v2_simple_password_must_match():
    router = v2_backup(100, auth_type=AuthType.SIMPLE, auth_data=b"secret")
    rx(router, 200, 1.0, version=2, auth_type=AuthType.SIMPLE, auth_data=b"wrong")
    rx(router, 200, 1.0, version=2)
    assert router.counters.drops == {"auth": 2}
    rx(router, 200, 2.0, version=2, auth_type=AuthType.SIMPLE, auth_data=b"secret")
    assert router.master_priority == 200


def test_3768_v2_master_sends_v2_adverts_with_password():
    router = master(100, version=2, auth_type=AuthType.SIMPLE, auth_data=b"pw")
    sent = of_type(router.handle(TimerExpired(), router.next_deadline()), SendAdvert)[0].advert
    assert (sent.version, sent.auth_type, sent.auth_data, sent.interval_cs) == (2, AuthType.SIMPLE, b"pw", 100)


# --- preempt_delay (keepalived semantics) ---------------------------------------------------------------------


def test_preempt_delay_holds_preemption_after_startup():
    router = backup(200, preempt_delay=10.0, now=0.0)
    for t in (1.0, 4.0, 7.0):
        rx(router, 100, t)  # lower priority master accepted while the delay runs
    assert router.next_deadline() == pytest.approx(7.0 + master_down_interval(200, 100))
    rx(router, 100, 10.5)  # delay over: discard, the timer runs out, we preempt
    assert router.next_deadline() == pytest.approx(7.0 + master_down_interval(200, 100))
    router.handle(TimerExpired(), router.next_deadline())
    assert router.state is State.MASTER


def test_preempt_delay_restarts_when_a_lower_priority_master_appears_later():
    router = backup(200, preempt_delay=5.0, now=0.0)
    rx(router, 250, 20.0)  # a higher-priority master cancels any pending delay
    rx(router, 100, 21.0)  # a lower-priority master appears: delay starts now
    rx(router, 100, 25.0)
    assert router.next_deadline() == pytest.approx(25.0 + master_down_interval(200, 100))
    logs = [a for a in rx(router, 100, 26.5) if isinstance(a, Log)]
    assert logs == []
    assert router.counters.lower_priority_received == 1 and router.counters.drops == {}


# --- FAULT --------------------------------------------------------------------------------------------------------


def test_fault_from_master_says_goodbye_and_releases_vips():
    router = master(100)
    actions = router.handle(Faulted("interface down"), 3.0)
    assert [type(a) for a in actions] == [SendAdvert, RemoveAddresses, StateChanged]
    assert actions[0].advert.priority == 0
    assert router.state is State.FAULT and router.next_deadline() is None
    assert rx(router, 50, 4.0) == []
    actions = router.handle(Recovered(), 5.0)
    assert router.state is State.BACKUP
    assert router.next_deadline() == pytest.approx(5.0 + router.master_down_interval)


def test_fault_before_start_starts_in_fault():
    router = make(100)
    router.handle(Faulted("link down"), 0.0)
    assert router.state is State.INITIALIZE
    router.handle(Started(), 1.0)
    assert router.state is State.FAULT and router.fault_reason == "link down"
    router.handle(ShutdownRequested(), 2.0)
    assert router.state is State.INITIALIZE


# --- the transition table and config ----------------------------------------------------------------------------


def test_every_state_input_pair_has_a_transition():
    inputs = {Started, ShutdownRequested, AdvertReceived, TimerExpired, PriorityChanged, Faulted, Recovered}
    inputs |= {GroupMaster, GroupBackup}  # sync groups (issue #5 point 5)
    inputs |= {Reconfigured}  # a configuration reload (issue #11)
    inputs |= {Drained, Resumed}  # maintenance drain (issue #15)
    assert inputs == set(typing.get_args(Input))
    assert set(TRANSITIONS) == {(s, i) for s in State for i in inputs}


def test_the_target_column_of_the_table_is_exactly_what_each_handler_does():
    """h11's rule: the states each (state, input) may move to are data in TRANSITIONS, and `set_state` refuses any
    other. A seeded random walk over every input, owner or not, sync group member or not, reaches every listed
    target (no row is wider than its handler) and nothing else (the router would raise)."""
    rng = random.Random(9568)
    seen: dict[tuple[State, type], set[State]] = {key: set() for key in TRANSITIONS}
    for walk in range(400):
        kwargs = {"sync_group": "g"} if walk % 3 == 0 else {}
        if walk % 7 == 0:
            kwargs["startup_delay"] = 2.0
        router = make(rng.choice([100, 200, 255]), **kwargs)
        now = 0.0
        for _ in range(60):
            now += rng.choice([0.0, 0.5, 4.0])
            deadline = router.next_deadline()
            event = rng.choice(
                [
                    Started(),
                    ShutdownRequested(),
                    TimerExpired(),
                    Recovered(),
                    Faulted("link down"),
                    PriorityChanged(rng.choice([50, 150, 254])),
                    GroupMaster("group"),
                    GroupBackup("group"),
                    Reconfigured(replace(router.config, preempt=rng.random() < 0.5, addresses=rng.choice(VIP_SETS))),
                    AdvertReceived(PEER, advert(rng.choice([0, 50, 150, 255]))),
                    Resumed(),
                    *([] if router.config.is_owner else [Drained(rng.choice(list(Drain)))] * 2),
                ]
            )
            if isinstance(event, TimerExpired) and deadline is not None:
                now = max(now, deadline)
            before = router.state
            router.handle(event, now)
            if router.state is not before:
                seen[(before, type(event))].add(router.state)
    assert seen == {key: set(targets) for key, (_, targets) in TRANSITIONS.items()}


def test_a_transition_the_table_does_not_list_is_refused(monkeypatch):
    handler, _ = TRANSITIONS[(State.INITIALIZE, Started)]
    monkeypatch.setitem(TRANSITIONS, (State.INITIALIZE, Started), (handler, frozenset({State.MASTER})))
    with pytest.raises(RuntimeError, match="may not move to BACKUP"):
        make(100).handle(Started(), 0.0)


# --- a configuration reload changes a router in place (issue #11) -------------------------------------------------


def test_reload_changes_a_masters_addresses_and_advertises_them_at_once_and_keeps_its_state():
    """RFC 9568 §8.1.2 still holds for an address added by a reload: announced after it is in place."""
    router = master(100)
    actions = router.handle(Reconfigured(replace(router.config, addresses=(NEW_VIP,))), 0.5)
    (sent,) = of_type(actions, SendAdvert)  # the new list at once (§7.2), so the backups need not wait for it
    assert actions == [UpdateAddresses((NEW_VIP,), (VIP,)), sent, Announce((NEW_VIP,))]
    assert sent.advert.addresses == (NEW_VIP,) and sent.advert.priority == 100
    assert router.state is State.MASTER and router.next_deadline() == pytest.approx(1.5)


def test_reload_a_backup_records_new_addresses_without_touching_any():
    router = backup(100)
    deadline = router.next_deadline()
    assert router.handle(Reconfigured(replace(router.config, addresses=(VIP, NEW_VIP))), 0.5) == []
    assert router.state is State.BACKUP and router.next_deadline() == deadline
    actions = router.handle(TimerExpired(), deadline)  # and takes over with them (§6.4.2)
    assert of_type(actions, AddAddresses) == [AddAddresses((VIP, NEW_VIP))]


def test_reload_advert_interval_takes_effect_at_the_next_advert_of_a_master():
    """RFC 9568 §7.2: a Master advertises its configured interval; the one in flight is not rescheduled."""
    router = master(100)
    deadline = router.next_deadline()
    router.handle(Reconfigured(replace(router.config, advert_interval_cs=50)), 0.2)
    assert router.next_deadline() == deadline
    sent = of_type(router.handle(TimerExpired(), deadline), SendAdvert)[0].advert
    assert sent.interval_cs == 50
    assert router.next_deadline() == pytest.approx(deadline + 0.5)


def test_reload_a_backup_keeps_the_interval_it_learned_from_its_master():
    """RFC 9568 §6.4.2: Master_Adver_Interval is the master's; our own only matters when we become master."""
    router = backup(100)
    rx(router, 200, 0.1, interval_cs=20)
    router.handle(Reconfigured(replace(router.config, advert_interval_cs=300)), 0.2)
    assert router.master_adver_interval_cs == 20
    never_heard = backup(100)
    never_heard.handle(Reconfigured(replace(never_heard.config, advert_interval_cs=300)), 0.2)
    assert never_heard.master_adver_interval_cs == 300  # no master yet: our own interval is the one in use


def test_reload_preempt_off_makes_a_backup_accept_a_lower_priority_master():
    """RFC 9568 §6.4.2: without Preempt_Mode a lower-priority advert restarts the Master_Down_Timer."""
    router = backup(200)
    rx(router, 100, 0.1)
    assert router.counters.lower_priority_received == 1  # preempting: discarded
    router.handle(Reconfigured(replace(router.config, preempt=False)), 0.2)
    rx(router, 100, 0.3)
    assert router.counters.lower_priority_received == 1
    assert router.next_deadline() == pytest.approx(0.3 + router.master_down_interval)


@pytest.mark.parametrize(
    "change",
    [{"vrid": 6}, {"version": 2}, {"priority": 255}, {"sync_group": "g"}, {"addresses": (ip_address("2001:db8::1"),)}],
)
def test_reload_refuses_what_makes_a_new_router(change):
    router = master(100)
    with pytest.raises(ValueError, match="cannot change in place"):
        router.handle(Reconfigured(replace(router.config, **change)), 0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vrid": 0}, "vrid"),
        ({"priority": 0}, "priority"),
        ({"priority": 256}, "priority"),
        ({"addresses": ()}, "1..255"),
        ({"addresses": (VIP, ip_address("2001:db8::1"))}, "one family|all be IPv4"),
        ({"advert_interval_cs": 0}, "interval"),
        ({"advert_interval_cs": 4096}, "interval"),
        ({"version": 4}, "version"),
        ({"version": 2, "advert_interval_cs": 50}, "whole seconds"),
        ({"version": 2, "addresses": (ip_address("2001:db8::1"),)}, "IPv4 only"),
        ({"version": 2, "auth_data": b"123456789"}, "8 bytes"),
        ({"preempt_delay": -1}, "preempt_delay"),
    ],
)
def test_router_config_rejects_invalid_values(kwargs, match):
    values = {"vrid": 5, "addresses": (VIP,)} | kwargs
    with pytest.raises(ValueError, match=match):
        RouterConfig(**values)


def test_primary_address_must_match_family():
    with pytest.raises(ValueError, match="family"):
        VirtualRouter(RouterConfig(5, (VIP,)), ip_address("fe80::1"))


def test_3768_7_1_v2_address_list_mismatch_dropped_unless_from_the_owner():
    router = v2_backup(100)
    deadline = router.next_deadline()
    rx(router, 200, 1.0, version=2, addresses=(ip_address("198.51.100.199"),))
    assert router.counters.drops == {"address_list": 1}
    assert router.next_deadline() == deadline
    rx(router, 255, 2.0, version=2, addresses=(ip_address("198.51.100.199"),))
    assert router.master_priority == 255 and router.counters.drops == {"address_list": 1}


def test_lower_priority_readvert_reannounces_at_most_once_per_holdoff():
    """A router that sent a lower-priority advert believed it was master and may have announced the VIPs
    with its own MAC; the master re-announces (advert + GARP/NA) so clients recover at once, but a stream of
    such adverts (e.g. every 10 ms) must not make it flood GARP/NA."""
    router = master(200)
    kinds = [[type(a) for a in rx(router, 100, t)] for t in (1.0, 1.01, 5.99, 6.0)]
    assert kinds == [[SendAdvert, Announce], [SendAdvert], [SendAdvert], [SendAdvert, Announce]]
    assert of_type(rx(router, 100, 6.5), Announce) == []


def test_startup_delay_holds_mastership_then_elects_normally():
    router = make(200, startup_delay=10.0)
    router.handle(Started(), 0.0)
    assert router.state is State.BACKUP
    assert router.next_deadline() == pytest.approx(10.0)  # later than its Master_Down_Interval (3.2 s)
    rx(router, 0, 2.0)  # even a goodbye (Skew_Time) does not bring mastership forward
    assert router.handle(TimerExpired(), router.next_deadline()) == []
    assert router.next_deadline() == pytest.approx(10.0)
    actions = router.handle(TimerExpired(), 10.0)
    assert router.state is State.MASTER and of_type(actions, SendAdvert)


def test_startup_delay_also_holds_the_owner_and_only_once():
    router = make(255, startup_delay=5.0)
    router.handle(Started(), 0.0)
    assert router.state is State.BACKUP and router.next_deadline() == pytest.approx(5.0)
    router.handle(TimerExpired(), 5.0)
    assert router.state is State.MASTER
    router.handle(Faulted("link down"), 6.0)
    router.handle(Recovered(), 7.0)
    assert router.state is State.MASTER  # recovery is not a start-up: the owner takes over at once


# --- sync group members (issue #5 point 5; the group itself: tests/test_syncgroup.py) --------------------


def _member(priority: int = 100) -> VirtualRouter:
    return VirtualRouter(RouterConfig(vrid=51, addresses=(VIP,), priority=priority, sync_group="g"), ME)


def test_group_member_timer_expiry_wants_master_instead_of_taking_it():
    r = _member()
    r.handle(Started(), 0.0)
    deadline = r.next_deadline()
    assert deadline is not None
    assert r.handle(TimerExpired(), deadline) == []
    assert r.state is State.BACKUP and r.wants_master and r.next_deadline() is None
    actions = r.handle(GroupMaster("sync group g: go"), deadline)
    assert r.state is State.MASTER and StateChanged(State.BACKUP, State.MASTER, "sync group g: go") in actions


def test_group_member_defers_to_an_equal_or_higher_master_and_a_priority_zero_advert_ends_it():
    r = _member()
    r.handle(Started(), 0.0)
    r.handle(AdvertReceived(PEER, Advert(51, 100, 100, (VIP,))), 1.0)
    assert r.defers and not r.wants_master
    r.handle(AdvertReceived(PEER, Advert(51, 0, 100, (VIP,))), 2.0)  # §6.4.2: the master is leaving
    assert not r.defers and r.next_deadline() == pytest.approx(2.0 + skew_time(100, 100))


def test_group_backup_leaves_master_with_priority_zero_like_a_shutdown():
    """RFC 9568 §6.4.3: a master that stops sends priority 0, so the peers take over after Skew_Time."""
    r = _member(200)
    r.handle(Started(), 0.0)
    r.handle(TimerExpired(), 10.0)
    r.handle(GroupMaster("go"), 10.0)
    actions = r.handle(GroupBackup("sync group g: member y left MASTER"), 11.0)
    sends = [a.advert.priority for a in actions if isinstance(a, SendAdvert)]
    assert sends == [0] and RemoveAddresses((VIP,)) in actions
    assert r.state is State.BACKUP and not r.wants_master
    assert r.next_deadline() == pytest.approx(11.0 + master_down_interval(200, 100))


def test_group_backup_hold_delays_the_next_election_by_that_much():
    r = _member(200)
    r.handle(Started(), 0.0)
    r.handle(TimerExpired(), 10.0)
    r.handle(GroupMaster("go"), 10.0)
    r.handle(GroupBackup("sync group g: tie-break", hold=5.0), 11.0)
    assert r.next_deadline() == pytest.approx(11.0 + master_down_interval(200, 100) + 5.0)


def test_9568_6_4_3_adver_timer_keeps_its_grid_when_fired_late_but_restarts_after_a_stall():
    """§6.4.3 re-arms Adver_Timer with the interval: counted from the deadline, a late firing does not push every
    later advert back (no drift, no jitter); after a stall of a whole interval there is no catch-up burst."""
    router = master(100)
    at = router.next_deadline()
    assert of_type(router.handle(TimerExpired(), at + 0.3), SendAdvert)
    assert router.next_deadline() == pytest.approx(at + 1.0)
    at = router.next_deadline()
    assert of_type(router.handle(TimerExpired(), at + 2.5), SendAdvert)
    assert router.next_deadline() == pytest.approx(at + 3.5)
