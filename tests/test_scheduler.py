"""vrrpd.services.scheduler on a real event loop (timerfd, no root): deadlines fire on time, polled sockets are drained
first, and a daemon's backups see an advert waiting in a polled socket before their Master_Down timer runs out."""

from __future__ import annotations

import asyncio

import daemoncase
from daemoncase import started

from vrrpd.net.sockets import parse_ipv4
from vrrpd.protocol import Family, State
from vrrpd.services.scheduler import POLL_ABOVE_RATE, POLL_PERIOD, Scheduler


def test_deadlines_fire_in_order_never_early_and_once() -> None:
    async def body() -> list[tuple[str, float, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float, float]] = []
        done = asyncio.Event()

        def fire(key: str, now: float) -> None:
            fired.append((key, now, loop.time()))
            if len(fired) == 3:
                done.set()

        sched = Scheduler(loop, fire, lambda key: 0.0)
        t0 = loop.time()
        sched.set("c", t0 + 0.03)
        sched.set("a", t0 + 0.01)
        sched.set("b", t0 + 0.02)
        sched.set("gone", t0 + 0.015)
        sched.set("gone", None)
        await asyncio.wait_for(done.wait(), 2)
        await asyncio.sleep(0.03)  # anything else would have fired by now
        sched.close()
        return [(k, now - t0, real - t0) for k, now, real in fired]

    fired = asyncio.run(body())
    assert [k for k, _, _ in fired] == ["a", "b", "c"]
    for (_, now, real), due in zip(fired, (0.01, 0.02, 0.03), strict=True):
        assert now >= due - 1e-9  # the router never sees a time before its deadline
        assert real >= due - 0.001  # and the timer did not go off early (beyond the clock's rounding)


def test_polled_sockets_are_drained_before_a_deadline_fires_and_on_every_tick() -> None:
    """RFC 9568 §6.4.2: an advert already received must reset Master_Down_Timer; a polled socket is therefore
    drained before any deadline is allowed to expire (the drain may push the deadline away)."""

    async def body() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        events: list[str] = []
        sched: Scheduler

        def fire(key: str, now: float) -> None:
            events.append(f"fire {key}")

        def drain() -> None:
            events.append("drain")
            if "moved" not in events:
                events.append("moved")
                sched.set("backup", loop.time() + 10)  # the advert found in the socket reset the timer

        sched = Scheduler(loop, fire, lambda key: 0.0)
        sched.set("backup", loop.time() + 0.001)
        sched.set("other", loop.time() + 0.001)
        sched.poll(drain)
        await asyncio.sleep(POLL_PERIOD * 10)
        ticks = events.count("drain")
        sched.close()
        return events, ticks

    events, ticks = asyncio.run(body())
    assert events.index("drain") < events.index("fire other")
    assert "fire backup" not in events
    assert ticks >= 4  # the periodic tick drains too, not only deadlines


POLLED = "instances:\n" + "".join(
    f"  - {{name: v{n}, interface: eth0, vrid: {n}, advert_interval: 0.01, virtual_addresses: [203.0.113.{n}/24]}}\n"
    for n in range(1, 7)
)
"""Six routers at 10 ms on one link: 600 adverts a second expected, more than POLL_ABOVE_RATE, so it is polled."""


def test_a_backup_on_a_polled_link_keeps_following_a_live_master() -> None:
    """With the socket only drained from the tick, a master advertising every 10 ms is still heard in time:
    the backup never takes over while adverts keep arriving (RFC 9568 §6.4.2)."""

    async def body() -> tuple[bool, State, int]:
        case = await started(POLLED)
        link, inst = case.daemon.links[("eth0", Family.IPV4)], case.inst("v1")
        sock = case.sockets.socket("eth0")
        packet = parse_ipv4(daemoncase.advert_packet(1, 200, "198.51.100.2", "203.0.113.1"), 2)
        for _ in range(30):  # 300 ms of a live master: ~8 Master_Down_Intervals
            sock.deliver(packet)
            await asyncio.sleep(0.01)
        state, received = inst.router.state, inst.router.counters.adverts_received
        await case.stop()
        return link.polled, state, received

    polled, state, received = asyncio.run(body())
    assert polled and POLL_ABOVE_RATE < 600
    assert state is State.BACKUP
    assert received == 30
