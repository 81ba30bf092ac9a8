"""Property tests of the state machine: arbitrary input sequences, and a rule-based LAN (h2's approach)."""

from __future__ import annotations

from ipaddress import ip_address

from fakelan import FakeLan
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from vrrpd.protocol import (
    AddAddresses,
    Advert,
    AdvertReceived,
    Drain,
    Drained,
    Faulted,
    PriorityChanged,
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
    VirtualRouter,
)

VIP = ip_address("198.51.100.100")
PEERS = [ip_address(f"198.51.100.{n}") for n in (1, 2, 3, 200)]

adverts = st.builds(
    AdvertReceived,
    st.sampled_from(PEERS),
    st.builds(
        Advert,
        vrid=st.sampled_from([5, 5, 5, 6]),
        priority=st.integers(0, 255),
        interval_cs=st.integers(1, 4095),
        addresses=st.sampled_from([(VIP,), (ip_address("198.51.100.101"),)]),
        version=st.sampled_from([3, 3, 3, 2]),
    ),
)
inputs = st.one_of(
    st.just(Started()),
    st.just(ShutdownRequested()),
    st.just(TimerExpired()),
    st.just(Recovered()),
    st.builds(Faulted, st.sampled_from(["link down", "track"])),
    st.builds(PriorityChanged, st.integers(1, 254)),
    adverts,
    st.builds(Drained, st.sampled_from(list(Drain))),
    st.just(Resumed()),
)


@settings(max_examples=500)
@given(
    priority=st.sampled_from([1, 100, 200, 254, 255]),
    preempt=st.booleans(),
    steps=st.lists(st.tuples(st.floats(0, 5, allow_nan=False), inputs), max_size=40),
)
def test_every_input_sequence_keeps_the_router_consistent(priority, preempt, steps):
    router = VirtualRouter(RouterConfig(5, (VIP,), priority=priority, preempt=preempt), ip_address("198.51.100.2"))
    now, owned, state = 0.0, False, router.state
    for dt, event in steps:
        deadline = router.next_deadline()
        # A real loop never lets time pass a deadline unserved: other inputs arrive at or before it, and the
        # timer input arrives at or after it.
        if isinstance(event, TimerExpired):
            now = max(now + dt, deadline) if deadline is not None else now + dt
        else:
            now = min(now + dt, deadline) if deadline is not None else now + dt
        if isinstance(event, Drained) and router.config.is_owner:
            continue  # refused (ValueError): the daemon never asks
        actions = router.handle(event, now)
        for action in actions:
            if isinstance(action, AddAddresses):
                owned = True
            elif isinstance(action, RemoveAddresses):
                owned = False
            elif isinstance(action, StateChanged):
                assert action.old is state and action.new is not state
                state = action.new
            elif isinstance(action, SendAdvert):
                assert 0 <= action.advert.priority <= 255
                assert action.advert.interval_cs == 100  # always the configured interval
        assert router.state is state in State
        assert not (router.drain is Drain.HARD and router.state is State.MASTER)  # a drained router never serves
        # VIPs are owned exactly while Master, and a deadline exists exactly while Backup or Master.
        assert owned == (router.state is State.MASTER)
        assert (router.next_deadline() is not None) == (router.state in (State.BACKUP, State.MASTER))
        if router.next_deadline() is not None:
            assert router.next_deadline() >= now
            if isinstance(event, TimerExpired):
                assert router.next_deadline() > now  # a served timer is re-armed into the future


class LanMachine(RuleBasedStateMachine):
    """Three routers on a FakeLan with crashes, restarts, stops, partitions, priority changes and time."""

    def __init__(self) -> None:
        super().__init__()
        self.lan = FakeLan(delay=0.002)
        self.priorities = {"a": 200, "b": 150, "c": 100}
        for i, (name, prio) in enumerate(self.priorities.items()):
            self.lan.add(name, RouterConfig(9, (VIP,), priority=prio, advert_interval_cs=50), f"198.51.100.{i + 1}")
        self.lan.start()

    names = st.sampled_from(["a", "b", "c"])

    @rule(seconds=st.floats(0.01, 4, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.lan.run_for(seconds)

    @precondition(lambda self: any(n.up for n in self.lan.nodes.values()))
    @rule(name=names)
    def crash(self, name: str) -> None:
        if self.lan.nodes[name].up:
            self.lan.crash(name)

    @rule(name=names)
    def stop(self, name: str) -> None:
        if self.lan.nodes[name].up:
            self.lan.stop(name)

    @rule(name=names)
    def restart(self, name: str) -> None:
        if not self.lan.nodes[name].up:
            self.lan.start(name)

    @rule(name=names, priority=st.integers(1, 254))
    def reprioritise(self, name: str, priority: int) -> None:
        if self.lan.nodes[name].up:
            self.lan.feed(name, PriorityChanged(priority))

    @rule(name=names, mode=st.sampled_from(list(Drain)))
    def drain(self, name: str, mode: Drain) -> None:
        self.lan.feed(name, Drained(mode))

    @rule(name=names)
    def resume(self, name: str) -> None:
        self.lan.feed(name, Resumed())

    @rule(split=st.sampled_from([({"a"}, {"b", "c"}), ({"a", "b"}, {"c"}), ({"a", "c"}, {"b"})]))
    def partition(self, split: tuple[set[str], set[str]]) -> None:
        self.lan.partition(*split)

    @rule()
    def heal_and_settle(self) -> None:
        self.lan.heal()
        # Longest possible Master_Down_Interval here: 3 * 0.5 s + skew < 2 s; allow two of them.
        self.lan.run_for(4.0)
        # Exactly one master among the routers up, unless every one of them is hard-drained (then none).
        up = [n for n in self.lan.nodes.values() if n.up and n.router.drain is not Drain.HARD]
        assert len(self.lan.masters()) == (1 if up else 0)

    @invariant()
    def a_hard_drained_router_is_never_master(self) -> None:
        assert not [n for n in self.lan.nodes.values() if n.router.drain is Drain.HARD and n.state is State.MASTER]

    @invariant()
    def vips_owned_iff_master(self) -> None:
        for node in self.lan.nodes.values():
            assert bool(node.vips) == (node.up and node.state is State.MASTER), node.name


TestLan = LanMachine.TestCase
TestLan.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
