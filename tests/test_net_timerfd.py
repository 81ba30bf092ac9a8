"""The timerfd behind each router's deadline: absolute CLOCK_MONOTONIC times, the same clock as loop.time()."""

from __future__ import annotations

import asyncio
import select
import time

import pytest

from vrrpd.net.timerfd import TimerFd, available

pytestmark = pytest.mark.skipif(not available(), reason="no timerfd in this libc")


def readable(tfd: TimerFd, timeout: float) -> bool:
    return bool(select.select([tfd], [], [], timeout)[0])


def test_fires_at_the_absolute_deadline_never_before():
    tfd = TimerFd()
    try:
        deadline = time.monotonic() + 0.05
        tfd.set(deadline)
        assert not readable(tfd, 0)
        assert readable(tfd, 5.0)
        assert time.monotonic() >= deadline
        assert tfd.clear() == 1
        assert tfd.clear() == 0  # consumed
    finally:
        tfd.close()


def test_a_past_deadline_fires_at_once_and_none_disarms():
    tfd = TimerFd()
    try:
        tfd.set(time.monotonic() - 10)
        assert readable(tfd, 1.0)
        tfd.clear()
        tfd.set(time.monotonic() + 0.02)
        tfd.set(None)
        assert not readable(tfd, 0.1)
    finally:
        tfd.close()


def test_rearming_replaces_the_pending_expiry():
    tfd = TimerFd()
    try:
        tfd.set(time.monotonic() - 1)
        assert readable(tfd, 1.0)
        later = time.monotonic() + 30
        tfd.set(later)  # re-armed before the expiry was read: it is gone
        assert tfd.clear() == 0
        assert not readable(tfd, 0.05)
    finally:
        tfd.close()


def test_same_clock_as_the_event_loop():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        tfd = TimerFd()
        fired = loop.create_future()
        deadline = loop.time() + 0.03
        loop.add_reader(tfd.fileno(), lambda: fired.done() or fired.set_result(loop.time()))
        tfd.set(deadline)
        try:
            return await asyncio.wait_for(fired, 5) - deadline
        finally:
            loop.remove_reader(tfd.fileno())
            tfd.close()

    assert asyncio.run(main()) >= 0
