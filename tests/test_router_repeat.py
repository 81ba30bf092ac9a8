"""A Backup's repeat (VirtualRouter.heard_again): the advert it follows, heard again, restarts Master_Down_Timer
(RFC 9568 §6.4.2) exactly as the full rules would, and takes the shortcut only when that is so."""

from __future__ import annotations

from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrpd.protocol import (
    Advert,
    AdvertReceived,
    Drain,
    Drained,
    Faulted,
    PriorityChanged,
    Recovered,
    Resumed,
    RouterConfig,
    Started,
    State,
    TimerExpired,
    VirtualRouter,
)
from vrrpd.protocol.packet import ChecksumForm

VIP = ip_address("198.51.100.100")
OURS = ip_address("198.51.100.2")
MASTER = ip_address("198.51.100.1")


def router(**config: object) -> VirtualRouter:
    r = VirtualRouter(RouterConfig(5, (VIP,), advert_interval_cs=1, **config), OURS)  # type: ignore[arg-type]
    r.handle(Started(), 0.0)
    return r


def advert(priority: int = 200, src=MASTER, addresses=(VIP,), form=ChecksumForm.PSEUDO_HEADER) -> AdvertReceived:
    return AdvertReceived(src, Advert(vrid=5, priority=priority, interval_cs=1, addresses=addresses), form)


def observable(r: VirtualRouter) -> tuple[object, ...]:
    """Everything of a router that an input can change, besides the memo itself."""
    return (
        r.state,
        r.priority,
        r.master_adver_interval_cs,
        r.master_down_at,
        r.adver_at,
        r.preempt_hold_until,
        r.master_hold_until,
        r.master_address,
        r.master_priority,
        r.master_seen_at,
        r.owner_conflict,
        r.wants_master,
        r.defers,
        r.drain,
        r.fault_reason,
        r.next_deadline(),
        repr(r.counters),
    )


def test_a_repeat_of_the_followed_advert_restarts_master_down_timer_section_6_4_2():
    r = router(priority=100)
    heard = advert()
    assert r.handle(heard, 0.001) == []
    assert r.heard_again(heard, 0.011) == r.master_down_at == 0.011 + r.master_down_interval
    assert r.master_seen_at == 0.011 and r.counters.adverts_received == 2
    assert r.heard_again(advert(), 0.021) is None  # an equal advert, not the screen's repeat: the full rules


def test_any_other_input_in_between_ends_the_shortcut():
    r = router(priority=100)
    heard = advert()
    r.handle(heard, 0.001)
    r.handle(PriorityChanged(90), 0.005)
    assert r.heard_again(heard, 0.011) is None
    assert r.handle(heard, 0.011) == [] and r.heard_again(heard, 0.021) is not None


def test_no_shortcut_when_the_outcome_hangs_on_the_clock_or_asks_for_something():
    # preempt_delay holds a lower master's takeover only until the hold ends: the rules must see every advert.
    held = router(priority=150, preempt_delay=1.0)
    lower = advert(priority=100)
    held.handle(lower, 0.001)
    assert held.heard_again(lower, 0.011) is None
    # An address mismatch logs (rate-limited) and counts each time.
    mismatched = router(priority=100)
    other = advert(addresses=(ip_address("198.51.100.101"),))
    assert mismatched.handle(other, 0.001) != []
    assert mismatched.heard_again(other, 0.011) is None
    # A message-only checksum is counted per advert (RFC 9568 §5.2.8).
    message_only = router(priority=100)
    legacy = advert(form=ChecksumForm.MESSAGE_ONLY)
    message_only.handle(legacy, 0.001)
    assert message_only.heard_again(legacy, 0.011) is None
    # A sync group member never does: its group (vrrpd.protocol.syncgroup) looks at every input of its members.
    member = router(priority=100, sync_group="g")
    member.handle(heard := advert(), 0.001)
    assert member.following is None and member.heard_again(heard, 0.011) is None
    # A Master never takes it: its rules for an advert are another matter (§6.4.3).
    master = router(priority=255)
    assert master.state is State.MASTER
    lower = advert(priority=100)
    master.handle(lower, 0.001)
    assert master.heard_again(lower, 0.011) is None


PEER_ADVERTS = [
    advert(priority, src, addresses, form)
    for priority in (0, 100, 150, 200, 255)
    for src in (MASTER, ip_address("198.51.100.3"))
    for addresses in ((VIP,), (ip_address("198.51.100.101"),))
    for form in (ChecksumForm.PSEUDO_HEADER, ChecksumForm.MESSAGE_ONLY)
]
"""A fixed set of AdvertReceived objects, so that the same object comes back as the screen's repeats do."""

inputs = st.one_of(
    st.sampled_from(PEER_ADVERTS),
    st.sampled_from(PEER_ADVERTS[:4]),  # the usual master, more often
    st.just(TimerExpired()),
    st.builds(PriorityChanged, st.sampled_from([90, 150, 254, 255])),
    st.builds(Faulted, st.just("link down")),
    st.just(Recovered()),
    st.builds(Drained, st.sampled_from(list(Drain))),
    st.just(Resumed()),
)


@settings(max_examples=600)
@given(
    priority=st.sampled_from([100, 150, 200, 254, 255]),
    preempt=st.booleans(),
    preempt_delay=st.sampled_from([0.0, 0.05]),
    steps=st.lists(st.tuples(st.floats(0, 0.05, allow_nan=False), inputs), max_size=60),
)
def test_the_shortcut_and_the_full_rules_agree_on_every_input_sequence(priority, preempt, preempt_delay, steps):
    """Two routers, one taking `heard_again` whenever it answers, the other only `handle`: after every input they
    are the same router, and the shortcut is taken only where the rules had nothing to do (no action)."""
    config = {"priority": priority, "preempt": preempt, "preempt_delay": preempt_delay}
    quick, full = router(**config), router(**config)
    now = 0.0
    for dt, event in steps:
        deadline = full.next_deadline()
        if isinstance(event, TimerExpired):
            now = max(now + dt, deadline) if deadline is not None else now + dt
        else:
            now = min(now + dt, deadline) if deadline is not None else now + dt
        if isinstance(event, Drained) and full.config.is_owner:
            continue  # refused (ValueError): the daemon never asks
        expected = full.handle(event, now)
        taken = quick.heard_again(event, now) if isinstance(event, AdvertReceived) else None
        if taken is None:
            assert quick.handle(event, now) == expected
        else:
            assert expected == [] and taken == full.master_down_at
        assert observable(quick) == observable(full)


def test_the_shortcut_is_what_a_backup_of_a_steady_master_takes():
    """Not vacuous: a Backup hearing its master every interval takes the shortcut for all but the first advert."""
    r = router(priority=100)
    heard, now, taken = advert(), 0.0, 0
    for _ in range(100):
        now += 0.01
        if r.heard_again(heard, now) is None:
            r.handle(heard, now)
        else:
            taken += 1
    assert taken == 99 and r.state is State.BACKUP and r.counters.adverts_received == 100
