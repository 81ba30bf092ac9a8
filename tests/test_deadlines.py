"""vrrpd.services.deadlines: many router deadlines behind one timer, on a float clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vrrpd.services.deadlines import Deadlines


def test_due_keys_come_out_earliest_first_with_their_deadline() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("b", 2.0)
    d.set("a", 1.0)
    d.set("c", 3.0)
    assert d.next() == 1.0
    assert d.pop_due(2.5) == [("a", 1.0), ("b", 2.0)]
    assert d.next() == 3.0
    assert d.pop_due(2.9) == []


def test_a_deadline_moved_later_is_not_due_at_its_old_time_and_needs_no_rearm() -> None:
    """A backup's Master_Down deadline moves later with every advert: recording it must not re-arm the timer,
    and the old time must not fire it."""
    d: Deadlines[str] = Deadlines()
    assert d.set("backup", 1.0) is True
    assert d.set("backup", 1.5) is False  # later: the queued entry at 1.0 will re-queue it
    assert d.pop_due(1.0) == []
    assert d.next() == 1.5
    assert d.pop_due(1.5) == [("backup", 1.5)]
    assert len(d) == 0


def test_a_deadline_moved_earlier_asks_for_a_rearm_and_fires_early() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("r", 5.0)
    assert d.set("r", 2.0) is True
    assert d.next() == 2.0
    assert d.pop_due(2.0) == [("r", 2.0)]
    assert d.pop_due(10.0) == []  # the stale entry at 5.0 is not a second firing


def test_removed_deadlines_never_fire() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("r", 1.0)
    d.set("r", None)
    assert d.next() is None
    assert d.pop_due(100.0) == []


def test_slack_serves_a_timer_early_only_for_keys_that_allow_it() -> None:
    """Masters' Adver_Timers due within their slack leave together; a Master_Down_Timer never early."""
    d: Deadlines[str] = Deadlines(slack=lambda key: 0.0005 if key.startswith("master") else 0.0, max_slack=0.001)
    d.set("master-1", 1.0)
    d.set("master-2", 1.0004)
    d.set("master-3", 1.0009)
    d.set("backup", 1.0001)
    assert d.pop_due(1.0) == [("master-1", 1.0), ("master-2", 1.0004)]
    assert d.next() == 1.0001
    assert d.pop_due(1.0001) == [("backup", 1.0001)]
    assert d.pop_due(1.0004) == [("master-3", 1.0009)]


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.one_of(st.none(), st.floats(0, 100, allow_nan=False))),
        max_size=40,
    ),
    st.lists(st.floats(0, 120, allow_nan=False), max_size=10),
)
def test_every_key_fires_exactly_at_its_last_deadline_never_before(
    sets: list[tuple[str, float | None]], clock_steps: list[float]
) -> None:
    """Whatever sequence of moves, each key fires once, at the last deadline it was given, and never before
    `now` reaches it; `next()` is never later than the earliest pending deadline (so no firing is missed)."""
    d: Deadlines[str] = Deadlines()
    want: dict[str, float] = {}
    for key, deadline in sets:
        d.set(key, deadline)
        if deadline is None:
            want.pop(key, None)
        else:
            want[key] = deadline
    fired: dict[str, float] = {}
    for now in [*sorted(clock_steps), 1000.0]:
        nxt = d.next()
        if want:
            assert nxt is not None and nxt <= min(want.values())
        for key, deadline in d.pop_due(now):
            assert deadline <= now
            assert key not in fired
            fired[key] = deadline
            del want[key]
    assert not want
    assert len(d) == 0


def test_refresh_requeues_entries_whose_deadline_moved_so_the_timer_is_armed_for_a_real_one() -> None:
    """A backup's deadline moved later by every advert: refreshed ahead, `next()` is a deadline that may fire."""
    d: Deadlines[str] = Deadlines()
    d.set("b1", 1.0)
    d.set("b2", 1.5)
    d.set("b1", 2.0)  # an advert moved it: recorded only, its entry at 1.0 stays queued
    assert d.next() == 1.0
    d.refresh(1.2)
    assert d.next() == 1.5  # b2's, which may fire: refreshing stops there
    d.set("b2", 2.5)
    d.refresh(1.6)
    assert d.next() == 2.0
    assert d.pop_due(2.0) == [("b1", 2.0)] and d.pop_due(2.5) == [("b2", 2.5)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set", "set", "refresh", "pop"]),
            st.sampled_from("abcd"),
            st.one_of(st.none(), st.floats(0, 10, allow_nan=False)),
        ),
        max_size=60,
    )
)
def test_refreshing_never_changes_what_fires_or_when(ops: list[tuple[str, str, float | None]]) -> None:
    """Two Deadlines given the same moves, one refreshed ahead at arbitrary times: both fire the same keys at the
    same deadlines; after a refresh, `next()` is a live deadline or one past the horizon (no wake-up for nothing)."""
    plain: Deadlines[str] = Deadlines()
    refreshed: Deadlines[str] = Deadlines()
    now = 0.0
    for op, key, value in ops:
        if op == "set":
            deadline = None if value is None else now + value
            plain.set(key, deadline)
            refreshed.set(key, deadline)
        elif op == "refresh":
            horizon = now + (value or 0.0)
            refreshed.refresh(horizon)
            nxt = refreshed.next()
            live = {k: refreshed.get(k) for k in "abcd" if refreshed.get(k) is not None}
            assert nxt is None or nxt in live.values() or nxt > horizon
        else:
            now += value or 0.0
            assert refreshed.pop_due(now) == plain.pop_due(now)
        earliest = min((d for k in "abcd" if (d := refreshed.get(k)) is not None), default=None)
        nxt = refreshed.next()
        assert (nxt is None) == (earliest is None)
        assert earliest is None or nxt <= earliest  # a refresh never makes a firing late
    assert refreshed.pop_due(1e9) == plain.pop_due(1e9)
