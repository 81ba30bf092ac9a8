"""vrrpd.services.scheduler on a real event loop (timerfd, no root): deadlines fire on time, polled sockets and readable
watched ones are drained first, and a daemon's backups see an advert waiting in a socket before their Master_Down
timer runs out, also when the loop was paused past the deadline (issue #13)."""

from __future__ import annotations

import asyncio
import os
import time

import daemoncase
from daemoncase import FAST_BACKUP, started

from vrrpd.daemon.receive import MAX_PACKETS_BEFORE_FIRING, MAX_PACKETS_PER_WAKEUP
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


def test_watched_descriptors_are_drained_before_a_deadline_fires_only_while_readable_and_watched() -> None:
    """A watched socket's own wake-up may come after the timer's (issue #13): the scheduler reads it first, when it
    is readable, and never once it is unwatched or the daemon stops reading."""

    async def body() -> list[str]:
        loop = asyncio.get_running_loop()
        events: list[str] = []
        fired = asyncio.Event()
        sched: Scheduler
        ready_r, ready_w = os.pipe()
        idle_r, idle_w = os.pipe()
        gone_r, gone_w = os.pipe()

        def fire(key: str, now: float) -> None:
            events.append(f"fire {key}")
            fired.set()

        def drain_ready() -> None:
            events.append("drain ready")
            os.read(ready_r, 1)
            sched.set("backup", loop.time() + 10)  # the advert found in the socket reset the timer

        async def fire_one(key: str) -> None:
            fired.clear()
            sched.set(key, loop.time() + 0.001)
            await asyncio.wait_for(fired.wait(), 2)

        sched = Scheduler(loop, fire, lambda key: 0.0)
        sched.watch(ready_r, drain_ready)
        sched.watch(idle_r, lambda: events.append("drain idle"))
        sched.watch(gone_r, lambda: events.append("drain gone"))
        sched.unwatch(gone_r)
        os.write(ready_w, b"x")
        os.write(gone_w, b"x")
        sched.set("backup", loop.time() + 0.001)
        await fire_one("other")
        await fire_one("again")  # the ready pipe was emptied: nothing to drain now
        os.write(ready_w, b"x")
        sched.stop_polling()
        await fire_one("stopped")
        sched.close()
        for fd in (ready_r, ready_w, idle_r, idle_w, gone_r, gone_w):
            os.close(fd)
        return events

    assert asyncio.run(body()) == ["drain ready", "fire other", "fire again", "fire stopped"]


def test_the_last_polled_socket_going_stops_the_tick_but_not_the_watched_drains() -> None:
    async def body() -> list[str]:
        loop = asyncio.get_running_loop()
        events: list[str] = []
        fired = asyncio.Event()
        watched_r, watched_w = os.pipe()

        def fire(key: str, now: float) -> None:
            events.append(f"fire {key}")
            fired.set()

        def polled() -> None:
            events.append("polled")

        def watched() -> None:
            events.append("watched")
            os.read(watched_r, 1)

        sched = Scheduler(loop, fire, lambda key: 0.0)
        sched.watch(watched_r, watched)
        sched.poll(polled)
        sched.unpoll(polled)
        os.write(watched_w, b"x")
        sched.set("backup", loop.time() + 0.001)
        await asyncio.wait_for(fired.wait(), 2)
        sched.close()
        os.close(watched_r)
        os.close(watched_w)
        return events

    assert asyncio.run(body()) == ["watched", "fire backup"]


MASTER_ADVERT = parse_ipv4(daemoncase.advert_packet(1, 200, "198.51.100.2", "203.0.113.1"), 2)
GARBAGE = parse_ipv4(daemoncase.advert_packet(99, 200, "198.51.100.3", "203.0.113.99"), 2)


async def paused_past_master_down(config: str, garbage: int = 0) -> tuple[bool, State, int, int, float, float]:
    """A backup following a master, then the loop blocked (SIGSTOP, a stalled VM) well past its Master_Down
    deadline; the master's advert arrives during the pause, after the deadline and after `garbage` packets for a
    VRID nobody has, so on resume the timer is ready first. Returns (polled, state, adverts received, takeovers
    since the pause, the earliest Master_Down deadline a read at the resume gives, the deadline it has)."""
    case = await started(config)
    link, inst = case.daemon.links[("eth0", Family.IPV4)], case.inst("v1")
    sock = case.sockets.socket("eth0")
    sock.deliver(MASTER_ADVERT)
    await daemoncase.until(lambda: inst.router.counters.adverts_received == 1)
    assert inst.router.state is State.BACKUP and inst.router.master_down_at is not None
    took_over = inst.router.counters.became_master  # before the pause (the start-up may have had its own)
    time.sleep(3 * inst.router.master_down_interval)  # the loop stands still: deliberately, this is the pause
    for _ in range(garbage):
        sock.deliver(GARBAGE)
    sock.deliver(MASTER_ADVERT)
    resumed = asyncio.get_running_loop().time()
    # Read at the resume, in the very callback that would fire the timer: by then the takeover, if any, is done.
    await daemoncase.until(lambda: inst.router.counters.adverts_received == 2)
    router = inst.router
    outcome = (link.polled, router.state, router.counters.adverts_received, router.counters.became_master - took_over)
    deadline = router.master_down_at if router.master_down_at is not None else 0.0
    assert link.drops.get("vrid", 0) == garbage
    await case.stop()
    return (*outcome, resumed + router.master_down_interval, deadline)


def test_a_backup_paused_past_master_down_reads_the_waiting_advert_on_a_watched_link_first() -> None:
    """RFC 9568 §6.4.2: the advert that waited in the socket resets Master_Down_Timer, from the time it is read;
    the timer's wake-up being ready first does not let it fire (issue #13)."""
    polled, state, received, became_master, earliest, deadline = asyncio.run(paused_past_master_down(FAST_BACKUP))
    assert not polled
    assert state is State.BACKUP and became_master == 0
    assert received == 2
    assert deadline >= earliest  # restarted from the read, after the pause


def test_a_paused_backup_reaches_the_waiting_advert_behind_more_garbage_than_one_wake_up_reads() -> None:
    """The drain before a firing is bounded by MAX_PACKETS_BEFORE_FIRING, not by a wake-up's 64: an advert queued
    behind a backlog as long as a socket's default queue (a flood, or the adverts of many routers) is still read
    before Master_Down may fire."""
    garbage = 4 * MAX_PACKETS_PER_WAKEUP
    assert garbage + 1 < MAX_PACKETS_BEFORE_FIRING
    outcome = asyncio.run(paused_past_master_down(FAST_BACKUP, garbage))
    polled, state, received, became_master, earliest, deadline = outcome
    assert not polled
    assert state is State.BACKUP and became_master == 0
    assert received == 2
    assert deadline >= earliest


def test_a_backup_paused_past_master_down_reads_the_waiting_advert_on_a_polled_link_first() -> None:
    polled, state, received, became_master, earliest, deadline = asyncio.run(paused_past_master_down(POLLED))
    assert polled
    assert state is State.BACKUP and became_master == 0
    assert received == 2
    assert deadline >= earliest


def test_a_detached_link_is_not_drained_before_a_deadline_fires() -> None:
    """Once a link is detached (its socket about to close) nothing reads it, not even before a deadline: the backup
    takes over with the advert still in the socket."""

    async def body() -> tuple[State, int, int]:
        case = await started(FAST_BACKUP)
        link, inst = case.daemon.links[("eth0", Family.IPV4)], case.inst("v1")
        sock = case.sockets.socket("eth0")
        case.daemon.listener.detach(link, case.daemon.scheduler)
        sock.deliver(MASTER_ADVERT)
        await daemoncase.until(lambda: inst.router.state is State.MASTER)  # its Master_Down deadline fired
        outcome = inst.router.state, inst.router.counters.adverts_received, len(sock.inbox)
        await case.stop()
        return outcome

    state, received, waiting = asyncio.run(body())
    assert state is State.MASTER
    assert (received, waiting) == (0, 1)
