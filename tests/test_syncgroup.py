"""Sync groups on the pure core (issue #5 point 5): two routers with two instances each on a FakeLan, adverts
through the real codec, a float clock. Semantics: vrrpd/protocol/syncgroup.py's docstring."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

import pytest
from fakelan import FakeLan
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrpd.protocol import Faulted, PriorityChanged, Recovered, RouterConfig, ShutdownRequested, State
from vrrpd.protocol.events import Input
from vrrpd.protocol.syncgroup import Coordinated, GroupStateChanged, SyncGroup
from vrrpd.protocol.timers import master_down_interval, skew_time
from vrrpd.protocol.tracking import Tracker, TrackerKind, TrackState

X_VIP, Y_VIP = ip_address("198.51.100.100"), ip_address("203.0.113.100")
ADDRESS = {"a": "198.51.100.11", "b": "198.51.100.12"}
CHECK = Tracker(TrackerKind.SCRIPT, "chk", None)


class GroupLan(FakeLan):
    """A FakeLan whose hosts run their two instances (x: VRID 1, y: VRID 2) in one sync group per host."""

    def __init__(self, priorities: dict[str, tuple[int, int]], **router: object) -> None:
        super().__init__()
        self.groups: dict[str, SyncGroup] = {}
        self.changes: list[tuple[float, GroupStateChanged]] = []
        for host, (px, py) in priorities.items():
            for member, vrid, vip, prio in (("x", 1, X_VIP, px), ("y", 2, Y_VIP, py)):
                config = RouterConfig(vrid=vrid, addresses=(vip,), priority=prio, sync_group=host, **router)
                self.add(f"{host}.{member}", config, ADDRESS[host])
            self._group(host)

    def _group(self, host: str, trackers: tuple[Tracker, ...] = ()) -> None:
        self.groups[host] = SyncGroup(host, {f"{host}.{m}": self.nodes[f"{host}.{m}"].router for m in "xy"}, trackers)

    def group_of(self, name: str) -> SyncGroup:
        return self.groups[name.split(".")[0]]

    def feed(self, name: str, event: Input) -> list:
        out = self.group_of(name).handle(name, event, self.now)
        self._absorb(out)
        return [a for _, actions in out.actions for a in actions]

    def _absorb(self, out: Coordinated) -> None:
        for member, actions in out.actions:
            self.apply(member, actions)
        self.changes.extend((self.now, change) for change in out.changes)
        for group in self.groups.values():
            states = {r.state for r in group.members.values()}
            assert not (State.MASTER in states and states != {State.MASTER}), f"{group.name} split: {states}"

    def track(self, host: str, state: TrackState) -> None:
        self._absorb(self.groups[host].tracker_changed(TrackerKind.SCRIPT, "chk", state, self.now))

    def crash_host(self, host: str) -> None:
        for member in "xy":
            self.crash(f"{host}.{member}")
        self._group(host)

    def host_state(self, host: str) -> set[State]:
        return {self.nodes[f"{host}.{m}"].state for m in "xy"}

    def vips(self, host: str) -> set:
        return self.nodes[f"{host}.x"].vips | self.nodes[f"{host}.y"].vips

    def quiet_for(self, seconds: float) -> None:
        """Run on and assert that nobody changes state meanwhile (no flapping)."""
        before = len(self.transitions)
        self.run_for(seconds)
        assert self.transitions[before:] == [], self.transitions[before:]


def settled(lan: GroupLan, master: str, backup: str) -> None:
    assert lan.host_state(master) == {State.MASTER}, lan.host_state(master)
    assert lan.host_state(backup) == {State.BACKUP}, lan.host_state(backup)
    assert lan.vips(master) == {X_VIP, Y_VIP} and lan.vips(backup) == set()


def started(priorities: dict[str, tuple[int, int]] | None = None, **router: object) -> GroupLan:
    lan = GroupLan(priorities or {"a": (200, 200), "b": (100, 100)}, **router)
    lan.start()
    lan.run_for(10)
    return lan


def test_start_members_go_master_together_when_every_election_says_master():
    lan = GroupLan({"a": (200, 150), "b": (100, 100)})
    lan.start()
    lan.run_for(10)
    settled(lan, "a", "b")
    # a.x wants Master at its own Master_Down_Interval but waits for a.y's (longer: priority 150).
    both = master_down_interval(150, 100)
    assert lan.became_master_at("a.x") == pytest.approx(both) == lan.became_master_at("a.y")
    assert [(c.group, c.old, c.new, c.reason) for _, c in lan.changes] == [
        ("a", State.INITIALIZE, State.BACKUP, "member a.x: started"),
        ("b", State.INITIALIZE, State.BACKUP, "member b.x: started"),
        ("a", State.BACKUP, State.MASTER, "every member's master down timer expired"),
    ]
    lan.quiet_for(30)


def test_member_fault_moves_every_vip_to_the_peer_within_skew_time_and_holds_the_group():
    lan = started()
    at = lan.now
    lan.feed("a.x", Faulted("interface eth1 down"))
    assert lan.nodes["a.x"].state is State.FAULT and lan.nodes["a.y"].state is State.BACKUP
    # Both leave as a shutting-down master would (RFC 9568 §6.4.3): priority 0, so b takes over after Skew_Time.
    assert lan.nodes["a.x"].sent[-1] == (at, 0) and lan.nodes["a.y"].sent[-1] == (at, 0)
    assert lan.vips("a") == set()
    lan.run_for(5)
    settled_b = lan.host_state("b") == {State.MASTER} and lan.vips("b") == {X_VIP, Y_VIP}
    assert settled_b
    assert lan.became_master_at("b.x", after=at) == pytest.approx(at + skew_time(100, 100))
    group = lan.groups["a"]
    assert group.state is State.FAULT
    # a.y's own election says Master (it hears b.y, priority 100 < 200, and preempts), but a.x holds the group.
    assert lan.nodes["a.y"].router.wants_master
    assert group.held_by(lan.now) == "member a.x is in FAULT (interface eth1 down)"
    lan.quiet_for(30)
    # The healthy member is BACKUP, not FAULT: only a.x has a fault of its own.
    assert lan.nodes["a.y"].state is State.BACKUP


def test_member_recovery_preempts_back_after_its_own_master_down_interval():
    lan = started()
    lan.feed("a.x", Faulted("interface eth1 down"))
    lan.run_for(10)
    at = lan.now
    lan.feed("a.x", Recovered())
    assert lan.nodes["a.x"].state is State.BACKUP
    lan.run_for(10)
    settled(lan, "a", "b")
    # a.x restarts as Backup (RFC 9568 §6.4.1) and must win its own election first: one Master_Down_Interval.
    assert lan.became_master_at("a.x", after=at) == pytest.approx(at + master_down_interval(200, 100))
    assert lan.became_master_at("a.y", after=at) == lan.became_master_at("a.x", after=at)
    group_states = [c.new for _, c in lan.changes if c.group == "a"]
    assert group_states[-4:] == [State.MASTER, State.FAULT, State.BACKUP, State.MASTER]
    lan.quiet_for(30)


def test_losing_one_election_takes_the_whole_group_out():
    lan = started()
    lan.feed("b.x", PriorityChanged(250))  # b now outranks a on x only
    lan.run_for(10)
    # b.x wants Master, but b.y defers to a.y (200 > 100): b stays Backup and a keeps every VIP.
    settled(lan, "a", "b")
    assert lan.nodes["b.x"].router.wants_master
    assert lan.groups["b"].held_by(lan.now) == "member b.y defers to master 198.51.100.11 (priority 200)"
    lan.quiet_for(30)
    lan.feed("b.y", PriorityChanged(250))  # now b outranks a on both members: b preempts the whole group
    lan.run_for(10)
    settled(lan, "b", "a")
    lan.quiet_for(30)


def test_peer_higher_on_one_member_only_keeps_whoever_holds_the_vips():
    """Mirrored priorities: neither group ever preempts the other, whichever started first keeps all VIPs."""
    lan = GroupLan({"a": (200, 100), "b": (100, 200)})
    lan.start("a.x", "a.y")
    lan.run_for(10)
    lan.start("b.x", "b.y")
    lan.run_for(10)
    settled(lan, "a", "b")
    assert lan.groups["b"].held_by(lan.now) == "member b.x defers to master 198.51.100.11 (priority 200)"
    lan.quiet_for(60)


@pytest.mark.parametrize("delay", [0.001, 0.05, 0.3])
def test_mirrored_priorities_both_master_at_once_settle_by_the_address_tie_break(delay):
    """Both groups go Master at the same instant and each loses one election. Without a tie-break they would
    yield and return together forever; the group that lost to a higher address (a, 198.51.100.11 < .12, the
    RFC 9568 §6.4.3 orientation) holds one extra Master_Down_Interval, so b takes every VIP and a defers."""
    lan = GroupLan({"a": (200, 100), "b": (100, 200)})
    lan.delay = delay
    lan.start()
    lan.run_for(20)
    settled(lan, "b", "a")
    assert len(lan.transitions) <= 14, lan.transitions
    lan.quiet_for(60)


@pytest.mark.parametrize("priorities", [{"a": (200, 200), "b": (100, 100)}, {"a": (200, 100), "b": (100, 200)}])
def test_healed_partition_ends_with_one_group_holding_every_vip(priorities):
    lan = started(priorities)
    lan.partition({"a.x", "a.y"}, {"b.x", "b.y"})
    lan.run_for(10)
    assert lan.masters() == ["a.x", "a.y", "b.x", "b.y"]
    lan.heal()
    lan.run_for(20)
    masters = {name.split(".")[0] for name in lan.masters()}
    assert len(masters) == 1, lan.masters()
    (winner,) = masters
    settled(lan, winner, "b" if winner == "a" else "a")
    lan.quiet_for(60)


def test_group_tracker_fault_holds_every_member_in_backup_and_recovery_preempts_back():
    lan = GroupLan({"a": (200, 200), "b": (100, 100)})
    lan._group("a", (CHECK,))
    lan.start()
    lan.track("a", TrackState.UP)  # its first result (until then the group is held: issue #12)
    lan.run_for(10)
    settled(lan, "a", "b")
    at = lan.now
    lan.track("a", TrackState.DOWN)
    assert lan.host_state("a") == {State.BACKUP} and lan.groups["a"].state is State.FAULT
    assert lan.groups["a"].held_by(at) == "track script chk failed"
    assert [lan.nodes[n].sent[-1] for n in ("a.x", "a.y")] == [(at, 0), (at, 0)]
    lan.run_for(5)
    settled(lan, "b", "a")
    lan.quiet_for(30)
    lan.track("a", TrackState.UP)
    lan.run_for(10)
    settled(lan, "a", "b")
    reasons = [c.reason for _, c in lan.changes if c.group == "a" and c.new is State.FAULT]
    assert reasons == ["track script chk has not reported yet", "track script chk failed"]


def test_retrack_keeps_the_members_and_their_state_and_brings_them_in_line_with_the_new_trackers():
    """Issue #11: a reload that changes a group's trackers keeps its members running. A kept tracker keeps its
    state; a failing one that comes holds the group (priority 0 from each master, RFC 9568 §6.4.3), and once it
    goes again the members win their elections back; a change that holds nothing moves nobody."""
    lan = GroupLan({"a": (200, 200), "b": (100, 100)})
    lan._group("a", (CHECK,))
    lan.start()
    lan.track("a", TrackState.UP)  # its first result (until then the group is held: issue #12)
    lan.run_for(10)
    settled(lan, "a", "b")
    group, routers = lan.groups["a"], dict(lan.groups["a"].members)
    other = Tracker(TrackerKind.INTERFACE, "eth9", None)
    out = group.retrack((CHECK, other), {other.key: TrackState.UP}, lan.now)
    lan._absorb(out)
    assert out.actions == [] and out.changes == [] and group.members == routers
    assert group.tracking.states == {CHECK.key: TrackState.UP, other.key: TrackState.UP}
    settled(lan, "a", "b")
    failing = Tracker(TrackerKind.INTERFACE, "eth8", None)
    lan._absorb(group.retrack((CHECK, failing), {failing.key: TrackState.DOWN}, lan.now))
    assert group.state is State.FAULT and group.held_by(lan.now) == "interface eth8 down"
    assert [lan.nodes[n].sent[-1][1] for n in ("a.x", "a.y")] == [0, 0]
    lan.run_for(5)
    settled(lan, "b", "a")
    lan._absorb(group.retrack((CHECK,), {}, lan.now))  # its members preempt b again (their elections say so)
    assert group.held_by(lan.now) is None
    lan.run_for(10)
    settled(lan, "a", "b")
    with pytest.raises(ValueError, match="no weights"):
        group.retrack((Tracker(TrackerKind.SCRIPT, "chk", -10),), {}, lan.now)


def test_stopping_a_group_whose_tracker_failed_reports_initialize_so_its_stop_hook_runs():
    """Issue #5 point 4/5: a group's on_stop runs at shutdown like an instance's, even while a group tracker
    holds it in FAULT (the daemon reports the group's INITIALIZE as STOP)."""
    lan = GroupLan({"a": (200, 200), "b": (100, 100)})
    lan._group("a", (CHECK,))
    lan.start()
    lan.run_for(10)
    lan.track("a", TrackState.DOWN)
    assert lan.groups["a"].state is State.FAULT
    lan.feed("a.x", ShutdownRequested())
    assert lan.host_state("a") == {State.INITIALIZE}
    assert lan.changes[-1][1] == GroupStateChanged("a", State.FAULT, State.INITIALIZE, "member a.x stopped")


def test_group_preempts_only_if_every_member_would_nopreempt_member_keeps_it_backup():
    lan = GroupLan({"a": (200, 200), "b": (100, 100)})
    lan.nodes["a.y"].router.config = replace(lan.nodes["a.y"].router.config, preempt=False)
    lan.start()
    lan.run_for(10)
    settled(lan, "a", "b")
    lan.feed("a.x", Faulted("interface eth1 down"))
    lan.run_for(5)
    lan.feed("a.x", Recovered())
    lan.run_for(10)
    # a.x would preempt b.x, but a.y does not preempt (preempt off): the group stays Backup.
    settled(lan, "b", "a")
    assert lan.groups["a"].held_by(lan.now) == "member a.y defers to master 198.51.100.12 (priority 100)"
    lan.quiet_for(30)


def test_stopping_one_member_stops_the_group_and_the_peer_takes_over_after_skew_time():
    lan = started()
    at = lan.now
    lan.feed("a.y", ShutdownRequested())
    assert lan.host_state("a") == {State.INITIALIZE}
    assert lan.groups["a"].state is State.INITIALIZE
    assert [lan.nodes[n].sent[-1] for n in ("a.x", "a.y")] == [(at, 0), (at, 0)]
    lan.nodes["a.x"].up = lan.nodes["a.y"].up = False
    lan.run_for(5)
    assert lan.host_state("b") == {State.MASTER}
    assert lan.became_master_at("b.y", after=at) == pytest.approx(at + skew_time(100, 100))


def test_crashed_peer_both_members_take_over_after_their_master_down_interval():
    lan = started()
    last = max(lan.last_advert_at("a.x"), lan.last_advert_at("a.y"))
    lan.crash_host("a")
    lan.run_for(10)
    assert lan.host_state("b") == {State.MASTER} and lan.vips("b") == {X_VIP, Y_VIP}
    assert lan.became_master_at("b.x", after=last) == pytest.approx(last + master_down_interval(100, 100), abs=0.01)


def test_owner_member_waits_for_its_group_instead_of_starting_as_master():
    """RFC 9568 §6.4.1 makes an owner Master at start; in a group it only wants it, until every member does."""
    lan = GroupLan({"a": (255, 200), "b": (100, 100)})
    lan.start()
    assert lan.nodes["a.x"].state is State.BACKUP and lan.nodes["a.x"].router.wants_master
    assert lan.groups["a"].waiting_for() == ["a.y"]
    lan.run_for(10)
    settled(lan, "a", "b")
    assert lan.became_master_at("a.x") == pytest.approx(master_down_interval(200, 100))


def test_startup_delay_of_one_member_holds_the_group():
    lan = GroupLan({"a": (200, 200), "b": (100, 100)})
    lan.nodes["a.y"].router.config = replace(lan.nodes["a.y"].router.config, startup_delay=8.0)
    lan.start()
    lan.run_for(5)
    assert lan.host_state("a") == {State.BACKUP} and lan.nodes["a.x"].router.wants_master
    assert lan.groups["a"].held_by(lan.now) == "member a.y is in its startup_delay"
    lan.run_for(10)
    settled(lan, "a", "b")
    assert lan.became_master_at("a.x") == pytest.approx(8.0)


def test_group_rejects_weighted_trackers_and_routers_of_another_group():
    lan = GroupLan({"a": (200, 200), "b": (100, 100)})
    with pytest.raises(ValueError, match="no weights"):
        SyncGroup("a", {"a.x": lan.nodes["a.x"].router}, [Tracker(TrackerKind.SCRIPT, "chk", -10)])
    with pytest.raises(ValueError, match="not configured as a member of sync group a"):
        SyncGroup("a", {"b.x": lan.nodes["b.x"].router})


# --- no flapping, whatever happens (hypothesis) ----------------------------------------------------------

EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["fault", "recover", "track_down", "track_up", "partition", "heal", "bump"]),
        st.sampled_from(["a.x", "a.y", "b.x", "b.y"]),
        st.floats(0.0, 6.0),
    ),
    max_size=12,
)


@settings(max_examples=80, deadline=None)
@given(events=EVENTS, mirrored=st.booleans(), delay=st.sampled_from([0.0, 0.002, 0.05]))
def test_any_event_sequence_never_splits_a_group_and_settles_without_flapping(events, mirrored, delay):
    """After every input, a group is Master on all members or on none (GroupLan asserts it); once every fault
    has cleared and the network is whole, exactly one group holds every VIP and nothing moves any more."""
    lan = GroupLan({"a": (200, 100), "b": (100, 200)} if mirrored else {"a": (200, 200), "b": (100, 100)})
    lan.delay = delay
    for host in "ab":
        lan._group(host, (CHECK,))
    lan.start()
    lan.run_for(5)
    for kind, name, wait in events:
        host = name.split(".")[0]
        if kind == "fault":
            lan.feed(name, Faulted("interface down"))
        elif kind == "recover":
            lan.feed(name, Recovered())
        elif kind == "track_down":
            lan.track(host, TrackState.DOWN)
        elif kind == "track_up":
            lan.track(host, TrackState.UP)
        elif kind == "partition":
            lan.partition({"a.x", "a.y"}, {"b.x", "b.y"})
        elif kind == "heal":
            lan.heal()
        else:
            lan.feed(name, PriorityChanged(150))
        lan.run_for(wait)
    lan.heal()
    for name in lan.nodes:
        lan.feed(name, Recovered())
    for host in "ab":
        lan.track(host, TrackState.UP)
    lan.run_for(30)
    masters = {name.split(".")[0] for name in lan.masters()}
    assert len(masters) == 1, [(n, node.state) for n, node in lan.nodes.items()]
    (winner,) = masters
    settled(lan, winner, "b" if winner == "a" else "a")
    lan.quiet_for(60)
