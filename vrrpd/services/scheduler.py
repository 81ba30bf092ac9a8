"""The daemon's clock work: every router deadline on one timerfd, and sockets that are polled instead of watched.

Both exist for CPU at scale (issue #6; figures in bench/results.md):
- Deadlines (vrrpd.services.deadlines): the adverts of many masters that are due together leave from one wake-up.
- Polling: a link that expects many adverts a second (a backup of 100 routers at 10 ms hears 10,000) costs a
  wake-up per packet when watched with `add_reader`; drained every POLL_PERIOD it costs one wake-up per period
  for all of them. A link is polled only when it expects more than one advert per period on average, so an idle
  or small daemon never pays for the tick. Polling delays when an advert is *processed* by at most POLL_PERIOD
  (the router is given the loop's time when the drain reads it), never whether it counts: polled sockets are
  drained before any deadline is allowed to expire, so a Master_Down timer never runs out while an advert that
  would have reset it waits in a socket buffer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vrrpd.net.timerfd import TimerFd
from vrrpd.services.deadlines import Deadlines

log = logging.getLogger(__name__)

POLL_PERIOD = 0.002
"""Seconds between two drains of a polled socket: at most this much processing delay for an advert."""
POLL_ABOVE_RATE = 1 / POLL_PERIOD
"""Adverts per second on one socket above which it is polled rather than watched."""
MAX_SLACK = 0.001
"""The most a deadline with slack may be served early."""


class Scheduler:
    """Keys (router names) with deadlines, fired through `fire(key, now)` (`now` never before the deadline);
    drains (`poll`) before each firing."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fire: Callable[[str, float], None],
        slack: Callable[[str], float],
    ) -> None:
        self._loop = loop
        self._fire = fire
        self.deadlines: Deadlines[str] = Deadlines(slack, MAX_SLACK)
        self._armed: float | None = None
        self._firing = False
        self._timerfd: TimerFd | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._drains: list[Callable[[], None]] = []
        self._poll_fd: TimerFd | None = None
        try:
            self._timerfd = TimerFd()
        except OSError as exc:
            log.warning("no timerfd (%s); asyncio timers may fire up to a few ms late", exc)
        else:
            loop.add_reader(self._timerfd.fileno(), self._on_timerfd)

    def set(self, key: str, deadline: float | None) -> None:
        if self.deadlines.set(key, deadline) and not self._firing:
            self._rearm()

    def poll(self, drain: Callable[[], None]) -> None:
        """Call `drain` every POLL_PERIOD, and before any deadline fires."""
        self._drains.append(drain)
        if self._poll_fd is None:
            self._poll_fd = TimerFd()
            self._loop.add_reader(self._poll_fd.fileno(), self._on_poll)
            self._poll_fd.set(self._loop.time() + POLL_PERIOD, POLL_PERIOD)

    def unpoll(self, drain: Callable[[], None]) -> None:
        """Stop calling `drain` (its socket is closing); the tick stops with the last one."""
        if drain in self._drains:
            self._drains.remove(drain)
        if not self._drains:
            self.stop_polling()

    def stop_polling(self) -> None:
        self._drains.clear()
        if self._poll_fd is not None:
            self._loop.remove_reader(self._poll_fd.fileno())
            self._poll_fd.close()
            self._poll_fd = None

    def close(self) -> None:
        self.stop_polling()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._timerfd is not None:
            self._loop.remove_reader(self._timerfd.fileno())
            self._timerfd.close()
            self._timerfd = None

    # --- internals ---------------------------------------------------------------------------------------

    def _drain(self) -> None:
        for drain in self._drains:
            drain()

    def _on_poll(self) -> None:
        assert self._poll_fd is not None
        self._poll_fd.clear()
        self._drain()

    def _on_timerfd(self) -> None:
        assert self._timerfd is not None
        self._timerfd.clear()
        self._run_due()

    def _on_call_at(self) -> None:
        self._handle = None
        self._run_due()

    def _run_due(self) -> None:
        self._armed = None
        self._firing = True
        try:
            if self._drains:
                self._drain()
            now = self._loop.time()
            for key, deadline in self.deadlines.pop_due(now):
                # A timer may fire a hair early (or be served early within its slack); the router then sees
                # exactly its deadline (aioquic's rule), so a Master_Down_Timer never expires early.
                try:
                    self._fire(key, max(deadline, now))
                except Exception:  # one router's bug must not cost the others their timers
                    log.exception("%s: error handling its timer", key)
        finally:
            self._firing = False
            self._rearm()

    def _rearm(self) -> None:
        when = self.deadlines.next()
        if when == self._armed:
            return
        self._armed = when
        if self._timerfd is not None:
            self._timerfd.set(when)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None if when is None else self._loop.call_at(when, self._on_call_at)
