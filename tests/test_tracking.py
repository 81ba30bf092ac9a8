"""vrrpd.protocol.tracking: keepalived's tracking arithmetic, with weight 0 made explicit (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrpd.protocol.tracking import (
    MAX_WEIGHT,
    RiseFall,
    Tracker,
    TrackerKind,
    Tracking,
    TrackState,
    effective_priority,
)

S, IF = TrackerKind.SCRIPT, TrackerKind.INTERFACE
UP, DOWN, UNKNOWN = TrackState.UP, TrackState.DOWN, TrackState.UNKNOWN


def test_negative_weight_is_subtracted_only_while_failing():
    t = Tracker(S, "chk", -150)
    assert [t.contribution(s) for s in (UNKNOWN, UP, DOWN)] == [0, 0, -150]


def test_positive_weight_is_added_only_while_passing():
    t = Tracker(S, "chk", 20)
    assert [t.contribution(s) for s in (UNKNOWN, UP, DOWN)] == [0, 20, 0]


def test_effect_text():
    assert Tracker(S, "a", 20).effect == "weight +20"
    assert Tracker(S, "a", -150).effect == "weight -150"
    assert Tracker(IF, "eth1", None).effect == "fault"


@pytest.mark.parametrize("weight", [0, 254, -254, 1000])
def test_weight_zero_and_out_of_range_are_refused(weight):
    with pytest.raises(ValueError):
        Tracker(S, "a", weight)


def test_effective_priority_sums_and_clamps_to_1_254():
    assert effective_priority(100, [20, -50]) == 70
    assert effective_priority(100, [-150]) == 1
    assert effective_priority(200, [100]) == 254
    assert effective_priority(100, []) == 100


def test_owner_is_never_moved():
    assert effective_priority(255, [-253]) == 255
    tracking = Tracking(255, [Tracker(S, "a", -100)])
    tracking.set_state(S, "a", DOWN)
    assert tracking.priority == 255


def test_tracking_follows_states_and_reports_faults_in_order():
    tracking = Tracking(
        200,
        [Tracker(S, "web", -150), Tracker(S, "db", None), Tracker(IF, "eth1", 30), Tracker(IF, "eth0", None)],
    )
    assert tracking.priority == 200 and tracking.faults == ("track script db has not reported yet",)
    assert tracking.set_state(S, "db", UP)
    assert tracking.faults == ()
    assert tracking.set_state(S, "web", DOWN)
    assert not tracking.set_state(S, "web", DOWN)  # unchanged
    assert not tracking.set_state(S, "unknown-script", DOWN)  # not ours
    assert tracking.priority == 50
    tracking.set_state(IF, "eth1", UP)
    assert tracking.priority == 80
    tracking.set_state(S, "db", DOWN)
    tracking.set_state(IF, "eth0", DOWN)
    # Fault precedence is the router's (Faulted wins over any priority); the priority is still computed.
    assert tracking.faults == ("track script db failed", "interface eth0 down")
    assert tracking.priority == 80
    tracking.set_state(S, "db", UP)
    tracking.set_state(IF, "eth0", UP)
    assert tracking.faults == ()


def test_a_fault_script_that_has_not_reported_yet_holds_a_starting_router():
    """Issue #12: keepalived 2.2.7 keeps an instance in FAULT while a weight-0 script is still in its init state
    (vrrp_track.c `initialise_track_script_state` counts it in `num_script_init`; vrrp_scheduler.c
    `vrrp_init_state` enters FAULT "(init)"). A weighted script in that state adds nothing, so the priority is the
    base; interfaces and files never wait (their state is known before the router starts)."""
    tracking = Tracking(
        100, [Tracker(S, "db", None), Tracker(S, "web", 50), Tracker(S, "api", -50), Tracker(IF, "eth1", None)]
    )
    assert tracking.faults == ("track script db has not reported yet",)
    assert tracking.priority == 100
    tracking.set_state(S, "db", UNKNOWN)
    assert tracking.faults == ("track script db has not reported yet",)
    tracking.set_state(S, "db", DOWN)
    assert tracking.faults == ("track script db failed",)
    tracking.set_state(S, "db", UP)
    assert tracking.faults == () and tracking.awaiting == set()


def test_a_reload_does_not_make_a_running_router_wait_for_a_new_script():
    """Issue #12: a fault script that a reload adds to a running router does not hold it before it has spoken
    (keepalived 2.2.7: a script in SCRIPT_INIT_STATE_INIT_RELOAD is not counted in `num_script_init`,
    vrrp_track.c `initialise_track_script_state`); it faults once it fails. One the old tracking still waited
    for keeps holding, and a weighted script turned fault does not start waiting."""
    old = Tracking(100, [Tracker(S, "db", None), Tracker(S, "web", 10)])
    new = Tracking(100, [Tracker(S, "db", None), Tracker(S, "web", None), Tracker(S, "new", None)])
    new.carry_over(old)
    assert new.faults == ("track script db has not reported yet",)
    old.set_state(S, "db", UP)
    new = Tracking(100, [Tracker(S, "db", None), Tracker(S, "new", None)])
    new.carry_over(old)
    assert new.faults == () and new.states[(S, "db")] is UP
    new.set_state(S, "new", DOWN)
    assert new.faults == ("track script new failed",)


def test_duplicate_tracker_refused():
    with pytest.raises(ValueError):
        Tracking(100, [Tracker(S, "a", 10), Tracker(S, "a", -10)])


@given(
    base=st.integers(1, 255),
    weights=st.lists(st.integers(-MAX_WEIGHT, MAX_WEIGHT).filter(bool), max_size=8),
    states=st.lists(st.sampled_from(list(TrackState)), min_size=8, max_size=8),
)
def test_property_priority_in_range_and_owner_fixed(base, weights, states):
    trackers = [Tracker(S, f"s{i}", w) for i, w in enumerate(weights)]
    tracking = Tracking(base, trackers)
    for t, state in zip(trackers, states, strict=False):
        tracking.set_state(t.kind, t.name, state)
    p = tracking.priority
    assert p == 255 if base == 255 else 1 <= p <= 254


# --- rise / fall ----------------------------------------------------------------------------------------


def run(counter: RiseFall, results: str) -> list[str]:
    """Feed '+' (success) and '-' (failure); the state after each, as unknown/up/down."""
    out = []
    for r in results:
        counter.record(r == "+")
        out.append(counter.state.value)
    return out


def test_rise_fall_one_follows_each_result():
    assert run(RiseFall(1, 1), "+--+") == ["up", "down", "down", "up"]


def test_rise_fall_needs_consecutive_results():
    c = RiseFall(rise=2, fall=3, state=DOWN)
    assert run(c, "+-++") == ["down", "down", "down", "up"]
    assert run(c, "--+---") == ["up"] * 5 + ["down"]
    assert run(c, "+-++") == ["down"] * 3 + ["up"]


@pytest.mark.parametrize(("first", "state"), [("+", "up"), ("-", "down")])
def test_rise_fall_the_first_result_of_a_new_script_decides(first, state):
    """Issue #12: keepalived 2.2.7 starts a script's count at `rise - 1` ("one success is enough",
    vrrp_scheduler.c `vrrp_init_script`), and a failure while still in the init state goes down at once
    (`vrrp_script_child_thread`); only later changes need `rise` passes or `fall` failures in a row."""
    c = RiseFall(rise=3, fall=3)
    assert run(c, first) == [state]
    assert run(c, "-" * 3 if first == "+" else "+" * 3) == ([state] * 2 + ["down" if first == "+" else "up"])


def test_rise_fall_starting_down_needs_rise_passes():
    """`initial_state: down` (keepalived's `init_fail`: the script's result starts at 0, vrrp_scheduler.c
    `vrrp_init_script`) needs the full `rise` passes to come up."""
    assert run(RiseFall(rise=3, fall=1, state=DOWN), "+++") == ["down", "down", "up"]


def test_rise_fall_restarted_by_a_reload_keeps_the_verdict_until_the_new_check_has_spoken():
    """Issue #11: a changed script definition restarts its count from the state so far, not from unknown."""
    c = RiseFall(rise=2, fall=2, state=TrackState.DOWN)
    assert run(c, "+-") == ["down", "down"]
    assert run(c, "++") == ["down", "up"]


def test_rise_fall_reports_changes_only():
    c = RiseFall(rise=1, fall=2)
    assert [c.record(ok) for ok in (True, True, False, False, False)] == [True, False, False, True, False]


@pytest.mark.parametrize(("rise", "fall"), [(0, 1), (1, 0)])
def test_rise_fall_refuses_zero(rise, fall):
    with pytest.raises(ValueError):
        RiseFall(rise, fall)
